#!/usr/bin/env bash
# A rolling restart behind HAProxy: two evstore hosts on this machine (each
# its own pool and nginx, one PostgreSQL), HAProxy in front with the
# shipped packaging/haproxy/evstore.cfg (only the bind and server addresses
# changed). Under a steady load of appends, each carrying its own event_id,
# one host after the other gets SIGTERM, drains, exits and is started
# again. No client request may fail, and every acknowledged event is
# stored exactly once.
. "$(dirname "$0")/lib.sh"
it_require haproxy nginx
IT_NO_SERVERS=1
# The drain must outlast HAProxy's detection (shipped: fall x inter +
# timeout check = 3 s); 8 s leaves room on a busy machine.
IT_EXTRA_CONF="[http]
drain_delay = 8"
it_start

. "$(dirname "$0")/hosts_lib.sh"

# --- two hosts behind HAProxy, configured as shipped ------------------------------
host_start a || { echo "Bail out! host a did not start"; exit 1; }
host_start b || { echo "Bail out! host b did not start"; exit 1; }
haproxy_start a b

# --- the load -----------------------------------------------------------------------
# Nothing may fail: no retries.
load_start "$(token roller "events:write")" 0
posts() { grep -c '"POST /v1/' "$IT_DIR/$1/nginx/access.log" 2>/dev/null || echo 0; }
posts_over() { [ "$(posts "$1")" -gt "$2" ]; }
check "the load runs through HAProxy" wait_for 30 acked_over 20

# --- restart one host, then the other ---------------------------------------------
restart() { # NAME SERVER
	local pid n
	pid=$(cat "$IT_DIR/$1/fcgi.pid")
	n=$(acked)
	kill -TERM "$pid"
	check "$1: HAProxy takes the draining host out" wait_for 30 state_is "$2" DOWN
	check "$1: before its pool stops (it still drains)" kill -0 "$pid"
	check "$1: the pool exits" wait_for 60 bash -c "! kill -0 $pid 2>/dev/null"
	wait "$pid"
	check "$1: with status 0" test $? = 0
	check "$1: the load went on meanwhile ($n acknowledged before, $(acked) now)" acked_over "$n"
	host_pool "$1"
	check "$1: HAProxy sees the host up again" wait_for 30 state_is "$2" UP
	n=$(posts "$1")
	check "$1: the restarted host takes appends again" wait_for 30 posts_over "$1" "$n"
}
restart a evstore1
restart b evstore2

load_stop

# --- nothing failed, nothing lost, nothing doubled ------------------------------
load_failures_none
check "a few hundred appends went through" acked_over 100
# The retries are the safety net; with the drain nothing should need them.
retried=$(grep -cE '/\+[0-9]+ [0-9]+/[0-9]+ "' "$IT_DIR/haproxy.log")
check "HAProxy had no request to retry: the drain took each host out in time ($retried retried)" test "$retried" = 0
acked_stored_once psql_q

for h in a b; do
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$IT_DIR/$h/fcgi.log"; then
		not_ok "host $h's pool ran clean under the sanitizers" "$(grep -m3 -E 'Sanitizer|runtime error' "$IT_DIR/$h/fcgi.log")"
	fi
done
it_finish
