/* keyring.c - evstore.subject_keys: taking keys for an append, fetching
 * them for a read, erasure, a subject's report. Keys are wrapped with the
 * master key (cipher_seal) and an AAD naming tenant and subject, so a
 * wrapped key copied to another row does not unwrap. */
#include "buildconf.h"
#include "privacy/keyring.h"
#include "privacy/keyring_sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "base/text.h"
#include "pg/db.h"
#include "privacy/keycache.h"
#include "privacy/masterkey.h"
#include "store/append_sql.h"
#include "store/store.h"

#define WRAPPED_LEN CIPHER_SEALED_LEN(CIPHER_KEY_LEN)

/* One subject per statement, by equality: both columns of the index are
 * then its condition in any plan. A list (subject IN (SELECT ...) or
 * = ANY (...)), planned once on an empty table as a worker's generic plan
 * is, kept only tenant_id as the condition and filtered every key of the
 * tenant, so a take grew with the table (4 ms at 100,000 keys). */
#define LIVE_KEY_SQL \
	"SELECT key_id, wrapped_key, master_id FROM evstore.subject_keys" \
	" WHERE tenant_id = $1::uuid AND subject = $2::text AND erased_at IS NULL"

static const struct db_statement st_take = {
	"keyring_take", LIVE_KEY_SQL " FOR SHARE", 2
};

static const struct db_statement st_create = {
	"keyring_create",
	"INSERT INTO evstore.subject_keys (tenant_id, subject, wrapped_key, master_id)"
	" VALUES ($1::uuid, $2::text, $3::bytea, $4::text)"
	" ON CONFLICT (tenant_id, subject) WHERE erased_at IS NULL DO NOTHING"
	" RETURNING key_id",
	4
};

/* A subject's live key, unlocked, or (none) an id drawn for a key the
 * guarded append will store: the UNION's second branch runs only when the
 * first has no row (the LIMIT stops the Append); a drawn id never used is
 * a gap. The sequence is the identity of subject_keys.key_id. */
static const struct db_statement st_lookup = {
	"keyring_lookup",
	"(" LIVE_KEY_SQL ")"
	" UNION ALL SELECT nextval('evstore.subject_keys_key_id_seq'), NULL, NULL"
	" LIMIT 1",
	2
};

/* The guard of a sealed append (store/append_sql.h): the keys it found
 * (H, a JSON array of ids) still live, locked FOR SHARE until it commits, so an
 * erasure waits for it or, committed first, makes it write nothing; the
 * keys it made (M, a JSON array of {key_id, subject, wrapped_key (hex),
 * master_id}) stored with its events, unless a subject has a live key
 * already (made meanwhile by another append, or one this worker guessed
 * to be new was not): then it writes nothing, as it does when the race
 * is lost inside the statement, on subject_keys_live_idx. Liveness is checked
 * on the locked rows (FOR SHARE returns the newest version, so an erasure
 * committed meanwhile shows), not in the scan: "erased_at IS NULL" there
 * lets a generic plan read all of subject_keys_live_idx (its predicate)
 * and AND it with the key ids, a cost that grows with every subject. Each
 * id is looked up by itself, as keyring_fetch does (st_fetch, which says
 * why the ids are a JSON array). */
#define GUARD_PRE(H) \
	"held AS (SELECT k.key_id, k.erased_at" \
	" FROM jsonb_array_elements_text(" H "::jsonb) AS h(id)," \
	" LATERAL (SELECT key_id, erased_at FROM evstore.subject_keys" \
	"  WHERE key_id = h.id::bigint FOR SHARE) k), "
#define GUARD_COND(H, M) \
	"(SELECT count(*) FROM held WHERE erased_at IS NULL) = jsonb_array_length(" H "::jsonb)" \
	" AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(" M "::jsonb) AS m(k)," \
	"  LATERAL (SELECT 1 FROM evstore.subject_keys WHERE tenant_id = $1::uuid" \
	"   AND subject = m.k->>'subject' AND erased_at IS NULL LIMIT 1) l)"
