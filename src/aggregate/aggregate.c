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
#include "privacy/keyring.h"
#include "privacy/personal.h"

/* Nesting a stored payload can have: bodies are parsed with a depth limit
 * of at most this, so a stored document always parses back. */
#define AGGREGATE_PARSE_DEPTH 1024

/* Parses stored JSON text (trusted: it came out of jsonb) with *tok, made
 * on first use: its stack for AGGREGATE_PARSE_DEPTH levels is tens of
 * kilobytes to clear, which an append to a new stream has no use for. */
static json_object *parse_stored(json_tokener **tok, const char *text, int len)
{
	json_object *v;

	if (!*tok && !(*tok = json_tokener_new_ex(AGGREGATE_PARSE_DEPTH)))
		return NULL;
	json_tokener_reset(*tok);
	v = json_tokener_parse_ex(*tok, text, len);
	if (json_tokener_get_error(*tok) != json_tokener_success) {
		json_object_put(v);
		return NULL;
	}
	return v;
}

/* What folding a stream needs besides the rows: personal data in a
 * payload is opened (the clear view; an erased field is null) with keys
 * fetched once per fold. */
struct fold_ctx {
	struct db *db;
	const struct aggdef *def;
	const char *tenant;
	json_tokener *tok;              /* made by parse_stored when needed */
	struct keyring keys;
	struct state_keys *state_keys;  /* the keys of the personal values folded in */
	struct aggregate_stale_snapshot *stale; /* NULL, or the version to keep the fold at */
};

/* Opens the envelopes of one stored payload in place. */
static enum es_status open_personal(struct fold_ctx *f, const char *event_id, json_object **payload)
{
	struct personal_withheld w = { NULL, NULL };
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	char err[400];
	enum es_status rc;

	rc = personal_key_ids(*payload, &ids, &n, &cap);
	if (rc == ES_OK)
		rc = keyring_fetch(f->db, ids, n, true, NULL, &f->keys);
	if (rc == ES_OK) {
		rc = personal_open(&f->keys, f->tenant, event_id, "/payload", payload, PERSONAL_CLEAR, &w,
				   err, sizeof err);
		if (rc == ES_EINTERNAL)
			log_kv(LOG_ERR, "personal_data_unreadable", "detail", err, NULL);
	}
	personal_withheld_clear(&w);
	free(ids);
	return rc;
}

/* The key of each personal field ev puts into the state, as payload (not
 * opened yet) holds it: kids[k] for ev->feeds[k], 0 when not sealed. */
static void feed_keys(const struct aggdef_event *ev, json_object *payload, int64_t *kids)
{
	for (size_t k = 0; k < ev->n_feeds; k++) {
		const struct personal_decl *d = &ev->personal[ev->feeds[k].decl];

		if (!personal_field_key(payload, d->fields[ev->feeds[k].field], &kids[k]))
			kids[k] = 0;
	}
}

/* Notes the keys of kids (feed_keys; NULL: none sealed) that were live
 * when the payload was opened: an erased field went in as null, nothing
 * of it to seal, and its member is noted as erased until a field present
 * in clear or under a live key fills it again. payload is opened. */
static void note_feed_keys(struct fold_ctx *f, const struct aggdef_event *ev, const int64_t *kids,
			   json_object *payload)
{
	for (size_t k = 0; k < ev->n_feeds; k++) {
		const struct personal_decl *d = &ev->personal[ev->feeds[k].decl];
		const struct keyring_key *key = kids && kids[k] ? keyring_by_id(&f->keys, kids[k]) : NULL;
		bool found = false;

		if (key) {
			if (!key->erased)
				state_keys_note(f->state_keys, f->def, ev->feeds[k].state, kids[k]);
			state_keys_note_erased(f->state_keys, ev->feeds[k].state, key->erased);
			continue;
		}
		(void)fold_path_get(payload, d->fields[ev->feeds[k].field], &found);
		if (found) /* a value in clear */
			state_keys_note_erased(f->state_keys, ev->feeds[k].state, false);
	}
}

