/* fuzz_headers.c - the traceparent and X-Request-Id validators, alone and
 * as http_req_init applies them: the input is offered as both headers. A
 * request keeps only a valid traceparent, and always ends with a valid
 * request id (the caller's or a fresh UUIDv7); both reach the JSON log and
 * event metadata, so neither may hold anything but printable ASCII. */
#include "buildconf.h"

#include "fcgi/http.h"
#include "fuzz.h"

static const char *header_value;

static const char *fake_param(void *ctx, const char *name)
{
	if (strcmp(name, "HTTP_TRACEPARENT") == 0 || strcmp(name, "HTTP_X_REQUEST_ID") == 0)
		return header_value;
	if (strcmp(name, "REQUEST_METHOD") == 0)
		return "GET";
	if (strcmp(name, "REQUEST_URI") == 0)
		return "/v1/events";
	return NULL;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_cstr(data, size);
	struct http_io io = { .param = fake_param };
	struct http_req req;
	char kept[HTTP_TRACEPARENT_LEN + 1];

	if (!value)
		return 0;
	header_value = value;
	memset(&req, 0, sizeof req);
	if (http_req_init(&req, &io, "") == ES_OK) {
		FUZZ_ASSERT(http_request_id_valid(req.request_id), "request id %s", req.request_id);
		FUZZ_ASSERT(http_request_id_valid(value) == (strcmp(req.request_id, value) == 0),
			    "%.200s", value);
		FUZZ_ASSERT(!req.traceparent || (http_traceparent_parse(req.traceparent, kept) &&
						 strcmp(kept, req.traceparent) == 0), "%.200s", value);
		FUZZ_ASSERT(!req.traceparent || printable_ascii(req.traceparent), "%.200s", value);
	}
	http_req_free(&req);
	free(value);
	return 0;
}
