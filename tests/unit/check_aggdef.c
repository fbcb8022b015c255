/* check_aggdef.c - loading aggregate definitions: a table of bad files and
 * the "file: /pointer: reason" each must produce, the registry, the rules
 * hash, and validation of events against a definition. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "json/jschema.h"
#include "json/jsondoc.h"
#include "test_helpers.h"

#define GOOD \
	"{\"aggregate_type\":\"Order\",\"schema_version\":2," \
	"\"snapshot\":{\"threshold\":10,\"mode\":\"sync\"}," \
	"\"events\":{\"OrderCreated\":{\"payload\":{\"type\":\"object\",\"required\":[\"total\"]," \
	"\"properties\":{\"total\":{\"type\":\"number\",\"minimum\":0}}}," \
	"\"when\":{\"version\":0},\"evolve\":[{\"merge\":\"payload\"},{\"set\":{\"status\":\"created\"}}]}," \
	"\"OrderShipped\":{\"when\":{\"state.status\":[\"created\"]}," \
	"\"evolve\":[{\"copy\":{\"by\":\"metadata.actor\"}}]}}," \
	"\"commands\":{\"create\":{\"emits\":\"OrderCreated\"},\"ship\":{\"emits\":\"OrderShipped\"}}}"

/* A payload schema for the personal data cases. */
#define PSCHEMA \
	"\"payload\":{\"type\":\"object\",\"properties\":{\"customer_id\":{\"type\":\"string\"}," \
	"\"email\":{\"type\":\"string\"},\"address\":{\"type\":\"object\",\"properties\":" \
	"{\"city\":{\"type\":\"string\"}}},\"total\":{\"type\":\"number\"}}}"

static char dir[256];

static void setup(void)
{
	test_dir_create(dir, sizeof dir, "check_aggdef");
}

static void teardown(void)
{
	test_dir_remove(dir);
}

