/* check_snapshot.c - evstore.snapshots through snapshot.c against a real
 * PostgreSQL: snapshot_save never replacing a newer snapshot (nor an equal
 * one by the same rules), what it refuses, tenants, snapshot_invalidate's
 * counts, snapshot_replace's compare-and-set, the list of erased members
 * a snapshot carries; and snapshot_due at each threshold edge of every
 * mode.
 * EVSTORE_TEST_DATABASE_URL names a server and a role allowed to create
 * databases; without it the suite skips (77). */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "aggregate/snapshot.h"
#include "base/uuidtext.h"
#include "test_helpers.h"

/* One definition: its type, schema_version, "snapshot" member (may be
 * empty) and the status its one event sets (the evolve rules, so the
 * rules_hash). */
#define DEF(type, schema_version, snapshot, status) \
	"{\"aggregate_type\":\"" type "\",\"schema_version\":" #schema_version "," snapshot \
	"\"events\":{\"Happened\":{\"evolve\":[{\"set\":{\"status\":\"" status "\"}}]}}}"

#define TENANT "6f1c2a4e-3b5d-4c6e-8f70-112233445566"

static char *conninfo;      /* the scratch database, while the suite runs */
static struct db *db;

/* The definition of type in the one text given, loaded through aggdef from a
 * file in a temporary directory (removed again); *reg holds it. */
static const struct aggdef *load_def(const char *text, const char *type,
				     struct aggdef_registry **reg)
{
	char dir[256], err[512];
	const struct aggdef *def;

	test_dir_create(dir, sizeof dir, "check_snapshot");
	test_file_write(dir, "def.json", text);
	ck_assert_msg(aggdef_registry_load(dir, reg, err, sizeof err) == ES_OK, "%s", err);
	test_dir_remove(dir);
	def = aggdef_find(*reg, type);
	ck_assert_ptr_nonnull(def);
	return def;
}

static void setup(void)
{
	db = test_db_open(conninfo, "check_snapshot");
}

static void teardown(void)
{
	db_free(db);
}

/* Saves {"step": step} as the snapshot of id at version. */
static enum es_status save_step(const struct aggdef *def, const char *tenant, const char *id,
				int64_t version, int step, bool *written)
{
	json_object *state = json_object_new_object();
	enum es_status rc;

	json_object_object_add(state, "step", json_object_new_int(step));
	rc = snapshot_save(db, def, tenant, id, version, state, NULL, written);
	json_object_put(state);
	return rc;
}

