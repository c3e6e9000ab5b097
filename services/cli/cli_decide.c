/*
 * Approvers: wingman approve / reject. The decision names the exact
 * commands of the request (trust rule 5), taken from the assessment
 * wingman-consensus signed; then the CLI waits until wingman-approval says
 * what it did with this very decision (counted, kept until the request
 * arrives, already decided, refused), so exit 0 means it counted.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "client.h"
#include "envelope.h"
#include "keys.h"
#include "msg.h"
#include "pg.h"
#include "stage.h"
#include "util.h"

#define ACK_TIMEOUT_S 30

/* The stored assessment of request_id in wingman-approval's state, or NULL. */
static json_t *
assessment_from_store(PGconn *c, const char *request_id)
{
	const char *p[] = { request_id };
	PGresult *r;
	json_t *a = NULL;

	r = PQexecParams(c, "SELECT assessment FROM approval_requests WHERE request_id = $1", 1,
	    NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		a = json_loads(PQgetvalue(r, 0, 0), JSON_REJECT_DUPLICATES, NULL);
	PQclear(r);
	return a;
}

/*
 * The assessment of request_id on wingman.assessments: for a request
 * wingman-approval has not stored yet (it may be down). New or NULL.
 */
static json_t *
assessment_from_topic(const char *request_id, const char *who)
{
	json_t *all = topic_messages(TOPIC_ASSESSMENTS, request_id, who), *a = NULL;
	char err[256];

	if (json_array_size(all) > 0)
		a = json_deep_copy(json_array_get(all, 0));
	json_decref(all);
	if (a != NULL && msg_validate(a, "assessment", err, sizeof(err)) != 0) {
		json_decref(a);
		a = NULL;
	}
	return a;
}

/*
 * The commands the approver decides on: those of the request as
 * wingman-consensus signed it (consensus.pub), from approval's state or,
 * before approval has stored the request, from wingman.assessments. A
 * stored row that no longer carries consensus's signature is not used.
 */
static json_t *
request_commands(PGconn *c, const char *keys, const char *request_id, const char *who)
{
	json_t *a = c != NULL ? assessment_from_store(c, request_id) : NULL, *commands = NULL;
	struct keyring consensus;
	enum envelope_verdict v;
	char err[512];

	keyring_init(&consensus);
	if (keyring_add(&consensus, keys, "consensus", err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman %s: %s (give the commands with --cmd)\n", who, err);
		goto done;
	}
	if (a == NULL && (a = assessment_from_topic(request_id, who)) == NULL) {
		fprintf(stderr,
		    "wingman %s: no assessment of request %s (not sent, or not assessed "
		    "yet); give the commands with --cmd\n",
		    who, request_id);
		goto done;
	}
	if (msg_validate(a, "assessment", err, sizeof(err)) != 0 ||
	    (v = envelope_verify(a, &consensus, NULL, 0)) != SIG_OK ||
	    strcmp(msg_str(a, "request_id"), request_id) != 0) {
		fprintf(stderr,
		    "wingman %s: the assessment of %s is not the one wingman-consensus "
		    "signed: not deciding on it\n",
		    who, request_id);
		goto done;
	}
	commands = json_deep_copy(json_object_get(json_object_get(a, "request"), "commands"));
done:
	keyring_free(&consensus);
	json_decref(a);
	return commands;
}

enum ack { ACK_WAITING, ACK_COUNTED, ACK_NOT_COUNTED };

/*
 * What wingman-approval did with the decision whose reference is ref: the
 * audit row it wrote about it. Prints why when it is final.
 */
static enum ack
ack_of(PGconn *c, const char *request_id, const char *ref, const char *who, int *kept)
{
	char pattern[64];
	const char *p[] = { request_id, pattern };
	enum ack a = ACK_WAITING;
	PGresult *r;

	snprintf(pattern, sizeof(pattern), "%%\"decision_ref\":\"%s\"%%", ref);
	r = PQexecParams(c,
	    "SELECT event, content FROM audit_log WHERE request_id = $1 AND"
	    " service = 'wingman-approval' AND content LIKE $2 ORDER BY seq",
	    2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "wingman %s: PostgreSQL: %s", who, PQerrorMessage(c));
		PQclear(r);
		return ACK_WAITING;
	}
	for (int i = 0; i < PQntuples(r) && a == ACK_WAITING; i++) {
		const char *event = PQgetvalue(r, i, 0);
		json_t *row = json_loads(PQgetvalue(r, i, 1), 0, NULL);
		const json_t *details = json_object_get(row, "details");

		if (strcmp(event, "human_vote") == 0) {
			a = json_is_true(json_object_get(details, "counted")) ? ACK_COUNTED
			                                                      : ACK_NOT_COUNTED;
			if (a == ACK_NOT_COUNTED)
				fprintf(stderr,
				    "wingman %s: %s: not counted: %s has voted on it before\n", who,
				    request_id, msg_str(details, "approver"));
		} else if (strcmp(event, "refused") == 0 ||
		    strcmp(event, "early_decision_expired") == 0) {
			fprintf(stderr, "wingman %s: %s: refused by wingman-approval: %s\n", who,
			    request_id, msg_str(details, "reason"));
			a = ACK_NOT_COUNTED;
		} else if (strcmp(event, "late_decision") == 0) {
			fprintf(stderr, "wingman %s: %s: not counted: already %s\n", who,
			    request_id, msg_str(details, "state"));
			a = ACK_NOT_COUNTED;
		} else if (strcmp(event, "early_decision") == 0 && !*kept) {
			fprintf(stderr,
			    "wingman %s: %s: kept by wingman-approval until the request "
			    "arrives\n",
			    who, request_id);
			*kept = 1;
		}
		json_decref(row);
	}
	PQclear(r);
	return a;
}

int
cmd_decide(const char *decision, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "as", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *as = NULL, *reason = NULL, *keys = config_str(cli_config(), CFG_KEYS_DIR);
	const char *conninfo = config_str(cli_config(), CFG_PG_CONNINFO), *rid;
	char kid[80], err[512] = "", ref[32];
	EVP_PKEY *key = NULL;
	rd_kafka_t *producer = NULL;
	PGconn *c = NULL;
	json_t *msg = NULL, *commands = json_array(), *cmd;
	int ch, rc = 1, wait = 1, timeout = ACK_TIMEOUT_S, kept = 0;
	enum ack ack = ACK_WAITING;
	int64_t deadline;
	size_t i;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			as = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'c':
			json_array_append_new(commands, json_string(optarg));
			break;
		case 'T':
			timeout = parse_timeout(optarg);
			break;
		case 'n':
			wait = 0;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || as == NULL || (strcmp(decision, "reject") == 0 && reason == NULL))
		usage();
	rid = argv[optind];
	if (!valid_request_id(rid) || !valid_name(as)) {
		fprintf(stderr, "wingman %s: request id or approver name is not valid\n", decision);
		rc = EXIT_USAGE;
		goto done;
	}
	if (*keys == '\0') {
		fprintf(stderr, "wingman %s: WINGMAN_KEYS_DIR is not set\n", decision);
		goto done;
	}
	if (wait && *conninfo == '\0') {
		fprintf(stderr,
		    "wingman %s: WINGMAN_PG_CONNINFO is not set: cannot confirm the vote "
		    "(use --no-wait to send it unconfirmed)\n",
		    decision);
		goto done;
	}
	snprintf(kid, sizeof(kid), "approver-%s", as);
	if ((key = key_load_named(keys, kid, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "wingman %s: %s\n", decision, err);
		goto done;
	}
	if (*conninfo != '\0' && PQstatus(c = pg_connect(conninfo)) != CONNECTION_OK) {
		fprintf(stderr, "wingman %s: PostgreSQL: %s", decision, PQerrorMessage(c));
		goto done;
	}
	if (json_array_size(commands) == 0) {
		json_decref(commands);
		if ((commands = request_commands(c, keys, rid, decision)) == NULL)
			goto done;
	}
	/* The person sees what they sign. */
	json_array_foreach(commands, i, cmd)
	    fprintf(stderr, "wingman %s: %s %s\n", decision, rid, json_string_value(cmd));
	msg = msg_new("human_decision", rid);
	json_object_set_new(msg, "approver", json_string(as));
	json_object_set_new(msg, "decision", json_string(decision));
	json_object_set_new(msg, "reason", json_string(reason ? reason : ""));
	json_object_set_new(msg, "channel", json_string("cli"));
	json_object_set(msg, "commands", commands);
	if (envelope_sign(msg, kid, key) != 0 ||
	    msg_validate(msg, "human_decision", err, sizeof(err))) {
		fprintf(stderr, "wingman %s: cannot build the decision: %s\n", decision, err);
		goto done;
	}
	if ((producer = client_producer_for(brokers(), TOPIC_HUMAN_DECISIONS, err, sizeof(err))) ==
	        NULL ||
	    kafka_publish(producer, TOPIC_HUMAN_DECISIONS, rid, msg, err, sizeof(err)) != 0) {
		fprintf(stderr, "wingman %s: %s\n", decision, err);
		goto done;
	}
	if (!wait) {
		printf("%s %s by %s (sent, not confirmed)\n", decision, rid, as);
		rc = 0;
		goto done;
	}
	snprintf(ref, sizeof(ref), "%.22s", msg_str(json_object_get(msg, "sig"), "value"));
	deadline = monotonic_ms() + (int64_t)timeout * 1000;
	while ((ack = ack_of(c, rid, ref, decision, &kept)) == ACK_WAITING &&
	    monotonic_ms() < deadline)
		sleep_ms(200);
	if (ack == ACK_COUNTED) {
		printf("%s %s by %s\n", strcmp(decision, "approve") == 0 ? "approved" : "rejected",
		    rid, as);
		rc = 0;
	} else if (ack == ACK_WAITING) {
		fprintf(stderr,
		    "wingman %s: %s: sent, but wingman-approval did not %s it within %d s "
		    "(it may still)\n",
		    decision, rid, kept ? "count" : "acknowledge", timeout);
		rc = EXIT_TIMEOUT;
	}
done:
	if (producer != NULL)
		rd_kafka_destroy(producer);
	PQfinish(c);
	json_decref(msg);
	json_decref(commands);
	EVP_PKEY_free(key);
	return rc;
}