/* Keeps a copy of the state folded up to the version of the snapshot the
 * load skipped: what replaces it (aggregate_refresh_snapshot). */
static enum es_status keep_stale(struct fold_ctx *f, json_object *state, int64_t version)
{
	struct aggregate_stale_snapshot *st = f->stale;

	if (!st || st->state || version != st->version)
		return ES_OK;
	if (json_object_deep_copy(state, &st->state, NULL) != 0)
		return ES_ENOMEM;
	return state_keys_copy(&st->keys, f->state_keys);
}

/* Folds the event rows of r starting at column col (version, type,
 * payload, metadata), their event ids in column id_col, from row first;
 * *last gets the last version folded. */
static enum es_status fold_rows(struct fold_ctx *f, const PGresult *r, int first, int col, int id_col,
				json_object **state, int64_t *last)
{
	int rows = PQntuples(r);

	for (int i = first; i < rows; i++) {
		/* the event type when it puts personal fields into the state */
		const struct aggdef_event *ev = f->state_keys->n ?
			aggdef_event_find(f->def, PQgetvalue(r, i, col + 1)) : NULL;
		json_object *payload, *metadata = NULL;
		int64_t *kids = NULL;
		enum es_status rc;

		if (ev && ev->n_feeds == 0)
			ev = NULL;
		payload = parse_stored(&f->tok, PQgetvalue(r, i, col + 2), PQgetlength(r, i, col + 2));
		if (!payload)
			return ES_EINTERNAL;
		if (strstr(PQgetvalue(r, i, col + 2), PERSONAL_ENVELOPE_MARK)) {
			if (ev && !(kids = calloc(ev->n_feeds, sizeof *kids))) {
				json_object_put(payload);
				return ES_ENOMEM;
			}
			if (kids)
				feed_keys(ev, payload, kids);
			rc = open_personal(f, PQgetvalue(r, i, id_col), &payload);
			if (rc != ES_OK) {
				free(kids);
				json_object_put(payload);
				return rc;
			}
		}
		if (ev)
			note_feed_keys(f, ev, kids, payload);
		free(kids);
		if (!PQgetisnull(r, i, col + 3)) {
			metadata = parse_stored(&f->tok, PQgetvalue(r, i, col + 3), PQgetlength(r, i, col + 3));
			if (!metadata) {
				json_object_put(payload);
				return ES_EINTERNAL;
			}
		}
		rc = fold_event(f->def, state, PQgetvalue(r, i, col + 1), payload, metadata);
		json_object_put(payload);
		json_object_put(metadata);
		if (rc != ES_OK)
			return rc;
		*last = db_value_int64(r, i, col);
		rc = keep_stale(f, *state, *last);
		if (rc != ES_OK)
			return rc;
	}
	return ES_OK;
}

/* Opens the sealed members of a snapshot of a state holding personal
 * data. One that cannot be opened is a cache miss: *snap is dropped
 * (NULL) and the caller folds from the events, where erasure takes effect
 * the same way; a damaged one is logged as an error too. *erased says
 * that a key was erased (the snapshot is worth replacing). ES_ENOMEM and
 * database failures only. */
static enum es_status open_snapshot(struct db *db, const struct aggdef *def, const char *tenant,
				    const char *aggregate_id, int64_t version, json_object **snap,
				    struct state_keys *keys, bool *erased)
{
	char err[300] = "", v[24];
	enum es_status rc;

	*erased = false;
	if (!def || def->n_personal_state == 0)
		return ES_OK;
	rc = snapshot_open(db, def, tenant, aggregate_id, version, *snap, keys, err, sizeof err);
	if (rc != ES_ENOTFOUND && rc != ES_EINTERNAL)
		return rc;
	snprintf(v, sizeof v, "%" PRId64, version);
	if (rc == ES_EINTERNAL)
		log_kv(LOG_ERR, "snapshot_unreadable", "aggregate_type", def->aggregate_type,
		       "aggregate_id", aggregate_id, "version", v, "detail", err, NULL);
	else
		log_kv(LOG_INFO, "snapshot_erased", "aggregate_type", def->aggregate_type,
		       "aggregate_id", aggregate_id, "version", v, NULL);
	*erased = rc == ES_ENOTFOUND;
	json_object_put(*snap);
	*snap = NULL;
	state_keys_free(keys);
	return state_keys_init(keys, def);
}

