/*
 * Handler of wingman.requests: decode strictly, parse every command (no
 * vote for what is outside the grammar), ask the voters, publish one signed
 * assessment. An undecodable request that still names a request id gets an
 * `invalid` result at once, so its agent is not left waiting.
 *
 * The tally is the point of the service and is pure: N approving votes
 * (threshold) auto-approve, abstentions never count as approval, the risk is
 * the highest risk cast, every cast vote that disagrees with the outcome is
 * dissent. Nobody voting means risk critical and a human decides.
 */
#include "consensus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "command.h"
#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "util.h"

#define CONSENSUS_FILE_MAX (64 * 1024)
#define VOTER_TIMEOUT_DEFAULT 8000
#define VOTER_TIMEOUT_MIN 100
#define VOTER_TIMEOUT_MAX 120000
#define VOTER_MAX_TOKENS_DEFAULT 512

#define CFG_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

static int
only_members(const json_t *obj, const char *const *known, const char **bad)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value) {
		const char *const *k;
		for (k = known; *k && strcmp(*k, key) != 0; k++)
			;
		if (*k == NULL) {
			*bad = key;
			return -1;
		}
	}
	return 0;
}

/* Printable ASCII without blanks, 1..max bytes. */
static int
printable_word(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return n > 0 && n <= max;
}

/* An http(s) URL without blanks, query or fragment; the trailing '/' is cut. */
static int
copy_url(const char *s, char *out, size_t outlen, int allow_socks)
{
	size_t n;

	if (s == NULL || !printable_word(s, outlen - 1) || strpbrk(s, "?#") != NULL)
		return -1;
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0 &&
	    !(allow_socks && (strncmp(s, "socks5://", 9) == 0 || strncmp(s, "socks5h://", 10) == 0)))
		return -1;
	snprintf(out, outlen, "%s", s);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	/* Something must be left after "scheme://". */
	return n > (size_t)(strstr(out, "://") - out) + 3 ? 0 : -1;
}

/*
 * The key file holds the key and maybe a newline. The key never reaches an
 * error message, a log line or anything published.
 */
