/*
 * wingman-kafka-setup: makes a broker ready for the pipeline, with the Kafka
 * Admin API of librdkafka (one process, well under a second, where the Java
 * tools take a JVM start per ACL). Run by docker-compose.yml's kafka-setup
 * job as a super user (WINGMAN_KAFKA_CONFIG: its SASL credentials):
 *
 *   wingman-kafka-setup [--partitions N] [--replication-factor N]
 *       [--min-insync-replicas N] ACL_FILE
 *
 * 0. waits until the cluster lists as many brokers as the replication factor;
 * 1. creates the nine wingman.* topics that do not exist yet;
 * 2. creates the ACLs of ACL_FILE (deploy/kafka/acls), lines of
 *      PRINCIPAL consume TOPIC... group=GROUP | group-prefix=PREFIX
 *      PRINCIPAL produce TOPIC...
 *    consume is Read and Describe on the topics and the group (a prefixed
 *    group pattern for group-prefix=); produce is Write and Describe, and
 *    IdempotentWrite on the cluster: Kafka 3 implies it from Write on a
 *    topic, but a producer that asks while the broker is still loading
 *    was seen refused (CLUSTER_AUTHORIZATION_FAILED, fatal to an
 *    idempotent producer), so it is granted explicitly.
 *      PRINCIPAL none         (managed, with no ACL: step 3 removes all of its)
 *    An ACL_FILE without ACL lines skips this step (a broker without an
 *    authorizer, e.g. tests/integration/test_tls.sh's).
 * 3. reconciles: every ACL of a principal named in the file (the managed
 *    principals) that the file does not give is deleted, so a line or a
 *    topic dropped from the file is revoked at the next run. Principals the
 *    file does not name (admin, the broker, an operator's own) are left as
 *    they are.
 * All steps are idempotent. A file with an error changes nothing. Exits 0
 * when everything was applied, 1 otherwise (each failure on standard
 * error), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "msg.h"
#include "stage.h"

#define MAX_BINDINGS 512
#define TIMEOUT_MS 30000

static const char *const topics[] = { TOPIC_REQUESTS, TOPIC_ASSESSMENTS, TOPIC_HUMAN_DECISIONS,
	TOPIC_APPROVAL_PROMPTS, TOPIC_DECISIONS, TOPIC_ORDERS, TOPIC_RESULTS, TOPIC_DLQ,
	TOPIC_AUDIT_CHECKPOINTS };
#define N_TOPICS (sizeof(topics) / sizeof(topics[0]))

static rd_kafka_AclBinding_t *bindings[MAX_BINDINGS];
static char *binding_keys[MAX_BINDINGS]; /* to make each ACL once */
static size_t n_bindings;
static char *managed[MAX_BINDINGS]; /* the principals the file names */
static size_t n_managed;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: wingman-kafka-setup [--partitions N] [--replication-factor N] "
	    "[--min-insync-replicas N] ACL_FILE\n");
	exit(2);
}

/* What identifies an ACL of the file (host *, allow): one string. */
static void
binding_key(char *key, size_t n, rd_kafka_ResourceType_t type, const char *name,
    rd_kafka_ResourcePatternType_t pattern, const char *who, rd_kafka_AclOperation_t op)
{
	snprintf(key, n, "%d|%s|%d|%s|%d", (int)type, name, (int)pattern, who, (int)op);
}

static int
in_file(const char *key)
{
	for (size_t i = 0; i < n_bindings; i++)
		if (strcmp(binding_keys[i], key) == 0)
			return 1;
	return 0;
}

static int
add_managed(const char *who)
{
	for (size_t i = 0; i < n_managed; i++)
		if (strcmp(managed[i], who) == 0)
			return 0;
	if (n_managed == MAX_BINDINGS || (managed[n_managed] = strdup(who)) == NULL) {
		fprintf(stderr, "wingman-kafka-setup: too many principals\n");
		return -1;
	}
	n_managed++;
	return 0;
}

