/* fold.c - evolve steps, merge patch and guards over a JSON state. */
#include "buildconf.h"
#include "aggregate/fold.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jschema.h"
#include "json/jsondoc.h"

#define FOLD_MAX_PATH 512

/* A deep copy of v (a new reference); NULL for JSON null or out of memory. */
static json_object *copy_value(json_object *v)
{
	json_object *out = NULL;

	/* scalars directly: json_object_deep_copy's generic walk costs more
	 * than the rest of a fold step */
	switch (json_object_get_type(v)) {
	case json_type_null:
		return NULL;
	case json_type_string:
		return json_object_new_string_len(json_object_get_string(v), json_object_get_string_len(v));
	case json_type_int:
		return json_object_new_int64(json_object_get_int64(v));
	case json_type_boolean:
		return json_object_new_boolean(json_object_get_boolean(v));
	default:
		break;
	}
	if (json_object_deep_copy(v, &out, NULL) != 0)
		return NULL;
	return out;
}

json_object *fold_merge_patch(json_object *target, json_object *patch)
{
	if (!json_object_is_type(patch, json_type_object)) {
		json_object_put(target);
		return copy_value(patch);
	}
	if (!json_object_is_type(target, json_type_object)) {
		json_object_put(target);
		target = json_object_new_object();
		if (!target)
			return NULL;
	}
	json_object_object_foreach(patch, key, v) {
		json_object *old = NULL, *merged;

		if (!v) {
			json_object_object_del(target, key);
			continue;
		}
		if (json_object_object_get_ex(target, key, &old))
			json_object_get(old);
		merged = fold_merge_patch(old, v);
		if (!merged || json_object_object_add(target, key, merged) != 0) {
			json_object_put(merged);
			json_object_put(target);
			return NULL;
		}
	}
	return target;
}

json_object *fold_path_get(json_object *obj, const char *path, bool *found)
{
	char seg[FOLD_MAX_PATH];
	const char *p = path;

	*found = false;
	while (obj) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		json_object *next;

		if (n >= sizeof seg || !json_object_is_type(obj, json_type_object))
			return NULL;
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (!json_object_object_get_ex(obj, seg, &next))
			return NULL;
		if (!dot) {
			*found = true;
			return next;
		}
		obj = next;
		p = dot + 1;
	}
	return NULL;
}

/* The object that holds the last segment of path, created on the way when
 * create is set; the last segment is written to leaf. NULL when absent (or
 * out of memory when creating). */
static json_object *path_parent(json_object *root, const char *path, bool create,
				char leaf[FOLD_MAX_PATH])
{
	json_object *obj = root;
	const char *p = path;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		json_object *next = NULL;

		if (n >= FOLD_MAX_PATH)
			return NULL;
		memcpy(leaf, p, n);
		leaf[n] = '\0';
		if (!dot)
			return obj;
		if (!json_object_object_get_ex(obj, leaf, &next) || !json_object_is_type(next, json_type_object)) {
			if (!create)
				return NULL;
			next = json_object_new_object();
			if (!next || json_object_object_add(obj, leaf, next) != 0) {
				json_object_put(next);
				return NULL;
			}
		}
		obj = next;
		p = dot + 1;
	}
}

/* The value a source names, borrowed; *found false when absent. */
static json_object *source_value(const struct aggdef_source *src, json_object *payload,
				 json_object *metadata, bool *found)
{
	json_object *root;

	switch (src->kind) {
	case AGGDEF_SOURCE_CONST:
		*found = true;
		return src->value;
	case AGGDEF_SOURCE_PAYLOAD:
		root = payload;
		break;
	default:
		root = metadata;
		break;
	}
	if (!src->path) {
		*found = root != NULL;
		return root;
	}
	return fold_path_get(root, src->path, found);
}

/* Sets path in state to value (taken, even on failure). */
static enum es_status path_set(json_object *state, const char *path, json_object *value)
{
	char leaf[FOLD_MAX_PATH];
	json_object *parent = path_parent(state, path, true, leaf);

	if (!parent || json_object_object_add(parent, leaf, value) != 0) {
		json_object_put(value);
		return ES_ENOMEM;
	}
	return ES_OK;
}

static bool is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

static enum es_status step_inc(json_object *state, const char *path, json_object *by)
{
	char leaf[FOLD_MAX_PATH];
	json_object *parent = path_parent(state, path, true, leaf);
	json_object *cur = NULL, *sum;

	if (!parent)
		return ES_ENOMEM;
	if (!json_object_object_get_ex(parent, leaf, &cur) || !is_number(cur))
		cur = NULL;
	if ((!cur || json_object_is_type(cur, json_type_int)) && json_object_is_type(by, json_type_int)) {
		int64_t a = cur ? json_object_get_int64(cur) : 0, b = json_object_get_int64(by), r;

		if (!__builtin_add_overflow(a, b, &r)) {
			/* every value in a state belongs to it alone (values
			 * are copied in), so the number changes in place */
			if (cur)
				return json_object_set_int64(cur, r) ? ES_OK : ES_ENOMEM;
			sum = json_object_new_int64(r);
			return sum ? path_set(state, path, sum) : ES_ENOMEM;
		}
	}
	sum = json_object_new_double((cur ? json_object_get_double(cur) : 0.0) + json_object_get_double(by));
	return sum ? path_set(state, path, sum) : ES_ENOMEM;
}

