/*
 * Handler of wingman.orders. Trusts nothing it did not check itself: the
 * order's signature, each token (signature, claims, the exact command), the
 * policy's containers for the environment, then the single-use claim. Only
 * then does it call Docker, once, and publish the result.
 */
#include "executor.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "envelope.h"
#include "failpoint.h"
#include "jws.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "util.h"

/* Well under MSG_MAX_BYTES, so every consumer accepts it. */
#define RESULT_MAX_BYTES (192 * 1024)

enum run_rc {
	RUN_DONE, /* ran (or had run): *result and *verdict say what happened */
	RUN_REFUSED, /* not run: a security check said no */
	RUN_FAILED, /* not run: infrastructure or clock skew */
	RUN_INTERRUPTED, /* claimed before but never finished: the outcome is unknown */
	RUN_TEMPFAIL, /* nothing run; retry the order later */
};

static json_t *
command_result(const char *cmd, const char *status, int exit_code, const char *output,
    size_t output_size)
{
	json_t *r = json_pack("{s:s, s:s, s:i, s:s}", "cmd", cmd, "status", status, "exit_code",
	    exit_code, "output", output ? output : "");

	if (r != NULL && output_size > 0)
		json_object_set_new(r, "output_size", json_integer((json_int_t)output_size));
	return r;
}

/*
 * What became of a command that ran: an unknown outcome (a Docker call that
 * may have acted) is `interrupted`, never `failed`, which says nothing ran.
 */
static enum exec_verdict
docker_verdict(enum docker_status s)
{
	switch (s) {
	case DOCKER_OK:
	case DOCKER_CMD_ERROR:
		return VERDICT_EXECUTED;
	case DOCKER_UNKNOWN:
		return VERDICT_INTERRUPTED;
	case DOCKER_UNAVAILABLE:
	default:
		return VERDICT_FAILED;
	}
}

/*
 * Lanes run orders at once; a command that changes a container waits for
 * any other such command on the same container (striped by name), so two
 * restarts never overlap. Reads (ps, inspect, logs) do not wait.
 */
#define CONTAINER_STRIPES 64
static pthread_mutex_t container_stripes[CONTAINER_STRIPES];
static pthread_once_t container_stripes_once = PTHREAD_ONCE_INIT;

static void
container_stripes_init(void)
{
	for (size_t i = 0; i < CONTAINER_STRIPES; i++)
		pthread_mutex_init(&container_stripes[i], NULL);
}

static void
run_exclusive(struct docker *docker, const struct command *cmd, struct docker_result *dr)
{
	pthread_mutex_t *m = NULL;
	uint32_t h = 2166136261u;

	if (cmd->action != ACTION_PS && cmd->action != ACTION_INSPECT && cmd->action != ACTION_LOGS) {
		pthread_once(&container_stripes_once, container_stripes_init);
		for (const char *c = cmd->container; *c; c++)
			h = (h ^ (unsigned char)*c) * 16777619u;
		m = &container_stripes[h % CONTAINER_STRIPES];
		pthread_mutex_lock(m);
	}
	{
		const char *labels[] = { command_action_name(cmd->action), NULL };
		double started = metrics_monotonic_s();

		docker_run(docker, cmd, dr);
		metric_observe(M_DOCKER_SECONDS, labels, metrics_monotonic_s() - started);
	}
	if (m != NULL)
		pthread_mutex_unlock(m);
}

