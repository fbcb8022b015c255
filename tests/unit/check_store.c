/* check_store.c - the schema, migrations, db.c and the store queries
 * against a real PostgreSQL (check_scratch.h: a scratch database, skipped
 * without EVSTORE_TEST_DATABASE_URL), and their plans (check_plan.h). The
 * feed is check_feed's. */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "store/feed.h"
#include "store/feed_cursor.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "base/sbuf.h"
#include "store/store.h"
#include "store/event_render.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "check_plan.h"

#define TEST_OCCURRED_AT "2026-11-27T10:00:00.123456Z"
#define MAX_EVENTS 8

/* ---- helpers ------------------------------------------------------------ */

static int64_t tenant_event_count(struct db *db, const char *tenant)
{
	const char *values[1] = { tenant };
	PGresult *r;
	int64_t v;

	ck_assert_int_eq(db_exec_params(db, "test", "SELECT count(*) FROM evstore.events"
					" WHERE tenant_id = $1::uuid", 1, values, &r), ES_OK);
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

struct tev {
	char id[UUIDTEXT_LEN];
	const char *type;
	const char *payload;   /* JSON object text */
};

/* n new events with fresh ids, payloads {"n": i}. */
static void new_events(struct tev *evs, size_t n, const char *type)
{
	static const char *const payloads[MAX_EVENTS] = {
		"{\"n\":0}", "{\"n\":1}", "{\"n\":2}", "{\"n\":3}",
		"{\"n\":4}", "{\"n\":5}", "{\"n\":6}", "{\"n\":7}"
	};

	ck_assert_uint_le(n, MAX_EVENTS);
	for (size_t i = 0; i < n; i++) {
		uuidtext_v7(evs[i].id);
		evs[i].type = type;
		evs[i].payload = payloads[i];
	}
}

static enum es_status append_meta(struct db *db, const char *tenant, const char *agg_type,
				  const char *agg_id, enum store_expect expect, int64_t expected,
				  const struct tev *evs, size_t n, const char *metadata,
				  struct store_append_res *res)
{
	struct store_new_event ne[MAX_EVENTS];
	struct store_append_req req;
	int64_t at;
	enum es_status rc;

	ck_assert(timefmt_parse(TEST_OCCURRED_AT, &at));
	ck_assert_uint_le(n, MAX_EVENTS);
	for (size_t i = 0; i < n; i++) {
		memcpy(ne[i].event_id, evs[i].id, UUIDTEXT_LEN);
		ne[i].event_type = evs[i].type;
		ne[i].payload = json_tokener_parse(evs[i].payload);
		ck_assert_ptr_nonnull(ne[i].payload);
		ne[i].metadata = metadata ? json_tokener_parse(metadata) : NULL;
		ne[i].occurred_at_usec = at;
	}
	req.tenant = tenant;
	req.aggregate_type = agg_type;
	req.aggregate_id = agg_id;
	req.expect = expect;
	req.expected_version = expected;
	req.actor_id = "tester";
	req.events = ne;
	req.n_events = n;
	rc = store_append(db, &req, res);
	for (size_t i = 0; i < n; i++) {
		json_object_put(ne[i].payload);
		json_object_put(ne[i].metadata);
	}
	return rc;
}

static enum es_status append(struct db *db, const char *tenant, const char *agg_type,
			     const char *agg_id, enum store_expect expect, int64_t expected,
			     const struct tev *evs, size_t n, struct store_append_res *res)
{
	return append_meta(db, tenant, agg_type, agg_id, expect, expected, evs, n, NULL, res);
}

/* Appends n new events to a stream and checks it worked. */
static void append_new(struct db *db, const char *tenant, const char *agg_type,
		       const char *agg_id, const char *event_type, size_t n, struct tev *evs)
{
	struct store_append_res res;

	new_events(evs, n, event_type);
	ck_assert_int_eq(append(db, tenant, agg_type, agg_id, STORE_EXPECT_ANY, 0, evs, n, &res), ES_OK);
	ck_assert(!res.replayed);
	store_append_res_free(&res);
}

static int64_t member_int(json_object *o, const char *key)
{
	json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int),
		      "no integer member %s", key);
	return json_object_get_int64(v);
}

static int64_t stream_version_or_zero(struct db *db, const char *tenant, const char *type,
				      const char *id)
{
	int64_t v;
	enum es_status rc = store_stream_version(db, tenant, type, id, &v);

	ck_assert(rc == ES_OK || rc == ES_ENOTFOUND);
	return rc == ES_OK ? v : 0;
}

/* ---- migrations ----------------------------------------------------------- */

struct progress_log {
	int calls;
	char names[8][64];
};

static void record_progress(const char *name, void *arg)
{
	struct progress_log *p = arg;

	if (p->calls < 8)
		snprintf(p->names[p->calls], sizeof p->names[0], "%s", name);
	p->calls++;
}

/* Runs first, on the fresh scratch database. */
START_TEST(test_migrate_twice)
{
	struct db *db = test_db();
	struct progress_log log = { 0 };
	char err[512];
	int applied = -1, version = -1;

	ck_assert_int_eq(migrate_current_version(db, &version), ES_OK);
	ck_assert_int_eq(version, 0);

	ck_assert_msg(migrate_apply(db, record_progress, &log, &applied, err, sizeof err) == ES_OK,
		      "%s", err);
	ck_assert_int_eq(applied, (int)migrations_count);
	ck_assert_int_eq(log.calls, (int)migrations_count);
	ck_assert_str_eq(log.names[0], "001_init.sql");
	ck_assert_int_eq(migrate_current_version(db, &version), ES_OK);
	ck_assert_int_eq(version, migrate_expected_version());
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM evstore.schema_migrations"),
			 (int64_t)migrations_count);

	/* again: nothing to do, nothing reported */
	log.calls = 0;
	ck_assert_msg(migrate_apply(db, record_progress, &log, &applied, err, sizeof err) == ES_OK,
		      "%s", err);
	ck_assert_int_eq(applied, 0);
	ck_assert_int_eq(log.calls, 0);
	ck_assert_int_eq(migrate_current_version(db, &version), ES_OK);
	ck_assert_int_eq(version, migrate_expected_version());
	db_free(db);
}
END_TEST

/* Two runs at once on an empty database: one applies, the other waits
 * for it and finds nothing to do; neither fails. */
START_TEST(test_migrate_concurrent_runs)
{
	struct db *admin = test_db();
	char name[96], sql[160], *conninfo;
	PGresult *r;

	ck_assert_int_eq(db_exec_sql(admin, "SELECT current_database()", &r), ES_OK);
	snprintf(name, sizeof name, "%s_race", PQgetvalue(r, 0, 0));
	PQclear(r);
	conninfo = test_conninfo_for(test_conninfo, name);
	ck_assert_ptr_nonnull(conninfo);
	for (int round = 0; round < 3; round++) {
		pid_t pids[2];
		int total = 0;

		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
		exec_ok(admin, sql);
		snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
		exec_ok(admin, sql);
		for (int i = 0; i < 2; i++) {
			pids[i] = fork();
			ck_assert_int_ge(pids[i], 0);
			if (pids[i] == 0) {
				struct db *db = db_new(conninfo, 5);
				char err[512];
				int applied = -1;

				if (migrate_apply(db, NULL, NULL, &applied, err, sizeof err) != ES_OK) {
					fprintf(stderr, "migrate: %s\n", err);
					_exit(100);
				}
				_exit(applied);
			}
		}
		for (int i = 0; i < 2; i++) {
			int status;

			ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
			ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 100,
				      "round %d: a concurrent migrate failed", round);
			total += WEXITSTATUS(status);
		}
		ck_assert_int_eq(total, (int)migrations_count);
	}
	snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", name);
	exec_ok(admin, sql);
	free(conninfo);
	db_free(admin);
}
END_TEST

