/* db.c - one persistent libpq session: connect and reconnect with
 * backoff, statements prepared lazily once per session, failures
 * classified by sqlstate.c, pipelines, LISTEN/NOTIFY wake-ups. */
#include "buildconf.h"
#include "pg/db.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timefmt.h"
#include "pg/sqlstate.h"

#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 2000

#define DB_JSON_OID 114
#define DB_JSONB_OID 3802

struct db {
	char *conninfo;
	int connect_timeout;
	char *application_name;
	int statement_timeout_ms;

	PGconn *conn;                 /* NULL when not connected */
	unsigned long sessions;       /* opened so far; the current one's epoch */
	unsigned long reconnects;
	unsigned long failures[DB_FAILURE_KINDS];

	int64_t retry_at_ms;          /* no connection attempt before (monotonic) */
	int backoff_ms;               /* delay after the last failed attempt; 0: none */

	/* Statements prepared on this connection, by address. */
	const struct db_statement **prepared;
	size_t n_prepared;
	size_t cap_prepared;

	char **channels;              /* LISTENed, re-issued after reconnect */
	size_t n_channels;

	bool in_pipeline;
	bool pipeline_unsent;         /* a db_pipeline_send_* failed */
	size_t pipeline_sent;         /* statements queued */

	bool private_messages;        /* server messages stay out of the log */
	bool transaction_pooling;     /* unnamed statements, no session options */

	char *copy_row;               /* the last COPY TO row handed out (PQfreemem) */
	bool copy_unsent;             /* a db_copy_in_put failed */

	char sqlstate[6];
	char constraint[64];
	char error[512];
};

/* Copies msg into db->error on one line, without trailing whitespace. */
static void db_set_error(struct db *db, const char *msg)
{
	size_t n = 0;

	for (; msg && *msg && n + 1 < sizeof db->error; msg++)
		db->error[n++] = (*msg == '\n' || *msg == '\t' || *msg == '\r') ? ' ' : *msg;
	while (n > 0 && db->error[n - 1] == ' ')
		n--;
	db->error[n] = '\0';
}

/* libpq words some TLS refusals without naming what to look at ("SSL
 * error: certificate verify failed"): the connection parameter to check,
 * appended to the error as a hint. */
static const struct {
	const char *says;
	const char *hint;
} db_tls_hints[] = {
	{ "certificate verify failed",
	  "TLS: the server's certificate is not signed by the CA in sslrootcert, or has expired" },
	{ "does not match host name",
	  "TLS: host= must be a name in the server's certificate; hostaddr= may give the address" },
	{ "requires a valid client certificate",
	  "TLS: the server wants a client certificate: set sslcert and sslkey" },
};

static void db_add_tls_hint(struct db *db)
{
	size_t n = strlen(db->error);

	for (size_t i = 0; i < sizeof db_tls_hints / sizeof db_tls_hints[0]; i++) {
		if (strstr(db->error, db_tls_hints[i].says)) {
			snprintf(db->error + n, sizeof db->error - n, " (%s)", db_tls_hints[i].hint);
			return;
		}
	}
}

static void db_clear_error(struct db *db)
{
	db->sqlstate[0] = '\0';
	db->constraint[0] = '\0';
	db->error[0] = '\0';
}

struct db *db_new(const char *conninfo, int connect_timeout)
{
	struct db *db = calloc(1, sizeof *db);

	if (!db)
		return NULL;
	db->conninfo = strdup(conninfo ? conninfo : "");
	if (!db->conninfo) {
		free(db);
		return NULL;
	}
	db->connect_timeout = connect_timeout > 0 ? connect_timeout : 0;
	return db;
}

void db_free(struct db *db)
{
	if (!db)
		return;
	if (db->copy_row)
		PQfreemem(db->copy_row);
	if (db->conn)
		PQfinish(db->conn);
	for (size_t i = 0; i < db->n_channels; i++)
		free(db->channels[i]);
	free(db->channels);
	free(db->prepared);
	free(db->application_name);
	free(db->conninfo);
	free(db);
}

void db_set_application_name(struct db *db, const char *name)
{
	char *copy = name ? strdup(name) : NULL;

	if (name && !copy)
		return; /* keep the old name rather than none */
	free(db->application_name);
	db->application_name = copy;
}

