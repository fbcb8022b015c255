#!/usr/bin/env bash
# GET /metrics behind nginx, scraped by a real Prometheus server: who may
# read it (an admin token, or anyone the web server lets through with
# [metrics] require_auth = false), the text format (promtool check
# metrics), counters summed over the pool's processes (the workers and the
# long-poll waiter), waiters and busy workers, a killed worker counted as a
# restart, the feed horizon
# held back by an open transaction, subscription rows, the database going
# away; then Prometheus scrapes the pool through nginx and answers a PromQL
# query with the number of events this test appended. The alert rules
# pass `promtool check rules` and their unit tests.
. "$(dirname "$0")/lib.sh"
it_require promtool prometheus
IT_WORKERS=3
it_start

ADMIN=$(token ops admin)
READER=$(token reader "events:read events:write")
SCRAPE=$IT_DIR/scrape.txt

# scrape [TOKEN]: GET /metrics into $SCRAPE (the admin's token by default).
scrape() {
	curl -sS -o "$SCRAPE" -w '%{http_code}' -H "Authorization: Bearer ${1:-$ADMIN}" \
		"$IT_BASE/metrics" >"$IT_DIR/scrape.status" 2>&1
	[ "$(cat "$IT_DIR/scrape.status")" = 200 ]
}
# value SAMPLE: the value of one sample (name and labels exactly as exposed).
value() { awk -v m="$1" '$1 == m { print $2 }' "$SCRAPE"; }
# scraped SAMPLE WANT: a fresh scrape shows the sample at that value.
scraped() { scrape && [ "$(value "$1")" = "$2" ]; }
# scraped_at_least SAMPLE MIN (numbers, possibly with decimals)
scraped_at_least() { scrape && awk -v v="$(value "$1")" -v min="$2" 'BEGIN { exit !(v != "" && v + 0 >= min + 0) }'; }

# --- access ----------------------------------------------------------------
req GET /metrics
expect_problem "without a token: 401" 401 unauthorized
check "with the Bearer challenge" test -n "$(hdr WWW-Authenticate)"
auth_req "$READER" GET /metrics
expect_problem "a token without the admin scope: 403" 403 forbidden
auth_req "$ADMIN" GET /metrics
check "an admin token: 200 ($STATUS)" test "$STATUS" = 200
check "in the text exposition format 0.0.4 ($(hdr Content-Type))" \
	test "$(hdr Content-Type)" = "text/plain; version=0.0.4; charset=utf-8"
auth_req "$ADMIN" GET "/metrics?format=json"
expect_problem "an unknown query parameter is 400" 400 invalid-request
auth_req "$ADMIN" POST /metrics
expect_problem "POST is 405" 405 method-not-allowed
check "with Allow: $(hdr Allow)" test "$(hdr Allow)" = "GET, HEAD"

# --- counters summed over the processes ---------------------------------------
# Two long polls that nothing will wake are parked in the pool's waiter
# process: they hold no worker, and show as waiters.
(curl -sS -o /dev/null -H "Authorization: Bearer $READER" \
	"$IT_BASE/v1/events?aggregate_type=Nothing&wait=6" &
 curl -sS -o /dev/null -H "Authorization: Bearer $READER" \
	"$IT_BASE/v1/events?aggregate_type=Nothing&wait=6" & wait) &
POLLS=$!
IT_PIDS+=("$POLLS")
check "two parked long polls show as evstore_longpoll_waiters 2" \
	wait_for 10 scraped evstore_longpoll_waiters 2
check "they hold no worker: the scrape's is the only one busy" test "$(value evstore_workers_busy)" = 1
check "three workers run" test "$(value evstore_workers)" = 3
# Two HEAD long polls at once are not parked: each holds a worker of its
# own (for a second at most, in a pool).
(curl -sS -o /dev/null -I -H "Authorization: Bearer $READER" \
	"$IT_BASE/v1/events?aggregate_type=Nothing&wait=3" &
 curl -sS -o /dev/null -I -H "Authorization: Bearer $READER" \
	"$IT_BASE/v1/events?aggregate_type=Nothing&wait=3" & wait)

