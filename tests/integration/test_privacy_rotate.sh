#!/usr/bin/env bash
# Master key rotation: [privacy] previous_master_key_file is checked like
# master_key_file at start-up; with both keys loaded, `evstorectl privacy
# rotate-master` rewraps every live subject key under the new master while
# appends, clear reads and erasures run (every request succeeds, every
# read shows its plaintext, an erasure stays erased), touches no event,
# and a second run has nothing to do; then the servers read everything
# without the old key. A key under a master the configuration does not
# hold is a clear error for readers and for the rotation (exit 1, left
# alone), and rows other transactions hold are never waited into a
# deadlock nor overwritten.
. "$(dirname "$0")/lib.sh"
IT_NO_SERVERS=1 IT_LOG_LEVEL=notice it_start
it_front_require

MARK="zq-rot-$(uuid | cut -c1-8)"
KEYA=$IT_DIR/master-a.key
KEYB=$IT_DIR/master-b.key
CONF=$IT_DIR/evstore.conf
cp "$IT_SRCDIR/examples/privacy/customer.json" "$IT_DIR/aggregates.d/"
(umask 077; openssl rand -hex 32 >"$KEYA"; openssl rand -hex 32 >"$KEYB")
printf '[privacy]\nmaster_key_file = %s\n' "$KEYA" >>"$CONF"
ctl() { "$CTL_BIN" --config "$CONF" "$@"; }
set_previous() { # set_previous FILE|"": the previous_master_key_file line
	sed -i '/^previous_master_key_file/d' "$CONF"
	[ -z "$1" ] || printf 'previous_master_key_file = %s\n' "$1" >>"$CONF"
}
set_master() { sed -i "s|^master_key_file = .*|master_key_file = $1|" "$CONF"; }

# --- start-up refuses a bad previous key file --------------------------------
OLD=$IT_DIR/old.key
set_previous "$OLD"
start_refused "a missing previous master key file stops start-up" "$OLD: cannot open the master key file"
(umask 022; openssl rand -hex 32 >"$OLD")
start_refused "a previous master key file readable by others stops start-up" \
	"$OLD: the master key file must not be accessible by group or others (mode 0644"
chmod 600 "$OLD"
printf 'not a key at all, but sixty-four characters long, give or take..\n' >"$OLD"
start_refused "a previous master key file without 64 hex digits stops start-up" \
	"$OLD: the master key file holds a character that is not hexadecimal"
out=$(ctl privacy rotate-master 2>&1)
rc=$?
check "evstorectl privacy rotate-master refuses it too (exit $rc)" \
	sh -c "test $rc = 1 && printf '%s' \"\$1\" | grep -qF 'is not hexadecimal'" _ "$out"
set_previous "$KEYA"
start_refused "a previous key equal to the master key stops start-up" \
	"previous_master_key_file holds the same key as master_key_file"
sed -i '/^master_key_file/d' "$CONF"
start_refused "a previous key without a master key stops start-up" \
	"[privacy] previous_master_key_file is set but master_key_file is not"
printf 'master_key_file = %s\n' "$KEYA" >>"$CONF"
set_previous ""
check "no server was left running by the refused starts" test ! -S "$IT_DIR/refused.sock"
FPA=$("$FCGI_BIN" --config "$CONF" --check 2>&1 | sed -n 's/.*pass master key: .* (fingerprint \([0-9a-f]\{16\}\))$/\1/p')
check "--check names the master key by its fingerprint" test -n "$FPA"
it_front_start || exit 1

W=$(token writer "events:read events:write")
P=$(token officer "events:read personal:read")
ADM=$(token dpo "admin")
email_of() { # email_of SUBJECT: the state's email as a personal:read reader sees it
	curl -sS --max-time 20 -H "Authorization: Bearer $P" "$IT_BASE/v1/aggregates/Customer/$1" | jq -r '.state.email // "null"'
}
register() { # register SUBJECT: 201 or it says so
	local code
	code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 -H "Authorization: Bearer $W" \
		-H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"N $1\",\"email\":\"r.$1.$MARK@example.org\"}" \
		"$IT_BASE/v1/aggregates/Customer/$1/commands/register")
	[ "$code" = 201 ] || echo "register $1: $code" >>"$IT_DIR/setup.errors"
}
fcgi_reloaded() { test "$(grep -c '"config_reloaded"' "$IT_DIR/fcgi.log")" -ge "$1"; }
reload_servers() { # SIGHUP the pool; wait until it, its workers and its waiter reloaded
	local before
	before=$(grep -c '"config_reloaded"' "$IT_DIR/fcgi.log")
	kill -HUP "$IT_FCGI_PID"
	wait_for 15 fcgi_reloaded $((before + 2 + ${IT_WORKERS:-2})) && sleep 0.3
}

