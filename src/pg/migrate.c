/* migrate.c - applies the numbered migrations embedded from sql/, each in
 * its own transaction under an advisory lock, recording each file's
 * checksum in evstore.schema_migrations (created by 001_init.sql). */
#include "buildconf.h"
#include "pg/migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"

/* The advisory lock two concurrent `evstorectl migrate` runs queue on. */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_xact_lock(7365427633129251840)"

int migrate_expected_version(void)
{
	int v = 0;

	for (size_t i = 0; i < migrations_count; i++)
		if (migrations[i].version > v)
			v = migrations[i].version;
	return v;
}

/* Whether the bookkeeping table exists (false before 001_init.sql). A
 * query on the catalogs rather than to_regclass(): after waiting for the
 * lock, the name lookup caches may still say "no such table" when another
 * run has just committed it; the statement's snapshot does not. */
static enum es_status migrate_have_table(struct db *db, bool *have)
{
	PGresult *r = NULL;
	enum es_status rc;

	*have = false;
	rc = db_exec_sql(db, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
			 " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
			 " WHERE n.nspname = 'evstore' AND c.relname = 'schema_migrations')", &r);
	if (rc == ES_OK)
		*have = db_value_bool(r, 0, 0);
	PQclear(r);
	return rc;
}

bool migrate_schema_behind(int current_version)
{
	return current_version < migrate_expected_version();
}

enum es_status migrate_current_version(struct db *db, int *out)
{
	PGresult *r = NULL;
	bool have;
	enum es_status rc;

	*out = 0;
	rc = migrate_have_table(db, &have);
	if (rc != ES_OK || !have)
		goto out;
	rc = db_exec_sql(db, "SELECT COALESCE(max(version), 0) FROM evstore.schema_migrations", &r);
	if (rc == ES_OK)
		*out = atoi(PQgetvalue(r, 0, 0));
out:
	PQclear(r);
	return rc;
}

/* Ends a failed migration's transaction, unless the connection is gone
 * (the server rolled it back then). */
static void migrate_rollback(struct db *db)
{
	enum es_status rc;

	if (!db_connected(db))
		return;
	rc = db_exec_sql(db, "ROLLBACK", NULL);
	(void)rc; /* nothing more to do if even this fails */
}

/* Says what went wrong with file name in err. */
static void migrate_error(struct db *db, const char *name, const char *what, enum es_status rc,
			  char *err, size_t errlen)
{
	const char *detail = db_last_error(db);

	snprintf(err, errlen, "%s: %s%s%s%s", name, what,
		 rc == ES_EUNAVAILABLE ? " (database unavailable)" : "",
		 *detail ? ": " : "", detail);
}

/* Applies one migration unless it is recorded already; *done says whether
 * it was applied now. Refuses a recorded file whose checksum changed. */
static enum es_status migrate_one(struct db *db, const struct migration *m,
				  void (*progress)(const char *name, void *arg), void *arg,
				  bool *done, char *err, size_t errlen)
{
	PGresult *r = NULL;
	char version[16];
	const char *values[3];
	bool have;
	enum es_status rc;

	*done = false;
	snprintf(version, sizeof version, "%d", m->version);
	values[0] = version;
	values[1] = m->name;
	values[2] = m->sql;

	rc = db_exec_sql(db, "BEGIN", NULL);
	if (rc != ES_OK) {
		migrate_error(db, m->name, "cannot start a transaction", rc, err, errlen);
		return rc;
	}
	rc = db_exec_sql(db, MIGRATE_LOCK_SQL, NULL);
	if (rc == ES_OK)
		rc = migrate_have_table(db, &have); /* after the lock: another run may have made it */
	if (rc != ES_OK) {
		migrate_error(db, m->name, "cannot read the applied migrations", rc, err, errlen);
		goto out;
	}
	if (have) {
		const char *check[2] = { version, m->sql };

		rc = db_exec_params(db, "migrate_check",
				    "SELECT checksum = md5($2::text), checksum, md5($2::text)"
				    " FROM evstore.schema_migrations WHERE version = $1::int",
				    2, check, &r);
		if (rc != ES_OK) {
			migrate_error(db, m->name, "cannot read the applied migrations", rc, err, errlen);
			goto out;
		}
		if (PQntuples(r) > 0) {
			if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
				snprintf(err, errlen,
					 "%s: changed since it was applied (checksum %s recorded, %s now);"
					 " an applied migration must not change: restore the file and put"
					 " the change in a new numbered one",
					 m->name, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
				rc = ES_EINVAL;
			}
			goto out; /* applied already: nothing to do */
		}
	}

	if (progress)
		progress(m->name, arg);
	rc = db_exec_sql(db, m->sql, NULL);
	if (rc != ES_OK) {
		migrate_error(db, m->name, "failed", rc, err, errlen);
		goto out;
	}
	rc = db_exec_params(db, "migrate_record",
			    "INSERT INTO evstore.schema_migrations (version, name, checksum, applied_at)"
			    " VALUES ($1::int, $2::text, md5($3::text), now())",
			    3, values, NULL);
	if (rc != ES_OK) {
		migrate_error(db, m->name, "cannot record the migration", rc, err, errlen);
		goto out;
	}
	rc = db_exec_sql(db, "COMMIT", NULL);
	if (rc != ES_OK) {
		migrate_error(db, m->name, "commit failed", rc, err, errlen);
		goto out;
	}
	*done = true;
out:
	PQclear(r);
	if (!*done)
		migrate_rollback(db);
	return rc;
}

