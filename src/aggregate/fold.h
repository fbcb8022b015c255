/* fold.h - an aggregate's state from its events: the evolve steps of a
 * definition, the RFC 7386 merge-patch fold for types without one, and the
 * `when` guards checked against a state. The state is a JSON object owned
 * by the caller and changed in place. Integers stay integers: inc adds in
 * int64 when both operands are integers (a double only when one is, or on
 * overflow). */
#ifndef EVSTORE_FOLD_H
#define EVSTORE_FOLD_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "aggregate/aggdef.h"
#include "base/error.h"

/* RFC 7386: applies patch to target and returns the result. Takes target
 * (it may be changed in place and returned, or released), borrows patch;
 * the result is a new reference (NULL is JSON null, or out of memory when
 * patch was not null). */
json_object *fold_merge_patch(json_object *target, json_object *patch);

/* Applies ev's evolve steps to state (an object) in order. A source that
 * is absent leaves its target alone; inc treats a missing or non-numeric
 * target as 0; append makes the array when the target is not one; paths
 * create the objects they go through (replacing a non-object on the way).
 * payload and metadata are borrowed (metadata may be NULL). ES_ENOMEM is
 * the only failure; state may then be partly changed. */
enum es_status fold_evolve(const struct aggdef_event *ev, json_object *state, json_object *payload,
			   json_object *metadata) ES_MUST_CHECK;

/* Folds one event into *state: by def's rules when def is not NULL (an
 * event type def does not know leaves the state unchanged), else by merge
 * patch of the payload. *state is an object owned by the caller; it may be
 * replaced. */
enum es_status fold_event(const struct aggdef *def, json_object **state, const char *event_type,
			  json_object *payload, json_object *metadata) ES_MUST_CHECK;

/* Why a guard refused an event. guard borrows the definition's name
 * ("version", "exists", "state.status"). */
struct fold_guard_failure {
	const char *guard;
	char detail[320];
};

/* Checks every guard of ev against the state at version (0: no stream).
 * Returns true when all hold; otherwise fills *why (may be NULL) for the
 * first that fails. Borrows everything. */
bool fold_guards_pass(const struct aggdef_event *ev, json_object *state, int64_t version,
		      struct fold_guard_failure *why);

/* The value at a dotted path inside obj (NULL when absent or JSON null);
 * *found says which. Borrowed from obj. */
json_object *fold_path_get(json_object *obj, const char *path, bool *found);

#endif
