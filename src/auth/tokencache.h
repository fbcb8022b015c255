/* tokencache.h - the bearer tokens a worker verified lately. A client
 * sends the same token with request after request, and verifying it
 * (base64, the JSON of header and claims parsed twice, an HMAC or a
 * signature) costs more than the rest of an append. A token seen again,
 * byte for byte, skips all of that except its time claims, which are
 * checked against the clock on every request: the answer is the one
 * auth_verify would give. Only tokens that passed the signature check are
 * kept, and the cache must be emptied whenever the keys or the [jwt]
 * configuration change (app_reload). */
#ifndef EVSTORE_TOKENCACHE_H
#define EVSTORE_TOKENCACHE_H

#include <stddef.h>
#include <time.h>
#include "auth/auth.h"

/* A worker serves a handful of clients at a time; more tokens only evict
 * each other round-robin (each then costs a full verification). */
#define TOKEN_CACHE_SLOTS 16

struct token_cache_slot {
	char *token; /* NULL: empty */
	size_t len;
	enum auth_result result; /* AUTH_OK or AUTH_FORBIDDEN */
	const char *why;
	struct auth_principal who;
	struct auth_times times;
};

/* Zeroed memory is an empty cache. */
struct token_cache {
	struct token_cache_slot slot[TOKEN_CACHE_SLOTS];
	unsigned next;
};

/* auth_verify, answered from the cache when header's token is there. */
enum auth_result token_cache_verify(struct token_cache *c, const struct auth_keys *keys,
				    const struct es_config *cfg, const char *header, time_t now,
				    struct auth_principal *out, const char **why);

/* Forgets every token (wiped: they are credentials). */
void token_cache_clear(struct token_cache *c);

#endif
