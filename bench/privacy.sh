#!/usr/bin/env bash
# privacy.sh - what declared personal data costs: the same definition with
# two fields declared personal (Contact) and without (PlainContact), appended
# and read through nginx and the pool on one private stack. The target
# (issue: "with two declared fields, append and read throughput stay >= 0.8x
# the same events undeclared") is a ratio, printed beside each pair; events
# without declared fields do no extra work at all. Needs an optimised build
# in ./build (or EVSTORE_BUILDDIR). Options: DURATION=10 CONNS=32 WORKERS=8
# ROUNDS=3 (each row runs the two sides in turn, ROUNDS times each, and
# keeps each side's best: on a shared machine a burst of other work then
# costs both sides alike instead of the one that happened to run in it).
set -eu
cd "$(dirname "$0")/.."
SRC=$PWD
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-8}
ROUNDS=${ROUNDS:-3}
. "$SRC/bench/lib.sh"
bench_stack_init privacy
cleanup() { stack_stop immediate; rm -rf "$STACK_DIR"; }
trap cleanup EXIT
[ -x "$(stack_fcgi_bin)" ] || { echo "build first: examples/quickstart.sh (or make in ./build)" >&2; exit 1; }

bench_privacy_stack_start "$WORKERS"
stack_nginx_start
BASE=http://127.0.0.1:$(cat "$STACK_DIR/nginx/port")
DB=$(stack_database_url)
mint() { "$(stack_ctl_bin)" --config "$STACK_DIR/evstore.conf" token --sub bench --scope "$1" --ttl 7200; }
WRITER=$(mint "events:read events:write")
CLEAR=$(mint "events:read personal:read")
export TOKEN TYPE STREAMS

settle() { psql -X -q "$DB" -c CHECKPOINT >/dev/null 2>&1 || true; }
# wrk_once SCRIPT -> requests/s
wrk_once() {
	settle
	wrk -t 2 -c "$CONNS" -d "${DURATION}s" -s "$1" "$BASE/" | awk '/^Requests\/sec:/ {print $2}'
}
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'; }
# pair SCRIPT: the declared side (TYPE=Contact, STREAMS=$A_STREAMS) and the
# plain one (PlainContact, $B_STREAMS) in turn, ROUNDS times; prints the
# best rate of each.
pair() {
	local a=0 b=0
	for _ in $(seq "$ROUNDS"); do
		a=$(max "$a" "$(TYPE=Contact STREAMS=${A_STREAMS:-} wrk_once "$1")")
		b=$(max "$b" "$(TYPE=PlainContact STREAMS=${B_STREAMS:-} wrk_once "$1")")
	done
	echo "$a $b"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row() { printf '%-44s %12s %12s %7s\n' "$@"; }

echo "privacy bench: ${DURATION}s per run, best of $ROUNDS in turn, $CONNS connections, $WORKERS FastCGI workers, $(nproc) cores"
row "what" "declared/s" "plain/s" "ratio"

TOKEN=$WRITER
read -r a b <<<"$(pair bench/wrk/contact_append.lua)"
row "append 1 event (2 sealed), a new subject" "$a" "$b" "$(ratio "$a" "$b")"
export SUBJECTS=1000
read -r a b <<<"$(pair bench/wrk/contact_append.lua)"
row "append 1 event (2 sealed), 1 of 1,000 known" "$a" "$b" "$(ratio "$a" "$b")"
unset SUBJECTS

# 200 streams of 20 events each, per type, appended through the API (so the
# Contact events are sealed as in production).
body=$(jq -cn '{events: [range(20) | {event_type: "ContactNoted", payload: {email: "someone@example.org",
	phone: "+44 20 7946 0000", source: "web", score: .}}]}')
for t in Contact PlainContact; do
	: >"$STACK_DIR/$t.streams"
	for _ in $(seq 200); do
		id=$(cat /proc/sys/kernel/random/uuid)
		curl -sf -o /dev/null -H "Authorization: Bearer $WRITER" -H 'Content-Type: application/json' \
			--data-binary "$body" "$BASE/v1/aggregates/$t/$id/events" && echo "$id" >>"$STACK_DIR/$t.streams"
	done
done
for view in redacted clear; do
	[ "$view" = clear ] && TOKEN=$CLEAR || TOKEN=$WRITER
	read -r a b <<<"$(A_STREAMS=$STACK_DIR/Contact.streams B_STREAMS=$STACK_DIR/PlainContact.streams \
		pair bench/wrk/contact_read.lua)"
	row "read a 20-event stream ($view view)" "$a" "$b" "$(ratio "$a" "$b")"
done
