#!/usr/bin/env bash
# Aggregates: definitions, validated commands and appends (422), guards
# (409 invalid-state, also under concurrency), folded state with time
# travel, sync and manual snapshots, a rules change, a bad definition.
. "$(dirname "$0")/lib.sh"
IT_EXTRA_CONF="[aggregates]
dir = $IT_SRCDIR/examples/aggregates.d"
it_start

T=$(token alice "events:read events:write")
O=$(uuid)
A=/v1/aggregates/Order/$O
cmd() { post_json "$T" "/v1/aggregates/Order/$1/commands/$2" "$3" "${@:4}"; }

# --- the Order flow ---------------------------------------------------------
cmd "$O" ship '{"tracking_number":"1Z999"}'
expect_problem "ship before create is refused" 409 invalid-state
expect "the refusal names the guard" 409 .guard state.status

K1=$(uuid)
cmd "$O" create '{"customer_id":"c-1","total":99.5}' -H "Idempotency-Key: $K1"
expect "create answers 201 at version 1" 201 .version 1 '.events[0].event_id' "$K1"
check "a command's answer carries ETag" test "$(hdr ETag)" = '"1"'
cmd "$O" create '{"customer_id":"c-2","total":1}'
expect_problem "a second create is refused" 409 invalid-state
expect "the refusal names the version guard" 409 .guard version
cmd "$O" create '{"customer_id":"c-1","total":99.5}' -H "Idempotency-Key: $K1"
expect "a retried create (same Idempotency-Key) is 200 with the first result, though its guard fails now" \
	200 .version 1 '.events[0].event_id' "$K1"
cmd "$O" create '{"customer_id":"c-1","total":99.5}' -H "Idempotency-Key: not-a-uuid"
expect_problem "an Idempotency-Key that is not a UUID is 400" 400 invalid-request

cmd "$(uuid)" create '{"customer_id":7,"total":-1,"coupon":"X"}'
expect_problem "a payload breaking the schema is 422" 422 validation-failed
expect "every violation is listed" 422 '.violations|length' 3 \
	'[.violations[].pointer]|sort|join(",")' "/coupon,/customer_id,/total"
post_json "$T" "/v1/aggregates/Order/$(uuid)/events" '{"events":[{"event_type":"OrderCreated","payload":{"customer_id":"c"}},{"event_type":"OrderLost","payload":{}}]}'
expect "an append lists violations of every event, unknown types included" 422 \
	'[.violations[].pointer]|join(",")' "/events/0/payload/total,/events/1/event_type"

K2=$(uuid)
cmd "$O" ship '{"tracking_number":"1Z999"}' -H "Idempotency-Key: $K2"
expect "ship after create is 201 at version 2" 201 .version 2
cmd "$O" ship '{"tracking_number":"1Z999"}' -H "Idempotency-Key: $K2"
expect "a retried ship is 200 with the first result" 200 .version 2 '.events[0].event_id' "$K2"
cmd "$O" ship '{"tracking_number":"1Z998"}'
expect_problem "shipping twice is refused" 409 invalid-state
cmd "$O" cancel '{}'
expect_problem "an unknown command is 404" 404 not-found
post_json "$T" "/v1/aggregates/Cart/$(uuid)/commands/create" '{}'
expect_problem "a type without a definition has no commands (404)" 404 not-found
post_json "$T" "$A/events" '{"expected_version":2,"events":[{"event_type":"OrderShipped","payload":{"tracking_number":"ZZZZ"}}]}'
expect_problem "the append route checks guards too" 409 invalid-state
post_json "$T" "$A/events" '{"expected_version":1,"events":[{"event_type":"NoteAdded","payload":{"note":"x"}}]}'
expect "an explicit expectation that is not the current version is a version conflict" 409 \
	.type urn:evstore:version-conflict .current_version 2

