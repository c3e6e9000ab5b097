/*
 * The Prometheus text rendering (common/metrics.c): HELP and TYPE lines,
 * label escaping, cumulative histogram buckets, ages, what a process does
 * not export, bounded series, counting from several threads, dead-letter
 * reason classes, and docs/operations.md kept in step with the table.
 * Also the WINGMAN_HTTP_ADDR parser (common/http_status.c).
 * Run with --markdown to print the table for docs/operations.md.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "config.h"
#include "http_status.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* The render of the whole registry at time now; the caller frees. */
static char *
render(double now)
{
	char *text = metrics_render(now);

	assert_non_null(text);
	return text;
}

static void
assert_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void
assert_no_text(const char *text, const char *what)
{
	if (strstr(text, what) != NULL)
		fail_msg("\"%s\" should not be in:\n%s", what, text);
}

static void
test_help_and_type_lines(void **state)
{
	char *text;

	(void)state;
	metrics_init(SVC_APPROVAL);
	text = render(0);
	/* Every exported row has both, once, even without a sample yet. */
	assert_has_line(text,
	    "# HELP wingman_messages_handled_total Kafka inputs handled, by input topic and outcome "
	    "(ok, tempfail, permfail)");
	assert_has_line(text, "# TYPE wingman_messages_handled_total counter");
	assert_has_line(text, "# TYPE wingman_handler_duration_seconds histogram");
	assert_has_line(text, "# TYPE wingman_approval_pending_requests gauge");
	/* The executor's and the auditor's rows are not the approval's. */
	assert_no_text(text, "wingman_ledger_claims_total");
	assert_no_text(text, "wingman_audit_checkpoint_age_seconds");
	free(text);
	metrics_init(SVC_AUDITOR);
	text = render(0);
	/* An age is a gauge in the exposition. */
	assert_has_line(text, "# TYPE wingman_audit_checkpoint_age_seconds gauge");
	assert_no_text(text, "wingman_approval_pending_requests");
	free(text);
}

static void
test_counters_and_labels(void **state)
{
	const char *ok[] = { "wingman.orders", "ok", NULL };
	const char *perm[] = { "wingman.orders", "permfail", NULL };
	const char *claimed[] = { "claimed", NULL };
	char *text;
	double v;

	(void)state;
	metrics_init(SVC_EXECUTOR);
	metric_inc(M_MESSAGES_HANDLED, ok);
	metric_inc(M_MESSAGES_HANDLED, ok);
	metric_inc(M_MESSAGES_HANDLED, perm);
	metric_add(M_LEDGER_CLAIMS, claimed, 5);
	metric_add(M_LEDGER_CLAIMS, claimed, -3); /* a counter never goes down */
	text = render(0);
	assert_has_line(text,
	    "wingman_messages_handled_total{topic=\"wingman.orders\",outcome=\"ok\"} 2");
	assert_has_line(text,
	    "wingman_messages_handled_total{topic=\"wingman.orders\",outcome=\"permfail\"} 1");
	assert_has_line(text, "wingman_ledger_claims_total{verdict=\"claimed\"} 5");
	free(text);
	assert_int_equal(metric_get(M_MESSAGES_HANDLED, ok, &v), 0);
	assert_true(v == 2);
	/* Missing labels are refused, not rendered as an empty label set. */
	metric_inc(M_MESSAGES_HANDLED, NULL);
	metric_inc(M_LEDGER_CLAIMS, (const char *[]){ NULL });
	text = render(0);
	assert_no_text(text, "\nwingman_messages_handled_total ");
	assert_no_text(text, "\nwingman_ledger_claims_total ");
	free(text);
	/* Wrong kinds of update do nothing. */
	metric_set(M_LEDGER_CLAIMS, claimed, 100);
	metric_observe(M_LEDGER_CLAIMS, claimed, 1);
	assert_int_equal(metric_get(M_LEDGER_CLAIMS, claimed, &v), 0);
	assert_true(v == 5);
	/* A row another process exports is ignored here. */
	metric_set(M_PENDING_REQUESTS, NULL, 3);
	assert_int_equal(metric_get(M_PENDING_REQUESTS, NULL, &v), -1);
}

static void
test_label_values_escaped(void **state)
{
	const char *hostile[] = { "a\"b\\c\nd", "ok", NULL };
	char *text;

	(void)state;
	metrics_init(SVC_CONSENSUS);
	metric_inc(M_MESSAGES_HANDLED, hostile);
	text = render(0);
	assert_has_line(text,
	    "wingman_messages_handled_total{topic=\"a\\\"b\\\\c\\nd\",outcome=\"ok\"} 1");
	free(text);
}

