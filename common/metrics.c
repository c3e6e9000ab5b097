#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

/* Seconds: a Kafka handler or a Docker call, from a cache hit to a slow engine. */
static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60 };
#define LATENCY_BUCKETS (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

/*
 * Every metric any daemon exports. docs/operations.md holds this table as
 * Markdown; tests/unit/test_metrics.c fails when the two drift.
 */
const struct metric_def metric_table[M_COUNT] = {
	[M_MESSAGES_HANDLED] = { "wingman_messages_handled_total", METRIC_COUNTER,
	    { "topic", "outcome", NULL }, NULL, 0, SVC_DAEMONS,
	    "Kafka inputs handled, by input topic and outcome (ok, tempfail, permfail)" },
	[M_HANDLER_SECONDS] = { "wingman_handler_duration_seconds", METRIC_HISTOGRAM,
	    { "topic", NULL }, latency_buckets, LATENCY_BUCKETS, SVC_DAEMONS,
	    "Time the stage's handler took for one input, by input topic" },
	[M_DEAD_LETTERS] = { "wingman_dead_letters_total", METRIC_COUNTER, { "reason_class", NULL },
	    NULL, 0, SVC_DAEMONS,
	    "Dead letters published, by the code their reason starts with (OTHER: none)" },
	[M_CONSUMER_LAG] = { "wingman_kafka_consumer_lag", METRIC_GAUGE,
	    { "topic", "partition", NULL }, NULL, 0, SVC_DAEMONS,
	    "Messages between the consumer's position and the high watermark, per assigned "
	    "partition" },
	[M_ASSIGNED_PARTITIONS] = { "wingman_kafka_assigned_partitions", METRIC_GAUGE, { NULL },
	    NULL, 0, SVC_DAEMONS, "Partitions the consumer group assigned to this member" },
	[M_ASSIGNMENT_KNOWN] = { "wingman_kafka_assignment_known", METRIC_GAUGE, { NULL }, NULL, 0,
	    SVC_DAEMONS,
	    "1 once the consumer group has given this member its assignment (maybe empty), 0 "
	    "while joining or after a revoke" },
	[M_AUDIT_ROWS] = { "wingman_audit_rows_written_total", METRIC_COUNTER, { "sink", NULL },
	    NULL, 0, SVC_DAEMONS,
	    "Audit rows written, by sink (postgresql, jsonl); rows within a caller's "
	    "transaction count when appended" },
	[M_READY] = { "wingman_ready", METRIC_GAUGE, { NULL }, NULL, 0, SVC_DAEMONS,
	    "1 when /healthz answers 200 (assigned, stores answer), else 0" },
	[M_DOCKER_SECONDS] = { "wingman_docker_call_duration_seconds", METRIC_HISTOGRAM,
	    { "action", NULL }, latency_buckets, LATENCY_BUCKETS, SVC_EXECUTOR,
	    "Time one command took at the Docker Engine API, by action (ps, inspect, restart, "
	    "...)" },
	[M_LEDGER_CLAIMS] = { "wingman_ledger_claims_total", METRIC_COUNTER, { "verdict", NULL },
	    NULL, 0, SVC_EXECUTOR,
	    "Single-use token claims, by the ledger's verdict (claimed, done, void, replayed, "
	    "interrupted, busy, unavailable)" },
	[M_PENDING_REQUESTS] = { "wingman_approval_pending_requests", METRIC_GAUGE, { NULL }, NULL,
	    0, SVC_APPROVAL, "Requests waiting for human approval (from the approval store)" },
	[M_PENDING_SOONEST_EXPIRY] = { "wingman_approval_pending_soonest_expiry_seconds",
	    METRIC_GAUGE, { NULL }, NULL, 0, SVC_APPROVAL,
	    "Seconds until the first pending request expires; absent when none is pending" },
	[M_CHECKPOINT_AGE] = { "wingman_audit_checkpoint_age_seconds", METRIC_AGE, { NULL }, NULL,
	    0, SVC_AUDITOR,
	    "Seconds since this auditor last wrote a signed audit checkpoint; absent before the "
	    "first" },
};

