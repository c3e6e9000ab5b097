#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "util.h"

#define PEM_MAX 16384

/* Frees a buffer that held key text, wiping it first. Accepts NULL. */
static void
wipe_free(char *text, size_t len)
{
	if (text == NULL)
		return;
	OPENSSL_cleanse(text, len);
	free(text);
}

/*
 * Reads a file that may hold a private key: opened without following a
 * symbolic link (a link planted in the keys directory cannot send us to
 * another file), and read with read(2) into one buffer, so no stdio buffer
 * keeps a copy. *st is the file's, for the caller's permission checks.
 */
static int
read_key_file(const char *path, char **out, size_t *len, struct stat *st, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)) < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen,
			    "KEY_SYMLINK: %s is a symbolic link; a key must be "
			    "a regular file",
			    path);
		else
			snprintf(err, errlen, "KEY_UNREADABLE: %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > PEM_MAX) {
		snprintf(err, errlen, "KEY_UNREADABLE: %s: not a regular file of at most %d bytes",
		    path, PEM_MAX);
		goto fail;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		snprintf(err, errlen, "KEY_UNREADABLE: %s: out of memory", path);
		goto fail;
	}
	while (n < (size_t)st->st_size) {
		if ((r = read(fd, buf + n, (size_t)st->st_size - n)) < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (n != (size_t)st->st_size) {
		snprintf(err, errlen, "KEY_UNREADABLE: %s: short read", path);
		goto fail;
	}
	buf[n] = '\0';
	close(fd);
	*out = buf;
	*len = n;
	return 0;
fail:
	wipe_free(buf, n);
	close(fd);
	return -1;
}

/*
 * A private key is ours alone: owned by the user this process runs as, no
 * permission bits for group or others. Checked after the kind, so a public
 * key put where a private one belongs is called that.
 */
static int
private_key_file_ok(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen,
		    "KEY_OWNER: %s is owned by uid %lu, not by uid %lu that "
		    "runs this process",
		    path, (unsigned long)st->st_uid, (unsigned long)geteuid());
		return 0;
	}
	if ((st->st_mode & 077) != 0) {
		snprintf(err, errlen,
		    "KEY_PERMISSIONS: %s has mode %04o; a private key must not "
		    "be open to group or others (chmod 600)",
		    path, (unsigned)(st->st_mode & 07777));
		return 0;
	}
	return 1;
}

/*
 * PEM text in memory, so a public-key loader can refuse private-key files.
 * *text (wipe_free it after the BIO) backs the read-only BIO: no copy.
 */
static BIO *
pem_open(const char *path, int want_private, char **text, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	BIO *bio;
	int is_private;

	if (read_key_file(path, text, len, &st, err, errlen) != 0)
		return NULL;
	is_private = strstr(*text, "PRIVATE KEY-----") != NULL;
	if (is_private != want_private) {
		snprintf(err, errlen, "KEY_WRONG_KIND: %s holds a %s key where a %s key is expected",
		    path, is_private ? "private" : "public", want_private ? "private" : "public");
		goto fail;
	}
	if (want_private && !private_key_file_ok(path, &st, err, errlen))
		goto fail;
	if ((bio = BIO_new_mem_buf(*text, (int)*len)) == NULL) {
		snprintf(err, errlen, "KEY_UNREADABLE: %s: out of memory", path);
		goto fail;
	}
	return bio;
fail:
	wipe_free(*text, *len);
	*text = NULL;
	return NULL;
}

