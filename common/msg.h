/*
 * Strict decoders for every message on the topics (docs/messages.md).
 * Unknown members, duplicate members, wrong types and out-of-range values
 * are errors. The same rules are in schemas/, and tests/schema_corpus.py
 * proves the two agree on a shared corpus.
 */
#ifndef WINGMAN_MSG_H
#define WINGMAN_MSG_H

#include <stddef.h>

#include <jansson.h>

#define MSG_MAX_BYTES (256 * 1024)
#define MSG_MAX_COMMANDS 16
#define MSG_INSTRUCTION_MAX 4096
#define MSG_REASON_MAX 1024

#define TOPIC_REQUESTS "wingman.requests"
#define TOPIC_ASSESSMENTS "wingman.assessments"
#define TOPIC_HUMAN_DECISIONS "wingman.human-decisions"
#define TOPIC_APPROVAL_PROMPTS "wingman.approval-prompts"
#define TOPIC_DECISIONS "wingman.decisions"
#define TOPIC_ORDERS "wingman.orders"
#define TOPIC_RESULTS "wingman.results"
#define TOPIC_DLQ "wingman.dlq"
/* Signed audit checkpoints, a second copy outside PostgreSQL (wingman-auditor). */
#define TOPIC_AUDIT_CHECKPOINTS "wingman.audit-checkpoints"

/*
 * Parses payload as one JSON object and validates it as expected_type (or as
 * whatever its "type" says when expected_type is NULL). New reference, or NULL
 * with err = "MSG_...: words".
 */
json_t *msg_decode(const char *payload, size_t len, const char *expected_type, char *err,
    size_t errlen);
/* Validates an already parsed message. Returns 0 or -1 with err. */
int msg_validate(const json_t *msg, const char *expected_type, char *err, size_t errlen);

/* Borrowed string member, or "" when absent. For validated messages. */
const char *msg_str(const json_t *msg, const char *name);

/* Best effort request_id of a message that failed validation, for logs and
 * dead letters: only returned when it is itself a valid request id. */
const char *msg_guess_request_id(const char *payload, size_t len, char *buf, size_t buflen);

/* New message with v, type, request_id and ts set. */
json_t *msg_new(const char *type, const char *request_id);

/* New terminal result. commands may be NULL (stolen otherwise). */
json_t *result_new(const char *request_id, const char *status, const char *reason, json_t *commands);

#endif
