/* check_aggregate.c - an aggregate's state and the guarded append against a
 * real PostgreSQL: aggregate_load from the newest usable snapshot and the
 * events after it (paged, time travel, snapshots by other rules ignored),
 * aggregate_append's guards checked at the version it commits on (also
 * against a racing writer), the sync snapshot, and aggregate_snapshot().
 * EVSTORE_TEST_DATABASE_URL names a server and a role allowed to create
 * databases; without it the suite skips (77). */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "aggregate/aggregate.h"
#include "aggregate/snapshot.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "store/store.h"
#include "test_helpers.h"

/* The shipped Order definition (examples/aggregates.d/order.json), with a
 * snapshot every 3 versions so the sync snapshot shows in a few appends. */
#define ORDER_DEF(schema_version, shipped_status) \
	"{\"aggregate_type\":\"Order\",\"schema_version\":" #schema_version "," \
	"\"snapshot\":{\"threshold\":3,\"mode\":\"sync\"}," \
	"\"events\":{" \
	"\"OrderCreated\":{\"payload\":{\"type\":\"object\",\"required\":[\"customer_id\",\"total\"]}," \
	"  \"when\":{\"version\":0}," \
	"  \"evolve\":[{\"merge\":\"payload\"},{\"set\":{\"status\":\"created\",\"note_count\":0}}]}," \
	"\"OrderShipped\":{\"when\":{\"state.status\":[\"created\"]}," \
	"  \"evolve\":[{\"set\":{\"status\":\"" shipped_status "\"}}," \
	"              {\"copy\":{\"tracking_number\":\"payload.tracking_number\"}}]}," \
	"\"NoteAdded\":{\"when\":{\"exists\":true}," \
	"  \"evolve\":[{\"append\":{\"notes\":\"payload.note\"}},{\"inc\":{\"note_count\":1}}]}}," \
	"\"commands\":{\"create\":{\"emits\":\"OrderCreated\"},\"ship\":{\"emits\":\"OrderShipped\"}," \
	"  \"note\":{\"emits\":\"NoteAdded\"}}}"

#define CREATED "{\"customer_id\":\"c-1\",\"total\":42}"
#define SHIPPED "{\"tracking_number\":\"TRACK1\"}"
#define NOTE "{\"note\":\"hello\"}"

/* A stream of LONG_EVENTS (OrderCreated, then notes "n2" ... "nN"), with a
 * snapshot at LONG_SNAPSHOT carrying a marker the events never write. */
#define LONG_ID "0190f0a0-0000-7000-8000-00000000beef"
#define LONG_EVENTS 2500
#define LONG_SNAPSHOT 1500

static char *conninfo;      /* the scratch database, while the suite runs */
static struct db *db;
static struct aggdef_registry *reg;
static const struct aggdef *def;

/* A registry holding the one definition in text, loaded through aggdef
 * from a file in a temporary directory (removed again). */
static struct aggdef_registry *registry_of(const char *text)
{
	struct aggdef_registry *r = NULL;
	char dir[256], err[512];

	test_dir_create(dir, sizeof dir, "check_aggregate");
	test_file_write(dir, "order.json", text);
	ck_assert_msg(aggdef_registry_load(dir, &r, err, sizeof err) == ES_OK, "%s", err);
	test_dir_remove(dir);
	ck_assert_uint_eq(r->n, 1);
	return r;
}

static void setup(void)
{
	db = test_db_open(conninfo, "check_aggregate");
	reg = registry_of(ORDER_DEF(1, "shipped"));
	def = aggdef_find(reg, "Order");
	ck_assert_ptr_nonnull(def);
}

static void teardown(void)
{
	aggdef_registry_free(reg);
	db_free(db);
}

/* ---- requests ---------------------------------------------------------------- */

struct ev {
	const char *type;
	const char *payload;    /* JSON object text */
};

#define MAX_EVENTS 4

struct request {
	struct store_append_req req;
	struct store_new_event ne[MAX_EVENTS];
};

