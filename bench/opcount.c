/*
 * LD_PRELOAD counter of the Ed25519 work a process does: every signature
 * made (EVP_DigestSign) and checked (EVP_DigestVerify), the only two calls
 * common/keys.c makes for them. At exit it appends one line to the file
 * OPCOUNT_FILE names: "NAME signs N verifies M". bench/pgcost uses it to
 * say how much of a request's CPU the trust rules' signatures cost.
 * Not linked into anything; built for bench/ only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_ulong signs, verifies;

int
EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs,
    size_t tbslen)
{
	static int (*real)(EVP_MD_CTX *, unsigned char *, size_t *, const unsigned char *, size_t);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "EVP_DigestSign");
	/* A call that only asks for the length signs nothing. */
	if (sig != NULL)
		atomic_fetch_add(&signs, 1);
	return real(ctx, sig, siglen, tbs, tbslen);
}

int
EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
    size_t tbslen)
{
	static int (
	    *real)(EVP_MD_CTX *, const unsigned char *, size_t, const unsigned char *, size_t);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "EVP_DigestVerify");
	atomic_fetch_add(&verifies, 1);
	return real(ctx, sig, siglen, tbs, tbslen);
}

__attribute__((destructor)) static void
opcount_report(void)
{
	const char *path = getenv("OPCOUNT_FILE");
	FILE *f;

	if (path == NULL || (f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "%s signs %lu verifies %lu\n", program_invocation_short_name,
	    (unsigned long)atomic_load(&signs), (unsigned long)atomic_load(&verifies));
	fclose(f);
}
