/* check_feed.c - the global feed (store/feed.h) against a real PostgreSQL:
 * the HTTP pages and filters, tenants, the horizon, the runner's pages and
 * position reads, the rebuild backlog, and the plans the statements get on
 * a table without statistics. */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/sbuf.h"
#include "base/uuidtext.h"
#include "pg/db.h"
#include "store/feed.h"
#include "check_plan.h"


/* ---- helpers ------------------------------------------------------------ */

/* Reads the HTTP feed from q->after in pages of q->limit until an empty
 * page; appends the event ids seen to ids (n_ids in/out). Returns the last
 * cursor. */
static struct feed_cursor feed_drain(struct db *db, struct feed_request *q,
				     char (*ids)[UUIDTEXT_LEN], size_t max_ids, size_t *n_ids)
{
	struct sbuf out = SBUF_INIT;
	struct feed_cursor next;
	size_t count;

	for (;;) {
		json_object *arr;

		sbuf_reset(&out);
		ck_assert_int_eq(feed_read_json(db, q, &out, &count, &next, NULL), ES_OK);
		if (count == 0) {
			ck_assert_uint_eq(out.len, 0);
			ck_assert_uint_eq(next.txid, q->after.txid);
			ck_assert_int_eq(next.position, q->after.position);
			break;
		}
		ck_assert_uint_le(count, (size_t)q->limit);
		arr = page_array(&out);
		ck_assert_uint_eq(json_object_array_length(arr), count);
		for (size_t i = 0; i < count; i++) {
			ck_assert_uint_lt(*n_ids, max_ids);
			snprintf(ids[(*n_ids)++], UUIDTEXT_LEN, "%s",
				 member_string(json_object_array_get_idx(arr, i), "event_id"));
		}
		json_object_put(arr);
		ck_assert(next.txid > q->after.txid ||
			  (next.txid == q->after.txid && next.position > q->after.position));
		q->after = next;
	}
	sbuf_free(&out);
	return q->after;
}

static bool ids_contain(char (*ids)[UUIDTEXT_LEN], size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* The cursor where the all-tenant feed stands now: what a reader that
 * starts here sees is what is appended from now on. */
static struct feed_cursor feed_now(struct db *db)
{
	struct feed_query q = { .all_tenants = true, .after = { 0, 0 }, .limit = 1 };
	struct feed_page pg;

	/* The horizon of an empty read past every position: nothing below it
	 * is left, and whatever commits later is above it. */
	await_horizon(db);
	q.after.txid = UINT64_MAX >> 1;
	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 0);
	q.after = pg.horizon;
	feed_page_free(&pg);
	return q.after;
}

/* ---- the HTTP feed ------------------------------------------------------- */

