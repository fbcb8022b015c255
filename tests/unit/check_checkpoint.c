/* check_checkpoint.c - subscription checkpoints (subs/checkpoint.h)
 * against a real PostgreSQL: the first row per start_from, moves and their
 * refusal, a move inside a caller's transaction, progress, and the reset
 * of subs/rebuild.h, which is checkpoints first (it shares their fixtures). */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/uuidtext.h"
#include "pg/db.h"
#include "pg/sqlstate.h"
#include "store/feed.h"
#include "subs/checkpoint.h"
#include "subs/rebuild.h"
#include "subs/dlq.h"
#include "subs/sqlfile.h"
#include "subs/subscription.h"
#include "check_scratch.h"

/* A subscription named name (its own per test, so tests do not meet),
 * partitions partitions, starting per start. Strings are borrowed. */
static struct subscription sub_conf(const char *name, int partitions, enum sub_start start,
				    int64_t start_position)
{
	struct subscription c;

	memset(&c, 0, sizeof c);
	c.name = (char *)name;
	c.partitions = partitions;
	c.start_from = start;
	c.start_position = start_position;
	c.sql_file = (char *)"proj.sql";
	return c;
}

static struct feed_cursor stored(struct db *db, const char *name, int partition)
{
	char sql[160];
	struct feed_cursor c;

	snprintf(sql, sizeof sql, "SELECT transaction_id::text::bigint FROM evstore.checkpoints"
		 " WHERE subscription = '%s' AND partition = %d", name, partition);
	c.txid = (uint64_t)sql_int(db, sql);
	snprintf(sql, sizeof sql, "SELECT position FROM evstore.checkpoints"
		 " WHERE subscription = '%s' AND partition = %d", name, partition);
	c.position = sql_int(db, sql);
	return c;
}

static int64_t count_where(struct db *db, const char *table, const char *name)
{
	char sql[160];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE subscription = '%s'", table, name);
	return sql_int(db, sql);
}

/* The first checkpoint of each start_from. */
START_TEST(test_load_creates_per_start)
{
	struct db *db = migrated_db();
	struct subscription c;
	struct feed_cursor cur, again;
	char id[UUIDTEXT_LEN], sql[160];
	int64_t pos[3], xmin;

	uuidtext_v7(id);
	append_events(db, NULL, "Order", id, "OrderCreated", 3, NULL, pos);
	await_horizon(db);

	c = sub_conf("ck_beginning", 1, SUB_START_BEGINNING, 0);
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &cur), ES_OK);
	ck_assert_uint_eq(cur.txid, 0);
	ck_assert_int_eq(cur.position, 0);

	/* end: everything committed now, at the horizon */
	c = sub_conf("ck_end", 1, SUB_START_END, 0);
	xmin = sql_int(db, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint");
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &cur), ES_OK);
	ck_assert_uint_ge(cur.txid, (uint64_t)xmin - 1);
	ck_assert_int_eq(cur.position, INT64_MAX);

	/* a position: just before the event there */
	c = sub_conf("ck_position", 2, SUB_START_POSITION, pos[1]);
	ck_assert_int_eq(checkpoint_load(db, &c, 1, &cur), ES_OK);
	ck_assert_int_eq(cur.position, pos[1] - 1);
	snprintf(sql, sizeof sql, "SELECT transaction_id::text::bigint FROM evstore.events"
		 " WHERE position = %" PRId64, pos[1]);
	ck_assert_uint_eq(cur.txid, (uint64_t)sql_int(db, sql));
	/* a position past every event: the horizon */
	c = sub_conf("ck_position_past", 1, SUB_START_POSITION, INT64_MAX - 1);
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &cur), ES_OK);
	ck_assert_int_eq(cur.position, INT64_MAX);

	/* a stored checkpoint is read as it is, whatever start_from says now */
	c = sub_conf("ck_position", 2, SUB_START_BEGINNING, 0);
	ck_assert_int_eq(checkpoint_load(db, &c, 1, &again), ES_OK);
	ck_assert_int_eq(again.position, pos[1] - 1);
	ck_assert_int_eq(count_where(db, "evstore.checkpoints", "ck_position"), 1);
	db_free(db);
}
END_TEST

/* A move names where it starts from; from elsewhere it is refused and
 * changes nothing. */
