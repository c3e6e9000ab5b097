/* wingman-consensus: rates the risk of a request with its voters. */
#ifndef WINGMAN_CONSENSUS_H
#define WINGMAN_CONSENSUS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit.h"
#include "keys.h"
#include "trust.h"
#include "stage.h"

enum risk { RISK_LOW, RISK_MEDIUM, RISK_HIGH, RISK_CRITICAL };

/* "low" ... "critical"; "critical" for anything out of range. */
const char *risk_name(int risk);
/* Returns the risk for an exact lower-case name, or -1. */
int risk_from_name(const char *name);

#define CONSENSUS_MAX_VOTERS 16
#define VOTE_MAX_REASONS 16
#define VOTE_REASON_MAX 512

/*
 * The rules voter's table (the "rules" member of the consensus file, with
 * built-in defaults for what is absent). A pattern raises the risk to at
 * least its own risk when one of its needles is found; nothing lowers it.
 */
#define RULES_MAX_ENVS 16
#define RULES_MAX_PATTERNS 64
#define RULES_MAX_NEEDLES 1024
#define RULES_NEEDLE_MAX 128

enum rules_scope {
	SCOPE_INSTRUCTION = 1, /* the request's free text */
	SCOPE_COMMANDS = 2,    /* every command string */
	SCOPE_ARGV = 4,        /* exec arguments, joined by blanks */
};

enum needle_kind {
	NEEDLE_CONTAINS, /* substring */
	NEEDLE_WORD,     /* substring with no letter or digit on either side */
	NEEDLE_ARGV0,    /* the program an exec runs (its last path component) */
};

struct rules_needle {
	enum needle_kind kind;
	char text[RULES_NEEDLE_MAX + 1]; /* normalised: ASCII lower case, blanks collapsed */
};

struct rules_pattern {
	char name[65];
	char code[33];   /* first word of the reason: INJECTION, DESTRUCTIVE, ... */
	unsigned scope;  /* enum rules_scope bits */
	int risk;        /* at least this when it matches */
	int distrust;    /* a match voids the approval of every model voter */
	char why[201];   /* appended to the reason */
	size_t first, count; /* its needles in rules_table.needles */
};

struct rules_table {
	int action_risk[7];  /* by enum command_action */
	struct {
		char name[33];
		int raise;
	} envs[RULES_MAX_ENVS];
	size_t n_envs;
	int approve_max;     /* highest risk the rules voter approves */
	struct rules_pattern patterns[RULES_MAX_PATTERNS];
	size_t n_patterns;
	struct rules_needle *needles; /* owned */
	size_t n_needles;
};

/* What the rules voter concluded about one request. */
struct rules_verdict {
	int risk;
	int approve;
	int distrust;           /* a distrusting pattern matched */
	char distrust_why[256]; /* which one, for the voided votes */
	json_t *reasons;        /* new reference, at most VOTE_MAX_REASONS */
};

enum voter_kind { VOTER_RULES, VOTER_OPENAI, VOTER_ANTHROPIC };

#define VOTER_URL_MAX 512
#define VOTER_MODEL_MAX 128
#define VOTER_KEY_MAX 512

struct voter {
	char name[65];
	enum voter_kind kind;
	char url[VOTER_URL_MAX + 1];     /* base URL without a trailing slash */
	char model[VOTER_MODEL_MAX + 1];
	char proxy[VOTER_URL_MAX + 1];   /* empty: no proxy, whatever the environment says */
	long timeout_ms;
	long max_tokens;                 /* anthropic only */
	char *api_key;                   /* NULL: no key (a local server); wiped on free */
};

struct consensus_config {
	int threshold; /* approving votes needed for auto-approval */
	size_t n_voters;
	struct voter voters[CONSENSUS_MAX_VOTERS];
	struct rules_table rules;
};

struct consensus_ctx {
	struct audit *audit;
	EVP_PKEY *sign_key;  /* consensus.key */
	struct trust_keys workers; /* worker-<id>.pub: signed requests */
	struct consensus_config cfg;
};

/*
 * Loads WINGMAN_CONSENSUS_FILE into cfg (zeroed first), reading every API
 * key file. Returns 0, or -1 with err (which never holds a key). Release
 * with consensus_config_free in both cases.
 */
int consensus_load_config(const char *path, struct consensus_config *cfg, char *err,
    size_t errlen);
/* One rules voter named "rules" with the default table, and threshold. */
int consensus_config_default(struct consensus_config *cfg, int threshold, char *err,
    size_t errlen);
/* Wipes the API keys. Accepts a zeroed config. */
void consensus_config_free(struct consensus_config *cfg);

/*
 * Parses the "rules" member of the consensus file (NULL: the defaults) into
 * t. Returns 0, or -1 with err. Release with rules_table_free.
 */
int rules_table_load(const json_t *rules, struct rules_table *t, char *err, size_t errlen);
void rules_table_free(struct rules_table *t);
/* The built-in table, as the JSON text of a "rules" member. */
const char *rules_default_json(void);

/* Pure: the rules voter's verdict on a request and its parsed actions. */
void rules_evaluate(const struct rules_table *t, const json_t *request, const json_t *actions,
    struct rules_verdict *out);

/* A cast vote. Steals reasons. latency_ms < 0: not given. New reference. */
json_t *vote_new(const char *voter, int risk, int approve, json_t *reasons, int64_t latency_ms);
/*
 * An abstention: approve false, risk "critical" (so a reader that ignores
 * "abstain" still errs on the safe side), cause as its first reason
 * ("ABSTAIN_TIMEOUT: ..."). New reference.
 */
json_t *vote_abstain(const char *voter, const char *cause, int64_t latency_ms);

/*
 * Pure: the actions of a request, or NULL with reason "CMD_...: ... (command
 * N)" when one command is outside the grammar. New reference.
 */
json_t *consensus_actions(const json_t *request, char *reason, size_t reasonlen);

/*
 * Pure: when a distrusting rules pattern matched, every approving vote of a
 * model voter is replaced by an abstention naming why; its answer stays in
 * the reasons. votes is in voter order and modified in place.
 */
void consensus_distrust(const struct consensus_config *cfg, json_t *votes,
    const struct rules_verdict *rv);

/*
 * Pure: the unsigned assessment from the votes. Abstentions never approve
 * and never set the risk; the risk is the highest risk cast, "critical"
 * when nobody voted. Steals actions and votes. New reference.
 */
json_t *consensus_tally(const json_t *request, json_t *actions, json_t *votes, int threshold);

/*
 * The assessment (unsigned) of a validated request: parse every command
 * (no vote for what is outside the grammar), ask every voter at once, tally.
 * Never fails open: a voter that errs abstains. New reference.
 */
json_t *consensus_assess(const json_t *request, const struct consensus_config *cfg);

/*
 * The model voters (llm.c). llm_ask asks every openai/anthropic voter of cfg
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

enum handler_rc consensus_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);

#endif
