/*
 * Configuration: one table per process of environment variables, each with
 * a default and a help line, validated before any connection is opened.
 */
#ifndef WINGMAN_CONFIG_H
#define WINGMAN_CONFIG_H

#include <stddef.h>
#include <stdio.h>

struct config_var {
	const char *name;    /* WINGMAN_... */
	const char *def;     /* NULL: required */
	const char *help;
	const char *value;   /* filled by config_load; borrowed from environ or def */
};

/* Returns 0, or -1 with err naming the first missing variable. */
int config_load(struct config_var *vars, size_t n, char *err, size_t errlen);
/*
 * Borrowed value of a loaded variable ("" when set empty). A name that is
 * not in the table is a bug: it exits with CONFIG_UNKNOWN (startup only).
 */
const char *config_get(const struct config_var *vars, size_t n, const char *name);
/* The table, for --help. */
void config_usage(FILE *out, const struct config_var *vars, size_t n);

#endif
