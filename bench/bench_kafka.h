/* Kafka clients of the benchmark's own programs (bench/loadgen, bench/relay). */
#ifndef WINGMAN_BENCH_KAFKA_H
#define WINGMAN_BENCH_KAFKA_H

#include <librdkafka/rdkafka.h>

/*
 * A producer set like the stages' (idempotent, acks=all, linger.ms=2) with
 * delivery reports to dr (may be NULL), or a consumer in group that commits
 * nothing. opaque reaches the callbacks. NULL with a message on stderr.
 */
rd_kafka_t *bench_client(rd_kafka_type_t type, const char *brokers, const char *group, void *opaque,
    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *));
/* Partitions of topic; -1 when the broker does not know it. */
int bench_partitions(rd_kafka_t *rk, const char *topic);

#endif
