#include "keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "keys.h"

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
key_generate(const char *dir, const char *name, char *err, size_t errlen)
{
	char priv_path[4096], pub_path[4096];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIO *mem = NULL;
	char *pem = NULL;
	long pem_len = 0;
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
	/*
	 * The PEM is built in a memory BIO and written with write(2), so the
	 * only copy of the key text is one we wipe. O_EXCL: never overwrite
	 * an existing key (nor follow a link). 0600 whatever the umask.
	 */
	if ((mem = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PKCS8PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (pem_len = BIO_get_mem_data(mem, &pem)) <= 0) {
		snprintf(err, errlen, "KEY_WRITE: %s: cannot encode the key", priv_path);
		goto fail;
	}
	if ((fd = open(priv_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
	    fchmod(fd, 0600) != 0 || write_all(fd, pem, (size_t)pem_len) != 0) {
		snprintf(err, errlen, "KEY_WRITE: %s: %s", priv_path, strerror(errno));
		goto fail;
	}
	rc_close = close(fd);
	fd = -1;
	if (rc_close != 0) {
		snprintf(err, errlen, "KEY_WRITE: %s: %s", priv_path, strerror(errno));
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
	if (pem != NULL && pem_len > 0)
		OPENSSL_cleanse(pem, (size_t)pem_len);
	BIO_free(mem);
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}