START_TEST(test_json_pages_and_filters)
{
	static const struct {
		const char *aggregate_types;
		const char *event_types;
		size_t want;           /* of the 7 events below */
	} filters[] = {
		{ NULL, NULL, 7 },
		{ "Order", NULL, 5 },
		{ " Invoice , Order ", NULL, 7 },
		{ "Invoice", "InvoiceSent", 2 },
		{ NULL, "OrderShipped,InvoiceSent", 4 },
		{ "Order", "InvoiceSent", 0 },
		{ "Nothing", NULL, 0 },
		{ ",", NULL, 7 },              /* names nothing: no filter */
		{ "", "", 7 },
		{ "Or\"der", NULL, 0 },        /* quoting stays inside the literal */
	};
	struct db *db = migrated_db();
	struct feed_request q;
	char tenant[UUIDTEXT_LEN], id1[UUIDTEXT_LEN], id2[UUIDTEXT_LEN], id3[UUIDTEXT_LEN];
	char o1[3][UUIDTEXT_LEN], o2[2][UUIDTEXT_LEN], inv[2][UUIDTEXT_LEN];
	char ids[16][UUIDTEXT_LEN];
	size_t n;

	uuidtext_v7(tenant);
	uuidtext_v7(id1);
	uuidtext_v7(id2);
	uuidtext_v7(id3);
	append_events(db, tenant, "Order", id1, "OrderCreated", 3, o1, NULL);
	append_events(db, tenant, "Invoice", id3, "InvoiceSent", 2, inv, NULL);
	append_events(db, tenant, "Order", id2, "OrderShipped", 2, o2, NULL);
	await_horizon(db);

	/* pages of 2 see all 7 in commit order, none twice */
	memset(&q, 0, sizeof q);
	q.tenant = tenant;
	q.limit = 2;
	n = 0;
	feed_drain(db, &q, ids, 16, &n);
	ck_assert_uint_eq(n, 7);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(ids[i], o1[i]);
	ck_assert_str_eq(ids[3], inv[0]);
	ck_assert_str_eq(ids[4], inv[1]);
	ck_assert_str_eq(ids[5], o2[0]);
	ck_assert_str_eq(ids[6], o2[1]);

	for (size_t f = 0; f < N_ELEMS(filters); f++) {
		memset(&q, 0, sizeof q);
		q.tenant = tenant;
		q.limit = 3;
		q.aggregate_types = filters[f].aggregate_types;
		q.event_types = filters[f].event_types;
		n = 0;
		feed_drain(db, &q, ids, 16, &n);
		ck_assert_msg(n == filters[f].want, "filter %zu: %zu events, wanted %zu", f, n,
			      filters[f].want);
	}

	/* all tenants: this tenant's events are among them */
	memset(&q, 0, sizeof q);
	q.all_tenants = true;
	q.limit = 1000;
	{
		static char all[4096][UUIDTEXT_LEN];

		n = 0;
		feed_drain(db, &q, all, 4096, &n);
		ck_assert(ids_contain(all, n, o1[0]));
		ck_assert(ids_contain(all, n, inv[1]));
	}
	db_free(db);
}
END_TEST

/* A byte budget cuts a page after the events that fit it, never before
 * the first: a reader still gets every event once, in order, and a page
 * cut short says it is full (a row follows), one that ran out does not. */
