#!/usr/bin/env bash
# test_check.sh - `evstorectl check` against a real PostgreSQL: every item
# made to fail or warn by what an operator could get wrong (the server's
# settings, the keys, the definitions, the subscriptions, a runner not
# running, dead letters, a transaction left open, a remote database
# without TLS, the connection budget), and a deployment where every item
# passes: exit 0, text and --json saying the same.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
IT_NO_SERVERS=1 it_start
it_require openssl

CONF=$IT_DIR/evstore.conf
# run_check [CONF]: evstorectl check --json; OUT holds the object, RC the status.
# The test harness's own EVSTORE_* variables would be warned about.
run_check() {
	OUT=$(env -u EVSTORE_BUILDDIR -u EVSTORE_KEEP -u EVSTORE_TEST_BUILDDIR -u EVSTORE_TEST_DATABASE_URL \
		"$CTL_BIN" --config "${1:-$CONF}" check --json 2>>"$IT_DIR/check.err")
	RC=$?
}
item() { jq -r --arg i "$1" --arg f "$2" '.items[] | select(.item == $i) | .[$f]' <<<"$OUT"; }
# expect_item ITEM STATUS REGEX WHAT: the item of the last run has that
# status and a message matching REGEX.
expect_item() {
	local st msg
	st=$(item "$1" status)
	msg=$(item "$1" message)
	if [ "$st" = "$2" ] && grep -qE -- "$3" <<<"$msg"; then
		ok "$4"
	else
		not_ok "$4" "$1: ${st:-absent}: $msg"
	fi
}
pg_restart() { pg_stop fast && pg_start; }

# --- a server set up against an event store ---------------------------------------
# The stack runs with fsync and full_page_writes off (fast tests); make
# the rest as wrong as it can be.
psql_q <<'SQL' >/dev/null
ALTER SYSTEM SET synchronous_commit = off;
ALTER SYSTEM SET autovacuum = off;
ALTER SYSTEM SET track_counts = off;
ALTER SYSTEM SET wal_level = minimal;
ALTER SYSTEM SET max_wal_senders = 0;
ALTER SYSTEM SET archive_mode = off;
SQL
pg_restart || exit 1
EVSTORE_HTTP_WORKERS=300 run_check
check "a server unfit for an event store: exit 1" test "$RC" = 1
check "--json says fail, with a count" test "$(jq -r '.status' <<<"$OUT")" = fail -a "$(jq '.failed' <<<"$OUT")" -ge 6
expect_item fsync fail "acknowledged events.*fsync = on" "fsync off fails, saying what to set"
expect_item full_page_writes fail "torn pages.*full_page_writes = on" "full_page_writes off fails"
expect_item synchronous_commit fail "^off: a 201 may be answered" "synchronous_commit off fails"
expect_item wal_level fail "^minimal: .*wal_level = replica" "wal_level minimal fails"
expect_item archive_mode warn "no point-in-time recovery.*archive_mode = on" "archive_mode off warns"
expect_item autovacuum fail "autovacuum = off.*wrap around" "autovacuum off fails"
expect_item track_counts fail "track_counts = off: autovacuum does not run" "track_counts off fails (autovacuum needs it)"
expect_item statement_timeout warn "statement_timeout_ms" "no statement_timeout warns, naming the key"
expect_item idle_in_transaction_session_timeout warn "^none: .*= 60s" \
	"no idle_in_transaction_session_timeout warns"
expect_item max_connections fail "^200, 3 of them reserved: 197 left for evstore's budget of 308" \
	"300 workers, the waiter, 1 runner and 5 spare do not fit in max_connections 200"

# archive_mode on with nothing to archive with.
psql_q -c "ALTER SYSTEM RESET wal_level" -c "ALTER SYSTEM RESET max_wal_senders" \
	-c "ALTER SYSTEM SET archive_mode = on" >/dev/null
pg_restart || exit 1
run_check
expect_item archive_mode fail "without archive_command.*pg_wal" "archive_mode on without archive_command fails"
expect_item wal_level pass "^replica" "wal_level replica passes"

# --- a server set up for it: the shipped settings fragment -----------------------
# packaging/postgresql/evstore.conf included as is, but for the archive's
# path and a test-sized shared_buffers.
mkdir -p "$IT_DIR/archive"
[ "$(id -u)" = 0 ] && chown postgres "$IT_DIR/archive"
sed "s|/var/lib/postgresql/wal-archive|$IT_DIR/archive|g" "$IT_SRCDIR/packaging/postgresql/evstore.conf" \
	>"$IT_DIR/pg/evstore-settings.conf"
