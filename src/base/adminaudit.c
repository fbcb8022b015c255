/* adminaudit.c - one audit record per administrative action, bounded and
 * valid UTF-8 whatever its inputs (a subscription name comes
 * percent-decoded from a URL, an actor from a token). */
#include "buildconf.h"
#include "base/adminaudit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/text.h"
#include "base/timefmt.h"

/* Adds key: text to obj, cut to ADMINAUDIT_FIELD_MAX bytes on a character
 * boundary, stray bytes as '?'. True when it was cut. A NULL text adds
 * nothing. Borrows text. */
static bool put_bounded(json_object *obj, const char *key, const char *text)
{
	size_t len, keep;
	char *copy;

	if (!text)
		return false;
	len = strlen(text);
	keep = len > ADMINAUDIT_FIELD_MAX ? text_utf8_prefix_len(text, len, ADMINAUDIT_FIELD_MAX)
					  : len;
	copy = malloc(keep + 1);
	if (!copy)
		return false;
	memcpy(copy, text, keep);
	copy[keep] = '\0';
	json_object_object_add(obj, key, json_object_new_string(text_utf8_scrub(copy)));
	free(copy);
	return keep < len;
}

/* Adds the "target" and "counts" objects. Their names are cut and
 * scrubbed like values: they come from our code today, but the record
 * must stay bounded whoever calls. True when a value was cut. */
static bool put_pairs(json_object *rec, const struct admin_action *a)
{
	json_object *target = json_object_new_object(), *counts = json_object_new_object();
	char name[ADMINAUDIT_FIELD_MAX + 1];
	bool cut = false;

	for (size_t i = 0; i < ADMINAUDIT_MAX_PAIRS && a->target[i].name; i++) {
		snprintf(name, sizeof name, "%s", a->target[i].name);
		cut |= put_bounded(target, text_utf8_scrub(name), a->target[i].value);
	}
	for (size_t i = 0; i < ADMINAUDIT_MAX_PAIRS && a->counts[i].name; i++) {
		snprintf(name, sizeof name, "%s", a->counts[i].name);
		json_object_object_add(counts, text_utf8_scrub(name),
				       json_object_new_int64(a->counts[i].value));
	}
	json_object_object_add(rec, "target", target);
	json_object_object_add(rec, "counts", counts);
	return cut;
}

json_object *adminaudit_record_new(const struct admin_action *a)
{
	json_object *rec = json_object_new_object();
	char ts[TIMEFMT_LEN];
	bool cut = false;

	if (!rec)
		return NULL;
	timefmt_format(time_now_usec(), ts);
	json_object_object_add(rec, "audit_type", json_object_new_string("admin_action"));
	cut |= put_bounded(rec, "action", a->action ? a->action : "unknown");
	cut |= put_bounded(rec, "outcome", a->outcome ? a->outcome : "ok");
	cut |= put_bounded(rec, "actor", a->actor ? a->actor : "unknown");
	cut |= put_bounded(rec, "via", a->via);
	cut |= put_bounded(rec, "sudo_user", a->sudo_user);
	json_object_object_add(rec, "timestamp", json_object_new_string(ts));
	cut |= put_pairs(rec, a);
	cut |= put_bounded(rec, "tenant_id", a->tenant);
	cut |= put_bounded(rec, "request_id", a->request_id);
	cut |= put_bounded(rec, "trace_id", a->trace_id);
	if (cut)
		json_object_object_add(rec, "truncated", json_object_new_boolean(1));
	return rec;
}

enum log_delivery adminaudit_emit(const struct admin_action *a)
{
	json_object *rec = adminaudit_record_new(a);

	/* Out of memory: say so the way a full socket does. */
	return rec ? log_audit(rec) : LOG_DROPPED;
}
