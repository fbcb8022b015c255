# lib.sh - what every integration test shares: a throw-away PostgreSQL, the
# evstore-fcgi pool and a real nginx using the shipped snippets, curl
# helpers and assertions. Source it, call it_start, write checks, call
# it_finish. Everything runs on 127.0.0.1 or unix sockets inside one
# temporary directory, removed on success and kept (its path printed) on
# failure.
#
# The output is TAP (`ok N - ...`, `not ok N - ...`, `1..N` at the end),
# which automake's tap-driver.sh counts under `make check`, plus the line
# `NAME: N passed, N failed` that tests/run-all.sh reads. A test whose
# prerequisites are not installed is skipped as a whole: `1..0 # SKIP why`
# and exit 77.
#
# Environment: EVSTORE_BUILDDIR (where the binaries are built, default
# the source tree), EVSTORE_KEEP=1 keeps the directory anyway, IT_FRONT the
# web server in front (the same tests run behind each):
#   nginx       nginx and the pool (the default)
#   apache      Apache mod_proxy_fcgi and the pool
#   fcgid, cgi  Apache starting evstore-fcgi itself (mod_fcgid, CGI); no pool

set -u

IT_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IT_BUILDDIR=${EVSTORE_BUILDDIR:-$IT_SRCDIR}
FCGI_BIN=$IT_BUILDDIR/src/fcgi/evstore-fcgi
CTL_BIN=$IT_BUILDDIR/src/ctl/evstorectl

IT_PASSED=0
IT_FAILED=0
IT_NAME=$(basename "$0" .sh)
IT_PIDS=()

# --- reporting ---------------------------------------------------------------
ok() { IT_PASSED=$((IT_PASSED + 1)); printf 'ok %d - %s\n' $((IT_PASSED + IT_FAILED)) "$*"; }
not_ok() {
	IT_FAILED=$((IT_FAILED + 1))
	printf 'not ok %d - %s\n' $((IT_PASSED + IT_FAILED)) "$1"
	shift
	[ $# -gt 0 ] && printf '#   %s\n' "$@"
	return 0
}
# check NAME COMMAND...: passes when the command succeeds.
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name" "command failed: $*"; fi; }

# it_skip REASON: this test cannot run here; says why and stops.
it_skip() { echo "1..0 # SKIP $*"; exit 77; }
# start_refused NAME EXPECTED: evstore-fcgi, started on $CONF, must exit 1
# at once (on $IT_DIR/refused.sock, which it must not leave), saying EXPECTED.
start_refused() {
	local out rc
	out=$(timeout 20 "$FCGI_BIN" --config "$CONF" --listen "$IT_DIR/refused.sock" --workers 1 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = 1 ] && printf '%s' "$out" | grep -qF -- "$2"; then ok "$1"
	else not_ok "$1" "exit $rc: $out"; fi
}
# it_require COMMAND...: skips the test unless every command is installed.
it_require() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || it_skip "$c not installed (packaging/deps.sh test installs it)"
	done
}

# --- the stack ---------------------------------------------------------------
STACK_SRCDIR=$IT_SRCDIR
STACK_BUILDDIR=$IT_BUILDDIR
STACK_PG_OPTIONS="-c fsync=off -c full_page_writes=off"
# The PostgreSQL server binaries: pg_config's, else the newest Debian's.
if [ -z "${PGBIN:-}" ] && command -v pg_config >/dev/null 2>&1 &&
	[ -x "$(pg_config --bindir 2>/dev/null)/initdb" ]; then
	PGBIN=$(pg_config --bindir)
fi
. "$IT_SRCDIR/examples/local-stack.sh"

pg_start() { stack_pg_start; }
pg_stop() { stack_pg_stop "$@"; }
psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 "$EVSTORE_DATABASE_URL" "$@"; }
# No load balancer watches the test stack, so its pool stops without the
# drain ([http] drain_delay; test_drain.sh starts its own pools for that).
fcgi_start() {
	EVSTORE_HTTP_DRAIN_DELAY=0 stack_fcgi_start "${IT_WORKERS:-2}" || return 1
	IT_FCGI_PID=$(cat "$IT_DIR/fcgi.pid")
}
fcgi_stop() { stack_fcgi_stop; }

