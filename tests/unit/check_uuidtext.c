/* check_uuidtext.c - uuidtext: parsing (a table of inputs it must
 * reject) and UUIDv7 generation. */
#include "buildconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "test_helpers.h"

static const struct { const char *in, *out; } uuid_good[] = {
	{ "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000" },
	{ "123E4567-E89B-12D3-A456-426614174ABC", "123e4567-e89b-12d3-a456-426614174abc" },
	{ "00000000-0000-0000-0000-000000000000", UUIDTEXT_NIL },
	{ "FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF", "ffffffff-ffff-ffff-ffff-ffffffffffff" },
};

START_TEST(uuid_parse_accepts_and_lowercases)
{
	char out[UUIDTEXT_LEN];

	ck_assert(uuidtext_parse(uuid_good[_i].in, out));
	ck_assert_str_eq(out, uuid_good[_i].out);
}
END_TEST

static const char *const uuid_bad[] = {
	"",
	"123e4567-e89b-12d3-a456-42661417400",    /* one short */
	"123e4567-e89b-12d3-a456-4266141740000",  /* one long */
	"123e4567e89b12d3a456426614174000",       /* no hyphens */
	"123e4567-e89b-12d3-a456_426614174000",   /* wrong separator */
	"123e456-7e89b-12d3-a456-426614174000",   /* hyphen misplaced */
	"123e4567-e89b-12d3-a456-42661417400g",   /* not hex */
	"{123e4567-e89b-12d3-a456-426614174000}", /* braces */
	"urn:uuid:123e4567-e89b-12d3-a456-426614174000",
	" 123e4567-e89b-12d3-a456-426614174000",
	"123e4567-e89b-12d3-a456-426614174000 ",
	"123e4567-e89b-12d3-a456-4266141740\xc3\xa9",
};

START_TEST(uuid_parse_rejects)
{
	char out[UUIDTEXT_LEN] = "untouched";

	ck_assert_msg(!uuidtext_parse(uuid_bad[_i], out), "accepted '%s'", uuid_bad[_i]);
	ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(uuid_parse_null)
{
	char out[UUIDTEXT_LEN];

	ck_assert(!uuidtext_parse(NULL, out));
}
END_TEST

START_TEST(uuid_v7_layout)
{
	char id[UUIDTEXT_LEN], copy[UUIDTEXT_LEN], hex[13];
	uint64_t ms, now_ms = (uint64_t)(time_now_usec() / 1000);

	uuidtext_v7(id);
	ck_assert_uint_eq(strlen(id), 36);
	ck_assert(uuidtext_parse(id, copy));
	ck_assert_str_eq(id, copy); /* canonical lowercase */
	ck_assert_int_eq(id[14], '7');
	ck_assert_ptr_nonnull(strchr("89ab", id[19]));
	/* the first 48 bits are the Unix time in milliseconds */
	memcpy(hex, id, 8);
	memcpy(hex + 8, id + 9, 4);
	hex[12] = '\0';
	ms = strtoull(hex, NULL, 16);
	ck_assert_msg(ms + 5000 > now_ms && ms < now_ms + 5000,
		      "timestamp %llu is not near now %llu", (unsigned long long)ms,
		      (unsigned long long)now_ms);
}
END_TEST

START_TEST(uuid_v7_monotonic_and_unique)
{
	enum { N = 20000 };
	char (*ids)[UUIDTEXT_LEN] = malloc(N * UUIDTEXT_LEN);

	ck_assert_ptr_nonnull(ids);
	/* many ids share a millisecond here: the order must still hold */
	for (int i = 0; i < N; i++)
		uuidtext_v7(ids[i]);
	for (int i = 1; i < N; i++)
		ck_assert_msg(strcmp(ids[i - 1], ids[i]) < 0, "%s !< %s", ids[i - 1], ids[i]);
	free(ids);
}
END_TEST

static Suite *uuidtext_suite(void)
{
	Suite *s = suite_create("uuidtext");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, uuid_parse_accepts_and_lowercases, 0, N_ELEMS(uuid_good));
	tcase_add_loop_test(tc, uuid_parse_rejects, 0, N_ELEMS(uuid_bad));
	tcase_add_test(tc, uuid_parse_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("v7");
	tcase_add_test(tc, uuid_v7_layout);
	tcase_add_test(tc, uuid_v7_monotonic_and_unique);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(uuidtext_suite());
}
