/*
 * WINGMAN_KAFKA_CONFIG (common/stage.c kafka_conf_new): the librdkafka
 * properties file every Kafka client of a process starts from. Comments and
 * blank lines are skipped, values are taken as written, the settings Wingman
 * relies on win over the file, and a file that cannot be read or holds a
 * line librdkafka refuses stops the client from being made at all, with an
 * error that never quotes a secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stage.h"

static char path[64];

static void
write_file(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/wingman-kafka-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	setenv("WINGMAN_KAFKA_CONFIG", path, 1);
}

static int
teardown(void **state)
{
	(void)state;
	if (path[0] != '\0')
		unlink(path);
	path[0] = '\0';
	unsetenv("WINGMAN_KAFKA_CONFIG");
	return 0;
}

static void
get(rd_kafka_conf_t *conf, const char *name, char *out, size_t outlen)
{
	size_t n = outlen;

	assert_int_equal(rd_kafka_conf_get(conf, name, out, &n), RD_KAFKA_CONF_OK);
}

static void
unset_means_brokers_only(void **state)
{
	char err[256], v[256];
	rd_kafka_conf_t *conf;

	(void)state;
	unsetenv("WINGMAN_KAFKA_CONFIG");
	conf = kafka_conf_new("kafka:9092", err, sizeof(err));
	assert_non_null(conf);
	get(conf, "bootstrap.servers", v, sizeof(v));
	assert_string_equal(v, "kafka:9092");
	get(conf, "security.protocol", v, sizeof(v));
	assert_string_equal(v, "plaintext");
	rd_kafka_conf_destroy(conf);
}

static void
file_is_applied(void **state)
{
	char err[256], v[256];
	rd_kafka_conf_t *conf;

	(void)state;
	write_file("# the agent's credentials\n"
	           "\n"
	           "security.protocol = SASL_PLAINTEXT\r\n"
	           "  sasl.mechanism=SCRAM-SHA-512\n"
	           "sasl.username=agent\n"
	           "sasl.password=p=ss word#1\n"
	           "bootstrap.servers=elsewhere:1\n");
	conf = kafka_conf_new("kafka:9092", err, sizeof(err));
	assert_non_null(conf);
	get(conf, "security.protocol", v, sizeof(v));
	assert_string_equal(v, "sasl_plaintext");
	get(conf, "sasl.mechanisms", v, sizeof(v));
	assert_string_equal(v, "SCRAM-SHA-512");
	get(conf, "sasl.username", v, sizeof(v));
	assert_string_equal(v, "agent");
	/* Everything after the first '=' is the value, '#' and spaces included. */
	get(conf, "sasl.password", v, sizeof(v));
	assert_string_equal(v, "p=ss word#1");
	/* WINGMAN_KAFKA_BROKERS wins over the file. */
	get(conf, "bootstrap.servers", v, sizeof(v));
	assert_string_equal(v, "kafka:9092");
	rd_kafka_conf_destroy(conf);
}

static void
missing_file_fails(void **state)
{
	char err[256];

	(void)state;
	setenv("WINGMAN_KAFKA_CONFIG", "/nonexistent/wingman-kafka.properties", 1);
	assert_null(kafka_conf_new("kafka:9092", err, sizeof(err)));
	assert_non_null(strstr(err, "WINGMAN_KAFKA_CONFIG"));
	assert_non_null(strstr(err, "/nonexistent/wingman-kafka.properties"));
}

static void
bad_lines_fail(void **state)
{
	char err[256];

	(void)state;
	write_file("security.protocol=SASL_SSL\nthis line has no equals sign\n");
	assert_null(kafka_conf_new("kafka:9092", err, sizeof(err)));
	assert_non_null(strstr(err, ":2: not KEY=VALUE"));
	unlink(path);

	write_file("no.such.property=1\n");
	assert_null(kafka_conf_new("kafka:9092", err, sizeof(err)));
	assert_non_null(strstr(err, ":1:"));
	unlink(path);

	/* A producer or consumer is not made half-configured either. */
	write_file("security.protocol=carrier-pigeon\n");
	assert_null(kafka_producer_new("kafka:9092", err, sizeof(err)));
	assert_non_null(strstr(err, "security.protocol"));
}

static void
secrets_are_not_quoted(void **state)
{
	char err[256];

	(void)state;
	/* A Java client's line: librdkafka has no such property; the value is a secret. */
	write_file("sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
	           "required username=\"agent\" password=\"hunter2\";\n");
	assert_null(kafka_conf_new("kafka:9092", err, sizeof(err)));
	assert_null(strstr(err, "hunter2"));
	assert_non_null(strstr(err, "sasl.jaas.config"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(unset_means_brokers_only, teardown),
		cmocka_unit_test_teardown(file_is_applied, teardown),
		cmocka_unit_test_teardown(missing_file_fails, teardown),
		cmocka_unit_test_teardown(bad_lines_fail, teardown),
		cmocka_unit_test_teardown(secrets_are_not_quoted, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
