#!/usr/bin/env bash
# test_export_privacy.sh - personal data in exports: an export carries the
# ciphertext (a marker value is nowhere in the file) and the subject keys,
# wrapped; imported into an emptied store with its keys, personal:read
# reads show the plaintext, an erased subject stays erased, the key ids
# are kept and new keys come after them; a second import adds nothing; a
# key id stored with other content refuses the keys and leaves nothing; a
# tombstone in a later export erases the key an earlier one brought, and
# an older export never brings it back; events whose keys are held nowhere
# are imported with a warning and their count; --decrypt shows the
# plaintext with a warning and an audit record, erased fields null, needs
# the master key, and its file is refused by import.
. "$(dirname "$0")/lib.sh"
IT_NO_SERVERS=1 it_start
it_front_require

MARK="zq-marker-$(uuid | cut -c1-8)"
KEY=$IT_DIR/master.key
CONF=$IT_DIR/evstore.conf
cp "$IT_DIR/evstore.conf" "$IT_DIR/nokey.conf"
cp "$IT_SRCDIR/examples/privacy/customer.json" "$IT_DIR/aggregates.d/"
(umask 077; openssl rand -hex 32 >"$KEY")
printf '[privacy]\nmaster_key_file = %s\n' "$KEY" >>"$CONF"
it_front_start || exit 1

ctl() { "$CTL_BIN" --config "$CONF" "$@"; }
in_db() { local db=$1; shift; EVSTORE_DATABASE_URL="host=$IT_DIR/pg user=evstore dbname=$db" ctl "$@"; }
sql_in() { psql -X -q -At -v ON_ERROR_STOP=1 "host=$IT_DIR/pg user=evstore dbname=$1" -c "$2"; }
new_db() { psql_q -c "CREATE DATABASE $1" && in_db "$1" migrate >/dev/null; }
counts_in() { sql_in "$1" "SELECT (SELECT count(*) FROM evstore.events) || '/' || (SELECT count(*) FROM evstore.subject_keys)"; }
keys_of() { psql_q -c "SELECT key_id, tenant_id, subject, encode(wrapped_key, 'hex'), master_id, created_at, erased_at
	FROM evstore.subject_keys ORDER BY key_id"; }

W=$(token writer "events:read events:write")
P=$(token officer "events:read personal:read")
A=$(uuid)
B=$(uuid)
cmd() { post_json "$W" "/v1/aggregates/Customer/$1/commands/$2" "$3"; }
cmd "$A" register "{\"name\":\"Ada $MARK\",\"email\":\"ada.$MARK@example.org\",\"address\":{\"street\":\"1 $MARK Road\",\"city\":\"Leeds\"},\"tier\":\"gold\"}"
expect "A registered with personal data" 201 .version 1
cmd "$A" change_email "{\"email\":\"ada2.$MARK@example.org\"}"
expect "A's email changed" 201 .version 2
cmd "$B" register "{\"name\":\"Bob $MARK\",\"email\":\"bob.$MARK@example.org\",\"tier\":\"basic\"}"
expect "B registered with personal data" 201 .version 1
ctl forget "$B" >/dev/null 2>&1
check "B is erased" test "$(psql_q -c "SELECT count(*) FROM evstore.subject_keys WHERE subject = '$B' AND erased_at IS NOT NULL")" = 1
KEYS_BEFORE=$(keys_of)
EVENTS=$(psql_q -c "SELECT count(*) FROM evstore.events")

# --- the export: ciphertext and wrapped keys ---------------------------------------------
ctl export --output "$IT_DIR/exp.jsonl" 2>"$IT_DIR/exp.err"; rc=$?
check "export: exit 0, every tenant by default, counting the keys" test "$rc" = 0 -a \
	-n "$(grep "^$EVENTS events and 2 subject keys exported (all tenants)" "$IT_DIR/exp.err")"
check "the header says the keys are in and nothing is decrypted" test "$(head -n 1 "$IT_DIR/exp.jsonl")" = \
	'{"evstore_export": {"format": 1, "keys": true, "decrypted": false}}'
check "no plaintext of a personal field is in the export" test "$(grep -c -- "$MARK" "$IT_DIR/exp.jsonl")" = 0
stored=$(psql_q -c "SELECT payload->'email'->>'\$enc' FROM evstore.events WHERE aggregate_id = '$A' AND version = 1")
check "the export carries the stored envelope, byte for byte" test "$(grep "\"aggregate_id\" : \"$A\"" "$IT_DIR/exp.jsonl" |
	jq -r 'select(.version == 1) | .payload.email["$enc"]')" = "$stored"
