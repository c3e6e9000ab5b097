#include "stage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "msg.h"
#include "util.h"

#define POLL_MS 200
#define FLUSH_MS 15000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define STDIN_LINE_MAX (MSG_MAX_BYTES + 4096)
#define STDIN_TEMPFAIL_TRIES 5
#define TICK_PUBLISH_TRIES 10

int
outbox_add(struct outbox *out, const char *topic, const char *key, json_t *value)
{
	if (value == NULL)
		return -1;
	if (out->n >= OUTBOX_MAX) {
		json_decref(value);
		return -1;
	}
	snprintf(out->items[out->n].topic, sizeof(out->items[out->n].topic), "%s", topic);
	snprintf(out->items[out->n].key, sizeof(out->items[out->n].key), "%s", key ? key : "");
	out->items[out->n].value = value;
	out->n++;
	return 0;
}

void
outbox_clear(struct outbox *out)
{
	for (size_t i = 0; i < out->n; i++)
		json_decref(out->items[i].value);
	out->n = 0;
}

/* Dead letters carry the payload as text: bytes outside printable ASCII become '?'. */
static json_t *
dead_letter_new(const struct stage *st, const struct stage_input *in, const char *reason)
{
	char payload[4097], rid[80];
	size_t n = in->len < 4096 ? in->len : 4096;
	json_t *dl;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in->payload[i];
		payload[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	payload[n] = '\0';
	msg_guess_request_id(in->payload, in->len, rid, sizeof(rid));
	dl = msg_new("dead_letter", rid);
	if (dl == NULL)
		return NULL;
	json_object_set_new(dl, "stage", json_string(st->name));
	json_object_set_new(dl, "topic", json_string(in->topic));
	json_object_set_new(dl, "partition", json_integer(in->partition));
	json_object_set_new(dl, "offset", json_integer(in->offset));
	json_object_set_new(dl, "key", json_stringn(in->key ? in->key : "",
	    in->key && strlen(in->key) < 256 ? strlen(in->key) : 0));
	json_object_set_new(dl, "reason", json_stringn(reason, strnlen(reason, MSG_REASON_MAX)));
	json_object_set_new(dl, "payload", json_string(payload));
	return dl;
}

/*
 * Runs the handler once and fills the outbox, adding a dead letter on
 * PERMFAIL. The log line names the request when the handler found one.
 */
static enum handler_rc
handle_once(const struct stage *st, const struct stage_input *in, struct outbox *out)
{
	char reason[MSG_REASON_MAX] = "";
	enum handler_rc rc;

	outbox_clear(out);
	rc = st->handle(st->ctx, in, out, reason, sizeof(reason));
	if (rc == HANDLER_PERMFAIL) {
		char rid[80];
		msg_guess_request_id(in->payload, in->len, rid, sizeof(rid));
		log_warnx("event=dead_letter topic=%s partition=%d offset=%lld request_id=%s reason=\"%s\"",
		    in->topic, in->partition, in->offset, rid, reason);
		outbox_add(out, TOPIC_DLQ, rid, dead_letter_new(st, in, reason));
	} else if (rc == HANDLER_TEMPFAIL) {
		log_warnx("event=tempfail topic=%s partition=%d offset=%lld reason=\"%s\"",
		    in->topic, in->partition, in->offset, reason);
	}
	return rc;
}

static int
consumes(const struct stage *st, const char *topic)
{
	for (const char *const *t = st->topics; *t; t++)
		if (strcmp(*t, topic) == 0)
			return 1;
	return 0;
}

/* ---- Kafka mode ---- */

struct delivery {
	int pending;
	int failed;
	char error[256];
};

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct delivery *d = m->_private;

	if (d == NULL)
		return;
	d->pending--;
	if (m->err) {
		d->failed++;
		snprintf(d->error, sizeof(d->error), "%s", rd_kafka_err2str(m->err));
	}
}

static int
set_conf(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
	if (rd_kafka_conf_set(conf, name, value, err, errlen) != RD_KAFKA_CONF_OK)
		return -1;
	return 0;
}

rd_kafka_t *
kafka_producer_new(const char *brokers, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	/* Idempotent producer: acks=all, no duplicates from retries. */
	if (set_conf(conf, "bootstrap.servers", brokers, err, errlen) ||
	    set_conf(conf, "enable.idempotence", "true", err, errlen) ||
	    set_conf(conf, "acks", "all", err, errlen) ||
	    set_conf(conf, "linger.ms", "2", err, errlen) ||
	    set_conf(conf, "message.timeout.ms", "30000", err, errlen) ||
	    set_conf(conf, "message.max.bytes", "1048576", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen)) == NULL)
		rd_kafka_conf_destroy(conf);
	return rk;
}