static EVP_PKEY *
key_load(const char *path, int want_private, char *err, size_t errlen)
{
	BIO *bio;
	EVP_PKEY *key;
	char *text = NULL;
	size_t len = 0;

	if ((bio = pem_open(path, want_private, &text, &len, err, errlen)) == NULL)
		return NULL;
	key = want_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
	                   : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	wipe_free(text, len);
	if (key == NULL) {
		snprintf(err, errlen, "KEY_UNREADABLE: %s is not a PEM %s key", path,
		    want_private ? "PKCS#8 private" : "SPKI public");
		return NULL;
	}
	if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "KEY_WRONG_TYPE: %s is not an Ed25519 key", path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

EVP_PKEY *
key_load_private(const char *path, char *err, size_t errlen)
{
	return key_load(path, 1, err, errlen);
}

EVP_PKEY *
key_load_public(const char *path, char *err, size_t errlen)
{
	return key_load(path, 0, err, errlen);
}

int
key_path(char *buf, size_t size, const char *dir, const char *name, const char *ext, char *err,
    size_t errlen)
{
	/* The name is never trusted as a path: no slashes, no dot-dot. */
	if (!valid_name(name) || strstr(name, "..") != NULL) {
		snprintf(err, errlen, "KEY_BAD_NAME: key name is not valid");
		return -1;
	}
	if (xsnprintf(buf, size, "%s/%s.%s", dir, name, ext) < 0) {
		snprintf(err, errlen, "KEY_BAD_NAME: key path too long");
		return -1;
	}
	return 0;
}

int
key_generation_valid(const char *gen)
{
	size_t n = strlen(gen);

	/* YYYY-MM, then optionally -N with N of 1 to 3 digits, not starting with 0. */
	if (n < 7 || n > 11)
		return 0;
	for (size_t i = 0; i < 7; i++)
		if (i == 4 ? gen[i] != '-' : (gen[i] < '0' || gen[i] > '9'))
			return 0;
	if (gen[5] > '1' || (gen[5] == '1' && gen[6] > '2') || (gen[5] == '0' && gen[6] == '0'))
		return 0;
	if (n == 7)
		return 1;
	if (gen[7] != '-' || n == 8 || gen[8] == '0')
		return 0;
	for (size_t i = 8; i < n; i++)
		if (gen[i] < '0' || gen[i] > '9')
			return 0;
	return 1;
}

int
key_role_valid(const char *name)
{
	if (!valid_name(name) || strstr(name, "..") != NULL)
		return 0;
	for (const char *p = name; (p = strchr(p, '-')) != NULL; p++)
		if (key_generation_valid(p + 1))
			return 0;
	return 1;
}

int
key_generation_name(char *buf, size_t size, const char *role, const char *gen)
{
	if (*gen == '\0' ? xsnprintf(buf, size, "%s", role) < 0
	                 : xsnprintf(buf, size, "%s-%s", role, gen) < 0)
		return -1;
	return valid_name(buf) && strstr(buf, "..") == NULL ? 0 : -1;
}

/* Newer first: "" (the first generation) is the oldest; then by (YYYY-MM, N). */
int
key_generation_cmp(const char *a, const char *b)
{
	long na, nb;
	int c;

	if (*a == '\0' || *b == '\0')
		return (*a == '\0') - (*b == '\0');
	if ((c = strncmp(a, b, 7)) != 0)
		return -c;
	na = a[7] == '-' ? strtol(a + 8, NULL, 10) : 1;
	nb = b[7] == '-' ? strtol(b + 8, NULL, 10) : 1;
	return na < nb ? 1 : na > nb ? -1 : 0;
}

int
key_generations(const char *dir, const char *role, const char *ext, char gens[][KEY_NAME_MAX + 1],
    int max)
{
	size_t rl = strlen(role), el = strlen(ext), n;
	char gen[KEY_NAME_MAX + 1];
	struct dirent *e;
	int count = 0, i, j;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL && count < max) {
		n = strlen(e->d_name);
		/* <role>.<ext> or <role>-<gen>.<ext> */
		if (n < rl + 1 + el || strncmp(e->d_name, role, rl) != 0 ||
		    e->d_name[n - el - 1] != '.' || strcmp(e->d_name + n - el, ext) != 0)
			continue;
		if (n == rl + 1 + el)
			gen[0] = '\0';
		else if (e->d_name[rl] != '-' || n - el - 1 - rl - 1 > KEY_NAME_MAX)
			continue;
		else {
			memcpy(gen, e->d_name + rl + 1, n - el - 1 - rl - 1);
			gen[n - el - 1 - rl - 1] = '\0';
			if (!key_generation_valid(gen))
				continue;
		}
		/* Insertion keeps them sorted, newest first. */
		for (i = 0; i < count && key_generation_cmp(gens[i], gen) <= 0; i++)
			;
		for (j = count; j > i; j--)
			memcpy(gens[j], gens[j - 1], sizeof(gens[j]));
		memcpy(gens[i], gen, sizeof(gens[i]));
		count++;
	}
	closedir(d);
	return count;
}

