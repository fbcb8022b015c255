#!/usr/bin/env bash
# test_runner_snapshots.sh - the runner's built-in snapshots handler: live
# and catch-up snapshots of a background-mode type written at the
# thresholds, one fold per stream and page in a catch-up, the state route
# serving the same state as a full replay, types in sync or manual mode and
# types without a definition left alone, a stream that cannot be folded
# parked in the DLQ, the database failing never parking anything, and bad
# definition files at start (exit 1) and on SIGHUP (kept running).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
it_require nginx
IT_LOG_LEVEL=debug IT_NO_SERVERS=1 it_start

# The FastCGI app and the runner read the same [aggregates] dir.
DEFS=$IT_DIR/aggregates.d
mkdir -p "$DEFS"
ledger_def() { # THRESHOLD: the background-mode definition
	cat <<JSON
{
  "aggregate_type": "Ledger",
  "schema_version": 1,
  "snapshot": { "threshold": $1, "mode": "background" },
  "events": {
    "Opened": {
      "payload": { "type": "object", "required": ["owner"],
                   "properties": { "owner": { "type": "string", "minLength": 1 } },
                   "additionalProperties": false },
      "when": { "version": 0 },
      "evolve": [ { "merge": "payload" }, { "set": { "status": "open", "balance": 0 } } ]
    },
    "Deposited": {
      "payload": { "type": "object", "required": ["amount"],
                   "properties": { "amount": { "type": "integer", "minimum": 1 } },
                   "additionalProperties": false },
      "when": { "exists": true },
      "evolve": [ { "inc": { "balance": "payload.amount", "deposits": 1 } },
                  { "append": { "amounts": "payload.amount" } } ]
    }
  },
  "commands": { "open": { "emits": "Opened" }, "deposit": { "emits": "Deposited" } }
}
JSON
}
ledger_def 5 >"$DEFS/ledger.json"
for m in sync:Tally manual:Memo; do
	cat >"$DEFS/${m#*:}.json" <<JSON
{ "aggregate_type": "${m#*:}", "snapshot": { "threshold": 2, "mode": "${m%%:*}" },
  "events": { "Counted": { "evolve": [ { "inc": { "n": 1 } } ] } } }
JSON
done
fcgi_start || exit 1
stack_nginx_start || exit 1
IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/nginx/port")
T=$(token tester "events:read events:write")

