/* unit.c - a claimed subscription partition's work. A unit has three
 * cursors: saved (the checkpoint row), done (the last event handled; equal
 * to saved for sql) and scan (how far the feed has been read; reset to
 * done after a failure). */
#include "buildconf.h"
#include "runner/unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timefmt.h"
#include "pg/db.h"
#include "store/feed.h"
#include "privacy/view.h"
#include "subs/checkpoint.h"
#include "subs/dlq.h"
#include "subs/erasures.h"
#include "subs/substatus.h"
#include "runner/partition.h"
#include "runner/retry.h"
#include "runner/sub.h"
#include "runner/trace.h"

#define STATUS_INTERVAL_MS 1000
#define REQUEUED_INTERVAL_MS 1000
#define REQUEUED_PER_TURN 20
#define IDLE_SYNC_MS 1000
#define TRANSIENT_MIN_MS 100
#define TRANSIENT_MAX_MS 5000
#define RATE_BUCKETS 6
#define RATE_BUCKET_MS 10000
/* A unit held up this long by failures on one event reports "paused". */
#define HELD_UP_REPORT_MS 5000
/* SubjectErased: how often partition 0 of a delivering subscription looks
 * into its inbox (erasures are rare; the look is an index lookup), and how
 * many it takes at a time. */
#define ERASURES_INTERVAL_MS 1000
#define ERASURES_PER_TURN 20

/* Failed attempts over the last minute, in buckets of 10 s. */
struct rate {
	int64_t bucket_start_ms;
	int buckets[RATE_BUCKETS];
};

struct unit {
	struct sub *sub;
	int partition;
	struct feed_cursor saved, done, scan;
	const char *state;
	bool errored;
	int64_t processed, failed;
	struct rate rate;
	char last_error[512];
	bool have_error;
	int64_t last_event_usec, started_usec;
	int64_t held_since_ms;        /* failing since (retries or transient), 0: not */
	int64_t fail_position;        /* the event failing now, 0: none */
	int fail_attempts;
	int64_t first_failed_usec;
	int64_t wait_until_ms;
	int transient_attempts;
	int64_t last_ckpt_ms, last_status_ms, last_requeued_ms, last_sync_ms;
	uint32_t seed;
	/* SubjectErased (partition 0 only): registered (or unregistered) in
	 * the erasure inbox; the last look; the erasure failing now, its
	 * attempts and when it is tried again. */
	bool erasures_subscribed;
	int64_t last_erasures_ms;
	int64_t erasure_key, erasure_wait_until_ms;
	int erasure_attempts;
};

struct sub *unit_sub(const struct unit *u)
{
	return u->sub;
}

int unit_partition(const struct unit *u)
{
	return u->partition;
}

/* ---------------------------------------------------------------- status */

/* Moves the window so its last bucket holds now. */
static void rate_roll(struct rate *r, int64_t now_ms)
{
	int64_t shift;

	if (r->bucket_start_ms == 0)
		r->bucket_start_ms = now_ms;
	shift = (now_ms - r->bucket_start_ms) / RATE_BUCKET_MS;
	if (shift <= 0)
		return;
	if (shift >= RATE_BUCKETS) {
		memset(r->buckets, 0, sizeof r->buckets);
	} else {
		memmove(r->buckets, r->buckets + shift,
			(size_t)(RATE_BUCKETS - shift) * sizeof r->buckets[0]);
		memset(r->buckets + RATE_BUCKETS - shift, 0, (size_t)shift * sizeof r->buckets[0]);
	}
	r->bucket_start_ms += shift * RATE_BUCKET_MS;
}

static double rate_per_min(struct rate *r, int64_t now_ms)
{
	int sum = 0;

	rate_roll(r, now_ms);
	for (int i = 0; i < RATE_BUCKETS; i++)
		sum += r->buckets[i];
	return sum;
}

/* The state the status row shows: "paused" while the unit has been held
 * up by failures for HELD_UP_REPORT_MS, so a subscription that keeps
 * failing shows in its health even when nothing is parked. */
static const char *unit_reported_state(const struct unit *u, int64_t now_ms)
{
	if (!u->errored && u->held_since_ms && now_ms - u->held_since_ms >= HELD_UP_REPORT_MS)
		return "paused";
	return u->state;
}

