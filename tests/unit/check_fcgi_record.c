/* check_fcgi_record.c - the FastCGI records the waiter writes: read back
 * record by record as a web server would, the content is the response,
 * every record is 8-byte aligned, and the request ends with an empty
 * FCGI_STDOUT and FCGI_END_REQUEST(app status, REQUEST_COMPLETE). */
#include "buildconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "fcgi/fcgi_record.h"
#include "test_helpers.h"

struct parsed {
	struct sbuf stdout_data;
	int stdout_records, empty_stdout, end_requests;
	unsigned char end_body[8];
	bool misaligned, wrong_id, after_end;
};

/* Walks the records of buf as a web server reads them. */
static void parse(const struct sbuf *buf, uint16_t id, struct parsed *p)
{
	size_t off = 0;

	memset(p, 0, sizeof *p);
	while (off + 8 <= buf->len) {
		const unsigned char *h = (const unsigned char *)buf->data + off;
		size_t len = (size_t)h[4] << 8 | h[5], pad = h[6];

		ck_assert_int_eq(h[0], 1);
		ck_assert_uint_le(off + 8 + len + pad, buf->len);
		if ((8 + len + pad) % 8)
			p->misaligned = true;
		if (((uint16_t)(h[2] << 8 | h[3])) != id)
			p->wrong_id = true;
		if (p->end_requests)
			p->after_end = true;
		if (h[1] == 6) {
			if (len == 0)
				p->empty_stdout++;
			else
				p->stdout_records++;
			sbuf_append(&p->stdout_data, h + 8, len);
		} else if (h[1] == 3) {
			ck_assert_uint_eq(len, 8);
			memcpy(p->end_body, h + 8, 8);
			p->end_requests++;
		} else {
			ck_abort_msg("unexpected record type %d", h[1]);
		}
		off += 8 + len + pad;
	}
	ck_assert_uint_eq(off, buf->len);
}

static const size_t sizes[] = { 1, 7, 8, 9, 1000, 65527, 65528, 65529, 65535, 65536, 200000, 1 << 20 };

START_TEST(test_response_round_trip)
{
	size_t n = sizes[_i];
	char *data = malloc(n);
	struct sbuf out = SBUF_INIT;
	struct parsed p;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	/* Written in two pieces, as http_resp_write may. */
	fcgi_record_stdout(&out, 513, data, n / 3);
	fcgi_record_stdout(&out, 513, data + n / 3, n - n / 3);
	fcgi_record_end(&out, 513, 0);
	ck_assert(!out.failed);
	parse(&out, 513, &p);
	ck_assert_uint_eq(p.stdout_data.len, n);
	ck_assert(memcmp(p.stdout_data.data, data, n) == 0);
	ck_assert_int_eq(p.empty_stdout, 1);
	ck_assert_int_eq(p.end_requests, 1);
	ck_assert(!p.misaligned);
	ck_assert(!p.wrong_id);
	ck_assert(!p.after_end);
	ck_assert_int_ge(p.stdout_records, (int)((n + FCGI_RECORD_CONTENT_MAX - 1) / FCGI_RECORD_CONTENT_MAX));
	sbuf_free(&p.stdout_data);
	sbuf_free(&out);
	free(data);
}
END_TEST

START_TEST(test_end_request)
{
	struct sbuf out = SBUF_INIT;
	struct parsed p;
	static const unsigned char want[8] = { 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0 };

	fcgi_record_stdout(&out, 1, "", 0);
	ck_assert_uint_eq(out.len, 0); /* nothing: the end closes the stream */
	fcgi_record_end(&out, 1, 0x01020304);
	parse(&out, 1, &p);
	ck_assert_int_eq(p.stdout_records, 0);
	ck_assert_int_eq(p.empty_stdout, 1);
	ck_assert_int_eq(p.end_requests, 1);
	ck_assert(memcmp(p.end_body, want, 8) == 0);
	sbuf_free(&p.stdout_data);
	sbuf_free(&out);
}
END_TEST

static Suite *fcgi_record_suite(void)
{
	Suite *s = suite_create("fcgi_record");
	TCase *tc = tcase_create("records");

	tcase_add_loop_test(tc, test_response_round_trip, 0, (int)(sizeof sizes / sizeof sizes[0]));
	tcase_add_test(tc, test_end_request);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(fcgi_record_suite());
}
