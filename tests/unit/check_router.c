/* check_router.c - path matching: what routes, what is 404, 405 or 400,
 * per-segment percent-decoding and path parameter validation. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "fcgi/router.h"
#include "fcgi/routes.h"
#include "test_helpers.h"

/* router_match against the application's table, as the workers call it. */
static enum router_result match(const char *method, const char *path, struct route_match *m)
{
	size_t n;
	const struct route *table = routes_table(&n);

	return router_match(table, n, method, path, m);
}

#define STREAM "/v1/aggregates/{type}/{id}/events"
#define UUID_LOWER "123e4567-e89b-12d3-a456-426614174000"
#define UUID_UPPER "123E4567-E89B-12D3-A456-426614174000"

/* ---- paths that route ------------------------------------------------------ */

static const struct {
	const char *method, *path, *pattern, *route_method, *type, *id;
} routed[] = {
	{ "GET", "/health/live", "/health/live", "GET", NULL, NULL },
	{ "GET", "/health/ready", "/health/ready", "GET", NULL, NULL },
	{ "GET", "/health", "/health", "GET", NULL, NULL },
	{ "HEAD", "/health/live", "/health/live", "GET", NULL, NULL },
	{ "GET", "/metrics", "/metrics", "GET", NULL, NULL },
	{ "GET", "/v1/events", "/v1/events", "GET", NULL, NULL },
	{ "HEAD", "/v1/events", "/v1/events", "GET", NULL, NULL },
	{ "POST", "/v1/aggregates/Order/" UUID_LOWER "/events", STREAM, "POST", "Order", UUID_LOWER },
	{ "GET", "/v1/aggregates/Order/" UUID_LOWER "/events", STREAM, "GET", "Order", UUID_LOWER },
	{ "GET", "/v1/aggregates/Order/" UUID_LOWER, "/v1/aggregates/{type}/{id}", "GET", "Order", UUID_LOWER },
	{ "POST", "/v1/aggregates/Order/" UUID_UPPER "/commands/ship",
	  "/v1/aggregates/{type}/{id}/commands/{command}", "POST", "Order", UUID_LOWER },
	/* any case in, lowercase out */
	{ "GET", "/v1/aggregates/Order/" UUID_UPPER "/events", STREAM, "GET", "Order", UUID_LOWER },
	{ "GET", "/v1/aggregates/Order.v2_x-y/" UUID_LOWER "/events", STREAM, "GET", "Order.v2_x-y",
	  UUID_LOWER },
	/* escapes are decoded before matching, literals included */
	{ "GET", "/v1/%65vents", "/v1/events", "GET", NULL, NULL },
	{ "GET", "/v1/aggregates/%4Frder/" UUID_LOWER "/events", STREAM, "GET", "Order", UUID_LOWER },
	{ "GET", "/v1/aggregates/Order/123e4567%2De89b-12d3-a456-426614174000/events", STREAM, "GET",
	  "Order", UUID_LOWER },
	/* the longest allowed aggregate type: 64 characters */
	{ "GET",
	  "/v1/aggregates/A123456789012345678901234567890123456789012345678901234567890123/" UUID_LOWER
	  "/events",
	  STREAM, "GET", "A123456789012345678901234567890123456789012345678901234567890123", UUID_LOWER },
};

START_TEST(paths_route)
{
	struct route_match m;

	ck_assert_int_eq(match(routed[_i].method, routed[_i].path, &m), ROUTER_OK);
	ck_assert_str_eq(m.route->pattern, routed[_i].pattern);
	ck_assert_str_eq(m.route->method, routed[_i].route_method);
	if (routed[_i].type)
		ck_assert_str_eq(route_param(&m, "type"), routed[_i].type);
	if (routed[_i].id)
		ck_assert_str_eq(route_param(&m, "id"), routed[_i].id);
	if (strstr(routed[_i].pattern, "{command}"))
		ck_assert_str_eq(route_param(&m, "command"), "ship");
	ck_assert_ptr_null(route_param(&m, "nope"));
	route_match_free(&m);
}
END_TEST

/* ---- 404 -------------------------------------------------------------------- */

