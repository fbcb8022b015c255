/* snapshot.h - the owner of evstore.snapshots (sql/002): saving one,
 * finding when one is due, dropping them. Folding a stream to save it is
 * aggregate_snapshot() (aggregate.h), which sits above this module.
 * A snapshot records the definition's schema_version and rules_hash; an
 * older version never replaces a newer one (evstore.snapshot_put). */
#ifndef EVSTORE_SNAPSHOT_H
#define EVSTORE_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include "aggregate/aggdef.h"
#include "base/error.h"

struct db;

/* The head of reading a stream's state, in one statement so that all of it
 * comes from one snapshot of the database: a row of kind 0 (exactly one
 * when the stream exists: 0, stream version, -, the snapshot's state, -,
 * its version or NULL) for the newest snapshot usable by def (its
 * schema_version and rules_hash, at or below upto; def NULL: none is), then
 * rows of kind 1 (1, version, event type, payload, metadata or NULL unless
 * with_metadata, -) for the first limit events after it up to upto. On
 * ES_OK *out is the result; the caller PQclear()s it. Borrows everything. */
enum es_status snapshot_read_head(struct db *db, const struct aggdef *def, const char *tenant,
				  const char *aggregate_type, const char *aggregate_id,
				  int64_t upto, bool with_metadata, int limit,
				  PGresult **out) ES_MUST_CHECK;

/* Stores state (an object) as the snapshot of one stream at version.
 * *written (may be NULL) says whether the row was written (false: a newer
 * or equal snapshot by the same rules is stored). tenant NULL is no
 * tenant. Borrows everything. */
enum es_status snapshot_save(struct db *db, const struct aggdef *def, const char *tenant,
			     const char *aggregate_id, int64_t version, json_object *state,
			     bool *written) ES_MUST_CHECK;

/* Deletes every snapshot of aggregate_type; *deleted (may be NULL) gets
 * the count. */
enum es_status snapshot_invalidate(struct db *db, const char *aggregate_type,
				   int64_t *deleted) ES_MUST_CHECK;

/* True when an append moving a stream from old_version to new_version
 * crosses a multiple of def's threshold (any mode). */
bool snapshot_due(const struct aggdef *def, int64_t old_version, int64_t new_version);

struct verify_report;
/* evstorectl verify: reports each snapshot ahead of its stream (a version
 * above the streams row's, or no streams row at all), up to
 * r->max_problems in all (store/verify.h). */
enum es_status snapshot_verify(struct db *db, struct verify_report *r) ES_MUST_CHECK;

#endif
