/* check_sqlstate.c - the one SQLSTATE table: every class, the boundaries
 * where the old classifiers disagreed, and the status each class becomes. */
#include "buildconf.h"

#include <check.h>
#include <stddef.h>

#include "base/error.h"
#include "pg/db.h"
#include "pg/sqlstate.h"
#include "test_helpers.h"

static const struct {
	const char *state;
	enum sqlstate_class cls;
} sqlstate_cases[] = {
	/* no answer from the server at all */
	{ NULL, SQLSTATE_SESSION_LOST }, { "", SQLSTATE_SESSION_LOST },
	/* class 08 */
	{ "08000", SQLSTATE_SESSION_LOST }, { "08006", SQLSTATE_SESSION_LOST },
	{ "08P01", SQLSTATE_SESSION_LOST },
	/* class 57, where db.c and the runner used to disagree: the five FATAL
	 * codes end the session; the rest of the class is not assumed */
	{ "57P01", SQLSTATE_SESSION_LOST }, { "57P02", SQLSTATE_SESSION_LOST },
	{ "57P03", SQLSTATE_SESSION_LOST }, { "57P04", SQLSTATE_SESSION_LOST },
	{ "57P05", SQLSTATE_SESSION_LOST }, { "57P06", SQLSTATE_OTHER },
	{ "57000", SQLSTATE_OTHER }, { "57014", SQLSTATE_UNAVAILABLE },
	/* class 53 */
	{ "53000", SQLSTATE_UNAVAILABLE }, { "53100", SQLSTATE_UNAVAILABLE },
	{ "53200", SQLSTATE_UNAVAILABLE }, { "53300", SQLSTATE_UNAVAILABLE },
	{ "53400", SQLSTATE_UNAVAILABLE },
	/* class 40: two codes, not the class */
	{ "40001", SQLSTATE_RETRY }, { "40P01", SQLSTATE_RETRY },
	{ "40000", SQLSTATE_OTHER }, { "40002", SQLSTATE_OTHER },
	/* classes 22 and 23 */
	{ "23505", SQLSTATE_DUPLICATE }, { "23502", SQLSTATE_BAD_INPUT },
	{ "23503", SQLSTATE_BAD_INPUT }, { "23514", SQLSTATE_BAD_INPUT },
	{ "23P01", SQLSTATE_BAD_INPUT }, { "22P02", SQLSTATE_BAD_INPUT },
	{ "22012", SQLSTATE_BAD_INPUT }, { "22001", SQLSTATE_BAD_INPUT },
	/* ours: the code, the one before migration 004, nothing else of V1 */
	{ SQLSTATE_CHECKPOINT_MOVED, SQLSTATE_MOVED }, { "V1C01", SQLSTATE_MOVED },
	{ "EVCKP", SQLSTATE_MOVED }, { "V1C02", SQLSTATE_OTHER }, { "V1000", SQLSTATE_OTHER },
	{ "EV000", SQLSTATE_OTHER },
	/* everything else */
	{ "42P01", SQLSTATE_OTHER }, { "42601", SQLSTATE_OTHER }, { "26000", SQLSTATE_OTHER },
	{ "25P02", SQLSTATE_OTHER }, { "P0001", SQLSTATE_OTHER }, { "XX000", SQLSTATE_OTHER },
	/* a two-character class entry matches only a whole code */
	{ "08", SQLSTATE_OTHER }, { "2", SQLSTATE_OTHER },
};

static const struct {
	enum sqlstate_class cls;
	enum es_status status;
} status_cases[] = {
	{ SQLSTATE_OTHER, ES_EDB }, { SQLSTATE_SESSION_LOST, ES_EUNAVAILABLE },
	{ SQLSTATE_UNAVAILABLE, ES_EUNAVAILABLE }, { SQLSTATE_RETRY, ES_ERETRY },
	{ SQLSTATE_DUPLICATE, ES_EDUPLICATE }, { SQLSTATE_BAD_INPUT, ES_EINVAL },
	{ SQLSTATE_MOVED, ES_EMOVED },
};

START_TEST(test_sqlstate_classify)
{
	const char *s = sqlstate_cases[_i].state;
	enum sqlstate_class got = sqlstate_classify(s);

	ck_assert_msg(got == sqlstate_cases[_i].cls, "%s: class %d, wanted %d", s ? s : "NULL",
		      (int)got, (int)sqlstate_cases[_i].cls);
	/* db.c answers with the status of the same class */
	ck_assert_int_eq(db_classify_sqlstate(s), sqlstate_status(got));
}
END_TEST

START_TEST(test_sqlstate_status)
{
	ck_assert_int_eq(sqlstate_status(status_cases[_i].cls), status_cases[_i].status);
}
END_TEST

START_TEST(test_moved_status_name)
{
	ck_assert_str_eq(es_status_name(ES_EMOVED), "moved");
}
END_TEST

static Suite *sqlstate_suite(void)
{
	Suite *s = suite_create("sqlstate");
	TCase *tc = tcase_create("table");

	tcase_add_loop_test(tc, test_sqlstate_classify, 0, (int)N_ELEMS(sqlstate_cases));
	tcase_add_loop_test(tc, test_sqlstate_status, 0, (int)N_ELEMS(status_cases));
	tcase_add_test(tc, test_moved_status_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(sqlstate_suite());
}