/* "version schema_version rules_hash step" of the stored snapshot. */
static void stored(const char *tenant, const char *id, char *out, size_t len)
{
	const char *values[2] = { tenant ? tenant : UUIDTEXT_NIL, id };
	PGresult *r;

	ck_assert_int_eq(db_exec_params(db, "test", "SELECT version || ' ' || schema_version || ' '"
					" || rules_hash || ' ' || (state->>'step') FROM evstore.snapshots"
					" WHERE tenant_id = $1::uuid AND aggregate_id = $2::uuid",
					2, values, &r), ES_OK);
	ck_assert_int_eq(PQntuples(r), 1);
	snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* ---- snapshot_save ------------------------------------------------------------ */

enum { RULES_A, RULES_B, SCHEMA_2, N_DEFS };

/* Saves in this order to one stream; case i runs steps 0..i and checks the
 * last: whether it was written and which step is stored then. */
static const struct { int def; int64_t version; bool written; int stored_step; } saves[] = {
	{ RULES_A, 5, true, 0 },
	{ RULES_A, 5, false, 0 },    /* the same version by the same rules */
	{ RULES_A, 3, false, 0 },    /* older */
	{ RULES_B, 5, true, 3 },     /* the same version by other rules replaces */
	{ RULES_B, 4, false, 3 },    /* older, whatever the rules */
	{ RULES_A, 4, false, 3 },
	{ RULES_A, 6, true, 6 },     /* newer */
	{ SCHEMA_2, 6, true, 7 },    /* the same version by another schema_version */
	{ RULES_A, 1, false, 7 },
};

START_TEST(save_keeps_the_newest)
{
	static const char *const texts[N_DEFS] = {
		DEF("Order", 1, "", "a"), DEF("Order", 1, "", "b"), DEF("Order", 2, "", "a"),
	};
	struct aggdef_registry *regs[N_DEFS];
	const struct aggdef *defs[N_DEFS];
	char id[UUIDTEXT_LEN], got[128], want[128];
	bool written = false;
	const struct aggdef *last;

	for (int d = 0; d < N_DEFS; d++)
		defs[d] = load_def(texts[d], "Order", &regs[d]);
	ck_assert_str_ne(defs[RULES_A]->rules_hash, defs[RULES_B]->rules_hash);
	ck_assert_str_eq(defs[RULES_A]->rules_hash, defs[SCHEMA_2]->rules_hash);

	uuidtext_v7(id);
	for (int step = 0; step <= _i; step++)
		ck_assert_int_eq(save_step(defs[saves[step].def], NULL, id, saves[step].version, step,
					   &written), ES_OK);
	ck_assert_msg(written == saves[_i].written, "step %d: written %d", _i, written);
	last = defs[saves[saves[_i].stored_step].def];
	snprintf(want, sizeof want, "%" PRId64 " %d %s %d", saves[saves[_i].stored_step].version,
		 last->schema_version, last->rules_hash, saves[_i].stored_step);
	stored(NULL, id, got, sizeof got);
	ck_assert_str_eq(got, want);
	for (int d = 0; d < N_DEFS; d++)
		aggdef_registry_free(regs[d]);
}
END_TEST

static const struct { int64_t version; const char *state; } refused[] = {
	{ 0, "{}" },
	{ -1, "{}" },
	{ 1, "[]" },
	{ 1, "null" },
	{ 1, "\"text\"" },
};

START_TEST(save_refuses)
{
	struct aggdef_registry *reg;
	const struct aggdef *def = load_def(DEF("Order", 1, "", "a"), "Order", &reg);
	json_object *state = json_tokener_parse(refused[_i].state);
	char id[UUIDTEXT_LEN], sql[256];
	bool written = true;

	uuidtext_v7(id);
	ck_assert_int_eq(snapshot_save(db, def, NULL, id, refused[_i].version, state, NULL, &written),
			 ES_EINVAL);
	ck_assert(!written);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM evstore.snapshots WHERE aggregate_id = '%s'", id);
	ck_assert_int_eq(test_sql_int(db, sql), 0);
	json_object_put(state);
	aggdef_registry_free(reg);
}
END_TEST

START_TEST(save_per_tenant)
{
	struct aggdef_registry *reg;
	const struct aggdef *def = load_def(DEF("Order", 1, "", "a"), "Order", &reg);
	char id[UUIDTEXT_LEN], got[128], want[128];
	bool written;

	uuidtext_v7(id);
	ck_assert_int_eq(save_step(def, NULL, id, 5, 1, &written), ES_OK);
	ck_assert(written);
	/* the same aggregate id in a tenant is another stream: an older
	 * version is written there */
	ck_assert_int_eq(save_step(def, TENANT, id, 2, 2, &written), ES_OK);
	ck_assert(written);
	stored(NULL, id, got, sizeof got);
	snprintf(want, sizeof want, "5 1 %s 1", def->rules_hash);
	ck_assert_str_eq(got, want);
	stored(TENANT, id, got, sizeof got);
	snprintf(want, sizeof want, "2 1 %s 2", def->rules_hash);
	ck_assert_str_eq(got, want);
	aggdef_registry_free(reg);
}
END_TEST

/* A state holding personal data is stored only with the keys its values
 * were sealed with in the events (state_keys): never without them, never
 * when a member mixes two keys, never under a key that is gone. */
START_TEST(save_personal_state_needs_its_keys)
{
	struct aggdef_registry *reg;
	const struct aggdef *def = load_def(
		"{\"aggregate_type\":\"Person\",\"events\":{\"Happened\":{"
		"\"payload\":{\"type\":\"object\",\"properties\":{\"email\":{\"type\":\"string\"}}},"
		"\"personal\":{\"subject\":\"aggregate_id\",\"fields\":[\"payload.email\"]},"
		"\"evolve\":[{\"merge\":\"payload\"}]}}}", "Person", &reg);
	json_object *state = json_object_new_object();
	struct state_keys keys;
	char id[UUIDTEXT_LEN], sql[200];
	bool written = true;

	uuidtext_v7(id);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM evstore.snapshots WHERE aggregate_id = '%s'", id);
	ck_assert_uint_eq(def->n_personal_state, 1);
	json_object_object_add(state, "email", json_object_new_string("a@example.org"));
	ck_assert_int_eq(snapshot_save(db, def, NULL, id, 2, state, NULL, &written), ES_OK);
	ck_assert(!written);
	ck_assert_int_eq(state_keys_init(&keys, def), ES_OK);
	state_keys_note(&keys, def, 0, 41);
	state_keys_note(&keys, def, 0, 42);
	ck_assert(keys.mixed);
	ck_assert_int_eq(snapshot_save(db, def, NULL, id, 2, state, &keys, &written), ES_OK);
	ck_assert(!written);
	state_keys_free(&keys);
	ck_assert_int_eq(state_keys_init(&keys, def), ES_OK);
	state_keys_note(&keys, def, 0, 0); /* a field stored in clear: nothing to seal with */
	state_keys_note(&keys, def, 0, 987654321);
	ck_assert(!keys.mixed);
	ck_assert_int_eq(snapshot_save(db, def, NULL, id, 2, state, &keys, &written), ES_OK);
	ck_assert(!written); /* no such key (erased keys are alike) */
	ck_assert_int_eq(test_sql_int(db, sql), 0);
	/* without personal values the state is stored as it is */
	json_object_object_add(state, "email", NULL);
	ck_assert_int_eq(snapshot_save(db, def, NULL, id, 2, state, &keys, &written), ES_OK);
	ck_assert(written);
	ck_assert_int_eq(test_sql_int(db, sql), 1);
	state_keys_free(&keys);
	json_object_put(state);
	aggdef_registry_free(reg);
}
END_TEST

#define PERSON_DEF \
	"{\"aggregate_type\":\"Person\",\"events\":{\"Happened\":{" \
	"\"payload\":{\"type\":\"object\",\"properties\":{\"email\":{\"type\":\"string\"}}}," \
	"\"personal\":{\"subject\":\"aggregate_id\",\"fields\":[\"payload.email\"]}," \
	"\"evolve\":[{\"copy\":{\"email\":\"payload.email\"}}]}}}"

/* The stored state of id's snapshot as text. */
static char *stored_text(const char *id)
{
	const char *values[1] = { id };
	PGresult *r;
	char *text;

	ck_assert_int_eq(db_exec_params(db, "test", "SELECT state::text FROM evstore.snapshots"
					" WHERE aggregate_id = $1::uuid", 1, values, &r), ES_OK);
	ck_assert_int_eq(PQntuples(r), 1);
	text = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return text;
}

/* A member noted as filled from an erased field and null is listed in the
 * stored snapshot, and opening it notes it again (the list taken out of
 * the state); a member noted so that holds a value since is not; a state
 * with a member of the list's name is not stored. */
START_TEST(erased_members_listed)
{
	struct aggdef_registry *reg;
	const struct aggdef *def = load_def(PERSON_DEF, "Person", &reg);
	json_object *state = json_object_new_object(), *opened, *list;
	struct state_keys keys, back;
	char id[UUIDTEXT_LEN], err[200] = "";
	char *text;
	bool written = false;

	uuidtext_v7(id);
	ck_assert_int_eq(state_keys_init(&keys, def), ES_OK);
	state_keys_note_erased(&keys, 0, true);
	json_object_object_add(state, "email", json_object_new_string("set since, in clear"));
	ck_assert_int_eq(state_keys_erased(&keys, def, state, "/state", &list), ES_OK);
	ck_assert_ptr_null(list);
	json_object_object_add(state, "email", NULL);
	ck_assert_int_eq(state_keys_erased(&keys, def, state, "/state", &list), ES_OK);
	ck_assert_str_eq(json_object_to_json_string(list), "[ \"\\/state\\/email\" ]");
	json_object_put(list);

	json_object_object_add(state, SNAPSHOT_ERASED_MEMBER, json_object_new_string("mine"));
	ck_assert_int_eq(snapshot_save(db, def, NULL, id, 2, state, &keys, &written), ES_OK);
	ck_assert(!written);
	json_object_object_del(state, SNAPSHOT_ERASED_MEMBER);
	ck_assert_int_eq(snapshot_save(db, def, NULL, id, 2, state, &keys, &written), ES_OK);
	ck_assert(written);
	text = stored_text(id);
	ck_assert_str_eq(text, "{\"email\": null, \"$erased\": [\"/state/email\"]}");

	opened = json_tokener_parse(text);
	ck_assert_int_eq(state_keys_init(&back, def), ES_OK);
	ck_assert_int_eq(snapshot_open(db, def, NULL, id, 2, opened, &back, err, sizeof err), ES_OK);
	ck_assert(back.erased[0]);
	ck_assert_str_eq(json_object_to_json_string_ext(opened, JSON_C_TO_STRING_PLAIN), "{\"email\":null}");
	json_object_put(opened);
	state_keys_free(&back);

	/* a list naming anything but the definition's personal members is damage */
	opened = json_tokener_parse("{\"email\": null, \"$erased\": [\"/state/status\"]}");
	ck_assert_int_eq(state_keys_init(&back, def), ES_OK);
	ck_assert_int_eq(snapshot_open(db, def, NULL, id, 2, opened, &back, err, sizeof err),
			 ES_EINTERNAL);
	ck_assert_str_eq(err, "/$erased: not a list of the definition's personal state pointers");
	json_object_put(opened);
	state_keys_free(&back);
	free(text);
	state_keys_free(&keys);
	json_object_put(state);
	aggdef_registry_free(reg);
}
END_TEST

/* snapshot_replace replaces only the snapshot that was read: the same
 * version and rules and the same content, and never waits for a row
 * another transaction holds. */
START_TEST(replace_compares_and_sets)
{
	struct aggdef_registry *reg;
	const struct aggdef *def = load_def(DEF("Ledger", 1, "", "a"), "Ledger", &reg);
	json_object *state = json_object_new_object();
	struct db *other;
	char id[UUIDTEXT_LEN], got[200], want[200], lock[200];
	char *old;
	bool written = true;

	uuidtext_v7(id);
	ck_assert_int_eq(save_step(def, NULL, id, 2, 1, NULL), ES_OK);
	old = stored_text(id);
	json_object_object_add(state, "step", json_object_new_int(5));
	ck_assert_int_eq(snapshot_replace(db, def, NULL, id, 2, "{\"step\": 9}", state, NULL, &written),
			 ES_OK);
	ck_assert(!written); /* other content */
	ck_assert_int_eq(snapshot_replace(db, def, NULL, id, 3, old, state, NULL, &written), ES_OK);
	ck_assert(!written); /* other version */
	ck_assert_int_eq(snapshot_replace(db, def, TENANT, id, 2, old, state, NULL, &written), ES_OK);
	ck_assert(!written); /* other tenant */
	stored(NULL, id, got, sizeof got);
	snprintf(want, sizeof want, "2 1 %s 1", def->rules_hash);
	ck_assert_str_eq(got, want);

	/* held by another transaction: left alone at once */
	other = test_db_open(conninfo, "check_snapshot_lock");
	snprintf(lock, sizeof lock, "SELECT 1 FROM evstore.snapshots WHERE aggregate_id = '%s' FOR UPDATE",
		 id);
	test_sql_exec(other, "BEGIN");
	test_sql_exec(other, lock);
	ck_assert_int_eq(snapshot_replace(db, def, NULL, id, 2, old, state, NULL, &written), ES_OK);
	ck_assert(!written);
	test_sql_exec(other, "ROLLBACK");
	db_free(other);

	ck_assert_int_eq(snapshot_replace(db, def, NULL, id, 2, old, state, NULL, &written), ES_OK);
	ck_assert(written);
	stored(NULL, id, got, sizeof got);
	snprintf(want, sizeof want, "2 1 %s 5", def->rules_hash);
	ck_assert_str_eq(got, want);
	/* the content read before is gone: a second replace of it does nothing */
	json_object_object_add(state, "step", json_object_new_int(6));
	ck_assert_int_eq(snapshot_replace(db, def, NULL, id, 2, old, state, NULL, &written), ES_OK);
	ck_assert(!written);
	free(old);
	json_object_put(state);
	aggdef_registry_free(reg);
}
END_TEST

/* ---- snapshot_invalidate --------------------------------------------------------- */

START_TEST(invalidate_counts)
{
	struct aggdef_registry *inv_reg, *cart_reg;
	const struct aggdef *inv = load_def(DEF("Invoice", 1, "", "a"), "Invoice", &inv_reg);
	const struct aggdef *cart = load_def(DEF("Cart", 1, "", "a"), "Cart", &cart_reg);
	char id[UUIDTEXT_LEN];
	int64_t deleted = -1;

	for (int i = 0; i < 3; i++) {
		uuidtext_v7(id);
		ck_assert_int_eq(save_step(inv, i == 2 ? TENANT : NULL, id, 1 + i, i, NULL), ES_OK);
	}
	ck_assert_int_eq(save_step(cart, NULL, id, 1, 0, NULL), ES_OK);

	ck_assert_int_eq(snapshot_invalidate(db, "Invoice", &deleted), ES_OK);
	ck_assert_int_eq(deleted, 3); /* every tenant's */
	ck_assert_int_eq(snapshot_invalidate(db, "Invoice", &deleted), ES_OK);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(snapshot_invalidate(db, "Nothing", &deleted), ES_OK);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(test_sql_int(db, "SELECT count(*) FROM evstore.snapshots"
				      " WHERE aggregate_type = 'Cart'"), 1);
	ck_assert_int_eq(snapshot_invalidate(db, "Cart", NULL), ES_OK);
	ck_assert_int_eq(test_sql_int(db, "SELECT count(*) FROM evstore.snapshots"
				      " WHERE aggregate_type = 'Cart'"), 0);
	aggdef_registry_free(inv_reg);
	aggdef_registry_free(cart_reg);
}
END_TEST

/* ---- snapshot_due ------------------------------------------------------------------ */

#define EVERY(n, mode) "\"snapshot\":{\"threshold\":" #n ",\"mode\":\"" mode "\"},"

static const struct { const char *snapshot; int64_t old_version, new_version; bool due; } due[] = {
	{ EVERY(10, "sync"), 0, 1, false },
	{ EVERY(10, "sync"), 0, 9, false },
	{ EVERY(10, "sync"), 0, 10, true },
	{ EVERY(10, "sync"), 9, 10, true },
	{ EVERY(10, "sync"), 10, 11, false },
	{ EVERY(10, "sync"), 10, 19, false },
	{ EVERY(10, "sync"), 19, 21, true },
	{ EVERY(10, "sync"), 5, 35, true },     /* crossing several at once */
	{ EVERY(10, "sync"), 20, 20, false },   /* nothing appended */
	{ EVERY(1, "sync"), 0, 1, true },       /* every version */
	{ EVERY(1, "sync"), 7, 8, true },
	{ EVERY(3, "background"), 2, 3, true }, /* any mode */
	{ EVERY(3, "background"), 3, 5, false },
	{ EVERY(3, "manual"), 5, 6, true },
	{ EVERY(3, "manual"), 6, 7, false },
	{ "", 0, 1000, false },                 /* no snapshot member: never */
	{ "", 9, 10, false },
};

START_TEST(due_at_thresholds)
{
	struct aggdef_registry *reg;
	char text[512];
	const struct aggdef *def;

	snprintf(text, sizeof text, "{\"aggregate_type\":\"Order\",%s"
		 "\"events\":{\"Happened\":{}}}", due[_i].snapshot);
	def = load_def(text, "Order", &reg);
	ck_assert_msg(snapshot_due(def, due[_i].old_version, due[_i].new_version) == due[_i].due,
		      "%s %" PRId64 " -> %" PRId64, due[_i].snapshot, due[_i].old_version,
		      due[_i].new_version);
	aggdef_registry_free(reg);
}
END_TEST

static Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("save");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, save_keeps_the_newest, 0, N_ELEMS(saves));
	tcase_add_loop_test(tc, save_refuses, 0, N_ELEMS(refused));
	tcase_add_test(tc, save_per_tenant);
	tcase_add_test(tc, save_personal_state_needs_its_keys);
	tcase_add_test(tc, erased_members_listed);
	tcase_add_test(tc, replace_compares_and_sets);
	tcase_add_test(tc, invalidate_counts);
	suite_add_tcase(s, tc);

	tc = tcase_create("due");
	tcase_add_loop_test(tc, due_at_thresholds, 0, N_ELEMS(due));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_db(snapshot_suite(), "check_snapshot", &conninfo);
}
