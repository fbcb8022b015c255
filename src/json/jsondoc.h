/* jsondoc.h - bounded, strict JSON parsing of untrusted bytes, and the
 * checks that keep PostgreSQL from rejecting what we accepted. */
#ifndef EVSTORE_JSONDOC_H
#define EVSTORE_JSONDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include "base/error.h"

/* Parses exactly one JSON value from buf[0..len). Refuses NUL bytes,
 * invalid UTF-8, trailing data, NaN/Infinity, single quotes, duplicate
 * object keys, integers outside int64, and nesting deeper than max_depth
 * levels (an object or array is one level; max_depth 64 allows 64).
 * Also refused, because json-c would change their meaning: unescaped control
 * characters in strings, unpaired UTF-16 surrogate escapes, and "\u0000"
 * inside an object key.
 * On ES_OK *out is a new reference; the document "null" gives *out == NULL
 * (json-c's null). On ES_EINVAL err holds a message fit for a client
 * ("invalid JSON at offset 17: ..."), never quoting more than 40 bytes of
 * the input. ES_ENOMEM when memory ran out, ES_ETOOLARGE above INT_MAX. */
enum es_status jsondoc_parse_strict(const char *buf, size_t len, int max_depth,
				 json_object **out, char *err, size_t errlen) ES_MUST_CHECK;

/* True when err, as jsondoc_parse_strict filled it, reports a duplicate
 * object key (callers that must name that case, e.g. a JWT claim given
 * twice). Borrows err; NULL is false. */
bool jsondoc_err_is_duplicate(const char *err);

/* Serialises compactly, '/' unescaped. The string belongs to obj. */
const char *jsondoc_compact(json_object *obj);

/* True when PostgreSQL's jsonb can store v: no "\u0000" in any string or key,
 * only well-formed UTF-8 (objects built in code are checked too) and every
 * number finite. On false, *pointer is set to a malloc'd JSON
 * pointer (relative to v, "" for v itself) of the first offender. */
bool jsondoc_pg_storable(json_object *v, char **pointer);

/* Appends "/token" to a JSON pointer with ~ and / escaped (RFC 6901).
 * Returns a new string. */
char *jsondoc_pointer_join(const char *base, const char *token);

#endif
