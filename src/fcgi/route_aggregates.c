/* route_aggregates.c - an aggregate's folded state
 * (GET /v1/aggregates/{type}/{id}) and commands
 * (POST /v1/aggregates/{type}/{id}/commands/{command}). */
#include "buildconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "aggregate/aggdef.h"
#include "aggregate/aggregate.h"
#include "base/config.h"
#include "base/log.h"
#include "pg/db.h"
#include "json/jsondoc.h"
#include "store/store.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/replica.h"
#include "fcgi/routes.h"

/* Replaces a snapshot the read skipped for an erased key, on the primary
 * (a standby is read-only): a failure there is logged, the read goes on. */
static void refresh_snapshot(struct route_ctx *ctx, struct db *read_db, const struct aggdef *def,
			     const char *id, struct aggregate_state *s)
{
	struct db *primary = ctx->app->db;
	enum es_status rc;

	if (s->stale.version > 0 && primary != read_db && (rc = db_ensure(primary)) != ES_OK) {
		log_kv(LOG_WARNING, "snapshot_refresh_failed", "aggregate_type", def->aggregate_type,
		       "aggregate_id", id, "status", es_status_name(rc), NULL);
		primary = NULL;
	}
	if (primary)
		aggregate_refresh_snapshot(primary, def, ctx->tenant, id, s);
}

void route_aggregate_state(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	const char *type = route_param(ctx->match, "type");
	const char *id = route_param(ctx->match, "id");
	const struct aggdef *def = aggdef_find(ctx->app->aggdefs, type);
	struct aggregate_state s;
	struct db *db;
	json_object *redacted = NULL, *erased = NULL;
	const char *at_s = NULL, *text;
	int64_t at = 0;
	enum es_status st;
	char detail[160];

	memset(&s, 0, sizeof s);
	if (http_query_get(ctx->query, "at_version", &at_s) != ES_OK ||
	    (at_s && !http_parse_int64(at_s, 1, INT64_MAX, &at))) {
		http_reply_problem(resp, HTTP_PROBLEM_INVALID_REQUEST,
				   "at_version must be given once, as an integer >= 1", NULL);
		goto out;
	}
	if (!(db = replica_for_read(ctx)))
		goto out;
	st = db_ensure(db);
	if (st == ES_OK)
		st = aggregate_load(db, def, ctx->tenant, type, id, at, &s);
	if (replica_failed_over(ctx, &db, st)) {
		aggregate_state_free(&s);
		st = aggregate_load(db, def, ctx->tenant, type, id, at, &s);
	}
	if (st != ES_OK) {
		http_reply_status(resp, st, NULL);
		goto out;
	}
	refresh_snapshot(ctx, db, def, id, &s);
	if (s.stream_version == 0) {
		snprintf(detail, sizeof detail, "no stream %s/%s", type, id);
		http_reply_problem(resp, HTTP_PROBLEM_NOT_FOUND, detail, NULL);
		goto out;
	}
	if (at > s.stream_version) {
		snprintf(detail, sizeof detail, "at_version %" PRId64 " is beyond the stream's version %" PRId64,
			 at, s.stream_version);
		http_reply_problem(resp, HTTP_PROBLEM_NOT_FOUND, detail, NULL);
		goto out;
	}
	if (ctx->req->if_none_match && http_if_none_match_fresh(ctx->req->if_none_match, s.version)) {
		resp->status = 304;
		http_resp_header(resp, "ETag", "\"%" PRId64 "\"", s.version);
		goto out;
	}
	/* erased before redacted: redacting nulls members too */
	if (aggregate_state_erased(def, &s, "/state", &erased) != ES_OK ||
	    (!(ctx->who && (ctx->who->scopes & AUTH_SCOPE_PERSONAL_READ)) &&
	     aggregate_state_redact(def, s.state, "/state", &redacted) != ES_OK)) {
		http_reply_status(resp, ES_ENOMEM, NULL);
		goto out;
	}
	text = jsondoc_compact(s.state);
	if (!text) {
		http_reply_status(resp, ES_ENOMEM, NULL);
		goto out;
	}
	reply_stream_begin(resp, 200, type, id, s.version);
	sbuf_puts(&resp->body, "\"state\":");
	sbuf_puts(&resp->body, text);
	if (redacted) {
		sbuf_puts(&resp->body, ",\"redacted\":");
		sbuf_puts(&resp->body, jsondoc_compact(redacted));
	}
	if (erased) {
		sbuf_puts(&resp->body, ",\"erased\":");
		sbuf_puts(&resp->body, jsondoc_compact(erased));
	}
	if (s.snapshot_version > 0)
		sbuf_printf(&resp->body, ",\"snapshot_version\":%" PRId64 "}", s.snapshot_version);
	else
		sbuf_puts(&resp->body, ",\"snapshot_version\":null}");
out:
	json_object_put(redacted);
	json_object_put(erased);
	aggregate_state_free(&s);
}