/* The ledger's verdict as the label of wingman_ledger_claims_total. */
static void
count_claim(enum ledger_claim lc)
{
	static const char *const names[] = {
		[LEDGER_CLAIMED] = "claimed",
		[LEDGER_DONE] = "done",
		[LEDGER_VOID] = "void",
		[LEDGER_REPLAYED] = "replayed",
		[LEDGER_INTERRUPTED] = "interrupted",
		[LEDGER_BUSY] = "busy",
		[LEDGER_UNAVAILABLE] = "unavailable",
	};
	const char *labels[] = { (size_t)lc < sizeof(names) / sizeof(names[0]) && names[lc]
		    ? names[lc]
		    : "other",
		NULL };

	metric_inc(M_LEDGER_CLAIMS, labels);
}
/* ps lists every container: keep only the lines of this environment's. */
static char *
filter_ps(const struct policy_env *env, const char *output)
{
	struct wbuf b;
	const char *line = output;

	wbuf_init(&b, DOCKER_OUTPUT_MAX);
	wbuf_append(&b, "", 0);
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char name[COMMAND_CONTAINER_MAX + 1];
		size_t nlen = strcspn(line, " \n");

		if (nlen < sizeof(name)) {
			memcpy(name, line, nlen);
			name[nlen] = '\0';
			if (policy_container_allowed(env, name)) {
				wbuf_append(&b, line, len);
				wbuf_append(&b, "\n", 1);
			}
		}
		line = end ? end + 1 : NULL;
	}
	return b.data;
}

/*
 * A command that ran and whose result the ledger has not stored yet. The
 * result is stored before the order's next command starts, or, for the
 * order's last one, together with the order's `result` audit row: one
 * commit instead of two (issue 11).
 */
struct unfinished {
	char jti[128];
	json_t *result; /* a copy: fit_result may cut the published one */
	enum exec_verdict verdict;
};

/* Stores a result (and every queued audit row) and gives its token's lock back. */
static void
store_result(struct executor_ctx *ctx, const char *rid, const char *jti, const json_t *result,
    enum exec_verdict verdict)
{
	char detail[256];

	if (ledger_finish(ctx->ledger, ctx->audit, jti, result, verdict, detail, sizeof(detail)) !=
	    0)
		log_warnx("event=ledger_finish_failed request_id=%s jti=%s error=\"%s\"", rid, jti,
		    detail);
}

static void
finish(struct executor_ctx *ctx, const char *rid, struct unfinished *f)
{
	if (f->result == NULL)
		return;
	store_result(ctx, rid, f->jti, f->result, f->verdict);
	json_decref(f->result);
	f->result = NULL;
}

