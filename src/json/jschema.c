/* jschema.c - compiling and applying the JSON Schema subset. */
#include "buildconf.h"
#include "json/jschema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "json/jsondoc.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

enum jschema_type {
	JT_NULL = 1u << 0,
	JT_BOOLEAN = 1u << 1,
	JT_OBJECT = 1u << 2,
	JT_ARRAY = 1u << 3,
	JT_NUMBER = 1u << 4,
	JT_STRING = 1u << 5,
	JT_INTEGER = 1u << 6
};

static const struct {
	const char *name;
	unsigned bit;
} jschema_types[] = {
	{ "null", JT_NULL }, { "boolean", JT_BOOLEAN }, { "object", JT_OBJECT },
	{ "array", JT_ARRAY }, { "number", JT_NUMBER }, { "string", JT_STRING },
	{ "integer", JT_INTEGER },
};

struct jschema_property {
	char *name;
	struct jschema *schema;
};

struct jschema {
	unsigned types;                  /* 0: any type */
	char type_text[96];              /* "string or null", for messages */
	json_object *enum_values;        /* an array (own reference) or NULL */
	bool has_const;
	json_object *const_value;        /* own reference; NULL is JSON null */
	json_object *minimum;            /* a number (own reference) or NULL */
	json_object *maximum;
	int64_t min_length, max_length;  /* -1: none */
	int64_t min_items, max_items;
	pcre2_code *pattern;             /* NULL: no pattern */
	char *pattern_text;
	char **required;
	size_t n_required;
	struct jschema_property *properties;
	size_t n_properties;
	bool additional_forbidden;       /* additionalProperties: false */
	struct jschema *additional;      /* additionalProperties: a schema */
	struct jschema *items;
};

/* --- helpers ------------------------------------------------------------- */

static bool is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

static bool is_integral(json_object *v)
{
	double d;

	if (json_object_is_type(v, json_type_int))
		return true;
	if (!json_object_is_type(v, json_type_double))
		return false;
	d = json_object_get_double(v);
	return isfinite(d) && d == floor(d);
}

/* -1, 0, 1 as a < b, a == b, a > b; both are numbers. Two integers compare
 * exactly; otherwise as long doubles, exact for every int64 and double. */
static int number_cmp(json_object *a, json_object *b)
{
	long double x, y;

	if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int)) {
		int64_t i = json_object_get_int64(a), j = json_object_get_int64(b);

		return i < j ? -1 : i > j;
	}
	x = json_object_is_type(a, json_type_int) ? (long double)json_object_get_int64(a)
						  : (long double)json_object_get_double(a);
	y = json_object_is_type(b, json_type_int) ? (long double)json_object_get_int64(b)
						  : (long double)json_object_get_double(b);
	return x < y ? -1 : x > y;
}

bool jschema_equal(json_object *a, json_object *b)
{
	if (!a || !b)
		return !a && !b;
	if (is_number(a) && is_number(b))
		return number_cmp(a, b) == 0;
	if (json_object_get_type(a) != json_object_get_type(b))
		return false;
	switch (json_object_get_type(a)) {
	case json_type_boolean:
		return json_object_get_boolean(a) == json_object_get_boolean(b);
	case json_type_string:
		return json_object_get_string_len(a) == json_object_get_string_len(b) &&
		       memcmp(json_object_get_string(a), json_object_get_string(b),
			      (size_t)json_object_get_string_len(a)) == 0;
	case json_type_array: {
		size_t n = json_object_array_length(a);

		if (n != json_object_array_length(b))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!jschema_equal(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i)))
				return false;
		return true;
	}
	case json_type_object: {
		if (json_object_object_length(a) != json_object_object_length(b))
			return false;
		json_object_object_foreach(a, key, va) {
			json_object *vb;

			if (!json_object_object_get_ex(b, key, &vb) || !jschema_equal(va, vb))
				return false;
		}
		return true;
	}
	default:
		return true; /* null */
	}
}

