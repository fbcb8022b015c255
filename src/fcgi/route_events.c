/* route_events.c - append to a stream and read it back
 * (POST and GET /v1/aggregates/{type}/{id}/events). */
#include "buildconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "aggregate/aggdef.h"
#include "aggregate/aggregate.h"
#include "base/config.h"
#include "pg/db.h"
#include "json/jsondoc.h"
#include "store/store.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/replica.h"
#include "fcgi/routes.h"

#define EXPECTED_VERSION_RULE \
	"expected_version must be an integer >= 0, \"no_stream\", \"exists\" or \"any\""

/* Rejects a member of obj (at JSON pointer base) that is not in allowed. */
static bool only_known_fields(struct http_resp *resp, json_object *obj, const char *base,
			      const char *const *allowed)
{
	json_object_object_foreach(obj, key, val) {
		size_t i;
		char *pointer, quoted[112];
		bool ok;

		(void)val;
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i])
			continue;
		pointer = jsondoc_pointer_join(base, key);
		ok = http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, pointer,
				 "unknown field %s%s%s", text_quote(quoted, sizeof quoted, key, strlen(key)),
				 *base ? " in " : "", base);
		free(pointer);
		return ok;
	}
	return true;
}

/* Optional member: absent and null both mean "not given". */
static json_object *optional_member(json_object *obj, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(obj, key, &v);
	return v;
}

/* Checks that PostgreSQL can store v (at pointer base). */
static bool storable(struct http_resp *resp, json_object *v, const char *base)
{
	char *rel = NULL;
	char pointer[512];

	if (!v || jsondoc_pg_storable(v, &rel))
		return true;
	snprintf(pointer, sizeof pointer, "%s%s", base, rel ? rel : "");
	free(rel);
	return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, pointer,
			   "%.300s holds a value PostgreSQL cannot store (a \\u0000 escape or a "
			   "number out of range)", pointer);
}

/* The metadata keys only the server sets, each from its header. */
static const struct { const char *key, *header; } server_metadata[] = {
	{ "request_id", "X-Request-Id" },
	{ "traceparent", "traceparent" },
};
#define N_SERVER_METADATA (sizeof server_metadata / sizeof server_metadata[0])

void metadata_stamp(json_object *metadata, const struct http_req *req)
{
	const char *values[N_SERVER_METADATA] = { req->request_id, req->traceparent };

	for (size_t i = 0; i < N_SERVER_METADATA; i++)
		if (values[i])
			json_object_object_add(metadata, server_metadata[i].key,
					       json_object_new_string(values[i]));
}

/* A client's own request_id or traceparent in metadata is refused: the
 * audit trail and traces must tell what the server saw. base is
 * "/events/N/metadata". */
static bool metadata_client_free(struct http_resp *resp, json_object *metadata, const char *base)
{
	char at[96];

	for (size_t i = 0; i < N_SERVER_METADATA; i++) {
		if (!json_object_object_get_ex(metadata, server_metadata[i].key, NULL))
			continue;
		snprintf(at, sizeof at, "%s/%s", base, server_metadata[i].key);
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, at,
				   "%s is set by the server from the %s header; send the header"
				   " instead", at, server_metadata[i].header);
	}
	return true;
}

static const char *const event_fields[] = {
	"event_id", "event_type", "payload", "metadata", "occurred_at", NULL
};

