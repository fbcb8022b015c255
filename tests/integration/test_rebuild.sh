#!/usr/bin/env bash
# test_rebuild.sh - evstorectl rebuild against a real PostgreSQL and a
# running evstore-runner: a damaged read model comes back exact, with
# writers appending during the replay and with the runner idle; the
# dead-letter queue starts afresh; partitions; the runner away, or killed
# during the replay; the progress bar and the question on a terminal; and
# every refusal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/runner_lib.sh"

IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

psql_q <<'SQL'
CREATE TABLE proj (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL);
CREATE TABLE proj4 (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL);
CREATE TABLE poisoned (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE slow (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE strict (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL,
	total bigint NOT NULL CONSTRAINT strict_small CHECK (total < 999));
SQL
projection proj >"$IT_DIR/proj.sql"
projection proj4 >"$IT_DIR/proj4.sql"
projection strict >"$IT_DIR/strict.sql"
grep -v -e '^-- truncate' -e '^TRUNCATE' "$IT_DIR/proj.sql" >"$IT_DIR/notrunc.sql"
cat >"$IT_DIR/poisoned.sql" <<'SQL'
-- on Added
INSERT INTO poisoned VALUES (($1::jsonb->>'aggregate_id')::uuid, 1 + 0 * (1 / (($1::jsonb->'payload'->>'amount')::int - 999)))
ON CONFLICT (aggregate_id) DO UPDATE SET n = poisoned.n + 1;
-- truncate
DELETE FROM poisoned;
SQL
cat >"$IT_DIR/slow.sql" <<'SQL'
-- on Added
INSERT INTO slow SELECT ($1::jsonb->>'aggregate_id')::uuid, 1 FROM pg_sleep(0.002)
ON CONFLICT (aggregate_id) DO UPDATE SET n = slow.n + 1;
-- truncate
TRUNCATE slow;
SQL

SUBS="[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql
batch_size = 500

[subscription p4]
handler = sql
sql_file = $IT_DIR/proj4.sql
partitions = 4
batch_size = 200

[subscription poisoned]
handler = sql
sql_file = $IT_DIR/poisoned.sql
max_retries = 1
retry_initial_delay = 50ms
retry_max_delay = 50ms

[subscription strict]
handler = sql
sql_file = $IT_DIR/strict.sql
continue_on_error = false
max_retries = 0"
conf main "$SUBS"
conf withslow "$SUBS

[subscription slow]
handler = sql
sql_file = $IT_DIR/slow.sql
start_from = end"
conf refusals "[subscription notrunc]
handler = sql
sql_file = $IT_DIR/notrunc.sql

[subscription ex]
handler = exec
command = /bin/cat"
ctl() { "$CTL_BIN" --config "$IT_DIR/main.conf" "$@"; }
count_fmt() { psql_q -c "SELECT to_char(count(*), 'FM999,999,999,999') FROM evstore.events WHERE event_type = 'Added'"; }

append 20000 400
append 1 5 999
start_runner main runner.log
check "the runner catches up" wait_for 60 exact proj
wait_for 60 exact proj4
check "the poison event is parked" wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.dlq WHERE subscription = 'poisoned' AND status = 'failed'"

# --- refusals: nothing is changed ----------------------------------------------------
before=$(psql_q -c "SELECT sum(n) FROM proj")
out=$(ctl rebuild 2>&1); rc=$?
check "no name: usage error, exit 2" test "$rc" = 2 -a -n "$(grep "missing the subscription's name" <<<"$out")"
out=$(ctl rebuild --yes nosuch 2>&1); rc=$?
check "an unknown subscription: exit 1 naming it" test "$rc" = 1 -a -n "$(grep 'no \[subscription nosuch\]' <<<"$out")"
out=$("$CTL_BIN" --config "$IT_DIR/refusals.conf" rebuild --yes notrunc 2>&1); rc=$?
check "no truncate section: exit 1 naming the file" test "$rc" = 1 -a -n "$(grep "notrunc.sql has no '-- truncate' section" <<<"$out")"
out=$("$CTL_BIN" --config "$IT_DIR/refusals.conf" rebuild --yes ex 2>&1); rc=$?
check "an exec subscription: exit 1" test "$rc" = 1 -a -n "$(grep 'not an sql subscription' <<<"$out")"
out=$(ctl rebuild proj </dev/null 2>&1); rc=$?
check "without --yes and no terminal: exit 2" test "$rc" = 2 -a -n "$(grep -- '--yes' <<<"$out")"
check "the refusals changed nothing" test "$(psql_q -c "SELECT sum(n) FROM proj")" = "$before"
check "--help describes the command" sh -c "'$CTL_BIN' rebuild --help | grep -q 'truncate'"

# --- a damaged read model is rebuilt while writers append ---------------------------
psql_q -c "UPDATE proj SET total = total + 1 WHERE aggregate_id IN (SELECT aggregate_id FROM proj LIMIT 50);
	DELETE FROM proj WHERE aggregate_id IN (SELECT aggregate_id FROM proj LIMIT 20)" >/dev/null
check "the read model is damaged" test "$(truth_diff proj)" != 0
writers_run=$IT_DIR/writers.run
touch "$writers_run"
( while [ -e "$writers_run" ]; do append 40 30 || true; sleep 0.05; done ) &
W1=$!; IT_PIDS+=("$W1")
out=$(ctl rebuild --yes proj 2>"$IT_DIR/rebuild.err"); rc=$?
check "rebuild under writers exits 0" test "$rc" = 0
check "it reports the reset and the replay" grep -q '^proj: read model emptied, 0 dead-letter entries cleared, checkpoint reset; [0-9,]* events to replay$' <<<"$out"
check "it reports when the replay is done" grep -qE '^proj rebuilt: [0-9,]+ events replayed in [0-9.]+ s$' <<<"$out"
# The stack logs to stderr: what stderr holds is the log's JSON lines (the
# rebuild's audit record), never a bar.
check "no progress bar when stderr is not a terminal" test -z "$(grep -v '^{' "$IT_DIR/rebuild.err")"
check "... only the rebuild's audit record" grep -q '"audit_type":"admin_action","action":"rebuild"' "$IT_DIR/rebuild.err"
rm -f "$writers_run"; wait "$W1" 2>/dev/null
check "after the writers: the read model is exact" wait_for 30 exact proj
check "the runner noticed the reset" grep -qE '"event":"checkpoint_moved",.*"subscription":"proj"' "$IT_DIR/runner.log"

# --- the runner idle: the reset alone must wake it ----------------------------------
psql_q -c "DELETE FROM proj WHERE aggregate_id IN (SELECT aggregate_id FROM proj LIMIT 10)" >/dev/null
out=$(timeout 60 "$CTL_BIN" --config "$IT_DIR/main.conf" rebuild --yes proj); rc=$?
check "rebuild of an idle runner's subscription finishes" test "$rc" = 0
check "the summary counts every event" grep -q "^proj rebuilt: $(count_fmt) events replayed" <<<"$out"
check "idle: the read model is exact at once" exact proj

# --- the dead-letter queue starts afresh ----------------------------------------------
out=$(ctl rebuild --yes poisoned); rc=$?
check "rebuild with a parked event: exit 0, one entry cleared" test "$rc" = 0 -a -n "$(grep '1 dead-letter entry cleared' <<<"$out")"
check "the replay parks the poison event again, once" wait_for 10 sql_is "1 failed 2" \
	"SELECT count(*) || ' ' || min(status) || ' ' || min(attempts) FROM evstore.dlq WHERE subscription = 'poisoned'"
check "every other event is in the rebuilt read model" wait_for 10 sql_is "$(psql_q -c "SELECT count(*) - 1 FROM evstore.events WHERE event_type = 'Added'")" "SELECT sum(n) FROM poisoned"

# --- a subscription stopped in error starts again from the rebuild --------------------
check "the strict projection stopped in error on the poison event" \
	wait_for 10 sql_is error "SELECT state FROM evstore.subscription_status WHERE subscription = 'strict'"
psql_q -c "ALTER TABLE strict DROP CONSTRAINT strict_small" >/dev/null
out=$(timeout 60 "$CTL_BIN" --config "$IT_DIR/main.conf" rebuild --yes strict); rc=$?
check "rebuild of a subscription in error: done, its parked event cleared" \
	test "$rc" = 0 -a -n "$(grep '^strict: read model emptied, 1 dead-letter entry cleared' <<<"$out")" -a -n "$(grep '^strict rebuilt' <<<"$out")"
check "the rebuilt read model holds every event, the former poison too" exact strict
check "the subscription runs again" wait_for 5 sql_is live "SELECT state FROM evstore.subscription_status WHERE subscription = 'strict'"
check "the runner says it resumed" grep -qE '"event":"subscription_resumed",.*"subscription":"strict"' "$IT_DIR/runner.log"

# --- four partitions --------------------------------------------------------------------
psql_q -c "UPDATE proj4 SET n = n + 5" >/dev/null
out=$(ctl rebuild --yes p4); rc=$?
check "a subscription of four partitions is rebuilt" test "$rc" = 0 -a -n "$(grep '^p4 rebuilt' <<<"$out")"
check "four partitions: exact" wait_for 10 exact proj4
check "four partitions: every checkpoint passed the last event" test "$(psql_q -c "SELECT count(*) FROM evstore.checkpoints c
	WHERE c.subscription = 'p4' AND (c.transaction_id, c.position) >=
	(SELECT transaction_id, position FROM evstore.events ORDER BY 1 DESC, 2 DESC LIMIT 1)")" = 4

# --- on a terminal: the question and the progress bar ----------------------------------
out=$(printf 'n\n' | script -qec "'$CTL_BIN' --config '$IT_DIR/main.conf' rebuild proj" /dev/null); rc=$?
check "on a terminal it asks, and 'n' changes nothing" test -n "$(grep 'Nothing was changed' <<<"$out")" -a "$(truth_diff proj)" = 0
out=$(script -qec "'$CTL_BIN' --config '$IT_DIR/main.conf' rebuild --yes proj" /dev/null </dev/null)
check "on a terminal it draws a bar that ends at 100%" grep -q 'rebuild proj \[#\{30\}\] 100%' <<<"$out"
check "after the bar: exact" wait_for 10 exact proj

# --- --no-wait, and no runner at all -------------------------------------------------
stop_runner "$RPID"
out=$(ctl rebuild --yes proj); rc=$?
check "without a runner: exit 0 and says the replay waits for one" test "$rc" = 0 -a -n "$(grep 'No evstore-runner is running proj now' <<<"$out")"
check "without a runner: the read model is empty and the checkpoint at the start" \
	test "$(psql_q -c "SELECT (SELECT count(*) FROM proj) || ' ' || position FROM evstore.checkpoints WHERE subscription = 'proj'")" = "0 0"
start_runner main runner.log
check "a runner started later replays it" wait_for 60 exact proj
out=$(ctl rebuild --yes --no-wait proj); rc=$?
check "--no-wait returns after the reset" test "$rc" = 0 -a -z "$(grep 'rebuilt' <<<"$out")"
check "--no-wait: the runner replays on its own" wait_for 60 exact proj
stop_runner "$RPID"

# --- a requeued dead letter is not applied on top of the replay -------------------------
sed -i 's/ + 0 \* (1 \/ .*::int - 999)))/)/' "$IT_DIR/poisoned.sql"
ctl dlq retry --all --subscription poisoned >/dev/null
check "the fixed poison event is requeued" sql_is retrying "SELECT status FROM evstore.dlq WHERE subscription = 'poisoned'"
ctl rebuild --yes poisoned >/dev/null
start_runner main runner.log
check "after the rebuild every event is applied exactly once" \
	wait_for 30 sql_is "$(psql_q -c "SELECT count(*) FROM evstore.events WHERE event_type = 'Added'")" "SELECT sum(n) FROM poisoned"
check "and the dead-letter queue is empty" sql_is 0 "SELECT count(*) FROM evstore.dlq WHERE subscription = 'poisoned'"
stop_runner "$RPID"

# --- the runner killed during the replay ------------------------------------------------
start_runner withslow slow.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'slow'"
EVSTORE_HEALTH_RUNNER_STALE_AFTER=2 timeout 60 "$CTL_BIN" --config "$IT_DIR/withslow.conf" rebuild --yes slow >"$IT_DIR/slow.out" 2>&1 &
CPID=$!
sleep 2
{ kill -9 "$RPID"; wait "$RPID"; } 2>/dev/null
wait "$CPID"; rc=$?
out=$(cat "$IT_DIR/slow.out")
check "the runner killed mid-replay: rebuild exits 1 and says so" test "$rc" = 1 -a -n "$(grep 'no evstore-runner is running slow any more' <<<"$out")"
check "the replay had started and not finished" sql_is t "SELECT count(*) > 0 AND sum(n) < (SELECT count(*) FROM evstore.events WHERE event_type = 'Added') FROM slow"

runner_logs_clean
it_finish
