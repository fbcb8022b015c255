/* keycache.c - the process's cache of subject keys: an array of entries
 * found through two open-addressed tables (by key id, by tenant and
 * subject). Entries are never removed one by one, only dropped (marked),
 * so a probe never meets a hole that used to be part of its chain; the
 * whole cache is emptied when the array is full. */
#include "buildconf.h"
#include "privacy/keycache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS (2 * KEYCACHE_CAPACITY) /* a power of two; at most half full */

static struct {
	struct keycache_entry *entries;   /* KEYCACHE_CAPACITY, allocated on first use */
	size_t n;
	unsigned by_id[SLOTS];            /* entry index + 1; 0 is an empty slot */
	unsigned by_subject[SLOTS];
	const void *db;
	unsigned long session;
} cache;

static size_t hash_id(int64_t id)
{
	uint64_t x = (uint64_t)id;

	/* splitmix64's finaliser: consecutive ids land far apart */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x & (SLOTS - 1);
}

static size_t hash_subject(const char *tenant, const char *subject)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)tenant; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (const unsigned char *p = (const unsigned char *)subject; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return (size_t)h & (SLOTS - 1);
}

void keycache_clear(void)
{
	for (size_t i = 0; i < cache.n; i++) {
		explicit_bzero(cache.entries[i].dek, sizeof cache.entries[i].dek);
		free(cache.entries[i].subject);
	}
	free(cache.entries);
	cache.entries = NULL;
	cache.n = 0;
	memset(cache.by_id, 0, sizeof cache.by_id);
	memset(cache.by_subject, 0, sizeof cache.by_subject);
}

void keycache_bind(const void *db, unsigned long session)
{
	if (cache.db == db && cache.session == session)
		return;
	keycache_clear();
	cache.db = db;
	cache.session = session;
}

static struct keycache_entry *find_id(int64_t key_id)
{
	for (size_t s = hash_id(key_id); cache.by_id[s]; s = (s + 1) & (SLOTS - 1)) {
		struct keycache_entry *e = &cache.entries[cache.by_id[s] - 1];

		if (e->key_id == key_id)
			return e;
	}
	return NULL;
}

static bool same_subject(const struct keycache_entry *e, const char *tenant, const char *subject)
{
	return !e->dropped && strcmp(e->subject, subject) == 0 && strcmp(e->tenant, tenant) == 0;
}

const struct keycache_entry *keycache_by_subject(const char *tenant, const char *subject)
{
	if (!cache.entries)
		return NULL;
	for (size_t s = hash_subject(tenant, subject); cache.by_subject[s]; s = (s + 1) & (SLOTS - 1)) {
		const struct keycache_entry *e = &cache.entries[cache.by_subject[s] - 1];

		if (!e->erased && e->has_dek && same_subject(e, tenant, subject))
			return e;
	}
	return NULL;
}

const struct keycache_entry *keycache_by_id(int64_t key_id)
{
	const struct keycache_entry *e = cache.entries ? find_id(key_id) : NULL;

	return e && !e->dropped ? e : NULL;
}

static void drop(struct keycache_entry *e)
{
	e->dropped = true;
	e->has_dek = false;
	explicit_bzero(e->dek, sizeof e->dek);
}

/* Drops the entries of (tenant, subject) but the one of key id keep. */
static void drop_subject_but(const char *tenant, const char *subject, int64_t keep)
{
	if (!cache.entries)
		return;
	for (size_t s = hash_subject(tenant, subject); cache.by_subject[s]; s = (s + 1) & (SLOTS - 1)) {
		struct keycache_entry *e = &cache.entries[cache.by_subject[s] - 1];

		if (e->key_id != keep && same_subject(e, tenant, subject))
			drop(e);
	}
}

void keycache_drop_subject(const char *tenant, const char *subject)
{
	drop_subject_but(tenant, subject, 0);
}

static struct keycache_entry *add(int64_t key_id, const char *tenant, const char *subject)
{
	struct keycache_entry *e;
	char *copy;
	size_t s;

	if (cache.n == KEYCACHE_CAPACITY)
		keycache_clear();
	if (!cache.entries) {
		cache.entries = calloc(KEYCACHE_CAPACITY, sizeof *cache.entries);
		if (!cache.entries)
			return NULL;
	}
	copy = strdup(subject);
	if (!copy)
		return NULL;
	e = &cache.entries[cache.n++];
	memset(e, 0, sizeof *e);
	e->key_id = key_id;
	e->subject = copy;
	snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
	for (s = hash_id(key_id); cache.by_id[s]; s = (s + 1) & (SLOTS - 1))
		;
	cache.by_id[s] = (unsigned)cache.n;
	for (s = hash_subject(tenant, subject); cache.by_subject[s]; s = (s + 1) & (SLOTS - 1))
		;
	cache.by_subject[s] = (unsigned)cache.n;
	return e;
}

void keycache_put(int64_t key_id, const char *tenant, const char *subject, bool erased,
		  const unsigned char *dek, const char *wrapped, const char *epoch)
{
	struct keycache_entry *e = cache.entries ? find_id(key_id) : NULL;

	/* One live key per subject: another id of it is an older key, erased
	 * since (or this one is). */
	if (!erased)
		drop_subject_but(tenant, subject, key_id);
	if (!e)
		e = add(key_id, tenant, subject);
	if (!e)
		return; /* out of memory: the cache only saves statements */
	e->dropped = false;
	if (erased || e->erased) {
		e->erased = true;
		e->has_dek = false;
		explicit_bzero(e->dek, sizeof e->dek);
		return;
	}
	if (dek) {
		if (wrapped || !e->has_dek)
			snprintf(e->wrapped, sizeof e->wrapped, "%s", wrapped ? wrapped : "");
		memcpy(e->dek, dek, sizeof e->dek);
		e->has_dek = true;
	}
	if (epoch && *epoch)
		snprintf(e->epoch, sizeof e->epoch, "%s", epoch);
}