static void unit_write_status(struct unit_host *h, struct unit *u)
{
	int64_t now = time_mono_ms();
	struct substatus_row row = {
		.subscription = u->sub->conf.name,
		.partition = u->partition,
		.runner_id = h->runner_id,
		.state = unit_reported_state(u, now),
		.events_processed = u->processed,
		.events_failed = u->failed,
		.error_rate_per_min = rate_per_min(&u->rate, now),
		.checkpoint_position = u->done.position,
		.last_error = u->have_error ? u->last_error : NULL,
		.last_event_usec = u->last_event_usec,
		.started_usec = u->started_usec,
	};

	if (substatus_write(h->db, &row) == ES_OK)
		u->last_status_ms = now;
}

void unit_heartbeat(struct unit_host *h, struct unit *u)
{
	if (time_mono_ms() - u->last_status_ms >= STATUS_INTERVAL_MS)
		unit_write_status(h, u);
}

int64_t unit_due_ms(const struct unit *u, int64_t now_ms)
{
	int64_t due = u->last_status_ms + STATUS_INTERVAL_MS;

	if (u->wait_until_ms > now_ms && u->wait_until_ms < due)
		due = u->wait_until_ms;
	return due;
}

/* Records a failed attempt in the error rate and last_error: the
 * handler's summary and the event's id and position (ev NULL: the feed
 * failed, no event's doing). */
static void unit_note_error(struct unit *u, const struct event *ev, const char *summary)
{
	int64_t now = time_mono_ms();

	rate_roll(&u->rate, now);
	u->rate.buckets[RATE_BUCKETS - 1]++;
	if (!u->held_since_ms)
		u->held_since_ms = now;
	if (ev)
		snprintf(u->last_error, sizeof u->last_error, "%s (event %s at position %" PRId64 ")",
			 summary, ev->event_id, ev->position);
	else
		snprintf(u->last_error, sizeof u->last_error, "%s", summary);
	u->have_error = true;
}

/* A failed attempt that counts against the event (events_failed). */
static void unit_note_failure(struct unit *u, const struct event *ev, const char *summary)
{
	u->failed++;
	unit_note_error(u, ev, summary);
}

/* Adds what identifies ev in a record: its id, type and position, and the
 * trace id of the request that wrote it (when it came with one), so the
 * record can be found from that request's HTTP log. */
static void unit_add_event(json_object *f, const struct event *ev)
{
	char trace[TRACE_ID_LEN + 1];

	json_object_object_add(f, "event_id", json_object_new_string(ev->event_id));
	json_object_object_add(f, "event_type", json_object_new_string(ev->event_type));
	json_object_object_add(f, "position", json_object_new_int64(ev->position));
	if (trace_id_of_event(ev, trace))
		json_object_object_add(f, "trace_id", json_object_new_string(trace));
}

/* Logs a failure: the summary, never the detail; for an event's, the
 * event (unit_add_event) and the attempt that failed (1 = the first). */
static void unit_log_failure(int prio, const char *what, const struct unit *u,
			     const struct event *ev, int attempt, const char *summary,
			     const char *class)
{
	json_object *f;

	if (!log_enabled(prio))
		return;
	f = json_object_new_object();
	if (!f)
		return;
	json_object_object_add(f, "subscription", json_object_new_string(u->sub->conf.name));
	if (ev)
		unit_add_event(f, ev);
	json_object_object_add(f, "attempt", json_object_new_int(attempt));
	json_object_object_add(f, "error", json_object_new_string(summary));
	json_object_object_add(f, "class", json_object_new_string(class));
	log_json(prio, what, f);
}

/* ----------------------------------------------------------- checkpoints */

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

/* Reads the stored checkpoint back and adopts it when someone moved it. */
static void unit_read_back(struct unit_host *h, struct unit *u)
{
	struct feed_cursor stored;

	if (checkpoint_load(h->db, &u->sub->conf, u->partition, &stored) == ES_OK &&
	    !checkpoint_equal(&stored, &u->saved))
		unit_adopt(u, &stored);
}

/* After a move was refused (the checkpoint is elsewhere): goes on from
 * where it is now. */
static void unit_moved(struct unit_host *h, struct unit *u)
{
	struct feed_cursor stored;

	if (checkpoint_load(h->db, &u->sub->conf, u->partition, &stored) == ES_OK)
		unit_adopt(u, &stored);
}

