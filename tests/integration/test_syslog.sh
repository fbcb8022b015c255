#!/usr/bin/env bash
# test_syslog.sh - the shipped syslog-ng snippet with a real syslog-ng: the
# FastCGI pool and evstore-runner log to its socket ([log] target = syslog,
# [log] socket), an audit subscription writes one record per event, and
# the snippet's two JSON files must hold exactly what they promise, also
# across a syslog-ng restart while the runner keeps running: events
# committed while it is down are audited once it is back.
. "$(dirname "$0")/lib.sh"

# syslog-ng is a test dependency (packaging/deps.sh test): missing, the
# test skips (tests/run-all.sh, which installs it, counts that a failure).
SYSLOG_NG=$(command -v syslog-ng 2>/dev/null || echo /usr/sbin/syslog-ng)
[ -x "$SYSLOG_NG" ] || it_skip "syslog-ng not installed (packaging/deps.sh test installs syslog-ng-core)"
it_require nginx

IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start

SL=$IT_DIR/syslog-ng
OUT=$IT_DIR/logs
mkdir -p "$SL"

# evstore.conf: syslog to our socket, an audit subscription. The [log]
# section is stack_write_config's, switched from stderr to syslog.
sed -i "s#^target = stderr\$#target = syslog\nsocket = $IT_DIR/log.sock#" "$IT_DIR/evstore.conf"
cat >>"$IT_DIR/evstore.conf" <<CONF
[runner]
poll_interval_ms = 200

[subscription audit]
handler = audit
CONF
check "the configuration sends the logs to the socket" \
	grep -qx "socket = $IT_DIR/log.sock" "$IT_DIR/evstore.conf"
out=$(EVSTORE_LOG_SOCKET=log.sock "$(stack_runner_bin)" --config "$IT_DIR/evstore.conf" 2>&1); rc=$?
check "a relative [log] socket stops the runner with a clear message" \
	test "$rc:$out" = "1:evstore-runner: [log] socket: 'log.sock' is not an absolute path"

# syslog-ng: a source named like Debian's stock one, the snippet exactly as
# shipped with its directory pointed here, then a catch-all path that the
# snippet's final flags must keep evstore's records out of.
cat >"$SL/syslog-ng.conf" <<CONF
@version: 3.38
@define evstore_routes_options "dir('$OUT')"
options { stats-freq(0); };
source s_src { unix-dgram("$IT_DIR/log.sock"); internal(); };
@include "$IT_SRCDIR/packaging/syslog-ng/evstore.conf"
destination d_rest { file("$SL/rest.log"); };
log { source(s_src); destination(d_rest); };
CONF

syslog_start() {
	rm -f "$IT_DIR/log.sock"
	"$SYSLOG_NG" -F --no-caps -f "$SL/syslog-ng.conf" -R "$SL/syslog-ng.persist" \
		-p "$SL/syslog-ng.pid" -c "$SL/syslog-ng.ctl" >>"$SL/syslog-ng.out" 2>&1 </dev/null &
	SL_PID=$!
	IT_PIDS+=("$SL_PID")
	wait_for 10 test -S "$IT_DIR/log.sock"
}
syslog_stop() {
	kill -TERM "$SL_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$SL_PID" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$SL_PID" 2>/dev/null
}

check "syslog-ng starts with the shipped snippet" syslog_start
if ! kill -0 "$SL_PID" 2>/dev/null; then
	not_ok "syslog-ng keeps running" "$(cat "$SL/syslog-ng.out")"
	it_finish
	exit 1
fi

fcgi_start || exit 1
stack_nginx_start || exit 1
IT_BASE=http://127.0.0.1:$(cat "$IT_DIR/nginx/port")
stack_runner_start || exit 1
RUNNER_PID=$(cat "$IT_DIR/runner.pid")
IT_PIDS+=("$RUNNER_PID")

TENANT=$(uuid)
TOK_A=$(token alice "events:read events:write" "$TENANT")
TOK_B=$(token bob "events:read events:write")
AGG=($(uuid) $(uuid) $(uuid) $(uuid) $(uuid))
: >"$IT_DIR/expected.tsv"

