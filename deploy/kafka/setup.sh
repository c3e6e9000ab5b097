#!/bin/sh
# Run once per `up` by the kafka-setup service, as the admin principal:
# creates the topics, sets every principal's SCRAM credential and the ACLs
# of deploy/kafka/acls. Each Kafka tool is a JVM start of a few seconds, so
# the work is skipped when a marker in the broker's volume says this very
# input was applied already, and otherwise runs in parallel.
set -eu
SECRETS=/run/wingman/kafka
ACLS=/etc/wingman/kafka-acls
LIBS=${KAFKA_LIBS:-/opt/kafka/libs}
BOOT=${KAFKA_BOOTSTRAP:-kafka:9092}
RF=${KAFKA_REPLICATION_FACTOR:-1}
MIN_ISR=${KAFKA_MIN_INSYNC_REPLICAS:-1}
MARKER=/var/lib/kafka/data/wingman-setup.sha256
TOPICS="wingman.requests wingman.assessments wingman.human-decisions wingman.approval-prompts
wingman.decisions wingman.orders wingman.results wingman.dlq wingman.audit-checkpoints"
ADMIN=/tmp/admin.properties
LOGS=/tmp/setup-logs

# AclCommand moved from the broker jar to the tools in Kafka 4.
if ls "$LIBS"/kafka_2.13-[0-3].* >/dev/null 2>&1; then ACL=kafka.admin.AclCommand; else ACL=org.apache.kafka.tools.AclCommand; fi
pw() { awk -v u="$1" '$1 == u { print $2 }' "$SECRETS/users"; }
tool() { java ${KAFKA_TOOL_OPTS:--Xmx128m -XX:TieredStopAtLevel=1 -Xshare:auto} \
	-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -Dwingman.kafka.log=/dev/null \
	-cp "$LIBS/*" "$@"; }

umask 077
mkdir -p "$LOGS"
cat >"$ADMIN" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(pw admin)";
PROPS

want=$( (cat "$ACLS" "$SECRETS/users"; echo "$TOPICS $RF $MIN_ISR") | sha256sum | cut -c1-64)
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$want" ]; then
	echo "kafka-setup: topics, credentials and ACLs already applied"
	exit 0
fi

# Runs "$@" in the background, its output in $LOGS/N.
n=0
pids=""
bg() { n=$((n + 1)); "$@" >"$LOGS/$n" 2>&1 & pids="$pids $!:$n"; }
wait_all() {
	rc=0
	for p in $pids; do
		if ! wait "${p%%:*}"; then
			echo "kafka-setup: step ${p#*:} failed:" >&2
			tail -n 20 "$LOGS/${p#*:}" >&2
			rc=1
		fi
	done
	pids=""
	return $rc
}

existing=$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" \
	--command-config "$ADMIN" --list)
for t in $TOPICS; do
	echo "$existing" | grep -qxF "$t" && continue
	bg tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" --command-config "$ADMIN" \
		--create --if-not-exists --topic "$t" --partitions 3 --replication-factor "$RF" \
		--config "min.insync.replicas=$MIN_ISR"
done

# Credentials again (formatting set them; this applies later changes).
while read -r name pass; do
	case "$name" in '' | '#'*) continue ;; esac
	bg tool kafka.admin.ConfigCommand --bootstrap-server "$BOOT" --command-config "$ADMIN" \
		--alter --entity-type users --entity-name "$name" \
		--add-config "SCRAM-SHA-512=[password=$pass]"
done <"$SECRETS/users"

# One AclCommand per line of the table.
grep -v '^[[:space:]]*\(#\|$\)' "$ACLS" >/tmp/acls
while read -r who what rest; do
	set -- --bootstrap-server "$BOOT" --command-config "$ADMIN" --add --force \
		--allow-principal "User:$who" --operation Describe
	case "$what" in
	consume) set -- "$@" --operation Read ;;
	produce) set -- "$@" --operation Write ;;
	*) echo "kafka-setup: $ACLS: unknown verb $what" >&2; exit 1 ;;
	esac
	prefixed=0
	for r in $rest; do
		case "$r" in
		group=*) set -- "$@" --group "${r#group=}" ;;
		group-prefix=*) set -- "$@" --group "${r#group-prefix=}"; prefixed=1 ;;
		*) set -- "$@" --topic "$r" ;;
		esac
	done
	if [ "$prefixed" = 1 ]; then
		# A prefixed group pattern applies to the topics too: split them.
		topics=""
		for r in $rest; do case "$r" in group*) ;; *) topics="$topics --topic $r" ;; esac; done
		# shellcheck disable=SC2086
		bg tool "$ACL" --bootstrap-server "$BOOT" --command-config "$ADMIN" \
			--add --force --allow-principal "User:$who" --operation Describe \
			$( [ "$what" = consume ] && echo --operation Read || echo --operation Write ) $topics
		bg tool "$ACL" --bootstrap-server "$BOOT" --command-config "$ADMIN" \
			--add --force --allow-principal "User:$who" --operation Read --operation Describe \
			--resource-pattern-type prefixed --group "${rest##*group-prefix=}"
	else
		bg tool "$ACL" "$@"
	fi
done </tmp/acls
wait_all
echo "$want" >"$MARKER"
echo "kafka-setup: topics, credentials and ACLs applied"