/* Persists done when it is ahead of saved. */
static void unit_save(struct unit_host *h, struct unit *u)
{
	enum es_status rc;

	if (checkpoint_equal(&u->saved, &u->done))
		return;
	rc = checkpoint_save(h->db, u->sub->conf.name, u->partition, &u->saved, &u->done);
	if (rc == ES_OK) {
		u->saved = u->done;
		u->last_ckpt_ms = time_mono_ms();
		h->checkpoints_saved++;
	} else if (rc == ES_EMOVED) {
		unit_moved(h, u);
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

/* An idle unit (its last page was empty): moves the checkpoint up to what
 * has been read, so it does not stay behind the events the filters or
 * partitions leave out (rebuild and the lag go by it), and otherwise reads
 * it back, so a checkpoint moved by evstorectl rebuild is noticed even when
 * no event comes along to make the next move fail. */
static void unit_idle_sync(struct unit_host *h, struct unit *u)
{
	if (!unit_sync_due(u))
		return;
	/* Everything up to scan was handled, parked or not ours. */
	u->done = u->scan;
	if (!checkpoint_equal(&u->saved, &u->done))
		unit_save(h, u);
	else
		unit_read_back(h, u);
}

/* Waits out a transient failure of ev (NULL: of the feed): no attempt is
 * counted against the event, but the error rate and last_error show it. */
static void unit_transient(struct unit *u, const struct event *ev, const char *summary)
{
	int64_t d = retry_delay_ms(++u->transient_attempts, TRANSIENT_MIN_MS, TRANSIENT_MAX_MS,
				   &u->seed);

	unit_note_error(u, ev, summary);
	u->wait_until_ms = time_mono_ms() + d;
	u->scan = u->done;
	unit_log_failure(LOG_WARNING, "subscription_waiting", u, ev, u->transient_attempts, summary,
			 "transient");
}

/* --------------------------------------------------------------- parking */

/* Parks ev and moves the checkpoint past it in one transaction. */
static enum es_status unit_park(struct unit_host *h, struct unit *u, const struct event *ev,
				const struct handler_error *err)
{
	struct feed_cursor to = feed_event_cursor(ev);
	struct dlq_failure f = {
		.subscription = u->sub->conf.name,
		.partition = u->partition,
		.ev = ev,
		.error = err->detail,
		.error_class = "permanent",
		.attempts = u->fail_attempts ? u->fail_attempts : 1,
		.first_failed_usec = u->first_failed_usec ? u->first_failed_usec : time_now_usec(),
	};
	struct checkpoint_move move;
	enum es_status rc;

	checkpoint_move_init(&move, u->sub->conf.name, u->partition, &u->saved, &to);
	rc = dlq_park(h->db, &f, &move);
	if (rc != ES_OK)
		return rc;
	unit_log_failure(LOG_WARNING, "event_parked", u, ev, f.attempts, err->summary, "permanent");
	u->saved = u->done = u->scan = to;
	h->checkpoints_saved++;
	u->fail_position = 0;
	u->fail_attempts = 0;
	u->first_failed_usec = 0;
	u->held_since_ms = 0;
	if (!u->sub->conf.continue_on_error) {
		u->errored = true;
		u->state = "error";
		log_kv(LOG_ERR, "subscription_stopped", "subscription", u->sub->conf.name,
		       "reason", "continue_on_error is false", NULL);
	}
	/* A park (and a stop in error) shows at once, not at the next beat. */
	unit_write_status(h, u);
	return ES_OK;
}

/* A permanent failure of ev: retry later with backoff, or park it once
 * max_retries is spent (at once for HANDLER_PARK). Returns true when the
 * unit may go on with the next event. */
static bool unit_failed_event(struct unit_host *h, struct unit *u, const struct event *ev,
			      enum handler_result res, const struct handler_error *err)
{
	enum es_status rc;

	unit_note_failure(u, ev, err->summary);
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
		unit_log_failure(LOG_NOTICE, "event_retry", u, ev, u->fail_attempts, err->summary,
				 "permanent");
		return false;
	}
	/* Everything handled before ev must be saved before the park moves
	 * the checkpoint past ev. */
	unit_save(h, u);
	rc = unit_park(h, u, ev, err);
	if (rc == ES_EMOVED) {
		if (checkpoint_load(h->db, &u->sub->conf, u->partition, &u->saved) == ES_OK)
			u->done = u->scan = u->saved;
		return false;
	}
	if (rc != ES_OK) {
		unit_transient(u, ev, "the event could not be parked: the database failed");
		return false;
	}
	return !u->errored;
}

/* ----------------------------------------------------------- the handlers */

static void unit_handled(struct unit *u, const struct event *ev)
{
	if (log_enabled(LOG_DEBUG)) {
		json_object *f = json_object_new_object();

		if (f) {
			json_object_object_add(f, "subscription",
					       json_object_new_string(u->sub->conf.name));
			unit_add_event(f, ev);
		}
		log_json(LOG_DEBUG, "event_handled", f);
	}
	u->done = feed_event_cursor(ev);
	u->processed++;
	u->last_event_usec = time_now_usec();
	if (u->fail_position == ev->position) {
		u->fail_position = 0;
		u->fail_attempts = 0;
	}
	u->transient_attempts = 0;
	u->held_since_ms = 0;
}

/* Runs events ev[0..n) through the sql handler, each group in one
 * transaction with its checkpoint move. Returns how many were handled. */
static size_t unit_run_sql(struct unit_host *h, struct unit *u, const struct event *ev, size_t n)
{
	size_t handled = 0, group = u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_EVENT ? 1 : n;

	while (handled < n) {
		size_t k = n - handled < group ? n - handled : group, failed;
		struct feed_cursor to = feed_event_cursor(&ev[handled + k - 1]);
		struct checkpoint_move move;
		struct sql_tail tail;
		struct handler_error err;
		enum handler_result res;

		if (h->forced(h->forced_arg))
			break;
		checkpoint_move_init(&move, u->sub->conf.name, u->partition, &u->saved, &to);
		tail = (struct sql_tail){ move.sql, move.nparams, move.values };
		res = sub_handle(u->sub, h->db, h->aggdefs, &ev[handled], k, &tail, 1, &failed, &err);
		if (res == HANDLER_OK) {
			for (size_t i = 0; i < k; i++)
				unit_handled(u, &ev[handled + i]);
			u->saved = u->done;
			h->checkpoints_saved++;
			handled += k;
			continue;
		}
		if (res == HANDLER_TRANSIENT) {
			unit_transient(u, failed < k ? &ev[handled + failed] : NULL, err.summary);
			break;
		}
		if (res == HANDLER_MOVED) {
			unit_moved(h, u);
			break;
		}
		if (k > 1) {
			group = 1; /* find the failing event one at a time */
			continue;
		}
		if (!unit_failed_event(h, u, &ev[handled], res, &err))
			break;
		handled++;
		group = u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_EVENT ? 1 : n;
	}
	return handled;
}

/* exec, audit and snapshots: one event at a time, checkpoint as
 * configured. */
static size_t unit_run_each(struct unit_host *h, struct unit *u, const struct event *ev, size_t n)
{
	size_t handled = 0, failed;

	sub_page_start(u->sub);
	for (; handled < n; handled++) {
		struct handler_error err = { "", "" };
		enum handler_result res;

		if (h->forced(h->forced_arg))
			break;
		res = sub_handle(u->sub, h->db, h->aggdefs, &ev[handled], 1, NULL, 0, &failed, &err);
		if (res == HANDLER_TRANSIENT) {
			unit_transient(u, &ev[handled], err.summary);
			break;
		}
		if (res != HANDLER_OK) {
			if (!unit_failed_event(h, u, &ev[handled], res, &err))
				break;
			continue;
		}
		unit_handled(u, &ev[handled]);
		if (u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_EVENT)
			unit_save(h, u);
	}
	if (u->sub->conf.checkpoint_strategy == SUB_CKPT_EVERY_BATCH ||
	    (u->sub->conf.checkpoint_strategy == SUB_CKPT_PERIODIC &&
	     time_mono_ms() - u->last_ckpt_ms >= u->sub->conf.checkpoint_interval_ms))
		unit_save(h, u);
	return handled;
}

/* ------------------------------------------------------ personal data */

/* The events of a page re-rendered for the handler's view of personal
 * data: one string per event that held an envelope. */
struct opened {
	char **json;
	size_t n;
};

static void opened_free(struct opened *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->json[i]);
	free(o->json);
	o->json = NULL;
	o->n = 0;
}

