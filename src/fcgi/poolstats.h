/* poolstats.h - what the processes of one evstore-fcgi pool share: a
 * slot of counters per worker and the pool's drain flag, in one anonymous
 * shared mapping made before the workers are forked. Lock-free atomics
 * only, so a worker killed in the middle of an update leaves nothing
 * locked. The supervisor reads the sums for systemd's STATUS= line; a
 * /metrics route would read (and add) its counters here. */
#ifndef EVSTORE_FCGI_POOLSTATS_H
#define EVSTORE_FCGI_POOLSTATS_H

#include <stdbool.h>
#include <stdint.h>

struct poolstats;

/* What poolstats_read sums up. */
struct poolstats_view {
	uint64_t requests;   /* requests answered since the pool started */
	int busy;            /* workers inside a request now */
	bool draining;       /* the pool is draining: /health/ready says 503 */
	int waiters;         /* long polls the waiter process holds now */
};

/* Maps shared counters for slots workers, all zero. Call it before
 * fork(): the children share what the parent mapped. NULL (errno set)
 * when the mapping fails. */
struct poolstats *poolstats_new(int slots);

/* Unmaps ps (in the calling process only); NULL does nothing. */
void poolstats_free(struct poolstats *ps);

/* The worker in slot marks the start and the end of one request. A slot
 * out of range, or ps NULL (a process outside a pool), does nothing. */
void poolstats_request_begin(struct poolstats *ps, int slot);
void poolstats_request_end(struct poolstats *ps, int slot);

/* The worker of slot is gone (the supervisor reaped it): it is no longer
 * busy, whatever it was doing when it died. Its requests stay counted. */
void poolstats_slot_reset(struct poolstats *ps, int slot);

/* The waiter process tells how many long polls it holds. */
void poolstats_set_waiters(struct poolstats *ps, int waiters);

/* Sets or reads the drain flag; a NULL ps never drains. */
void poolstats_set_draining(struct poolstats *ps, bool draining);
bool poolstats_draining(const struct poolstats *ps);

/* Sums the slots into *out (zero for a NULL ps). */
void poolstats_read(const struct poolstats *ps, struct poolstats_view *out);

#endif
