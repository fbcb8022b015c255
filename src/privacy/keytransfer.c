/* keytransfer.c - subject key rows out of the table into an export, and
 * back in on import, wrapped as they are stored. */
#include "buildconf.h"
#include "privacy/keytransfer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "base/sbuf.h"
#include "base/text.h"
#include "base/timefmt.h"
#include "json/jsondoc.h"
#include "pg/db.h"
#include "privacy/cipher.h"
#include "privacy/personal.h"
#include "store/verify.h"

/* A wrapped key: nonce, the sealed 256-bit key and the tag, in hex. */
#define WRAPPED_HEX_LEN (2 * CIPHER_SEALED_LEN(CIPHER_KEY_LEN))
#define MASTER_ID_MAX 64
#define ERASED_BY_MAX 1024

#define KT_TIME(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static int32_t be32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

enum es_status keytransfer_export(struct db *db, bool all_tenants, const char *tenant,
				  keytransfer_row_fn row, void *arg, int64_t *n)
{
	struct sbuf sql = SBUF_INIT;
	enum es_status rc;
	bool first = true, stopped = false;

	*n = 0;
	rc = db_ensure(db);
	if (rc != ES_OK)
		return rc;
	sbuf_puts(&sql, "COPY (SELECT jsonb_build_object('" KEYTRANSFER_MEMBER "', jsonb_build_object("
		  "'key_id', key_id, 'tenant_id', NULLIF(tenant_id, '00000000-0000-0000-0000-000000000000'),"
		  " 'subject', subject, 'wrapped_key', encode(wrapped_key, 'hex'), 'master_id', master_id,"
		  " 'created_at', " KT_TIME("created_at") ", 'erased_at', " KT_TIME("erased_at") ","
		  " 'erased_by', erased_by))::text FROM evstore.subject_keys");
	if (!all_tenants) {
		char *lit = db_quote_literal(db, tenant ? tenant : UUIDTEXT_NIL);

		if (!lit) {
			rc = ES_ENOMEM;
			goto out;
		}
		sbuf_printf(&sql, " WHERE tenant_id = %s::uuid", lit);
		free(lit);
	}
	sbuf_puts(&sql, " ORDER BY key_id) TO STDOUT (FORMAT binary)");
	if (sql.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	rc = db_copy_out_begin(db, sbuf_cstr(&sql));
	if (rc != ES_OK)
		goto out;
	for (;;) {
		const unsigned char *p;
		size_t len;
		int32_t f;
		enum es_status next = db_copy_out_tuple(db, &first, &p, &len);

		if (next != ES_OK || !p) {
			if (rc == ES_OK)
				rc = next;
			break;
		}
		if (stopped)
			continue;
		/* one field: a count of 1, its length, its bytes */
		if (len < 6 || p[0] != 0 || p[1] != 1 || (f = be32(p + 2)) < 0 || (size_t)f != len - 6) {
			stopped = true;
			rc = ES_EINTERNAL;
			continue;
		}
		(*n)++;
		stopped = !row(arg, (const char *)p + 6, (size_t)f);
	}
out:
	sbuf_free(&sql);
	return rc;
}

/* ---- a key record --------------------------------------------------------------- */

static bool kt_fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, KEYTRANSFER_MEMBER ".%s", what);
	return false;
}

static bool kt_hex(const char *s)
{
	if (strlen(s) != WRAPPED_HEX_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* A string member of at most max bytes (min 1), or null when nullable. */
static bool kt_string(json_object *o, const char *name, size_t max, bool nullable, const char **out,
		      char *err, size_t errlen)
{
	json_object *v = NULL;
	char what[96];

	*out = NULL;
	if (!json_object_object_get_ex(o, name, &v)) {
		snprintf(what, sizeof what, "%s is missing", name);
		return kt_fail(err, errlen, what);
	}
	if (!v && nullable)
		return true;
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) < 1
	    || (size_t)json_object_get_string_len(v) > max) {
		snprintf(what, sizeof what, "%s must be a string of 1 to %zu bytes%s", name, max,
			 nullable ? " or null" : "");
		return kt_fail(err, errlen, what);
	}
	*out = json_object_get_string(v);
	return true;
}

