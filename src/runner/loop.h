/* loop.h - reading a subscription's part of the global feed: a page of
 * events after a cursor, only from transactions below the xid8 horizon
 * (so a late commit is never skipped), filtered by aggregate and event
 * type, in (transaction_id, position) order. */
#ifndef EVSTORE_RUNNER_LOOP_H
#define EVSTORE_RUNNER_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "store/feed_cursor.h"
#include "base/error.h"
#include "subs/subscription.h"
#include "runner/handler.h"

struct db;

struct page {
	PGresult *res;                /* owns the strings of ev */
	struct event *ev;             /* n events, feed order */
	size_t n;
	bool full;                    /* n == limit: more may be waiting */
	struct feed_cursor horizon;   /* everything below it has been read when !full */
};

/* Reads up to limit events after `after`. On ES_OK the caller releases the
 * page with page_free. ES_EUNAVAILABLE while the database is away. */
enum es_status loop_fetch(struct db *db, const struct subscription *c, const struct feed_cursor *after,
			  int limit, struct page *out) ES_MUST_CHECK;

/* Reads the events of the given positions (the DLQ's requeued entries). */
enum es_status loop_fetch_positions(struct db *db, const char *positions_array,
				    struct page *out) ES_MUST_CHECK;

void page_free(struct page *p);

/* The cursor of an event. */
struct feed_cursor loop_event_cursor(const struct event *e);

#endif