# it_start: PostgreSQL, schema, key, configuration, the pool and nginx.
# IT_EXTRA_CONF is appended to the configuration; IT_NO_SERVERS=1 starts
# only PostgreSQL.
it_start() {
	local b
	for b in "$FCGI_BIN" "$CTL_BIN"; do
		[ -x "$b" ] || { echo "Bail out! $b is not built (make, or set EVSTORE_BUILDDIR)"; exit 1; }
	done
	[ -x "${PGBIN:-}/initdb" ] && [ -x "$PGBIN/pg_ctl" ] ||
		it_skip "the PostgreSQL server is not installed (packaging/deps.sh test installs it)"
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		it_skip "as root PostgreSQL runs as the user postgres, and there is none"
	fi
	it_require psql curl jq python3
	[ "${IT_NO_SERVERS:-}" = 1 ] || it_front_require
	IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evstore-it.XXXXXX")
	STACK_DIR=$IT_DIR
	chmod 755 "$IT_DIR"
	trap it_cleanup EXIT
	trap 'exit 130' INT TERM
	export EVSTORE_DATABASE_URL
	EVSTORE_DATABASE_URL=$(stack_database_url)
	export PGCONNECT_TIMEOUT=5
	STACK_LOG_LEVEL=${IT_LOG_LEVEL:-warning} stack_write_config "${IT_EXTRA_CONF:-}"
	stack_pg_start || exit 1
	stack_migrate || exit 1
	[ "${IT_PGBOUNCER:-}" = 1 ] && { pgbouncer_front transaction || exit 1; }
	[ "${IT_NO_SERVERS:-}" = 1 ] || it_front_start || exit 1
}

# pgbouncer_front MODE: pgbouncer (pool_mode MODE) on a free 127.0.0.1 port
# in front of the test's PostgreSQL; everything goes through it, psql too:
# EVSTORE_DATABASE_URL (which overrides the file's url) names it and
# EVSTORE_DATABASE_POOLING says MODE. IT_PGBOUNCER=1 makes it_start do this
# in transaction mode.
pgbouncer_front() {
	local dir=$IT_DIR/pgbouncer
	it_require /usr/sbin/pgbouncer
	PGBOUNCER_PORT=$(free_port)
	mkdir -p "$dir"
	printf '"evstore" ""\n' >"$dir/userlist.txt"
	cat >"$dir/pgbouncer.ini" <<INI
[databases]
postgres = host=$IT_DIR/pg dbname=postgres user=evstore

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = $1
max_client_conn = 500
default_pool_size = 8
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
	chown -R postgres "$dir"
	# pgbouncer refuses to run as root.
	setpriv --reuid=postgres --regid=postgres --init-groups /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini" ||
		{ echo "pgbouncer did not start" >&2; return 1; }
	wait_for 10 test -s "$dir/pgbouncer.pid" || return 1
	IT_PIDS+=("$(cat "$dir/pgbouncer.pid")")
	PGBOUNCER_URL="postgresql://evstore@127.0.0.1:$PGBOUNCER_PORT/postgres"
	export EVSTORE_DATABASE_URL=$PGBOUNCER_URL EVSTORE_DATABASE_POOLING=$1
}

# The front IT_FRONT names, and what it needs installed.
it_front_require() {
	case "${IT_FRONT:-nginx}" in
	nginx) it_require nginx ;;
	apache | fcgid | cgi)
		local m mods=proxy_fcgi
		[ "$IT_FRONT" = fcgid ] && mods=fcgid
		[ "$IT_FRONT" = cgi ] && mods=cgid
		[ -x "$STACK_APACHE_BIN" ] ||
			it_skip "$STACK_APACHE_BIN not installed (packaging/deps.sh test installs apache2)"
		for m in $mods; do
			[ -f "$STACK_APACHE_MODULES/mod_$m.so" ] ||
				it_skip "mod_$m not installed (packaging/deps.sh test installs it)"
		done ;;
	*) echo "Bail out! IT_FRONT=$IT_FRONT: expected nginx, apache, fcgid or cgi"; exit 1 ;;
	esac
}
# it_front_start: the pool (unless Apache starts evstore-fcgi itself) and
# the web server; sets IT_BASE.
it_front_start() {
	case "${IT_FRONT:-nginx}" in
	nginx)
		fcgi_start && stack_nginx_start || return 1
		IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/nginx/port") ;;
	apache)
		fcgi_start && stack_apache_start proxy_fcgi || return 1
		IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/apache/port") ;;
	fcgid | cgi)
		stack_apache_start "$IT_FRONT" || return 1
		IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/apache/port") ;;
	esac
}

