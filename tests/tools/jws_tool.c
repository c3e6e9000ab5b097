/*
 * Test-only driver for the token code, so other JOSE libraries can be held
 * against ours (tests/integration/test_jose_interop.sh). Not a product tool.
 *
 *   jws_tool keygen DIR NAME
 *   jws_tool mint PRIVATE_KEY_PATH KID < claims.json > token
 *   jws_tool verify KEYS_DIR KID ENV NOW CMD [REQUEST_ID] < token
 *
 * claims.json holds sub, env, request_id, cmd, approved_by, jti, iat, nbf,
 * exp. verify prints the verdict code, then the claims on TOKEN_OK; it exits
 * 0 for TOKEN_OK, 1 for any other verdict, 2 for usage or setup errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jws.h"
#include "keygen.h"
#include "keys.h"
#include "mint.h"
#include "util.h"

#define MAX_APPROVERS 16

static void
usage(void)
{
	fprintf(stderr,
	    "usage: jws_tool keygen DIR NAME\n"
	    "       jws_tool mint PRIVATE_KEY_PATH KID < claims.json\n"
	    "       jws_tool verify KEYS_DIR KID ENV NOW CMD [REQUEST_ID] < token\n");
	exit(2);
}

/* Reads standard input up to max bytes; more is an error, not a truncation. */
static char *
read_stdin(size_t max, size_t *len)
{
	struct wbuf b;
	char chunk[4096];
	size_t n;

	wbuf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (wbuf_append(&b, chunk, n) != 0) {
			wbuf_free(&b);
			return NULL;
		}
	}
	if (ferror(stdin) || b.data == NULL) {
		wbuf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

static int
cmd_mint(const char *keypath, const char *kid)
{
	const char *approvers[MAX_APPROVERS];
	struct mint_claims mc;
	EVP_PKEY *key = NULL;
	json_t *in = NULL, *list, *v;
	json_int_t iat, nbf, exp;
	json_error_t jerr;
	char err[256], *text = NULL, *token = NULL;
	size_t len = 0, i;
	int rc = 2;

	if ((key = key_load_private(keypath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "jws_tool: %s\n", err);
		goto fail;
	}
	if ((text = read_stdin(65536, &len)) == NULL ||
	    (in = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(in)) {
		fprintf(stderr, "jws_tool: claims on stdin are not a JSON object\n");
		goto fail;
	}
	memset(&mc, 0, sizeof(mc));
	list = json_object_get(in, "approved_by");
	if (json_unpack_ex(in, &jerr, 0, "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "sub", &mc.sub,
	        "env", &mc.env, "request_id", &mc.request_id, "cmd", &mc.cmd, "jti", &mc.jti, "iat",
	        &iat, "nbf", &nbf, "exp", &exp) != 0) {
		fprintf(stderr, "jws_tool: claims: %s\n", jerr.text);
		goto fail;
	}
	mc.iat = iat;
	mc.nbf = nbf;
	mc.exp = exp;
	if (!json_is_array(list) || json_array_size(list) > MAX_APPROVERS) {
		fprintf(stderr, "jws_tool: approved_by is not an array of at most %d\n",
		    MAX_APPROVERS);
		goto fail;
	}
	json_array_foreach(list, i, v)
	{
		if ((approvers[i] = json_string_value(v)) == NULL) {
			fprintf(stderr, "jws_tool: approved_by holds a non-string\n");
			goto fail;
		}
	}
	mc.approved_by = approvers;
	mc.n_approved_by = json_array_size(list);
	if ((token = jws_mint(key, kid, &mc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "jws_tool: %s\n", err);
		goto fail;
	}
	printf("%s\n", token);
	rc = 0;
fail:
	free(token);
	json_decref(in);
	free(text);
	EVP_PKEY_free(key);
	return rc;
}

static int
cmd_verify(char **argv, int argc)
{
	struct jws_expect ex;
	struct keyring ring;
	json_t *claims = NULL;
	enum jws_verdict v;
	char err[256], detail[256], *token = NULL, *out = NULL;
	long long now;
	size_t len = 0;
	int rc = 2;

	keyring_init(&ring);
	if (parse_int(argv[3], 0, 1LL << 40, &now) != 0)
		usage();
	if (keyring_add(&ring, argv[0], argv[1], err, sizeof(err)) != 0) {
		fprintf(stderr, "jws_tool: %s\n", err);
		goto fail;
	}
	/* Room for one more byte than the limit, so the verifier sees oversize. */
	if ((token = read_stdin(JWS_MAX_LEN + 2, &len)) == NULL) {
		fprintf(stderr, "jws_tool: cannot read the token\n");
		goto fail;
	}
	if (len > 0 && token[len - 1] == '\n')
		token[--len] = '\0';
	ex.env = argv[2];
	ex.now = (int64_t)now;
	ex.cmd = argv[4];
	ex.request_id = argc > 5 ? argv[5] : NULL;
	v = jws_verify(token, len, &ring, &ex, &claims, detail, sizeof(detail));
	printf("%s\n", jws_verdict_code(v));
	if (v != TOKEN_OK) {
		fprintf(stderr, "jws_tool: %s: %s\n", jws_verdict_code(v), detail);
		rc = 1;
		goto fail;
	}
	if ((out = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto fail;
	printf("%s\n", out);
	rc = 0;
fail:
	free(out);
	json_decref(claims);
	free(token);
	keyring_free(&ring);
	return rc;
}

int
main(int argc, char **argv)
{
	char err[256];

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "keygen") == 0 && argc == 4) {
		if (key_generate(argv[2], argv[3], err, sizeof(err)) != 0) {
			fprintf(stderr, "jws_tool: %s\n", err);
			return 2;
		}
		return 0;
	}
	if (strcmp(argv[1], "mint") == 0 && argc == 4)
		return cmd_mint(argv[2], argv[3]);
	if (strcmp(argv[1], "verify") == 0 && (argc == 7 || argc == 8))
		return cmd_verify(argv + 2, argc - 2);
	usage();
}
