#include "config.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

int
config_load(struct config_var *vars, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(vars[i].name);
		if (v == NULL || *v == '\0')
			v = vars[i].def;
		if (v == NULL) {
			snprintf(err, errlen, "CONFIG_MISSING: %s is not set (%s)", vars[i].name,
			    vars[i].help);
			return -1;
		}
		vars[i].value = v;
	}
	return 0;
}

const char *
config_get(const struct config_var *vars, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(vars[i].name, name) == 0)
			return vars[i].value;
	/*
	 * A name not in the table is a typo in the code, not a setting left
	 * empty: NULL would quietly mean "off" to its user (the audit sink).
	 */
	fatalx("CONFIG_UNKNOWN: %s is not in this process's configuration table", name);
}

void
config_usage(FILE *out, const struct config_var *vars, size_t n)
{
	fprintf(out, "\nEnvironment:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-28s %s%s%s%s\n", vars[i].name, vars[i].help,
		    vars[i].def ? " (default: " : " (required)", vars[i].def ? vars[i].def : "",
		    vars[i].def ? ")" : "");
}
