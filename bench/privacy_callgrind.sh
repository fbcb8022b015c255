#!/usr/bin/env bash
# privacy_callgrind.sh - what declared personal data costs the worker on
# reads and appends, in instructions (deterministic where rates are noisy): one
# evstore-fcgi worker under callgrind, collecting inside app_handle only,
# answers reads of one 20-event stream with two declared fields (Contact)
# and of the same stream undeclared (PlainContact), in the redacted view
# (no personal:read) and the clear one, then single-event appends to new
# streams (a new subject each) of both. Counters are zeroed after five
# warm-up requests; the figure is instructions per request over N more.
# Run it on two builds (EVSTORE_BUILDDIR) to compare. Options: N=40.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
N=${N:-40}
. "$SRC/bench/lib.sh"
bench_stack_init privacy-callgrind
trap 'stack_stop immediate; rm -rf "$STACK_DIR"' EXIT
[ -x "$(stack_fcgi_bin)" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }

bench_privacy_stack_start 1
stack_nginx_start
BASE=http://127.0.0.1:$(cat "$STACK_DIR/nginx/port")
mint() { "$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub bench --scope "$1" --ttl 7200; }
WRITER=$(mint "events:read events:write")
CLEAR=$(mint "events:read personal:read")
# the events bench/privacy.sh reads, appended through the API (sealed)
body=$(jq -cn '{events: [range(20) | {event_type: "ContactNoted", payload: {email: "someone@example.org",
	phone: "+44 20 7946 0000", source: "web", score: .}}]}')
declare -A ID
for t in Contact PlainContact; do
	ID[$t]=$(cat /proc/sys/kernel/random/uuid)
	curl -sf -o /dev/null -H "Authorization: Bearer $WRITER" -H 'Content-Type: application/json' \
		--data-binary "$body" "$BASE/v1/aggregates/$t/${ID[$t]}/events"
done
stack_fcgi_stop
read_once() {
	curl -sf -o /dev/null -H "Authorization: Bearer $1" "$BASE/v1/aggregates/$2/${ID[$2]}/events?limit=100"
}
# append_once TOKEN TYPE: one ContactNoted to a new stream (a new subject)
append_once() {
	curl -sf -o /dev/null -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		--data-binary "$one" "$BASE/v1/aggregates/$2/$(cat /proc/sys/kernel/random/uuid)/events"
}
one=$(jq -cn '{expected_version: 0, events: [{event_type: "ContactNoted", payload: {email: "someone@example.org",
	phone: "+44 20 7946 0000", source: "web", score: 7}}]}')

# measure LABEL TYPE COMMAND...: one worker under callgrind, collecting in
# app_handle; five warm-up calls of COMMAND, then N counted; prints the
# instructions per call.
measure() {
	local label=$1 t=$2 pool ir
	shift 2
	valgrind --tool=callgrind --trace-children=yes --collect-atstart=no --toggle-collect=app_handle \
		--callgrind-out-file="$STACK_DIR/cg.$label.$t.%p" "$(stack_fcgi_bin)" \
		--config "$STACK_DIR/evstore.conf" --listen "$STACK_DIR/fcgi.sock" --workers 1 \
		>>"$STACK_DIR/fcgi.log" 2>&1 </dev/null &
	echo $! >"$STACK_DIR/fcgi.pid"
	wait_for 60 test -S "$STACK_DIR/fcgi.sock"
	for _ in 1 2 3 4 5; do until "$@"; do sleep 0.5; done; done
	pool=$(cat "$STACK_DIR/fcgi.pid")
	for pid in "$pool" $(pgrep -P "$pool"); do callgrind_control -z "$pid" >/dev/null 2>&1 || true; done
	for _ in $(seq "$N"); do "$@"; done
	stack_fcgi_stop
	sleep 1
	ir=$(cat "$STACK_DIR"/cg.$label.$t.* | awk '/^summary:/ {s += $2} END {print s + 0}')
	printf '%-16s %-14s %14d\n' "$label" "$t" $((ir / N))
}

printf '%-16s %-14s %14s\n' what type "Ir per request"
for view in redacted clear; do
	[ "$view" = clear ] && token=$CLEAR || token=$WRITER
	for t in Contact PlainContact; do
		measure "read-$view" "$t" read_once "$token" "$t"
	done
done
for t in Contact PlainContact; do
	measure "append" "$t" append_once "$WRITER" "$t"
done
