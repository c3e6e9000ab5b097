/*
 * The single-use ledger (trust rule 4): a token id is claimed in Redis with
 * one atomic SET NX, and an intent row unique on jti is committed to
 * PostgreSQL before anything runs. Redis may lose an acknowledged write;
 * the PostgreSQL row is the durable fence that still refuses a replay.
 *
 * The same transaction that writes the intent row reads the kill switch
 * (sql/003_killswitch.sql): a frozen ledger or a revoked request burns the
 * token instead ('void' row holding the refusal). While a token is being
 * handled its executor holds a PostgreSQL advisory lock on it, so a second
 * executor handed the same order waits (LEDGER_BUSY) instead of calling a
 * running command interrupted; a crashed executor's session, and its lock,
 * end with its connection.
 *
 * The Redis value records how far a claim got: "pending:<owner>" until the
 * intent row is committed, "fenced:<owner>" after. A pending claim with no
 * row is stale (its claimant stopped between the two; nothing ran, since
 * nothing runs without the row) and is taken over, not called a replay. A
 * fenced claim with no row is refused: the row it was fenced by is gone.
 */
#ifndef WINGMAN_LEDGER_H
#define WINGMAN_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit.h"

struct ledger;

/*
 * What became of a command, decided where it happens and stored with its
 * result, so a replay answers with the same order status without reading
 * the reason text (which is for humans). The names are the result
 * statuses of docs/messages.md.
 */
enum exec_verdict {
	VERDICT_EXECUTED, /* ran, whatever its exit code */
	VERDICT_REJECTED, /* refused: token, policy, replay or revocation */
	VERDICT_FROZEN, /* refused by the kill switch's freeze */
	VERDICT_FAILED, /* did not run: infrastructure or clock skew */
	VERDICT_INTERRUPTED, /* may have run: the outcome is unknown */
	VERDICT_SHADOW, /* every check passed; not run: "execute": false */
};

/* The result status for v: "executed", "rejected", "frozen", "failed", "interrupted", "shadow". */
const char *exec_verdict_name(enum exec_verdict v);

enum ledger_claim {
	LEDGER_CLAIMED, /* ours to run: intent row committed; call ledger_finish */
	LEDGER_DONE, /* finished (or voided) before: *stored is its result */
	LEDGER_VOID, /* kill switch: token burnt now, *stored is the refusal */
	LEDGER_REPLAYED, /* claimed and fenced before (row gone or peer): refuse */
	LEDGER_INTERRUPTED, /* an intent row without a result: a crash mid-run */
	LEDGER_BUSY, /* another executor is handling this token: retry later */
	LEDGER_UNAVAILABLE, /* Redis, PostgreSQL or the kill switch unreadable: retry later */
};

/* Does not connect: connections are made (and remade) on first use. */
struct ledger *ledger_open(const char *redis_url, const char *conninfo, char *err, size_t errlen);
void ledger_close(struct ledger *l);
/* PING on the ledger's Redis connection, (re)connected. Returns 0, or -1 with err. */
int ledger_ping_redis(struct ledger *l, char *err, size_t errlen);

/*
 * The token's lock and row, before anything else about it: 1 with *stored
 * (new reference) and *verdict when the token has finished (or was voided;
 * read even while another executor holds the lock: a finished row is
 * final), 2 when another executor holds the lock of an unfinished token
 * (LEDGER_BUSY), -1 when PostgreSQL is unreachable, 0 otherwise: the lock
 * is then kept for ledger_claim, so the caller either calls ledger_claim
 * for jti or gives it back with ledger_release.
 */
int ledger_lookup(struct ledger *l, const char *jti, json_t **stored, enum exec_verdict *verdict);
/* Gives back the lock ledger_lookup kept on jti (nothing if none). */
void ledger_release(struct ledger *l, const char *jti);

/*
 * Decides whether the command may run, in this order: advisory lock on the
 * token and durable row (those ledger_lookup kept, if it kept them on this
 * connection), Redis claim, then kill switch and intent row in one
 * transaction, with the audit rows audit has queued (the intent's among
 * them: neither commits without the other). *stored (new reference) and
 * *verdict are set for LEDGER_DONE and LEDGER_VOID: a command result
 * {"cmd","status","exit_code","output"}.
 * err gets "CODE: words" for every outcome but LEDGER_CLAIMED and LEDGER_DONE.
 */
enum ledger_claim ledger_claim(struct ledger *l, struct audit *audit, const char *jti,
    const char *request_id, size_t index, const char *cmd, int64_t exp, json_t **stored,
    enum exec_verdict *verdict, char *err, size_t errlen);
/*
 * Stores the command's result and verdict on its intent row, with the audit
 * rows audit has queued in the same transaction, and releases the token's
 * lock.
 */
int ledger_finish(struct ledger *l, struct audit *audit, const char *jti, const json_t *result,
    enum exec_verdict verdict, char *err, size_t errlen);

#endif
