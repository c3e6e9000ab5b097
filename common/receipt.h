/*
 * Receipts: one signed record per request that ties together what was asked,
 * the votes, the decision and approvers, the tokens and what ran. An in-toto
 * Statement v1 inside a DSSE envelope signed with Ed25519 by the audit key.
 */
#ifndef WINGMAN_RECEIPT_H
#define WINGMAN_RECEIPT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "keys.h"

#define RECEIPT_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define RECEIPT_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define RECEIPT_PREDICATE_TYPE "urn:wingman:receipt:v1"
#define RECEIPT_MAX_BYTES (1024 * 1024)

/* DSSE envelope (new reference) of statement, signed with key as kid. */
json_t *receipt_sign(const json_t *statement, EVP_PKEY *key, const char *kid);

/*
 * Verifies a DSSE envelope (text) with any key of pubs (the audit key set). Returns 0 and the statement
 * (new reference) in *statement, or -1 with err = "RECEIPT_...: words".
 */
int receipt_verify(const char *text, size_t len, const struct keyring *pubs, json_t **statement,
    char *err, size_t errlen);

/* DSSE pre-authentication encoding. New buffer, length in *len. */
unsigned char *receipt_pae(const char *type, const unsigned char *payload, size_t plen, size_t *len);

#endif