enum es_status aggregate_load(struct db *db, const struct aggdef *def, const char *tenant,
			      const char *aggregate_type, const char *aggregate_id,
			      int64_t at_version, struct aggregate_state *out)
{
	struct fold_ctx f = { db, def, tenant, NULL, KEYRING_INIT, &out->keys, NULL };
	bool with_metadata = def && def->uses_metadata;
	PGresult *r = NULL;
	enum es_status rc;
	int64_t upto = at_version > 0 ? at_version : INT64_MAX, target, last = 0;

	memset(out, 0, sizeof *out);
	out->state = json_object_new_object();
	if (!out->state || state_keys_init(&out->keys, def) != ES_OK) {
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
		json_object *snap = parse_stored(&f.tok, PQgetvalue(r, 0, 3), PQgetlength(r, 0, 3));
		bool erased;

		if (!json_object_is_type(snap, json_type_object)) {
			json_object_put(snap);
			rc = ES_EINTERNAL;
			goto out;
		}
		rc = open_snapshot(db, def, tenant, aggregate_id, db_value_int64(r, 0, 5), &snap, &out->keys,
				   &erased);
		if (rc != ES_OK)
			goto out;
		/* keep the fold at its version to replace it (no copy of the
		 * text: no refresh, the read goes on) */
		if (erased && (out->stale.stored = strdup(PQgetvalue(r, 0, 3))) != NULL) {
			out->stale.version = db_value_int64(r, 0, 5);
			f.stale = &out->stale;
		}
		if (snap) {
			json_object_put(out->state);
			out->state = snap;
			out->snapshot_version = db_value_int64(r, 0, 5);
			last = out->snapshot_version;
		}
	}
	/* The head's events follow the snapshot: without it (unusable), the
	 * loop below reads from version 1. */
	if (PQgetisnull(r, 0, 5) || out->snapshot_version > 0)
		rc = fold_rows(&f, r, 1, 1, 6, &out->state, &last);
	while (rc == ES_OK && last < target) {
		int64_t before = last;

		PQclear(r);
		r = NULL;
		rc = store_read_stream_rows(db, tenant, aggregate_type, aggregate_id, last, target,
					    with_metadata, AGGREGATE_PAGE_EVENTS, &r);
		if (rc == ES_OK)
			rc = fold_rows(&f, r, 0, 0, 4, &out->state, &last);
		if (rc == ES_OK && last == before)
			rc = ES_EINTERNAL; /* a gap: the stream and its events disagree */
	}
	out->version = last;
out:
	PQclear(r);
	keyring_free(&f.keys);
	if (f.tok)
		json_tokener_free(f.tok);
	return rc;
}

static void stale_free(struct aggregate_stale_snapshot *st)
{
	free(st->stored);
	json_object_put(st->state);
	state_keys_free(&st->keys);
	memset(st, 0, sizeof *st);
}

void aggregate_state_free(struct aggregate_state *s)
{
	if (!s)
		return;
	json_object_put(s->state);
	state_keys_free(&s->keys);
	stale_free(&s->stale);
	memset(s, 0, sizeof *s);
}

