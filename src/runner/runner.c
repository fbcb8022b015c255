/* runner.c - the daemon's one loop. Each claimed (subscription, partition)
 * is a unit with three cursors: saved (the checkpoint row), done (the last
 * event handled; equal to saved for sql) and scan (how far the feed has
 * been read; reset to done after a failure). One thread: units take turns
 * a page at a time; when no unit found work the loop sleeps on LISTEN
 * until a notification, the poll interval, a retry or a heartbeat. */
#include "buildconf.h"
#include "runner/runner.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "base/config.h"
#include "pg/db.h"
#include "base/log.h"
#include "store/store.h"
#include "subs/subscription.h"
#include "base/timefmt.h"
#include "runner/checkpoint.h"
#include "runner/dlq.h"
#include "runner/handler.h"
#include "runner/loop.h"
#include "runner/partition.h"
#include "runner/retry.h"
#include "runner/status.h"

#define CLAIM_INTERVAL_MS 2000
#define STATUS_INTERVAL_MS 1000
#define DLQ_SCAN_INTERVAL_MS 1000
#define DLQ_BATCH 20
#define IDLE_SYNC_MS 1000
#define TRANSIENT_MIN_MS 100
#define TRANSIENT_MAX_MS 5000

static volatile sig_atomic_t sig_stop;      /* number of TERM/INT received */
static volatile sig_atomic_t sig_reload;

struct sub {
	struct subscription conf;
	struct handler_sql *sql;
	struct handler_exec *exec;
	struct handler_snapshots *snap;
};

struct unit {
	struct sub *sub;
	int partition;
	struct feed_cursor saved, done, scan;
	const char *state;
	bool errored;
	int64_t processed, failed;
	struct status_rate rate;
	char last_error[512];
	bool have_error;
	int64_t last_event_usec, started_usec;
	int64_t fail_position;        /* the event failing now, 0: none */
	int fail_attempts;
	int64_t first_failed_usec;
	int64_t wait_until_ms;
	int transient_attempts;
	int64_t last_ckpt_ms, last_status_ms, last_dlq_ms, last_sync_ms;
	uint32_t seed;
};

struct runner {
	struct es_config *cfg;
	const char *config_path;
	struct db *db;
	struct db *lockdb;
	PGconn *lock_conn;            /* the lock session the claims live on */
	unsigned long lock_gen;
	struct sub **subs;
	size_t n_subs;
	struct aggdef_registry *aggdefs; /* loaded when a snapshots subscription exists */
	struct unit **units;
	size_t n_units;
	char runner_id[128];
	int64_t last_claim_ms;
	int64_t stop_at_ms;           /* when the first stop signal was seen */
	int64_t events_drained;
	int checkpoints_saved;
	bool forced;
};

/* ---------------------------------------------------------------- signals */

static void runner_on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_reload = 1;
	else
		sig_stop++;
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

/* ---------------------------------------------------- configurations */

void runner_free_confs(struct subscription *subs, size_t n)
{
	for (size_t i = 0; subs && i < n; i++)
		subscription_free(&subs[i]);
	free(subs);
}

enum es_status runner_parse_confs(const struct es_config *cfg, struct subscription **subs, size_t *n,
				  char *err, size_t errlen)
{
	struct subscription *arr = calloc(cfg->n_subscriptions ? cfg->n_subscriptions : 1, sizeof *arr);
	enum es_status rc = ES_OK;
	size_t i;

	*subs = NULL;
	*n = 0;
	if (!arr)
		return ES_ENOMEM;
	for (i = 0; i < cfg->n_subscriptions && rc == ES_OK; i++) {
		rc = subscription_parse(&cfg->subscriptions[i], cfg->source_path, &arr[i], err, errlen);
		if (rc == ES_OK && arr[i].handler == SUB_HANDLER_SQL) {
			struct handler_sql *h = NULL;

			rc = handler_sql_new(arr[i].sql_file, &h, err, errlen);
			handler_sql_free(h);
		}
		if (rc != ES_OK)
			subscription_free(&arr[i]);
	}
	if (rc != ES_OK) {
		runner_free_confs(arr, i - 1);
		return rc;
	}
	*subs = arr;
	*n = cfg->n_subscriptions;
	return ES_OK;
}

/* Loads the aggregate definitions of cfg's [aggregates] dir when one of
 * confs[0..n) is a snapshots subscription (*out stays NULL otherwise). On
 * failure err holds the definition's "file: /pointer: reason". *out is a
 * new registry (aggdef_registry_free). */
