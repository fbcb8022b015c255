/* check_poolstats.c - the pool's shared counters: what forked workers
 * count, their supervisor and /metrics read; a dead worker's busy flag can
 * be cleared; the drain flag set by the supervisor is seen by the workers;
 * values outside the fixed tables land in their "other" entries. */
#include "buildconf.h"

#include <check.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcgi/poolstats.h"
#include "test_helpers.h"

#define WORKERS 4
#define REQUESTS 5000

/* Forks a child running fn(ps, slot) and returns its pid; fn's result is
 * the child's exit status. */
static pid_t fork_child(int (*fn)(struct poolstats *, int), struct poolstats *ps, int slot)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(ps, slot));
	return pid;
}

static int child_status(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int serve_requests(struct poolstats *ps, int slot)
{
	for (int i = 0; i < REQUESTS; i++) {
		poolstats_request_begin(ps, slot);
		poolstats_request_end(ps, slot);
	}
	return 0;
}

START_TEST(test_counts_across_processes)
{
	struct poolstats *ps = poolstats_new(WORKERS);
	struct poolstats_view v;
	pid_t pids[WORKERS];

	ck_assert_ptr_nonnull(ps);
	for (int i = 0; i < WORKERS; i++)
		pids[i] = fork_child(serve_requests, ps, i);
	for (int i = 0; i < WORKERS; i++)
		ck_assert_int_eq(child_status(pids[i]), 0);
	poolstats_read(ps, &v);
	ck_assert_uint_eq(v.requests, (uint64_t)WORKERS * REQUESTS);
	ck_assert_int_eq(v.busy, 0);
	ck_assert(!v.draining);
	poolstats_free(ps);
}
END_TEST

/* A worker that dies inside a request stays busy until the supervisor
 * clears its slot; what it served stays counted. */
static int die_mid_request(struct poolstats *ps, int slot)
{
	poolstats_request_begin(ps, slot);
	poolstats_request_end(ps, slot);
	poolstats_request_begin(ps, slot);
	return 0;
}

START_TEST(test_dead_worker_slot)
{
	struct poolstats *ps = poolstats_new(2);
	struct poolstats_view v;

	ck_assert_ptr_nonnull(ps);
	ck_assert_int_eq(child_status(fork_child(die_mid_request, ps, 1)), 0);
	poolstats_read(ps, &v);
	ck_assert_int_eq(v.busy, 1);
	ck_assert_uint_eq(v.requests, 1);
	poolstats_slot_reset(ps, 1);
	poolstats_read(ps, &v);
	ck_assert_int_eq(v.busy, 0);
	ck_assert_uint_eq(v.requests, 1);
	poolstats_free(ps);
}
END_TEST

static int sees_draining(struct poolstats *ps, int slot)
{
	(void)slot;
	return poolstats_draining(ps) ? 7 : 0;
}

START_TEST(test_drain_flag_shared)
{
	struct poolstats *ps = poolstats_new(1);
	struct poolstats_view v;

	ck_assert_ptr_nonnull(ps);
	ck_assert_int_eq(child_status(fork_child(sees_draining, ps, 0)), 0);
	poolstats_set_draining(ps, true);
	ck_assert_int_eq(child_status(fork_child(sees_draining, ps, 0)), 7);
	poolstats_read(ps, &v);
	ck_assert(v.draining);
	poolstats_set_draining(ps, false);
	ck_assert(!poolstats_draining(ps));
	poolstats_free(ps);
}
END_TEST

/* Outside a pool (NULL) and out of range: nothing happens, nothing breaks. */
START_TEST(test_outside_a_pool)
{
	struct poolstats *ps = poolstats_new(1);
	struct poolstats_view v;

	poolstats_request_begin(NULL, 0);
	poolstats_request_end(NULL, 0);
	poolstats_slot_reset(NULL, 0);
	poolstats_set_draining(NULL, true);
	ck_assert(!poolstats_draining(NULL));
	poolstats_read(NULL, &v);
	ck_assert_uint_eq(v.requests, 0);
	poolstats_record_request(NULL, 0, 0, "GET", 200, 1);
	poolstats_add(NULL, 0, POOLSTATS_EVENTS_APPENDED, 1);
	poolstats_add_db_failures(NULL, 0, 0, 1);
	poolstats_wait_begin(NULL, 0);
	poolstats_wait_end(NULL, 0);
	poolstats_set_waiters(NULL, 1);
	poolstats_slot_started(NULL, 0);
	poolstats_count_restart(NULL);
	poolstats_free(NULL);

	ck_assert_ptr_nonnull(ps);
	poolstats_request_begin(ps, 1);
	poolstats_request_end(ps, -1);
	poolstats_read(ps, &v);
	ck_assert_uint_eq(v.requests, 0);
	ck_assert_int_eq(v.busy, 0);
	poolstats_free(ps);
}
END_TEST

/* What /metrics sums: requests by route, method and status with their
 * latency, counted by several processes at once. */
static int serve_routes(struct poolstats *ps, int slot)
{
	for (int i = 0; i < REQUESTS; i++) {
		poolstats_record_request(ps, slot, 3, "POST", 201, 1500);
		poolstats_record_request(ps, slot, POOLSTATS_UNMATCHED, "GET", 404, 200);
	}
	poolstats_add(ps, slot, POOLSTATS_EVENTS_APPENDED, 7);
	poolstats_add_db_failures(ps, slot, 2, 1);
	return 0;
}

START_TEST(test_sums_across_processes)
{
	struct poolstats *ps = poolstats_new(WORKERS);
	struct poolstats_totals *t = malloc(sizeof *t);
	pid_t pids[WORKERS];
	uint64_t buckets = 0;

	ck_assert_ptr_nonnull(ps);
	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < WORKERS; i++)
		pids[i] = fork_child(serve_routes, ps, i);
	for (int i = 0; i < WORKERS; i++)
		ck_assert_int_eq(child_status(pids[i]), 0);
	poolstats_sum(ps, t);
	ck_assert_int_eq(t->slots, WORKERS);
	/* POST (index 2) 201 (index 1) on route 3 */
	ck_assert_str_eq(poolstats_method_name(2), "POST");
	ck_assert_str_eq(poolstats_code_name(1), "201");
	ck_assert_uint_eq(t->by_code[3][2][1], (uint64_t)WORKERS * REQUESTS);
	ck_assert_str_eq(poolstats_code_name(8), "404");
	ck_assert_uint_eq(t->by_code[POOLSTATS_UNMATCHED][0][8], (uint64_t)WORKERS * REQUESTS);
	/* 1.5 ms lands in the 2.5 ms bucket, 0.2 ms in the first */
	ck_assert_str_eq(poolstats_bucket_bound(1), "0.0025");
	ck_assert_uint_eq(t->latency[3][1], (uint64_t)WORKERS * REQUESTS);
	ck_assert_uint_eq(t->latency[POOLSTATS_UNMATCHED][0], (uint64_t)WORKERS * REQUESTS);
	for (int b = 0; b < POOLSTATS_BUCKETS; b++)
		buckets += t->latency[3][b];
	ck_assert_uint_eq(buckets, (uint64_t)WORKERS * REQUESTS);
	ck_assert_uint_eq(t->latency_usec[3], (uint64_t)WORKERS * REQUESTS * 1500);
	ck_assert_uint_eq(t->counter[POOLSTATS_EVENTS_APPENDED], (uint64_t)WORKERS * 7);
	ck_assert_uint_eq(t->db_failures[2], WORKERS);
	free(t);
	poolstats_free(ps);
}
END_TEST

