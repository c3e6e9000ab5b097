/*
 * The policy file (WINGMAN_POLICY_FILE): per environment, which containers
 * and actions are allowed, which are auto-approved, how many approvers a
 * decision needs, the approval timeout and the token lifetime.
 */
#ifndef WINGMAN_POLICY_H
#define WINGMAN_POLICY_H

#include <stddef.h>

#include "command.h"

#define POLICY_MAX_ENVS 16
#define POLICY_MAX_PATTERNS 16
#define POLICY_MAX_APPROVERS 32
#define POLICY_MAX_OWNED 16
#define POLICY_ACTIONS 7

enum policy_mode { POLICY_DENY, POLICY_HUMAN, POLICY_AUTO };

struct policy_env {
	char name[33];
	size_t n_patterns;
	char patterns[POLICY_MAX_PATTERNS][129];
	enum policy_mode modes[POLICY_ACTIONS]; /* indexed by enum command_action */
	int approvers_required;
	/*
	 * How many of the approvers_required may come through one relaying
	 * channel (the Telegram bot signs for every user it relays): below
	 * approvers_required, a compromised bot alone cannot meet the quorum.
	 */
	int max_relayed_approvals;
	int require_signed_requests; /* requests must carry worker-<id>'s signature */
	/*
	 * 0: shadow mode. Every check, claim, ledger step and audit row as
	 * usual, but the executor makes no Docker call and the result says
	 * `shadow`. Lets a team trial Wingman beside its current tooling.
	 */
	int execute;
	/*
	 * 1: allowlisted people may ask for commands with /exec (requests of
	 * telegram-<name> workers, signed by the bot). Off by default: with
	 * it on, a taken-over bot can ask as well as relay, so where one
	 * relayed approval is a quorum it alone gets a `human` command run.
	 */
	int telegram_exec;
	int approval_timeout_s;
	int token_ttl_s;
};

struct policy_approver {
	char name[65];
	size_t n_owns;
	char owns[POLICY_MAX_OWNED][65]; /* worker ids this approver is responsible for */
};

struct policy {
	size_t n_envs;
	struct policy_env envs[POLICY_MAX_ENVS];
	size_t n_approvers;
	struct policy_approver approvers[POLICY_MAX_APPROVERS];
};

/* Loads and checks the whole file. Returns 0, or -1 with err. */
int policy_load(const char *path, struct policy *p, char *err, size_t errlen);
/* Borrowed, or NULL for an unknown environment. */
const struct policy_env *policy_env(const struct policy *p, const char *name);
/* 1 when the container matches one of the environment's patterns. */
int policy_container_allowed(const struct policy_env *env, const char *container);
const char *policy_mode_name(enum policy_mode mode);
/* What the policy says of one parsed command (trust rule 8). */
enum policy_verdict {
	POLICY_ALLOWED, /* *mode says how: auto or human */
	POLICY_OUTSIDE, /* the container is not this environment's: invalid */
	POLICY_FORBIDDEN, /* the action is denied here: rejected */
};

/*
 * The one check of a command against an environment, used by approval and
 * executor alike: container in the environment (and not readable as a
 * container id), action not denied. why gets "POLICY_...: words".
 */
enum policy_verdict policy_check_command(const struct policy_env *env, const struct command *cmd,
    enum policy_mode *mode, char *why, size_t whylen);

/*
 * A request a person makes from Telegram (/exec) names the worker
 * "telegram-<approver>", and only the bot's key may sign it
 * (trust_check_request).
 */
#define POLICY_TELEGRAM_WORKER_PREFIX "telegram-"
/* 1 when worker is "telegram-<approver>": that person asked for the request. */
int policy_requested_by(const char *approver, const char *worker);

/*
 * 1 when approver may decide for worker: a configured approver who is not
 * the worker, does not own it and did not ask for the request through
 * Telegram (separation of duties: nobody approves their own request).
 */
int policy_may_decide(const struct policy *p, const char *approver, const char *worker);

/* 1 when name is a configured approver. */
int policy_is_approver(const struct policy *p, const char *name);
/* 1 when approver is listed as an owner of worker (separation of duties). */
int policy_owns(const struct policy *p, const char *approver, const char *worker);

#endif
