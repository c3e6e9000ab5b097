/*
 * The floor the pipeline is measured against: four stages that only
 * forward, on the same broker and the same topic layout as Wingman
 * (PREFIX.requests -> .assessments -> .decisions -> .orders -> .results,
 * as many partitions as wingman.requests, keys kept), one thread per
 * stage, each with its own consumer and producer set like the stages'
 * (idempotent, acks=all, linger.ms=2). No parsing, no crypto, no
 * database: what is left is Kafka. Runs until SIGINT/SIGTERM.
 *
 *   relay --brokers B [--prefix wingman-bench]
 *
 * Prints "ready" on stdout once every stage reads its topic from the end.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bench_kafka.h"

#define STAGES 4

static const char *const layout[STAGES + 1] = { "requests", "assessments", "decisions", "orders",
	"results" };
static volatile sig_atomic_t running = 1;

struct stage {
	const char *brokers;
	char in[128], out[128];
	rd_kafka_t *consumer, *producer;
	pthread_t thread;
};

static void
on_signal(int sig)
{
	running = 0;
}

/* Creates the relay's topics like the stack's (partitions of wingman.requests); existing ones stay. */
static int
create_topics(rd_kafka_t *rk, const char *prefix, int n_parts)
{
	rd_kafka_NewTopic_t *topics[STAGES + 1];
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;
	char name[128], err[256];
	int rc = 0;

	for (int i = 0; i <= STAGES; i++) {
		snprintf(name, sizeof(name), "%s.%s", prefix, layout[i]);
		topics[i] = rd_kafka_NewTopic_new(name, n_parts, 1, err, sizeof(err));
	}
	rd_kafka_CreateTopics(rk, topics, STAGES + 1, NULL, q);
	if ((ev = rd_kafka_queue_poll(q, 20000)) == NULL) {
		fprintf(stderr, "relay: no answer to CreateTopics\n");
		rc = -1;
	} else {
		const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
		size_t n = 0;
		const rd_kafka_topic_result_t **tr = res
		    ? rd_kafka_CreateTopics_result_topics(res, &n)
		    : NULL;

		for (size_t i = 0; i < n; i++) {
			rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
			if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
				fprintf(stderr, "relay: create %s: %s\n",
				    rd_kafka_topic_result_name(tr[i]), rd_kafka_err2str(e));
				rc = -1;
			}
		}
		rd_kafka_event_destroy(ev);
	}
	for (int i = 0; i <= STAGES; i++)
		rd_kafka_NewTopic_destroy(topics[i]);
	rd_kafka_queue_destroy(q);
	return rc;
}

/* Every partition of the stage's input from its end, with explicit offsets (no race). */
static int
assign_from_end(struct stage *s)
{
	rd_kafka_topic_partition_list_t *parts;
	int n = -1;

	for (int tries = 0; tries < 50 && (n = bench_partitions(s->consumer, s->in)) <= 0; tries++)
		usleep(200000);
	if (n <= 0)
		return -1;
	parts = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++) {
		int64_t lo, hi = -1;
		for (int tries = 0; tries < 50; tries++) {
			if (rd_kafka_query_watermark_offsets(s->consumer, s->in, p, &lo, &hi,
			        5000) == 0)
				break;
			usleep(200000);
		}
		if (hi < 0) {
			rd_kafka_topic_partition_list_destroy(parts);
			return -1;
		}
		rd_kafka_topic_partition_list_add(parts, s->in, p)->offset = hi;
	}
	rd_kafka_assign(s->consumer, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

static void *
forward(void *arg)
{
	struct stage *s = arg;

	while (running) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, 100);

		if (m != NULL) {
			if (!m->err) {
				while (rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(s->out),
				           RD_KAFKA_V_KEY(m->key, m->key_len),
				           RD_KAFKA_V_VALUE(m->payload, m->len),
				           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				           RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
				    running)
					rd_kafka_poll(s->producer, 10);
			}
			rd_kafka_message_destroy(m);
		}
		rd_kafka_poll(s->producer, 0);
	}
	rd_kafka_flush(s->producer, 10000);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "prefix", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	static struct stage st[STAGES];
	const char *brokers = NULL, *prefix = "wingman-bench";
	rd_kafka_t *admin;
	int ch, n_parts, rc = 1, started = 0;
	char group[160];

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'b')
			brokers = optarg;
		else if (ch == 'p')
			prefix = optarg;
		else {
			fprintf(stderr, "usage: relay --brokers B [--prefix P]\n");
			return 2;
		}
	}
	if (brokers == NULL) {
		fprintf(stderr, "usage: relay --brokers B [--prefix P]\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if ((admin = bench_client(RD_KAFKA_PRODUCER, brokers, NULL, NULL, NULL)) == NULL)
		return 1;
	if ((n_parts = bench_partitions(admin, "wingman.requests")) <= 0 ||
	    create_topics(admin, prefix, n_parts) != 0) {
		fprintf(stderr, "relay: cannot set up the %s.* topics\n", prefix);
		rd_kafka_destroy(admin);
		return 1;
	}
	rd_kafka_destroy(admin);
	for (int i = 0; i < STAGES; i++) {
		snprintf(st[i].in, sizeof(st[i].in), "%s.%s", prefix, layout[i]);
		snprintf(st[i].out, sizeof(st[i].out), "%s.%s", prefix, layout[i + 1]);
		snprintf(group, sizeof(group), "%s-relay-%d", prefix, i);
		if ((st[i].consumer = bench_client(RD_KAFKA_CONSUMER, brokers, group, NULL, NULL)) ==
		        NULL ||
		    (st[i].producer = bench_client(RD_KAFKA_PRODUCER, brokers, NULL, NULL, NULL)) ==
		        NULL ||
		    bench_partitions(st[i].producer, st[i].out) <= 0 ||
		    assign_from_end(&st[i]) != 0) {
			fprintf(stderr, "relay: stage %d (%s -> %s) cannot start\n", i, st[i].in,
			    st[i].out);
			running = 0;
			goto done;
		}
	}
	for (int i = 0; i < STAGES; i++, started++)
		pthread_create(&st[i].thread, NULL, forward, &st[i]);
	printf("ready\n");
	fflush(stdout);
	/* Signals may land on librdkafka's threads: look at the flag, do not pause(). */
	while (running)
		usleep(100000);
	rc = 0;
done:
	for (int i = 0; i < started; i++)
		pthread_join(st[i].thread, NULL);
	for (int i = 0; i < STAGES; i++) {
		if (st[i].consumer != NULL) {
			rd_kafka_consumer_close(st[i].consumer);
			rd_kafka_destroy(st[i].consumer);
		}
		if (st[i].producer != NULL)
			rd_kafka_destroy(st[i].producer);
	}
	return rc;
}