static const char *const not_found[] = {
	"/",
	"",
	"v1/events",                       /* not absolute */
	"/v1",
	"/v1/events/",                     /* strict: no trailing slash */
	"//v1/events",
	"/v1//events",
	"/V1/events",                      /* case matters in literals */
	"/health/",
	"/health/live/extra",
	"/v1/aggregates/Order/" UUID_LOWER "/events/",
	"/v1/aggregates/Order/" UUID_LOWER "/",
	"/v1/aggregates/Order/" UUID_LOWER "/commands",         /* no command named */
	"/v1/aggregates/Order/" UUID_LOWER "/commands/ship/x",
	"/v1/aggregates//" UUID_LOWER "/events", /* empty parameter */
	"/v1%2Fevents",                    /* %2F stays inside its segment */
	"/v1/events%2F",
	"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", /* more segments than any route */
};

START_TEST(paths_not_found)
{
	struct route_match m;

	ck_assert_int_eq(match("GET", not_found[_i], &m), ROUTER_NOT_FOUND);
	route_match_free(&m);
}
END_TEST

START_TEST(null_path_not_found)
{
	struct route_match m;

	ck_assert_int_eq(match("GET", NULL, &m), ROUTER_NOT_FOUND);
	route_match_free(&m);
}
END_TEST

/* ---- 405 -------------------------------------------------------------------- */

static const struct {
	const char *method, *path, *allow;
} not_allowed[] = {
	{ "DELETE", "/v1/events", "GET, HEAD" },
	{ "POST", "/v1/events", "GET, HEAD" },
	{ "POST", "/health/live", "GET, HEAD" },
	{ "OPTIONS", "/health", "GET, HEAD" },
	{ "PUT", "/v1/aggregates/Order/" UUID_LOWER "/events", "POST, GET, HEAD" },
	{ "DELETE", "/v1/aggregates/Order/" UUID_LOWER "/events", "POST, GET, HEAD" },
	{ "get", "/v1/events", "GET, HEAD" },      /* methods are case-sensitive */
	{ "", "/v1/events", "GET, HEAD" },
};

