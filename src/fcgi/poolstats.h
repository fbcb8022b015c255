/* poolstats.h - what the processes of one evstore-fcgi pool share: a
 * slot of counters per worker (and one for the waiter process's answers)
 * and the pool's own gauges (drain flag,
 * worker restarts, long-poll waiters), in one anonymous shared mapping
 * made before the workers are forked. Lock-free atomics only, so a worker
 * killed in the middle of an update leaves nothing locked; fixed-size
 * tables only (route templates, methods, status codes, latency buckets),
 * so nothing is ever allocated in shared memory. The supervisor reads
 * the sums for systemd's STATUS= line; GET /metrics (route_metrics.c),
 * served by any worker, sums every slot (poolstats_sum).
 *
 * A process serving alone (a handed socket without --workers) maps one
 * slot for itself; a plain-CGI process maps none (NULL), and every call
 * below then does nothing. */
#ifndef EVSTORE_FCGI_POOLSTATS_H
#define EVSTORE_FCGI_POOLSTATS_H

#include <stdbool.h>
#include <stdint.h>

struct poolstats;

/* Route templates counted apart: the route table's index (routes.h), and
 * POOLSTATS_UNMATCHED for a request no route matched (404, 405, 400 on a
 * bad path). routes.c checks that its table fits. */
#define POOLSTATS_ROUTES 32
#define POOLSTATS_UNMATCHED (POOLSTATS_ROUTES - 1)

/* Methods: GET, HEAD, POST, DELETE, and every other one together. */
#define POOLSTATS_METHODS 5
/* The status codes evstore answers (http_status_text), and "other". */
#define POOLSTATS_CODES 17
/* Upper bounds of the latency histogram, plus +Inf. */
#define POOLSTATS_BUCKETS 15
/* Database failure kinds (db.h's enum db_failure fits: app.c checks). */
#define POOLSTATS_DB_KINDS 8

/* Counters a worker adds to as it serves. */
enum poolstats_counter {
	POOLSTATS_EVENTS_APPENDED,     /* events written by appends and commands */
	POOLSTATS_APPEND_CONFLICTS,    /* 409 version-conflict */
	POOLSTATS_APPEND_REPLAYS,      /* idempotent replays answered 200 */
	POOLSTATS_VALIDATION_FAILURES, /* 422 validation-failed */
	POOLSTATS_DB_RECONNECTS,       /* database sessions opened after the first */
	POOLSTATS_COUNTERS
};

/* What poolstats_read sums up: the cheap part, for STATUS=. */
struct poolstats_view {
	uint64_t requests;   /* requests answered since the pool started */
	int busy;            /* workers inside a request now */
	bool draining;       /* the pool is draining: /health/ready says 503 */
	int waiters;         /* long polls the waiter process holds now */
};

/* Everything, summed over the slots, for /metrics. Counters count since
 * the pool started (a worker's replacement goes on in its slot). */
struct poolstats_totals {
	int slots;                     /* workers configured */
	int workers;                   /* worker processes running now */
	int busy;                      /* of them inside a request now */
	int waiters;                   /* long-polls waiting now */
	uint64_t worker_restarts;      /* workers that died and were replaced */
	uint64_t requests;
	uint64_t counter[POOLSTATS_COUNTERS];
	uint64_t db_failures[POOLSTATS_DB_KINDS];
	uint64_t by_code[POOLSTATS_ROUTES][POOLSTATS_METHODS][POOLSTATS_CODES];
	uint64_t latency[POOLSTATS_ROUTES][POOLSTATS_BUCKETS]; /* per bucket, not cumulative */
	uint64_t latency_usec[POOLSTATS_ROUTES];               /* their sum */
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

/* Records one answered request: its route (index in the route table, or
 * POOLSTATS_UNMATCHED), method (any text; unknown ones count as other),
 * status code and duration in microseconds. */
void poolstats_record_request(struct poolstats *ps, int slot, int route, const char *method,
			      int status, int64_t usec);

/* Adds n to one of the slot's counters. */
void poolstats_add(struct poolstats *ps, int slot, enum poolstats_counter c, uint64_t n);
/* Adds n to the slot's failures of one database failure kind (below POOLSTATS_DB_KINDS). */
void poolstats_add_db_failures(struct poolstats *ps, int slot, int kind, uint64_t n);

/* Long polls: a worker marks that it waits in a long poll itself (and
 * that it stopped); the waiter process reports how many it holds with
 * poolstats_set_waiters. The gauge is the sum of both. A worker that dies
 * waiting stops counting when its slot is reset. */
void poolstats_wait_begin(struct poolstats *ps, int slot);
void poolstats_wait_end(struct poolstats *ps, int slot);
void poolstats_set_waiters(struct poolstats *ps, int waiters);

/* The supervisor started a worker in slot: it counts as running. */
void poolstats_slot_started(struct poolstats *ps, int slot);

/* The worker of slot is gone (the supervisor reaped it): it is no longer
 * running, busy or waiting, whatever it was doing when it died. Its
 * requests and counters stay counted. */
void poolstats_slot_reset(struct poolstats *ps, int slot);

/* The supervisor replaces a worker that died while the pool was up. */
void poolstats_count_restart(struct poolstats *ps);

/* Sets or reads the drain flag; a NULL ps never drains. */
void poolstats_set_draining(struct poolstats *ps, bool draining);
bool poolstats_draining(const struct poolstats *ps);

/* Sums the slots into *out (zero for a NULL ps). */
void poolstats_read(const struct poolstats *ps, struct poolstats_view *out);

/* Sums everything into *out (zero for a NULL ps). Reads each counter
 * once: the sums are a moment's, not one instant's. */
void poolstats_sum(const struct poolstats *ps, struct poolstats_totals *out);

/* Label values: the method of index i ("GET", ..., "other"), the status
 * code of index i ("200", ..., "other"), and the upper bound of latency
 * bucket i in seconds ("0.005", ..., "+Inf"). */
const char *poolstats_method_name(int i);
const char *poolstats_code_name(int i);
const char *poolstats_bucket_bound(int i);

#endif
