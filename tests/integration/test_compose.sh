#!/usr/bin/env bash
# docker-compose.yml runs, locked down, on this machine: the images are
# built from Debian packages (deploy/build-images), the stack comes up under
# its own project name, and then, from outside the compose network through
# the Kafka listener published on 127.0.0.1, as the agent principal:
#   - an auto-approved inspect and a human-approved restart (approved by the
#     operator with the CLI in the wingman-admin container) run end to end,
#     and the restart waits for the approval;
#   - scripts/verify-privsep --running passes on the live containers and
#     fails once the Docker socket is added to another service;
#   - the broker refuses consensus's principal on wingman.orders
#     (TOPIC_AUTHORIZATION_FAILED), principals see only their topics, a
#     wrong password does not log in; Redis and PostgreSQL are unreachable
#     from the networks that must not reach them;
#   - `docker-compose restart` of every service with requests in flight
#     loses none of them;
#   - `down` then `up` keeps the state (results, audit chain, keys);
#   - every service key rotated (wingman-init keys rotate, then activate,
#     each followed by a restart) with requests in flight loses none, and
#     after the old token key is retired new tokens still run;
#   - `down -v` leaves no container, volume or network behind.
# Needs root, dockerd, docker-compose and debootstrap (scripts/lib.sh).
set -euo pipefail

P=${WINGMAN_COMPOSE_PROJECT:-wingman-ci}
PORT=${WINGMAN_COMPOSE_AGENT_PORT:-19096}
TARGET=wingman-test-compose-target
T=$(mktemp -d /var/tmp/wingman-compose-test.XXXXXX)
COMPOSE_FILES=("${WINGMAN_SOURCE_DIR:?}/docker-compose.yml")
. "$(dirname "$0")/compose_lib.sh"
export WINGMAN_KAFKA_AGENT_PORT=$PORT

dc_leak() {
	timeout 300 docker-compose -p "$P" -f "$src/docker-compose.yml" \
		-f "$src/tests/fixtures/compose-socket-leak.override.yml" "$@" 2> >(grep -v 'telegram_bot_token\|no-bot-token' >&2)
}

cleanup() {
	local rc=$?
	compose_down -v 2>/dev/null || true
	docker rm -f "$TARGET" >/dev/null 2>&1 || true
	rm -rf "$T"
	exit "$rc"
}
compose_lock 300
trap cleanup EXIT
trap 'exit 143' TERM INT

agent() { agent_at "127.0.0.1:$PORT" "$@"; }

# All long-running services healthy (the one-shot jobs exited 0).
wait_healthy() { # [SECONDS]
	wait_healthy_containers "${1:-300}" kafka_1 postgres_1 redis_1 wingman-consensus_1 \
		wingman-approval_1 wingman-token_1 wingman-executor_1 wingman-auditor_1
}

# Requests in flight: N auto-approved inspects, submitted without waiting,
# their ids appended to FILE.
submit_batch() { # N FILE
	local i id
	for i in $(seq "$1"); do
		id=$(agent submit --env test --worker agent-7 --text "batch $i" \
			--cmd "docker inspect $TARGET" 2>"$T/submit.err") ||
			fail "submit failed: $(tail -n 3 "$T/submit.err")"
		echo "$id" >>"$2"
	done
}
expect_executed() { # ID...
	local id out
	for id in "$@"; do
		out=$(agent wait "$id" --timeout 150 2>/dev/null) || fail "request $id: no executed result ($(head -c 300 <<<"$out"))"
		[ "$(jq -r .status <<<"$out")" = executed ] || fail "request $id: $(jq -c '{status,reason}' <<<"$out")"
	done
}

compose_preflight WINGMAN_COMPOSE_AGENT_PORT "$PORT"
compose_images_and_keys

