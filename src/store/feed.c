/* feed.c - the global feed's statements. One builder makes them all, so
 * that the HTTP feed, the runner and evstorectl rebuild read the same rows
 * the same way.
 *
 * The type filters are written as COALESCE(... = ANY ($n), true) (a NULL
 * list matches everything) rather than "$n IS NULL OR ...": the planner
 * cannot estimate them, so it keeps reading the feed index in order and
 * stops at the limit. Written plainly, a table without statistics yet (a
 * bulk load before autovacuum's analyze) made it expect a handful of
 * matches and sort every event after the cursor, rendering each one's
 * JSON, for every page: a runner catching up over 200k fresh events ran at
 * a few hundred events/s instead of tens of thousands, and an HTTP client
 * paging with ?aggregate_type= paid the same. One tenant's pages hide
 * their length from the planner (FEED_LIMIT) for the same reason, and read
 * a filter on aggregate types from their own index, one type at a time
 * (FEED_TYPED_ROWS). check_feed holds the plans to this.
 *
 * One statement returns the horizon (pg_snapshot_xmin) and the page, so an
 * empty page still tells how far the feed is known to be complete. */
#include "buildconf.h"
#include "store/feed.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "base/uuidtext.h"
#include "pg/db.h"
#include "store/event_render.h"
#include "store/page_budget.h"

/* The columns of an event of the page, of the event E (an evstore.events
 * row): its place in the feed (transaction_id as t, for the order), the
 * ids struct event keeps as text, and what event_render() reads. */
#define FEED_COLUMNS_OF(E) \
	" (" E ").transaction_id AS t, (" E ").event_id::text AS i," \
	" (" E ").aggregate_id::text AS a," \
	" COALESCE(NULLIF((" E ").tenant_id, '00000000-0000-0000-0000-000000000000')::text, '') AS tn," \
	EVENT_RENDER_COLUMNS("(" E ")")
#define FEED_COLUMNS FEED_COLUMNS_OF("e")

/* The same columns of a subquery Q that selected them, as feed_rows()
 * reads them after the horizon (F_TXID on). */
#define FEED_SELECT(Q) \
	" " Q ".t::text, " Q ".i, " Q ".a, " Q ".tn," EVENT_RENDER_SELECT(Q)
enum { F_HORIZON, F_TXID, F_EVENT_ID, F_AGGREGATE_ID, F_TENANT_ID, F_EVENT,
       F_MORE = F_EVENT + EVENT_RENDER_NCOLS, F_KEY_EPOCH };

/* The page's length $5 as the planner cannot see it: a LIMIT it cannot
 * read is taken for 10% of the rows, so it reads an index in order and
 * stops rather than sorting whatever it expects to match. Seen as 100, on
 * a table without statistics (a bulk load before autovacuum's analyze) it
 * expected a handful of the tenant's rows and sorted all of them, for
 * every page. */
#define FEED_LIMIT " LIMIT (SELECT $5::int)"

/* The type filters, planner-safe (see above); AT and ET are text[]. */
#define FEED_FILTERS(AT, ET) \
	" COALESCE(e.aggregate_type = ANY (" AT "::text[]), true)" \
	" AND COALESCE(e.event_type = ANY (" ET "::text[]), true)"

/* A page: $1, $2 the cursor, $3, $4 the filters, $5 the limit, $6 the
 * byte budget (NULL: none), $7 whether to read the key epoch (sql/010) of
 * the page's snapshot, for a reader's cached subject keys (an initplan
 * runs only when used: not asked for, it costs nothing), $8 the tenant of
 * a one-tenant page; TENANT is empty or a condition on e.tenant_id
 * followed by AND. Each shape has
 * its index: (transaction_id, position) for every tenant, (tenant_id,
 * transaction_id, position) for one. The budget is cut above the Limit,
 * so the index scan still stops there. */
#define FEED_PAGE_SQL(ROWS) \
	"WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x," \
	"  CASE WHEN $7::boolean THEN (SELECT epoch FROM evstore.key_epoch) END AS ep)" \
	" SELECT h.x::text," FEED_SELECT("ev") ", ev.page_more, h.ep" \
	" FROM h LEFT JOIN LATERAL (" \
	"  SELECT * FROM (" \
	"   SELECT pg.*," PAGE_BUDGET_COLUMNS(EVENT_RENDER_SIZE_SQL, "pg.t, pg.r_position") \
	"   FROM (" ROWS ") pg) w" \
	"  WHERE" PAGE_BUDGET_KEEP("$6") ") ev ON true" \
	" ORDER BY ev.t, ev.r_position"

