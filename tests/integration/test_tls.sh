#!/usr/bin/env bash
# TLS passes through, with real TLS on loopback (docs/deploy.md, TLS):
# a throw-away CA and certificates made here with openssl; a Kafka broker of
# this test's own with one listener, SSL with client certificates required;
# a PostgreSQL cluster of its own with ssl=on that refuses non-TLS TCP. The
# four daemons and the CLI reach both over TLS only (WINGMAN_KAFKA_CONFIG: a
# librdkafka properties file; sslmode=verify-full in their conninfo), and a
# request runs end to end; pg_stat_ssl shows their sessions encrypted. Fails
# closed: a CA that did not sign the server's certificate (Kafka or
# PostgreSQL), or no client certificate, and nothing is consumed, written or
# executed, with the reason in the log. Redis: rediss:// is refused at start
# (hiredis 0.14 has no TLS). The stack's Redis and dockerd are used as they
# are; its Kafka and PostgreSQL are not touched.
. "$(dirname "$0")/lib.sh"

KAFKA_VERSION=$(sed -n 's/^KAFKA_VERSION=//p' "$src/scripts/lib.sh")
KAFKA_JARS=${WINGMAN_CACHE_DIR:-/var/cache/wingman}/kafka-$KAFKA_VERSION
[ -f "$KAFKA_JARS/.complete" ] || fail "Kafka jars not found in $KAFKA_JARS (scripts/stack up fetches them)"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
KS=$build/services/kafka-setup/wingman-kafka-setup
OTHER_PIDS=()

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The postgres user must reach the cluster's files under $T.
chmod 711 "$T"
X=$T/tls
mkdir -p "$X"

tls_cleanup() {
	local p
	stop_daemons # before their broker
	for p in "${OTHER_PIDS[@]}"; do stop_pid "$p"; done
	[ -f "$T/pg/data/postmaster.pid" ] &&
	    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/pg/data" -m immediate -w stop >/dev/null 2>&1
	cleanup
}
trap tls_cleanup EXIT

say "certificates: a CA, another CA, a server and a client certificate (openssl)"
ca() { # NAME CN
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	    -keyout "$X/$1.key" -out "$X/$1.pem" -subj "/CN=$2" \
	    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	    2>>"$T/openssl.log" || fail "openssl: CA $1"
}
leaf() { # NAME CN EXTENSIONS
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$X/$1.key" -out "$X/$1.csr" -subj "/CN=$2" 2>>"$T/openssl.log" &&
	    printf '%s\n' "$3" >"$X/$1.ext" &&
	    openssl x509 -req -in "$X/$1.csr" -CA "$X/ca.pem" -CAkey "$X/ca.key" -CAcreateserial \
	        -days 2 -extfile "$X/$1.ext" -out "$X/$1.pem" 2>>"$T/openssl.log" ||
	    fail "openssl: certificate $1"
}
ca ca wingman-test-ca
ca wrong-ca wingman-other-ca
leaf server localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
leaf client wingman-client "extendedKeyUsage=clientAuth"
openssl verify -CAfile "$X/ca.pem" "$X/server.pem" "$X/client.pem" >/dev/null || fail "certificates do not verify"
! openssl verify -CAfile "$X/wrong-ca.pem" "$X/server.pem" >/dev/null 2>&1 || fail "the other CA verifies the server"
ok "CA, server (127.0.0.1) and client certificates made; the other CA does not verify them"

say "Kafka: a broker of this test's own, one SSL listener, client certificates required"
KPORT=$(free_port)
CPORT=$(free_port)
mkdir -p "$T/kafka/data"
cat "$X/server.key" "$X/server.pem" >"$X/kafka-keystore.pem"
cat >"$T/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=SSL://127.0.0.1:$KPORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=SSL://127.0.0.1:$KPORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SSL
ssl.keystore.type=PEM
ssl.keystore.location=$X/kafka-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$X/ca.pem
ssl.client.auth=required
log.dirs=$T/kafka/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
kjava() {
	java -Xmx256m -Dwingman.kafka.log="$T/kafka/server.log" \
	    -Dlog4j2.configurationFile="$src/scripts/kafka/log4j2.properties" -cp "$KAFKA_JARS/*" "$@"
}
kjava kafka.tools.StorageTool format -t "$(kjava kafka.tools.StorageTool random-uuid)" \
    -c "$T/kafka/server.properties" >"$T/kafka-format.log" 2>&1 || fail "kafka storage format"
