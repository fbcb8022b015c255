/* rebuild.h - resetting an sql projection for a replay (evstorectl
 * rebuild): one transaction over the checkpoints, the read model and the
 * dead-letter queue, so it sits above the modules that own them. */
#ifndef EVSTORE_SUBS_REBUILD_H
#define EVSTORE_SUBS_REBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "store/feed_cursor.h"

struct db;
struct subscription;
struct sqlfile_section;

/* What a reset did and left for the runner to replay. */
struct rebuild_reset {
	int64_t dlq_cleared;          /* dead-letter entries deleted */
	int64_t events;               /* events to replay (feed_backlog) */
	bool have_last;
	struct feed_cursor last;      /* the last of them, when have_last */
};

/* Resets c in one transaction: locks c's checkpoint rows, runs truncate's
 * statements (the projection file's "-- truncate" section, which empties
 * the read model), deletes c's dead-letter entries (the replay handles
 * those events again; retrying a stale entry afterwards would apply its
 * event twice), puts partitions 0 .. c->partitions - 1 back to the start
 * of the feed (rows created when missing) and measures the backlog. On
 * failure nothing changed and err says why ("SQL_FILE: truncate: message"
 * when a truncate statement failed). A transaction PostgreSQL cancels to
 * break a deadlock with a runner's batch is tried again, a few times.
 * Borrows c and truncate. */
enum es_status rebuild_reset(struct db *db, const struct subscription *c,
			     const struct sqlfile_section *truncate, struct rebuild_reset *out,
			     char *err, size_t errlen) ES_MUST_CHECK;

#endif
