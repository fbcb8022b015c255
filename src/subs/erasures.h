/* erasures.h - SubjectErased for the subscriptions that ask for it
 * (subject_erased = deliver): the owner of evstore.erasure_subscribers and
 * evstore.erasure_inbox (sql/008). An erasure (privacy/keyring.h) puts
 * itself, by a trigger in its own transaction, into the inbox of every
 * registered subscription; the runner reads a subscription's inbox, hands
 * each erasure to the handler as a synthetic event and takes it out.
 *
 * Decisions:
 * - A subscription receives the erasures made after it was registered:
 *   when a runner first started it with subject_erased = deliver. Setting
 *   the key back to ignore unregisters it and drops what it had not yet
 *   received.
 * - Every tenant's erasures: a subscription reads every tenant's events.
 * - Taking an erasure out (erasures_delivered_init) fails with
 *   SQLSTATE_CHECKPOINT_MOVED (ES_EMOVED) when it is gone already: run in
 *   the sql handler's transaction it makes the delivery exactly once. */
#ifndef EVSTORE_ERASURES_H
#define EVSTORE_ERASURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct db;

/* The event_type of the synthetic event. */
#define ERASURES_EVENT_TYPE "SubjectErased"

/* Registers subscription for erasures from now on (deliver; a no-op when
 * it is already), or unregisters it, dropping its undelivered erasures. */
enum es_status erasures_subscribe(struct db *db, const char *subscription,
				  bool deliver) ES_MUST_CHECK;

/* One undelivered erasure. json is the synthetic event a handler gets:
 * {"event_type":"SubjectErased","subject","tenant_id" (null: no tenant),
 * "erased_at" (RFC 3339, UTC, microseconds),"key_id", and null
 * "event_id","aggregate_type","aggregate_id","version","position",
 * "payload","metadata"}: no stored event, and nothing personal but the
 * subject's id. */
struct erasure {
	int64_t key_id;
	char tenant[40];              /* "" for no tenant, as struct event has it */
	char *json;                   /* malloc'd */
};

/* Up to max of subscription's undelivered erasures, oldest key first, into
 * out[0..*n); release them with erasures_free. */
enum es_status erasures_pending(struct db *db, const char *subscription, struct erasure *out,
				size_t max, size_t *n) ES_MUST_CHECK;
void erasures_free(struct erasure *e, size_t n);

/* The statement that takes key_id out of subscription's inbox, for a
 * caller that runs it in a transaction of its own (the sql handler's
 * tail). sql and values point into the struct (values borrows
 * subscription): keep both alive while in use. */
struct erasures_delivered {
	const char *sql;
	int nparams;
	const char *values[2];
	char key_id_[24];
};
void erasures_delivered_init(struct erasures_delivered *s, const char *subscription,
			     int64_t key_id);

/* The same, run on its own (after an exec program's "ok"). ES_EMOVED when
 * it was no longer there. */
enum es_status erasures_mark_delivered(struct db *db, const char *subscription,
				       int64_t key_id) ES_MUST_CHECK;

#endif
