/* route_metrics.c - GET /metrics: the Prometheus text exposition format
 * 0.0.4 (doc/metrics.md lists every metric and what each mode sums).
 *
 * Three sources, each cheap, so a scrape costs a worker about a
 * millisecond: the pool's shared counters (poolstats.h: every worker's
 * slot summed, plus the supervisor's restarts), two prepared statements
 * (store_gauges_read: index and catalogue lookups; substatus_gauges_read:
 * the status rows, a row per subscription partition), and this build.
 * With the database away the process part still answers, and
 * evstore_database_up says 0. A process outside any pool (plain CGI)
 * has no counters worth reporting: only the database part is there. */
#include "buildconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "base/log.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "store/store.h"
#include "subs/substatus.h"
#include "fcgi/app.h"
#include "fcgi/poolstats.h"
#include "fcgi/routes.h"

#define HTTP_CT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

/* A subscription partition's possible states (sql/003_subscriptions.sql):
 * each gets a 0 or 1 sample, so a query can select one. */
static const char *const sub_states[] = {
	"starting", "catching_up", "live", "paused", "stopped", "error"
};

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the text format escapes it: backslash, quote, newline. */
static void label_value(struct sbuf *b, const char *v)
{
	sbuf_putc(b, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			sbuf_putc(b, '\\');
		if (*p == '\n')
			sbuf_puts(b, "\\n");
		else
			sbuf_putc(b, *p);
	}
	sbuf_putc(b, '"');
}

static void counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "counter", help);
	sbuf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct sbuf *b, const char *name, const char *help, int64_t v)
{
	family(b, name, "gauge", help);
	sbuf_printf(b, "%s %" PRId64 "\n", name, v);
}

static const char *route_label(int i)
{
	size_t n;
	const struct route *table = routes_table(&n);

	return i >= 0 && (size_t)i < n ? table[i].pattern : "unmatched";
}

static void requests_by_code(struct sbuf *b, const struct poolstats_totals *t)
{
	family(b, "evstore_http_requests_total", "counter",
	       "Requests answered, by route template, method and status code.");
	for (int r = 0; r < POOLSTATS_ROUTES; r++)
		for (int m = 0; m < POOLSTATS_METHODS; m++)
			for (int c = 0; c < POOLSTATS_CODES; c++) {
				if (!t->by_code[r][m][c])
					continue;
				sbuf_puts(b, "evstore_http_requests_total{route=");
				label_value(b, route_label(r));
				sbuf_printf(b, ",method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
					    poolstats_method_name(m), poolstats_code_name(c),
					    t->by_code[r][m][c]);
			}
}

static void latency(struct sbuf *b, const struct poolstats_totals *t)
{
	family(b, "evstore_http_request_duration_seconds", "histogram",
	       "Time from reading a request to its response written, by route template.");
	for (int r = 0; r < POOLSTATS_ROUTES; r++) {
		uint64_t cumulative = 0;

		for (int k = 0; k < POOLSTATS_BUCKETS; k++)
			cumulative += t->latency[r][k];
		if (!cumulative)
			continue;
		cumulative = 0;
		for (int k = 0; k < POOLSTATS_BUCKETS; k++) {
			cumulative += t->latency[r][k];
			sbuf_puts(b, "evstore_http_request_duration_seconds_bucket{route=");
			label_value(b, route_label(r));
			sbuf_printf(b, ",le=\"%s\"} %" PRIu64 "\n", poolstats_bucket_bound(k), cumulative);
		}
		sbuf_puts(b, "evstore_http_request_duration_seconds_sum{route=");
		label_value(b, route_label(r));
		sbuf_printf(b, "} %.6f\n", (double)t->latency_usec[r] / 1e6);
		sbuf_puts(b, "evstore_http_request_duration_seconds_count{route=");
		label_value(b, route_label(r));
		sbuf_printf(b, "} %" PRIu64 "\n", cumulative);
	}
}

/* The counters and gauges of every process of the pool (or of the one
 * process serving alone). */
static void process_metrics(struct sbuf *b, const struct poolstats_totals *t)
{
	requests_by_code(b, t);
	latency(b, t);
	counter(b, "evstore_events_appended_total",
		"Events written by appends and commands (replays write none).",
		t->counter[POOLSTATS_EVENTS_APPENDED]);
	counter(b, "evstore_append_conflicts_total",
		"Appends and commands refused with 409 version-conflict.",
		t->counter[POOLSTATS_APPEND_CONFLICTS]);
	counter(b, "evstore_append_replays_total",
		"Appends and commands recognised as idempotent replays (200, nothing written).",
		t->counter[POOLSTATS_APPEND_REPLAYS]);
	counter(b, "evstore_validation_failures_total",
		"Appends and commands refused with 422 validation-failed.",
		t->counter[POOLSTATS_VALIDATION_FAILURES]);
	family(b, "evstore_db_errors_total", "counter",
	       "Failed database calls by kind (SQLSTATE class, lost session, failed connection attempt).");
	for (int k = 0; k < DB_FAILURE_KINDS; k++)
		sbuf_printf(b, "evstore_db_errors_total{kind=\"%s\"} %" PRIu64 "\n",
			    db_failure_name((enum db_failure)k), t->db_failures[k]);
	counter(b, "evstore_db_reconnects_total",
		"Database sessions opened after a worker's first.", t->counter[POOLSTATS_DB_RECONNECTS]);
	counter(b, "evstore_worker_restarts_total",
		"Workers (or the waiter process) that died and were replaced by the pool's supervisor.",
		t->worker_restarts);
	gauge(b, "evstore_workers", "Worker processes running.", t->workers);
	gauge(b, "evstore_workers_busy",
	      "Workers inside a request now (the one answering this scrape included).", t->busy);
	gauge(b, "evstore_longpoll_waiters",
	      "Long polls of GET /v1/events waiting now (parked in the waiter or in a worker).",
	      t->waiters);
}