EVP_PKEY *
key_load_named(const char *dir, const char *name, int private_key, char *err, size_t errlen)
{
	const char *ext = private_key ? "key" : "pub";
	char gens[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1], full[KEY_NAME_MAX + 1], path[4096];

	if (key_path(path, sizeof(path), dir, name, ext, err, errlen) != 0)
		return NULL;
	if (!key_role_valid(name)) {
		snprintf(err, errlen, "KEY_BAD_NAME: a key name must not end like a generation");
		return NULL;
	}
	/* None found (or no directory): the first generation's path, for its error. */
	if (key_generations(dir, name, ext, gens, KEY_GENERATIONS_MAX) > 0 &&
	    (key_generation_name(full, sizeof(full), name, gens[0]) != 0 ||
	        key_path(path, sizeof(path), dir, full, ext, err, errlen) != 0))
		return NULL;
	return key_load(path, private_key, err, errlen);
}

int
ed25519_sign(EVP_PKEY *key, const void *msg, size_t len, unsigned char sig[64])
{
	EVP_MD_CTX *ctx;
	size_t siglen = 64;
	int rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == 64)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
ed25519_verify(EVP_PKEY *key, const void *msg, size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx;
	int ok = 0;

	if (key == NULL || siglen != 64 || EVP_PKEY_id(key) != EVP_PKEY_ED25519)
		return 0;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

void
keyring_init(struct keyring *ring)
{
	memset(ring, 0, sizeof(*ring));
}

int
keyring_add(struct keyring *ring, const char *dir, const char *name, char *err, size_t errlen)
{
	char gens[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1], full[KEY_NAME_MAX + 1], path[4096];
	EVP_PKEY *key;
	int n, i;

	if (key_path(path, sizeof(path), dir, name, "pub", err, errlen) != 0)
		return -1;
	if (!key_role_valid(name)) {
		snprintf(err, errlen, "KEY_BAD_NAME: a key name must not end like a generation");
		return -1;
	}
	if ((n = key_generations(dir, name, "pub", gens, KEY_GENERATIONS_MAX)) <= 0) {
		/* The first generation's path, so the error names the file expected. */
		n = 1;
		gens[0][0] = '\0';
	}
	for (i = 0; i < n; i++) {
		if (ring->n >= ARRAY_LEN(ring->keys)) {
			snprintf(err, errlen, "KEY_TOO_MANY: keyring is full");
			return -1;
		}
		if (key_generation_name(full, sizeof(full), name, gens[i]) != 0 ||
		    key_path(path, sizeof(path), dir, full, "pub", err, errlen) != 0) {
			snprintf(err, errlen, "KEY_BAD_NAME: key name is not valid");
			return -1;
		}
		if ((key = key_load(path, 0, err, errlen)) == NULL)
			return -1;
		snprintf(ring->keys[ring->n].name, sizeof(ring->keys[ring->n].name), "%s", name);
		/* memcpy, not snprintf: gcc -O2 (the image's Release build) sees a
		 * possible truncation and -Werror stops the build. */
		if (strlen(gens[i]) >= sizeof(ring->keys[ring->n].gen)) {
			EVP_PKEY_free(key);
			snprintf(err, errlen, "KEY_BAD_NAME: key generation name too long");
			return -1;
		}
		memcpy(ring->keys[ring->n].gen, gens[i], strlen(gens[i]) + 1);
		ring->keys[ring->n].key = key;
		ring->n++;
	}
	return 0;
}

EVP_PKEY *
keyring_find(const struct keyring *ring, const char *name)
{
	for (size_t i = 0; i < ring->n; i++)
		if (strcmp(ring->keys[i].name, name) == 0)
			return ring->keys[i].key;
	return NULL;
}

int
keyring_verify(const struct keyring *ring, const char *name, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	for (size_t i = 0; i < ring->n; i++)
		if (strcmp(ring->keys[i].name, name) == 0 &&
		    ed25519_verify(ring->keys[i].key, msg, len, sig, siglen) == 1)
			return 1;
	return 0;
}

int
keyring_verify_any(const struct keyring *ring, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	for (size_t i = 0; i < ring->n; i++)
		if (ed25519_verify(ring->keys[i].key, msg, len, sig, siglen) == 1)
			return 1;
	return 0;
}

void
keyring_free(struct keyring *ring)
{
	if (ring == NULL)
		return;
	for (size_t i = 0; i < ring->n; i++)
		EVP_PKEY_free(ring->keys[i].key);
	ring->n = 0;
}
