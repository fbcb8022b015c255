/* db.h - one persistent libpq session: connect and reconnect with
 * backoff, statements prepared lazily once per session, failures
 * classified by one SQLSTATE table (sqlstate.h), pipelines,
 * LISTEN/NOTIFY wake-ups. The only module that talks to libpq; callers
 * read the PGresults it hands back and nothing else. Not thread-safe: one
 * per process. */
#ifndef EVSTORE_DB_H
#define EVSTORE_DB_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "base/error.h"

/* A statement a module prepares. Define them as static const objects: the
 * connection remembers which ones it prepared by address, and prepares each
 * again after a reconnect. */
struct db_statement {
	const char *name;   /* unique across the program: "store_append", ... */
	const char *sql;
	int nparams;
};

/* A C constant (a macro) spelled into a statement's text: "LIMIT "
 * DB_SQL_NUMBER(N). */
#define DB_SQL_NUMBER_(x) #x
#define DB_SQL_NUMBER(x) DB_SQL_NUMBER_(x)

struct db;

/* Copies conninfo. connect_timeout is in seconds (0: libpq's default).
 * Does not connect yet. Returns NULL only when out of memory. */
struct db *db_new(const char *conninfo, int connect_timeout);
/* Closes the connection and frees db; db_free(NULL) does nothing. */
void db_free(struct db *db);

/* Copies name: the application_name the server shows in pg_stat_activity
 * ("evstore-fcgi", ...), unless the conninfo sets one. Applies from the next
 * connection on; call it before the first db_ensure. */
void db_set_application_name(struct db *db, const char *name);
/* statement_timeout in milliseconds for the sessions opened from now on
 * (0: the server's default). */
void db_set_statement_timeout(struct db *db, int timeout_ms);

/* The connection goes through a pooler in transaction mode (pgbouncer's
 * pool_mode = transaction): each transaction may run in another server
 * session, so statements are sent unnamed with their text (parsed on each
 * call) instead of prepared once per session, and no session setting is
 * asked for at connect (pgbouncer refuses the options parameter; set
 * statement_timeout on the role). Call it before the first db_ensure. */
void db_set_transaction_pooling(struct db *db);

/* Whether a and b, two connections of this process, may land in one server
 * session, as behind a transaction-pooling pooler: each answers its
 * pg_backend_pid() in turn, a few times. Two sessions of their own (a
 * direct connection, session pooling) never answer the same pid; a pooler
 * in transaction mode hands the session one of them just left to the
 * other. *shared true when it was seen. */
enum es_status db_share_sessions(struct db *a, struct db *b, bool *shared) ES_MUST_CHECK;

/* From now on this connection's log records carry a failed statement's
 * SQLSTATE, statement and constraint but never the server's message,
 * which may quote the statement's values (the runner's projections run on
 * event data). db_last_error still returns it. */
void db_set_private_messages(struct db *db);

/* Makes sure a connection is up. After a failed attempt, further calls fail
 * fast with ES_EUNAVAILABLE until a backoff delay (100 ms doubling to 2 s)
 * has passed, so a burst of requests never piles connection attempts onto a
 * server that is away. */
enum es_status db_ensure(struct db *db) ES_MUST_CHECK;

/* Runs a prepared statement (text parameters; NULL values are SQL NULL) and
 * returns its result in *out (the caller PQclear()s it) when status is
 * ES_OK. A lost connection is ES_EUNAVAILABLE, and the next db_ensure
 * reconnects. Other failures get the status sqlstate_status() gives their
 * SQLSTATE and are logged without parameter values: unexpected ones
 * (ES_EDB) as errors, a moved checkpoint (ES_EMOVED), bad input and
 * duplicates as notices. */
enum es_status db_exec(struct db *db, const struct db_statement *st,
		       const char *const *values, PGresult **out) ES_MUST_CHECK;

