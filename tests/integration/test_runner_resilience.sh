#!/usr/bin/env bash
# test_runner_resilience.sh - evstore-runner across PostgreSQL going away:
# a fast stop while writers keep appending and the runner is live, then a
# crash (immediate stop) in the middle of a catch-up. The runner must keep
# its PID, park nothing, win its partitions back (the advisory locks die
# with the server) and end with every read model exact and every event
# audited.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/runner_lib.sh"

IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

psql_q <<'SQL'
CREATE TABLE proj (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL);
CREATE TABLE proj2 (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL);
SQL
projection proj >"$IT_DIR/proj.sql"
projection proj2 >"$IT_DIR/proj2.sql"
conf main "[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql
batch_size = 200

[subscription p2]
handler = sql
sql_file = $IT_DIR/proj2.sql
partitions = 2

[subscription audit]
handler = audit"
all_exact() { exact proj && exact proj2; }
# Every stored event has at least one audit record (at least once).
unaudited() {
	comm -23 <(psql_q -c "SELECT event_id FROM evstore.events ORDER BY 1") \
		<(grep -o '"audit_type":"event_committed"[^}]*"event_id":"[0-9a-f-]*"' "$IT_DIR/runner.log" |
		  sed 's/.*"event_id":"//; s/"$//' | sort -u) | wc -l
}
all_audited() { [ "$(unaudited)" = 0 ]; }
# Status rows (proj, p2's two partitions, audit) live with a fresh heartbeat.
LIVE_SQL="SELECT count(*) FROM evstore.subscription_status WHERE state = 'live'
	AND heartbeat_at > now() - interval '3 s'"

append 2000 100
start_runner main runner.log
RUNNER=$RPID
check "the runner catches up" wait_for 60 all_exact

# --- a fast stop under writers ------------------------------------------------------
writers_run=$IT_DIR/writers.run
touch "$writers_run"
( while [ -e "$writers_run" ]; do append 20 20 2>/dev/null || true; sleep 0.1; done ) &
W=$!; IT_PIDS+=("$W")
sleep 1
pg_stop fast
sleep 3
pg_start
sleep 2
rm -f "$writers_run"; wait "$W" 2>/dev/null
check "the runner is still running, the same process" kill -0 "$RUNNER"
check "it reconnected by itself" \
	grep -q '"event":"db_reconnected"' "$IT_DIR/runner.log"
check "after the restart both read models are exact" wait_for 60 all_exact
check "nothing was parked for the outage" sql_is 0 "SELECT count(*) FROM evstore.dlq"
check "every partition is claimed again and live" wait_for 20 sql_is 4 "$LIVE_SQL"
check "every event is audited" wait_for 20 all_audited

# --- a crash in the middle of a catch-up ----------------------------------------------
append 60000 600
sleep 0.5
pg_stop immediate
sleep 2
pg_start
check "after a crash mid-catch-up the runner is still running" kill -0 "$RUNNER"
check "after the crash both read models are exact" wait_for 120 all_exact
check "still nothing parked" sql_is 0 "SELECT count(*) FROM evstore.dlq"
check "every event is audited after the crash" wait_for 60 all_audited
check "every partition live again" wait_for 20 sql_is 4 "$LIVE_SQL"
check "SIGTERM still stops it in order" stop_runner "$RUNNER"
check "with the shutdown summary" grep -q '"event":"runner_shutdown".*"phase":"stopped"' "$IT_DIR/runner.log"

runner_logs_clean
it_finish