/* Validates events[i] into out->events[i]. */
static bool parse_event(const struct http_req *req, struct http_resp *resp, json_object *ev,
			size_t i, int64_t now_usec, struct append_request *out)
{
	struct store_new_event *ne = &out->events[i];
	json_object *v;
	char base[48], at[64];

	snprintf(base, sizeof base, "/events/%zu", i);
	if (!json_object_is_type(ev, json_type_object))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, base, "%s must be an object", base);
	if (!only_known_fields(resp, ev, base, event_fields))
		return false;

	v = optional_member(ev, "event_id");
	snprintf(at, sizeof at, "%s/event_id", base);
	if (!v) {
		uuidtext_v7(ne->event_id);
	} else if (!json_object_is_type(v, json_type_string) ||
		   !uuidtext_parse(json_object_get_string(v), ne->event_id)) {
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, at,
				   "%s must be a UUID in the 8-4-4-4-12 form", at);
	}
	for (size_t j = 0; j < i; j++)
		if (strcmp(out->events[j].event_id, ne->event_id) == 0)
			return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, at,
					   "event_id %s appears more than once in this request",
					   ne->event_id);

	v = optional_member(ev, "event_type");
	snprintf(at, sizeof at, "%s/event_type", base);
	if (!v || !json_object_is_type(v, json_type_string) ||
	    !router_name_valid(json_object_get_string(v), ROUTER_EVENT_TYPE_MAX))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, at,
				   "%s is required and must match ^[A-Za-z][A-Za-z0-9_.-]{0,127}$", at);
	ne->event_type = json_object_get_string(v);

	v = optional_member(ev, "payload");
	snprintf(at, sizeof at, "%s/payload", base);
	if (!v || !json_object_is_type(v, json_type_object))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, at,
				   "%s is required and must be a JSON object", at);
	if (!storable(resp, v, at))
		return false;
	ne->payload = v;

	v = optional_member(ev, "metadata");
	snprintf(at, sizeof at, "%s/metadata", base);
	if (v && !json_object_is_type(v, json_type_object))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, at, "%s must be a JSON object", at);
	if (v && (!storable(resp, v, at) || !metadata_client_free(resp, v, at)))
		return false;
	if (!v) {
		v = json_object_new_object();
		if (!v || json_object_object_add(ev, "metadata", v) != 0) {
			json_object_put(v);
			http_reply_status(resp, ES_ENOMEM, NULL);
			return false;
		}
	}
	metadata_stamp(v, req);
	ne->metadata = v;

	v = optional_member(ev, "occurred_at");
	snprintf(at, sizeof at, "%s/occurred_at", base);
	ne->occurred_at_usec = now_usec;
	if (v && (!json_object_is_type(v, json_type_string) ||
		  !timefmt_parse(json_object_get_string(v), &ne->occurred_at_usec)))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, at,
				   "%s must be an RFC 3339 date-time such as 2026-11-27T10:00:00Z", at);
	return true;
}

/* The body's expected_version into out; *given says whether it was there. */
static bool parse_expected_version(struct http_resp *resp, json_object *v,
				   struct append_request *out, bool *given)
{
	*given = v != NULL;
	out->expect = STORE_EXPECT_ANY;
	if (!v)
		return true;
	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);

		if (n < 0)
			return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, "/expected_version",
					   EXPECTED_VERSION_RULE);
		out->expect = STORE_EXPECT_EXACT;
		out->expected_version = n;
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (strcmp(s, "no_stream") == 0) {
			out->expect = STORE_EXPECT_EXACT;
			out->expected_version = 0;
		} else if (strcmp(s, "exists") == 0) {
			out->expect = STORE_EXPECT_EXISTS;
		} else if (strcmp(s, "any") != 0) {
			return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, "/expected_version",
					   EXPECTED_VERSION_RULE);
		}
	} else {
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, "/expected_version",
				   EXPECTED_VERSION_RULE);
	}
	out->expected_as_sent = json_object_get(v);
	return true;
}

