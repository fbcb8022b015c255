/* app.c - one worker's state and the pipeline every request goes through. */
#include "buildconf.h"
#include "fcgi/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregate/aggdef.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "base/log.h"
#include "base/text.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "fcgi/http.h"
#include "fcgi/park.h"
#include "fcgi/router.h"
#include "fcgi/routes.h"

bool app_init(struct app *app, const char *config_path, char *err, size_t errlen)
{
	memset(app, 0, sizeof *app);
	app->waiter_sock = -1;
	if (config_path) {
		app->config_path = strdup(config_path);
		if (!app->config_path) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
	}
	if (!config_load(&app->cfg, app->config_path, err, errlen))
		goto fail;
	app->keys = auth_keys_load(&app->cfg, err, errlen);
	if (!app->keys)
		goto fail;
	if (aggdef_registry_load(app->cfg.aggregates.dir, &app->aggdefs, err, errlen) != ES_OK)
		goto fail;
	if (aggdef_registry_privacy(app->aggdefs, app->cfg.privacy.master_key_file,
				    app->cfg.privacy.previous_master_key_file, err, errlen) != ES_OK)
		goto fail;
	app->started_ms = time_mono_ms();
	return true;
fail:
	app_fini(app);
	return false;
}

bool app_open_db(struct app *app)
{
	db_free(app->db);
	db_free(app->read_db);
	app->read_db = NULL;
	app->listening = false;
	app->probe.checked_ms = 0;
	/* A new handle counts from zero. */
	memset(app->db_failures_counted, 0, sizeof app->db_failures_counted);
	app->db_reconnects_counted = 0;
	app->db = db_new(app->cfg.database.url ? app->cfg.database.url : "",
			 app->cfg.database.connect_timeout);
	if (!app->db)
		return false;
	db_set_application_name(app->db, "evstore-fcgi");
	db_set_statement_timeout(app->db, app->cfg.database.statement_timeout_ms);
	if (config_transaction_pooling(&app->cfg))
		db_set_transaction_pooling(app->db);
	if (app->cfg.database.read_url && *app->cfg.database.read_url) {
		app->read_db = db_new(app->cfg.database.read_url, app->cfg.database.connect_timeout);
		if (!app->read_db)
			return false;
		db_set_application_name(app->read_db, "evstore-fcgi reads");
		db_set_statement_timeout(app->read_db, app->cfg.database.statement_timeout_ms);
		if (config_transaction_pooling(&app->cfg))
			db_set_transaction_pooling(app->read_db);
	}
	return true;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool app_reload(struct app *app, char *err, size_t errlen)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct aggdef_registry *aggdefs;
	bool db_changed;

	if (!config_load(&cfg, app->config_path, err, errlen))
		return false;
	keys = auth_keys_load(&cfg, err, errlen);
	if (!keys) {
		config_free(&cfg);
		return false;
	}
	if (aggdef_registry_load(cfg.aggregates.dir, &aggdefs, err, errlen) != ES_OK ||
	    aggdef_registry_privacy(aggdefs, cfg.privacy.master_key_file,
				    cfg.privacy.previous_master_key_file, err, errlen) != ES_OK) {
		aggdef_registry_free(aggdefs);
		auth_keys_free(keys);
		config_free(&cfg);
		return false;
	}
	db_changed = !same_string(cfg.database.url, app->cfg.database.url) ||
		     !same_string(cfg.database.read_url, app->cfg.database.read_url) ||
		     !same_string(cfg.database.pooling, app->cfg.database.pooling) ||
		     cfg.database.connect_timeout != app->cfg.database.connect_timeout ||
		     cfg.database.statement_timeout_ms != app->cfg.database.statement_timeout_ms;
	auth_keys_free(app->keys);
	token_cache_clear(&app->tokens);
	aggdef_registry_free(app->aggdefs);
	config_free(&app->cfg);
	app->cfg = cfg;
	app->keys = keys;
	app->aggdefs = aggdefs;
	if (db_changed && app->db && !app_open_db(app)) {
		snprintf(err, errlen, "out of memory creating the database handle");
		return false;
	}
	return true;
}

