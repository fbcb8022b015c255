#!/usr/bin/env bash
# The Debian package, installed for real: packaging/build-deb builds the
# .deb (lintian: no errors), `apt-get install ./evstore_*.deb` installs it,
# and then the files, the evstore user, the permissions and the units are
# checked. The services start from the installed units as systemd would
# start them (systemd is not PID 1 here): the pool with
# systemd-socket-activate on the socket unit's ListenStream, running the
# service's ExecStart as its User with its UMask, the runner from its
# ExecStart with NOTIFY_SOCKET and WATCHDOG_USEC; both configured through
# /etc/evstore/evstore.conf for this test's PostgreSQL. A smoke test runs
# through nginx including the installed /etc/nginx/snippets/evstore-*.conf
# and through Apache including the installed conf-available/evstore.conf
# (both on 127.0.0.1, their workers as www-data, the socket's group); then
# reload (the units' ExecReload), stop, reinstall keeping an edited
# conffile, remove, purge, and nothing of the package is left but the
# evstore user. The machine is left without the package even on failure.
#
# Needs root, apt-get and dpkg-buildpackage (packaging/deps.sh test).
# The sandboxing directives of the units need systemd itself: they are
# checked by systemd-analyze verify only.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || it_skip "installing a package needs root"
it_require apt-get dpkg-buildpackage dh fakeroot lintian setpriv systemd-socket-activate nginx
[ -x "$STACK_APACHE_BIN" ] && [ -f "$STACK_APACHE_MODULES/mod_proxy_fcgi.so" ] ||
	it_skip "apache2 with mod_proxy_fcgi is not installed (packaging/deps.sh test installs it)"
getent group www-data >/dev/null || it_skip "no www-data group (the socket's group)"
case $(dpkg-query -W -f '${db:Status-Status}' evstore 2>/dev/null) in
"" | not-installed) ;;
*) it_skip "the evstore package is already on this machine: this test installs and purges its own" ;;
esac
[ -e /etc/evstore ] && it_skip "/etc/evstore exists without the package: this test would remove it"

# One package test on this machine at a time: the package is machine-wide.
exec 9>/run/lock/evstore-test-package.lock
flock -w 1200 9 || it_skip "another test_package.sh held the lock for 20 minutes"

IT_NO_SERVERS=1
it_start

