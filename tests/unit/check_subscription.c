/* check_subscription.c - [subscription NAME] validation: defaults, every
 * key, and a table of sections it must refuse with "file:line: message". */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "subs/subscription.h"

#define MAX_KV 12

struct kvs { const char *k, *v; };

/* Parses name with the pairs (line numbers 10, 11, ...). */
static enum es_status parse(const struct kvs *pairs, struct subscription *out, char *err, size_t errlen)
{
	struct config_kv items[MAX_KV];
	struct config_subscription raw = { (char *)"orders", items, 0 };

	for (size_t i = 0; pairs[i].k; i++) {
		items[i].key = (char *)pairs[i].k;
		items[i].value = (char *)pairs[i].v;
		items[i].line = 10 + (int)i;
		raw.n_items++;
	}
	return subscription_parse(&raw, "evstore.conf", out, err, errlen);
}

START_TEST(defaults)
{
	const struct kvs p[] = { { "handler", "sql" }, { "sql_file", "/x.sql" }, { NULL, NULL } };
	struct subscription c;
	char err[256];

	ck_assert_int_eq(parse(p, &c, err, sizeof err), ES_OK);
	ck_assert_str_eq(c.name, "orders");
	ck_assert_int_eq(c.handler, SUB_HANDLER_SQL);
	ck_assert_int_eq(c.batch_size, 100);
	ck_assert_int_eq(c.start_from, SUB_START_CHECKPOINT);
	ck_assert_int_eq(c.checkpoint_strategy, SUB_CKPT_EVERY_BATCH);
	ck_assert_int_eq(c.checkpoint_interval_ms, 5000);
	ck_assert(c.continue_on_error);
	ck_assert_int_eq(c.max_retries, 5);
	ck_assert_int_eq(c.retry_initial_delay_ms, 1000);
	ck_assert_int_eq(c.retry_max_delay_ms, 60000);
	ck_assert_int_eq(c.processing_timeout_ms, 30000);
	ck_assert_int_eq(c.statement_timeout_ms, 30000);
	ck_assert_int_eq(c.partitions, 1);
	ck_assert_int_eq(c.personal_data, SUB_PERSONAL_REDACTED);
	ck_assert_int_eq(c.subject_erased, SUB_ERASED_IGNORE);
	ck_assert_ptr_null(c.aggregate_types);
	ck_assert_str_eq(c.env, "");
	subscription_free(&c);
}
END_TEST

START_TEST(every_key)
{
	const struct kvs p[] = {
		{ "handler", "exec" }, { "command", "/bin/cat -u" },
		{ "aggregate_types", "Order, \"Odd\" ,Cart" }, { "event_types", "OrderCreated" },
		{ "start_from", "42" }, { "checkpoint_strategy", "periodic" },
		{ "checkpoint_interval", "250ms" }, { "statement_timeout", "0" },
		{ "subject_erased", "deliver" }, { NULL, NULL } };
	const struct kvs q[] = {
		{ "handler", "audit" }, { "continue_on_error", "false" }, { "max_retries", "0" },
		{ "retry_initial_delay", "100ms" }, { "retry_max_delay", "2m" },
		{ "processing_timeout", "5" }, { "partitions", "8" }, { "personal_data", "clear" }, { NULL, NULL } };
	struct subscription c;
	char err[256];

	ck_assert_int_eq(parse(p, &c, err, sizeof err), ES_OK);
	ck_assert_int_eq(c.handler, SUB_HANDLER_EXEC);
	ck_assert_str_eq(c.command, "/bin/cat -u");
	ck_assert_str_eq(c.aggregate_types, "{\"Order\",\"\\\"Odd\\\"\",\"Cart\"}");
	ck_assert_str_eq(c.event_types, "{\"OrderCreated\"}");
	ck_assert_int_eq(c.start_from, SUB_START_POSITION);
	ck_assert_int_eq(c.start_position, 42);
	ck_assert_int_eq(c.checkpoint_strategy, SUB_CKPT_PERIODIC);
	ck_assert_int_eq(c.checkpoint_interval_ms, 250);
	ck_assert_int_eq(c.statement_timeout_ms, 0);
	ck_assert_int_eq(c.subject_erased, SUB_ERASED_DELIVER);
	subscription_free(&c);
	ck_assert_int_eq(parse(q, &c, err, sizeof err), ES_OK);
	ck_assert_int_eq(c.handler, SUB_HANDLER_AUDIT);
	ck_assert(!c.continue_on_error);
	ck_assert_int_eq(c.max_retries, 0);
	ck_assert_int_eq(c.retry_initial_delay_ms, 100);
	ck_assert_int_eq(c.retry_max_delay_ms, 120000);
	ck_assert_int_eq(c.processing_timeout_ms, 5000);
	ck_assert_int_eq(c.statement_timeout_ms, 5000); /* unset: follows processing_timeout */
	ck_assert_int_eq(c.partitions, 8);
	ck_assert_int_eq(c.personal_data, SUB_PERSONAL_CLEAR);
	subscription_free(&c);
}
END_TEST

