#!/usr/bin/env bash
# test_runner_reload.sh - SIGHUP reloads evstore-runner's subscriptions in
# place, under writers: a new subscription starts and catches up, a removed
# one stops (status "stopped", checkpoint kept), a changed one restarts from
# its checkpoint with nothing applied twice and nothing missed, an
# unchanged file restarts nothing, and a broken file keeps the running
# configuration. The runner keeps its PID throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/runner_lib.sh"

IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

# Every projection appends one row per event it is handed, with no key:
# an event applied twice shows as a double, a missed one as a gap.
psql_q -c "CREATE TABLE applied (sub text NOT NULL, event_id uuid NOT NULL)" >/dev/null
for s in a b c; do
	printf -- '-- on Added\nINSERT INTO applied VALUES (%s, ($1::jsonb->>%s)::uuid);\n' "'$s'" "'event_id'" >"$IT_DIR/$s.sql"
done

# exact_once SUB: the subscription's rows are every event, each once.
exact_once() {
	[ "$(psql_q -c "SELECT (SELECT count(*) FROM evstore.events) = (SELECT count(DISTINCT event_id) FROM applied WHERE sub = '$1')
		AND (SELECT count(*) FROM applied WHERE sub = '$1') = (SELECT count(DISTINCT event_id) FROM applied WHERE sub = '$1')
		AND NOT EXISTS (SELECT 1 FROM applied a WHERE sub = '$1' AND NOT EXISTS (SELECT 1 FROM evstore.events e WHERE e.event_id = a.event_id))")" = t ]
}
doubles() { psql_q -c "SELECT count(*) - count(DISTINCT event_id) FROM applied WHERE sub = '$1'"; }
sub() { printf '\n[subscription %s]\nhandler = sql\nsql_file = %s/%s.sql\n%s\n' "$1" "$IT_DIR" "$1" "${2:-}"; }
reloads() { grep -c "\"event\":\"$1\"" "$IT_DIR/runner.log"; }
more_than() { [ "$(reloads "$1")" -gt "$2" ]; }
# hup EVENT: SIGHUP, then waits for one more EVENT record (config_reloaded or reload_failed).
hup() {
	local before
	before=$(reloads "$1")
	kill -HUP "$RPID"
	wait_for 15 more_than "$1" "$before"
}
last_reload() { grep '"event":"config_reloaded"' "$IT_DIR/runner.log" | tail -n 1 | jq -r '"\(.subscriptions) \(.started) \(.stopped)"'; }

# --- A and C running ---------------------------------------------------------------
append 300
conf runner "$(sub a)$(sub c 'batch_size = 50')"
start_runner runner runner.log
check "A catches up" wait_for 30 exact_once a
check "C catches up" wait_for 30 exact_once c
RUNNER_ID=$(psql_q -c "SELECT runner_id FROM evstore.subscription_status WHERE subscription = 'a'")
C_STARTED=$(psql_q -c "SELECT started_at FROM evstore.subscription_status WHERE subscription = 'c'")

# --- under writers: remove A, add B, change C -------------------------------------------
writers_run=$IT_DIR/writers.run
touch "$writers_run"
( while [ -e "$writers_run" ]; do append 25 || true; sleep 0.05; done ) &
W=$!; IT_PIDS+=("$W")
sleep 0.5
conf runner "$(sub b 'start_from = beginning')$(sub c 'batch_size = 7')"
hup config_reloaded
check "the reload is logged: 2 subscriptions, 2 started (B, changed C), 2 stopped (A, old C)" test "$(last_reload)" = "2 2 2"
check "A's status row says stopped" wait_for 10 sql_is stopped "SELECT state FROM evstore.subscription_status WHERE subscription = 'a'"
A_CKPT=$(psql_q -c "SELECT position FROM evstore.checkpoints WHERE subscription = 'a'")
A_ROWS=$(psql_q -c "SELECT count(*) FROM applied WHERE sub = 'a'")
check "A's checkpoint remains, at what it applied" test -n "$A_CKPT" -a "$(psql_q -c "SELECT count(*) FROM evstore.events e, evstore.checkpoints c
	WHERE c.subscription = 'a' AND (e.transaction_id, e.position) <= (c.transaction_id, c.position)")" = "$A_ROWS"
sleep 1
rm -f "$writers_run"
wait "$W" 2>/dev/null
append 40
check "B, new, catches up from the beginning" wait_for 30 exact_once b
check "C, changed, restarted from its checkpoint: every event, none twice" wait_for 30 exact_once c
check "C applied nothing twice" test "$(doubles c)" = 0
check "C was restarted (a new started_at)" test "$(psql_q -c "SELECT started_at > '$C_STARTED' FROM evstore.subscription_status WHERE subscription = 'c'")" = t
check "A, removed, handles nothing more" test "$(psql_q -c "SELECT count(*) FROM applied WHERE sub = 'a'")" = "$A_ROWS" -a \
	"$(psql_q -c "SELECT position FROM evstore.checkpoints WHERE subscription = 'a'")" = "$A_CKPT"

# --- an unchanged file restarts nothing ----------------------------------------------------
hup config_reloaded
check "an unchanged configuration restarts nothing" test "$(last_reload)" = "2 0 0"

# --- a broken file keeps the running configuration --------------------------------------------
conf runner "$(sub b)$(sub c 'batch_size = 7')
this line is no key-value pair"
hup reload_failed
check "a file that does not parse logs reload_failed with the file and line" \
	grep -q '"event":"reload_failed".*runner.conf:[0-9]*:' "$IT_DIR/runner.log"
conf runner "$(sub b)$(sub c 'batch_size = 7')
[subscription broken]
handler = carrier-pigeon"
hup reload_failed
check "so does a bad subscription" grep -q '"event":"reload_failed".*runner.conf:[0-9]*: handler: .carrier-pigeon.' "$IT_DIR/runner.log"
conf runner "$(sub b)$(sub c 'batch_size = 7')$(sub missing)"
hup reload_failed
check "and a projection file that cannot be read" grep -q '"event":"reload_failed".*missing.sql' "$IT_DIR/runner.log"
append 30
check "the runner goes on with B as it was" wait_for 30 exact_once b
check "and with C as it was" wait_for 30 exact_once c
check "A stays stopped" test "$(psql_q -c "SELECT count(*) FROM applied WHERE sub = 'a'")" = "$A_ROWS"

# --- one process throughout ----------------------------------------------------------------------
check "the runner's PID is the same throughout" kill -0 "$RPID"
check "every status row names this runner" test "$(psql_q -c "SELECT string_agg(DISTINCT runner_id, ',') FROM evstore.subscription_status")" = "$RUNNER_ID"
check "the runner id is this PID" test "${RUNNER_ID##*:}" = "$RPID"
kill -TERM "$RPID"
wait "$RPID"
check "SIGTERM after the reloads is an orderly stop" grep -q '"event":"runner_shutdown".*"phase":"stopped"' "$IT_DIR/runner.log"

runner_logs_clean
it_finish
