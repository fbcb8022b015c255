/* route_health.c - liveness, readiness and the health summary (the
 * /health paths of doc/openapi.yaml). Liveness never touches the database;
 * readiness and the summary share one database probe cached for
 * APP_PROBE_TTL_MS. A pool that drains before it stops (SIGTERM, [http]
 * drain_delay) is not ready, so load balancers take the host out. */
#include "buildconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg/db.h"
#include "pg/migrate.h"
#include "subs/subhealth.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/poolstats.h"
#include "fcgi/routes.h"

/* The subscription side of the summary. With no subscription registered it
 * is all zero and running is false; the runner's status rows fill it. */
struct health_subscriptions {
	bool running;                  /* a runner heartbeat is fresh */
	long subscription_count;
	long healthy_count;
	long degraded_count;
	long unhealthy_count;
	int64_t total_events_processed;
	int64_t total_lag_events;
};

void route_health_live(struct route_ctx *ctx)
{
	http_resp_json(ctx->resp, 200);
	sbuf_puts(&ctx->resp->body, "{\"alive\":true,\"reason\":\"ok\"}");
}

/* Why the process cannot take traffic now, or NULL when it can; reason
 * holds it. */
static const char *not_ready_reason(struct app *app, char *reason, size_t len)
{
	int expected = migrate_expected_version();

	/* A draining pool is about to stop: the load balancer should stop
	 * sending, whatever the database says. */
	if (poolstats_draining(app->pool)) {
		snprintf(reason, len, "draining");
		return reason;
	}
	app_probe_database(app);
	if (!app->probe.database_ok) {
		snprintf(reason, len, "database unreachable");
		return reason;
	}
	if (app->probe.schema_version != expected) {
		snprintf(reason, len, "schema at version %d, this build expects %d",
			 app->probe.schema_version, expected);
		return reason;
	}
	return NULL;
}

void route_health_ready(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	char buf[96];
	const char *reason = not_ready_reason(ctx->app, buf, sizeof buf);

	http_resp_json(resp, reason ? 503 : 200);
	if (reason)
		http_resp_header(resp, "Retry-After", "%d", resp->retry_after);
	sbuf_printf(&resp->body, "{\"ready\":%s,\"reason\":", reason ? "false" : "true");
	sbuf_json_string(&resp->body, reason ? reason : "ok");
	sbuf_putc(&resp->body, '}');
}

/* healthy, degraded or unhealthy: the worst of the database and the
 * subscriptions. */
static const char *overall_status(bool database_ok, const struct health_subscriptions *subs)
{
	if (!database_ok || subs->unhealthy_count > 0)
		return "unhealthy";
	if (subs->degraded_count > 0)
		return "degraded";
	return "healthy";
}

/* Fills subs from the runner's status rows. A failed read leaves it empty:
 * the database part of the summary already says what is wrong. */
static void count_subscriptions(struct app *app, struct health_subscriptions *subs)
{
	struct subhealth_list list;

	if (subhealth_load(app->db, &app->cfg, NULL, &list) != ES_OK)
		return;
	subs->running = list.running;
	subs->subscription_count = (long)list.count;
	for (size_t i = 0; i < list.count; i++) {
		const struct subhealth *s = &list.items[i];

		subs->healthy_count += s->status == SUBHEALTH_HEALTHY;
		subs->degraded_count += s->status == SUBHEALTH_DEGRADED;
		subs->unhealthy_count += s->status == SUBHEALTH_UNHEALTHY;
		subs->total_events_processed += s->events_processed;
		subs->total_lag_events += s->lag_events;
	}
	subhealth_list_free(&list);
}

void route_health_summary(struct route_ctx *ctx)
{
	struct app *app = ctx->app;
	struct http_resp *resp = ctx->resp;
	struct health_subscriptions subs = { 0 };
	const char *status;

	app_probe_database(app);
	if (app->probe.database_ok)
		count_subscriptions(app, &subs);
	status = overall_status(app->probe.database_ok, &subs);
	if (strcmp(status, "unhealthy") == 0) {
		http_resp_json(resp, 503);
		http_resp_header(resp, "Retry-After", "%d", resp->retry_after);
	} else {
		http_resp_json(resp, 200);
	}
	sbuf_printf(&resp->body,
		    "{\"status\":\"%s\",\"details\":{\"database\":\"%s\",\"running\":%s,"
		    "\"subscription_count\":%ld,\"healthy_count\":%ld,\"degraded_count\":%ld,"
		    "\"unhealthy_count\":%ld,\"total_events_processed\":%" PRId64 ","
		    "\"total_lag_events\":%" PRId64 ",\"uptime_seconds\":%" PRId64 "}}",
		    status, app->probe.database_ok ? "ok" : "unreachable",
		    subs.running ? "true" : "false", subs.subscription_count, subs.healthy_count,
		    subs.degraded_count, subs.unhealthy_count, subs.total_events_processed,
		    subs.total_lag_events, (time_mono_ms() - app->started_ms) / 1000);
}

/* GET /health/subscriptions/{name}: one subscription, 200 when healthy or
 * degraded, 503 when unhealthy. An unknown name answers the
 * {"error": "Subscription not found"} shape load-balancer scripts written
 * for the seed expect, not a problem document. */
void route_health_subscription(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	struct subhealth_list list;
	enum es_status rc;

	rc = subhealth_load(ctx->app->db, &ctx->app->cfg, route_param(ctx->match, "name"), &list);
	if (rc != ES_OK) {
		http_reply_status(resp, rc, NULL);
		return;
	}
	if (list.count == 0) {
		http_resp_json(resp, 404);
		sbuf_puts(&resp->body, "{\"error\":\"Subscription not found\"}");
	} else {
		http_resp_json(resp, list.items[0].status == SUBHEALTH_UNHEALTHY ? 503 : 200);
		subhealth_render(&resp->body, &list.items[0]);
	}
	subhealth_list_free(&list);
}

/* GET /v1/subscriptions (admin): every subscription's health object. */
void route_subscriptions_list(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;
	struct subhealth_list list;
	enum es_status rc;

	rc = subhealth_load(ctx->app->db, &ctx->app->cfg, NULL, &list);
	if (rc != ES_OK) {
		http_reply_status(resp, rc, NULL);
		return;
	}
	http_resp_json(resp, 200);
	sbuf_puts(&resp->body, "{\"subscriptions\":[");
	for (size_t i = 0; i < list.count; i++) {
		if (i)
			sbuf_putc(&resp->body, ',');
		subhealth_render(&resp->body, &list.items[i]);
	}
	sbuf_puts(&resp->body, "]}");
	subhealth_list_free(&list);
}
