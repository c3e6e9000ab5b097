/* The bot's configuration, read once at start and shared read-only by both loops. */
#ifndef WINGMAN_TG_BOT_CONFIG_H
#define WINGMAN_TG_BOT_CONFIG_H

#include "allowlist.h"
#include "button.h"
#include "policy.h"

struct bot_config {
	long long chat_id;
	struct allowlist allow;
	struct policy policy;
	unsigned char secret[CB_SECRET_LEN];
	/*
	 * Secrets of older telegram key generations (key rotation): buttons
	 * already in the chat were tagged with them and still count; new
	 * buttons use secret.
	 */
	unsigned char old_secrets[4][CB_SECRET_LEN];
	int n_old_secrets;
	char bot_id[24];
	int poll_s;
	long timeout_ms;
	const char *brokers;
};

#endif
