#include "msg.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

enum jtype { J_STR, J_INT, J_BOOL, J_ARR, J_OBJ };

/* name, type, required, limit (bytes for strings, items for arrays) */
struct field {
	const char *name;
	enum jtype type;
	int required;
	size_t limit;
};

enum check { C_NONE, C_REQUEST_ID, C_NAME, C_ENV, C_TS, C_RISK, C_STATUS };

#define FAIL(...) \
	do { \
		snprintf(err, errlen, __VA_ARGS__); \
		return -1; \
	} while (0)

static const char *const risks[] = { "low", "medium", "high", "critical", NULL };
static const char *const statuses[] = { "executed", "rejected", "expired", "invalid", "failed",
	"interrupted", "frozen", "shadow", NULL };
static const char *const command_statuses[] = { "ok", "error", "refused", "failed", "skipped",
	"shadow", NULL };
static const char *const actions[] = { "ps", "inspect", "logs", "restart", "start", "stop", "exec",
	NULL };

static int
in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
type_ok(const json_t *v, enum jtype t)
{
	switch (t) {
	case J_STR:
		return json_is_string(v);
	case J_INT:
		return json_is_integer(v);
	case J_BOOL:
		return json_is_boolean(v);
	case J_ARR:
		return json_is_array(v);
	case J_OBJ:
		return json_is_object(v);
	}
	return 0;
}

/* Every member must be known, every required member present and typed. */
static int
check_members(const json_t *obj, const char *what, const struct field *fields, size_t n, char *err,
    size_t errlen)
{
	const char *key;
	json_t *value;

	if (!json_is_object(obj))
		FAIL("MSG_INVALID: %s is not an object", what);
	json_object_foreach((json_t *)obj, key, value)
	{
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(key, fields[i].name) == 0)
				break;
		if (i == n)
			FAIL("MSG_UNKNOWN_MEMBER: %s has an unknown member", what);
		if (!type_ok(value, fields[i].type))
			FAIL("MSG_WRONG_TYPE: %s.%s has the wrong type", what, fields[i].name);
		if (fields[i].type == J_STR && fields[i].limit &&
		    json_string_length(value) > fields[i].limit)
			FAIL("MSG_TOO_LONG: %s.%s is too long", what, fields[i].name);
		if (fields[i].type == J_STR &&
		    strlen(json_string_value(value)) != json_string_length(value))
			FAIL("MSG_BAD_STRING: %s.%s contains NUL", what, fields[i].name);
		if (fields[i].type == J_ARR && fields[i].limit &&
		    json_array_size(value) > fields[i].limit)
			FAIL("MSG_TOO_MANY: %s.%s has too many items", what, fields[i].name);
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && json_object_get(obj, fields[i].name) == NULL)
			FAIL("MSG_MISSING_MEMBER: %s.%s is missing", what, fields[i].name);
	return 0;
}

static int
check_value(const char *s, enum check c)
{
	int64_t ms;

	switch (c) {
	case C_NONE:
		return 1;
	case C_REQUEST_ID:
		return valid_request_id(s);
	case C_NAME:
		return valid_name(s);
	case C_ENV:
		return valid_environment(s);
	case C_TS:
		return parse_ts_ms(s, &ms) == 0;
	case C_RISK:
		return in_list(s, risks);
	case C_STATUS:
		return in_list(s, statuses);
	}
	return 0;
}

static int
check_str(const json_t *obj, const char *what, const char *name, enum check c, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(obj, name);

	if (v == NULL)
		return 0;
	if (!check_value(json_string_value(v), c))
		FAIL("MSG_BAD_VALUE: %s.%s is not valid", what, name);
	return 0;
}

static int
check_int(const json_t *obj, const char *what, const char *name, json_int_t min, json_int_t max,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, name);

	if (v == NULL)
		return 0;
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		FAIL("MSG_OUT_OF_RANGE: %s.%s is out of range", what, name);
	return 0;
}

/* Array of strings, each 1..maxlen bytes and passing c. */
static int
check_strings(const json_t *obj, const char *what, const char *name, size_t min_items,
    size_t maxlen, enum check c, char *err, size_t errlen)
{
	const json_t *arr = json_object_get(obj, name), *item;
	size_t i;

	if (arr == NULL)
		return 0;
	if (json_array_size(arr) < min_items)
		FAIL("MSG_TOO_FEW: %s.%s has too few items", what, name);
	json_array_foreach(arr, i, item)
	{
		if (!json_is_string(item) || json_string_length(item) == 0 ||
		    json_string_length(item) > maxlen ||
		    strlen(json_string_value(item)) != json_string_length(item) ||
		    !check_value(json_string_value(item), c))
			FAIL("MSG_BAD_VALUE: %s.%s[%zu] is not valid", what, name, i);
	}
	return 0;
}

