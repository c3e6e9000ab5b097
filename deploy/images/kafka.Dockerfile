# A Kafka broker from the Maven jars (scripts/kafka/pom.xml) and Debian's JRE.
# deploy/build-images builds it with a context holding libs/*.jar (the jar
# cache of scripts/stack) and log4j2.properties. It has no configuration of
# its own: docker-compose.yml runs deploy/kafka/start.sh, which works the same
# on the official apache/kafka image (java on PATH, jars in /opt/kafka/libs).
ARG BASE=debian:bookworm
FROM ${BASE}
# The JRE's post-install step expects the man directory minimal images drop.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 10002 kafka \
 && useradd -u 10002 -g 10002 -M -d /var/lib/kafka -s /usr/sbin/nologin kafka \
 && install -d -o kafka -g kafka /var/lib/kafka /var/lib/kafka/data
COPY libs/ /opt/kafka/libs/
COPY log4j2.properties /opt/kafka/config/log4j2.properties
ENV KAFKA_OPTS="-Xmx512m -Dwingman.kafka.log=/dev/stdout -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties"
USER kafka
VOLUME /var/lib/kafka/data
