/*
 * The command grammar: every verb and option accepted, and the hostile
 * strings an agent might try refused with the right code. Hostile cases
 * come first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "command.h"

/* Asserts that s is refused and that the reason starts with code. */
static void
expect_reject(const char *s, const char *code)
{
	struct command c;
	char err[256];
	size_t n = strlen(code);

	err[0] = '\0';
	if (command_parse(s, &c, err, sizeof(err)) == 0)
		fail_msg("accepted: \"%s\" (wanted %s)", s, code);
	if (strncmp(err, code, n) != 0 || err[n] != ':')
		fail_msg("\"%s\": got \"%s\", wanted %s", s, err, code);
}

static void
expect_accept(const char *s, struct command *c)
{
	char err[256];

	err[0] = '\0';
	if (command_parse(s, c, err, sizeof(err)) != 0)
		fail_msg("refused: \"%s\": %s", s, err);
}

static void
test_shell_injection(void **state)
{
	(void)state;
	expect_reject("docker restart x; rm -rf /", "CMD_BAD_CHAR");
	expect_reject("docker restart x;rm -rf /", "CMD_BAD_CHAR");
	expect_reject("docker restart $(id)", "CMD_BAD_CHAR");
	expect_reject("docker restart ${HOME}", "CMD_BAD_CHAR");
	expect_reject("docker restart $HOME", "CMD_BAD_CHAR");
	expect_reject("docker restart `id`", "CMD_BAD_CHAR");
	expect_reject("docker ps | sh", "CMD_BAD_CHAR");
	expect_reject("docker ps || reboot", "CMD_BAD_CHAR");
	expect_reject("docker ps && reboot", "CMD_BAD_CHAR");
	expect_reject("docker ps & reboot", "CMD_BAD_CHAR");
	expect_reject("docker logs x > /etc/passwd", "CMD_BAD_CHAR");
	expect_reject("docker logs x >> /tmp/y", "CMD_BAD_CHAR");
	expect_reject("docker exec x sh < /etc/shadow", "CMD_BAD_CHAR");
	expect_reject("docker exec x cat <(id)", "CMD_BAD_CHAR");
	expect_reject("docker exec x sh -c 'id'", "CMD_BAD_CHAR");
	expect_reject("docker exec x sh -c \"id\"", "CMD_BAD_CHAR");
	expect_reject("docker exec x ls \\/", "CMD_BAD_CHAR");
	expect_reject("docker restart x\nrm -rf /", "CMD_BAD_CHAR");
	expect_reject("docker restart x\r\ndocker rm x", "CMD_BAD_CHAR");
	expect_reject("docker restart x\n", "CMD_BAD_CHAR");
	expect_reject("docker exec x ls *", "CMD_BAD_CHAR");
	expect_reject("docker exec x ls /ap?", "CMD_BAD_CHAR");
	expect_reject("docker exec x ls /[a]pp", "CMD_BAD_CHAR");
	expect_reject("docker exec x ls ~", "CMD_BAD_CHAR");
	expect_reject("docker exec x echo !!", "CMD_BAD_CHAR");
	expect_reject("docker exec x echo #", "CMD_BAD_CHAR");
	expect_reject("docker exec x echo %PATH%", "CMD_BAD_CHAR");
	expect_reject("docker exec x echo ^", "CMD_BAD_CHAR");
	expect_reject("docker exec x echo {a,b}", "CMD_BAD_CHAR");
}

static void
test_control_and_non_ascii(void **state)
{
	(void)state;
	expect_reject("docker restart x\x01", "CMD_BAD_CHAR");
	expect_reject("docker restart x\x7f", "CMD_BAD_CHAR");
	expect_reject("docker restart x\x1b[2J", "CMD_BAD_CHAR");
	expect_reject("docker\x0bps", "CMD_BAD_CHAR");
	expect_reject("docker\x0cps", "CMD_BAD_CHAR");
	/* Cyrillic 'а' (U+0430) in place of Latin 'a': a homoglyph. */
	expect_reject("docker restart wingm\xd0\xb0n-test-api", "CMD_BAD_CHAR");
	/* Non-breaking space (U+00A0) as a separator. */
	expect_reject("docker\xc2\xa0ps", "CMD_BAD_CHAR");
	expect_reject("docker restart \xff", "CMD_BAD_CHAR");
}

