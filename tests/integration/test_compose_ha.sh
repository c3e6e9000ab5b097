#!/usr/bin/env bash
# docker-compose.yml with docker-compose.ha.yml: three KRaft brokers
# (replication factor 3, min.insync.replicas 2) and two executors in one
# consumer group, on this machine, with the images of deploy/build-images
# (the same content-hash cache as test_compose.sh: built once for both).
#   - the topics (and __consumer_offsets) have replication factor 3 and
#     min.insync.replicas 2; the agent logs in (SCRAM) through each broker's
#     own published listener; the broker refuses consensus's principal on
#     wingman.orders: credentials and ACLs hold on the three-broker cluster;
#   - from outside, through the listeners on 127.0.0.1, a steady stream of
#     auto-approved inspects and one human-approved restart (approved with
#     the CLI in wingman-admin) run while one broker (node 1, the first
#     every client bootstraps from) and one executor (one that has executed
#     orders) are killed with `docker kill`; the broker comes back later, the
#     executor does not;
#   - then every request has a result on wingman.results (none lost) and
#     never two different outcomes (the same result twice is allowed: a
#     replayed order is answered with the stored result); every inspect was
#     executed; the restart ran exactly once (the engine's restart events of
#     the target); the surviving executor executed orders after the kill;
#     `wingman audit verify` passes.
# Needs root, dockerd, docker-compose and debootstrap (scripts/lib.sh).
set -euo pipefail

P=${WINGMAN_COMPOSE_HA_PROJECT:-wingman-ci-ha}
PORT=${WINGMAN_COMPOSE_HA_AGENT_PORT:-19196}
PORT2=$((PORT + 1)) PORT3=$((PORT + 2))
TARGET=wingman-test-compose-ha-target
T=$(mktemp -d /var/tmp/wingman-compose-ha-test.XXXXXX)
COMPOSE_FILES=("${WINGMAN_SOURCE_DIR:?}/docker-compose.yml" "$WINGMAN_SOURCE_DIR/docker-compose.ha.yml")
. "$(dirname "$0")/compose_lib.sh"
RUN=ha$(date +%s)
export WINGMAN_KAFKA_AGENT_PORT=$PORT WINGMAN_KAFKA_AGENT_PORT_2=$PORT2 WINGMAN_KAFKA_AGENT_PORT_3=$PORT3

# The stream stops with the test, whichever way it ends.
compose_on_fail() { [ -e "$T/stop" ] || touch "$T/stop"; }
stream_pid="" events_pid=""
cleanup() {
	local rc=$?
	touch "$T/stop" 2>/dev/null || true
	[ -n "$stream_pid" ] && kill "$stream_pid" 2>/dev/null && wait "$stream_pid" 2>/dev/null
	[ -n "$events_pid" ] && kill "$events_pid" 2>/dev/null && wait "$events_pid" 2>/dev/null
	compose_down -v 2>/dev/null || true
	docker rm -f "$TARGET" >/dev/null 2>&1 || true
	rm -rf "$T"
	exit "$rc"
}
compose_lock 600
trap cleanup EXIT
trap 'exit 143' TERM INT

# The agent through the three listeners.
BROKERS=127.0.0.1:$PORT,127.0.0.1:$PORT2,127.0.0.1:$PORT3
agent() { agent_at "$BROKERS" "$@"; }

LONG_RUNNING="kafka_1 kafka-2_1 kafka-3_1 postgres_1 redis_1 wingman-consensus_1 wingman-approval_1
	wingman-token_1 wingman-executor_1 wingman-executor_2 wingman-auditor_1"

# A Java tool in a broker's container as PRINCIPAL (credentials from the
# broker's own secrets volume): the broker answers, not a client check.
as_principal() { # BROKER_SERVICE PRINCIPAL CLASS ARGS...
	local svc=$1
	shift
	dc exec -T "$svc" sh -c '
		p=$(awk -v u="$1" "\$1 == u { print \$2 }" /run/wingman/kafka/users)
		printf "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\";\n" "$1" "$p" >/tmp/$1.props
		shift
		exec timeout 120 java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
			-Dwingman.kafka.log=/dev/stderr -cp "/opt/kafka/libs/*" "$@"' sh "$@"
}
IN_BROKERS=kafka:9092,kafka-2:9092,kafka-3:9092

# The executors' "executing" log lines of this run's requests.
executed_by() { docker logs "${P}_$1" 2>&1 | grep -c "event=executing request_id=$RUN-" || true; }

compose_preflight "WINGMAN_COMPOSE_HA_AGENT_PORT (it and the next two)" "$PORT" "$PORT2" "$PORT3"
compose_images_and_keys

