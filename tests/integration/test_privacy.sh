#!/usr/bin/env bash
# Personal data: declared fields sealed per data subject on append, in
# clear only with personal:read, erased by destroying the subject's key
# (DELETE /v1/subjects/{subject}, evstorectl forget) also under concurrent
# appends; damaged or moved ciphertext is a problem; the master key file is
# checked at start-up; and no plaintext of a declared field reaches the
# database files or the logs.
. "$(dirname "$0")/lib.sh"
IT_NO_SERVERS=1 it_start
it_front_require

MARK="zq-marker-$(uuid | cut -c1-8)"
KEY=$IT_DIR/master.key
CONF=$IT_DIR/evstore.conf
cp "$IT_SRCDIR/examples/privacy/customer.json" "$IT_DIR/aggregates.d/"
printf '[privacy]\nmaster_key_file = %s\n' "$KEY" >>"$CONF"

# --- start-up refuses a bad master key file ---------------------------------
start_refused "a missing master key file stops start-up" "$KEY: cannot open the master key file"
(umask 022; openssl rand -hex 32 >"$KEY")
start_refused "a master key file readable by others stops start-up" \
	"must not be accessible by group or others (mode 0644"
out=$("$FCGI_BIN" --config "$CONF" --check 2>&1)
check "--check fails on it too" grep -q "^evstore-fcgi: FAIL master key: $KEY: the master key file must not be" <<<"$out"
chmod 600 "$KEY"
head -c 63 "$KEY" >"$KEY.short" && mv "$KEY.short" "$KEY" && chmod 600 "$KEY"
start_refused "a master key file without 64 hex digits stops start-up" "exactly 64 hexadecimal characters"
sed -i '/^master_key_file/d' "$CONF"
start_refused "personal data declared without a master key stops start-up, naming file and pointer" \
	"customer.json: /events/CustomerRegistered/personal: personal data is declared but [privacy] master_key_file is not set"
printf 'master_key_file = %s\n' "$KEY" >>"$CONF"
(umask 077; openssl rand -hex 32 >"$KEY")
check "no server was left running by the refused starts" test ! -S "$IT_DIR/refused.sock"
out=$("$FCGI_BIN" --config "$CONF" --check 2>&1)
check "--check reports a good master key by its fingerprint, never its contents" \
	grep -q "^evstore-fcgi: pass master key: $KEY (fingerprint [0-9a-f]\{16\})$" <<<"$out"
key_not_in_output() { ! grep -qF "$(cat "$KEY")" <<<"$out"; }
check "... and never prints the key" key_not_in_output
it_front_start || exit 1

W=$(token writer "events:read events:write")
R=$(token reader "events:read")
P=$(token officer "events:read personal:read")
ADM=$(token dpo "admin")
C=$(uuid)
CU=/v1/aggregates/Customer/$C
cmd() { post_json "$W" "/v1/aggregates/Customer/$1/commands/$2" "$3"; }

# --- round trips --------------------------------------------------------------
cmd "$C" register "{\"name\":\"Ada $MARK\",\"email\":\"ada.$MARK@example.org\",\"address\":{\"street\":\"1 $MARK Road\",\"city\":\"Leeds\"},\"tier\":\"gold\"}"
expect "a command with personal data is 201" 201 .version 1
EV1=$(jq_body '.events[0].event_id')
stored=$(psql_q -c "SELECT payload->'email'->>'\$enc' FROM evstore.events WHERE event_id = '$EV1'")
case "$stored" in v1:[0-9]*:*) ok "the stored field is an envelope v1:<key id>:<base64>" ;;
*) not_ok "the stored field is an envelope" "got '$stored'" ;; esac
check "undeclared fields stay as they were" test "$(psql_q -c "SELECT payload->>'tier' FROM evstore.events WHERE event_id = '$EV1'")" = gold
check "a declared object is sealed whole" test "$(psql_q -c "SELECT payload->'address' ? '\$enc' FROM evstore.events WHERE event_id = '$EV1'")" = t

auth_req "$R" GET "$CU/events"
expect "without personal:read the fields are null and listed as redacted" 200 \
	'.events[0].payload.email' null '.events[0].payload.address' null '.events[0].payload.tier' gold \
	'.events[0].redacted|join(",")' "/payload/name,/payload/email,/payload/address" '.events[0].erased' null
auth_req "$P" GET "$CU/events"
expect "with personal:read the fields are in clear" 200 \
	'.events[0].payload.email' "ada.$MARK@example.org" '.events[0].payload.address.city' Leeds \
	'.events[0].redacted' null
