/*
 * wingman migrate: the schema's version, and the one way it changes.
 *
 * The directory holds NNN_name.sql files. Those numbered below 900 are
 * versioned migrations: each is applied once, in order, in its own
 * transaction together with its row in schema_migrations (version, name,
 * sha256, applied_at), so a file is either applied and recorded or not at
 * all. An applied file is never applied again; if its text changed since
 * (another checksum) migrate refuses to run, because the database no
 * longer matches what the files say. Those numbered 900 and above
 * (998_roles.sql: grants and triggers over every table) are repeatable:
 * applied again, each in its own transaction, after any versioned file was
 * applied or when their own text changed, and only when the schema is at
 * its newest version (they are written for it). A session-level advisory lock
 * lets two migrate runs (two init containers) take turns.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli.h"
#include "pg.h"
#include "util.h"

#ifndef WINGMAN_SQL_DIR
#define WINGMAN_SQL_DIR "sql"
#endif

#define MIGRATION_MAX 256
#define MIGRATION_FILE_MAX (1024 * 1024)
#define REPEATABLE_FROM 900
#define MIGRATE_LOCK_ID "7431001"

struct migration {
	int version;
	char name[128];
	char sha256[65];
	char *text;
	/* from schema_migrations */
	int applied;
	char applied_sha[65];
	char applied_at[40];
};

struct plan {
	struct migration m[MIGRATION_MAX];
	size_t n;
};

/* NNN_name.sql, name of letters, digits, '_', '-', '.'; version in *v. */
static int
migration_name(const char *f, int *v)
{
	size_t n = strlen(f);

	if (n < 9 || n >= sizeof(((struct migration *)0)->name) || strcmp(f + n - 4, ".sql") != 0)
		return 0;
	for (int i = 0; i < 3; i++)
		if (f[i] < '0' || f[i] > '9')
			return 0;
	if (f[3] != '_')
		return 0;
	for (size_t i = 4; i < n - 4; i++)
		if (!((f[i] >= 'a' && f[i] <= 'z') || (f[i] >= 'A' && f[i] <= 'Z') ||
		        (f[i] >= '0' && f[i] <= '9') || f[i] == '_' || f[i] == '-' || f[i] == '.'))
			return 0;
	*v = (f[0] - '0') * 100 + (f[1] - '0') * 10 + (f[2] - '0');
	return 1;
}

static int
by_version(const void *a, const void *b)
{
	return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static void
plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->m[i].text);
	p->n = 0;
}

/* Reads every migration file of dir, sorted by version; one file a version. */
static int
plan_read(struct plan *p, const char *dir)
{
	char path[4096];
	struct dirent *e;
	size_t len;
	DIR *d;
	int v;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "wingman migrate: cannot open %s\n", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!migration_name(e->d_name, &v))
			continue;
		if (p->n == MIGRATION_MAX) {
			fprintf(stderr, "wingman migrate: more than %d files in %s\n",
			    MIGRATION_MAX, dir);
			goto fail;
		}
		struct migration *m = &p->m[p->n];
		memset(m, 0, sizeof(*m));
		m->version = v;
		snprintf(m->name, sizeof(m->name), "%s", e->d_name);
		if (xsnprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < 0 ||
		    read_file(path, MIGRATION_FILE_MAX, &m->text, &len) != 0) {
			fprintf(stderr, "wingman migrate: cannot read %s/%s\n", dir, e->d_name);
			goto fail;
		}
		p->n++;
		sha256_hex(m->text, len, m->sha256);
	}
	closedir(d);
	d = NULL;
	qsort(p->m, p->n, sizeof(p->m[0]), by_version);
	for (size_t i = 1; i < p->n; i++)
		if (p->m[i].version == p->m[i - 1].version) {
			fprintf(stderr, "wingman migrate: %s and %s have the same version\n",
			    p->m[i - 1].name, p->m[i].name);
			return -1;
		}
	return 0;
fail:
	if (d != NULL)
		closedir(d);
	return -1;
}

static int
exec_ok(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "wingman migrate: %s: %s", what, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* Creates schema_migrations if needed and marks the files already applied. */
static int
plan_load_applied(struct plan *p, PGconn *c)
{
	PGresult *r;
	int rc = -1;

	if (!exec_ok(c,
	        "CREATE TABLE IF NOT EXISTS schema_migrations ("
	        " version int PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
	        " applied_at timestamptz NOT NULL DEFAULT now())",
	        "creating schema_migrations"))
		return -1;
	r = PQexec(c,
	    "SELECT version, name, sha256, to_char(applied_at AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations ORDER BY version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "wingman migrate: reading schema_migrations: %s", PQerrorMessage(c));
		goto done;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		int v = atoi(PQgetvalue(r, i, 0));
		size_t j;

		for (j = 0; j < p->n && p->m[j].version != v; j++)
			;
		if (j == p->n) {
			/* Applied by a newer Wingman: this one does not know the schema. */
			if (v < REPEATABLE_FROM) {
				fprintf(stderr,
				    "SCHEMA_NEWER: version %d (%s) is applied but not among the "
				    "files; this wingman is older than the database\n",
				    v, PQgetvalue(r, i, 1));
				goto done;
			}
			continue;
		}
		p->m[j].applied = 1;
		snprintf(p->m[j].applied_sha, sizeof(p->m[j].applied_sha), "%s",
		    PQgetvalue(r, i, 2));
		snprintf(p->m[j].applied_at, sizeof(p->m[j].applied_at), "%s", PQgetvalue(r, i, 3));
	}
	rc = 0;
done:
	PQclear(r);
	return rc;
}

/* One file and its row in one transaction. */
static int
apply_one(PGconn *c, const struct migration *m)
{
	char version[16];
	const char *params[3] = { version, m->name, m->sha256 };
	PGresult *r;
	int ok;

	snprintf(version, sizeof(version), "%d", m->version);
	if (!exec_ok(c, "BEGIN", "BEGIN"))
		return -1;
	r = PQexec(c, m->text);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "wingman migrate: %s failed: %s", m->name, PQerrorMessage(c));
	PQclear(r);
	if (ok) {
		r = PQexecParams(c,
		    "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)"
		    " ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name,"
		    " sha256 = EXCLUDED.sha256, applied_at = now()",
		    3, NULL, params, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "wingman migrate: recording %s: %s", m->name,
			    PQerrorMessage(c));
		PQclear(r);
	}
	if (!ok) {
		exec_ok(c, "ROLLBACK", "ROLLBACK");
		return -1;
	}
	return exec_ok(c, "COMMIT", m->name) ? 0 : -1;
}

