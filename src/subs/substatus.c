/* substatus.c - evstore.subscription_status rows. */
#include "buildconf.h"
#include "subs/substatus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "pg/db.h"
#include "store/store.h"

static const struct db_statement st_write = {
	"substatus_write",
	"INSERT INTO evstore.subscription_status AS s (subscription, partition, runner_id, state,"
	" events_processed, events_failed, error_rate_per_min, lag_events, last_error,"
	" last_event_at, started_at, heartbeat_at)"
	" VALUES ($1, $2::int, $3, $4, $5::bigint, $6::bigint, $7::double precision,"
	"  GREATEST(0, " STORE_NEWEST_POSITION_SQL " - $8::bigint),"
	"  $9, CASE WHEN $10::bigint > 0 THEN to_timestamp($10::double precision / 1e6) END,"
	"  to_timestamp($11::double precision / 1e6), now())"
	" ON CONFLICT (subscription, partition) DO UPDATE SET runner_id = EXCLUDED.runner_id,"
	" state = EXCLUDED.state, events_processed = EXCLUDED.events_processed,"
	" events_failed = EXCLUDED.events_failed, error_rate_per_min = EXCLUDED.error_rate_per_min,"
	" lag_events = EXCLUDED.lag_events, last_error = EXCLUDED.last_error,"
	" last_event_at = COALESCE(EXCLUDED.last_event_at, s.last_event_at),"
	" started_at = EXCLUDED.started_at, heartbeat_at = now()",
	11
};

/* One row per partition; the DLQ count per subscription rides along. */
static const struct db_statement st_read = {
	"substatus_read",
	"SELECT s.subscription, s.partition, s.state, s.events_processed, s.events_failed,"
	"       s.error_rate_per_min, s.lag_events, s.last_error,"
	"       to_char(s.last_event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	"       floor(extract(epoch FROM now() - s.started_at))::bigint,"
	"       extract(epoch FROM now() - s.heartbeat_at) > $2::double precision,"
	"       (SELECT count(*) FROM evstore.dlq d"
	"         WHERE d.subscription = s.subscription AND d.status <> 'resolved')"
	"  FROM evstore.subscription_status s"
	" WHERE $1::text IS NULL OR s.subscription = $1::text"
	" ORDER BY s.subscription, s.partition",
	2
};

/* Every scrape of /metrics: the status rows (a row per partition) and
 * each one's unresolved DLQ entries, counted from dlq_unresolved_idx
 * alone (sql/005) and stopped at SUBSTATUS_DLQ_COUNT_MAX. */
static const struct db_statement st_gauges = {
	"substatus_gauges",
	"SELECT s.subscription, s.partition, s.state, s.events_processed, s.events_failed,"
	"       s.lag_events, extract(epoch FROM now() - s.heartbeat_at)::float8,"
	"       (SELECT count(*) FROM (SELECT 1 FROM evstore.dlq d"
	"          WHERE d.subscription = s.subscription AND d.partition = s.partition"
	"            AND d.status <> 'resolved'"
	"          LIMIT " DB_SQL_NUMBER(SUBSTATUS_DLQ_COUNT_MAX) ") x)"
	"  FROM evstore.subscription_status s"
	" ORDER BY s.subscription, s.partition",
	0
};

/* The rest runs rarely (evstorectl, the DLQ admin routes), unprepared.
 *
 * Parameters: configured names (text[]), their partition counts (int[]),
 * the one subscription asked for (or NULL), stale_after seconds.
 * Partitions come from the configuration and from the checkpoints. */
#define SUBSTATUS_PARTITIONS_SQL \
	"WITH conf AS (SELECT n AS subscription, p AS partition FROM unnest($1::text[], $2::int[]) AS c(n, k)," \
	"                generate_series(0, c.k - 1) AS p)," \
	" parts AS (SELECT subscription, partition FROM conf" \
	"           UNION SELECT subscription, partition FROM evstore.checkpoints)" \
	" SELECT p.subscription, p.partition, s.runner_id," \
	"  CASE WHEN s.subscription IS NULL THEN 'unclaimed'" \
	"       WHEN s.state <> 'stopped' AND s.heartbeat_at < now() - make_interval(secs => $4::int)" \
	"       THEN 'stale' ELSE s.state END," \
	"  floor(extract(epoch FROM now() - s.heartbeat_at))::bigint," \
	"  NULLIF(c.position, 9223372036854775807), c.position = 9223372036854775807," \
	"  s.lag_events, s.events_processed," \
	"  (SELECT count(*) FROM evstore.dlq d WHERE d.subscription = p.subscription" \
	"     AND d.partition = p.partition AND d.status <> 'resolved')," \
	"  EXISTS (SELECT 1 FROM conf WHERE conf.subscription = p.subscription)" \
	" FROM parts p" \
	" LEFT JOIN evstore.checkpoints c USING (subscription, partition)" \
	" LEFT JOIN evstore.subscription_status s USING (subscription, partition)" \
	" WHERE $3::text IS NULL OR p.subscription = $3" \
	" ORDER BY 1, 2"