/* "CODE: words" or "CODE": upper-case letters, digits, underscores. */
static int
has_code(const char *s, const char *const *prefixes)
{
	size_t n = 0;

	if (prefixes != NULL) {
		const char *const *p;
		for (p = prefixes; *p; p++)
			if (strncmp(s, *p, strlen(*p)) == 0)
				break;
		if (*p == NULL)
			return 0;
		n = strlen(*p);
		if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	} else if (!(s[0] >= 'A' && s[0] <= 'Z')) {
		return 0;
	}
	while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
		n++;
	return s[n] == '\0' || s[n] == ':';
}

static int
is_token_shape(const char *t)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	for (int seg = 0; seg < 3; seg++) {
		size_t n = strspn(t, alphabet);
		if (n == 0)
			return 0;
		t += n;
		if (seg < 2) {
			if (*t != '.')
				return 0;
			t++;
		}
	}
	return *t == '\0';
}

static int
check_envelope(const json_t *m, const char *type, char *err, size_t errlen)
{
	if (json_integer_value(json_object_get(m, "v")) != 1)
		FAIL("MSG_VERSION: %s.v must be 1", type);
	if (strcmp(json_string_value(json_object_get(m, "type")), type) != 0)
		FAIL("MSG_WRONG_TYPE: expected a %s", type);
	if (check_str(m, type, "request_id", C_REQUEST_ID, err, errlen) ||
	    check_str(m, type, "ts", C_TS, err, errlen))
		return -1;
	return 0;
}

static int
check_sig(const json_t *m, const char *type, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "alg", J_STR, 1, 16 },
		{ "kid", J_STR, 1, 64 },
		{ "value", J_STR, 1, 86 },
	};
	const json_t *sig = json_object_get(m, "sig");
	const char *value;

	if (sig == NULL)
		return 0;
	if (check_members(sig, "sig", f, ARRAY_LEN(f), err, errlen))
		return -1;
	if (strcmp(json_string_value(json_object_get(sig, "alg")), "EdDSA") != 0)
		FAIL("MSG_BAD_VALUE: %s.sig.alg must be EdDSA", type);
	if (check_str(sig, "sig", "kid", C_NAME, err, errlen))
		return -1;
	value = json_string_value(json_object_get(sig, "value"));
	if (strlen(value) != 86 ||
	    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != 86)
		FAIL("MSG_BAD_VALUE: %s.sig.value is not a base64url Ed25519 signature", type);
	return 0;
}

#define COMMON_FIELDS \
	{ "v", J_INT, 1, 0 }, { "type", J_STR, 1, 32 }, { "request_id", J_STR, 1, 64 }, \
	{ \
		"ts", J_STR, 1, 24 \
	}

static int
validate_request(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "worker_id", J_STR, 1, 64 },
		{ "environment", J_STR, 1, 32 },
		{ "instruction", J_STR, 1, MSG_INSTRUCTION_MAX },
		{ "commands", J_ARR, 1, MSG_MAX_COMMANDS },
		{ "sig", J_OBJ, 0, 0 },
	};

	if (check_members(m, "request", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "request", err, errlen) ||
	    check_str(m, "request", "worker_id", C_NAME, err, errlen) ||
	    check_str(m, "request", "environment", C_ENV, err, errlen) ||
	    check_strings(m, "request", "commands", 1, 512, C_NONE, err, errlen) ||
	    check_sig(m, "request", err, errlen))
		return -1;
	return 0;
}

