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
