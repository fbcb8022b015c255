/* dlq.c - the queries on evstore.dlq.
 *
 * The operators' statements run rarely (an operator or an admin route) and
 * carry optional filters ("$1 IS NULL OR ..."), so they go as unnamed
 * statements, planned for the values at hand, rather than prepared ones
 * whose generic plan could not use the (subscription, status, id) index.
 * The runner's run often and are prepared. */
#include "buildconf.h"
#include "subs/dlq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "store/feed.h"
#include "subs/checkpoint.h"

#define DLQ_TS(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The columns of struct dlq_entry, in its order. */
#define DLQ_COLUMNS \
	"id, subscription, partition, position, event_id, event_type, aggregate_type," \
	" aggregate_id, tenant_id, error, error_class, attempts, " \
	DLQ_TS("first_failed_at") " AS first_failed_at, " \
	DLQ_TS("last_failed_at") " AS last_failed_at, status, " \
	DLQ_TS("resolved_at") " AS resolved_at"
#define DLQ_NCOLUMNS 16

/* Whether an entry is in scope; $A is all_tenants, $T the tenant. */
#define DLQ_IN_SCOPE(a, t) "($" a "::bool OR tenant_id IS NOT DISTINCT FROM $" t "::uuid)"

/* Parameters: subscription, status (NULL: any), after id, limit (NULL: no
 * limit), all tenants, tenant. */
#define DLQ_LIST_SQL \
	"SELECT " DLQ_COLUMNS " FROM evstore.dlq" \
	" WHERE ($1::text IS NULL OR subscription = $1::text)" \
	" AND ($2::text IS NULL OR status = $2::text) AND id > $3::bigint" \
	" AND " DLQ_IN_SCOPE("5", "6") " ORDER BY id LIMIT $4::int"

/* Parameters: id, subscription (NULL: any), all tenants, tenant. The entry
 * is locked, requeued when failed, and returned as it is now, followed by
 * the status it had. */
#define DLQ_RETRY_SQL \
	"WITH hit AS (SELECT " DLQ_COLUMNS " FROM evstore.dlq" \
	"  WHERE id = $1::bigint AND ($2::text IS NULL OR subscription = $2::text)" \
	"  AND " DLQ_IN_SCOPE("3", "4") " FOR UPDATE)," \
	" requeued AS (UPDATE evstore.dlq d SET status = 'retrying' FROM hit" \
	"  WHERE d.id = hit.id AND hit.status = 'failed' RETURNING d.id)" \
	" SELECT id, subscription, partition, position, event_id, event_type, aggregate_type," \
	" aggregate_id, tenant_id, error, error_class, attempts, first_failed_at, last_failed_at," \
	" CASE WHEN status = 'failed' THEN 'retrying' ELSE status END, resolved_at, status" \
	" FROM hit"

/* One batch of retry-all. Parameters: subscription, after id, batch size,
 * all tenants, tenant. Answers the entries looked at, the last id among
 * them and how many were requeued (an entry the runner changed meanwhile
 * is skipped). */
#define DLQ_RETRY_BATCH_SQL \
	"WITH batch AS (SELECT id FROM evstore.dlq WHERE subscription = $1::text" \
	"  AND status = 'failed' AND id > $2::bigint AND " DLQ_IN_SCOPE("4", "5") \
	"  ORDER BY id LIMIT $3::int)," \
	" requeued AS (UPDATE evstore.dlq d SET status = 'retrying' FROM batch" \
	"  WHERE d.id = batch.id AND d.status = 'failed' RETURNING d.id)" \
	" SELECT (SELECT count(*) FROM batch), (SELECT COALESCE(max(id), 0) FROM batch)," \
	" (SELECT count(*) FROM requeued)"

/* Parameter: id. */
#define DLQ_RESOLVE_SQL \
	"UPDATE evstore.dlq SET status = 'resolved', resolved_at = now()" \
	" WHERE id = $1::bigint AND status <> 'resolved'"

/* One batch of purge. Parameters: subscription, resolved only, after id,
 * batch size. Answers as DLQ_RETRY_BATCH_SQL. */
