/* jschema.h - the JSON Schema subset aggregate definitions use for event
 * payloads: type, required, properties, additionalProperties, enum, const,
 * minimum, maximum, minLength, maxLength, pattern, items, minItems,
 * maxItems. A schema is compiled once (unknown keywords and bad values are
 * refused with a JSON pointer) and then validates documents, collecting
 * every violation, not just the first.
 *
 * Decisions: "integer" accepts a number with no fractional part whatever
 * its spelling (1 and 1.0, as JSON Schema says), "number" accepts both;
 * numbers compare by value (1 equals 1.0 in enum and const); minLength and
 * maxLength count Unicode code points; pattern is an ECMA-262 regular
 * expression as PCRE2 reads it (UTF-8), searched anywhere in the string
 * unless anchored, and one PCRE2 cannot compile is refused at load. */
#ifndef EVSTORE_JSCHEMA_H
#define EVSTORE_JSCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include "base/error.h"

struct jschema; /* opaque: a compiled schema */

struct jschema_violation {
	char *pointer;   /* JSON pointer of the offending value (malloc) */
	char *message;   /* what is wrong, for a client (malloc) */
};

struct jschema_violations {
	struct jschema_violation *items;
	size_t n;
	size_t cap;
	bool failed;     /* memory ran out: the list is incomplete */
};

/* Compiles schema. On ES_EINVAL err holds "<pointer>: <reason>" where the
 * pointer is base (the schema's own pointer in its file, "" for none)
 * joined with the path to the offending keyword. Borrows schema and base;
 * *out is a new schema released with jschema_free(). */
enum es_status jschema_compile(json_object *schema, const char *base, struct jschema **out,
			       char *err, size_t errlen) ES_MUST_CHECK;
void jschema_free(struct jschema *s);

/* Validates doc (NULL is JSON null) against s and appends every violation
 * to out, each pointer prefixed with base ("/events/0/payload"). Returns
 * true when doc is valid. Borrows everything. */
bool jschema_validate(const struct jschema *s, json_object *doc, const char *base,
		      struct jschema_violations *out);

/* Appends one violation (pointer and the formatted message are copied);
 * sets out->failed when memory runs out. */
void jschema_violations_add(struct jschema_violations *out, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Releases the list's contents and empties it; safe on a zeroed list. */
void jschema_violations_free(struct jschema_violations *v);

/* JSON equality: numbers by value (1 == 1.0), objects regardless of member
 * order, arrays element by element. NULL is JSON null. */
bool jschema_equal(json_object *a, json_object *b);

/* The number of Unicode code points in a UTF-8 string of len bytes. */
size_t jschema_utf8_length(const char *s, size_t len);

#endif
