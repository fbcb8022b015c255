/* keyring_rotate.c - the keyring's side of a master key rotation
 * (keyring.h): rewrapping evstore.subject_keys rows from the previous
 * master key to the current one, a batch per statement. Part of the
 * keyring module (it owns the table); kept apart because only evstorectl
 * runs it. */
#include "buildconf.h"
#include "privacy/keyring.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "base/startcheck.h"
#include "base/text.h"
#include "pg/db.h"
#include "privacy/masterkey.h"

#define WRAPPED_LEN CIPHER_SEALED_LEN(CIPHER_KEY_LEN)

#define ROTATE_SURVEY_SQL \
	"SELECT count(*) FILTER (WHERE wrapped_key IS NULL)," \
	"   count(*) FILTER (WHERE wrapped_key IS NOT NULL AND master_id = $1::text)," \
	"   count(*) FILTER (WHERE wrapped_key IS NOT NULL AND master_id <> $1::text)" \
	" FROM evstore.subject_keys"

/* The rows a batch looks at: live, not under the current master. */
#define ROTATE_NEXT_SQL \
	"SELECT key_id, tenant_id, subject, encode(wrapped_key, 'hex'), master_id" \
	" FROM evstore.subject_keys" \
	" WHERE key_id > $1::bigint AND wrapped_key IS NOT NULL AND master_id <> $2::text" \
	" ORDER BY key_id LIMIT $3::int"

#define ROTATE_IDS_SQL \
	"SELECT key_id, tenant_id, subject, encode(wrapped_key, 'hex'), master_id" \
	" FROM evstore.subject_keys WHERE key_id = ANY ($1::bigint[]) ORDER BY key_id"

/* The compare-and-set: only a row still live, still under the master it
 * was read under and still holding the bytes that were unwrapped is
 * rewrapped; rows another transaction has locked are skipped (SKIP
 * LOCKED), so the rotation never waits on an append or an erasure, and
 * never deadlocks with one. $1 the current master_id, $2 the ids, $3 the
 * new wrapped keys, $4 the old ones (hex), $5 the previous master_id. */
#define ROTATE_SET_SQL \
	"UPDATE evstore.subject_keys k SET wrapped_key = decode(u.wrapped, 'hex'), master_id = $1::text" \
	" FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(key_id, wrapped, old)" \
	" WHERE k.key_id = u.key_id AND k.master_id = $5::text AND k.wrapped_key IS NOT NULL" \
	"   AND k.wrapped_key = decode(u.old, 'hex')" \
	"   AND k.key_id IN (SELECT key_id FROM evstore.subject_keys" \
	"     WHERE key_id = ANY ($2::bigint[]) FOR NO KEY UPDATE SKIP LOCKED)" \
	" RETURNING k.key_id"

/* What became of the rows a batch did not change. */
#define ROTATE_STATE_SQL \
	"SELECT key_id, wrapped_key IS NULL, master_id = $2::text FROM evstore.subject_keys" \
	" WHERE key_id = ANY ($1::bigint[])"

static enum es_status busy_add(struct keyring_rotation *rot, int64_t key_id)
{
	if (rot->n_busy == rot->cap_busy) {
		size_t cap = rot->cap_busy ? 2 * rot->cap_busy : 64;
		int64_t *b = realloc(rot->busy, cap * sizeof *b);

		if (!b)
			return ES_ENOMEM;
		rot->busy = b;
		rot->cap_busy = cap;
	}
	rot->busy[rot->n_busy++] = key_id;
	return ES_OK;
}

void keyring_rotation_free(struct keyring_rotation *rot)
{
	free(rot->busy);
	rot->busy = NULL;
	rot->n_busy = rot->cap_busy = 0;
}

enum es_status keyring_rotation_survey(struct db *db, int64_t *current, int64_t *erased,
				       int64_t *todo)
{
	const struct masterkey *cur = masterkey_current();
	const char *values[1];
	PGresult *r = NULL;
	enum es_status rc;

	*current = *erased = *todo = 0;
	if (!cur)
		return ES_EINVAL;
	values[0] = cur->id;
	rc = db_exec_params(db, "keyring_rotation_survey", ROTATE_SURVEY_SQL, 1, values, &r);
	if (rc == ES_OK && PQntuples(r) == 1) {
		*erased = db_value_int64(r, 0, 0);
		*current = db_value_int64(r, 0, 1);
		*todo = db_value_int64(r, 0, 2);
	}
	PQclear(r);
	return rc;
}

/* Unwraps one row's key under the previous master and wraps it under the
 * current one, as hex into out; false (counted) when the row's master is
 * unknown or the key does not open. */
