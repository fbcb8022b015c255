/* store.c - the event store's queries. Every statement is prepared once per
 * connection (db.c) and written so that its generic plan, made once and
 * kept for the connection's life, uses the right index at any table size
 * (check_store holds the plans to this). A stream read renders its events
 * in the worker (event_render.h), as evstore.event_json() (sql/001_init.sql)
 * renders them for export and SQL handlers.
 *
 * An append is one statement that writes optimistically: the
 * compare-and-set on the streams row and the insert of the events, without
 * looking for the event ids first. Only when that statement changes nothing
 * (the compare-and-set failed) or meets a stored event id does the store
 * ask evstore.append(), which checks the ids before writing and answers
 * replay, duplicate or conflict by the same rules. */
#include "buildconf.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "json/jsondoc.h"
#include "base/sbuf.h"
#include "base/timefmt.h"
#include "store/append_sql.h"
#include "store/event_render.h"
#include "store/page_budget.h"

/* The optimistic appends (append_sql.h), one per expectation, unguarded. */
static const struct db_statement st_append_new = {
	"store_append_new", STORE_APPEND_NEW_SQL("", "true", ""), 5
};
static const struct db_statement st_append_exact = {
	"store_append_exact", STORE_APPEND_EXACT_SQL("", "true", ""), 6
};
static const struct db_statement st_append_exists = {
	"store_append_exists", STORE_APPEND_EXISTS_SQL("", "true", ""), 5
};
static const struct db_statement st_append_any = {
	"store_append_any", STORE_APPEND_ANY_SQL("", "true", ""), 5
};
static const struct store_append_statements optimistic_set = {
	{ &st_append_new, &st_append_exact, &st_append_exists, &st_append_any }
};

/* The append that checks first (sql/005_lean_append.sql), for what the
 * optimistic one could not settle. */
static const struct db_statement st_append = {
	"store_append",
	"SELECT result, stream_version, appended_event_id, appended_version, appended_position"
	" FROM evstore.append($1::uuid, $2::text, $3::uuid, $4::text, $5::bigint, $6::text, $7::jsonb)",
	7
};

static const struct db_statement st_append_known = {
	"store_append_known",
	"SELECT result, stream_version, appended_event_id, appended_version, appended_position"
	" FROM evstore.append_known($1::uuid, $2::text, $3::uuid, $4::jsonb)",
	4
};

/* The stream's version and one page of its events in one statement, so the
 * version and the events come from the same snapshot, as binary columns
 * for event_render(), and last, when $7 asks for it, the key epoch
 * (sql/010) they were read under (an initplan runs only when used: not
 * asked for, it costs nothing). A stream that exists but has nothing in
 * range gives one row with NULL event columns. CMP and ORDER give the
 * direction from version $4; $5 is the limit, $6 the byte budget (NULL:
 * none; page_budget.h). */
#define STREAM_PAGE_SQL(CMP, ORDER) \
	"SELECT s.version," EVENT_RENDER_SELECT("ev") "," \
	"  CASE WHEN $7::boolean THEN (SELECT epoch FROM evstore.key_epoch) END" \
	" FROM evstore.streams s" \
	" LEFT JOIN LATERAL (" \
	"  SELECT * FROM (" \
	"   SELECT pg.*," PAGE_BUDGET_COLUMNS(EVENT_RENDER_SIZE_SQL, "pg.r_version " ORDER) " FROM (" \
	"    SELECT" EVENT_RENDER_COLUMNS("e") \
	"    FROM evstore.events e" \
	"    WHERE e.tenant_id = s.tenant_id AND e.aggregate_type = s.aggregate_type" \
	"      AND e.aggregate_id = s.aggregate_id AND e.version " CMP " $4::bigint" \
	"    ORDER BY e.version " ORDER " LIMIT $5::int) pg) w" \
	"  WHERE" PAGE_BUDGET_KEEP("$6") ") ev ON true" \
	" WHERE s.tenant_id = $1::uuid AND s.aggregate_type = $2::text AND s.aggregate_id = $3::uuid" \
	" ORDER BY ev.r_version " ORDER

static const struct db_statement st_read_forward = {
	"store_read_forward", STREAM_PAGE_SQL(">=", "ASC"), 7
};

static const struct db_statement st_read_backward = {
	"store_read_backward", STREAM_PAGE_SQL("<=", "DESC"), 7
};

