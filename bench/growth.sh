#!/usr/bin/env bash
# growth.sh - whether evstore's cost stays flat as the store grows. Fills
# a private store, in batches straight into the tables (the way a bulk
# import writes: ten events a stream, 1% of them of the aggregate type
# Rare), and at each size in LEVELS measures over HTTP:
#   - single-event appends to new streams (wrk, as run.sh's first row);
#   - the first page of GET /v1/events?aggregate_type=Rare beside the first
#     unfiltered page (limit 100 each): the filtered page's cost relative
#     to the unfiltered one.
# Prints one row per size with the load average (the ratios are what
# count; other work on the machine moves the absolute figures). Needs an
# optimised build in ./build or $EVSTORE_BUILDDIR. Options (environment):
#   LEVELS="0 1000000 5000000 10000000"  DURATION=10  CONNS=32  WORKERS=$CONNS
#   BATCH=500000 (events a fill transaction)
# The store's PostgreSQL gets shared_buffers=1GB and max_wal_size=8GB so
# that filling 10M events does not checkpoint every few seconds; both
# apply to every size alike.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
LEVELS=${LEVELS:-0 1000000 5000000 10000000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-$CONNS}
BATCH=${BATCH:-500000}
. "$SRC/bench/lib.sh"
bench_stack_init bench-growth
trap 'stack_stop immediate; rm -rf "$STACK_DIR"' EXIT

[ -x "$(stack_fcgi_bin)" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }
STACK_LOG_LEVEL=error stack_write_config
STACK_PG_OPTIONS="-c shared_buffers=1GB -c max_wal_size=8GB" stack_pg_start
stack_migrate
stack_fcgi_start "$WORKERS"
stack_nginx_start
BASE=http://127.0.0.1:$(cat "$STACK_DIR/nginx/port")
DB=$(stack_database_url)
export TOKEN
TOKEN=$("$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub bench --scope "events:read events:write" --ttl 86400)
psql_q() { psql -X -q -At "$DB" "$@"; }

# fill N: N more events (a multiple of 10), BATCH a transaction.
fill() {
	local left=$1 n
	while [ "$left" -gt 0 ]; do
		n=$((left < BATCH ? left : BATCH))
		psql_q -c "WITH s AS (
		    INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
		    SELECT '00000000-0000-0000-0000-000000000000',
		           CASE WHEN random() < 0.01 THEN 'Rare' ELSE 'Common' END, gen_random_uuid(), 10
		    FROM generate_series(1, $n / 10)
		    RETURNING tenant_id, aggregate_type, aggregate_id)
		  INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version,
		                              event_type, actor_id, occurred_at, payload, metadata)
		  SELECT s.tenant_id, gen_random_uuid(), s.aggregate_type, s.aggregate_id, v, 'Ticked', 'bench',
		         now(), jsonb_build_object('n', v, 'note', 'an event of the growth benchmark'),
		         '{\"request_id\":\"0192f3c4-0000-7000-8000-000000000000\"}'
		  FROM s, generate_series(1, 10) AS v"
		left=$((left - n))
	done
	psql_q -c "VACUUM (ANALYZE) evstore.events" -c "VACUUM (ANALYZE) evstore.streams"
}

settle() { psql_q -c CHECKPOINT >/dev/null 2>&1 || true; }
# wrk_rate SCRIPT PATH -> requests/s, the best of two runs
wrk_rate() {
	local a b
	settle
	a=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" ${1:+-s "$1"} -H "Authorization: Bearer $TOKEN" "$BASE$2" |
		awk '/^Requests\/sec:/ {print $2}')
	settle
	b=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" ${1:+-s "$1"} -H "Authorization: Bearer $TOKEN" "$BASE$2" |
		awk '/^Requests\/sec:/ {print $2}')
	awk -v a="$a" -v b="$b" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row() { printf '%12s %12s %10s %10s %12s %10s %8s  %s\n' "$@"; }

echo "evstore growth: ${DURATION}s per run, $CONNS connections, $WORKERS FastCGI workers, $(nproc) cores"
row "target" "events" "append/s" "vs empty" "page/s" "typed/s" "cost" "load average"
stored=0
first=
for level in $LEVELS; do
	[ "$level" -gt "$stored" ] && fill $(((level - stored) / 10 * 10))
	stored=$(psql_q -c "SELECT count(*) FROM evstore.events")
	# A few Rare events exist from the start: an empty store has no page
	# to read otherwise.
	[ "$stored" -eq 0 ] && fill 1000 && stored=$(psql_q -c "SELECT count(*) FROM evstore.events")
	appends=$(wrk_rate bench/wrk/append.lua /)
	[ -z "$first" ] && first=$appends
	page=$(wrk_rate "" "/v1/events?limit=100")
	typed=$(wrk_rate "" "/v1/events?limit=100&aggregate_type=Rare")
	row "$level" "$stored" "$appends" "$(ratio "$appends" "$first")" "$page" "$typed" \
		"$(ratio "$page" "$typed")x" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
