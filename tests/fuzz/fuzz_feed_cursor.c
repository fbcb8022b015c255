/* fuzz_feed_cursor.c - the feed cursor decoder (GET /v1/events?after=): it
 * accepts only what the encoder writes, so whatever it decodes must encode
 * back to the same text. */
#include "buildconf.h"

#include "store/feed_cursor.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct feed_cursor c;
	char again[FEED_CURSOR_LEN];

	if (!text)
		return 0;
	if (feed_cursor_decode(text, &c) && *text) {
		feed_cursor_encode(&c, again);
		FUZZ_ASSERT(strcmp(again, text) == 0, "%.60s decoded, encodes as %s", text, again);
	}
	free(text);
	return 0;
}