static enum es_status runner_load_aggdefs(const struct es_config *cfg, const struct subscription *confs,
					  size_t n, struct aggdef_registry **out, char *err,
					  size_t errlen)
{
	enum es_status rc;
	size_t background = 0;
	bool wanted = false;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		wanted = wanted || confs[i].handler == SUB_HANDLER_SNAPSHOTS;
	if (!wanted)
		return ES_OK;
	rc = aggdef_registry_load(cfg->aggregates.dir, out, err, errlen);
	if (rc != ES_OK)
		return rc;
	for (size_t i = 0; i < (*out)->n; i++)
		background += (*out)->defs[i]->snapshot_mode == AGGDEF_SNAPSHOT_BACKGROUND;
	/* Not an error (definitions may come later), but nothing will be written. */
	if (background == 0)
		log_kv(LOG_WARNING, "snapshots_nothing_to_do", "dir", cfg->aggregates.dir,
		       "reason", "no aggregate definition has snapshot mode background", NULL);
	return ES_OK;
}

/* The exec handler's abort check: give up a wait for an answer once the
 * stop is forced (second signal, or drain_timeout spent). */
static bool runner_abort_wait(void *arg)
{
	return runner_forced(arg);
}

/* Takes conf (moved into the new sub); r is borrowed by the exec handler's
 * abort check for the sub's lifetime. */
static struct sub *sub_new(struct runner *r, struct subscription *conf)
{
	struct sub *s = calloc(1, sizeof *s);
	char err[512];

	if (!s)
		return NULL;
	s->conf = *conf;
	memset(conf, 0, sizeof *conf);
	if (s->conf.handler == SUB_HANDLER_SQL &&
	    handler_sql_new(s->conf.sql_file, &s->sql, err, sizeof err) != ES_OK) {
		log_kv(LOG_ERR, "subscription_failed", "subscription", s->conf.name, "error", err, NULL);
		goto fail;
	}
	if (s->conf.handler == SUB_HANDLER_EXEC) {
		s->exec = handler_exec_new(s->conf.command, s->conf.processing_timeout_ms);
		if (!s->exec)
			goto fail;
		handler_exec_set_abort(s->exec, runner_abort_wait, r);
	}
	if (s->conf.handler == SUB_HANDLER_SNAPSHOTS) {
		s->snap = handler_snapshots_new();
		if (!s->snap)
			goto fail;
	}
	return s;
fail:
	subscription_free(&s->conf);
	free(s);
	return NULL;
}

static void sub_free(struct sub *s)
{
	if (!s)
		return;
	handler_sql_free(s->sql);
	handler_exec_free(s->exec);
	handler_snapshots_free(s->snap);
	subscription_free(&s->conf);
	free(s);
}

/* ------------------------------------------------------------- status */

static void unit_write_status(struct runner *r, struct unit *u)
{
	int64_t now = time_mono_ms();
	struct status_row row = {
		.subscription = u->sub->conf.name,
		.partition = u->partition,
		.runner_id = r->runner_id,
		.state = u->state,
		.events_processed = u->processed,
		.events_failed = u->failed,
		.error_rate_per_min = status_rate_per_min(&u->rate, now),
		.checkpoint_position = u->done.position,
		.last_error = u->have_error ? u->last_error : NULL,
		.last_event_usec = u->last_event_usec,
		.started_usec = u->started_usec,
	};

	if (status_write(r->db, &row) == ES_OK)
		u->last_status_ms = now;
}

/* Records a failed attempt. */
static void unit_note_failure(struct unit *u, const char *err)
{
	u->failed++;
	status_rate_add(&u->rate, time_mono_ms());
	snprintf(u->last_error, sizeof u->last_error, "%s", err);
	u->have_error = true;
}

/* ------------------------------------------------------------ checkpoints */

/* Takes the checkpoint someone else stored (evstorectl rebuild, an
 * operator) as the place to go on from, forgetting the event in trouble;
 * a unit stopped in error starts again from there. */
static void unit_adopt(struct unit *u, const struct feed_cursor *stored)
{
	log_kv(LOG_WARNING, "checkpoint_moved", "subscription", u->sub->conf.name, NULL);
	u->saved = u->done = u->scan = *stored;
	u->fail_position = 0;
	u->fail_attempts = 0;
	if (u->errored) {
		u->errored = false;
		u->state = "catching_up";
		log_kv(LOG_NOTICE, "subscription_resumed", "subscription", u->sub->conf.name,
		       "reason", "its checkpoint was moved", NULL);
	}
}

/* Persists done when it is ahead of saved. */
static void unit_save(struct runner *r, struct unit *u)
{
	struct feed_cursor stored;
	enum es_status rc;

	if (checkpoint_equal(&u->saved, &u->done))
		return;
	rc = checkpoint_save(r->db, u->sub->conf.name, u->partition, &u->saved, &u->done);
	if (rc == ES_OK) {
		u->saved = u->done;
		u->last_ckpt_ms = time_mono_ms();
		r->checkpoints_saved++;
	} else if (rc == ES_ECONFLICT) {
		if (checkpoint_load(r->db, &u->sub->conf, u->partition, &stored) == ES_OK)
			unit_adopt(u, &stored);
	}
}