static int
load_key(const char *path, char **key, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (read_file(path, VOTER_KEY_MAX + 64, &text, &len) != 0) {
		snprintf(err, errlen, "cannot read the api_key_file %s (or it is larger than %d bytes)",
		    path, VOTER_KEY_MAX + 64);
		return -1;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
	    text[len - 1] == '\t'))
		text[--len] = '\0';
	if (len == 0 || len > VOTER_KEY_MAX || strlen(text) != len || !printable_word(text, VOTER_KEY_MAX)) {
		snprintf(err, errlen, "the api_key_file %s must hold one key of 1 to %d printable bytes",
		    path, VOTER_KEY_MAX);
		goto done;
	}
	if ((*key = strdup(text)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

static int
load_voter(const json_t *vj, size_t i, struct consensus_config *cfg, char *err, size_t errlen)
{
	static const char *const rules_members[] = { "name", "kind", NULL };
	static const char *const http_members[] = { "name", "kind", "url", "model", "api_key_file",
		"timeout_ms", "max_tokens", "proxy", NULL };
	struct voter *v = &cfg->voters[cfg->n_voters];
	const char *kind, *name, *bad = NULL, *s;
	const json_t *value;
	char why[384];

	if (!json_is_object(vj)) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voters[%zu] must be an object", i);
		return -1;
	}
	kind = json_string_value(json_object_get(vj, "kind"));
	name = json_string_value(json_object_get(vj, "name"));
	if (kind == NULL || name == NULL || !valid_name(name)) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voters[%zu] needs a name and a kind", i);
		return -1;
	}
	for (size_t j = 0; j < cfg->n_voters; j++) {
		if (strcmp(cfg->voters[j].name, name) == 0) {
			snprintf(err, errlen, "CONSENSUS_INVALID: two voters are named '%s'", name);
			return -1;
		}
	}
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	if (json_object_get(vj, "api_key") != NULL) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': a key does not belong in the consensus "
		    "file; name a file holding it with api_key_file", name);
		return -1;
	}
	if (strcmp(kind, "rules") == 0) {
		v->kind = VOTER_RULES;
		if (only_members(vj, rules_members, &bad) != 0) {
			snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': unknown member '%.32s'", name, bad);
			return -1;
		}
		for (size_t j = 0; j < cfg->n_voters; j++) {
			if (cfg->voters[j].kind == VOTER_RULES) {
				/* Two copies of one deterministic vote would count twice. */
				snprintf(err, errlen, "CONSENSUS_INVALID: at most one rules voter");
				return -1;
			}
		}
		cfg->n_voters++;
		return 0;
	}
	if (strcmp(kind, "openai") == 0)
		v->kind = VOTER_OPENAI;
	else if (strcmp(kind, "anthropic") == 0)
		v->kind = VOTER_ANTHROPIC;
	else {
		snprintf(err, errlen, "CONSENSUS_UNSUPPORTED: voter '%s': kind '%.32s' is not rules, openai "
		    "or anthropic", name, kind);
		return -1;
	}
	if (only_members(vj, http_members, &bad) != 0) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': unknown member '%.32s'", name, bad);
		return -1;
	}
	if (copy_url(json_string_value(json_object_get(vj, "url")), v->url, sizeof(v->url), 0) != 0) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': url must be an http:// or https:// "
		    "base URL of at most %d bytes, without query or fragment", name, VOTER_URL_MAX);
		return -1;
	}
	s = json_string_value(json_object_get(vj, "model"));
	if (s == NULL || !printable_word(s, VOTER_MODEL_MAX)) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': model must be 1 to %d printable bytes",
		    name, VOTER_MODEL_MAX);
		return -1;
	}
	snprintf(v->model, sizeof(v->model), "%s", s);
	v->timeout_ms = VOTER_TIMEOUT_DEFAULT;
	if ((value = json_object_get(vj, "timeout_ms")) != NULL) {
		if (!json_is_integer(value) || json_integer_value(value) < VOTER_TIMEOUT_MIN ||
		    json_integer_value(value) > VOTER_TIMEOUT_MAX) {
			snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': timeout_ms must be an integer "
			    "from %d to %d", name, VOTER_TIMEOUT_MIN, VOTER_TIMEOUT_MAX);
			return -1;
		}
		v->timeout_ms = (long)json_integer_value(value);
	}
	v->max_tokens = VOTER_MAX_TOKENS_DEFAULT;
	if ((value = json_object_get(vj, "max_tokens")) != NULL) {
		if (!json_is_integer(value) || json_integer_value(value) < 16 ||
		    json_integer_value(value) > 8192) {
			snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': max_tokens must be an integer "
			    "from 16 to 8192", name);
			return -1;
		}
		v->max_tokens = (long)json_integer_value(value);
	}
	if ((value = json_object_get(vj, "proxy")) != NULL &&
	    copy_url(json_string_value(value), v->proxy, sizeof(v->proxy), 1) != 0) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': proxy must be an http, https or "
		    "socks5 URL", name);
		return -1;
	}
	/* No key file: a local server that wants no key (Ollama, vLLM, llama.cpp). */
	if ((value = json_object_get(vj, "api_key_file")) != NULL) {
		if (!json_is_string(value) || json_string_length(value) == 0) {
			snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': api_key_file must be a path", name);
			return -1;
		}
		if (load_key(json_string_value(value), &v->api_key, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "CONSENSUS_KEY: voter '%s': %s", name, why);
			return -1;
		}
	}
	cfg->n_voters++;
	return 0;
}