/* Values outside the tables land in "other", "+Inf" and the unmatched
 * route rather than anywhere else. */
START_TEST(test_outside_the_tables)
{
	struct poolstats *ps = poolstats_new(1);
	struct poolstats_totals *t = malloc(sizeof *t);

	ck_assert_ptr_nonnull(ps);
	ck_assert_ptr_nonnull(t);
	poolstats_record_request(ps, 0, 99, "PROPFIND", 418, 90000000);
	poolstats_record_request(ps, 0, -1, NULL, 200, -5);
	poolstats_record_request(ps, 0, 0, "GET", 200, 30000000);
	poolstats_add_db_failures(ps, 0, POOLSTATS_DB_KINDS, 1);
	poolstats_add(ps, 0, POOLSTATS_COUNTERS, 1);
	poolstats_sum(ps, t);
	ck_assert_uint_eq(t->by_code[POOLSTATS_UNMATCHED][POOLSTATS_METHODS - 1][POOLSTATS_CODES - 1], 1);
	ck_assert_str_eq(poolstats_method_name(POOLSTATS_METHODS - 1), "other");
	ck_assert_str_eq(poolstats_code_name(POOLSTATS_CODES - 1), "other");
	ck_assert_uint_eq(t->latency[POOLSTATS_UNMATCHED][POOLSTATS_BUCKETS - 1], 1);
	ck_assert_str_eq(poolstats_bucket_bound(POOLSTATS_BUCKETS - 1), "+Inf");
	/* a negative duration counts as 0; exactly 30 s is in the 30 s bucket */
	ck_assert_uint_eq(t->latency[POOLSTATS_UNMATCHED][0], 1);
	ck_assert_str_eq(poolstats_bucket_bound(POOLSTATS_BUCKETS - 2), "30");
	ck_assert_uint_eq(t->latency[0][POOLSTATS_BUCKETS - 2], 1);
	for (int k = 0; k < POOLSTATS_DB_KINDS; k++)
		ck_assert_uint_eq(t->db_failures[k], 0);
	for (int c = 0; c < POOLSTATS_COUNTERS; c++)
		ck_assert_uint_eq(t->counter[c], 0);
	free(t);
	poolstats_free(ps);
}
END_TEST

