/*
 * The agent's side of the public contract, the one implementation under
 * `wingman submit --wait`, `wingman wait`, `wingman hook` and wingman-mcp:
 * build a request (signed with the agent's key when it has one), publish
 * it, and wait for its terminal result, believing only a result signed by
 * the stage entitled to its status (trust rule 9).
 *
 * Waiting is fast because it reads one partition: the results partition the
 * stages' producers pick for the request id, assigned directly (no group
 * join). For a new request the reader is placed at that partition's end
 * before the request is published, so its result cannot be missed.
 */
#ifndef WINGMAN_CLIENT_H
#define WINGMAN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "keys.h"

struct client {
	const char *brokers; /* borrowed */
	struct keyring signers; /* executor.pub, approval.pub */
	rd_kafka_t *producer; /* made on the first publish */
	/*
	 * Says why a message on the watched partitions was ignored (anyone may
	 * write wingman.results). Default: "wingman: LINE" on stderr.
	 */
	void (*warn)(void *arg, const char *line);
	void *warn_arg;
};

/* What a watch is told while it waits (NULL members are not called). */
struct client_events {
	/*
	 * Called about once a second with the time waited; a non-zero return
	 * stops the wait (CLIENT_STOPPED).
	 */
	int (*tick)(void *arg, int64_t waited_ms);
	/*
	 * An approval_prompt or approval_update for the request, signed by
	 * wingman-approval (borrowed): the request waits for humans.
	 */
	void (*prompt)(void *arg, const json_t *msg);
	void *arg;
};

struct client_watch {
	rd_kafka_t *rk;
	char request_id[64];
	/* Each partition's first offset and end when the watch began. */
	int64_t results_lo, results_end;
	int64_t prompts_lo, prompts_end; /* 0, 0 without prompts */
};

enum client_outcome {
	CLIENT_RESULT, /* *result holds a verified terminal result */
	CLIENT_TIMEOUT, /* none within the time given */
	CLIENT_NONE, /* client_lookup: none on the topic yet */
	CLIENT_STOPPED, /* events->tick asked to stop */
	CLIENT_ERROR, /* the broker did not answer; err says so */
};

/*
 * Loads executor.pub and approval.pub from keys_dir (required: a result
 * that cannot be verified is never believed). brokers is borrowed. Returns
 * 0, or -1 with err.
 */
int client_open(struct client *c, const char *brokers, const char *keys_dir, char *err,
    size_t errlen);
/* Releases everything; accepts a client that failed to open. */
void client_close(struct client *c);

/*
 * A new request (new reference) for worker in environment, with the
 * commands (array of strings, borrowed), signed as worker-<worker> with key
 * when key is not NULL; request_id NULL makes a fresh UUID. Validated as
 * every stage would validate it. NULL with err ("MSG_...: ...") otherwise.
 */
json_t *client_request_new(const char *request_id, const char *worker, const char *environment,
    const char *instruction, const json_t *commands, EVP_PKEY *key, char *err, size_t errlen);

/*
 * Publishes request (borrowed) to wingman.requests and waits for its
 * delivery. With w not NULL, first starts a watch on its result from the
 * results partition's current end (watch_prompts: also its approval
 * prompts), so the result cannot be missed. Returns 0, or -1 with err.
 */
int client_submit(struct client *c, const json_t *request, struct client_watch *w,
    int watch_prompts, char *err, size_t errlen);

/*
 * A watch on the result of an older request, from the beginning of its
 * results partition. Returns 0, or -1 with err.
 */
int client_watch_open(struct client *c, struct client_watch *w, const char *request_id,
    int from_end, int watch_prompts, char *err, size_t errlen);
void client_watch_close(struct client_watch *w);

/*
 * Waits up to timeout_ms for the first result of the watched request that
 * decodes and is signed by a stage entitled to its status; every other
 * message under its key is ignored through c->warn. *result: new reference
 * on CLIENT_RESULT.
 */
enum client_outcome client_await(struct client *c, struct client_watch *w, int64_t timeout_ms,
    const struct client_events *events, json_t **result, char *err, size_t errlen);

/*
 * Whether request_id has a verified result now: reads its results partition
 * from the beginning to the end it has when called. CLIENT_RESULT (with
 * *result), CLIENT_NONE, or CLIENT_ERROR. *prompt (when not NULL) gets the
 * latest verified approval_prompt/approval_update for it, or NULL.
 */
enum client_outcome client_lookup(struct client *c, const char *request_id, json_t **result,
    json_t **prompt, char *err, size_t errlen);

/*
 * The text an agent reads for a verified terminal result: the status in
 * words first (what it means, whether anything ran), the reason, then each
 * command with its output. New string (free), or NULL without memory.
 */
char *client_result_text(const json_t *result);
/* 1 when the result's status is a failure for the agent (nothing ran, or unknown). */
int client_result_is_error(const json_t *result);

/*
 * Kafka helpers the CLI shares. A consumer that joins no group and commits
 * nothing; the partitions of a topic (-1: no answer); a producer that
 * already has topic's metadata, so its first message leaves at once.
 */
rd_kafka_t *client_reader_new(const char *brokers, char *err, size_t errlen);
int client_topic_partitions(rd_kafka_t *rk, const char *topic);
rd_kafka_t *client_producer_for(const char *brokers, const char *topic, char *err, size_t errlen);

#endif
