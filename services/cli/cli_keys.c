/*
 * wingman keys: rotation with overlap (common/keys.h says how generations
 * are named and chosen).
 *
 * A rotation is two steps so that no verifier ever meets a signature by a
 * key it does not hold yet, whatever order the daemons restart in:
 *   rotate ROLE    makes ROLE-GEN.pub (trusted from the next start of each
 *                  verifier) and stages the private key as ROLE-GEN.key.next;
 *   activate ROLE  renames it ROLE-GEN.key: from their next start, signers
 *                  of ROLE sign with it.
 * The old public key stays trusted until `retire` removes it, so what was
 * signed before (tokens in flight, audit checkpoints, receipts) still
 * verifies.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "keygen.h"
#include "keys.h"
#include "util.h"

static const char *
keys_dir(const char *given)
{
	const char *dir = given != NULL ? given : config_str(cli_config(), CFG_KEYS_DIR);

	if (*dir == '\0') {
		fprintf(stderr, "wingman keys: give --dir DIR or set WINGMAN_KEYS_DIR\n");
		exit(EXIT_USAGE);
	}
	return dir;
}

static int
role_ok(const char *role)
{
	if (!key_role_valid(role) || strlen(role) > KEY_NAME_MAX - 12) {
		fprintf(stderr,
		    "wingman keys: '%s' is not a role name (or ends like a generation)\n", role);
		return 0;
	}
	return 1;
}

static int
exists(const char *dir, const char *name, const char *ext)
{
	char path[4096];
	struct stat st;

	return xsnprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext) >= 0 &&
	    lstat(path, &st) == 0;
}

/*
 * The generation a rotation makes: this month (UTC), or, when that is not
 * newer than every generation already there, the newest one's month with
 * the next sequence number.
 */
