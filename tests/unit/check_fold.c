/* check_fold.c - evolve steps, the merge-patch fold and guards. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "aggregate/fold.h"
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

/* A definition with one event type E whose evolve is the given array. */
static struct aggdef *define(const char *evolve, const char *when)
{
	char text[2048];
	json_object *doc;
	struct aggdef *def = NULL;
	char err[512];

	snprintf(text, sizeof text, "{\"aggregate_type\":\"T\",\"events\":{\"E\":{\"evolve\":%s%s%s}}}",
		 evolve, when ? ",\"when\":" : "", when ? when : "");
	doc = parse(text);
	ck_assert_msg(aggdef_parse(doc, "t.json", &def, err, sizeof err) == ES_OK, "%s", err);
	json_object_put(doc);
	return def;
}

static const struct {
	const char *evolve, *state, *payload, *metadata, *want;
} steps[] = {
	{ "[{\"merge\":\"payload\"}]", "{\"a\":1,\"b\":{\"c\":1}}", "{\"b\":{\"c\":null,\"d\":2},\"e\":3}", NULL,
	  "{\"a\":1,\"b\":{\"d\":2},\"e\":3}" },
	{ "[{\"merge\":\"payload.inner\"}]", "{}", "{\"inner\":{\"x\":1}}", NULL, "{\"x\":1}" },
	{ "[{\"set\":{\"status\":\"created\",\"a.b\":[1]}}]", "{\"a\":5}", "{}", NULL,
	  "{\"a\":{\"b\":[1]},\"status\":\"created\"}" },
	{ "[{\"set\":{\"s\":\"payload.x\"}}]", "{}", "{\"x\":1}", NULL, "{\"s\":\"payload.x\"}" },
	{ "[{\"copy\":{\"t\":\"payload.x.y\",\"m\":\"metadata.k\"}}]", "{}", "{\"x\":{\"y\":[1,{}]}}",
	  "{\"k\":\"v\"}", "{\"m\":\"v\",\"t\":[1,{}]}" },
	{ "[{\"copy\":{\"t\":\"payload.absent\"}}]", "{\"t\":1}", "{}", NULL, "{\"t\":1}" },
	{ "[{\"copy\":{\"t\":\"payload.n\"}}]", "{\"t\":1}", "{\"n\":null}", NULL, "{\"t\":null}" },
	/* integers stay integers; a double makes a double */
	{ "[{\"inc\":{\"n\":1,\"m\":\"payload.by\"}}]", "{\"n\":41}", "{\"by\":2}", NULL, "{\"m\":2,\"n\":42}" },
	{ "[{\"inc\":{\"n\":\"payload.by\"}}]", "{\"n\":1}", "{\"by\":0.5}", NULL, "{\"n\":1.5}" },
	{ "[{\"inc\":{\"n\":1}}]", "{\"n\":\"x\"}", "{}", NULL, "{\"n\":1}" },
	{ "[{\"inc\":{\"n\":1}}]", "{\"n\":9223372036854775807}", "{}", NULL, "{\"n\":9.2233720368547758e+18}" },
	{ "[{\"inc\":{\"n\":\"payload.by\"}}]", "{\"n\":1}", "{\"by\":\"2\"}", NULL, "{\"n\":1}" },
	{ "[{\"append\":{\"notes\":\"payload.note\"}}]", "{}", "{\"note\":\"a\"}", NULL, "{\"notes\":[\"a\"]}" },
	{ "[{\"append\":{\"notes\":\"payload.note\"}}]", "{\"notes\":[\"a\"]}", "{\"note\":{\"b\":1}}", NULL,
	  "{\"notes\":[\"a\",{\"b\":1}]}" },
	{ "[{\"append\":{\"log\":7}}]", "{\"log\":3}", "{}", NULL, "{\"log\":[7]}" },
	{ "[{\"remove\":[\"a\",\"b.c\",\"nope.x\"]}]", "{\"a\":1,\"b\":{\"c\":2,\"d\":3}}", "{}", NULL,
	  "{\"b\":{\"d\":3}}" },
	{ "[{\"set\":{\"s\":1}},{\"inc\":{\"s\":2}},{\"remove\":[\"s\"]},{\"set\":{\"t\":true}}]", "{}", "{}", NULL,
	  "{\"t\":true}" },
};

