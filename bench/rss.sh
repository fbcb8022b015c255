#!/usr/bin/env bash
# rss.sh - one evstore-fcgi worker's memory across at least REQUESTS
# requests (appends, stream reads, feed pages, probes, and refused ones):
# prints its RSS before and after. Needs an optimised build in ./build.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
REQUESTS=${REQUESTS:-100000}
. "$SRC/bench/lib.sh"
bench_stack_init rss
trap 'stack_stop immediate; rm -rf "$STACK_DIR"' EXIT

STACK_LOG_LEVEL=error stack_write_config
STACK_PG_OPTIONS="-c synchronous_commit=off" stack_pg_start
stack_migrate
stack_fcgi_start 1
stack_nginx_start
BASE=http://127.0.0.1:$(cat "$STACK_DIR/nginx/port")
export TOKEN
TOKEN=$("$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub rss --scope "events:read events:write" --ttl 7200)
worker=$(pgrep -P "$(cat "$STACK_DIR/fcgi.pid")" -x evstore-fcgi | head -n 1)
rss() { ps -o rss= -p "$worker" | tr -d ' '; }

# Warm up so that the first figure includes the connection and prepared
# statements, then run the mix until the worker has served enough.
wrk -t 1 -c 4 -d 2s -s bench/wrk/append.lua "$BASE/" >/dev/null
before=$(rss)
psql -X -q -At "$(stack_database_url)" -c "SELECT aggregate_id FROM evstore.streams LIMIT 50" >"$STACK_DIR/streams"
export STREAMS=$STACK_DIR/streams
# wrk2s ARGS...: two seconds of load, prints how many requests were served.
wrk2s() { wrk -t 1 -c 4 -d 2s -H "Authorization: Bearer $TOKEN" "$@" | awk '/requests in/ {print $1}'; }
served=0
while [ "$served" -lt "$REQUESTS" ]; do
	served=$((served + $(wrk2s -s bench/wrk/append.lua "$BASE/")))
	served=$((served + $(wrk2s -s bench/wrk/read.lua "$BASE/")))
	served=$((served + $(wrk2s "$BASE/health/live")))
	served=$((served + $(wrk2s "$BASE/v1/events?limit=100")))
	served=$((served + $(wrk2s "$BASE/v1/aggregates/Bench/not-a-uuid/events")))
done
after=$(rss)
echo "one worker, $served requests: RSS ${before} KiB before, ${after} KiB after"