size_t jschema_utf8_length(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* --- compiling ----------------------------------------------------------- */

struct compile_ctx {
	char *err;
	size_t errlen;
};

static enum es_status compile_fail(struct compile_ctx *c, const char *pointer, const char *keyword,
				   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum es_status compile_fail(struct compile_ctx *c, const char *pointer, const char *keyword,
				   const char *fmt, ...)
{
	char msg[256];
	char *p = keyword ? jsondoc_pointer_join(pointer, keyword) : NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s", p ? p : pointer, msg);
	free(p);
	return ES_EINVAL;
}

/* A non-negative integer keyword (minLength, ...). */
static enum es_status compile_count(struct compile_ctx *c, const char *pointer, const char *keyword,
				    json_object *v, int64_t *out)
{
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return compile_fail(c, pointer, keyword, "must be an integer >= 0");
	*out = json_object_get_int64(v);
	return ES_OK;
}

static enum es_status compile_node(struct compile_ctx *c, json_object *schema, const char *pointer,
				   struct jschema **out);

static enum es_status compile_type(struct compile_ctx *c, struct jschema *s, const char *pointer,
				   json_object *v)
{
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;

	if (json_object_is_type(v, json_type_array) && n == 0)
		return compile_fail(c, pointer, "type", "must name at least one type");
	if (!json_object_is_type(v, json_type_string) && !json_object_is_type(v, json_type_array))
		return compile_fail(c, pointer, "type", "must be a type name or an array of them");
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
		const char *name = json_object_get_string(t);
		size_t k;

		if (!json_object_is_type(t, json_type_string))
			return compile_fail(c, pointer, "type", "must be a type name or an array of them");
		for (k = 0; k < sizeof jschema_types / sizeof jschema_types[0]; k++)
			if (strcmp(name, jschema_types[k].name) == 0)
				break;
		if (k == sizeof jschema_types / sizeof jschema_types[0])
			return compile_fail(c, pointer, "type",
					    "unknown type \"%.40s\" (null, boolean, object, array, number, "
					    "string, integer)", name);
		s->types |= jschema_types[k].bit;
		if (strlen(s->type_text) + strlen(name) + 8 < sizeof s->type_text) {
			if (i > 0)
				strcat(s->type_text, " or ");
			strcat(s->type_text, name);
		}
	}
	return ES_OK;
}

static enum es_status compile_required(struct compile_ctx *c, struct jschema *s, const char *pointer,
				       json_object *v)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return compile_fail(c, pointer, "required", "must be an array of property names");
	n = json_object_array_length(v);
	s->required = calloc(n ? n : 1, sizeof *s->required);
	if (!s->required)
		return ES_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *name = json_object_array_get_idx(v, i);

		if (!json_object_is_type(name, json_type_string))
			return compile_fail(c, pointer, "required", "must be an array of property names");
		s->required[i] = strdup(json_object_get_string(name));
		if (!s->required[i])
			return ES_ENOMEM;
		s->n_required++;
	}
	return ES_OK;
}

static enum es_status compile_properties(struct compile_ctx *c, struct jschema *s, const char *pointer,
					 json_object *v)
{
	enum es_status rc = ES_OK;
	char *base;

	if (!json_object_is_type(v, json_type_object))
		return compile_fail(c, pointer, "properties", "must be an object of schemas");
	s->properties = calloc((size_t)json_object_object_length(v) + 1, sizeof *s->properties);
	base = jsondoc_pointer_join(pointer, "properties");
	if (!s->properties || !base) {
		free(base);
		return ES_ENOMEM;
	}
	json_object_object_foreach(v, key, sub) {
		struct jschema_property *p = &s->properties[s->n_properties];
		char *at = jsondoc_pointer_join(base, key);

		p->name = strdup(key);
		if (!at || !p->name) {
			free(at);
			free(p->name);
			rc = ES_ENOMEM;
			break;
		}
		rc = compile_node(c, sub, at, &p->schema);
		free(at);
		if (rc != ES_OK) {
			free(p->name);
			break;
		}
		s->n_properties++;
	}
	free(base);
	return rc;
}

/* JSON Schema says ECMA-262; PCRE2 is close: UTF-8 with \\u escapes of four hex digits
 * (ALT_BSUX), "$" only at the very end as in ECMA, \\d and \\w ASCII as
 * in ECMA (no UCP). What PCRE2 cannot compile is refused here, at load. */
#define JSCHEMA_PCRE2_OPTIONS (PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY)

/* Backtracking budget of one match: a pathological pattern costs a
 * violation, never a stuck worker. */