/* Merges If-Match / If-None-Match with the body's expectation. */
static bool apply_preconditions(const struct http_req *req, struct http_resp *resp,
				bool body_given, struct append_request *out)
{
	struct http_precond im, inm;
	enum store_expect expect = STORE_EXPECT_ANY;
	int64_t version = 0;
	bool header = false;

	if (http_parse_if_match(req->if_match, &im) != ES_OK)
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "If-Match must be one stream version such as \"3\", or *");
	if (http_parse_if_none_match_write(req->if_none_match, &inm) != ES_OK)
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "If-None-Match on an append can only be * (the stream must not exist)");
	if (im.kind == HTTP_PRECOND_VERSION) {
		expect = STORE_EXPECT_EXACT;
		version = im.version;
		header = true;
	} else if (im.kind == HTTP_PRECOND_ANY_EXISTS) {
		expect = STORE_EXPECT_EXISTS;
		header = true;
	}
	if (inm.kind == HTTP_PRECOND_ANY_EXISTS) {
		if (header && !(expect == STORE_EXPECT_EXACT && version == 0))
			return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "If-Match and If-None-Match: * contradict each other");
		expect = STORE_EXPECT_EXACT;
		version = 0;
		header = true;
	}
	if (!header)
		return true;
	if (body_given) {
		if (out->expect != expect || (expect == STORE_EXPECT_EXACT && out->expected_version != version))
			return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, "/expected_version",
					   "expected_version disagrees with the If-Match/If-None-Match header");
		return true;
	}
	out->expect = expect;
	out->expected_version = version;
	out->expected_as_sent = expect == STORE_EXPECT_EXACT ? json_object_new_int64(version)
							     : json_object_new_string("exists");
	return true;
}

static const char *const body_fields[] = { "expected_version", "events", NULL };

bool append_request_parse(const struct es_config *cfg, const struct http_req *req,
			  struct http_resp *resp, struct append_request *out)
{
	json_object *events;
	char err[256];
	size_t n;
	int64_t now;
	bool given;

	memset(out, 0, sizeof *out);
	if (!http_content_type_is_json(req->content_type))
		return http_reject(resp, HTTP_PROBLEM_UNSUPPORTED_MEDIA_TYPE, NULL,
				   "the body must be sent as Content-Type: application/json");
	switch (jsondoc_parse_strict(req->body ? req->body : "", req->body_len, cfg->http.max_depth,
				  &out->body, err, sizeof err)) {
	case ES_OK:
		break;
	case ES_EINVAL:
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL, "%s", err);
	case ES_ETOOLARGE:
		return http_reject(resp, HTTP_PROBLEM_PAYLOAD_TOO_LARGE, NULL, "the body is too large");
	default:
		http_reply_status(resp, ES_ENOMEM, NULL);
		return false;
	}
	if (!json_object_is_type(out->body, json_type_object))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, "", "the body must be a JSON object");
	if (!only_known_fields(resp, out->body, "", body_fields))
		return false;

	events = optional_member(out->body, "events");
	if (!events || !json_object_is_type(events, json_type_array))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, "/events",
				   "events is required and must be an array");
	n = json_object_array_length(events);
	if (n == 0)
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, "/events",
				   "events must hold at least one event");
	if (n > (size_t)cfg->http.max_events)
		return http_reject(resp, HTTP_PROBLEM_PAYLOAD_TOO_LARGE, "/events",
				   "an append carries at most %d events, this one has %zu",
				   cfg->http.max_events, n);
	out->events = calloc(n, sizeof *out->events);
	if (!out->events) {
		http_reply_status(resp, ES_ENOMEM, NULL);
		return false;
	}
	out->n_events = n;
	now = time_now_usec();
	for (size_t i = 0; i < n; i++)
		if (!parse_event(req, resp, json_object_array_get_idx(events, i), i, now, out))
			return false;

	if (!parse_expected_version(resp, optional_member(out->body, "expected_version"), out, &given))
		return false;
	return apply_preconditions(req, resp, given, out);
}

void append_request_free(struct append_request *a)
{
	json_object_put(a->expected_as_sent);
	json_object_put(a->body);
	free(a->events);
	memset(a, 0, sizeof *a);
}

/* Writes the Location of a stream: base_path + /v1/aggregates/{type}/{id}/events. */
static void location_header(struct route_ctx *ctx, const char *type, const char *id)
{
	const char *base = ctx->app->cfg.http.base_path ? ctx->app->cfg.http.base_path : "";
	size_t len = strlen(base);

	while (len > 0 && base[len - 1] == '/')
		len--;
	http_resp_header(ctx->resp, "Location", "%.*s/v1/aggregates/%s/%s/events", (int)len, base,
			 type, id);
}