/* Renders ev in view; a new string, or NULL with *rc set. */
static char *open_one(struct db *db, struct keyring *kr, const struct event *ev, enum personal_view view,
		      enum es_status *rc, char *err, size_t errlen)
{
	json_object *obj = json_tokener_parse(ev->json);
	char *out = NULL;

	*rc = obj ? view_event(db, kr, obj, view, err, errlen) : ES_EINTERNAL;
	if (*rc == ES_OK && !(out = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
									     JSON_C_TO_STRING_NOSLASHESCAPE))))
		*rc = ES_ENOMEM;
	json_object_put(obj);
	return out;
}

/* Points the events of pg that hold personal data at their view for u's
 * subscription (personal_data): clear or redacted, an erased subject's
 * fields null either way. An envelope that fails authentication is logged
 * and its event handed over redacted, never as garbage. Pages without
 * envelopes are left alone. */
static enum es_status unit_personal_view(struct unit_host *h, const struct unit *u, struct feed_page *pg,
					 struct opened *o)
{
	enum personal_view view = u->sub->conf.personal_data == SUB_PERSONAL_CLEAR ? PERSONAL_CLEAR
										   : PERSONAL_REDACTED;
	struct keyring kr = KEYRING_INIT;
	enum es_status rc = ES_OK;

