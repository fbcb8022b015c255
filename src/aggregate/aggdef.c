/* aggdef.c - one aggregate definition: parsing and checking a document,
 * its rules hash, lookups and payload validation. Loading a directory of
 * them is aggdef_registry.c. */
#include "buildconf.h"
#include "aggregate/aggdef.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jsoncanon.h"
#include "json/jsondoc.h"
#include "base/sbuf.h"


struct parse_ctx {
	const char *file;
	char *err;
	size_t errlen;
};

static enum es_status parse_fail(struct parse_ctx *c, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum es_status parse_fail(struct parse_ctx *c, const char *pointer, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s: %s", c->file, *pointer ? pointer : "/", msg);
	return ES_EINVAL;
}

static enum es_status parse_nomem(struct parse_ctx *c)
{
	snprintf(c->err, c->errlen, "%s: out of memory", c->file);
	return ES_ENOMEM;
}

/* ^[A-Za-z][A-Za-z0-9_.-]{0,max-1}$, as the API's names. */
static bool name_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (; s[n]; n++) {
		char ch = s[n];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	return n <= max;
}

/* A dotted path: one or more non-empty segments. */
static bool path_valid(const char *s)
{
	size_t seg = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (seg == 0)
				return false;
			seg = 0;
		} else {
			seg++;
		}
	}
	return seg > 0;
}

/* Rejects a member of obj not in allowed (the "unknown keyword" rule). */
static enum es_status only_known(struct parse_ctx *c, json_object *obj, const char *pointer,
				 const char *const *allowed)
{
	json_object_object_foreach(obj, key, v) {
		size_t i;

		(void)v;
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			char *at = jsondoc_pointer_join(pointer, key);
			enum es_status rc = at ? parse_fail(c, at, "unknown keyword \"%.60s\"", key)
					       : parse_nomem(c);

			free(at);
			return rc;
		}
	}
	return ES_OK;
}

/* "payload", "payload.x", "metadata", "metadata.x": a source; else false. */
static bool source_from_string(const char *s, struct aggdef_source *src, bool *bad_path)
{
	static const struct {
		const char *prefix;
		enum aggdef_source_kind kind;
	} roots[] = { { "payload", AGGDEF_SOURCE_PAYLOAD }, { "metadata", AGGDEF_SOURCE_METADATA } };

	*bad_path = false;
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(roots[i].prefix);

		if (strncmp(s, roots[i].prefix, n) != 0 || (s[n] != '\0' && s[n] != '.'))
			continue;
		src->kind = roots[i].kind;
		src->path = NULL;
		if (s[n] == '.') {
			if (!path_valid(s + n + 1)) {
				*bad_path = true;
				return true;
			}
			src->path = strdup(s + n + 1);
		}
		return true;
	}
	return false;
}

enum source_rule {
	SOURCE_ANY,          /* a source string or any constant */
	SOURCE_REQUIRED,     /* only a source string */
	SOURCE_NUMBER        /* a source string or a number constant */
};

static enum es_status parse_source(struct parse_ctx *c, json_object *v, const char *pointer,
				   enum source_rule rule, struct aggdef *def, struct aggdef_source *src)
{
	bool bad_path;

	memset(src, 0, sizeof *src);
	if (json_object_is_type(v, json_type_string) &&
	    source_from_string(json_object_get_string(v), src, &bad_path)) {
		if (bad_path)
			return parse_fail(c, pointer, "\"%.80s\" is not a valid path (dotted, no empty part)",
					  json_object_get_string(v));
		if (src->kind == AGGDEF_SOURCE_METADATA)
			def->uses_metadata = true;
		if (json_object_get_string(v)[0] && strchr(json_object_get_string(v), '.') && !src->path)
			return parse_nomem(c);
		return ES_OK;
	}
	if (rule == SOURCE_REQUIRED)
		return parse_fail(c, pointer, "must be a source: \"payload.<path>\" or \"metadata.<path>\"");
	if (rule == SOURCE_NUMBER && !json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return parse_fail(c, pointer, "must be a number or a source (\"payload.<path>\")");
	src->kind = AGGDEF_SOURCE_CONST;
	src->value = json_object_get(v);
	return ES_OK;
}

static void source_free(struct aggdef_source *src)
{
	free(src->path);
	json_object_put(src->value);
}

/* {path: value, ...} of set, copy, inc and append. */
static enum es_status parse_assigns(struct parse_ctx *c, json_object *v, const char *pointer,
				    enum aggdef_op op, struct aggdef *def, struct aggdef_step *step)
{
	enum es_status rc = ES_OK;