static int
validate_votes(const json_t *m, const char *type, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "voter", J_STR, 1, 64 },
		{ "risk", J_STR, 1, 16 },
		{ "approve", J_BOOL, 1, 0 },
		{ "reasons", J_ARR, 1, 16 },
		{ "abstain", J_BOOL, 0, 0 },
		{ "latency_ms", J_INT, 0, 0 },
	};
	const json_t *vote;
	size_t i;

	json_array_foreach(json_object_get(m, "votes"), i, vote)
	{
		if (check_members(vote, "vote", f, ARRAY_LEN(f), err, errlen) ||
		    check_str(vote, "vote", "voter", C_NAME, err, errlen) ||
		    check_str(vote, "vote", "risk", C_RISK, err, errlen) ||
		    check_strings(vote, "vote", "reasons", 0, 512, C_NONE, err, errlen) ||
		    check_int(vote, "vote", "latency_ms", 0, LLONG_MAX, err, errlen))
			return -1;
		if (json_is_true(json_object_get(vote, "abstain")) &&
		    json_is_true(json_object_get(vote, "approve")))
			FAIL("MSG_BAD_VALUE: an abstaining vote cannot approve");
	}
	return check_strings(m, type, "dissent", 0, 64, C_NAME, err, errlen);
}

static int
validate_assessment(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "request", J_OBJ, 1, 0 },
		{ "valid", J_BOOL, 1, 0 },
		{ "reason", J_STR, 1, MSG_REASON_MAX },
		{ "actions", J_ARR, 1, MSG_MAX_COMMANDS },
		{ "risk", J_STR, 1, 16 },
		{ "threshold", J_INT, 1, 0 },
		{ "approving_votes", J_INT, 1, 0 },
		{ "votes", J_ARR, 1, 16 },
		{ "dissent", J_ARR, 1, 16 },
		{ "sig", J_OBJ, 1, 0 },
	};
	static const struct field af[] = {
		{ "cmd", J_STR, 1, 512 },
		{ "action", J_STR, 1, 16 },
		{ "container", J_STR, 1, 128 },
	};
	const json_t *action;
	size_t i;

	if (check_members(m, "assessment", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "assessment", err, errlen) ||
	    validate_request(json_object_get(m, "request"), err, errlen) ||
	    check_str(m, "assessment", "risk", C_RISK, err, errlen) ||
	    check_int(m, "assessment", "threshold", 1, 16, err, errlen) ||
	    check_int(m, "assessment", "approving_votes", 0, 16, err, errlen) ||
	    validate_votes(m, "assessment", err, errlen) || check_sig(m, "assessment", err, errlen))
		return -1;
	if (strcmp(msg_str(json_object_get(m, "request"), "request_id"),
	        msg_str(m, "request_id")) != 0)
		FAIL("MSG_BAD_VALUE: assessment.request.request_id differs from request_id");
	json_array_foreach(json_object_get(m, "actions"), i, action)
	{
		if (check_members(action, "action", af, ARRAY_LEN(af), err, errlen))
			return -1;
		if (!in_list(msg_str(action, "action"), actions))
			FAIL("MSG_BAD_VALUE: assessment.actions[%zu].action is not valid", i);
		if (*msg_str(action, "cmd") == '\0')
			FAIL("MSG_BAD_VALUE: assessment.actions[%zu].cmd is empty", i);
		if (*msg_str(action, "container") == '\0' &&
		    strcmp(msg_str(action, "action"), "ps") != 0)
			FAIL("MSG_BAD_VALUE: assessment.actions[%zu].container is empty", i);
	}
	if (!json_is_true(json_object_get(m, "valid"))) {
		static const char *const codes[] = { "CMD_", "REQUEST_", NULL };
		if (json_array_size(json_object_get(m, "actions")) != 0 ||
		    json_array_size(json_object_get(m, "votes")) != 0 ||
		    strcmp(msg_str(m, "risk"), "critical") != 0 ||
		    !has_code(msg_str(m, "reason"), codes))
			FAIL("MSG_BAD_VALUE: an invalid assessment has no actions or votes, "
			     "risk critical and a CMD_ or REQUEST_ reason");
	}
	return 0;
}

static int
validate_approval_prompt(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "environment", J_STR, 1, 32 },
		{ "worker_id", J_STR, 1, 64 },
		{ "instruction", J_STR, 1, MSG_INSTRUCTION_MAX },
		{ "commands", J_ARR, 1, MSG_MAX_COMMANDS },
		{ "risk", J_STR, 1, 16 },
		{ "votes", J_ARR, 1, 16 },
		{ "dissent", J_ARR, 1, 16 },
		{ "approvers_required", J_INT, 1, 0 },
		{ "approvals", J_ARR, 1, 16 },
		{ "expires_at", J_STR, 1, 24 },
		{ "sig", J_OBJ, 1, 0 },
	};

	if (check_members(m, "approval_prompt", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "approval_prompt", err, errlen) ||
	    check_str(m, "approval_prompt", "environment", C_ENV, err, errlen) ||
	    check_str(m, "approval_prompt", "worker_id", C_NAME, err, errlen) ||
	    check_strings(m, "approval_prompt", "commands", 1, 512, C_NONE, err, errlen) ||
	    check_str(m, "approval_prompt", "risk", C_RISK, err, errlen) ||
	    validate_votes(m, "approval_prompt", err, errlen) ||
	    check_int(m, "approval_prompt", "approvers_required", 1, 16, err, errlen) ||
	    check_strings(m, "approval_prompt", "approvals", 0, 64, C_NAME, err, errlen) ||
	    check_str(m, "approval_prompt", "expires_at", C_TS, err, errlen) ||
	    check_sig(m, "approval_prompt", err, errlen))
		return -1;
	return 0;
}