START_TEST(methods_not_allowed)
{
	struct route_match m;

	ck_assert_int_eq(match(not_allowed[_i].method, not_allowed[_i].path, &m),
			 ROUTER_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(m.allow, not_allowed[_i].allow);
	route_match_free(&m);
}
END_TEST

/* ---- 400 -------------------------------------------------------------------- */

static const struct {
	const char *path, *detail;
} bad_request[] = {
	{ "/v1/aggregates/Order/%zz/events", "percent-escape" },
	{ "/v1/aggregates/Order/%4/events", "percent-escape" },
	{ "/v1/aggregates/Order/abc%/events", "percent-escape" },
	{ "/v1/aggregates/Or%00der/" UUID_LOWER "/events", "percent-escape" },
	{ "/nowhere/%g0", "percent-escape" },
	{ "/v1/aggregates/1Order/" UUID_LOWER "/events", "aggregate_type" },
	{ "/v1/aggregates/_Order/" UUID_LOWER "/events", "aggregate_type" },
	{ "/v1/aggregates/Or%20der/" UUID_LOWER "/events", "aggregate_type" },
	/* %2F decodes inside the segment, so the type contains a '/' */
	{ "/v1/aggregates/Ord%2Fer/" UUID_LOWER "/events", "aggregate_type" },
	{ "/v1/aggregates/Ord%C3%A9r/" UUID_LOWER "/events", "aggregate_type" },
	{ "/v1/aggregates/A1234567890123456789012345678901234567890123456789012345678901234/" UUID_LOWER
	  "/events", "aggregate_type" },
	{ "/v1/aggregates/Order/not-a-uuid/events", "aggregate_id" },
	{ "/v1/aggregates/Order/123e4567e89b12d3a456426614174000/events", "aggregate_id" },
	{ "/v1/aggregates/Order/{123e4567-e89b-12d3-a456-426614174000}/events", "aggregate_id" },
	{ "/v1/aggregates/Order/123e4567-e89b-12d3-a456-42661417400g/events", "aggregate_id" },
	{ "/v1/aggregates/Order/" UUID_LOWER "%20/events", "aggregate_id" },
	/* decoded bytes that are not UTF-8 are quoted escaped, never raw */
	{ "/v1/aggregates/%FF%FE/" UUID_LOWER "/events", "aggregate_type \"\\xFF\\xFE\" must" },
	{ "/v1/aggregates/Order/%FF%FE%0A/events", "aggregate_id \"\\xFF\\xFE\\x0A\" must" },
	{ "/v1/subscriptions/a%22b%5C/dlq", "subscription name \"a\\\"b\\\\\" must" },
	{ "/v1/aggregates/Order/%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC"
	  "%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC"
	  "%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC"
	  "%E2%82%AC%E2%82%AC/events", "\"... must" },
};

START_TEST(paths_bad_request)
{
	struct route_match m;

	ck_assert_int_eq(match("GET", bad_request[_i].path, &m), ROUTER_BAD_REQUEST);
	ck_assert_msg(strstr(m.detail, bad_request[_i].detail), "detail '%s' lacks '%s'", m.detail,
		      bad_request[_i].detail);
	for (size_t i = 0; m.detail[i]; i += text_utf8_seq_len((const unsigned char *)m.detail + i,
								 strlen(m.detail + i)))
		ck_assert_msg(text_utf8_seq_len((const unsigned char *)m.detail + i,
						strlen(m.detail + i)) > 0,
			      "detail '%s' is not UTF-8 at %zu", m.detail, i);
	route_match_free(&m);
}
END_TEST

/* ---- query parameters ------------------------------------------------------- */

static const struct {
	const char *method, *path, *param;
	bool taken;
} query_params[] = {
	{ "GET", "/v1/events", "aggregate_type", true },
	{ "GET", "/v1/events", "wait", true },
	{ "GET", "/v1/events", "aggregate_typ", false },
	{ "GET", "/v1/events", "aggregate", false },
	{ "GET", "/v1/events", "", false },
	{ "GET", "/v1/events", "limit ", false },
	{ "GET", "/v1/aggregates/Order/" UUID_LOWER "/events", "from_version", true },
	{ "GET", "/v1/aggregates/Order/" UUID_LOWER "/events", "after", false },
	{ "GET", "/v1/aggregates/Order/" UUID_LOWER, "at_version", true },
	{ "GET", "/v1/aggregates/Order/" UUID_LOWER, "limit", false },
	{ "POST", "/v1/aggregates/Order/" UUID_LOWER "/events", "expected_version", false },
	{ "GET", "/v1/subscriptions/s1/dlq", "status", true },
	{ "GET", "/v1/subscriptions", "limit", false },
	{ "GET", "/health/live", "cachebuster", true },  /* probes ignore the query */
};

START_TEST(query_param_taken)
{
	struct route_match m;

	ck_assert_int_eq(match(query_params[_i].method, query_params[_i].path, &m), ROUTER_OK);
	ck_assert_int_eq(route_takes_query_param(m.route, query_params[_i].param),
			 query_params[_i].taken);
	route_match_free(&m);
}
END_TEST

/* ---- names ------------------------------------------------------------------ */

static const struct {
	const char *name;
	size_t max;
	bool ok;
} names[] = {
	{ "Order", 64, true },
	{ "o", 64, true },
	{ "Order.Line_item-2", 64, true },
	{ "", 64, false },
	{ "2Order", 64, false },
	{ ".Order", 64, false },
	{ "Order Line", 64, false },
	{ "Order/Line", 64, false },
	{ "Orde\xc3\xa9", 64, false },
	{ "A123456789012345678901234567890123456789012345678901234567890123", 64, true },
	{ "A1234567890123456789012345678901234567890123456789012345678901234", 64, false },
	{ "A1234567890123456789012345678901234567890123456789012345678901234", 128, true },
};

START_TEST(name_validation)
{
	ck_assert_int_eq(router_name_valid(names[_i].name, names[_i].max), names[_i].ok);
}
END_TEST

START_TEST(table_entries_are_well_formed)
{
	size_t n;
	const struct route *t = routes_table(&n);

	ck_assert_uint_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(t[i].pattern[0] == '/', "pattern %s", t[i].pattern);
		ck_assert_ptr_nonnull(t[i].handler);
	}
}
END_TEST

static Suite *router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("match");

	tcase_add_loop_test(tc, paths_route, 0, N_ELEMS(routed));
	tcase_add_loop_test(tc, paths_not_found, 0, N_ELEMS(not_found));
	tcase_add_test(tc, null_path_not_found);
	tcase_add_loop_test(tc, methods_not_allowed, 0, N_ELEMS(not_allowed));
	tcase_add_loop_test(tc, query_param_taken, 0, N_ELEMS(query_params));
	tcase_add_loop_test(tc, paths_bad_request, 0, N_ELEMS(bad_request));
	tcase_add_loop_test(tc, name_validation, 0, N_ELEMS(names));
	tcase_add_test(tc, table_entries_are_well_formed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(router_suite());
}
