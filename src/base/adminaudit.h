/* adminaudit.h - the audit record of an administrative action: who did
 * what to what, and with what result. Every admin action (DLQ retry,
 * resolve and purge, rebuild, snapshot invalidation, migrate, import,
 * a decrypted export, master key rotation),
 * over HTTP or from evstorectl, writes one through adminaudit_emit, so
 * they all read the same in the audit stream: the records of
 * [log] audit_facility, under the ident "<program>-audit" (log_audit),
 * beside the runner's records of committed events.
 *
 * The record is one JSON object:
 *   {"audit_type":"admin_action","action":"dlq_purge","outcome":"ok",
 *    "actor":"alice","via":"evstorectl","timestamp":"2026-...Z",
 *    "target":{"subscription":"orders"},"counts":{"purged":12},
 *    ["sudo_user":..,] ["tenant_id":..,] ["request_id":..,] ["trace_id":..,]
 *    ["truncated":true]}
 * Every text is cut to ADMINAUDIT_FIELD_MAX bytes on a character boundary
 * and any byte that is not UTF-8 becomes '?', so a record always fits a
 * datagram and always parses; a record with a cut value says
 * "truncated": true. */
#ifndef EVSTORE_ADMINAUDIT_H
#define EVSTORE_ADMINAUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include "base/log.h"

/* Longest text kept from any field, in bytes (as the runner's audit
 * records of events). */
#define ADMINAUDIT_FIELD_MAX 256
/* Most target fields and most counts one record holds. */
#define ADMINAUDIT_MAX_PAIRS 4

/* One named text ("subscription": "orders") or count ("purged": 12); a
 * NULL name ends the list (a NULL text is skipped). */
struct adminaudit_text { const char *name; const char *value; };
struct adminaudit_count { const char *name; int64_t value; };

/* What an admin action did. Everything is borrowed; NULL texts are left
 * out of the record, but action, outcome and actor are always written. */
struct admin_action {
	const char *action;      /* dlq_retry, dlq_retry_all, dlq_resolve, dlq_purge, rebuild,
				  * snapshot_invalidate, migrate, import, export_decrypted,
				  * rotate_master */
	const char *outcome;     /* ok, not_found, invalid_state, failed; NULL: ok */
	const char *actor;       /* a token's sub (HTTP), the OS user (evstorectl) */
	const char *via;         /* http, evstorectl */
	const char *sudo_user;   /* evstorectl run through sudo: who ran sudo */
	const char *tenant;      /* the tenant the action was limited to; NULL: every one */
	const char *request_id;  /* HTTP: the request's X-Request-Id */
	const char *trace_id;    /* HTTP: the request's W3C trace id */
	struct adminaudit_text target[ADMINAUDIT_MAX_PAIRS];
	struct adminaudit_count counts[ADMINAUDIT_MAX_PAIRS];
};

/* The record of a (see above), a new json-c object; NULL when memory ran
 * out. Borrows a. */
struct json_object *adminaudit_record_new(const struct admin_action *a);

/* Emits a's record to the audit stream (log_audit): LOG_DELIVERED, or
 * what became of it when the [log] socket did not take it (the caller
 * tells the operator; the action itself has happened). Borrows a. */
enum log_delivery adminaudit_emit(const struct admin_action *a);

#endif
