#!/usr/bin/env bash
# test_privacy_erasure_sub.sh - a runner projection receiving SubjectErased:
# an sql read model holding personal data (personal_data = clear, the
# shipped example projection) deletes the subject's rows when the subject
# is erased by DELETE /v1/subjects/X or evstorectl forget; exactly once,
# also when the runner is killed in the middle of it and restarted, and
# across partitions; other subjects, and the same id in another tenant,
# untouched; a subscription without the key gets nothing; an erasure made
# while the runner is down is delivered when it starts, one made before the
# subscription was first started is not; an exec program gets the event as
# a line; a failing section is retried, never parked; and the
# configurations that cannot work are refused at start-up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/runner_lib.sh"
IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start
it_front_require

CONF=$IT_DIR/evstore.conf
(umask 077; openssl rand -hex 32 >"$IT_DIR/master.key")
cp "$IT_SRCDIR/examples/privacy/customer.json" "$IT_DIR/aggregates.d/"
printf '[privacy]\nmaster_key_file = %s\n' "$IT_DIR/master.key" >>"$CONF"
it_front_start || exit 1

W=$(token writer "events:read events:write")
ADM=$(token dpo "admin")
TEN=$(uuid)
WT=$(token writer "events:read events:write" "$TEN")
register() { # ID NAME [TOKEN]: a Customer with personal name and email
	post_json "${3:-$W}" "/v1/aggregates/Customer/$1/commands/register" "{\"name\":\"$2\",\"email\":\"$2@example.org\"}"
	[ "$STATUS" = 201 ] || not_ok "register $2" "status $STATUS: $BODY"
}

# The example projection as shipped, on a table of each subscription's own,
# with two statements added to its "-- on SubjectErased" section: a count
# of deliveries per subject (what a double delivery would show), a pause
# for subjects named in slow_subjects, so that a runner can be killed in the
# middle of one, and a failure for those in failing_subjects.
psql_q -c "CREATE TABLE slow_subjects (subject text PRIMARY KEY); CREATE TABLE failing_subjects (subject text PRIMARY KEY)"
for t in contacts plain; do
	psql_q -c "CREATE TABLE $t (tenant_id uuid NOT NULL, customer_id uuid NOT NULL, name text, email text,
		withheld jsonb NOT NULL DEFAULT '[]', PRIMARY KEY (tenant_id, customer_id));
		CREATE TABLE ${t}_erased (subject text PRIMARY KEY, n int NOT NULL, key_id bigint NOT NULL)"
	sed -e "s/customer_contacts/$t/g" -e "/^-- on SubjectErased\$/a\\
SELECT pg_sleep(3) FROM slow_subjects WHERE subject = \$1::jsonb->>'subject';\\
SELECT 1 / (1 - count(*))::int FROM failing_subjects WHERE subject = \$1::jsonb->>'subject';\\
INSERT INTO ${t}_erased VALUES (\$1::jsonb->>'subject', 1, (\$1::jsonb->>'key_id')::bigint)\\
ON CONFLICT (subject) DO UPDATE SET n = ${t}_erased.n + 1;" \
		"$IT_SRCDIR/examples/privacy/customer_contacts.sql" >"$IT_DIR/$t.sql"
done
check "the shipped example has a \"-- on SubjectErased\" section" grep -q '^-- on SubjectErased$' "$IT_DIR/contacts.sql"
# mailer.sh: an exec program that keeps every line it gets and answers ok.
cat >"$IT_DIR/mailer.sh" <<'SH'
#!/bin/sh
while read -r line; do printf '%s\n' "$line" >>"$0.lines"; echo ok; done
SH
chmod +x "$IT_DIR/mailer.sh"
LINES=$IT_DIR/mailer.sh.lines

# contacts: the filter names one event type and the partitions are two;
# subject_erased = deliver wins over the filter, and one partition delivers.
# subs KEY: the sections, KEY the contacts subscription's subject_erased line.
subs() {
	echo "[subscription contacts]
handler = sql
sql_file = $IT_DIR/contacts.sql
aggregate_types = Customer
event_types = CustomerRegistered
start_from = beginning
personal_data = clear
partitions = 2
$1
retry_initial_delay = 200ms
retry_max_delay = 1s
[subscription plain]
handler = sql
sql_file = $IT_DIR/plain.sql
aggregate_types = Customer
start_from = beginning
personal_data = clear
[subscription mailer]
handler = exec
command = $IT_DIR/mailer.sh
aggregate_types = Customer
start_from = beginning
subject_erased = deliver"
}
conf run "$(subs "subject_erased = deliver")"

# --- configurations that cannot work are refused ------------------------------
refused() { # NAME SECTIONS EXPECTED: the runner exits 1 at start-up, saying so
	local out rc
	conf bad "$2"
	out=$(timeout 20 "$RUNNER_BIN" --config "$IT_DIR/bad.conf" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = 1 ] && grep -qF -- "$3" <<<"$out"; then ok "$1"
	else not_ok "$1" "exit $rc: ${out:0:400}"; fi
}
projection proj >"$IT_DIR/proj.sql"
refused "deliver with an sql file lacking the section is refused" \
	"[subscription nosection]
