/*
 * Approvers: what waits for a decision, read from wingman-approval's state
 * in PostgreSQL (WINGMAN_PG_CONNINFO). Text for people, --json for tools.
 * Text shown from requests (instruction, vote reasons) is the agent's or a
 * voter's: control characters are replaced so it cannot drive the terminal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cli.h"
#include "msg.h"
#include "pg.h"
#include "util.h"

/* Prints s with control characters (and DEL) as '?'. */
static void
put_safe(const char *s)
{
	for (; *s; s++)
		putchar(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s);
}

static void
put_names(const json_t *names)
{
	const json_t *n;
	size_t i;

	json_array_foreach(names, i, n)
	{
		if (i > 0)
			fputs(", ", stdout);
		put_safe(json_string_value(n) ? json_string_value(n) : "?");
	}
}

static void
print_text(const json_t *item)
{
	const json_t *votes = json_object_get(item, "votes"), *v, *c;
	long long left = json_integer_value(json_object_get(item, "expires_in_s"));
	size_t i, j;

	printf("%s  env %s  worker %s  risk %s  approvals %lld of %lld",
	    msg_str(item, "request_id"), msg_str(item, "environment"), msg_str(item, "worker_id"),
	    msg_str(item, "risk"), (long long)json_array_size(json_object_get(item, "approvals")),
	    (long long)json_integer_value(json_object_get(item, "approvers_required")));
	if (json_array_size(json_object_get(item, "approvals")) > 0) {
		fputs(" (", stdout);
		put_names(json_object_get(item, "approvals"));
		putchar(')');
	}
	if (left > 0)
		printf("  expires %s (in %lldm%02llds)\n", msg_str(item, "expires_at"), left / 60,
		    left % 60);
	else
		printf("  expires %s (overdue: about to expire)\n", msg_str(item, "expires_at"));
	json_array_foreach(json_object_get(item, "commands"), i, c)
	{
		fputs("  command: ", stdout);
		put_safe(json_string_value(c));
		putchar('\n');
	}
	json_array_foreach(votes, i, v)
	{
		fputs("  vote: ", stdout);
		put_safe(msg_str(v, "voter"));
		printf(" %s, %s", msg_str(v, "risk"),
		    json_is_true(json_object_get(v, "abstain"))       ? "abstains"
		        : json_is_true(json_object_get(v, "approve")) ? "approves"
		                                                      : "does not approve");
		json_array_foreach(json_object_get(v, "reasons"), j, c)
		{
			fputs(j == 0 ? ": " : "; ", stdout);
			put_safe(json_string_value(c) ? json_string_value(c) : "");
		}
		putchar('\n');
	}
	fputs("  dissent: ", stdout);
	if (json_array_size(json_object_get(item, "dissent")) == 0)
		fputs("none", stdout);
	put_names(json_object_get(item, "dissent"));
	fputs("\n  instruction: ", stdout);
	put_safe(msg_str(item, "instruction"));
	putchar('\n');
}

int
cmd_pending(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "env", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conninfo = config_str(cli_config(), CFG_PG_CONNINFO), *env = NULL;
	const char *params[1];
	json_t *list = NULL;
	PGresult *r = NULL;
	PGconn *c = NULL;
	int ch, as_json = 0, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			as_json = 1;
		else if (ch == 'e')
			env = optarg;
		else
			usage();
	}
	if (optind != argc || (env != NULL && !valid_environment(env)))
		usage();
	if (*conninfo == '\0') {
		fprintf(stderr, "wingman pending: WINGMAN_PG_CONNINFO is not set\n");
		return 1;
	}
	c = pg_connect(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "wingman pending: %s", PQerrorMessage(c));
		goto done;
	}
	params[0] = env ? env : "";
	r = PQexecParams(c,
	    "SELECT r.request_id, r.environment, r.worker_id, r.assessment, r.approvers_required,"
	    " to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	    " greatest(0, floor(extract(epoch FROM r.expires_at - now())))::bigint,"
	    " coalesce((SELECT json_agg(v.approver ORDER BY v.ts, v.approver) FROM approval_votes v"
	    "  WHERE v.request_id = r.request_id AND v.decision = 'approve'), '[]'::json)"
	    " FROM approval_requests r WHERE r.state = 'pending' AND ($1 = '' OR r.environment = $1)"
	    " ORDER BY r.expires_at, r.request_id",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "wingman pending: %s", PQerrorMessage(c));
		goto done;
	}
	list = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *a = json_loads(PQgetvalue(r, i, 3), 0, NULL);
		json_t *approvals = json_loads(PQgetvalue(r, i, 7), 0, NULL);
		const json_t *req = json_object_get(a, "request");
		json_t *item =
		    json_pack("{s:s, s:s, s:s, s:O?, s:s, s:s, s:O?, s:O?, s:o?, s:I, s:s, s:I}",
		        "request_id", PQgetvalue(r, i, 0), "environment", PQgetvalue(r, i, 1),
		        "worker_id", PQgetvalue(r, i, 2), "commands",
		        json_object_get(req, "commands"), "instruction", msg_str(req, "instruction"),
		        "risk", msg_str(a, "risk"), "votes", json_object_get(a, "votes"), "dissent",
		        json_object_get(a, "dissent"), "approvals", approvals, "approvers_required",
		        (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10), "expires_at",
		        PQgetvalue(r, i, 5), "expires_in_s",
		        (json_int_t)strtoll(PQgetvalue(r, i, 6), NULL, 10));
		json_decref(a);
		if (item == NULL) {
			fprintf(stderr, "wingman pending: request %s has unreadable state\n",
			    PQgetvalue(r, i, 0));
			goto done;
		}
		json_array_append_new(list, item);
	}
	if (as_json) {
		json_dumpf(list, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_t *item;
		size_t i;

		printf("%zu request%s wait%s for a decision\n", json_array_size(list),
		    json_array_size(list) == 1 ? "" : "s", json_array_size(list) == 1 ? "s" : "");
		json_array_foreach(list, i, item) print_text(item);
	}
	rc = 0;
done:
	json_decref(list);
	PQclear(r);
	PQfinish(c);
	return rc;
}
