/* Agents and approvers: submit, wait, approve, reject. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "envelope.h"
#include "keys.h"
#include "msg.h"
#include "stage.h"
#include "trust.h"
#include "util.h"

json_t *
topic_messages(const char *topic, const char *key, const char *who)
{
	int64_t deadline = monotonic_ms() + 30000, *end = NULL;
	int n = 0, open_parts = 0;
	rd_kafka_t *rk = topic_reader(topic, NULL, &n);
	json_t *found = NULL;

	if (rk == NULL)
		return NULL;
	if ((end = calloc((size_t)n, sizeof(*end))) == NULL)
		goto done;
	for (int p = 0; p < n; p++) {
		int64_t lo;
		if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &end[p], 10000) != 0) {
			fprintf(stderr, "wingman %s: cannot read the offsets of %s\n", who, topic);
			goto done;
		}
		if (end[p] > lo)
			open_parts++;
	}
	found = json_array();
	while (open_parts > 0) {
		rd_kafka_message_t *m;

		if (monotonic_ms() >= deadline) {
			fprintf(stderr, "wingman %s: %s not read to its end within 30 s\n", who,
			    topic);
			json_decref(found);
			found = NULL;
			break;
		}
		if ((m = rd_kafka_consumer_poll(rk, 200)) == NULL)
			continue;
		if (m->err == 0 && m->partition >= 0 && m->partition < n) {
			if (key == NULL ||
			    (m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0)) {
				json_t *v = json_loadb(m->payload, m->len, JSON_REJECT_DUPLICATES,
				    NULL);
				if (v != NULL)
					json_array_append_new(found, v);
			}
			if (m->offset + 1 >= end[m->partition])
				open_parts--;
		}
		rd_kafka_message_destroy(m);
	}
done:
	free(end);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return found;
}

/*
 * The keys that may end a request (trust rule 9): executor.pub and
 * approval.pub from WINGMAN_KEYS_DIR. Returns 0, or -1 with a message.
 */
static int
result_signers(struct keyring *ring, const char *who)
{
	const char *keys = config_str(cli_config(), CFG_KEYS_DIR);
	char err[512];

	keyring_init(ring);
	if (*keys == '\0') {
		fprintf(stderr,
		    "wingman %s: WINGMAN_KEYS_DIR is not set: results cannot be verified\n", who);
		return -1;
	}
	if (keyring_add(ring, keys, "executor", err, sizeof(err)) != 0 ||
	    keyring_add(ring, keys, "approval", err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman %s: %s\n", who, err);
		keyring_free(ring);
		return -1;
	}
	return 0;
}

/* Partitions of a topic; -1 when the broker does not answer. */
int
topic_partitions(rd_kafka_t *rk, const char *topic)
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

/* A consumer that joins no group: partitions are assigned, nothing is committed. */
static rd_kafka_t *
reader_new(void)
{
	char err[512], group[64], uuid[37];
	rd_kafka_conf_t *conf = kafka_conf_new(brokers(), err, sizeof(err));
	rd_kafka_t *rk;

	if (conf == NULL) {
		fprintf(stderr, "wingman: kafka: %s\n", err);
		return NULL;
	}
	uuid_v4(uuid);
	snprintf(group, sizeof(group), "wingman-cli-%s", uuid);
	if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
	    (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman: kafka: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return rk;
}

rd_kafka_t *
topic_reader(const char *topic, const int64_t *start, int *n_out)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_t *rk;
	int n;

	if ((rk = reader_new()) == NULL)
		return NULL;
	if ((n = topic_partitions(rk, topic)) <= 0) {
		fprintf(stderr, "wingman: cannot read %s from %s\n", topic, brokers());
		rd_kafka_destroy(rk);
		return NULL;
	}
	parts = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset = start
		    ? start[p]
		    : RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	*n_out = n;
	return rk;
}

/*
 * The partition a stage's producer picks for key: librdkafka's default
 * partitioner, consistent_random (CRC32 of the key modulo the partition
 * count; keys are never empty here). Computed by librdkafka's own function
 * so the two cannot drift apart. -1 when the broker does not answer.
 */
static int32_t
key_partition(rd_kafka_t *rk, const char *topic, const char *key)
{
	rd_kafka_topic_t *t;
	int32_t p;
	int n;

	if ((n = topic_partitions(rk, topic)) <= 0 ||
	    (t = rd_kafka_topic_new(rk, topic, NULL)) == NULL)
		return -1;
	p = rd_kafka_msg_partitioner_consistent_random(t, key, strlen(key), n, NULL, NULL);
	rd_kafka_topic_destroy(t);
	return p;
}

rd_kafka_t *
key_reader(const char *topic, const char *key, int from_end)
{
	rd_kafka_topic_partition_list_t *parts;
	int64_t lo, hi;
	int32_t p;
	rd_kafka_t *rk;

	if ((rk = reader_new()) == NULL)
		return NULL;
	if ((p = key_partition(rk, topic, key)) < 0 ||
	    rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) != 0) {
		fprintf(stderr, "wingman: cannot read %s from %s\n", topic, brokers());
		rd_kafka_destroy(rk);
		return NULL;
	}
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, p)->offset = from_end ? hi : lo;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	return rk;
}