/* A request for the Order stream id with fresh event ids. */
static void request_init(struct request *rq, const char *id, enum store_expect expect,
			 int64_t expected, const struct ev *evs, size_t n)
{
	int64_t at;

	ck_assert_uint_le(n, MAX_EVENTS);
	ck_assert(timefmt_parse("2026-11-27T10:00:00Z", &at));
	memset(rq, 0, sizeof *rq);
	for (size_t i = 0; i < n; i++) {
		uuidtext_v7(rq->ne[i].event_id);
		rq->ne[i].event_type = evs[i].type;
		rq->ne[i].payload = json_tokener_parse(evs[i].payload);
		ck_assert_ptr_nonnull(rq->ne[i].payload);
		rq->ne[i].occurred_at_usec = at;
	}
	rq->req.aggregate_type = "Order";
	rq->req.aggregate_id = id;
	rq->req.expect = expect;
	rq->req.expected_version = expected;
	rq->req.actor_id = "tester";
	rq->req.events = rq->ne;
	rq->req.n_events = n;
}

static void request_free(struct request *rq)
{
	for (size_t i = 0; i < rq->req.n_events; i++)
		json_object_put(rq->ne[i].payload);
}

/* Appends evs to stream id with no guard (store_append), as any writer can. */
static void append_plain(struct db *to, const char *id, const struct ev *evs, size_t n)
{
	struct request rq;
	struct store_append_res res;

	request_init(&rq, id, STORE_EXPECT_ANY, 0, evs, n);
	ck_assert_msg(store_append(to, &rq.req, &res) == ES_OK, "%s", db_last_error(to));
	store_append_res_free(&res);
	request_free(&rq);
}

/* A string member of state, "" when absent. */
static const char *member(json_object *state, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(state, key, &v) ? json_object_get_string(v) : "";
}

static int64_t stream_version(const char *id)
{
	char sql[256];

	snprintf(sql, sizeof sql, "SELECT COALESCE(max(version), 0) FROM evstore.streams"
		 " WHERE aggregate_id = '%s'", id);
	return test_sql_int(db, sql);
}

/* The version of the stored snapshot of stream id, 0 when none. */
static int64_t snapshot_version(const char *id)
{
	char sql[256];

	snprintf(sql, sizeof sql, "SELECT COALESCE(max(version), 0) FROM evstore.snapshots"
		 " WHERE aggregate_id = '%s'", id);
	return test_sql_int(db, sql);
}

/* Saves state (JSON text) as stream id's snapshot at version, by d's rules. */
static void save_snapshot(const struct aggdef *d, const char *id, int64_t version, const char *state)
{
	json_object *o = json_tokener_parse(state);
	bool written;

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(snapshot_save(db, d, NULL, id, version, o, NULL, &written), ES_OK);
	ck_assert(written);
	json_object_put(o);
}

/* ---- aggregate_load ------------------------------------------------------------ */

START_TEST(load_missing_stream)
{
	struct aggregate_state s;
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	ck_assert_int_eq(aggregate_load(db, def, NULL, "Order", id, 0, &s), ES_OK);
	ck_assert_int_eq(s.stream_version, 0);
	ck_assert_int_eq(s.version, 0);
	ck_assert_int_eq(s.snapshot_version, 0);
	/* the payload's keys in jsonb's order, then the evolve steps' */
	ck_assert_str_eq(json_object_to_json_string_ext(s.state, JSON_C_TO_STRING_PLAIN), "{}");
	aggregate_state_free(&s);
}
END_TEST

START_TEST(load_folds_events)
{
	static const struct ev evs[] = {
		{ "OrderCreated", CREATED }, { "NoteAdded", NOTE }, { "OrderShipped", SHIPPED },
	};
	struct aggregate_state s;
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	append_plain(db, id, evs, N_ELEMS(evs));
	ck_assert_int_eq(aggregate_load(db, def, NULL, "Order", id, 0, &s), ES_OK);
	ck_assert_int_eq(s.stream_version, 3);
	ck_assert_int_eq(s.version, 3);
	ck_assert_int_eq(s.snapshot_version, 0);
	/* the payload's keys in jsonb's order, then the evolve steps' */
	ck_assert_str_eq(json_object_to_json_string_ext(s.state, JSON_C_TO_STRING_PLAIN),
			 "{\"total\":42,\"customer_id\":\"c-1\",\"status\":\"shipped\",\"note_count\":1,"
			 "\"notes\":[\"hello\"],\"tracking_number\":\"TRACK1\"}");
	aggregate_state_free(&s);

	/* another tenant's stream of the same id is another stream */
	ck_assert_int_eq(aggregate_load(db, def, "6f1c2a4e-3b5d-4c6e-8f70-112233445566", "Order", id,
					0, &s), ES_OK);
	ck_assert_int_eq(s.stream_version, 0);
	aggregate_state_free(&s);
}
END_TEST

