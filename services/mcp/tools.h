/*
 * wingman-mcp's tools: request_commands, request_status, allowed_commands.
 * They reach Wingman only through the client library (common/client.h), as
 * the agent configured in WINGMAN_WORKER_ID (and WINGMAN_WORKER_KEY_FILE):
 * nothing a model writes in a tool call chooses who the request is from.
 */
#ifndef WINGMAN_MCP_TOOLS_H
#define WINGMAN_MCP_TOOLS_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "client.h"
#include "mcp.h"
#include "policy.h"

struct tools_ctx {
	struct client client;
	const char *worker_id; /* from the configuration */
	const char *default_env; /* "" when none */
	EVP_PKEY *key; /* NULL: requests go unsigned */
	struct policy *policy; /* NULL when WINGMAN_POLICY_FILE is not set */
	int64_t wait_ms;
	int64_t progress_every_ms;
	struct mcp *m;
};

extern const struct mcp_tool mcp_tools[];
extern const size_t mcp_n_tools;

/* One line about a verified approval prompt or update. */
void tools_prompt_text(const json_t *prompt, char *out, size_t outlen);
/* The command grammar (what common/command.c accepts) as JSON. New reference. */
json_t *tools_grammar(void);

#endif
