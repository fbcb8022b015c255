/* check_park.c - the worker-to-waiter wire: a ticket and its connection
 * cross a SOCK_SEQPACKET socket whole, the descriptor still works on the
 * other side, anything else is refused with its descriptor closed, a full
 * queue or an oversized ticket is "try later" rather than a block, and
 * pokes add up in the eventfd. */
#include "buildconf.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi/park.h"
#include "test_helpers.h"

static void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void sample(struct park_ticket *t)
{
	memset(t, 0, sizeof *t);
	t->fcgi_id = 7;
	t->deadline_ms = 123456789;
	t->started_us = 987654321;
	snprintf(t->request_id, sizeof t->request_id, "req-1");
	snprintf(t->traceparent, sizeof t->traceparent,
		 "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	t->q.tenant = "0b6f1c3e-8f5a-4a43-9c2b-6a1e3f2d4c5b";
	t->q.after.txid = 42;
	t->q.after.position = 17;
	t->q.limit = 100;
	t->q.max_bytes = 4 << 20;
	t->q.aggregate_types = "Order,Invoice";
	t->headers = "Cache-Control: no-store\r\n";
}

START_TEST(test_ticket_round_trip)
{
	int sv[2], p[2], fd = -1;
	struct park_ticket in, out;
	char buf[8];

	pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	sample(&in);
	ck_assert_int_eq(park_send(sv[1], &in, p[1]), ES_OK);
	close(p[1]);
	ck_assert_int_eq(park_recv(sv[0], &out, &fd), PARK_TICKET);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* The descriptor is the same pipe: what goes in comes out. */
	ck_assert_int_eq(write(fd, "hi", 2), 2);
	close(fd);
	ck_assert_int_eq(read(p[0], buf, sizeof buf), 2);
	ck_assert_int_eq(out.fcgi_id, 7);
	ck_assert_int_eq(out.deadline_ms, 123456789);
	ck_assert_int_eq(out.started_us, 987654321);
	ck_assert_str_eq(out.request_id, "req-1");
	ck_assert_str_eq(out.traceparent, in.traceparent);
	ck_assert_str_eq(out.q.tenant, in.q.tenant);
	ck_assert(!out.q.all_tenants);
	ck_assert_uint_eq(out.q.after.txid, 42);
	ck_assert_int_eq(out.q.after.position, 17);
	ck_assert_int_eq(out.q.limit, 100);
	ck_assert_int_eq(out.q.max_bytes, 4 << 20);
	ck_assert_str_eq(out.q.aggregate_types, "Order,Invoice");
	ck_assert_ptr_null(out.q.event_types);
	ck_assert_str_eq(out.headers, "Cache-Control: no-store\r\n");
	ck_assert(park_same_query(&in, &out));
	park_ticket_free(&out);
	ck_assert_int_eq(park_recv(sv[0], &out, &fd), PARK_NONE);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_no_tenant_all_tenants)
{
	int sv[2], p[2], fd;
	struct park_ticket in, out;

	pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	sample(&in);
	in.q.tenant = NULL;
	in.q.all_tenants = true;
	in.q.aggregate_types = NULL;
	in.traceparent[0] = '\0';
	in.headers = NULL;
	ck_assert_int_eq(park_send(sv[1], &in, p[1]), ES_OK);
	ck_assert_int_eq(park_recv(sv[0], &out, &fd), PARK_TICKET);
	ck_assert_ptr_null(out.q.tenant);
	ck_assert(out.q.all_tenants);
	ck_assert_ptr_null(out.q.aggregate_types);
	ck_assert_ptr_null(out.headers);
	ck_assert_str_eq(out.traceparent, "");
	park_ticket_free(&out);
	close(fd);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* What is not a ticket: no descriptor, not JSON, a field missing or out
 * of range. */
static const char *const bad[] = {
	"{}",
	"not json",
	"{\"id\":0,\"deadline_ms\":1,\"started_us\":1,\"limit\":1,\"max_bytes\":0,"
	"\"request_id\":\"r\",\"after\":\"\",\"all_tenants\":false}",
	"{\"id\":1,\"deadline_ms\":1,\"started_us\":1,\"limit\":0,\"max_bytes\":0,"
	"\"request_id\":\"r\",\"after\":\"\",\"all_tenants\":false}",
	"{\"id\":1,\"deadline_ms\":1,\"started_us\":1,\"limit\":1,\"max_bytes\":0,"
	"\"request_id\":\"r\",\"after\":\"zz\",\"all_tenants\":false}",
	"{\"id\":1,\"deadline_ms\":1,\"started_us\":1,\"limit\":1,\"max_bytes\":0,"
	"\"request_id\":\"r\",\"after\":\"\",\"all_tenants\":\"yes\"}",
	"{\"id\":1,\"deadline_ms\":1,\"started_us\":1,\"limit\":1,\"max_bytes\":0,"
	"\"request_id\":\"r\",\"after\":\"\",\"all_tenants\":false,\"tenant\":"
	"\"0123456789012345678901234567890123456789\"}",
};

START_TEST(test_bad_message)
{
	int sv[2], p[2], fd = 99;
	struct park_ticket out;
	struct msghdr msg;
	struct iovec iov = { (void *)bad[_i], strlen(bad[_i]) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct cmsghdr *cm;
	char c;

	pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof control.buf;
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
	ck_assert_int_eq(sendmsg(sv[1], &msg, 0), (ssize_t)iov.iov_len);
	close(p[1]);
	ck_assert_int_eq(park_recv(sv[0], &out, &fd), PARK_BAD);
	ck_assert_int_eq(fd, -1);
	/* The passed descriptor was closed: the pipe's last writer is gone. */
	ck_assert_int_eq(read(p[0], &c, 1), 0);
	/* A message without a descriptor is no ticket either. */
	ck_assert_int_eq(send(sv[1], "{}", 2, 0), 2);
	ck_assert_int_eq(park_recv(sv[0], &out, &fd), PARK_BAD);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_too_big_and_full)
{
	int sv[2], p[2], sent = 0;
	struct park_ticket t;
	char *big = malloc(PARK_TICKET_MAX + 10);
	enum es_status st;

	ck_assert_ptr_nonnull(big);
	memset(big, 'A', PARK_TICKET_MAX + 9);
	big[PARK_TICKET_MAX + 9] = '\0';
	pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	sample(&t);
	t.q.event_types = big;
	ck_assert_int_eq(park_send(sv[1], &t, p[1]), ES_ERETRY);
	t.q.event_types = NULL;
	/* Nobody reads: the queue fills and sending says so instead of blocking. */
	while ((st = park_send(sv[1], &t, p[1])) == ES_OK && sent < 100000)
		sent++;
	ck_assert_int_eq(st, ES_ERETRY);
	ck_assert_int_gt(sent, 0);
	close(sv[0]);
	ck_assert_int_eq(park_send(sv[1], &t, p[1]), ES_EUNAVAILABLE);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	free(big);
}
END_TEST

START_TEST(test_pokes)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	ck_assert_int_ge(efd, 0);
	ck_assert(!park_take_pokes(efd));
	park_poke(efd);
	park_poke(efd);
	ck_assert(park_take_pokes(efd));
	ck_assert(!park_take_pokes(efd));
	close(efd);
}
END_TEST

START_TEST(test_same_query)
{
	struct park_ticket a, b;

	sample(&a);
	sample(&b);
	/* The answer's own fields do not matter. */
	b.fcgi_id = 9;
	b.deadline_ms = 1;
	snprintf(b.request_id, sizeof b.request_id, "other");
	ck_assert(park_same_query(&a, &b));
	b.q.after.position = 18;
	ck_assert(!park_same_query(&a, &b));
	sample(&b);
	b.q.tenant = NULL;
	ck_assert(!park_same_query(&a, &b));
	sample(&b);
	b.q.aggregate_types = "Order";
	ck_assert(!park_same_query(&a, &b));
	sample(&b);
	b.q.event_types = "Shipped";
	ck_assert(!park_same_query(&a, &b));
	sample(&b);
	b.q.limit = 5;
	ck_assert(!park_same_query(&a, &b));
	sample(&b);
	b.q.all_tenants = true;
	ck_assert(!park_same_query(&a, &b));
}
END_TEST

static Suite *park_suite(void)
{
	Suite *s = suite_create("park");
	TCase *tc = tcase_create("wire");

	tcase_add_test(tc, test_ticket_round_trip);
	tcase_add_test(tc, test_no_tenant_all_tenants);
	tcase_add_loop_test(tc, test_bad_message, 0, (int)(sizeof bad / sizeof bad[0]));
	tcase_add_test(tc, test_too_big_and_full);
	tcase_add_test(tc, test_pokes);
	tcase_add_test(tc, test_same_query);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(park_suite());
}