# Appends in parallel, two events each, to streams of their own, spread
# over the workers.
N_REQ=12
for i in $(seq 1 $N_REQ); do
	echo "{\"events\":[{\"event_type\":\"Created\",\"payload\":{\"i\":$i}},{\"event_type\":\"Paid\",\"payload\":{\"i\":$i}}]}" \
		>"$IT_DIR/append.$i.json"
done
: >"$IT_DIR/append.codes"
for i in $(seq 1 $N_REQ); do echo "$i $(uuid)"; done |
	xargs -P 4 -L 1 sh -c 'curl -sS -o /dev/null -w "%{http_code}\n" \
		-H "Authorization: Bearer $0" -H "Content-Type: application/json" \
		--data-binary "@$1/append.$3.json" "$2/v1/aggregates/Order/$4/events"' \
		"$READER" "$IT_DIR" "$IT_BASE" >>"$IT_DIR/append.codes" 2>&1 || true
wait "$POLLS"
check "the appends succeeded" test "$(sort -u "$IT_DIR/append.codes" | xargs)" = 201
EVENTS=$(psql_q -c "SELECT count(*) FROM evstore.events")
scrape
check "evstore_events_appended_total counts every event written ($EVENTS)" \
	test "$(value evstore_events_appended_total)" = "$EVENTS"
check "the two parked long polls, answered by the waiter process, are counted" \
	test "$(value 'evstore_http_requests_total{route="/v1/events",method="GET",code="200"}')" = 2
check "the two HEAD long polls, served by two workers at once, are both counted" \
	test "$(value 'evstore_http_requests_total{route="/v1/events",method="HEAD",code="200"}')" = 2
check "the appends by route template, method and status" \
	test "$(value 'evstore_http_requests_total{route="/v1/aggregates/{type}/{id}/events",method="POST",code="201"}')" = $N_REQ
check "their latency histogram counts them all" \
	test "$(value 'evstore_http_request_duration_seconds_count{route="/v1/aggregates/{type}/{id}/events"}')" = $N_REQ
check "the parked polls took their 6 s, the HEAD ones about 1 s (latency buckets)" \
	test "$(value 'evstore_http_request_duration_seconds_bucket{route="/v1/events",le="0.5"}')" = 0 -a \
	"$(value 'evstore_http_request_duration_seconds_bucket{route="/v1/events",le="5"}')" = 2 -a \
	"$(value 'evstore_http_request_duration_seconds_bucket{route="/v1/events",le="10"}')" = 4
check "the 401 and 403 above are counted under /metrics" \
	test "$(value 'evstore_http_requests_total{route="/metrics",method="GET",code="401"}')" = 1 -a \
	"$(value 'evstore_http_requests_total{route="/metrics",method="GET",code="403"}')" = 1
check "nobody waits any more" test "$(value evstore_longpoll_waiters)" = 0

# conflicts, replays, validation failures
ID=$(uuid); EV=$(uuid)
body='{"expected_version":0,"events":[{"event_id":"'$EV'","event_type":"Created","payload":{}}]}'
post_json "$READER" "/v1/aggregates/Order/$ID/events" "$body"
post_json "$READER" "/v1/aggregates/Order/$ID/events" "$body"
expect "the same request again is a replay" 200
post_json "$READER" "/v1/aggregates/Order/$ID/events" '{"expected_version":0,"events":[{"event_type":"Created","payload":{}}]}'
expect_problem "a stale expected_version is a conflict" 409 version-conflict
scrape
check "a replay is counted" test "$(value evstore_append_replays_total)" = 1
check "a conflict is counted" test "$(value evstore_append_conflicts_total)" = 1
check "the store's highest position is the newest event's" \
	test "$(value evstore_store_highest_position)" = "$(psql_q -c 'SELECT max(position) FROM evstore.events')"
check "the estimated event count reaches the count" \
	wait_for 20 scraped evstore_store_events "$(psql_q -c 'SELECT count(*) FROM evstore.events')"
