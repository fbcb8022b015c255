/* event_line.c - checking one exported event and writing it as a COPY row.
 *
 * Every value is checked here, in C, so that a bad line is refused with its
 * number and the field at fault before anything reaches the database: the
 * server's own casts would fail the whole batch without saying which line. */
#include "buildconf.h"
#include "store/event_line.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "base/sbuf.h"
#include "base/text.h"
#include "base/timefmt.h"
#include "json/jsondoc.h"

/* The API's name rules: a letter, then letters, digits, '_', '.', '-'. */
#define AGGREGATE_TYPE_MAX 64
#define EVENT_TYPE_MAX 128

static bool line_name_valid(const char *s, size_t max_len)
{
	size_t n = 0;

	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		      || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return n <= max_len;
}

/* The fields a line may have, and what each is. */
enum line_field {
	F_EVENT_ID, F_EVENT_TYPE, F_AGGREGATE_TYPE, F_AGGREGATE_ID, F_VERSION, F_POSITION,
	F_OCCURRED_AT, F_RECORDED_AT, F_TENANT_ID, F_ACTOR_ID, F_PAYLOAD, F_METADATA,
	F_COUNT
};

static const struct {
	const char *name;
	bool required;
} line_fields[F_COUNT] = {
	[F_EVENT_ID] = { "event_id", true },
	[F_EVENT_TYPE] = { "event_type", true },
	[F_AGGREGATE_TYPE] = { "aggregate_type", true },
	[F_AGGREGATE_ID] = { "aggregate_id", true },
	[F_VERSION] = { "version", true },
	[F_POSITION] = { "position", false },
	[F_OCCURRED_AT] = { "occurred_at", true },
	[F_RECORDED_AT] = { "recorded_at", false },
	[F_TENANT_ID] = { "tenant_id", false },
	[F_ACTOR_ID] = { "actor_id", false },
	[F_PAYLOAD] = { "payload", true },
	[F_METADATA] = { "metadata", false },
};

static int line_field_index(const char *key)
{
	for (int i = 0; i < F_COUNT; i++)
		if (strcmp(line_fields[i].name, key) == 0)
			return i;
	return -1;
}

static bool line_fail(char *err, size_t errlen, const char *fmt, const char *name)
{
	snprintf(err, errlen, fmt, name);
	return false;
}

static bool line_uuid(json_object *v, const char *name, char out[UUIDTEXT_LEN], char *err,
		      size_t errlen)
{
	if (!json_object_is_type(v, json_type_string) || !uuidtext_parse(json_object_get_string(v), out))
		return line_fail(err, errlen, "%s must be a UUID", name);
	return true;
}

static bool line_time(json_object *v, const char *name, int64_t *out, char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_string) || !timefmt_parse(json_object_get_string(v), out))
		return line_fail(err, errlen, "%s must be an RFC 3339 date-time", name);
	return true;
}

static bool line_integer(json_object *v, const char *name, int64_t *out, char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1)
		return line_fail(err, errlen, "%s must be an integer of at least 1", name);
	*out = json_object_get_int64(v);
	return true;
}

/* Checks one field's value into l. */
static bool line_take(struct event_line *l, enum line_field f, json_object *v, char *err,
		      size_t errlen)
{
	const char *name = line_fields[f].name;
	int64_t ignored;

	switch (f) {
	case F_EVENT_ID:
		return line_uuid(v, name, l->event_id, err, errlen);
	case F_AGGREGATE_ID:
		return line_uuid(v, name, l->aggregate_id, err, errlen);
	case F_TENANT_ID:
		if (!v)
			return true; /* null: no tenant */
		if (!line_uuid(v, name, l->tenant_id, err, errlen))
			return false;
		if (uuidtext_is_nil(l->tenant_id))
			return line_fail(err, errlen, "%s must not be the nil UUID (null is no tenant)", name);
		return true;
	case F_EVENT_TYPE:
	case F_AGGREGATE_TYPE: {
		bool agg = f == F_AGGREGATE_TYPE;

		if (!json_object_is_type(v, json_type_string)
		    || !line_name_valid(json_object_get_string(v), agg ? AGGREGATE_TYPE_MAX : EVENT_TYPE_MAX)) {
			snprintf(err, errlen, "%s must be a letter followed by at most %d letters, digits,"
				 " '_', '.' or '-'", name, (agg ? AGGREGATE_TYPE_MAX : EVENT_TYPE_MAX) - 1);
			return false;
		}
		*(agg ? &l->aggregate_type : &l->event_type) = json_object_get_string(v);
		return true;
	}
	case F_VERSION:
		return line_integer(v, name, &l->version, err, errlen);
	case F_POSITION:
		return line_integer(v, name, &ignored, err, errlen);
	case F_OCCURRED_AT:
		return line_time(v, name, &l->occurred_at, err, errlen);
	case F_RECORDED_AT:
		l->has_recorded_at = v != NULL;
		return !v || line_time(v, name, &l->recorded_at, err, errlen);
	case F_ACTOR_ID:
		if (!v)
			return true;
		if (!json_object_is_type(v, json_type_string))
			return line_fail(err, errlen, "%s must be a string or null", name);
		l->actor_id = json_object_get_string(v);
		return true;
	case F_PAYLOAD:
	case F_METADATA:
		if (!json_object_is_type(v, json_type_object))
			return line_fail(err, errlen, "%s must be a JSON object", name);
		*(f == F_PAYLOAD ? &l->payload : &l->metadata) = jsondoc_compact(v);
		return true;
	case F_COUNT:
		break;
	}
	return false;
}