say "docker-compose up"
s0=$SECONDS
dc up -d >"$T/up.log" 2>&1 || { cat "$T/up.log" >&2; fail "docker-compose up"; }
wait_healthy 300
ok "every service healthy ($((SECONDS - s0)) s)"
[ -s "$T/export/kafka-agent.properties" ] && [ -s "$T/export/executor.pub" ] ||
	fail "wingman-init exported no agent credentials or public keys"
# Only published on loopback.
docker port "${P}_kafka_1" | grep -qx "$PORT/tcp -> 127.0.0.1:$PORT" ||
	fail "the agents' listener is not published on 127.0.0.1:$PORT only: $(docker port "${P}_kafka_1")"
ok "the agents' listener is published on 127.0.0.1:$PORT only"

start_target

say "end to end from the host"
out=$(agent submit --env test --worker agent-7 --text "look at it" \
	--cmd "docker inspect $TARGET" --wait --timeout 120 2>/dev/null) || fail "inspect: $(head -c 300 <<<"$out")"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "inspect: $out"
jq -r '.commands[0].output' <<<"$out" | grep -qF "\"Name\":\"/$TARGET\"" || fail "inspect output: $out"
INSPECT_ID=$(jq -r .request_id <<<"$out")
ok "auto-approved inspect executed"

before=$(docker inspect -f '{{.State.StartedAt}}' "$TARGET")
RESTART_ID=$(agent submit --env test --worker agent-7 --text "restart it" \
	--cmd "docker restart $TARGET" 2>/dev/null) || fail "restart: submit failed"
rc=0
agent wait "$RESTART_ID" --timeout 5 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "restart answered before any approval (exit $rc)"
[ "$(docker inspect -f '{{.State.StartedAt}}' "$TARGET")" = "$before" ] || fail "restarted without approval"
ok "the restart waits for a human"
# The approval reaches approval before or after the request's assessment:
# approve retries until approval knows the request.
for i in $(seq 20); do
	out=$(operator approve "$RESTART_ID" --as demo --reason "test_compose" 2>&1) && break
	sleep 2
done
grep -q "approved $RESTART_ID by demo" <<<"$out" || fail "approve: $out"
expect_executed "$RESTART_ID"
[ "$(docker inspect -f '{{.State.StartedAt}}' "$TARGET")" != "$before" ] || fail "the target was not restarted"
ok "human-approved restart executed (approved with wingman-admin)"

