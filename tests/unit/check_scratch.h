/* check_scratch.h - what the suites that need PostgreSQL share.
 * EVSTORE_TEST_DATABASE_URL names a server and a role allowed to create
 * databases; a suite works in a scratch database of its own, migrated by
 * the test that needs it, and drops it at the end. Without the variable
 * the suite skips (exit status 77). */
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
#include "check_run.h"

/* key=value connection string of the scratch database */
static char *test_conninfo;

/* Appends key='value' with quotes and backslashes escaped. */
static inline void conninfo_add(struct sbuf *b, const char *key, const char *value)
{
	if (b->len)
		sbuf_putc(b, ' ');
	sbuf_printf(b, "%s='", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			sbuf_putc(b, '\\');
		sbuf_putc(b, *p);
	}
	sbuf_putc(b, '\'');
}

/* The connection string of url with its database replaced by dbname;
 * a new string, or NULL if url does not parse. */
static inline char *conninfo_with_db(const char *url, const char *dbname)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	struct sbuf b = SBUF_INIT;
	char *s;

	if (!opts)
		return NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && *o->val && strcmp(o->keyword, "dbname") != 0)
			conninfo_add(&b, o->keyword, o->val);
	conninfo_add(&b, "dbname", dbname);
	PQconninfoFree(opts);
	s = strdup(sbuf_cstr(&b));
	sbuf_free(&b);
	return s;
}

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
	struct db *db = test_db();
	char err[512];
	int applied;

	ck_assert_msg(migrate_apply(db, NULL, NULL, &applied, err, sizeof err) == ES_OK, "%s", err);
	return db;
}

static inline void exec_ok(struct db *db, const char *sql)
{
	ck_assert_msg(db_exec_sql(db, sql, NULL) == ES_OK, "%s: %s", sql, db_last_error(db));
}

/* The first column of the first row of sql, as an integer. */
static inline int64_t sql_int(struct db *db, const char *sql)
{
	PGresult *r;
	int64_t v;

	ck_assert_msg(db_exec_sql(db, sql, &r) == ES_OK, "%s: %s", sql, db_last_error(db));
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

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

/* Runs sql on a fresh connection to url (no evstore code in the way). */
static inline bool admin_exec(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = NULL;
	bool ok = PQstatus(c) == CONNECTION_OK;

	if (ok) {
		r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	}
	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok;
}

/* A suite's main: creates the scratch database, runs the suite make()
 * returns, drops the database. name is the program's, for messages. */
static inline int check_scratch_run(const char *name, Suite *(*make)(void))
{
	const char *url = getenv("EVSTORE_TEST_DATABASE_URL");
	char dbname[64], sql[128];
	int rc;

	if (!url || !*url) {
		printf("%s: EVSTORE_TEST_DATABASE_URL is not set: skipped\n", name);
		return 77;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(dbname, sizeof dbname, "evstore_check_%ld_%04x", (long)getpid(), rand() & 0xffff);
	test_conninfo = conninfo_with_db(url, dbname);
	if (!test_conninfo) {
		fprintf(stderr, "%s: EVSTORE_TEST_DATABASE_URL does not parse\n", name);
		return 1;
	}
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
	if (!admin_exec(url, sql)) {
		free(test_conninfo);
		return 1;
	}
	rc = check_run(make());
	snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", dbname);
	if (!admin_exec(url, sql))
		rc = EXIT_FAILURE;
	free(test_conninfo);
	return rc;
}

#endif
