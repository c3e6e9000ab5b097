#include "button.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "util.h"

int
cb_secret_derive(EVP_PKEY *key, unsigned char secret[CB_SECRET_LEN])
{
	static const char label[] = "wingman-telegram-callback-v1";
	unsigned char raw[32], buf[sizeof(label) - 1 + 32];
	size_t len = sizeof(raw);

	if (EVP_PKEY_get_raw_private_key(key, raw, &len) != 1 || len != 32)
		return -1;
	memcpy(buf, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1, raw, 32);
	sha256(buf, sizeof(buf), secret);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void
cb_handle(const char *request_id, char out[CB_HANDLE_LEN + 1])
{
	unsigned char h[32];
	char buf[128], *enc;
	int n = snprintf(buf, sizeof(buf), "wingman-callback-handle-v1\n%s", request_id);

	sha256(buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0, h);
	enc = b64url_encode(h, 12);
	snprintf(out, CB_HANDLE_LEN + 1, "%s", enc ? enc : "");
	free(enc);
}

/* HMAC over the action and the full request id, truncated to 128 bits. */
static int
cb_tag(const unsigned char secret[CB_SECRET_LEN], char action, const char *request_id,
    unsigned char tag[CB_TAG_BYTES])
{
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "wingman-callback-v1\n%c\n%s", action, request_id);

	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    HMAC(EVP_sha256(), secret, CB_SECRET_LEN, (const unsigned char *)buf, (size_t)n, mac,
	        &maclen) == NULL)
		return -1;
	memcpy(tag, mac, CB_TAG_BYTES);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int
cb_encode(const unsigned char secret[CB_SECRET_LEN], char action, const char *request_id,
    char out[CB_DATA_LEN + 1])
{
	unsigned char tag[CB_TAG_BYTES];
	char handle[CB_HANDLE_LEN + 1], *enc;
	int rc = -1;

	out[0] = '\0';
	if ((action != 'a' && action != 'r') || !valid_request_id(request_id) ||
	    cb_tag(secret, action, request_id, tag) != 0)
		return -1;
	cb_handle(request_id, handle);
	if ((enc = b64url_encode(tag, sizeof(tag))) != NULL &&
	    xsnprintf(out, CB_DATA_LEN + 1, "wm1:%c:%s:%s", action, handle, enc) == CB_DATA_LEN)
		rc = 0;
	free(enc);
	return rc;
}

int
cb_parse(const char *data, size_t len, struct cb_data *cb)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char *tag = NULL;
	size_t taglen = 0;

	memset(cb, 0, sizeof(*cb));
	if (len != CB_DATA_LEN || memcmp(data, "wm1:", 4) != 0 ||
	    (data[4] != 'a' && data[4] != 'r') || data[5] != ':' || data[22] != ':')
		return -1;
	for (size_t i = 6; i < CB_DATA_LEN; i++)
		if (i != 22 && (data[i] == '\0' || strchr(alphabet, data[i]) == NULL))
			return -1;
	if (b64url_decode(data + 23, CB_DATA_LEN - 23, &tag, &taglen) != 0 ||
	    taglen != CB_TAG_BYTES) {
		free(tag);
		return -1;
	}
	cb->action = data[4];
	memcpy(cb->handle, data + 6, CB_HANDLE_LEN);
	cb->handle[CB_HANDLE_LEN] = '\0';
	memcpy(cb->tag, tag, CB_TAG_BYTES);
	free(tag);
	return 0;
}

int
cb_verify(const unsigned char secret[CB_SECRET_LEN], const struct cb_data *cb,
    const char *request_id)
{
	unsigned char tag[CB_TAG_BYTES];
	char handle[CB_HANDLE_LEN + 1];

	if (cb_tag(secret, cb->action, request_id, tag) != 0)
		return 0;
	cb_handle(request_id, handle);
	return CRYPTO_memcmp(tag, cb->tag, CB_TAG_BYTES) == 0 && strcmp(handle, cb->handle) == 0;
}

json_t *
bot_buttons(const unsigned char secret[CB_SECRET_LEN], const char *request_id)
{
	char approve[CB_DATA_LEN + 1], reject[CB_DATA_LEN + 1];

	if (cb_encode(secret, 'a', request_id, approve) != 0 ||
	    cb_encode(secret, 'r', request_id, reject) != 0)
		return NULL;
	return json_pack("{s:[[{s:s, s:s}, {s:s, s:s}]]}", "inline_keyboard", "text",
	    "\xe2\x9c\x85 Approve", "callback_data", approve, "text", "\xe2\x9d\x8c Reject",
	    "callback_data", reject);
}
