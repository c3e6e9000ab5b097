#!/usr/bin/env bash
# wingman-kafka-setup reconciles the ACLs of deploy/kafka/acls: what a file
# gives is created, and what a managed principal (one the file names) has
# beyond it is deleted at the next run; other principals' ACLs are left
# alone. On a KRaft broker of this test's own with StandardAuthorizer (the
# stack's broker has no authorizer); the broker's ACLs are read back with
# Kafka's own AclCommand, not with the tool under test.
. "$(dirname "$0")/lib.sh"

KAFKA_VERSION=$(sed -n 's/^KAFKA_VERSION=//p' "$src/scripts/lib.sh")
KAFKA_JARS=${WINGMAN_CACHE_DIR:-/var/cache/wingman}/kafka-$KAFKA_VERSION
[ -f "$KAFKA_JARS/.complete" ] || fail "Kafka jars not found in $KAFKA_JARS (scripts/stack up fetches them)"
KS=$build/services/kafka-setup/wingman-kafka-setup
BROKER_PID=

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
kjava() {
	java -Xmx256m -Dwingman.kafka.log="$T/kafka/tools.log" \
	    -Dlog4j2.configurationFile="$src/scripts/kafka/log4j2.properties" -cp "$KAFKA_JARS/*" "$@"
}
acls_cleanup() {
	[ -z "$BROKER_PID" ] || stop_pid "$BROKER_PID"
	cleanup
}
trap acls_cleanup EXIT

say "a broker with an authorizer (ANONYMOUS, this test, is a super user)"
KPORT=$(free_port)
CPORT=$(free_port)
mkdir -p "$T/kafka/data"
cat >"$T/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$KPORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KPORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=$T/kafka/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
auto.create.topics.enable=false
EOF
kjava kafka.tools.StorageTool format -t "$(kjava kafka.tools.StorageTool random-uuid)" \
    -c "$T/kafka/server.properties" >"$T/kafka-format.log" 2>&1 || fail "kafka storage format"
# exec: $! must be the JVM itself, or stopping it leaves the broker running.
(exec java -Xmx512m -Dwingman.kafka.log="$T/kafka/server.log" \
    -Dlog4j2.configurationFile="$src/scripts/kafka/log4j2.properties" -cp "$KAFKA_JARS/*" \
    kafka.Kafka "$T/kafka/server.properties") </dev/null >"$T/kafka.log" 2>&1 9>&- &
BROKER_PID=$!
export WINGMAN_KAFKA_BROKERS=127.0.0.1:$KPORT
unset WINGMAN_KAFKA_CONFIG

# setup FILE: runs wingman-kafka-setup with FILE; its output in $T/setup.out.
setup() {
	"$KS" --partitions 1 "$1" >"$T/setup.out" 2>&1 || fail "wingman-kafka-setup $1: $(cat "$T/setup.out")"
}
# snapshot: every ACL as the broker lists them (Kafka's AclCommand, one JVM).
snapshot() {
	kjava org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$KPORT" --list \
	    >"$T/acls.list" 2>"$T/aclcommand.err" || fail "AclCommand --list: $(cat "$T/aclcommand.err")"
}
# acls PRINCIPAL: that principal's ACLs in the last snapshot, one sorted
# line each: TYPE:PATTERN:NAME OPERATION PERMISSION HOST.
acls() {
	awk -v p="User:$1" '
		/^Current ACLs for resource/ {
			match($0, /ResourcePattern\(resourceType=[A-Z_]+, name=[^,]+, patternType=[A-Z]+\)/)
			r = substr($0, RSTART, RLENGTH)
			gsub(/ResourcePattern\(resourceType=|name=|patternType=|\)/, "", r)
			split(r, f, ", "); res = f[1] ":" f[3] ":" f[2]
		}
		index($0, "principal=" p ",") {
			match($0, /operation=[A-Z_]+/); op = substr($0, RSTART + 10, RLENGTH - 10)
			match($0, /permissionType=[A-Z]+/); perm = substr($0, RSTART + 15, RLENGTH - 15)
			match($0, /host=[^,]+/); host = substr($0, RSTART + 5, RLENGTH - 5)
			print res, op, perm, host
		}' "$T/acls.list" | sort
}

cat >"$T/acls-outsider" <<'EOF'
# an operator's own principal, in another file: not managed by the files below
outsider produce wingman.requests
EOF
cat >"$T/acls-v1" <<'EOF'
consensus  consume wingman.requests group=wingman-consensus
consensus  produce wingman.assessments wingman.dlq
token      consume wingman.decisions group=wingman-token
agent      consume wingman.results group-prefix=wingman-cli-
EOF
cat >"$T/acls-v2" <<'EOF'
# wingman.dlq dropped from consensus's produce line, its consume line
# dropped; token kept with no ACL; agent's line unchanged
consensus  produce wingman.assessments
token      none
agent      consume wingman.results group-prefix=wingman-cli-
EOF

