#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

void
wbuf_init(struct wbuf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->max = max;
	b->total = 0;
}

int
wbuf_append(struct wbuf *b, const void *data, size_t len)
{
	size_t take = len;
	int rc = 0;
	char *p;

	b->total += len;
	if (b->len + take > b->max) {
		take = b->max - b->len;
		rc = -1;
	}
	p = realloc(b->data, b->len + take + 1);
	if (p == NULL)
		return -1;
	b->data = p;
	memcpy(b->data + b->len, data, take);
	b->len += take;
	b->data[b->len] = '\0';
	return rc;
}

int
wbuf_appendf(struct wbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	return wbuf_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void
wbuf_free(struct wbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
b64url_encode(const unsigned char *in, size_t len)
{
	size_t outlen = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
	char *out = malloc(outlen + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_alphabet[(v >> 18) & 63];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return out;
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	size_t i, o = 0, rem = len % 4;
	uint32_t acc = 0;
	int bits = 0;

	*out = NULL;
	*outlen = 0;
	if (rem == 1)
		return -1;
	buf = malloc(len / 4 * 3 + 3);
	if (buf == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64url_value(in[i]);
		if (v < 0)
			goto fail;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Non-canonical encodings (non-zero unused bits) are refused. */
	if (acc != 0)
		goto fail;
	*out = buf;
	*outlen = o;
	return 0;
fail:
	free(buf);
	return -1;
}

void
sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];

	sha256(data, len, md);
	hex_encode(md, 32, out);
}

int
random_bytes(unsigned char *out, size_t len)
{
	return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

int
uuid_v4(char out[37])
{
	unsigned char b[16];
	char hex[33];

	if (random_bytes(b, sizeof(b)) != 0)
		return -1;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	hex_encode(b, 16, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
valid_chars(const char *s, size_t maxlen, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > maxlen || !is_alnum(s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

int
valid_request_id(const char *s)
{
	return valid_chars(s, 64, "._-");
}

int
valid_name(const char *s)
{
	return valid_chars(s, 64, "._@-");
}

int
valid_environment(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
xsnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}
