/*
 * The docker CLI subset agents may ask for. A command string is parsed (no
 * shell, no globbing) into one structured action that maps to exactly one
 * Docker Engine API call. Anything outside the grammar is refused.
 */
#ifndef WINGMAN_COMMAND_H
#define WINGMAN_COMMAND_H

#include <stddef.h>

#include <jansson.h>

#define COMMAND_MAX_LEN 512
#define COMMAND_CONTAINER_MAX 128
#define COMMAND_EXEC_MAX_ARGS 16
#define COMMAND_ARG_MAX 256

enum command_action {
	ACTION_PS,
	ACTION_INSPECT,
	ACTION_LOGS,
	ACTION_RESTART,
	ACTION_START,
	ACTION_STOP,
	ACTION_EXEC,
};

struct command {
	enum command_action action;
	char container[COMMAND_CONTAINER_MAX + 1]; /* empty for ps */
	int all; /* ps -a / --all */
	int tail; /* logs --tail N; -1: all; 0: not given */
	long long since; /* logs --since UNIX_SECONDS; 0: none */
	int timeout_s; /* restart/stop -t N; -1: engine default */
	size_t argc; /* exec argv */
	char argv[COMMAND_EXEC_MAX_ARGS][COMMAND_ARG_MAX + 1];
};

/*
 * Parses s into *out. Returns 0, or -1 with err set to "CMD_CODE: words"
 * (codes: CMD_EMPTY, CMD_TOO_LONG, CMD_BAD_CHAR, CMD_NOT_DOCKER, CMD_VERB,
 * CMD_OPTION, CMD_CONTAINER, CMD_ARGS).
 */
int command_parse(const char *s, struct command *out, char *err, size_t errlen);

const char *command_action_name(enum command_action action);
/* Returns 0 and the action for a name such as "restart", or -1. */
int command_action_from_name(const char *name, enum command_action *out);

/* 1 when s matches [A-Za-z0-9][A-Za-z0-9_.-]* and is at most COMMAND_CONTAINER_MAX bytes. */
int command_valid_container(const char *s);

/*
 * New reference: {"action": ..., "container": ..., options...}; container is
 * "" for ps. Only options that were given appear: "all": true (ps), "tail": N or "all", "since": N
 * (logs), "timeout_s": N (restart, stop), "argv": [...] (exec).
 */
json_t *command_to_json(const struct command *cmd);

#endif
