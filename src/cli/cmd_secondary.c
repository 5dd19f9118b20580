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
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* --fd-channel FD: an open unix socket, not one of the standard three. */
static int
fd_channel(const char *arg, int *out)
{
	struct stat st;
	char *end;

	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 3 || v > INT_MAX) {
		fprintf(stderr, "georep secondary: --fd-channel '%s': expected "
		    "a descriptor number from 3 up\n", arg);
		return -1;
	}
	if (fstat((int)v, &st) < 0) {
		fprintf(stderr, "georep secondary: --fd-channel %ld: %s\n", v,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "georep secondary: --fd-channel %ld: not a "
		    "socket\n", v);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int
cmd_secondary(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "fd-channel", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, fdchan = -1;

	log_init("georep secondary", LOG_LVL_INFO, stderr);
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'F':
			if (fd_channel(optarg, &fdchan) < 0)
				return EX_USAGE;
			break;
		case 'h':
			printf("usage: georep secondary [--fd-channel FD] DIR\n\n"
			    "The far end of a replication: reads requests on "
			    "standard input, applies them beneath DIR\n"
			    "(created if missing), answers on standard output. "
			    "Started by georep itself, locally\nor over ssh; "
			    "it keeps its own state in DIR/.georep.\n\n"
			    "As an ssh forced command (command=\"georep secondary "
			    "DIR\" in authorized_keys), it\nserves DIR only: a "
			    "primary that asks for another path is refused.\n\n"
			    "  --fd-channel FD  a unix socket inherited from a local "
			    "primary, on which it\n"
			    "                   passes the descriptors of large "
			    "files to copy in the kernel\n"
			    "                   (set by georep itself)\n");
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
	int rc = secondary_main(dir, 0, 1, fdchan, refusal);
	free(refusal);
	return rc;
}