static void
print_status(const struct plan *p, int to)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct migration *m = &p->m[i];
		const char *st;

		if (m->applied && strcmp(m->applied_sha, m->sha256) != 0)
			st = m->version >= REPEATABLE_FROM ? "changed" : "CHANGED";
		else if (m->applied)
			st = "applied";
		else
			st = m->version < REPEATABLE_FROM && m->version > to ? "later" : "pending";
		printf("%-8s %03d %-32s %s\n", st, m->version, m->name,
		    m->applied ? m->applied_at : "");
	}
}

int
cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "to", required_argument, NULL, 't' },
		{ "status", no_argument, NULL, 's' },
		{ "conninfo", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = WINGMAN_SQL_DIR, *conninfo = config_str(cli_config(), CFG_PG_CONNINFO);
	static struct plan plan;
	int ch, status = 0, to = REPEATABLE_FROM - 1, rc = 1, changed = 0, applied = 0;
	int head = 0;
	long long v;
	PGconn *c = NULL;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			dir = optarg;
		else if (ch == 's')
			status = 1;
		else if (ch == 'c')
			conninfo = optarg;
		else if (ch == 't') {
			if (parse_int(optarg, 0, REPEATABLE_FROM - 1, &v) != 0) {
				fprintf(stderr, "wingman migrate: --to must be 0..%d\n",
				    REPEATABLE_FROM - 1);
				return EXIT_USAGE;
			}
			to = (int)v;
		} else
			usage();
	}
	if (optind != argc)
		usage();
	if (*conninfo == '\0') {
		fprintf(stderr,
		    "wingman migrate: give --conninfo or WINGMAN_PG_CONNINFO "
		    "(the schema owner's)\n");
		return 1;
	}
	if (plan_read(&plan, dir) != 0)
		goto done;
	c = pg_connect(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "wingman migrate: %s", PQerrorMessage(c));
		goto done;
	}
	if (!exec_ok(c, "SET client_min_messages = warning", "SET") ||
	    !exec_ok(c, "SET statement_timeout = 0", "SET") ||
	    !exec_ok(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_ID ")", "taking the migrate lock") ||
	    plan_load_applied(&plan, c) != 0)
		goto done;
	for (size_t i = 0; i < plan.n; i++)
		if (plan.m[i].version < REPEATABLE_FROM && plan.m[i].applied &&
		    strcmp(plan.m[i].applied_sha, plan.m[i].sha256) != 0)
			changed++;
	if (status) {
		print_status(&plan, to);
		rc = changed ? 1 : 0;
		goto done;
	}
	if (changed) {
		print_status(&plan, to);
		fprintf(stderr,
		    "MIGRATION_CHANGED: %d applied file(s) differ from what was applied "
		    "(CHANGED above); put the change in a new file instead\n",
		    changed);
		goto done;
	}
	for (size_t i = 0; i < plan.n; i++) {
		struct migration *m = &plan.m[i];

		if (m->version >= REPEATABLE_FROM || m->version > to)
			continue;
		if (m->applied) {
			head = m->version;
			continue;
		}
		if (apply_one(c, m) != 0)
			goto done;
		printf("applied %s\n", m->name);
		head = m->version;
		applied++;
	}
	/*
	 * The repeatable files (grants over every table) are written for the
	 * newest schema: short of it (--to) they are left out.
	 */
	for (size_t i = 0; i < plan.n; i++)
		if (plan.m[i].version < REPEATABLE_FROM && plan.m[i].version > to) {
			printf("repeatable files left out: --to %03d stops before %s\n", to,
			    plan.m[i].name);
			goto finished;
		}
	for (size_t i = 0; i < plan.n; i++) {
		struct migration *m = &plan.m[i];

		if (m->version < REPEATABLE_FROM ||
		    (applied == 0 && m->applied && strcmp(m->applied_sha, m->sha256) == 0))
			continue;
		if (apply_one(c, m) != 0)
			goto done;
		printf("applied %s (repeatable)\n", m->name);
	}
finished:
	printf("schema at version %03d (%d migration(s) applied now)\n", head, applied);
	rc = 0;
done:
	if (c != NULL)
		PQfinish(c);
	plan_free(&plan);
	return rc;
}