void reply_stream_begin(struct http_resp *resp, int status, const char *type, const char *id,
			int64_t version)
{
	http_resp_json(resp, status);
	http_resp_header(resp, "ETag", "\"%" PRId64 "\"", version);
	sbuf_puts(&resp->body, "{\"aggregate_type\":");
	sbuf_json_string(&resp->body, type);
	sbuf_puts(&resp->body, ",\"aggregate_id\":");
	sbuf_json_string(&resp->body, id);
	sbuf_printf(&resp->body, ",\"version\":%" PRId64 ",", version);
}

void reply_violations(struct http_resp *resp, const struct jschema_violations *v)
{
	json_object *extra = json_object_new_object();
	json_object *list = json_object_new_array();
	char detail[96];

	if (!extra || !list || json_object_object_add(extra, "violations", list) != 0) {
		json_object_put(extra);
		json_object_put(list);
		http_reply_status(resp, ES_ENOMEM, NULL);
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		json_object *o = json_object_new_object();

		if (!o)
			continue;
		json_object_object_add(o, "pointer", json_object_new_string(v->items[i].pointer));
		json_object_object_add(o, "message", json_object_new_string(v->items[i].message));
		json_object_array_add(list, o);
	}
	snprintf(detail, sizeof detail, "%zu violation%s of the aggregate definition", v->n,
		 v->n == 1 ? "" : "s");
	http_reply_problem(resp, HTTP_PROBLEM_VALIDATION_FAILED, detail, extra);
}

void append_respond(struct route_ctx *ctx, const char *type, const char *id, enum es_status st,
		    const struct store_append_res *res, json_object *expected_as_sent,
		    const struct aggregate_refusal *why)
{
	struct http_resp *resp = ctx->resp;
	json_object *extra;
	char detail[400];

	switch (st) {
	case ES_OK:
		if (res->replayed)
			poolstats_add(ctx->app->pool, ctx->app->pool_slot, POOLSTATS_APPEND_REPLAYS, 1);
		else
			poolstats_add(ctx->app->pool, ctx->app->pool_slot, POOLSTATS_EVENTS_APPENDED,
				      res->n_events);
		break;
	case ES_ECONFLICT:
		poolstats_add(ctx->app->pool, ctx->app->pool_slot, POOLSTATS_APPEND_CONFLICTS, 1);
		extra = json_object_new_object();
		if (extra) {
			if (expected_as_sent)
				json_object_object_add(extra, "expected_version", json_object_get(expected_as_sent));
			json_object_object_add(extra, "current_version",
					       json_object_new_int64(res->current_version));
		}
		http_reply_problem(resp, HTTP_PROBLEM_VERSION_CONFLICT,
				   expected_as_sent ? "the stream is not at the expected version"
						    : "the stream kept changing while this request was checked",
				   extra);
		return;
	case ES_ESTATE:
		extra = json_object_new_object();
		if (extra) {
			json_object_object_add(extra, "guard", json_object_new_string(why->guard ? why->guard : ""));
			json_object_object_add(extra, "event_index",
					       json_object_new_int64((int64_t)why->event_index));
		}
		snprintf(detail, sizeof detail, "the guard %s refused the event: %s",
			 why->guard ? why->guard : "", why->detail);
		http_reply_problem(resp, HTTP_PROBLEM_INVALID_STATE, detail, extra);
		return;
	case ES_EDUPLICATE:
		http_reply_problem(resp, HTTP_PROBLEM_DUPLICATE_EVENT_ID,
				   "an event_id of this request is already stored with other content "
				   "or in another stream, or the request mixes stored and new ids", NULL);
		return;
	case ES_EINVAL:
		http_reply_problem(resp, HTTP_PROBLEM_INVALID_REQUEST,
				   "the database refused a value of this request", NULL);
		return;
	default:
		http_reply_status(resp, st, NULL);
		return;
	}

	if (!res->replayed)
		app_announce_commit(ctx->app);
	replica_token_header(ctx);
	reply_stream_begin(resp, res->replayed ? 200 : 201, type, id, res->version);
	location_header(ctx, type, id);
	sbuf_puts(&resp->body, "\"events\":[");
	for (size_t i = 0; i < res->n_events; i++) {
		sbuf_printf(&resp->body,
			    "%s{\"event_id\":\"%s\",\"version\":%" PRId64 ",\"position\":%" PRId64 "}",
			    i ? "," : "", res->events[i].event_id, res->events[i].version,
			    res->events[i].position);
	}
	sbuf_puts(&resp->body, "]}");
}