START_TEST(test_migrate_refuses_changed_file)
{
	struct db *db = migrated_db();
	const char *values[1] = { migrations[0].sql };
	char err[512];
	int applied = -1;
	enum es_status rc;

	exec_ok(db, "UPDATE evstore.schema_migrations SET checksum = md5('edited') WHERE version = 1");
	rc = migrate_apply(db, NULL, NULL, &applied, err, sizeof err);
	/* put it back before asserting, so later tests find a sound schema */
	ck_assert_int_eq(db_exec_params(db, "test", "UPDATE evstore.schema_migrations"
					" SET checksum = md5($1::text) WHERE version = 1",
					1, values, NULL), ES_OK);
	ck_assert_int_eq(rc, ES_EINVAL);
	ck_assert_int_eq(applied, 0);
	ck_assert_msg(strstr(err, "001_init.sql") != NULL, "error does not name the file: %s", err);
	ck_assert_msg(strstr(err, "changed") != NULL, "error does not say why: %s", err);

	ck_assert_int_eq(migrate_apply(db, NULL, NULL, &applied, err, sizeof err), ES_OK);
	ck_assert_int_eq(applied, 0);
	db_free(db);
}
END_TEST

START_TEST(test_migrate_refuses_newer_database)
{
	struct db *db = migrated_db();
	char err[512], sql[160];
	int applied = -1;
	enum es_status rc;

	snprintf(sql, sizeof sql, "INSERT INTO evstore.schema_migrations (version, name, checksum)"
		 " VALUES (%d, 'future.sql', 'x')", migrate_expected_version() + 1);
	exec_ok(db, sql);
	rc = migrate_apply(db, NULL, NULL, &applied, err, sizeof err);
	exec_ok(db, "DELETE FROM evstore.schema_migrations WHERE name = 'future.sql'");
	ck_assert_int_eq(rc, ES_EINVAL);
	ck_assert_msg(strstr(err, "newer") != NULL, "%s", err);
	db_free(db);
}
END_TEST

/* ---- append and stream reads --------------------------------------------- */

static const char *const event_keys[] = {
	"event_id", "event_type", "aggregate_type", "aggregate_id", "version", "position",
	"occurred_at", "recorded_at", "tenant_id", "actor_id", "payload", "metadata"
};

/* Reads stream id of type Order forward or backward from its end with a
 * byte budget, and checks how many events came and where the next page
 * starts. */
static void read_budget(struct db *db, const char *id, long budget, bool backward, size_t count,
			int64_t next)
{
	struct sbuf out = SBUF_INIT;
	struct store_stream_page page;

	ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, 0, 10, budget,
					   backward ? STORE_READ_BACKWARD : 0, &out, &page), ES_OK);
	ck_assert_msg(page.count == count, "budget %ld: %zu events, want %zu", budget, page.count,
		      count);
	ck_assert_int_eq(page.next_from_version, next);
	sbuf_free(&out);
}

START_TEST(test_append_and_read_pages)
{
	struct db *db = migrated_db();
	struct tev evs[5];
	struct store_append_res res;
	struct store_stream_page page;
	struct sbuf out = SBUF_INIT;
	char id[UUIDTEXT_LEN];
	json_object *a, *e;
	size_t k = 0;

	uuidtext_v7(id);
	new_events(evs, 5, "OrderCreated");
	ck_assert_int_eq(append(db, NULL, "Order", id, STORE_EXPECT_EXACT, 0, evs, 3, &res), ES_OK);
	ck_assert_int_eq(res.version, 3);
	ck_assert(!res.replayed);
	ck_assert_uint_eq(res.n_events, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(res.events[i].event_id, evs[i].id);
		ck_assert_int_eq(res.events[i].version, (int64_t)i + 1);
		if (i > 0)
			ck_assert_int_gt(res.events[i].position, res.events[i - 1].position);
	}
	store_append_res_free(&res);
	ck_assert_int_eq(append(db, NULL, "Order", id, STORE_EXPECT_EXACT, 3, evs + 3, 2, &res), ES_OK);
	ck_assert_int_eq(res.version, 5);
	store_append_res_free(&res);

	/* the rendered object: keys in order, nil tenant as null */
	ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, 0, 1, 0, 0, &out, &page), ES_OK);
	a = page_array(&out);
	e = json_object_array_get_idx(a, 0);
	json_object_object_foreach(e, key, val) {
		(void)val;
		ck_assert_uint_lt(k, sizeof event_keys / sizeof event_keys[0]);
		ck_assert_str_eq(key, event_keys[k]);
		k++;
	}
	ck_assert_uint_eq(k, sizeof event_keys / sizeof event_keys[0]);
	ck_assert_str_eq(member_string(e, "event_id"), evs[0].id);
	ck_assert_str_eq(member_string(e, "event_type"), "OrderCreated");
	ck_assert_str_eq(member_string(e, "aggregate_id"), id);
	ck_assert_str_eq(member_string(e, "occurred_at"), TEST_OCCURRED_AT);
	ck_assert_uint_eq(strlen(member_string(e, "recorded_at")), strlen(TEST_OCCURRED_AT));
	ck_assert(member_string(e, "recorded_at")[26] == 'Z');
	ck_assert(json_object_is_type(json_object_object_get(e, "tenant_id"), json_type_null));
	ck_assert_str_eq(member_string(e, "actor_id"), "tester");
	ck_assert_int_eq(member_int(json_object_object_get(e, "payload"), "n"), 0);
	ck_assert(json_object_is_type(json_object_object_get(e, "metadata"), json_type_object));
	json_object_put(a);

	/* forward in pages of 2: 1-2, 3-4, 5 */
	{
		static const struct { int64_t from; int64_t first; size_t count; int64_t next; } fwd[] = {
			{ 0, 1, 2, 3 }, { 3, 3, 2, 5 }, { 5, 5, 1, 0 }, { 6, 0, 0, 0 }
		};
		for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) {
			sbuf_reset(&out);
			ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, fwd[i].from, 2, 0, 0,
							   &out, &page), ES_OK);
			ck_assert_int_eq(page.current_version, 5);
			ck_assert_uint_eq(page.count, fwd[i].count);
			ck_assert_int_eq(page.next_from_version, fwd[i].next);
			a = page_array(&out);
			ck_assert_uint_eq(json_object_array_length(a), fwd[i].count);
			for (size_t j = 0; j < fwd[i].count; j++)
				ck_assert_int_eq(member_int(json_object_array_get_idx(a, j), "version"),
						 fwd[i].first + (int64_t)j);
			json_object_put(a);
		}
	}
	/* backward in pages of 2 from the end: 5-4, 3-2, 1 */
	{
		static const struct { int64_t from; int64_t first; size_t count; int64_t next; } bwd[] = {
			{ 0, 5, 2, 3 }, { 3, 3, 2, 1 }, { 1, 1, 1, 0 }, { 9, 5, 2, 3 }
		};
		for (size_t i = 0; i < sizeof bwd / sizeof bwd[0]; i++) {
			sbuf_reset(&out);
			ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, bwd[i].from, 2, 0,
							   STORE_READ_BACKWARD, &out, &page), ES_OK);
			ck_assert_uint_eq(page.count, bwd[i].count);
			ck_assert_int_eq(page.next_from_version, bwd[i].next);
			a = page_array(&out);
			for (size_t j = 0; j < bwd[i].count; j++)
				ck_assert_int_eq(member_int(json_object_array_get_idx(a, j), "version"),
						 bwd[i].first - (int64_t)j);
			json_object_put(a);
		}
	}

	/* a byte budget: the events that fit, at least one, the cursor after them */
	{
		long len[6], fwd_sum = 0, bwd_sum = 0;

		for (int64_t v = 1; v <= 5; v++) {
			sbuf_reset(&out);
			ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, v, 1, 0, 0, &out,
							   &page), ES_OK);
			len[v] = (long)out.len;
		}
		for (int fit = 1; fit <= 3; fit++) {
			fwd_sum += len[fit];
			bwd_sum += len[6 - fit];
			read_budget(db, id, fwd_sum, false, (size_t)fit, fit + 1);
			read_budget(db, id, fwd_sum - 1, false, fit > 1 ? (size_t)fit - 1 : 1,
				    fit > 1 ? fit : 2);
			read_budget(db, id, bwd_sum, true, (size_t)fit, 5 - fit);
		}
	}

	/* an unknown stream, and a known id under another type */
	sbuf_reset(&out);
	uuidtext_v7(id);
	ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, 0, 10, 0, 0, &out, &page),
			 ES_ENOTFOUND);
	ck_assert_int_eq(store_read_stream(db, NULL, "Invoice", id, 0, 10, 0, 0, &out, &page),
			 ES_ENOTFOUND);
	ck_assert_uint_eq(out.len, 0);
	sbuf_free(&out);
	db_free(db);
}
END_TEST

