/* trace.c - an event's trace id, from its metadata. */
#include "buildconf.h"
#include "runner/trace.h"

#include <string.h>

#include <json-c/json.h>

#include "base/text.h"

/* Whether s[0..n) is lowercase hex digits, not all zero (W3C: an all-zero
 * id is invalid). */
static bool lower_hex_id(const char *s, size_t n)
{
	bool nonzero = false;

	for (size_t i = 0; i < n; i++) {
		if (text_hex_value((unsigned char)s[i]) < 0 || (s[i] >= 'A' && s[i] <= 'F'))
			return false;
		nonzero |= s[i] != '0';
	}
	return nonzero;
}

bool trace_id_from_traceparent(const char *tp, char out[TRACE_ID_LEN + 1])
{
	/* "vv-" trace-id "-" parent-id(16) "-" flags(2) */
	const size_t len = 2 + 1 + TRACE_ID_LEN + 1 + 16 + 1 + 2;

	out[0] = '\0';
	if (!tp || strnlen(tp, len + 1) < len || tp[2] != '-' || tp[3 + TRACE_ID_LEN] != '-' ||
	    !lower_hex_id(tp + 3, TRACE_ID_LEN))
		return false;
	memcpy(out, tp + 3, TRACE_ID_LEN);
	out[TRACE_ID_LEN] = '\0';
	return true;
}

bool trace_id_of_event(const struct event *ev, char out[TRACE_ID_LEN + 1])
{
	json_object *e = ev && ev->json ? json_tokener_parse(ev->json) : NULL, *meta, *tp;
	bool found = false;

	out[0] = '\0';
	if (e && json_object_object_get_ex(e, "metadata", &meta) &&
	    json_object_object_get_ex(meta, "traceparent", &tp) &&
	    json_object_is_type(tp, json_type_string))
		found = trace_id_from_traceparent(json_object_get_string(tp), out);
	json_object_put(e);
	return found;
}
