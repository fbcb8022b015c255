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
#include "aggregate/fold.h"
#include "privacy/keyring.h"
#include "privacy/personal.h"

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

/* snapshot_replace: a compare-and-set on the row read (version, rules
 * and content); SKIP LOCKED so that a read never waits on a writer. */
static const struct db_statement st_snapshot_replace = {
	"snapshot_replace",
	"WITH c AS (SELECT tenant_id, aggregate_type, aggregate_id FROM evstore.snapshots"
	"   WHERE tenant_id = $1::uuid AND aggregate_type = $2::text AND aggregate_id = $3::uuid"
	"     AND version = $4::bigint AND schema_version = $5::int AND rules_hash = $6::text"
	"     AND state = $7::jsonb"
	"   FOR UPDATE SKIP LOCKED)"
	" UPDATE evstore.snapshots s SET state = $8::jsonb, created_at = now() FROM c"
	"  WHERE s.tenant_id = c.tenant_id AND s.aggregate_type = c.aggregate_type"
	"    AND s.aggregate_id = c.aggregate_id"
	" RETURNING 1",
	8
};

static const struct db_statement st_snapshot_invalidate = {
	"snapshot_invalidate",
	"WITH d AS (DELETE FROM evstore.snapshots WHERE aggregate_type = $1::text RETURNING 1)"
	" SELECT count(*) FROM d",
	1
};

enum es_status state_keys_init(struct state_keys *k, const struct aggdef *def)
{
	memset(k, 0, sizeof *k);
	if (!def || def->n_personal_state == 0)
		return ES_OK;
	k->key_id = calloc(def->n_personal_state, sizeof *k->key_id);
	k->erased = calloc(def->n_personal_state, sizeof *k->erased);
	if (!k->key_id || !k->erased) {
		state_keys_free(k);
		return ES_ENOMEM;
	}
	k->n = def->n_personal_state;
	return ES_OK;
}

void state_keys_note(struct state_keys *k, const struct aggdef *def, size_t state_index,
		     int64_t key_id)
{
	size_t root;

	if (key_id == 0 || state_index >= k->n)
		return;
	root = def->personal_state_root[state_index];
	if (k->key_id[root] == 0)
		k->key_id[root] = key_id;
	else if (k->key_id[root] != key_id)
		k->mixed = true;
}

void state_keys_note_erased(struct state_keys *k, size_t state_index, bool erased)
{
	if (state_index < k->n)
		k->erased[state_index] = erased;
}

void state_keys_free(struct state_keys *k)
{
	free(k->key_id);
	free(k->erased);
	memset(k, 0, sizeof *k);
}

enum es_status state_keys_copy(struct state_keys *to, const struct state_keys *from)
{
	memset(to, 0, sizeof *to);
	if (from->n == 0)
		return ES_OK;
	to->key_id = malloc(from->n * sizeof *to->key_id);
	to->erased = malloc(from->n * sizeof *to->erased);
	if (!to->key_id || !to->erased) {
		state_keys_free(to);
		return ES_ENOMEM;
	}
	memcpy(to->key_id, from->key_id, from->n * sizeof *to->key_id);
	memcpy(to->erased, from->erased, from->n * sizeof *to->erased);
	to->n = from->n;
	to->mixed = from->mixed;
	return ES_OK;
}

/* The object holding member path of state (dotted) and the member's
 * name in *leaf (borrowed from path), or NULL when a step is missing. */
static json_object *member_parent(json_object *state, const char *path, const char **leaf)
{
	const char *dot = strrchr(path, '.');
	json_object *parent = state;
	bool found;

	*leaf = dot ? dot + 1 : path;
	if (dot) {
		char *up = strndup(path, (size_t)(dot - path));

		if (!up)
			return NULL;
		parent = fold_path_get(state, up, &found);
		free(up);
	}
	return json_object_is_type(parent, json_type_object) ? parent : NULL;
}

/* The member at def->personal_state[i] when it is a root holding a value
 * (not null), with its parent and name; else NULL. */
