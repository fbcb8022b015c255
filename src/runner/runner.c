/* runner.c - the daemon's one loop, its lifecycle and its reloads. One
 * thread: the claimed units (unit.h, claims.h) take turns a page at a
 * time; when no unit found work the loop sleeps on LISTEN until a
 * notification, the poll interval, a retry or a heartbeat. Under systemd
 * the loop reports its state (sdnotify.h) and, with WatchdogSec=, pings
 * the watchdog each time it turns, so a runner stuck anywhere is restarted. */
#include "buildconf.h"
#include "runner/runner.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "base/config.h"
#include "base/log.h"
#include "base/sdnotify.h"
#include "base/timefmt.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "store/store.h"
#include "subs/subscription.h"
#include "runner/claims.h"
#include "runner/handler.h"
#include "runner/partition.h"
#include "runner/sub.h"
#include "runner/unit.h"

#define CLAIM_INTERVAL_MS 2000
/* How often a runner waiting for `evstorectl migrate` asks again. */
#define SCHEMA_RECHECK_MS 1000

static volatile sig_atomic_t sig_stop;      /* number of TERM/INT received */
static volatile sig_atomic_t sig_reload;
static volatile sig_atomic_t hard_stop_s = 30; /* [runner] shutdown_timeout */

/* What the orderly stop leaves of shutdown_timeout for freeing and exiting
 * before the alarm ends the process (runner_on_alarm). */
#define SHUTDOWN_EXIT_RESERVE_MS 1000

struct runner {
	struct es_config *cfg;
	const char *config_path;
	struct db *db;
	struct db *lockdb;
	struct unit_host host;        /* what the units share: db, runner_id, aggdefs */
	struct claims claims;
	struct sub **subs;
	size_t n_subs;
	struct aggdef_registry *aggdefs; /* loaded when a snapshots subscription exists */
	char runner_id[128];
	int64_t stop_at_ms;           /* when the first stop signal was seen */
	int64_t events_drained;
	bool forced;
	int64_t watchdog_ms;          /* ping interval: half of WATCHDOG_USEC; 0: none */
	int64_t watchdog_next_ms;     /* when the next ping is due */
	char status[128];             /* the last STATUS= sent */
	unsigned long schema_ok_epoch; /* db session whose schema was found current; 0: none */
	bool schema_waiting;          /* logged schema_not_migrated, waiting for migrate */
	bool sessions_checked;        /* its two connections have sessions of their own */
};

/* ---------------------------------------------------------------- signals */

/* The first stop signal arms the alarm that bounds the whole stop, even
 * if a step blocks where no deadline reaches it. */
static void runner_on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_reload = 1;
	else if (sig_stop++ == 0)
		alarm((unsigned)hard_stop_s);
}

/* shutdown_timeout has passed since the first stop signal and the orderly
 * stop has not ended the process: end it now (the exec programs go with
 * it, see handler_exec.c). Async-signal-safe calls only. */
static void runner_on_alarm(int sig)
{
	static const char msg[] = "{\"event\":\"runner_shutdown\",\"level\":\"error\","
				  "\"phase\":\"killed\",\"reason\":\"shutdown_timeout passed\"}\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(1);
}

void runner_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = runner_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a signal ends poll() at once */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = runner_on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Sleeps up to ms unless a signal arrives. */
static void runner_nap(int64_t ms)
{
	if (ms > 0)
		poll(NULL, 0, ms > 1000 ? 1000 : (int)ms);
}

/* True once the in-flight work must be abandoned: a second signal, or the
 * drain time is up. */
static bool runner_forced(struct runner *r)
{
	if (!sig_stop)
		return false;
	if (!r->stop_at_ms)
		r->stop_at_ms = time_mono_ms();
	if (sig_stop > 1 || time_mono_ms() - r->stop_at_ms > (int64_t)r->cfg->runner.drain_timeout * 1000)
		r->forced = true;
	return r->forced;
}

/* ---------------------------------------------------------------- systemd */

/* WATCHDOG=1 when half the interval has passed since the last one. Called
 * from the loop only: a runner that stops turning stops pinging. */
static void runner_watchdog(struct runner *r)
{
	int64_t now;

	if (!r->watchdog_ms)
		return;
	now = time_mono_ms();
	if (now < r->watchdog_next_ms)
		return;
	(void)sdnotify_send("WATCHDOG=1");
	r->watchdog_next_ms = now + r->watchdog_ms;
}

