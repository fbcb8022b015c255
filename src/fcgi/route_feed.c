/* route_feed.c - GET /v1/events: the global feed, with long polling. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/feed_cursor.h"
#include "pg/db.h"
#include "store/feed.h"
#include "store/store.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/park.h"
#include "fcgi/replica.h"
#include "fcgi/routes.h"
#include "privacy/masterkey.h"

/* A long poll re-reads the feed at least this often, so an event whose
 * notification was lost, or that was still above the xmin horizon when it
 * was announced, is found by polling. */
#define FEED_POLL_MS 250
/* A pool's worker waits at most this long itself when the waiter process
 * cannot take a long poll (it is restarting, or its queue is full): the
 * client polls again, and the worker is free for everyone else. */
#define FEED_FALLBACK_WAIT_MS 1000

/* Checks a comma-separated list of names ("Order,Invoice"). */
static bool name_list_valid(const char *list, size_t max_len)
{
	char name[256];

	for (const char *p = list;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 0 || len >= sizeof name)
			return false;
		memcpy(name, p, len);
		name[len] = '\0';
		if (!router_name_valid(name, max_len))
			return false;
		if (!end)
			return true;
		p = end + 1;
	}
}

/* Fills q and *wait_s from the query string, or sets the 400. */
static bool feed_parse_query(struct route_ctx *ctx, struct feed_request *q, int64_t *wait_s)
{
	const struct es_config *cfg = &ctx->app->cfg;
	const struct http_query *qs = ctx->query;
	const char *after, *limit, *types, *event_types, *wait;
	int64_t v;

	if (!http_query_single(qs, ctx->resp, "after", &after) ||
	    !http_query_single(qs, ctx->resp, "limit", &limit) ||
	    !http_query_single(qs, ctx->resp, "aggregate_type", &types) ||
	    !http_query_single(qs, ctx->resp, "event_type", &event_types) ||
	    !http_query_single(qs, ctx->resp, "wait", &wait))
		return false;

	if (!feed_cursor_decode(after ? after : "", &q->after))
		return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
				   "after must be a cursor returned as next by this feed");
	q->limit = cfg->http.default_page;
	if (limit) {
		if (!http_parse_int64(limit, 1, INT64_MAX, &v))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "limit must be an integer >= 1");
		q->limit = v > cfg->http.max_page ? cfg->http.max_page : (int)v;
	}
	if (types && *types) {
		if (!name_list_valid(types, ROUTER_AGGREGATE_TYPE_MAX))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "aggregate_type must be a comma-separated list of "
					   "names matching ^[A-Za-z][A-Za-z0-9_.-]{0,63}$");
		q->aggregate_types = types;
	}
	if (event_types && *event_types) {
		if (!name_list_valid(event_types, ROUTER_EVENT_TYPE_MAX))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "event_type must be a comma-separated list of "
					   "names matching ^[A-Za-z][A-Za-z0-9_.-]{0,127}$");
		q->event_types = event_types;
	}
	*wait_s = 0;
	if (wait) {
		if (!http_parse_int64(wait, 0, INT64_MAX, &v))
			return http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
					   "wait must be an integer number of seconds >= 0");
		*wait_s = v > cfg->http.max_wait ? cfg->http.max_wait : v;
	}
	q->max_bytes = cfg->http.max_page_bytes;
	q->all_tenants = ctx->all_tenants;
	q->tenant = ctx->tenant;
	return true;
}

/* Reads one page into events (emptied first), noting in *read_from
 * which database it came from, and in key_epoch its key epoch. */
static enum es_status feed_page(struct db *db, const struct feed_request *q,
				struct sbuf *events, size_t *count, struct feed_cursor *next,
				struct db **read_from, char key_epoch[UUIDTEXT_LEN])
{
	sbuf_reset(events);
	*count = 0;
	*read_from = db;
	return feed_read_json(db, q, events, count, next, key_epoch);
}

void feed_reply_page(struct http_resp *resp, const struct sbuf *events,
		     const struct feed_cursor *next)
{
	char cursor[FEED_CURSOR_LEN];

	feed_cursor_encode(next, cursor);
	http_resp_json(resp, 200);
	sbuf_puts(&resp->body, "{\"events\":[");
	sbuf_append(&resp->body, events->data ? events->data : "", events->len);
	sbuf_puts(&resp->body, "],\"next\":");
	sbuf_json_string(&resp->body, cursor);
	sbuf_putc(&resp->body, '}');
}