static void
test_histogram_buckets_cumulative(void **state)
{
	const char *inspect[] = { "inspect", NULL };
	char *text;

	(void)state;
	metrics_init(SVC_EXECUTOR);
	metric_observe(M_DOCKER_SECONDS, inspect, 0.003);
	metric_observe(M_DOCKER_SECONDS, inspect, 0.005); /* on a bound: le is inclusive */
	metric_observe(M_DOCKER_SECONDS, inspect, 0.2);
	metric_observe(M_DOCKER_SECONDS, inspect, 100); /* past the last bound: +Inf only */
	text = render(0);
	assert_has_line(text,
	    "wingman_docker_call_duration_seconds_bucket{action=\"inspect\",le=\"0.001\"} 0");
	assert_has_line(text,
	    "wingman_docker_call_duration_seconds_bucket{action=\"inspect\",le=\"0.005\"} 2");
	assert_has_line(text,
	    "wingman_docker_call_duration_seconds_bucket{action=\"inspect\",le=\"0.25\"} 3");
	assert_has_line(text,
	    "wingman_docker_call_duration_seconds_bucket{action=\"inspect\",le=\"60\"} 3");
	assert_has_line(text,
	    "wingman_docker_call_duration_seconds_bucket{action=\"inspect\",le=\"+Inf\"} 4");
	assert_has_line(text, "wingman_docker_call_duration_seconds_count{action=\"inspect\"} 4");
	assert_has_line(text,
	    "wingman_docker_call_duration_seconds_sum{action=\"inspect\"} 100.208");
	free(text);
}

static void
test_gauges_ages_and_clear(void **state)
{
	char *text;

	(void)state;
	metrics_init(SVC_APPROVAL | SVC_AUDITOR);
	metric_set(M_PENDING_REQUESTS, NULL, 4);
	metric_set(M_PENDING_SOONEST_EXPIRY, NULL, 12.5);
	metric_set(M_CHECKPOINT_AGE, NULL, 1000);
	text = render(1030.25);
	assert_has_line(text, "wingman_approval_pending_requests 4");
	assert_has_line(text, "wingman_approval_pending_soonest_expiry_seconds 12.5");
	assert_has_line(text, "wingman_audit_checkpoint_age_seconds 30.25");
	free(text);
	/* A clock stepped back is no negative age. */
	text = render(900);
	assert_has_line(text, "wingman_audit_checkpoint_age_seconds 0");
	free(text);
	metric_clear(M_PENDING_SOONEST_EXPIRY);
	text = render(1030);
	assert_no_text(text, "\nwingman_approval_pending_soonest_expiry_seconds ");
	assert_has_line(text, "wingman_approval_pending_requests 4");
	free(text);
}

/* Label values from the network cannot grow the registry without bound. */
static void
test_series_bounded(void **state)
{
	char name[32], *text;
	double v;

	(void)state;
	metrics_init(SVC_AUDITOR);
	for (int i = 0; i < METRIC_SERIES_MAX + 50; i++) {
		const char *labels[] = { name, NULL };
		snprintf(name, sizeof(name), "CLASS_%d", i);
		metric_inc(M_DEAD_LETTERS, labels);
	}
	assert_int_equal(metric_get(M_DEAD_LETTERS, (const char *[]){ "CLASS_0", NULL }, &v), 0);
	assert_int_equal(metric_get(M_DEAD_LETTERS, (const char *[]){ "CLASS_300", NULL }, &v), -1);
	text = render(0);
	assert_no_text(text, "CLASS_256\"");
	free(text);
}

#define THREADS 8
#define PER_THREAD 20000

static void *
count_many(void *arg)
{
	const char *labels[] = { "claimed", NULL };

	(void)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		metric_inc(M_LEDGER_CLAIMS, labels);
		metric_observe(M_DOCKER_SECONDS, (const char *[]){ "ps", NULL }, 0.01);
	}
	return NULL;
}

/* The executor's lanes count at once: no increment may be lost. */
static void
test_thread_safe(void **state)
{
	pthread_t t[THREADS];
	char *text, line[128];
	double v;

	(void)state;
	metrics_init(SVC_EXECUTOR);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, count_many, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(metric_get(M_LEDGER_CLAIMS, (const char *[]){ "claimed", NULL }, &v), 0);
	assert_true(v == THREADS * PER_THREAD);
	text = render(0);
	snprintf(line, sizeof(line), "wingman_docker_call_duration_seconds_count{action=\"ps\"} %d",
	    THREADS * PER_THREAD);
	assert_has_line(text, line);
	free(text);
}

