#!/usr/bin/env bash
# Every bad input is a clear 4xx problem and leaves nothing behind.
. "$(dirname "$0")/lib.sh"
IT_LOG_LEVEL=info # the http_request records, to read the traceparent back
it_start

T=$(token alice "events:read events:write admin")
ID=$(uuid); P=/v1/aggregates/Order/$ID/events
count_events() { psql_q -c "select count(*) from evstore.events"; }
before=$(count_events)

bad() { # NAME STATUS SLUG BODY [curl args...]
	local name=$1 status=$2 slug=$3 body=$4; shift 4
	post_json "$T" "$P" "$body" "$@"
	expect_problem "$name" "$status" "$slug"
}
E='{"event_type":"E","payload":{}}'
bad "malformed JSON" 400 invalid-request '{"events":['
bad "trailing garbage after the JSON" 400 invalid-request '{"events":['"$E"']} x'
bad "a JSON array as the body" 400 invalid-request '['"$E"']'
bad "single-quoted strings" 400 invalid-request "{'events':[]}"
bad "NaN" 400 invalid-request '{"events":[{"event_type":"E","payload":{"x":NaN}}]}'
bad "a duplicate key" 400 invalid-request '{"events":[{"event_type":"E","event_type":"F","payload":{}}]}'
bad "the typo expected_verison" 400 invalid-request '{"expected_verison":3,"events":['"$E"']}'
check "the 400 names the unknown field" grep -q expected_verison <<<"$BODY"
bad "an unknown event field" 400 invalid-request '{"events":[{"event_type":"E","payload":{},"color":"red"}]}'
bad "no events" 400 invalid-request '{"events":[]}'
bad "events missing" 400 invalid-request '{"expected_version":0}'
bad "a payload that is not an object" 400 invalid-request '{"events":[{"event_type":"E","payload":[1]}]}'
bad "a missing payload" 400 invalid-request '{"events":[{"event_type":"E"}]}'
bad "metadata that is not an object" 400 invalid-request '{"events":[{"event_type":"E","payload":{},"metadata":"x"}]}'
bad "a bad event_type" 400 invalid-request '{"events":[{"event_type":"1Bad","payload":{}}]}'
bad "an event_type of 129 characters" 400 invalid-request '{"events":[{"event_type":"E'"$(printf 'x%.0s' $(seq 128))"'","payload":{}}]}'
bad "a bad event_id" 400 invalid-request '{"events":[{"event_id":"123","event_type":"E","payload":{}}]}'
bad "a bad occurred_at" 400 invalid-request '{"events":[{"event_type":"E","payload":{},"occurred_at":"yesterday"}]}'
bad "occurred_at on February 30" 400 invalid-request '{"events":[{"event_type":"E","payload":{},"occurred_at":"2026-02-30T00:00:00Z"}]}'
bad "a float expected_version" 400 invalid-request '{"expected_version":1.5,"events":['"$E"']}'
bad "a negative expected_version" 400 invalid-request '{"expected_version":-1,"events":['"$E"']}'
bad "an unknown expectation word" 400 invalid-request '{"expected_version":"latest","events":['"$E"']}'
bad "a \\u0000 escape PostgreSQL cannot store" 400 invalid-request '{"events":[{"event_type":"E","payload":{"s":"a\u0000b"}}]}'
bad "a number beyond any range" 400 invalid-request '{"events":[{"event_type":"E","payload":{"n":1e999}}]}'
bad "an integer beyond 64 bits" 400 invalid-request '{"events":[{"event_type":"E","payload":{"n":123456789012345678901234567890}}]}'
printf '{"events":[{"event_type":"E","payload":{"s":"\xff\xfe"}}]}' >"$IT_DIR/latin1.json"
bad "bytes that are not UTF-8" 400 invalid-request "$(cat "$IT_DIR/latin1.json")"
printf '{"events":[{"event_type":"E","payload":{"s":"a\0b"}}]}' >"$IT_DIR/nul.json"
req POST "$P" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' --data-binary @"$IT_DIR/nul.json"
expect_problem "a raw NUL byte in the body" 400 invalid-request