static void store_metrics(struct sbuf *b, const struct store_gauges *g)
{
	gauge(b, "evstore_store_highest_position", "Position of the newest event stored (0: none).",
	      g->highest_position);
	gauge(b, "evstore_store_events",
	      "Events stored, estimated from table statistics (ANALYZE's density times the pages now).",
	      g->events_estimate);
	family(b, "evstore_feed_horizon_age_seconds", "gauge",
	       "How long the oldest committed event the feed still holds back has waited behind an "
	       "open transaction (0: nothing held back).");
	sbuf_printf(b, "evstore_feed_horizon_age_seconds %.3f\n", g->horizon_age_seconds);
}

/* One sample per partition: name{subscription="s",partition="0"} value. */
static void sub_sample(struct sbuf *b, const char *name, const struct substatus_gauge *g)
{
	sbuf_printf(b, "%s{subscription=", name);
	label_value(b, g->subscription);
	sbuf_printf(b, ",partition=\"%d\"} ", g->partition);
}

/* One family of a 64-bit field of every partition's gauges (its offset in
 * struct substatus_gauge). */
static void sub_family(struct sbuf *b, const struct substatus_gauges *l, const char *name,
		       const char *type, const char *help, size_t field)
{
	family(b, name, type, help);
	for (size_t i = 0; i < l->count; i++) {
		int64_t v;

		memcpy(&v, (const char *)&l->items[i] + field, sizeof v);
		sub_sample(b, name, &l->items[i]);
		sbuf_printf(b, "%" PRId64 "\n", v);
	}
}

static void subscription_metrics(struct sbuf *b, const struct substatus_gauges *l)
{
	sub_family(b, l, "evstore_subscription_events_processed_total", "counter",
		   "Events a partition handled since its runner started it.",
		   offsetof(struct substatus_gauge, events_processed));
	sub_family(b, l, "evstore_subscription_events_failed_total", "counter",
		   "Handler failures (every failed attempt) since its runner started the partition.",
		   offsetof(struct substatus_gauge, events_failed));
	sub_family(b, l, "evstore_subscription_lag_events", "gauge",
		   "Events between the partition's checkpoint and the newest position, at its last heartbeat.",
		   offsetof(struct substatus_gauge, lag_events));
	sub_family(b, l, "evstore_subscription_dlq_entries", "gauge",
		   "Dead-lettered events not resolved (failed or retrying), counted up to "
		   "10000 per partition.",
		   offsetof(struct substatus_gauge, dlq_entries));
	family(b, "evstore_subscription_heartbeat_age_seconds", "gauge",
	       "Seconds since the partition's runner last wrote its status row.");
	for (size_t i = 0; i < l->count; i++) {
		sub_sample(b, "evstore_subscription_heartbeat_age_seconds", &l->items[i]);
		sbuf_printf(b, "%.3f\n", l->items[i].heartbeat_age_seconds);
	}
	family(b, "evstore_subscription_state", "gauge",
	       "The partition's state: 1 for the one it is in, 0 for the others.");
	for (size_t i = 0; i < l->count; i++)
		for (size_t s = 0; s < sizeof sub_states / sizeof sub_states[0]; s++) {
			sbuf_puts(b, "evstore_subscription_state{subscription=");
			label_value(b, l->items[i].subscription);
			sbuf_printf(b, ",partition=\"%d\",state=\"%s\"} %d\n", l->items[i].partition,
				    sub_states[s], strcmp(l->items[i].state, sub_states[s]) == 0);
		}
}

/* The store's and the subscriptions' numbers; false (logged) when the
 * database did not answer them. */
static bool database_metrics(struct app *app, struct sbuf *b)
{
	struct store_gauges g;
	struct substatus_gauges l;
	enum es_status rc;

	rc = store_gauges_read(app->db, &g);
	if (rc == ES_OK) {
		store_metrics(b, &g);
		rc = substatus_gauges_read(app->db, &l);
		if (rc == ES_OK)
			subscription_metrics(b, &l);
		substatus_gauges_free(&l);
	}
	if (rc != ES_OK)
		log_kv(LOG_WARNING, "metrics_database_failed", "error", es_status_name(rc), (const char *)NULL);
	return rc == ES_OK;
}

void route_metrics(struct route_ctx *ctx)
{
	struct app *app = ctx->app;
	struct http_resp *resp = ctx->resp;
	struct sbuf *b = &resp->body;
	struct poolstats_totals *t = NULL;
	bool up;

	if (app->pool) {
		t = malloc(sizeof *t);
		if (!t) {
			http_reply_status(resp, ES_ENOMEM, NULL);
			return;
		}
		poolstats_sum(app->pool, t);
		process_metrics(b, t);
		free(t);
	}
	/* No probe first: a round trip saved. A database that is away fails
	 * fast while the connection is in its reconnect backoff. */
	up = db_ensure(app->db) == ES_OK && database_metrics(app, b);
	gauge(b, "evstore_database_up",
	      "1 when the database answered this scrape's queries, else 0.", up);
	family(b, "evstore_build_info", "gauge",
	       "This build: its version and the schema version it expects; always 1.");
	sbuf_printf(b, "evstore_build_info{version=\"%s\",schema=\"%d\"} 1\n", PACKAGE_VERSION,
		    migrate_expected_version());
	if (b->failed) {
		http_reply_status(resp, ES_ENOMEM, NULL);
		return;
	}
	resp->status = 200;
	resp->content_type = HTTP_CT_PROMETHEUS;
}