# exec: $! must be the JVM itself, or stopping it leaves the broker running.
(exec java -Xmx512m -Dwingman.kafka.log="$T/kafka/server.log" \
    -Dlog4j2.configurationFile="$src/scripts/kafka/log4j2.properties" -cp "$KAFKA_JARS/*" \
    kafka.Kafka "$T/kafka/server.properties") </dev/null >"$T/kafka.log" 2>&1 9>&- &
OTHER_PIDS+=($!)

say "PostgreSQL: a cluster of this test's own, ssl=on, no TCP without TLS"
PPORT=$(free_port)
mkdir -p "$T/pg/run"
cp "$X/server.pem" "$X/server.key" "$T/pg/"
chown -R postgres:postgres "$T/pg"
chmod 600 "$T/pg/server.key"
runuser -u postgres -- "$PG_BIN/initdb" -D "$T/pg/data" -U postgres -E UTF8 --locale=C \
    --auth-local=trust >"$T/initdb.log" 2>&1 || fail "initdb"
cat >>"$T/pg/data/postgresql.conf" <<EOF
port = $PPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$T/pg/run'
ssl = on
ssl_cert_file = '$T/pg/server.pem'
ssl_key_file = '$T/pg/server.key'
EOF
cat >"$T/pg/data/pg_hba.conf" <<EOF
local all all trust
hostssl all all 127.0.0.1/32 trust
hostnossl all all 127.0.0.1/32 reject
EOF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/postgres.log" -w -t 60 start \
    </dev/null >"$T/pg-ctl.log" 2>&1 9>&- || fail "postgres did not start: $(tail -n 5 "$T/pg/postgres.log")"
pgsu() { runuser -u postgres -- psql -X -h "$T/pg/run" -p "$PPORT" -U postgres -v ON_ERROR_STOP=1 -tAqc "$1" "${2:-postgres}"; }
pgsu "CREATE ROLE wingman LOGIN" >/dev/null
for s in consensus approval telegram token executor auditor admin; do
	pgsu "CREATE ROLE wingman_$s LOGIN" >/dev/null
done
pgsu "CREATE DATABASE wingman OWNER wingman" >/dev/null
tls_pg() { # ROLE [ROOTCERT]
	printf 'host=127.0.0.1 port=%s dbname=wingman user=%s sslmode=verify-full sslrootcert=%s' \
	    "$PPORT" "$1" "${2:-$X/ca.pem}"
}
"$W" migrate --dir "$src/sql" --conninfo "$(tls_pg wingman)" >"$T/migrate.log" 2>&1 ||
    fail "wingman migrate over TLS: $(tail -n 3 "$T/migrate.log")"
