/* The built-in rules voter (rules.c): its table and its pure verdict. */
#ifndef WINGMAN_CONSENSUS_RULES_H
#define WINGMAN_CONSENSUS_RULES_H

#include <stddef.h>

#include <jansson.h>

#include "vote.h"

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
	SCOPE_COMMANDS = 2, /* every command string */
	SCOPE_ARGV = 4, /* exec arguments, joined by blanks */
};

enum needle_kind {
	NEEDLE_CONTAINS, /* substring */
	NEEDLE_WORD, /* substring with no letter or digit on either side */
	NEEDLE_ARGV0, /* the program an exec runs (its last path component) */
};

struct rules_needle {
	enum needle_kind kind;
	char text[RULES_NEEDLE_MAX + 1]; /* normalised: ASCII lower case, blanks collapsed */
};

struct rules_pattern {
	char name[65];
	char code[33]; /* first word of the reason: INJECTION, DESTRUCTIVE, ... */
	unsigned scope; /* enum rules_scope bits */
	int risk; /* at least this when it matches */
	int distrust; /* a match voids the approval of every model voter */
	char why[201]; /* appended to the reason */
	size_t first, count; /* its needles in rules_table.needles */
};

struct rules_table {
	int action_risk[7]; /* by enum command_action */
	struct {
		char name[33];
		int raise;
	} envs[RULES_MAX_ENVS];
	size_t n_envs;
	int approve_max; /* highest risk the rules voter approves */
	struct rules_pattern patterns[RULES_MAX_PATTERNS];
	size_t n_patterns;
	struct rules_needle *needles; /* owned */
	size_t n_needles;
};

/* What the rules voter concluded about one request. */
struct rules_verdict {
	int risk;
	int approve;
	int distrust; /* a distrusting pattern matched */
	char distrust_why[256]; /* which one, for the voided votes */
	json_t *reasons; /* new reference, at most VOTE_MAX_REASONS */
};

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

#endif
