/* snapshot.c - evstore.snapshots: the head of a state read (a stream's
 * newest usable snapshot and the events after it), writing and dropping. */
#include "buildconf.h"
#include "aggregate/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "json/jsondoc.h"
#include "base/uuidtext.h"
#include "store/verify.h"

/* The stream's version, the newest usable snapshot and the first page of
 * events after it, in one statement (one snapshot of the database). Rows of
 * kind 0 (exactly one when the stream exists): stream version, -, snapshot
 * state, -, snapshot version, -. Rows of kind 1: event version, event
 * type, payload, metadata (only when $7 asks), -, event id. */
static const struct db_statement st_read_head = {
	"snapshot_read_head",
	"WITH s AS (SELECT version FROM evstore.streams"
	"   WHERE tenant_id = $1::uuid AND aggregate_type = $2::text AND aggregate_id = $3::uuid),"
	" sn AS (SELECT version, state FROM evstore.snapshots"
	"   WHERE tenant_id = $1::uuid AND aggregate_type = $2::text AND aggregate_id = $3::uuid"
	"     AND schema_version = $4::int AND rules_hash = $5::text"
	"     AND version <= LEAST((SELECT version FROM s), $6::bigint))"
	" SELECT 0 AS kind, s.version, NULL::text, sn.state::text, NULL::text, sn.version, NULL::text"
	"   FROM s LEFT JOIN sn ON true"
	" UNION ALL"
	" (SELECT 1, e.version, e.event_type, e.payload::text,"
	"         CASE WHEN $7::bool THEN e.metadata::text END, NULL::bigint, e.event_id::text"
	"   FROM evstore.events e"
	"   WHERE e.tenant_id = $1::uuid AND e.aggregate_type = $2::text AND e.aggregate_id = $3::uuid"
	"     AND e.version > COALESCE((SELECT version FROM sn), 0)"
	"     AND e.version <= LEAST((SELECT version FROM s), $6::bigint)"
	"   ORDER BY e.version LIMIT $8::int)"
	" ORDER BY 1, 2",
	8
};

static const struct db_statement st_snapshot_put = {
	"snapshot_put",
	"SELECT evstore.snapshot_put($1::uuid, $2::text, $3::uuid, $4::bigint, $5::int, $6::text,"
	" $7::jsonb)",
	7
};

static const struct db_statement st_snapshot_invalidate = {
	"snapshot_invalidate",
	"WITH d AS (DELETE FROM evstore.snapshots WHERE aggregate_type = $1::text RETURNING 1)"
	" SELECT count(*) FROM d",
	1
};

enum es_status snapshot_save(struct db *db, const struct aggdef *def, const char *tenant,
			     const char *aggregate_id, int64_t version, json_object *state,
			     bool *written)
{
	char v[24], schema[16];
	const char *values[7];
	const char *text = jsondoc_compact(state);
	PGresult *r = NULL;
	enum es_status rc;

	if (written)
		*written = false;
	/* A state holding personal data is never stored: a snapshot would
	 * keep it readable after its subject's erasure. Its reads fold from
	 * the events, where erasure takes effect. */
	if (def->n_personal_state > 0)
		return ES_OK;
	if (!text)
		return ES_ENOMEM;
	if (version < 1 || !json_object_is_type(state, json_type_object))
		return ES_EINVAL;
	snprintf(v, sizeof v, "%" PRId64, version);
	snprintf(schema, sizeof schema, "%d", def->schema_version);
	values[0] = tenant ? tenant : UUIDTEXT_NIL;
	values[1] = def->aggregate_type;
	values[2] = aggregate_id;
	values[3] = v;
	values[4] = schema;
	values[5] = def->rules_hash;
	values[6] = text;
	rc = db_exec(db, &st_snapshot_put, values, &r);
	if (rc == ES_OK && written)
		*written = PQntuples(r) == 1 && db_value_bool(r, 0, 0);
	PQclear(r);
	return rc;
}

enum es_status snapshot_invalidate(struct db *db, const char *aggregate_type, int64_t *deleted)
{
	const char *values[1] = { aggregate_type };
	PGresult *r = NULL;
	enum es_status rc;

	if (deleted)
		*deleted = 0;
	rc = db_exec(db, &st_snapshot_invalidate, values, &r);
	if (rc == ES_OK && deleted && PQntuples(r) == 1)
		*deleted = db_value_int64(r, 0, 0);
	PQclear(r);
	return rc;
}

bool snapshot_due(const struct aggdef *def, int64_t old_version, int64_t new_version)
{
	if (def->snapshot_mode == AGGDEF_SNAPSHOT_NONE || def->snapshot_threshold < 1)
		return false;
	return old_version / def->snapshot_threshold < new_version / def->snapshot_threshold;
}

enum es_status snapshot_read_head(struct db *db, const struct aggdef *def, const char *tenant,
				  const char *aggregate_type, const char *aggregate_id,
				  int64_t upto, bool with_metadata, int limit, PGresult **out)
{
	char schema[16], upto_s[24], page[16];
	const char *values[8];

	snprintf(schema, sizeof schema, "%d", def ? def->schema_version : 0);
	snprintf(upto_s, sizeof upto_s, "%" PRId64, upto);
	snprintf(page, sizeof page, "%d", limit);
	values[0] = tenant ? tenant : UUIDTEXT_NIL;
	values[1] = aggregate_type;
	values[2] = aggregate_id;
	values[3] = def ? schema : NULL;
	values[4] = def ? def->rules_hash : NULL;
	values[5] = upto_s;
	values[6] = with_metadata ? "true" : "false";
	values[7] = page;
	return db_exec(db, &st_read_head, values, out);
}

enum es_status snapshot_verify(struct db *db, struct verify_report *rep)
{
	PGresult *r = NULL;
	enum es_status rc;

	rc = verify_query(db, rep, "snapshot_verify",
			    "SELECT sn.aggregate_type, sn.aggregate_id::text,"
			    " NULLIF(sn.tenant_id, '00000000-0000-0000-0000-000000000000')::text,"
			    " sn.version, s.version"
			    " FROM evstore.snapshots sn LEFT JOIN evstore.streams s"
			    "  USING (tenant_id, aggregate_type, aggregate_id)"
			    " WHERE s.version IS NULL OR sn.version > s.version"
			    " ORDER BY sn.tenant_id, sn.aggregate_type, sn.aggregate_id LIMIT $1::int", &r);
	for (int i = 0; rc == ES_OK && i < PQntuples(r); i++) {
		const char *tenant = db_value_or_null(r, i, 2), *stream = db_value_or_null(r, i, 4);
		char text[384];

		snprintf(text, sizeof text, "snapshot of %s %s%s%s is at version %s, ahead of its"
			 " stream (%s%s)", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
			 tenant ? " of tenant " : "", tenant ? tenant : "", PQgetvalue(r, i, 3),
			 stream ? "at version " : "no streams row", stream ? stream : "");
		rep->found++;
		rep->problem(rep->arg, text);
	}
	PQclear(r);
	return rc;
}
