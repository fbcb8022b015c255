#!/usr/bin/env bash
# runner.sh - evstore-runner's speed, on a private PostgreSQL:
#   catchup  EVENTS events already stored, caught up into an sql projection
#            (one upsert per event), beside pgbench running the same upsert
#            with the same event JSON, batch_size statements a transaction,
#            in one pipeline, on the same server (and, for context, the
#            server alone running it from a PL/pgSQL loop);
#   live     commit-to-handled latency of a live subscription while pgbench
#            appends RATE events/s, one per transaction, and a NOTIFY goes
#            out every 5 ms, as a pool's waiter announces commits;
#   rss      the runner's resident memory, sampled every second while it
#            catches up over RSS_EVENTS events.
# Prints a table. Needs an optimised build (no sanitizers) in ./build or
# $EVSTORE_BUILDDIR. Options (environment):
#   PHASES="catchup live rss"  EVENTS=100000  ROUNDS=2 (catch-up runs per side,
#   best kept)  RATE=1000  LIVE_SECONDS=25  RSS_EVENTS=1000000
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
PHASES=${PHASES:-catchup live rss}
EVENTS=$(( ${EVENTS:-100000} / 1000 * 1000 ))
ROUNDS=${ROUNDS:-2}
RATE=${RATE:-1000}
LIVE_SECONDS=${LIVE_SECONDS:-25}
RSS_EVENTS=$(( ${RSS_EVENTS:-1000000} / 1000 * 1000 ))
BATCH=100 # the runner's default batch_size (src/subs/subscription.c)
[ "$EVENTS" -ge 1000 ] && [ "$RSS_EVENTS" -ge 1000 ] || { echo "EVENTS and RSS_EVENTS: at least 1000" >&2; exit 1; }
. "$SRC/bench/lib.sh"
bench_stack_init bench-runner
trap 'stack_stop immediate; rm -rf "$STACK_DIR"' EXIT

RUNNER=$(stack_runner_bin)
[ -x "$RUNNER" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }
if nm -D "$RUNNER" 2>/dev/null | grep -q __asan_init; then
	echo "warning: $RUNNER is built with sanitizers; the figures mean little" >&2
fi
PGBENCH=${PGBENCH:-$PGBIN/pgbench}

