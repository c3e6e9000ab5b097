#!/bin/sh
# The schema service of docker-compose.yml: applies sql/*.sql (sorted, each
# safe to re-apply) as the owner role wingman, then exits. This is the ONE
# place the schema is applied in compose; when `wingman migrate` exists, the
# schema service runs that instead (docs/deploy.md).
set -eu
umask 077
# The owner's password, from the database's roles file, in a libpq password file.
awk '$1 == "wingman" { print "*:5432:wingman:wingman:" $2 }' /run/wingman/postgres/roles >/tmp/pgpass
PGPASSFILE=/tmp/pgpass
export PGPASSFILE
conn="host=${PGHOST:-postgres} port=5432 dbname=wingman user=wingman"
n=0
for f in $(ls /etc/wingman/sql/*.sql | LC_ALL=C sort); do
	psql -X -q -v ON_ERROR_STOP=1 "$conn" -f "$f" >/tmp/schema.log 2>&1 ||
		{ echo "schema: $f failed" >&2; cat /tmp/schema.log >&2; exit 1; }
	n=$((n + 1))
done
echo "schema: applied $n file(s) of sql/"
