/* personal.h - personal data inside event payloads: the declarations an
 * aggregate definition makes ("personal": subject and fields), sealing
 * the declared fields of an event into envelopes on append, and opening
 * the envelopes of a stored document on read.
 *
 * An envelope replaces a declared field's value by
 *	{"$enc": "v1:<key id>:<base64 of nonce, ciphertext, tag>"}
 * sealed with the subject's key (keyring.h) over the value's JSON text,
 * with an AAD binding the tenant, the event id, the key id and the field's
 * JSON pointer ("/payload/email"): copied to another event, field or
 * tenant, an envelope fails authentication. Documents without envelopes
 * are never parsed for them on read. */
#ifndef EVSTORE_PERSONAL_H
#define EVSTORE_PERSONAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "base/error.h"
#include "privacy/keyring.h"

/* A data subject's id is at most this many bytes. */
#define PERSONAL_SUBJECT_MAX 256

/* The member name that marks an envelope, as it appears in stored JSON
 * text: a document whose text lacks it holds none. */
#define PERSONAL_ENVELOPE_MEMBER "$enc"
#define PERSONAL_ENVELOPE_MARK "\"$enc\""

/* Where PERSONAL_ENVELOPE_MARK first appears in s[0..n), or NULL. Faster
 * than memmem on pages without envelopes, since '$' is rare in JSON. */
const char *personal_find_mark(const char *s, size_t n);

/* One data subject of an event type. Paths are dotted, inside the
 * payload (without "payload."). */
struct personal_decl {
	char *subject;          /* NULL: the event's aggregate id */
	char **fields;
	size_t n_fields;
};

void personal_decl_clear(struct personal_decl *d);

/* The subject of d in one event, as text in out (PERSONAL_SUBJECT_MAX + 1
 * bytes): the aggregate id, or the payload's value at the subject path (a
 * string, or an integer). false when it is absent, null, of another type,
 * empty or too long: the event cannot be sealed. */
bool personal_subject(const struct personal_decl *d, const char *aggregate_id, json_object *payload,
		      char *out);

/* The JSON pointer of a dotted path under base ("/payload" and "a.b":
 * "/payload/a/b"); malloc'd, NULL when out of memory. */
char *personal_pointer(const char *base, const char *path);

/* True when payload holds a value (not null) at one of d's fields. */
bool personal_has_fields(const struct personal_decl *d, json_object *payload);

/* Returns in *out a new payload: a copy of payload with every declared
 * field present (not null) replaced by its envelope, sealed with the key
 * of its subject in kr (keyring_take made them). tenant NULL is no
 * tenant. ES_EINVAL when a subject's key is missing from kr. Borrows
 * everything. */
enum es_status personal_seal(const struct keyring *kr, const char *tenant, const char *event_id,
			     const char *aggregate_id, const struct personal_decl *decls, size_t n,
			     json_object *payload, json_object **out) ES_MUST_CHECK;

/* Appends to ids (a growing array, *n entries, *cap allocated) the key id
 * of every envelope in doc. ES_ENOMEM only. */
enum es_status personal_key_ids(json_object *doc, int64_t **ids, size_t *n, size_t *cap) ES_MUST_CHECK;

/* Where a member of a snapshot's state was sealed: the envelope's AAD
 * binds tenant (NULL: none), aggregate type and id, the snapshot's
 * version, the key id and the member's JSON pointer ("/state/email"), so
 * a sealed member moved to another snapshot, stream, version or member
 * fails authentication. */
struct personal_state_ref {
	const char *tenant;
	const char *aggregate_type;
	const char *aggregate_id;
	int64_t version;
};

/* True when v is an envelope; *key_id gets the key it names. */
bool personal_value_key(json_object *v, int64_t *key_id);

/* True when doc holds an envelope at dotted path; *key_id gets its key. */
bool personal_field_key(json_object *doc, const char *path, int64_t *key_id);

/* Seals value (a state member, at pointer) with k into a new envelope
 * in *out. Borrows everything. */
