#!/usr/bin/env bash
# test_pitr.sh - point-in-time recovery, the procedure of doc/operations.md
# ("Backup and restore") run for real on a private cluster: WAL archived
# by archive_command, a base backup taken with pg_basebackup between two
# sets of appends, a third set after the target time, then a restore into
# a new data directory up to that time (recovery.signal, restore_command,
# recovery_target_time), started on its own socket. The restored store is
# ready, holds the first two sets and not the third, and an sql projection
# resumes from its restored checkpoint and ends equal to the restored events.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
# The procedure as production runs it: fsync and full-page writes on.
STACK_PG_OPTIONS=
it_start
it_require "$PGBIN/pg_basebackup"

ARCHIVE=$IT_DIR/archive
RESTORED=$IT_DIR/restored
# PostgreSQL's own directories: the archive, the base backup, the
# restored data directory and the restored server's socket and log.
mkdir -p "$ARCHIVE" "$IT_DIR/base" "$RESTORED" "$IT_DIR/pg2"
chmod 700 "$IT_DIR/base" "$RESTORED"
[ "$(id -u)" = 0 ] && chown postgres "$ARCHIVE" "$IT_DIR/base" "$RESTORED" "$IT_DIR/pg2"

# --- the cluster archives its WAL ------------------------------------------------
psql_q -c "ALTER SYSTEM SET archive_mode = on" \
	-c "ALTER SYSTEM SET archive_command = 'test ! -f $ARCHIVE/%f && cp %p $ARCHIVE/%f'" >/dev/null
pg_stop fast && pg_start || exit 1
check "archive_mode is on after the restart" sql_is on "SHOW archive_mode"

TOKEN=$(token pitr "events:read events:write")
# append_set NAME STREAMS EVENTS: EVENTS Added events to each of STREAMS new
# streams through the API, each carrying its set's name; every one a 201.
append_set() {
	local i k events created=0
	for i in $(seq "$2"); do
		events=
		for k in $(seq "$3"); do
			events="$events${events:+,}{\"event_type\":\"Added\",\"payload\":{\"amount\":$k,\"set\":\"$1\"}}"
		done
		post_json "$TOKEN" "/v1/aggregates/Acct/$(uuid)/events" "{\"expected_version\":0,\"events\":[$events]}"
		[ "$STATUS" = 201 ] && created=$((created + 1))
	done
	[ "$created" = "$2" ]
}
set_count() { psql_q -c "SELECT count(*) FROM evstore.events WHERE payload->>'set' = '$1'"; }

psql_q -c "CREATE TABLE proj (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL)"
projection proj >"$IT_DIR/proj.sql"
conf runner "[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql"

# --- 1. set A, projected ---------------------------------------------------------
check "set A: 10 streams of 3 events appended" append_set A 10 3
start_runner runner runner.log
check "the projection holds set A" wait_for 20 exact proj
stop_runner || not_ok "the runner stops on SIGTERM"

# --- 2. the base backup --------------------------------------------------------------
as_pg "$PGBIN/pg_basebackup" -h "$IT_DIR/pg" -U evstore -D "$IT_DIR/base" -c fast -X stream \
	>"$IT_DIR/basebackup.log" 2>&1
check "pg_basebackup takes a base backup" test $? = 0 -a -f "$IT_DIR/base/backup_label"

# --- 3. set B, with no runner: the target time is after it -------------------------
check "set B: 10 streams of 2 events appended" append_set B 10 2
TARGET=$(psql_q -c "SELECT clock_timestamp()")
sleep 1.1

# --- 4. set C, after the target; the runner projects B and C -----------------------
check "set C: 10 streams of 1 event appended" append_set C 10 1
start_runner runner runner.log
check "the original's projection holds A, B and C" wait_for 20 exact proj
stop_runner || not_ok "the runner stops on SIGTERM"
SEGMENT=$(psql_q -c "SELECT pg_walfile_name(pg_switch_wal())")
check "the WAL holding set C is archived" wait_for 30 test -f "$ARCHIVE/$SEGMENT"
fcgi_stop
pg_stop fast

