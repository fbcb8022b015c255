/* auth.c - bearer token verification.
 *
 * libjwt 1.10 only checks signatures, and does so for whatever algorithm the
 * token names. Everything else happens here: the token is split and its
 * header read with our own bounded decoder before libjwt sees it, so the
 * pinned algorithm and the key id are decided by us; after the signature
 * check the claims are re-read with json-c and checked one by one.
 * Nothing in this file logs: tokens and claims never reach a log line. */
#include "buildconf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>
#include <json-c/json.h>

#include "auth/auth.h"
#include "auth/base64.h"
#include "auth/keys.h"
#include "base/config.h"
#include "json/jsondoc.h"
#include "base/uuidtext.h"

#define AUTH_MAX_TOKEN 8192             /* bytes of token text, doc/authentication.md */
#define AUTH_MAX_SEGMENT (AUTH_MAX_TOKEN / 4 * 3)
#define AUTH_HEADER_DEPTH 8
#define AUTH_CLAIMS_DEPTH 32

static bool is_set(const char *s)
{
	return s && *s;
}

/* Finds the token in an Authorization value: "Bearer" in any case, one or
 * more spaces, then the token (trailing blanks dropped). Borrows from
 * header. */
bool auth_bearer_token(const char *header, const char **tok, size_t *len)
{
	const char *p;
	size_t n;

	if (!header || strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
		return false;
	p = header + 6;
	while (*p == ' ')
		p++;
	n = strnlen(p, AUTH_MAX_TOKEN + 64);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return false;
	*tok = p;
	*len = n;
	return true;
}

struct token_parts {
	const char *header, *payload, *signature;
	size_t header_len, payload_len, signature_len;
};

/* Splits header.payload.signature; every character must be base64url. The
 * signature may be empty here (alg "none" is refused by name later). */
static bool token_split(const char *tok, size_t len, struct token_parts *p)
{
	const char *seg[3];
	size_t seglen[3], n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && tok[i] != '.') {
			if (!base64_digit((unsigned char)tok[i], BASE64_URL))
				return false;
			continue;
		}
		if (n == 3)
			return false;
		seg[n] = tok + start;
		seglen[n] = i - start;
		n++;
		start = i + 1;
	}
	if (n != 3 || seglen[0] == 0 || seglen[1] == 0)
		return false;
	p->header = seg[0];
	p->header_len = seglen[0];
	p->payload = seg[1];
	p->payload_len = seglen[1];
	p->signature = seg[2];
	p->signature_len = seglen[2];
	return true;
}

/* Decodes one segment and parses it strictly as a JSON object: a key
 * given twice is refused (json-c and libjwt's jansson would keep the last,
 * so {"scope":"events:read","scope":"admin"} would mean admin). Returns a
 * new reference, or NULL with *why "malformed token" or dup_why. */
static json_object *segment_object(const char *seg, size_t len, int depth, const char *dup_why,
				   const char **why)
{
	unsigned char buf[AUTH_MAX_SEGMENT];
	char perr[128];
	size_t n;
	json_object *obj = NULL;

	*why = "malformed token";
	if (!base64_decode(seg, len, BASE64_URL, buf, sizeof buf, &n))
		return NULL;
	if (jsondoc_parse_strict((const char *)buf, n, depth, &obj, perr, sizeof perr) != ES_OK) {
		if (jsondoc_err_is_duplicate(perr))
			*why = dup_why;
		return NULL;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return NULL;
	}
	*why = NULL;
	return obj;
}

/* True when v is the JSON string want, byte for byte (no NUL tricks). */
static bool string_is(json_object *v, const char *want)
{
	return json_object_is_type(v, json_type_string) &&
	       (size_t)json_object_get_string_len(v) == strlen(want) &&
	       strcmp(json_object_get_string(v), want) == 0;
}

/* Reads the token header before any signature work: the algorithm must be
 * the pinned one by name, typ (if any) JWT, no crit extensions, and with
 * keys_dir the kid picks the key. On success *key borrows from keys. */
static bool header_check(const struct auth_keys *keys, const struct token_parts *parts,
			 const struct auth_key **key, const char **why)
{
	json_object *hdr = segment_object(parts->header, parts->header_len, AUTH_HEADER_DEPTH,
					  "duplicate header parameter", why);
	json_object *v;
	bool has_kid;

	*key = NULL;
	if (!hdr)
		goto out;
	if (!json_object_object_get_ex(hdr, "alg", &v) || !string_is(v, auth_keys_algorithm(keys))) {
		*why = "algorithm not allowed";
		goto out;
	}
	if (json_object_object_get_ex(hdr, "typ", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     strcasecmp(json_object_get_string(v), "JWT") != 0)) {
		*why = "unsupported token type";
		goto out;
	}
	if (json_object_object_get_ex(hdr, "crit", NULL)) {
		*why = "unsupported critical header";
		goto out;
	}
	if (parts->signature_len == 0) {
		*why = "malformed token";
		goto out;
	}
	has_kid = json_object_object_get_ex(hdr, "kid", &v);
	if (has_kid && json_object_is_type(v, json_type_string))
		*key = auth_keys_select(keys, true, json_object_get_string(v),
					(size_t)json_object_get_string_len(v), why);
	else
		*key = auth_keys_select(keys, has_kid, NULL, 0, why);
out:
	json_object_put(hdr);
	return *key != NULL;
}

