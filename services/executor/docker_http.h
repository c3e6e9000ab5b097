/*
 * The one Docker request path, private to docker*.c: HTTP/1.1 over the
 * unix socket with libcurl, proxy off, http only, a timeout and a size
 * limit on every call. Each action in docker.c calls docker_request.
 */
#ifndef WINGMAN_DOCKER_HTTP_H
#define WINGMAN_DOCKER_HTTP_H

#include <stddef.h>
#include <sys/un.h>

#include <curl/curl.h>
#include <jansson.h>

#include "docker.h"
#include "docker_stream.h"
#include "util.h"

/* Largest JSON answer we parse (ps with many containers, inspect). */
#define DOCKER_JSON_MAX (1024 * 1024)
/*
 * Streams (logs, exec) beyond the output cap are read and counted up to
 * this much, so output_size is exact for anything reasonable; past it the
 * transfer is cut and output_size is a lower bound.
 */
#define DOCKER_DRAIN_MAX (16 * 1024 * 1024)
/* Request paths: a container name escaped three times over still fits. */
#define DOCKER_PATH_MAX 512

struct docker {
	CURL *curl;
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	long timeout_ms;
	char curl_err[CURL_ERROR_SIZE];
};

enum body_kind {
	BODY_JSON, /* whole answer parsed as JSON; too big is an error */
	BODY_STREAM, /* logs/exec output: demultiplexed and capped */
};

/* One request's answer, as it arrives. */
struct sink {
	CURL *curl;
	enum body_kind kind;
	int acts; /* the request changes something: a failure after sending is DOCKER_UNKNOWN */
	struct wbuf buf;
	size_t seen; /* raw bytes received */
	size_t limit; /* raw bytes we accept before cutting the transfer */
	int over;
	struct demux demux;
	char path[DOCKER_PATH_MAX]; /* the request path, for reasons */
	long code; /* the HTTP status; 0 when none came */
};

struct docker_req {
	const char *method; /* "GET" or "POST" */
	const char *body; /* the POST body (JSON), or NULL */
	long timeout_ms; /* 0: the handle's */
	long want, also; /* the HTTP statuses that succeed (also 0: none); want 0: any */
	const char *container; /* named by a 404's reason; NULL when the path names none */
};

/* acts: see struct sink. */
void sink_init(struct sink *s, enum body_kind kind, int acts);
void sink_free(struct sink *s);

/* Reasons are a fixed 256 bytes; cutting a long one short is fine. */
enum docker_status set_reason(struct docker_result *res, enum docker_status status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/*
 * Sends rq to the path formatted from fmt; the answer lands in s (s->path,
 * s->code). Returns 0 when the engine answered with a wanted status (a
 * stream cut at DOCKER_DRAIN_MAX counts, with s->over set), or -1 with res
 * set: path too long, no answer (DOCKER_UNAVAILABLE, or DOCKER_UNKNOWN when
 * s acts and the request went out), or another status.
 */
int docker_request(struct docker *d, const struct docker_req *rq, struct sink *s,
    struct docker_result *res, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The answer in s as JSON (new reference), or NULL with res set. */
json_t *parse_json(const struct sink *s, struct docker_result *res);

#endif
