/* handler_sql.c - the sql projection handler. A batch is one pipeline:
 * each event's statements (prepared once per session, the event JSON as
 * $1), then the tail (the checkpoint advance), then one Sync. Statements
 * between two Syncs form one implicit transaction, so the read model and
 * the checkpoint commit together or not at all. */
#include "buildconf.h"
#include "runner/handler.h"

#include <stdio.h>
#include <stdlib.h>

#include "pg/db.h"
#include "subs/sqlfile.h"

struct handler_sql {
	struct sqlfile file;
	unsigned id;                  /* names this handler's prepared statements */
	unsigned long session;        /* db_session_epoch they were prepared in; 0: none */
};

static unsigned handler_sql_next_id;

enum es_status handler_sql_new(const char *path, struct handler_sql **out, char *err,
			       size_t errlen)
{
	struct handler_sql *h = calloc(1, sizeof *h);
	enum es_status rc;

	*out = NULL;
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return ES_ENOMEM;
	}
	rc = sqlfile_load(path, &h->file, err, errlen);
	if (rc != ES_OK) {
		free(h);
		return rc;
	}
	h->id = ++handler_sql_next_id;
	*out = h;
	return ES_OK;
}

void handler_sql_free(struct handler_sql *h)
{
	if (!h)
		return;
	sqlfile_free(&h->file);
	free(h);
}

static void stmt_name(const struct handler_sql *h, size_t sec, size_t i, char out[48])
{
	snprintf(out, 48, "rs_%u_%zu_%zu", h->id, sec, i);
}

/* What a failed db call (its status, from sqlstate.h's table) means for
 * the batch. */
static enum handler_result handler_sql_result(enum es_status rc)
{
	switch (rc) {
	case ES_EMOVED:
		return HANDLER_MOVED;
	case ES_EUNAVAILABLE: /* the session lost, or the server short of something */
	case ES_ERETRY:       /* a serialization failure or deadlock is not the event's */
	case ES_ENOMEM:
		return HANDLER_TRANSIENT;
	default:
		return HANDLER_RETRY;
	}
}

/* Where a statement sent in a batch comes from: its event and its place
 * in the file (section NO_SECTION: the tail, the runner's own). */
struct stmt_origin {
	size_t event;
	size_t section;
	size_t statement;
};
#define NO_SECTION ((size_t)-1)

/* handler_sql_result, with err telling what failed where: the summary
 * the SQLSTATE and the place, the detail "SQLSTATE: message" (the
 * message may quote the event's values). at is NULL when the failure
 * belongs to no statement (the pipeline could not start). */
static enum handler_result handler_sql_failed(const struct handler_sql *h, struct db *db,
					      enum es_status rc, const struct stmt_origin *at,
					      struct handler_error *err)
{
	const char *state = *db_last_sqlstate(db) ? db_last_sqlstate(db) : "none";
	char where[160] = "";

	if (at && at->section == NO_SECTION)
		snprintf(where, sizeof where, " in the checkpoint statements");
	else if (at)
		snprintf(where, sizeof where, " in \"-- on %s\", statement %zu",
			 h->file.sections[at->section].event_type, at->statement + 1);
	snprintf(err->summary, sizeof err->summary, "SQLSTATE %s%s", state, where);
	snprintf(err->detail, sizeof err->detail, "%s: %s%s", state, db_last_error(db), where);
	return handler_sql_result(rc);
}

/* Prepares every "-- on" statement in the current session unless done,
 * named as stmt_name names them. */
static enum handler_result handler_sql_prepare(struct handler_sql *h, struct db *db,
					       struct handler_error *err)
{
	unsigned long session = db_session_epoch(db);
	char prefix[24];
	size_t s, i;
	enum es_status rc;

	if (session != 0 && session == h->session)
		return HANDLER_OK;
	snprintf(prefix, sizeof prefix, "rs_%u", h->id);
	rc = sqlfile_prepare(db, &h->file, prefix, &s, &i);
	if (rc != ES_OK) {
		const struct stmt_origin at = { 0, s, i };

		return handler_sql_failed(h, db, rc, &at, err);
	}
	h->session = session;
	return HANDLER_OK;
}

enum handler_result handler_sql_run(struct handler_sql *h, struct db *db, const struct event *ev,
				    size_t n, const struct sql_tail *tail, size_t n_tail,
				    size_t *failed, struct handler_error *err)
{
	enum handler_result res;
	enum es_status rc;
	struct stmt_origin *origin = NULL; /* of the k-th statement sent */
	size_t total = n_tail, sent = 0, k;
	char name[48];

	*failed = n;
	if (db_ensure(db) != ES_OK) {
		handler_error_set(err, "database unavailable: %s", db_last_error(db));
		return HANDLER_TRANSIENT;
	}
	res = handler_sql_prepare(h, db, err);
	if (res != HANDLER_OK)
		return res;
	for (size_t e = 0; e < n; e++) {
		const struct sqlfile_section *s = sqlfile_find(&h->file, ev[e].event_type);

		total += s ? s->n_statements : 0;
	}
	origin = malloc((total ? total : 1) * sizeof *origin);
	if (!origin) {
		handler_error_set(err, "out of memory");
		return HANDLER_TRANSIENT;
	}
	rc = db_pipeline_begin(db);
	if (rc != ES_OK) {
		res = handler_sql_failed(h, db, rc, NULL, err);
		goto out;
	}
	for (size_t e = 0; e < n; e++) {
		const struct sqlfile_section *s = sqlfile_find(&h->file, ev[e].event_type);
		size_t sec = s ? (size_t)(s - h->file.sections) : 0;
		const char *vals[1] = { ev[e].json };

		for (size_t i = 0; s && i < s->n_statements; i++) {
			stmt_name(h, sec, i, name);
			db_pipeline_send_prepared(db, name, 1, vals);
			origin[sent++] = (struct stmt_origin){ e, sec, i };
		}
	}
	for (size_t t = 0; t < n_tail; t++) {
		db_pipeline_send_params(db, tail[t].sql, tail[t].nparams, tail[t].values);
		origin[sent++] = (struct stmt_origin){ n, NO_SECTION, t };
	}
	rc = db_pipeline_sync(db, &k);
	if (rc != ES_OK) {
		res = handler_sql_failed(h, db, rc, k < sent ? &origin[k] : NULL, err);
		*failed = k < sent ? origin[k].event : n;
	}
out:
	free(origin);
	return res;
}
