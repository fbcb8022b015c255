#!/usr/bin/env bash
# Failover under load, the established way: three PostgreSQL nodes run by
# Patroni in synchronous mode (one etcd member), two evstore hosts (pool and
# nginx each) behind HAProxy, configured with the cluster's libpq multi-host
# URL and target_session_attrs=read-write, and a runner keeping a SQL
# projection. Four clients append through HAProxy, each event with its own
# event_id, retrying a 502, a 503 or a lost connection with the same id.
#
#   1. the primary's host is lost (Patroni and PostgreSQL killed with
#      SIGKILL); Patroni promotes the synchronous standby; the old node
#      comes back and rejoins as a replica;
#   2. the same again, to the new primary;
#   3. a planned switchover (patronictl) under the same load.
#
# Then: every acknowledged event is stored exactly once, versions are
# contiguous, the projection equals the events, the runner applied nothing
# twice (the projection's primary key would have refused it: nothing in the
# DLQ). The time without acknowledged appends is printed for each failover.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/runner_lib.sh"
. "$(dirname "$0")/ha_lib.sh"
. "$(dirname "$0")/hosts_lib.sh"
it_require haproxy nginx
ha_require
IT_NO_SERVERS=1
it_start
# The private PostgreSQL it_start made is not used: the cluster replaces it.
stack_pg_stop immediate

ha_start
check "Patroni formed the cluster: a leader, a synchronous standby, a replica" ha_healthy 3
EVSTORE_DATABASE_URL=$HA_URL
sed -i "s|^url = .*|url = $HA_URL|" "$IT_DIR/evstore.conf"
"$CTL_BIN" --config "$IT_DIR/evstore.conf" migrate >"$IT_DIR/migrate.log" 2>&1
check "evstorectl migrate reaches the primary through the multi-host URL" test $? = 0
check "synchronous replication is on" test -n "$(psql_q -c "SHOW synchronous_standby_names")"
sync_item=$(env -u EVSTORE_BUILDDIR -u EVSTORE_KEEP -u EVSTORE_TEST_BUILDDIR -u EVSTORE_TEST_DATABASE_URL \
	"$CTL_BIN" --config "$IT_DIR/evstore.conf" check --json 2>/dev/null |
	jq -r '.items[] | select(.item == "replication") | "\(.status): \(.message)"')
check "evstorectl check passes the replication ($sync_item)" grep -q '^pass: 2 standbys, 1 synchronous' <<<"$sync_item"

# --- the projection and its runner -----------------------------------------------
psql_q -c "CREATE TABLE failover_proj (event_id uuid PRIMARY KEY, aggregate_id uuid NOT NULL, version int NOT NULL)" >/dev/null
cat >"$IT_DIR/proj.sql" <<'SQL'
-- on Tick
INSERT INTO failover_proj VALUES (($1::jsonb->>'event_id')::uuid, ($1::jsonb->>'aggregate_id')::uuid,
	($1::jsonb->>'version')::int);
-- truncate
TRUNCATE failover_proj;
SQL
conf runner "[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql
aggregate_types = Load"
start_runner runner runner.log

# --- two hosts behind HAProxy, and the load ------------------------------------------
host_start a || { echo "Bail out! host a did not start"; exit 1; }
host_start b || { echo "Bail out! host b did not start"; exit 1; }
haproxy_start a b
LOAD_MAX=5000 load_start "$(token failover "events:write")" 1
check "the load runs through HAProxy" wait_for 30 acked_over 40

# outage T0 T1: the longest time without an acknowledged append between
# T0 (the fault) and T1 (appends seen again); requests that committed just
# before the fault are still being answered when it starts.
outage() {
	sort -n -k2 "$IT_DIR/acked.txt" | awk -v t0="$1" -v t1="$2" '
		NR > 1 && $2 > t0 && prev < t1 && $2 - prev > gap { gap = $2 - prev }
		{ prev = $2 } END { printf "%.1f", gap }'
}
leader_is_not() { local l; l=$(ha_leader); [ -n "$l" ] && [ "$l" != "$1" ]; }
# ready_is STATUS: host a's /health/ready, asked past HAProxy, answers STATUS.
ready_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(host_port a)/health/ready")" = "$1" ]; }

