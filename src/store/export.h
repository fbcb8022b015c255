/* export.h - reading the feed for evstorectl export: every event of the
 * chosen tenants and aggregate types, in feed order, streamed row by row
 * through COPY so that memory stays flat whatever the events' size.
 *
 * An export stops at the horizon it found when it started (export_horizon):
 * it reads only transactions below pg_snapshot_xmin then, so an event still
 * in flight is never skipped (it is the next export's, after the cursor),
 * and a store written to meanwhile does not keep the export going. It reads
 * in batches of `limit` events, each one COPY with its own snapshot, so no
 * snapshot is held for the whole export. */
#ifndef EVSTORE_EXPORT_H
#define EVSTORE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "store/feed_cursor.h"

struct db;

struct export_query {
	bool all_tenants;
	const char *tenant;            /* a canonical UUID, or NULL: the no-tenant space */
	const char *const *aggregate_types; /* n_aggregate_types names, checked by the caller */
	size_t n_aggregate_types;      /* 0: every type */
	struct feed_cursor after;      /* start after this event */
	uint64_t end_txid;             /* read transactions below this one (export_horizon) */
	int limit;                     /* events per batch, >= 1 */
};

/* Called for each event of a batch, in feed order: json (len bytes, no
 * newline, not NUL-terminated) is the event object, c its cursor. Both are
 * borrowed for the call. Returning false stops the batch. */
typedef bool (*export_row_fn)(void *arg, const char *json, size_t len, const struct feed_cursor *c);

/* Splits a comma-separated list of aggregate types ("Order, Invoice") into
 * *names (n of them; free with export_types_free), items trimmed, each
 * checked against the API's rule for aggregate_type. ES_EINVAL with err
 * naming the bad item, or when the list names none; ES_ENOMEM. */
enum es_status export_parse_types(const char *csv, char ***names, size_t *n, char *err,
				  size_t errlen) ES_MUST_CHECK;
void export_types_free(char **names, size_t n);

/* The export's end: the snapshot xmin now; everything below it is finished. */
enum es_status export_horizon(struct db *db, uint64_t *end_txid) ES_MUST_CHECK;

/* How many events the export would write (index scans only). */
enum es_status export_count(struct db *db, const struct export_query *q, int64_t *count) ES_MUST_CHECK;

/* Reads the next batch after q->after, calling row for each event; *n is
 * the number of events handed to row. A batch with fewer than q->limit
 * events was the last one. When row stops the batch, the rest of it is
 * read and dropped. ES_EINVAL for a bad query; ES_ENOMEM; other failures
 * as db_copy_out_next's. */
enum es_status export_batch(struct db *db, const struct export_query *q, export_row_fn row, void *arg,
			    int *n) ES_MUST_CHECK;

#endif