static enum es_status step_append(json_object *state, const char *path, json_object *value)
{
	char leaf[FOLD_MAX_PATH];
	json_object *parent = path_parent(state, path, true, leaf);
	json_object *arr = NULL, *copy = NULL;

	if (!parent)
		return ES_ENOMEM;
	if (!json_object_object_get_ex(parent, leaf, &arr) || !json_object_is_type(arr, json_type_array)) {
		arr = json_object_new_array();
		if (!arr || json_object_object_add(parent, leaf, arr) != 0) {
			json_object_put(arr);
			return ES_ENOMEM;
		}
	}
	if (value && !(copy = copy_value(value)))
		return ES_ENOMEM;
	if (json_object_array_add(arr, copy) != 0) {
		json_object_put(copy);
		return ES_ENOMEM;
	}
	return ES_OK;
}

static enum es_status step_apply(const struct aggdef_step *step, json_object *state,
				 json_object *payload, json_object *metadata)
{
	enum es_status rc = ES_OK;

	if (step->op == AGGDEF_OP_REMOVE) {
		for (size_t i = 0; i < step->n_paths; i++) {
			char leaf[FOLD_MAX_PATH];
			json_object *parent = path_parent(state, step->paths[i], false, leaf);

			if (parent)
				json_object_object_del(parent, leaf);
		}
		return ES_OK;
	}
	for (size_t i = 0; i < step->n_assigns && rc == ES_OK; i++) {
		const struct aggdef_assign *a = &step->assigns[i];
		bool found;
		json_object *v = source_value(&a->source, payload, metadata, &found);
		json_object *copy;

		if (!found)
			continue;
		switch (step->op) {
		case AGGDEF_OP_MERGE:
			if (json_object_is_type(v, json_type_object)) {
				/* state stays the same object: merging an object
				 * into an object works in place */
				json_object_get(state);
				copy = fold_merge_patch(state, v);
				if (!copy)
					return ES_ENOMEM;
				json_object_put(copy);
			}
			break;
		case AGGDEF_OP_SET:
		case AGGDEF_OP_COPY:
			copy = copy_value(v);
			if (v && !copy)
				return ES_ENOMEM;
			rc = path_set(state, a->target, copy);
			break;
		case AGGDEF_OP_INC:
			if (is_number(v))
				rc = step_inc(state, a->target, v);
			break;
		case AGGDEF_OP_APPEND:
			rc = step_append(state, a->target, v);
			break;
		default:
			break;
		}
	}
	return rc;
}

enum es_status fold_evolve(const struct aggdef_event *ev, json_object *state, json_object *payload,
			   json_object *metadata)
{
	for (size_t i = 0; i < ev->n_steps; i++) {
		enum es_status rc = step_apply(&ev->steps[i], state, payload, metadata);

		if (rc != ES_OK)
			return rc;
	}
	return ES_OK;
}

enum es_status fold_event(const struct aggdef *def, json_object **state, const char *event_type,
			  json_object *payload, json_object *metadata)
{
	const struct aggdef_event *ev;

	if (!def) {
		json_object *next = fold_merge_patch(*state, payload);

		if (!json_object_is_type(next, json_type_object)) {
			/* a payload is always an object; only memory can fail */
			json_object_put(next);
			*state = json_object_new_object();
			return ES_ENOMEM;
		}
		*state = next;
		return ES_OK;
	}
	ev = aggdef_event_find(def, event_type);
	if (!ev)
		return ES_OK;
	return fold_evolve(ev, *state, payload, metadata);
}

bool fold_guards_pass(const struct aggdef_event *ev, json_object *state, int64_t version,
		      struct fold_guard_failure *why)
{
	for (size_t i = 0; i < ev->n_guards; i++) {
		const struct aggdef_guard *g = &ev->guards[i];
		json_object *v;
		bool found;
		size_t n;

		switch (g->kind) {
		case AGGDEF_GUARD_VERSION:
			if (version == g->version)
				continue;
			if (why)
				snprintf(why->detail, sizeof why->detail,
					 g->version == 0 ? "%s needs a new stream; this one is at version %" PRId64
							 : "%s needs the stream at version %" PRId64 "; it is at %" PRId64,
					 ev->event_type, g->version == 0 ? version : g->version, version);
			break;
		case AGGDEF_GUARD_EXISTS:
			if ((version > 0) == g->exists)
				continue;
			if (why)
				snprintf(why->detail, sizeof why->detail, "%s needs %s", ev->event_type,
					 g->exists ? "an existing stream" : "a new stream");
			break;
		case AGGDEF_GUARD_STATE:
			v = fold_path_get(state, g->path, &found);
			n = json_object_array_length(g->allowed);
			for (size_t j = 0; j < n; j++)
				if (jschema_equal(v, json_object_array_get_idx(g->allowed, j)))
					goto next;
			if (why)
				snprintf(why->detail, sizeof why->detail, "%s needs %s in %.120s; it is %.120s",
					 ev->event_type, g->name, jsondoc_compact(g->allowed),
					 found ? (v ? jsondoc_compact(v) : "null") : "absent");
			break;
		}
		if (why)
			why->guard = g->name;
		return false;
next:;
	}
	return true;
}
