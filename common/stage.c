#include "stage.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "failpoint.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "util.h"

#define POLL_MS 200
#define FLUSH_MS 15000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define STDIN_LINE_MAX (MSG_MAX_BYTES + 4096)
#define STDIN_TEMPFAIL_TRIES 5
#define TICK_PUBLISH_TRIES 10
/* How often the consumer lag gauges are refreshed (from cached watermarks). */
#define LAG_REFRESH_MS 1000
/* Inputs handled per poll: bounds memory and the work redone after a lost output. */
#define BATCH_MAX 256

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
	json_object_set_new(dl, "key",
	    json_stringn(in->key ? in->key : "",
	        in->key && strlen(in->key) < 256 ? strlen(in->key) : 0));
	json_object_set_new(dl, "reason", json_stringn(reason, strnlen(reason, MSG_REASON_MAX)));
	json_object_set_new(dl, "payload", json_string(payload));
	return dl;
}

/* Counts what handle_once did: by topic and outcome, its latency, a dead letter's class. */
static void
count_handled(const char *topic, enum handler_rc rc, double seconds, const char *dead_reason)
{
	static const char *const outcomes[] = { "ok", "tempfail", "permfail" };
	const char *labels[] = { topic, (unsigned)rc < 3 ? outcomes[rc] : "other", NULL };
	char class[64];

	metric_inc(M_MESSAGES_HANDLED, labels);
	metric_observe(M_HANDLER_SECONDS, labels, seconds);
	if (dead_reason != NULL) {
		const char *dl[] = { class, NULL };
		metrics_reason_class(dead_reason, class, sizeof(class));
		metric_inc(M_DEAD_LETTERS, dl);
	}
}

/*
 * Runs the handler once and fills the outbox, adding a dead letter on
 * PERMFAIL. The log line names the request when the handler found one.
 */
