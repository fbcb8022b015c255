/* check_jschema.c - the JSON Schema subset: a table of schemas, documents
 * and the violations expected (every one, by pointer), schemas that must not
 * compile, and JSON equality. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "base/text.h"
#include "json/jschema.h"
#include "json/jsondoc.h"

static json_object *parse(const char *text)
{
	json_object *v = NULL;
	char err[256];

	ck_assert_msg(jsondoc_parse_strict(text, strlen(text), 64, &v, err, sizeof err) == ES_OK,
		      "%s: %s", text, err);
	return v;
}

/* pointers: the violations' pointers joined by "," in order; "#" stands
 * for the document itself (pointer ""), "" means valid. */
static const struct {
	const char *schema, *doc, *pointers;
} cases[] = {
	{ "{}", "{\"anything\":[1,null]}", "" },
	{ "{\"type\":\"integer\"}", "1", "" },
	/* JSON Schema: 1.0 is an integer, though json-c parses it as a double */
	{ "{\"type\":\"integer\"}", "1.0", "" },
	{ "{\"type\":\"integer\"}", "1.5", "#" },
	{ "{\"type\":\"integer\"}", "\"1\"", "#" },
	{ "{\"type\":\"number\"}", "1", "" },
	{ "{\"type\":\"number\"}", "true", "#" },
	{ "{\"type\":[\"string\",\"null\"]}", "null", "" },
	{ "{\"type\":[\"string\",\"null\"]}", "3", "#" },
	{ "{\"type\":\"boolean\"}", "0", "#" },
	{ "{\"type\":\"array\"}", "{}", "#" },
	{ "{\"type\":\"object\"}", "[]", "#" },
	/* huge numbers: exact int64 comparisons at the edges */
	{ "{\"maximum\":9223372036854775807}", "9223372036854775807", "" },
	{ "{\"maximum\":9223372036854775806}", "9223372036854775807", "#" },
	{ "{\"minimum\":-9223372036854775808}", "-9223372036854775808", "" },
	{ "{\"maximum\":1e300}", "1e308", "#" },
	{ "{\"minimum\":0}", "-0.000001", "#" },
	{ "{\"minimum\":0,\"maximum\":10}", "10", "" },
	{ "{\"minimum\":0.5}", "1", "" },
	/* code points, not bytes */
	{ "{\"maxLength\":3}", "\"\\u00e9\\u00e9\\u00e9\"", "" },
	{ "{\"maxLength\":3}", "\"h\\u00e9\\u00e9\\u00e9\"", "#" },
	{ "{\"minLength\":2}", "\"\\ud83d\\ude00\"", "#" },
	{ "{\"minLength\":1,\"maxLength\":1}", "\"\\ud83d\\ude00\"", "" },
	{ "{\"pattern\":\"^[A-Z]{2}[0-9]+$\"}", "\"AB12\"", "" },
	{ "{\"pattern\":\"^[A-Z]{2}[0-9]+$\"}", "\"ab12\"", "#" },
	{ "{\"pattern\":\"[0-9]\"}", "\"abc1def\"", "" },
	{ "{\"pattern\":\"^a\"}", "5", "" },
	/* ECMA-262, not POSIX: \\d is a digit, and the search is unanchored */
	{ "{\"pattern\":\"^\\\\d{3}$\"}", "\"123\"", "" },
	{ "{\"pattern\":\"^\\\\d{3}$\"}", "\"ddd\"", "#" },
	{ "{\"pattern\":\"\\\\w+@\\\\w+\"}", "\"mail: a@b.\"", "" },
	{ "{\"pattern\":\"^(?:ab)+$\"}", "\"abab\"", "" },
	{ "{\"pattern\":\"^.$\"}", "\"\\u00e9\"", "" },
	{ "{\"pattern\":\"^\\\\p{Lu}\"}", "\"\\u00c9t\\u00e9\"", "" },
	{ "{\"pattern\":\"^\\\\p{Lu}\"}", "\"\\u00e9t\\u00e9\"", "#" },
	{ "{\"enum\":[\"a\",1,null]}", "1.0", "" },
	{ "{\"enum\":[\"a\",1,null]}", "null", "" },
	{ "{\"enum\":[\"a\",1,null]}", "\"b\"", "#" },
	{ "{\"const\":{\"a\":[1,2]}}", "{\"a\":[1,2]}", "" },
	{ "{\"const\":{\"a\":[1,2]}}", "{\"a\":[2,1]}", "#" },
	{ "{\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}", "[1,\"x\",3,true]",
	  "#,/1,/3" },
	{ "{\"minItems\":1}", "[]", "#" },
	/* every violation, nested, with pointers escaped (RFC 6901) */
	{ "{\"type\":\"object\",\"required\":[\"customer_id\",\"total\"],"
	  "\"properties\":{\"customer_id\":{\"type\":\"string\"},\"total\":{\"type\":\"number\",\"minimum\":0},"
	  "\"a/b\":{\"type\":\"string\"}},\"additionalProperties\":false}",
	  "{\"total\":-1,\"a/b\":1,\"x~\":2}", "/customer_id,/total,/a~1b,/x~0" },
	{ "{\"properties\":{\"n\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}",
	  "{\"n\":1,\"s\":\"x\",\"t\":2}", "/t" },
	{ "{\"properties\":{\"o\":{\"properties\":{\"p\":{\"maxLength\":1}}}}}", "{\"o\":{\"p\":\"ab\"}}", "/o/p" },
	/* a type mismatch is one violation, not one per keyword */
	{ "{\"type\":\"string\",\"minLength\":3,\"pattern\":\"x\"}", "7", "#" },
};

