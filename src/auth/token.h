/* token.h - development tokens, for evstorectl token: signed with the
 * configured HS* secret, so evstore itself verifies them like any other. */
#ifndef EVSTORE_AUTH_TOKEN_H
#define EVSTORE_AUTH_TOKEN_H

#include <stddef.h>
#include <time.h>

struct es_config;

/* Mints a development token signed with the configured HS* key:
 * sub, scope (space separated), optional tenant (the [jwt] tenant_claim),
 * iat, exp = now + ttl, plus iss/aud when configured. Returns a malloc'd
 * token, or NULL with err filled (e.g. the algorithm is not HS*).
 * Loads the keys itself from cfg. sub and scope may be NULL (claim left
 * out); tenant must be a UUID and is written lowercase; ttl must be > 0.
 * With keys_dir the lexicographically last key signs and is named in the
 * kid header. Borrows its arguments; the caller frees the token with free(). */
char *auth_token_mint(const struct es_config *cfg, const char *sub, const char *scope,
		      const char *tenant, long ttl_seconds, time_t now, char *err, size_t errlen);

#endif
