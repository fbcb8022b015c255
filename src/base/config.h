/* config.h - evstore.conf: the INI file, EVSTORE_<SECTION>_<KEY> overrides and
 * DATABASE_URL. One table in config.c drives parsing, defaults, the
 * environment and --print-config; the fields below are named like the keys.
 * Values follow the grammar of confval.h. */
#ifndef EVSTORE_CONFIG_H
#define EVSTORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "base/log.h"

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/evstore/evstore.conf"

/* One "[subscription NAME]" section, kept as raw key/value pairs (each
 * key once) with their lines; subs/subscription.c reads them with its own
 * table of keys, in the same grammar. */
struct config_kv {
	char *key;
	char *value;
	int line;
};
struct config_subscription {
	char *name;
	struct config_kv *items;
	size_t n_items;
};

struct es_config {
	struct {
		char *url;                 /* libpq URI or key=value string */
		char *read_url;            /* a hot standby for reads; "" none */
		char *pooling;             /* "session" or "transaction" (a pooler's mode) */
		int read_wait_ms;          /* a token's wait for the standby */
		int connect_timeout;       /* seconds for one connection attempt */
		int statement_timeout_ms;  /* 0: server default */
	} database;
	struct {
		char *base_path;           /* stripped from REQUEST_URI before routing */
		long max_body_bytes;       /* 413 above this */
		int max_events;            /* events per append, 413 above */
		int max_depth;             /* JSON nesting depth over the whole body */
		int default_page;          /* page size when no limit is given */
		int max_page;              /* larger limits are clamped */
		long max_page_bytes;       /* a page's events stop before this size */
		int max_wait;              /* long-poll cap in seconds */
		int max_waiters;           /* long polls the waiter process holds */
		bool health_requires_auth; /* close /health and /health/subscriptions/NAME */
		int retry_after;           /* seconds in Retry-After on 503 */
		int drain_delay;           /* seconds /health/ready says 503 before a pool stops */
		int workers;               /* evstore-fcgi pool size; 0: its default (--workers wins) */
	} http;
	struct {
		char *algorithm;           /* HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 */
		char *key_file;            /* HMAC secret or PEM public key */
		char *keys_dir;            /* one key per file, named by kid */
		char *issuer;              /* required iss when set */
		char *audience;            /* required aud when set */
		int leeway;                /* seconds of clock skew for exp/nbf/iat */
		int max_lifetime;          /* seconds exp may lie ahead of now; 0: no bound */
		char *tenant_claim;        /* claim holding the tenant UUID */
		bool require_tenant;       /* 403 without the tenant claim */
	} jwt;
	struct {
		char *dir;                 /* aggregate definition files */
	} aggregates;
	struct {
		char *master_key_file;     /* wraps the subject keys; "": personal data off */
		char *previous_master_key_file; /* unwraps keys not yet rotated; "": none */
	} privacy;
	struct {
		int error_rate_per_min;
		int errors_warn;
		int errors_critical;
		int lag_warn;
		int lag_critical;
		int dlq_warn;
		int dlq_critical;
		int runner_stale_after;    /* seconds */
		int transaction_age_warn;  /* seconds an open transaction may hold the feed back */
		int transaction_age_critical;
	} health;
	struct {
		bool require_auth;         /* GET /metrics needs an admin token */
	} metrics;
	struct {
		int hosts;                 /* evstore-fcgi hosts sharing the database */
		int runners;               /* evstore-runner processes */
		int spare_connections;     /* for evstorectl, psql, monitoring, replication */
	} deployment;
	struct log_settings log;   /* target, level, facility, audit_facility, socket */
	struct {
		int shutdown_timeout;      /* seconds */
		int drain_timeout;         /* seconds */
		int poll_interval_ms;      /* fallback poll when no NOTIFY arrives */
	} runner;

	struct config_subscription *subscriptions;
	size_t n_subscriptions;

	char *source_path;                 /* the file read, or NULL */
};

/* A check of [database] url beyond what this layer knows: libpq's parser
 * is reached through src/pg only (pgconninfo_problem), so each program
 * hands it in before its first config_load. Returns why the connection
 * string is wrong (never quoting a value), or NULL when it is fine. */
typedef const char *(*config_conninfo_check_fn)(const char *conninfo);
void config_set_conninfo_check(config_conninfo_check_fn check);

/* Fills cfg with defaults, then the file (path NULL: $EVSTORE_CONFIG if set
 * and not empty, else the default path, which alone may be missing), then DATABASE_URL, then the EVSTORE_<SECTION>_<KEY>
 * environment. On failure writes "file:line: message" (or "EVSTORE_X_Y:
 * message") into err and returns false; cfg is then released. cfg is
 * overwritten, not freed first: load into a fresh struct and swap on success
 * (a reload keeps the old configuration when the new one is bad).
 * After success every text field is non-NULL; an unset one is "". */
bool config_load(struct es_config *cfg, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Calls warn(name, closest, arg) for each EVSTORE_* variable in the
 * environment that names no key (EVSTORE_CONFIG aside): a typo there is
 * otherwise silently ignored. closest is the known variable nearest by edit
 * distance. Returns how many there were. */
size_t config_unknown_env(void (*warn)(const char *name, const char *closest, void *arg),
			  void *arg);

/* config_unknown_env with each logged as a warning
 * (event "unknown_environment_variable"); programs call it once at start. */
void config_warn_unknown_env(void);

/* [database] pooling = transaction: url goes through a pooler that may run
 * each transaction in another server session. */
static inline bool config_transaction_pooling(const struct es_config *cfg)
{
	return cfg->database.pooling && strcmp(cfg->database.pooling, "transaction") == 0;
}

/* Releases everything config_load allocated; safe on a zeroed struct. */
void config_free(struct es_config *cfg);

/* Writes the effective global sections (not the subscriptions: see
 * subscription_print_config) as an INI file that config_load reads back to
 * the same values, each key preceded by its help as a comment. Secrets are
 * shown as-is except passwords inside database.url, which are masked as
 * "***" (so that one value does not read back). */
void config_print(const struct es_config *cfg, FILE *out);

#endif
