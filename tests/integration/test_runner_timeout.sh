#!/usr/bin/env bash
# test_runner_timeout.sh - a projection statement that hangs cannot stall
# its subscription: statement_timeout (its own key, or processing_timeout
# when unset) cuts a pg_sleep far longer than the test waits, the event is
# retried and then parked with an error naming the timeout, the
# subscription goes on past it, and the other subscriptions keep going.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

for t in proj slow follows; do
	psql_q -c "CREATE TABLE $t (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL)"
done
projection proj >"$IT_DIR/proj.sql"
# A projection with one section that hangs for 10 minutes.
hanging() { projection "$1"; printf -- '-- on Hang\nSELECT pg_sleep(600);\n'; }
hanging slow >"$IT_DIR/slow.sql"
hanging follows >"$IT_DIR/follows.sql"

hang_event() {
	psql_q -c "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version,
		event_type, actor_id, occurred_at, payload, metadata)
		VALUES ('$NIL', gen_random_uuid(), 'Job', gen_random_uuid(), 1, 'Hang', 'tester', now(),
		'{}', '{}'); NOTIFY evstore_events" >/dev/null
}

RETRIES="max_retries = 1
retry_initial_delay = 50ms
retry_max_delay = 100ms"
conf timeout "[subscription slow]
handler = sql
sql_file = $IT_DIR/slow.sql
statement_timeout = 300ms
$RETRIES

[subscription follows]
handler = sql
sql_file = $IT_DIR/follows.sql
processing_timeout = 400ms
$RETRIES

[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql"

start_runner timeout timeout.log
append 5 5
hang_event
append 5 5

log_has() { # LOG FILTER: a JSON record of LOG matches the jq FILTER
	grep '^{' "$IT_DIR/$1" | jq -c "$2" 2>/dev/null | grep -q .
}
parked() { # SUB: the Hang event is parked for SUB, the timeout as its error
	sql_is 1 "SELECT count(*) FROM evstore.dlq WHERE subscription = '$1' AND event_type = 'Hang'
		AND error LIKE '57014:%statement_timeout ${2} ms%-- on Hang%' AND attempts = 2"
}
check "the other subscription goes on: its projection holds every event" wait_for 20 caught_up x proj
check "a statement sleeping 10 min is cut at statement_timeout: retried, then parked (within 20 s)" \
	wait_for 20 parked slow 300
check "... the retry is logged with a clear error naming the timeout, the section and the statement" \
	log_has timeout.log 'select(.event == "event_retry" and .subscription == "slow"
		and .error == "statement_timeout (300 ms) passed in \"-- on Hang\", statement 1")'
check "... and the subscription went on past the parked event" wait_for 20 caught_up x slow
check "without statement_timeout, processing_timeout (400 ms) bounds the statements" \
	wait_for 20 parked follows 400
check "... and that subscription went on too" wait_for 20 caught_up x follows
check "the status row tells the timeout" sql_is 1 \
	"SELECT count(*) FROM evstore.subscription_status WHERE subscription = 'slow' AND last_error LIKE 'statement_timeout (300 ms) passed%'"
check "SIGTERM stops the runner" stop_runner

runner_logs_clean
it_finish
