#!/usr/bin/env bash
# The HTTP integration tests, unchanged, behind Apache mod_proxy_fcgi
# (IT_FRONT=apache, apache/evstore-proxy-fcgi.conf as shipped) instead of
# nginx: each runs in turn, its checks come out here prefixed with its name
# and numbered as one TAP stream, and one summary line counts them all.
# A test that fails, stops early or skips (after the first) fails this one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# The tests that talk HTTP through $IT_BASE and start their stack with
# it_start (the runner tests drive no front; test_syslog and
# test_runner_snapshots start nginx themselves).
FRONT_TESTS=${FRONT_TESTS:-"aggregates append auth concurrency dlq feed health input resilience"}

n=0
passed=0
failed=0
verdict() { # ok|not_ok TEXT
	n=$((n + 1))
	if [ "$1" = ok ]; then passed=$((passed + 1)); echo "ok $n - $2"
	else failed=$((failed + 1)); echo "not ok $n - $2"; fi
}

first=1
for t in $FRONT_TESTS; do
	out=$(IT_FRONT=apache bash "$here/test_$t.sh" 2>&1)
	rc=$?
	if [ "$first" = 1 ] && grep -q '^1\.\.0 # SKIP' <<<"$out"; then
		# Same prerequisites for all: Apache or mod_proxy_fcgi is missing.
		grep '^1\.\.0 # SKIP' <<<"$out"
		exit 77
	fi
	first=0
	own=0 ownfail=0 summary=0
	while IFS= read -r line; do
		case "$line" in
		"ok "*) own=$((own + 1)); verdict ok "$t: ${line#ok * - }" ;;
		"not ok "*) own=$((own + 1)); ownfail=$((ownfail + 1)); verdict not_ok "$t: ${line#not ok * - }" ;;
		"1..0 # SKIP"*) verdict not_ok "$t: skipped (${line#1..0 # SKIP })" ;;
		"Bail out!"*) verdict not_ok "$t: ${line#Bail out! }" ;;
		1..*) ;;
		"test_$t: "*" passed, "*" failed") summary=1 ;;
		"#"*) echo "$line" ;;
		*) echo "# $t: $line" ;;
		esac
	done <<<"$out"
	# A test that ended without its summary, or failed without saying
	# which check, still fails here.
	if [ "$summary" = 0 ] && ! grep -q '^1\.\.0 # SKIP' <<<"$out"; then
		verdict not_ok "$t: ended early (exit $rc) after $own checks"
	elif [ "$rc" -ne 0 ] && [ "$ownfail" = 0 ] && ! grep -q '^1\.\.0 # SKIP' <<<"$out"; then
		verdict not_ok "$t: exit status $rc"
	fi
done

echo "front_apache: $passed passed, $failed failed"
echo "1..$n"
[ "$failed" -eq 0 ]