static const struct db_statement st_stream_version = {
	"store_stream_version",
	"SELECT version FROM evstore.streams"
	" WHERE tenant_id = $1::uuid AND aggregate_type = $2::text AND aggregate_id = $3::uuid",
	3
};

/* The streams of a type, for tools (evstorectl snapshot --all): run
 * unprepared, planned for the values at hand, since a generic plan of the
 * optional keyset condition could not start the index scan at the key. */
#define STORE_COUNT_STREAMS_SQL \
	"SELECT count(*) FROM evstore.streams WHERE aggregate_type = $1"
/* $2, $3: the key to continue after, NULL for the first page. */
#define STORE_LIST_STREAMS_SQL \
	"SELECT tenant_id, aggregate_id FROM evstore.streams" \
	" WHERE aggregate_type = $1" \
	"   AND ($2::uuid IS NULL OR (tenant_id, aggregate_id) > ($2::uuid, $3::uuid))" \
	" ORDER BY tenant_id, aggregate_id LIMIT $4::int"

/* A page of one stream's events for folding: versions in ($4, $5]. */
static const struct db_statement st_stream_rows = {
	"store_stream_rows",
	"SELECT e.version, e.event_type, e.payload::text,"
	"       CASE WHEN $6::bool THEN e.metadata::text END, e.event_id::text"
	" FROM evstore.events e"
	" WHERE e.tenant_id = $1::uuid AND e.aggregate_type = $2::text AND e.aggregate_id = $3::uuid"
	"   AND e.version > $4::bigint AND e.version <= $5::bigint"
	" ORDER BY e.version LIMIT $7::int",
	7
};

static const struct db_statement st_counts = {
	"store_counts",
	"SELECT (SELECT count(*) FROM evstore.events), (SELECT count(*) FROM evstore.streams)",
	0
};

/* Three index or catalogue lookups: max(position) is the primary key's
 * last entry; the estimate reads the pg_class row (and the statistics'
 * live-tuple counter while reltuples is unknown) of the table, or of each
 * leaf partition should it be partitioned (pg_partition_tree finds none
 * for a plain table); the held-back event is the first entry of
 * events_feed_idx at the horizon. */
static const struct db_statement st_gauges = {
	"store_gauges",
	"SELECT COALESCE((SELECT max(position) FROM evstore.events), 0),"
	" (SELECT COALESCE(sum(CASE WHEN c.reltuples > 0 AND c.relpages > 0"
	"    THEN c.reltuples / c.relpages"
	"         * (pg_relation_size(c.oid) / current_setting('block_size')::bigint)"
	"    ELSE pg_stat_get_live_tuples(c.oid) END), 0)::bigint"
	"   FROM unnest('evstore.events'::regclass || ARRAY(SELECT relid"
	"          FROM pg_partition_tree('evstore.events'::regclass) WHERE isleaf)) l(relid),"
	"        LATERAL (SELECT * FROM pg_class WHERE oid = l.relid AND relkind = 'r') c),"
	" COALESCE((SELECT extract(epoch FROM clock_timestamp() - e.recorded_at)::float8"
	"   FROM evstore.events e"
	"  WHERE e.transaction_id >= pg_snapshot_xmin(pg_current_snapshot())"
	"  ORDER BY e.transaction_id, e.position LIMIT 1), 0)",
	0
};

/* Writes the request's events as the JSON array evstore.append() takes. */
static enum es_status store_events_json(const struct store_append_req *req, struct sbuf *b)
{
	char ts[TIMEFMT_LEN];

	sbuf_putc(b, '[');
	for (size_t i = 0; i < req->n_events; i++) {
		const struct store_new_event *ev = &req->events[i];
		const char *payload, *metadata = NULL;

		if (!ev->event_type || !json_object_is_type(ev->payload, json_type_object) ||
		    (ev->metadata && !json_object_is_type(ev->metadata, json_type_object)))
			return ES_EINVAL;
		payload = jsondoc_compact(ev->payload);
		if (ev->metadata)
			metadata = jsondoc_compact(ev->metadata);
		if (!payload || (ev->metadata && !metadata))
			return ES_ENOMEM;
		timefmt_format(ev->occurred_at_usec, ts);

		if (i > 0)
			sbuf_putc(b, ',');
		sbuf_puts(b, "{\"event_id\":");
		sbuf_json_string(b, ev->event_id);
		sbuf_puts(b, ",\"event_type\":");
		sbuf_json_string(b, ev->event_type);
		sbuf_puts(b, ",\"occurred_at\":");
		sbuf_json_string(b, ts);
		sbuf_puts(b, ",\"payload\":");
		sbuf_puts(b, payload);
		if (metadata) {
			sbuf_puts(b, ",\"metadata\":");
			sbuf_puts(b, metadata);
		}
		sbuf_putc(b, '}');
	}
	sbuf_putc(b, ']');
	return b->failed ? ES_ENOMEM : ES_OK;
}