START_TEST(load_starts_from_the_snapshot)
{
	static const struct ev evs[] = {
		{ "OrderCreated", CREATED }, { "NoteAdded", NOTE }, { "NoteAdded", NOTE },
		{ "NoteAdded", NOTE },
	};
	struct aggregate_state s;
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	append_plain(db, id, evs, N_ELEMS(evs));
	/* a state no event writes: seen only when folding starts from it */
	save_snapshot(def, id, 2, "{\"status\":\"created\",\"note_count\":10,\"from\":\"snapshot\"}");
	ck_assert_int_eq(aggregate_load(db, def, NULL, "Order", id, 0, &s), ES_OK);
	ck_assert_int_eq(s.snapshot_version, 2);
	ck_assert_int_eq(s.version, 4);
	ck_assert_str_eq(member(s.state, "from"), "snapshot");
	ck_assert_str_eq(member(s.state, "note_count"), "12"); /* events 3 and 4 on top */
	aggregate_state_free(&s);
}
END_TEST

/* A snapshot the loading definition did not fold is ignored: other evolve
 * rules (another rules_hash), another schema_version, or no definition. */
static const struct { const char *saved_by; bool load_without_def; } foreign[] = {
	{ ORDER_DEF(1, "sent"), false },
	{ ORDER_DEF(2, "shipped"), false },
	{ ORDER_DEF(1, "shipped"), true },
};

START_TEST(load_ignores_a_foreign_snapshot)
{
	static const struct ev evs[] = { { "OrderCreated", CREATED }, { "NoteAdded", NOTE } };
	struct aggdef_registry *other = registry_of(foreign[_i].saved_by);
	const struct aggdef *loader = foreign[_i].load_without_def ? NULL : def;
	const struct aggdef *saver = aggdef_find(other, "Order");
	struct aggregate_state s;
	char id[UUIDTEXT_LEN];

	ck_assert(foreign[_i].load_without_def || strcmp(saver->rules_hash, def->rules_hash) != 0 ||
		  saver->schema_version != def->schema_version);
	uuidtext_v7(id);
	append_plain(db, id, evs, N_ELEMS(evs));
	save_snapshot(saver, id, 2, "{\"from\":\"snapshot\"}");
	ck_assert_int_eq(aggregate_load(db, loader, NULL, "Order", id, 0, &s), ES_OK);
	ck_assert_int_eq(s.snapshot_version, 0);
	ck_assert_int_eq(s.version, 2);
	ck_assert_str_eq(member(s.state, "from"), "");
	ck_assert_str_eq(member(s.state, "customer_id"), "c-1");
	aggregate_state_free(&s);
	aggdef_registry_free(other);
}
END_TEST

/* The long stream, made once for the tcase (in the parent process). */
static void long_stream_create(void)
{
	struct aggregate_state s;
	struct db *d = test_db_open(conninfo, "check_aggregate");
	struct aggdef_registry *r = registry_of(ORDER_DEF(1, "shipped"));
	char sql[1024];

	snprintf(sql, sizeof sql,
		 "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)"
		 " VALUES ('%s', 'Order', '%s', %d);"
		 "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version,"
		 "  event_type, occurred_at, payload)"
		 " SELECT '%s', gen_random_uuid(), 'Order', '%s', v,"
		 "  CASE WHEN v = 1 THEN 'OrderCreated' ELSE 'NoteAdded' END, now(),"
		 "  CASE WHEN v = 1 THEN '" CREATED "'::jsonb ELSE jsonb_build_object('note', 'n' || v) END"
		 " FROM generate_series(1, %d) v",
		 UUIDTEXT_NIL, LONG_ID, LONG_EVENTS, UUIDTEXT_NIL, LONG_ID, LONG_EVENTS);
	test_sql_exec(d, sql);
	ck_assert_int_eq(aggregate_load(d, aggdef_find(r, "Order"), NULL, "Order", LONG_ID,
					LONG_SNAPSHOT, &s), ES_OK);
	json_object_object_add(s.state, "from", json_object_new_string("snapshot"));
	ck_assert_int_eq(snapshot_save(d, aggdef_find(r, "Order"), NULL, LONG_ID, LONG_SNAPSHOT,
				       s.state, NULL, NULL), ES_OK);
	aggregate_state_free(&s);
	aggdef_registry_free(r);
	db_free(d);
}

