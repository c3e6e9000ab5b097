/*
 * Reading the audit log back: the chain walked from its first row, and the
 * signed checkpoints of its head (made by wingman-auditor, checked by
 * `wingman audit verify`). Only those two link this.
 */
#ifndef WINGMAN_AUDIT_VERIFY_H
#define WINGMAN_AUDIT_VERIFY_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

#include "audit.h"
#include "keys.h"

/*
 * Walks the whole log in PostgreSQL in seq order, every chain at once: the
 * legacy chain (rows from before sql/014_chains.sql: contiguous seq from 1,
 * closed where audit_chain_origin says) and each per-writer chain (linked
 * from the legacy head, its rows bound to it and written by its service),
 * and audit_chains against the chains met (a chain with rows not in it, or
 * in it without rows, is a break),
 * and reports every break, one line each ("AUDIT_GAP: row 7 ...") in report
 * (bounded; a last line says when more did not fit). Returns the number of
 * breaks (0: intact), or -1 when the log cannot be read (report says why).
 * *rows gets the number of rows read, *nchains the chains met.
 */
int audit_verify_chain(PGconn *conn, long long *rows, long long *nchains, char *report,
    size_t reportlen);

/*
 * Signs the head of every chain (audit_chains) that moved since its newest
 * checkpoint, and the chain of the newest row always, with key (kid names
 * it) and stores one checkpoint per chain in audit_checkpoints, all in one
 * transaction, with one signed time. A head that cannot be signed is
 * logged (checkpoint_skipped) and left for the next round, the others are
 * signed; -1 when none of the heads due could be. *heads gets the number of
 * chains signed (0: empty log, nothing signed). When made is not NULL it gets the
 * stored checkpoints as messages, an array of
 * {v, type: "audit_checkpoint", id, chain, seq, row_hash, ts, kid, signature}
 * (new reference, NULL when nothing was signed).
 */
int audit_checkpoint(PGconn *conn, EVP_PKEY *key, const char *kid, long long *heads, json_t **made,
    char *err, size_t errlen);

/*
 * Checks every checkpoint against pubs (the audit key set) and against the chain: a checkpoint
 * whose row is gone (newest rows deleted), is in another chain than the one
 * it signs the head of, or whose hash differs (history rewritten) is a
 * break. Checkpoints from before sql/014_chains.sql (no chain) sign the
 * one chain's head in the v1 form and are checked as then. Reports and returns like audit_verify_chain (lines
 * appended to report). *count gets the number of good checkpoints,
 * newest_ts the signed time of the newest good one ("" when none): the
 * caller decides whether it is recent enough.
 */
int audit_verify_checkpoints(PGconn *conn, const struct keyring *pubs, long long *count,
    char newest_ts[32], char *report, size_t reportlen);

/*
 * The checkpoints published on wingman.audit-checkpoints (an array of the
 * messages): each must verify, fit the chain, and still be in
 * audit_checkpoints (AUDIT_CHECKPOINT_MISSING: deleted from PostgreSQL, seen
 * from the second copy). Reports and returns like audit_verify_checkpoints.
 */
int audit_verify_published(PGconn *conn, const struct keyring *pubs, const json_t *published,
    long long *count, char *report, size_t reportlen);

#endif