/* Validates every event against def; false when the request is answered
 * (422, or the replay of a stored request). */
static bool validate_events(struct route_ctx *ctx, const struct aggdef *def,
			    const struct store_append_req *sreq, struct store_append_res *res,
			    enum es_status *st)
{
	struct jschema_violations v = { NULL, 0, 0, false };
	bool valid = true;

	for (size_t i = 0; i < sreq->n_events; i++) {
		char base[48], pbase[64];

		snprintf(base, sizeof base, "/events/%zu", i);
		snprintf(pbase, sizeof pbase, "/events/%zu/payload", i);
		if (!aggdef_validate(def, sreq->events[i].event_type, sreq->events[i].payload, base, pbase, &v))
			valid = false;
	}
	if (!valid) {
		/* A replay of a stored request is answered as such, even when
		 * the definition changed since it was stored. */
		*st = store_append_known(ctx->app->db, sreq, res);
		if (*st == ES_ENOTFOUND) {
			if (v.failed)
				http_reply_status(ctx->resp, ES_ENOMEM, NULL);
			else
				reply_violations(ctx->resp, &v);
			poolstats_add(ctx->app->pool, ctx->app->pool_slot, POOLSTATS_VALIDATION_FAILURES, 1);
			*st = ES_EVALIDATION;
		}
	}
	jschema_violations_free(&v);
	return valid;
}

void route_events_append(struct route_ctx *ctx)
{
	struct db *db = ctx->app->db;
	const char *type = route_param(ctx->match, "type");
	const char *id = route_param(ctx->match, "id");
	const struct aggdef *def = aggdef_find(ctx->app->aggdefs, type);
	struct aggregate_refusal why;
	struct append_request a;
	struct store_append_req sreq;
	struct store_append_res res;
	enum es_status st;

	memset(&res, 0, sizeof res);
	memset(&why, 0, sizeof why);
	if (!append_request_parse(&ctx->app->cfg, ctx->req, ctx->resp, &a))
		goto out;

	memset(&sreq, 0, sizeof sreq);
	sreq.tenant = ctx->tenant;
	sreq.aggregate_type = type;
	sreq.aggregate_id = id;
	sreq.expect = a.expect;
	sreq.expected_version = a.expected_version;
	sreq.actor_id = ctx->who ? ctx->who->sub : NULL;
	sreq.events = a.events;
	sreq.n_events = a.n_events;

	st = db_ensure(db);
	if (st == ES_OK && def) {
		if (!validate_events(ctx, def, &sreq, &res, &st)) {
			if (st != ES_EVALIDATION)
				append_respond(ctx, type, id, st, &res, a.expected_as_sent, &why);
			goto out;
		}
		st = aggregate_append(db, def, &sreq, &res, &why);
	} else if (st == ES_OK) {
		st = store_append(db, &sreq, &res);
	}
	append_respond(ctx, type, id, st, &res, a.expected_as_sent, &why);
out:
	store_append_res_free(&res);
	append_request_free(&a);
}

