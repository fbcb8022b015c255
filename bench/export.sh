#!/usr/bin/env bash
# export.sh - evstorectl export and import beside PostgreSQL's own COPY of
# the same rows, on a private PostgreSQL:
#   export  `evstorectl export --all-tenants` of EVENTS events (to /dev/null)
#           beside `COPY (SELECT evstore.event_json(e)::text ... ORDER BY
#           transaction_id, position) TO STDOUT` (psql, to /dev/null): the
#           same lines in the same order;
#   import  `evstorectl import` of that export into an empty store beside
#           `COPY evstore.events (...) FROM STDIN` of the same rows (the
#           columns import keeps, in COPY's text form) into an empty store.
# Each side runs ROUNDS times, the best kept. Prints both rates and the
# ratios (targets: export >= 0.5, import >= 0.3). Needs an optimised build
# (no sanitizers) in ./build or $EVSTORE_BUILDDIR. Options (environment):
#   EVENTS=1000000  ROUNDS=2
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
EVENTS=${EVENTS:-1000000}
ROUNDS=${ROUNDS:-2}
. "$SRC/bench/lib.sh"
. "$SRC/tests/integration/export_fill.sh"
bench_stack_init bench-export
trap 'stack_stop immediate; rm -rf "$STACK_DIR"' EXIT

CTL=$(stack_ctl_bin)
[ -x "$CTL" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }
if nm -D "$CTL" 2>/dev/null | grep -q __asan_init; then
	echo "warning: $CTL is built with sanitizers; the figures mean little" >&2
fi
stack_pg_start
STACK_LOG_LEVEL=error stack_write_config
stack_migrate
DB=$(stack_database_url)
TO="host=$STACK_DIR/pg user=evstore dbname=restored"
q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
ms() { date +%s%3N; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%d", n * 1000 / (ms > 0 ? ms : 1) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'; }
row() { printf '%-44s %12s %12s %6s %8s\n' "$@"; }
ctl() { "$CTL" --config "$STACK_DIR/evstore.conf" "$@"; }

echo "filling $EVENTS events..." >&2
export_fill "$EVENTS" 100000 | q "$DB" >/dev/null
q "$DB" -c "VACUUM ANALYZE" -c CHECKPOINT
q "$DB" -c "CREATE DATABASE restored"
EVSTORE_DATABASE_URL=$TO ctl migrate >/dev/null
COLS="tenant_id, event_id, aggregate_type, aggregate_id, version, event_type, actor_id, occurred_at,
	recorded_at, payload, metadata"
q "$DB" -c "COPY (SELECT $COLS FROM evstore.events ORDER BY transaction_id, position) TO STDOUT" >"$STACK_DIR/rows.copy"
ctl export --all-tenants --output "$STACK_DIR/events.jsonl" 2>/dev/null
empty() { q "$TO" -c "TRUNCATE evstore.events, evstore.streams" -c "VACUUM ANALYZE evstore.events" -c CHECKPOINT; }

ex=0 ex_copy=0 im=0 im_copy=0
for _ in $(seq "$ROUNDS"); do
	t=$(ms); ctl export --all-tenants --output /dev/null 2>/dev/null; ex=$(best "$ex" "$(rate "$EVENTS" $(($(ms) - t)))")
	t=$(ms); q "$DB" -c "COPY (SELECT evstore.event_json(e)::text FROM evstore.events e
		ORDER BY e.transaction_id, e.position) TO STDOUT" >/dev/null
	ex_copy=$(best "$ex_copy" "$(rate "$EVENTS" $(($(ms) - t)))")
	empty; t=$(ms); EVSTORE_DATABASE_URL=$TO ctl import "$STACK_DIR/events.jsonl" >/dev/null
	im=$(best "$im" "$(rate "$EVENTS" $(($(ms) - t)))")
	empty; t=$(ms); q "$TO" -c "COPY evstore.events ($COLS) FROM STDIN" <"$STACK_DIR/rows.copy"
	im_copy=$(best "$im_copy" "$(rate "$EVENTS" $(($(ms) - t)))")
done

row "events/s, $EVENTS events, best of $ROUNDS" evstore COPY ratio target
row "export (JSON Lines, feed order)" "$ex" "$ex_copy" "$(ratio "$ex" "$ex_copy")" ">= 0.5"
row "import (checked, streams rebuilt)" "$im" "$im_copy" "$(ratio "$im" "$im_copy")" ">= 0.3"