/* STATUS= for systemctl status, sent when it says something new. */
static void runner_status(struct runner *r, const char *phase)
{
	char status[sizeof r->status];

	snprintf(status, sizeof status, "%s: %zu subscriptions, %zu partitions claimed", phase,
		 r->n_subs, r->claims.n);
	if (strcmp(status, r->status) == 0)
		return;
	memcpy(r->status, status, sizeof status);
	(void)sdnotify_sendf("STATUS=%s", status);
}

/* ---------------------------------------------------- configurations */

bool runner_needs_aggdefs(const struct subscription *subs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (subs[i].handler == SUB_HANDLER_SNAPSHOTS)
			return true;
	}
	return false;
}

/* Loads the aggregate definitions of cfg's [aggregates] dir when one of
 * confs[0..n) is a snapshots subscription (*out stays NULL otherwise): then
 * a missing directory or a bad file stops the runner as it stops
 * evstore-fcgi. On failure err holds the definition's "file: /pointer:
 * reason" or the directory's problem. *out is a new registry
 * (aggdef_registry_free). */
static enum es_status runner_load_aggdefs(const struct es_config *cfg, const struct subscription *confs,
					  size_t n, struct aggdef_registry **out, char *err,
					  size_t errlen)
{
	enum es_status rc;
	size_t background = 0;

	*out = NULL;
	if (!runner_needs_aggdefs(confs, n))
		return aggdef_registry_privacy(NULL, cfg->privacy.master_key_file,
					       cfg->privacy.previous_master_key_file, err, errlen);
	rc = aggdef_registry_load(cfg->aggregates.dir, out, err, errlen);
	if (rc == ES_OK)
		rc = aggdef_registry_privacy(*out, cfg->privacy.master_key_file,
					       cfg->privacy.previous_master_key_file, err, errlen);
	if (rc != ES_OK) {
		aggdef_registry_free(*out);
		*out = NULL;
		return rc;
	}
	for (size_t i = 0; i < (*out)->n; i++)
		background += (*out)->defs[i]->snapshot_mode == AGGDEF_SNAPSHOT_BACKGROUND;
	/* Not an error (definitions may come later), but nothing will be written. */
	if (background == 0)
		log_kv(LOG_WARNING, "snapshots_nothing_to_do", "dir", cfg->aggregates.dir,
		       "reason", "no aggregate definition has snapshot mode background", NULL);
	return ES_OK;
}

/* A runner without subscriptions is most likely pointed at the wrong
 * file: say so where the operator looks. */
static void runner_warn_if_idle(size_t n_subscriptions)
{
	if (n_subscriptions == 0)
		log_kv(LOG_WARNING, "no_subscriptions", "reason", SUBSCRIPTION_NONE, NULL);
}

/* runner_forced as a callback: the exec handler's abort check (give up a
 * wait for an answer) and the units' check between two events. */
static bool runner_abort_wait(void *arg)
{
	return runner_forced(arg);
}

/* ---------------------------------------------------------------- reload */