#define JSCHEMA_MATCH_LIMIT 1000000

static enum es_status compile_pattern(struct compile_ctx *c, struct jschema *s, const char *pointer,
				      json_object *v)
{
	PCRE2_UCHAR msg[128];
	PCRE2_SIZE offset;
	int code;

	if (!json_object_is_type(v, json_type_string))
		return compile_fail(c, pointer, "pattern", "must be a string");
	s->pattern = pcre2_compile((PCRE2_SPTR)json_object_get_string(v),
				   (PCRE2_SIZE)json_object_get_string_len(v), JSCHEMA_PCRE2_OPTIONS,
				   &code, &offset, NULL);
	if (!s->pattern) {
		if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", code);
		return compile_fail(c, pointer, "pattern",
				    "not a regular expression PCRE2 can honour: %s at offset %zu",
				    (const char *)msg, (size_t)offset);
	}
	s->pattern_text = strdup(json_object_get_string(v));
	return s->pattern_text ? ES_OK : ES_ENOMEM;
}

/* Whether str (len bytes) contains a match of pattern: ECMA-262's test(),
 * an unanchored search. A match that errs (the backtracking limit, memory)
 * counts as no match. */
static bool pattern_matches(const pcre2_code *pattern, const char *str, size_t len)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(pattern, NULL);
	pcre2_match_context *mc = pcre2_match_context_create(NULL);
	int rc = -1;

	if (md && mc && pcre2_set_match_limit(mc, JSCHEMA_MATCH_LIMIT) == 0)
		rc = pcre2_match(pattern, (PCRE2_SPTR)str, len, 0, 0, md, mc);
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* One keyword of a schema object. */
static enum es_status compile_keyword(struct compile_ctx *c, struct jschema *s, const char *pointer,
				      const char *key, json_object *v)
{
	enum es_status rc;
	char *at;

	if (strcmp(key, "type") == 0)
		return compile_type(c, s, pointer, v);
	if (strcmp(key, "required") == 0)
		return compile_required(c, s, pointer, v);
	if (strcmp(key, "properties") == 0)
		return compile_properties(c, s, pointer, v);
	if (strcmp(key, "additionalProperties") == 0) {
		if (json_object_is_type(v, json_type_boolean)) {
			s->additional_forbidden = !json_object_get_boolean(v);
			return ES_OK;
		}
		at = jsondoc_pointer_join(pointer, key);
		if (!at)
			return ES_ENOMEM;
		rc = compile_node(c, v, at, &s->additional);
		free(at);
		return rc;
	}
	if (strcmp(key, "items") == 0) {
		at = jsondoc_pointer_join(pointer, key);
		if (!at)
			return ES_ENOMEM;
		rc = compile_node(c, v, at, &s->items);
		free(at);
		return rc;
	}
	if (strcmp(key, "enum") == 0) {
		if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
			return compile_fail(c, pointer, key, "must be a non-empty array");
		s->enum_values = json_object_get(v);
		return ES_OK;
	}
	if (strcmp(key, "const") == 0) {
		s->has_const = true;
		s->const_value = json_object_get(v);
		return ES_OK;
	}
	if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0) {
		if (!is_number(v))
			return compile_fail(c, pointer, key, "must be a number");
		if (key[1] == 'i')
			s->minimum = json_object_get(v);
		else
			s->maximum = json_object_get(v);
		return ES_OK;
	}
	if (strcmp(key, "minLength") == 0)
		return compile_count(c, pointer, key, v, &s->min_length);
	if (strcmp(key, "maxLength") == 0)
		return compile_count(c, pointer, key, v, &s->max_length);
	if (strcmp(key, "minItems") == 0)
		return compile_count(c, pointer, key, v, &s->min_items);
	if (strcmp(key, "maxItems") == 0)
		return compile_count(c, pointer, key, v, &s->max_items);
	if (strcmp(key, "pattern") == 0)
		return compile_pattern(c, s, pointer, v);
	return compile_fail(c, pointer, key, "unknown schema keyword \"%.60s\"", key);
}

static enum es_status compile_node(struct compile_ctx *c, json_object *schema, const char *pointer,
				   struct jschema **out)
{
	struct jschema *s;
	enum es_status rc = ES_OK;

