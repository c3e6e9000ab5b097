/*
 * Does a shell command line run docker? The pure half of `wingman hook
 * pre-tool-use`: a coding agent's shell tool hands it the command line it
 * is about to run, and a docker command must go through Wingman instead.
 *
 * The line is read the way a POSIX shell would split it (quotes, escapes,
 * ;, &&, ||, |, subshells, $(...), backticks, <(...), here-documents),
 * wrappers are looked through (sudo, env, command, exec, nohup, timeout,
 * nice, sh -c, bash -c, eval, absolute paths), and anything it cannot be
 * sure about is treated as docker: a program name computed at run time, a
 * shell reading its script from standard input, an interpreter or a
 * command runner (xargs, find -exec, ssh, python -c, ...) on a line that
 * mentions docker, the Docker socket itself. Fail closed: a false alarm
 * costs the agent a retry, a miss costs the point of Wingman.
 *
 * This is a guard rail for the agent's own commands, not a sandbox: a
 * script file that runs docker is not read. The boundary is that the agent
 * cannot reach the Docker socket (trust rule 1).
 */
#ifndef WINGMAN_HOOK_DETECT_H
#define WINGMAN_HOOK_DETECT_H

#include "command.h"

enum hook_verdict {
	HOOK_PASS, /* does not run docker: let it run */
	HOOK_ROUTE, /* exactly one docker command, nothing else: ask Wingman for it */
	HOOK_DENY, /* runs docker (or might) in a way that cannot be routed */
};

struct hook_check {
	enum hook_verdict verdict;
	char command[COMMAND_MAX_LEN + 1]; /* HOOK_ROUTE: "docker ARG..." */
	char why[512]; /* HOOK_DENY: "HOOK_CODE: words" */
};

/* Classifies one shell command line (NUL-terminated, any bytes). Pure. */
void hook_check_shell(const char *line, struct hook_check *out);

#endif
