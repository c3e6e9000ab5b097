#include "docker_stream.h"

#include <stdlib.h>
#include <string.h>

/*
 * Demultiplexes Docker's stream framing as bytes arrive. Whether the
 * answer is framed is decided on its first byte (a TTY container sends raw
 * bytes); a header that does not parse later switches to raw for the rest.
 */
void
demux_feed(struct demux *m, int answer_ok, const unsigned char *p, size_t n, struct wbuf *out)
{
	if (m->mode == STREAM_UNDECIDED)
		m->mode = !answer_ok || p[0] > 2 ? STREAM_RAW : STREAM_MUX;
	while (n > 0) {
		size_t take;

		if (m->mode == STREAM_RAW) {
			(void)wbuf_append(out, p, n);
			return;
		}
		if (m->left > 0) {
			take = n < m->left ? n : m->left;
			(void)wbuf_append(out, p, take);
			m->left -= (uint32_t)take;
			p += take;
			n -= take;
			continue;
		}
		take = sizeof(m->hdr) - m->hdr_len;
		if (take > n)
			take = n;
		memcpy(m->hdr + m->hdr_len, p, take);
		m->hdr_len += take;
		p += take;
		n -= take;
		if (m->hdr_len < sizeof(m->hdr))
			continue;
		m->hdr_len = 0;
		if (m->hdr[0] > 2 || m->hdr[1] != 0 || m->hdr[2] != 0 || m->hdr[3] != 0) {
			m->mode = STREAM_RAW;
			(void)wbuf_append(out, m->hdr, sizeof(m->hdr));
			continue;
		}
		m->left = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 |
		    (uint32_t)m->hdr[6] << 8 | (uint32_t)m->hdr[7];
	}
}

static int
utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	int len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)len > n)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Output travels as a JSON string and is read as C string: NUL bytes and
 * invalid UTF-8 (binary output, or a character cut by the cap) become '?'.
 */
static void
sanitize_text(char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		int n = utf8_seq_len((const unsigned char *)s + i, len - i);

		if (n == 0 || s[i] == '\0') {
			s[i++] = '?';
			continue;
		}
		i += (size_t)n;
	}
}

void
take_output(struct docker_result *res, struct wbuf *b)
{
	free(res->output);
	res->output = b->data;
	res->output_size = b->total;
	if (res->output != NULL)
		sanitize_text(res->output, b->len);
	b->data = NULL;
	b->len = 0;
}
