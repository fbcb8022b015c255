#!/usr/bin/env bash
# evstore-fcgi's other process modes: a socket on fd 0 (spawn-fcgi, a web
# server), systemd socket activation (LISTEN_FDS) and plain CGI.
. "$(dirname "$0")/lib.sh"
it_require cgi-fcgi spawn-fcgi
IT_NO_SERVERS=1
it_start
CONF=$IT_DIR/evstore.conf
T=$(token modes "events:read events:write")

# fcgi_get SOCKET METHOD URI [BODY]: one request with libfcgi's own client.
fcgi_call() {
	local sock=$1 method=$2 uri=$3 body=${4:-}
	printf '%s' "$body" | env -i REQUEST_METHOD="$method" REQUEST_URI="$uri" SERVER_PROTOCOL=HTTP/1.1 \
		CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} HTTP_AUTHORIZATION="Bearer $T" \
		cgi-fcgi -bind -connect "$sock" 2>&1 | tr -d '\r'
}

# fd 0: spawn-fcgi hands the socket over as standard input.
spawn-fcgi -n -s "$IT_DIR/spawn.sock" -- "$FCGI_BIN" --config "$CONF" >>"$IT_DIR/fcgi.log" 2>&1 &
SPAWN_PID=$!
IT_PIDS+=("$SPAWN_PID")
wait_for 10 test -S "$IT_DIR/spawn.sock"
ID=$(uuid)
out=$(fcgi_call "$IT_DIR/spawn.sock" POST "/v1/aggregates/Order/$ID/events" '{"events":[{"event_type":"Created","payload":{"via":"fd0"}}]}')
check "fd 0 mode: an append is 201" grep -q '^Status: 201' <<<"$out"
out=$(fcgi_call "$IT_DIR/spawn.sock" GET "/v1/aggregates/Order/$ID/events")
check "fd 0 mode: the stream reads back" grep -qE '"via": *"fd0"' <<<"$out"
out=$(fcgi_call "$IT_DIR/spawn.sock" GET "/health/live")
check "fd 0 mode: a second connection is served by the same process" grep -q '"alive":true' <<<"$out"
kill -TERM "$SPAWN_PID"; wait "$SPAWN_PID" 2>/dev/null
check "fd 0 mode: SIGTERM stops it" bash -c "! kill -0 $SPAWN_PID 2>/dev/null"

# systemd socket activation: the socket is fd 3, LISTEN_PID is our pid.
python3 - "$IT_DIR/activated.sock" "$FCGI_BIN" "$CONF" >>"$IT_DIR/fcgi.log" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(64)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execve(sys.argv[2], [sys.argv[2], "--config", sys.argv[3]], env)
PY
ACT_PID=$!
IT_PIDS+=("$ACT_PID")
wait_for 10 test -S "$IT_DIR/activated.sock"
sleep 0.3
out=$(fcgi_call "$IT_DIR/activated.sock" GET "/v1/aggregates/Order/$ID/events")
check "socket activation: requests are served on fd 3" grep -q '^Status: 200' <<<"$out"
kill -TERM "$ACT_PID"; wait "$ACT_PID" 2>/dev/null

# plain CGI: one request from the environment and standard input.
body='{"events":[{"event_type":"Updated","payload":{"via":"cgi"}}]}'
out=$(printf '%s' "$body" | env REQUEST_METHOD=POST REQUEST_URI="/v1/aggregates/Order/$ID/events" \
	GATEWAY_INTERFACE=CGI/1.1 CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} \
	HTTP_AUTHORIZATION="Bearer $T" "$FCGI_BIN" --config "$CONF" 2>>"$IT_DIR/fcgi.log" | tr -d '\r')
check "plain CGI: an append is 201 at version 2" grep -q '"version":2' <<<"$out"
check "plain CGI: the status line comes first" test "$(head -n 1 <<<"$out")" = "Status: 201 Created"
out=$(env REQUEST_METHOD=GET REQUEST_URI="/health/live" GATEWAY_INTERFACE=CGI/1.1 "$FCGI_BIN" --config "$CONF" </dev/null 2>>"$IT_DIR/fcgi.log" | tr -d '\r')
check "plain CGI: liveness" grep -q '"alive":true' <<<"$out"

# The pool refuses a bad configuration with a clear message.
printf '[jwt]\nalgorithm = HS999\n' >"$IT_DIR/bad.conf"
msg=$("$FCGI_BIN" --config "$IT_DIR/bad.conf" --listen "$IT_DIR/bad.sock" 2>&1 </dev/null); rc=$?
check "a bad configuration stops start-up with exit 1 ($rc)" test "$rc" = 1
check "and says what is wrong: $msg" grep -qi algorithm <<<"$msg"