static enum run_rc
run_one(struct executor_ctx *ctx, const json_t *order, size_t index, const char *cmdline,
    const char *token, json_t **result, enum exec_verdict *verdict, struct unfinished *later,
    char *why, size_t whylen)
{
	const char *rid = msg_str(order, "request_id");
	const struct policy_env *env;
	enum policy_mode mode;
	struct command cmd;
	struct jws_expect expect = { msg_str(order, "environment"), cmdline, rid, now_unix(), 0 };
	struct docker_result dr;
	json_t *claims = NULL, *stored = NULL;
	enum jws_verdict tv;
	enum ledger_claim lc;
	const char *jti, *status, *reason;
	char detail[256], hash[65], unknown[MSG_REASON_MAX];
	char *output;
	int64_t exp;

	*result = NULL;
	if (command_parse(cmdline, &cmd, why, whylen) != 0)
		return RUN_REFUSED;
	/*
	 * Signature and claims first, time last: a genuine token that already
	 * ran answers with its stored result even after it expired, so a
	 * replayed order can never contradict what happened.
	 */
	expect.ignore_time = 1;
	tv = jws_verify(token, strlen(token), &ctx->token_keys, &expect, &claims, detail,
	    sizeof(detail));
	if (tv != TOKEN_OK) {
		snprintf(why, whylen, "%s: %s", jws_verdict_code(tv), detail);
		return RUN_REFUSED;
	}
	jti = json_string_value(json_object_get(claims, "jti"));
	exp = json_integer_value(json_object_get(claims, "exp"));
	/* The token's lock and row: held from here to ledger_claim, or given back. */
	switch (ledger_lookup(ctx->ledger, jti, &stored, verdict)) {
	case -1:
		snprintf(why, whylen, "LEDGER_UNAVAILABLE: PostgreSQL is unreachable");
		json_decref(claims);
		return RUN_TEMPFAIL;
	case 2:
		snprintf(why, whylen, "LEDGER_BUSY: token %s is being handled by another executor",
		    jti);
		count_claim(LEDGER_BUSY);
		log_warnx("event=claim_deferred request_id=%s jti=%s reason=\"%s\"", rid, jti, why);
		json_decref(claims);
		return RUN_TEMPFAIL;
	case 1:
		log_info("event=already_done request_id=%s jti=%s", rid, jti);
		audit_record(ctx->audit, rid, "replay_answered", json_pack("{s:s}", "jti", jti));
		*result = stored;
		json_decref(claims);
		return RUN_DONE;
	}
	/* Everything but the time holds already: check it on the same claims, no second verify. */
	tv = jws_check_time(claims, expect.now, detail, sizeof(detail));
	if (tv == TOKEN_NOT_YET_VALID) {
		/* wingman-token sets nbf to its own now: a genuine future token means skewed clocks. */
		snprintf(why, whylen,
		    "CLOCK_SKEW: %s: wingman-token's clock is ahead of this executor's", detail);
		ledger_release(ctx->ledger, jti);
		json_decref(claims);
		return RUN_FAILED;
	}
	if (tv != TOKEN_OK) {
		snprintf(why, whylen, "%s: %s", jws_verdict_code(tv), detail);
		ledger_release(ctx->ledger, jti);
		json_decref(claims);
		return RUN_REFUSED;
	}
	/*
	 * The policy is checked again here, on our own parse: approval is not
	 * the last word (evidence_check did it for the whole order already).
	 */
	if ((env = policy_env(&ctx->policy, expect.env)) == NULL) {
		snprintf(why, whylen, "POLICY_UNKNOWN_ENV: %s", expect.env);
		goto refused;
	}
	if (policy_check_command(env, &cmd, &mode, why, whylen) != POLICY_ALLOWED)
		goto refused;
	/* Fail closed: what cannot be audited does not run (the claim writes this row). */
	if (audit_record(ctx->audit, rid, "execution_intent",
	        json_pack("{s:s, s:s, s:I}", "jti", jti, "cmd", cmdline, "index",
	            (json_int_t)index)) != 0) {
		snprintf(why, whylen, "AUDIT_UNAVAILABLE: cannot record the intent");
		ledger_release(ctx->ledger, jti);
		json_decref(claims);
		return RUN_TEMPFAIL;
	}
	lc = ledger_claim(ctx->ledger, ctx->audit, jti, rid, index, cmdline, exp, &stored, verdict,
	    why, whylen);
	count_claim(lc);
	switch (lc) {
	case LEDGER_UNAVAILABLE:
	case LEDGER_BUSY:
		/* Nothing ran: the order is retried, never skipped. */
		log_warnx("event=claim_deferred request_id=%s jti=%s reason=\"%s\"", rid, jti, why);
		json_decref(claims);
		return RUN_TEMPFAIL;
	case LEDGER_DONE:
		log_info("event=already_done request_id=%s jti=%s", rid, jti);
		audit_record(ctx->audit, rid, "replay_answered", json_pack("{s:s}", "jti", jti));
		*result = stored;
		json_decref(claims);
		return RUN_DONE;
	case LEDGER_VOID:
		/* Burnt by the kill switch: the stored refusal answers any redelivery too. */
		log_warnx("event=refused request_id=%s jti=%s reason=\"%s\"", rid, jti, why);
		audit_record(ctx->audit, rid, "refused",
		    json_pack("{s:s, s:s}", "jti", jti, "reason", why));
		*result = stored;
		json_decref(claims);
		return RUN_DONE;
	case LEDGER_INTERRUPTED:
		snprintf(why, whylen, "EXEC_INTERRUPTED: token %s was claimed but never finished",
		    jti);
		audit_record(ctx->audit, rid, "interrupted", json_pack("{s:s}", "jti", jti));
		json_decref(claims);
		return RUN_INTERRUPTED;
	case LEDGER_REPLAYED:
		goto refused;
	case LEDGER_CLAIMED:
		break;
	}
	(void)FAILPOINT("executor.after_claim");
	if (env->execute) {
		log_info("event=executing request_id=%s jti=%s action=%s container=%s", rid, jti,
		    command_action_name(cmd.action), cmd.container);
		/* hang here is a Docker call that never returns (tests/faults). */
		(void)FAILPOINT("executor.docker_call");
		run_exclusive(ctx->docker, &cmd, &dr);
	} else {
		/* Shadow mode: every check ran and the token is spent; Docker is not called. */
		log_info("event=shadow request_id=%s jti=%s action=%s container=%s", rid, jti,
		    command_action_name(cmd.action), cmd.container);
		memset(&dr, 0, sizeof(dr));
		dr.status = DOCKER_OK;
		dr.exit_code = -1;
	}
	output = dr.output;
	if (cmd.action == ACTION_PS && dr.status == DOCKER_OK && dr.output != NULL)
		output = filter_ps(env, dr.output);
	status = !env->execute              ? "shadow"
	    : dr.status == DOCKER_OK        ? "ok"
	    : dr.status == DOCKER_CMD_ERROR ? "error"
	                                    : "failed";
	*verdict = env->execute ? docker_verdict(dr.status) : VERDICT_SHADOW;
	reason = dr.reason;
	if (dr.status == DOCKER_UNKNOWN) {
		/* The code tells a reader of the result what its verdict says. */
		snprintf(unknown, sizeof(unknown),
		    "EXEC_OUTCOME_UNKNOWN: the engine may have acted: %s", dr.reason);
		reason = unknown;
	}
	*result = command_result(cmdline, status, dr.exit_code,
	    dr.status == DOCKER_OK || dr.status == DOCKER_CMD_ERROR
	        ? (output && *output ? output : dr.reason)
	        : reason,
	    dr.output_size);
	sha256_hex(output ? output : "", output ? strlen(output) : 0, hash);
	(void)FAILPOINT("executor.after_docker");
	/* Queued first: the ledger stores the result and this row in one transaction. */
	audit_record(ctx->audit, rid, "execution_result",
	    json_pack("{s:s, s:s, s:i, s:s, s:s}", "jti", jti, "status", status, "exit_code",
	        dr.exit_code, "output_sha256", hash, "reason", reason));
	if (strlen(jti) < sizeof(later->jti) && (later->result = json_deep_copy(*result)) != NULL) {
		memcpy(later->jti, jti, strlen(jti) + 1);
		later->verdict = *verdict;
	} else {
		store_result(ctx, rid, jti, *result, *verdict); /* cannot keep it: stored now */
	}
	if (output != dr.output)
		free(output);
	if (dr.status == DOCKER_UNAVAILABLE || dr.status == DOCKER_UNKNOWN)
		snprintf(why, whylen, "%s", reason);
	docker_result_free(&dr);
	json_decref(claims);
	return RUN_DONE;
refused:
	ledger_release(ctx->ledger, jti); /* held only when refused before the claim */
	log_warnx("event=refused request_id=%s jti=%s reason=\"%s\"", rid, jti, why);
	audit_record(ctx->audit, rid, "refused", json_pack("{s:s, s:s}", "jti", jti, "reason", why));
	json_decref(claims);
	return RUN_REFUSED;
}