# Commit timestamps: each event's real commit for the live phase, and the
# end of every catch-up run.
STACK_PG_OPTIONS="-c track_commit_timestamp=on" stack_pg_start
STACK_LOG_LEVEL=error stack_write_config
stack_migrate
DB=$(stack_database_url)
NIL=00000000-0000-0000-0000-000000000000
# psql itself, not Debian's Perl wrapper: polls must cost next to nothing.
q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$DB" "$@"; }
settle() { q -c CHECKPOINT >/dev/null 2>&1 || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'; }
row() { printf '%-58s %14s %10s %6s  %s\n' "$@"; }

q <<'SQL'
CREATE TABLE bench_counts (aggregate_id uuid PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL);
CREATE TABLE bench_latency (position bigint PRIMARY KEY, recorded_at timestamptz NOT NULL,
	handled_at timestamptz NOT NULL);
SQL

# load N: N more Deposited events on 1,000 BenchAccount streams through
# evstore.append, ten events a call and 10,000 a transaction, by two
# sessions on disjoint accounts (both cores, no lock waits).
LOADED=0
load() {
	local n=$1 chunk pids=() p
	for half in 0 1; do
		(
			left=$((n / 2 + (half ? n % 2 : 0)))
			while [ "$left" -gt 0 ]; do
				chunk=$((left < 10000 ? left : 10000))
				q -c "SELECT count(*) FROM generate_series(1, $chunk / 10) g, LATERAL evstore.append('$NIL',
				  'BenchAccount', md5('bench-account-' || (2 * (g % 500) + $half))::uuid, 'any', NULL, 'bench',
				  (SELECT jsonb_agg(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Deposited',
				     'payload', jsonb_build_object('amount', (g + i) % 100 + 1)))
				   FROM generate_series(1, 10) i)) a" >/dev/null
				left=$((left - chunk))
			done
		) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { echo "loading events failed" >&2; exit 1; }; done
	LOADED=$((LOADED + n))
	# Statistics, hint bits and the visibility map now, so that no side
	# pays for the load (or autovacuum arrives in the middle of one).
	q -c "VACUUM ANALYZE evstore.events" -c "VACUUM ANALYZE evstore.streams"
}
handled() { q -c "SELECT COALESCE(sum(n), 0) FROM bench_counts"; }
# When the read model was last written: its last transaction's commit.
finished_at() { q -c "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM bench_counts"; }
per_second() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
# config NAME PROJECTION FILTERS START: one sql subscription.
config() {
	STACK_LOG_LEVEL=error stack_write_config "[subscription $1]
handler = sql
sql_file = $SRC/bench/projections/$2
$3
start_from = $4"
}
# forget NAME: the subscription starts over.
forget() {
	q -c "DELETE FROM evstore.checkpoints WHERE subscription = '$1'" \
	  -c "DELETE FROM evstore.subscription_status WHERE subscription = '$1'" >/dev/null
}
# wait_caught_up SECONDS [EACH]: polls once a second until the read model
# holds every loaded event (its checkpoint commits with it), calling EACH
# each time. The figures come from commit timestamps, not from the polls.
wait_caught_up() {
	local deadline=$((SECONDS + $1))
	until [ "$(handled)" = "$LOADED" ]; do
		[ $SECONDS -ge $deadline ] && { echo "the runner did not catch up in $1 s" >&2; exit 1; }
		${2:-true}
		sleep 1
	done
}
# The projection must equal a direct aggregation of the events.
counts_ok() {
	[ "$(q -c "SELECT count(*) FROM (SELECT md5(aggregate_id::text), count(*), sum((payload->>'amount')::bigint)
	  FROM evstore.events WHERE aggregate_type = 'BenchAccount' GROUP BY aggregate_id
	  EXCEPT SELECT md5(aggregate_id::text), n, total FROM bench_counts) d")" = 0 ] &&
	[ "$(q -c "SELECT sum(n) FROM bench_counts")" = "$LOADED" ]
}

echo "evstore-runner bench: $(nproc) cores, PostgreSQL $(q -c 'SHOW server_version'), batch_size $BATCH"
RESULTS=()

# ---------------------------------------------------------------- catch-up
if [[ " $PHASES " == *" catchup "* ]]; then
	load "$EVENTS"
	# The baseline: the projection's own statement, $1 bound to the event
	# JSON read (evstore.event_json, as the runner's feed renders it) $BATCH
	# at a time; the statements of a batch in one pipeline, one transaction.
	stmt=$(awk '/^-- on Deposited/ { on = 1; next } on && /^--/ { exit } on && NF { print } on && /;[[:space:]]*$/ { exit }' \
		bench/projections/runner_counts.sql)
	{
		echo "\\set b :b + $BATCH"
		printf 'SELECT '
		for k in $(seq $BATCH); do printf '%sa[%d] AS j%d' "$([ "$k" = 1 ] || echo ', ')" "$k" "$k"; done
		echo " FROM (SELECT array_agg(evstore.event_json(e)::text ORDER BY e.position) AS a FROM evstore.events e"
		echo "  WHERE e.position > :b - $BATCH AND e.position <= :b) x \\gset"
		echo '\startpipeline'
		for k in $(seq $BATCH); do echo "${stmt//\$1/:j$k}"; done
		echo '\endpipeline'
	} >"$STACK_DIR/runner_batch.sql"
	# The floor: the server alone, the same statement in a PL/pgSQL
	# function ($1 is its argument), the events in feed order, a commit
	# every $BATCH; no client, no protocol.
	q <<SQL
