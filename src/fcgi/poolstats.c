/* poolstats.c - the pool's shared counters: one MAP_SHARED|MAP_ANONYMOUS
 * mapping, a header and one cache line per worker so that busy workers do
 * not contend for one counter. */
#include "buildconf.h"
#include "fcgi/poolstats.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

/* Shared between processes, the atomics must not fall back to a lock
 * (which would live in each process's own memory). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "int atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

struct poolstats_slot {
	atomic_ullong requests;
	atomic_int busy;
	char pad[64 - sizeof(atomic_ullong) - sizeof(atomic_int)];
};

struct poolstats {
	size_t size;             /* of the mapping, for munmap */
	int slots;
	atomic_int draining;
	atomic_int waiters;      /* long polls the waiter process holds */
	struct poolstats_slot slot[];
};

struct poolstats *poolstats_new(int slots)
{
	size_t size;
	struct poolstats *ps;

	if (slots < 1)
		slots = 1;
	size = offsetof(struct poolstats, slot) + (size_t)slots * sizeof(struct poolstats_slot);
	ps = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ps == MAP_FAILED)
		return NULL;
	/* A fresh anonymous mapping is zero: every counter starts at 0. */
	ps->size = size;
	ps->slots = slots;
	return ps;
}

void poolstats_free(struct poolstats *ps)
{
	if (ps)
		munmap(ps, ps->size);
}

static struct poolstats_slot *slot_of(struct poolstats *ps, int slot)
{
	return ps && slot >= 0 && slot < ps->slots ? &ps->slot[slot] : NULL;
}

void poolstats_request_begin(struct poolstats *ps, int slot)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s)
		atomic_store(&s->busy, 1);
}

void poolstats_request_end(struct poolstats *ps, int slot)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s) {
		atomic_fetch_add(&s->requests, 1);
		atomic_store(&s->busy, 0);
	}
}

void poolstats_slot_reset(struct poolstats *ps, int slot)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s)
		atomic_store(&s->busy, 0);
}

void poolstats_set_draining(struct poolstats *ps, bool draining)
{
	if (ps)
		atomic_store(&ps->draining, draining ? 1 : 0);
}

bool poolstats_draining(const struct poolstats *ps)
{
	return ps && atomic_load(&((struct poolstats *)ps)->draining) != 0;
}

void poolstats_set_waiters(struct poolstats *ps, int waiters)
{
	if (ps)
		atomic_store(&ps->waiters, waiters);
}

void poolstats_read(const struct poolstats *ps, struct poolstats_view *out)
{
	struct poolstats *w = (struct poolstats *)ps;

	memset(out, 0, sizeof *out);
	if (!ps)
		return;
	out->draining = atomic_load(&w->draining) != 0;
	out->waiters = atomic_load(&w->waiters);
	for (int i = 0; i < ps->slots; i++) {
		out->requests += atomic_load(&w->slot[i].requests);
		out->busy += atomic_load(&w->slot[i].busy);
	}
}