int
consensus_load_config(const char *path, struct consensus_config *cfg, char *err, size_t errlen)
{
	static const char *const known[] = { "threshold", "voters", "rules", NULL };
	char *text = NULL;
	size_t len, i;
	json_t *root, *voters, *voter;
	json_error_t jerr;
	const char *bad = NULL;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (read_file(path, CONSENSUS_FILE_MAX, &text, &len) != 0) {
		snprintf(err, errlen, "CONSENSUS_UNREADABLE: cannot read %s", path);
		return -1;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (root == NULL) {
		snprintf(err, errlen, "CONSENSUS_INVALID: %s: %s (line %d)", path, jerr.text, jerr.line);
		return -1;
	}
	if (!json_is_object(root))
		CFG_FAIL("CONSENSUS_INVALID: %s must hold one object", path);
	if (only_members(root, known, &bad) != 0)
		CFG_FAIL("CONSENSUS_INVALID: unknown member '%.32s'", bad);
	voters = json_object_get(root, "voters");
	if (!json_is_integer(json_object_get(root, "threshold")) || !json_is_array(voters) ||
	    json_array_size(voters) == 0 || json_array_size(voters) > CONSENSUS_MAX_VOTERS)
		CFG_FAIL("CONSENSUS_INVALID: need an integer threshold and 1 to %d voters",
		    CONSENSUS_MAX_VOTERS);
	json_array_foreach(voters, i, voter)
		if (load_voter(voter, i, cfg, err, errlen) != 0)
			goto fail;
	if (json_integer_value(json_object_get(root, "threshold")) < 1 ||
	    (size_t)json_integer_value(json_object_get(root, "threshold")) > cfg->n_voters)
		CFG_FAIL("CONSENSUS_INVALID: threshold must be between 1 and the number of voters");
	cfg->threshold = (int)json_integer_value(json_object_get(root, "threshold"));
	if (rules_table_load(json_object_get(root, "rules"), &cfg->rules, err, errlen) != 0)
		goto fail;
	rc = 0;
fail:
	json_decref(root);
	return rc;
}

int
consensus_config_default(struct consensus_config *cfg, int threshold, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->threshold = threshold;
	cfg->n_voters = 1;
	snprintf(cfg->voters[0].name, sizeof(cfg->voters[0].name), "rules");
	cfg->voters[0].kind = VOTER_RULES;
	return rules_table_load(NULL, &cfg->rules, err, errlen);
}

void
consensus_config_free(struct consensus_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < CONSENSUS_MAX_VOTERS; i++) {
		struct voter *v = &cfg->voters[i];
		if (v->api_key != NULL) {
			OPENSSL_cleanse(v->api_key, strlen(v->api_key));
			free(v->api_key);
			v->api_key = NULL;
		}
	}
	rules_table_free(&cfg->rules);
}

/* --- votes and the tally ------------------------------------------------ */

json_t *
vote_new(const char *voter, int risk, int approve, json_t *reasons, int64_t latency_ms)
{
	json_t *v;

	if (reasons == NULL)
		reasons = json_array();
	v = json_pack("{s:s, s:s, s:b, s:o}", "voter", voter, "risk", risk_name(risk), "approve",
	    approve != 0, "reasons", reasons);
	if (v != NULL && latency_ms >= 0)
		json_object_set_new(v, "latency_ms", json_integer(latency_ms));
	return v;
}

json_t *
vote_abstain(const char *voter, const char *cause, int64_t latency_ms)
{
	json_t *v = vote_new(voter, RISK_CRITICAL, 0, json_pack("[s]", cause), latency_ms);

	if (v != NULL)
		json_object_set_new(v, "abstain", json_true());
	return v;
}

static int
is_abstention(const json_t *vote)
{
	return json_is_true(json_object_get(vote, "abstain"));
}

static json_t *
invalid_assessment(const json_t *request, const char *reason, int threshold)
{
	json_t *a = msg_new("assessment", msg_str(request, "request_id"));

	json_object_set_new(a, "request", json_deep_copy(request));
	json_object_set_new(a, "valid", json_false());
	json_object_set_new(a, "reason", json_string(reason));
	json_object_set_new(a, "actions", json_array());
	json_object_set_new(a, "risk", json_string("critical"));
	json_object_set_new(a, "threshold", json_integer(threshold));
	json_object_set_new(a, "approving_votes", json_integer(0));
	json_object_set_new(a, "votes", json_array());
	json_object_set_new(a, "dissent", json_array());
	return a;
}

json_t *
consensus_actions(const json_t *request, char *reason, size_t reasonlen)
{
	json_t *actions = json_array(), *item;
	size_t i;

	json_array_foreach(json_object_get(request, "commands"), i, item) {
		struct command cmd;
		char err[256];
		if (command_parse(json_string_value(item), &cmd, err, sizeof(err)) != 0) {
			snprintf(reason, reasonlen, "%s (command %zu)", err, i + 1);
			json_decref(actions);
			return NULL;
		}
		json_array_append_new(actions, json_pack("{s:O, s:s, s:s}", "cmd", item, "action",
		    command_action_name(cmd.action), "container", cmd.container));
	}
	return actions;
}