	o->n = 0;
	o->json = NULL;
	for (size_t i = 0; rc == ES_OK && i < pg->n; i++) {
		char err[400] = "", *s;

		if (!strstr(pg->ev[i].json, PERSONAL_ENVELOPE_MARK))
			continue;
		if (!o->json && !(o->json = calloc(pg->n, sizeof *o->json))) {
			rc = ES_ENOMEM;
			break;
		}
		s = open_one(h->db, &kr, &pg->ev[i], view, &rc, err, sizeof err);
		if (rc == ES_EINTERNAL && view == PERSONAL_CLEAR) {
			log_kv(LOG_ERR, "personal_data_unreadable", "subscription", u->sub->conf.name,
			       "detail", err, NULL);
			s = open_one(h->db, &kr, &pg->ev[i], PERSONAL_REDACTED, &rc, err, sizeof err);
		}
		if (rc != ES_OK)
			break;
		o->json[o->n++] = s;
		pg->ev[i].json = s;
	}
	keyring_free(&kr);
	return rc;
}

/* ------------------------------------------------ requeued dead letters */

/* Handles one requeued event again; returns the handler's verdict. */
static enum handler_result unit_retry_one(struct unit_host *h, struct unit *u,
					  const struct event *ev, int64_t id,
					  struct handler_error *err)
{
	/* For sql the entry is settled in the event's transaction, with a
	 * checkpoint "move" from saved to saved: it makes the retry roll back
	 * when evstorectl rebuild reset the subscription meanwhile (the replay
	 * applies the event, so must not we). */
	struct dlq_retry_done done;
	struct checkpoint_move guard;
	struct sql_tail tail[2];
	enum handler_result res;
	size_t failed;

	dlq_retry_done_init(&done, id);
	checkpoint_move_init(&guard, u->sub->conf.name, u->partition, &u->saved, &u->saved);
	tail[0] = (struct sql_tail){ done.sql, done.nparams, done.values };
	tail[1] = (struct sql_tail){ guard.sql, guard.nparams, guard.values };
	res = sub_handle(u->sub, h->db, h->aggdefs, ev, 1, tail, 2, &failed, err);
	if (res == HANDLER_OK && u->sub->conf.handler != SUB_HANDLER_SQL &&
	    dlq_mark_retry_done(h->db, id) != ES_OK) {
		handler_error_set(err, "the entry could not be resolved: the database failed");
		return HANDLER_TRANSIENT;
	}
	return res;
}

/* Logs what became of a requeued entry's attempt: its id, the event, the
 * attempt (the entry's count plus this one) and, when it failed, the
 * error's summary. */
static void unit_log_requeued(int prio, const char *what, const struct unit *u,
			      const struct event *ev, const struct dlq_requeued *entry,
			      const char *summary)
{
	json_object *f;

	if (!log_enabled(prio))
		return;
	f = json_object_new_object();
	if (!f)
		return;
	json_object_object_add(f, "subscription", json_object_new_string(u->sub->conf.name));
	json_object_object_add(f, "dlq_id", json_object_new_int64(entry->id));
	unit_add_event(f, ev);
	json_object_object_add(f, "attempt", json_object_new_int(entry->attempts + 1));
	if (summary)
		json_object_object_add(f, "error", json_object_new_string(summary));
	log_json(prio, what, f);
}

