/* routes.h - the route table and what a handler gets.
 *
 * Adding a route is one line in EVSTORE_ROUTES plus a handler in a
 * route_*.c file: the line declares the handler and puts it in the table
 * (routes.c) that router_match is given (in this order; the first route whose pattern
 * and method match wins). A handler always leaves a reply in ctx->resp: a
 * JSON body with http_resp_json() or a problem with http_reply_*(). */
#ifndef EVSTORE_FCGI_ROUTES_H
#define EVSTORE_FCGI_ROUTES_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "aggregate/aggregate.h"
#include "auth/auth.h"
#include "json/jschema.h"
#include "store/store.h"
#include "base/uuidtext.h"
#include "fcgi/http.h"
#include "fcgi/router.h"

struct app;
struct es_config;

/* The last column names the query parameters a route takes, separated by
 * spaces: any other is 400 (a typo must not mean "everything"). The health
 * probes ignore query strings, which monitors add to defeat caches. */
/*        method  pattern                               handler                auth   query */
#define EVSTORE_ROUTES(ROUTE) \
	ROUTE("GET",  "/health/live",                       route_health_live,     ROUTE_OPEN, NULL) \
	ROUTE("GET",  "/health/ready",                      route_health_ready,    ROUTE_OPEN, NULL) \
	ROUTE("GET",  "/health",                            route_health_summary,  ROUTE_HEALTH, NULL) \
	ROUTE("GET",  "/health/subscriptions/{name}",       route_health_subscription, ROUTE_HEALTH, NULL) \
	ROUTE("GET",  "/openapi.yaml",                      route_openapi,         ROUTE_OPEN, NULL) \
	ROUTE("GET",  "/metrics",                           route_metrics,         ROUTE_METRICS, "") \
	ROUTE("GET",  "/v1/subscriptions",                  route_subscriptions_list, ROUTE_ADMIN, "") \
	ROUTE("GET",  "/v1/subscriptions/{name}/dlq",       route_dlq_list,        ROUTE_ADMIN, "status limit after") \
	ROUTE("POST", "/v1/subscriptions/{name}/dlq/retry-all", route_dlq_retry_all, ROUTE_ADMIN, "") \
	ROUTE("POST", "/v1/subscriptions/{name}/dlq/{entry}/retry", route_dlq_retry, ROUTE_ADMIN, "") \
	ROUTE("POST", "/v1/aggregates/{type}/{id}/events",  route_events_append,   ROUTE_WRITE, "") \
	ROUTE("GET",  "/v1/aggregates/{type}/{id}/events",  route_events_read,     ROUTE_READ, \
	      "from_version limit direction") \
	ROUTE("GET",  "/v1/aggregates/{type}/{id}",         route_aggregate_state, ROUTE_READ, "at_version") \
	ROUTE("POST", "/v1/aggregates/{type}/{id}/commands/{command}", route_aggregate_command, ROUTE_WRITE, "") \
	ROUTE("GET",  "/v1/events",                         route_feed_read,       ROUTE_READ, \
	      "after limit aggregate_type event_type wait") \
	ROUTE("GET",  "/v1/subjects/{subject}",             route_subject_get,     ROUTE_ADMIN, "") \
	ROUTE("DELETE", "/v1/subjects/{subject}",           route_subject_delete,  ROUTE_ADMIN, "")

/* Everything a handler may use; all of it borrowed for the request. */
struct route_ctx {
	struct app *app;
	const struct http_req *req;
	struct http_resp *resp;
	const struct route_match *match;
	const struct http_query *query;
	const struct auth_principal *who;  /* NULL on routes that needed no token */
	const char *tenant;                /* lowercase UUID, or NULL: no tenant */
	bool all_tenants;                  /* an admin without a tenant (feed only) */
	int64_t started_us;                /* when the request arrived (app_mono_usec) */
};

#define ROUTE_DECLARE(method, pattern, handler, auth, query) void handler(struct route_ctx *ctx);
EVSTORE_ROUTES(ROUTE_DECLARE)

struct feed_cursor;

/* A feed page's 200 reply: {"events":[events],"next":cursor}. events holds
 * the events' JSON objects separated by commas. The feed route and the
 * waiter process answer with it. */
void feed_reply_page(struct http_resp *resp, const struct sbuf *events,
		     const struct feed_cursor *next);