auth_req "$ADM" GET "$CU/events"
expect "admin alone does not read personal data" 200 '.events[0].payload.email' null
auth_req "$R" GET "/v1/events?aggregate_type=Customer"
expect "the feed redacts the same way" 200 '.events[0].payload.name' null '.events[0].redacted|length' 3
auth_req "$P" GET "/v1/events?aggregate_type=Customer"
expect "the feed in clear with the scope" 200 '.events[0].payload.name' "Ada $MARK"
# A long poll is answered by the pool's waiter process: the same views.
HEAD=$(jq_body .next)
LP=$(uuid)
(
	sleep 1
	post_json "$W" "/v1/aggregates/Customer/$LP/commands/register" \
		"{\"name\":\"Bob $MARK\",\"email\":\"bob.$MARK@example.org\",\"address\":{\"street\":\"2 $MARK Road\",\"city\":\"York\"},\"tier\":\"gold\"}"
) &
WAKER=$!
curl -sS --max-time 30 -H "Authorization: Bearer $R" "$IT_BASE/v1/events?aggregate_type=Customer&after=$HEAD&wait=20" \
	>"$IT_DIR/lp-redacted.json" &
LP_R=$!
curl -sS --max-time 30 -H "Authorization: Bearer $P" "$IT_BASE/v1/events?aggregate_type=Customer&after=$HEAD&wait=20" \
	>"$IT_DIR/lp-clear.json"
wait "$LP_R" "$WAKER"
check "a parked long poll without personal:read gets the event redacted" \
	test "$(jq -r '[(.events[0].payload.email == null), (.events[0].redacted|length)]|@tsv' "$IT_DIR/lp-redacted.json")" = $'true\t3'
check "one with personal:read gets it in clear" \
	test "$(jq -r '.events[0].payload.email' "$IT_DIR/lp-clear.json")" = "bob.$MARK@example.org"
# The plaintext grep below must find the marker nowhere this test did not put it.
rm -f "$IT_DIR/lp-clear.json" "$IT_DIR/lp-redacted.json"
auth_req "$R" GET "$CU"
expect "the state withholds what evolve took from personal fields" 200 .state.tier gold .state.status active \
	.state.email null '.redacted|join(",")' "/state/name,/state/email,/state/address"
auth_req "$P" GET "$CU"
expect "the state in clear with the scope" 200 .state.email "ada.$MARK@example.org" .redacted null

# guards and evolve see plaintext; idempotent retries still recognised
K=$(uuid)
post_json "$W" "$CU/commands/change_email" "{\"email\":\"new.$MARK@example.org\"}" -H "Idempotency-Key: $K"
expect "a guarded command on a stream with personal data" 201 .version 2
post_json "$W" "$CU/commands/change_email" "{\"email\":\"new.$MARK@example.org\"}" -H "Idempotency-Key: $K"
expect "its retry is recognised as a replay (same sealed payload)" 200 .version 2 '.events[0].event_id' "$K"
auth_req "$P" GET "$CU"
expect "the fold saw the plaintext" 200 .state.email "new.$MARK@example.org" .state.email_changes 1
auth_req "$P" GET "$CU?at_version=1"
expect "time travel opens the older event" 200 .state.email "ada.$MARK@example.org"
check "a state holding personal data is stored as a snapshot, its members sealed (sync, threshold 2)" \
	test "$(psql_q -c "SELECT count(*) || ' ' || (state->'email' ? '\$enc') FROM evstore.snapshots
		WHERE aggregate_type = 'Customer' GROUP BY state")" = "1 true"
post_json "$W" "$CU/events" '{"events":[{"event_type":"PaymentSent","payload":{"to_customer":"","amount":1,"to_iban":"X"}}]}'
expect "personal data without its subject's id is 422 at the subject's pointer" 422 \
	'.violations[0].pointer' /events/0/payload/to_customer

# --- tampering: damaged or moved ciphertext is a problem, never garbage -------
C2=$(uuid)
cmd "$C2" register "{\"name\":\"Bob $MARK\",\"email\":\"bob.$MARK@example.org\"}"
EV2=$(jq_body '.events[0].event_id')
psql_q -c "UPDATE evstore.events SET payload = jsonb_set(payload, '{email}',
	(SELECT payload->'email' FROM evstore.events WHERE event_id = '$EV1')) WHERE event_id = '$EV2'"
