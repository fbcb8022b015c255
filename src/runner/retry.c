/* retry.c - backoff with jitter. */
#include "buildconf.h"
#include "runner/retry.h"

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