handler = sql
sql_file = $IT_DIR/proj.sql
subject_erased = deliver" \
	"[subscription nosection] subject_erased = deliver: $IT_DIR/proj.sql has no \"-- on SubjectErased\" section"
refused "deliver with the audit handler is refused" \
	"[subscription audited]
handler = audit
subject_erased = deliver" \
	"[subscription audited] subject_erased = deliver needs handler sql or exec"
refused "a value other than ignore or deliver is refused" \
	"[subscription typo]
handler = audit
subject_erased = yes" "subject_erased: 'yes'"

# --- before the first start: not delivered -------------------------------------
A=$(uuid) B=$(uuid) C=$(uuid) D=$(uuid) E=$(uuid) Z=$(uuid)
for id in $A $B $C $D $E $Z; do register "$id" "n-${id:0:8}"; done
T=$(uuid) # one id, a customer in no tenant and another in tenant TEN
register "$T" "t-none"
register "$T" "t-ten" "$WT"
"$CTL_BIN" --config "$CONF" forget "$Z" >/dev/null 2>&1
check "a subject erased before the subscriptions ever ran" test $? = 0

start_runner run runner.log
rows() { psql_q -c "SELECT count(*) FROM $1"; }
wait_for 30 sql_is 8 "SELECT count(*) FROM contacts" && wait_for 30 sql_is 8 "SELECT count(*) FROM plain"
check "the projections hold every customer" test "$(rows contacts) $(rows plain)" = "8 8"
wait_for 10 sql_is "contacts mailer" "SELECT string_agg(subscription, ' ' ORDER BY subscription) FROM evstore.erasure_subscribers"
check "the subscriptions with subject_erased = deliver are registered, the other is not" \
	sql_is "contacts mailer" "SELECT string_agg(subscription, ' ' ORDER BY subscription) FROM evstore.erasure_subscribers"
sleep 2
check "an erasure from before the first start is not delivered" sql_is 0 "SELECT count(*) FROM contacts_erased"
check "... and its row, written after it, holds no personal data" \
	sql_is "t" "SELECT name IS NULL AND email IS NULL FROM contacts WHERE customer_id = '$Z'"

# --- DELETE /v1/subjects/X -------------------------------------------------------
auth_req "$ADM" DELETE "/v1/subjects/$A"
expect "DELETE /v1/subjects erases A" 200 .outcome erased
gone() { sql_is 0 "SELECT count(*) FROM contacts WHERE customer_id = '$1'"; }
wait_for 15 gone "$A"
check "SubjectErased deleted A's row from the read model" gone "$A"
check "... delivered once" sql_is 1 "SELECT n FROM contacts_erased WHERE subject = '$A'"
check "... with the erased key's id" \
	sql_is t "SELECT e.key_id = k.key_id FROM contacts_erased e JOIN evstore.subject_keys k ON k.subject = e.subject WHERE e.subject = '$A'"
check "the other subjects' rows are untouched" \
	sql_is 4 "SELECT count(*) FROM contacts WHERE customer_id IN ('$B', '$C', '$D', '$E') AND name LIKE 'n-%'"
check "a subscription without the key receives nothing" \
	sql_is "0 8" "SELECT (SELECT count(*) FROM plain_erased) || ' ' || (SELECT count(*) FROM plain)"
lines_of() { jq -c --arg s "$1" 'select(.subject == $s)' "$LINES" 2>/dev/null | wc -l; } # SUBJECT
has_line() { [ "$(lines_of "$1")" -ge 1 ]; }
wait_for 15 has_line "$A"
line=$(jq -c --arg s "$A" 'select(.subject == $s)' "$LINES" | head -n 1)
check "the exec program got a SubjectErased line for A" test -n "$line"
check "... with the subject, no tenant, erased_at and key_id, and no aggregate or payload" \
	test "$(jq -r '[.event_type, .subject, (.tenant_id|tostring), (.erased_at|test("^[0-9-]+T[0-9:.]+Z$")),
		(.key_id|type), (.aggregate_id|tostring), (.aggregate_type|tostring), (.position|tostring),
		(.payload|tostring)]|join(" ")' <<<"$line")" = "SubjectErased $A null true number null null null null"
check "nothing of the subject's personal data in the line" sh -c "! grep -q 'n-${A:0:8}' '$LINES'"
check "the inboxes are empty once delivered" sql_is 0 "SELECT count(*) FROM evstore.erasure_inbox"

# --- an erasure in a tenant: that tenant's copy only ----------------------------
auth_req "$ADM" DELETE "/v1/subjects/$T" -H "X-Evstore-Tenant: $TEN"
expect "T erased in tenant TEN" 200 .outcome erased
tenant_gone() { sql_is 0 "SELECT count(*) FROM contacts WHERE customer_id = '$T' AND tenant_id = '$TEN'"; }
wait_for 15 tenant_gone
check "the tenant's row of T is deleted" tenant_gone
check "... the same id's row in no tenant is untouched" \
	sql_is "t-none" "SELECT name FROM contacts WHERE customer_id = '$T' AND tenant_id = '$NIL'"
