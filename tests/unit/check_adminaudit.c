/* check_adminaudit.c - the audit record of an admin action: its fields as
 * given, absent texts left out, every text bounded and valid UTF-8
 * whatever came in, and a record with a cut value says so. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/adminaudit.h"
#include "base/text.h"

static json_object *member(json_object *obj, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(obj, key, &v), "no %s", key);
	return v;
}

static const char *text(json_object *obj, const char *key)
{
	return json_object_get_string(member(obj, key));
}

START_TEST(record_as_given)
{
	const struct admin_action a = {
		.action = "dlq_purge", .actor = "alice", .via = "evstorectl", .sudo_user = "bob",
		.target = { { "subscription", "orders" }, { "dlq_entry", NULL }, { "entries", "all" } },
		.counts = { { "purged", 12 }, { "skipped", -1 } },
	};
	json_object *rec = adminaudit_record_new(&a), *counts;

	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(text(rec, "audit_type"), "admin_action");
	ck_assert_str_eq(text(rec, "action"), "dlq_purge");
	ck_assert_str_eq(text(rec, "outcome"), "ok");  /* NULL outcome: ok */
	ck_assert_str_eq(text(rec, "actor"), "alice");
	ck_assert_str_eq(text(rec, "via"), "evstorectl");
	ck_assert_str_eq(text(rec, "sudo_user"), "bob");
	ck_assert_uint_eq(strlen(text(rec, "timestamp")), 27);
	ck_assert_str_eq(text(member(rec, "target"), "subscription"), "orders");
	ck_assert_str_eq(text(member(rec, "target"), "entries"), "all");
	ck_assert(!json_object_object_get_ex(member(rec, "target"), "dlq_entry", NULL));
	counts = member(rec, "counts");
	ck_assert_int_eq(json_object_get_int64(member(counts, "purged")), 12);
	ck_assert_int_eq(json_object_get_int64(member(counts, "skipped")), -1);
	ck_assert(json_object_is_type(member(counts, "purged"), json_type_int));
	/* what was not given is not there */
	ck_assert(!json_object_object_get_ex(rec, "tenant_id", NULL));
	ck_assert(!json_object_object_get_ex(rec, "request_id", NULL));
	ck_assert(!json_object_object_get_ex(rec, "trace_id", NULL));
	ck_assert(!json_object_object_get_ex(rec, "truncated", NULL));
	json_object_put(rec);
}
END_TEST

START_TEST(record_without_actor)
{
	const struct admin_action a = { .action = "migrate", .outcome = "failed" };
	json_object *rec = adminaudit_record_new(&a);

	ck_assert_str_eq(text(rec, "actor"), "unknown");
	ck_assert_str_eq(text(rec, "outcome"), "failed");
	ck_assert_uint_eq(json_object_object_length(member(rec, "target")), 0);
	ck_assert_uint_eq(json_object_object_length(member(rec, "counts")), 0);
	json_object_put(rec);
}
END_TEST

/* Where each oversized or broken text goes. */
enum slot { SLOT_ACTOR, SLOT_TARGET, SLOT_REQUEST_ID, SLOT_NAME };

static const struct { enum slot slot; const char *unit; size_t repeat; size_t want_len;
		      bool cut; const char *want_prefix; } bounded[] = {
	{ SLOT_ACTOR, "a", 10000, 256, true, "aaa" },
	{ SLOT_ACTOR, "a", 256, 256, false, "aaa" },
	/* 3-byte characters: 85 fit in 256 bytes, never half of the 86th */
	{ SLOT_TARGET, "\xe2\x82\xac", 1000, 255, true, "\xe2\x82\xac" },
	{ SLOT_REQUEST_ID, "r", 300, 256, true, "rrr" },
	/* bytes that are not UTF-8 (a name percent-decoded from a URL) */
	{ SLOT_TARGET, "\xff", 3, 3, false, "???" },
	{ SLOT_TARGET, "ok\xc3", 1, 3, false, "ok?" },
	{ SLOT_NAME, "n", 1000, 0, false, "nnn" },
};

START_TEST(record_bounded)
{
	size_t ulen = strlen(bounded[_i].unit), n = ulen * bounded[_i].repeat;
	char *big = malloc(n + 1);
	struct admin_action a = { .action = "dlq_retry", .actor = "alice" };
	json_object *rec, *v = NULL;
	const char *got;

	for (size_t i = 0; i < bounded[_i].repeat; i++)
		memcpy(big + i * ulen, bounded[_i].unit, ulen);
	big[n] = '\0';
	switch (bounded[_i].slot) {
	case SLOT_ACTOR: a.actor = big; break;
	case SLOT_TARGET: a.target[0] = (struct adminaudit_text){ "subscription", big }; break;
	case SLOT_REQUEST_ID: a.request_id = big; break;
	case SLOT_NAME: a.counts[0] = (struct adminaudit_count){ big, 1 }; break;
	}
	rec = adminaudit_record_new(&a);
	ck_assert_ptr_nonnull(rec);
	switch (bounded[_i].slot) {
	case SLOT_ACTOR: v = member(rec, "actor"); break;
	case SLOT_TARGET: v = member(member(rec, "target"), "subscription"); break;
	case SLOT_REQUEST_ID: v = member(rec, "request_id"); break;
	case SLOT_NAME:
		/* a name is cut too: the one count's key is 256 bytes of n */
		json_object_object_foreach(member(rec, "counts"), key, val) {
			(void)val;
			ck_assert_uint_eq(strlen(key), ADMINAUDIT_FIELD_MAX);
			ck_assert(strncmp(key, bounded[_i].want_prefix, 3) == 0);
		}
		goto done;
	}
	got = json_object_get_string(v);
	ck_assert_uint_eq(strlen(got), bounded[_i].want_len);
	ck_assert(strncmp(got, bounded[_i].want_prefix, strlen(bounded[_i].want_prefix)) == 0);
	/* valid UTF-8 from end to end */
	for (size_t i = 0; got[i];) {
		size_t k = text_utf8_seq_len((const unsigned char *)got + i, strlen(got + i));

		ck_assert_uint_gt(k, 0);
		i += k;
	}
	ck_assert_int_eq(json_object_object_get_ex(rec, "truncated", NULL), bounded[_i].cut);
done:
	json_object_put(rec);
	free(big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("adminaudit");
	TCase *tc = tcase_create("record");

	tcase_add_test(tc, record_as_given);
	tcase_add_test(tc, record_without_actor);
	tcase_add_loop_test(tc, record_bounded, 0, N_ELEMS(bounded));
	suite_add_tcase(s, tc);
	return check_run(s);
}
