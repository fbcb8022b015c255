/* feed_cursor.h - the global feed's opaque cursor: a (transaction_id, position)
 * pair, as readers of the xid8 horizon keep it. */
#ifndef EVSTORE_FEED_CURSOR_H
#define EVSTORE_FEED_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

#define FEED_CURSOR_LEN 48

struct feed_cursor {
	uint64_t txid;      /* xid8 of the last event's writing transaction */
	int64_t position;   /* that event's position */
};

/* Encodes as "1" followed by 32 lowercase hex digits (txid, position):
 * URL-safe and fixed-length. Clients treat it as opaque. */
void feed_cursor_encode(const struct feed_cursor *c, char out[FEED_CURSOR_LEN]);
/* Decodes what feed_cursor_encode wrote; anything else is false. An empty
 * string is the start of the feed (0, 0). */
bool feed_cursor_decode(const char *s, struct feed_cursor *out);

#endif
