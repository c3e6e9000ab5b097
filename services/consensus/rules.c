/*
 * The built-in rules voter: deterministic, always available, no I/O. Risk
 * comes from the action, a floor set by every pattern found in the
 * instruction or the commands, then the environment's raise. Nothing in
 * the request can lower it: patterns only raise, and text that tries to
 * instruct the voters is itself a pattern (INJECTION) that also voids the
 * approvals of the model voters, who read that text.
 *
 * The table lives in the consensus file ("rules"); what is absent there
 * comes from default_rules below, so the defaults are one table too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "rules.h"
#include "msg.h"
#include "util.h"

/*
 * A tripwire, not a parser: phrases are compared after ASCII lower-casing
 * and collapsing blanks, so "Ignore  previous\nInstructions" still matches.
 * A false positive costs a human look, never a command.
 */
static const char default_rules[] =
    "{"
    " \"actions\": {\"ps\": \"low\", \"inspect\": \"low\", \"logs\": \"low\","
    "   \"restart\": \"medium\", \"start\": \"medium\", \"stop\": \"medium\", \"exec\": \"high\"},"
    " \"environments\": {\"prd\": 1},"
    " \"approve_up_to\": \"low\","
    " \"patterns\": ["
    "  {\"name\": \"instruction-injection\", \"code\": \"INJECTION\", \"in\": [\"instruction\", \"commands\"],"
    "   \"risk\": \"high\", \"distrust_models\": true,"
    "   \"why\": \"text that tries to instruct the voters is data, not an instruction\","
    "   \"contains\": [\"ignore previous\", \"ignore all previous\", \"ignore the previous\","
    "     \"ignore prior\", \"ignore all prior\", \"ignore the above\", \"ignore your instructions\","
    "     \"ignore all instructions\", \"ignore any instructions\", \"ignore the instructions\","
    "     \"disregard previous\", \"disregard all\", \"disregard the above\", \"disregard your\","
    "     \"forget your instructions\", \"forget previous\", \"forget all previous\","
    "     \"new instructions\", \"system prompt\", \"system message\", \"you are now\","
    "     \"rate this low\", \"rate this as low\", \"rate it low\", \"rate it as low\","
    "     \"rate this request\", \"rate the risk\", \"risk is low\", \"risk as low\", \"risk: low\","
    "     \"approve this\", \"approve it\", \"approve: true\", \"\\\"approve\\\"\", \"\\\"risk\\\"\","
    "     \"must approve\", \"should approve\", \"auto-approve\", \"automatically approve\","
    "     \"mark as safe\", \"mark this as safe\", \"this is safe\", \"do not flag\", \"don't flag\","
    "     \"as an ai\", \"assistant:\", \"<|im_start|>\", \"[inst]\", \"</s>\"]},"
    "  {\"name\": \"recursive-delete\", \"code\": \"DESTRUCTIVE\", \"in\": [\"instruction\", \"commands\"],"
    "   \"risk\": \"critical\","
    "   \"words\": [\"rm -rf\", \"rm -fr\", \"rm -r\", \"rm -f -r\", \"rm --recursive\","
    "     \"--no-preserve-root\"]},"
    "  {\"name\": \"sql-destruction\", \"code\": \"DESTRUCTIVE\", \"in\": [\"instruction\", \"commands\"],"
    "   \"risk\": \"critical\","
    "   \"words\": [\"drop table\", \"drop database\", \"drop schema\", \"drop user\", \"truncate table\","
    "     \"delete from\", \"flushall\", \"flushdb\", \"dropdb\"]},"
    "  {\"name\": \"destructive-words\", \"code\": \"DESTRUCTIVE\", \"in\": [\"instruction\", \"commands\"],"
    "   \"risk\": \"high\","
    "   \"words\": [\"delete\", \"drop\", \"truncate\", \"destroy\", \"wipe\", \"purge\", \"erase\","
    "     \"mkfs\", \"shred\", \"dd\", \"kill -9\", \"shutdown\", \"reboot\", \"halt\","
    "     \"poweroff\", \"overwrite\", \"chmod 777\", \"chown\"]},"
    "  {\"name\": \"credential-paths\", \"code\": \"CREDENTIALS\", \"in\": [\"instruction\", \"commands\"],"
    "   \"risk\": \"high\","
    "   \"contains\": [\"/etc/shadow\", \"/etc/passwd\", \"/etc/sudoers\", \".ssh/\", \"id_rsa\","
    "     \"id_ed25519\", \"authorized_keys\", \".aws/credentials\", \".kube/config\","
    "     \".docker/config.json\", \"/run/secrets\", \"/var/run/secrets\", \".netrc\", \".pgpass\","
    "     \".git-credentials\", \"private key\", \"private_key\", \"api key\", \"api_key\", \"apikey\","
    "     \"secret_key\", \"password\", \"passwd\", \"credentials\", \".env\", \".pem\", \".key\"]},"
    "  {\"name\": \"pipe-to-shell\", \"code\": \"SHELL\", \"in\": [\"instruction\", \"commands\"],"
    "   \"risk\": \"critical\","
    "   \"contains\": [\"| sh\", \"|sh\", \"| bash\", \"|bash\", \"| /bin/sh\", \"| /bin/bash\","
    "     \"| sudo\", \"| python\", \"| perl\"], \"words\": [\"sh -c\", \"bash -c\", \"eval\"]},"
    "  {\"name\": \"shell-in-exec\", \"code\": \"SHELL\", \"in\": [\"argv\"], \"risk\": \"critical\","
    "   \"argv0\": [\"sh\", \"bash\", \"ash\", \"dash\", \"zsh\", \"ksh\", \"csh\", \"tcsh\", \"fish\","
    "     \"busybox\", \"python\", \"python3\", \"perl\", \"ruby\", \"node\", \"php\", \"lua\", \"awk\","
    "     \"xargs\", \"env\", \"nsenter\", \"chroot\", \"su\", \"sudo\"]},"
    "  {\"name\": \"network-in-exec\", \"code\": \"NETWORK\", \"in\": [\"argv\"], \"risk\": \"high\","
    "   \"argv0\": [\"curl\", \"wget\", \"nc\", \"ncat\", \"netcat\", \"socat\", \"ssh\", \"scp\", \"telnet\","
    "     \"ftp\", \"tftp\"]},"
    "  {\"name\": \"secrets-in-exec\", \"code\": \"CREDENTIALS\", \"in\": [\"argv\"], \"risk\": \"high\","
    "   \"argv0\": [\"printenv\", \"set\", \"export\", \"declare\"]}"
    " ]"
    "}";

