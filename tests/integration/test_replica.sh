#!/usr/bin/env bash
# Read replicas: [database] read_url names a hot standby (a real one,
# streaming from the test's primary). Writes answer with an
# Evstore-Consistency token; with replay paused on the standby, a read that
# presents the token is not served stale (the primary answers it after
# read_wait_ms), a read without one may be. The feed read from the standby
# keeps the no-skip guarantee: its xid8 horizon holds back an event
# committed while an earlier transaction is still open on the primary.
# A standby that is down sends reads to the primary.
. "$(dirname "$0")/lib.sh"
it_start

# --- a streaming standby of the test's PostgreSQL ---------------------------------------
SB=$IT_DIR/standby
mkdir -p "$SB/sock"
chown -R postgres "$SB"
as_pg "$PGBIN/pg_basebackup" -h "$IT_DIR/pg" -U evstore -D "$SB/data" -R -X stream \
	>"$SB/basebackup.log" 2>&1
check "pg_basebackup makes a standby" test -f "$SB/data/standby.signal"
as_pg "$PGBIN/pg_ctl" -D "$SB/data" -w -t 30 -l "$SB/log" \
	-o "-k $SB/sock -c listen_addresses= -c hot_standby=on -c max_connections=200" start >/dev/null
SB_URL="host=$SB/sock user=evstore dbname=postgres"
sbq() { psql -X -q -At -v ON_ERROR_STOP=1 "$SB_URL" -c "$1"; }
check "the standby is in recovery" test "$(sbq "SELECT pg_is_in_recovery()")" = t
sb_stop() { as_pg "$PGBIN/pg_ctl" -D "$SB/data" -m immediate -w stop >/dev/null 2>&1 || true; }
trap 'sb_stop; it_cleanup' EXIT

# replication_item: evstorectl check's "replication" item, "status: message".
replication_item() {
	env -u EVSTORE_BUILDDIR -u EVSTORE_KEEP -u EVSTORE_TEST_BUILDDIR -u EVSTORE_TEST_DATABASE_URL \
		"$CTL_BIN" --config "$IT_DIR/evstore.conf" check --json 2>/dev/null |
		jq -r '.items[] | select(.item == "replication") | "\(.status): \(.message)"'
}
async_warned() { grep -q '^warn: 1 standby streams asynchronously' <<<"$(replication_item)"; }
check "evstorectl check warns that the standby is asynchronous" wait_for 20 async_warned

printf '\n[database]\nread_url = %s\nread_wait_ms = 300\n' "$SB_URL" >>"$IT_DIR/evstore.conf"
fcgi_stop
fcgi_start || { echo "Bail out! the pool did not start"; exit 1; }

T=$(token reader "events:read events:write")
ID=$(uuid)
append() { post_json "$T" "/v1/aggregates/Order/$ID/events" '{"events":[{"event_type":"'"$1"'","payload":{}}]}'; }

append Created
TOKEN1=$(hdr Evstore-Consistency)
expect "an append succeeds" 201 .version 1
check "and answers with a consistency token ($TOKEN1)" grep -qE '^[0-9A-F]{1,8}/[0-9A-F]{1,8}$' <<<"$TOKEN1"
auth_req "$T" GET "/v1/aggregates/Order/$ID/events" -H "Evstore-Consistency: $TOKEN1"
expect "a read with the token sees the write" 200 '.events|length' 1
check "served by the standby once it replayed that far ($(hdr Evstore-Read-From))" test "$(hdr Evstore-Read-From)" = replica

# --- replay paused: the standby falls behind ------------------------------------------
sbq "SELECT pg_wal_replay_pause()" >/dev/null
append Shipped
TOKEN2=$(hdr Evstore-Consistency)
expect "an append while the standby does not replay" 201 .version 2
auth_req "$T" GET "/v1/aggregates/Order/$ID/events" -H "Evstore-Consistency: $TOKEN2"
expect "a read with the new token is not served stale" 200 '.events|length' 2 .version 2
check "the primary served it ($(hdr Evstore-Read-From))" test "$(hdr Evstore-Read-From)" = primary
auth_req "$T" GET "/v1/aggregates/Order/$ID/events"
expect "a read without a token may be stale: the standby has one event" 200 '.events|length' 1
check "it came from the standby" test "$(hdr Evstore-Read-From)" = replica
auth_req "$T" GET "/v1/events" -H "Evstore-Consistency: $TOKEN2"
expect "the feed with the token has both events" 200 '.events|length' 2
auth_req "$T" GET "/v1/events"
expect "the feed without it, from the standby, has the first" 200 '.events|length' 1
auth_req "$T" GET "/v1/aggregates/Order/$ID/events" -H "Evstore-Consistency: 16/zz"
expect_problem "a malformed token is 400" 400 invalid-request
auth_req "$T" GET "/v1/aggregates/Order/$ID/events" -H "Evstore-Consistency: $TOKEN1"
expect "an older token is served by the standby" 200 '.events|length' 1
check "(the standby)" test "$(hdr Evstore-Read-From)" = replica
sbq "SELECT pg_wal_replay_resume()" >/dev/null
caught_up() { auth_req "$T" GET "/v1/aggregates/Order/$ID/events"; [ "$(jq_body '.events|length')" = 2 ]; }
check "replay resumed: the standby catches up" wait_for 20 caught_up

# --- the feed's horizon on the standby ----------------------------------------------------
# A transaction on the primary writes an event and stays open; one that
# commits meanwhile gets a higher position. The standby's snapshot knows
# the open transaction (from the WAL), so its feed holds the later event
# back instead of skipping the earlier one.
auth_req "$T" GET "/v1/events"
LAST=$(jq_body .next)
HELD=$(uuid)
mkfifo "$IT_DIR/hold.in"
psql -X -q -At -v ON_ERROR_STOP=1 "$EVSTORE_DATABASE_URL" <"$IT_DIR/hold.in" >"$IT_DIR/hold.out" 2>&1 &
HOLD_PID=$!
IT_PIDS+=("$HOLD_PID")
exec 7>"$IT_DIR/hold.in"
cat >&7 <<SQL
BEGIN;
INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
  VALUES ('00000000-0000-0000-0000-000000000000', 'Order', '$HELD', 1);
INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type, occurred_at, payload)
  VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'Order', '$HELD', 1, 'HeldBack', now(), '{}');
SELECT 'held';
SQL
wait_for 10 grep -q held "$IT_DIR/hold.out"
ID=$(uuid)
append Later
TOKEN3=$(hdr Evstore-Consistency)
# The standby has replayed the later commit (the token says so) ...
auth_req "$T" GET "/v1/events?after=$LAST" -H "Evstore-Consistency: $TOKEN3"
check "the standby replayed the later commit" test "$(hdr Evstore-Read-From)" = replica
expect "... and its feed still holds the later event back" 200 '.events|length' 0
echo "COMMIT;" >&7
exec 7>&-
wait "$HOLD_PID" 2>/dev/null
both() { auth_req "$T" GET "/v1/events?after=$LAST"; [ "$(jq_body '[.events[].event_type]|join(",")')" = "HeldBack,Later" ]; }
check "after the commit the standby's feed has both, the held one first" wait_for 20 both

# --- a standby that is down -----------------------------------------------------------------
sb_stop
auth_req "$T" GET "/v1/aggregates/Order/$ID/events"
expect "with the standby down, reads go to the primary" 200 '.events|length' 1
check "(the primary)" test "$(hdr Evstore-Read-From)" = primary
it_finish
