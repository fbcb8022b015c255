#!/usr/bin/env bash
# Snapshots of states that hold personal data: written inline (sync), by
# the runner's snapshots handler (background) and by evstorectl snapshot,
# with each member taken from personal fields sealed under the key it was
# sealed with in the events. Served states, in clear and redacted, at a
# version (time travel) and as seen by command guards, equal a fold from
# the events before and after erasure, erased members listed in `erased`
# for every reader; a snapshot whose key is erased is not used, and the
# read that skipped it replaces it (same version) by the fold from the
# events, which the next read uses; a snapshot whose ciphertext is
# damaged or moved is not used (the fold from the events answers, and
# it is logged), and no snapshot holds the plaintext.
. "$(dirname "$0")/lib.sh"
IT_LOG_LEVEL=info IT_NO_SERVERS=1 it_start
it_front_require
. "$(dirname "$0")/runner_lib.sh"

MARK="zq-snapmark-$(uuid | cut -c1-8)"
KEY=$IT_DIR/master.key
CONF=$IT_DIR/evstore.conf
(umask 077; openssl rand -hex 32 >"$KEY")
printf '[privacy]\nmaster_key_file = %s\n' "$KEY" >>"$CONF"

# definition TYPE MODE: a person whose name, email, tier and address are
# personal data of the stream's subject, and whose referral note belongs
# to the referrer (another subject); snapshots every 2 versions.
definition() {
	cat >"$IT_DIR/aggregates.d/$1.json" <<JSON
{
  "aggregate_type": "$1",
  "snapshot": { "threshold": 2, "mode": "$2" },
  "events": {
    "Registered": {
      "payload": { "type": "object", "required": ["name", "email", "tier"],
        "properties": { "name": {"type": "string"}, "email": {"type": "string"},
          "tier": {"type": "string", "enum": ["basic", "gold"]},
          "address": {"type": "object", "properties": {"city": {"type": "string"}}} },
        "additionalProperties": false },
      "personal": { "subject": "aggregate_id",
        "fields": ["payload.name", "payload.email", "payload.tier", "payload.address"] },
      "when": { "version": 0 },
      "evolve": [ {"merge": "payload"}, {"set": {"status": "active"}} ] },
    "EmailChanged": {
      "payload": { "type": "object", "required": ["email"],
        "properties": { "email": {"type": "string"} }, "additionalProperties": false },
      "personal": { "subject": "aggregate_id", "fields": ["payload.email"] },
      "when": { "state.status": ["active"] },
      "evolve": [ {"copy": {"email": "payload.email"}}, {"inc": {"email_changes": 1}} ] },
    "Referred": {
      "payload": { "type": "object", "required": ["referrer", "note"],
        "properties": { "referrer": {"type": "string"}, "note": {"type": "string"} },
        "additionalProperties": false },
      "personal": { "subject": "payload.referrer", "fields": ["payload.note"] },
      "evolve": [ {"copy": {"referral.note": "payload.note", "referral.by": "payload.referrer"}} ] },
    "Upgraded": { "when": { "state.tier": ["basic"] }, "evolve": [ {"inc": {"upgrades": 1}} ] },
    "Tagged": { "evolve": [ {"append": {"tags": "payload.tag"}} ] }
  },
  "commands": { "register": {"emits": "Registered"}, "change_email": {"emits": "EmailChanged"},
    "refer": {"emits": "Referred"}, "upgrade": {"emits": "Upgraded"}, "tag": {"emits": "Tagged"} }
}
JSON
}
definition PersonSync sync
definition PersonBg background
definition PersonManual manual
it_front_start || exit 1

W=$(token writer "events:read events:write")
R=$(token reader "events:read")
P=$(token officer "events:read personal:read")
ADM=$(token dpo "admin")
cmd() { post_json "$W" "/v1/aggregates/$1/$2/commands/$3" "$4"; }
register() { # TYPE ID WHO
	cmd "$1" "$2" register "{\"name\":\"$3 $MARK\",\"email\":\"$3.$MARK@example.org\",\"tier\":\"basic\",\"address\":{\"city\":\"$3 town $MARK\"}}"
}
tag() { cmd "$1" "$2" tag "{\"tag\":\"t$3\"}"; }
snap() { psql_q -c "SELECT version || ' ' || state::text FROM evstore.snapshots WHERE aggregate_id = '$1'"; }
snap_version() { psql_q -c "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$1'"; }
# key_of ID MEMBER: the key id of the snapshot member's envelope
key_of() { psql_q -c "SELECT split_part(state->'$2'->>'\$enc', ':', 2) FROM evstore.snapshots WHERE aggregate_id = '$1'"; }
no_marker_in_snapshots() { [ "$(psql_q -c "SELECT count(*) FROM evstore.snapshots WHERE state::text LIKE '%$MARK%'")" = 0 ]; }

