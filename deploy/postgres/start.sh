#!/bin/sh
# PostgreSQL of docker-compose.yml, run as the postgres user on the image of
# deploy/build-images or the official postgres:15 image alike (both Debian's
# layout). On the first start: initdb (the superuser logs in only through
# the container's own unix socket). On every start: the roles of
# /run/wingman/postgres/roles (ROLE PASSWORD lines, written by
# deploy/init.sh) get their passwords, the wingman database exists, owned by
# the role wingman. The schema and grants are the schema service's
# (deploy/postgres/schema.sh). Every network login needs a password
# (scram-sha-256); TLS: docs/deploy.md.
set -eu
SECRETS=/run/wingman/postgres
PGDATA=${PGDATA:-/var/lib/postgresql/data}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
SOCK=/tmp
export PATH="$BIN:$PATH"
[ -s "$SECRETS/roles" ] || { echo "postgres/start.sh: $SECRETS/roles is missing (wingman-init)" >&2; exit 1; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C --auth-local=peer \
		--auth-host=scram-sha-256 >/tmp/initdb.log 2>&1 || { cat /tmp/initdb.log >&2; exit 1; }
	cat >"$PGDATA/pg_hba.conf" <<HBA
# docker-compose.yml: the superuser only on the container's unix socket;
# every other login over the network with its password.
local all postgres peer
host  all postgres 0.0.0.0/0 reject
host  all postgres ::/0 reject
host  all all 0.0.0.0/0 scram-sha-256
host  all all ::/0 scram-sha-256
HBA
	cat >>"$PGDATA/postgresql.conf" <<CONF

# deploy/postgres/start.sh
listen_addresses = '*'
password_encryption = 'scram-sha-256'
max_connections = 200
CONF
	if [ -n "${POSTGRES_EXTRA_CONF:-}" ] && [ -f "$POSTGRES_EXTRA_CONF" ]; then
		echo "include '$POSTGRES_EXTRA_CONF'" >>"$PGDATA/postgresql.conf"
	fi
fi

# Roles and database, with the server on its unix socket only.
pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$SOCK" -w -t 60 \
	start >/tmp/pg_ctl.log 2>&1 || { cat /tmp/pg_ctl.log >&2; exit 1; }
{
	echo "SET password_encryption = 'scram-sha-256';"
	while read -r role pass; do
		case "$role" in '' | '#'*) continue ;; esac
		echo "SELECT format('CREATE ROLE %I LOGIN', '$role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \\gexec"
		echo "ALTER ROLE \"$role\" LOGIN PASSWORD '$pass';"
	done <"$SECRETS/roles"
	echo "SELECT 'CREATE DATABASE wingman OWNER wingman' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'wingman') \\gexec"
} | psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -U postgres -d postgres -f - >/dev/null
pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
exec postgres -D "$PGDATA" -c unix_socket_directories="$SOCK"