/* db_exec with every column of the result in PostgreSQL's binary format
 * (read with db_binary_int64 and the like): for the hot reads, where the
 * server's text output of each value would cost more than its decoding
 * here, and where the value must not depend on session settings
 * (DateStyle, TimeZone). */
enum es_status db_exec_binary(struct db *db, const struct db_statement *st,
			      const char *const *values, PGresult **out) ES_MUST_CHECK;

/* Runs SQL text without parameters (migrations, LISTEN, BEGIN/COMMIT).
 * out may be NULL when the result is not wanted. */
enum es_status db_exec_sql(struct db *db, const char *sql, PGresult **out) ES_MUST_CHECK;

/* Runs a one-off parameterised statement without preparing it (for rare
 * statements: migrations, tools). label names it in logs. Results and
 * errors as for db_exec; out may be NULL. */
enum es_status db_exec_params(struct db *db, const char *label, const char *sql, int nparams,
			      const char *const *values, PGresult **out) ES_MUST_CHECK;

/* db_exec_params for a statement answering one number (a count, a sum):
 * *out gets the first column of its first row (0 when there is no row or
 * it is NULL). */
enum es_status db_exec_params_int64(struct db *db, const char *label, const char *sql,
				    int nparams, const char *const *values,
				    int64_t *out) ES_MUST_CHECK;

/* Reading a result's text values (rows and columns from 0): a number, a
 * boolean as PostgreSQL spells it ("t"), or the text with SQL NULL as
 * NULL (borrowed from r). */
int64_t db_value_int64(const PGresult *r, int row, int col);
bool db_value_bool(const PGresult *r, int row, int col);
/* A bigint of a binary result (db_exec_binary); 0 if it is not 8 bytes. */
int64_t db_binary_int64(const PGresult *r, int row, int col);
/* The same from a value already known to be 8 bytes (a bigint, or a
 * timestamp's microseconds): network byte order. */
int64_t db_binary_int64_of(const char *v);
/* A boolean of a binary result. */
bool db_binary_bool(const PGresult *r, int row, int col);
const char *db_value_or_null(const PGresult *r, int row, int col);

/* The status a failure with this SQLSTATE returns:
 * sqlstate_status(sqlstate_classify(sqlstate)), see sqlstate.h. */
enum es_status db_classify_sqlstate(const char *sqlstate);

/* The SQLSTATE and constraint name of the last failed call ("" if none). */
const char *db_last_sqlstate(const struct db *db);
const char *db_last_constraint(const struct db *db);
/* The server's or libpq's message for the last failure of a connection
 * attempt or a statement, one line ("" if none). Borrowed until the next
 * db_* call. For operators (evstorectl), never for HTTP clients. */
const char *db_last_error(const struct db *db);

/* LISTENs on channel now and again after every reconnect. */
enum es_status db_listen(struct db *db, const char *channel) ES_MUST_CHECK;
/* Waits up to timeout_ms for a notification on a listened channel from
 * another session (the session's own are consumed and ignored); returns
 * true if one (or more, all consumed) arrived. A broken connection returns
 * false at once and is marked for reconnect. */
bool db_wait_notify(struct db *db, int timeout_ms);
/* Throws away notifications already received. */
void db_drain_notify(struct db *db);
/* The session's socket, for a caller's own poll() before db_wait_notify(db,
 * 0); -1 when no session is open. */
int db_socket(const struct db *db);

/* ---- sessions ---- */

/* The current session's number: 0 when none is open (never connected, or
 * lost and not replaced yet), otherwise a number no later session of this
 * db repeats (a reconnect or db_reset opens a new one). Whoever keeps
 * something that lives in a session (statements it prepared with
 * db_prepare_named, advisory locks) records the number and compares: a
 * different one means that session, and what lived in it, is gone. Asks
 * libpq only, never the server. */
unsigned long db_session_epoch(const struct db *db);
/* True when a session is open and libpq has not seen it break. */
bool db_connected(const struct db *db);
/* Number of sessions opened after the first one (a metric). */
unsigned long db_reconnects(const struct db *db);