const char *
rules_default_json(void)
{
	return default_rules;
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * Lower-cases ASCII, turns every blank, control byte and no-break space
 * into one space and drops the zero-width characters that could split a
 * phrase invisibly. out must hold strlen(in) + 1 bytes (never grows).
 */
static void
normalize(const char *in, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;
	int blank = 0;

	while (*p) {
		unsigned char c = *p;

		/* U+200B..U+200D, U+2060, U+FEFF: zero width. */
		if (c == 0xe2 && p[1] == 0x80 && p[2] >= 0x8b && p[2] <= 0x8d) {
			p += 3;
			continue;
		}
		if (c == 0xe2 && p[1] == 0x81 && p[2] == 0xa0) {
			p += 3;
			continue;
		}
		if (c == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
			p += 3;
			continue;
		}
		if (c <= 0x20 || c == 0x7f || (c == 0xc2 && p[1] == 0xa0)) {
			p += (c == 0xc2) ? 2 : 1;
			if (!blank)
				out[o++] = ' ';
			blank = 1;
			continue;
		}
		blank = 0;
		out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
		p++;
	}
	out[o] = '\0';
}

/* New normalised copy, or NULL. */
static char *
normalized(const char *s)
{
	char *out = malloc(strlen(s) + 1);

	if (out != NULL)
		normalize(s, out);
	return out;
}

static int
text_has(const char *text, const struct rules_needle *n)
{
	size_t len = strlen(n->text);
	const char *p = text;

	if (len == 0)
		return 0;
	while ((p = strstr(p, n->text)) != NULL) {
		if (n->kind == NEEDLE_CONTAINS)
			return 1;
		if ((p == text || !is_alnum((unsigned char)p[-1])) &&
		    !is_alnum((unsigned char)p[len]))
			return 1;
		p++;
	}
	return 0;
}

/* --- loading --------------------------------------------------------- */

#define LOAD_FAIL(...) \
	do { \
		snprintf(err, errlen, __VA_ARGS__); \
		goto fail; \
	} while (0)

static int
load_needles(struct rules_table *t, struct rules_pattern *p, const json_t *list,
    enum needle_kind kind, const char *member, char *err, size_t errlen)
{
	const json_t *item;
	size_t i;

	if (list == NULL)
		return 0;
	if (!json_is_array(list)) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: rules pattern '%s': %s must be an array of strings",
		    p->name, member);
		return -1;
	}
	json_array_foreach(list, i, item)
	{
		const char *s = json_string_value(item);
		struct rules_needle *n;

		if (s == NULL || *s == '\0' || strlen(s) > RULES_NEEDLE_MAX) {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: rules pattern '%s': %s[%zu] must be a string "
			    "of 1 to %d bytes",
			    p->name, member, i, RULES_NEEDLE_MAX);
			return -1;
		}
		if (t->n_needles == RULES_MAX_NEEDLES) {
			snprintf(err, errlen, "CONSENSUS_INVALID: rules: more than %d needles",
			    RULES_MAX_NEEDLES);
			return -1;
		}
		n = &t->needles[t->n_needles];
		n->kind = kind;
		normalize(s, n->text);
		if (strcmp(n->text, " ") == 0 || n->text[0] == '\0') {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: rules pattern '%s': %s[%zu] is blank", p->name,
			    member, i);
			return -1;
		}
		t->n_needles++;
		p->count++;
	}
	return 0;
}