	if (!json_object_is_type(v, json_type_object) || json_object_object_length(v) == 0)
		return parse_fail(c, pointer, "must be a non-empty object of {\"path\": value}");
	step->assigns = calloc((size_t)json_object_object_length(v), sizeof *step->assigns);
	if (!step->assigns)
		return parse_nomem(c);
	json_object_object_foreach(v, key, val) {
		struct aggdef_assign *a = &step->assigns[step->n_assigns];
		char *at = jsondoc_pointer_join(pointer, key);

		if (!at)
			return parse_nomem(c);
		if (!path_valid(key)) {
			rc = parse_fail(c, at, "\"%.80s\" is not a valid path (dotted, no empty part)", key);
		} else if (op == AGGDEF_OP_SET) {
			a->source.kind = AGGDEF_SOURCE_CONST;
			a->source.value = json_object_get(val);
		} else {
			rc = parse_source(c, val, at, op == AGGDEF_OP_COPY ? SOURCE_REQUIRED :
						      op == AGGDEF_OP_INC ? SOURCE_NUMBER : SOURCE_ANY,
					  def, &a->source);
		}
		free(at);
		if (rc != ES_OK)
			return rc;
		a->target = strdup(key);
		step->n_assigns++;
		if (!a->target)
			return parse_nomem(c);
	}
	return ES_OK;
}

static const struct {
	const char *name;
	enum aggdef_op op;
} step_ops[] = {
	{ "merge", AGGDEF_OP_MERGE }, { "set", AGGDEF_OP_SET }, { "copy", AGGDEF_OP_COPY },
	{ "inc", AGGDEF_OP_INC }, { "append", AGGDEF_OP_APPEND }, { "remove", AGGDEF_OP_REMOVE },
};

static enum es_status parse_step(struct parse_ctx *c, json_object *v, const char *pointer,
				 struct aggdef *def, struct aggdef_step *step)
{
	enum es_status rc = ES_OK;
	const char *key = NULL;
	json_object *val = NULL;
	char *at;
	size_t i;

	if (!json_object_is_type(v, json_type_object) || json_object_object_length(v) != 1)
		return parse_fail(c, pointer, "an evolve step is an object with one member: merge, set, "
				  "copy, inc, append or remove");
	json_object_object_foreach(v, k, x) {
		key = k;
		val = x;
	}
	for (i = 0; i < sizeof step_ops / sizeof step_ops[0]; i++)
		if (strcmp(key, step_ops[i].name) == 0)
			break;
	at = jsondoc_pointer_join(pointer, key);
	if (!at)
		return parse_nomem(c);
	if (i == sizeof step_ops / sizeof step_ops[0]) {
		rc = parse_fail(c, at, "unknown keyword \"%.60s\" (merge, set, copy, inc, append, remove)",
				key);
		goto out;
	}
	step->op = step_ops[i].op;
	switch (step->op) {
	case AGGDEF_OP_MERGE:
		step->assigns = calloc(1, sizeof *step->assigns);
		if (!step->assigns) {
			rc = parse_nomem(c);
			goto out;
		}
		rc = parse_source(c, val, at, SOURCE_REQUIRED, def, &step->assigns[0].source);
		if (rc == ES_OK)
			step->n_assigns = 1;
		break;
	case AGGDEF_OP_REMOVE: {
		size_t n;

		if (!json_object_is_type(val, json_type_array) || json_object_array_length(val) == 0) {
			rc = parse_fail(c, at, "must be a non-empty array of paths");
			goto out;
		}
		n = json_object_array_length(val);
		step->paths = calloc(n, sizeof *step->paths);
		if (!step->paths) {
			rc = parse_nomem(c);
			goto out;
		}
		for (size_t j = 0; j < n; j++) {
			json_object *p = json_object_array_get_idx(val, j);

			if (!json_object_is_type(p, json_type_string) || !path_valid(json_object_get_string(p))) {
				char idx[24];
				char *pat;

				snprintf(idx, sizeof idx, "%zu", j);
				pat = jsondoc_pointer_join(at, idx);
				rc = pat ? parse_fail(c, pat, "must be a dotted path") : parse_nomem(c);
				free(pat);
				goto out;
			}
			step->paths[j] = strdup(json_object_get_string(p));
			if (!step->paths[j]) {
				rc = parse_nomem(c);
				goto out;
			}
			step->n_paths++;
		}
		break;
	}
	default:
		rc = parse_assigns(c, val, at, step->op, def, step);
		break;
	}
out:
	free(at);
	return rc;
}

static enum es_status parse_guards(struct parse_ctx *c, json_object *v, const char *pointer,
				   struct aggdef_event *ev)
{
	if (!json_object_is_type(v, json_type_object))
		return parse_fail(c, pointer, "must be an object of guards");
	ev->guards = calloc((size_t)json_object_object_length(v) + 1, sizeof *ev->guards);
	if (!ev->guards)
		return parse_nomem(c);
	json_object_object_foreach(v, key, val) {
		struct aggdef_guard *g = &ev->guards[ev->n_guards];
		enum es_status rc = ES_OK;
		char *at = jsondoc_pointer_join(pointer, key);

		if (!at)
			return parse_nomem(c);
		if (strcmp(key, "version") == 0) {
			g->kind = AGGDEF_GUARD_VERSION;
			if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 0)
				rc = parse_fail(c, at, "must be an integer >= 0");
			else
				g->version = json_object_get_int64(val);
		} else if (strcmp(key, "exists") == 0) {
			g->kind = AGGDEF_GUARD_EXISTS;
			if (!json_object_is_type(val, json_type_boolean))
				rc = parse_fail(c, at, "must be true or false");
			else
				g->exists = json_object_get_boolean(val);
		} else if (strncmp(key, "state.", 6) == 0) {
			g->kind = AGGDEF_GUARD_STATE;
			if (!path_valid(key + 6))
				rc = parse_fail(c, at, "\"%.80s\" is not a valid path (dotted, no empty part)",
						key + 6);
			else if (!json_object_is_type(val, json_type_array) ||
				 json_object_array_length(val) == 0)
				rc = parse_fail(c, at, "must be a non-empty array of allowed values");
		} else {
			rc = parse_fail(c, at, "unknown keyword \"%.60s\" (version, exists, state.<path>)", key);
		}
		free(at);
		if (rc != ES_OK)
			return rc;
		g->name = strdup(key);
		if (g->kind == AGGDEF_GUARD_STATE) {
			g->path = strdup(key + 6);
			g->allowed = json_object_get(val);
		}
		ev->n_guards++;
		if (!g->name || (g->kind == AGGDEF_GUARD_STATE && !g->path))
			return parse_nomem(c);
	}
	return ES_OK;
}