static int
validate_approval_update(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "state", J_STR, 1, 16 },
		{ "approvals", J_ARR, 1, 16 },
		{ "approvers_required", J_INT, 1, 0 },
		{ "decided_by", J_ARR, 1, 16 },
		{ "reason", J_STR, 1, MSG_REASON_MAX },
		{ "sig", J_OBJ, 1, 0 },
	};
	static const char *const states[] = { "pending", "approved", "rejected", "expired", NULL };

	if (check_members(m, "approval_update", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "approval_update", err, errlen) ||
	    check_strings(m, "approval_update", "approvals", 0, 64, C_NAME, err, errlen) ||
	    check_int(m, "approval_update", "approvers_required", 1, 16, err, errlen) ||
	    check_strings(m, "approval_update", "decided_by", 0, 64, C_NAME, err, errlen) ||
	    check_sig(m, "approval_update", err, errlen))
		return -1;
	if (!in_list(msg_str(m, "state"), states))
		FAIL(
		    "MSG_BAD_VALUE: approval_update.state must be pending, approved, rejected or expired");
	if (*msg_str(m, "reason") != '\0' && !has_code(msg_str(m, "reason"), NULL))
		FAIL("MSG_BAD_VALUE: approval_update.reason must start with a stable code");
	return 0;
}

static int
validate_human_decision(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "approver", J_STR, 1, 64 },
		{ "decision", J_STR, 1, 16 },
		{ "reason", J_STR, 1, MSG_REASON_MAX },
		{ "channel", J_STR, 1, 16 },
		{ "commands", J_ARR, 1, MSG_MAX_COMMANDS },
		{ "sig", J_OBJ, 1, 0 },
	};
	static const char *const decisions[] = { "approve", "reject", NULL };
	static const char *const channels[] = { "cli", "telegram", NULL };

	if (check_members(m, "human_decision", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "human_decision", err, errlen) ||
	    check_str(m, "human_decision", "approver", C_NAME, err, errlen) ||
	    check_strings(m, "human_decision", "commands", 1, 512, C_NONE, err, errlen) ||
	    check_sig(m, "human_decision", err, errlen))
		return -1;
	if (!in_list(msg_str(m, "decision"), decisions))
		FAIL("MSG_BAD_VALUE: human_decision.decision must be approve or reject");
	if (!in_list(msg_str(m, "channel"), channels))
		FAIL("MSG_BAD_VALUE: human_decision.channel must be cli or telegram");
	return 0;
}

/*
 * The signed originals a decision and an order carry (docs/trust-rules.md):
 * decoded as strictly as when they travelled alone; their signatures are
 * checked by whoever relies on them (common/evidence.c).
 */
static int
validate_evidence(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "assessment", J_OBJ, 1, 0 },
		{ "human_decisions", J_ARR, 1, 16 },
	};
	const json_t *e = json_object_get(m, "evidence"), *hd;
	size_t i;

	if (check_members(e, "evidence", f, ARRAY_LEN(f), err, errlen))
		return -1;
	if (msg_validate(json_object_get(e, "assessment"), "assessment", err, errlen) != 0)
		return -1;
	json_array_foreach(json_object_get(e, "human_decisions"), i,
	    hd) if (msg_validate(hd, "human_decision", err, errlen) != 0) return -1;
	return 0;
}

