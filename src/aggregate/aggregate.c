/* aggregate.c - loading an aggregate's state and the guarded append. */
#include "buildconf.h"
#include "aggregate/aggregate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "aggregate/fold.h"
#include "base/log.h"
#include "aggregate/snapshot.h"

/* Nesting a stored payload can have: bodies are parsed with a depth limit
 * of at most this, so a stored document always parses back. */
#define AGGREGATE_PARSE_DEPTH 1024

/* Parses stored JSON text (trusted: it came out of jsonb). */
static json_object *parse_stored(json_tokener *tok, const char *text, int len)
{
	json_object *v;

	json_tokener_reset(tok);
	v = json_tokener_parse_ex(tok, text, len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(v);
		return NULL;
	}
	return v;
}

/* Folds the event rows of r starting at column col (version, type,
 * payload, metadata) from row first; *last gets the last version folded. */
static enum es_status fold_rows(const struct aggdef *def, json_tokener *tok, const PGresult *r,
				int first, int col, json_object **state, int64_t *last)
{
	int rows = PQntuples(r);

	for (int i = first; i < rows; i++) {
		json_object *payload, *metadata = NULL;
		enum es_status rc;

		payload = parse_stored(tok, PQgetvalue(r, i, col + 2), PQgetlength(r, i, col + 2));
		if (!payload)
			return ES_EINTERNAL;
		if (!PQgetisnull(r, i, col + 3)) {
			metadata = parse_stored(tok, PQgetvalue(r, i, col + 3), PQgetlength(r, i, col + 3));
			if (!metadata) {
				json_object_put(payload);
				return ES_EINTERNAL;
			}
		}
		rc = fold_event(def, state, PQgetvalue(r, i, col + 1), payload, metadata);
		json_object_put(payload);
		json_object_put(metadata);
		if (rc != ES_OK)
			return rc;
		*last = db_value_int64(r, i, col);
	}
	return ES_OK;
}

enum es_status aggregate_load(struct db *db, const struct aggdef *def, const char *tenant,
			      const char *aggregate_type, const char *aggregate_id,
			      int64_t at_version, struct aggregate_state *out)
{
	json_tokener *tok = json_tokener_new_ex(AGGREGATE_PARSE_DEPTH);
	bool with_metadata = def && def->uses_metadata;
	PGresult *r = NULL;
	enum es_status rc;
	int64_t upto = at_version > 0 ? at_version : INT64_MAX, target, last = 0;

	memset(out, 0, sizeof *out);
	out->state = json_object_new_object();
	if (!tok || !out->state) {
		rc = ES_ENOMEM;
		goto out;
	}
	rc = snapshot_read_head(db, def, tenant, aggregate_type, aggregate_id, upto, with_metadata,
				AGGREGATE_PAGE_EVENTS, &r);
	if (rc != ES_OK)
		goto out;
	if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 0), "0") != 0)
		goto out; /* no stream */
	out->stream_version = db_value_int64(r, 0, 1);
	target = at_version > 0 && at_version < out->stream_version ? at_version : out->stream_version;
	if (!PQgetisnull(r, 0, 5)) {
		json_object *snap = parse_stored(tok, PQgetvalue(r, 0, 3), PQgetlength(r, 0, 3));

		if (!json_object_is_type(snap, json_type_object)) {
			json_object_put(snap);
			rc = ES_EINTERNAL;
			goto out;
		}
		json_object_put(out->state);
		out->state = snap;
		out->snapshot_version = db_value_int64(r, 0, 5);
		last = out->snapshot_version;
	}
	rc = fold_rows(def, tok, r, 1, 1, &out->state, &last);
	while (rc == ES_OK && last < target) {
		int64_t before = last;

		PQclear(r);
		r = NULL;
		rc = store_read_stream_rows(db, tenant, aggregate_type, aggregate_id, last, target,
					    with_metadata, AGGREGATE_PAGE_EVENTS, &r);
		if (rc == ES_OK)
			rc = fold_rows(def, tok, r, 0, 0, &out->state, &last);
		if (rc == ES_OK && last == before)
			rc = ES_EINTERNAL; /* a gap: the stream and its events disagree */
	}
	out->version = last;
out:
	PQclear(r);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

void aggregate_state_free(struct aggregate_state *s)
{
	if (!s)
		return;
	json_object_put(s->state);
	memset(s, 0, sizeof *s);
}

/* Answers a refused request with its replay when it is one: true when
 * *rc was replaced (ES_OK with res->replayed, or ES_EDUPLICATE). */
static bool answer_replay(struct db *db, const struct store_append_req *req,
			  struct store_append_res *res, enum es_status *rc)
{
	struct store_append_res known;
	enum es_status st = store_append_known(db, req, &known);

