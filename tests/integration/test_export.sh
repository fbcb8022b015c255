#!/usr/bin/env bash
# test_export.sh - evstorectl export and import against a real PostgreSQL:
# a store of many events across tenants exported, imported into an empty
# database and exported again (the same lines but for positions), a second
# import adding nothing; the tenant and aggregate-type filters; an export
# interrupted and resumed with --after; an event still in flight not
# skipped; every refusal of import naming its line and leaving nothing of
# its batch; the progress bars on a terminal. (Personal data and its keys
# in exports: test_export_privacy.sh.)
#
# EVSTORE_TEST_EXPORT_EVENTS sets the store's size: 100000 by default, for
# CI under the sanitizers (there the first export took 32 s and the first
# import 75 s on two cores shared with a load average of ~20); the test
# passes at 1000000 too (38 minutes on that loaded machine, the first
# import 15 of them). Speed is bench/export.sh's business, not this test's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/export_fill.sh"

N=${EVSTORE_TEST_EXPORT_EVENTS:-100000}
IT_NO_SERVERS=1 it_start

ctl() { "$CTL_BIN" --config "$IT_DIR/evstore.conf" "$@"; }
# in DB COMMAND...: evstorectl against another database of the cluster.
in_db() { local db=$1; shift; EVSTORE_DATABASE_URL="host=$IT_DIR/pg user=evstore dbname=$db" ctl "$@"; }
sql_in() { psql -X -q -At -v ON_ERROR_STOP=1 "host=$IT_DIR/pg user=evstore dbname=$1" -c "$2"; }
verifies() { in_db "$1" verify >/dev/null; }
new_db() { psql_q -c "CREATE DATABASE $1" && in_db "$1" migrate >/dev/null; }
# Lines without their positions, the one thing an import changes.
unpositioned() { sed 's/"position" : [0-9]*, //' "$1"; }
commas() { sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta' <<<"$1"; }
cursor_of() { sed -n 's/.*--after \([0-9a-f]*\)$/\1/p' "$1" | tail -n 1; }
# The event lines of an export (without its header and key records).
events_in() { grep -v '^{"evstore_export"\|^{"subject_key"' "$1"; }
HEADER='{"evstore_export": {"format": 1, "keys": true, "decrypted": false}}'

export_fill "$N" $((N / 10 > 1000 ? N / 10 : 1000)) | psql_q >/dev/null || { echo "Bail out! filling the store failed"; exit 1; }
T1=00000000-0000-4000-8000-000000000001

# --- the round trip --------------------------------------------------------------------
SECONDS=0
ctl export --all-tenants --output "$IT_DIR/one.jsonl" 2>"$IT_DIR/one.err"; rc=$?
echo "# export of $N events: ${SECONDS}s"
check "export --all-tenants: exit 0" test "$rc" = 0
check "a header, then one line per event" test "$(head -n 1 "$IT_DIR/one.jsonl")" = "$HEADER" -a \
	"$(wc -l <"$IT_DIR/one.jsonl")" = $((N + 1))
check "the lines are the API's event objects, in feed order" test "$(sed -n 2p "$IT_DIR/one.jsonl")" = \
	"$(psql_q -c "SELECT evstore.event_json(e) FROM evstore.events e ORDER BY transaction_id, position LIMIT 1")"
check "stderr names the cursor after the last event" test "$(cursor_of "$IT_DIR/one.err")" = \
	"$(psql_q -c "SELECT '1' || lpad(to_hex(transaction_id::text::bigint), 16, '0') || lpad(to_hex(position), 16, '0')
		FROM evstore.events ORDER BY transaction_id DESC, position DESC LIMIT 1")"

new_db restored
SECONDS=0
out=$(in_db restored import "$IT_DIR/one.jsonl" 2>&1); rc=$?
echo "# import of $N events: ${SECONDS}s"
check "import into an empty database: exit 0" test "$rc" = 0
check "import says how many it wrote" grep -q "^$(commas "$N") events imported, 0 stored already" <<<"$out"
in_db restored export --all-tenants --output "$IT_DIR/two.jsonl" 2>/dev/null
check "the second export has the same lines but for the positions" \
	cmp -s <(unpositioned "$IT_DIR/one.jsonl") <(unpositioned "$IT_DIR/two.jsonl")
check "the positions are the new store's, from 1" test "$(sed -n 's/.*"position" : \([0-9]*\),.*/\1/p' "$IT_DIR/two.jsonl" | head -n 1)" = 1
check "the streams rows are rebuilt: the same versions" cmp -s \
	<(psql_q -c "SELECT tenant_id, aggregate_type, aggregate_id, version FROM evstore.streams ORDER BY 1, 2, 3") \
	<(sql_in restored "SELECT tenant_id, aggregate_type, aggregate_id, version FROM evstore.streams ORDER BY 1, 2, 3")
out=$(in_db restored import "$IT_DIR/one.jsonl" 2>&1); rc=$?
check "a second import adds nothing" test "$rc" = 0 -a "$(sql_in restored "SELECT count(*) FROM evstore.events")" = "$N"
check "and says every line was stored already" grep -q "^0 events imported, $(commas "$N") stored already" <<<"$out"
check "the restored store verifies" verifies restored

new_db small
head -n 5000 "$IT_DIR/one.jsonl" >"$IT_DIR/head.jsonl"
in_db small import --batch-size 97 "$IT_DIR/head.jsonl" >/dev/null
in_db small export --all-tenants --output "$IT_DIR/small.jsonl" 2>/dev/null
check "in batches of 97 lines: the same round trip" cmp -s <(unpositioned "$IT_DIR/head.jsonl") <(unpositioned "$IT_DIR/small.jsonl")

# --- filters ------------------------------------------------------------------------------
ctl export --tenant "$T1" --output "$IT_DIR/t1.jsonl" 2>/dev/null
check "--tenant: that tenant's events, all of them" test "$(events_in "$IT_DIR/t1.jsonl" | wc -l)" = \
	"$(psql_q -c "SELECT count(*) FROM evstore.events WHERE tenant_id = '$T1'")" -a \
	"$(events_in "$IT_DIR/t1.jsonl" | jq -r .tenant_id | sort -u)" = "$T1"
ctl export --no-tenant --output "$IT_DIR/none.jsonl" 2>/dev/null
check "--no-tenant: the no-tenant space only" test "$(events_in "$IT_DIR/none.jsonl" | wc -l)" = \
	"$(psql_q -c "SELECT count(*) FROM evstore.events WHERE tenant_id = '00000000-0000-0000-0000-000000000000'")" -a \
	"$(events_in "$IT_DIR/none.jsonl" | jq -r .tenant_id | sort -u)" = null
ctl export --output "$IT_DIR/default.jsonl" 2>"$IT_DIR/default.err"
check "no tenant option: every tenant, as --all-tenants (a backup misses nothing)" \
	cmp -s "$IT_DIR/default.jsonl" "$IT_DIR/one.jsonl"
check "... and says so" grep -q "exported (all tenants)" "$IT_DIR/default.err"
ctl export --all-tenants --aggregate-type ' Invoice ,Nothing' --output "$IT_DIR/inv.jsonl" 2>/dev/null
check "--aggregate-type: those types only" test "$(events_in "$IT_DIR/inv.jsonl" | wc -l)" = \
	"$(psql_q -c "SELECT count(*) FROM evstore.events WHERE aggregate_type = 'Invoice'")" -a \
	"$(events_in "$IT_DIR/inv.jsonl" | jq -r .aggregate_type | sort -u)" = Invoice
check "the filtered lines are the full export's, in its order" cmp -s <(events_in "$IT_DIR/inv.jsonl") <(grep '"aggregate_type" : "Invoice"' "$IT_DIR/one.jsonl")
for bad in "--aggregate-type 9x" "--aggregate-type Order,,X" "--tenant nope" "--tenant $T1 --all-tenants" \
	"--no-tenant --all-tenants" "--tenant $T1 --no-tenant" "--decrypt --without-keys" \
	"--after zz" "--batch-size 0" "--bogus"; do
	# shellcheck disable=SC2086
	out=$(ctl export $bad 2>&1 >/dev/null); rc=$?
	check "export $bad: usage error, exit 2" test "$rc" = 2 -a -n "$(grep -- '--help' <<<"$out")"
done

# --- interrupted, then resumed ------------------------------------------------------------
# Into a pipe read slowly: the export waits on it, ^C comes, then the
# reader takes everything that was written.
mkfifo "$IT_DIR/fifo"
"$CTL_BIN" --config "$IT_DIR/evstore.conf" export --all-tenants --batch-size 100 --output "$IT_DIR/fifo" \
	2>"$IT_DIR/part1.err" &
pid=$!
exec 3<"$IT_DIR/fifo"
head -c 100000 <&3 >"$IT_DIR/part1.jsonl"
kill -INT "$pid"
cat <&3 >>"$IT_DIR/part1.jsonl"
exec 3<&-
wait "$pid"; rc=$?
check "^C: exit 1, 'interrupted'" test "$rc" = 1 -a -n "$(grep interrupted "$IT_DIR/part1.err")"
check "the interrupted export wrote whole lines, fewer than all" test "$(tail -c 1 "$IT_DIR/part1.jsonl" | od -An -c | tr -d ' ')" = '\n' -a \
	"$(wc -l <"$IT_DIR/part1.jsonl")" -lt "$N"
c=$(cursor_of "$IT_DIR/part1.err")
check "an interrupted export names the cursor to resume from" test -n "$c"
ctl export --all-tenants --after "$c" --output "$IT_DIR/part2.jsonl" 2>/dev/null
check "and --after goes on from there: every line once" cmp -s "$IT_DIR/one.jsonl" <(cat "$IT_DIR/part1.jsonl"; events_in "$IT_DIR/part2.jsonl")

# --- an event still in flight is not skipped ---------------------------------------------------
c=$(cursor_of "$IT_DIR/one.err")
newev() { # TYPE ID VERSION: one event's INSERT
	echo "INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
		occurred_at, payload) VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), '$1', '$2', $3, 'Late',
		now(), '{}'); INSERT INTO evstore.streams VALUES ('00000000-0000-0000-0000-000000000000', '$1', '$2', $3);"
}
# A session that holds its transaction open until told to commit.
mkfifo "$IT_DIR/held"
psql_q <"$IT_DIR/held" >/dev/null &
pid=$!
exec 4>"$IT_DIR/held"
{ echo "BEGIN;"; newev Late "$(uuid)" 1; } >&4
held_open() { [ "$(psql_q -c "SELECT count(*) FROM pg_stat_activity
	WHERE state = 'idle in transaction' AND backend_xid IS NOT NULL")" = 1 ]; }
