/* trace.h - the W3C trace an event was written under, so that the
 * runner's records about an event can be found from the HTTP log of the
 * request that appended it. evstore-fcgi keeps a request's valid
 * traceparent in the event's metadata ("traceparent"); handlers see it
 * there (the event JSON is an exec program's input and a projection's $1). */
#ifndef EVSTORE_RUNNER_TRACE_H
#define EVSTORE_RUNNER_TRACE_H

#include <stdbool.h>
#include "store/feed.h"

/* 32 lowercase hex digits. */
#define TRACE_ID_LEN 32

/* Copies the trace-id field of a traceparent ("00-<trace-id>-<parent-id>-
 * <flags>") into out, NUL-terminated. False, out "", when tp is NULL or
 * not of that shape (an event inserted by other means may carry
 * anything). Borrows tp. */
bool trace_id_from_traceparent(const char *tp, char out[TRACE_ID_LEN + 1]);

/* The trace id of ev's metadata.traceparent into out (see above). Parses
 * the event's JSON: for records about one event, not for every event of
 * a page. Borrows ev. */
bool trace_id_of_event(const struct event *ev, char out[TRACE_ID_LEN + 1]);

#endif