auth_req "$P" GET "/v1/aggregates/Customer/$C2/events"
expect_problem "a ciphertext moved from another event fails authentication: 500 problem" 500 internal
check "the problem does not quote the data" sh -c "! printf '%s' '$BODY' | grep -q '$MARK'"
auth_req "$R" GET "/v1/aggregates/Customer/$C2/events"
expect "a redacted read of it opens nothing and still answers" 200 '.events[0].payload.email' null
psql_q -c "UPDATE evstore.events SET payload = jsonb_set(payload, '{email,\$enc}',
	to_jsonb(overlay(payload->'email'->>'\$enc' placing (CASE WHEN substr(payload->'email'->>'\$enc', 20, 1) = 'A' THEN 'B' ELSE 'A' END) from 20 for 1)))
	WHERE event_id = '$EV1'"
auth_req "$P" GET "$CU/events"
expect_problem "a changed ciphertext fails authentication: 500 problem" 500 internal
auth_req "$P" GET "$CU?at_version=1"
expect_problem "folding it is a problem too (before the snapshot)" 500 internal
check "the failure is logged with the event and pointer, no plaintext" \
	grep -q "\"personal_data_unreadable\".*event $EV1: /payload/email: the ciphertext fails authentication" "$IT_DIR/fcgi.log"
psql_q -c "DELETE FROM evstore.events WHERE aggregate_id IN ('$C', '$C2'); DELETE FROM evstore.streams WHERE aggregate_id IN ('$C', '$C2')"

# --- erasure ------------------------------------------------------------------
C=$(uuid)
CU=/v1/aggregates/Customer/$C
B=$(uuid)
cmd "$C" register "{\"name\":\"Cy $MARK\",\"email\":\"cy.$MARK@example.org\"}"
cmd "$B" register "{\"name\":\"Di $MARK\",\"email\":\"di.$MARK@example.org\"}"
cmd "$C" pay "{\"to_customer\":\"$B\",\"to_iban\":\"GB$MARK\",\"reference\":\"rent $MARK\",\"amount\":5}"
expect "one event, two subjects" 201 .version 2
auth_req "$ADM" GET "/v1/subjects/$C"
expect "GET subject: a key exists and two events refer to it" 200 .key_exists true .erased false .events 2
auth_req "$R" DELETE "/v1/subjects/$C"
expect_problem "erasure is for admins" 403 forbidden
auth_req "$ADM" DELETE "/v1/subjects/$C"
expect "DELETE subject erases it" 200 .outcome erased .subject "$C"
auth_req "$ADM" DELETE "/v1/subjects/$C"
expect "erasing again answers as already done" 200 .outcome already_erased
auth_req "$ADM" DELETE "/v1/subjects/$(uuid)"
expect_problem "a subject never seen is 404" 404 not-found
auth_req "$ADM" GET "/v1/subjects/$C"
expect "GET subject after erasure" 200 .key_exists false .erased true .events 2
check "the erased_at is a time" test "$(jq_body '.erased_at|test("^20..-..-..T")')" = true
auth_req "$P" GET "$CU/events"
expect "after erasure even personal:read gets null, listed as erased" 200 \
	'.events[0].payload.email' null '.events[0].erased|join(",")' "/payload/name,/payload/email" \
	'.events[0].redacted' null '.events[1].erased|join(",")' /payload/reference \
	'.events[1].payload.to_iban' "GB$MARK" '.events[1].payload.amount' 5
auth_req "$R" GET "$CU/events"
expect "readers without the scope see it as erased too" 200 '.events[0].erased|length' 2 '.events[0].redacted' null
auth_req "$P" GET "$CU"
expect "the fold sees erased fields as null" 200 .state.status active .state.email null .state.paid 5
auth_req "$P" GET "/v1/aggregates/Customer/$B/events"
expect "the other subject of the payment event is still readable" 200 '.events[0].payload.name' "Di $MARK"
check "the erasure is audited with its actor" \
	grep -q "\"event\":\"subject_erased\".*\"subject\":\"$C\".*\"outcome\":\"erased\".*\"actor\":\"dpo\"" "$IT_DIR/fcgi.log"