/* One round of the probe: connected, and the schema version read. */
static bool probe_once(struct app *app, int *version)
{
	return db_ensure(app->db) == ES_OK && migrate_current_version(app->db, version) == ES_OK;
}

void app_probe_database(struct app *app)
{
	int64_t now = time_mono_ms();
	int version = 0;
	bool ok;

	if (app->probe.checked_ms != 0 && now - app->probe.checked_ms < APP_PROBE_TTL_MS)
		return;
	ok = probe_once(app, &version);
	/* A session the server ended (a restart, a failover) shows at its first
	 * statement: reconnect and ask again rather than say "not ready" for a
	 * whole TTL about a database that is back. */
	if (!ok && !db_connected(app->db))
		ok = probe_once(app, &version);
	app->probe.database_ok = ok;
	app->probe.schema_version = version;
	/* Stamped after the probe: a slow connect does not shorten the cache. */
	app->probe.checked_ms = time_mono_ms();
	if (app->probe.checked_ms == 0)
		app->probe.checked_ms = 1;
}

/* True, with the 503 schema-not-migrated reply set, when the database
 * answers but lacks migrations this build needs: the routes that use it
 * would fail on a missing table or column with a 500. The probe is the
 * readiness probe's, cached for APP_PROBE_TTL_MS. An unreachable database
 * is left to the route (503 unavailable). */
static bool schema_not_migrated(struct app *app, struct http_resp *resp)
{
	app_probe_database(app);
	if (!app->probe.database_ok || !migrate_schema_behind(app->probe.schema_version))
		return false;
	http_reply_problem(resp, HTTP_PROBLEM_SCHEMA_NOT_MIGRATED,
			   "the database schema is older than this evstore: " MIGRATE_ADVICE, NULL);
	return true;
}

bool app_stopping(const struct app *app)
{
	return app->stop && *app->stop;
}

void app_fini(struct app *app)
{
	db_free(app->db);
	db_free(app->read_db);
	auth_keys_free(app->keys);
	token_cache_clear(&app->tokens);
	aggdef_registry_free(app->aggdefs);
	config_free(&app->cfg);
	free(app->config_path);
	memset(app, 0, sizeof *app);
	app->waiter_sock = -1;
}

/* Authenticates the request when its route needs it and binds the tenant.
 * tenant_buf holds a tenant taken from X-Evstore-Tenant. On false the reply
 * (401, 403 or 400) is set. */
static bool authorize(struct app *app, struct route_ctx *ctx, struct auth_principal *who,
		      char tenant_buf[UUIDTEXT_LEN])
{
	const struct route *route = ctx->match->route;
	const struct http_req *req = ctx->req;
	const char *why = NULL;
	unsigned need = 0;

	switch (route->auth) {
	case ROUTE_OPEN:
		return true;
	case ROUTE_HEALTH:
		if (!app->cfg.http.health_requires_auth)
			return true;
		break;
	case ROUTE_READ:
		need = AUTH_SCOPE_READ;
		break;
	case ROUTE_WRITE:
		need = AUTH_SCOPE_WRITE;
		break;
	case ROUTE_ADMIN:
		need = AUTH_SCOPE_ADMIN;
		break;
	case ROUTE_METRICS:
		if (!app->cfg.metrics.require_auth)
			return true;
		need = AUTH_SCOPE_ADMIN;
		break;
	}

	switch (token_cache_verify(&app->tokens, app->keys, &app->cfg, req->authorization, time(NULL), who,
				   &why)) {
	case AUTH_OK:
		break;
	case AUTH_MISSING:
		http_reply_unauthorized(ctx->resp, NULL);
		return false;
	case AUTH_INVALID:
		http_reply_unauthorized(ctx->resp, why ? why : "invalid token");
		return false;
	case AUTH_FORBIDDEN:
		return http_reject(ctx->resp, HTTP_PROBLEM_FORBIDDEN, NULL,
				   "the token carries no tenant and this server requires one");
	}
	if ((who->scopes & need) != need)
		return http_reject(ctx->resp, HTTP_PROBLEM_FORBIDDEN, NULL,
				   "the token lacks the %s scope",
				   need == AUTH_SCOPE_READ ? "events:read" :
				   need == AUTH_SCOPE_WRITE ? "events:write" : "admin");
	ctx->who = who;

	if (req->tenant) {
		if (!uuidtext_parse(req->tenant, tenant_buf))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "X-Evstore-Tenant must be a UUID");
		/* The nil UUID is the store's "no tenant": no header names it. */
		if (uuidtext_is_nil(tenant_buf))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "X-Evstore-Tenant must not be the nil UUID");
		/* The token's tenant binds; only an admin without one may choose. */
		if (who->has_tenant && strcmp(tenant_buf, who->tenant) != 0)
			return http_reject(ctx->resp, HTTP_PROBLEM_FORBIDDEN, NULL,
					   "X-Evstore-Tenant differs from the token's tenant");
		if (!who->has_tenant && !(who->scopes & AUTH_SCOPE_ADMIN))
			return http_reject(ctx->resp, HTTP_PROBLEM_FORBIDDEN, NULL,
					   "only an admin token may choose a tenant with X-Evstore-Tenant");
		ctx->tenant = tenant_buf;
	} else if (who->has_tenant) {
		ctx->tenant = who->tenant;
	} else {
		/* No tenant: the no-tenant space, or every tenant for an admin's feed. */
		ctx->all_tenants = (who->scopes & AUTH_SCOPE_ADMIN) != 0;
	}
	return true;
}

