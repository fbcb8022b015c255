/* retry.c - backoff with jitter and failure classification. */
#include "buildconf.h"
#include "runner/retry.h"

#include <string.h>

enum retry_class retry_classify_sqlstate(const char *sqlstate)
{
	if (!sqlstate || !*sqlstate)
		return RETRY_TRANSIENT;
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
	    strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
	    strcmp(sqlstate, "57P03") == 0 || strcmp(sqlstate, "57014") == 0 ||
	    strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
		return RETRY_TRANSIENT;
	return RETRY_PERMANENT;
}

enum retry_class retry_classify_status(enum es_status st)
{
	return st == ES_EUNAVAILABLE || st == ES_ERETRY ? RETRY_TRANSIENT : RETRY_PERMANENT;
}

/* xorshift32: small, good enough for jitter. */
static uint32_t retry_next_random(uint32_t *seed)
{
	uint32_t x = *seed ? *seed : 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*seed = x;
	return x;
}

int64_t retry_delay_ms(int attempt, int initial_ms, int max_ms, uint32_t *seed)
{
	int64_t base = initial_ms > 0 ? initial_ms : 1, lo, d;

	if (max_ms < initial_ms)
		max_ms = initial_ms;
	for (int i = 1; i < attempt && base < max_ms; i++)
		base *= 2;
	if (base > max_ms)
		base = max_ms;
	lo = base / 2;
	if (lo < initial_ms)
		lo = initial_ms;
	if (lo > base)
		lo = base;
	d = lo + (int64_t)(retry_next_random(seed) % (uint64_t)(base - lo + 1));
	return d;
}