UNITDIR=/lib/systemd/system
CONF=/etc/evstore/evstore.conf
INSTALLED=
pkg_cleanup() {
	local p
	for p in "$IT_DIR"/runner.pid; do
		[ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
	stack_nginx_stop
	stack_apache_stop
	stack_fcgi_stop
	if [ -n "$INSTALLED" ] && [ -n "$(dpkg-query -W -f '${db:Status-Status}' evstore 2>/dev/null |
		grep -vx not-installed)" ]; then
		echo "# cleanup: purging the evstore package"
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq evstore >"$IT_DIR/cleanup-purge.log" 2>&1 ||
			dpkg --purge evstore >>"$IT_DIR/cleanup-purge.log" 2>&1
	fi
	rm -f /run/evstore/fcgi.sock
}
trap 'rc=$?; pkg_cleanup; (exit $rc); it_cleanup' EXIT

# --- build ----------------------------------------------------------------------
# EVSTORE_TEST_DEB=FILE installs that .deb instead (while working on this
# test: a build takes minutes).
mkdir -p "$IT_DIR/deb"
if [ -n "${EVSTORE_TEST_DEB:-}" ]; then
	cp "$EVSTORE_TEST_DEB" "$IT_DIR/deb/"
	echo "# EVSTORE_TEST_DEB: not building, installing $EVSTORE_TEST_DEB"
elif "$IT_SRCDIR/packaging/build-deb" "$IT_DIR/deb" >"$IT_DIR/build-deb.log" 2>&1; then
	ok "build-deb builds the package, lintian reports no error"
else
	not_ok "build-deb builds the package, lintian reports no error" "$(tail -n 30 "$IT_DIR/build-deb.log")"
fi
touch "$IT_DIR/build-deb.log"
sed -n 's/^== lintian: /# lintian: /p' "$IT_DIR/build-deb.log"
grep -E '^[EW]: ' "$IT_DIR/build-deb.log" | sed 's/^/#   /'
DEB=$(ls "$IT_DIR"/deb/evstore_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || { echo "Bail out! no evstore_<version>_<arch>.deb in $IT_DIR/deb"; exit 1; }
check "the file is named evstore_<version>_<arch>.deb" \
	test "$(basename "$DEB")" = "evstore_$(dpkg-deb -f "$DEB" Version)_$(dpkg-deb -f "$DEB" Architecture).deb"

# --- install --------------------------------------------------------------------
INSTALLED=1
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold "$@"; }
if apt_get install "$DEB" >"$IT_DIR/install.log" 2>&1; then
	ok "apt-get install ./$(basename "$DEB")"
else
	not_ok "apt-get install ./$(basename "$DEB")" "$(tail -n 20 "$IT_DIR/install.log")"
	echo "Bail out! the package did not install"; exit 1
fi
dpkg -L evstore | sort >"$IT_DIR/files.txt"

for f in /usr/sbin/evstore-fcgi /usr/sbin/evstore-runner /usr/bin/evstorectl; do
	check "$f is installed and executable" test -x "$f"
done
for m in man1/evstorectl.1 man5/evstore.conf.5 man8/evstore-fcgi.8 man8/evstore-runner.8; do
	check "man page $m" test -f "/usr/share/man/$m.gz"
done
for f in $CONF /etc/nginx/snippets/evstore-upstream.conf /etc/nginx/snippets/evstore-locations.conf \
	/etc/nginx/snippets/evstore-site.conf /etc/apache2/conf-available/evstore.conf \
	/etc/syslog-ng/conf.d/evstore.conf /etc/logrotate.d/evstore; do
	check "$f is installed and a conffile" grep -qxF "$f" <(dpkg-query -W -f '${Conffiles}\n' evstore | awk '{print $1}')
done
for d in /etc/evstore/aggregates.d /etc/evstore/projections; do
	check "$d exists" test -d "$d"
done
for f in $UNITDIR/evstore-fcgi.socket $UNITDIR/evstore-fcgi.service $UNITDIR/evstore-runner.service \
	/usr/lib/tmpfiles.d/evstore.conf /usr/lib/sysusers.d/evstore.conf \
	/usr/share/doc/evstore/copyright /usr/share/evstore/haproxy/evstore.cfg; do
	check "$f is installed" test -f "$f"
done
# (Redirections go inside functions: on a check line they would take its TAP line.)
exists_glob() { compgen -G "$1" >/dev/null; }
check "the OpenAPI file is in the docs" exists_glob "/usr/share/doc/evstore/openapi.yaml*"
check "the sample configuration is in the docs" exists_glob "/usr/share/doc/evstore/examples/evstore.conf*"
check "the Apache conf is the mod_proxy_fcgi one, with CGIPassAuth" \
	grep -q '^ *CGIPassAuth On' /etc/apache2/conf-available/evstore.conf

# The user, and the modes the package promises.
user_exists() { getent passwd evstore >/dev/null; }
check "the system user evstore exists" user_exists
uid=$(id -u evstore 2>/dev/null || echo 99999)
check "... with a system uid ($uid)" test "$uid" -lt 1000
check "... in its own group" test "$(id -gn evstore 2>/dev/null)" = evstore
check "... without a login shell" grep -qE '/(nologin|false)$' <(getent passwd evstore)
perm() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
check "$CONF is 0640 root:evstore ($(perm $CONF))" test "$(perm $CONF)" = "640 root:evstore"
check "/var/log/evstore is 0750 root:adm ($(perm /var/log/evstore))" test "$(perm /var/log/evstore)" = "750 root:adm"
check "/run/evstore is made by tmpfiles.d, 0755 evstore:evstore ($(perm /run/evstore))" \
	test "$(perm /run/evstore)" = "755 evstore:evstore"
check "no binary is setuid or world-writable" test -z "$(find /usr/sbin/evstore-* /usr/bin/evstorectl -perm /6002)"

# Nothing enabled, nothing started: there is no database yet.
check "no unit is enabled" test -z "$(find /etc/systemd/system -name 'evstore*' 2>/dev/null)"
running() { local p; for p in /proc/[0-9]*; do [[ $(readlink "$p/exe" 2>/dev/null) == /usr/sbin/evstore-* ]] && return 0; done; return 1; }
not_running() { ! running; }
check "no evstore daemon runs after the install" not_running

if command -v systemd-analyze >/dev/null; then
	man=yes
	command -v man >/dev/null || man=no # Documentation= is checked with man(1)
	if systemd-analyze verify --man=$man $UNITDIR/evstore-fcgi.socket $UNITDIR/evstore-fcgi.service \
		$UNITDIR/evstore-runner.service >"$IT_DIR/verify.log" 2>&1 && ! grep -q evstore "$IT_DIR/verify.log"; then
		ok "systemd-analyze verify accepts the installed units"
	else
		not_ok "systemd-analyze verify accepts the installed units" "$(head -n 20 "$IT_DIR/verify.log")"
	fi
fi
if command -v syslog-ng >/dev/null; then
	check "syslog-ng accepts its configuration with the installed snippet" syslog-ng --syntax-only
fi
if command -v logrotate >/dev/null; then
	check "logrotate accepts /etc/logrotate.d/evstore" logrotate -d /etc/logrotate.d/evstore
fi

# --- configure: this test's PostgreSQL, a key, the example aggregate ------------------
psql_q -c "CREATE DATABASE evstore_pkg" >/dev/null
head -c 48 /dev/urandom | base64 | tr -d '\n' >/etc/evstore/jwt.key
chown evstore:evstore /etc/evstore/jwt.key
chmod 0600 /etc/evstore/jwt.key
example=$(ls /usr/share/doc/evstore/examples/order.json* | head -n 1)
case "$example" in
*.gz) zcat "$example" >/etc/evstore/aggregates.d/order.json ;;
*) cp "$example" /etc/evstore/aggregates.d/order.json ;;
esac
# Edit the conffile in place, as an admin would: the url under [database],
# the key under [jwt]; logs to stderr (this test's files), a short drain.
url="host=$IT_DIR/pg user=evstore dbname=evstore_pkg"
sed -i -e "s|^;url =\$|url = $url|" -e 's|^;key_file =$|key_file = /etc/evstore/jwt.key|' \
	-e 's|^;target = syslog$|target = stderr|' -e 's|^;drain_delay = 5$|drain_delay = 1|' $CONF