CREATE FUNCTION bench_apply(jsonb) RETURNS void LANGUAGE plpgsql AS \$f\$ BEGIN
$stmt
END \$f\$;
SQL
	config counts runner_counts.sql "aggregate_types = BenchAccount" beginning
	rb=0 rr=0 rs=0
	for round in $(seq "$ROUNDS"); do
		# Each side starts from an empty read model after a checkpoint and
		# ends at its last commit; all three are checked for exactness.
		q -c "TRUNCATE bench_counts" >/dev/null
		settle
		t0=$(date +%s.%N)
		"$PGBENCH" -n -M prepared -c 1 -t $((EVENTS / BATCH)) -D b=0 -f "$STACK_DIR/runner_batch.sql" "$DB" >/dev/null 2>&1 || true
		counts_ok || { echo "the pgbench baseline did not build the read model" >&2; exit 1; }
		rb=$(best "$rb" "$(per_second "$t0" "$(finished_at)" "$EVENTS")")

		q -c "TRUNCATE bench_counts" >/dev/null
		settle
		t0=$(date +%s.%N)
		q -c "DO \$\$ DECLARE r record; k int := 0; BEGIN
		  FOR r IN SELECT evstore.event_json(e)::text AS j FROM evstore.events e
		           WHERE e.aggregate_type = 'BenchAccount' ORDER BY e.transaction_id, e.position LOOP
		    PERFORM bench_apply(r.j::jsonb);
		    k := k + 1;
		    IF k % $BATCH = 0 THEN COMMIT; END IF;
		  END LOOP; END \$\$"
		counts_ok || { echo "the server-side loop did not build the read model" >&2; exit 1; }
		rs=$(best "$rs" "$(per_second "$t0" "$(finished_at)" "$EVENTS")")

		q -c "TRUNCATE bench_counts" >/dev/null
		forget counts
		settle
		t0=$(date +%s.%N)
		stack_runner_start
		wait_caught_up $((60 + EVENTS / 1000))
		t1=$(finished_at)
		stack_runner_stop
		counts_ok || { echo "the runner's read model differs from the events" >&2; exit 1; }
		rr=$(best "$rr" "$(per_second "$t0" "$t1" "$EVENTS")")
		echo "  catch-up round $round: runner $rr, pgbench $rb, server alone $rs events/s (best so far)"
	done
	RESULTS+=("$(row "catch-up, $EVENTS events (events/s)" "$rr" "$rb" "$(ratio "$rr" "$rb")" "≥ 0.7 and ≥ 20000/s")")
	RESULTS+=("$(row "  the same vs the server alone (PL/pgSQL)" "$rr" "$rs" "$(ratio "$rr" "$rs")" "(context: no client at all)")")
fi

# -------------------------------------------------------------------- live
if [[ " $PHASES " == *" live "* ]]; then
	config latency runner_latency.sql "aggregate_types = BenchPg
