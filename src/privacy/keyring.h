/* keyring.h - the owner of evstore.subject_keys (sql/006): one data key
 * per (tenant, data subject), made on first use, stored wrapped by the
 * master key (masterkey.h), destroyed by erasure. An erased key leaves a
 * row without key material (a tombstone): envelopes naming it read as
 * erased, erasing again answers "already", and the subject's next
 * personal data gets a new key.
 *
 * A keyring is the small set of keys one request works with, unwrapped in
 * memory and wiped by keyring_free. */
#ifndef EVSTORE_KEYRING_H
#define EVSTORE_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/uuidtext.h"
#include "base/sbuf.h"
#include "privacy/cipher.h"

struct db;
struct store_append_req;
struct store_append_res;

struct keyring_key {
	int64_t key_id;
	char tenant[UUIDTEXT_LEN];     /* the nil UUID for no tenant */
	char *subject;                 /* malloc'd */
	bool erased;                   /* the key is destroyed: dek is zero */
	unsigned char dek[CIPHER_KEY_LEN];
};

struct keyring {
	struct keyring_key *keys;
	size_t n, cap;
};

#define KEYRING_INIT { NULL, 0, 0 }

/* The key of (tenant, subject) in kr, or NULL. tenant NULL is no tenant. */
const struct keyring_key *keyring_by_subject(const struct keyring *kr, const char *tenant,
					     const char *subject);
/* The key with this id in kr, or NULL. */
const struct keyring_key *keyring_by_id(const struct keyring *kr, int64_t key_id);

/* For an append, inside the caller's transaction: the live keys of
 * subjects[0..n) in tenant, locked FOR SHARE until the transaction ends
 * (an erasure waits for it, and an append never commits under a key
 * destroyed before it), and a new key for each subject without one. Adds
 * them to kr. ES_EINVAL when no master key is installed; ES_EINTERNAL when
 * a stored key does not unwrap under it. */
enum es_status keyring_take(struct db *db, const char *tenant, const char *const *subjects,
			    size_t n, struct keyring *kr) ES_MUST_CHECK;

/* The keys a sealed append found and made, for its guard: held, the ids
 * of live keys, made, the new keys, each a JSON array. from_table (set by
 * the caller) has keyring_lookup ask the table for every subject; without
 * it, a subject whose key this worker has cached (keycache.h) is held
 * under that key, and one it has not is guessed new while most recent
 * misses were (guessed counts them), trusted telling either happened. */
struct keyring_guard {
	struct sbuf held, made;
	bool from_table;
	bool trusted;
	size_t guessed;
};

#define KEYRING_GUARD_INIT { SBUF_INIT, SBUF_INIT, false, false, 0 }

/* For an append in one statement (keyring_append), outside any
 * transaction: the key of each of subjects[0..n) in tenant, unlocked: its
 * live key (cached, or looked up), or a new key under an id drawn for it,
 * not stored yet. Adds them to kr and g. ES_EINVAL when no master key is
 * installed; ES_EINTERNAL when a stored key does not unwrap under it. */
enum es_status keyring_lookup(struct db *db, const char *tenant, const char *const *subjects,
			      size_t n, struct keyring *kr, struct keyring_guard *g) ES_MUST_CHECK;

/* Appends req (its events sealed under the keys of kr, listed in g)
 * through one guarded statement that also stores g's new keys and holds
 * its found ones live until it commits (store_append_guarded), and
 * caches kr's keys when it commits. ES_ENOTFOUND when it wrote nothing
 * because the expectation failed, a found key was erased meanwhile or
 * another append gave a subject its key first; ES_ERETRY instead when g
 * was trusted (a cached key or a guess may be what failed: the cache
 * forgets the subjects, and the caller tries again from_table);
 * ES_EDUPLICATE when an event id is stored: the caller answers through
 * keyring_take's path (store_append_in_transaction). */
enum es_status keyring_append(struct db *db, const struct store_append_req *req,
			      const struct keyring *kr, struct keyring_guard *g,
			      struct store_append_res *res) ES_MUST_CHECK;
void keyring_guard_free(struct keyring_guard *g);

/* For a read: the keys ids[0..n) names (live ones unwrapped when unwrap
 * is set, erased ones marked), added to kr; an id kr already holds is
 * skipped. An id with no row is left out (the reader reports it). Without
 * a master key, live keys to unwrap are ES_EINVAL. A redacted read only
 * needs to know which keys are erased: it passes unwrap false. epoch is
 * the key epoch (sql/010) the caller's events were read under, in
 * the same session of db, or NULL: with it, cached keys fetched under
 * that epoch need no statement. */
