#include "receipt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* DSSE v1: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
unsigned char *
receipt_pae(const char *type, const unsigned char *payload, size_t plen, size_t *len)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(type), type, plen);
	unsigned char *out;

	if (n < 0 || (size_t)n >= sizeof(head) || (out = malloc((size_t)n + plen + 1)) == NULL)
		return NULL;
	memcpy(out, head, (size_t)n);
	memcpy(out + n, payload, plen);
	*len = (size_t)n + plen;
	return out;
}

static char *
b64_encode(const unsigned char *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* Standard base64 with padding, strict: decoded length must round-trip. */
static unsigned char *
b64_decode(const char *in, size_t *outlen)
{
	size_t len = strlen(in), pad = 0;
	unsigned char *out;
	int n;
	char *check;

	if (len == 0 || len % 4 != 0 || len > RECEIPT_MAX_BYTES)
		return NULL;
	if ((out = malloc(len / 4 * 3 + 1)) == NULL)
		return NULL;
	if ((n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len)) < 0) {
		free(out);
		return NULL;
	}
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	*outlen = (size_t)n - pad;
	/* Refuse non-canonical encodings: re-encoding must give the input back. */
	check = b64_encode(out, *outlen);
	if (check == NULL || strcmp(check, in) != 0) {
		free(check);
		free(out);
		return NULL;
	}
	free(check);
	return out;
}

json_t *
receipt_sign(const json_t *statement, EVP_PKEY *key, const char *kid)
{
	char *payload = json_dumps(statement, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char *pae = NULL, sig[64];
	char *payload64 = NULL, *sig64 = NULL;
	json_t *env = NULL;
	size_t len;

	if (payload == NULL ||
	    (pae = receipt_pae(RECEIPT_PAYLOAD_TYPE, (unsigned char *)payload, strlen(payload),
	         &len)) == NULL ||
	    ed25519_sign(key, pae, len, sig) != 0 ||
	    (payload64 = b64_encode((unsigned char *)payload, strlen(payload))) == NULL ||
	    (sig64 = b64_encode(sig, sizeof(sig))) == NULL)
		goto done;
	env = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payloadType", RECEIPT_PAYLOAD_TYPE,
	    "payload", payload64, "signatures", "keyid", kid, "sig", sig64);
done:
	free(payload);
	free(pae);
	free(payload64);
	free(sig64);
	return env;
}

int
receipt_verify(const char *text, size_t len, const struct keyring *pubs, json_t **statement,
    char *err, size_t errlen)
{
	json_t *env = NULL, *sigs, *st = NULL;
	const char *type, *payload64, *sig64;
	unsigned char *payload = NULL, *sig = NULL, *pae = NULL;
	size_t plen = 0, siglen = 0, paelen;
	int rc = -1;

	*statement = NULL;
	if (len > RECEIPT_MAX_BYTES ||
	    (env = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(env)) {
		snprintf(err, errlen, "RECEIPT_MALFORMED: not a JSON envelope");
		goto done;
	}
	type = json_string_value(json_object_get(env, "payloadType"));
	payload64 = json_string_value(json_object_get(env, "payload"));
	sigs = json_object_get(env, "signatures");
	if (type == NULL || payload64 == NULL || !json_is_array(sigs) ||
	    json_array_size(sigs) != 1 || json_object_size(env) != 3 ||
	    (sig64 = json_string_value(json_object_get(json_array_get(sigs, 0), "sig"))) == NULL) {
		snprintf(err, errlen,
		    "RECEIPT_MALFORMED: need payloadType, payload and one signature");
		goto done;
	}
	if (strcmp(type, RECEIPT_PAYLOAD_TYPE) != 0) {
		snprintf(err, errlen, "RECEIPT_WRONG_TYPE: payloadType is not %s",
		    RECEIPT_PAYLOAD_TYPE);
		goto done;
	}
	if ((payload = b64_decode(payload64, &plen)) == NULL ||
	    (sig = b64_decode(sig64, &siglen)) == NULL) {
		snprintf(err, errlen, "RECEIPT_MALFORMED: bad base64");
		goto done;
	}
	if ((pae = receipt_pae(type, payload, plen, &paelen)) == NULL ||
	    !keyring_verify_any(pubs, pae, paelen, sig, siglen)) {
		snprintf(err, errlen,
		    "RECEIPT_BAD_SIGNATURE: the receipt was altered or not signed by this key");
		goto done;
	}
	st = json_loadb((const char *)payload, plen, JSON_REJECT_DUPLICATES, NULL);
	if (st == NULL ||
	    strcmp(json_string_value(json_object_get(st, "_type"))
	            ? json_string_value(json_object_get(st, "_type"))
	            : "",
	        RECEIPT_STATEMENT_TYPE) != 0 ||
	    strcmp(json_string_value(json_object_get(st, "predicateType"))
	            ? json_string_value(json_object_get(st, "predicateType"))
	            : "",
	        RECEIPT_PREDICATE_TYPE) != 0) {
		snprintf(err, errlen,
		    "RECEIPT_MALFORMED: payload is not a Wingman in-toto statement");
		json_decref(st);
		goto done;
	}
	*statement = st;
	rc = 0;
done:
	json_decref(env);
	free(payload);
	free(sig);
	free(pae);
	return rc;
}