static json_object *sealable_member(const struct aggdef *def, size_t i, json_object *state,
				    json_object **parent, const char **leaf)
{
	json_object *v;

	if (def->personal_state_root[i] != i)
		return NULL;
	*parent = member_parent(state, def->personal_state[i], leaf);
	if (!*parent || !json_object_object_get_ex(*parent, *leaf, &v))
		return NULL;
	return v;
}

enum es_status state_keys_erased(const struct state_keys *k, const struct aggdef *def,
				 json_object *state, const char *base, json_object **erased)
{
	*erased = NULL;
	for (size_t i = 0; i < k->n && def && i < def->n_personal_state; i++) {
		json_object *parent, *v;
		const char *leaf;
		char *ptr;

		/* a member set since from a value in clear or removed is not
		 * the erased one any more */
		if (!k->erased[i] || !(parent = member_parent(state, def->personal_state[i], &leaf)) ||
		    !json_object_object_get_ex(parent, leaf, &v) || v)
			continue;
		ptr = personal_pointer(base, def->personal_state[i]);
		if (!*erased)
			*erased = json_object_new_array();
		if (!ptr || !*erased || json_object_array_add(*erased, json_object_new_string(ptr)) != 0) {
			free(ptr);
			json_object_put(*erased);
			*erased = NULL;
			return ES_ENOMEM;
		}
		free(ptr);
	}
	return ES_OK;
}

/* Replaces the sealable members of *copy (a copy of state) by envelopes.
 * *erased: a key is erased by now, nothing may be stored. */
static enum es_status seal_members(struct db *db, const struct aggdef *def,
				   const struct personal_state_ref *ref, const struct state_keys *keys,
				   json_object *copy, bool *erased)
{
	struct keyring kr = KEYRING_INIT;
	int64_t *ids = calloc(def->n_personal_state, sizeof *ids);
	size_t n = 0;
	enum es_status rc = ES_OK;

	*erased = false;
	if (!ids)
		return ES_ENOMEM;
	for (size_t i = 0; i < def->n_personal_state; i++) {
		json_object *parent;
		const char *leaf;

		if (keys->key_id[i] && sealable_member(def, i, copy, &parent, &leaf))
			ids[n++] = keys->key_id[i];
	}
	if (n)
		rc = keyring_fetch(db, ids, n, true, NULL, &kr);
	for (size_t i = 0; rc == ES_OK && !*erased && i < def->n_personal_state; i++) {
		const struct keyring_key *k;
		json_object *parent, *v, *env;
		const char *leaf;
		char *ptr;

		/* A value without a key came from fields stored in clear: no
		 * erasure reaches it in the events either. */
		if (!keys->key_id[i] || !(v = sealable_member(def, i, copy, &parent, &leaf)))
			continue;
		k = keyring_by_id(&kr, keys->key_id[i]);
		if (!k || k->erased) {
			*erased = true; /* erased since the fold (or gone): store nothing */
			break;
		}
		ptr = personal_pointer("/state", def->personal_state[i]);
		rc = ptr ? personal_seal_state(k, ref, ptr, v, &env) : ES_ENOMEM;
		free(ptr);
		if (rc == ES_OK && json_object_object_add(parent, leaf, env) != 0) {
			json_object_put(env);
			rc = ES_ENOMEM;
		}
	}
	keyring_free(&kr);
	free(ids);
	return rc;
}

/* Takes the list of erased members (SNAPSHOT_ERASED_MEMBER) out of a
 * stored state and notes them in keys. A snapshot without it (written
 * before the list existed, or with nothing erased) lists none. */
static enum es_status take_erased_list(const struct aggdef *def, json_object *state,
				       struct state_keys *keys, char *err, size_t errlen)
{
	json_object *list;
	enum es_status rc = ES_OK;
	size_t n;

