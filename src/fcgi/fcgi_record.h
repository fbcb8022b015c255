/* fcgi_record.h - the few FastCGI records a process writes itself: a
 * response's FCGI_STDOUT stream and its FCGI_END_REQUEST, for a request
 * that left libfcgi (a long poll parked in the waiter process). Framing
 * only, into a buffer; the caller writes it. */
#ifndef EVSTORE_FCGI_RECORD_H
#define EVSTORE_FCGI_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "base/sbuf.h"

/* A record carries at most this much content (the length is 16 bits). */
#define FCGI_RECORD_CONTENT_MAX 65535

/* Appends len bytes of the response as FCGI_STDOUT records of request id,
 * split as the 16-bit length needs. len 0 appends nothing: the empty
 * record that ends the stream is fcgi_record_end's. */
void fcgi_record_stdout(struct sbuf *out, uint16_t id, const char *data, size_t len);

/* Appends the empty FCGI_STDOUT that closes the stream, then
 * FCGI_END_REQUEST with app_status and FCGI_REQUEST_COMPLETE. */
void fcgi_record_end(struct sbuf *out, uint16_t id, uint32_t app_status);

#endif
