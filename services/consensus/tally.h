/* The tally (tally.c): from the votes to the unsigned assessment. Pure. */
#ifndef WINGMAN_CONSENSUS_TALLY_H
#define WINGMAN_CONSENSUS_TALLY_H

#include <stddef.h>

#include <jansson.h>

#include "rules.h"
#include "voters.h"

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

/* The assessment of a request that is not valid: reason says why. New reference. */
json_t *consensus_invalid(const json_t *request, const char *reason, int threshold);

#endif