it_cleanup() {
	local rc=$?
	[ -n "${IT_FINISHED:-}" ] || echo "Bail out! $IT_NAME stopped before its end (exit $rc)"
	stack_nginx_stop
	stack_apache_stop
	stack_fcgi_stop
	local p
	for p in "${IT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	stack_pg_stop immediate
	if [ "$IT_FAILED" -gt 0 ] || [ "$rc" -ne 0 ] || [ "${EVSTORE_KEEP:-}" = 1 ]; then
		echo "# kept $IT_DIR for inspection"
		if [ -s "$IT_DIR/fcgi.log" ] && grep -qE 'ERROR|Sanitizer|runtime error' "$IT_DIR/fcgi.log"; then
			echo "# evstore-fcgi log:"; grep -E -A30 'ERROR|Sanitizer|runtime error' "$IT_DIR/fcgi.log" | head -60 | sed 's/^/#   /'
		fi
		if [ -s "$IT_DIR/apache/error.log" ] && grep -qE ':(error|crit|alert|emerg)\]|Sanitizer|runtime error' "$IT_DIR/apache/error.log"; then
			echo "# Apache error log:"; grep -E ':(error|crit|alert|emerg)\]|Sanitizer|runtime error' "$IT_DIR/apache/error.log" | head -30 | sed 's/^/#   /'
		fi
	else
		rm -rf "$IT_DIR"
	fi
}

# it_finish: the summary line (read by tests/run-all.sh), the TAP plan and
# the exit status.
it_finish() {
	# A sanitizer report in the server log is a failure even if every
	# response looked right. The processes Apache started (fcgid, CGI)
	# report into its error log when they exit: stop it first.
	stack_apache_stop
	local log
	for log in "$IT_DIR/fcgi.log" "$IT_DIR/apache/error.log"; do
		if [ -s "$log" ] && grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$log"; then
			not_ok "evstore-fcgi ran clean under the sanitizers ($(basename "$log"))" \
				"$(grep -m3 -E 'Sanitizer|runtime error' "$log")"
		fi
	done
	echo "$IT_NAME: $IT_PASSED passed, $IT_FAILED failed"
	echo "1..$((IT_PASSED + IT_FAILED))"
	IT_FINISHED=1
	[ "$IT_FAILED" -eq 0 ]
}

# --- tokens -------------------------------------------------------------------
# token SUB SCOPE [TENANT] [TTL]
token() {
	local args=(--sub "$1" --scope "$2")
	[ -n "${3:-}" ] && args+=(--tenant "$3")
	[ -n "${4:-}" ] && args+=(--ttl "$4")
	"$CTL_BIN" --config "$IT_DIR/evstore.conf" token "${args[@]}"
}
uuid() { cat /proc/sys/kernel/random/uuid; }

# craft_token HEADER-JSON CLAIMS-JSON [KEY-FILE]: a token built by hand, to
# try what evstorectl would never mint (alg none, exp as a string, ...).
# Claims may use NOW for the current time (NOW+60, NOW-3600).
craft_token() {
	python3 - "$1" "$2" "${3:-$IT_DIR/hmac.key}" <<'PY'
import base64, hashlib, hmac, json, re, sys, time
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
header = json.loads(sys.argv[1])
now = int(time.time())
claims = json.loads(re.sub(r"NOW([+-]\d+)?", lambda m: str(now + int(m.group(1) or 0)), sys.argv[2]))
key = open(sys.argv[3], "rb").read()
if key.endswith(b"\n"): key = key[:-1]
signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
alg = header.get("alg", "")
digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(alg)
sig = b64(hmac.new(key, signing.encode(), digest).digest()) if digest else ""
print(signing + "." + sig)
PY
}

