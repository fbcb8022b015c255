/* dlq.h - the dead-letter queue (evstore.dlq): what the runner does with
 * it (park an event, take up the requeued entries, settle them) and what
 * operators do, through the HTTP admin routes and `evstorectl dlq` (list,
 * requeue one or all, resolve, purge), and the clearing a rebuild does.
 *
 * Decisions:
 * - Listing is oldest first, by entry id (the order the runner retries
 *   requeued entries in); a page continues after an id (keyset paging).
 * - Requeueing sets status 'retrying'; the runner owning the partition
 *   handles the event again without moving its checkpoint, and marks the
 *   entry 'resolved' or parks it again as 'failed'.
 * - Requeueing or purging many entries runs in batches of DLQ_BATCH, each
 *   its own short transaction, so a queue of a million entries never
 *   becomes one giant transaction: the runner starts on the first batch
 *   while later ones are still being requeued. Entries are
 *   visited in id order and each at most once per call, so an entry that
 *   fails again during the call is not requeued twice.
 * - Tenancy: a scope either spans every tenant or names one tenant (NULL:
 *   the no-tenant space); an entry outside the scope does not exist for the
 *   caller. */
#ifndef EVSTORE_DLQ_H
#define EVSTORE_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct db;
struct event;
struct checkpoint_move;

/* Entries one requeue or purge statement touches at most. */
#define DLQ_BATCH 1000

/* Whose entries a call may see and change. */
struct dlq_scope {
	bool all_tenants;          /* true: every tenant, tenant ignored */
	const char *tenant;        /* lowercase UUID, or NULL: the no-tenant space */
};

/* What to list. */
struct dlq_filter {
	const char *subscription;  /* NULL: every subscription */
	const char *status;        /* failed, retrying, resolved; NULL: any */
	int64_t after_id;          /* only entries with a larger id (0: from the start) */
	int limit;                 /* at most this many; 0: no limit */
	struct dlq_scope scope;
};

/* One entry. Every string is borrowed from the list that holds it (valid
 * until dlq_entries_free); timestamps are RFC 3339 in UTC with
 * microseconds ("2026-11-27T10:00:00.000000Z"). */
struct dlq_entry {
	int64_t id;
	const char *subscription;
	int partition;
	int64_t position;
	const char *event_id;
	const char *event_type;
	const char *aggregate_type;
	const char *aggregate_id;
	const char *tenant_id;     /* NULL: no tenant */
	const char *error;
	const char *error_class;   /* permanent | transient */
	int attempts;
	const char *first_failed_at;
	const char *last_failed_at;
	const char *status;        /* failed | retrying | resolved */
	const char *resolved_at;   /* NULL until resolved */
};

struct dlq_entries {
	struct dlq_entry *items;
	size_t count;
	void *result_;             /* the query result the strings live in */
};

/* True for failed, retrying and resolved. */
bool dlq_status_valid(const char *status);

/* Reads the entries f selects in id order into out. On ES_OK out is
 * filled (count 0 when none); release it with dlq_entries_free, which is
 * also safe after a failure. Borrows f. */
enum es_status dlq_list(struct db *db, const struct dlq_filter *f,
			struct dlq_entries *out) ES_MUST_CHECK;
void dlq_entries_free(struct dlq_entries *list);

/* Requeues entry id: a 'failed' entry becomes 'retrying'. subscription
 * (NULL: any) and scope narrow which entries count as existing.
 * ES_ENOTFOUND when there is no such entry for the caller; ES_ESTATE when
 * it is already resolved (nothing changes). On ES_OK, *requeued says
 * whether this call changed it (false: it was already 'retrying'), and
 * when out is not NULL it holds the entry as it is now (release with
 * dlq_entries_free; it is filled on ES_ESTATE too). */
enum es_status dlq_retry(struct db *db, const char *subscription, const struct dlq_scope *scope,
			 int64_t id, bool *requeued, struct dlq_entries *out) ES_MUST_CHECK;

/* Requeues every 'failed' entry of subscription within scope, in batches
 * of DLQ_BATCH (see the decisions above). *requeued counts the entries
 * changed, also when a later batch failed (those before it stay
 * requeued). */
enum es_status dlq_retry_all(struct db *db, const char *subscription,
			     const struct dlq_scope *scope, int64_t *requeued) ES_MUST_CHECK;

/* Marks entry id resolved by hand (an operator dealt with the event).
 * *changed is false when there is no such entry or it was resolved
 * already. Any tenant. */
enum es_status dlq_resolve(struct db *db, int64_t id, bool *changed) ES_MUST_CHECK;

/* Deletes subscription's entries (only the resolved ones with
 * resolved_only), in batches of DLQ_BATCH; *purged counts them, also
 * when a later batch failed. Any tenant. */
enum es_status dlq_purge(struct db *db, const char *subscription, bool resolved_only,
			 int64_t *purged) ES_MUST_CHECK;

/* Deletes every entry of subscription, in the caller's transaction (a
 * rebuild's); *deleted counts them. */
enum es_status dlq_clear(struct db *db, const char *subscription, int64_t *deleted) ES_MUST_CHECK;

/* ---- the runner ---- */

/* An event that failed for good, and why. */
struct dlq_failure {
	const char *subscription;
	int partition;
	const struct event *ev;
	const char *error;
	const char *error_class;   /* permanent | transient */
	int attempts;
	int64_t first_failed_usec; /* microseconds since the epoch */
};

/* Parks f's event as 'failed' (parking it again after a failed retry
 * updates its entry) and makes move (past the event) in the same
 * transaction. ES_EMOVED when the checkpoint was not at move's from
 * cursor: nothing is parked. Borrows f and move. */
enum es_status dlq_park(struct db *db, const struct dlq_failure *f,
			const struct checkpoint_move *move) ES_MUST_CHECK;

struct dlq_requeued {
	int64_t id;
	int64_t position;          /* the event's */
	int attempts;              /* the attempts made so far */
};

/* The requeued ('retrying') entries of a subscription partition, oldest
 * first: up to max of them into out[0..*n). */
enum es_status dlq_list_requeued(struct db *db, const char *subscription, int partition,
				 struct dlq_requeued *out, size_t max, size_t *n) ES_MUST_CHECK;

/* A requeued entry handled: 'resolved', one more attempt. As a statement
 * and its parameters, for a caller that runs it inside a transaction of its
 * own (the sql handler's pipeline, with the event's statements); sql and
 * values point into the struct itself. */
struct dlq_retry_done {
	const char *sql;
	int nparams;
	const char *values[1];
	char id_[24];
};
void dlq_retry_done_init(struct dlq_retry_done *s, int64_t id);

/* The same, run on its own. */
enum es_status dlq_mark_retry_done(struct db *db, int64_t id) ES_MUST_CHECK;

/* A requeued entry failed again: 'failed', one more attempt, error kept. */
enum es_status dlq_mark_retry_failed(struct db *db, int64_t id, const char *error) ES_MUST_CHECK;

#endif