/* True when schema names the property at a dotted path, walking
 * "properties" from the top. */
static bool schema_has_property(json_object *schema, const char *path)
{
	char seg[256];
	const char *p = path;

	while (json_object_is_type(schema, json_type_object)) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		json_object *props;

		if (n >= sizeof seg || !json_object_object_get_ex(schema, "properties", &props) ||
		    !json_object_is_type(props, json_type_object))
			return false;
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (!json_object_object_get_ex(props, seg, &schema))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
	return false;
}

/* a is b or lies inside b (dotted paths). */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '.');
}

/* "payload.<path>" naming a property of schema: the path after
 * "payload." (borrowed from s), else NULL with the failure reported. */
static const char *personal_path(struct parse_ctx *c, json_object *v, const char *pointer,
				 json_object *schema, enum es_status *rc)
{
	const char *s = json_type_string == json_object_get_type(v) ? json_object_get_string(v) : NULL;

	if (!s || strncmp(s, "payload.", 8) != 0 || !path_valid(s + 8)) {
		*rc = parse_fail(c, pointer, "must be a path into the payload: \"payload.<path>\"");
		return NULL;
	}
	if (!schema_has_property(schema, s + 8)) {
		*rc = parse_fail(c, pointer, "\"%.80s\" is not a property of the payload schema", s);
		return NULL;
	}
	return s + 8;
}

