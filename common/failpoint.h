/*
 * Failpoints: named places where a test build crashes, hangs or fails on
 * purpose, so that a test can stop a daemon at exactly the step whose
 * interruption it wants to see handled. Armed by the environment:
 *
 *   WINGMAN_FAILPOINTS="NAME=ACTION[,NAME=ACTION...]"
 *   ACTION: crash | hang | error, then optionally @N (only the Nth time the
 *   point is reached; default the first) or %P (each time, with probability
 *   P percent).
 *
 * crash is SIGKILL (no cleanup, as `kill -9`), hang sleeps until the process
 * is killed, error makes FAILPOINT() return -1 to its caller, which handles
 * it as the failure of that step. Compiled in only with -DWINGMAN_FAILPOINTS
 * (the test build); elsewhere FAILPOINT(name) is the constant 0.
 */
#ifndef WINGMAN_FAILPOINT_H
#define WINGMAN_FAILPOINT_H

#ifdef WINGMAN_FAILPOINTS
int failpoint_hit(const char *name);
#define FAILPOINT(name) failpoint_hit(name)
#else
#define FAILPOINT(name) 0
#endif

#endif