# append_pair I: two events in one request on aggregate I % 5 (the first
# three as alice in the tenant, the others as bob without one). The
# request id comes from the X-Request-Id header (with other metadata or
# without) or from the server; each event's expected audit fields go to
# expected.tsv.
append_pair() {
	local i=$1 a=$(($1 % 5)) e1 e2 meta= rid= tok=$TOK_A tenant=$TENANT actor=alice
	local extra=()
	e1=$(uuid); e2=$(uuid)
	[ $a -ge 3 ] && { tok=$TOK_B; tenant=; actor=bob; }
	case $((i % 3)) in
	0) rid=meta-$i; meta=",\"metadata\":{\"source\":\"test\"}"; extra=(-H "X-Request-Id: $rid") ;;
	1) rid=hdr-$i; extra=(-H "X-Request-Id: $rid") ;;
	esac
	post_json "$tok" "/v1/aggregates/Order/${AGG[$a]}/events" \
		"{\"events\":[{\"event_id\":\"$e1\",\"event_type\":\"ItemAdded\",\"payload\":{\"n\":$i}$meta},
		  {\"event_id\":\"$e2\",\"event_type\":\"ItemRemoved\",\"payload\":{\"n\":$i}$meta}]}" "${extra[@]}"
	if [ "$STATUS" != 201 ]; then
		echo "#   append $i: $STATUS ${BODY:0:300}"
		return 1
	fi
	[ -n "$rid" ] || rid=$(hdr X-Request-Id)
	printf '%s\t%s\tOrder\t%s\t%s\t%s\t%s\tevent_committed\n' \
		"$e1" ItemAdded "${AGG[$a]}" "$tenant" "$actor" "$rid" \
		"$e2" ItemRemoved "${AGG[$a]}" "$tenant" "$actor" "$rid" >>"$IT_DIR/expected.tsv"
}
appended() { # FROM TO: append_pair for each I, false if any failed
	local i rc=0
	for i in $(seq "$1" "$2"); do append_pair "$i" || rc=1; done
	return $rc
}

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
has_lines() { [ "$(lines "$2")" -ge "$1" ]; }
# Every line of FILE is one JSON object.
json_lines() {
	python3 - "$1" <<'PY'
import json, sys
bad = 0
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    try:
        ok = isinstance(json.loads(line), dict)
    except ValueError:
        ok = False
    if not ok:
        bad += 1
        print("#   line %d: %s" % (n, line[:200].rstrip()))
sys.exit(1 if bad else 0)
PY
}
# The audit file's fields in expected.tsv's order, sorted.
audit_tsv() {
	jq -r '[.event_id, .event_type, .aggregate_type, .aggregate_id, .tenant_id, .actor_id,
		.request_id, .audit_type] | @tsv' "$OUT/audit.json" | sort
}
same_as_expected() {
	if diff <(sort "$IT_DIR/expected.tsv") <(audit_tsv) >"$IT_DIR/audit.diff"; then return 0; fi
	sed 's/^/#   /' "$IT_DIR/audit.diff" | head -n 20
	return 1
}

# --- 50 events, one audit record each ----------------------------------------------
check "50 events appended over HTTP (25 requests, 5 aggregates, 2 actors)" appended 0 24
wait_for 60 has_lines 50 "$OUT/audit.json"
check "audit.json holds exactly one line per event" test "$(lines "$OUT/audit.json")" = 50
check "each line of audit.json is a JSON object" json_lines "$OUT/audit.json"
check "one audit record per event: event id, type, aggregate, tenant, actor, request id" same_as_expected
check "every audit record comes from the runner's audit ident with its pid" test \
	"$(jq -r '[.syslog.program, .syslog.pid, (.position | type), (.timestamp | length > 0), (.syslog.host | length > 0)] | @tsv' "$OUT/audit.json" | sort -u)" \
	= "$(printf 'evstore-runner-audit\t%s\tnumber\ttrue\ttrue' "$RUNNER_PID")"
check "the audit records' positions are the events' positions" test \
	"$(jq -r .position "$OUT/audit.json" | sort -n | tr '\n' ' ')" \
	= "$(psql_q -c "SELECT position FROM evstore.events ORDER BY position" | tr '\n' ' ')"

# --- the operational file -------------------------------------------------------
wait_for 10 grep -q '"event":"http_request"' "$OUT/evstore.json"
check "each line of evstore.json is a JSON object" json_lines "$OUT/evstore.json"
check "evstore.json has the runner's start record" test "$(jq -r 'select(.event == "runner_started")
	| [.syslog.program, .syslog.pid, .level] | @tsv' "$OUT/evstore.json")" \
	= "$(printf 'evstore-runner\t%s\tnotice' "$RUNNER_PID")"
