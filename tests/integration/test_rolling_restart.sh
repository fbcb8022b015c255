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

# --- two hosts ------------------------------------------------------------------
# host_pool NAME: the host's pool on $IT_DIR/NAME/fcgi.sock; pid in NAME/fcgi.pid.
host_pool() {
	"$FCGI_BIN" --config "$IT_DIR/evstore.conf" --listen "$IT_DIR/$1/fcgi.sock" --workers 2 \
		>>"$IT_DIR/$1/fcgi.log" 2>&1 </dev/null &
	echo $! >"$IT_DIR/$1/fcgi.pid"
	IT_PIDS+=($!)
	wait_for 20 test -S "$IT_DIR/$1/fcgi.sock"
}
# host_start NAME: the pool and an nginx of its own on a free port.
host_start() {
	local STACK_DIR=$IT_DIR/$1
	mkdir -p "$STACK_DIR"
	host_pool "$1" || return 1
	stack_nginx_start || return 1
	IT_PIDS+=("$(cat "$STACK_DIR/nginx/nginx.pid")")
}
host_port() { cat "$IT_DIR/$1/nginx/port"; }
host_start a || { echo "Bail out! host a did not start"; exit 1; }
host_start b || { echo "Bail out! host b did not start"; exit 1; }

# --- HAProxy, configured as shipped ---------------------------------------------
HAPROXY_PORT=$(free_port)
{
	printf 'global\n    log stderr format raw local0 info\n'
	printf '    stats socket %s mode 600 level admin\n' "$IT_DIR/haproxy.sock"
	sed -e "s/^\( *bind\) .*/\1 127.0.0.1:$HAPROXY_PORT/" \
		-e "s/^\( *server evstore1\) [^ ]*/\1 127.0.0.1:$(host_port a)/" \
		-e "s/^\( *server evstore2\) [^ ]*/\1 127.0.0.1:$(host_port b)/" \
		"$IT_SRCDIR/packaging/haproxy/evstore.cfg"
} >"$IT_DIR/haproxy.cfg"
check "the derived configuration names both hosts" \
	test "$(grep -cE "^ *server evstore[12] 127\.0\.0\.1:[0-9]+$" "$IT_DIR/haproxy.cfg")" = 2
haproxy -c -f "$IT_DIR/haproxy.cfg" >"$IT_DIR/haproxy-check.log" 2>&1
check "HAProxy accepts it" test $? = 0
haproxy -db -f "$IT_DIR/haproxy.cfg" >>"$IT_DIR/haproxy.log" 2>&1 </dev/null &
IT_PIDS+=($!)

# server_state NAME: HAProxy's view of evstore1/evstore2 (UP, DOWN, ...).
server_state() {
	python3 - "$IT_DIR/haproxy.sock" "$1" <<'PY'
import csv, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
rows = csv.reader(data.decode().lstrip("# ").splitlines())
head = next(rows)
for r in rows:
    if len(r) == len(head) and r[0] == "evstore_hosts" and r[1] == sys.argv[2]:
        print(r[head.index("status")].split(" ")[0])
PY
}
state_is() { [ "$(server_state "$1")" = "$2" ]; }
check "HAProxy sees evstore1 up" wait_for 30 state_is evstore1 UP
check "HAProxy sees evstore2 up" wait_for 30 state_is evstore2 UP

# --- the load -----------------------------------------------------------------------
# 4 clients, each appending one event at a time with its own event_id to its
# own stream, until told to stop (at most 400 each). Every answer is
# recorded: the acknowledged ids in acked.txt, anything else in failed.txt.
T=$(token roller "events:write")
LOAD_STOP=$IT_DIR/load.stop
python3 - "http://127.0.0.1:$HAPROXY_PORT" "$T" "$IT_DIR" "$LOAD_STOP" <<'PY' >"$IT_DIR/load.log" 2>&1 &
import json, os, sys, threading, time, urllib.error, urllib.request, uuid
base, token, out, stop = sys.argv[1:5]
lock = threading.Lock()
acked = open(os.path.join(out, "acked.txt"), "a")
failed = open(os.path.join(out, "failed.txt"), "a")

def client(n):
    stream = uuid.uuid4()
    for i in range(400):
        if os.path.exists(stop):
            return
        eid = str(uuid.uuid4())
        body = json.dumps({"events": [{"event_id": eid, "event_type": "Tick",
                                       "payload": {"client": n, "i": i}}]}).encode()
        rq = urllib.request.Request(f"{base}/v1/aggregates/Load/{stream}/events", data=body,
                                    method="POST", headers={"Authorization": "Bearer " + token,
                                                            "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(rq, timeout=60) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode(errors="replace")
        except Exception as e:
            status, text = "error", repr(e)
        with lock:
            if status in (200, 201):
                acked.write(eid + "\n"); acked.flush()
            else:
                failed.write(f"client {n} #{i} {eid}: {status} {text[:200]}\n"); failed.flush()
        time.sleep(0.2)

threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
LOAD=$!
IT_PIDS+=("$LOAD")
acked() { [ -s "$IT_DIR/acked.txt" ] && wc -l <"$IT_DIR/acked.txt" || echo 0; }
acked_over() { [ "$(acked)" -gt "$1" ]; }
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

touch "$LOAD_STOP"
wait "$LOAD"
check "the load finished ($(tail -n 3 "$IT_DIR/load.log" | tr '\n' ' '))" test ! -s "$IT_DIR/load.log"

# --- nothing failed, nothing lost, nothing doubled ------------------------------
failures=$(cat "$IT_DIR/failed.txt" 2>/dev/null | wc -l)
if [ "$failures" = 0 ]; then ok "no client request failed ($(acked) appends acknowledged)"
else not_ok "no client request failed" "$failures failed, e.g.:" "$(head -n 5 "$IT_DIR/failed.txt")"; fi
check "a few hundred appends went through" acked_over 100
# The retries are the safety net; with the drain nothing should need them.
retried=$(grep -cE '/\+[0-9]+ [0-9]+/[0-9]+ "' "$IT_DIR/haproxy.log")
check "HAProxy had no request to retry: the drain took each host out in time ($retried retried)" test "$retried" = 0
psql_q -c "CREATE TABLE acked (event_id uuid)" >/dev/null
psql_q -c "\\copy acked FROM '$IT_DIR/acked.txt'" >/dev/null
check "every acknowledged event_id is stored exactly once" test "$(psql_q -c "
	SELECT count(*) FROM acked a
	WHERE (SELECT count(*) FROM evstore.events e WHERE e.event_id = a.event_id) <> 1")" = 0
check "and nothing else was stored" test "$(psql_q -c "
	SELECT count(*) FROM evstore.events WHERE aggregate_type = 'Load'")" = "$(psql_q -c "SELECT count(DISTINCT event_id) FROM acked")"

for h in a b; do
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$IT_DIR/$h/fcgi.log"; then
		not_ok "host $h's pool ran clean under the sanitizers" "$(grep -m3 -E 'Sanitizer|runtime error' "$IT_DIR/$h/fcgi.log")"
	fi
done
it_finish
