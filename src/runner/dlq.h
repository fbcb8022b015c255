/* dlq.h - the dead-letter queue (evstore.dlq): parking an event, and the
 * statements a requeued entry's outcome runs. */
#ifndef EVSTORE_RUNNER_DLQ_H
#define EVSTORE_RUNNER_DLQ_H

#include <stdint.h>
#include "runner/handler.h"

/* Parks an event. Parameters: subscription, partition, position,
 * transaction_id, event_id, event_type, aggregate_type, aggregate_id,
 * tenant_id ("" for none), error, error_class, attempts, first_failed_at
 * (microseconds since the epoch). Parking the same event again (after a
 * failed retry) updates the entry. */
#define DLQ_PARK_SQL \
	"INSERT INTO evstore.dlq AS d (subscription, partition, position, transaction_id, event_id," \
	" event_type, aggregate_type, aggregate_id, tenant_id, error, error_class, attempts," \
	" first_failed_at, last_failed_at, status)" \
	" VALUES ($1, $2::int, $3::bigint, $4::xid8, $5::uuid, $6, $7, $8::uuid," \
	" NULLIF($9, '')::uuid, $10, $11, $12::int, to_timestamp($13::double precision / 1e6)," \
	" now(), 'failed')" \
	" ON CONFLICT (subscription, event_id) DO UPDATE SET status = 'failed'," \
	" attempts = d.attempts + EXCLUDED.attempts, error = EXCLUDED.error," \
	" error_class = EXCLUDED.error_class, last_failed_at = now(), resolved_at = NULL"

struct dlq_park_params {
	char part[16], pos[24], attempts[16], first[24];
	const char *values[13];
};

/* Fills the 13 parameters of DLQ_PARK_SQL; borrows every string. */
void dlq_park_params_fill(struct dlq_park_params *p, const char *subscription, int partition,
			  const struct event *ev, const char *error, const char *error_class,
			  int attempts, int64_t first_failed_usec);

/* The requeued entries of a subscription partition, oldest first:
 * id, position. Parameters: subscription, partition, limit. */
#define DLQ_RETRYING_SQL \
	"SELECT id, position FROM evstore.dlq WHERE subscription = $1 AND partition = $2::int" \
	" AND status = 'retrying' ORDER BY id LIMIT $3::int"

/* A requeued entry handled: parameter id. */
#define DLQ_RESOLVED_SQL \
	"UPDATE evstore.dlq SET status = 'resolved', resolved_at = now()," \
	" attempts = attempts + 1 WHERE id = $1::bigint"

/* A requeued entry failed again: parameters id, error. */
#define DLQ_FAILED_AGAIN_SQL \
	"UPDATE evstore.dlq SET status = 'failed', attempts = attempts + 1," \
	" last_failed_at = now(), error = $2 WHERE id = $1::bigint"

#endif