static const struct {
	const char *text, *err; /* err follows "<dir>/a.json: " */
} bad[] = {
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{}},\"extra\":1}", "/extra: unknown keyword" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"payload\":{},\"guard\":{}}}}",
	  "/events/E/guard: unknown keyword" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"payload\":{\"minimum\":0,\"exclusiveMinimum\":1}}}}",
	  "/events/E/payload/exclusiveMinimum: unknown schema keyword" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"payload\":{\"properties\":{\"x\":{\"pattern\":\"a[\"}}}}}}",
	  "/events/E/payload/properties/x/pattern: not a regular expression" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"payload\":{\"pattern\":\"(?<=a+)b\"}}}}",
	  "/events/E/payload/pattern: not a regular expression" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{}},\"commands\":{\"go\":{\"emits\":\"F\"}}}",
	  "/commands/go/emits: \"F\" is not an event type of this definition" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{}},\"commands\":{\"go\":{\"emits\":\"E\",\"as\":1}}}",
	  "/commands/go/as: unknown keyword" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"when\":{\"status\":[\"x\"]}}}}",
	  "/events/E/when/status: unknown keyword" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"when\":{\"state.\":[\"x\"]}}}}",
	  "/events/E/when/state.: \"\" is not a valid path" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"when\":{\"state.s\":[]}}}}",
	  "/events/E/when/state.s: must be a non-empty array" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"when\":{\"version\":-1}}}}",
	  "/events/E/when/version: must be an integer >= 0" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"evolve\":[{\"merge\":\"payload\"},{\"mul\":{\"a\":2}}]}}}",
	  "/events/E/evolve/1/mul: unknown keyword" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"evolve\":[{\"copy\":{\"a\":\"state.b\"}}]}}}",
	  "/events/E/evolve/0/copy/a: must be a source" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"evolve\":[{\"inc\":{\"a\":\"x\"}}]}}}",
	  "/events/E/evolve/0/inc/a: must be a number or a source" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"evolve\":[{\"set\":{\"a..b\":1}}]}}}",
	  "/events/E/evolve/0/set/a..b: \"a..b\" is not a valid path" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"evolve\":[{\"remove\":[\"ok\",3]}]}}}",
	  "/events/E/evolve/0/remove/1: must be a dotted path" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{\"evolve\":[{\"set\":{\"a\":1},\"inc\":{\"a\":1}}]}}}",
	  "/events/E/evolve/0: an evolve step is an object with one member" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{}},\"snapshot\":{\"threshold\":10,\"mode\":\"often\"}}",
	  "/snapshot/mode: must be sync, background or manual" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E\":{}},\"snapshot\":{\"threshold\":0,\"mode\":\"sync\"}}",
	  "/snapshot/threshold: is required and must be an integer >= 1" },
	{ "{\"aggregate_type\":\"1A\",\"events\":{\"E\":{}}}", "/aggregate_type: is required" },
	{ "{\"aggregate_type\":\"A\",\"events\":{}}", "/events: is required" },
	{ "{\"aggregate_type\":\"A\",\"events\":{\"E~/x\":{}}}", "/events/E~0~1x: an event type must match" },
	{ "{\"aggregate_type\":\"A\",\"schema_version\":0,\"events\":{\"E\":{}}}", "/schema_version: must be" },
	{ "{\"aggregate_type\":\"A\",", "invalid JSON" },
	{ "[]", "/: a definition is a JSON object" },
	/* personal data: every path must be one its payload schema names */
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{\"personal\":{\"subject\":\"aggregate_id\","
	  "\"fields\":[\"payload.email\"]}}}}",
	  "/events/E/personal: personal data needs a payload schema" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":{\"subject\":"
	  "\"payload.customer\",\"fields\":[\"payload.email\"]}}}}",
	  "/events/E/personal/subject: \"payload.customer\" is not a property of the payload schema" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":{\"subject\":"
	  "\"payload.customer_id\",\"fields\":[\"payload.email\",\"payload.address.zip\"]}}}}",
	  "/events/E/personal/fields/1: \"payload.address.zip\" is not a property of the payload schema" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":[{\"subject\":"
	  "\"aggregate_id\",\"fields\":[\"payload.email\"]},{\"subject\":\"payload.customer_id\","
	  "\"fields\":[\"email\"]}]}}}",
	  "/events/E/personal/1/fields/0: must be a path into the payload" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":{\"subject\":"
	  "\"aggregate_id\",\"fields\":[]}}}}",
	  "/events/E/personal/fields: is required" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":{\"subject\":"
	  "\"aggregate_id\",\"fields\":[\"payload.email\"],\"hash\":true}}}}",
	  "/events/E/personal/hash: unknown keyword" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":{\"fields\":"
	  "[\"payload.email\"]}}}}",
	  "/events/E/personal/subject: is required" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":{\"subject\":"
	  "\"payload.customer_id\",\"fields\":[\"payload.customer_id\"]}}}}",
	  "/events/E/personal/fields/0: the subject's id cannot be personal data of its own" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":[{\"subject\":"
	  "\"aggregate_id\",\"fields\":[\"payload.address\"]},{\"subject\":\"payload.customer_id\","
	  "\"fields\":[\"payload.address.city\"]}]}}}",
	  "/events/E/personal: \"payload.address\" is declared for two subjects" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":[]}}}",
	  "/events/E/personal: must be a declaration or a non-empty array" },
	{ "{\"aggregate_type\":\"C\",\"events\":{\"E\":{" PSCHEMA ",\"personal\":{\"subject\":"
	  "\"aggregate_id\",\"fields\":[\"payload.email\"]},\"evolve\":[{\"merge\":\"payload.email\"}]}}}",
	  "/events/E/evolve: merges personal field \"payload.email\" into the state's top" },
};

START_TEST(aggdef_rejects)
{
	struct aggdef_registry *reg = (void *)1;
	char err[512] = "", want[512];

	test_file_write(dir, "a.json", bad[_i].text);
	ck_assert(aggdef_registry_load(dir, &reg, err, sizeof err) != ES_OK);
	ck_assert_ptr_null(reg);
	snprintf(want, sizeof want, "%s/a.json: %s", dir, bad[_i].err);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"\nwant \"%s...\"", err, want);
}
END_TEST