void aggregate_refresh_snapshot(struct db *db, const struct aggdef *def, const char *tenant,
				const char *aggregate_id, struct aggregate_state *s)
{
	struct aggregate_stale_snapshot *st = &s->stale;
	enum es_status rc;
	bool written = false;
	char v[24];

	if (!def || !st->state || !st->stored) {
		stale_free(st);
		return;
	}
	rc = snapshot_replace(db, def, tenant, aggregate_id, st->version, st->stored, st->state,
			      &st->keys, &written);
	snprintf(v, sizeof v, "%" PRId64, st->version);
	if (rc != ES_OK)
		log_kv(LOG_WARNING, "snapshot_refresh_failed", "aggregate_type", def->aggregate_type,
		       "aggregate_id", aggregate_id, "version", v, "status", es_status_name(rc), NULL);
	else if (written)
		log_kv(LOG_INFO, "snapshot_refreshed", "aggregate_type", def->aggregate_type,
		       "aggregate_id", aggregate_id, "version", v, NULL);
	/* not written: another writer replaced or holds it, or a key was
	 * erased since the fold; the next read that skips it tries again */
	stale_free(st);
}

enum es_status aggregate_state_erased(const struct aggdef *def, const struct aggregate_state *s,
				      const char *base, json_object **erased)
{
	return state_keys_erased(&s->keys, def, s->state, base, erased);
}

/* True when an event of req carries personal data def declares. */
static bool carries_personal(const struct aggdef *def, const struct store_append_req *req)
{
	if (!def || !def->has_personal)
		return false;
	for (size_t i = 0; i < req->n_events; i++) {
		const struct aggdef_event *ev = aggdef_event_find(def, req->events[i].event_type);

		for (size_t d = 0; ev && d < ev->n_personal; d++)
			if (personal_has_fields(&ev->personal[d], req->events[i].payload))
				return true;
	}
	return false;
}

/* The distinct subjects of req's personal data into subjects[] (each a
 * PERSONAL_SUBJECT_MAX + 1 buffer of the malloc'd block *buf). */
static enum es_status collect_subjects(const struct aggdef *def, const struct store_append_req *req,
				       char **buf, const char ***subjects, size_t *n)
{
	size_t cap = 0;

	*n = 0;
	for (size_t i = 0; i < req->n_events; i++) {
		const struct aggdef_event *ev = aggdef_event_find(def, req->events[i].event_type);

		cap += ev ? ev->n_personal : 0;
	}
	*buf = malloc(cap * (PERSONAL_SUBJECT_MAX + 1) + 1);
	*subjects = calloc(cap + 1, sizeof **subjects);
	if (!*buf || !*subjects)
		return ES_ENOMEM;
	for (size_t i = 0; i < req->n_events; i++) {
		const struct aggdef_event *ev = aggdef_event_find(def, req->events[i].event_type);

		for (size_t d = 0; ev && d < ev->n_personal; d++) {
			char *s = *buf + *n * (PERSONAL_SUBJECT_MAX + 1);
			bool seen = false;

			if (!personal_has_fields(&ev->personal[d], req->events[i].payload))
				continue;
			if (!personal_subject(&ev->personal[d], req->aggregate_id, req->events[i].payload, s))
				return ES_EINVAL; /* aggdef_validate said so first */
			for (size_t j = 0; j < *n && !seen; j++)
				seen = strcmp((*subjects)[j], s) == 0;
			if (!seen)
				(*subjects)[(*n)++] = s;
		}
	}
	return ES_OK;
}

/* What sealing a request takes: its subjects, their keys, the sealed
 * copy of its events. */
struct sealing {
	struct keyring kr;
	struct store_new_event *events;   /* req's, payloads sealed (owned) */
	struct store_append_req sealed;   /* req with events */
	const char **subjects;
	char *buf;
	size_t n_subjects;
};

static enum es_status sealing_begin(struct sealing *z, const struct aggdef *def,
				    const struct store_append_req *req)
{
	memset(z, 0, sizeof *z);
	z->sealed = *req;
	z->events = calloc(req->n_events, sizeof *z->events);
	if (!z->events)
		return ES_ENOMEM;
	return collect_subjects(def, req, &z->buf, &z->subjects, &z->n_subjects);
}

