/* auth.h - bearer token verification (doc/authentication.md): who the
 * caller is, which scopes it holds and which tenant it is bound to.
 * libjwt 1.10 verifies signatures only: the algorithm pin,
 * exp/nbf/iat/iss/aud and the claim types are checked here. The keys come
 * from auth/keys.h, development tokens from auth/token.h. */
#ifndef EVSTORE_AUTH_H
#define EVSTORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "base/uuidtext.h"

struct es_config;
struct auth_keys; /* opaque: the pinned algorithm and its key(s) */

enum auth_scope {
	AUTH_SCOPE_READ = 1u << 0,  /* events:read */
	AUTH_SCOPE_WRITE = 1u << 1, /* events:write */
	AUTH_SCOPE_ADMIN = 1u << 2, /* admin; implies read and write */
	/* personal:read: declared personal data in clear. Nothing implies it,
	 * admin included: who may read people's data is granted on its own. */
	AUTH_SCOPE_PERSONAL_READ = 1u << 3
};

#define AUTH_MAX_SUB 255 /* bytes of the sub claim */

struct auth_principal {
	char sub[AUTH_MAX_SUB + 1];   /* the actor_id of what the request writes */
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
 * "token too large", "malformed token", "duplicate header parameter",
 * "duplicate claim", "algorithm not allowed",
 * "unsupported token type", "unsupported critical header", "missing key id",
 * "invalid key id", "unknown key id", "bad signature", "missing exp claim",
 * "exp|nbf|iat claim is not an integer", "token expired", "exp too far in
 * the future" ([jwt] max_lifetime), "token not yet valid", "issued in the
 * future", "wrong issuer", "wrong audience",
 * "sub claim is not a string", "sub claim too long", "scope claim is not a
 * string", "scp claim is not an array of strings", "tenant claim is not a
 * UUID", "tenant claim is the nil UUID", "token could not be verified" (out of memory). */
enum auth_result auth_verify(const struct auth_keys *keys, const struct es_config *cfg,
			     const char *header, time_t now,
			     struct auth_principal *out, const char **why);

/* A token's time claims: exp (always), nbf and iat when present. */
struct auth_times {
	int64_t exp, nbf, iat;
	bool has_nbf, has_iat;
};

/* auth_verify that also fills *times when it read the claims (on AUTH_OK
 * and AUTH_FORBIDDEN at least): what a verified token's validity still
 * depends on as the clock moves (auth/tokencache.h). */
enum auth_result auth_verify_times(const struct auth_keys *keys, const struct es_config *cfg,
				   const char *header, time_t now, struct auth_principal *out,
				   const char **why, struct auth_times *times);

/* times against now, with cfg->jwt's leeway and max_lifetime: false with
 * *why ("token expired", "token not yet valid", "issued in the future",
 * "exp too far in the future") when the token is not valid at now. */
bool auth_times_check(const struct auth_times *times, const struct es_config *cfg, time_t now,
		      const char **why);

/* The token of an Authorization value: "Bearer" in any case, one or more
 * spaces, then the token (trailing blanks dropped); borrowed from header.
 * False when there is none (AUTH_MISSING). */
bool auth_bearer_token(const char *header, const char **tok, size_t *len);

/* Parses "events:read admin" into scope bits, admin expanded; unknown
 * scopes are ignored. */
unsigned auth_parse_scopes(const char *space_separated);

/* The claim that carries the tenant: [jwt] tenant_claim, "tenant_id" when
 * unset. Borrowed from cfg or static. */
const char *auth_tenant_claim(const struct es_config *cfg);

#endif
