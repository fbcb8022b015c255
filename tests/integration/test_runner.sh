#!/usr/bin/env bash
# test_runner.sh - evstore-runner against a real PostgreSQL: catch-up into
# an sql projection, kill -9 at random moments under concurrent writers,
# poison events into the DLQ, continue_on_error = false, the orderly
# SIGTERM stop, the exec handler's timeouts and crashes, and two runners
# sharing four partitions.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

psql_q <<'SQL'
CREATE TABLE proj (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL);
CREATE TABLE proj2 (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE proj4 (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL);
SQL
projection proj >"$IT_DIR/proj.sql"
cat >"$IT_DIR/proj2.sql" <<'SQL'
-- on Added
INSERT INTO proj2 VALUES (($1::jsonb->>'aggregate_id')::uuid, 1 + 0 * (1 / (($1::jsonb->'payload'->>'amount')::int - 999)))
ON CONFLICT (aggregate_id) DO UPDATE SET n = proj2.n + 1;
SQL
sed 's/proj/proj4/g' "$IT_DIR/proj.sql" | sed 's/, total = proj4.total + EXCLUDED.total//; s/, (\$1::jsonb->.payload.->>.amount.)::bigint)/)/' >"$IT_DIR/proj4.sql"

PROJ="[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql
batch_size = 500"

# --- configuration errors ------------------------------------------------------
conf bad "[subscription broken]
handler = sql
sql_file = $IT_DIR/missing.sql"
out=$("$RUNNER_BIN" --config "$IT_DIR/bad.conf" 2>&1); rc=$?
check "a bad configuration exits 1 with a clear message" test "$rc" = 1 -a -n "$(grep 'missing.sql' <<<"$out")"
conf snap "[subscription snap]
handler = snapshots"
out=$("$RUNNER_BIN" --config "$IT_DIR/snap.conf" --print-config 2>&1)
check "the built-in snapshots handler is accepted (test_runner_snapshots.sh tests it)" \
	test $? = 0 -a -z "$(grep 'not available' <<<"$out")"
check "--version" "$RUNNER_BIN" --version

# --- catch-up of 100k events -------------------------------------------------------
append 100000 1000
conf proj "$PROJ"
start_runner proj runner.log
t0=$SECONDS
wait_for 120 caught_up proj proj
check "100k events caught up into the projection ($((SECONDS - t0)) s)" caught_up proj proj
check "the projection equals a direct aggregation" test "$(truth_diff proj)" = 0
wait_for 5 sql_is live "SELECT state FROM evstore.subscription_status WHERE subscription = 'proj'"
check "status row: live, events counted, heartbeat fresh" test "$(psql_q -c "SELECT state || ' ' || (events_processed >= 100000) || ' ' || (heartbeat_at > now() - interval '5 s') FROM evstore.subscription_status WHERE subscription = 'proj'")" = "live true true"

# --- live: a new event is handled within moments ---------------------------------
append 1 1000
check "a new event is handled live" wait_for 5 caught_up proj proj

# --- kill -9 at random moments under writers holding transactions open -------
writers_run=$IT_DIR/writers.run
touch "$writers_run"
( while [ -e "$writers_run" ]; do append 40 300 || true; done ) &
W1=$!; IT_PIDS+=("$W1")
( while [ -e "$writers_run" ]; do
	psql_q -c "BEGIN" -c "SELECT count(*) FROM evstore.append('$NIL', 'Acct', gen_random_uuid(), 'any', NULL, 'slow',
		jsonb_build_array(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Added', 'payload', jsonb_build_object('amount', 5))))" \
		-c "SELECT pg_sleep(0.3)" -c "COMMIT" >/dev/null || true
  done ) &
W2=$!; IT_PIDS+=("$W2")
for i in $(seq 20); do
	sleep "0.$((RANDOM % 6 + 1))"
	kill -9 "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null
	start_runner proj runner.log
done
rm -f "$writers_run"
wait "$W1" "$W2" 2>/dev/null
wait_for 60 caught_up proj proj
check "after 20 kill -9 under writers: nothing missing, nothing doubled" test "$(truth_diff proj)" = 0
stop_runner "$RPID"

# --- SIGTERM with events in flight --------------------------------------------------
append 20000 1000
projected() { psql_q -c 'SELECT COALESCE(sum(n), 0) FROM proj'; }
progressed_past() { [ "$(projected)" -gt "$1" ]; }
before=$(projected)
start_runner proj stop.log
# Stop it once it has saved work, however slow the machine: events in flight.
wait_for 60 progressed_past "$before"
t0=$(date +%s.%N)
kill -TERM "$RPID"
stopped=no; for _ in $(seq 200); do kill -0 "$RPID" 2>/dev/null || { stopped=yes; break; }; sleep 0.05; done
check "SIGTERM stops within the timeouts" test $stopped = yes
line=$(grep '"event":"runner_shutdown"' "$IT_DIR/stop.log" | tail -n 1)
check "the shutdown record has phase, duration, events drained, checkpoints" \
	test "$(jq -r '[.phase, (.duration_seconds|type), (.events_drained|type), (.checkpoints_saved > 0)] | join(" ")' <<<"$line")" = "stopped number number true"
check "the saved checkpoint matches the projection" test "$(psql_q -c "SELECT count(*) FROM evstore.events e, evstore.checkpoints c
	WHERE c.subscription = 'proj' AND (e.transaction_id, e.position) <= (c.transaction_id, c.position) AND e.event_type = 'Added'")" = "$(psql_q -c 'SELECT sum(n) FROM proj')"
start_runner proj runner.log
wait_for 60 caught_up proj proj
check "restarted after SIGTERM: exact again" test "$(truth_diff proj)" = 0
stop_runner "$RPID"

# --- a poison event goes through retries into the DLQ; the rest flows on --------
conf poison "[subscription poison]
handler = sql
sql_file = $IT_DIR/proj2.sql
start_from = end
max_retries = 2
retry_initial_delay = 50ms
retry_max_delay = 100ms"
start_runner poison poison.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'poison'"
append 10 5 1; append 1 5 999; append 10 5 2
check "the events after the poison are handled" wait_for 15 sql_is 20 "SELECT COALESCE(sum(n), 0) FROM proj2"
check "the poison event is parked with its attempts" test "$(psql_q -c "SELECT status || ' ' || attempts || ' ' || error_class || ' ' || (error LIKE '22012%') FROM evstore.dlq WHERE subscription = 'poison'")" = "failed 3 permanent true"
check "the status counts the failures" wait_for 5 sql_is 3 "SELECT events_failed FROM evstore.subscription_status WHERE subscription = 'poison'"
# requeue it (status 'retrying'): it fails again and is back to 'failed'
psql_q -c "UPDATE evstore.dlq SET status = 'retrying' WHERE subscription = 'poison'" >/dev/null
check "a requeued entry is retried once and parked again" wait_for 10 sql_is "failed 4" "SELECT status || ' ' || attempts FROM evstore.dlq WHERE subscription = 'poison'"
# the same through evstorectl dlq
ctl() { "$CTL_BIN" --config "$IT_DIR/evstore.conf" "$@"; }
dlq_id=$(psql_q -c "SELECT id FROM evstore.dlq WHERE subscription = 'poison'")
out=$(ctl dlq list --subscription poison --status failed)
check "evstorectl dlq list shows the entry" test "$(tail -n +2 <<<"$out" | cut -f1,2,5,8,9)" = "$dlq_id	poison	Added	failed	4"
out=$(ctl dlq retry "$dlq_id")
check "evstorectl dlq retry requeues it; the runner parks it again" \
	wait_for 10 sql_is "failed 5" "SELECT status || ' ' || attempts FROM evstore.dlq WHERE subscription = 'poison'"
check "evstorectl dlq resolve, then purge --resolved" test "$(ctl dlq resolve "$dlq_id"; ctl dlq purge --subscription poison --resolved)" = "1 entry resolved
1 entry purged"
check "evstorectl dlq retry of a missing entry exits 1" test "$(ctl dlq retry "$dlq_id" >/dev/null 2>&1; echo $?)" = 1
stop_runner "$RPID"

conf stopper "[subscription stopper]
handler = sql
sql_file = $IT_DIR/proj2.sql
start_from = end
continue_on_error = false
max_retries = 0"
start_runner stopper stopper.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'stopper'"
append 1 5 999; append 3 5 1
check "continue_on_error = false stops in state error" wait_for 10 sql_is error "SELECT state FROM evstore.subscription_status WHERE subscription = 'stopper'"
check "nothing after the failure is handled" test "$(psql_q -c "SELECT position FROM evstore.checkpoints WHERE subscription = 'stopper'")" = "$(psql_q -c "SELECT position FROM evstore.dlq WHERE subscription = 'stopper'")"
stop_runner "$RPID"

# --- exec handler: ok, timeouts, crashes ---------------------------------------------
cat >"$IT_DIR/handler.sh" <<'SH'
#!/bin/sh
# answers ok; sleeps on amount 3 once, exits on amount 4 once, parks amount 6
while IFS= read -r line; do
	case $line in
	*'"amount": 3'*|*'"amount":3'*) if [ ! -e "$0.slept" ]; then : >"$0.slept"; sleep 5; fi ;;
	*'"amount": 4'*|*'"amount":4'*) if [ ! -e "$0.died" ]; then : >"$0.died"; exit 1; fi ;;
	*'"amount": 6'*|*'"amount":6'*) echo "park six is not allowed"; continue ;;
	esac
	printf '%s\n' "$line" | jq -r .event_id >>"$0.seen"
	echo ok
