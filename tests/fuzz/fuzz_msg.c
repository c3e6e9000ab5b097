/*
 * libFuzzer target for the message decoders (common/msg.c) and signature
 * check (common/envelope.c): every byte of every topic comes from writers
 * we do not trust. Any input: a decoded message or an error with a stable
 * code, never a crash; a decoded message must survive re-validation and
 * a signature check against a key that signed nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "envelope.h"
#include "keys.h"
#include "msg.h"

static struct keyring ring;

/* A key made here, so no message anywhere was signed by it. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	keyring_init(&ring);
	if ((ring.keys[0].key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		abort();
	memcpy(ring.keys[0].name, "token", 6);
	ring.n = 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "request", "assessment", "approval_prompt",
		"human_decision", "decision", "order", "result", "dead_letter" };
	const char *payload = (const char *)data;
	char err[512], rid[80], kid[80];
	json_t *m;

	msg_guess_request_id(payload, size, rid, sizeof(rid));
	if ((m = msg_decode(payload, size, NULL, err, sizeof(err))) == NULL) {
		if (strncmp(err, "MSG_", 4) != 0)
			abort();
		/* Each typed decoder on the same bytes. */
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			json_decref(msg_decode(payload, size, types[i], err, sizeof(err)));
		return 0;
	}
	if (msg_validate(m, NULL, err, sizeof(err)) != 0)
		abort();
	if (envelope_verify(m, &ring, kid, sizeof(kid)) == SIG_OK)
		abort();
	json_decref(m);
	return 0;
}
