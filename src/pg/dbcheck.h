/* dbcheck.h - the database items of a --check run (base/startcheck.h):
 * does the server answer, and is its schema the one this build expects. */
#ifndef EVSTORE_DBCHECK_H
#define EVSTORE_DBCHECK_H

struct es_config;
struct startcheck;

/* Connects with cfg's [database] (once, no retries) and reports the server
 * and the schema version: a schema behind the build fails (with
 * MIGRATE_ADVICE), one ahead of it warns (this build lacks nothing it
 * needs, but /health/ready will say not ready). In prestart mode the
 * failures are warnings (startcheck_database_problem). Borrows everything. */
void dbcheck_report(struct startcheck *c, const struct es_config *cfg, const char *application_name);

#endif
