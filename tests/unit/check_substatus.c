/* check_substatus.c - the runner's status rows (subs/substatus.h) against
 * a real PostgreSQL: the heartbeat upsert, the rows the health judgement
 * reads (and subhealth_load's folding of them), evstorectl partitions'
 * report, the live partitions a rebuild waits for, and which subscriptions
 * the runner knows. */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/uuidtext.h"
#include "pg/db.h"
#include "subs/checkpoint.h"
#include "subs/subhealth.h"
#include "subs/substatus.h"
#include "subs/subscription.h"
#include "check_scratch.h"

static void write_row(struct db *db, const char *name, int partition, const char *state,
		      int64_t processed, const char *last_error)
{
	struct substatus_row row = {
		.subscription = name, .partition = partition, .runner_id = "host:42",
		.state = state, .events_processed = processed, .events_failed = 1,
		.error_rate_per_min = 0.5, .checkpoint_position = 0, .last_error = last_error,
		.last_event_usec = 0, .started_usec = 1700000000000000,
	};

	ck_assert_int_eq(substatus_write(db, &row), ES_OK);
}

/* Moves a row's heartbeat into the past. */
static void age_row(struct db *db, const char *name, int partition, int seconds)
{
	char sql[200];

	snprintf(sql, sizeof sql, "UPDATE evstore.subscription_status SET heartbeat_at = now()"
		 " - make_interval(secs => %d) WHERE subscription = '%s' AND partition = %d",
		 seconds, name, partition);
	exec_ok(db, sql);
}

/* The upsert and what a reader gets back. */
START_TEST(test_write_and_read)
{
	struct db *db = migrated_db();
	struct substatus_row row = {
		.subscription = "ss_rw", .partition = 1, .runner_id = "host:1", .state = "live",
		.events_processed = 7, .events_failed = 2, .error_rate_per_min = 1.25,
		.checkpoint_position = 0, .last_error = "boom",
		.last_event_usec = 1700000000000000, .started_usec = 1700000000000000,
	};
	struct substatus_list l;
	char id[UUIDTEXT_LEN];
	int64_t pos[2];

	uuidtext_v7(id);
	append_events(db, NULL, "Order", id, "OrderCreated", 2, NULL, pos);
	row.checkpoint_position = pos[0];
	ck_assert_int_eq(substatus_write(db, &row), ES_OK);
	exec_ok(db, "INSERT INTO evstore.dlq (subscription, position, transaction_id, event_id,"
		    " event_type, aggregate_type, aggregate_id, status) VALUES"
		    " ('ss_rw', 1, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid(), 'failed'),"
		    " ('ss_rw', 2, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid(), 'resolved')");

	ck_assert_int_eq(substatus_read(db, "ss_rw", 60, &l), ES_OK);
	ck_assert_uint_eq(l.count, 1);
	ck_assert_str_eq(l.items[0].subscription, "ss_rw");
	ck_assert_int_eq(l.items[0].partition, 1);
	ck_assert_str_eq(l.items[0].state, "live");
	ck_assert_int_eq(l.items[0].events_processed, 7);
	ck_assert_int_eq(l.items[0].events_failed, 2);
	ck_assert(l.items[0].error_rate_per_min > 1.24 && l.items[0].error_rate_per_min < 1.26);
	ck_assert_int_ge(l.items[0].lag_events, pos[1] - pos[0]);
	ck_assert_str_eq(l.items[0].last_error, "boom");
	ck_assert_str_eq(l.items[0].last_event_at, "2023-11-14T22:13:20.000000Z");
	ck_assert_int_gt(l.items[0].uptime_seconds, 0);
	ck_assert(!l.items[0].stale);
	ck_assert_int_eq(l.items[0].dlq_count, 1);
	substatus_list_free(&l);

	/* again: the same row, updated; no event since keeps last_event_at */
	row.state = "catching_up";
	row.last_error = NULL;
	row.last_event_usec = 0;
	ck_assert_int_eq(substatus_write(db, &row), ES_OK);
	age_row(db, "ss_rw", 1, 120);
	ck_assert_int_eq(substatus_read(db, "ss_rw", 60, &l), ES_OK);
	ck_assert_uint_eq(l.count, 1);
	ck_assert_str_eq(l.items[0].state, "catching_up");
	ck_assert_ptr_null(l.items[0].last_error);
	ck_assert_str_eq(l.items[0].last_event_at, "2023-11-14T22:13:20.000000Z");
	ck_assert(l.items[0].stale);
	substatus_list_free(&l);

	/* partitions in order; every subscription; an unknown one has no rows */
	write_row(db, "ss_rw", 0, "live", 1, NULL);
	ck_assert_int_eq(substatus_read(db, "ss_rw", 60, &l), ES_OK);
	ck_assert_uint_eq(l.count, 2);
	ck_assert_int_eq(l.items[0].partition, 0);
	ck_assert_int_eq(l.items[1].partition, 1);
	substatus_list_free(&l);
	ck_assert_int_eq(substatus_read(db, NULL, 60, &l), ES_OK);
	ck_assert_uint_ge(l.count, 2);
	substatus_list_free(&l);
	ck_assert_int_eq(substatus_read(db, "ss_none", 60, &l), ES_OK);
	ck_assert_uint_eq(l.count, 0);
	substatus_list_free(&l);
	substatus_list_free(NULL);
	db_free(db);
}
END_TEST