enum es_status keyring_fetch(struct db *db, const int64_t *ids, size_t n, bool unwrap,
			     const char *epoch, struct keyring *kr) ES_MUST_CHECK;

/* Wipes and releases kr's keys; kr is empty (reusable) afterwards. */
void keyring_free(struct keyring *kr);

/* Erasure: destroys the live key of (tenant, subject) in one committed
 * statement, noting actor and time. *outcome: KEYRING_ERASED (a key was
 * destroyed now), KEYRING_ALREADY_ERASED (only tombstones), or
 * KEYRING_UNKNOWN (no key was ever made for the subject). */
enum keyring_outcome {
	KEYRING_ERASED,
	KEYRING_ALREADY_ERASED,
	KEYRING_UNKNOWN
};
enum es_status keyring_forget(struct db *db, const char *tenant, const char *subject,
			      const char *actor, enum keyring_outcome *outcome) ES_MUST_CHECK;

struct keyring_subject_info {
	bool key_exists;               /* a live key */
	int64_t erased_keys;           /* tombstones */
	char erased_at[40];            /* the latest erasure (RFC 3339), "" if none */
	int64_t events;                /* events whose payload holds an envelope of one of its keys */
};

/* What the store holds of a subject. Counting the events scans the
 * tenant's events (an admin question, not a hot path). */
enum es_status keyring_subject_info(struct db *db, const char *tenant, const char *subject,
				    struct keyring_subject_info *out) ES_MUST_CHECK;

/* Master key rotation (evstorectl privacy rotate-master): every live key
 * wrapped by the previous master key (masterkey_previous) is unwrapped
 * and wrapped again under the current one, a batch at a time. The key
 * itself, and so every envelope sealed with it, stays as it was. Each
 * batch is one UPDATE (its own short transaction), a compare-and-set on
 * the row's master_id and wrapped bytes: a key erased meanwhile stays
 * erased (and is not counted here: a survey after the run counts the
 * tombstones), a key made meanwhile (already under the current master) is not
 * touched, and a row another transaction holds locked (an append's FOR
 * SHARE, an erasure) is skipped rather than waited for, and remembered
 * in busy to be tried again. Keys under a master that is neither current
 * nor previous are counted and left alone. */
struct keyring_rotation {
	int64_t rewrapped;     /* by this run (a dry run: would be) */
	int64_t current;       /* live keys already under the current master, or
				* rewrapped by another run meanwhile */
	int64_t erased;        /* tombstones (set from a survey; the caller's) */
	int64_t unknown;       /* live keys under neither master: left alone */
	int64_t unreadable;    /* under the previous master, but do not open under it */
	char unknown_master[17]; /* the first unknown master_id met, for the report */
	int64_t *busy;         /* ids locked by another transaction when tried */
	size_t n_busy, cap_busy;
};

#define KEYRING_ROTATION_INIT { 0, 0, 0, 0, 0, "", NULL, 0, 0 }

/* Counts what the table holds now against the current master: *current
 * live keys under it, *erased tombstones, *todo live keys under another
 * master. ES_EINVAL when no master key is installed. */
enum es_status keyring_rotation_survey(struct db *db, int64_t *current, int64_t *erased,
				       int64_t *todo) ES_MUST_CHECK;

/* Rotates the next batch of at most limit live keys not under the current
 * master with key_id > *after (start with 0), in key_id order, and moves
 * *after on; *seen gets how many keys the batch looked at (0: done).
 * dry_run only counts (nothing is written, nothing is busy). */
enum es_status keyring_rotate_next(struct db *db, int64_t *after, int limit, bool dry_run,
				   struct keyring_rotation *rot, int64_t *seen) ES_MUST_CHECK;

/* Tries rot->busy again (at most limit of them; the rest stay queued):
 * those still locked go back to rot->busy. *seen as above. */
enum es_status keyring_rotate_busy(struct db *db, int limit, struct keyring_rotation *rot,
				   int64_t *seen) ES_MUST_CHECK;

/* Releases rot->busy. */
void keyring_rotation_free(struct keyring_rotation *rot);

struct startcheck;
/* The "subject keys" item of `evstorectl check` (base/startcheck.h), when
 * a master key is installed: pass when every live key is under it, warn
 * when some are still under the previous one (a rotation to finish), fail
 * when some are under neither (their personal data cannot be read). */
void keyring_rotation_report(struct startcheck *c, struct db *db);

/* The AAD that binds a wrapped key to its tenant and subject; out holds
 * KEYRING_WRAP_AAD_MAX bytes, returns the length. */
#define KEYRING_WRAP_AAD_MAX 600
size_t keyring_wrap_aad(const char *tenant, const char *subject, char *out);

#endif