static int
validate_decision(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "worker_id", J_STR, 1, 64 },
		{ "environment", J_STR, 1, 32 },
		{ "commands", J_ARR, 1, MSG_MAX_COMMANDS },
		{ "approved_by", J_ARR, 1, 16 },
		{ "decided_at", J_STR, 1, 24 },
		{ "token_ttl_s", J_INT, 1, 0 },
		{ "evidence", J_OBJ, 1, 0 },
		{ "sig", J_OBJ, 1, 0 },
	};

	if (check_members(m, "decision", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "decision", err, errlen) ||
	    check_str(m, "decision", "worker_id", C_NAME, err, errlen) ||
	    check_str(m, "decision", "environment", C_ENV, err, errlen) ||
	    check_strings(m, "decision", "commands", 1, 512, C_NONE, err, errlen) ||
	    check_strings(m, "decision", "approved_by", 1, 64, C_NAME, err, errlen) ||
	    check_str(m, "decision", "decided_at", C_TS, err, errlen) ||
	    check_int(m, "decision", "token_ttl_s", 1, 3600, err, errlen) ||
	    check_sig(m, "decision", err, errlen) || validate_evidence(m, err, errlen))
		return -1;
	return 0;
}

static int
validate_order(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "worker_id", J_STR, 1, 64 },
		{ "environment", J_STR, 1, 32 },
		{ "commands", J_ARR, 1, MSG_MAX_COMMANDS },
		{ "evidence", J_OBJ, 1, 0 },
		{ "sig", J_OBJ, 1, 0 },
	};
	static const struct field cf[] = { { "cmd", J_STR, 1, 512 }, { "token", J_STR, 1, 8192 } };
	const json_t *c;
	size_t i;

	if (check_members(m, "order", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "order", err, errlen) ||
	    check_str(m, "order", "worker_id", C_NAME, err, errlen) ||
	    check_str(m, "order", "environment", C_ENV, err, errlen) ||
	    check_sig(m, "order", err, errlen) || validate_evidence(m, err, errlen))
		return -1;
	if (json_array_size(json_object_get(m, "commands")) == 0)
		FAIL("MSG_TOO_FEW: order.commands is empty");
	json_array_foreach(json_object_get(m, "commands"), i, c)
	{
		if (check_members(c, "order.commands[]", cf, ARRAY_LEN(cf), err, errlen))
			return -1;
		if (json_string_length(json_object_get(c, "cmd")) == 0 ||
		    !is_token_shape(msg_str(c, "token")))
			FAIL("MSG_BAD_VALUE: order.commands[%zu] has an empty cmd or a malformed token",
			    i);
	}
	return 0;
}

static int
validate_result(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		COMMON_FIELDS,
		{ "status", J_STR, 1, 16 },
		{ "reason", J_STR, 1, MSG_REASON_MAX },
		{ "commands", J_ARR, 1, MSG_MAX_COMMANDS },
		{ "sig", J_OBJ, 0, 0 },
	};
	static const struct field cf[] = {
		{ "cmd", J_STR, 1, 512 },
		{ "status", J_STR, 1, 16 },
		{ "exit_code", J_INT, 1, 0 },
		{ "output", J_STR, 1, 65536 },
		{ "output_size", J_INT, 0, 0 },
	};
	const json_t *c;
	size_t i;

	if (check_members(m, "result", f, ARRAY_LEN(f), err, errlen) ||
	    check_envelope(m, "result", err, errlen) ||
	    check_str(m, "result", "status", C_STATUS, err, errlen) ||
	    check_sig(m, "result", err, errlen))
		return -1;
	json_array_foreach(json_object_get(m, "commands"), i, c)
	{
		if (check_members(c, "result.commands[]", cf, ARRAY_LEN(cf), err, errlen) ||
		    check_int(c, "result.commands[]", "output_size", 0, LLONG_MAX, err, errlen))
			return -1;
		if (!in_list(msg_str(c, "status"), command_statuses))
			FAIL("MSG_BAD_VALUE: result.commands[%zu].status is not valid", i);
		if (*msg_str(c, "cmd") == '\0')
			FAIL("MSG_BAD_VALUE: result.commands[%zu].cmd is empty", i);
	}
	if (*msg_str(m, "reason") != '\0' && !has_code(msg_str(m, "reason"), NULL))
		FAIL("MSG_BAD_VALUE: result.reason must start with a stable code");
	return 0;
}