/* subhealth_load sums a subscription's partitions up and judges it. */
START_TEST(test_health_folds_partitions)
{
	struct db *db = migrated_db();
	struct es_config cfg;
	struct subhealth_list l;
	char err[256];

	unsetenv("DATABASE_URL");
	ck_assert_msg(config_load(&cfg, "/dev/null", err, sizeof err), "%s", err);
	write_row(db, "ss_health", 0, "live", 10, NULL);
	write_row(db, "ss_health", 1, "error", 5, "bad row");
	ck_assert_int_eq(subhealth_load(db, &cfg, "ss_health", &l), ES_OK);
	ck_assert_uint_eq(l.count, 1);
	ck_assert(l.running);
	ck_assert_str_eq(l.items[0].name, "ss_health");
	ck_assert_str_eq(l.items[0].state, "error");
	ck_assert_int_eq(l.items[0].events_processed, 15);
	ck_assert_int_eq(l.items[0].events_failed, 2);
	ck_assert_str_eq(l.items[0].last_error, "bad row");
	ck_assert_int_eq(l.items[0].status, SUBHEALTH_UNHEALTHY);
	subhealth_list_free(&l);

	/* stopped or stale partitions are not a running runner */
	write_row(db, "ss_health_quiet", 0, "stopped", 0, NULL);
	write_row(db, "ss_health_quiet", 1, "live", 0, NULL);
	age_row(db, "ss_health_quiet", 1, cfg.health.runner_stale_after + 60);
	ck_assert_int_eq(subhealth_load(db, &cfg, "ss_health_quiet", &l), ES_OK);
	ck_assert_uint_eq(l.count, 1);
	ck_assert(!l.running);
	ck_assert(l.items[0].stale);
	subhealth_list_free(&l);
	config_free(&cfg);
	db_free(db);
}
END_TEST

static const struct substatus_partition *find_part(const struct substatus_partitions *l,
						   const char *name, int partition)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->items[i].subscription, name) == 0 && l->items[i].partition == partition)
			return &l->items[i];
	ck_abort_msg("no partition %s/%d", name, partition);
	return NULL;
}

/* evstorectl partitions: configured and checkpointed partitions, who runs
 * them, their checkpoints and DLQ. */