/* The appended events of r, one a row: event id, version and position in
 * the columns from col on. */
static enum es_status take_events(const PGresult *r, int col, struct store_append_res *res)
{
	int rows = PQntuples(r);

	res->events = calloc((size_t)rows, sizeof *res->events);
	if (!res->events)
		return ES_ENOMEM;
	res->n_events = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		snprintf(res->events[i].event_id, sizeof res->events[i].event_id, "%s",
			 PQgetvalue(r, i, col));
		res->events[i].version = db_value_int64(r, i, col + 1);
		res->events[i].position = db_value_int64(r, i, col + 2);
	}
	return ES_OK;
}

/* Reads evstore.append()'s rows into res. */
static enum es_status store_append_result(const PGresult *r, struct store_append_res *res)
{
	int rows = PQntuples(r);
	const char *result;

	if (rows < 1 || PQnfields(r) != 5)
		return ES_EINTERNAL;
	result = PQgetvalue(r, 0, 0);
	if (strcmp(result, "conflict") == 0) {
		res->current_version = db_value_int64(r, 0, 1);
		return ES_ECONFLICT;
	}
	if (strcmp(result, "duplicate") == 0)
		return ES_EDUPLICATE;
	if (strcmp(result, "ok") != 0 && strcmp(result, "replay") != 0)
		return ES_EINTERNAL;

	res->replayed = strcmp(result, "replay") == 0;
	res->version = db_value_int64(r, 0, 1);
	return take_events(r, 2, res);
}

/* What evstore.append() and evstore.append_known() both take: checks the
 * request's shape, renders its events into *events (the caller frees it)
 * and puts the stream key (tenant, type, id) in key[0..2]. */
static enum es_status store_append_prepare(const struct store_append_req *req, struct sbuf *events,
					   const char **key)
{
	if (!req->aggregate_type || !req->aggregate_id || !req->events || req->n_events == 0)
		return ES_EINVAL;
	key[0] = req->tenant ? req->tenant : UUIDTEXT_NIL;
	key[1] = req->aggregate_type;
	key[2] = req->aggregate_id;
	return store_events_json(req, events);
}

/* db_exec for an append: a unique violation is ES_EDUPLICATE only on the
 * event id key (a stored id); on the version key the streams row and the
 * events disagree, ES_EDB. */
static enum es_status store_db_exec(struct db *db, const struct db_statement *st,
				    const char *const *values, PGresult **r)
{
	enum es_status rc;

	PQclear(*r);
	*r = NULL;
	rc = db_exec(db, st, values, r);
	if (rc == ES_EDUPLICATE && strcmp(db_last_constraint(db), "events_event_id_key") != 0)
		rc = ES_EDB;
	return rc;
}

/* Reads the optimistic statement's rows into res: ES_OK, or ES_ENOTFOUND
 * when there are none (the compare-and-set failed, nothing was written). */
static enum es_status store_written_result(const PGresult *r, struct store_append_res *res)
{
	int rows = PQntuples(r);

	if (rows == 0)
		return ES_ENOTFOUND;
	if (PQnfields(r) != 4)
		return ES_EINTERNAL;
	res->version = db_value_int64(r, 0, 0);
	return take_events(r, 1, res);
}

/* Which of a set of append statements serves req. */
static const struct db_statement *append_statement(const struct store_append_statements *set,
						   const struct store_append_req *req)
{
	switch (req->expect) {
	case STORE_EXPECT_EXACT:
		return set->st[req->expected_version == 0 ? STORE_APPEND_NEW : STORE_APPEND_EXACT];
	case STORE_EXPECT_EXISTS:
		return set->st[STORE_APPEND_EXISTS];
	case STORE_EXPECT_ANY:
	default:
		return set->st[STORE_APPEND_ANY];
	}
}

