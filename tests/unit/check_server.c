/* check_server.c - the unix socket --listen creates: its final mode, a
 * stale socket replaced, a live one refused, and no moment at which the
 * file is open to others before its mode is set.
 *
 * chmod() is interposed (this program's definition wins over libc's for
 * server.c too) so the test sees the socket file as bind() made it, just
 * before server_listen gives it --socket-mode. */
#include "buildconf.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fcgi/server.h"
#include "test_helpers.h"

static mode_t mode_before_chmod; /* the file's permissions when chmod() came */
static bool chmod_called;

int chmod(const char *path, mode_t mode)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		mode_before_chmod = st.st_mode & 07777;
		chmod_called = true;
	}
	return fchmodat(AT_FDCWD, path, mode, 0);
}

static char dir[256];
static char sock_path[300];

static void setup(void)
{
	test_dir_create(dir, sizeof dir, "check_server");
	snprintf(sock_path, sizeof sock_path, "%s/fcgi.sock", dir);
	chmod_called = false;
}

static void teardown(void)
{
	test_dir_remove(dir);
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Even started with umask 0, the socket is never connectable by group or
 * others before it gets its mode: the window a local user could use to
 * connect to (and speak FastCGI at) a socket meant to be 0600. */
START_TEST(socket_born_owner_only)
{
	char err[256];
	mode_t old = umask(0);
	int fd = server_listen(sock_path, 0600, err, sizeof err);

	umask(old);
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert(chmod_called);
	ck_assert_msg((mode_before_chmod & 077) == 0, "the socket was born with mode %04o",
		      (unsigned)mode_before_chmod);
	ck_assert_uint_eq(file_mode(sock_path), 0600);
	close(fd);
}
END_TEST

/* The process's own umask is left as it was. */
START_TEST(umask_restored)
{
	char err[256];
	mode_t old = umask(022), now;
	int fd = server_listen(sock_path, 0660, err, sizeof err);

	now = umask(old);
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_uint_eq(now, 022);
	ck_assert_uint_eq(file_mode(sock_path), 0660);
	close(fd);
}
END_TEST

START_TEST(live_socket_refused_stale_replaced)
{
	char err[256];
	int fd = server_listen(sock_path, 0600, err, sizeof err), again;

	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_lt(server_listen(sock_path, 0600, err, sizeof err), 0);
	ck_assert_ptr_nonnull(strstr(err, "another process is listening"));
	close(fd); /* the file stays, nobody answers: stale */
	again = server_listen(sock_path, 0600, err, sizeof err);
	ck_assert_msg(again >= 0, "%s", err);
	close(again);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("listen_unix");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, socket_born_owner_only);
	tcase_add_test(tc, umask_restored);
	tcase_add_test(tc, live_socket_refused_stale_replaced);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(server_suite());
}
