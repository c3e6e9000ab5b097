#!/bin/sh
# wingman-init, the first service of docker-compose.yml: makes what the
# others need and exits. Run as root (to hand each file to its user) with no
# network. Safe to run on every `up`: what exists is kept.
#
#   /init/keys/SERVICE   one volume per wingman service, mounted read-only as
#                        its WINGMAN_KEYS_DIR: its own private key (the only
#                        copy), every public key, kafka.properties (its SCRAM
#                        principal, WINGMAN_KAFKA_CONFIG), pgpass (its
#                        PostgreSQL role); the executor's also redis.password
#   /init/kafka/users    every Kafka principal's password (the broker's volume),
#                        and admin.properties: the super user admin's, for
#                        the kafka-setup job
#   /init/postgres/roles every PostgreSQL role's password (the database's)
#   /init/redis/password the Redis password (Redis's)
#   /init/trusted        (host, read-only) public keys the operator trusts:
#                        approver-NAME.pub, worker-ID.pub; CA certificates
#                        (*.pem); and optionally kafka-client.properties,
#                        appended to every kafka.properties (TLS:
#                        docs/deploy.md)
#   /init/export         (host) every public key and kafka-agent.properties,
#                        the agents' credentials for the published listener
#
# Key rotation (docs/runbooks/rotate-keys.md): `docker-compose run --rm
# wingman-init keys rotate|activate ROLE...` (or `retire ROLE GEN
# [--public]`, `list ROLE`) runs `wingman keys` in the volume of the service
# that owns each ROLE (consensus, approval, token, executor, audit,
# telegram), then hands every generation's public key to every service as on
# any `up`. A private key never leaves its volume.
set -eu
umask 077
UID_WINGMAN=10001
SERVICES="consensus approval token executor auditor telegram admin"
KAFKA_USERS="broker admin consensus approval token executor auditor telegram agent operator"
PG_ROLES="wingman wingman_consensus wingman_approval wingman_token wingman_executor wingman_auditor wingman_telegram wingman_admin"

rand() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
key_name() { case "$1" in auditor) echo audit ;; admin) echo "" ;; *) echo "$1" ;; esac; }
key_owner() { case "$1" in audit) echo auditor ;; consensus | approval | token | executor | telegram) echo "$1" ;; *) return 1 ;; esac; }

# keys rotate|activate ROLE... [--activate], keys retire ROLE GEN [--public],
# keys list ROLE.
keys_usage() {
	echo "usage: wingman-init keys rotate|activate ROLE... | retire ROLE GEN [--public] | list ROLE" >&2
	exit 2
}
keys_in_owner() { # VERB ROLE ARGS...
	owner=$(key_owner "$2") || {
		echo "wingman-init: '$2' is not a service's key (consensus approval token executor audit telegram)" >&2
		exit 2
	}
	v=$1 r=$2
	shift 2
	wingman keys "$v" "$r" "$@" --dir "/init/keys/$owner"
}
if [ "${1:-}" = keys ]; then
	[ $# -ge 3 ] || keys_usage
	verb=$2
	shift 2
	case "$verb" in
	rotate | activate)
		opts=""
		for a in "$@"; do case "$a" in --*) opts="$opts $a" ;; esac; done
		for a in "$@"; do
			case "$a" in --*) ;; *) keys_in_owner "$verb" "$a" $opts ;; esac
		done ;;
	retire) keys_in_owner retire "$@" ;;
	list) keys_in_owner list "$@"; exit 0 ;;
	*) keys_usage ;;
	esac
fi

# secrets FILE NAME...: a "NAME PASSWORD" line for every NAME missing from FILE.
secrets() {
	f="$1"; shift
	touch "$f"
	for name in "$@"; do
		grep -q "^$name " "$f" || printf '%s %s\n' "$name" "$(rand)" >>"$f"
	done
	chmod 0444 "$f"
}

