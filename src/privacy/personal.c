/* personal.c - sealing declared fields into envelopes and opening them. */
#include "buildconf.h"
#include "privacy/personal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jsondoc.h"
#include "privacy/cipher.h"

#define AAD_MAX PERSONAL_AAD_MAX

void personal_decl_clear(struct personal_decl *d)
{
	free(d->subject);
	for (size_t i = 0; i < d->n_fields; i++)
		free(d->fields[i]);
	free(d->fields);
	memset(d, 0, sizeof *d);
}

void personal_withheld_clear(struct personal_withheld *w)
{
	json_object_put(w->redacted);
	json_object_put(w->erased);
	w->redacted = w->erased = NULL;
}

static const char *tenant_or_nil(const char *tenant)
{
	return tenant ? tenant : UUIDTEXT_NIL;
}

const char *personal_find_mark(const char *s, size_t n)
{
	const size_t mark = sizeof PERSONAL_ENVELOPE_MARK - 1;
	const char *p = s, *end = s + n, *dollar;

	/* memchr for the '$' (vectorised), then the rest around it */
	while ((dollar = memchr(p, '$', (size_t)(end - p))) != NULL) {
		if (dollar > s && (size_t)(end - dollar + 1) >= mark &&
		    memcmp(dollar - 1, PERSONAL_ENVELOPE_MARK, mark) == 0)
			return dollar - 1;
		p = dollar + 1;
	}
	return NULL;
}

/* The object holding the last segment of a dotted path inside root, and
 * that segment in leaf (FIELD_SEG_MAX bytes); NULL when a step is missing
 * or not an object. */
#define FIELD_SEG_MAX 256
static json_object *path_parent(json_object *root, const char *path, char *leaf)
{
	const char *p = path;

	while (json_object_is_type(root, json_type_object)) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n >= FIELD_SEG_MAX)
			return NULL;
		memcpy(leaf, p, n);
		leaf[n] = '\0';
		if (!dot)
			return root;
		if (!json_object_object_get_ex(root, leaf, &root))
			return NULL;
		p = dot + 1;
	}
	return NULL;
}

static json_object *path_get(json_object *root, const char *path)
{
	char leaf[FIELD_SEG_MAX];
	json_object *parent = path_parent(root, path, leaf), *v = NULL;

	if (!parent || !json_object_object_get_ex(parent, leaf, &v))
		return NULL;
	return v;
}

char *personal_pointer(const char *base, const char *path)
{
	char *ptr = strdup(base);
	const char *p = path;

	while (ptr && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		char *seg = strndup(p, n), *next;

		next = seg ? jsondoc_pointer_join(ptr, seg) : NULL;
		free(seg);
		free(ptr);
		ptr = next;
		p = dot ? dot + 1 : p + n;
	}
	return ptr;
}

bool personal_subject(const struct personal_decl *d, const char *aggregate_id, json_object *payload,
		      char *out)
{
	json_object *v;
	const char *s;

	if (!d->subject) {
		snprintf(out, PERSONAL_SUBJECT_MAX + 1, "%s", aggregate_id);
		return true;
	}
	v = path_get(payload, d->subject);
	if (json_object_is_type(v, json_type_int)) {
		snprintf(out, PERSONAL_SUBJECT_MAX + 1, "%" PRId64, json_object_get_int64(v));
		return true;
	}
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (!*s || strlen(s) > PERSONAL_SUBJECT_MAX)
		return false;
	snprintf(out, PERSONAL_SUBJECT_MAX + 1, "%s", s);
	return true;
}

bool personal_has_fields(const struct personal_decl *d, json_object *payload)
{
	for (size_t i = 0; i < d->n_fields; i++)
		if (path_get(payload, d->fields[i]))
			return true;
	return false;
}

/* Appends n bytes of s and a NUL at *at, within out[0..AAD_MAX). */
static bool aad_put(char *out, size_t *at, const char *s, size_t n)
{
	if (*at + n + 1 > AAD_MAX)
		return false;
	memcpy(out + *at, s, n);
	*at += n;
	out[(*at)++] = '\0';
	return true;
}

