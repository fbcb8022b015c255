/* fuzz_append.c - the append request parser (append_request_parse): the
 * body of POST /v1/aggregates/{type}/{id}/events under the default limits.
 * Whatever it answers must be a well-formed reply: an accepted request
 * holds events with ids, types and object payloads; a refusal is a 4xx
 * problem document that is strict JSON. */
#include "buildconf.h"

#include "fcgi/routes.h"
#include "fuzz.h"

static struct es_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_default_config(&cfg);
	return 0;
}

static void check_accepted(const struct append_request *a)
{
	FUZZ_ASSERT(a->n_events >= 1 && a->n_events <= (size_t)cfg.http.max_events, "%zu events",
		    a->n_events);
	for (size_t i = 0; i < a->n_events; i++) {
		FUZZ_ASSERT(a->events[i].event_type && a->events[i].event_id[0], "event %zu", i);
		FUZZ_ASSERT(json_object_is_type(a->events[i].payload, json_type_object), "event %zu", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req req;
	struct http_resp resp;
	struct append_request a;

	memset(&req, 0, sizeof req);
	req.content_type = "application/json";
	req.body = fuzz_cstr(data, size);
	req.body_len = size;
	strcpy(req.request_id, "fuzz-request");
	http_resp_init(&resp, 1);
	if (append_request_parse(&cfg, &req, &resp, &a)) {
		check_accepted(&a);
	} else {
		FUZZ_ASSERT(resp.status >= 400 && resp.status < 500, "status %d", resp.status);
		fuzz_assert_json(sbuf_cstr(&resp.body), resp.body.len);
	}
	append_request_free(&a);
	http_resp_free(&resp);
	free(req.body);
	return 0;
}
