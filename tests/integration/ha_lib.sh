# ha_lib.sh - PostgreSQL run the established highly available way, on this
# machine for the tests (source lib.sh first): one etcd member, three
# Patroni nodes in synchronous mode, each PostgreSQL on its own port of
# 127.0.0.1. Everything runs from $IT_DIR/ha and is stopped by PID.
#
# The Patroni configuration written here is the example doc/high-
# availability.md shows, with the timings tightened for a fast failover
# (ttl 8 s, loop_wait 1 s, retry_timeout 3 s: Patroni wants
# loop_wait + 2 x retry_timeout <= ttl).

ha_require() {
	it_require patroni patronictl etcd
	[ -x "${PGBIN:-}/pg_ctl" ] || it_skip "the PostgreSQL server is not installed"
}

# ha_start: etcd and three nodes; returns once a leader and two streaming
# replicas are up. Sets HA_URL (the libpq multi-host URL of the cluster).
ha_start() {
	HA_DIR=$IT_DIR/ha
	mkdir -p "$HA_DIR"
	chown postgres "$HA_DIR"
	HA_ETCD_PORT=$(free_port)
	local peer
	peer=$(free_port)
	etcd --name e1 --data-dir "$HA_DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$HA_ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$HA_ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "e1=http://127.0.0.1:$peer" >"$HA_DIR/etcd.log" 2>&1 </dev/null &
	HA_ETCD_PID=$!
	IT_PIDS+=("$HA_ETCD_PID")
	local hosts=()
	for i in 1 2 3; do
		eval "HA_PG_PORT_$i=$(free_port)"
		eval "HA_API_PORT_$i=$(free_port)"
		hosts+=("127.0.0.1:$(ha_pg_port "$i")")
	done
	HA_URL="postgresql://evstore@$(IFS=,; echo "${hosts[*]}")/evstore?target_session_attrs=read-write"
	for i in 1 2 3; do ha_write_config "$i"; done
	wait_for 20 curl -sf "http://127.0.0.1:$HA_ETCD_PORT/health" >/dev/null ||
		{ echo "Bail out! etcd did not start"; tail -n 20 "$HA_DIR/etcd.log"; exit 1; }
	for i in 1 2 3; do ha_node_start "$i"; done
	wait_for 90 ha_healthy 3 || { echo "Bail out! the cluster did not form"; ha_list; tail -n 30 "$HA_DIR"/n*.log; exit 1; }
	# The application's database and role (the superuser is evstore here,
	# as in the other tests' clusters).
	psql -X -q "$(ha_leader_url)" -c "CREATE DATABASE evstore" >/dev/null
}

ha_pg_port() { eval "echo \$HA_PG_PORT_$1"; }
ha_api_port() { eval "echo \$HA_API_PORT_$1"; }

# ha_write_config N: $HA_DIR/nN.yml.
ha_write_config() {
	local i=$1
	cat >"$HA_DIR/n$i.yml" <<YML
scope: evstore
name: n$i
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$(ha_api_port "$i")
  connect_address: 127.0.0.1:$(ha_api_port "$i")
etcd3:
  hosts: 127.0.0.1:$HA_ETCD_PORT
bootstrap:
  dcs:
    ttl: 8
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 200
        synchronous_commit: "on"
  initdb:
    - encoding: UTF8
    - data-checksums
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$(ha_pg_port "$i")
  connect_address: 127.0.0.1:$(ha_pg_port "$i")
  data_dir: $HA_DIR/n$i
  bin_dir: $PGBIN
  pgpass: $HA_DIR/pgpass$i
  authentication:
    superuser:
      username: evstore
      password: evstore
    replication:
      username: replicator
      password: replicator
    rewind:
      username: evstore
      password: evstore
  parameters:
    unix_socket_directories: $HA_DIR
tags:
  nofailover: false
  noloadbalance: false
YML
	chown postgres "$HA_DIR/n$i.yml"
}

# ha_node_start N: Patroni of node N (which starts its PostgreSQL).
ha_node_start() {
	setpriv --reuid=postgres --regid=postgres --init-groups patroni "$HA_DIR/n$1.yml" \
		>>"$HA_DIR/n$1.log" 2>&1 </dev/null &
	eval "HA_PATRONI_PID_$1=$!"
	IT_PIDS+=($!)
	# Killed on purpose later: no job notice from the shell.
	disown $!
}

# ha_list: patronictl's view of the cluster, as JSON lines.
ha_list() { patronictl -c "$HA_DIR/n1.yml" list -f json 2>/dev/null; }
# ha_healthy N: a leader, and N members running or streaming in all.
ha_healthy() {
	ha_list | jq -e --argjson n "$1" '
		(map(select(.Role == "Leader" and .State == "running")) | length) == 1 and
		(map(select(.State == "running" or .State == "streaming")) | length) == $n and
		(map(select(.Role == "Sync Standby")) | length) >= 1' >/dev/null 2>&1
}
# ha_leader: the leader's node number (empty while there is none).
ha_leader() { ha_list | jq -r '.[] | select(.Role == "Leader" and .State == "running") | .Member' 2>/dev/null | sed 's/^n//'; }
ha_leader_url() { echo "postgresql://evstore@127.0.0.1:$(ha_pg_port "$(ha_leader)")/postgres"; }

# ha_crash N: node N's host is lost: Patroni and PostgreSQL killed with
# SIGKILL (killing PostgreSQL alone, Patroni would restart it in place).
ha_crash() {
	local pm
	pm=$(head -n 1 "$HA_DIR/n$1/postmaster.pid" 2>/dev/null)
	kill -KILL "$(eval "echo \$HA_PATRONI_PID_$1")" 2>/dev/null
	[ -n "$pm" ] && kill -KILL "$pm" 2>/dev/null
	# The postmaster's children go with it; do not wait for them.
	return 0
}

# ha_stop: every node and etcd.
ha_stop() {
	local i pm
	for i in 1 2 3; do
		kill -TERM "$(eval "echo \${HA_PATRONI_PID_$i:-}")" 2>/dev/null
	done
	for i in 1 2 3; do
		for _ in $(seq 100); do kill -0 "$(eval "echo \${HA_PATRONI_PID_$i:-0}")" 2>/dev/null || break; sleep 0.1; done
		pm=$(head -n 1 "$HA_DIR/n$i/postmaster.pid" 2>/dev/null)
		[ -n "$pm" ] && kill -KILL "$pm" 2>/dev/null
	done
	kill -TERM "${HA_ETCD_PID:-0}" 2>/dev/null
	return 0
}
