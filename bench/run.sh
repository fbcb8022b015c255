#!/usr/bin/env bash
# run.sh - evstore's speed, measured beside its physical limits on the same
# machine in the same run:
#   - each database-bound route beside pgbench running the same SQL on the
#     same PostgreSQL, with the same number of connections;
#   - /health/live beside a minimal FastCGI responder behind the same nginx;
#   - a worker's memory across many requests.
# Prints a table of rates and ratios. Needs an optimised build in ./build
# (examples/quickstart.sh makes one). Options (environment):
#   DURATION=10 (seconds per run)  CONNS=32  WORKERS=8 (FastCGI processes)
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-8}
. "$SRC/bench/lib.sh"
bench_stack_init bench
HELLO_PID=
cleanup() {
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

# settle: a checkpoint now, so that one does not land in the middle of a
# measurement and make one side pay for the other's writes.
settle() { psql -X -q "$DB" -c CHECKPOINT >/dev/null 2>&1 || true; }
# wrk_once SCRIPT PATH -> "rate p99_ms"
wrk_once() {
	settle
	local out
	out=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency ${1:+-s "$1"} "$BASE$2")
	local rate p99
	rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
	grep -q 'unexpected status' <<<"$out" && echo "warning: $2 answered unexpected statuses" >&2
	echo "$rate $p99"
}
# pgbench_once FILE -> tps
pgbench_once() {
	settle
	# Prepared statements, as the workers use them.
	"$PGBENCH" -n -M prepared -c "$CONNS" -j 2 -T "$DURATION" -f "$1" "$DB" 2>/dev/null |
		awk '/^tps/ {print $3; exit}'
}
# Disk flushes make single runs noisy: each side runs twice and keeps its
# best rate.
wrk_run() {
	local a b
	a=$(wrk_once "$@"); b=$(wrk_once "$@")
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); print ((x[1] + 0 >= y[1] + 0) ? a : b) }'
}
pgbench_run() {
	local a b
	a=$(pgbench_once "$1"); b=$(pgbench_once "$1")
	awk -v a="$a" -v b="$b" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row() { printf '%-34s %12s %12s %8s %10s\n' "$@"; }

echo "evstore bench: ${DURATION}s per run, $CONNS connections, $WORKERS FastCGI workers, $(nproc) cores"
row "what" "evstore/s" "baseline/s" "ratio" "p99 ms"

read -r r p <<<"$(wrk_run bench/wrk/append.lua /)"
b=$(pgbench_run bench/pgbench/append.sql)
row "append, 1 event" "$r" "$b" "$(ratio "$r" "$b")" "$p"

read -r r p <<<"$(wrk_run bench/wrk/append100.lua /)"
b=$(pgbench_run bench/pgbench/append100.sql)
row "append, 100 events (events/s)" "$(awk -v x="$r" 'BEGIN{printf "%.0f", x*100}')" \
	"$(awk -v x="$b" 'BEGIN{printf "%.0f", x*100}')" "$(ratio "$r" "$b")" "$p"

# 200 streams of 100 events for the read benchmark.
psql -X -q -At "$DB" -c "SELECT count(*) FROM (SELECT evstore.append('00000000-0000-0000-0000-000000000000', 'Bench', id, 'exact', 0, 'bench',
  (SELECT jsonb_agg(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Tick', 'payload', jsonb_build_object('n', i)))
   FROM generate_series(1, 100) i)) FROM (SELECT gen_random_uuid() id FROM generate_series(1, 200)) s) x" >/dev/null
psql -X -q -At "$DB" -c "SELECT aggregate_id FROM evstore.streams WHERE aggregate_type = 'Bench' AND version = 100" >"$STACK_DIR/streams"
export STREAMS=$STACK_DIR/streams
# The pgbench side reads the same streams with the worker's own query.
{
	echo "\\set k random(1, $(wc -l <"$STREAMS"))"
	sed -n '/^--/!p' bench/pgbench/read.sql
} >"$STACK_DIR/read.sql"
psql -X -q "$DB" -c "CREATE TABLE IF NOT EXISTS bench_streams (k serial PRIMARY KEY, id uuid)" \
	-c "TRUNCATE bench_streams" -c "\\copy bench_streams (id) FROM '$STREAMS'"
read -r r p <<<"$(wrk_run bench/wrk/read.lua /)"
b=$(pgbench_run "$STACK_DIR/read.sql")
row "read a 100-event stream" "$r" "$b" "$(ratio "$r" "$b")" "$p"

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
read -r r p <<<"$(wrk_run "" /health/live)"
save_base=$BASE; BASE=http://127.0.0.1:$HPORT
read -r b _ <<<"$(wrk_run "" /health/live)"
BASE=$save_base
row "/health/live vs minimal FastCGI" "$r" "$b" "$(ratio "$r" "$b")" "$p"

# Aggregates: a command beside a plain append of the event it emits, and
# loading a 10,000-event state from a snapshot at 9,900 beside a 100-event
# state folded from the start.
read -r r p <<<"$(wrk_run bench/wrk/command.lua /)"
read -r b _ <<<"$(wrk_run bench/wrk/append_order.lua /)"
row "command vs plain append" "$r" "$b" "$(ratio "$b" "$r")x" "$p"
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
read -r r p <<<"$(STATE_PATH=/v1/aggregates/Account/$BIG wrk_run bench/wrk/state.lua /)"
read -r b _ <<<"$(STATE_PATH=/v1/aggregates/Account/$SMALL wrk_run bench/wrk/state.lua /)"
row "state 10k (snap 9900) vs 100 events" "$r" "$b" "$(ratio "$b" "$r")x" "$p"
FB=$STACK_DIR/fold_bench
cc -O2 -I"$SRC/src" -I"$STACK_BUILDDIR" -o "$FB" bench/fold_bench.c "$STACK_BUILDDIR/src/aggregate/libaggregate.a" \
	"$STACK_BUILDDIR/src/json/libjson.a" "$STACK_BUILDDIR/src/base/libbase.a" \
	$(pkg-config --libs json-c)
"$FB" examples/aggregates.d/order.json 1000000 | awk '/events\/s/ {printf "fold, no database (%s)%*s%12s\n", $1, 14 - length($1), "", $2}'

# A worker's memory across many requests (the access log off is nginx's;
# the workers still log at their configured level).
pids=$(pgrep -P "$(cat "$STACK_DIR/fcgi.pid")" | tr '\n' ',' | sed 's/,$//')
rss() { ps -o rss= -p "$pids" | sort -n | tail -n 1; }
before=$(rss)
wrk -t 2 -c "$CONNS" -d "${DURATION}s" -s bench/wrk/append.lua "$BASE/" >/dev/null
wrk -t 2 -c "$CONNS" -d "${DURATION}s" -s bench/wrk/read.lua "$BASE/" >/dev/null
after=$(rss)
row "largest worker RSS, KiB" "$before" "$after" "" ""
total=$(psql -X -At "$DB" -c "select count(*) from evstore.events")
served=$(wc -l <"$STACK_DIR/nginx/access.log")
echo "($served requests served by the pool, $total events in the store at the end)"