deep() { local n=$1 s='' e=''; for _ in $(seq "$n"); do s="$s{\"a\":"; e="$e}"; done; printf '%s1%s' "$s" "$e"; }
# The body object, the events array and the event object are 3 levels; a
# payload 61 objects deep makes 64 in all, one more is too deep.
bad "nesting 65 levels deep" 400 invalid-request '{"events":[{"event_type":"E","payload":'"$(deep 62)"'}]}'
post_json "$T" "$P" '{"events":[{"event_type":"E","payload":'"$(deep 61)"'}]}'
expect "nesting exactly 64 levels deep is fine" 201

req POST "$P" -H "Authorization: Bearer $T" -H 'Content-Type: text/plain' --data-binary '{"events":['"$E"']}'
expect_problem "a text/plain body is 415" 415 unsupported-media-type
req POST "$P" -H "Authorization: Bearer $T" --data-binary '{"events":['"$E"']}' -H 'Content-Type:'
expect_problem "a body without a content type is 415" 415 unsupported-media-type
# One Content-Type header (post_json's and a second one would reach Apache
# as the two joined by a comma, which is 415).
req POST "$P" -H "Authorization: Bearer $T" -H 'Content-Type: application/json; charset=utf-8' --data-binary '{"events":['"$E"']}'
expect "application/json; charset=utf-8 is fine" 201

head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' >"$IT_DIR/big.json"
req POST "$P" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' --data-binary @"$IT_DIR/big.json"
expect_problem "a body over 1 MiB is 413" 413 payload-too-large
python3 -c 'import json; print(json.dumps({"events":[{"event_type":"E","payload":{}}]*1001}))' >"$IT_DIR/many.json"
req POST "$P" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' --data-binary @"$IT_DIR/many.json"
expect_problem "1001 events in one append is 413" 413 payload-too-large
python3 -c 'import json; print(json.dumps({"events":[{"event_type":"E","payload":{"i":i}} for i in range(1000)]}))' >"$IT_DIR/thousand.json"
req POST "/v1/aggregates/Order/$(uuid)/events" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' --data-binary @"$IT_DIR/thousand.json"
expect "1000 events in one append are fine" 201 .version 1000

# Names and ids in the path: 400, never 404 or 500.
pathbad() { # NAME PATH
	auth_req "$T" GET "$2"
	expect_problem "$1" 400 invalid-request
}
pathbad "an aggregate id that is not a UUID" "/v1/aggregates/Order/123/events"
pathbad "a UUID without hyphens" "/v1/aggregates/Order/${ID//-/}/events"
pathbad "an aggregate type starting with a digit" "/v1/aggregates/1Order/$ID/events"
pathbad "an aggregate type of 65 characters" "/v1/aggregates/O$(printf 'x%.0s' $(seq 64))/$ID/events"
pathbad "an encoded slash inside a name" "/v1/aggregates/Or%2Fder/$ID/events"
# (nginx itself refuses a broken %-escape in the path; the unit tests cover
# evstore's own refusal.)
auth_req "$T" GET "/v1/aggregates/Order/${ID^^}/events"
expect "an upper-case UUID is the same stream" 200 .aggregate_id "$ID"
auth_req "$T" GET "/v1/aggregates/%4Frder/$ID/events"
expect "percent-encoded letters in a name decode" 200 .aggregate_type Order

qbad() { auth_req "$T" GET "$2"; expect_problem "$1" 400 invalid-request; }
qbad "a non-integer limit" "$P?limit=ten"
qbad "a zero limit" "$P?limit=0"
qbad "a negative from_version" "$P?from_version=-1"
qbad "an unknown direction" "$P?direction=sideways"
qbad "a broken percent escape in the query" "$P?limit=%zz"
qbad "a garbage feed cursor" "/v1/events?after=garbage"
qbad "a non-integer wait" "/v1/events?wait=soon"
qbad "a bad aggregate_type filter" "/v1/events?aggregate_type=Order,1bad"

