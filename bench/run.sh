#!/usr/bin/env bash
# run.sh - evstore's speed, measured beside its physical limits on the same
# machine in the same run:
#   - each database-bound route beside the least PostgreSQL work that does
#     the same job (pgbench, same connections): one durable event is a
#     one-row INSERT into a table with evstore's event columns and keys;
#     an append to an existing stream the UPDATE of its row plus that
#     INSERT; 100 events one multi-row INSERT; a stream read the same 100
#     rows read from their index;
#   - and beside pgbench running the worker's own statement (the same
#     SQL): the gap between the two is the HTTP layer's cost;
#   - /health/live beside a minimal FastCGI responder behind the same nginx;
#   - a worker's memory across many requests;
#   - for the database routes, the CPU each side's processes spent per
#     request (PostgreSQL, nginx, the workers, wrk or pgbench) and the rate
#     the machine's cores allow at that cost: where the CPU is the limit,
#     this is what bounds the ratio.
# Prints one table of rates, ratios and p99 latencies, with the load
# average (other work on the machine makes absolute figures noisy; the
# ratios come from one run). Needs an optimised build in ./build
# (examples/quickstart.sh makes one) or $EVSTORE_BUILDDIR. Options
# (environment): DURATION=10 (seconds per run)  CONNS=32  WORKERS=$CONNS
# (FastCGI processes: a worker holds one database connection and waits for
# its commit, so the appends have as many transactions in flight as
# pgbench only with as many workers)  STREAMS_PER_RUN=20000 (for the
# expected_version runs)
#   PEER_URL=http://HOST:PORT: another event store serving the same append
# (POST /v1/aggregates/Bench/ID/events, the same body, 201) gets the same
# wrk load right after evstore's single append; a row "PEER_NAME append
# (new stream)" (PEER_NAME=Emmett) puts it in the limit columns, so its
# ratio is evstore's rate over the peer's. PEER=emmett starts Emmett's
# PostgreSQL event store locally for that (bench/peer/emmett.sh: node and
# npm; PEER_PROCS=$(nproc) Node processes sharing $CONNS connections) and
# stops it after its runs.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-$CONNS}
STREAMS_PER_RUN=${STREAMS_PER_RUN:-20000}
PEER=${PEER:-}
PEER_URL=${PEER_URL:-}
PEER_NAME=${PEER_NAME:-Emmett}
PEER_PROCS=${PEER_PROCS:-$(nproc)}
case $PEER in
'') ;;
emmett) PEER_NAME=Emmett ;;
*) echo "PEER=$PEER: the only local peer is emmett (or set PEER_URL)" >&2; exit 1 ;;
esac
. "$SRC/bench/lib.sh"
bench_stack_init bench
[ -z "$PEER" ] || . "$SRC/bench/peer/$PEER.sh"
HELLO_PID=
cleanup() {
	[ -z "$PEER" ] || emmett_peer_stop
	[ -n "$HELLO_PID" ] && kill "$HELLO_PID" 2>/dev/null
	[ -s "$STACK_DIR/hello-nginx/nginx.pid" ] && kill -QUIT "$(cat "$STACK_DIR/hello-nginx/nginx.pid")" 2>/dev/null
	stack_stop immediate
	rm -rf "$STACK_DIR"
}
trap cleanup EXIT

[ -x "$(stack_fcgi_bin)" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }
PGBENCH=${PGBENCH:-$PGBIN/pgbench}