static enum es_status parse_personal_one(struct parse_ctx *c, json_object *v, const char *pointer,
					 json_object *schema, struct personal_decl *d)
{
	static const char *const keys[] = { "subject", "fields", NULL };
	json_object *x;
	enum es_status rc = ES_OK;
	char *at = NULL;
	size_t n;

	if (!json_object_is_type(v, json_type_object))
		return parse_fail(c, pointer, "personal data is declared as {\"subject\": ..., \"fields\": [...]}");
	rc = only_known(c, v, pointer, keys);
	if (rc != ES_OK)
		return rc;
	at = jsondoc_pointer_join(pointer, "subject");
	if (!at)
		return parse_nomem(c);
	if (!json_object_object_get_ex(v, "subject", &x) || !json_object_is_type(x, json_type_string)) {
		rc = parse_fail(c, at, "is required: \"aggregate_id\" or \"payload.<path>\"");
		goto out;
	}
	if (strcmp(json_object_get_string(x), "aggregate_id") != 0) {
		const char *path = personal_path(c, x, at, schema, &rc);

		if (!path)
			goto out;
		d->subject = strdup(path);
		if (!d->subject) {
			rc = parse_nomem(c);
			goto out;
		}
	}
	free(at);
	at = jsondoc_pointer_join(pointer, "fields");
	if (!at)
		return parse_nomem(c);
	if (!json_object_object_get_ex(v, "fields", &x) || !json_object_is_type(x, json_type_array) ||
	    json_object_array_length(x) == 0) {
		rc = parse_fail(c, at, "is required: a non-empty array of \"payload.<path>\"");
		goto out;
	}
	n = json_object_array_length(x);
	d->fields = calloc(n, sizeof *d->fields);
	if (!d->fields) {
		rc = parse_nomem(c);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char idx[24], *fat;
		const char *path;

		snprintf(idx, sizeof idx, "%zu", i);
		fat = jsondoc_pointer_join(at, idx);
		if (!fat) {
			rc = parse_nomem(c);
			goto out;
		}
		path = personal_path(c, json_object_array_get_idx(x, i), fat, schema, &rc);
		if (path && d->subject && (path_within(d->subject, path) || path_within(path, d->subject)))
			rc = parse_fail(c, fat, "the subject's id cannot be personal data of its own: it "
					"stays readable to find the key");
		for (size_t j = 0; path && rc == ES_OK && j < d->n_fields; j++)
			if (strcmp(d->fields[j], path) == 0)
				rc = parse_fail(c, fat, "\"payload.%.80s\" is declared twice", path);
		free(fat);
		if (rc != ES_OK)
			goto out;
		d->fields[i] = strdup(path);
		if (!d->fields[i]) {
			rc = parse_nomem(c);
			goto out;
		}
		d->n_fields++;
	}
out:
	free(at);
	return rc;
}

/* "personal": one declaration or a non-empty array of them, checked
 * against the payload schema (schema NULL: there is none, and personal
 * data cannot be declared). */
static enum es_status parse_personal(struct parse_ctx *c, json_object *v, const char *pointer,
				     json_object *schema, struct aggdef_event *ev)
{
	bool many = json_object_is_type(v, json_type_array);
	size_t n = many ? json_object_array_length(v) : 1;
	enum es_status rc = ES_OK;

	if (!schema)
		return parse_fail(c, pointer, "personal data needs a payload schema to check its paths "
				  "against");
	if (many && n == 0)
		return parse_fail(c, pointer, "must be a declaration or a non-empty array of them");
	ev->personal = calloc(n, sizeof *ev->personal);
	if (!ev->personal)
		return parse_nomem(c);
	for (size_t i = 0; i < n && rc == ES_OK; i++) {
		char idx[24];
		char *at;

		snprintf(idx, sizeof idx, "%zu", i);
		at = many ? jsondoc_pointer_join(pointer, idx) : strdup(pointer);
		if (!at)
			return parse_nomem(c);
		rc = parse_personal_one(c, many ? json_object_array_get_idx(v, i) : v, at, schema,
					&ev->personal[i]);
		ev->n_personal = i + 1;
		free(at);
	}
	/* One field belongs to one subject: two keys cannot both seal it. */
	for (size_t i = 0; rc == ES_OK && i < ev->n_personal; i++)
		for (size_t j = i + 1; rc == ES_OK && j < ev->n_personal; j++)
			for (size_t a = 0; rc == ES_OK && a < ev->personal[i].n_fields; a++)
				for (size_t b = 0; rc == ES_OK && b < ev->personal[j].n_fields; b++)
					if (path_within(ev->personal[i].fields[a], ev->personal[j].fields[b]) ||
					    path_within(ev->personal[j].fields[b], ev->personal[i].fields[a]))
						rc = parse_fail(c, pointer, "\"payload.%.80s\" is declared for two "
								"subjects", ev->personal[i].fields[a]);
	return rc;
}

static const char *const event_keys[] = { "payload", "when", "evolve", "personal", NULL };

