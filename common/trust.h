/*
 * Who may sign what, and the evidence a command needs before it runs
 * (trust rules 8 and 9, docs/trust-rules.md).
 *
 * A decision and an order carry the signed originals that justify their
 * commands: the consensus-signed assessment (holding the request as the
 * agent sent it, with the agent's signature when it signed) and the signed
 * human decisions. evidence_check() re-derives everything from those
 * originals with public keys only and its own copy of the policy, so no
 * single stage in between (approval, token) can make a command run that
 * the policy did not approve: the executor calls it before any Docker
 * call, approval before it asks for a token.
 */
#ifndef WINGMAN_TRUST_H
#define WINGMAN_TRUST_H

#include <stddef.h>

#include <jansson.h>

#include "audit.h"
#include "keys.h"
#include "policy.h"
#include "stage.h"

/*
 * The trust table (trust rule 2): the one key that signs each message a
 * stage accepts from the stage before it, e.g. "decision" -> "approval".
 * NULL for a type with a rule of its own: a request (its worker's key,
 * trust_check_request), a human decision (its approver's or the bot's,
 * trust_check_human_decision), a result (trust_result_signer_ok).
 */
const char *trust_signer_of(const char *type);

/*
 * A message from the stage before: decoded strictly (as type, or as any
 * type of the table when type is NULL), then its signature checked against
 * trusted, which must hold the key the table names. A bad signature is
 * audited. New reference, or NULL with reason ("MSG_...", or "SIG_...:
 * <type> is not signed by wingman-<signer>"): the handler's PERMFAIL.
 */
json_t *msg_accept(const struct stage_input *in, const char *type, const struct keyring *trusted,
    struct audit *audit, char *reason, size_t reasonlen);

struct trust_keys {
	struct keyring consensus; /* consensus.pub: assessments */
	struct keyring deciders; /* approver-<name>.pub per policy approver, telegram.pub */
	char keys_dir[1024]; /* worker-<id>.pub are read from here */
};

/* Empty key rings reading worker keys from dir (all a request check needs). */
int trust_keys_init(struct trust_keys *keys, const char *dir);
/*
 * Loads consensus.pub, approver-<name>.pub for every approver of the policy
 * (each must exist) and telegram.pub when present. Returns 0, or -1 with err.
 */
int trust_keys_load(struct trust_keys *keys, const char *dir, const struct policy *policy,
    char *err, size_t errlen);
void trust_keys_free(struct trust_keys *keys);

/*
 * The agent's signature on a request: when present it must be by
 * worker-<worker_id> and valid; when absent it must not be required by the
 * environment's policy. A "telegram-<name>" worker (a person's /exec in the
 * approvers' chat) must always be signed, by the bot's key telegram, which
 * signs for no other worker. Returns 0, or -1 with why "REQUEST_UNSIGNED: ..."
 * or "REQUEST_BAD_SIGNATURE: ...". env may be NULL (nothing required).
 */
int trust_check_request(const struct trust_keys *keys, const struct policy_env *env,
    const json_t *request, char *why, size_t whylen);

/*
 * The human decision's signer for its channel: approver-<approver> for the
 * CLI, telegram for the bot. Returns 0, or -1 with why "SIG_...: ...".
 */
int trust_check_human_decision(const struct trust_keys *keys, const json_t *decision, char *why,
    size_t whylen);

/*
 * Trust rule 9: 1 when kid is a stage entitled to end a request with this
 * result status (executor: executed, failed, interrupted, frozen, rejected;
 * approval: rejected, expired, invalid). Clients check it after the
 * signature itself.
 */
int trust_result_signer_ok(const char *status, const char *kid);

/*
 * Trust rule 9, whole: 1 when the result's signature verifies against keys
 * and its signer may end a request with its status. Otherwise 0 and why
 * says "CODE: reason" (the envelope's verdict code, or
 * RESULT_SIGNER_NOT_ENTITLED). What every reader of wingman.results asks.
 * The signer's key id goes to kid (kidlen bytes).
 */
int trust_result_verify(const json_t *result, const struct keyring *keys, char *kid, size_t kidlen,
    char *why, size_t whylen);

/*
 * Approving votes actually cast in an assessment (an abstention never
 * approves), counted from the votes, not read from approving_votes.
 */
json_int_t assessment_votes_for(const json_t *assessment);

enum evidence_verdict {
	EVIDENCE_OK,
	EVIDENCE_UNSIGNED, /* the assessment is not consensus's */
	EVIDENCE_MISMATCH, /* evidence about another request, worker, environment or commands */
	EVIDENCE_REQUEST, /* the request's own signature is missing or bad */
	EVIDENCE_INVALID, /* a command outside the grammar or the environment */
	EVIDENCE_DENIED, /* an action the policy denies */
	EVIDENCE_BAD_DECISION, /* a human decision that is forged or not for this */
	EVIDENCE_NO_QUORUM, /* neither enough approving votes nor enough humans */
};

/* Stable code of a verdict, e.g. "EVIDENCE_NO_QUORUM". */
const char *evidence_verdict_code(enum evidence_verdict v);

/*
 * Checks that evidence justifies running commands (an array of strings, in
 * order) for request_id, worker_id and environment:
 *  - the assessment is signed by consensus and is of exactly this request
 *    and these commands, and the request's own signature holds;
 *  - every command parses with our grammar and the policy allows it here
 *    (the assessment's action labels are never read);
 *  - if every action is auto: approving votes >= the assessment's threshold;
 *  - otherwise (or if the votes fall short): approvers_required distinct
 *    policy approvers, none the worker or its owner, each decision signed by
 *    its own key for this request id and these exact commands, of which at
 *    most max_relayed_approvals come through the Telegram bot.
 * Pure apart from reading worker-<id>.pub. why gets "CODE: words".
 */
enum evidence_verdict evidence_check(const struct policy *policy, const struct trust_keys *keys,
    const char *request_id, const char *worker_id, const char *environment, const json_t *commands,
    const json_t *evidence, char *why, size_t whylen);

#endif