static void runner_reload(struct runner *r)
{
	struct es_config *cfg = calloc(1, sizeof *cfg);
	struct subscription *confs = NULL;
	struct sub **subs = NULL;
	struct aggdef_registry *aggdefs = NULL;
	size_t n = 0, started = 0, stopped = 0;
	char err[512];

	sig_reload = 0;
	if (!cfg || !config_load(cfg, r->config_path, err, sizeof err)) {
		log_kv(LOG_ERR, "reload_failed", "error", cfg ? err : "out of memory",
		       "action", "keeping the running configuration", NULL);
		free(cfg);
		return;
	}
	if (subscription_parse_all(cfg, &confs, &n, err, sizeof err) != ES_OK) {
		log_kv(LOG_ERR, "reload_failed", "error", err,
		       "action", "keeping the running configuration", NULL);
		config_free(cfg);
		free(cfg);
		return;
	}
	if (runner_load_aggdefs(cfg, confs, n, &aggdefs, err, sizeof err) != ES_OK) {
		log_kv(LOG_ERR, "reload_failed", "error", err,
		       "action", "keeping the running configuration", NULL);
		subscription_free_all(confs, n);
		config_free(cfg);
		free(cfg);
		return;
	}
	subs = calloc(n ? n : 1, sizeof *subs);
	for (size_t i = 0; subs && i < n; i++) {
		for (size_t j = 0; j < r->n_subs; j++) {
			if (r->subs[j] && strcmp(r->subs[j]->conf.name, confs[i].name) == 0 &&
			    strcmp(r->subs[j]->conf.fingerprint, confs[i].fingerprint) == 0) {
				subs[i] = r->subs[j]; /* unchanged: keeps running */
				r->subs[j] = NULL;
			}
		}
		if (!subs[i]) {
			subs[i] = sub_new(&confs[i], runner_abort_wait, r);
			started++;
		}
	}
	if (!subs) {
		log_kv(LOG_ERR, "reload_failed", "error", "out of memory", NULL);
		aggdef_registry_free(aggdefs);
		subscription_free_all(confs, n);
		config_free(cfg);
		free(cfg);
		return;
	}
	/* Removed or changed subscriptions stop, saving their checkpoints;
	 * changed ones start again from there at the next claim. */
	for (size_t j = 0; j < r->n_subs; j++) {
		if (!r->subs[j])
			continue;
		claims_drop_sub(&r->claims, &r->host, r->subs[j]);
		sub_free(r->subs[j]);
		stopped++;
	}
	free(r->subs);
	r->subs = subs;
	r->n_subs = 0;
	for (size_t i = 0; i < n; i++)
		if (subs[i])
			r->subs[r->n_subs++] = subs[i];
	subscription_free_all(confs, n);
	runner_warn_if_idle(n);
	/* Kept snapshots subscriptions see the definitions as they are now. */
	aggdef_registry_free(r->aggdefs);
	r->aggdefs = aggdefs;
	r->host.aggdefs = aggdefs;
	config_free(r->cfg);
	free(r->cfg);
	r->cfg = cfg;
	hard_stop_s = cfg->runner.shutdown_timeout;
	if (!log_open("evstore-runner", &cfg->log, err, sizeof err))
		log_kv(LOG_ERR, "reload_log_failed", "error", err, NULL);
	{
		json_object *f = json_object_new_object();

		json_object_object_add(f, "subscriptions", json_object_new_int64((int64_t)r->n_subs));
		json_object_object_add(f, "started", json_object_new_int64((int64_t)started));
		json_object_object_add(f, "stopped", json_object_new_int64((int64_t)stopped));
		log_json(LOG_NOTICE, "config_reloaded", f);
	}
	claims_round(&r->claims, &r->host, r->subs, r->n_subs);
}

/* ------------------------------------------------------------- lifecycle */

struct runner *runner_new(struct es_config *cfg, const char *config_path, char *err,
			  size_t errlen)
{
	struct runner *r = calloc(1, sizeof *r);
	struct subscription *confs = NULL;
	size_t n = 0;
	char host[64] = "localhost";

	if (!r) {
		snprintf(err, errlen, "out of memory");
		goto fail_cfg;
	}
	r->cfg = cfg;
	r->config_path = config_path;
	hard_stop_s = cfg->runner.shutdown_timeout;
	if (subscription_parse_all(cfg, &confs, &n, err, errlen) != ES_OK)
		goto fail;
	if (runner_load_aggdefs(cfg, confs, n, &r->aggdefs, err, errlen) != ES_OK)
		goto fail;
	if (config_transaction_pooling(cfg)) {
		snprintf(err, errlen, "[database] pooling = transaction: evstore-runner needs sessions of "
			 "its own (its partition claims are advisory locks, its wake-up is LISTEN); give "
			 "it a direct or session-pooled url in a configuration of its own");
		goto fail;
	}
	runner_warn_if_idle(n);
	r->subs = calloc(n ? n : 1, sizeof *r->subs);
	if (!r->subs)
		goto fail_oom;
	for (size_t i = 0; i < n; i++) {
		r->subs[r->n_subs] = sub_new(&confs[i], runner_abort_wait, r);
		if (!r->subs[r->n_subs]) {
			snprintf(err, errlen, "subscription %s: cannot start its handler", confs[i].name);
			goto fail;
		}
		r->n_subs++;
	}
	subscription_free_all(confs, n);
	confs = NULL;
	gethostname(host, sizeof host - 1);
	snprintf(r->runner_id, sizeof r->runner_id, "%s:%ld", host, (long)getpid());
	r->db = db_new(cfg->database.url, cfg->database.connect_timeout);
	r->lockdb = db_new(cfg->database.url, cfg->database.connect_timeout);
	if (!r->db || !r->lockdb)
		goto fail_oom;
	db_set_application_name(r->db, "evstore-runner");
	/* Projections run on event data: their errors quote it. */
	db_set_private_messages(r->db);
	db_set_private_messages(r->lockdb);
	db_set_application_name(r->lockdb, PARTITION_LOCK_APPNAME);
	r->host.db = r->db;
	r->host.runner_id = r->runner_id;
	r->host.aggdefs = r->aggdefs;
	r->host.forced = runner_abort_wait;
	r->host.forced_arg = r;
	claims_init(&r->claims, r->lockdb);
	r->watchdog_ms = (int64_t)(sdnotify_watchdog_usec() / 2000);
	if (r->watchdog_ms == 0 && sdnotify_watchdog_usec() > 0)
		r->watchdog_ms = 1;
	return r;
fail_oom:
	snprintf(err, errlen, "out of memory");
fail:
	subscription_free_all(confs, n);
	runner_free(r);
	return NULL;
fail_cfg:
	config_free(cfg);
	free(cfg);
	return NULL;
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	claims_free(&r->claims);
	for (size_t i = 0; i < r->n_subs; i++)
		sub_free(r->subs[i]);
	free(r->subs);
	aggdef_registry_free(r->aggdefs);
	db_free(r->db);
	db_free(r->lockdb);
	config_free(r->cfg);
	free(r->cfg);
	free(r);
}