rd_kafka_t *
producer_for(const char *topic, char *err, size_t errlen)
{
	rd_kafka_t *rk = kafka_producer_new(brokers(), err, errlen);

	/*
	 * librdkafka looks a topic it has no metadata for up about once a
	 * second: a producer that connected before its first message would
	 * hold that message up to a second. Ask for the topic now.
	 */
	if (rk != NULL && topic_partitions(rk, topic) <= 0) {
		snprintf(err, errlen, "cannot read %s from %s", topic, brokers());
		rd_kafka_destroy(rk);
		return NULL;
	}
	return rk;
}

/*
 * Prints the first result for request_id signed by a stage entitled to its
 * status; 0 executed, 1 other, 3 timeout. Anything else on the topic under
 * this key is ignored with a warning: anyone may write wingman.results.
 */
static int
await_result(rd_kafka_t *rk, const struct keyring *signers, const char *request_id, int timeout_s)
{
	int64_t deadline = monotonic_ms() + (int64_t)timeout_s * 1000;
	int rc = EXIT_TIMEOUT;

	while (monotonic_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		enum envelope_verdict v;
		json_t *result;
		char err[256], kid[80];

		if (m == NULL)
			continue;
		if (m->err || m->key_len != strlen(request_id) ||
		    memcmp(m->key, request_id, m->key_len) != 0) {
			rd_kafka_message_destroy(m);
			continue;
		}
		result = msg_decode(m->payload, m->len, "result", err, sizeof(err));
		rd_kafka_message_destroy(m);
		if (result == NULL || strcmp(msg_str(result, "request_id"), request_id) != 0) {
			json_decref(result);
			continue;
		}
		if ((v = envelope_verify(result, signers, kid, sizeof(kid))) != SIG_OK ||
		    !trust_result_signer_ok(msg_str(result, "status"), kid)) {
			fprintf(stderr, "wingman: ignoring a '%s' result for %s: %s\n",
			    msg_str(result, "status"), request_id,
			    v != SIG_OK
			        ? envelope_verdict_code(v)
			        : "RESULT_SIGNER_NOT_ENTITLED: its signer may not end a request so");
			json_decref(result);
			continue;
		}
		json_dumpf(result, stdout, JSON_INDENT(2));
		putchar('\n');
		if (strcmp(msg_str(result, "status"), "shadow") == 0)
			fprintf(stderr,
			    "wingman: %s: SHADOW MODE: every check passed, NOTHING RAN "
			    "(the environment has \"execute\": false)\n",
			    request_id);
		rc = strcmp(msg_str(result, "status"), "executed") == 0 ? 0 : 1;
		json_decref(result);
		break;
	}
	if (rc == EXIT_TIMEOUT)
		fprintf(stderr, "wingman: no result for %s within %d s\n", request_id, timeout_s);
	return rc;
}

