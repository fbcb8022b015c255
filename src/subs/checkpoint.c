/* checkpoint.c - evstore.checkpoints rows. */
#include "buildconf.h"
#include "subs/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "store/feed.h"
#include "store/verify.h"
#include "subs/subscription.h"

/* Parameters: subscription, partition, from txid, from position, to txid,
 * to position. */
#define CHECKPOINT_ADVANCE_SQL \
	"SELECT evstore.checkpoint_advance($1, $2::int, $3::xid8, $4::bigint, $5::xid8, $6::bigint)"

static const struct db_statement st_get = {
	"checkpoint_get",
	"SELECT transaction_id::text, position FROM evstore.checkpoints"
	" WHERE subscription = $1 AND partition = $2::int",
	2
};

/* The first row, unless another runner was quicker. */
static const struct db_statement st_init = {
	"checkpoint_init",
	"INSERT INTO evstore.checkpoints (subscription, partition, transaction_id, position)"
	" VALUES ($1, $2::int, $3::xid8, $4::bigint)"
	" ON CONFLICT (subscription, partition) DO NOTHING",
	4
};

/* The rest runs rarely (evstorectl rebuild), unprepared. */
#define CHECKPOINT_LOCK_SQL \
	"SELECT 1 FROM evstore.checkpoints WHERE subscription = $1 FOR UPDATE"
/* Partitions 0 .. $2 - 1 back to the start of the feed, rows created when
 * missing. */
#define CHECKPOINT_RESET_SQL \
	"INSERT INTO evstore.checkpoints (subscription, partition)" \
	" SELECT $1, p FROM generate_series(0, $2::int - 1) p" \
	" ON CONFLICT (subscription, partition) DO UPDATE" \
	" SET transaction_id = '0', position = 0, updated_at = now()"
/* Parameters: subscription, target txid, target position, partitions. */
#define CHECKPOINT_PROGRESS_SQL \
	"SELECT coalesce(min(position), 0), count(*) = $4::int AND bool_and(" \
	" transaction_id > $2::xid8 OR (transaction_id = $2::xid8 AND position >= $3::bigint))" \
	" FROM evstore.checkpoints WHERE subscription = $1 AND partition < $4::int"

/* Where a partition without a checkpoint starts, per c->start_from. */
static enum es_status checkpoint_start(struct db *db, const struct subscription *c,
				       struct feed_cursor *out)
{
	memset(out, 0, sizeof *out);
	if (c->start_from == SUB_START_END)
		return feed_horizon(db, out);
	if (c->start_from == SUB_START_POSITION)
		return feed_cursor_before(db, c->start_position, out);
	return ES_OK;
}

/* Creates the checkpoint of (c->name, part) at c's start unless it exists. */
static enum es_status checkpoint_init(struct db *db, const struct subscription *c,
				      const char *part)
{
	struct feed_cursor start;
	char tx[24], pos[24];
	const char *vals[4] = { c->name, part, tx, pos };
	PGresult *r = NULL;
	enum es_status rc = checkpoint_start(db, c, &start);

	if (rc != ES_OK)
		return rc;
	snprintf(tx, sizeof tx, "%" PRIu64, start.txid);
	snprintf(pos, sizeof pos, "%" PRId64, start.position);
	rc = db_exec(db, &st_init, vals, &r);
	PQclear(r);
	return rc;
}

enum es_status checkpoint_load(struct db *db, const struct subscription *c, int partition,
			       struct feed_cursor *out)
{
	char part[16];
	const char *vals[2] = { c->name, part };
	PGresult *r = NULL;
	enum es_status rc;

	snprintf(part, sizeof part, "%d", partition);
	rc = db_exec(db, &st_get, vals, &r);
	if (rc == ES_OK && PQntuples(r) == 0) {
		PQclear(r);
		r = NULL;
		rc = checkpoint_init(db, c, part);
		if (rc == ES_OK)
			rc = db_exec(db, &st_get, vals, &r);
	}
	if (rc != ES_OK)
		goto out;
	if (PQntuples(r) != 1) {
		rc = ES_EDB;
		goto out;
	}
	out->txid = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	out->position = db_value_int64(r, 0, 1);
out:
	PQclear(r);
	return rc;
}

