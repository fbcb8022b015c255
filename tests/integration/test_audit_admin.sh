#!/usr/bin/env bash
# test_audit_admin.sh - every admin action leaves one audit record, with
# its actor, in the audit stream that a real syslog-ng writes with the
# shipped snippet: DLQ retry over HTTP (the token's sub, the request and
# trace ids), retry-all, a retry of an entry that does not exist; evstorectl
# dlq resolve and purge, rebuild, snapshot --invalidate, migrate and import (the
# OS user, and the sudo user when run through sudo). The records name the
# target and the counts, and stay out of the operational log.
. "$(dirname "$0")/lib.sh"

SYSLOG_NG=$(command -v syslog-ng 2>/dev/null || echo /usr/sbin/syslog-ng)
[ -x "$SYSLOG_NG" ] || it_skip "syslog-ng not installed (packaging/deps.sh test installs syslog-ng-core)"
it_require nginx

. "$(dirname "$0")/runner_lib.sh"
IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

SL=$IT_DIR/syslog-ng
OUT=$IT_DIR/logs
mkdir -p "$SL"

# The read model refuses amounts of 100 and more: those events are parked.
psql_q -c "CREATE TABLE dq (event_id uuid PRIMARY KEY, amount int NOT NULL CHECK (amount < 100))"
cat >"$IT_DIR/dq.sql" <<'SQL'
-- on Added
INSERT INTO dq VALUES (($1::jsonb->>'event_id')::uuid, ($1::jsonb->'payload'->>'amount')::int);
-- truncate
TRUNCATE dq;
SQL
# Every program of the stack, evstorectl included, logs to syslog-ng's socket.
sed -i "s#^target = stderr\$#target = syslog\nsocket = $IT_DIR/log.sock#" "$IT_DIR/evstore.conf"
cat >>"$IT_DIR/evstore.conf" <<CONF
[runner]
poll_interval_ms = 200

[subscription dq]
handler = sql
sql_file = $IT_DIR/dq.sql
max_retries = 0
CONF

cat >"$SL/syslog-ng.conf" <<CONF
@version: 3.38
@define evstore_routes_options "dir('$OUT')"
options { stats-freq(0); };
source s_src { unix-dgram("$IT_DIR/log.sock"); internal(); };
@include "$IT_SRCDIR/packaging/syslog-ng/evstore.conf"
destination d_rest { file("$SL/rest.log"); };
log { source(s_src); destination(d_rest); };
CONF
"$SYSLOG_NG" -F --no-caps -f "$SL/syslog-ng.conf" -R "$SL/syslog-ng.persist" \
	-p "$SL/syslog-ng.pid" -c "$SL/syslog-ng.ctl" >>"$SL/syslog-ng.out" 2>&1 </dev/null &
SL_PID=$!
IT_PIDS+=("$SL_PID")
check "syslog-ng starts with the shipped snippet" wait_for 10 test -S "$IT_DIR/log.sock"

fcgi_start || exit 1
stack_nginx_start || exit 1
IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/nginx/port")
CTL() { "$CTL_BIN" --config "$IT_DIR/evstore.conf" "$@"; }

# --- DLQ entries to act on: four poison events, parked by the runner --------
W=$(token writer "events:write")
for amount in 1 500 600 700 800; do
	post_json "$W" "/v1/aggregates/Acct/$(uuid)/events" \
		"{\"events\":[{\"event_type\":\"Added\",\"payload\":{\"amount\":$amount}}]}"
done
stack_runner_start || exit 1
check "the runner parks the four poison events" wait_for 20 sql_is 4 \
	"SELECT count(*) FROM evstore.dlq WHERE subscription = 'dq' AND status = 'failed'"
stack_runner_stop
ENTRIES=($(psql_q -c "SELECT id FROM evstore.dlq WHERE subscription = 'dq' ORDER BY id"))

