#include "policy.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

#define POLICY_FILE_MAX (256 * 1024)

/* A true/false field; absent means dflt. */
static int
load_bool(json_t *obj, const char *env, const char *key, int dflt, int *out, char *err,
    size_t errlen)
{
	json_t *item = json_object_get(obj, key);

	if (item != NULL && !json_is_boolean(item)) {
		snprintf(err, errlen, "POLICY_INVALID: %s.%s must be true or false", env, key);
		return -1;
	}
	*out = item == NULL ? dflt : json_is_true(item);
	return 0;
}

static int
load_int(json_t *obj, const char *env, const char *name, int min, int max, int *out, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "POLICY_INVALID: %s.%s must be an integer in [%d, %d]", env,
		    name, min, max);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

static int
load_env(const char *name, json_t *obj, struct policy_env *e, char *err, size_t errlen)
{
	json_t *containers, *actions, *item;
	const char *key;
	size_t i;

	if (!valid_environment(name) || !json_is_object(obj)) {
		snprintf(err, errlen, "POLICY_INVALID: environment '%.32s' is not valid", name);
		return -1;
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	containers = json_object_get(obj, "containers");
	if (!json_is_array(containers) || json_array_size(containers) == 0 ||
	    json_array_size(containers) > POLICY_MAX_PATTERNS) {
		snprintf(err, errlen, "POLICY_INVALID: %s.containers must list 1 to %d patterns",
		    name, POLICY_MAX_PATTERNS);
		return -1;
	}
	json_array_foreach(containers, i, item)
	{
		const char *pat = json_string_value(item);
		if (pat == NULL || *pat == '\0' || strlen(pat) >= sizeof(e->patterns[0])) {
			snprintf(err, errlen, "POLICY_INVALID: %s.containers[%zu] is not a pattern",
			    name, i);
			return -1;
		}
		snprintf(e->patterns[i], sizeof(e->patterns[i]), "%s", pat);
	}
	e->n_patterns = json_array_size(containers);
	/* Actions not named are denied. */
	for (i = 0; i < POLICY_ACTIONS; i++)
		e->modes[i] = POLICY_DENY;
	actions = json_object_get(obj, "actions");
	if (!json_is_object(actions)) {
		snprintf(err, errlen, "POLICY_INVALID: %s.actions must be an object", name);
		return -1;
	}
	json_object_foreach(actions, key, item)
	{
		enum command_action a;
		const char *mode = json_string_value(item);
		if (command_action_from_name(key, &a) != 0 || mode == NULL) {
			snprintf(err, errlen, "POLICY_INVALID: %s.actions.%.32s is not an action",
			    name, key);
			return -1;
		}
		if (strcmp(mode, "auto") == 0)
			e->modes[a] = POLICY_AUTO;
		else if (strcmp(mode, "human") == 0)
			e->modes[a] = POLICY_HUMAN;
		else if (strcmp(mode, "deny") == 0)
			e->modes[a] = POLICY_DENY;
		else {
			snprintf(err, errlen,
			    "POLICY_INVALID: %s.actions.%s must be auto, human or deny", name, key);
			return -1;
		}
	}
	if (load_int(obj, name, "approvers_required", 1, 16, &e->approvers_required, err, errlen) ||
	    load_int(obj, name, "approval_timeout_s", 1, 7 * 86400, &e->approval_timeout_s, err,
	        errlen) ||
	    load_int(obj, name, "token_ttl_s", 1, 3600, &e->token_ttl_s, err, errlen))
		return -1;
	/* By default one relaying channel never meets a quorum of two or more alone. */
	e->max_relayed_approvals = e->approvers_required > 1 ? e->approvers_required - 1 : 1;
	if (json_object_get(obj, "max_relayed_approvals") != NULL &&
	    load_int(obj, name, "max_relayed_approvals", 0, 16, &e->max_relayed_approvals, err,
	        errlen))
		return -1;
	if (load_bool(obj, name, "require_signed_requests", 0, &e->require_signed_requests, err,
	        errlen) ||
	    load_bool(obj, name, "execute", 1, &e->execute, err, errlen) ||
	    load_bool(obj, name, "telegram_exec", 0, &e->telegram_exec, err, errlen))
		return -1;
	return 0;
}

static int
load_approver(const char *name, json_t *obj, struct policy_approver *a, char *err, size_t errlen)
{
	json_t *owns, *item;
	size_t i;

	if (!valid_name(name) || strcmp(name, "auto") == 0 || !json_is_object(obj)) {
		snprintf(err, errlen, "POLICY_INVALID: approver '%.64s' is not valid", name);
		return -1;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
	owns = json_object_get(obj, "owns");
	if (owns == NULL)
		return 0;
	if (!json_is_array(owns) || json_array_size(owns) > POLICY_MAX_OWNED) {
		snprintf(err, errlen, "POLICY_INVALID: approvers.%s.owns must be a list of workers",
		    name);
		return -1;
	}
	json_array_foreach(owns, i, item)
	{
		if (!json_is_string(item) || !valid_name(json_string_value(item))) {
			snprintf(err, errlen,
			    "POLICY_INVALID: approvers.%s.owns[%zu] is not a worker id", name, i);
			return -1;
		}
		snprintf(a->owns[i], sizeof(a->owns[i]), "%s", json_string_value(item));
	}
	a->n_owns = json_array_size(owns);
	return 0;
}

int
policy_load(const char *path, struct policy *p, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len;
	json_t *root = NULL, *envs, *approvers, *item;
	json_error_t jerr;
	const char *key;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (read_file(path, POLICY_FILE_MAX, &text, &len) != 0) {
		snprintf(err, errlen, "POLICY_UNREADABLE: cannot read %s", path);
		return -1;
	}
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(err, errlen, "POLICY_INVALID: %s: %s (line %d)", path, jerr.text,
		    jerr.line);
		goto fail;
	}
	envs = json_object_get(root, "environments");
	if (!json_is_object(envs) || json_object_size(envs) == 0 ||
	    json_object_size(envs) > POLICY_MAX_ENVS) {
		snprintf(err, errlen, "POLICY_INVALID: environments must name 1 to %d environments",
		    POLICY_MAX_ENVS);
		goto fail;
	}
	json_object_foreach(envs, key, item)
	{
		if (load_env(key, item, &p->envs[p->n_envs], err, errlen) != 0)
			goto fail;
		p->n_envs++;
	}
	approvers = json_object_get(root, "approvers");
	if (approvers != NULL &&
	    (!json_is_object(approvers) || json_object_size(approvers) > POLICY_MAX_APPROVERS)) {
		snprintf(err, errlen, "POLICY_INVALID: approvers must be an object of at most %d",
		    POLICY_MAX_APPROVERS);
		goto fail;
	}
	json_object_foreach(approvers, key, item)
	{
		if (load_approver(key, item, &p->approvers[p->n_approvers], err, errlen) != 0)
			goto fail;
		p->n_approvers++;
	}
	rc = 0;
fail:
	json_decref(root);
	free(text);
	return rc;
}

const struct policy_env *
policy_env(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_envs; i++)
		if (strcmp(p->envs[i].name, name) == 0)
			return &p->envs[i];
	return NULL;
}

