#!/usr/bin/env bash
# The pool under systemd's eyes and a load balancer's: sd_notify (READY=1
# once it answers, RELOADING=1/READY=1 around SIGHUP, STATUS= with workers
# and requests, STOPPING=1), then the graceful drain on SIGTERM:
# /health/ready is 503 "draining" while everything else is served, a
# long-poll in flight ends with its page when the drain is over, the pool
# exits 0 and removes its socket, and a second SIGTERM cuts the drain
# short. Then the runner's notifications: READY=1, WATCHDOG=1 pings when
# WATCHDOG_USEC is set, STOPPING=1 at shutdown.
#
# NOTIFY_SOCKET is served by a small python3 listener that records every
# datagram with the sender's pid (SCM_CREDENTIALS), one JSON line each.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/runner_lib.sh"
it_require nginx
IT_NO_SERVERS=1
# A long-poll may wait 10 minutes here: only the stop can end it in time.
# The drain is long enough for the requests made during it on a slow,
# sanitized build; the pool's exit is awaited, not timed.
IT_EXTRA_CONF="[http]
drain_delay = 15
max_wait = 600"
it_start

# --- the NOTIFY_SOCKET listener (lib.sh) --------------------------------------
notify_listener_start

# said PID REGEX: one of PID's state lines matches REGEX (grep -E).
said() { states "$1" | grep -qE "$2"; }
# sent PID LINE: PID sent exactly this state line.
sent() { states "$1" | grep -qxF "$2"; }
# served PID: the largest "N requests served" in PID's STATUS= lines.
served() { states "$1" | sed -n 's/^STATUS=.* \([0-9][0-9]*\) requests served$/\1/p' | sort -n | tail -n 1; }
served_above() { local n; n=$(served "$1"); [ -n "$n" ] && [ "$n" -gt "$2" ]; }

# start_pool [ENV...]: the pool on $IT_DIR/fcgi.sock with NOTIFY_SOCKET; its
# pid in $POOL (and fcgi.pid, so the cleanup stops it).
start_pool() {
	env NOTIFY_SOCKET="$NOTIFY_SOCK" "$@" "$FCGI_BIN" --config "$IT_DIR/evstore.conf" \
		--listen "$IT_DIR/fcgi.sock" --workers 3 >>"$IT_DIR/fcgi.log" 2>&1 </dev/null &
	POOL=$!
	echo "$POOL" >"$IT_DIR/fcgi.pid"
}
# pool_exit PID SECONDS: waits for the pool to exit; its status in $POOL_RC.
pool_exit() {
	local deadline=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
	if kill -0 "$1" 2>/dev/null; then POOL_RC=running; return 1; fi
	wait "$1"; POOL_RC=$?
}
ready_status() { req GET /health/ready; [ "$STATUS" = "$1" ]; }

T=$(token drain "events:read events:write")

# --- start: READY=1 once it answers -------------------------------------------
start_pool
stack_nginx_start || exit 1
IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/nginx/port")
check "READY=1 arrives" wait_for 30 sent "$POOL" READY=1
req GET /health/ready
expect "when READY=1 has arrived the pool answers /health/ready" 200 .ready true
check "READY=1 came once" test "$(states "$POOL" | grep -cx READY=1)" = 1
check "a STATUS= line names the workers: $(states "$POOL" | grep -m1 '^STATUS=ready')" \
	said "$POOL" '^STATUS=ready: 3 workers \(0 busy\), long polls parked: 0, [0-9]+ requests served$'
workers=$(pgrep -P "$POOL" | xargs)
check "the workers ($workers) leave systemd to the supervisor" \
	test "$(jq -r --argjson pid "$POOL" 'select(.pid != $pid) | .pid' "$NOTIFY_LOG" | wc -l)" = 0

# --- STATUS= counts requests --------------------------------------------------
before=$(served "$POOL")
for i in 1 2 3 4 5; do req GET /health/live; done
check "STATUS= counts the requests served ($before, then more)" wait_for 15 served_above "$POOL" "${before:-0}"

