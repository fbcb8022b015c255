/* erasure.h - erasing a data subject: its key destroyed in one committed
 * statement (keyring_forget) and an audit record saying who did it. The
 * HTTP route and evstorectl both come here, so an erasure is recorded the
 * same way whoever asks. */
#ifndef EVSTORE_ERASURE_H
#define EVSTORE_ERASURE_H

#include "base/error.h"
#include "privacy/keyring.h"

struct db;

/* Destroys the key of (tenant, subject) and, when one was destroyed or
 * had been before, writes the audit record (erasure_audit). via names
 * the door ("http", "evstorectl"), actor who asked (a token's sub, a
 * login name), request_id the HTTP request (may be NULL). */
enum es_status erasure_forget(struct db *db, const char *tenant, const char *subject,
			      const char *actor, const char *via, const char *request_id,
			      enum keyring_outcome *outcome) ES_MUST_CHECK;

/* The audit record of one erasure, on the audit facility (log_audit):
 * {"event":"subject_erased","tenant_id","subject","outcome","actor","via",
 * "request_id","at"}. The one place that writes it: a restore re-applies
 * erasures from these records (doc/privacy.md). */
void erasure_audit(const char *tenant, const char *subject, enum keyring_outcome outcome,
		   const char *actor, const char *via, const char *request_id);

/* "erased", "already_erased", "unknown". */
const char *erasure_outcome_name(enum keyring_outcome outcome);

#endif
