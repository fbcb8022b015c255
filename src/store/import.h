/* import.h - writing a batch of exported events into the store, for
 * evstorectl import: one transaction per batch, the rows sent with COPY
 * into a temporary table, then one statement that checks them all and
 * inserts the events and the streams rows.
 *
 *	import_begin(db, &res)                    BEGIN, COPY ... FROM STDIN
 *	import_put(db, rows, len)                 event_line_copy_row's text, any number
 *	sent = import_send(db)                    the check and the writes, sent
 *	import_wait(db, sent, &res)               their answer; COMMIT (or ROLLBACK)
 *	import_abort(db, why)                     or this instead: nothing is kept
 *
 * Idempotent by (tenant, event_id): an event stored already with the same
 * content (every field the line gives; recorded_at only when given) is
 * skipped, as is an identical repeat within the batch. Refused, the whole
 * batch rolled back: an id stored or repeated with other content, a version
 * that leaves a gap after the stream's version, a version already taken.
 * The batch's new events of one stream are checked in version order, so
 * lines of a stream that the feed lists out of version order (transactions
 * that drew their ids in one order and committed in the other) are fine
 * within a batch. */
#ifndef EVSTORE_IMPORT_H
#define EVSTORE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct db;

/* What a batch did, or why it was refused. */
struct import_result {
	int64_t inserted;         /* events written */
	int64_t skipped;          /* lines stored already (or repeated identically) */
	bool refused;
	int64_t line;             /* refused: the first line at fault */
	char reason[512];         /* refused: what is wrong with that line; after a
				   * failure: the database's message */
};

/* Starts a batch. On failure nothing is open and res->reason says why. */
enum es_status import_begin(struct db *db, struct import_result *res) ES_MUST_CHECK;
void import_put(struct db *db, const char *rows, size_t len);
/* Ends the COPY and sends the batch's statement without waiting for it:
 * the caller may read the next lines meanwhile, then calls import_wait
 * with what this returned, before anything else uses db (a failure here
 * is import_wait's to report). */
enum es_status import_send(struct db *db) ES_MUST_CHECK;
/* Waits for the batch sent (sent: what import_send returned). ES_OK with res->refused false: committed;
 * ES_OK with res->refused: rolled back, res says why; other statuses:
 * rolled back (or the session is gone), res->reason says why (a
 * concurrent writer on the same streams shows as ES_EDUPLICATE). */
enum es_status import_wait(struct db *db, enum es_status sent, struct import_result *res) ES_MUST_CHECK;
/* Ends the COPY with reason and rolls the batch back. */
void import_abort(struct db *db, const char *reason);

#endif