# Unknown query parameters are 400 naming the parameter: a typo must not
# silently mean "everything" (the feed) or "any version" (an append).
qunknown() { # NAME PATH PARAM [POST]
	if [ "${4:-}" = POST ]; then post_json "$T" "$2" '{"events":['"$E"']}'; else auth_req "$T" GET "$2"; fi
	expect_problem "$1" 400 invalid-request
	check "$1: the problem names $3" grep -qF "\"$3\"" <<<"$(jq_body .detail)"
}
qunknown "the feed with aggregate_typ" "/v1/events?aggregate_typ=Order" aggregate_typ
qunknown "a stream read with from" "$P?from=1" from
qunknown "the state with version" "/v1/aggregates/Order/$ID?version=1" version
qunknown "an append with expected_version in the query" "$P?expected_version=0" expected_version POST
qunknown "the subscriptions with limit" "/v1/subscriptions?limit=1" limit
qunknown "a DLQ list with statu" "/v1/subscriptions/s1/dlq?statu=failed" statu
auth_req "$T" GET "/v1/events?aggregate_type=Order&limit=1"
expect "the feed's own parameters still work" 200
req GET "/health/live?nocache=1"
expect "a health probe ignores its query string" 200 .alive true

# Quoted input is escaped: every problem is valid UTF-8 JSON.
utf8_json() { printf '%s' "$BODY" | python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8"))'; }
auth_req "$T" GET "/v1/aggregates/%FF%FE/$ID/events"
expect_problem "a type of raw bytes (%FF%FE) is 400" 400 invalid-request
check "its detail quotes them escaped, the document valid UTF-8 JSON" utf8_json
check "the escaped bytes are named" grep -qF '\\xFF\\xFE' <<<"$BODY"
auth_req "$T" GET "/v1/aggregates/Order/%FF%FE/events"
check "an id of raw bytes: a valid UTF-8 problem" utf8_json
auth_req "$T" GET "/v1/events?%FF%FE=1"
expect_problem "a query parameter named by raw bytes is 400" 400 invalid-request
check "its problem is valid UTF-8 JSON" utf8_json
post_json "$T" "/v1/aggregates/Order/$ID/commands/%FF%FE" '{}'
check "an unknown command of raw bytes: a valid UTF-8 problem ($STATUS)" utf8_json
auth_req "$T" POST "/v1/subscriptions/s1/dlq/%FF%FE/retry"
check "a DLQ entry id of raw bytes: a valid UTF-8 problem ($STATUS)" utf8_json

# traceparent: a later version's four fields are kept, what follows (here
# control characters and bytes that are not UTF-8) never reaches metadata
# or the log.
TP=01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
tail=$'\xff\xfe\x01'x
# Apache refuses a control character in a header itself (400, HttpProtocolOptions Strict).
[ "${IT_FRONT:-nginx}" = nginx ] || tail=$'\xff\xfe'x
post_json "$T" "$P" '{"events":['"$E"']}' -H "traceparent: $TP-$tail"
expect "a version 01 traceparent with a tail appends" 201
auth_req "$T" GET "$P?from_version=$(jq_body .version)"
expect "the event's metadata keeps its four fields only" 200 '.events[0].metadata.traceparent' "$TP"
post_json "$T" "$P" '{"events":['"$E"']}' -H "traceparent: 00-$(printf '0%.0s' $(seq 32))-00f067aa0ba902b7-01"
expect "an all-zero trace-id is ignored, the append goes on" 201
auth_req "$T" GET "$P?from_version=$(jq_body .version)"
expect "and no traceparent is stored" 200 '.events[0].metadata.traceparent' null
tp_logged() {
	grep -a '"traceparent"' "$IT_DIR/fcgi.log" | python3 -c '
import json, sys
lines = sys.stdin.buffer.read().splitlines()
assert lines, "no record with a traceparent"
for l in lines:
    assert json.loads(l.decode("utf-8")).get("traceparent") == sys.argv[1], l
' "$TP"
}
check "the log records carry the four fields only, as valid UTF-8 JSON" tp_logged

auth_req "$T" GET /v1/nothing-here
expect_problem "an unknown route is 404" 404 not-found
auth_req "$T" DELETE "$P"
expect_problem "DELETE on a stream is 405" 405 method-not-allowed
allow=$(hdr Allow)
check "405 names the allowed methods ($allow)" grep -q POST <<<"$allow"
req POST /health/live -H 'Content-Type: application/json' --data-binary '{}'
expect_problem "POST to a health probe is 405" 405 method-not-allowed

after=$(count_events)
check "of all the bad requests only the good appends were stored" test "$after" -eq $((before + 1004))

it_finish
