# hosts_lib.sh - several evstore hosts on this machine behind HAProxy, and
# a steady load of appends through it (source lib.sh first). Each host is
# its own pool and nginx in $IT_DIR/NAME; HAProxy runs the shipped
# packaging/haproxy/evstore.cfg with only the bind and server addresses
# changed.

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

# haproxy_start HOST1 HOST2: HAProxy on $HAPROXY_PORT in front of the two
# hosts' nginx (servers evstore1 and evstore2), with a stats socket.
haproxy_start() {
	HAPROXY_PORT=$(free_port)
	{
		printf 'global\n    log stderr format raw local0 info\n'
		printf '    stats socket %s mode 600 level admin\n' "$IT_DIR/haproxy.sock"
		sed -e "s/^\( *bind\) .*/\1 127.0.0.1:$HAPROXY_PORT/" \
			-e "s/^\( *server evstore1\) [^ ]*/\1 127.0.0.1:$(host_port "$1")/" \
			-e "s/^\( *server evstore2\) [^ ]*/\1 127.0.0.1:$(host_port "$2")/" \
			"$IT_SRCDIR/packaging/haproxy/evstore.cfg"
	} >"$IT_DIR/haproxy.cfg"
	check "the derived HAProxy configuration names both hosts" \
		test "$(grep -cE "^ *server evstore[12] 127\.0\.0\.1:[0-9]+$" "$IT_DIR/haproxy.cfg")" = 2
	haproxy -c -f "$IT_DIR/haproxy.cfg" >"$IT_DIR/haproxy-check.log" 2>&1
	check "HAProxy accepts it" test $? = 0
	haproxy -db -f "$IT_DIR/haproxy.cfg" >>"$IT_DIR/haproxy.log" 2>&1 </dev/null &
	IT_PIDS+=($!)
	check "HAProxy sees evstore1 up" wait_for 30 state_is evstore1 UP
	check "HAProxy sees evstore2 up" wait_for 30 state_is evstore2 UP
}

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

# load_start TOKEN RETRY: 4 clients through HAProxy, each appending one
# event at a time (every 0.2 s, at most $LOAD_MAX, 400) with its own event_id to its
# own stream, until $LOAD_STOP exists. Each acknowledged id goes to
# acked.txt with the time of its answer ("id unix_time"). With RETRY=0 any
# other answer is a failure (failed.txt); with RETRY=1 a 502, 503 or lost
# connection is tried again with the same event_id for up to 60 s (the
# answers on the way go to retried.txt), and only a request that never
# succeeds, or another status, is a failure.
load_start() {
	LOAD_STOP=$IT_DIR/load.stop
	python3 - "http://127.0.0.1:$HAPROXY_PORT" "$1" "$IT_DIR" "$LOAD_STOP" "$2" "${LOAD_MAX:-400}" <<'PY' >"$IT_DIR/load.log" 2>&1 &
import json, os, sys, threading, time, urllib.error, urllib.request, uuid
base, token, out, stop, retry, most = sys.argv[1:7]
retry = retry == "1"
lock = threading.Lock()
files = {k: open(os.path.join(out, k + ".txt"), "a") for k in ("acked", "failed", "retried")}

def note(kind, line):
    line = " ".join(line.split())  # an HTML error page is one line too
    with lock:
        files[kind].write(line + "\n")
        files[kind].flush()

def append(stream, eid, body):
    rq = urllib.request.Request(f"{base}/v1/aggregates/Load/{stream}/events", data=body,
                                method="POST", headers={"Authorization": "Bearer " + token,
                                                        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(rq, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception as e:
        return "error", repr(e)

def client(n):
    stream = uuid.uuid4()
    for i in range(int(most)):
        if os.path.exists(stop):
            return
        eid = str(uuid.uuid4())
        body = json.dumps({"events": [{"event_id": eid, "event_type": "Tick",
                                       "payload": {"client": n, "i": i}}]}).encode()
        give_up = time.time() + 60
        while True:
            status, text = append(stream, eid, body)
            if status in (200, 201):
                note("acked", f"{eid} {time.time():.3f}")
                break
            if retry and status in (502, 503, "error") and time.time() < give_up:
                note("retried", f"client {n} #{i} {eid}: {status} {text[:120]}")
                time.sleep(0.2)
                continue
            note("failed", f"client {n} #{i} {eid}: {status} {text[:200]}")
            break
        time.sleep(0.2)

threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
	LOAD=$!
	IT_PIDS+=("$LOAD")
}
acked() { [ -s "$IT_DIR/acked.txt" ] && wc -l <"$IT_DIR/acked.txt" || echo 0; }
acked_over() { [ "$(acked)" -gt "$1" ]; }
# load_stop: ends the load and waits for the clients to finish.
load_stop() {
	touch "$LOAD_STOP"
	wait "$LOAD"
	check "the load finished ($(tail -n 3 "$IT_DIR/load.log" | tr '\n' ' '))" test ! -s "$IT_DIR/load.log"
}
# load_failures_none: no client request failed.
load_failures_none() {
	local failures
	failures=$(cat "$IT_DIR/failed.txt" 2>/dev/null | wc -l)
	if [ "$failures" = 0 ]; then ok "no client request failed ($(acked) appends acknowledged)"
	else not_ok "no client request failed" "$failures failed, e.g.:" "$(head -n 5 "$IT_DIR/failed.txt")"; fi
}
# acked_stored_once PSQL...: every acknowledged event_id is stored exactly
# once in the database the psql command reaches, and no other Load event.
acked_stored_once() {
	"$@" -c "CREATE TABLE acked (event_id uuid, at numeric)" >/dev/null
	"$@" -c "\\copy acked FROM '$IT_DIR/acked.txt' WITH (DELIMITER ' ')" >/dev/null
	check "every acknowledged event_id is stored exactly once" test "$("$@" -c "
		SELECT count(*) FROM acked a
		WHERE (SELECT count(*) FROM evstore.events e WHERE e.event_id = a.event_id) <> 1")" = 0
	check "and nothing else was stored" test "$("$@" -c "
		SELECT count(*) FROM evstore.events WHERE aggregate_type = 'Load'")" = "$("$@" -c "SELECT count(DISTINCT event_id) FROM acked")"
}