/* Refuses, naming it, the first query parameter the route does not take:
 * a typo such as aggregate_typ must not silently mean "every type". */
static bool query_params_known(const struct route *route, const struct http_query *query,
			       struct http_resp *resp)
{
	for (size_t i = 0; i < query->n; i++) {
		const char *name = query->items[i].name;
		char quoted[80];

		if (route_takes_query_param(route, name))
			continue;
		text_quote(quoted, sizeof quoted, name, strlen(name));
		if (!route->query[0])
			return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "unknown query parameter %s: this route takes none", quoted);
		return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "unknown query parameter %s (known: %s)", quoted, route->query);
	}
	return true;
}

static bool route_has_body(const struct route *route)
{
	return strcmp(route->method, "POST") == 0 || strcmp(route->method, "PUT") == 0 ||
	       strcmp(route->method, "PATCH") == 0;
}

/* Runs the request through routing, authentication, the body and the
 * handler; leaves the reply in resp and returns the matched route (NULL:
 * none matched). */
static const struct route *dispatch(struct app *app, struct http_req *req, struct http_resp *resp,
				    int64_t started_us)
{
	struct route_match m;
	struct http_query query = { NULL, 0 };
	struct auth_principal who;
	char tenant_buf[UUIDTEXT_LEN];
	struct route_ctx ctx;
	const struct route *matched = NULL;
	char err[256];
	size_t n_routes;
	const struct route *table = routes_table(&n_routes);

	switch (router_match(table, n_routes, req->method, req->path, &m)) {
	case ROUTER_OK:
		break;
	case ROUTER_NOT_FOUND:
		http_reply_problem(resp, HTTP_PROBLEM_NOT_FOUND, "no resource at this path", NULL);
		goto out;
	case ROUTER_METHOD_NOT_ALLOWED:
		http_reply_problem(resp, HTTP_PROBLEM_METHOD_NOT_ALLOWED,
				   "this resource does not support the method", NULL);
		http_resp_header(resp, "Allow", "%s", m.allow);
		goto out;
	case ROUTER_BAD_REQUEST:
		http_reply_problem(resp, HTTP_PROBLEM_INVALID_REQUEST, m.detail, NULL);
		goto out;
	}
	matched = m.route;

	memset(&ctx, 0, sizeof ctx);
	memset(&who, 0, sizeof who);
	ctx.app = app;
	ctx.req = req;
	ctx.resp = resp;
	ctx.match = &m;
	ctx.query = &query;
	ctx.started_us = started_us;
	if (!authorize(app, &ctx, &who, tenant_buf))
		goto out;
	/* Probes and metrics answer about a database behind this build too. */
	if (m.route->auth != ROUTE_OPEN && m.route->auth != ROUTE_HEALTH &&
	    m.route->auth != ROUTE_METRICS && schema_not_migrated(app, resp))
		goto out;

	switch (http_query_parse(req->query, &query, err, sizeof err)) {
	case ES_OK:
		break;
	case ES_EINVAL:
		http_reply_problem(resp, HTTP_PROBLEM_INVALID_REQUEST, err, NULL);
		goto out;
	default:
		http_reply_status(resp, ES_ENOMEM, NULL);
		goto out;
	}
	if (!query_params_known(m.route, &query, resp))
		goto out;

	if (route_has_body(m.route)) {
		enum es_status st = http_req_read_body(req, app->cfg.http.max_body_bytes, err, sizeof err);

		if (st != ES_OK) {
			http_reply_status(resp, st, err);
			goto out;
		}
	}

	m.route->handler(&ctx);
out:
	http_query_free(&query);
	route_match_free(&m);
	return matched;
}