START_TEST(test_partitions)
{
	struct db *db = migrated_db();
	const char *names[] = { "ss_parts", "ss_parts_idle" };
	const int counts[] = { 3, 1 };
	struct substatus_partitions l;
	struct subscription c;
	struct feed_cursor zero, to = { 5, 42 }, horizon = { 9, INT64_MAX };
	const struct substatus_partition *p;

	memset(&c, 0, sizeof c);
	c.start_from = SUB_START_BEGINNING;
	c.name = (char *)"ss_parts";
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &zero), ES_OK);
	ck_assert_int_eq(checkpoint_save(db, "ss_parts", 0, &zero, &to), ES_OK);
	ck_assert_int_eq(checkpoint_load(db, &c, 1, &zero), ES_OK);
	ck_assert_int_eq(checkpoint_save(db, "ss_parts", 1, &zero, &horizon), ES_OK);
	write_row(db, "ss_parts", 0, "live", 4, NULL);
	write_row(db, "ss_parts", 1, "live", 0, NULL);
	age_row(db, "ss_parts", 1, 600);
	exec_ok(db, "INSERT INTO evstore.dlq (subscription, partition, position, transaction_id,"
		    " event_id, event_type, aggregate_type, aggregate_id) VALUES"
		    " ('ss_parts', 0, 1, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid())");
	/* removed from the configuration, but its checkpoint is still there */
	c.name = (char *)"ss_parts_gone";
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &zero), ES_OK);

	ck_assert_int_eq(substatus_partitions(db, names, counts, 2, NULL, 60, &l), ES_OK);
	p = find_part(&l, "ss_parts", 0);
	ck_assert(p->has_status && p->configured);
	ck_assert_str_eq(p->runner_id, "host:42");
	ck_assert_str_eq(p->state, "live");
	ck_assert_int_ge(p->heartbeat_age_seconds, 0);
	ck_assert(p->has_position && !p->checkpoint_at_horizon);
	ck_assert_int_eq(p->checkpoint_position, 42);
	ck_assert_int_eq(p->events_processed, 4);
	ck_assert_int_eq(p->dlq_count, 1);
	p = find_part(&l, "ss_parts", 1);
	ck_assert_str_eq(p->state, "stale");
	ck_assert_int_ge(p->heartbeat_age_seconds, 600);
	ck_assert(!p->has_position && p->checkpoint_at_horizon);
	p = find_part(&l, "ss_parts", 2);
	ck_assert(!p->has_status && !p->has_position && !p->checkpoint_at_horizon);
	ck_assert_str_eq(p->state, "unclaimed");
	ck_assert_int_eq(p->dlq_count, 0);
	p = find_part(&l, "ss_parts_idle", 0);
	ck_assert_str_eq(p->state, "unclaimed");
	ck_assert(p->configured);
	p = find_part(&l, "ss_parts_gone", 0);
	ck_assert(!p->configured && p->has_position);
	ck_assert_int_eq(p->checkpoint_position, 0);
	substatus_partitions_free(&l);

	/* one subscription; a name neither configured nor checkpointed */
	ck_assert_int_eq(substatus_partitions(db, names, counts, 2, "ss_parts", 60, &l), ES_OK);
	ck_assert_uint_eq(l.count, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(l.items[i].partition, i);
	substatus_partitions_free(&l);
	ck_assert_int_eq(substatus_partitions(db, names, counts, 0, "ss_nothing", 60, &l), ES_OK);
	ck_assert_uint_eq(l.count, 0);
	substatus_partitions_free(&l);
	db_free(db);
}
END_TEST

/* What /metrics reads: each partition's row, its heartbeat's age and its
 * own unresolved DLQ entries. */