#define DLQ_PURGE_BATCH_SQL \
	"WITH batch AS (SELECT id FROM evstore.dlq WHERE subscription = $1::text" \
	"  AND ($2::bool IS NOT TRUE OR status = 'resolved') AND id > $3::bigint" \
	"  ORDER BY id LIMIT $4::int)," \
	" purged AS (DELETE FROM evstore.dlq d USING batch WHERE d.id = batch.id RETURNING d.id)" \
	" SELECT (SELECT count(*) FROM batch), (SELECT COALESCE(max(id), 0) FROM batch)," \
	" (SELECT count(*) FROM purged)"

/* Parameter: subscription. */
#define DLQ_CLEAR_SQL \
	"WITH d AS (DELETE FROM evstore.dlq WHERE subscription = $1 RETURNING 1)" \
	" SELECT count(*) FROM d"

/* Parks an event. Parameters: subscription, partition, position,
 * transaction_id, event_id, event_type, aggregate_type, aggregate_id,
 * tenant_id ("" for none), error, error_class, attempts, first_failed_at
 * (microseconds since the epoch). */
static const struct db_statement st_park = {
	"dlq_park",
	"INSERT INTO evstore.dlq AS d (subscription, partition, position, transaction_id, event_id,"
	" event_type, aggregate_type, aggregate_id, tenant_id, error, error_class, attempts,"
	" first_failed_at, last_failed_at, status)"
	" VALUES ($1, $2::int, $3::bigint, $4::xid8, $5::uuid, $6, $7, $8::uuid,"
	" NULLIF($9, '')::uuid, $10, $11, $12::int, to_timestamp($13::double precision / 1e6),"
	" now(), 'failed')"
	" ON CONFLICT (subscription, event_id) DO UPDATE SET status = 'failed',"
	" attempts = d.attempts + EXCLUDED.attempts, error = EXCLUDED.error,"
	" error_class = EXCLUDED.error_class, last_failed_at = now(), resolved_at = NULL",
	13
};

/* Parameters: subscription, partition, limit. */
static const struct db_statement st_requeued = {
	"dlq_requeued",
	"SELECT id, position, attempts FROM evstore.dlq WHERE subscription = $1 AND partition = $2::int"
	" AND status = 'retrying' ORDER BY id LIMIT $3::int",
	3
};

/* Parameter: id. */
#define DLQ_RETRY_DONE_SQL \
	"UPDATE evstore.dlq SET status = 'resolved', resolved_at = now()," \
	" attempts = attempts + 1 WHERE id = $1::bigint"

static const struct db_statement st_retry_done = { "dlq_retry_done", DLQ_RETRY_DONE_SQL, 1 };

/* Parameters: id, error. */
static const struct db_statement st_retry_failed = {
	"dlq_retry_failed",
	"UPDATE evstore.dlq SET status = 'failed', attempts = attempts + 1,"
	" last_failed_at = now(), error = $2 WHERE id = $1::bigint",
	2
};

bool dlq_status_valid(const char *status)
{
	return status && (strcmp(status, "failed") == 0 || strcmp(status, "retrying") == 0 ||
			  strcmp(status, "resolved") == 0);
}

/* Takes r (cleared by dlq_entries_free, even on failure) and points
 * out's entries into it; r's first DLQ_NCOLUMNS columns are DLQ_COLUMNS. */
static enum es_status list_from_result(PGresult *r, struct dlq_entries *out)
{
	int rows = PQntuples(r);

	out->result_ = r;
	out->items = calloc(rows > 0 ? (size_t)rows : 1, sizeof *out->items);
	if (!out->items)
		return ES_ENOMEM;
	for (int i = 0; i < rows; i++) {
		struct dlq_entry *e = &out->items[i];

		e->id = db_value_int64(r, i, 0);
		e->subscription = PQgetvalue(r, i, 1);
		e->partition = (int)db_value_int64(r, i, 2);
		e->position = db_value_int64(r, i, 3);
		e->event_id = PQgetvalue(r, i, 4);
		e->event_type = PQgetvalue(r, i, 5);
		e->aggregate_type = PQgetvalue(r, i, 6);
		e->aggregate_id = PQgetvalue(r, i, 7);
		e->tenant_id = db_value_or_null(r, i, 8);
		e->error = PQgetvalue(r, i, 9);
		e->error_class = PQgetvalue(r, i, 10);
		e->attempts = (int)db_value_int64(r, i, 11);
		e->first_failed_at = PQgetvalue(r, i, 12);
		e->last_failed_at = PQgetvalue(r, i, 13);
		e->status = PQgetvalue(r, i, 14);
		e->resolved_at = db_value_or_null(r, i, 15);
	}
	out->count = (size_t)rows;
	return ES_OK;
}

