/* auth.h - bearer token verification (API.md section 2) and development
 * token minting. libjwt 1.10 verifies signatures only: the algorithm pin,
 * exp/nbf/iat/iss/aud and the claim types are checked here. */
#ifndef EVSTORE_AUTH_H
#define EVSTORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "base/uuidtext.h"

struct es_config;
struct auth_keys; /* opaque: the pinned algorithm and its key(s) */

enum auth_scope {
	AUTH_SCOPE_READ = 1u << 0,  /* events:read */
	AUTH_SCOPE_WRITE = 1u << 1, /* events:write */
	AUTH_SCOPE_ADMIN = 1u << 2  /* admin; implies read and write */
};

struct auth_principal {
	char sub[256];                /* the actor_id of what the request writes */
	unsigned scopes;              /* enum auth_scope bits, admin expanded */
	bool has_tenant;
	char tenant[UUIDTEXT_LEN];    /* lowercase UUID when has_tenant */
};

enum auth_result {
	AUTH_OK,
	AUTH_MISSING,   /* no Authorization header or not a Bearer: 401 realm only */
	AUTH_INVALID,   /* a token we refuse: 401 with error="invalid_token" */
	AUTH_FORBIDDEN  /* valid token, but require_tenant and no tenant: 403 */
};

/* Loads [jwt] algorithm and key_file or keys_dir. HMAC secrets are the
 * file's bytes less one trailing newline and must be >= 32 bytes. Returns
 * NULL and fills err ("jwt.key_file /x: ...") on failure.
 * For RS and ES algorithms a file is a PEM "PUBLIC KEY" of the matching type
 * (and curve). keys_dir is read here, once: every regular file whose name does
 * not start with '.' is a key whose kid is the file name. Nothing watches the
 * directory; a configuration reload calls this again. Returns a new set that
 * the caller releases with auth_keys_free(), which also wipes the secrets. */
struct auth_keys *auth_keys_load(const struct es_config *cfg, char *err, size_t errlen);
void auth_keys_free(struct auth_keys *keys);

/* Verifies an Authorization header value ("Bearer <jwt>", scheme in any
 * case). header may be NULL. now is the current Unix time. On AUTH_INVALID
 * *why is a short static description fit for error_description ("token
 * expired", "algorithm not allowed", ...). Tokens longer than 8 KiB are
 * invalid.
 * Borrows keys, cfg and header. AUTH_MISSING: no header, another scheme, or
 * "Bearer" with nothing after it; *why is NULL. AUTH_FORBIDDEN (require_tenant
 * and no tenant claim): *why is "tenant claim required" and *out holds sub
 * and scopes. *out is filled on AUTH_OK and zeroed on MISSING/INVALID.
 * The why strings (doc/authentication.md lists them for users):
 * "token too large", "malformed token", "algorithm not allowed",
 * "unsupported token type", "unsupported critical header", "missing key id",
 * "invalid key id", "unknown key id", "bad signature", "missing exp claim",
 * "exp|nbf|iat claim is not an integer", "token expired", "token not yet
 * valid", "issued in the future", "wrong issuer", "wrong audience",
 * "sub claim is not a string", "sub claim too long", "scope claim is not a
 * string", "scp claim is not an array of strings", "tenant claim is not a
 * UUID", "token could not be verified" (out of memory). */
enum auth_result auth_verify(const struct auth_keys *keys, const struct es_config *cfg,
			     const char *header, time_t now,
			     struct auth_principal *out, const char **why);

/* Mints a development token signed with the configured HS* key:
 * sub, scope (space separated), optional tenant (the [jwt] tenant_claim),
 * iat, exp = now + ttl, plus iss/aud when configured. Returns a malloc'd
 * token, or NULL with err filled (e.g. the algorithm is not HS*).
 * Loads the keys itself from cfg. sub and scope may be NULL (claim left
 * out); tenant must be a UUID and is written lowercase; ttl must be > 0.
 * With keys_dir the lexicographically last key signs and is named in the
 * kid header. The caller frees the token with free(). */
char *auth_mint(const struct es_config *cfg, const char *sub, const char *scope,
		const char *tenant, long ttl_seconds, time_t now, char *err, size_t errlen);

/* Parses "events:read admin" into scope bits, admin expanded; unknown
 * scopes are ignored. */
unsigned auth_parse_scopes(const char *space_separated);

#endif
