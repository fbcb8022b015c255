/* check_trace.c - the trace id of a traceparent and of an event. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <string.h>

#include "runner/trace.h"

static const struct { const char *tp, *id; } traceparents[] = {
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736" },
	{ "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more", "4bf92f3577b34da6a3ce929d0e0e4736" },
	{ "00-00000000000000000000000000000001-00f067aa0ba902b7-01", "00000000000000000000000000000001" },
	/* refused: a NULL, short, upper case, all-zero or misplaced trace id */
	{ NULL, NULL },
	{ "", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", NULL },
	{ "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", NULL },
	{ "00-00000000000000000000000000000000-00f067aa0ba902b7-01", NULL },
	{ "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e47-3600f067aa0ba902b7-01", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", NULL },
};

START_TEST(from_traceparent)
{
	char out[TRACE_ID_LEN + 1] = "x";
	bool ok = trace_id_from_traceparent(traceparents[_i].tp, out);

	ck_assert_int_eq(ok, traceparents[_i].id != NULL);
	ck_assert_str_eq(out, traceparents[_i].id ? traceparents[_i].id : "");
}
END_TEST

static const struct { const char *json, *id; } events[] = {
	{ "{\"metadata\":{\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}}",
	  "4bf92f3577b34da6a3ce929d0e0e4736" },
	{ "{\"metadata\":{}}", NULL },
	{ "{\"metadata\":{\"traceparent\":42}}", NULL },
	{ "{\"metadata\":{\"traceparent\":null}}", NULL },
	{ "{\"metadata\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}", NULL },
	{ "{}", NULL },
	{ "not json", NULL },
};

START_TEST(of_event)
{
	struct event ev;
	char out[TRACE_ID_LEN + 1] = "x";
	bool ok;

	memset(&ev, 0, sizeof ev);
	ev.json = events[_i].json;
	ok = trace_id_of_event(&ev, out);
	ck_assert_int_eq(ok, events[_i].id != NULL);
	ck_assert_str_eq(out, events[_i].id ? events[_i].id : "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("trace");

	tcase_add_loop_test(tc, from_traceparent, 0, N_ELEMS(traceparents));
	tcase_add_loop_test(tc, of_event, 0, N_ELEMS(events));
	suite_add_tcase(s, tc);
	return check_run(s);
}
