/* db.h - one persistent libpq connection: connect and reconnect with
 * backoff, statements prepared lazily once per connection, SQLSTATE
 * classification, LISTEN/NOTIFY wake-ups. Not thread-safe: one per process. */
#ifndef EVSTORE_DB_H
#define EVSTORE_DB_H

#include <stdbool.h>
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

/* Makes sure a connection is up. After a failed attempt, further calls fail
 * fast with ES_EUNAVAILABLE until a backoff delay (100 ms doubling to 2 s)
 * has passed, so a burst of requests never piles connection attempts onto a
 * server that is away. */
enum es_status db_ensure(struct db *db) ES_MUST_CHECK;

/* Runs a prepared statement (text parameters; NULL values are SQL NULL) and
 * returns its result in *out (the caller PQclear()s it) when status is
 * ES_OK. A lost connection is ES_EUNAVAILABLE, and the next db_ensure
 * reconnects. Other failures are classified by db_classify and logged
 * without parameter values. */
enum es_status db_exec(struct db *db, const struct db_statement *st,
		       const char *const *values, PGresult **out) ES_MUST_CHECK;

/* Runs SQL text without parameters (migrations, LISTEN, BEGIN/COMMIT).
 * out may be NULL when the result is not wanted. */
enum es_status db_exec_sql(struct db *db, const char *sql, PGresult **out) ES_MUST_CHECK;

/* Runs a one-off parameterised statement without preparing it (for rare
 * statements: migrations, tools). label names it in logs. Results and
 * errors as for db_exec; out may be NULL. */
enum es_status db_exec_params(struct db *db, const char *label, const char *sql, int nparams,
			      const char *const *values, PGresult **out) ES_MUST_CHECK;

/* SQLSTATE -> status: 23505 unique violation -> ES_EDUPLICATE, 22xxx and
 * 23xxx data errors -> ES_EINVAL, 40001/40P01 -> ES_ERETRY, 08xxx, 57P01..3
 * and a dead connection (NULL or "") -> ES_EUNAVAILABLE; the server being
 * short of resources (53xxx) or a statement cancelled by statement_timeout
 * (57014) -> ES_EUNAVAILABLE too (the connection stays); anything else
 * ES_EDB. */
enum es_status db_classify_sqlstate(const char *sqlstate);

/* The SQLSTATE and constraint name of the last failed db_exec ("" if none). */
const char *db_last_sqlstate(const struct db *db);
const char *db_last_constraint(const struct db *db);
/* The server's or libpq's message for the last failure of a connection
 * attempt or a statement, one line ("" if none). Borrowed until the next
 * db_* call. For operators (evstorectl), never for HTTP clients. */
const char *db_last_error(const struct db *db);

/* LISTENs on channel now and again after every reconnect. */
enum es_status db_listen(struct db *db, const char *channel) ES_MUST_CHECK;
/* Waits up to timeout_ms for a notification on a listened channel; returns
 * true if one (or more, all consumed) arrived. A broken connection returns
 * false at once and is marked for reconnect. */
bool db_wait_notify(struct db *db, int timeout_ms);
/* Throws away notifications already received. */
void db_drain_notify(struct db *db);

/* The live connection or NULL; borrowed until the next db_* call. */
PGconn *db_conn(struct db *db);
/* Number of successful reconnects after the first connection (a metric). */
unsigned long db_reconnects(const struct db *db);

#endif