void checkpoint_move_init(struct checkpoint_move *m, const char *subscription, int partition,
			  const struct feed_cursor *from, const struct feed_cursor *to)
{
	snprintf(m->part_, sizeof m->part_, "%d", partition);
	snprintf(m->from_tx_, sizeof m->from_tx_, "%" PRIu64, from->txid);
	snprintf(m->from_pos_, sizeof m->from_pos_, "%" PRId64, from->position);
	snprintf(m->to_tx_, sizeof m->to_tx_, "%" PRIu64, to->txid);
	snprintf(m->to_pos_, sizeof m->to_pos_, "%" PRId64, to->position);
	m->sql = CHECKPOINT_ADVANCE_SQL;
	m->nparams = 6;
	m->values[0] = subscription;
	m->values[1] = m->part_;
	m->values[2] = m->from_tx_;
	m->values[3] = m->from_pos_;
	m->values[4] = m->to_tx_;
	m->values[5] = m->to_pos_;
}

enum es_status checkpoint_move_run(struct db *db, const struct checkpoint_move *m)
{
	return db_exec_params(db, "checkpoint_advance", m->sql, m->nparams, m->values, NULL);
}

enum es_status checkpoint_save(struct db *db, const char *subscription, int partition,
			       const struct feed_cursor *from, const struct feed_cursor *to)
{
	struct checkpoint_move m;

	checkpoint_move_init(&m, subscription, partition, from, to);
	return checkpoint_move_run(db, &m);
}

enum es_status checkpoint_lock_all(struct db *db, const char *subscription)
{
	const char *vals[1] = { subscription };

	return db_exec_params(db, "checkpoint_lock", CHECKPOINT_LOCK_SQL, 1, vals, NULL);
}

enum es_status checkpoint_reset_all(struct db *db, const char *subscription, int partitions)
{
	char parts[16];
	const char *vals[2] = { subscription, parts };

	snprintf(parts, sizeof parts, "%d", partitions);
	return db_exec_params(db, "checkpoint_reset", CHECKPOINT_RESET_SQL, 2, vals, NULL);
}

enum es_status checkpoint_progress(struct db *db, const char *subscription, int partitions,
				   const struct feed_cursor *target, int64_t *min_position,
				   bool *passed)
{
	char parts[16], tx[24], pos[24];
	const char *vals[4] = { subscription, tx, pos, parts };
	PGresult *r = NULL;
	enum es_status rc;

	*min_position = 0;
	*passed = false;
	snprintf(parts, sizeof parts, "%d", partitions);
	snprintf(tx, sizeof tx, "%" PRIu64, target->txid);
	snprintf(pos, sizeof pos, "%" PRId64, target->position);
	rc = db_exec_params(db, "checkpoint_progress", CHECKPOINT_PROGRESS_SQL, 4, vals, &r);
	if (rc == ES_OK) {
		*min_position = db_value_int64(r, 0, 0);
		*passed = db_value_bool(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

enum es_status checkpoint_verify(struct db *db, struct verify_report *rep)
{
	PGresult *r = NULL;
	enum es_status rc;

	rc = verify_query(db, rep, "checkpoint_verify",
			    "SELECT c.subscription, c.partition, c.transaction_id::text, c.position,"
			    " pg_snapshot_xmin(pg_current_snapshot())::text"
			    " FROM evstore.checkpoints c"
			    " WHERE c.transaction_id >= pg_snapshot_xmin(pg_current_snapshot())"
			    " ORDER BY c.subscription, c.partition LIMIT $1::int", &r);
	for (int i = 0; rc == ES_OK && i < PQntuples(r); i++) {
		char text[384];

		snprintf(text, sizeof text, "checkpoint of %s/%s is ahead of the feed: transaction %s"
			 " (position %s), the feed is complete below transaction %s", PQgetvalue(r, i, 0),
			 PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
		rep->found++;
		rep->problem(rep->arg, text);
	}
	PQclear(r);
	return rc;
}