static enum handler_rc
handle_once(const struct stage *st, void *ctx, const struct stage_input *in, struct outbox *out)
{
	char reason[MSG_REASON_MAX] = "";
	enum handler_rc rc;
	double started;

	started = metrics_monotonic_s();
	outbox_clear(out);
	rc = st->handle(ctx, in, out, reason, sizeof(reason));
	count_handled(in->topic, rc, metrics_monotonic_s() - started,
	    rc == HANDLER_PERMFAIL ? reason : NULL);
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

/*
 * Delivery reports of one publish round. Each produced message carries a
 * slot naming the input it came from, so a failed delivery tells which
 * input must be handled again.
 */
struct delivery {
	int pending;
	size_t first_failed; /* index of the first input with a lost output */
	char error[256];
};

struct delivery_slot {
	struct delivery *d;
	size_t index;
};

static void
delivery_reset(struct delivery *d, size_t none_failed)
{
	d->pending = 0;
	d->first_failed = none_failed;
	d->error[0] = '\0';
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct delivery_slot *slot = m->_private;

	(void)rk;
	(void)opaque;
	if (slot == NULL)
		return;
	slot->d->pending--;
	if (m->err && slot->index < slot->d->first_failed) {
		slot->d->first_failed = slot->index;
		snprintf(slot->d->error, sizeof(slot->d->error), "%s", rd_kafka_err2str(m->err));
	}
}

static int
set_conf(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
	if (rd_kafka_conf_set(conf, name, value, err, errlen) != RD_KAFKA_CONF_OK)
		return -1;
	return 0;
}

/* Applies one KEY=VALUE line of the properties file; blank and '#' lines are skipped. */
static int
apply_property_line(rd_kafka_conf_t *conf, char *line, const char *path, int lineno, char *err,
    size_t errlen)
{
	char *key = line, *eq, *value, *end;
	char why[256];

	while (*key == ' ' || *key == '\t')
		key++;
	end = key + strlen(key);
	while (
	    end > key && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (*key == '\0' || *key == '#')
		return 0;
	if ((eq = strchr(key, '=')) == NULL) {
		snprintf(err, errlen, "%s:%d: not KEY=VALUE", path, lineno);
		return -1;
	}
	value = eq + 1;
	while (eq > key && (eq[-1] == ' ' || eq[-1] == '\t'))
		eq--;
	*eq = '\0';
	while (*value == ' ' || *value == '\t')
		value++;
	/*
	 * librdkafka's message may quote the value: not for a property that
	 * can hold a secret (sasl.password, ssl.key.password, sasl.jaas.config).
	 */
	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		if (strstr(key, "password") || strstr(key, "secret") || strstr(key, "key") ||
		    strstr(key, "jaas"))
			snprintf(err, errlen, "%s:%d: property %s refused", path, lineno, key);
		else
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
		return -1;
	}
	return 0;
}

/*
 * With statistics.interval.ms set (in the WINGMAN_KAFKA_CONFIG file), each
 * client logs what it has sent since it started, summed over its broker
 * connections: requests and bytes out and in, and the requests by type.
 * Cumulative, so the difference of two lines is the traffic between them:
 * how many Produce, Fetch and OffsetCommit requests a message costs.
 */
static int
on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	/* The request types worth watching; a broker's "req" has dozens. */
	static const char *const types[] = { "Produce", "Fetch", "OffsetCommit", "Heartbeat",
		"Metadata", "ListOffsets", "OffsetFetch", "InitProducerId", NULL };
	json_t *st = json_loadb(json, len, 0, NULL), *b, *req, *n;
	const char *id, *type, *name;
	long long tx = 0, rx = 0, txbytes = 0, rxbytes = 0, counts[8] = { 0 };
	char bytype[512] = "";
	size_t used = 0;

	(void)rk;
	(void)opaque;
	if (st == NULL)
		return 0;

	json_object_foreach(json_object_get(st, "brokers"), id, b)
	{
		tx += json_integer_value(json_object_get(b, "tx"));
		rx += json_integer_value(json_object_get(b, "rx"));
		txbytes += json_integer_value(json_object_get(b, "txbytes"));
		rxbytes += json_integer_value(json_object_get(b, "rxbytes"));
		req = json_object_get(b, "req");
		for (size_t i = 0; types[i] != NULL; i++)
			if ((n = json_object_get(req, types[i])) != NULL)
				counts[i] += json_integer_value(n);
	}
	for (size_t i = 0; types[i] != NULL && used < sizeof(bytype); i++) {
		int w = snprintf(bytype + used, sizeof(bytype) - used, " req_%s=%lld", types[i],
		    counts[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	type = json_string_value(json_object_get(st, "type"));
	name = json_string_value(json_object_get(st, "name"));
	log_info("event=kafka_stats client=%s type=%s tx=%lld rx=%lld txbytes=%lld rxbytes=%lld%s",
	    name ? name : "?", type ? type : "?", tx, rx, txbytes, rxbytes, bytype);
	json_decref(st);
	return 0; /* librdkafka frees json */
}

rd_kafka_conf_t *
kafka_conf_new(const char *brokers, char *err, size_t errlen)
{
	const char *path = getenv(config_table[CFG_KAFKA_CONFIG].name);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (path != NULL && *path != '\0') {
		FILE *f = fopen(path, "r");
		char line[4096];
		int lineno = 0, rc = 0;

		if (f == NULL) {
			snprintf(err, errlen, "%s: %s: %s", config_table[CFG_KAFKA_CONFIG].name,
			    path, strerror(errno));
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
		while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
			lineno++;
			if (strchr(line, '\n') == NULL && !feof(f)) {
				snprintf(err, errlen, "%s:%d: line too long", path, lineno);
				rc = -1;
			} else
				rc = apply_property_line(conf, line, path, lineno, err, errlen);
		}
		fclose(f);
		if (rc != 0) {
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	if (set_conf(conf, "bootstrap.servers", brokers, err, errlen)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	return conf;
}

rd_kafka_t *
kafka_producer_new(const char *brokers, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = kafka_conf_new(brokers, err, errlen);
	rd_kafka_t *rk;

	if (conf == NULL)
		return NULL;
	/* Idempotent producer: acks=all, no duplicates from retries. */
	if (set_conf(conf, "enable.idempotence", "true", err, errlen) ||
	    set_conf(conf, "acks", "all", err, errlen) ||
	    set_conf(conf, "linger.ms", "1", err, errlen) ||
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

/*
 * Hands every item to the producer without waiting; its delivery reports
 * land in slot->d. Returns 0, or -1 when an item could not be queued (the
 * items queued before it are still reported).
 */
static int
produce_outbox(rd_kafka_t *producer, const struct outbox *out, struct delivery_slot *slot,
    char *err, size_t errlen)
{
	for (size_t i = 0; i < out->n; i++) {
		char *body = json_dumps(out->items[i].value, JSON_COMPACT);
		rd_kafka_resp_err_t e;

		if (body == NULL) {
			snprintf(err, errlen, "cannot serialise a message");
			return -1;
		}
		slot->d->pending++;
		e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(out->items[i].topic),
		    RD_KAFKA_V_KEY(out->items[i].key, strlen(out->items[i].key)),
		    RD_KAFKA_V_VALUE(body, strlen(body)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
		free(body);
		if (e) {
			slot->d->pending--;
			snprintf(err, errlen, "produce to %s: %s", out->items[i].topic,
			    rd_kafka_err2str(e));
			return -1;
		}
	}
	return 0;
}

/*
 * Waits until every report of the round is in. The producer reports each
 * message within message.timeout.ms, so this ends; a stop request ends it
 * early and the caller treats the round as undelivered.
 */
static int
await_deliveries(rd_kafka_t *producer, struct delivery *d, volatile sig_atomic_t *running)
{
	while (d->pending > 0) {
		rd_kafka_flush(producer, 100);
		if (running != NULL && !*running && d->pending > 0)
			return -1;
	}
	return 0;
}

/* Produces every item, then waits: the delivery reports are the truth. */
static int
publish_outbox(rd_kafka_t *producer, const struct outbox *out, char *err, size_t errlen)
{
	struct delivery d;
	struct delivery_slot slot = { &d, 0 };
	int rc;

	delivery_reset(&d, 1);
	rc = produce_outbox(producer, out, &slot, err, errlen);
	await_deliveries(producer, &d, NULL);
	if (rc == 0 && d.first_failed == 0) {
		snprintf(err, errlen, "delivery failed: %s", d.error);
		rc = -1;
	}
	return rc;
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

/*
 * The assignment gauges /healthz reads: known once the group has assigned
 * this member its partitions (none is an answer too), not after an eager
 * revoke until the next assignment. The lag of partitions gone is dropped.
 */
static void
count_assignment(rd_kafka_t *rk, int known)
{
	rd_kafka_topic_partition_list_t *parts = NULL;

	metric_clear(M_CONSUMER_LAG);
	if (rd_kafka_assignment(rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		metric_set(M_ASSIGNED_PARTITIONS, NULL, parts->cnt);
		rd_kafka_topic_partition_list_destroy(parts);
	}
	metric_set(M_ASSIGNMENT_KNOWN, NULL, known);
}

/*
 * Consumer lag per assigned partition: the high watermark librdkafka last
 * fetched minus the consumer's position. Both are cached locally: no
 * request to the broker.
 */
static void
count_lag(rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *parts = NULL;

	if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (rd_kafka_position(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (int i = 0; i < parts->cnt; i++) {
			const rd_kafka_topic_partition_t *p = &parts->elems[i];
			int64_t low, high;
			char partition[16];
			const char *labels[] = { p->topic, partition, NULL };

			if (p->offset < 0 ||
			    rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &low,
			        &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
			    high < 0)
				continue;
			snprintf(partition, sizeof(partition), "%d", (int)p->partition);
			metric_set(M_CONSUMER_LAG, labels, high > p->offset ? high - p->offset : 0);
		}
	}
	rd_kafka_topic_partition_list_destroy(parts);
}

/*
 * Offsets are committed only for inputs whose outputs are delivered (they
 * are stored as they complete); on a revoke, what is done is committed
 * before the partitions go, so the next owner does not redo it.
 */
static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
    void *opaque)
{
	int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (cooperative)
			rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		count_assignment(rk, 1);
		return;
	}
	if (!rd_kafka_assignment_lost(rk)) {
		rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);
		if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
			log_warnx("event=commit_failed when=revoke error=\"%s\"",
			    rd_kafka_err2str(e));
	}
	if (cooperative)
		rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
	else
		rd_kafka_assign(rk, NULL);
	count_assignment(rk, cooperative);
}

static rd_kafka_t *
consumer_new(const struct stage *st, const char *brokers, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = kafka_conf_new(brokers, err, errlen);
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_t *rk;
	size_t n = 0;

	if (conf == NULL)
		return NULL;

	/*
	 * Offsets are stored by hand, only once an input's outputs are
	 * delivered; librdkafka commits what is stored every second, on a
	 * revoke and on close. A crash redoes at most that much, and handlers
	 * are idempotent. Every 100 ms cost the broker an OffsetCommit for
	 * each ten requests per second per stage (0.4 a request at 100/s,
	 * against 4 Produce and 4 Fetch), for a smaller redo window only.
	 */
	if (set_conf(conf, "group.id", st->group, err, errlen) ||
	    set_conf(conf, "enable.auto.commit", "true", err, errlen) ||
	    set_conf(conf, "auto.commit.interval.ms", "1000", err, errlen) ||
	    set_conf(conf, "enable.auto.offset.store", "false", err, errlen) ||
	    set_conf(conf, "auto.offset.reset", "earliest", err, errlen) ||
	    set_conf(conf, "max.poll.interval.ms", "600000", err, errlen) ||
	    /* A member that died hands its partitions on after 10 s, not 45. */
	    set_conf(conf, "session.timeout.ms", "10000", err, errlen) ||
	    set_conf(conf, "fetch.message.max.bytes", "1048576", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
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
	 * say): keep trying to deliver it, and tell the tick only once it is
	 * delivered (approval then marks it published; what is not marked its
	 * next tick sends again, so giving up here loses nothing).
	 */
	for (int tries = 0, backoff = BACKOFF_MIN_MS;; tries++) {
		if (out->n == 0 || publish_outbox(producer, out, err, sizeof(err)) == 0) {
			if (st->tick_delivered != NULL)
				st->tick_delivered(st->ctx);
			break;
		}
		log_warnx("event=tick_publish_failed try=%d error=\"%s\"", tries + 1, err);
		if (tries + 1 >= TICK_PUBLISH_TRIES) {
			log_warnx("event=tick_output_lost messages=%zu", out->n);
			break;
		}
		sleep_ms(backoff);
		backoff = (int)backoff_next(backoff, BACKOFF_MAX_MS);
	}
	outbox_clear(out);
}

/* An output waiting for its batch's audit rows to be committed. */
struct queued_output {
	size_t index; /* the input it came from */
	char topic[64];
	char key[80];
	char *body;
};

struct batch;

/*
 * One handler context and the inputs dealt to it in a round; with more
 * than one lane each runs on its own thread. A lane's inputs keep their
 * order, and inputs that must stay in order share a lane.
 */
struct lane {
	const struct stage *st;
	const struct batch *b;
	void *ctx;
	struct audit *audit;
	size_t inputs[BATCH_MAX]; /* indices into the batch, ascending */
	size_t ninputs;
	size_t stop; /* first input not handled; the batch size when all were */
	struct queued_output *queued;
	size_t nqueued, capqueued;
	struct outbox out;
};

/* The inputs taken in one poll, held until they are done. */
struct batch {
	size_t n;
	rd_kafka_message_t *msgs[BATCH_MAX];
	struct delivery_slot slots[BATCH_MAX];
	struct delivery d;
	size_t nlanes;
	struct lane *lanes;
};

/* Takes what is ready: waits for the first input, not for the rest. */
static void
batch_poll(rd_kafka_t *consumer, struct batch *b)
{
	b->n = 0;
	while (b->n < BATCH_MAX) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, b->n == 0 ? POLL_MS : 0);
		if (m == NULL)
			break;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warnx("event=consume_error error=\"%s\"",
				    rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		b->msgs[b->n++] = m;
	}
}

static void
lane_drop_outputs(struct lane *l)
{
	for (size_t i = 0; i < l->nqueued; i++)
		free(l->queued[i].body);
	l->nqueued = 0;
}

static void
batch_release(struct batch *b)
{
	for (size_t k = 0; k < b->nlanes; k++)
		lane_drop_outputs(&b->lanes[k]);
	for (size_t i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->msgs[i]);
	b->n = 0;
}

/* The handler's view of a consumed message; key is the caller's buffer. */
static void
input_of(const rd_kafka_message_t *m, struct stage_input *in, char key[80])
{
	in->topic = rd_kafka_topic_name(m->rkt);
	in->partition = m->partition;
	in->offset = m->offset;
	in->payload = m->payload ? m->payload : "";
	in->len = m->len;
	/* Keys are request ids: keep only a printable, bounded copy. */
	key[0] = '\0';
	if (m->key && m->key_len < 80) {
		memcpy(key, m->key, m->key_len);
		key[m->key_len] = '\0';
		for (size_t k = 0; k < m->key_len; k++)
			if (key[k] < 0x20 || key[k] > 0x7e)
				key[k] = '?';
	}
	in->key = key;
}

/* Moves an input's outbox into the lane's queue. Returns 0, or -1 out of memory. */
static int
lane_queue(struct lane *l, size_t index)
{
	for (size_t i = 0; i < l->out.n; i++) {
		struct queued_output *q;

		if (l->nqueued == l->capqueued) {
			size_t cap = l->capqueued ? l->capqueued * 2 : 64;
			void *grown = realloc(l->queued, cap * sizeof(*l->queued));
			if (grown == NULL)
				return -1;
			l->queued = grown;
			l->capqueued = cap;
		}
		q = &l->queued[l->nqueued];
		if ((q->body = json_dumps(l->out.items[i].value, JSON_COMPACT)) == NULL)
			return -1;
		q->index = index;
		memcpy(q->topic, l->out.items[i].topic, sizeof(q->topic));
		memcpy(q->key, l->out.items[i].key, sizeof(q->key));
		l->nqueued++;
	}
	outbox_clear(&l->out);
	return 0;
}

/*
 * Handles the lane's inputs in order, queueing their outputs, then commits
 * the rows they audited in one transaction. Stops at the first TEMPFAIL:
 * later inputs may depend on it (same key). When the audit rows cannot be
 * written, none of the lane's inputs is done.
 */
static void *
lane_run(void *arg)
{
	struct lane *l = arg;
	const char *why = NULL;

	l->stop = l->b->n;
	audit_batch_begin(l->audit);
	for (size_t j = 0; j < l->ninputs; j++) {
		struct stage_input in;
		char key[80];

		input_of(l->b->msgs[l->inputs[j]], &in, key);
		if (handle_once(l->st, l->ctx, &in, &l->out) == HANDLER_TEMPFAIL ||
		    lane_queue(l, l->inputs[j]) != 0) {
			outbox_clear(&l->out);
			l->stop = l->inputs[j];
			break;
		}
	}
	if (l->st->lane_end != NULL && l->st->lane_end(l->ctx) != 0) {
		audit_batch_fail(l->audit); /* its rows described the state rolled back */
		why = "STORE_UNAVAILABLE: the batch's state was not committed";
	}
	if (l->audit != NULL && audit_batch_commit(l->audit) != 0 && why == NULL)
		why = "AUDIT_UNAVAILABLE: the batch's audit rows were not written";
	if (why != NULL && l->ninputs > 0) {
		log_warnx("event=tempfail offset=%lld reason=\"%s\"",
		    (long long)l->b->msgs[l->inputs[0]]->offset, why);
		lane_drop_outputs(l);
		l->stop = l->inputs[0];
	}
	return NULL;
}

/* FNV-1a: a stable spread of keys over lanes. */
static size_t
fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return (size_t)h;
}

/* Deals inputs from..n to lanes: by the stage's lane_of, else by key. */
static void
batch_deal(const struct stage *st, struct batch *b, size_t from)
{
	for (size_t k = 0; k < b->nlanes; k++)
		b->lanes[k].ninputs = 0;
	for (size_t i = from; i < b->n; i++) {
		size_t k = 0;

		if (b->nlanes > 1) {
			struct stage_input in;
			char key[80];

			input_of(b->msgs[i], &in, key);
			k = (st->lane_of ? st->lane_of(&in) : fnv1a(key, strlen(key))) % b->nlanes;
		}
		b->lanes[k].inputs[b->lanes[k].ninputs++] = i;
	}
}

/*
 * Runs every lane that has inputs (on threads when there are several) and
 * returns the first input not handled. A lane whose thread cannot start
 * runs here.
 */
static size_t
batch_handle(struct batch *b)
{
	pthread_t threads[STAGE_LANES_MAX];
	int started[STAGE_LANES_MAX] = { 0 };
	size_t stop = b->n;

	for (size_t k = 0; k < b->nlanes; k++) {
		if (b->lanes[k].ninputs == 0)
			continue;
		if (b->nlanes > 1 && pthread_create(&threads[k], NULL, lane_run, &b->lanes[k]) == 0)
			started[k] = 1;
		else
			lane_run(&b->lanes[k]);
	}
	for (size_t k = 0; k < b->nlanes; k++) {
		if (started[k])
			pthread_join(threads[k], NULL);
		if (b->lanes[k].ninputs > 0 && b->lanes[k].stop < stop)
			stop = b->lanes[k].stop;
	}
	return stop;
}

/*
 * Hands the queued outputs of inputs before stop to the producer without
 * waiting; the reports land in b->d. Outputs of later inputs are dropped:
 * those inputs are handled again. An output that cannot be queued counts
 * as lost.
 */
static void
batch_produce(rd_kafka_t *producer, struct batch *b, size_t stop)
{
	for (size_t k = 0; k < b->nlanes; k++) {
		struct lane *l = &b->lanes[k];

		for (size_t i = 0; i < l->nqueued; i++) {
			struct queued_output *q = &l->queued[i];
			struct delivery_slot *slot = &b->slots[q->index];
			rd_kafka_resp_err_t e;

			if (q->index >= stop)
				continue;
			slot->d = &b->d;
			slot->index = q->index;
			b->d.pending++;
			e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(q->topic),
			    RD_KAFKA_V_KEY(q->key, strlen(q->key)),
			    RD_KAFKA_V_VALUE(q->body, strlen(q->body)),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(slot),
			    RD_KAFKA_V_END);
			if (e) {
				b->d.pending--;
				if (q->index < b->d.first_failed) {
					b->d.first_failed = q->index;
					snprintf(b->d.error, sizeof(b->d.error),
					    "produce to %s: %s", q->topic, rd_kafka_err2str(e));
				}
			}
		}
		lane_drop_outputs(l);
	}
}

/* Stores the offsets of inputs from..done (exclusive), for the next commit. */
static void
batch_store_offsets(rd_kafka_t *consumer, const struct batch *b, size_t from, size_t done)
{
	rd_kafka_topic_partition_list_t *offsets;
	rd_kafka_resp_err_t e;

	if (done <= from)
		return;
	offsets = rd_kafka_topic_partition_list_new((int)(done - from));
	for (size_t i = from; i < done; i++) {
		const rd_kafka_message_t *m = b->msgs[i];
		const char *topic = rd_kafka_topic_name(m->rkt);
		rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(offsets, topic,
		    m->partition);
		if (p == NULL)
			p = rd_kafka_topic_partition_list_add(offsets, topic, m->partition);
		p->offset = m->offset + 1; /* a partition's inputs arrive in order */
	}
	if ((e = rd_kafka_offsets_store(consumer, offsets)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warnx("event=offset_store_failed error=\"%s\"", rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(offsets);
}

/*
 * One batch: handle every input (lanes in parallel), commit their audit
 * rows, publish, wait for the reports once, store the offsets of what is
 * done. An input whose handler asked for a retry, whose audit rows were
 * not written or whose output was lost is handled again after a pause,
 * together with every input after it (handlers are idempotent: a redo
 * finds its stored state). A stop leaves the rest uncommitted, so it is
 * delivered again.
 */
static void
batch_run(const struct stage *st, rd_kafka_t *producer, rd_kafka_t *consumer, struct batch *b,
    volatile sig_atomic_t *running)
{
	size_t from = 0;
	int backoff = BACKOFF_MIN_MS;

	while (from < b->n && *running) {
		size_t stop, done;

		delivery_reset(&b->d, b->n);
		batch_deal(st, b, from);
		stop = batch_handle(b);
		batch_produce(producer, b, stop);
		if (await_deliveries(producer, &b->d, running) != 0)
			return;
		(void)FAILPOINT("stage.after_publish_before_commit");
		done = stop < b->d.first_failed ? stop : b->d.first_failed;
		if (b->d.first_failed < b->n) {
			char why[512];

			log_warnx("event=publish_failed offset=%lld error=\"delivery failed: %s\"",
			    (long long)b->msgs[b->d.first_failed]->offset, b->d.error);
			/*
			 * A fatal error (an idempotent producer refused its
			 * producer id, say) never clears: retrying would spin
			 * forever. Nothing failed was stored, so exiting loses
			 * nothing; the supervisor starts a fresh producer.
			 */
			if (rd_kafka_fatal_error(producer, why, sizeof(why)))
				fatalx("event=producer_fatal error=\"%s\"", why);
		}
		batch_store_offsets(consumer, b, from, done);
		if (done == b->n)
			return;
		from = done;
		sleep_ms(backoff);
		backoff = (int)backoff_next(backoff, BACKOFF_MAX_MS);
	}
}

/* The lanes of a stage: its own context alone, or one per lane it names. */
static struct batch *
batch_new(const struct stage *st)
{
	struct batch *b = calloc(1, sizeof(*b));
	size_t n = st->lanes > 1 ? st->lanes : 1;

	if (b == NULL)
		return NULL;
	if (n > STAGE_LANES_MAX || (b->lanes = calloc(n, sizeof(*b->lanes))) == NULL) {
		free(b);
		return NULL;
	}
	b->nlanes = n;
	for (size_t k = 0; k < n; k++) {
		b->lanes[k].st = st;
		b->lanes[k].b = b;
		b->lanes[k].ctx = n > 1 ? st->lane_ctx[k] : st->ctx;
		b->lanes[k].audit = n > 1 ? (st->lane_audit ? st->lane_audit[k] : NULL) : st->audit;
	}
	return b;
}

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	batch_release(b);
	for (size_t k = 0; k < b->nlanes; k++) {
		outbox_clear(&b->lanes[k].out);
		free(b->lanes[k].queued);
	}
	free(b->lanes);
	free(b);
}

int
stage_run_kafka(const struct stage *st, const char *brokers, volatile sig_atomic_t *running)
{
	char err[512];
	rd_kafka_t *consumer = NULL, *producer = NULL;
	struct outbox *out = NULL;
	struct batch *b = NULL;
	int64_t next_tick = 0, next_lag = 0;
	int rc = -1;

	if ((out = calloc(1, sizeof(*out))) == NULL || (b = batch_new(st)) == NULL)
		goto fail;
	if ((producer = kafka_producer_new(brokers, err, sizeof(err))) == NULL ||
	    (consumer = consumer_new(st, brokers, err, sizeof(err))) == NULL) {
		log_warnx("event=kafka_setup_failed error=\"%s\"", err);
		goto fail;
	}
	log_info("event=started group=%s brokers=%s", st->group, brokers);
	while (*running) {
		if (monotonic_ms() >= next_lag) {
			count_lag(consumer);
			next_lag = monotonic_ms() + LAG_REFRESH_MS;
		}
		run_tick(st, producer, out, &next_tick);
		rd_kafka_poll(producer, 0);
		batch_poll(consumer, b);
		batch_run(st, producer, consumer, b, running);
		batch_release(b);
	}
	log_info("event=stopping");
	rc = 0;
fail:
	metric_set(M_ASSIGNMENT_KNOWN, NULL, 0);
	if (consumer != NULL) {
		/* What is done is committed before leaving the group. */
		rd_kafka_resp_err_t e = rd_kafka_commit(consumer, NULL, 0);
		if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
			log_warnx("event=commit_failed when=stop error=\"%s\"", rd_kafka_err2str(e));
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
	batch_free(b);
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
		rec = n <= STDIN_LINE_MAX
		    ? json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, NULL)
		    : NULL;
		topic = json_string_value(json_object_get(rec, "topic"));
		key = json_string_value(json_object_get(rec, "key"));
		value = json_object_get(rec, "value");
		if (topic == NULL || value == NULL) {
			log_warnx("event=bad_record line=%lld reason=\"not a {topic, key, value} record\"",
			    lineno);
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
			if ((hrc = handle_once(st, st->ctx, &in, out)) != HANDLER_TEMPFAIL)
				break;
			sleep_ms(BACKOFF_MIN_MS << tries);
		}
		if (hrc == HANDLER_TEMPFAIL) {
			const char *dl[] = { "TEMPFAIL", NULL };

			metric_inc(M_DEAD_LETTERS, dl);
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
