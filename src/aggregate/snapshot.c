/* snapshot.c - writing and dropping aggregate snapshots. */
#include "buildconf.h"
#include "aggregate/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "json/jsondoc.h"
#include "base/uuidtext.h"

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
		*written = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
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
		*deleted = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

bool snapshot_due(const struct aggdef *def, int64_t old_version, int64_t new_version)
{
	if (def->snapshot_mode == AGGDEF_SNAPSHOT_NONE || def->snapshot_threshold < 1)
		return false;
	return old_version / def->snapshot_threshold < new_version / def->snapshot_threshold;
}
