#!/usr/bin/env bash
# TLS to PostgreSQL, for real: a test CA made here with openssl, a server
# certificate for localhost/127.0.0.1, a PostgreSQL with ssl = on on
# 127.0.0.1 that refuses plain TCP. evstorectl and the pool connect with
# sslmode=verify-full and that CA; a server certificate from another CA,
# or for another name, is refused with libpq's reason in the output; a
# client certificate authenticates a role (pg_hba "cert"); a private key
# that group or others can read is refused; the password in the URL never
# shows in a message. Where libpq's words do not name the parameter to
# look at, evstore adds a hint that does (db.c).
. "$(dirname "$0")/lib.sh"
it_require openssl nginx
IT_NO_SERVERS=1
it_start

TLS=$IT_DIR/tls
mkdir -p "$TLS"
PASSWORD=tls-test-Secret-$RANDOM$RANDOM
subj() { echo "/CN=$1"; }
# make_ca NAME: a self-signed CA, NAME.crt and NAME.key.
make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "$(subj "$1")" \
		-keyout "$TLS/$1.key" -out "$TLS/$1.crt" 2>/dev/null
}
# make_cert NAME CN CA [SAN]: a key and a certificate signed by CA.
make_cert() {
	local ext=$TLS/$1.ext
	: >"$ext"
	[ -n "${4:-}" ] && echo "subjectAltName = $4" >"$ext"
	openssl req -new -newkey rsa:2048 -nodes -subj "$(subj "$2")" \
		-keyout "$TLS/$1.key" -out "$TLS/$1.csr" 2>/dev/null &&
		openssl x509 -req -in "$TLS/$1.csr" -CA "$TLS/$3.crt" -CAkey "$TLS/$3.key" \
			-CAcreateserial -days 2 -extfile "$ext" -out "$TLS/$1.crt" 2>/dev/null
}
make_ca ca && make_ca other-ca &&
	make_cert server localhost ca "DNS:localhost,IP:127.0.0.1" &&
	make_cert client certuser ca ||
	{ echo "Bail out! openssl could not make the test certificates"; exit 1; }