snap_version() { psql_q -c "SELECT COALESCE(max(version), 0) FROM evstore.snapshots WHERE aggregate_id = '$1'"; }
# passed: the subscription's checkpoint is at or past the newest event.
passed() { sql_is t "SELECT COALESCE((SELECT position FROM evstore.checkpoints WHERE subscription = 'snaps'), 0)
	>= (SELECT COALESCE(max(position), 0) FROM evstore.events)"; }
# deposit ID N...: one append of Deposited events with these amounts.
deposit() {
	local id=$1 events=() a; shift
	for a in "$@"; do events+=("{\"event_type\":\"Deposited\",\"payload\":{\"amount\":$a}}"); done
	post_json "$T" "/v1/aggregates/Ledger/$id/events" "{\"events\":[$(IFS=,; echo "${events[*]}")]}"
	[ "$STATUS" = 201 ] || echo "deposit: $STATUS $BODY" >&2
}
open_ledger() { post_json "$T" "/v1/aggregates/Ledger/$1/commands/open" '{"owner":"o"}'; }

SNAPS="[subscription snaps]
handler = snapshots
max_retries = 1
retry_initial_delay = 50ms
retry_max_delay = 100ms"

# --- configuration --------------------------------------------------------------
conf snaps "$SNAPS"
out=$("$RUNNER_BIN" --config "$IT_DIR/snaps.conf" --print-config 2>&1)
check "handler = snapshots is accepted (no sql_file or command needed)" test $? = 0

mkdir -p "$IT_DIR/bad.d"
sed 's/"minLength": 1/"minLenght": 1/' "$DEFS/ledger.json" >"$IT_DIR/bad.d/ledger.json"
conf badstart "$SNAPS"
sed -i "s#^dir = .*#dir = $IT_DIR/bad.d#" "$IT_DIR/badstart.conf"
out=$("$RUNNER_BIN" --config "$IT_DIR/badstart.conf" 2>&1 </dev/null); rc=$?
check "a broken definition file stops the runner at start with exit 1" test "$rc" = 1
check "the message names the file, the JSON pointer and the problem" \
	grep -q "bad.d/ledger.json: /events/Opened/payload/properties/owner/minLenght: .*minLenght" <<<"$out"
conf badaudit "[subscription aud]
handler = audit
start_from = end"
sed -i "s#^dir = .*#dir = $IT_DIR/bad.d#" "$IT_DIR/badaudit.conf"
start_runner badaudit badaudit.log
check "without a snapshots subscription the definitions are not read" \
	wait_for 10 sql_is live "SELECT state FROM evstore.subscription_status WHERE subscription = 'aud'"
stop_runner "$RPID"

# --- live: the thresholds ------------------------------------------------------------
start_runner snaps snaps.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'snaps'"
L1=$(uuid)
open_ledger "$L1"; deposit "$L1" 10 20 30 40
check "live: crossing the threshold writes a snapshot at version 5" wait_for 10 sql_is 5 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$L1'"
check "live: the snapshot holds the folded state" test "$(psql_q -c "SELECT state->>'balance', state->>'deposits', state->>'status', schema_version FROM evstore.snapshots WHERE aggregate_id = '$L1'")" = "100|4|open|1"
deposit "$L1" 1 1 1
wait_for 10 passed
check "live: below the next multiple nothing is written" test "$(snap_version "$L1")" = 5
deposit "$L1" 1 1 1 1
check "live: the next crossing (version 10) writes the stream's current version (12)" wait_for 10 sql_is 12 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$L1'"

# --- the other modes and types without a definition -----------------------------------
TA=$(uuid) ME=$(uuid) CA=$(uuid)
for i in 1 2 3 4 5; do
	psql_q -c "SELECT count(*) FROM evstore.append('00000000-0000-0000-0000-000000000000', 'Tally', '$TA', 'any', NULL, 'tester',
		jsonb_build_array(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Counted', 'payload', '{}'::jsonb))); NOTIFY evstore_events" >/dev/null
done
for i in 1 2 3 4 5; do
	post_json "$T" "/v1/aggregates/Memo/$ME/events" '{"events":[{"event_type":"Counted","payload":{}}]}'
	post_json "$T" "/v1/aggregates/Cart/$CA/events" '{"events":[{"event_type":"Added","payload":{"x":1}}]}'
done
wait_for 10 passed
check "the handler passed the other types' events" passed
check "a sync-mode type appended behind the server's back gets no snapshot from the handler" test "$(snap_version "$TA")" = 0
check "a manual-mode type gets no snapshot" test "$(snap_version "$ME")" = 0
check "a type without a definition gets no snapshot" test "$(snap_version "$CA")" = 0
check "none of it failed" test "$(psql_q -c "SELECT events_failed FROM evstore.subscription_status WHERE subscription = 'snaps'")" = 0
stop_runner "$RPID"

# --- catch-up: several streams, one fold per stream and page ----------------------------
S=() ; for i in 1 2 3; do S+=("$(uuid)"); open_ledger "${S[$((i - 1))]}"; done
SMALL=$(uuid); open_ledger "$SMALL"; deposit "$SMALL" 1 2 3
for round in 1 2 3 4 5 6 7; do
	for s in "${S[@]}"; do deposit "$s" "$round" 1 2; done
done
: >"$IT_DIR/catchup.log"
start_runner snaps catchup.log
for s in "${S[@]}"; do
	wait_for 20 sql_is 22 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$s'"
done
check "catch-up: every stream gets a snapshot at its current version" test \
	"$(for s in "${S[@]}"; do snap_version "$s"; done | sort -u)" = 22
wait_for 10 passed
check "catch-up: a stream below the threshold gets none" test "$(snap_version "$SMALL")" = 0
written=$(grep -c '"event":"snapshot_written"' "$IT_DIR/catchup.log")
check "catch-up: one fold per stream, not one per crossing ($written writes for 12 crossings)" test "$written" = 3

# --- the state route: the same state as a full replay --------------------------------------
auth_req "$T" GET "/v1/aggregates/Ledger/${S[0]}"
expect "the state route starts from the runner's snapshot" 200 .version 22 .snapshot_version 22 .state.deposits 21
with_snap=$(jq_body -S -c '.state')  # jsonb keeps its own key order
psql_q -c "DELETE FROM evstore.snapshots WHERE aggregate_id = '${S[0]}'" >/dev/null
auth_req "$T" GET "/v1/aggregates/Ledger/${S[0]}"
expect "without the snapshot the route replays every event" 200 .version 22 .snapshot_version null
check "the snapshot's state equals the full replay" test "$with_snap" = "$(jq_body -S -c '.state')" -a -n "$with_snap"
check "and equals the sum of the stored events" test "$(jq_body '.state.balance')" = \
	"$(psql_q -c "SELECT sum((payload->>'amount')::bigint) FROM evstore.events WHERE aggregate_id = '${S[0]}' AND event_type = 'Deposited'")"

# --- a stream that cannot be folded is parked; the rest goes on --------------------------
BROKEN=$(uuid)
psql_q -c "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
		VALUES ('00000000-0000-0000-0000-000000000000', 'Ledger', '$BROKEN', 6);
	INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type, occurred_at, payload)
		SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'Ledger', '$BROKEN', g,
			CASE g WHEN 1 THEN 'Opened' ELSE 'Deposited' END, now(), jsonb_build_object('amount', g)
		FROM generate_series(1, 5) g; NOTIFY evstore_events" >/dev/null
AFTER=$(uuid); open_ledger "$AFTER"; deposit "$AFTER" 1 1 1 1
check "a stream whose events and version disagree is parked after its retries" \
	wait_for 15 sql_is "failed 2 permanent" "SELECT status || ' ' || attempts || ' ' || error_class FROM evstore.dlq WHERE subscription = 'snaps' AND aggregate_id = '$BROKEN'"
check "the DLQ entry is the crossing event, with a clear message" test "$(psql_q -c "SELECT e.version || ' ' || (d.error LIKE 'snapshot of Ledger $BROKEN at version 5: the stream cannot be folded by %ledger.json%')
	FROM evstore.dlq d JOIN evstore.events e USING (position) WHERE d.aggregate_id = '$BROKEN'")" = "5 true"
check "the events after it are handled" wait_for 10 sql_is 5 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$AFTER'"

# --- the database failing is waited out, never parked ------------------------------------
# The server's guards read snapshots too: append behind its back.
psql_q -c "ALTER TABLE evstore.snapshots RENAME TO snapshots_away" >/dev/null
W=$(uuid)
psql_q -c "SELECT count(*) FROM evstore.append('00000000-0000-0000-0000-000000000000', 'Ledger', '$W', 'any', NULL, 'tester',
	(SELECT jsonb_agg(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', CASE g WHEN 1 THEN 'Opened' ELSE 'Deposited' END,
		'payload', CASE g WHEN 1 THEN '{\"owner\":\"w\"}'::jsonb ELSE '{\"amount\":1}'::jsonb END) ORDER BY g)
	 FROM generate_series(1, 5) g)); NOTIFY evstore_events" >/dev/null
