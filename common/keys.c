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

/* PEM text in memory, so a public-key loader can refuse private-key files. */
static BIO *
pem_open(const char *path, int want_private, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	BIO *bio;
	int is_private;

	if (read_file(path, PEM_MAX, &text, &len) != 0) {
		snprintf(err, errlen, "KEY_UNREADABLE: %s: %s", path, strerror(errno));
		return NULL;
	}
	is_private = strstr(text, "PRIVATE KEY-----") != NULL;
	if (is_private != want_private) {
		snprintf(err, errlen, "KEY_WRONG_KIND: %s holds a %s key where a %s key is expected",
		    path, is_private ? "private" : "public", want_private ? "private" : "public");
		OPENSSL_cleanse(text, len);
		free(text);
		return NULL;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || BIO_write(bio, text, (int)len) != (int)len) {
		snprintf(err, errlen, "KEY_UNREADABLE: %s: out of memory", path);
		BIO_free(bio);
		bio = NULL;
	}
	OPENSSL_cleanse(text, len);
	free(text);
	return bio;
}

static EVP_PKEY *
key_load(const char *path, int want_private, char *err, size_t errlen)
{
	BIO *bio;
	EVP_PKEY *key;

	if ((bio = pem_open(path, want_private, err, errlen)) == NULL)
		return NULL;
	key = want_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
			   : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
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

static int
key_path(char *buf, size_t size, const char *dir, const char *name, const char *ext,
    char *err, size_t errlen)
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
key_generate(const char *dir, const char *name, char *err, size_t errlen)
{
	char priv_path[4096], pub_path[4096];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	FILE *f = NULL;
	int fd = -1, rc = -1, rc_close;

	if (key_path(priv_path, sizeof(priv_path), dir, name, "key", err, errlen) != 0 ||
	    key_path(pub_path, sizeof(pub_path), dir, name, "pub", err, errlen) != 0)
		return -1;
	if ((ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &key) != 1) {
		snprintf(err, errlen, "KEY_GENERATE: OpenSSL could not generate a key");
		goto fail;
	}
	/* O_EXCL: never overwrite an existing key. */
	if ((fd = open(priv_path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "KEY_WRITE: %s: %s", priv_path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (PEM_write_PKCS8PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
		snprintf(err, errlen, "KEY_WRITE: %s", priv_path);
		goto fail;
	}
	rc_close = fclose(f);
	f = NULL;
	if (rc_close != 0) {
		snprintf(err, errlen, "KEY_WRITE: %s", priv_path);
		goto fail;
	}
	if ((fd = open(pub_path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "KEY_WRITE: %s: %s", pub_path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (PEM_write_PUBKEY(f, key) != 1) {
		snprintf(err, errlen, "KEY_WRITE: %s", pub_path);
		goto fail;
	}
	rc_close = fclose(f);
	f = NULL;
	if (rc_close != 0) {
		snprintf(err, errlen, "KEY_WRITE: %s", pub_path);
		goto fail;
	}
	rc = 0;
fail:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	return rc;
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
ed25519_verify(EVP_PKEY *key, const void *msg, size_t len, const unsigned char *sig,
    size_t siglen)
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