/* Built by hand: snprintf cost more than opening the field. */
size_t personal_field_aad(const char *tenant, const char *event_id, int64_t key_id, const char *pointer,
			  char *out)
{
	static const char prefix[] = "evstore field v1";
	char id[24], *d = id + sizeof id;
	uint64_t v = key_id < 0 ? 0 - (uint64_t)key_id : (uint64_t)key_id;
	size_t at = 0;

	do
		*--d = (char)('0' + v % 10);
	while (v /= 10);
	if (key_id < 0)
		*--d = '-';
	tenant = tenant_or_nil(tenant);
	if (!aad_put(out, &at, prefix, sizeof prefix - 1) || !aad_put(out, &at, tenant, strlen(tenant)) ||
	    !aad_put(out, &at, event_id, strlen(event_id)) ||
	    !aad_put(out, &at, d, (size_t)(id + sizeof id - d)) || !aad_put(out, &at, pointer, strlen(pointer)))
		return 0;
	return at - 1; /* without the last NUL, as snprintf counted */
}

/* The AAD of one member of a snapshot's state: its tenant, stream,
 * version, key and pointer (another AAD prefix than a field's, so an
 * event's envelope never opens in a snapshot or the reverse). */
static size_t state_aad(const struct personal_state_ref *ref, int64_t key_id, const char *pointer,
			char *out)
{
	int n = snprintf(out, AAD_MAX, "evstore state v1%c%s%c%s%c%s%c%" PRId64 "%c%" PRId64 "%c%s", 0,
			 tenant_or_nil(ref->tenant), 0, ref->aggregate_type, 0, ref->aggregate_id, 0,
			 ref->version, 0, key_id, 0, pointer);

	return n < 0 || n >= AAD_MAX ? 0 : (size_t)n;
}

static json_object *seal_with_aad(const struct keyring_key *k, const char *aad, size_t aadlen,
				  json_object *value, enum es_status *rc);

/* Seals value (its JSON text) into a new envelope object, or NULL. */
static json_object *seal_value(const struct keyring_key *k, const char *tenant, const char *event_id,
			       const char *pointer, json_object *value, enum es_status *rc)
{
	char aad[AAD_MAX];

	return seal_with_aad(k, aad, personal_field_aad(tenant, event_id, k->key_id, pointer, aad), value, rc);
}

/* Seals value under k with aad (aadlen 0: the AAD did not fit). */
static json_object *seal_with_aad(const struct keyring_key *k, const char *aad, size_t aadlen,
				  json_object *value, enum es_status *rc)
{
	const char *text = json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text), sealed_len = CIPHER_SEALED_LEN(len);
	char prefix[40];
	unsigned char *sealed = malloc(sealed_len);
	char *env = NULL;
	json_object *out = NULL;
	int pn;

	*rc = ES_ENOMEM;
	pn = snprintf(prefix, sizeof prefix, "v1:%" PRId64 ":", k->key_id);
	env = malloc((size_t)pn + CIPHER_B64_LEN(sealed_len) + 1);
	if (!sealed || !env)
		goto out;
	if (!aadlen) {
		*rc = ES_EINVAL; /* a pointer longer than any payload has */
		goto out;
	}
	*rc = cipher_seal(k->dek, aad, aadlen, text, len, sealed);
	if (*rc != ES_OK)
		goto out;
	memcpy(env, prefix, (size_t)pn);
	cipher_b64_encode(sealed, sealed_len, env + pn);
	out = json_object_new_object();
	if (!out || json_object_object_add(out, PERSONAL_ENVELOPE_MEMBER, json_object_new_string(env)) != 0) {
		json_object_put(out);
		out = NULL;
		*rc = ES_ENOMEM;
	}
out:
	free(sealed);
	free(env);
	return out;
}

enum es_status personal_seal(const struct keyring *kr, const char *tenant, const char *event_id,
			     const char *aggregate_id, const struct personal_decl *decls, size_t n,
			     json_object *payload, json_object **out)
{
	json_object *copy = NULL;
	enum es_status rc = ES_OK;

	*out = NULL;
	if (json_object_deep_copy(payload, &copy, NULL) != 0)
		return ES_ENOMEM;
	for (size_t i = 0; i < n && rc == ES_OK; i++) {
		char subject[PERSONAL_SUBJECT_MAX + 1];
		const struct keyring_key *k;

		if (!personal_has_fields(&decls[i], copy))
			continue;
		if (!personal_subject(&decls[i], aggregate_id, payload, subject) ||
		    !(k = keyring_by_subject(kr, tenant, subject))) {
			rc = ES_EINVAL;
			break;
		}
		for (size_t f = 0; f < decls[i].n_fields && rc == ES_OK; f++) {
			char leaf[FIELD_SEG_MAX];
			json_object *parent = path_parent(copy, decls[i].fields[f], leaf), *v, *env;
			char *ptr;

			if (!parent || !json_object_object_get_ex(parent, leaf, &v) || !v)
				continue;
			ptr = personal_pointer("/payload", decls[i].fields[f]);
			env = ptr ? seal_value(k, tenant, event_id, ptr, v, &rc) : NULL;
			if (!ptr)
				rc = ES_ENOMEM;
			if (env && json_object_object_add(parent, leaf, env) != 0) {
				json_object_put(env);
				rc = ES_ENOMEM;
			}
			free(ptr);
		}
	}
	if (rc != ES_OK) {
		json_object_put(copy);
		return rc;
	}
	*out = copy;
	return ES_OK;
}

