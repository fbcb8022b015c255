#!/usr/bin/env bash
# The global feed: paging with an opaque cursor, filters, long polls, and
# never skipping an event whose transaction commits after a later one.
. "$(dirname "$0")/lib.sh"
it_start

T=$(token feeder "events:read events:write")
append() { # TYPE ID EVENT_TYPE
	post_json "$T" "/v1/aggregates/$1/$2/events" '{"events":[{"event_type":"'"$3"'","payload":{"n":1}}]}'
	[ "$STATUS" = 201 ] || not_ok "append $1/$3" "status $STATUS: $BODY"
}
O1=$(uuid); O2=$(uuid); C1=$(uuid)
append Order "$O1" OrderCreated
append Order "$O2" OrderCreated
append Customer "$C1" CustomerRegistered
append Order "$O1" OrderShipped

auth_req "$T" GET "/v1/events"
expect "the feed starts at the beginning" 200 '.events|length' 4 \
	'[.events[].event_type]|join(",")' "OrderCreated,OrderCreated,CustomerRegistered,OrderShipped"
check "the feed's positions ascend" test "$(jq_body '[.events[].position] == ([.events[].position]|sort)')" = true

auth_req "$T" GET "/v1/events?limit=3"
expect "a page of 3" 200 '.events|length' 3
next=$(jq_body .next)
auth_req "$T" GET "/v1/events?after=$next&limit=3"
expect "the next page continues after the cursor" 200 '.events|length' 1 '.events[0].event_type' OrderShipped
last=$(jq_body .next)
auth_req "$T" GET "/v1/events?after=$last"
expect "an empty page still has a next cursor to poll on" 200 '.events|length' 0 .next "$last"

auth_req "$T" GET "/v1/events?aggregate_type=Customer"
expect "filter by aggregate type" 200 '.events|length' 1 '.events[0].aggregate_id' "$C1"
auth_req "$T" GET "/v1/events?event_type=OrderShipped,CustomerRegistered"
expect "filter by event types" 200 '[.events[].event_type]|join(",")' "CustomerRegistered,OrderShipped"
auth_req "$T" GET "/v1/events?aggregate_type=Order&event_type=OrderCreated"
expect "both filters together" 200 '.events|length' 2

# --- the horizon -----------------------------------------------------------
# A transaction that writes an event and stays open: its event has a lower
# position than one committed meanwhile. A reader going by position alone
# would hand out the later one and skip the earlier one for ever.
HELD_ID=$(uuid); HELD_EV=$(uuid)
mkfifo "$IT_DIR/hold.in"
psql -X -q -At -v ON_ERROR_STOP=1 "$EVSTORE_DATABASE_URL" <"$IT_DIR/hold.in" >"$IT_DIR/hold.out" 2>&1 &
HOLD_PID=$!
IT_PIDS+=("$HOLD_PID")
exec 7>"$IT_DIR/hold.in"
cat >&7 <<SQL
BEGIN;
INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
  VALUES ('00000000-0000-0000-0000-000000000000', 'Order', '$HELD_ID', 1);
INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type, occurred_at, payload)
  VALUES ('00000000-0000-0000-0000-000000000000', '$HELD_EV', 'Order', '$HELD_ID', 1, 'HeldBack', now(), '{}');
SELECT 'held';
SQL
wait_for 10 grep -q held "$IT_DIR/hold.out"
check "a writing transaction is held open" grep -q held "$IT_DIR/hold.out"

LATE=$(uuid)
append Order "$LATE" CommittedMeanwhile
late_pos=$(jq_body '.events[0].position')
auth_req "$T" GET "/v1/events?after=$last"
expect "an event committed behind an open transaction is not handed out yet" 200 '.events|length' 0 .next "$last"
auth_req "$T" GET "/v1/events?after=$last&wait=1"
expect "a long poll does not hand it out either" 200 '.events|length' 0

echo "COMMIT;" >&7
exec 7>&-
wait "$HOLD_PID" 2>/dev/null
auth_req "$T" GET "/v1/events?after=$last"
expect "after the commit both arrive, the held one first" 200 '.events|length' 2 \
	'[.events[].event_type]|join(",")' "HeldBack,CommittedMeanwhile"
hp=$(jq_body '.events[0].position')
check "the held event had the lower position ($hp < $late_pos), so nothing was skipped" test "$hp" -lt "$late_pos"
last=$(jq_body .next)

# --- long poll ---------------------------------------------------------------
start=$SECONDS
( sleep 1; append Order "$(uuid)" WokeUp ) &
waker=$!
auth_req "$T" GET "/v1/events?after=$last&wait=20"
wait "$waker"
expect "a long poll is woken by a new event" 200 '.events|length' 1 '.events[0].event_type' WokeUp
check "and returns well before its wait ran out ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 15
auth_req "$T" GET "/v1/events?after=$(jq_body .next)&wait=1"
expect "a long poll with nothing new returns an empty page" 200 '.events|length' 0

it_finish
