/* Agents and approvers: submit, wait, approve, reject. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "client.h"
#include "keys.h"
#include "msg.h"
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

rd_kafka_t *
topic_reader(const char *topic, const int64_t *start, int *n_out)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_t *rk;
	char err[512];
	int n;

	if ((rk = client_reader_new(brokers(), err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman: kafka: %s\n", err);
		return NULL;
	}
	if ((n = client_topic_partitions(rk, topic)) <= 0) {
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
 * Prints the first result for the watched request signed by a stage
 * entitled to its status (client_await); 0 executed, 1 other, 3 timeout.
 */
static int
print_result(struct client *c, struct client_watch *w, int timeout_s)
{
	json_t *result = NULL;
	char err[512];
	int rc;

	switch (client_await(c, w, (int64_t)timeout_s * 1000, NULL, &result, err, sizeof(err))) {
	case CLIENT_RESULT:
		break;
	case CLIENT_TIMEOUT:
		fprintf(stderr, "wingman: no result for %s within %d s\n", w->request_id, timeout_s);
		return EXIT_TIMEOUT;
	default:
		fprintf(stderr, "wingman: %s\n", err);
		return 1;
	}
	json_dumpf(result, stdout, JSON_INDENT(2));
	putchar('\n');
	if (strcmp(msg_str(result, "status"), "shadow") == 0)
		fprintf(stderr,
		    "wingman: %s: SHADOW MODE: every check passed, NOTHING RAN "
		    "(the environment has \"execute\": false)\n",
		    w->request_id);
	rc = strcmp(msg_str(result, "status"), "executed") == 0 ? 0 : 1;
	json_decref(result);
	return rc;
}

/* The client, its result signers loaded; -1 with a message naming who. */
static int
open_client(struct client *c, const char *who)
{
	char err[512];

	if (client_open(c, brokers(), config_str(cli_config(), CFG_KEYS_DIR), err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "wingman %s: %s\n", who, err);
		return -1;
	}
	return 0;
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
	char err[512];
	struct client client;
	struct client_watch w = { 0 };
	EVP_PKEY *key = NULL;

	memset(&client, 0, sizeof(client));
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
	if (wait) {
		if (open_client(&client, "submit") != 0)
			goto done;
	} else
		client.brokers = brokers();
	if (key_path != NULL && (key = key_load_private(key_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman submit: cannot sign as worker-%s: %s\n", worker, err);
		goto done;
	}
	if ((req = client_request_new(rid_opt, worker, env, text, cmds, key, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "wingman submit: %s\n", err);
		goto done;
	}
	if (client_submit(&client, req, wait ? &w : NULL, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman submit: %s\n", err);
		goto done;
	}
	if (!wait) {
		printf("%s\n", msg_str(req, "request_id"));
		rc = 0;
		goto done;
	}
	fprintf(stderr, "wingman: submitted %s, waiting up to %d s\n", w.request_id, timeout);
	rc = print_result(&client, &w, timeout);
done:
	EVP_PKEY_free(key);
	client_watch_close(&w);
	client_close(&client);
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
	struct client client;
	struct client_watch w;
	char err[512];

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'T')
			timeout = parse_timeout(optarg);
		else
			usage();
	}
	if (optind != argc - 1 || !valid_request_id(argv[optind]))
		usage();
	if (open_client(&client, "wait") != 0)
		return 1;
	/* An older request: its partition from the beginning. */
	if (client_watch_open(&client, &w, argv[optind], 0, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman wait: %s\n", err);
		client_close(&client);
		return 1;
	}
	rc = print_result(&client, &w, timeout);
	client_watch_close(&w);
	client_close(&client);
	return rc;
}
