/* check_db.c - the one door to libpq against a real server: session epochs
 * across reconnects and resets, typed statements, pipelines, and the
 * checkpoint-moved status of the migrated schema. Runs in a scratch
 * database (test_helpers.h); the SQLSTATE table is check_sqlstate. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "base/sbuf.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "pg/sqlstate.h"
#include "test_helpers.h"

/* key=value connection string of the scratch database */
static char *test_conninfo;

/* ---- helpers ------------------------------------------------------------ */

static struct db *test_db(void)
{
	struct db *db = db_new(test_conninfo, 5);

	ck_assert_ptr_nonnull(db);
	db_set_application_name(db, "check_db");
	ck_assert_int_eq(db_ensure(db), ES_OK);
	return db;
}

static struct db *migrated_db(void)
{
	struct db *db = test_db_open(test_conninfo, "check_db");
	int version;

	ck_assert_int_eq(migrate_current_version(db, &version), ES_OK);
	ck_assert_int_eq(version, migrate_expected_version());
	return db;
}

#define exec_ok test_sql_exec

/* The first column of the first row, as a new string. */
static char *sql_text(struct db *db, const char *sql)
{
	PGresult *r;
	char *v;

	ck_assert_msg(db_exec_sql(db, sql, &r) == ES_OK, "%s: %s", sql, db_last_error(db));
	ck_assert_int_eq(PQntuples(r), 1);
	v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static long sql_long(struct db *db, const char *sql)
{
	char *s = sql_text(db, sql);
	long v = strtol(s, NULL, 10);

	free(s);
	return v;
}

/* Ends victim's session from a second one, as an operator would. */
static void terminate_session(struct db *victim)
{
	struct db *admin = test_db();
	long pid = sql_long(victim, "SELECT pg_backend_pid()");
	char sql[96];

	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%ld, 5000)", pid);
	exec_ok(admin, sql);
	db_free(admin);
}

/* Sends stderr (where the log goes before log_open) to a new file until
 * log_capture_end, which returns what was written (a new string). */
struct log_capture {
	int saved;
	char path[64];
};

