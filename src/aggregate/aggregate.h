/* aggregate.h - an aggregate's state read from the store (the newest usable
 * snapshot plus the events after it, folded) and the guarded append that
 * checks `when` guards against the state at the version it commits on. */
#ifndef EVSTORE_AGGREGATE_H
#define EVSTORE_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "aggregate/aggdef.h"
#include "aggregate/snapshot.h"
#include "base/error.h"
#include "store/store.h"

struct db;

/* Attempts of a guarded append without an exact expectation before a lost
 * race is answered with a conflict. */
#define AGGREGATE_MAX_ATTEMPTS 5

/* Events read per statement while folding. */
#define AGGREGATE_PAGE_EVENTS 1000

/* A snapshot a load skipped because a member's key is erased, and what
 * the fold from the events gave at its version: what replaces it. */
struct aggregate_stale_snapshot {
	int64_t version;            /* 0: none was skipped */
	char *stored;               /* its JSON text as read (the compare-and-set) */
	json_object *state;         /* the fold at version, owned */
	struct state_keys keys;
};

struct aggregate_state {
	int64_t version;            /* the version the state is folded up to */
	int64_t stream_version;     /* the stream's version now; 0: no stream */
	int64_t snapshot_version;   /* the snapshot folding started from; 0: none */
	json_object *state;         /* an object, owned; {} for no stream */
	struct state_keys keys;     /* the keys of its personal values (snapshot.h) */
	struct aggregate_stale_snapshot stale;
};

/* Folds the stream up to at_version (0: its current version) by def (NULL:
 * merge patch of the payloads), starting from the newest snapshot whose
 * schema_version and rules_hash match def and whose version is not above
 * the target. A snapshot holding personal data is opened (snapshot_open):
 * one whose key is erased, or that is damaged, is not used (logged) and
 * the stream is folded from version 1, as erasure wants it (one skipped
 * for an erased key is kept in out->stale with the fold at its version,
 * for aggregate_refresh_snapshot); out->keys gets the keys of the
 * personal values folded in (for a snapshot of it) and the members
 * filled from erased fields (aggregate_state_erased).
 * Events are read in pages of AGGREGATE_PAGE_EVENTS and each
 * page is released before the next is read. A missing stream is ES_OK with
 * stream_version 0; at_version above the current version is ES_OK with
 * version < at_version (the caller decides: the state route answers 404).
 * tenant NULL is no tenant. out is zeroed first and released with
 * aggregate_state_free() whatever the status. */
enum es_status aggregate_load(struct db *db, const struct aggdef *def, const char *tenant,
			      const char *aggregate_type, const char *aggregate_id,
			      int64_t at_version, struct aggregate_state *out) ES_MUST_CHECK;
void aggregate_state_free(struct aggregate_state *s);

/* Replaces the snapshot s's load skipped for an erased key (s->stale)
 * by the fold at its version, if it is still the one stored
 * (snapshot_replace): its erased members null and listed, so the next
 * read uses it again. Never waits on a lock; a failure is logged and
 * does not concern the read. db should be the primary. Nothing to do
 * without a stale snapshot; it is released either way. */
void aggregate_refresh_snapshot(struct db *db, const struct aggdef *def, const char *tenant,
				const char *aggregate_id, struct aggregate_state *s);

/* The JSON pointers (under base, "/state") of s's members that hold null
 * because the field that filled them was erased: *erased, a new array,
 * or NULL when none. For every reader, before any redaction. ES_ENOMEM
 * only. */
enum es_status aggregate_state_erased(const struct aggdef *def, const struct aggregate_state *s,
				      const char *base, json_object **erased) ES_MUST_CHECK;

/* Withholds from state the values def's evolve rules fill from personal
 * fields (def->personal_state): each one present and not null becomes
 * null and its JSON pointer (under base, "/state") is added to
 * *redacted (a new array, created on the first; NULL when nothing was
 * withheld). ES_ENOMEM only. */
enum es_status aggregate_state_redact(const struct aggdef *def, json_object *state, const char *base,
				      json_object **redacted) ES_MUST_CHECK;

/* Why a guarded append was refused (ES_ESTATE). */
struct aggregate_refusal {
	size_t event_index;         /* which event of the request */
	const char *guard;          /* the guard's name, borrowed from the definition */
	char detail[320];
};

/* Appends req's events to a stream that has a definition: loads the state
 * at the current version v, checks each event's guards against the state
 * after the earlier events of the request (at version v + i) and appends
 * with the exact expectation v, so no two racing appends can both pass a
 * guard only one may pass. With req->expect STORE_EXPECT_EXACT a v other
 * than the expectation is ES_ECONFLICT at once, as is a lost race; with
 * ANY or EXISTS a lost race is retried up to AGGREGATE_MAX_ATTEMPTS times,
 * then ES_ECONFLICT (res->current_version set). An idempotent replay is
 * ES_OK with res->replayed, also when its guard would fail now. Event
 * types and payloads must have been validated (aggdef_validate) already.
 * In snapshot mode sync, an append that crosses a multiple of the threshold
 * writes a snapshot at its new version after its commit; a failure there is
 * logged and does not fail the append. Borrows everything; res as for
 * store_append(); why is filled on ES_ESTATE. */
enum es_status aggregate_append(struct db *db, const struct aggdef *def,
				const struct store_append_req *req, struct store_append_res *res,
				struct aggregate_refusal *why) ES_MUST_CHECK;

/* Folds one stream to its current version (from its newest usable
 * snapshot) and saves the result: the whole job of a background or manual
 * snapshot. *version (may be NULL) receives the version written.
 * ES_ENOTFOUND when the stream does not exist. */
enum es_status aggregate_snapshot(struct db *db, const struct aggdef *def, const char *tenant,
				  const char *aggregate_id, int64_t *version) ES_MUST_CHECK;

#endif