echo "include '$IT_DIR/pg/evstore-settings.conf'" | as_pg tee -a "$IT_DIR/pg/data/postgresql.conf" >/dev/null
psql_q -c "ALTER SYSTEM RESET ALL" -c "ALTER SYSTEM SET shared_buffers = '128MB'" \
	-c "ALTER SYSTEM SET effective_cache_size = '256MB'" >/dev/null
STACK_PG_OPTIONS=
pg_restart || exit 1
check "the server runs with the shipped fragment" sql_is 1min "SHOW archive_timeout"
psql_q -c "CREATE TABLE proj (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL)"
projection proj >"$IT_DIR/proj.sql"
conf good "[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql
partitions = 2
[health]
dlq_warn = 2
dlq_critical = 4"
printf '\n[database]\nstatement_timeout_ms = 30000\n' >>"$IT_DIR/good.conf"
GOOD=$IT_DIR/good.conf
start_runner good runner.log
wait_for 15 sql_is 2 "SELECT count(*) FROM evstore.subscription_status WHERE state = 'live'" ||
	not_ok "the runner claims both partitions" "$(tail -n 5 "$IT_DIR/runner.log")"
append 20
run_check "$GOOD"
bad=$(jq -r '.items[] | select(.status != "pass") | "\(.item): \(.status): \(.message)"' <<<"$OUT")
check "a deployment set up right (the fragment, a runner): exit 0, every item passes" test "$RC" = 0 -a -z "$bad" -a \
	"$(jq -r .status <<<"$OUT")" = pass
[ -z "$bad" ] || not_ok "(items not passing)" "$bad"
for i in configuration "jwt keys" "jwt key strength" "aggregate definitions" subscriptions tls \
	database schema "server version" fsync full_page_writes synchronous_commit wal_level archive_mode \
	max_connections statement_timeout idle_in_transaction_session_timeout autovacuum \
	"oldest transaction" "projection proj" \
	"runner heartbeat proj" "dlq proj"; do
	[ "$(item "$i" status)" = pass ] || not_ok "item '$i' is reported and passes" "$(item "$i" message)"
done
ok "every item of the report is there"
expect_item archive_mode pass "archive_command" "archive_mode on with archive_command passes"
expect_item statement_timeout pass "^30000 ms" "[database] statement_timeout_ms is what the session gets"
text=$(env -u EVSTORE_BUILDDIR -u EVSTORE_KEEP -u EVSTORE_TEST_BUILDDIR -u EVSTORE_TEST_DATABASE_URL \
	"$CTL_BIN" --config "$GOOD" check 2>&1); rc=$?
check "the text report: one line per item, then the verdict" test "$rc" = 0 -a \
	"$(grep -c '^evstorectl: pass ' <<<"$text")" = "$(jq '.items | length' <<<"$OUT")" -a \
	"$(tail -n 1 <<<"$text")" = "evstorectl: check passed"

# --- the runners -------------------------------------------------------------------
stop_runner || not_ok "the runner stops on SIGTERM"
run_check "$GOOD"
check "a subscription no runner runs: exit 1" test "$RC" = 1
expect_item "runner heartbeat proj" fail "no partition runs \(stopped\).*start evstore-runner" \
	"runner heartbeat: the stopped runner fails, saying to start it"
psql_q -c "UPDATE evstore.subscription_status SET state = 'live', heartbeat_at = now() - interval '1 hour' WHERE partition = 0"
psql_q -c "UPDATE evstore.subscription_status SET state = 'live', heartbeat_at = now() WHERE partition = 1"
run_check "$GOOD"
expect_item "runner heartbeat proj" warn "^1 of 2 partitions run \(another is stale\)" \
	"runner heartbeat: one partition's stale heartbeat warns"

