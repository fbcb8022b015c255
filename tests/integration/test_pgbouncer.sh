#!/usr/bin/env bash
# Behind pgbouncer in transaction pooling mode ([database] pooling =
# transaction): the workers send their statements unnamed, so the HTTP
# suites that matter (append, aggregates, concurrency, feed, input) pass
# with every request's transactions on whichever server session pgbouncer
# picks; each runs here with IT_PGBOUNCER=1 and counts as one check, its
# failures shown. The runner refuses transaction pooling: when the
# configuration says so, and when it finds its two connections landing in
# one server session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/runner_lib.sh"
it_require /usr/sbin/pgbouncer
IT_PGBOUNCER=1
it_start

check "the stack goes through pgbouncer in transaction mode" \
	test "$EVSTORE_DATABASE_URL $EVSTORE_DATABASE_POOLING" = "$PGBOUNCER_URL transaction"
"$CTL_BIN" --config "$IT_DIR/evstore.conf" migrate >"$IT_DIR/migrate.log" 2>&1
check "evstorectl migrate works through it" test $? = 0
T=$(token bouncer "events:read events:write")
ID=$(uuid)
for i in 1 2 3; do
	post_json "$T" "/v1/aggregates/Order/$ID/events" '{"expected_version":'$((i - 1))',"events":[{"event_type":"Tick","payload":{"i":'$i'}}]}'
done
expect "appends with expected versions through pgbouncer" 201 .version 3
auth_req "$T" GET "/v1/aggregates/Order/$ID/events"
expect "and reads" 200 '.events|length' 3
check "pgbouncer carried them (its log names the pool's connections)" \
	grep -q 'login attempt: db=postgres user=evstore' "$IT_DIR/pgbouncer/pgbouncer.log"

# --- the runner refuses ------------------------------------------------------------
conf bouncer "[subscription s]
handler = audit"
"$RUNNER_BIN" --config "$IT_DIR/bouncer.conf" >"$IT_DIR/runner-refused.log" 2>&1 </dev/null
rc=$?
check "the runner refuses pooling = transaction (exit $rc)" test "$rc" = 1
check "and says why: $(head -c 160 "$IT_DIR/runner-refused.log")" grep -q "needs sessions of its own" "$IT_DIR/runner-refused.log"
EVSTORE_DATABASE_POOLING=session timeout 60 "$RUNNER_BIN" --config "$IT_DIR/bouncer.conf" \
	>"$IT_DIR/runner-found.log" 2>&1 </dev/null
rc=$?
check "configured as session, it finds its connections sharing a server session and stops (exit $rc)" test "$rc" = 1
check "naming the pooler" grep -q '"runner_needs_sessions"' "$IT_DIR/runner-found.log"

# --- the HTTP suites behind pgbouncer ------------------------------------------------
for t in append aggregates concurrency feed input; do
	out=$(IT_PGBOUNCER=1 bash "$IT_SRCDIR/tests/integration/test_$t.sh" 2>&1)
	line=$(grep -E "^test_$t: [0-9]+ passed, [0-9]+ failed" <<<"$out")
	if [ -n "$line" ] && grep -q " 0 failed" <<<"$line"; then
		ok "behind pgbouncer: $line"
	else
		not_ok "behind pgbouncer: test_$t" "${line:-it stopped early}" "$(grep -E '^(not ok|#|Bail)' <<<"$out" | head -n 12)"
	fi
done
it_finish