static bool kt_time(json_object *o, const char *name, bool nullable, int64_t *out, bool *present,
		    char *err, size_t errlen)
{
	const char *s;
	char what[96];

	if (!kt_string(o, name, 64, nullable, &s, err, errlen))
		return false;
	if (present)
		*present = s != NULL;
	if (s && !timefmt_parse(s, out)) {
		snprintf(what, sizeof what, "%s must be an RFC 3339 date-time", name);
		return kt_fail(err, errlen, what);
	}
	return true;
}

static bool kt_check(json_object *k, struct keytransfer_line *l, char *err, size_t errlen)
{
	static const char *const known[] = { "key_id", "tenant_id", "subject", "wrapped_key", "master_id",
					     "created_at", "erased_at", "erased_by" };
	json_object *v = NULL;
	const char *tenant;

	json_object_object_foreach(k, key, val) {
		size_t i;
		char shown[48], what[96];

		(void)val;
		for (i = 0; i < sizeof known / sizeof *known && strcmp(known[i], key) != 0; i++)
			;
		if (i == sizeof known / sizeof *known) {
			snprintf(what, sizeof what, "%s is not a member of a key record",
				 text_quote(shown, sizeof shown, key, strlen(key)));
			return kt_fail(err, errlen, what);
		}
	}
	if (!json_object_object_get_ex(k, "key_id", &v) || !json_object_is_type(v, json_type_int)
	    || json_object_get_int64(v) < 1)
		return kt_fail(err, errlen, "key_id must be an integer of at least 1");
	l->key_id = json_object_get_int64(v);
	if (!kt_string(k, "tenant_id", UUIDTEXT_LEN, true, &tenant, err, errlen))
		return false;
	if (tenant && (!uuidtext_parse(tenant, l->tenant_id) || uuidtext_is_nil(l->tenant_id)))
		return kt_fail(err, errlen, "tenant_id must be a UUID other than the nil UUID, or null");
	if (!kt_string(k, "subject", PERSONAL_SUBJECT_MAX, false, &l->subject, err, errlen)
	    || !kt_string(k, "wrapped_key", WRAPPED_HEX_LEN, true, &l->wrapped_hex, err, errlen)
	    || !kt_string(k, "master_id", MASTER_ID_MAX, false, &l->master_id, err, errlen)
	    || !kt_time(k, "created_at", false, &l->created_at, NULL, err, errlen)
	    || !kt_time(k, "erased_at", true, &l->erased_at, &l->erased, err, errlen)
	    || !kt_string(k, "erased_by", ERASED_BY_MAX, true, &l->erased_by, err, errlen))
		return false;
	if (l->wrapped_hex && !kt_hex(l->wrapped_hex))
		return kt_fail(err, errlen, "wrapped_key must be a wrapped key in lower-case hex or null");
	if (l->erased == (l->wrapped_hex != NULL))
		return kt_fail(err, errlen, "erased_at must be set exactly when wrapped_key is null");
	return true;
}

enum es_status keytransfer_line_parse(const char *line, size_t len, struct keytransfer_line *out,
				      char *err, size_t errlen)
{
	json_object *doc = NULL, *k = NULL;
	enum es_status rc;

	memset(out, 0, sizeof *out);
	snprintf(out->tenant_id, sizeof out->tenant_id, "%s", UUIDTEXT_NIL);
	rc = jsondoc_parse_strict(line, len, 4, &doc, err, errlen);
	if (rc != ES_OK)
		return rc;
	out->doc_ = doc;
	if (!json_object_is_type(doc, json_type_object) || json_object_object_length(doc) != 1
	    || !json_object_object_get_ex(doc, KEYTRANSFER_MEMBER, &k)
	    || !json_object_is_type(k, json_type_object)) {
		snprintf(err, errlen, "a key record is {\"" KEYTRANSFER_MEMBER "\": {…}} and nothing else");
		return ES_EINVAL;
	}
	return kt_check(k, out, err, errlen) ? ES_OK : ES_EINVAL;
}

void keytransfer_line_free(struct keytransfer_line *l)
{
	if (!l)
		return;
	json_object_put(l->doc_);
	l->doc_ = NULL;
}

