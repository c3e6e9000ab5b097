/*
 * Making Ed25519 key pairs: `wingman keygen` (and the tests). Apart from
 * common/keys.c so no daemon links key generation.
 */
#ifndef WINGMAN_KEYGEN_H
#define WINGMAN_KEYGEN_H

#include <stddef.h>

/* Writes dir/name.key (0600, never over an existing one) and dir/name.pub (0644). */
int key_generate(const char *dir, const char *name, char *err, size_t errlen);

#endif
