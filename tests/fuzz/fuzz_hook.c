/*
 * libFuzzer target for the coding-agent hook's docker detector
 * (services/cli/hook_detect.c): a shell line written by a model, so any
 * bytes. A verdict, never a crash; a routed command is one docker command
 * with no blank at its ends, and a denial always says why with a code.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hook_detect.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hook_check out;
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	hook_check_shell(s, &out);
	switch (out.verdict) {
	case HOOK_PASS:
		break;
	case HOOK_ROUTE:
		if (strncmp(out.command, "docker", 6) != 0 ||
		    (out.command[6] != '\0' && out.command[6] != ' ') ||
		    out.command[strlen(out.command) - 1] == ' ')
			abort();
		break;
	case HOOK_DENY:
		if (strncmp(out.why, "HOOK_", 5) != 0)
			abort();
		break;
	default:
		abort();
	}
	free(s);
	return 0;
}