wait_for 15 has_line "$T"
check "the exec program's line names the tenant" \
	test "$(jq -r --arg s "$T" 'select(.subject == $s) | .tenant_id' "$LINES" | head -n 1)" = "$TEN"

# --- evstorectl forget, the runner killed in the middle of the delivery ---------
psql_q -c "INSERT INTO slow_subjects VALUES ('$B')"
out=$("$CTL_BIN" --config "$CONF" forget "$B" 2>/dev/null)
check "evstorectl forget erases B" test "$out" = "erased: the personal data of $B can no longer be read"
sleeping() { sql_is 1 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'evstore-runner' AND query LIKE '%pg_sleep%' AND state = 'active'"; }
wait_for 15 sleeping
check "the runner is in the middle of B's SubjectErased section" sleeping
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null
start_runner run runner2.log
wait_for 20 gone "$B"
sleep 5 # both transactions, the killed runner's and the new one's, are over
check "after kill -9 and a restart B's row is gone" gone "$B"
check "... and the section committed exactly once" sql_is 1 "SELECT n FROM contacts_erased WHERE subject = '$B'"
wait_for 15 has_line "$B"
check "the exec program got B at least once" has_line "$B"
wait_for 15 sql_is 0 "SELECT count(*) FROM evstore.erasure_inbox"

# --- an erasure while no runner runs ----------------------------------------------
check "the runner stops" stop_runner
"$CTL_BIN" --config "$CONF" forget "$C" >/dev/null 2>&1
auth_req "$ADM" DELETE "/v1/subjects/$D"
expect "D erased over HTTP while the runner is down" 200 .outcome erased
check "the erasures wait in the inboxes" sql_is 4 "SELECT count(*) FROM evstore.erasure_inbox"
start_runner run runner3.log
wait_for 20 gone "$C" && wait_for 20 gone "$D"
check "erasures made while the runner was down are delivered when it starts" \
	sql_is 0 "SELECT count(*) FROM contacts WHERE customer_id IN ('$C', '$D')"
wait_for 15 has_line "$C" && wait_for 15 has_line "$D"
check "... to the exec program too, once each" test "$(lines_of "$C") $(lines_of "$D")" = "1 1"
# Restarted once more: nothing is delivered twice.
check "the runner stops again" stop_runner
start_runner run runner4.log
wait_for 20 sql_is live "SELECT state FROM evstore.subscription_status WHERE subscription = 'contacts' AND partition = 0"
sleep 3
check "after another restart every subject was handled exactly once" \
	sql_is "$A:1 $B:1 $C:1 $D:1" "SELECT string_agg(subject || ':' || n, ' ' ORDER BY array_position(ARRAY['$A','$B','$C','$D'], subject)) FROM contacts_erased WHERE subject IN ('$A','$B','$C','$D')"
check "E, never erased, keeps its row and its data" sql_is "n-${E:0:8}" "SELECT name FROM contacts WHERE customer_id = '$E'"
check "the subscription without the key still holds every row and got nothing" \
	sql_is "0 8" "SELECT (SELECT count(*) FROM plain_erased) || ' ' || (SELECT count(*) FROM plain)"

# --- a failing section is retried, never parked -------------------------------------
psql_q -c "INSERT INTO failing_subjects VALUES ('$E')"
"$CTL_BIN" --config "$CONF" forget "$E" >/dev/null 2>&1
retried() { [ "$(grep -c '"erasure_retry"' "$IT_DIR/runner4.log")" -ge 2 ]; }
wait_for 15 retried
check "a failing SubjectErased section is retried, logged as erasure_retry" retried
check "... naming the key id, never the subject" \
	sh -c "grep '\"erasure_retry\"' '$IT_DIR/runner4.log' | grep -q '\"key_id\"' && ! grep '\"erasure_retry\"' '$IT_DIR/runner4.log' | grep -q '$E'"
check "... shown in the status row" \
	sql_is t "SELECT last_error LIKE 'SQLSTATE 22012 in \"-- on SubjectErased\"%' FROM evstore.subscription_status WHERE subscription = 'contacts' AND partition = 0"
check "... not parked in the DLQ" sql_is 0 "SELECT count(*) FROM evstore.dlq"
check "... while E's row stays" sql_is 1 "SELECT count(*) FROM contacts WHERE customer_id = '$E'"
psql_q -c "DELETE FROM failing_subjects"
wait_for 20 gone "$E"
check "once the section works again the erasure is delivered" gone "$E"
check "... once" sql_is 1 "SELECT n FROM contacts_erased WHERE subject = '$E'"

# --- subject_erased back to ignore: unregistered ---------------------------------------
conf run "$(subs "subject_erased = ignore")"
kill -HUP "$RPID"
wait_for 15 sql_is "mailer" "SELECT string_agg(subscription, ' ') FROM evstore.erasure_subscribers"
check "a subscription whose key went back to ignore is unregistered" \
	sql_is "mailer" "SELECT string_agg(subscription, ' ') FROM evstore.erasure_subscribers"

check "the runner stops cleanly" stop_runner
runner_logs_clean
it_finish