START_TEST(jschema_table)
{
	json_object *schema = parse(cases[_i].schema), *doc = parse(cases[_i].doc);
	struct jschema_violations v = { NULL, 0, 0, false };
	struct jschema *s = NULL;
	char err[256], got[512] = "";
	bool valid;

	ck_assert_msg(jschema_compile(schema, "", &s, err, sizeof err) == ES_OK, "%s", err);
	valid = jschema_validate(s, doc, "", &v);
	for (size_t i = 0; i < v.n; i++) {
		if (i)
			strcat(got, ",");
		strcat(got, v.items[i].pointer[0] ? v.items[i].pointer : "#");
		ck_assert_ptr_nonnull(v.items[i].message);
		ck_assert(v.items[i].message[0] != '\0');
	}
	ck_assert_msg(strcmp(got, cases[_i].pointers) == 0, "schema %s doc %s: got [%s] want [%s]",
		      cases[_i].schema, cases[_i].doc, got, cases[_i].pointers);
	ck_assert(valid == (v.n == 0));
	jschema_violations_free(&v);
	jschema_free(s);
	json_object_put(schema);
	json_object_put(doc);
}
END_TEST

START_TEST(jschema_base_pointer)
{
	json_object *schema = parse("{\"required\":[\"total\"]}"), *doc = parse("{}");
	struct jschema_violations v = { NULL, 0, 0, false };
	struct jschema *s = NULL;
	char err[128];

	ck_assert(jschema_compile(schema, "", &s, err, sizeof err) == ES_OK);
	ck_assert(!jschema_validate(s, doc, "/events/0/payload", &v));
	ck_assert_uint_eq(v.n, 1);
	ck_assert_str_eq(v.items[0].pointer, "/events/0/payload/total");
	ck_assert_str_eq(v.items[0].message, "is required");
	jschema_violations_free(&v);
	jschema_free(s);
	json_object_put(schema);
	json_object_put(doc);
}
END_TEST