START_TEST(test_byte_budget)
{
	struct db *db = migrated_db();
	struct feed_query fq;
	struct feed_request q;
	struct feed_page pg;
	char tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN], evs[3][UUIDTEXT_LEN], ids[8][UUIDTEXT_LEN];
	long first_two;
	size_t n = 0;

	uuidtext_v7(tenant);
	uuidtext_v7(id);
	append_events(db, tenant, "Order", id, "OrderCreated", 3, evs, NULL);
	await_horizon(db);

	memset(&fq, 0, sizeof fq);
	fq.tenant = tenant;
	fq.limit = 3;
	ck_assert_int_eq(feed_read(db, &fq, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 3);
	first_two = (long)(strlen(pg.ev[0].json) + strlen(pg.ev[1].json));
	feed_page_free(&pg);

	fq.max_bytes = first_two;
	ck_assert_int_eq(feed_read(db, &fq, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 2);
	ck_assert(pg.full);
	feed_page_free(&pg);

	fq.max_bytes = first_two - 1;
	memset(&fq.after, 0, sizeof fq.after);
	ck_assert_int_eq(feed_read(db, &fq, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 1);
	ck_assert(pg.full);
	feed_page_free(&pg);

	/* one byte: one event a page, the last page not full */
	fq.max_bytes = 1;
	memset(&fq.after, 0, sizeof fq.after);
	ck_assert_int_eq(feed_read(db, &fq, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 1);
	ck_assert_str_eq(pg.ev[0].event_id, evs[0]);
	fq.after = feed_event_cursor(&pg.ev[0]);
	feed_page_free(&pg);
	ck_assert_int_eq(feed_read(db, &fq, &pg), ES_OK);
	fq.after = feed_event_cursor(&pg.ev[0]);
	feed_page_free(&pg);
	ck_assert_int_eq(feed_read(db, &fq, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 1);
	ck_assert_str_eq(pg.ev[0].event_id, evs[2]);
	ck_assert(!pg.full);
	feed_page_free(&pg);

	memset(&q, 0, sizeof q);
	q.tenant = tenant;
	q.limit = 3;
	q.max_bytes = 1;
	feed_drain(db, &q, ids, 8, &n);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(ids[i], evs[i]);
	db_free(db);
}
END_TEST

/* Each tenant's feed holds its own events; the no-tenant space is a
 * tenant of its own; the all-tenant feed holds them all. */
START_TEST(test_json_tenants)
{
	struct db *db = migrated_db();
	struct feed_request q = { .limit = 100 };
	struct sbuf out = SBUF_INIT;
	struct feed_cursor start = feed_now(db), next;
	char ta[UUIDTEXT_LEN], tb[UUIDTEXT_LEN], id[UUIDTEXT_LEN], ids[8][UUIDTEXT_LEN];
	size_t count, n;
	json_object *arr;

	uuidtext_v7(ta);
	uuidtext_v7(tb);
	uuidtext_v7(id);
	append_events(db, ta, "Order", id, "OrderCreated", 2, NULL, NULL);
	append_events(db, tb, "Order", id, "OrderCreated", 1, NULL, NULL);
	append_events(db, NULL, "Order", id, "OrderCreated", 3, NULL, NULL);
	await_horizon(db);

	q.tenant = tb;
	ck_assert_int_eq(feed_read_json(db, &q, &out, &count, &next, NULL), ES_OK);
	ck_assert_uint_eq(count, 1);
	arr = page_array(&out);
	ck_assert_str_eq(member_string(json_object_array_get_idx(arr, 0), "tenant_id"), tb);
	json_object_put(arr);

	q.tenant = ta;
	q.after = start;
	n = 0;
	feed_drain(db, &q, ids, 8, &n);
	ck_assert_uint_eq(n, 2);

	q.tenant = NULL;               /* the no-tenant space, rendered as null */
	q.after = start;
	sbuf_reset(&out);
	ck_assert_int_eq(feed_read_json(db, &q, &out, &count, &next, NULL), ES_OK);
	ck_assert_uint_eq(count, 3);
	arr = page_array(&out);
	for (size_t i = 0; i < count; i++)
		ck_assert(json_object_is_type(json_object_object_get(
			json_object_array_get_idx(arr, i), "tenant_id"), json_type_null));
	json_object_put(arr);

	q.all_tenants = true;
	q.after = start;
	n = 0;
	feed_drain(db, &q, ids, 8, &n);
	ck_assert_uint_eq(n, 6);

	q.limit = 0;
	ck_assert_int_eq(feed_read_json(db, &q, &out, &count, &next, NULL), ES_EINVAL);
	sbuf_free(&out);
	db_free(db);
}
END_TEST

/* A transaction that appended and is still open holds the feed back: an
 * event committed after it is not returned past it, and once it commits the
 * reader gets both from the same cursor, nothing skipped. */
START_TEST(test_json_horizon)
{
	struct db *db = migrated_db(), *slow = test_db();
	struct feed_request q;
	struct feed_cursor cursor;
	char tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN], other[UUIDTEXT_LEN];
	char early[1][UUIDTEXT_LEN], late_open[1][UUIDTEXT_LEN], late_done[1][UUIDTEXT_LEN];
	char ids[8][UUIDTEXT_LEN];
	size_t n = 0;

	uuidtext_v7(tenant);
	uuidtext_v7(id);
	uuidtext_v7(other);
	append_events(db, tenant, "Order", id, "OrderCreated", 1, early, NULL);
	await_horizon(db);

	memset(&q, 0, sizeof q);
	q.tenant = tenant;
	q.limit = 1;
	cursor = feed_drain(db, &q, ids, 8, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], early[0]);

	exec_ok(slow, "BEGIN");
	append_events(slow, tenant, "Order", other, "OrderShipped", 1, late_open, NULL);
	append_events(db, tenant, "Order", id, "OrderShipped", 1, late_done, NULL);

	/* the later commit is behind the open transaction: not returned yet */
	n = 0;
	q.after = cursor;
	ck_assert(feed_drain(db, &q, ids, 8, &n).position == cursor.position);
	ck_assert_uint_eq(n, 0);

	exec_ok(slow, "COMMIT");
	await_horizon(db);
	n = 0;
	q.after = cursor;
	feed_drain(db, &q, ids, 8, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(ids[0], late_open[0]);
	ck_assert_str_eq(ids[1], late_done[0]);
	db_free(slow);
	db_free(db);
}
END_TEST

/* ---- the runner's pages ------------------------------------------------- */

/* Every field of struct event, the full flag, and the horizon: on an
 * empty page it still comes, and it holds back while a transaction is
 * open. */
START_TEST(test_page_fields_and_horizon)
{
	struct db *db = migrated_db(), *slow = test_db();
	struct feed_query q = { .all_tenants = true, .limit = 2 };
	struct feed_page pg;
	char tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN], ids[3][UUIDTEXT_LEN], open_id[1][UUIDTEXT_LEN];
	int64_t pos[3];
	json_object *o;

	q.after = feed_now(db);
	uuidtext_v7(tenant);
	uuidtext_v7(id);
	append_events(db, tenant, "Order", id, "OrderCreated", 3, ids, pos);
	await_horizon(db);

	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 2);
	ck_assert(pg.full);
	for (size_t i = 0; i < 2; i++) {
		const struct event *e = &pg.ev[i];

		ck_assert_str_eq(e->event_id, ids[i]);
		ck_assert_int_eq(e->position, pos[i]);
		ck_assert_str_eq(e->event_type, "OrderCreated");
		ck_assert_str_eq(e->aggregate_type, "Order");
		ck_assert_str_eq(e->aggregate_id, id);
		ck_assert_str_eq(e->tenant_id, tenant);
		ck_assert_int_eq(e->version, (int64_t)i + 1);
		ck_assert_uint_eq(e->txid_num, strtoull(e->txid, NULL, 10));
		ck_assert_uint_lt(e->txid_num, pg.horizon.txid + 1);
		o = json_tokener_parse(e->json);
		ck_assert_ptr_nonnull(o);
		ck_assert_str_eq(member_string(o, "event_id"), ids[i]);
		json_object_put(o);
	}
	ck_assert_int_eq(pg.horizon.position, INT64_MAX);
	q.after = feed_event_cursor(&pg.ev[1]);
	feed_page_free(&pg);

	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 1);
	ck_assert(!pg.full);
	ck_assert_int_eq(pg.ev[0].position, pos[2]);
	q.after = feed_event_cursor(&pg.ev[0]);
	feed_page_free(&pg);

	/* empty: no event, the horizon all the same, at or past the cursor */
	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 0);
	ck_assert(!pg.full);
	ck_assert_uint_ge(pg.horizon.txid, q.after.txid);
	feed_page_free(&pg);

	/* an open transaction that appended holds the horizon below itself */
	exec_ok(slow, "BEGIN");
	append_events(slow, NULL, "Order", id, "OrderShipped", 1, open_id, NULL);
	append_events(db, tenant, "Order", id, "OrderShipped", 1, NULL, NULL);
	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 0);
	ck_assert_uint_lt(pg.horizon.txid, (uint64_t)sql_int(slow, "SELECT pg_current_xact_id()::text::bigint"));
	feed_page_free(&pg);
	exec_ok(slow, "COMMIT");
	await_horizon(db);
	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 2);
	ck_assert_str_eq(pg.ev[0].event_id, open_id[0]);
	ck_assert_str_eq(pg.ev[0].tenant_id, "");
	feed_page_free(&pg);

	q.limit = 0;
	ck_assert_int_eq(feed_read(db, &q, &pg), ES_EINVAL);
	feed_page_free(&pg);
	db_free(slow);
	db_free(db);
}
END_TEST