/* s as a COPY text field (backslash, tab, newline, carriage return escaped). */
static void kt_copy_text(struct sbuf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\': sbuf_puts(out, "\\\\"); break;
		case '\t': sbuf_puts(out, "\\t"); break;
		case '\n': sbuf_puts(out, "\\n"); break;
		case '\r': sbuf_puts(out, "\\r"); break;
		default: sbuf_putc(out, *s);
		}
	}
}

static void kt_copy_time(struct sbuf *out, int64_t usec)
{
	char t[TIMEFMT_LEN];

	timefmt_format(usec, t);
	sbuf_puts(out, t);
}

#define KT_COPY_COLUMNS \
	"line, key_id, tenant_id, subject, wrapped_key, master_id, created_at, erased_at, erased_by"

void keytransfer_copy_row(const struct keytransfer_line *l, int64_t lineno, struct sbuf *out)
{
	sbuf_printf(out, "%" PRId64 "\t%" PRId64 "\t%s\t", lineno, l->key_id, l->tenant_id);
	kt_copy_text(out, l->subject);
	sbuf_putc(out, '\t');
	if (l->wrapped_hex)
		sbuf_printf(out, "\\\\x%s", l->wrapped_hex);
	else
		sbuf_puts(out, "\\N");
	sbuf_putc(out, '\t');
	kt_copy_text(out, l->master_id);
	sbuf_putc(out, '\t');
	kt_copy_time(out, l->created_at);
	sbuf_putc(out, '\t');
	if (l->erased)
		kt_copy_time(out, l->erased_at);
	else
		sbuf_puts(out, "\\N");
	sbuf_putc(out, '\t');
	if (l->erased_by)
		kt_copy_text(out, l->erased_by);
	else
		sbuf_puts(out, "\\N");
	sbuf_putc(out, '\n');
}

/* ---- import ------------------------------------------------------------------------ */

#define KT_TABLE_SQL \
	"CREATE TEMPORARY TABLE IF NOT EXISTS evstore_import_keys (" \
	" line bigint NOT NULL, key_id bigint NOT NULL, tenant_id uuid NOT NULL, subject text NOT NULL," \
	" wrapped_key bytea, master_id text NOT NULL, created_at timestamptz NOT NULL," \
	" erased_at timestamptz, erased_by text) ON COMMIT DELETE ROWS"

/* The check: what each record is to the table, and the first line at
 * fault. Reads only; the writes follow when there is no fault. */
static const char kt_check_sql[] =
	"WITH f AS ("
	"  SELECT i.*, min(i.line) OVER (PARTITION BY i.key_id) AS first_line FROM pg_temp.evstore_import_keys i),"
	" again AS ("
	"  SELECT r.line, o.line AS other, r.key_id FROM f r JOIN f o ON o.key_id = r.key_id AND o.line = r.first_line"
	"  WHERE r.line <> r.first_line AND (r.tenant_id, r.subject, r.wrapped_key, r.master_id, r.created_at,"
	"   r.erased_at, r.erased_by) IS DISTINCT FROM (o.tenant_id, o.subject, o.wrapped_key, o.master_id,"
	"   o.created_at, o.erased_at, o.erased_by)),"
	" k AS ("
	"  SELECT f.*, s.key_id IS NOT NULL AS stored, s.erased_at IS NOT NULL AS stored_erased,"
	"   CASE WHEN s.key_id IS NULL THEN NULL"
	"    WHEN s.tenant_id <> f.tenant_id THEN 'tenant_id'"
	"    WHEN s.subject <> f.subject THEN 'subject'"
	"    WHEN s.master_id <> f.master_id THEN 'master_id'"
	"    WHEN s.created_at <> f.created_at THEN 'created_at'"
	"    WHEN s.wrapped_key <> f.wrapped_key THEN 'wrapped_key' END AS differs"
	"  FROM f LEFT JOIN evstore.subject_keys s ON s.key_id = f.key_id WHERE f.line = f.first_line),"
	/* A new live key for a subject that keeps another live key (one the
	 * file does not erase), here or earlier in the file. */
	" live AS ("
	"  SELECT k.line, s.key_id AS other, k.key_id FROM k JOIN evstore.subject_keys s"
	"   ON s.tenant_id = k.tenant_id AND s.subject = k.subject AND s.erased_at IS NULL AND s.key_id <> k.key_id"
	"  WHERE NOT k.stored AND k.erased_at IS NULL"
	"   AND NOT EXISTS (SELECT 1 FROM k e WHERE e.key_id = s.key_id AND e.erased_at IS NOT NULL)"
	"  UNION ALL SELECT a.line, b.key_id, a.key_id FROM k a JOIN k b ON b.tenant_id = a.tenant_id"
	"   AND b.subject = a.subject AND b.key_id <> a.key_id AND b.line < a.line"
	"  WHERE NOT a.stored AND a.erased_at IS NULL AND b.erased_at IS NULL),"
	" problem AS ("
	"  SELECT * FROM ("
	"   SELECT line, 'again' AS what, other, NULL::text AS field, key_id FROM again"
	"   UNION ALL SELECT line, 'differs', NULL, differs, key_id FROM k WHERE differs IS NOT NULL"
	"   UNION ALL SELECT line, 'live', other, NULL, key_id FROM live) p"
	"  ORDER BY line LIMIT 1)"
	" SELECT count(*) FILTER (WHERE NOT stored),"
	"  count(*) FILTER (WHERE stored AND (erased_at IS NOT NULL) = stored_erased),"
	"  count(*) FILTER (WHERE stored AND erased_at IS NOT NULL AND NOT stored_erased),"
	"  count(*) FILTER (WHERE stored AND erased_at IS NULL AND stored_erased),"
	"  p.line, p.what, p.other, p.field, p.key_id"
	" FROM k RIGHT JOIN (SELECT 1) one ON true LEFT JOIN problem p ON true"
	" GROUP BY p.line, p.what, p.other, p.field, p.key_id";

