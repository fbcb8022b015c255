/* check_fdio.c - fdio_write_all: every byte arrives, across the pipe
 * buffer's size, and a reader that is gone is a failure, not a hang. */
#include "buildconf.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fdio.h"
#include "test_helpers.h"

struct drain {
	int fd;
	char *buf;
	size_t len;
};

/* Reads fd to its end into a new buffer. */
static void *drain_run(void *arg)
{
	struct drain *d = arg;
	size_t cap = 1 << 16;
	ssize_t n;

	d->buf = malloc(cap);
	d->len = 0;
	while (d->buf) {
		if (d->len == cap) {
			char *grown = realloc(d->buf, cap * 2);
			if (!grown)
				break;
			d->buf = grown;
			cap *= 2;
		}
		n = read(d->fd, d->buf + d->len, cap - d->len);
		if (n <= 0)
			break;
		d->len += (size_t)n;
	}
	return NULL;
}

/* Far more than a pipe holds, so write(2) blocks and returns short. */
static const size_t sizes[] = { 0, 1, 4096, 1 << 20 };

START_TEST(test_write_all)
{
	size_t len = sizes[_i];
	char *data = malloc(len + 1);
	struct drain d;
	pthread_t t;
	int p[2];

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	ck_assert_int_eq(pipe(p), 0);
	d.fd = p[0];
	ck_assert_int_eq(pthread_create(&t, NULL, drain_run, &d), 0);
	ck_assert(fdio_write_all(p[1], data, len));
	close(p[1]);
	pthread_join(t, NULL);
	ck_assert_ptr_nonnull(d.buf);
	ck_assert_uint_eq(d.len, len);
	ck_assert(memcmp(d.buf, data, len) == 0);
	close(p[0]);
	free(d.buf);
	free(data);
}
END_TEST

START_TEST(test_reader_gone)
{
	int p[2];

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	ck_assert(!fdio_write_all(p[1], "x", 1));
	close(p[1]);
	ck_assert(!fdio_write_all(-1, "x", 1));
}
END_TEST

static Suite *fdio_suite(void)
{
	Suite *s = suite_create("fdio");
	TCase *tc = tcase_create("write_all");

	tcase_add_loop_test(tc, test_write_all, 0, (int)(sizeof sizes / sizeof sizes[0]));
	tcase_add_test(tc, test_reader_gone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(fdio_suite());
}