# Aggregate definitions: the Order example and a counter for the state rows.
mkdir -p "$STACK_DIR/aggregates.d"
cp examples/aggregates.d/order.json bench/account.json "$STACK_DIR/aggregates.d/"
export STACK_AGGREGATES_DIR=$STACK_DIR/aggregates.d
STACK_LOG_LEVEL=error stack_write_config
stack_pg_start
stack_migrate
stack_fcgi_start "$WORKERS"
stack_nginx_start
PORT=$(cat "$STACK_DIR/nginx/port")
BASE=http://127.0.0.1:$PORT
DB=$(stack_database_url)
export TOKEN
TOKEN=$("$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub bench --scope "events:read events:write" --ttl 7200)
psql_q() { psql -X -q -At "$DB" "$@"; }

# The physical-limit tables: evstore's event and stream columns and keys
# (primary and unique keys; not the feed indexes), outside its schema.
psql_q -c "CREATE TABLE bench_events (LIKE evstore.events INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS)" \
	-c "ALTER TABLE bench_events ADD PRIMARY KEY (position), ADD UNIQUE (tenant_id, event_id),
	    ADD UNIQUE (tenant_id, aggregate_type, aggregate_id, version)" \
	-c "CREATE TABLE bench_streams (LIKE evstore.streams INCLUDING ALL)"

# settle: a checkpoint now, so that one does not land in the middle of a
# measurement and make one side pay for the other's writes.
settle() { psql -X -q "$DB" -c CHECKPOINT >/dev/null 2>&1 || true; }
# CPU accounting. tree_ticks PID: the clock ticks a process tree has used
# so far: the root and its children alive now, each with what it has
# collected of its children that ended (the backends of a pgbench run end
# with it, into the postmaster's count).
TICK_US=$((1000000 / $(getconf CLK_TCK)))
tree_ticks() {
	{ echo "$1"; pgrep -P "$1"; } | while read -r p; do sed 's/.*) //' "/proc/$p/stat" 2>/dev/null; done |
		awk '{s += $12 + $13 + $14 + $15} END {print s + 0}'
}
# stack_ticks: "postgres nginx pool" ticks of the stack's three servers.
stack_ticks() {
	echo "$(tree_ticks "$(head -n 1 "$STACK_DIR/pg/data/postmaster.pid")")" \
		"$(tree_ticks "$(cat "$STACK_DIR/nginx/nginx.pid")")" "$(tree_ticks "$(cat "$STACK_DIR/fcgi.pid")")"
}
# client_ticks: "client_ticks N", what this (sub)shell's ended children
# used: the load generator it just ran. Called in the shell that ran it
# (a pipeline or $(...) would read its own subshell).
client_ticks() {
	local me=$BASHPID
	echo "client_ticks $(sed 's/.*) //' "/proc/$me/stat" | awk '{print $14 + $15}')"
}
# cpu_per_request BEFORE AFTER CLIENT N -> "postgres nginx pool client"
# microseconds of CPU per request.
cpu_per_request() {
	awk -v b="$1" -v a="$2" -v c="$3" -v n="$4" -v us="$TICK_US" 'BEGIN {
		split(b, x, " "); split(a, y, " ")
		if (n <= 0) n = 1
		printf "%.0f %.0f %.0f %.0f", (y[1] - x[1]) * us / n, (y[2] - x[2]) * us / n, (y[3] - x[3]) * us / n, c * us / n }'
}
# wrk_once SCRIPT PATH -> "rate p99_ms" and the CPU per request
wrk_once() {
	settle
	local out before
	before=$(stack_ticks)
	out=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency ${1:+-s "$1"} "$BASE$2"; client_ticks)
	local rate p99 cpu
	rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	cpu=$(cpu_per_request "$before" "$(stack_ticks)" "$(awk '/^client_ticks/ {print $2}' <<<"$out")" \
		"$(awk '/ requests in / {print $1}' <<<"$out")")
	p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
	grep -q 'unexpected status' <<<"$out" &&
		echo "warning: $2 answered unexpected statuses:" $(grep -o 'unexpected status [0-9]*' <<<"$out" |
			sort | uniq -c | awk '{print $1 " x " $4}') >&2
	echo "$rate $p99 $cpu"
}
# pgbench_once FILE [pgbench options] -> "tps p99_ms" (p99 from the
# per-transaction log) and the CPU per transaction
pgbench_once() {
	settle
	local f=$1 out before
	shift
	rm -f "$STACK_DIR"/pgblog.*
	before=$(stack_ticks)
	# Prepared statements, as the workers use them.
	out=$("$PGBENCH" -n -M prepared -c "$CONNS" -j 2 -T "$DURATION" -l --log-prefix="$STACK_DIR/pgblog" \
		"$@" -f "$f" "$DB" 2>/dev/null; client_ticks)
	echo "$(awk '/^tps/ {print $3; exit}' <<<"$out")" \
		"$(cat "$STACK_DIR"/pgblog.* | awk '{print $3}' | sort -n |
			awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", v[i] / 1000}')" \
		"$(cpu_per_request "$before" "$(stack_ticks)" "$(awk '/^client_ticks/ {print $2}' <<<"$out")" \
			"$(awk '/^number of transactions actually processed:/ {print $NF}' <<<"$out")")"
}
# Disk flushes make single runs noisy: each side runs twice and keeps its
# best rate (with that run's p99).
best() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); print ((x[1] + 0 >= y[1] + 0) ? a : b) }'; }
wrk_run() { best "$(wrk_once "$@")" "$(wrk_once "$@")"; }
pgbench_run() { best "$(pgbench_once "$@")" "$(pgbench_once "$@")"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
times100() { awk -v x="$1" 'BEGIN { printf "%.0f", x * 100 }'; }
int() { if [ -n "$1" ]; then awk -v x="$1" 'BEGIN { printf "%.0f", x }'; fi; }
row() { printf '%-30s %10s %10s %6s %10s %6s %8s %8s\n' "$@"; }
# line WHAT EVSTORE LIMIT SAME: one route's row, "rate p99" each.
# Rows with a same-SQL run (the database routes) also go to the CPU table.
line() {
	local r p l lp s ecpu lcpu
	read -r r p ecpu <<<"$2"; read -r l lp lcpu <<<"$3"; read -r s _ <<<"$4"
	[ -n "$4" ] && echo "$1|$r|$ecpu|$l|$lcpu" >>"$STACK_DIR/cpu.rows"
	[ -n "${SCALE:-}" ] && { r=$(times100 "$r"); l=$(times100 "$l"); s=$(times100 "$s"); }
	row "$1" "$(int "$r")" "$(int "$l")" "$(ratio "$r" "$l")" "$(int "$s")" "$(ratio "$r" "$s")" "$p" "$lp"
}
# cpu_table: per request, the CPU each side's processes used (postgres,
# nginx, the pool's workers, the load generator: wrk or pgbench) and the
# rate those costs allow when every core does nothing else: the ceiling
# the machine puts on each side, beside the rate measured.
cpu_table() {
	[ -s "$STACK_DIR/cpu.rows" ] || return 0
	echo
	echo "CPU per request, microseconds (ceiling: $(nproc) cores / total)"
	printf '%-30s %6s %6s %6s %6s %6s %8s %8s | %6s %6s %6s %8s %8s\n' "what" "pg" "nginx" "worker" "wrk" \
		"total" "ceiling" "rate" "pg" "bench" "total" "ceiling" "rate"
	awk -F'|' -v cores="$(nproc)" '{
		split($3, e, " "); split($5, l, " ")
		et = e[1] + e[2] + e[3] + e[4]; lt = l[1] + l[2] + l[3] + l[4]
		printf "%-30s %6d %6d %6d %6d %6d %8.0f %8.0f | %6d %6d %6d %8.0f %8.0f\n", $1, e[1], e[2], e[3], e[4], et,
			(et > 0 ? cores * 1e6 / et : 0), $2, l[1], l[4], lt, (lt > 0 ? cores * 1e6 / lt : 0), $4
	}' "$STACK_DIR/cpu.rows"
}
# streams_for NAME TYPE N: N streams of TYPE at version 1 (one event
# each), their ids in $STACK_DIR/NAME, one per line.
streams_for() {
	psql_q -c "WITH s AS (INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
	  SELECT '00000000-0000-0000-0000-000000000000', '$2', gen_random_uuid(), 1 FROM generate_series(1, $3)
	  RETURNING aggregate_type, aggregate_id)
	  INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type, occurred_at, payload)
	  SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), aggregate_type, aggregate_id, 1, 'Tick', now(), '{}'
	  FROM s RETURNING aggregate_id" >"$STACK_DIR/$1"
}

