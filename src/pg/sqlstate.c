/* sqlstate.c - the SQLSTATE table. */
#include "buildconf.h"
#include "pg/sqlstate.h"

#include <stddef.h>
#include <string.h>

/* A five-character entry is one code, a two-character one a whole class.
 * Codes are listed before the classes they belong to: the first match wins. */
static const struct {
	const char *state;
	enum sqlstate_class cls;
} sqlstate_table[] = {
	{ "23505", SQLSTATE_DUPLICATE },
	{ "40001", SQLSTATE_RETRY },
	{ "40P01", SQLSTATE_RETRY },
	{ "57014", SQLSTATE_UNAVAILABLE },    /* statement_timeout, or a cancel */
	/* Class 57 "operator intervention": these five are FATAL, the server
	 * closes the session after sending them, so they are all "session
	 * lost". 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
	 * connect now (starting up, recovering): a new session works once the
	 * server is back. 57P04 database dropped: reconnecting fails until it
	 * exists again, and db.c's backoff paces the attempts. 57P05 idle
	 * session timeout: a new session works at once. 57000 (and whatever
	 * class 57 grows next) stays "other" until someone looks at it. */
	{ "57P01", SQLSTATE_SESSION_LOST },
	{ "57P02", SQLSTATE_SESSION_LOST },
	{ "57P03", SQLSTATE_SESSION_LOST },
	{ "57P04", SQLSTATE_SESSION_LOST },
	{ "57P05", SQLSTATE_SESSION_LOST },
	{ SQLSTATE_CHECKPOINT_MOVED, SQLSTATE_MOVED },
	/* What evstore.checkpoint_advance() raised before migration 004: a
	 * runner upgraded before `evstorectl migrate` still sees it. */
	{ "EVCKP", SQLSTATE_MOVED },
	{ "08", SQLSTATE_SESSION_LOST },      /* connection exceptions */
	{ "22", SQLSTATE_BAD_INPUT },         /* data exceptions */
	{ "23", SQLSTATE_BAD_INPUT },         /* integrity constraint violations */
	{ "53", SQLSTATE_UNAVAILABLE },       /* insufficient resources */
};

enum sqlstate_class sqlstate_classify(const char *sqlstate)
{
	if (!sqlstate || !*sqlstate)
		return SQLSTATE_SESSION_LOST;
	if (strlen(sqlstate) != 5)
		return SQLSTATE_OTHER;
	for (size_t i = 0; i < sizeof sqlstate_table / sizeof sqlstate_table[0]; i++) {
		const char *s = sqlstate_table[i].state;

		if (strlen(s) == 2 ? strncmp(sqlstate, s, 2) == 0 : strcmp(sqlstate, s) == 0)
			return sqlstate_table[i].cls;
	}
	return SQLSTATE_OTHER;
}

enum es_status sqlstate_status(enum sqlstate_class cls)
{
	switch (cls) {
	case SQLSTATE_SESSION_LOST:
	case SQLSTATE_UNAVAILABLE: return ES_EUNAVAILABLE;
	case SQLSTATE_RETRY: return ES_ERETRY;
	case SQLSTATE_DUPLICATE: return ES_EDUPLICATE;
	case SQLSTATE_BAD_INPUT: return ES_EINVAL;
	case SQLSTATE_MOVED: return ES_EMOVED;
	case SQLSTATE_OTHER: break;
	}
	return ES_EDB;
}