enum { P_SUB, P_PART, P_RUNNER, P_STATE, P_AGE, P_POSITION, P_AT_HORIZON, P_LAG, P_PROCESSED,
       P_DLQ, P_CONFIGURED };

/* Parameters: subscription, stale_after seconds. */
#define SUBSTATUS_LIVE_SQL \
	"SELECT count(*) FROM evstore.subscription_status WHERE subscription = $1" \
	" AND state <> 'stopped' AND heartbeat_at > now() - make_interval(secs => $2::int)"

/* Parameter: name. */
#define SUBSTATUS_KNOWN_SQL \
	"SELECT EXISTS (SELECT 1 FROM evstore.subscription_status WHERE subscription = $1::text)" \
	" OR EXISTS (SELECT 1 FROM evstore.checkpoints WHERE subscription = $1::text)" \
	" OR EXISTS (SELECT 1 FROM evstore.dlq WHERE subscription = $1::text)"

enum es_status substatus_write(struct db *db, const struct substatus_row *row)
{
	char part[16], proc[24], failed[24], rate[32], cp[24], last[24], started[24];
	const char *vals[11] = { row->subscription, part, row->runner_id, row->state, proc, failed,
				 rate, cp, row->last_error, last, started };
	PGresult *r = NULL;
	enum es_status rc;

	snprintf(part, sizeof part, "%d", row->partition);
	snprintf(proc, sizeof proc, "%" PRId64, row->events_processed);
	snprintf(failed, sizeof failed, "%" PRId64, row->events_failed);
	snprintf(rate, sizeof rate, "%.3f", row->error_rate_per_min);
	snprintf(cp, sizeof cp, "%" PRId64, row->checkpoint_position);
	snprintf(last, sizeof last, "%" PRId64, row->last_event_usec);
	snprintf(started, sizeof started, "%" PRId64, row->started_usec);
	rc = db_exec(db, &st_write, vals, &r);
	PQclear(r);
	return rc;
}

enum es_status substatus_read(struct db *db, const char *name, int stale_after,
			      struct substatus_list *out)
{
	char stale[32];
	const char *values[2] = { name, stale };
	PGresult *r = NULL;
	enum es_status rc;
	int rows;

	memset(out, 0, sizeof *out);
	snprintf(stale, sizeof stale, "%d", stale_after);
	rc = db_exec(db, &st_read, values, &r);
	if (rc != ES_OK)
		return rc;
	out->result_ = r;
	rows = PQntuples(r);
	out->items = calloc(rows > 0 ? (size_t)rows : 1, sizeof *out->items);
	if (!out->items)
		return ES_ENOMEM;
	for (int i = 0; i < rows; i++) {
		struct substatus_entry *e = &out->items[i];

		e->subscription = PQgetvalue(r, i, 0);
		e->partition = (int)db_value_int64(r, i, 1);
		e->state = PQgetvalue(r, i, 2);
		e->events_processed = db_value_int64(r, i, 3);
		e->events_failed = db_value_int64(r, i, 4);
		e->error_rate_per_min = strtod(PQgetvalue(r, i, 5), NULL);
		e->lag_events = db_value_int64(r, i, 6);
		e->last_error = db_value_or_null(r, i, 7);
		e->last_event_at = db_value_or_null(r, i, 8);
		e->uptime_seconds = db_value_int64(r, i, 9);
		e->stale = db_value_bool(r, i, 10);
		e->dlq_count = db_value_int64(r, i, 11);
	}
	out->count = (size_t)rows;
	return ES_OK;
}

void substatus_list_free(struct substatus_list *list)
{
	if (!list)
		return;
	PQclear(list->result_);
	free(list->items);
	memset(list, 0, sizeof *list);
}

enum es_status substatus_gauges_read(struct db *db, struct substatus_gauges *out)
{
	PGresult *r = NULL;
	enum es_status rc;
	int rows;

	memset(out, 0, sizeof *out);
	rc = db_exec(db, &st_gauges, NULL, &r);
	if (rc != ES_OK)
		return rc;
	out->result_ = r;
	rows = PQntuples(r);
	out->items = calloc(rows > 0 ? (size_t)rows : 1, sizeof *out->items);
	if (!out->items)
		return ES_ENOMEM;
	for (int i = 0; i < rows; i++) {
		struct substatus_gauge *g = &out->items[i];

		g->subscription = PQgetvalue(r, i, 0);
		g->partition = (int)db_value_int64(r, i, 1);
		g->state = PQgetvalue(r, i, 2);
		g->events_processed = db_value_int64(r, i, 3);
		g->events_failed = db_value_int64(r, i, 4);
		g->lag_events = db_value_int64(r, i, 5);
		g->heartbeat_age_seconds = strtod(PQgetvalue(r, i, 6), NULL);
		g->dlq_entries = db_value_int64(r, i, 7);
	}
	out->count = (size_t)rows;
	return ES_OK;
}