static bool rewrap_row(const PGresult *r, int i, struct keyring_rotation *rot, char *out)
{
	const struct masterkey *cur = masterkey_current(), *prev = masterkey_previous();
	const char *master_id = PQgetvalue(r, i, 4);
	unsigned char wrapped[WRAPPED_LEN], dek[CIPHER_KEY_LEN];
	char aad[KEYRING_WRAP_AAD_MAX];
	size_t aadlen;
	bool ok = false;

	if (!prev || strcmp(master_id, prev->id) != 0) {
		if (!rot->unknown_master[0])
			snprintf(rot->unknown_master, sizeof rot->unknown_master, "%s", master_id);
		rot->unknown++;
		return false;
	}
	aadlen = keyring_wrap_aad(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), aad);
	if (text_hex_decode(PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3), wrapped, sizeof wrapped) &&
	    cipher_open(prev->key, aad, aadlen, wrapped, sizeof wrapped, dek) &&
	    cipher_seal(cur->key, aad, aadlen, dek, sizeof dek, wrapped) == ES_OK) {
		text_hex_encode(wrapped, sizeof wrapped, out);
		ok = true;
	} else {
		log_kv(LOG_ERR, "subject_key_unwrap_failed", "key_id", PQgetvalue(r, i, 0), "master_id",
		       master_id, NULL);
		rot->unreadable++;
	}
	memset(dek, 0, sizeof dek);
	return ok;
}

/* Sorts out the rows of ids that the UPDATE left: erased meanwhile (left
 * to the final survey), rewrapped meanwhile (by another run), or locked
 * (busy). */
static enum es_status classify_missed(struct db *db, const char *ids, struct keyring_rotation *rot)
{
	const char *values[2] = { ids, masterkey_current()->id };
	PGresult *r = NULL;
	enum es_status rc;

	rc = db_exec_params(db, "keyring_rotation_state", ROTATE_STATE_SQL, 2, values, &r);
	for (int i = 0; rc == ES_OK && i < PQntuples(r); i++) {
		if (db_value_bool(r, i, 1))
			continue;
		else if (db_value_bool(r, i, 2))
			rot->current++;
		else
			rc = busy_add(rot, db_value_int64(r, i, 0));
	}
	PQclear(r);
	return rc;
}

/* Rotates the rows of r (ROTATE_*_SQL columns) in one UPDATE. */
static enum es_status rotate_rows(struct db *db, const PGresult *r, bool dry_run,
				  struct keyring_rotation *rot)
{
	struct sbuf ids = SBUF_INIT, fresh = SBUF_INIT, old = SBUF_INIT, missed = SBUF_INIT;
	const struct masterkey *prev = masterkey_previous();
	char hex[2 * WRAPPED_LEN + 1];
	const char *values[5];
	PGresult *u = NULL;
	enum es_status rc = ES_OK;
	int64_t n = 0, n_missed = 0;

	for (int i = 0; i < PQntuples(r); i++) {
		if (PQgetisnull(r, i, 3))                /* a busy row erased since */
			continue;
		if (strcmp(PQgetvalue(r, i, 4), masterkey_current()->id) == 0) {
			rot->current++;                  /* a busy row rewrapped since */
			continue;
		}
		if (!rewrap_row(r, i, rot, hex))
			continue;
		sbuf_printf(&ids, "%s%s", n ? "," : "{", PQgetvalue(r, i, 0));
		sbuf_printf(&fresh, "%s%s", n ? "," : "{", hex);
		sbuf_printf(&old, "%s%s", n ? "," : "{", PQgetvalue(r, i, 3));
		n++;
	}
	memset(hex, 0, sizeof hex);
	if (n == 0 || dry_run) {
		rot->rewrapped += n;
		goto out;
	}
	sbuf_putc(&ids, '}');
	sbuf_putc(&fresh, '}');
	sbuf_putc(&old, '}');
	if (ids.failed || fresh.failed || old.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	values[0] = masterkey_current()->id;
	values[1] = sbuf_cstr(&ids);
	values[2] = sbuf_cstr(&fresh);
	values[3] = sbuf_cstr(&old);
	values[4] = prev->id;
	rc = db_exec_params(db, "keyring_rotate", ROTATE_SET_SQL, 5, values, &u);
	if (rc != ES_OK)
		goto out;
	rot->rewrapped += PQntuples(u);
	if (PQntuples(u) == n)
		goto out;
	/* The ids the UPDATE did not return. */
	for (int i = 0, j; i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);

		if (PQgetisnull(r, i, 3) || strcmp(PQgetvalue(r, i, 4), prev->id) != 0)
			continue;
		for (j = 0; j < PQntuples(u) && strcmp(PQgetvalue(u, j, 0), id) != 0; j++)
			;
		if (j == PQntuples(u))
			sbuf_printf(&missed, "%s%s", n_missed++ ? "," : "{", id);
	}
	sbuf_putc(&missed, '}');
	if (missed.failed)
		rc = ES_ENOMEM;
	else if (n_missed)
		rc = classify_missed(db, sbuf_cstr(&missed), rot);
out:
	PQclear(u);
	sbuf_free(&ids);
	sbuf_free(&fresh);
	sbuf_free(&old);
	sbuf_free(&missed);
	return rc;
}