# --- SIGHUP: RELOADING=1, then READY=1 ----------------------------------------
kill -HUP "$POOL"
readies() { [ "$(states "$POOL" | grep -cx READY=1)" = "$1" ]; }
check "SIGHUP: READY=1 again" wait_for 15 readies 2
order=$(states "$POOL" | grep -E '^(READY|RELOADING)=1$' | tr '\n' ' ')
check "SIGHUP: RELOADING=1 then READY=1 ($order)" test "$order" = "READY=1 RELOADING=1 READY=1 "
check "RELOADING=1 comes with MONOTONIC_USEC" said "$POOL" '^MONOTONIC_USEC=[0-9]+$'
req GET /health/ready
expect "after the reload the pool is ready" 200 .ready true

# --- SIGTERM: the drain ---------------------------------------------------------
# A long-poll that nothing will wake: it waits through the drain, parked in
# the waiter process rather than in a worker.
req GET /v1/events -H "Authorization: Bearer $T"
HEAD=$(jq_body .next)
(curl -sS -o "$IT_DIR/longpoll.body" -w '%{http_code}' --max-time 700 -H "Authorization: Bearer $T" \
	"$IT_BASE/v1/events?after=$HEAD&aggregate_type=Nothing&wait=600" >"$IT_DIR/longpoll.status" 2>&1) &
LONGPOLL=$!
IT_PIDS+=("$LONGPOLL")
# The long-poll is parked before the signal, and holds no worker.
check "the long-poll is parked in the waiter" wait_for 15 said "$POOL" '\(0 busy\), long polls parked: 1,'

kill -TERM "$POOL"
check "SIGTERM: STOPPING=1" wait_for 10 sent "$POOL" STOPPING=1
req GET /health/ready
expect "draining: /health/ready is 503" 503 .ready false .reason draining
check "draining: the 503 carries Retry-After ($(hdr Retry-After))" test -n "$(hdr Retry-After)"
ID=$(uuid)
post_json "$T" "/v1/aggregates/Order/$ID/events" '{"events":[{"event_id":"'"$(uuid)"'","event_type":"Created","payload":{"during":"drain"}}]}'
expect "draining: an append still succeeds" 201 .version 1
auth_req "$T" GET "/v1/aggregates/Order/$ID/events"
expect "draining: a read still succeeds" 200 '.events[0].payload.during' drain
req GET /health/live
expect "draining: the process is alive" 200 .alive true
req GET /health/ready
expect "still draining after those requests" 503 .reason draining
check "draining: the long-poll is still waiting" kill -0 "$LONGPOLL"
check "draining: a STATUS= line says so" wait_for 10 said "$POOL" '^STATUS=draining: '

check "the pool exits after the drain, not after the long-poll's 600 s" pool_exit "$POOL" 60
check "with status 0 ($POOL_RC)" test "$POOL_RC" = 0
check "and its socket is gone" test ! -e "$IT_DIR/fcgi.sock"
rm -f "$IT_DIR/fcgi.pid"
wait "$LONGPOLL"
check "the long-poll ended with 200 ($(cat "$IT_DIR/longpoll.status"))" test "$(cat "$IT_DIR/longpoll.status")" = 200
check "with its current page (no events) and a cursor" \
	test "$(jq -r '[(.events | length), (.next | length > 0)] | @tsv' "$IT_DIR/longpoll.body")" = $'0\ttrue'
check "the pool said STOPPING=1 once, then nothing else but STATUS=" \
	test "$(states "$POOL" | sed -n '/^STOPPING=1$/,$p' | grep -vc '^STATUS=')" = 1

# --- a second SIGTERM cuts a long drain short ---------------------------------
: >"$NOTIFY_LOG"
start_pool EVSTORE_HTTP_DRAIN_DELAY=600
check "the second pool is ready" wait_for 30 sent "$POOL" READY=1
kill -TERM "$POOL"
check "SIGTERM: the second pool drains" wait_for 10 ready_status 503
req GET /health/ready
expect "its /health/ready says draining" 503 .reason draining
kill -TERM "$POOL"
check "a second SIGTERM ends a 600 s drain: the pool exits" pool_exit "$POOL" 60
check "with status 0 ($POOL_RC)" test "$POOL_RC" = 0
check "and removes its socket" test ! -e "$IT_DIR/fcgi.sock"
rm -f "$IT_DIR/fcgi.pid"