/*
 * Each output is capped, but sixteen of them, JSON-escaped, could still
 * make a result no consumer accepts (MSG_MAX_BYTES) or Kafka refuses. Cut
 * the largest output in half until the whole result fits; output_size
 * keeps the real size.
 */
static void
fit_result(json_t *result)
{
	for (int round = 0; round < 128; round++) {
		char *text = json_dumps(result, JSON_COMPACT);
		size_t len = text ? strlen(text) : 0, i, biggest = 0, keep;
		json_t *cmd, *big = NULL;
		const char *output;

		free(text);
		if (len <= RESULT_MAX_BYTES)
			return;
		json_array_foreach(json_object_get(result, "commands"), i, cmd)
		{
			size_t n = json_string_length(json_object_get(cmd, "output"));
			if (n > biggest) {
				biggest = n;
				big = cmd;
			}
		}
		if (big == NULL)
			return;
		output = json_string_value(json_object_get(big, "output"));
		keep = biggest / 2;
		while (keep > 0 && ((unsigned char)output[keep] & 0xc0) == 0x80)
			keep--;
		if (json_object_get(big, "output_size") == NULL)
			json_object_set_new(big, "output_size", json_integer((json_int_t)biggest));
		json_object_set_new(big, "output", json_stringn(output, keep));
	}
}

