#!/bin/sh
# docker-compose.yml only (the postgres image runs *.sh of this directory
# too, as the superuser, on the first start): one login role per process,
# each with the password in /run/secrets/pg_password_SERVICE, before the
# .sql files that grant their rights (998_roles.sql). scripts/stack makes
# the same roles itself and applies only the .sql files.
set -eu
for s in consensus approval telegram token executor auditor admin; do
	f=/run/secrets/pg_password_$s
	[ -s "$f" ] || { echo "000_roles.sh: $f is missing" >&2; exit 1; }
	# On stdin, so the password shows in no process list.
	printf "CREATE ROLE wingman_%s LOGIN PASSWORD '%s';\n" "$s" "$(tr -d "\n'" <"$f")" |
	    psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f - >/dev/null
done
