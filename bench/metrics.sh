#!/usr/bin/env bash
# metrics.sh - what a scrape of GET /metrics costs, on a store of EVENTS
# events with SUBS subscriptions of PARTS partitions and DLQ_ENTRIES
# unresolved dead letters: SCRAPES scrapes one after the other, idle and
# then while wrk appends with CONNS connections, each beside /health/live
# (no database) asked the same way at the same moment. Prints the client's
# latency (curl through nginx) and the worker's own time for the scrapes
# (the route's histogram: sum / count). Needs an optimised build in ./build
# (or EVSTORE_BUILDDIR) and wrk. Options (environment):
#   EVENTS=1000000 SUBS=4 PARTS=4 DLQ_ENTRIES=5000 WORKERS=4 CONNS=16 SCRAPES=200
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
EVENTS=${EVENTS:-1000000}
SUBS=${SUBS:-4}
PARTS=${PARTS:-4}
DLQ_ENTRIES=${DLQ_ENTRIES:-5000}
WORKERS=${WORKERS:-4}
CONNS=${CONNS:-16}
SCRAPES=${SCRAPES:-200}
. "$SRC/bench/lib.sh"
bench_stack_init metrics
WRK=
cleanup() {
	[ -n "$WRK" ] && kill "$WRK" 2>/dev/null
	stack_stop immediate
	rm -rf "$STACK_DIR"
}
trap cleanup EXIT

[ -x "$(stack_fcgi_bin)" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }
STACK_LOG_LEVEL=error stack_write_config
stack_pg_start
stack_migrate
DB=$(stack_database_url)

echo "== filling: $EVENTS events, $SUBS x $PARTS status rows, $DLQ_ENTRIES DLQ entries"
psql -X -q -v ON_ERROR_STOP=1 "$DB" <<SQL
INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version,
  event_type, occurred_at, payload)
SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'Bench', gen_random_uuid(), 1,
  'Filled', now(), jsonb_build_object('n', g)
  FROM generate_series(1, $EVENTS) g;
INSERT INTO evstore.subscription_status (subscription, partition, runner_id, state,
  events_processed, lag_events)
SELECT 'sub' || s, p, 'bench:1', 'live', 1000, 10
  FROM generate_series(1, $SUBS) s, generate_series(0, $PARTS - 1) p;
INSERT INTO evstore.dlq (subscription, partition, position, transaction_id, event_id,
  event_type, aggregate_type, aggregate_id)
SELECT 'sub1', 0, g, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid()
  FROM generate_series(1, $DLQ_ENTRIES) g;
VACUUM ANALYZE evstore.events;
VACUUM ANALYZE evstore.dlq;
SQL

EVSTORE_METRICS_REQUIRE_AUTH=false stack_fcgi_start "$WORKERS"
stack_nginx_start
BASE=http://127.0.0.1:$(cat "$STACK_DIR/nginx/port")
export TOKEN
TOKEN=$("$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub bench --scope "events:read events:write" --ttl 7200)
curl -sf -o /dev/null "$BASE/metrics" || { echo "/metrics does not answer" >&2; exit 1; }

# timings PATH N: N requests one after the other, one total time (s) a line.
timings() {
	local i
	for i in $(seq 1 "$2"); do curl -s -o /dev/null -w '%{time_total}\n' "$BASE$1"; done
}
# summary FILE: "p50 p95 p99 max" in milliseconds.
summary() {
	sort -n "$1" | awk '{ v[NR] = $1 * 1000 } END {
		printf "%.2f %.2f %.2f %.2f", v[int(NR * 0.5) + 1], v[int(NR * 0.95)], v[int(NR * 0.99)], v[NR] }'
}
# worker_time: "seconds count" the workers spent on /metrics so far (its
# own histogram).
worker_time() {
	curl -s "$BASE/metrics" | awk '
		$1 == "evstore_http_request_duration_seconds_sum{route=\"/metrics\"}" { s = $2 }
		$1 == "evstore_http_request_duration_seconds_count{route=\"/metrics\"}" { n = $2 }
		END { print s, n }'
}
# mean_ms "S0 N0" "S1 N1": the mean time of the scrapes in between (ms).
mean_ms() { echo "$1 $2" | awk '{ printf "%.2f", ($4 - $2) ? ($3 - $1) / ($4 - $2) * 1000 : 0 }'; }

out=$STACK_DIR/out
mkdir -p "$out"
echo "== idle: $SCRAPES scrapes, $SCRAPES /health/live"
w0=$(worker_time)
timings /metrics "$SCRAPES" >"$out/idle.metrics"
w1=$(worker_time)
timings /health/live "$SCRAPES" >"$out/idle.live"

echo "== under load: wrk appending with $CONNS connections"
wrk -t 2 -c "$CONNS" -d 600s -s bench/wrk/append.lua "$BASE/v1/aggregates" >"$out/wrk.txt" 2>&1 &
WRK=$!
sleep 3
before=$(curl -s "$BASE/metrics" | awk '$1 == "evstore_events_appended_total" { print $2 }')
t0=$SECONDS
w2=$(worker_time)
timings /metrics "$SCRAPES" >"$out/load.metrics"
w3=$(worker_time)
timings /health/live "$SCRAPES" >"$out/load.live"
after=$(curl -s "$BASE/metrics" | awk '$1 == "evstore_events_appended_total" { print $2 }')
rate=$(( (after - before) / (SECONDS - t0 > 0 ? SECONDS - t0 : 1) ))
kill "$WRK"; wait "$WRK" 2>/dev/null || true; WRK=

printf '\n%-44s %8s %8s %8s %8s\n' "client latency through nginx (ms)" p50 p95 p99 max
printf '%-44s %8s %8s %8s %8s\n' "/metrics, idle" $(summary "$out/idle.metrics")
printf '%-44s %8s %8s %8s %8s\n' "/health/live, idle" $(summary "$out/idle.live")
printf '%-44s %8s %8s %8s %8s\n' "/metrics, under appends ($rate events/s)" $(summary "$out/load.metrics")
printf '%-44s %8s %8s %8s %8s\n' "/health/live, under appends" $(summary "$out/load.live")
printf '\nworker time per scrape (the route histogram'"'"'s sum / count): %s ms idle, %s ms under appends\n' \
	"$(mean_ms "$w0" "$w1")" "$(mean_ms "$w2" "$w3")"
printf 'scrape size: %s bytes\n' "$(curl -s "$BASE/metrics" | wc -c)"
