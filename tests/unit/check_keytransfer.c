/* check_keytransfer.c - keytransfer: a key record of an export checked
 * member by member (a table of records it must refuse, each naming the
 * member), the COPY row it becomes, and the envelope key ids read from a
 * line's text without parsing it. */
#include "buildconf.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "privacy/keytransfer.h"
#include "test_helpers.h"

/* 60 bytes in hex: a nonce, a 256-bit key sealed, a tag */
#define HEX60 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" \
	"00112233445566778899aabbccddeeff00112233445566778899aabb"
#define HEAD "{\"subject_key\": {\"key_id\": 17, "
#define LIVE_TAIL "\"subject\": \"c-1\", \"wrapped_key\": \"" HEX60 "\", \"master_id\": \"5be1a0c3d2e4f607\"," \
	" \"created_at\": \"2026-12-02T16:13:15.182760Z\", \"erased_at\": null, \"erased_by\": null}}"
#define LIVE HEAD "\"tenant_id\": null, " LIVE_TAIL

START_TEST(key_live)
{
	static const char line[] = LIVE;
	struct keytransfer_line k;
	struct sbuf row = SBUF_INIT;
	char err[256] = "";

	ck_assert_int_eq(keytransfer_line_parse(line, strlen(line), &k, err, sizeof err), ES_OK);
	ck_assert_int_eq(k.key_id, 17);
	ck_assert_str_eq(k.tenant_id, "00000000-0000-0000-0000-000000000000");
	ck_assert(!k.erased);
	keytransfer_copy_row(&k, 3, &row);
	ck_assert_str_eq(sbuf_cstr(&row), "3\t17\t00000000-0000-0000-0000-000000000000\tc-1\t\\\\x" HEX60
			 "\t5be1a0c3d2e4f607\t2026-12-02T16:13:15.182760Z\t\\N\t\\N\n");
	sbuf_free(&row);
	keytransfer_line_free(&k);
}
END_TEST

START_TEST(key_tombstone)
{
	static const char line[] =
		"{\"subject_key\": {\"key_id\": 2, \"tenant_id\": \"6F7C2A1E-0000-4000-8000-000000000001\","
		" \"subject\": \"a\\tb\", \"wrapped_key\": null, \"master_id\": \"m\","
		" \"created_at\": \"2026-12-02T16:13:15Z\", \"erased_at\": \"2026-12-02T17:00:00.5+01:00\","
		" \"erased_by\": \"dpo\"}}";
	struct keytransfer_line k;
	struct sbuf row = SBUF_INIT;
	char err[256] = "";

	ck_assert_int_eq(keytransfer_line_parse(line, strlen(line), &k, err, sizeof err), ES_OK);
	ck_assert(k.erased);
	ck_assert_ptr_null(k.wrapped_hex);
	keytransfer_copy_row(&k, 9, &row);
	/* the tenant lower-cased, the tab escaped, the time in UTC */
	ck_assert_str_eq(sbuf_cstr(&row), "9\t2\t6f7c2a1e-0000-4000-8000-000000000001\ta\\tb\t\\N\tm"
			 "\t2026-12-02T16:13:15.000000Z\t2026-12-02T16:00:00.500000Z\tdpo\n");
	sbuf_free(&row);
	keytransfer_line_free(&k);
}
END_TEST