/* Time travel on the long stream, across page boundaries (pages of
 * AGGREGATE_PAGE_EVENTS) and both sides of its snapshot. */
static const struct { int64_t at, version, snapshot; } travel[] = {
	{ 0, LONG_EVENTS, LONG_SNAPSHOT },          /* 0: now */
	{ 1, 1, 0 },
	{ 2, 2, 0 },
	{ AGGREGATE_PAGE_EVENTS - 1, AGGREGATE_PAGE_EVENTS - 1, 0 },
	{ AGGREGATE_PAGE_EVENTS, AGGREGATE_PAGE_EVENTS, 0 },
	{ AGGREGATE_PAGE_EVENTS + 1, AGGREGATE_PAGE_EVENTS + 1, 0 },
	{ LONG_SNAPSHOT - 1, LONG_SNAPSHOT - 1, 0 }, /* before the snapshot: not used */
	{ LONG_SNAPSHOT, LONG_SNAPSHOT, LONG_SNAPSHOT },
	{ LONG_SNAPSHOT + 1, LONG_SNAPSHOT + 1, LONG_SNAPSHOT },
	{ 2 * AGGREGATE_PAGE_EVENTS + 1, 2 * AGGREGATE_PAGE_EVENTS + 1, LONG_SNAPSHOT },
	{ LONG_EVENTS, LONG_EVENTS, LONG_SNAPSHOT },
	{ LONG_EVENTS + 1, LONG_EVENTS, LONG_SNAPSHOT }, /* above: the caller sees version < at */
};

START_TEST(load_travels_in_time)
{
	struct aggregate_state s;
	json_object *notes;
	int64_t n_notes = travel[_i].version - 1;
	char last[32];

	ck_assert_int_eq(aggregate_load(db, def, NULL, "Order", LONG_ID, travel[_i].at, &s), ES_OK);
	ck_assert_int_eq(s.stream_version, LONG_EVENTS);
	ck_assert_int_eq(s.version, travel[_i].version);
	ck_assert_int_eq(s.snapshot_version, travel[_i].snapshot);
	ck_assert_str_eq(member(s.state, "from"), travel[_i].snapshot ? "snapshot" : "");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(s.state, "note_count")), n_notes);
	/* every note once, in version order */
	notes = json_object_object_get(s.state, "notes");
	ck_assert_int_eq(notes ? (int64_t)json_object_array_length(notes) : 0, n_notes);
	if (n_notes > 0) {
		snprintf(last, sizeof last, "n%" PRId64, travel[_i].version);
		ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(notes, 0)), "n2");
		ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(notes, n_notes - 1)), last);
	}
	aggregate_state_free(&s);
}
END_TEST

/* ---- aggregate_append ---------------------------------------------------------- */

/* A stream with events before (appended without guards), then one guarded
 * request and what it must come to. */