setup "$T/acls-outsider"
snapshot
grep -q '0 ACL(s) removed' "$T/setup.out" || fail "first run removed something: $(cat "$T/setup.out")"
outsider_before=$(acls outsider)
[ "$(wc -l <<<"$outsider_before")" = 3 ] || fail "outsider's ACLs: $outsider_before $(cat "$T/aclcommand.err")"
ok "outsider's 3 ACLs made (IdempotentWrite, Write, Describe)"

setup "$T/acls-v1"
snapshot
grep -q '0 ACL(s) removed' "$T/setup.out" || fail "v1 removed something: $(cat "$T/setup.out")"
consensus_v1=$(acls consensus)
[ "$(wc -l <<<"$consensus_v1")" = 9 ] || fail "consensus after v1: $consensus_v1"
grep -q '^TOPIC:LITERAL:wingman.dlq WRITE ALLOW \*$' <<<"$consensus_v1" || fail "no Write on wingman.dlq: $consensus_v1"
[ "$(acls token | wc -l)" = 4 ] || fail "token after v1: $(acls token)"
[ "$(acls outsider)" = "$outsider_before" ] || fail "v1 changed outsider's ACLs"
ok "v1 applied: consensus 9 ACLs, token 4, outsider untouched"

setup "$T/acls-v2"
snapshot
cat "$T/setup.out" | sed 's/^/   /'
grep -q '10 ACL(s) removed' "$T/setup.out" || fail "v2 should remove 10 ACLs: $(cat "$T/setup.out")"
consensus_v2=$(acls consensus)
expected='CLUSTER:LITERAL:kafka-cluster IDEMPOTENT_WRITE ALLOW *
TOPIC:LITERAL:wingman.assessments DESCRIBE ALLOW *
TOPIC:LITERAL:wingman.assessments WRITE ALLOW *'
[ "$consensus_v2" = "$(sort <<<"$expected")" ] || fail "consensus after v2: $consensus_v2"
ok "v2: consensus keeps exactly Write/Describe on wingman.assessments and IdempotentWrite"
[ -z "$(acls token)" ] || fail "token still has ACLs: $(acls token)"
ok "v2: token (none) has no ACL left"
[ "$(acls agent | wc -l)" = 4 ] || fail "agent's unchanged line lost ACLs: $(acls agent)"
grep -q '^GROUP:PREFIXED:wingman-cli- READ ALLOW \*$' <<<"$(acls agent)" || fail "agent's prefixed group ACL: $(acls agent)"
[ "$(acls outsider)" = "$outsider_before" ] || fail "v2 changed outsider's ACLs"
ok "v2: agent's prefixed group ACL kept, outsider (not in the file) untouched"

say "an ACL added by hand to a managed principal is removed; a second run changes nothing"
kjava org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$KPORT" --add \
    --allow-principal User:consensus --operation Write --topic wingman.orders >/dev/null 2>"$T/aclcommand.err" ||
    fail "AclCommand --add: $(cat "$T/aclcommand.err")"
kjava org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$KPORT" --add \
    --deny-principal User:consensus --operation Read --topic wingman.assessments >/dev/null 2>"$T/aclcommand.err" ||
    fail "AclCommand --add: $(cat "$T/aclcommand.err")"
snapshot
[ "$(acls consensus | wc -l)" = 5 ] || fail "hand-made ACLs not listed: $(acls consensus)"
setup "$T/acls-v2"
snapshot
grep -q '2 ACL(s) removed' "$T/setup.out" || fail "hand-made ACLs not removed: $(cat "$T/setup.out")"
[ "$(acls consensus)" = "$(sort <<<"$expected")" ] || fail "consensus after the hand-made ACLs: $(acls consensus)"
ok "Write on wingman.orders and a Deny added by hand to consensus: removed"
setup "$T/acls-v2"
snapshot
grep -q '0 ACL(s) removed' "$T/setup.out" || fail "a second run removed something: $(cat "$T/setup.out")"
[ "$(acls consensus)" = "$(sort <<<"$expected")" ] || fail "consensus changed on a second run"
ok "a second run of the same file removes nothing"

say "a file with an error changes nothing"
printf 'consensus produce\nconsensus delete wingman.orders\n' >"$T/acls-bad"
set +e
"$KS" --partitions 1 "$T/acls-bad" >"$T/setup.out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "a bad file was accepted"
snapshot
[ "$(acls consensus)" = "$(sort <<<"$expected")" ] || fail "a bad file changed consensus's ACLs"
ok "bad file: exit $rc, consensus's ACLs unchanged"

echo "$checks passed, 0 failed"
