/*
 * docker.c against the real Docker engine at $WINGMAN_DOCKER_SOCKET
 * (default /var/run/docker.sock), plus a few fake engines on local unix
 * sockets for the failures a real one will not produce on demand (hang,
 * 5xx, oversized or redirecting answers).
 *
 * The test makes its own container from wingman/busybox:local with a raw
 * libcurl helper (docker.c has no create/remove on purpose) and removes it
 * at the end. An engine that does not answer is a failure, not a skip.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "command.h"
#include "docker.h"
#include "util.h"

#define NAME "wingman-test-itest-docker"
#define MISSING "wingman-test-itest-docker-missing"
#define IMAGE "wingman/busybox:local"
#define ENGINE_TIMEOUT_MS 30000
#define SHORT_TIMEOUT_MS 500

static const char *
socket_path(void)
{
	const char *p = getenv("WINGMAN_DOCKER_SOCKET");

	return p != NULL && *p != '\0' ? p : "/var/run/docker.sock";
}

/* ---- raw Engine API helper, for setup and teardown only ---- */

struct raw_body {
	char buf[65536];
	size_t len;
};

static size_t
raw_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct raw_body *b = userdata;
	size_t n = size * nmemb, room = sizeof(b->buf) - 1 - b->len;

	memcpy(b->buf + b->len, ptr, n < room ? n : room);
	b->len += n < room ? n : room;
	b->buf[b->len] = '\0';
	return n;
}

