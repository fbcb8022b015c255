/* aggdef.h - aggregate definitions: one JSON file per aggregate type in
 * [aggregates] dir (doc/aggregates.md), loaded and checked once, kept in a
 * registry looked up by aggregate_type. A definition names its event types
 * (payload schema, `when` guards, `evolve` steps), its commands and its
 * snapshot policy. */
#ifndef EVSTORE_AGGDEF_H
#define EVSTORE_AGGDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "base/error.h"
#include "json/jschema.h"
#include "privacy/personal.h"

enum aggdef_guard_kind {
	AGGDEF_GUARD_VERSION,   /* {"version": n}: the stream is at version n */
	AGGDEF_GUARD_EXISTS,    /* {"exists": bool}: the stream has events (or not) */
	AGGDEF_GUARD_STATE      /* {"state.<path>": [allowed values]} */
};

struct aggdef_guard {
	enum aggdef_guard_kind kind;
	char *name;             /* the key as written: "version", "state.status" */
	int64_t version;        /* AGGDEF_GUARD_VERSION */
	bool exists;            /* AGGDEF_GUARD_EXISTS */
	char *path;             /* AGGDEF_GUARD_STATE: the dotted path after "state." */
	json_object *allowed;   /* AGGDEF_GUARD_STATE: an array (own reference) */
};

/* Where an evolve step takes a value from. */
enum aggdef_source_kind {
	AGGDEF_SOURCE_CONST,    /* the JSON value itself */
	AGGDEF_SOURCE_PAYLOAD,  /* "payload" or "payload.<path>" */
	AGGDEF_SOURCE_METADATA  /* "metadata" or "metadata.<path>" */
};

struct aggdef_source {
	enum aggdef_source_kind kind;
	char *path;             /* dotted path inside payload/metadata; NULL: all of it */
	json_object *value;     /* AGGDEF_SOURCE_CONST (own reference; NULL is null) */
};

enum aggdef_op {
	AGGDEF_OP_MERGE,        /* {"merge": source}: RFC 7386 merge into the state */
	AGGDEF_OP_SET,          /* {"set": {path: constant}} */
	AGGDEF_OP_COPY,         /* {"copy": {path: "payload.x"}} */
	AGGDEF_OP_INC,          /* {"inc": {path: number or source}} */
	AGGDEF_OP_APPEND,       /* {"append": {path: source or constant}} */
	AGGDEF_OP_REMOVE        /* {"remove": [path, ...]} */
};

struct aggdef_assign {
	char *target;           /* dotted path in the state */
	struct aggdef_source source;
};

struct aggdef_step {
	enum aggdef_op op;
	struct aggdef_assign *assigns;  /* MERGE: one, with an empty target */
	size_t n_assigns;
	char **paths;                   /* REMOVE */
	size_t n_paths;
};

/* One personal field of an event type that evolve puts into the state:
 * the field personal[decl].fields[field] fills def->personal_state[state]. */
struct aggdef_personal_feed {
	size_t decl;
	size_t field;
	size_t state;
};

struct aggdef_event {
	char *event_type;
	struct jschema *payload;        /* NULL: any object */
	struct aggdef_guard *guards;
	size_t n_guards;
	struct aggdef_step *steps;
	size_t n_steps;
	struct personal_decl *personal;  /* "personal": its data subjects */
	size_t n_personal;
	struct aggdef_personal_feed *feeds; /* where evolve puts its personal fields */
	size_t n_feeds;
};

struct aggdef_command {
	char *name;
	const struct aggdef_event *emits;   /* into the same definition */
};

enum aggdef_snapshot_mode {
	AGGDEF_SNAPSHOT_NONE,       /* no "snapshot" member */
	AGGDEF_SNAPSHOT_SYNC,
	AGGDEF_SNAPSHOT_BACKGROUND,
	AGGDEF_SNAPSHOT_MANUAL
};

#define AGGDEF_HASH_LEN 17  /* 16 hex digits and the NUL */

