/* dbcheck.c - the database items of --check and evstorectl check: the
 * server asked here, its answers judged by dbjudge.c. */
#include "buildconf.h"
#include "pg/dbcheck.h"

#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "base/config.h"
#include "base/startcheck.h"
#include "pg/db.h"
#include "pg/dbjudge.h"
#include "pg/migrate.h"

/* Reports the schema version of the connected db against this build's;
 * true when it is the expected one. */
static bool report_schema(struct startcheck *c, struct db *db)
{
	int current = 0, expected = migrate_expected_version();

	if (migrate_current_version(db, &current) != ES_OK)
		startcheck_item(c, startcheck_database_problem(c), "schema",
				"cannot read the applied migrations: %s",
				db_last_error(db));
	else if (migrate_schema_behind(current))
		startcheck_item(c, startcheck_database_problem(c), "schema",
				"at version %d, this build needs %d: "
				MIGRATE_ADVICE, current, expected);
	else if (current > expected)
		startcheck_item(c, STARTCHECK_WARN, "schema", "at version %d, newer than this build's %d",
				current, expected);
	else
		startcheck_item(c, STARTCHECK_PASS, "schema", "at version %d", current);
	return current == expected;
}

struct db *dbcheck_connect(struct startcheck *c, const struct es_config *cfg,
			   const char *application_name, bool *schema_ok)
{
	struct db *db = db_new(cfg->database.url, cfg->database.connect_timeout);

	*schema_ok = false;
	if (!db) {
		startcheck_item(c, STARTCHECK_FAIL, "database", "out of memory");
		return NULL;
	}
	db_set_application_name(db, application_name);
	db_set_statement_timeout(db, cfg->database.statement_timeout_ms);
	if (db_ensure(db) != ES_OK) {
		startcheck_item(c, startcheck_database_problem(c), "database", "%s", db_last_error(db));
		db_free(db);
		return NULL;
	}
	startcheck_item(c, STARTCHECK_PASS, "database", "PostgreSQL %s",
			db_server_version(db) ? db_server_version(db) : "(version unknown)");
	*schema_ok = report_schema(c, db);
	return db;
}

void dbcheck_report(struct startcheck *c, const struct es_config *cfg, const char *application_name)
{
	bool schema_ok;

	db_free(dbcheck_connect(c, cfg, application_name, &schema_ok));
}

/* ------------------------------------------------------------ the server */

#define SETTINGS_SQL \
	"SELECT name, setting FROM pg_settings WHERE name IN ('server_version_num', 'fsync'," \
	" 'full_page_writes', 'synchronous_commit', 'wal_level', 'archive_mode', 'archive_command'," \
	" 'archive_library', 'max_connections', 'superuser_reserved_connections'," \
	" 'reserved_connections', 'statement_timeout', 'idle_in_transaction_session_timeout'," \
	" 'autovacuum', 'track_counts')"

/* The oldest transaction open in another session or prepared, and its age
 * in seconds. Other roles' sessions show only to a superuser or a member
 * of pg_read_all_stats. */
#define OLDEST_TRANSACTION_SQL \
	"SELECT who, age FROM (" \
	" SELECT 'pid ' || pid || ' (' || COALESCE(NULLIF(application_name, ''), 'no application_name')" \
	"        || ', ' || COALESCE(state, 'unknown state') || ')' AS who," \
	"        extract(epoch FROM now() - xact_start)::float8 AS age" \
	"   FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()" \
	"    AND backend_type = 'client backend'" \
	" UNION ALL" \
	" SELECT 'prepared transaction ' || quote_literal(gid), extract(epoch FROM now() - prepared)::float8" \
	"   FROM pg_prepared_xacts) t ORDER BY age DESC LIMIT 1"

/* The value of setting name in r (NAME, SETTING rows), NULL when absent;
 * borrowed from r. */
static const char *setting(const PGresult *r, const char *name)
{
	for (int i = 0; i < PQntuples(r); i++)
		if (strcmp(PQgetvalue(r, i, 0), name) == 0)
			return PQgetvalue(r, i, 1);
	return NULL;
}

static int setting_int(const PGresult *r, const char *name)
{
	const char *v = setting(r, name);

	return v ? atoi(v) : 0;
}

static void report(struct startcheck *c, const char *item, const struct dbjudge_verdict *v)
{
	startcheck_item(c, v->status, item, "%s", v->why);
}