say "docker-compose up: three brokers, two executors"
s0=$SECONDS
dc up -d >"$T/up.log" 2>&1 || { cat "$T/up.log" >&2; fail "docker-compose up"; }
# shellcheck disable=SC2086
wait_healthy_containers 300 $LONG_RUNNING
ok "every service healthy, both executors included ($((SECONDS - s0)) s)"
for b in kafka:$PORT kafka-2:$PORT2 kafka-3:$PORT3; do
	docker port "${P}_${b%%:*}_1" | grep -qx "${b#*:}/tcp -> 127.0.0.1:${b#*:}" ||
		fail "${b%%:*}: its agents' listener is not published on 127.0.0.1:${b#*:} only: $(docker port "${P}_${b%%:*}_1")"
done
ok "each broker publishes its own agents' listener on 127.0.0.1 only"

say "replication, credentials and ACLs on the three-broker cluster"
out=$(as_principal kafka-2 admin org.apache.kafka.tools.TopicCommand --bootstrap-server "$IN_BROKERS" \
	--command-config /tmp/admin.props --describe 2>/dev/null | grep -E '^Topic: \S+\s+TopicId') ||
	fail "describe topics: $out"
n=$(grep -c '^Topic: wingman\.' <<<"$out" || true)
[ "$n" -eq 9 ] || fail "$n wingman.* topics, not 9: $out"
bad=$(grep '^Topic: wingman\.' <<<"$out" | grep -v 'ReplicationFactor: 3.*min.insync.replicas=2' || true)
[ -z "$bad" ] || fail "topics without replication factor 3 and min.insync.replicas 2: $bad"
grep -q '^Topic: __consumer_offsets.*ReplicationFactor: 3' <<<"$out" ||
	fail "__consumer_offsets has not replication factor 3: $(grep __consumer_offsets <<<"$out")"
ok "the nine topics: replication factor 3, min.insync.replicas 2; __consumer_offsets: replication factor 3"
start_target
# Each broker alone as the bootstrap: each holds the agent's SCRAM credential.
for p in "$PORT" "$PORT2" "$PORT3"; do
	out=$(agent_at "127.0.0.1:$p" submit --env test --worker agent-7 --text "via $p" \
		--cmd "docker inspect $TARGET" --request-id "$RUN-via-$p" --wait --timeout 150 2>"$T/via.err") ||
		fail "inspect through 127.0.0.1:$p: $out $(tail -c 400 "$T/via.err")"
done
ok "the agent logs in through each broker's listener, and inspects run end to end"
out=$(echo '{"forged":"order"}' | as_principal kafka-3 consensus kafka.tools.ConsoleProducer \
	--bootstrap-server "$IN_BROKERS" --producer.config /tmp/consensus.props --topic wingman.orders \
	--request-required-acks all 2>&1) || true
grep -q "TopicAuthorizationException\|TOPIC_AUTHORIZATION_FAILED\|Topic authorization failed" <<<"$out" ||
	fail "consensus wrote wingman.orders? $(tail -n 5 <<<"$out")"
ok "the cluster refuses consensus's principal on wingman.orders"

say "a stream of requests; one broker and one executor killed mid-stream"
# The engine's restart events of the target, watched live (the engine keeps
# only its last 256 events, and health checks make many).
docker events --filter "container=$TARGET" --filter event=restart --format '{{.Action}}' >"$T/events" &
events_pid=$!
before=$(docker inspect -f '{{.State.StartedAt}}' "$TARGET")
RESTART_ID=$RUN-restart
agent submit --env test --worker agent-7 --text "restart it" --cmd "docker restart $TARGET" \
	--request-id "$RESTART_ID" >/dev/null 2>"$T/submit.err" || fail "restart: submit failed: $(cat "$T/submit.err")"
# The stream: auto-approved inspects, one after the other (each acknowledged
# by the cluster before the next), ids in $T/ids; a submit the cluster did
# not acknowledge is sent again under the same id, as an agent would.
stream() {
	local i=0 id try
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		id=$RUN-$i
		echo "$id" >>"$T/ids"
		for try in 1 2 3; do
			agent submit --env test --worker agent-7 --text "stream $i" \
				--cmd "docker inspect $TARGET" --request-id "$id" >/dev/null 2>>"$T/submit.err" && break
			echo "$id try $try" >>"$T/submit-failed"
		done
		sleep 0.2
	done
}
: >"$T/ids"
: >"$T/submit-failed"
stream &
stream_pid=$!
submitted() { wc -l <"$T/ids"; }
wait_submitted() { # N
	local deadline=$((SECONDS + 300))
	while (($(submitted) < $1)); do
		((SECONDS < deadline)) || fail "the stream is stuck at $(submitted) requests"
		kill -0 "$stream_pid" 2>/dev/null || fail "the stream ended"
		sleep 1
	done
}
wait_submitted 10
# Kill an executor that has executed orders of the stream (both are in the
# group; the one with more partitions has the most).
deadline=$((SECONDS + 150))
while :; do
	e1=$(executed_by wingman-executor_1) e2=$(executed_by wingman-executor_2)
	((e1 + e2 > 0)) && break
	((SECONDS < deadline)) || fail "no executor executed anything of the stream"
	sleep 2
