#include "service.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "log.h"
#include "metrics.h"

static volatile sig_atomic_t *service_running;

static void
on_signal(int sig)
{
	(void)sig;
	if (service_running != NULL)
		*service_running = 0;
}

static void
usage(FILE *out, const struct service *svc)
{
	fprintf(out,
	    "usage: %s [-n] [-v] [--stdin]\n"
	    "\n%s\n\n"
	    "  -n        check the configuration, print \"configuration OK\", exit\n"
	    "  -v        verbose logging; with -n, also print the effective configuration\n"
	    "            (secrets as <set> or <unset>)\n"
	    "  --stdin   filter mode: read {\"topic\",\"key\",\"value\"} records from standard\n"
	    "            input, handle those of the consumed topics, write what would be\n"
	    "            published to standard output, pass every other record through\n"
	    "  --help    this text\n"
	    "\nKeys (in WINGMAN_KEYS_DIR): %s\n",
	    svc->name, svc->summary, svc->keys);
	config_usage(out, svc->process);
}

/* SIGTERM and SIGINT clear *running; SIGPIPE is ignored. */
static void
signals(volatile sig_atomic_t *running)
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

/* Parses argv into opts; --help and bad options exit here. */
static void
options(const struct service *svc, int argc, char **argv, struct service_opts *opts)
{
	static const struct option longopts[] = {
		{ "stdin", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(opts, 0, sizeof(*opts));
	while ((ch = getopt_long(argc, argv, "nv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			opts->check_only = 1;
			break;
		case 'v':
			opts->verbose = 1;
			break;
		case 's':
			opts->filter = 1;
			break;
		case 'h':
			usage(stdout, svc);
			exit(0);
		default:
			usage(stderr, svc);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr, svc);
		exit(2);
	}
}

int
service_main(const struct service *svc, int argc, char **argv)
{
	static volatile sig_atomic_t running = 1;
	struct service_run run;
	struct http_status *http = NULL;
	struct config cfg;
	char err[512] = "";
	int rc = 1;

	/* Before any key is read: a crash must not write one to disk. */
	if (service_no_core_dumps(err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 1;
	}
	memset(&run, 0, sizeof(run));
	options(svc, argc, argv, &run.opts);
	log_init(svc->name, run.opts.verbose);
	if (config_load(&cfg, svc->process, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", svc->name, err);
		return 1;
	}
	metrics_init(svc->process);
	if (*config_str(&cfg, CFG_HTTP_ADDR) != '\0') {
		struct sockaddr_storage ss;
		socklen_t sslen;

		if (http_addr_parse(config_str(&cfg, CFG_HTTP_ADDR), &ss, &sslen, err,
		        sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", svc->name, err);
			return 1;
		}
	}
	run.cfg = &cfg;
	run.running = &running;
	run.st = (struct stage){ .name = svc->name,
		.group = svc->name,
		.topics = svc->topics,
		.handle = svc->handle,
		.tick = svc->tick,
		.tick_delivered = svc->tick_delivered,
		.tick_interval_ms = svc->tick_interval_ms,
		.ctx = svc->ctx };
	if (svc->setup(svc->ctx, &run, err, sizeof(err)) != 0)
		goto fail;
	if (run.opts.check_only) {
		if (run.opts.verbose)
			config_print(stdout, &cfg);
		puts("configuration OK");
		rc = 0;
		goto done;
	}
	/*
	 * Serving before the stores open: /healthz says 503 until the group
	 * has assigned partitions and the stores answer. Not in filter mode.
	 */
	if (*config_str(&cfg, CFG_HTTP_ADDR) != '\0' && !run.opts.filter &&
	    (http = http_status_start(config_str(&cfg, CFG_HTTP_ADDR),
	         config_str(&cfg, CFG_PG_CONNINFO), svc->health, svc->ctx, err, sizeof(err))) ==
	        NULL)
		goto fail;
	if ((*svc->audit = audit_open(svc->name, config_str(&cfg, CFG_PG_CONNINFO),
	         config_str(&cfg, CFG_AUDIT_JSONL), err, sizeof(err))) == NULL)
		goto fail;
	run.st.audit = *svc->audit; /* a batch's audit rows: one transaction */
	if (svc->open != NULL && svc->open(svc->ctx, &run, err, sizeof(err)) != 0)
		goto fail;
	signals(&running);
	if (run.opts.filter)
		rc = stage_run_stdin(&run.st, stdin, stdout, &running) == 0 ? 0 : 1;
	else
		rc = stage_run_kafka(&run.st, config_str(&cfg, CFG_KAFKA_BROKERS), &running) == 0
		    ? 0
		    : 1;
	if (svc->stop != NULL)
		svc->stop(svc->ctx, &run);
done:
	http_status_stop(http); /* its health hook uses ctx */
	svc->close(svc->ctx);
	return rc;
fail:
	http_status_stop(http);
	svc->close(svc->ctx);
	fatalx("%s", err);
}