static int
next_generation(const char *dir, const char *role, char *out, size_t outlen)
{
	char pubs[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1],
	    next[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1];
	const char *newest = "";
	time_t now = time(NULL);
	struct tm tm;
	int np, nn;
	long seq;

	np = key_generations(dir, role, "pub", pubs, KEY_GENERATIONS_MAX);
	nn = key_generations(dir, role, "key.next", next, KEY_GENERATIONS_MAX);
	if (np < 0 || nn < 0) {
		fprintf(stderr, "wingman keys: cannot read %s\n", dir);
		return -1;
	}
	if (np >= KEY_GENERATIONS_MAX - 1) {
		fprintf(stderr, "wingman keys: %s has %d generations; retire old ones first\n",
		    role, np);
		return -1;
	}
	if (np > 0)
		newest = pubs[0];
	if (nn > 0 && key_generation_cmp(next[0], newest) < 0)
		newest = next[0];
	gmtime_r(&now, &tm);
	snprintf(out, outlen, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
	if (key_generation_cmp(out, newest) < 0)
		return 0;
	seq = newest[7] == '-' ? strtol(newest + 8, NULL, 10) : 1;
	if (seq >= 999) {
		fprintf(stderr, "wingman keys: no generation left after %s\n", newest);
		return -1;
	}
	snprintf(out, outlen, "%.7s-%ld", newest, seq + 1);
	return 0;
}

static int
keys_rotate(const char *dir, const char *role, int activate)
{
	char gen[KEY_NAME_MAX + 1], name[KEY_NAME_MAX + 1], tmp[4096], from[4096 + 80],
	    to[4096 + 80], err[512];
	int rc = 1;

	if (!role_ok(role) || next_generation(dir, role, gen, sizeof(gen)) != 0 ||
	    key_generation_name(name, sizeof(name), role, gen) != 0)
		return 1;
	if (exists(dir, name, "pub") || exists(dir, name, "key") || exists(dir, name, "key.next")) {
		fprintf(stderr, "wingman keys: %s/%s already exists\n", dir, name);
		return 1;
	}
	/*
	 * Made in a private directory beside the keys, then renamed into
	 * place: no signer ever sees a half-written key, nor (unless
	 * --activate) an active one.
	 */
	if (xsnprintf(tmp, sizeof(tmp), "%s/.rotate-%ld", dir, (long)getpid()) < 0 ||
	    mkdir(tmp, 0700) != 0) {
		fprintf(stderr, "wingman keys: cannot make %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	if (key_generate(tmp, name, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman keys rotate: %s\n", err);
		goto done;
	}
	snprintf(from, sizeof(from), "%s/%s.pub", tmp, name);
	snprintf(to, sizeof(to), "%s/%s.pub", dir, name);
	if (rename(from, to) != 0) {
		fprintf(stderr, "wingman keys: %s: %s\n", to, strerror(errno));
		goto done;
	}
	snprintf(from, sizeof(from), "%s/%s.key", tmp, name);
	snprintf(to, sizeof(to), "%s/%s.%s", dir, name, activate ? "key" : "key.next");
	if (rename(from, to) != 0) {
		fprintf(stderr, "wingman keys: %s: %s\n", to, strerror(errno));
		goto done;
	}
	printf("%s/%s.pub\n%s\n", dir, name, to);
	rc = 0;
done:
	snprintf(from, sizeof(from), "%s/%s.key", tmp, name);
	if (unlink(from) != 0 && errno != ENOENT)
		fprintf(stderr, "wingman keys: cannot remove %s\n", from);
	snprintf(from, sizeof(from), "%s/%s.pub", tmp, name);
	unlink(from);
	rmdir(tmp);
	return rc;
}

static int
keys_activate(const char *dir, const char *role)
{
	char next[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1], name[KEY_NAME_MAX + 1];
	char from[4096], to[4096];
	int n;

	if (!role_ok(role))
		return 1;
	if ((n = key_generations(dir, role, "key.next", next, KEY_GENERATIONS_MAX)) <= 0) {
		fprintf(stderr, "wingman keys: no staged key %s-GEN.key.next in %s\n", role, dir);
		return 1;
	}
	if (key_generation_name(name, sizeof(name), role, next[0]) != 0 ||
	    xsnprintf(from, sizeof(from), "%s/%s.key.next", dir, name) < 0 ||
	    xsnprintf(to, sizeof(to), "%s/%s.key", dir, name) < 0)
		return 1;
	if (!exists(dir, name, "pub")) {
		fprintf(stderr, "wingman keys: %s/%s.pub is missing: nobody would trust it\n", dir,
		    name);
		return 1;
	}
	if (rename(from, to) != 0) {
		fprintf(stderr, "wingman keys: %s: %s\n", to, strerror(errno));
		return 1;
	}
	printf("%s\n", to);
	return 0;
}

static int
keys_retire(const char *dir, const char *role, const char *gen, int public_too)
{
	char keys[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1], name[KEY_NAME_MAX + 1], path[4096];
	const char *g = strcmp(gen, "0") == 0 ? "" : gen;
	int n, removed = 0;

	if (!role_ok(role))
		return 1;
	if (*g != '\0' && !key_generation_valid(g)) {
		fprintf(stderr, "wingman keys: '%s' is not a generation (YYYY-MM[-N], or 0)\n", gen);
		return 1;
	}
	if (key_generation_name(name, sizeof(name), role, g) != 0)
		return 1;
	/* The signing key of a role is never retired: rotate and activate first. */
	n = key_generations(dir, role, "key", keys, KEY_GENERATIONS_MAX);
	if (n > 0 && strcmp(keys[0], g) == 0) {
		fprintf(stderr, "wingman keys: %s is the signing key of %s; rotate first\n", name,
		    role);
		return 1;
	}
	if (xsnprintf(path, sizeof(path), "%s/%s.key", dir, name) >= 0 && unlink(path) == 0) {
		printf("removed %s\n", path);
		removed++;
	}
	if (public_too && xsnprintf(path, sizeof(path), "%s/%s.pub", dir, name) >= 0 &&
	    unlink(path) == 0) {
		printf("removed %s\n", path);
		removed++;
	}
	if (removed == 0) {
		fprintf(stderr, "wingman keys: nothing to remove for %s in %s\n", name, dir);
		return 1;
	}
	return 0;
}

static int
suffix(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n > m && strcmp(s + n - m, end) == 0;
}

/* Every key file, one line each: name, then what is there. */
static int
keys_list(const char *dir, const char *role)
{
	struct dirent **list = NULL;
	int n, i;

	if ((n = scandir(dir, &list, NULL, alphasort)) < 0) {
		fprintf(stderr, "wingman keys: cannot read %s\n", dir);
		return 1;
	}
	for (i = 0; i < n; i++) {
		const char *f = list[i]->d_name;
		const char *kind = suffix(f, ".pub") ? "public"
		    : suffix(f, ".key")              ? "private (signing if newest)"
		    : suffix(f, ".key.next")         ? "private, staged (keys activate)"
		                                     : NULL;

		if (kind != NULL && f[0] != '.' &&
		    (role == NULL ||
		        (strncmp(f, role, strlen(role)) == 0 &&
		            (f[strlen(role)] == '.' || f[strlen(role)] == '-'))))
			printf("%-40s %s\n", f, kind);
		free(list[i]);
	}
	free(list);
	return 0;
}

int
cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "activate", no_argument, NULL, 'a' },
		{ "public", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *sub;
	int ch, activate = 0, public_too = 0;

	if (argc < 2)
		usage();
	sub = argv[1];
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			dir = optarg;
		else if (ch == 'a')
			activate = 1;
		else if (ch == 'p')
			public_too = 1;
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	if (strcmp(sub, "list") == 0 && argc <= 1)
		return keys_list(keys_dir(dir), argc == 1 ? argv[0] : NULL);
	if (strcmp(sub, "rotate") == 0 && argc == 1)
		return keys_rotate(keys_dir(dir), argv[0], activate);
	if (strcmp(sub, "activate") == 0 && argc == 1)
		return keys_activate(keys_dir(dir), argv[0]);
	if (strcmp(sub, "retire") == 0 && argc == 2)
		return keys_retire(keys_dir(dir), argv[0], argv[1], public_too);
	usage();
}