event_types = Tick" end
	stack_runner_start
	is_live() { [ "$(q -c "SELECT state FROM evstore.subscription_status WHERE subscription = 'latency'")" = live ]; }
	wait_for 30 is_live ||
		{ echo "the latency subscription did not go live" >&2; exit 1; }
	settle
	# Eight clients, so that one slow append does not hold the schedule up;
	# their commits do not wait for the disk (the runner's do): the driver
	# must keep the rate, and an event is visible from its commit record on.
	# The appends no longer NOTIFY; a pool's waiter announces commits at
	# most every 5 ms: so does this second pgbench, beside them.
	"$PGBENCH" -n -c 1 -R 200 -T "$LIVE_SECONDS" -f bench/pgbench/announce.sql "$DB" >/dev/null 2>&1 &
	announcer=$!
	tps=$(PGOPTIONS="-c synchronous_commit=off" "$PGBENCH" -n -M prepared -c 8 -j 2 -R "$RATE" -T "$LIVE_SECONDS" -f bench/pgbench/append.sql "$DB" 2>/dev/null |
		awk '/^tps/ { printf "%.0f", $3; exit }')
	wait "$announcer" || true
	ticks=$(q -c "SELECT count(*) FROM evstore.events WHERE aggregate_type = 'BenchPg'")
	all_handled() { [ "$(q -c "SELECT count(*) FROM bench_latency")" = "$ticks" ]; }
	wait_for 60 all_handled ||
		{ echo "not every Tick reached the projection" >&2; exit 1; }
	stack_runner_stop
	# handled: the projection statement ran; visible: the runner's
	# transaction committed; both from the event's own commit.
	read -r h50 h95 h99 hmax v99 r99 <<<"$(q -F ' ' -c "
	  WITH d AS (SELECT l.handled_at - pg_xact_commit_timestamp(e.xmin) AS handled,
	                    pg_xact_commit_timestamp(l.xmin) - pg_xact_commit_timestamp(e.xmin) AS visible,
	                    l.handled_at - l.recorded_at AS since_start
	             FROM bench_latency l JOIN evstore.events e ON e.position = l.position),
	       ms AS (SELECT extract(epoch FROM handled) * 1000 AS h, extract(epoch FROM visible) * 1000 AS v,
	                     extract(epoch FROM since_start) * 1000 AS r FROM d)
	  SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY h)::numeric, 1),
	         round(percentile_cont(0.95) WITHIN GROUP (ORDER BY h)::numeric, 1),
	         round(percentile_cont(0.99) WITHIN GROUP (ORDER BY h)::numeric, 1),
	         round(max(h)::numeric, 1),
	         round(percentile_cont(0.99) WITHIN GROUP (ORDER BY v)::numeric, 1),
	         round(percentile_cont(0.99) WITHIN GROUP (ORDER BY r)::numeric, 1) FROM ms")"
	RESULTS+=("$(row "live, $tps/s: commit→handled p50/p95/p99/max ms" "$h50/$h95/$h99/$hmax" "" "" "p99 ≤ 50 ms ($ticks events)")")
	RESULTS+=("$(row "  commit→visible (the runner's commit), p99 ms" "$v99" "" "" "")")
	RESULTS+=("$(row "  append's transaction start→handled, p99 ms" "$r99" "" "" "")")
fi

# --------------------------------------------------------------------- rss
if [[ " $PHASES " == *" rss "* ]]; then
	[ "$LOADED" -lt "$RSS_EVENTS" ] && load $((RSS_EVENTS - LOADED))
	config rss runner_counts.sql "aggregate_types = BenchAccount" beginning
	q -c "TRUNCATE bench_counts" >/dev/null
	settle
	samples=$STACK_DIR/rss.samples
	: >"$samples"
	t0=$(date +%s.%N)
	stack_runner_start
	rpid=$(cat "$STACK_DIR/runner.pid")
	# sample: "events handled" and VmRSS in KiB, once a second.
	sample() {
		local kib done_
		kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$rpid/status" 2>/dev/null) || return 0
		done_=$(handled 2>/dev/null) || return 0
		echo "$done_ $kib" >>"$samples"
	}
	wait_caught_up $((120 + RSS_EVENTS / 1000)) sample
	t1=$(finished_at)
	sample
	stack_runner_stop
	counts_ok || { echo "the runner's read model differs from the events" >&2; exit 1; }
	# Warm-up: the first 10% of the events (100k of a million).
	read -r first peak lastk growth <<<"$(awk -v w=$((RSS_EVENTS / 10)) '
	  $1 >= w { if (!seen) { first = $2; seen = 1 } if ($2 > peak) peak = $2; last = $2 }
	  END { print first, peak, last, peak - first }' "$samples")"
	flat=no
	[ -n "$growth" ] && [ "$growth" -lt 1024 ] && flat=yes
	rate=$(per_second "$t0" "$t1" "$LOADED")
	RESULTS+=("$(row "runner RSS after 10% of $LOADED events: first/peak/last KiB" "$first/$peak/$lastk" "" "" "flat: $flat (growth $growth KiB; target < 1024)")")
	RESULTS+=("$(row "  catch-up of $LOADED events (events/s)" "$rate" "" "" "$(wc -l <"$samples") samples")")
fi

echo
row "what" "runner" "baseline" "ratio" "target"
printf '%s\n' "${RESULTS[@]}"