say "privilege split on the live containers"
out=$("$src/scripts/verify-privsep" --running --project "$P" 2>&1) || fail "verify-privsep --running: $out"
grep -q "privsep OK: [0-9]* running compose container" <<<"$out" || fail "verify-privsep: $out"
ok "verify-privsep --running passes"
dc_leak up -d --no-deps wingman-auditor >"$T/leak.log" 2>&1 || { cat "$T/leak.log" >&2; fail "leak override up"; }
rc=0
out=$("$src/scripts/verify-privsep" --running --project "$P" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "verify-privsep --running accepted a socket in wingman-auditor (exit $rc): $out"
grep -q "running: service wingman-auditor .*rule docker-socket" <<<"$out" || fail "verify-privsep: $out"
ok "verify-privsep --running fails with the socket in wingman-auditor"
dc up -d --no-deps wingman-auditor >"$T/leak.log" 2>&1 || { cat "$T/leak.log" >&2; fail "auditor back"; }
"$src/scripts/verify-privsep" --running --project "$P" >/dev/null 2>&1 || fail "verify-privsep after the revert"
wait_healthy 120

say "the broker's ACLs"
# A Java client in the broker's container with consensus's credentials
# (from the broker's own secrets volume): the broker answers, not a client check.
as_principal() { # PRINCIPAL CMD: a Java tool as that principal
	dc exec -T kafka sh -c '
		p=$(awk -v u="$1" "\$1 == u { print \$2 }" /run/wingman/kafka/users)
		printf "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\";\n" "$1" "$p" >/tmp/$1.props
		shift
		exec timeout 90 java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
			-Dwingman.kafka.log=/dev/stderr -cp "/opt/kafka/libs/*" "$@"' sh "$@"
}
out=$(echo '{"forged":"order"}' | as_principal consensus kafka.tools.ConsoleProducer \
	--bootstrap-server kafka:9092 --producer.config /tmp/consensus.props --topic wingman.orders \
	--request-required-acks all 2>&1) || true
grep -q "TopicAuthorizationException\|TOPIC_AUTHORIZATION_FAILED\|Topic authorization failed" <<<"$out" ||
	fail "consensus wrote wingman.orders? $(tail -n 5 <<<"$out")"
ok "the broker refuses consensus's principal on wingman.orders (TOPIC_AUTHORIZATION_FAILED)"
seen=$(as_principal consensus org.apache.kafka.tools.TopicCommand --bootstrap-server kafka:9092 \
	--command-config /tmp/consensus.props --list 2>/dev/null | grep '^wingman\.' | sort | tr '\n' ' ')
[ "$seen" = "wingman.assessments wingman.dlq wingman.requests " ] || fail "consensus sees: $seen"
seen=$(as_principal agent org.apache.kafka.tools.TopicCommand --bootstrap-server kafka:9092 \
	--command-config /tmp/agent.props --list 2>/dev/null | grep '^wingman\.' | sort | tr '\n' ' ')
[ "$seen" = "wingman.requests wingman.results " ] || fail "the agent sees: $seen"
ok "consensus sees only its three topics, the agent only requests and results"
sed 's/^sasl.password=.*/sasl.password=wrong/' "$T/export/kafka-agent.properties" >"$T/wrong.properties"
rc=0
WINGMAN_KAFKA_BROKERS=127.0.0.1:$PORT WINGMAN_KAFKA_CONFIG=$T/wrong.properties WINGMAN_KEYS_DIR=$T/export \
	timeout 60 "$W" submit --env test --worker agent-7 --text x --cmd "docker inspect $TARGET" \
	>/dev/null 2>"$T/wrong.log" || rc=$?
[ "$rc" -ne 0 ] && grep -q "SASL authentication" "$T/wrong.log" || fail "a wrong password got in (exit $rc)"
ok "a wrong agent password does not log in"

say "networks"
# By name, and by address (a name that does not resolve proves little).
reach() { dc exec -T "$1" timeout 4 bash -c "exec 3<>/dev/tcp/$2/$3" >/dev/null 2>&1; }
ips() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "${P}_$1_1" | awk '{ print $1 }'; }
redis_ip=$(ips redis) pg_ip=$(ips postgres)
reach wingman-executor redis 6379 || fail "the executor cannot reach Redis"
reach wingman-executor "$redis_ip" 6379 || fail "the executor cannot reach Redis at $redis_ip"
reach wingman-approval postgres 5432 || fail "approval cannot reach PostgreSQL"
for who in wingman-consensus kafka; do
	! reach "$who" redis 6379 || fail "$who reaches Redis"
	! reach "$who" "$redis_ip" 6379 || fail "$who reaches Redis at $redis_ip"
done
! reach kafka postgres 5432 || fail "Kafka reaches PostgreSQL"
! reach kafka "$pg_ip" 5432 || fail "Kafka reaches PostgreSQL at $pg_ip"
[ "$(dc exec -T redis redis-cli ping 2>&1 | tr -d '\r')" != PONG ] || fail "Redis answers without its password"
ok "Redis only from the executor and only with its password; PostgreSQL not from Kafka"

say "restart of every service with requests in flight"
for s in wingman-consensus wingman-approval wingman-token wingman-executor wingman-auditor \
	kafka postgres redis; do
	: >"$T/ids"
	submit_batch 3 "$T/ids"
	dc restart -t 20 "$s" >/dev/null 2>&1 || fail "restart $s"
	wait_healthy 180
	submit_batch 2 "$T/ids"
	mapfile -t ids <"$T/ids"
	[ "${#ids[@]}" -eq 5 ] || fail "restart of $s: ${#ids[@]} requests submitted, not 5"
	expect_executed "${ids[@]}"
	ok "restart of $s: all ${#ids[@]} requests executed"
