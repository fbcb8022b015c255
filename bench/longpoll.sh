#!/usr/bin/env bash
# longpoll.sh - a default pool (one worker per core) with WAITERS clients
# holding GET /v1/events?wait=30:
#   1. the latency of /health/live, /health/ready, appends and stream reads
#      while they wait (wrk, CONNS connections, DURATION seconds each);
#   2. how soon after a commit every waiter has its event: ROUNDS rounds of
#      WAITERS fresh long polls woken by one append, each waiter's answer
#      time minus the moment the append's 201 arrived (and minus the moment
#      the append was sent: the commit lies between the two).
# Needs an optimised build in ./build (examples/quickstart.sh makes one).
# Options (environment): WAITERS=100 ROUNDS=10 CONNS=4 DURATION=10
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
WAITERS=${WAITERS:-100}
ROUNDS=${ROUNDS:-10}
CONNS=${CONNS:-4}
DURATION=${DURATION:-10}
. "$SRC/bench/lib.sh"
bench_stack_init longpoll
cleanup() {
	[ -n "${HOLD:-}" ] && kill "$HOLD" 2>/dev/null
	stack_stop immediate
	rm -rf "$STACK_DIR"
}
trap cleanup EXIT
[ -x "$(stack_fcgi_bin)" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }

STACK_LOG_LEVEL=error stack_write_config
stack_pg_start
stack_migrate
stack_fcgi_start "$(nproc)"
stack_nginx_start
BASE=http://127.0.0.1:$(cat "$STACK_DIR/nginx/port")
export TOKEN
TOKEN=$("$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub bench --scope "events:read events:write" --ttl 7200)
STREAM=$(cat /proc/sys/kernel/random/uuid)
for i in $(seq 100); do
	curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		--data-binary '{"events":[{"event_type":"Seeded","payload":{"i":1}}]}' "$BASE/v1/aggregates/Bench/$STREAM/events"
done
echo "$STREAM" >"$STACK_DIR/streams"
head() { curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/v1/events?limit=1000&after=${1:-}" | jq -r .next; }
HEAD_CURSOR=$(head "")
while :; do n=$(head "$HEAD_CURSOR"); [ "$n" = "$HEAD_CURSOR" ] && break; HEAD_CURSOR=$n; done

# hold: WAITERS long polls (wait=600) that nothing wakes: they filter on a
# type nobody appends.
python3 - "$BASE" "$TOKEN" "$HEAD_CURSOR" "$WAITERS" <<'PY' &
import asyncio, sys, urllib.parse
base, token, after, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u = urllib.parse.urlsplit(base)
async def hold():
    r, w = await asyncio.open_connection(u.hostname, u.port)
    w.write(f"GET /v1/events?after={after}&aggregate_type=Nobody&wait=600 HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode())
    await w.drain()
    await r.read()
async def main(): await asyncio.gather(*[hold() for _ in range(n)])
asyncio.run(main())
PY
HOLD=$!
sleep 3

wrk_p() { # SCRIPT PATH -> "rate p50 p99" (ms)
	local out
	out=$(wrk -t 1 -c "$CONNS" -d "${DURATION}s" --latency ${1:+-s "$1"} "$BASE$2")
	ms() { awk -v k="$1" '$1 == k {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}'; }
	echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") $(ms 50% <<<"$out") $(ms 99% <<<"$out")"
}
echo "evstore long polls: $WAITERS waiters on a pool of $(nproc) workers, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %9s %9s\n' "while they wait" "req/s" "p50 ms" "p99 ms"
row() { printf '%-28s %10.0f %9.2f %9.2f\n' "$1" $2 $3 $4; }
row "GET /health/live" $(wrk_p "" /health/live)
row "GET /health/ready" $(wrk_p "" /health/ready)
row "POST append (new stream)" $(wrk_p bench/wrk/append.lua /)
row "GET stream (100 events)" $(STREAMS=$STACK_DIR/streams wrk_p bench/wrk/read.lua /)

# The wake-up: ROUNDS x WAITERS samples.
HEAD_CURSOR=$(head "$HEAD_CURSOR"); while :; do n=$(head "$HEAD_CURSOR"); [ "$n" = "$HEAD_CURSOR" ] && break; HEAD_CURSOR=$n; done
python3 - "$BASE" "$TOKEN" "$HEAD_CURSOR" "$WAITERS" "$ROUNDS" <<'PY'
import asyncio, json, sys, time, urllib.parse, uuid
base, token, after, n, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlsplit(base)
async def request(method, path, body=None):
    r, w = await asyncio.open_connection(u.hostname, u.port)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    w.write(head.encode() + b"\r\n" + (body or b""))
    await w.drain()
    data = await r.read()
    t = time.monotonic()
    w.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1], t
async def main():
    global after
    after_201, after_send = [], []
    for _ in range(rounds):
        polls = [asyncio.create_task(request("GET", f"/v1/events?after={after}&wait=30")) for _ in range(n)]
        await asyncio.sleep(1.0)
        body = json.dumps({"events": [{"event_type": "Woke", "payload": {}}]}).encode()
        sent = time.monotonic()
        st, _, got = await request("POST", f"/v1/aggregates/Wake/{uuid.uuid4()}/events", body)
        assert st == 201, st
        for status, b, t in await asyncio.gather(*polls):
            assert status == 200 and len(json.loads(b)["events"]) == 1, (status, b[:200])
            after_201.append((t - got) * 1000)
            after_send.append((t - sent) * 1000)
        after = json.loads(b)["next"]
    def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))]
    print(f"{'wake-up after a commit':28s} {'samples':>10s} {'p50 ms':>9s} {'p99 ms':>9s} {'max ms':>9s}")
    for name, v in (("after the 201", after_201), ("after the append was sent", after_send)):
        print(f"{name:28s} {len(v):10d} {pct(v, .5):9.2f} {pct(v, .99):9.2f} {max(v):9.2f}")
asyncio.run(main())
PY