# --- subjects under the old master --------------------------------------------
: >"$IT_DIR/setup.errors"
for i in $(seq 120); do uuid; done >"$IT_DIR/subjects"
for i in $(seq 10); do uuid; done >"$IT_DIR/erase"
while read -r s; do register "$s"; done < <(cat "$IT_DIR/subjects" "$IT_DIR/erase")
check "130 subjects registered under master A" test ! -s "$IT_DIR/setup.errors"
check "their keys name master A" \
	test "$(psql_q -c "SELECT count(*) FILTER (WHERE master_id = '$FPA') || '/' || count(*) FROM evstore.subject_keys")" = 130/130
X=$(sed -n 1p "$IT_DIR/subjects")
Y=$(sed -n 2p "$IT_DIR/subjects")
ROW_X=$(psql_q -c "SELECT encode(wrapped_key, 'hex') FROM evstore.subject_keys WHERE subject = '$X'")
ROW_Y=$(psql_q -c "SELECT encode(wrapped_key, 'hex') FROM evstore.subject_keys WHERE subject = '$Y'")
events_digest() { psql_q -c "SELECT md5(string_agg(event_id::text || payload::text, ',' ORDER BY position)) FROM evstore.events WHERE position <= $1"; }
POS0=$(psql_q -c "SELECT max(position) FROM evstore.events")
DIGEST0=$(events_digest "$POS0")

# --- the new key as master, the old one as previous --------------------------
set_master "$KEYB"
set_previous "$KEYA"
out=$("$FCGI_BIN" --config "$CONF" --check 2>&1)
FPB=$(sed -n 's/.*pass master key: [^ ]* (fingerprint \([0-9a-f]\{16\}\)); previous .*/\1/p' <<<"$out")
check "--check names both keys, the previous one as still opening its keys" \
	grep -q "pass master key: $KEYB (fingerprint [0-9a-f]\{16\}); previous $KEYA (fingerprint $FPA) still opens the keys it wrapped" <<<"$out"
check "the new master has another fingerprint" test -n "$FPB" -a "$FPB" != "$FPA"
check "the servers reload with both keys" reload_servers
check "keys under the old master still open after the reload" test "$(email_of "$X")" = "r.$X.$MARK@example.org"
N=$(uuid)
register "$N"
check "a key made now is wrapped by the new master" \
	test "$(psql_q -c "SELECT master_id FROM evstore.subject_keys WHERE subject = '$N'")" = "$FPB"
out=$(ctl check 2>&1)
check "evstorectl check warns that keys remain under the previous master" \
	grep -q "^evstorectl: warn subject keys: 130 live keys are still under the previous master key $FPA (1 under $FPB): run evstorectl privacy rotate-master" <<<"$out"
out=$(ctl privacy rotate-master --dry-run 2>/dev/null)
rc=$?
check "a dry run counts and changes nothing (exit $rc)" test "$rc" = 0 -a "$(tail -n1 <<<"$out")" = \
	"would rewrap 130, already current 1, erased skipped 0, unknown 0"
check "... nothing changed" \
	test "$(psql_q -c "SELECT count(*) FROM evstore.subject_keys WHERE master_id = '$FPA'")" = 130

