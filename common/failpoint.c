#include "failpoint.h"

#ifdef WINGMAN_FAILPOINTS

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "log.h"

/* Whether the Nth hit (or this hit, by chance) of name fires, and how. */
enum fp_action { FP_NONE, FP_CRASH, FP_HANG, FP_ERROR };

static pthread_mutex_t fp_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Finds name in WINGMAN_FAILPOINTS; returns its action and sets *nth (the
 * hit that fires, 0 when by chance) and *percent.
 */
static enum fp_action
fp_lookup(const char *name, long *nth, long *percent)
{
	const char *spec = getenv("WINGMAN_FAILPOINTS"), *p;
	size_t n = strlen(name);

	for (p = spec; p != NULL && *p != '\0'; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		const char *a;
		enum fp_action action;

		if (strncmp(p, name, n) != 0 || p[n] != '=')
			continue;
		a = p + n + 1;
		if (strncmp(a, "crash", 5) == 0)
			action = FP_CRASH, a += 5;
		else if (strncmp(a, "hang", 4) == 0)
			action = FP_HANG, a += 4;
		else if (strncmp(a, "error", 5) == 0)
			action = FP_ERROR, a += 5;
		else
			return FP_NONE;
		*nth = 1;
		*percent = 0;
		if (*a == '@')
			*nth = strtol(a + 1, NULL, 10);
		else if (*a == '%')
			*nth = 0, *percent = strtol(a + 1, NULL, 10);
		return action;
	}
	return FP_NONE;
}

int
failpoint_hit(const char *name)
{
	/* Hits per point, counted by a small table: a test arms a few at most. */
	static struct {
		char name[64];
		long hits;
	} seen[32];
	long nth, percent, hits = 0;
	enum fp_action action = fp_lookup(name, &nth, &percent);
	unsigned char r = 0;
	int fire;

	if (action == FP_NONE)
		return 0;
	pthread_mutex_lock(&fp_lock);
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		if (seen[i].name[0] == '\0')
			snprintf(seen[i].name, sizeof(seen[i].name), "%s", name);
		if (strcmp(seen[i].name, name) == 0) {
			hits = ++seen[i].hits;
			break;
		}
	}
	pthread_mutex_unlock(&fp_lock);
	if (nth > 0)
		fire = hits == nth;
	else
		fire = RAND_bytes(&r, 1) == 1 && r % 100 < percent;
	if (!fire)
		return 0;
	log_warnx("event=failpoint name=%s action=%s hit=%ld", name,
	    action == FP_CRASH      ? "crash"
	        : action == FP_HANG ? "hang"
	                            : "error",
	    hits);
	switch (action) {
	case FP_CRASH:
		raise(SIGKILL);
		break;
	case FP_HANG:
		for (;;)
			pause();
	default:
		break;
	}
	return -1;
}

#endif
