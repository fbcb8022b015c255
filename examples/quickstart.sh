#!/usr/bin/env bash
# quickstart.sh - evstore on this machine in one command: installs what is
# missing (Debian packages), builds, starts a private PostgreSQL, the
# FastCGI pool and nginx on 127.0.0.1 and the subscription runner, walks
# through an Order example, and leaves it all running.
#   examples/quickstart.sh          set up and run the example
#   examples/quickstart.sh stop     stop everything it started
# Everything lives in ./run (data, logs, key, configuration); delete it to
# start from scratch.
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
export STACK_SRCDIR=$SRC STACK_BUILDDIR=$SRC/build STACK_DIR=$SRC/run
export STACK_AGGREGATES_DIR=$SRC/examples/aggregates.d
. "$SRC/examples/local-stack.sh"

if [ "${1:-}" = stop ]; then
	stack_stop
	echo "stopped (data kept in $STACK_DIR)"
	exit 0
fi

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. Packages"
packaging/deps.sh run

say "2. Build (in ./build)"
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p build
(cd build && { [ -f Makefile ] || ../configure -q CFLAGS="-O2 -g"; } && make -j"$(nproc)" >make.log 2>&1) ||
	{ tail -n 30 build/make.log; exit 1; }
echo "built $(build/src/fcgi/evstore-fcgi --version 2>/dev/null | head -n 1)"

say "3. PostgreSQL, evstore-fcgi, evstore-runner and nginx (in ./run)"
mkdir -p "$STACK_DIR"
chmod 755 "$STACK_DIR"
stack_stop >/dev/null 2>&1 || true
# One subscription: the order_summary read model, kept by the runner.
STACK_LOG_LEVEL=info stack_write_config "[http]
workers = 4

[subscription order_summary]
handler = sql
sql_file = $SRC/examples/projections/order_summary.sql
aggregate_types = Order"
stack_pg_start
stack_migrate
cat "$STACK_DIR/migrate.log"
# Keyed by tenant, like every projection must be (evstore-runner(8)).
psql -X -q "$(stack_database_url)" -c "CREATE TABLE IF NOT EXISTS order_summary (
	tenant_id uuid NOT NULL, order_id uuid NOT NULL, customer_id text, total numeric,
	status text, tracking_number text, notes int NOT NULL DEFAULT 0, updated_at timestamptz,
	PRIMARY KEY (tenant_id, order_id))"
stack_fcgi_start
stack_runner_start
port=8080
if ! python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",8080))' 2>/dev/null; then port=$(free_port); fi
stack_nginx_start "$port"
BASE=http://127.0.0.1:$port
echo "PostgreSQL on $STACK_DIR/pg, the pool on $STACK_DIR/fcgi.sock, nginx on $BASE"

CTL=(build/src/ctl/evstorectl --config "$STACK_DIR/evstore.conf")
TOKEN=$("${CTL[@]}" token --sub quickstart --scope "events:read events:write admin" --ttl 86400)

# show METHOD PATH [BODY] [HEADER]: one request, printed as it goes.
show() {
	local method=$1 path=$2 body=${3:-} extra=${4:-}
	local args=(-s -X "$method" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}')
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	[ -n "$extra" ] && args+=(-H "$extra")
	printf '\n$ curl -X %s %s%s%s\n' "$method" "$BASE$path" "${extra:+ -H '$extra'}" "${body:+ -d '$body'}"
	local out
	out=$(curl "${args[@]}" "$BASE$path")
	printf '%s %s\n' "-> HTTP" "${out##*$'\n'}"
	printf '%s\n' "${out%$'\n'*}" | jq -C . 2>/dev/null || printf '%s\n' "${out%$'\n'*}"
}

ORDER=$(cat /proc/sys/kernel/random/uuid)
EV=$(cat /proc/sys/kernel/random/uuid)
P=/v1/aggregates/Order/$ORDER/events