START_TEST(test_save_and_conflict)
{
	struct db *db = migrated_db();
	struct subscription c = sub_conf("ck_save", 1, SUB_START_BEGINNING, 0);
	struct feed_cursor zero, a = { 5, 10 }, b = { 7, 3 }, cur;

	ck_assert_int_eq(checkpoint_load(db, &c, 0, &zero), ES_OK);
	ck_assert_int_eq(checkpoint_save(db, "ck_save", 0, &zero, &a), ES_OK);
	cur = stored(db, "ck_save", 0);
	ck_assert(checkpoint_equal(&cur, &a));
	/* from a cursor it is not at */
	ck_assert_int_eq(checkpoint_save(db, "ck_save", 0, &zero, &b), ES_EMOVED);
	cur = stored(db, "ck_save", 0);
	ck_assert(checkpoint_equal(&cur, &a));
	/* a partition without a row is not at any cursor */
	ck_assert_int_eq(checkpoint_save(db, "ck_save", 3, &zero, &b), ES_EMOVED);
	ck_assert_int_eq(checkpoint_save(db, "ck_save", 0, &a, &b), ES_OK);
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &cur), ES_OK);
	ck_assert(checkpoint_equal(&cur, &b));
	db_free(db);
}
END_TEST

/* A move inside the caller's transaction commits or rolls back with the
 * rest of it: a refused move takes the read model's changes with it. */
START_TEST(test_move_in_transaction)
{
	struct db *db = migrated_db();
	struct subscription c = sub_conf("ck_txn", 1, SUB_START_BEGINNING, 0);
	struct feed_cursor zero, a = { 9, 1 }, elsewhere = { 1, 1 }, cur;
	struct checkpoint_move m;

	exec_ok(db, "CREATE TABLE ck_model (n int)");
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &zero), ES_OK);

	checkpoint_move_init(&m, "ck_txn", 0, &zero, &a);
	ck_assert_int_eq(m.nparams, 6);
	ck_assert_str_eq(m.values[0], "ck_txn");
	ck_assert_ptr_nonnull(strstr(m.sql, "checkpoint_advance"));
	exec_ok(db, "BEGIN");
	exec_ok(db, "INSERT INTO ck_model VALUES (1)");
	ck_assert_int_eq(checkpoint_move_run(db, &m), ES_OK);
	exec_ok(db, "ROLLBACK");
	cur = stored(db, "ck_txn", 0);
	ck_assert(checkpoint_equal(&cur, &zero));

	checkpoint_move_init(&m, "ck_txn", 0, &elsewhere, &a);
	exec_ok(db, "BEGIN");
	exec_ok(db, "INSERT INTO ck_model VALUES (2)");
	ck_assert_int_eq(checkpoint_move_run(db, &m), ES_EMOVED);
	ck_assert_str_eq(db_last_sqlstate(db), SQLSTATE_CHECKPOINT_MOVED);
	exec_ok(db, "ROLLBACK");
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM ck_model"), 0);

	checkpoint_move_init(&m, "ck_txn", 0, &zero, &a);
	exec_ok(db, "BEGIN");
	exec_ok(db, "INSERT INTO ck_model VALUES (3)");
	ck_assert_int_eq(checkpoint_move_run(db, &m), ES_OK);
	exec_ok(db, "COMMIT");
	cur = stored(db, "ck_txn", 0);
	ck_assert(checkpoint_equal(&cur, &a));
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM ck_model"), 1);
	db_free(db);
}
END_TEST

