/* migrate.h - the numbered schema migrations in sql/, embedded into the
 * binaries at build time, and applying them. */
#ifndef EVSTORE_MIGRATE_H
#define EVSTORE_MIGRATE_H

#include <stddef.h>
#include <stdbool.h>
#include "base/error.h"

struct db;

struct migration {
	int version;        /* the number the file name starts with */
	const char *name;   /* "001_init.sql" */
	const char *sql;
};

/* Generated from the files in sql/, in order. */
extern const struct migration migrations[];
extern const size_t migrations_count;

/* The schema version this build expects: the highest migration number. */
int migrate_expected_version(void);

/* True when a database at current_version lacks migrations this build
 * needs (0: none applied): the API answers 503 schema-not-migrated and the
 * runner waits, both saying MIGRATE_ADVICE. A newer schema is not behind. */
bool migrate_schema_behind(int current_version);
#define MIGRATE_ADVICE "run `evstorectl migrate`"

/* The version applied in the database (0 when nothing is), or ES_EDB etc. */
enum es_status migrate_current_version(struct db *db, int *out) ES_MUST_CHECK;

/* Applies every pending migration in order, each in its own transaction
 * with its checksum recorded. Refuses (ES_EINVAL) when an applied file's
 * checksum differs from the embedded one. Calls progress(name, arg) before
 * each file applied (progress may be NULL). Applying twice is a no-op. On
 * failure err says which file and why. */
enum es_status migrate_apply(struct db *db, void (*progress)(const char *name, void *arg),
			     void *arg, int *applied, char *err, size_t errlen) ES_MUST_CHECK;

/* evstorectl verify: calls problem(arg, sentence) for each applied
 * migration whose recorded checksum is not the md5 of this build's file,
 * and for each applied one this build does not know (it cannot be
 * checked); *found counts them. A database without the bookkeeping table
 * is one problem. */
enum es_status migrate_verify(struct db *db, void (*problem)(void *arg, const char *text), void *arg,
			      int *found) ES_MUST_CHECK;

#endif
