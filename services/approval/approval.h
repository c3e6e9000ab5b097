/* wingman-approval: policy, auto-approval, human approvals, expiry. */
#ifndef WINGMAN_APPROVAL_H
#define WINGMAN_APPROVAL_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "audit.h"
#include "keys.h"
#include "policy.h"
#include "stage.h"
#include "trust.h"

struct approval_ctx {
	struct policy policy;
	struct audit *audit;
	EVP_PKEY *sign_key; /* approval.key */
	struct trust_keys keys; /* consensus.pub, approver-<name>.pub, telegram.pub, worker-<id>.pub */
	struct store *store;
	int early_decision_ttl_s; /* how long a decision may wait for its request */
	/*
	 * While a tick runs: what it finished or sends again (request ids), to
	 * be marked published once the tick's messages are delivered.
	 */
	int in_tick;
	json_t *tick_ids;
};

enum approval_verdict {
	APPROVAL_MISLABELED, /* the assessment's action labels are not our parse: refused */
	APPROVAL_INVALID, /* outside the policy: unknown environment, container */
	APPROVAL_REJECT, /* the policy denies an action */
	APPROVAL_AUTO,
	APPROVAL_HUMAN,
};

struct approval_plan {
	enum approval_verdict verdict;
	char reason[512];
	int approvers_required;
	int approval_timeout_s;
	int token_ttl_s;
};

/*
 * Pure: what the policy says of a validated assessment. The commands are
 * parsed here (trust rule 8): the assessment's action labels must agree
 * with our own parse, and only our parse is judged.
 */
void approval_decide(const struct policy *policy, const json_t *assessment,
    struct approval_plan *plan);

/*
 * The approval_update that tells the human channel where a request stands:
 * a vote was counted (state pending) or the request ended. Unsigned, new
 * reference. approvals is borrowed, decided_by stolen.
 */
json_t *approval_update_new(const char *request_id, const char *state, const json_t *approvals,
    int approvers_required, json_t *decided_by, const char *reason);

enum handler_rc approval_handle(void *ctx, const struct stage_input *in, struct outbox *out,
    char *reason, size_t reasonlen);
/*
 * The stage's lane_end: commits the new requests the batch stored, with
 * their audit rows (store_batch_end). 0, or -1 when they are not stored.
 */
int approval_lane_end(void *ctx);
void approval_tick(void *ctx, struct outbox *out);
/* After a tick's messages were delivered: marks its outcomes published. */
void approval_tick_delivered(void *ctx);

/* ---- store.c: approval state in PostgreSQL ---- */

struct store;

struct store *store_open(const char *conninfo, char *err, size_t errlen);
void store_close(struct store *s);

enum store_rc { STORE_OK, STORE_EXISTS, STORE_NOT_FOUND, STORE_DECIDED, STORE_DOWN };

/*
 * Inserts a new request in state (pending, approved, ...) with the message
 * published for it. STORE_EXISTS: the request was seen before; *outcome and
 * *topic receive what was published then (new strings).
 */
enum store_rc store_insert(struct store *s, const json_t *assessment, const char *state,
    const struct approval_plan *plan, const char *topic, const json_t *outcome, char **prev_topic,
    char **prev_outcome);

struct pending_request {
	char state[16];
	char environment[33];
	char worker_id[65];
	int approvers_required;
	int token_ttl_s;
	int expired; /* expires_at has passed */
	json_t *assessment; /* new reference */
	/*
	 * Approving votes so far, oldest first, as stored: [{"approver": NAME,
	 * "message": the signed human_decision or null}] (new reference). Not
	 * trusted until approval.c has re-verified each message.
	 */
	json_t *votes;
	/* Set once the request is final: */
	char outcome_topic[64];
	json_t *outcome; /* what was published (new reference or NULL) */
	json_t *final_update; /* the final approval_update (new reference or NULL) */
	char decided_msg[100]; /* sig value of the human decision that ended it, or "" */
};

/* Releases what store_lock filled in; accepts a zeroed struct. */
void pending_request_free(struct pending_request *req);

/*
 * Starts a transaction and locks the request row. STORE_OK with *req filled,
 * STORE_NOT_FOUND, or STORE_DOWN. The caller ends with store_commit or
 * store_rollback, and releases *req with pending_request_free.
 */
enum store_rc store_lock(struct store *s, const char *request_id, struct pending_request *req);
/*
 * Records a vote with the signed message it came from (each approver counts
 * once). *votes: the approving votes so far, as in pending_request (new).
 */
enum store_rc store_vote(struct store *s, const char *request_id, const json_t *decision,
    int *inserted, json_t **votes);
/*
 * Sets the final state, its published message and the approval_update that
 * tells the human channel (update may be NULL), inside the lock.
 * decided_msg names the human decision that ended the request ("" for none),
 * so that a redelivery of that very message publishes the outcome again.
 * published 0 (a tick's outcome, no input to redeliver): store_unpublished
 * lists it until store_mark_published.
 */
enum store_rc store_finish(struct store *s, const char *request_id, const char *state,
    const char *reason, const char *topic, const json_t *outcome, const json_t *update,
    const char *decided_msg, int published);
/*
 * Finished requests whose outcome is not marked published, oldest first, at
 * most max (new array or NULL): [{"request_id", "topic", "outcome",
 * "update" (null when none)}], the messages as stored (signed).
 */
json_t *store_unpublished(struct store *s, int max);
/* Marks the outcomes of these request ids (a JSON array) published. */
int store_mark_published(struct store *s, const json_t *ids);
/* Opens a transaction for store_insert (store_lock opens its own). */
int store_begin(struct store *s);
int store_commit(struct store *s);
/*
 * Writes the audit rows queued in audit within the open transaction, then
 * commits: the state and the rows that say so commit together or not at
 * all (on -1 the caller rolls back).
 */
int store_commit_audited(struct store *s, struct audit *audit);
void store_rollback(struct store *s);
/*
 * A batch's transaction: the first store_batch_join opens it, the next ones
 * (store_insert between them) join it; store_batch_end writes the audit
 * rows queued in audit within it and commits (0 when none is open). -1
 * from either: nothing of the batch is stored (rolled back, or to be).
 */
int store_batch_join(struct store *s);
int store_batch_end(struct store *s, struct audit *audit);
/* Request ids past their expiry still pending, at most max (new array). */
json_t *store_expired(struct store *s, int max);
/*
 * How many requests are pending and the seconds until the first of them
 * expires (*soonest_s -1 when none is pending). Returns 0, or -1 when the
 * store is unreachable.
 */
int store_pending_stats(struct store *s, long long *pending, double *soonest_s);

/*
 * Early decisions (a human decision read before its request): kept as the
 * signed message, one per request and approver, the first one wins.
 */
enum store_rc store_early_add(struct store *s, const json_t *decision);
/*
 * Kept decisions to act on, oldest first, at most max (new array or NULL):
 * [{"request_id", "approver", "message", "arrived": true when the request is
 * stored now, false when it has not come within ttl_s}].
 */
json_t *store_early_due(struct store *s, int ttl_s, int max);
void store_early_delete(struct store *s, const char *request_id, const char *approver);

#endif