# --- two failovers ---------------------------------------------------------------------
failover() { # ROUND
	local old n t0
	old=$(ha_leader)
	n=$(acked)
	t0=$(date +%s.%N)
	ha_crash "$old" 2>/dev/null
	check "failover $1: without a primary, a host is not ready (503)" wait_for 20 ready_is 503
	check "failover $1: n$old's host is lost; Patroni promotes another node" wait_for 60 leader_is_not "$old"
	check "failover $1: with the new primary the host is ready again" wait_for 30 ready_is 200
	check "failover $1: appends are acknowledged again (on n$(ha_leader))" wait_for 60 acked_over $((n + 40))
	OUTAGES+=("$(outage "$t0" "$(date +%s.%N)")")
	ok "failover $1: ${OUTAGES[-1]} s without an acknowledged append"
	ha_node_start "$old"
	check "failover $1: n$old rejoins as a replica" wait_for 120 ha_healthy 3
}
OUTAGES=()
failover 1
failover 2

# --- a planned switchover -----------------------------------------------------------------
old=$(ha_leader)
target=$(ha_list | jq -r '.[] | select(.Role == "Sync Standby") | .Member' | head -n 1)
n=$(acked)
t0=$(date +%s.%N)
patronictl -c "$HA_DIR/n1.yml" switchover --leader "n$old" --candidate "$target" --force \
	>"$IT_DIR/switchover.log" 2>&1
check "switchover: patronictl moves the primary to $target" wait_for 60 leader_is_not "$old"
check "switchover: appends go on" wait_for 60 acked_over $((n + 40))
OUTAGES+=("$(outage "$t0" "$(date +%s.%N)")")
ok "switchover: ${OUTAGES[-1]} s without an acknowledged append"
check "switchover: the old primary follows as a replica" wait_for 120 ha_healthy 3

load_stop

# --- nothing lost, nothing doubled ------------------------------------------------------
load_failures_none
check "only 502, 503 and lost connections were retried" \
	test "$(grep -cvE ': (502|503|error) ' "$IT_DIR/retried.txt" 2>/dev/null)" = 0
acked_stored_once psql_q
check "each stream's versions run 1..n without a gap" test "$(psql_q -c "
	SELECT count(*) FROM (SELECT aggregate_id, count(*) n, min(version) lo, max(version) hi
		FROM evstore.events WHERE aggregate_type = 'Load' GROUP BY 1) s
	WHERE lo <> 1 OR hi <> n")" = 0
projected() { sql_is 0 "SELECT count(*) FROM ((SELECT event_id, aggregate_id, version FROM evstore.events
	WHERE aggregate_type = 'Load' EXCEPT SELECT * FROM failover_proj)
	UNION ALL (SELECT * FROM failover_proj EXCEPT SELECT event_id, aggregate_id, version
	FROM evstore.events WHERE aggregate_type = 'Load')) d"; }
check "the projection ends equal to the events" wait_for 60 projected
check "the runner applied nothing twice: its DLQ is empty" sql_is 0 "SELECT count(*) FROM evstore.dlq"
check "the runner survived the failovers" kill -0 "$RPID"
echo "# unavailability: failover 1 ${OUTAGES[0]} s, failover 2 ${OUTAGES[1]} s, switchover ${OUTAGES[2]} s; $(acked) appends acknowledged"

stop_runner
for h in a b; do stack_stop_pidfile "$IT_DIR/$h/fcgi.pid" 10; done
ha_stop
runner_logs_clean
for h in a b; do
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$IT_DIR/$h/fcgi.log"; then
		not_ok "host $h's pool ran clean under the sanitizers" "$(grep -m3 -E 'Sanitizer|runtime error' "$IT_DIR/$h/fcgi.log")"
	fi
done
it_finish