int64_t app_mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

_Static_assert(DB_FAILURE_KINDS <= POOLSTATS_DB_KINDS, "poolstats counts every db_failure kind");

/* Adds to the pool's counters what app's database handle counted since
 * the last request. */
static void count_db(struct app *app)
{
	unsigned long n;

	if (!app->pool || !app->db)
		return;
	for (int k = 0; k < DB_FAILURE_KINDS; k++) {
		n = db_failures(app->db, (enum db_failure)k);
		if (n > app->db_failures_counted[k])
			poolstats_add_db_failures(app->pool, app->pool_slot, k,
						  n - app->db_failures_counted[k]);
		app->db_failures_counted[k] = n;
	}
	n = db_reconnects(app->db);
	if (n > app->db_reconnects_counted)
		poolstats_add(app->pool, app->pool_slot, POOLSTATS_DB_RECONNECTS,
			      n - app->db_reconnects_counted);
	app->db_reconnects_counted = n;
}

void app_announce_commit(struct app *app)
{
	if (app->waiter_sock >= 0)
		park_poke(app->waiter_poke);
	else if (app->db)
		store_announce_commit(app->db);
}

void app_log_request(const char *request_id, const char *method, const char *route, int status,
		     int64_t started_us, const char *traceparent)
{
	json_object *f;
	double dur_ms;
	char dur[32];

	if (!log_enabled(LOG_INFO))
		return;
	f = json_object_new_object();
	dur_ms = (double)(app_mono_usec() - started_us) / 1000.0;
	/* Three decimals, not json-c's 17 significant digits. */
	snprintf(dur, sizeof dur, "%.3f", dur_ms);
	if (f) {
		json_object_object_add(f, "req_id", json_object_new_string(request_id));
		json_object_object_add(f, "method", json_object_new_string(method ? method : ""));
		json_object_object_add(f, "route", json_object_new_string(route ? route : "-"));
		json_object_object_add(f, "status", json_object_new_int(status));
		json_object_object_add(f, "dur_ms", json_object_new_double_s(dur_ms, dur));
		/* The trace id alone as well: the runner's records about the
		 * events this request wrote carry it (trace_id). */
		if (traceparent && strlen(traceparent) >= 35) {
			json_object_object_add(f, "traceparent", json_object_new_string(traceparent));
			json_object_object_add(f, "trace_id",
					       json_object_new_string_len(traceparent + 3, 32));
		}
	}
	log_json(LOG_INFO, "http_request", f);
}

void app_handle(struct app *app, const struct http_io *io)
{
	struct http_req req;
	struct http_resp resp;
	const struct route *route = NULL;
	size_t n_routes;
	const struct route *table = routes_table(&n_routes);
	int64_t t0 = app_mono_usec();

	http_resp_init(&resp, app->cfg.http.retry_after);
	if (http_req_init(&req, io, app->cfg.http.base_path) != ES_OK)
		http_reply_status(&resp, ES_ENOMEM, NULL);
	else
		route = dispatch(app, &req, &resp, t0);
	http_resp_write(&resp, &req);
	count_db(app);
	/* A parked long poll is counted and logged by the waiter when it is
	 * answered. */
	if (!resp.detached) {
		poolstats_record_request(app->pool, app->pool_slot,
					 route ? (int)(route - table) : POOLSTATS_UNMATCHED, req.method,
					 resp.status, app_mono_usec() - t0);
		app_log_request(req.request_id, req.method, route ? route->pattern : NULL, resp.status,
				t0, req.traceparent);
	}
	http_resp_free(&resp);
	http_req_free(&req);
}
