/* check_log.c - log: one JSON object per line, levels, the audit
 * channel, configuration it must reject, and the syslog socket. */
#include "buildconf.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "base/config.h"
#include "base/log.h"
#include "base/timefmt.h"
#include "test_helpers.h"

static char log_dir[256];
static char log_path[300];
static int saved_stderr = -1;

/* Sends stderr to a file in a fresh temporary directory. */
static void capture_stderr(void)
{
	int fd;

	test_dir_create(log_dir, sizeof(log_dir), "evstore-log");
	snprintf(log_path, sizeof(log_path), "%s/stderr", log_dir);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Restores stderr and returns what was written (malloc), cleaning up. */
static char *captured(void)
{
	FILE *f;
	char *text;
	long n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	f = fopen(log_path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)n, f), n);
	fclose(f);
	test_dir_remove(log_dir);
	return text;
}

/* The keys of a one-line JSON object, in order, joined by ','. */
static void key_order(const char *line, char *out, size_t len)
{
	json_object *o = json_tokener_parse(line);
	size_t used = 0;

	ck_assert_msg(json_object_is_type(o, json_type_object), "not a JSON object: %s", line);
	out[0] = '\0';
	json_object_object_foreach(o, k, v) {
		(void)v;
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "", k);
	}
	json_object_put(o);
}

static void open_stderr_log(const char *level)
{
	struct es_config cfg;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)"stderr";
	cfg.log.level = (char *)level;
	cfg.log.facility = (char *)"daemon";
	cfg.log.audit_facility = (char *)"local5";
	ck_assert_msg(log_open("evstore-test", &cfg.log, err, sizeof(err)), "%s", err);
}

START_TEST(log_before_open_goes_to_stderr)
{
	char *text, keys[256];
	json_object *o, *v;

	capture_stderr();
	log_kv(LOG_INFO, "started", "path", "/v1/events", "skipped", NULL, "req_id", "r1",
	       (char *)NULL);
	log_kv(LOG_DEBUG, "too_chatty", "x", "1", (char *)NULL);
	text = captured();

	ck_assert_ptr_null(strstr(text, "too_chatty")); /* info by default */
	ck_assert_ptr_nonnull(strchr(text, '\n'));
	ck_assert_ptr_null(strchr(strchr(text, '\n') + 1, '\n')); /* exactly one line */
	ck_assert_ptr_nonnull(strstr(text, "\"/v1/events\"")); /* no \/ escaping */
	key_order(text, keys, sizeof(keys));
	ck_assert_str_eq(keys, "event,level,ts,path,req_id");
	o = json_tokener_parse(text);
	ck_assert(json_object_object_get_ex(o, "ts", &v));
	ck_assert(timefmt_parse(json_object_get_string(v), &(int64_t){ 0 }));
	json_object_put(o);
	free(text);
}
END_TEST

START_TEST(log_json_fields_and_level)
{
	json_object *f = json_object_new_object();
	char *text, keys[256], *line2;

	open_stderr_log("warning");
	json_object_object_add(f, "status", json_object_new_int(503));
	json_object_object_add(f, "event", json_object_new_string("spoofed"));
	json_object_object_add(f, "dur_ms", json_object_new_double(1.5));
	capture_stderr();
	log_json(LOG_WARNING, "db_unavailable", f);
	log_json(LOG_INFO, "dropped", json_object_new_object()); /* below the level */
	log_kv(LOG_ERR, "failed", "why", "line1\nline2", (char *)NULL);
	text = captured();
	log_close();

	ck_assert_ptr_null(strstr(text, "dropped"));
	ck_assert_ptr_null(strstr(text, "spoofed"));
	key_order(text, keys, sizeof(keys));
	ck_assert_str_eq(keys, "event,level,ts,status,dur_ms");
	ck_assert_ptr_nonnull(strstr(text, "\"event\":\"db_unavailable\",\"level\":\"warning\""));
	line2 = strchr(text, '\n') + 1;
	ck_assert_ptr_nonnull(strstr(line2, "\"event\":\"failed\",\"level\":\"error\""));
	ck_assert_ptr_nonnull(strstr(line2, "line1\\nline2")); /* a newline stays escaped */
	ck_assert_str_eq(strchr(line2, '\n'), "\n");
	free(text);
}
END_TEST