	if (!json_object_object_get_ex(state, SNAPSHOT_ERASED_MEMBER, &list))
		return ES_OK;
	n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	if (!json_object_is_type(list, json_type_array))
		rc = ES_EINTERNAL;
	for (size_t j = 0; rc == ES_OK && j < n; j++) {
		const char *want = json_object_get_string(json_object_array_get_idx(list, j));
		bool known = false;

		for (size_t i = 0; !known && want && i < def->n_personal_state; i++) {
			char *ptr = personal_pointer("/state", def->personal_state[i]);

			if (!ptr)
				return ES_ENOMEM;
			if ((known = strcmp(ptr, want) == 0))
				state_keys_note_erased(keys, i, true);
			free(ptr);
		}
		if (!known || !json_object_is_type(json_object_array_get_idx(list, j), json_type_string))
			rc = ES_EINTERNAL;
	}
	if (rc == ES_EINTERNAL)
		snprintf(err, errlen, "/%s: not a list of the definition's personal state pointers",
			 SNAPSHOT_ERASED_MEMBER);
	json_object_object_del(state, SNAPSHOT_ERASED_MEMBER);
	return rc;
}

enum es_status snapshot_open(struct db *db, const struct aggdef *def, const char *tenant,
			     const char *aggregate_id, int64_t version, json_object *state,
			     struct state_keys *keys, char *err, size_t errlen)
{
	struct personal_state_ref ref = { tenant, def->aggregate_type, aggregate_id, version };
	struct keyring kr = KEYRING_INIT;
	int64_t *ids = calloc(def->n_personal_state + 1, sizeof *ids);
	size_t n = 0;
	enum es_status rc = ES_OK;

	if (!ids)
		return ES_ENOMEM;
	rc = take_erased_list(def, state, keys, err, errlen);
	for (size_t i = 0; rc == ES_OK && i < def->n_personal_state; i++) {
		json_object *parent, *v;
		const char *leaf;

		if ((v = sealable_member(def, i, state, &parent, &leaf)) &&
		    personal_value_key(v, &ids[n]))
			n++;
	}
	if (rc == ES_OK && n)
		rc = keyring_fetch(db, ids, n, true, NULL, &kr);
	for (size_t i = 0; rc == ES_OK && i < def->n_personal_state; i++) {
		json_object *parent, *v, *plain = NULL;
		const char *leaf;
		int64_t key_id;
		bool erased = false;
		char *ptr, why[200];

		if (!(v = sealable_member(def, i, state, &parent, &leaf)) ||
		    !personal_value_key(v, &key_id))
			continue; /* held in clear: see seal_members */
		ptr = personal_pointer("/state", def->personal_state[i]);
		if (!ptr) {
			rc = ES_ENOMEM;
			break;
		}
		rc = personal_open_state(&kr, &ref, ptr, v, &plain, &erased, why, sizeof why);
		if (rc == ES_EINTERNAL)
			snprintf(err, errlen, "%s: %s", ptr, why);
		free(ptr);
		if (rc == ES_OK && erased)
			rc = ES_ENOTFOUND;
		if (rc != ES_OK)
			break;
		if (json_object_object_add(parent, leaf, plain) != 0) {
			json_object_put(plain);
			rc = ES_ENOMEM;
			break;
		}
		state_keys_note(keys, def, i, key_id);
	}
	keyring_free(&kr);
	free(ids);
	return rc;
}

/* The JSON text to store as the snapshot of state at version, in *text
 * (malloc'd), or NULL when none may be stored (snapshot_save says when). */
