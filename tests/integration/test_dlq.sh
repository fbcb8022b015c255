#!/usr/bin/env bash
# test_dlq.sh - the DLQ admin routes against real entries: evstore-runner
# parks poison events of an sql projection, then GET
# /v1/subscriptions/{name}/dlq lists them (filters, paging, tenancy, bad
# input), POST .../dlq/{id}/retry and .../dlq/retry-all requeue them, and
# once the cause is fixed the runner resolves them into the read model,
# each event exactly once.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
it_start

TA=$(uuid)
TB=$(uuid)
ADMIN=$(token ops admin)
ADMIN_A=$(token ops-a admin "$TA")
READER=$(token viewer events:read)
W0=$(token w "events:write")
WA=$(token w "events:write" "$TA")
WB=$(token w "events:write" "$TB")
S=/v1/subscriptions/dq/dlq

# The read model refuses amounts of 100 and more until the test drops the
# constraint: those events are the poison.
psql_q -c "CREATE TABLE dlqproj (event_id uuid PRIMARY KEY, tenant_id uuid,
	amount int NOT NULL CONSTRAINT dlqproj_small CHECK (amount < 100))"
cat >"$IT_DIR/dlqproj.sql" <<'SQL'
-- on Added
INSERT INTO dlqproj VALUES (($1::jsonb->>'event_id')::uuid, ($1::jsonb->>'tenant_id')::uuid,
	($1::jsonb->'payload'->>'amount')::int);
SQL
conf runner "[subscription dq]
handler = sql
sql_file = $IT_DIR/dlqproj.sql
max_retries = 1
retry_initial_delay = 50ms
retry_max_delay = 100ms"

# add TOKEN AMOUNT: one Added event on a new stream; its id in $EV
add() {
	EV=$(uuid)
	post_json "$1" "/v1/aggregates/Acct/$(uuid)/events" \
		"{\"events\":[{\"event_id\":\"$EV\",\"event_type\":\"Added\",\"payload\":{\"amount\":$2}}]}"
	[ "$STATUS" = 201 ] || echo "# append answered $STATUS: $BODY"
}

start_runner runner runner.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'dq'"
add "$WA" 1;   GOOD_A=$EV
add "$WA" 500; POISON_A=$EV
add "$WB" 600; POISON_B=$EV
add "$W0" 700; POISON_0=$EV
add "$W0" 701; POISON_1=$EV
add "$W0" 2
check "the runner parks the four poison events" \
	wait_for 20 sql_is 4 "SELECT count(*) FROM evstore.dlq WHERE subscription = 'dq' AND status = 'failed'"
check "the good events reach the read model" wait_for 10 sql_is 2 "SELECT count(*) FROM dlqproj"
stop_runner

# --- list ------------------------------------------------------------------------
auth_req "$ADMIN" GET "$S"
expect "list: an admin without a tenant sees every tenant's entries" 200 \
	.count 4 '.entries | length' 4 '[.entries[].event_id] | join(",")' "$POISON_A,$POISON_B,$POISON_0,$POISON_1" \
	.next_after null
check "list: application/json" test "$(hdr Content-Type)" = application/json
e=$(jq_body '.entries[0]')
fields() { jq -r "$1" <<<"$e"; }
check "list: the entry names the subscription, partition, event and its stream" test \
	"$(fields '[.subscription, .partition, .event_type, .aggregate_type, (.position|type), (.id|type), .tenant_id] | join(" ")')" \
	= "dq 0 Added Acct number number $TA"
check "list: the entry's aggregate_id and position are the event's" test \
	"$(fields '.aggregate_id + " " + (.position|tostring)')" = \
	"$(psql_q -c "SELECT aggregate_id || ' ' || position FROM evstore.events WHERE event_id = '$POISON_A'")"
check "list: status failed, permanent, attempts counted, the SQLSTATE in the error" test \
	"$(fields '[.status, .error_class, (.attempts >= 2), (.error | startswith("23514"))] | join(" ")')" = "failed permanent true true"
# (a jq string: the backslash is doubled)
ts='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$'
check "list: RFC 3339 UTC timestamps, resolved_at null" test \
	"$(fields '[(.first_failed_at | test("'"$ts"'")), (.last_failed_at | test("'"$ts"'")), .resolved_at] | map(tostring) | join(" ")')" = "true true null"
check "list: every documented field is there" test "$(fields 'keys | join(",")')" = \
	"aggregate_id,aggregate_type,attempts,error,error_class,event_id,event_type,first_failed_at,id,last_failed_at,partition,position,resolved_at,status,subscription,tenant_id"