START_TEST(fold_steps)
{
	struct aggdef *def = define(steps[_i].evolve, NULL);
	json_object *state = parse(steps[_i].state), *payload = parse(steps[_i].payload);
	json_object *metadata = steps[_i].metadata ? parse(steps[_i].metadata) : NULL;
	json_object *want = parse(steps[_i].want);

	ck_assert(fold_event(def, &state, "E", payload, metadata) == ES_OK);
	ck_assert_msg(jschema_equal(state, want) &&
		      json_object_get_type(json_object_object_get(state, "n")) ==
		      json_object_get_type(json_object_object_get(want, "n")),
		      "%s: got %s want %s", steps[_i].evolve, jsondoc_compact(state), steps[_i].want);
	/* the payload is not changed by folding it */
	{
		json_object *again = parse(steps[_i].payload);

		ck_assert(jschema_equal(payload, again));
		json_object_put(again);
	}
	json_object_put(state);
	json_object_put(payload);
	json_object_put(metadata);
	json_object_put(want);
	aggdef_free(def);
}
END_TEST

START_TEST(fold_unknown_event_keeps_state)
{
	struct aggdef *def = define("[{\"set\":{\"a\":1}}]", NULL);
	json_object *state = parse("{\"b\":2}"), *payload = parse("{\"a\":9}");

	ck_assert(fold_event(def, &state, "Other", payload, NULL) == ES_OK);
	ck_assert_str_eq(jsondoc_compact(state), "{\"b\":2}");
	json_object_put(state);
	json_object_put(payload);
	aggdef_free(def);
}
END_TEST

static const struct {
	const char *events[3], *want;
} patches[] = {
	{ { "{\"a\":1}", "{\"b\":2}", NULL }, "{\"a\":1,\"b\":2}" },
	{ { "{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"x\":null}}", NULL }, "{\"a\":{\"y\":2}}" },
	{ { "{\"a\":[1,2]}", "{\"a\":[3]}", NULL }, "{\"a\":[3]}" },
	{ { "{\"a\":{\"b\":1}}", "{\"a\":5}", "{\"a\":{\"c\":2}}" }, "{\"a\":{\"c\":2}}" },
	{ { "{\"a\":1}", "{\"a\":null,\"gone\":null}", NULL }, "{}" },
	{ { "{\"n\":1}", "{\"n\":2}", NULL }, "{\"n\":2}" },
};

START_TEST(fold_merge_patch_table)
{
	json_object *state = json_object_new_object(), *want = parse(patches[_i].want);

	for (size_t k = 0; k < 3 && patches[_i].events[k]; k++) {
		json_object *p = parse(patches[_i].events[k]);

		ck_assert(fold_event(NULL, &state, "Any", p, NULL) == ES_OK);
		json_object_put(p);
	}
	ck_assert_msg(jschema_equal(state, want), "got %s want %s", jsondoc_compact(state), patches[_i].want);
	if (json_object_object_get(want, "n"))
		ck_assert(json_object_is_type(json_object_object_get(state, "n"), json_type_int));
	json_object_put(state);
	json_object_put(want);
}
END_TEST

START_TEST(fold_guards)
{
	struct aggdef *def = define("[]", "{\"version\":0}");
	struct aggdef *st = define("[]", "{\"state.order.status\":[\"created\",\"paid\"],\"exists\":true}");
	json_object *state = parse("{\"order\":{\"status\":\"shipped\"}}");
	json_object *ok = parse("{\"order\":{\"status\":\"paid\"}}");
	struct fold_guard_failure why;

	ck_assert(fold_guards_pass(&def->events[0], state, 0, NULL));
	ck_assert(!fold_guards_pass(&def->events[0], state, 3, &why));
	ck_assert_str_eq(why.guard, "version");
	ck_assert(strstr(why.detail, "version 3") != NULL);
	ck_assert(!fold_guards_pass(&st->events[0], state, 2, &why));
	ck_assert_str_eq(why.guard, "state.order.status");
	ck_assert(strstr(why.detail, "\"shipped\"") != NULL);
	ck_assert(fold_guards_pass(&st->events[0], ok, 2, &why));
	ck_assert(!fold_guards_pass(&st->events[0], ok, 0, &why));
	ck_assert_str_eq(why.guard, "exists");
	json_object_put(state);
	json_object_put(ok);
	aggdef_free(def);
	aggdef_free(st);
}
END_TEST

static Suite *fold_suite(void)
{
	Suite *s = suite_create("fold");
	TCase *tc = tcase_create("evolve");

	tcase_add_loop_test(tc, fold_steps, 0, N_ELEMS(steps));
	tcase_add_test(tc, fold_unknown_event_keeps_state);
	tcase_add_loop_test(tc, fold_merge_patch_table, 0, N_ELEMS(patches));
	tcase_add_test(tc, fold_guards);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(fold_suite());
}