bool command_request_parse(const struct es_config *cfg, const struct http_req *req,
			   struct http_resp *resp, json_object **body)
{
	char err[256];
	char *pointer = NULL;

	*body = NULL;
	if (!http_content_type_is_json(req->content_type))
		return http_reject(resp, HTTP_PROBLEM_UNSUPPORTED_MEDIA_TYPE, NULL,
				   "the body must be sent as Content-Type: application/json");
	switch (jsondoc_parse_strict(req->body ? req->body : "", req->body_len,
				  cfg->http.max_depth, body, err, sizeof err)) {
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
	if (!json_object_is_type(*body, json_type_object))
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "the body (the command's input) must be a JSON object");
	if (!jsondoc_pg_storable(*body, &pointer)) {
		http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, pointer ? pointer : "",
			    "the body holds a value PostgreSQL cannot store (a \\u0000 escape or a "
			    "number out of range)");
		free(pointer);
		return false;
	}
	return true;
}

/* Adds key = value to metadata unless value is NULL. */
static void metadata_put(json_object *metadata, const char *key, const char *value)
{
	if (value)
		json_object_object_add(metadata, key, json_object_new_string(value));
}

void route_aggregate_command(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	const char *type = route_param(ctx->match, "type");
	const char *id = route_param(ctx->match, "id");
	const char *name = route_param(ctx->match, "command");
	const struct aggdef *def = aggdef_find(ctx->app->aggdefs, type);
	const struct aggdef_command *cmd = aggdef_command_find(def, name);
	struct jschema_violations v = { NULL, 0, 0, false };
	struct aggregate_refusal why;
	struct store_new_event ne;
	struct store_append_req sreq;
	struct store_append_res res;
	json_object *body = NULL, *metadata = NULL;
	enum es_status st;
	char detail[200];

	memset(&res, 0, sizeof res);
	memset(&why, 0, sizeof why);
	memset(&ne, 0, sizeof ne);
	if (!cmd) {
		char quoted[72];

		snprintf(detail, sizeof detail, def ? "%.64s has no command %s"
						    : "%.64s has no aggregate definition, so no commands",
			 type, text_quote(quoted, sizeof quoted, name ? name : "", name ? strlen(name) : 0));
		http_reply_problem(resp, HTTP_PROBLEM_NOT_FOUND, detail, NULL);
		goto out;
	}
	if (ctx->req->idempotency_key) {
		if (!uuidtext_parse(ctx->req->idempotency_key, ne.event_id)) {
			http_reply_problem(resp, HTTP_PROBLEM_INVALID_REQUEST,
					   "Idempotency-Key must be a UUID in the 8-4-4-4-12 form", NULL);
			goto out;
		}
	} else {
		uuidtext_v7(ne.event_id);
	}
	if (!command_request_parse(&ctx->app->cfg, ctx->req, resp, &body))
		goto out;
	metadata = json_object_new_object();
	if (!metadata) {
		http_reply_status(resp, ES_ENOMEM, NULL);
		goto out;
	}
	metadata_put(metadata, "command", cmd->name);
	metadata_stamp(metadata, ctx->req);
	ne.event_type = cmd->emits->event_type;
	ne.payload = body;
	ne.metadata = metadata;
	ne.occurred_at_usec = time_now_usec();

	memset(&sreq, 0, sizeof sreq);
	sreq.tenant = ctx->tenant;
	sreq.aggregate_type = type;
	sreq.aggregate_id = id;
	sreq.expect = STORE_EXPECT_ANY;
	sreq.actor_id = ctx->who ? ctx->who->sub : NULL;
	sreq.events = &ne;
	sreq.n_events = 1;

	st = db_ensure(ctx->app->db);
	if (st == ES_OK && !aggdef_validate(def, ne.event_type, body, "", "", &v)) {
		st = store_append_known(ctx->app->db, &sreq, &res);
		if (st == ES_ENOTFOUND) {
			if (v.failed)
				http_reply_status(resp, ES_ENOMEM, NULL);
			else
				reply_violations(resp, &v);
			poolstats_add(ctx->app->pool, ctx->app->pool_slot, POOLSTATS_VALIDATION_FAILURES, 1);
			goto out;
		}
	} else if (st == ES_OK) {
		st = aggregate_append(ctx->app->db, def, &sreq, &res, &why);
	}
	append_respond(ctx, type, id, st, &res, NULL, &why);
out:
	jschema_violations_free(&v);
	store_append_res_free(&res);
	json_object_put(metadata);
	json_object_put(body);
}