struct aggdef {
	char *aggregate_type;
	char *file;                     /* where it was loaded from */
	int schema_version;
	enum aggdef_snapshot_mode snapshot_mode;
	int64_t snapshot_threshold;     /* > 0 when a mode is set */
	struct aggdef_event *events;
	size_t n_events;
	struct aggdef_command *commands;
	size_t n_commands;
	bool uses_metadata;             /* an evolve step reads metadata */
	bool has_personal;              /* an event type declares personal data */
	char **personal_state;          /* dotted state paths evolve fills from personal fields */
	size_t n_personal_state;
	size_t *personal_state_root;    /* per personal_state path: the index of the
					   shortest one it lies within (itself or an ancestor) */
	char rules_hash[AGGDEF_HASH_LEN]; /* FNV-1a 64 of the canonical evolve rules */
};

struct aggdef_registry {
	struct aggdef **defs;
	size_t n;
};

/* Builds a definition from a parsed document. file is used in messages
 * only. On ES_EINVAL err holds "file: /json/pointer: reason" (an unknown
 * keyword anywhere, a bad value, a command emitting an unknown event, a bad
 * regular expression, ...). Borrows doc; *out is released with
 * aggdef_free(). */
enum es_status aggdef_parse(json_object *doc, const char *file, struct aggdef **out,
			    char *err, size_t errlen) ES_MUST_CHECK;
void aggdef_free(struct aggdef *def);

/* Loads every "*.json" file of dir, in name order. An empty dir (or NULL)
 * is an empty registry: "no definitions" is said explicitly; a directory
 * that is missing or unreadable is an error. Two files defining one aggregate type is an error.
 * On failure err holds "file: /json/pointer: reason" (or "dir: reason")
 * and *out is NULL; on ES_OK *out is a new registry (aggdef_registry_free). */
enum es_status aggdef_registry_load(const char *dir, struct aggdef_registry **out,
				    char *err, size_t errlen) ES_MUST_CHECK;
void aggdef_registry_free(struct aggdef_registry *reg);

/* [privacy] master_key_file for reg: reads the master key (masterkey.h)
 * when the path is not empty, and refuses a definition that declares
 * personal data without one. previous_master_key_file (NULL or "" for
 * none) is the key being rotated away from, read and checked the same
 * way; it needs master_key_file and must be another key. On ES_OK both
 * keys (or none) are installed as the process's; on failure err says why
 * ("path: reason", or "file: /events/E/personal: ...") and the installed
 * keys are left as they were. reg may be NULL. */
enum es_status aggdef_registry_privacy(const struct aggdef_registry *reg, const char *master_key_file,
				       const char *previous_master_key_file,
				       char *err, size_t errlen) ES_MUST_CHECK;

struct startcheck;
/* The aggregate definitions item of a --check run (base/startcheck.h):
 * loads dir as aggdef_registry_load does and reports how many definitions
 * it holds, or why it cannot be loaded; then the master key item
 * (aggdef_registry_privacy), naming the previous key when there is one. */
void aggdef_registry_report(struct startcheck *c, const char *dir, const char *master_key_file,
			    const char *previous_master_key_file);

/* Lookups; NULL when absent. Everything returned is borrowed from the
 * registry or definition. reg may be NULL. */
const struct aggdef *aggdef_find(const struct aggdef_registry *reg, const char *aggregate_type);
const struct aggdef_event *aggdef_event_find(const struct aggdef *def, const char *event_type);
const struct aggdef_command *aggdef_command_find(const struct aggdef *def, const char *name);

/* Checks one event against def: an unknown event type is a violation at
 * base + "/event_type", a payload not matching its schema one per problem
 * under payload_base. Returns true when valid. Borrows everything. */
bool aggdef_validate(const struct aggdef *def, const char *event_type, json_object *payload,
		     const char *base, const char *payload_base,
		     struct jschema_violations *out);

#endif
