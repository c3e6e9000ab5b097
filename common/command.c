/*
 * The docker CLI subset agents may ask for. There is no shell here: the
 * string is split on blanks, nothing is quoted, escaped or expanded, and any
 * byte a shell would treat specially is refused before the first word is
 * looked at, so what a human approves is exactly what gets parsed.
 */
#include "command.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define MAX_WORDS 32
#define TAIL_MAX 10000
#define SINCE_MAX 4102444800LL /* 2100-01-01T00:00:00Z */
#define STOP_TIMEOUT_MAX 300

static const char *const action_names[] = {
	[ACTION_PS] = "ps",
	[ACTION_INSPECT] = "inspect",
	[ACTION_LOGS] = "logs",
	[ACTION_RESTART] = "restart",
	[ACTION_START] = "start",
	[ACTION_STOP] = "stop",
	[ACTION_EXEC] = "exec",
};

/* Bytes a shell, a glob or a terminal could give a meaning to. */
static const char shell_meta[] = ";&|$<>`(){}[]*?!~#%^'\"\\";

struct words {
	char buf[COMMAND_MAX_LEN + 1];
	char *w[MAX_WORDS];
	size_t n;
};

/*
 * Error strings are for humans and logs; a truncated one is still a valid
 * "CODE: words" string, so truncation is accepted here on purpose.
 */
static int __attribute__((format(printf, 3, 4)))
fail_with(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *
command_action_name(enum command_action action)
{
	if ((size_t)action >= ARRAY_LEN(action_names))
		return "unknown";
	return action_names[action];
}

int
command_action_from_name(const char *name, enum command_action *out)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(action_names); i++) {
		if (strcmp(name, action_names[i]) == 0) {
			*out = (enum command_action)i;
			return 0;
		}
	}
	return -1;
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int
command_valid_container(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, COMMAND_CONTAINER_MAX + 1);
	if (n == 0 || n > COMMAND_CONTAINER_MAX || !is_alnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++) {
		int c = (unsigned char)s[i];
		if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
			return 0;
	}
	return 1;
}

/*
 * Only printable ASCII (plus tab as a separator) and none of shell_meta.
 * Non-ASCII is refused outright: homoglyphs would let a name look like
 * another to the approver.
 */
static int
check_bytes(const char *s, size_t len, char *err, size_t errlen)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\t')
			continue;
		if (c < 0x20 || c >= 0x7f || strchr(shell_meta, c) != NULL)
			return fail_with(err, errlen,
			    "CMD_BAD_CHAR: byte 0x%02x at offset %zu is not allowed", c, i);
	}
	return 0;
}

