/* status.h - evstore.subscription_status rows: the runner writes one per
 * subscription partition it owns about once a second (the heartbeat). */
#ifndef EVSTORE_RUNNER_STATUS_H
#define EVSTORE_RUNNER_STATUS_H

#include <stdint.h>
#include "base/error.h"

struct db;

struct status_row {
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
enum es_status status_write(struct db *db, const struct status_row *row) ES_MUST_CHECK;

/* Failed attempts over the last minute, in 6 buckets of 10 s. */
struct status_rate {
	int64_t bucket_start_ms;
	int buckets[6];
};
void status_rate_add(struct status_rate *r, int64_t now_ms);
double status_rate_per_min(struct status_rate *r, int64_t now_ms);

#endif
