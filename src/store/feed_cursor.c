/* feed_cursor.c - the global feed cursor: "1" (the format version), then the
 * transaction id and the position as 16 lowercase hex digits each. */
#include "buildconf.h"
#include "store/feed_cursor.h"

#include <string.h>

#define CURSOR_VERSION '1'
#define CURSOR_TEXT_LEN 33 /* version + 2 * 16 hex digits */

static const char hexdigits[] = "0123456789abcdef";

static void put_hex64(char *out, uint64_t v)
{
	for (int i = 15; i >= 0; i--) {
		out[i] = hexdigits[v & 0x0f];
		v >>= 4;
	}
}

/* Reads 16 lowercase hex digits; false on anything else. */
static bool get_hex64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = (v << 4) | d;
	}
	*out = v;
	return true;
}

/* Writes the 33-character text of c into out. */
void feed_cursor_encode(const struct feed_cursor *c, char out[FEED_CURSOR_LEN])
{
	out[0] = CURSOR_VERSION;
	put_hex64(out + 1, c->txid);
	put_hex64(out + 17, (uint64_t)c->position);
	out[CURSOR_TEXT_LEN] = '\0';
}

/* Borrows s. Accepts "" (the start: 0, 0) or exactly what feed_cursor_encode
 * writes: the version '1', 32 lowercase hex digits, a position >= 0.
 * *out is untouched on false. */
bool feed_cursor_decode(const char *s, struct feed_cursor *out)
{
	uint64_t txid, pos;

	if (!s)
		return false;
	if (s[0] == '\0') {
		out->txid = 0;
		out->position = 0;
		return true;
	}
	if (strlen(s) != CURSOR_TEXT_LEN || s[0] != CURSOR_VERSION)
		return false;
	if (!get_hex64(s + 1, &txid) || !get_hex64(s + 17, &pos))
		return false;
	if (pos > (uint64_t)INT64_MAX)
		return false;
	out->txid = txid;
	out->position = (int64_t)pos;
	return true;
}