START_TEST(aggdef_loads_a_registry)
{
	struct aggdef_registry *reg = NULL;
	const struct aggdef *def;
	char err[512] = "";

	test_file_write(dir, "order.json", GOOD);
	test_file_write(dir, "cart.json", "{\"aggregate_type\":\"Cart\",\"events\":{\"ItemAdded\":{}}}");
	test_file_write(dir, "notes.txt", "not json, not loaded");
	ck_assert_msg(aggdef_registry_load(dir, &reg, err, sizeof err) == ES_OK, "%s", err);
	ck_assert_uint_eq(reg->n, 2);
	def = aggdef_find(reg, "Order");
	ck_assert_ptr_nonnull(def);
	ck_assert_int_eq(def->schema_version, 2);
	ck_assert_int_eq(def->snapshot_mode, AGGDEF_SNAPSHOT_SYNC);
	ck_assert_int_eq(def->snapshot_threshold, 10);
	ck_assert(def->uses_metadata);
	ck_assert_uint_eq(strlen(def->rules_hash), 16);
	ck_assert_ptr_eq(aggdef_command_find(def, "ship")->emits, aggdef_event_find(def, "OrderShipped"));
	ck_assert_ptr_null(aggdef_command_find(def, "cancel"));
	ck_assert_int_eq(aggdef_find(reg, "Cart")->snapshot_mode, AGGDEF_SNAPSHOT_NONE);
	ck_assert(!aggdef_find(reg, "Cart")->uses_metadata);
	ck_assert_ptr_null(aggdef_find(reg, "Other"));
	aggdef_registry_free(reg);
}
END_TEST

START_TEST(aggdef_refuses_a_type_twice)
{
	struct aggdef_registry *reg = NULL;
	char err[512] = "";

	test_file_write(dir, "a.json", "{\"aggregate_type\":\"A\",\"events\":{\"E\":{}}}");
	test_file_write(dir, "b.json", "{\"aggregate_type\":\"A\",\"events\":{\"F\":{}}}");
	ck_assert(aggdef_registry_load(dir, &reg, err, sizeof err) == ES_EINVAL);
	ck_assert_msg(strstr(err, "b.json: /aggregate_type: \"A\" is already defined by") != NULL, "%s", err);
}
END_TEST

/* A configured directory that is not there stops start-up: with it,
 * every schema and guard would silently be off. */
START_TEST(aggdef_missing_dir_is_an_error)
{
	struct aggdef_registry *reg = (void *)1;
	char err[256] = "", path[320];

	snprintf(path, sizeof path, "%s/none", dir);
	ck_assert(aggdef_registry_load(path, &reg, err, sizeof err) == ES_EINVAL);
	ck_assert_ptr_null(reg);
	ck_assert_msg(strstr(err, path) && strstr(err, "No such file or directory"), "%s", err);
}
END_TEST

START_TEST(aggdef_file_as_dir_is_an_error)
{
	struct aggdef_registry *reg = (void *)1;
	char err[256] = "", path[320];

	test_file_write(dir, "plain", "x");
	snprintf(path, sizeof path, "%s/plain", dir);
	ck_assert(aggdef_registry_load(path, &reg, err, sizeof err) == ES_EINVAL);
	ck_assert_ptr_null(reg);
	ck_assert_msg(strstr(err, path) && strstr(err, "Not a directory"), "%s", err);
}
END_TEST

/* The empty value is how a configuration says "no definitions". */
START_TEST(aggdef_empty_dir_setting_is_none)
{
	struct aggdef_registry *reg = NULL;
	char err[256] = "";

	ck_assert(aggdef_registry_load("", &reg, err, sizeof err) == ES_OK);
	ck_assert_uint_eq(reg->n, 0);
	aggdef_registry_free(reg);
	ck_assert(aggdef_registry_load(dir, &reg, err, sizeof err) == ES_OK);
	ck_assert_uint_eq(reg->n, 0);
	aggdef_registry_free(reg);
}
END_TEST

