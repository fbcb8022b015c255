/* verify.c - events against their streams rows, chunk by chunk.
 *
 * A chunk is a range of stream keys (tenant_id, aggregate_type,
 * aggregate_id): above the last one checked, up to the chunk-th streams row
 * after it (the last chunk has no upper end, so events of streams with no
 * row beyond the last one are seen too). In a range, the events grouped by
 * stream (read in the order of events_stream_version_key) are joined with
 * the streams rows (in primary key order) by a merge join: no sort, no hash,
 * no sequential scan. Given the unique (stream, version) key, versions
 * 1..n without a gap is count = max = n and min = 1. */
#include "buildconf.h"
#include "store/verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg/db.h"
#include "base/uuidtext.h"

#define STREAM_KEY "(tenant_id, aggregate_type, aggregate_id)"

#define VERIFY_SQL(UPPER) \
	"SELECT COALESCE(e.tenant_id, s.tenant_id)::text, COALESCE(e.aggregate_type, s.aggregate_type)," \
	" COALESCE(e.aggregate_id, s.aggregate_id)::text, e.n, e.lo, e.hi, s.version" \
	" FROM (SELECT tenant_id, aggregate_type, aggregate_id, count(*) AS n, min(version) AS lo," \
	"   max(version) AS hi FROM evstore.events" \
	"  WHERE " STREAM_KEY " > ($1::uuid, $2::text, $3::uuid)" UPPER \
	"  GROUP BY tenant_id, aggregate_type, aggregate_id) e" \
	" FULL JOIN (SELECT tenant_id, aggregate_type, aggregate_id, version FROM evstore.streams" \
	"  WHERE " STREAM_KEY " > ($1::uuid, $2::text, $3::uuid)" UPPER ") s" \
	"  USING (tenant_id, aggregate_type, aggregate_id)" \
	" WHERE e.n IS NULL OR s.version IS NULL OR e.lo <> 1 OR e.n <> e.hi OR s.version <> e.hi" \
	" LIMIT $4::int"

#define VERIFY_UPPER " AND " STREAM_KEY " <= ($5::uuid, $6::text, $7::uuid)"

/* Plans that read the tables in index order only (the merge join's output
 * is in key order: no ORDER BY needed). What they turn off makes every
 * other plan cost 1e10, far above jit_above_cost: without jit = off each
 * chunk would be compiled first. */
#define VERIFY_SETTINGS \
	"SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;" \
	" SET enable_hashagg = off; SET enable_hashjoin = off; SET jit = off"

enum es_status verify_query(struct db *db, const struct verify_report *rep, const char *label,
			    const char *sql, PGresult **out)
{
	char room[16];
	const char *vals[1] = { room };

	*out = NULL;
	if (rep->found >= rep->max_problems)
		return ES_OK;
	snprintf(room, sizeof room, "%d", rep->max_problems - rep->found);
	return db_exec_params(db, label, sql, 1, vals, out);
}

enum es_status verify_stream_count(struct db *db, int64_t *count)
{
	enum es_status rc = db_exec_sql(db, VERIFY_SETTINGS, NULL);

	if (rc == ES_OK)
		rc = db_exec_params_int64(db, "verify_stream_count",
					  "SELECT count(*) FROM evstore.streams", 0, NULL, count);
	return rc;
}

/* Says what is wrong with one stream of the result. */
static void verify_stream_problem(const PGresult *r, int i, struct verify_report *rep)
{
	const char *tenant = PQgetvalue(r, i, 0), *type = PQgetvalue(r, i, 1), *id = PQgetvalue(r, i, 2);
	const char *row = db_value_or_null(r, i, 6);
	char who[160], text[384];

	snprintf(who, sizeof who, "stream %s %s%s%s", type, id,
		 strcmp(tenant, UUIDTEXT_NIL) ? " of tenant " : "", strcmp(tenant, UUIDTEXT_NIL) ? tenant : "");
	if (PQgetisnull(r, i, 3))
		snprintf(text, sizeof text, "%s: the streams row says version %s, but the stream has no"
			 " event", who, row);
	else if (db_value_int64(r, i, 4) != 1 || db_value_int64(r, i, 3) != db_value_int64(r, i, 5))
		snprintf(text, sizeof text, "%s: %s event%s with versions %s to %s: not 1 to %s"
			 " without a gap", who, PQgetvalue(r, i, 3),
			 db_value_int64(r, i, 3) == 1 ? "" : "s", PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
			 PQgetvalue(r, i, 3));
	else if (!row)
		snprintf(text, sizeof text, "%s: no streams row, its highest event is version %s",
			 who, PQgetvalue(r, i, 5));
	else
		snprintf(text, sizeof text, "%s: the streams row says version %s, its highest event"
			 " is version %s", who, row, PQgetvalue(r, i, 5));
	rep->found++;
	rep->problem(rep->arg, text);
}

enum es_status verify_streams(struct db *db, int chunk, struct verify_report *rep)
{
	/* Below every real key: the nil tenant, an empty type (never a real one). */
	const char *lo[3] = { UUIDTEXT_NIL, "", UUIDTEXT_NIL };
	PGresult *lo_row = NULL;      /* where lo points, once past the first chunk */
	char room[16], offset[16];
	int64_t done = 0;
	enum es_status rc;

	if (chunk < 1)
		return ES_EINVAL;
	snprintf(offset, sizeof offset, "%d", chunk - 1);
	rc = db_exec_sql(db, VERIFY_SETTINGS, NULL);
	while (rc == ES_OK && rep->found < rep->max_problems) {
		const char *bound_vals[4] = { lo[0], lo[1], lo[2], offset };
		const char *vals[7] = { lo[0], lo[1], lo[2], room, NULL, NULL, NULL };
		PGresult *hi = NULL, *r = NULL;
		bool last;

		/* The upper end of this chunk: the chunk-th streams row. */
		rc = db_exec_params(db, "verify_bound",
				    "SELECT tenant_id::text, aggregate_type, aggregate_id::text"
				    " FROM evstore.streams WHERE " STREAM_KEY " > ($1::uuid, $2::text, $3::uuid)"
				    " ORDER BY " STREAM_KEY " OFFSET $4::int LIMIT 1", 4, bound_vals, &hi);
		if (rc != ES_OK)
			break;
		last = PQntuples(hi) == 0;
		for (int k = 0; !last && k < 3; k++)
			vals[4 + k] = PQgetvalue(hi, 0, k);
		snprintf(room, sizeof room, "%d", rep->max_problems - rep->found);
		rc = db_exec_params(db, "verify_streams", last ? VERIFY_SQL("") : VERIFY_SQL(VERIFY_UPPER),
				    last ? 4 : 7, vals, &r);
		if (rc == ES_OK) {
			for (int i = 0; i < PQntuples(r) && rep->found < rep->max_problems; i++)
				verify_stream_problem(r, i, rep);
			/* The last chunk ends the count, however many it held. */
			if (rep->progress)
				rep->progress(rep->arg, last ? INT64_MAX : (done += chunk));
		}
		PQclear(r);
		if (last) {
			PQclear(hi);
			break;
		}
		PQclear(lo_row);
		lo_row = hi;
		for (int k = 0; k < 3; k++)
			lo[k] = PQgetvalue(lo_row, 0, k);
	}
	PQclear(lo_row);
	return rc;
}
