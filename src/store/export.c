/* export.c - the export's statements: the feed's order and horizon, through
 * COPY TO STDOUT in binary form.
 *
 * COPY takes no parameters, so the statement is written out with literals:
 * numbers printed here, the tenant and the type list quoted by the
 * session (db_quote_literal). Binary rows carry the rendered event as it
 * is, with no escaping to undo, and its cursor as two 8-byte integers. */
#include "buildconf.h"
#include "store/export.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "base/text.h"
#include "pg/db.h"

/* The file header of COPY's binary format: signature, flags, extension length. */

/* The API's rule for aggregate_type. */
static bool export_type_valid(const char *s, size_t len)
{
	if (len < 1 || len > 64 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		      || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

void export_types_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

enum es_status export_parse_types(const char *csv, char ***names, size_t *n, char *err,
				  size_t errlen)
{
	const char *p = csv;
	char **list = NULL;
	size_t count = 0;

	*names = NULL;
	*n = 0;
	for (;;) {
		const char *start, *end;
		char **grown;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (!export_type_valid(start, (size_t)(end - start))) {
			char shown[48];

			snprintf(err, errlen, "%s is not an aggregate type (a letter, then at most 63"
				 " letters, digits, '_', '.' or '-')",
				 text_quote(shown, sizeof shown, start, (size_t)(end - start)));
			export_types_free(list, count);
			return ES_EINVAL;
		}
		grown = realloc(list, (count + 1) * sizeof *list);
		if (!grown || !(grown[count] = strndup(start, (size_t)(end - start)))) {
			export_types_free(grown ? grown : list, count);
			snprintf(err, errlen, "out of memory");
			return ES_ENOMEM;
		}
		list = grown;
		count++;
		if (!*p)
			break;
		p++;
	}
	*names = list;
	*n = count;
	return ES_OK;
}

enum es_status export_horizon(struct db *db, uint64_t *end_txid)
{
	PGresult *r = NULL;
	enum es_status rc;

	*end_txid = 0;
	rc = db_exec_sql(db, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", &r);
	if (rc == ES_OK)
		*end_txid = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

/* Appends the WHERE clause of q (after, horizon, tenant, types). */
static enum es_status export_where(struct db *db, const struct export_query *q, struct sbuf *sql)
{
	sbuf_printf(sql, " WHERE (e.transaction_id, e.position) > ('%" PRIu64 "'::xid8, %" PRId64 ")"
		    " AND e.transaction_id < '%" PRIu64 "'::xid8", q->after.txid, q->after.position,
		    q->end_txid);
	if (!q->all_tenants) {
		char *lit = db_quote_literal(db, q->tenant ? q->tenant : "00000000-0000-0000-0000-000000000000");

		if (!lit)
			return ES_ENOMEM;
		sbuf_printf(sql, " AND e.tenant_id = %s::uuid", lit);
		free(lit);
	}
	if (q->n_aggregate_types > 0) {
		struct sbuf arr = SBUF_INIT;
		char *lit;

		sbuf_putc(&arr, '{');
		for (size_t i = 0; i < q->n_aggregate_types; i++) {
			sbuf_puts(&arr, i ? ",\"" : "\"");
			for (const char *c = q->aggregate_types[i]; *c; c++) {
				if (*c == '"' || *c == '\\')
					sbuf_putc(&arr, '\\');
				sbuf_putc(&arr, *c);
			}
			sbuf_putc(&arr, '"');
		}
		sbuf_putc(&arr, '}');
		lit = arr.failed ? NULL : db_quote_literal(db, sbuf_cstr(&arr));
		sbuf_free(&arr);
		if (!lit)
			return ES_ENOMEM;
		sbuf_printf(sql, " AND e.aggregate_type = ANY (%s::text[])", lit);
		free(lit);
	}
	return sql->failed ? ES_ENOMEM : ES_OK;
}

enum es_status export_count(struct db *db, const struct export_query *q, int64_t *count)
{
	struct sbuf sql = SBUF_INIT;
	enum es_status rc;

	*count = 0;
	rc = db_ensure(db);
	if (rc != ES_OK)
		return rc;
	sbuf_puts(&sql, "SELECT count(*) FROM evstore.events e");
	rc = export_where(db, q, &sql);
	if (rc == ES_OK)
		rc = db_exec_params_int64(db, "export_count", sbuf_cstr(&sql), 0, NULL, count);
	sbuf_free(&sql);
	return rc;
}

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int32_t be32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* Splits one binary tuple (json text, xid8, int8) into its fields.
 * False when it is not one: the end-of-data marker included. */
static bool export_tuple(const unsigned char *p, size_t len, const char **json, size_t *json_len,
			 struct feed_cursor *c)
{
	int32_t n;

	if (len < 2 || p[0] != 0 || p[1] != 3)
		return false;
	p += 2;
	len -= 2;
	if (len < 4 || (n = be32(p)) < 0 || (size_t)n > len - 4)
		return false;
	*json = (const char *)p + 4;
	*json_len = (size_t)n;
	p += 4 + n;
	len -= 4 + (size_t)n;
	if (len != 24 || be32(p) != 8 || be32(p + 12) != 8)
		return false;
	c->txid = be64(p + 4);
	c->position = (int64_t)be64(p + 16);
	return true;
}

enum es_status export_batch(struct db *db, const struct export_query *q, export_row_fn row, void *arg,
			    int *n)
{
	struct sbuf sql = SBUF_INIT;
	enum es_status rc;
	bool first = true, stopped = false;

	*n = 0;
	if (q->limit < 1)
		return ES_EINVAL;
	rc = db_ensure(db);
	if (rc != ES_OK)
		return rc;
	sbuf_puts(&sql, "COPY (SELECT evstore.event_json(e)::text, e.transaction_id, e.position"
		  " FROM evstore.events e");
	rc = export_where(db, q, &sql);
	if (rc != ES_OK)
		goto out;
	sbuf_printf(&sql, " ORDER BY e.transaction_id, e.position LIMIT %d) TO STDOUT (FORMAT binary)",
		    q->limit);
	if (sql.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	rc = db_copy_out_begin(db, sbuf_cstr(&sql));
	if (rc != ES_OK)
		goto out;
	for (;;) {
		const unsigned char *tuple;
		const char *json;
		size_t len, json_len;
		struct feed_cursor c;
		enum es_status next = db_copy_out_tuple(db, &first, &tuple, &len);

		if (next != ES_OK || !tuple) {
			if (rc == ES_OK)
				rc = next;
			break;
		}
		if (stopped)
			continue; /* the rest of a stopped batch */
		if (!export_tuple(tuple, len, &json, &json_len, &c)) {
			stopped = true; /* read the rest, then say so */
			rc = ES_EINTERNAL;
			continue;
		}
		(*n)++;
		stopped = !row(arg, json, json_len, &c);
	}
out:
	sbuf_free(&sql);
	return rc;
}