/* Hands the long poll to the pool's waiter process; true when it took the
 * connection (this worker then forgets the request). */
static bool feed_park(struct route_ctx *ctx, const struct feed_request *q, int64_t deadline_ms)
{
	const struct http_io *io = ctx->req->io;
	struct park_ticket t;
	int fd;

	/* The waiter answers with a body; a HEAD waits here (briefly). */
	if (ctx->app->waiter_sock < 0 || !io->connection || !io->detach || ctx->req->head)
		return false;
	memset(&t, 0, sizeof t);
	fd = io->connection(io->ctx, &t.fcgi_id);
	if (fd < 0)
		return false;
	t.deadline_ms = deadline_ms;
	t.started_us = ctx->started_us;
	snprintf(t.request_id, sizeof t.request_id, "%s", ctx->req->request_id);
	snprintf(t.traceparent, sizeof t.traceparent, "%s",
		 ctx->req->traceparent ? ctx->req->traceparent : "");
	t.q = *q;
	t.personal_clear = ctx->who && (ctx->who->scopes & AUTH_SCOPE_PERSONAL_READ);
	t.headers = ctx->resp->headers.len ? ctx->resp->headers.data : NULL;
	if (park_send(ctx->app->waiter_sock, &t, fd) != ES_OK)
		return false;
	io->detach(io->ctx);
	ctx->resp->detached = true;
	return true;
}

void route_feed_read(struct route_ctx *ctx)
{
	struct app *app = ctx->app;
	struct http_resp *resp = ctx->resp;
	struct feed_request q;
	struct db *db, *read_from = NULL;
	struct sbuf events = SBUF_INIT;
	struct feed_cursor next;
	char epoch[UUIDTEXT_LEN] = "";
	size_t count = 0;
	int64_t wait_s, deadline;
	enum es_status st;

	memset(&q, 0, sizeof q);
	if (!feed_parse_query(ctx, &q, &wait_s) || !(db = replica_for_read(ctx)))
		goto out;
	/* the key epoch with each page, for cached keys, where there can be keys */
	q.key_epoch = masterkey_current() != NULL;

	/* The first page from the standby when there is one; a long poll then
	 * waits on the primary, where commits are announced. */
	st = db_ensure(db);
	if (st == ES_OK)
		st = feed_page(db, &q, &events, &count, &next, &read_from, epoch);
	if (replica_failed_over(ctx, &db, st))
		st = feed_page(db, &q, &events, &count, &next, &read_from, epoch);
	if (st != ES_OK)
		goto fail;

	if (count == 0 && wait_s > 0) {
		deadline = time_mono_ms() + wait_s * 1000;
		if (feed_park(ctx, &q, deadline))
			goto out;
		/* No waiter process (CGI, a process the web server started), or
		 * it could not take the request: wait here. In a pool that is a
		 * worker held, so only briefly. */
		if (app->waiter_sock >= 0 && deadline > time_mono_ms() + FEED_FALLBACK_WAIT_MS)
			deadline = time_mono_ms() + FEED_FALLBACK_WAIT_MS;
		/* LISTEN once per worker; db re-issues it after a reconnect. If it
		 * fails the poll below still finds new events. */
		if (!app->listening && db_listen(app->db, STORE_NOTIFY_CHANNEL) == ES_OK)
			app->listening = true;
		db_drain_notify(app->db);
		/* An event committed between the first read and LISTEN. */
		st = feed_page(app->db, &q, &events, &count, &next, &read_from, epoch);
		poolstats_wait_begin(app->pool, app->pool_slot);
		while (st == ES_OK && count == 0 && !app_stopping(app)) {
			int64_t left = deadline - time_mono_ms();

			if (left <= 0)
				break;
			db_wait_notify(app->db, (int)(left < FEED_POLL_MS ? left : FEED_POLL_MS));
			st = feed_page(app->db, &q, &events, &count, &next, &read_from, epoch);
		}
		poolstats_wait_end(app->pool, app->pool_slot);
		if (st != ES_OK)
			goto fail;
	}

	/* a replica's epoch may lag the keys' table: no cached keys then */
	st = route_personal_view(ctx, &events, read_from == app->db && epoch[0] ? epoch : NULL);
	if (st != ES_OK)
		goto fail;
	feed_reply_page(resp, &events, &next);
	goto out;
fail:
	http_reply_status(resp, st, st == ES_EINVAL ? "the feed query was refused" : NULL);
out:
	sbuf_free(&events);
}
