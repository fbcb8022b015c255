/* substatus.h - evstore.subscription_status: one row per subscription
 * partition, written by the runner that owns it about once a second (the
 * heartbeat), read by the health routes (through subhealth.h), evstorectl
 * partitions and evstorectl rebuild.
 *
 * The readers that report on a partition read its checkpoint and its
 * dead-letter count in the same statement, so that one snapshot answers:
 * those joins name evstore.checkpoints and evstore.dlq here. */
#ifndef EVSTORE_SUBSTATUS_H
#define EVSTORE_SUBSTATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct db;

/* What the runner reports on a partition it owns. */
struct substatus_row {
	const char *subscription;
	int partition;
	const char *runner_id;
	const char *state;            /* starting catching_up live paused stopped error */
	int64_t events_processed;
	int64_t events_failed;
	double error_rate_per_min;
	int64_t checkpoint_position;  /* lag is the newest position minus this */
	const char *last_error;       /* NULL: none */
	int64_t last_event_usec;      /* 0: none */
	int64_t started_usec;
};

/* Upserts the row with heartbeat_at = now(). Borrows row. */
enum es_status substatus_write(struct db *db, const struct substatus_row *row) ES_MUST_CHECK;

/* One partition's row as the health judgement reads it. Strings are
 * borrowed from the list that holds them (valid until
 * substatus_list_free). */
struct substatus_entry {
	const char *subscription;
	int partition;
	const char *state;
	int64_t events_processed;
	int64_t events_failed;
	double error_rate_per_min;
	int64_t lag_events;
	const char *last_error;       /* NULL: none */
	const char *last_event_at;    /* RFC 3339 UTC with microseconds, NULL: none */
	int64_t uptime_seconds;       /* since started_at */
	bool stale;                   /* heartbeat older than the stale_after given */
	int64_t dlq_count;            /* the subscription's entries not resolved */
};

struct substatus_list {
	struct substatus_entry *items;
	size_t count;
	void *result_;                /* the query result the strings live in */
};

/* Reads the rows of every subscription (name NULL) or of one, ordered by
 * subscription and partition. stale_after is in seconds. Release the list
 * with substatus_list_free (also safe after a failure). */
enum es_status substatus_read(struct db *db, const char *name, int stale_after,
			      struct substatus_list *out) ES_MUST_CHECK;
void substatus_list_free(struct substatus_list *list);

/* One partition's numbers for GET /metrics. Strings borrowed as in
 * struct substatus_entry. */
struct substatus_gauge {
	const char *subscription;
	int partition;
	const char *state;
	int64_t events_processed;     /* since its runner started the partition */
	int64_t events_failed;
	int64_t lag_events;
	int64_t dlq_entries;          /* the partition's entries not resolved, counted
				       * up to SUBSTATUS_DLQ_COUNT_MAX */
	double heartbeat_age_seconds;
};

struct substatus_gauges {
	struct substatus_gauge *items;
	size_t count;
	void *result_;
};

/* A scrape must stay cheap however large a DLQ grows: beyond this many
 * unresolved entries of a partition it stops counting (a hundred times
 * [health] dlq_critical's default). */
#define SUBSTATUS_DLQ_COUNT_MAX 10000

/* Every partition's status row, ordered by subscription and partition.
 * Release with substatus_gauges_free (also safe after a failure). */
enum es_status substatus_gauges_read(struct db *db, struct substatus_gauges *out) ES_MUST_CHECK;
void substatus_gauges_free(struct substatus_gauges *list);

/* One partition in `evstorectl partitions`: its checkpoint, who runs it
 * and how it does. Strings borrowed as in struct substatus_entry. */
struct substatus_partition {
	const char *subscription;
	int partition;
	bool has_status;              /* a runner wrote a status row; else the
				       * four fields below are unset */
	const char *runner_id;
	int64_t heartbeat_age_seconds;
	int64_t lag_events;
	int64_t events_processed;
	const char *state;            /* the row's state, "stale" when its heartbeat
				       * is too old, "unclaimed" without a row */
	bool has_position;            /* a checkpoint below the horizon */
	int64_t checkpoint_position;
	bool checkpoint_at_horizon;   /* an idle checkpoint moved up to the horizon */
	int64_t dlq_count;            /* entries not resolved */
	bool configured;              /* among the configured subscriptions given */
};

struct substatus_partitions {
	struct substatus_partition *items;
	size_t count;
	void *result_;
};

/* The partitions of the configured subscriptions names[i] (partitions[i]
 * of them, i < n) and of every subscription with a checkpoint (one
 * removed from the configuration shows while its rows stay), ordered by
 * subscription and partition; only subscription's when it is not NULL.
 * stale_after is in seconds. Release with substatus_partitions_free (also
 * safe after a failure). */
enum es_status substatus_partitions(struct db *db, const char *const *names,
				    const int *partitions, size_t n, const char *subscription,
				    int stale_after,
				    struct substatus_partitions *out) ES_MUST_CHECK;
void substatus_partitions_free(struct substatus_partitions *list);

/* How many partitions of subscription a runner with a heartbeat fresher
 * than stale_after seconds runs (state not stopped). */
enum es_status substatus_live_partitions(struct db *db, const char *subscription,
					 int stale_after, int *n) ES_MUST_CHECK;

/* Whether the runner knows subscription name: it has a status row, a
 * checkpoint or DLQ entries (of any tenant: subscriptions are not per
 * tenant). */
enum es_status substatus_known(struct db *db, const char *name, bool *known) ES_MUST_CHECK;

#endif
