/* check_feed_cursor.c - feed_cursor: the feed's opaque cursor, encoded
 * and decoded (a table of inputs it must reject). */
#include "buildconf.h"

#include <check.h>
#include <stdint.h>

#include "store/feed_cursor.h"
#include "test_helpers.h"

static const struct { uint64_t txid; int64_t pos; const char *text; } cursor_good[] = {
	{ 0, 0, "10000000000000000" "0000000000000000" },
	{ 1, 1, "10000000000000001" "0000000000000001" },
	{ 0xdeadbeefULL, 42, "100000000deadbeef" "000000000000002a" },
	{ UINT64_MAX, INT64_MAX, "1ffffffffffffffff" "7fffffffffffffff" },
};

START_TEST(cursor_round_trip)
{
	struct feed_cursor c = { cursor_good[_i].txid, cursor_good[_i].pos }, back;
	char s[FEED_CURSOR_LEN];

	feed_cursor_encode(&c, s);
	ck_assert_str_eq(s, cursor_good[_i].text);
	ck_assert(feed_cursor_decode(s, &back));
	ck_assert_uint_eq(back.txid, c.txid);
	ck_assert_int_eq(back.position, c.position);
}
END_TEST

START_TEST(cursor_empty_is_start)
{
	struct feed_cursor c = { 7, 7 };

	ck_assert(feed_cursor_decode("", &c));
	ck_assert_uint_eq(c.txid, 0);
	ck_assert_int_eq(c.position, 0);
}
END_TEST

static const char *const cursor_bad[] = {
	"0" "00000000deadbeef" "000000000000002a",  /* unknown version */
	"2" "00000000deadbeef" "000000000000002a",
	"1" "00000000DEADBEEF" "000000000000002a",  /* upper case */
	"1" "00000000deadbeef" "000000000000002",   /* short */
	"1" "00000000deadbeef" "000000000000002a0", /* long */
	"1" "00000000deadbeeg" "000000000000002a",  /* not hex */
	"1" "00000000deadbeef" "800000000000002a",  /* negative position */
	"1" "00000000deadbeef" "00000000000002a ",
	"1" " 0000000deadbeef" "000000000000002a",
	"1" "-0000000deadbeef" "000000000000002a",
	"1",
	"abc",
	"1%30000000deadbeef000000000000002a",
};

START_TEST(cursor_rejects)
{
	struct feed_cursor c = { 7, 7 };

	ck_assert_msg(!feed_cursor_decode(cursor_bad[_i], &c), "accepted '%s'", cursor_bad[_i]);
	ck_assert_uint_eq(c.txid, 7);
	ck_assert_int_eq(c.position, 7);
}
END_TEST

START_TEST(cursor_null)
{
	struct feed_cursor c;

	ck_assert(!feed_cursor_decode(NULL, &c));
}
END_TEST

static Suite *feed_cursor_suite(void)
{
	Suite *s = suite_create("feed_cursor");
	TCase *tc = tcase_create("codec");

	tcase_add_loop_test(tc, cursor_round_trip, 0, N_ELEMS(cursor_good));
	tcase_add_test(tc, cursor_empty_is_start);
	tcase_add_loop_test(tc, cursor_rejects, 0, N_ELEMS(cursor_bad));
	tcase_add_test(tc, cursor_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(feed_cursor_suite());
}
