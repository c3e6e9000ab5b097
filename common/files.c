#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

int
read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f;
	struct stat st;
	char *buf = NULL;
	size_t n;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		fclose(f);
		errno = EFBIG;
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		free(buf);
		errno = EIO;
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

enum secret_rc
secret_file_read(const char *path, size_t max, char *out, size_t outsize, int *loose)
{
	struct stat st;
	enum secret_rc rc = SECRET_MALFORMED;
	char *buf = NULL;
	size_t len = 0;

	if (loose != NULL)
		*loose = 0;
	if (outsize > 0)
		out[0] = '\0';
	if (read_file(path, max, &buf, &len) != 0)
		return SECRET_UNREADABLE;
	while (len > 0 &&
	    (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
	        buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (len > 0 && len < outsize && strlen(buf) == len) {
		memcpy(out, buf, len + 1);
		rc = SECRET_OK;
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (rc == SECRET_OK && loose != NULL && stat(path, &st) == 0 && (st.st_mode & 0077) != 0)
		*loose = 1;
	return rc;
}