static const struct {
	const char *name;
	struct ev before[2];
	size_t n_before;
	struct ev request[3];
	size_t n_request;
	enum store_expect expect;
	int64_t expected;
	enum es_status rc;
	int64_t version;        /* the stream's version afterwards */
	size_t refused_index;   /* ES_ESTATE */
	const char *guard;      /* ES_ESTATE */
} guarded[] = {
	{ "create a new stream", { { 0 } }, 0, { { "OrderCreated", CREATED } }, 1,
	  STORE_EXPECT_ANY, 0, ES_OK, 1, 0, NULL },
	{ "create twice", { { "OrderCreated", CREATED } }, 1, { { "OrderCreated", CREATED } }, 1,
	  STORE_EXPECT_ANY, 0, ES_ESTATE, 1, 0, "version" },
	{ "the second event is checked against the state after the first", { { 0 } }, 0,
	  { { "OrderCreated", CREATED }, { "OrderShipped", SHIPPED } }, 2,
	  STORE_EXPECT_ANY, 0, ES_OK, 2, 0, NULL },
	{ "and refused by it", { { 0 } }, 0,
	  { { "OrderCreated", CREATED }, { "NoteAdded", NOTE }, { "OrderCreated", CREATED } }, 3,
	  STORE_EXPECT_ANY, 0, ES_ESTATE, 0, 2, "version" },
	{ "a note needs a stream", { { 0 } }, 0, { { "NoteAdded", NOTE } }, 1,
	  STORE_EXPECT_ANY, 0, ES_ESTATE, 0, 0, "exists" },
	{ "ship a created order", { { "OrderCreated", CREATED } }, 1, { { "OrderShipped", SHIPPED } }, 1,
	  STORE_EXPECT_EXACT, 1, ES_OK, 2, 0, NULL },
	{ "ship twice", { { "OrderCreated", CREATED }, { "OrderShipped", SHIPPED } }, 2,
	  { { "OrderShipped", SHIPPED } }, 1, STORE_EXPECT_ANY, 0, ES_ESTATE, 2, 0, "state.status" },
	{ "an expectation that does not hold", { { "OrderCreated", CREATED } }, 1,
	  { { "OrderShipped", SHIPPED } }, 1, STORE_EXPECT_EXACT, 0, ES_ECONFLICT, 1, 0, NULL },
	{ "a stream that must exist", { { 0 } }, 0, { { "OrderCreated", CREATED } }, 1,
	  STORE_EXPECT_EXISTS, 0, ES_ECONFLICT, 0, 0, NULL },
	{ "notes on an existing stream", { { "OrderCreated", CREATED } }, 1,
	  { { "NoteAdded", NOTE }, { "NoteAdded", NOTE } }, 2, STORE_EXPECT_EXISTS, 0, ES_OK, 3, 0, NULL },
};

START_TEST(append_checks_guards)
{
	struct request rq;
	struct store_append_res res;
	struct aggregate_refusal why;
	char id[UUIDTEXT_LEN];
	enum es_status rc;

	uuidtext_v7(id);
	if (guarded[_i].n_before)
		append_plain(db, id, guarded[_i].before, guarded[_i].n_before);
	request_init(&rq, id, guarded[_i].expect, guarded[_i].expected, guarded[_i].request,
		     guarded[_i].n_request);
	rc = aggregate_append(db, def, &rq.req, &res, &why);
	ck_assert_msg(rc == guarded[_i].rc, "%s: %s, want %s", guarded[_i].name, es_status_name(rc),
		      es_status_name(guarded[_i].rc));
	ck_assert_int_eq(stream_version(id), guarded[_i].version);
	if (rc == ES_OK) {
		/* committed exactly on the version the guards were checked at */
		ck_assert_int_eq(res.version, guarded[_i].version);
		ck_assert_uint_eq(res.n_events, guarded[_i].n_request);
		ck_assert_int_eq(res.events[0].version, (int64_t)guarded[_i].n_before + 1);
		ck_assert(!res.replayed);
	} else if (rc == ES_ESTATE) {
		ck_assert_uint_eq(why.event_index, guarded[_i].refused_index);
		ck_assert_str_eq(why.guard, guarded[_i].guard);
		ck_assert_str_ne(why.detail, "");
	} else {
		ck_assert_int_eq(res.current_version, (int64_t)guarded[_i].n_before);
	}
	store_append_res_free(&res);
	request_free(&rq);
}
END_TEST

/* The same request again is its replay, even where its guard fails now. */
START_TEST(append_replay_passes)
{
	static const struct ev create[] = { { "OrderCreated", CREATED } };
	struct request rq;
	struct store_append_res res;
	struct aggregate_refusal why;
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	request_init(&rq, id, STORE_EXPECT_EXACT, 0, create, 1);
	ck_assert_int_eq(aggregate_append(db, def, &rq.req, &res, &why), ES_OK);
	store_append_res_free(&res);
	ck_assert_int_eq(aggregate_append(db, def, &rq.req, &res, &why), ES_OK);
	ck_assert(res.replayed);
	ck_assert_int_eq(res.version, 1);
	ck_assert_int_eq(stream_version(id), 1);
	store_append_res_free(&res);
	request_free(&rq);
}
END_TEST