# raw_token HEADER-TEXT CLAIMS-TEXT: a token signed (HS256, the stack's
# key) over exactly these bytes, which craft_token's JSON round trip would
# change (a key given twice). NOW works as in craft_token.
raw_token() {
	python3 - "$1" "$2" "$IT_DIR/hmac.key" <<'PY'
import base64, hashlib, hmac, re, sys, time
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
claims = re.sub(r"NOW([+-]\d+)?", lambda m: str(now + int(m.group(1) or 0)), sys.argv[2])
key = open(sys.argv[3], "rb").read()
if key.endswith(b"\n"): key = key[:-1]
signing = b64(sys.argv[1].encode()) + "." + b64(claims.encode())
print(signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()))
PY
}

# --- HTTP ---------------------------------------------------------------------
# req METHOD PATH [curl args...]: the response lands in $STATUS, $BODY and the
# headers file $HDRS (header names in lower case via hdr NAME).
req() {
	local method=$1 path=$2; shift 2
	HDRS=$IT_DIR/last.headers
	BODY=$(curl -sS -g -X "$method" -D "$HDRS" -o - -w '\n%{http_code}' --max-time "${REQ_TIMEOUT:-40}" \
		"$@" "$IT_BASE$path" 2>"$IT_DIR/last.curlerr")
	STATUS=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
# auth_req TOKEN METHOD PATH [curl args...]
auth_req() { local t=$1; shift; local m=$1 p=$2; shift 2; req "$m" "$p" -H "Authorization: Bearer $t" "$@"; }
# post_json TOKEN PATH JSON [curl args...]
post_json() {
	local t=$1 p=$2 body=$3; shift 3
	req POST "$p" -H "Authorization: Bearer $t" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
hdr() { grep -i "^$1:" "$HDRS" | head -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
jq_body() { printf '%s' "$BODY" | jq -r "$@" 2>/dev/null; }

# expect NAME STATUS [JQ-EXPR EXPECTED]...: the last response had this status
# and each jq expression over its body prints the expected text.
expect() {
	local name=$1 want=$2; shift 2
	local problems=()
	[ "$STATUS" = "$want" ] || problems+=("status $STATUS, want $want")
	while [ $# -ge 2 ]; do
		local got
		got=$(jq_body "$1")
		[ "$got" = "$2" ] || problems+=("$1 = '$got', want '$2'")
		shift 2
	done
	if [ ${#problems[@]} -eq 0 ]; then ok "$name"; else not_ok "$name" "${problems[@]}" "body: ${BODY:0:400}"; fi
}
# expect_problem NAME STATUS SLUG: an RFC 9457 problem of that type.
expect_problem() {
	local name=$1 status=$2 slug=$3
	local ctype
	ctype=$(hdr Content-Type)
	expect "$name" "$status" .type "urn:evstore:$slug" .status "$status"
	case "$ctype" in
	application/problem+json*) ;;
	*) not_ok "$name: problem content type" "Content-Type: $ctype" ;;
	esac
}

# notify_listener_start: the NOTIFY_SOCKET systemd would give, as a
# listener that writes every datagram with its sender's pid to NOTIFY_LOG
# (JSON lines). Sets NOTIFY_SOCK and NOTIFY_LOG; any user may send to it.
notify_listener_start() {
	NOTIFY_SOCK=$IT_DIR/notify.sock
	NOTIFY_LOG=$IT_DIR/notify.jsonl
	python3 - "$NOTIFY_SOCK" "$NOTIFY_LOG" <<'PY' &
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
out = open(sys.argv[2], "a")
while True:
    msg, anc, _, _ = s.recvmsg(8192, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    out.write(json.dumps({"pid": pid, "state": msg.decode()}) + "\n")
    out.flush()
PY
	IT_PIDS+=($!)
	wait_for 10 test -S "$NOTIFY_SOCK" || { echo "Bail out! the notify listener did not start"; exit 1; }
	: >"$NOTIFY_LOG"
}
# states PID: every state line PID sent to the listener, one per line, in order.
states() { jq -r --argjson pid "$1" 'select(.pid == $pid) | .state' "$NOTIFY_LOG" | tr -s '\n'; }