static void log_capture_begin(struct log_capture *c)
{
	int fd;

	snprintf(c->path, sizeof c->path, "/tmp/check_db_log.XXXXXX");
	fd = mkstemp(c->path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

static char *log_capture_end(struct log_capture *c)
{
	FILE *f;
	struct sbuf b = SBUF_INIT;
	char line[1024];
	char *s;

	fflush(stderr);
	ck_assert_int_ge(dup2(c->saved, STDERR_FILENO), 0);
	close(c->saved);
	f = fopen(c->path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f))
		sbuf_puts(&b, line);
	fclose(f);
	unlink(c->path);
	s = strdup(sbuf_cstr(&b));
	sbuf_free(&b);
	return s;
}

/* ---- sessions ----------------------------------------------------------- */

/* Every new session has a new epoch, a lost one none; the metric counts
 * the sessions after the first. */
START_TEST(test_epoch_follows_the_session)
{
	struct db *db = db_new(test_conninfo, 5);
	unsigned long first, second, third;

	ck_assert_uint_eq(db_session_epoch(db), 0);
	ck_assert(!db_connected(db));
	ck_assert_ptr_null(db_server_version(db));
	ck_assert_int_eq(db_ensure(db), ES_OK);
	first = db_session_epoch(db);
	ck_assert_uint_ne(first, 0);
	ck_assert(db_connected(db));
	ck_assert_uint_eq(db_session_epoch(db), first); /* asking changes nothing */

	terminate_session(db);
	/* the statement that meets the dead session fails, and the epoch
	 * says at once that there is none... */
	ck_assert_int_eq(db_exec_sql(db, "SELECT 1", NULL), ES_EUNAVAILABLE);
	ck_assert_uint_eq(db_session_epoch(db), 0);
	ck_assert(!db_connected(db));
	ck_assert_uint_eq(db_failures(db, DB_FAILURE_SESSION_LOST), 1);
	ck_assert_str_eq(db_failure_name(DB_FAILURE_SESSION_LOST), "session_lost");
	/* ...and the next session has a number of its own */
	ck_assert_int_eq(db_ensure(db), ES_OK);
	second = db_session_epoch(db);
	ck_assert_uint_ne(second, 0);
	ck_assert_uint_ne(second, first);
	ck_assert_uint_eq(db_reconnects(db), 1);

	ck_assert_int_eq(db_reset(db), ES_OK);
	third = db_session_epoch(db);
	ck_assert_uint_ne(third, 0);
	ck_assert_uint_ne(third, first);
	ck_assert_uint_ne(third, second);
	ck_assert_uint_eq(db_reconnects(db), 2);
	db_free(db);
}
END_TEST

/* A failed connection attempt is counted as such; the attempts the
 * backoff refuses without trying are not. */
START_TEST(test_connect_failures_counted)
{
	struct db *db = db_new("host=/nonexistent-evstore-socket-dir dbname=x", 1);

	ck_assert_int_eq(db_ensure(db), ES_EUNAVAILABLE);
	ck_assert_int_eq(db_ensure(db), ES_EUNAVAILABLE); /* inside the backoff */
	ck_assert_uint_eq(db_failures(db, DB_FAILURE_CONNECT), 1);
	ck_assert_str_eq(db_failure_name(DB_FAILURE_CONNECT), "connect");
	ck_assert_uint_eq(db_failures(db, DB_FAILURE_SESSION_LOST), 0);
	ck_assert_uint_eq(db_failures(db, DB_FAILURE_KINDS), 0);
	db_free(db);
}
END_TEST

/* A reset opens a new server session that LISTENs on the same channels
 * and has none of the old one's prepared statements. */
START_TEST(test_reset_listens_again_and_forgets_statements)
{
	struct db *db = test_db();
	long pid_before, pid_after;
	char *channels;

	ck_assert_int_eq(db_listen(db, "check_db_channel"), ES_OK);
	ck_assert_int_eq(db_prepare_named(db, "check_db_reset", "SELECT 1", 0, NULL), ES_OK);
	ck_assert_int_eq(sql_long(db, "SELECT count(*) FROM pg_prepared_statements"
				  " WHERE name = 'check_db_reset'"), 1);
	pid_before = sql_long(db, "SELECT pg_backend_pid()");

	ck_assert_int_eq(db_reset(db), ES_OK);
	pid_after = sql_long(db, "SELECT pg_backend_pid()");
	ck_assert_int_ne(pid_before, pid_after);
	channels = sql_text(db, "SELECT string_agg(c, ',') FROM pg_listening_channels() c");
	ck_assert_str_eq(channels, "check_db_channel");
	free(channels);
	ck_assert_int_eq(sql_long(db, "SELECT count(*) FROM pg_prepared_statements"
				  " WHERE name = 'check_db_reset'"), 0);
	/* db.c's own statements are prepared again on the new session */
	ck_assert_int_eq(migrate_current_version(db, &(int){ 0 }), ES_OK);
	db_free(db);
}
END_TEST

START_TEST(test_server_version)
{
	struct db *db = test_db();
	const char *v = db_server_version(db);
	char *shown;

	ck_assert_ptr_nonnull(v);
	shown = sql_text(db, "SHOW server_version");
	ck_assert_str_eq(v, shown);
	free(shown);
	db_free(db);
}
END_TEST

/* A session runs without JIT (the feed page's estimate grows with the
 * table and would switch it on), and with the configured statement
 * timeout; the conninfo's own options are kept beside them. */
START_TEST(test_session_settings)
{
	struct db *db = test_db();
	char *jit, *timeout, *given;
	char conninfo[1024];

	jit = sql_text(db, "SHOW jit");
	ck_assert_str_eq(jit, "off");
	free(jit);
	db_free(db);

	if (strncmp(test_conninfo, "postgres", 8) == 0) /* a URL */
		snprintf(conninfo, sizeof conninfo, "%s%soptions=-c%%20work_mem%%3D7MB", test_conninfo,
			 strchr(test_conninfo, '?') ? "&" : "?");
	else
		snprintf(conninfo, sizeof conninfo, "%s options='-c work_mem=7MB'", test_conninfo);
	db = db_new(conninfo, 5);
	ck_assert_ptr_nonnull(db);
	db_set_statement_timeout(db, 4321);
	jit = sql_text(db, "SHOW jit");
	timeout = sql_text(db, "SHOW statement_timeout");
	given = sql_text(db, "SHOW work_mem");
	ck_assert_str_eq(jit, "off");
	ck_assert_str_eq(timeout, "4321ms");
	ck_assert_str_eq(given, "7MB");
	free(jit);
	free(timeout);
	free(given);
	db_free(db);
}
END_TEST

/* A statement answering one number: its value, 0 for no row or NULL, and
 * a failure's status. */
START_TEST(test_exec_params_int64)
{
	struct db *db = test_db();
	const char *five[1] = { "5" };
	int64_t v = -1;

	ck_assert_int_eq(db_exec_params_int64(db, "t", "SELECT count(*) FROM generate_series(1, $1::int)",
					      1, five, &v), ES_OK);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(db_exec_params_int64(db, "t", "SELECT 1 WHERE false", 0, NULL, &v), ES_OK);
	ck_assert_int_eq(v, 0);
	v = -1;
	ck_assert_int_eq(db_exec_params_int64(db, "t", "SELECT NULL::bigint", 0, NULL, &v), ES_OK);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(db_exec_params_int64(db, "t", "SELECT 'x'::int", 0, NULL, &v), ES_EINVAL);
	ck_assert_int_eq(v, 0);
	db_free(db);
}
END_TEST

/* Reading values of a result: numbers, booleans, NULL. */
START_TEST(test_result_values)
{
	struct db *db = test_db();
	PGresult *r;

	ck_assert_int_eq(db_exec_sql(db, "SELECT -42::bigint, true, false, NULL::text, 'x'", &r), ES_OK);
	ck_assert_int_eq(db_value_int64(r, 0, 0), -42);
	ck_assert(db_value_bool(r, 0, 1));
	ck_assert(!db_value_bool(r, 0, 2));
	ck_assert_ptr_null(db_value_or_null(r, 0, 3));
	ck_assert_str_eq(db_value_or_null(r, 0, 4), "x");
	PQclear(r);
	db_free(db);
}
END_TEST

/* ---- statements named by the caller -------------------------------------- */

static const struct {
	enum db_type type;
	const char *sql;
	const char *want;   /* pg_prepared_statements.parameter_types */
} typed_cases[] = {
	{ DB_TYPE_JSON, "SELECT $1::text", "{json}" },
	{ DB_TYPE_JSONB, "SELECT $1::text", "{jsonb}" },
	{ DB_TYPE_UNSPECIFIED, "SELECT $1::int + 1", "{integer}" },
};

START_TEST(test_prepare_named_types)
{
	struct db *db = test_db();
	char name[32], sql[160];
	char *types;

	snprintf(name, sizeof name, "check_db_typed_%d", _i);
	ck_assert_int_eq(db_prepare_named(db, name, typed_cases[_i].sql, 1, &typed_cases[_i].type),
			 ES_OK);
	snprintf(sql, sizeof sql, "SELECT parameter_types::text FROM pg_prepared_statements"
		 " WHERE name = '%s'", name);
	types = sql_text(db, sql);
	ck_assert_str_eq(types, typed_cases[_i].want);
	free(types);
	/* a name the session knows already is fine */
	ck_assert_int_eq(db_prepare_named(db, name, typed_cases[_i].sql, 1, &typed_cases[_i].type),
			 ES_OK);
	db_free(db);
}
END_TEST

START_TEST(test_prepare_named_failures)
{
	struct db *db = db_new(test_conninfo, 5);
	const enum db_type t = DB_TYPE_JSONB;

	/* it never connects by itself */
	ck_assert_int_eq(db_prepare_named(db, "check_db_nosession", "SELECT 1", 0, NULL),
			 ES_EUNAVAILABLE);
	ck_assert_uint_eq(db_session_epoch(db), 0);
	ck_assert_int_eq(db_ensure(db), ES_OK);
	ck_assert_int_eq(db_prepare_named(db, "check_db_syntax", "SELEC $1", 1, &t), ES_EDB);
	ck_assert_str_eq(db_last_sqlstate(db), "42601");
	ck_assert_str_ne(db_last_error(db), "");
	ck_assert_int_eq(db_prepare_named(db, "check_db_notable", "SELECT $1 FROM no_such_table",
					  1, &t), ES_EDB);
	ck_assert_str_eq(db_last_sqlstate(db), "42P01");
	ck_assert_uint_eq(db_reconnects(db), 0);
	/* both counted as unexpected failures, nothing else */
	ck_assert_uint_eq(db_failures(db, DB_FAILURE_OTHER), 2);
	ck_assert_str_eq(db_failure_name(DB_FAILURE_OTHER), "other");
	for (int k = 0; k < DB_FAILURE_KINDS; k++)
		if (k != DB_FAILURE_OTHER)
			ck_assert_uint_eq(db_failures(db, (enum db_failure)k), 0);
	db_free(db);
}
END_TEST

/* ---- pipelines ------------------------------------------------------------ */

#define PIPE_TABLE "CREATE TABLE IF NOT EXISTS check_db_pipe (id int PRIMARY KEY, " \
	"v int NOT NULL CHECK (v >= 0), doc jsonb)"
#define PIPE_INSERT "INSERT INTO check_db_pipe (id, v) VALUES ($1::int, $2::int)"

/* Sends one insert of (id, v) as text parameters. */
static void send_insert(struct db *db, const char *id, const char *v)
{
	const char *values[2] = { id, v };

	db_pipeline_send_params(db, PIPE_INSERT, 2, values);
}

static long pipe_rows(struct db *db)
{
	return sql_long(db, "SELECT count(*) FROM check_db_pipe");
}

START_TEST(test_pipeline_commits_together)
{
	struct db *db = test_db();
	const enum db_type t = DB_TYPE_JSONB;
	const char *doc[1] = { "{\"id\": 12}" };
	unsigned long epoch;
	size_t failed = 99;

	exec_ok(db, PIPE_TABLE);
	exec_ok(db, "TRUNCATE check_db_pipe");
	ck_assert_int_eq(db_prepare_named(db, "check_db_pipe_doc",
					  "INSERT INTO check_db_pipe (id, v, doc)"
					  " VALUES (($1->>'id')::int, 0, $1)", 1, &t), ES_OK);
	epoch = db_session_epoch(db);
	ck_assert_int_eq(db_pipeline_begin(db), ES_OK);
	send_insert(db, "10", "1");
	send_insert(db, "11", "2");
	db_pipeline_send_prepared(db, "check_db_pipe_doc", 1, doc);
	ck_assert_int_eq(db_pipeline_sync(db, &failed), ES_OK);
	ck_assert_int_eq(pipe_rows(db), 3);
	ck_assert_int_eq(sql_long(db, "SELECT (doc->>'id')::int FROM check_db_pipe WHERE id = 12"),
			 12);
	ck_assert_uint_eq(db_session_epoch(db), epoch);
	db_free(db);
}
END_TEST

/* A statement failing in the middle: its index, its class, and nothing of
 * the batch committed, the statements before it included; the session
 * stays and takes the next pipeline. */
static const struct {
	const char *id, *v;         /* the middle insert */
	enum es_status want;
	const char *sqlstate;
} middle_cases[] = {
	{ "21", "-1", ES_EINVAL, "23514" },      /* check constraint */
	{ "20", "1", ES_EDUPLICATE, "23505" },   /* the first insert's key */
	{ "21", "x", ES_EINVAL, "22P02" },       /* not an integer */
};

START_TEST(test_pipeline_failure_in_the_middle)
{
	struct db *db = test_db();
	unsigned long epoch;
	size_t failed = 99;
	struct log_capture cap;
	char *log;

	exec_ok(db, PIPE_TABLE);
	exec_ok(db, "TRUNCATE check_db_pipe");
	epoch = db_session_epoch(db);
	ck_assert_int_eq(db_pipeline_begin(db), ES_OK);
	send_insert(db, "20", "1");
	send_insert(db, middle_cases[_i].id, middle_cases[_i].v);
	send_insert(db, "22", "3");
	log_capture_begin(&cap);
	ck_assert_int_eq(db_pipeline_sync(db, &failed), middle_cases[_i].want);
	log = log_capture_end(&cap);
	ck_assert_uint_eq(failed, 1);
	ck_assert_str_eq(db_last_sqlstate(db), middle_cases[_i].sqlstate);
	/* bad input is the caller's doing: a notice, not an error */
	ck_assert_msg(strstr(log, "\"level\":\"notice\"") && !strstr(log, "\"level\":\"error\""),
		      "%s", log);
	free(log);
	ck_assert_int_eq(pipe_rows(db), 0);
	ck_assert_uint_eq(db_session_epoch(db), epoch);

	ck_assert_int_eq(db_pipeline_begin(db), ES_OK);
	send_insert(db, "20", "1");
	ck_assert_int_eq(db_pipeline_sync(db, &failed), ES_OK);
	ck_assert_int_eq(pipe_rows(db), 1);
	db_free(db);
}
END_TEST

/* The session dies before the pipeline: unavailable, no statement to
 * blame, nothing committed, and the next session works. */
START_TEST(test_pipeline_session_lost)
{
	struct db *db = test_db();
	unsigned long epoch;
	size_t failed = 99;

	exec_ok(db, PIPE_TABLE);
	exec_ok(db, "TRUNCATE check_db_pipe");
	epoch = db_session_epoch(db);
	terminate_session(db);
	if (db_pipeline_begin(db) == ES_OK) { /* libpq may not have noticed yet */
		send_insert(db, "30", "1");
		send_insert(db, "31", "1");
		ck_assert_int_eq(db_pipeline_sync(db, &failed), ES_EUNAVAILABLE);
		ck_assert(failed == 2 || failed == 0);
	}
	ck_assert_uint_ne(db_session_epoch(db), epoch);
	ck_assert_int_eq(db_ensure(db), ES_OK);
	ck_assert_uint_ne(db_session_epoch(db), epoch);
	ck_assert_int_eq(pipe_rows(db), 0);
	ck_assert_int_eq(db_pipeline_begin(db), ES_OK);
	send_insert(db, "30", "1");
	ck_assert_int_eq(db_pipeline_sync(db, &failed), ES_OK);
	ck_assert_int_eq(pipe_rows(db), 1);
	db_free(db);
}
END_TEST

START_TEST(test_pipeline_needs_a_session)
{
	struct db *db = db_new(test_conninfo, 5);

	ck_assert_int_eq(db_pipeline_begin(db), ES_EUNAVAILABLE);
	ck_assert_uint_eq(db_session_epoch(db), 0); /* it did not connect */
	db_free(db);
}
END_TEST

/* ---- the migrated checkpoint function ------------------------------------ */

#define ADVANCE_SQL \
	"SELECT evstore.checkpoint_advance($1, 0, $2::xid8, $3::bigint, $4::xid8, $5::bigint)"

/* evstore.checkpoint_advance from a place the checkpoint is not at raises
 * the checkpoint-moved code: ES_EMOVED, logged as a notice, never an
 * error; in a pipeline it takes the batch's other statements with it. */
START_TEST(test_checkpoint_moved)
{
	struct db *db = migrated_db();
	const char *stale[5] = { "check_db_sub", "5", "1", "6", "2" };
	const char *fresh[5] = { "check_db_sub", "0", "0", "7", "3" };
	struct log_capture cap;
	size_t failed = 99;
	char *log;

	exec_ok(db, PIPE_TABLE);
	exec_ok(db, "TRUNCATE check_db_pipe");
	exec_ok(db, "INSERT INTO evstore.checkpoints (subscription, partition)"
		" VALUES ('check_db_sub', 0) ON CONFLICT DO NOTHING");

	log_capture_begin(&cap);
	ck_assert_int_eq(db_exec_params(db, "checkpoint_advance", ADVANCE_SQL, 5, stale, NULL),
			 ES_EMOVED);
	log = log_capture_end(&cap);
	ck_assert_str_eq(db_last_sqlstate(db), SQLSTATE_CHECKPOINT_MOVED);
	ck_assert_msg(strstr(log, "\"sqlstate\":\"V1C01\"") && strstr(log, "\"level\":\"notice\"")
		      && !strstr(log, "\"level\":\"error\""), "%s", log);
	free(log);

	ck_assert_int_eq(db_pipeline_begin(db), ES_OK);
	send_insert(db, "40", "1");
	db_pipeline_send_params(db, ADVANCE_SQL, 5, stale);
	ck_assert_int_eq(db_pipeline_sync(db, &failed), ES_EMOVED);
	ck_assert_uint_eq(failed, 1);
	ck_assert_int_eq(pipe_rows(db), 0);

	/* from where it is, it moves, with the batch */
	ck_assert_int_eq(db_pipeline_begin(db), ES_OK);
	send_insert(db, "40", "1");
	db_pipeline_send_params(db, ADVANCE_SQL, 5, fresh);
	ck_assert_int_eq(db_pipeline_sync(db, &failed), ES_OK);
	ck_assert_int_eq(pipe_rows(db), 1);
	ck_assert_int_eq(sql_long(db, "SELECT position FROM evstore.checkpoints"
				  " WHERE subscription = 'check_db_sub'"), 3);
	db_free(db);
}
END_TEST

/* ---- COPY ---------------------------------------------------------------- */

/* COPY TO STDOUT: one row per call, as the server wrote it, then the end;
 * the session goes on afterwards. */
START_TEST(test_copy_out_rows)
{
	struct db *db = test_db();
	const char *row;
	size_t len;
	int64_t n = 0;

	ck_assert_int_eq(db_copy_out_begin(db, "COPY (SELECT g, E'a\\tb' FROM generate_series(1, 3) g)"
					   " TO STDOUT"), ES_OK);
	ck_assert_int_eq(db_copy_out_next(db, &row, &len), ES_OK);
	ck_assert_uint_eq(len, 7);
	ck_assert_int_eq(memcmp(row, "1\ta\\tb\n", len), 0);
	ck_assert_int_eq(db_copy_out_next(db, &row, &len), ES_OK);
	ck_assert_int_eq(db_copy_out_next(db, &row, &len), ES_OK);
	ck_assert_int_eq(memcmp(row, "3\t", 2), 0);
	ck_assert_int_eq(db_copy_out_next(db, &row, &len), ES_OK);
	ck_assert_ptr_null(row);
	ck_assert_int_eq(db_exec_params_int64(db, "t", "SELECT 5", 0, NULL, &n), ES_OK);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(db_copy_out_begin(db, "COPY (SELECT 1/0) TO STDOUT"), ES_EINVAL);
	db_free(db);
}
END_TEST

/* COPY FROM STDIN: rows kept on a clean end, none after an abort or bad
 * data; the session goes on either way. */
START_TEST(test_copy_in_rows)
{
	struct db *db = test_db();
	int64_t n = -1;

	exec_ok(db, "CREATE TEMPORARY TABLE copied (a int, b text)");
	ck_assert_int_eq(db_copy_in_begin(db, "COPY copied FROM STDIN"), ES_OK);
	db_copy_in_put(db, "1\tx\n2\t", strlen("1\tx\n2\t"));
	db_copy_in_put(db, "y\\tz\n", strlen("y\\tz\n"));
	ck_assert_int_eq(db_copy_in_end(db, NULL), ES_OK);
	ck_assert_int_eq(db_exec_params_int64(db, "t", "SELECT count(*) FROM copied WHERE b IN ('x', E'y\tz')",
					      0, NULL, &n), ES_OK);
	ck_assert_int_eq(n, 2);

	ck_assert_int_eq(db_copy_in_begin(db, "COPY copied FROM STDIN"), ES_OK);
	db_copy_in_put(db, "3\tw\n", strlen("3\tw\n"));
	ck_assert_int_eq(db_copy_in_end(db, "stopped by the test"), ES_EINVAL);
	ck_assert_int_eq(db_copy_in_begin(db, "COPY copied FROM STDIN"), ES_OK);
	db_copy_in_put(db, "x\tw\n", strlen("x\tw\n"));
	ck_assert_int_eq(db_copy_in_end(db, NULL), ES_EINVAL);
	ck_assert_int_eq(db_exec_params_int64(db, "t", "SELECT count(*) FROM copied", 0, NULL, &n), ES_OK);
	ck_assert_int_eq(n, 2);
	db_free(db);
}
END_TEST

/* A quoted literal means the text it was made from. */
START_TEST(test_quote_literal)
{
	static const char *const texts[] = { "plain", "it's", "back\\slash", "{\"a\",\"b\"}", "" };
	struct db *db = test_db();

	for (size_t i = 0; i < N_ELEMS(texts); i++) {
		char *lit = db_quote_literal(db, texts[i]), *sql = NULL, *back;

		ck_assert_ptr_nonnull(lit);
		ck_assert_int_ge(asprintf(&sql, "SELECT %s::text", lit), 0);
		back = sql_text(db, sql);
		ck_assert_str_eq(back, texts[i]);
		free(back);
		free(sql);
		free(lit);
	}
	db_free(db);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("sessions");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_epoch_follows_the_session);
	tcase_add_test(tc, test_connect_failures_counted);
	tcase_add_test(tc, test_reset_listens_again_and_forgets_statements);
	tcase_add_test(tc, test_server_version);
	tcase_add_test(tc, test_session_settings);
	tcase_add_test(tc, test_exec_params_int64);
	tcase_add_test(tc, test_result_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("statements");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_prepare_named_types, 0, (int)N_ELEMS(typed_cases));
	tcase_add_test(tc, test_prepare_named_failures);
	suite_add_tcase(s, tc);

	tc = tcase_create("pipelines");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pipeline_commits_together);
	tcase_add_loop_test(tc, test_pipeline_failure_in_the_middle, 0, (int)N_ELEMS(middle_cases));
	tcase_add_test(tc, test_pipeline_session_lost);
	tcase_add_test(tc, test_pipeline_needs_a_session);
	suite_add_tcase(s, tc);

	tc = tcase_create("copy");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_copy_out_rows);
	tcase_add_test(tc, test_copy_in_rows);
	tcase_add_test(tc, test_quote_literal);
	suite_add_tcase(s, tc);

	tc = tcase_create("checkpoints");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_checkpoint_moved);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_db(db_suite(), "check_db", &test_conninfo);
}
