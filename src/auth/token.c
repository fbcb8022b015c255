/* token.c - minting development tokens with the configured HMAC secret. */
#include "buildconf.h"
#include "auth/token.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jwt.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "base/config.h"
#include "base/uuidtext.h"

static bool is_set(const char *s)
{
	return s && *s;
}

/* Mints an HS* token with the configured key (see token.h). */
char *auth_token_mint(const struct es_config *cfg, const char *sub, const char *scope,
		      const char *tenant, long ttl_seconds, time_t now, char *err, size_t errlen)
{
	struct auth_keys *keys = NULL;
	const struct auth_key *key;
	const char *tenant_claim = auth_tenant_claim(cfg);
	char tenant_lc[UUIDTEXT_LEN];
	jwt_t *jwt = NULL;
	char *token = NULL;
	int rc = 0;

	if (ttl_seconds <= 0 || (long)now > LONG_MAX - ttl_seconds) {
		snprintf(err, errlen, "ttl must be a positive number of seconds");
		goto out;
	}
	if (sub && strlen(sub) > AUTH_MAX_SUB) {
		snprintf(err, errlen, "sub is longer than 255 bytes");
		goto out;
	}
	if (tenant && !uuidtext_parse(tenant, tenant_lc)) {
		snprintf(err, errlen, "tenant %s is not a UUID", tenant);
		goto out;
	}
	keys = auth_keys_load(cfg, err, errlen);
	if (!keys)
		goto out;
	if (!auth_keys_hmac(keys)) {
		snprintf(err, errlen, "jwt.algorithm %s: tokens can only be minted with an HS* "
			 "secret; use the identity provider that holds the private key",
			 auth_keys_algorithm(keys));
		goto out;
	}
	key = auth_keys_signing(keys);
	if ((rc = jwt_new(&jwt)) != 0)
		goto out;
	if (key->kid && (rc = jwt_add_header(jwt, "kid", key->kid)) != 0)
		goto out;
	if (is_set(cfg->jwt.issuer) && (rc = jwt_add_grant(jwt, "iss", cfg->jwt.issuer)) != 0)
		goto out;
	if (is_set(cfg->jwt.audience) && (rc = jwt_add_grant(jwt, "aud", cfg->jwt.audience)) != 0)
		goto out;
	if (sub && (rc = jwt_add_grant(jwt, "sub", sub)) != 0)
		goto out;
	if (is_set(scope) && (rc = jwt_add_grant(jwt, "scope", scope)) != 0)
		goto out;
	if (tenant && (rc = jwt_add_grant(jwt, tenant_claim, tenant_lc)) != 0)
		goto out;
	if ((rc = jwt_add_grant_int(jwt, "iat", (long)now)) != 0)
		goto out;
	if ((rc = jwt_add_grant_int(jwt, "exp", (long)now + ttl_seconds)) != 0)
		goto out;
	if ((rc = jwt_set_alg(jwt, jwt_str_alg(auth_keys_algorithm(keys)), key->material,
			      (int)key->len)) != 0)
		goto out;
	token = jwt_encode_str(jwt);
	if (!token)
		rc = errno ? errno : ENOMEM;
out:
	if (rc != 0)
		snprintf(err, errlen, "jwt: cannot build the token: %s%s", strerror(rc),
			 rc == EEXIST ? " (jwt.tenant_claim names a standard claim)" : "");
	jwt_free(jwt);
	auth_keys_free(keys);
	return token;
}
