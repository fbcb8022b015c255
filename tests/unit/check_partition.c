/* check_partition.c - the FNV-1a partition hash: known values, stability
 * and an even spread. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdio.h>
#include <stdlib.h>

#include "runner/partition.h"

/* FNV-1a 32 reference values. */
static const struct { const char *in; uint32_t h; } known[] = {
	{ "", 2166136261u },
	{ "a", 0xe40c292cu },
	{ "foobar", 0xbf9cf968u },
};

START_TEST(hash_known_values)
{
	ck_assert_uint_eq(partition_hash(known[_i].in), known[_i].h);
}
END_TEST

START_TEST(partition_is_stable)
{
	const char *id = "0190a4c2-5b7e-7cc1-9a7d-3f1e2d4c5b6a";
	int p = partition_of(id, 4);

	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(partition_of(id, 4), p);
	ck_assert_int_eq(partition_of(id, 1), 0);
	ck_assert_int_eq(partition_of(id, 0), 0);
	ck_assert_uint_eq(partition_hash(id) % 4, (uint32_t)p);
}
END_TEST

static const int spreads[] = { 2, 4, 7, 16 };

START_TEST(partition_spreads_evenly)
{
	int n = spreads[_i], counts[16] = { 0 }, total = 20000;
	uint32_t x = 88172645u;

	for (int i = 0; i < total; i++) {
		char id[40];
		uint32_t a, b, c, d;

		x ^= x << 13; x ^= x >> 17; x ^= x << 5; a = x;
		x ^= x << 13; x ^= x >> 17; x ^= x << 5; b = x;
		x ^= x << 13; x ^= x >> 17; x ^= x << 5; c = x;
		x ^= x << 13; x ^= x >> 17; x ^= x << 5; d = x;
		snprintf(id, sizeof id, "%08x-%04x-4%03x-a%03x-%04x%08x", a, b >> 16, b & 0xfff,
			 c & 0xfff, c >> 16, d);
		counts[partition_of(id, n)]++;
	}
	for (int p = 0; p < n; p++) {
		ck_assert_int_gt(counts[p], total / n * 85 / 100);
		ck_assert_int_lt(counts[p], total / n * 115 / 100);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("partition");
	TCase *tc = tcase_create("partition");

	tcase_add_loop_test(tc, hash_known_values, 0, N_ELEMS(known));
	tcase_add_test(tc, partition_is_stable);
	tcase_add_loop_test(tc, partition_spreads_evenly, 0, N_ELEMS(spreads));
	suite_add_tcase(s, tc);
	return check_run(s);
}
