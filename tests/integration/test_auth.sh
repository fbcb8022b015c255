#!/usr/bin/env bash
# Authentication, scopes and tenant isolation on every route.
. "$(dirname "$0")/lib.sh"
IT_EXTRA_CONF='issuer = https://id.example.test/
audience = evstore-api
max_lifetime = 2h'
# The extra keys belong to [jwt]: it_start writes them after [log], so put
# them in a [jwt] section of their own.
IT_EXTRA_CONF="[jwt]
$IT_EXTRA_CONF"
it_start

H='{"alg":"HS256","typ":"JWT"}'
GOOD='"iss":"https://id.example.test/","aud":"evstore-api","scope":"events:read events:write"'
RW=$(craft_token "$H" '{"sub":"alice",'"$GOOD"',"exp":NOW+600,"iat":NOW}')
ID=$(uuid); P=/v1/aggregates/Order/$ID/events
BODY1='{"events":[{"event_type":"OrderCreated","payload":{"total":1}}]}'

post_json "$RW" "$P" "$BODY1"
expect "a good token appends" 201 .version 1

req GET "$P"
expect_problem "no token is 401" 401 unauthorized
check "no token: WWW-Authenticate names the realm" test "$(hdr WWW-Authenticate)" = 'Bearer realm="evstore"'
req GET "$P" -H 'Authorization: Basic YWxpY2U6c2VjcmV0'
expect_problem "a Basic credential is 401" 401 unauthorized

refused() { # NAME TOKEN
	auth_req "$2" GET "$P"
	local www
	www=$(hdr WWW-Authenticate)
	if [ "$STATUS" = 401 ] && [[ "$www" == *'error="invalid_token"'* ]]; then ok "$1 is refused (401 invalid_token)"
	else not_ok "$1 is refused (401 invalid_token)" "status $STATUS, WWW-Authenticate: $www" "body: $BODY"; fi
}
refused "alg none" "$(craft_token '{"alg":"none","typ":"JWT"}' '{"sub":"a",'"$GOOD"',"exp":NOW+600}')"
refused "HS384 when HS256 is pinned" "$(craft_token '{"alg":"HS384","typ":"JWT"}' '{"sub":"a",'"$GOOD"',"exp":NOW+600}')"
head -c 40 /dev/urandom | base64 >"$IT_DIR/other.key"
refused "a token signed with another key" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+600}' "$IT_DIR/other.key")"
refused "an expired token" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW-120}')"
refused "a token without exp" "$(craft_token "$H" '{"sub":"a",'"$GOOD"'}')"
refused "exp as a string" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":"9999999999"}')"
refused "nbf in the future" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+600,"nbf":NOW+300}')"
refused "iat in the future" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+600,"iat":NOW+300}')"
refused "the wrong issuer" "$(craft_token "$H" '{"sub":"a","iss":"https://evil.test/","aud":"evstore-api","scope":"events:read","exp":NOW+600}')"
refused "the wrong audience" "$(craft_token "$H" '{"sub":"a","iss":"https://id.example.test/","aud":"other","scope":"events:read","exp":NOW+600}')"
refused "a tenant claim that is not a UUID" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+600,"tenant_id":"acme"}')"
refused "the nil UUID as the tenant claim" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+600,"tenant_id":"00000000-0000-0000-0000-000000000000"}')"
check "the nil tenant: the problem says why" grep -q "nil UUID" <<<"$BODY"
refused "exp beyond [jwt] max_lifetime (2h)" "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+86400}')"
check "max_lifetime: the problem says why" grep -q "exp too far in the future" <<<"$BODY"
# Signed over the exact bytes: json-c and libjwt would keep the last scope.
refused "a scope claim given twice (events:read, then admin)" \
	"$(raw_token "$H" '{"sub":"a","iss":"https://id.example.test/","aud":"evstore-api","scope":"events:read","scope":"admin","exp":NOW+600}')"
check "duplicate claims: the problem says why" grep -q "duplicate claim" <<<"$BODY"
refused "a tenant_id claim given twice" \
	"$(raw_token "$H" '{"sub":"a",'"$GOOD"',"tenant_id":"'"$(uuid)"'","tenant_id":"'"$(uuid)"'","exp":NOW+600}')"
refused "an exp claim given twice" "$(raw_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW-3600,"exp":NOW+600}')"
refused "a header parameter given twice" "$(raw_token '{"alg":"HS256","alg":"HS256"}' '{"sub":"a",'"$GOOD"',"exp":NOW+600}')"
auth_req "$(raw_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+7000}')" GET "$P"
expect "a raw-signed token within max_lifetime is accepted" 200
refused "garbage" "not.a.token"

auth_req "$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW-10}')" GET "$P"
expect "an expired token within the 30 s leeway is accepted" 200
auth_req "$(craft_token "$H" '{"sub":"a","iss":"https://id.example.test/","aud":["x","evstore-api"],"scope":"events:read","exp":NOW+600}')" GET "$P"
expect "aud as an array containing ours is accepted" 200
auth_req "$(craft_token "$H" '{"sub":"a","iss":"https://id.example.test/","aud":"evstore-api","scp":["events:read"],"exp":NOW+600}')" GET "$P"
expect "scp as an array grants scopes" 200
req GET "$P" -H "authorization: bearer $RW"
expect "the Bearer scheme is case-insensitive" 200