void db_set_statement_timeout(struct db *db, int timeout_ms)
{
	db->statement_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

void db_set_private_messages(struct db *db)
{
	db->private_messages = true;
}

void db_set_transaction_pooling(struct db *db)
{
	db->transaction_pooling = true;
}

/* The message of a failed statement as its log record may carry it:
 * none when the connection keeps server messages private, or for a data
 * exception (class 22), which quotes the offending value. */
static const char *db_loggable_message(const struct db *db, const char *sqlstate,
				       const char *message)
{
	bool from_server = sqlstate && *sqlstate;

	if (from_server && (db->private_messages || strncmp(sqlstate, "22", 2) == 0))
		return NULL;
	return message;
}

/* Server notices (e.g. "schema already exists, skipping") would otherwise
 * go to stderr, which is a web server's error log for the FastCGI workers. */
static void db_notice(void *arg, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	log_kv(LOG_DEBUG, "db_notice", "sqlstate", state, "message",
	       db_loggable_message(arg, state, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)),
	       NULL);
}

/* The "options" connection parameter: the conninfo's own, then our
 * statement_timeout. Returns a new string, or NULL when there is nothing
 * to add or no memory. */
static char *db_options(const struct db *db)
{
	PQconninfoOption *opts, *o;
	const char *given = NULL;
	char *s = NULL;

	if (db->statement_timeout_ms <= 0 || db->transaction_pooling)
		return NULL;
	opts = PQconninfoParse(db->conninfo, NULL);
	for (o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val && *o->val)
			given = o->val;
	if (asprintf(&s, "%s%s-c statement_timeout=%d", given ? given : "", given ? " " : "",
		     db->statement_timeout_ms) < 0)
		s = NULL;
	PQconninfoFree(opts);
	return s;
}

/* Forgets the connection after it was lost; the next db_ensure connects
 * again at once (the backoff only follows failed attempts). */
static void db_drop(struct db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	db->n_prepared = 0;
	db->in_pipeline = false;
}

enum es_status db_classify_sqlstate(const char *sqlstate)
{
	return sqlstate_status(sqlstate_classify(sqlstate));
}

/* The failure kind a failed statement of class cls counts as. */
static enum db_failure failure_of(const struct db *db, enum sqlstate_class cls)
{
	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD)
		return DB_FAILURE_SESSION_LOST;
	switch (cls) {
	case SQLSTATE_SESSION_LOST: return DB_FAILURE_SESSION_LOST;
	case SQLSTATE_UNAVAILABLE: return DB_FAILURE_UNAVAILABLE;
	case SQLSTATE_RETRY: return DB_FAILURE_RETRY;
	case SQLSTATE_DUPLICATE: return DB_FAILURE_DUPLICATE;
	case SQLSTATE_BAD_INPUT: return DB_FAILURE_BAD_INPUT;
	case SQLSTATE_MOVED: return DB_FAILURE_CHECKPOINT_MOVED;
	case SQLSTATE_OTHER: break;
	}
	return DB_FAILURE_OTHER;
}

/* Classifies and logs a failed result (res may be NULL when libpq could not
 * even send). Takes nothing: the caller still PQclear()s res. */
static enum es_status db_fail(struct db *db, const char *label, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	enum sqlstate_class cls = sqlstate_classify(state);
	enum es_status st;
	int prio;

	db->failures[failure_of(db, cls)]++;
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
	snprintf(db->constraint, sizeof db->constraint, "%s", cons ? cons : "");
	db_set_error(db, msg ? msg : (db->conn ? PQerrorMessage(db->conn) : "no connection"));

	if (!db->conn || PQstatus(db->conn) == CONNECTION_BAD || cls == SQLSTATE_SESSION_LOST) {
		log_kv(LOG_ERR, "db_error", "statement", label, "sqlstate", db->sqlstate,
		       "message", db_loggable_message(db, db->sqlstate, db->error),
		       "action", "reconnect", NULL);
		db_drop(db);
		return ES_EUNAVAILABLE;
	}
	st = sqlstate_status(cls);
	/* Bad input and unique violations are the client's doing (and a racing
	 * replay's), a moved checkpoint another runner's or a rebuild's: all
	 * expected, notices. The server short of something is a warning; only
	 * the unexpected is an error. */
	switch (cls) {
	case SQLSTATE_BAD_INPUT:
	case SQLSTATE_DUPLICATE:
	case SQLSTATE_MOVED: prio = LOG_NOTICE; break;
	case SQLSTATE_OTHER: prio = LOG_ERR; break;
	default: prio = LOG_WARNING; break;
	}
	log_kv(prio, "db_error", "statement", label, "sqlstate", db->sqlstate, "constraint", cons,
	       "message", db_loggable_message(db, db->sqlstate, db->error), NULL);
	return st;
}

