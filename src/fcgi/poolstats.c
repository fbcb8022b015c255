/* poolstats.c - the pool's shared counters: one MAP_SHARED|MAP_ANONYMOUS
 * mapping, a header and one cache-aligned slot per worker so that busy
 * workers do not contend for one counter. A worker only ever adds to its
 * own slot; the readers add the slots up. */
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

static const char *const method_names[POOLSTATS_METHODS] = { "GET", "HEAD", "POST", "DELETE", "other" };

/* Every status http_status_text knows; the last index is "other". */
static const int codes[POOLSTATS_CODES - 1] = {
	200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503
};
static const char *const code_names[POOLSTATS_CODES] = {
	"200", "201", "202", "204", "304", "400", "401", "403", "404", "405", "409", "413",
	"415", "422", "500", "503", "other"
};

/* From a millisecond (a cached readiness answer) to a 30 s long-poll. */
static const int64_t bucket_usec[POOLSTATS_BUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000
};
static const char *const bucket_names[POOLSTATS_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "30", "+Inf"
};

struct poolstats_slot {
	/* The first cache line: what every request touches twice. */
	_Alignas(64) atomic_ullong requests;
	atomic_int busy;
	atomic_int waiting;
	atomic_int running;
	atomic_ullong counter[POOLSTATS_COUNTERS];
	atomic_ullong db_failures[POOLSTATS_DB_KINDS];
	atomic_ullong by_code[POOLSTATS_ROUTES][POOLSTATS_METHODS][POOLSTATS_CODES];
	atomic_ullong latency[POOLSTATS_ROUTES][POOLSTATS_BUCKETS];
	atomic_ullong latency_usec[POOLSTATS_ROUTES];
};

struct poolstats {
	size_t size;             /* of the mapping, for munmap */
	int slots;
	atomic_int draining;
	atomic_int waiters;      /* long polls the waiter process holds */
	atomic_ullong worker_restarts;
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

static int method_index(const char *method)
{
	for (int i = 0; i < POOLSTATS_METHODS - 1; i++)
		if (method && strcmp(method, method_names[i]) == 0)
			return i;
	return POOLSTATS_METHODS - 1;
}

static int code_index(int status)
{
	for (int i = 0; i < POOLSTATS_CODES - 1; i++)
		if (codes[i] == status)
			return i;
	return POOLSTATS_CODES - 1;
}

static int bucket_index(int64_t usec)
{
	for (int i = 0; i < POOLSTATS_BUCKETS - 1; i++)
		if (usec <= bucket_usec[i])
			return i;
	return POOLSTATS_BUCKETS - 1;
}

void poolstats_record_request(struct poolstats *ps, int slot, int route, const char *method,
			      int status, int64_t usec)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (!s)
		return;
	if (route < 0 || route >= POOLSTATS_ROUTES)
		route = POOLSTATS_UNMATCHED;
	if (usec < 0)
		usec = 0;
	atomic_fetch_add(&s->by_code[route][method_index(method)][code_index(status)], 1);
	atomic_fetch_add(&s->latency[route][bucket_index(usec)], 1);
	atomic_fetch_add(&s->latency_usec[route], (unsigned long long)usec);
}

void poolstats_add(struct poolstats *ps, int slot, enum poolstats_counter c, uint64_t n)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s && (int)c >= 0 && (int)c < POOLSTATS_COUNTERS)
		atomic_fetch_add(&s->counter[c], n);
}

void poolstats_add_db_failures(struct poolstats *ps, int slot, int kind, uint64_t n)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s && kind >= 0 && kind < POOLSTATS_DB_KINDS)
		atomic_fetch_add(&s->db_failures[kind], n);
}

void poolstats_wait_begin(struct poolstats *ps, int slot)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s)
		atomic_store(&s->waiting, 1);
}

void poolstats_wait_end(struct poolstats *ps, int slot)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s)
		atomic_store(&s->waiting, 0);
}

void poolstats_set_waiters(struct poolstats *ps, int waiters)
{
	if (ps)
		atomic_store(&ps->waiters, waiters < 0 ? 0 : waiters);
}

void poolstats_slot_started(struct poolstats *ps, int slot)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s)
		atomic_store(&s->running, 1);
}

void poolstats_slot_reset(struct poolstats *ps, int slot)
{
	struct poolstats_slot *s = slot_of(ps, slot);

	if (s) {
		atomic_store(&s->busy, 0);
		atomic_store(&s->waiting, 0);
		atomic_store(&s->running, 0);
	}
}

void poolstats_count_restart(struct poolstats *ps)
{
	if (ps)
		atomic_fetch_add(&ps->worker_restarts, 1);
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

void poolstats_sum(const struct poolstats *ps, struct poolstats_totals *out)
{
	struct poolstats *w = (struct poolstats *)ps;

	memset(out, 0, sizeof *out);
	if (!ps)
		return;
	out->slots = ps->slots;
	out->waiters = atomic_load(&w->waiters);
	out->worker_restarts = atomic_load(&w->worker_restarts);
	for (int i = 0; i < ps->slots; i++) {
		struct poolstats_slot *s = &w->slot[i];

		out->workers += atomic_load(&s->running);
		out->busy += atomic_load(&s->busy);
		out->waiters += atomic_load(&s->waiting);
		out->requests += atomic_load(&s->requests);
		for (int c = 0; c < POOLSTATS_COUNTERS; c++)
			out->counter[c] += atomic_load(&s->counter[c]);
		for (int k = 0; k < POOLSTATS_DB_KINDS; k++)
			out->db_failures[k] += atomic_load(&s->db_failures[k]);
		for (int r = 0; r < POOLSTATS_ROUTES; r++) {
			for (int m = 0; m < POOLSTATS_METHODS; m++)
				for (int c = 0; c < POOLSTATS_CODES; c++)
					out->by_code[r][m][c] += atomic_load(&s->by_code[r][m][c]);
			for (int b = 0; b < POOLSTATS_BUCKETS; b++)
				out->latency[r][b] += atomic_load(&s->latency[r][b]);
			out->latency_usec[r] += atomic_load(&s->latency_usec[r]);
		}
	}
}

const char *poolstats_method_name(int i)
{
	return i >= 0 && i < POOLSTATS_METHODS ? method_names[i] : "other";
}

const char *poolstats_code_name(int i)
{
	return i >= 0 && i < POOLSTATS_CODES ? code_names[i] : "other";
}

const char *poolstats_bucket_bound(int i)
{
	return i >= 0 && i < POOLSTATS_BUCKETS ? bucket_names[i] : "+Inf";
}
