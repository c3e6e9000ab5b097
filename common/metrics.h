/*
 * Metrics: one table of every metric any daemon exports (name, type, help,
 * labels, who exports it), values kept in one process-wide registry under
 * a mutex (the executor's lanes count from several threads), and the
 * Prometheus text exposition format (version 0.0.4) rendered from it.
 * docs/operations.md holds the table as Markdown; tests/unit/test_metrics.c
 * fails when the two drift.
 */
#ifndef WINGMAN_METRICS_H
#define WINGMAN_METRICS_H

#include <stddef.h>
#include <stdio.h>

#define METRIC_LABELS_MAX 2
#define METRIC_SERIES_MAX 256 /* per metric: past it new label sets are dropped */
#define METRIC_LABEL_VALUE_MAX 96 /* longer values are cut */
#define METRICS_TEXT_MAX (1024 * 1024)

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
	METRIC_AGE, /* a gauge set to a UNIX time, exported as the seconds since */
};

enum metric_id {
	M_MESSAGES_HANDLED,
	M_HANDLER_SECONDS,
	M_DEAD_LETTERS,
	M_CONSUMER_LAG,
	M_ASSIGNED_PARTITIONS,
	M_ASSIGNMENT_KNOWN,
	M_AUDIT_ROWS,
	M_READY,
	M_DOCKER_SECONDS,
	M_LEDGER_CLAIMS,
	M_PENDING_REQUESTS,
	M_PENDING_SOONEST_EXPIRY,
	M_CHECKPOINT_AGE,
	M_COUNT
};

struct metric_def {
	const char *name; /* wingman_... */
	enum metric_type type;
	const char *labels[METRIC_LABELS_MAX + 1]; /* NULL-terminated */
	const double *buckets; /* histograms: upper bounds, ascending, without +Inf */
	size_t nbuckets;
	unsigned used_by; /* SVC_* bits (config.h) */
	const char *help; /* one line */
};

extern const struct metric_def metric_table[M_COUNT];

/*
 * Label values are given in the order of the row's labels (NULL for a row
 * without labels). Every function is safe from any thread and does
 * nothing for a row the process does not export (metrics_init).
 */
void metric_add(enum metric_id id, const char *const *labels, double v); /* counters */
void metric_inc(enum metric_id id, const char *const *labels);
void metric_set(enum metric_id id, const char *const *labels, double v); /* gauges, ages */
void metric_observe(enum metric_id id, const char *const *labels, double v); /* histograms */
/* Removes every series of a row (the lag of partitions no longer assigned). */
void metric_clear(enum metric_id id);
/* The value of a counter or gauge series; -1 when it has none. */
int metric_get(enum metric_id id, const char *const *labels, double *v);

/* Which rows this process exports (SVC_* bits); the others are ignored. Resets values. */
void metrics_init(unsigned process);
/*
 * The text exposition of every exported row, at UNIX time now (for ages).
 * Returns a malloc'd NUL-terminated string (caller frees), or NULL when
 * memory runs out or it would pass METRICS_TEXT_MAX.
 */
char *metrics_render(double now);

/*
 * The class of a dead letter's reason, for a label: its leading code
 * ("TOKEN_EXPIRED: ..." -> "TOKEN_EXPIRED"), or "OTHER" when it does not
 * start with one (upper case, digits and '_', at most 48 bytes, then ':').
 */
void metrics_reason_class(const char *reason, char *out, size_t outlen);

/* Seconds, with fractions: a monotonic clock for durations, the UNIX time for ages. */
double metrics_monotonic_s(void);
double metrics_wall_s(void);

/* The table as the Markdown table of docs/operations.md. */
void metrics_markdown(FILE *out);

#endif