check "$CONF now names the database" grep -qxF "url = $url" $CONF
# The installed evstorectl as an admin runs it: nothing from this test's
# environment (EVSTORE_DATABASE_URL would win over the file).
clean_env() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
migrate_as_evstore() {
	clean_env runuser -u evstore -- /usr/bin/evstorectl migrate >"$IT_DIR/pkg-migrate.log" 2>&1
}
check "evstorectl migrate, as the user evstore, builds the schema" migrate_as_evstore
check "... in the configured database" \
	test "$(psql -X -At "$url" -c "SELECT to_regclass('evstore.events') IS NOT NULL" 2>/dev/null)" = t
W=$(clean_env /usr/bin/evstorectl token --sub pkg --scope "events:read events:write" 2>"$IT_DIR/token.err")
check "/usr/bin/evstorectl token mints a token with the installed configuration" test -n "$W"

# An upgrade (here a reinstall) keeps the edited conffile, and its mode.
apt_get install --reinstall "$DEB" >>"$IT_DIR/install.log" 2>&1
check "a reinstall keeps the edited conffile" grep -qxF "url = $url" $CONF
check "... at 0640 root:evstore" test "$(perm $CONF)" = "640 root:evstore"
check "... and starts nothing" not_running

# --- units: their values, from the installed files -----------------------------------
# unit_get FILE KEY: the last KEY= line's value (a later one overrides).
unit_get() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
# unit_env FILE: Environment= assignments, one per line.
unit_env() { sed -n 's/^Environment=//p' "$1" | xargs -n 1 2>/dev/null; }
# exec_line VALUE: an Exec*= value without systemd's prefixes (-@:+!).
exec_line() { sed -E 's/^[-@:+!]+//' <<<"$1"; }
SOCK=$(unit_get $UNITDIR/evstore-fcgi.socket ListenStream)
SOCK_USER=$(unit_get $UNITDIR/evstore-fcgi.socket SocketUser)
SOCK_GROUP=$(unit_get $UNITDIR/evstore-fcgi.socket SocketGroup)
SOCK_MODE=$(unit_get $UNITDIR/evstore-fcgi.socket SocketMode)
check "the socket unit listens on a path ($SOCK)" test "${SOCK:0:1}" = /
check "... its group is the web server's ($SOCK_GROUP)" test "$SOCK_GROUP" = www-data

# The notify socket systemd would give (lib.sh).
notify_listener_start
count_state() { [ "$(states "$1" | grep -cxF "$2")" -ge "$3" ]; }

