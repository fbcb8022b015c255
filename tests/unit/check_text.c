/* check_text.c - text: hex digits and the well-formed UTF-8 sequences every
 * parser of untrusted text relies on (a table of sequences it must reject). */
#include "buildconf.h"

#include <check.h>

#include "base/text.h"
#include "test_helpers.h"

static const struct { int c, value; } hex[] = {
	{ '0', 0 }, { '9', 9 }, { 'a', 10 }, { 'f', 15 }, { 'A', 10 }, { 'F', 15 },
	{ 'g', -1 }, { 'G', -1 }, { '/', -1 }, { ':', -1 }, { '@', -1 }, { '`', -1 },
	{ ' ', -1 }, { '\0', -1 }, { 0xe9, -1 }, { -1, -1 },
};

START_TEST(hex_value)
{
	ck_assert_int_eq(text_hex_value(hex[_i].c), hex[_i].value);
}
END_TEST

/* Each sequence is given with its length (n) and the length of the one
 * well-formed sequence at its start, 0 when there is none. */
static const struct { const char *s; size_t n, len; } utf8[] = {
	{ "a", 1, 1 },
	{ "\x7f", 1, 1 },
	{ "", 1, 1 },                              /* NUL is ASCII here */
	{ "\xc2\x80", 2, 2 },                      /* U+0080 */
	{ "\xc3\xa9xyz", 5, 2 },                   /* only the first sequence counts */
	{ "\xdf\xbf", 2, 2 },                      /* U+07FF */
	{ "\xe0\xa0\x80", 3, 3 },                  /* U+0800 */
	{ "\xe2\x82\xac", 3, 3 },                  /* the euro sign */
	{ "\xed\x9f\xbf", 3, 3 },                  /* U+D7FF, just below the surrogates */
	{ "\xee\x80\x80", 3, 3 },                  /* U+E000, just above */
	{ "\xef\xbf\xbf", 3, 3 },                  /* U+FFFF */
	{ "\xf0\x90\x80\x80", 4, 4 },              /* U+10000 */
	{ "\xf0\x9f\x98\x80", 4, 4 },              /* an emoji */
	{ "\xf4\x8f\xbf\xbf", 4, 4 },              /* U+10FFFF */
	{ "\x80", 1, 0 },                          /* a continuation byte alone */
	{ "\xbf", 1, 0 },
	{ "\xc0\xaf", 2, 0 },                      /* overlong '/' */
	{ "\xc1\xbf", 2, 0 },                      /* overlong */
	{ "\xc2", 1, 0 },                          /* truncated */
	{ "\xc2\x41", 2, 0 },                      /* not a continuation */
	{ "\xc2\xc0", 2, 0 },
	{ "\xe0\x80\xaf", 3, 0 },                  /* overlong */
	{ "\xe0\x9f\xbf", 3, 0 },                  /* overlong U+07FF */
	{ "\xed\xa0\x80", 3, 0 },                  /* U+D800, a surrogate */
	{ "\xed\xbf\xbf", 3, 0 },                  /* U+DFFF */
	{ "\xe2\x82", 2, 0 },                      /* truncated */
	{ "\xe2\x82\xac", 2, 0 },                  /* cut by n */
	{ "\xe2\x28\xac", 3, 0 },
	{ "\xf0\x80\x80\xaf", 4, 0 },              /* overlong */
	{ "\xf0\x8f\xbf\xbf", 4, 0 },              /* overlong U+FFFF */
	{ "\xf4\x90\x80\x80", 4, 0 },              /* U+110000 */
	{ "\xf5\x80\x80\x80", 4, 0 },              /* no such lead byte */
	{ "\xf8\x88\x80\x80\x80", 5, 0 },          /* five bytes */
	{ "\xfe", 1, 0 },
	{ "\xff", 1, 0 },
	{ "\xf0\x9f\x98", 3, 0 },                  /* truncated */
	{ "\xf0\x9f\x98\x80", 3, 0 },              /* cut by n */
	{ "\xf0\x9f\x28\x80", 4, 0 },
};

START_TEST(utf8_seq_len)
{
	const unsigned char *s = (const unsigned char *)utf8[_i].s;

	ck_assert_msg(text_utf8_seq_len(s, utf8[_i].n) == utf8[_i].len, "case %d: got %zu, want %zu",
		      _i, text_utf8_seq_len(s, utf8[_i].n), utf8[_i].len);
}
END_TEST

/* Found by fuzz_append: a key cut by "%.100s" in the middle of a
 * character made the problem document invalid UTF-8. */
static const struct {
	const char *in;
	const char *out;
} repairs[] = {
	{ "", "" },
	{ "plain ascii", "plain ascii" },
	{ "caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80" },
	{ "cut \xc3", "cut ?" },                    /* half of an e-acute */
	{ "cut \xf0\x9f\x98", "cut ???" },           /* three quarters of an emoji */
	{ "\xff\xfe raw", "?? raw" },                /* %FF%FE decoded */
	{ "\xc0\xaf overlong", "?? overlong" },
	{ "\xed\xa0\x80 surrogate", "??? surrogate" },
	{ "\x80 lone continuation", "? lone continuation" },
};

START_TEST(utf8_repair)
{
	char buf[64];

	snprintf(buf, sizeof buf, "%s", repairs[_i].in);
	ck_assert_ptr_eq(text_utf8_repair(buf), buf);
	ck_assert_str_eq(buf, repairs[_i].out);
}
END_TEST

static Suite *text_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("bytes");

	tcase_add_loop_test(tc, hex_value, 0, N_ELEMS(hex));
	tcase_add_loop_test(tc, utf8_seq_len, 0, N_ELEMS(utf8));
	tcase_add_loop_test(tc, utf8_repair, 0, N_ELEMS(repairs));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(text_suite());
}
