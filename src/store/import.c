/* import.c - one import batch: COPY into a temporary table, then a single
 * statement that finds the first line at fault and, when there is none,
 * inserts the new events (in line order, so positions follow the file)
 * and creates or moves their streams rows.
 *
 * The checks and the writes share one statement so that the rows are read
 * and looked up once: a CTE referenced twice is computed once. The
 * unique keys on events stay the backstop: a writer appending to the same
 * streams between the check and the insert fails the batch, never the
 * store. */
#include "buildconf.h"
#include "store/import.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg/db.h"
#include "store/event_line.h"

/* The batch, as event_line_copy_row writes it; emptied at each commit. */
#define IMPORT_TABLE_SQL \
	"CREATE TEMPORARY TABLE IF NOT EXISTS evstore_import (" \
	" line bigint NOT NULL, tenant_id uuid NOT NULL, event_id uuid NOT NULL," \
	" aggregate_type text NOT NULL, aggregate_id uuid NOT NULL, version bigint NOT NULL," \
	" event_type text NOT NULL, actor_id text, occurred_at timestamptz NOT NULL," \
	" recorded_at timestamptz, payload jsonb NOT NULL, metadata jsonb NOT NULL)" \
	" ON COMMIT DELETE ROWS"

/* Columns compared for "the same content" (recorded_at apart: only when given). */
#define IMPORT_SAME(A, B) \
	"(" A ".aggregate_type, " A ".aggregate_id, " A ".version, " A ".event_type, " A ".actor_id," \
	" " A ".occurred_at, " A ".payload, " A ".metadata) IS NOT DISTINCT FROM" \
	" (" B ".aggregate_type, " B ".aggregate_id, " B ".version, " B ".event_type, " B ".actor_id," \
	" " B ".occurred_at, " B ".payload, " B ".metadata)"

static const char import_sql[] =
	/* Each line with the first line of the batch giving its id. */
	"WITH b AS ("
	"  SELECT i.*, min(i.line) OVER (PARTITION BY i.tenant_id, i.event_id) AS first_line"
	"  FROM pg_temp.evstore_import i),"
	/* An id given again in the batch must come with the same content. */
	" again AS ("
	"  SELECT r.*, f.line AS other_line FROM b r JOIN b f"
	"   ON f.tenant_id = r.tenant_id AND f.event_id = r.event_id AND f.line = r.first_line"
	"  WHERE r.line <> r.first_line AND NOT (" IMPORT_SAME("r", "f")
	"   AND (r.recorded_at IS NULL OR f.recorded_at IS NULL OR r.recorded_at = f.recorded_at))),"
	/* Each id once, and what the store holds under it. */
	" known AS ("
	"  SELECT f.*, e.position IS NOT NULL AS stored,"
	"   CASE WHEN e.position IS NULL THEN NULL"
	"    WHEN e.aggregate_type <> f.aggregate_type THEN 'aggregate_type'"
	"    WHEN e.aggregate_id <> f.aggregate_id THEN 'aggregate_id'"
	"    WHEN e.version <> f.version THEN 'version'"
	"    WHEN e.event_type <> f.event_type THEN 'event_type'"
	"    WHEN e.actor_id IS DISTINCT FROM f.actor_id THEN 'actor_id'"
	"    WHEN e.occurred_at <> f.occurred_at THEN 'occurred_at'"
	"    WHEN e.recorded_at <> COALESCE(f.recorded_at, e.recorded_at) THEN 'recorded_at'"
	"    WHEN e.payload <> f.payload THEN 'payload'"
	"    WHEN e.metadata <> f.metadata THEN 'metadata' END AS differs"
	"  FROM b f LEFT JOIN evstore.events e ON e.tenant_id = f.tenant_id AND e.event_id = f.event_id"
	"  WHERE f.line = f.first_line),"
	/* The new events; per stream, in version order, each must be the
	 * stream's next version. */
	" fresh AS ("
	"  SELECT k.*, COALESCE(s.version, 0) + row_number() OVER ("
	"    PARTITION BY k.tenant_id, k.aggregate_type, k.aggregate_id ORDER BY k.version, k.line) AS expected"
	"  FROM known k LEFT JOIN evstore.streams s ON s.tenant_id = k.tenant_id"
	"   AND s.aggregate_type = k.aggregate_type AND s.aggregate_id = k.aggregate_id"
	"  WHERE NOT k.stored),"
	" problem AS ("
	"  SELECT * FROM ("
	"   SELECT line, 'again' AS what, other_line AS other, NULL::text AS field, event_id,"
	"    tenant_id, aggregate_type, aggregate_id, version FROM again"
	"   UNION ALL SELECT line, 'differs', NULL, differs, event_id, tenant_id, aggregate_type,"
	"    aggregate_id, version FROM known WHERE differs IS NOT NULL"
	"   UNION ALL SELECT line, CASE WHEN version < expected THEN 'taken' ELSE 'gap' END,"
	"    expected - 1, NULL, event_id, tenant_id, aggregate_type, aggregate_id, version"
	"   FROM fresh WHERE version <> expected) p"
	"  ORDER BY line LIMIT 1),"
	" ins AS ("
	"  INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version,"
	"   event_type, actor_id, occurred_at, recorded_at, payload, metadata)"
	"  SELECT tenant_id, event_id, aggregate_type, aggregate_id, version, event_type, actor_id,"
	"   occurred_at, COALESCE(recorded_at, now()), payload, metadata"
	"  FROM fresh WHERE NOT EXISTS (SELECT 1 FROM problem) ORDER BY line"
	"  RETURNING 1),"
	/* A stream's rows: created when its first event was recorded, at
	 * the highest version imported. */
	" st AS ("
	"  INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version,"
	"   created_at, updated_at)"
	"  SELECT tenant_id, aggregate_type, aggregate_id, max(version),"
	"   min(COALESCE(recorded_at, now())), max(COALESCE(recorded_at, now()))"
	"  FROM fresh WHERE NOT EXISTS (SELECT 1 FROM problem)"
	"  GROUP BY tenant_id, aggregate_type, aggregate_id"
	"  ON CONFLICT (tenant_id, aggregate_type, aggregate_id)"
	"  DO UPDATE SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at"
	"  RETURNING 1)"
	" SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM st), (SELECT count(*) FROM b),"
	"  p.line, p.what, p.other, p.field, p.event_id, NULLIF(p.tenant_id,"
	"  '00000000-0000-0000-0000-000000000000'), p.aggregate_type, p.aggregate_id, p.version"
	" FROM (SELECT 1) one LEFT JOIN problem p ON true";