# run_unit SERVICE [LAUNCHER...]: the service's ExecStart under its User,
# Group, UMask and Environment, with NOTIFY_SOCKET (and WATCHDOG_USEC from
# WatchdogSec); LAUNCHER (systemd-socket-activate ...) comes first, as
# systemd's socket would. Output in $IT_DIR/<service>.log; sets UNIT_PID.
run_unit() {
	local unit=$UNITDIR/$1 user group umask_ wd cmd
	shift
	user=$(unit_get "$unit" User) group=$(unit_get "$unit" Group) umask_=$(unit_get "$unit" UMask)
	wd=$(unit_get "$unit" WatchdogSec)
	read -r -a cmd <<<"$(exec_line "$(unit_get "$unit" ExecStart)")"
	local envs=(NOTIFY_SOCKET="$NOTIFY_SOCK") e
	[ -n "$wd" ] && envs+=(WATCHDOG_USEC=$((${wd%s} * 1000000)))
	while read -r e; do [ -n "$e" ] && envs+=("$e"); done < <(unit_env "$unit")
	(
		umask "${umask_:-0022}"
		exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" WATCHDOG_PID=$BASHPID "$@" \
			"$(command -v setpriv)" --reuid="${user:-root}" --regid="${group:-root}" --init-groups -- "${cmd[@]}"
	) >>"$IT_DIR/${unit##*/}.log" 2>&1 </dev/null &
	UNIT_PID=$!
}

# --- the pool: socket activation ----------------------------------------------------
# systemd-socket-activate passes only the variables named with -E.
sa_env=(-E NOTIFY_SOCKET="$NOTIFY_SOCK")
while read -r e; do [ -n "$e" ] && sa_env+=(-E "$e"); done < <(unit_env $UNITDIR/evstore-fcgi.service)
run_unit evstore-fcgi.service systemd-socket-activate -l "$SOCK" "${sa_env[@]}"
POOL=$UNIT_PID
echo "$POOL" >"$IT_DIR/fcgi.pid"
wait_for 10 test -S "$SOCK" || { echo "Bail out! systemd-socket-activate did not listen on $SOCK"; exit 1; }
# What systemd does to the socket it creates.
chown "${SOCK_USER:-root}:${SOCK_GROUP:-root}" "$SOCK"
chmod "${SOCK_MODE:-0666}" "$SOCK"
check "the socket is $SOCK_MODE ${SOCK_USER:-root}:$SOCK_GROUP" \
	test "$(stat -c '%a %U:%G' "$SOCK")" = "${SOCK_MODE#0} ${SOCK_USER:-root}:$SOCK_GROUP"
# The first connection starts the service, as socket activation does.
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()' "$SOCK"
if wait_for 30 count_state "$POOL" READY=1 1; then
	ok "the pool starts on the activated socket and says READY=1 (pid $POOL)"
else
	not_ok "the pool starts on the activated socket and says READY=1 (pid $POOL)" \
		"$(tail -n 20 "$IT_DIR/evstore-fcgi.service.log")"
fi
check "it runs as evstore" test "$(stat -c %U "/proc/$POOL" 2>/dev/null)" = evstore
status_names_workers() { states "$POOL" | grep -q '^STATUS=.*worker'; }
check "its STATUS= names its workers" wait_for 10 status_names_workers

# --- the runner -------------------------------------------------------------------------
run_unit evstore-runner.service
RUNNER=$UNIT_PID
echo "$RUNNER" >"$IT_DIR/runner.pid"
IT_PIDS+=("$RUNNER")
if wait_for 30 count_state "$RUNNER" READY=1 1; then
	ok "the runner starts from its ExecStart and says READY=1 (pid $RUNNER)"
else
	not_ok "the runner starts from its ExecStart and says READY=1 (pid $RUNNER)" \
		"$(tail -n 20 "$IT_DIR/evstore-runner.service.log")"
fi
check "it runs as evstore" test "$(stat -c %U "/proc/$RUNNER" 2>/dev/null)" = evstore
check "it pings the watchdog (WatchdogSec)" wait_for 40 count_state "$RUNNER" WATCHDOG=1 1