struct series {
	char labels[METRIC_LABELS_MAX][METRIC_LABEL_VALUE_MAX + 1];
	uint64_t count; /* counters; histograms: observations */
	double value; /* gauges, ages; histograms: sum */
	uint64_t *buckets; /* histograms: per bucket, not cumulative */
};

struct family {
	struct series **s;
	size_t n, cap;
	int dropped_logged;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family families[M_COUNT];
static unsigned exported;

static size_t
nlabels(const struct metric_def *d)
{
	size_t n = 0;

	while (n < METRIC_LABELS_MAX && d->labels[n] != NULL)
		n++;
	return n;
}

static void
family_free(struct family *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->s[i]->buckets);
		free(f->s[i]);
	}
	free(f->s);
	memset(f, 0, sizeof(*f));
}

void
metrics_init(unsigned process)
{
	pthread_mutex_lock(&metrics_lock);
	for (int i = 0; i < M_COUNT; i++)
		family_free(&families[i]);
	exported = process;
	pthread_mutex_unlock(&metrics_lock);
}

static int
same_labels(const struct series *s, size_t n, const char *const *labels)
{
	for (size_t k = 0; k < n; k++)
		if (strncmp(s->labels[k], labels[k], METRIC_LABEL_VALUE_MAX) != 0)
			return 0;
	return 1;
}