check "a key record per key, wrapped as stored" test "$(jq -r 'select(.subject_key) | .subject_key |
	[.key_id, .subject, .wrapped_key] | @tsv' "$IT_DIR/exp.jsonl")" = \
	"$(psql_q -F "$(printf '\t')" -c "SELECT key_id, subject, encode(wrapped_key, 'hex') FROM evstore.subject_keys ORDER BY key_id")"
check "the erased subject's key is a tombstone: no key material" test "$(jq -c "select(.subject_key.subject == \"$B\") |
	.subject_key | [.wrapped_key, (.erased_at | type)]" "$IT_DIR/exp.jsonl")" = '[null,"string"]'
check "the master key is not in the export" test "$(grep -c "$(cat "$KEY")" "$IT_DIR/exp.jsonl")" = 0
ctl export --without-keys --output "$IT_DIR/nokeys.jsonl" 2>/dev/null
check "--without-keys: no key record, the header says so" test "$(grep -c subject_key "$IT_DIR/nokeys.jsonl")" = 0 -a \
	"$(head -n 1 "$IT_DIR/nokeys.jsonl" | jq -c .evstore_export.keys)" = false

# --- --decrypt -------------------------------------------------------------------------
out=$("$CTL_BIN" --config "$IT_DIR/nokey.conf" export --decrypt --output "$IT_DIR/nodec.jsonl" 2>&1); rc=$?
check "--decrypt without a master key: exit 1, saying so, no file" test "$rc" = 1 -a \
	-n "$(grep -- '--decrypt needs the master key, and \[privacy\] master_key_file is not set' <<<"$out")" -a ! -e "$IT_DIR/nodec.jsonl"
ctl export --decrypt --output "$IT_DIR/dec.jsonl" 2>"$IT_DIR/dec.err"; rc=$?
check "--decrypt: exit 0" test "$rc" = 0
check "--decrypt: a warning that the file holds personal data in clear" \
	grep -q "warning: .*dec.jsonl will hold personal data in clear" "$IT_DIR/dec.err"
check "--decrypt: an audit record with its actor, output and count" grep -q \
	"\"action\":\"export_decrypted\",\"outcome\":\"ok\",\"actor\":\"$(id -un)\".*\"output\":\"$IT_DIR/dec.jsonl\".*\"events\":$EVENTS" "$IT_DIR/dec.err"
check "--decrypt: the header says decrypted, and no key is in the file" test \
	"$(head -n 1 "$IT_DIR/dec.jsonl" | jq -c .evstore_export)" = '{"format":1,"keys":false,"decrypted":true}' -a \
	"$(grep -c subject_key "$IT_DIR/dec.jsonl")" = 0
check "--decrypt: the plaintext" test "$(jq -r "select(.aggregate_id == \"$A\" and .version == 1) |
	[.payload.email, .payload.address.city] | @tsv" "$IT_DIR/dec.jsonl")" = "$(printf 'ada.%s@example.org\tLeeds' "$MARK")"
check "--decrypt: the erased subject's fields are null, listed as erased" test "$(jq -c "select(.aggregate_id == \"$B\") |
	[.payload.name, .payload.email, .payload.tier, (.erased | sort)]" "$IT_DIR/dec.jsonl")" = \
	'[null,null,"basic",["/payload/email","/payload/name"]]'
check "--decrypt: the erased plaintext is nowhere" test "$(grep -c "bob.$MARK" "$IT_DIR/dec.jsonl")" = 0
new_db refusedec
out=$(in_db refusedec import "$IT_DIR/dec.jsonl" 2>&1); rc=$?
check "import of a decrypted export: exit 1, at its header, saying why" test "$rc" = 1 -a \
	-n "$(grep -F "dec.jsonl:1: a decrypted export (export --decrypt) holds personal data in clear" <<<"$out")"
check "... and nothing is stored" test "$(counts_in refusedec)" = 0/0
sed 1d "$IT_DIR/dec.jsonl" >"$IT_DIR/dec-noheader.jsonl"
FIRSTDEC=$(grep -n '"decrypted":true' "$IT_DIR/dec-noheader.jsonl" | head -n 1 | cut -d: -f1)
out=$(in_db refusedec import "$IT_DIR/dec-noheader.jsonl" 2>&1); rc=$?
check "with its header cut off, refused at its first decrypted event" test "$rc" = 1 -a -n "$FIRSTDEC" -a \
	-n "$(grep -F "dec-noheader.jsonl:$FIRSTDEC: a decrypted export (export --decrypt) holds personal data in clear" <<<"$out")" -a \
	"$(sql_in refusedec "SELECT count(*) FROM evstore.events WHERE payload::text LIKE '%$MARK%'")" = 0
(umask 077; openssl rand -hex 32 >"$IT_DIR/other.key")
sed "s|^master_key_file = .*|master_key_file = $IT_DIR/other.key|" "$CONF" >"$IT_DIR/otherkey.conf"
out=$("$CTL_BIN" --config "$IT_DIR/otherkey.conf" export --decrypt --output "$IT_DIR/other.jsonl" 2>&1); rc=$?
check "--decrypt under another master key: exit 1, saying the key does not unwrap" test "$rc" = 1 -a \
	-n "$(grep "cannot decrypt: a subject key does not unwrap under the master key" <<<"$out")"
check "... and the failed attempt is audited" grep -q '"action":"export_decrypted","outcome":"failed"' <<<"$out"

# --- restore into the emptied store: the keys kept, the data readable ----------------------
psql_q -c "TRUNCATE evstore.events, evstore.streams, evstore.subject_keys, evstore.erasure_inbox RESTART IDENTITY" >/dev/null
out=$(ctl import "$IT_DIR/exp.jsonl" 2>&1); rc=$?
check "import with keys: exit 0" test "$rc" = 0
check "... it says what it wrote" test "$(grep -c "^$EVENTS events imported, 0 stored already\|^2 subject keys imported, 0 stored already and skipped, 0 erased here as in the file, 0 kept erased" <<<"$out")" = 2
check "... and warns of nothing" test -z "$(grep warning <<<"$out")"
new_db othermaster
out=$(EVSTORE_DATABASE_URL="host=$IT_DIR/pg user=evstore dbname=othermaster" "$CTL_BIN" --config "$IT_DIR/otherkey.conf" \
	import "$IT_DIR/exp.jsonl" 2>&1); rc=$?
check "keys wrapped by another master key than the configuration's: imported, with a warning" test "$rc" = 0 -a \
	-n "$(grep "warning: 1 subject key of .*exp.jsonl is wrapped by master key [0-9a-f]\{16\}, not by this configuration's" <<<"$out")"
new_db concat
out=$(cat "$IT_DIR/nokeys.jsonl" "$IT_DIR/exp.jsonl" | in_db concat import --batch-size 1 2>&1); rc=$?
check "two exports in one stream (cat): the events, then the keys of the second, all in" test "$rc" = 0 -a \
	"$(counts_in concat)" = "$EVENTS/2" -a -z "$(grep warning <<<"$out")"
check "the key rows are back as they were, key ids kept" test "$(keys_of)" = "$KEYS_BEFORE"
auth_req "$P" GET "/v1/aggregates/Customer/$A/events"
expect "personal:read reads the imported events in clear" 200 '.events[0].payload.email' "ada.$MARK@example.org" \
	'.events[0].payload.address.city' Leeds '.events[1].payload.email' "ada2.$MARK@example.org" '.events[0].erased' null
auth_req "$P" GET "/v1/aggregates/Customer/$B/events"
expect "the erased subject stays erased" 200 '.events[0].payload.name' null '.events[0].erased|length' 2 '.events[0].payload.tier' basic
C=$(uuid)
cmd "$C" register "{\"name\":\"Cy\",\"email\":\"cy@example.org\"}"
expect "a new subject after the import" 201 .version 1
check "its key comes after the imported ids" test "$(psql_q -c "SELECT key_id > (SELECT max(key_id) FROM evstore.subject_keys
	WHERE subject <> '$C') FROM evstore.subject_keys WHERE subject = '$C'")" = t
out=$(ctl import "$IT_DIR/exp.jsonl" 2>&1); rc=$?
check "a second import adds nothing: exit 0" test "$rc" = 0 -a \
	-n "$(grep "^0 events imported, $EVENTS stored already" <<<"$out")" -a \
	-n "$(grep "^0 subject keys imported, 2 stored already and skipped" <<<"$out")"
check "... the keys unchanged" test "$(keys_of | head -n 2)" = "$KEYS_BEFORE"

# --- a key id stored with other content -------------------------------------------------
new_db conflict
AKEY=$(psql_q -c "SELECT key_id FROM evstore.subject_keys WHERE subject = '$A'")
sql_in conflict "INSERT INTO evstore.subject_keys (key_id, tenant_id, subject, wrapped_key, master_id)
	OVERRIDING SYSTEM VALUE VALUES ($AKEY, '00000000-0000-0000-0000-000000000000', 'someone-else',
	decode(repeat('ab', 60), 'hex'), 'feedfeedfeedfeed')" >/dev/null
AKEYLINE=$(grep -n "\"key_id\": $AKEY," "$IT_DIR/exp.jsonl" | cut -d: -f1)
out=$(in_db conflict import "$IT_DIR/exp.jsonl" 2>&1); rc=$?
check "a key id stored with another subject: exit 1, naming the line and the field" test "$rc" = 1 -a \
	-n "$(grep -F "exp.jsonl:$AKEYLINE: subject key $AKEY is stored already with another subject" <<<"$out")"
check "... and nothing of the file is stored" test "$(counts_in conflict)" = 0/1 -a \
	-n "$(grep "^Nothing of .*exp.jsonl is imported" <<<"$out")"
out=$(in_db conflict verify 2>&1); rc=$?
check "verify names a key id identity left behind a row written by hand" test "$rc" = 1 -a \
	-n "$(grep "^problem: the subject keys' key_id identity is at 0, behind key id $AKEY" <<<"$out")"

# --- events whose keys are held nowhere -----------------------------------------------------
new_db nokeys
out=$(in_db nokeys import "$IT_DIR/nokeys.jsonl" 2>&1); rc=$?
check "an export without keys into a store without them: imported, exit 0" test "$rc" = 0 -a "$(counts_in nokeys)" = "$EVENTS/0"
check "... with a warning that counts the events and the keys" grep -q \
	"warning: 3 events of .*nokeys.jsonl name 2 subject keys that this store does not hold" <<<"$out"
out=$(in_db nokeys verify 2>&1); rc=$?
check "verify without --envelopes reads no payload: exit 0" test "$rc" = 0
out=$(in_db nokeys verify --envelopes 2>&1); rc=$?
check "verify --envelopes names each key without a row and its events" test "$rc" = 1 -a \
	-n "$(grep "^problem: subject key $(psql_q -c "SELECT key_id FROM evstore.subject_keys WHERE subject = '$A'") has no row, and 2 events name it in an envelope (event [0-9a-f-]* the first)" <<<"$out")" -a \
	"$(grep -c '^problem: subject key' <<<"$out")" = 2
out=$(in_db nokeys import "$IT_DIR/exp.jsonl" 2>&1); rc=$?
check "importing the keys afterwards cures it: no warning" test "$rc" = 0 -a -z "$(grep warning <<<"$out")" -a \
	"$(counts_in nokeys)" = "$EVENTS/2"
out=$(in_db nokeys verify --envelopes 2>&1); rc=$?
check "... and verify --envelopes finds nothing more" test "$rc" = 0 -a -n "$(grep "envelopes' keys" <<<"$out")"

# --- an erasure carried by a later export; an older one never undoes it -----------------------
ctl forget "$A" >/dev/null 2>&1
ctl export --output "$IT_DIR/exp2.jsonl" 2>/dev/null
out=$(in_db nokeys import "$IT_DIR/exp2.jsonl" 2>&1); rc=$?
check "a tombstone in a later export erases the key stored live" test "$rc" = 0 -a \
	-n "$(grep "1 subject key imported, 1 stored already and skipped, 1 erased here as in the file" <<<"$out")" -a \
	"$(sql_in nokeys "SELECT wrapped_key IS NULL FROM evstore.subject_keys WHERE key_id = $AKEY")" = t
out=$(in_db nokeys import "$IT_DIR/exp.jsonl" 2>&1); rc=$?
check "the older export again: exit 0, the key kept erased" test "$rc" = 0 -a \
	-n "$(grep "0 subject keys imported, 1 stored already and skipped, 0 erased here as in the file, 1 kept erased" <<<"$out")" -a \
	"$(sql_in nokeys "SELECT wrapped_key IS NULL FROM evstore.subject_keys WHERE key_id = $AKEY")" = t

# --- bad key records ---------------------------------------------------------------------------
new_db badkey
head -n 1 "$IT_DIR/exp.jsonl" >"$IT_DIR/bad.jsonl"
grep -m 1 subject_key "$IT_DIR/exp.jsonl" | jq -c '.subject_key.wrapped_key = "zz"' >>"$IT_DIR/bad.jsonl"
out=$(in_db badkey import "$IT_DIR/bad.jsonl" 2>&1); rc=$?
check "a key record with a bad wrapped_key: exit 1, naming line and field" test "$rc" = 1 -a \
	-n "$(grep -F "bad.jsonl:2: subject_key.wrapped_key must be" <<<"$out")" -a "$(counts_in badkey)" = 0/0
printf '{"evstore_export": {"format": 2}}\n' >"$IT_DIR/future.jsonl"
out=$(in_db badkey import "$IT_DIR/future.jsonl" 2>&1); rc=$?
check "an export of a later format: exit 1, saying so" test "$rc" = 1 -a \
	-n "$(grep -F "future.jsonl:1: an export of format 2: this evstorectl reads format 1" <<<"$out")"

it_finish