/* What a failure was, for counting (a metric): the SQLSTATE classes of
 * sqlstate.h, a session found broken, and failed connection attempts. */
enum db_failure {
	DB_FAILURE_SESSION_LOST,   /* the session went away (08xxx, 57P01..57P05, no answer) */
	DB_FAILURE_UNAVAILABLE,    /* the server short of something, statement_timeout */
	DB_FAILURE_RETRY,          /* serialization failure, deadlock */
	DB_FAILURE_DUPLICATE,      /* unique violation */
	DB_FAILURE_BAD_INPUT,      /* another data exception or constraint violation */
	DB_FAILURE_CHECKPOINT_MOVED,
	DB_FAILURE_OTHER,          /* unexpected */
	DB_FAILURE_CONNECT,        /* a connection attempt failed */
	DB_FAILURE_KINDS
};

/* How many failures of kind this db has seen since db_new. */
unsigned long db_failures(const struct db *db, enum db_failure kind);
/* The kind's name in snake_case ("session_lost", ..., "connect"). */
const char *db_failure_name(enum db_failure kind);

/* Closes the session and opens a new one (honouring the backoff, as
 * db_ensure does): LISTENing again on every channel, nothing prepared, a
 * new db_session_epoch. For a session left in a state nobody knows, such
 * as a pipeline whose answers are out of step. ES_EUNAVAILABLE when the
 * new session cannot be opened; the next db_ensure tries again. */
enum es_status db_reset(struct db *db) ES_MUST_CHECK;

/* The server's version ("15.8 (Debian 15.8-0+deb12u1)") as it announced it
 * when the session opened; NULL when no session is open. Borrowed until
 * the session ends. */
const char *db_server_version(const struct db *db);

/* ---- statements named by the caller, pipelines ---- */

/* A parameter's type for db_prepare_named. */
enum db_type {
	DB_TYPE_UNSPECIFIED, /* the server infers it from the statement */
	DB_TYPE_JSON,
	DB_TYPE_JSONB
};

/* Prepares sql as the statement name on the current session, with
 * nparams parameters of types[0..nparams) (types may be NULL: all
 * inferred). Unlike struct db_statement, db remembers nothing: the caller
 * prepares again whenever db_session_epoch has changed. A name this
 * session already knows (42P05) counts as prepared. ES_EUNAVAILABLE when
 * no session is open (call db_ensure first; this never connects, so that
 * the statements and their first use meet on one session); other
 * failures as for db_exec, with the server's message in db_last_error.
 * Copies everything it needs. */
enum es_status db_prepare_named(struct db *db, const char *name, const char *sql, int nparams,
				const enum db_type *types) ES_MUST_CHECK;

/* A pipeline sends several statements at once and reads their answers in
 * one round trip. The statements between db_pipeline_begin and
 * db_pipeline_sync form one implicit transaction: it commits when all of
 * them succeed and not at all otherwise.
 *
 *	if (db_pipeline_begin(db) != ES_OK) ...
 *	db_pipeline_send_prepared(db, name, 1, values);     any number, in order
 *	db_pipeline_send_params(db, sql, 6, values);
 *	rc = db_pipeline_sync(db, &failed);
 *
 * Starts a pipeline on the current session; ES_EUNAVAILABLE when none is
 * open (it never connects: see db_prepare_named) or when the session is
 * busy with something else (it is then replaced by db_reset). While the
 * pipeline is open, only the db_pipeline_* calls may use db. */
enum es_status db_pipeline_begin(struct db *db) ES_MUST_CHECK;
/* Queues a statement prepared with db_prepare_named, text parameters as
 * for db_exec. Values are copied out before it returns. A failure to send
 * is remembered and returned by db_pipeline_sync. */
void db_pipeline_send_prepared(struct db *db, const char *name, int nparams,
			       const char *const *values);