#define GUARD_POST(M) \
	", made AS (INSERT INTO evstore.subject_keys (key_id, tenant_id, subject, wrapped_key, master_id)" \
	"  OVERRIDING SYSTEM VALUE" \
	"  SELECT (k->>'key_id')::bigint, $1::uuid, k->>'subject', decode(k->>'wrapped_key', 'hex')," \
	"   k->>'master_id'" \
	"  FROM s, jsonb_array_elements(" M "::jsonb) AS k RETURNING key_id)"
#define GUARDED(SQL, H, M) SQL(GUARD_PRE(H), GUARD_COND(H, M), GUARD_POST(M))

static const struct db_statement st_append_new = {
	"keyring_append_new", GUARDED(STORE_APPEND_NEW_SQL, "$6", "$7"), 7
};
static const struct db_statement st_append_exact = {
	"keyring_append_exact", GUARDED(STORE_APPEND_EXACT_SQL, "$7", "$8"), 8
};
static const struct db_statement st_append_exists = {
	"keyring_append_exists", GUARDED(STORE_APPEND_EXISTS_SQL, "$6", "$7"), 7
};
static const struct db_statement st_append_any = {
	"keyring_append_any", GUARDED(STORE_APPEND_ANY_SQL, "$6", "$7"), 7
};
static const struct store_append_statements guarded_set = {
	{ &st_append_new, &st_append_exact, &st_append_exists, &st_append_any }
};

/* Keys by their ids, one index lookup per id. "key_id = ANY (ids)" has a
 * generic plan that scans the table while it is small (ten ids guessed, a
 * few pages), and a worker keeps that plan until the next ANALYZE, however
 * fast the table grows meanwhile; an equality in a LATERAL subquery that
 * cannot be pulled up (LIMIT) is an index lookup at any size above one
 * page. The ids are a JSON array, not a bigint[]: PostgreSQL counts the
 * elements of a literal array when it plans for the values at hand, finds
 * that cheaper than the generic plan's guess, and so plans every call
 * again (0.3 ms a call); a JSON array's elements are guessed alike either
 * way, and the generic plan is kept. */
static const struct db_statement st_fetch = {
	"keyring_fetch",
	"SELECT k.key_id, k.tenant_id, k.subject, k.wrapped_key, k.master_id,"
	"  (SELECT epoch FROM evstore.key_epoch)"
	" FROM jsonb_array_elements_text($1::jsonb) AS h(id),"
	" LATERAL (SELECT * FROM evstore.subject_keys WHERE key_id = h.id::bigint LIMIT 1) k",
	1
};

/* Ids for the keys of subjects this worker guesses to be new (keyring_lookup),
 * drawn a few at a time; an id never used is a gap. */
#define DRAWN_IDS 64
static const struct db_statement st_draw = {
	"keyring_draw",
	"SELECT nextval('evstore.subject_keys_key_id_seq')"
	" FROM generate_series(1, " DB_SQL_NUMBER(DRAWN_IDS) ")", 0
};

/* What keyring_lookup does for a subject it has no cached key of: guess
 * that it is new (a key of its own and an id drawn beforehand, no
 * statement), or look it up. It guesses while at least half of the
 * misses it has settled lately were new subjects; a wrong guess costs a
 * statement that writes nothing. Ids drawn belong to the session they
 * were drawn in. */
static struct {
	int64_t ids[DRAWN_IDS];
	size_t next, n;
	unsigned long session;
	unsigned new_subjects, known_subjects;
} guessing;

static const char *tenant_or_nil(const char *tenant)
{
	return tenant ? tenant : UUIDTEXT_NIL;
}

size_t keyring_wrap_aad(const char *tenant, const char *subject, char *out)
{
	int n = snprintf(out, KEYRING_WRAP_AAD_MAX, "evstore subject key v1%c%s%c%s", 0,
			 tenant_or_nil(tenant), 0, subject);

	return n < 0 ? 0 : (size_t)n < KEYRING_WRAP_AAD_MAX ? (size_t)n : KEYRING_WRAP_AAD_MAX - 1;
}