/* Logs that the schema lacks migrations (once until it is fixed), or that
 * it was fixed. */
static void runner_log_schema(struct runner *r, int current, bool behind)
{
	json_object *f;

	if (behind == r->schema_waiting)
		return;
	r->schema_waiting = behind;
	f = json_object_new_object();
	json_object_object_add(f, "schema_version", json_object_new_int(current));
	json_object_object_add(f, "expected_version", json_object_new_int(migrate_expected_version()));
	if (behind)
		json_object_object_add(f, "action", json_object_new_string(
			MIGRATE_ADVICE "; the runner waits and checks again"));
	log_json(behind ? LOG_ERR : LOG_NOTICE, behind ? "schema_not_migrated" : "schema_ready", f);
}

/* Whether the database's schema has every migration this build needs, asked
 * once per session while it does. A schema behind the build is waited for
 * (logged once) rather than failed on at every statement. Needs a
 * connection (db_ensure); false too when the question fails. */
static bool runner_schema_ready(struct runner *r)
{
	unsigned long epoch = db_session_epoch(r->db);
	int current = 0;

	if (epoch != 0 && epoch == r->schema_ok_epoch)
		return true;
	if (migrate_current_version(r->db, &current) != ES_OK)
		return false;
	runner_log_schema(r, current, migrate_schema_behind(current));
	if (r->schema_waiting)
		return false;
	r->schema_ok_epoch = epoch;
	return true;
}

/* The next moment something is due, as a wait in milliseconds. */
static int64_t runner_idle_wait(struct runner *r)
{
	int64_t now = time_mono_ms(), wait = r->cfg->runner.poll_interval_ms;

	if (r->claims.last_round_ms + CLAIM_INTERVAL_MS - now < wait)
		wait = r->claims.last_round_ms + CLAIM_INTERVAL_MS - now;
	for (size_t i = 0; i < r->claims.n; i++) {
		int64_t due = unit_due_ms(r->claims.units[i], now);

		if (due - now < wait)
			wait = due - now;
	}
	if (r->watchdog_ms && r->watchdog_next_ms - now < wait)
		wait = r->watchdog_next_ms - now;
	return wait < 1 ? 1 : wait;
}

/* The orderly stop: the in-flight page was finished (draining) by the
 * loop; now checkpoints and status rows, bounded by shutdown_timeout. */