RO=$(craft_token "$H" '{"sub":"reader","iss":"https://id.example.test/","aud":"evstore-api","scope":"events:read","exp":NOW+600}')
post_json "$RO" "$P" "$BODY1"
expect_problem "appending without events:write is 403" 403 forbidden
NONE=$(craft_token "$H" '{"sub":"nobody","iss":"https://id.example.test/","aud":"evstore-api","scope":"profile","exp":NOW+600}')
auth_req "$NONE" GET "$P"
expect_problem "reading without events:read is 403" 403 forbidden
auth_req "$NONE" GET "/v1/events"
expect_problem "the feed without events:read is 403" 403 forbidden
ADMIN=$(craft_token "$H" '{"sub":"root","iss":"https://id.example.test/","aud":"evstore-api","scope":"admin","exp":NOW+600}')
post_json "$ADMIN" "/v1/aggregates/Order/$(uuid)/events" "$BODY1"
expect "admin implies events:write" 201

# --- tenants -----------------------------------------------------------------
TA=$(uuid); TB=$(uuid)
A=$(craft_token "$H" '{"sub":"a",'"$GOOD"',"exp":NOW+600,"tenant_id":"'"${TA^^}"'"}')
B=$(craft_token "$H" '{"sub":"b",'"$GOOD"',"exp":NOW+600,"tenant_id":"'"$TB"'"}')
AID=$(uuid); AP=/v1/aggregates/Order/$AID/events
AEV=$(uuid)
post_json "$A" "$AP" '{"events":[{"event_id":"'"$AEV"'","event_type":"OrderCreated","payload":{"secret":"a-only"}}]}'
expect "tenant A appends" 201
auth_req "$A" GET "$AP"
expect "tenant A reads its stream, tenant_id lowercased" 200 '.events[0].tenant_id' "$TA"
auth_req "$B" GET "$AP"
expect_problem "tenant B gets 404 for A's stream, not 403" 404 not-found
auth_req "$RW" GET "$AP"
expect_problem "the no-tenant space gets 404 for A's stream" 404 not-found
post_json "$B" "$AP" '{"expected_version":0,"events":[{"event_type":"OrderCreated","payload":{"mine":"b"}}]}'
expect "tenant B may have a stream with the same id, separately" 201 .version 1
post_json "$B" "/v1/aggregates/Order/$(uuid)/events" '{"events":[{"event_id":"'"$AEV"'","event_type":"OrderCreated","payload":{"secret":"a-only"}}]}'
expect "B reusing A's event_id reveals nothing: it is B's own new event" 201
auth_req "$B" GET "/v1/events?limit=1000"
leak=$(jq_body '[.events[] | select(.payload.secret == "a-only" and .tenant_id != "'"$TB"'")] | length')
check "B's feed holds none of A's events" test "$leak" = 0
all_b=$(jq_body '[.events[].tenant_id] | unique | join(",")')
check "B's feed holds only B's tenant ($all_b)" test "$all_b" = "$TB"
auth_req "$RW" GET "/v1/events?limit=1000"
check "the no-tenant feed holds no tenant's events" test "$(jq_body '[.events[] | select(.tenant_id != null)] | length')" = 0

auth_req "$ADMIN" GET "/v1/events?limit=1000"
ts=$(jq_body '[.events[].tenant_id | select(. != null)] | unique | length')
check "an admin without tenant sees every tenant in the feed ($ts tenants)" test "$ts" = 2
auth_req "$ADMIN" GET "$AP" -H "X-Evstore-Tenant: $TA"
expect "an admin acts inside a tenant with X-Evstore-Tenant" 200 '.events[0].payload.secret' a-only
auth_req "$ADMIN" GET "$AP" -H "X-Evstore-Tenant: nope"
expect_problem "a bad X-Evstore-Tenant is 400" 400 invalid-request
auth_req "$ADMIN" GET /v1/events -H "X-Evstore-Tenant: 00000000-0000-0000-0000-000000000000"
expect_problem "the nil UUID as X-Evstore-Tenant is 400" 400 invalid-request
auth_req "$A" GET "$AP" -H "X-Evstore-Tenant: $TB"
expect_problem "a tenant token cannot switch tenants with the header" 403 forbidden

# --- a new key, reloaded -------------------------------------------------------
# The workers remember the tokens they verified (each has seen RW by now);
# a reload with another secret must make them forget: RW is refused by
# every worker, a token signed with the new secret accepted.
for _ in 1 2 3 4 5 6; do auth_req "$RW" GET "$P"; done
expect "before the new key: RW reads" 200
cp "$IT_DIR/hmac.key" "$IT_DIR/old-hmac.key"
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$IT_DIR/hmac.key"
NEW=$(craft_token "$H" '{"sub":"alice",'"$GOOD"',"exp":NOW+600,"iat":NOW}')
new_key_taken() { auth_req "$NEW" GET "$P" && [ "$STATUS" = 200 ]; }
kill -HUP "$IT_FCGI_PID"
check "SIGHUP: a token signed with the new secret reads" wait_for 15 new_key_taken
sleep 1 # every worker has had its SIGHUP by now, not only the one that answered
old_refused=0
for _ in 1 2 3 4 5 6 7 8; do
	auth_req "$RW" GET "$P"
	[ "$STATUS" = 401 ] && old_refused=$((old_refused + 1))
done
check "after the reload, the old secret's token is refused by every worker (8 of 8: $old_refused)" \
	test "$old_refused" = 8
check "... as a bad signature" grep -q "bad signature" <<<"$(hdr WWW-Authenticate) $BODY"

it_finish