/* The runner's filters are text[] literals, as a subscription keeps them;
 * NULL reads everything. */
START_TEST(test_page_filters)
{
	static const struct {
		const char *aggregate_types, *event_types;
		size_t want;
	} cases[] = {
		{ NULL, NULL, 5 },
		{ "{\"Order\"}", NULL, 3 },
		{ "{\"Order\",\"Invoice\"}", NULL, 5 },
		{ NULL, "{\"InvoiceSent\"}", 2 },
		{ "{\"Order\"}", "{\"InvoiceSent\"}", 0 },
		{ "{\"Invoice\"}", "{\"InvoiceSent\",\"OrderCreated\"}", 2 },
	};
	struct db *db = migrated_db();
	struct feed_cursor start = feed_now(db);
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	append_events(db, NULL, "Order", id, "OrderCreated", 3, NULL, NULL);
	append_events(db, NULL, "Invoice", id, "InvoiceSent", 2, NULL, NULL);
	await_horizon(db);
	for (size_t c = 0; c < N_ELEMS(cases); c++) {
		struct feed_query q = {
			.all_tenants = true, .after = start, .limit = 100,
			.aggregate_types = cases[c].aggregate_types,
			.event_types = cases[c].event_types,
		};
		struct feed_page pg;

		ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
		ck_assert_msg(pg.n == cases[c].want, "case %zu: %zu events, wanted %zu", c, pg.n,
			      cases[c].want);
		feed_page_free(&pg);
	}
	db_free(db);
}
END_TEST

