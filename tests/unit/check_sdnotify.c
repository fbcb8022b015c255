/* check_sdnotify.c - sd_notify without libsystemd: the state arrives as
 * one datagram on a real socket, named by a path or an abstract name; no
 * socket is silence; WATCHDOG_USEC counts only when it is for us. */
#include "buildconf.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/sdnotify.h"
#include "test_helpers.h"

/* A datagram socket bound where NOTIFY_SOCKET says, as systemd holds one. */
struct listener {
	int fd;
	char dir[256];
	char name[300];      /* NOTIFY_SOCKET's value */
};

/* Binds a listener: under a fresh directory, or abstract ("@...") when
 * abstract is true, and points NOTIFY_SOCKET at it. */
static void listener_open(struct listener *l, bool abstract)
{
	struct sockaddr_un sa;
	struct timeval tv = { 5, 0 };
	socklen_t len;

	memset(l, 0, sizeof *l);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (abstract) {
		snprintf(l->name, sizeof l->name, "@evstore-check-sdnotify-%ld-%d", (long)getpid(), rand());
		memcpy(sa.sun_path, l->name, strlen(l->name));
		sa.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(l->name));
	} else {
		test_dir_create(l->dir, sizeof l->dir, "check_sdnotify");
		snprintf(l->name, sizeof l->name, "%s/notify", l->dir);
		ck_assert_uint_lt(strlen(l->name), sizeof sa.sun_path);
		memcpy(sa.sun_path, l->name, strlen(l->name) + 1);
		len = sizeof sa;
	}
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l->fd, 0);
	ck_assert_msg(bind(l->fd, (struct sockaddr *)&sa, len) == 0, "bind %s: %s", l->name,
		      strerror(errno));
	/* A missing datagram fails the test instead of hanging it. */
	ck_assert_int_eq(setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", l->name, 1), 0);
}

/* The next datagram, as a string. */
static void listener_recv(struct listener *l, char *buf, size_t len)
{
	ssize_t n = recv(l->fd, buf, len - 1, 0);

	ck_assert_msg(n >= 0, "no datagram: %s", strerror(errno));
	buf[n] = '\0';
}

static void listener_close(struct listener *l)
{
	close(l->fd);
	if (l->dir[0])
		test_dir_remove(l->dir);
	unsetenv("NOTIFY_SOCKET");
}

/* The states a daemon sends, each arriving whole in one datagram. */
static const char *const states[] = {
	"READY=1",
	"RELOADING=1\nMONOTONIC_USEC=123456",
	"STATUS=ready: 0/2 workers busy, 17 requests served",
	"STOPPING=1\nSTATUS=draining",
	"WATCHDOG=1",
};

static void send_and_receive(bool abstract, int i)
{
	struct listener l;
	char got[512];

	listener_open(&l, abstract);
	ck_assert_int_eq(sdnotify_send(states[i]), 1);
	listener_recv(&l, got, sizeof got);
	ck_assert_str_eq(got, states[i]);
	listener_close(&l);
}

START_TEST(test_path_socket)
{
	send_and_receive(false, _i);
}
END_TEST

START_TEST(test_abstract_socket)
{
	send_and_receive(true, _i);
}
END_TEST

START_TEST(test_sendf)
{
	struct listener l;
	char got[512];

	listener_open(&l, false);
	ck_assert_int_eq(sdnotify_sendf("STATUS=%d/%d workers busy, %llu requests served", 1, 4, 42ULL), 1);
	listener_recv(&l, got, sizeof got);
	ck_assert_str_eq(got, "STATUS=1/4 workers busy, 42 requests served");
	listener_close(&l);
}
END_TEST

/* Two sends are two datagrams, in order: nothing is merged or lost. */
START_TEST(test_in_order)
{
	struct listener l;
	char got[512];

	listener_open(&l, true);
	ck_assert_int_eq(sdnotify_send("RELOADING=1"), 1);
	ck_assert_int_eq(sdnotify_send("READY=1"), 1);
	listener_recv(&l, got, sizeof got);
	ck_assert_str_eq(got, "RELOADING=1");
	listener_recv(&l, got, sizeof got);
	ck_assert_str_eq(got, "READY=1");
	listener_close(&l);
}
END_TEST

START_TEST(test_no_socket_is_silence)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(sdnotify_send("READY=1"), 0);
	ck_assert_int_eq(sdnotify_sendf("STATUS=%s", "x"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	ck_assert_int_eq(sdnotify_send("READY=1"), 0);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

/* NOTIFY_SOCKET values that cannot be sent to: an error, not a crash. */
static const char *const bad_sockets[] = {
	"relative/path",
	"@",
	"/nonexistent-evstore-dir/notify",
	"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

START_TEST(test_bad_socket)
{
	setenv("NOTIFY_SOCKET", bad_sockets[_i], 1);
	ck_assert_int_eq(sdnotify_send("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_unset_environment)
{
	struct listener l;

	listener_open(&l, false);
	setenv("WATCHDOG_USEC", "1000000", 1);
	sdnotify_unset_environment();
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_int_eq(sdnotify_send("READY=1"), 0);
	ck_assert_uint_eq(sdnotify_watchdog_usec(), 0);
	listener_close(&l);
}
END_TEST

/* WATCHDOG_USEC and WATCHDOG_PID ("self" stands for our pid). */
static const struct {
	const char *usec, *pid;
	uint64_t want;
} watchdogs[] = {
	{ NULL, NULL, 0 },
	{ "", NULL, 0 },
	{ "30000000", NULL, 30000000 },
	{ "30000000", "self", 30000000 },
	{ "30000000", "1", 0 },           /* meant for another process */
	{ "30000000", "x", 0 },
	{ "0", NULL, 0 },
	{ "-5", NULL, 0 },
	{ "12abc", NULL, 0 },
	{ "99999999999999999999999", NULL, 0 },
};

START_TEST(test_watchdog_usec)
{
	char self[24];

	snprintf(self, sizeof self, "%ld", (long)getpid());
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (watchdogs[_i].usec)
		setenv("WATCHDOG_USEC", watchdogs[_i].usec, 1);
	if (watchdogs[_i].pid)
		setenv("WATCHDOG_PID", strcmp(watchdogs[_i].pid, "self") == 0 ? self : watchdogs[_i].pid, 1);
	ck_assert_uint_eq(sdnotify_watchdog_usec(), watchdogs[_i].want);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}
END_TEST

static Suite *sdnotify_suite(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *tc = tcase_create("notify");
	TCase *wd = tcase_create("watchdog");

	tcase_add_loop_test(tc, test_path_socket, 0, (int)N_ELEMS(states));
	tcase_add_loop_test(tc, test_abstract_socket, 0, (int)N_ELEMS(states));
	tcase_add_test(tc, test_sendf);
	tcase_add_test(tc, test_in_order);
	tcase_add_test(tc, test_no_socket_is_silence);
	tcase_add_loop_test(tc, test_bad_socket, 0, (int)N_ELEMS(bad_sockets));
	tcase_add_test(tc, test_unset_environment);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(wd, test_watchdog_usec, 0, (int)N_ELEMS(watchdogs));
	suite_add_tcase(s, wd);
	return s;
}

int main(void)
{
	return check_run(sdnotify_suite());
}