static const struct expect_case {
	int existing;                 /* events in the stream before; 0: no stream */
	enum store_expect expect;
	int64_t expected;
	enum es_status want;
	int64_t want_version;         /* the new version, or current_version on conflict */
} expect_cases[] = {
	{ 0, STORE_EXPECT_ANY, 0, ES_OK, 2 },
	{ 3, STORE_EXPECT_ANY, 0, ES_OK, 5 },
	{ 0, STORE_EXPECT_EXACT, 0, ES_OK, 2 },
	{ 3, STORE_EXPECT_EXACT, 0, ES_ECONFLICT, 3 },
	{ 3, STORE_EXPECT_EXACT, 3, ES_OK, 5 },
	{ 3, STORE_EXPECT_EXACT, 2, ES_ECONFLICT, 3 },
	{ 3, STORE_EXPECT_EXACT, 4, ES_ECONFLICT, 3 },
	{ 0, STORE_EXPECT_EXACT, 1, ES_ECONFLICT, 0 },
	{ 3, STORE_EXPECT_EXISTS, 0, ES_OK, 5 },
	{ 0, STORE_EXPECT_EXISTS, 0, ES_ECONFLICT, 0 },
};

/* A stream read renders each event in the worker (event_render.c) as
 * evstore.event_json() does for export and SQL handlers: the same members
 * in the same order with the same values, whatever the session's
 * DateStyle and TimeZone, for text that needs escaping, the ends of the
 * timestamp range, a tenant and none. And the size the page budget counts
 * in SQL is the rendering's length, short only by the digits past the
 * first of the two numbers and by escapes. */
START_TEST(test_read_renders_as_event_json)
{
	struct db *db = migrated_db();
	struct sbuf out = SBUF_INIT;
	struct store_stream_page page;
	char id[UUIDTEXT_LEN], tenant[UUIDTEXT_LEN], sql[2048];
	const char *values[2];
	json_object *got, *want;
	PGresult *r;

	uuidtext_v7(id);
	uuidtext_v7(tenant);
	exec_ok(db, "SET DateStyle = 'SQL, DMY'");
	exec_ok(db, "SET TimeZone = 'America/St_Johns'");
	snprintf(sql, sizeof sql,
		 "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)"
		 " VALUES ('%s', 'Render', '%s', 4), ('%s', 'Render', '%s', 1)",
		 tenant, id, UUIDTEXT_NIL, id);
	exec_ok(db, sql);
	snprintf(sql, sizeof sql,
		 "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id,"
		 " version, event_type, actor_id, occurred_at, recorded_at, payload, metadata) VALUES"
		 " ('%s', gen_random_uuid(), 'Render', '%s', 1, 'Quote\"d\\Type',"
		 "  E'actor \"q\"\\n\\ttab \\u00fcml\\u00e4ut \\u2603', '0001-01-01 00:00:00Z',"
		 "  '9999-12-31 23:59:59.999999Z',"
		 "  '{\"s\": \"\\u00fc \\\"q\\\" \\n\", \"n\": [1, 2.50, -0.0, 1e3, null, true], \"o\": {}}',"
		 "  '{\"correlation_id\": \"c\"}'),"
		 " ('%s', gen_random_uuid(), 'Render', '%s', 2, 'Plain', NULL,"
		 "  '1969-12-31 23:59:59.5Z', '2000-01-01 00:00:00Z', '{}', '{}'),"
		 " ('%s', gen_random_uuid(), 'Render', '%s', 3, 'Plain', 'a',"
		 "  '2026-11-27 10:00:00+05:30', now(), '{\"big\": 12345678901234567890}', '{}'),"
		 " ('%s', gen_random_uuid(), 'Render', '%s', 4, 'Plain', 'b',"
		 "  '2000-01-01 00:00:00.000001Z', now(), '{\"k\": [[], {\"a\": {}}]}', '{}'),"
		 " ('%s', gen_random_uuid(), 'Render', '%s', 1, 'NoTenant', NULL,"
		 "  '2026-01-01 00:00:00Z', now(), '{}', '{}')",
		 tenant, id, tenant, id, tenant, id, tenant, id, UUIDTEXT_NIL, id);
	exec_ok(db, sql);

	for (int t = 0; t < 2; t++) {
		const char *tn = t == 0 ? tenant : NULL;
		int n;

		values[0] = tn ? tn : UUIDTEXT_NIL;
		values[1] = id;
		ck_assert_int_eq(db_exec_params(db, "test",
			"SELECT evstore.event_json(e)::text, " EVENT_RENDER_SIZE_SQL ","
			" length(r_version::text) + length(r_position::text)"
			" FROM evstore.events e, LATERAL (SELECT" EVENT_RENDER_COLUMNS("e") ") q"
			" WHERE e.tenant_id = $1::uuid AND e.aggregate_id = $2::uuid ORDER BY e.version",
			2, values, &r), ES_OK);
		n = PQntuples(r);
		ck_assert_int_eq(n, t == 0 ? 4 : 1);
		for (int i = 0; i < n; i++) {
			const char *gs, *ws;
			long estimate = strtol(PQgetvalue(r, i, 1), NULL, 10);
			long digits = strtol(PQgetvalue(r, i, 2), NULL, 10);
			long len;

			/* one event a page: the page is its rendering */
			sbuf_reset(&out);
			ck_assert_int_eq(store_read_stream(db, tn, "Render", id, i + 1, 1, 0, 0, &out,
							   &page), ES_OK);
			ck_assert_uint_eq(page.count, 1);
			len = (long)out.len;
			got = json_tokener_parse(sbuf_cstr(&out));
			want = json_tokener_parse(PQgetvalue(r, i, 0));
			ck_assert_ptr_nonnull(got);
			ck_assert_ptr_nonnull(want);
			gs = json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN);
			ws = json_object_to_json_string_ext(want, JSON_C_TO_STRING_PLAIN);
			ck_assert_msg(strcmp(gs, ws) == 0, "event %d:\n rendered %.1500s\n sql      %.1500s",
				      i, gs, ws);
			json_object_put(got);
			json_object_put(want);
			ck_assert_msg(estimate <= len, "event %d: estimate %ld > %ld", i, estimate, len);
			if (t == 1 || i > 0) /* nothing to escape: short by the digits only */
				ck_assert_msg(len - estimate == digits - 2, "event %d: estimate %ld, length %ld",
					      i, estimate, len);
		}
		PQclear(r);
	}
	sbuf_free(&out);
	db_free(db);
}
END_TEST

