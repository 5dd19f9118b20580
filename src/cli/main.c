#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "cli.h"
#include "../common/banned.h"

static void
usage(FILE *out)
{
	fprintf(out,
"usage: georep COMMAND [OPTIONS] ...\n"
"\n"
"Keep a replica of a directory tree.\n"
"\n"
"commands:\n"
"  sync [OPTIONS] PRIMARY SECONDARY   one-shot: make SECONDARY an exact replica\n"
"  create NAME PRIMARY SECONDARY      create a session (continuous replication)\n"
"  config NAME [KEY [VALUE]]          show or change a session's settings\n"
"  delete NAME                        delete a session (the replica stays)\n"
"  start NAME [--foreground]          start continuous replication\n"
"  stop NAME | pause NAME | resume NAME\n"
"  status [NAME] [--json]             state, sync point, lag, failures, checkpoint\n"
"  checkpoint NAME now|TIME           completes when the sync point passes TIME\n"
"  secondary DIR                      the far end; speaks the protocol on stdin/stdout\n"
"\n"
"Run 'georep COMMAND --help' for a command's options.\n");
}

/* Deep trees keep one descriptor open per level while they are walked. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	log_init("georep", LOG_LVL_INFO, stderr);
	/* A peer that goes away is an error on write, never a signal. */
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("georep 0.1\n");
		return 0;
	}
	if (strcmp(cmd, "sync") == 0)
		return cmd_sync(argc - 1, argv + 1);
	if (strcmp(cmd, "create") == 0)
		return cmd_create(argc - 1, argv + 1);
	if (strcmp(cmd, "config") == 0)
		return cmd_config(argc - 1, argv + 1);
	if (strcmp(cmd, "delete") == 0)
		return cmd_delete(argc - 1, argv + 1);
	if (strcmp(cmd, "start") == 0)
		return cmd_start(argc - 1, argv + 1);
	if (strcmp(cmd, "stop") == 0)
		return cmd_stop(argc - 1, argv + 1);
	if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0)
		return cmd_pause(argc - 1, argv + 1);
	if (strcmp(cmd, "checkpoint") == 0)
		return cmd_checkpoint(argc - 1, argv + 1);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(cmd, "secondary") == 0)
		return cmd_secondary(argc - 1, argv + 1);
	fprintf(stderr, "georep: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
