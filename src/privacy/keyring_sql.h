/* keyring_sql.h - the statements of keyring.c that look past a subject's
 * live key, run unprepared (erasure, the subject's report), in a header of
 * their own so that check_keyring can hold their plans to the indexes of
 * sql/009 (private to src/privacy). */
#ifndef EVSTORE_KEYRING_SQL_H
#define EVSTORE_KEYRING_SQL_H

/* One statement, so the erasure commits on its own: the key is destroyed,
 * and the tombstones the subject had before tell an erasure already made
 * (sql/009: live keys and tombstones each have their own index). */
#define KEYRING_FORGET_SQL \
	"WITH e AS (UPDATE evstore.subject_keys SET wrapped_key = NULL, erased_at = now()," \
	"   erased_by = $3::text" \
	"   WHERE tenant_id = $1::uuid AND subject = $2::text AND erased_at IS NULL RETURNING 1)" \
	" SELECT (SELECT count(*) FROM e)," \
	"   (SELECT count(*) FROM evstore.subject_keys" \
	"    WHERE tenant_id = $1::uuid AND subject = $2::text AND erased_at IS NOT NULL)"

/* The subject's keys, live and erased, each through its index (sql/009). */
#define KEYRING_SUBJECT_KEYS_SQL(COLS) \
	"SELECT " COLS " FROM evstore.subject_keys" \
	"  WHERE tenant_id = $1::uuid AND subject = $2::text AND erased_at IS NULL" \
	" UNION ALL SELECT " COLS " FROM evstore.subject_keys" \
	"  WHERE tenant_id = $1::uuid AND subject = $2::text AND erased_at IS NOT NULL"

#define KEYRING_INFO_SQL \
	"SELECT count(*) FILTER (WHERE erased_at IS NULL), count(*) FILTER (WHERE erased_at IS NOT NULL)," \
	"   to_char(max(erased_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')," \
	"   (SELECT count(*) FROM evstore.events e WHERE e.tenant_id = $1::uuid AND EXISTS" \
	"     (SELECT 1 FROM (" KEYRING_SUBJECT_KEYS_SQL("key_id") ") k" \
	"        WHERE strpos(e.payload::text, '\"v1:' || k.key_id || ':') > 0))" \
	" FROM (" KEYRING_SUBJECT_KEYS_SQL("erased_at") ") k"

#endif
