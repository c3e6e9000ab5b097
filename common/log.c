#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_service = "wingman";
static int log_verbose;

void
log_init(const char *service, int verbose)
{
	log_service = service;
	log_verbose = verbose;
}

static void vlog(const char *, const char *, va_list, const char *)
    __attribute__((format(printf, 2, 0)));

/* Appends s to buf[*len..size) with '"' and '\\' escaped, controls as '?'. */
static void
append_escaped(char *buf, size_t size, size_t *len, const char *s)
{
	for (; *s != '\0' && *len + 2 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf[(*len)++] = '\\';
		buf[(*len)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[*len] = '\0';
}

/*
 * Each conversion is printed with its own spec, cut from a format the
 * compiler checked at the call site (format attribute) and re-parsed here:
 * not a literal, but not a caller's string either.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/*
 * vsnprintf, except that a string printed between quotes (key="%s") has
 * its quotes and backslashes escaped: peer text in reason="..." cannot close
 * the value and add key=value pairs of its own. Returns -1 for a conversion
 * it does not know (the caller then formats the plain way).
 */
static int
format_escaped(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t len = 0;
	const char *f = fmt;

	buf[0] = '\0';
	while (*f != '\0' && len + 1 < size) {
		char spec[32], piece[1024];
		size_t n;
		int longs = 0, size_t_arg = 0;
		const char *start = f;

		if (*f != '%') {
			buf[len++] = *f++;
			buf[len] = '\0';
			continue;
		}
		if (f[1] == '%') {
			buf[len++] = '%';
			buf[len] = '\0';
			f += 2;
			continue;
		}
		f++;
		f += strspn(f, "-+ #0");
		f += strspn(f, "0123456789");
		if (*f == '.') {
			f++;
			f += strspn(f, "0123456789");
		}
		while (*f == 'l')
			longs++, f++;
		if (*f == 'z')
			size_t_arg = 1, f++;
		n = (size_t)(f - start) + 1;
		if (n >= sizeof(spec) || *f == '\0')
			return -1;
		memcpy(spec, start, n);
		spec[n] = '\0';
		switch (*f) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (start > fmt && start[-1] == '"') {
				snprintf(piece, sizeof(piece), spec, s ? s : "(null)");
				append_escaped(buf, size, &len, piece);
				f++;
				continue;
			}
			snprintf(piece, sizeof(piece), spec, s ? s : "(null)");
			break;
		}
		case 'd':
		case 'i':
		case 'u':
		case 'x':
		case 'X':
			if (size_t_arg)
				snprintf(piece, sizeof(piece), spec, va_arg(ap, size_t));
			else if (longs >= 2)
				snprintf(piece, sizeof(piece), spec, va_arg(ap, long long));
			else if (longs == 1)
				snprintf(piece, sizeof(piece), spec, va_arg(ap, long));
			else
				snprintf(piece, sizeof(piece), spec, va_arg(ap, int));
			break;
		case 'c':
			snprintf(piece, sizeof(piece), spec, va_arg(ap, int));
			break;
		default:
			return -1;
		}
		f++;
		n = strlen(piece);
		if (len + n >= size)
			n = size - len - 1;
		memcpy(buf + len, piece, n);
		len += n;
		buf[len] = '\0';
	}
	return 0;
}
#pragma GCC diagnostic pop

static void
vlog(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048], ts[32];
	struct timespec now;
	struct tm tm;
	va_list copy;
	int saved_errno = errno; /* a caller may log between a call and its errno check */

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	va_copy(copy, ap);
	if (format_escaped(msg, sizeof(msg), fmt, copy) != 0)
		vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(copy);
	/* Peer strings may end up in msg: keep the line a single line. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "ts=%s.%03ldZ service=%s level=%s %s%s%s\n", ts, now.tv_nsec / 1000000,
	    log_service, level, msg, suffix ? " error=" : "", suffix ? suffix : "");
	fflush(stderr);
	errno = saved_errno;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog("debug", fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("info", fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	char err[128];
	int saved = errno;

	snprintf(err, sizeof(err), "\"%s\"", strerror(saved));
	va_start(ap, fmt);
	vlog("warn", fmt, ap, err);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warn", fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	char err[128];
	int saved = errno;

	snprintf(err, sizeof(err), "\"%s\"", strerror(saved));
	va_start(ap, fmt);
	vlog("fatal", fmt, ap, err);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
