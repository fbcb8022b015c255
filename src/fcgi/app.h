/* app.h - the state of one worker process and its request pipeline:
 * route, authenticate, bind the tenant, read the body, run the handler,
 * answer, write the access log. Free of any FastCGI detail: requests arrive
 * through a struct http_io. */
#ifndef EVSTORE_FCGI_APP_H
#define EVSTORE_FCGI_APP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "auth/tokencache.h"
#include "base/config.h"
#include "base/error.h"
#include "fcgi/poolstats.h"

struct aggdef_registry;
struct auth_keys;
struct db;
struct http_io;
struct poolstats;

/* The readiness probe's last answer, kept for APP_PROBE_TTL_MS. */
struct app_probe {
	int64_t checked_ms;        /* monotonic time of the probe; 0: never */
	bool database_ok;          /* the database answered */
	int schema_version;        /* applied migrations, when database_ok */
};

#define APP_PROBE_TTL_MS 1000

struct app {
	struct es_config cfg;
	struct auth_keys *keys;
	struct token_cache tokens;         /* tokens verified with keys and cfg.jwt */
	struct aggdef_registry *aggdefs;   /* [aggregates] dir, loaded with the configuration */
	struct db *db;                     /* one persistent connection, lazy */
	struct db *read_db;                /* [database] read_url's, or NULL (replica.h) */
	char *config_path;                 /* NULL: the default file */
	int64_t started_ms;                /* monotonic start, for uptime */
	bool listening;                    /* LISTEN issued on db (the feed's wake-up) */
	struct app_probe probe;
	volatile sig_atomic_t *stop;       /* set when the process must stop; may be NULL */
	struct poolstats *pool;            /* the pool's shared state; NULL outside a pool */
	int pool_slot;                     /* this worker's slot in pool */
	int waiter_sock;                   /* the pool's waiter process (park.h); -1: none */
	int waiter_poke;                   /* its eventfd of pokes, when waiter_sock >= 0 */
	/* What db had counted when last added to pool (db_failures,
	 * db_reconnects): each request adds the difference. */
	unsigned long db_failures_counted[POOLSTATS_DB_KINDS];
	unsigned long db_reconnects_counted;
};

/* Loads the configuration (config_path NULL: the default file), the
 * JWT keys and the aggregate definitions ("file: /pointer: reason" on a bad
 * one). Does not connect to the database. On failure err holds one line
 * for the operator and app is released. config_path is copied. */
bool app_init(struct app *app, const char *config_path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Creates the database handle (it connects on first use). Call it in the
 * process that will use it: after fork(), never before. */
bool app_open_db(struct app *app) __attribute__((warn_unused_result));

/* Re-reads the configuration, keys and aggregate definitions; on success swaps them in (and
 * recreates the database handle when [database] changed), on failure keeps
 * the old ones and fills err. */
bool app_reload(struct app *app, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Serves one request read from io and writes its response to io, and
 * counts it in app->pool (route, method, status, duration, and what the
 * database handle counted meanwhile). Leaves nothing allocated behind. */
void app_handle(struct app *app, const struct http_io *io);

/* Refreshes app->probe (does the database answer, at which schema
 * version) unless it is younger than APP_PROBE_TTL_MS; readiness and the
 * API's schema check share it. A database in its reconnect backoff fails
 * fast. */
void app_probe_database(struct app *app);

/* An append committed: wake the long polls. In a pool the waiter process
 * hears it (and tells other hosts and the runners); elsewhere a NOTIFY
 * goes out now, in its own transaction, after the append's commit. */
void app_announce_commit(struct app *app);

/* The access log record of one request (at LOG_INFO). */
void app_log_request(const char *request_id, const char *method, const char *route, int status,
		     int64_t started_us, const char *traceparent);

/* CLOCK_MONOTONIC in microseconds (request timing). */
int64_t app_mono_usec(void);

/* True when the process was asked to stop (handlers that wait use it). */
bool app_stopping(const struct app *app);

/* Releases everything; safe on a zeroed app. */
void app_fini(struct app *app);

#endif