# same_as_fold NAME TOKEN TYPE ID [QUERY] [WANT_SNAPSHOT]: the state route's
# answer equals the one folded from the events alone (the snapshot hidden
# by a rules hash no definition has), snapshot_version aside, and the
# snapshot it started from is WANT_SNAPSHOT ("null": none was usable).
same_as_fold() {
	local name=$1 tok=$2 type=$3 id=$4 q=${5:-} want=${6:-} with without sv
	auth_req "$tok" GET "/v1/aggregates/$type/$id$q"
	with=$BODY
	sv=$(jq_body .snapshot_version)
	psql_q -c "UPDATE evstore.snapshots SET rules_hash = 'hidden:' || rules_hash WHERE aggregate_id = '$id'"
	auth_req "$tok" GET "/v1/aggregates/$type/$id$q"
	without=$BODY
	psql_q -c "UPDATE evstore.snapshots SET rules_hash = substr(rules_hash, 8) WHERE aggregate_id = '$id'
		AND rules_hash LIKE 'hidden:%'"
	if [ "$(jq -S 'del(.snapshot_version)' <<<"$with")" != "$(jq -S 'del(.snapshot_version)' <<<"$without")" ]; then
		not_ok "$name" "from the snapshot ($sv): $with; from the events: $without"
	elif [ -n "$want" ] && [ "$sv" != "$want" ]; then
		not_ok "$name" "started from snapshot $sv, want $want"
	elif [ "$(jq -r .snapshot_version <<<"$without")" != null ]; then
		not_ok "$name" "the fold without the snapshot still used one: $without"
	else
		ok "$name"
	fi
}

# --- sync: written inline, sealed, and equal to a fold --------------------------
S=$(uuid)
REF="referrer-$(uuid | cut -c1-8)"
register PersonSync "$S" ada
cmd PersonSync "$S" refer "{\"referrer\":\"$REF\",\"note\":\"met at $MARK\"}"
expect "a referral by another subject" 201 .version 2
check "crossing the threshold writes a snapshot (sync)" test "$(snap_version "$S")" = 2
check "the snapshot holds no plaintext of a personal field" no_marker_in_snapshots
sealed_members() { # ID: the members that are envelopes, sorted
	psql_q -c "SELECT string_agg(key, ',' ORDER BY key) FROM evstore.snapshots, jsonb_each(state)
		WHERE aggregate_id = '$1' AND jsonb_typeof(value) = 'object' AND value ? '\$enc'"
}
check "each member taken from personal fields is sealed, the others are not" \
	test "$(sealed_members "$S")" = "address,email,name,tier"
check "a nested member is sealed with the other subject's key, its sibling (the subject id) is not" \
	test "$(psql_q -c "SELECT (state->'referral'->'note' ? '\$enc')::text || ' ' || (state->'referral'->>'by')
		|| ' ' || (split_part(state->'referral'->'note'->>'\$enc', ':', 2) <> split_part(state->'email'->>'\$enc', ':', 2))::text
		FROM evstore.snapshots WHERE aggregate_id = '$S'")" = "true $REF true"
same_as_fold "the state in clear from the snapshot equals the fold" "$P" PersonSync "$S" "" 2
check "... and holds the plaintext" test "$(jq_body .state.email)" = "ada.$MARK@example.org"
same_as_fold "the redacted state from the snapshot equals the fold" "$R" PersonSync "$S" "" 2
check "... and withholds the sealed members" \
	test "$(jq_body '[.state.email, (.redacted|sort|join(","))]|@tsv')" \
	= "$(printf '\t/state/address,/state/email,/state/name,/state/referral/note,/state/tier')" ||
	echo "# $BODY"