say "4. An order's life"
echo "Create the order; expected_version 0 means the stream must not exist yet:"
show POST "$P" '{"expected_version":0,"events":[{"event_id":"'"$EV"'","event_type":"OrderCreated","payload":{"customer_id":"c-42","total":99.5}}]}'
echo
echo "A second writer that also believed the order was new loses (409):"
show POST "$P" '{"expected_version":0,"events":[{"event_type":"OrderCreated","payload":{"customer_id":"c-7","total":1}}]}'
echo
echo "A client retrying the first request after a timeout gets the original answer (200), nothing is written twice:"
show POST "$P" '{"expected_version":0,"events":[{"event_id":"'"$EV"'","event_type":"OrderCreated","payload":{"customer_id":"c-42","total":99.5}}]}'
echo
echo "Ship it, with the version as an HTTP precondition:"
show POST "$P" '{"events":[{"event_type":"OrderShipped","payload":{"tracking_number":"1Z999"}}]}' 'If-Match: "1"'
echo
echo "Read the stream:"
show GET "$P"
echo
echo "The global feed, in commit order, never skipping an event:"
show GET "/v1/events?limit=10"
echo
echo "Health probes for the load balancer:"
show GET /health/ready
show GET /health

say "5. Commands: the server checks the rules (examples/aggregates.d/order.json)"
O2=$(cat /proc/sys/kernel/random/uuid)
A=/v1/aggregates/Order/$O2
echo "Shipping an order that was never created is refused by the guard (409 invalid-state):"
show POST "$A/commands/ship" '{"tracking_number":"1Z999"}'
echo
echo "A payload that breaks the schema lists every violation (422):"
show POST "$A/commands/create" '{"customer_id":42,"total":-5,"coupon":"FREE"}'
echo
echo "Create it; the Idempotency-Key becomes the event id, so a retry is answered 200:"
KEY=$(cat /proc/sys/kernel/random/uuid)
show POST "$A/commands/create" '{"customer_id":"c-42","total":99.5}' "Idempotency-Key: $KEY"
show POST "$A/commands/create" '{"customer_id":"c-42","total":99.5}' "Idempotency-Key: $KEY"
echo
echo "Creating it twice is refused (409 invalid-state, guard \"version\"):"
show POST "$A/commands/create" '{"customer_id":"c-7","total":1}'
echo
echo "Ship it and add a note:"
show POST "$A/commands/ship" '{"tracking_number":"1Z999"}'
show POST "$A/commands/note" '{"note":"left at the door"}'
echo
echo "The state, folded from the events by the definition's evolve rules:"
show GET "$A"
echo
echo "The same order as it was at version 1 (time travel):"
show GET "$A?at_version=1"

say "6. The runner keeps a read model (examples/projections/order_summary.sql)"
echo "Every Order event reaches the order_summary table exactly once, in commit order:"
sleep 1
psql -X "$(stack_database_url)" -c "SELECT order_id, customer_id, total, status, tracking_number, notes FROM order_summary ORDER BY updated_at"
echo "The subscription's health, as a load balancer or an operator sees it:"
show GET /health/subscriptions/order_summary
show GET /health
echo
echo "A projection's SQL changed? Rebuild its read model: the runner replays the feed into it."
echo "\$ evstorectl rebuild --yes order_summary"
"${CTL[@]}" rebuild --yes order_summary
psql -X "$(stack_database_url)" -c "SELECT count(*) AS orders, sum(notes) AS notes FROM order_summary"
echo "Events a projection could not take wait in its dead-letter queue (admin token):"
show GET /v1/subscriptions/order_summary/dlq

say "7. It keeps running"
cat <<MSG
API        $BASE   (nginx -> $STACK_DIR/fcgi.sock -> PostgreSQL in $STACK_DIR/pg)
Token      export TOKEN=$TOKEN
Try        curl -H "Authorization: Bearer \$TOKEN" $BASE$P
New token  ${CTL[*]} token --sub you --scope "events:read events:write"
Read model psql "$(stack_database_url)" -c 'SELECT * FROM order_summary'
Rebuild    ${CTL[*]} rebuild order_summary
Logs       $STACK_DIR/fcgi.log, $STACK_DIR/runner.log, $STACK_DIR/nginx/error.log, $STACK_DIR/pg/log
Stop       examples/quickstart.sh stop
Tests      tests/run-all.sh
MSG