START_TEST(test_append_expectations)
{
	const struct expect_case *c = &expect_cases[_i];
	struct db *db = migrated_db();
	struct tev before[3], evs[2];
	struct store_append_res res;
	char id[UUIDTEXT_LEN];
	enum es_status rc;

	uuidtext_v7(id);
	if (c->existing)
		append_new(db, NULL, "Order", id, "OrderCreated", (size_t)c->existing, before);
	new_events(evs, 2, "OrderShipped");
	rc = append(db, NULL, "Order", id, c->expect, c->expected, evs, 2, &res);
	ck_assert_msg(rc == c->want, "case %d: %s, wanted %s", _i, es_status_name(rc),
		      es_status_name(c->want));
	if (rc == ES_OK) {
		ck_assert_int_eq(res.version, c->want_version);
		ck_assert_int_eq(res.events[1].version, c->want_version);
	} else {
		ck_assert_int_eq(res.current_version, c->want_version);
		ck_assert_ptr_null(res.events);
	}
	/* a conflict writes nothing */
	ck_assert_int_eq(stream_version_or_zero(db, NULL, "Order", id),
			 rc == ES_OK ? c->want_version : c->existing);
	store_append_res_free(&res);
	db_free(db);
}
END_TEST

START_TEST(test_append_replay)
{
	struct db *db = migrated_db();
	struct tev evs[3];
	struct store_append_res first, again;
	char tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN];

	uuidtext_v7(tenant);
	uuidtext_v7(id);
	new_events(evs, 3, "OrderCreated");
	ck_assert_int_eq(append(db, tenant, "Order", id, STORE_EXPECT_EXACT, 0, evs, 2, &first), ES_OK);
	ck_assert_int_eq(append(db, tenant, "Order", id, STORE_EXPECT_ANY, 0, evs + 2, 1, &again), ES_OK);
	store_append_res_free(&again);

	/* the same request again, even with an expectation that no longer
	 * holds and other metadata: the stored result, nothing written */
	ck_assert_int_eq(append_meta(db, tenant, "Order", id, STORE_EXPECT_EXACT, 0, evs, 2,
				     "{\"request_id\":\"retry\"}", &again), ES_OK);
	ck_assert(again.replayed);
	ck_assert_int_eq(again.version, 2);
	ck_assert_uint_eq(again.n_events, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_str_eq(again.events[i].event_id, first.events[i].event_id);
		ck_assert_int_eq(again.events[i].version, first.events[i].version);
		ck_assert_int_eq(again.events[i].position, first.events[i].position);
	}
	store_append_res_free(&again);
	ck_assert_int_eq(tenant_event_count(db, tenant), 3);
	ck_assert_int_eq(stream_version_or_zero(db, tenant, "Order", id), 3);

	ck_assert_int_eq(append(db, tenant, "Order", id, STORE_EXPECT_EXISTS, 0, evs + 2, 1, &again),
			 ES_OK);
	ck_assert(again.replayed);
	ck_assert_int_eq(again.version, 3);
	store_append_res_free(&again);
	store_append_res_free(&first);
	ck_assert_int_eq(tenant_event_count(db, tenant), 3);
	db_free(db);
}
END_TEST

enum dup_kind { DUP_PAYLOAD, DUP_TYPE, DUP_STREAM, DUP_AGGREGATE_TYPE, DUP_MIXED, DUP_REPEATED };

static const enum dup_kind dup_cases[] = {
	DUP_PAYLOAD, DUP_TYPE, DUP_STREAM, DUP_AGGREGATE_TYPE, DUP_MIXED, DUP_REPEATED
};

START_TEST(test_append_duplicate)
{
	struct db *db = migrated_db();
	struct tev stored[2], req[2];
	struct store_append_res res;
	char tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN], other[UUIDTEXT_LEN];
	const char *agg_type = "Order", *agg_id = id;
	bool same_stream = true;
	size_t n = 1;

	uuidtext_v7(tenant);
	uuidtext_v7(id);
	uuidtext_v7(other);
	append_new(db, tenant, "Order", id, "OrderCreated", 2, stored);
	req[0] = stored[0];
	switch (dup_cases[_i]) {
	case DUP_PAYLOAD:
		req[0].payload = "{\"n\":99}";
		break;
	case DUP_TYPE:
		req[0].type = "OrderShipped";
		break;
	case DUP_STREAM:
		agg_id = other;
		same_stream = false;
		break;
	case DUP_AGGREGATE_TYPE:
		agg_type = "Invoice";
		same_stream = false;
		break;
	case DUP_MIXED:
		new_events(&req[1], 1, "OrderShipped");
		n = 2;
		break;
	case DUP_REPEATED:
		new_events(req, 1, "OrderShipped");
		req[1] = req[0];
		n = 2;
		break;
	}
	ck_assert_int_eq(append(db, tenant, agg_type, agg_id, STORE_EXPECT_ANY, 0, req, n, &res),
			 ES_EDUPLICATE);
	ck_assert_ptr_null(res.events);
	ck_assert_int_eq(tenant_event_count(db, tenant), 2);
	ck_assert_int_eq(stream_version_or_zero(db, tenant, "Order", id), 2);
	/* and no stream was created elsewhere */
	ck_assert_int_eq(stream_version_or_zero(db, tenant, agg_type, agg_id), same_stream ? 2 : 0);
	db_free(db);
}
END_TEST

/* Two identical requests race: the second waits on the first's stream row
 * and, once the first commits, answers replay instead of a conflict or a
 * unique violation. One case per kind of compare-and-set. */