/* Seals each event's declared fields under the keys in z->kr. */
static enum es_status sealing_seal(struct sealing *z, const struct aggdef *def,
				   const struct store_append_req *req)
{
	enum es_status rc = ES_OK;

	for (size_t i = 0; rc == ES_OK && i < req->n_events; i++) {
		const struct aggdef_event *ev = aggdef_event_find(def, req->events[i].event_type);

		z->events[i] = req->events[i];
		z->events[i].payload = NULL;
		if (!ev || ev->n_personal == 0) {
			z->events[i].payload = json_object_get(req->events[i].payload);
			continue;
		}
		rc = personal_seal(&z->kr, req->tenant, req->events[i].event_id, req->aggregate_id,
				   ev->personal, ev->n_personal, req->events[i].payload, &z->events[i].payload);
	}
	z->sealed.events = z->events;
	return rc;
}

static void sealing_end(struct sealing *z, const struct store_append_req *req)
{
	for (size_t i = 0; z->events && i < req->n_events; i++)
		json_object_put(z->events[i].payload);
	free(z->events);
	free(z->subjects);
	free(z->buf);
	keyring_free(&z->kr);
}

/* Seals req's personal data and runs the append (or, with known_only,
 * the idempotency check alone) in one transaction that holds the
 * subjects' keys FOR SHARE: an erasure racing it waits for its commit,
 * so no event is ever stored under a key destroyed before it. The keys
 * of subjects without one are made in the same transaction. known_only
 * rolls back (it writes nothing, new keys included). The path that
 * answers every case; sealed_append_guarded is the fast one. */
static enum es_status sealed_append(struct db *db, const struct aggdef *def,
				    const struct store_append_req *req, bool known_only,
				    struct store_append_res *res)
{
	struct sealing z;
	enum es_status rc, end;
	bool begun = false;

	memset(res, 0, sizeof *res);
	rc = sealing_begin(&z, def, req);
	if (rc != ES_OK)
		goto out;
	rc = db_exec_sql(db, "BEGIN", NULL);
	if (rc != ES_OK)
		goto out;
	begun = true;
	rc = keyring_take(db, req->tenant, z.subjects, z.n_subjects, &z.kr);
	if (rc == ES_OK)
		rc = sealing_seal(&z, def, req);
	if (rc != ES_OK)
		goto out;
	rc = known_only ? store_append_known(db, &z.sealed, res)
			: store_append_in_transaction(db, &z.sealed, res);
out:
	if (begun) {
		end = db_exec_sql(db, rc == ES_OK && !known_only ? "COMMIT" : "ROLLBACK", NULL);
		if (end != ES_OK && rc == ES_OK) {
			if (!known_only)
				store_append_res_free(res);
			rc = end;
		}
	}
	sealing_end(&z, req);
	return rc;
}

/* The sealed append in one statement, or two, and no transaction of its
 * own: the subjects' keys taken from this worker's cache (or guessed new)
 * or looked up, then one statement that writes the events and the new
 * keys while holding the found ones live (keyring_append). When the cache
 * or a guess may be what failed, once more with every key looked up.
 * Whatever that cannot settle (a conflict, a replay, a key erased or made
 * meanwhile) wrote nothing and goes to sealed_append, which answers it. */
static enum es_status sealed_append_guarded(struct db *db, const struct aggdef *def,
					    const struct store_append_req *req,
					    struct store_append_res *res)
{
	enum es_status rc = ES_ERETRY;

	for (int attempt = 0; rc == ES_ERETRY && attempt < 2; attempt++) {
		struct keyring_guard g = KEYRING_GUARD_INIT;
		struct sealing z;

		g.from_table = attempt > 0;
		memset(res, 0, sizeof *res);
		rc = sealing_begin(&z, def, req);
		if (rc == ES_OK)
			rc = keyring_lookup(db, req->tenant, z.subjects, z.n_subjects, &z.kr, &g);
		if (rc == ES_OK)
			rc = sealing_seal(&z, def, req);
		if (rc == ES_OK)
			rc = keyring_append(db, &z.sealed, &z.kr, &g, res);
		keyring_guard_free(&g);
		sealing_end(&z, req);
	}
	if (rc == ES_ENOTFOUND || rc == ES_EDUPLICATE)
		rc = sealed_append(db, def, req, false, res);
	return rc;
}

