/* check_event_line.c - event_line: one exported event checked field by
 * field (a table of lines it must refuse, each naming the field), and the
 * COPY row it becomes; export_parse_types, the --aggregate-type list. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "store/event_line.h"
#include "store/export.h"
#include "test_helpers.h"

#define ID "\"event_id\": \"0B6F6D1E-3C1A-4F0E-9A57-3F3E2A8F5C10\""
#define AGG "\"aggregate_type\": \"Order\", \"aggregate_id\": \"5c6d78cf-fa59-e129-f040-fcec2d788532\""
#define REST "\"event_type\": \"Created\", \"version\": 3, \"occurred_at\": \"2026-01-01T10:00:00.5+02:00\""
#define MIN "{" ID ", " AGG ", " REST ", \"payload\": {\"a\": 1}}"

/* An exported line, as evstore.event_json writes it. */
static const char full_line[] =
	"{\"event_id\" : \"7611b2d7-dd0b-4216-b9b5-64c7aabd6390\", \"event_type\" : \"Created\","
	" \"aggregate_type\" : \"Invoice\", \"aggregate_id\" : \"f3eca253-14ac-ff2c-dc19-19b126c24318\","
	" \"version\" : 1, \"position\" : 17, \"occurred_at\" : \"2026-01-01T00:00:00.000001Z\","
	" \"recorded_at\" : \"2026-01-01T00:00:01.250000Z\","
	" \"tenant_id\" : \"00000000-0000-4000-8000-000000000001\", \"actor_id\" : \"user\\t1\","
	" \"payload\" : {\"note\": \"a \\\"quote\\\", a \\\\ and a\\nnewline\", \"total\": 0.10},"
	" \"metadata\" : {\"correlation_id\": \"c\"}}";

START_TEST(line_full)
{
	struct event_line l;
	struct sbuf row = SBUF_INIT;
	char err[256] = "";

	ck_assert_int_eq(event_line_parse(full_line, strlen(full_line), &l, err, sizeof err), ES_OK);
	ck_assert_str_eq(l.tenant_id, "00000000-0000-4000-8000-000000000001");
	ck_assert_str_eq(l.aggregate_type, "Invoice");
	ck_assert_int_eq(l.version, 1);
	ck_assert(l.has_recorded_at);
	event_line_copy_row(&l, 42, &row);
	/* Tabs, newlines and backslashes escaped for COPY; the number as written. */
	ck_assert_str_eq(sbuf_cstr(&row),
			 "42\t00000000-0000-4000-8000-000000000001\t7611b2d7-dd0b-4216-b9b5-64c7aabd6390"
			 "\tInvoice\tf3eca253-14ac-ff2c-dc19-19b126c24318\t1\tCreated\tuser\\t1"
			 "\t2026-01-01T00:00:00.000001Z\t2026-01-01T00:00:01.250000Z"
			 "\t{\"note\":\"a \\\\\"quote\\\\\", a \\\\\\\\ and a\\\\nnewline\",\"total\":0.10}"
			 "\t{\"correlation_id\":\"c\"}\n");
	sbuf_free(&row);
	event_line_free(&l);
}
END_TEST

START_TEST(line_minimal)
{
	static const char line[] = MIN;
	struct event_line l;
	struct sbuf row = SBUF_INIT;
	char err[256] = "";

	ck_assert_int_eq(event_line_parse(line, strlen(line), &l, err, sizeof err), ES_OK);
	ck_assert_str_eq(l.event_id, "0b6f6d1e-3c1a-4f0e-9a57-3f3e2a8f5c10"); /* lowercase */
	ck_assert_str_eq(l.tenant_id, "00000000-0000-0000-0000-000000000000");
	ck_assert_ptr_null(l.actor_id);
	ck_assert(!l.has_recorded_at);
	event_line_copy_row(&l, 1, &row);
	/* No actor, no recorded_at: NULL; the offset moved to UTC; metadata {}. */
	ck_assert_str_eq(sbuf_cstr(&row),
			 "1\t00000000-0000-0000-0000-000000000000\t0b6f6d1e-3c1a-4f0e-9a57-3f3e2a8f5c10"
			 "\tOrder\t5c6d78cf-fa59-e129-f040-fcec2d788532\t3\tCreated\t\\N"
			 "\t2026-01-01T08:00:00.500000Z\t\\N\t{\"a\":1}\t{}\n");
	sbuf_free(&row);
	event_line_free(&l);
}
END_TEST

