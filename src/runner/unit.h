/* unit.h - one claimed (subscription, partition): its work. A unit reads
 * its part of the feed a page at a time and hands the events to its
 * subscription's handler; it keeps the checkpoint, retries and parks
 * failing events, takes up requeued dead-letter entries and writes its
 * status row (the heartbeat). Partition 0 also registers its subscription
 * for erasures (subject_erased) and hands over the SubjectErased events of
 * its inbox (subs/erasures.h). */
#ifndef EVSTORE_RUNNER_UNIT_H
#define EVSTORE_RUNNER_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aggdef_registry;
struct db;
struct sub;
struct unit;

/* What the units of a runner share; the runner owns it. */
struct unit_host {
	struct db *db;                /* the work connection */
	const char *runner_id;        /* "<hostname>:<pid>", in the status rows */
	const struct aggdef_registry *aggdefs; /* for the snapshots handler; may be NULL */
	/* True once in-flight work must be abandoned (a second stop signal, or
	 * the drain time is up): a unit stops between events. */
	bool (*forced)(void *arg);
	void *forced_arg;
	int checkpoints_saved;        /* checkpoint moves so far (a shutdown figure) */
};

/* Starts a unit of s (borrowed for the unit's lifetime) at its stored
 * checkpoint (created per start_from when there is none) and writes its
 * first status row. NULL when the checkpoint cannot be read. */
struct unit *unit_new(struct unit_host *h, struct sub *s, int partition);

/* Saves the checkpoint, writes the last status row ("stopped", or "error"
 * when stopped in error) and frees u. */
void unit_stop(struct unit_host *h, struct unit *u);

/* Frees u without touching the database. unit_free(NULL) does nothing. */
void unit_free(struct unit *u);

struct sub *unit_sub(const struct unit *u);
int unit_partition(const struct unit *u);

/* One turn: requeued dead-letter entries (once a second), then one page of
 * the feed, then, when that left the unit caught up, the erasures of its
 * inbox (partition 0 with subject_erased = deliver, once a second). *handled
 * counts the feed events handled. Returns true when it did work (the
 * caller then does not sleep). */
bool unit_step(struct unit_host *h, struct unit *u, size_t *handled);

/* Writes the status row when the last one is a second old. */
void unit_heartbeat(struct unit_host *h, struct unit *u);

/* When (time_mono_ms) the unit next needs a turn: its retry wait ends or
 * its heartbeat is due. */
int64_t unit_due_ms(const struct unit *u, int64_t now_ms);

#endif