/* Parses from_version, limit and direction for a stream read. */
static bool read_params(struct route_ctx *ctx, int64_t *from, int *limit, bool *backward)
{
	const struct es_config *cfg = &ctx->app->cfg;
	const char *from_s, *limit_s, *dir;
	int64_t v;

	if (http_query_get(ctx->query, "from_version", &from_s) != ES_OK ||
	    http_query_get(ctx->query, "limit", &limit_s) != ES_OK ||
	    http_query_get(ctx->query, "direction", &dir) != ES_OK)
		return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "from_version, limit and direction may each be given once");
	*from = 0;
	if (from_s && !http_parse_int64(from_s, 1, INT64_MAX, from))
		return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "from_version must be an integer >= 1");
	*limit = cfg->http.default_page;
	if (limit_s) {
		if (!http_parse_int64(limit_s, 1, INT64_MAX, &v))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "limit must be an integer >= 1");
		*limit = v > cfg->http.max_page ? cfg->http.max_page : (int)v;
	}
	*backward = false;
	if (dir) {
		if (strcmp(dir, "backward") == 0)
			*backward = true;
		else if (strcmp(dir, "forward") != 0)
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "direction must be forward or backward");
	}
	return true;
}

static void stream_not_found(struct route_ctx *ctx, const char *type, const char *id)
{
	http_reject(ctx->resp, HTTP_PROBLEM_NOT_FOUND, NULL, "no stream %s/%s", type, id);
}

void route_events_read(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	struct db *db;
	const char *type = route_param(ctx->match, "type");
	const char *id = route_param(ctx->match, "id");
	struct sbuf events = SBUF_INIT;
	struct store_stream_page page;
	const struct aggdef *def;
	int64_t from = 0, current;
	int limit = 0;
	bool backward = false;
	unsigned how;
	enum es_status st;

	if (!read_params(ctx, &from, &limit, &backward) || !(db = replica_for_read(ctx)))
		goto out;
	st = db_ensure(db);
	/* The standby may have gone since it was chosen. */
	if (replica_failed_over(ctx, &db, st))
		st = ES_OK;
	if (st != ES_OK)
		goto fail;

	if (ctx->req->if_none_match) {
		st = store_stream_version(db, ctx->tenant, type, id, &current);
		if (replica_failed_over(ctx, &db, st))
			st = store_stream_version(db, ctx->tenant, type, id, &current);
		if (st != ES_OK)
			goto fail;
		if (http_if_none_match_fresh(ctx->req->if_none_match, current)) {
			resp->status = 304;
			http_resp_header(resp, "ETag", "\"%" PRId64 "\"", current);
			goto out;
		}
	}

	memset(&page, 0, sizeof page);
	/* the key epoch, for cached keys, when the type declares personal data */
	def = aggdef_find(ctx->app->aggdefs, type);
	how = (backward ? STORE_READ_BACKWARD : 0) | (def && def->has_personal ? STORE_READ_KEY_EPOCH : 0);
	st = store_read_stream(db, ctx->tenant, type, id, from, limit, ctx->app->cfg.http.max_page_bytes,
			       how, &events, &page);
	if (replica_failed_over(ctx, &db, st)) {
		sbuf_reset(&events);
		st = store_read_stream(db, ctx->tenant, type, id, from, limit,
				       ctx->app->cfg.http.max_page_bytes, how, &events, &page);
	}
	if (st == ES_OK)
		/* a replica's epoch may lag the keys' table: no cached keys then */
		st = route_personal_view(ctx, &events,
					 db == ctx->app->db && page.key_epoch[0] ? page.key_epoch : NULL);
	if (st != ES_OK)
		goto fail;

	reply_stream_begin(resp, 200, type, id, page.current_version);
	sbuf_puts(&resp->body, "\"events\":[");
	sbuf_append(&resp->body, events.data ? events.data : "", events.len);
	if (page.next_from_version > 0)
		sbuf_printf(&resp->body, "],\"next_from_version\":%" PRId64 "}", page.next_from_version);
	else
		sbuf_puts(&resp->body, "],\"next_from_version\":null}");
	goto out;
fail:
	if (st == ES_ENOTFOUND)
		stream_not_found(ctx, type, id);
	else
		http_reply_status(resp, st, st == ES_EINVAL ? "the database refused a value of this request" : NULL);
out:
	sbuf_free(&events);
}
