#!/usr/bin/env bash
# Long polls never starve the pool. A hundred clients hold
# GET /v1/events?wait=30 on a default pool (one worker per core): the
# polls are parked in the pool's waiter process, so /health/live,
# /health/ready, appends and reads are answered as if nobody waited, and
# one append wakes every waiter at once. Then the waiter's budget
# ([http] max_waiters: the excess is answered at once, a client that left
# frees its place), the stop (parked polls get their page), and a waiter
# killed under the pool (restarted; polls work again).
#
# Latencies are printed as diagnostics (bench/longpoll.sh measures them);
# the checks only tell "answered while the pool is full of waiters" from
# "held behind them", which is 30 seconds.
. "$(dirname "$0")/lib.sh"
it_require nginx
IT_NO_SERVERS=1
it_start
notify_listener_start

WAITERS=100
# A request that has to queue behind the long polls takes their 30 s.
SLOW=5

said() { states "$1" | grep -qE "$2"; }
# parked N: the pool's latest STATUS= line says N long polls are parked.
parked() { [ "$(states "$POOL" | grep '^STATUS=' | tail -n 1 | sed -n 's/.*long polls parked: \([0-9]*\),.*/\1/p')" = "$1" ]; }

start_pool() {
	env NOTIFY_SOCKET="$NOTIFY_SOCK" EVSTORE_HTTP_DRAIN_DELAY=0 "$@" "$FCGI_BIN" \
		--config "$IT_DIR/evstore.conf" --listen "$IT_DIR/fcgi.sock" \
		>>"$IT_DIR/fcgi.log" 2>&1 </dev/null &
	POOL=$!
	echo "$POOL" >"$IT_DIR/fcgi.pid"
	wait_for 30 said "$POOL" '^READY=1$' || { echo "Bail out! the pool did not start"; exit 1; }
}
start_pool
stack_nginx_start || exit 1
IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/nginx/port")
WORKERS=$(nproc)
check "the default pool has one worker per core ($WORKERS)" said "$POOL" "^STATUS=ready: $WORKERS workers"

T=$(token poller "events:read events:write")
auth_req "$T" GET /v1/events
HEAD=$(jq_body .next)

# polls N WAIT OUT [QUERY]: N concurrent long polls from HEAD in the
# background (pid in $POLLS); each adds "status events end_time" to OUT
# when it returns.
polls() {
	python3 - "$IT_BASE" "$T" "$HEAD" "$1" "$2" "$3" "${4:-}" <<'PY' &
import http.client, json, sys, threading, time, urllib.parse
base, token, after, n, wait, out, extra = sys.argv[1:8]
u = urllib.parse.urlsplit(base)
lock = threading.Lock()
f = open(out, "w")
def poll():
    status, count = "error", -1
    try:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=int(wait) + 30)
        c.request("GET", f"/v1/events?after={after}&wait={wait}{extra}",
                  headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        body = r.read()
        status = r.status
        if status == 200:
            count = len(json.loads(body)["events"])
    except Exception as e:
        status = type(e).__name__
    with lock:
        f.write(f"{status} {count} {time.time():.6f}\n")
        f.flush()
ts = [threading.Thread(target=poll) for _ in range(int(n))]
for t in ts: t.start()
for t in ts: t.join()
PY
	POLLS=$!
	IT_PIDS+=("$POLLS")
}
# timed NAME METHOD PATH [curl args...]: one request; "status seconds" appended to $IT_DIR/NAME.times
timed() {
	local name=$1 method=$2 path=$3; shift 3
	curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 -X "$method" \
		-H "Authorization: Bearer $T" "$@" "$IT_BASE$path" >>"$IT_DIR/$name.times" 2>/dev/null
}
# served_fast NAME STATUS: every request of NAME had STATUS and took under SLOW s.
served_fast() {
	awk -v want="$2" -v slow="$SLOW" '$1 != want || $2 >= slow { bad++ } END { exit (NR == 0 || bad) }' \
		"$IT_DIR/$1.times"
}
p99() { sort -n -k2 "$IT_DIR/$1.times" | awk '{ t[NR] = $2 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f ms", t[i] * 1000 }'; }

# --- a hundred waiters on a default pool ----------------------------------------
polls "$WAITERS" 30 "$IT_DIR/waiters.out"
check "all $WAITERS long polls are parked in the waiter" wait_for 30 parked "$WAITERS"
check "and none of them holds a worker" wait_for 15 said "$POOL" "\\(0 busy\\), long polls parked: $WAITERS,"

ID=$(uuid)
for i in $(seq 20); do
	timed live GET /health/live
	timed ready GET /health/ready
done
for i in $(seq 10); do
	timed append POST "/v1/aggregates/Probe/$ID/events" -H 'Content-Type: application/json' \
		--data-binary '{"events":[{"event_type":"Probed","payload":{"i":'"$i"'}}]}'
	timed read GET "/v1/aggregates/Probe/$ID/events"
done
check "with $WAITERS waiters, /health/live answers at once (p99 $(p99 live))" served_fast live 200
check "/health/ready answers at once (p99 $(p99 ready))" served_fast ready 200
check "appends are served (p99 $(p99 append))" served_fast append 201
check "reads are served (p99 $(p99 read))" served_fast read 200

# The appends above woke every waiter: each was answered with events.
wait "$POLLS"
check "every waiter answered 200 with the probes' events" \
	test "$(awk '$1 == 200 && $2 > 0' "$IT_DIR/waiters.out" | wc -l)" = "$WAITERS"

