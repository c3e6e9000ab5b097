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
#include "util.h"

/* Partitions of a topic; -1 when the broker does not answer. */
static int
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

/*
 * A reader of wingman.results that starts at given offsets (or the
 * beginning) without a consumer group: waiting commits nothing.
 */
static rd_kafka_t *
results_reader(const int64_t *start, int *n_out)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts;
	char err[512], group[64], uuid[37];
	rd_kafka_t *rk;
	int n;

	uuid_v4(uuid);
	snprintf(group, sizeof(group), "wingman-cli-%s", uuid);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers(), err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
	    (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman: kafka: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	if ((n = topic_partitions(rk, TOPIC_RESULTS)) <= 0) {
		fprintf(stderr, "wingman: cannot read %s from %s\n", TOPIC_RESULTS, brokers());
		rd_kafka_destroy(rk);
		return NULL;
	}
	parts = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(parts, TOPIC_RESULTS, p)->offset =
		    start ? start[p] : RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	*n_out = n;
	return rk;
}

/* Prints the first result for request_id; 0 executed, 1 other, 3 timeout. */
static int
await_result(rd_kafka_t *rk, const char *request_id, int timeout_s)
{
	int64_t deadline = monotonic_ms() + (int64_t)timeout_s * 1000;
	int rc = EXIT_TIMEOUT;

	while (monotonic_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		json_t *result;
		char err[256];

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
		json_dumpf(result, stdout, JSON_INDENT(2));
		putchar('\n');
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
		{ NULL, 0, NULL, 0 },
	};
	const char *env = NULL, *worker = NULL, *text = "", *rid_opt = NULL;
	json_t *cmds = json_array(), *req = NULL;
	int wait = 0, timeout = 60, ch, rc = 1, n = 0;
	char rid[64], err[512];
	rd_kafka_t *producer = NULL, *reader = NULL;
	int64_t *start = NULL;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': env = optarg; break;
		case 'w': worker = optarg; break;
		case 't': text = optarg; break;
		case 'c': json_array_append_new(cmds, json_string(optarg)); break;
		case 'r': rid_opt = optarg; break;
		case 'W': wait = 1; break;
		case 'T': timeout = parse_timeout(optarg); break;
		default: usage();
		}
	}
	if (env == NULL || worker == NULL || json_array_size(cmds) == 0 || optind != argc)
		usage();
	if (rid_opt != NULL)
		snprintf(rid, sizeof(rid), "%s", rid_opt);
	else
		uuid_v4(rid);
	req = msg_new("request", rid);
	json_object_set_new(req, "worker_id", json_string(worker));
	json_object_set_new(req, "environment", json_string(env));
	json_object_set_new(req, "instruction", json_string(text));
	json_object_set(req, "commands", cmds);
	/* Refuse locally what every stage would refuse: clearer for the user. */
	if (msg_validate(req, "request", err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman submit: %s\n", err);
		goto done;
	}
	if ((producer = kafka_producer_new(brokers(), err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman submit: %s\n", err);
		goto done;
	}
	if (wait) {
		/* Read from the current end, taken before publishing: no race. */
		rd_kafka_t *probe = results_reader(NULL, &n);
		if (probe == NULL)
			goto done;
		start = calloc((size_t)n, sizeof(*start));
		for (int p = 0; p < n; p++) {
			int64_t lo, hi;
			if (rd_kafka_query_watermark_offsets(probe, TOPIC_RESULTS, p, &lo, &hi, 10000)) {
				fprintf(stderr, "wingman submit: cannot read offsets of %s\n", TOPIC_RESULTS);
				rd_kafka_destroy(probe);
				goto done;
			}
			start[p] = hi;
		}
		rd_kafka_destroy(probe);
		if ((reader = results_reader(start, &n)) == NULL)
			goto done;
	}
	if (kafka_publish(producer, TOPIC_REQUESTS, rid, req, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman submit: %s\n", err);
		goto done;
	}
	if (!wait) {
		printf("%s\n", rid);
		rc = 0;
		goto done;
	}
	fprintf(stderr, "wingman: submitted %s, waiting up to %d s\n", rid, timeout);
	rc = await_result(reader, rid, timeout);
done:
	free(start);
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
	int timeout = 60, ch, n, rc;
	rd_kafka_t *reader;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'T')
			timeout = parse_timeout(optarg);
		else
			usage();
	}
	if (optind != argc - 1 || !valid_request_id(argv[optind]))
		usage();
	if ((reader = results_reader(NULL, &n)) == NULL)
		return 1;
	rc = await_result(reader, argv[optind], timeout);
	rd_kafka_consumer_close(reader);
	rd_kafka_destroy(reader);
	return rc;
}

int
cmd_decide(const char *decision, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "as", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *as = NULL, *reason = NULL, *keys = getenv("WINGMAN_KEYS_DIR");
	char kid[80], err[512];
	EVP_PKEY *key = NULL;
	rd_kafka_t *producer = NULL;
	json_t *msg = NULL;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a')
			as = optarg;
		else if (ch == 'r')
			reason = optarg;
		else
			usage();
	}
	if (optind != argc - 1 || as == NULL || (strcmp(decision, "reject") == 0 && reason == NULL))
		usage();
	if (!valid_request_id(argv[optind]) || !valid_name(as)) {
		fprintf(stderr, "wingman %s: request id or approver name is not valid\n", decision);
		return EXIT_USAGE;
	}
	if (keys == NULL) {
		fprintf(stderr, "wingman %s: WINGMAN_KEYS_DIR is not set\n", decision);
		return 1;
	}
	snprintf(kid, sizeof(kid), "approver-%s", as);
	if ((key = key_load_named(keys, kid, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman %s: %s\n", decision, err);
		return 1;
	}
	msg = msg_new("human_decision", argv[optind]);
	json_object_set_new(msg, "approver", json_string(as));
	json_object_set_new(msg, "decision", json_string(decision));
	json_object_set_new(msg, "reason", json_string(reason ? reason : ""));
	json_object_set_new(msg, "channel", json_string("cli"));
	if (envelope_sign(msg, kid, key) != 0 || msg_validate(msg, "human_decision", err, sizeof(err))) {
		fprintf(stderr, "wingman %s: cannot build the decision: %s\n", decision, err);
		goto done;
	}
	if ((producer = kafka_producer_new(brokers(), err, sizeof(err))) == NULL ||
	    kafka_publish(producer, TOPIC_HUMAN_DECISIONS, argv[optind], msg, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman %s: %s\n", decision, err);
		goto done;
	}
	printf("%s %s by %s\n", decision == NULL ? "" : (strcmp(decision, "approve") == 0 ?
	    "approved" : "rejected"), argv[optind], as);
	rc = 0;
done:
	if (producer != NULL)
		rd_kafka_destroy(producer);
	json_decref(msg);
	EVP_PKEY_free(key);
	return rc;
}
