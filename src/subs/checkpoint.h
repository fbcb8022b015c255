/* checkpoint.h - evstore.checkpoints: where each subscription partition
 * has got to in the global feed, as a (transaction_id, position) cursor.
 *
 * Decisions:
 * - A checkpoint is never ahead of what was handled: the sql handler moves
 *   it in the transaction of its read model, the other handlers after
 *   handling.
 * - Every move names the cursor it starts from; evstore.checkpoint_advance
 *   raises SQLSTATE_CHECKPOINT_MOVED (pg/sqlstate.h; calls return
 *   ES_EMOVED) when the stored checkpoint is elsewhere (another runner, or
 *   a rebuild, moved it), and the mover's transaction rolls back with
 *   everything in it. So a read model is updated exactly once, even
 *   across kill -9 or two runners.
 * - A rebuild locks the subscription's checkpoint rows first and resets
 *   them in the transaction that empties the read model: a runner in the
 *   middle of a batch either commits before it or fails its move after. */
#ifndef EVSTORE_CHECKPOINT_H
#define EVSTORE_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "store/feed_cursor.h"

struct db;
struct subscription;

static inline bool checkpoint_equal(const struct feed_cursor *a, const struct feed_cursor *b)
{
	return a->txid == b->txid && a->position == b->position;
}

/* Reads the checkpoint of (c->name, partition), creating it first when
 * there is none: start_from beginning/checkpoint start before the first
 * event, end after everything committed now, <position> just before the
 * first event at or after it. Borrows c. */
enum es_status checkpoint_load(struct db *db, const struct subscription *c, int partition,
			       struct feed_cursor *out) ES_MUST_CHECK;

/* A move from one cursor to another as a statement and its parameters, for
 * a caller that runs it inside a transaction of its own (the sql handler's
 * pipeline). sql and values point into the struct itself, and
 * values borrows the subscription's name: keep both alive while in use. */
struct checkpoint_move {
	const char *sql;
	int nparams;
	const char *values[6];
	char part_[16], from_tx_[24], from_pos_[24], to_tx_[24], to_pos_[24];
};
void checkpoint_move_init(struct checkpoint_move *m, const char *subscription, int partition,
			  const struct feed_cursor *from, const struct feed_cursor *to);

/* Runs m (in the open transaction, if any). ES_EMOVED when the
 * checkpoint was not at m's from cursor. */
enum es_status checkpoint_move_run(struct db *db, const struct checkpoint_move *m) ES_MUST_CHECK;

/* Moves the checkpoint from `from` to `to` in a transaction of its own.
 * ES_EMOVED when it was not at `from` (someone else moved it). */
enum es_status checkpoint_save(struct db *db, const char *subscription, int partition,
			       const struct feed_cursor *from,
			       const struct feed_cursor *to) ES_MUST_CHECK;

/* Locks every checkpoint row of subscription until the transaction ends
 * (a rebuild's first step: a runner mid-batch then fails its advance). */
enum es_status checkpoint_lock_all(struct db *db, const char *subscription) ES_MUST_CHECK;

/* Puts partitions 0 .. partitions - 1 of subscription back to the start of
 * the feed, creating the rows that are missing. */
enum es_status checkpoint_reset_all(struct db *db, const char *subscription,
				    int partitions) ES_MUST_CHECK;

/* How far partitions 0 .. partitions - 1 of subscription have got: the
 * smallest checkpoint position, and whether every one of them has a
 * checkpoint at or past target. */
enum es_status checkpoint_progress(struct db *db, const char *subscription, int partitions,
				   const struct feed_cursor *target, int64_t *min_position,
				   bool *passed) ES_MUST_CHECK;

struct verify_report;
/* evstorectl verify: reports each checkpoint ahead of the feed, one that
 * names a transaction not below the horizon (pg_snapshot_xmin): no reader
 * can have handled it, so the checkpoint was not written by a runner of
 * this store (copied from another cluster, or set by hand). Up to
 * r->max_problems in all (store/verify.h). */
enum es_status checkpoint_verify(struct db *db, struct verify_report *r) ES_MUST_CHECK;

#endif
