/* status.c - the subscription_status heartbeat. */
#include "buildconf.h"
#include "runner/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg/db.h"

static const struct db_statement st_status = {
	"runner_status",
	"INSERT INTO evstore.subscription_status AS s (subscription, partition, runner_id, state,"
	" events_processed, events_failed, error_rate_per_min, lag_events, last_error,"
	" last_event_at, started_at, heartbeat_at)"
	" VALUES ($1, $2::int, $3, $4, $5::bigint, $6::bigint, $7::double precision,"
	"  GREATEST(0, COALESCE((SELECT max(position) FROM evstore.events), 0) - $8::bigint),"
	"  $9, CASE WHEN $10::bigint > 0 THEN to_timestamp($10::double precision / 1e6) END,"
	"  to_timestamp($11::double precision / 1e6), now())"
	" ON CONFLICT (subscription, partition) DO UPDATE SET runner_id = EXCLUDED.runner_id,"
	" state = EXCLUDED.state, events_processed = EXCLUDED.events_processed,"
	" events_failed = EXCLUDED.events_failed, error_rate_per_min = EXCLUDED.error_rate_per_min,"
	" lag_events = EXCLUDED.lag_events, last_error = EXCLUDED.last_error,"
	" last_event_at = COALESCE(EXCLUDED.last_event_at, s.last_event_at),"
	" started_at = EXCLUDED.started_at, heartbeat_at = now()",
	11
};

enum es_status status_write(struct db *db, const struct status_row *row)
{
	char part[16], proc[24], failed[24], rate[32], cp[24], last[24], started[24];
	const char *vals[11] = { row->subscription, part, row->runner_id, row->state, proc, failed,
				 rate, cp, row->last_error, last, started };
	PGresult *r = NULL;
	enum es_status rc;

	snprintf(part, sizeof part, "%d", row->partition);
	snprintf(proc, sizeof proc, "%" PRId64, row->events_processed);
	snprintf(failed, sizeof failed, "%" PRId64, row->events_failed);
	snprintf(rate, sizeof rate, "%.3f", row->error_rate_per_min);
	snprintf(cp, sizeof cp, "%" PRId64, row->checkpoint_position);
	snprintf(last, sizeof last, "%" PRId64, row->last_event_usec);
	snprintf(started, sizeof started, "%" PRId64, row->started_usec);
	rc = db_exec(db, &st_status, vals, &r);
	PQclear(r);
	return rc;
}

/* Moves the window so its last bucket holds now. */
static void status_rate_roll(struct status_rate *r, int64_t now_ms)
{
	int64_t shift;

	if (r->bucket_start_ms == 0)
		r->bucket_start_ms = now_ms;
	shift = (now_ms - r->bucket_start_ms) / 10000;
	if (shift <= 0)
		return;
	if (shift >= 6) {
		memset(r->buckets, 0, sizeof r->buckets);
	} else {
		memmove(r->buckets, r->buckets + shift, (size_t)(6 - shift) * sizeof r->buckets[0]);
		memset(r->buckets + 6 - shift, 0, (size_t)shift * sizeof r->buckets[0]);
	}
	r->bucket_start_ms += shift * 10000;
}

void status_rate_add(struct status_rate *r, int64_t now_ms)
{
	status_rate_roll(r, now_ms);
	r->buckets[5]++;
}

double status_rate_per_min(struct status_rate *r, int64_t now_ms)
{
	int sum = 0;

	status_rate_roll(r, now_ms);
	for (int i = 0; i < 6; i++)
		sum += r->buckets[i];
	return sum;
}
