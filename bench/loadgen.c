/*
 * The benchmark's client: one persistent Kafka producer and one results
 * consumer, as an agent library would hold them (not a CLI per request).
 * Sends requests with unique ids and matches each result by key, so it
 * sees what was lost or answered twice. Prints one line of key=value
 * figures; asserts nothing.
 *
 *   loadgen --brokers B --prefix wingman --env test --cmd "docker inspect x" \
 *       (--sequential N | --rate R --seconds S) [--expect STATUS]
 *
 * --prefix names the topics PREFIX.requests and PREFIX.results (the relay
 * uses its own prefix). --sequential sends one request after the previous
 * answer; --rate sends open-loop at R per second for S seconds, on a fixed
 * schedule, and measures each latency from the request's scheduled time,
 * so a stalled sender cannot hide a slow pipeline. --expect counts results
 * whose status is anything else as bad.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "bench_kafka.h"

#define MAX_REQUESTS 200000
/* Stop waiting when nothing arrived for this long (--drain-idle-ms). */
#define DRAIN_IDLE_MS 5000
#define DRAIN_MAX_MS 60000

struct run {
	const char *brokers, *env, *cmd, *expect;
	char requests[128], results[128], prefix_id[40];
	long n; /* requests to send */
	double rate; /* 0: sequential */
	rd_kafka_t *producer, *consumer;
	int64_t *sent_us; /* scheduled send time, 0 until sent */
	_Atomic int *answers; /* results seen per request */
	int64_t *latency_us; /* of the first answer */
	atomic_long n_sent, n_answered, n_dup, n_bad, n_foreign;
	atomic_int produce_errors;
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_until_us(int64_t t)
{
	int64_t d = t - now_us();

	if (d > 0) {
		struct timespec ts = { d / 1000000, (d % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct run *r = opaque;

	if (m->err)
		atomic_fetch_add(&r->produce_errors, 1);
}

/* Every partition of the results topic from its current end: no result of ours is missed. */
static int
assign_from_end(struct run *r)
{
	rd_kafka_topic_partition_list_t *parts;
	int n = bench_partitions(r->consumer, r->results);

	if (n <= 0) {
		fprintf(stderr, "loadgen: no topic %s\n", r->results);
		return -1;
	}
	parts = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++) {
		int64_t lo, hi;
		if (rd_kafka_query_watermark_offsets(r->consumer, r->results, p, &lo, &hi, 10000)) {
			fprintf(stderr, "loadgen: cannot read the offsets of %s\n", r->results);
			rd_kafka_topic_partition_list_destroy(parts);
			return -1;
		}
		rd_kafka_topic_partition_list_add(parts, r->results, p)->offset = hi;
	}
	rd_kafka_assign(r->consumer, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

static char *
request_text(const struct run *r, long i, char *id, size_t idlen)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	json_t *req;
	char *text;

	snprintf(id, idlen, "%s-%ld", r->prefix_id, i);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	req = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:[s], s:s}", "v", 1, "type", "request",
	    "request_id", id, "worker_id", "bench", "environment", r->env, "instruction",
	    "benchmark", "commands", r->cmd, "ts", ts);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	return text;
}

static int
send_one(struct run *r, long i, int64_t at_us)
{
	char id[64];
	char *text = request_text(r, i, id, sizeof(id));
	rd_kafka_resp_err_t e;

	if (text == NULL)
		return -1;
	__atomic_store_n(&r->sent_us[i], at_us, __ATOMIC_RELEASE);
	e = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->requests),
	    RD_KAFKA_V_KEY(id, strlen(id)), RD_KAFKA_V_VALUE(text, strlen(text)),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
	if (e) {
		free(text);
		atomic_fetch_add(&r->produce_errors, 1);
		return -1;
	}
	atomic_fetch_add(&r->n_sent, 1);
	rd_kafka_poll(r->producer, 0);
	return 0;
}

/* Handles one consumed message; returns 1 when it answered one of ours. */
static int
on_result(struct run *r, const rd_kafka_message_t *m)
{
	size_t plen = strlen(r->prefix_id);
	long i;
	char *end;

	if (m->err || m->key_len <= plen + 1 || m->key_len > 63 ||
	    memcmp(m->key, r->prefix_id, plen) != 0 || ((const char *)m->key)[plen] != '-') {
		if (!m->err)
			atomic_fetch_add(&r->n_foreign, 1);
		return 0;
	}
	{
		char key[64];
		memcpy(key, m->key, m->key_len);
		key[m->key_len] = '\0';
		i = strtol(key + plen + 1, &end, 10);
		if (*end != '\0' || i < 0 || i >= r->n ||
		    __atomic_load_n(&r->sent_us[i], __ATOMIC_ACQUIRE) == 0)
			return 0;
	}
	if (atomic_fetch_add(&r->answers[i], 1) > 0) {
		atomic_fetch_add(&r->n_dup, 1);
		return 0;
	}
	r->latency_us[i] = now_us() - __atomic_load_n(&r->sent_us[i], __ATOMIC_ACQUIRE);
	atomic_fetch_add(&r->n_answered, 1);
	if (r->expect != NULL) {
		json_t *v = json_loadb(m->payload, m->len, 0, NULL);
		const char *st = json_string_value(json_object_get(v, "status"));
		if (st == NULL || strcmp(st, r->expect) != 0)
			atomic_fetch_add(&r->n_bad, 1);
		json_decref(v);
	}
	return 1;
}

static void
consume_for(struct run *r, int ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, ms);