static void report_setting(struct startcheck *c, const PGresult *r, const char *name)
{
	struct dbjudge_verdict v;

	dbjudge_setting(name, setting(r, name), &v);
	report(c, name, &v);
}

static void report_oldest_transaction(struct startcheck *c, struct db *db,
				      const struct es_config *cfg)
{
	struct dbjudge_verdict v;
	PGresult *r = NULL;

	if (db_exec_sql(db, OLDEST_TRANSACTION_SQL, &r) != ES_OK) {
		startcheck_item(c, STARTCHECK_FAIL, "oldest transaction", "cannot read "
				"pg_stat_activity: %s", db_last_error(db));
		return;
	}
	if (PQntuples(r) == 0)
		dbjudge_transaction_age(NULL, 0, cfg->health.transaction_age_warn,
					cfg->health.transaction_age_critical, &v);
	else
		dbjudge_transaction_age(PQgetvalue(r, 0, 0), strtod(PQgetvalue(r, 0, 1), NULL),
					cfg->health.transaction_age_warn,
					cfg->health.transaction_age_critical, &v);
	PQclear(r);
	report(c, "oldest transaction", &v);
}

#define REPLICATION_SQL \
	"SELECT current_setting('synchronous_standby_names'), count(*)," \
	" count(*) FILTER (WHERE sync_state IN ('sync', 'quorum')) FROM pg_stat_replication"

static void report_replication(struct startcheck *c, struct db *db)
{
	struct dbjudge_verdict v;
	PGresult *r = NULL;

	if (db_exec_sql(db, REPLICATION_SQL, &r) != ES_OK || PQntuples(r) != 1) {
		startcheck_item(c, STARTCHECK_FAIL, "replication", "cannot read pg_stat_replication: %s",
				db_last_error(db));
		PQclear(r);
		return;
	}
	dbjudge_replication(PQgetvalue(r, 0, 0), atoi(PQgetvalue(r, 0, 1)), atoi(PQgetvalue(r, 0, 2)),
			    &v);
	PQclear(r);
	report(c, "replication", &v);
}

void dbcheck_server_report(struct startcheck *c, struct db *db, const struct es_config *cfg,
			   int budget)
{
	struct dbjudge_verdict v;
	PGresult *r = NULL;

	if (db_exec_sql(db, SETTINGS_SQL, &r) != ES_OK) {
		startcheck_item(c, STARTCHECK_FAIL, "server settings", "cannot read pg_settings: %s",
				db_last_error(db));
		return;
	}
	dbjudge_version(setting_int(r, "server_version_num"), &v);
	report(c, "server version", &v);
	report_setting(c, r, "fsync");
	report_setting(c, r, "full_page_writes");
	report_setting(c, r, "synchronous_commit");
	report_replication(c, db);
	report_setting(c, r, "wal_level");
	dbjudge_archive(setting(r, "archive_mode"), setting(r, "archive_command"),
			setting(r, "archive_library"), &v);
	report(c, "archive_mode", &v);
	dbjudge_connections(setting_int(r, "max_connections"),
			    setting_int(r, "superuser_reserved_connections") +
			    setting_int(r, "reserved_connections"), budget, &v);
	report(c, "max_connections", &v);
	report_setting(c, r, "statement_timeout");
	report_setting(c, r, "idle_in_transaction_session_timeout");
	report_setting(c, r, "autovacuum");
	if (setting(r, "track_counts") && strcmp(setting(r, "track_counts"), "on") != 0)
		report_setting(c, r, "track_counts");
	PQclear(r);
	report_oldest_transaction(c, db, cfg);
}

/* The value of keyword in libpq's parse of a connection string, else the
 * environment variable libpq would fall back on; NULL when neither. */
static const char *conn_option(const PQconninfoOption *opts, const char *keyword, const char *env)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val && *o->val)
			return o->val;
	return getenv(env);
}

void dbcheck_tls_report(struct startcheck *c, const char *conninfo)
{
	struct dbjudge_verdict v;
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &errmsg);

	if (!opts) {
		/* config_load has had libpq check the string: only memory is left. */
		startcheck_item(c, STARTCHECK_FAIL, "tls", "cannot read [database] url: %s",
				errmsg ? "libpq refused it" : "out of memory");
		PQfreemem(errmsg);
		return;
	}
	dbjudge_tls(conn_option(opts, "host", "PGHOST"), conn_option(opts, "hostaddr", "PGHOSTADDR"),
		    conn_option(opts, "sslmode", "PGSSLMODE"), &v);
	PQconninfoFree(opts);
	report(c, "tls", &v);
}