static int
add_binding(rd_kafka_ResourceType_t type, const char *name, rd_kafka_ResourcePatternType_t pattern,
    const char *who, rd_kafka_AclOperation_t op)
{
	char principal[256], err[256], key[512];
	rd_kafka_AclBinding_t *b;

	binding_key(key, sizeof(key), type, name, pattern, who, op);
	for (size_t i = 0; i < n_bindings; i++)
		if (strcmp(binding_keys[i], key) == 0)
			return 0;

	if (n_bindings == MAX_BINDINGS) {
		fprintf(stderr, "wingman-kafka-setup: more than %d ACLs\n", MAX_BINDINGS);
		return -1;
	}
	snprintf(principal, sizeof(principal), "User:%s", who);
	b = rd_kafka_AclBinding_new(type, name, pattern, principal, "*", op,
	    RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err, sizeof(err));
	if (b == NULL) {
		fprintf(stderr, "wingman-kafka-setup: ACL %s on %s: %s\n", principal, name, err);
		return -1;
	}
	if ((binding_keys[n_bindings] = strdup(key)) == NULL) {
		rd_kafka_AclBinding_destroy(b);
		fprintf(stderr, "wingman-kafka-setup: out of memory\n");
		return -1;
	}
	bindings[n_bindings++] = b;
	return 0;
}

/* One line of the ACL file; 0, or -1 with the reason on standard error. */
static int
parse_line(char *line, const char *path, int lineno)
{
	char *save = NULL, *who, *verb, *word;
	rd_kafka_AclOperation_t op;
	int n_res = 0;

	if ((who = strtok_r(line, " \t\r\n", &save)) == NULL || who[0] == '#')
		return 0;
	verb = strtok_r(NULL, " \t\r\n", &save);
	if (add_managed(who) != 0)
		return -1;
	if (verb != NULL && strcmp(verb, "none") == 0) {
		if (strtok_r(NULL, " \t\r\n", &save) != NULL) {
			fprintf(stderr, "%s:%d: nothing may follow none\n", path, lineno);
			return -1;
		}
		return 0;
	}
	if (verb != NULL && strcmp(verb, "consume") == 0)
		op = RD_KAFKA_ACL_OPERATION_READ;
	else if (verb != NULL && strcmp(verb, "produce") == 0)
		op = RD_KAFKA_ACL_OPERATION_WRITE;
	else {
		fprintf(stderr, "%s:%d: the verb must be consume, produce or none\n", path, lineno);
		return -1;
	}
	while ((word = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
		rd_kafka_ResourceType_t type = RD_KAFKA_RESOURCE_TOPIC;
		rd_kafka_ResourcePatternType_t pattern = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
		const char *name = word;

		if (strncmp(word, "group=", 6) == 0) {
			type = RD_KAFKA_RESOURCE_GROUP;
			name = word + 6;
		} else if (strncmp(word, "group-prefix=", 13) == 0) {
			type = RD_KAFKA_RESOURCE_GROUP;
			pattern = RD_KAFKA_RESOURCE_PATTERN_PREFIXED;
			name = word + 13;
		}
		if (*name == '\0') {
			fprintf(stderr, "%s:%d: empty name\n", path, lineno);
			return -1;
		}
		if (type == RD_KAFKA_RESOURCE_GROUP && op != RD_KAFKA_ACL_OPERATION_READ) {
			fprintf(stderr, "%s:%d: a group only with consume\n", path, lineno);
			return -1;
		}
		if (n_res == 0 && op == RD_KAFKA_ACL_OPERATION_WRITE &&
		    add_binding(RD_KAFKA_RESOURCE_BROKER, "kafka-cluster",
		        RD_KAFKA_RESOURCE_PATTERN_LITERAL, who,
		        RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE) != 0)
			return -1;
		if (add_binding(type, name, pattern, who, op) != 0 ||
		    add_binding(type, name, pattern, who, RD_KAFKA_ACL_OPERATION_DESCRIBE) != 0)
			return -1;
		n_res++;
	}
	if (n_res == 0) {
		fprintf(stderr, "%s:%d: no topic or group\n", path, lineno);
		return -1;
	}
	return 0;
}

static int
read_acls(const char *path)
{
	char line[4096];
	int lineno = 0, rc = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "wingman-kafka-setup: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (parse_line(line, path, ++lineno) != 0)
			rc = -1;
	fclose(f);
	return rc;
}

/* Waits for the one result event of an admin call. */
static rd_kafka_event_t *
await_result(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);

	if (ev == NULL) {
		fprintf(stderr, "wingman-kafka-setup: %s: no answer from the broker\n", what);
		return NULL;
	}
	if (rd_kafka_event_error(ev)) {
		fprintf(stderr, "wingman-kafka-setup: %s: %s\n", what,
		    rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}

static int
create_topics(rd_kafka_t *rk, rd_kafka_queue_t *q, int partitions, int rf, const char *min_isr)
{
	rd_kafka_NewTopic_t *nt[N_TOPICS];
	const rd_kafka_topic_result_t **res;
	rd_kafka_event_t *ev;
	size_t n, made = 0;
	char err[256];
	int rc = 0;

	for (size_t i = 0; i < N_TOPICS; i++) {
		nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, rf, err, sizeof(err));
		if (nt[i] == NULL ||
		    rd_kafka_NewTopic_set_config(nt[i], "min.insync.replicas", min_isr) != 0) {
			fprintf(stderr, "wingman-kafka-setup: topic %s: %s\n", topics[i], err);
			exit(1);
		}
	}
	rd_kafka_CreateTopics(rk, nt, N_TOPICS, NULL, q);
	rd_kafka_NewTopic_destroy_array(nt, N_TOPICS);
	if ((ev = await_result(q, "create topics")) == NULL)
		return -1;
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			made++;
		else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			fprintf(stderr, "wingman-kafka-setup: topic %s: %s\n",
			    rd_kafka_topic_result_name(res[i]),
			    rd_kafka_topic_result_error_string(res[i]));
			rc = -1;
		}
	}
	rd_kafka_event_destroy(ev);
	printf("wingman-kafka-setup: %zu topic(s) created, %zu already there\n", made,
	    N_TOPICS - made);
	return rc;
}