# --- 5. restore into a new data directory, up to the target ---------------------------
as_pg cp -a "$IT_DIR/base/." "$RESTORED/"
as_pg touch "$RESTORED/recovery.signal"
as_pg tee -a "$RESTORED/postgresql.auto.conf" >/dev/null <<CONF
restore_command = 'cp $ARCHIVE/%f %p'
recovery_target_time = '$TARGET'
recovery_target_action = 'promote'
archive_mode = off
CONF
as_pg "$PGBIN/pg_ctl" -D "$RESTORED" -w -t 60 -l "$IT_DIR/pg2/log" \
	-o "-k $IT_DIR/pg2 -c listen_addresses= -c max_connections=200" start >/dev/null ||
	{ not_ok "the restored cluster starts" "$(tail -n 20 "$IT_DIR/pg2/log")"; it_finish; exit 1; }
IT_PIDS+=("$(head -n 1 "$RESTORED/postmaster.pid")")
EVSTORE_DATABASE_URL="host=$IT_DIR/pg2 user=evstore dbname=postgres"
sed -i "s|^url = .*|url = $EVSTORE_DATABASE_URL|" "$IT_DIR/evstore.conf"
check "recovery stops at the target and the restored cluster is promoted" \
	wait_for 60 sql_is f "SELECT pg_is_in_recovery()"
check "its log says where recovery stopped" grep -q "recovery stopping before commit" "$IT_DIR/pg2/log"

# --- the restored store ---------------------------------------------------------------
fcgi_start || exit 1
req GET /health/ready
expect "readiness is 200 on the restored database" 200 .ready true
check "set A is there (30 events)" sql_is 30 "SELECT count(*) FROM evstore.events WHERE payload->>'set' = 'A'"
check "set B is there (20 events)" sql_is 20 "SELECT count(*) FROM evstore.events WHERE payload->>'set' = 'B'"
check "set C is not" sql_is 0 "SELECT count(*) FROM evstore.events WHERE payload->>'set' = 'C'"
auth_req "$TOKEN" GET "/v1/events?limit=1000"
expect "the feed serves the restored events, A then B" 200 '[.events[].payload.set] | join("")' \
	"$(printf 'A%.0s' $(seq 30))$(printf 'B%.0s' $(seq 20))"
check "the restored read model holds set A only, as at the target" sql_is 30 "SELECT sum(n) FROM proj"

# --- the projection resumes from its restored checkpoint --------------------------------
# (an idle checkpoint sits at the feed's horizon: after A, before B)
check "the restored checkpoint lies after every event of A and before every event of B" \
	sql_is t "SELECT bool_and((e.transaction_id, e.position) <= (c.transaction_id, c.position))
		FILTER (WHERE e.payload->>'set' = 'A') AND bool_and((e.transaction_id, e.position) >
		(c.transaction_id, c.position)) FILTER (WHERE e.payload->>'set' = 'B')
		FROM evstore.events e, evstore.checkpoints c WHERE c.subscription = 'proj'"
check "a new append on the restored store is a 201" append_set D 1 1
conf runner "[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql"
start_runner runner runner-restored.log
check "the projection ends exactly equal to the restored events (no event twice, none missing)" \
	wait_for 20 exact proj
check "... it went on from the checkpoint: B and D, 21 events, projected after the restore" \
	wait_for 10 sql_is 21 "SELECT events_processed FROM evstore.subscription_status WHERE subscription = 'proj'"
stop_runner || not_ok "the runner stops on SIGTERM"

# --- evstorectl verify --------------------------------------------------------------------
# Where `evstorectl verify` checks the restored store's integrity, once the
# command exists: the test picks it up by itself.
if "$CTL_BIN" verify --help >/dev/null 2>&1; then
	out=$("$CTL_BIN" --config "$IT_DIR/evstore.conf" verify 2>&1)
	if [ $? = 0 ]; then
		ok "evstorectl verify finds the restored store sound"
	else
		not_ok "evstorectl verify finds the restored store sound" "$out"
	fi
else
	echo "# evstorectl verify is not in this build: not run"
fi

runner_logs_clean
as_pg "$PGBIN/pg_ctl" -D "$RESTORED" -m fast -w stop >/dev/null
it_finish
