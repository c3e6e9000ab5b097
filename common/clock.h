/* Time: the clocks, timestamps as the messages carry them, sleeps and backoff. */
#ifndef WINGMAN_CLOCK_H
#define WINGMAN_CLOCK_H

#include <signal.h>
#include <stdint.h>

/* Wall clock. */
int64_t now_unix(void);
int64_t now_ms(void);
int64_t monotonic_ms(void);
/* Sleeps ms milliseconds, or less when a signal arrives: the caller checks its run flag. */
void sleep_ms(int ms);
/*
 * Sleeps ms milliseconds in short steps, signals or not, and returns early
 * once *running is 0 (running NULL: the whole pause).
 */
void sleep_while(volatile sig_atomic_t *running, long ms);
/*
 * The next pause of an exponential backoff: twice backoff, at most max.
 * Callers start at their minimum and go back to it after a success.
 */
long backoff_next(long backoff, long max);
/* RFC 3339 UTC with milliseconds into out (at least 25 bytes). */
void format_ts_ms(int64_t unix_ms, char out[32]);
void now_ts(char out[32]);
/* Parses what format_ts_ms writes; returns 0 and milliseconds since epoch. */
int parse_ts_ms(const char *s, int64_t *unix_ms);

#endif
