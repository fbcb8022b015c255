/* route_subjects.c - personal data on the HTTP side: the reader's view of
 * a page of events (route_personal_view, for the stream and feed routes),
 * and the data subjects (admin):
 *   GET    /v1/subjects/{subject}  whether its key exists, how many events
 *                                  refer to it, when it was erased
 *   DELETE /v1/subjects/{subject}  erasure: its key destroyed
 * Tenant-scoped like everything else: the token's tenant, or the one an
 * admin without a tenant picks with X-Evstore-Tenant (none: the no-tenant
 * space). */
#include "buildconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "fcgi/app.h"
#include "fcgi/routes.h"
#include "pg/db.h"
#include "privacy/erasure.h"
#include "privacy/keyring.h"
#include "privacy/view.h"

enum es_status route_personal_view(struct route_ctx *ctx, struct sbuf *events, const char *epoch)
{
	bool clear = ctx->who && (ctx->who->scopes & AUTH_SCOPE_PERSONAL_READ);
	char err[400] = "";
	enum es_status rc;

	rc = view_page(ctx->app->db, events, clear ? PERSONAL_CLEAR : PERSONAL_REDACTED, epoch, err,
		       sizeof err);
	if (rc == ES_EINTERNAL)
		log_kv(LOG_ERR, "personal_data_unreadable", "req_id", ctx->req->request_id, "detail", err, NULL);
	return rc;
}

/* {"tenant_id": ..., "subject": ...: the start of both answers. */
static void subject_begin(struct route_ctx *ctx, int status, const char *subject)
{
	http_resp_json(ctx->resp, status);
	sbuf_puts(&ctx->resp->body, "{\"tenant_id\":");
	if (ctx->tenant)
		sbuf_json_string(&ctx->resp->body, ctx->tenant);
	else
		sbuf_puts(&ctx->resp->body, "null");
	sbuf_puts(&ctx->resp->body, ",\"subject\":");
	sbuf_json_string(&ctx->resp->body, subject);
}

void route_subject_get(struct route_ctx *ctx)
{
	const char *subject = route_param(ctx->match, "subject");
	struct keyring_subject_info info;
	enum es_status st;

	st = db_ensure(ctx->app->db);
	if (st == ES_OK)
		st = keyring_subject_info(ctx->app->db, ctx->tenant, subject, &info);
	if (st != ES_OK) {
		http_reply_status(ctx->resp, st, NULL);
		return;
	}
	subject_begin(ctx, 200, subject);
	sbuf_printf(&ctx->resp->body, ",\"key_exists\":%s,\"erased\":%s,\"erased_at\":",
		    info.key_exists ? "true" : "false", info.erased_keys > 0 ? "true" : "false");
	if (info.erased_at[0])
		sbuf_json_string(&ctx->resp->body, info.erased_at);
	else
		sbuf_puts(&ctx->resp->body, "null");
	sbuf_printf(&ctx->resp->body, ",\"events\":%" PRId64 "}", info.events);
}

void route_subject_delete(struct route_ctx *ctx)
{
	const char *subject = route_param(ctx->match, "subject");
	enum keyring_outcome outcome;
	enum es_status st;

	st = db_ensure(ctx->app->db);
	if (st == ES_OK)
		st = erasure_forget(ctx->app->db, ctx->tenant, subject, ctx->who ? ctx->who->sub : NULL, "http",
				    ctx->req->request_id, &outcome);
	if (st != ES_OK) {
		http_reply_status(ctx->resp, st, NULL);
		return;
	}
	if (outcome == KEYRING_UNKNOWN) {
		http_reply_problem(ctx->resp, HTTP_PROBLEM_NOT_FOUND,
				   "no personal data of this subject is stored in this tenant", NULL);
		return;
	}
	subject_begin(ctx, 200, subject);
	sbuf_printf(&ctx->resp->body, ",\"outcome\":\"%s\"}", erasure_outcome_name(outcome));
}