static enum es_status parse_event(struct parse_ctx *c, const char *type, json_object *v,
				  const char *pointer, struct aggdef *def, struct aggdef_event *ev)
{
	json_object *x;
	enum es_status rc;
	char *at = NULL;

	ev->event_type = strdup(type);
	if (!ev->event_type)
		return parse_nomem(c);
	if (!name_valid(type, 128))
		return parse_fail(c, pointer, "an event type must match ^[A-Za-z][A-Za-z0-9_.-]{0,127}$");
	if (!json_object_is_type(v, json_type_object))
		return parse_fail(c, pointer, "an event type is an object (payload, when, evolve)");
	rc = only_known(c, v, pointer, event_keys);
	if (rc != ES_OK)
		return rc;

	if (json_object_object_get_ex(v, "payload", &x)) {
		char msg[400];

		at = jsondoc_pointer_join(pointer, "payload");
		if (!at)
			return parse_nomem(c);
		rc = jschema_compile(x, at, &ev->payload, msg, sizeof msg);
		if (rc == ES_EINVAL)
			snprintf(c->err, c->errlen, "%s: %s", c->file, msg);
		else if (rc != ES_OK)
			parse_nomem(c);
		free(at);
		if (rc != ES_OK)
			return rc;
	}
	if (json_object_object_get_ex(v, "personal", &x)) {
		json_object *schema = NULL;

		if (!json_object_object_get_ex(v, "payload", &schema))
			schema = NULL;
		at = jsondoc_pointer_join(pointer, "personal");
		if (!at)
			return parse_nomem(c);
		rc = parse_personal(c, x, at, schema, ev);
		free(at);
		if (rc != ES_OK)
			return rc;
		def->has_personal = true;
	}
	if (json_object_object_get_ex(v, "when", &x)) {
		at = jsondoc_pointer_join(pointer, "when");
		if (!at)
			return parse_nomem(c);
		rc = parse_guards(c, x, at, ev);
		free(at);
		if (rc != ES_OK)
			return rc;
	}
	if (json_object_object_get_ex(v, "evolve", &x)) {
		size_t n;

		at = jsondoc_pointer_join(pointer, "evolve");
		if (!at)
			return parse_nomem(c);
		if (!json_object_is_type(x, json_type_array)) {
			rc = parse_fail(c, at, "must be an array of steps");
			free(at);
			return rc;
		}
		n = json_object_array_length(x);
		ev->steps = calloc(n + 1, sizeof *ev->steps);
		if (!ev->steps) {
			free(at);
			return parse_nomem(c);
		}
		for (size_t i = 0; i < n && rc == ES_OK; i++) {
			char idx[24];
			char *sat;

			snprintf(idx, sizeof idx, "%zu", i);
			sat = jsondoc_pointer_join(at, idx);
			rc = sat ? parse_step(c, json_object_array_get_idx(x, i), sat, def, &ev->steps[i])
				 : parse_nomem(c);
			ev->n_steps = i + 1;
			free(sat);
		}
		free(at);
		if (rc != ES_OK)
			return rc;
	}
	return ES_OK;
}

static enum es_status parse_snapshot(struct parse_ctx *c, json_object *v, struct aggdef *def)
{
	static const char *const keys[] = { "threshold", "mode", NULL };
	json_object *x;
	enum es_status rc;
	const char *mode;

	if (!json_object_is_type(v, json_type_object))
		return parse_fail(c, "/snapshot", "must be an object (threshold, mode)");
	rc = only_known(c, v, "/snapshot", keys);
	if (rc != ES_OK)
		return rc;
	if (!json_object_object_get_ex(v, "threshold", &x) || !json_object_is_type(x, json_type_int) ||
	    json_object_get_int64(x) < 1)
		return parse_fail(c, "/snapshot/threshold", "is required and must be an integer >= 1");
	def->snapshot_threshold = json_object_get_int64(x);
	if (!json_object_object_get_ex(v, "mode", &x) || !json_object_is_type(x, json_type_string))
		return parse_fail(c, "/snapshot/mode", "is required: sync, background or manual");
	mode = json_object_get_string(x);
	if (strcmp(mode, "sync") == 0)
		def->snapshot_mode = AGGDEF_SNAPSHOT_SYNC;
	else if (strcmp(mode, "background") == 0)
		def->snapshot_mode = AGGDEF_SNAPSHOT_BACKGROUND;
	else if (strcmp(mode, "manual") == 0)
		def->snapshot_mode = AGGDEF_SNAPSHOT_MANUAL;
	else
		return parse_fail(c, "/snapshot/mode", "must be sync, background or manual");
	return ES_OK;
}

static enum es_status parse_commands(struct parse_ctx *c, json_object *v, struct aggdef *def)
{
	static const char *const keys[] = { "emits", NULL };

	if (!json_object_is_type(v, json_type_object))
		return parse_fail(c, "/commands", "must be an object of {\"name\": {\"emits\": \"EventType\"}}");
	def->commands = calloc((size_t)json_object_object_length(v) + 1, sizeof *def->commands);
	if (!def->commands)
		return parse_nomem(c);
	json_object_object_foreach(v, name, cmd) {
		struct aggdef_command *out = &def->commands[def->n_commands];
		char *at = jsondoc_pointer_join("/commands", name);
		char *eat = at ? jsondoc_pointer_join(at, "emits") : NULL;
		enum es_status rc = ES_OK;
		json_object *emits;

		if (!eat)
			rc = parse_nomem(c);
		else if (!name_valid(name, 64))
			rc = parse_fail(c, at, "a command name must match ^[A-Za-z][A-Za-z0-9_.-]{0,63}$");
		else if (!json_object_is_type(cmd, json_type_object))
			rc = parse_fail(c, at, "a command is an object: {\"emits\": \"EventType\"}");
		else if ((rc = only_known(c, cmd, at, keys)) != ES_OK)
			;
		else if (!json_object_object_get_ex(cmd, "emits", &emits) ||
			 !json_object_is_type(emits, json_type_string))
			rc = parse_fail(c, eat, "is required and must name an event type");
		else if (!(out->emits = aggdef_event_find(def, json_object_get_string(emits))))
			rc = parse_fail(c, eat, "\"%.128s\" is not an event type of this definition",
					json_object_get_string(emits));
		free(at);
		free(eat);
		if (rc != ES_OK)
			return rc;
		out->name = strdup(name);
		def->n_commands++;
		if (!out->name)
			return parse_nomem(c);
	}
	return ES_OK;
}

