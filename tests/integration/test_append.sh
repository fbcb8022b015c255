#!/usr/bin/env bash
# Append and read: expectations, conflicts, idempotent replays, paging, ETags.
. "$(dirname "$0")/lib.sh"
it_start

T=$(token alice "events:read events:write")
ID=$(uuid)
P=/v1/aggregates/Order/$ID/events
E1=$(uuid)

post_json "$T" "$P" '{"expected_version":0,"events":[{"event_id":"'"$E1"'","event_type":"OrderCreated","payload":{"customer_id":"c1","total":10}}]}'
expect "append to a new stream is 201 at version 1" 201 .version 1 '.events[0].event_id' "$E1" '.events[0].version' 1 .aggregate_id "$ID"
check "201 carries ETag \"1\"" test "$(hdr ETag)" = '"1"'
check "201 carries Location" test "$(hdr Location)" = "$P"
check "every response carries X-Request-Id" test -n "$(hdr X-Request-Id)"

post_json "$T" "$P" '{"expected_version":0,"events":[{"event_type":"OrderCreated","payload":{"customer_id":"c2","total":1}}]}'
expect_problem "expected_version 0 on an existing stream is a conflict" 409 version-conflict
expect "conflict names both versions" 409 .expected_version 0 .current_version 1

post_json "$T" "$P" '{"expected_version":0,"events":[{"event_id":"'"$E1"'","event_type":"OrderCreated","payload":{"customer_id":"c1","total":10}}]}'
expect "an identical replay is 200 with the original result" 200 .version 1 '.events[0].event_id' "$E1" '.events[0].version' 1

post_json "$T" "$P" '{"events":[{"event_id":"'"$E1"'","event_type":"OrderCreated","payload":{"customer_id":"c1","total":11}}]}'
expect_problem "the same event_id with other content is a duplicate" 409 duplicate-event-id

post_json "$T" "/v1/aggregates/Order/$(uuid)/events" '{"events":[{"event_id":"'"$E1"'","event_type":"OrderCreated","payload":{"customer_id":"c1","total":10}}]}'
expect_problem "the same event_id in another stream is a duplicate" 409 duplicate-event-id

post_json "$T" "$P" '{"events":[{"event_id":"'"$E1"'","event_type":"OrderCreated","payload":{"customer_id":"c1","total":10}},{"event_type":"Note","payload":{}}]}'
expect_problem "a request mixing stored and new ids is a duplicate" 409 duplicate-event-id

post_json "$T" "$P" '{"expected_version":1,"events":[{"event_type":"ItemAdded","payload":{"n":1}},{"event_type":"ItemAdded","payload":{"n":2}},{"event_type":"ItemAdded","payload":{"n":3}}]}'
expect "a multi-event append gets consecutive versions" 201 .version 4 '[.events[].version]|join(",")' "2,3,4"
positions=$(jq_body '[.events[].position]|join(",")')
p1=$(jq_body '.events[0].position'); p3=$(jq_body '.events[2].position')
check "positions ascend within an append ($positions)" test "$p3" -gt "$p1"

post_json "$T" "$P" '{"expected_version":"exists","events":[{"event_type":"Note","payload":{"text":"hello"}}]}'
expect '"exists" on an existing stream appends' 201 .version 5
post_json "$T" "/v1/aggregates/Order/$(uuid)/events" '{"expected_version":"exists","events":[{"event_type":"Note","payload":{}}]}'
expect '"exists" on a missing stream is a conflict at 0' 409 .current_version 0
post_json "$T" "$P" '{"expected_version":"no_stream","events":[{"event_type":"Note","payload":{}}]}'
expect '"no_stream" on an existing stream is a conflict' 409 .current_version 5
post_json "$T" "$P" '{"expected_version":"any","events":[{"event_type":"Note","payload":{}}]}'
expect '"any" appends whatever the version' 201 .version 6