/* bytea text output ("\x0a1b...") into buf; false when it is not n bytes. */
static bool bytea_decode(const char *s, unsigned char *buf, size_t n)
{
	return s && strncmp(s, "\\x", 2) == 0 && text_hex_decode(s + 2, strlen(s + 2), buf, n);
}

/* buf[0..n) as bytea input ("\x0a1b..."): out holds 2n + 3 bytes. */
static void bytea_encode(const unsigned char *buf, size_t n, char *out)
{
	out[0] = '\\';
	out[1] = 'x';
	text_hex_encode(buf, n, out + 2);
}

static struct keyring_key *keyring_add(struct keyring *kr, int64_t key_id, const char *tenant,
				       const char *subject)
{
	struct keyring_key *k;

	if (kr->n == kr->cap) {
		size_t cap = kr->cap ? 2 * kr->cap : 4;
		struct keyring_key *keys = realloc(kr->keys, cap * sizeof *keys);

		if (!keys)
			return NULL;
		kr->keys = keys;
		kr->cap = cap;
	}
	k = &kr->keys[kr->n];
	memset(k, 0, sizeof *k);
	k->subject = strdup(subject);
	if (!k->subject)
		return NULL;
	k->key_id = key_id;
	snprintf(k->tenant, sizeof k->tenant, "%s", tenant_or_nil(tenant));
	kr->n++;
	return k;
}

/* Unwraps the stored key of k (its tenant and subject set) with the
 * master key that wrapped it, the one named master_id: the current one
 * or, while the master key is rotated, the previous one. */
static enum es_status unwrap_key(struct keyring_key *k, const char *wrapped_text, const char *master_id)
{
	const struct masterkey *mk = masterkey_by_id(master_id);
	unsigned char wrapped[WRAPPED_LEN];
	char aad[KEYRING_WRAP_AAD_MAX];
	size_t aadlen;
	char id[24];

	if (!masterkey_current())
		return ES_EINVAL;
	if (!mk) {
		/* Not guessed at with another key: say which master is missing. */
		snprintf(id, sizeof id, "%" PRId64, k->key_id);
		log_kv(LOG_ERR, "subject_key_master_unknown", "key_id", id, "master_id", master_id,
		       "reason", "the subject key was wrapped by a master key that is neither "
		       "[privacy] master_key_file nor previous_master_key_file", NULL);
		return ES_EINTERNAL;
	}
	aadlen = keyring_wrap_aad(k->tenant, k->subject, aad);
	if (bytea_decode(wrapped_text, wrapped, sizeof wrapped) &&
	    cipher_open(mk->key, aad, aadlen, wrapped, sizeof wrapped, k->dek))
		return ES_OK;
	snprintf(id, sizeof id, "%" PRId64, k->key_id);
	log_kv(LOG_ERR, "subject_key_unwrap_failed", "key_id", id, "master_id", mk->id, NULL);
	return ES_EINTERNAL;
}

const struct keyring_key *keyring_by_subject(const struct keyring *kr, const char *tenant,
					     const char *subject)
{
	const char *t = tenant_or_nil(tenant);

	for (size_t i = 0; i < kr->n; i++)
		if (!kr->keys[i].erased && strcmp(kr->keys[i].subject, subject) == 0 &&
		    strcmp(kr->keys[i].tenant, t) == 0)
			return &kr->keys[i];
	return NULL;
}

const struct keyring_key *keyring_by_id(const struct keyring *kr, int64_t key_id)
{
	for (size_t i = 0; i < kr->n; i++)
		if (kr->keys[i].key_id == key_id)
			return &kr->keys[i];
	return NULL;
}

/* A new data key for (tenant, subject) in dek, and hex, its bytea text
 * wrapped by the current master key. */
