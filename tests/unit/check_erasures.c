/* check_erasures.c - the SubjectErased inboxes (subs/erasures.h) against a
 * real PostgreSQL: only registered subscriptions get an erasure, only the
 * ones made after they registered, each once; the synthetic event's
 * fields; taking one out twice is refused; unregistering drops the inbox. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "pg/db.h"
#include "subs/erasures.h"
#include "check_scratch.h"

#define TENANT "6f7c2a1e-0000-4000-8000-00000000abcd"

/* A live key of (tenant, subject), made as keyring_take would; its id. */
static int64_t live_key(struct db *db, const char *tenant, const char *subject)
{
	char sql[400];

	snprintf(sql, sizeof sql, "INSERT INTO evstore.subject_keys (tenant_id, subject, wrapped_key,"
		 " master_id) VALUES ('%s', '%s', '\\x00', 'test') RETURNING key_id", tenant, subject);
	return sql_int(db, sql);
}

/* Erases the live key of (tenant, subject), as keyring_forget does. */
static void erase(struct db *db, const char *tenant, const char *subject)
{
	char sql[400];

	snprintf(sql, sizeof sql, "UPDATE evstore.subject_keys SET wrapped_key = NULL, erased_at = now(),"
		 " erased_by = 'dpo' WHERE tenant_id = '%s' AND subject = '%s' AND erased_at IS NULL",
		 tenant, subject);
	exec_ok(db, sql);
}

static const char *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return "(absent)";
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
}

START_TEST(test_inbox)
{
	struct db *db = migrated_db();
	struct erasure got[4];
	char want[64];
	int64_t before, k1, k2;
	size_t n = 0;
	json_object *ev;

	before = live_key(db, UUIDTEXT_NIL, "before");
	erase(db, UUIDTEXT_NIL, "before");
	ck_assert_int_eq(erasures_subscribe(db, "contacts", true), ES_OK);
	ck_assert_int_eq(erasures_subscribe(db, "contacts", true), ES_OK); /* again: a no-op */
	k1 = live_key(db, UUIDTEXT_NIL, "customer-1");
	k2 = live_key(db, TENANT, "customer-2");
	live_key(db, UUIDTEXT_NIL, "kept");
	erase(db, UUIDTEXT_NIL, "customer-1");
	erase(db, TENANT, "customer-2");
	/* erasing again changes nothing: no second delivery */
	erase(db, UUIDTEXT_NIL, "customer-1");
	exec_ok(db, "UPDATE evstore.subject_keys SET erased_by = 'again' WHERE subject = 'customer-1'");

	ck_assert_int_eq(erasures_pending(db, "contacts", got, 4, &n), ES_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert(got[0].key_id != before);
	ck_assert_int_eq(got[0].key_id, k1);
	ck_assert_str_eq(got[0].tenant, "");
	ck_assert_int_eq(got[1].key_id, k2);
	ck_assert_str_eq(got[1].tenant, TENANT);
	ev = json_tokener_parse(got[0].json);
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(member(ev, "event_type"), "\"SubjectErased\"");
	ck_assert_str_eq(member(ev, "subject"), "\"customer-1\"");
	ck_assert_str_eq(member(ev, "tenant_id"), "null");
	snprintf(want, sizeof want, "%lld", (long long)k1);
	ck_assert_str_eq(member(ev, "key_id"), want);
	ck_assert_uint_eq(strlen(member(ev, "erased_at")), strlen("\"2026-12-02T16:13:15.182760Z\""));
	ck_assert_str_eq(member(ev, "event_id"), "null");
	ck_assert_str_eq(member(ev, "aggregate_type"), "null");
	ck_assert_str_eq(member(ev, "aggregate_id"), "null");
	ck_assert_str_eq(member(ev, "position"), "null");
	ck_assert_str_eq(member(ev, "payload"), "null");
	ck_assert_ptr_null(strstr(got[0].json, "dpo")); /* who erased is not handed over */
	json_object_put(ev);
	ev = json_tokener_parse(got[1].json);
	ck_assert_str_eq(member(ev, "tenant_id"), "\"" TENANT "\"");
	json_object_put(ev);
	erasures_free(got, n);

	ck_assert_int_eq(erasures_pending(db, "contacts", got, 1, &n), ES_OK);
	ck_assert_uint_eq(n, 1);
	erasures_free(got, n);
	ck_assert_int_eq(erasures_pending(db, "other", got, 4, &n), ES_OK);
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(erasures_mark_delivered(db, "contacts", k1), ES_OK);
	ck_assert_int_eq(erasures_mark_delivered(db, "contacts", k1), ES_EMOVED);
	ck_assert_int_eq(erasures_pending(db, "contacts", got, 4, &n), ES_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(got[0].key_id, k2);
	erasures_free(got, n);
	db_free(db);
}
END_TEST

/* The statement for the sql handler's transaction: it rolls back with it. */
START_TEST(test_delivered_in_transaction)
{
	struct db *db = migrated_db();
	struct erasures_delivered done;
	struct erasure got[2];
	size_t n = 0;
	int64_t k;

	ck_assert_int_eq(erasures_subscribe(db, "tx", true), ES_OK);
	k = live_key(db, UUIDTEXT_NIL, "tx-subject");
	erase(db, UUIDTEXT_NIL, "tx-subject");
	erasures_delivered_init(&done, "tx", k);
	exec_ok(db, "BEGIN");
	ck_assert_int_eq(db_exec_params(db, "test", done.sql, done.nparams, done.values, NULL), ES_OK);
	exec_ok(db, "ROLLBACK");
	ck_assert_int_eq(erasures_pending(db, "tx", got, 2, &n), ES_OK);
	ck_assert_uint_eq(n, 1);
	erasures_free(got, n);
	exec_ok(db, "BEGIN");
	ck_assert_int_eq(db_exec_params(db, "test", done.sql, done.nparams, done.values, NULL), ES_OK);
	exec_ok(db, "COMMIT");
	ck_assert_int_eq(erasures_pending(db, "tx", got, 2, &n), ES_OK);
	ck_assert_uint_eq(n, 0);
	db_free(db);
}
END_TEST

/* subject_erased back to ignore: unregistered, the undelivered dropped,
 * later erasures not queued. */
START_TEST(test_unsubscribe)
{
	struct db *db = migrated_db();
	struct erasure got[2];
	size_t n = 0;

	ck_assert_int_eq(erasures_subscribe(db, "gone", true), ES_OK);
	live_key(db, UUIDTEXT_NIL, "u1");
	erase(db, UUIDTEXT_NIL, "u1");
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM evstore.erasure_inbox WHERE subscription = 'gone'"), 1);
	ck_assert_int_eq(erasures_subscribe(db, "gone", false), ES_OK);
	ck_assert_int_eq(erasures_subscribe(db, "gone", false), ES_OK);
	live_key(db, UUIDTEXT_NIL, "u2");
	erase(db, UUIDTEXT_NIL, "u2");
	ck_assert_int_eq(erasures_pending(db, "gone", got, 2, &n), ES_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM evstore.erasure_inbox WHERE subscription = 'gone'"), 0);
	db_free(db);
}
END_TEST

static Suite *erasures_suite(void)
{
	Suite *s = suite_create("erasures");
	TCase *tc = tcase_create("erasures");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_inbox);
	tcase_add_test(tc, test_delivered_in_transaction);
	tcase_add_test(tc, test_unsubscribe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_erasures", erasures_suite);
}