static struct aggdef *parse_def(const char *text)
{
	json_object *doc = NULL;
	struct aggdef *def = NULL;
	char err[512];

	ck_assert(jsondoc_parse_strict(text, strlen(text), 64, &doc, err, sizeof err) == ES_OK);
	ck_assert_msg(aggdef_parse(doc, "x.json", &def, err, sizeof err) == ES_OK, "%s", err);
	json_object_put(doc);
	return def;
}

START_TEST(aggdef_rules_hash)
{
	struct aggdef *a = parse_def(GOOD);
	/* the same rules, members in another order, other schemas: same hash */
	struct aggdef *b = parse_def(
		"{\"events\":{\"OrderShipped\":{\"evolve\":[{\"copy\":{\"by\":\"metadata.actor\"}}]},"
		"\"OrderCreated\":{\"evolve\":[{\"merge\":\"payload\"},{\"set\":{\"status\":\"created\"}}]}},"
		"\"aggregate_type\":\"Order\"}");
	struct aggdef *c = parse_def(
		"{\"aggregate_type\":\"Order\",\"events\":{\"OrderShipped\":{\"evolve\":[{\"copy\":{\"by\":\"metadata.actor\"}}]},"
		"\"OrderCreated\":{\"evolve\":[{\"merge\":\"payload\"},{\"set\":{\"status\":\"new\"}}]}}}");

	ck_assert_str_eq(a->rules_hash, b->rules_hash);
	ck_assert_str_ne(a->rules_hash, c->rules_hash);
	aggdef_free(a);
	aggdef_free(b);
	aggdef_free(c);
}
END_TEST

START_TEST(aggdef_validates_events)
{
	struct aggdef *def = parse_def(GOOD);
	struct jschema_violations v = { NULL, 0, 0, false };
	json_object *good = json_object_new_object(), *wrong = json_object_new_object();

	json_object_object_add(good, "total", json_object_new_int(3));
	json_object_object_add(wrong, "total", json_object_new_string("3"));
	ck_assert(aggdef_validate(def, "OrderCreated", good, "/events/0", "/events/0/payload", &v));
	ck_assert(aggdef_validate(def, "OrderShipped", wrong, "/events/1", "/events/1/payload", &v));
	ck_assert(!aggdef_validate(def, "OrderCreated", wrong, "/events/2", "/events/2/payload", &v));
	ck_assert(!aggdef_validate(def, "OrderLost", good, "/events/3", "/events/3/payload", &v));
	ck_assert_uint_eq(v.n, 2);
	ck_assert_str_eq(v.items[0].pointer, "/events/2/payload/total");
	ck_assert_str_eq(v.items[1].pointer, "/events/3/event_type");
	jschema_violations_free(&v);
	json_object_put(good);
	json_object_put(wrong);
	aggdef_free(def);
}
END_TEST

/* Declared personal data: its subjects and fields, and the state paths the
 * evolve rules fill from them (withheld from state readers). */