static void
test_global_options_refused(void **state)
{
	(void)state;
	expect_reject("docker -H tcp://1.2.3.4 restart x", "CMD_OPTION");
	expect_reject("docker --host=tcp://1.2.3.4 restart x", "CMD_OPTION");
	expect_reject("docker --host unix:///tmp/evil.sock ps", "CMD_OPTION");
	expect_reject("docker --context evil ps", "CMD_OPTION");
	expect_reject("docker -c evil ps", "CMD_OPTION");
	expect_reject("docker --config /tmp/evil ps", "CMD_OPTION");
	expect_reject("docker -D ps", "CMD_OPTION");
	expect_reject("docker --tlsverify=false ps", "CMD_OPTION");
	expect_reject("docker --tls ps", "CMD_OPTION");
	expect_reject("docker -l debug ps", "CMD_OPTION");
}

static void
test_exec_options_refused(void **state)
{
	(void)state;
	expect_reject("docker exec --privileged x sh", "CMD_OPTION");
	expect_reject("docker exec -u root x sh", "CMD_OPTION");
	expect_reject("docker exec -u0 x sh", "CMD_OPTION");
	expect_reject("docker exec --user root x sh", "CMD_OPTION");
	expect_reject("docker exec --user=root x sh", "CMD_OPTION");
	expect_reject("docker exec -e SECRET=1 x env", "CMD_OPTION");
	expect_reject("docker exec --env A=1 x env", "CMD_OPTION");
	expect_reject("docker exec -w /root x ls", "CMD_OPTION");
	expect_reject("docker exec --workdir /root x ls", "CMD_OPTION");
	expect_reject("docker exec -i x sh", "CMD_OPTION");
	expect_reject("docker exec -t x sh", "CMD_OPTION");
	expect_reject("docker exec -it x sh", "CMD_OPTION");
	expect_reject("docker exec -d x sh", "CMD_OPTION");
	expect_reject("docker exec --detach-keys=a x sh", "CMD_OPTION");
	expect_reject("docker exec -- x sh", "CMD_OPTION");
	expect_reject("docker exec x", "CMD_ARGS");
	expect_reject("docker exec", "CMD_CONTAINER");
	expect_reject("docker exec .x ls", "CMD_CONTAINER");
}

static void
test_verbs_refused(void **state)
{
	(void)state;
	expect_reject("docker run --privileged -v /:/host busybox", "CMD_VERB");
	expect_reject("docker run busybox", "CMD_VERB");
	expect_reject("docker rm x", "CMD_VERB");
	expect_reject("docker rm -f x", "CMD_VERB");
	expect_reject("docker rmi busybox", "CMD_VERB");
	expect_reject("docker kill x", "CMD_VERB");
	expect_reject("docker cp x:/etc/shadow .", "CMD_VERB");
	expect_reject("docker system prune -af", "CMD_VERB");
	expect_reject("docker container restart x", "CMD_VERB");
	expect_reject("docker RESTART x", "CMD_VERB");
	expect_reject("docker", "CMD_VERB");
	expect_reject("  docker  ", "CMD_VERB");
	expect_reject("sudo docker ps", "CMD_NOT_DOCKER");
	expect_reject("podman ps", "CMD_NOT_DOCKER");
	expect_reject("/usr/bin/docker ps", "CMD_NOT_DOCKER");
	expect_reject("Docker ps", "CMD_NOT_DOCKER");
	expect_reject("rm -rf /", "CMD_NOT_DOCKER");
}