START_TEST(log_enabled_follows_level)
{
	open_stderr_log("debug");
	ck_assert(log_enabled(LOG_DEBUG));
	open_stderr_log("error");
	ck_assert(!log_enabled(LOG_WARNING));
	ck_assert(log_enabled(LOG_ERR));
	ck_assert(log_enabled(LOG_CRIT));
	log_close();
	ck_assert(log_enabled(LOG_INFO));
	ck_assert(!log_enabled(LOG_DEBUG));
}
END_TEST

START_TEST(log_audit_ignores_level)
{
	json_object *rec = json_object_new_object();
	char *text;

	open_stderr_log("error");
	json_object_object_add(rec, "audit_type", json_object_new_string("event_committed"));
	json_object_object_add(rec, "actor_id", json_object_new_string("user/1"));
	capture_stderr();
	log_audit(rec);
	text = captured();
	log_close();
	ck_assert_str_eq(text, "{\"audit_type\":\"event_committed\",\"actor_id\":\"user/1\"}\n");
	free(text);
}
END_TEST

static const struct { const char *target, *level, *facility, *audit, *what; } log_bad[] = {
	{ "file", "info", "daemon", "local5", "target" },
	{ "stderr", "verbose", "daemon", "local5", "level" },
	{ "stderr", "info", "local8", "local5", "facility" },
	{ "stderr", "info", "daemon", "nope", "audit_facility" },
};

START_TEST(log_open_rejects)
{
	struct es_config cfg;
	char err[256] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)log_bad[_i].target;
	cfg.log.level = (char *)log_bad[_i].level;
	cfg.log.facility = (char *)log_bad[_i].facility;
	cfg.log.audit_facility = (char *)log_bad[_i].audit;
	ck_assert(!log_open("evstore-test", &cfg.log, err, sizeof(err)));
	ck_assert_msg(strstr(err, log_bad[_i].what) != NULL, "message '%s'", err);
}
END_TEST

static const struct { const char *name; int value; } facility_names[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER }, { "local0", LOG_LOCAL0 },
	{ "local5", LOG_LOCAL5 }, { "LOCAL7", LOG_LOCAL7 }, { "authpriv", LOG_AUTHPRIV },
	{ "local8", -1 }, { "", -1 }, { "daemon ", -1 },
};

START_TEST(log_facility_names)
{
	ck_assert_int_eq(log_facility_from_name(facility_names[_i].name), facility_names[_i].value);
}
END_TEST

static const struct {
	int pri;
	int mon, mday, hour, min, sec;
	const char *ident;
	long pid;
	const char *want;
} rfc3164_headers[] = {
	{ LOG_DAEMON | LOG_INFO, 0, 5, 7, 8, 9, "evstore-fcgi", 42,
	  "<30>Jan  5 07:08:09 evstore-fcgi[42]: " },
	{ LOG_LOCAL5 | LOG_INFO, 11, 31, 23, 59, 60, "evstore-runner-audit", 4194304,
	  "<174>Dec 31 23:59:60 evstore-runner-audit[4194304]: " },
	{ LOG_KERN | LOG_EMERG, 6, 14, 0, 0, 0, "x", 1, "<0>Jul 14 00:00:00 x[1]: " },
	{ LOG_LOCAL7 | LOG_DEBUG, 8, 10, 12, 3, 4, "evstorectl", 7,
	  "<191>Sep 10 12:03:04 evstorectl[7]: " },
};