/* The optimistic append through one of set's statements: ES_OK with res
 * filled when the events are committed; ES_ENOTFOUND when the expectation
 * (or the statement's guard) did not hold, ES_EDUPLICATE when an event id
 * is stored (either way nothing was written); otherwise the failure.
 * values as for st_append_exact, then the guard's. */
static enum es_status store_append_optimistic(struct db *db, const struct store_append_statements *set,
					      const struct store_append_req *req,
					      const char *const *values,
					      struct store_append_res *res)
{
	PGresult *r = NULL;
	enum es_status rc;

	rc = store_db_exec(db, append_statement(set, req), values, &r);
	if (rc == ES_OK)
		rc = store_written_result(r, res);
	PQclear(r);
	return rc;
}

/* The append that checks the event ids first (evstore.append()): a replay,
 * a duplicate, a conflict, or, when the stream moved meanwhile so that the
 * expectation holds now, the events written. values as for the optimistic
 * statements. */
static enum es_status store_append_checked(struct db *db, const struct store_append_req *req,
					   const char *const *values, struct store_append_res *res)
{
	const char *fvalues[7] = {
		values[0], values[1], values[2],
		req->expect == STORE_EXPECT_EXACT ? "exact"
		: req->expect == STORE_EXPECT_EXISTS ? "exists" : "any",
		req->expect == STORE_EXPECT_EXACT ? values[5] : NULL,
		values[3], values[4]
	};
	PGresult *r = NULL;
	enum es_status rc;

	rc = store_db_exec(db, &st_append, fvalues, &r);
	/* Two identical requests raced past the idempotency check and the
	 * loser hit the event id key: asked again, the store now answers
	 * replay (or duplicate). */
	if (rc == ES_EDUPLICATE)
		rc = store_db_exec(db, &st_append, fvalues, &r);
	if (rc == ES_OK)
		rc = store_append_result(r, res);
	PQclear(r);
	return rc;
}

/* The append: optimistic first (one statement that writes unless an id is
 * stored or the compare-and-set fails, then the checking one answers), or
 * the checking statement alone. */
/* The optimistic statements' first values: the stream key, the actor,
 * the events (rendered into *events, which the caller frees) and, at
 * values[5], the expected version (in expected). */
static enum es_status append_values(const struct store_append_req *req, struct sbuf *events,
				    char expected[24], const char **values)
{
	enum es_status rc;

	if (req->expect == STORE_EXPECT_EXACT && req->expected_version < 0)
		return ES_EINVAL;
	rc = store_append_prepare(req, events, values);
	if (rc != ES_OK)
		return rc;
	snprintf(expected, 24, "%" PRId64, req->expected_version);
	values[3] = req->actor_id;
	values[4] = sbuf_cstr(events);
	values[5] = expected;
	return ES_OK;
}

static enum es_status append(struct db *db, const struct store_append_req *req,
			     struct store_append_res *res, bool optimistic)
{
	struct sbuf events = SBUF_INIT;
	char expected[24];
	const char *values[6];
	enum es_status rc;

	memset(res, 0, sizeof *res);
	rc = append_values(req, &events, expected, values);
	if (rc != ES_OK)
		goto out;
	rc = optimistic ? store_append_optimistic(db, &optimistic_set, req, values, res) : ES_ENOTFOUND;
	/* Nothing written: the compare-and-set failed or an id is stored. */
	if (rc == ES_ENOTFOUND || rc == ES_EDUPLICATE)
		rc = store_append_checked(db, req, values, res);
	if (rc != ES_OK && rc != ES_ECONFLICT)
		store_append_res_free(res);
	/* Here, rc == ES_OK && !res->replayed: the events are committed. */
out:
	sbuf_free(&events);
	return rc;
}

enum es_status store_append(struct db *db, const struct store_append_req *req,
			    struct store_append_res *res)
{
	return append(db, req, res, true);
}

enum es_status store_append_in_transaction(struct db *db, const struct store_append_req *req,
					   struct store_append_res *res)
{
	return append(db, req, res, false);
}