/* Splits on runs of spaces and tabs; leading and trailing blanks are ignored. */
static int
split_words(const char *s, size_t len, struct words *ws, char *err, size_t errlen)
{
	char *p;

	memcpy(ws->buf, s, len);
	ws->buf[len] = '\0';
	ws->n = 0;
	p = ws->buf;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (ws->n == MAX_WORDS)
			return fail_with(err, errlen, "CMD_ARGS: more than %d words", MAX_WORDS);
		ws->w[ws->n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	return 0;
}

/*
 * A decimal number without sign, leading zeros or blanks; strtoll alone
 * would also take "+5" and " 5", which a human might read differently.
 */
static int
parse_number(const char *s, long long min, long long max, long long *out)
{
	size_t n = strlen(s);

	if (n == 0 || n > 12 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	return parse_int(s, min, max, out);
}

/*
 * Matches option word w against a long name ("--tail"), accepting both
 * "--tail VALUE" and "--tail=VALUE". Sets *value (possibly NULL when the
 * value word is missing) and advances *i past what was used.
 */
static int
match_valued(struct words *ws, size_t *i, const char *shortname, const char *longname,
    const char **value)
{
	const char *w = ws->w[*i];
	size_t ln = strlen(longname);

	if ((shortname != NULL && strcmp(w, shortname) == 0) || strcmp(w, longname) == 0) {
		*value = *i + 1 < ws->n ? ws->w[*i + 1] : NULL;
		*i += *value != NULL ? 2 : 1;
		return 1;
	}
	if (strncmp(w, longname, ln) == 0 && w[ln] == '=') {
		*value = w + ln + 1;
		*i += 1;
		return 1;
	}
	return 0;
}

static int
parse_options(struct words *ws, size_t *i, struct command *out, char *err, size_t errlen)
{
	const char *verb = command_action_name(out->action);
	const char *value;
	long long v;
	int seen_tail = 0, seen_since = 0, seen_time = 0;

	while (*i < ws->n && ws->w[*i][0] == '-') {
		const char *w = ws->w[*i];

		if (out->action == ACTION_PS && (strcmp(w, "-a") == 0 || strcmp(w, "--all") == 0)) {
			if (out->all)
				return fail_with(err, errlen, "CMD_OPTION: '%s' given twice", w);
			out->all = 1;
			(*i)++;
		} else if (out->action == ACTION_LOGS &&
		    match_valued(ws, i, NULL, "--tail", &value)) {
			if (seen_tail++)
				return fail_with(err, errlen, "CMD_OPTION: --tail given twice");
			if (value == NULL)
				return fail_with(err, errlen, "CMD_OPTION: --tail needs a value");
			if (strcmp(value, "all") == 0)
				out->tail = -1;
			else if (parse_number(value, 1, TAIL_MAX, &v) == 0)
				out->tail = (int)v;
			else
				return fail_with(err, errlen,
				    "CMD_OPTION: --tail takes 1..%d or 'all', not '%.64s'",
				    TAIL_MAX, value);
		} else if (out->action == ACTION_LOGS &&
		    match_valued(ws, i, NULL, "--since", &value)) {
			if (seen_since++)
				return fail_with(err, errlen, "CMD_OPTION: --since given twice");
			if (value == NULL)
				return fail_with(err, errlen, "CMD_OPTION: --since needs a value");
			if (parse_number(value, 1, SINCE_MAX, &v) != 0)
				return fail_with(err, errlen,
				    "CMD_OPTION: --since takes unix seconds (1..%lld), not '%.64s'",
				    SINCE_MAX, value);
			out->since = v;
		} else if ((out->action == ACTION_RESTART || out->action == ACTION_STOP) &&
		    match_valued(ws, i, "-t", "--time", &value)) {
			if (seen_time++)
				return fail_with(err, errlen, "CMD_OPTION: -t/--time given twice");
			if (value == NULL)
				return fail_with(err, errlen, "CMD_OPTION: -t/--time needs a value");
			if (parse_number(value, 0, STOP_TIMEOUT_MAX, &v) != 0)
				return fail_with(err, errlen,
				    "CMD_OPTION: -t/--time takes 0..%d seconds, not '%.64s'",
				    STOP_TIMEOUT_MAX, value);
			out->timeout_s = (int)v;
		} else {
			return fail_with(err, errlen,
			    "CMD_OPTION: option '%.64s' is not accepted for %s", w, verb);
		}
	}
	return 0;
}

static int
take_container(struct words *ws, size_t *i, struct command *out, char *err, size_t errlen)
{
	const char *w;

	if (*i >= ws->n)
		return fail_with(err, errlen, "CMD_CONTAINER: %s needs a container name",
		    command_action_name(out->action));
	w = ws->w[*i];
	if (!command_valid_container(w))
		return fail_with(err, errlen,
		    "CMD_CONTAINER: '%.64s%s' is not a container name "
		    "([A-Za-z0-9][A-Za-z0-9_.-]*, at most %d bytes)",
		    w, strlen(w) > 64 ? "..." : "", COMMAND_CONTAINER_MAX);
	memcpy(out->container, w, strlen(w) + 1);
	(*i)++;
	return 0;
}

/*
 * exec takes no options at all: -u, --privileged, -e, -w and friends are
 * exactly what would widen what a command can do. Words after the name are
 * the argv and may look like options.
 */
static int
parse_exec(struct words *ws, size_t i, struct command *out, char *err, size_t errlen)
{
	if (i < ws->n && ws->w[i][0] == '-')
		return fail_with(err, errlen, "CMD_OPTION: exec options are not accepted ('%.64s')",
		    ws->w[i]);
	if (take_container(ws, &i, out, err, errlen) != 0)
		return -1;
	if (i >= ws->n)
		return fail_with(err, errlen, "CMD_ARGS: exec needs a command to run");
	if (ws->n - i > COMMAND_EXEC_MAX_ARGS)
		return fail_with(err, errlen, "CMD_ARGS: exec takes at most %d arguments",
		    COMMAND_EXEC_MAX_ARGS);
	for (; i < ws->n; i++) {
		size_t n = strlen(ws->w[i]);
		if (n > COMMAND_ARG_MAX)
			return fail_with(err, errlen,
			    "CMD_ARGS: exec argument %zu is longer than %d bytes", out->argc + 1,
			    COMMAND_ARG_MAX);
		memcpy(out->argv[out->argc++], ws->w[i], n + 1);
	}
	return 0;
}

int
command_parse(const char *s, struct command *out, char *err, size_t errlen)
{
	struct words ws;
	size_t len, i;

	memset(out, 0, sizeof(*out));
	out->timeout_s = -1;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (s == NULL)
		return fail_with(err, errlen, "CMD_EMPTY: no command");
	len = strnlen(s, COMMAND_MAX_LEN + 1);
	if (len > COMMAND_MAX_LEN)
		return fail_with(err, errlen, "CMD_TOO_LONG: command is longer than %d bytes",
		    COMMAND_MAX_LEN);
	if (check_bytes(s, len, err, errlen) != 0)
		return -1;
	if (split_words(s, len, &ws, err, errlen) != 0)
		return -1;
	if (ws.n == 0)
		return fail_with(err, errlen, "CMD_EMPTY: empty command");
	if (strcmp(ws.w[0], "docker") != 0)
		return fail_with(err, errlen,
		    "CMD_NOT_DOCKER: commands start with 'docker', not '%.64s'", ws.w[0]);
	if (ws.n < 2)
		return fail_with(err, errlen, "CMD_VERB: missing verb after 'docker'");
	/* Global flags (-H, --context, --config, --tls...) would pick another engine. */
	if (ws.w[1][0] == '-')
		return fail_with(err, errlen,
		    "CMD_OPTION: global docker option '%.64s' is not accepted", ws.w[1]);
	if (command_action_from_name(ws.w[1], &out->action) != 0)
		return fail_with(err, errlen,
		    "CMD_VERB: '%.64s' is not one of ps, inspect, "
		    "logs, restart, start, stop, exec",
		    ws.w[1]);

	i = 2;
	if (out->action == ACTION_EXEC)
		return parse_exec(&ws, i, out, err, errlen);
	if (parse_options(&ws, &i, out, err, errlen) != 0)
		return -1;
	if (out->action != ACTION_PS && take_container(&ws, &i, out, err, errlen) != 0)
		return -1;
	if (i < ws.n)
		return fail_with(err, errlen, "CMD_ARGS: unexpected '%.64s' (%s takes %s)", ws.w[i],
		    command_action_name(out->action),
		    out->action == ACTION_PS ? "no arguments" : "exactly one container");
	return 0;
}

static int
set_new(json_t *obj, const char *key, json_t *value)
{
	/* json_object_set_new steals value even when it fails. */
	return value == NULL ? -1 : json_object_set_new(obj, key, value);
}

json_t *
command_to_json(const struct command *cmd)
{
	json_t *obj, *argv = NULL;

	if ((obj = json_object()) == NULL)
		return NULL;
	if (set_new(obj, "action", json_string(command_action_name(cmd->action))) != 0)
		goto fail;
	/* Always present, empty for ps, as in the assessment's actions. */
	if (set_new(obj, "container", json_string(cmd->container)) != 0)
		goto fail;
	switch (cmd->action) {
	case ACTION_PS:
		if (cmd->all && set_new(obj, "all", json_true()) != 0)
			goto fail;
		break;
	case ACTION_LOGS:
		if (cmd->tail == -1 && set_new(obj, "tail", json_string("all")) != 0)
			goto fail;
		if (cmd->tail > 0 && set_new(obj, "tail", json_integer(cmd->tail)) != 0)
			goto fail;
		if (cmd->since > 0 && set_new(obj, "since", json_integer(cmd->since)) != 0)
			goto fail;
		break;
	case ACTION_RESTART:
	case ACTION_STOP:
		if (cmd->timeout_s >= 0 &&
		    set_new(obj, "timeout_s", json_integer(cmd->timeout_s)) != 0)
			goto fail;
		break;
	case ACTION_EXEC:
		if ((argv = json_array()) == NULL)
			goto fail;
		for (size_t i = 0; i < cmd->argc && i < COMMAND_EXEC_MAX_ARGS; i++)
			if (json_array_append_new(argv, json_string(cmd->argv[i])) != 0)
				goto fail;
		if (json_object_set_new(obj, "argv", argv) != 0) {
			argv = NULL; /* stolen */
			goto fail;
		}
		argv = NULL;
		break;
	default:
		break;
	}
	return obj;
fail:
	json_decref(argv);
	json_decref(obj);
	return NULL;
}