enum es_status personal_seal_state(const struct keyring_key *k, const struct personal_state_ref *ref,
				   const char *pointer, json_object *value,
				   json_object **out) ES_MUST_CHECK;

/* Opens envelope, a member of a snapshot's state sealed at pointer by
 * personal_seal_state, with the keys of kr (keyring_fetch): ES_OK with
 * *value its plaintext (a new reference; NULL is null), or with *erased
 * set when its key is destroyed. ES_EINTERNAL with err saying why (never
 * any plaintext) when it is malformed, names a key kr lacks or of another
 * tenant, or fails authentication. */
enum es_status personal_open_state(const struct keyring *kr, const struct personal_state_ref *ref,
				   const char *pointer, json_object *envelope, json_object **value,
				   bool *erased, char *err, size_t errlen) ES_MUST_CHECK;

/* Stored documents nest at most this deep (as aggregate.c parses them). */
#define PERSONAL_PARSE_DEPTH 1024
/* The AAD's fixed parts and a pointer of reasonable length. */
#define PERSONAL_AAD_MAX 1400

/* The AAD of an event's field: its tenant (NULL: none), event, key and
 * pointer, in out (PERSONAL_AAD_MAX bytes). 0 when it does not fit. */
size_t personal_field_aad(const char *tenant, const char *event_id, int64_t key_id, const char *pointer,
			  char *out);

/* The key id an envelope string env[0..len) ("v1:<key id>:<base64>")
 * names; false when it is malformed. */
bool personal_envelope_key_id(const char *env, size_t len, int64_t *key_id);

/* The key in kr that opens envelope string env[0..len) for tenant (NULL:
 * none) in *key, and its base64 in *b64 and *b64len: NULL, or why it
 * cannot be opened (malformed, a key kr lacks, another tenant's key). */
const char *personal_envelope_key(const struct keyring *kr, const char *tenant, const char *env,
				  size_t len, const struct keyring_key **key, const char **b64,
				  size_t *b64len);

/* Decrypts the base64 b64[0..b64len) sealed under k (live) with aad
 * (aadlen 0: the AAD did not fit) into *plain, *plain_len bytes and a NUL
 * (malloc'd; release with personal_plain_free). ES_EINTERNAL with *why
 * set ("malformed envelope", "the ciphertext fails authentication", never
 * any plaintext) when it does not open. */
enum es_status personal_unseal(const struct keyring_key *k, const char *aad, size_t aadlen,
			       const char *b64, size_t b64len, unsigned char **plain, size_t *plain_len,
			       const char **why) ES_MUST_CHECK;

/* Wipes and frees what personal_unseal made (NULL is nothing). */
void personal_plain_free(unsigned char *plain, size_t len);

/* How envelopes are opened. */
enum personal_view {
	PERSONAL_CLEAR,         /* the plaintext (personal:read, folds, handlers) */
	PERSONAL_REDACTED       /* null */
};

/* What opening withheld: arrays of JSON pointers (new references, or NULL
 * when nothing was withheld). */
struct personal_withheld {
	json_object *redacted;
	json_object *erased;
};

void personal_withheld_clear(struct personal_withheld *w);

/* Replaces every envelope inside doc (the document at pointer base of
 * event event_id of tenant) in place: by null for an erased key (pointer
 * added to w->erased), by null for PERSONAL_REDACTED (w->redacted), by
 * the plaintext for PERSONAL_CLEAR. kr must hold the keys
 * (keyring_fetch). An envelope that is malformed, names a key kr lacks
 * or belonging to another tenant, or fails authentication, is
 * ES_EINTERNAL with err "event <id>: <pointer>: <why>" (never any
 * plaintext); doc is then partly opened and must be dropped. *doc may be
 * replaced (when it is itself an envelope). */
enum es_status personal_open(const struct keyring *kr, const char *tenant, const char *event_id,
			     const char *base, json_object **doc, enum personal_view view,
			     struct personal_withheld *w, char *err, size_t errlen) ES_MUST_CHECK;

#endif