/* Reads an integer-valued time claim: 0 absent, 1 found (*val set), -1
 * present but not an integer (a string, a fraction, a boolean, null). */
static int claim_time(json_object *claims, const char *name, int64_t *val)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*val = json_object_get_int64(v);
	return 1;
}

/* exp (required), nbf and iat from the claims into *t: false with *why
 * when one is missing or of the wrong type. */
static bool claim_times(json_object *claims, struct auth_times *t, const char **why)
{
	int r;

	memset(t, 0, sizeof *t);
	r = claim_time(claims, "exp", &t->exp);
	if (r == 0) {
		*why = "missing exp claim";
		return false;
	}
	if (r < 0) {
		*why = "exp claim is not an integer";
		return false;
	}
	r = claim_time(claims, "nbf", &t->nbf);
	if (r < 0) {
		*why = "nbf claim is not an integer";
		return false;
	}
	t->has_nbf = r > 0;
	r = claim_time(claims, "iat", &t->iat);
	if (r < 0) {
		*why = "iat claim is not an integer";
		return false;
	}
	t->has_iat = r > 0;
	return true;
}

/* The times against now, with [jwt] leeway seconds of skew; max_lifetime
 * > 0 also bounds how far exp may lie ahead of now (not of iat, which the
 * issuer chooses and may omit): a leaked token stays usable at most that
 * long from any moment. */
bool auth_times_check(const struct auth_times *times, const struct es_config *cfg, time_t now,
		      const char **why)
{
	int leeway = cfg->jwt.leeway > 0 ? cfg->jwt.leeway : 0;
	int64_t t = (int64_t)now;

	if (times->has_nbf && times->nbf > t + leeway) {
		*why = "token not yet valid";
		return false;
	}
	if (times->has_iat && times->iat > t + leeway) {
		*why = "issued in the future";
		return false;
	}
	/* RFC 7519: the current time must be before exp. */
	if (t - leeway >= times->exp) {
		*why = "token expired";
		return false;
	}
	if (cfg->jwt.max_lifetime > 0 && times->exp > t + cfg->jwt.max_lifetime + leeway) {
		*why = "exp too far in the future";
		return false;
	}
	return true;
}

static bool claim_iss_aud_check(json_object *claims, const struct es_config *cfg, const char **why)
{
	json_object *v;

	if (is_set(cfg->jwt.issuer) &&
	    (!json_object_object_get_ex(claims, "iss", &v) || !string_is(v, cfg->jwt.issuer))) {
		*why = "wrong issuer";
		return false;
	}
	if (is_set(cfg->jwt.audience)) {
		bool found = false;
		if (json_object_object_get_ex(claims, "aud", &v)) {
			if (json_object_is_type(v, json_type_array)) {
				size_t n = json_object_array_length(v);
				for (size_t i = 0; i < n && !found; i++)
					found = string_is(json_object_array_get_idx(v, i), cfg->jwt.audience);
			} else {
				found = string_is(v, cfg->jwt.audience);
			}
		}
		if (!found) {
			*why = "wrong audience";
			return false;
		}
	}
	return true;
}

/* A claim that must be a string without NUL bytes; NULL otherwise. */
static const char *plain_string(json_object *v)
{
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	if ((size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v)))
		return NULL;
	return json_object_get_string(v);
}

/* sub, scope/scp and the tenant claim into out. */
static enum auth_result claim_principal(json_object *claims, const struct es_config *cfg,
					struct auth_principal *out, const char **why)
{
	const char *tenant_claim = auth_tenant_claim(cfg);
	json_object *v;
	const char *s;

	if (json_object_object_get_ex(claims, "sub", &v)) {
		s = plain_string(v);
		if (!s) {
			*why = "sub claim is not a string";
			return AUTH_INVALID;
		}
		if (strlen(s) >= sizeof out->sub) {
			*why = "sub claim too long";
			return AUTH_INVALID;
		}
		memcpy(out->sub, s, strlen(s) + 1);
	}
	if (json_object_object_get_ex(claims, "scope", &v)) {
		s = plain_string(v);
		if (!s) {
			*why = "scope claim is not a string";
			return AUTH_INVALID;
		}
		out->scopes |= auth_parse_scopes(s);
	}
	/* scp: an array of strings; a space separated string is taken too,
	 * as some identity providers send it that way. */
	if (json_object_object_get_ex(claims, "scp", &v)) {
		if (json_object_is_type(v, json_type_array)) {
			size_t n = json_object_array_length(v);
			for (size_t i = 0; i < n; i++) {
				s = plain_string(json_object_array_get_idx(v, i));
				if (!s) {
					*why = "scp claim is not an array of strings";
					return AUTH_INVALID;
				}
				out->scopes |= auth_parse_scopes(s);
			}
		} else if ((s = plain_string(v)) != NULL) {
			out->scopes |= auth_parse_scopes(s);
		} else {
			*why = "scp claim is not an array of strings";
			return AUTH_INVALID;
		}
	}
	if (json_object_object_get_ex(claims, tenant_claim, &v)) {
		s = plain_string(v);
		if (!s || !uuidtext_parse(s, out->tenant)) {
			*why = "tenant claim is not a UUID";
			return AUTH_INVALID;
		}
		/* The nil UUID is how the store spells "no tenant". */
		if (uuidtext_is_nil(out->tenant)) {
			*why = "tenant claim is the nil UUID";
			return AUTH_INVALID;
		}
		out->has_tenant = true;
	} else if (cfg->jwt.require_tenant) {
		*why = "tenant claim required";
		return AUTH_FORBIDDEN;
	}
	return AUTH_OK;
}

