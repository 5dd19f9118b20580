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
"                                     (a running session applies them at once)\n"
"  delete [--force] NAME              delete a session (the replica stays)\n"
"  start NAME [--foreground]          start continuous replication\n"
"  stop NAME | pause NAME | resume NAME\n"
"  status [NAME] [--json | --detail]  state, sync point, lag, failures, checkpoint\n"
"  checkpoint NAME now|TIME           completes when the sync point passes TIME\n"
"  verify NAME | PRIMARY SECONDARY    compare the two trees; print what differs\n"
"  secondary DIR                      the far end; speaks the protocol on stdin/stdout\n"
"\n"
"Run 'georep help COMMAND' (or 'georep COMMAND --help') for a command's\n"
"options; 'georep --version' (-V) prints the version.\n");
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

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "sync", cmd_sync },
	{ "create", cmd_create },
	{ "config", cmd_config },
	{ "delete", cmd_delete },
	{ "start", cmd_start },
	{ "stop", cmd_stop },
	{ "pause", cmd_pause },
	{ "resume", cmd_pause },	/* told apart by argv[0] */
	{ "checkpoint", cmd_checkpoint },
	{ "status", cmd_status },
	{ "verify", cmd_verify },
	{ "secondary", cmd_secondary },
};

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	fprintf(stderr, "georep: unknown command '%s'\n", name);
	usage(stderr);
	return NULL;
}

/* georep help CMD: the command's own --help, so there is one text. */
static int
help(int argc, char **argv)
{
	if (argc < 3) {
		usage(stdout);
		return 0;
	}
	if (argc > 3) {
		fprintf(stderr, "georep help: unexpected argument '%s'\n"
		    "usage: georep help [COMMAND]\n", argv[3]);
		return EX_USAGE;
	}
	const struct command *c = find_command(argv[2]);
	if (c == NULL)
		return EX_USAGE;
	char *args[] = { argv[2], (char *)"--help", NULL };
	return c->run(2, args);
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
	    strcmp(cmd, "help") == 0)
		return help(argc, argv);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("georep 0.1\n");
		return 0;
	}
	const struct command *c = find_command(cmd);
	return c ? c->run(argc - 1, argv + 1) : EX_USAGE;
}
