#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cmdline.h"
#include "../common/config.h"
#include "../common/names.h"
#include "../common/util.h"
#include "cli.h"
#include "../common/banned.h"

int
opt_exclude(const char *cmd, const char *arg, struct opt_list *l)
{
	if (*arg == '\0') {
		fprintf(stderr, "georep %s: --exclude needs a pattern\n", cmd);
		return -1;
	}
	XGROW(l->v, l->cap, l->n + 1);
	l->v[l->n++] = arg;
	return 0;
}

int
opt_ssh(const char *cmd, const char *arg)
{
	char **words, err[512];

	if (split_command(arg, &words, err, sizeof(err)) < 0) {
		fprintf(stderr, "georep %s: --ssh %s\n", cmd, err);
		return -1;
	}
	argv_free(words);
	return 0;
}

int
opt_name(const char *cmd, const char *arg)
{
	if (name_valid(arg, strlen(arg)) && arg[0] != '.')
		return 0;
	fprintf(stderr, "georep %s: --name '%s': not a valid name (no '/', "
	    "not starting with '.')\n", cmd, arg);
	return -1;
}

int
opt_timeout(const char *cmd, const char *arg, int *out)
{
	char *end;

	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || *end || v < 1 || v > 86400) {
		fprintf(stderr, "georep %s: --timeout '%s': expected seconds "
		    "from 1 to 86400\n", cmd, arg);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int
opt_compress(const char *cmd, const char *arg, int *out)
{
	if (arg == NULL) {
		*out = COMPRESS_DEFAULT;
		return 0;
	}
	if (parse_compress(arg, out) == 0)
		return 0;
	fprintf(stderr, "georep %s: --compress '%s': expected a zstd level from "
	    "1 to %d (or auto, on, off)\n", cmd, arg, COMPRESS_MAX);
	return -1;
}

int
opt_bwlimit(const char *cmd, const char *arg, uint64_t *out)
{
	if (parse_rate(arg, out) == 0)
		return 0;
	fprintf(stderr, "georep %s: --bwlimit '%s': expected 0 (no limit) or a "
	    "rate in KiB per second, or with a suffix K, M, G (e.g. 500, "
	    "2M), from 1K to 1024G\n", cmd, arg);
	return -1;
}

int
opt_sync_jobs(const char *cmd, const char *arg, int *out)
{
	if (parse_sync_jobs(arg, out) == 0)
		return 0;
	fprintf(stderr, "georep %s: --sync-jobs '%s': expected a number of "
	    "workers from 1 to %d\n", cmd, arg, SYNC_JOBS_LIMIT);
	return -1;
}

int
opt_delta_threshold(const char *cmd, const char *arg, uint64_t *out)
{
	if (parse_delta_threshold(arg, out) == 0)
		return 0;
	fprintf(stderr, "georep %s: --delta-threshold '%s': expected a size "
	    "such as 1M, 512K, 2G (bytes without a unit), off or auto\n", cmd,
	    arg);
	return -1;
}
