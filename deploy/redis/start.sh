#!/bin/sh
# Redis of docker-compose.yml (the executor's single-use token ledger), on
# the image of deploy/build-images or the official redis:7 image alike.
# The password comes from /run/wingman/redis/password (deploy/init.sh)
# through a config file, never the command line; every write is fsynced and
# nothing is ever evicted.
set -eu
umask 077
pass=$(cat /run/wingman/redis/password)
printf 'requirepass %s\n' "$pass" >/tmp/redis.conf
exec redis-server /tmp/redis.conf --appendonly yes --appendfsync always \
	--maxmemory-policy noeviction --dir /data --save ''