# One commit wakes them all: a fresh hundred, then one append.
auth_req "$T" GET /v1/events?after="$HEAD"\&limit=1000
HEAD=$(jq_body .next)
polls "$WAITERS" 30 "$IT_DIR/wake.out"
check "a fresh $WAITERS waiters are parked" wait_for 30 parked "$WAITERS"
post_json "$T" "/v1/aggregates/Probe/$(uuid)/events" '{"events":[{"event_type":"WakeUp","payload":{}}]}'
committed=$(date +%s.%N)
[ "$STATUS" = 201 ] || not_ok "the wake-up append" "status $STATUS: $BODY"
wait "$POLLS"
check "one append woke every waiter with its event" \
	test "$(awk '$1 == 200 && $2 == 1' "$IT_DIR/wake.out" | wc -l)" = "$WAITERS"
late=$(awk -v c="$committed" '{ d = $3 - c; if (d > m) m = d } END { printf "%.0f", m * 1000 }' "$IT_DIR/wake.out")
check "all of them within $SLOW s of the commit, not at their 30 s (last: $late ms after the 201)" \
	test "$late" -lt $((SLOW * 1000))

# Other hosts and the runners hear of commits through one NOTIFY, sent by
# the waiter after the append committed.
psql -X -q -At "$EVSTORE_DATABASE_URL" >"$IT_DIR/listen.out" 2>&1 <<'SQL' &
LISTEN evstore_events;
SELECT pg_sleep(3);
SELECT 'listened';
SQL
LISTENER=$!
IT_PIDS+=("$LISTENER")
sleep 1
post_json "$T" "/v1/aggregates/Probe/$(uuid)/events" '{"events":[{"event_type":"Announced","payload":{}}]}'
wait "$LISTENER"
check "an append is announced with a NOTIFY on evstore_events" \
	grep -q 'Asynchronous notification "evstore_events"' "$IT_DIR/listen.out"

# --- the budget ---------------------------------------------------------------------
auth_req "$T" GET /v1/events?after="$HEAD"
HEAD=$(jq_body .next)
printf '\n[http]\nmax_waiters = 3\n' >>"$IT_DIR/evstore.conf"
kill -HUP "$POOL"
readies() { [ "$(states "$POOL" | grep -cx READY=1)" = "$1" ]; }
check "SIGHUP: the reload is done" wait_for 15 readies 2
# Three clients that give up after 2 s: their places must come free.
curl_gone() { curl -s -o /dev/null --max-time 2 -H "Authorization: Bearer $T" "$IT_BASE/v1/events?after=$HEAD&wait=30"; }
for i in 1 2 3; do curl_gone & done
check "three long polls fill a budget of 3" wait_for 15 parked 3
wait_for 20 parked 0
check "clients that went away free their places" parked 0
# answered_empty N: N of the five have their answer, 200 and an empty page.
answered_empty() { [ "$(awk '$1 == 200 && $2 == 0' "$IT_DIR/budget.out" 2>/dev/null | wc -l)" = "$1" ]; }
polls 5 20 "$IT_DIR/budget.out"
check "five more: three parked" wait_for 15 parked 3
check "two over the budget answered at once with an empty page" \
	wait_for 15 answered_empty 2
check "the log says the budget was exceeded" wait_for 15 grep -q '"waiter_over_budget"' "$IT_DIR/fcgi.log"
check "the three parked are still waiting" parked 3

# --- the stop: parked polls get their page ----------------------------------------------
# The five polls' three parked ones end when the pool stops: 200, empty page.
kill -TERM "$POOL"
wait "$POLLS"
check "on stop the parked polls are answered 200 with an empty page" \
	test "$(awk '$1 == 200 && $2 == 0' "$IT_DIR/budget.out" | wc -l)" = 5
check "the pool exits" wait_for 30 eval '! kill -0 "$POOL" 2>/dev/null'
rm -f "$IT_DIR/fcgi.pid"

# --- a waiter that dies is replaced ------------------------------------------------------
: >"$NOTIFY_LOG"
start_pool
WAITER=$(pgrep -P "$POOL" -x evstore-waiter)
check "the pool has one waiter process, named evstore-waiter ($WAITER)" test "$(echo "$WAITER" | wc -w)" = 1
polls 3 30 "$IT_DIR/killed.out"
check "three polls parked" wait_for 15 parked 3
kill -KILL "$WAITER"
wait "$POLLS"
check "killing the waiter ends its polls (the web server answers 502)" \
	test "$(awk '$1 == 502' "$IT_DIR/killed.out" | wc -l)" = 3
check "the pool starts another waiter" \
	wait_for 15 eval '[ -n "$(pgrep -P "$POOL" -x evstore-waiter)" ] && [ "$(pgrep -P "$POOL" -x evstore-waiter)" != "$WAITER" ]'
auth_req "$T" GET /v1/events?after="$HEAD"\&limit=1000
HEAD=$(jq_body .next)
polls 3 30 "$IT_DIR/after.out"
check "the new waiter parks polls" wait_for 15 parked 3
post_json "$T" "/v1/aggregates/Probe/$(uuid)/events" '{"events":[{"event_type":"AfterRestart","payload":{}}]}'
wait "$POLLS"
check "and wakes them on the next append" test "$(awk '$1 == 200 && $2 == 1' "$IT_DIR/after.out" | wc -l)" = 3

it_finish