# --- rotation under load -------------------------------------------------------
# loader K: appends to its own half of the subjects (and registers new
# ones), reading each back in clear; one line per request pair:
# "t0 t1 ok" or "t0 t1 FAIL why".
loader() {
	local k=$1 i s email code got t0 t1
	for i in $(seq 600); do
		[ -e "$IT_DIR/stop" ] && break
		t0=$(date +%s%N)
		if [ $((i % 5)) = 0 ]; then
			s=$(uuid)
			email="r.$s.$MARK@example.org"
			code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 -H "Authorization: Bearer $W" \
				-H 'Content-Type: application/json' --data-binary "{\"name\":\"N $s\",\"email\":\"$email\"}" \
				"$IT_BASE/v1/aggregates/Customer/$s/commands/register")
		else
			s=$(sed -n "$(( (i * 2 + k) % 120 + 1 ))p" "$IT_DIR/subjects")
			[ "$s" = "$X" ] || [ "$s" = "$Y" ] && continue
			email="l$k.$i.$MARK@example.org"
			code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 -H "Authorization: Bearer $W" \
				-H 'Content-Type: application/json' --data-binary "{\"email\":\"$email\"}" \
				"$IT_BASE/v1/aggregates/Customer/$s/commands/change_email")
		fi
		got=$(email_of "$s")
		t1=$(date +%s%N)
		if [ "$code" = 201 ] && [ "$got" = "$email" ]; then echo "$t0 $t1 ok"
		else echo "$t0 $t1 FAIL $s: append $code, read '$got', want '$email'"; fi
	done
}
eraser() {
	local s
	while read -r s; do
		curl -sS -o /dev/null -w "%{http_code} $s\n" --max-time 20 -X DELETE -H "Authorization: Bearer $ADM" \
			"$IT_BASE/v1/subjects/$s"
		sleep 0.05
	done <"$IT_DIR/erase"
}
loads() { cat "$IT_DIR/load.0" "$IT_DIR/load.1" | wc -l; }
loads_at_least() { test "$(loads)" -ge "$1"; }
loader 0 >"$IT_DIR/load.0" & L0=$!
loader 1 >"$IT_DIR/load.1" & L1=$!
IT_PIDS+=("$L0" "$L1")
wait_for 60 loads_at_least 10
eraser >"$IT_DIR/erased" & E=$!
R0=$(date +%s%N)
ctl privacy rotate-master --batch 1 >"$IT_DIR/rotate.out" 2>"$IT_DIR/rotate.err"
RC=$?
R1=$(date +%s%N)
wait "$E"
wait_for 60 loads_at_least $(($(loads) + 10))
touch "$IT_DIR/stop"
wait "$L0" "$L1"
check "rotate-master under load exits 0 ($(tail -n1 "$IT_DIR/rotate.out"))" test "$RC" = 0
sed 's/^/#   /' "$IT_DIR/rotate.err" | grep -v '"audit_type"' | head -5
fails=$(grep -h FAIL "$IT_DIR/load.0" "$IT_DIR/load.1" | head -5)
total=$(cat "$IT_DIR/load.0" "$IT_DIR/load.1" | wc -l)
during=$(awk -v r0="$R0" -v r1="$R1" '$1 < r1 && $2 > r0' "$IT_DIR/load.0" "$IT_DIR/load.1" | wc -l)
check "every append and clear read during the rotation succeeded ($total, $during overlapping it)" \
	test -z "$fails" -a "$total" -gt 20 -a "$during" -gt 0
[ -z "$fails" ] || printf '#   %s\n' "$fails"
check "every erasure during the rotation answered 200" test "$(grep -c '^200 ' "$IT_DIR/erased")" = 10
# An erasure before the rotation reached its key leaves nothing to rewrap
# and is counted as erased; one after it, rewrapped (and erased if before
# the run's end).
check "the summary accounts for every old key: rewrapped + erased >= 130, at least 120 rewrapped, 0 unknown" \
	awk '/^rewrapped/ { gsub(",", ""); ok = $2 + $8 >= 130 && $2 >= 120 && $2 <= 130 && $8 <= 10 && $10 == 0 } END { exit !ok }' "$IT_DIR/rotate.out"
check "the run is audited with its counts" \
	grep -q "\"action\":\"rotate_master\",\"outcome\":\"ok\".*\"master_id\":\"$FPB\".*\"previous_master_id\":\"$FPA\"" "$IT_DIR/rotate.err"
check "no live key is left under the old master" \
	test "$(psql_q -c "SELECT count(*) FROM evstore.subject_keys WHERE wrapped_key IS NOT NULL AND master_id <> '$FPB'")" = 0
