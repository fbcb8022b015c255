/* check_retry.c - backoff bounds and jitter. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdbool.h>
#include <stdlib.h>

#include "runner/retry.h"


static const struct { int attempt, initial, max; int64_t lo, hi; } delays[] = {
	{ 1, 1000, 60000, 1000, 1000 },
	{ 2, 1000, 60000, 1000, 2000 },
	{ 3, 1000, 60000, 2000, 4000 },
	{ 6, 1000, 60000, 16000, 32000 },
	{ 7, 1000, 60000, 30000, 60000 },
	{ 30, 1000, 60000, 30000, 60000 },
	{ 1000, 1000, 60000, 30000, 60000 },
	{ 5, 50, 200, 100, 200 },
	{ 3, 500, 500, 500, 500 },
	{ 1, 10, 5, 10, 10 },
};

START_TEST(delay_within_bounds)
{
	uint32_t seed = 12345u + (uint32_t)_i;

	for (int k = 0; k < 2000; k++) {
		int64_t d = retry_delay_ms(delays[_i].attempt, delays[_i].initial, delays[_i].max, &seed);

		ck_assert_int_ge(d, delays[_i].lo);
		ck_assert_int_le(d, delays[_i].hi);
		ck_assert_int_ge(d, delays[_i].initial);
	}
}
END_TEST

START_TEST(delay_has_jitter)
{
	uint32_t seed = 7;
	int64_t first = retry_delay_ms(6, 1000, 60000, &seed);
	bool differs = false;

	for (int k = 0; k < 50; k++)
		if (retry_delay_ms(6, 1000, 60000, &seed) != first)
			differs = true;
	ck_assert(differs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("retry");
	TCase *tc = tcase_create("retry");

	tcase_add_loop_test(tc, delay_within_bounds, 0, N_ELEMS(delays));
	tcase_add_test(tc, delay_has_jitter);
	suite_add_tcase(s, tc);
	return check_run(s);
}