# audit_has NAME FILTER: one record of audit.json matches the jq FILTER
# (syslog-ng hands every value over as a string).
# matches_once FILTER: asked anew on every call, so wait_for can poll it.
matches_once() {
	[ "$(jq -c "select(.audit_type == \"admin_action\") | select($1)" "$OUT/audit.json" 2>/dev/null |
		wc -l)" = 1 ]
}
audit_has() {
	local name=$1 filter=$2
	if wait_for 10 matches_once "$filter"; then
		ok "$name"
	else
		not_ok "$name" "no single record matches: $filter" \
			"$(grep admin_action "$OUT/audit.json" 2>/dev/null | tail -n 3)"
	fi
}

# --- over HTTP: the token's sub is the actor ------------------------------------
ALICE=$(token ops-alice admin)
BOB=$(token ops-bob admin)
TRACE=0af7651916cd43dd8448eb211c80319c
auth_req "$ALICE" POST "/v1/subscriptions/dq/dlq/${ENTRIES[0]}/retry" -H 'X-Request-Id: audit-req-1' \
	-H "traceparent: 00-$TRACE-b7ad6b7169203331-01"
check "HTTP: an entry is requeued (202)" test "$STATUS" = 202
audit_has "HTTP retry: its record names the action, the token's sub, the target, the count" \
	".action == \"dlq_retry\" and .actor == \"ops-alice\" and .via == \"http\" and .outcome == \"ok\"
	 and .target.subscription == \"dq\" and .target.dlq_entry == \"${ENTRIES[0]}\"
	 and (.counts.requeued | tostring) == \"1\" and .syslog.program == \"evstore-fcgi-audit\""
audit_has "... and the request id and trace id, to find the request in the HTTP log" \
	".action == \"dlq_retry\" and .request_id == \"audit-req-1\" and .trace_id == \"$TRACE\""
auth_req "$ALICE" POST "/v1/subscriptions/dq/dlq/999999/retry"
check "HTTP: a retry of an entry that does not exist is 404" test "$STATUS" = 404
audit_has "... and is audited too, as not_found" \
	".action == \"dlq_retry\" and .target.dlq_entry == \"999999\" and .outcome == \"not_found\""
auth_req "$BOB" POST /v1/subscriptions/dq/dlq/retry-all
check "HTTP: retry-all requeues the other three" test "$STATUS:$(jq_body .requeued)" = 202:3
audit_has "HTTP retry-all: actor ops-bob, 3 requeued" \
	".action == \"dlq_retry_all\" and .actor == \"ops-bob\" and (.counts.requeued | tostring) == \"3\""
auth_req "$(token ops-eve events:read)" POST /v1/subscriptions/dq/dlq/retry-all
check "HTTP: a token without admin is refused (403)" test "$STATUS" = 403

# --- evstorectl: the OS user is the actor -----------------------------------------
ME=$(id -un)
CTL dlq resolve "${ENTRIES[1]}" >/dev/null
audit_has "evstorectl dlq resolve: actor $ME, via evstorectl, the entry, 1 resolved" \
	".action == \"dlq_resolve\" and .actor == \"$ME\" and .via == \"evstorectl\"
	 and .target.dlq_entry == \"${ENTRIES[1]}\" and (.counts.resolved | tostring) == \"1\"
	 and .syslog.program == \"evstorectl-audit\""
CTL dlq purge --subscription dq >/dev/null
audit_has "evstorectl dlq purge: the subscription, every entry, 4 purged" \
	".action == \"dlq_purge\" and .actor == \"$ME\" and .target.subscription == \"dq\"
	 and .target.entries == \"all\" and (.counts.purged | tostring) == \"4\""
CTL rebuild dq --yes --no-wait >/dev/null
audit_has "evstorectl rebuild: the subscription and the 5 events to replay" \
	".action == \"rebuild\" and .actor == \"$ME\" and .target.subscription == \"dq\"
	 and (.counts.events_to_replay | tostring) == \"5\" and .outcome == \"ok\""
psql_q -c "INSERT INTO evstore.snapshots (tenant_id, aggregate_type, aggregate_id, version, schema_version,
	rules_hash, state) SELECT '$NIL', 'Acct', gen_random_uuid(), 1, 1, 'h', '{}' FROM generate_series(1, 2)"
CTL snapshot --invalidate Acct >/dev/null
audit_has "evstorectl snapshot --invalidate: the aggregate type, 2 deleted" \
	".action == \"snapshot_invalidate\" and .target.aggregate_type == \"Acct\" and (.counts.deleted | tostring) == \"2\""
CTL migrate >/dev/null
audit_has "evstorectl migrate: nothing applied, the schema version" \
	".action == \"migrate\" and .actor == \"$ME\" and (.counts.applied | tostring) == \"0\"
	 and (.counts.schema_version | tostring) != \"\""
printf '%s\n' "$(psql_q -c "SELECT evstore.event_json(e) FROM evstore.events e ORDER BY position LIMIT 1")" \
	>"$IT_DIR/one.jsonl"
CTL import "$IT_DIR/one.jsonl" >/dev/null
audit_has "evstorectl import: the file, the events imported (none: stored already)" \
	".action == \"import\" and .actor == \"$ME\" and .target.source == \"$IT_DIR/one.jsonl\"
	 and (.counts.events | tostring) == \"0\" and .outcome == \"ok\""
CTL dlq resolve 999999 >/dev/null 2>&1
audit_has "evstorectl: an action that changed nothing says so" \
	".action == \"dlq_resolve\" and .target.dlq_entry == \"999999\" and .outcome == \"no_change\""
if [ "$(id -u)" = 0 ]; then
	SUDO_USER=carol CTL dlq purge --subscription dq --resolved >/dev/null
	audit_has "run through sudo: the sudo user beside the OS user" \
		".action == \"dlq_purge\" and .actor == \"$ME\" and .sudo_user == \"carol\"
		 and .target.entries == \"resolved\""
fi

# --- where the records go -------------------------------------------------------------
check "each line of audit.json is a JSON object" \
	test "$(jq -c 'type' "$OUT/audit.json" | sort -u)" = '"object"'
check "the records carry no field of the event records (an empty position)" \
	test "$(jq -c 'select(.audit_type == "admin_action" and has("position"))' "$OUT/audit.json" | wc -l)" = 0
check "no admin action record in the operational log" \
	test "$(jq -c 'select(.audit_type == "admin_action" or (.syslog.program | endswith("-audit")))' \
		"$OUT/evstore.json" | wc -l)" = 0
check "a request refused before the action (403) leaves no record: one retry-all record" test \
	"$(jq -c 'select(.action == "dlq_retry_all")' "$OUT/audit.json" | wc -l)" = 1

kill -TERM "$SL_PID"; wait "$SL_PID" 2>/dev/null
runner_logs_clean
it_finish