check "the database is up" test "$(value evstore_database_up)" = 1
check "build info names this version" grep -qE '^evstore_build_info\{version="[^"]+",schema="[0-9]+"\} 1$' "$SCRAPE"

# --- the format ---------------------------------------------------------------
scrape
promtool check metrics <"$SCRAPE" >"$IT_DIR/promtool.out" 2>&1
check "promtool check metrics finds nothing to say$(sed 's/^/; /' "$IT_DIR/promtool.out" | tr -d '\n')" \
	test ! -s "$IT_DIR/promtool.out"

# --- the horizon held back ------------------------------------------------------
mkfifo "$IT_DIR/hold.in"
psql -X -q -At -v ON_ERROR_STOP=1 "$EVSTORE_DATABASE_URL" <"$IT_DIR/hold.in" >"$IT_DIR/hold.out" 2>&1 &
IT_PIDS+=($!)
exec 7>"$IT_DIR/hold.in"
printf "BEGIN;\nSELECT 'xid ' || pg_current_xact_id();\n" >&7
wait_for 10 grep -q xid "$IT_DIR/hold.out"
check "no event is held back yet" scraped evstore_feed_horizon_age_seconds 0.000
post_json "$READER" "/v1/aggregates/Order/$(uuid)/events" '{"events":[{"event_type":"Late","payload":{}}]}'
expect "an event committed while an older transaction is open" 201
check "evstore_feed_horizon_age_seconds grows while it is held back" \
	wait_for 10 scraped_at_least evstore_feed_horizon_age_seconds 1.5
printf "COMMIT;\n" >&7
exec 7>&-
check "and falls back to 0 when the transaction ends" wait_for 10 scraped evstore_feed_horizon_age_seconds 0.000

# --- subscription rows ------------------------------------------------------------
# The rows a runner writes (the runner tests check that it does).
psql_q <<'SQL'
INSERT INTO evstore.subscription_status (subscription, partition, runner_id, state,
  events_processed, events_failed, lag_events, heartbeat_at)
VALUES ('projection', 0, 'host:1', 'live', 40, 2, 3, now() - interval '42 seconds'),
       ('projection', 1, 'host:1', 'error', 7, 9, 12, now());
INSERT INTO evstore.dlq (subscription, partition, position, transaction_id, event_id,
  event_type, aggregate_type, aggregate_id, status)
SELECT 'projection', 1, g, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid(),
       CASE WHEN g = 3 THEN 'resolved' ELSE 'failed' END FROM generate_series(1, 3) g;
SQL
scrape
sub() { value "evstore_subscription_$1{subscription=\"projection\",partition=\"$2\"}"; }
check "processed per partition" test "$(sub events_processed_total 0)/$(sub events_processed_total 1)" = 40/7
check "failed per partition" test "$(sub events_failed_total 0)/$(sub events_failed_total 1)" = 2/9
check "lag per partition" test "$(sub lag_events 0)/$(sub lag_events 1)" = 3/12
check "unresolved DLQ entries per partition" test "$(sub dlq_entries 0)/$(sub dlq_entries 1)" = 0/2
check "heartbeat age ($(sub heartbeat_age_seconds 0))" \
	awk -v a="$(sub heartbeat_age_seconds 0)" 'BEGIN { exit !(a >= 42 && a < 120) }'
check "the state is the one sample at 1" \
	test "$(value 'evstore_subscription_state{subscription="projection",partition="1",state="error"}')/$(value 'evstore_subscription_state{subscription="projection",partition="1",state="live"}')" = 1/0

# --- Prometheus scrapes the pool through nginx -----------------------------------------
PROM_PORT=$(free_port)
mkdir -p "$IT_DIR/prometheus"
printf '%s' "$ADMIN" >"$IT_DIR/prometheus/token"
cp "$IT_SRCDIR/packaging/prometheus/evstore-alerts.yml" "$IT_DIR/prometheus/"
cat >"$IT_DIR/prometheus/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - evstore-alerts.yml
scrape_configs:
  - job_name: evstore
    metrics_path: /metrics
    authorization:
      credentials_file: $IT_DIR/prometheus/token
    static_configs:
      - targets: ['127.0.0.1:$(cat "$IT_DIR/nginx/port")']