# --- dead letters --------------------------------------------------------------------
park() { # N: parks N events of the feed for proj
	psql_q -c "INSERT INTO evstore.dlq (subscription, position, transaction_id, event_id, event_type,
		aggregate_type, aggregate_id, error) SELECT 'proj', position, transaction_id, event_id, event_type,
		aggregate_type, aggregate_id, 'test' FROM evstore.events WHERE event_id NOT IN
		(SELECT event_id FROM evstore.dlq) ORDER BY position LIMIT $1" >/dev/null
}
park 2
run_check "$GOOD"
expect_item "dlq proj" warn "^2 parked events \(warn: 2\).*dlq list --subscription proj" "dlq at dlq_warn warns"
park 2
run_check "$GOOD"
expect_item "dlq proj" fail "^4 parked events \(critical: 4\).*retry --all" "dlq at dlq_critical fails"
psql_q -c "UPDATE evstore.dlq SET status = 'resolved'" >/dev/null
run_check "$GOOD"
expect_item "dlq proj" pass "^0 parked" "resolved entries do not count"

# --- a transaction left open ---------------------------------------------------------
PGAPPNAME=held-open psql -X -q "$EVSTORE_DATABASE_URL" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
IT_PIDS+=($!)
wait_for 10 sql_is 1 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'held-open' AND xact_start IS NOT NULL"
sleep 1.2
EVSTORE_HEALTH_TRANSACTION_AGE_WARN=1 run_check "$GOOD"
expect_item "oldest transaction" warn "^pid [0-9]+ \(held-open, active\) open for [0-9]+ s \(warn: 1 s\)" \
	"a transaction older than transaction_age_warn warns, naming its session"
EVSTORE_HEALTH_TRANSACTION_AGE_WARN=1 EVSTORE_HEALTH_TRANSACTION_AGE_CRITICAL=1 run_check "$GOOD"
expect_item "oldest transaction" fail "critical: 1 s.*pg_terminate_backend" \
	"one older than transaction_age_critical fails"
psql_q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'held-open'" >/dev/null

# --- the connection budget -------------------------------------------------------------
EVSTORE_HTTP_WORKERS=40 EVSTORE_DEPLOYMENT_HOSTS=4 EVSTORE_DEPLOYMENT_RUNNERS=10 run_check "$GOOD"
expect_item max_connections pass "^200, 3 reserved: covers the budget of 189" \
	"4 hosts x (40 workers + the waiter) + 10 runners x 2 + 5 spare fit in 200 - 3"
EVSTORE_HTTP_WORKERS=40 EVSTORE_DEPLOYMENT_HOSTS=4 EVSTORE_DEPLOYMENT_RUNNERS=10 \
	EVSTORE_DEPLOYMENT_SPARE_CONNECTIONS=20 run_check "$GOOD"
expect_item max_connections fail "197 left for evstore's budget of 204" "20 spare connections no longer fit: fails"

# --- keys ---------------------------------------------------------------------------
chmod 640 "$IT_DIR/hmac.key"
run_check "$GOOD"
expect_item "jwt keys" fail "mode 0640.*0600" "a secret the group may read fails, saying chmod 0600"
check "... and the command exits 1" test "$RC" = 1
chmod 600 "$IT_DIR/hmac.key"
head -c 48 /dev/urandom | base64 | tr -d '\n' | head -c 40 >"$IT_DIR/short.key"
chmod 600 "$IT_DIR/short.key"
EVSTORE_JWT_ALGORITHM=HS512 EVSTORE_JWT_KEY_FILE=$IT_DIR/short.key run_check "$GOOD"
expect_item "jwt key strength" warn "HS512 secret of 40 bytes, shorter than the hash's 64" \
	"an HS512 secret shorter than 64 bytes warns"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$IT_DIR/rsa1024.pem" 2>/dev/null
openssl pkey -in "$IT_DIR/rsa1024.pem" -pubout -out "$IT_DIR/rsa1024.pub" 2>/dev/null
EVSTORE_JWT_ALGORITHM=RS256 EVSTORE_JWT_KEY_FILE=$IT_DIR/rsa1024.pub run_check "$GOOD"
expect_item "jwt key strength" fail "RS256 key of 1024 bits" "a 1024-bit RSA key fails"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$IT_DIR/rsa2048.pem" 2>/dev/null
openssl pkey -in "$IT_DIR/rsa2048.pem" -pubout -out "$IT_DIR/rsa2048.pub" 2>/dev/null
EVSTORE_JWT_ALGORITHM=RS256 EVSTORE_JWT_KEY_FILE=$IT_DIR/rsa2048.pub run_check "$GOOD"
expect_item "jwt key strength" pass "RS256, 2048-bit key" "a 2048-bit RSA key passes"