enum es_status dlq_list(struct db *db, const struct dlq_filter *f, struct dlq_entries *out)
{
	char after[24], limit[16];
	const char *values[6] = { f->subscription, f->status, after, f->limit > 0 ? limit : NULL,
				  f->scope.all_tenants ? "true" : "false", f->scope.tenant };
	PGresult *r = NULL;
	enum es_status rc;

	memset(out, 0, sizeof *out);
	snprintf(after, sizeof after, "%" PRId64, f->after_id > 0 ? f->after_id : 0);
	snprintf(limit, sizeof limit, "%d", f->limit);
	rc = db_exec_params(db, "dlq_list", DLQ_LIST_SQL, 6, values, &r);
	if (rc != ES_OK)
		return rc;
	return list_from_result(r, out);
}

void dlq_entries_free(struct dlq_entries *list)
{
	if (!list)
		return;
	PQclear(list->result_);
	free(list->items);
	memset(list, 0, sizeof *list);
}

enum es_status dlq_retry(struct db *db, const char *subscription, const struct dlq_scope *scope,
			 int64_t id, bool *requeued, struct dlq_entries *out)
{
	char idbuf[24];
	const char *values[4] = { idbuf, subscription, scope->all_tenants ? "true" : "false",
				  scope->tenant };
	struct dlq_entries found = { 0 };
	PGresult *r = NULL;
	const char *was;
	enum es_status rc;

	*requeued = false;
	if (out)
		memset(out, 0, sizeof *out);
	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	rc = db_exec_params(db, "dlq_retry", DLQ_RETRY_SQL, 4, values, &r);
	if (rc != ES_OK)
		goto out;
	if (PQntuples(r) == 0) {
		rc = ES_ENOTFOUND;
		goto out;
	}
	was = PQgetvalue(r, 0, DLQ_NCOLUMNS);
	*requeued = strcmp(was, "failed") == 0;
	if (strcmp(was, "resolved") == 0)
		rc = ES_ESTATE;
	if (out) {
		enum es_status lrc = list_from_result(r, &found);

		r = NULL; /* found owns it now */
		if (lrc != ES_OK) {
			rc = lrc;
			goto out;
		}
		*out = found;
		memset(&found, 0, sizeof found);
	}
out:
	dlq_entries_free(&found);
	PQclear(r);
	return rc;
}

/* Runs a batch statement (DLQ_RETRY_BATCH_SQL, DLQ_PURGE_BATCH_SQL) with
 * values, whose after-id slot is after_slot, until a batch comes back
 * short; adds the changed entries to *total. */
static enum es_status run_batches(struct db *db, const char *label, const char *sql, int nparams,
				  const char **values, int after_slot, int64_t *total)
{
	char after[24] = "0";
	enum es_status rc = ES_OK;

	values[after_slot] = after;
	for (;;) {
		PGresult *r = NULL;
		long looked_at;

		rc = db_exec_params(db, label, sql, nparams, values, &r);
		if (rc != ES_OK)
			break;
		looked_at = db_value_int64(r, 0, 0);
		snprintf(after, sizeof after, "%s", PQgetvalue(r, 0, 1));
		*total += db_value_int64(r, 0, 2);
		PQclear(r);
		if (looked_at < DLQ_BATCH)
			break;
	}
	values[after_slot] = NULL;
	return rc;
}

enum es_status dlq_retry_all(struct db *db, const char *subscription,
			     const struct dlq_scope *scope, int64_t *requeued)
{
	char batch[16];
	const char *values[5] = { subscription, NULL, batch, scope->all_tenants ? "true" : "false",
				  scope->tenant };

	*requeued = 0;
	snprintf(batch, sizeof batch, "%d", DLQ_BATCH);
	return run_batches(db, "dlq_retry_batch", DLQ_RETRY_BATCH_SQL, 5, values, 1, requeued);
}

enum es_status dlq_resolve(struct db *db, int64_t id, bool *changed)
{
	char idbuf[24];
	const char *values[1] = { idbuf };
	PGresult *r = NULL;
	enum es_status rc;