	*out = NULL;
	if (!json_object_is_type(schema, json_type_object))
		return compile_fail(c, pointer, NULL, "a schema must be a JSON object");
	s = calloc(1, sizeof *s);
	if (!s)
		return ES_ENOMEM;
	s->min_length = s->max_length = s->min_items = s->max_items = -1;
	json_object_object_foreach(schema, key, v) {
		rc = compile_keyword(c, s, pointer, key, v);
		if (rc != ES_OK)
			break;
	}
	if (rc == ES_OK && s->minimum && s->maximum && number_cmp(s->minimum, s->maximum) > 0)
		rc = compile_fail(c, pointer, "minimum", "is above maximum");
	if (rc != ES_OK) {
		jschema_free(s);
		return rc;
	}
	*out = s;
	return ES_OK;
}

enum es_status jschema_compile(json_object *schema, const char *base, struct jschema **out,
			       char *err, size_t errlen)
{
	struct compile_ctx c = { err, errlen };
	enum es_status rc;

	rc = compile_node(&c, schema, base ? base : "", out);
	if (rc == ES_ENOMEM)
		snprintf(err, errlen, "%s: out of memory", base ? base : "");
	return rc;
}

void jschema_free(struct jschema *s)
{
	if (!s)
		return;
	json_object_put(s->enum_values);
	json_object_put(s->const_value);
	json_object_put(s->minimum);
	json_object_put(s->maximum);
	pcre2_code_free(s->pattern);
	free(s->pattern_text);
	for (size_t i = 0; i < s->n_required; i++)
		free(s->required[i]);
	free(s->required);
	for (size_t i = 0; i < s->n_properties; i++) {
		free(s->properties[i].name);
		jschema_free(s->properties[i].schema);
	}
	free(s->properties);
	jschema_free(s->additional);
	jschema_free(s->items);
	free(s);
}

/* --- validating ---------------------------------------------------------- */

void jschema_violations_add(struct jschema_violations *out, const char *pointer, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (out->failed)
		return;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 8;
		struct jschema_violation *items = realloc(out->items, cap * sizeof *items);

		if (!items) {
			out->failed = true;
			return;
		}
		out->items = items;
		out->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* A value quoted with "%.100s" may end in half a character. */
	text_utf8_scrub(msg);
	out->items[out->n].pointer = strdup(pointer);
	out->items[out->n].message = strdup(msg);
	if (!out->items[out->n].pointer || !out->items[out->n].message) {
		free(out->items[out->n].pointer);
		free(out->items[out->n].message);
		out->failed = true;
		return;
	}
	out->n++;
}

void jschema_violations_free(struct jschema_violations *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		free(v->items[i].pointer);
		free(v->items[i].message);
	}
	free(v->items);
	memset(v, 0, sizeof *v);
}

static bool type_matches(unsigned types, json_object *doc)
{
	if (types == 0)
		return true;
	switch (json_object_get_type(doc)) {
	case json_type_null:
		return types & JT_NULL;
	case json_type_boolean:
		return types & JT_BOOLEAN;
	case json_type_object:
		return types & JT_OBJECT;
	case json_type_array:
		return types & JT_ARRAY;
	case json_type_string:
		return types & JT_STRING;
	case json_type_int:
	case json_type_double:
		return (types & JT_NUMBER) || ((types & JT_INTEGER) && is_integral(doc));
	}
	return false;
}

static const struct jschema *property_schema(const struct jschema *s, const char *name, bool *declared)
{
	for (size_t i = 0; i < s->n_properties; i++)
		if (strcmp(s->properties[i].name, name) == 0) {
			*declared = true;
			return s->properties[i].schema;
		}
	*declared = false;
	return s->additional;
}

static void validate_node(const struct jschema *s, json_object *doc, const char *pointer,
			  struct jschema_violations *out);