cmd PersonSync "$S" change_email "{\"email\":\"new.$MARK@example.org\"}"
tag PersonSync "$S" 4
check "the next snapshot is at 4" test "$(snap_version "$S")" = 4
same_as_fold "time travel to 3 starts from a snapshot and equals the fold" "$P" PersonSync "$S" "?at_version=3" null
check "... which had the older email" test "$(jq_body .state.email)" = "new.$MARK@example.org"
same_as_fold "the state at 4 comes from the snapshot" "$P" PersonSync "$S" "" 4
cmd PersonSync "$S" upgrade '{}'
expect "a guard reads a sealed member opened from the snapshot (state.tier basic)" 201 .version 5
same_as_fold "time travel to 5 starts from the snapshot at 4 and equals the fold" "$P" PersonSync "$S" "?at_version=5" 4
tag PersonSync "$S" 6
same_as_fold "the state at 6 comes from the snapshot" "$P" PersonSync "$S" "" 6

# --- erasure -----------------------------------------------------------------------
# skipped_count ID VERSION: how often a read skipped that snapshot for an erased key
skipped_count() { grep -c "\"event\":\"snapshot_erased\".*\"aggregate_id\":\"$1\",\"version\":\"$2\"" "$IT_DIR/fcgi.log"; }
erased_list() { jq_body '(.erased // [])|sort|join(",")'; }
auth_req "$ADM" DELETE "/v1/subjects/$REF"
expect "erase the referrer" 200 .outcome erased
BEFORE=$(psql_q -c "SELECT state::text FROM evstore.snapshots WHERE aggregate_id = '$S'")
same_as_fold "with the referrer erased the snapshot is not used: the fold answers" "$P" PersonSync "$S" "" null
check "... the referral note is null, the person's own data still readable" \
	test "$(jq_body '[.state.referral.note, .state.email]|@tsv')" = "$(printf '\tnew.%s@example.org' "$MARK")"
check "... and listed as erased to a reader with personal:read" test "$(erased_list)" = /state/referral/note
check "a snapshot with an erased key is logged as a cache miss" test "$(skipped_count "$S" 6)" = 1
check "the read replaced the snapshot at the same version" \
	test "$(psql_q -c "SELECT version || ' ' || (state::text <> '$BEFORE')::text || ' '
		|| coalesce(jsonb_typeof(state->'referral'->'note'), 'absent') || ' ' || (state->'email' ? '\$enc')::text
		|| ' ' || (state->'\$erased')::text FROM evstore.snapshots WHERE aggregate_id = '$S'")" \
	= '6 true null true ["/state/referral/note"]'
check "... and logged it" grep -q "\"event\":\"snapshot_refreshed\".*\"aggregate_id\":\"$S\",\"version\":\"6\"" "$IT_DIR/fcgi.log"
same_as_fold "redacted, the replaced snapshot is used and equals the fold" "$R" PersonSync "$S" "" 6
check "... listing the erased member as erased, not as redacted" \
	test "$(erased_list) $(jq_body '.redacted|index("/state/referral/note")')" = "/state/referral/note null"
check "... and the snapshot was not skipped again" test "$(skipped_count "$S" 6)" = 1
same_as_fold "in clear from the replaced snapshot" "$P" PersonSync "$S" "" 6
check "... lists the erased member" test "$(erased_list)" = /state/referral/note
tag PersonSync "$S" 7
tag PersonSync "$S" 8
check "a snapshot written after the erasure" test "$(snap_version "$S")" = 8
check "... holds the erased member as null and listed, the live ones sealed" \
	test "$(psql_q -c "SELECT coalesce(jsonb_typeof(state->'referral'->'note'), 'absent') || ' ' || (state->'email' ? '\$enc')::text
		|| ' ' || (state->'\$erased')::text FROM evstore.snapshots WHERE aggregate_id = '$S'")" = 'null true ["/state/referral/note"]'
same_as_fold "... and is used again" "$P" PersonSync "$S" "" 8
check "... listing the erased member" test "$(erased_list)" = /state/referral/note

auth_req "$ADM" DELETE "/v1/subjects/$S"
expect "erase the person" 200 .outcome erased
same_as_fold "after erasure the state equals the fold from the events" "$P" PersonSync "$S" "" null
check "... the erased fields are null or gone" \
	test "$(jq_body '[.state.email, .state.name, .state.tier, .state.status]|@tsv')" = "$(printf '\t\t\tactive')"