static int wait_and_die(struct poolstats *ps, int slot)
{
	poolstats_request_begin(ps, slot);
	poolstats_wait_begin(ps, slot);
	return 0;
}

/* Workers running, restarts and long-poll waiters as the supervisor and
 * the workers report them; a worker that dies waiting stops counting when
 * its slot is reset. */
START_TEST(test_workers_and_waiters)
{
	struct poolstats *ps = poolstats_new(3);
	struct poolstats_totals *t = malloc(sizeof *t);

	ck_assert_ptr_nonnull(ps);
	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < 3; i++)
		poolstats_slot_started(ps, i);
	ck_assert_int_eq(child_status(fork_child(wait_and_die, ps, 2)), 0);
	poolstats_wait_begin(ps, 0);
	poolstats_set_waiters(ps, 5);
	poolstats_sum(ps, t);
	ck_assert_int_eq(t->workers, 3);
	ck_assert_int_eq(t->busy, 1);
	ck_assert_int_eq(t->waiters, 5 + 2);
	poolstats_slot_reset(ps, 2);
	poolstats_count_restart(ps);
	poolstats_wait_end(ps, 0);
	poolstats_set_waiters(ps, -1);
	poolstats_sum(ps, t);
	ck_assert_int_eq(t->workers, 2);
	ck_assert_int_eq(t->busy, 0);
	ck_assert_int_eq(t->waiters, 0);
	ck_assert_uint_eq(t->worker_restarts, 1);
	free(t);
	poolstats_free(ps);
}
END_TEST

static Suite *poolstats_suite(void)
{
	Suite *s = suite_create("poolstats");
	TCase *tc = tcase_create("shared");

	tcase_add_test(tc, test_counts_across_processes);
	tcase_add_test(tc, test_dead_worker_slot);
	tcase_add_test(tc, test_drain_flag_shared);
	tcase_add_test(tc, test_outside_a_pool);
	tcase_add_test(tc, test_sums_across_processes);
	tcase_add_test(tc, test_outside_the_tables);
	tcase_add_test(tc, test_workers_and_waiters);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(poolstats_suite());
}