static const struct { struct kvs p[4]; const char *err; } bad[] = {
	{ { { "sql_file", "/x" } }, "evstore.conf:10: [subscription orders] needs a handler" },
	{ { { "handler", "sql" } }, "evstore.conf:10: [subscription orders] handler = sql needs sql_file" },
	{ { { "handler", "exec" } }, "evstore.conf:10: [subscription orders] handler = exec needs command" },
	{ { { "handler", "http" } }, "evstore.conf:10: handler: 'http' is not one of" },
	{ { { "handler", "audit" }, { "batch_size", "0" } }, "evstore.conf:11: batch_size:" },
	{ { { "handler", "audit" }, { "batch_size", "12x" } }, "evstore.conf:11: batch_size:" },
	{ { { "handler", "audit" }, { "start_from", "middle" } }, "evstore.conf:11: start_from:" },
	{ { { "handler", "audit" }, { "start_from", "-3" } }, "evstore.conf:11: start_from:" },
	{ { { "handler", "audit" }, { "checkpoint_strategy", "sometimes" } }, "evstore.conf:11: checkpoint_strategy:" },
	{ { { "handler", "audit" }, { "checkpoint_interval", "5 sec" } }, "evstore.conf:11: checkpoint_interval:" },
	{ { { "handler", "audit" }, { "retry_max_delay", "1d" } }, "evstore.conf:11: retry_max_delay:" },
	{ { { "handler", "audit" }, { "processing_timeout", "0ms" } }, "evstore.conf:11: processing_timeout:" },
	{ { { "handler", "audit" }, { "statement_timeout", "-1s" } }, "evstore.conf:11: statement_timeout:" },
	{ { { "handler", "audit" }, { "statement_timeout", "25h" } }, "evstore.conf:11: statement_timeout:" },
	{ { { "handler", "audit" }, { "continue_on_error", "maybe" } }, "evstore.conf:11: continue_on_error:" },
	{ { { "handler", "audit" }, { "max_retries", "-1" } }, "evstore.conf:11: max_retries:" },
	{ { { "handler", "audit" }, { "partitions", "0" } }, "evstore.conf:11: partitions:" },
	{ { { "handler", "audit" }, { "personal_data", "plain" } }, "evstore.conf:11: personal_data:" },
	{ { { "handler", "audit" }, { "subject_erased", "always" } }, "evstore.conf:11: subject_erased:" },
	{ { { "handler", "audit" }, { "subject_erased", "deliver" } },
	  "evstore.conf:10: [subscription orders] subject_erased = deliver needs handler sql or exec" },
	{ { { "handler", "snapshots" }, { "subject_erased", "deliver" } },
	  "evstore.conf:10: [subscription orders] subject_erased = deliver needs handler sql or exec" },
	{ { { "handler", "audit" }, { "partition", "2" } }, "evstore.conf:11: unknown key 'partition'" },
	{ { { "handler", "audit" }, { "env", "NOEQUALS" } }, "evstore.conf:11: env: 'NOEQUALS' is not a list of NAME=value" },
	{ { { "handler", "audit" }, { "env", "A=1 9X=2" } }, "evstore.conf:11: env: 'A=1 9X=2' is not a list" },
	{ { { "handler", "audit" }, { "env", "A-B=1" } }, "evstore.conf:11: env: 'A-B=1' is not a list" },
	{ { { "handler", "audit" }, { "env", "=1" } }, "evstore.conf:11: env: '=1' is not a list" },
	{ { { "handler", "audit" }, { "env", "A=1 A=2" } }, "evstore.conf:11: env: 'A=1 A=2' names a variable twice" },
	{ { { "handler", "audit" }, { "retry_initial_delay", "10s" }, { "retry_max_delay", "1s" } },
	  "evstore.conf:10: [subscription orders] retry_max_delay is below retry_initial_delay" },
};

