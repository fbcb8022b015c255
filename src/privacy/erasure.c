/* erasure.c - erasing a data subject and its audit record. */
#include "buildconf.h"
#include "privacy/erasure.h"

#include <json-c/json.h>

#include "base/log.h"
#include "base/timefmt.h"

const char *erasure_outcome_name(enum keyring_outcome outcome)
{
	switch (outcome) {
	case KEYRING_ERASED: return "erased";
	case KEYRING_ALREADY_ERASED: return "already_erased";
	case KEYRING_UNKNOWN: default: return "unknown";
	}
}

void erasure_audit(const char *tenant, const char *subject, enum keyring_outcome outcome,
		   const char *actor, const char *via, const char *request_id)
{
	json_object *rec = json_object_new_object();
	char at[TIMEFMT_LEN];

	if (!rec)
		return;
	timefmt_format(time_now_usec(), at);
	json_object_object_add(rec, "event", json_object_new_string("subject_erased"));
	json_object_object_add(rec, "at", json_object_new_string(at));
	json_object_object_add(rec, "tenant_id", tenant ? json_object_new_string(tenant) : NULL);
	json_object_object_add(rec, "subject", json_object_new_string(subject));
	json_object_object_add(rec, "outcome", json_object_new_string(erasure_outcome_name(outcome)));
	json_object_object_add(rec, "actor", actor ? json_object_new_string(actor) : NULL);
	json_object_object_add(rec, "via", json_object_new_string(via));
	if (request_id)
		json_object_object_add(rec, "request_id", json_object_new_string(request_id));
	log_audit(rec);
}

enum es_status erasure_forget(struct db *db, const char *tenant, const char *subject,
			      const char *actor, const char *via, const char *request_id,
			      enum keyring_outcome *outcome)
{
	enum es_status rc = keyring_forget(db, tenant, subject, actor, outcome);

	if (rc == ES_OK && *outcome != KEYRING_UNKNOWN)
		erasure_audit(tenant, subject, *outcome, actor, via, request_id);
	return rc;
}
