/*
 * batch: from journal segments to a turn -- the step between the journal
 * and the syncer (DESIGN.md, "Data flow").
 *
 * batch_read() reads every sealed segment of a journal directory and
 * gathers what their records name: the (directory, name) pairs to look at
 * again, the objects named by fid, the directories that moved (walked
 * whole), the last segment's cut time.  A segment with J_OVERFLOW, a torn
 * tail, a batch sealed by a crash (no cut time) or more than
 * BATCH_SEGMENTS_MAX segments make the batch `full`: the turn crawls the
 * whole primary instead.
 *
 * For a directed turn, batch_plan() then adds every other name the index
 * has for an object a record names (a file written through one hard link
 * changed under all of them: only the index knows where they are) and
 * groups the pairs: each directory once (dirs), with its names sorted and
 * unique (names; past BATCH_NAMES_MAX, the directory is listed whole).
 * dirs, names and deep are what sync_opts takes.
 *
 * batch_remove() deletes the segments once the secondary has them;
 * batch_release() frees the batch.  Functions return 0 or -1 (logged).
 */
#ifndef GEOREP_BATCH_H
#define GEOREP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/fid.h"
#include "../detection/crawl.h"

struct index;

/* Segments kept for a retry; beyond, a full crawl stands for them. */
#define BATCH_SEGMENTS_MAX	256
/* Past this many names in one directory, it is listed whole. */
#define BATCH_NAMES_MAX	4096

struct dirname {
	struct fid dir;
	char *name;		/* NULL: the directory itself */
};

struct batch {
	uint64_t *seqs;
	size_t nseqs;
	struct dirname *pairs;
	size_t npairs, cap;
	struct fid *objs;	/* the objects records name by fid */
	size_t nobjs, capobjs;
	struct fid *deep;	/* directories that moved */
	size_t ndeep, capdeep;
	/* grouped: the directories to list, and the names in each */
	struct fid *dirs;
	struct crawl_names *names;
	size_t ndirs;
	size_t nrecords;
	bool full;		/* a full crawl: overflow, torn, or too many */
	int64_t cut;		/* the last segment's cut time */
};

int batch_read(const char *jdir, struct batch *b);
/* One more (directory, name) to look at (len 0: the directory itself),
 * before batch_plan: a failure of an earlier turn (sync_stats.retry). */
void batch_add(struct batch *b, const struct fid *dir, const char *name,
    size_t len);
int batch_plan(struct batch *b, struct index *ix);
void batch_remove(const char *jdir, const struct batch *b);
void batch_release(struct batch *b);

#endif