check "... those null listed as erased (a merge dropped the others)" \
	test "$(erased_list)" = /state/email,/state/referral/note
check "... the snapshot at 8 replaced, once skipped" \
	test "$(skipped_count "$S" 8) $(psql_q -c "SELECT version || ' ' || (state->'\$erased')::text || ' '
		|| (state::text LIKE '%\$enc%')::text FROM evstore.snapshots WHERE aggregate_id = '$S'")" \
	= '1 8 ["/state/email", "/state/referral/note"] false'
same_as_fold "redacted, after erasure, from the replaced snapshot" "$R" PersonSync "$S" "" 8
check "... lists the erased members to a reader without personal:read, none redacted" \
	test "$(erased_list) $(jq_body '.redacted // "none"')" = "/state/email,/state/referral/note none"
same_as_fold "time travel after erasure (to the snapshot's version)" "$P" PersonSync "$S" "?at_version=8" 8
check "... lists them" test "$(erased_list)" = /state/email,/state/referral/note
same_as_fold "time travel after erasure to before the snapshot's version" "$R" PersonSync "$S" "?at_version=3" null
check "... lists both erased members" \
	test "$(erased_list)" = /state/email,/state/referral/note
check "no further read skipped the snapshot" test "$(skipped_count "$S" 8)" = 1
cmd PersonSync "$S" upgrade '{}'
expect_problem "a guard on an erased member refuses, though the snapshot held it (state.tier)" 409 invalid-state
check "... naming the guard" test "$(jq_body .guard)" = state.tier
cmd PersonSync "$S" change_email "{\"email\":\"again.$MARK@example.org\"}"
expect "new data after the erasure (a new key)" 201 .version 9
OLDKEY=$(key_of "$S" email)
tag PersonSync "$S" 10
check "its snapshot seals the new data with the new key" \
	test "$(snap_version "$S") $(key_of "$S" email | grep -vx "$OLDKEY" | wc -l)" = "10 1"
same_as_fold "the state from it equals the fold" "$P" PersonSync "$S" "" 10
check "... readable again" test "$(jq_body .state.email)" = "again.$MARK@example.org"

# --- background (runner) and manual (evstorectl) ------------------------------------
B=$(uuid)
register PersonBg "$B" bea
tag PersonBg "$B" 2
check "background: the append writes no snapshot itself" test -z "$(snap_version "$B")"
conf snaps "[subscription snaps]
handler = snapshots
aggregate_types = PersonBg
start_from = beginning"
start_runner snaps runner.log
check "the runner's snapshots handler writes it" wait_for 20 sql_is 2 "SELECT version FROM evstore.snapshots WHERE aggregate_id = '$B'"
stop_runner "$RPID"
check "... sealed" test "$(sealed_members "$B")" = "address,email,name,tier"
same_as_fold "the state from the runner's snapshot equals the fold" "$P" PersonBg "$B" "" 2
same_as_fold "... redacted" "$R" PersonBg "$B" "" 2

M=$(uuid)
register PersonManual "$M" max
tag PersonManual "$M" 2
out=$("$CTL_BIN" --config "$CONF" snapshot PersonManual "$M" 2>&1)
check "evstorectl snapshot writes one ($out)" test "$(snap_version "$M")" = 2
check "... sealed" test "$(sealed_members "$M")" = "address,email,name,tier"
same_as_fold "the state from evstorectl's snapshot equals the fold" "$P" PersonManual "$M" "" 2
auth_req "$ADM" DELETE "/v1/subjects/$M"
BEFORE=$(psql_q -c "SELECT state::text FROM evstore.snapshots WHERE aggregate_id = '$M'")
psql_q -c "UPDATE evstore.snapshots SET rules_hash = 'hidden:' || rules_hash WHERE aggregate_id = '$M'"
auth_req "$P" GET "/v1/aggregates/PersonManual/$M"
WANT=$BODY
psql_q -c "UPDATE evstore.snapshots SET rules_hash = substr(rules_hash, 8) WHERE aggregate_id = '$M'"
"$CTL_BIN" --config "$CONF" snapshot PersonManual "$M" >/dev/null 2>&1
check "evstorectl snapshot at the same version replaces the snapshot the erasure made unusable" \
	test "$(snap_version "$M") $(sealed_members "$M") $(psql_q -c "SELECT (state::text <> '$BEFORE')::text
		FROM evstore.snapshots WHERE aggregate_id = '$M'")" = "2  true"
