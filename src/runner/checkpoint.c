/* checkpoint.c - evstore.checkpoints rows. */
#include "buildconf.h"
#include "runner/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pg/db.h"

void checkpoint_params_fill(struct checkpoint_params *p, const char *subscription, int partition,
			    const struct feed_cursor *old, const struct feed_cursor *new_)
{
	snprintf(p->part, sizeof p->part, "%d", partition);
	snprintf(p->old_tx, sizeof p->old_tx, "%" PRIu64, old->txid);
	snprintf(p->old_pos, sizeof p->old_pos, "%" PRId64, old->position);
	snprintf(p->new_tx, sizeof p->new_tx, "%" PRIu64, new_->txid);
	snprintf(p->new_pos, sizeof p->new_pos, "%" PRId64, new_->position);
	p->values[0] = subscription;
	p->values[1] = p->part;
	p->values[2] = p->old_tx;
	p->values[3] = p->old_pos;
	p->values[4] = p->new_tx;
	p->values[5] = p->new_pos;
}

static const struct db_statement st_checkpoint_get = {
	"runner_checkpoint_get",
	"SELECT transaction_id::text, position FROM evstore.checkpoints"
	" WHERE subscription = $1 AND partition = $2::int",
	2
};

/* The initial row: $3 is the start mode, $4 the position for 'position'.
 * 'end' and an unmatched position: everything below the horizon now. */
static const struct db_statement st_checkpoint_init = {
	"runner_checkpoint_init",
	"INSERT INTO evstore.checkpoints (subscription, partition, transaction_id, position)"
	" SELECT $1, $2::int, s.t, s.p FROM ("
	"   SELECT '0'::xid8 AS t, 0::bigint AS p WHERE $3 = 'beginning'"
	"   UNION ALL"
	"   SELECT COALESCE(f.t, h.t), COALESCE(f.p, h.p) FROM"
	"     (SELECT ((pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text)::xid8 AS t,"
	"             9223372036854775807::bigint AS p) h"
	"     LEFT JOIN (SELECT e.transaction_id AS t, e.position - 1 AS p FROM evstore.events e"
	"                WHERE $3 = 'position' AND e.position >= $4::bigint"
	"                ORDER BY e.position LIMIT 1) f ON true"
	"   WHERE $3 <> 'beginning') s"
	" ON CONFLICT (subscription, partition) DO NOTHING",
	4
};

enum es_status checkpoint_load(struct db *db, const struct subscription *c, int partition,
			       struct feed_cursor *out)
{
	char part[16], pos[24];
	const char *mode = c->start_from == SUB_START_END ? "end"
			   : c->start_from == SUB_START_POSITION ? "position" : "beginning";
	const char *vals[4] = { c->name, part, mode, pos };
	PGresult *r = NULL;
	enum es_status rc;

	snprintf(part, sizeof part, "%d", partition);
	snprintf(pos, sizeof pos, "%" PRId64, c->start_position);
	rc = db_exec(db, &st_checkpoint_get, vals, &r);
	if (rc == ES_OK && PQntuples(r) == 0) {
		PQclear(r);
		r = NULL;
		rc = db_exec(db, &st_checkpoint_init, vals, &r);
		PQclear(r);
		r = NULL;
		if (rc == ES_OK)
			rc = db_exec(db, &st_checkpoint_get, vals, &r);
	}
	if (rc != ES_OK)
		goto out;
	if (PQntuples(r) != 1) {
		rc = ES_EDB;
		goto out;
	}
	out->txid = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	out->position = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
out:
	PQclear(r);
	return rc;
}

enum es_status checkpoint_save(struct db *db, const char *subscription, int partition,
			       const struct feed_cursor *old, const struct feed_cursor *new_)
{
	struct checkpoint_params p;
	enum es_status rc;

	checkpoint_params_fill(&p, subscription, partition, old, new_);
	rc = db_exec_params(db, "checkpoint_advance", CHECKPOINT_ADVANCE_SQL, 6, p.values, NULL);
	if (rc == ES_EMOVED)
		rc = ES_ECONFLICT;
	return rc;
}
