/*
 * Who votes: the consensus file (WINGMAN_CONSENSUS_FILE) read into one
 * configuration, the threshold, the voters and the rules table.
 */
#ifndef WINGMAN_CONSENSUS_VOTERS_H
#define WINGMAN_CONSENSUS_VOTERS_H

#include <stddef.h>

#include "rules.h"

#define CONSENSUS_MAX_VOTERS 16

enum voter_kind { VOTER_RULES, VOTER_OPENAI, VOTER_ANTHROPIC };

#define VOTER_URL_MAX 512
#define VOTER_MODEL_MAX 128
#define VOTER_KEY_MAX 512

struct voter {
	char name[65];
	enum voter_kind kind;
	char url[VOTER_URL_MAX + 1]; /* base URL without a trailing slash */
	char model[VOTER_MODEL_MAX + 1];
	char proxy[VOTER_URL_MAX + 1]; /* empty: no proxy, whatever the environment says */
	long timeout_ms;
	long max_tokens; /* anthropic only */
	char *api_key; /* NULL: no key (a local server); wiped on free */
};

struct consensus_config {
	int threshold; /* approving votes needed for auto-approval */
	size_t n_voters;
	struct voter voters[CONSENSUS_MAX_VOTERS];
	struct rules_table rules;
};

/*
 * Loads WINGMAN_CONSENSUS_FILE into cfg (zeroed first), reading every API
 * key file. Returns 0, or -1 with err (which never holds a key). Release
 * with consensus_config_free in both cases.
 */
int consensus_load_config(const char *path, struct consensus_config *cfg, char *err, size_t errlen);
/* One rules voter named "rules" with the default table, and threshold. */
int consensus_config_default(struct consensus_config *cfg, int threshold, char *err, size_t errlen);
/* Wipes the API keys. Accepts a zeroed config. */
void consensus_config_free(struct consensus_config *cfg);

#endif