static const struct race_case {
	int existing;
	enum store_expect expect;
	int64_t expected;
} race_cases[] = {
	{ 0, STORE_EXPECT_ANY, 0 },
	{ 1, STORE_EXPECT_ANY, 0 },
	{ 0, STORE_EXPECT_EXACT, 0 },
	{ 1, STORE_EXPECT_EXACT, 1 },
	{ 1, STORE_EXPECT_EXISTS, 0 },
};

START_TEST(test_append_race_identical)
{
	const struct race_case *c = &race_cases[_i];
	struct db *db = migrated_db(), *holder = test_db();
	struct tev before[1], evs[2];
	struct store_append_res res;
	char tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN];
	int status = -1, waiting = 0;
	pid_t pid;

	uuidtext_v7(tenant);
	uuidtext_v7(id);
	if (c->existing)
		append_new(db, tenant, "Order", id, "OrderCreated", 1, before);
	new_events(evs, 2, "OrderShipped");

	exec_ok(holder, "BEGIN");
	ck_assert_int_eq(append(holder, tenant, "Order", id, c->expect, c->expected, evs, 2, &res), ES_OK);
	store_append_res_free(&res);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct db *racer = db_new(test_conninfo, 5);
		enum es_status rc;

		db_set_application_name(racer, "check_store_racer");
		rc = append(racer, tenant, "Order", id, c->expect, c->expected, evs, 2, &res);
		_exit(rc == ES_OK && res.replayed && res.version == c->existing + 2 ? 0 : 10 + (int)rc);
	}
	for (int i = 0; i < 200 && !waiting; i++) {
		waiting = (int)sql_int(db, "SELECT count(*) FROM pg_stat_activity"
				       " WHERE application_name = 'check_store_racer'"
				       " AND wait_event_type = 'Lock'");
		if (!waiting)
			usleep(50000);
	}
	exec_ok(holder, "COMMIT");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(waiting, "the second append never waited for the first");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the racing append did not answer replay (exit %d)", WEXITSTATUS(status));
	ck_assert_int_eq(tenant_event_count(db, tenant), c->existing + 2);
	db_free(holder);
	db_free(db);
}
END_TEST

START_TEST(test_append_rejects_bad_requests)
{
	struct db *db = migrated_db();
	struct store_append_res res;
	struct store_append_req req;
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	memset(&req, 0, sizeof req);
	req.aggregate_type = "Order";
	req.aggregate_id = id;
	ck_assert_int_eq(store_append(db, &req, &res), ES_EINVAL); /* no events */
	ck_assert_int_eq(stream_version_or_zero(db, NULL, "Order", id), 0);
	db_free(db);
}
END_TEST

/* ---- tenancy --------------------------------------------------------------- */

START_TEST(test_tenant_isolation)
{
	struct db *db = migrated_db();
	struct tev a[2], b[2];
	struct store_append_res res;
	struct store_stream_page page;
	struct feed_request q;
	struct feed_cursor next;
	struct sbuf out = SBUF_INIT;
	char ta[UUIDTEXT_LEN], tb[UUIDTEXT_LEN], id[UUIDTEXT_LEN];
	int64_t v;
	size_t count;
	json_object *arr;

	uuidtext_v7(ta);
	uuidtext_v7(tb);
	uuidtext_v7(id);
	append_new(db, ta, "Order", id, "OrderCreated", 2, a);

	ck_assert_int_eq(store_read_stream(db, ta, "Order", id, 0, 10, 0, 0, &out, &page), ES_OK);
	arr = page_array(&out);
	ck_assert_str_eq(member_string(json_object_array_get_idx(arr, 0), "tenant_id"), ta);
	json_object_put(arr);
	sbuf_reset(&out);
	ck_assert_int_eq(store_read_stream(db, tb, "Order", id, 0, 10, 0, 0, &out, &page), ES_ENOTFOUND);
	ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, 0, 10, 0, STORE_READ_BACKWARD, &out, &page),
			 ES_ENOTFOUND);
	ck_assert_int_eq(store_stream_version(db, tb, "Order", id, &v), ES_ENOTFOUND);
	ck_assert_int_eq(store_stream_version(db, NULL, "Order", id, &v), ES_ENOTFOUND);
	ck_assert_uint_eq(out.len, 0);

	/* the same event ids and stream id in tenant B are B's own: no duplicate */
	b[0] = a[0];
	b[1] = a[1];
	ck_assert_int_eq(append(db, tb, "Order", id, STORE_EXPECT_EXACT, 0, b, 2, &res), ES_OK);
	ck_assert(!res.replayed);
	ck_assert_int_eq(res.version, 2);
	store_append_res_free(&res);
	ck_assert_int_eq(tenant_event_count(db, ta), 2);
	ck_assert_int_eq(tenant_event_count(db, tb), 2);

	/* B's feed holds B's events only */
	await_horizon(db);
	memset(&q, 0, sizeof q);
	q.tenant = tb;
	q.limit = 100;
	ck_assert_int_eq(feed_read_json(db, &q, &out, &count, &next, NULL), ES_OK);
	ck_assert_uint_eq(count, 2);
	arr = page_array(&out);
	for (size_t i = 0; i < 2; i++)
		ck_assert_str_eq(member_string(json_object_array_get_idx(arr, i), "tenant_id"), tb);
	json_object_put(arr);
	sbuf_free(&out);
	db_free(db);
}
END_TEST

/* The streams of a type, every tenant, in keyset pages. */
START_TEST(test_list_streams)
{
	struct db *db = migrated_db();
	struct store_stream_key page[2], seen[8], after;
	struct tev evs[1];
	char type[32], tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN];
	int64_t count;
	size_t n, total = 0;

	snprintf(type, sizeof type, "ListMe%d", (int)getpid());
	uuidtext_v7(tenant);
	for (int i = 0; i < 5; i++) {
		uuidtext_v7(id);
		append_new(db, i < 3 ? tenant : NULL, type, id, "Created", 1, evs);
	}
	uuidtext_v7(id);
	append_new(db, tenant, "OtherType", id, "Created", 1, evs);
	ck_assert_int_eq(store_count_streams(db, type, &count), ES_OK);
	ck_assert_int_eq(count, 5);

	ck_assert_int_eq(store_list_streams(db, type, NULL, 2, page, &n), ES_OK);
	while (n > 0) {
		ck_assert_uint_le(total + n, 8);
		memcpy(&seen[total], page, n * sizeof page[0]);
		total += n;
		after = page[n - 1];
		ck_assert_int_eq(store_list_streams(db, type, &after, 2, page, &n), ES_OK);
	}
	ck_assert_uint_eq(total, 5);
	ck_assert_str_eq(seen[0].tenant, UUIDTEXT_NIL);  /* the nil UUID sorts first */
	ck_assert_str_eq(seen[4].tenant, tenant);
	for (size_t i = 1; i < total; i++) {
		int c = strcmp(seen[i - 1].tenant, seen[i].tenant);

		ck_assert(c < 0 || (c == 0 && strcmp(seen[i - 1].aggregate_id, seen[i].aggregate_id) < 0));
	}
	ck_assert_int_eq(store_list_streams(db, type, NULL, 0, page, &n), ES_EINVAL);
	ck_assert_int_eq(store_count_streams(db, "NoSuchType", &count), ES_OK);
	ck_assert_int_eq(count, 0);
	db_free(db);
}
END_TEST