done
SH
chmod +x "$IT_DIR/handler.sh"
seen_is() { [ "$(sort -u "$IT_DIR/handler.sh.seen" 2>/dev/null | wc -l)" = "$1" ]; } # N distinct events answered ok
conf exec "[subscription ex]
handler = exec
command = $IT_DIR/handler.sh
start_from = end
processing_timeout = 500ms
retry_initial_delay = 50ms
retry_max_delay = 100ms
checkpoint_strategy = every_event"
start_runner exec exec.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'ex'"
for a in 1 3 4 6 2; do append 1 5 $a; done
check "exec: every event but the parked one is answered ok after a timeout and a crash" \
	wait_for 20 seen_is 4
check "exec: the parked event is in the DLQ" wait_for 5 sql_is 1 "SELECT count(*) FROM evstore.dlq WHERE subscription = 'ex' AND error LIKE 'park: six%'"
check "exec: the timeout was logged" grep -q exec_timeout "$IT_DIR/exec.log"
stop_runner "$RPID"

# SIGTERM while the handler sits on an event: the wait ends at drain_timeout
printf '#!/bin/sh\nwhile read -r line; do : >"$0.got"; sleep 600; done\n' >"$IT_DIR/hang.sh"
chmod +x "$IT_DIR/hang.sh"
conf hang "[subscription hang]
handler = exec
command = $IT_DIR/hang.sh
start_from = end
processing_timeout = 60s"
start_runner hang hang.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'hang'"
append 1 5 1
wait_for 5 test -e "$IT_DIR/hang.sh.got"
t0=$SECONDS
stop_runner "$RPID"
check "exec: SIGTERM while the handler waits stops after drain_timeout ($((SECONDS - t0)) s)" \
	test $((SECONDS - t0)) -le 8 -a -n "$(grep '"event":"runner_shutdown"' "$IT_DIR/hang.log")"