/* The page's rows, any aggregate type. */
#define FEED_ROWS(TENANT, LIMIT) \
	"SELECT " FEED_COLUMNS " FROM evstore.events e" \
	" WHERE " TENANT "(e.transaction_id, e.position) > ($1::xid8, $2::bigint)" \
	"  AND e.transaction_id < h.x AND" FEED_FILTERS("$3", "$4") \
	" ORDER BY e.transaction_id, e.position" LIMIT

/* One tenant's page of the aggregate types $3 (not NULL): each type's
 * next events read in order from (tenant_id, aggregate_type,
 * transaction_id, position), then merged, so that a type that is 1% of
 * the events costs a page of its own events, not a hundred pages of the
 * others. */
#define FEED_TYPED_ROWS \
	"SELECT " FEED_COLUMNS_OF("m.r") \
	" FROM (SELECT DISTINCT unnest($3::text[])) AS ty(name) CROSS JOIN LATERAL (" \
	"  SELECT e AS r FROM evstore.events e" \
	"  WHERE e.tenant_id = $8::uuid AND e.aggregate_type = ty.name" \
	"   AND (e.transaction_id, e.position) > ($1::xid8, $2::bigint)" \
	"   AND e.transaction_id < h.x AND COALESCE(e.event_type = ANY ($4::text[]), true)" \
	"  ORDER BY e.transaction_id, e.position" FEED_LIMIT ") m" \
	" ORDER BY (m.r).transaction_id, (m.r).position" FEED_LIMIT

/* The runner's statement (and an admin's), planned with the page's length
 * in sight: check_feed shows it reading in order either way. */
static const struct db_statement st_page_all = {
	"feed_page_all", FEED_PAGE_SQL(FEED_ROWS("", " LIMIT $5::int")), 7
};

static const struct db_statement st_page_tenant = {
	"feed_page_tenant", FEED_PAGE_SQL(FEED_ROWS("e.tenant_id = $8::uuid AND ", FEED_LIMIT)), 8
};

static const struct db_statement st_page_tenant_typed = {
	"feed_page_tenant_typed", FEED_PAGE_SQL(FEED_TYPED_ROWS), 8
};

static const struct db_statement st_positions = {
	"feed_positions",
	"SELECT '0'::text," FEED_SELECT("q") ", false, NULL::uuid" /* page_more: no budget; no epoch */
	" FROM (SELECT" FEED_COLUMNS " FROM evstore.events e"
	"  WHERE e.position = ANY ($1::bigint[])) q ORDER BY q.t, q.r_position",
	1
};

/* The horizon, and the first event at or after position $1 (none when $1
 * is NULL). */
static const struct db_statement st_start = {
	"feed_start",
	"SELECT pg_snapshot_xmin(pg_current_snapshot())::text, f.t::text, f.p"
	" FROM (SELECT 1) one LEFT JOIN LATERAL ("
	"   SELECT e.transaction_id AS t, e.position AS p FROM evstore.events e"
	"   WHERE e.position >= $1::bigint ORDER BY e.position LIMIT 1) f ON true",
	1
};

/* The events below the horizon that pass the filters $1, $2: how many, and
 * the last one. */
#define FEED_BACKLOG_WHERE \
	" FROM evstore.events e WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())" \
	" AND" FEED_FILTERS("$1", "$2")

static const struct db_statement st_backlog = {
	"feed_backlog",
	"SELECT (SELECT count(*)" FEED_BACKLOG_WHERE "), l.t::text, l.p"
	" FROM (SELECT 1) one LEFT JOIN LATERAL ("
	"   SELECT e.transaction_id AS t, e.position AS p" FEED_BACKLOG_WHERE
	"   ORDER BY e.transaction_id DESC, e.position DESC LIMIT 1) l ON true",
	2
};

void feed_page_free(struct feed_page *p)
{
	if (!p)
		return;
	PQclear(p->result_);
	free(p->ev);
	sbuf_free(&p->json_);
	memset(p, 0, sizeof *p);
}

struct feed_cursor feed_event_cursor(const struct event *e)
{
	struct feed_cursor c = { e->txid_num, e->position };
	return c;
}

/* The cursor after everything below xmin x (text). */
static struct feed_cursor feed_horizon_of(const char *x)
{
	uint64_t v = strtoull(x, NULL, 10);
	struct feed_cursor c = { v > 0 ? v - 1 : 0, v > 0 ? INT64_MAX : 0 };

	return c;
}

/* Takes r (a binary result, cleared by feed_page_free, even on failure),
 * renders its events' JSON into out and points out's events into both; a
 * row whose event columns are NULL is the empty page's. Stops before the
 * JSON passes max_bytes (> 0; the first event always comes), as the
 * statement's cut counts a little short (event_render.h). *cut: a row the
 * byte budget left out follows the last event. */