START_TEST(test_gauges)
{
	struct db *db = migrated_db();
	struct substatus_gauges l;
	const struct substatus_gauge *g0 = NULL, *g1 = NULL;

	write_row(db, "ss_gauges", 0, "live", 11, NULL);
	write_row(db, "ss_gauges", 1, "error", 3, "boom");
	age_row(db, "ss_gauges", 1, 90);
	exec_ok(db, "INSERT INTO evstore.dlq (subscription, partition, position, transaction_id,"
		    " event_id, event_type, aggregate_type, aggregate_id, status) VALUES"
		    " ('ss_gauges', 1, 1, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid(), 'failed'),"
		    " ('ss_gauges', 1, 2, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid(), 'retrying'),"
		    " ('ss_gauges', 1, 3, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid(), 'resolved'),"
		    " ('ss_gauges', 0, 4, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid(), 'resolved')");
	ck_assert_int_eq(substatus_gauges_read(db, &l), ES_OK);
	for (size_t i = 0; i < l.count; i++) {
		if (strcmp(l.items[i].subscription, "ss_gauges") != 0)
			continue;
		if (l.items[i].partition == 0)
			g0 = &l.items[i];
		else
			g1 = &l.items[i];
	}
	ck_assert_ptr_nonnull(g0);
	ck_assert_ptr_nonnull(g1);
	ck_assert_ptr_eq(g1, g0 + 1); /* ordered by partition */
	ck_assert_str_eq(g0->state, "live");
	ck_assert_int_eq(g0->events_processed, 11);
	ck_assert_int_eq(g0->events_failed, 1);
	ck_assert_int_eq(g0->dlq_entries, 0);
	ck_assert(g0->heartbeat_age_seconds >= 0 && g0->heartbeat_age_seconds < 30);
	ck_assert_str_eq(g1->state, "error");
	ck_assert_int_eq(g1->dlq_entries, 2);
	ck_assert(g1->heartbeat_age_seconds >= 90);
	ck_assert_int_ge(g1->lag_events, 0);
	substatus_gauges_free(&l);
	substatus_gauges_free(NULL);
	db_free(db);
}
END_TEST

/* The partitions a live runner runs: fresh, not stopped. */
START_TEST(test_live_partitions)
{
	struct db *db = migrated_db();
	int n = -1;

	ck_assert_int_eq(substatus_live_partitions(db, "ss_live", 60, &n), ES_OK);
	ck_assert_int_eq(n, 0);
	write_row(db, "ss_live", 0, "live", 0, NULL);
	write_row(db, "ss_live", 1, "catching_up", 0, NULL);
	write_row(db, "ss_live", 2, "stopped", 0, NULL);
	write_row(db, "ss_live", 3, "live", 0, NULL);
	age_row(db, "ss_live", 3, 120);
	ck_assert_int_eq(substatus_live_partitions(db, "ss_live", 60, &n), ES_OK);
	ck_assert_int_eq(n, 2);
	db_free(db);
}
END_TEST

/* A subscription is known by a status row, a checkpoint or DLQ entries. */
START_TEST(test_known)
{
	struct db *db = migrated_db();
	struct subscription c;
	struct feed_cursor at;
	bool known = true;

	ck_assert_int_eq(substatus_known(db, "ss_known_none", &known), ES_OK);
	ck_assert(!known);
	write_row(db, "ss_known_status", 0, "live", 0, NULL);
	ck_assert_int_eq(substatus_known(db, "ss_known_status", &known), ES_OK);
	ck_assert(known);
	memset(&c, 0, sizeof c);
	c.name = (char *)"ss_known_checkpoint";
	ck_assert_int_eq(checkpoint_load(db, &c, 0, &at), ES_OK);
	ck_assert_int_eq(substatus_known(db, "ss_known_checkpoint", &known), ES_OK);
	ck_assert(known);
	exec_ok(db, "INSERT INTO evstore.dlq (subscription, position, transaction_id, event_id,"
		    " event_type, aggregate_type, aggregate_id) VALUES"
		    " ('ss_known_dlq', 1, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid())");
	ck_assert_int_eq(substatus_known(db, "ss_known_dlq", &known), ES_OK);
	ck_assert(known);
	db_free(db);
}
END_TEST

static Suite *substatus_suite(void)
{
	Suite *s = suite_create("substatus");
	TCase *tc = tcase_create("substatus");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_write_and_read);
	tcase_add_test(tc, test_health_folds_partitions);
	tcase_add_test(tc, test_partitions);
	tcase_add_test(tc, test_live_partitions);
	tcase_add_test(tc, test_gauges);
	tcase_add_test(tc, test_known);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_substatus", substatus_suite);
}
