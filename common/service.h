/*
 * What every daemon's main() shares: options (-n, --stdin, -v, --help),
 * signals that set a flag, and the choice between the Kafka loop and the
 * filter mode.
 */
#ifndef WINGMAN_SERVICE_H
#define WINGMAN_SERVICE_H

#include <signal.h>

#include "config.h"
#include "stage.h"

struct service_opts {
	int check_only; /* -n */
	int filter;     /* --stdin */
	int verbose;    /* -v */
};

/*
 * No core dumps, and no ptrace or /proc/PID/mem reads by other processes of
 * the same user: a daemon's memory holds its private key. RLIMIT_CORE 0
 * (hard limit too, so it cannot be raised again) and PR_SET_DUMPABLE 0.
 * Returns 0, or -1 with err set.
 */
int service_no_core_dumps(char *err, size_t errlen);
/*
 * Disables core dumps (above), then parses argv. --help prints usage and the configuration table and exits 0;
 * a bad option prints usage and exits 2. Then loads the configuration and
 * exits 1 naming what is missing.
 */
void service_init(int argc, char **argv, const char *name, const char *summary,
    struct config_var *vars, size_t n, struct service_opts *opts);
/* SIGTERM and SIGINT clear *running; SIGPIPE is ignored. */
void service_signals(volatile sig_atomic_t *running);
/* Runs st in the mode opts asks for. Returns the process exit status. */
int service_run(const struct stage *st, const struct service_opts *opts, const char *brokers,
    volatile sig_atomic_t *running);

#endif
