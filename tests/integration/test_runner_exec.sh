#!/usr/bin/env bash
# test_runner_exec.sh - exec handlers that misbehave cannot take the
# runner with them: a program that never reads an event bigger than a pipe
# runs into processing_timeout (retried, then parked) while the other
# subscriptions go on; SIGTERM ends the runner within shutdown_timeout even
# while it writes to such a program; a kill -9 of the runner leaves no
# program or child of one behind; and a program's environment holds only
# PATH, HOME, LANG, TZ and its subscription's env pairs.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/runner_lib.sh"
IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

psql_q -c "CREATE TABLE proj (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL)"
projection proj >"$IT_DIR/proj.sql"

# big_event: one event of about 100 KB (a pipe holds 64 KiB) of type Big.
big_event() {
	psql_q -c "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version,
		event_type, actor_id, occurred_at, payload, metadata)
		VALUES ('$NIL', gen_random_uuid(), 'Big', gen_random_uuid(), 1, 'Big', 'tester', now(),
		jsonb_build_object('pad', repeat('x', 100000)), '{}'); NOTIFY evstore_events" >/dev/null
}

# stuck.sh never reads its stdin; it starts a child, and both write their
# pids to stuck.sh.pids.
cat >"$IT_DIR/stuck.sh" <<'SH'
#!/bin/sh
echo $$ >>"$0.pids"
sleep 600 &
echo $! >>"$0.pids"
wait
SH
# envdump.sh writes its environment to envdump.sh.out, then answers ok.
cat >"$IT_DIR/envdump.sh" <<'SH'
#!/bin/sh
env >"$0.out"
while read -r line; do echo ok; done
SH
chmod +x "$IT_DIR/stuck.sh" "$IT_DIR/envdump.sh"
PIDS=$IT_DIR/stuck.sh.pids
two_pids() { [ "$(wc -l <"$PIDS" 2>/dev/null)" = 2 ]; }
none_alive() { # no pid of stuck.sh.pids is alive (zombies count as gone)
	local p
	for p in $(cat "$PIDS"); do
		[ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && return 1
	done
	return 0
}
# stopped_within SECONDS: the runner $RPID exits within SECONDS of a SIGTERM.
stopped_within() {
	kill -TERM "$RPID"
	for _ in $(seq $(($1 * 10))); do kill -0 "$RPID" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

STUCK="[subscription stuck]
handler = exec
command = $IT_DIR/stuck.sh
aggregate_types = Big
max_retries = 1
retry_initial_delay = 50ms
retry_max_delay = 100ms"
conf exec "$STUCK
processing_timeout = 500ms

[subscription proj]
handler = sql
sql_file = $IT_DIR/proj.sql

[subscription envdump]
handler = exec
command = $IT_DIR/envdump.sh
aggregate_types = Acct
env = FOO=bar GREETING=hello=world HOME=/srv/handler"

# The runner's environment holds secrets a program must never see.
SECRET=hunter2-secret
DATABASE_URL="$EVSTORE_DATABASE_URL password=$SECRET" PGPASSWORD=$SECRET \
	EVSTORE_JWT_AUDIENCE=$SECRET NOTIFY_SOCKET=$IT_DIR/no-such.sock start_runner exec exec.log
append 3 3
big_event
append 3 3

# --- a program that never reads ------------------------------------------------
check "a program that never reads a 100 KB event runs into processing_timeout" \
	wait_for 20 grep -q '"event":"exec_timeout"' "$IT_DIR/exec.log"
check "after max_retries the event is parked, the timeout as its error" wait_for 20 sql_is 1 \
	"SELECT count(*) FROM evstore.dlq WHERE subscription = 'stuck' AND event_type = 'Big' AND error LIKE '%processing_timeout%'"
check "the other subscriptions went on: the projection holds every event" wait_for 20 caught_up x proj
check "... and the other exec handler answered every event" wait_for 10 sql_is 0 \
	"SELECT count(*) FROM evstore.events e WHERE aggregate_type = 'Acct' AND NOT EXISTS (SELECT 1 FROM evstore.checkpoints c
	 WHERE c.subscription = 'envdump' AND (e.transaction_id, e.position) <= (c.transaction_id, c.position))"

# --- the environment of a program -----------------------------------------------
ENV_OUT=$IT_DIR/envdump.sh.out
sed 's/^/# env: /' "$ENV_OUT" 2>/dev/null | grep -v '^# env: PWD=\|^# env: SHLVL=\|^# env: _=' || true
check "the program gets the subscription's env pairs" \
	test "$(grep -cxE 'FOO=bar|GREETING=hello=world' "$ENV_OUT")" = 2
check "an env pair wins over the runner's own HOME" grep -qx 'HOME=/srv/handler' "$ENV_OUT"
check "the program gets the runner's PATH" grep -qx "PATH=$PATH" "$ENV_OUT"
check "no secret reaches the program" test -z "$(grep -e "$SECRET" "$ENV_OUT")"
check "no DATABASE_URL, PGPASSWORD, EVSTORE_* or NOTIFY_SOCKET" \
	test -z "$(grep -E '^(DATABASE_URL|PG[A-Z]*|EVSTORE_[A-Z_]*|NOTIFY_SOCKET)=' "$ENV_OUT")"
check "nothing but PATH, HOME, LANG, TZ, env's pairs and what sh sets itself" test -z \
	"$(cut -d= -f1 "$ENV_OUT" | grep -vxE 'PATH|HOME|LANG|TZ|FOO|GREETING|PWD|SHLVL|_|OLDPWD')"
check "SIGTERM stops the runner" stopped_within 10

# --- SIGTERM while the runner writes to a program that never reads -------------
conf hang "$STUCK
processing_timeout = 60s"
rm -f "$PIDS"
start_runner hang hang.log
wait_for 10 sql_is 1 "SELECT count(*) FROM evstore.checkpoints WHERE subscription = 'stuck'"
big_event
wait_for 10 two_pids
sleep 0.5 # the runner is in the write now
t0=$SECONDS
check "SIGTERM during a write the program never reads ends the runner within shutdown_timeout (10 s)" \
	stopped_within 10
check "... after $((SECONDS - t0)) s, with its shutdown record" grep -q '"event":"runner_shutdown"' "$IT_DIR/hang.log"
check "... and the program and its child are gone" wait_for 3 none_alive

# --- kill -9 of the runner -------------------------------------------------------
rm -f "$PIDS"
start_runner hang kill.log
wait_for 10 two_pids
sleep 0.3
kill -9 "$RPID"; wait "$RPID" 2>/dev/null
check "kill -9 of the runner: the program and its child die with it" wait_for 3 none_alive
for p in $(cat "$PIDS"); do kill -9 "$p" 2>/dev/null; done

runner_logs_clean
it_finish