START_TEST(refused)
{
	struct subscription c;
	char err[256] = "";

	ck_assert_int_eq(parse(bad[_i].p, &c, err, sizeof err), ES_EINVAL);
	ck_assert_msg(strncmp(err, bad[_i].err, strlen(bad[_i].err)) == 0, "got '%s'", err);
	ck_assert_ptr_null(c.name);
}
END_TEST

/* The duration keys count milliseconds; a bare number is seconds. */
static const struct { const char *in; int ms; } durations[] = {
	{ "5", 5000 }, { "5s", 5000 }, { "500ms", 500 }, { "2m", 120000 },
	{ "1h", 3600000 }, { "3min", 180000 }, { "5 s", 5000 }, { "1ms", 1 }, { "24h", 86400000 },
	{ "86400", 86400000 },
};
static const char *const bad_durations[] = {
	"", "s", "-1s", "1.5s", "5sec", "1d", "99999h", "0", "0ms", "86401", "5S",
	"99999999999999999999s",
};

START_TEST(duration_ok)
{
	const struct kvs p[] = { { "handler", "audit" }, { "processing_timeout", durations[_i].in },
				 { NULL, NULL } };
	struct subscription c;
	char err[256] = "";

	ck_assert_msg(parse(p, &c, err, sizeof err) == ES_OK, "got '%s'", err);
	ck_assert_int_eq(c.processing_timeout_ms, durations[_i].ms);
	subscription_free(&c);
}
END_TEST

START_TEST(duration_bad)
{
	const struct kvs p[] = { { "handler", "audit" }, { "processing_timeout", bad_durations[_i] },
				 { NULL, NULL } };
	struct subscription c;
	char err[256] = "";

	ck_assert_int_eq(parse(p, &c, err, sizeof err), ES_EINVAL);
	ck_assert_msg(strncmp(err, "evstore.conf:11: processing_timeout: '", 38) == 0, "got '%s'",
		      err);
}
END_TEST

/* The built-in snapshots handler needs neither a file nor a program. */
START_TEST(snapshots_handler)
{
	const struct kvs p[] = { { "handler", "snapshots" }, { "aggregate_types", "Order" },
				 { NULL, NULL } };
	struct subscription c;
	char err[256] = "";

	ck_assert_msg(parse(p, &c, err, sizeof err) == ES_OK, "got '%s'", err);
	ck_assert_int_eq(c.handler, SUB_HANDLER_SNAPSHOTS);
	ck_assert_ptr_null(c.sql_file);
	ck_assert_ptr_null(c.command);
	ck_assert_str_eq(c.aggregate_types, "{\"Order\"}");
	subscription_free(&c);
}
END_TEST

/* env: NAME=value pairs, blanks between them squeezed to one space; a
 * value may be empty or hold '='. */