/* Every command refused with the same reason (new array). */
static json_t *
refuse_all(const json_t *cmds, const char *why)
{
	json_t *results = json_array(), *item;
	size_t i;

	json_array_foreach(cmds, i, item) json_array_append_new(results,
	    command_result(msg_str(item, "cmd"), "refused", -1, why, 0));
	return results;
}

enum evidence_rc {
	EVIDENCE_HOLDS, /* the commands may be tried */
	EVIDENCE_REFUSED, /* genuine evidence the policy refuses: the request is rejected */
	EVIDENCE_FORGED, /* forged or not about this order: a compromised stage is talking */
};

/*
 * Trust rule 8: the order's evidence must justify every command, checked
 * with public keys only before anything runs. why gets the reason unless
 * the evidence holds.
 */
static enum evidence_rc
check_evidence(struct executor_ctx *ctx, const json_t *order, char *why, size_t whylen)
{
	const char *rid = msg_str(order, "request_id");
	json_t *cmdlines = json_array(), *item;
	enum evidence_verdict v;
	size_t i;

	json_array_foreach(json_object_get(order, "commands"), i, item)
	    json_array_append(cmdlines, json_object_get(item, "cmd"));
	*why = '\0';
	v = evidence_check(&ctx->policy, &ctx->trust, rid, msg_str(order, "worker_id"),
	    msg_str(order, "environment"), cmdlines, json_object_get(order, "evidence"), why,
	    whylen);
	json_decref(cmdlines);
	if (v == EVIDENCE_OK)
		return EVIDENCE_HOLDS;
	log_warnx("event=refused request_id=%s verdict=%s reason=\"%s\"", rid,
	    evidence_verdict_code(v), why);
	audit_record(ctx->audit, rid, "refused",
	    json_pack("{s:s, s:s}", "verdict", evidence_verdict_code(v), "reason", why));
	switch (v) {
	case EVIDENCE_INVALID:
	case EVIDENCE_DENIED:
	case EVIDENCE_REQUEST:
		return EVIDENCE_REFUSED;
	default:
		return EVIDENCE_FORGED;
	}
}