void
consensus_distrust(const struct consensus_config *cfg, json_t *votes, const struct rules_verdict *rv)
{
	json_t *vote, *reasons, *r, *abstain, *latency;
	char cause[VOTE_REASON_MAX + 1];
	size_t i, j;

	if (!rv->distrust)
		return;
	json_array_foreach(votes, i, vote) {
		if (i >= cfg->n_voters || cfg->voters[i].kind == VOTER_RULES || is_abstention(vote) ||
		    !json_is_true(json_object_get(vote, "approve")))
			continue;
		snprintf(cause, sizeof(cause), "ABSTAIN_DISTRUSTED: approval not counted: %s; the model "
		    "read that text and answered risk %s, approve", rv->distrust_why, msg_str(vote, "risk"));
		reasons = json_pack("[s]", cause);
		json_array_foreach(json_object_get(vote, "reasons"), j, r)
			if (json_array_size(reasons) < VOTE_MAX_REASONS)
				json_array_append(reasons, r);
		abstain = json_pack("{s:s, s:s, s:b, s:o, s:b}", "voter", msg_str(vote, "voter"), "risk",
		    "critical", "approve", 0, "reasons", reasons, "abstain", 1);
		if (abstain != NULL && (latency = json_object_get(vote, "latency_ms")) != NULL)
			json_object_set(abstain, "latency_ms", latency);
		/* Releases vote. */
		json_array_set_new(votes, i, abstain);
	}
}

json_t *
consensus_tally(const json_t *request, json_t *actions, json_t *votes, int threshold)
{
	json_t *dissent = json_array(), *vote, *a;
	int risk = RISK_LOW, approving = 0, cast = 0, outcome;
	char reason[128] = "";
	size_t i;

	json_array_foreach(votes, i, vote) {
		int r;
		if (is_abstention(vote))
			continue;
		cast++;
		if (json_is_true(json_object_get(vote, "approve")))
			approving++;
		if ((r = risk_from_name(msg_str(vote, "risk"))) < 0)
			r = RISK_CRITICAL;
		if (r > risk)
			risk = r;
	}
	if (cast == 0) {
		/* Fail closed: no opinion is not a low risk. */
		risk = RISK_CRITICAL;
		snprintf(reason, sizeof(reason), "CONSENSUS_NO_VOTES: all %zu voters abstained; a human "
		    "decides", json_array_size(votes));
	}
	/* Dissent: every cast vote that disagrees with the outcome, by name. */
	outcome = approving >= threshold;
	json_array_foreach(votes, i, vote)
		if (!is_abstention(vote) && json_is_true(json_object_get(vote, "approve")) != outcome)
			json_array_append_new(dissent, json_string(msg_str(vote, "voter")));
	a = msg_new("assessment", msg_str(request, "request_id"));
	json_object_set_new(a, "request", json_deep_copy(request));
	json_object_set_new(a, "valid", json_true());
	json_object_set_new(a, "reason", json_string(reason));
	json_object_set_new(a, "actions", actions);
	json_object_set_new(a, "risk", json_string(risk_name(risk)));
	json_object_set_new(a, "threshold", json_integer(threshold));
	json_object_set_new(a, "approving_votes", json_integer(approving));
	json_object_set_new(a, "votes", votes);
	json_object_set_new(a, "dissent", dissent);
	return a;
}

json_t *
consensus_assess(const json_t *request, const struct consensus_config *cfg)
{
	json_t *slots[CONSENSUS_MAX_VOTERS] = { 0 }, *actions, *votes;
	struct rules_verdict rv;
	char reason[400];
	int models = 0;
	size_t i;

	if ((actions = consensus_actions(request, reason, sizeof(reason))) == NULL)
		return invalid_assessment(request, reason, cfg->threshold);
	/* Run even without a rules voter: its findings can void model approvals. */
	rules_evaluate(&cfg->rules, request, actions, &rv);
	for (i = 0; i < cfg->n_voters; i++)
		if (cfg->voters[i].kind != VOTER_RULES)
			models++;
	if (models > 0)
		llm_ask(cfg, request, actions, slots);
	votes = json_array();
	for (i = 0; i < cfg->n_voters; i++) {
		const struct voter *v = &cfg->voters[i];
		json_t *vote = slots[i];

		if (v->kind == VOTER_RULES)
			vote = vote_new(v->name, rv.risk, rv.approve, json_deep_copy(rv.reasons), -1);
		else if (vote == NULL)
			vote = vote_abstain(v->name, "ABSTAIN_ERROR: no answer was collected", -1);
		json_array_append_new(votes, vote);
	}
	consensus_distrust(cfg, votes, &rv);
	json_decref(rv.reasons);
	return consensus_tally(request, actions, votes, cfg->threshold);
}

