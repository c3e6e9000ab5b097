/*
 * /exec in Telegram (services/telegram/exec.c): which messages are an
 * /exec for this bot, the verdict on each (chat, allowlist, age, grammar,
 * environment, command, policy) and the texts the bot answers with. No
 * I/O but reading config/policy.json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot.h"
#include "exec.h"
#include "msg.h"

#define BOT "wingman_test_bot"
#define CHAT -100777LL
#define ALICE 1001LL
#define NOW 1800000000000LL

static struct bot_config cfg;

static int
setup(void **state)
{
	char path[1024], err[256];
	const char *src = getenv("WINGMAN_SOURCE_DIR");

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(path, sizeof(path), "%s/config/policy.json", src ? src : ".");
	assert_int_equal(policy_load(path, &cfg.policy, err, sizeof(err)), 0);
	assert_int_equal(allowlist_parse("1001=alice,1002=bob,1003=demo", &cfg.policy, &cfg.allow,
	                     err, sizeof(err)),
	    0);
	cfg.chat_id = CHAT;
	return 0;
}

/* A message from alice in the approvers' chat, sent a minute ago. */
static struct exec_message
msg(const char *text)
{
	struct exec_message m = { 1, CHAT, 1, ALICE, NOW - 60000, 0, text, strlen(text) };

	return m;
}

static enum exec_verdict
verdict(const struct exec_message *m, struct exec_ask *ask, char *why, size_t whylen)
{
	return exec_check(&cfg, BOT, m, NOW, ask, why, whylen);
}

static enum exec_verdict
check_text(const char *text, char *why, size_t whylen)
{
	struct exec_message m = msg(text);
	struct exec_ask ask;

	return verdict(&m, &ask, why, whylen);
}

static void
test_is_command(void **state)
{
	static const struct {
		const char *text;
		int is;
	} cases[] = {
		{ "/exec", 1 },
		{ "/exec test docker ps", 1 },
		{ "/exec\ttest docker ps", 1 },
		{ "/exec@wingman_test_bot test docker ps", 1 },
		{ "/exec@Wingman_Test_Bot test docker ps", 1 },
		{ "/exec@wingman_test_bot", 1 },
		/* Another bot's command, or not this command at all. */
		{ "/exec@other_bot test docker ps", 0 },
		{ "/exec@wingman_test_bot2 test docker ps", 0 },
		{ "/exec@wingman_test_bo test docker ps", 0 },
		{ "/exec@ test", 0 },
		{ "/execute test docker ps", 0 },
		{ "/exec_x", 0 },
		{ "/Exec test docker ps", 0 },
		{ " /exec test docker ps", 0 },
		{ "exec test docker ps", 0 },
		{ "/approve", 0 },
		{ "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (exec_is_command(cases[i].text, strlen(cases[i].text), BOT) != cases[i].is)
			fail_msg("'%s': expected %d", cases[i].text, cases[i].is);
	assert_false(exec_is_command(NULL, 0, BOT));
	/* Without a known username, no "@" form is taken as ours. */
	assert_false(exec_is_command("/exec@wingman_test_bot test", 27, NULL));
	assert_true(exec_is_command("/exec test", 10, NULL));
}

static void
test_request(void **state)
{
	struct exec_message m = msg("/exec test docker restart wingman-test-api");
	struct exec_ask ask;
	char why[256];

	(void)state;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_REQUEST);
	assert_string_equal(ask.requester, "alice");
	assert_string_equal(ask.worker_id, "telegram-alice");
	assert_string_equal(ask.environment, "test");
	assert_string_equal(ask.command, "docker restart wingman-test-api");
	assert_int_equal(ask.mode, POLICY_HUMAN);

	m = msg("/exec@wingman_test_bot   test    docker inspect wingman-test-api  \n");
	m.from_id = 1002;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_REQUEST);
	assert_string_equal(ask.worker_id, "telegram-bob");
	/* Blanks around the command go; inside it, it is kept as typed. */
	assert_string_equal(ask.command, "docker inspect wingman-test-api");
	assert_int_equal(ask.mode, POLICY_AUTO);

	m = msg("/exec prd docker restart wingman-prd-api");
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_REQUEST);
	assert_string_equal(ask.environment, "prd");
	/* An environment that has not opted in: a clear refusal, no request. */
	((struct policy_env *)policy_env(&cfg.policy, "prd"))->telegram_exec = 0;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_POLICY);
	assert_true(strncmp(why, "POLICY_TELEGRAM_EXEC_OFF: ", 26) == 0);
	((struct policy_env *)policy_env(&cfg.policy, "prd"))->telegram_exec = 1;
	assert_string_equal(exec_code(EXEC_REQUEST), "TG_EXEC_REQUESTED");
}