static bool db_result_ok(const PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);

	return res && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY);
}

static bool db_result_sqlstate_is(const PGresult *res, const char *state)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s && strcmp(s, state) == 0;
}

/* LISTEN on one channel of the current connection. */
static enum es_status db_issue_listen(struct db *db, const char *channel)
{
	char *ident = PQescapeIdentifier(db->conn, channel, strlen(channel));
	char *sql = NULL;
	PGresult *res = NULL;
	enum es_status rc = ES_ENOMEM;

	if (!ident || asprintf(&sql, "LISTEN %s", ident) < 0) {
		sql = NULL;
		goto out;
	}
	res = PQexec(db->conn, sql);
	rc = db_result_ok(res) ? ES_OK : db_fail(db, "listen", res);
out:
	PQclear(res);
	free(sql);
	PQfreemem(ident);
	return rc;
}

/* Turns JIT off for the new session. JIT never pays for evstore's short
 * statements, and it switches itself on by estimated cost: the feed page's
 * estimate grows with the table (its limit is hidden from the planner), so
 * at about 10M events every page paid 30 ms of compiling for 1.5 ms of
 * work. A statement, not a startup option, which pgbouncer refuses; a
 * transaction pooler's sessions are shared, so there the role carries it
 * (doc/high-availability.md). */
static enum es_status db_session_settings(struct db *db)
{
	PGresult *res;
	enum es_status rc;

	if (db->transaction_pooling)
		return ES_OK;
	res = PQexec(db->conn, "SET jit = off");
	rc = db_result_ok(res) ? ES_OK : db_fail(db, "session settings", res);
	PQclear(res);
	return rc;
}

/* One connection attempt. On failure the next attempt waits out the
 * backoff delay. */
static enum es_status db_connect(struct db *db)
{
	const char *keys[5], *vals[5];
	char timeout[16];
	char *options = db_options(db);
	int n = 0;
	enum es_status rc = ES_OK;

	/* Entries after the expanded conninfo override it: the configured
	 * timeout wins, the conninfo's own application_name wins. */
	if (db->application_name) {
		keys[n] = "fallback_application_name";
		vals[n++] = db->application_name;
	}
	keys[n] = "dbname";
	vals[n++] = db->conninfo;
	if (db->connect_timeout > 0) {
		snprintf(timeout, sizeof timeout, "%d", db->connect_timeout);
		keys[n] = "connect_timeout";
		vals[n++] = timeout;
	}
	if (options) {
		keys[n] = "options";
		vals[n++] = options;
	}
	keys[n] = NULL;
	vals[n] = NULL;

	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		db_set_error(db, db->conn ? PQerrorMessage(db->conn) : "out of memory");
		db_add_tls_hint(db);
		db_drop(db);
		db->failures[DB_FAILURE_CONNECT]++;
		db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : DB_BACKOFF_MIN_MS;
		if (db->backoff_ms > DB_BACKOFF_MAX_MS)
			db->backoff_ms = DB_BACKOFF_MAX_MS;
		db->retry_at_ms = time_mono_ms() + db->backoff_ms;
		log_kv(LOG_ERR, "db_connect_failed", "message", db->error, NULL);
		rc = ES_EUNAVAILABLE;
		goto out;
	}
	PQsetNoticeReceiver(db->conn, db_notice, db);
	db_clear_error(db);
	db->n_prepared = 0;
	db->backoff_ms = 0;
	db->retry_at_ms = 0;
	if (db->sessions++ > 0) {
		db->reconnects++;
		log_kv(LOG_NOTICE, "db_reconnected", NULL);
	}
	rc = db_session_settings(db);
	for (size_t i = 0; i < db->n_channels && rc == ES_OK; i++)
		rc = db_issue_listen(db, db->channels[i]);
out:
	free(options);
	return rc;
}

