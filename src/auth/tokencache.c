/* tokencache.c - the bearer tokens a worker verified lately. */
#include "buildconf.h"
#include "auth/tokencache.h"

#include <stdlib.h>
#include <string.h>

#include "base/text.h"

/* The slot holding tok, or NULL. Compared in constant time: a token in
 * the cache is another client's credential, and how long a comparison
 * takes must not tell a prober how much of it they guessed. */
static struct token_cache_slot *lookup(struct token_cache *c, const char *tok, size_t len)
{
	for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++) {
		struct token_cache_slot *s = &c->slot[i];

		if (s->token && s->len == len && text_equal_secret(s->token, tok, len))
			return s;
	}
	return NULL;
}

static void slot_clear(struct token_cache_slot *s)
{
	if (s->token) {
		explicit_bzero(s->token, s->len);
		free(s->token);
	}
	memset(s, 0, sizeof *s);
}

enum auth_result token_cache_verify(struct token_cache *c, const struct auth_keys *keys,
				    const struct es_config *cfg, const char *header, time_t now,
				    struct auth_principal *out, const char **why)
{
	struct token_cache_slot *s;
	struct auth_times times;
	const char *tok, *unused_why;
	enum auth_result res;
	size_t len = 0;
	bool bearer;

	if (!why)
		why = &unused_why;
	bearer = auth_bearer_token(header, &tok, &len);
	if (bearer && (s = lookup(c, tok, len))) {
		*why = NULL;
		if (!auth_times_check(&s->times, cfg, now, why)) {
			slot_clear(s); /* it will not be valid again (or not for long) */
			memset(out, 0, sizeof *out);
			return AUTH_INVALID;
		}
		*out = s->who;
		*why = s->why;
		return s->result;
	}
	res = auth_verify_times(keys, cfg, header, now, out, why, &times);
	if (bearer && (res == AUTH_OK || res == AUTH_FORBIDDEN)) {
		s = &c->slot[c->next++ % TOKEN_CACHE_SLOTS];
		slot_clear(s);
		s->token = malloc(len);
		if (s->token) { /* without memory, only this token goes unremembered */
			memcpy(s->token, tok, len);
			s->len = len;
			s->result = res;
			s->why = *why;
			s->who = *out;
			s->times = times;
		}
	}
	return res;
}

void token_cache_clear(struct token_cache *c)
{
	for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++)
		slot_clear(&c->slot[i]);
	c->next = 0;
}
