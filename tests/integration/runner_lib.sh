# runner_lib.sh - what the evstore-runner tests share, on top of lib.sh
# (source lib.sh first): bulk appends of "Added" events, the SQL truth a
# projection must equal, per-test configuration files, and starting and
# stopping runners by PID.

RUNNER_BIN=$IT_BUILDDIR/src/runner/evstore-runner
NIL=00000000-0000-0000-0000-000000000000

# append N [ACCOUNTS] [AMOUNT]: N events of type Added in one transaction,
# inserted directly (evstore.append per event is far slower for bulk); the
# accounts are fresh streams of this call, versions without gaps.
append() {
	psql_q -c "WITH b AS (SELECT md5(random()::text) AS seed)
		INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
			actor_id, occurred_at, payload, metadata)
		SELECT '$NIL', gen_random_uuid(), 'Acct', md5(b.seed || (g % ${2:-500}))::uuid, g / ${2:-500} + 1, 'Added',
			'tester', now(), jsonb_build_object('amount', ${3:-g % 7}), jsonb_build_object('request_id', 'r' || g)
		FROM b, generate_series(0, $1 - 1) g; NOTIFY evstore_events" >/dev/null
}
truth_diff() { # TABLE: rows of the projection that differ from the events
	psql_q -c "SELECT count(*) FROM ((SELECT aggregate_id, count(*) AS n, sum((payload->>'amount')::bigint) AS t
		FROM evstore.events WHERE event_type = 'Added' GROUP BY 1 EXCEPT SELECT aggregate_id, n, total FROM $1)
		UNION ALL (SELECT aggregate_id, n, total FROM $1 EXCEPT SELECT aggregate_id, count(*), sum((payload->>'amount')::bigint)
		FROM evstore.events WHERE event_type = 'Added' GROUP BY 1)) d"
}
# conf NAME SECTIONS: writes $IT_DIR/NAME.conf, the stack's configuration
# plus quick [runner] timings and the subscription sections; replaced in
# one rename, so a runner reloading on SIGHUP never reads half a file.
conf() {
	{ cat "$IT_DIR/evstore.conf"; printf '[runner]\npoll_interval_ms = 200\nshutdown_timeout = 10\ndrain_timeout = 5\n%s\n' "$2"; } >"$IT_DIR/$1.conf.new"
	mv "$IT_DIR/$1.conf.new" "$IT_DIR/$1.conf"
}
start_runner() { # CONF LOG: starts a runner on NAME.conf, its pid in $RPID
	"$RUNNER_BIN" --config "$IT_DIR/$1.conf" >>"$IT_DIR/$2" 2>&1 </dev/null &
	RPID=$!
	IT_PIDS+=("$RPID")
}
stop_runner() { # [PID]: SIGTERM (default $RPID), true once it has exited
	local pid=${1:-$RPID}
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
# sql_is EXPECTED QUERY: the query answers EXPECTED. The query runs anew on
# every call, so wait_for can poll it.
sql_is() { [ "$(psql_q -c "$2")" = "$1" ]; }
# projection TABLE: an sql_file keeping TABLE (aggregate_id, n, total): one
# upsert per Added event, and a truncate section.
projection() {
	cat <<SQL
-- on Added
INSERT INTO $1 VALUES ((\$1::jsonb->>'aggregate_id')::uuid, 1, (\$1::jsonb->'payload'->>'amount')::bigint)
ON CONFLICT (aggregate_id) DO UPDATE SET n = $1.n + 1, total = $1.total + EXCLUDED.total;
-- truncate
TRUNCATE $1;
SQL
}
exact() { [ "$(truth_diff "$1")" = 0 ] && caught_up x "$1"; } # TABLE equals the events
caught_up() { # SUB TABLE: the projection holds every event
	[ "$(psql_q -c "SELECT count(*) FROM evstore.events WHERE event_type = 'Added'")" = \
	  "$(psql_q -c "SELECT COALESCE(sum(n), 0) FROM $2")" ]
}
# runner_logs_clean: one failed check per log in IT_DIR with a sanitizer report.
runner_logs_clean() {
	local f
	for f in "$IT_DIR"/*.log; do
		if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
			not_ok "sanitizers clean in $(basename "$f")" "$(grep -m3 -E 'Sanitizer|runtime error' "$f")"
		fi
	done
}