/* Where and who come first: a stranger or another chat learns nothing else. */
static void
test_sender(void **state)
{
	struct exec_message m = msg("/exec test docker restart wingman-test-api");
	struct exec_ask ask;
	char why[256];

	(void)state;
	m.chat_id = -100888;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_WRONG_CHAT);
	m = msg("/exec nowhere docker restart x;y");
	m.chat_id = ALICE; /* a private chat with the bot */
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_WRONG_CHAT);
	m.has_chat = 0;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_WRONG_CHAT);

	m = msg("/exec nowhere docker restart x;y");
	m.from_id = 666;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_NOT_ALLOWED);
	assert_null(ask.requester);
	m.has_from = 0;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_NOT_ALLOWED);

	/* A forwarded /exec is someone else's words; another bot's is not ours. */
	m = msg("/exec test docker restart wingman-test-api");
	m.forwarded = 1;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_IGNORED);
	m = msg("/exec@other_bot test docker restart wingman-test-api");
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_IGNORED);
	m = msg("restart it please");
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_IGNORED);
	m.text = NULL;
	m.text_len = 0;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_IGNORED);
}

/* A backlog read after downtime makes no request; so does an undated message. */
static void
test_age(void **state)
{
	struct exec_message m = msg("/exec test docker restart wingman-test-api");
	struct exec_ask ask;
	char why[256];

	(void)state;
	m.date_ms = NOW - (int64_t)EXEC_MAX_AGE_S * 1000;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_REQUEST);
	m.date_ms = NOW - (int64_t)EXEC_MAX_AGE_S * 1000 - 1000;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_STALE);
	m.date_ms = 0;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_STALE);
	/* A clock a little ahead of ours is fine. */
	m.date_ms = NOW + 5000;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_REQUEST);
}