static enum es_status feed_rows(PGresult *r, long max_bytes, struct feed_page *out, bool *cut)
{
	int rows = PQntuples(r);
	size_t *at = NULL;
	enum es_status rc = ES_OK;

	*cut = false;
	out->result_ = r;
	out->ev = calloc(rows > 0 ? (size_t)rows : 1, sizeof *out->ev);
	at = calloc(rows > 0 ? (size_t)rows : 1, sizeof *at);
	if (!out->ev || !at) {
		rc = ES_ENOMEM;
		goto out;
	}
	for (int i = 0; i < rows && !PQgetisnull(r, i, F_TXID); i++) {
		struct event *e = &out->ev[out->n];
		size_t start = out->json_.len;

		rc = event_render(r, i, F_EVENT, &out->json_);
		if (rc != ES_OK)
			goto out;
		if (out->n > 0 && max_bytes > 0 && out->json_.len - out->n > (size_t)max_bytes) {
			sbuf_truncate(&out->json_, start);
			*cut = true;
			break;
		}
		sbuf_putc(&out->json_, '\0'); /* one string each; not counted above */
		at[out->n++] = start;
		e->txid = PQgetvalue(r, i, F_TXID);
		e->txid_num = strtoull(e->txid, NULL, 10);
		e->event_id = PQgetvalue(r, i, F_EVENT_ID);
		e->aggregate_id = PQgetvalue(r, i, F_AGGREGATE_ID);
		e->tenant_id = PQgetvalue(r, i, F_TENANT_ID);
		e->event_type = PQgetvalue(r, i, F_EVENT + EVENT_RENDER_EVENT_TYPE);
		e->aggregate_type = PQgetvalue(r, i, F_EVENT + EVENT_RENDER_AGGREGATE_TYPE);
		e->position = db_binary_int64(r, i, F_EVENT + EVENT_RENDER_POSITION);
		e->version = db_binary_int64(r, i, F_EVENT + EVENT_RENDER_VERSION);
		*cut = db_binary_bool(r, i, F_MORE);
	}
	if (out->json_.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	/* the buffer has stopped moving */
	for (size_t k = 0; k < out->n; k++)
		out->ev[k].json = out->json_.data + at[k];
out:
	free(at);
	return rc;
}

enum es_status feed_read(struct db *db, const struct feed_query *q, struct feed_page *out)
{
	char tx[24], pos[24], lim[16], budget[24];
	const char *vals[8] = { tx, pos, q->aggregate_types, q->event_types, lim,
				q->max_bytes > 0 ? budget : NULL, q->key_epoch ? "t" : "f",
				q->tenant ? q->tenant : UUIDTEXT_NIL };
	PGresult *r = NULL;
	enum es_status rc;
	bool cut;

	memset(out, 0, sizeof *out);
	if (q->limit < 1)
		return ES_EINVAL;
	snprintf(tx, sizeof tx, "%" PRIu64, q->after.txid);
	snprintf(pos, sizeof pos, "%" PRId64, q->after.position);
	snprintf(lim, sizeof lim, "%d", q->limit);
	snprintf(budget, sizeof budget, "%ld", q->max_bytes);
	rc = db_exec_binary(db, q->all_tenants ? &st_page_all
				: q->aggregate_types ? &st_page_tenant_typed : &st_page_tenant, vals, &r);
	if (rc != ES_OK)
		return rc;
	rc = feed_rows(r, q->max_bytes, out, &cut);
	if (rc != ES_OK) {
		feed_page_free(out);
		return rc;
	}
	/* A page cut by the byte budget is full too: the row after its last
	 * one is waiting. */
	out->full = out->n >= (size_t)q->limit || cut;
	/* Every transaction below xmin is finished: the feed is complete up
	 * to (xmin - 1, the largest position). */
	if (PQntuples(r) > 0)
		out->horizon = feed_horizon_of(PQgetvalue(r, 0, 0));
	if (PQntuples(r) > 0 && PQgetlength(r, 0, F_KEY_EPOCH) == 16)
		uuidtext_format((const unsigned char *)PQgetvalue(r, 0, F_KEY_EPOCH), out->key_epoch);
	return ES_OK;
}

enum es_status feed_read_positions(struct db *db, const int64_t *positions, size_t n,
				   struct feed_page *out)
{
	struct sbuf arr = SBUF_INIT;
	const char *vals[1];
	PGresult *r = NULL;
	enum es_status rc;
	bool cut;