waits() { [ "$(grep -c '"event":"subscription_waiting".*snapshot of Ledger '"$W" "$IT_DIR/catchup.log")" -ge "$1" ]; }
check "a database error makes the subscription wait (class transient)" wait_for 20 waits 3
check "it is not parked though max_retries is 1" test "$(psql_q -c "SELECT count(*) FROM evstore.dlq WHERE aggregate_id = '$W'")" = 0
psql_q -c "ALTER TABLE evstore.snapshots_away RENAME TO snapshots" >/dev/null
check "once the database is back the snapshot is written" wait_for 20 sql_is 5 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$W'"

# --- SIGHUP: a broken definition keeps the old ones; a good one takes over -------------------
cp "$DEFS/ledger.json" "$IT_DIR/ledger.good"
cp "$IT_DIR/bad.d/ledger.json" "$DEFS/ledger.json"
kill -HUP "$RPID"
check "SIGHUP with a broken definition logs reload_failed naming the file" \
	wait_for 10 grep -q '"event":"reload_failed".*aggregates.d/ledger.json' "$IT_DIR/catchup.log"
H=$(uuid); open_ledger "$H"; deposit "$H" 1 1 1 1
check "the runner goes on with the definitions it had" wait_for 10 sql_is 5 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$H'"
ledger_def 3 >"$DEFS/ledger.json"
kill -HUP "$RPID"
wait_for 10 grep -q '"event":"config_reloaded"' "$IT_DIR/catchup.log"
H2=$(uuid); open_ledger "$H2"; deposit "$H2" 1 1
check "after a good reload the new threshold (3) is used" wait_for 10 sql_is 3 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$H2'"
check "the runner kept its PID through both reloads" kill -0 "$RPID"
stop_runner "$RPID"

runner_logs_clean
it_finish