/* Queues one statement given as text (with $1.. parameters, text values),
 * otherwise as db_pipeline_send_prepared. */
void db_pipeline_send_params(struct db *db, const char *sql, int nparams,
			     const char *const *values);
/* Ends the transaction, reads every answer and closes the pipeline.
 * ES_OK when every statement succeeded (and the transaction committed).
 * Otherwise nothing was committed, unless the session was lost after the
 * sync went out (then nobody knows: the caller's own check, such as a
 * checkpoint compared and moved in the same transaction, must tell).
 * *failed is the index, in send order, of the statement that failed, and
 * the status, SQLSTATE and message are as for db_exec's failure; when the
 * fault is not one statement's (the session lost on the way, answers out
 * of step) *failed is the number of statements sent, the status
 * ES_EUNAVAILABLE, and a session still open but out of step is replaced
 * by db_reset. ES_EINTERNAL when no pipeline was begun. */
enum es_status db_pipeline_sync(struct db *db, size_t *failed) ES_MUST_CHECK;

/* Sends sql (one statement, text, no parameters) and returns without
 * waiting for its answer, so that the caller can work meanwhile; then
 * db_exec_wait, before anything else uses db. Failures to send as for
 * db_exec_sql. */
enum es_status db_exec_send(struct db *db, const char *label, const char *sql) ES_MUST_CHECK;
/* Waits for what db_exec_send sent: its result in *out (PQclear it) on
 * ES_OK; failures as for db_exec_sql. */
enum es_status db_exec_wait(struct db *db, const char *label, PGresult **out) ES_MUST_CHECK;

/* ---- COPY ---- */

/* Quotes s as an SQL string literal ('...' with quotes doubled, E'' when
 * needed) for statements that take no parameters, such as COPY (SELECT
 * ...). Returns a new string (free() it), or NULL when out of memory or
 * no session is open (db_last_error says which). */
char *db_quote_literal(struct db *db, const char *s);

/* Runs sql, a `COPY ... TO STDOUT` statement, and streams its rows: after
 * ES_OK call db_copy_out_next until *row is NULL. ES_EUNAVAILABLE and the
 * other failures as for db_exec_sql (the COPY never started). */
enum es_status db_copy_out_begin(struct db *db, const char *sql) ES_MUST_CHECK;
/* The next row of the COPY: *row points at *len bytes, one CopyData
 * message as the server sent it (text: a line with its newline; binary:
 * one tuple, the file header before the first), borrowed until the next
 * db_* call. At the end *row is NULL and the status is the COPY
 * statement's. A failure ends the COPY: do not call again. */
enum es_status db_copy_out_next(struct db *db, const char **row, size_t *len) ES_MUST_CHECK;
/* db_copy_out_next for a `COPY ... TO STDOUT (FORMAT binary)`: the next
 * tuple (its field count first), without the file header, which comes
 * with the first message (*first: none has been read yet; start with
 * true), and without the trailer. At the end *tuple is NULL. */
enum es_status db_copy_out_tuple(struct db *db, bool *first, const unsigned char **tuple,
				 size_t *len) ES_MUST_CHECK;

/* Runs sql, a `COPY ... FROM STDIN` statement; then db_copy_in_put any
 * number of times and db_copy_in_end once, whatever happened. */
enum es_status db_copy_in_begin(struct db *db, const char *sql) ES_MUST_CHECK;
/* Sends len bytes of COPY data (whole rows or not). A failure is
 * remembered and returned by db_copy_in_end. */
void db_copy_in_put(struct db *db, const char *data, size_t len);
/* Ends the COPY: with abort_reason NULL the rows are kept (the statement's
 * status is returned), otherwise the COPY fails with that message and
 * ES_EINVAL is returned (inside a transaction, roll it back). */
enum es_status db_copy_in_end(struct db *db, const char *abort_reason) ES_MUST_CHECK;

#endif