START_TEST(log_rfc3164_header)
{
	struct tm tm = { 0 };
	char buf[128], small[8];
	size_t n;

	tm.tm_mon = rfc3164_headers[_i].mon;
	tm.tm_mday = rfc3164_headers[_i].mday;
	tm.tm_hour = rfc3164_headers[_i].hour;
	tm.tm_min = rfc3164_headers[_i].min;
	tm.tm_sec = rfc3164_headers[_i].sec;
	n = log_format_rfc3164(buf, sizeof(buf), rfc3164_headers[_i].pri, &tm,
			       rfc3164_headers[_i].ident, rfc3164_headers[_i].pid);
	ck_assert_str_eq(buf, rfc3164_headers[_i].want);
	ck_assert_uint_eq(n, strlen(rfc3164_headers[_i].want));
	/* Too small a buffer: cut and terminated, the full length returned. */
	n = log_format_rfc3164(small, sizeof(small), rfc3164_headers[_i].pri, &tm,
			       rfc3164_headers[_i].ident, rfc3164_headers[_i].pid);
	ck_assert_uint_eq(n, strlen(rfc3164_headers[_i].want));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

static const struct { const char *target, *socket, *what; } log_bad_socket[] = {
	{ "syslog", "relative/log.sock", "not an absolute path" },
	{ "stderr", "log.sock", "not an absolute path" },
	{ "syslog", "/a/path/much/longer/than/the/one/hundred/and/eight/bytes/that/a/unix/"
		    "socket/address/can/hold/in/its/sun_path/field/on/linux/log.sock", "longer than" },
};

START_TEST(log_open_rejects_socket)
{
	struct es_config cfg;
	char err[256] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)log_bad_socket[_i].target;
	cfg.log.socket = (char *)log_bad_socket[_i].socket;
	ck_assert(!log_open("evstore-test", &cfg.log, err, sizeof(err)));
	ck_assert_msg(strstr(err, "[log] socket") && strstr(err, log_bad_socket[_i].what),
		      "message '%s'", err);
}
END_TEST

static char sock_dir[256];
static char sock_path[300];

/* A datagram socket bound at sock_path (in a fresh directory the first
 * time), standing in for the syslog daemon. The caller closes it. */