/* True at most once a second (or once per checkpoint_interval when
 * periodic): the pace of an idle unit's checkpoint upkeep. */
static bool unit_sync_due(struct unit *u)
{
	int64_t now = time_mono_ms(), every = IDLE_SYNC_MS;

	if (u->sub->conf.checkpoint_strategy == SUB_CKPT_PERIODIC &&
	    u->sub->conf.checkpoint_interval_ms > every)
		every = u->sub->conf.checkpoint_interval_ms;
	if (now - u->last_sync_ms < every)
		return false;
	u->last_sync_ms = now;
	return true;
}

/* Reads the stored checkpoint back and adopts it when someone moved it. */
static void unit_read_back(struct runner *r, struct unit *u)
{
	struct feed_cursor stored;

	if (checkpoint_load(r->db, &u->sub->conf, u->partition, &stored) == ES_OK &&
	    !checkpoint_equal(&stored, &u->saved))
		unit_adopt(u, &stored);
}

/* An idle unit (its last page was empty): moves the checkpoint up to what
 * has been read, so it does not stay behind the events the filters or
 * partitions leave out (rebuild and the lag go by it), and otherwise reads
 * it back, so a checkpoint moved by evstorectl rebuild is noticed even when
 * no event comes along to make the next advance fail. */
static void unit_idle_sync(struct runner *r, struct unit *u)
{
	if (!unit_sync_due(u))
		return;
	/* Everything up to scan was handled, parked or not ours. */
	u->done = u->scan;
	if (!checkpoint_equal(&u->saved, &u->done))
		unit_save(r, u);
	else
		unit_read_back(r, u);
}

/* Waits out a transient failure: no attempt is counted against the event. */
static void unit_transient(struct unit *u, const char *err)
{
	int64_t d = retry_delay_ms(++u->transient_attempts, TRANSIENT_MIN_MS, TRANSIENT_MAX_MS,
				   &u->seed);

	u->wait_until_ms = time_mono_ms() + d;
	u->scan = u->done;
	log_kv(LOG_WARNING, "subscription_waiting", "subscription", u->sub->conf.name,
	       "error", err, "class", "transient", NULL);
}

/* --------------------------------------------------------------- parking */

/* Parks ev and moves the checkpoint past it in one transaction. */
static enum es_status unit_park(struct runner *r, struct unit *u, const struct event *ev,
				const char *err)
{
	struct dlq_park_params pp;
	struct checkpoint_params cp;
	struct feed_cursor to = loop_event_cursor(ev);
	enum es_status rc;

	dlq_park_params_fill(&pp, u->sub->conf.name, u->partition, ev, err, "permanent",
			     u->fail_attempts ? u->fail_attempts : 1,
			     u->first_failed_usec ? u->first_failed_usec : time_now_usec());
	checkpoint_params_fill(&cp, u->sub->conf.name, u->partition, &u->saved, &to);
	rc = db_exec_sql(r->db, "BEGIN", NULL);
	if (rc == ES_OK)
		rc = db_exec_params(r->db, "dlq_park", DLQ_PARK_SQL, 13, pp.values, NULL);
	if (rc == ES_OK)
		rc = db_exec_params(r->db, "checkpoint_advance", CHECKPOINT_ADVANCE_SQL, 6,
				    cp.values, NULL);
	if (rc == ES_OK)
		rc = db_exec_sql(r->db, "COMMIT", NULL);
	if (rc != ES_OK) {
		bool moved = strcmp(db_last_sqlstate(r->db), "EVCKP") == 0;

		if (db_conn(r->db))
			(void)!db_exec_sql(r->db, "ROLLBACK", NULL);
		return moved ? ES_ECONFLICT : rc;
	}
	log_kv(LOG_WARNING, "event_parked", "subscription", u->sub->conf.name,
	       "event_id", ev->event_id, "error", err, NULL);
	u->saved = u->done = u->scan = to;
	r->checkpoints_saved++;
	u->fail_position = 0;
	u->fail_attempts = 0;
	u->first_failed_usec = 0;
	if (!u->sub->conf.continue_on_error) {
		u->errored = true;
		u->state = "error";
		log_kv(LOG_ERR, "subscription_stopped", "subscription", u->sub->conf.name,
		       "reason", "continue_on_error is false", NULL);
	}
	/* A park (and a stop in error) shows at once, not at the next beat. */
	unit_write_status(r, u);
	return ES_OK;
}

/* A permanent failure of ev: retry later with backoff, or park it once
 * max_retries is spent (at once for HANDLER_PARK). Returns true when the
 * unit may go on with the next event. */
static bool unit_failed_event(struct runner *r, struct unit *u, const struct event *ev,
			      enum handler_result res, const char *err)
{
	enum es_status rc;