post_json "$T" "$P" '{"events":[{"event_type":"Note","payload":{}}]}' -H 'If-Match: "6"'
expect 'If-Match "6" at version 6 appends' 201 .version 7
post_json "$T" "$P" '{"events":[{"event_type":"Note","payload":{}}]}' -H 'If-Match: "6"'
expect 'If-Match "6" at version 7 is a conflict' 409 .current_version 7
NEW=/v1/aggregates/Order/$(uuid)/events
post_json "$T" "$NEW" '{"events":[{"event_type":"Note","payload":{}}]}' -H 'If-None-Match: *'
expect 'If-None-Match * creates a stream' 201 .version 1
post_json "$T" "$NEW" '{"events":[{"event_type":"Note","payload":{}}]}' -H 'If-None-Match: *'
expect 'If-None-Match * on an existing stream is a conflict' 409 .current_version 1
post_json "$T" "$NEW" '{"expected_version":3,"events":[{"event_type":"Note","payload":{}}]}' -H 'If-Match: "1"'
expect_problem "If-Match disagreeing with the body is 400" 400 invalid-request

# Reads.
auth_req "$T" GET "$P"
expect "a stream reads back in order" 200 .version 7 '.events|length' 7 '[.events[].version]|join(",")' "1,2,3,4,5,6,7" \
	'.events[0].event_type' OrderCreated '.events[0].payload.total' 10 '.events[0].actor_id' alice \
	'.events[0].tenant_id' null .next_from_version null
check "read ETag is the current version" test "$(hdr ETag)" = '"7"'
check "metadata carries the request id" test "$(jq_body '.events[0].metadata.request_id')" != null
rec=$(jq_body '.events[0].recorded_at')
check "recorded_at is RFC 3339 UTC ($rec)" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' <<<"$rec"

auth_req "$T" GET "$P?limit=3"
expect "a page of 3 points at the next version" 200 '.events|length' 3 .next_from_version 4
auth_req "$T" GET "$P?from_version=4&limit=3"
expect "the second page continues" 200 '[.events[].version]|join(",")' "4,5,6" .next_from_version 7
auth_req "$T" GET "$P?direction=backward&limit=3"
expect "backward reads down from the last version" 200 '[.events[].version]|join(",")' "7,6,5" .next_from_version 4
auth_req "$T" GET "$P?direction=backward&from_version=2"
expect "backward ends at version 1" 200 '[.events[].version]|join(",")' "2,1" .next_from_version null
auth_req "$T" GET "$P?limit=100000"
expect "a huge limit is clamped, not refused" 200 '.events|length' 7
auth_req "$T" GET "$P" -H 'If-None-Match: "7"'
check "If-None-Match with the current version is 304" test "$STATUS" = 304
auth_req "$T" GET "/v1/aggregates/Order/$(uuid)/events"
expect_problem "an unknown stream is 404" 404 not-found

post_json "$T" "$P" '{"events":[{"event_type":"Note","payload":{"x":1},"metadata":{"correlation_id":"c-1"},"occurred_at":"2026-01-02T03:04:05+01:00"}]}' \
	-H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' -H 'X-Request-Id: my-req.1'
check "the caller's X-Request-Id is echoed" test "$(hdr X-Request-Id)" = my-req.1
auth_req "$T" GET "$P?from_version=8"
expect "metadata, traceparent, request id and occurred_at are kept" 200 \
	'.events[0].metadata.correlation_id' c-1 \
	'.events[0].metadata.traceparent' 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 \
	'.events[0].metadata.request_id' my-req.1 \
	'.events[0].occurred_at' 2026-01-02T02:04:05.000000Z
for key in request_id traceparent; do
	post_json "$T" "$P" "{\"events\":[{\"event_type\":\"Note\",\"payload\":{},\"metadata\":{\"$key\":\"mine\"}}]}"
	expect_problem "metadata.$key set by the client is refused (the server sets it from the header)" 400 invalid-request
	check "... naming the field" test "$(jq_body .detail | grep -c "/events/0/metadata/$key")" = 1
done
auth_req "$T" GET "$P"
check "... and nothing was written" test "$(jq_body .version)" = 8
req GET /health/live -H 'X-Request-Id: bad id with spaces'
rid=$(hdr X-Request-Id)
check "an invalid X-Request-Id is replaced by a generated one" test -n "$rid" -a "$rid" != "bad id with spaces"

# The database agrees with what the API said.
rows=$(psql_q -c "select count(*), max(version) from evstore.events where aggregate_id = '$ID'")
check "the database holds exactly the acknowledged events ($rows)" test "$rows" = "8|8"

it_finish