enum handler_rc
consensus_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct consensus_ctx *ctx = ctxp;
	json_t *request, *assessment, *vote;
	char hash[65], rid[80], why[MSG_REASON_MAX];
	size_t i;

	request = msg_decode(in->payload, in->len, "request", reason, reasonlen);
	if (request == NULL) {
		/*
		 * Trust rule 9: what does not decode is nobody's request, whatever
		 * id it contains. No signed result in that id's name: the dead
		 * letter (and this audit row, under the guessed id) is all.
		 */
		msg_guess_request_id(in->payload, in->len, rid, sizeof(rid));
		audit_record(ctx->audit, "", "request_rejected", json_pack("{s:s, s:s}", "reason", reason,
		    "claimed_request_id", rid));
		return HANDLER_PERMFAIL;
	}
	sha256_hex(in->payload, in->len, hash);
	if (audit_record(ctx->audit, msg_str(request, "request_id"), "request_received",
	    json_pack("{s:s, s:s, s:s}", "sha256", hash, "worker_id", msg_str(request, "worker_id"),
	    "environment", msg_str(request, "environment"))) != 0) {
		json_decref(request);
		snprintf(reason, reasonlen, "AUDIT_UNAVAILABLE: cannot record the request");
		return HANDLER_TEMPFAIL;
	}
	/* A request the agent signed must carry its worker's valid signature. */
	if (trust_check_request(&ctx->workers, NULL, request, why, sizeof(why)) != 0)
		assessment = invalid_assessment(request, why, ctx->cfg.threshold);
	else
		assessment = consensus_assess(request, &ctx->cfg);
	if (assessment == NULL || envelope_sign(assessment, "consensus", ctx->sign_key) != 0) {
		json_decref(assessment);
		json_decref(request);
		snprintf(reason, reasonlen, "SIGN_FAILED: cannot sign the assessment");
		return HANDLER_TEMPFAIL;
	}
	json_array_foreach(json_object_get(assessment, "votes"), i, vote)
		log_info("event=vote request_id=%s voter=%s risk=%s approve=%s abstain=%s latency_ms=%lld "
		    "reason=\"%.200s\"", msg_str(request, "request_id"), msg_str(vote, "voter"),
		    msg_str(vote, "risk"), json_is_true(json_object_get(vote, "approve")) ? "yes" : "no",
		    is_abstention(vote) ? "yes" : "no",
		    json_integer_value(json_object_get(vote, "latency_ms")),
		    json_string_value(json_array_get(json_object_get(vote, "reasons"), 0)) ?
		    json_string_value(json_array_get(json_object_get(vote, "reasons"), 0)) : "");
	log_info("event=assessed request_id=%s valid=%s risk=%s approving_votes=%lld threshold=%lld",
	    msg_str(request, "request_id"), json_is_true(json_object_get(assessment, "valid")) ? "yes" : "no",
	    msg_str(assessment, "risk"), json_integer_value(json_object_get(assessment, "approving_votes")),
	    json_integer_value(json_object_get(assessment, "threshold")));
	audit_record(ctx->audit, msg_str(request, "request_id"), "assessed",
	    json_pack("{s:O, s:O, s:O, s:O, s:O}", "valid", json_object_get(assessment, "valid"),
	    "reason", json_object_get(assessment, "reason"), "risk", json_object_get(assessment, "risk"),
	    "votes", json_object_get(assessment, "votes"), "dissent", json_object_get(assessment, "dissent")));
	outbox_add(out, TOPIC_ASSESSMENTS, msg_str(request, "request_id"), assessment);
	json_decref(request);
	return HANDLER_OK;
}