static const struct {
	const char *schema, *err;
} bad_schemas[] = {
	{ "{\"type\":\"text\"}", "/base/type: unknown type" },
	{ "{\"typo\":1}", "/base/typo: unknown schema keyword" },
	{ "{\"properties\":{\"a\":{\"format\":\"email\"}}}", "/base/properties/a/format: unknown schema keyword" },
	{ "{\"pattern\":\"(\"}", "/base/pattern: not a regular expression" },
	{ "{\"pattern\":\"a{2,1}\"}", "/base/pattern: not a regular expression" },
	{ "{\"pattern\":\"\\\\\"}", "/base/pattern: not a regular expression" },
	{ "{\"minLength\":-1}", "/base/minLength: must be an integer >= 0" },
	{ "{\"maxItems\":1.5}", "/base/maxItems: must be an integer >= 0" },
	{ "{\"minimum\":\"0\"}", "/base/minimum: must be a number" },
	{ "{\"minimum\":5,\"maximum\":1}", "/base/minimum: is above maximum" },
	{ "{\"enum\":[]}", "/base/enum: must be a non-empty array" },
	{ "{\"required\":[1]}", "/base/required: must be an array of property names" },
	{ "{\"items\":[{}]}", "/base/items: a schema must be a JSON object" },
	{ "[]", "/base: a schema must be a JSON object" },
};

START_TEST(jschema_rejects)
{
	json_object *schema = parse(bad_schemas[_i].schema);
	struct jschema *s = NULL;
	char err[256] = "";

	ck_assert(jschema_compile(schema, "/base", &s, err, sizeof err) == ES_EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_msg(strncmp(err, bad_schemas[_i].err, strlen(bad_schemas[_i].err)) == 0,
		      "%s: got \"%s\"", bad_schemas[_i].schema, err);
	json_object_put(schema);
}
END_TEST

/* Found by fuzzing: "must be one of %.200s" cut the enum's text inside a
 * character, and the 422 document was no longer valid UTF-8. */
START_TEST(jschema_message_cut_stays_utf8)
{
	char text[400] = "{\"enum\":[\"x";
	json_object *schema, *doc;
	struct jschema *s = NULL;
	struct jschema_violations v = { NULL, 0, 0, false };
	char err[256] = "";

	for (int i = 0; i < 120; i++)
		strcat(text, "\xc3\xa9");
	strcat(text, "\"]}");
	schema = parse(text);
	doc = parse("\"y\"");
	ck_assert(jschema_compile(schema, "", &s, err, sizeof err) == ES_OK);
	ck_assert(!jschema_validate(s, doc, "", &v));
	ck_assert_uint_eq(v.n, 1);
	for (const char *p = v.items[0].message; *p;) {
		size_t len = text_utf8_seq_len((const unsigned char *)p, strlen(p));

		ck_assert_msg(len > 0, "invalid UTF-8 at %s", p);
		p += len;
	}
	jschema_violations_free(&v);
	jschema_free(s);
	json_object_put(doc);
	json_object_put(schema);
}
END_TEST

START_TEST(jschema_equality)
{
	json_object *a = parse("{\"x\":[1,2.0,{\"y\":null}],\"z\":\"s\"}");
	json_object *b = parse("{\"z\":\"s\",\"x\":[1.0,2,{\"y\":null}]}");
	json_object *c = parse("{\"z\":\"s\",\"x\":[1.0,2,{\"y\":false}]}");

	ck_assert(jschema_equal(a, b));
	ck_assert(!jschema_equal(a, c));
	ck_assert(jschema_equal(NULL, NULL));
	ck_assert(!jschema_equal(a, NULL));
	ck_assert_uint_eq(jschema_utf8_length("h\xc3\xa9\xf0\x9f\x98\x80", 7), 3);
	json_object_put(a);
	json_object_put(b);
	json_object_put(c);
}
END_TEST

static Suite *jschema_suite(void)
{
	Suite *s = suite_create("jschema");
	TCase *tc = tcase_create("validate");

	tcase_add_loop_test(tc, jschema_table, 0, N_ELEMS(cases));
	tcase_add_test(tc, jschema_base_pointer);
	tcase_add_loop_test(tc, jschema_rejects, 0, N_ELEMS(bad_schemas));
	tcase_add_test(tc, jschema_equality);
	tcase_add_test(tc, jschema_message_cut_stays_utf8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(jschema_suite());
}