/* The envelope string of v when v is an envelope, else NULL. */
static const char *envelope_of(json_object *v)
{
	json_object *s;

	if (!json_object_is_type(v, json_type_object) || json_object_object_length(v) != 1 ||
	    !json_object_object_get_ex(v, PERSONAL_ENVELOPE_MEMBER, &s) ||
	    !json_object_is_type(s, json_type_string))
		return NULL;
	return json_object_get_string(s);
}

/* "v1:<key id>:<base64>" (len bytes, not NUL-terminated inside a page):
 * the key id and the base64. */
static bool envelope_parse(const char *env, size_t len, int64_t *key_id, const char **b64,
			   size_t *b64len)
{
	int64_t id = 0;
	size_t i = 3;

	if (len < 5 || strncmp(env, "v1:", 3) != 0 || env[3] < '1' || env[3] > '9')
		return false;
	for (; i < len && env[i] >= '0' && env[i] <= '9'; i++) {
		if (id > (INT64_MAX - (env[i] - '0')) / 10)
			return false;
		id = 10 * id + (env[i] - '0');
	}
	if (i == len || env[i] != ':')
		return false;
	*key_id = id;
	*b64 = env + i + 1;
	*b64len = len - i - 1;
	return true;
}

const char *personal_envelope_key(const struct keyring *kr, const char *tenant, const char *env,
				  size_t len, const struct keyring_key **key, const char **b64,
				  size_t *b64len)
{
	int64_t key_id;

	if (!envelope_parse(env, len, &key_id, b64, b64len))
		return "malformed envelope";
	*key = keyring_by_id(kr, key_id);
	if (!*key)
		return "the envelope's key is missing from the key table";
	if (strcmp((*key)->tenant, tenant_or_nil(tenant)) != 0)
		return "the envelope's key belongs to another tenant";
	return NULL;
}

bool personal_envelope_key_id(const char *env, size_t len, int64_t *key_id)
{
	const char *b64;
	size_t b64len;

	return envelope_parse(env, len, key_id, &b64, &b64len);
}

static enum es_status collect(json_object *v, int64_t **ids, size_t *n, size_t *cap)
{
	const char *env = envelope_of(v);

	if (env) {
		int64_t id;

		if (!personal_envelope_key_id(env, strlen(env), &id))
			return ES_OK; /* personal_open reports it */
		for (size_t i = 0; i < *n; i++)
			if ((*ids)[i] == id)
				return ES_OK;
		if (*n == *cap) {
			size_t c = *cap ? 2 * *cap : 8;
			int64_t *grown = realloc(*ids, c * sizeof *grown);

			if (!grown)
				return ES_ENOMEM;
			*ids = grown;
			*cap = c;
		}
		(*ids)[(*n)++] = id;
		return ES_OK;
	}
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, child) {
			enum es_status rc;

			(void)key;
			rc = collect(child, ids, n, cap);
			if (rc != ES_OK)
				return rc;
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			enum es_status rc = collect(json_object_array_get_idx(v, i), ids, n, cap);

			if (rc != ES_OK)
				return rc;
		}
	}
	return ES_OK;
}

enum es_status personal_key_ids(json_object *doc, int64_t **ids, size_t *n, size_t *cap)
{
	return collect(doc, ids, n, cap);
}

