#include "bench_kafka.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * BENCH_KAFKA_STATS=FILE: every client appends librdkafka's statistics
 * (one JSON document a line, every BENCH_KAFKA_STATS_MS, 5000 by default)
 * to FILE, to count the requests each message costs.
 */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;

static int
on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	const char *path = getenv("BENCH_KAFKA_STATS");
	FILE *f;

	(void)rk;
	(void)opaque;
	pthread_mutex_lock(&stats_lock);
	if (path != NULL && (f = fopen(path, "a")) != NULL) {
		fwrite(json, 1, len, f);
		fputc('\n', f);
		fclose(f);
	}
	pthread_mutex_unlock(&stats_lock);
	return 0;
}

rd_kafka_t *
bench_client(rd_kafka_type_t type, const char *brokers, const char *group, void *opaque,
    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *))
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;
	int bad;

	/* The same producer settings as the stages (common/stage.c). */
	bad = rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
	    (type == RD_KAFKA_PRODUCER
	            ? rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "linger.ms", "2", err, sizeof(err))
	            : rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, sizeof(err)));
	if (!bad && getenv("BENCH_KAFKA_STATS") != NULL) {
		const char *ms = getenv("BENCH_KAFKA_STATS_MS");
		bad = rd_kafka_conf_set(conf, "statistics.interval.ms", ms ? ms : "5000", err,
		    sizeof(err));
		rd_kafka_conf_set_stats_cb(conf, on_stats);
	}
	if (bad) {
		fprintf(stderr, "bench: kafka: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, opaque);
	if (dr != NULL)
		rd_kafka_conf_set_dr_msg_cb(conf, dr);
	if ((rk = rd_kafka_new(type, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench: kafka: %s\n", err);
		rd_kafka_conf_destroy(conf);
	} else if (type == RD_KAFKA_CONSUMER && getenv("BENCH_KAFKA_STATS") != NULL)
		rd_kafka_poll_set_consumer(rk); /* its statistics come with its messages */
	return rk;
}

int
bench_partitions(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	int n = -1;

	if (t != NULL && rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    md->topic_cnt == 1 && md->topics[0].err == 0)
		n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (t != NULL)
		rd_kafka_topic_destroy(t);
	return n;
}