/* The writes, in this order: an erasure first, so that a subject's newer
 * live key never meets the older one it replaces. */
static const char kt_erase_sql[] =
	"UPDATE evstore.subject_keys s SET wrapped_key = NULL, erased_at = i.erased_at, erased_by = i.erased_by"
	" FROM pg_temp.evstore_import_keys i"
	" WHERE s.key_id = i.key_id AND s.erased_at IS NULL AND i.erased_at IS NOT NULL";
static const char kt_insert_sql[] =
	"INSERT INTO evstore.subject_keys (key_id, tenant_id, subject, wrapped_key, master_id, created_at,"
	"  erased_at, erased_by) OVERRIDING SYSTEM VALUE"
	" SELECT DISTINCT ON (key_id) key_id, tenant_id, subject, wrapped_key, master_id, created_at, erased_at,"
	"  erased_by FROM pg_temp.evstore_import_keys i"
	" WHERE NOT EXISTS (SELECT 1 FROM evstore.subject_keys s WHERE s.key_id = i.key_id)"
	" ORDER BY key_id, line";
/* The identity past every id stored (it never goes back). */
static const char kt_advance_sql[] =
	"SELECT setval(q.seq, m.top) FROM"
	" (SELECT pg_get_serial_sequence('evstore.subject_keys', 'key_id')::regclass AS seq) q,"
	" (SELECT max(key_id) AS top FROM evstore.subject_keys) m"
	" WHERE m.top > COALESCE(pg_sequence_last_value(q.seq), 0)";

static void kt_fail_db(struct db *db, struct keytransfer_result *res)
{
	snprintf(res->reason, sizeof res->reason, "%s", db_last_error(db));
	if (db_connected(db))
		(void)!db_exec_sql(db, "ROLLBACK", NULL);
}

enum es_status keytransfer_begin(struct db *db, struct keytransfer_result *res)
{
	enum es_status rc;

	memset(res, 0, sizeof *res);
	rc = db_exec_sql(db, "BEGIN", NULL);
	/* No key is made or erased while the group is checked and written:
	 * an append that needs a new key waits the few moments it takes. */
	if (rc == ES_OK)
		rc = db_exec_sql(db, "LOCK TABLE evstore.subject_keys IN SHARE ROW EXCLUSIVE MODE", NULL);
	if (rc == ES_OK)
		rc = db_exec_sql(db, KT_TABLE_SQL, NULL);
	if (rc == ES_OK)
		rc = db_copy_in_begin(db, "COPY pg_temp.evstore_import_keys (" KT_COPY_COLUMNS ") FROM STDIN");
	if (rc != ES_OK)
		kt_fail_db(db, res);
	return rc;
}

void keytransfer_put(struct db *db, const char *rows, size_t len)
{
	db_copy_in_put(db, rows, len);
}

