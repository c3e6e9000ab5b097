/* The bot's allowlist: which Telegram user speaks for which approver. */
#ifndef WINGMAN_TG_ALLOWLIST_H
#define WINGMAN_TG_ALLOWLIST_H

#include <stddef.h>

#include "policy.h"

#define ALLOWLIST_MAX 32

struct allowlist {
	size_t n;
	struct {
		long long user_id;
		char name[65];
	} e[ALLOWLIST_MAX];
};

/*
 * Parses "USER_ID=NAME,USER_ID=NAME": numeric user ids (positive, at most
 * 15 digits), each name an approver of policy (when policy is not NULL), no
 * id or name twice. Returns 0, or -1 with err.
 */
int allowlist_parse(const char *spec, const struct policy *policy, struct allowlist *al, char *err,
    size_t errlen);
/* Borrowed approver name, or NULL when user_id is not allowlisted. */
const char *allowlist_name(const struct allowlist *al, long long user_id);

#endif
