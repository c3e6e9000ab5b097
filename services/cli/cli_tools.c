/* Tools: keygen, command parse, message check. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "command.h"
#include "keygen.h"
#include "keys.h"
#include "msg.h"
#include "util.h"

int
cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *name = NULL;
	char err[512];
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'o')
			dir = optarg;
		else if (ch == 'n')
			name = optarg;
		else
			usage();
	}
	if (dir == NULL || name == NULL || optind != argc)
		usage();
	if (!key_role_valid(name)) {
		fprintf(stderr,
		    "wingman keygen: KEY_BAD_NAME: '%s' is not a key name, or ends like a "
		    "key generation (-YYYY-MM[-N], made by wingman keys rotate)\n",
		    name);
		return 1;
	}
	if (key_generate(dir, name, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman keygen: %s\n", err);
		return 1;
	}
	printf("%s/%s.key\n%s/%s.pub\n", dir, name, dir, name);
	return 0;
}

int
cmd_command(int argc, char **argv)
{
	struct command cmd;
	char err[256];
	json_t *j;

	if (argc != 3 || strcmp(argv[1], "parse") != 0)
		usage();
	if (command_parse(argv[2], &cmd, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	j = command_to_json(&cmd);
	json_dumpf(j, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(j);
	return 0;
}

int
cmd_message(int argc, char **argv)
{
	char *text = NULL, err[512];
	size_t len = 0;
	json_t *msg;

	if (argc != 3 || strcmp(argv[1], "check") != 0)
		usage();
	if (strcmp(argv[2], "-") == 0) {
		struct wbuf b;
		char chunk[4096];
		size_t n;
		wbuf_init(&b, MSG_MAX_BYTES + 1);
		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			if (wbuf_append(&b, chunk, n) != 0)
				break;
		text = b.data ? b.data : strdup("");
		len = b.len;
	} else if (read_file(argv[2], MSG_MAX_BYTES + 1, &text, &len) != 0) {
		fprintf(stderr, "wingman message: cannot read %s\n", argv[2]);
		return EXIT_USAGE;
	}
	/* A trailing newline is not part of the message. */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	msg = msg_decode(text, len, NULL, err, sizeof(err));
	free(text);
	if (msg == NULL) {
		printf("invalid: %s\n", err);
		return 1;
	}
	printf("valid %s\n", msg_str(msg, "type"));
	json_decref(msg);
	return 0;
}