void keytransfer_abort(struct db *db, const char *reason)
{
	(void)!db_copy_in_end(db, reason);
	if (db_connected(db))
		(void)!db_exec_sql(db, "ROLLBACK", NULL);
}

static void kt_reason(const PGresult *r, struct keytransfer_result *res)
{
	const char *what = PQgetvalue(r, 0, 5), *other = PQgetvalue(r, 0, 6);
	const char *field = PQgetvalue(r, 0, 7), *id = PQgetvalue(r, 0, 8);

	res->line = db_value_int64(r, 0, 4);
	if (strcmp(what, "again") == 0)
		snprintf(res->reason, sizeof res->reason, "subject key %s is on line %s already, with other"
			 " content", id, other);
	else if (strcmp(what, "differs") == 0)
		snprintf(res->reason, sizeof res->reason, "subject key %s is stored already with another %s:"
			 " this store's keys are not the export's (import into the store it came from, or"
			 " into an empty one)", id, field);
	else
		snprintf(res->reason, sizeof res->reason, "subject key %s is live, and its subject has another"
			 " live key already (key %s)", id, other);
}

enum es_status keytransfer_finish(struct db *db, struct keytransfer_result *res)
{
	PGresult *r = NULL;
	enum es_status rc;

	memset(res, 0, sizeof *res);
	rc = db_copy_in_end(db, NULL);
	if (rc == ES_OK)
		rc = db_exec_params(db, "keytransfer_check", kt_check_sql, 0, NULL, &r);
	if (rc != ES_OK)
		goto fail;
	if (!PQgetisnull(r, 0, 4)) {
		res->refused = true;
		kt_reason(r, res);
		PQclear(r);
		(void)!db_exec_sql(db, "ROLLBACK", NULL);
		return ES_OK;
	}
	res->inserted = db_value_int64(r, 0, 0);
	res->same = db_value_int64(r, 0, 1);
	res->erased = db_value_int64(r, 0, 2);
	res->kept_erased = db_value_int64(r, 0, 3);
	PQclear(r);
	rc = db_exec_sql(db, kt_erase_sql, NULL);
	if (rc == ES_OK)
		rc = db_exec_sql(db, kt_insert_sql, NULL);
	if (rc == ES_OK)
		rc = db_exec_sql(db, kt_advance_sql, NULL);
	if (rc == ES_OK)
		rc = db_exec_sql(db, "COMMIT", NULL);
	if (rc == ES_OK)
		return ES_OK;
fail:
	kt_fail_db(db, res);
	return rc;
}

enum es_status keytransfer_missing(struct db *db, const int64_t *ids, size_t n, int64_t *missing,
				   size_t *n_missing)
{
	struct sbuf arr = SBUF_INIT;
	const char *values[1];
	PGresult *r = NULL;
	enum es_status rc;

	*n_missing = 0;
	if (n == 0)
		return ES_OK;
	sbuf_putc(&arr, '{');
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&arr, "%s%" PRId64, i ? "," : "", ids[i]);
	sbuf_putc(&arr, '}');
	if (arr.failed) {
		sbuf_free(&arr);
		return ES_ENOMEM;
	}
	values[0] = sbuf_cstr(&arr);
	rc = db_exec_params(db, "keytransfer_missing",
			    "SELECT id FROM unnest($1::bigint[]) id WHERE NOT EXISTS"
			    " (SELECT 1 FROM evstore.subject_keys k WHERE k.key_id = id) ORDER BY id", 1, values, &r);
	for (int i = 0; rc == ES_OK && i < PQntuples(r) && (size_t)i < n; i++)
		missing[(*n_missing)++] = db_value_int64(r, i, 0);
	PQclear(r);
	sbuf_free(&arr);
	return rc;
}

static const char *kt_skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