static void
test_malformed(void **state)
{
	static const struct {
		const char *text;
		enum exec_verdict v;
		const char *why; /* prefix of why, NULL: empty */
	} cases[] = {
		{ "/exec", EXEC_USAGE, NULL },
		{ "/exec   ", EXEC_USAGE, NULL },
		{ "/exec test", EXEC_USAGE, NULL },
		{ "/exec test  \n ", EXEC_USAGE, NULL },
		{ "/exec@wingman_test_bot", EXEC_USAGE, NULL },
		{ "/exec staging docker ps", EXEC_UNKNOWN_ENV, NULL },
		{ "/exec TEST docker ps", EXEC_UNKNOWN_ENV, NULL },
		{ "/exec test-and-a-very-long-environment-name-x docker ps", EXEC_UNKNOWN_ENV,
		    "the environment name is too long" },
		{ "/exec docker restart wingman-test-api", EXEC_UNKNOWN_ENV, NULL },
		{ "/exec test docker restart wingman-test-api; docker rm x", EXEC_BAD_COMMAND,
		    "CMD_BAD_CHAR" },
		{ "/exec test docker restart wingman-test-api && id", EXEC_BAD_COMMAND,
		    "CMD_BAD_CHAR" },
		{ "/exec test docker restart $(id)", EXEC_BAD_COMMAND, "CMD_BAD_CHAR" },
		{ "/exec test docker restart `id`", EXEC_BAD_COMMAND, "CMD_BAD_CHAR" },
		{ "/exec test docker logs wingman-test-api | sh", EXEC_BAD_COMMAND, "CMD_BAD_CHAR" },
		{ "/exec test docker restart wingman-test-*", EXEC_BAD_COMMAND, "CMD_BAD_CHAR" },
		{ "/exec test docker restart wingman-test-api\ndocker rm x", EXEC_BAD_COMMAND,
		    "CMD_BAD_CHAR" },
		{ "/exec test docker restart wingman-test-api >/tmp/x", EXEC_BAD_COMMAND,
		    "CMD_BAD_CHAR" },
		{ "/exec test restart wingman-test-api", EXEC_BAD_COMMAND, "CMD_NOT_DOCKER" },
		{ "/exec test sudo docker restart wingman-test-api", EXEC_BAD_COMMAND,
		    "CMD_NOT_DOCKER" },
		{ "/exec test docker rm wingman-test-api", EXEC_BAD_COMMAND, "CMD_VERB" },
		{ "/exec test docker restart", EXEC_BAD_COMMAND, "CMD_" },
		{ "/exec test docker", EXEC_BAD_COMMAND, "CMD_" },
		{ "/exec test docker restart wingman-test-api wingman-test-demo", EXEC_BAD_COMMAND,
		    "CMD_" },
		/* The policy: containers of the environment, actions it allows. */
		{ "/exec test docker restart wingman-prd-api", EXEC_POLICY, "POLICY_" },
		{ "/exec prd docker exec wingman-prd-api id", EXEC_POLICY, "POLICY_DENIED" },
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum exec_verdict v = check_text(cases[i].text, why, sizeof(why));

		if (v != cases[i].v)
			fail_msg("'%s': verdict %s, expected %s (%s)", cases[i].text, exec_code(v),
			    exec_code(cases[i].v), why);
		if (cases[i].why != NULL && strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
			fail_msg("'%s': why '%s', expected '%s...'", cases[i].text, why,
			    cases[i].why);
	}
	/* A NUL byte inside the text (JSON strings may carry one). */
	{
		static const char text[] = "/exec test docker inspect wingman-test-api\0; id";
		struct exec_message m = msg("");
		struct exec_ask ask;

		m.text = text;
		m.text_len = sizeof(text) - 1;
		assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_BAD_COMMAND);
	}
	/* A command longer than the grammar allows. */
	{
		char text[700];
		struct exec_message m;
		struct exec_ask ask;

		snprintf(text, sizeof(text), "/exec test docker exec wingman-test-api echo %0600d",
		    7);
		m = msg(text);
		assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_BAD_COMMAND);
		assert_true(strncmp(why, "CMD_TOO_LONG", 12) == 0);
	}
}

/* An approver whose name cannot make a worker id (telegram-<name>, at most 64 bytes). */
static void
test_name_too_long(void **state)
{
	struct bot_config *long_cfg = calloc(1, sizeof(*long_cfg));
	struct exec_message m = msg("/exec test docker restart wingman-test-api");
	struct exec_ask ask;
	char spec[120], why[256];

	(void)state;
	assert_non_null(long_cfg);
	memcpy(long_cfg, &cfg, sizeof(cfg));
	snprintf(spec, sizeof(spec), "1001=%s",
	    "a234567890123456789012345678901234567890123456789012345678");
	assert_int_equal(allowlist_parse(spec, NULL, &long_cfg->allow, why, sizeof(why)), 0);
	assert_int_equal(exec_check(long_cfg, BOT, &m, NOW, &ask, why, sizeof(why)),
	    EXEC_NAME_TOO_LONG);
	free(long_cfg);
}