/* Takes up requeued DLQ entries, REQUEUED_PER_TURN at a time; the
 * checkpoint does not move. Returns true when there was any. */
static bool unit_requeued(struct unit_host *h, struct unit *u)
{
	struct dlq_requeued entries[REQUEUED_PER_TURN];
	int64_t positions[REQUEUED_PER_TURN];
	struct feed_page pg = { 0 };
	struct opened opened = { NULL, 0 };
	size_t n = 0;

	u->last_requeued_ms = time_mono_ms();
	if (dlq_list_requeued(h->db, u->sub->conf.name, u->partition, entries, REQUEUED_PER_TURN,
			      &n) != ES_OK || n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		positions[i] = entries[i].position;
	if (feed_read_positions(h->db, positions, n, &pg) != ES_OK ||
	    unit_personal_view(h, u, &pg, &opened) != ES_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct event *ev = NULL;
		enum handler_result hr;
		struct handler_error err = { "", "" };

		for (size_t k = 0; k < pg.n; k++)
			if (pg.ev[k].position == entries[i].position)
				ev = &pg.ev[k];
		if (!ev)
			continue;
		hr = unit_retry_one(h, u, ev, entries[i].id, &err);
		if (hr == HANDLER_OK) {
			u->processed++;
			unit_log_requeued(LOG_NOTICE, "dlq_resolved", u, ev, &entries[i], NULL);
		} else if (hr == HANDLER_TRANSIENT) {
			break;
		} else if (hr == HANDLER_MOVED) {
			unit_moved(h, u);
			break;
		} else {
			unit_log_requeued(LOG_WARNING, "dlq_retry_failed", u, ev, &entries[i], err.summary);
			unit_note_failure(u, ev, err.summary);
			if (dlq_mark_retry_failed(h->db, entries[i].id, err.detail) != ES_OK)
				break;
		}
	}
out:
	opened_free(&opened);
	feed_page_free(&pg);
	return true;
}

/* ------------------------------------------------------ SubjectErased */

/* Partition 0 of each subscription says, once per unit, whether it takes
 * erasures (subject_erased): deliver registers it, so that erasures made
 * while no runner runs are waiting when one starts; ignore unregisters it.
 * Retried on the next turn when the database fails. */
static void unit_erasures_subscribe(struct unit_host *h, struct unit *u)
{
	if (u->partition != 0 || u->erasures_subscribed)
		return;
	if (erasures_subscribe(h->db, u->sub->conf.name,
			       u->sub->conf.subject_erased == SUB_ERASED_DELIVER) == ES_OK)
		u->erasures_subscribed = true;
}

/* Logs what became of an erasure's delivery: its key id (not the subject,
 * which the audit record of the erasure names) and, when it failed, the
 * attempt and the error's summary. */
static void unit_log_erasure(int prio, const char *what, const struct unit *u, int64_t key_id,
			     int attempt, const char *summary)
{
	json_object *f;

	if (!log_enabled(prio))
		return;
	f = json_object_new_object();
	if (!f)
		return;
	json_object_object_add(f, "subscription", json_object_new_string(u->sub->conf.name));
	json_object_object_add(f, "event_type", json_object_new_string(ERASURES_EVENT_TYPE));
	json_object_object_add(f, "key_id", json_object_new_int64(key_id));
	if (summary) {
		json_object_object_add(f, "attempt", json_object_new_int(attempt));
		json_object_object_add(f, "error", json_object_new_string(summary));
	}
	log_json(prio, what, f);
}

/* Hands one erasure to the handler and takes it out of the inbox: for
 * sql in the handler's transaction (exactly once), for exec after its
 * "ok" (at least once: a runner stopped in between hands it over again). */
static enum handler_result unit_erasure_one(struct unit_host *h, struct unit *u,
					    const struct erasure *e, struct handler_error *err)
{
	/* No stored event: no id, position or aggregate (subs/erasures.h). */
	const struct event ev = {
		.json = e->json, .txid = "", .event_id = "", .event_type = ERASURES_EVENT_TYPE,
		.aggregate_type = "", .aggregate_id = "", .tenant_id = e->tenant,
	};
	struct erasures_delivered done;
	struct sql_tail tail;
	enum handler_result res;
	enum es_status rc;
	size_t failed;

	erasures_delivered_init(&done, u->sub->conf.name, e->key_id);
	tail = (struct sql_tail){ done.sql, done.nparams, done.values };
	res = sub_handle(u->sub, h->db, h->aggdefs, &ev, 1, &tail, 1, &failed, err);
	if (res != HANDLER_OK || u->sub->conf.handler == SUB_HANDLER_SQL)
		return res;
	rc = erasures_mark_delivered(h->db, u->sub->conf.name, e->key_id);
	if (rc == ES_EMOVED)
		return HANDLER_MOVED;
	if (rc != ES_OK) {
		handler_error_set(err, "the erasure could not be marked delivered: the database failed");
		return HANDLER_TRANSIENT;
	}
	return HANDLER_OK;
}

/* An erasure's delivery failed: tried again after the subscription's
 * back-off (retry_initial_delay doubling to retry_max_delay; the database's
 * own trouble after the short transient one). There is no DLQ entry for an
 * erasure and no max_retries: it is never dropped. The failure shows in
 * the status row (last_error, the error rate), but the feed goes on. */
static void unit_erasure_failed(struct unit *u, int64_t key_id, enum handler_result res,
				const struct handler_error *err)
{
	bool transient = res == HANDLER_TRANSIENT;
	int64_t now = time_mono_ms();

	if (u->erasure_key != key_id) {
		u->erasure_key = key_id;
		u->erasure_attempts = 0;
	}
	u->erasure_attempts++;
	u->erasure_wait_until_ms = now + (transient ?
		retry_delay_ms(u->erasure_attempts, TRANSIENT_MIN_MS, TRANSIENT_MAX_MS, &u->seed) :
		retry_delay_ms(u->erasure_attempts, u->sub->conf.retry_initial_delay_ms,
			       u->sub->conf.retry_max_delay_ms, &u->seed));
	if (!transient)
		u->failed++;
	rate_roll(&u->rate, now);
	u->rate.buckets[RATE_BUCKETS - 1]++;
	snprintf(u->last_error, sizeof u->last_error, "%s (" ERASURES_EVENT_TYPE " of key %" PRId64 ")",
		 err->summary, key_id);
	u->have_error = true;
	unit_log_erasure(transient ? LOG_WARNING : LOG_NOTICE, "erasure_retry", u, key_id,
			 u->erasure_attempts, err->summary);
}

/* Partition 0 of a subscription with subject_erased = deliver, caught up
 * with the feed (so the events written before an erasure are mostly
 * handled before it): hands over the erasures in its inbox, once a second
 * at most. Returns true when it handed any over. */
static bool unit_erasures(struct unit_host *h, struct unit *u)
{
	struct erasure list[ERASURES_PER_TURN];
	int64_t now = time_mono_ms();
	size_t n = 0, delivered = 0;

	if (u->partition != 0 || u->sub->conf.subject_erased != SUB_ERASED_DELIVER ||
	    !u->erasures_subscribed || u->errored || now < u->erasure_wait_until_ms ||
	    now - u->last_erasures_ms < ERASURES_INTERVAL_MS)
		return false;
	u->last_erasures_ms = now;
	if (erasures_pending(h->db, u->sub->conf.name, list, ERASURES_PER_TURN, &n) != ES_OK)
		return false;
	for (size_t i = 0; i < n && !h->forced(h->forced_arg); i++) {
		struct handler_error err = { "", "" };
		enum handler_result res = unit_erasure_one(h, u, &list[i], &err);

		if (res == HANDLER_MOVED) {
			/* Delivered by someone else, or unregistered meanwhile. */
			continue;
		}
		if (res != HANDLER_OK) {
			unit_erasure_failed(u, list[i].key_id, res, &err);
			break;
		}
		if (u->erasure_key == list[i].key_id) {
			u->erasure_key = 0;
			u->erasure_attempts = 0;
		}
		delivered++;
		unit_log_erasure(LOG_INFO, "erasure_delivered", u, list[i].key_id, 0, NULL);
	}
	/* A full turn: more may wait; look again at the next turn. */
	if (n == ERASURES_PER_TURN && delivered == n)
		u->last_erasures_ms = 0;
	erasures_free(list, n);
	return delivered > 0;
}

/* ------------------------------------------------------------- the step */

bool unit_step(struct unit_host *h, struct unit *u, size_t *handled)
{
	struct feed_query q = {
		.all_tenants = true, .after = u->scan, .limit = u->sub->conf.batch_size,
		.aggregate_types = u->sub->conf.aggregate_types,
		.event_types = u->sub->conf.event_types,
	};
	struct feed_page pg;
	struct opened opened = { NULL, 0 };
	struct feed_cursor last;
	size_t n_mine = 0;
	enum es_status rc;
	int64_t now = time_mono_ms();
	bool worked = false;

	*handled = 0;
	if (u->errored) {
		/* Stopped until an operator moves the checkpoint (rebuild). */
		if (unit_sync_due(u))
			unit_read_back(h, u);
		return false;
	}
	if (now < u->wait_until_ms)
		return false;
	unit_erasures_subscribe(h, u);
	if (now - u->last_requeued_ms >= REQUEUED_INTERVAL_MS)
		worked = unit_requeued(h, u);
	rc = feed_read(h->db, &q, &pg);
	if (rc != ES_OK) {
		unit_transient(u, NULL, db_last_error(h->db));
		return worked;
	}
	if (pg.n == 0) {
		/* Nothing failing any more; a handler's transient failure is only
		 * over once its event is handled (unit_handled), so its back-off
		 * keeps growing meanwhile. */
		u->transient_attempts = 0;
		u->held_since_ms = 0;
		if (pg.horizon.txid > u->scan.txid)
			u->scan = pg.horizon;
		if (strcmp(u->state, "live") != 0)
			u->state = "live";
		unit_idle_sync(h, u);
		feed_page_free(&pg);
		return unit_erasures(h, u) || worked;
	}
	rc = unit_personal_view(h, u, &pg, &opened);
	if (rc != ES_OK) {
		unit_transient(u, NULL, db_last_error(h->db));
		opened_free(&opened);
		feed_page_free(&pg);
		return worked;
	}
	u->state = pg.full ? "catching_up" : "live";
	/* The feed position after this page: the last row read, or the horizon. */
	last = pg.full ? feed_event_cursor(&pg.ev[pg.n - 1]) : pg.horizon;
	if (u->sub->conf.partitions > 1) {
		for (size_t i = 0; i < pg.n; i++)
			if (partition_of(pg.ev[i].aggregate_id, u->sub->conf.partitions) == u->partition)
				pg.ev[n_mine++] = pg.ev[i];
	} else {
		n_mine = pg.n;
	}
	if (u->sub->conf.handler == SUB_HANDLER_SQL)
		*handled = unit_run_sql(h, u, pg.ev, n_mine);
	else
		*handled = unit_run_each(h, u, pg.ev, n_mine);
	if (*handled == n_mine && !u->errored && u->wait_until_ms <= time_mono_ms()) {
		u->scan = last;
		if (!pg.full)
			(void)unit_erasures(h, u);
	} else {
		u->scan = u->done;
	}
	opened_free(&opened);
	feed_page_free(&pg);
	return true;
}

/* ------------------------------------------------------------- lifecycle */

struct unit *unit_new(struct unit_host *h, struct sub *s, int partition)
{
	struct unit *u = calloc(1, sizeof *u);

	if (!u)
		return NULL;
	u->sub = s;
	u->partition = partition;
	u->state = "starting";
	u->started_usec = time_now_usec();
	u->seed = (uint32_t)(getpid() ^ (partition * 2654435761u) ^ (uint32_t)u->started_usec);
	if (checkpoint_load(h->db, &s->conf, partition, &u->saved) != ES_OK) {
		free(u);
		return NULL;
	}
	u->done = u->scan = u->saved;
	u->last_ckpt_ms = time_mono_ms();
	unit_write_status(h, u);
	log_kv(LOG_INFO, "partition_claimed", "subscription", s->conf.name, "runner_id",
	       h->runner_id, NULL);
	return u;
}

void unit_stop(struct unit_host *h, struct unit *u)
{
	unit_save(h, u);
	if (!u->errored)
		u->state = "stopped";
	unit_write_status(h, u);
	free(u);
}

void unit_free(struct unit *u)
{
	free(u);
}