static int
load_pattern(struct rules_table *t, const json_t *pj, size_t idx, char *err, size_t errlen)
{
	static const char *const known[] = { "name", "code", "in", "risk", "distrust_models", "why",
		"contains", "words", "argv0", NULL };
	struct rules_pattern *p = &t->patterns[t->n_patterns];
	const char *key, *name, *code, *risk;
	const json_t *value, *scope, *item;
	size_t i;

	if (!json_is_object(pj)) {
		snprintf(err, errlen, "CONSENSUS_INVALID: rules.patterns[%zu] must be an object",
		    idx);
		return -1;
	}
	json_object_foreach((json_t *)pj, key, value)
	{
		const char *const *k;
		for (k = known; *k && strcmp(*k, key) != 0; k++)
			;
		if (*k == NULL) {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: rules.patterns[%zu]: unknown member '%.32s'", idx,
			    key);
			return -1;
		}
	}
	memset(p, 0, sizeof(*p));
	name = json_string_value(json_object_get(pj, "name"));
	code = json_string_value(json_object_get(pj, "code"));
	risk = json_string_value(json_object_get(pj, "risk"));
	if (name == NULL || !valid_name(name)) {
		snprintf(err, errlen, "CONSENSUS_INVALID: rules.patterns[%zu] needs a name", idx);
		return -1;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (code == NULL || *code == '\0' || strlen(code) >= sizeof(p->code) ||
	    strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(code)) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: rules pattern '%s': code must be 1 to 32 of [A-Z0-9_]",
		    name);
		return -1;
	}
	snprintf(p->code, sizeof(p->code), "%s", code);
	if ((p->risk = risk_from_name(risk)) < 0) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: rules pattern '%s': risk must be low, medium, high "
		    "or critical",
		    name);
		return -1;
	}
	value = json_object_get(pj, "distrust_models");
	if (value != NULL && !json_is_boolean(value)) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: rules pattern '%s': distrust_models must be a boolean",
		    name);
		return -1;
	}
	p->distrust = json_is_true(value);
	value = json_object_get(pj, "why");
	if (value != NULL &&
	    (!json_is_string(value) || json_string_length(value) >= sizeof(p->why) ||
	        strlen(json_string_value(value)) != json_string_length(value))) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: rules pattern '%s': why must be a string of at "
		    "most %zu bytes",
		    name, sizeof(p->why) - 1);
		return -1;
	}
	snprintf(p->why, sizeof(p->why), "%s", value != NULL ? json_string_value(value) : "");
	scope = json_object_get(pj, "in");
	if (!json_is_array(scope) || json_array_size(scope) == 0) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: rules pattern '%s': in must list instruction, "
		    "commands and/or argv",
		    name);
		return -1;
	}
	json_array_foreach(scope, i, item)
	{
		const char *s = json_string_value(item);
		if (s != NULL && strcmp(s, "instruction") == 0)
			p->scope |= SCOPE_INSTRUCTION;
		else if (s != NULL && strcmp(s, "commands") == 0)
			p->scope |= SCOPE_COMMANDS;
		else if (s != NULL && strcmp(s, "argv") == 0)
			p->scope |= SCOPE_ARGV;
		else {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: rules pattern '%s': in[%zu] must be "
			    "instruction, commands or argv",
			    name, i);
			return -1;
		}
	}
	p->first = t->n_needles;
	if (load_needles(t, p, json_object_get(pj, "contains"), NEEDLE_CONTAINS, "contains", err,
	        errlen) ||
	    load_needles(t, p, json_object_get(pj, "words"), NEEDLE_WORD, "words", err, errlen) ||
	    load_needles(t, p, json_object_get(pj, "argv0"), NEEDLE_ARGV0, "argv0", err, errlen))
		return -1;
	if (p->count == 0) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: rules pattern '%s' has no contains, words or argv0", name);
		return -1;
	}
	for (i = 0; i < t->n_patterns; i++) {
		if (strcmp(t->patterns[i].name, name) == 0) {
			snprintf(err, errlen, "CONSENSUS_INVALID: rules pattern '%s' appears twice",
			    name);
			return -1;
		}
	}
	t->n_patterns++;
	return 0;
}