/* Returns the HTTP status, or -1 when the engine did not answer. */
static long
raw_request(const char *method, const char *path, const char *body, struct raw_body *out)
{
	struct raw_body scratch;
	struct curl_slist *h = NULL;
	char url[512];
	CURL *c;
	long code = -1;

	if (out == NULL)
		out = &scratch;
	out->len = 0;
	out->buf[0] = '\0';
	if (xsnprintf(url, sizeof(url), "http://localhost/v1.41%s", path) < 0)
		return -1;
	if ((c = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path());
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (body != NULL) {
		h = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

static void
remove_container(void)
{
	(void)raw_request("DELETE", "/containers/" NAME "?force=1&v=1", NULL, NULL);
}

/* ---- helpers over docker.c ---- */

static struct docker *engine;

static enum docker_status
run_on(struct docker *d, const char *s, struct docker_result *res)
{
	struct command c;
	char err[256];

	if (command_parse(s, &c, err, sizeof(err)) != 0)
		fail_msg("command \"%s\" refused: %s", s, err);
	return docker_run(d, &c, res);
}

static enum docker_status
run(const char *s, struct docker_result *res)
{
	return run_on(engine, s, res);
}

static void
expect_ok(const char *s, struct docker_result *res)
{
	if (run(s, res) != DOCKER_OK)
		fail_msg("\"%s\": status %d reason \"%s\"", s, res->status, res->reason);
	assert_int_equal(res->exit_code, 0);
	assert_non_null(res->output);
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static size_t
count_char(const char *s, char ch)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == ch;
	return n;
}

/* Inspects NAME through docker.c and returns State.<field> as a new string. */
static char *
state_field(const char *field)
{
	struct docker_result res;
	json_t *root, *v;
	char *out = NULL;

	expect_ok("docker inspect " NAME, &res);
	root = json_loads(res.output, 0, NULL);
	assert_non_null(root);
	v = json_object_get(json_object_get(root, "State"), field);
	if (json_is_string(v))
		out = strdup(json_string_value(v));
	else if (json_is_boolean(v))
		out = strdup(json_is_true(v) ? "true" : "false");
	assert_non_null(out);
	json_decref(root);
	docker_result_free(&res);
	return out;
}

/* ---- fixture ---- */

static int
group_setup(void **state)
{
	static const char create[] =
	    "{\"Image\":\"" IMAGE "\","
	    "\"Cmd\":[\"/bin/sh\",\"-c\",\"echo hello-out; echo hello-err >&2; exec sleep 1000000\"],"
	    "\"Env\":[\"SECRET_TOKEN=hunter2\"],\"Labels\":{\"db-password\":\"swordfish\"},"
	    "\"HostConfig\":{\"NetworkMode\":\"none\"}}";
	struct raw_body body;
	char err[256];
	long code;

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	engine = docker_open(socket_path(), ENGINE_TIMEOUT_MS, err, sizeof(err));
	if (engine == NULL) {
		fprintf(stderr, "docker_open %s: %s\n", socket_path(), err);
		return -1;
	}
	if (docker_ping(engine, err, sizeof(err)) != 0) {
		fprintf(stderr, "Docker engine at %s does not answer: %s\n", socket_path(), err);
		return -1;
	}
	remove_container();
	code = raw_request("POST", "/containers/create?name=" NAME, create, &body);
	if (code != 201) {
		fprintf(stderr, "create " NAME ": HTTP %ld %s\n", code, body.buf);
		return -1;
	}
	code = raw_request("POST", "/containers/" NAME "/start", NULL, &body);
	if (code != 204) {
		fprintf(stderr, "start " NAME ": HTTP %ld %s\n", code, body.buf);
		return -1;
	}
	/* Wait for the two echo lines to reach the log. */
	for (int i = 0; i < 100; i++) {
		struct docker_result res;
		struct command c;
		int done;

		if (command_parse("docker logs " NAME, &c, err, sizeof(err)) != 0)
			return -1;
		docker_run(engine, &c, &res);
		done = res.status == DOCKER_OK && strstr(res.output, "hello-out") != NULL &&
		    strstr(res.output, "hello-err") != NULL;
		docker_result_free(&res);
		if (done)
			return 0;
		sleep_ms(50);
	}
	fprintf(stderr, "the container's log lines did not appear\n");
	return -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	remove_container();
	docker_close(engine);
	engine = NULL;
	curl_global_cleanup();
	return 0;
}

/* ---- against the real engine ---- */

static void
test_ping(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(docker_ping(engine, err, sizeof(err)), 0);
}

static void
test_ps(void **state)
{
	struct docker_result res;

	(void)state;
	expect_ok("docker ps", &res);
	assert_non_null(strstr(res.output, NAME " running Up "));
	assert_non_null(strstr(res.output, IMAGE "\n"));
	assert_int_equal(res.output_size, strlen(res.output));
	docker_result_free(&res);
	expect_ok("docker ps -a", &res);
	assert_non_null(strstr(res.output, NAME " running "));
	docker_result_free(&res);
}

static void
test_inspect_allowlist(void **state)
{
	static const char *const shown[] = { "Id", "Name", "Created", "Image", "RestartCount",
		"State" };
	struct docker_result res;
	json_t *root, *st, *v;
	const char *key;
	size_t i;

	(void)state;
	expect_ok("docker inspect " NAME, &res);
	/* The container's Env value and its command line carry secrets. */
	assert_null(strstr(res.output, "hunter2"));
	assert_null(strstr(res.output, "SECRET_TOKEN"));
	assert_null(strstr(res.output, "hello-out"));
	assert_null(strstr(res.output, "swordfish"));
	root = json_loads(res.output, 0, NULL);
	assert_non_null(root);
	json_object_foreach(root, key, v)
	{
		for (i = 0; i < ARRAY_LEN(shown); i++)
			if (strcmp(key, shown[i]) == 0)
				break;
		if (i == ARRAY_LEN(shown))
			fail_msg("inspect shows \"%s\"", key);
	}
	assert_string_equal(json_string_value(json_object_get(root, "Name")), "/" NAME);
	assert_string_equal(json_string_value(json_object_get(root, "Image")), IMAGE);
	assert_true(json_is_integer(json_object_get(root, "RestartCount")));
	assert_non_null(json_string_value(json_object_get(root, "Created")));
	st = json_object_get(root, "State");
	assert_string_equal(json_string_value(json_object_get(st, "Status")), "running");
	assert_true(json_is_true(json_object_get(st, "Running")));
	assert_null(json_object_get(st, "Pid"));
	json_decref(root);
	docker_result_free(&res);
}

static void
test_logs_demux(void **state)
{
	struct docker_result res;
	char s[128];

	(void)state;
	expect_ok("docker logs " NAME, &res);
	/* Framing removed: just the two lines, in whatever order they were written. */
	assert_int_equal(strlen(res.output), strlen("hello-out\nhello-err\n"));
	assert_non_null(strstr(res.output, "hello-out\n"));
	assert_non_null(strstr(res.output, "hello-err\n"));
	assert_int_equal(res.output_size, strlen(res.output));
	docker_result_free(&res);

	expect_ok("docker logs --tail 1 " NAME, &res);
	assert_int_equal(count_char(res.output, '\n'), 1);
	assert_true(
	    strcmp(res.output, "hello-out\n") == 0 || strcmp(res.output, "hello-err\n") == 0);
	docker_result_free(&res);

	expect_ok("docker logs --tail=all " NAME, &res);
	assert_int_equal(count_char(res.output, '\n'), 2);
	docker_result_free(&res);

	/* Nothing was logged after a time in the future. */
	assert_true(xsnprintf(s, sizeof(s), "docker logs --since %lld " NAME,
	                (long long)now_unix() + 3600) > 0);
	expect_ok(s, &res);
	assert_string_equal(res.output, "");
	assert_int_equal(res.output_size, 0);
	docker_result_free(&res);
}

static void
test_exec(void **state)
{
	struct docker_result res;

	(void)state;
	expect_ok("docker exec " NAME " ls /", &res);
	assert_non_null(strstr(res.output, "bin\n"));
	assert_non_null(strstr(res.output, "etc\n"));
	docker_result_free(&res);

	/* Arguments that look like options belong to the command. */
	expect_ok("docker exec " NAME " ls -d /bin", &res);
	assert_string_equal(res.output, "/bin\n");
	docker_result_free(&res);

	/* No output at all is an empty string. */
	expect_ok("docker exec " NAME " /bin/busybox echo -n", &res);
	assert_string_equal(res.output, "");
	docker_result_free(&res);
}

static void
test_exec_exit_code(void **state)
{
	struct docker_result res;
	struct command c;

	(void)state;
	/* Built directly: the grammar has no quoting, exec argv is plain data. */
	memset(&c, 0, sizeof(c));
	c.action = ACTION_EXEC;
	c.timeout_s = -1;
	memcpy(c.container, NAME, sizeof(NAME));
	c.argc = 3;
	memcpy(c.argv[0], "sh", 3);
	memcpy(c.argv[1], "-c", 3);
	memcpy(c.argv[2], "echo out; echo err >&2; exit 3", 31);
	assert_int_equal(docker_run(engine, &c, &res), DOCKER_CMD_ERROR);
	assert_int_equal(res.status, DOCKER_CMD_ERROR);
	assert_int_equal(res.exit_code, 3);
	assert_true(starts_with(res.reason, "DOCKER_EXIT_CODE:"));
	assert_non_null(strstr(res.output, "out\n"));
	assert_non_null(strstr(res.output, "err\n"));
	docker_result_free(&res);

	/* A missing program: the engine reports it through the exit code. */
	assert_int_equal(run("docker exec " NAME " /no/such/program", &res), DOCKER_CMD_ERROR);
	assert_true(res.exit_code != 0);
	docker_result_free(&res);
}

static void
test_exec_output_cap(void **state)
{
	struct docker_result res;
	struct command c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.action = ACTION_EXEC;
	c.timeout_s = -1;
	memcpy(c.container, NAME, sizeof(NAME));
	c.argc = 3;
	memcpy(c.argv[0], "sh", 3);
	memcpy(c.argv[1], "-c", 3);
	memcpy(c.argv[2], "/bin/busybox dd if=/dev/zero bs=1000 count=200 2>/dev/null", 59);
	assert_int_equal(docker_run(engine, &c, &res), DOCKER_OK);
	assert_int_equal(res.output_size, 200000);
	/* Zero bytes are not text: they come back as '?', capped. */
	assert_int_equal(strlen(res.output), DOCKER_OUTPUT_MAX);
	assert_int_equal(count_char(res.output, '?'), DOCKER_OUTPUT_MAX);
	docker_result_free(&res);

	/* The same through the grammar; dd's statistics go to stderr too. */
	expect_ok("docker exec " NAME " /bin/busybox dd if=/dev/zero bs=1000 count=200", &res);
	assert_true(res.output_size >= 200000 && res.output_size < 200000 + 256);
	assert_int_equal(strlen(res.output), DOCKER_OUTPUT_MAX);
	docker_result_free(&res);
}

static void
test_restart(void **state)
{
	struct docker_result res;
	char *before, *after;

	(void)state;
	before = state_field("StartedAt");
	/* sleep is PID 1 and ignores SIGTERM: -t 1 bounds the wait. */
	expect_ok("docker restart -t 1 " NAME, &res);
	assert_string_equal(res.output, NAME "\n");
	docker_result_free(&res);
	after = state_field("StartedAt");
	assert_string_not_equal(before, after);
	free(before);
	free(after);
	expect_ok("docker restart --time=0 " NAME, &res);
	docker_result_free(&res);
	after = state_field("Running");
	assert_string_equal(after, "true");
	free(after);
}

static void
test_stop_start(void **state)
{
	struct docker_result res;
	char *running;

	(void)state;
	expect_ok("docker stop -t 0 " NAME, &res);
	assert_string_equal(res.output, NAME "\n");
	docker_result_free(&res);
	running = state_field("Running");
	assert_string_equal(running, "false");
	free(running);

	/* Already stopped (HTTP 304) is what was asked for. */
	expect_ok("docker stop " NAME, &res);
	docker_result_free(&res);

	/* exec in a stopped container is refused by the engine. */
	assert_int_equal(run("docker exec " NAME " ls", &res), DOCKER_CMD_ERROR);
	assert_true(starts_with(res.reason, "DOCKER_ENGINE_ERROR:"));
	assert_int_equal(res.exit_code, -1);
	docker_result_free(&res);

	expect_ok("docker start " NAME, &res);
	assert_string_equal(res.output, NAME "\n");
	docker_result_free(&res);
	running = state_field("Running");
	assert_string_equal(running, "true");
	free(running);

	/* Already started (HTTP 304). */
	expect_ok("docker start " NAME, &res);
	docker_result_free(&res);
}

static void
test_no_such_container(void **state)
{
	static const char *const cmds[] = {
		"docker inspect " MISSING,
		"docker logs " MISSING,
		"docker restart -t 0 " MISSING,
		"docker start " MISSING,
		"docker stop " MISSING,
		"docker exec " MISSING " ls",
	};
	struct docker_result res;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
		if (run(cmds[i], &res) != DOCKER_CMD_ERROR)
			fail_msg("\"%s\": status %d reason \"%s\"", cmds[i], res.status, res.reason);
		if (!starts_with(res.reason, "DOCKER_NO_SUCH_CONTAINER:"))
			fail_msg("\"%s\": reason \"%s\"", cmds[i], res.reason);
		assert_non_null(res.output);
		docker_result_free(&res);
	}
}

static void
test_refuses_bad_struct(void **state)
{
	struct docker_result res;
	struct command c;

	(void)state;
	/* docker_run re-checks what the parser checked. */
	memset(&c, 0, sizeof(c));
	c.action = ACTION_RESTART;
	c.timeout_s = -1;
	memcpy(c.container, "../../x", 8);
	assert_int_equal(docker_run(engine, &c, &res), DOCKER_CMD_ERROR);
	assert_true(starts_with(res.reason, "DOCKER_BAD_COMMAND:"));
	docker_result_free(&res);

	memset(&c, 0, sizeof(c));
	c.action = ACTION_EXEC;
	memcpy(c.container, NAME, sizeof(NAME));
	c.argc = 0;
	assert_int_equal(docker_run(engine, &c, &res), DOCKER_CMD_ERROR);
	docker_result_free(&res);
}

static void
test_bogus_socket(void **state)
{
	struct docker_result res;
	struct docker *d;
	struct command c;
	char err[256];

	(void)state;
	d = docker_open("/nonexistent/wingman-itest.sock", 1000, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(docker_ping(d, err, sizeof(err)), -1);
	assert_true(starts_with(err, "DOCKER_UNAVAILABLE:"));
	assert_int_equal(command_parse("docker restart " NAME, &c, err, sizeof(err)), 0);
	assert_int_equal(docker_run(d, &c, &res), DOCKER_UNAVAILABLE);
	assert_true(starts_with(res.reason, "DOCKER_UNAVAILABLE:"));
	docker_result_free(&res);
	docker_close(d);

	/* Paths that cannot be a unix socket are refused at open. */
	assert_null(docker_open("", 1000, err, sizeof(err)));
	{
		char longpath[200];
		memset(longpath, 'a', sizeof(longpath) - 1);
		longpath[0] = '/';
		longpath[sizeof(longpath) - 1] = '\0';
		assert_null(docker_open(longpath, 1000, err, sizeof(err)));
	}
	assert_null(docker_open("/x.sock", 0, err, sizeof(err)));
	docker_close(NULL);
	docker_result_free(NULL);
}

/* ---- fake engines on a local unix socket ---- */

enum fake_mode {
	FAKE_HANG, /* accepts, reads, never answers */
	FAKE_500, /* HTTP 500 with an engine-style message */
	FAKE_HUGE, /* a 2 MiB JSON answer */
	FAKE_REDIRECT, /* 301 to somewhere else */
	FAKE_TTY_LOGS, /* logs of a TTY container: raw, unframed */
	FAKE_MUX_SPLIT, /* framed logs written in pieces that cut headers apart */
};

struct fake {
	enum fake_mode mode;
	char path[108];
	int lfd;
	volatile int stop;
	pthread_t thread;
	int clients[16];
	size_t nclients;
};

static void
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* stdout "hello ", stderr "world\n", with every cut a reader could meet. */
static void
fake_send_split(int fd)
{
	static const char frames[] = "\x01\0\0\0\0\0\0\x06"
	                             "hello "
	                             "\x02\0\0\0\0\0\0\x06"
	                             "world\n"
	                             "\x01\0\0\0\0\0\0\0";
	static const size_t cuts[] = { 3, 8, 10, 14, 15, 20, 28 };
	size_t from = 0, len = sizeof(frames) - 1;

	for (size_t i = 0; i <= ARRAY_LEN(cuts); i++) {
		size_t to = i < ARRAY_LEN(cuts) ? cuts[i] : len;
		send_all(fd, frames + from, to - from);
		from = to;
		sleep_ms(20);
	}
}

static void
fake_answer(struct fake *f, int fd)
{
	char req[4096], head[256];
	size_t len = 0;
	const char *body = "";
	char *big = NULL;
	size_t blen;

	/* Read the request head. */
	req[0] = '\0';
	while (len < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
		ssize_t r = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (r <= 0)
			return;
		len += (size_t)r;
		req[len] = '\0';
	}
	switch (f->mode) {
	case FAKE_HANG:
		return;
	case FAKE_500:
		body = "{\"message\":\"boom\\u0007\"}";
		(void)xsnprintf(head, sizeof(head),
		    "HTTP/1.1 500 Internal Server Error\r\n"
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n",
		    strlen(body));
		break;
	case FAKE_HUGE:
		blen = 2 * 1024 * 1024;
		big = malloc(blen + 1);
		memset(big, ' ', blen);
		big[0] = '[';
		big[blen - 1] = ']';
		big[blen] = '\0';
		body = big;
		(void)xsnprintf(head, sizeof(head),
		    "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n",
		    blen);
		break;
	case FAKE_REDIRECT:
		body = "";
		(void)xsnprintf(head, sizeof(head),
		    "HTTP/1.1 301 Moved Permanently\r\n"
		    "Location: http://example.com/\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n");
		break;
	case FAKE_TTY_LOGS:
		body = "tty line 1\r\ntty line 2\r\n";
		(void)xsnprintf(head, sizeof(head),
		    "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/vnd.docker.raw-stream\r\n"
		    "Connection: close\r\n\r\n");
		break;
	case FAKE_MUX_SPLIT:
		(void)xsnprintf(head, sizeof(head),
		    "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/vnd.docker.raw-stream\r\n"
		    "Connection: close\r\n\r\n");
		send_all(fd, head, strlen(head));
		fake_send_split(fd);
		shutdown(fd, SHUT_WR);
		return;
	}
	send_all(fd, head, strlen(head));
	send_all(fd, body, strlen(body));
	free(big);
	shutdown(fd, SHUT_WR);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	while (!f->stop) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if ((fd = accept(f->lfd, NULL, NULL)) < 0)
			continue;
		fake_answer(f, fd);
		/* Hung connections stay open until the end of the test. */
		if (f->nclients < ARRAY_LEN(f->clients))
			f->clients[f->nclients++] = fd;
		else
			close(fd);
	}
	return NULL;
}

static void
fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sa;

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	assert_true(xsnprintf(f->path, sizeof(f->path), "/tmp/wingman-itest-docker-%ld-%d.sock",
	                (long)getpid(), (int)mode) > 0);
	(void)unlink(f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	for (size_t i = 0; i < f->nclients; i++)
		close(f->clients[i]);
	close(f->lfd);
	(void)unlink(f->path);
}

static void
test_hung_engine_times_out(void **state)
{
	struct docker_result res;
	struct fake f;
	struct docker *d;
	struct command c;
	char err[256];
	int64_t t0, elapsed;

	(void)state;
	fake_start(&f, FAKE_HANG);
	d = docker_open(f.path, SHORT_TIMEOUT_MS, err, sizeof(err));
	assert_non_null(d);

	t0 = monotonic_ms();
	assert_int_equal(run_on(d, "docker ps", &res), DOCKER_UNAVAILABLE);
	elapsed = monotonic_ms() - t0;
	if (!starts_with(res.reason, "DOCKER_TIMEOUT:"))
		fail_msg("reason \"%s\"", res.reason);
	/*
	 * The fake never answers: coming back with DOCKER_TIMEOUT is the timeout
	 * firing. Only the lower bound is checked (a monotonic clock cannot make
	 * it fail); an upper bound fails on a busy machine, not on a bug.
	 */
	assert_true(elapsed >= SHORT_TIMEOUT_MS - 50);
	docker_result_free(&res);

	/*
	 * restart's budget is the timeout plus -t seconds. The engine read the
	 * request and may have acted: unknown, not unavailable.
	 */
	t0 = monotonic_ms();
	assert_int_equal(command_parse("docker restart -t 1 " NAME, &c, err, sizeof(err)), 0);
	assert_int_equal(docker_run(d, &c, &res), DOCKER_UNKNOWN);
	elapsed = monotonic_ms() - t0;
	assert_true(starts_with(res.reason, "DOCKER_TIMEOUT:"));
	assert_true(elapsed >= SHORT_TIMEOUT_MS + 1000 - 50);
	docker_result_free(&res);

	assert_int_equal(docker_ping(d, err, sizeof(err)), -1);
	assert_true(starts_with(err, "DOCKER_TIMEOUT:"));
	docker_close(d);
	fake_stop(&f);
}

static void
test_fake_engine_answers(void **state)
{
	struct docker_result res;
	struct fake f;
	struct docker *d;
	char err[256];

	(void)state;
	/*
	 * 5xx: the engine is in trouble, not the command. A restart may have
	 * stopped the container before it failed: unknown. A read did nothing.
	 */
	fake_start(&f, FAKE_500);
	assert_non_null(d = docker_open(f.path, 2000, err, sizeof(err)));
	assert_int_equal(run_on(d, "docker restart -t 0 " NAME, &res), DOCKER_UNKNOWN);
	assert_true(starts_with(res.reason, "DOCKER_UNAVAILABLE:"));
	/* The engine's message is shown, control characters replaced. */
	assert_non_null(strstr(res.reason, "boom?"));
	docker_result_free(&res);
	assert_int_equal(run_on(d, "docker stop " NAME, &res), DOCKER_UNKNOWN);
	docker_result_free(&res);
	assert_int_equal(run_on(d, "docker inspect " NAME, &res), DOCKER_UNAVAILABLE);
	docker_result_free(&res);
	assert_int_equal(run_on(d, "docker logs " NAME, &res), DOCKER_UNAVAILABLE);
	docker_result_free(&res);
	/* Creating an exec runs nothing: its 5xx is unavailable. */
	assert_int_equal(run_on(d, "docker exec " NAME " ls", &res), DOCKER_UNAVAILABLE);
	docker_result_free(&res);
	docker_close(d);
	fake_stop(&f);

	/* A JSON answer over the limit is refused, not truncated and parsed. */
	fake_start(&f, FAKE_HUGE);
	assert_non_null(d = docker_open(f.path, 5000, err, sizeof(err)));
	assert_int_equal(run_on(d, "docker ps", &res), DOCKER_UNAVAILABLE);
	if (!starts_with(res.reason, "DOCKER_BAD_ANSWER:"))
		fail_msg("reason \"%s\"", res.reason);
	docker_result_free(&res);
	docker_close(d);
	fake_stop(&f);

	/* Redirects are not followed. */
	fake_start(&f, FAKE_REDIRECT);
	assert_non_null(d = docker_open(f.path, 2000, err, sizeof(err)));
	assert_int_equal(run_on(d, "docker inspect " NAME, &res), DOCKER_UNAVAILABLE);
	assert_true(starts_with(res.reason, "DOCKER_BAD_ANSWER:"));
	docker_result_free(&res);
	docker_close(d);
	fake_stop(&f);

	/* A TTY container's log is not framed: passed through as is. */
	fake_start(&f, FAKE_TTY_LOGS);
	assert_non_null(d = docker_open(f.path, 2000, err, sizeof(err)));
	assert_int_equal(run_on(d, "docker logs " NAME, &res), DOCKER_OK);
	assert_string_equal(res.output, "tty line 1\r\ntty line 2\r\n");
	docker_result_free(&res);
	docker_close(d);
	fake_stop(&f);

	/* Frame headers cut across reads are put back together. */
	fake_start(&f, FAKE_MUX_SPLIT);
	assert_non_null(d = docker_open(f.path, 2000, err, sizeof(err)));
	assert_int_equal(run_on(d, "docker logs " NAME, &res), DOCKER_OK);
	assert_string_equal(res.output, "hello world\n");
	assert_int_equal(res.output_size, 12);
	docker_result_free(&res);
	docker_close(d);
	fake_stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_ps),
		cmocka_unit_test(test_inspect_allowlist),
		cmocka_unit_test(test_logs_demux),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_exec_exit_code),
		cmocka_unit_test(test_exec_output_cap),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_stop_start),
		cmocka_unit_test(test_no_such_container),
		cmocka_unit_test(test_refuses_bad_struct),
		cmocka_unit_test(test_bogus_socket),
		cmocka_unit_test(test_hung_engine_times_out),
		cmocka_unit_test(test_fake_engine_answers),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