/* Produces every item, then waits: the delivery reports are the truth. */
static int
publish_outbox(rd_kafka_t *producer, const struct outbox *out, char *err, size_t errlen)
{
	struct delivery d = { 0, 0, "" };

	for (size_t i = 0; i < out->n; i++) {
		char *body = json_dumps(out->items[i].value, JSON_COMPACT);
		rd_kafka_resp_err_t e;

		if (body == NULL) {
			snprintf(err, errlen, "cannot serialise a message");
			return -1;
		}
		d.pending++;
		e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(out->items[i].topic),
		    RD_KAFKA_V_KEY(out->items[i].key, strlen(out->items[i].key)),
		    RD_KAFKA_V_VALUE(body, strlen(body)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
		free(body);
		if (e) {
			d.pending--;
			snprintf(err, errlen, "produce to %s: %s", out->items[i].topic, rd_kafka_err2str(e));
			rd_kafka_flush(producer, FLUSH_MS);
			return -1;
		}
	}
	rd_kafka_flush(producer, FLUSH_MS);
	if (d.pending != 0 || d.failed != 0) {
		snprintf(err, errlen, "delivery failed: %s", d.failed ? d.error : "timed out");
		return -1;
	}
	return 0;
}

int
kafka_publish(rd_kafka_t *producer, const char *topic, const char *key, const json_t *value,
    char *err, size_t errlen)
{
	struct outbox out = { 0 };
	int rc;

	outbox_add(&out, topic, key, json_incref((json_t *)value));
	rc = publish_outbox(producer, &out, err, errlen);
	outbox_clear(&out);
	return rc;
}

static rd_kafka_t *
consumer_new(const struct stage *st, const char *brokers, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_t *rk;
	size_t n = 0;

	/* Offsets are committed by hand, only after a message is fully handled. */
	if (set_conf(conf, "bootstrap.servers", brokers, err, errlen) ||
	    set_conf(conf, "group.id", st->group, err, errlen) ||
	    set_conf(conf, "enable.auto.commit", "false", err, errlen) ||
	    set_conf(conf, "enable.auto.offset.store", "false", err, errlen) ||
	    set_conf(conf, "auto.offset.reset", "earliest", err, errlen) ||
	    set_conf(conf, "max.poll.interval.ms", "600000", err, errlen) ||
	    set_conf(conf, "fetch.message.max.bytes", "1048576", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen)) == NULL) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	for (const char *const *t = st->topics; *t; t++)
		n++;
	topics = rd_kafka_topic_partition_list_new((int)n);
	for (const char *const *t = st->topics; *t; t++)
		rd_kafka_topic_partition_list_add(topics, *t, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(rk, topics) != 0) {
		snprintf(err, errlen, "cannot subscribe");
		rd_kafka_topic_partition_list_destroy(topics);
		rd_kafka_destroy(rk);
		return NULL;
	}
	rd_kafka_topic_partition_list_destroy(topics);
	return rk;
}

static void
run_tick(const struct stage *st, rd_kafka_t *producer, struct outbox *out, int64_t *next_tick)
{
	char err[256];

	if (st->tick == NULL || monotonic_ms() < *next_tick)
		return;
	*next_tick = monotonic_ms() + st->tick_interval_ms;
	outbox_clear(out);
	st->tick(st->ctx, out);
	/*
	 * What a tick produced is already committed in its store (an expiry,
	 * say): keep trying to deliver it rather than drop it.
	 */
	for (int tries = 0, backoff = BACKOFF_MIN_MS; out->n > 0; tries++) {
		if (publish_outbox(producer, out, err, sizeof(err)) == 0)
			break;
		log_warnx("event=tick_publish_failed try=%d error=\"%s\"", tries + 1, err);
		if (tries + 1 >= TICK_PUBLISH_TRIES) {
			log_warnx("event=tick_output_lost messages=%zu", out->n);
			break;
		}
		sleep_ms(backoff);
		backoff = backoff_next(backoff, BACKOFF_MAX_MS);
	}
	outbox_clear(out);
}

