/* sbuf.h - a growable byte buffer for building responses and SQL text. */
#ifndef EVSTORE_SBUF_H
#define EVSTORE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *data;     /* always NUL-terminated when len > 0 or after sbuf_cstr */
	size_t len;
	size_t cap;
	bool failed;    /* an allocation failed; further appends are ignored */
};

#define SBUF_INIT { NULL, 0, 0, false }

void sbuf_append(struct sbuf *b, const void *data, size_t len);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_putc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. Bytes that are not
 * well-formed UTF-8 become U+FFFD, so the result is always valid JSON. */
void sbuf_json_string(struct sbuf *b, const char *s);
/* Writing in place: room for n more bytes (and the NUL after them) at the
 * end, or NULL when there is no memory (failed is then set); write there,
 * then keep the k <= n bytes written with sbuf_advance(b, k). */
char *sbuf_space(struct sbuf *b, size_t n);
void sbuf_advance(struct sbuf *b, size_t n);
/* A NUL-terminated view of the contents ("" when empty); borrowed. */
const char *sbuf_cstr(struct sbuf *b);
/* Empties the buffer but keeps its memory for reuse. */
void sbuf_reset(struct sbuf *b);
/* Drops what was appended after the first len bytes (len <= b->len). */
void sbuf_truncate(struct sbuf *b, size_t len);
void sbuf_free(struct sbuf *b);

#endif