START_TEST(test_counts)
{
	struct db *db = migrated_db();
	struct tev evs[3];
	int64_t events0, streams0, events1, streams1;
	char id[UUIDTEXT_LEN];

	ck_assert_int_eq(store_counts(db, &events0, &streams0), ES_OK);
	uuidtext_v7(id);
	append_new(db, NULL, "Order", id, "OrderCreated", 3, evs);
	ck_assert_int_eq(store_counts(db, &events1, &streams1), ES_OK);
	ck_assert_int_eq(events1, events0 + 3);
	ck_assert_int_eq(streams1, streams0 + 1);
	db_free(db);
}
END_TEST

/* What /metrics reads: the highest position, the planner's estimate
 * (exact on a small analysed table), and the age of what the horizon
 * holds back while another transaction keeps an xid open. */
START_TEST(test_gauges)
{
	struct db *db = migrated_db(), *other = test_db();
	struct store_gauges g;
	struct tev evs[4];
	int64_t events, streams;
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	append_new(db, NULL, "Order", id, "OrderCreated", 4, evs);
	ck_assert_int_eq(db_exec_sql(db, "ANALYZE evstore.events", NULL), ES_OK);
	ck_assert_int_eq(store_counts(db, &events, &streams), ES_OK);
	ck_assert_int_eq(store_gauges_read(db, &g), ES_OK);
	ck_assert_int_eq(g.highest_position, sql_int(db, "SELECT max(position) FROM evstore.events"));
	ck_assert_int_eq(g.events_estimate, events);
	ck_assert(g.horizon_age_seconds == 0);

	/* another transaction holds an xid: the next event waits behind it */
	ck_assert_int_eq(db_exec_sql(other, "BEGIN", NULL), ES_OK);
	ck_assert_int_eq(db_exec_sql(other, "SELECT pg_current_xact_id()", NULL), ES_OK);
	append_new(db, NULL, "Order", id, "OrderShipped", 1, evs);
	usleep(300000);
	ck_assert_int_eq(store_gauges_read(db, &g), ES_OK);
	ck_assert_msg(g.horizon_age_seconds >= 0.3 && g.horizon_age_seconds < 60, "%f",
		      g.horizon_age_seconds);
	ck_assert_int_eq(g.highest_position, sql_int(db, "SELECT max(position) FROM evstore.events"));
	ck_assert_int_eq(db_exec_sql(other, "COMMIT", NULL), ES_OK);
	ck_assert_int_eq(store_gauges_read(db, &g), ES_OK);
	ck_assert(g.horizon_age_seconds == 0);
	db_free(other);
	db_free(db);
}
END_TEST

/* ---- the connection ------------------------------------------------------- */

static void terminate_backend(struct db *victim)
{
	struct db *admin = test_db();
	char sql[96];

	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld, 5000)",
		 (long long)sql_int(victim, "SELECT pg_backend_pid()"));
	ck_assert_int_eq(db_exec_sql(admin, sql, NULL), ES_OK);
	db_free(admin);
}

START_TEST(test_db_reconnects_after_loss)
{
	struct db *db = migrated_db();
	int64_t events, streams;

	ck_assert_int_eq(store_counts(db, &events, &streams), ES_OK);
	ck_assert_uint_eq(db_reconnects(db), 0);
	terminate_backend(db);

	/* the request that meets the dead connection fails as unavailable... */
	ck_assert_int_eq(store_counts(db, &events, &streams), ES_EUNAVAILABLE);
	/* ...and the next one works on a new connection, statements prepared again */
	ck_assert_int_eq(store_counts(db, &events, &streams), ES_OK);
	ck_assert_uint_eq(db_reconnects(db), 1);
	db_free(db);
}
END_TEST

/* A NOTIFY on the channel, sent the way a writer sends its wake-up hint:
 * in its own transaction, after the events are committed. */
static void notify(struct db *writer)
{
	exec_ok(writer, "SELECT pg_notify('" STORE_NOTIFY_CHANNEL "', '')");
}

START_TEST(test_db_notify_wakes_listener)
{
	struct db *listener = migrated_db(), *writer = test_db();

	ck_assert_int_eq(db_listen(listener, STORE_NOTIFY_CHANNEL), ES_OK);
	db_drain_notify(listener);
	ck_assert(!db_wait_notify(listener, 50));
	notify(writer);
	ck_assert(db_wait_notify(listener, 5000));
	ck_assert(!db_wait_notify(listener, 50)); /* consumed */

	/* after losing the connection the listener LISTENs again */
	terminate_backend(listener);
	ck_assert(!db_wait_notify(listener, 5000));
	ck_assert_int_eq(db_ensure(listener), ES_OK);
	ck_assert_uint_eq(db_reconnects(listener), 1);
	notify(writer);
	ck_assert(db_wait_notify(listener, 5000));
	db_free(writer);
	db_free(listener);
}
END_TEST

/* evstore.append() no longer notifies inside the appending transaction
 * (a NOTIFY there serialises every commit behind the previous one's WAL
 * flush): a listener hears nothing from an SQL append. */
START_TEST(test_sql_append_sends_no_notify)
{
	struct db *listener = migrated_db(), *writer = test_db();

	ck_assert_int_eq(db_listen(listener, STORE_NOTIFY_CHANNEL), ES_OK);
	db_drain_notify(listener);
	exec_ok(writer, "SELECT count(*) FROM evstore.append('" UUIDTEXT_NIL "', 'Order',"
			" gen_random_uuid(), 'exact', 0, 'tester', jsonb_build_array(jsonb_build_object("
			" 'event_id', gen_random_uuid(), 'event_type', 'OrderCreated', 'payload', '{}'::jsonb)))");
	ck_assert(!db_wait_notify(listener, 200));
	notify(writer); /* the listener is listening all the same */
	ck_assert(db_wait_notify(listener, 5000));
	db_free(writer);
	db_free(listener);
}
END_TEST

START_TEST(test_db_unreachable)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], conninfo[320];
	struct db *db;
	int64_t events, streams;

	/* an empty directory: no server socket will ever be there */
	snprintf(dir, sizeof dir, "%s/check_store.XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conninfo, sizeof conninfo, "host=%s port=1 dbname=none user=none", dir);
	db = db_new(conninfo, 1);
	ck_assert_int_eq(db_ensure(db), ES_EUNAVAILABLE);
	ck_assert_str_ne(db_last_error(db), "");
	/* inside the backoff window: fails fast, the reason kept */
	ck_assert_int_eq(store_counts(db, &events, &streams), ES_EUNAVAILABLE);
	ck_assert_str_ne(db_last_error(db), "");
	ck_assert(!db_wait_notify(db, 10));
	ck_assert(!db_connected(db));
	db_free(db);
	rmdir(dir);
}
END_TEST