enum es_status personal_unseal(const struct keyring_key *k, const char *aad, size_t aadlen,
			       const char *b64, size_t b64len, unsigned char **plain, size_t *plain_len,
			       const char **why)
{
	unsigned char *sealed;
	long sealed_len;
	enum es_status rc = ES_OK;

	*plain = NULL;
	*plain_len = 0;
	sealed = malloc(3 * (b64len / 4) + 1);
	if (!sealed)
		return ES_ENOMEM;
	sealed_len = cipher_b64_decode(b64, b64len, sealed);
	if (sealed_len < (long)CIPHER_SEALED_LEN(0) || !aadlen) {
		*why = "malformed envelope";
		rc = ES_EINTERNAL;
		goto out;
	}
	*plain_len = (size_t)sealed_len - CIPHER_SEALED_LEN(0);
	*plain = malloc(*plain_len + 1);
	if (!*plain) {
		rc = ES_ENOMEM;
		goto out;
	}
	if (!cipher_open(k->dek, aad, aadlen, sealed, (size_t)sealed_len, *plain)) {
		*why = "the ciphertext fails authentication";
		rc = ES_EINTERNAL;
		goto out;
	}
	(*plain)[*plain_len] = '\0';
out:
	if (rc != ES_OK) {
		personal_plain_free(*plain, *plain_len);
		*plain = NULL;
		*plain_len = 0;
	}
	free(sealed);
	return rc;
}

void personal_plain_free(unsigned char *plain, size_t len)
{
	if (plain) {
		memset(plain, 0, len);
		free(plain);
	}
}

/* personal_unseal, and the plaintext parsed into *value (a new reference;
 * NULL is null). ES_EINTERNAL with *why set when the plaintext is not
 * JSON either. *tok is made on first use; the caller frees it. */
static enum es_status unseal_json(const struct keyring_key *k, const char *aad, size_t aadlen,
				  const char *b64, size_t b64len, json_tokener **tok, json_object **value,
				  const char **why)
{
	unsigned char *plain;
	size_t plain_len;
	enum es_status rc;

	*value = NULL;
	rc = personal_unseal(k, aad, aadlen, b64, b64len, &plain, &plain_len, why);
	if (rc != ES_OK)
		return rc;
	if (!*tok && !(*tok = json_tokener_new_ex(PERSONAL_PARSE_DEPTH))) {
		rc = ES_ENOMEM;
		goto out;
	}
	json_tokener_reset(*tok);
	/* with its NUL: json-c takes a number or literal that ends the input
	 * for an unfinished one (a sealed 42 or true would not open) */
	*value = json_tokener_parse_ex(*tok, (const char *)plain, (int)plain_len + 1);
	if (json_tokener_get_error(*tok) != json_tokener_success) {
		json_object_put(*value);
		*value = NULL;
		*why = "the plaintext is not JSON";
		rc = ES_EINTERNAL;
	}
out:
	personal_plain_free(plain, plain_len);
	return rc;
}

bool personal_value_key(json_object *v, int64_t *key_id)
{
	const char *env = envelope_of(v);

	return env && personal_envelope_key_id(env, strlen(env), key_id);
}

bool personal_field_key(json_object *doc, const char *path, int64_t *key_id)
{
	return personal_value_key(path_get(doc, path), key_id);
}

enum es_status personal_seal_state(const struct keyring_key *k, const struct personal_state_ref *ref,
				   const char *pointer, json_object *value, json_object **out)
{
	char aad[AAD_MAX];
	enum es_status rc;

	*out = seal_with_aad(k, aad, state_aad(ref, k->key_id, pointer, aad), value, &rc);
	return *out ? ES_OK : rc;
}

