/* check_sqlfile.c - the "-- on TYPE" / "-- truncate" projection file parser. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdlib.h>
#include <string.h>

#include "subs/sqlfile.h"

START_TEST(sections_and_statements)
{
	const char *text =
		"-- order_summary projection\n"
		"\n"
		"-- on OrderCreated\n"
		"INSERT INTO t VALUES ($1::jsonb->>'id', 'a;b');\n"
		"UPDATE t SET x = $$ ; $$ WHERE y = \"c;d\"; -- trailing; comment\n"
		"-- on OrderShipped\n"
		"/* a ; block\n comment */ DELETE FROM t WHERE id = $1::jsonb->>'id'\n"
		"-- truncate\n"
		"TRUNCATE t;\n";
	struct sqlfile f;
	char err[128];
	const struct sqlfile_section *s;

	ck_assert_int_eq(sqlfile_parse(text, &f, err, sizeof err), ES_OK);
	ck_assert_uint_eq(f.n_sections, 2);
	s = sqlfile_find(&f, "OrderCreated");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->n_statements, 2);
	ck_assert_str_eq(s->statements[0], "INSERT INTO t VALUES ($1::jsonb->>'id', 'a;b')");
	ck_assert_str_eq(s->statements[1], "UPDATE t SET x = $$ ; $$ WHERE y = \"c;d\"");
	s = sqlfile_find(&f, "OrderShipped");
	ck_assert_uint_eq(s->n_statements, 1);
	ck_assert(strstr(s->statements[0], "DELETE FROM t") != NULL);
	ck_assert_ptr_null(sqlfile_find(&f, "OrderCancelled"));
	ck_assert_uint_eq(f.truncate.n_statements, 1);
	ck_assert_str_eq(f.truncate.statements[0], "TRUNCATE t");
	sqlfile_free(&f);
}
END_TEST

START_TEST(dollar_tags_and_comments)
{
	const char *text =
		"--on A\n"
		"DO $fn$ BEGIN PERFORM 1; END $fn$;\n"
		"-- on the other hand, this is a comment\n"
		"SELECT 'it''s;' ;\n";
	struct sqlfile f;
	char err[128];

	ck_assert_int_eq(sqlfile_parse(text, &f, err, sizeof err), ES_OK);
	ck_assert_uint_eq(f.n_sections, 1);
	ck_assert_uint_eq(f.sections[0].n_statements, 2);
	ck_assert_str_eq(f.sections[0].statements[0], "DO $fn$ BEGIN PERFORM 1; END $fn$");
	ck_assert_uint_eq(f.truncate.n_statements, 0);
	sqlfile_free(&f);
}
END_TEST

static const struct { const char *text, *err; } bad[] = {
	{ "", "line 1: no '-- on EventType' section" },
	{ "-- just a comment\n", "line 2: no '-- on EventType' section" },
	{ "SELECT 1;\n-- on A\nSELECT 2;\n", "line 1: statement before the first section" },
	{ "-- on A\nSELECT 1;\n-- on A\nSELECT 2;\n", "line 3: '-- on A' appears twice" },
	{ "-- on\nSELECT 1;\n", "line 1: '-- on' needs an event type" },
	{ "-- on A\n-- on B\nSELECT 1;\n", "line 1: section 'A' has no statement" },
	{ "-- on A\nSELECT 'x;\n", "line 2: unterminated string" },
	{ "-- on A\nSELECT $q$ x;\n", "line 2: unterminated dollar quote $q$" },
	{ "-- on A\nSELECT 1; /* x\n", "line 2: unterminated /* comment" },
	{ "-- on A\nSELECT 1; /* a /* nested */ still open;\n", "line 2: unterminated /* comment" },
	{ "-- on A\nSELECT 1;\n-- truncate\n", "line 3: section 'truncate' has no statement" },
	{ "-- on A\nSELECT 1;\n-- truncate\nTRUNCATE a;\n-- truncate\nTRUNCATE b;\n",
	  "line 5: '-- truncate' appears twice" },
};

START_TEST(refused)
{
	struct sqlfile f;
	char err[128] = "";

	ck_assert_int_eq(sqlfile_parse(bad[_i].text, &f, err, sizeof err), ES_EINVAL);
	ck_assert_str_eq(err, bad[_i].err);
	ck_assert_uint_eq(f.n_sections, 0);
}
END_TEST

/* Which statements may declare $1 jsonb: every use a cast to jsonb. */
static const struct { const char *sql; bool jsonb; } param_uses[] = {
	{ "INSERT INTO t VALUES (($1::jsonb->>'id')::uuid)", true },
	{ "SELECT $1::jsonb, $1 :: JSONB ->'a', $1::jsonb#>>'{a,b}'", true },
	{ "SELECT $1::jsonb->>'a' -- $1 in a comment\n", true },
	{ "SELECT $1::jsonb /* $1 /* nested $1 */ $1 */", true },
	{ "SELECT '$1', \"$1\", $q$ $1 $q$, $1::jsonb", true },
	{ "SELECT 'it''s $1', $1::jsonb", true },
	{ "SELECT a$1, $1::jsonb FROM t", true },           /* a$1 is a name */
	{ "SELECT $10::text, $1::jsonb", true },            /* $10 is not $1 */
	{ "SELECT $1", false },                              /* used as json */
	{ "SELECT $1::json->>'a'", false },
	{ "SELECT $1::jsonb, $1->>'a'", false },             /* one use without the cast */
	{ "SELECT $1::jsonb[]", false },
	{ "SELECT $1::jsonbx", false },
	{ "SELECT 1", false },                               /* no $1 at all */
	{ "SELECT E'\\n', $1::jsonb", false },              /* E'' strings: unsure */
	{ "SELECT 'open, $1::jsonb", false },                /* unterminated */
	{ "SELECT $1::jsonb /* open", false },
};

START_TEST(param_only_jsonb)
{
	ck_assert_msg(sqlfile_param_only_jsonb(param_uses[_i].sql) == param_uses[_i].jsonb, "%s",
		      param_uses[_i].sql);
}
END_TEST

START_TEST(load_missing_file)
{
	struct sqlfile f;
	char err[256];

	ck_assert_int_eq(sqlfile_load("/nonexistent/p.sql", &f, err, sizeof err), ES_EINVAL);
	ck_assert(strncmp(err, "/nonexistent/p.sql: ", 20) == 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sqlfile");
	TCase *tc = tcase_create("sqlfile");

	tcase_add_test(tc, sections_and_statements);
	tcase_add_test(tc, dollar_tags_and_comments);
	tcase_add_loop_test(tc, refused, 0, N_ELEMS(bad));
	tcase_add_loop_test(tc, param_only_jsonb, 0, N_ELEMS(param_uses));
	tcase_add_test(tc, load_missing_file);
	suite_add_tcase(s, tc);
	return check_run(s);
}
