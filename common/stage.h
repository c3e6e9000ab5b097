/*
 * The loop every stage runs, in two modes with the same handler:
 * Kafka (consume, handle, publish, then commit the offset) and the --stdin
 * filter (records {"topic","key","value"} one a line in and out).
 */
#ifndef WINGMAN_STAGE_H
#define WINGMAN_STAGE_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

struct audit;

enum handler_rc {
	HANDLER_OK, /* handled: publish the outbox, commit */
	HANDLER_TEMPFAIL, /* a dependency is down: publish nothing, retry later */
	HANDLER_PERMFAIL, /* bad input: publish the outbox and a dead letter, commit */
};

#define OUTBOX_MAX 64

/* What a handler wants published; sent only after the handler returns. */
struct outbox {
	size_t n;
	struct {
		char topic[64];
		char key[80];
		json_t *value;
	} items[OUTBOX_MAX];
};

/* Steals value. Returns 0, or -1 when the outbox is full (value released). */
int outbox_add(struct outbox *out, const char *topic, const char *key, json_t *value);
void outbox_clear(struct outbox *out);

struct stage_input {
	const char *topic;
	const char *key;
	const char *payload;
	size_t len;
	int partition; /* -1 in filter mode */
	long long offset; /* -1 in filter mode */
};

typedef enum handler_rc (*stage_handler_fn)(void *ctx, const struct stage_input *in,
    struct outbox *out, char *reason, size_t reasonlen);
/* Periodic work (expiry, ...), Kafka mode only. May be NULL. */
typedef void (*stage_tick_fn)(void *ctx, struct outbox *out);
/*
 * Called after everything a tick queued was delivered: what it committed
 * may now be marked published (a crash before that, and the next tick sends
 * it again). May be NULL.
 */
typedef void (*stage_tick_delivered_fn)(void *ctx);

struct stage {
	const char *name; /* "wingman-executor" */
	const char *group; /* consumer group id */
	const char *const *topics; /* consumed topics, NULL-terminated */
	stage_handler_fn handle;
	stage_tick_fn tick;
	stage_tick_delivered_fn tick_delivered;
	int tick_interval_ms;
	void *ctx;
	/*
	 * Optional, Kafka mode: the audit sink the handlers write to. The rows
	 * a batch of inputs produces are committed in one transaction, before
	 * any of the batch's outputs is published.
	 */
	struct audit *audit;
	/*
	 * Optional, Kafka mode: handle a batch on this many threads, lane k
	 * with its own lane_ctx[k] and lane_audit[k] (ctx and audit are then
	 * unused). Inputs are dealt by lane_of (a hash; inputs that must stay
	 * in order must hash alike), else by key. 0 or 1: one lane, ctx.
	 */
	size_t lanes;
	void **lane_ctx;
	struct audit **lane_audit;
	size_t (*lane_of)(const struct stage_input *in);
	/*
	 * Optional, Kafka mode: called with the lane's ctx after the lane has
	 * handled its inputs, before their audit rows are committed (to commit
	 * what the handlers left open). -1: none of the lane's inputs is done,
	 * as when the audit rows cannot be written.
	 */
	int (*lane_end)(void *ctx);
};

#define STAGE_LANES_MAX 64

/* Runs until *running becomes 0. Returns 0 on a clean stop. */
int stage_run_kafka(const struct stage *st, const char *brokers, volatile sig_atomic_t *running);
/* Filter mode. Returns 0 when every record was handled or passed on. */
int stage_run_stdin(const struct stage *st, FILE *in, FILE *out, volatile sig_atomic_t *running);

/*
 * A new librdkafka configuration for brokers, with the properties file named
 * by WINGMAN_KAFKA_CONFIG (when set) applied first: KEY=VALUE lines, '#'
 * comments, blank lines ignored; security.protocol, sasl.*, ssl.* and the
 * like. Every producer and consumer of every process starts from this, so
 * the file is applied in this one place; the settings Wingman relies on
 * (bootstrap.servers, group.id, offsets, acks, idempotence) are set after it
 * and win. NULL with err (naming the file and line, never a value) when the
 * file cannot be read or librdkafka refuses a line: the process does not
 * start half-configured.
 */
rd_kafka_conf_t *kafka_conf_new(const char *brokers, char *err, size_t errlen);
/* Producer helpers shared with the CLI. */
rd_kafka_t *kafka_producer_new(const char *brokers, char *err, size_t errlen);
/* Produces and waits for the delivery report. Returns 0 only when delivered. */
int kafka_publish(rd_kafka_t *producer, const char *topic, const char *key, const json_t *value,
    char *err, size_t errlen);

#endif
