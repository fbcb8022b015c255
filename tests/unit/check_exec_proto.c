/* check_exec_proto.c - the exec handler: its answer lines, the
 * environment a program gets, and a program that stops reading. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/timefmt.h"

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

/* True when envp holds exactly the pair. */
static bool env_holds(char **envp, const char *pair)
{
	for (; *envp; envp++)
		if (strcmp(*envp, pair) == 0)
			return true;
	return false;
}

static bool env_names(char **envp, const char *prefix)
{
	for (; *envp; envp++)
		if (strncmp(*envp, prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void set_secrets(void)
{
	setenv("DATABASE_URL", "postgresql://u:secret@db/x", 1);
	setenv("PGPASSWORD", "secret", 1);
	setenv("EVSTORE_JWT_KEY_FILE", "/etc/evstore/key", 1);
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	setenv("HOME", "/home/runner", 1);
	setenv("TZ", "UTC", 1);
	unsetenv("LANG");
}

/* Only PATH, HOME, LANG and TZ come from the runner; env adds and wins. */
START_TEST(environment_allow_list)
{
	char **envp;

	set_secrets();
	setenv("PATH", "/usr/bin:/bin", 1);
	envp = exec_environment("FOO=bar HOME=/srv/h EMPTY=");
	ck_assert_ptr_nonnull(envp);
	ck_assert(env_holds(envp, "FOO=bar"));
	ck_assert(env_holds(envp, "EMPTY="));
	ck_assert(env_holds(envp, "HOME=/srv/h"));
	ck_assert(!env_holds(envp, "HOME=/home/runner"));
	ck_assert(env_holds(envp, "PATH=/usr/bin:/bin"));
	ck_assert(env_holds(envp, "TZ=UTC"));
	ck_assert(!env_names(envp, "LANG="));
	ck_assert(!env_names(envp, "DATABASE_URL="));
	ck_assert(!env_names(envp, "PGPASSWORD="));
	ck_assert(!env_names(envp, "EVSTORE_"));
	ck_assert(!env_names(envp, "NOTIFY_SOCKET="));
	exec_environment_free(envp);
}
END_TEST

/* Without PATH anywhere a program still finds the usual commands. */
START_TEST(environment_default_path)
{
	char **envp;

	unsetenv("PATH");
	envp = exec_environment(NULL);
	ck_assert_ptr_nonnull(envp);
	ck_assert(env_holds(envp, "PATH=/usr/local/bin:/usr/bin:/bin"));
	exec_environment_free(envp);
	setenv("PATH", "/usr/bin:/bin", 1);
}
END_TEST

/* An event of 256 KiB: more than a pipe holds. */
static char *big_event_json(void)
{
	size_t n = 256 * 1024;
	char *json = malloc(n + 64);

	ck_assert_ptr_nonnull(json);
	strcpy(json, "{\"payload\": {\"pad\": \"");
	memset(json + strlen(json), 'x', n);
	strcpy(json + 22 + n, "\"}}");
	return json;
}

/* A program that never reads: the write of a big event runs into the
 * processing timeout instead of blocking the runner for good. */
START_TEST(program_not_reading_times_out)
{
	struct handler_exec *h = handler_exec_new("exec sleep 30", NULL, 300);
	char *json = big_event_json();
	struct event ev = { .json = json, .position = 1, .event_id = "e" };
	struct handler_error err = { "", "" };
	int64_t t0 = time_mono_ms();

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(handler_exec_handle(h, &ev, &err), HANDLER_RETRY);
	ck_assert_msg(time_mono_ms() - t0 < 2000, "took %lld ms", (long long)(time_mono_ms() - t0));
	ck_assert_msg(strstr(err.summary, "processing_timeout") != NULL, "got '%s'", err.summary);
	handler_exec_free(h);
	free(json);
}
END_TEST

static bool abort_now(void *arg)
{
	(void)arg;
	return true;
}

/* The shutdown's abort check ends a stuck write too. */
START_TEST(program_not_reading_aborted)
{
	struct handler_exec *h = handler_exec_new("exec sleep 30", NULL, 60000);
	char *json = big_event_json();
	struct event ev = { .json = json, .position = 1, .event_id = "e" };
	struct handler_error err;

	ck_assert_ptr_nonnull(h);
	handler_exec_set_abort(h, abort_now, NULL);
	ck_assert_int_eq(handler_exec_handle(h, &ev, &err), HANDLER_TRANSIENT);
	handler_exec_free(h);
	free(json);
}
END_TEST

/* The program sees only the allowed environment and the subscription's. */
START_TEST(program_environment)
{
	char dir[256], cmd[512], path[300], buf[4096] = "";
	struct handler_exec *h;
	struct event ev = { .json = "{}", .position = 1, .event_id = "e" };
	struct handler_error err;
	FILE *f;
	size_t n;

	set_secrets();
	test_dir_create(dir, sizeof dir, "check_exec");
	snprintf(path, sizeof path, "%s/env", dir);
	snprintf(cmd, sizeof cmd, "env >'%s'; while read -r l; do echo ok; done", path);
	h = handler_exec_new(cmd, "FOO=bar", 5000);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(handler_exec_handle(h, &ev, &err), HANDLER_OK);
	handler_exec_free(h);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(buf, "FOO=bar\n") != NULL, "env: %s", buf);
	ck_assert_msg(strstr(buf, "HOME=/home/runner\n") != NULL, "env: %s", buf);
	ck_assert_msg(strstr(buf, "secret") == NULL, "env: %s", buf);
	ck_assert_msg(strstr(buf, "EVSTORE_") == NULL, "env: %s", buf);
	ck_assert_msg(strstr(buf, "NOTIFY_SOCKET") == NULL, "env: %s", buf);
	test_dir_remove(dir);
}
END_TEST

/* A program's retry or park message may quote the event: only the DLQ's
 * detail carries it, the summary for the status and the logs does not. */
START_TEST(program_message_only_in_detail)
{
	struct handler_exec *h = handler_exec_new("while read -r l; do echo 'park CARD 4111'; done",
						  NULL, 5000);
	struct event ev = { .json = "{}", .position = 1, .event_id = "e" };
	struct handler_error err;

	ck_assert_int_eq(handler_exec_handle(h, &ev, &err), HANDLER_PARK);
	ck_assert_str_eq(err.detail, "park: CARD 4111");
	ck_assert_str_eq(err.summary, "the handler answered park");
	handler_exec_free(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exec_proto");
	TCase *tc = tcase_create("answers");

	tcase_add_loop_test(tc, answer_accepted, 0, N_ELEMS(good));
	tcase_add_loop_test(tc, answer_refused, 0, N_ELEMS(bad));
	suite_add_tcase(s, tc);
	tc = tcase_create("handler");
	tcase_add_test(tc, environment_allow_list);
	tcase_add_test(tc, environment_default_path);
	tcase_add_test(tc, program_not_reading_times_out);
	tcase_add_test(tc, program_not_reading_aborted);
	tcase_add_test(tc, program_environment);
	tcase_add_test(tc, program_message_only_in_detail);
	suite_add_tcase(s, tc);
	return check_run(s);
}