enum handler_rc
executor_handle(void *ctxp, const struct stage_input *in, struct outbox *out, char *reason,
    size_t reasonlen)
{
	struct executor_ctx *ctx = ctxp;
	json_t *order, *cmds, *item, *results, *result;
	const char *rid;
	enum exec_verdict status = VERDICT_EXECUTED, verdict;
	char why[MSG_REASON_MAX] = "", first_reason[MSG_REASON_MAX] = "";
	struct unfinished unfinished = { .result = NULL };
	size_t i;
	int stop = 0, ran = 0, shadowed = 0;

	if ((order = msg_accept(in, "order", &ctx->token_keys, ctx->audit, reason, reasonlen)) ==
	    NULL)
		return HANDLER_PERMFAIL;
	rid = msg_str(order, "request_id");
	cmds = json_object_get(order, "commands");
	switch (check_evidence(ctx, order, why, sizeof(why))) {
	case EVIDENCE_FORGED:
		/*
		 * Forged or borrowed evidence says nothing true about this request:
		 * no result in its name, only the dead letter and the audit row.
		 */
		snprintf(reason, reasonlen, "%s", why);
		json_decref(order);
		return HANDLER_PERMFAIL;
	case EVIDENCE_REFUSED:
		/* Genuine evidence the policy refuses: the request ends here. */
		status = VERDICT_REJECTED;
		result = result_new(rid, exec_verdict_name(status), why, refuse_all(cmds, why));
		goto publish;
	case EVIDENCE_HOLDS:
		break;
	}
	results = json_array();
	json_array_foreach(cmds, i, item)
	{
		const char *cmdline = msg_str(item, "cmd");
		enum run_rc rc;

		if (stop) {
			json_array_append_new(results,
			    command_result(cmdline, "skipped", -1,
			        "not run: an earlier command did not succeed", 0));
			continue;
		}
		why[0] = '\0';
		verdict = VERDICT_FAILED;
		finish(ctx, rid,
		    &unfinished); /* the last command's outcome is stored before the next */
		rc = run_one(ctx, order, i, cmdline, msg_str(item, "token"), &result, &verdict,
		    &unfinished, why, sizeof(why));
		if (rc == RUN_TEMPFAIL) {
			/* Nothing of this command ran; commands before it are in the ledger. */
			snprintf(reason, reasonlen, "%s", why);
			json_decref(results);
			json_decref(order);
			return HANDLER_TEMPFAIL;
		}
		if (rc == RUN_DONE) {
			const char *cs = msg_str(result, "status");

			ran |= strcmp(cs, "ok") == 0;
			if (strcmp(cs, "ok") != 0 && strcmp(cs, "shadow") != 0)
				stop = 1;
			if (verdict == VERDICT_SHADOW) {
				shadowed = 1;
			} else if (verdict != VERDICT_EXECUTED) {
				/* A refusal stored by the kill switch reads as one made now. */
				snprintf(first_reason, sizeof(first_reason), "%s",
				    why[0] ? why : msg_str(result, "output"));
				status = verdict;
			}
			json_array_append_new(results, result);
			continue;
		}
		stop = 1;
		status = rc == RUN_REFUSED  ? VERDICT_REJECTED
		    : rc == RUN_INTERRUPTED ? VERDICT_INTERRUPTED
		                            : VERDICT_FAILED;
		json_array_append_new(results,
		    command_result(cmdline, rc == RUN_REFUSED ? "refused" : "failed", -1, why, 0));
		snprintf(first_reason, sizeof(first_reason), "%s", why);
	}
	if (status == VERDICT_EXECUTED && shadowed && !ran) {
		/* Said in the status, not only in a field: nothing ran, whoever reads it. */
		status = VERDICT_SHADOW;
		snprintf(first_reason, sizeof(first_reason),
		    "SHADOW: environment %s has \"execute\": "
		    "false: every check passed, nothing ran",
		    msg_str(order, "environment"));
	}
	result = result_new(rid, exec_verdict_name(status), first_reason, results);
	if (result != NULL)
		fit_result(result);
publish:
	if (result == NULL || envelope_sign(result, "executor", ctx->sign_key) != 0) {
		/* Everything that ran is in the ledger: a retry republishes it. */
		finish(ctx, rid, &unfinished);
		json_decref(result);
		json_decref(order);
		snprintf(reason, reasonlen, "SIGN_FAILED: cannot sign the result");
		return HANDLER_TEMPFAIL;
	}
	/* As published: a reason that is not UTF-8 is left out of the result. */
	snprintf(first_reason, sizeof(first_reason), "%s", msg_str(result, "reason"));
	log_info("event=result request_id=%s status=%s reason=\"%s\"", rid,
	    exec_verdict_name(status), first_reason);
	/* Unbatched (--stdin), the row below is written at once: the ledger must have the result first. */
	if (!audit_batching(ctx->audit))
		finish(ctx, rid, &unfinished);
	audit_record(ctx->audit, rid, "result",
	    json_pack("{s:s, s:s}", "status", exec_verdict_name(status), "reason", first_reason));
	/* The last command's result and the rows queued above: one transaction. */
	finish(ctx, rid, &unfinished);
	(void)FAILPOINT("executor.before_result");
	outbox_add(out, TOPIC_RESULTS, rid, result);
	json_decref(order);
	return HANDLER_OK;
}