enum es_status db_ensure(struct db *db)
{
	if (db->conn) {
		/* A session the server ended while it sat idle (a restart, a
		 * failover, an idle timeout) has left its goodbye and EOF on the
		 * socket: read them now, without blocking, and reconnect before
		 * the caller's statement fails on it. Never inside a transaction,
		 * whose statements must not move to a new session. */
		if (PQstatus(db->conn) == CONNECTION_OK && !db->in_pipeline &&
		    PQtransactionStatus(db->conn) == PQTRANS_IDLE)
			(void)PQconsumeInput(db->conn);
		if (PQstatus(db->conn) == CONNECTION_OK)
			return ES_OK;
		log_kv(LOG_ERR, "db_error", "message", "connection lost", "action", "reconnect", NULL);
		db->failures[DB_FAILURE_SESSION_LOST]++;
		db_drop(db);
	}
	/* Inside the backoff window fail fast; db->error still tells why. */
	if (db->retry_at_ms && time_mono_ms() < db->retry_at_ms)
		return ES_EUNAVAILABLE;
	return db_connect(db);
}

static bool db_is_prepared(const struct db *db, const struct db_statement *st)
{
	for (size_t i = 0; i < db->n_prepared; i++)
		if (db->prepared[i] == st)
			return true;
	return false;
}

static enum es_status db_remember(struct db *db, const struct db_statement *st)
{
	if (db->n_prepared == db->cap_prepared) {
		size_t cap = db->cap_prepared ? db->cap_prepared * 2 : 16;
		const struct db_statement **p = realloc(db->prepared, cap * sizeof *p);

		if (!p)
			return ES_ENOMEM;
		db->prepared = p;
		db->cap_prepared = cap;
	}
	db->prepared[db->n_prepared++] = st;
	return ES_OK;
}

/* Prepares st on the current connection unless it already is. */
static enum es_status db_prepare_statement(struct db *db, const struct db_statement *st)
{
	PGresult *res;
	enum es_status rc;

	if (db_is_prepared(db, st))
		return ES_OK;
	res = PQprepare(db->conn, st->name, st->sql, st->nparams, NULL);
	/* 42P05: the name exists on this session already (a remembered entry
	 * was lost to an allocation failure); it is usable as it is. */
	if (db_result_ok(res) || db_result_sqlstate_is(res, "42P05"))
		rc = db_remember(db, st);
	else
		rc = db_fail(db, st->name, res);
	PQclear(res);
	return rc;
}

/* db_exec and db_exec_binary: results in format (0 text, 1 binary). */
static enum es_status db_exec_format(struct db *db, const struct db_statement *st,
				     const char *const *values, int format, PGresult **out)
{
	PGresult *res = NULL;
	enum es_status rc;

	*out = NULL;
	rc = db_ensure(db);
	if (rc != ES_OK)
		goto out;
	db_clear_error(db);
	for (int attempt = 0;; attempt++) {
		if (db->transaction_pooling) {
			/* Unnamed: parsed and planned in whatever session runs it. */
			res = PQexecParams(db->conn, st->sql, st->nparams, NULL, values, NULL, NULL,
					   format);
		} else {
			rc = db_prepare_statement(db, st);
			if (rc != ES_OK)
				goto out;
			res = PQexecPrepared(db->conn, st->name, st->nparams, values, NULL, NULL, format);
		}
		if (db_result_ok(res)) {
			*out = res;
			res = NULL;
			rc = ES_OK;
			goto out;
		}
		/* 26000: the session lost its prepared statements (DISCARD ALL
		 * by a pooler): prepare again, once. */
		if (attempt > 0 || db->transaction_pooling || !db_result_sqlstate_is(res, "26000"))
			break;
		PQclear(res);
		res = NULL;
		db->n_prepared = 0;
	}
	rc = db_fail(db, st->name, res);
out:
	PQclear(res);
	return rc;
}

enum es_status db_exec(struct db *db, const struct db_statement *st,
		       const char *const *values, PGresult **out)
{
	return db_exec_format(db, st, values, 0, out);
}

enum es_status db_exec_binary(struct db *db, const struct db_statement *st,
			      const char *const *values, PGresult **out)
{
	return db_exec_format(db, st, values, 1, out);
}

/* Runs sql on the live connection: with params (PQexecParams, one
 * statement) when nparams >= 0, else as a simple query (PQexec, several
 * statements allowed). The result goes to *out or is released. */
