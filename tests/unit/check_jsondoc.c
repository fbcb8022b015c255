/* check_jsondoc.c - strict parsing of untrusted JSON and the jsonb guard. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "json/jsondoc.h"

#define LIT(s) s, sizeof(s) - 1 /* a literal with its length (NULs count) */

/* Returns a new string: n '[' then n ']'. */
static char *nested_arrays(int n)
{
	char *s = malloc((size_t)n * 2 + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, '[', (size_t)n);
	memset(s + n, ']', (size_t)n);
	s[2 * n] = '\0';
	return s;
}

/* Returns a new string: n nested objects {"a":{"a":...{}}}. */
static char *nested_objects(int n)
{
	size_t len = (size_t)n * 6 + 2 + 1;
	char *s = malloc(len), *p = s;

	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < n - 1; i++)
		p += sprintf(p, "{\"a\":");
	p += sprintf(p, "{}");
	for (int i = 0; i < n - 1; i++)
		*p++ = '}';
	*p = '\0';
	return s;
}

static const struct {
	const char *text;
	size_t len;
	const char *why;   /* part of the message the client gets */
} reject[] = {
	{ LIT("{\"a\":\"x\0y\"}"), "NUL byte" },
	{ LIT("{\"a\":1}\0"), "NUL byte" },
	{ LIT("\"\xc0\xaf\""), "invalid UTF-8" },          /* overlong '/' */
	{ LIT("\"\xe0\x80\xaf\""), "invalid UTF-8" },      /* overlong, 3 bytes */
	{ LIT("\"\xed\xa0\x80\""), "invalid UTF-8" },      /* UTF-16 surrogate */
	{ LIT("\"\xe2\x82\""), "invalid UTF-8" },          /* truncated */
	{ LIT("\"\xe2\x82"), "invalid UTF-8" },            /* truncated at the end */
	{ LIT("\"\xf4\x90\x80\x80\""), "invalid UTF-8" },  /* beyond U+10FFFF */
	{ LIT("\"\x80\""), "invalid UTF-8" },              /* lone continuation */
	{ LIT("\"\xff\""), "invalid UTF-8" },
	{ LIT("{} x"), "trailing data" },
	{ LIT("[1] [2]"), "trailing data" },
	{ LIT("{}}"), "trailing data" },
	{ LIT("1 2"), "trailing data" },
	{ LIT("NaN"), "NaN" },
	{ LIT("[Infinity]"), "NaN and Infinity" },
	{ LIT("{\"a\":-Infinity}"), "NaN and Infinity" },
	{ LIT("'single'"), "single-quoted" },
	{ LIT("{'a':1}"), "single-quoted" },
	{ LIT("{\"a\":1,\"a\":2}"), "duplicate key \"a\"" },
	{ LIT("{\"x\":[{\"b\":1,\"c\":{\"k\":1,\"k\":2}}]}"), "duplicate key \"k\"" },
	{ LIT("{\"a\":1,\"\\u0061\":2}"), "duplicate key \"a\"" }, /* same key, escaped */
	{ LIT("{\"a\":{\"b\":1,\"b\":1},\"a\":{}}"), "duplicate key \"b\"" },
	{ LIT("99999999999999999999"), "64-bit range" },
	{ LIT("9223372036854775808"), "64-bit range" },
	{ LIT("-9223372036854775809"), "64-bit range" },
	{ LIT("{\"n\":123456789012345678901234567890}"), "64-bit range" },
	{ LIT("01"), "leading zero" },
	{ LIT("-01"), "leading zero" },
	{ LIT("1."), "invalid number" },
	{ LIT(".5"), "unexpected character" },
	{ LIT("+1"), "unexpected character" },
	{ LIT("1e"), "invalid number" },
	{ LIT("-"), "invalid number" },
	{ LIT("0x10"), "trailing data" },
	{ LIT("[1,]"), "unexpected character" },
	{ LIT("{\"a\":1,}"), "expected a string key" },
	{ LIT("{a:1}"), "expected a string key" },
	{ LIT("{\"a\" 1}"), "expected ':'" },
	{ LIT("[1 2]"), "expected ',' or ']'" },
	{ LIT("{\"a\":1 \"b\":2}"), "expected ',' or '}'" },
	{ LIT("[1}"), "expected ',' or ']'" },
	{ LIT("\"abc"), "unterminated string" },
	{ LIT("\"a\tb\""), "control character" },
	{ LIT("\"a\nb\""), "control character" },
	{ LIT("\"\\x41\""), "invalid escape" },
	{ LIT("\"\\u12\""), "invalid \\u escape" },
	{ LIT("\"\\ud800\""), "unpaired UTF-16 surrogate" },
	{ LIT("\"\\udc00\\ud800\""), "unpaired UTF-16 surrogate" },
	{ LIT("\"\\ud800\\u0041\""), "unpaired UTF-16 surrogate" },
	{ LIT("{\"a\\u0000b\":1}"), "\\u0000 in an object key" },
	{ LIT("/* c */ {}"), "unexpected character" },
	{ LIT(""), "unexpected end of input" },
	{ LIT(" \n\t "), "unexpected end of input" },
	{ LIT("tru"), "unexpected character" },
	{ LIT("True"), "unexpected character" },
	{ LIT("nul"), "unexpected character" },
	{ LIT("truex"), "trailing data" },
	{ LIT("{\"a\":1"), "unexpected end of input" },
	{ LIT("[[[]]"), "unexpected end of input" },
	{ LIT("\xef\xbb\xbf{}"), "unexpected character" }, /* byte order mark */
};