static enum es_status new_key(const char *tenant, const char *subject,
			      unsigned char dek[CIPHER_KEY_LEN], char hex[2 * WRAPPED_LEN + 3])
{
	const struct masterkey *mk = masterkey_current();
	unsigned char wrapped[WRAPPED_LEN];
	char aad[KEYRING_WRAP_AAD_MAX];
	size_t aadlen;
	enum es_status rc;

	rc = cipher_random(dek, CIPHER_KEY_LEN);
	if (rc != ES_OK)
		return rc;
	aadlen = keyring_wrap_aad(tenant, subject, aad);
	rc = cipher_seal(mk->key, aad, aadlen, dek, CIPHER_KEY_LEN, wrapped);
	if (rc == ES_OK)
		bytea_encode(wrapped, sizeof wrapped, hex);
	return rc;
}

/* Makes, wraps and stores a key for subject; *made false when another
 * transaction made one first (its row is then read back by the caller). */
static enum es_status create_key(struct db *db, const char *tenant, const char *subject,
				 struct keyring *kr, bool *made)
{
	unsigned char dek[CIPHER_KEY_LEN];
	char hex[2 * WRAPPED_LEN + 3];
	const char *values[4];
	struct keyring_key *k;
	PGresult *r = NULL;
	enum es_status rc;

	*made = false;
	rc = new_key(tenant, subject, dek, hex);
	if (rc != ES_OK)
		goto out;
	values[0] = tenant_or_nil(tenant);
	values[1] = subject;
	values[2] = hex;
	values[3] = masterkey_current()->id;
	rc = db_exec(db, &st_create, values, &r);
	if (rc != ES_OK || PQntuples(r) == 0)
		goto out;
	k = keyring_add(kr, db_value_int64(r, 0, 0), tenant, subject);
	if (!k) {
		rc = ES_ENOMEM;
		goto out;
	}
	memcpy(k->dek, dek, sizeof dek);
	*made = true;
out:
	PQclear(r);
	memset(dek, 0, sizeof dek);
	return rc;
}

/* Runs st_take for subject and adds its live key to kr; *found false
 * when it has none. */
static enum es_status take_key(struct db *db, const char *tenant, const char *subject,
			       struct keyring *kr, bool *found)
{
	const char *values[2] = { tenant_or_nil(tenant), subject };
	struct keyring_key *k;
	PGresult *r = NULL;
	enum es_status rc;

	*found = false;
	rc = db_exec(db, &st_take, values, &r);
	if (rc == ES_OK && PQntuples(r) == 1) {
		k = keyring_add(kr, db_value_int64(r, 0, 0), tenant, subject);
		rc = k ? unwrap_key(k, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2)) : ES_ENOMEM;
		*found = rc == ES_OK;
	}
	PQclear(r);
	return rc;
}

enum es_status keyring_take(struct db *db, const char *tenant, const char *const *subjects,
			    size_t n, struct keyring *kr)
{
	enum es_status rc = ES_OK;

	if (!masterkey_current())
		return ES_EINVAL;
	for (size_t i = 0; rc == ES_OK && i < n; i++) {
		bool found, made;

		if (keyring_by_subject(kr, tenant, subjects[i]))
			continue;
		rc = take_key(db, tenant, subjects[i], kr, &found);
		if (rc != ES_OK || found)
			continue;
		rc = create_key(db, tenant, subjects[i], kr, &made);
		if (rc != ES_OK || made)
			continue;
		/* Another append made it first and has committed: lock its row. */
		rc = take_key(db, tenant, subjects[i], kr, &found);
		if (rc == ES_OK && !found)
			rc = ES_ERETRY; /* and erased at once: the caller tries again */
	}
	return rc;
}

/* Settles a miss of keyring_lookup: the subject turned out new or known.
 * The counts halve now and then, so that they follow the recent traffic. */
static void miss_settled(bool was_new)
{
	if (was_new)
		guessing.new_subjects++;
	else
		guessing.known_subjects++;
	if (guessing.new_subjects + guessing.known_subjects >= 64) {
		guessing.new_subjects /= 2;
		guessing.known_subjects /= 2;
	}
}

/* An id for a new key: one drawn beforehand, or the next few drawn now. */
static enum es_status draw_id(struct db *db, int64_t *id)
{
	PGresult *r = NULL;
	enum es_status rc;

