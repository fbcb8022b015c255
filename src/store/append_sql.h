/* append_sql.h - the optimistic append statements, one per expectation, as
 * text with a hook for a caller's guard: the store's own statements pass
 * none, the keyring (privacy/keyring.c) passes the subject keys an append
 * is sealed under, so that the events and the keys they need are written
 * by one statement or not at all.
 *
 * Each statement is a CTE "s" making the compare-and-set on the streams
 * row and returning the stream's new and old versions (no row: the
 * expectation, or the guard, does not hold), then the insert of the events
 * from the JSON array at versions old + 1, old + 2, ... $1 tenant, $2
 * aggregate type, $3 aggregate id, $4 actor, $5 the events
 * (store_events_json: occurred_at always there, metadata left out when
 * there is none), and for STORE_APPEND_EXACT_SQL $6 the expected version.
 * Rows: the stream's new version, then each event's id, version and
 * position, in order.
 *
 * The guard: PRE, CTEs placed before "s" (text ending in ", ", or ""),
 * COND, a boolean SQL expression "s" must meet to write ("true": none),
 * POST, CTEs placed after "s" that may read it (text starting with ", ",
 * or ""): they run only with a row of "s" to read, so a refused append
 * writes nothing of theirs either. */
#ifndef EVSTORE_APPEND_SQL_H
#define EVSTORE_APPEND_SQL_H

#define STORE_N_EVENTS "jsonb_array_length($5::jsonb)"
#define STORE_STREAM_KEY_SQL \
	"s.tenant_id = $1::uuid AND s.aggregate_type = $2::text AND s.aggregate_id = $3::uuid"
#define STORE_INSERT_SQL \
	", ins AS (" \
	"  INSERT INTO evstore.events AS e (tenant_id, event_id, aggregate_type, aggregate_id," \
	"   version, event_type, actor_id, occurred_at, payload, metadata)" \
	"  SELECT $1::uuid, (x.ev->>'event_id')::uuid, $2::text, $3::uuid, s.old_version + x.ord," \
	"   x.ev->>'event_type', $4::text, (x.ev->>'occurred_at')::timestamptz, x.ev->'payload'," \
	"   COALESCE(x.ev->'metadata', '{}'::jsonb)" \
	"  FROM s, jsonb_array_elements($5::jsonb) WITH ORDINALITY AS x(ev, ord)" \
	"  ORDER BY x.ord" \
	"  RETURNING e.event_id, e.version, e.position)" \
	" SELECT s.new_version, ins.event_id, ins.version, ins.position" \
	" FROM s, ins ORDER BY ins.version"

/* expected_version 0: a new stream. */
#define STORE_APPEND_NEW_SQL(PRE, COND, POST) \
	"WITH " PRE "s AS (" \
	"  INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version)" \
	"  SELECT $1::uuid, $2::text, $3::uuid, " STORE_N_EVENTS " WHERE " COND \
	"  ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO NOTHING" \
	"  RETURNING s.version AS new_version, 0::bigint AS old_version)" \
	POST STORE_INSERT_SQL

#define STORE_APPEND_EXACT_SQL(PRE, COND, POST) \
	"WITH " PRE "s AS (" \
	"  UPDATE evstore.streams AS s SET version = s.version + " STORE_N_EVENTS ", updated_at = now()" \
	"  WHERE " STORE_STREAM_KEY_SQL " AND s.version = $6::bigint AND " COND \
	"  RETURNING s.version AS new_version, $6::bigint AS old_version)" \
	POST STORE_INSERT_SQL

#define STORE_APPEND_EXISTS_SQL(PRE, COND, POST) \
	"WITH " PRE "s AS (" \
	"  UPDATE evstore.streams AS s SET version = s.version + " STORE_N_EVENTS ", updated_at = now()" \
	"  WHERE " STORE_STREAM_KEY_SQL " AND " COND \
	"  RETURNING s.version AS new_version, s.version - " STORE_N_EVENTS " AS old_version)" \
	POST STORE_INSERT_SQL

#define STORE_APPEND_ANY_SQL(PRE, COND, POST) \
	"WITH " PRE "s AS (" \
	"  INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version)" \
	"  SELECT $1::uuid, $2::text, $3::uuid, " STORE_N_EVENTS " WHERE " COND \
	"  ON CONFLICT (tenant_id, aggregate_type, aggregate_id)" \
	"  DO UPDATE SET version = s.version + EXCLUDED.version, updated_at = now()" \
	"  RETURNING s.version AS new_version, s.version - " STORE_N_EVENTS " AS old_version)" \
	POST STORE_INSERT_SQL

#endif
