/* wingman-telegram: wingman.approval-prompts -> Telegram -> wingman.human-decisions */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "bot.h"
#include "log.h"
#include "service.h"

static volatile sig_atomic_t running = 1;

/* Reads the bot token: one line, trailing whitespace dropped. */
static int
read_token(const char *path, char *token, size_t size, char *err, size_t errlen)
{
	enum secret_rc rc;
	int loose = 0;

	if ((rc = secret_file_read(path, 1024, token, size, &loose)) == SECRET_UNREADABLE) {
		snprintf(err, errlen, "TELEGRAM_CONFIG: cannot read the token file %s", path);
		return -1;
	}
	if (rc != SECRET_OK || !tg_token_valid(token)) {
		OPENSSL_cleanse(token, size);
		snprintf(err, errlen, "TELEGRAM_CONFIG: %s does not hold a bot token (DIGITS:SECRET)",
		    path);
		return -1;
	}
	if (loose)
		log_warnx("event=token_file_readable path=%s reason=\"readable by group or others; "
		    "chmod 600\"", path);
	return 0;
}

static void *
press_thread(void *arg)
{
	bot_press_run(arg);
	return NULL;
}

static void
ctx_close(struct bot_ctx *ctx)
{
	if (ctx->producer != NULL) {
		rd_kafka_flush(ctx->producer, 10000);
		rd_kafka_destroy(ctx->producer);
	}
	audit_close(ctx->audit);
	tgstore_close(ctx->store);
	tg_close(ctx->tg);
	keyring_free(&ctx->approval_key);
	ctx->producer = NULL;
	ctx->audit = NULL;
	ctx->store = NULL;
	ctx->tg = NULL;
}