ID_A=$(jq_body '.entries[0].id'); ID_B=$(jq_body '.entries[1].id')
ID_0=$(jq_body '.entries[2].id'); ID_1=$(jq_body '.entries[3].id')
check "list: oldest first (ids ascending)" test "$ID_A" -lt "$ID_B" -a "$ID_B" -lt "$ID_0" -a "$ID_0" -lt "$ID_1"

auth_req "$ADMIN" GET "$S?limit=2"
expect "list: limit=2 gives a page and where to go on" 200 .count 2 .next_after "$ID_B"
auth_req "$ADMIN" GET "$S?limit=2&after=$ID_B"
expect "list: after=next_after gives the rest" 200 .count 2 '.entries[0].id' "$ID_0" .next_after "$ID_1"
auth_req "$ADMIN" GET "$S?limit=2&after=$ID_1"
expect "list: past the last entry the page is empty" 200 .count 0 .next_after null
auth_req "$ADMIN" GET "$S?limit=5000"
expect "list: a limit above the maximum is clamped" 200 .count 4
auth_req "$ADMIN" GET "$S?status=resolved"
expect "list: status=resolved is empty so far" 200 .count 0 '.entries | length' 0
auth_req "$ADMIN" GET "$S?status=all"
expect "list: status=all" 200 .count 4
for q in status=bogus status=FAILED limit=0 limit=-1 limit=abc limit=1.5 after=-1 after=x "status=failed&status=all"; do
	auth_req "$ADMIN" GET "$S?$q"
	expect_problem "list: ?$q is 400" 400 invalid-request
done
auth_req "$ADMIN" GET /v1/subscriptions/nosuch/dlq
expect_problem "list: a subscription nobody knows is 404" 404 not-found
auth_req "$ADMIN" GET /v1/subscriptions/9bad/dlq
expect_problem "list: a malformed subscription name is 400" 400 invalid-request
req GET "$S"
expect_problem "list: no token is 401" 401 unauthorized
check "list: 401 carries WWW-Authenticate" test "$(hdr WWW-Authenticate)" = 'Bearer realm="evstore"'
auth_req "$READER" GET "$S"
expect_problem "list: a token without admin is 403" 403 forbidden

# --- tenancy -------------------------------------------------------------------
auth_req "$ADMIN_A" GET "$S"
expect "tenant: an admin of tenant A sees only A's entry" 200 .count 1 '.entries[0].event_id' "$POISON_A" \
	'.entries[0].tenant_id' "$TA"
auth_req "$ADMIN" GET "$S" -H "X-Evstore-Tenant: $TB"
expect "tenant: an admin choosing tenant B sees only B's entry" 200 .count 1 '.entries[0].event_id' "$POISON_B"
auth_req "$ADMIN_A" POST "$S/$ID_B/retry"
expect_problem "tenant: retrying another tenant's entry is 404" 404 not-found
check "tenant: ... and leaves it failed" sql_is failed "SELECT status FROM evstore.dlq WHERE id = $ID_B"

# --- retry one -----------------------------------------------------------------------
for bad in abc 0 -1 1e3 99999999999999999999; do
	auth_req "$ADMIN" POST "$S/$bad/retry"
	expect_problem "retry: entry id '$bad' is 400" 400 invalid-request
done
auth_req "$ADMIN" POST "$S/987654321/retry"
expect_problem "retry: an unknown entry is 404" 404 not-found
auth_req "$ADMIN" POST "/v1/subscriptions/other/dlq/$ID_0/retry"
expect_problem "retry: an entry of another subscription is 404" 404 not-found
auth_req "$READER" POST "$S/$ID_0/retry"
expect_problem "retry: a token without admin is 403" 403 forbidden
req POST "$S/$ID_0/retry"
expect_problem "retry: no token is 401" 401 unauthorized
auth_req "$ADMIN" GET "$S/$ID_0/retry"
expect_problem "retry: GET is 405" 405 method-not-allowed
auth_req "$ADMIN" POST "$S/$ID_0/retry" -H 'Content-Type: text/plain' --data-binary 'please'
expect_problem "retry: a body that is not JSON is 415" 415 unsupported-media-type
post_json "$ADMIN" "$S/$ID_0/retry" '{"force":true}'
expect_problem "retry: a body with fields is 400" 400 invalid-request
check "retry: refused requests changed nothing" sql_is 4 "SELECT count(*) FROM evstore.dlq WHERE subscription = 'dq' AND status = 'failed'"