/* FNV-1a 64 over the canonical JSON of {event_type: evolve, ...}. */
static enum es_status rules_hash(json_object *events, char out[AGGDEF_HASH_LEN])
{
	json_object *rules = json_object_new_object();
	struct sbuf b = SBUF_INIT;
	uint64_t h = 0xcbf29ce484222325ULL;
	enum es_status rc = ES_OK;

	if (!rules)
		return ES_ENOMEM;
	json_object_object_foreach(events, type, ev) {
		json_object *evolve = NULL, *personal = NULL, *both;

		if (!json_object_object_get_ex(ev, "evolve", &evolve))
			evolve = NULL;
		evolve = evolve ? json_object_get(evolve) : json_object_new_array();
		/* A snapshot made before a field was declared personal holds it
		 * in clear: declaring personal data changes the hash. Definitions
		 * without any keep the hash they always had. */
		if (json_object_object_get_ex(ev, "personal", &personal) && personal &&
		    (both = json_object_new_object())) {
			json_object_object_add(both, "evolve", evolve);
			json_object_object_add(both, "personal", json_object_get(personal));
			evolve = both;
		}
		json_object_object_add(rules, type, evolve);
	}
	jsoncanon_write(rules, &b);
	if (b.failed) {
		rc = ES_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b.len; i++) {
		h ^= (unsigned char)b.data[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, AGGDEF_HASH_LEN, "%016llx", (unsigned long long)h);
out:
	sbuf_free(&b);
	json_object_put(rules);
	return rc;
}

/* Adds path to def->personal_state (once); *index gets its place. */
static enum es_status add_personal_state(struct parse_ctx *c, struct aggdef *def, const char *path,
					 size_t *index)
{
	char **grown;

	for (size_t i = 0; i < def->n_personal_state; i++)
		if (strcmp(def->personal_state[i], path) == 0) {
			*index = i;
			return ES_OK;
		}
	grown = realloc(def->personal_state, (def->n_personal_state + 1) * sizeof *grown);
	if (!grown)
		return parse_nomem(c);
	def->personal_state = grown;
	grown[def->n_personal_state] = strdup(path);
	if (!grown[def->n_personal_state])
		return parse_nomem(c);
	*index = def->n_personal_state++;
	return ES_OK;
}

/* Notes that field f of ev's decl d fills personal state path i. */
static enum es_status add_feed(struct parse_ctx *c, struct aggdef_event *ev, size_t d, size_t f, size_t i)
{
	struct aggdef_personal_feed *grown;