echo "evstore bench: ${DURATION}s per run, $CONNS connections, $WORKERS FastCGI workers, $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
row "what (/s)" "evstore" "limit" "ratio" "same SQL" "ratio" "p99 ms" "limit p99"

append=$(wrk_run bench/wrk/append.lua /)
line "append, 1 event, new stream" "$append" \
	"$(pgbench_run bench/pgbench/insert.sql)" "$(pgbench_run bench/pgbench/append.sql)"
# The peer: the same wrk script (its paths, body and connections) against
# its URL, in the limit columns beside evstore's rate just measured.
if [ -n "$PEER" ]; then
	emmett_peer_start "$PEER_PROCS" "$CONNS"
	echo "($PEER_NAME: $(sed -n 's/^ready: //p' "$STACK_DIR/emmett.log"))" >&2
fi
if [ -n "$PEER_URL" ]; then
	peer=$(BASE=$PEER_URL wrk_run bench/wrk/append.lua /)
	[ -z "$PEER" ] || emmett_peer_stop
	line "$PEER_NAME append (new stream)" "$append" "$peer" ""
fi

# expected_version: each wrk run on fresh streams (its versions start at 1)
NSTREAMS=100000
psql_q -c "INSERT INTO bench_streams (tenant_id, aggregate_type, aggregate_id, version)
  SELECT '00000000-0000-0000-0000-000000000000', 'BenchPg', md5(k::text)::uuid, 1 FROM generate_series(1, $NSTREAMS) k" \
	-c "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
  SELECT '00000000-0000-0000-0000-000000000000', 'BenchPgX', md5(k::text)::uuid, 1 FROM generate_series(1, $NSTREAMS) k" \
	-c "ANALYZE bench_streams" -c "ANALYZE evstore.streams"
