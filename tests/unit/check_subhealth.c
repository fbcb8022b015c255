/* check_subhealth.c - the health judgement of a subscription at every
 * threshold edge (the [health] defaults of doc/configuration.md). */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "subs/subhealth.h"

static struct es_config cfg;

static void setup(void)
{
	char err[256];

	unsetenv("DATABASE_URL");
	ck_assert_msg(config_load(&cfg, "/dev/null", err, sizeof err), "%s", err);
}

static void teardown(void)
{
	config_free(&cfg);
}

struct judge_case {
	const char *state;
	long long failed, lag, dlq;
	double rate;
	bool stale;
	enum subhealth_status want;
};

static const struct judge_case judge_cases[] = {
	{ "live", 0, 0, 0, 0, false, SUBHEALTH_HEALTHY },
	{ "catching_up", 0, 0, 0, 0, false, SUBHEALTH_HEALTHY },
	{ "starting", 0, 0, 0, 0, false, SUBHEALTH_HEALTHY },
	{ "paused", 0, 0, 0, 0, false, SUBHEALTH_DEGRADED },
	{ "stopped", 0, 0, 0, 0, false, SUBHEALTH_DEGRADED },
	{ "error", 0, 0, 0, 0, false, SUBHEALTH_UNHEALTHY },
	{ "live", 9, 0, 0, 0, false, SUBHEALTH_HEALTHY },
	{ "live", 10, 0, 0, 0, false, SUBHEALTH_DEGRADED },
	{ "live", 99, 0, 0, 0, false, SUBHEALTH_DEGRADED },
	{ "live", 100, 0, 0, 0, false, SUBHEALTH_UNHEALTHY },
	{ "live", 0, 999, 0, 0, false, SUBHEALTH_HEALTHY },
	{ "live", 0, 1000, 0, 0, false, SUBHEALTH_DEGRADED },
	{ "live", 0, 9999, 0, 0, false, SUBHEALTH_DEGRADED },
	{ "live", 0, 10000, 0, 0, false, SUBHEALTH_UNHEALTHY },
	{ "live", 0, 0, 9, 0, false, SUBHEALTH_HEALTHY },
	{ "live", 0, 0, 10, 0, false, SUBHEALTH_DEGRADED },
	{ "live", 0, 0, 99, 0, false, SUBHEALTH_DEGRADED },
	{ "live", 0, 0, 100, 0, false, SUBHEALTH_UNHEALTHY },
	{ "live", 0, 0, 0, 10.0, false, SUBHEALTH_HEALTHY },
	{ "live", 0, 0, 0, 10.5, false, SUBHEALTH_DEGRADED },
	{ "live", 0, 0, 0, 0, true, SUBHEALTH_UNHEALTHY },
	{ "paused", 0, 5000, 0, 0, false, SUBHEALTH_DEGRADED },
	{ "paused", 0, 0, 100, 0, false, SUBHEALTH_UNHEALTHY },
	{ "stopped", 0, 0, 0, 0, true, SUBHEALTH_UNHEALTHY },
};

START_TEST(test_judge)
{
	const struct judge_case *c = &judge_cases[_i];
	struct subhealth s;

	memset(&s, 0, sizeof s);
	strcpy(s.state, c->state);
	s.events_failed = c->failed;
	s.lag_events = c->lag;
	s.dlq_count = c->dlq;
	s.error_rate = c->rate;
	s.stale = c->stale;
	ck_assert_msg(subhealth_judge(&s, &cfg) == c->want,
		      "case %d (%s failed=%lld lag=%lld dlq=%lld rate=%.1f stale=%d): got %s, want %s",
		      _i, c->state, c->failed, c->lag, c->dlq, c->rate, c->stale,
		      subhealth_status_name(subhealth_judge(&s, &cfg)), subhealth_status_name(c->want));
}
END_TEST

START_TEST(test_thresholds_follow_config)
{
	struct subhealth s;

	memset(&s, 0, sizeof s);
	strcpy(s.state, "live");
	s.lag_events = 50;
	cfg.health.lag_warn = 50;
	cfg.health.lag_critical = 60;
	ck_assert_int_eq(subhealth_judge(&s, &cfg), SUBHEALTH_DEGRADED);
	s.lag_events = 60;
	ck_assert_int_eq(subhealth_judge(&s, &cfg), SUBHEALTH_UNHEALTHY);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("subhealth");
	TCase *tc = tcase_create("judge");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_judge, 0, (int)(sizeof judge_cases / sizeof judge_cases[0]));
	tcase_add_test(tc, test_thresholds_follow_config);
	suite_add_tcase(s, tc);
	return check_run(s);
}
