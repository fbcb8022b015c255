/* check_audit.c - the audit handler's records: every field copied from the
 * event is bounded, and a record with a cut value says so. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "runner/handler.h"

#define EVENT_HEAD "{\"event_id\": \"0190f1c2-0000-7000-8000-000000000001\", \"tenant_id\": null," \
	" \"position\": 42, \"event_type\": \"Paid\", \"aggregate_type\": \"Payment\"," \
	" \"aggregate_id\": \"0190f1c2-0000-7000-8000-000000000002\", \"actor_id\": \"alice\"," \
	" \"recorded_at\": \"2026-12-02T12:00:00.000000Z\", \"payload\": {}, \"metadata\": "

static const char *field(json_object *rec, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(rec, key, &v), "no %s", key);
	return v ? json_object_get_string(v) : NULL;
}

START_TEST(record_as_is)
{
	struct event ev = { .json = EVENT_HEAD "{\"request_id\": \"req-1\"}}" };
	json_object *rec = audit_record_new(&ev, true);

	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(field(rec, "audit_type"), "event_committed");
	ck_assert_str_eq(field(rec, "request_id"), "req-1");
	ck_assert_str_eq(field(rec, "actor_id"), "alice");
	ck_assert_str_eq(field(rec, "position"), "42");
	ck_assert_ptr_null(field(rec, "tenant_id"));
	ck_assert(!json_object_object_get_ex(rec, "truncated", NULL));
	json_object_put(rec);
}
END_TEST

/* A 900 KB request_id (an old or imported event: clients can no longer
 * set one) is cut to 256 bytes, never mid-character, and marked. */
START_TEST(record_bounded)
{
	size_t n = 900 * 1000;
	char *json = malloc(n + 512);
	json_object *rec;
	const char *rid;
	int len;

	ck_assert_ptr_nonnull(json);
	len = sprintf(json, "%s{\"request_id\": \"x", EVENT_HEAD);
	for (size_t i = 0; i < n / 2; i++) { /* "é" is two bytes: a cut may fall inside one */
		json[len++] = '\xc3';
		json[len++] = '\xa9';
	}
	strcpy(json + len, "\"}}");
	rec = audit_record_new(&(struct event){ .json = json }, true);
	ck_assert_ptr_nonnull(rec);
	rid = field(rec, "request_id");
	ck_assert_uint_eq(strlen(rid), 255); /* "x" and 127 "é" */
	ck_assert_int_eq(rid[253], '\xc3');
	ck_assert_str_eq(field(rec, "truncated"), "true");
	ck_assert_str_eq(field(rec, "event_id"), "0190f1c2-0000-7000-8000-000000000001");
	json_object_put(rec);
	free(json);
}
END_TEST

/* The identity-only record (for a socket that refused the full one). */
START_TEST(record_identity_only)
{
	struct event ev = { .json = EVENT_HEAD "{\"request_id\": \"req-1\"}}" };
	json_object *rec = audit_record_new(&ev, false);

	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(field(rec, "event_id"), "0190f1c2-0000-7000-8000-000000000001");
	ck_assert_str_eq(field(rec, "truncated"), "true");
	ck_assert(!json_object_object_get_ex(rec, "request_id", NULL));
	json_object_put(rec);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("records");

	tcase_add_test(tc, record_as_is);
	tcase_add_test(tc, record_bounded);
	tcase_add_test(tc, record_identity_only);
	suite_add_tcase(s, tc);
	return check_run(s);
}
