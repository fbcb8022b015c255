# emmett.sh - the Emmett peer for bench/run.sh (PEER=emmett): Emmett's
# PostgreSQL event store behind one append route (emmett/server.mjs),
# running against the bench stack's own PostgreSQL in a database of its
# own, so both stores share the disk, the WAL settings and the CPU. Source
# it after bench/lib.sh (it uses STACK_DIR, free_port and wait_for), with
# the stack's PostgreSQL running. Needs node (>= 20) and npm: the
# dependencies are installed from the committed package-lock.json into
# bench/peer/emmett/node_modules the first time.
EMMETT_DIR=$SRC/bench/peer/emmett
EMMETT_PID=

# emmett_peer_install: npm ci when node_modules is missing or older than
# the lock.
emmett_peer_install() {
	command -v node >/dev/null && command -v npm >/dev/null ||
		{ echo "PEER=emmett needs node (>= 20) and npm" >&2; return 1; }
	[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] ||
		{ echo "PEER=emmett needs node >= 20 (found $(node --version))" >&2; return 1; }
	local installed=$EMMETT_DIR/node_modules/.package-lock.json
	if [ ! -f "$installed" ] || [ "$EMMETT_DIR/package-lock.json" -nt "$installed" ]; then
		echo "installing the Emmett peer's packages (npm ci in bench/peer/emmett)" >&2
		(cd "$EMMETT_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
			{ echo "npm ci failed in $EMMETT_DIR" >&2; return 1; }
	fi
}

# emmett_peer_start PROCS POOL_SIZE: starts server.mjs with PROCS Node
# processes sharing POOL_SIZE connections to the database "emmett" (made
# here), waits until every process listens, and sets PEER_URL and
# EMMETT_PID. Its output goes to $STACK_DIR/emmett.log.
emmett_peer_start() {
	emmett_peer_install || return 1
	local db="host=$STACK_DIR/pg user=evstore dbname=postgres" port
	if [ "$(psql -X -At "$db" -c "SELECT count(*) FROM pg_database WHERE datname = 'emmett'")" != 1 ]; then
		psql -X -q "$db" -c 'CREATE DATABASE emmett' || return 1
	fi
	port=$(free_port)
	EMMETT_DATABASE_URL="postgresql://evstore@/emmett?host=$STACK_DIR/pg" PORT=$port \
		PEER_PROCS=$1 PEER_POOL_SIZE=$2 node "$EMMETT_DIR/server.mjs" >"$STACK_DIR/emmett.log" 2>&1 &
	EMMETT_PID=$!
	if ! wait_for 60 emmett_ready_or_gone || ! grep -q '^ready:' "$STACK_DIR/emmett.log"; then
		echo "the Emmett peer did not start:" >&2
		tail -n 20 "$STACK_DIR/emmett.log" >&2
		emmett_peer_stop
		return 1
	fi
	PEER_URL=http://127.0.0.1:$port
}

# Gone: exited (a zombie until reaped: it is this shell's child) or never
# there. Ready, or gone: either ends the wait for the start.
emmett_gone() { ! kill -0 "$EMMETT_PID" 2>/dev/null || ps -o stat= -p "$EMMETT_PID" | grep -q '^Z'; }
emmett_ready_or_gone() { grep -q '^ready:' "$STACK_DIR/emmett.log" || emmett_gone; }

# emmett_peer_stop: SIGTERM to the primary (it stops its processes), then
# SIGKILL after 10 s (the processes exit when their primary is gone).
emmett_peer_stop() {
	[ -n "$EMMETT_PID" ] || return 0
	kill "$EMMETT_PID" 2>/dev/null || true
	wait_for 10 emmett_gone || kill -KILL "$EMMETT_PID" 2>/dev/null || true
	wait "$EMMETT_PID" 2>/dev/null || true
	EMMETT_PID=
}
