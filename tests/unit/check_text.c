/* check_text.c - text: hex digits and the well-formed UTF-8 sequences every
 * parser of untrusted text relies on (a table of sequences it must reject). */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

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

/* Bytes to hex and back: lower case out, either case in, and a wrong
 * length or a stray character refused. */
START_TEST(hex_round_trip)
{
	const unsigned char bytes[4] = { 0x00, 0x0a, 0xbf, 0xff };
	unsigned char back[4] = { 0 };
	char text[9];

	text_hex_encode(bytes, sizeof bytes, text);
	ck_assert_str_eq(text, "000abfff");
	ck_assert(text_hex_decode("000ABFff", 8, back, sizeof back));
	ck_assert_mem_eq(back, bytes, sizeof bytes);
	ck_assert(!text_hex_decode("000abff", 7, back, sizeof back));
	ck_assert(!text_hex_decode("000abfff00", 10, back, sizeof back));
	ck_assert(!text_hex_decode("000abfgf", 8, back, sizeof back));
	ck_assert(!text_hex_decode("000a bff", 8, back, sizeof back));
}
END_TEST

START_TEST(equal_secret)
{
	ck_assert(text_equal_secret("token-a", "token-a", 7));
	ck_assert(!text_equal_secret("token-a", "token-b", 7));
	ck_assert(!text_equal_secret("xoken-a", "token-a", 7));
	ck_assert(text_equal_secret("token-a", "token-b", 6)); /* only n bytes count */
	ck_assert(text_equal_secret("", "", 0));
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

static const struct {
	const char *a, *b;
	size_t distance;
} distances[] = {
	{ "", "", 0 },
	{ "abc", "", 3 },
	{ "", "abc", 3 },
	{ "kitten", "sitting", 3 },
	{ "EVSTORE_DATABSE_URL", "EVSTORE_DATABASE_URL", 1 },
	{ "EVSTORE_JWT_KEYFILE", "EVSTORE_JWT_KEY_FILE", 1 },
	{ "ab", "ba", 2 },
	{ "same", "same", 0 },
};

START_TEST(edit_distance)
{
	ck_assert_uint_eq(text_edit_distance(distances[_i].a, distances[_i].b), distances[_i].distance);
	ck_assert_uint_eq(text_edit_distance(distances[_i].b, distances[_i].a), distances[_i].distance);
}
END_TEST

/* What a problem detail may quote: anything in, valid UTF-8 out. */
static const struct { const char *in; size_t outlen; const char *out; } quotes[] = {
	{ "Order", 32, "\"Order\"" },
	{ "", 32, "\"\"" },
	{ "say \"hi\" \\o/", 32, "\"say \\\"hi\\\" \\\\o/\"" },
	{ "\xff\xfe", 32, "\"\\xFF\\xFE\"" },                    /* %FF%FE decoded */
	{ "a\x01\n\x1b[0m\x7f", 32, "\"a\\x01\\x0A\\x1B[0m\\x7F\"" },
	{ "caf\xc3\xa9 \xe2\x82\xac", 32, "\"caf\xc3\xa9 \xe2\x82\xac\"" }, /* kept */
	{ "\xc0\xaf\xed\xa0\x80", 32, "\"\\xC0\\xAF\\xED\\xA0\\x80\"" }, /* overlong, surrogate */
	{ "abcdefghij", 10, "\"abcd\"..." },                 /* cut to fit */
	{ "abc\xe2\x82\xac", 10, "\"abc\"..." },            /* never inside a sequence */
	{ "ab\xff", 10, "\"ab\"..." },                       /* nor inside an escape */
	{ "abcd", 10, "\"abcd\"" },
};

START_TEST(quote)
{
	char out[64];

	memset(out, '#', sizeof out);
	ck_assert_str_eq(text_quote(out, quotes[_i].outlen, quotes[_i].in, strlen(quotes[_i].in)),
			 quotes[_i].out);
	ck_assert_uint_lt(strlen(out), quotes[_i].outlen);
}
END_TEST

/* The length is the caller's: bytes after it are not read, NULs inside are
 * quoted. */
START_TEST(quote_counted)
{
	char out[32];

	ck_assert_str_eq(text_quote(out, sizeof out, "name=value", 4), "\"name\"");
	ck_assert_str_eq(text_quote(out, sizeof out, "a\0b", 3), "\"a\\x00b\"");
}
END_TEST

static const struct { const char *in, *out; } scrubs[] = {
	{ "plain", "plain" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "\xff\xfe", "??" },
	{ "cut \xe2\x82", "cut ??" },
	{ "\xe2\x82\xac\xc3", "\xe2\x82\xac?" },
};

START_TEST(utf8_scrub)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%s", scrubs[_i].in);
	text_utf8_scrub(buf);
	ck_assert_str_eq(buf, scrubs[_i].out);
}
END_TEST

static const struct { const char *in; size_t max, want; } prefixes[] = {
	{ "abcdef", 4, 4 },
	{ "abc", 10, 3 },
	{ "caf\xc3\xa9", 4, 3 },         /* never half of the \xc3\xa9 */
	{ "caf\xc3\xa9", 5, 5 },
	{ "\xe2\x82\xac\xe2\x82\xac", 5, 3 },
	{ "\xff\xfe\xfd", 2, 2 },        /* stray bytes count one each */
	{ "", 3, 0 },
	{ "x", 0, 0 },
};

START_TEST(utf8_prefix_len)
{
	const char *in = prefixes[_i].in;

	ck_assert_uint_eq(text_utf8_prefix_len(in, strlen(in), prefixes[_i].max), prefixes[_i].want);
}
END_TEST

static Suite *text_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("bytes");

	tcase_add_loop_test(tc, hex_value, 0, N_ELEMS(hex));
	tcase_add_test(tc, hex_round_trip);
	tcase_add_test(tc, equal_secret);
	tcase_add_loop_test(tc, utf8_seq_len, 0, N_ELEMS(utf8));
	tcase_add_loop_test(tc, edit_distance, 0, N_ELEMS(distances));
	tcase_add_loop_test(tc, quote, 0, N_ELEMS(quotes));
	tcase_add_test(tc, quote_counted);
	tcase_add_loop_test(tc, utf8_scrub, 0, N_ELEMS(scrubs));
	tcase_add_loop_test(tc, utf8_prefix_len, 0, N_ELEMS(prefixes));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(text_suite());
}
