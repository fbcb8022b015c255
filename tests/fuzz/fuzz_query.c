/* fuzz_query.c - query-string parsing (http_query_parse, then
 * http_query_single as the routes call it) and the strict integers the
 * routes read from it. A parameter given twice is a 400 problem document,
 * which must be strict JSON. */
#include "buildconf.h"

#include "fcgi/http.h"
#include "fuzz.h"

/* The parameters the routes read. */
static const char *const known[] = { "after", "limit", "from_version", "direction", "wait",
				     "aggregate_type", "event_type", "at_version", "status", NULL };

static void read_like_a_route(const struct http_query *q)
{
	for (size_t i = 0; known[i]; i++) {
		const char *value = NULL;
		struct http_resp resp;
		int64_t n;

		http_resp_init(&resp, 1);
		if (!http_query_single(q, &resp, known[i], &value))
			fuzz_assert_json(sbuf_cstr(&resp.body), resp.body.len);
		else if (value)
			(void)http_parse_int64(value, -1, INT64_MAX, &n);
		http_resp_free(&resp);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *qs = fuzz_cstr(data, size);
	struct http_query q = { NULL, 0 };
	char err[256];

	if (!qs)
		return 0;
	if (http_query_parse(qs, &q, err, sizeof err) == ES_OK) {
		for (size_t i = 0; i < q.n; i++)
			FUZZ_ASSERT(q.items[i].name && q.items[i].value, "item %zu", i);
		read_like_a_route(&q);
	}
	http_query_free(&q);
	free(qs);
	return 0;
}