/* Each loop gets its own Bot API handle, PostgreSQL connection and audit writer. */
static int
ctx_open(struct bot_ctx *ctx, struct bot_config *cfg, const struct config_var *vars, size_t n,
    const char *token, char *err, size_t errlen)
{
	const char *pg = config_get(vars, n, "WINGMAN_PG_CONNINFO");

	ctx->cfg = cfg;
	ctx->running = &running;
	if ((ctx->tg = tg_open(config_get(vars, n, "WINGMAN_TELEGRAM_API"), token, &running, err,
	    errlen)) == NULL)
		return -1;
	if ((ctx->store = tgstore_open(pg)) == NULL) {
		snprintf(err, errlen, "STORE_OPEN: out of memory");
		return -1;
	}
	if ((ctx->audit = audit_open("wingman-telegram", pg, config_get(vars, n, "WINGMAN_AUDIT_JSONL"),
	    err, errlen)) == NULL)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct config_var vars[] = {
		{ "WINGMAN_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap servers", NULL },
		{ "WINGMAN_KEYS_DIR", NULL, "telegram.key (signs decisions, keys the buttons), approval.pub", NULL },
		{ "WINGMAN_POLICY_FILE", NULL, "the policy (JSON): approvers and the workers they own", NULL },
		{ "WINGMAN_PG_CONNINFO", NULL, "PostgreSQL: messages, forwarded votes, update offset; audit", NULL },
		{ "WINGMAN_AUDIT_JSONL", "", "JSONL copy of the audit log (empty: off)", NULL },
		{ "WINGMAN_TELEGRAM_API", "https://api.telegram.org", "Bot API base URL", NULL },
		{ "WINGMAN_TELEGRAM_TOKEN_FILE", NULL, "file holding the bot token from @BotFather", NULL },
		{ "WINGMAN_TELEGRAM_CHAT_ID", NULL, "numeric id of the approvers' chat", NULL },
		{ "WINGMAN_TELEGRAM_APPROVERS", NULL, "allowlist USER_ID=NAME[,USER_ID=NAME...]: "
		  "numeric Telegram user ids to policy approvers", NULL },
		{ "WINGMAN_TELEGRAM_POLL_S", "25", "getUpdates long-polling timeout, 1-50 s", NULL },
		{ "WINGMAN_TELEGRAM_TIMEOUT_MS", "15000", "timeout of any other Bot API call", NULL },
	};
	const size_t n = sizeof(vars) / sizeof(vars[0]);
	static struct bot_config cfg;
	static struct bot_ctx prompts, presses;
	struct service_opts opts;
	const char *const topics[] = { "wingman.approval-prompts", NULL };
	struct stage st = { "wingman-telegram", "wingman-telegram", topics, bot_handle, NULL, 0,
		&prompts };
	char err[512], token[TG_TOKEN_MAX + 1] = "";
	const char *keys;
	EVP_PKEY *sign_key = NULL;
	pthread_t thread;
	int started = 0, rc = 1;
	long long v;

	service_init(argc, argv, "wingman-telegram",
	    "Shows approval prompts in a Telegram chat with Approve/Reject buttons and "
	    "forwards presses of allowlisted approvers as signed human decisions.",
	    vars, n, &opts);
	keys = config_get(vars, n, "WINGMAN_KEYS_DIR");
	cfg.brokers = config_get(vars, n, "WINGMAN_KAFKA_BROKERS");
	if (policy_load(config_get(vars, n, "WINGMAN_POLICY_FILE"), &cfg.policy, err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (allowlist_parse(config_get(vars, n, "WINGMAN_TELEGRAM_APPROVERS"), &cfg.policy, &cfg.allow,
	    err, sizeof(err)) != 0)
		fatalx("WINGMAN_TELEGRAM_APPROVERS: %s", err);
	if (parse_int(config_get(vars, n, "WINGMAN_TELEGRAM_CHAT_ID"), -999999999999999LL,
	    999999999999999LL, &cfg.chat_id) != 0 || cfg.chat_id == 0)
		fatalx("WINGMAN_TELEGRAM_CHAT_ID must be a numeric chat id (groups are negative)");
	if (parse_int(config_get(vars, n, "WINGMAN_TELEGRAM_POLL_S"), 1, 50, &v) != 0)
		fatalx("WINGMAN_TELEGRAM_POLL_S must be 1..50");
	cfg.poll_s = (int)v;
	if (parse_int(config_get(vars, n, "WINGMAN_TELEGRAM_TIMEOUT_MS"), 1000, 60000, &v) != 0)
		fatalx("WINGMAN_TELEGRAM_TIMEOUT_MS must be 1000..60000");
	cfg.timeout_ms = (long)v;
	if (read_token(config_get(vars, n, "WINGMAN_TELEGRAM_TOKEN_FILE"), token, sizeof(token), err,
	    sizeof(err)) != 0)
		fatalx("%s", err);
	/* The bot id (before ':') is public; it keys the stored offset. */
	snprintf(cfg.bot_id, sizeof(cfg.bot_id), "%.*s", (int)strcspn(token, ":"), token);
	if ((sign_key = key_load_named(keys, "telegram", 1, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cb_secret_derive(sign_key, cfg.secret) != 0)
		fatalx("cannot derive the callback secret from telegram.key");
	keyring_init(&prompts.approval_key);
	keyring_init(&presses.approval_key);
	if (keyring_add(&prompts.approval_key, keys, "approval", err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (opts.check_only) {
		puts("configuration OK");
		rc = 0;
		goto done;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	if (ctx_open(&prompts, &cfg, vars, n, token, err, sizeof(err)) != 0 ||
	    ctx_open(&presses, &cfg, vars, n, token, err, sizeof(err)) != 0)
		fatalx("%s", err);
	OPENSSL_cleanse(token, sizeof(token));
	presses.sign_key = sign_key;
	if ((presses.producer = kafka_producer_new(cfg.brokers, err, sizeof(err))) == NULL)
		fatalx("kafka: %s", err);
	service_signals(&running);
	log_info("event=configured chat_id=%lld approvers=%zu bot_id=%s", cfg.chat_id, cfg.allow.n,
	    cfg.bot_id);
	/* Filter mode shows prompts only: presses need the daemon's poll loop. */
	if (!opts.filter) {
		if (pthread_create(&thread, NULL, press_thread, &presses) != 0)
			fatalx("cannot start the press loop");
		started = 1;
	}
	rc = service_run(&st, &opts, cfg.brokers, &running);
	running = 0;
	if (started)
		pthread_join(thread, NULL);
	curl_global_cleanup();
done:
	OPENSSL_cleanse(token, sizeof(token));
	ctx_close(&prompts);
	ctx_close(&presses);
	OPENSSL_cleanse(cfg.secret, sizeof(cfg.secret));
	EVP_PKEY_free(sign_key);
	return rc;
}
