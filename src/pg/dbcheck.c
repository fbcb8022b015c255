/* dbcheck.c - the database and schema items of --check. */
#include "buildconf.h"
#include "pg/dbcheck.h"

#include "base/config.h"
#include "base/startcheck.h"
#include "pg/db.h"
#include "pg/migrate.h"

/* Reports the schema version of the connected db against this build's. */
static void report_schema(struct startcheck *c, struct db *db)
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
}

void dbcheck_report(struct startcheck *c, const struct es_config *cfg, const char *application_name)
{
	struct db *db = db_new(cfg->database.url, cfg->database.connect_timeout);

	if (!db) {
		startcheck_item(c, STARTCHECK_FAIL, "database", "out of memory");
		return;
	}
	db_set_application_name(db, application_name);
	if (db_ensure(db) != ES_OK) {
		startcheck_item(c, startcheck_database_problem(c), "database", "%s", db_last_error(db));
	} else {
		startcheck_item(c, STARTCHECK_PASS, "database", "PostgreSQL %s",
				db_server_version(db) ? db_server_version(db) : "(version unknown)");
		report_schema(c, db);
	}
	db_free(db);
}