YML
prometheus --config.file="$IT_DIR/prometheus/prometheus.yml" --storage.tsdb.path="$IT_DIR/prometheus/data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$IT_DIR/prometheus/log" 2>&1 &
PROM=$!
IT_PIDS+=("$PROM")
PROM_URL=http://127.0.0.1:$PROM_PORT
check "Prometheus starts" wait_for 30 curl -sf "$PROM_URL/-/ready"
# promql QUERY: the first result's value, or nothing.
promql() { curl -sS --get --data-urlencode "query=$1" "$PROM_URL/api/v1/query" | jq -r '.data.result[0].value[1] // empty'; }
prom_says() { [ "$(promql "$1")" = "$2" ]; }
check "its scrape of evstore is up" wait_for 30 prom_says 'up{job="evstore"}' 1
EVENTS=$(psql_q -c "SELECT count(*) FROM evstore.events")
check "a PromQL query answers the number of events appended ($EVENTS)" \
	wait_for 30 prom_says 'sum(evstore_events_appended_total{job="evstore"})' "$EVENTS"
RULES=$(curl -sS "$PROM_URL/api/v1/rules" | jq '[.data.groups[].rules[]] | length')
check "it loaded the 7 alert rules ($RULES)" test "$RULES" = 7
kill "$PROM"; wait "$PROM" 2>/dev/null

# --- the alert rules ----------------------------------------------------------------------
# quietly COMMAND...: runs it, its output shown only when it fails.
quietly() { "$@" >"$IT_DIR/quietly.out" 2>&1 || { sed 's/^/#   /' "$IT_DIR/quietly.out"; return 1; }; }
check "promtool check rules" quietly promtool check rules "$IT_SRCDIR/packaging/prometheus/evstore-alerts.yml"
check "promtool test rules: every alert's unit tests pass" \
	quietly sh -c "cd '$IT_SRCDIR/packaging/prometheus' && promtool test rules evstore-alerts.test.yml"

# --- a killed worker ------------------------------------------------------------------------
scrape
check "no worker restarted so far" test "$(value evstore_worker_restarts_total)" = 0
VICTIM=$(pgrep -P "$IT_FCGI_PID" -x evstore-fcgi | head -n 1)
kill -KILL "$VICTIM"
check "a worker killed (pid $VICTIM) is counted as a restart" wait_for 15 scraped evstore_worker_restarts_total 1
check "and replaced: three workers run" wait_for 15 scraped evstore_workers 3
check "what the dead worker had counted is kept" \
	test "$(value 'evstore_http_requests_total{route="/v1/aggregates/{type}/{id}/events",method="POST",code="201"}')" = $((N_REQ + 2))

# --- require_auth = false: the web server's rules alone ------------------------------------
fcgi_stop
EVSTORE_METRICS_REQUIRE_AUTH=false fcgi_start || exit 1
req GET /metrics
check "with require_auth = false no token is needed ($STATUS)" test "$STATUS" = 200
check "a new pool counts from zero" grep -qx 'evstore_worker_restarts_total 0' <(printf '%s\n' "$BODY")
auth_req "$ADMIN" GET /v1/subscriptions
expect "the admin routes still need their token" 200
req GET /v1/subscriptions
expect_problem "and refuse without it" 401 unauthorized

# --- the database away --------------------------------------------------------------------
pg_stop fast
req GET /metrics
check "with the database away /metrics still answers ($STATUS)" test "$STATUS" = 200
check "evstore_database_up says 0" grep -qx 'evstore_database_up 0' <(printf '%s\n' "$BODY")
check "the pool's counters are still there" grep -q '^evstore_workers 3$' <(printf '%s\n' "$BODY")
check "the store's numbers are left out" test "$(grep -c '^evstore_store_highest_position ' <<<"$BODY")" = 0

it_finish