# --- drain_delay = 0: SIGTERM stops at once -----------------------------------
: >"$NOTIFY_LOG"
start_pool EVSTORE_HTTP_DRAIN_DELAY=0
check "a pool without drain is ready" wait_for 30 sent "$POOL" READY=1
kill -TERM "$POOL"
check "drain_delay 0: one SIGTERM stops it" pool_exit "$POOL" 60
check "with status 0 ($POOL_RC)" test "$POOL_RC" = 0
check "after STOPPING=1" sent "$POOL" STOPPING=1
rm -f "$IT_DIR/fcgi.pid"

# --- one process on a socket systemd hands over: no drain -------------------------
# The socket is fd 3 (LISTEN_FDS); python binds it and execs evstore-fcgi,
# which keeps python's pid. Without --workers the process serves alone.
: >"$NOTIFY_LOG"
python3 - "$IT_DIR/fcgi.sock" "$FCGI_BIN" "$IT_DIR/evstore.conf" "$NOTIFY_SOCK" >>"$IT_DIR/fcgi.log" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(64)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
           EVSTORE_HTTP_DRAIN_DELAY="600", NOTIFY_SOCKET=sys.argv[4])
os.execve(sys.argv[2], [sys.argv[2], "--config", sys.argv[3]], env)
PY
POOL=$!
echo "$POOL" >"$IT_DIR/fcgi.pid"
check "alone on fd 3: READY=1 from the process itself" wait_for 30 sent "$POOL" READY=1
req GET /health/ready
expect "alone on fd 3: it answers" 200 .ready true
kill -TERM "$POOL"
check "alone on fd 3: SIGTERM stops it without a drain (600 s configured)" pool_exit "$POOL" 60
check "with status 0 ($POOL_RC)" test "$POOL_RC" = 0
check "after STOPPING=1" sent "$POOL" STOPPING=1
rm -f "$IT_DIR/fcgi.pid" "$IT_DIR/fcgi.sock"

# --- the runner: READY=1, WATCHDOG=1, STOPPING=1 ----------------------------------
: >"$NOTIFY_LOG"
conf runner ""
NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=400000 "$RUNNER_BIN" --config "$IT_DIR/runner.conf" \
	>>"$IT_DIR/runner.log" 2>&1 </dev/null &
RPID=$!
IT_PIDS+=("$RPID")
watchdogs() { [ "$(states "$RPID" | grep -cx WATCHDOG=1)" -ge "$1" ]; }
check "the runner says READY=1" wait_for 30 sent "$RPID" READY=1
check "with WATCHDOG_USEC set the runner pings WATCHDOG=1, again and again" wait_for 30 watchdogs 5
check "its STATUS= names its subscriptions" said "$RPID" '^STATUS=running: 0 subscriptions'
kill -HUP "$RPID"
runner_readies() { [ "$(states "$RPID" | grep -cx READY=1)" = 2 ]; }
check "SIGHUP: the runner says READY=1 again" wait_for 30 runner_readies
check "after RELOADING=1" test "$(states "$RPID" | grep -E '^(READY|RELOADING)=1$' | xargs)" = "READY=1 RELOADING=1 READY=1"
check "the runner stops on SIGTERM" stop_runner
check "and says STOPPING=1 first" sent "$RPID" STOPPING=1

# Without WATCHDOG_USEC (or with one meant for another pid) no pings.
: >"$NOTIFY_LOG"
NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=400000 WATCHDOG_PID=1 "$RUNNER_BIN" --config "$IT_DIR/runner.conf" \
	>>"$IT_DIR/runner.log" 2>&1 </dev/null &
RPID=$!
IT_PIDS+=("$RPID")
check "a runner whose WATCHDOG_PID is another process says READY=1" wait_for 30 sent "$RPID" READY=1
# Its loop has turned once when STATUS= arrives: a ping would come first.
check "its loop runs" wait_for 30 said "$RPID" '^STATUS=running'
check "it stops on SIGTERM" stop_runner
check "and never pinged the watchdog" test "$(states "$RPID" | grep -c WATCHDOG=1)" = 0
runner_logs_clean

it_finish
