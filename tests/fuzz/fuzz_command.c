/* fuzz_command.c - the command request parser (command_request_parse):
 * the body of POST /v1/aggregates/{type}/{id}/commands/{command}, then the
 * payload check of the example Order definition's events against it, as
 * the route does. A refusal and a 422 are problem documents that must be
 * strict JSON. */
#include "buildconf.h"

#include "aggregate/aggdef.h"
#include "fcgi/routes.h"
#include "fuzz.h"

static struct es_config cfg;
static struct aggdef_registry *order;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];

	fuzz_default_config(&cfg);
	if (aggdef_registry_load(FUZZ_AGGREGATES_DIR, &order, err, sizeof err) != ES_OK) {
		fprintf(stderr, "fuzz: %s\n", err);
		exit(1);
	}
	return 0;
}

/* Checks body against one event type, as the route does for its command. */
static void check_validation(const struct aggdef *def, const char *event_type, json_object *body)
{
	struct jschema_violations v = { NULL, 0, 0, false };
	struct http_resp resp;

	if (!aggdef_validate(def, event_type, body, "", "", &v)) {
		http_resp_init(&resp, 1);
		reply_violations(&resp, &v);
		fuzz_assert_json(sbuf_cstr(&resp.body), resp.body.len);
		http_resp_free(&resp);
	}
	jschema_violations_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct aggdef *def = aggdef_find(order, "Order");
	struct http_req req;
	struct http_resp resp;
	json_object *body = NULL;

	memset(&req, 0, sizeof req);
	req.content_type = "application/json";
	req.body = fuzz_cstr(data, size);
	req.body_len = size;
	http_resp_init(&resp, 1);
	if (command_request_parse(&cfg, &req, &resp, &body)) {
		for (size_t i = 0; i < def->n_events; i++)
			check_validation(def, def->events[i].event_type, body);
	} else {
		FUZZ_ASSERT(resp.status >= 400 && resp.status < 500, "status %d", resp.status);
		fuzz_assert_json(sbuf_cstr(&resp.body), resp.body.len);
	}
	json_object_put(body);
	http_resp_free(&resp);
	free(req.body);
	return 0;
}