enum es_status keyring_rotate_next(struct db *db, int64_t *after, int limit, bool dry_run,
				   struct keyring_rotation *rot, int64_t *seen)
{
	char after_text[24], limit_text[16];
	const char *values[3] = { after_text, NULL, limit_text };
	PGresult *r = NULL;
	enum es_status rc;

	*seen = 0;
	if (!masterkey_current())
		return ES_EINVAL;
	snprintf(after_text, sizeof after_text, "%" PRId64, *after);
	snprintf(limit_text, sizeof limit_text, "%d", limit);
	values[1] = masterkey_current()->id;
	rc = db_exec_params(db, "keyring_rotation_next", ROTATE_NEXT_SQL, 3, values, &r);
	if (rc == ES_OK && PQntuples(r) > 0) {
		*seen = PQntuples(r);
		*after = db_value_int64(r, PQntuples(r) - 1, 0);
		rc = rotate_rows(db, r, dry_run, rot);
	}
	PQclear(r);
	return rc;
}

enum es_status keyring_rotate_busy(struct db *db, int limit, struct keyring_rotation *rot,
				   int64_t *seen)
{
	struct sbuf ids = SBUF_INIT;
	const char *values[1];
	PGresult *r = NULL;
	enum es_status rc = ES_OK;
	size_t take = rot->n_busy < (size_t)limit ? rot->n_busy : (size_t)limit;

	*seen = 0;
	if (!masterkey_current())
		return ES_EINVAL;
	if (take == 0)
		return ES_OK;
	sbuf_putc(&ids, '{');
	for (size_t i = 0; i < take; i++)
		sbuf_printf(&ids, "%s%" PRId64, i ? "," : "", rot->busy[i]);
	sbuf_putc(&ids, '}');
	if (ids.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	/* Out of the queue first: the ones still locked are queued again. */
	memmove(rot->busy, rot->busy + take, (rot->n_busy - take) * sizeof *rot->busy);
	rot->n_busy -= take;
	values[0] = sbuf_cstr(&ids);
	rc = db_exec_params(db, "keyring_rotation_retry", ROTATE_IDS_SQL, 1, values, &r);
	if (rc == ES_OK) {
		*seen = (int64_t)take;
		rc = rotate_rows(db, r, false, rot);
	}
out:
	PQclear(r);
	sbuf_free(&ids);
	return rc;
}

#define ROTATE_REPORT_SQL \
	"SELECT master_id, count(*) FROM evstore.subject_keys WHERE wrapped_key IS NOT NULL" \
	" GROUP BY master_id ORDER BY count(*) DESC, master_id"

void keyring_rotation_report(struct startcheck *c, struct db *db)
{
	const struct masterkey *cur = masterkey_current(), *prev = masterkey_previous();
	int64_t current = 0, previous = 0, unknown = 0;
	char other[17] = "";
	PGresult *r = NULL;

	if (!cur)
		return;
	if (db_exec_params(db, "keyring_rotation_report", ROTATE_REPORT_SQL, 0, NULL, &r) != ES_OK) {
		startcheck_item(c, STARTCHECK_WARN, "subject keys", "cannot count them: %s", db_last_error(db));
		PQclear(r);
		return;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);
		int64_t n = db_value_int64(r, i, 1);

		if (strcmp(id, cur->id) == 0) {
			current += n;
		} else if (prev && strcmp(id, prev->id) == 0) {
			previous += n;
		} else {
			unknown += n;
			if (!other[0])
				snprintf(other, sizeof other, "%s", id);
		}
	}
	PQclear(r);
	if (unknown)
		startcheck_item(c, STARTCHECK_FAIL, "subject keys", "%" PRId64 " live key%s under master key "
				"%s%s, neither master_key_file nor previous_master_key_file: their personal "
				"data cannot be read; set previous_master_key_file to that key and run "
				"evstorectl privacy rotate-master", unknown, unknown == 1 ? " is" : "s are",
				other, unknown > 1 ? " (and perhaps others)" : "");
	else if (previous)
		startcheck_item(c, STARTCHECK_WARN, "subject keys", "%" PRId64 " live key%s still under the "
				"previous master key %s (%" PRId64 " under %s): run evstorectl privacy "
				"rotate-master, then empty previous_master_key_file", previous,
				previous == 1 ? " is" : "s are", prev->id, current, cur->id);
	else
		startcheck_item(c, STARTCHECK_PASS, "subject keys", "%" PRId64 " live, all under master key %s%s",
				current, cur->id, prev ? " (previous_master_key_file is no longer needed)" : "");
}
