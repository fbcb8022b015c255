/* dlq.h - the queries on the dead-letter queue (evstore.dlq) that
 * operators run: list, requeue one or all, resolve, purge. Shared by the
 * HTTP admin routes and `evstorectl dlq`; the runner's own statements
 * (parking an event, settling a requeued one) stay in src/runner/dlq.h.
 *
 * Decisions:
 * - Listing is oldest first, by entry id (the order the runner retries
 *   requeued entries in); a page continues after an id (keyset paging).
 * - Requeueing sets status 'retrying'; the runner owning the partition
 *   handles the event again without moving its checkpoint, and marks the
 *   entry 'resolved' or parks it again as 'failed'.
 * - Requeueing or purging many entries runs in batches of
 *   DLQSTORE_BATCH, each its own short transaction, so a queue of a million
 *   entries never becomes one giant transaction: the runner starts on the
 *   first batch while later ones are still being requeued. Entries are
 *   visited in id order and each at most once per call, so an entry that
 *   fails again during the call is not requeued twice.
 * - Tenancy: a scope either spans every tenant or names one tenant (NULL:
 *   the no-tenant space); an entry outside the scope does not exist for the
 *   caller. */
#ifndef EVSTORE_DLQSTORE_H
#define EVSTORE_DLQSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct db;

/* Entries one requeue or purge statement touches at most. */
#define DLQSTORE_BATCH 1000

/* Whose entries a call may see and change. */
struct dlqstore_scope {
	bool all_tenants;          /* true: every tenant, tenant ignored */
	const char *tenant;        /* lowercase UUID, or NULL: the no-tenant space */
};

/* What to list. */
struct dlqstore_filter {
	const char *subscription;  /* NULL: every subscription */
	const char *status;        /* failed, retrying, resolved; NULL: any */
	int64_t after_id;          /* only entries with a larger id (0: from the start) */
	int limit;                 /* at most this many; 0: no limit */
	struct dlqstore_scope scope;
};

/* One entry. Every string is borrowed from the list that holds it (valid
 * until dlqstore_list_free); timestamps are RFC 3339 in UTC with
 * microseconds ("2026-11-27T10:00:00.000000Z"). */
struct dlqstore_entry {
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

struct dlqstore_list {
	struct dlqstore_entry *items;
	size_t count;
	void *result_;             /* the query result the strings live in */
};

/* True for failed, retrying and resolved. */
bool dlqstore_status_valid(const char *status);

/* Reads the entries f selects in id order into out. On ES_OK out is
 * filled (count 0 when none); release it with dlqstore_list_free, which is
 * also safe after a failure. Borrows f. */
enum es_status dlqstore_list(struct db *db, const struct dlqstore_filter *f,
			     struct dlqstore_list *out) ES_MUST_CHECK;
void dlqstore_list_free(struct dlqstore_list *list);

/* Requeues entry id: a 'failed' entry becomes 'retrying'. subscription
 * (NULL: any) and scope narrow which entries count as existing.
 * ES_ENOTFOUND when there is no such entry for the caller; ES_ESTATE when
 * it is already resolved (nothing changes). On ES_OK, *requeued says
 * whether this call changed it (false: it was already 'retrying'), and
 * when out is not NULL it holds the entry as it is now (release with
 * dlqstore_list_free; it is filled on ES_ESTATE too). */
enum es_status dlqstore_retry(struct db *db, const char *subscription,
			      const struct dlqstore_scope *scope, int64_t id, bool *requeued,
			      struct dlqstore_list *out) ES_MUST_CHECK;

/* Requeues every 'failed' entry of subscription within scope, in batches
 * of DLQSTORE_BATCH (see the decisions above). *requeued counts the entries
 * changed, also when a later batch failed (those before it stay
 * requeued). */
enum es_status dlqstore_retry_all(struct db *db, const char *subscription,
				  const struct dlqstore_scope *scope,
				  int64_t *requeued) ES_MUST_CHECK;

/* Marks entry id resolved by hand (an operator dealt with the event).
 * *changed is false when there is no such entry or it was resolved
 * already. Any tenant. */
enum es_status dlqstore_resolve(struct db *db, int64_t id, bool *changed) ES_MUST_CHECK;

/* Deletes subscription's entries (only the resolved ones with
 * resolved_only), in batches of DLQSTORE_BATCH; *purged counts them, also
 * when a later batch failed. Any tenant. */
enum es_status dlqstore_purge(struct db *db, const char *subscription, bool resolved_only,
			      int64_t *purged) ES_MUST_CHECK;

/* Whether the runner knows subscription name: it has a status row, a
 * checkpoint or DLQ entries (of any tenant: subscriptions are not
 * per tenant). */
enum es_status dlqstore_subscription_known(struct db *db, const char *name,
					   bool *known) ES_MUST_CHECK;

#endif