	unit_note_failure(u, err);
	if (u->fail_position != ev->position) {
		u->fail_position = ev->position;
		u->fail_attempts = 0;
		u->first_failed_usec = time_now_usec();
	}
	u->fail_attempts++;
	if (res != HANDLER_PARK && u->fail_attempts <= u->sub->conf.max_retries) {
		u->wait_until_ms = time_mono_ms() +
			retry_delay_ms(u->fail_attempts, u->sub->conf.retry_initial_delay_ms,
				       u->sub->conf.retry_max_delay_ms, &u->seed);
		u->scan = u->done;
		log_kv(LOG_NOTICE, "event_retry", "subscription", u->sub->conf.name,
		       "event_id", ev->event_id, "error", err, NULL);
		return false;
	}
	/* Everything handled before ev must be saved before the park moves
	 * the checkpoint past ev. */
	unit_save(r, u);
	rc = unit_park(r, u, ev, err);
	if (rc == ES_ECONFLICT) {
		if (checkpoint_load(r->db, &u->sub->conf, u->partition, &u->saved) == ES_OK)
			u->done = u->scan = u->saved;
		return false;
	}
	if (rc != ES_OK) {
		unit_transient(u, db_last_error(r->db));
		return false;
	}
	return !u->errored;
}

/* ---------------------------------------------------------- the handlers */

static void unit_handled(struct unit *u, const struct event *ev)
{
	u->done = loop_event_cursor(ev);
	u->processed++;
	u->last_event_usec = time_now_usec();
	if (u->fail_position == ev->position) {
		u->fail_position = 0;
		u->fail_attempts = 0;
	}
	u->transient_attempts = 0;
}

/* Runs events ev[0..n) through the sql handler, each group in one
 * transaction with its checkpoint. Returns how many were handled. */
static size_t unit_run_sql(struct runner *r, struct unit *u, const struct event *ev, size_t n)
{
	size_t handled = 0, group = u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_EVENT ? 1 : n;

	while (handled < n) {
		size_t k = n - handled < group ? n - handled : group, failed;
		struct feed_cursor to = loop_event_cursor(&ev[handled + k - 1]);
		struct checkpoint_params cp;
		struct sql_tail tail;
		char err[512];
		enum handler_result res;

		if (runner_forced(r))
			break;
		checkpoint_params_fill(&cp, u->sub->conf.name, u->partition, &u->saved, &to);
		tail.sql = CHECKPOINT_ADVANCE_SQL;
		tail.nparams = 6;
		tail.values = cp.values;
		res = handler_sql_run(u->sub->sql, r->db, &ev[handled], k, &tail, 1, &failed, err,
				      sizeof err);
		if (res == HANDLER_OK) {
			for (size_t i = 0; i < k; i++)
				unit_handled(u, &ev[handled + i]);
			u->saved = u->done;
			r->checkpoints_saved++;
			handled += k;
			continue;
		}
		if (res == HANDLER_TRANSIENT) {
			unit_transient(u, err);
			break;
		}
		if (res == HANDLER_MOVED) {
			struct feed_cursor stored;

			if (checkpoint_load(r->db, &u->sub->conf, u->partition, &stored) == ES_OK)
				unit_adopt(u, &stored);
			break;
		}
		if (k > 1) {
			group = 1; /* find the failing event one at a time */
			continue;
		}
		if (!unit_failed_event(r, u, &ev[handled], res, err))
			break;
		handled++;
		group = u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_EVENT ? 1 : n;
	}
	return handled;
}

/* exec, audit and snapshots: one event at a time, checkpoint as
 * configured. */
static size_t unit_run_each(struct runner *r, struct unit *u, const struct event *ev, size_t n)
{
	size_t handled = 0;

	handler_snapshots_forget(u->sub->snap);
	for (; handled < n; handled++) {
		char err[512] = "";
		enum handler_result res;

		if (runner_forced(r))
			break;
		if (u->sub->conf.handler == SUB_HANDLER_EXEC)
			res = handler_exec_handle(u->sub->exec, &ev[handled], err, sizeof err);
		else if (u->sub->conf.handler == SUB_HANDLER_SNAPSHOTS)
			res = handler_snapshots_handle(u->sub->snap, r->aggdefs, r->db, &ev[handled],
						       err, sizeof err);
		else
			res = handler_audit_emit(&ev[handled], err, sizeof err);
		if (res == HANDLER_TRANSIENT) {
			unit_transient(u, err);
			break;
		}
		if (res != HANDLER_OK) {
			if (!unit_failed_event(r, u, &ev[handled], res, err))
				break;
			continue;
		}
		unit_handled(u, &ev[handled]);
		if (u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_EVENT)
			unit_save(r, u);
	}
	if (u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_BATCH ||
	    (u->sub->conf.checkpoint_strategy == SUB_CKPT_PERIODIC &&
	     time_mono_ms() - u->last_ckpt_ms >= u->sub->conf.checkpoint_interval_ms))
		unit_save(r, u);
	return handled;
}

