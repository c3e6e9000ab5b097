#include "client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "msg.h"
#include "stage.h"
#include "trust.h"
#include "util.h"

#define POLL_MS 200

static void
warn_stderr(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "wingman: %s\n", line);
}

int
client_open(struct client *c, const char *brokers, const char *keys_dir, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	keyring_init(&c->signers);
	c->brokers = brokers;
	c->warn = warn_stderr;
	if (keys_dir == NULL || *keys_dir == '\0') {
		snprintf(err, errlen, "WINGMAN_KEYS_DIR is not set: results cannot be verified");
		return -1;
	}
	/* The keys that may end a request (trust rule 9). */
	if (keyring_add(&c->signers, keys_dir, "executor", err, errlen) != 0 ||
	    keyring_add(&c->signers, keys_dir, "approval", err, errlen) != 0) {
		keyring_free(&c->signers);
		return -1;
	}
	return 0;
}

void
client_close(struct client *c)
{
	if (c == NULL)
		return;
	if (c->producer != NULL)
		rd_kafka_destroy(c->producer);
	c->producer = NULL;
	keyring_free(&c->signers);
}

json_t *
client_request_new(const char *request_id, const char *worker, const char *environment,
    const char *instruction, const json_t *commands, EVP_PKEY *key, char *err, size_t errlen)
{
	char rid[64], kid[80];
	json_t *req;

	if (request_id != NULL)
		snprintf(rid, sizeof(rid), "%s", request_id);
	else if (uuid_v4(rid) != 0) {
		snprintf(err, errlen, "cannot make a request id");
		return NULL;
	}
	req = msg_new("request", rid);
	json_object_set_new(req, "worker_id", json_string(worker));
	json_object_set_new(req, "environment", json_string(environment));
	json_object_set_new(req, "instruction", json_string(instruction));
	json_object_set_new(req, "commands", json_deep_copy(commands));
	/* The agent's own signature: kid worker-<worker_id>, checked by every stage. */
	if (key != NULL) {
		snprintf(kid, sizeof(kid), "worker-%s", worker);
		if (envelope_sign(req, kid, key) != 0) {
			snprintf(err, errlen, "cannot sign as %s", kid);
			json_decref(req);
			return NULL;
		}
	}
	/* Refuse locally what every stage would refuse: clearer for the user. */
	if (msg_validate(req, "request", err, errlen) != 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

rd_kafka_t *
client_reader_new(const char *brokers, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = kafka_conf_new(brokers, err, errlen);
	char group[64], uuid[37];
	rd_kafka_t *rk;

	if (conf == NULL)
		return NULL;
	uuid_v4(uuid);
	snprintf(group, sizeof(group), "wingman-cli-%s", uuid);
	if (rd_kafka_conf_set(conf, "group.id", group, err, errlen) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
	    (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen)) == NULL) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return rk;
}

int
client_topic_partitions(rd_kafka_t *rk, const char *topic)
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

rd_kafka_t *
client_producer_for(const char *brokers, const char *topic, char *err, size_t errlen)
{
	rd_kafka_t *rk = kafka_producer_new(brokers, err, errlen);

	/*
	 * librdkafka looks a topic it has no metadata for up about once a
	 * second: a producer that connected before its first message would
	 * hold that message up to a second. Ask for the topic now.
	 */
	if (rk != NULL && client_topic_partitions(rk, topic) <= 0) {
		snprintf(err, errlen, "cannot read %s from %s", topic, brokers);
		rd_kafka_destroy(rk);
		return NULL;
	}
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

	if ((n = client_topic_partitions(rk, topic)) <= 0 ||
	    (t = rd_kafka_topic_new(rk, topic, NULL)) == NULL)
		return -1;
	p = rd_kafka_msg_partitioner_consistent_random(t, key, strlen(key), n, NULL, NULL);
	rd_kafka_topic_destroy(t);
	return p;
}

/* Adds key's partition of topic to parts at its end or beginning, with its offsets. */
static int
add_key_partition(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, const char *topic,
    const char *key, int from_end, int64_t *lo, int64_t *hi)
{
	int32_t p;

	if ((p = key_partition(rk, topic, key)) < 0 ||
	    rd_kafka_query_watermark_offsets(rk, topic, p, lo, hi, 10000) != 0)
		return -1;
	rd_kafka_topic_partition_list_add(parts, topic, p)->offset = from_end ? *hi : *lo;
	return 0;
}

int
client_watch_open(struct client *c, struct client_watch *w, const char *request_id, int from_end,
    int watch_prompts, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *parts = NULL;

	memset(w, 0, sizeof(*w));
	if (!valid_request_id(request_id)) {
		snprintf(err, errlen, "not a request id");
		return -1;
	}
	snprintf(w->request_id, sizeof(w->request_id), "%s", request_id);
	if ((w->rk = client_reader_new(c->brokers, err, errlen)) == NULL)
		return -1;
	parts = rd_kafka_topic_partition_list_new(2);
	if (add_key_partition(w->rk, parts, TOPIC_RESULTS, request_id, from_end, &w->results_lo,
	        &w->results_end) != 0 ||
	    (watch_prompts &&
	        add_key_partition(w->rk, parts, TOPIC_APPROVAL_PROMPTS, request_id, from_end,
	            &w->prompts_lo, &w->prompts_end) != 0)) {
		snprintf(err, errlen, "cannot read %s from %s", TOPIC_RESULTS, c->brokers);
		rd_kafka_topic_partition_list_destroy(parts);
		client_watch_close(w);
		return -1;
	}
	rd_kafka_assign(w->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

void
client_watch_close(struct client_watch *w)
{
	if (w == NULL || w->rk == NULL)
		return;
	rd_kafka_consumer_close(w->rk);
	rd_kafka_destroy(w->rk);
	w->rk = NULL;
}

int
client_submit(struct client *c, const json_t *request, struct client_watch *w, int watch_prompts,
    char *err, size_t errlen)
{
	const char *rid = msg_str(request, "request_id");

	/*
	 * Reader first, from the end of the partition the result will land on,
	 * taken before publishing: the result cannot be missed.
	 */
	if (w != NULL && client_watch_open(c, w, rid, 1, watch_prompts, err, errlen) != 0)
		return -1;
	if ((c->producer == NULL &&
	        (c->producer = client_producer_for(c->brokers, TOPIC_REQUESTS, err, errlen)) ==
	            NULL) ||
	    kafka_publish(c->producer, TOPIC_REQUESTS, rid, request, err, errlen) != 0) {
		client_watch_close(w);
		return -1;
	}
	return 0;
}

static void warnf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
warnf(struct client *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (c->warn != NULL)
		c->warn(c->warn_arg, line);
}

/* A prompt for the request, signed by approval: new reference, or NULL. */
static json_t *
verified_prompt(struct client *c, const rd_kafka_message_t *m, const char *request_id)
{
	char err[256], kid[80];
	json_t *msg = msg_decode(m->payload, m->len, NULL, err, sizeof(err));
	const char *type = msg_str(msg, "type");

	if (msg == NULL || strcmp(msg_str(msg, "request_id"), request_id) != 0 ||
	    (strcmp(type, "approval_prompt") != 0 && strcmp(type, "approval_update") != 0) ||
	    envelope_verify(msg, &c->signers, kid, sizeof(kid)) != SIG_OK ||
	    strcmp(kid, "approval") != 0) {
		json_decref(msg);
		return NULL;
	}
	return msg;
}

/*
 * A result for the request signed by a stage entitled to its status: new
 * reference, or NULL (said through c->warn when it claimed to be one).
 */
static json_t *
verified_result(struct client *c, const rd_kafka_message_t *m, const char *request_id)
{
	char err[256], kid[80], why[256];
	json_t *result = msg_decode(m->payload, m->len, "result", err, sizeof(err));

	if (result == NULL || strcmp(msg_str(result, "request_id"), request_id) != 0) {
		json_decref(result);
		return NULL;
	}
	if (!trust_result_verify(result, &c->signers, kid, sizeof(kid), why, sizeof(why))) {
		warnf(c, "ignoring a '%s' result for %s: %s", msg_str(result, "status"), request_id,
		    why);
		json_decref(result);
		return NULL;
	}
	return result;
}

/* Keeps a message of our key; 1 when it is ours. */
static int
our_key(const rd_kafka_message_t *m, const char *key)
{
	return m->err == 0 && m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}

enum client_outcome
client_await(struct client *c, struct client_watch *w, int64_t timeout_ms,
    const struct client_events *events, json_t **result, char *err, size_t errlen)
{
	int64_t start = monotonic_ms(), next_tick = start + 1000;

	*result = NULL;
	if (w->rk == NULL) {
		snprintf(err, errlen, "no watch");
		return CLIENT_ERROR;
	}
	while (monotonic_ms() - start < timeout_ms) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, POLL_MS);
		int64_t now = monotonic_ms();

		if (events != NULL && events->tick != NULL && now >= next_tick) {
			next_tick = now + 1000;
			if (events->tick(events->arg, now - start) != 0) {
				rd_kafka_message_destroy(m);
				return CLIENT_STOPPED;
			}
		}
		if (m == NULL)
			continue;
		if (!our_key(m, w->request_id)) {
			rd_kafka_message_destroy(m);
			continue;
		}
		if (strcmp(rd_kafka_topic_name(m->rkt), TOPIC_RESULTS) == 0)
			*result = verified_result(c, m, w->request_id);
		else if (events != NULL && events->prompt != NULL) {
			json_t *p = verified_prompt(c, m, w->request_id);
			if (p != NULL)
				events->prompt(events->arg, p);
			json_decref(p);
		}
		rd_kafka_message_destroy(m);
		if (*result != NULL)
			return CLIENT_RESULT;
	}
	return CLIENT_TIMEOUT;
}

enum client_outcome
client_lookup(struct client *c, const char *request_id, json_t **result, json_t **prompt, char *err,
    size_t errlen)
{
	struct client_watch w;
	int64_t deadline = monotonic_ms() + 30000;
	enum client_outcome rc = CLIENT_NONE;
	int results_open, prompts_open;

	*result = NULL;
	if (prompt != NULL)
		*prompt = NULL;
	if (client_watch_open(c, &w, request_id, 0, prompt != NULL, err, errlen) != 0)
		return CLIENT_ERROR;
	/* Each partition is read from its start to the end it had when opened. */
	results_open = w.results_end > w.results_lo;
	prompts_open = w.prompts_end > w.prompts_lo;
	while ((results_open || prompts_open) && *result == NULL) {
		rd_kafka_message_t *m;
		int is_results;

		if (monotonic_ms() >= deadline) {
			snprintf(err, errlen, "%s not read to its end within 30 s", TOPIC_RESULTS);
			rc = CLIENT_ERROR;
			break;
		}
		if ((m = rd_kafka_consumer_poll(w.rk, POLL_MS)) == NULL)
			continue;
		if (m->err != 0) {
			rd_kafka_message_destroy(m);
			continue;
		}
		is_results = strcmp(rd_kafka_topic_name(m->rkt), TOPIC_RESULTS) == 0;
		if (our_key(m, request_id)) {
			if (is_results)
				*result = verified_result(c, m, request_id);
			else {
				json_t *p = verified_prompt(c, m, request_id);
				if (p != NULL) {
					json_decref(*prompt);
					*prompt = p;
				}
			}
		}
		if (is_results && m->offset + 1 >= w.results_end)
			results_open = 0;
		if (!is_results && m->offset + 1 >= w.prompts_end)
			prompts_open = 0;
		rd_kafka_message_destroy(m);
	}
	if (*result != NULL)
		rc = CLIENT_RESULT;
	client_watch_close(&w);
	return rc;
}

/* What each terminal status means to the agent, and whether anything ran. */
static const struct {
	const char *status;
	int is_error;
	const char *words;
} statuses[] = {
	{ "executed", 0, "EXECUTED: the commands ran." },
	{ "shadow", 0,
	    "SHADOW MODE: every check passed but NOTHING RAN (the environment has "
	    "\"execute\": false)." },
	{ "rejected", 1,
	    "REJECTED: a human or the policy said no. Nothing ran. Do not send the same "
	    "request again unchanged." },
	{ "expired", 1, "EXPIRED: nobody decided in time. Nothing ran." },
	{ "invalid", 1,
	    "INVALID: refused before any vote (a command outside the grammar, an unknown "
	    "environment, or a container outside it). Nothing ran." },
	{ "failed", 1,
	    "FAILED: an infrastructure error (Docker, Redis or PostgreSQL). Nothing ran." },
	{ "interrupted", 1,
	    "INTERRUPTED: the outcome is unknown (a crash between claim and completion). Check "
	    "the container before asking again." },
	{ "frozen", 1, "FROZEN: the kill switch is on. Nothing ran." },
};

int
client_result_is_error(const json_t *result)
{
	const char *st = msg_str(result, "status");

	for (size_t i = 0; i < ARRAY_LEN(statuses); i++)
		if (strcmp(statuses[i].status, st) == 0)
			return statuses[i].is_error;
	return 1;
}

char *
client_result_text(const json_t *result)
{
	const char *st = msg_str(result, "status"), *words = "UNKNOWN STATUS.";
	json_t *cmds = json_object_get(result, "commands"), *c;
	struct wbuf b;
	size_t i;
	char *out;

	for (i = 0; i < ARRAY_LEN(statuses); i++)
		if (strcmp(statuses[i].status, st) == 0)
			words = statuses[i].words;
	wbuf_init(&b, 512 * 1024);
	wbuf_appendf(&b, "Request %s: %s\n", msg_str(result, "request_id"), words);
	if (*msg_str(result, "reason") != '\0')
		wbuf_appendf(&b, "Reason: %s\n", msg_str(result, "reason"));
	json_array_foreach(cmds, i, c)
	{
		const char *output = json_string_value(json_object_get(c, "output"));
		json_t *code = json_object_get(c, "exit_code");

		wbuf_appendf(&b, "\n$ %s\n[%s", json_string_value(json_object_get(c, "cmd")),
		    json_string_value(json_object_get(c, "status")));
		if (json_is_integer(code))
			wbuf_appendf(&b, ", exit code %lld", (long long)json_integer_value(code));
		wbuf_appendf(&b, "]\n");
		if (output != NULL)
			wbuf_append(&b, output, strlen(output));
	}
	out = strdup(b.data != NULL ? b.data : "");
	wbuf_free(&b);
	return out;
}