/* Parked events are read back by position, in feed order, missing ones
 * left out. */
START_TEST(test_positions)
{
	struct db *db = migrated_db();
	struct feed_page pg;
	char id[UUIDTEXT_LEN], ids[4][UUIDTEXT_LEN];
	int64_t pos[4], want[4];

	uuidtext_v7(id);
	append_events(db, NULL, "Order", id, "OrderCreated", 4, ids, pos);
	want[0] = pos[3];
	want[1] = pos[1];
	want[2] = INT64_MAX - 1;       /* no such event */
	ck_assert_int_eq(feed_read_positions(db, want, 3, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 2);
	ck_assert_str_eq(pg.ev[0].event_id, ids[1]);
	ck_assert_str_eq(pg.ev[1].event_id, ids[3]);
	ck_assert_int_eq(pg.ev[1].version, 4);
	ck_assert_uint_eq(pg.horizon.txid, 0);
	feed_page_free(&pg);

	ck_assert_int_eq(feed_read_positions(db, want, 0, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 0);
	feed_page_free(&pg);
	db_free(db);
}
END_TEST

/* Where a reader starts: after everything committed now, or just before
 * a position. */
START_TEST(test_start_cursors)
{
	struct db *db = migrated_db();
	struct feed_query q = { .all_tenants = true, .limit = 10 };
	struct feed_page pg;
	struct feed_cursor c;
	char id[UUIDTEXT_LEN], ids[3][UUIDTEXT_LEN];
	int64_t pos[3];

	uuidtext_v7(id);
	append_events(db, NULL, "Order", id, "OrderCreated", 3, ids, pos);
	await_horizon(db);
	/* the horizon: nothing committed so far is after it */
	ck_assert_int_eq(feed_horizon(db, &c), ES_OK);
	ck_assert_int_eq(c.position, INT64_MAX);
	q.after = c;
	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 0);
	feed_page_free(&pg);
	/* before the second event: it and the third come next */
	ck_assert_int_eq(feed_cursor_before(db, pos[1], &c), ES_OK);
	ck_assert_int_eq(c.position, pos[1] - 1);
	q.after = c;
	ck_assert_int_eq(feed_read(db, &q, &pg), ES_OK);
	ck_assert_uint_ge(pg.n, 2);
	ck_assert_str_eq(pg.ev[0].event_id, ids[1]);
	ck_assert_str_eq(pg.ev[1].event_id, ids[2]);
	feed_page_free(&pg);
	/* a position past every event: the horizon */
	ck_assert_int_eq(feed_cursor_before(db, INT64_MAX - 1, &c), ES_OK);
	ck_assert_int_eq(c.position, INT64_MAX);
	db_free(db);
}
END_TEST

/* What a rebuild replays: the matching events below the horizon, and the
 * last of them. */
START_TEST(test_backlog)
{
	struct db *db = migrated_db(), *slow = test_db();
	char type[32], id[UUIDTEXT_LEN], other[UUIDTEXT_LEN], filter[48];
	struct feed_cursor last;
	int64_t pos[3], count;
	bool have_last;

	/* a type of this test's own, so earlier tests' events do not count */
	snprintf(type, sizeof type, "Backlog%d", (int)getpid());
	snprintf(filter, sizeof filter, "{\"%s\"}", type);
	ck_assert_int_eq(feed_backlog(db, filter, NULL, &count, &last, &have_last), ES_OK);
	ck_assert_int_eq(count, 0);
	ck_assert(!have_last);

	uuidtext_v7(id);
	uuidtext_v7(other);
	append_events(db, NULL, type, id, "Done", 3, NULL, pos);
	await_horizon(db);
	ck_assert_int_eq(feed_backlog(db, filter, NULL, &count, &last, &have_last), ES_OK);
	ck_assert_int_eq(count, 3);
	ck_assert(have_last);
	ck_assert_int_eq(last.position, pos[2]);
	ck_assert_int_eq(feed_backlog(db, filter, "{\"Other\"}", &count, &last, &have_last), ES_OK);
	ck_assert_int_eq(count, 0);
	ck_assert(!have_last);

	/* an event still uncommitted is not part of it, nor anything after it */
	exec_ok(slow, "BEGIN");
	append_events(slow, NULL, type, other, "Done", 1, NULL, NULL);
	append_events(db, NULL, type, id, "Done", 1, NULL, NULL);
	ck_assert_int_eq(feed_backlog(db, filter, NULL, &count, &last, &have_last), ES_OK);
	ck_assert_int_eq(count, 3);
	ck_assert_int_eq(last.position, pos[2]);
	exec_ok(slow, "COMMIT");
	await_horizon(db);
	ck_assert_int_eq(feed_backlog(db, filter, NULL, &count, &last, &have_last), ES_OK);
	ck_assert_int_eq(count, 5);
	ck_assert_int_gt(last.position, pos[2]);
	ck_assert_int_ge(sql_int(db, "SELECT count(*) FROM evstore.events"), count);
	db_free(slow);
	db_free(db);
}
END_TEST

/* ---- the plans ------------------------------------------------------------ */

/* Checks that explain reads one of the feed indexes in order up to a
 * Limit: which one depends on what the planner knows of the tenant's and
 * the type's shares; none sorts what it reads. */
static void assert_limit_over_any_feed_index(struct db *db, const char *explain)
{
	PGresult *r;
	json_object *doc, *plan = plan_explain(db, explain, &doc, &r);

	ck_assert_msg((plan_limit_over_index(plan, "events_tenant_feed_idx") ||
		       plan_limit_over_index(plan, "events_tenant_type_feed_idx") ||
		       plan_limit_over_index(plan, "events_feed_idx")) &&
		      !plan_scans_table(plan, "events"),
		      "%s does not read a feed index in order: %s", explain, PQgetvalue(r, 0, 0));
	json_object_put(doc);
	PQclear(r);
}

/* The plans of the feed statements, prepared as the HTTP feed and the
 * runner prepare them, on a table of 20k events loaded in bulk and never
 * analyzed (autovacuum off), then analyzed: whatever the planner knows,
 * each reads its index in order and stops at the page's end.
 *
 * - Every tenant with an aggregate_type filter (the runner's, an admin's
 *   HTTP feed): events_feed_idx. Written "$3 IS NULL OR aggregate_type =
 *   ANY ($3)", the planner took the filter for a handful of rows and
 *   sorted every event after the cursor, for every page.
 * - One tenant (GET /v1/events): events_tenant_feed_idx. Planned for the
 *   values at hand without statistics, the planner took the tenant's share
 *   for a handful of rows and sorted all of it, until the page's length
 *   was hidden from it (FEED_LIMIT).
 * - One tenant, filtered by aggregate type: each type read from
 *   events_tenant_type_feed_idx, so a rare type costs its own page
 *   (test_typed_page_reads_its_type); once the planner knows that the
 *   tenant and the type are most of the events, any feed index in order. */
START_TEST(test_plan_without_statistics)
{
	struct db *db;
	struct feed_request q = { .limit = 100, .aggregate_types = "Order" };
	struct sbuf out = SBUF_INIT;
	struct feed_cursor next;
	char name[96], *conninfo;
	const char *tenant = "11111111-1111-4111-8111-111111111111";
	static const char *const all_sql =
		"EXPLAIN (FORMAT JSON) EXECUTE feed_page_all('0', '0', '{\"Order\"}', NULL, '100', '4194304', 't')";
	static const char *const tenant_sql =
		"EXPLAIN (FORMAT JSON) EXECUTE feed_page_tenant('0', '0', NULL, NULL, '100', '4194304', 't',"
		" '11111111-1111-4111-8111-111111111111')";
	static const char *const typed_sql =
		"EXPLAIN (FORMAT JSON) EXECUTE feed_page_tenant_typed('0', '0', '{\"Order\"}', NULL, '100',"
		" '4194304', 't', '11111111-1111-4111-8111-111111111111')";
	static const char *const modes[] = { "force_custom_plan", "force_generic_plan" };
	size_t count;

	db = plan_db_create("plan", name, sizeof name, &conninfo);
	exec_ok(db, "ALTER TABLE evstore.events SET (autovacuum_enabled = false)");
	exec_ok(db, "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id,"
		    " version, event_type, occurred_at, payload)"
		    " SELECT CASE WHEN i % 2 = 0 THEN '00000000-0000-0000-0000-000000000000'::uuid"
		    "             ELSE '11111111-1111-4111-8111-111111111111'::uuid END,"
		    "  gen_random_uuid(), CASE WHEN i % 10 = 0 THEN 'Invoice' ELSE 'Order' END,"
		    "  gen_random_uuid(), 1, 'Placed', now(), '{\"n\": 1}'"
		    " FROM generate_series(1, 20000) i");
	ck_assert_int_eq(sql_int(db, "SELECT reltuples FROM pg_class"
				     " WHERE oid = 'evstore.events'::regclass"), -1);

	/* prepared by the feed itself, as a worker would */
	q.all_tenants = true;
	ck_assert_int_eq(feed_read_json(db, &q, &out, &count, &next, NULL), ES_OK);
	ck_assert_uint_eq(count, 100);
	q.all_tenants = false;
	q.tenant = tenant;
	sbuf_reset(&out);
	ck_assert_int_eq(feed_read_json(db, &q, &out, &count, &next, NULL), ES_OK);
	ck_assert_uint_eq(count, 100);
	q.aggregate_types = NULL;
	sbuf_reset(&out);
	ck_assert_int_eq(feed_read_json(db, &q, &out, &count, &next, NULL), ES_OK);
	ck_assert_uint_eq(count, 100);

	for (int analyzed = 0; analyzed < 2; analyzed++) {
		if (analyzed)
			exec_ok(db, "ANALYZE evstore.events");
		for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
			char set[64];

			snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
			exec_ok(db, set);
			assert_reads_in_order(db, all_sql, "events_feed_idx");
			/* half the events are the tenant's: once the planner
			 * knows, either index serves in order */
			if (!analyzed)
				assert_reads_in_order(db, tenant_sql, "events_tenant_feed_idx");
			else
				assert_limit_over_any_feed_index(db, tenant_sql);
			if (!analyzed)
				assert_limit_over_index(db, typed_sql, "events_tenant_type_feed_idx");
			else
				assert_limit_over_any_feed_index(db, typed_sql);
		}
	}

	sbuf_free(&out);
	db_free(db);
	plan_db_drop(name);
	free(conninfo);
}
END_TEST