static enum es_status db_run(struct db *db, const char *label, const char *sql, int nparams,
			     const char *const *values, PGresult **out)
{
	PGresult *res = NULL;
	enum es_status rc;

	if (out)
		*out = NULL;
	rc = db_ensure(db); /* on failure db->error keeps the reason */
	if (rc != ES_OK)
		return rc;
	db_clear_error(db);
	res = nparams >= 0 ? PQexecParams(db->conn, sql, nparams, NULL, values, NULL, NULL, 0)
			   : PQexec(db->conn, sql);
	if (!db_result_ok(res)) {
		rc = db_fail(db, label, res);
		PQclear(res);
		return rc;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return ES_OK;
}

enum es_status db_exec_sql(struct db *db, const char *sql, PGresult **out)
{
	return db_run(db, "sql", sql, -1, NULL, out);
}

enum es_status db_exec_params(struct db *db, const char *label, const char *sql, int nparams,
			      const char *const *values, PGresult **out)
{
	return db_run(db, label, sql, nparams, values, out);
}

enum es_status db_exec_params_int64(struct db *db, const char *label, const char *sql,
				    int nparams, const char *const *values, int64_t *out)
{
	PGresult *r = NULL;
	enum es_status rc = db_run(db, label, sql, nparams, values, &r);

	*out = 0;
	if (rc == ES_OK && PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
		*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

const char *db_last_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

const char *db_last_constraint(const struct db *db)
{
	return db->constraint;
}

const char *db_last_error(const struct db *db)
{
	return db->error;
}

enum es_status db_listen(struct db *db, const char *channel)
{
	bool known = false;

	for (size_t i = 0; i < db->n_channels; i++)
		if (strcmp(db->channels[i], channel) == 0)
			known = true;
	if (!known) {
		char **p = realloc(db->channels, (db->n_channels + 1) * sizeof *p);
		char *copy = strdup(channel);

		if (p)
			db->channels = p;
		if (!p || !copy) {
			free(copy);
			return ES_ENOMEM;
		}
		db->channels[db->n_channels++] = copy;
	}
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return db_ensure(db); /* a new connection LISTENs on every channel */
	db_clear_error(db);
	return db_issue_listen(db, channel);
}

/* Frees the notifications libpq has parsed; returns how many came from
 * other sessions. */
static int db_take_notifies(struct db *db)
{
	PGnotify *n;
	int count = 0, self = PQbackendPID(db->conn);

	while ((n = PQnotifies(db->conn)) != NULL) {
		/* A session's own NOTIFY (the waiter announcing commits) tells it
		 * nothing it did not know. */
		count += n->be_pid != self;
		PQfreemem(n);
	}
	return count;
}

/* The server session's pid, asked in a transaction of its own. */
static enum es_status backend_pid(struct db *db, int64_t *pid)
{
	return db_exec_params_int64(db, "backend_pid", "SELECT pg_backend_pid()", 0, NULL, pid);
}

enum es_status db_share_sessions(struct db *a, struct db *b, bool *shared)
{
	enum es_status rc = ES_OK;

	*shared = false;
	/* A pooler hands the session a has just left to b most of the time;
	 * three tries make a busy pool's other clients unlikely to hide it. */
	for (int i = 0; i < 3 && rc == ES_OK && !*shared; i++) {
		int64_t pa = 0, pb = 0;

		rc = backend_pid(a, &pa);
		if (rc == ES_OK)
			rc = backend_pid(b, &pb);
		*shared = rc == ES_OK && pa == pb;
	}
	return rc;
}

int db_socket(const struct db *db)
{
	return db->conn && PQstatus(db->conn) == CONNECTION_OK ? PQsocket(db->conn) : -1;
}

bool db_wait_notify(struct db *db, int timeout_ms)
{
	int64_t deadline;

	if (db_ensure(db) != ES_OK)
		return false;
	deadline = time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		struct pollfd pfd;
		int64_t left;
		int n;

		if (!PQconsumeInput(db->conn)) {
			db_set_error(db, PQerrorMessage(db->conn));
			log_kv(LOG_ERR, "db_error", "statement", "wait_notify", "message", db->error,
			       "action", "reconnect", NULL);
			db_drop(db);
			return false;
		}
		if (db_take_notifies(db) > 0)
			return true;
		left = deadline - time_mono_ms();
		if (left <= 0)
			return false;
		pfd.fd = PQsocket(db->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0) {
			db_drop(db);
			return false;
		}
		n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0 && errno != EINTR) {
			db_drop(db);
			return false;
		}
		/* A signal (shutdown, reload) ends the wait: the caller decides. */
		if (n <= 0)
			return false;
	}
}

void db_drain_notify(struct db *db)
{
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return;
	if (PQconsumeInput(db->conn))
		db_take_notifies(db);
}

unsigned long db_session_epoch(const struct db *db)
{
	return db->conn && PQstatus(db->conn) == CONNECTION_OK ? db->sessions : 0;
}

bool db_connected(const struct db *db)
{
	return db_session_epoch(db) != 0;
}

unsigned long db_reconnects(const struct db *db)
{
	return db->reconnects;
}

unsigned long db_failures(const struct db *db, enum db_failure kind)
{
	return (int)kind >= 0 && kind < DB_FAILURE_KINDS ? db->failures[kind] : 0;
}

const char *db_failure_name(enum db_failure kind)
{
	static const char *const names[DB_FAILURE_KINDS] = {
		"session_lost", "unavailable", "retry", "duplicate", "bad_input",
		"checkpoint_moved", "other", "connect"
	};

	return (int)kind >= 0 && kind < DB_FAILURE_KINDS ? names[kind] : "other";
}

enum es_status db_reset(struct db *db)
{
	db_drop(db);
	return db_ensure(db);
}

const char *db_server_version(const struct db *db)
{
	return db_connected(db) ? PQparameterStatus(db->conn, "server_version") : NULL;
}

/* Says why there is no session to work on. */
static enum es_status db_no_session(struct db *db)
{
	db_clear_error(db);
	db_set_error(db, "no connection");
	return ES_EUNAVAILABLE;
}

enum es_status db_prepare_named(struct db *db, const char *name, const char *sql, int nparams,
				const enum db_type *types)
{
	Oid *oids = NULL;
	PGresult *res = NULL;
	enum es_status rc;

	if (!db_connected(db))
		return db_no_session(db);
	db_clear_error(db);
	if (types && nparams > 0) {
		oids = calloc((size_t)nparams, sizeof *oids);
		if (!oids) {
			db_set_error(db, "out of memory");
			return ES_ENOMEM;
		}
		for (int i = 0; i < nparams; i++)
			oids[i] = types[i] == DB_TYPE_JSON ? DB_JSON_OID
				: types[i] == DB_TYPE_JSONB ? DB_JSONB_OID : 0;
	}
	res = PQprepare(db->conn, name, sql, nparams, oids);
	/* 42P05: prepared on this session before (an earlier attempt failed
	 * half-way); it is usable as it is. */
	rc = db_result_ok(res) || db_result_sqlstate_is(res, "42P05") ? ES_OK
	     : db_fail(db, name, res);
	PQclear(res);
	free(oids);
	return rc;
}

/* The session is in a state nobody knows (what was run is unknown): when
 * it is still open it is replaced at once, else dropped. what says why
 * (NULL: "pipeline out of step" or "connection lost"). ES_EUNAVAILABLE,
 * with the reason in db_last_error. */
static enum es_status db_pipeline_lost(struct db *db, const char *what)
{
	char msg[sizeof db->error];
	bool open = db->conn && PQstatus(db->conn) == CONNECTION_OK;
	const char *why = db->conn ? PQerrorMessage(db->conn) : "";

	if (!what)
		what = open ? "pipeline out of step" : "connection lost";
	snprintf(msg, sizeof msg, "%s%s%s", what, *why ? ": " : "", why);
	db_clear_error(db);
	db_set_error(db, msg);
	/* libpq's message may end with the last server error's. */
	log_kv(LOG_ERR, "db_error", "statement", "pipeline", "message",
	       db->private_messages ? what : db->error, "action", open ? "reset" : "reconnect",
	       NULL);
	if (open)
		(void)!db_reset(db); /* a failure leaves it to the next db_ensure */
	else
		db_drop(db);
	db_set_error(db, msg); /* a new session cleared it */
	return ES_EUNAVAILABLE;
}

enum es_status db_pipeline_begin(struct db *db)
{
	if (!db_connected(db))
		return db_no_session(db);
	db_clear_error(db);
	if (!PQenterPipelineMode(db->conn))
		return db_pipeline_lost(db, "cannot enter pipeline mode");
	db->in_pipeline = true;
	db->pipeline_unsent = false;
	db->pipeline_sent = 0;
	return ES_OK;
}

/* Counts a statement queued (sent is libpq's answer); after a failure the
 * rest are not even tried. */
static void db_pipeline_queued(struct db *db, int sent)
{
	if (sent)
		db->pipeline_sent++;
	else
		db->pipeline_unsent = true;
}

void db_pipeline_send_prepared(struct db *db, const char *name, int nparams,
			       const char *const *values)
{
	if (db->in_pipeline && !db->pipeline_unsent)
		db_pipeline_queued(db, PQsendQueryPrepared(db->conn, name, nparams, values, NULL,
							   NULL, 0));
}

void db_pipeline_send_params(struct db *db, const char *sql, int nparams,
			     const char *const *values)
{
	if (db->in_pipeline && !db->pipeline_unsent)
		db_pipeline_queued(db, PQsendQueryParams(db->conn, sql, nparams, NULL, values, NULL,
							 NULL, 0));
}

enum es_status db_pipeline_sync(struct db *db, size_t *failed)
{
	PGresult *first = NULL;       /* the first failed statement's answer */
	enum es_status rc;
	bool in_step = true;

	*failed = db->pipeline_sent;
	if (!db->in_pipeline) {
		db_set_error(db, "no pipeline");
		return ES_EINTERNAL;
	}
	db->in_pipeline = false;
	if (db->pipeline_unsent || !PQpipelineSync(db->conn))
		return db_pipeline_lost(db, NULL);

	/* One answer per statement, each followed by a NULL; after a failure
	 * the rest are PGRES_PIPELINE_ABORTED. Then the sync. */
	for (size_t k = 0; k < db->pipeline_sent; k++) {
		PGresult *r = PQgetResult(db->conn);

		if (!r) {
			in_step = false;
			break;
		}
		if (PQresultStatus(r) == PGRES_FATAL_ERROR && !first) {
			first = r;
			*failed = k;
		} else {
			PQclear(r);
		}
		while ((r = PQgetResult(db->conn)) != NULL)
			PQclear(r);
	}
	if (in_step) {
		PGresult *r = PQgetResult(db->conn);

		in_step = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
		PQclear(r);
	}
	if (in_step && !PQexitPipelineMode(db->conn))
		in_step = false;

	if (!in_step) {
		*failed = db->pipeline_sent;
		rc = db_pipeline_lost(db, NULL);
	} else {
		rc = first ? db_fail(db, "pipeline", first) : ES_OK;
	}
	PQclear(first);
	return rc;
}

int64_t db_value_int64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int64_t db_binary_int64_of(const char *v)
{
	uint64_t u;

	memcpy(&u, v, sizeof u);
	return (int64_t)be64toh(u);
}

int64_t db_binary_int64(const PGresult *r, int row, int col)
{
	if (PQgetlength(r, row, col) != 8)
		return 0;
	return db_binary_int64_of(PQgetvalue(r, row, col));
}

bool db_binary_bool(const PGresult *r, int row, int col)
{
	return PQgetlength(r, row, col) == 1 && PQgetvalue(r, row, col)[0] == 1;
}

bool db_value_bool(const PGresult *r, int row, int col)
{
	return strcmp(PQgetvalue(r, row, col), "t") == 0;
}

const char *db_value_or_null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

enum es_status db_exec_send(struct db *db, const char *label, const char *sql)
{
	enum es_status rc = db_ensure(db);

	if (rc != ES_OK)
		return rc;
	db_clear_error(db);
	if (!PQsendQuery(db->conn, sql))
		return db_fail(db, label, NULL);
	return ES_OK;
}

enum es_status db_exec_wait(struct db *db, const char *label, PGresult **out)
{
	PGresult *r, *first = NULL;
	enum es_status rc = ES_OK;

	*out = NULL;
	if (!db->conn)
		return db_no_session(db);
	while ((r = PQgetResult(db->conn)) != NULL) {
		if (!first)
			first = r;
		else
			PQclear(r);
	}
	if (!first || !db_result_ok(first))
		rc = db_fail(db, label, first);
	if (rc == ES_OK)
		*out = first;
	else
		PQclear(first);
	return rc;
}

char *db_quote_literal(struct db *db, const char *s)
{
	char *lit, *copy;

	if (!db_connected(db)) {
		(void)db_no_session(db);
		return NULL;
	}
	lit = PQescapeLiteral(db->conn, s, strlen(s));
	if (!lit) {
		db_set_error(db, PQerrorMessage(db->conn));
		return NULL;
	}
	copy = strdup(lit);
	PQfreemem(lit);
	if (!copy)
		db_set_error(db, "out of memory");
	return copy;
}

/* Starts a COPY in the direction want (PGRES_COPY_OUT or PGRES_COPY_IN). */
static enum es_status db_copy_begin(struct db *db, const char *sql, ExecStatusType want)
{
	PGresult *res;
	enum es_status rc;

	rc = db_ensure(db);
	if (rc != ES_OK)
		return rc;
	db_clear_error(db);
	db->copy_unsent = false;
	res = PQexec(db->conn, sql);
	rc = res && PQresultStatus(res) == want ? ES_OK : db_fail(db, "copy", res);
	PQclear(res);
	return rc;
}

/* Reads the results that end a COPY: the statement's status. */
static enum es_status db_copy_result(struct db *db)
{
	enum es_status rc = ES_OK;
	PGresult *r;

	while ((r = PQgetResult(db->conn)) != NULL) {
		if (rc == ES_OK && !db_result_ok(r))
			rc = db_fail(db, "copy", r);
		PQclear(r);
		if (!db->conn) /* db_fail dropped a lost session */
			break;
	}
	return rc;
}

enum es_status db_copy_out_begin(struct db *db, const char *sql)
{
	return db_copy_begin(db, sql, PGRES_COPY_OUT);
}

enum es_status db_copy_out_next(struct db *db, const char **row, size_t *len)
{
	int n;

	*row = NULL;
	*len = 0;
	if (db->copy_row) {
		PQfreemem(db->copy_row);
		db->copy_row = NULL;
	}
	if (!db->conn)
		return db_no_session(db);
	n = PQgetCopyData(db->conn, &db->copy_row, 0);
	if (n > 0) {
		*row = db->copy_row;
		*len = (size_t)n;
		return ES_OK;
	}
	if (n == -2) {
		db->copy_row = NULL;
		return db_pipeline_lost(db, "COPY failed");
	}
	return db_copy_result(db);
}

enum es_status db_copy_out_tuple(struct db *db, bool *first, const unsigned char **tuple, size_t *len)
{
	static const char signature[11] = "PGCOPY\n\377\r\n";
	enum { HEADER_LEN = 19 }; /* the signature, flags, the header extension's length */
	const char *data;
	enum es_status rc;

	for (;;) {
		rc = db_copy_out_next(db, &data, len);
		*tuple = (const unsigned char *)data;
		if (rc != ES_OK || !data)
			return rc;
		if (*first && *len >= HEADER_LEN && memcmp(data, signature, sizeof signature) == 0) {
			*tuple += HEADER_LEN;
			*len -= HEADER_LEN;
		}
		*first = false;
		if (*len == 0 || (*len == 2 && (*tuple)[0] == 0xff && (*tuple)[1] == 0xff))
			continue; /* the trailer: a field count of -1 */
		return ES_OK;
	}
}

enum es_status db_copy_in_begin(struct db *db, const char *sql)
{
	return db_copy_begin(db, sql, PGRES_COPY_IN);
}

void db_copy_in_put(struct db *db, const char *data, size_t len)
{
	if (db->conn && !db->copy_unsent && PQputCopyData(db->conn, data, (int)len) != 1)
		db->copy_unsent = true;
}

enum es_status db_copy_in_end(struct db *db, const char *abort_reason)
{
	PGresult *r;

	if (!db->conn)
		return db_no_session(db);
	if (db->copy_unsent || PQputCopyEnd(db->conn, abort_reason) != 1)
		return db_pipeline_lost(db, "COPY failed");
	if (!abort_reason)
		return db_copy_result(db);
	/* The failure asked for (57014, "COPY from stdin failed: ...") is
	 * neither logged nor classified. */
	while ((r = PQgetResult(db->conn)) != NULL)
		PQclear(r);
	if (PQstatus(db->conn) != CONNECTION_OK)
		return db_pipeline_lost(db, "COPY failed");
	return ES_EINVAL;
}
