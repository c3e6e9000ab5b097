/*
 * Ed25519 keys as PEM files (PKCS#8 private, SPKI public) in WINGMAN_KEYS_DIR,
 * named <name>.key and <name>.pub. Each process loads only what it needs;
 * making keys is the CLI's alone (services/cli/keygen.c).
 */
#ifndef WINGMAN_KEYS_H
#define WINGMAN_KEYS_H

#include <stddef.h>

#include <openssl/evp.h>

#define KEY_NAME_MAX 64

/* Loads an Ed25519 private key; refuses any other type. New reference. */
EVP_PKEY *key_load_private(const char *path, char *err, size_t errlen);
/*
 * Loads an Ed25519 public key; refuses a file holding a private key or a key
 * of another type. New reference.
 */
EVP_PKEY *key_load_public(const char *path, char *err, size_t errlen);
/* <dir>/<name>.key or .pub, name checked with valid_name(). */
EVP_PKEY *key_load_named(const char *dir, const char *name, int private_key, char *err,
    size_t errlen);

/*
 * <dir>/<name>.<ext> into buf, name checked with valid_name(). Returns 0,
 * or -1 with err.
 */
int key_path(char *buf, size_t size, const char *dir, const char *name, const char *ext, char *err,
    size_t errlen);

/* 64-byte signature. Returns 0 on success. */
int ed25519_sign(EVP_PKEY *key, const void *msg, size_t len, unsigned char sig[64]);
/* Returns 1 only for a valid signature. */
int ed25519_verify(EVP_PKEY *key, const void *msg, size_t len, const unsigned char *sig,
    size_t siglen);

/* A set of trusted public keys by name (kid). */
struct keyring {
	size_t n;
	struct {
		char name[KEY_NAME_MAX + 1];
		EVP_PKEY *key;
	} keys[48]; /* up to 32 approvers, the bot, and the stages */
};
void keyring_init(struct keyring *ring);
/* Loads <dir>/<name>.pub into the ring. */
int keyring_add(struct keyring *ring, const char *dir, const char *name, char *err, size_t errlen);
/* Borrowed reference, or NULL for an unknown name. */
EVP_PKEY *keyring_find(const struct keyring *ring, const char *name);
void keyring_free(struct keyring *ring);

#endif
