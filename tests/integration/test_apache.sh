#!/usr/bin/env bash
# Apache in front, three ways (apache/*.conf as shipped, paths pointed at
# the test stack): mod_proxy_fcgi to the pool, mod_fcgid and CGI starting
# evstore-fcgi themselves; nginx alongside as the reference. On each: a
# smoke set (append, read, feed, a command, the health routes), then what
# differs between fronts: Authorization reaching evstore, encoded
# characters in REQUEST_URI, the body limits, a long-poll held and woken
# through the front, and 503 with Retry-After passed through.
# (The whole HTTP suite behind mod_proxy_fcgi is test_front_apache.sh.)
. "$(dirname "$0")/lib.sh"
for IT_FRONT in nginx apache fcgid cgi; do it_front_require; done
IT_NO_SERVERS=1
IT_EXTRA_CONF="[aggregates]
dir = $IT_SRCDIR/examples/aggregates.d"
it_start

W=$(token writer "events:read events:write")
big() { head -c "$1" /dev/zero | tr '\0' ' ' >"$IT_DIR/body.json"; }
problem_from_evstore() { # NAME STATUS SLUG: the answer is evstore's, not the front's page
	expect_problem "$@"
}

front_checks() {
	local f=$IT_FRONT id note last

	# --- smoke ---
	id=$(uuid)
	post_json "$W" "/v1/aggregates/Note/$id/events" '{"events":[{"event_type":"Written","payload":{"n":1}}]}'
	expect "$f: an append is 201" 201 .version 1
	note=$id
	auth_req "$W" GET "/v1/aggregates/Note/$id/events"
	expect "$f: the stream reads back" 200 .version 1 '.events[0].event_type' Written
	auth_req "$W" GET "/v1/events?limit=1000"
	expect "$f: the feed hands out the event" 200 "[.events[].aggregate_id]|index(\"$id\") != null" true
	last=$(jq_body .next)
	id=$(uuid)
	post_json "$W" "/v1/aggregates/Order/$id/commands/create" '{"customer_id":"c-1","total":5}'
	expect "$f: a command on an aggregate is 201" 201 .version 1
	auth_req "$W" GET "/v1/aggregates/Order/$id"
	expect "$f: the aggregate's state folds" 200 .state.customer_id c-1
	req GET /health/live
	expect "$f: /health/live" 200
	req GET /health/ready
	expect "$f: /health/ready" 200 .ready true
	req GET /health
	expect "$f: /health" 200 .details.database ok

	# --- Authorization (CGIPassAuth) ---
	req GET "/v1/aggregates/Note/$note/events"
	problem_from_evstore "$f: without a token it is evstore's 401" 401 unauthorized
	req GET "/v1/aggregates/Note/$note/events" -H 'Authorization: Bearer not.a.token'
	problem_from_evstore "$f: a bad token reaches evstore (401)" 401 unauthorized
	auth_req "$W" GET "/v1/aggregates/Note/$note/events"
	expect "$f: with the token the header reaches evstore (200)" 200

	# --- REQUEST_URI raw, encoded characters intact ---
	auth_req "$W" GET "/v1/aggregates/No%2Fte/$id/events"
	problem_from_evstore "$f: %2F in a type is evstore's 400, not the front's 404" 400 invalid-request
	check "$f: evstore saw the slash decoded in its segment" grep -q 'No/te' <<<"$BODY"
	auth_req "$W" GET "/v1/aggregates/No%20te/$id/events"
	problem_from_evstore "$f: %20 in a type is evstore's 400" 400 invalid-request
	auth_req "$W" GET "/v1/aggregates/%4Frder/$id"
	expect "$f: percent-encoded letters decode per segment" 200 .aggregate_type Order

	# --- bodies ---
	big $((1024 * 1024 + 10))
	req POST "/v1/aggregates/Note/$(uuid)/events" -H "Authorization: Bearer $W" \
		-H 'Content-Type: application/json' --data-binary @"$IT_DIR/body.json"
	problem_from_evstore "$f: a body over evstore's 1 MiB reaches it and is its 413" 413 payload-too-large
	big $((3 * 1024 * 1024))
	req POST "/v1/aggregates/Note/$(uuid)/events" -H "Authorization: Bearer $W" \
		-H 'Content-Type: application/json' --data-binary @"$IT_DIR/body.json"
	# Beyond the front's own limit (2 MiB in every shipped file): nginx and
	# Apache's CGI refuse with their own 413 page; mod_proxy_fcgi hands
	# evstore the request before the body, so evstore's 413 comes first;
	# mod_fcgid answers 500 by itself (see apache/evstore-fcgid.conf).
	case "$f" in
	fcgid)
		expect "$f: a 3 MiB body is refused by mod_fcgid (500)" 500
		check "$f: ... which logs MaxRequestLen" grep -q 'exceeds MaxRequestLen' "$IT_DIR/apache/error.log" ;;
	apache)
		problem_from_evstore "$f: a 3 MiB body is evstore's 413" 413 payload-too-large ;;
	*)
		expect "$f: a 3 MiB body is refused by the front itself (413)" 413
		check "$f: ... with its own page, not evstore's problem" test "$(jq_body .type)" != urn:evstore:payload-too-large ;;
	esac

	# --- a long-poll through the front ---
	auth_req "$W" GET "/v1/events?after=$last&limit=1000"
	last=$(jq_body .next)
	(
		sleep 3
		curl -s -o /dev/null -X POST -H "Authorization: Bearer $W" -H 'Content-Type: application/json' \
			--data-binary '{"events":[{"event_type":"Woken","payload":{}}]}' \
			"$IT_BASE/v1/aggregates/Note/$(uuid)/events"
	) &
	local waker=$!
	auth_req "$W" GET "/v1/events?after=$last&wait=30"
	wait "$waker"
	expect "$f: a wait=30 long-poll is woken by an append, not cut" 200 '.events[0].event_type' Woken
	auth_req "$W" GET "/v1/events?after=$(jq_body .next)&wait=3"
	expect "$f: a long-poll with nothing new is held and answered empty" 200 '.events|length' 0

	# --- 503 and Retry-After from evstore, passed through ---
	pg_stop fast
	req GET /health/ready
	expect "$f: readiness with the database down is evstore's 503" 503 .ready false
	check "$f: ... with Retry-After" test -n "$(hdr Retry-After)"
	post_json "$W" "/v1/aggregates/Note/$(uuid)/events" '{"events":[{"event_type":"Lost","payload":{}}]}'
	problem_from_evstore "$f: an append with the database down is evstore's 503" 503 unavailable
	check "$f: ... with Retry-After" test -n "$(hdr Retry-After)"
	pg_start || exit 1
	wait_for 15 curl -sf "$IT_BASE/health/ready"
	post_json "$W" "/v1/aggregates/Note/$(uuid)/events" '{"events":[{"event_type":"Back","payload":{}}]}'
	expect "$f: appends work again once the database is back" 201
}

for IT_FRONT in nginx apache fcgid cgi; do
	if it_front_start; then
		front_checks
	else
		not_ok "$IT_FRONT: the front starts"
	fi
	stack_nginx_stop
	stack_apache_stop
	fcgi_stop
done

# The processes mod_fcgid started were Apache's own, not left behind.
left=$(pgrep -f "^$FCGI_BIN\$" -P 1 2>/dev/null | wc -l)
check "no evstore-fcgi process outlives Apache ($left)" test "$left" = 0

it_finish
