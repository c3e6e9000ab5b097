#include "http_status.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <microhttpd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "util.h"

struct http_status {
	struct MHD_Daemon *mhd;
	char *pg_conninfo; /* NULL: no PostgreSQL store */
	PGconn *pg; /* the status thread's own connection */
	http_health_fn extra;
	void *arg;
	/* The last verdict, reused for HTTP_HEALTH_CACHE_MS (status thread only). */
	int64_t checked_ms;
	int healthy;
	char reason[HTTP_REASON_MAX];
};

int
http_addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char host[256], port[8];
	const char *colon;
	long long p;
	size_t hostlen;
	int e;

	if (addr == NULL || *addr == '\0')
		goto bad;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		hostlen = (size_t)(close - addr - 1);
		memcpy(host, addr + 1, hostlen < sizeof(host) ? hostlen : 0);
		colon = close + 1;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL ||
		    memchr(addr, ':', (size_t)(colon - addr)))
			goto bad;
		hostlen = (size_t)(colon - addr);
		memcpy(host, addr, hostlen < sizeof(host) ? hostlen : 0);
	}
	if (hostlen == 0 || hostlen >= sizeof(host) || parse_int(colon + 1, 1, 65535, &p) != 0)
		goto bad;
	host[hostlen] = '\0';
	snprintf(port, sizeof(port), "%lld", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof(*ss)) {
		snprintf(err, errlen, "CONFIG_INVALID: WINGMAN_HTTP_ADDR host \"%.64s\": %s", host,
		    e != 0 ? gai_strerror(e) : "no address");
		if (res != NULL)
			freeaddrinfo(res);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
bad:
	snprintf(err, errlen,
	    "CONFIG_INVALID: WINGMAN_HTTP_ADDR must be HOST:PORT or [IPV6]:PORT, port 1..65535 "
	    "(got \"%.64s\")",
	    addr != NULL ? addr : "");
	return -1;
}

/* The first line of a libpq message, for a one-line reason. */
static void
first_line(const char *msg, char *out, size_t outlen)
{
	snprintf(out, outlen, "%.*s", (int)strcspn(msg, "\r\n"), msg);
}

/*
 * SELECT 1 on the status thread's own connection, reconnected when it
 * broke, answered within HTTP_PG_QUERY_TIMEOUT_MS or the connection is
 * dropped (the query with it).
 */
static int
pg_check(struct http_status *hs, char *reason, size_t reasonlen)
{
	int64_t deadline;
	PGresult *r;
	int ok = 0;
	char why[160] = "no answer in time";

	if (hs->pg != NULL && PQstatus(hs->pg) != CONNECTION_OK) {
		PQfinish(hs->pg);
		hs->pg = NULL;
	}
	if (hs->pg == NULL) {
		hs->pg = pg_connect(hs->pg_conninfo);
		if (hs->pg == NULL || PQstatus(hs->pg) != CONNECTION_OK) {
			first_line(hs->pg != NULL ? PQerrorMessage(hs->pg) : "out of memory", why,
			    sizeof(why));
			snprintf(reason, reasonlen, "postgresql: unreachable: %s", why);
			PQfinish(hs->pg);
			hs->pg = NULL;
			return -1;
		}
	}
	if (!PQsendQuery(hs->pg, "SELECT 1"))
		goto fail;
	deadline = monotonic_ms() + HTTP_PG_QUERY_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = { PQsocket(hs->pg), POLLIN, 0 };
		int64_t left;

		if (!PQconsumeInput(hs->pg))
			goto fail;
		if (!PQisBusy(hs->pg))
			break;
		if ((left = deadline - monotonic_ms()) <= 0 || pfd.fd < 0 ||
		    (poll(&pfd, 1, (int)left) < 0 && errno != EINTR))
			goto fail;
	}
	while ((r = PQgetResult(hs->pg)) != NULL) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			ok = 1;
		PQclear(r);
	}
	if (ok)
		return 0;
fail:
	if (*PQerrorMessage(hs->pg) != '\0')
		first_line(PQerrorMessage(hs->pg), why, sizeof(why));
	snprintf(reason, reasonlen, "postgresql: SELECT 1 failed: %s", why);
	PQfinish(hs->pg);
	hs->pg = NULL;
	return -1;
}

