/* route_dlq.c - the dead-letter queue of a subscription (admin):
 *   GET  /v1/subscriptions/{name}/dlq              list parked entries
 *   POST /v1/subscriptions/{name}/dlq/{entry}/retry  requeue one
 *   POST /v1/subscriptions/{name}/dlq/retry-all      requeue every failed one
 *
 * Decisions (doc/openapi.yaml says the same to users):
 * - Tenancy: an admin token with a tenant (or an admin choosing one with
 *   X-Evstore-Tenant) sees and requeues only that tenant's entries; another
 *   tenant's entry is 404, as everywhere. An admin without a tenant acts on
 *   every tenant's entries.
 * - A name the runner has never used (no configuration section here, no
 *   status row, no checkpoint, no entry) is 404, so a typo is not an empty
 *   queue. Subscriptions are not per tenant: this reveals nothing of
 *   another tenant.
 * - Requeueing answers 202: the runner does the work. Requeueing an entry
 *   that is already requeued is the same 202 (idempotent); a resolved
 *   entry is 409 invalid-state. */
#include "buildconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/adminaudit.h"
#include "base/text.h"
#include "base/config.h"
#include "subs/dlq.h"
#include "subs/substatus.h"
#include "json/jsondoc.h"
#include "fcgi/app.h"
#include "fcgi/routes.h"

/* Appends ,"key":"value" (null when value is NULL). */
static void put_field(struct sbuf *b, const char *key, const char *value)
{
	sbuf_printf(b, ",\"%s\":", key);
	if (value)
		sbuf_json_string(b, value);
	else
		sbuf_puts(b, "null");
}

/* Appends one entry as its JSON object. */
static void render_entry(struct sbuf *b, const struct dlq_entry *e)
{
	sbuf_printf(b, "{\"id\":%" PRId64, e->id);
	put_field(b, "subscription", e->subscription);
	sbuf_printf(b, ",\"partition\":%d,\"position\":%" PRId64, e->partition, e->position);
	put_field(b, "event_id", e->event_id);
	put_field(b, "event_type", e->event_type);
	put_field(b, "aggregate_type", e->aggregate_type);
	put_field(b, "aggregate_id", e->aggregate_id);
	put_field(b, "tenant_id", e->tenant_id);
	put_field(b, "error", e->error);
	put_field(b, "error_class", e->error_class);
	sbuf_printf(b, ",\"attempts\":%d", e->attempts);
	put_field(b, "first_failed_at", e->first_failed_at);
	put_field(b, "last_failed_at", e->last_failed_at);
	put_field(b, "status", e->status);
	put_field(b, "resolved_at", e->resolved_at);
	sbuf_putc(b, '}');
}

static struct dlq_scope request_scope(const struct route_ctx *ctx)
{
	struct dlq_scope s = { .all_tenants = ctx->all_tenants, .tenant = ctx->tenant };

	return s;
}

static void reply_no_subscription(struct route_ctx *ctx, const char *name)
{
	char detail[128];

	snprintf(detail, sizeof detail, "no subscription %s", name);
	http_reply_problem(ctx->resp, HTTP_PROBLEM_NOT_FOUND, detail, NULL);
}

/* Whether name is a subscription: configured here, or known to the
 * database. False with the reply set (404, or the database's trouble). */
static bool subscription_exists(struct route_ctx *ctx, const char *name)
{
	const struct es_config *cfg = &ctx->app->cfg;
	bool known = false;
	enum es_status st;

	for (size_t i = 0; i < cfg->n_subscriptions; i++)
		if (strcmp(cfg->subscriptions[i].name, name) == 0)
			return true;
	st = substatus_known(ctx->app->db, name, &known);
	if (st != ES_OK) {
		http_reply_status(ctx->resp, st, NULL);
		return false;
	}
	if (!known)
		reply_no_subscription(ctx, name);
	return known;
}

/* Fills f from status, limit and after, or sets the 400. */
static bool list_params(struct route_ctx *ctx, struct dlq_filter *f)
{
	const struct es_config *cfg = &ctx->app->cfg;
	const struct http_query *qs = ctx->query;
	const char *status, *limit, *after;
	int64_t v;

	if (!http_query_single(qs, ctx->resp, "status", &status) ||
	    !http_query_single(qs, ctx->resp, "limit", &limit) ||
	    !http_query_single(qs, ctx->resp, "after", &after))
		return false;
	f->status = "failed";
	if (status) {
		if (strcmp(status, "all") == 0)
			f->status = NULL;
		else if (dlq_status_valid(status))
			f->status = status;
		else
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "status must be failed, retrying, resolved or all");
	}
	f->limit = cfg->http.default_page;
	if (limit) {
		if (!http_parse_int64(limit, 1, INT64_MAX, &v))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "limit must be an integer >= 1");
		f->limit = v > cfg->http.max_page ? cfg->http.max_page : (int)v;
	}
	if (after && !http_parse_int64(after, 0, INT64_MAX, &f->after_id))
		return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "after must be a DLQ entry id (an integer >= 0)");
	return true;
}

