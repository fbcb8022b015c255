/* route_audit.c - the audit record of an admin action taken over HTTP
 * (base/adminaudit.h): the token's sub as the actor, the tenant the
 * request was limited to, its request id and trace id, and the outcome
 * read from the reply, so that every admin route tells it the same way. */
#include "buildconf.h"

#include <string.h>

#include "base/adminaudit.h"
#include "fcgi/routes.h"

/* The outcome a reply stands for. */
static const char *route_outcome(int status)
{
	if (status >= 200 && status < 300)
		return "ok";
	if (status == 404)
		return "not_found";
	if (status == 409)
		return "invalid_state";
	return "failed";
}

void route_audit(const struct route_ctx *ctx, const struct admin_action *action)
{
	struct admin_action a = *action;
	char trace[33] = "";

	a.actor = ctx->who ? ctx->who->sub : NULL;
	a.via = "http";
	a.outcome = route_outcome(ctx->resp->status);
	a.tenant = ctx->all_tenants ? NULL : ctx->tenant;
	a.request_id = ctx->req->request_id;
	/* A kept traceparent is valid: its trace id is characters 3 to 35. */
	if (ctx->req->traceparent && strlen(ctx->req->traceparent) >= 35) {
		memcpy(trace, ctx->req->traceparent + 3, 32);
		a.trace_id = trace;
	}
	/* A record the [log] socket does not take is counted there
	 * (log_dropped); the action is done and the reply stands. */
	(void)adminaudit_emit(&a);
}
