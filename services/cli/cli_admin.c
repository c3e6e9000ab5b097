/*
 * The kill switch: wingman freeze / thaw / revoke. Written straight to
 * PostgreSQL (sql/003_killswitch.sql), where the executor reads it in the
 * transaction that writes each command's intent row; so when freeze or
 * revoke returns, no command of its scope starts any more (one already
 * past its intent row finishes, and is counted in the answer).
 *
 * What restricts is written first and audited after: a broken audit log
 * must not keep an operator from stopping execution. What permits again
 * (thaw) is audited first and not done at all if it cannot be audited.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "audit.h"
#include "cli.h"
#include "pg.h"
#include "util.h"

#define ADMIN_REASON_MAX 256

struct admin {
	PGconn *pg;
	struct audit *audit;
	char who[65];
};

/* The operator, as the system knows them: for the audit row, not for trust. */
static void
operator_name(char *out, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());

	snprintf(out, len, "%s", pw != NULL && pw->pw_name != NULL ? pw->pw_name : "unknown");
}

static int
admin_open(struct admin *a, const char *what)
{
	const char *conninfo = config_str(cli_config(), CFG_PG_CONNINFO);
	const char *jsonl = config_str(cli_config(), CFG_AUDIT_JSONL);
	char err[512];

	memset(a, 0, sizeof(*a));
	operator_name(a->who, sizeof(a->who));
	if (*conninfo == '\0') {
		fprintf(stderr, "wingman %s: WINGMAN_PG_CONNINFO is not set\n", what);
		return -1;
	}
	a->pg = pg_connect(conninfo);
	if (PQstatus(a->pg) != CONNECTION_OK) {
		fprintf(stderr, "KILLSWITCH_UNAVAILABLE: %s", PQerrorMessage(a->pg));
		return -1;
	}
	if ((a->audit = audit_open("wingman", conninfo, jsonl, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static void
admin_close(struct admin *a)
{
	audit_close(a->audit);
	if (a->pg != NULL)
		PQfinish(a->pg);
}

/* Printable ASCII only, bounded: it ends up in results, logs and audit rows. */
static int
valid_reason(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ADMIN_REASON_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static const char *
parse_reason(int argc, char **argv, const char *what, const char *def, const char **request_id)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *reason = def;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'r')
			reason = optarg;
		else
			usage();
	}
	if (request_id != NULL) {
		if (optind + 1 != argc)
			usage();
		*request_id = argv[optind];
	} else if (optind != argc) {
		usage();
	}
	if (!valid_reason(reason)) {
		fprintf(stderr, "wingman %s: --reason must be 1..%d printable ASCII characters\n",
		    what, ADMIN_REASON_MAX);
		exit(EXIT_USAGE);
	}
	return reason;
}

/* One-value query; -1 on error. */
static long long
count_of(PGconn *c, const char *sql, const char *param)
{
	const char *p[] = { param };
	PGresult *r = PQexecParams(c, sql, param ? 1 : 0, NULL, param ? p : NULL, NULL, NULL, 0);
	long long n = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

static int
set_frozen(struct admin *a, int frozen, const char *reason)
{
	const char *p[] = { frozen ? "true" : "false", reason, a->who };
	PGresult *r;
	int ok;

	/* An upsert: a deleted row is put back rather than read as "not frozen". */
	r = PQexecParams(a->pg,
	    "INSERT INTO freeze_state (id, frozen, reason, changed_by, changed_at)"
	    " VALUES (true, $1, $2, $3, now())"
	    " ON CONFLICT (id) DO UPDATE SET frozen = EXCLUDED.frozen, reason = EXCLUDED.reason,"
	    " changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at",
	    3, NULL, p, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "KILLSWITCH_UNAVAILABLE: %s", PQerrorMessage(a->pg));
	PQclear(r);
	return ok ? 0 : -1;
}

int
cmd_freeze(int argc, char **argv)
{
	const char *reason = parse_reason(argc, argv, "freeze", "frozen by an operator", NULL);
	struct admin a;
	long long running;
	int rc = 1;

	if (admin_open(&a, "freeze") != 0 || set_frozen(&a, 1, reason) != 0)
		goto done;
	running = count_of(a.pg, "SELECT count(*) FROM executions WHERE state = 'running'", NULL);
	printf("frozen: %s\n", reason);
	if (running > 0)
		printf("%lld command(s) had already started and may still be running\n", running);
	rc = 0;
	if (audit_record(a.audit, "", "freeze",
	        json_pack("{s:s, s:s, s:I}", "reason", reason, "by", a.who, "running",
	            (json_int_t)running)) != 0) {
		fprintf(stderr, "AUDIT_UNAVAILABLE: the freeze holds but could not be audited\n");
		rc = 1;
	}
done:
	admin_close(&a);
	return rc;
}

int
cmd_thaw(int argc, char **argv)
{
	const char *reason = parse_reason(argc, argv, "thaw", "thawed by an operator", NULL);
	struct admin a;
	int rc = 1;

	if (admin_open(&a, "thaw") != 0)
		goto done;
	if (audit_record(a.audit, "", "thaw",
	        json_pack("{s:s, s:s}", "reason", reason, "by", a.who)) != 0) {
		fprintf(stderr, "AUDIT_UNAVAILABLE: not thawed: the thaw could not be audited\n");
		goto done;
	}
	if (set_frozen(&a, 0, reason) != 0)
		goto done;
	printf("thawed: %s\n", reason);
	rc = 0;
done:
	admin_close(&a);
	return rc;
}

/*
 * The freeze row is locked for the insert, as an executor's intent
 * transaction locks it to share: an intent either committed before this
 * revocation or sees it. Returns 0 and *added, or -1.
 */
static int
insert_revocation(struct admin *a, const char *request_id, const char *reason, int *added)
{
	const char *p[] = { request_id, reason, a->who };
	PGresult *r = NULL;
	int rc = -1;

	if (!pg_exec_ok(a->pg, "BEGIN") ||
	    !pg_exec_ok(a->pg, "SELECT 1 FROM freeze_state WHERE id FOR UPDATE"))
		goto fail;
	r = PQexecParams(a->pg,
	    "INSERT INTO revocations (request_id, reason, revoked_by)"
	    " VALUES ($1, $2, $3) ON CONFLICT (request_id) DO NOTHING",
	    3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto fail;
	*added = strcmp(PQcmdTuples(r), "1") == 0;
	if (!pg_exec_ok(a->pg, "COMMIT"))
		goto fail;
	rc = 0;
fail:
	if (rc != 0) {
		fprintf(stderr, "KILLSWITCH_UNAVAILABLE: %s", PQerrorMessage(a->pg));
		pg_exec_ok(a->pg, "ROLLBACK");
	}
	PQclear(r);
	return rc;
}

int
cmd_revoke(int argc, char **argv)
{
	const char *request_id = NULL;
	const char *reason = parse_reason(argc, argv, "revoke", "revoked by an operator",
	    &request_id);
	struct admin a;
	long long used;
	int rc = 1, added = 0;

	if (!valid_request_id(request_id)) {
		fprintf(stderr, "wingman revoke: '%s' is not a valid request id\n", request_id);
		return EXIT_USAGE;
	}
	if (admin_open(&a, "revoke") != 0 || insert_revocation(&a, request_id, reason, &added) != 0)
		goto done;
	used = count_of(a.pg,
	    "SELECT count(*) FROM executions WHERE request_id = $1"
	    " AND state <> 'void'",
	    request_id);
	printf("%s %s: %lld token(s) had already been used; the rest will not run\n",
	    added ? "revoked" : "already revoked", request_id, used);
	rc = 0;
	if (added &&
	    audit_record(a.audit, request_id, "revoke",
	        json_pack("{s:s, s:s, s:I}", "reason", reason, "by", a.who, "used",
	            (json_int_t)used)) != 0) {
		fprintf(stderr,
		    "AUDIT_UNAVAILABLE: the revocation holds but could not be audited\n");
		rc = 1;
	}
done:
	admin_close(&a);
	return rc;
}
