#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../common/log.h"
#include "../secondary/secondary.h"
#include "cli.h"
#include "../common/banned.h"

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
			    "it keeps its own state in DIR/.georep.\n");
			return 0;
		default:
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: georep secondary DIR\n");
		return EX_USAGE;
	}
	return secondary_main(argv[optind], 0, 1);
}
