/* check_keyring.c - evstore.subject_keys through privacy/keyring.h against
 * a real PostgreSQL: a take makes a subject's key once and finds it after,
 * a read fetches the same key, an erased key reads as erased and the
 * subject's next take makes a new one; and the take's plan reads one key
 * by both columns of its index however big the table, in both plan modes
 * (check_plan.h). */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "privacy/keyring.h"
#include "privacy/masterkey.h"
#include "check_plan.h"

#define TENANT "6f7c2a1e-0000-4000-8000-00000000abcd"

static void install_master(void)
{
	struct masterkey mk;

	memset(&mk, 0, sizeof mk);
	for (size_t i = 0; i < sizeof mk.key; i++)
		mk.key[i] = (unsigned char)(0x40 + i);
	cipher_fingerprint(mk.key, mk.id);
	masterkey_install(&mk);
}

/* keyring_take of subjects[0..n) in its own transaction, committed. */
static void take(struct db *db, const char *tenant, const char *const *subjects, size_t n,
		 struct keyring *kr)
{
	exec_ok(db, "BEGIN");
	ck_assert_int_eq(keyring_take(db, tenant, subjects, n, kr), ES_OK);
	exec_ok(db, "COMMIT");
}

START_TEST(test_take_fetch_forget)
{
	static const char *const subjects[] = { "alice", "bob", "alice" };
	static const char *const alice[] = { "alice" };
	struct db *db = migrated_db();
	struct keyring first = KEYRING_INIT, again = KEYRING_INIT, read = KEYRING_INIT;
	const struct keyring_key *a, *b, *k;
	enum keyring_outcome outcome;
	int64_t ids[2];

	install_master();
	take(db, TENANT, subjects, 3, &first);
	ck_assert_uint_eq(first.n, 2); /* alice once */
	a = keyring_by_subject(&first, TENANT, "alice");
	b = keyring_by_subject(&first, TENANT, "bob");
	ck_assert(a && b && a->key_id != b->key_id);
	ck_assert(memcmp(a->dek, b->dek, CIPHER_KEY_LEN) != 0);
	/* the same subject in another tenant is another key */
	take(db, NULL, alice, 1, &first);
	k = keyring_by_subject(&first, NULL, "alice");
	a = keyring_by_subject(&first, TENANT, "alice");
	ck_assert(k && a && k->key_id != a->key_id);

	/* taken again: the stored keys, unwrapped */
	take(db, TENANT, subjects, 3, &again);
	ck_assert_uint_eq(again.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct keyring_key *x = keyring_by_subject(&first, TENANT, subjects[i]);
		const struct keyring_key *y = keyring_by_subject(&again, TENANT, subjects[i]);

		ck_assert_int_eq(x->key_id, y->key_id);
		ck_assert(memcmp(x->dek, y->dek, CIPHER_KEY_LEN) == 0);
	}
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM evstore.subject_keys"), 3);

	/* erased: a read sees a tombstone, the next take a new key */
	ids[0] = keyring_by_subject(&first, TENANT, "alice")->key_id;
	ids[1] = keyring_by_subject(&first, TENANT, "bob")->key_id;
	ck_assert_int_eq(keyring_forget(db, TENANT, "alice", "dpo", &outcome), ES_OK);
	ck_assert_int_eq(outcome, KEYRING_ERASED);
	ck_assert_int_eq(keyring_fetch(db, ids, 2, true, &read), ES_OK);
	ck_assert(keyring_by_id(&read, ids[0])->erased);
	ck_assert(!keyring_by_id(&read, ids[1])->erased);
	ck_assert(memcmp(keyring_by_id(&read, ids[1])->dek, keyring_by_subject(&first, TENANT, "bob")->dek,
			 CIPHER_KEY_LEN) == 0);
	keyring_free(&again);
	take(db, TENANT, alice, 1, &again);
	k = keyring_by_subject(&again, TENANT, "alice");
	ck_assert(k && !k->erased && k->key_id != ids[0]);

	keyring_free(&first);
	keyring_free(&again);
	keyring_free(&read);
	masterkey_install(NULL);
	db_free(db);
}
END_TEST

#define TAKE_EXPLAIN "EXPLAIN (FORMAT JSON) EXECUTE keyring_take('" TENANT "', 'customer-1')"

/* The take reads subject_keys through an index whose condition names both
 * the tenant and the subject: not a scan of the tenant's keys, filtered. */
static void assert_take_plan(struct db *db)
{
	static const char *const modes[] = { "force_custom_plan", "force_generic_plan" };

	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		json_object *doc, *scan, *cond;
		char set[64];
		PGresult *r;

		snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
		exec_ok(db, set);
		scan = plan_find(plan_explain(db, TAKE_EXPLAIN, &doc, &r), "Index Scan");
		ck_assert_msg(scan && json_object_object_get_ex(scan, "Index Cond", &cond) &&
				      strstr(json_object_get_string(cond), "tenant_id") &&
				      strstr(json_object_get_string(cond), "subject") &&
				      !plan_scans_table(json_object_object_get(json_object_array_get_idx(doc, 0),
									       "Plan"), "subject_keys"),
			      "%s (%s) does not find the key by tenant and subject: %s", TAKE_EXPLAIN, modes[m],
			      PQgetvalue(r, 0, 0));
		json_object_put(doc);
		PQclear(r);
	}
	exec_ok(db, "RESET plan_cache_mode");
}

/* Planned first on an empty table never analyzed (what a worker's generic
 * plan would keep as the table grows), then with 100,000 keys of one
 * tenant, analyzed. */
START_TEST(test_take_plan)
{
	static const char *const one[] = { "customer-1" };
	struct keyring kr = KEYRING_INIT;
	char name[96], *conninfo;
	struct db *db;

	install_master();
	db = plan_db_create("keyring_plan", name, sizeof name, &conninfo);
	take(db, TENANT, one, 1, &kr); /* prepares keyring_take */
	exec_ok(db, "TRUNCATE evstore.subject_keys CASCADE");
	assert_take_plan(db);

	exec_ok(db, "INSERT INTO evstore.subject_keys (tenant_id, subject, wrapped_key, master_id)"
		    " SELECT '" TENANT "', 'customer-' || g, '\\x00', 'test'"
		    " FROM generate_series(1, 100000) g");
	exec_ok(db, "ANALYZE evstore.subject_keys");
	assert_take_plan(db);

	keyring_free(&kr);
	masterkey_install(NULL);
	db_free(db);
	plan_db_drop(name);
	free(conninfo);
}
END_TEST

static Suite *keyring_suite(void)
{
	Suite *s = suite_create("keyring");
	TCase *tc = tcase_create("keyring");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_take_fetch_forget);
	tcase_add_test(tc, test_take_plan);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_keyring", keyring_suite);
}
