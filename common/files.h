/* Reading files: whole and bounded, or a secret held in one. */
#ifndef WINGMAN_FILES_H
#define WINGMAN_FILES_H

#include <stddef.h>

/* Reads a whole file, refusing files larger than max. New buffer, NUL-ended. */
int read_file(const char *path, size_t max, char **out, size_t *len);

enum secret_rc {
	SECRET_OK,
	SECRET_UNREADABLE, /* missing, not a regular file, or larger than max */
	SECRET_MALFORMED, /* empty, a NUL byte, or too long for out */
};

/*
 * Reads a secret (an API key, a bot token) from a file of at most max
 * bytes: trailing blanks and line ends are dropped, the rest goes to out
 * (outsize bytes with its NUL). Every other copy is wiped, out too when
 * the secret is refused. *loose (may be NULL) is set to 1 when group or
 * others may read the file: the caller warns.
 */
enum secret_rc secret_file_read(const char *path, size_t max, char *out, size_t outsize, int *loose);

#endif