expected_once() {
	streams_for "expected.$1" BenchX "$STREAMS_PER_RUN"
	STREAMS=$STACK_DIR/expected.$1 wrk_once bench/wrk/append_expected.lua /
}
line "append, expected_version" "$(best "$(expected_once 1)" "$(expected_once 2)")" \
	"$(pgbench_run bench/pgbench/update_insert.sql -D nstreams=$NSTREAMS)" \
	"$(pgbench_run bench/pgbench/append_expected.sql -D nstreams=$NSTREAMS)"

SCALE=1 line "append, 100 events (events/s)" "$(wrk_run bench/wrk/append100.lua /)" \
	"$(pgbench_run bench/pgbench/insert100.sql)" "$(pgbench_run bench/pgbench/append100.sql)"

# 200 streams of 100 events for the read benchmark.
psql_q -c "SELECT count(*) FROM (SELECT evstore.append('00000000-0000-0000-0000-000000000000', 'Bench', id, 'exact', 0, 'bench',
  (SELECT jsonb_agg(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Tick', 'payload', jsonb_build_object('n', i)))
   FROM generate_series(1, 100) i)) FROM (SELECT gen_random_uuid() id FROM generate_series(1, 200)) s) x" >/dev/null
psql_q -c "SELECT aggregate_id FROM evstore.streams WHERE aggregate_type = 'Bench' AND version = 100" >"$STACK_DIR/streams"
export STREAMS=$STACK_DIR/streams
# The pgbench sides read the same streams.
for f in read read_rows; do
	{
		echo "\\set k random(1, $(wc -l <"$STREAMS"))"
		sed -n '/^--/!p' "bench/pgbench/$f.sql"
	} >"$STACK_DIR/$f.sql"
done
psql_q -c "CREATE TABLE bench_read_ids (k serial PRIMARY KEY, id uuid)" \
	-c "\\copy bench_read_ids (id) FROM '$STREAMS'"
line "read a 100-event stream" "$(wrk_run bench/wrk/read.lua /)" \
	"$(pgbench_run "$STACK_DIR/read_rows.sql")" "$(pgbench_run "$STACK_DIR/read.sql")"

# /health/live beside the minimal responder behind its own nginx.
cc -O2 -o "$STACK_DIR/fcgi_hello" bench/fcgi_hello.c -lfcgi
spawn-fcgi -n -F "$WORKERS" -s "$STACK_DIR/hello.sock" -- "$STACK_DIR/fcgi_hello" >/dev/null 2>&1 &
HELLO_PID=$!
wait_for 10 test -S "$STACK_DIR/hello.sock"
mkdir -p "$STACK_DIR/hello-nginx"
cp /etc/nginx/fastcgi_params "$STACK_DIR/hello-nginx/"
HPORT=$(free_port)
cat >"$STACK_DIR/hello-nginx/nginx.conf" <<CONF
user $(id -un);
worker_processes 2;
pid $STACK_DIR/hello-nginx/nginx.pid;
error_log $STACK_DIR/hello-nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    upstream hello { server unix:$STACK_DIR/hello.sock; }
    server { listen 127.0.0.1:$HPORT; location / { include fastcgi_params; fastcgi_pass hello; } }
}
CONF
nginx -p "$STACK_DIR/hello-nginx" -c "$STACK_DIR/hello-nginx/nginx.conf" 2>>"$STACK_DIR/hello-nginx/error.log"
wait_for 10 test -s "$STACK_DIR/hello-nginx/nginx.pid"
ev=$(wrk_run "" /health/live)
save_base=$BASE; BASE=http://127.0.0.1:$HPORT
hello=$(wrk_run "" /health/live)
BASE=$save_base
line "/health/live" "$ev" "$hello" ""
echo "load average after the routes: $(cut -d' ' -f1-3 /proc/loadavg)"
cpu_table
[ -z "$PEER_URL" ] ||
	echo "($PEER_NAME append: evstore's single append beside $PEER_NAME's at $PEER_URL; its limit columns are $PEER_NAME's)"
