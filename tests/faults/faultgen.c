/*
 * The fault harness's load: one persistent producer and one results
 * consumer (as an agent library holds them) send a steady, mixed stream of
 * requests and record what was sent and every result that came back, so a
 * checker outside the daemons can judge each request.
 *
 *   faultgen --brokers B --prefix ID --rate R --seconds S --drain S \
 *       --sent FILE --results FILE [--tag TAG]
 *
 * The targets are wingman-test-fault-1..3, or wingman-test-fault-TAG-1..3
 * with --tag (one set per stack on a shared engine).
 *
 * A request's id is ID-N-KIND, KIND saying what should become of it and
 * what the scripted approver (tests/faults/run) does with it:
 *   auto     inspect or logs, auto-approved by the policy
 *   approve  restart, stop+start or exec, approved by bob
 *   reject   restart, rejected by bob
 *   expire   restart in the environment `faults-expire` (a short approval
 *            timeout), left alone
 *   race     restart in `faults-expire`, approved around its expiry: the
 *            approval and the expiry race, one of them wins
 *   invalid  a command outside the grammar or the environment's containers
 * One request in 20 (an approved restart) is sent a second time, the same
 * bytes under the same id, a few requests later: one request, one outcome.
 * A request counts as sent when the broker acknowledged it (delivery
 * report); the sent file has one JSON line per such request. The results
 * file has every result whose key starts with ID, as received, one a line.
 * The sender stops after S seconds (or at SIGTERM); then it drains results
 * until every sent request has one, or --drain seconds passed, then lingers
 * two seconds for late duplicates. Prints one key=value line; asserts
 * nothing (tests/faults/check.py judges).
 */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#define MAX_REQUESTS 100000
#define C1 "wingman-test-fault-1"
#define C2 "wingman-test-fault-2"
#define C3 "wingman-test-fault-3"

struct kind {
	const char *kind, *env;
	const char *cmds[3];
};

/* One cycle of 20 requests: 8 auto, 6 approved, 2 rejected, 1 to expire, 1 race, 2 invalid. */
static const struct kind cycle[20] = {
	{ "auto", "test", { "docker inspect " C3 } },
	{ "approve", "test", { "docker restart -t 0 " C1 } },
	{ "auto", "test", { "docker logs --tail 5 " C3 } },
	{ "reject", "test", { "docker restart -t 0 " C1 } },
	{ "auto", "test", { "docker inspect " C1 } },
	{ "approve", "test", { "docker exec " C3 " true" } },
	{ "invalid", "test", { "docker rm " C1 } },
	{ "auto", "test", { "docker logs --tail 5 " C2 } },
	{ "race", "faults-expire", { "docker restart -t 0 " C1 } },
	{ "approve", "test", { "docker stop -t 0 " C2, "docker start " C2 } },
	{ "auto", "test", { "docker inspect " C3 } },
	{ "approve", "test", { "docker restart -t 0 " C1 } },
	{ "auto", "test", { "docker logs --tail 5 " C3 } },
	{ "invalid", "test", { "docker restart wingman-prd-fault" } },
	{ "approve", "test", { "docker exec " C3 " true" } },
	{ "reject", "test", { "docker exec " C3 " true" } },
	{ "auto", "test", { "docker inspect " C2 } },
	{ "expire", "faults-expire", { "docker restart -t 0 " C1 } },
	{ "approve", "test", { "docker restart -t 0 " C1 } },
	{ "auto", "test", { "docker logs --tail 5 " C1 } },
};

struct run {
	const char *brokers, *prefix, *tag;
	FILE *sent, *results;
	rd_kafka_t *producer, *consumer;
	_Atomic int *answers;
	char (*lines)[1024]; /* the sent line of each request, written on delivery */
	char **texts; /* each request as sent, for the one sent twice */
	long n_sent, n_acked, n_answered, n_results, n_errors, n_again, n_again_acked;
};

static volatile sig_atomic_t stop_sending;

static void
on_term(int sig)
{
	(void)sig;
	stop_sending = 1;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct run *r = opaque;
	long i = (long)(intptr_t)m->_private;

	(void)rk;
	if (i < 0) { /* a request sent again */
		if (m->err)
			r->n_errors++;
		r->n_again_acked++;
		return;
	}
	if (m->err) {
		r->n_errors++;
		fprintf(stderr, "faultgen: request %ld not delivered: %s\n", i,
		    rd_kafka_err2str(m->err));
		return;
	}
	r->n_acked++;
	fprintf(r->sent, "%s\n", r->lines[i]);
	fflush(r->sent);
}

