# Redis from Debian's package. docker-compose.yml runs deploy/redis/start.sh
# as the redis user, which works the same on the official redis:7 image.
ARG BASE=debian:bookworm
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis -m 0750 /data
USER redis
WORKDIR /data
VOLUME /data