int
cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "worker", required_argument, NULL, 'w' },
		{ "text", required_argument, NULL, 't' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "request-id", required_argument, NULL, 'r' },
		{ "wait", no_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = NULL, *worker = NULL, *text = "", *rid_opt = NULL, *key_path = NULL;
	json_t *cmds = json_array(), *req = NULL;
	int wait = 0, timeout = 60, ch, rc = 1;
	char rid[64], err[512], kid[80];
	rd_kafka_t *producer = NULL, *reader = NULL;
	struct keyring signers;
	EVP_PKEY *key = NULL;

	keyring_init(&signers);

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			env = optarg;
			break;
		case 'w':
			worker = optarg;
			break;
		case 't':
			text = optarg;
			break;
		case 'c':
			json_array_append_new(cmds, json_string(optarg));
			break;
		case 'r':
			rid_opt = optarg;
			break;
		case 'W':
			wait = 1;
			break;
		case 'T':
			timeout = parse_timeout(optarg);
			break;
		case 'k':
			key_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (env == NULL || worker == NULL || json_array_size(cmds) == 0 || optind != argc)
		usage();
	if (wait && result_signers(&signers, "submit") != 0)
		goto done;
	if (rid_opt != NULL)
		snprintf(rid, sizeof(rid), "%s", rid_opt);
	else
		uuid_v4(rid);
	req = msg_new("request", rid);
	json_object_set_new(req, "worker_id", json_string(worker));
	json_object_set_new(req, "environment", json_string(env));
	json_object_set_new(req, "instruction", json_string(text));
	json_object_set(req, "commands", cmds);
	/* The agent's own signature: kid worker-<worker_id>, checked by every stage. */
	snprintf(kid, sizeof(kid), "worker-%s", worker);
	if (key_path != NULL &&
	    ((key = key_load_private(key_path, err, sizeof(err))) == NULL ||
	        envelope_sign(req, kid, key) != 0)) {
		fprintf(stderr, "wingman submit: cannot sign as %s: %s\n", kid,
		    key ? "signing failed" : err);
		goto done;
	}
	/* Refuse locally what every stage would refuse: clearer for the user. */
	if (msg_validate(req, "request", err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman submit: %s\n", err);
		goto done;
	}
	/*
	 * Reader first, from the end of the partition the result will land on,
	 * taken before publishing: the result cannot be missed.
	 */
	if (wait && (reader = key_reader(TOPIC_RESULTS, rid, 1)) == NULL)
		goto done;
	if ((producer = producer_for(TOPIC_REQUESTS, err, sizeof(err))) == NULL ||
	    kafka_publish(producer, TOPIC_REQUESTS, rid, req, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman submit: %s\n", err);
		goto done;
	}
	if (!wait) {
		printf("%s\n", rid);
		rc = 0;
		goto done;
	}
	fprintf(stderr, "wingman: submitted %s, waiting up to %d s\n", rid, timeout);
	rc = await_result(reader, &signers, rid, timeout);
done:
	EVP_PKEY_free(key);
	keyring_free(&signers);
	if (reader != NULL) {
		rd_kafka_consumer_close(reader);
		rd_kafka_destroy(reader);
	}
	if (producer != NULL)
		rd_kafka_destroy(producer);
	json_decref(req);
	json_decref(cmds);
	return rc;
}

int
cmd_wait(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int timeout = 60, ch, rc;
	struct keyring signers;
	rd_kafka_t *reader;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'T')
			timeout = parse_timeout(optarg);
		else
			usage();
	}
	if (optind != argc - 1 || !valid_request_id(argv[optind]))
		usage();
	if (result_signers(&signers, "wait") != 0)
		return 1;
	/* An older request: its partition from the beginning. */
	if ((reader = key_reader(TOPIC_RESULTS, argv[optind], 0)) == NULL) {
		keyring_free(&signers);
		return 1;
	}
	rc = await_result(reader, &signers, argv[optind], timeout);
	rd_kafka_consumer_close(reader);
	rd_kafka_destroy(reader);
	keyring_free(&signers);
	return rc;
}