# the cause goes away; the runner is stopped, so the requeued state stays visible
psql_q -c "ALTER TABLE dlqproj DROP CONSTRAINT dlqproj_small"
post_json "$ADMIN" "$S/$ID_0/retry" '{}'
expect "retry: 202 with the entry now retrying" 202 .id "$ID_0" .status retrying .event_id "$POISON_0"
auth_req "$ADMIN" POST "$S/$ID_0/retry"
expect "retry: again while requeued is the same 202 (idempotent)" 202 .id "$ID_0" .status retrying
auth_req "$ADMIN" GET "$S?status=retrying"
expect "list: status=retrying shows it" 200 .count 1 '.entries[0].id' "$ID_0"

start_runner runner runner.log
check "retry: the runner resolves the requeued entry" \
	wait_for 15 sql_is resolved "SELECT status FROM evstore.dlq WHERE id = $ID_0"
check "retry: the read model holds the event exactly once" \
	sql_is 1 "SELECT count(*) FROM dlqproj WHERE event_id = '$POISON_0'"
auth_req "$ADMIN" GET "$S?status=resolved"
expect "list: the resolved entry has resolved_at" 200 .count 1 '.entries[0].id' "$ID_0" \
	'.entries[0].resolved_at | test("'"$ts"'")' true
auth_req "$ADMIN" POST "$S/$ID_0/retry"
expect_problem "retry: a resolved entry is 409" 409 invalid-state
stop_runner

# --- retry-all -------------------------------------------------------------------------
auth_req "$ADMIN_A" POST "$S/retry-all"
expect "retry-all: an admin of tenant A requeues only A's entry" 202 .requeued 1
check "retry-all: B's entry and the other no-tenant one are still failed" \
	sql_is "$ID_B failed,$ID_1 failed" "SELECT string_agg(id || ' ' || status, ',' ORDER BY id) FROM evstore.dlq WHERE subscription = 'dq' AND status = 'failed'"
failed=$(psql_q -c "SELECT count(*) FROM evstore.dlq WHERE subscription = 'dq' AND status = 'failed'")
auth_req "$ADMIN" POST "$S/retry-all"
expect "retry-all: requeues every failed entry, the count says how many" 202 .requeued "$failed"
auth_req "$ADMIN" POST "$S/retry-all"
expect "retry-all: nothing left to requeue is 0" 202 .requeued 0
auth_req "$ADMIN" POST /v1/subscriptions/nosuch/dlq/retry-all
expect_problem "retry-all: a subscription nobody knows is 404" 404 not-found
auth_req "$READER" POST "$S/retry-all"
expect_problem "retry-all: a token without admin is 403" 403 forbidden
start_runner runner runner.log
check "retry-all: the runner resolves all of them" \
	wait_for 15 sql_is 0 "SELECT count(*) FROM evstore.dlq WHERE subscription = 'dq' AND status <> 'resolved'"
check "retry-all: the read model holds every event exactly once" \
	sql_is "6 6" "SELECT count(*) || ' ' || count(DISTINCT event_id) FROM dlqproj"
check "retry-all: the good event was not touched" sql_is 1 "SELECT count(*) FROM dlqproj WHERE event_id = '$GOOD_A'"
check "retry-all: tenants are kept in the read model" \
	sql_is "$TA $TB" "SELECT (SELECT tenant_id FROM dlqproj WHERE event_id = '$POISON_A') || ' ' || (SELECT tenant_id FROM dlqproj WHERE event_id = '$POISON_B')"
stop_runner

# many entries: requeued in batches, every one of them, and counted
psql_q -c "INSERT INTO evstore.dlq (subscription, position, transaction_id, event_id, event_type,
	aggregate_type, aggregate_id, error)
	SELECT 'bulk', g, '1'::xid8, gen_random_uuid(), 'Added', 'Acct', gen_random_uuid(), 'boom'
	FROM generate_series(1, 2500) g"
auth_req "$ADMIN" POST /v1/subscriptions/bulk/dlq/retry-all
expect "retry-all: 2500 entries are all requeued (several batches)" 202 .requeued 2500
check "retry-all: none of them is left failed" sql_is "0 2500" \
	"SELECT count(*) FILTER (WHERE status = 'failed') || ' ' || count(*) FILTER (WHERE status = 'retrying') FROM evstore.dlq WHERE subscription = 'bulk'"
ctl() { "$CTL_BIN" --config "$IT_DIR/evstore.conf" "$@"; }
check "evstorectl dlq purge deletes them in batches" test "$(ctl dlq purge --subscription bulk)" = "2500 entries purged"
out=$(ctl dlq list --subscription dq)
check "evstorectl dlq list shows the same entries" test "$(tail -n +2 <<<"$out" | cut -f1,2,8 | tr '\t\n' ' ,')" = \
	"$ID_A dq resolved,$ID_B dq resolved,$ID_0 dq resolved,$ID_1 dq resolved,"

runner_logs_clean
it_finish
