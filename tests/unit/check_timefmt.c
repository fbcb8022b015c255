/* check_timefmt.c - timefmt: RFC 3339 parsing (a table of inputs it
 * must reject), formatting and the clocks. */
#include "buildconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/timefmt.h"
#include "test_helpers.h"

static const struct { const char *in; int64_t usec; const char *canonical; } time_good[] = {
	{ "1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00.000000Z" },
	{ "2026-11-27T10:00:00Z", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27t10:00:00z", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T12:00:00+02:00", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T04:30:00-05:30", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T10:00:00-00:00", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T10:00:00.5Z", INT64_C(1795773600500000), "2026-11-27T10:00:00.500000Z" },
	{ "2026-11-27T10:00:00.123456789Z", INT64_C(1795773600123456),
	  "2026-11-27T10:00:00.123456Z" },
	{ "1969-12-31T23:59:59.999999Z", -1, "1969-12-31T23:59:59.999999Z" },
	{ "2024-02-29T00:00:00Z", INT64_C(1709164800000000), "2024-02-29T00:00:00.000000Z" },
	{ "2000-02-29T00:00:00Z", INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z" },
	{ "0001-01-01T00:00:00Z", INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z" },
	{ "9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999),
	  "9999-12-31T23:59:59.999999Z" },
	/* a leap second is the first instant of the next minute */
	{ "2016-12-31T23:59:60Z", INT64_C(1483228800000000), "2017-01-01T00:00:00.000000Z" },
};

START_TEST(time_parse_accepts)
{
	int64_t u = 42;
	char out[TIMEFMT_LEN];

	ck_assert_msg(timefmt_parse(time_good[_i].in, &u), "refused %s", time_good[_i].in);
	ck_assert_int_eq(u, time_good[_i].usec);
	timefmt_format(u, out);
	ck_assert_str_eq(out, time_good[_i].canonical);
}
END_TEST

static const char *const time_bad[] = {
	"",
	"2026-11-27",
	"2026-11-27T10:00:00",         /* no offset */
	"2026-11-27 10:00:00Z",        /* space instead of T */
	"2026-11-27T10:00Z",           /* no seconds */
	"2026-13-01T00:00:00Z",
	"2026-00-10T00:00:00Z",
	"2026-11-00T00:00:00Z",
	"2026-02-30T00:00:00Z",
	"2023-02-29T00:00:00Z",        /* not a leap year */
	"1900-02-29T00:00:00Z",        /* centuries are not leap years */
	"2026-04-31T00:00:00Z",
	"0000-01-01T00:00:00Z",        /* year 0 */
	"10000-01-01T00:00:00Z",
	"2026-11-27T24:00:00Z",
	"2026-11-27T10:60:00Z",
	"2026-11-27T10:00:61Z",
	"2026-11-27T10:00:00.Z",       /* dot without digits */
	"2026-11-27T10:00:00.1234567891Z", /* 10 fraction digits */
	"2026-11-27T10:00:00+02",
	"2026-11-27T10:00:00+0200",
	"2026-11-27T10:00:00+24:00",
	"2026-11-27T10:00:00+02:60",
	"2026-11-27T10:00:00Zjunk",
	"2026-11-27T10:00:00Z ",
	" 2026-11-27T10:00:00Z",
	"2026-1-27T10:00:00Z",
	"20261127T100000Z",
	"2026-11-27T10:00:00,5Z",
	"+2026-11-27T10:00:00Z",
	"2026-11-27T10:00:00UTC",
};

START_TEST(time_parse_rejects)
{
	int64_t u = 42;

	ck_assert_msg(!timefmt_parse(time_bad[_i], &u), "accepted '%s'", time_bad[_i]);
	ck_assert_int_eq(u, 42);
}
END_TEST

START_TEST(time_parse_ignores_tz)
{
	int64_t a, b;

	ck_assert(timefmt_parse("2026-07-01T12:00:00Z", &a));
	setenv("TZ", "America/New_York", 1);
	tzset();
	ck_assert(timefmt_parse("2026-07-01T12:00:00Z", &b));
	ck_assert_int_eq(a, b);
}
END_TEST

START_TEST(time_format_round_trip)
{
	/* a spread of instants, both sides of the epoch */
	int64_t u = INT64_C(-62135596800000000) + (int64_t)_i * INT64_C(3155760000123457);
	int64_t back = 0;
	char s[TIMEFMT_LEN];

	timefmt_format(u, s);
	ck_assert_msg(timefmt_parse(s, &back), "refused own output %s", s);
	ck_assert_int_eq(back, u);
}
END_TEST

START_TEST(time_format_extremes)
{
	char s[TIMEFMT_LEN];

	timefmt_format(INT64_MAX, s);
	ck_assert_str_eq(s, "+294247-01-10T04:00:54.775807Z");
	timefmt_format(INT64_MIN, s);
	ck_assert_str_eq(s, "-290308-12-21T19:59:05.224192Z");
}
END_TEST

START_TEST(time_clocks)
{
	int64_t now = time_now_usec(), m1 = time_mono_ms(), m2;

	ck_assert(now / 1000000 - (int64_t)time(NULL) <= 1);
	ck_assert(now / 1000000 - (int64_t)time(NULL) >= -1);
	m2 = time_mono_ms();
	ck_assert(m2 >= m1);
}
END_TEST

static Suite *timefmt_suite(void)
{
	Suite *s = suite_create("timefmt");
	TCase *tc = tcase_create("rfc3339");

	tcase_add_loop_test(tc, time_parse_accepts, 0, N_ELEMS(time_good));
	tcase_add_loop_test(tc, time_parse_rejects, 0, N_ELEMS(time_bad));
	tcase_add_test(tc, time_parse_ignores_tz);
	tcase_add_loop_test(tc, time_format_round_trip, 0, 100);
	tcase_add_test(tc, time_format_extremes);
	tcase_add_test(tc, time_clocks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(timefmt_suite());
}