static int
create_acls(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
	const rd_kafka_acl_result_t **res;
	rd_kafka_event_t *ev;
	size_t n;
	int rc = 0;

	rd_kafka_CreateAcls(rk, bindings, n_bindings, NULL, q);
	if ((ev = await_result(q, "create ACLs")) == NULL)
		return -1;
	res = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_error_t *e = rd_kafka_acl_result_error(res[i]);

		if (e != NULL) {
			fprintf(stderr, "wingman-kafka-setup: ACL %zu: %s\n", i,
			    rd_kafka_error_string(e));
			rc = -1;
		}
	}
	rd_kafka_event_destroy(ev);
	if (n != n_bindings) {
		fprintf(stderr, "wingman-kafka-setup: %zu ACL result(s) for %zu ACLs\n", n,
		    n_bindings);
		rc = -1;
	}
	if (rc == 0)
		printf("wingman-kafka-setup: %zu ACL(s) in place\n", n_bindings);
	return rc;
}

/*
 * Waits until the broker's authorizer lists at least every ACL made: the
 * services start right after this job, and must not meet a broker that has
 * not applied them yet.
 */
static int
await_acls(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
	char err[256];
	rd_kafka_AclBindingFilter_t *all = rd_kafka_AclBindingFilter_new(RD_KAFKA_RESOURCE_ANY,
	    NULL, RD_KAFKA_RESOURCE_PATTERN_ANY, NULL, NULL, RD_KAFKA_ACL_OPERATION_ANY,
	    RD_KAFKA_ACL_PERMISSION_TYPE_ANY, err, sizeof(err));
	size_t seen = 0;

	if (all == NULL) {
		fprintf(stderr, "wingman-kafka-setup: ACL filter: %s\n", err);
		return -1;
	}
	for (int i = 0; i < 60; i++) {
		rd_kafka_event_t *ev;

		rd_kafka_DescribeAcls(rk, all, NULL, q);
		if ((ev = await_result(q, "describe ACLs")) != NULL) {
			rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev),
			    &seen);
			rd_kafka_event_destroy(ev);
			if (seen >= n_bindings)
				break;
		}
		usleep(500 * 1000);
	}
	rd_kafka_AclBinding_destroy(all);
	if (seen < n_bindings) {
		fprintf(stderr, "wingman-kafka-setup: the broker lists %zu ACLs of %zu\n", seen,
		    n_bindings);
		return -1;
	}
	return 0;
}

