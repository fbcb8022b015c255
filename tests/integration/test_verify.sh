#!/usr/bin/env bash
# test_verify.sh - evstorectl verify against a real PostgreSQL: a sound
# store passes; then each invariant is broken by hand in SQL, one after
# the other, and verify must name every break so far: a version gap,
# versions not from 1, a streams row behind, missing or without events, a
# snapshot ahead of its stream or without one, a checkpoint ahead of the
# feed, too many problems, a migration's checksum, a migration this build
# does not know. It reads events and streams by index only, and draws its
# bar on a terminal.
. "$(dirname "$0")/lib.sh"

IT_NO_SERVERS=1 it_start

ctl() { "$CTL_BIN" --config "$IT_DIR/evstore.conf" "$@"; }
NIL=00000000-0000-0000-0000-000000000000
T1=00000000-0000-4000-8000-000000000001
# 3,000 streams of five events, half of them in tenant T1.
psql_q >/dev/null <<SQL
INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
	occurred_at, payload)
SELECT CASE WHEN s % 2 = 0 THEN '$NIL' ELSE '$T1' END::uuid, gen_random_uuid(), 'Order',
	md5('s' || s)::uuid, v, 'Changed', now(), jsonb_build_object('v', v)
FROM generate_series(1, 3000) s, generate_series(1, 5) v ORDER BY v, s;
INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version)
SELECT tenant_id, aggregate_type, aggregate_id, max(version) FROM evstore.events GROUP BY 1, 2, 3;
INSERT INTO evstore.snapshots (tenant_id, aggregate_type, aggregate_id, version, schema_version, rules_hash, state)
SELECT tenant_id, aggregate_type, aggregate_id, 5, 1, 'h', '{}' FROM evstore.streams LIMIT 100;
INSERT INTO evstore.checkpoints (subscription, partition, transaction_id, position)
SELECT 'proj', 0, transaction_id, position FROM evstore.events ORDER BY transaction_id DESC, position DESC LIMIT 1;
VACUUM ANALYZE;
SQL
# The stream of number N: its id and its tenant.
sid() { psql_q -c "SELECT md5('s' || $1)::uuid"; }

scans() { psql_q -c "SELECT sum(seq_scan) FROM pg_stat_user_tables WHERE schemaname = 'evstore' AND relname IN ('events', 'streams')"; }
before=$(scans)
out=$(ctl verify 2>&1); rc=$?
check "a sound store: exit 0" test "$rc" = 0
check "and it says what it checked" grep -q '^ok: 3,000 streams' <<<"$out"
sleep 1.5 # the statistics of the finished session
check "it read events and streams by index only" test "$(scans)" = "$before"

# broken NAME WORDS: verify exits 1 and names the break (the earlier ones too).
broken() {
	out=$(ctl verify 2>&1); rc=$?
	check "$1: exit 1" test "$rc" = 1
	check "$1: named" grep -q -- "^problem: .*$2" <<<"$out"
}
psql_q -c "DELETE FROM evstore.events WHERE aggregate_id = '$(sid 2)' AND version = 3"
broken "a version gap" "stream Order $(sid 2): 4 events with versions 1 to 5: not 1 to 4 without a gap"
psql_q -c "UPDATE evstore.events SET version = version + 10 WHERE aggregate_id = '$(sid 4)'"
psql_q -c "UPDATE evstore.streams SET version = 15 WHERE aggregate_id = '$(sid 4)'"
broken "versions not from 1" "stream Order $(sid 4): 5 events with versions 11 to 15"
check "the first break is still named" grep -q "stream Order $(sid 2):" <<<"$out"
psql_q -c "UPDATE evstore.streams SET version = 4 WHERE aggregate_id = '$(sid 7)'"
broken "a streams row behind its events" "stream Order $(sid 7) of tenant $T1: the streams row says version 4, its highest event is version 5"
psql_q -c "DELETE FROM evstore.streams WHERE aggregate_id = '$(sid 8)'"
broken "a stream without its row" "stream Order $(sid 8): no streams row, its highest event is version 5"
other=$(uuid)
psql_q -c "INSERT INTO evstore.streams (tenant_id, aggregate_type, aggregate_id, version) VALUES ('$NIL', 'Invoice', '$other', 3)"
broken "a streams row without events" "stream Invoice $other: the streams row says version 3, but the stream has no event"
psql_q -c "INSERT INTO evstore.snapshots (tenant_id, aggregate_type, aggregate_id, version, schema_version, rules_hash, state)
	VALUES ('$T1', 'Order', '$(sid 9)', 6, 1, 'h', '{}')"
broken "a snapshot ahead of its stream" "snapshot of Order $(sid 9) of tenant $T1 is at version 6, ahead of its stream (at version 5)"
gone=$(uuid)
psql_q -c "INSERT INTO evstore.snapshots (tenant_id, aggregate_type, aggregate_id, version, schema_version, rules_hash, state)
	VALUES ('$NIL', 'Order', '$gone', 1, 1, 'h', '{}')"
broken "a snapshot of no stream" "snapshot of Order $gone is at version 1, ahead of its stream (no streams row)"
psql_q -c "INSERT INTO evstore.checkpoints (subscription, partition, transaction_id, position)
	VALUES ('proj', 1, (pg_current_xact_id()::text::bigint + 1000)::text::xid8, 7)"
broken "a checkpoint ahead of the feed" "checkpoint of proj/1 is ahead of the feed"
check "a checkpoint at the last event is not" test -z "$(grep 'checkpoint of proj/0' <<<"$out")"
check "eight problems, counted" grep -q '^8 problems found$' <<<"$out"

# Many more: the first twenty, then it stops.
psql_q -c "DELETE FROM evstore.events WHERE version = 2 AND aggregate_id IN (SELECT md5('s' || s)::uuid FROM generate_series(100, 130) s)"
out=$(ctl verify 2>&1); rc=$?
check "past twenty problems: exit 1, twenty listed" test "$rc" = 1 -a "$(grep -c '^problem: ' <<<"$out")" = 20
check "and it says it stopped there" grep -q '^20 problems found; verify stopped there' <<<"$out"

out=$(script -qec "'$CTL_BIN' --config '$IT_DIR/evstore.conf' verify" /dev/null </dev/null)
check "on a terminal it draws a bar, the problems below it" grep -q 'verify \[#\{30\}\] 100%  3,000/3,000' <<<"$out"

# Migrations last: a changed checksum stops verify before the tables.
psql_q -c "UPDATE evstore.schema_migrations SET checksum = 'feed' WHERE version = 2"
broken "a migration's checksum" "migration 002_snapshots.sql: checksum feed recorded, this build's file has [0-9a-f]\{32\}"
check "the tables are not checked then" test -z "$(grep 'stream Order' <<<"$out")"
psql_q -c "INSERT INTO evstore.schema_migrations (version, name, checksum) VALUES (999, '999_future.sql', 'abc')"
broken "a migration this build does not know" "migration 999_future.sql (version 999) is applied but unknown to this build"

out=$(ctl verify extra 2>&1); rc=$?
check "an argument: usage error, exit 2" test "$rc" = 2
out=$(EVSTORE_DATABASE_URL="host=$IT_DIR/pg user=evstore dbname=nosuch" ctl verify 2>&1); rc=$?
check "no database: exit 1, saying so" test "$rc" = 1 -a -n "$(grep 'cannot connect' <<<"$out")"

it_finish
