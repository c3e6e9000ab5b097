/*
 * A button's callback_data: "wm1:<a|r>:<handle>:<tag>", 45 bytes. The
 * handle names the request, the tag (an HMAC keyed from telegram.key)
 * proves the bot made the button.
 */
#ifndef WINGMAN_TG_BUTTON_H
#define WINGMAN_TG_BUTTON_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#define CB_SECRET_LEN 32
#define CB_HANDLE_LEN 16 /* base64url of 12 bytes of SHA-256 of the request id */
#define CB_TAG_BYTES 16 /* HMAC-SHA256 truncated to 128 bits */
#define CB_DATA_LEN 45 /* Telegram allows 64 */

struct cb_data {
	char action; /* 'a' approve, 'r' reject */
	char handle[CB_HANDLE_LEN + 1];
	unsigned char tag[CB_TAG_BYTES];
};

/* The secret that keys the tags, derived from telegram.key. */
int cb_secret_derive(EVP_PKEY *key, unsigned char secret[CB_SECRET_LEN]);
/* The short, public reference of a request carried in callback_data. */
void cb_handle(const char *request_id, char out[CB_HANDLE_LEN + 1]);
/* Writes the callback_data of a button. Returns 0, -1 on a bad action. */
int cb_encode(const unsigned char secret[CB_SECRET_LEN], char action, const char *request_id,
    char out[CB_DATA_LEN + 1]);
/* Strict parse of what a client sent (len bytes, not NUL-terminated). 0 or -1. */
int cb_parse(const char *data, size_t len, struct cb_data *cb);
/* 1 when the tag is that of (action, request_id) under secret; constant time. */
int cb_verify(const unsigned char secret[CB_SECRET_LEN], const struct cb_data *cb,
    const char *request_id);

/* {"inline_keyboard": [[Approve, Reject]]} for request_id (new reference). */
json_t *bot_buttons(const unsigned char secret[CB_SECRET_LEN], const char *request_id);

#endif