	memset(out, 0, sizeof *out);
	sbuf_putc(&arr, '{');
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&arr, "%s%" PRId64, i ? "," : "", positions[i]);
	sbuf_putc(&arr, '}');
	if (arr.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	vals[0] = sbuf_cstr(&arr);
	rc = db_exec_binary(db, &st_positions, vals, &r);
	if (rc != ES_OK)
		goto out;
	rc = feed_rows(r, 0, out, &cut);
	if (rc != ES_OK)
		feed_page_free(out);
out:
	sbuf_free(&arr);
	return rc;
}

/* Writes a comma-separated list ("A, B") as a text[] literal ({"A","B"}),
 * items trimmed, empty ones dropped. Returns false when it names nothing. */
static bool feed_list_array(const char *csv, struct sbuf *b)
{
	const char *p = csv;
	bool any = false;

	sbuf_putc(b, '{');
	while (*p) {
		const char *start, *end;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end > start) {
			if (any)
				sbuf_putc(b, ',');
			sbuf_putc(b, '"');
			for (const char *c = start; c < end; c++) {
				if (*c == '"' || *c == '\\')
					sbuf_putc(b, '\\');
				sbuf_putc(b, *c);
			}
			sbuf_putc(b, '"');
			any = true;
		}
		if (*p == ',')
			p++;
	}
	sbuf_putc(b, '}');
	return any;
}

enum es_status feed_read_json(struct db *db, const struct feed_request *q, struct sbuf *out,
			      size_t *count, struct feed_cursor *next, char *key_epoch)
{
	struct sbuf types = SBUF_INIT, etypes = SBUF_INIT;
	struct feed_query fq = {
		.all_tenants = q->all_tenants, .tenant = q->tenant, .after = q->after,
		.limit = q->limit, .max_bytes = q->max_bytes, .key_epoch = q->key_epoch,
	};
	struct feed_page pg = { 0 };
	enum es_status rc;

	*count = 0;
	*next = q->after;
	if (q->aggregate_types && feed_list_array(q->aggregate_types, &types))
		fq.aggregate_types = sbuf_cstr(&types);
	if (q->event_types && feed_list_array(q->event_types, &etypes))
		fq.event_types = sbuf_cstr(&etypes);
	if (types.failed || etypes.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	rc = feed_read(db, &fq, &pg);
	if (rc != ES_OK)
		goto out;
	for (size_t i = 0; i < pg.n; i++) {
		if (i > 0)
			sbuf_putc(out, ',');
		sbuf_puts(out, pg.ev[i].json);
	}
	if (pg.n > 0)
		*next = feed_event_cursor(&pg.ev[pg.n - 1]);
	*count = pg.n;
	if (key_epoch)
		memcpy(key_epoch, pg.key_epoch, UUIDTEXT_LEN);
	rc = out->failed ? ES_ENOMEM : ES_OK;
out:
	feed_page_free(&pg);
	sbuf_free(&types);
	sbuf_free(&etypes);
	return rc;
}

/* The start before position (NULL: the horizon). */
static enum es_status feed_start(struct db *db, const int64_t *position, struct feed_cursor *out)
{
	char pos[24];
	const char *vals[1] = { position ? pos : NULL };
	PGresult *r = NULL;
	enum es_status rc;

	memset(out, 0, sizeof *out);
	if (position)
		snprintf(pos, sizeof pos, "%" PRId64, *position);
	rc = db_exec(db, &st_start, vals, &r);
	if (rc != ES_OK)
		goto out;
	if (PQgetisnull(r, 0, 1)) {
		*out = feed_horizon_of(PQgetvalue(r, 0, 0));
	} else {
		out->txid = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		out->position = db_value_int64(r, 0, 2) - 1;
	}
out:
	PQclear(r);
	return rc;
}

enum es_status feed_horizon(struct db *db, struct feed_cursor *out)
{
	return feed_start(db, NULL, out);
}

enum es_status feed_cursor_before(struct db *db, int64_t position, struct feed_cursor *out)
{
	return feed_start(db, &position, out);
}

enum es_status feed_backlog(struct db *db, const char *aggregate_types, const char *event_types,
			    int64_t *count, struct feed_cursor *last, bool *have_last)
{
	const char *vals[2] = { aggregate_types, event_types };
	PGresult *r = NULL;
	enum es_status rc;

	*count = 0;
	*have_last = false;
	memset(last, 0, sizeof *last);
	rc = db_exec(db, &st_backlog, vals, &r);
	if (rc != ES_OK)
		goto out;
	*count = db_value_int64(r, 0, 0);
	if (!PQgetisnull(r, 0, 1)) {
		last->txid = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		last->position = db_value_int64(r, 0, 2);
		*have_last = true;
	}
out:
	PQclear(r);
	return rc;
}
