/*
 * georep secondary DIR: the far end (secondary.h).
 *
 * Under an ssh forced command (command="georep secondary /srv/replica" in
 * the remote authorized_keys), sshd runs that command whatever the client
 * asked for, and puts what it asked for in SSH_ORIGINAL_COMMAND.  The
 * secondary then serves only its own DIR: a primary that asked for another
 * directory (or for another command) gets its HELLO refused with the
 * reason, and nothing is written.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../common/cmdline.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../secondary/secondary.h"
#include "cli.h"
#include "../common/banned.h"

/* a and b name the same directory: the same string but for trailing
 * slashes, or the same real path. */
static bool
same_dir(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	if (la == lb && memcmp(a, b, la) == 0)
		return true;
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	bool same = ra && rb && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}

/* Why a forced command refuses what the client asked for, or NULL. */
static char *
forced_refusal(const char *asked, const char *dir)
{
	char **w, err[256];
	char *why = NULL;

	if (split_command(asked, &w, err, sizeof(err)) < 0)
		return xasprintf("this account runs only 'georep secondary %s' "
		    "(a forced command); it was asked for: %s", dir, asked);
	size_t n = 0;
	while (w[n])
		n++;
	const char *prog = strrchr(w[0], '/') ? strrchr(w[0], '/') + 1 : w[0];
	if (n != 3 || strcmp(prog, "georep") != 0 ||
	    strcmp(w[1], "secondary") != 0)
		why = xasprintf("this account runs only 'georep secondary %s' "
		    "(a forced command); it was asked for: %s", dir, asked);
	else if (!same_dir(w[2], dir))
		why = xasprintf("this account serves only %s (a forced command "
		    "in its authorized_keys); the primary asked for %s: "
		    "nothing was written", dir, w[2]);
	argv_free(w);
	return why;
}

int
cmd_secondary(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	log_init("georep secondary", LOG_LVL_INFO, stderr);
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("usage: georep secondary DIR\n\n"
			    "The far end of a replication: reads requests on "
			    "standard input, applies them beneath DIR\n"
			    "(created if missing), answers on standard output. "
			    "Started by georep itself, locally\nor over ssh; "
			    "it keeps its own state in DIR/.georep.\n\n"
			    "As an ssh forced command (command=\"georep secondary "
			    "DIR\" in authorized_keys), it\nserves DIR only: a "
			    "primary that asks for another path is refused.\n");
			return 0;
		default:
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "georep secondary: %s\nusage: georep secondary "
		    "DIR\n", argc - optind ? "one DIR only" : "missing DIR");
		return EX_USAGE;
	}
	const char *dir = argv[optind];
	const char *asked = getenv("SSH_ORIGINAL_COMMAND");
	char *refusal = asked ? forced_refusal(asked, dir) : NULL;
	int rc = secondary_main(dir, 0, 1, refusal);
	free(refusal);
	return rc;
}
