#!/usr/bin/env bash
# profile.sh - where an append's time goes: single-event appends to new
# streams over HTTP (bench/wrk/append.lua) for DURATION seconds on a
# private stack, with
#   - perf sampling every CPU: the share of each program (PostgreSQL,
#     nginx, the workers, wrk) and PostgreSQL's hottest functions;
#   - pg_stat_statements: each statement's calls and mean time in the
#     server (the commit's wait for the disk is not in it).
# Run it on two builds (EVSTORE_BUILDDIR) to compare before and after; each
# build migrates its own schema. Options (environment): DURATION=10
# CONNS=32 WORKERS=$CONNS. perf needs root or kernel.perf_event_paranoid
# <= 0.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-$CONNS}
. "$SRC/bench/lib.sh"
bench_stack_init bench-profile
trap 'stack_stop immediate; rm -rf "$STACK_DIR"' EXIT

[ -x "$(stack_fcgi_bin)" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }
STACK_LOG_LEVEL=error stack_write_config
STACK_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
	stack_pg_start
stack_migrate
stack_fcgi_start "$WORKERS"
stack_nginx_start
BASE=http://127.0.0.1:$(cat "$STACK_DIR/nginx/port")
DB=$(stack_database_url)
export TOKEN
TOKEN=$("$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub bench --scope "events:read events:write" --ttl 7200)
psql -X -q "$DB" -c "CREATE EXTENSION pg_stat_statements"

# warm up (statements prepared, caches full), then measure from zero
wrk -t 2 -c "$CONNS" -d 3s -s bench/wrk/append.lua "$BASE/" >/dev/null
psql -X -q "$DB" -c CHECKPOINT -c "SELECT pg_stat_statements_reset()" >/dev/null
perf record -a -g -o "$STACK_DIR/perf.data" -- \
	wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency -s bench/wrk/append.lua "$BASE/" \
	>"$STACK_DIR/wrk.out" 2>/dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '/^Requests\/sec:/ {print "appends/s: " $2} $1 == "99%" {print "p99: " $2}' "$STACK_DIR/wrk.out"

echo
echo "CPU by program (perf, all CPUs):"
perf report -i "$STACK_DIR/perf.data" --no-children --sort comm --stdio 2>/dev/null |
	awk '/^ +[0-9.]+%/ && n++ < 8 {print "  " $1, $2}'
echo
echo "PostgreSQL's hottest functions (share of all samples):"
perf report -i "$STACK_DIR/perf.data" --no-children --comm postgres --sort sym --stdio 2>/dev/null |
	awk '/^ +[0-9.]+%/ && n++ < 15 {$2 = ""; print "  " $0}'
echo
echo "pg_stat_statements (server time per call; top 6 by total):"
psql -X -q -At -F ' | ' "$DB" -c "SELECT calls, round(mean_exec_time::numeric, 3) || ' ms',
	  round(total_exec_time::numeric) || ' ms total', left(regexp_replace(query, '\s+', ' ', 'g'), 90)
	FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6" | sed 's/^/  /'