static enum es_status snapshot_encode(struct db *db, const struct aggdef *def, const char *tenant,
				      const char *aggregate_id, int64_t version, json_object *state,
				      const struct state_keys *keys, char **text)
{
	struct personal_state_ref ref = { tenant, def->aggregate_type, aggregate_id, version };
	json_object *sealed = NULL, *erased = NULL;
	const char *compact;
	enum es_status rc = ES_OK;
	bool key_erased = false;

	*text = NULL;
	if (version < 1 || !json_object_is_type(state, json_type_object))
		return ES_EINVAL;
	if (def->n_personal_state > 0) {
		/* Personal values are stored sealed with the keys they were
		 * sealed with in the events, so an erasure reaches the snapshot
		 * too: unknown or mixed keys, or one erased since the fold,
		 * store nothing (reads fold from the events). A member named
		 * like the erased list would be taken for it. */
		if (!keys || keys->n != def->n_personal_state || keys->mixed ||
		    json_object_object_get_ex(state, SNAPSHOT_ERASED_MEMBER, NULL))
			return ES_OK;
		rc = state_keys_erased(keys, def, state, "/state", &erased);
		if (rc != ES_OK)
			return rc;
		if (json_object_deep_copy(state, &sealed, NULL) != 0) {
			json_object_put(erased);
			return ES_ENOMEM;
		}
		rc = seal_members(db, def, &ref, keys, sealed, &key_erased);
		/* the list says which nulls are erasures: a state served from
		 * the snapshot lists them as a fold from the events does */
		if (rc == ES_OK && !key_erased && erased &&
		    json_object_object_add(sealed, SNAPSHOT_ERASED_MEMBER, json_object_get(erased)) != 0) {
			json_object_put(erased);
			rc = ES_ENOMEM;
		}
		json_object_put(erased);
		if (rc != ES_OK || key_erased) {
			json_object_put(sealed);
			return rc;
		}
		state = sealed;
	}
	compact = jsondoc_compact(state);
	if (!compact || !(*text = strdup(compact)))
		rc = ES_ENOMEM;
	json_object_put(sealed);
	return rc;
}

/* The parameters $1..$6 a snapshot row is written with: tenant, type, id,
 * version and the definition's schema version and rules; v and schema
 * hold the numbers' text. */
static void snapshot_key_values(const struct aggdef *def, const char *tenant, const char *aggregate_id,
				int64_t version, char v[24], char schema[16], const char *values[6])
{
	snprintf(v, 24, "%" PRId64, version);
	snprintf(schema, 16, "%d", def->schema_version);
	values[0] = tenant ? tenant : UUIDTEXT_NIL;
	values[1] = def->aggregate_type;
	values[2] = aggregate_id;
	values[3] = v;
	values[4] = schema;
	values[5] = def->rules_hash;
}

enum es_status snapshot_save(struct db *db, const struct aggdef *def, const char *tenant,
			     const char *aggregate_id, int64_t version, json_object *state,
			     const struct state_keys *keys, bool *written)
{
	char v[24], schema[16];
	const char *values[7];
	char *text = NULL;
	PGresult *r = NULL;
	enum es_status rc;

	if (written)
		*written = false;
	rc = snapshot_encode(db, def, tenant, aggregate_id, version, state, keys, &text);
	if (rc != ES_OK || !text)
		return rc;
	snapshot_key_values(def, tenant, aggregate_id, version, v, schema, values);
	values[6] = text;
	rc = db_exec(db, &st_snapshot_put, values, &r);
	if (rc == ES_OK && written)
		*written = PQntuples(r) == 1 && db_value_bool(r, 0, 0);
	PQclear(r);
	free(text);
	return rc;
}

enum es_status snapshot_replace(struct db *db, const struct aggdef *def, const char *tenant,
				const char *aggregate_id, int64_t version, const char *old,
				json_object *state, const struct state_keys *keys, bool *written)
{
	char v[24], schema[16];
	const char *values[8];
	char *text = NULL;
	PGresult *r = NULL;
	enum es_status rc;

	if (written)
		*written = false;
	rc = snapshot_encode(db, def, tenant, aggregate_id, version, state, keys, &text);
	if (rc != ES_OK || !text)
		return rc;
	snapshot_key_values(def, tenant, aggregate_id, version, v, schema, values);
	values[6] = old;
	values[7] = text;
	rc = db_exec(db, &st_snapshot_replace, values, &r);
	if (rc == ES_OK && written)
		*written = PQntuples(r) == 1;
	PQclear(r);
	free(text);
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
