#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
now_unix(void)
{
	return (int64_t)time(NULL);
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	/* A signal ends the sleep: the caller checks its run flag. */
	(void)nanosleep(&ts, NULL);
}

void
sleep_while(volatile sig_atomic_t *running, long ms)
{
	while (ms > 0 && (running == NULL || *running)) {
		long step = ms < 100 ? ms : 100;
		struct timespec ts = { 0, step * 1000000L };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		ms -= step;
	}
}

long
backoff_next(long backoff, long max)
{
	return backoff > max / 2 ? max : backoff * 2;
}

void
format_ts_ms(int64_t unix_ms, char out[32])
{
	time_t secs = (time_t)(unix_ms / 1000);
	struct tm tm;
	char base[24];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", base, (int)(unix_ms % 1000));
}

void
now_ts(char out[32])
{
	format_ts_ms(now_ms(), out);
}

int
parse_ts_ms(const char *s, int64_t *unix_ms)
{
	struct tm tm;
	int ms, n = 0;
	time_t secs;

	if (strlen(s) != 24)
		return -1;
	for (int i = 0; i < 24; i++) {
		static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return -1;
	}
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
	    n != 24)
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	secs = timegm(&tm);
	if (secs == (time_t)-1)
		return -1;
	*unix_ms = (int64_t)secs * 1000 + ms;
	return 0;
}
