/* loop.c - the subscription feed query. One statement returns the
 * horizon (pg_snapshot_xmin) and the page, so an empty page still tells
 * how far the feed is known to be complete.
 *
 * The type filters are written as COALESCE(... = ANY ($n), true) (a NULL
 * list matches everything) rather than "$n IS NULL OR ...": the planner
 * cannot estimate them, so it keeps reading events_feed_idx in order and
 * stops at the limit. Written plainly, a table without statistics yet
 * (a bulk load before autovacuum's analyze) made it expect a handful of
 * matches and sort every event after the cursor, rendering each one's
 * JSON, for every page: a catch-up over 200k fresh events ran at a few
 * hundred events/s instead of tens of thousands. */
#include "buildconf.h"
#include "runner/loop.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"

#define LOOP_EVENT_COLUMNS \
	"evstore.event_json(e)::text AS j, e.transaction_id AS t, e.position AS p," \
	" e.event_id::text AS i, e.event_type AS et, e.aggregate_type AS at," \
	" e.aggregate_id::text AS a," \
	" COALESCE(NULLIF(e.tenant_id, '00000000-0000-0000-0000-000000000000')::text, '') AS tn," \
	" e.version AS v"

static const struct db_statement st_feed = {
	"runner_feed",
	"WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)"
	" SELECT h.x::text, ev.j, ev.t::text, ev.p, ev.i, ev.et, ev.at, ev.a, ev.tn, ev.v"
	" FROM h LEFT JOIN LATERAL ("
	"   SELECT " LOOP_EVENT_COLUMNS " FROM evstore.events e"
	"   WHERE (e.transaction_id, e.position) > ($1::xid8, $2::bigint)"
	"     AND e.transaction_id < h.x"
	"     AND COALESCE(e.aggregate_type = ANY ($3::text[]), true)"
	"     AND COALESCE(e.event_type = ANY ($4::text[]), true)"
	"   ORDER BY e.transaction_id, e.position LIMIT $5::int) ev ON true"
	" ORDER BY ev.t, ev.p",
	5
};

static const struct db_statement st_positions = {
	"runner_feed_positions",
	"SELECT '0', " LOOP_EVENT_COLUMNS " FROM evstore.events e"
	" WHERE e.position = ANY ($1::bigint[]) ORDER BY e.transaction_id, e.position",
	1
};

void page_free(struct page *p)
{
	if (!p)
		return;
	PQclear(p->res);
	free(p->ev);
	memset(p, 0, sizeof *p);
}

struct feed_cursor loop_event_cursor(const struct event *e)
{
	struct feed_cursor c = { e->txid_num, e->position };
	return c;
}

/* Fills out->ev from the rows of out->res (column 0: horizon). */
static enum es_status loop_rows(struct page *out)
{
	int rows = PQntuples(out->res);

	out->ev = calloc(rows > 0 ? (size_t)rows : 1, sizeof *out->ev);
	if (!out->ev)
		return ES_ENOMEM;
	for (int i = 0; i < rows; i++) {
		struct event *e;

		if (PQgetisnull(out->res, i, 1))
			continue; /* the horizon row of an empty page */
		e = &out->ev[out->n++];
		e->json = PQgetvalue(out->res, i, 1);
		e->txid = PQgetvalue(out->res, i, 2);
		e->txid_num = strtoull(e->txid, NULL, 10);
		e->position = strtoll(PQgetvalue(out->res, i, 3), NULL, 10);
		e->event_id = PQgetvalue(out->res, i, 4);
		e->event_type = PQgetvalue(out->res, i, 5);
		e->aggregate_type = PQgetvalue(out->res, i, 6);
		e->aggregate_id = PQgetvalue(out->res, i, 7);
		e->tenant_id = PQgetvalue(out->res, i, 8);
		e->version = strtoll(PQgetvalue(out->res, i, 9), NULL, 10);
	}
	return ES_OK;
}

enum es_status loop_fetch(struct db *db, const struct subscription *c, const struct feed_cursor *after,
			  int limit, struct page *out)
{
	char tx[24], pos[24], lim[16];
	const char *vals[5] = { tx, pos, c->aggregate_types, c->event_types, lim };
	enum es_status rc;
	uint64_t x;

	memset(out, 0, sizeof *out);
	snprintf(tx, sizeof tx, "%" PRIu64, after->txid);
	snprintf(pos, sizeof pos, "%" PRId64, after->position);
	snprintf(lim, sizeof lim, "%d", limit);
	rc = db_exec(db, &st_feed, vals, &out->res);
	if (rc != ES_OK)
		return rc;
	rc = loop_rows(out);
	if (rc != ES_OK) {
		page_free(out);
		return rc;
	}
	out->full = out->n >= (size_t)limit;
	x = PQntuples(out->res) > 0 ? strtoull(PQgetvalue(out->res, 0, 0), NULL, 10) : 0;
	/* Every transaction below x is finished: the feed is complete up to
	 * (x - 1, the largest position). */
	out->horizon.txid = x > 0 ? x - 1 : 0;
	out->horizon.position = x > 0 ? INT64_MAX : 0;
	return ES_OK;
}

enum es_status loop_fetch_positions(struct db *db, const char *positions_array, struct page *out)
{
	const char *vals[1] = { positions_array };
	enum es_status rc;

	memset(out, 0, sizeof *out);
	rc = db_exec(db, &st_positions, vals, &out->res);
	if (rc != ES_OK)
		return rc;
	rc = loop_rows(out);
	if (rc != ES_OK)
		page_free(out);
	return rc;
}