/* Handles one requeued DLQ event; returns the handler's verdict. */
static enum handler_result unit_retry_one(struct runner *r, struct unit *u, const struct event *ev,
					  const char *id, char *err, size_t errlen)
{
	const char *vals[1] = { id };
	enum handler_result res;

	if (u->sub->conf.handler == SUB_HANDLER_SQL) {
		/* The checkpoint "advance" from saved to saved makes the retry
		 * roll back when evstorectl rebuild reset the subscription
		 * meanwhile: the replay applies the event, so must not we. */
		struct checkpoint_params cp;
		struct sql_tail tail[2] = { { DLQ_RESOLVED_SQL, 1, vals },
					    { CHECKPOINT_ADVANCE_SQL, 6, cp.values } };
		size_t failed;

		checkpoint_params_fill(&cp, u->sub->conf.name, u->partition, &u->saved, &u->saved);
		return handler_sql_run(u->sub->sql, r->db, ev, 1, tail, 2, &failed, err, errlen);
	}
	if (u->sub->conf.handler == SUB_HANDLER_EXEC)
		res = handler_exec_handle(u->sub->exec, ev, err, errlen);
	else if (u->sub->conf.handler == SUB_HANDLER_SNAPSHOTS)
		res = handler_snapshots_handle(u->sub->snap, r->aggdefs, r->db, ev, err, errlen);
	else
		res = handler_audit_emit(ev, err, errlen);
	if (res == HANDLER_OK &&
	    db_exec_params(r->db, "dlq_resolved", DLQ_RESOLVED_SQL, 1, vals, NULL) != ES_OK) {
		snprintf(err, errlen, "%s", db_last_error(r->db));
		return HANDLER_TRANSIENT;
	}
	return res;
}

/* Reprocesses requeued DLQ entries, DLQ_BATCH at a time; the checkpoint
 * does not move. Returns true when there was any. */
static bool unit_requeued(struct runner *r, struct unit *u)
{
	char part[16], lim[16];
	const char *vals[3] = { u->sub->conf.name, part, lim };
	PGresult *res = NULL;
	struct page pg = { 0 };
	char *arr = NULL;
	size_t len = 0;
	bool any = false;
	int rows;

	u->last_dlq_ms = time_mono_ms();
	snprintf(part, sizeof part, "%d", u->partition);
	snprintf(lim, sizeof lim, "%d", DLQ_BATCH);
	if (db_exec_params(r->db, "dlq_retrying", DLQ_RETRYING_SQL, 3, vals, &res) != ES_OK)
		goto out;
	rows = PQntuples(res);
	if (rows == 0)
		goto out;
	any = true;
	arr = malloc((size_t)rows * 24 + 3);
	if (!arr)
		goto out;
	len += (size_t)sprintf(arr, "{");
	for (int i = 0; i < rows; i++)
		len += (size_t)sprintf(arr + len, "%s%s", i ? "," : "", PQgetvalue(res, i, 1));
	sprintf(arr + len, "}");
	if (loop_fetch_positions(r->db, arr, &pg) != ES_OK)
		goto out;
	for (int i = 0; i < rows; i++) {
		int64_t pos = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		const char *id = PQgetvalue(res, i, 0);
		const struct event *ev = NULL;
		enum handler_result hr;
		char err[512] = "";

		for (size_t k = 0; k < pg.n; k++)
			if (pg.ev[k].position == pos)
				ev = &pg.ev[k];
		if (!ev)
			continue;
		hr = unit_retry_one(r, u, ev, id, err, sizeof err);
		if (hr == HANDLER_OK) {
			u->processed++;
			log_kv(LOG_NOTICE, "dlq_resolved", "subscription", u->sub->conf.name,
			       "dlq_id", id, NULL);
		} else if (hr == HANDLER_TRANSIENT) {
			break;
		} else if (hr == HANDLER_MOVED) {
			struct feed_cursor stored;

			if (checkpoint_load(r->db, &u->sub->conf, u->partition, &stored) == ES_OK)
				unit_adopt(u, &stored);
			break;
		} else {
			const char *v2[2] = { id, err };

			unit_note_failure(u, err);
			if (db_exec_params(r->db, "dlq_failed_again", DLQ_FAILED_AGAIN_SQL, 2, v2,
					   NULL) != ES_OK)
				break;
		}
	}
out:
	page_free(&pg);
	free(arr);
	PQclear(res);
	return any;
}

/* One turn of a unit: requeued DLQ entries, then one page of the feed.
 * Returns true when it did work (the loop then does not sleep). */
