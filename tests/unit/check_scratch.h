/* check_scratch.h - what the suites of the store and the subscription
 * tables share, on top of test_helpers.h's scratch database: connections
 * to it, appending events, waiting for the feed's horizon. */
#ifndef EVSTORE_CHECK_SCRATCH_H
#define EVSTORE_CHECK_SCRATCH_H

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "base/sbuf.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "store/store.h"
#include "test_helpers.h"

/* key=value connection string of the scratch database while the suite
 * runs (check_scratch_run) */
static char *test_conninfo;

/* A connection to the scratch database (or to conninfo), up. */
static inline struct db *test_db_at(const char *conninfo)
{
	struct db *db = db_new(conninfo, 5);

	ck_assert_ptr_nonnull(db);
	db_set_application_name(db, "evstore_check");
	ck_assert_int_eq(db_ensure(db), ES_OK);
	return db;
}

static inline struct db *test_db(void)
{
	return test_db_at(test_conninfo);
}

/* A connection to the scratch database, every migration applied. */
static inline struct db *migrated_db(void)
{
	return test_db_open(test_conninfo, "evstore_check");
}

#define exec_ok test_sql_exec
#define sql_int test_sql_int

/* Waits (up to 30 s) until every transaction that began before now has
 * ended, so that the feed's horizon is past everything committed so far:
 * the server is shared with other suites, whose transactions hold the
 * horizon back for a moment (it is cluster-wide). */
static inline void await_horizon(struct db *db)
{
	int64_t x = sql_int(db, "SELECT pg_current_xact_id()::text::bigint");

	for (int i = 0; i < 3000; i++) {
		if (sql_int(db, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint") > x)
			return;
		usleep(10000);
	}
	ck_abort_msg("the feed's horizon stayed behind for 30 s");
}

/* Appends n events of event_type ({"n": 0}, {"n": 1}, ...) to a stream of
 * tenant (NULL: none) and checks it worked; ids (n entries) gets their
 * event ids when not NULL, positions their positions. */
static inline void append_events(struct db *db, const char *tenant, const char *aggregate_type,
				 const char *aggregate_id, const char *event_type, size_t n,
				 char (*ids)[UUIDTEXT_LEN], int64_t *positions)
{
	struct store_new_event *ne = calloc(n, sizeof *ne);
	struct store_append_req req = {
		.tenant = tenant, .aggregate_type = aggregate_type, .aggregate_id = aggregate_id,
		.expect = STORE_EXPECT_ANY, .actor_id = "tester", .events = ne, .n_events = n,
	};
	struct store_append_res res;

	ck_assert_ptr_nonnull(ne);
	for (size_t i = 0; i < n; i++) {
		uuidtext_v7(ne[i].event_id);
		ne[i].event_type = event_type;
		ne[i].payload = json_object_new_object();
		json_object_object_add(ne[i].payload, "n", json_object_new_int64((int64_t)i));
		ne[i].occurred_at_usec = time_now_usec();
	}
	ck_assert_msg(store_append(db, &req, &res) == ES_OK, "append: %s", db_last_error(db));
	ck_assert_uint_eq(res.n_events, n);
	for (size_t i = 0; i < n; i++) {
		if (ids)
			snprintf(ids[i], UUIDTEXT_LEN, "%s", res.events[i].event_id);
		if (positions)
			positions[i] = res.events[i].position;
		json_object_put(ne[i].payload);
	}
	store_append_res_free(&res);
	free(ne);
}

/* Parses "obj,obj" (a page of rendered events) as a JSON array; a new
 * reference. */
static inline json_object *page_array(struct sbuf *b)
{
	struct sbuf text = SBUF_INIT;
	json_object *a;

	sbuf_putc(&text, '[');
	sbuf_append(&text, b->data ? b->data : "", b->len);
	sbuf_putc(&text, ']');
	a = json_tokener_parse(sbuf_cstr(&text));
	sbuf_free(&text);
	ck_assert_msg(a && json_object_is_type(a, json_type_array), "not JSON: %s", sbuf_cstr(b));
	return a;
}

static inline const char *member_string(json_object *o, const char *key)
{
	json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no member %s", key);
	return json_object_get_string(v);
}

/* A suite's main: runs the suite make() returns in a scratch database of
 * its own (check_run_db). name is the program's, for messages. */
static inline int check_scratch_run(const char *name, Suite *(*make)(void))
{
	return check_run_db(make(), name, &test_conninfo);
}

#endif
