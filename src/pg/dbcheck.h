/* dbcheck.h - the database items of a --check run (base/startcheck.h):
 * does the server answer, and is its schema the one this build expects. */
#ifndef EVSTORE_DBCHECK_H
#define EVSTORE_DBCHECK_H

#include <stdbool.h>

struct es_config;
struct startcheck;
struct db;

/* Connects with cfg's [database] (once, no retries) and reports the server
 * and the schema version: a schema behind the build fails (with
 * MIGRATE_ADVICE), one ahead of it warns (this build lacks nothing it
 * needs, but /health/ready will say not ready). In prestart mode the
 * failures are warnings (startcheck_database_problem). Borrows everything. */
void dbcheck_report(struct startcheck *c, const struct es_config *cfg, const char *application_name);

/* dbcheck_report, keeping the session: returns the connected handle
 * (db_free() it) with [database] statement_timeout_ms applied, or NULL
 * when the database did not answer. *schema_ok says whether the schema is
 * the one this build expects (the tables the later items read exist). */
struct db *dbcheck_connect(struct startcheck *c, const struct es_config *cfg,
			   const char *application_name, bool *schema_ok);

/* The server's items for `evstorectl check`, judged by dbjudge.h: its
 * version; fsync, full_page_writes, synchronous_commit; wal_level and
 * archiving for point-in-time recovery; max_connections against budget
 * (dbjudge_connection_budget); statement_timeout as this session sees it
 * and idle_in_transaction_session_timeout;
 * autovacuum; the oldest open transaction. Borrows everything. */
void dbcheck_server_report(struct startcheck *c, struct db *db, const struct es_config *cfg,
			   int budget);

/* The "tls" item: [database] url's hosts and sslmode (PGHOST, PGHOSTADDR
 * and PGSSLMODE when the url leaves them out), judged by dbjudge_tls.
 * Needs no connection. */
void dbcheck_tls_report(struct startcheck *c, const char *conninfo);

#endif
