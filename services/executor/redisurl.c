#include "redisurl.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "util.h"

/* Copies [s, e) into out (size n); -1 when it does not fit. */
static int
copy_span(char *out, size_t n, const char *s, const char *e)
{
	if ((size_t)(e - s) >= n)
		return -1;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	return 0;
}

/*
 * Userinfo is split at the last '@' before the path, so a password may
 * hold any byte but '/' (percent-encoding is not decoded: a password made
 * by scripts/stack is hex).
 */
int
redis_url_parse(const char *url, struct redis_url *u, char *err, size_t errlen)
{
	const char *p = url, *slash, *at = NULL, *colon, *q;
	long long port = 6379, db = 0;
	char num[16];

	memset(u, 0, sizeof(*u));
	/*
	 * Debian 12's hiredis (0.14) has no TLS: a rediss:// URL is refused by
	 * name, never taken for a plaintext connection (docs/deploy.md, TLS).
	 */
	if (url != NULL && strncasecmp(url, "rediss://", 9) == 0) {
		snprintf(err, errlen,
		    "CONFIG_INVALID: WINGMAN_REDIS_URL: rediss:// (TLS) is not supported: this "
		    "build's hiredis has no TLS; reach Redis over a private network or a local TLS "
		    "tunnel with redis:// (docs/deploy.md)");
		return -1;
	}
	if (url == NULL || strncmp(p, "redis://", 8) != 0)
		goto bad;
	p += 8;
	if ((slash = strchr(p, '/')) == NULL)
		slash = p + strlen(p);
	for (q = p; q < slash; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		if ((colon = memchr(p, ':', (size_t)(at - p))) == NULL)
			goto bad; /* redis://secret@host would take the password for a user */
		if (copy_span(u->user, sizeof(u->user), p, colon) != 0 ||
		    copy_span(u->password, sizeof(u->password), colon + 1, at) != 0 ||
		    u->password[0] == '\0')
			goto bad;
		p = at + 1;
	}
	colon = memchr(p, ':', (size_t)(slash - p));
	if (colon != NULL) {
		if (copy_span(num, sizeof(num), colon + 1, slash) != 0 ||
		    parse_int(num, 1, 65535, &port) != 0)
			goto bad;
	} else {
		colon = slash;
	}
	if (colon == p || copy_span(u->host, sizeof(u->host), p, colon) != 0)
		goto bad;
	if (*slash == '/' && slash[1] != '\0' && parse_int(slash + 1, 0, 15, &db) != 0)
		goto bad;
	u->port = (int)port;
	u->db = (int)db;
	return 0;
bad:
	redis_url_wipe(u);
	snprintf(err, errlen,
	    "CONFIG_INVALID: WINGMAN_REDIS_URL must look like redis://[:PASSWORD@]HOST:PORT/DB");
	return -1;
}

void
redis_url_wipe(struct redis_url *u)
{
	OPENSSL_cleanse(u->password, sizeof(u->password));
}
