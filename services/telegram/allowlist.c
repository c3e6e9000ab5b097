#include "allowlist.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define FAIL(...) \
	do { \
		snprintf(err, errlen, __VA_ARGS__); \
		return -1; \
	} while (0)

int
allowlist_parse(const char *spec, const struct policy *policy, struct allowlist *al, char *err,
    size_t errlen)
{
	const char *p = spec;

	memset(al, 0, sizeof(*al));
	if (*p == '\0')
		FAIL("ALLOWLIST: empty: give USER_ID=NAME[,USER_ID=NAME...]");
	for (size_t entry = 1;; entry++) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *eq;
		char id[16], name[65];
		size_t idlen, namelen;
		long long uid;

		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL)
			FAIL("ALLOWLIST: entry %zu is not USER_ID=NAME", entry);
		idlen = (size_t)(eq - p);
		namelen = (size_t)(end - eq - 1);
		if (idlen == 0 || idlen >= sizeof(id) || strspn(p, "0123456789") < idlen)
			FAIL("ALLOWLIST: entry %zu: the Telegram user id must be a number "
			     "(1-15 digits), not a username",
			    entry);
		memcpy(id, p, idlen);
		id[idlen] = '\0';
		if (parse_int(id, 1, 999999999999999LL, &uid) != 0)
			FAIL("ALLOWLIST: entry %zu: user id out of range", entry);
		if (namelen == 0 || namelen >= sizeof(name))
			FAIL("ALLOWLIST: entry %zu: the approver name is empty or too long", entry);
		memcpy(name, eq + 1, namelen);
		name[namelen] = '\0';
		if (!valid_name(name))
			FAIL("ALLOWLIST: entry %zu: '%s' is not a valid approver name", entry, name);
		if (policy != NULL && !policy_is_approver(policy, name))
			FAIL("ALLOWLIST: entry %zu: '%s' is not an approver in the policy", entry,
			    name);
		for (size_t i = 0; i < al->n; i++) {
			if (al->e[i].user_id == uid)
				FAIL("ALLOWLIST: user id %lld is listed twice", uid);
			if (strcmp(al->e[i].name, name) == 0)
				FAIL("ALLOWLIST: approver '%s' is listed twice", name);
		}
		if (al->n == ALLOWLIST_MAX)
			FAIL("ALLOWLIST: more than %d entries", ALLOWLIST_MAX);
		al->e[al->n].user_id = uid;
		memcpy(al->e[al->n].name, name, namelen + 1);
		al->n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

const char *
allowlist_name(const struct allowlist *al, long long user_id)
{
	for (size_t i = 0; i < al->n; i++)
		if (al->e[i].user_id == user_id)
			return al->e[i].name;
	return NULL;
}
