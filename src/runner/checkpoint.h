/* checkpoint.h - a subscription partition's place in the feed, in
 * evstore.checkpoints. A checkpoint is never ahead of what was handled:
 * the sql handler moves it in its own transaction, the others after
 * handling. */
#ifndef EVSTORE_RUNNER_CHECKPOINT_H
#define EVSTORE_RUNNER_CHECKPOINT_H

#include <stdbool.h>
#include "store/feed_cursor.h"
#include "base/error.h"
#include "subs/subscription.h"

struct db;

/* The statement that moves a checkpoint from an old to a new cursor,
 * raising SQLSTATE_CHECKPOINT_MOVED (pg/sqlstate.h; db calls return
 * ES_EMOVED) when it is not at the old one. Parameters: subscription,
 * partition, old txid, old position, new txid, new position. */
#define CHECKPOINT_ADVANCE_SQL \
	"SELECT evstore.checkpoint_advance($1, $2::int, $3::xid8, $4::bigint, $5::xid8, $6::bigint)"

/* Text parameters for CHECKPOINT_ADVANCE_SQL, kept alive by the caller. */
struct checkpoint_params {
	char part[16], old_tx[24], old_pos[24], new_tx[24], new_pos[24];
	const char *values[6];
};
void checkpoint_params_fill(struct checkpoint_params *p, const char *subscription, int partition,
			    const struct feed_cursor *old, const struct feed_cursor *new_);

/* Reads the checkpoint, creating it first when there is none: start_from
 * beginning/checkpoint start before the first event, end after everything
 * committed now, <position> just before the first event at or after it. */
enum es_status checkpoint_load(struct db *db, const struct subscription *c, int partition,
			       struct feed_cursor *out) ES_MUST_CHECK;

/* Moves the checkpoint from old to new in its own transaction.
 * ES_ECONFLICT when it was not at old (someone else moved it). */
enum es_status checkpoint_save(struct db *db, const char *subscription, int partition,
			       const struct feed_cursor *old,
			       const struct feed_cursor *new_) ES_MUST_CHECK;

static inline bool checkpoint_equal(const struct feed_cursor *a, const struct feed_cursor *b)
{
	return a->txid == b->txid && a->position == b->position;
}

#endif