void route_dlq_list(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	const char *name = route_param(ctx->match, "name");
	struct dlq_filter f = { .subscription = name, .scope = request_scope(ctx) };
	struct dlq_entries list = { 0 };
	enum es_status st;

	if (!list_params(ctx, &f))
		goto out;
	st = dlq_list(ctx->app->db, &f, &list);
	if (st != ES_OK) {
		http_reply_status(resp, st, NULL);
		goto out;
	}
	/* An empty page of a name nobody knows is a typo, not a queue. */
	if (list.count == 0 && !subscription_exists(ctx, name))
		goto out;

	http_resp_json(resp, 200);
	sbuf_puts(&resp->body, "{\"entries\":[");
	for (size_t i = 0; i < list.count; i++) {
		if (i)
			sbuf_putc(&resp->body, ',');
		render_entry(&resp->body, &list.items[i]);
	}
	sbuf_printf(&resp->body, "],\"count\":%zu,\"next_after\":", list.count);
	/* A full page may have more behind it. */
	if (list.count > 0 && list.count == (size_t)f.limit)
		sbuf_printf(&resp->body, "%" PRId64 "}", list.items[list.count - 1].id);
	else
		sbuf_puts(&resp->body, "null}");
out:
	dlq_entries_free(&list);
}

/* The requeue routes take no input. A body, if sent, must be JSON and an
 * empty object, so that a client expecting options learns there are none.
 * False when the reply is set. */
static bool body_empty(struct route_ctx *ctx)
{
	const struct http_req *req = ctx->req;
	json_object *body = NULL;
	char err[256];
	bool ok = false;

	if (req->body_len == 0)
		return true;
	if (!http_content_type_is_json(req->content_type)) {
		http_reply_problem(ctx->resp, HTTP_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
				   "a body must be sent as Content-Type: application/json", NULL);
		return false;
	}
	switch (jsondoc_parse_strict(req->body, req->body_len, ctx->app->cfg.http.max_depth, &body,
				  err, sizeof err)) {
	case ES_OK:
		break;
	case ES_EINVAL:
		http_reply_problem(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, err, NULL);
		goto out;
	case ES_ETOOLARGE:
		http_reply_problem(ctx->resp, HTTP_PROBLEM_PAYLOAD_TOO_LARGE, "the body is too large", NULL);
		goto out;
	default:
		http_reply_status(ctx->resp, ES_ENOMEM, NULL);
		goto out;
	}
	if (!json_object_is_type(body, json_type_object) || json_object_object_length(body) != 0) {
		http_reply_problem(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST,
				   "this route takes no input: send no body or {}", NULL);
		goto out;
	}
	ok = true;
out:
	json_object_put(body);
	return ok;
}

void route_dlq_retry(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	const char *name = route_param(ctx->match, "name");
	const char *entry = route_param(ctx->match, "entry");
	struct dlq_scope scope = request_scope(ctx);
	struct dlq_entries now = { 0 };
	char detail[160], quoted[48];
	bool requeued = false;
	int64_t id;
	enum es_status st;

	if (!http_parse_int64(entry, 1, INT64_MAX, &id)) {
		snprintf(detail, sizeof detail, "DLQ entry id %s must be a positive integer",
			 text_quote(quoted, sizeof quoted, entry, strlen(entry)));
		http_reply_problem(resp, HTTP_PROBLEM_INVALID_REQUEST, detail, NULL);
		goto out;
	}
	if (!body_empty(ctx))
		goto out;
	st = dlq_retry(ctx->app->db, name, &scope, id, &requeued, &now);
	switch (st) {
	case ES_OK:
		http_resp_json(resp, 202);
		render_entry(&resp->body, &now.items[0]);
		break;
	case ES_ENOTFOUND:
		snprintf(detail, sizeof detail, "no DLQ entry %" PRId64 " in subscription %s", id, name);
		http_reply_problem(resp, HTTP_PROBLEM_NOT_FOUND, detail, NULL);
		break;
	case ES_ESTATE:
		snprintf(detail, sizeof detail, "DLQ entry %" PRId64 " is already resolved", id);
		http_reply_problem(resp, HTTP_PROBLEM_INVALID_STATE, detail, NULL);
		break;
	default:
		http_reply_status(resp, st, NULL);
		break;
	}
	route_audit(ctx, &(struct admin_action){
		.action = "dlq_retry", .target = { { "subscription", name }, { "dlq_entry", entry } },
		.counts = { { "requeued", requeued } } });
out:
	dlq_entries_free(&now);
}

void route_dlq_retry_all(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	const char *name = route_param(ctx->match, "name");
	struct dlq_scope scope = request_scope(ctx);
	int64_t requeued = 0;
	enum es_status st;

	if (!body_empty(ctx))
		return;
	/* Batches already requeued stay so when a later one fails; a second
	 * call picks up the rest. */
	st = dlq_retry_all(ctx->app->db, name, &scope, &requeued);
	if (st != ES_OK) {
		http_reply_status(resp, st, NULL);
	} else if (requeued > 0 || subscription_exists(ctx, name)) {
		http_resp_json(resp, 202);
		sbuf_printf(&resp->body, "{\"requeued\":%" PRId64 "}", requeued);
	}
	route_audit(ctx, &(struct admin_action){
		.action = "dlq_retry_all", .target = { { "subscription", name } },
		.counts = { { "requeued", requeued } } });
}