	for (size_t k = 0; k < ev->n_feeds; k++)
		if (ev->feeds[k].decl == d && ev->feeds[k].field == f && ev->feeds[k].state == i)
			return ES_OK;
	grown = realloc(ev->feeds, (ev->n_feeds + 1) * sizeof *grown);
	if (!grown)
		return parse_nomem(c);
	ev->feeds = grown;
	grown[ev->n_feeds++] = (struct aggdef_personal_feed){ d, f, i };
	return ES_OK;
}

/* Each personal state path's root: the shortest personal state path it
 * lies within. A snapshot seals roots whole (a member inside another is
 * sealed with it). */
static enum es_status find_personal_roots(struct parse_ctx *c, struct aggdef *def)
{
	if (def->n_personal_state == 0)
		return ES_OK;
	def->personal_state_root = calloc(def->n_personal_state, sizeof *def->personal_state_root);
	if (!def->personal_state_root)
		return parse_nomem(c);
	for (size_t i = 0; i < def->n_personal_state; i++) {
		size_t root = i;

		for (size_t j = 0; j < def->n_personal_state; j++)
			if (path_within(def->personal_state[i], def->personal_state[j]) &&
			    strlen(def->personal_state[j]) < strlen(def->personal_state[root]))
				root = j;
		def->personal_state_root[i] = root;
	}
	return ES_OK;
}

/* Where one evolve assignment puts personal field f (dotted, in the
 * payload) in the state: into out, or "" when it does not. */
static enum es_status personal_target(struct parse_ctx *c, const struct aggdef_event *ev,
				      const struct aggdef_step *step, const struct aggdef_assign *a,
				      const char *f, char *out, size_t outlen)
{
	const char *src = a->source.path; /* NULL: the whole payload */
	bool merge = step->op == AGGDEF_OP_MERGE;
	char at[200];

	out[0] = '\0';
	snprintf(at, sizeof at, "/events/%s/evolve", ev->event_type);
	if (!src || path_within(f, src)) {
		const char *rest = src ? f + strlen(src) : f;

		if (*rest == '.')
			rest++;
		if (merge && !*rest)
			return parse_fail(c, at, "merges personal field \"payload.%.80s\" into the state's "
					  "top: copy it to a path instead", f);
		if (merge)
			snprintf(out, outlen, "%s", rest);
		else if (step->op == AGGDEF_OP_COPY && *rest)
			snprintf(out, outlen, "%s.%s", a->target, rest);
		else
			snprintf(out, outlen, "%s", a->target);
	} else if (path_within(src, f)) {
		if (merge)
			return parse_fail(c, at, "merges part of personal field \"payload.%.80s\" into the "
					  "state's top: copy it to a path instead", f);
		snprintf(out, outlen, "%s", a->target);
	}
	return ES_OK;
}

/* The state paths evolve fills from personal fields: they are withheld
 * from state readers without personal:read. */
static enum es_status find_personal_state(struct parse_ctx *c, struct aggdef *def)
{
	for (size_t e = 0; e < def->n_events; e++) {
		struct aggdef_event *ev = &def->events[e];

		for (size_t s = 0; ev->n_personal && s < ev->n_steps; s++)
			for (size_t a = 0; a < ev->steps[s].n_assigns; a++) {
				const struct aggdef_assign *as = &ev->steps[s].assigns[a];

				if (as->source.kind != AGGDEF_SOURCE_PAYLOAD)
					continue;
				for (size_t d = 0; d < ev->n_personal; d++)
					for (size_t f = 0; f < ev->personal[d].n_fields; f++) {
						char target[512];
						enum es_status rc = personal_target(c, ev, &ev->steps[s], as,
										    ev->personal[d].fields[f],
										    target, sizeof target);

						size_t i;

						if (rc == ES_OK && target[0]) {
							rc = add_personal_state(c, def, target, &i);
							if (rc == ES_OK)
								rc = add_feed(c, ev, d, f, i);
						}
						if (rc != ES_OK)
							return rc;
					}
			}
	}
	return find_personal_roots(c, def);
}

static const char *const top_keys[] = {
	"aggregate_type", "schema_version", "snapshot", "events", "commands", NULL
};

enum es_status aggdef_parse(json_object *doc, const char *file, struct aggdef **out,
			    char *err, size_t errlen)
{
	struct parse_ctx c = { file, err, errlen };
	struct aggdef *def;
	json_object *v, *events;
	enum es_status rc;

	*out = NULL;
	if (!json_object_is_type(doc, json_type_object))
		return parse_fail(&c, "", "a definition is a JSON object");
	def = calloc(1, sizeof *def);
	if (!def)
		return parse_nomem(&c);
	def->schema_version = 1;
	def->file = strdup(file);
	if (!def->file) {
		rc = parse_nomem(&c);
		goto out;
	}
	rc = only_known(&c, doc, "", top_keys);
	if (rc != ES_OK)
		goto out;

	if (!json_object_object_get_ex(doc, "aggregate_type", &v) || !json_object_is_type(v, json_type_string) ||
	    !name_valid(json_object_get_string(v), 64)) {
		rc = parse_fail(&c, "/aggregate_type",
				"is required and must match ^[A-Za-z][A-Za-z0-9_.-]{0,63}$");
		goto out;
	}
	def->aggregate_type = strdup(json_object_get_string(v));
	if (!def->aggregate_type) {
		rc = parse_nomem(&c);
		goto out;
	}
	if (json_object_object_get_ex(doc, "schema_version", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
		    json_object_get_int64(v) > 2147483647) {
			rc = parse_fail(&c, "/schema_version", "must be an integer >= 1");
			goto out;
		}
		def->schema_version = (int)json_object_get_int64(v);
	}
	if (json_object_object_get_ex(doc, "snapshot", &v)) {
		rc = parse_snapshot(&c, v, def);
		if (rc != ES_OK)
			goto out;
	}

	if (!json_object_object_get_ex(doc, "events", &events) ||
	    !json_object_is_type(events, json_type_object) || json_object_object_length(events) == 0) {
		rc = parse_fail(&c, "/events", "is required and must be an object naming at least one "
				"event type");
		goto out;
	}
	def->events = calloc((size_t)json_object_object_length(events), sizeof *def->events);
	if (!def->events) {
		rc = parse_nomem(&c);
		goto out;
	}
	json_object_object_foreach(events, type, ev) {
		char *at = jsondoc_pointer_join("/events", type);

		if (!at) {
			rc = parse_nomem(&c);
			goto out;
		}
		rc = parse_event(&c, type, ev, at, def, &def->events[def->n_events]);
		def->n_events++;
		free(at);
		if (rc != ES_OK)
			goto out;
	}
	if (json_object_object_get_ex(doc, "commands", &v)) {
		rc = parse_commands(&c, v, def);
		if (rc != ES_OK)
			goto out;
	}
	rc = find_personal_state(&c, def);
	if (rc != ES_OK)
		goto out;
	rc = rules_hash(events, def->rules_hash);
	if (rc != ES_OK)
		parse_nomem(&c);
out:
	if (rc != ES_OK) {
		aggdef_free(def);
		return rc;
	}
	*out = def;
	return ES_OK;
}

static void event_free(struct aggdef_event *ev)
{
	free(ev->event_type);
	jschema_free(ev->payload);
	for (size_t i = 0; i < ev->n_guards; i++) {
		free(ev->guards[i].name);
		free(ev->guards[i].path);
		json_object_put(ev->guards[i].allowed);
	}
	free(ev->guards);
	for (size_t i = 0; i < ev->n_steps; i++) {
		struct aggdef_step *s = &ev->steps[i];

		for (size_t j = 0; j < s->n_assigns; j++) {
			free(s->assigns[j].target);
			source_free(&s->assigns[j].source);
		}
		free(s->assigns);
		for (size_t j = 0; j < s->n_paths; j++)
			free(s->paths[j]);
		free(s->paths);
	}
	free(ev->steps);
	for (size_t i = 0; i < ev->n_personal; i++)
		personal_decl_clear(&ev->personal[i]);
	free(ev->personal);
	free(ev->feeds);
}

void aggdef_free(struct aggdef *def)
{
	if (!def)
		return;
	for (size_t i = 0; i < def->n_events; i++)
		event_free(&def->events[i]);
	free(def->events);
	for (size_t i = 0; i < def->n_commands; i++)
		free(def->commands[i].name);
	free(def->commands);
	for (size_t i = 0; i < def->n_personal_state; i++)
		free(def->personal_state[i]);
	free(def->personal_state);
	free(def->personal_state_root);
	free(def->aggregate_type);
	free(def->file);
	free(def);
}

const struct aggdef_event *aggdef_event_find(const struct aggdef *def, const char *event_type)
{
	if (!def || !event_type)
		return NULL;
	for (size_t i = 0; i < def->n_events; i++)
		if (def->events[i].event_type && strcmp(def->events[i].event_type, event_type) == 0)
			return &def->events[i];
	return NULL;
}

const struct aggdef_command *aggdef_command_find(const struct aggdef *def, const char *name)
{
	if (!def || !name)
		return NULL;
	for (size_t i = 0; i < def->n_commands; i++)
		if (strcmp(def->commands[i].name, name) == 0)
			return &def->commands[i];
	return NULL;
}

bool aggdef_validate(const struct aggdef *def, const char *event_type, json_object *payload,
		     const char *base, const char *payload_base, struct jschema_violations *out)
{
	const struct aggdef_event *ev = aggdef_event_find(def, event_type);
	bool ok;

	if (!ev) {
		char *at = jsondoc_pointer_join(base, "event_type");

		jschema_violations_add(out, at ? at : base, "%.128s is not an event type of %.64s",
				       event_type, def->aggregate_type);
		free(at);
		return false;
	}
	ok = !ev->payload || jschema_validate(ev->payload, payload, payload_base, out);
	/* Personal data is sealed with its subject's key: it needs a subject. */
	for (size_t d = 0; d < ev->n_personal; d++) {
		char subject[PERSONAL_SUBJECT_MAX + 1], *at;

		if (!ev->personal[d].subject || !personal_has_fields(&ev->personal[d], payload) ||
		    personal_subject(&ev->personal[d], "", payload, subject))
			continue;
		at = personal_pointer(payload_base, ev->personal[d].subject);
		jschema_violations_add(out, at ? at : payload_base, "the personal data in this event needs "
				       "its subject's id here: a non-empty string of at most %d bytes, or an "
				       "integer", PERSONAL_SUBJECT_MAX);
		free(at);
		ok = false;
	}
	return ok;
}