BKEY=$(psql_q -c "SELECT encode(wrapped_key, 'hex') FROM evstore.subject_keys WHERE subject = '$B' AND erased_at IS NULL")
out=$("$CTL_BIN" --config "$CONF" forget "$B" 2>>"$IT_DIR/ctl-audit.log")
check "evstorectl forget erases a subject" test "$out" = "erased: the personal data of $B can no longer be read"
out=$("$CTL_BIN" --config "$CONF" forget "$B" 2>>"$IT_DIR/ctl-audit.log")
check "evstorectl forget again: already erased" test "$out" = "already erased: $B"
"$CTL_BIN" --config "$CONF" forget "nobody-$MARK" >/dev/null 2>&1
check "evstorectl forget of an unknown subject exits 1" test $? = 1
"$CTL_BIN" --config "$CONF" forget --tenant nope "$B" >/dev/null 2>&1
check "evstorectl forget with a bad --tenant exits 2" test $? = 2
check "evstorectl's erasure is audited with the login that ran it" \
	grep -q "\"subject\":\"$B\",\"outcome\":\"erased\",\"actor\":\"$(id -un)\",\"via\":\"evstorectl\"" "$IT_DIR/ctl-audit.log"
# A restore of a backup older than the erasure brings the wrapped key back ...
psql_q -c "UPDATE evstore.subject_keys SET wrapped_key = decode('$BKEY', 'hex'), erased_at = NULL, erased_by = NULL
	WHERE subject = '$B'"
auth_req "$P" GET "/v1/aggregates/Customer/$B/events"
expect "a restored old key makes the data readable again" 200 '.events[0].payload.name' "Di $MARK"
# ... and replaying the audit records made since erases it again.
out=$(grep -F "\"subject\":\"$B\"" "$IT_DIR/ctl-audit.log" | "$CTL_BIN" --config "$CONF" forget --replay - 2>/dev/null)
check "evstorectl forget --replay re-applies the erasures of the audit records ($out)" \
	test "$out" = "1 erased again, 1 already erased, 0 without stored data"
auth_req "$P" GET "/v1/aggregates/Customer/$B/events"
expect "after the replay the subject is erased again" 200 '.events[0].payload.name' null '.events[0].erased|length' 2
"$CTL_BIN" --config "$CONF" forget --replay "$IT_DIR/none.log" >/dev/null 2>&1
check "evstorectl forget --replay of a missing file exits 1" test $? = 1
"$CTL_BIN" --config "$CONF" forget --replay - "$B" >/dev/null 2>&1 </dev/null
check "evstorectl forget --replay with a subject is bad usage (2)" test $? = 2
auth_req "$P" GET "$CU/events"
expect "the payment's second subject is erased now" 200 '.events[1].payload.to_iban' null \
	'.events[1].erased|sort|join(",")' "/payload/reference,/payload/to_iban"
post_json "$W" "$CU/commands/change_email" "{\"email\":\"back.$MARK@example.org\"}"
expect "personal data appended after erasure" 201 .version 3
auth_req "$P" GET "$CU/events?from_version=3"
expect "is sealed with a new key and readable" 200 '.events[0].payload.email' "back.$MARK@example.org"
auth_req "$ADM" GET "/v1/subjects/$C"
expect "the subject has a live key again" 200 .key_exists true .erased true
T1=$(uuid)
auth_req "$ADM" GET "/v1/subjects/$C" -H "X-Evstore-Tenant: $T1"
expect "another tenant sees nothing of the subject" 200 .key_exists false .erased false .events 0

# --- erasure under concurrent appends of the same subject ---------------------
S=$(uuid)
cmd "$S" register "{\"name\":\"Ed $MARK\",\"email\":\"ed.$MARK@example.org\"}"
appender() { # one stream per writer: a log line "start end event_id" per append
	local i
	for i in $(seq 40); do
		local t0 t1
		t0=$(date +%s%N)
		BODY=$(curl -sS -H "Authorization: Bearer $W" -H 'Content-Type: application/json' \
			--data-binary "{\"email\":\"e$i.$MARK@example.org\"}" "$IT_BASE/v1/aggregates/Customer/$S/commands/change_email")
		t1=$(date +%s%N)
		printf '%s %s %s\n' "$t0" "$t1" "$(printf '%s' "$BODY" | jq -r '.events[0].event_id // "x"')"
	done
}
appender >"$IT_DIR/appends.1" & A1=$!
appender >"$IT_DIR/appends.2" & A2=$!
IT_PIDS+=("$A1" "$A2")
sleep 0.7
D0=$(date +%s%N)
auth_req "$ADM" DELETE "/v1/subjects/$S"
D1=$(date +%s%N)
wait "$A1" "$A2"
expect "the subject is erased while appends run" 200 .outcome erased
auth_req "$P" GET "/v1/aggregates/Customer/$S/events?limit=1000"
before=0 after=0 bad=""
while read -r t0 t1 id; do
	[ "$id" = x ] && continue
	erased=$(jq_body ".events[] | select(.event_id == \"$id\") | (.erased // []) | length")
	if [ "$t1" -lt "$D0" ]; then before=$((before + 1)); [ "$erased" = 1 ] || bad="$bad $id(before:$erased)"; fi
	if [ "$t0" -gt "$D1" ]; then after=$((after + 1)); [ "$erased" = 0 ] || bad="$bad $id(after:$erased)"; fi
