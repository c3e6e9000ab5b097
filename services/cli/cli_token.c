/*
 * wingman token mint / verify: the token code from the command line, for
 * operators and for tests that hold hostile tokens against the verifier.
 * Minting needs a private key file; holding that file is the privilege,
 * this code is not (see CMakeLists.txt).
 *
 * verify reads a token of any size from an argument or standard input
 * (at most JWS_MAX_LEN + 1 bytes are read: anything longer is refused as
 * too long without reading the rest) and answers exit 0 with the claims as
 * JSON, or exit 1 with "CODE: words" on standard error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "command.h"
#include "jws.h"
#include "keys.h"
#include "mint.h"
#include "util.h"

#define MINT_MAX_APPROVERS 16
#define JTI_BYTES 16 /* 128 bits */

static void token_usage(void) __attribute__((noreturn));

static void
token_usage(void)
{
	fputs("usage: wingman token mint --key FILE --kid KID --sub WORKER --env ENV\n"
	      "                          --request-id ID --cmd CMD --ttl SECONDS\n"
	      "                          [--approved-by NAME ...]\n"
	      "       wingman token verify --pub FILE --kid KID --env ENV --cmd CMD\n"
	      "                          [--request-id ID] TOKEN|-\n",
	    stderr);
	exit(EXIT_USAGE);
}