ok "wingman migrate ran over TLS (sslmode=verify-full)"
set +e
out=$(psql "host=127.0.0.1 port=$PPORT dbname=wingman user=wingman sslmode=disable" -tAc 'SELECT 1' 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q 'no encryption' <<<"$out" || fail "a TCP session without TLS was let in: $out"
ok "the cluster refuses TCP sessions without TLS"

# The daemons' settings: this test's Kafka and PostgreSQL, over TLS.
export WINGMAN_KAFKA_BROKERS=127.0.0.1:$KPORT
cat >"$X/kafka.properties" <<EOF
# librdkafka: TLS with a client certificate
security.protocol=SSL
ssl.ca.location=$X/ca.pem
ssl.certificate.location=$X/client.pem
ssl.key.location=$X/client.key
EOF
sed "s|$X/ca.pem|$X/wrong-ca.pem|" "$X/kafka.properties" >"$X/kafka-wrong-ca.properties"
grep -v '^ssl\.\(certificate\|key\)\.location' "$X/kafka.properties" >"$X/kafka-no-cert.properties"
export WINGMAN_KAFKA_CONFIG=$X/kafka.properties
for s in consensus approval telegram token executor auditor; do
	export "WINGMAN_PG_CONNINFO_${s^^}=$(tls_pg "wingman_$s")"
done
export WINGMAN_PG_CONNINFO=$(tls_pg wingman_admin)
export WINGMAN_PG_OWNER_CONNINFO=$(tls_pg wingman)

for i in $(seq 1 120); do
	(exec 3<>"/dev/tcp/127.0.0.1/$KPORT") 2>/dev/null && break
	kill -0 "${OTHER_PIDS[0]}" 2>/dev/null || fail "the TLS broker exited: $(tail -n 20 "$T/kafka.log")"
	sleep 1
done
printf '# no ACL: this broker has no authorizer\n' >"$T/acls"
"$KS" --partitions 1 "$T/acls" >"$T/kafka-setup.log" 2>&1 ||
    fail "wingman-kafka-setup over TLS: $(cat "$T/kafka-setup.log")"
grep -q '9 topic(s) created' "$T/kafka-setup.log" || fail "topics: $(cat "$T/kafka-setup.log")"
ok "wingman-kafka-setup made the topics over TLS with a client certificate"

# kafka_refused PROPERTIES WHY: the CLI with those client settings cannot
# submit; the log says why (librdkafka's TLS error).
kafka_refused() {
	local out rc
	set +e
	out=$(WINGMAN_KAFKA_CONFIG=$1 timeout 120 "$W" submit --env test --worker agent-7 --text tls \
	    --cmd "docker inspect wingman-test-demo" 2>&1)
	rc=$?
	set -e
	[ $rc -ne 0 ] || fail "the CLI submitted with $1: $out"
	grep -qi "$2" <<<"$out" || fail "the CLI's error does not say '$2': $out"
}
kafka_refused "$X/kafka-wrong-ca.properties" 'certificate verify failed'
ok "CLI with another CA: refused, 'certificate verify failed'"
# kt_refused PROPERTIES WHAT: kafka_tool with those settings reads nothing.
kt_refused() {
	local out rc
	set +e
	out=$(WINGMAN_KAFKA_CONFIG=$1 "$KT" consume wingman.requests --timeout 5 2>&1)
	rc=$?
	set -e
	[ $rc -ne 0 ] || fail "$2: a client read the topic: $out"
	grep -qi 'ssl\|handshake\|disconnect' <<<"$out" || fail "$2: no reason given: $out"
}
kt_refused "$X/kafka-no-cert.properties" "no client certificate"
ok "a client without a client certificate: refused by the broker"
kt_refused "" "plaintext"
ok "a client without WINGMAN_KAFKA_CONFIG (plaintext): refused"

say "fail closed: consensus trusting another CA consumes nothing"
id=$("$W" submit --env test --worker agent-7 --text "tls" --cmd "docker inspect wingman-test-demo") ||
    fail "the CLI could not submit over TLS"
ok "CLI submitted over TLS ($id)"
hport=$(free_port)
WINGMAN_KAFKA_CONFIG=$X/kafka-wrong-ca.properties WINGMAN_HTTP_ADDR=127.0.0.1:$hport \
    as_service consensus "$build/services/consensus/wingman-consensus" </dev/null \
    >"$T/consensus-wrong-ca.log" 2>&1 9>&- &
bad=$!
OTHER_PIDS+=($bad)
for i in $(seq 1 60); do
	grep -q 'certificate verify failed' "$T/consensus-wrong-ca.log" && break
	sleep 1
done
grep -q 'certificate verify failed' "$T/consensus-wrong-ca.log" ||
    fail "no TLS error in consensus's log: $(tail -n 5 "$T/consensus-wrong-ca.log")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/healthz" || true)
[ "$code" != 200 ] || fail "consensus with another CA says healthy"
if first_on wingman.assessments "$id" 5 >/dev/null; then fail "an assessment was published"; fi
[ "$(pgsu "SELECT count(*) FROM audit_log WHERE request_id = '$id'" wingman)" = 0 ] ||
    fail "consensus with another CA handled $id"
ok "consensus with another CA: 'certificate verify failed', /healthz $code, nothing consumed"
stop_pid "$bad"

