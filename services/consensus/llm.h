/* The model voters (llm.c): OpenAI and Anthropic wire formats over libcurl. */
#ifndef WINGMAN_CONSENSUS_LLM_H
#define WINGMAN_CONSENSUS_LLM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "voters.h"

/*
 * llm_ask asks every openai/anthropic voter of cfg
 * in parallel and sets votes[i] (new reference) for each of them; the slots
 * of rules voters are left alone.
 */
void llm_ask(const struct consensus_config *cfg, const json_t *request, const json_t *actions,
    json_t *votes[CONSENSUS_MAX_VOTERS]);
const char *llm_system_prompt(void);
/* The user message: the request as quoted JSON data. New string (free). */
char *llm_user_prompt(const json_t *request, const json_t *actions);
/* The HTTP body for v's wire format. New reference. */
json_t *llm_request_body(const struct voter *v, const json_t *request, const json_t *actions);
/*
 * Pure: one voter's vote from what its server answered: a cast vote, or an
 * abstention naming the HTTP status, a refusal or what could not be read.
 * New reference.
 */
json_t *llm_read_answer(const struct voter *v, long http_status, const char *body, size_t len,
    int64_t latency_ms);
/*
 * Pure: the model's verdict in text, leniently found (bare, in Markdown
 * fences or in prose) and strictly checked. Returns 0 and *risk, *approve,
 * *reasons (new reference), or -1 with cause.
 */
int llm_parse_verdict(const char *text, int *risk, int *approve, json_t **reasons, char *cause,
    size_t causelen);
/* Replaces every occurrence of secret in s (and any "sk-..." word) by [REDACTED]. */
void llm_redact(char *s, size_t size, const char *secret);

#endif