/* The verdict /healthz gives: at most one evaluation per HTTP_HEALTH_CACHE_MS. */
static int
health(struct http_status *hs)
{
	int64_t now = monotonic_ms();
	double known = 0;

	if (hs->checked_ms != 0 && now - hs->checked_ms < HTTP_HEALTH_CACHE_MS)
		return hs->healthy;
	hs->healthy = 0;
	/* Stores first: a store down is the likelier cause of a missing assignment too. */
	if ((hs->pg_conninfo == NULL || pg_check(hs, hs->reason, sizeof(hs->reason)) == 0) &&
	    (hs->extra == NULL || hs->extra(hs->arg, hs->reason, sizeof(hs->reason)) == 0)) {
		if (metric_get(M_ASSIGNMENT_KNOWN, NULL, &known) != 0 || known < 1) {
			snprintf(hs->reason, sizeof(hs->reason),
			    "kafka: the consumer group has not assigned this member its partitions");
		} else {
			hs->healthy = 1;
			snprintf(hs->reason, sizeof(hs->reason), "ok");
		}
	}
	/* A reason is one line, whatever a store said. */
	hs->reason[strcspn(hs->reason, "\r\n")] = '\0';
	hs->checked_ms = monotonic_ms();
	metric_set(M_READY, NULL, hs->healthy);
	return hs->healthy;
}

static enum MHD_Result
respond(struct MHD_Connection *c, unsigned status, const char *type, const char *body, int owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	if (r == NULL) {
		if (owned)
			free((void *)body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

#define TEXT_PLAIN "text/plain; charset=utf-8"

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_status *hs = cls;
	char line[HTTP_REASON_MAX + 2];
	char *text;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	/* Answered on the first call: a body, if any, is never read. */
	*upload_data_size = 0;
	if (url == NULL || method == NULL)
		return MHD_NO;
	if (strcmp(url, "/healthz") != 0 && strcmp(url, "/metrics") != 0)
		return respond(c, MHD_HTTP_NOT_FOUND, TEXT_PLAIN, "not found\n", 0);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT_PLAIN, "only GET\n", 0);
	if (strcmp(url, "/healthz") == 0) {
		int ok = health(hs);
		snprintf(line, sizeof(line), "%s\n", hs->reason);
		return respond(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_PLAIN, line,
		    0);
	}
	health(hs); /* wingman_ready */
	if ((text = metrics_render(metrics_wall_s())) == NULL)
		return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, TEXT_PLAIN,
		    "metrics unavailable\n", 0);
	return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, 1);
}

/* libmicrohttpd's own complaints, on our log. */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\r\n")] = '\0';
	log_warnx("event=http_error error=\"%s\"", msg);
}

struct http_status *
http_status_start(const char *addr, const char *pg_conninfo, http_health_fn extra, void *arg,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct http_status *hs;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;

	if (http_addr_parse(addr, &ss, &sslen, err, errlen) != 0)
		return NULL;
	if ((hs = calloc(1, sizeof(*hs))) == NULL ||
	    (pg_conninfo != NULL && *pg_conninfo != '\0' &&
	        (hs->pg_conninfo = strdup(pg_conninfo)) == NULL)) {
		free(hs);
		snprintf(err, errlen, "HTTP_START: out of memory");
		return NULL;
	}
	hs->extra = extra;
	hs->arg = arg;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	hs->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, hs, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX / 2,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
	if (hs->mhd == NULL) {
		snprintf(err, errlen, "HTTP_START: cannot listen on %s (WINGMAN_HTTP_ADDR)", addr);
		free(hs->pg_conninfo);
		free(hs);
		return NULL;
	}
	log_info("event=http_listening addr=%s", addr);
	return hs;
}

void
http_status_stop(struct http_status *hs)
{
	if (hs == NULL)
		return;
	MHD_stop_daemon(hs->mhd);
	PQfinish(hs->pg);
	free(hs->pg_conninfo);
	free(hs);
}