static bool unit_step(struct runner *r, struct unit *u)
{
	struct page pg;
	struct event *mine = NULL;
	size_t n_mine = 0, handled;
	enum es_status rc;
	int64_t now = time_mono_ms();
	bool worked = false;

	if (u->errored) {
		/* Stopped until an operator moves the checkpoint (rebuild). */
		if (unit_sync_due(u))
			unit_read_back(r, u);
		return false;
	}
	if (now < u->wait_until_ms)
		return false;
	if (now - u->last_dlq_ms >= DLQ_SCAN_INTERVAL_MS)
		worked = unit_requeued(r, u);
	rc = loop_fetch(r->db, &u->sub->conf, &u->scan, u->sub->conf.batch_size, &pg);
	if (rc != ES_OK) {
		unit_transient(u, db_last_error(r->db));
		return worked;
	}
	u->transient_attempts = 0;
	if (pg.n == 0) {
		if (pg.horizon.txid > u->scan.txid)
			u->scan = pg.horizon;
		if (strcmp(u->state, "live") != 0)
			u->state = "live";
		unit_idle_sync(r, u);
		page_free(&pg);
		return worked;
	}
	u->state = pg.full ? "catching_up" : "live";
	mine = pg.ev;
	if (u->sub->conf.partitions > 1) {
		for (size_t i = 0; i < pg.n; i++)
			if (partition_of(pg.ev[i].aggregate_id, u->sub->conf.partitions) == u->partition)
				pg.ev[n_mine++] = pg.ev[i];
	} else {
		n_mine = pg.n;
	}
	{
		/* The feed position after this page, before the events are
		 * compacted: the last row read, or the horizon. */
		struct feed_cursor last = pg.full ? loop_event_cursor(&pg.ev[pg.n - 1]) : pg.horizon;
		struct event tail_ev;

		if (u->sub->conf.partitions > 1 && pg.full) {
			/* pg.ev was compacted: find the last row in the result. */
			int rows = PQntuples(pg.res);

			tail_ev.txid_num = strtoull(PQgetvalue(pg.res, rows - 1, 2), NULL, 10);
			tail_ev.position = strtoll(PQgetvalue(pg.res, rows - 1, 3), NULL, 10);
			last = loop_event_cursor(&tail_ev);
		}
		if (u->sub->conf.handler == SUB_HANDLER_SQL)
			handled = unit_run_sql(r, u, mine, n_mine);
		else
			handled = unit_run_each(r, u, mine, n_mine);
		if (sig_stop)
			r->events_drained += (int64_t)handled;
		if (handled == n_mine && !u->errored && u->wait_until_ms <= time_mono_ms())
			u->scan = last;
		else
			u->scan = u->done;
	}
	page_free(&pg);
	return true;
}

/* ---------------------------------------------------------------- units */

static struct unit *unit_new(struct runner *r, struct sub *s, int partition)
{
	struct unit *u = calloc(1, sizeof *u);

	if (!u)
		return NULL;
	u->sub = s;
	u->partition = partition;
	u->state = "starting";
	u->started_usec = time_now_usec();
	u->seed = (uint32_t)(getpid() ^ (partition * 2654435761u) ^ (uint32_t)u->started_usec);
	if (checkpoint_load(r->db, &s->conf, partition, &u->saved) != ES_OK) {
		free(u);
		return NULL;
	}
	u->done = u->scan = u->saved;
	u->last_ckpt_ms = time_mono_ms();
	unit_write_status(r, u);
	log_kv(LOG_INFO, "partition_claimed", "subscription", s->conf.name, "runner_id",
	       r->runner_id, NULL);
	return u;
}

/* Saves, marks the row stopped (unless in error) and frees the unit. */
static void unit_stop(struct runner *r, struct unit *u, bool release)
{
	unit_save(r, u);
	if (!u->errored)
		u->state = "stopped";
	unit_write_status(r, u);
	if (release && db_conn(r->lockdb) &&
	    partition_release(r->lockdb, u->sub->conf.name, u->partition) != ES_OK)
		log_kv(LOG_WARNING, "partition_release_failed", "subscription", u->sub->conf.name,
		       NULL);
	free(u);
}

static void runner_remove_unit(struct runner *r, size_t i, bool release)
{
	unit_stop(r, r->units[i], release);
	r->units[i] = r->units[--r->n_units];
}

static bool runner_owns(struct runner *r, const struct sub *s, int partition)
{
	for (size_t i = 0; i < r->n_units; i++)
		if (r->units[i]->sub == s && r->units[i]->partition == partition)
			return true;
	return false;
}

/* Claims this runner's share of every subscription's partitions and gives
 * back what is above it. Claims live on the lock connection: when it was
 * lost, so were they, and every unit stops. */