int
policy_container_allowed(const struct policy_env *env, const char *container)
{
	for (size_t i = 0; i < env->n_patterns; i++)
		if (fnmatch(env->patterns[i], container, FNM_NOESCAPE) == 0)
			return 1;
	return 0;
}

const char *
policy_mode_name(enum policy_mode mode)
{
	switch (mode) {
	case POLICY_AUTO:
		return "auto";
	case POLICY_HUMAN:
		return "human";
	case POLICY_DENY:
		return "deny";
	}
	return "deny";
}

enum policy_verdict
policy_check_command(const struct policy_env *env, const struct command *cmd,
    enum policy_mode *mode, char *why, size_t whylen)
{
	*mode = POLICY_DENY;
	if (cmd->action != ACTION_PS) {
		/*
		 * Docker resolves an unknown name as an ID prefix: a name made only
		 * of hex digits could reach a container of another environment.
		 */
		if (cmd->container[strspn(cmd->container, "0123456789abcdef")] == '\0') {
			snprintf(why, whylen,
			    "POLICY_CONTAINER: '%s' could be read as a container id",
			    cmd->container);
			return POLICY_OUTSIDE;
		}
		if (!policy_container_allowed(env, cmd->container)) {
			snprintf(why, whylen,
			    "POLICY_CONTAINER: container '%s' is outside environment %s",
			    cmd->container, env->name);
			return POLICY_OUTSIDE;
		}
	}
	if (env->modes[cmd->action] == POLICY_DENY) {
		snprintf(why, whylen, "POLICY_DENIED: %s is not allowed in %s",
		    command_action_name(cmd->action), env->name);
		return POLICY_FORBIDDEN;
	}
	*mode = env->modes[cmd->action];
	return POLICY_ALLOWED;
}

static const struct policy_approver *
find_approver(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_approvers; i++)
		if (strcmp(p->approvers[i].name, name) == 0)
			return &p->approvers[i];
	return NULL;
}

int
policy_is_approver(const struct policy *p, const char *name)
{
	return find_approver(p, name) != NULL;
}

int
policy_owns(const struct policy *p, const char *approver, const char *worker)
{
	const struct policy_approver *a = find_approver(p, approver);

	if (a == NULL)
		return 0;
	for (size_t i = 0; i < a->n_owns; i++)
		if (strcmp(a->owns[i], worker) == 0)
			return 1;
	return 0;
}

int
policy_requested_by(const char *approver, const char *worker)
{
	size_t n = strlen(POLICY_TELEGRAM_WORKER_PREFIX);

	return strncmp(worker, POLICY_TELEGRAM_WORKER_PREFIX, n) == 0 &&
	    strcmp(worker + n, approver) == 0;
}

int
policy_may_decide(const struct policy *p, const char *approver, const char *worker)
{
	return policy_is_approver(p, approver) && strcmp(approver, worker) != 0 &&
	    !policy_owns(p, approver, worker) && !policy_requested_by(approver, worker);
}
