/*
 * WINGMAN_REDIS_URL: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]. Pure, so
 * the parser is tested alone. The password is a secret: it never reaches
 * a log or an error message, and redis_url_wipe clears it. rediss:// (TLS)
 * is refused with its own message: the hiredis linked (0.14) has no TLS.
 */
#ifndef WINGMAN_REDISURL_H
#define WINGMAN_REDISURL_H

#include <stddef.h>

struct redis_url {
	char host[256];
	int port;
	int db;
	char user[128]; /* "" : the default user (AUTH password) */
	char password[256]; /* "" : no AUTH */
};

/* Returns 0, or -1 with err (never quoting the URL, which may hold a password). */
int redis_url_parse(const char *url, struct redis_url *u, char *err, size_t errlen);
/* Wipes the password. */
void redis_url_wipe(struct redis_url *u);

#endif