check "exec: the handler and its children are gone" test -z "$(pgrep -f "$IT_DIR/hang.sh")"

# --- two runners share four partitions and survive one being killed ------------------
conf part "[subscription p4]
handler = sql
sql_file = $IT_DIR/proj4.sql
partitions = 4
batch_size = 200"
start_runner part part1.log; R1=$RPID
start_runner part part2.log; R2=$RPID
append 5000 400
check "two runners: the projection is exact" wait_for 60 sql_is t "SELECT (SELECT COALESCE(sum(n), 0) FROM proj4) = (SELECT count(*) FROM evstore.events WHERE event_type = 'Added')"
wait_for 10 sql_is 2 "SELECT count(DISTINCT runner_id) FROM evstore.subscription_status WHERE subscription = 'p4' AND state <> 'stopped'"
check "two runners: both own partitions" test "$(psql_q -c "SELECT count(DISTINCT runner_id) FROM evstore.subscription_status WHERE subscription = 'p4' AND state <> 'stopped'")" = 2
pjson() { "$CTL_BIN" --config "$IT_DIR/part.conf" partitions --json p4 | jq -r "$1"; }
pjson_is() { [ "$(pjson "$1")" = "$2" ]; } # FILTER EXPECTED, for wait_for
check "evstorectl partitions: four partitions of p4, live, run by the two runners" wait_for 10 pjson_is \
	'[length, ([.[].runner_id] | unique | length), ([.[].state] | unique | join(",")), (.[0].configured)] | @tsv' \
	"$(printf '4\t2\tlive\ttrue')"
out=$("$CTL_BIN" --config "$IT_DIR/part.conf" partitions)
check "evstorectl partitions: a table, subscriptions gone from the file marked removed" \
	test -n "$(grep '^SUBSCRIPTION ' <<<"$out")" -a -n "$(grep '^proj (removed) ' <<<"$out")" -a "$(grep -c '^p4 ' <<<"$out")" = 4
check "evstorectl partitions of an unknown subscription exits 1" \
	test "$("$CTL_BIN" --config "$IT_DIR/part.conf" partitions nosuch >/dev/null 2>&1; echo $?)" = 1
kill -9 "$R1"; wait "$R1" 2>/dev/null
append 3000 400
check "one runner killed: the other takes over every partition" wait_for 30 sql_is t "SELECT (SELECT COALESCE(sum(n), 0) FROM proj4) = (SELECT count(*) FROM evstore.events WHERE event_type = 'Added')"
check "evstorectl partitions: all four now run by the survivor" wait_for 10 pjson_is \
	'[.[].runner_id | split(":") | .[-1]] | unique | join(",")' "$R2"
check "no event doubled across partitions" test "$(psql_q -c "SELECT count(*) FROM proj4 p JOIN (SELECT aggregate_id, count(*) c FROM evstore.events WHERE event_type = 'Added' GROUP BY 1) t USING (aggregate_id) WHERE p.n <> t.c")" = 0
stop_runner "$R2"

runner_logs_clean
it_finish
