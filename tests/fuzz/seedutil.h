/*
 * seedutil: what the seed writers share (seeds.c, seeds_replies.c): the
 * directory the seeds go to, and writing one.  static, for each program.
 */
#ifndef GEOREP_SEEDUTIL_H
#define GEOREP_SEEDUTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"

static const char *dir;

/* b, saved as dir/name; any failure ends the program. */
static void
emit(const char *name, const struct buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

#endif