/* A writer commits between the guarded append's read and its write: the
 * append, checked at version 1, can only commit at exactly version 1 and
 * loses. With an exact expectation that is a conflict; otherwise it reads
 * again and checks its guards on the new state. */
static const struct {
	struct ev ev;
	enum store_expect expect;
	int64_t expected;
	enum es_status rc;
	int64_t version;        /* the stream's version afterwards */
} races[] = {
	{ { "OrderShipped", SHIPPED }, STORE_EXPECT_EXACT, 1, ES_ECONFLICT, 2 },
	{ { "OrderShipped", SHIPPED }, STORE_EXPECT_ANY, 0, ES_ESTATE, 2 },
	{ { "NoteAdded", NOTE }, STORE_EXPECT_EXISTS, 0, ES_OK, 3 },
};

#define RACER "check_aggregate_racer"

START_TEST(append_loses_a_race)
{
	static const struct ev create[] = { { "OrderCreated", CREATED } };
	static const struct ev ship[] = { { "OrderShipped", SHIPPED } };
	struct db *rival = test_db_open(conninfo, "check_aggregate_rival");
	struct request rq;
	struct store_append_res res;
	char id[UUIDTEXT_LEN], sql[256], got[64] = "", name[32];
	int64_t version, current;
	int fds[2], status, waited = 0;
	pid_t pid;
	ssize_t n;

	uuidtext_v7(id);
	append_plain(db, id, create, 1);
	/* the rival ships the order, uncommitted: it holds the streams row */
	test_sql_exec(rival, "BEGIN");
	append_plain(rival, id, ship, 1);

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* the racer: reads version 1, passes its guards, waits on the row */
		struct db *racer = db_new(conninfo, 5);
		struct aggregate_refusal why;
		enum es_status rc;

		db_set_application_name(racer, RACER);
		request_init(&rq, id, races[_i].expect, races[_i].expected, &races[_i].ev, 1);
		rc = aggregate_append(racer, def, &rq.req, &res, &why);
		n = snprintf(got, sizeof got, "%s %" PRId64 " %" PRId64, es_status_name(rc),
			     res.version, res.current_version);
		_exit(write(fds[1], got, (size_t)n) == n ? 0 : 1);
	}
	close(fds[1]);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity"
		 " WHERE application_name = '%s' AND wait_event_type = 'Lock'", RACER);
	while (test_sql_int(db, sql) == 0 && waited++ < 200)
		usleep(50 * 1000);
	ck_assert_msg(waited <= 200, "the racer never waited for the rival's lock");
	test_sql_exec(rival, "COMMIT");

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = read(fds[0], got, sizeof got - 1);
	close(fds[0]);
	ck_assert_int_gt(n, 0);
	got[n] = '\0';
	ck_assert_int_eq(sscanf(got, "%31s %" SCNd64 " %" SCNd64, name, &version, &current), 3);
	ck_assert_str_eq(name, es_status_name(races[_i].rc));
	if (races[_i].rc == ES_ECONFLICT)
		ck_assert_int_eq(current, 2); /* the stream is at 2 now */
	if (races[_i].rc == ES_OK)
		ck_assert_int_eq(version, 3); /* committed on 2, not on 1 */
	ck_assert_int_eq(stream_version(id), races[_i].version);
	db_free(rival);
}
END_TEST

/* Mode sync, threshold 3: an append crossing a multiple of 3 saves the
 * state at its new version. */
