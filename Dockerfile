# The Wingman image (the daemons and the CLI), built from Debian bookworm.
#
#   docker build -t wingman:local .                 on the official debian:bookworm
#   deploy/build-images wingman                     on a base made with debootstrap
#                                                   (--build-arg BASE=wingman/debian:bookworm)
#
# Stages:
#   build       compiles the project with CMake (no sanitizers, no tests)
#   runtime     (default) the binaries with their runtime libraries only, non-root
# The broker, PostgreSQL and Redis images of docker-compose.yml are in
# deploy/images/ (docs/deploy.md).
ARG BASE=debian:bookworm

# ---------------------------------------------------------------- build
FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librdkafka-dev libhiredis-dev libjansson-dev libssl-dev libpq-dev \
      libcurl4-openssl-dev libcmocka-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole tree, as CMake may read any of it. Keep build trees, keys and
# secrets out of the context with .dockerignore (build*/, keys/, secrets/,
# .git/); only the binaries below reach the runtime image in any case.
COPY . /src
# Every program under services/ (wingman, wingman-<stage>) goes to /out;
# only those are compiled (not the tests).
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DWINGMAN_SANITIZE=OFF \
 && cmake --build /build -j"$(nproc)" --target \
      $(sed -n 's/^add_executable(\(wingman[A-Za-z0-9_-]*\).*/\1/p' services/*/CMakeLists.txt) \
 && install -d /out \
 && find /build/services -maxdepth 2 -type f -perm -u+x -name 'wingman*' \
      -exec install -m 0755 -t /out/ {} + \
 && test -x /out/wingman -a -x /out/wingman-executor

# -------------------------------------------------------------- runtime
FROM ${BASE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libhiredis0.14 libjansson4 libssl3 libpq5 libcurl4 ca-certificates \
      libmicrohttpd12 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 10001 wingman \
 && useradd -u 10001 -g 10001 -M -d /nonexistent -s /usr/sbin/nologin wingman \
 && install -d -o wingman -g wingman -m 0750 /var/lib/wingman
COPY --from=build /out/ /usr/local/bin/
# Default policy and voters; docker-compose.yml mounts the real ones over these.
COPY config/ /etc/wingman/
ENV WINGMAN_POLICY_FILE=/etc/wingman/policy.json \
    WINGMAN_CONSENSUS_FILE=/etc/wingman/consensus.json \
    WINGMAN_KEYS_DIR=/run/wingman/keys
USER 10001:10001
WORKDIR /var/lib/wingman
CMD ["wingman", "--help"]
