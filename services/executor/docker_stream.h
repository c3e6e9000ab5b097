/*
 * What the engine streams back (logs, exec output), private to docker*.c:
 * Docker's stream framing taken apart as bytes arrive, and the bytes made
 * into text a result can carry. Pure: no I/O, tested alone.
 */
#ifndef WINGMAN_DOCKER_STREAM_H
#define WINGMAN_DOCKER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "docker.h"
#include "util.h"

enum stream_mode {
	STREAM_UNDECIDED,
	STREAM_MUX, /* 8-byte frame headers: type, 0, 0, 0, big-endian length */
	STREAM_RAW, /* TTY containers, or anything that does not parse as frames */
};

struct demux {
	enum stream_mode mode;
	unsigned char hdr[8];
	size_t hdr_len;
	uint32_t left; /* payload bytes left in the current frame */
};

/*
 * Feeds the next n (> 0) bytes of an answer; the payload goes to out (past
 * its cap it is counted and dropped). answer_ok: the HTTP status was 2xx
 * (error answers are JSON, never framed).
 */
void demux_feed(struct demux *m, int answer_ok, const unsigned char *p, size_t n, struct wbuf *out);

/*
 * Moves what b holds into res->output as text (NUL bytes and invalid UTF-8
 * become '?'); output_size is what was offered.
 */
void take_output(struct docker_result *res, struct wbuf *b);

#endif