	*changed = false;
	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	rc = db_exec_params(db, "dlq_resolve", DLQ_RESOLVE_SQL, 1, values, &r);
	if (rc == ES_OK)
		*changed = strtol(PQcmdTuples(r), NULL, 10) > 0;
	PQclear(r);
	return rc;
}

enum es_status dlq_purge(struct db *db, const char *subscription, bool resolved_only,
			 int64_t *purged)
{
	char batch[16];
	const char *values[4] = { subscription, resolved_only ? "true" : "false", NULL, batch };

	*purged = 0;
	snprintf(batch, sizeof batch, "%d", DLQ_BATCH);
	return run_batches(db, "dlq_purge_batch", DLQ_PURGE_BATCH_SQL, 4, values, 2, purged);
}

enum es_status dlq_clear(struct db *db, const char *subscription, int64_t *deleted)
{
	const char *values[1] = { subscription };

	return db_exec_params_int64(db, "dlq_clear", DLQ_CLEAR_SQL, 1, values, deleted);
}

/* The steps of dlq_park inside its transaction. */
static enum es_status park_steps(struct db *db, const struct dlq_failure *f,
				 const struct checkpoint_move *move)
{
	char part[16], pos[24], attempts[16], first[24];
	const struct event *ev = f->ev;
	const char *vals[13] = { f->subscription, part, pos, ev->txid, ev->event_id,
				 ev->event_type, ev->aggregate_type, ev->aggregate_id, ev->tenant_id,
				 f->error, f->error_class, attempts, first };
	PGresult *r = NULL;
	enum es_status rc;

	snprintf(part, sizeof part, "%d", f->partition);
	snprintf(pos, sizeof pos, "%" PRId64, ev->position);
	snprintf(attempts, sizeof attempts, "%d", f->attempts);
	snprintf(first, sizeof first, "%" PRId64, f->first_failed_usec);
	rc = db_exec(db, &st_park, vals, &r);
	PQclear(r);
	if (rc == ES_OK)
		rc = checkpoint_move_run(db, move);
	return rc;
}

enum es_status dlq_park(struct db *db, const struct dlq_failure *f,
			const struct checkpoint_move *move)
{
	enum es_status rc = db_exec_sql(db, "BEGIN", NULL);

	if (rc == ES_OK)
		rc = park_steps(db, f, move);
	if (rc == ES_OK)
		rc = db_exec_sql(db, "COMMIT", NULL);
	if (rc != ES_OK && db_connected(db))
		(void)!db_exec_sql(db, "ROLLBACK", NULL);
	return rc;
}

enum es_status dlq_list_requeued(struct db *db, const char *subscription, int partition,
				 struct dlq_requeued *out, size_t max, size_t *n)
{
	char part[16], lim[24];
	const char *vals[3] = { subscription, part, lim };
	PGresult *r = NULL;
	enum es_status rc;

	*n = 0;
	snprintf(part, sizeof part, "%d", partition);
	snprintf(lim, sizeof lim, "%zu", max);
	rc = db_exec(db, &st_requeued, vals, &r);
	if (rc != ES_OK)
		goto out;
	for (int i = 0; i < PQntuples(r) && (size_t)i < max; i++) {
		out[i].id = db_value_int64(r, i, 0);
		out[i].position = db_value_int64(r, i, 1);
		out[i].attempts = (int)db_value_int64(r, i, 2);
		(*n)++;
	}
out:
	PQclear(r);
	return rc;
}

void dlq_retry_done_init(struct dlq_retry_done *s, int64_t id)
{
	snprintf(s->id_, sizeof s->id_, "%" PRId64, id);
	s->sql = DLQ_RETRY_DONE_SQL;
	s->nparams = 1;
	s->values[0] = s->id_;
}

enum es_status dlq_mark_retry_done(struct db *db, int64_t id)
{
	struct dlq_retry_done s;
	PGresult *r = NULL;
	enum es_status rc;

	dlq_retry_done_init(&s, id);
	rc = db_exec(db, &st_retry_done, s.values, &r);
	PQclear(r);
	return rc;
}

enum es_status dlq_mark_retry_failed(struct db *db, int64_t id, const char *error)
{
	char idbuf[24];
	const char *vals[2] = { idbuf, error };
	PGresult *r = NULL;
	enum es_status rc;

	snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
	rc = db_exec(db, &st_retry_failed, vals, &r);
	PQclear(r);
	return rc;
}