bool keytransfer_envelope_ids(const char *s, size_t len, bool (*id)(void *arg, int64_t key_id),
			      void *arg)
{
	const size_t mark = strlen(PERSONAL_ENVELOPE_MARK);
	const char *p = s, *end = s + len, *hit;

	/* In JSON text "\"$enc\"" with its quotes is a member name or a
	 * string value: followed by a ':' it is the member. */
	while ((hit = personal_find_mark(p, (size_t)(end - p))) != NULL) {
		int64_t key = 0;
		const char *q = kt_skip_space(hit + mark, end);
		bool digits = false;

		p = hit + mark;
		if (q >= end || *q != ':')
			continue;
		q = kt_skip_space(q + 1, end);
		if (end - q < 4 || memcmp(q, "\"v1:", 4) != 0)
			continue;
		for (q += 4; q < end && *q >= '0' && *q <= '9' && key < INT64_MAX / 10 - 10; q++) {
			key = key * 10 + (*q - '0');
			digits = true;
		}
		if (digits && q < end && *q == ':' && key > 0 && !id(arg, key))
			return false;
	}
	return true;
}

/* ---- verify ------------------------------------------------------------------------ */

static const char kt_verify_identity_sql[] =
	"SELECT m.top, COALESCE(pg_sequence_last_value(q.seq), 0) FROM"
	" (SELECT pg_get_serial_sequence('evstore.subject_keys', 'key_id')::regclass AS seq) q,"
	" (SELECT max(key_id) AS top FROM evstore.subject_keys) m"
	" WHERE m.top > COALESCE(pg_sequence_last_value(q.seq), 0) AND $1::int > 0";

/* Each key id that envelopes name without a row: how many events name
 * it, and the first of them. jsonb's text writes a member as "name": value. */
static const char kt_verify_envelopes_sql[] =
	"SELECT n.key_id, count(DISTINCT (n.tenant_id, n.event_id)),"
	"  (array_agg(n.event_id::text ORDER BY n.position))[1],"
	"  NULLIF((array_agg(n.tenant_id ORDER BY n.position))[1], '00000000-0000-0000-0000-000000000000')::text"
	" FROM (SELECT e.tenant_id, e.event_id, e.position, m[1]::bigint AS key_id FROM evstore.events e,"
	"   regexp_matches(e.payload::text, '\"\\$enc\": \"v1:([0-9]{1,18}):', 'g') m"
	"  WHERE strpos(e.payload::text, '\"$enc\"') > 0) n"
	" WHERE NOT EXISTS (SELECT 1 FROM evstore.subject_keys k WHERE k.key_id = n.key_id)"
	" GROUP BY n.key_id ORDER BY n.key_id LIMIT $1::int";

enum es_status keytransfer_verify(struct db *db, struct verify_report *rep, bool envelopes)
{
	PGresult *r = NULL;
	enum es_status rc;
	char text[384];

	rc = verify_query(db, rep, "keytransfer_verify_identity", kt_verify_identity_sql, &r);
	if (rc == ES_OK && r && PQntuples(r) == 1) {
		snprintf(text, sizeof text, "the subject keys' key_id identity is at %s, behind key id %s: the"
			 " next subject key made would take a stored id (evstorectl import of the keys moves"
			 " it; so does SELECT setval(pg_get_serial_sequence('evstore.subject_keys', 'key_id'),"
			 " %s))", PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 0));
		rep->found++;
		rep->problem(rep->arg, text);
	}
	PQclear(r);
	r = NULL;
	if (rc != ES_OK || !envelopes)
		return rc;
	/* The scan is the point here: the planner may read the table, sort
	 * and hash again (verify turned them off for its index scans). */
	rc = db_exec_sql(db, "SET enable_seqscan = on; SET enable_sort = on; SET enable_hashagg = on;"
			 " SET enable_hashjoin = on", NULL);
	if (rc == ES_OK)
		rc = verify_query(db, rep, "keytransfer_verify_envelopes", kt_verify_envelopes_sql, &r);
	for (int i = 0; rc == ES_OK && r && i < PQntuples(r); i++) {
		const char *tenant = db_value_or_null(r, i, 3);

		snprintf(text, sizeof text, "subject key %s has no row, and %s event%s name%s it in an envelope"
			 " (event %s%s%s the first): their personal fields cannot be read; import the keys from"
			 " an export made with them", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
			 strcmp(PQgetvalue(r, i, 1), "1") == 0 ? "" : "s",
			 strcmp(PQgetvalue(r, i, 1), "1") == 0 ? "s" : "", PQgetvalue(r, i, 2),
			 tenant ? " of tenant " : "", tenant ? tenant : "");
		rep->found++;
		rep->problem(rep->arg, text);
	}
	PQclear(r);
	return rc;
}
