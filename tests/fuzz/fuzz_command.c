/*
 * libFuzzer target for the command parser (common/command.c). Any bytes:
 * a verdict, never a crash; and what it accepts must hold the grammar's
 * promises (a valid container name, bounded argv, no byte the parser
 * refuses), since the executor builds Docker requests from it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "command.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct command cmd;
	char err[256], *s;
	json_t *j;

	/* The parser takes C strings: an embedded NUL ends the command there. */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (command_parse(s, &cmd, err, sizeof(err)) == 0) {
		if (strlen(s) > COMMAND_MAX_LEN || cmd.argc > COMMAND_EXEC_MAX_ARGS)
			abort();
		if (cmd.action != ACTION_PS && !command_valid_container(cmd.container))
			abort();
		if (cmd.action == ACTION_EXEC && cmd.argc == 0)
			abort();
		for (size_t i = 0; i < strlen(s); i++)
			if (s[i] != '\t' &&
			    (s[i] < 0x20 || s[i] > 0x7e ||
			        strchr(";&|`$<>()'\"\\*?[]~!#%^{}", s[i])))
				abort();
		if ((j = command_to_json(&cmd)) == NULL)
			abort();
		free(json_dumps(j, JSON_COMPACT));
		json_decref(j);
	} else if (strncmp(err, "CMD_", 4) != 0) {
		abort();
	}
	free(s);
	return 0;
}
