/* Key files: the executor must refuse a private key or another key type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "keygen.h"
#include "keys.h"

static char dir[] = "/tmp/wingman-keys.XXXXXX";

static void
write_rsa(const char *path, int private_key)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	FILE *f = fopen(path, "w");

	assert_non_null(k);
	assert_non_null(f);
	if (private_key)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_PUBKEY(f, k);
	fclose(f);
	EVP_PKEY_free(k);
}

static void
test_keys(void **state)
{
	char err[512], path[512], pub_as_key[512];
	struct stat st;
	EVP_PKEY *k;
	struct keyring ring;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(key_generate(dir, "token", err, sizeof(err)), 0);
	/* Never overwrites an existing key. */
	assert_int_equal(key_generate(dir, "token", err, sizeof(err)), -1);
	snprintf(path, sizeof(path), "%s/token.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A private key where a public one is expected. */
	assert_null(key_load_public(path, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_WRONG_KIND"));
	snprintf(pub_as_key, sizeof(pub_as_key), "%s/token.pub", dir);
	assert_null(key_load_private(pub_as_key, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_WRONG_KIND"));

	/* An RSA key is not an Ed25519 key. */
	snprintf(path, sizeof(path), "%s/rsa.pub", dir);
	write_rsa(path, 0);
	assert_null(key_load_public(path, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_WRONG_TYPE"));
	unlink(path);

	/* Names are never paths. */
	assert_null(key_load_named(dir, "../token", 0, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_BAD_NAME"));
	assert_null(key_load_named(dir, "a/b", 0, err, sizeof(err)));

	keyring_init(&ring);
	assert_int_equal(keyring_add(&ring, dir, "token", err, sizeof(err)), 0);
	assert_non_null(keyring_find(&ring, "token"));
	assert_null(keyring_find(&ring, "tok"));
	keyring_free(&ring);

	k = key_load_named(dir, "token", 1, err, sizeof(err));
	assert_non_null(k);
	EVP_PKEY_free(k);
	snprintf(path, sizeof(path), "%s/token.key", dir);
	unlink(path);
	unlink(pub_as_key);
	rmdir(dir);
}

/*
 * A private key file must be the process user's alone and not a symlink;
 * key_generate makes such files whatever the umask.
 */
static void
test_private_key_files(void **state)
{
	char d[] = "/tmp/wingman-keys.XXXXXX", err[512], key[512], link[512], copy[512];
	EVP_PKEY *k;
	mode_t old;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(d));
	old = umask(0);
	assert_int_equal(key_generate(d, "token", err, sizeof(err)), 0);
	umask(old);
	snprintf(key, sizeof(key), "%s/token.key", d);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	assert_non_null(k = key_load_private(key, err, sizeof(err)));
	EVP_PKEY_free(k);

	/* Readable by group or others: refused, with the mode and the fix. */
	assert_int_equal(chmod(key, 0644), 0);
	assert_null(key_load_private(key, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_PERMISSIONS: "));
	assert_non_null(strstr(err, "0644"));
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(key, 0640), 0);
	assert_null(key_load_private(key, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_PERMISSIONS: "));
	assert_int_equal(chmod(key, 0400), 0);
	assert_non_null(k = key_load_private(key, err, sizeof(err)));
	EVP_PKEY_free(k);
	assert_int_equal(chmod(key, 0600), 0);

	/* A symlink to a good key is refused: O_NOFOLLOW. */
	snprintf(link, sizeof(link), "%s/link.key", d);
	assert_int_equal(symlink(key, link), 0);
	assert_null(key_load_private(link, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_SYMLINK: "));
	assert_null(key_load_named(d, "link", 1, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_SYMLINK: "));

	/* Owned by another user (only root can make one). */
	snprintf(copy, sizeof(copy), "%s/other.key", d);
	if (geteuid() == 0) {
		char cmd[1200];
		snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", key, copy);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(chown(copy, 65534, 65534), 0);
		assert_null(key_load_private(copy, err, sizeof(err)));
		assert_non_null(strstr(err, "KEY_OWNER: "));
		unlink(copy);
	}

	/* Public keys may be world-readable. */
	snprintf(copy, sizeof(copy), "%s/token.pub", d);
	assert_int_equal(chmod(copy, 0644), 0);
	assert_non_null(k = key_load_public(copy, err, sizeof(err)));
	EVP_PKEY_free(k);

	unlink(link);
	unlink(key);
	unlink(copy);
	rmdir(d);
}

/*
 * Rotation: <role>.pub and <role>-YYYY-MM[-N].pub are one role's keys.
 * Signers take the newest private key; a ring trusts every generation,
 * matched by the role (kid), never another role's keys; a generation that
 * is removed is no longer trusted.
 */
static void
test_generations(void **state)
{
	char d[] = "/tmp/wingman-gens.XXXXXX", err[512], gens[KEY_GENERATIONS_MAX][KEY_NAME_MAX + 1];
	static const char *const names[] = { "token", "token-2026-12", "token-2027-01",
		"token-2027-01-2", "tokenizer", "token-x", "token-2027-13" };
	unsigned char sig_old[64], sig_new[64], sig_other[64];
	const char msg[] = "hello";
	struct keyring ring;
	EVP_PKEY *k, *newest;
	char path[600];

	(void)state;
	assert_non_null(mkdtemp(d));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(key_generate(d, names[i], err, sizeof(err)), 0);
	assert_int_equal(key_generations(d, "token", "pub", gens, KEY_GENERATIONS_MAX), 4);
	assert_string_equal(gens[0], "2027-01-2");
	assert_string_equal(gens[1], "2027-01");
	assert_string_equal(gens[2], "2026-12");
	assert_string_equal(gens[3], "");
	assert_true(key_generation_valid("2027-01"));
	assert_false(key_generation_valid("2027-00"));
	assert_false(key_generation_valid("2027-01-0"));
	assert_false(key_generation_valid("2027-1"));
	/* A role named like a generation would collect another role's keys. */
	assert_true(key_role_valid("worker-agent-7"));
	assert_false(key_role_valid("worker-agent-2027-01"));
	assert_false(key_role_valid("approver-alice-2027-01-2"));
	assert_null(key_load_named(d, "token-2027-01", 1, err, sizeof(err)));
	assert_non_null(strstr(err, "KEY_BAD_NAME"));

	/* The signer: the newest private key. */
	assert_non_null(k = key_load_named(d, "token", 1, err, sizeof(err)));
	assert_int_equal(ed25519_sign(k, msg, 5, sig_new), 0);
	EVP_PKEY_free(k);
	snprintf(path, sizeof(path), "%s/token-2027-01-2.pub", d);
	assert_non_null(newest = key_load_public(path, err, sizeof(err)));
	assert_int_equal(ed25519_verify(newest, msg, 5, sig_new, 64), 1);
	EVP_PKEY_free(newest);
	snprintf(path, sizeof(path), "%s/token.key", d);
	assert_non_null(k = key_load_private(path, err, sizeof(err)));
	assert_int_equal(ed25519_sign(k, msg, 5, sig_old), 0);
	EVP_PKEY_free(k);
	snprintf(path, sizeof(path), "%s/tokenizer.key", d);
	assert_non_null(k = key_load_private(path, err, sizeof(err)));
	assert_int_equal(ed25519_sign(k, msg, 5, sig_other), 0);
	EVP_PKEY_free(k);

	/* The verifier: every generation of the role, nothing else. */
	keyring_init(&ring);
	assert_int_equal(keyring_add(&ring, d, "token", err, sizeof(err)), 0);
	assert_int_equal(ring.n, 4);
	assert_int_equal(keyring_verify(&ring, "token", msg, 5, sig_new, 64), 1);
	assert_int_equal(keyring_verify(&ring, "token", msg, 5, sig_old, 64), 1);
	assert_int_equal(keyring_verify(&ring, "token", msg, 5, sig_other, 64), 0);
	assert_int_equal(keyring_verify(&ring, "tokenizer", msg, 5, sig_other, 64), 0);
	keyring_free(&ring);

	/* A retired public key: what it signed no longer verifies. */
	snprintf(path, sizeof(path), "%s/token.pub", d);
	assert_int_equal(unlink(path), 0);
	keyring_init(&ring);
	assert_int_equal(keyring_add(&ring, d, "token", err, sizeof(err)), 0);
	assert_int_equal(ring.n, 3);
	assert_int_equal(keyring_verify(&ring, "token", msg, 5, sig_old, 64), 0);
	assert_int_equal(keyring_verify(&ring, "token", msg, 5, sig_new, 64), 1);
	keyring_free(&ring);

	snprintf(path, sizeof(path), "rm -rf '%s'", d);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_keys),
		cmocka_unit_test(test_private_key_files), cmocka_unit_test(test_generations) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
