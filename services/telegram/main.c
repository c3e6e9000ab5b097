/*
 * wingman-telegram: wingman.approval-prompts -> Telegram -> wingman.human-decisions;
 * /exec in Telegram -> wingman.requests, and its result from wingman.results -> Telegram.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "bot.h"
#include "log.h"
#include "service.h"

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
		snprintf(err, errlen,
		    "TELEGRAM_CONFIG: %s does not hold a bot token (DIGITS:SECRET)", path);
		return -1;
	}
	if (loose)
		log_warnx("event=token_file_readable path=%s reason=\"readable by group or others; "
		          "chmod 600\"",
		    path);
	return 0;
}

/* Two loops (prompts from Kafka, presses from the Bot API), each with its own handles. */
struct telegram {
	struct bot_config cfg;
	struct bot_ctx prompts, presses;
	EVP_PKEY *sign_key;
	char token[TG_TOKEN_MAX + 1];
	pthread_t thread;
	int started, curl;
};

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
	keyring_free(&ctx->result_keys);
	ctx->producer = NULL;
	ctx->audit = NULL;
	ctx->store = NULL;
	ctx->tg = NULL;
}

/*
 * Each loop gets its own Bot API handle, PostgreSQL connection and audit
 * writer (the prompt loop's is opened by service_main).
 */
static int
ctx_open(struct bot_ctx *ctx, struct telegram *t, const struct service_run *run, char *err,
    size_t errlen)
{
	const char *pg = config_str(run->cfg, CFG_PG_CONNINFO);

	ctx->cfg = &t->cfg;
	ctx->running = run->running;
	if ((ctx->tg = tg_open(config_str(run->cfg, CFG_TELEGRAM_API), t->token, run->running, err,
	         errlen)) == NULL)
		return -1;
	if ((ctx->store = tgstore_open(pg)) == NULL) {
		snprintf(err, errlen, "STORE_OPEN: out of memory");
		return -1;
	}
	if (ctx->audit == NULL &&
	    (ctx->audit = audit_open("wingman-telegram", pg, config_str(run->cfg, CFG_AUDIT_JSONL),
	         err, errlen)) == NULL)
		return -1;
	return 0;
}

/*
 * Key rotation: the older telegram private keys still in the keys
 * directory (until `wingman keys retire`) key the tags of buttons posted
 * before the rotation, so a press on them still counts.
 */
static int
old_secrets_load(struct bot_config *cfg, const char *keys, char *err, size_t errlen)
{
	char gens[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1], name[KEY_NAME_MAX + 1], path[4096];
	EVP_PKEY *key;
	int n, i, rc = 0;

	n = key_generations(keys, "telegram", "key", gens, KEY_GENERATIONS_MAX);
	for (i = 1; i < n && cfg->n_old_secrets < (int)ARRAY_LEN(cfg->old_secrets) && rc == 0; i++) {
		if (key_generation_name(name, sizeof(name), "telegram", gens[i]) != 0 ||
		    key_path(path, sizeof(path), keys, name, "key", err, errlen) != 0 ||
		    (key = key_load_private(path, err, errlen)) == NULL)
			return -1;
		rc = cb_secret_derive(key, cfg->old_secrets[cfg->n_old_secrets++]);
		EVP_PKEY_free(key);
	}
	if (rc != 0)
		snprintf(err, errlen, "cannot derive a callback secret from an older telegram key");
	return rc;
}