say "fail closed: token trusting another CA for PostgreSQL opens no session, issues no order"
hport=$(free_port)
for s in consensus approval executor; do
	as_service "$s" "$build/services/$s/wingman-$s" </dev/null >>"$T/$s.log" 2>&1 9>&- &
	DAEMON_PIDS+=($!)
done
WINGMAN_PG_CONNINFO_TOKEN=$(tls_pg wingman_token "$X/wrong-ca.pem") WINGMAN_HTTP_ADDR=127.0.0.1:$hport \
    as_service token "$build/services/token/wingman-token" </dev/null >"$T/token-wrong-ca.log" 2>&1 9>&- &
bad=$!
OTHER_PIDS+=($bad)
first_on wingman.decisions "$id" 120 >/dev/null || fail "approval published no decision for $id over TLS"
ok "consensus and approval (TLS to Kafka and PostgreSQL) decided $id"
health=
for i in $(seq 1 60); do
	health=$(curl -s "http://127.0.0.1:$hport/healthz" || true)
	grep -q 'certificate verify failed' <<<"$health" && break
	sleep 1
done
grep -q 'certificate verify failed' <<<"$health" || fail "token's /healthz does not say why: $health"
if first_on wingman.orders "$id" 10 >/dev/null; then fail "token with another CA issued an order"; fi
grep -q 'event=pg_connect_failed.*certificate verify failed' "$T/token-wrong-ca.log" ||
    fail "token did not try (and fail) to open its store for the decision"
kill -0 "$bad" 2>/dev/null || fail "token exited: $(tail -n 5 "$T/token-wrong-ca.log")"
[ "$(pgsu "SELECT count(*) FROM pg_stat_activity WHERE usename = 'wingman_token'")" = 0 ] ||
    fail "token with another CA has a session"
ok "token with another CA for PostgreSQL: /healthz '$(head -c 60 <<<"$health")...', no order, no session"
stop_pid "$bad"

say "end to end over TLS: the four daemons and the CLI"
as_service token "$build/services/token/wingman-token" </dev/null >>"$T/token.log" 2>&1 9>&- &
DAEMON_PIDS+=($!)
out=$("$W" wait "$id" --timeout 120) || fail "the request submitted earlier did not execute: $out"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "status: $out"
ok "the request that waited for a correctly configured consensus and token executed"
out=$("$W" submit --env test --worker agent-7 --text "check it over TLS" \
    --cmd "docker inspect wingman-test-demo" --wait --timeout 120) || fail "inspect did not execute: $out"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "status: $out"
[ "$(jq -r '.commands[0].output | fromjson | .Name' <<<"$out")" = /wingman-test-demo ] ||
    fail "inspect output is not the container's state"
rid=$(jq -r .request_id <<<"$out")
[ "$(pgsu "SELECT count(*) FROM audit_log WHERE request_id = '$rid'" wingman)" -gt 0 ] ||
    fail "no audit row in the TLS cluster for $rid"
ok "inspect executed end to end over TLS; its audit rows are in the TLS cluster"

say "server side: every daemon's PostgreSQL session is TLS"
rows=$(pgsu "SELECT a.usename || ' ' || s.ssl || ' ' || coalesce(s.version, '-')
    FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
    WHERE a.usename LIKE 'wingman\_%' ORDER BY 1")
printf '%s\n' "$rows" | sed 's/^/   /'
for s in consensus approval token executor; do
	grep -q "^wingman_$s " <<<"$rows" || fail "no session of wingman_$s"
done
! grep -qv ' true TLSv1\.[23]$' <<<"$rows" || fail "a session without TLS: $rows"
ok "pg_stat_ssl: the sessions of consensus, approval, token and executor are TLS"
daemons_alive

say "Redis: rediss:// is refused at start, never taken for plaintext"
set +e
out=$(WINGMAN_REDIS_URL="rediss://:hunter2@127.0.0.1:6380/0" \
    as_service executor "$build/services/executor/wingman-executor" -n 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "the executor accepted rediss://: $out"
grep -q 'rediss:// (TLS) is not supported' <<<"$out" || fail "unclear refusal: $out"
! grep -q hunter2 <<<"$out" || fail "the password was printed"
ok "executor with rediss://: exit $rc, 'rediss:// (TLS) is not supported'"

echo "$checks passed, 0 failed"