# --- nginx with the installed snippets ------------------------------------------------------
nginx_start() {
	local d=$IT_DIR/nginx port
	port=$(free_port)
	mkdir -p "$d"
	cp /etc/nginx/fastcgi_params "$d/fastcgi_params"
	# The shipped site, checked for syntax (nginx -t binds nothing).
	cat >"$d/site-test.conf" <<CONF
pid $d/nginx-t.pid;
error_log $d/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    include /etc/nginx/snippets/evstore-upstream.conf;
    include /etc/nginx/snippets/evstore-site.conf;
}
CONF
	check "nginx -t accepts the installed evstore-site.conf with the upstream snippet" \
		nginx -q -t -p "$d" -c "$d/site-test.conf" -e "$d/error.log"
	cat >"$d/nginx.conf" <<CONF
user www-data;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 256; }
http {
    access_log $d/access.log;
    include /etc/nginx/snippets/evstore-upstream.conf;
    server {
        listen 127.0.0.1:$port;
        include /etc/nginx/snippets/evstore-locations.conf;
    }
}
CONF
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>>"$d/error.log" || return 1
	wait_for 10 test -s "$d/nginx.pid" || return 1
	echo "$port" >"$d/port"
}
# --- Apache with the installed conf-available/evstore.conf ------------------------------------
apache_start() {
	local d=$IT_DIR/apache port m
	port=$(free_port)
	mkdir -p "$d/htdocs"
	{
		echo "ServerRoot $d"
		echo "ServerName 127.0.0.1"
		echo "DefaultRuntimeDir $d"
		echo "PidFile $d/apache.pid"
		echo "ErrorLog $d/error.log"
		echo "LogLevel warn"
		echo "Listen 127.0.0.1:$port"
		echo "User www-data"
		echo "Group www-data"
		for m in mpm_event authz_core authz_host proxy proxy_fcgi; do
			echo "LoadModule ${m}_module $STACK_APACHE_MODULES/mod_$m.so"
		done
		echo "CustomLog $d/access.log common"
		echo "DocumentRoot $d/htdocs"
		echo "Include /etc/apache2/conf-available/evstore.conf"
	} >"$d/httpd.conf"
	"$STACK_APACHE_BIN" -f "$d/httpd.conf" -k start 2>>"$d/error.log" || return 1
	wait_for 10 test -s "$d/apache.pid" || return 1
	echo "$port" >"$d/port"
}

# smoke FRONT: append, read, feed, a command, the health routes.
smoke() {
	local f=$1 id
	id=$(uuid)
	post_json "$W" "/v1/aggregates/Note/$id/events" '{"events":[{"event_type":"Written","payload":{"n":1}}]}'
	expect "$f: an append is 201" 201 .version 1
	auth_req "$W" GET "/v1/aggregates/Note/$id/events"
	expect "$f: the stream reads back" 200 .version 1 '.events[0].event_type' Written
	auth_req "$W" GET "/v1/events?limit=1000"
	expect "$f: the feed hands out the event" 200 "[.events[].aggregate_id]|index(\"$id\") != null" true
	id=$(uuid)
	post_json "$W" "/v1/aggregates/Order/$id/commands/create" '{"customer_id":"c-1","total":5}'
	expect "$f: a command on the installed example aggregate is 201" 201 .version 1
	auth_req "$W" GET "/v1/aggregates/Order/$id"
	expect "$f: the aggregate's state folds" 200 .state.customer_id c-1
	req GET "/v1/aggregates/Order/$id"
	expect "$f: the Authorization header matters (401 without it)" 401
	req GET /health/live
	expect "$f: /health/live" 200
	req GET /health/ready
	expect "$f: /health/ready" 200 .ready true
	req GET /health
	expect "$f: /health" 200 .details.database ok
}

if nginx_start; then
	ok "nginx starts with the installed snippets (workers as www-data)"
	IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/nginx/port")
	smoke nginx
else
	not_ok "nginx starts with the installed snippets (workers as www-data)" "$(tail -n 10 "$IT_DIR/nginx/error.log")"
fi
if apache_start; then
	ok "Apache starts with the installed conf-available/evstore.conf (children as www-data)"
	IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/apache/port")
	smoke apache
else
	not_ok "Apache starts with the installed conf-available/evstore.conf" "$(tail -n 10 "$IT_DIR/apache/error.log")"
fi

