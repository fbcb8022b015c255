/* replica.h - reads from a hot standby, and reading one's own writes there.
 *
 * With [database] read_url set, stream reads, state and feed pages go to
 * that standby. Every write then answers with a consistency token
 * (Evstore-Consistency: the primary's WAL position after the commit); a
 * read that presents it is served by the standby only once the standby has
 * replayed that far. The read waits up to [database] read_wait_ms for it,
 * then the primary serves it. A read without a token may be as stale as
 * the standby's replay lag; an unreachable standby sends reads to the
 * primary. Reads say where they were served: Evstore-Read-From. */
#ifndef EVSTORE_FCGI_REPLICA_H
#define EVSTORE_FCGI_REPLICA_H

#include <stdbool.h>
#include "base/error.h"

struct db;
struct route_ctx;

/* After a committed write: adds the Evstore-Consistency header (nothing
 * without a standby, or when the primary cannot say its position). */
void replica_token_header(struct route_ctx *ctx);

/* The database that serves this read. NULL when the request's token is
 * malformed: the 400 is set. */
struct db *replica_for_read(struct route_ctx *ctx);

/* A statement of a read on *db ended with st. When *db is the standby and
 * it is gone (ES_EUNAVAILABLE: it went down since its last answer), the
 * primary takes the read: *db becomes it, and true tells the caller to
 * run the statement again. Call it before anything else is in the reply. */
bool replica_failed_over(struct route_ctx *ctx, struct db **db, enum es_status st);

#endif