enum es_status aggregate_state_redact(const struct aggdef *def, json_object *state, const char *base,
				      json_object **redacted)
{
	*redacted = NULL;
	for (size_t i = 0; def && i < def->n_personal_state; i++) {
		const char *path = def->personal_state[i], *dot = strrchr(path, '.');
		json_object *parent = state, *v;
		char *ptr;
		bool found;

		if (dot) {
			char *up = strndup(path, (size_t)(dot - path));

			if (!up)
				return ES_ENOMEM;
			parent = fold_path_get(state, up, &found);
			free(up);
		}
		if (!json_object_is_type(parent, json_type_object) ||
		    !json_object_object_get_ex(parent, dot ? dot + 1 : path, &v) || !v)
			continue;
		ptr = personal_pointer(base, path);
		if (!ptr)
			return ES_ENOMEM;
		if (!*redacted)
			*redacted = json_object_new_array();
		if (!*redacted || json_object_object_add(parent, dot ? dot + 1 : path, NULL) != 0 ||
		    json_object_array_add(*redacted, json_object_new_string(ptr)) != 0) {
			free(ptr);
			return ES_ENOMEM;
		}
		free(ptr);
	}
	return ES_OK;
}

/* Answers a refused request with its replay when it is one: true when
 * *rc was replaced (ES_OK with res->replayed, or ES_EDUPLICATE). A request
 * with personal data is compared as it would be stored: sealed. */
static bool answer_replay(struct db *db, const struct aggdef *def, const struct store_append_req *req,
			  struct store_append_res *res, enum es_status *rc)
{
	struct store_append_res known;
	enum es_status st = carries_personal(def, req) ? sealed_append(db, def, req, true, &known)
						       : store_append_known(db, req, &known);

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
	/* The request's personal values were sealed inside the append: a
	 * fold of the stored events tells the keys to seal the state with. */
	if (def->n_personal_state > 0)
		rc = aggregate_snapshot(db, def, req->tenant, req->aggregate_id, NULL);
	else
		rc = snapshot_save(db, def, req->tenant, req->aggregate_id, new_version, state, NULL, NULL);
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
		aggregate_refresh_snapshot(db, def, req->tenant, req->aggregate_id, &s);
		if ((req->expect == STORE_EXPECT_EXACT && req->expected_version != s.version) ||
		    (req->expect == STORE_EXPECT_EXISTS && s.version == 0)) {
			rc = ES_ECONFLICT;
			if (!answer_replay(db, def, req, res, &rc))
				res->current_version = s.version;
			goto out;
		}
		rc = check_events(def, req, &s, why);
		if (rc == ES_ESTATE) {
			answer_replay(db, def, req, res, &rc);
			goto out;
		}
		if (rc != ES_OK)
			goto out;

		attempt = *req;
		attempt.expect = STORE_EXPECT_EXACT;
		attempt.expected_version = s.version;
		if (carries_personal(def, &attempt)) {
			rc = sealed_append_guarded(db, def, &attempt, res);
			/* The transaction lost a race on an event id (its retry inside
			 * store_append cannot run in an aborted transaction): the
			 * stored events answer, as a replay or a duplicate. */
			if (rc == ES_EDUPLICATE || rc == ES_EDB)
				answer_replay(db, def, req, res, &rc);
		} else {
			rc = store_append(db, &attempt, res);
		}
		if (rc == ES_ERETRY)
			continue; /* a key erased while it was being made: take again */
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
	if (rc == ES_OK)
		aggregate_refresh_snapshot(db, def, tenant, aggregate_id, &s);
	if (rc == ES_OK && s.stream_version == 0)
		rc = ES_ENOTFOUND;
	if (rc == ES_OK)
		rc = snapshot_save(db, def, tenant, aggregate_id, s.version, s.state, &s.keys, NULL);
	if (rc == ES_OK && version)
		*version = s.version;
	aggregate_state_free(&s);
	return rc;
}