static void
test_container_names(void **state)
{
	(void)state;
	char name[COMMAND_CONTAINER_MAX + 2];
	char s[COMMAND_MAX_LEN + 1];
	struct command c;

	expect_reject("docker restart -x", "CMD_OPTION");
	expect_reject("docker restart --rm", "CMD_OPTION");
	expect_reject("docker restart .x", "CMD_CONTAINER");
	expect_reject("docker restart ..", "CMD_CONTAINER");
	expect_reject("docker restart _x", "CMD_CONTAINER");
	expect_reject("docker restart ../../x", "CMD_CONTAINER");
	expect_reject("docker restart x/../y", "CMD_CONTAINER");
	expect_reject("docker restart a:b", "CMD_CONTAINER");
	expect_reject("docker restart x@y", "CMD_CONTAINER");
	expect_reject("docker restart a=b", "CMD_CONTAINER");
	expect_reject("docker inspect x,y", "CMD_CONTAINER");
	expect_reject("docker restart", "CMD_CONTAINER");
	expect_reject("docker logs --tail 5", "CMD_CONTAINER");
	expect_reject("docker restart x y", "CMD_ARGS");
	expect_reject("docker inspect x y", "CMD_ARGS");
	expect_reject("docker logs x y", "CMD_ARGS");
	expect_reject("docker start x y", "CMD_ARGS");
	expect_reject("docker stop x y", "CMD_ARGS");
	/* Options after the name are extra words, not options. */
	expect_reject("docker logs x --tail 5", "CMD_ARGS");
	expect_reject("docker ps x", "CMD_ARGS");

	/* Exactly COMMAND_CONTAINER_MAX bytes is fine, one more is not. */
	memset(name, 'a', COMMAND_CONTAINER_MAX);
	name[COMMAND_CONTAINER_MAX] = '\0';
	assert_true(snprintf(s, sizeof(s), "docker restart %s", name) < (int)sizeof(s));
	expect_accept(s, &c);
	assert_string_equal(c.container, name);
	name[COMMAND_CONTAINER_MAX] = 'a';
	name[COMMAND_CONTAINER_MAX + 1] = '\0';
	assert_true(snprintf(s, sizeof(s), "docker restart %s", name) < (int)sizeof(s));
	expect_reject(s, "CMD_CONTAINER");

	assert_true(command_valid_container("wingman-test-api"));
	assert_true(command_valid_container("A1_b.c-d"));
	assert_true(command_valid_container("0"));
	assert_false(command_valid_container(""));
	assert_false(command_valid_container(NULL));
	assert_false(command_valid_container("-x"));
	assert_false(command_valid_container("a/b"));
}

static void
test_option_values(void **state)
{
	(void)state;
	expect_reject("docker logs --tail 0 x", "CMD_OPTION");
	expect_reject("docker logs --tail 10001 x", "CMD_OPTION");
	expect_reject("docker logs --tail -1 x", "CMD_OPTION");
	expect_reject("docker logs --tail +5 x", "CMD_OPTION");
	expect_reject("docker logs --tail 05 x", "CMD_OPTION");
	expect_reject("docker logs --tail 1e3 x", "CMD_OPTION");
	expect_reject("docker logs --tail ALL x", "CMD_OPTION");
	expect_reject("docker logs --tail= x", "CMD_OPTION");
	expect_reject("docker logs --tail 99999999999999999999 x", "CMD_OPTION");
	expect_reject("docker logs x --tail", "CMD_ARGS");
	expect_reject("docker logs --tail", "CMD_OPTION");
	expect_reject("docker logs --tail 5 --tail 6 x", "CMD_OPTION");
	expect_reject("docker logs -n 5 x", "CMD_OPTION");
	expect_reject("docker logs -f x", "CMD_OPTION");
	expect_reject("docker logs --follow x", "CMD_OPTION");
	expect_reject("docker logs --since 0 x", "CMD_OPTION");
	expect_reject("docker logs --since 4102444801 x", "CMD_OPTION");
	expect_reject("docker logs --since 10m x", "CMD_OPTION");
	expect_reject("docker logs --since 2024-01-01 x", "CMD_OPTION");
	expect_reject("docker logs --since 1 --since 2 x", "CMD_OPTION");
	expect_reject("docker restart -t 301 x", "CMD_OPTION");
	expect_reject("docker restart -t -1 x", "CMD_OPTION");
	expect_reject("docker restart -t x", "CMD_OPTION");
	expect_reject("docker restart -t", "CMD_OPTION");
	expect_reject("docker restart -t 1 -t 2 x", "CMD_OPTION");
	expect_reject("docker restart -t1 x", "CMD_OPTION");
	expect_reject("docker stop --time 1000 x", "CMD_OPTION");
	expect_reject("docker stop -s KILL x", "CMD_OPTION");
	expect_reject("docker start -a x", "CMD_OPTION");
	expect_reject("docker start -t 5 x", "CMD_OPTION");
	expect_reject("docker inspect -f x", "CMD_OPTION");
	expect_reject("docker inspect --format x y", "CMD_OPTION");
	expect_reject("docker ps -q", "CMD_OPTION");
	expect_reject("docker ps --filter name=x", "CMD_OPTION");
	expect_reject("docker ps -a -a", "CMD_OPTION");
	expect_reject("docker ps --tail 5", "CMD_OPTION");
	expect_reject("docker restart --tail 5 x", "CMD_OPTION");
	expect_reject("docker logs -t 5 x", "CMD_OPTION");
}

