#!/usr/bin/env bash
# Load-balancer probes.
. "$(dirname "$0")/lib.sh"
it_start

req GET /health/live
expect "liveness answers without a token" 200 .alive true .reason ok
req GET /health/ready
expect "readiness: database up and schema current" 200 .ready true
req GET /health
expect "overall health with no subscriptions and the database up is healthy" 200 \
	.status healthy .details.database ok .details.subscription_count 0
check "health reports an uptime" test "$(jq_body '.details.uptime_seconds >= 0')" = true

# A schema behind the build: not ready (the migrations table says so).
psql_q -c "update evstore.schema_migrations set version = version + 1000 where version = (select max(version) from evstore.schema_migrations)"
sleep 1.2 # the readiness probe caches its answer for a second
req GET /health/ready
expect "a schema at another version is not ready" 503 .ready false
check "the reason names the versions" grep -q version <<<"$(jq_body .reason)"
psql_q -c "update evstore.schema_migrations set version = version - 1000 where version > 1000"
sleep 1.2
req GET /health/ready
expect "ready again once the schema matches" 200 .ready true

# The contract, served by the pool through the shipped front: open, YAML,
# the very file of this build.
req GET /openapi.yaml
expect "GET /openapi.yaml needs no token" 200
check "it is YAML: $(hdr Content-Type)" test "$(hdr Content-Type)" = application/yaml
curl -sS "$IT_BASE/openapi.yaml" -o "$IT_DIR/openapi.yaml"
check "it is doc/openapi.yaml of this build" cmp -s "$IT_DIR/openapi.yaml" "$IT_SRCDIR/doc/openapi.yaml"
check "and documents itself" grep -q '^  /openapi.yaml:' "$IT_DIR/openapi.yaml"
check "it is valid YAML whose every \$ref resolves" python3 - "$IT_DIR/openapi.yaml" <<'PY'
import re, sys, yaml
text = open(sys.argv[1]).read()
doc = yaml.safe_load(text)
def resolves(ref):
    node = doc
    for part in ref.split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
bad = [r for r in set(re.findall(r"\$ref: '#/([^']+)'", text)) if not resolves(r)]
sys.exit(1 if bad or not doc.get("paths") else 0)
PY

# An unmigrated database: the API says so (503 schema-not-migrated, with
# what to run), never 500; the runner says it once and waits.
T=$(token health "events:read events:write")
psql_q -c "alter schema evstore rename to evstore_away"
sleep 1.2
auth_req "$T" GET "/v1/aggregates/Order/$(uuid)/events"
expect_problem "an unmigrated database: reads are 503 schema-not-migrated" 503 schema-not-migrated
check "the detail says to run evstorectl migrate: $(jq_body .detail)" grep -q "evstorectl migrate" <<<"$(jq_body .detail)"
check "with Retry-After" test -n "$(hdr Retry-After)"
post_json "$T" "/v1/aggregates/Order/$(uuid)/events" '{"events":[{"event_type":"Created","payload":{}}]}'
expect_problem "an unmigrated database: appends are 503 schema-not-migrated" 503 schema-not-migrated
req GET /health/live
expect "liveness is not the database's business" 200 .alive true
EVSTORE_LOG_LEVEL=notice "$(stack_runner_bin)" --config "$IT_DIR/evstore.conf" >"$IT_DIR/runner-schema.log" 2>&1 </dev/null &
RPID=$!
IT_PIDS+=("$RPID")
sleep 3.5
check "the runner waits for the migration instead of exiting" kill -0 "$RPID"
check "and says so once: $(grep -c schema_not_migrated "$IT_DIR/runner-schema.log") log lines" \
	test "$(grep -c '"event":"schema_not_migrated".*evstorectl migrate' "$IT_DIR/runner-schema.log")" = 1
psql_q -c "alter schema evstore_away rename to evstore"
sleep 1.2
auth_req "$T" GET "/v1/events"
expect "once migrated, the API answers again" 200
wait_for 5 grep -q '"event":"schema_ready"' "$IT_DIR/runner-schema.log"
check "and the runner goes on by itself" grep -q '"event":"schema_ready"' "$IT_DIR/runner-schema.log"
kill -TERM "$RPID"; wait "$RPID" 2>/dev/null

# Subscriptions, as a runner's status rows describe them.
status_row() { # NAME STATE LAG HEARTBEAT-AGE-SECONDS
	psql_q -c "insert into evstore.subscription_status (subscription, partition, runner_id, state, events_processed, lag_events, heartbeat_at)
	           values ('$1', 0, 'test:1', '$2', 42, $3, now() - interval '$4 seconds')
	           on conflict (subscription, partition) do update set state = excluded.state,
	             lag_events = excluded.lag_events, heartbeat_at = excluded.heartbeat_at"
}
status_row orders live 0 0
sleep 1.2
req GET /health
expect "a live subscription with a fresh heartbeat is healthy and running" 200 \
	.status healthy .details.subscription_count 1 .details.healthy_count 1 .details.running true \
	.details.total_events_processed 42
req GET /health/subscriptions/orders
expect "one subscription's health" 200 .name orders .status healthy .state live .events_processed 42 .dlq_count 0
status_row orders live 1500 0
req GET /health/subscriptions/orders
expect "a lag over the warning threshold is degraded" 200 .status degraded .lag_events 1500
req GET /health
expect "a degraded subscription keeps the service in the load balancer" 200 .status degraded .details.degraded_count 1
status_row orders live 20000 0
req GET /health/subscriptions/orders
expect "a lag over the critical threshold is unhealthy (503)" 503 .status unhealthy
status_row orders live 0 120
req GET /health
expect "a runner whose heartbeat is stale makes its subscription unhealthy" 503 .status unhealthy \
	.details.unhealthy_count 1 .details.running false
req GET /health/subscriptions/nothing
expect "an unknown subscription is the seed's 404 shape" 404 .error "Subscription not found"
req GET /v1/subscriptions
expect_problem "the subscription list needs a token" 401 unauthorized
auth_req "$(token reader "events:read")" GET /v1/subscriptions
expect_problem "the subscription list needs admin" 403 forbidden
auth_req "$(token root admin)" GET /v1/subscriptions
expect "an admin lists subscriptions" 200 '.subscriptions|length' 1 '.subscriptions[0].name' orders
psql_q -c "delete from evstore.subscription_status"

pg_stop fast
sleep 1.2
req GET /health/live
expect "liveness does not depend on the database" 200 .alive true
req GET /health/ready
expect "readiness fails while the database is down" 503 .ready false
req GET /health
expect "health is unhealthy while the database is down" 503 .status unhealthy .details.database unreachable
pg_start
# Each worker retries on its own backoff (at most 2 s) and the probe is
# cached for 1 s: within a few seconds every worker answers ready again.
wait_for 15 curl -sf "$IT_BASE/health/ready"
sleep 3.5
ready=0
for _ in 1 2 3 4 5 6; do curl -sf "$IT_BASE/health/ready" >/dev/null && ready=$((ready + 1)); done
check "readiness recovers by itself in every worker ($ready of 6 probes ready)" test "$ready" = 6

it_finish
