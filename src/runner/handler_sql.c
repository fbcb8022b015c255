/* handler_sql.c - the sql projection handler. A batch is one pipeline:
 * each event's statements (prepared once per connection, the event JSON as
 * $1), then the tail (the checkpoint advance), then one Sync. Statements
 * between two Syncs form one implicit transaction, so the read model and
 * the checkpoint commit together or not at all. */
#include "buildconf.h"
#include "runner/handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "base/log.h"
#include "subs/sqlfile.h"
#include "store/store.h"

#define JSON_OID 114
#define JSONB_OID 3802

struct handler_sql {
	struct sqlfile file;
	unsigned id;                  /* names this handler's prepared statements */
	PGconn *prepared_on;          /* the connection they were prepared on */
	unsigned long prepared_gen;   /* and its db_reconnects() count */
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

/* Prepares every "-- on" statement on the live connection unless done. */
static enum handler_result handler_sql_prepare(struct handler_sql *h, struct db *db,
					       char *err, size_t errlen)
{
	PGconn *c = db_conn(db);
	char name[48];

	if (!c) {
		snprintf(err, errlen, "database unavailable: %s", db_last_error(db));
		return HANDLER_TRANSIENT;
	}
	if (h->prepared_on == c && h->prepared_gen == db_reconnects(db))
		return HANDLER_OK;
	for (size_t s = 0; s < h->file.n_sections; s++) {
		for (size_t i = 0; i < h->file.sections[s].n_statements; i++) {
			const char *sql = h->file.sections[s].statements[i], *state;
			/* jsonb when the statement only ever casts $1 to it: one
			 * parse of the event instead of one per cast. */
			const Oid types[1] = { sqlfile_param_only_jsonb(sql) ? JSONB_OID : JSON_OID };
			PGresult *r;
			bool ok;

			stmt_name(h, s, i, name);
			r = PQprepare(c, name, sql, 1, types);
			state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			ok = PQresultStatus(r) == PGRES_COMMAND_OK || (state && !strcmp(state, "42P05"));
			if (!ok) {
				snprintf(err, errlen, "-- on %s, statement %zu: %s",
					 h->file.sections[s].event_type, i + 1,
					 PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
					 ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
					 : PQerrorMessage(c));
				PQclear(r);
				return PQstatus(c) == CONNECTION_OK ? HANDLER_RETRY : HANDLER_TRANSIENT;
			}
			PQclear(r);
		}
	}
	h->prepared_on = c;
	h->prepared_gen = db_reconnects(db);
	return HANDLER_OK;
}

/* What a failed result means. */
static enum handler_result handler_sql_classify(PGconn *c, const PGresult *r, char *err,
						size_t errlen)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	snprintf(err, errlen, "%s%s%s", state ? state : "", state ? ": " : "",
		 msg ? msg : PQerrorMessage(c));
	if (PQstatus(c) != CONNECTION_OK || !state)
		return HANDLER_TRANSIENT;
	if (!strcmp(state, "EVCKP"))
		return HANDLER_MOVED;
	if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) || !strcmp(state, "57014") ||
	    !strncmp(state, "57P0", 4) || !strcmp(state, "40001") || !strcmp(state, "40P01"))
		return HANDLER_TRANSIENT;
	return HANDLER_RETRY;
}

enum handler_result handler_sql_run(struct handler_sql *h, struct db *db, const struct event *ev,
				    size_t n, const struct sql_tail *tail, size_t n_tail,
				    size_t *failed, char *err, size_t errlen)
{
	enum handler_result res = HANDLER_OK;
	PGconn *c;
	size_t sent = 0, *owner = NULL;
	char name[48];
	bool errored = false;

	*failed = n;
	err[0] = '\0';
	if (db_ensure(db) != ES_OK) {
		snprintf(err, errlen, "database unavailable: %s", db_last_error(db));
		return HANDLER_TRANSIENT;
	}
	res = handler_sql_prepare(h, db, err, errlen);
	if (res != HANDLER_OK)
		return res;
	c = db_conn(db);
	if (!c || !PQenterPipelineMode(c)) {
		snprintf(err, errlen, "cannot enter pipeline mode");
		return HANDLER_TRANSIENT;
	}
	/* owner[k]: the event index of the k-th query sent (n for the tail). */
	{
		size_t total = n_tail;
		for (size_t e = 0; e < n; e++) {
			const struct sqlfile_section *s = sqlfile_find(&h->file, ev[e].event_type);
			total += s ? s->n_statements : 0;
		}
		owner = malloc((total ? total : 1) * sizeof *owner);
		if (!owner) {
			PQexitPipelineMode(c);
			snprintf(err, errlen, "out of memory");
			return HANDLER_TRANSIENT;
		}
	}
	for (size_t e = 0; e < n; e++) {
		const struct sqlfile_section *s = sqlfile_find(&h->file, ev[e].event_type);
		size_t sec = s ? (size_t)(s - h->file.sections) : 0;
		const char *vals[1] = { ev[e].json };

		for (size_t i = 0; s && i < s->n_statements; i++) {
			stmt_name(h, sec, i, name);
			if (!PQsendQueryPrepared(c, name, 1, vals, NULL, NULL, 0))
				goto send_failed;
			owner[sent++] = e;
		}
	}
	for (size_t t = 0; t < n_tail; t++) {
		if (!PQsendQueryParams(c, tail[t].sql, tail[t].nparams, NULL, tail[t].values,
				       NULL, NULL, 0))
			goto send_failed;
		owner[sent++] = n;
	}
	if (!PQpipelineSync(c))
		goto send_failed;

	/* Collect: one result (then NULL) per query, then the sync. */
	for (size_t k = 0; k < sent; k++) {
		PGresult *r = PQgetResult(c);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

		if (!r) {
			res = HANDLER_TRANSIENT;
			snprintf(err, errlen, "connection lost: %s", PQerrorMessage(c));
			goto out_broken;
		}
		if (st == PGRES_FATAL_ERROR && !errored) {
			errored = true;
			*failed = owner[k];
			res = handler_sql_classify(c, r, err, errlen);
		}
		PQclear(r);
		while ((r = PQgetResult(c)) != NULL)
			PQclear(r);
	}
	{
		PGresult *r = PQgetResult(c);

		if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
			PQclear(r);
			res = HANDLER_TRANSIENT;
			snprintf(err, errlen, "pipeline out of step: %s", PQerrorMessage(c));
			goto out_broken;
		}
		PQclear(r);
	}
	PQexitPipelineMode(c);
	free(owner);
	return res;

send_failed:
	snprintf(err, errlen, "connection lost: %s", PQerrorMessage(c));
	res = HANDLER_TRANSIENT;
out_broken:
	/* A connection in an unknown pipeline state is no use: start over. */
	free(owner);
	h->prepared_on = NULL;
	if (PQstatus(c) == CONNECTION_OK) {
		/* Still connected but out of step: a fresh session, LISTEN again
		 * (db.c prepares its own statements again on 26000). */
		PQreset(c);
		if (PQstatus(c) == CONNECTION_OK && db_listen(db, STORE_NOTIFY_CHANNEL) != ES_OK)
			log_kv(LOG_WARNING, "runner_listen_failed", NULL);
	}
	return res;
}