	if (st == ES_ENOTFOUND)
		return false;
	if (st != ES_OK && st != ES_EDUPLICATE) {
		*rc = st;
		return true;
	}
	store_append_res_free(res);
	*res = known;
	*rc = st;
	return true;
}

/* Folds req's events into s, checking each event's guards first. */
static enum es_status check_events(const struct aggdef *def, const struct store_append_req *req,
				   struct aggregate_state *s, struct aggregate_refusal *why)
{
	for (size_t i = 0; i < req->n_events; i++) {
		const struct store_new_event *ne = &req->events[i];
		const struct aggdef_event *ev = aggdef_event_find(def, ne->event_type);
		struct fold_guard_failure gf;
		enum es_status rc;

		if (!ev)
			return ES_EINVAL; /* the caller validates types first */
		memset(&gf, 0, sizeof gf);
		if (!fold_guards_pass(ev, s->state, s->version + (int64_t)i, &gf)) {
			why->event_index = i;
			why->guard = gf.guard;
			snprintf(why->detail, sizeof why->detail, "%s", gf.detail);
			return ES_ESTATE;
		}
		rc = fold_evolve(ev, s->state, ne->payload, ne->metadata);
		if (rc != ES_OK)
			return rc;
	}
	return ES_OK;
}

/* Sync mode: snapshot the state the request just committed. */
static void snapshot_after_commit(struct db *db, const struct aggdef *def,
				  const struct store_append_req *req, int64_t old_version,
				  int64_t new_version, json_object *state)
{
	enum es_status rc;
	char v[24];

	if (def->snapshot_mode != AGGDEF_SNAPSHOT_SYNC || !snapshot_due(def, old_version, new_version))
		return;
	rc = snapshot_save(db, def, req->tenant, req->aggregate_id, new_version, state, NULL);
	if (rc == ES_OK)
		return;
	snprintf(v, sizeof v, "%" PRId64, new_version);
	log_kv(LOG_WARNING, "snapshot_failed", "aggregate_type", def->aggregate_type,
	       "aggregate_id", req->aggregate_id, "version", v, "status", es_status_name(rc), NULL);
}

enum es_status aggregate_append(struct db *db, const struct aggdef *def,
				const struct store_append_req *req, struct store_append_res *res,
				struct aggregate_refusal *why)
{
	struct aggregate_state s;
	struct store_append_req attempt;
	enum es_status rc = ES_ECONFLICT;

	memset(res, 0, sizeof *res);
	memset(&s, 0, sizeof s);
	memset(why, 0, sizeof *why);
	for (int n = 0; n < AGGREGATE_MAX_ATTEMPTS; n++) {
		aggregate_state_free(&s);
		rc = aggregate_load(db, def, req->tenant, req->aggregate_type, req->aggregate_id, 0, &s);
		if (rc != ES_OK)
			goto out;
		if ((req->expect == STORE_EXPECT_EXACT && req->expected_version != s.version) ||
		    (req->expect == STORE_EXPECT_EXISTS && s.version == 0)) {
			rc = ES_ECONFLICT;
			if (!answer_replay(db, req, res, &rc))
				res->current_version = s.version;
			goto out;
		}
		rc = check_events(def, req, &s, why);
		if (rc == ES_ESTATE) {
			answer_replay(db, req, res, &rc);
			goto out;
		}
		if (rc != ES_OK)
			goto out;

		attempt = *req;
		attempt.expect = STORE_EXPECT_EXACT;
		attempt.expected_version = s.version;
		rc = store_append(db, &attempt, res);
		if (rc == ES_OK) {
			if (!res->replayed)
				snapshot_after_commit(db, def, req, s.version, res->version, s.state);
			goto out;
		}
		if (rc != ES_ECONFLICT || req->expect == STORE_EXPECT_EXACT)
			goto out;
		store_append_res_free(res);
	}
out:
	aggregate_state_free(&s);
	return rc;
}

enum es_status aggregate_snapshot(struct db *db, const struct aggdef *def, const char *tenant,
			      const char *aggregate_id, int64_t *version)
{
	struct aggregate_state s;
	enum es_status rc;

	if (version)
		*version = 0;
	rc = aggregate_load(db, def, tenant, def->aggregate_type, aggregate_id, 0, &s);
	if (rc == ES_OK && s.stream_version == 0)
		rc = ES_ENOTFOUND;
	if (rc == ES_OK)
		rc = snapshot_save(db, def, tenant, aggregate_id, s.version, s.state, NULL);
	if (rc == ES_OK && version)
		*version = s.version;
	aggregate_state_free(&s);
	return rc;
}