check "the erased subjects stay erased (no key came back)" \
	test "$(psql_q -c "SELECT count(*) FROM evstore.subject_keys WHERE subject IN ($(sed "s/.*/'&'/" "$IT_DIR/erase" | paste -sd,)) AND wrapped_key IS NOT NULL")" = 0
check "the events stored before the rotation are byte for byte the same" test "$(events_digest "$POS0")" = "$DIGEST0"
out=$(ctl privacy rotate-master 2>/dev/null)
rc=$?
check "a second run has 0 to do (exit $rc)" \
	sh -c "test $rc = 0 && printf '%s' \"\$1\" | head -n1 | grep -q '^to do: 0 keys not under master key $FPB (previous $FPA)$' &&
	       printf '%s' \"\$1\" | tail -n1 | grep -q '^rewrapped 0, already current [0-9]*, erased skipped 10, unknown 0$'" _ "$out"

out=$(ctl check 2>&1)
check "evstorectl check: every live key under the new master, the previous key no longer needed" \
	grep -q "^evstorectl: pass subject keys: [0-9]* live, all under master key $FPB (previous_master_key_file is no longer needed)$" <<<"$out"

# --- without the old key -----------------------------------------------------
set_previous ""
check "the servers reload without the previous key" reload_servers
bad=""
while read -r s; do
	[ "$(email_of "$s")" != null ] || bad="$bad $s"
done <"$IT_DIR/subjects"
check "every subject reads in clear without the old key" test -z "$bad"
E1=$(sed -n 1p "$IT_DIR/erase")
auth_req "$P" GET "/v1/aggregates/Customer/$E1/events"
expect "an erased subject reads as erased" 200 '.events[0].payload.email' null '.events[0].erased|length' 2
N=$(uuid)
register "$N"
check "new personal data is written and read" test "$(email_of "$N")" = "r.$N.$MARK@example.org"

# --- a key under a master the configuration does not hold ---------------------
psql_q -c "UPDATE evstore.subject_keys SET wrapped_key = decode('$ROW_X', 'hex'), master_id = '$FPA' WHERE subject = '$X' AND wrapped_key IS NOT NULL"
auth_req "$P" GET "/v1/aggregates/Customer/$X/events"
expect_problem "a key under an unknown master is a 500 problem, never garbage" 500 internal
KX=$(psql_q -c "SELECT key_id FROM evstore.subject_keys WHERE subject = '$X'")
check "... logged with the key and the master it names" \
	grep -q "\"subject_key_master_unknown\".*\"key_id\":\"$KX\",\"master_id\":\"$FPA\"" "$IT_DIR/fcgi.log"
out=$(ctl privacy rotate-master 2>"$IT_DIR/unknown.err")
rc=$?
check "rotate-master reports it and exits 1 ($(tail -n1 <<<"$out"))" \
	test "$rc" = 1 -a "$(tail -n1 <<<"$out")" = "rewrapped 0, already current $(psql_q -c "SELECT count(*) - 1 FROM evstore.subject_keys WHERE wrapped_key IS NOT NULL"), erased skipped 10, unknown 1"
check "... naming the master's fingerprint and what to do" \
	grep -q "1 live key is wrapped by a master key that is neither master_key_file nor previous_master_key_file (fingerprint $FPA): left as it is; set \[privacy\] previous_master_key_file" "$IT_DIR/unknown.err"
check "... and left the row alone" \
	test "$(psql_q -c "SELECT encode(wrapped_key, 'hex') || master_id FROM evstore.subject_keys WHERE subject = '$X'")" = "$ROW_X$FPA"
check "... audited as failed" grep -q '"action":"rotate_master","outcome":"failed"' "$IT_DIR/unknown.err"
out=$(ctl check 2>&1)
rc=$?
check "evstorectl check fails on it (exit $rc)" bash -c "test $rc = 1 && grep -q '^evstorectl: FAIL subject keys: 1 live key is under master key $FPA, neither master_key_file nor previous_master_key_file' <<<\"\$1\"" _ "$out"
set_previous "$KEYA"
out=$(ctl privacy rotate-master 2>/dev/null)
check "with the old key back as previous it is rewrapped" test "$(tail -n1 <<<"$out" | cut -d, -f1)" = "rewrapped 1"
check "and reads in clear without it" test "$(email_of "$X")" = "r.$X.$MARK@example.org"

