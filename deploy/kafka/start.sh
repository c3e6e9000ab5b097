#!/bin/sh
# The broker of docker-compose.yml: one KRaft node (broker and controller)
# with SASL/SCRAM-SHA-512 on every client listener and ACLs
# (StandardAuthorizer, nothing allowed without an ACL). Runs on the image of
# deploy/build-images or the official apache/kafka image alike: java on
# PATH, the jars in /opt/kafka/libs.
#
# Listeners:
#   INTERNAL  0.0.0.0:9092, advertised kafka:9092: the compose services
#   AGENTS    0.0.0.0:$WINGMAN_KAFKA_AGENT_PORT, advertised
#             127.0.0.1:$WINGMAN_KAFKA_AGENT_PORT: published on the host's
#             loopback for agents and operators outside the compose network
#   CONTROLLER 127.0.0.1:9093, PLAINTEXT: inside this container only (its
#             principal, ANONYMOUS, is a super user, which is safe only
#             because nothing outside the container can reach it)
# Three brokers (docker-compose.ha.yml) set, each its own:
#   KAFKA_NODE_ID, KAFKA_ADVERTISED_HOST, WINGMAN_KAFKA_AGENT_PORT;
#   KAFKA_CONTROLLER_HOST  the controller listener's host (default
#             127.0.0.1): a name that resolves on the brokers' own internal
#             network only (kraft), so only the brokers reach it;
#   KAFKA_QUORUM_VOTERS    ID@HOST:9093,... (default: this node alone);
#   KAFKA_REPLICATION, KAFKA_MIN_INSYNC  the replication factor of the
#             internal topics and topics made without one, and their
#             min.insync.replicas (default 1 and 1).
# The SCRAM credentials come from /run/wingman/kafka/users (NAME PASSWORD
# lines, written by deploy/init.sh) when the storage is formatted (a later
# change of a password: docs/deploy.md). Lines of
# $KAFKA_EXTRA_PROPERTIES (a file, optional) are appended last and win:
# TLS (SASL_SSL listeners, keystores) goes there (docs/deploy.md).
set -eu
SECRETS=/run/wingman/kafka
DATA=/var/lib/kafka/data
CONF=/tmp/server.properties
PORT=${WINGMAN_KAFKA_AGENT_PORT:-9094}
NODE=${KAFKA_NODE_ID:-1}
CTL=${KAFKA_CONTROLLER_HOST:-127.0.0.1}
RF=${KAFKA_REPLICATION:-1}
ISR=${KAFKA_MIN_INSYNC:-1}
LIBS=${KAFKA_LIBS:-/opt/kafka/libs}
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}"

pw() { awk -v u="$1" '$1 == u { print $2 }' "$SECRETS/users"; }
[ -s "$SECRETS/users" ] || { echo "kafka/start.sh: $SECRETS/users is missing (wingman-init)" >&2; exit 1; }
broker_pw=$(pw broker)
[ -n "$broker_pw" ] || { echo "kafka/start.sh: no password for the broker principal" >&2; exit 1; }

umask 077
cat >"$CONF" <<PROPS
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=${KAFKA_QUORUM_VOTERS:-$NODE@127.0.0.1:9093}
listeners=INTERNAL://0.0.0.0:9092,AGENTS://0.0.0.0:$PORT,CONTROLLER://$CTL:9093
advertised.listeners=INTERNAL://${KAFKA_ADVERTISED_HOST:-kafka}:9092,AGENTS://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,AGENTS:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker_pw";
listener.name.agents.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:broker;User:admin;User:ANONYMOUS
log.dirs=$DATA
num.partitions=3
default.replication.factor=$RF
min.insync.replicas=$ISR
offsets.topic.replication.factor=$RF
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$ISR
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
if [ -n "${KAFKA_EXTRA_PROPERTIES:-}" ] && [ -f "$KAFKA_EXTRA_PROPERTIES" ]; then
	cat "$KAFKA_EXTRA_PROPERTIES" >>"$CONF"
fi

if [ ! -f "$DATA/meta.properties" ]; then
	# Every principal's SCRAM credential goes into the first metadata.
	set --
	while read -r name pass; do
		case "$name" in '' | '#'*) continue ;; esac
		set -- "$@" --add-scram "SCRAM-SHA-512=[name=$name,password=$pass]"
	done <"$SECRETS/users"
	java ${KAFKA_OPTS:-} -cp "$LIBS/*" kafka.tools.StorageTool format \
		-t "$KAFKA_CLUSTER_ID" -c "$CONF" "$@" >/tmp/format.log 2>&1 ||
		{ cat /tmp/format.log >&2; exit 1; }
	echo "kafka/start.sh: storage formatted with $(($# / 2)) SCRAM credentials"
fi
exec java ${KAFKA_OPTS:-} -cp "$LIBS/*" kafka.Kafka "$CONF"