static char *show(struct db *db, const char *setting)
{
	char sql[96], *v;
	PGresult *r;

	snprintf(sql, sizeof sql, "SHOW %s", setting);
	ck_assert_int_eq(db_exec_sql(db, sql, &r), ES_OK);
	v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void assert_setting(struct db *db, const char *setting, const char *want)
{
	char *v = show(db, setting);

	ck_assert_msg(strcmp(v, want) == 0, "%s is %s, wanted %s", setting, v, want);
	free(v);
}

/* The session gets our application_name unless the conninfo names one, and
 * statement_timeout on top of the conninfo's own options; a statement that
 * times out fails as unavailable and leaves the connection usable. */
START_TEST(test_db_session_settings)
{
	struct sbuf ci = SBUF_INIT;
	struct db *db;

	sbuf_printf(&ci, "%s options='-c work_mem=5MB'", test_conninfo);
	db = db_new(sbuf_cstr(&ci), 5);
	db_set_application_name(db, "check_store_settings");
	db_set_statement_timeout(db, 200);
	ck_assert_int_eq(db_ensure(db), ES_OK);
	assert_setting(db, "application_name", "check_store_settings");
	assert_setting(db, "statement_timeout", "200ms");
	assert_setting(db, "work_mem", "5MB");
	ck_assert_int_eq(db_exec_sql(db, "SELECT pg_sleep(5)", NULL), ES_EUNAVAILABLE);
	ck_assert_str_eq(db_last_sqlstate(db), "57014");
	ck_assert_int_eq(db_exec_sql(db, "SELECT 1", NULL), ES_OK);
	ck_assert_uint_eq(db_reconnects(db), 0);
	db_free(db);

	sbuf_reset(&ci);
	sbuf_printf(&ci, "%s application_name='named_by_operator'", test_conninfo);
	db = db_new(sbuf_cstr(&ci), 5);
	db_set_application_name(db, "check_store_settings");
	assert_setting(db, "application_name", "named_by_operator");
	db_free(db);
	sbuf_free(&ci);
}
END_TEST

static const struct {
	const char *sqlstate;
	enum es_status want;
} classify_cases[] = {
	{ "23505", ES_EDUPLICATE }, { "23502", ES_EINVAL }, { "22P02", ES_EINVAL },
	{ "40001", ES_ERETRY }, { "40P01", ES_ERETRY }, { "08006", ES_EUNAVAILABLE },
	{ "57P01", ES_EUNAVAILABLE }, { "57P03", ES_EUNAVAILABLE }, { "", ES_EUNAVAILABLE },
	{ NULL, ES_EUNAVAILABLE }, { "53300", ES_EUNAVAILABLE }, { "57014", ES_EUNAVAILABLE },
	{ "42P01", ES_EDB }, { "XX000", ES_EDB },
};

START_TEST(test_db_classify)
{
	ck_assert_int_eq(db_classify_sqlstate(classify_cases[_i].sqlstate), classify_cases[_i].want);
}
END_TEST

START_TEST(test_db_errors_are_classified)
{
	struct db *db = migrated_db();
	static const struct db_statement bad_uuid = {
		"check_store_bad_uuid", "SELECT $1::uuid", 1
	};
	const char *values[1] = { "not-a-uuid" };
	PGresult *r;

	ck_assert_int_eq(db_exec(db, &bad_uuid, values, &r), ES_EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(db_last_sqlstate(db), "22P02");
	ck_assert_int_eq(db_exec_sql(db, "SELECT * FROM no_such_table", &r), ES_EDB);
	ck_assert_str_eq(db_last_sqlstate(db), "42P01");
	/* the connection is still good and the statement still prepared */
	values[0] = UUIDTEXT_NIL;
	ck_assert_int_eq(db_exec(db, &bad_uuid, values, &r), ES_OK);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), UUIDTEXT_NIL);
	PQclear(r);
	ck_assert_uint_eq(db_reconnects(db), 0);
	db_free(db);
}
END_TEST

/* ---- the plans ------------------------------------------------------------ */

#define PLAN_KEY "'" UUIDTEXT_NIL "', 'Order', '0192f3c4-0000-7000-8000-000000000001'"
#define PLAN_EVENTS "'[{\"event_id\":\"0192f3c4-0000-7000-8000-0000000000aa\"," \
	"\"event_type\":\"Placed\",\"occurred_at\":\"" TEST_OCCURRED_AT "\",\"payload\":{}}]'"

/* What each statement of an append and a stream read must read: the
 * streams row by its key, the events by (tenant, type, id, version). */
static const struct {
	const char *explain, *table, *index;
} plan_checks[] = {
	{ "EXPLAIN (FORMAT JSON) EXECUTE store_append_exact(" PLAN_KEY ", 'tester', " PLAN_EVENTS ", '1')",
	  "streams", "streams_pkey" },
	{ "EXPLAIN (FORMAT JSON) EXECUTE store_append_exists(" PLAN_KEY ", 'tester', " PLAN_EVENTS ")",
	  "streams", "streams_pkey" },
	{ "EXPLAIN (FORMAT JSON) EXECUTE store_read_forward(" PLAN_KEY ", '1', '100', NULL, 't')",
	  "events", "events_stream_version_key" },
	{ "EXPLAIN (FORMAT JSON) EXECUTE store_read_forward(" PLAN_KEY ", '1', '100', NULL, 't')",
	  "streams", "streams_pkey" },
	{ "EXPLAIN (FORMAT JSON) EXECUTE store_read_backward(" PLAN_KEY ", '9', '100', NULL, 't')",
	  "events", "events_stream_version_key" },
	{ "EXPLAIN (FORMAT JSON) EXECUTE store_stream_version(" PLAN_KEY ")",
	  "streams", "streams_pkey" },
	{ "EXPLAIN (FORMAT JSON) EXECUTE store_stream_rows(" PLAN_KEY ", '0', '100', false, '100')",
	  "events", "events_stream_version_key" },
};

/* How many times plan ran a scan of relation (-1: it has none). */
static int relation_loops(json_object *plan, const char *relation)
{
	json_object *v, *kids;

	if (json_object_object_get_ex(plan, "Relation Name", &v) &&
	    strcmp(json_object_get_string(v), relation) == 0)
		return json_object_object_get_ex(plan, "Actual Loops", &v) ? json_object_get_int(v) : -1;
	if (!json_object_object_get_ex(plan, "Plans", &kids))
		return -1;
	for (size_t i = 0; i < json_object_array_length(kids); i++) {
		int loops = relation_loops(json_object_array_get_idx(kids, i), relation);

		if (loops >= 0)
			return loops;
	}
	return -1;
}

/* A stream read not asked for the key epoch (an aggregate type without
 * personal data) never reads evstore.key_epoch: planned for the values at
 * hand the CASE is folded away, planned generic its initplan is never
 * executed. Asked, it reads it once. */
static void assert_key_epoch_unread(struct db *db)
{
	static const char explain[] = "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE store_read_forward("
				      PLAN_KEY ", '1', '100', NULL, '%c')";

	/* the stream must exist: a page of no stream never evaluates its columns */
	exec_ok(db, "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)"
		    " VALUES (" PLAN_KEY ", 1) ON CONFLICT DO NOTHING");
	for (int asked = 0; asked < 2; asked++) {
		json_object *doc;
		PGresult *r;
		char sql[sizeof explain];
		int loops;

		snprintf(sql, sizeof sql, explain, asked ? 't' : 'f');
		loops = relation_loops(plan_explain(db, sql, &doc, &r), "key_epoch");
		ck_assert_msg(asked ? loops == 1 : loops <= 0, "%s reads the key epoch %d times: %.1500s", sql,
			      loops, PQgetvalue(r, 0, 0));
		json_object_put(doc);
		PQclear(r);
	}
}