/* Lines to refuse, and a word the message must contain. */
static const struct { const char *line, *says; } line_bad[] = {
	{ "", "JSON" },
	{ "[1]", "not a JSON object" },
	{ "{\"a\": 1", "JSON" },
	{ MIN " x", "JSON" },
	{ "{" ID ", " ID ", " AGG ", " REST ", \"payload\": {}}", "duplicate" },
	{ "{" AGG ", " REST ", \"payload\": {}}", "event_id is missing" },
	{ "{" ID ", " AGG ", " REST "}", "payload is missing" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": null}", "payload is missing" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": [1]}", "payload must be a JSON object" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": {}, \"metadata\": 3}", "metadata must be" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": {}, \"extra\": 1}", "unknown field \"extra\"" },
	{ "{\"event_id\": \"x\", " AGG ", " REST ", \"payload\": {}}", "event_id must be a UUID" },
	{ "{" ID ", \"aggregate_type\": \"9x\", \"aggregate_id\": \"5c6d78cf-fa59-e129-f040-fcec2d788532\", "
	  REST ", \"payload\": {}}", "aggregate_type must be" },
	{ "{" ID ", " AGG ", \"event_type\": \"a b\", \"version\": 3, \"occurred_at\": \"2026-01-01T10:00:00Z\","
	  " \"payload\": {}}", "event_type must be" },
	{ "{" ID ", " AGG ", \"event_type\": \"E\", \"version\": 0, \"occurred_at\": \"2026-01-01T10:00:00Z\","
	  " \"payload\": {}}", "version must be" },
	{ "{" ID ", " AGG ", \"event_type\": \"E\", \"version\": 1.5, \"occurred_at\": \"2026-01-01T10:00:00Z\","
	  " \"payload\": {}}", "version must be" },
	{ "{" ID ", " AGG ", \"event_type\": \"E\", \"version\": \"1\", \"occurred_at\": \"2026-01-01T10:00:00Z\","
	  " \"payload\": {}}", "version must be" },
	{ "{" ID ", " AGG ", \"event_type\": \"E\", \"version\": 1, \"occurred_at\": \"2026-13-01T10:00:00Z\","
	  " \"payload\": {}}", "occurred_at must be" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": {}, \"recorded_at\": \"yesterday\"}", "recorded_at must be" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": {}, \"position\": -1}", "position must be" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": {}, \"actor_id\": 7}", "actor_id must be" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": {}, \"tenant_id\": \"00000000-0000-0000-0000-000000000000\"}",
	  "nil UUID" },
	{ "{" ID ", " AGG ", " REST ", \"payload\": {\"s\": \"\\u0000\"}}", "\\u0000" },
};

START_TEST(line_rejects)
{
	struct event_line l;
	char err[256] = "";

	ck_assert_int_eq(event_line_parse(line_bad[_i].line, strlen(line_bad[_i].line), &l, err, sizeof err),
			 ES_EINVAL);
	ck_assert_msg(strstr(err, line_bad[_i].says), "line %d: \"%s\" does not say \"%s\"", _i, err,
		      line_bad[_i].says);
	event_line_free(&l);
}
END_TEST

static const struct { const char *csv; size_t n; const char *first, *last; } types_good[] = {
	{ "Order", 1, "Order", "Order" },
	{ " Order , Invoice.v2,a_b-c ", 3, "Order", "a_b-c" },
};

START_TEST(types_parse)
{
	char **names = NULL, err[128];
	size_t n = 0;

	ck_assert_int_eq(export_parse_types(types_good[_i].csv, &names, &n, err, sizeof err), ES_OK);
	ck_assert_uint_eq(n, types_good[_i].n);
	ck_assert_str_eq(names[0], types_good[_i].first);
	ck_assert_str_eq(names[n - 1], types_good[_i].last);
	export_types_free(names, n);
}
END_TEST

static const char *const types_bad[] = {
	"", ",", "Order,", ",Order", "Order,,Invoice", "9Order", "Or der", "Order;drop",
	"O'x", "A2345678901234567890123456789012345678901234567890123456789012345", /* 65 */
};

START_TEST(types_rejects)
{
	char **names = NULL, err[128] = "";
	size_t n = 7;

	ck_assert_int_eq(export_parse_types(types_bad[_i], &names, &n, err, sizeof err), ES_EINVAL);
	ck_assert_ptr_null(names);
	ck_assert_uint_eq(n, 0);
	ck_assert_msg(strstr(err, "is not an aggregate type"), "%s", err);
}
END_TEST

static Suite *event_line_suite(void)
{
	Suite *s = suite_create("event_line");
	TCase *tc = tcase_create("line");
	TCase *tt = tcase_create("types");

	tcase_add_test(tc, line_full);
	tcase_add_test(tc, line_minimal);
	tcase_add_loop_test(tc, line_rejects, 0, N_ELEMS(line_bad));
	tcase_add_loop_test(tt, types_parse, 0, N_ELEMS(types_good));
	tcase_add_loop_test(tt, types_rejects, 0, N_ELEMS(types_bad));
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return check_run(event_line_suite());
}