/* Keeps why the batch failed (the ROLLBACK after it clears the session's
 * last error) and rolls back. */
static void import_fail(struct db *db, struct import_result *res)
{
	snprintf(res->reason, sizeof res->reason, "%s", db_last_error(db));
	if (db_connected(db))
		(void)!db_exec_sql(db, "ROLLBACK", NULL);
}

enum es_status import_begin(struct db *db, struct import_result *res)
{
	enum es_status rc;

	memset(res, 0, sizeof *res);
	rc = db_exec_sql(db, "BEGIN", NULL);

	if (rc == ES_OK)
		rc = db_exec_sql(db, IMPORT_TABLE_SQL, NULL);
	if (rc == ES_OK)
		rc = db_copy_in_begin(db, "COPY pg_temp.evstore_import (" EVENT_LINE_COPY_COLUMNS
				      ") FROM STDIN");
	if (rc != ES_OK)
		import_fail(db, res);
	return rc;
}

void import_put(struct db *db, const char *rows, size_t len)
{
	db_copy_in_put(db, rows, len);
}

void import_abort(struct db *db, const char *reason)
{
	(void)!db_copy_in_end(db, reason);
	if (db_connected(db))
		(void)!db_exec_sql(db, "ROLLBACK", NULL);
}

/* Puts the problem row into words. */
static void import_reason(const PGresult *r, struct import_result *res)
{
	const char *what = PQgetvalue(r, 0, 4), *other = PQgetvalue(r, 0, 5);
	const char *field = PQgetvalue(r, 0, 6), *id = PQgetvalue(r, 0, 7);
	const char *tenant = db_value_or_null(r, 0, 8), *type = PQgetvalue(r, 0, 9);
	const char *agg = PQgetvalue(r, 0, 10), *version = PQgetvalue(r, 0, 11);
	char in_tenant[64] = "";

	if (tenant)
		snprintf(in_tenant, sizeof in_tenant, " of tenant %s", tenant);
	res->line = db_value_int64(r, 0, 3);
	if (strcmp(what, "again") == 0)
		snprintf(res->reason, sizeof res->reason, "event %s%s is on line %s already, with other"
			 " content", id, in_tenant, other);
	else if (strcmp(what, "differs") == 0)
		snprintf(res->reason, sizeof res->reason, "event %s%s is stored already with another"
			 " %s", id, in_tenant, field);
	else if (strcmp(what, "taken") == 0)
		snprintf(res->reason, sizeof res->reason, "version %s of %s %s%s is taken already (the"
			 " stream is at version %s)", version, type, agg, in_tenant, other);
	else
		snprintf(res->reason, sizeof res->reason, "version %s of %s %s%s leaves a gap: the"
			 " stream is at version %s", version, type, agg, in_tenant, other);
}

enum es_status import_send(struct db *db)
{
	enum es_status rc = db_copy_in_end(db, NULL);

	return rc == ES_OK ? db_exec_send(db, "import_batch", import_sql) : rc;
}

enum es_status import_wait(struct db *db, enum es_status sent, struct import_result *res)
{
	PGresult *r = NULL;
	enum es_status rc = sent;

	memset(res, 0, sizeof *res);
	if (rc == ES_OK)
		rc = db_exec_wait(db, "import_batch", &r);
	if (rc != ES_OK)
		goto fail;
	if (!PQgetisnull(r, 0, 3)) {
		res->refused = true;
		import_reason(r, res);
		PQclear(r);
		(void)!db_exec_sql(db, "ROLLBACK", NULL);
		return ES_OK;
	}
	res->inserted = db_value_int64(r, 0, 0);
	res->skipped = db_value_int64(r, 0, 2) - res->inserted;
	PQclear(r);
	rc = db_exec_sql(db, "COMMIT", NULL);
	if (rc == ES_OK)
		return ES_OK;
fail:
	import_fail(db, res);
	return rc;
}