/* A type that is 1% of 100k events: a filtered page of one tenant reads
 * that type's rows only (EXPLAIN ANALYZE counts what the scans returned),
 * and holds the same events, in the same order, as the unfiltered pages
 * filtered by hand. */
START_TEST(test_typed_page_reads_its_type)
{
	struct db *db;
	struct feed_query all = { .tenant = NULL, .limit = 1000 };
	struct feed_query typed = { .tenant = NULL, .limit = 50, .aggregate_types = "{Rare}" };
	struct feed_page pa, pt;
	char name[96], *conninfo;
	size_t seen = 0;
	PGresult *r;
	json_object *doc, *plan;

	db = plan_db_create("typed", name, sizeof name, &conninfo);
	exec_ok(db, "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id,"
		    " version, event_type, occurred_at, payload)"
		    " SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(),"
		    "  CASE WHEN i % 100 = 0 THEN 'Rare' ELSE 'Common' END, gen_random_uuid(), 1,"
		    "  'Placed', now(), jsonb_build_object('n', i)"
		    " FROM generate_series(1, 100000) i");
	exec_ok(db, "ANALYZE evstore.events");
	await_horizon(db);

	/* the first 1000 events hold 10 of the rare type; the typed page
	 * has the same 10 first */
	ck_assert_int_eq(feed_read(db, &all, &pa), ES_OK);
	ck_assert_int_eq(feed_read(db, &typed, &pt), ES_OK);
	ck_assert_uint_eq(pt.n, 50);
	for (size_t i = 0; i < pa.n; i++) {
		if (strcmp(pa.ev[i].aggregate_type, "Rare") != 0)
			continue;
		ck_assert_int_eq(pa.ev[i].position, pt.ev[seen].position);
		ck_assert_str_eq(pa.ev[i].json, pt.ev[seen].json);
		seen++;
	}
	ck_assert_uint_eq(seen, 10);
	for (size_t i = 0; i < pt.n; i++)
		ck_assert_str_eq(pt.ev[i].aggregate_type, "Rare");
	feed_page_free(&pa);
	feed_page_free(&pt);

	/* the scan returns the page's 50 rows, not the 5,000 around them */
	plan = plan_explain(db, "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE feed_page_tenant_typed('0', '0',"
			    " '{Rare}', NULL, '50', NULL, 'f', '00000000-0000-0000-0000-000000000000')",
			    &doc, &r);
	{
		json_object *scan = plan_find(plan, "Index Scan"), *v;

		ck_assert_msg(scan, "%s", PQgetvalue(r, 0, 0));
		ck_assert(json_object_object_get_ex(scan, "Actual Rows", &v));
		ck_assert_int_eq(json_object_get_int64(v), 50);
		ck_assert(!json_object_object_get_ex(scan, "Rows Removed by Filter", &v) ||
			  json_object_get_int64(v) == 0);
	}
	json_object_put(doc);
	PQclear(r);

	db_free(db);
	plan_db_drop(name);
	free(conninfo);
}
END_TEST

static Suite *feed_suite(void)
{
	Suite *s = suite_create("feed");
	TCase *tc;

	tc = tcase_create("json");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_json_pages_and_filters);
	tcase_add_test(tc, test_json_tenants);
	tcase_add_test(tc, test_byte_budget);
	tcase_add_test(tc, test_json_horizon);
	suite_add_tcase(s, tc);

	tc = tcase_create("pages");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_page_fields_and_horizon);
	tcase_add_test(tc, test_page_filters);
	tcase_add_test(tc, test_positions);
	tcase_add_test(tc, test_start_cursors);
	tcase_add_test(tc, test_backlog);
	suite_add_tcase(s, tc);

	tc = tcase_create("plans");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_plan_without_statistics);
	tcase_add_test(tc, test_typed_page_reads_its_type);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_feed", feed_suite);
}