enum auth_result auth_verify(const struct auth_keys *keys, const struct es_config *cfg,
			     const char *header, time_t now,
			     struct auth_principal *out, const char **why)
{
	struct auth_times times;

	return auth_verify_times(keys, cfg, header, now, out, why, &times);
}

/* Verifies the Authorization header value against keys and cfg->jwt (see
 * auth.h). Borrows everything; fills *out (zeroed unless AUTH_OK or
 * AUTH_FORBIDDEN) and *times (when the claims were read); *why is static
 * text. */
enum auth_result auth_verify_times(const struct auth_keys *keys, const struct es_config *cfg,
				   const char *header, time_t now, struct auth_principal *out,
				   const char **why, struct auth_times *times)
{
	char tok[AUTH_MAX_TOKEN + 1];
	const char *raw, *unused_why;
	size_t len;
	struct token_parts parts;
	const struct auth_key *key = NULL;
	jwt_t *jwt = NULL;
	json_object *claims = NULL;
	enum auth_result res = AUTH_INVALID;
	int rc;

	if (!why)
		why = &unused_why;
	*why = NULL;
	memset(out, 0, sizeof *out);

	if (!auth_bearer_token(header, &raw, &len)) {
		res = AUTH_MISSING;
		goto out;
	}
	if (len > AUTH_MAX_TOKEN) {
		*why = "token too large";
		goto out;
	}
	if (!keys) {
		*why = "no verification key configured";
		goto out;
	}
	memcpy(tok, raw, len);
	tok[len] = '\0';
	if (!token_split(tok, len, &parts)) {
		*why = "malformed token";
		goto out;
	}
	if (!header_check(keys, &parts, &key, why))
		goto out;
	/* The claims are read from the signed bytes themselves, strictly,
	 * before the signature check, which tells a malformed token from a
	 * forged one. */
	claims = segment_object(parts.payload, parts.payload_len, AUTH_CLAIMS_DEPTH,
				"duplicate claim", why);
	if (!claims)
		goto out;

	rc = jwt_decode(&jwt, tok, key->material, (int)key->len);
	if (rc != 0) {
		jwt = NULL;
		*why = rc == ENOMEM ? "token could not be verified" : "bad signature";
		goto out;
	}
	/* libjwt verified with whatever algorithm the header named; we read
	 * that header too, but pin it again on what libjwt actually used. */
	if (jwt_get_alg(jwt) != jwt_str_alg(auth_keys_algorithm(keys))) {
		*why = "algorithm not allowed";
		goto out;
	}
	if (!claim_times(claims, times, why) || !auth_times_check(times, cfg, now, why))
		goto out;
	if (!claim_iss_aud_check(claims, cfg, why))
		goto out;
	res = claim_principal(claims, cfg, out, why);
out:
	if (res == AUTH_INVALID || res == AUTH_MISSING)
		memset(out, 0, sizeof *out);
	json_object_put(claims);
	jwt_free(jwt);
	explicit_bzero(tok, sizeof tok);
	return res;
}

/* Parses space separated scope names; borrows s. Unknown names are
 * ignored; admin brings read and write along (not personal:read). */
unsigned auth_parse_scopes(const char *s)
{
	unsigned bits = 0;

	if (!s)
		return 0;
	while (*s) {
		size_t n;
		while (*s == ' ' || *s == '\t')
			s++;
		n = strcspn(s, " \t");
		if (n == 11 && strncmp(s, "events:read", n) == 0)
			bits |= AUTH_SCOPE_READ;
		else if (n == 12 && strncmp(s, "events:write", n) == 0)
			bits |= AUTH_SCOPE_WRITE;
		else if (n == 5 && strncmp(s, "admin", n) == 0)
			bits |= AUTH_SCOPE_ADMIN | AUTH_SCOPE_READ | AUTH_SCOPE_WRITE;
		else if (n == 13 && strncmp(s, "personal:read", n) == 0)
			bits |= AUTH_SCOPE_PERSONAL_READ;
		s += n;
	}
	return bits;
}

const char *auth_tenant_claim(const struct es_config *cfg)
{
	return is_set(cfg->jwt.tenant_claim) ? cfg->jwt.tenant_claim : "tenant_id";
}
