#include "service.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "log.h"

static volatile sig_atomic_t *service_running;

static void
on_signal(int sig)
{
	(void)sig;
	if (service_running != NULL)
		*service_running = 0;
}

static void
usage(FILE *out, const char *name, const char *summary, const struct config_var *vars, size_t n)
{
	fprintf(out,
	    "usage: %s [-n] [-v] [--stdin]\n"
	    "\n%s\n\n"
	    "  -n        check the configuration, print \"configuration OK\", exit\n"
	    "  -v        verbose logging\n"
	    "  --stdin   filter mode: read {\"topic\",\"key\",\"value\"} records from standard\n"
	    "            input, handle those of the consumed topics, write what would be\n"
	    "            published to standard output, pass every other record through\n"
	    "  --help    this text\n",
	    name, summary);
	config_usage(out, vars, n);
}

int
service_no_core_dumps(char *err, size_t errlen)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) != 0) {
		snprintf(err, errlen, "setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(err, errlen, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
		return -1;
	}
	return 0;
}

void
service_init(int argc, char **argv, const char *name, const char *summary,
    struct config_var *vars, size_t n, struct service_opts *opts)
{
	static const struct option longopts[] = {
		{ "stdin", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[512];
	int ch;

	/* Before any key is read: a crash must not write one to disk. */
	if (service_no_core_dumps(err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		exit(1);
	}
	memset(opts, 0, sizeof(*opts));
	while ((ch = getopt_long(argc, argv, "nv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': opts->check_only = 1; break;
		case 'v': opts->verbose = 1; break;
		case 's': opts->filter = 1; break;
		case 'h': usage(stdout, name, summary, vars, n); exit(0);
		default: usage(stderr, name, summary, vars, n); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr, name, summary, vars, n);
		exit(2);
	}
	log_init(name, opts->verbose);
	if (config_load(vars, n, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		exit(1);
	}
}

void
service_signals(volatile sig_atomic_t *running)
{
	struct sigaction sa;

	service_running = running;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
service_run(const struct stage *st, const struct service_opts *opts, const char *brokers,
    volatile sig_atomic_t *running)
{
	if (opts->filter)
		return stage_run_stdin(st, stdin, stdout, running) == 0 ? 0 : 1;
	return stage_run_kafka(st, brokers, running) == 0 ? 0 : 1;
}