same_as_fold "... which is used and equals the fold" "$P" PersonManual "$M" "" 2
check "... and the fold before it (no read skipped it)" \
	test "$(jq -S 'del(.snapshot_version)' <<<"$BODY")" = "$(jq -S 'del(.snapshot_version)' <<<"$WANT")"
check "... no read skipped it" test "$(skipped_count "$M" 2)" = 0
tag PersonManual "$M" 3
"$CTL_BIN" --config "$CONF" snapshot PersonManual "$M" >/dev/null 2>&1
check "a snapshot of the erased state" test "$(snap_version "$M") $(sealed_members "$M")" = "3 "
same_as_fold "... is used and equals the fold" "$P" PersonManual "$M" "" 3
check "no snapshot holds the plaintext" no_marker_in_snapshots

# --- damaged or moved ciphertext: a cache miss and an error, never garbage ----------
T=$(uuid)
register PersonSync "$T" tom
tag PersonSync "$T" 2
check "a snapshot to damage" test "$(snap_version "$T")" = 2
GOOD=$(psql_q -c "SELECT state::text FROM evstore.snapshots WHERE aggregate_id = '$T'")
restore() { psql_q -c "UPDATE evstore.snapshots SET version = 2, state = '$GOOD'::jsonb WHERE aggregate_id = '$T'"; }
# damaged WHAT SQL POINTER WHY: after SQL (on row $T) the fold answers and
# the log names the pointer (a regular expression) and why.
damaged() {
	psql_q -c "UPDATE evstore.snapshots SET $2 WHERE aggregate_id = '$T'"
	same_as_fold "$1: the fold from the events answers" "$P" PersonSync "$T" "" null
	check "... the state is right" test "$(jq_body .state.email)" = "tom.$MARK@example.org"
	check "... and the damage is logged as an error" \
		grep -q "\"event\":\"snapshot_unreadable\".*\"aggregate_id\":\"$T\".*\"detail\":\"$3: $4\"" "$IT_DIR/fcgi.log"
	restore
}
damaged "a changed ciphertext" "state = jsonb_set(state, '{email,\$enc}', to_jsonb(overlay(state->'email'->>'\$enc'
	placing (CASE WHEN substr(state->'email'->>'\$enc', 20, 1) = 'A' THEN 'B' ELSE 'A' END) from 20 for 1)))" \
	/state/email "the ciphertext fails authentication"
damaged "a member moved to another member" "state = jsonb_set(state, '{email}', state->'name')" \
	/state/email "the ciphertext fails authentication"
damaged "a snapshot moved to an older version" "version = 1" "/state/[a-z]*" "the ciphertext fails authentication"
damaged "a member copied from another stream's snapshot" \
	"state = jsonb_set(state, '{email}', (SELECT state->'email' FROM evstore.snapshots WHERE aggregate_id = '$B'))" \
	/state/email "the ciphertext fails authentication"
damaged "an erased list naming a member not taken from personal fields" \
	"state = state || '{\"\$erased\": [\"/state/status\"]}'::jsonb" \
	'/\$erased' "not a list of the definition's personal state pointers"
psql_q -c "UPDATE evstore.snapshots SET state = jsonb_set(state, '{tier,\$enc}',
	to_jsonb(regexp_replace(state->'tier'->>'\$enc', '^v1:[0-9]+:', 'v1:999999:'))) WHERE aggregate_id = '$T'"
same_as_fold "an envelope naming an unknown key: the fold answers" "$P" PersonSync "$T" "" null
check "... logged" grep -q "\"snapshot_unreadable\".*\"aggregate_id\":\"$T\".*/state/tier: the envelope's key is missing" "$IT_DIR/fcgi.log"
restore
same_as_fold "restored, the snapshot is used again" "$P" PersonSync "$T" "" 2
cmd PersonSync "$T" upgrade '{}'
expect "a command on the restored snapshot's state" 201 .version 3

found=$(grep -rl -- "$MARK" "$IT_DIR"/*.log 2>/dev/null)
check "no log holds the plaintext" test -z "$found"
runner_logs_clean
it_finish