/* Parks one of the events at pos for subscription name, partition 0. */
static void park_one(struct db *db, const char *name, int64_t pos)
{
	struct feed_page pg;
	struct dlq_failure f = { .subscription = name, .error = "boom",
				 .error_class = "permanent", .attempts = 1, .first_failed_usec = 1 };
	struct checkpoint_move m;
	struct feed_cursor from = stored(db, name, 0), to;

	ck_assert_int_eq(feed_read_positions(db, &pos, 1, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, 1);
	f.ev = &pg.ev[0];
	to = feed_event_cursor(&pg.ev[0]);
	checkpoint_move_init(&m, name, 0, &from, &to);
	ck_assert_int_eq(dlq_park(db, &f, &m), ES_OK);
	feed_page_free(&pg);
}

/* The reset: read model emptied, DLQ cleared, every partition back at the
 * start, the backlog measured; a runner's move from before it is refused. */
START_TEST(test_rebuild)
{
	struct db *db = migrated_db();
	struct subscription c = sub_conf("ck_rebuild", 3, SUB_START_BEGINNING, 0);
	char *statements[] = { (char *)"DELETE FROM ck_rm", (char *)"INSERT INTO ck_rm VALUES (0)" };
	struct sqlfile_section truncate = { NULL, statements, 2 };
	struct rebuild_reset t;
	struct feed_cursor zero, at, cur;
	char id[UUIDTEXT_LEN], type[32], filter[48], err[256];
	int64_t pos[4];

	snprintf(type, sizeof type, "Rebuild%d", (int)getpid());
	snprintf(filter, sizeof filter, "{\"%s\"}", type);
	c.aggregate_types = filter;
	exec_ok(db, "CREATE TABLE ck_rm (n int)");
	exec_ok(db, "INSERT INTO ck_rm SELECT generate_series(1, 5)");
	uuidtext_v7(id);
	append_events(db, NULL, type, id, "Done", 4, NULL, pos);
	await_horizon(db);
	/* partitions 0 and 1 exist and have moved; 2 has no row yet */
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &zero), ES_OK);
	ck_assert_int_eq(checkpoint_load(db, &c, 1, &cur), ES_OK);
	at.txid = 1;
	at.position = pos[1];
	ck_assert_int_eq(checkpoint_save(db, "ck_rebuild", 1, &zero, &at), ES_OK);
	park_one(db, "ck_rebuild", pos[0]);
	park_one(db, "ck_rebuild", pos[2]);
	ck_assert_int_eq(count_where(db, "evstore.dlq", "ck_rebuild"), 2);

	ck_assert_msg(rebuild_reset(db, &c, &truncate, &t, err, sizeof err) == ES_OK, "%s", err);
	ck_assert_int_eq(t.dlq_cleared, 2);
	ck_assert_int_eq(t.events, 4);
	ck_assert(t.have_last);
	ck_assert_int_eq(t.last.position, pos[3]);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM ck_rm"), 1);
	ck_assert_int_eq(count_where(db, "evstore.dlq", "ck_rebuild"), 0);
	ck_assert_int_eq(count_where(db, "evstore.checkpoints", "ck_rebuild"), 3);
	for (int p = 0; p < 3; p++) {
		cur = stored(db, "ck_rebuild", p);
		ck_assert(checkpoint_equal(&cur, &(struct feed_cursor){ 0, 0 }));
	}
	/* a runner that read partition 1 before the reset cannot move it on */
	ck_assert_int_eq(checkpoint_save(db, "ck_rebuild", 1, &at, &t.last), ES_EMOVED);

	/* a truncate statement that fails: nothing changed */
	ck_assert_int_eq(checkpoint_save(db, "ck_rebuild", 1, &zero, &at), ES_OK);
	park_one(db, "ck_rebuild", pos[0]);
	statements[1] = (char *)"INSERT INTO ck_no_such_table VALUES (0)";
	ck_assert_int_ne(rebuild_reset(db, &c, &truncate, &t, err, sizeof err), ES_OK);
	ck_assert_msg(strncmp(err, "proj.sql: truncate: ", 20) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "ck_no_such_table"));
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM ck_rm"), 1);
	ck_assert_int_eq(count_where(db, "evstore.dlq", "ck_rebuild"), 1);
	cur = stored(db, "ck_rebuild", 1);
	ck_assert(checkpoint_equal(&cur, &at));
	/* the connection is usable again */
	ck_assert_int_eq(sql_int(db, "SELECT 1"), 1);
	db_free(db);
}
END_TEST

/* How far the partitions have got towards a target. */
START_TEST(test_progress)
{
	struct db *db = migrated_db();
	struct subscription c = sub_conf("ck_progress", 2, SUB_START_BEGINNING, 0);
	struct feed_cursor zero, target = { 100, 50 }, mid = { 100, 20 }, past = { 101, 1 };
	int64_t min;
	bool passed;

	ck_assert_int_eq(checkpoint_progress(db, "ck_progress", 2, &target, &min, &passed), ES_OK);
	ck_assert_int_eq(min, 0);
	ck_assert(!passed);
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &zero), ES_OK);
	ck_assert_int_eq(checkpoint_save(db, "ck_progress", 0, &zero, &target), ES_OK);
	/* partition 1 has no row: not passed */
	ck_assert_int_eq(checkpoint_progress(db, "ck_progress", 2, &target, &min, &passed), ES_OK);
	ck_assert_int_eq(min, 50);
	ck_assert(!passed);
	ck_assert_int_eq(checkpoint_load(db, &c, 1, &zero), ES_OK);
	ck_assert_int_eq(checkpoint_save(db, "ck_progress", 1, &zero, &mid), ES_OK);
	ck_assert_int_eq(checkpoint_progress(db, "ck_progress", 2, &target, &min, &passed), ES_OK);
	ck_assert_int_eq(min, 20);
	ck_assert(!passed);
	ck_assert_int_eq(checkpoint_save(db, "ck_progress", 1, &mid, &past), ES_OK);
	ck_assert_int_eq(checkpoint_progress(db, "ck_progress", 2, &target, &min, &passed), ES_OK);
	ck_assert_int_eq(min, 1);
	ck_assert(passed);
	/* only the partitions asked about count */
	ck_assert_int_eq(checkpoint_progress(db, "ck_progress", 1, &target, &min, &passed), ES_OK);
	ck_assert_int_eq(min, 50);
	ck_assert(passed);
	db_free(db);
}
END_TEST

static Suite *checkpoint_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tcase_create("checkpoint");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_load_creates_per_start);
	tcase_add_test(tc, test_save_and_conflict);
	tcase_add_test(tc, test_move_in_transaction);
	tcase_add_test(tc, test_rebuild);
	tcase_add_test(tc, test_progress);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_checkpoint", checkpoint_suite);
}
