/*
 * The executor's Docker client against a fake engine on a unix socket (a
 * child process): a request that acts is sent once, whatever happens to the
 * connection. libcurl re-sends a request on a fresh connection when a
 * reused one closes before any answer; for a restart that means a second
 * restart when the engine had acted before the connection dropped (a
 * dockerd killed mid-request and already back, a proxy in between).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "command.h"
#include "docker.h"

struct engine {
	pid_t pid;
	int count_fd; /* one byte per acting request the engine received */
	char dir[64];
	char path[108];
};

static void
reply(int c, const char *text)
{
	size_t n = strlen(text), o = 0;

	while (o < n) {
		ssize_t w = write(c, text + o, n - o);
		if (w <= 0)
			return;
		o += (size_t)w;
	}
}

/*
 * One connection: answers /_ping with keep-alive; takes any POST (one that
 * acts), counts it and drops the connection without an answer, as an
 * engine that died mid-request.
 */
static void
serve_one(int c, int count_fd)
{
	char buf[8192];
	size_t len = 0;

	for (;;) {
		char *end;
		ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			size_t rq = (size_t)(end + 4 - buf);
			int post = strncmp(buf, "POST ", 5) == 0;
			int ping = strncmp(buf, "GET /v1.41/_ping ", 17) == 0;

			memmove(buf, buf + rq, len - rq + 1);
			len -= rq;
			if (post) {
				if (write(count_fd, "a", 1) != 1)
					_exit(1);
				return;
			}
			if (ping)
				reply(c,
				    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				    "Content-Length: 2\r\n\r\nOK");
			else
				reply(c,
				    "HTTP/1.1 404 Not Found\r\nContent-Type: "
				    "application/json\r\nContent-Length: 15\r\n\r\n"
				    "{\"message\":\"?\"}");
		}
	}
}

/* Each connection in a process of its own (a client may hold several). */
static void
serve(int lfd, int count_fd)
{
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		pid_t p;

		if (c < 0)
			_exit(0);
		if ((p = fork()) == 0) {
			close(lfd);
			serve_one(c, count_fd);
			close(c);
			_exit(0);
		}
		close(c);
	}
}

static int
engine_start(void **state)
{
	struct engine *e = calloc(1, sizeof(*e));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, p[2];

	assert_non_null(e);
	strcpy(e->dir, "/tmp/wingman-docker-http.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->path, sizeof(e->path), "%s/docker.sock", e->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(pipe(p), 0);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		(void)setpgid(0, 0);
		close(p[0]);
		serve(lfd, p[1]);
		_exit(0);
	}
	/* Its own process group, so that engine_stop ends every connection's. */
	(void)setpgid(e->pid, e->pid);
	close(lfd);
	close(p[1]);
	e->count_fd = p[0];
	*state = e;
	return 0;
}

/* How many acting requests the engine received: all of them are in the
 * pipe once it is gone (each is written before the connection drops, and
 * the pipe ends when the last of its processes does). */
static int
engine_stop(struct engine *e)
{
	char buf[64];
	ssize_t n;
	int count = 0;

	kill(-e->pid, SIGKILL);
	waitpid(e->pid, NULL, 0);
	e->pid = 0;
	while ((n = read(e->count_fd, buf, sizeof(buf))) > 0)
		count += (int)n;
	close(e->count_fd);
	unlink(e->path);
	rmdir(e->dir);
	return count;
}

static int
engine_teardown(void **state)
{
	struct engine *e = *state;

	/* A failed check left it running. */
	if (e->pid > 0)
		(void)engine_stop(e);
	free(e);
	return 0;
}

static void
run_dropped(struct engine *e, const char *cmdline, int ping_first)
{
	struct command cmd;
	struct docker_result res;
	struct docker *d;
	char err[256];

	assert_int_equal(command_parse(cmdline, &cmd, err, sizeof(err)), 0);
	d = docker_open(e->path, 5000, err, sizeof(err));
	assert_non_null(d);
	/* A connection the next request can reuse. */
	if (ping_first)
		assert_int_equal(docker_ping(d, err, sizeof(err)), 0);
	/* The engine took it and gave no answer: it may have acted. */
	assert_int_equal(docker_run(d, &cmd, &res), DOCKER_UNKNOWN);
	docker_result_free(&res);
	docker_close(d);
	/* Sent once: never a second restart behind the caller's back. */
	assert_int_equal(engine_stop(e), 1);
}

static void
test_restart_on_reused_connection_sent_once(void **state)
{
	run_dropped(*state, "docker restart -t 0 c1", 1);
}

static void
test_restart_on_new_connection_sent_once(void **state)
{
	run_dropped(*state, "docker restart -t 0 c1", 0);
}

static void
test_stop_on_reused_connection_sent_once(void **state)
{
	run_dropped(*state, "docker stop -t 0 c1", 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart_on_reused_connection_sent_once,
		    engine_start, engine_teardown),
		cmocka_unit_test_setup_teardown(test_restart_on_new_connection_sent_once,
		    engine_start, engine_teardown),
		cmocka_unit_test_setup_teardown(test_stop_on_reused_connection_sent_once,
		    engine_start, engine_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