# --- rows held by other transactions ------------------------------------------
# hold SQL: a psql session that runs SQL and keeps its transaction open
# until `release` (COMMIT).
hold() {
	rm -f "$IT_DIR/hold.fifo"
	mkfifo "$IT_DIR/hold.fifo"
	psql -X -q -At -v ON_ERROR_STOP=1 "$EVSTORE_DATABASE_URL" <"$IT_DIR/hold.fifo" >/dev/null 2>&1 &
	HOLDER=$!
	IT_PIDS+=("$HOLDER")
	exec 7>"$IT_DIR/hold.fifo"
	printf 'BEGIN;\n%s\nSELECT pg_sleep(0);\n' "$1" >&7
	wait_for 10 idle_in_transaction
}
idle_in_transaction() { test "$(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")" = 1; }
release() { printf 'COMMIT;\n' >&7; exec 7>&-; wait "$HOLDER"; }
KY=$(psql_q -c "SELECT key_id FROM evstore.subject_keys WHERE subject = '$Y' AND wrapped_key IS NOT NULL")
psql_q -c "UPDATE evstore.subject_keys SET wrapped_key = decode('$ROW_Y', 'hex'), master_id = '$FPA' WHERE key_id = $KY"
# An erasure in progress when the rotation reaches the row, committed while it retries.
hold "UPDATE evstore.subject_keys SET wrapped_key = NULL, erased_at = now(), erased_by = 'test' WHERE key_id = $KY;"
ctl privacy rotate-master >"$IT_DIR/held.out" 2>/dev/null &
ROT=$!
sleep 1
release
wait "$ROT"
rc=$?
check "an erasure committed while the rotation waited for the row: exit $rc, nothing rewrapped ($(tail -n1 "$IT_DIR/held.out"))" \
	test "$rc" = 0 -a "$(tail -n1 "$IT_DIR/held.out" | cut -d, -f1)" = "rewrapped 0"
check "... and the key stays erased" \
	test "$(psql_q -c "SELECT wrapped_key IS NULL FROM evstore.subject_keys WHERE key_id = $KY")" = t
# An append holding a key FOR SHARE longer than the rotation retries.
Z=$(sed -n 3p "$IT_DIR/subjects")
ROW_Z=$(psql_q -c "SELECT encode(wrapped_key, 'hex') FROM evstore.subject_keys WHERE subject = '$Z' AND wrapped_key IS NOT NULL")
set_master "$KEYA"
set_previous "$KEYB"
hold "SELECT key_id FROM evstore.subject_keys WHERE subject = '$Z' FOR SHARE;"
out=$(timeout 60 "$CTL_BIN" --config "$CONF" privacy rotate-master 2>"$IT_DIR/locked.err")
rc=$?
check "a key held by a transaction throughout is skipped, not waited for: exit $rc, says to run again" \
	bash -c "test $rc = 1 && tail -n1 <<<\"\$1\" | grep -q ', still locked 1$' && grep -q 'stayed locked by other transactions: run it again' '$IT_DIR/locked.err'" _ "$out"
check "... its row is as it was" \
	test "$(psql_q -c "SELECT encode(wrapped_key, 'hex') FROM evstore.subject_keys WHERE subject = '$Z' AND wrapped_key IS NOT NULL")" = "$ROW_Z"
release
out=$(ctl privacy rotate-master 2>/dev/null)
check "run again once it is free: the rest is done ($(tail -n1 <<<"$out"))" test "$(tail -n1 <<<"$out" | cut -d, -f1)" = "rewrapped 1"
check "every live key is back under master A" \
	test "$(psql_q -c "SELECT count(*) FROM evstore.subject_keys WHERE wrapped_key IS NOT NULL AND master_id <> '$FPA'")" = 0

# --- no plaintext anywhere ----------------------------------------------------
psql_q -c CHECKPOINT
sleep 0.5
found=$(grep -rla -- "$MARK" "$IT_DIR" 2>/dev/null | grep -v "/load\.[01]$")
check "no database file, WAL or log holds the personal data" test -z "$found"
[ -z "$found" ] || echo "# found in: $found"

it_finish