static void
test_reason_class(void **state)
{
	char c[64];

	(void)state;
	metrics_reason_class("TOKEN_EXPIRED: token abc expired", c, sizeof(c));
	assert_string_equal(c, "TOKEN_EXPIRED");
	metrics_reason_class("MSG_V2_FIELD: x", c, sizeof(c));
	assert_string_equal(c, "MSG_V2_FIELD");
	/* No code, a code not ended by ':', lower case, too long, a digit first: OTHER. */
	metrics_reason_class("something broke", c, sizeof(c));
	assert_string_equal(c, "OTHER");
	metrics_reason_class("TOKEN_EXPIRED", c, sizeof(c));
	assert_string_equal(c, "OTHER");
	metrics_reason_class("Token: x", c, sizeof(c));
	assert_string_equal(c, "OTHER");
	metrics_reason_class("A234567890123456789012345678901234567890123456789: x", c, sizeof(c));
	assert_string_equal(c, "OTHER");
	metrics_reason_class("9LIVES: x", c, sizeof(c));
	assert_string_equal(c, "OTHER");
	metrics_reason_class("", c, sizeof(c));
	assert_string_equal(c, "OTHER");
	metrics_reason_class(NULL, c, sizeof(c));
	assert_string_equal(c, "OTHER");
}

static void
test_http_addr(void **state)
{
	static const char *const bad[] = { "", "nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", ":9101", "[::1]9101", "[::1", "a:b:9101", "127.0.0.1:91x",
		"127.0.0.1:-1", NULL };
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	(void)state;
	for (const char *const *b = bad; *b; b++) {
		err[0] = '\0';
		if (http_addr_parse(*b, &ss, &len, err, sizeof(err)) == 0)
			fail_msg("\"%s\" was accepted", *b);
		assert_non_null(strstr(err, "CONFIG_INVALID: WINGMAN_HTTP_ADDR"));
	}
	assert_int_equal(http_addr_parse("127.0.0.1:9101", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9101);
	assert_int_equal(http_addr_parse("0.0.0.0:1", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(http_addr_parse("[::1]:9101", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
}

/* docs/operations.md holds the table exactly as metrics_markdown prints it. */
static void
test_docs_match_table(void **state)
{
	const char *src = getenv("WINGMAN_SOURCE_DIR");
	char path[4096], *doc = NULL, *table = NULL;
	size_t doclen = 0, len = 0;
	FILE *f;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/docs/operations.md", src);
	assert_int_equal(read_file(path, 1 << 20, &doc, &doclen), 0);
	assert_non_null(f = open_memstream(&table, &len));
	metrics_markdown(f);
	fclose(f);
	if (strstr(doc, table) == NULL)
		fail_msg("docs/operations.md does not hold the metrics table; replace it with the "
		         "output of test_metrics --markdown:\n%s",
		    table);
	free(table);
	free(doc);
}

static void
test_table_consistent(void **state)
{
	(void)state;
	for (int i = 0; i < M_COUNT; i++) {
		const struct metric_def *d = &metric_table[i];
		size_t n = strlen(d->name);

		assert_non_null(d->name);
		assert_non_null(d->help);
		assert_true(strncmp(d->name, "wingman_", 8) == 0);
		assert_true(d->used_by != 0 && (d->used_by & ~(unsigned)SVC_DAEMONS) == 0);
		/* Counters end in _total, and only they do. */
		assert_int_equal(d->type == METRIC_COUNTER,
		    n > 6 && strcmp(d->name + n - 6, "_total") == 0);
		if (d->type == METRIC_HISTOGRAM) {
			assert_true(d->nbuckets > 0);
			for (size_t b = 1; b < d->nbuckets; b++)
				assert_true(d->buckets[b] > d->buckets[b - 1]);
		}
		for (int j = 0; j < i; j++)
			assert_string_not_equal(metric_table[j].name, d->name);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_and_type_lines),
		cmocka_unit_test(test_counters_and_labels),
		cmocka_unit_test(test_label_values_escaped),
		cmocka_unit_test(test_histogram_buckets_cumulative),
		cmocka_unit_test(test_gauges_ages_and_clear),
		cmocka_unit_test(test_series_bounded),
		cmocka_unit_test(test_thread_safe),
		cmocka_unit_test(test_reason_class),
		cmocka_unit_test(test_http_addr),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_docs_match_table),
	};

	if (argc == 2 && strcmp(argv[1], "--markdown") == 0) {
		metrics_markdown(stdout);
		return 0;
	}
	log_init("test", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
