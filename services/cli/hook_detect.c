#include "hook_detect.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WORD_MAX 1024
#define WORDS_MAX 96
#define DEPTH_MAX 6
#define HEREDOCS_MAX 8

struct word {
	char v[WORD_MAX + 1]; /* the value after quote removal */
	size_t len;
	int expanded; /* holds $..., `...`: its value is known at run time only */
	int truncated; /* longer than WORD_MAX: v holds its start only */
};

struct simple {
	struct word w[WORDS_MAX];
	size_t n;
	int redirect;
	int overflow; /* more than WORDS_MAX words: the rest are not in w */
};

struct scan {
	const char *top; /* the whole line, for "does it mention docker" */
	int depth;
	int commands; /* simple commands at this level */
	int docker; /* docker runs found, at any level */
	int deny; /* a reason to refuse was found; why has it */
	char why[512];
	int have_route;
	char route[COMMAND_MAX_LEN + 1];
	char noroute[256]; /* why a docker run found cannot be routed */
	struct heredoc {
		char delim[WORD_MAX + 1];
		int strip_tabs, quoted;
	} hd[HEREDOCS_MAX];
	size_t n_hd;
};

static void scan_text(struct scan *s, const char *p, size_t len);

static void __attribute__((format(printf, 2, 3))) deny(struct scan *s, const char *fmt, ...)
{
	va_list ap;

	if (s->deny)
		return;
	s->deny = 1;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static int
mentions_docker(const char *s)
{
	for (; *s != '\0'; s++)
		if (strncasecmp(s, "docker", 6) == 0)
			return 1;
	return 0;
}

/* The program's name as exec would look it up: after the last '/'. */
static const char *
base_name(const char *w)
{
	const char *slash = strrchr(w, '/');

	return slash != NULL ? slash + 1 : w;
}

static int
is_docker(const char *w)
{
	const char *b = base_name(w);

	return strcasecmp(b, "docker") == 0 || strncasecmp(b, "docker-", 7) == 0 ||
	    strcasecmp(b, "dockerd") == 0 || strcasecmp(b, "docker.exe") == 0;
}

static int
in_list(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return 1;
	return 0;
}

/* Programs that run a command given as their later arguments, in ways not followed here. */
static const char *const runners[] = { "xargs", "find", "watch", "ssh", "su", "runuser", "script",
	"parallel", "flock", "strace", "ltrace", "valgrind", "gdb", "nsenter", "chroot", "unshare",
	"firejail", "bwrap", "busybox", "torsocks", "proxychains", "proxychains4", "sg", "newgrp",
	"pkexec", "systemd-run", "tmux", "screen", "at", "batch", "nohup-wrapper", "socat",
	"expect", "make", "just", "npx", "uvx", "pipx", "ionice", "chrt", "taskset", "unbuffer",
	"catchsegv", "fakeroot", "time", NULL };
/* Programs that run code given inline, on stdin or in a file. */
static const char *const interpreters[] = { "perl", "ruby", "node", "nodejs", "deno", "bun", "php",
	"lua", "tclsh", "awk", "gawk", "mawk", "nawk", "osascript", "pwsh", "powershell", "source",
	".", NULL };
static const char *const shells[] = { "sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish",
	"yash", "rbash", NULL };
static const char *const keywords[] = { "!", "{", "}", "if", "then", "else", "elif", "fi", "do",
	"done", "while", "until", "for", "in", "case", "esac", "coproc", "function", NULL };

static int
is_assignment(const struct word *w)
{
	size_t i = 0;

	if (!(isalpha((unsigned char)w->v[0]) || w->v[0] == '_'))
		return 0;
	while (isalnum((unsigned char)w->v[i]) || w->v[i] == '_')
		i++;
	return w->v[i] == '=';
}

/* Options of a wrapper that take the next word as their value. */
static int
takes_value(const char *prog, const char *opt)
{
	static const char *const sudo_v[] = { "-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U",
		"-T", "-R", "--user", "--group", "--host", "--prompt", "--chdir", "--role",
		"--type", "--other-user", "--close-from", "--chroot", NULL };
	static const char *const env_v[] = { "-u", "-C", "--unset", "--chdir", NULL };
	static const char *const exec_v[] = { "-a", NULL };
	static const char *const nice_v[] = { "-n", "--adjustment", NULL };
	static const char *const timeout_v[] = { "-s", "-k", "--signal", "--kill-after", NULL };
	static const char *const stdbuf_v[] = { "-i", "-o", "-e", NULL };
	static const char *const setsid_v[] = { NULL };

	if (strcmp(prog, "sudo") == 0 || strcmp(prog, "doas") == 0)
		return in_list(opt, sudo_v);
	if (strcmp(prog, "env") == 0)
		return in_list(opt, env_v);
	if (strcmp(prog, "exec") == 0)
		return in_list(opt, exec_v);
	if (strcmp(prog, "nice") == 0)
		return in_list(opt, nice_v);
	if (strcmp(prog, "timeout") == 0)
		return in_list(opt, timeout_v);
	if (strcmp(prog, "stdbuf") == 0)
		return in_list(opt, stdbuf_v);
	return in_list(opt, setsid_v);
}

static int
is_wrapper(const char *prog)
{
	static const char *const wrappers[] = { "sudo", "doas", "env", "command", "exec", "nohup",
		"nice", "timeout", "stdbuf", "setsid", "builtin", NULL };

	return in_list(prog, wrappers);
}

/* A nested script ($(...), sh -c STRING, eval): scanned alone, then merged. */
static void
scan_nested(struct scan *s, const char *p, size_t len, struct scan *inner)
{
	memset(inner, 0, sizeof(*inner));
	inner->top = s->top;
	inner->depth = s->depth + 1;
	if (inner->depth > DEPTH_MAX) {
		deny(s, "HOOK_TOO_DEEP: commands nested more than %d levels", DEPTH_MAX);
		return;
	}
	scan_text(inner, p, len);
	s->docker += inner->docker;
	if (inner->docker > 0 && *s->noroute == '\0')
		snprintf(s->noroute, sizeof(s->noroute),
		    "HOOK_NOT_ROUTABLE: docker inside $(...), backticks, eval or a nested script");
	if (inner->deny)
		deny(s, "%s", inner->why);
}

/* A docker run at words[i..n): routable when written plainly. */
static void
found_docker(struct scan *s, const struct simple *c, size_t i, int plain)
{
	char route[COMMAND_MAX_LEN + 1] = "docker";
	size_t used = strlen(route);

	s->docker++;
	if (strcasecmp(base_name(c->w[i].v), "docker") != 0) {
		snprintf(s->noroute, sizeof(s->noroute),
		    "HOOK_NOT_ROUTABLE: '%.64s' is not the docker command Wingman's grammar knows",
		    base_name(c->w[i].v));
		return;
	}
	if (!plain) {
		snprintf(s->noroute, sizeof(s->noroute),
		    "HOOK_NOT_ROUTABLE: docker is run through '%s', which Wingman does not look "
		    "through",
		    base_name(c->w[0].v));
		return;
	}
	if (c->redirect) {
		snprintf(s->noroute, sizeof(s->noroute),
		    "HOOK_NOT_ROUTABLE: the docker command redirects its input or output");
		return;
	}
	for (size_t k = i + 1; k < c->n; k++) {
		const struct word *w = &c->w[k];

		if (w->expanded) {
			snprintf(s->noroute, sizeof(s->noroute),
			    "HOOK_NOT_ROUTABLE: argument '%.64s' is computed at run time ($, `)",
			    w->v);
			return;
		}
		if (strpbrk(w->v, " \t\n") != NULL || w->len == 0) {
			snprintf(s->noroute, sizeof(s->noroute),
			    "HOOK_NOT_ROUTABLE: argument '%.64s' is empty or holds a blank; Wingman's "
			    "grammar splits on blanks",
			    w->v);
			return;
		}
		if (used + 1 + w->len > COMMAND_MAX_LEN) {
			snprintf(s->noroute, sizeof(s->noroute),
			    "HOOK_NOT_ROUTABLE: longer than %d bytes", COMMAND_MAX_LEN);
			return;
		}
		route[used++] = ' ';
		memcpy(route + used, w->v, w->len);
		used += w->len;
		route[used] = '\0';
	}
	if (s->have_route) {
		s->have_route = 0;
		snprintf(s->noroute, sizeof(s->noroute),
		    "HOOK_NOT_ROUTABLE: more than one docker command");
		return;
	}
	s->have_route = 1;
	memcpy(s->route, route, used + 1);
}

/* What one simple command runs: the heart of the check. */
static void
analyze(struct scan *s, struct simple *c)
{
	size_t i = 0;
	int plain = 1; /* only wrappers whose options are understood so far */

	if (c->n == 0)
		return;
	s->commands++;
	for (size_t k = 0; k < c->n; k++)
		if (strstr(c->w[k].v, "docker.sock") != NULL ||
		    strstr(c->w[k].v, "/var/run/docker") != NULL)
			deny(s, "HOOK_DOCKER_SOCKET: '%.64s' reaches the Docker Engine API directly",
			    c->w[k].v);
	while (i < c->n) {
		const struct word *w = &c->w[i];
		const char *name = base_name(w->v);

		if (is_assignment(w) || in_list(w->v, keywords)) {
			if (strncmp(w->v, "DOCKER_", 7) == 0)
				deny(s,
				    "HOOK_DOCKER_ENV: sets %.*s, which changes where docker commands "
				    "go",
				    (int)(strchr(w->v, '=') - w->v), w->v);
			i++;
			continue;
		}
		/*
		 * A program name cut short, or words past the limit of a command
		 * that runs another: what it runs is not known here.
		 */
		if (w->truncated ||
		    (c->overflow &&
		        (is_docker(w->v) || is_wrapper(name) || in_list(name, shells) ||
		            in_list(name, runners) || strcmp(name, "eval") == 0))) {
			deny(s,
			    "HOOK_TOO_LONG: a word over %d bytes or more than %d words where the "
			    "program is chosen",
			    WORD_MAX, WORDS_MAX);
			return;
		}
		if (w->expanded) {
			deny(s,
			    "HOOK_UNKNOWN_PROGRAM: the program '%.64s' is computed at run time, so "
			    "Wingman cannot tell whether it is docker; write the program's name "
			    "plainly",
			    w->v);
			return;
		}
		if (is_docker(w->v)) {
			found_docker(s, c, i, plain);
			return;
		}
		/* command -v docker only asks where docker is. */
		if (strcmp(name, "command") == 0 && i + 1 < c->n &&
		    (strcmp(c->w[i + 1].v, "-v") == 0 || strcmp(c->w[i + 1].v, "-V") == 0))
			return;
		if (is_wrapper(name)) {
			int env = strcmp(name, "env") == 0;

			for (i++; i < c->n && c->w[i].v[0] == '-'; i++) {
				const char *opt = c->w[i].v;

				if (strcmp(opt, "--") == 0) {
					i++;
					break;
				}
				if (env &&
				    (strcmp(opt, "-S") == 0 ||
				        strncmp(opt, "--split-string", 14) == 0 ||
				        strncmp(opt, "-S", 2) == 0)) {
					deny(s,
					    "HOOK_NOT_ROUTABLE: env -S splits a string into a command; "
					    "Wingman does not look through it");
					return;
				}
				if (strchr(opt, '=') == NULL && takes_value(name, opt))
					i++;
			}
			/* timeout's duration, nice's bare number. */
			if (strcmp(name, "timeout") == 0 && i < c->n)
				i++;
			continue;
		}
		if (in_list(name, shells)) {
			size_t k;
			for (k = i + 1; k < c->n && c->w[k].v[0] == '-'; k++)
				if (c->w[k].v[1] != '-' && strchr(c->w[k].v, 'c') != NULL)
					break;
			if (k < c->n && c->w[k].v[0] == '-') {
				struct scan inner;
				if (k + 1 >= c->n) {
					deny(s, "HOOK_SHELL: %s -c without a script", name);
					return;
				}
				if (c->w[k + 1].truncated) {
					deny(s, "HOOK_TOO_LONG: %s -c script over %d bytes", name,
					    WORD_MAX);
					return;
				}
				if (c->w[k + 1].expanded) {
					deny(s,
					    "HOOK_UNKNOWN_PROGRAM: %s -c runs a script computed at run "
					    "time",
					    name);
					return;
				}
				scan_nested(s, c->w[k + 1].v, c->w[k + 1].len, &inner);
				/* sh -c 'docker ...' alone is the docker command itself. */
				if (inner.have_route && inner.commands == 1 && plain &&
				    !c->redirect && !s->have_route) {
					s->have_route = 1;
					memcpy(s->route, inner.route, sizeof(s->route));
				} else if (inner.docker > 0 && *s->noroute == '\0')
					snprintf(s->noroute, sizeof(s->noroute), "%s",
					    *inner.noroute != '\0'
					        ? inner.noroute
					        : "HOOK_NOT_ROUTABLE: docker inside a longer shell script");
				return;
			}
			for (k = i + 1; k < c->n && c->w[k].v[0] == '-'; k++)
				;
			if (k >= c->n)
				deny(s,
				    "HOOK_SHELL_STDIN: %s reads its script from standard input, where "
				    "Wingman cannot see whether it runs docker",
				    name);
			else if (mentions_docker(s->top))
				deny(s,
				    "HOOK_SHELL_SCRIPT: %s runs a script on a line that mentions "
				    "docker",
				    name);
			return;
		}
		if (strcmp(name, "eval") == 0) {
			char joined[4096];
			size_t used = 0;
			struct scan inner;

			for (size_t k = i + 1; k < c->n; k++) {
				int n = snprintf(joined + used, sizeof(joined) - used, "%s%s",
				    used ? " " : "", c->w[k].v);
				if (n < 0 || (size_t)n >= sizeof(joined) - used) {
					deny(s, "HOOK_TOO_LONG: eval of a long string");
					return;
				}
				if (c->w[k].expanded || c->w[k].truncated) {
					deny(s,
					    "HOOK_UNKNOWN_PROGRAM: eval of a string computed at run "
					    "time, or too long to read");
					return;
				}
				used += (size_t)n;
			}
			scan_nested(s, joined, used, &inner);
			if (inner.docker > 0 && *s->noroute == '\0')
				snprintf(s->noroute, sizeof(s->noroute),
				    "HOOK_NOT_ROUTABLE: docker run through eval");
			return;
		}
		if (in_list(name, runners) || in_list(name, interpreters) ||
		    strncmp(name, "python", 6) == 0) {
			for (size_t k = i + 1; k < c->n; k++)
				if (is_docker(c->w[k].v) ||
				    (c->w[k].truncated && in_list(name, runners))) {
					s->docker++;
					snprintf(s->noroute, sizeof(s->noroute),
					    "HOOK_NOT_ROUTABLE: docker is run through '%.180s'",
					    name);
					return;
				}
			if (mentions_docker(s->top))
				deny(s,
				    "HOOK_INDIRECT: '%s' runs other programs or code, on a line that "
				    "mentions docker",
				    name);
			return;
		}
		return; /* any other program: its arguments are data */
	}
}

/* ---- the lexer: just enough of the POSIX shell's token rules ---- */

static void
add_char(struct scan *s, struct word *w, int *in_word, char ch)
{
	*in_word = 1;
	(void)s;
	if (w->len >= WORD_MAX) {
		w->truncated = 1;
		return;
	}
	w->v[w->len++] = ch;
	w->v[w->len] = '\0';
}

/* Index of the ')' closing the '(' at i, or len. Quotes and nesting respected. */
static size_t
match_paren(const char *p, size_t i, size_t len)
{
	int depth = 0;

	for (; i < len; i++) {
		char ch = p[i];

		if (ch == '\\')
			i++;
		else if (ch == '\'') {
			const char *q = memchr(p + i + 1, '\'', len - i - 1);
			if (q == NULL)
				return len;
			i = (size_t)(q - p);
		} else if (ch == '(')
			depth++;
		else if (ch == ')' && --depth == 0)
			return i;
	}
	return len;
}

/* A $ at p[i]: parameter, command or arithmetic substitution. Returns the next index. */
static size_t dollar_end(struct scan *s, const char *p, size_t i, size_t len, struct word *w,
    int *in_word, int *literal);

/* Keeps the raw text of an expansion in the word: messages show it. */
static size_t
dollar(struct scan *s, const char *p, size_t i, size_t len, struct word *w, int *in_word)
{
	int literal = 0;
	size_t end = dollar_end(s, p, i, len, w, in_word, &literal);

	if (!literal)
		for (size_t k = i; k < end && k < len && w->len < WORD_MAX; k++)
			w->v[w->len++] = p[k];
	return end;
}

static size_t
dollar_end(struct scan *s, const char *p, size_t i, size_t len, struct word *w, int *in_word,
    int *literal)
{
	struct scan inner;
	size_t end;

	*in_word = 1;
	if (i + 1 >= len ||
	    !(p[i + 1] == '(' || p[i + 1] == '{' || p[i + 1] == '\'' ||
	        isalnum((unsigned char)p[i + 1]) || p[i + 1] == '_' ||
	        strchr("@*#?$!-", p[i + 1]) != NULL)) {
		*literal = 1;
		add_char(s, w, in_word, '$');
		return i + 1;
	}
	w->expanded = 1;
	if (p[i + 1] == '(') {
		if ((end = match_paren(p, i + 1, len)) >= len) {
			deny(s, "HOOK_UNBALANCED: unterminated $(");
			return len;
		}
		if (i + 2 < len && p[i + 2] != '(')
			scan_nested(s, p + i + 2, end - i - 2, &inner);
		else /* $((...)): arithmetic, whose words may still hold $(...) */
			scan_nested(s, p + i + 3, end > i + 3 ? end - i - 3 : 0, &inner);
		return end + 1;
	}
	if (p[i + 1] == '{') {
		const char *q = memchr(p + i, '}', len - i);
		return q != NULL ? (size_t)(q - p) + 1 : len;
	}
	if (p[i + 1] == '\'') {
		for (end = i + 2; end < len && p[end] != '\''; end++)
			if (p[end] == '\\')
				end++;
		return end < len ? end + 1 : len;
	}
	if (isalnum((unsigned char)p[i + 1]) || p[i + 1] == '_') {
		for (end = i + 1; end < len && (isalnum((unsigned char)p[end]) || p[end] == '_');
		     end++)
			;
		return end;
	}
	return i + 2; /* $@ $* $# $? $$ $! $- */
}

static size_t
backtick(struct scan *s, const char *p, size_t i, size_t len, struct word *w, int *in_word)
{
	struct scan inner;
	size_t end;

	for (end = i + 1; end < len && p[end] != '`'; end++)
		if (p[end] == '\\')
			end++;
	if (end >= len) {
		deny(s, "HOOK_UNBALANCED: unterminated backtick");
		return len;
	}
	*in_word = 1;
	w->expanded = 1;
	scan_nested(s, p + i + 1, end - i - 1, &inner);
	for (size_t k = i; k <= end && w->len < WORD_MAX; k++)
		w->v[w->len++] = p[k];
	return end + 1;
}

/* Skips the bodies of pending here-documents after the newline at i. */
static size_t
skip_heredocs(struct scan *s, const char *p, size_t i, size_t len)
{
	for (size_t h = 0; h < s->n_hd; h++) {
		size_t start = i + 1;

		for (;;) {
			const char *nl;
			size_t end, b = start;

			if (start >= len) { /* no terminator: the body runs to the end */
				i = len;
				break;
			}
			nl = memchr(p + start, '\n', len - start);
			end = nl != NULL ? (size_t)(nl - p) : len;
			while (s->hd[h].strip_tabs && b < end && p[b] == '\t')
				b++;
			if (end - b == strlen(s->hd[h].delim) &&
			    memcmp(p + b, s->hd[h].delim, end - b) == 0) {
				i = end;
				break;
			}
			/* An unquoted delimiter expands $(...) in the body: that runs. */
			if (!s->hd[h].quoted) {
				const char *sub = NULL;
				for (size_t k = start; k < end && sub == NULL; k++)
					if (p[k] == '`' ||
					    (p[k] == '$' && k + 1 < end && p[k + 1] == '('))
						sub = p + k;
				if (sub != NULL && mentions_docker(s->top))
					deny(s,
					    "HOOK_HEREDOC: a here-document runs commands ($(...)) "
					    "on a line that mentions docker");
			}
			start = end + 1;
		}
	}
	s->n_hd = 0;
	return i;
}

static void
end_word(struct simple *c, struct word *w, int *in_word, int *target)
{
	if (*in_word) {
		if (*target)
			*target = 0; /* a redirection's file: not an argument */
		else if (c->n < WORDS_MAX)
			c->w[c->n++] = *w;
		else
			c->overflow = 1;
	}
	memset(w, 0, sizeof(*w));
	*in_word = 0;
}

static void
scan_text(struct scan *s, const char *p, size_t len)
{
	static struct simple pool[DEPTH_MAX + 2];
	struct simple *c = &pool[s->depth];
	struct word w;
	int in_word = 0, target = 0, heredoc_next = 0, dash = 0;
	size_t i = 0;

	memset(c, 0, sizeof(*c));
	memset(&w, 0, sizeof(w));
	while (i < len && !s->deny) {
		char ch = p[i];

		if (ch == '\0') {
			deny(s, "HOOK_BAD_BYTE: a NUL byte in the command");
			return;
		}
		if (ch == '\\') {
			if (i + 1 < len && p[i + 1] == '\n') {
				i += 2;
				continue;
			}
			if (i + 1 < len)
				add_char(s, &w, &in_word, p[i + 1]);
			i += 2;
			continue;
		}
		if (ch == '\'') {
			const char *q = memchr(p + i + 1, '\'', len - i - 1);
			if (q == NULL) {
				deny(s, "HOOK_UNBALANCED: unterminated single quote");
				return;
			}
			in_word = 1;
			for (const char *r = p + i + 1; r < q; r++)
				add_char(s, &w, &in_word, *r);
			if (heredoc_next)
				heredoc_next = 2;
			i = (size_t)(q - p) + 1;
			continue;
		}
		if (ch == '"') {
			size_t k = i + 1;
			in_word = 1;
			while (k < len && p[k] != '"' && !s->deny) {
				if (p[k] == '\\' && k + 1 < len &&
				    strchr("\"\\$`\n", p[k + 1]) != NULL) {
					add_char(s, &w, &in_word, p[k + 1]);
					k += 2;
				} else if (p[k] == '$')
					k = dollar(s, p, k, len, &w, &in_word);
				else if (p[k] == '`')
					k = backtick(s, p, k, len, &w, &in_word);
				else
					add_char(s, &w, &in_word, p[k++]);
			}
			if (k >= len) {
				deny(s, "HOOK_UNBALANCED: unterminated double quote");
				return;
			}
			if (heredoc_next)
				heredoc_next = 2;
			i = k + 1;
			continue;
		}
		if (ch == '$') {
			i = dollar(s, p, i, len, &w, &in_word);
			continue;
		}
		if (ch == '`') {
			i = backtick(s, p, i, len, &w, &in_word);
			continue;
		}
		if (ch == '#' && !in_word) {
			const char *nl = memchr(p + i, '\n', len - i);
			i = nl != NULL ? (size_t)(nl - p) : len;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == ';' || ch == '&' ||
		    ch == '|' || ch == '(' || ch == ')' || ch == '<' || ch == '>') {
			if (heredoc_next && in_word && s->n_hd < HEREDOCS_MAX) {
				snprintf(s->hd[s->n_hd].delim, sizeof(s->hd[0].delim), "%s", w.v);
				s->hd[s->n_hd].strip_tabs = dash;
				s->hd[s->n_hd].quoted = heredoc_next == 2;
				s->n_hd++;
				heredoc_next = 0;
			}
			/* 2>&1: the digits before a redirection are its descriptor. */
			if ((ch == '<' || ch == '>') && in_word && !w.expanded &&
			    strspn(w.v, "0123456789") == w.len) {
				memset(&w, 0, sizeof(w));
				in_word = 0;
			}
			end_word(c, &w, &in_word, &target);
		}
		if (ch == ' ' || ch == '\t' || ch == '\r') {
			i++;
			continue;
		}
		if (ch == '<' || ch == '>') {
			c->redirect = 1;
			if (i + 1 < len && p[i + 1] == '(') {
				struct scan inner;
				size_t end = match_paren(p, i + 1, len);
				if (end >= len) {
					deny(s,
					    "HOOK_UNBALANCED: unterminated process substitution");
					return;
				}
				scan_nested(s, p + i + 2, end - i - 2, &inner);
				i = end + 1;
				continue;
			}
			if (ch == '<' && i + 2 < len && p[i + 1] == '<' && p[i + 2] != '<') {
				heredoc_next = 1;
				target = 1; /* the delimiter is not an argument */
				dash = i + 2 < len && p[i + 2] == '-';
				i += dash ? 3 : 2;
				continue;
			}
			while (i < len && strchr("<>&|", p[i]) != NULL)
				i++;
			target = 1;
			continue;
		}
		if (ch == '\n' || ch == ';' || ch == '&' || ch == '|' || ch == '(' || ch == ')') {
			analyze(s, c);
			memset(c, 0, sizeof(*c));
			target = 0;
			if (ch == '\n' && s->n_hd > 0)
				i = skip_heredocs(s, p, i, len);
			i++;
			continue;
		}
		add_char(s, &w, &in_word, ch);
		i++;
	}
	if (s->deny)
		return;
	if (heredoc_next && in_word && s->n_hd < HEREDOCS_MAX) {
		snprintf(s->hd[s->n_hd].delim, sizeof(s->hd[0].delim), "%s", w.v);
		s->n_hd++;
	}
	end_word(c, &w, &in_word, &target);
	analyze(s, c);
}

void
hook_check_shell(const char *line, struct hook_check *out)
{
	static struct scan s;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	s.top = line;
	scan_text(&s, line, strlen(line));
	if (s.deny) {
		out->verdict = HOOK_DENY;
		snprintf(out->why, sizeof(out->why), "%s", s.why);
	} else if (s.docker == 0) {
		out->verdict = HOOK_PASS;
	} else if (s.docker == 1 && s.commands == 1 && s.have_route) {
		out->verdict = HOOK_ROUTE;
		snprintf(out->command, sizeof(out->command), "%s", s.route);
	} else {
		out->verdict = HOOK_DENY;
		if (s.commands > 1 || s.docker > 1)
			snprintf(out->why, sizeof(out->why),
			    "HOOK_NOT_ROUTABLE: docker in a line of several commands (;, &&, ||, |, "
			    "subshells, $(...)); ask for each docker command alone, as a single "
			    "command");
		else
			snprintf(out->why, sizeof(out->why), "%s",
			    *s.noroute != '\0' ? s.noroute : "HOOK_NOT_ROUTABLE: docker");
	}
}