START_TEST(parse_rejects)
{
	json_object *out = (json_object *)&out; /* must stay untouched */
	char err[256] = "";
	enum es_status st;

	st = jsondoc_parse_strict(reject[_i].text, reject[_i].len, 64, &out, err, sizeof(err));
	ck_assert_msg(st == ES_EINVAL, "case %d accepted", _i);
	ck_assert_ptr_eq(out, (json_object *)&out);
	ck_assert_msg(strncmp(err, "invalid JSON", 12) == 0, "message '%s'", err);
	ck_assert_msg(strstr(err, reject[_i].why) != NULL, "case %d: '%s' lacks '%s'", _i, err,
		      reject[_i].why);
}
END_TEST

static const struct { const char *text; size_t len; const char *compact; } accept[] = {
	{ LIT("{}"), "{}" },
	{ LIT("[]"), "[]" },
	{ LIT(" \r\n\t{ } \n"), "{}" },
	{ LIT("0"), "0" },
	{ LIT("-0"), "0" },                    /* jsonb has no negative zero either */
	{ LIT("123"), "123" },
	{ LIT("9223372036854775807"), "9223372036854775807" },
	{ LIT("-9223372036854775808"), "-9223372036854775808" },
	{ LIT("1.5e3"), "1.5e3" },
	{ LIT("1E-7"), "1E-7" },
	{ LIT("1e999"), "1e999" },              /* parses; jsondoc_pg_storable refuses it */
	{ LIT("true"), "true" },
	{ LIT("null"), "null" },
	{ LIT("\"\""), "\"\"" },
	{ LIT("\"a\\/b\""), "\"a/b\"" },
	{ LIT("\"a\\u0000b\""), "\"a\\u0000b\"" }, /* parses; not storable */
	{ LIT("\"\\ud83d\\ude00\""), "\"\xf0\x9f\x98\x80\"" },
	{ LIT("\"caf\xc3\xa9 \xf0\x9f\x98\x80\""), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"" },
	{ LIT("{\"a\":{\"a\":{\"a\":1}}}"), "{\"a\":{\"a\":{\"a\":1}}}" }, /* same key, other levels */
	{ LIT("[{\"a\":1},{\"a\":2}]"), "[{\"a\":1},{\"a\":2}]" },
	{ LIT("{\"A\":1,\"a\":2}"), "{\"A\":1,\"a\":2}" },
	{ LIT("{\"tracking\":\"1Z999\",\"n\":[1,2.5,null,false]}"),
	  "{\"tracking\":\"1Z999\",\"n\":[1,2.5,null,false]}" },
};