enum es_status event_line_parse(const char *line, size_t len, struct event_line *out,
				char *err, size_t errlen)
{
	json_object *doc = NULL, *seen[F_COUNT] = { NULL };
	bool present[F_COUNT] = { false };
	char *pointer = NULL;
	enum es_status rc;

	memset(out, 0, sizeof *out);
	snprintf(out->tenant_id, sizeof out->tenant_id, "%s", UUIDTEXT_NIL);
	out->metadata = "{}";
	rc = jsondoc_parse_strict(line, len, EVENT_LINE_MAX_DEPTH, &doc, err, errlen);
	if (rc != ES_OK)
		return rc;
	out->doc_ = doc;
	if (!json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		return ES_EINVAL;
	}
	if (!jsondoc_pg_storable(doc, &pointer)) {
		snprintf(err, errlen, "%.80s: a \\u0000 or a number PostgreSQL cannot store",
			 *pointer ? pointer : "the line");
		free(pointer);
		return ES_EINVAL;
	}
	json_object_object_foreach(doc, key, val) {
		int f = line_field_index(key);

		if (f < 0) {
			char shown[48];

			snprintf(err, errlen, "unknown field %s",
				 text_quote(shown, sizeof shown, key, strlen(key)));
			return ES_EINVAL;
		}
		present[f] = true;
		seen[f] = val;
	}
	for (int f = 0; f < F_COUNT; f++) {
		if (!present[f] || (!seen[f] && line_fields[f].required)) {
			if (line_fields[f].required) {
				snprintf(err, errlen, "%s is missing", line_fields[f].name);
				return ES_EINVAL;
			}
			continue;
		}
		if (!seen[f] && (f == F_PAYLOAD || f == F_METADATA || f == F_POSITION))
			continue; /* null metadata or position: as if absent */
		if (!line_take(out, (enum line_field)f, seen[f], err, errlen))
			return ES_EINVAL;
	}
	if (!out->payload || !out->metadata) {
		snprintf(err, errlen, "out of memory");
		return ES_ENOMEM;
	}
	return ES_OK;
}

void event_line_free(struct event_line *l)
{
	if (!l)
		return;
	json_object_put(l->doc_);
	l->doc_ = NULL;
}

/* Appends s as a COPY text field: backslash, tab, newline and carriage
 * return escaped. */
static void copy_text(struct sbuf *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;

		switch (*s) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		default: continue;
		}
		sbuf_append(out, run, (size_t)(s - run));
		sbuf_append(out, esc, 2);
		run = s + 1;
	}
	sbuf_append(out, run, (size_t)(s - run));
}

static void copy_time(struct sbuf *out, int64_t usec)
{
	char t[TIMEFMT_LEN];

	timefmt_format(usec, t);
	sbuf_puts(out, t);
}

void event_line_copy_row(const struct event_line *l, int64_t lineno, struct sbuf *out)
{
	sbuf_printf(out, "%" PRId64 "\t%s\t%s\t", lineno, l->tenant_id, l->event_id);
	copy_text(out, l->aggregate_type);
	sbuf_printf(out, "\t%s\t%" PRId64 "\t", l->aggregate_id, l->version);
	copy_text(out, l->event_type);
	sbuf_putc(out, '\t');
	if (l->actor_id)
		copy_text(out, l->actor_id);
	else
		sbuf_puts(out, "\\N");
	sbuf_putc(out, '\t');
	copy_time(out, l->occurred_at);
	sbuf_putc(out, '\t');
	if (l->has_recorded_at)
		copy_time(out, l->recorded_at);
	else
		sbuf_puts(out, "\\N");
	sbuf_putc(out, '\t');
	copy_text(out, l->payload);
	sbuf_putc(out, '\t');
	copy_text(out, l->metadata);
	sbuf_putc(out, '\n');
}