static int runner_shutdown(struct runner *r)
{
	int64_t timeout_ms = (int64_t)r->cfg->runner.shutdown_timeout * 1000;
	int64_t reserve_ms = timeout_ms / 2 < SHUTDOWN_EXIT_RESERVE_MS ? timeout_ms / 2
								       : SHUTDOWN_EXIT_RESERVE_MS;
	int64_t deadline = r->stop_at_ms + timeout_ms - reserve_ms;
	json_object *f;
	const char *phase;

	log_kv(LOG_NOTICE, "runner_stopping", "phase", "checkpointing", NULL);
	while (r->claims.n) {
		if (sig_stop > 1 || time_mono_ms() > deadline) {
			r->forced = true;
			break;
		}
		runner_watchdog(r);
		runner_status(r, "stopping");
		claims_drop_last(&r->claims, &r->host);
	}
	phase = r->forced ? "forced" : "stopped";
	f = json_object_new_object();
	json_object_object_add(f, "phase", json_object_new_string(phase));
	json_object_object_add(f, "duration_seconds",
			       json_object_new_double((double)(time_mono_ms() - r->stop_at_ms) / 1000.0));
	json_object_object_add(f, "events_drained", json_object_new_int64(r->events_drained));
	json_object_object_add(f, "checkpoints_saved", json_object_new_int(r->host.checkpoints_saved));
	log_json(r->forced ? LOG_WARNING : LOG_NOTICE, "runner_shutdown", f);
	return r->forced ? 1 : 0;
}

/* The advisory locks that claim partitions, and LISTEN, live in a server
 * session: behind a pooler in transaction mode another client's
 * transaction could run in the session that holds them, and two runners
 * would process one partition. Checked once both connections answer;
 * true (and logged) when they share sessions: the runner must stop. */
static bool runner_sessions_shared(struct runner *r)
{
	bool shared = false;

	if (r->sessions_checked || db_ensure(r->db) != ES_OK || db_ensure(r->lockdb) != ES_OK ||
	    db_share_sessions(r->db, r->lockdb, &shared) != ES_OK)
		return false;
	r->sessions_checked = true;
	if (shared)
		log_kv(LOG_ERR, "runner_needs_sessions", "error",
		       "its two connections landed in one server session: [database] url leads to a "
		       "pooler in transaction mode; give evstore-runner a direct or session-pooled url",
		       NULL);
	return shared;
}

int runner_run(struct runner *r)
{
	/* Registered once; db.c LISTENs again after every reconnect. */
	if (db_listen(r->db, STORE_NOTIFY_CHANNEL) != ES_OK)
		log_kv(LOG_WARNING, "runner_listen_failed", "error", db_last_error(r->db), NULL);
	if (runner_sessions_shared(r))
		return 1;
	if (db_ensure(r->db) == ES_OK && runner_schema_ready(r))
		claims_round(&r->claims, &r->host, r->subs, r->n_subs);
	{
		json_object *f = json_object_new_object();

		json_object_object_add(f, "runner_id", json_object_new_string(r->runner_id));
		json_object_object_add(f, "subscriptions", json_object_new_int64((int64_t)r->n_subs));
		json_object_object_add(f, "partitions_claimed", json_object_new_int64((int64_t)r->claims.n));
		log_json(LOG_NOTICE, "runner_started", f);
	}
	while (!sig_stop) {
		bool worked = false;

		runner_watchdog(r);
		if (sig_reload) {
			(void)sdnotify_sendf("RELOADING=1\nMONOTONIC_USEC=%lld",
					     (long long)time_mono_ms() * 1000);
			runner_reload(r);
			r->status[0] = '\0';
			(void)sdnotify_send("READY=1");
		}
		runner_status(r, "running");
		if (db_ensure(r->db) != ES_OK) {
			runner_nap(200);
			continue;
		}
		/* Before any partition is claimed: nothing to hand back. */
		if (runner_sessions_shared(r))
			return 1;
		if (!runner_schema_ready(r)) {
			runner_nap(SCHEMA_RECHECK_MS);
			continue;
		}
		if (time_mono_ms() - r->claims.last_round_ms >= CLAIM_INTERVAL_MS)
			claims_round(&r->claims, &r->host, r->subs, r->n_subs);
		for (size_t i = 0; i < r->claims.n && !sig_stop; i++) {
			size_t handled;

			if (unit_step(&r->host, r->claims.units[i], &handled))
				worked = true;
			if (sig_stop)
				r->events_drained += (int64_t)handled;
			unit_heartbeat(&r->host, r->claims.units[i]);
		}
		if (!worked && !sig_stop && !sig_reload)
			(void)db_wait_notify(r->db, (int)runner_idle_wait(r));
	}
	if (!r->stop_at_ms)
		r->stop_at_ms = time_mono_ms();
	(void)sdnotify_send("STOPPING=1");
	log_kv(LOG_NOTICE, "runner_stopping", "phase", "draining", NULL);
	return runner_shutdown(r);
}
