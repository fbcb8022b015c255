/* retry.h - how long to wait before trying an event again, and whether a
 * failure is worth waiting out (transient) or counts against the event
 * (permanent). */
#ifndef EVSTORE_RUNNER_RETRY_H
#define EVSTORE_RUNNER_RETRY_H

#include <stdint.h>
#include "base/error.h"

enum retry_class {
	RETRY_TRANSIENT,  /* the database is away or busy: wait, never park */
	RETRY_PERMANENT   /* the event or the handler is at fault: count, then park */
};

/* SQLSTATE -> class: a lost connection (08xxx, 57P01..3, none), a
 * cancelled statement (57014), lack of resources (53xxx) and
 * serialization failures/deadlocks (40001, 40P01) are transient;
 * everything else (data errors 22xxx/23xxx, a missing table, a syntax
 * error in the projection) is permanent. */
enum retry_class retry_classify_sqlstate(const char *sqlstate);

/* es_status -> class: ES_EUNAVAILABLE and ES_ERETRY are transient. */
enum retry_class retry_classify_status(enum es_status st);

/* The delay before attempt number attempt (1 = the first retry):
 * exponential from initial_ms doubling up to max_ms, with jitter: a value
 * drawn uniformly from [base/2, base], never below initial_ms nor above
 * max_ms. seed is the caller's PRNG state (any value; updated). */
int64_t retry_delay_ms(int attempt, int initial_ms, int max_ms, uint32_t *seed);

#endif