static void
test_size_limits(void **state)
{
	(void)state;
	char s[COMMAND_MAX_LEN + 64];
	char arg[COMMAND_ARG_MAX + 2];
	struct command c;
	size_t n;

	expect_reject("", "CMD_EMPTY");
	expect_reject("   ", "CMD_EMPTY");
	expect_reject(" \t \t", "CMD_EMPTY");
	expect_reject(NULL, "CMD_EMPTY");

	/* COMMAND_MAX_LEN bytes parse (as far as length goes); one more does not. */
	n = (size_t)snprintf(s, sizeof(s), "docker ps");
	memset(s + n, ' ', COMMAND_MAX_LEN - n);
	s[COMMAND_MAX_LEN] = '\0';
	expect_accept(s, &c);
	s[COMMAND_MAX_LEN] = ' ';
	s[COMMAND_MAX_LEN + 1] = '\0';
	expect_reject(s, "CMD_TOO_LONG");
	/* Length is checked before bytes: a long hostile string is just too long. */
	memset(s, ';', COMMAND_MAX_LEN + 10);
	s[COMMAND_MAX_LEN + 10] = '\0';
	expect_reject(s, "CMD_TOO_LONG");

	/* 16 exec arguments are fine, 17 are not. */
	expect_accept("docker exec x a b c d e f g h i j k l m n o p", &c);
	assert_int_equal(c.argc, 16);
	assert_string_equal(c.argv[15], "p");
	expect_reject("docker exec x a b c d e f g h i j k l m n o p q", "CMD_ARGS");
	/* Far too many words. */
	expect_reject("docker exec x a b c d e f g h i j k l m n o p q r s t u v w x y z "
	              "a b c d e f g h i j k l m n o p",
	    "CMD_ARGS");

	/* An argument of COMMAND_ARG_MAX bytes is fine, one more is not. */
	memset(arg, 'a', COMMAND_ARG_MAX);
	arg[COMMAND_ARG_MAX] = '\0';
	assert_true(snprintf(s, sizeof(s), "docker exec x echo %s", arg) < (int)sizeof(s));
	expect_accept(s, &c);
	assert_int_equal(strlen(c.argv[1]), COMMAND_ARG_MAX);
	arg[COMMAND_ARG_MAX] = 'a';
	arg[COMMAND_ARG_MAX + 1] = '\0';
	assert_true(snprintf(s, sizeof(s), "docker exec x echo %s", arg) < (int)sizeof(s));
	expect_reject(s, "CMD_ARGS");
}

static void
test_ps(void **state)
{
	(void)state;
	struct command c;

	expect_accept("docker ps", &c);
	assert_int_equal(c.action, ACTION_PS);
	assert_int_equal(c.all, 0);
	assert_string_equal(c.container, "");
	expect_accept("docker ps -a", &c);
	assert_int_equal(c.all, 1);
	expect_accept("docker ps --all", &c);
	assert_int_equal(c.all, 1);
}

