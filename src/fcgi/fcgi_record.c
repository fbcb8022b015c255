/* fcgi_record.c - FastCGI record framing (FastCGI 1.0 specification,
 * section 3.3): an 8-byte header, the content, and padding to a multiple
 * of 8 bytes, which web servers read faster and the specification
 * recommends. */
#include "buildconf.h"
#include "fcgi/fcgi_record.h"

enum {
	FCGI_VERSION_1 = 1,
	FCGI_END_REQUEST = 3,
	FCGI_STDOUT = 6,
	FCGI_REQUEST_COMPLETE = 0,
};

static void record_header(struct sbuf *out, unsigned type, uint16_t id, size_t len, size_t pad)
{
	char h[8] = {
		(char)FCGI_VERSION_1, (char)type,
		(char)(id >> 8), (char)(id & 0xff),
		(char)(len >> 8), (char)(len & 0xff),
		(char)pad, 0,
	};

	sbuf_append(out, h, sizeof h);
}

static void record(struct sbuf *out, unsigned type, uint16_t id, const char *data, size_t len)
{
	static const char zeros[8];
	size_t pad = (8 - len % 8) % 8;

	record_header(out, type, id, len, pad);
	sbuf_append(out, data, len);
	sbuf_append(out, zeros, pad);
}

void fcgi_record_stdout(struct sbuf *out, uint16_t id, const char *data, size_t len)
{
	while (len > 0) {
		/* Full records stay 8-aligned without padding. */
		size_t n = len > FCGI_RECORD_CONTENT_MAX - 7 ? FCGI_RECORD_CONTENT_MAX - 7 : len;

		record(out, FCGI_STDOUT, id, data, n);
		data += n;
		len -= n;
	}
}

void fcgi_record_end(struct sbuf *out, uint16_t id, uint32_t app_status)
{
	char body[8] = {
		(char)(app_status >> 24), (char)(app_status >> 16),
		(char)(app_status >> 8), (char)app_status,
		(char)FCGI_REQUEST_COMPLETE, 0, 0, 0,
	};

	record(out, FCGI_STDOUT, id, "", 0);
	record(out, FCGI_END_REQUEST, id, body, sizeof body);
}