	if (m != NULL) {
		on_result(r, m);
		rd_kafka_message_destroy(m);
	}
}

static void *
sender(void *arg)
{
	struct run *r = arg;
	int64_t start = now_us() + 1000, gap = (int64_t)(1e6 / r->rate);

	for (long i = 0; i < r->n; i++) {
		int64_t at = start + i * gap;
		sleep_until_us(at);
		send_one(r, i, at);
	}
	rd_kafka_flush(r->producer, 30000);
	return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const int64_t *sorted, long n, double p)
{
	long k;

	if (n == 0)
		return -1;
	k = (long)(p * (double)n + 0.999999) - 1;
	return sorted[k < 0 ? 0 : k >= n ? n - 1 : k] / 1000.0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen --brokers B --prefix P --env E --cmd C "
	    "(--sequential N | --rate R --seconds S) [--expect STATUS] [--drain-idle-ms MS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "env", required_argument, NULL, 'e' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "sequential", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "expect", required_argument, NULL, 'x' },
		{ "drain-idle-ms", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	static struct run r;
	const char *prefix = "wingman";
	double seconds = 0;
	long drain_idle_ms = DRAIN_IDLE_MS;
	int64_t t0, t_end, last_seen;
	int64_t *lat;
	long n_lat = 0, answered_prev;
	struct rusage ru;
	pthread_t th;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			r.brokers = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'e':
			r.env = optarg;
			break;
		case 'c':
			r.cmd = optarg;
			break;
		case 'n':
			r.n = strtol(optarg, NULL, 10);
			break;
		case 'r':
			r.rate = strtod(optarg, NULL);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'x':
			r.expect = optarg;
			break;
		case 'd':
			drain_idle_ms = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (r.brokers == NULL || r.env == NULL || r.cmd == NULL || optind != argc)
		usage();
	if (r.rate > 0)
		r.n = (long)(r.rate * seconds);
	if (r.n <= 0 || r.n > MAX_REQUESTS)
		usage();
	snprintf(r.requests, sizeof(r.requests), "%s.requests", prefix);
	snprintf(r.results, sizeof(r.results), "%s.results", prefix);
	/* Unique per run: results of earlier runs (or of anyone else) never match. */
	snprintf(r.prefix_id, sizeof(r.prefix_id), "bench%lx%x", (long)time(NULL),
	    (unsigned)getpid());
	fprintf(stderr, "loadgen: request ids prefix_id=%s\n", r.prefix_id);
	r.sent_us = calloc((size_t)r.n, sizeof(*r.sent_us));
	r.latency_us = calloc((size_t)r.n, sizeof(*r.latency_us));
	r.answers = calloc((size_t)r.n, sizeof(*r.answers));
	lat = calloc((size_t)r.n, sizeof(*lat));
	if (!r.sent_us || !r.latency_us || !r.answers || !lat ||
	    (r.producer = bench_client(RD_KAFKA_PRODUCER, r.brokers, NULL, &r, on_delivery)) ==
	        NULL ||
	    (r.consumer = bench_client(RD_KAFKA_CONSUMER, r.brokers, "wingman-bench-loadgen", &r,
	         NULL)) == NULL ||
	    bench_partitions(r.producer, r.requests) <= 0 || assign_from_end(&r) != 0)
		return 1;
	/* Let the consumer reach its partitions before the clock starts. */
	for (int i = 0; i < 10; i++)
		consume_for(&r, 50);

	t0 = now_us();
	if (r.rate > 0) {
		pthread_create(&th, NULL, sender, &r);
	} else {
		for (long i = 0; i < r.n; i++) {
			int64_t deadline = now_us() + 30000000;
			answered_prev = atomic_load(&r.n_answered);
			send_one(&r, i, now_us());
			while (atomic_load(&r.n_answered) == answered_prev && now_us() < deadline) {
				rd_kafka_poll(r.producer, 0);
				consume_for(&r, 5);
			}
		}
	}
	/* Drain: until every request is answered, or nothing arrived for a while. */
	last_seen = now_us();
	answered_prev = -1;
	for (;;) {
		long sent = atomic_load(&r.n_sent), answered = atomic_load(&r.n_answered);
		int sending = r.rate > 0 && sent < r.n;

		if (!sending && answered >= sent)
			break;
		if (answered != answered_prev) {
			answered_prev = answered;
			last_seen = now_us();
		}
		if (!sending &&
		    (now_us() - last_seen > (int64_t)drain_idle_ms * 1000 ||
		        now_us() - t0 > (int64_t)(seconds * 1e6) + DRAIN_MAX_MS * 1000))
			break;
		consume_for(&r, 20);
	}
	t_end = now_us();
	if (r.rate > 0)
		pthread_join(th, NULL);
	/* A last look for duplicates that arrive just after the last answer. */
	for (int64_t until = now_us() + 300000; now_us() < until;)
		consume_for(&r, 20);

	for (long i = 0; i < r.n; i++)
		if (r.answers[i] > 0)
			lat[n_lat++] = r.latency_us[i];
	qsort(lat, (size_t)n_lat, sizeof(*lat), cmp_i64);
	getrusage(RUSAGE_SELF, &ru);
	printf("mode=%s target_rate=%.0f sent=%ld answered=%ld lost=%ld duplicates=%ld bad_status=%ld "
	       "produce_errors=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f throughput=%.1f "
	       "client_cpu_s=%.3f\n",
	    r.rate > 0 ? "rate" : "sequential", r.rate, atomic_load(&r.n_sent),
	    atomic_load(&r.n_answered), atomic_load(&r.n_sent) - atomic_load(&r.n_answered),
	    atomic_load(&r.n_dup), atomic_load(&r.n_bad), atomic_load(&r.produce_errors),
	    pct(lat, n_lat, 0.50), pct(lat, n_lat, 0.90), pct(lat, n_lat, 0.99),
	    n_lat ? lat[n_lat - 1] / 1000.0 : -1, n_lat / ((t_end - t0) / 1e6),
	    ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	        (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	rd_kafka_consumer_close(r.consumer);
	rd_kafka_destroy(r.consumer);
	rd_kafka_flush(r.producer, 10000);
	rd_kafka_destroy(r.producer);
	free(r.sent_us);
	free(r.latency_us);
	free((void *)r.answers);
	free(lat);
	return 0;
}