done < <(cat "$IT_DIR/appends.1" "$IT_DIR/appends.2")
check "appends acknowledged before the erasure read as erased, appends sent after it are readable ($before before, $after after)" \
	test -z "$bad" -a "$before" -gt 0 -a "$after" -gt 0
check "no stored event refers to a key destroyed before it was recorded" test "$(psql_q -c "
	SELECT count(*) FROM evstore.events e JOIN evstore.subject_keys k
	  ON strpos(e.payload::text, '\"v1:' || k.key_id || ':') > 0
	WHERE e.aggregate_id = '$S' AND k.erased_at < e.recorded_at")" = 0

# --- no plaintext anywhere ----------------------------------------------------
psql_q -c CHECKPOINT
sleep 0.5
found=$(grep -rla -- "$MARK" "$IT_DIR" 2>/dev/null | grep -v "/appends\.[12]$")
check "no database file, WAL or log holds the marker" test -z "$found"
[ -z "$found" ] || echo "# found in: $found"

# --- the runner: handlers get the view their subscription asks for ----------
# (after the grep: a read model that asks for clear data holds it)
for t in contacts_clear contacts_redacted; do
	psql_q -c "CREATE TABLE $t (tenant_id uuid NOT NULL, customer_id uuid NOT NULL, name text, email text,
		withheld jsonb NOT NULL DEFAULT '[]', PRIMARY KEY (tenant_id, customer_id))"
	sed "s/customer_contacts/$t/g" "$IT_SRCDIR/examples/privacy/customer_contacts.sql" >"$IT_DIR/$t.sql"
done
cat >>"$CONF" <<INI
[runner]
poll_interval_ms = 200
[subscription contacts_clear]
handler = sql
sql_file = $IT_DIR/contacts_clear.sql
aggregate_types = Customer
start_from = beginning
personal_data = clear
[subscription contacts_redacted]
handler = sql
sql_file = $IT_DIR/contacts_redacted.sql
aggregate_types = Customer
start_from = beginning
INI
L=$(uuid)
cmd "$L" register "{\"name\":\"Flo\",\"email\":\"flo@example.org\"}"
"$IT_BUILDDIR/src/runner/evstore-runner" --config "$CONF" >>"$IT_DIR/runner.log" 2>&1 </dev/null &
RUNNER=$!
IT_PIDS+=("$RUNNER")
caught_up() { test "$(psql_q -c "SELECT count(*) FROM $1 WHERE customer_id = '$L'")" = 1; }
wait_for 20 caught_up contacts_clear && wait_for 20 caught_up contacts_redacted
check "personal_data = clear: the handler gets the plaintext" \
	test "$(psql_q -c "SELECT email || ' ' || withheld::text FROM contacts_clear WHERE customer_id = '$L'")" = "flo@example.org []"
check "personal_data defaults to redacted: nulls, listed" \
	test "$(psql_q -c "SELECT coalesce(email, 'null') || ' ' || withheld::text FROM contacts_redacted WHERE customer_id = '$L'")" = 'null ["/payload/name", "/payload/email"]'
check "an erased subject reaches a clear subscription as null, listed as erased" \
	test "$(psql_q -c "SELECT coalesce(email, 'null') || ' ' || withheld::text FROM contacts_clear WHERE customer_id = '$B'")" = 'null ["/payload/name", "/payload/email"]'
check "data appended after an erasure (a new key) reaches it in clear" \
	test "$(psql_q -c "SELECT email LIKE 'e%.$MARK@example.org' FROM contacts_clear WHERE customer_id = '$S'")" = t
kill -TERM "$RUNNER"
wait "$RUNNER"
check "the runner stops cleanly" test $? = 0
if grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$IT_DIR/runner.log"; then
	not_ok "the runner ran clean under the sanitizers" "$(grep -m3 -E 'Sanitizer|runtime error' "$IT_DIR/runner.log")"
fi

it_finish
