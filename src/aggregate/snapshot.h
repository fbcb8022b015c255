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
 * with_metadata, -, event id) for the first limit events after it up to
 * upto. On
 * ES_OK *out is the result; the caller PQclear()s it. Borrows everything. */
enum es_status snapshot_read_head(struct db *db, const struct aggdef *def, const char *tenant,
				  const char *aggregate_type, const char *aggregate_id,
				  int64_t upto, bool with_metadata, int limit,
				  PGresult **out) ES_MUST_CHECK;

/* Which subject key the personal values of a folded state were sealed
 * with in the events, per member that a snapshot seals (a root of
 * def->personal_state): the fold notes the key of each envelope it opened
 * into the state, and the snapshot seals the member with that same key.
 * Tracking key ids rather than subjects matters: a subject erased and
 * given a new key later must not see data folded before the erasure
 * sealed under the new key. */
struct state_keys {
	int64_t *key_id;        /* per personal_state index (roots used); 0: none */
	bool *erased;           /* per personal_state index: last filled from a
				   field whose key is erased (folded as null) */
	size_t n;
	bool mixed;             /* a member holds values sealed under two keys:
				   the state is not stored as a snapshot */
};

/* Sizes k for def (nothing to do without personal state). ES_ENOMEM only. */
enum es_status state_keys_init(struct state_keys *k, const struct aggdef *def) ES_MUST_CHECK;
/* Notes that a value sealed under key_id (0: stored in clear, which erasure
 * does not touch) went into def->personal_state[state_index]. */
void state_keys_note(struct state_keys *k, const struct aggdef *def, size_t state_index,
		     int64_t key_id);
void state_keys_free(struct state_keys *k);
/* Copies from into to (initialised by the copy). ES_ENOMEM only. */
enum es_status state_keys_copy(struct state_keys *to, const struct state_keys *from) ES_MUST_CHECK;
/* Notes whether the last value put into def->personal_state[state_index]
 * came from a field whose key is erased. */
void state_keys_note_erased(struct state_keys *k, size_t state_index, bool erased);

/* The JSON pointers (under base, "/state") of the members of state that
 * k notes as filled from an erased field and that hold null: into *erased,
 * a new array, or NULL when there are none. ES_ENOMEM only. */
enum es_status state_keys_erased(const struct state_keys *k, const struct aggdef *def,
				 json_object *state, const char *base,
				 json_object **erased) ES_MUST_CHECK;

/* The member of a stored snapshot (of a state with personal data) that
 * lists its erased members' pointers; a state holding a member of that
 * name at its top is not stored as a snapshot. */
#define SNAPSHOT_ERASED_MEMBER "$erased"

/* Stores state (an object) as the snapshot of one stream at version.
 * When def's evolve rules put personal data into the state, each member
 * holding some (a root of def->personal_state) is stored sealed with the
 * key keys names for it (personal_seal_state: the AAD binds tenant,
 * stream, version and pointer), and the members keys notes as erased
 * are listed (SNAPSHOT_ERASED_MEMBER); no snapshot is written when keys
 * is NULL or mixed, when one of its keys is erased by now, or when state
 * has a member named SNAPSHOT_ERASED_MEMBER. *written (may be
 * NULL) says whether the row was written (false also: a newer or equal
 * snapshot by the same rules is stored). tenant NULL is no tenant.
 * Borrows everything. */
enum es_status snapshot_save(struct db *db, const struct aggdef *def, const char *tenant,
			     const char *aggregate_id, int64_t version, json_object *state,
			     const struct state_keys *keys, bool *written) ES_MUST_CHECK;

/* Replaces the snapshot of one stream at version by state (sealed as
 * snapshot_save does it), only if the stored one is still the one read:
 * the same version, schema_version and rules_hash, and old (its stored
 * JSON text) as content. A row locked by another writer is left alone
 * (never waits). *written (may be NULL) says whether it was replaced.
 * Borrows everything. */
enum es_status snapshot_replace(struct db *db, const struct aggdef *def, const char *tenant,
				const char *aggregate_id, int64_t version, const char *old,
				json_object *state, const struct state_keys *keys,
				bool *written) ES_MUST_CHECK;

/* Opens in place the sealed members of state, the snapshot of one stream
 * at version, and notes their keys in keys (state_keys_init'ed), and the
 * members it lists as erased (SNAPSHOT_ERASED_MEMBER, taken out of
 * state; a snapshot without it lists none). ES_OK:
 * opened. ES_ENOTFOUND: a member's key is erased, the snapshot cannot be
 * used (fold from the events instead). ES_EINTERNAL: a member is damaged,
 * moved or names an unknown key; err says which and why (never any
 * plaintext). state is partly opened on failure and must be dropped. */
enum es_status snapshot_open(struct db *db, const struct aggdef *def, const char *tenant,
			     const char *aggregate_id, int64_t version, json_object *state,
			     struct state_keys *keys, char *err, size_t errlen) ES_MUST_CHECK;

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
