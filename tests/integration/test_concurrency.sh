#!/usr/bin/env bash
# Concurrent writers: one winner per expectation, no gaps, no doubles.
. "$(dirname "$0")/lib.sh"
IT_WORKERS=4
it_start

T=$(token writer "events:read events:write")
N=24

# fire N requests at once; each writes its status code to $IT_DIR/out.K
burst() {
	local path=$1 body=$2
	rm -f "$IT_DIR"/out.*
	local pids=() k
	for k in $(seq "$N"); do
		curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $T" \
			-H 'Content-Type: application/json' --data-binary "${body//@K@/$k}" \
			"$IT_BASE$path" >"$IT_DIR/out.$k" &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$IT_DIR"/out.* | tr -s ' ' '\n' | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}'
}

ID=$(uuid); P=/v1/aggregates/Account/$ID/events
post_json "$T" "$P" '{"events":[{"event_type":"Opened","payload":{}}]}'
expect "the stream starts at version 1" 201 .version 1

counts=$(burst "$P" '{"expected_version":1,"events":[{"event_type":"Deposited","payload":{"writer":@K@}}]}')
check "of $N writers expecting version 1 exactly one wins ($counts)" test "$counts" = "201:1 409:$((N - 1)) "
v=$(psql_q -c "select string_agg(version::text, ',' order by version) from evstore.events where aggregate_id='$ID'")
check "the stream holds versions 1,2 and nothing else ($v)" test "$v" = "1,2"

ID2=$(uuid); P2=/v1/aggregates/Account/$ID2/events
counts=$(burst "$P2" '{"expected_version":0,"events":[{"event_type":"Opened","payload":{"writer":@K@}}]}')
check "of $N writers creating one stream exactly one wins ($counts)" test "$counts" = "201:1 409:$((N - 1)) "

ID3=$(uuid); P3=/v1/aggregates/Account/$ID3/events
counts=$(burst "$P3" '{"expected_version":"any","events":[{"event_type":"Deposited","payload":{"writer":@K@}},{"event_type":"Deposited","payload":{"writer":@K@,"second":true}}]}')
check "$N writers with \"any\" all succeed ($counts)" test "$counts" = "201:$N "
gaps=$(psql_q -c "select count(*), min(version), max(version), count(distinct version) from evstore.events where aggregate_id='$ID3'")
check "their $((2 * N)) events have versions 1..$((2 * N)) without a gap ($gaps)" test "$gaps" = "$((2 * N))|1|$((2 * N))|$((2 * N))"
split=$(psql_q -c "select count(*) from (select payload->>'writer' w, max(version)-min(version) d from evstore.events where aggregate_id='$ID3' group by 1) s where d <> 1")
check "each request's two events are adjacent (atomic appends)" test "$split" = 0
auth_req "$T" GET "$P3?limit=1000"
expect "the stream reads back at version $((2 * N))" 200 .version $((2 * N)) '.events|length' $((2 * N))

ID4=$(uuid); P4=/v1/aggregates/Account/$ID4/events; EV=$(uuid)
counts=$(burst "$P4" '{"events":[{"event_id":"'"$EV"'","event_type":"Opened","payload":{"same":true}}]}')
check "$N identical requests racing: one 201, the rest replays ($counts)" test "$counts" = "200:$((N - 1)) 201:1 "
n=$(psql_q -c "select count(*) from evstore.events where event_id='$EV'")
check "the racing event is stored once" test "$n" = 1

it_finish
