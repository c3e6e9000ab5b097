/*
 * wingman dlq: what the stages dead-lettered (wingman.dlq), for an
 * operator: one line each, or the messages as JSON. Read from the topic's
 * beginning to its end when called, committing nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "msg.h"
#include "util.h"

/* Printable ASCII only: a dead letter's fields come from untrusted writers. */
static void
print_clean(const char *s, size_t max)
{
	for (size_t i = 0; s != NULL && s[i] != '\0' && i < max; i++)
		putchar(s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
}

static const char *
field(const json_t *m, const char *name)
{
	const char *s = json_string_value(json_object_get(m, name));

	return s != NULL ? s : "";
}

int
cmd_dlq(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "last", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL;
	long long last = 0;
	int ch, as_json = 0;
	size_t i, from = 0;
	json_t *all, *m;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'k')
			key = optarg;
		else if (ch == 'j')
			as_json = 1;
		else if (ch == 'l' && parse_int(optarg, 1, 1000000, &last) == 0)
			continue;
		else
			usage();
	}
	if (optind != argc)
		usage();
	if ((all = topic_messages(TOPIC_DLQ, key, "dlq")) == NULL)
		return 1;
	if (last > 0 && json_array_size(all) > (size_t)last)
		from = json_array_size(all) - (size_t)last;
	for (i = from; i < json_array_size(all); i++) {
		m = json_array_get(all, i);
		if (as_json) {
			json_dumpf(m, stdout, JSON_COMPACT);
			putchar('\n');
			continue;
		}
		print_clean(field(m, "ts"), 32);
		putchar(' ');
		print_clean(field(m, "stage"), 64);
		putchar(' ');
		print_clean(field(m, "topic"), 64);
		printf("[%lld@%lld] key=",
		    (long long)json_integer_value(json_object_get(m, "partition")),
		    (long long)json_integer_value(json_object_get(m, "offset")));
		print_clean(field(m, "key"), 80);
		putchar(' ');
		print_clean(field(m, "reason"), 300);
		putchar('\n');
	}
	fflush(stdout);
	fprintf(stderr, "wingman dlq: %zu dead letter(s)%s%s\n", json_array_size(all) - from,
	    key != NULL ? " with key " : "", key != NULL ? key : "");
	json_decref(all);
	return 0;
}
