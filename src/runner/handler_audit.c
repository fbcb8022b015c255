/* handler_audit.c - one audit record per committed event, on the audit
 * syslog facility (log_audit). A record the log socket did not take is a
 * transient failure: the event is handed over again, so nothing committed
 * is left unaudited while syslog-ng restarts.
 *
 * Every field copied from the event is bounded (AUDIT_FIELD_MAX bytes,
 * cut on a character boundary, the record then marked "truncated": true),
 * so a record always fits a datagram; should the socket still refuse one
 * as too big, the record is sent again with the event's identity only,
 * never retried for ever. */
#include "buildconf.h"
#include "runner/handler.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/log.h"
#include "base/text.h"

/* Longest text copied from the event into a record, in bytes. */
#define AUDIT_FIELD_MAX 256

/* Copies key from src to dst (null when absent), a string cut to
 * AUDIT_FIELD_MAX bytes; true when it was cut. Takes nothing. */
static bool audit_copy(json_object *dst, const char *dkey, json_object *src, const char *skey)
{
	json_object *v = NULL;
	const char *s;
	size_t len, keep;

	if (src)
		json_object_object_get_ex(src, skey, &v);
	if (!json_object_is_type(v, json_type_string)) {
		json_object_object_add(dst, dkey, v ? json_object_get(v) : NULL);
		return false;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	keep = len > AUDIT_FIELD_MAX ? text_utf8_prefix_len(s, len, AUDIT_FIELD_MAX) : len;
	json_object_object_add(dst, dkey, keep == len ? json_object_get(v)
						      : json_object_new_string_len(s, (int)keep));
	return keep < len;
}

/* The record's identity: enough to find the event again. */
static bool audit_add_identity(json_object *rec, json_object *e)
{
	bool cut = false;

	json_object_object_add(rec, "audit_type", json_object_new_string("event_committed"));
	cut |= audit_copy(rec, "tenant_id", e, "tenant_id");
	cut |= audit_copy(rec, "event_id", e, "event_id");
	cut |= audit_copy(rec, "position", e, "position");
	return cut;
}

json_object *audit_record_new(const struct event *ev, bool full)
{
	json_object *e = json_tokener_parse(ev->json), *meta = NULL, *rec;
	bool cut;

	if (!e)
		return NULL;
	rec = json_object_new_object();
	if (!rec) {
		json_object_put(e);
		return NULL;
	}
	cut = audit_add_identity(rec, e);
	if (full) {
		cut |= audit_copy(rec, "timestamp", e, "recorded_at");
		cut |= audit_copy(rec, "actor_id", e, "actor_id");
		cut |= audit_copy(rec, "aggregate_type", e, "aggregate_type");
		cut |= audit_copy(rec, "aggregate_id", e, "aggregate_id");
		cut |= audit_copy(rec, "event_type", e, "event_type");
		json_object_object_get_ex(e, "metadata", &meta);
		cut |= audit_copy(rec, "request_id", meta, "request_id");
	}
	if (cut || !full)
		json_object_object_add(rec, "truncated", json_object_new_boolean(1));
	json_object_put(e);
	return rec;
}

enum handler_result handler_audit_emit(const struct event *ev, struct handler_error *err)
{
	json_object *rec = audit_record_new(ev, true);
	enum log_delivery sent;

	if (!rec) {
		handler_error_set(err, "the event's JSON is unreadable, or memory ran out");
		return HANDLER_RETRY;
	}
	sent = log_audit(rec);
	if (sent == LOG_TOO_BIG) {
		rec = audit_record_new(ev, false);
		sent = rec ? log_audit(rec) : LOG_DROPPED;
	}
	switch (sent) {
	case LOG_DELIVERED:
		return HANDLER_OK;
	case LOG_TOO_BIG:
		/* Not even the identity fits: the DLQ keeps the event. */
		handler_error_set(err, "the log socket takes no audit record of this size");
		return HANDLER_PARK;
	case LOG_DROPPED:
	default:
		/* The syslog socket is away or full: like the database being
		 * away, wait and hand the event over again, never park it. */
		handler_error_set(err, "the audit record could not be delivered to the log socket");
		return HANDLER_TRANSIENT;
	}
}
