/* check_poolstats.c - the pool's shared counters: what forked workers
 * count, their supervisor reads; a dead worker's busy flag can be cleared;
 * the drain flag set by the supervisor is seen by the workers. */
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

static Suite *poolstats_suite(void)
{
	Suite *s = suite_create("poolstats");
	TCase *tc = tcase_create("shared");

	tcase_add_test(tc, test_counts_across_processes);
	tcase_add_test(tc, test_dead_worker_slot);
	tcase_add_test(tc, test_drain_flag_shared);
	tcase_add_test(tc, test_outside_a_pool);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(poolstats_suite());
}
