/*
 * Message signatures between stages (trust rule 2). Each stage signs what it
 * publishes with its own Ed25519 key and accepts only what the stage before it
 * signed: the topic is never trusted. See docs/messages.md, "Signatures".
 */
#ifndef WINGMAN_ENVELOPE_H
#define WINGMAN_ENVELOPE_H

#include <stddef.h>

#include <jansson.h>

#include "keys.h"

enum envelope_verdict {
	SIG_OK = 0,
	SIG_MISSING,
	SIG_MALFORMED,
	SIG_UNTRUSTED_KID, /* signed by a key this stage does not accept */
	SIG_BAD,
};

const char *envelope_verdict_code(enum envelope_verdict v);

/* Adds (or replaces) msg's "sig" member. Returns 0 on success. */
int envelope_sign(json_t *msg, const char *kid, EVP_PKEY *key);

/*
 * Checks msg's "sig" against the keys in trusted (the kids this stage accepts).
 * On SIG_OK, kid_out (if not NULL) receives the signer's kid.
 */
enum envelope_verdict envelope_verify(const json_t *msg, const struct keyring *trusted,
    char *kid_out, size_t kid_len);

#endif