wait_for 10 held_open
newev Late "$(uuid)" 1 | psql_q >/dev/null
ctl export --all-tenants --after "$c" --output "$IT_DIR/late1.jsonl" 2>"$IT_DIR/late1.err"
check "behind a transaction in flight, the events committed after it wait too" test -z "$(events_in "$IT_DIR/late1.jsonl")"
echo "COMMIT;" >&4
exec 4>&-
wait "$pid"
ctl export --all-tenants --after "$(cursor_of "$IT_DIR/late1.err")" --output "$IT_DIR/late2.jsonl" 2>/dev/null
check "once it commits, the next export from the cursor has both" test "$(events_in "$IT_DIR/late2.jsonl" | jq -r .event_type | sort | uniq -c | awk '{print $1, $2}')" = "2 Late"

# --- refusals: the line named, nothing of its batch left -------------------------------------
new_db refuse
head -n 1 "$IT_DIR/one.jsonl" >/dev/null
# A stream of three events, from the full export.
S=$(jq -r 'select(.version == 3) | .aggregate_id' "$IT_DIR/one.jsonl" | head -n 1)
grep "\"aggregate_id\" : \"$S\"" "$IT_DIR/one.jsonl" | jq -c 'select(.version <= 3)' >"$IT_DIR/s3.jsonl"
other=$(grep -v "\"aggregate_id\" : \"$S\"" "$IT_DIR/one.jsonl" | jq -c 'select(.version == 1)' | head -n 8)
in_db refuse import "$IT_DIR/s3.jsonl" >/dev/null
count() { sql_in refuse "SELECT count(*) FROM evstore.events"; }
refused() { # NAME FILE LINE WORDS [IMPORT-OPTIONS]: refused at LINE, saying WORDS, nothing added
	local before out rc
	before=$(count)
	out=$(in_db refuse import ${5:-} "$2" 2>&1); rc=$?
	check "$1: exit 1, naming line $3" test "$rc" = 1 -a -n "$(grep -F "$2:$3: " <<<"$out")"
	check "$1: says why" grep -q -- "$4" <<<"$out"
	check "$1: nothing of the batch is stored" test "$(count)" = "$before"
}
{ sed -n 1p <<<"$other"; sed -n 2p "$IT_DIR/s3.jsonl" | jq -c '.payload.n = -1'; } >"$IT_DIR/differs.jsonl"
refused "an id stored with another payload" "$IT_DIR/differs.jsonl" 2 "is stored already with another payload"
{ sed -n 1p <<<"$other"; sed -n 3p "$IT_DIR/s3.jsonl" | jq -c '.recorded_at = "2020-01-01T00:00:00.000000Z"'; } >"$IT_DIR/rec.jsonl"
refused "an id stored with another recorded_at" "$IT_DIR/rec.jsonl" 2 "another recorded_at"
{ sed -n 1,2p <<<"$other"; sed -n 2p <<<"$other" | jq -c '.metadata = {"x": 1}'; } >"$IT_DIR/again.jsonl"
refused "an id repeated with other content" "$IT_DIR/again.jsonl" 3 "is on line 2 already, with other content"
{ sed -n 1p <<<"$other"; sed -n 3p "$IT_DIR/s3.jsonl" | jq -c ".event_id = \"$(uuid)\" | .version = 5"; } >"$IT_DIR/gap.jsonl"
refused "a version gap" "$IT_DIR/gap.jsonl" 2 "version 5 of .* leaves a gap: the stream is at version 3"
{ sed -n 1p <<<"$other"; sed -n 3p "$IT_DIR/s3.jsonl" | jq -c ".event_id = \"$(uuid)\""; } >"$IT_DIR/taken.jsonl"
refused "a version taken" "$IT_DIR/taken.jsonl" 2 "version 3 of .* is taken already"
new=$(uuid)
{ sed -n 1p <<<"$other" | jq -c ".aggregate_id = \"$new\""; sed -n 1p <<<"$other" | jq -c ".aggregate_id = \"$new\" | .event_id = \"$(uuid)\""; } >"$IT_DIR/twice.jsonl"
refused "a new stream's version given twice" "$IT_DIR/twice.jsonl" 2 "version 1 of .* is taken already (the stream is at version 1)"
{ sed -n 1p <<<"$other"; echo '{"event_id": 1}'; } >"$IT_DIR/bad.jsonl"
refused "a line that is not an event" "$IT_DIR/bad.jsonl" 2 "event_id must be a UUID"
{ sed -n 1p <<<"$other"; echo '{"event_id": '; } >"$IT_DIR/cut.jsonl"
refused "a line cut short" "$IT_DIR/cut.jsonl" 2 "invalid JSON"
# Batches of two: the first stays, the second (with the bad line) goes.
{ sed -n 1,3p <<<"$other"; sed -n 2p "$IT_DIR/s3.jsonl" | jq -c '.payload.n = -1'; } >"$IT_DIR/batches.jsonl"
before=$(count)
out=$(in_db refuse import --batch-size 2 "$IT_DIR/batches.jsonl" 2>&1); rc=$?
check "batches: the refusal names line 4" test "$rc" = 1 -a -n "$(grep -F "batches.jsonl:4: " <<<"$out")"
check "batches: the batch before it is stored, nothing of its own" test "$(count)" = $((before + 2))
check "batches: and it says which lines are in" grep -q "Lines 1-2 of .* are imported" <<<"$out"
# A bad line read while the batch before it is running: that batch goes
# in first, then the line is named; a refusal in the running batch is the
# one told, not a later bad line.
{ sed -n 5,6p <<<"$other"; echo 'not json'; } >"$IT_DIR/late.jsonl"
before=$(count)
out=$(in_db refuse import --batch-size 2 "$IT_DIR/late.jsonl" 2>&1); rc=$?
check "a bad line after a full batch: named, the batch before it stored" test "$rc" = 1 \
	-a -n "$(grep -F "late.jsonl:3: invalid JSON" <<<"$out")" -a "$(count)" = $((before + 2))
{ sed -n 7p <<<"$other"; sed -n 2p "$IT_DIR/s3.jsonl" | jq -c '.payload.n = -2'; echo 'not json'; } >"$IT_DIR/first.jsonl"
before=$(count)
out=$(in_db refuse import --batch-size 2 "$IT_DIR/first.jsonl" 2>&1); rc=$?
check "a refusal in the running batch is told, not the bad line after it" test "$rc" = 1 \
	-a -n "$(grep -F "first.jsonl:2: " <<<"$out")" -a -z "$(grep -F "first.jsonl:3" <<<"$out")" -a "$(count)" = "$before"