auth_req "$T" GET "$A"
expect "the state is the fold of the stream" 200 .version 2 .state.status shipped \
	.state.tracking_number 1Z999 .state.customer_id c-1 .state.total 99.5 .snapshot_version null
check "the state's ETag is its version" test "$(hdr ETag)" = '"2"'
auth_req "$T" GET "$A?at_version=1"
expect "at_version folds up to that version" 200 .version 1 .state.status created .state.tracking_number null
auth_req "$T" GET "$A?at_version=3"
expect_problem "at_version beyond the stream is 404" 404 not-found
auth_req "$T" GET "$A?at_version=x"
expect_problem "a bad at_version is 400" 400 invalid-request
auth_req "$T" GET "/v1/aggregates/Order/$(uuid)"
expect_problem "an unknown stream is 404" 404 not-found

# A multi-event append: each guard sees the earlier events of the request.
M=$(uuid)
post_json "$T" "/v1/aggregates/Order/$M/events" '{"events":[{"event_type":"OrderCreated","payload":{"customer_id":"m","total":1}},{"event_type":"OrderShipped","payload":{"tracking_number":"MULTI1"}}]}'
expect "create and ship in one append pass their guards in order" 201 .version 2
post_json "$T" "/v1/aggregates/Order/$(uuid)/events" '{"events":[{"event_type":"OrderShipped","payload":{"tracking_number":"MULTI1"}},{"event_type":"OrderCreated","payload":{"customer_id":"m","total":1}}]}'
expect "ship before create in one append is refused for event 0" 409 .guard state.status .event_index 0

# Types without a definition fold by merge patch.
C=/v1/aggregates/Cart/$(uuid)
post_json "$T" "$C/events" '{"events":[{"event_type":"A","payload":{"a":1,"b":{"c":1,"e":[1]}}},{"event_type":"B","payload":{"b":{"c":null,"d":2.5}}}]}'
auth_req "$T" GET "$C"
expect "a type without a definition has a state" 200 .version 2
check "merge patch: nulls remove, objects merge, integers stay integers ($(jq_body -c .state))" \
	test "$(jq_body -cS .state)" = '{"a":1,"b":{"d":2.5,"e":[1]}}'