START_TEST(append_snapshots_in_sync_mode)
{
	static const struct ev create[] = { { "OrderCreated", CREATED } };
	static const struct ev notes[] = { { "NoteAdded", NOTE }, { "NoteAdded", NOTE },
					   { "NoteAdded", NOTE } };
	static const struct { const struct ev *evs; size_t n; int64_t version, snapshot; } steps[] = {
		{ create, 1, 1, 0 }, { notes, 1, 2, 0 }, { notes, 1, 3, 3 }, { notes, 1, 4, 3 },
		{ notes, 3, 7, 7 }, { notes, 1, 8, 7 }, { notes, 1, 9, 9 },
	};
	struct request rq;
	struct store_append_res res;
	struct aggregate_refusal why;
	struct aggregate_state s;
	char id[UUIDTEXT_LEN];

	uuidtext_v7(id);
	for (size_t i = 0; i < N_ELEMS(steps); i++) {
		request_init(&rq, id, STORE_EXPECT_ANY, 0, steps[i].evs, steps[i].n);
		ck_assert_int_eq(aggregate_append(db, def, &rq.req, &res, &why), ES_OK);
		ck_assert_int_eq(res.version, steps[i].version);
		ck_assert_msg(snapshot_version(id) == steps[i].snapshot,
			      "at version %" PRId64 ": snapshot at %" PRId64 ", want %" PRId64,
			      res.version, snapshot_version(id), steps[i].snapshot);
		store_append_res_free(&res);
		request_free(&rq);
	}
	/* the saved state is the folded one */
	ck_assert_int_eq(aggregate_load(db, def, NULL, "Order", id, 0, &s), ES_OK);
	ck_assert_int_eq(s.snapshot_version, 9);
	ck_assert_str_eq(member(s.state, "note_count"), "8");
	aggregate_state_free(&s);
}
END_TEST

/* ---- aggregate_snapshot ---------------------------------------------------------- */

START_TEST(snapshot_folds_and_saves)
{
	static const struct ev evs[] = { { "OrderCreated", CREATED }, { "NoteAdded", NOTE },
					 { "OrderShipped", SHIPPED } };
	struct aggregate_state s;
	char id[UUIDTEXT_LEN], sql[256];
	int64_t version = -1;

	uuidtext_v7(id);
	ck_assert_int_eq(aggregate_snapshot(db, def, NULL, id, &version), ES_ENOTFOUND);
	ck_assert_int_eq(version, 0);
	ck_assert_int_eq(snapshot_version(id), 0);

	append_plain(db, id, evs, N_ELEMS(evs));
	ck_assert_int_eq(aggregate_snapshot(db, def, NULL, id, &version), ES_OK);
	ck_assert_int_eq(version, 3);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM evstore.snapshots WHERE aggregate_id = '%s'"
		 " AND version = 3 AND schema_version = 1 AND rules_hash = '%s'"
		 " AND state->>'status' = 'shipped' AND state->>'note_count' = '1'", id, def->rules_hash);
	ck_assert_int_eq(test_sql_int(db, sql), 1);
	ck_assert_int_eq(aggregate_load(db, def, NULL, "Order", id, 0, &s), ES_OK);
	ck_assert_int_eq(s.snapshot_version, 3);
	ck_assert_int_eq(s.version, 3);
	aggregate_state_free(&s);
	ck_assert_int_eq(aggregate_snapshot(db, def, NULL, id, NULL), ES_OK); /* again: harmless */
}
END_TEST

static Suite *aggregate_suite(void)
{
	Suite *s = suite_create("aggregate");
	TCase *tc = tcase_create("load");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, load_missing_stream);
	tcase_add_test(tc, load_folds_events);
	tcase_add_test(tc, load_starts_from_the_snapshot);
	tcase_add_loop_test(tc, load_ignores_a_foreign_snapshot, 0, N_ELEMS(foreign));
	suite_add_tcase(s, tc);

	tc = tcase_create("long stream");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, long_stream_create, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, load_travels_in_time, 0, N_ELEMS(travel));
	suite_add_tcase(s, tc);

	tc = tcase_create("append");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, append_checks_guards, 0, N_ELEMS(guarded));
	tcase_add_test(tc, append_replay_passes);
	tcase_add_loop_test(tc, append_loses_a_race, 0, N_ELEMS(races));
	tcase_add_test(tc, append_snapshots_in_sync_mode);
	suite_add_tcase(s, tc);

	tc = tcase_create("snapshot");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, snapshot_folds_and_saves);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_db(aggregate_suite(), "check_aggregate", &conninfo);
}