# --- reload: each unit's ExecReload, $MAINPID its main process ------------------------------
reload_unit() { # SERVICE PID
	local cmd
	cmd=$(exec_line "$(unit_get "$UNITDIR/$1" ExecReload)")
	cmd=${cmd//\$MAINPID/$2}
	cmd=${cmd//\$\{MAINPID\}/$2}
	# shellcheck disable=SC2086
	$cmd
}
check "the pool's ExecReload runs" reload_unit evstore-fcgi.service "$POOL"
check "the pool says RELOADING=1, then READY=1 again" wait_for 30 count_state "$POOL" READY=1 2
check "... in that order" test "$(states "$POOL" | grep -E '^(READY|RELOADING)=1$' | xargs)" = "READY=1 RELOADING=1 READY=1"
smoke "apache after the reload"
check "the runner's ExecReload runs" reload_unit evstore-runner.service "$RUNNER"
check "the runner says READY=1 again" wait_for 30 count_state "$RUNNER" READY=1 2

# --- stop: SIGTERM to the main process (KillMode=mixed) -------------------------------------
stack_nginx_stop
stack_apache_stop
stop_unit() { # PID SECONDS: SIGTERM, then its exit status once it is gone
	kill -TERM "$1"
	local deadline=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
	wait "$1"
}
timeout_of() { local t; t=$(unit_get "$UNITDIR/$1" TimeoutStopSec); echo "${t%s}"; }
check "the pool stops on SIGTERM within TimeoutStopSec, status 0" stop_unit "$POOL" "$(timeout_of evstore-fcgi.service)"
check "... after STOPPING=1" count_state "$POOL" STOPPING=1 1
rm -f "$IT_DIR/fcgi.pid" "$SOCK" # RemoveOnStop=yes
check "the runner stops on SIGTERM within TimeoutStopSec, status 0" stop_unit "$RUNNER" "$(timeout_of evstore-runner.service)"
check "... after STOPPING=1" count_state "$RUNNER" STOPPING=1 1
rm -f "$IT_DIR/runner.pid"
for log in "$IT_DIR/evstore-fcgi.service.log" "$IT_DIR/evstore-runner.service.log"; do
	if grep -qE '"level": *"(error|crit|alert|emerg)"|Sanitizer|runtime error' "$log" 2>/dev/null; then
		not_ok "$(basename "$log" .log) logged no error" "$(grep -m3 -E 'error|Sanitizer' "$log")"
	else
		ok "$(basename "$log" .log) logged no error"
	fi
done

# --- remove, then purge ---------------------------------------------------------------------------
ln -s ../conf-available/evstore.conf /etc/apache2/conf-enabled/evstore.conf 2>/dev/null && a2link=1 || a2link=
if apt_get remove evstore >"$IT_DIR/remove.log" 2>&1; then ok "apt-get remove evstore"; else
	not_ok "apt-get remove evstore" "$(tail -n 10 "$IT_DIR/remove.log")"; fi
check "remove takes the programs" test ! -e /usr/sbin/evstore-fcgi -a ! -e /usr/bin/evstorectl
check "remove keeps the configuration" grep -qxF "url = $url" $CONF
if apt_get purge evstore >"$IT_DIR/purge.log" 2>&1; then ok "apt-get purge evstore"; else
	not_ok "apt-get purge evstore" "$(tail -n 10 "$IT_DIR/purge.log")"; fi
check "dpkg knows the package no more" \
	test -z "$(dpkg-query -W -f '${db:Status-Status}' evstore 2>/dev/null | grep -vx not-installed)"
left=()
while read -r f; do
	# Directories shared with other packages (/etc/nginx/snippets, ...) stay.
	if [ -d "$f" ] && [[ $f != *evstore* ]]; then continue; fi
	[ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$IT_DIR/files.txt"
for f in /etc/evstore /var/log/evstore /run/evstore "$SOCK" /etc/apache2/conf-enabled/evstore.conf; do
	[ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done
left+=($(ls -d $UNITDIR/evstore* /etc/systemd/system/*/evstore* /etc/systemd/system/evstore* \
	/var/lib/systemd/deb-systemd-helper-enabled/*evstore* /var/lib/systemd/deb-systemd-helper-masked/*evstore* \
	2>/dev/null))
if [ ${#left[@]} -eq 0 ]; then ok "purge leaves nothing of the package behind"; else
	not_ok "purge leaves nothing of the package behind" "${left[@]}"; fi
[ -n "$a2link" ] && check "... not even the a2enconf link to the conf it shipped" test ! -L /etc/apache2/conf-enabled/evstore.conf
check "the evstore user stays (packaging/README.md says why)" user_exists
INSTALLED=

it_finish
