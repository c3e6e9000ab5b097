# Wingman images, built from Debian bookworm.
#
#   docker build -t wingman:local .                       the daemons and the CLI
#   docker build --target kafka -t wingman-kafka:local .  a single-node KRaft broker
#
# docker-compose.yml builds both. Stages:
#   build       compiles the project with CMake (no sanitizers, no tests)
#   kafka-jars  fetches the pinned Kafka jars with Maven (scripts/kafka/pom.xml)
#   kafka       JRE + those jars: the broker for docker-compose.yml
#   runtime     (default) the binaries with their runtime libraries only, non-root

# ---------------------------------------------------------------- build
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librdkafka-dev libhiredis-dev libjansson-dev libssl-dev libpq-dev \
      libcurl4-openssl-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole tree, as CMake may read any of it. Keep build trees, keys and
# secrets out of the context with .dockerignore (build*/, keys/, secrets/,
# .git/); only the binaries below reach the runtime image in any case.
COPY . /src
# Every program under services/ (wingman, wingman-<stage>) goes to /out.
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DWINGMAN_SANITIZE=OFF \
 && cmake --build /build -j"$(nproc)" \
 && install -d /out \
 && find /build/services -maxdepth 2 -type f -perm -u+x -name 'wingman*' \
      -exec install -m 0755 -t /out/ {} + \
 && test -x /out/wingman -a -x /out/wingman-executor

# ----------------------------------------------------------- kafka-jars
FROM debian:bookworm AS kafka-jars
RUN apt-get update \
 && apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/kafka/pom.xml /kafka/pom.xml
RUN mvn -q -B -f /kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=/kafka/libs

# ---------------------------------------------------------------- kafka
FROM debian:bookworm-slim AS kafka
# The JRE's post-install step expects the man directory that slim images drop.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY --from=kafka-jars /kafka/libs /opt/kafka/libs
COPY scripts/kafka/log4j2.properties /opt/kafka/log4j2.properties
# One node is broker and controller. Clients in the compose network reach it
# as kafka:9092; the controller listener stays inside the container.
RUN printf '%s\n' \
      'process.roles=broker,controller' \
      'node.id=1' \
      'controller.quorum.voters=1@127.0.0.1:9093' \
      'listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093' \
      'advertised.listeners=PLAINTEXT://kafka:9092' \
      'controller.listener.names=CONTROLLER' \
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT' \
      'inter.broker.listener.name=PLAINTEXT' \
      'log.dirs=/var/lib/kafka/data' \
      'num.partitions=3' \
      'offsets.topic.replication.factor=1' \
      'transaction.state.log.replication.factor=1' \
      'transaction.state.log.min.isr=1' \
      'group.initial.rebalance.delay.ms=0' \
      'auto.create.topics.enable=false' \
      > /opt/kafka/server.properties \
 && groupadd -g 10002 kafka \
 && useradd -u 10002 -g 10002 -M -d /var/lib/kafka -s /usr/sbin/nologin kafka \
 && install -d -o kafka -g kafka /var/lib/kafka
ENV KAFKA_OPTS="-Xmx512m -Dwingman.kafka.log=/dev/stdout -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties"
USER kafka
VOLUME /var/lib/kafka
EXPOSE 9092
# Formats the storage on first start (KAFKA_CLUSTER_ID must be set), then runs.
CMD ["sh", "-c", "test -f /var/lib/kafka/data/meta.properties || java $KAFKA_OPTS -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format -t \"${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}\" -c /opt/kafka/server.properties || exit 1; exec java $KAFKA_OPTS -cp '/opt/kafka/libs/*' kafka.Kafka /opt/kafka/server.properties"]

# -------------------------------------------------------------- runtime
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libhiredis0.14 libjansson4 libssl3 libpq5 libcurl4 ca-certificates \
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
