/*
 * cmdline: a command line given as one string (a config value such as the
 * ssh command, "ssh -p 2222 -i KEY") split into words, and a word quoted
 * for a POSIX shell (the remote shell ssh hands its command line to).
 *
 * The split knows the shell's quoting ('...', "...", backslash) and
 * nothing else: no expansion, no variables, no globbing, no operators.
 * Functions that can fail say why in err and return -1.
 */
#ifndef GEOREP_CMDLINE_H
#define GEOREP_CMDLINE_H

#include <stddef.h>

/* Words of cmd, NULL-terminated (*argv and each word malloc'ed: free with
 * argv_free).  -1: unbalanced quotes, a trailing backslash, no word. */
int split_command(const char *cmd, char ***argv, char *err, size_t errlen);
void argv_free(char **argv);
/* 'word' for a POSIX shell, whatever bytes it holds (malloc'ed). */
char *shell_quote(const char *word);

#endif
