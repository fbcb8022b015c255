/* check_exec_proto.c - the exec handler's answer lines. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdlib.h>
#include <string.h>

#include "runner/handler.h"

static const struct { const char *line; enum exec_answer kind; const char *msg; } good[] = {
	{ "ok", EXEC_ANSWER_OK, "" },
	{ "ok\r", EXEC_ANSWER_OK, "" },
	{ "retry", EXEC_ANSWER_RETRY, "" },
	{ "retry database busy", EXEC_ANSWER_RETRY, "database busy" },
	{ "park", EXEC_ANSWER_PARK, "" },
	{ "park bad payload: no total", EXEC_ANSWER_PARK, "bad payload: no total" },
};

static const char *const bad[] = {
	"", "OK", "okay", "ok then", " ok", "retrying", "parked x", "yes", "retry\tx", "park\r\n",
};

START_TEST(answer_accepted)
{
	enum exec_answer kind;
	const char *msg;

	ck_assert(exec_parse_answer(good[_i].line, &kind, &msg));
	ck_assert_int_eq(kind, good[_i].kind);
	if (good[_i].kind == EXEC_ANSWER_OK || good[_i].msg[0] == '\0')
		ck_assert(msg[0] == '\0' || (msg[0] == '\r' && msg[1] == '\0') ||
			  strcmp(msg, good[_i].msg) == 0);
	else
		ck_assert_str_eq(msg, good[_i].msg);
}
END_TEST

START_TEST(answer_refused)
{
	enum exec_answer kind;
	const char *msg;

	ck_assert(!exec_parse_answer(bad[_i], &kind, &msg));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exec_proto");
	TCase *tc = tcase_create("answers");

	tcase_add_loop_test(tc, answer_accepted, 0, N_ELEMS(good));
	tcase_add_loop_test(tc, answer_refused, 0, N_ELEMS(bad));
	suite_add_tcase(s, tc);
	return check_run(s);
}
