/* sqlstate.h - what a SQLSTATE means to evstore. One table decides it for
 * db.c (the status a call returns, how loudly it is logged, whether the
 * session is dropped) and for the runner's handlers (wait, count against
 * the event, or reload the checkpoint). */
#ifndef EVSTORE_PG_SQLSTATE_H
#define EVSTORE_PG_SQLSTATE_H

#include "base/error.h"

/* evstore's own SQLSTATEs live in class V1. The SQL standard keeps the
 * classes starting with 0-4 or A-H for itself and leaves those starting
 * with 5-9 or I-Z to implementations; of these PostgreSQL uses 53..58, 72,
 * P0 and XX, none starting with V. Migration 004 moved the checkpoint code
 * there from EVCKP, a class the standard reserves. */
#define SQLSTATE_CHECKPOINT_MOVED "V1C01" /* raised by evstore.checkpoint_advance() */

enum sqlstate_class {
	SQLSTATE_OTHER,        /* unexpected: a bug, a missing table, a broken projection */
	SQLSTATE_SESSION_LOST, /* the session is gone (08xxx, 57P01..57P05, no SQLSTATE): reconnect */
	SQLSTATE_UNAVAILABLE,  /* the server is short of something (53xxx) or the statement
			        * ran into statement_timeout (57014); the session is fine */
	SQLSTATE_RETRY,        /* serialization failure, deadlock (40001, 40P01): run it again */
	SQLSTATE_DUPLICATE,    /* unique violation (23505) */
	SQLSTATE_BAD_INPUT,    /* another data exception (22xxx) or constraint violation (23xxx) */
	SQLSTATE_MOVED         /* SQLSTATE_CHECKPOINT_MOVED: someone else moved the checkpoint */
};

/* The class of sqlstate (five characters, as PG_DIAG_SQLSTATE gives it).
 * NULL or "" (libpq failed without a server answer) is SQLSTATE_SESSION_LOST,
 * anything else that is not five characters long SQLSTATE_OTHER. */
enum sqlstate_class sqlstate_classify(const char *sqlstate);

/* The status db_* calls return for a class: SESSION_LOST and UNAVAILABLE
 * are ES_EUNAVAILABLE, RETRY ES_ERETRY, DUPLICATE ES_EDUPLICATE, BAD_INPUT
 * ES_EINVAL, MOVED ES_EMOVED, OTHER ES_EDB. */
enum es_status sqlstate_status(enum sqlstate_class cls);

#endif
