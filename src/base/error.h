/* error.h - the status codes every fallible evstore function returns. */
#ifndef EVSTORE_ERROR_H
#define EVSTORE_ERROR_H

#define ES_MUST_CHECK __attribute__((warn_unused_result))

enum es_status {
	ES_OK = 0,
	ES_EINVAL,       /* bad input from the caller: 400 */
	ES_ENOTFOUND,    /* no such stream/route/thing: 404 */
	ES_ECONFLICT,    /* optimistic concurrency lost: 409 version-conflict */
	ES_EDUPLICATE,   /* event_id stored elsewhere or with other content: 409 */
	ES_ESTATE,       /* a guard refused the event: 409 invalid-state */
	ES_ETOOLARGE,    /* a limit was exceeded: 413 */
	ES_EVALIDATION,  /* a payload does not match its schema: 422 */
	ES_EUNAVAILABLE, /* the database is away; retry later: 503 */
	ES_ERETRY,       /* serialization failure/deadlock: retry the transaction */
	ES_EMOVED,       /* a subscription checkpoint moved under the caller: reload it */
	ES_EDB,          /* an unexpected database error: 500 */
	ES_ENOMEM,       /* allocation failed: 500 */
	ES_EINTERNAL     /* anything else that is our fault: 500 */
};

/* A short, stable name for a status, for logs ("conflict", "db", ...). */
const char *es_status_name(enum es_status st);

#endif