check "the refused imports left a store that verifies" verifies refuse
out=$(in_db refuse import "$IT_DIR/nosuch.jsonl" 2>&1); rc=$?
check "a file that does not exist: exit 1, naming it" test "$rc" = 1 -a -n "$(grep 'cannot open .*nosuch.jsonl' <<<"$out")"
out=$(in_db refuse import a b 2>&1); rc=$?
check "two files: usage error, exit 2" test "$rc" = 2
out=$(sed -n 4p <<<"$other" | in_db refuse import 2>&1); rc=$?
check "from stdin" test "$rc" = 0 -a -n "$(grep '^1 event imported' <<<"$out")"

# --- on a terminal: the progress bars ------------------------------------------------------
out=$(script -qec "'$CTL_BIN' --config '$IT_DIR/evstore.conf' export --all-tenants --output '$IT_DIR/tty.jsonl'" /dev/null </dev/null)
check "export on a terminal draws a bar that ends at 100%" grep -q "export \[#\{30\}\] 100%  $(commas "$((N + 2))")/" <<<"$out"
new_db tty
head -n 20000 "$IT_DIR/tty.jsonl" >"$IT_DIR/tty-head.jsonl"
out=$(script -qec "EVSTORE_DATABASE_URL='host=$IT_DIR/pg user=evstore dbname=tty' '$CTL_BIN' --config '$IT_DIR/evstore.conf' import '$IT_DIR/tty-head.jsonl'" /dev/null </dev/null)
check "import on a terminal draws a bar, with events/s" grep -q 'import .*[0-9]/s' <<<"$out"
check "export without a terminal draws nothing on stderr but its last line" test "$(wc -l <"$IT_DIR/one.err")" = 1

it_finish