START_TEST(aggdef_personal_declarations)
{
	struct aggdef *def = parse_def(
		"{\"aggregate_type\":\"Customer\",\"events\":{"
		"\"Registered\":{" PSCHEMA ",\"personal\":{\"subject\":\"aggregate_id\","
		"\"fields\":[\"payload.email\",\"payload.address\"]},"
		"\"evolve\":[{\"merge\":\"payload\"}]},"
		"\"Moved\":{" PSCHEMA ",\"personal\":[{\"subject\":\"payload.customer_id\","
		"\"fields\":[\"payload.address.city\"]}],"
		"\"evolve\":[{\"copy\":{\"home\":\"payload.address\"}},{\"append\":{\"cities\":\"payload.address.city\"}},"
		"{\"inc\":{\"total\":\"payload.total\"}}]},"
		"\"Other\":{\"evolve\":[{\"merge\":\"payload\"}]}}}");
	const struct aggdef_event *reg = aggdef_event_find(def, "Registered");
	const struct aggdef_event *moved = aggdef_event_find(def, "Moved");
	struct aggdef *plain = parse_def(
		"{\"aggregate_type\":\"Customer\",\"events\":{"
		"\"Registered\":{" PSCHEMA ",\"evolve\":[{\"merge\":\"payload\"}]},"
		"\"Moved\":{" PSCHEMA ",\"evolve\":[{\"copy\":{\"home\":\"payload.address\"}},"
		"{\"append\":{\"cities\":\"payload.address.city\"}},{\"inc\":{\"total\":\"payload.total\"}}]},"
		"\"Other\":{\"evolve\":[{\"merge\":\"payload\"}]}}}");
	const char *want[] = { "email", "address", "home.city", "cities" };

	ck_assert(def->has_personal);
	ck_assert(!plain->has_personal);
	ck_assert_uint_eq(reg->n_personal, 1);
	ck_assert_ptr_null(reg->personal[0].subject);
	ck_assert_uint_eq(reg->personal[0].n_fields, 2);
	ck_assert_str_eq(reg->personal[0].fields[1], "address");
	ck_assert_str_eq(moved->personal[0].subject, "customer_id");
	ck_assert_str_eq(moved->personal[0].fields[0], "address.city");
	ck_assert_uint_eq(aggdef_event_find(def, "Other")->n_personal, 0);
	ck_assert_uint_eq(def->n_personal_state, 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(def->personal_state[i], want[i]);
		ck_assert_uint_eq(def->personal_state_root[i], i);
	}
	/* which field fills which state path: a snapshot seals each with its key */
	ck_assert_uint_eq(reg->n_feeds, 2);
	ck_assert(reg->feeds[0].decl == 0 && reg->feeds[0].field == 0 && reg->feeds[0].state == 0);
	ck_assert(reg->feeds[1].decl == 0 && reg->feeds[1].field == 1 && reg->feeds[1].state == 1);
	ck_assert_uint_eq(moved->n_feeds, 2);
	ck_assert(moved->feeds[0].field == 0 && moved->feeds[0].state == 2);
	ck_assert(moved->feeds[1].field == 0 && moved->feeds[1].state == 3);
	ck_assert_uint_eq(aggdef_event_find(def, "Other")->n_feeds, 0);
	/* declaring personal data changes the rules hash: older snapshots may
	 * hold the fields in clear */
	ck_assert_str_ne(def->rules_hash, plain->rules_hash);
	aggdef_free(def);
	/* a path inside another is sealed with it: its root is the outer one */
	def = parse_def("{\"aggregate_type\":\"Customer\",\"events\":{"
			"\"A\":{" PSCHEMA ",\"personal\":{\"subject\":\"aggregate_id\",\"fields\":[\"payload.address\"]},"
			"\"evolve\":[{\"copy\":{\"home.city\":\"payload.address.city\"}}]},"
			"\"B\":{" PSCHEMA ",\"personal\":{\"subject\":\"aggregate_id\",\"fields\":[\"payload.address\"]},"
			"\"evolve\":[{\"copy\":{\"home\":\"payload.address\"}}]}}}");
	ck_assert_uint_eq(def->n_personal_state, 2);
	ck_assert_str_eq(def->personal_state[0], "home.city");
	ck_assert_str_eq(def->personal_state[1], "home");
	ck_assert_uint_eq(def->personal_state_root[0], 1);
	ck_assert_uint_eq(def->personal_state_root[1], 1);
	aggdef_free(def);
	aggdef_free(plain);
}
END_TEST

static Suite *aggdef_suite(void)
{
	Suite *s = suite_create("aggdef");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, aggdef_rejects, 0, N_ELEMS(bad));
	tcase_add_test(tc, aggdef_loads_a_registry);
	tcase_add_test(tc, aggdef_refuses_a_type_twice);
	tcase_add_test(tc, aggdef_missing_dir_is_an_error);
	tcase_add_test(tc, aggdef_file_as_dir_is_an_error);
	tcase_add_test(tc, aggdef_empty_dir_setting_is_none);
	tcase_add_test(tc, aggdef_rules_hash);
	tcase_add_test(tc, aggdef_validates_events);
	tcase_add_test(tc, aggdef_personal_declarations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(aggdef_suite());
}