chmod 0755 /init/kafka /init/postgres /init/redis
secrets /init/kafka/users $KAFKA_USERS
secrets /init/postgres/roles $PG_ROLES
[ -s /init/redis/password ] || rand >/init/redis/password
chmod 0444 /init/redis/password
kpw() { awk -v u="$1" '$1 == u { print $2 }' /init/kafka/users; }
ppw() { awk -v u="$1" '$1 == u { print $2 }' /init/postgres/roles; }

# The private keys, each made once, in its own service's volume.
gen=$(mktemp -d)
for s in $SERVICES; do
	k=$(key_name "$s")
	[ -n "$k" ] || continue
	# Made once: after a rotation and the retirement of the first
	# generation (ROLE.key gone), a newer ROLE-GEN.key signs.
	if [ ! -s "/init/keys/$s/$k.key" ] && ! ls "/init/keys/$s/$k"-[0-9]*.key >/dev/null 2>&1; then
		wingman keygen --out "$gen" --name "$k" >/dev/null
		mv "$gen/$k.key" "/init/keys/$s/$k.key"
		mv "$gen/$k.pub" "/init/keys/$s/$k.pub"
		echo "wingman-init: made the $k key"
	fi
done
rm -rf "$gen"

# Every public key: every generation of the services' and the trusted ones.
pubs=$(mktemp -d)
for s in $SERVICES; do
	k=$(key_name "$s")
	[ -n "$k" ] || continue
	for p in "/init/keys/$s/$k.pub" "/init/keys/$s/$k"-[0-9]*.pub; do
		[ -f "$p" ] && cp "$p" "$pubs/"
	done
done
# Certificates (*.pem: the CAs of Kafka's or PostgreSQL's TLS) go along.
for p in /init/trusted/*.pub /init/trusted/*.pem; do
	[ -f "$p" ] && cp "$p" "$pubs/"
done

kafka_props() { # PRINCIPAL
	printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n'
	printf 'sasl.username=%s\nsasl.password=%s\n' "$1" "$(kpw "$1")"
	[ -f /init/trusted/kafka-client.properties ] && cat /init/trusted/kafka-client.properties
	return 0
}

kafka_props admin >/init/kafka/admin.properties
chmod 0444 /init/kafka/admin.properties

for s in $SERVICES; do
	d=/init/keys/$s
	chmod 0755 "$d"
	# Public keys no longer trusted go; the service's own files stay.
	for p in "$d"/*.pub "$d"/*.pem; do
		[ -f "$p" ] && [ ! -f "$pubs/${p##*/}" ] && rm -f "$p"
	done
	cp "$pubs"/* "$d/"
	chmod 0444 "$d"/*.pub
	for p in "$d"/*.pem; do [ -f "$p" ] && chmod 0444 "$p"; done
	principal=$s
	[ "$s" = admin ] && principal=operator
	kafka_props "$principal" >"$d/kafka.properties"
	printf 'postgres:5432:wingman:wingman_%s:%s\n' "$s" "$(ppw "wingman_$s")" >"$d/pgpass"
	[ "$s" = executor ] && cp /init/redis/password "$d/redis.password"
	chown -R "$UID_WINGMAN:$UID_WINGMAN" "$d"
	chmod 0400 "$d/kafka.properties" "$d/pgpass"
	k=$(key_name "$s")
	if [ -n "$k" ]; then
		for p in "$d/$k".key "$d/$k"-[0-9]*.key "$d/$k"-[0-9]*.key.next; do
			[ -f "$p" ] && chmod 0400 "$p"
		done
	fi
	[ "$s" = executor ] && chmod 0400 "$d/redis.password"
done

# For the agents and the operator outside the compose network.
if [ -d /init/export ]; then
	for p in /init/export/*.pub /init/export/*.pem; do
		[ -f "$p" ] && [ ! -f "$pubs/${p##*/}" ] && rm -f "$p"
	done
	cp "$pubs"/* /init/export/
	kafka_props agent >/init/export/kafka-agent.properties
	chmod 0644 /init/export/*.pub
	chmod 0600 /init/export/kafka-agent.properties
fi
rm -rf "$pubs"
echo "wingman-init: keys and credentials ready"