echo
row2() { printf '%-36s %10s %10s %8s %8s\n' "$@"; }
row2 "what (/s)" "evstore" "baseline" "ratio" "p99 ms"

# Aggregates: a command beside a plain append of the event it emits, and
# loading a 10,000-event state from a snapshot at 9,900 beside a 100-event
# state folded from the start.
read -r r p _ <<<"$(wrk_run bench/wrk/command.lua /)"
read -r b _ <<<"$(wrk_run bench/wrk/append_order.lua /)"
row2 "command vs plain append" "$r" "$b" "$(ratio "$b" "$r")x" "$p"
deposits() { # ID FROM TO
	psql -X -q -At "$DB" -c "SELECT count(*) FROM generate_series($2, $3) g, LATERAL evstore.append(
	  '00000000-0000-0000-0000-000000000000', 'Account', '$1', 'exact', g - 1, 'bench',
	  jsonb_build_array(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Deposited',
	    'payload', jsonb_build_object('amount', g % 100 + 1)))) a" >/dev/null
}
BIG=$(cat /proc/sys/kernel/random/uuid); SMALL=$(cat /proc/sys/kernel/random/uuid)
deposits "$BIG" 1 9900
"$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" snapshot Account "$BIG" >/dev/null
deposits "$BIG" 9901 10000
deposits "$SMALL" 1 100
read -r r p _ <<<"$(STATE_PATH=/v1/aggregates/Account/$BIG wrk_run bench/wrk/state.lua /)"
read -r b _ <<<"$(STATE_PATH=/v1/aggregates/Account/$SMALL wrk_run bench/wrk/state.lua /)"
row2 "state 10k (snap 9900) vs 100 events" "$r" "$b" "$(ratio "$b" "$r")x" "$p"
FB=$STACK_DIR/fold_bench
# The definitions' personal-data checks come from the privacy layer, which
# sits on the store: the fold links them all, though it never connects.
cc -O2 -I"$SRC/src" -I"$STACK_BUILDDIR" -o "$FB" bench/fold_bench.c "$STACK_BUILDDIR/src/aggregate/libaggregate.a" \
	"$STACK_BUILDDIR/src/privacy/libprivacy.a" "$STACK_BUILDDIR/src/store/libstore.a" \
	"$STACK_BUILDDIR/src/pg/libpg.a" "$STACK_BUILDDIR/src/json/libjson.a" "$STACK_BUILDDIR/src/base/libbase.a" \
	$(pkg-config --libs json-c libpcre2-8 libcrypto) -lpq
"$FB" examples/aggregates.d/order.json 1000000 | awk '/events\/s/ {printf "fold, no database (%s)%*s%12s\n", $1, 14 - length($1), "", $2}'

# A worker's memory across many requests (the access log off is nginx's;
# the workers still log at their configured level).
pids=$(pgrep -P "$(cat "$STACK_DIR/fcgi.pid")" -x evstore-fcgi | tr '\n' ',' | sed 's/,$//')
rss() { ps -o rss= -p "$pids" | sort -n | tail -n 1; }
before=$(rss)
wrk -t 2 -c "$CONNS" -d "${DURATION}s" -s bench/wrk/append.lua "$BASE/" >/dev/null
wrk -t 2 -c "$CONNS" -d "${DURATION}s" -s bench/wrk/read.lua "$BASE/" >/dev/null
after=$(rss)
row2 "largest worker RSS, KiB" "$before" "$after" "" ""
total=$(psql -X -At "$DB" -c "select count(*) from evstore.events")
served=$(wc -l <"$STACK_DIR/nginx/access.log")
echo "($served requests served by the pool, $total events in the store at the end)"