static int
validate_dead_letter(const json_t *m, char *err, size_t errlen)
{
	static const struct field f[] = {
		{ "v", J_INT, 1, 0 },
		{ "type", J_STR, 1, 32 },
		{ "request_id", J_STR, 1, 64 },
		{ "ts", J_STR, 1, 24 },
		{ "stage", J_STR, 1, 64 },
		{ "topic", J_STR, 1, 128 },
		{ "partition", J_INT, 1, 0 },
		{ "offset", J_INT, 1, 0 },
		{ "key", J_STR, 1, 256 },
		{ "reason", J_STR, 1, MSG_REASON_MAX },
		{ "payload", J_STR, 1, 4096 },
	};
	const char *rid;

	if (check_members(m, "dead_letter", f, ARRAY_LEN(f), err, errlen))
		return -1;
	if (json_integer_value(json_object_get(m, "v")) != 1)
		FAIL("MSG_VERSION: dead_letter.v must be 1");
	if (strcmp(msg_str(m, "type"), "dead_letter") != 0)
		FAIL("MSG_WRONG_TYPE: expected a dead_letter");
	rid = msg_str(m, "request_id");
	if (*rid != '\0' && !valid_request_id(rid))
		FAIL("MSG_BAD_VALUE: dead_letter.request_id is not valid");
	if (check_str(m, "dead_letter", "ts", C_TS, err, errlen) ||
	    check_int(m, "dead_letter", "partition", -1, LLONG_MAX, err, errlen) ||
	    check_int(m, "dead_letter", "offset", -1, LLONG_MAX, err, errlen))
		return -1;
	return 0;
}

static const struct {
	const char *type;
	int (*validate)(const json_t *, char *, size_t);
} validators[] = {
	{ "request", validate_request },
	{ "assessment", validate_assessment },
	{ "approval_prompt", validate_approval_prompt },
	{ "approval_update", validate_approval_update },
	{ "human_decision", validate_human_decision },
	{ "decision", validate_decision },
	{ "order", validate_order },
	{ "result", validate_result },
	{ "dead_letter", validate_dead_letter },
};

int
msg_validate(const json_t *msg, const char *expected_type, char *err, size_t errlen)
{
	const char *type;

	if (!json_is_object(msg))
		FAIL("MSG_INVALID: message is not a JSON object");
	type = json_string_value(json_object_get(msg, "type"));
	if (type == NULL)
		FAIL("MSG_MISSING_MEMBER: type is missing");
	if (expected_type != NULL && strcmp(type, expected_type) != 0)
		FAIL("MSG_WRONG_TYPE: expected a %s", expected_type);
	for (size_t i = 0; i < ARRAY_LEN(validators); i++)
		if (strcmp(type, validators[i].type) == 0)
			return validators[i].validate(msg, err, errlen);
	FAIL("MSG_WRONG_TYPE: unknown message type");
}

json_t *
msg_decode(const char *payload, size_t len, const char *expected_type, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *msg;

	if (len > MSG_MAX_BYTES) {
		snprintf(err, errlen, "MSG_TOO_LARGE: %zu bytes (limit %d)", len, MSG_MAX_BYTES);
		return NULL;
	}
	msg = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (msg == NULL) {
		snprintf(err, errlen, "MSG_UNPARSABLE: %s at byte %d", jerr.text, jerr.position);
		return NULL;
	}
	if (msg_validate(msg, expected_type, err, errlen) != 0) {
		json_decref(msg);
		return NULL;
	}
	return msg;
}

const char *
msg_str(const json_t *msg, const char *name)
{
	const char *s = json_string_value(json_object_get(msg, name));

	return s ? s : "";
}

const char *
msg_guess_request_id(const char *payload, size_t len, char *buf, size_t buflen)
{
	json_t *msg;
	const char *rid;

	buf[0] = '\0';
	if (len > MSG_MAX_BYTES || (msg = json_loadb(payload, len, 0, NULL)) == NULL)
		return buf;
	rid = json_string_value(json_object_get(msg, "request_id"));
	if (rid != NULL && valid_request_id(rid))
		snprintf(buf, buflen, "%s", rid);
	json_decref(msg);
	return buf;
}

json_t *
msg_new(const char *type, const char *request_id)
{
	char ts[32];

	now_ts(ts);
	return json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "type", type, "request_id", request_id,
	    "ts", ts);
}

json_t *
result_new(const char *request_id, const char *status, const char *reason, json_t *commands)
{
	json_t *r = msg_new("result", request_id);

	if (r == NULL) {
		json_decref(commands);
		return NULL;
	}
	json_object_set_new(r, "status", json_string(status));
	json_object_set_new(r, "reason", json_string(reason ? reason : ""));
	json_object_set_new(r, "commands", commands ? commands : json_array());
	return r;
}