# --- definitions and subscriptions ---------------------------------------------------
mkdir -p "$IT_DIR/badagg"
echo '{"aggregate_type": "Order", "events": ' >"$IT_DIR/badagg/order.json"
EVSTORE_AGGREGATES_DIR=$IT_DIR/badagg run_check "$GOOD"
expect_item "aggregate definitions" fail "order.json" "a broken aggregate definition fails, naming its file"
printf -- "-- on Added\nINSERT INTO proj VALUES ('x);\n" >"$IT_DIR/broken.sql"
conf broken "[subscription broken]
handler = sql
sql_file = $IT_DIR/broken.sql"
run_check "$IT_DIR/broken.conf"
expect_item subscriptions fail "broken.sql" "an SQL file that does not parse fails, naming it"
sed 's/proj\.n + 1/proj.nn + 1/' "$IT_DIR/proj.sql" >"$IT_DIR/typo.sql"
conf typo "[subscription typo]
handler = sql
sql_file = $IT_DIR/typo.sql"
run_check "$IT_DIR/typo.conf"
expect_item "projection typo" fail "typo.sql: '-- on Added', statement 1: column proj.nn does not exist" \
	"a projection PostgreSQL cannot prepare fails, naming the statement and the server's reason"
expect_item subscriptions pass "^1, their SQL files read" "... while its file reads"
check "... and nothing is left prepared in the checking session" test "$(item projections status)" = ""
run_check "$IT_DIR/evstore.conf"
expect_item subscriptions warn "no \[subscription NAME\]" "no subscription at all warns"

# --- the database ---------------------------------------------------------------------
EVSTORE_DATABASE_URL="host=$IT_DIR/nowhere user=evstore dbname=postgres" run_check "$GOOD"
expect_item database fail "nowhere" "a database that does not answer fails"
check "... with no server item reported after it" test -z "$(item fsync status)"
psql_q -c "CREATE DATABASE fresh" >/dev/null
EVSTORE_DATABASE_URL="host=$IT_DIR/pg user=evstore dbname=fresh" run_check "$GOOD"
expect_item schema fail "at version 0, this build needs [0-9]+: .*evstorectl migrate" "an unmigrated database fails: run migrate"
check "... and its subscriptions are not looked up" test -z "$(item "runner heartbeat proj" status)"

# --- TLS ------------------------------------------------------------------------------
EVSTORE_DATABASE_URL="host=192.0.2.10 connect_timeout=1 user=evstore dbname=postgres" run_check "$GOOD"
expect_item tls fail "^sslmode prefer to 192.0.2.10: .*sslmode=verify-full" "a remote database without sslmode fails"
EVSTORE_DATABASE_URL="postgresql://evstore@db.example:5432/postgres?sslmode=require&connect_timeout=1" run_check "$GOOD"
expect_item tls warn "^sslmode require to db.example: .*not checked" "sslmode=require to a remote host warns"
EVSTORE_DATABASE_URL="postgresql://evstore@localhost,db.example/postgres?sslmode=verify-full&connect_timeout=1" run_check "$GOOD"
expect_item tls pass "verify-full to db.example" "verify-full passes, also for the remote host of a list"
run_check "$GOOD"
expect_item tls pass "^local database" "the unix socket needs no TLS"

# --- usage ------------------------------------------------------------------------------
"$CTL_BIN" --config "$GOOD" check --bogus >/dev/null 2>"$IT_DIR/usage.err"
check "an unknown option is a usage error (exit 2)" test $? = 2 -a -n "$(grep "unknown option '--bogus'" "$IT_DIR/usage.err")"
EVSTORE_HTTP_WORKER=4 run_check "$GOOD"
expect_item environment warn "^EVSTORE_HTTP_WORKER names no configuration key .*EVSTORE_HTTP_WORKERS" \
	"a mistyped EVSTORE_ variable warns, naming the key it resembles"
"$CTL_BIN" --config "$IT_DIR/missing.conf" check >"$IT_DIR/missing.out" 2>&1
check "a missing configuration file: FAIL configuration, exit 1" \
	test $? = 1 -a -n "$(grep '^evstorectl: FAIL configuration: ' "$IT_DIR/missing.out")"

runner_logs_clean
# ([log] target = stderr: the database layer's records of the failures above)
check "evstorectl ran clean under the sanitizers" test -z "$(grep -E 'Sanitizer|runtime error' "$IT_DIR/check.err")"
check "... and logged the failures it met ([log] target = stderr)" \
	grep -q '"event":"db_connect_failed"' "$IT_DIR/check.err"
it_finish