/*
 * Deletes the ACLs of one managed principal that the file does not give:
 * anything but host * and allow, or a resource, pattern or operation that
 * no line makes. Each is deleted with a filter that matches it alone.
 * Adds the number deleted to *removed.
 */
static int
reconcile_principal(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *who, size_t *removed)
{
	rd_kafka_AclBindingFilter_t *filter, *del[MAX_BINDINGS];
	const rd_kafka_DeleteAcls_result_response_t **resp;
	const rd_kafka_AclBinding_t **acls;
	rd_kafka_event_t *ev, *dev;
	char principal[256], err[256], key[512];
	size_t n, n_del = 0, n_resp;
	int rc = 0;

	snprintf(principal, sizeof(principal), "User:%s", who);
	filter = rd_kafka_AclBindingFilter_new(RD_KAFKA_RESOURCE_ANY, NULL,
	    RD_KAFKA_RESOURCE_PATTERN_ANY, principal, NULL, RD_KAFKA_ACL_OPERATION_ANY,
	    RD_KAFKA_ACL_PERMISSION_TYPE_ANY, err, sizeof(err));
	if (filter == NULL) {
		fprintf(stderr, "wingman-kafka-setup: ACL filter for %s: %s\n", principal, err);
		return -1;
	}
	rd_kafka_DescribeAcls(rk, filter, NULL, q);
	rd_kafka_AclBinding_destroy(filter);
	if ((ev = await_result(q, "describe ACLs")) == NULL)
		return -1;
	acls = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const rd_kafka_AclBinding_t *a = acls[i];

		binding_key(key, sizeof(key), rd_kafka_AclBinding_restype(a),
		    rd_kafka_AclBinding_name(a), rd_kafka_AclBinding_resource_pattern_type(a), who,
		    rd_kafka_AclBinding_operation(a));
		if (strcmp(rd_kafka_AclBinding_principal(a), principal) != 0 ||
		    (strcmp(rd_kafka_AclBinding_host(a), "*") == 0 &&
		        rd_kafka_AclBinding_permission_type(a) ==
		            RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW &&
		        in_file(key)))
			continue;
		if (n_del == MAX_BINDINGS)
			break; /* the rest at the next run */
		del[n_del] = rd_kafka_AclBindingFilter_new(rd_kafka_AclBinding_restype(a),
		    rd_kafka_AclBinding_name(a), rd_kafka_AclBinding_resource_pattern_type(a),
		    principal, rd_kafka_AclBinding_host(a), rd_kafka_AclBinding_operation(a),
		    rd_kafka_AclBinding_permission_type(a), err, sizeof(err));
		if (del[n_del] == NULL) {
			fprintf(stderr, "wingman-kafka-setup: ACL filter: %s\n", err);
			rc = -1;
			break;
		}
		printf("wingman-kafka-setup: removing %s %s %s on %s %s%s (host %s): not in the file\n",
		    principal,
		    rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(a)),
		    rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(a)),
		    rd_kafka_ResourceType_name(rd_kafka_AclBinding_restype(a)),
		    rd_kafka_AclBinding_name(a),
		    rd_kafka_AclBinding_resource_pattern_type(a) == RD_KAFKA_RESOURCE_PATTERN_PREFIXED
		        ? "*"
		        : "",
		    rd_kafka_AclBinding_host(a));
		n_del++;
	}
	rd_kafka_event_destroy(ev);
	if (rc == 0 && n_del > 0) {
		rd_kafka_DeleteAcls(rk, del, n_del, NULL, q);
		if ((dev = await_result(q, "delete ACLs")) == NULL)
			rc = -1;
		else {
			resp = rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(
			                                                dev),
			    &n_resp);
			for (size_t i = 0; i < n_resp; i++) {
				const rd_kafka_error_t *e =
				    rd_kafka_DeleteAcls_result_response_error(resp[i]);

				if (e != NULL) {
					fprintf(stderr,
					    "wingman-kafka-setup: delete ACL of %s: %s\n",
					    principal, rd_kafka_error_string(e));
					rc = -1;
				} else {
					size_t k;

					rd_kafka_DeleteAcls_result_response_matching_acls(resp[i],
					    &k);
					*removed += k;
				}
			}
			rd_kafka_event_destroy(dev);
		}
	}
	for (size_t i = 0; i < n_del; i++)
		rd_kafka_AclBinding_destroy(del[i]);
	return rc;
}