/* The series of labels, made when new; NULL when not exported or full. Lock held. */
static struct series *
series_of(enum metric_id id, const char *const *labels)
{
	const struct metric_def *d;
	struct family *f;
	struct series *s;
	size_t n;

	if ((unsigned)id >= M_COUNT || (metric_table[id].used_by & exported) == 0)
		return NULL;
	d = &metric_table[id];
	f = &families[id];
	n = nlabels(d);
	for (size_t k = 0; k < n; k++)
		if (labels == NULL || labels[k] == NULL)
			return NULL;
	for (size_t i = 0; i < f->n; i++)
		if (same_labels(f->s[i], n, labels))
			return f->s[i];
	if (f->n >= METRIC_SERIES_MAX) {
		if (!f->dropped_logged)
			log_warnx("event=metric_series_dropped metric=%s limit=%d", d->name,
			    METRIC_SERIES_MAX);
		f->dropped_logged = 1;
		return NULL;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		void *grown = realloc(f->s, cap * sizeof(*f->s));
		if (grown == NULL)
			return NULL;
		f->s = grown;
		f->cap = cap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (d->type == METRIC_HISTOGRAM &&
	    (s->buckets = calloc(d->nbuckets, sizeof(*s->buckets))) == NULL) {
		free(s);
		return NULL;
	}
	for (size_t k = 0; k < n; k++)
		snprintf(s->labels[k], sizeof(s->labels[k]), "%s", labels[k]);
	f->s[f->n++] = s;
	return s;
}

void
metric_add(enum metric_id id, const char *const *labels, double v)
{
	struct series *s;

	if (v < 0 || (unsigned)id >= M_COUNT || metric_table[id].type != METRIC_COUNTER)
		return;
	pthread_mutex_lock(&metrics_lock);
	if ((s = series_of(id, labels)) != NULL)
		s->count += (uint64_t)v;
	pthread_mutex_unlock(&metrics_lock);
}

void
metric_inc(enum metric_id id, const char *const *labels)
{
	metric_add(id, labels, 1);
}

void
metric_set(enum metric_id id, const char *const *labels, double v)
{
	struct series *s;

	if ((unsigned)id >= M_COUNT ||
	    (metric_table[id].type != METRIC_GAUGE && metric_table[id].type != METRIC_AGE))
		return;
	pthread_mutex_lock(&metrics_lock);
	if ((s = series_of(id, labels)) != NULL)
		s->value = v;
	pthread_mutex_unlock(&metrics_lock);
}

void
metric_observe(enum metric_id id, const char *const *labels, double v)
{
	const struct metric_def *d;
	struct series *s;

	if ((unsigned)id >= M_COUNT || metric_table[id].type != METRIC_HISTOGRAM || isnan(v))
		return;
	d = &metric_table[id];
	pthread_mutex_lock(&metrics_lock);
	if ((s = series_of(id, labels)) != NULL) {
		size_t b = 0;

		while (b < d->nbuckets && v > d->buckets[b])
			b++;
		if (b < d->nbuckets)
			s->buckets[b]++;
		s->count++;
		s->value += v;
	}
	pthread_mutex_unlock(&metrics_lock);
}

void
metric_clear(enum metric_id id)
{
	if ((unsigned)id >= M_COUNT)
		return;
	pthread_mutex_lock(&metrics_lock);
	family_free(&families[id]);
	pthread_mutex_unlock(&metrics_lock);
}

int
metric_get(enum metric_id id, const char *const *labels, double *v)
{
	const struct metric_def *d;
	struct family *f;
	int rc = -1;

	if ((unsigned)id >= M_COUNT)
		return -1;
	d = &metric_table[id];
	f = &families[id];
	for (size_t k = 0; k < nlabels(d); k++)
		if (labels == NULL || labels[k] == NULL)
			return -1;
	pthread_mutex_lock(&metrics_lock);
	for (size_t i = 0; i < f->n; i++) {
		size_t n = nlabels(d);

		if (n > 0 && (labels == NULL || !same_labels(f->s[i], n, labels)))
			continue;
		*v = d->type == METRIC_COUNTER ? (double)f->s[i]->count : f->s[i]->value;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&metrics_lock);
	return rc;
}

void
metrics_reason_class(const char *reason, char *out, size_t outlen)
{
	size_t n = 0;

	while (reason != NULL && n < 48 &&
	    ((reason[n] >= 'A' && reason[n] <= 'Z') || (reason[n] >= '0' && reason[n] <= '9') ||
	        reason[n] == '_'))
		n++;
	if (n == 0 || reason[n] != ':' || reason[0] < 'A' || reason[0] > 'Z') {
		snprintf(out, outlen, "OTHER");
		return;
	}
	snprintf(out, outlen, "%.*s", (int)n, reason);
}

double
metrics_monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
metrics_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- text exposition ---- */

/* A bounded growing buffer: failed is set once it ran out or passed the limit. */
struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void
text_put(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > METRICS_TEXT_MAX) {
		t->failed = 1;
		return;
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *grown;

		while (cap < t->len + n + 1)
			cap *= 2;
		if ((grown = realloc(t->buf, cap)) == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void
text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* HELP text escapes \ and newline; label values also escape ". */
static void
text_escaped(struct text *t, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			text_put(t, "\\\\", 2);
		else if (*s == '\n')
			text_put(t, "\\n", 2);
		else if (*s == '"' && quote)
			text_put(t, "\\\"", 2);
		else
			text_put(t, s, 1);
	}
}

static void
text_double(struct text *t, double v)
{
	char num[64];

	if (isnan(v))
		snprintf(num, sizeof(num), "NaN");
	else if (isinf(v))
		snprintf(num, sizeof(num), "%s", v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(num, sizeof(num), "%.15g", v);
	text_str(t, num);
}

/*
 * name{l1="v1",l2="v2",le="x"} value: le (histogram buckets) may be NULL;
 * suffix is "_bucket", "_sum", "_count" or "".
 */
static void
text_sample(struct text *t, const struct metric_def *d, const char *suffix, const struct series *s,
    const char *le)
{
	size_t n = nlabels(d);

	text_str(t, d->name);
	text_str(t, suffix);
	if (n > 0 || le != NULL) {
		text_put(t, "{", 1);
		for (size_t k = 0; k < n; k++) {
			if (k > 0)
				text_put(t, ",", 1);
			text_str(t, d->labels[k]);
			text_put(t, "=\"", 2);
			text_escaped(t, s->labels[k], 1);
			text_put(t, "\"", 1);
		}
		if (le != NULL) {
			if (n > 0)
				text_put(t, ",", 1);
			text_str(t, "le=\"");
			text_str(t, le);
			text_put(t, "\"", 1);
		}
		text_put(t, "}", 1);
	}
	text_put(t, " ", 1);
}

static void
render_series(struct text *t, const struct metric_def *d, const struct series *s, double now)
{
	char num[64];
	uint64_t cumulative = 0;

	switch (d->type) {
	case METRIC_COUNTER:
		text_sample(t, d, "", s, NULL);
		snprintf(num, sizeof(num), "%llu\n", (unsigned long long)s->count);
		text_str(t, num);
		break;
	case METRIC_GAUGE:
		text_sample(t, d, "", s, NULL);
		text_double(t, s->value);
		text_put(t, "\n", 1);
		break;
	case METRIC_AGE:
		text_sample(t, d, "", s, NULL);
		/* A clock stepped back shows 0, not a negative age. */
		text_double(t, now > s->value ? now - s->value : 0);
		text_put(t, "\n", 1);
		break;
	case METRIC_HISTOGRAM:
		for (size_t b = 0; b < d->nbuckets; b++) {
			char le[32];

			cumulative += s->buckets[b];
			snprintf(le, sizeof(le), "%g", d->buckets[b]);
			text_sample(t, d, "_bucket", s, le);
			snprintf(num, sizeof(num), "%llu\n", (unsigned long long)cumulative);
			text_str(t, num);
		}
		text_sample(t, d, "_bucket", s, "+Inf");
		snprintf(num, sizeof(num), "%llu\n", (unsigned long long)s->count);
		text_str(t, num);
		text_sample(t, d, "_sum", s, NULL);
		text_double(t, s->value);
		text_put(t, "\n", 1);
		text_sample(t, d, "_count", s, NULL);
		text_str(t, num);
		break;
	}
}

char *
metrics_render(double now)
{
	static const char *const types[] = { "counter", "gauge", "histogram", "gauge" };
	struct text t = { 0 };

	text_str(&t, ""); /* an empty exposition is still a string */
	pthread_mutex_lock(&metrics_lock);
	for (int i = 0; i < M_COUNT; i++) {
		const struct metric_def *d = &metric_table[i];
		const struct family *f = &families[i];

		if ((d->used_by & exported) == 0)
			continue;
		text_str(&t, "# HELP ");
		text_str(&t, d->name);
		text_put(&t, " ", 1);
		text_escaped(&t, d->help, 0);
		text_str(&t, "\n# TYPE ");
		text_str(&t, d->name);
		text_put(&t, " ", 1);
		text_str(&t, types[d->type]);
		text_put(&t, "\n", 1);
		for (size_t j = 0; j < f->n; j++)
			render_series(&t, d, f->s[j], now);
	}
	pthread_mutex_unlock(&metrics_lock);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

void
metrics_markdown(FILE *out)
{
	static const char *const types[] = { "counter", "gauge", "histogram", "gauge (age)" };
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ SVC_CONSENSUS, "consensus" },
		{ SVC_APPROVAL, "approval" },
		{ SVC_TOKEN, "token" },
		{ SVC_EXECUTOR, "executor" },
		{ SVC_TELEGRAM, "telegram" },
		{ SVC_AUDITOR, "auditor" },
	};

	fprintf(out, "| metric | type | labels | exported by | meaning |\n");
	fprintf(out, "|---|---|---|---|---|\n");
	for (int i = 0; i < M_COUNT; i++) {
		const struct metric_def *d = &metric_table[i];
		size_t n = nlabels(d);
		int first = 1;

		fprintf(out, "| `%s` | %s | ", d->name, types[d->type]);
		for (size_t k = 0; k < n; k++)
			fprintf(out, "%s`%s`", k ? ", " : "", d->labels[k]);
		if (d->type == METRIC_HISTOGRAM)
			fprintf(out, "%s`le`", n ? ", " : "");
		if (n == 0 && d->type != METRIC_HISTOGRAM)
			fprintf(out, "-");
		fprintf(out, " | ");
		if ((d->used_by & SVC_DAEMONS) == SVC_DAEMONS) {
			fprintf(out, "all daemons");
		} else {
			for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
				if (d->used_by & names[k].bit) {
					fprintf(out, "%s%s", first ? "" : ", ", names[k].name);
					first = 0;
				}
		}
		fprintf(out, " | %s |\n", d->help);
	}
}