# A mistyped [database] url is a configuration error naming the key, not a
# database called "postgresq://..." on the default socket.
msg=$(EVSTORE_DATABASE_URL="postgresq://evstore:secret@127.0.0.1/db" timeout 10 "$FCGI_BIN" --config "$CONF" \
	--listen "$IT_DIR/bad.sock" 2>&1 </dev/null); rc=$?
check "an unknown URL scheme stops start-up with exit 1 ($rc)" test "$rc" = 1
check "and names the key and the scheme: $msg" \
	grep -q "EVSTORE_DATABASE_URL: .*unknown URI scheme \"postgresq\"" <<<"$msg"
check "and does not show the password" test -z "$(grep secret <<<"$msg")"
sed "s|^url = \(.*\)|url = \1 sslmod=require|" "$CONF" >"$IT_DIR/badopt.conf"
msg=$(timeout 10 "$FCGI_BIN" --config "$IT_DIR/badopt.conf" --listen "$IT_DIR/bad.sock" 2>&1 </dev/null); rc=$?
check "an unknown connection option stops start-up with exit 1 ($rc)" test "$rc" = 1
check "and names the line, the key and the option: $msg" \
	grep -q "badopt.conf:[0-9]*: database.url: .*invalid connection option \"sslmod\"" <<<"$msg"
msg=$(timeout 10 "$(stack_runner_bin)" --config "$IT_DIR/badopt.conf" 2>&1 </dev/null); rc=$?
check "the runner refuses it too ($rc): $msg" test "$rc" = 1 -a -n "$(grep 'database.url: .*sslmod' <<<"$msg")"


# --- --check, like nginx -t ----------------------------------------------------
RUNNER=$(stack_runner_bin)
out=$("$FCGI_BIN" --config "$CONF" --check 2>&1); rc=$?
check "evstore-fcgi --check passes on a good stack ($rc)" test "$rc" = 0
for item in configuration "jwt keys" "aggregate definitions" database schema; do
	check "evstore-fcgi --check says what it checked: $item" grep -q "^evstore-fcgi: pass $item: " <<<"$out"
done
check "and ends with the verdict: $(tail -n 1 <<<"$out")" grep -q "^evstore-fcgi: check passed" <<<"$(tail -n 1 <<<"$out")"
out=$("$RUNNER" --config "$CONF" --check 2>&1); rc=$?
check "evstore-runner --check passes without subscriptions, with a warning ($rc)" \
	test "$rc" = 0 -a -n "$(grep '^evstore-runner: warn subscriptions: no \[subscription NAME\]' <<<"$out")"
{ cat "$CONF"; printf '[subscription lost]\nhandler = sql\nsql_file = %s/lost.sql\n' "$IT_DIR"; } >"$IT_DIR/lost.conf"
out=$("$RUNNER" --config "$IT_DIR/lost.conf" --check 2>&1); rc=$?
check "evstore-runner --check fails on a missing SQL file ($rc)" test "$rc" = 1
check "and names it in the verdict: $(tail -n 1 <<<"$out")" \
	grep -q "^evstore-runner: check failed: subscriptions: .*lost.sql" <<<"$(tail -n 1 <<<"$out")"
out=$(EVSTORE_HTTP_MAX_PAGES=5 "$FCGI_BIN" --config "$CONF" --check 2>&1); rc=$?
check "an unknown EVSTORE_ variable is a warning naming the closest key ($rc)" \
	test "$rc" = 0 -a -n "$(grep 'warn environment: EVSTORE_HTTP_MAX_PAGES .*EVSTORE_HTTP_MAX_PAGE?' <<<"$out")"
psql_q -c "alter schema evstore rename to evstore_away"
out=$("$FCGI_BIN" --config "$CONF" --check 2>&1); rc=$?
check "an unmigrated database fails the check ($rc)" test "$rc" = 1
check "saying what to run: $(grep schema <<<"$out")" grep -q "FAIL schema: at version 0, .*evstorectl migrate" <<<"$out"
out=$("$RUNNER" --config "$CONF" --check=prestart 2>&1); rc=$?
check "--check=prestart only warns about the schema, which the runner waits for ($rc)" \
	test "$rc" = 0 -a -n "$(grep 'warn schema: at version 0' <<<"$out")"
psql_q -c "alter schema evstore_away rename to evstore"
out=$(EVSTORE_DATABASE_URL="host=$IT_DIR/nowhere" "$FCGI_BIN" --config "$CONF" --check 2>&1); rc=$?
check "an unreachable database fails the check ($rc)" test "$rc" = 1 -a -n "$(grep 'FAIL database: ' <<<"$out")"
"$FCGI_BIN" --config "$CONF" --check=sometimes >/dev/null 2>&1
check "--check=MODE takes all or prestart" test $? = 2

