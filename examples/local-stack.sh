# local-stack.sh - run evstore on one machine without installing it: a
# private PostgreSQL on a unix socket, the evstore-fcgi pool and nginx on
# 127.0.0.1, all inside one directory ($STACK_DIR). The quick start and the
# integration tests both use it, so the tests exercise what a newcomer runs.
#
# Set before sourcing or calling: STACK_DIR (the directory), STACK_SRCDIR
# (the source tree, for the nginx snippets), STACK_BUILDDIR (where the
# binaries are). Functions report trouble on stderr and return non-zero.

STACK_SRCDIR=${STACK_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
STACK_BUILDDIR=${STACK_BUILDDIR:-$STACK_SRCDIR}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

stack_fcgi_bin() { echo "$STACK_BUILDDIR/src/fcgi/evstore-fcgi"; }
stack_ctl_bin() { echo "$STACK_BUILDDIR/src/ctl/evstorectl"; }
stack_runner_bin() { echo "$STACK_BUILDDIR/src/runner/evstore-runner"; }

# as_pg COMMAND...: initdb and postgres refuse to run as root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# wait_for SECONDS COMMAND...: polls the command every 100 ms.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}

# A TCP port on 127.0.0.1 that nothing listens on, picked by the kernel.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The connection string of the private PostgreSQL.
stack_database_url() { echo "host=$STACK_DIR/pg user=evstore dbname=postgres"; }

stack_pg_start() {
	mkdir -p "$STACK_DIR/pg"
	[ "$(id -u)" = 0 ] && chown postgres "$STACK_DIR/pg"
	if [ ! -d "$STACK_DIR/pg/data" ]; then
		as_pg "$PGBIN/initdb" -D "$STACK_DIR/pg/data" -A trust -U evstore -E UTF8 --no-sync \
			>"$STACK_DIR/pg/initdb.log" 2>&1 || { cat "$STACK_DIR/pg/initdb.log" >&2; return 1; }
	fi
	as_pg "$PGBIN/pg_ctl" -D "$STACK_DIR/pg/data" -w -t 30 -l "$STACK_DIR/pg/log" \
		-o "-k $STACK_DIR/pg -c listen_addresses= ${STACK_PG_OPTIONS:-} -c max_connections=200" \
		start >/dev/null || { tail -n 20 "$STACK_DIR/pg/log" >&2; return 1; }
}
# stack_pg_stop [fast|immediate]
stack_pg_stop() {
	[ -d "$STACK_DIR/pg/data" ] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$STACK_DIR/pg/data" -m "${1:-fast}" -w stop >/dev/null 2>&1 || true
}

# stack_write_config [EXTRA-INI]: an HMAC key and evstore.conf for the stack.
# Aggregate definitions come from $STACK_AGGREGATES_DIR (the quick start
# points it at examples/aggregates.d; unset: $STACK_DIR/aggregates.d, made
# empty here, since a configured directory must exist), unless EXTRA-INI
# has its own [aggregates] section.
stack_write_config() {
	[ -s "$STACK_DIR/hmac.key" ] || head -c 48 /dev/urandom | base64 | tr -d '\n' >"$STACK_DIR/hmac.key"
	chmod 600 "$STACK_DIR/hmac.key"
	[ -n "${STACK_AGGREGATES_DIR:-}" ] || mkdir -p "$STACK_DIR/aggregates.d"
	local aggregates="[aggregates]
dir = ${STACK_AGGREGATES_DIR:-$STACK_DIR/aggregates.d}"
	case "${1:-}" in *"[aggregates]"*) aggregates= ;; esac
	cat >"$STACK_DIR/evstore.conf" <<CONF
[database]
url = $(stack_database_url)
connect_timeout = 2

[jwt]
algorithm = HS256
key_file = $STACK_DIR/hmac.key

[log]
target = stderr
level = ${STACK_LOG_LEVEL:-warning}
$aggregates
${1:-}
CONF
}

stack_migrate() {
	"$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" migrate >"$STACK_DIR/migrate.log" 2>&1 ||
		{ cat "$STACK_DIR/migrate.log" >&2; return 1; }
}