int
rules_table_load(const json_t *rules, struct rules_table *t, char *err, size_t errlen)
{
	static const char *const known[] = { "actions", "environments", "approve_up_to", "patterns",
		NULL };
	json_t *merged = NULL, *actions, *envs, *patterns, *value;
	json_error_t jerr;
	const char *key;
	size_t i;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if ((merged = json_loads(default_rules, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		LOAD_FAIL("CONSENSUS_INVALID: built-in rules: %s", jerr.text);
	if (rules != NULL) {
		if (!json_is_object(rules))
			LOAD_FAIL("CONSENSUS_INVALID: rules must be an object");
		json_object_foreach((json_t *)rules, key, value)
		{
			const char *const *k;
			for (k = known; *k && strcmp(*k, key) != 0; k++)
				;
			if (*k == NULL)
				LOAD_FAIL("CONSENSUS_INVALID: rules: unknown member '%.32s'", key);
		}
		/* Actions are merged one by one; the other members replace the defaults. */
		if ((value = json_object_get(rules, "actions")) != NULL) {
			if (!json_is_object(value))
				LOAD_FAIL("CONSENSUS_INVALID: rules.actions must be an object");
			json_object_update(json_object_get(merged, "actions"), value);
		}
		json_object_foreach((json_t *)rules, key, value) if (strcmp(key, "actions") != 0)
		    json_object_set(merged, key, value);
	}

	actions = json_object_get(merged, "actions");
	json_object_foreach(actions, key, value)
	{
		enum command_action a;
		int r = risk_from_name(json_string_value(value));
		if (command_action_from_name(key, &a) != 0)
			LOAD_FAIL("CONSENSUS_INVALID: rules.actions: unknown action '%.32s'", key);
		if (r < 0)
			LOAD_FAIL("CONSENSUS_INVALID: rules.actions.%s must be low, medium, high or critical",
			    key);
		t->action_risk[a] = r;
	}
	envs = json_object_get(merged, "environments");
	if (!json_is_object(envs) || json_object_size(envs) > RULES_MAX_ENVS)
		LOAD_FAIL("CONSENSUS_INVALID: rules.environments must map at most %d environments to a raise",
		    RULES_MAX_ENVS);
	json_object_foreach(envs, key, value)
	{
		if (!valid_environment(key) || !json_is_integer(value) ||
		    json_integer_value(value) < 0 || json_integer_value(value) > 3)
			LOAD_FAIL("CONSENSUS_INVALID: rules.environments.%.32s must be an integer from 0 to 3",
			    key);
		snprintf(t->envs[t->n_envs].name, sizeof(t->envs[0].name), "%s", key);
		t->envs[t->n_envs++].raise = (int)json_integer_value(value);
	}
	if ((t->approve_max = risk_from_name(
	         json_string_value(json_object_get(merged, "approve_up_to")))) < 0)
		LOAD_FAIL(
		    "CONSENSUS_INVALID: rules.approve_up_to must be low, medium, high or critical");
	patterns = json_object_get(merged, "patterns");
	if (!json_is_array(patterns) || json_array_size(patterns) > RULES_MAX_PATTERNS)
		LOAD_FAIL("CONSENSUS_INVALID: rules.patterns must be an array of at most %d patterns",
		    RULES_MAX_PATTERNS);
	if ((t->needles = calloc(RULES_MAX_NEEDLES, sizeof(*t->needles))) == NULL)
		LOAD_FAIL("CONSENSUS_INVALID: out of memory");
	json_array_foreach(patterns, i,
	    value) if (load_pattern(t, value, i, err, errlen) != 0) goto fail;
	rc = 0;
fail:
	json_decref(merged);
	if (rc != 0)
		rules_table_free(t);
	return rc;
}

void
rules_table_free(struct rules_table *t)
{
	if (t == NULL)
		return;
	free(t->needles);
	t->needles = NULL;
	t->n_needles = 0;
	t->n_patterns = 0;
}

/* --- evaluation ------------------------------------------------------ */

#define RULES_ARGV_TEXT_MAX 16384

/* The texts a request offers to the patterns, normalised. */
struct texts {
	char *instruction;
	char *commands[MSG_MAX_COMMANDS];
	size_t n_commands;
	char argv[RULES_ARGV_TEXT_MAX];
	char argv0[MSG_MAX_COMMANDS][COMMAND_ARG_MAX + 1];
	size_t n_argv0;
};

static void
texts_free(struct texts *x)
{
	free(x->instruction);
	for (size_t i = 0; i < x->n_commands; i++)
		free(x->commands[i]);
}

/*
 * Exec arguments come from the parser, so what the rules see is what the
 * executor would run. Arguments beyond the buffer are cut: the command
 * strings (scope "commands") still hold them whole. Returns -1 when a text
 * could not be copied (no memory); x must still be released.
 */
static int
texts_init(struct texts *x, const json_t *request, const json_t *actions)
{
	const json_t *action;
	size_t i, off = 0;

	memset(x, 0, sizeof(*x));
	x->instruction = normalized(msg_str(request, "instruction"));
	json_array_foreach(actions, i, action)
	{
		struct command cmd;
		char raw[COMMAND_ARG_MAX + 2], *slash;

		if (x->n_commands < MSG_MAX_COMMANDS)
			x->commands[x->n_commands++] = normalized(msg_str(action, "cmd"));
		if (strcmp(msg_str(action, "action"), "exec") != 0 ||
		    command_parse(msg_str(action, "cmd"), &cmd, NULL, 0) != 0 || cmd.argc == 0)
			continue;
		for (size_t a = 0; a < cmd.argc; a++) {
			size_t len = strlen(cmd.argv[a]);
			if (off + len + 2 > sizeof(x->argv))
				break;
			if (off > 0)
				x->argv[off++] = ' ';
			normalize(cmd.argv[a], x->argv + off);
			off += strlen(x->argv + off);
		}
		if (x->n_argv0 < MSG_MAX_COMMANDS) {
			snprintf(raw, sizeof(raw), "%s", cmd.argv[0]);
			slash = strrchr(raw, '/');
			normalize(slash != NULL ? slash + 1 : raw, x->argv0[x->n_argv0++]);
		}
		if (off + 2 < sizeof(x->argv))
			x->argv[off++] = ' ';
		x->argv[off] = '\0';
	}
	if (x->instruction == NULL)
		return -1;
	for (i = 0; i < x->n_commands; i++)
		if (x->commands[i] == NULL)
			return -1;
	return 0;
}

/* The first needle of p found in x: 0 and where, or -1. */
static int
pattern_match(const struct rules_table *t, const struct rules_pattern *p, const struct texts *x,
    const struct rules_needle **found, const char **where)
{
	for (size_t i = p->first; i < p->first + p->count; i++) {
		const struct rules_needle *n = &t->needles[i];

		*found = n;
		if (n->kind == NEEDLE_ARGV0) {
			*where = "exec arguments";
			for (size_t a = 0; a < x->n_argv0; a++)
				if (strcmp(x->argv0[a], n->text) == 0)
					return 0;
			continue;
		}
		*where = "instruction";
		if ((p->scope & SCOPE_INSTRUCTION) && text_has(x->instruction, n))
			return 0;
		*where = "commands";
		if (p->scope & SCOPE_COMMANDS)
			for (size_t c = 0; c < x->n_commands; c++)
				if (text_has(x->commands[c], n))
					return 0;
		*where = "exec arguments";
		if ((p->scope & SCOPE_ARGV) && text_has(x->argv, n))
			return 0;
	}
	return -1;
}

static void add_reason(json_t *reasons, size_t *dropped, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps VOTE_MAX_REASONS - 1 findings and counts the rest. */
static void
add_reason(json_t *reasons, size_t *dropped, const char *fmt, ...)
{
	char line[VOTE_REASON_MAX + 1];
	va_list ap;

	if (json_array_size(reasons) >= VOTE_MAX_REASONS - 1) {
		(*dropped)++;
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_array_append_new(reasons, json_string(line));
}

void
rules_evaluate(const struct rules_table *t, const json_t *request, const json_t *actions,
    struct rules_verdict *out)
{
	static const char *const steps[] = { "", "one step", "two steps", "three steps" };
	const json_t *action;
	struct texts *x;
	unsigned seen = 0;
	size_t i, dropped = 0;
	int base = RISK_LOW, least = RISK_LOW, raise = 0, distrust = 0;

	memset(out, 0, sizeof(*out));
	out->reasons = json_array();
	json_array_foreach(actions, i, action)
	{
		enum command_action a;
		int r;

		/* Cannot happen for parsed actions; if it did, the worst. */
		if (command_action_from_name(msg_str(action, "action"), &a) != 0) {
			base = RISK_CRITICAL;
			continue;
		}
		r = t->action_risk[a];
		if (r > base)
			base = r;
		if (!(seen & (1u << a))) {
			seen |= 1u << a;
			add_reason(out->reasons, &dropped, "%s is %s risk",
			    msg_str(action, "action"), risk_name(r));
		}
	}
	for (i = 0; i < t->n_envs; i++) {
		if (strcmp(t->envs[i].name, msg_str(request, "environment")) == 0 &&
		    t->envs[i].raise > 0) {
			raise = t->envs[i].raise;
			add_reason(out->reasons, &dropped, "%s raises the risk %s", t->envs[i].name,
			    steps[raise]);
		}
	}
	if ((x = malloc(sizeof(*x))) == NULL || texts_init(x, request, actions) != 0) {
		/* Fail closed: what could not be looked at approves nothing. */
		least = RISK_CRITICAL;
		distrust = 1;
		snprintf(out->distrust_why, sizeof(out->distrust_why), "RULES_ERROR: out of memory");
		add_reason(out->reasons, &dropped,
		    "RULES_ERROR: out of memory, cannot check patterns");
		if (x != NULL)
			texts_free(x);
		free(x);
	} else {
		for (i = 0; i < t->n_patterns; i++) {
			const struct rules_pattern *p = &t->patterns[i];
			const struct rules_needle *n = NULL;
			const char *where = "";

			if (pattern_match(t, p, x, &n, &where) != 0)
				continue;
			if (p->risk > least)
				least = p->risk;
			add_reason(out->reasons, &dropped,
			    "%s: '%s' in the %s (%s: at least %s risk)%s%s", p->code, n->text,
			    where, p->name, risk_name(p->risk), *p->why ? ": " : "", p->why);
			if (p->distrust && !distrust) {
				distrust = 1;
				snprintf(out->distrust_why, sizeof(out->distrust_why),
				    "%s: the request contains '%.64s' (%s)", p->code, n->text,
				    p->name);
			}
		}
		texts_free(x);
		free(x);
	}
	out->risk = base > least ? base : least;
	out->risk = out->risk + raise > RISK_CRITICAL ? RISK_CRITICAL : out->risk + raise;
	out->distrust = distrust;
	/* A distrusting pattern also withholds the rules voter's own approval. */
	out->approve = out->risk <= t->approve_max && !distrust;
	if (dropped > 0) {
		char line[64];
		snprintf(line, sizeof(line), "and %zu more finding%s", dropped,
		    dropped == 1 ? "" : "s");
		json_array_append_new(out->reasons, json_string(line));
	}
}