# --- concurrency: 16 ships of one order, exactly one wins ------------------
R=$(uuid)
cmd "$R" create '{"customer_id":"race","total":5}'
racers=()
for i in $(seq 16); do
	curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $T" -H 'Content-Type: application/json' \
		--data-binary "{\"tracking_number\":\"RACE$i\"}" "$IT_BASE/v1/aggregates/Order/$R/commands/ship" >"$IT_DIR/race.$i" &
	racers+=($!)
done
wait "${racers[@]}"
codes=$(cat "$IT_DIR"/race.* | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
check "16 racing ships: one 201, the rest 409 ($codes)" test "$(cat "$IT_DIR"/race.* | grep -c 201)" = 1 -a "$(cat "$IT_DIR"/race.* | grep -c 409)" = 15
n=$(psql_q -c "select count(*) from evstore.events where aggregate_id = '$R' and event_type = 'OrderShipped'")
check "the stream holds exactly one OrderShipped ($n)" test "$n" = 1

# --- snapshots ----------------------------------------------------------------
S=$(uuid)
cmd "$S" create '{"customer_id":"snap","total":10}'
for i in $(seq 24); do cmd "$S" note "{\"note\":\"n$i\"}"; done
check "the notes were accepted" test "$STATUS" = 201
snap=$(psql_q -c "select version from evstore.snapshots where aggregate_id = '$S'")
check "sync snapshots follow the threshold (at 20: $snap)" test "$snap" = 20
auth_req "$T" GET "/v1/aggregates/Order/$S"
expect "the state starts from the snapshot" 200 .version 25 .snapshot_version 20 .state.note_count 24 '.state.notes|length' 24 '.state.notes[23]' n24
with=$(jq_body -cS .state)
post_json "$T" "/v1/aggregates/Order/$S/events" '{"events":[{"event_type":"NoteAdded","payload":{"note":"a"}},{"event_type":"NoteAdded","payload":{"note":"b"}},{"event_type":"NoteAdded","payload":{"note":"c"}},{"event_type":"NoteAdded","payload":{"note":"d"}},{"event_type":"NoteAdded","payload":{"note":"e"}},{"event_type":"NoteAdded","payload":{"note":"f"}}]}'
snap=$(psql_q -c "select version from evstore.snapshots where aggregate_id = '$S'")
check "a multi-event append crossing the threshold snapshots at its new version ($snap)" test "$snap" = 31
auth_req "$T" GET "/v1/aggregates/Order/$S?at_version=25"
expect "time travel below the snapshot folds from the start" 200 .version 25 .snapshot_version null
check "the state equals a full replay" test "$(jq_body -cS .state)" = "$with"
auth_req "$T" GET "/v1/aggregates/Order/$S"
with=$(jq_body -cS .state)
psql_q -c "delete from evstore.snapshots where aggregate_id = '$S'"
auth_req "$T" GET "/v1/aggregates/Order/$S"
expect "without the snapshot the fold starts at version 1" 200 .version 31 .snapshot_version null
check "and gives the same state" test "$(jq_body -cS .state)" = "$with"

"$CTL_BIN" --config "$IT_DIR/evstore.conf" snapshot Order "$S" >"$IT_DIR/ctl.out" 2>&1
check "evstorectl snapshot TYPE ID writes one" test "$(psql_q -c "select version from evstore.snapshots where aggregate_id = '$S'")" = 31
"$CTL_BIN" --config "$IT_DIR/evstore.conf" snapshot Order --all >"$IT_DIR/ctl.out" 2>&1
n=$(psql_q -c "select count(*) from evstore.snapshots s join evstore.streams t using (tenant_id, aggregate_type, aggregate_id) where s.aggregate_type = 'Order' and s.version = t.version")
m=$(psql_q -c "select count(*) from evstore.streams where aggregate_type = 'Order'")
check "evstorectl snapshot TYPE --all snapshots every stream at its version ($n of $m)" test "$n" = "$m"
"$CTL_BIN" --config "$IT_DIR/evstore.conf" snapshot Cart --all >"$IT_DIR/ctl.out" 2>&1
check "evstorectl snapshot refuses a type without a definition" test $? = 1
"$CTL_BIN" --config "$IT_DIR/evstore.conf" snapshot --invalidate Order >"$IT_DIR/ctl.out" 2>&1
check "evstorectl snapshot --invalidate deletes them" test "$(psql_q -c "select count(*) from evstore.snapshots")" = 0
"$CTL_BIN" --config "$IT_DIR/evstore.conf" snapshot Order "$S" >/dev/null 2>&1

# --- a rules change: snapshots of the old rules are ignored ------------------
mkdir -p "$IT_DIR/agg2"
jq '.events.NoteAdded.evolve[1].inc.note_count = 2' "$IT_SRCDIR/examples/aggregates.d/order.json" >"$IT_DIR/agg2/order.json"
stack_write_config "[aggregates]
dir = $IT_DIR/agg2"
fcgi_stop; fcgi_start || exit 1
auth_req "$T" GET "/v1/aggregates/Order/$S"
expect "after a rules change the old snapshot is ignored and the new rules fold" 200 \
	.version 31 .snapshot_version null .state.note_count 60
"$CTL_BIN" --config "$IT_DIR/evstore.conf" snapshot Order "$S" >/dev/null 2>&1
auth_req "$T" GET "/v1/aggregates/Order/$S"
expect "a snapshot by the new rules at the same version is used" 200 .snapshot_version 31 .state.note_count 60

# --- a bad definition refuses to start ---------------------------------------
mkdir -p "$IT_DIR/bad"
jq '.events.OrderShipped.payload.properties.tracking_number.patern = "x"' \
	"$IT_SRCDIR/examples/aggregates.d/order.json" >"$IT_DIR/bad/order.json"
sed "s|^dir = .*|dir = $IT_DIR/bad|" "$IT_DIR/evstore.conf" >"$IT_DIR/bad.conf"
"$FCGI_BIN" --config "$IT_DIR/bad.conf" --listen "$IT_DIR/bad.sock" --workers 1 >"$IT_DIR/bad.out" 2>&1
rc=$?
check "a bad definition stops start-up with exit 1 (got $rc)" test "$rc" = 1
check "the message names the file and the pointer: $(head -c 200 "$IT_DIR/bad.out")" \
	grep -q "bad/order.json: /events/OrderShipped/payload/properties/tracking_number/patern: unknown" "$IT_DIR/bad.out"


# --- a configured directory that is missing stops start-up ---------------------
# (before, both started and stored invalid payloads with 201: no checks at all)
sed "s|^dir = .*|dir = $IT_DIR/no-such-dir|" "$IT_DIR/evstore.conf" >"$IT_DIR/nodir.conf"
"$FCGI_BIN" --config "$IT_DIR/nodir.conf" --listen "$IT_DIR/nodir.sock" --workers 1 >"$IT_DIR/nodir.out" 2>&1
rc=$?
check "evstore-fcgi: a missing [aggregates] dir stops start-up with exit 1 (got $rc)" test "$rc" = 1
check "evstore-fcgi: the message names the key and the directory: $(head -c 200 "$IT_DIR/nodir.out")" \
	grep -q "\[aggregates\] dir $IT_DIR/no-such-dir: No such file or directory" "$IT_DIR/nodir.out"
# The runner reads the definitions for its snapshots subscriptions.
printf '[subscription snaps]\nhandler = snapshots\n' >>"$IT_DIR/nodir.conf"
"$(stack_runner_bin)" --config "$IT_DIR/nodir.conf" >"$IT_DIR/nodir-runner.out" 2>&1 </dev/null &
rpid=$!
wait_for 10 sh -c "! kill -0 $rpid"
kill "$rpid" 2>/dev/null; wait "$rpid"; rc=$?
check "evstore-runner: a missing [aggregates] dir stops start-up with exit 1 (got $rc)" test "$rc" = 1
check "evstore-runner: the message names the key and the directory: $(head -c 200 "$IT_DIR/nodir-runner.out")" \
	grep -q "\[aggregates\] dir $IT_DIR/no-such-dir: No such file or directory" "$IT_DIR/nodir-runner.out"
# The explicit empty value is "no definitions": the pool starts.
sed "s|^dir = .*|dir =|" "$IT_DIR/evstore.conf" >"$IT_DIR/nodefs.conf"
"$FCGI_BIN" --config "$IT_DIR/nodefs.conf" --print-config >"$IT_DIR/nodefs.out" 2>&1 &&
	timeout 5 "$FCGI_BIN" --config "$IT_DIR/nodefs.conf" --check >>"$IT_DIR/nodefs.out" 2>&1
check "an empty [aggregates] dir means no definitions: --check passes" test $? = 0

# --- a pattern PCRE2 cannot compile is refused at load -------------------------
jq '.events.OrderShipped.payload.properties.tracking_number.pattern = "(?<=a+)b"' \
	"$IT_SRCDIR/examples/aggregates.d/order.json" >"$IT_DIR/bad/order.json"
"$FCGI_BIN" --config "$IT_DIR/bad.conf" --listen "$IT_DIR/bad.sock" --workers 1 >"$IT_DIR/bad.out" 2>&1
rc=$?
check "a pattern that cannot be compiled stops start-up with exit 1 (got $rc)" test "$rc" = 1
check "the message names the file and the pointer: $(head -c 200 "$IT_DIR/bad.out")" \
	grep -q "bad/order.json: /events/OrderShipped/payload/properties/tracking_number/pattern: not a regular expression" "$IT_DIR/bad.out"

it_finish