static void runner_claim(struct runner *r)
{
	int runners = 1;

	r->last_claim_ms = time_mono_ms();
	if (r->lock_conn && (db_conn(r->lockdb) != r->lock_conn ||
			     db_reconnects(r->lockdb) != r->lock_gen)) {
		log_kv(LOG_WARNING, "partition_claims_lost", NULL);
		while (r->n_units)
			runner_remove_unit(r, r->n_units - 1, false);
		r->lock_conn = NULL;
	}
	if (db_ensure(r->lockdb) != ES_OK || db_ensure(r->db) != ES_OK)
		return;
	r->lock_conn = db_conn(r->lockdb);
	r->lock_gen = db_reconnects(r->lockdb);
	if (partition_count_runners(r->lockdb, &runners) != ES_OK)
		return;
	for (size_t s = 0; s < r->n_subs; s++) {
		struct sub *sub = r->subs[s];
		int parts = sub->conf.partitions, share = (parts + runners - 1) / runners, owned = 0;

		for (size_t i = 0; i < r->n_units; i++)
			owned += r->units[i]->sub == sub;
		for (size_t i = r->n_units; i-- > 0 && owned > share;) {
			if (r->units[i]->sub == sub) {
				runner_remove_unit(r, i, true);
				owned--;
			}
		}
		for (int p = 0; p < parts && owned < share; p++) {
			bool got = false;
			struct unit *u, **arr;

			if (runner_owns(r, sub, p))
				continue;
			if (partition_try_claim(r->lockdb, sub->conf.name, p, &got) != ES_OK)
				return;
			if (!got)
				continue;
			u = unit_new(r, sub, p);
			arr = u ? realloc(r->units, (r->n_units + 1) * sizeof *arr) : NULL;
			if (!arr) {
				free(u);
				(void)!partition_release(r->lockdb, sub->conf.name, p);
				continue;
			}
			r->units = arr;
			r->units[r->n_units++] = u;
			owned++;
		}
	}
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
	if (runner_parse_confs(cfg, &confs, &n, err, sizeof err) != ES_OK) {
		log_kv(LOG_ERR, "reload_failed", "error", err,
		       "action", "keeping the running configuration", NULL);
		config_free(cfg);
		free(cfg);
		return;
	}
	if (runner_load_aggdefs(cfg, confs, n, &aggdefs, err, sizeof err) != ES_OK) {
		log_kv(LOG_ERR, "reload_failed", "error", err,
		       "action", "keeping the running configuration", NULL);
		runner_free_confs(confs, n);
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
			subs[i] = sub_new(r, &confs[i]);
			started++;
		}
	}
	if (!subs) {
		log_kv(LOG_ERR, "reload_failed", "error", "out of memory", NULL);
		aggdef_registry_free(aggdefs);
		runner_free_confs(confs, n);
		config_free(cfg);
		free(cfg);
		return;
	}
	/* Removed or changed subscriptions stop, saving their checkpoints;
	 * changed ones start again from there at the next claim. */
	for (size_t j = 0; j < r->n_subs; j++) {
		if (!r->subs[j])
			continue;
		for (size_t i = r->n_units; i-- > 0;)
			if (r->units[i]->sub == r->subs[j])
				runner_remove_unit(r, i, true);
		sub_free(r->subs[j]);
		stopped++;
	}
	free(r->subs);
	r->subs = subs;
	r->n_subs = 0;
	for (size_t i = 0; i < n; i++)
		if (subs[i])
			r->subs[r->n_subs++] = subs[i];
	runner_free_confs(confs, n);
	/* Kept snapshots subscriptions see the definitions as they are now. */
	aggdef_registry_free(r->aggdefs);
	r->aggdefs = aggdefs;
	config_free(r->cfg);
	free(r->cfg);
	r->cfg = cfg;
	if (!log_open("evstore-runner", cfg, err, sizeof err))
		log_kv(LOG_ERR, "reload_log_failed", "error", err, NULL);
	{
		json_object *f = json_object_new_object();

		json_object_object_add(f, "subscriptions", json_object_new_int64((int64_t)r->n_subs));
		json_object_object_add(f, "started", json_object_new_int64((int64_t)started));
		json_object_object_add(f, "stopped", json_object_new_int64((int64_t)stopped));
		log_json(LOG_NOTICE, "config_reloaded", f);
	}
	runner_claim(r);
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
	if (runner_parse_confs(cfg, &confs, &n, err, errlen) != ES_OK)
		goto fail;
	if (runner_load_aggdefs(cfg, confs, n, &r->aggdefs, err, errlen) != ES_OK)
		goto fail;
	r->subs = calloc(n ? n : 1, sizeof *r->subs);
	if (!r->subs)
		goto fail_oom;
	for (size_t i = 0; i < n; i++) {
		r->subs[r->n_subs] = sub_new(r, &confs[i]);
		if (!r->subs[r->n_subs]) {
			snprintf(err, errlen, "subscription %s: cannot start its handler", confs[i].name);
			goto fail;
		}
		r->n_subs++;
	}
	runner_free_confs(confs, n);
	confs = NULL;
	gethostname(host, sizeof host - 1);
	snprintf(r->runner_id, sizeof r->runner_id, "%s:%ld", host, (long)getpid());
	r->db = db_new(cfg->database.url, cfg->database.connect_timeout);
	r->lockdb = db_new(cfg->database.url, cfg->database.connect_timeout);
	if (!r->db || !r->lockdb)
		goto fail_oom;
	db_set_application_name(r->db, "evstore-runner");
	db_set_application_name(r->lockdb, PARTITION_LOCK_APPNAME);
	return r;
