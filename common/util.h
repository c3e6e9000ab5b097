/*
 * Small helpers every process needs: bounded buffers, encodings, hashes,
 * random ids, name checks. Time (clock.h) and files (files.h) have their
 * own files; this header brings them in for the callers that used to find
 * everything here.
 */
#ifndef WINGMAN_UTIL_H
#define WINGMAN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "files.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bounded buffer: refuses to grow past max (set at creation). */
struct wbuf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t max;
	size_t total; /* bytes offered, including those refused */
};
void wbuf_init(struct wbuf *b, size_t max);
/* Returns 0, or -1 when the data did not fit (what fits is kept). */
int wbuf_append(struct wbuf *b, const void *data, size_t len);
/* printf into the buffer; one call writes at most 1023 bytes (the rest is cut). */
int wbuf_appendf(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wbuf_free(struct wbuf *b);

/* Base64url without padding (RFC 7515 section 2). Returns a new string. */
char *b64url_encode(const unsigned char *in, size_t len);
/*
 * Strict decoding: only the url-safe alphabet, no padding, no whitespace,
 * unused trailing bits must be zero. Returns 0 and a new buffer in *out.
 */
int b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

void sha256(const void *data, size_t len, unsigned char out[32]);
void sha256_hex(const void *data, size_t len, char out[65]);
void hex_encode(const unsigned char *in, size_t len, char *out);

int random_bytes(unsigned char *out, size_t len);
/* Random RFC 4122 version 4 UUID, lowercase. */
int uuid_v4(char out[37]);

/* Name checks shared by decoders and the CLI (see docs/messages.md). */
int valid_request_id(const char *s);
int valid_name(const char *s);
int valid_environment(const char *s);

/* Parses a decimal integer in [min, max]; the whole string must be used. */
int parse_int(const char *s, long long min, long long max, long long *out);

/* snprintf that returns -1 on truncation or error. */
int xsnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
