/* A voter's vote: a risk, approve or not, its reasons; or an abstention. */
#ifndef WINGMAN_CONSENSUS_VOTE_H
#define WINGMAN_CONSENSUS_VOTE_H

#include <stdint.h>

#include <jansson.h>

enum risk { RISK_LOW, RISK_MEDIUM, RISK_HIGH, RISK_CRITICAL };

/* "low" ... "critical"; "critical" for anything out of range. */
const char *risk_name(int risk);
/* Returns the risk for an exact lower-case name, or -1. */
int risk_from_name(const char *name);

#define VOTE_MAX_REASONS 16
#define VOTE_REASON_MAX 512

/* A cast vote. Steals reasons. latency_ms < 0: not given. New reference. */
json_t *vote_new(const char *voter, int risk, int approve, json_t *reasons, int64_t latency_ms);
/*
 * An abstention: approve false, risk "critical" (so a reader that ignores
 * "abstain" still errs on the safe side), cause as its first reason
 * ("ABSTAIN_TIMEOUT: ..."). New reference.
 */
json_t *vote_abstain(const char *voter, const char *cause, int64_t latency_ms);
/* 1 when vote is an abstention (which never approves nor sets the risk). */
int vote_is_abstention(const json_t *vote);

#endif
