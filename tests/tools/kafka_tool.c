/*
 * Test helper: publish a raw value to a topic, or print the values of a
 * topic (optionally only those with a given key) from the beginning.
 * Lets tests act as a hostile writer on any topic.
 *
 *   kafka_tool produce TOPIC KEY            value read from standard input
 *   kafka_tool consume TOPIC [KEY] [--timeout S] [--count N]
 *   kafka_tool sign KEYS_DIR NAME           signs the message on standard input
 *   kafka_tool truncate TOPIC               deletes every record up to the end
 *                                           (a test that wrote from a database
 *                                           of its own leaves none behind)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "envelope.h"
#include "keys.h"
#include "stage.h"
#include "util.h"

static const char *
brokers(void)
{
	const char *b = getenv("WINGMAN_KAFKA_BROKERS");

	return b && *b ? b : config_default(CFG_KAFKA_BROKERS);
}

static int
produce(const char *topic, const char *key)
{
	struct wbuf b;
	char chunk[4096], err[512];
	size_t n;
	rd_kafka_t *p;
	json_t *value;
	int rc;

	wbuf_init(&b, 4 * 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		wbuf_append(&b, chunk, n);
	/* Raw bytes are allowed: tests send garbage on purpose. */
	value = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
	if ((p = kafka_producer_new(brokers(), err, sizeof(err))) == NULL) {
		fprintf(stderr, "kafka_tool: %s\n", err);
		return 1;
	}
	if (value != NULL) {
		rc = kafka_publish(p, topic, key, value, err, sizeof(err));
	} else {
		rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
		    RD_KAFKA_V_VALUE(b.data ? b.data : "", b.len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		rc = rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
		snprintf(err, sizeof(err), "flush failed");
	}
	if (rc != 0)
		fprintf(stderr, "kafka_tool: %s\n", err);
	json_decref(value);
	wbuf_free(&b);
	rd_kafka_destroy(p);
	return rc == 0 ? 0 : 1;
}

static int
consume(const char *topic, const char *key, int timeout_s, int count)
{
	rd_kafka_conf_t *conf;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts;
	char err[512] = "", group[64], uuid[37];
	rd_kafka_t *rk;
	rd_kafka_topic_t *t;
	int64_t deadline;
	int found = 0, n;

	uuid_v4(uuid);
	snprintf(group, sizeof(group), "kafka-tool-%s", uuid);
	/* kafka_conf_new: WINGMAN_KAFKA_CONFIG (TLS, SASL) as the daemons take it. */
	if ((conf = kafka_conf_new(brokers(), err, sizeof(err))) == NULL ||
	    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
	    (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "kafka_tool: %s\n", err);
		return 1;
	}
	t = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, t, &md, 10000) != 0 || md->topic_cnt != 1) {
		fprintf(stderr, "kafka_tool: no metadata for %s\n", topic);
		return 1;
	}
	n = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	parts = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	deadline = monotonic_ms() + (int64_t)timeout_s * 1000;
	while (monotonic_ms() < deadline && (count == 0 || found < count)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		if (m == NULL)
			continue;
		if (!m->err &&
		    (key == NULL ||
		        (m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0))) {
			fwrite(m->payload, 1, m->len, stdout);
			putchar('\n');
			fflush(stdout);
			found++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_destroy(rk);
	return found > 0 ? 0 : 3;
}

static int
truncate_topic(const char *topic)
{
	rd_kafka_conf_t *conf;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_DeleteRecords_t *del;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	char err[512];
	rd_kafka_t *rk;
	rd_kafka_topic_t *t;
	int64_t lo, hi;
	int n, rc = 1;

	if ((conf = kafka_conf_new(brokers(), err, sizeof(err))) == NULL ||
	    (rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "kafka_tool: %s\n", err);
		return 1;
	}
	t = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, t, &md, 10000) != 0 || md->topic_cnt != 1) {
		fprintf(stderr, "kafka_tool: no metadata for %s\n", topic);
		rd_kafka_destroy(rk);
		return 1;
	}
	n = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	parts = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++) {
		if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000) != 0)
			hi = RD_KAFKA_OFFSET_END;
		rd_kafka_topic_partition_list_add(parts, topic, i)->offset = hi;
	}
	del = rd_kafka_DeleteRecords_new(parts);
	rd_kafka_topic_partition_list_destroy(parts);
	q = rd_kafka_queue_new(rk);
	rd_kafka_DeleteRecords(rk, &del, 1, NULL, q);
	rd_kafka_DeleteRecords_destroy(del);
	if ((ev = rd_kafka_queue_poll(q, 30000)) != NULL && rd_kafka_event_error(ev) == 0)
		rc = 0;
	else
		fprintf(stderr, "kafka_tool: truncate %s: %s\n", topic,
		    ev ? rd_kafka_event_error_string(ev) : "no answer");
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

/* Signs as any key the test holds: a forger's tool. */
static int
sign(const char *dir, const char *name)
{
	char err[512];
	EVP_PKEY *key = key_load_named(dir, name, 1, err, sizeof(err));
	json_t *msg = json_loadf(stdin, 0, NULL);

	if (key == NULL || msg == NULL || envelope_sign(msg, name, key) != 0) {
		fprintf(stderr, "kafka_tool sign: %s\n", key ? "bad message" : err);
		return 1;
	}
	json_dumpf(msg, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(msg);
	EVP_PKEY_free(key);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "sign") == 0)
		return sign(argv[2], argv[3]);
	const char *key = NULL;
	int timeout = 10, count = 0;

	if (argc == 4 && strcmp(argv[1], "produce") == 0)
		return produce(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "truncate") == 0)
		return truncate_topic(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "consume") == 0) {
		for (int i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
				timeout = atoi(argv[++i]);
			else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
				count = atoi(argv[++i]);
			else
				key = argv[i];
		}
		return consume(argv[2], key, timeout, count);
	}
	fprintf(stderr,
	    "usage: kafka_tool produce TOPIC KEY | consume TOPIC [KEY] [--timeout S] [--count N]\n");
	return 2;
}
