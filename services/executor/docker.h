/*
 * The Docker Engine API over the unix socket with libcurl. Only the executor
 * links this. Every request body is built here from a fixed template; nothing
 * received from a message is forwarded.
 */
#ifndef WINGMAN_DOCKER_H
#define WINGMAN_DOCKER_H

#include <stddef.h>

#include "command.h"

#define DOCKER_OUTPUT_MAX (64 * 1024)

struct docker;

enum docker_status {
	DOCKER_OK, /* ran; exit_code 0 */
	DOCKER_CMD_ERROR, /* ran or was refused by the engine: non-zero exit, no such container, 4xx */
	DOCKER_UNAVAILABLE, /* nothing was done: engine unreachable, or a read that failed */
	DOCKER_UNKNOWN, /* a request that acts may have reached the engine (timeout, 5xx,
			       cut answer): whether it acted is unknown */
};

struct docker_result {
	enum docker_status status;
	int exit_code; /* the process's for exec; 0 when OK; -1 when none applies */
	char *output; /* NUL-terminated, at most DOCKER_OUTPUT_MAX bytes */
	size_t output_size; /* size before capping */
	char reason[256]; /* "DOCKER_...: words" when status != DOCKER_OK */
};

/* NULL with err set when the socket path is unusable. */
struct docker *docker_open(const char *socket_path, long timeout_ms, char *err, size_t errlen);
void docker_close(struct docker *d);
/* Returns 0 when the engine answers /_ping. */
int docker_ping(struct docker *d, char *err, size_t errlen);
/* Runs one parsed command; fills *res (free with docker_result_free). */
enum docker_status docker_run(struct docker *d, const struct command *cmd,
    struct docker_result *res);
void docker_result_free(struct docker_result *res);

#endif
