#include "keys.h"

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

EVP_PKEY *
key_load_named(const char *dir, const char *name, int private_key, char *err, size_t errlen)
{
	char path[4096];

	if (key_path(path, sizeof(path), dir, name, private_key ? "key" : "pub", err, errlen) != 0)
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
	EVP_PKEY *key;

	if (ring->n >= ARRAY_LEN(ring->keys)) {
		snprintf(err, errlen, "KEY_TOO_MANY: keyring is full");
		return -1;
	}
	if ((key = key_load_named(dir, name, 0, err, errlen)) == NULL)
		return -1;
	snprintf(ring->keys[ring->n].name, sizeof(ring->keys[ring->n].name), "%s", name);
	ring->keys[ring->n].key = key;
	ring->n++;
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

void
keyring_free(struct keyring *ring)
{
	if (ring == NULL)
		return;
	for (size_t i = 0; i < ring->n; i++)
		EVP_PKEY_free(ring->keys[i].key);
	ring->n = 0;
}