# The systemd units check before they start, in the mode that lets the
# daemons wait for the database.
for unit in evstore-fcgi.service evstore-runner.service; do
	pre=$(grep '^ExecStartPre=' "$IT_BUILDDIR/packaging/systemd/$unit" | sed 's/^ExecStartPre=//')
	check "$unit checks before it starts: $pre" grep -q -- '--check=prestart$' <<<"$pre"
done

# --- the pool's start-up record: version, the socket it listens on, workers -----
VERSION=$("$FCGI_BIN" --version | awk 'NR == 1 {print $NF}')
# started_record LOG LISTEN WORKERS: LOG holds one pool_started record of
# this build's version with that listen address and worker count.
started_record() {
	[ "$(grep -h '^{' "$IT_DIR/$1" | jq -c --arg v "$VERSION" --arg l "$2" --argjson w "$3" \
		'select(.event == "pool_started" and .version == $v and .listen == $l and .workers == $w)' \
		2>/dev/null | wc -l)" = 1 ]
}
# pool_once LOG ARGS...: starts a pool logging notices, waits for its
# pool_ready record, stops it with SIGINT.
pool_once() {
	local log=$1 pid
	shift
	EVSTORE_LOG_LEVEL=notice "$FCGI_BIN" --config "$CONF" "$@" >"$IT_DIR/$log" 2>&1 </dev/null &
	pid=$!
	IT_PIDS+=("$pid")
	wait_for 10 grep -q '"event":"pool_ready"' "$IT_DIR/$log"
	kill -INT "$pid"; wait "$pid"
}
pool_once started-unix.log --listen "$IT_DIR/started.sock" --workers 3
check "the pool's start-up record names version $VERSION, the unix socket and 3 workers" \
	started_record started-unix.log "unix:$IT_DIR/started.sock" 3
PORT=$(free_port)
pool_once started-tcp.log --listen "127.0.0.1:$PORT" --workers 2
check "... and a TCP address as 127.0.0.1:$PORT" started_record started-tcp.log "127.0.0.1:$PORT" 2
python3 - "$IT_DIR/started-act.sock" "$FCGI_BIN" "$CONF" >"$IT_DIR/started-act.log" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(64)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), EVSTORE_LOG_LEVEL="notice")
os.execve(sys.argv[2], [sys.argv[2], "--config", sys.argv[3], "--workers", "2"], env)
PY
ACT_PID=$!
IT_PIDS+=("$ACT_PID")
wait_for 10 grep -q '"event":"pool_ready"' "$IT_DIR/started-act.log"
kill -INT "$ACT_PID"; wait "$ACT_PID" 2>/dev/null
check "... and a socket systemd handed over, by the path it is bound to" \
	started_record started-act.log "unix:$IT_DIR/started-act.sock" 2

# --- silent start-up problems, said out loud -------------------------------------
EVSTORE_JWT_KEYFILE=/x "$FCGI_BIN" --config "$CONF" --listen "$IT_DIR/env.sock" --workers 1 \
	>"$IT_DIR/env.log" 2>&1 </dev/null &
pid=$!
wait_for 10 test -S "$IT_DIR/env.sock"
kill -INT "$pid"; wait "$pid"
check "the pool warns about an unknown EVSTORE_ variable, naming the closest key" \
	grep -q '"event":"unknown_environment_variable".*"name":"EVSTORE_JWT_KEYFILE".*"closest_known":"EVSTORE_JWT_KEY_FILE"' "$IT_DIR/env.log"
"$RUNNER" --config "$CONF" >"$IT_DIR/idle.log" 2>&1 </dev/null &
pid=$!
wait_for 10 grep -q no_subscriptions "$IT_DIR/idle.log"
kill -TERM "$pid"; wait "$pid"
check "a runner without subscriptions warns" grep -q '"event":"no_subscriptions"' "$IT_DIR/idle.log"
# An HMAC secret the group may read stops start-up: whoever reads it mints tokens.
install -m 0640 "$IT_DIR/hmac.key" "$IT_DIR/open.key"
msg=$(EVSTORE_JWT_KEY_FILE=$IT_DIR/open.key timeout 10 "$FCGI_BIN" --config "$CONF" \
	--listen "$IT_DIR/open.sock" 2>&1 </dev/null); rc=$?
check "a group-readable secret stops start-up with exit 1 ($rc)" test "$rc" = 1
check "and names its mode: $msg" grep -q "mode 0640" <<<"$msg"

# --print-config masks a password whatever the spelling libpq decodes.
out=$(EVSTORE_DATABASE_URL='postgresql://u@h/db?pass%77ord=s3cret&sslpassword=k3y' \
	"$FCGI_BIN" --config "$CONF" --print-config 2>&1)
check "--print-config masks pass%77ord= and sslpassword=" \
	bash -c '! grep -qE "s3cret|k3y" <<<"$1" && grep -q "pass%77ord=\*\*\*" <<<"$1"' _ "$out"

it_finish