check "evstore.json has the FastCGI pool's start record" test \
	"$(jq -r 'select(.event == "pool_started") | .syslog.program' "$OUT/evstore.json")" = evstore-fcgi
check "evstore.json has a worker's request record, with its request id" test \
	"$(jq -r 'select(.event == "http_request" and .req_id == "hdr-1")
		| [.syslog.program, .method, .status, (.syslog.pid != "'"$IT_FCGI_PID"'")] | @tsv' "$OUT/evstore.json")" \
	= "$(printf 'evstore-fcgi\tPOST\t201\ttrue')"
check "no audit record in evstore.json" test \
	"$(jq -r 'select(has("audit_type") or (.syslog.program | endswith("-audit")))' "$OUT/evstore.json" | wc -l)" = 0
check "evstore's records stop at the snippet (flags final): none in the catch-all" \
	test "$(grep -cE ' evstore(-fcgi|-runner|ctl)(-audit)?\[' "$SL/rest.log")" = 0
check "the catch-all still gets other records" grep -q 'syslog-ng starting up' "$SL/rest.log"

# --- syslog-ng restarts while the runner keeps running -------------------------
check "syslog-ng stops on SIGTERM" syslog_stop
check "10 events appended while syslog-ng is down" appended 25 29
sleep 1
health_audit() { req GET /health/subscriptions/audit; jq_body '[.status, .state, (.last_error | contains("log socket"))] | @tsv'; }
held_up() { [ "$(health_audit)" = "$(printf 'degraded\tpaused\ttrue')" ]; }
check "while the audit records cannot be sent, the subscription's health says so" wait_for 20 held_up
check "syslog-ng starts again" syslog_start
check "the runner kept running" kill -0 "$RUNNER_PID"
check "10 more events appended after the restart" appended 30 34
wait_for 60 has_lines 70 "$OUT/audit.json"
check "after the restart audit.json holds exactly 70 lines" test "$(lines "$OUT/audit.json")" = 70
check "every event, the ones committed while syslog-ng was down too, has its one audit record" same_as_expected
check "the runner waited for the log socket instead of parking" test \
	"$(psql_q -c "SELECT count(*) FROM evstore.dlq")" = 0
check "each line is still a JSON object" json_lines "$OUT/audit.json"
check "the FastCGI workers log to the new syslog-ng" wait_for 10 \
	grep -q '"req_id":"hdr-34"' "$OUT/evstore.json"

audit_healthy() { req GET /health/subscriptions/audit; [ "$(jq_body .status)" = healthy ]; }
check "once they are sent again, it is healthy" wait_for 20 audit_healthy

# --- a record too big for the log socket -----------------------------------------
# An event stored with a 900 KB request_id (written before clients lost the
# right to set one, or imported): its record is cut and marked, not retried
# for ever, and the events after it are audited.
BIG=$(uuid)
psql_q -c "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
	actor_id, occurred_at, payload, metadata) VALUES ('00000000-0000-0000-0000-000000000000', '$BIG', 'Order',
	gen_random_uuid(), 1, 'Imported', 'importer', now(), '{}', jsonb_build_object('request_id', repeat('r', 900000)));
	NOTIFY evstore_events" >/dev/null
check "2 events appended after it" appended 35 35
wait_for 30 has_lines 73 "$OUT/audit.json"
check "the oversized event has one audit record, cut and marked truncated" test \
	"$(jq -r "select(.event_id == \"$BIG\") | [.truncated, (.request_id | length)] | @tsv" "$OUT/audit.json")" = "$(printf 'true\t256')"
check "the events after it are audited: 73 lines" test "$(lines "$OUT/audit.json")" = 73
check "nothing was parked for it" test "$(psql_q -c "SELECT count(*) FROM evstore.dlq")" = 0

# --- files -------------------------------------------------------------------
check "the log directory and files are not world-readable" test \
	"$(stat -c %a "$OUT" "$OUT/audit.json" "$OUT/evstore.json" | tr '\n' ' ')" = "750 640 640 "

# --- stop everything -----------------------------------------------------------
stack_runner_stop
gone() { ! kill -0 "$1" 2>/dev/null; }
check "the runner stopped on SIGTERM" gone "$RUNNER_PID"
check "the runner ran clean under the sanitizers" \
	test "$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$IT_DIR/runner.log")" = 0
check "syslog-ng stops" syslog_stop
it_finish
