#!/bin/sh
# The operator's CLI in docker-compose.yml (service wingman-admin):
#   docker-compose run --rm wingman-admin approve ID --as NAME
# runs `wingman approve ID --as NAME` inside the compose network, as the
# operator: Kafka principal "operator", PostgreSQL role wingman_admin. The
# approver's private key (approver-NAME.key) stays in the operator's own
# directory on the host (WINGMAN_OPERATOR_DIR, mounted read-only at
# /run/wingman/operator); it is put beside the public keys in a tmpfs for
# the CLI, which reads one keys directory.
set -eu
keys=/tmp/keys
mkdir -p "$keys"
chmod 700 "$keys"
cp /run/wingman/keys/* "$keys/"
for k in /run/wingman/operator/*.key; do
	[ -f "$k" ] && cp "$k" "$keys/"
done
chmod 600 "$keys"/*
export WINGMAN_KEYS_DIR="$keys" WINGMAN_KAFKA_CONFIG="$keys/kafka.properties" \
	WINGMAN_PG_CONNINFO="host=postgres port=5432 dbname=wingman user=wingman_admin passfile=$keys/pgpass"
exec wingman "$@"
