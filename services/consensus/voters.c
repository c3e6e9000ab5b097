/*
 * The consensus file: the threshold, the voters (each model voter's URL,
 * model, proxy, timeout and API key file) and the rules table. Every
 * member is checked and a name not known is an error.
 */
#include "voters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

#define CONSENSUS_FILE_MAX (64 * 1024)
#define VOTER_TIMEOUT_DEFAULT 8000
#define VOTER_TIMEOUT_MIN 100
#define VOTER_TIMEOUT_MAX 120000
#define VOTER_MAX_TOKENS_DEFAULT 512

#define CFG_FAIL(...) \
	do { \
		snprintf(err, errlen, __VA_ARGS__); \
		goto fail; \
	} while (0)

static int
only_members(const json_t *obj, const char *const *known, const char **bad)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value)
	{
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
	char text[VOTER_KEY_MAX + 1];
	enum secret_rc src;
	int rc = -1;

	if ((src = secret_file_read(path, VOTER_KEY_MAX + 64, text, sizeof(text), NULL)) ==
	    SECRET_UNREADABLE) {
		snprintf(err, errlen,
		    "cannot read the api_key_file %s (or it is larger than %d bytes)", path,
		    VOTER_KEY_MAX + 64);
		return -1;
	}
	if (src != SECRET_OK || !printable_word(text, VOTER_KEY_MAX)) {
		snprintf(err, errlen,
		    "the api_key_file %s must hold one key of 1 to %d printable bytes", path,
		    VOTER_KEY_MAX);
		goto done;
	}
	if ((*key = strdup(text)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(text, sizeof(text));
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
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: voter '%s': a key does not belong in the consensus "
		    "file; name a file holding it with api_key_file",
		    name);
		return -1;
	}
	if (strcmp(kind, "rules") == 0) {
		v->kind = VOTER_RULES;
		if (only_members(vj, rules_members, &bad) != 0) {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: voter '%s': unknown member '%.32s'", name, bad);
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
		snprintf(err, errlen,
		    "CONSENSUS_UNSUPPORTED: voter '%s': kind '%.32s' is not rules, openai "
		    "or anthropic",
		    name, kind);
		return -1;
	}
	if (only_members(vj, http_members, &bad) != 0) {
		snprintf(err, errlen, "CONSENSUS_INVALID: voter '%s': unknown member '%.32s'", name,
		    bad);
		return -1;
	}
	if (copy_url(json_string_value(json_object_get(vj, "url")), v->url, sizeof(v->url), 0) != 0) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: voter '%s': url must be an http:// or https:// "
		    "base URL of at most %d bytes, without query or fragment",
		    name, VOTER_URL_MAX);
		return -1;
	}
	s = json_string_value(json_object_get(vj, "model"));
	if (s == NULL || !printable_word(s, VOTER_MODEL_MAX)) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: voter '%s': model must be 1 to %d printable bytes", name,
		    VOTER_MODEL_MAX);
		return -1;
	}
	snprintf(v->model, sizeof(v->model), "%s", s);
	v->timeout_ms = VOTER_TIMEOUT_DEFAULT;
	if ((value = json_object_get(vj, "timeout_ms")) != NULL) {
		if (!json_is_integer(value) || json_integer_value(value) < VOTER_TIMEOUT_MIN ||
		    json_integer_value(value) > VOTER_TIMEOUT_MAX) {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: voter '%s': timeout_ms must be an integer "
			    "from %d to %d",
			    name, VOTER_TIMEOUT_MIN, VOTER_TIMEOUT_MAX);
			return -1;
		}
		v->timeout_ms = (long)json_integer_value(value);
	}
	v->max_tokens = VOTER_MAX_TOKENS_DEFAULT;
	if ((value = json_object_get(vj, "max_tokens")) != NULL) {
		if (!json_is_integer(value) || json_integer_value(value) < 16 ||
		    json_integer_value(value) > 8192) {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: voter '%s': max_tokens must be an integer "
			    "from 16 to 8192",
			    name);
			return -1;
		}
		v->max_tokens = (long)json_integer_value(value);
	}
	if ((value = json_object_get(vj, "proxy")) != NULL &&
	    copy_url(json_string_value(value), v->proxy, sizeof(v->proxy), 1) != 0) {
		snprintf(err, errlen,
		    "CONSENSUS_INVALID: voter '%s': proxy must be an http, https or "
		    "socks5 URL",
		    name);
		return -1;
	}
	/* No key file: a local server that wants no key (Ollama, vLLM, llama.cpp). */
	if ((value = json_object_get(vj, "api_key_file")) != NULL) {
		if (!json_is_string(value) || json_string_length(value) == 0) {
			snprintf(err, errlen,
			    "CONSENSUS_INVALID: voter '%s': api_key_file must be a path", name);
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
		snprintf(err, errlen, "CONSENSUS_INVALID: %s: %s (line %d)", path, jerr.text,
		    jerr.line);
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
	json_array_foreach(voters, i,
	    voter) if (load_voter(voter, i, cfg, err, errlen) != 0) goto fail;
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