enum es_status store_append_guarded(struct db *db, const struct store_append_statements *set,
				    const struct store_append_req *req, const char *const *guard,
				    size_t n_guard, struct store_append_res *res)
{
	struct sbuf events = SBUF_INIT;
	char expected[24];
	const char *values[6 + STORE_GUARD_MAX_PARAMS];
	size_t n;
	enum es_status rc;

	memset(res, 0, sizeof *res);
	if (n_guard > STORE_GUARD_MAX_PARAMS)
		return ES_EINVAL;
	rc = append_values(req, &events, expected, values);
	if (rc != ES_OK)
		goto out;
	/* the guard's values follow the expected version where it is a
	 * parameter (STORE_APPEND_EXACT), else take its place */
	n = append_statement(set, req) == set->st[STORE_APPEND_EXACT] ? 6 : 5;
	for (size_t i = 0; i < n_guard; i++)
		values[n++] = guard[i];
	rc = store_append_optimistic(db, set, req, values, res);
	if (rc != ES_OK)
		store_append_res_free(res);
out:
	sbuf_free(&events);
	return rc;
}

enum es_status store_append_known(struct db *db, const struct store_append_req *req,
				  struct store_append_res *res)
{
	struct sbuf events = SBUF_INIT;
	PGresult *r = NULL;
	const char *values[4];
	enum es_status rc;

	memset(res, 0, sizeof *res);
	rc = store_append_prepare(req, &events, values);
	if (rc != ES_OK)
		goto out;
	values[3] = sbuf_cstr(&events);
	rc = db_exec(db, &st_append_known, values, &r);
	if (rc != ES_OK)
		goto out;
	if (PQntuples(r) == 0) {
		rc = ES_ENOTFOUND;
		goto out;
	}
	rc = store_append_result(r, res);
	if (rc != ES_OK)
		store_append_res_free(res);
out:
	PQclear(r);
	sbuf_free(&events);
	return rc;
}

void store_append_res_free(struct store_append_res *res)
{
	if (!res)
		return;
	free(res->events);
	res->events = NULL;
	res->n_events = 0;
}

enum es_status store_read_stream(struct db *db, const char *tenant, const char *aggregate_type,
				 const char *aggregate_id, int64_t from_version, int limit,
				 long max_bytes, unsigned how, struct sbuf *out,
				 struct store_stream_page *page)
{
	bool backward = how & STORE_READ_BACKWARD;
	PGresult *r = NULL;
	char from[24], lim[16], budget[24];
	const char *values[7];
	size_t bytes = 0;
	int64_t last = 0;
	enum es_status rc;
	int rows;

	memset(page, 0, sizeof *page);
	if (limit < 1 || from_version < 0)
		return ES_EINVAL;
	if (from_version == 0)
		from_version = backward ? INT64_MAX : 1;
	snprintf(from, sizeof from, "%" PRId64, from_version);
	snprintf(lim, sizeof lim, "%d", limit);
	snprintf(budget, sizeof budget, "%ld", max_bytes);
	values[0] = tenant ? tenant : UUIDTEXT_NIL;
	values[1] = aggregate_type;
	values[2] = aggregate_id;
	values[3] = from;
	values[4] = lim;
	values[5] = max_bytes > 0 ? budget : NULL;
	values[6] = how & STORE_READ_KEY_EPOCH ? "t" : "f";

	rc = db_exec_binary(db, backward ? &st_read_backward : &st_read_forward, values, &r);
	if (rc != ES_OK)
		goto out;
	rows = PQntuples(r);
	if (rows == 0) {
		rc = ES_ENOTFOUND;
		goto out;
	}
	page->current_version = db_binary_int64(r, 0, 0);
	if (PQgetlength(r, 0, 1 + EVENT_RENDER_NCOLS) == 16)
		uuidtext_format((const unsigned char *)PQgetvalue(r, 0, 1 + EVENT_RENDER_NCOLS),
				page->key_epoch);
	for (int i = 0; i < rows && !PQgetisnull(r, i, 1); i++) {
		size_t before = out->len, json_at;

		if (page->count > 0)
			sbuf_putc(out, ',');
		json_at = out->len;
		rc = event_render(r, i, 1, out);
		if (rc != ES_OK)
			goto out;
		/* The database's cut counts a little short (event_render.h). */
		bytes += out->len - json_at;
		if (page->count > 0 && max_bytes > 0 && bytes > (size_t)max_bytes) {
			sbuf_truncate(out, before);
			break;
		}
		last = db_binary_int64(r, i, 1 + EVENT_RENDER_VERSION);
		page->count++;
	}
	if (page->count > 0) {
		if (backward)
			page->next_from_version = last > 1 ? last - 1 : 0;
		else
			page->next_from_version = last < page->current_version ? last + 1 : 0;
	}
	rc = out->failed ? ES_ENOMEM : ES_OK;
out:
	PQclear(r);
	return rc;
}

