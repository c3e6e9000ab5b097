#!/bin/sh
# The schema job of docker-compose.yml (image wingman): `wingman migrate`
# over sql/ as the owner role wingman (docs/cli.md), then exits. The owner's
# password comes from the database's roles file (deploy/init.sh), into a
# libpq password file in the job's tmpfs.
set -eu
umask 077
awk '$1 == "wingman" { print "*:5432:wingman:wingman:" $2 }' /run/wingman/postgres/roles >/tmp/pgpass
exec wingman migrate --dir /etc/wingman/sql \
	--conninfo "host=${PGHOST:-postgres} port=5432 dbname=wingman user=wingman passfile=/tmp/pgpass"
