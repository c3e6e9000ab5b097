/*
 * The status endpoint every daemon serves on WINGMAN_HTTP_ADDR (off when
 * unset), with libmicrohttpd on one thread of its own:
 *   GET /healthz  200 "ok" when the Kafka consumer has its assignment and
 *                 the stores answer, else 503 and a one-line reason;
 *                 evaluated at most once a second.
 *   GET /metrics  the Prometheus text exposition (metrics.h).
 * Any other path is 404, any other method 405. Connections, their memory
 * and their idle time are bounded; the server never reads a body.
 */
#ifndef WINGMAN_HTTP_STATUS_H
#define WINGMAN_HTTP_STATUS_H

#include <stddef.h>
#include <sys/socket.h>

#define HTTP_HEALTH_CACHE_MS 1000
#define HTTP_PG_QUERY_TIMEOUT_MS 1000
#define HTTP_CONNECTIONS_MAX 16
#define HTTP_IDLE_TIMEOUT_S 10
#define HTTP_REASON_MAX 256

/*
 * A check of the service's own (the executor's Redis and Docker), run on
 * the status thread: it must use handles of its own, never the loop's.
 * Returns 0 when healthy, or -1 with reason ("redis: ...").
 */
typedef int (*http_health_fn)(void *arg, char *reason, size_t reasonlen);

/*
 * HOST:PORT ([V6]:PORT for IPv6; a name resolves to its first address)
 * into *ss. Returns 0, or -1 with err (CONFIG_INVALID: WINGMAN_HTTP_ADDR).
 */
int http_addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
    size_t errlen);

struct http_status;

/*
 * Starts serving on addr. pg_conninfo "" means the process has no
 * PostgreSQL store to check; extra may be NULL. Returns the server (stop
 * it with http_status_stop), or NULL with err.
 */
struct http_status *http_status_start(const char *addr, const char *pg_conninfo,
    http_health_fn extra, void *arg, char *err, size_t errlen);
/* Stops the thread and releases everything. Accepts NULL. */
void http_status_stop(struct http_status *hs);

#endif
