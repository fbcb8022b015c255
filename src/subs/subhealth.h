/* subhealth.h - the health of subscriptions, as the runner's status rows
 * (substatus.h) tell it, judged against the [health] thresholds
 * (doc/configuration.md, [health]). Read by the HTTP health routes. */
#ifndef EVSTORE_SUBHEALTH_H
#define EVSTORE_SUBHEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct db;
struct es_config;
struct sbuf;

enum subhealth_status {
	SUBHEALTH_HEALTHY,
	SUBHEALTH_DEGRADED,
	SUBHEALTH_UNHEALTHY
};

/* One subscription, its partitions summed up. */
struct subhealth {
	char *name;
	char state[16];            /* the worst partition's state */
	int64_t events_processed;
	int64_t events_failed;
	double error_rate;         /* failed attempts per minute */
	int64_t lag_events;
	int64_t dlq_count;         /* parked entries not resolved */
	char *last_error;          /* NULL when none */
	char *last_event_at;       /* RFC 3339 or NULL */
	int64_t uptime_seconds;    /* since its oldest partition started */
	bool stale;                /* a partition's runner heartbeat is too old */
	enum subhealth_status status;
};

struct subhealth_list {
	struct subhealth *items;
	size_t count;
	bool running;              /* some runner's heartbeat is fresh */
};

/* The worst of: state (live/catching_up/starting healthy, paused/stopped
 * degraded, error unhealthy), errors (warn/critical), error rate (above
 * the limit: degraded), lag (warn/critical), DLQ size (warn/critical) and
 * a stale heartbeat (unhealthy). Pure: reads only s and cfg. */
enum subhealth_status subhealth_judge(const struct subhealth *s, const struct es_config *cfg);

const char *subhealth_status_name(enum subhealth_status st);

/* Reads every subscription (name NULL) or one, judged. On ES_OK the list
 * is filled (count 0 when nothing is registered or the name is unknown);
 * release it with subhealth_list_free. */
enum es_status subhealth_load(struct db *db, const struct es_config *cfg, const char *name,
			      struct subhealth_list *out) ES_MUST_CHECK;
void subhealth_list_free(struct subhealth_list *list);

/* Appends one subscription as the JSON object of
 * GET /health/subscriptions/{name}. */
void subhealth_render(struct sbuf *b, const struct subhealth *s);

#endif