	if (guessing.session != db_session_epoch(db))
		guessing.next = guessing.n = 0;
	if (guessing.next == guessing.n) {
		rc = db_exec(db, &st_draw, NULL, &r);
		if (rc == ES_OK && PQntuples(r) != DRAWN_IDS)
			rc = ES_EINTERNAL;
		if (rc != ES_OK) {
			PQclear(r);
			return rc;
		}
		for (int i = 0; i < DRAWN_IDS; i++)
			guessing.ids[i] = db_value_int64(r, i, 0);
		guessing.next = 0;
		guessing.n = DRAWN_IDS;
		guessing.session = db_session_epoch(db);
		PQclear(r);
	}
	*id = guessing.ids[guessing.next++];
	return ES_OK;
}

/* A new key for k (its subject's first, as far as this append knows),
 * listed in g->made for the guarded append to store. */
static enum es_status make_key(struct keyring_key *k, struct keyring_guard *g)
{
	char hex[2 * WRAPPED_LEN + 3];
	enum es_status rc = new_key(k->tenant, k->subject, k->dek, hex);

	if (rc != ES_OK)
		return rc;
	sbuf_printf(&g->made, "%s{\"key_id\":%" PRId64 ",\"subject\":", g->made.len > 1 ? "," : "",
		    k->key_id);
	sbuf_json_string(&g->made, k->subject);
	/* hex + 2: the bytea text without its "\x" */
	sbuf_printf(&g->made, ",\"wrapped_key\":\"%s\",\"master_id\":\"%s\"}", hex + 2,
		    masterkey_current()->id);
	return ES_OK;
}

static void hold_key(const struct keyring_key *k, struct keyring_guard *g)
{
	sbuf_printf(&g->held, "%s%" PRId64, g->held.len > 1 ? "," : "", k->key_id);
}

/* Adds subject's key to kr and g from the table: its live key (g->held),
 * or a new one under an id drawn now (g->made). */
static enum es_status lookup_key(struct db *db, const char *tenant, const char *subject,
				 struct keyring *kr, struct keyring_guard *g)
{
	const char *values[2] = { tenant_or_nil(tenant), subject };
	struct keyring_key *k;
	PGresult *r = NULL;
	enum es_status rc;

	rc = db_exec(db, &st_lookup, values, &r);
	if (rc == ES_OK && PQntuples(r) != 1)
		rc = ES_EINTERNAL;
	if (rc != ES_OK)
		goto out;
	k = keyring_add(kr, db_value_int64(r, 0, 0), tenant, subject);
	if (!k) {
		rc = ES_ENOMEM;
		goto out;
	}
	miss_settled(PQgetisnull(r, 0, 1));
	if (!PQgetisnull(r, 0, 1)) {
		rc = unwrap_key(k, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
		hold_key(k, g);
	} else {
		rc = make_key(k, g);
	}
out:
	PQclear(r);
	return rc;
}

/* Adds subject's key to kr and g without the table when this worker can:
 * the cached live key (g->held), or, guessing the subject new, a key of
 * its own under an id drawn beforehand (g->made); *done false when it
 * cannot. */
static enum es_status trusted_key(struct db *db, const char *tenant, const char *subject,
				  struct keyring *kr, struct keyring_guard *g, bool *done)
{
	const struct keycache_entry *e = keycache_by_subject(tenant_or_nil(tenant), subject);
	struct keyring_key *k;
	enum es_status rc;
	int64_t id = 0;