START_TEST(parse_accepts)
{
	json_object *out = NULL;
	char err[256] = "";

	ck_assert_msg(jsondoc_parse_strict(accept[_i].text, accept[_i].len, 64, &out, err,
					sizeof(err)) == ES_OK, "case %d: %s", _i, err);
	ck_assert_str_eq(jsondoc_compact(out), accept[_i].compact);
	json_object_put(out);
}
END_TEST

/* max_depth 64 allows 64 levels, arrays or objects, and refuses 65. */
START_TEST(parse_depth_limit)
{
	char *(*make)(int) = _i == 0 ? nested_arrays : nested_objects;
	char *ok = make(64), *deep = make(65), err[256];
	json_object *out = NULL;

	ck_assert_msg(jsondoc_parse_strict(ok, strlen(ok), 64, &out, err, sizeof(err)) == ES_OK,
		      "%s", err);
	json_object_put(out);
	out = NULL;
	ck_assert_int_eq(jsondoc_parse_strict(deep, strlen(deep), 64, &out, err, sizeof(err)),
			 ES_EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_msg(strstr(err, "nesting deeper than 64") != NULL, "%s", err);
	free(ok);
	free(deep);
}
END_TEST

START_TEST(parse_depth_counts_whole_body)
{
	/* depth is counted from the top, so a deep payload inside the request
	 * envelope counts the envelope's levels too */
	const char *doc = "{\"events\":[{\"payload\":{\"a\":[1]}}]}"; /* 5 levels */
	json_object *out = NULL;
	char err[256];

	ck_assert_int_eq(jsondoc_parse_strict(doc, strlen(doc), 4, &out, err, sizeof(err)),
			 ES_EINVAL);
	ck_assert_int_eq(jsondoc_parse_strict(doc, strlen(doc), 5, &out, err, sizeof(err)), ES_OK);
	json_object_put(out);
	ck_assert_int_eq(jsondoc_parse_strict("7", 1, 1, &out, err, sizeof(err)), ES_OK);
	json_object_put(out);
}
END_TEST

START_TEST(parse_reports_offset)
{
	json_object *out = NULL;
	char err[256];

	ck_assert_int_eq(jsondoc_parse_strict("[1,2,x]", 7, 64, &out, err, sizeof(err)), ES_EINVAL);
	ck_assert_str_eq(err, "invalid JSON at offset 5: unexpected character");
	ck_assert_int_eq(jsondoc_parse_strict("{\"a\":1,\"a\":2}", 13, 64, &out, err, sizeof(err)),
			 ES_EINVAL);
	ck_assert_str_eq(err, "invalid JSON at offset 7: duplicate key \"a\"");
}
END_TEST

START_TEST(parse_never_echoes_input)
{
	size_t n = 1 << 20;
	char *big = malloc(n + 16), err[512];
	json_object *out = NULL;

	ck_assert_ptr_nonnull(big);
	/* a huge string, then garbage; and a huge duplicate key */
	big[0] = '"';
	memset(big + 1, 'x', n);
	strcpy(big + 1 + n, "\" junk");
	ck_assert_int_eq(jsondoc_parse_strict(big, strlen(big), 64, &out, err, sizeof(err)),
			 ES_EINVAL);
	ck_assert_uint_lt(strlen(err), 120);
	ck_assert_ptr_null(strstr(err, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	free(big);

	big = malloc(2 * 300 + 32);
	ck_assert_ptr_nonnull(big);
	strcpy(big, "{\"");
	memset(big + 2, 'k', 300);
	strcpy(big + 302, "\":1,\"");
	memset(big + 307, 'k', 300);
	strcpy(big + 607, "\":2}");
	ck_assert_int_eq(jsondoc_parse_strict(big, strlen(big), 64, &out, err, sizeof(err)),
			 ES_EINVAL);
	ck_assert_msg(strstr(err, "duplicate key \"kkkkkkkkkk") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "...") != NULL, "%s", err);
	ck_assert_uint_lt(strlen(err), 120);
	free(big);
}
END_TEST

START_TEST(parse_small_err_buffer)
{
	json_object *out = NULL;
	char err[8];

	ck_assert_int_eq(jsondoc_parse_strict("nope", 4, 64, &out, err, sizeof(err)), ES_EINVAL);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(jsondoc_parse_strict("nope", 4, 64, &out, NULL, 0), ES_EINVAL);
}
END_TEST

static const struct { const char *text; bool ok; const char *pointer; } storable[] = {
	{ "{\"a\":[1,\"x\",{\"b\":null}],\"c\":1.5}", true, NULL },
	{ "1e999", false, "" },
	{ "-1e999", false, "" },
	{ "\"\\u0000\"", false, "" },
	{ "{\"a\":[1,\"x\\u0000\"]}", false, "/a/1" },
	{ "{\"a/b\":{\"c~d\":[0,-1e400]}}", false, "/a~1b/c~0d/1" },
	{ "{\"ok\":1e-400}", true, NULL }, /* underflows to 0: fine */
	{ "[\"\\ud83d\\ude00\"]", true, NULL },
};

START_TEST(pg_storable)
{
	json_object *v = NULL;
	char err[256], *pointer = (char *)"untouched";
	bool ok;

	ck_assert_msg(jsondoc_parse_strict(storable[_i].text, strlen(storable[_i].text), 64, &v, err,
					sizeof(err)) == ES_OK, "%s", err);
	ok = jsondoc_pg_storable(v, &pointer);
	ck_assert_int_eq(ok, storable[_i].ok);
	if (!ok) {
		ck_assert_str_eq(pointer, storable[_i].pointer);
		free(pointer);
	}
	ck_assert(jsondoc_pg_storable(v, NULL) == storable[_i].ok);
	json_object_put(v);
}
END_TEST

START_TEST(pg_storable_built_objects)
{
	/* objects built in code get the same scrutiny as parsed ones */
	json_object *o = json_object_new_object();
	char *pointer = NULL;

	json_object_object_add(o, "nan", json_object_new_double(0.0 / 0.0));
	ck_assert(!jsondoc_pg_storable(o, &pointer));
	ck_assert_str_eq(pointer, "/nan");
	free(pointer);
	json_object_object_del(o, "nan");
	json_object_object_add(o, "bytes", json_object_new_string_len("\xff\xfe", 2));
	ck_assert(!jsondoc_pg_storable(o, &pointer));
	ck_assert_str_eq(pointer, "/bytes");
	free(pointer);
	json_object_put(o);
}
END_TEST

static const struct { const char *base, *token, *out; } pointers[] = {
	{ "", "a", "/a" },
	{ NULL, "a", "/a" },
	{ "/events", "0", "/events/0" },
	{ "/x", "a/b", "/x/a~1b" },
	{ "/x", "m~n", "/x/m~0n" },
	{ "/x", "~/", "/x/~0~1" },
	{ "/x", "", "/x/" },
};

START_TEST(pointer_join)
{
	char *p = jsondoc_pointer_join(pointers[_i].base, pointers[_i].token);

	ck_assert_str_eq(p, pointers[_i].out);
	free(p);
}
END_TEST

START_TEST(compact_keeps_slashes)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "path", json_object_new_string("/v1/events"));
	ck_assert_str_eq(jsondoc_compact(o), "{\"path\":\"/v1/events\"}");
	json_object_put(o);
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("jsondoc");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, parse_rejects, 0, N_ELEMS(reject));
	tcase_add_loop_test(tc, parse_accepts, 0, N_ELEMS(accept));
	tcase_add_loop_test(tc, parse_depth_limit, 0, 2);
	tcase_add_test(tc, parse_depth_counts_whole_body);
	tcase_add_test(tc, parse_reports_offset);
	tcase_add_test(tc, parse_never_echoes_input);
	tcase_add_test(tc, parse_small_err_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("storable");
	tcase_add_loop_test(tc, pg_storable, 0, N_ELEMS(storable));
	tcase_add_test(tc, pg_storable_built_objects);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_loop_test(tc, pointer_join, 0, N_ELEMS(pointers));
	tcase_add_test(tc, compact_keeps_slashes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(json_suite());
}