int
stage_run_kafka(const struct stage *st, const char *brokers, volatile sig_atomic_t *running)
{
	char err[512];
	rd_kafka_t *consumer = NULL, *producer = NULL;
	struct outbox *out = NULL;
	int64_t next_tick = 0;
	int rc = -1;

	if ((out = calloc(1, sizeof(*out))) == NULL)
		goto fail;
	if ((producer = kafka_producer_new(brokers, err, sizeof(err))) == NULL ||
	    (consumer = consumer_new(st, brokers, err, sizeof(err))) == NULL) {
		log_warnx("event=kafka_setup_failed error=\"%s\"", err);
		goto fail;
	}
	log_info("event=started group=%s brokers=%s", st->group, brokers);
	while (*running) {
		rd_kafka_message_t *m;
		struct stage_input in;
		int backoff = BACKOFF_MIN_MS;

		run_tick(st, producer, out, &next_tick);
		rd_kafka_poll(producer, 0);
		if ((m = rd_kafka_consumer_poll(consumer, POLL_MS)) == NULL)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warnx("event=consume_error error=\"%s\"", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		in.topic = rd_kafka_topic_name(m->rkt);
		in.partition = m->partition;
		in.offset = m->offset;
		in.payload = m->payload ? m->payload : "";
		in.len = m->len;
		/* Keys are request ids: keep only a printable, bounded copy. */
		char key[80] = "";
		if (m->key && m->key_len < sizeof(key)) {
			memcpy(key, m->key, m->key_len);
			key[m->key_len] = '\0';
			for (size_t i = 0; i < m->key_len; i++)
				if (key[i] < 0x20 || key[i] > 0x7e)
					key[i] = '?';
		}
		in.key = key;
		/*
		 * The message is held until it is handled and its outputs are
		 * delivered; only then is its offset committed. A stop in
		 * between leaves it uncommitted, so it is delivered again.
		 */
		while (*running) {
			enum handler_rc hrc = handle_once(st, &in, out);
			if (hrc != HANDLER_TEMPFAIL &&
			    publish_outbox(producer, out, err, sizeof(err)) == 0) {
				rd_kafka_resp_err_t e = rd_kafka_commit_message(consumer, m, 0);
				if (e)
					log_warnx("event=commit_failed offset=%lld error=\"%s\"",
					    (long long)m->offset, rd_kafka_err2str(e));
				break;
			}
			if (hrc != HANDLER_TEMPFAIL)
				log_warnx("event=publish_failed error=\"%s\"", err);
			outbox_clear(out);
			sleep_ms(backoff);
			backoff = backoff_next(backoff, BACKOFF_MAX_MS);
			rd_kafka_poll(producer, 0);
		}
		outbox_clear(out);
		rd_kafka_message_destroy(m);
	}
	log_info("event=stopping");
	rc = 0;
fail:
	if (consumer != NULL) {
		rd_kafka_consumer_close(consumer);
		rd_kafka_destroy(consumer);
	}
	if (producer != NULL) {
		rd_kafka_flush(producer, FLUSH_MS);
		rd_kafka_destroy(producer);
	}
	if (out != NULL)
		outbox_clear(out);
	free(out);
	return rc;
}

/* ---- filter mode ---- */

static void
write_outbox(FILE *fout, const struct outbox *out)
{
	for (size_t i = 0; i < out->n; i++) {
		json_t *rec = json_pack("{s:s, s:s, s:O}", "topic", out->items[i].topic, "key",
		    out->items[i].key, "value", out->items[i].value);
		char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
		if (line != NULL)
			fprintf(fout, "%s\n", line);
		free(line);
		json_decref(rec);
	}
	fflush(fout);
}

int
stage_run_stdin(const struct stage *st, FILE *fin, FILE *fout, volatile sig_atomic_t *running)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long long lineno = 0;
	int rc = 0;
	struct outbox *out = calloc(1, sizeof(*out));

	if (out == NULL)
		return -1;
	while (*running && (n = getline(&line, &cap, fin)) >= 0) {
		json_t *rec, *value;
		const char *topic, *key;
		char *payload;
		struct stage_input in;
		enum handler_rc hrc = HANDLER_TEMPFAIL;

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		rec = n <= STDIN_LINE_MAX ? json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
		topic = json_string_value(json_object_get(rec, "topic"));
		key = json_string_value(json_object_get(rec, "key"));
		value = json_object_get(rec, "value");
		if (topic == NULL || value == NULL) {
			log_warnx("event=bad_record line=%lld reason=\"not a {topic, key, value} record\"", lineno);
			rc = 1;
			json_decref(rec);
			continue;
		}
		if (!consumes(st, topic)) {
			fprintf(fout, "%s\n", line);
			fflush(fout);
			json_decref(rec);
			continue;
		}
		payload = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
		in.topic = topic;
		in.key = key ? key : "";
		in.payload = payload ? payload : "";
		in.len = payload ? strlen(payload) : 0;
		in.partition = -1;
		in.offset = lineno;
		for (int tries = 0; tries < STDIN_TEMPFAIL_TRIES && *running; tries++) {
			if ((hrc = handle_once(st, &in, out)) != HANDLER_TEMPFAIL)
				break;
			sleep_ms(BACKOFF_MIN_MS << tries);
		}
		if (hrc == HANDLER_TEMPFAIL) {
			rc = 1;
			outbox_clear(out);
			outbox_add(out, TOPIC_DLQ, in.key,
			    dead_letter_new(st, &in, "TEMPFAIL: a dependency stayed unavailable"));
		}
		write_outbox(fout, out);
		outbox_clear(out);
		free(payload);
		json_decref(rec);
	}
	free(line);
	free(out);
	return rc;
}