#undef ROUTE_DECLARE

/* The table of EVSTORE_ROUTES, in order, for router_match; *count gets its
 * length. Static: never freed. */
const struct route *routes_table(size_t *count);

/* --- personal data (route_subjects.c) ---------------------------------------- */

/* Opens the personal data of a page of events for this request's token:
 * in clear with personal:read, else redacted; erased fields null either
 * way (privacy/view.h). epoch: the key epoch the page was read under
 * from the application's own database session, or NULL (read elsewhere,
 * or not known). A damaged envelope is logged and ES_EINTERNAL. */
enum es_status route_personal_view(struct route_ctx *ctx, struct sbuf *events,
				   const char *epoch) ES_MUST_CHECK;

/* --- the audit of admin actions (route_audit.c) --------------------------- */

struct admin_action;

/* Writes the audit record of the admin action this request took (call it
 * once the reply is set, whatever it is): action, target and counts from
 * action; the actor (the token's sub), tenant, request id, trace id and
 * the outcome (2xx ok, 404 not_found, 409 invalid_state, else failed)
 * from ctx. Borrows both. */
void route_audit(const struct route_ctx *ctx, const struct admin_action *action);

/* The index in that table of the route of method and pattern, or
 * POOLSTATS_UNMATCHED (poolstats.h) when there is none. */
int routes_index(const char *method, const char *pattern);

/* --- the append body, validated (route_events.c) -------------------------- */

struct append_request {
	json_object *body;             /* the parsed body; owns what events point to */
	enum store_expect expect;
	int64_t expected_version;      /* with STORE_EXPECT_EXACT */
	json_object *expected_as_sent; /* the expectation as the client wrote it
	                                * (body value or header version), for a 409 */
	struct store_new_event *events;
	size_t n_events;
};

/* Validates an append request: Content-Type, the JSON body against cfg's
 * limits, every event, and expected_version against If-Match and
 * If-None-Match. Missing event ids are generated (UUIDv7), a missing
 * occurred_at is now, and each event's metadata gains "request_id" (and
 * "traceparent" when the request carried a valid one); metadata that sets
 * either itself is refused (400). On failure fills resp with the problem (400, 413 or 415) and
 * returns false. out is always safe to free with append_request_free(). */
bool append_request_parse(const struct es_config *cfg, const struct http_req *req,
			  struct http_resp *resp, struct append_request *out);
void append_request_free(struct append_request *a);

/* --- the command body (route_aggregates.c) -------------------------------- */

/* Validates a command request: Content-Type, the JSON body against cfg's
 * limits, an object PostgreSQL can store. On success *body is a new
 * reference (the payload of the event the command emits); on failure it
 * fills resp with the problem (400, 413 or 415), returns false, and *body
 * is a reference to release too (NULL when nothing was parsed). */
bool command_request_parse(const struct es_config *cfg, const struct http_req *req,
			   struct http_resp *resp, json_object **body);

/* --- answers shared by the append and command routes (route_events.c) ---- */

/* Starts a JSON answer (status) about one stream: ETag "version" and the
 * body's opening {"aggregate_type":..,"aggregate_id":..,"version":N, for
 * the caller to go on with its own members and close. Borrows type, id. */
void reply_stream_begin(struct http_resp *resp, int status, const char *type, const char *id,
			int64_t version);

/* Sets metadata's "request_id" and "traceparent" from the request's
 * validated headers (traceparent only when a valid one came): the server
 * is their only source. Borrows req; metadata gains new strings. */
void metadata_stamp(json_object *metadata, const struct http_req *req);

/* 422 validation-failed with "violations": [{pointer, message}, ...]. */
void reply_violations(struct http_resp *resp, const struct jschema_violations *v);

/* Answers the outcome of an append of type/id: 201 (200 for a replay) with
 * the appended events, ETag and Location; 409 version-conflict (with
 * expected_as_sent, which may be NULL, and res->current_version), 409
 * duplicate-event-id, 409 invalid-state (naming why->guard), or the
 * problem st maps to. Borrows everything. */
void append_respond(struct route_ctx *ctx, const char *type, const char *id, enum es_status st,
		    const struct store_append_res *res, json_object *expected_as_sent,
		    const struct aggregate_refusal *why);

#endif