static int
token_mint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "kid", required_argument, NULL, 'i' },
		{ "sub", required_argument, NULL, 's' },
		{ "env", required_argument, NULL, 'e' },
		{ "request-id", required_argument, NULL, 'r' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "ttl", required_argument, NULL, 't' },
		{ "approved-by", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keypath = NULL, *kid = NULL, *ttl_arg = NULL;
	const char *approvers[MINT_MAX_APPROVERS] = { "cli" };
	struct mint_claims mc;
	struct command parsed;
	unsigned char raw[JTI_BYTES];
	char err[512], *jti = NULL, *token = NULL;
	EVP_PKEY *key = NULL;
	long long ttl;
	size_t n_approvers = 0;
	int64_t now;
	int ch, rc = 1;

	memset(&mc, 0, sizeof(mc));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			keypath = optarg;
			break;
		case 'i':
			kid = optarg;
			break;
		case 's':
			mc.sub = optarg;
			break;
		case 'e':
			mc.env = optarg;
			break;
		case 'r':
			mc.request_id = optarg;
			break;
		case 'c':
			mc.cmd = optarg;
			break;
		case 't':
			ttl_arg = optarg;
			break;
		case 'a':
			if (n_approvers == MINT_MAX_APPROVERS) {
				fprintf(stderr, "wingman token mint: at most %d --approved-by\n",
				    MINT_MAX_APPROVERS);
				return EXIT_USAGE;
			}
			approvers[n_approvers++] = optarg;
			break;
		default:
			token_usage();
		}
	}
	if (optind != argc || keypath == NULL || kid == NULL || mc.sub == NULL || mc.env == NULL ||
	    mc.request_id == NULL || mc.cmd == NULL || ttl_arg == NULL)
		token_usage();
	if (parse_int(ttl_arg, 1, JWS_MAX_LIFETIME_S, &ttl) != 0) {
		fprintf(stderr, "wingman token mint: --ttl must be 1..%d seconds\n",
		    JWS_MAX_LIFETIME_S);
		return EXIT_USAGE;
	}
	/* What the executor would refuse is refused here, with the same words. */
	if (!valid_name(mc.sub) || !valid_environment(mc.env) || !valid_request_id(mc.request_id)) {
		fprintf(stderr,
		    "MINT_BAD_CLAIMS: --sub, --env or --request-id is not a valid name\n");
		return 1;
	}
	for (size_t i = 0; i < n_approvers; i++) {
		if (!valid_name(approvers[i])) {
			fprintf(stderr, "MINT_BAD_CLAIMS: --approved-by '%s' is not a valid name\n",
			    approvers[i]);
			return 1;
		}
	}
	if (command_parse(mc.cmd, &parsed, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if ((key = key_load_private(keypath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		goto fail;
	}
	if (random_bytes(raw, sizeof(raw)) != 0 || (jti = b64url_encode(raw, sizeof(raw))) == NULL) {
		fprintf(stderr, "MINT_INTERNAL: no randomness for the token id\n");
		goto fail;
	}
	now = now_unix();
	mc.jti = jti;
	mc.iat = now;
	mc.nbf = now;
	mc.exp = now + ttl;
	mc.approved_by = approvers;
	mc.n_approved_by = n_approvers > 0 ? n_approvers : 1;
	if ((token = jws_mint(key, kid, &mc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		goto fail;
	}
	printf("%s\n", token);
	rc = 0;
fail:
	if (token != NULL)
		OPENSSL_cleanse(token, strlen(token));
	free(token);
	free(jti);
	EVP_PKEY_free(key);
	return rc;
}

/*
 * Up to max bytes of standard input; *len may be max when there was more.
 * Never reads past max, so an endless stream costs nothing.
 */
static char *
read_token_stdin(size_t max, size_t *len)
{
	/* One spare byte for the NUL; callers cleanse max + 1 bytes. */
	char *buf = calloc(1, max + 1);
	size_t n = 0, got;

	if (buf == NULL)
		return NULL;
	while (n < max && (got = fread(buf + n, 1, max - n, stdin)) > 0)
		n += got;
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Options by hand, not getopt: a token is base64url and may begin with '-',
 * which getopt would take for an option. Only the five --NAME VALUE (or
 * --NAME=VALUE) options are options; "--" ends them; anything else is the
 * token, of which there must be exactly one.
 */
static int
verify_args(int argc, char **argv, const char **pub, const char **kid, struct jws_expect *ex,
    const char **token)
{
	static const char *const names[] = { "--pub", "--kid", "--env", "--cmd", "--request-id" };
	const char **dest[] = { pub, kid, &ex->env, &ex->cmd, &ex->request_id };
	int i, j, options = 1;

	*token = NULL;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t n;

		if (options && strcmp(a, "--") == 0) {
			options = 0;
			continue;
		}
		for (j = 0; options && j < (int)ARRAY_LEN(names); j++) {
			n = strlen(names[j]);
			if (strncmp(a, names[j], n) == 0 && (a[n] == '\0' || a[n] == '='))
				break;
		}
		if (options && j < (int)ARRAY_LEN(names)) {
			if (a[n] == '=')
				*dest[j] = a + n + 1;
			else if (i + 1 < argc)
				*dest[j] = argv[++i];
			else
				return -1;
			continue;
		}
		if (*token != NULL)
			return -1;
		*token = a;
	}
	return *token == NULL || *pub == NULL || *kid == NULL || ex->env == NULL || ex->cmd == NULL
	    ? -1
	    : 0;
}

static int
token_verify(int argc, char **argv)
{
	const char *pubpath = NULL, *kid = NULL, *arg;
	struct jws_expect ex = { NULL, NULL, NULL, 0, 0 };
	struct keyring ring;
	enum jws_verdict v;
	json_t *claims = NULL;
	char err[512], detail[256], *text = NULL, *out = NULL;
	size_t len;
	int rc = 1;

	keyring_init(&ring);
	if (verify_args(argc, argv, &pubpath, &kid, &ex, &arg) != 0)
		token_usage();
	if (!valid_name(kid) || strlen(kid) > KEY_NAME_MAX) {
		fprintf(stderr, "KEY_BAD_NAME: --kid is not a valid key name\n");
		goto fail;
	}
	/* A private key (or any non-Ed25519 key) where a public one belongs is refused. */
	if ((ring.keys[0].key = key_load_public(pubpath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		goto fail;
	}
	snprintf(ring.keys[0].name, sizeof(ring.keys[0].name), "%s", kid);
	ring.n = 1;
	if (strcmp(arg, "-") == 0) {
		/* One byte over the limit is enough for the verifier to say "too long". */
		if ((text = read_token_stdin(JWS_MAX_LEN + 1, &len)) == NULL) {
			fprintf(stderr, "TOKEN_MALFORMED: cannot read standard input\n");
			goto fail;
		}
		/* The line ending a shell adds is not part of the token. */
		if (len > 0 && len <= JWS_MAX_LEN && text[len - 1] == '\n')
			text[--len] = '\0';
		if (len > 0 && len <= JWS_MAX_LEN && text[len - 1] == '\r')
			text[--len] = '\0';
		arg = text;
	} else {
		len = strlen(arg);
	}
	ex.now = now_unix();
	v = jws_verify(arg, len, &ring, &ex, &claims, detail, sizeof(detail));
	if (v != TOKEN_OK) {
		fprintf(stderr, "%s: %s\n", jws_verdict_code(v), detail);
		goto fail;
	}
	if ((out = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		fprintf(stderr, "TOKEN_MALFORMED: cannot print the claims\n");
		goto fail;
	}
	printf("%s\n", out);
	rc = 0;
fail:
	free(out);
	json_decref(claims);
	if (text != NULL)
		OPENSSL_cleanse(text, JWS_MAX_LEN + 2);
	free(text);
	keyring_free(&ring);
	return rc;
}

int
cmd_token(int argc, char **argv)
{
	if (argc < 2)
		token_usage();
	if (strcmp(argv[1], "mint") == 0)
		return token_mint(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return token_verify(argc - 1, argv + 1);
	token_usage();
}