static const struct { const char *in, *kept; } envs[] = {
	{ "", "" }, { "A=1", "A=1" }, { "  A=1 \t B_2=x=y  C= ", "A=1 B_2=x=y C=" },
	{ "_X=/usr/bin:/bin", "_X=/usr/bin:/bin" }, { "AB=1 A=2", "AB=1 A=2" },
};

START_TEST(env_ok)
{
	const struct kvs p[] = { { "handler", "exec" }, { "command", "cat" }, { "env", envs[_i].in },
				 { NULL, NULL } };
	struct subscription c;
	char err[256] = "";

	ck_assert_msg(parse(p, &c, err, sizeof err) == ES_OK, "got '%s'", err);
	ck_assert_str_eq(c.env, envs[_i].kept);
	subscription_free(&c);
}
END_TEST

/* A list that names nothing is no filter. */
START_TEST(list_empty)
{
	const struct kvs p[] = { { "handler", "audit" }, { "event_types", " , ," }, { NULL, NULL } };
	struct subscription c;
	char err[256] = "";

	ck_assert_msg(parse(p, &c, err, sizeof err) == ES_OK, "got '%s'", err);
	ck_assert_ptr_null(c.event_types);
	subscription_free(&c);
}
END_TEST

/* subject_erased = deliver on an sql subscription: its file must have a
 * "-- on SubjectErased" section (checked where the file is read, at start
 * and on reload); without the key the section is allowed and unused. */
START_TEST(erased_section)
{
	static const char *const files[] = {
		"-- on Added\nSELECT 1;\n",
		"-- on Added\nSELECT 1;\n-- on SubjectErased\nSELECT 2;\n",
	};
	char path[] = "/tmp/check_subscription_XXXXXX", err[512] = "";
	int fd = mkstemp(path);
	const char *deliver = _i & 2 ? "deliver" : "ignore";
	struct config_kv items[3] = { { (char *)"handler", (char *)"sql", 10 },
				      { (char *)"sql_file", path, 11 },
				      { (char *)"subject_erased", (char *)deliver, 12 } };
	struct config_subscription raw = { (char *)"orders", items, 3 };
	struct es_config cfg;
	struct subscription *subs = NULL;
	size_t n = 0;
	enum es_status rc;

	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, files[_i & 1], strlen(files[_i & 1])) == (ssize_t)strlen(files[_i & 1]));
	close(fd);
	memset(&cfg, 0, sizeof cfg);
	cfg.subscriptions = &raw;
	cfg.n_subscriptions = 1;
	cfg.source_path = (char *)"evstore.conf";
	rc = subscription_parse_all(&cfg, &subs, &n, err, sizeof err);
	unlink(path);
	if (_i == 2) {
		char want[256];

		snprintf(want, sizeof want, "evstore.conf:10: [subscription orders] subject_erased = "
			 "deliver: %s has no \"-- on SubjectErased\" section", path);
		ck_assert_int_eq(rc, ES_EINVAL);
		ck_assert_str_eq(err, want);
		ck_assert_ptr_null(subs);
		return;
	}
	ck_assert_msg(rc == ES_OK, "got '%s'", err);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(subs[0].subject_erased, _i & 2 ? SUB_ERASED_DELIVER : SUB_ERASED_IGNORE);
	subscription_free_all(subs, n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("subscription");
	TCase *tc = tcase_create("subscription");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, every_key);
	tcase_add_loop_test(tc, refused, 0, N_ELEMS(bad));
	tcase_add_loop_test(tc, duration_ok, 0, N_ELEMS(durations));
	tcase_add_loop_test(tc, duration_bad, 0, N_ELEMS(bad_durations));
	tcase_add_test(tc, snapshots_handler);
	tcase_add_test(tc, list_empty);
	tcase_add_loop_test(tc, env_ok, 0, N_ELEMS(envs));
	tcase_add_loop_test(tc, erased_section, 0, 4);
	suite_add_tcase(s, tc);
	return check_run(s);
}