# stack_fcgi_start [WORKERS]: the pre-forked pool on $STACK_DIR/fcgi.sock,
# of WORKERS workers, or as many as the configuration's [http] workers says
# (one per CPU when it says nothing); its pid lands in $STACK_DIR/fcgi.pid.
stack_fcgi_start() {
	"$(stack_fcgi_bin)" --config "$STACK_DIR/evstore.conf" --listen "$STACK_DIR/fcgi.sock" \
		${1:+--workers "$1"} >>"$STACK_DIR/fcgi.log" 2>&1 </dev/null &
	echo $! >"$STACK_DIR/fcgi.pid"
	wait_for 10 test -S "$STACK_DIR/fcgi.sock" ||
		{ echo "evstore-fcgi did not start:" >&2; cat "$STACK_DIR/fcgi.log" >&2; return 1; }
	# As root, Apache's children run as www-data: give that group the
	# socket (mode 0660), as the socket unit does in production.
	if [ "$(id -u)" = 0 ] && getent group www-data >/dev/null; then
		chgrp www-data "$STACK_DIR/fcgi.sock"
	fi
}
stack_fcgi_stop() { stack_stop_pidfile "$STACK_DIR/fcgi.pid" 10; }

# stack_stop_pidfile FILE SECONDS: SIGTERM to the process in FILE, then waits
# up to SECONDS for it to finish what it was doing and exit.
stack_stop_pidfile() {
	[ -s "$1" ] || return 0
	local pid
	pid=$(cat "$1")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq $(($2 * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$1"
}

# stack_runner_start: evstore-runner with the stack's configuration (its
# [subscription NAME] sections); its pid lands in $STACK_DIR/runner.pid.
stack_runner_start() {
	"$(stack_runner_bin)" --config "$STACK_DIR/evstore.conf" >>"$STACK_DIR/runner.log" 2>&1 </dev/null &
	echo $! >"$STACK_DIR/runner.pid"
	sleep 0.5
	kill -0 "$(cat "$STACK_DIR/runner.pid")" 2>/dev/null ||
		{ echo "evstore-runner did not start:" >&2; cat "$STACK_DIR/runner.log" >&2; return 1; }
}
# The runner drains and checkpoints within [runner] shutdown_timeout.
stack_runner_stop() { stack_stop_pidfile "$STACK_DIR/runner.pid" 15; }

# stack_nginx_start [PORT]: nginx on 127.0.0.1 with the shipped snippets;
# the port lands in $STACK_DIR/nginx/port.
stack_nginx_start() {
	local port=${1:-$(free_port)}
	mkdir -p "$STACK_DIR/nginx"
	# Relative includes resolve next to nginx.conf: bring the stock
	# fastcgi_params the snippets include.
	cp /etc/nginx/fastcgi_params "$STACK_DIR/nginx/fastcgi_params"
	# The shipped upstream names the production socket; point it at ours.
	# The locations snippet is included exactly as shipped.
	sed "s#unix:/run/evstore/fcgi.sock#unix:$STACK_DIR/fcgi.sock#" \
		"$STACK_SRCDIR/nginx/evstore-upstream.conf" >"$STACK_DIR/nginx/upstream.conf"
	cat >"$STACK_DIR/nginx/nginx.conf" <<CONF
user $(id -un);
worker_processes 2;
pid $STACK_DIR/nginx/nginx.pid;
error_log $STACK_DIR/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log $STACK_DIR/nginx/access.log;
    include $STACK_DIR/nginx/upstream.conf;
    server {
        listen 127.0.0.1:$port;
        include $STACK_SRCDIR/nginx/evstore-locations.conf;
    }
}
CONF
	nginx -p "$STACK_DIR/nginx" -c "$STACK_DIR/nginx/nginx.conf" -e "$STACK_DIR/nginx/error.log" \
		2>>"$STACK_DIR/nginx/error.log" || { cat "$STACK_DIR/nginx/error.log" >&2; return 1; }
	wait_for 10 test -s "$STACK_DIR/nginx/nginx.pid" || { cat "$STACK_DIR/nginx/error.log" >&2; return 1; }
	echo "$port" >"$STACK_DIR/nginx/port"
}
stack_nginx_stop() {
	[ -s "$STACK_DIR/nginx/nginx.pid" ] || return 0
	local pid
	pid=$(cat "$STACK_DIR/nginx/nginx.pid")
	kill -QUIT "$pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

# stack_apache_start [proxy_fcgi|fcgid|cgi] [PORT]: Apache 2.4 on 127.0.0.1
# with the shipped apache/evstore-<mode>.conf, its paths pointed at this
# stack: the pool's socket (proxy_fcgi, which needs stack_fcgi_start), or
# the built evstore-fcgi and evstore.conf (fcgid and cgi start it
# themselves). Everything Apache keeps lives in $STACK_DIR/apache; the port
# lands in $STACK_DIR/apache/port. As root, Apache's children run as
# www-data, which is then given the socket and the key (group www-data).
STACK_APACHE_BIN=${STACK_APACHE_BIN:-/usr/sbin/apache2}
STACK_APACHE_MODULES=${STACK_APACHE_MODULES:-/usr/lib/apache2/modules}
stack_apache_start() {
	local mode=${1:-proxy_fcgi} port=${2:-$(free_port)} dir=$STACK_DIR/apache
	local shipped modules user= v
	case "$mode" in
	proxy_fcgi) shipped=evstore-proxy-fcgi.conf; modules="proxy proxy_fcgi" ;;
	fcgid) shipped=evstore-fcgid.conf; modules="fcgid" ;;
	cgi) shipped=evstore-cgi.conf; modules="cgid alias env" ;;
	*) echo "stack_apache_start: unknown mode $mode (proxy_fcgi, fcgid or cgi)" >&2; return 2 ;;
	esac
	mkdir -p "$dir/fcgid"
	if [ "$(id -u)" = 0 ]; then
		user=www-data
		chown "$user" "$dir/fcgid"
		# fcgid and CGI processes run as www-data: the key is theirs, as
		# production would have it (a secret others can read is refused;
		# stack_fcgi_start gives www-data the socket).
		chown "$user" "$STACK_DIR/hmac.key" && chmod 600 "$STACK_DIR/hmac.key"
	fi
	# The shipped file, with the production paths pointed at this stack.
	sed -e "s#unix:/run/evstore/fcgi.sock#unix:$STACK_DIR/fcgi.sock#" \
		-e "s#/usr/sbin/evstore-fcgi#$(stack_fcgi_bin)#g" \
		-e "s#/etc/evstore/evstore.conf#$STACK_DIR/evstore.conf#g" \
		"$STACK_SRCDIR/apache/$shipped" >"$dir/evstore.conf"
	{
		echo "ServerRoot $dir"
		echo "ServerName 127.0.0.1"
		echo "DefaultRuntimeDir $dir"
		echo "PidFile $dir/apache.pid"
		echo "ErrorLog $dir/error.log"
		echo "LogLevel warn"
		echo "Listen 127.0.0.1:$port"
		[ -n "$user" ] && printf 'User %s\nGroup %s\n' "$user" "$user"
		for m in mpm_event authz_core authz_host $modules; do
			echo "LoadModule ${m}_module $STACK_APACHE_MODULES/mod_$m.so"
		done
		echo "LogFormat \"%h %t \\\"%r\\\" %>s %b %D\" timed"
		echo "CustomLog $dir/access.log timed"
		echo "DocumentRoot $dir/htdocs"
		echo "<Directory $dir/htdocs>"
		echo "    Require all granted"
		echo "</Directory>"
		echo "<Directory />"
		echo "    Require all denied"
		echo "</Directory>"
		case "$mode" in
		fcgid)
			echo "FcgidIPCDir $dir/fcgid"
			echo "FcgidProcessTableFile $dir/fcgid/shm"
			# The sanitizers' settings reach the processes fcgid starts
			# (their reports go to error.log).
			for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
				[ -n "${!v:-}" ] && echo "FcgidInitialEnv $v \"${!v}\""
			done ;;
		cgi)
			echo "ScriptSock $dir/cgid.sock"
			for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
				[ -n "${!v:-}" ] && echo "PassEnv $v"
			done ;;
		esac
		echo "Include $dir/evstore.conf"
	} >"$dir/httpd.conf"
	mkdir -p "$dir/htdocs"
	"$STACK_APACHE_BIN" -f "$dir/httpd.conf" -k start 2>>"$dir/error.log" ||
		{ cat "$dir/error.log" >&2; return 1; }
	wait_for 10 test -s "$dir/apache.pid" || { cat "$dir/error.log" >&2; return 1; }
	echo "$port" >"$dir/port"
}
# Waits for Apache's children too: processes fcgid or CGI started must have
# written their last words (sanitizer reports) to error.log before it is read.
stack_apache_stop() {
	[ -s "$STACK_DIR/apache/apache.pid" ] || return 0
	local pid
	pid=$(cat "$STACK_DIR/apache/apache.pid")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$STACK_DIR/apache/apache.pid"
}

stack_stop() {
	stack_runner_stop
	stack_nginx_stop
	stack_apache_stop
	stack_fcgi_stop
	stack_pg_stop "${1:-fast}"
}