enum es_status store_stream_version(struct db *db, const char *tenant, const char *aggregate_type,
				    const char *aggregate_id, int64_t *version)
{
	PGresult *r = NULL;
	const char *values[3] = { tenant ? tenant : UUIDTEXT_NIL, aggregate_type, aggregate_id };
	enum es_status rc;

	*version = 0;
	rc = db_exec(db, &st_stream_version, values, &r);
	if (rc != ES_OK)
		goto out;
	if (PQntuples(r) == 0) {
		rc = ES_ENOTFOUND;
		goto out;
	}
	*version = db_value_int64(r, 0, 0);
out:
	PQclear(r);
	return rc;
}

enum es_status store_count_streams(struct db *db, const char *aggregate_type, int64_t *count)
{
	const char *values[1] = { aggregate_type };

	return db_exec_params_int64(db, "store_count_streams", STORE_COUNT_STREAMS_SQL, 1, values,
				    count);
}

enum es_status store_list_streams(struct db *db, const char *aggregate_type,
				  const struct store_stream_key *after, int limit,
				  struct store_stream_key *out, size_t *n)
{
	char lim[16];
	const char *values[4] = { aggregate_type, after ? after->tenant : NULL,
				  after ? after->aggregate_id : NULL, lim };
	PGresult *r = NULL;
	enum es_status rc;
	int rows;

	*n = 0;
	if (limit < 1)
		return ES_EINVAL;
	snprintf(lim, sizeof lim, "%d", limit);
	rc = db_exec_params(db, "store_list_streams", STORE_LIST_STREAMS_SQL, 4, values, &r);
	if (rc != ES_OK)
		goto out;
	rows = PQntuples(r);
	for (int i = 0; i < rows && i < limit; i++) {
		snprintf(out[i].tenant, sizeof out[i].tenant, "%s", PQgetvalue(r, i, 0));
		snprintf(out[i].aggregate_id, sizeof out[i].aggregate_id, "%s", PQgetvalue(r, i, 1));
		(*n)++;
	}
out:
	PQclear(r);
	return rc;
}

enum es_status store_gauges_read(struct db *db, struct store_gauges *out)
{
	PGresult *r = NULL;
	enum es_status rc;

	memset(out, 0, sizeof *out);
	rc = db_exec(db, &st_gauges, NULL, &r);
	if (rc == ES_OK) {
		out->highest_position = db_value_int64(r, 0, 0);
		out->events_estimate = db_value_int64(r, 0, 1);
		out->horizon_age_seconds = strtod(PQgetvalue(r, 0, 2), NULL);
		if (out->horizon_age_seconds < 0)
			out->horizon_age_seconds = 0;
	}
	PQclear(r);
	return rc;
}

enum es_status store_counts(struct db *db, int64_t *events, int64_t *streams)
{
	PGresult *r = NULL;
	enum es_status rc;

	*events = 0;
	*streams = 0;
	rc = db_exec(db, &st_counts, NULL, &r);
	if (rc != ES_OK)
		goto out;
	*events = db_value_int64(r, 0, 0);
	*streams = db_value_int64(r, 0, 1);
out:
	PQclear(r);
	return rc;
}

enum es_status store_read_stream_rows(struct db *db, const char *tenant, const char *aggregate_type,
				      const char *aggregate_id, int64_t after, int64_t upto,
				      bool with_metadata, int limit, PGresult **out)
{
	char after_s[24], upto_s[24], limit_s[16];
	const char *values[7] = { tenant ? tenant : UUIDTEXT_NIL, aggregate_type, aggregate_id,
				  after_s, upto_s, with_metadata ? "true" : "false", limit_s };

	snprintf(after_s, sizeof after_s, "%" PRId64, after);
	snprintf(upto_s, sizeof upto_s, "%" PRId64, upto);
	snprintf(limit_s, sizeof limit_s, "%d", limit);
	return db_exec(db, &st_stream_rows, values, out);
}

void store_announce_commit(struct db *db)
{
	/* One round trip, one implicit transaction: the simple query protocol
	 * runs both statements, and rolls both back if either fails. */
	if (db_exec_sql(db, "SET LOCAL synchronous_commit = off; NOTIFY " STORE_NOTIFY_CHANNEL,
			NULL) != ES_OK)
		return; /* logged by db; the waiters' own polling covers it */
}
