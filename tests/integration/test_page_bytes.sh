#!/usr/bin/env bash
# Pages are bounded by bytes, not only by count ([http] max_page_bytes):
# forty events of about 1 MiB each, read through the feed and a stream
# read with the default page size, come back in pages of a few MiB, each
# with at least one event and its cursor, every event exactly once; and
# the worker's peak memory (VmHWM) stays far below what one 40 MiB page
# made it reach (84 MiB more before the budget).
#
# Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
# default) and still counts as resident, so a worker's peak would show
# what it ever allocated rather than what it held at once: the quarantine
# is kept small here. Then a sanitized worker peaks at about 23 MiB
# reading these pages (16 MiB fresh); with the whole 40 MiB in one page
# (max_page_bytes = 1GiB, as before the budget) it passed 64 MiB.
. "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
IT_WORKERS=1
IT_EXTRA_CONF="[http]
max_body_bytes = 2MiB"
it_start

EVENTS=40
PAYLOAD_CHARS=1000000
GROWTH_LIMIT_KIB=$((32 * 1024))   # the budget is 4 MiB; one 40 MiB page grew it by > 80 MiB
BUDGET=$((4 * 1024 * 1024))

T=$(token reader "events:read events:write")
ID=$(uuid)
BIG=$IT_DIR/big.json
python3 -c 'import sys; n = int(sys.argv[1]); sys.stdout.write(
	"{\"events\":[{\"event_type\":\"Big\",\"payload\":{\"blob\":\"" + "x" * n + "\"}}]}")' \
	"$PAYLOAD_CHARS" >"$BIG"

appended=0
for _ in $(seq "$EVENTS"); do
	auth_req "$T" POST "/v1/aggregates/Blob/$ID/events" -H 'Content-Type: application/json' \
		--data-binary "@$BIG"
	[ "$STATUS" = 201 ] && appended=$((appended + 1))
done
check "$EVENTS appends of a 1 MiB event" test "$appended" = "$EVENTS"

# A fresh pool: the worker's peak then counts reads only.
fcgi_stop
fcgi_start || { echo "Bail out! the pool did not restart"; exit 1; }
# worker_pid: a worker of the pool (the pool's other child is its long-poll waiter).
worker_pid() {
	local p
	for p in $(cat "/proc/$IT_FCGI_PID/task/$IT_FCGI_PID/children"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = evstore-waiter ] || { echo "$p"; return; }
	done
}
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
wait_for 10 eval '[ -n "$(worker_pid)" ]' || { echo "Bail out! no worker"; exit 1; }
auth_req "$T" GET "/v1/events?limit=1"   # connects, prepares: the baseline
WORKER=$(worker_pid)
BASE_KIB=$(hwm_kib "$WORKER")

# page_within_budget: the last page has events, and those after the first
# fit the budget.
page_within_budget() {
	local n size
	n=$(jq_body '.events|length')
	size=$(jq_body '[.events[]|tojson|utf8bytelength]|.[1:]|add // 0')
	[ "$n" -ge 1 ] && [ "$size" -le "$BUDGET" ]
}

# --- the feed ----------------------------------------------------------------
ids=()
pages=0
bad_pages=0
after=
while :; do
	auth_req "$T" GET "/v1/events?aggregate_type=Blob${after:+&after=$after}"
	[ "$STATUS" = 200 ] || { not_ok "a feed page" "status $STATUS: ${BODY:0:300}"; break; }
	n=$(jq_body '.events|length')
	[ "$n" -gt 0 ] || break
	page_within_budget || bad_pages=$((bad_pages + 1))
	pages=$((pages + 1))
	mapfile -t -O "${#ids[@]}" ids < <(jq_body '.events[].event_id')
	after=$(jq_body .next)
	[ "$pages" -le "$EVENTS" ] || break
done
check "the feed's pages stop at the byte budget ($pages pages)" test "$pages" -ge $((EVENTS / 4))
check "every feed page holds an event and stays within the budget" test "$bad_pages" = 0
check "paging the feed returns every event exactly once" \
	test "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" = "$EVENTS" -a "${#ids[@]}" = "$EVENTS"

# --- a stream, both ways ----------------------------------------------------
# read_stream DIRECTION: pages through the stream; the versions seen, one a
# line, and "over-budget" after a page that was empty or too large.
read_stream() {
	local from= n guard=0
	while :; do
		auth_req "$T" GET "/v1/aggregates/Blob/$ID/events?direction=$1${from:+&from_version=$from}"
		[ "$STATUS" = 200 ] || { echo "status $STATUS" >&2; return 1; }
		n=$(jq_body '.events|length')
		page_within_budget || echo over-budget
		jq_body '.events[].version'
		from=$(jq_body '.next_from_version // empty')
		guard=$((guard + 1))
		[ -n "$from" ] && [ "$n" -gt 0 ] && [ "$guard" -le "$EVENTS" ] || return 0
	done
}
forward=$(read_stream forward | tr '\n' ' ')
check "a stream read forward in budgeted pages returns versions 1..$EVENTS once" \
	test "$forward" = "$(seq -s ' ' 1 "$EVENTS") "
backward=$(read_stream backward | tr '\n' ' ')
check "a stream read backward in budgeted pages returns versions $EVENTS..1 once" \
	test "$backward" = "$(seq -s ' ' "$EVENTS" -1 1) "

auth_req "$T" GET "/v1/aggregates/Blob/$ID/events?limit=1000"
expect "a large limit is cut by bytes, with the cursor to go on" 200 \
	'.events|length < 40' true '.next_from_version != null' true

# --- the worker's memory -----------------------------------------------------
PEAK_KIB=$(hwm_kib "$WORKER")
GROWTH=$((PEAK_KIB - BASE_KIB))
echo "# worker VmHWM: $BASE_KIB KiB fresh, $PEAK_KIB KiB after the reads (+$GROWTH KiB)"
check "the same worker served every read" test "$(worker_pid)" = "$WORKER"
check "the worker's peak memory grew by less than $((GROWTH_LIMIT_KIB / 1024)) MiB (+$((GROWTH / 1024)) MiB)" \
	test "$GROWTH" -lt "$GROWTH_LIMIT_KIB"
check "the worker's peak memory stayed under 64 MiB ($((PEAK_KIB / 1024)) MiB)" \
	test "$PEAK_KIB" -lt $((64 * 1024))

it_finish
