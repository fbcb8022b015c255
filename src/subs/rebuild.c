/* rebuild.c - the reset before a projection's replay, in one transaction. */
#include "buildconf.h"
#include "subs/rebuild.h"

#include <stdio.h>
#include <string.h>

#include "pg/db.h"
#include "store/feed.h"
#include "subs/checkpoint.h"
#include "subs/dlq.h"
#include "subs/sqlfile.h"
#include "subs/subscription.h"

/* Tries of the reset when PostgreSQL cancels it to break a deadlock
 * (ES_ERETRY: 40P01, 40001). */
#define REBUILD_ATTEMPTS 5

/* The steps of rebuild_reset inside its transaction. */
static enum es_status rebuild_steps(struct db *db, const struct subscription *c,
				    const struct sqlfile_section *truncate,
				    struct rebuild_reset *out, char *err, size_t errlen)
{
	enum es_status rc;

	rc = checkpoint_lock_all(db, c->name);
	if (rc != ES_OK)
		goto failed;
	for (size_t i = 0; i < truncate->n_statements; i++) {
		rc = db_exec_sql(db, truncate->statements[i], NULL);
		if (rc != ES_OK) {
			snprintf(err, errlen, "%s: truncate: %s", c->sql_file, db_last_error(db));
			return rc;
		}
	}
	rc = dlq_clear(db, c->name, &out->dlq_cleared);
	if (rc == ES_OK)
		rc = checkpoint_reset_all(db, c->name, c->partitions);
	if (rc == ES_OK)
		rc = feed_backlog(db, c->aggregate_types, c->event_types, &out->events, &out->last,
				  &out->have_last);
	if (rc == ES_OK)
		return ES_OK;
failed:
	snprintf(err, errlen, "%s", db_last_error(db));
	return rc;
}

/* One attempt at the reset's transaction; rolled back on failure. */
static enum es_status rebuild_attempt(struct db *db, const struct subscription *c,
				      const struct sqlfile_section *truncate,
				      struct rebuild_reset *out, char *err, size_t errlen)
{
	enum es_status rc;

	memset(out, 0, sizeof *out);
	rc = db_exec_sql(db, "BEGIN", NULL);
	if (rc != ES_OK) {
		snprintf(err, errlen, "%s", db_last_error(db));
		return rc;
	}
	rc = rebuild_steps(db, c, truncate, out, err, errlen);
	if (rc == ES_OK) {
		rc = db_exec_sql(db, "COMMIT", NULL);
		if (rc != ES_OK)
			snprintf(err, errlen, "%s", db_last_error(db));
	}
	if (rc != ES_OK) {
		if (db_connected(db))
			(void)!db_exec_sql(db, "ROLLBACK", NULL);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

enum es_status rebuild_reset(struct db *db, const struct subscription *c,
			     const struct sqlfile_section *truncate, struct rebuild_reset *out,
			     char *err, size_t errlen)
{
	enum es_status rc;

	/* A runner mid-batch holds read-model rows and then asks for its
	 * checkpoint row, which the reset locked first: PostgreSQL breaks that
	 * deadlock by failing one side. When it picks the reset, nothing was
	 * changed and the runner's batch is through by now: try again. */
	for (int attempt = 1;; attempt++) {
		rc = rebuild_attempt(db, c, truncate, out, err, errlen);
		if (rc != ES_ERETRY || attempt == REBUILD_ATTEMPTS)
			return rc;
	}
}
