/* handler.h - what a subscription does with an event: the sql projection
 * (exactly once, with the checkpoint in the same transaction), an external
 * program (exec, at least once), an audit record (audit, at least once) or
 * a background snapshot (snapshots, at least once). */
#ifndef EVSTORE_RUNNER_HANDLER_H
#define EVSTORE_RUNNER_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "store/feed.h"           /* struct event: what a handler is handed */

struct db;

/* Why a handler failed, told twice. summary goes to the subscription's
 * status row (the health routes, /v1/subscriptions) and the logs: what and
 * where (SQLSTATE, "-- on" section, statement number), never a server's or
 * a program's message, which may quote the event's values. detail is the
 * whole message, kept only in the event's DLQ row, which only an admin of
 * the event's tenant reads. */
struct handler_error {
	char summary[256];
	char detail[1024];
};

/* Sets both summary and detail to the same text: for messages that hold no
 * event data. */
void handler_error_set(struct handler_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

enum handler_result {
	HANDLER_OK,
	HANDLER_RETRY,      /* a permanent-class failure: counts against max_retries */
	HANDLER_PARK,       /* park at once (an exec handler's "park") */
	HANDLER_TRANSIENT,  /* the database is away or busy: wait, do not count */
	HANDLER_MOVED       /* the checkpoint moved under us: reload it */
};

/* A statement run after the events' statements in the same transaction
 * (the checkpoint move of subs/checkpoint.h, a requeued entry's settling
 * of subs/dlq.h). Borrowed. */
struct sql_tail {
	const char *sql;
	int nparams;
	const char *const *values;
};

/* ---- sql ---- */
struct handler_sql;

/* Loads and parses the projection file. ES_EINVAL with "PATH: line N:
 * message" in err. *out is owned by the caller (handler_sql_free).
 * statement_timeout_ms (0: the server's) bounds each statement of the
 * file, for the handler's transactions only. */
enum es_status handler_sql_new(const char *path, int statement_timeout_ms,
			       struct handler_sql **out, char *err, size_t errlen) ES_MUST_CHECK;
void handler_sql_free(struct handler_sql *h);

/* Runs, in one transaction and one pipeline round trip, the statements of
 * every event in ev[0..n) whose type has a section (others are skipped),
 * then the tail statements. On failure nothing is committed; *failed is the
 * index of the failing event (n when a tail statement failed); err's
 * summary names the SQLSTATE, the section and the statement's number in
 * it, its detail adds the server's message. HANDLER_MOVED when a tail statement raised
 * SQLSTATE_CHECKPOINT_MOVED (pg/sqlstate.h). A statement of the file that
 * ran into the statement timeout is HANDLER_RETRY, its summary starting
 * "statement_timeout (N ms) passed in"; a statement cancelled otherwise
 * (57014 before the timeout) is HANDLER_TRANSIENT. */
enum handler_result handler_sql_run(struct handler_sql *h, struct db *db, const struct event *ev,
				    size_t n, const struct sql_tail *tail, size_t n_tail,
				    size_t *failed, struct handler_error *err);

/* ---- exec ---- */
enum exec_answer { EXEC_ANSWER_OK, EXEC_ANSWER_RETRY, EXEC_ANSWER_PARK };

/* Parses one answer line (without its newline; a trailing '\r' is
 * ignored): "ok", "retry[ message]", "park[ message]". *message points
 * into line (borrowed; "" when none). False for anything else. */
bool exec_parse_answer(const char *line, enum exec_answer *kind, const char **message);

struct handler_exec;

/* The environment a program starts with, NULL-terminated (a new array of
 * new strings, exec_environment_free): the "NAME=value" pairs of env (a
 * subscription's env key, single spaces between pairs; NULL or "": none),
 * then PATH, HOME, LANG and TZ from the runner's environment unless env
 * sets them, and PATH=/usr/local/bin:/usr/bin:/bin when nobody does.
 * Nothing else: the runner's DATABASE_URL, PGPASSWORD, EVSTORE_* or
 * NOTIFY_SOCKET never reach a program. NULL when memory ran out. */
char **exec_environment(const char *env);
void exec_environment_free(char **envp);

/* Copies command (run by /bin/sh -c), env (as exec_environment takes it)
 * and the timeout. Starts nothing yet: the program is started on the
 * first event and again after it exits, and dies with the runner. */
struct handler_exec *handler_exec_new(const char *command, const char *env, int timeout_ms);
/* Installs a check called while waiting for an answer (at least every
 * 100 ms, and after every signal). When it returns true the wait is given
 * up, the program is killed and the result is HANDLER_TRANSIENT: the event
 * was not answered and is handed over again later. arg is borrowed. */
void handler_exec_set_abort(struct handler_exec *h, bool (*abort_fn)(void *), void *arg);
/* Closes the program's stdin, waits up to a second for it, then kills it. */
void handler_exec_free(struct handler_exec *h);

/* Writes the event's JSON and a newline to the program, reads one answer
 * line, both within one timeout (a program that stops reading times out
 * like one that does not answer). No answer within it: the program is killed (it is
 * restarted for the next event) and the result is HANDLER_RETRY; so is an
 * exit or an answer that is not one of the three. HANDLER_TRANSIENT when
 * the abort check (handler_exec_set_abort) gave up the wait. */
enum handler_result handler_exec_handle(struct handler_exec *h, const struct event *ev,
					struct handler_error *err);

/* ---- audit ---- */
struct json_object;

/* The audit record of ev, a new json-c object: audit_type
 * "event_committed", tenant_id, event_id, position and, when full,
 * timestamp (recorded_at), actor_id, aggregate_type, aggregate_id,
 * event_type and request_id (from metadata.request_id, null when absent).
 * Every string is cut to 256 bytes on a character boundary; a record with
 * a cut value, or without the full fields, has "truncated": true. NULL
 * when ev's JSON is unreadable or memory ran out. */
struct json_object *audit_record_new(const struct event *ev, bool full);

/* Emits the event's full audit record (log_audit). One the log socket
 * refuses as too big goes again with the identity fields only; one it
 * refuses even so is HANDLER_PARK. The socket away or full is
 * HANDLER_TRANSIENT. */
enum handler_result handler_audit_emit(const struct event *ev, struct handler_error *err);

/* ---- snapshots ---- */
struct aggdef_registry;
struct handler_snapshots;

/* A handler with nothing remembered yet; NULL when memory ran out.
 * handler_snapshots_free(NULL) does nothing. */
struct handler_snapshots *handler_snapshots_new(void);
void handler_snapshots_free(struct handler_snapshots *h);

/* Forgets the streams written so far: called before each page, so what is
 * remembered stays one page long. */
void handler_snapshots_forget(struct handler_snapshots *h);

/* When ev's aggregate type has a definition in defs with snapshot mode
 * background and ev's version crosses a multiple of its threshold, folds
 * the stream to its current version and saves the snapshot (skipped when
 * this page already wrote one at or past ev's version). Any other event is
 * HANDLER_OK. The database failing is HANDLER_TRANSIENT; a stream that
 * cannot be folded is HANDLER_RETRY with the reason in err. Borrows defs
 * (may be NULL: no definitions), db and ev. */
enum handler_result handler_snapshots_handle(struct handler_snapshots *h,
					     const struct aggdef_registry *defs, struct db *db,
					     const struct event *ev, struct handler_error *err);

#endif
