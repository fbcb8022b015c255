/* check_jsoncanon.c - canonical JSON: equal documents, whatever their
 * member order or white space, give the same text. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <string.h>
#include <json-c/json.h>

#include "json/jsoncanon.h"
#include "json/jsondoc.h"


static const struct {
	const char *in;
	const char *out;
} cases[] = {
	{ "{}", "{}" },
	{ "[]", "[]" },
	{ "null", "null" },
	{ "{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}" },
	{ " { \"z\" : [ 3 , 2 , 1 ] , \"a\" : { \"y\" : true , \"x\" : null } } ",
	  "{\"a\":{\"x\":null,\"y\":true},\"z\":[3,2,1]}" },
	/* byte order: upper case before lower case, "a" before "aa" */
	{ "{\"aa\":0,\"a\":0,\"B\":0,\"b\":0}", "{\"B\":0,\"a\":0,\"aa\":0,\"b\":0}" },
	/* arrays keep their order; objects inside them are sorted */
	{ "[{\"b\":1,\"a\":1},{\"d\":1,\"c\":1}]", "[{\"a\":1,\"b\":1},{\"c\":1,\"d\":1}]" },
	{ "{\"s\":\"x/y\\u00e9\\n\"}", "{\"s\":\"x/y\xc3\xa9\\n\"}" },
	/* numbers keep the spelling they were parsed with */
	{ "{\"n\":-1.5e3,\"i\":9007199254740993}", "{\"i\":9007199254740993,\"n\":-1.5e3}" },
};

START_TEST(test_canonical)
{
	json_object *doc = NULL;
	struct sbuf b = SBUF_INIT;
	char err[128];

	ck_assert_int_eq(jsondoc_parse_strict(cases[_i].in, strlen(cases[_i].in), 64, &doc, err,
					      sizeof err), ES_OK);
	jsoncanon_write(doc, &b);
	ck_assert(!b.failed);
	ck_assert_str_eq(sbuf_cstr(&b), cases[_i].out);
	sbuf_free(&b);
	json_object_put(doc);
}
END_TEST

/* The same document with its members in another order is the same text. */
START_TEST(test_order_independent)
{
	const char *a = "{\"x\":{\"q\":[1,{\"k\":1,\"j\":2}],\"p\":\"s\"},\"w\":false}";
	const char *b = "{\"w\":false,\"x\":{\"p\":\"s\",\"q\":[1,{\"j\":2,\"k\":1}]}}";
	json_object *da = NULL, *db = NULL;
	struct sbuf ta = SBUF_INIT, tb = SBUF_INIT;
	char err[128];

	ck_assert_int_eq(jsondoc_parse_strict(a, strlen(a), 64, &da, err, sizeof err), ES_OK);
	ck_assert_int_eq(jsondoc_parse_strict(b, strlen(b), 64, &db, err, sizeof err), ES_OK);
	jsoncanon_write(da, &ta);
	jsoncanon_write(db, &tb);
	ck_assert_str_eq(sbuf_cstr(&ta), sbuf_cstr(&tb));
	sbuf_free(&ta);
	sbuf_free(&tb);
	json_object_put(da);
	json_object_put(db);
}
END_TEST

static Suite *jsoncanon_suite(void)
{
	Suite *s = suite_create("jsoncanon");
	TCase *tc = tcase_create("canonical");

	tcase_add_loop_test(tc, test_canonical, 0, N_ELEMS(cases));
	tcase_add_test(tc, test_order_independent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(jsoncanon_suite());
}
