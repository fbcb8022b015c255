/* sub.c - a subscription's handler. */
#include "buildconf.h"
#include "runner/sub.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct sub *sub_new(struct subscription *conf, bool (*abort_fn)(void *), void *arg)
{
	struct sub *s = calloc(1, sizeof *s);
	char err[512];

	if (!s)
		return NULL;
	s->conf = *conf;
	memset(conf, 0, sizeof *conf);
	switch (s->conf.handler) {
	case SUB_HANDLER_SQL:
		if (handler_sql_new(s->conf.sql_file, s->conf.statement_timeout_ms, &s->sql, err,
				    sizeof err) != ES_OK) {
			log_kv(LOG_ERR, "subscription_failed", "subscription", s->conf.name,
			       "error", err, NULL);
			goto fail;
		}
		break;
	case SUB_HANDLER_EXEC:
		s->exec = handler_exec_new(s->conf.command, s->conf.env,
					   s->conf.processing_timeout_ms);
		if (!s->exec)
			goto fail;
		handler_exec_set_abort(s->exec, abort_fn, arg);
		break;
	case SUB_HANDLER_SNAPSHOTS:
		s->snap = handler_snapshots_new();
		if (!s->snap)
			goto fail;
		break;
	case SUB_HANDLER_AUDIT:
		break;
	}
	return s;
fail:
	subscription_free(&s->conf);
	free(s);
	return NULL;
}

void sub_free(struct sub *s)
{
	if (!s)
		return;
	handler_sql_free(s->sql);
	handler_exec_free(s->exec);
	handler_snapshots_free(s->snap);
	subscription_free(&s->conf);
	free(s);
}

void sub_page_start(struct sub *s)
{
	handler_snapshots_forget(s->snap);
}

enum handler_result sub_handle(struct sub *s, struct db *db, const struct aggdef_registry *aggdefs,
			       const struct event *ev, size_t n, const struct sql_tail *tail,
			       size_t n_tail, size_t *failed, struct handler_error *err)
{
	*failed = 0;
	switch (s->conf.handler) {
	case SUB_HANDLER_SQL:
		return handler_sql_run(s->sql, db, ev, n, tail, n_tail, failed, err);
	case SUB_HANDLER_EXEC:
		return handler_exec_handle(s->exec, ev, err);
	case SUB_HANDLER_SNAPSHOTS:
		return handler_snapshots_handle(s->snap, aggdefs, db, ev, err);
	case SUB_HANDLER_AUDIT:
		break;
	}
	return handler_audit_emit(ev, err);
}