enum es_status migrate_apply(struct db *db, void (*progress)(const char *name, void *arg),
			     void *arg, int *applied, char *err, size_t errlen)
{
	int current, expected = migrate_expected_version();
	enum es_status rc;

	*applied = 0;
	if (errlen > 0)
		err[0] = '\0';
	rc = migrate_current_version(db, &current);
	if (rc != ES_OK) {
		snprintf(err, errlen, "cannot read the schema version%s: %s",
			 rc == ES_EUNAVAILABLE ? " (database unavailable)" : "", db_last_error(db));
		return rc;
	}
	if (current > expected) {
		snprintf(err, errlen,
			 "the database schema is at version %d, newer than this build's %d:"
			 " use the evstorectl that goes with it", current, expected);
		return ES_EINVAL;
	}
	for (size_t i = 0; i < migrations_count; i++) {
		bool done;

		rc = migrate_one(db, &migrations[i], progress, arg, &done, err, errlen);
		if (rc != ES_OK)
			return rc;
		if (done)
			(*applied)++;
	}
	return ES_OK;
}

enum es_status migrate_verify(struct db *db, void (*problem)(void *arg, const char *text), void *arg,
			      int *found)
{
	char text[384], version[16];
	PGresult *r = NULL;
	enum es_status rc;
	bool have;

	*found = 0;
	rc = migrate_have_table(db, &have);
	if (rc != ES_OK || !have) {
		if (rc == ES_OK) {
			(*found)++;
			problem(arg, "no migration is applied: run `evstorectl migrate`");
		}
		return rc;
	}
	for (size_t i = 0; i < migrations_count; i++) {
		const char *vals[2] = { version, migrations[i].sql };

		snprintf(version, sizeof version, "%d", migrations[i].version);
		rc = db_exec_params(db, "migrate_verify",
				    "SELECT checksum, md5($2::text) FROM evstore.schema_migrations"
				    " WHERE version = $1::int AND checksum <> md5($2::text)", 2, vals, &r);
		if (rc != ES_OK)
			return rc;
		if (PQntuples(r) > 0) {
			snprintf(text, sizeof text, "migration %s: checksum %s recorded, this build's file"
				 " has %s", migrations[i].name, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
			(*found)++;
			problem(arg, text);
		}
		PQclear(r);
		r = NULL;
	}
	snprintf(version, sizeof version, "%d", migrate_expected_version());
	{
		const char *vals[1] = { version };

		rc = db_exec_params(db, "migrate_verify_unknown",
				    "SELECT version, name FROM evstore.schema_migrations"
				    " WHERE version > $1::int ORDER BY version", 1, vals, &r);
	}
	for (int i = 0; rc == ES_OK && i < PQntuples(r); i++) {
		snprintf(text, sizeof text, "migration %s (version %s) is applied but unknown to this"
			 " build: its checksum cannot be checked", PQgetvalue(r, i, 1), PQgetvalue(r, i, 0));
		(*found)++;
		problem(arg, text);
	}
	PQclear(r);
	return rc;
}