static void validate_object(const struct jschema *s, json_object *doc, const char *pointer,
			    struct jschema_violations *out)
{
	for (size_t i = 0; i < s->n_required; i++) {
		if (!json_object_object_get_ex(doc, s->required[i], NULL)) {
			char *at = jsondoc_pointer_join(pointer, s->required[i]);

			jschema_violations_add(out, at ? at : pointer, "is required");
			free(at);
		}
	}
	json_object_object_foreach(doc, key, v) {
		bool declared;
		const struct jschema *sub = property_schema(s, key, &declared);
		char *at;

		if (!sub && (declared || !s->additional_forbidden))
			continue;
		at = jsondoc_pointer_join(pointer, key);
		if (!at) {
			out->failed = true;
			return;
		}
		if (sub)
			validate_node(sub, v, at, out);
		else
			jschema_violations_add(out, at, "is not an allowed property (additionalProperties is false)");
		free(at);
	}
}

static void validate_array(const struct jschema *s, json_object *doc, const char *pointer,
			   struct jschema_violations *out)
{
	size_t n = json_object_array_length(doc);
	char idx[24];

	if (s->min_items >= 0 && n < (size_t)s->min_items)
		jschema_violations_add(out, pointer, "must have at least %lld items", (long long)s->min_items);
	if (s->max_items >= 0 && n > (size_t)s->max_items)
		jschema_violations_add(out, pointer, "must have at most %lld items", (long long)s->max_items);
	if (!s->items)
		return;
	for (size_t i = 0; i < n; i++) {
		char *at;

		snprintf(idx, sizeof idx, "%zu", i);
		at = jsondoc_pointer_join(pointer, idx);
		if (!at) {
			out->failed = true;
			return;
		}
		validate_node(s->items, json_object_array_get_idx(doc, i), at, out);
		free(at);
	}
}

static void validate_string(const struct jschema *s, json_object *doc, const char *pointer,
			    struct jschema_violations *out)
{
	const char *str = json_object_get_string(doc);
	size_t len = jschema_utf8_length(str, (size_t)json_object_get_string_len(doc));

	if (s->min_length >= 0 && len < (size_t)s->min_length)
		jschema_violations_add(out, pointer, "must be at least %lld characters long",
			      (long long)s->min_length);
	if (s->max_length >= 0 && len > (size_t)s->max_length)
		jschema_violations_add(out, pointer, "must be at most %lld characters long",
			      (long long)s->max_length);
	if (s->pattern && !pattern_matches(s->pattern, str, (size_t)json_object_get_string_len(doc)))
		jschema_violations_add(out, pointer, "must match the pattern %.100s", s->pattern_text);
}

static void validate_number(const struct jschema *s, json_object *doc, const char *pointer,
			    struct jschema_violations *out)
{
	if (s->minimum && number_cmp(doc, s->minimum) < 0)
		jschema_violations_add(out, pointer, "must be >= %s", jsondoc_compact(s->minimum));
	if (s->maximum && number_cmp(doc, s->maximum) > 0)
		jschema_violations_add(out, pointer, "must be <= %s", jsondoc_compact(s->maximum));
}

static void validate_node(const struct jschema *s, json_object *doc, const char *pointer,
			  struct jschema_violations *out)
{
	if (!type_matches(s->types, doc)) {
		jschema_violations_add(out, pointer, "must be of type %s", s->type_text);
		return; /* the other keywords would only repeat the same problem */
	}
	if (s->has_const && !jschema_equal(doc, s->const_value))
		jschema_violations_add(out, pointer, "must be %.100s",
			      s->const_value ? jsondoc_compact(s->const_value) : "null");
	if (s->enum_values) {
		size_t n = json_object_array_length(s->enum_values);
		size_t i;

		for (i = 0; i < n; i++)
			if (jschema_equal(doc, json_object_array_get_idx(s->enum_values, i)))
				break;
		if (i == n)
			jschema_violations_add(out, pointer, "must be one of %.200s", jsondoc_compact(s->enum_values));
	}
	switch (json_object_get_type(doc)) {
	case json_type_object:
		validate_object(s, doc, pointer, out);
		break;
	case json_type_array:
		validate_array(s, doc, pointer, out);
		break;
	case json_type_string:
		validate_string(s, doc, pointer, out);
		break;
	case json_type_int:
	case json_type_double:
		validate_number(s, doc, pointer, out);
		break;
	default:
		break;
	}
}

bool jschema_validate(const struct jschema *s, json_object *doc, const char *base,
		      struct jschema_violations *out)
{
	size_t before = out->n;

	validate_node(s, doc, base ? base : "", out);
	return out->n == before && !out->failed;
}