static int daemon_bind(void)
{
	struct sockaddr_un addr;
	int fd;

	if (!sock_dir[0]) {
		test_dir_create(sock_dir, sizeof(sock_dir), "evstore-sock");
		snprintf(sock_path, sizeof(sock_path), "%s/log.sock", sock_dir);
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(sock_path), sizeof(addr.sun_path));
	strcpy(addr.sun_path, sock_path);
	unlink(sock_path);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

static void daemon_gone(int fd)
{
	close(fd);
	unlink(sock_path);
}

/* The next datagram waiting on fd, as text; "" when there is none. */
static const char *daemon_next(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* True when a datagram is "<pri>Mmm dd hh:mm:ss " followed by rest. */
static bool datagram_is(const char *got, int pri, const char *rest)
{
	char head[16];
	int n = snprintf(head, sizeof(head), "<%d>", pri);

	return strncmp(got, head, (size_t)n) == 0 && strlen(got) > (size_t)n + 16 &&
	       got[n + 3] == ' ' && got[n + 15] == ' ' && strcmp(got + n + 16, rest) == 0;
}

static void open_socket_log(void)
{
	struct es_config cfg;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)"syslog";
	cfg.log.level = (char *)"info";
	cfg.log.facility = (char *)"daemon";
	cfg.log.audit_facility = (char *)"local5";
	cfg.log.socket = sock_path;
	ck_assert_msg(log_open("evstore-test", &cfg.log, err, sizeof(err)), "%s", err);
}

START_TEST(log_socket_datagrams)
{
	char buf[4096], want[256];
	json_object *rec;
	unsigned long before;
	int fd = daemon_bind();

	open_socket_log();
	log_kv(LOG_WARNING, "db_unavailable", "why", "gone/away", (char *)NULL);
	rec = json_object_new_object();
	json_object_object_add(rec, "audit_type", json_object_new_string("event_committed"));
	ck_assert_int_eq(log_audit(rec), LOG_DELIVERED);
	log_kv(LOG_DEBUG, "too_chatty", (char *)NULL);

	snprintf(want, sizeof(want), "evstore-test[%ld]: {\"event\":\"db_unavailable\","
		 "\"level\":\"warning\",\"why\":\"gone/away\"}", (long)getpid());
	daemon_next(fd, buf, sizeof(buf));
	ck_assert_msg(datagram_is(buf, LOG_DAEMON | LOG_WARNING, want), "got '%s'", buf);
	snprintf(want, sizeof(want), "evstore-test-audit[%ld]: {\"audit_type\":\"event_committed\"}",
		 (long)getpid());
	daemon_next(fd, buf, sizeof(buf));
	ck_assert_msg(datagram_is(buf, LOG_LOCAL5 | LOG_INFO, want), "got '%s'", buf);
	ck_assert_str_eq(daemon_next(fd, buf, sizeof(buf)), "");

	/* The daemon goes away: records are dropped and counted, nothing fails. */
	daemon_gone(fd);
	before = log_dropped();
	log_kv(LOG_ERR, "lost", (char *)NULL);
	ck_assert_int_eq(log_audit(json_object_new_object()), LOG_DROPPED);
	ck_assert_uint_eq(log_dropped(), before + 2);

	/* It comes back at the same path: the next record arrives, then the count. */
	fd = daemon_bind();
	log_kv(LOG_INFO, "back", (char *)NULL);
	ck_assert_ptr_nonnull(strstr(daemon_next(fd, buf, sizeof(buf)), "{\"event\":\"back\""));
	snprintf(want, sizeof(want), "evstore-test[%ld]: {\"event\":\"log_records_dropped\","
		 "\"level\":\"warning\",\"count\":2}", (long)getpid());
	daemon_next(fd, buf, sizeof(buf));
	ck_assert_msg(datagram_is(buf, LOG_DAEMON | LOG_WARNING, want), "got '%s'", buf);
	log_close();
	daemon_gone(fd);
	test_dir_remove(sock_dir);
}
END_TEST

/* A daemon that stops reading costs a bounded wait, then records are
 * dropped at once (the test's own timeout would catch a process stuck
 * once per record); when it reads again the records flow again. */
START_TEST(log_socket_full_drops)
{
	char buf[4096], want[128];
	unsigned long dropped;
	int fd = daemon_bind(), drained = 0;

	open_socket_log();
	for (int i = 0; i < 3000; i++)
		log_kv(LOG_INFO, "burst", (char *)NULL);
	dropped = log_dropped();
	ck_assert_uint_gt(dropped, 0);
	while (*daemon_next(fd, buf, sizeof(buf)))
		drained++;
	ck_assert_uint_eq((unsigned long)drained + dropped, 3000);
	log_kv(LOG_INFO, "flowing", (char *)NULL);
	ck_assert_ptr_nonnull(strstr(daemon_next(fd, buf, sizeof(buf)), "{\"event\":\"flowing\""));
	snprintf(want, sizeof(want), "\"count\":%lu}", dropped);
	ck_assert_ptr_nonnull(strstr(daemon_next(fd, buf, sizeof(buf)), want));
	log_close();
	daemon_gone(fd);
	test_dir_remove(sock_dir);
}
END_TEST

/* A record larger than one datagram can carry is never going to be taken:
 * LOG_TOO_BIG, not LOG_DROPPED, so nobody retries it for ever. */
START_TEST(log_socket_too_big)
{
	char buf[4096];
	size_t n = 1024 * 1024;
	char *big = malloc(n + 1);
	json_object *rec = json_object_new_object();
	int fd = daemon_bind();

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', n);
	big[n] = '\0';
	json_object_object_add(rec, "request_id", json_object_new_string(big));
	open_socket_log();
	ck_assert_int_eq(log_audit(rec), LOG_TOO_BIG);
	rec = json_object_new_object();
	json_object_object_add(rec, "audit_type", json_object_new_string("small"));
	ck_assert_int_eq(log_audit(rec), LOG_DELIVERED);
	ck_assert_ptr_nonnull(strstr(daemon_next(fd, buf, sizeof(buf)), "\"small\""));
	log_close();
	daemon_gone(fd);
	test_dir_remove(sock_dir);
	free(big);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("records");

	tcase_add_test(tc, log_before_open_goes_to_stderr);
	tcase_add_test(tc, log_json_fields_and_level);
	tcase_add_test(tc, log_enabled_follows_level);
	tcase_add_test(tc, log_audit_ignores_level);
	tcase_add_loop_test(tc, log_open_rejects, 0, N_ELEMS(log_bad));
	tcase_add_loop_test(tc, log_facility_names, 0, N_ELEMS(facility_names));
	tcase_add_loop_test(tc, log_rfc3164_header, 0, N_ELEMS(rfc3164_headers));
	tcase_add_loop_test(tc, log_open_rejects_socket, 0, N_ELEMS(log_bad_socket));
	tcase_add_test(tc, log_socket_datagrams);
	tcase_add_test(tc, log_socket_full_drops);
	tcase_add_test(tc, log_socket_too_big);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(log_suite());
}