static void
test_texts(void **state)
{
	struct exec_message m = msg("/exec test docker restart wingman-test-api");
	struct exec_ask ask;
	char why[256], *t;

	(void)state;
	/* Every refusal says why and that nothing was asked for; HTML escaped. */
	for (int v = EXEC_WRONG_CHAT; v <= EXEC_BUSY; v++) {
		t = exec_refusal_render((enum exec_verdict)v, &cfg, &m, "CMD_BAD_CHAR: <&>");
		assert_non_null(t);
		assert_non_null(strstr(t, "No request was made."));
		assert_null(strstr(t, "<&>"));
		free(t);
	}
	assert_null(exec_refusal_render(EXEC_IGNORED, &cfg, &m, ""));
	assert_null(exec_refusal_render(EXEC_REQUEST, &cfg, &m, ""));
	t = exec_refusal_render(EXEC_BAD_COMMAND, &cfg, &m, "CMD_BAD_CHAR: byte 0x3b at offset 5");
	assert_non_null(strstr(t, "Refused: CMD_BAD_CHAR: byte 0x3b at offset 5"));
	assert_non_null(strstr(t, "Usage: /exec ENVIRONMENT COMMAND"));
	free(t);
	t = exec_refusal_render(EXEC_UNKNOWN_ENV, &cfg, &m, "");
	assert_non_null(strstr(t, "<code>test</code>, <code>prd</code>"));
	free(t);
	t = exec_refusal_render(EXEC_NOT_ALLOWED, &cfg, &m, "");
	assert_non_null(strstr(t, "not on the approvers' allowlist"));
	free(t);

	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_REQUEST);
	t = exec_ack_render("0d9f3c1e-1111-4222-8333-944445555666", &ask);
	assert_non_null(strstr(t,
	    "Request <code>0d9f3c1e-1111-4222-8333-944445555666</code> sent "
	    "as worker <code>telegram-alice</code>"));
	assert_non_null(strstr(t, "you cannot approve your own request"));
	free(t);
}

static void
test_request_message(void **state)
{
	struct exec_message m = msg("/exec test docker restart wingman-test-api");
	struct exec_ask ask;
	char why[256];
	json_t *req;

	(void)state;
	assert_int_equal(verdict(&m, &ask, why, sizeof(why)), EXEC_REQUEST);
	req = exec_request_new(&ask, &m);
	assert_non_null(req);
	assert_int_equal(msg_validate(req, "request", why, sizeof(why)), 0);
	assert_string_equal(msg_str(req, "worker_id"), "telegram-alice");
	assert_string_equal(msg_str(req, "environment"), "test");
	assert_string_equal(json_string_value(json_array_get(json_object_get(req, "commands"), 0)),
	    "docker restart wingman-test-api");
	assert_int_equal(json_array_size(json_object_get(req, "commands")), 1);
	assert_string_equal(msg_str(req, "instruction"),
	    "Telegram /exec by alice (user 1001): /exec test docker restart wingman-test-api");
	json_decref(req);
}

static void
test_result_text(void **state)
{
	json_t *r = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:s}]}", "v", 1,
	    "type", "result", "request_id", "r-1", "ts", "2026-12-02T01:00:00.000Z", "status",
	    "executed", "reason", "", "commands", "cmd", "docker logs wingman-test-api", "status",
	    "ok", "exit_code", 0, "output", "line <1> & \"two\"\nline 2\n");
	char *t, big[4000];

	(void)state;
	t = exec_result_render(r);
	assert_non_null(t);
	assert_non_null(strstr(t, "Result of <code>r-1</code>: <b>EXECUTED</b>\n"));
	assert_non_null(strstr(t, "<code>docker logs wingman-test-api</code>: ok, exit code 0\n"));
	/* Output escaped, its lines kept. */
	assert_non_null(strstr(t, "<pre>line &lt;1&gt; &amp; &quot;two&quot;\nline 2</pre>"));
	assert_null(strstr(t, "Reason:"));
	free(t);

	/* A long output: an excerpt of its first lines and a count of the rest. */
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = i % 40 == 39 ? '\n' : 'x';
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(json_array_get(json_object_get(r, "commands"), 0), "output",
	    json_string(big));
	json_object_set_new(r, "status", json_string("rejected"));
	json_object_set_new(r, "reason", json_string("REJECTED: by bob: <no>"));
	t = exec_result_render(r);
	assert_non_null(strstr(t, "<b>REJECTED</b>\nReason: REJECTED: by bob: &lt;no&gt;\n"));
	assert_non_null(strstr(t, "more bytes]</pre>"));
	assert_true(strlen(t) < 4096);
	free(t);
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_command),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_sender),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_name_too_long),
		cmocka_unit_test(test_texts),
		cmocka_unit_test(test_request_message),
		cmocka_unit_test(test_result_text),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
