/* check_base64.c - strict base64 (PEM bodies) and base64url (JWT segments):
 * what decodes to what, and a table of inputs each alphabet must refuse. */
#include "buildconf.h"

#include <check.h>
#include <string.h>

#include "auth/base64.h"
#include "test_helpers.h"

struct dcase {
	enum base64_alphabet alphabet;
	const char *in;
	const char *out;        /* NULL: refused */
	size_t out_len;
};

static const struct dcase decodes[] = {
	{ BASE64_URL, "", "", 0 },
	{ BASE64_URL, "YQ", "a", 1 },
	{ BASE64_URL, "YWI", "ab", 2 },
	{ BASE64_URL, "YWJj", "abc", 3 },
	{ BASE64_URL, "eyJhbGciOiJIUzI1NiJ9", "{\"alg\":\"HS256\"}", 15 },
	{ BASE64_URL, "-_8", "\xfb\xff", 2 },
	{ BASE64_URL, "AA", "\0", 1 },
	{ BASE64_STD, "", "", 0 },
	{ BASE64_STD, "YQ==", "a", 1 },
	{ BASE64_STD, "YWI=", "ab", 2 },
	{ BASE64_STD, "YQ", "a", 1 },          /* padding is optional */
	{ BASE64_STD, "YWJj", "abc", 3 },
	{ BASE64_STD, "+/8=", "\xfb\xff", 2 },
};

START_TEST(test_decode)
{
	const struct dcase *c = &decodes[_i];
	unsigned char out[64];
	size_t n = 99;

	ck_assert_msg(base64_decode(c->in, strlen(c->in), c->alphabet, out, sizeof out, &n),
		      "\"%s\" refused", c->in);
	ck_assert_uint_eq(n, c->out_len);
	ck_assert_mem_eq(out, c->out, n);
}
END_TEST

static const struct dcase refusals[] = {
	{ BASE64_URL, "YQ==", NULL, 0 },       /* no padding in base64url */
	{ BASE64_URL, "+/8", NULL, 0 },        /* the standard alphabet's digits */
	{ BASE64_URL, "Y", NULL, 0 },          /* no encoding is one digit long */
	{ BASE64_URL, "YWJjZ", NULL, 0 },
	{ BASE64_URL, "YR", NULL, 0 },         /* pad bits not zero */
	{ BASE64_URL, "YWJ", NULL, 0 },
	{ BASE64_URL, "YW J", NULL, 0 },
	{ BASE64_URL, "YW.J", NULL, 0 },
	{ BASE64_STD, "-_8=", NULL, 0 },       /* the url alphabet's digits */
	{ BASE64_STD, "YQ=", NULL, 0 },        /* padding to a multiple of 4 or none */
	{ BASE64_STD, "YQ===", NULL, 0 },
	{ BASE64_STD, "Y===", NULL, 0 },
	{ BASE64_STD, "YQ==YQ==", NULL, 0 },   /* padding only at the end */
	{ BASE64_STD, "YR==", NULL, 0 },
	{ BASE64_STD, "YW\nJj", NULL, 0 },     /* callers strip line breaks */
};

START_TEST(test_refused)
{
	const struct dcase *c = &refusals[_i];
	unsigned char out[64];
	size_t n;

	ck_assert_msg(!base64_decode(c->in, strlen(c->in), c->alphabet, out, sizeof out, &n),
		      "\"%s\" decoded", c->in);
}
END_TEST

/* Output beyond cap is refused, not truncated. */
START_TEST(test_capacity)
{
	unsigned char out[3];
	size_t n;

	ck_assert(base64_decode("YWJj", 4, BASE64_URL, out, 3, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert(!base64_decode("YWJjZA", 6, BASE64_URL, out, 3, &n));
	ck_assert(!base64_decode("YWI=", 4, BASE64_STD, out, 1, &n));
}
END_TEST

START_TEST(test_digit)
{
	for (int c = 0; c < 256; c++) {
		bool common = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9');

		ck_assert_int_eq(base64_digit((unsigned char)c, BASE64_URL),
				 common || c == '-' || c == '_');
		ck_assert_int_eq(base64_digit((unsigned char)c, BASE64_STD),
				 common || c == '+' || c == '/');
	}
}
END_TEST

static Suite *base64_suite(void)
{
	Suite *s = suite_create("base64");
	TCase *tc = tcase_create("base64");

	tcase_add_loop_test(tc, test_decode, 0, (int)(sizeof decodes / sizeof decodes[0]));
	tcase_add_loop_test(tc, test_refused, 0, (int)(sizeof refusals / sizeof refusals[0]));
	tcase_add_test(tc, test_capacity);
	tcase_add_test(tc, test_digit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(base64_suite());
}
