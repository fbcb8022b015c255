#!/usr/bin/env bash
# test_runner_data.sh - event data stays where it belongs. A projection
# failing on a value ("CARD 4111-...") leaves no trace of it in
# /health/subscriptions/{name}, /v1/subscriptions, the status row or the
# runner's log, which carry the SQLSTATE, the section, the statement
# number and the event's id and position; the full message is in the DLQ
# row, which only an admin of the event's tenant sees. And the shipped
# example projection, examples/projections/order_summary.sql, keeps
# tenants apart: tenant B's events never touch tenant A's row.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
IT_LOG_LEVEL=info it_start

TA=$(uuid)
TB=$(uuid)
WA=$(token w "events:write" "$TA")
WB=$(token w "events:write" "$TB")
W0=$(token w "events:write")
ADMIN_A=$(token ops-a admin "$TA")
ADMIN_B=$(token ops-b admin "$TB")
# The card number, whole: a bare "4111" also turns up in timestamps'
# microseconds and in random ids.
CARD="4111-1111-1111-1111"
MARKER="CARD $CARD"

# The read model takes amounts as numbers: a card number in one fails the
# cast, and PostgreSQL's message quotes the value.
psql_q -c "CREATE TABLE paid (tenant_id uuid NOT NULL, event_id uuid NOT NULL, amount numeric NOT NULL,
	PRIMARY KEY (tenant_id, event_id))"
cat >"$IT_DIR/paid.sql" <<'SQL'
-- on Paid
INSERT INTO paid VALUES (COALESCE(($1::jsonb->>'tenant_id')::uuid, '00000000-0000-0000-0000-000000000000'),
	($1::jsonb->>'event_id')::uuid, ($1::jsonb->'payload'->>'amount')::numeric);
SQL
# The example's table, as its header documents it.
EXAMPLE=$IT_SRCDIR/examples/projections/order_summary.sql
psql_q -c "$(sed -n 's/^--   //p' "$EXAMPLE")"
conf runner "[subscription pay]
handler = sql
sql_file = $IT_DIR/paid.sql
aggregate_types = Payment
max_retries = 1
retry_initial_delay = 50ms
retry_max_delay = 100ms

[subscription order_summary]
handler = sql
sql_file = $EXAMPLE
aggregate_types = Order"
start_runner runner runner.log

# add TOKEN TYPE AGGREGATE EVENT_TYPE PAYLOAD: one event; its id in $EV
add() {
	EV=$(uuid)
	post_json "$1" "/v1/aggregates/$2/$3/events" \
		"{\"events\":[{\"event_id\":\"$EV\",\"event_type\":\"$4\",\"payload\":$5}]}"
	[ "$STATUS" = 201 ] || echo "# append answered $STATUS: $BODY"
}

# --- a projection failing on a value ----------------------------------------------
add "$WA" Payment "$(uuid)" Paid '{"amount":"12.50"}'
add "$WA" Payment "$(uuid)" Paid "{\"amount\":\"$MARKER exp 12/29\"}"; POISON=$EV
POSITION=$(psql_q -c "SELECT position FROM evstore.events WHERE event_id = '$POISON'")
add "$WA" Payment "$(uuid)" Paid '{"amount":"7"}'
check "the failing event is parked" wait_for 20 sql_is 1 "SELECT count(*) FROM evstore.dlq WHERE subscription = 'pay'"
check "the events around it reach the read model" wait_for 10 sql_is 2 "SELECT count(*) FROM paid"
sleep 1.5 # a status row written after the park

req GET /health/subscriptions/pay
expect "health: last_error names the SQLSTATE, the section, the statement, the event and its position" 200 \
	.last_error "SQLSTATE 22P02 in \"-- on Paid\", statement 1 (event $POISON at position $POSITION)"
check "health: the value appears nowhere in /health/subscriptions/pay" test -z "$(grep -F "$CARD" <<<"$BODY")"
auth_req "$ADMIN_B" GET /v1/subscriptions
check "/v1/subscriptions: another tenant's admin gets no trace of the value" \
	test "$STATUS" = 200 -a -z "$(grep -F "$CARD" <<<"$BODY")"
auth_req "$ADMIN_A" GET /v1/subscriptions
check "/v1/subscriptions: nor does the event's own tenant's admin (only the DLQ has it)" \
	test "$STATUS" = 200 -a -z "$(grep -F "$CARD" <<<"$BODY")" -a -n "$(jq_body '.subscriptions[] | select(.name == "pay") | .last_error')"
check "the status row holds no trace of the value" \
	sql_is 0 "SELECT count(*) FROM evstore.subscription_status WHERE last_error LIKE '%$CARD%'"
check "the runner's log holds no trace of the value" test "$(grep -cF "$CARD" "$IT_DIR/runner.log")" = 0
check "... but logs the failure with its SQLSTATE and the event" \
	grep -q "\"event\":\"event_parked\".*\"event_id\":\"$POISON\".*\"error\":\"SQLSTATE 22P02" "$IT_DIR/runner.log"
check "the server's log holds no trace of the value" test "$(grep -cF "$CARD" "$IT_DIR/fcgi.log")" = 0

auth_req "$ADMIN_A" GET /v1/subscriptions/pay/dlq
expect "DLQ: the event's tenant's admin sees the full message" 200 .count 1 '.entries[0].event_id' "$POISON" \
	'.entries[0].error | startswith("22P02: ")' true "(.entries[0].error | contains(\"$MARKER\"))" true
auth_req "$ADMIN_B" GET /v1/subscriptions/pay/dlq
expect "DLQ: another tenant's admin sees no entry" 200 .count 0
check "DLQ: ... and no trace of the value" test -z "$(grep -F "$CARD" <<<"$BODY")"

# --- the example projection is keyed by tenant ---------------------------------------
ORDER=$(uuid)
add "$WA" Order "$ORDER" OrderCreated '{"customer_id":"alice","total":10}'
add "$WB" Order "$ORDER" OrderCreated '{"customer_id":"bob","total":20}'
add "$WB" Order "$ORDER" OrderShipped '{"tracking_number":"1Z-B"}'
add "$W0" Order "$ORDER" OrderCreated '{"customer_id":"nobody","total":30}'
row() { psql_q -c "SELECT customer_id || ' ' || total || ' ' || status || ' ' || COALESCE(tracking_number, '-')
	FROM order_summary WHERE tenant_id = '$1' AND order_id = '$ORDER'"; }
row_is() { [ "$(row "$1")" = "$2" ]; } # TENANT EXPECTED, for wait_for
check "example: one row per tenant for the same order id" wait_for 15 sql_is 3 \
	"SELECT count(*) FROM order_summary WHERE order_id = '$ORDER'"
check "example: tenant B's row has B's order, shipped" wait_for 10 row_is "$TB" "bob 20 shipped 1Z-B"
check "example: tenant B's events left tenant A's row alone" row_is "$TA" "alice 10 created -"
check "example: the no-tenant space keeps its own row (the nil UUID)" row_is "$NIL" "nobody 30 created -"

stop_runner
runner_logs_clean
it_finish
