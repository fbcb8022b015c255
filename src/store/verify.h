/* verify.h - the integrity of events and their streams rows, for
 * evstorectl verify: each stream's versions run 1..n without a gap, and
 * its streams row holds n. The other tables have their own checks beside
 * their owners (snapshot_verify, checkpoint_verify, migrate_verify).
 *
 * Reads in key order by index scans only (sequential scans, sorts and
 * hashes are turned off for the session), a chunk of streams rows at a
 * time, so it can report its progress and never sorts the events table. */
#ifndef EVSTORE_VERIFY_H
#define EVSTORE_VERIFY_H

#include <stdint.h>
#include <libpq-fe.h>
#include "base/error.h"

struct db;

/* How a check reports: problem(arg, sentence) for each problem found,
 * progress(arg, streams checked so far; INT64_MAX once all are). */
struct verify_report {
	void (*problem)(void *arg, const char *text);
	void (*progress)(void *arg, int64_t done);
	void *arg;
	int max_problems;             /* stop after this many (>= 1) */
	int found;                    /* problems reported so far, by every check */
};

/* Runs one check's statement sql (label names it in logs), whose $1 is
 * how many more problems are wanted, into *out. When none are, it runs
 * nothing: ES_OK with *out NULL. */
enum es_status verify_query(struct db *db, const struct verify_report *rep, const char *label,
			    const char *sql, PGresult **out) ES_MUST_CHECK;

/* How many streams rows there are (for the progress bar). */
enum es_status verify_stream_count(struct db *db, int64_t *count) ES_MUST_CHECK;

/* Checks every stream, chunk (>= 1) streams rows at a time. Stops once
 * r->found reaches r->max_problems. */
enum es_status verify_streams(struct db *db, int chunk, struct verify_report *r) ES_MUST_CHECK;

#endif
