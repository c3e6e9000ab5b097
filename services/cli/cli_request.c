/* Agents and approvers: submit, wait, approve, reject. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "envelope.h"
#include "keys.h"
#include "msg.h"
#include "stage.h"
#include "trust.h"
#include "util.h"

/*
 * The keys that may end a request (trust rule 9): executor.pub and
 * approval.pub from WINGMAN_KEYS_DIR. Returns 0, or -1 with a message.
 */
static int
result_signers(struct keyring *ring, const char *who)
{
	const char *keys = getenv("WINGMAN_KEYS_DIR");
	char err[512];

	keyring_init(ring);
	if (keys == NULL || *keys == '\0') {
		fprintf(stderr, "wingman %s: WINGMAN_KEYS_DIR is not set: results cannot be verified\n",
		    who);
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
			    msg_str(result, "status"), request_id, v != SIG_OK ? envelope_verdict_code(v) :
			    "RESULT_SIGNER_NOT_ENTITLED: its signer may not end a request so");
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
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = NULL, *worker = NULL, *text = "", *rid_opt = NULL, *key_path = NULL;
	json_t *cmds = json_array(), *req = NULL;
	int wait = 0, timeout = 60, ch, rc = 1, n = 0;
	char rid[64], err[512], kid[80];
	rd_kafka_t *producer = NULL, *reader = NULL;
	int64_t *start = NULL;
	struct keyring signers;
	EVP_PKEY *key = NULL;

	keyring_init(&signers);

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': env = optarg; break;
		case 'w': worker = optarg; break;
		case 't': text = optarg; break;
		case 'c': json_array_append_new(cmds, json_string(optarg)); break;
		case 'r': rid_opt = optarg; break;
		case 'W': wait = 1; break;
		case 'T': timeout = parse_timeout(optarg); break;
		case 'k': key_path = optarg; break;
		default: usage();
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
	if (key_path != NULL && ((key = key_load_private(key_path, err, sizeof(err))) == NULL ||
	    envelope_sign(req, kid, key) != 0)) {
		fprintf(stderr, "wingman submit: cannot sign as %s: %s\n", kid, key ? "signing failed" : err);
		goto done;
	}
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
	rc = await_result(reader, &signers, rid, timeout);
done:
	EVP_PKEY_free(key);
	keyring_free(&signers);
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
	if ((reader = results_reader(NULL, &n)) == NULL) {
		keyring_free(&signers);
		return 1;
	}
	rc = await_result(reader, &signers, argv[optind], timeout);
	rd_kafka_consumer_close(reader);
	rd_kafka_destroy(reader);
	keyring_free(&signers);
	return rc;
}

/*
 * The commands of a request waiting in wingman-approval, read from its
 * state in PostgreSQL: the approver signs exactly these (trust rule 5), and
 * the executor checks them against the consensus-signed request, so a
 * tampered row only makes the approval count for nothing. New or NULL.
 */
static json_t *
pending_commands(const char *request_id, const char *who)
{
	const char *conninfo = getenv("WINGMAN_PG_CONNINFO");
	const char *p[] = { request_id };
	json_t *assessment = NULL, *commands = NULL;
	PGresult *r = NULL;
	PGconn *c;

	if (conninfo == NULL) {
		fprintf(stderr, "wingman %s: WINGMAN_PG_CONNINFO is not set: give the commands with "
		    "--cmd\n", who);
		return NULL;
	}
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "wingman %s: PostgreSQL: %s", who, PQerrorMessage(c));
		goto done;
	}
	r = PQexecParams(c, "SELECT assessment FROM approval_requests WHERE request_id = $1", 1,
	    NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "wingman %s: PostgreSQL: %s", who, PQerrorMessage(c));
		goto done;
	}
	if (PQntuples(r) != 1) {
		fprintf(stderr, "wingman %s: request %s is not known to wingman-approval (not assessed "
		    "yet, or never sent)\n", who, request_id);
		goto done;
	}
	assessment = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	commands = json_deep_copy(json_object_get(json_object_get(assessment, "request"), "commands"));
	if (!json_is_array(commands) || json_array_size(commands) == 0) {
		fprintf(stderr, "wingman %s: the stored request %s has no commands\n", who, request_id);
		json_decref(commands);
		commands = NULL;
	}
done:
	json_decref(assessment);
	PQclear(r);
	PQfinish(c);
	return commands;
}

int
cmd_decide(const char *decision, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "as", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ "cmd", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *as = NULL, *reason = NULL, *keys = getenv("WINGMAN_KEYS_DIR");
	char kid[80], err[512] = "";
	EVP_PKEY *key = NULL;
	rd_kafka_t *producer = NULL;
	json_t *msg = NULL, *commands = json_array(), *c;
	size_t i;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a')
			as = optarg;
		else if (ch == 'r')
			reason = optarg;
		else if (ch == 'c')
			json_array_append_new(commands, json_string(optarg));
		else
			usage();
	}
	if (optind != argc - 1 || as == NULL || (strcmp(decision, "reject") == 0 && reason == NULL))
		usage();
	if (!valid_request_id(argv[optind]) || !valid_name(as)) {
		fprintf(stderr, "wingman %s: request id or approver name is not valid\n", decision);
		rc = EXIT_USAGE;
		goto done;
	}
	if (keys == NULL) {
		fprintf(stderr, "wingman %s: WINGMAN_KEYS_DIR is not set\n", decision);
		goto done;
	}
	snprintf(kid, sizeof(kid), "approver-%s", as);
	if ((key = key_load_named(keys, kid, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman %s: %s\n", decision, err);
		goto done;
	}
	if (json_array_size(commands) == 0) {
		json_decref(commands);
		if ((commands = pending_commands(argv[optind], decision)) == NULL)
			goto done;
	}
	/* The person sees what they sign. */
	json_array_foreach(commands, i, c)
		fprintf(stderr, "wingman %s: %s %s\n", decision, argv[optind], json_string_value(c));
	msg = msg_new("human_decision", argv[optind]);
	json_object_set_new(msg, "approver", json_string(as));
	json_object_set_new(msg, "decision", json_string(decision));
	json_object_set_new(msg, "reason", json_string(reason ? reason : ""));
	json_object_set_new(msg, "channel", json_string("cli"));
	json_object_set(msg, "commands", commands);
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
	json_decref(commands);
	EVP_PKEY_free(key);
	return rc;
}
