#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "util.h"
#include "banned.h"

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

void
argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* One word from *p (past blanks), with the shell's quotes; 0 at the end,
 * -1 on bad quoting. */
static int
next_word(const char **p, struct buf *w)
{
	const char *s = *p;
	char quote = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0') {
		*p = s;
		return 0;
	}
	buf_reset(w);
	for (; *s && (quote || (*s != ' ' && *s != '\t')); s++) {
		if (quote == '\'' ) {
			if (*s == '\'')
				quote = 0;
			else
				buf_add(w, s, 1);
		} else if (*s == '\\' && quote != '\'') {
			if (s[1] == '\0')
				return -1;
			buf_add(w, ++s, 1);
		} else if (*s == '"' && quote == '"') {
			quote = 0;
		} else if ((*s == '\'' || *s == '"') && quote == 0) {
			quote = *s;
		} else {
			buf_add(w, s, 1);
		}
	}
	if (quote)
		return -1;
	buf_add(w, "", 1);
	*p = s;
	return 1;
}

int
split_command(const char *cmd, char ***argv, char *err, size_t errlen)
{
	struct buf w = BUF_INIT;
	const char *p = cmd;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*argv = NULL;
	while ((rc = next_word(&p, &w)) > 0) {
		XGROW(v, cap, n + 2);
		v[n++] = xstrdup((char *)w.data);
		v[n] = NULL;
	}
	buf_release(&w);
	if (rc < 0 || n == 0) {
		argv_free(v);
		BAD("'%s': %s", cmd, n == 0 && rc == 0 ? "no command" :
		    "unbalanced quotes or a trailing backslash");
	}
	*argv = v;
	return 0;
}

char *
shell_quote(const char *word)
{
	struct buf b = BUF_INIT;

	buf_add(&b, "'", 1);
	for (const char *s = word; *s; s++) {
		if (*s == '\'')
			buf_addstr(&b, "'\\''");
		else
			buf_add(&b, s, 1);
	}
	buf_add(&b, "'", 2);	/* and the NUL */
	return (char *)b.data;
}