done
if ((e1 >= e2)); then VICTIM=wingman-executor_1 SURVIVOR=wingman-executor_2; else VICTIM=wingman-executor_2 SURVIVOR=wingman-executor_1; fi
at_kill=$(submitted)
docker kill "${P}_kafka_1" >/dev/null || fail "docker kill kafka"
docker kill "${P}_$VICTIM" >/dev/null || fail "docker kill $VICTIM"
say "killed kafka (node 1) and $VICTIM after $at_kill requests (executed so far: executor_1 $e1, executor_2 $e2)"
survivor_before=$(executed_by "$SURVIVOR")
# The human approval, given while the broker and the executor are down.
for i in $(seq 30); do
	out=$(operator approve "$RESTART_ID" --as demo --reason "test_compose_ha" 2>&1) && break
	sleep 2
done
grep -q "approved $RESTART_ID by demo" <<<"$out" || fail "approve: $out"
ok "the restart approved with the CLI while kafka and $VICTIM are down"
wait_submitted $((at_kill + 25))
[ "$(docker inspect -f '{{.State.Running}}' "${P}_kafka_1")" = false ] ||
	fail "kafka came back by itself: the kill proved nothing"
docker start "${P}_kafka_1" >/dev/null || fail "docker start kafka"
wait_healthy_containers 180 kafka_1
say "kafka (node 1) is back"
wait_submitted $((at_kill + 35))
touch "$T/stop"
wait "$stream_pid" || true
stream_pid=""
mapfile -t ids <"$T/ids"
say "${#ids[@]} inspects submitted ($(wc -l <"$T/submit-failed") submit attempts not acknowledged, sent again)"

say "every request answered, one outcome each"
# Each until its result (signatures checked by the CLI), then every result
# on wingman.results, duplicates included, read as the agent.
out=$(agent wait "$RESTART_ID" --timeout 240 2>"$T/wait.err") || fail "restart: $out $(tail -c 400 "$T/wait.err")"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "restart: $out"
out=$(agent wait "${ids[-1]}" --timeout 240 2>"$T/wait.err") ||
	fail "the last inspect ${ids[-1]}: $out $(tail -c 400 "$T/wait.err")"
deadline=$((SECONDS + 300))
while :; do
	as_principal kafka-2 agent org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$IN_BROKERS" \
		--consumer.config /tmp/agent.props --group "wingman-cli-$RUN-dump-$SECONDS" \
		--topic wingman.results --from-beginning --timeout-ms 15000 2>/dev/null |
		jq -rc 'select(.type == "result") | [.request_id, .status, .reason] | @tsv' 2>/dev/null |
		grep "^$RUN-" | sort >"$T/results" || true
	missing=0
	for id in "${ids[@]}" "$RESTART_ID"; do
		grep -q "^$id	" "$T/results" || missing=$((missing + 1))
	done
	((missing == 0)) && break
	((SECONDS < deadline)) || fail "$missing requests have no result"
	sleep 5
done
ok "no request lost: all ${#ids[@]} inspects and the restart have a result on wingman.results"
two=$(sort -u "$T/results" | cut -f1 | uniq -d)
[ -z "$two" ] || fail "requests with two outcomes: $(for id in $two; do grep "^$id	" "$T/results" | sort -u; done)"
dups=$(($(wc -l <"$T/results") - $(sort -u "$T/results" | wc -l)))
ok "no request has two outcomes ($dups results repeated with the same outcome)"
notexec=$(awk -F'\t' '$2 != "executed"' "$T/results" | sort -u)
[ -z "$notexec" ] || fail "not executed: $notexec"
ok "every inspect and the restart executed"
sleep 2
kill "$events_pid" 2>/dev/null
wait "$events_pid" 2>/dev/null || true
events_pid=""
n=$(grep -c '^restart$' "$T/events" || true)
[ "$n" -eq 1 ] || fail "the target was restarted $n times, not once"
[ "$(docker inspect -f '{{.State.StartedAt}}' "$TARGET")" != "$before" ] || fail "the target was not restarted"
ok "the restart ran exactly once (one restart event of the engine)"
after=$(executed_by "$SURVIVOR")
((after > survivor_before)) || fail "$SURVIVOR executed nothing after $VICTIM was killed"
ok "$SURVIVOR took over: it executed $((after - survivor_before)) orders after the kill"
out=$(operator audit verify 2>&1) || fail "audit verify: $out"
ok "wingman audit verify passes"
out=$("$src/scripts/verify-privsep" --running --project "$P" 2>&1) || fail "verify-privsep --running: $out"
ok "verify-privsep --running passes with three brokers and two executors"

compose_down -v || fail "down -v"
say "done in $((SECONDS - t0)) s"
printf '%d passed, 0 failed\n' "$checks"
