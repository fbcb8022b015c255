/* handler_audit.c - one audit record per committed event, on the audit
 * syslog facility (log_audit). A record the log socket did not take is a
 * transient failure: the event is handed over again, so nothing committed
 * is left unaudited while syslog-ng restarts. */
#include "buildconf.h"
#include "runner/handler.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/log.h"

/* Copies key from src to dst, null when absent; takes nothing. */
static void audit_copy(json_object *dst, const char *dkey, json_object *src, const char *skey)
{
	json_object *v = NULL;

	if (src)
		json_object_object_get_ex(src, skey, &v);
	json_object_object_add(dst, dkey, v ? json_object_get(v) : NULL);
}

enum handler_result handler_audit_emit(const struct event *ev, struct handler_error *err)
{
	json_object *e = json_tokener_parse(ev->json), *meta = NULL, *rec;

	if (!e) {
		handler_error_set(err, "unreadable JSON");
		return HANDLER_RETRY;
	}
	rec = json_object_new_object();
	if (!rec) {
		json_object_put(e);
		handler_error_set(err, "out of memory");
		return HANDLER_RETRY;
	}
	json_object_object_add(rec, "audit_type", json_object_new_string("event_committed"));
	audit_copy(rec, "timestamp", e, "recorded_at");
	audit_copy(rec, "actor_id", e, "actor_id");
	audit_copy(rec, "tenant_id", e, "tenant_id");
	audit_copy(rec, "aggregate_type", e, "aggregate_type");
	audit_copy(rec, "aggregate_id", e, "aggregate_id");
	audit_copy(rec, "event_type", e, "event_type");
	audit_copy(rec, "event_id", e, "event_id");
	audit_copy(rec, "position", e, "position");
	json_object_object_get_ex(e, "metadata", &meta);
	audit_copy(rec, "request_id", meta, "request_id");
	json_object_put(e);
	if (!log_audit(rec)) {
		/* The syslog socket is away or full: like the database being
		 * away, wait and hand the event over again, never park it. */
		handler_error_set(err, "the audit record could not be delivered to the log socket");
		return HANDLER_TRANSIENT;
	}
	return HANDLER_OK;
}
