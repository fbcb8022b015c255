/* claims.h - the subscription partitions this runner holds. A partition
 * is claimed with a session advisory lock (partition.h) on the runner's
 * lock connection, and becomes a unit (unit.h) while held. Every runner
 * takes its share, ceil(partitions / runners), of each subscription and
 * gives back what is above it, so partitions spread as runners come and
 * go; a dead runner's locks go with its connection. */
#ifndef EVSTORE_RUNNER_CLAIMS_H
#define EVSTORE_RUNNER_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct sub;
struct unit;
struct unit_host;

struct claims {
	struct db *lockdb;            /* the lock connection; borrowed */
	unsigned long lock_epoch;     /* the session the claims live in (db_session_epoch), 0: none */
	struct unit **units;          /* n units, in claim order */
	size_t n;
	int64_t last_round_ms;        /* time_mono_ms of the last claims_round */
};

/* No claims yet; lockdb is borrowed for c's lifetime. */
void claims_init(struct claims *c, struct db *lockdb);

/* One round. When the lock session was lost, so were its claims: every
 * unit stops first (nothing to give back). Then, with both connections up,
 * claims this runner's share of each of subs[0..n_subs) and gives back
 * what is above it. */
void claims_round(struct claims *c, struct unit_host *h, struct sub *const *subs,
		  size_t n_subs);

/* Stops the units of s and gives their partitions back (s is removed or
 * changed by a reload). */
void claims_drop_sub(struct claims *c, struct unit_host *h, const struct sub *s);

/* Stops the last unit and gives its partition back. */
void claims_drop_last(struct claims *c, struct unit_host *h);

/* Frees the units without touching the database (the claims end with the
 * lock connection). */
void claims_free(struct claims *c);

#endif