	*done = false;
	if (!e && guessing.new_subjects < guessing.known_subjects)
		return ES_OK;
	if (!e) {
		rc = draw_id(db, &id);
		if (rc != ES_OK)
			return rc;
	}
	k = keyring_add(kr, e ? e->key_id : id, tenant, subject);
	if (!k)
		return ES_ENOMEM;
	*done = true;
	g->trusted = true;
	if (e) {
		memcpy(k->dek, e->dek, sizeof k->dek);
		hold_key(k, g);
		return ES_OK;
	}
	g->guessed++;
	return make_key(k, g);
}

enum es_status keyring_lookup(struct db *db, const char *tenant, const char *const *subjects,
			      size_t n, struct keyring *kr, struct keyring_guard *g)
{
	enum es_status rc = ES_OK;

	if (!masterkey_current())
		return ES_EINVAL;
	if (!g->from_table) {
		/* the session the cached keys and drawn ids were found in */
		rc = db_ensure(db);
		if (rc != ES_OK)
			return rc;
		keycache_bind(db, db_session_epoch(db));
	}
	sbuf_putc(&g->held, '[');
	sbuf_putc(&g->made, '[');
	for (size_t i = 0; rc == ES_OK && i < n; i++) {
		bool done = false;

		if (keyring_by_subject(kr, tenant, subjects[i]))
			continue;
		if (!g->from_table)
			rc = trusted_key(db, tenant, subjects[i], kr, g, &done);
		if (rc == ES_OK && !done)
			rc = lookup_key(db, tenant, subjects[i], kr, g);
	}
	sbuf_putc(&g->held, ']');
	sbuf_putc(&g->made, ']');
	if (rc == ES_OK && (g->held.failed || g->made.failed))
		rc = ES_ENOMEM;
	return rc;
}

enum es_status keyring_append(struct db *db, const struct store_append_req *req,
			      const struct keyring *kr, struct keyring_guard *g,
			      struct store_append_res *res)
{
	const char *guard[2] = { sbuf_cstr(&g->held), sbuf_cstr(&g->made) };
	enum es_status rc = store_append_guarded(db, &guarded_set, req, guard, 2, res);

	/* Another append gave a subject its key first: not a stored event. */
	if (rc == ES_EDB && strncmp(db_last_constraint(db), "subject_keys", 12) == 0)
		rc = ES_ENOTFOUND;
	if (rc == ES_OK) {
		/* every key held live or made by a committed statement */
		keycache_bind(db, db_session_epoch(db));
		for (size_t i = 0; i < kr->n; i++)
			keycache_put(kr->keys[i].key_id, kr->keys[i].tenant, kr->keys[i].subject, false,
				     kr->keys[i].dek, NULL, NULL);
		for (size_t i = 0; i < g->guessed; i++)
			miss_settled(true);
	} else if (rc == ES_ENOTFOUND && g->trusted) {
		/* a cached key erased, a guess wrong, or the expectation failed */
		for (size_t i = 0; i < kr->n; i++)
			keycache_drop_subject(kr->keys[i].tenant, kr->keys[i].subject);
		rc = ES_ERETRY;
	}
	return rc;
}

void keyring_guard_free(struct keyring_guard *g)
{
	sbuf_free(&g->held);
	sbuf_free(&g->made);
}

/* Adds key_id to kr from the cache when the cache may answer for it: an
 * erased key always, a live one read under the epoch it was fetched
 * under (and unwrapped, if unwrap). */
static enum es_status cached_fetch(int64_t key_id, bool unwrap, const char *epoch,
				   struct keyring *kr, bool *done)
{
	const struct keycache_entry *e = keycache_by_id(key_id);
	struct keyring_key *k;

