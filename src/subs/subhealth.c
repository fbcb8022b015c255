/* subhealth.c - subscription health from the runner's status rows
 * (substatus.h). */
#include "buildconf.h"
#include "subs/subhealth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/sbuf.h"
#include "subs/substatus.h"

/* Larger is worse; how partitions' states combine. */
static int state_rank(const char *state)
{
	static const char *const order[] = { "live", "catching_up", "starting", "paused", "stopped", "error" };

	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (strcmp(state, order[i]) == 0)
			return (int)i;
	return 0;
}

static enum subhealth_status worst(enum subhealth_status a, enum subhealth_status b)
{
	return a > b ? a : b;
}

/* ok below warn, degraded from warn, unhealthy from critical. */
static enum subhealth_status by_threshold(int64_t value, int64_t warn, int64_t critical)
{
	if (value >= critical)
		return SUBHEALTH_UNHEALTHY;
	if (value >= warn)
		return SUBHEALTH_DEGRADED;
	return SUBHEALTH_HEALTHY;
}

enum subhealth_status subhealth_judge(const struct subhealth *s, const struct es_config *cfg)
{
	enum subhealth_status st = SUBHEALTH_HEALTHY;

	if (strcmp(s->state, "error") == 0)
		st = SUBHEALTH_UNHEALTHY;
	else if (strcmp(s->state, "paused") == 0 || strcmp(s->state, "stopped") == 0)
		st = SUBHEALTH_DEGRADED;
	st = worst(st, by_threshold(s->events_failed, cfg->health.errors_warn, cfg->health.errors_critical));
	if (s->error_rate > cfg->health.error_rate_per_min)
		st = worst(st, SUBHEALTH_DEGRADED);
	st = worst(st, by_threshold(s->lag_events, cfg->health.lag_warn, cfg->health.lag_critical));
	st = worst(st, by_threshold(s->dlq_count, cfg->health.dlq_warn, cfg->health.dlq_critical));
	if (s->stale)
		st = SUBHEALTH_UNHEALTHY;
	return st;
}

const char *subhealth_status_name(enum subhealth_status st)
{
	switch (st) {
	case SUBHEALTH_HEALTHY: return "healthy";
	case SUBHEALTH_DEGRADED: return "degraded";
	case SUBHEALTH_UNHEALTHY: return "unhealthy";
	}
	return "unhealthy";
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Folds partition row e into s (a new subscription when s->name is NULL). */
static void add_partition(struct subhealth *s, const struct substatus_entry *e)
{
	char *last_event_at = dup_or_null(e->last_event_at);

	if (!s->name) {
		s->name = strdup(e->subscription);
		snprintf(s->state, sizeof s->state, "%s", e->state);
		s->uptime_seconds = e->uptime_seconds;
		s->dlq_count = e->dlq_count;
	} else if (state_rank(e->state) > state_rank(s->state)) {
		snprintf(s->state, sizeof s->state, "%s", e->state);
	}
	s->events_processed += e->events_processed;
	s->events_failed += e->events_failed;
	s->error_rate += e->error_rate_per_min;
	s->lag_events += e->lag_events;
	if (e->last_error && !s->last_error)
		s->last_error = strdup(e->last_error);
	/* RFC 3339 in UTC with a fixed width compares as text. */
	if (last_event_at && (!s->last_event_at || strcmp(last_event_at, s->last_event_at) > 0)) {
		free(s->last_event_at);
		s->last_event_at = last_event_at;
		last_event_at = NULL;
	}
	free(last_event_at);
	if (e->uptime_seconds > s->uptime_seconds)
		s->uptime_seconds = e->uptime_seconds;
	if (e->stale)
		s->stale = true;
}

enum es_status subhealth_load(struct db *db, const struct es_config *cfg, const char *name,
			      struct subhealth_list *out)
{
	struct substatus_list rows;
	enum es_status rc;

	memset(out, 0, sizeof *out);
	rc = substatus_read(db, name, cfg->health.runner_stale_after, &rows);
	if (rc != ES_OK)
		goto out;
	out->items = calloc(rows.count ? rows.count : 1, sizeof *out->items);
	if (!out->items) {
		rc = ES_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < rows.count; i++) {
		const struct substatus_entry *e = &rows.items[i];
		struct subhealth *cur = out->count ? &out->items[out->count - 1] : NULL;

		if (!cur || strcmp(cur->name, e->subscription) != 0)
			cur = &out->items[out->count++];
		add_partition(cur, e);
		if (!e->stale && strcmp(e->state, "stopped") != 0)
			out->running = true;
	}
	for (size_t i = 0; i < out->count; i++)
		out->items[i].status = subhealth_judge(&out->items[i], cfg);
out:
	substatus_list_free(&rows);
	if (rc != ES_OK)
		subhealth_list_free(out);
	return rc;
}

void subhealth_list_free(struct subhealth_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].name);
		free(list->items[i].last_error);
		free(list->items[i].last_event_at);
	}
	free(list->items);
	memset(list, 0, sizeof *list);
}

static void put_string_or_null(struct sbuf *b, const char *s)
{
	if (s)
		sbuf_json_string(b, s);
	else
		sbuf_puts(b, "null");
}

void subhealth_render(struct sbuf *b, const struct subhealth *s)
{
	sbuf_puts(b, "{\"name\":");
	sbuf_json_string(b, s->name);
	sbuf_printf(b, ",\"status\":\"%s\",\"state\":", subhealth_status_name(s->status));
	sbuf_json_string(b, s->state);
	sbuf_printf(b, ",\"events_processed\":%lld,\"events_failed\":%lld,\"lag_events\":%lld,"
		    "\"error_rate\":%.3f,\"dlq_count\":%lld,\"last_error\":",
		    (long long)s->events_processed, (long long)s->events_failed,
		    (long long)s->lag_events, s->error_rate, (long long)s->dlq_count);
	put_string_or_null(b, s->last_error);
	sbuf_puts(b, ",\"last_event_at\":");
	put_string_or_null(b, s->last_event_at);
	sbuf_printf(b, ",\"uptime_seconds\":%lld}", (long long)s->uptime_seconds);
}