/* Records to refuse, and the words the message must contain. */
static const struct { const char *line, *says; } key_bad[] = {
	{ "", "JSON" },
	{ "{\"subject_key\": 1}", "is {\"subject_key\": {…}} and nothing else" },
	{ "{\"subject_key\": {}, \"x\": 1}", "nothing else" },
	{ HEAD "\"tenant_id\": null, " LIVE_TAIL " x", "JSON" },
	{ "{\"subject_key\": {\"key_id\": 0, \"tenant_id\": null, " LIVE_TAIL, "key_id must be an integer" },
	{ "{\"subject_key\": {\"key_id\": \"1\", \"tenant_id\": null, " LIVE_TAIL, "key_id must be" },
	{ HEAD LIVE_TAIL, "tenant_id is missing" },
	{ HEAD "\"tenant_id\": \"00000000-0000-0000-0000-000000000000\", " LIVE_TAIL, "tenant_id must be a UUID other" },
	{ HEAD "\"tenant_id\": \"nope\", " LIVE_TAIL, "tenant_id must be a UUID" },
	{ HEAD "\"tenant_id\": null, \"extra\": 1, " LIVE_TAIL, "\"extra\" is not a member" },
	{ HEAD "\"tenant_id\": null, \"subject\": \"\", \"wrapped_key\": \"" HEX60 "\", \"master_id\": \"m\","
	  " \"created_at\": \"2026-12-02T16:13:15Z\", \"erased_at\": null, \"erased_by\": null}}", "subject must be a string" },
	{ HEAD "\"tenant_id\": null, \"subject\": \"s\", \"wrapped_key\": \"zz\", \"master_id\": \"m\","
	  " \"created_at\": \"2026-12-02T16:13:15Z\", \"erased_at\": null, \"erased_by\": null}}", "wrapped_key must be" },
	{ HEAD "\"tenant_id\": null, \"subject\": \"s\", \"wrapped_key\": \"" HEX60 "00\", \"master_id\": \"m\","
	  " \"created_at\": \"2026-12-02T16:13:15Z\", \"erased_at\": null, \"erased_by\": null}}", "wrapped_key must be" },
	{ HEAD "\"tenant_id\": null, \"subject\": \"s\", \"wrapped_key\": null, \"master_id\": \"m\","
	  " \"created_at\": \"2026-12-02T16:13:15Z\", \"erased_at\": null, \"erased_by\": null}}", "erased_at must be set exactly" },
	{ HEAD "\"tenant_id\": null, \"subject\": \"s\", \"wrapped_key\": \"" HEX60 "\", \"master_id\": \"m\","
	  " \"created_at\": \"2026-12-02T16:13:15Z\", \"erased_at\": \"2026-12-02T16:13:15Z\", \"erased_by\": null}}",
	  "erased_at must be set exactly" },
	{ HEAD "\"tenant_id\": null, \"subject\": \"s\", \"wrapped_key\": null, \"master_id\": \"m\","
	  " \"created_at\": \"yesterday\", \"erased_at\": null, \"erased_by\": null}}", "created_at must be an RFC 3339" },
	{ HEAD "\"tenant_id\": null, \"subject\": \"s\", \"wrapped_key\": \"" HEX60 "\","
	  " \"created_at\": \"2026-12-02T16:13:15Z\", \"erased_at\": null, \"erased_by\": null}}", "master_id is missing" },
};

START_TEST(key_rejects)
{
	struct keytransfer_line k;
	char err[256] = "";

	ck_assert_int_eq(keytransfer_line_parse(key_bad[_i].line, strlen(key_bad[_i].line), &k, err, sizeof err),
			 ES_EINVAL);
	ck_assert_msg(strstr(err, key_bad[_i].says), "record %d: \"%s\" does not say \"%s\"", _i, err,
		      key_bad[_i].says);
	keytransfer_line_free(&k);
}
END_TEST

struct ids { int64_t id[8]; int n; };

static bool take_id(void *arg, int64_t id)
{
	struct ids *ids = arg;

	if (ids->n < 8)
		ids->id[ids->n++] = id;
	return true;
}

/* Texts and the key ids read from them, in order (0 ends the list). */
static const struct { const char *text; int64_t ids[4]; } envelope_texts[] = {
	{ "{\"payload\" : {\"email\": {\"$enc\": \"v1:17:AAAA\"}, \"n\": 1}}", { 17 } },
	{ "{\"a\":{\"$enc\":\"v1:3:x\"},\"b\":[{\"$enc\" : \"v1:42:y\"}]}", { 3, 42 } },
	{ "{\"a\": \"$enc\", \"b\": \"v1:5:z\"}", { 0 } },              /* a value, not a member */
	{ "{\"a\": {\"$enc\": \"v2:5:z\"}}", { 0 } },                   /* another version */
	{ "{\"a\": {\"$enc\": \"v1:x:z\"}}", { 0 } },
	{ "{\"a\": {\"$enc\": \"v1:0:z\"}}", { 0 } },
	{ "{\"note\": \"no envelope here\"}", { 0 } },
	{ "{\"a\": {\"$enc\": \"v1:7", { 0 } },                          /* cut short */
};

START_TEST(envelope_ids)
{
	struct ids got = { .n = 0 };
	int want = 0;

	ck_assert(keytransfer_envelope_ids(envelope_texts[_i].text, strlen(envelope_texts[_i].text), take_id, &got));
	while (want < 4 && envelope_texts[_i].ids[want])
		want++;
	ck_assert_int_eq(got.n, want);
	for (int i = 0; i < want; i++)
		ck_assert_int_eq(got.id[i], envelope_texts[_i].ids[i]);
}
END_TEST

static Suite *keytransfer_suite(void)
{
	Suite *s = suite_create("keytransfer");
	TCase *tc = tcase_create("record");
	TCase *te = tcase_create("envelopes");

	tcase_add_test(tc, key_live);
	tcase_add_test(tc, key_tombstone);
	tcase_add_loop_test(tc, key_rejects, 0, N_ELEMS(key_bad));
	tcase_add_loop_test(te, envelope_ids, 0, N_ELEMS(envelope_texts));
	suite_add_tcase(s, tc);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	return check_run(keytransfer_suite());
}