	*done = e && (e->erased ||
		      (epoch && *epoch && strcmp(e->epoch, epoch) == 0 && (e->has_dek || !unwrap)));
	if (!*done)
		return ES_OK;
	k = keyring_add(kr, key_id, e->tenant, e->subject);
	if (!k)
		return ES_ENOMEM;
	k->erased = e->erased;
	if (e->has_dek)
		memcpy(k->dek, e->dek, sizeof k->dek);
	return ES_OK;
}

enum es_status keyring_fetch(struct db *db, const int64_t *ids, size_t n, bool unwrap,
			     const char *epoch, struct keyring *kr)
{
	struct sbuf arr = SBUF_INIT;
	const char *values[1];
	PGresult *r = NULL;
	enum es_status rc = ES_OK;
	size_t wanted = 0;

	sbuf_putc(&arr, '[');
	for (size_t i = 0, asked = 0; rc == ES_OK && i < n; i++) {
		bool done;

		if (keyring_by_id(kr, ids[i]))
			continue;
		if (asked++ == 0)
			keycache_bind(db, db_session_epoch(db));
		rc = cached_fetch(ids[i], unwrap, epoch, kr, &done);
		if (rc == ES_OK && !done)
			sbuf_printf(&arr, "%s%" PRId64, wanted++ ? "," : "", ids[i]);
	}
	sbuf_putc(&arr, ']');
	if (rc == ES_OK && arr.failed)
		rc = ES_ENOMEM;
	if (rc != ES_OK || wanted == 0)
		goto out;
	values[0] = sbuf_cstr(&arr);
	rc = db_exec(db, &st_fetch, values, &r);
	if (rc == ES_OK)
		keycache_bind(db, db_session_epoch(db));
	for (int i = 0; rc == ES_OK && i < PQntuples(r); i++) {
		struct keyring_key *k = keyring_add(kr, db_value_int64(r, i, 0), PQgetvalue(r, i, 1),
						    PQgetvalue(r, i, 2));

		const struct keycache_entry *e;

		if (!k)
			rc = ES_ENOMEM;
		else if (PQgetisnull(r, i, 3))
			k->erased = true;
		else if (unwrap && (e = keycache_by_id(k->key_id)) && e->has_dek &&
			 strcmp(e->wrapped, PQgetvalue(r, i, 3)) == 0)
			memcpy(k->dek, e->dek, sizeof k->dek); /* unwrapped from these very bytes */
		else if (unwrap)
			rc = unwrap_key(k, PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
		if (rc == ES_OK)
			keycache_put(k->key_id, k->tenant, k->subject, k->erased, unwrap ? k->dek : NULL,
				     PQgetvalue(r, i, 3), PQgetvalue(r, i, 5));
	}
out:
	PQclear(r);
	sbuf_free(&arr);
	return rc;
}

void keyring_free(struct keyring *kr)
{
	for (size_t i = 0; i < kr->n; i++) {
		explicit_bzero(kr->keys[i].dek, sizeof kr->keys[i].dek);
		free(kr->keys[i].subject);
	}
	free(kr->keys);
	kr->keys = NULL;
	kr->n = kr->cap = 0;
}

enum es_status keyring_forget(struct db *db, const char *tenant, const char *subject,
			      const char *actor, enum keyring_outcome *outcome)
{
	const char *values[3] = { tenant_or_nil(tenant), subject, actor };
	PGresult *r = NULL;
	enum es_status rc;

	*outcome = KEYRING_UNKNOWN;
	rc = db_exec_params(db, "keyring_forget", KEYRING_FORGET_SQL, 3, values, &r);
	if (rc == ES_OK && PQntuples(r) == 1)
		*outcome = db_value_int64(r, 0, 0) > 0 ? KEYRING_ERASED :
			   db_value_int64(r, 0, 1) > 0 ? KEYRING_ALREADY_ERASED : KEYRING_UNKNOWN;
	/* this process's own reads and appends need not wait for the epoch */
	if (rc == ES_OK)
		keycache_drop_subject(tenant_or_nil(tenant), subject);
	PQclear(r);
	return rc;
}

enum es_status keyring_subject_info(struct db *db, const char *tenant, const char *subject,
				    struct keyring_subject_info *out)
{
	const char *values[2] = { tenant_or_nil(tenant), subject };
	PGresult *r = NULL;
	enum es_status rc;

	memset(out, 0, sizeof *out);
	rc = db_exec_params(db, "keyring_subject_info", KEYRING_INFO_SQL, 2, values, &r);
	if (rc == ES_OK && PQntuples(r) == 1) {
		out->key_exists = db_value_int64(r, 0, 0) > 0;
		out->erased_keys = db_value_int64(r, 0, 1);
		if (!PQgetisnull(r, 0, 2))
			snprintf(out->erased_at, sizeof out->erased_at, "%s", PQgetvalue(r, 0, 2));
		out->events = db_value_int64(r, 0, 3);
	}
	PQclear(r);
	return rc;
}