fail_oom:
	snprintf(err, errlen, "out of memory");
fail:
	runner_free_confs(confs, n);
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
	for (size_t i = 0; i < r->n_units; i++)
		free(r->units[i]);
	free(r->units);
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

/* The next moment something is due, as a wait in milliseconds. */
static int64_t runner_idle_wait(struct runner *r)
{
	int64_t now = time_mono_ms(), wait = r->cfg->runner.poll_interval_ms;

	if (r->last_claim_ms + CLAIM_INTERVAL_MS - now < wait)
		wait = r->last_claim_ms + CLAIM_INTERVAL_MS - now;
	for (size_t i = 0; i < r->n_units; i++) {
		struct unit *u = r->units[i];

		if (u->wait_until_ms > now && u->wait_until_ms - now < wait)
			wait = u->wait_until_ms - now;
		if (u->last_status_ms + STATUS_INTERVAL_MS - now < wait)
			wait = u->last_status_ms + STATUS_INTERVAL_MS - now;
	}
	return wait < 1 ? 1 : wait;
}

/* The orderly stop: the in-flight page was finished (draining) by the
 * loop; now checkpoints and status rows, bounded by shutdown_timeout. */
static int runner_shutdown(struct runner *r)
{
	int64_t deadline = r->stop_at_ms + (int64_t)r->cfg->runner.shutdown_timeout * 1000;
	json_object *f;
	const char *phase;

	log_kv(LOG_NOTICE, "runner_stopping", "phase", "checkpointing", NULL);
	while (r->n_units) {
		if (sig_stop > 1 || time_mono_ms() > deadline) {
			r->forced = true;
			break;
		}
		runner_remove_unit(r, r->n_units - 1, true);
	}
	phase = r->forced ? "forced" : "stopped";
	f = json_object_new_object();
	json_object_object_add(f, "phase", json_object_new_string(phase));
	json_object_object_add(f, "duration_seconds",
			       json_object_new_double((double)(time_mono_ms() - r->stop_at_ms) / 1000.0));
	json_object_object_add(f, "events_drained", json_object_new_int64(r->events_drained));
	json_object_object_add(f, "checkpoints_saved", json_object_new_int(r->checkpoints_saved));
	log_json(r->forced ? LOG_WARNING : LOG_NOTICE, "runner_shutdown", f);
	return r->forced ? 1 : 0;
}

int runner_run(struct runner *r)
{
	/* Registered once; db.c LISTENs again after every reconnect. */
	if (db_listen(r->db, STORE_NOTIFY_CHANNEL) != ES_OK)
		log_kv(LOG_WARNING, "runner_listen_failed", "error", db_last_error(r->db), NULL);
	runner_claim(r);
	{
		json_object *f = json_object_new_object();

		json_object_object_add(f, "runner_id", json_object_new_string(r->runner_id));
		json_object_object_add(f, "subscriptions", json_object_new_int64((int64_t)r->n_subs));
		json_object_object_add(f, "partitions_claimed", json_object_new_int64((int64_t)r->n_units));
		log_json(LOG_NOTICE, "runner_started", f);
	}
	while (!sig_stop) {
		bool worked = false;

		if (sig_reload)
			runner_reload(r);
		if (db_ensure(r->db) != ES_OK) {
			runner_nap(200);
			continue;
		}
		if (time_mono_ms() - r->last_claim_ms >= CLAIM_INTERVAL_MS)
			runner_claim(r);
		for (size_t i = 0; i < r->n_units && !sig_stop; i++) {
			if (unit_step(r, r->units[i]))
				worked = true;
			if (time_mono_ms() - r->units[i]->last_status_ms >= STATUS_INTERVAL_MS)
				unit_write_status(r, r->units[i]);
		}
		if (!worked && !sig_stop && !sig_reload)
			(void)db_wait_notify(r->db, (int)runner_idle_wait(r));
	}
	if (!r->stop_at_ms)
		r->stop_at_ms = time_mono_ms();
	log_kv(LOG_NOTICE, "runner_stopping", "phase", "draining", NULL);
	return runner_shutdown(r);
}