static rd_kafka_t *
client(struct run *r, rd_kafka_type_t type)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;
	int bad;

	/*
	 * A request is retried through a broker restart (up to two minutes),
	 * idempotently, as the stages' producers are.
	 */
	bad = rd_kafka_conf_set(conf, "bootstrap.servers", r->brokers, err, sizeof(err)) ||
	    (type == RD_KAFKA_PRODUCER
	            ? rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "message.timeout.ms", "120000", err, sizeof(err))
	            : rd_kafka_conf_set(conf, "group.id", "wingman-faultgen", err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
	                rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, sizeof(err)));
	if (bad) {
		fprintf(stderr, "faultgen: kafka: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, r);
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	if ((rk = rd_kafka_new(type, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "faultgen: kafka: %s\n", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* Every partition of wingman.results from its current end. */
static int
assign_from_end(struct run *r)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_topic_t *t = rd_kafka_topic_new(r->consumer, "wingman.results", NULL);
	int n = -1;

	if (t != NULL && rd_kafka_metadata(r->consumer, 0, t, &md, 10000) == 0 &&
	    md->topic_cnt == 1 && md->topics[0].err == 0)
		n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (t != NULL)
		rd_kafka_topic_destroy(t);
	if (n <= 0) {
		fprintf(stderr, "faultgen: no topic wingman.results\n");
		return -1;
	}
	parts = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++) {
		int64_t lo, hi;
		if (rd_kafka_query_watermark_offsets(r->consumer, "wingman.results", p, &lo, &hi,
		        10000)) {
			rd_kafka_topic_partition_list_destroy(parts);
			fprintf(stderr, "faultgen: cannot read the offsets of wingman.results\n");
			return -1;
		}
		rd_kafka_topic_partition_list_add(parts, "wingman.results", p)->offset = hi;
	}
	rd_kafka_assign(r->consumer, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

/* cmd with "wingman-test-fault-" followed by "TAG-" when there is a tag. */
static json_t *
target(const struct run *r, const char *cmd)
{
	static const char stem[] = "wingman-test-fault-";
	const char *at = strstr(cmd, stem);
	char buf[512];

	if (r->tag == NULL || at == NULL)
		return json_string(cmd);
	snprintf(buf, sizeof(buf), "%.*s%s%s-%s", (int)(at - cmd), cmd, stem, r->tag,
	    at + sizeof(stem) - 1);
	return json_string(buf);
}

static int
send_one(struct run *r, long i)
{
	const struct kind *k = &cycle[i % 20];
	char id[96], ts[32];
	time_t t = time(NULL);
	struct tm tm;
	json_t *cmds = json_array(), *req, *line;
	char *text, *ltext;

	snprintf(id, sizeof(id), "%s-%ld-%s", r->prefix, i, k->kind);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	for (int c = 0; c < 3 && k->cmds[c] != NULL; c++)
		json_array_append_new(cmds, target(r, k->cmds[c]));
	req = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:O, s:s}", "v", 1, "type", "request",
	    "request_id", id, "worker_id", "agent-7", "environment", k->env, "instruction",
	    "fault harness load", "commands", cmds, "ts", ts);
	line = json_pack("{s:s, s:s, s:s, s:O, s:I}", "id", id, "kind", k->kind, "env", k->env,
	    "commands", cmds, "sent_unix", (json_int_t)t);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	ltext = line ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(req);
	json_decref(line);
	json_decref(cmds);
	if (text == NULL || ltext == NULL || strlen(ltext) >= sizeof(r->lines[0])) {
		free(text);
		free(ltext);
		return -1;
	}
	strcpy(r->lines[i], ltext);
	free(ltext);
	r->texts[i] = text;
	while (rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC("wingman.requests"),
	           RD_KAFKA_V_KEY(id, strlen(id)), RD_KAFKA_V_VALUE(text, strlen(text)),
	           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(intptr_t)i),
	           RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(r->producer, 100);
	r->n_sent++;
	return 0;
}

/* Sends request i again, byte for byte (not recorded again: one request). */
static void
send_again(struct run *r, long i)
{
	const char *id_end;
	char id[96];

	if (r->texts[i] == NULL || (id_end = strchr(r->lines[i] + 7, '"')) == NULL ||
	    id_end - (r->lines[i] + 7) >= (long)sizeof(id))
		return;
	/* The sent line starts {"id":"ID" */
	memcpy(id, r->lines[i] + 7, (size_t)(id_end - (r->lines[i] + 7)));
	id[id_end - (r->lines[i] + 7)] = '\0';
	while (
	    rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC("wingman.requests"),
	        RD_KAFKA_V_KEY(id, strlen(id)), RD_KAFKA_V_VALUE(r->texts[i], strlen(r->texts[i])),
	        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1),
	        RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(r->producer, 100);
	r->n_again++;
}

/* Records one consumed result if it answers one of ours. */
static void
consume_for(struct run *r, int ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, ms);
	size_t plen = strlen(r->prefix);
	char key[128], *end;
	long i;

	if (m == NULL)
		return;
	if (!m->err && m->key_len > plen + 1 && m->key_len < sizeof(key) &&
	    memcmp(m->key, r->prefix, plen) == 0 && ((const char *)m->key)[plen] == '-') {
		memcpy(key, m->key, m->key_len);
		key[m->key_len] = '\0';
		i = strtol(key + plen + 1, &end, 10);
		/* One line per result: a payload with a newline is re-encoded. */
		json_t *v = json_loadb(m->payload, m->len, 0, NULL);
		char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
		fprintf(r->results, "%s\n", text ? text : "{\"undecodable\":true}");
		fflush(r->results);
		free(text);
		json_decref(v);
		r->n_results++;
		if (*end == '-' && i >= 0 && i < MAX_REQUESTS &&
		    atomic_fetch_add(&r->answers[i], 1) == 0)
			r->n_answered++;
	}
	rd_kafka_message_destroy(m);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: faultgen --brokers B --prefix ID --rate R --seconds S --drain S "
	    "--sent FILE --results FILE [--tag TAG]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "drain", required_argument, NULL, 'd' },
		{ "sent", required_argument, NULL, 'S' },
		{ "results", required_argument, NULL, 'R' },
		{ "tag", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static struct run r;
	double rate = 0, seconds = 0, drain = 120;
	const char *sent_path = NULL, *results_path = NULL;
	int64_t t0, gap, until;
	long n;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			r.brokers = optarg;
			break;
		case 'p':
			r.prefix = optarg;
			break;
		case 'r':
			rate = strtod(optarg, NULL);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'd':
			drain = strtod(optarg, NULL);
			break;
		case 'S':
			sent_path = optarg;
			break;
		case 'R':
			results_path = optarg;
			break;
		case 't':
			r.tag = optarg;
			break;
		default:
			usage();
		}
	}
	if (r.brokers == NULL || r.prefix == NULL || sent_path == NULL || results_path == NULL ||
	    rate <= 0 || seconds <= 0 || optind != argc)
		usage();
	n = (long)(rate * seconds);
	if (n <= 0 || n > MAX_REQUESTS)
		usage();
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	r.answers = calloc(MAX_REQUESTS, sizeof(*r.answers));
	r.lines = calloc((size_t)n, sizeof(*r.lines));
	r.texts = calloc((size_t)n, sizeof(*r.texts));
	if (r.answers == NULL || r.lines == NULL || r.texts == NULL ||
	    (r.sent = fopen(sent_path, "w")) == NULL ||
	    (r.results = fopen(results_path, "w")) == NULL ||
	    (r.producer = client(&r, RD_KAFKA_PRODUCER)) == NULL ||
	    (r.consumer = client(&r, RD_KAFKA_CONSUMER)) == NULL || assign_from_end(&r) != 0)
		return 1;
	for (int i = 0; i < 10; i++)
		consume_for(&r, 50);

	t0 = now_ms();
	gap = (int64_t)(1000.0 / rate);
	for (long i = 0; i < n && !stop_sending; i++) {
		while (now_ms() < t0 + i * gap) {
			rd_kafka_poll(r.producer, 0);
			consume_for(&r, 10);
		}
		send_one(&r, i);
		if (i % 20 == 15)
			send_again(&r, i - 4);
	}
	/* Every request acknowledged (or given up on by librdkafka) first. */
	while (r.n_acked + r.n_again_acked + r.n_errors < r.n_sent + r.n_again) {
		rd_kafka_poll(r.producer, 10);
		consume_for(&r, 10);
	}
	until = now_ms() + (int64_t)(drain * 1000);
	while (r.n_answered < r.n_acked && now_ms() < until)
		consume_for(&r, 50);
	for (until = now_ms() + 2000; now_ms() < until;)
		consume_for(&r, 50);
	printf("sent=%ld acked=%ld sent_again=%ld produce_errors=%ld answered=%ld results=%ld\n",
	    r.n_sent, r.n_acked, r.n_again, r.n_errors, r.n_answered, r.n_results);
	rd_kafka_consumer_close(r.consumer);
	rd_kafka_destroy(r.consumer);
	rd_kafka_destroy(r.producer);
	fclose(r.sent);
	fclose(r.results);
	free((void *)r.answers);
	for (long i = 0; i < n; i++)
		free(r.texts[i]);
	free(r.texts);
	free(r.lines);
	return 0;
}