void substatus_gauges_free(struct substatus_gauges *list)
{
	if (!list)
		return;
	PQclear(list->result_);
	free(list->items);
	memset(list, 0, sizeof *list);
}

/* names[0..n) and partitions[0..n) as PostgreSQL array literals. */
static bool partitions_arrays(const char *const *names, const int *partitions, size_t n,
			      struct sbuf *name_arr, struct sbuf *count_arr)
{
	sbuf_putc(name_arr, '{');
	sbuf_putc(count_arr, '{');
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			sbuf_putc(name_arr, ',');
			sbuf_putc(count_arr, ',');
		}
		sbuf_putc(name_arr, '"');
		for (const char *c = names[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				sbuf_putc(name_arr, '\\');
			sbuf_putc(name_arr, *c);
		}
		sbuf_putc(name_arr, '"');
		sbuf_printf(count_arr, "%d", partitions[i]);
	}
	sbuf_putc(name_arr, '}');
	sbuf_putc(count_arr, '}');
	return !name_arr->failed && !count_arr->failed;
}

enum es_status substatus_partitions(struct db *db, const char *const *names,
				    const int *partitions, size_t n, const char *subscription,
				    int stale_after, struct substatus_partitions *out)
{
	struct sbuf name_arr = SBUF_INIT, count_arr = SBUF_INIT;
	char stale[16];
	const char *vals[4] = { NULL, NULL, subscription, stale };
	PGresult *r = NULL;
	enum es_status rc;
	int rows;

	memset(out, 0, sizeof *out);
	if (!partitions_arrays(names, partitions, n, &name_arr, &count_arr)) {
		rc = ES_ENOMEM;
		goto out;
	}
	snprintf(stale, sizeof stale, "%d", stale_after);
	vals[0] = sbuf_cstr(&name_arr);
	vals[1] = sbuf_cstr(&count_arr);
	rc = db_exec_params(db, "substatus_partitions", SUBSTATUS_PARTITIONS_SQL, 4, vals, &r);
	if (rc != ES_OK)
		goto out;
	out->result_ = r;
	rows = PQntuples(r);
	out->items = calloc(rows > 0 ? (size_t)rows : 1, sizeof *out->items);
	if (!out->items) {
		rc = ES_ENOMEM;
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		struct substatus_partition *p = &out->items[i];

		p->subscription = PQgetvalue(r, i, P_SUB);
		p->partition = (int)db_value_int64(r, i, P_PART);
		p->has_status = !PQgetisnull(r, i, P_RUNNER);
		if (p->has_status) {
			p->runner_id = PQgetvalue(r, i, P_RUNNER);
			p->heartbeat_age_seconds = db_value_int64(r, i, P_AGE);
			p->lag_events = db_value_int64(r, i, P_LAG);
			p->events_processed = db_value_int64(r, i, P_PROCESSED);
		}
		p->state = PQgetvalue(r, i, P_STATE);
		p->has_position = !PQgetisnull(r, i, P_POSITION);
		if (p->has_position)
			p->checkpoint_position = db_value_int64(r, i, P_POSITION);
		p->checkpoint_at_horizon = db_value_bool(r, i, P_AT_HORIZON);
		p->dlq_count = db_value_int64(r, i, P_DLQ);
		p->configured = db_value_bool(r, i, P_CONFIGURED);
	}
	out->count = (size_t)rows;
out:
	sbuf_free(&name_arr);
	sbuf_free(&count_arr);
	return rc;
}

void substatus_partitions_free(struct substatus_partitions *list)
{
	if (!list)
		return;
	PQclear(list->result_);
	free(list->items);
	memset(list, 0, sizeof *list);
}

enum es_status substatus_live_partitions(struct db *db, const char *subscription,
					 int stale_after, int *n)
{
	char secs[16];
	const char *vals[2] = { subscription, secs };
	int64_t live;
	enum es_status rc;

	snprintf(secs, sizeof secs, "%d", stale_after);
	rc = db_exec_params_int64(db, "substatus_live", SUBSTATUS_LIVE_SQL, 2, vals, &live);
	*n = (int)live;
	return rc;
}

enum es_status substatus_known(struct db *db, const char *name, bool *known)
{
	const char *values[1] = { name };
	PGresult *r = NULL;
	enum es_status rc;

	*known = false;
	rc = db_exec_params(db, "substatus_known", SUBSTATUS_KNOWN_SQL, 1, values, &r);
	if (rc == ES_OK)
		*known = db_value_bool(r, 0, 0);
	PQclear(r);
	return rc;
}