done

say "down, then up: the state stays"
pubs_before=$(cat "$T"/export/*.pub | sha256sum)
compose_down || fail "down"
dc up -d >"$T/up.log" 2>&1 || { cat "$T/up.log" >&2; fail "up after down"; }
wait_healthy 300
[ "$(cat "$T"/export/*.pub | sha256sum)" = "$pubs_before" ] || fail "the keys changed across down/up"
out=$(agent wait "$INSPECT_ID" --timeout 30 2>/dev/null) || fail "the inspect's result is gone after down/up"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "after down/up: $out"
out=$(operator audit show "$RESTART_ID" 2>&1) || fail "audit show after down/up: $out"
grep -q "execution_result" <<<"$out" || fail "the restart's audit rows are gone: $out"
out=$(operator audit verify 2>&1) || fail "audit verify after down/up: $out"
: >"$T/ids"
submit_batch 1 "$T/ids"
expect_executed "$(cat "$T/ids")"
ok "down/up kept keys, results and the audit chain (audit verify passes), and runs new requests"

say "key rotation with requests in flight (docs/runbooks/rotate-keys.md)"
ROLES="consensus approval token executor audit"
SVCS="wingman-consensus wingman-approval wingman-token wingman-executor wingman-auditor"
# rotate_step VERB ROLE...: requests in flight, the step, every service restarted.
rotate_step() {
	: >"$T/ids"
	submit_batch 3 "$T/ids"
	dc run --rm -T wingman-init keys "$@" >"$T/keys.log" 2>&1 || fail "wingman-init keys $*: $(tail -n 5 "$T/keys.log")"
	# shellcheck disable=SC2086
	dc restart -t 20 $SVCS >/dev/null 2>&1 || fail "restart after keys $1"
	wait_healthy 180
	submit_batch 2 "$T/ids"
	mapfile -t ids <"$T/ids"
	expect_executed "${ids[@]}"
}
# shellcheck disable=SC2086
rotate_step rotate $ROLES
gen=$(ls "$T/export" | sed -n 's/^token-\([0-9][0-9-]*\)\.pub$/\1/p' | sort -V | tail -n 1)
[ -n "$gen" ] || fail "no new token generation exported: $(ls "$T/export")"
ok "rotate: token-$gen.pub (and every role's) handed out, 5 requests across the restart executed"
# shellcheck disable=SC2086
rotate_step activate $ROLES
ok "activate: the new private keys sign from the restart, 5 requests across it executed"
# Without the first generation's public key, only the new key can have
# signed the tokens that still run.
dc run --rm -T wingman-init keys retire token 0 --public >"$T/keys.log" 2>&1 ||
	fail "keys retire token 0: $(tail -n 5 "$T/keys.log")"
[ ! -e "$T/export/token.pub" ] || fail "token.pub is still exported after its retirement"
dc restart -t 20 wingman-token wingman-executor >/dev/null 2>&1 || fail "restart after retire"
wait_healthy 180
: >"$T/ids"
submit_batch 1 "$T/ids"
expect_executed "$(cat "$T/ids")"
out=$(operator audit verify 2>&1) || fail "audit verify after rotation: $out"
ok "old token key retired: tokens of token-$gen run; audit verify passes with both audit keys"

say "down -v"
compose_down -v || fail "down -v"
left=$(docker ps -aq --filter "label=com.docker.compose.project=$P"
	docker volume ls -q --filter "label=com.docker.compose.project=$P"
	docker network ls -q --filter "label=com.docker.compose.project=$P")
[ -z "$left" ] || fail "down -v left: $left"
ok "down -v left no container, volume or network of project $P"
say "done in $((SECONDS - t0)) s"
printf '%d passed, 0 failed\n' "$checks"
