/*
 * Ed25519 keys as PEM files (PKCS#8 private, SPKI public) in WINGMAN_KEYS_DIR,
 * named <name>.key and <name>.pub. Each process loads only what it needs;
 * making keys is the CLI's alone (services/cli/keygen.c).
 *
 * Rotation: a role (a kid: "token", "approver-alice") may have several
 * generations, <role>.pub (the first, oldest) and <role>-YYYY-MM.pub or
 * <role>-YYYY-MM-N.pub (made by `wingman keys rotate`). A signer uses the
 * newest <role>[-GEN].key; a verifier trusts every <role>[-GEN].pub it
 * finds, newest first. The kid in a signature stays the role: it says who
 * signed, the set says with which keys that role may have signed. A
 * <role>-GEN.key.next is a staged key no signer uses yet.
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
/*
 * The newest generation of role name in dir: <dir>/<name>[-GEN].key or
 * .pub, name checked with valid_name(). New reference.
 */
EVP_PKEY *key_load_named(const char *dir, const char *name, int private_key, char *err,
    size_t errlen);

#define KEY_GENERATIONS_MAX 16
/*
 * The generations of role in dir that have a file <role>[-GEN].<ext>,
 * newest first: gens[i] is "" for <role>.<ext> itself, else "YYYY-MM[-N]".
 * Returns how many (0 when none), or -1 when dir cannot be read.
 */
int key_generations(const char *dir, const char *role, const char *ext,
    char gens[][KEY_NAME_MAX + 1], int max);
/* <0 when generation a is newer than b, 0 the same, >0 older ("" is the oldest). */
int key_generation_cmp(const char *a, const char *b);
/* 1 when gen is "YYYY-MM" or "YYYY-MM-N" (N 1..999). */
int key_generation_valid(const char *gen);
/*
 * 1 when name may name a role: a valid name that does not itself end like
 * a generation ("-YYYY-MM[-N]"), since its key files would then be read
 * as another role's generations (worker-agent-2027-01.pub as a key of
 * worker-agent).
 */
int key_role_valid(const char *name);
/* <role> or <role>-<gen> into buf; 0, or -1 when it does not fit or is not a name. */
int key_generation_name(char *buf, size_t size, const char *role, const char *gen);

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

/* A set of trusted public keys by name (kid), several generations a name. */
struct keyring {
	size_t n;
	struct {
		char name[KEY_NAME_MAX + 1];
		char gen[KEY_NAME_MAX + 1]; /* "" for <name>.pub */
		EVP_PKEY *key;
	} keys[160]; /* up to 32 approvers, the bot and the stages, a few generations each */
};
void keyring_init(struct keyring *ring);
/*
 * Loads every generation of <dir>/<name>[-GEN].pub into the ring, newest
 * first; at least one must exist.
 */
int keyring_add(struct keyring *ring, const char *dir, const char *name, char *err, size_t errlen);
/* The newest key of name: borrowed reference, or NULL for an unknown name. */
EVP_PKEY *keyring_find(const struct keyring *ring, const char *name);
/*
 * 1 when sig is a valid Ed25519 signature of msg by any key of name in the
 * ring (newest first), else 0. Only Ed25519 keys ever enter a ring, so the
 * algorithm is never the signer's choice.
 */
int keyring_verify(const struct keyring *ring, const char *name, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen);
/* The same with any key of the ring: for a ring that holds one role's keys alone. */
int keyring_verify_any(const struct keyring *ring, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen);
void keyring_free(struct keyring *ring);

#endif