static int
setup(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct telegram *t = arg;
	struct bot_config *cfg = &t->cfg;
	const char *keys = config_str(run->cfg, CFG_KEYS_DIR);
	char why[400];

	run->st.ctx = &t->prompts;
	cfg->brokers = config_str(run->cfg, CFG_KAFKA_BROKERS);
	if (policy_load(config_str(run->cfg, CFG_POLICY_FILE), &cfg->policy, err, errlen) != 0)
		return -1;
	if (allowlist_parse(config_str(run->cfg, CFG_TELEGRAM_APPROVERS), &cfg->policy, &cfg->allow,
	        why, sizeof(why)) != 0) {
		snprintf(err, errlen, "WINGMAN_TELEGRAM_APPROVERS: %s", why);
		return -1;
	}
	if ((cfg->chat_id = config_int(run->cfg, CFG_TELEGRAM_CHAT_ID)) == 0) {
		snprintf(err, errlen,
		    "WINGMAN_TELEGRAM_CHAT_ID must be a numeric chat id (groups are "
		    "negative)");
		return -1;
	}
	cfg->poll_s = (int)config_int(run->cfg, CFG_TELEGRAM_POLL_S);
	cfg->timeout_ms = (long)config_int(run->cfg, CFG_TELEGRAM_TIMEOUT_MS);
	if (read_token(config_str(run->cfg, CFG_TELEGRAM_TOKEN_FILE), t->token, sizeof(t->token),
	        err, errlen) != 0)
		return -1;
	/* The bot id (before ':') is public; it keys the stored offset. */
	snprintf(cfg->bot_id, sizeof(cfg->bot_id), "%.*s", (int)strcspn(t->token, ":"), t->token);
	if ((t->sign_key = key_load_named(keys, "telegram", 1, err, errlen)) == NULL)
		return -1;
	if (cb_secret_derive(t->sign_key, cfg->secret) != 0) {
		snprintf(err, errlen, "cannot derive the callback secret from telegram.key");
		return -1;
	}
	if (old_secrets_load(cfg, keys, err, errlen) != 0)
		return -1;
	if (keyring_add(&t->prompts.approval_key, keys, "approval", err, errlen) != 0)
		return -1;
	/* The stages that may end a request (trust rule 9): the results of /exec. */
	if (keyring_add(&t->prompts.result_keys, keys, "executor", err, errlen) != 0 ||
	    keyring_add(&t->prompts.result_keys, keys, "approval", err, errlen) != 0)
		return -1;
	return 0;
}

static int
open_all(void *arg, struct service_run *run, char *err, size_t errlen)
{
	struct telegram *t = arg;
	char why[400];

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	t->curl = 1;
	if (ctx_open(&t->prompts, t, run, err, errlen) != 0 ||
	    ctx_open(&t->presses, t, run, err, errlen) != 0)
		return -1;
	OPENSSL_cleanse(t->token, sizeof(t->token));
	t->presses.sign_key = t->sign_key;
	if ((t->presses.producer = kafka_producer_new(t->cfg.brokers, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "kafka: %s", why);
		return -1;
	}
	log_info("event=configured chat_id=%lld approvers=%zu bot_id=%s", t->cfg.chat_id,
	    t->cfg.allow.n, t->cfg.bot_id);
	/* Filter mode shows prompts only: presses need the daemon's poll loop. */
	if (!run->opts.filter) {
		if (pthread_create(&t->thread, NULL, press_thread, &t->presses) != 0) {
			snprintf(err, errlen, "cannot start the press loop");
			return -1;
		}
		t->started = 1;
	}
	return 0;
}

static void
stop(void *arg, struct service_run *run)
{
	struct telegram *t = arg;

	*run->running = 0;
	if (t->started)
		pthread_join(t->thread, NULL);
	t->started = 0;
}

static void
close_all(void *arg)
{
	struct telegram *t = arg;

	OPENSSL_cleanse(t->token, sizeof(t->token));
	ctx_close(&t->prompts);
	ctx_close(&t->presses);
	if (t->curl)
		curl_global_cleanup();
	OPENSSL_cleanse(t->cfg.secret, sizeof(t->cfg.secret));
	OPENSSL_cleanse(t->cfg.old_secrets, sizeof(t->cfg.old_secrets));
	EVP_PKEY_free(t->sign_key);
}

int
main(int argc, char **argv)
{
	static struct telegram t;
	static const char *const topics[] = { "wingman.approval-prompts", "wingman.results", NULL };
	static const struct service svc = {
		.name = "wingman-telegram",
		.process = SVC_TELEGRAM,
		.summary = "Shows approval prompts in a Telegram chat with Approve/Reject buttons, "
		           "forwards presses of allowlisted approvers as signed human decisions, and "
		           "turns their /exec messages into signed requests answered in the chat.",
		.keys = "telegram.key (private: signs decisions and /exec requests, keys the "
		        "buttons), approval.pub, executor.pub",
		.topics = topics,
		.handle = bot_handle,
		.ctx = &t,
		.audit = &t.prompts.audit,
		.setup = setup,
		.open = open_all,
		.stop = stop,
		.close = close_all,
	};

	return service_main(&svc, argc, argv);
}