static int
reconcile_acls(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
	size_t removed = 0;
	int rc = 0;

	for (size_t i = 0; i < n_managed; i++)
		if (reconcile_principal(rk, q, managed[i], &removed) != 0)
			rc = -1;
	printf("wingman-kafka-setup: %zu ACL(s) removed (no longer in the file)\n", removed);
	return rc;
}

/*
 * The cluster answers metadata (it is up and these credentials log in) and
 * lists at least min_brokers brokers: a broker that listens has not always
 * registered with the controllers yet, and topics of replication factor N
 * cannot be made before N brokers have.
 */
static int
wait_broker(rd_kafka_t *rk, int min_brokers, int seconds)
{
	int seen = 0;

	for (int i = 0; i < seconds; i++) {
		const struct rd_kafka_metadata *md;

		if (rd_kafka_metadata(rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			seen = md->broker_cnt;
			rd_kafka_metadata_destroy(md);
			if (seen >= min_brokers)
				return 0;
		}
		sleep(1);
	}
	if (seen > 0)
		fprintf(stderr,
		    "wingman-kafka-setup: %d broker(s) of the %d the replication factor needs\n",
		    seen, min_brokers);
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = { { "partitions", required_argument, NULL, 'p' },
		{ "replication-factor", required_argument, NULL, 'r' },
		{ "min-insync-replicas", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *brokers = getenv(config_table[CFG_KAFKA_BROKERS].name);
	const char *min_isr = "1";
	int partitions = 3, rf = 1, c, rc = 0;
	rd_kafka_conf_t *conf;
	rd_kafka_queue_t *q;
	rd_kafka_t *rk;
	char err[512];

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			partitions = atoi(optarg);
			break;
		case 'r':
			rf = atoi(optarg);
			break;
		case 'm':
			min_isr = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || partitions < 1 || rf < 1 || atoi(min_isr) < 1)
		usage();
	if (read_acls(argv[optind]) != 0)
		return 1;
	if (brokers == NULL || *brokers == '\0')
		brokers = config_default(CFG_KAFKA_BROKERS);
	if ((conf = kafka_conf_new(brokers, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman-kafka-setup: %s\n", err);
		return 1;
	}
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman-kafka-setup: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	if (wait_broker(rk, rf, 120) != 0) {
		fprintf(stderr, "wingman-kafka-setup: %s does not answer\n", brokers);
		rd_kafka_destroy(rk);
		return 1;
	}
	q = rd_kafka_queue_new(rk);
	if (create_topics(rk, q, partitions, rf, min_isr) != 0)
		rc = 1;
	/* No principal in the file: a broker without an authorizer (topics only). */
	if (n_bindings > 0 && (create_acls(rk, q) != 0 || await_acls(rk, q) != 0))
		rc = 1;
	else if (n_managed > 0 && reconcile_acls(rk, q) != 0)
		rc = 1;
	rd_kafka_queue_destroy(q);
	for (size_t i = 0; i < n_bindings; i++) {
		rd_kafka_AclBinding_destroy(bindings[i]);
		free(binding_keys[i]);
	}
	for (size_t i = 0; i < n_managed; i++)
		free(managed[i]);
	rd_kafka_destroy(rk);
	return rc;
}