static void
test_inspect_start(void **state)
{
	(void)state;
	struct command c;

	expect_accept("docker inspect wingman-test-api", &c);
	assert_int_equal(c.action, ACTION_INSPECT);
	assert_string_equal(c.container, "wingman-test-api");
	expect_accept("docker start wingman-test-api", &c);
	assert_int_equal(c.action, ACTION_START);
	assert_string_equal(c.container, "wingman-test-api");
	expect_accept("docker inspect 3f4e9a1b2c0d", &c);
	assert_string_equal(c.container, "3f4e9a1b2c0d");
}

static void
test_logs(void **state)
{
	(void)state;
	struct command c;

	expect_accept("docker logs api", &c);
	assert_int_equal(c.action, ACTION_LOGS);
	assert_string_equal(c.container, "api");
	assert_int_equal(c.tail, 0);
	assert_true(c.since == 0);

	expect_accept("docker logs --tail 100 api", &c);
	assert_int_equal(c.tail, 100);
	expect_accept("docker logs --tail=1 api", &c);
	assert_int_equal(c.tail, 1);
	expect_accept("docker logs --tail 10000 api", &c);
	assert_int_equal(c.tail, 10000);
	expect_accept("docker logs --tail all api", &c);
	assert_int_equal(c.tail, -1);
	expect_accept("docker logs --tail=all api", &c);
	assert_int_equal(c.tail, -1);

	expect_accept("docker logs --since 1700000000 api", &c);
	assert_true(c.since == 1700000000LL);
	expect_accept("docker logs --since=4102444800 api", &c);
	assert_true(c.since == 4102444800LL);

	/* Options in any order before the name. */
	expect_accept("docker logs --since 1700000000 --tail 5 api", &c);
	assert_int_equal(c.tail, 5);
	assert_true(c.since == 1700000000LL);
	expect_accept("docker logs --tail 5 --since 1700000000 api", &c);
	assert_int_equal(c.tail, 5);
	assert_true(c.since == 1700000000LL);
}

static void
test_restart_stop(void **state)
{
	(void)state;
	struct command c;

	expect_accept("docker restart api", &c);
	assert_int_equal(c.action, ACTION_RESTART);
	assert_string_equal(c.container, "api");
	assert_int_equal(c.timeout_s, -1);
	expect_accept("docker restart -t 5 api", &c);
	assert_int_equal(c.timeout_s, 5);
	expect_accept("docker restart --time 0 api", &c);
	assert_int_equal(c.timeout_s, 0);
	expect_accept("docker restart --time=300 api", &c);
	assert_int_equal(c.timeout_s, 300);

	expect_accept("docker stop api", &c);
	assert_int_equal(c.action, ACTION_STOP);
	assert_int_equal(c.timeout_s, -1);
	expect_accept("docker stop -t 30 api", &c);
	assert_int_equal(c.timeout_s, 30);
	expect_accept("docker stop --time 7 api", &c);
	assert_int_equal(c.timeout_s, 7);
}

static void
test_exec(void **state)
{
	(void)state;
	struct command c;

	expect_accept("docker exec wingman-test-api ls /app", &c);
	assert_int_equal(c.action, ACTION_EXEC);
	assert_string_equal(c.container, "wingman-test-api");
	assert_int_equal(c.argc, 2);
	assert_string_equal(c.argv[0], "ls");
	assert_string_equal(c.argv[1], "/app");

	/* After the name, words are the argv even when they look like options. */
	expect_accept("docker exec api ls -la --color=never /", &c);
	assert_int_equal(c.argc, 4);
	assert_string_equal(c.argv[1], "-la");
	assert_string_equal(c.argv[2], "--color=never");
	expect_accept("docker exec api -u", &c);
	assert_int_equal(c.argc, 1);
	assert_string_equal(c.argv[0], "-u");
	expect_accept("docker exec api /bin/busybox dd if=/dev/zero bs=1000 count=200", &c);
	assert_int_equal(c.argc, 5);
	assert_string_equal(c.argv[2], "if=/dev/zero");
}

