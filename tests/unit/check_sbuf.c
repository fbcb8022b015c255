/* check_sbuf.c - sbuf: the growing string buffer and its JSON string
 * escaping. */
#include "buildconf.h"

#include <check.h>
#include <string.h>
#include <json-c/json.h>

#include "base/sbuf.h"
#include "test_helpers.h"

START_TEST(sbuf_builds_text)
{
	struct sbuf b = SBUF_INIT;

	ck_assert_str_eq(sbuf_cstr(&b), "");
	sbuf_puts(&b, "abc");
	sbuf_putc(&b, '-');
	sbuf_append(&b, "xyz", 2);
	sbuf_printf(&b, "[%d:%s]", 42, "q");
	ck_assert_str_eq(sbuf_cstr(&b), "abc-xy[42:q]");
	ck_assert_uint_eq(b.len, 12);
	ck_assert(!b.failed);
	sbuf_free(&b);
	ck_assert_ptr_null(b.data);
	sbuf_free(&b); /* twice is harmless */
}
END_TEST

START_TEST(sbuf_grows)
{
	struct sbuf b = SBUF_INIT;
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 100; i++)
		sbuf_printf(&b, "%s%d", big, i % 10);
	ck_assert_uint_eq(b.len, 100 * sizeof(big));
	ck_assert_uint_eq(strlen(sbuf_cstr(&b)), b.len);
	ck_assert_int_eq(b.data[sizeof(big) - 1], '0');
	ck_assert_int_eq(b.data[b.len - 1], '9');
	sbuf_free(&b);
}
END_TEST

START_TEST(sbuf_reset_keeps_memory)
{
	struct sbuf b = SBUF_INIT;
	size_t cap;

	sbuf_puts(&b, "some text that needs room");
	cap = b.cap;
	sbuf_reset(&b);
	ck_assert_str_eq(sbuf_cstr(&b), "");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, cap);
	sbuf_puts(&b, "new");
	ck_assert_str_eq(sbuf_cstr(&b), "new");
	sbuf_free(&b);
}
END_TEST

/* Truncating drops the tail and keeps the text terminated; a length
 * past the end changes nothing. */
START_TEST(sbuf_truncate_drops_tail)
{
	struct sbuf b = SBUF_INIT;

	sbuf_puts(&b, "first,second");
	sbuf_truncate(&b, 5);
	ck_assert_str_eq(sbuf_cstr(&b), "first");
	ck_assert_uint_eq(b.len, 5);
	sbuf_truncate(&b, 99);
	ck_assert_str_eq(sbuf_cstr(&b), "first");
	sbuf_puts(&b, "!");
	ck_assert_str_eq(sbuf_cstr(&b), "first!");
	sbuf_free(&b);
}
END_TEST

START_TEST(sbuf_binary)
{
	struct sbuf b = SBUF_INIT;

	sbuf_append(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0); /* NUL-terminated too */
	sbuf_free(&b);
}
END_TEST

static const struct { const char *in, *json; } json_strings[] = {
	{ "", "\"\"" },
	{ "plain", "\"plain\"" },
	{ "say \"hi\"\\", "\"say \\\"hi\\\"\\\\\"" },
	{ "a/b", "\"a/b\"" },
	{ "line\nbreak\ttab\r\b\f", "\"line\\nbreak\\ttab\\r\\b\\f\"" },
	{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
	{ "caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"" },
	{ "bad \xc0\xaf end", "\"bad \\ufffd\\ufffd end\"" },        /* overlong */
	{ "sur \xed\xa0\x80", "\"sur \\ufffd\\ufffd\\ufffd\"" },     /* surrogate */
	{ "cut \xe2\x82", "\"cut \\ufffd\\ufffd\"" },                /* truncated */
};

START_TEST(sbuf_json_string_escapes)
{
	struct sbuf b = SBUF_INIT;
	json_object *o;

	sbuf_json_string(&b, json_strings[_i].in);
	ck_assert_str_eq(sbuf_cstr(&b), json_strings[_i].json);
	/* whatever went in, what comes out is one valid JSON string */
	o = json_tokener_parse(sbuf_cstr(&b));
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_is_type(o, json_type_string));
	json_object_put(o);
	sbuf_free(&b);
}
END_TEST

static Suite *sbuf_suite(void)
{
	Suite *s = suite_create("sbuf");
	TCase *tc = tcase_create("buffer");

	tcase_add_test(tc, sbuf_builds_text);
	tcase_add_test(tc, sbuf_grows);
	tcase_add_test(tc, sbuf_reset_keeps_memory);
	tcase_add_test(tc, sbuf_truncate_drops_tail);
	tcase_add_test(tc, sbuf_binary);
	tcase_add_loop_test(tc, sbuf_json_string_escapes, 0, N_ELEMS(json_strings));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(sbuf_suite());
}