/* Checks every statement of plan_checks, and that the new-stream and
 * "any" appends scan no table at all (they insert; the conflict is found
 * through the key), in both plan modes. */
static void assert_store_plans(struct db *db)
{
	static const char *const modes[] = { "force_custom_plan", "force_generic_plan" };
	static const char *const inserts[] = {
		"EXPLAIN (FORMAT JSON) EXECUTE store_append_new(" PLAN_KEY ", 'tester', " PLAN_EVENTS ")",
		"EXPLAIN (FORMAT JSON) EXECUTE store_append_any(" PLAN_KEY ", 'tester', " PLAN_EVENTS ")",
	};

	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		char set[64];

		snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
		exec_ok(db, set);
		for (size_t i = 0; i < sizeof plan_checks / sizeof plan_checks[0]; i++)
			assert_plan_index(db, plan_checks[i].explain, plan_checks[i].table,
					  plan_checks[i].index);
		for (size_t i = 0; i < sizeof inserts / sizeof inserts[0]; i++) {
			PGresult *r;
			json_object *doc, *plan = plan_explain(db, inserts[i], &doc, &r);

			ck_assert_msg(!plan_scans_table(plan, "streams") && !plan_scans_table(plan, "events"),
				      "%s scans a table: %s", inserts[i], PQgetvalue(r, 0, 0));
			json_object_put(doc);
			PQclear(r);
		}
		assert_key_epoch_unread(db);
	}
	exec_ok(db, "RESET plan_cache_mode");
}

/* The append and stream-read statements, prepared by the store as a
 * worker prepares them, read by key whether PostgreSQL plans them for the
 * values at hand or once for all (a generic plan, what a worker keeps for
 * its connection's life): first on empty tables never analyzed, where a
 * plan made now would be kept as the tables grow, then with 200,000 events
 * in 100,000 streams, analyzed. And a worker plans them once: after the
 * five custom plans PostgreSQL makes first, it runs the generic one. */
START_TEST(test_append_plans)
{
	struct db *db;
	struct tev evs[2];
	struct store_append_res res;
	struct sbuf out = SBUF_INIT;
	struct store_stream_page page;
	char name[96], *conninfo, id[UUIDTEXT_LEN];
	int64_t version;
	PGresult *r;

	db = plan_db_create("store_plan", name, sizeof name, &conninfo);
	/* each statement prepared by its own call */
	uuidtext_v7(id);
	new_events(evs, 1, "Placed");
	ck_assert_int_eq(append(db, NULL, "Order", id, STORE_EXPECT_EXACT, 0, evs, 1, &res), ES_OK);
	store_append_res_free(&res);
	new_events(evs, 1, "Paid");
	ck_assert_int_eq(append(db, NULL, "Order", id, STORE_EXPECT_EXACT, 1, evs, 1, &res), ES_OK);
	store_append_res_free(&res);
	new_events(evs, 1, "Packed");
	ck_assert_int_eq(append(db, NULL, "Order", id, STORE_EXPECT_EXISTS, 0, evs, 1, &res), ES_OK);
	store_append_res_free(&res);
	append_new(db, NULL, "Order", id, "Shipped", 1, evs);
	ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, 0, 100, 0, 0, &out, &page), ES_OK);
	ck_assert_int_eq(store_read_stream(db, NULL, "Order", id, 0, 100, 0, STORE_READ_BACKWARD, &out, &page),
			 ES_OK);
	ck_assert_int_eq(store_stream_version(db, NULL, "Order", id, &version), ES_OK);
	ck_assert_int_eq(store_read_stream_rows(db, NULL, "Order", id, 0, 4, false, 100, &r), ES_OK);
	PQclear(r);
	exec_ok(db, "TRUNCATE evstore.events, evstore.streams");
	assert_store_plans(db);

	exec_ok(db, "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)"
		    " SELECT '" UUIDTEXT_NIL "', 'Order', gen_random_uuid(), 2"
		    " FROM generate_series(1, 100000)");
	exec_ok(db, "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id,"
		    " version, event_type, occurred_at, payload)"
		    " SELECT s.tenant_id, gen_random_uuid(), s.aggregate_type, s.aggregate_id, v,"
		    "  'Placed', now(), '{}' FROM evstore.streams s, generate_series(1, 2) v");
	exec_ok(db, "ANALYZE evstore.events");
	exec_ok(db, "ANALYZE evstore.streams");
	assert_store_plans(db);

	/* planned once: a new session, ten appends of each kind */
	db_free(db);
	db = test_db_at(conninfo);
	for (int i = 0; i < 10; i++) {
		uuidtext_v7(id);
		new_events(evs, 1, "Placed");
		ck_assert_int_eq(append(db, NULL, "Order", id, STORE_EXPECT_EXACT, 0, evs, 1, &res), ES_OK);
		store_append_res_free(&res);
		new_events(evs, 1, "Paid");
		ck_assert_int_eq(append(db, NULL, "Order", id, STORE_EXPECT_EXACT, 1, evs, 1, &res), ES_OK);
		store_append_res_free(&res);
	}
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM pg_prepared_statements"
				     " WHERE name IN ('store_append_new', 'store_append_exact')"
				     "   AND generic_plans = 5 AND custom_plans = 5"), 2);

	sbuf_free(&out);
	db_free(db);
	plan_db_drop(name);
	free(conninfo);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	/* first: it expects the fresh scratch database */
	tc = tcase_create("migrate");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_migrate_twice);
	tcase_add_test(tc, test_migrate_concurrent_runs);
	tcase_add_test(tc, test_migrate_refuses_changed_file);
	tcase_add_test(tc, test_migrate_refuses_newer_database);
	suite_add_tcase(s, tc);

	tc = tcase_create("append");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_append_and_read_pages);
	tcase_add_test(tc, test_read_renders_as_event_json);
	tcase_add_loop_test(tc, test_append_expectations, 0,
			    (int)(sizeof expect_cases / sizeof expect_cases[0]));
	tcase_add_test(tc, test_append_replay);
	tcase_add_loop_test(tc, test_append_duplicate, 0,
			    (int)(sizeof dup_cases / sizeof dup_cases[0]));
	tcase_add_loop_test(tc, test_append_race_identical, 0,
			    (int)(sizeof race_cases / sizeof race_cases[0]));
	tcase_add_test(tc, test_append_rejects_bad_requests);
	tcase_add_test(tc, test_list_streams);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_gauges);
	suite_add_tcase(s, tc);

	tc = tcase_create("plans");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_append_plans);
	suite_add_tcase(s, tc);

	tc = tcase_create("tenancy");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tenant_isolation);
	suite_add_tcase(s, tc);

	tc = tcase_create("db");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_db_classify, 0,
			    (int)(sizeof classify_cases / sizeof classify_cases[0]));
	tcase_add_test(tc, test_db_errors_are_classified);
	tcase_add_test(tc, test_db_session_settings);
	tcase_add_test(tc, test_db_reconnects_after_loss);
	tcase_add_test(tc, test_db_notify_wakes_listener);
	tcase_add_test(tc, test_sql_append_sends_no_notify);
	tcase_add_test(tc, test_db_unreachable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_store", store_suite);
}