static void
test_blanks(void **state)
{
	(void)state;
	struct command c;

	/* Runs of spaces and tabs separate words; leading/trailing blanks are ignored. */
	expect_accept("docker  restart   api", &c);
	assert_int_equal(c.action, ACTION_RESTART);
	assert_string_equal(c.container, "api");
	expect_accept("\tdocker\trestart\t api ", &c);
	assert_string_equal(c.container, "api");
	expect_accept("  docker exec  api  echo   a  ", &c);
	assert_int_equal(c.argc, 2);
	assert_string_equal(c.argv[1], "a");
}

static void
test_err_buffer(void **state)
{
	(void)state;
	struct command c;
	char tiny[8];

	/* A short error buffer truncates; it is always terminated. */
	memset(tiny, 'z', sizeof(tiny));
	assert_int_equal(command_parse("docker rm x", &c, tiny, sizeof(tiny)), -1);
	assert_string_equal(tiny, "CMD_VER");
	/* No buffer at all is allowed. */
	assert_int_equal(command_parse("docker rm x", &c, NULL, 0), -1);
	assert_int_equal(command_parse("docker ps", &c, NULL, 0), 0);
}

static void
test_action_names(void **state)
{
	(void)state;
	enum command_action a;
	static const char *const names[] = { "ps", "inspect", "logs", "restart", "start", "stop",
		"exec" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(command_action_from_name(names[i], &a), 0);
		assert_string_equal(command_action_name(a), names[i]);
	}
	assert_int_equal(command_action_from_name("rm", &a), -1);
	assert_int_equal(command_action_from_name("", &a), -1);
	assert_int_equal(command_action_from_name(NULL, &a), -1);
	assert_string_equal(command_action_name((enum command_action)99), "unknown");
}

/* Parses s, serialises it, and compares with want (compact, sorted keys). */
static void
expect_json(const char *s, const char *want)
{
	struct command c;
	json_t *j;
	char *got;

	expect_accept(s, &c);
	j = command_to_json(&c);
	assert_non_null(j);
	got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("\"%s\": got %s, wanted %s", s, got, want);
	free(got);
	json_decref(j);
}

static void
test_to_json(void **state)
{
	(void)state;
	expect_json("docker ps", "{\"action\":\"ps\",\"container\":\"\"}");
	expect_json("docker ps -a", "{\"action\":\"ps\",\"all\":true,\"container\":\"\"}");
	expect_json("docker inspect x", "{\"action\":\"inspect\",\"container\":\"x\"}");
	expect_json("docker logs x", "{\"action\":\"logs\",\"container\":\"x\"}");
	expect_json("docker logs --tail 100 x",
	    "{\"action\":\"logs\",\"container\":\"x\",\"tail\":100}");
	expect_json("docker logs --tail all --since 1700000000 x",
	    "{\"action\":\"logs\",\"container\":\"x\",\"since\":1700000000,\"tail\":\"all\"}");
	expect_json("docker restart x", "{\"action\":\"restart\",\"container\":\"x\"}");
	expect_json("docker restart -t 0 x",
	    "{\"action\":\"restart\",\"container\":\"x\",\"timeout_s\":0}");
	expect_json("docker stop --time 30 x",
	    "{\"action\":\"stop\",\"container\":\"x\",\"timeout_s\":30}");
	expect_json("docker start x", "{\"action\":\"start\",\"container\":\"x\"}");
	expect_json("docker exec x ls /app",
	    "{\"action\":\"exec\",\"argv\":[\"ls\",\"/app\"],\"container\":\"x\"}");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_injection),
		cmocka_unit_test(test_control_and_non_ascii),
		cmocka_unit_test(test_global_options_refused),
		cmocka_unit_test(test_exec_options_refused),
		cmocka_unit_test(test_verbs_refused),
		cmocka_unit_test(test_container_names),
		cmocka_unit_test(test_option_values),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_ps),
		cmocka_unit_test(test_inspect_start),
		cmocka_unit_test(test_logs),
		cmocka_unit_test(test_restart_stop),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_blanks),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_action_names),
		cmocka_unit_test(test_to_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
