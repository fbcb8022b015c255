#!/usr/bin/env bash
# test_runner_trace.sh - a request can be followed from the HTTP log to the
# projections: the traceparent of an append reaches an exec program (in the
# event it reads) and an sql projection (in $1's metadata); the
# http_request record and the runner's records about the event carry the
# same trace_id; a failing event's records, a requeued one's too, name
# its type and the attempt.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
IT_LOG_LEVEL=info it_start

TRACE=4bf92f3577b34da6a3ce929d0e0e4736
TP=00-$TRACE-00f067aa0ba902b7-01

psql_q -c "CREATE TABLE traced (event_id uuid PRIMARY KEY, traceparent text)"
cat >"$IT_DIR/traced.sql" <<'SQL'
-- on Traced
INSERT INTO traced VALUES (($1::jsonb->>'event_id')::uuid, $1::jsonb->'metadata'->>'traceparent');
-- on Broken
SELECT 1 / 0;
SQL
# seen.sh writes the traceparent of every event it reads to seen.sh.out.
cat >"$IT_DIR/seen.sh" <<'SH'
#!/bin/sh
while read -r line; do
	printf '%s\n' "$line" | jq -r '.event_type + " " + (.metadata.traceparent // "none")' >>"$0.out"
	echo ok
done
SH
chmod +x "$IT_DIR/seen.sh"

conf trace "[subscription proj]
handler = sql
sql_file = $IT_DIR/traced.sql
max_retries = 1
retry_initial_delay = 50ms
retry_max_delay = 100ms

[subscription seen]
handler = exec
command = $IT_DIR/seen.sh"
# The runner at debug level: one event_handled record per event.
sed -i 's/^level = .*/level = debug/' "$IT_DIR/trace.conf"
start_runner trace runner.log

T=$(token alice "events:read events:write")
A=$(uuid)
post_json "$T" "/v1/aggregates/Order/$A/events" \
	'{"events":[{"event_type":"Traced","payload":{}},{"event_type":"Broken","payload":{}}]}' \
	-H "traceparent: $TP" -H 'X-Request-Id: trace-req-1'
check "the append with a traceparent is accepted" test "$STATUS" = 201
post_json "$T" "/v1/aggregates/Order/$(uuid)/events" '{"events":[{"event_type":"Traced","payload":{}}]}'

log_has() { # LOG FILTER: a JSON record of LOG matches the jq FILTER
	grep -h '^{' "$IT_DIR/$1" | jq -c "$2" 2>/dev/null | grep -q .
}
EV=$(psql_q -c "SELECT event_id FROM evstore.events WHERE aggregate_id = '$A' AND event_type = 'Traced'")

check "the sql projection reads the traceparent from the event's metadata" wait_for 20 sql_is "$TP" \
	"SELECT traceparent FROM traced WHERE event_id = '$EV'"
check "... and an event appended without one has none" wait_for 20 sql_is 1 \
	"SELECT count(*) FROM traced WHERE traceparent IS NULL"
check "the exec program reads the traceparent in the event it is handed" \
	wait_for 20 grep -qx "Traced $TP" "$IT_DIR/seen.sh.out"
check "... for every event of the request" grep -qx "Broken $TP" "$IT_DIR/seen.sh.out"
check "the HTTP log's record of the request carries the trace id" log_has fcgi.log \
	"select(.event == \"http_request\" and .req_id == \"trace-req-1\" and .trace_id == \"$TRACE\")"
check "the runner's record of the projected event carries the same trace id" wait_for 10 log_has runner.log \
	"select(.event == \"event_handled\" and .subscription == \"proj\" and .event_id == \"$EV\"
		and .event_type == \"Traced\" and .trace_id == \"$TRACE\")"
check "a failing event's retry record: its type, the attempt and the trace id" wait_for 10 log_has runner.log \
	"select(.event == \"event_retry\" and .subscription == \"proj\" and .event_type == \"Broken\"
		and .attempt == 1 and .trace_id == \"$TRACE\" and (.error | startswith(\"SQLSTATE 22012\")))"
check "... and its park record: attempt 2" wait_for 10 log_has runner.log \
	"select(.event == \"event_parked\" and .event_type == \"Broken\" and .attempt == 2 and .trace_id == \"$TRACE\")"
DLQ_ID=$(psql_q -c "SELECT id FROM evstore.dlq WHERE subscription = 'proj' AND event_type = 'Broken'")
"$CTL_BIN" --config "$IT_DIR/trace.conf" dlq retry "$DLQ_ID" >/dev/null 2>&1
check "a requeued event failing again: its entry, type, attempt 3 and trace id" wait_for 10 log_has runner.log \
	"select(.event == \"dlq_retry_failed\" and .dlq_id == $DLQ_ID and .event_type == \"Broken\"
		and .attempt == 3 and .trace_id == \"$TRACE\" and (.error | startswith(\"SQLSTATE 22012\")))"
check "SIGTERM stops the runner" stop_runner

runner_logs_clean
it_finish
