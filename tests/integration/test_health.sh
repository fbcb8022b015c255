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

pg_stop fast
sleep 1.2
req GET /health/live
expect "liveness does not depend on the database" 200 .alive true
req GET /health/ready
expect "readiness fails while the database is down" 503 .ready false
req GET /health
expect "health is unhealthy while the database is down" 503 .status unhealthy .details.database unreachable
pg_start
sleep 1.2
wait_for 10 curl -sf "$IT_BASE/health/ready"
req GET /health/ready
expect "readiness recovers by itself" 200 .ready true

it_finish
