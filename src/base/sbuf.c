/* sbuf.c - a growable byte buffer. An allocation failure is sticky: the
 * buffer keeps what it had, sets failed, and ignores further appends, so a
 * caller checks once at the end instead of after every append. */
#include "buildconf.h"
#include "base/sbuf.h"
#include "base/text.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for extra more bytes plus the terminating NUL. */
static bool sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return false;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return true;
fail:
	b->failed = true;
	return false;
}

/* Copies len bytes of data (which may hold NULs). */
void sbuf_append(struct sbuf *b, const void *data, size_t len)
{
	if (len == 0 || !sbuf_reserve(b, len))
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/* Copies the C string s. */
void sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_append(b, s, strlen(s));
}

/* Appends one byte (which may be NUL). */
void sbuf_putc(struct sbuf *b, char c)
{
	sbuf_append(b, &c, 1);
}

/* Formats into the buffer directly, growing it once if the first try was
 * short. */
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t avail;
	int n;

	if (!sbuf_reserve(b, 0))
		return;
	avail = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, avail, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		b->failed = true;
		return;
	}
	if ((size_t)n >= avail) {
		if (!sbuf_reserve(b, (size_t)n)) {
			b->data[b->len] = '\0';
			return;
		}
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void sbuf_json_string(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);
	char *p = sbuf_space(b, TEXT_JSON_STRING_MAX(n));

	if (p)
		sbuf_advance(b, (size_t)(text_json_string(p, s, n) - p));
}

char *sbuf_space(struct sbuf *b, size_t n)
{
	return sbuf_reserve(b, n) ? b->data + b->len : NULL;
}

void sbuf_advance(struct sbuf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

/* Borrowed view, valid until the next append, reset or free. */
const char *sbuf_cstr(struct sbuf *b)
{
	return b->data ? b->data : "";
}

/* Empties b and clears failed; the memory stays for the next use. */
void sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

void sbuf_truncate(struct sbuf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

/* Releases the memory; the buffer is then empty and reusable. */
void sbuf_free(struct sbuf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}
