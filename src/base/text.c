/* text.c - byte-level helpers every parser of untrusted text shares. */
#include "buildconf.h"

#include <string.h>

#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int text_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool text_hex_decode(const char *s, size_t len, unsigned char *buf, size_t n)
{
	if (len != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = text_hex_value((unsigned char)s[2 * i]), lo = text_hex_value((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* Lowercase, for hex text and \u escapes alike. */
static const char hex_digits[] = "0123456789abcdef";

void text_hex_encode(const unsigned char *buf, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[buf[i] >> 4];
		out[2 * i + 1] = hex_digits[buf[i] & 15];
	}
	out[2 * n] = '\0';
}

size_t text_utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0; /* overlong, beyond U+10FFFF */
		return 4;
	}
	return 0;
}

size_t text_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = malloc((lb + 1) * sizeof *row);
	size_t result;

	if (!row)
		return la > lb ? la : lb; /* an upper bound: no suggestion is better than none */
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	/* One row of the matrix at a time: row[j] is the distance between
	 * a[0..i) and b[0..j); diag holds the previous row's row[j-1]. */
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	result = row[lb];
	free(row);
	return result;
}

/* The escaped form of the character at in[0..len) into piece (5 bytes);
 * returns its length and sets *used to the input bytes it stands for. */
static size_t quote_piece(const unsigned char *in, size_t len, char piece[5], size_t *used)
{
	unsigned char c = in[0];
	size_t k;

	*used = 1;
	if (c == '"' || c == '\\') {
		piece[0] = '\\';
		piece[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		piece[0] = (char)c;
		return 1;
	}
	k = c >= 0x80 ? text_utf8_seq_len(in, len) : 0;
	if (k > 0) {
		memcpy(piece, in, k);
		*used = k;
		return k;
	}
	snprintf(piece, 5, "\\x%02X", c);
	return 4;
}

const char *text_quote(char *out, size_t outlen, const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t room = outlen - 5; /* keeps the closing quote, "..." and the NUL */
	size_t i = 0, o = 0;

	out[o++] = '"';
	while (i < len) {
		char piece[5];
		size_t used, n = quote_piece(p + i, len - i, piece, &used);

		if (o + n > room)
			break;
		memcpy(out + o, piece, n);
		o += n;
		i += used;
	}
	out[o++] = '"';
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

char *text_utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t k = text_utf8_seq_len(p + i, n - i);

		if (k == 0) {
			p[i] = '?';
			k = 1;
		}
		i += k;
	}
	return s;
}

size_t text_utf8_prefix_len(const char *s, size_t len, size_t max)
{
	size_t at = 0;

	while (at < len) {
		size_t seq = text_utf8_seq_len((const unsigned char *)s + at, len - at);

		if (seq == 0)
			seq = 1;
		if (at + seq > max)
			break;
		at += seq;
	}
	return at;
}

char *text_json_string(char *dst, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run, k;

	*dst++ = '"';
	while (i < n) {
		/* copy the longest stretch that needs no escaping in one go */
		run = 0;
		while (i + run < n) {
			unsigned char c = p[i + run];
			if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
				break;
			if (c < 0x80) {
				run++;
				continue;
			}
			k = text_utf8_seq_len(p + i + run, n - i - run);
			if (k == 0)
				break;
			run += k;
		}
		memcpy(dst, p + i, run);
		dst += run;
		i += run;
		if (i >= n)
			break;
		*dst++ = '\\';
		switch (p[i]) {
		case '"': *dst++ = '"'; break;
		case '\\': *dst++ = '\\'; break;
		case '\n': *dst++ = 'n'; break;
		case '\r': *dst++ = 'r'; break;
		case '\t': *dst++ = 't'; break;
		case '\b': *dst++ = 'b'; break;
		case '\f': *dst++ = 'f'; break;
		default:
			/* a control character, or a byte outside well-formed UTF-8 */
			memcpy(dst, p[i] < 0x80 ? "u00" : "uff", 3);
			dst[3] = p[i] < 0x80 ? hex_digits[p[i] >> 4] : 'f';
			dst[4] = p[i] < 0x80 ? hex_digits[p[i] & 15] : 'd';
			dst += 5;
			break;
		}
		i++;
	}
	*dst++ = '"';
	return dst;
}

bool text_equal_secret(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}