enum es_status personal_open_state(const struct keyring *kr, const struct personal_state_ref *ref,
				   const char *pointer, json_object *envelope, json_object **value,
				   bool *erased, char *err, size_t errlen)
{
	const char *env = envelope_of(envelope), *b64, *why;
	const struct keyring_key *k = NULL;
	json_tokener *tok = NULL;
	char aad[AAD_MAX];
	size_t b64len;
	enum es_status rc;

	*value = NULL;
	*erased = false;
	why = env ? personal_envelope_key(kr, ref->tenant, env, strlen(env), &k, &b64, &b64len)
		  : "malformed envelope";
	if (why) {
		snprintf(err, errlen, "%s", why);
		return ES_EINTERNAL;
	}
	if (k->erased) {
		*erased = true;
		return ES_OK;
	}
	rc = unseal_json(k, aad, state_aad(ref, k->key_id, pointer, aad), b64, b64len, &tok, value, &why);
	if (rc == ES_EINTERNAL)
		snprintf(err, errlen, "%s", why);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

struct open_ctx {
	const struct keyring *kr;
	const char *tenant;
	const char *event_id;
	enum personal_view view;
	struct personal_withheld *w;
	json_tokener *tok;
	char *err;
	size_t errlen;
};

static enum es_status open_fail(struct open_ctx *c, const char *pointer, const char *why)
{
	snprintf(c->err, c->errlen, "event %s: %s: %s", c->event_id, pointer, why);
	return ES_EINTERNAL;
}

static enum es_status withhold(json_object **list, const char *pointer)
{
	if (!*list && !(*list = json_object_new_array()))
		return ES_ENOMEM;
	return json_object_array_add(*list, json_object_new_string(pointer)) == 0 ? ES_OK : ES_ENOMEM;
}

static enum es_status open_value(struct open_ctx *c, json_object *v, const char *pointer,
				 json_object **replace, bool *replaced);

/* Opens one envelope into *replace. */
static enum es_status open_envelope(struct open_ctx *c, const char *env, const char *pointer,
				    json_object **replace)
{
	const struct keyring_key *k;
	char aad[AAD_MAX];
	const char *b64, *why;
	size_t b64len;
	enum es_status rc;
	json_object *value, *inner = NULL;
	bool inner_replaced = false;

	*replace = NULL;
	why = personal_envelope_key(c->kr, c->tenant, env, strlen(env), &k, &b64, &b64len);
	if (why)
		return open_fail(c, pointer, why);
	if (k->erased)
		return withhold(&c->w->erased, pointer);
	if (c->view == PERSONAL_REDACTED)
		return withhold(&c->w->redacted, pointer);
	rc = unseal_json(k, aad, personal_field_aad(c->tenant, c->event_id, k->key_id, pointer, aad), b64,
			 b64len, &c->tok, &value, &why);
	if (rc == ES_EINTERNAL)
		return open_fail(c, pointer, why);
	if (rc != ES_OK)
		return rc;
	/* A declared field inside another declared field was sealed first. */
	rc = open_value(c, value, pointer, &inner, &inner_replaced);
	if (rc != ES_OK) {
		json_object_put(value);
		return rc;
	}
	if (inner_replaced) {
		json_object_put(value);
		value = inner;
	}
	*replace = value;
	return ES_OK;
}

/* Opens the envelopes inside v; when v itself is one, *replaced is set and
 * *replace is its value (a new reference; NULL is null). */
static enum es_status open_value(struct open_ctx *c, json_object *v, const char *pointer,
				 json_object **replace, bool *replaced)
{
	const char *env = envelope_of(v);
	enum es_status rc = ES_OK;

	*replaced = false;
	if (env) {
		*replaced = true;
		return open_envelope(c, env, pointer, replace);
	}
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, child) {
			char *p = jsondoc_pointer_join(pointer, key);
			json_object *nv = NULL;
			bool r = false;

			if (!p)
				return ES_ENOMEM;
			rc = open_value(c, child, p, &nv, &r);
			free(p);
			if (rc == ES_OK && r && json_object_object_add(v, key, nv) != 0) {
				json_object_put(nv);
				rc = ES_ENOMEM;
			}
			if (rc != ES_OK)
				return rc;
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			char idx[24], *p;
			json_object *nv = NULL;
			bool r = false;

			snprintf(idx, sizeof idx, "%zu", i);
			p = jsondoc_pointer_join(pointer, idx);
			if (!p)
				return ES_ENOMEM;
			rc = open_value(c, json_object_array_get_idx(v, i), p, &nv, &r);
			free(p);
			if (rc == ES_OK && r && json_object_array_put_idx(v, i, nv) != 0) {
				json_object_put(nv);
				rc = ES_ENOMEM;
			}
			if (rc != ES_OK)
				return rc;
		}
	}
	return rc;
}

enum es_status personal_open(const struct keyring *kr, const char *tenant, const char *event_id,
			     const char *base, json_object **doc, enum personal_view view,
			     struct personal_withheld *w, char *err, size_t errlen)
{
	struct open_ctx c = { kr, tenant, event_id, view, w, NULL, err, errlen };
	json_object *nv = NULL;
	bool replaced = false;
	enum es_status rc;

	rc = open_value(&c, *doc, base, &nv, &replaced);
	if (c.tok)
		json_tokener_free(c.tok);
	if (rc == ES_OK && replaced) {
		json_object_put(*doc);
		*doc = nv;
	}
	return rc;
}
