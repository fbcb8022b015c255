#!/usr/bin/env bash
# capacity.sh - what an event costs on disk: a private PostgreSQL with the
# evstore schema, EVENTS events (default 1,000,000, Order-like payloads of
# about 140 bytes, ten events per stream) inserted in bulk, then the heap,
# TOAST and each index read with pg_relation_size and pg_indexes_size, and
# the WAL written per event: by the bulk fill, and by single-event appends
# through evstore.append (pgbench, APPENDS of them) as the API writes them.
# Prints a table; doc/operations.md ("Capacity planning") quotes it.
#
#   bench/capacity.sh                  # 1M events, binaries from ./build
#   EVENTS=100000 APPENDS=5000 bench/capacity.sh
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
EVENTS=${EVENTS:-1000000}
APPENDS=${APPENDS:-20000}
BATCH=10000

bench_stack_init capacity
trap 'stack_pg_stop immediate; rm -rf "$STACK_DIR"' EXIT
# Default durability: the WAL figures are what production writes.
STACK_PG_OPTIONS=
stack_write_config
stack_pg_start
stack_migrate
URL=$(stack_database_url)
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$URL" "$@"; }

wal_before=$(q -c "SELECT pg_current_wal_lsn()")
for ((from = 0; from < EVENTS; from += BATCH)); do
	q -c "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version,
		event_type, actor_id, occurred_at, payload, metadata)
	SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'Order',
		md5('order' || (g / 10))::uuid, g % 10 + 1,
		(ARRAY['OrderCreated', 'ItemAdded', 'ItemAdded', 'OrderPaid', 'OrderShipped'])[g % 5 + 1],
		'user-' || (g % 977), now(),
		jsonb_build_object('customer_id', 'c-' || lpad((g % 50000)::text, 6, '0'),
			'items', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 300), 'qty', 1 + g % 3,
				'price', 9.99)), 'total', (g % 1000) + 0.5, 'currency', 'EUR'),
		jsonb_build_object('request_id', gen_random_uuid())
	FROM generate_series($from, $((from + BATCH - 1 < EVENTS - 1 ? from + BATCH - 1 : EVENTS - 1))) g"
done
q -c "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
	SELECT tenant_id, aggregate_type, aggregate_id, max(version) FROM evstore.events
	GROUP BY 1, 2, 3"
wal_bulk=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal_before')")
q -c "VACUUM ANALYZE evstore.events" -c "VACUUM ANALYZE evstore.streams"

echo "events: $EVENTS (bulk insert, $BATCH per transaction), PostgreSQL $(q -c 'SHOW server_version')"
q -F ' | ' <<SQL
SELECT 'what', 'bytes', 'bytes per event'
UNION ALL SELECT 'payload (jsonb, average)', round(avg(pg_column_size(payload)))::text, ''
	FROM evstore.events
UNION ALL SELECT 'metadata (jsonb, average)', round(avg(pg_column_size(metadata)))::text, ''
	FROM evstore.events
UNION ALL SELECT 'events heap (pg_relation_size)', pg_relation_size('evstore.events')::text,
	round(pg_relation_size('evstore.events')::numeric / $EVENTS, 1)::text
UNION ALL SELECT 'events table with TOAST, FSM, VM (pg_table_size)', pg_table_size('evstore.events')::text,
	round(pg_table_size('evstore.events')::numeric / $EVENTS, 1)::text
UNION ALL (SELECT 'index ' || indexrelid::regclass::text, pg_relation_size(indexrelid)::text,
	round(pg_relation_size(indexrelid)::numeric / $EVENTS, 1)::text
	FROM pg_index WHERE indrelid = 'evstore.events'::regclass ORDER BY 1)
UNION ALL SELECT 'events indexes (pg_indexes_size)', pg_indexes_size('evstore.events')::text,
	round(pg_indexes_size('evstore.events')::numeric / $EVENTS, 1)::text
UNION ALL SELECT 'events in all (pg_total_relation_size)', pg_total_relation_size('evstore.events')::text,
	round(pg_total_relation_size('evstore.events')::numeric / $EVENTS, 1)::text
UNION ALL SELECT 'streams, ' || count(*) || ' rows (pg_total_relation_size)',
	pg_total_relation_size('evstore.streams')::text,
	round(pg_total_relation_size('evstore.streams')::numeric / count(*), 1)::text || ' per stream'
	FROM evstore.streams
UNION ALL SELECT 'WAL of the bulk fill', '$wal_bulk', round($wal_bulk::numeric / $EVENTS, 1)::text
SQL

# WAL per single-event append, as the API writes them (one transaction each).
wal_before=$(q -c "SELECT pg_current_wal_lsn()")
"$PGBIN/pgbench" -n -c 4 -t $((APPENDS / 4)) -f "$SRC/bench/pgbench/append.sql" "$URL" >/dev/null 2>&1
wal_one=$(q -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal_before')")
echo "WAL of $APPENDS single-event appends (evstore.append, pgbench -c 4) | $wal_one | $((wal_one / APPENDS))"
