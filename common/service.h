/*
 * What every daemon's main() does, once: core dumps off, options (-n, -v,
 * --stdin, --help), logging, the configuration table, the service's own
 * setup, signals that set a flag, the Kafka loop or the filter mode, and
 * one cleanup path. A main.c is a descriptor and the service's own setup.
 */
#ifndef WINGMAN_SERVICE_H
#define WINGMAN_SERVICE_H

#include <signal.h>

#include "audit.h"
#include "config.h"
#include "http_status.h"
#include "stage.h"

struct service_opts {
	int check_only; /* -n */
	int filter; /* --stdin */
	int verbose; /* -v */
};

/* What service_main hands to the hooks of a service. */
struct service_run {
	const struct config *cfg;
	struct service_opts opts;
	volatile sig_atomic_t *running; /* cleared by SIGTERM and SIGINT */
	struct stage st; /* setup may change st.tick_interval_ms and st.ctx */
};

struct service {
	const char *name; /* "wingman-approval": log name, consumer group */
	unsigned process; /* SVC_*: its rows of the configuration table */
	const char *summary; /* --help */
	const char *keys; /* --help: what it reads from WINGMAN_KEYS_DIR */
	const char *const *topics; /* consumed, NULL-terminated */
	stage_handler_fn handle;
	stage_tick_fn tick; /* may be NULL */
	stage_tick_delivered_fn tick_delivered; /* may be NULL */
	int tick_interval_ms;
	void *ctx; /* handed to every hook and to the handler */
	/*
	 * Where service_main puts the audit writer (WINGMAN_PG_CONNINFO and
	 * WINGMAN_AUDIT_JSONL, under name) it opens after -n, before open;
	 * close releases it.
	 */
	struct audit **audit;
	/* What -n checks: files, keys, the policy; no connection. Returns 0 or -1 with err. */
	int (*setup)(void *ctx, struct service_run *run, char *err, size_t errlen);
	/* After -n: connections, the audit writer, threads. May be NULL. */
	int (*open)(void *ctx, struct service_run *run, char *err, size_t errlen);
	/* After the loop has ended, before close. May be NULL. */
	void (*stop)(void *ctx, struct service_run *run);
	/*
	 * Optional: a check of stores only the service knows (the executor's
	 * Redis and Docker) for GET /healthz, on the status thread with handles
	 * of its own. Returns 0, or -1 with a one-line reason. See http_status.h.
	 */
	int (*health)(void *ctx, char *reason, size_t reasonlen);
	/* Releases whatever setup and open made, however far they got. */
	void (*close)(void *ctx);
};

/*
 * Runs a daemon; returns its exit status. --help prints usage with the
 * configuration table and exits 0; a bad option exits 2; a missing or
 * malformed variable exits 1 naming it; a failed setup or open exits 1
 * with its message (level=fatal). -n prints "configuration OK" after setup
 * (-n -v also prints the effective configuration, secrets as set/unset).
 */
int service_main(const struct service *svc, int argc, char **argv);

/*
 * No core dumps, and no ptrace or /proc/PID/mem reads by other processes of
 * the same user: a daemon's memory holds its private key. RLIMIT_CORE 0
 * (hard limit too, so it cannot be raised again) and PR_SET_DUMPABLE 0.
 * Returns 0, or -1 with err set.
 */
int service_no_core_dumps(char *err, size_t errlen);

#endif