chmod 600 "$TLS"/*.key
[ "$(id -u)" = 0 ] && chown postgres "$TLS/server.key" "$TLS/server.crt" "$TLS/ca.crt"
check "the test CA signed the server certificate" \
	openssl verify -CAfile "$TLS/ca.crt" "$TLS/server.crt"

# --- PostgreSQL with ssl = on, TLS only over TCP ------------------------------
psql_q -c "ALTER ROLE evstore PASSWORD '$PASSWORD'" \
	-c "CREATE ROLE certuser LOGIN IN ROLE evstore"
cat >"$IT_DIR/pg/data/pg_hba.conf" <<HBA
local     all all                    trust
hostssl   all certuser 127.0.0.1/32  cert
hostssl   all evstore  127.0.0.1/32  scram-sha-256
hostnossl all all      127.0.0.1/32  reject
HBA
PORT=$(free_port)
stack_pg_stop fast
STACK_PG_OPTIONS="$STACK_PG_OPTIONS -c listen_addresses=127.0.0.1 -c port=$PORT -c ssl=on"
STACK_PG_OPTIONS+=" -c ssl_cert_file=$TLS/server.crt -c ssl_key_file=$TLS/server.key -c ssl_ca_file=$TLS/ca.crt"
stack_pg_start || { echo "Bail out! PostgreSQL did not start with ssl = on"; exit 1; }
# The unix socket follows the port: the test's own psql keeps using it.
EVSTORE_DATABASE_URL="host=$IT_DIR/pg port=$PORT user=evstore dbname=postgres"

TCP="host=localhost hostaddr=127.0.0.1 port=$PORT dbname=postgres connect_timeout=5"
GOOD="$TCP user=evstore password=$PASSWORD sslmode=verify-full sslrootcert=$TLS/ca.crt"
# ctl URL ARGS...: evstorectl with that database URL; output in $OUT, status in $RC.
ctl() {
	local url=$1; shift
	OUT=$(EVSTORE_DATABASE_URL=$url "$CTL_BIN" --config "$IT_DIR/evstore.conf" "$@" 2>&1)
	RC=$?
}
# refused NAME PATTERN: the last ctl failed, said PATTERN, and kept the password.
refused() {
	if [ "$RC" -ne 0 ] && grep -qiE "$2" <<<"$OUT" && ! grep -qF "$PASSWORD" <<<"$OUT"; then
		ok "$1"
		grep -m1 -v '^{' <<<"$OUT" | sed 's/^/#   /'
	else
		not_ok "$1" "exit $RC, want a failure saying /$2/ without the password: $OUT"
	fi
}

ctl "$TCP user=evstore password=$PASSWORD sslmode=disable" status
refused "the server refuses a connection without TLS" "rejects connection .*no encryption"

ctl "$GOOD" migrate
check "evstorectl migrate over verify-full TLS (exit $RC)" test "$RC" = 0
ctl "$GOOD" status
check "evstorectl status over verify-full TLS (exit $RC)" test "$RC" = 0

ctl "$TCP user=evstore password=$PASSWORD sslmode=verify-full sslrootcert=$TLS/other-ca.crt" status
refused "a server certificate from another CA is refused, the hint names sslrootcert" \
	"certificate verify failed .*not signed by the CA in sslrootcert"

ctl "host=wrong.example hostaddr=127.0.0.1 port=$PORT dbname=postgres connect_timeout=5 user=evstore password=$PASSWORD sslmode=verify-full sslrootcert=$TLS/ca.crt" status
refused "a server certificate for another name is refused" \
	'server certificate for "localhost".* does not match host name "wrong.example".*host= must be a name'

ctl "$TCP user=evstore password=$PASSWORD sslmode=verify-full sslrootcert=$TLS/missing-ca.crt" status
refused "a missing root certificate file is named" "root certificate file .*missing-ca.crt.* does not exist"

# --- client certificates ------------------------------------------------------
CERT="$TCP user=certuser sslmode=verify-full sslrootcert=$TLS/ca.crt"
ctl "$CERT sslcert=$TLS/client.crt sslkey=$TLS/client.key" status
check "a client certificate authenticates its role (exit $RC)" test "$RC" = 0
ctl "$CERT sslcert=$TLS/none.crt sslkey=$TLS/none.key" status
refused "without a client certificate the cert role is refused, the hint names sslcert" \
	"requires a valid client certificate .*set sslcert and sslkey"
chmod 644 "$TLS/client.key"
ctl "$CERT sslcert=$TLS/client.crt sslkey=$TLS/client.key" status
refused "a client key readable by group or others is refused" "has group or world access"
chmod 600 "$TLS/client.key"

# --- the pool, through nginx --------------------------------------------------
export EVSTORE_DATABASE_URL=$GOOD
it_front_start || { echo "Bail out! the pool and nginx did not start"; exit 1; }
T=$(token tls "events:read events:write")
ID=$(uuid)
post_json "$T" "/v1/aggregates/Order/$ID/events" '{"events":[{"event_type":"Created","payload":{"n":1}}]}'
expect "the pool appends over verify-full TLS" 201 .version 1
auth_req "$T" GET "/v1/aggregates/Order/$ID/events"
expect "and reads it back" 200 '.events[0].event_type' Created
tls_sessions=$(psql -X -At "host=$IT_DIR/pg port=$PORT user=evstore dbname=postgres" -c \
	"SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
	 WHERE s.ssl AND a.usename = 'evstore' AND a.client_addr = '127.0.0.1'")
check "the workers' sessions use TLS ($tls_sessions)" test "${tls_sessions:-0}" -ge 1

# A pool pointed at a server it must not trust answers 503 and logs why.
fcgi_stop
: >"$IT_DIR/fcgi.log"
export EVSTORE_DATABASE_URL="$TCP user=evstore password=$PASSWORD sslmode=verify-full sslrootcert=$TLS/other-ca.crt"
fcgi_start || { echo "Bail out! the pool did not restart"; exit 1; }
auth_req "$T" GET "/v1/aggregates/Order/$ID/events"
expect_problem "the pool refuses a server from another CA" 503 unavailable
check "the pool's log says why" grep -q "certificate verify failed" "$IT_DIR/fcgi.log"
check "the pool's log keeps the password" bash -c "! grep -qF '$PASSWORD' '$IT_DIR/fcgi.log'"
check "the response does not pass libpq's message on" bash -c "! grep -qi certificate <<<'$BODY'"

it_finish
