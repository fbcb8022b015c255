/* feed.h - the global feed: events of the transactions below the xid8
 * horizon, after a cursor, in (transaction_id, position) order, filtered
 * by aggregate and event type, for every tenant or one. One statement
 * serves GET /v1/events (rendered as JSON) and the runner's subscriptions
 * (a page of events and the horizon); the runner also reads parked events
 * back by position, and evstorectl rebuild asks how much a replay has to
 * get through.
 *
 * Why the horizon: positions are drawn when a row is inserted, not when its
 * transaction commits, so a reader that moved past position 11 while 10
 * was still uncommitted would never see 10. Below pg_snapshot_xmin every
 * transaction has finished: nothing can appear behind the cursor. A
 * transaction left open anywhere holds every reader back until it ends:
 * late, never lost. */
#ifndef EVSTORE_FEED_H
#define EVSTORE_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/sbuf.h"
#include "base/uuidtext.h"
#include "store/feed_cursor.h"

struct db;

/* One event read from the feed. The strings are borrowed from the page
 * that holds them (valid until feed_page_free). */
struct event {
	const char *json;             /* what readers get (event_render.h) */
	const char *txid;             /* transaction_id as text */
	uint64_t txid_num;
	int64_t position;
	const char *event_id;
	const char *event_type;
	const char *aggregate_type;
	const char *aggregate_id;
	const char *tenant_id;        /* "" when none */
	int64_t version;              /* the event's version in its stream */
};

/* What to read. */
struct feed_query {
	bool all_tenants;             /* every tenant (the runner, an admin without one) */
	const char *tenant;           /* otherwise this tenant; NULL: the no-tenant space */
	struct feed_cursor after;
	int limit;                    /* >= 1 */
	long max_bytes;               /* > 0: the page stops before its events' JSON
				       * passes this many bytes (it holds at least
				       * one); 0: no byte budget */
	const char *aggregate_types;  /* PostgreSQL text[] literal, or NULL: any */
	const char *event_types;      /* idem */
	bool key_epoch;               /* read the key epoch with the page (a reader of
				       * personal data: keyring_fetch) */
};

struct feed_page {
	struct event *ev;             /* n events, feed order */
	size_t n;
	bool full;                    /* n == limit, or cut by max_bytes: more may be waiting */
	struct feed_cursor horizon;   /* (xmin - 1, INT64_MAX): the feed is complete below it */
	char key_epoch[UUIDTEXT_LEN]; /* of the page's snapshot (sql/010) when asked for, else "" */
	void *result_;                /* the query result the strings live in */
	struct sbuf json_;            /* and the events' JSON */
};

/* Reads up to q->limit events after q->after. ES_EINVAL when the limit is
 * below 1; ES_EUNAVAILABLE while the database is away. The page has the
 * horizon even when it holds no event. Release the page with
 * feed_page_free (also safe after a failure). Borrows q. */
enum es_status feed_read(struct db *db, const struct feed_query *q,
			 struct feed_page *out) ES_MUST_CHECK;

/* Reads the events at positions[0..n) (any tenant, no horizon: they were
 * read once already), in feed order; missing positions are left out. The
 * page's horizon is zero. */
enum es_status feed_read_positions(struct db *db, const int64_t *positions, size_t n,
				   struct feed_page *out) ES_MUST_CHECK;

void feed_page_free(struct feed_page *p);

/* The cursor of an event. */
struct feed_cursor feed_event_cursor(const struct event *e);

/* A request of GET /v1/events: as struct feed_query, but the filters are
 * comma-separated names as the client gave them (items trimmed; a list
 * naming nothing, "" or ",", does not filter). */
struct feed_request {
	bool all_tenants;
	const char *tenant;
	struct feed_cursor after;
	int limit;
	long max_bytes;               /* as in struct feed_query */
	const char *aggregate_types;  /* comma-separated, or NULL */
	const char *event_types;      /* comma-separated, or NULL */
	bool key_epoch;               /* as in struct feed_query */
};

/* Reads the next page for an HTTP client and appends its events to out as
 * JSON objects separated by commas (no brackets). *next is the cursor after
 * the last event returned, or q->after on an empty page; key_epoch (NULL,
 * or UUIDTEXT_LEN bytes) gets the page's key epoch. Errors as for
 * feed_read; ES_ENOMEM when out or a filter could not grow. */
enum es_status feed_read_json(struct db *db, const struct feed_request *q, struct sbuf *out,
			      size_t *count, struct feed_cursor *next, char *key_epoch) ES_MUST_CHECK;

/* Where a reader starts: feed_horizon, after everything committed now (it
 * gets what commits from then on); feed_cursor_before, just before the
 * first event at or after position, or the horizon when there is none. */
enum es_status feed_horizon(struct db *db, struct feed_cursor *out) ES_MUST_CHECK;
enum es_status feed_cursor_before(struct db *db, int64_t position,
				  struct feed_cursor *out) ES_MUST_CHECK;

/* What a replay from the start of the feed has to get through: the events
 * committed before now (below the horizon) that pass the filters (text[]
 * literals or NULL, as in struct feed_query): how many, and the cursor of
 * the last one (*have_last false when there is none). Both from one
 * snapshot. */
enum es_status feed_backlog(struct db *db, const char *aggregate_types, const char *event_types,
			    int64_t *count, struct feed_cursor *last, bool *have_last) ES_MUST_CHECK;

#endif
