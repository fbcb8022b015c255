/* retry.h - how long to wait before trying an event again. Whether a
 * failure is worth waiting out or counts against the event is the
 * SQLSTATE table's to say (pg/sqlstate.h), through the handlers. */
#ifndef EVSTORE_RUNNER_RETRY_H
#define EVSTORE_RUNNER_RETRY_H

#include <stdint.h>

/* The delay before attempt number attempt (1 = the first retry):
 * exponential from initial_ms doubling up to max_ms, with jitter: a value
 * drawn uniformly from [base/2, base], never below initial_ms nor above
 * max_ms. seed is the caller's PRNG state (any value; updated). */
int64_t retry_delay_ms(int attempt, int initial_ms, int max_ms, uint32_t *seed);

#endif
