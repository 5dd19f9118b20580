/*
 * resolve: open directories beneath a root (the secondary's, or the primary's) without ever
 * following a symlink or leaving the root.
 *
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the kernel has it;
 * elsewhere a walk of O_PATH|O_NOFOLLOW|O_DIRECTORY opens, one component at
 * a time (which refuses a symlink at every step).  Paths longer than PATH_MAX
 * are resolved in pieces, each relative to the last.  The caller's paths
 * are already checked by relpath_valid().
 *
 * A one-entry cache keeps the last directory resolved: operations arrive
 * grouped by directory, so most lookups cost nothing.  The cache must be
 * dropped (resolve_forget) whenever an operation renames or removes a
 * directory, since the cached path may then name something else.
 */
#ifndef GEOREP_RESOLVE_H
#define GEOREP_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct resolver {
	int basefd[2];		/* BASE_ROOT, BASE_STAGE */
	bool use_openat2;
	int cache_base;
	struct buf cache_path;
	int cache_fd;
	uint64_t cache_ino;	/* its inode number, once asked (0: not yet) */
};

void resolve_init(struct resolver *r, int rootfd, int stagefd);
/* An O_PATH fd of the directory base/path, owned by the resolver (do not
 * close); -1 with errno (ELOOP/ENOTDIR for a symlink on the way, EXDEV for
 * an escape). */
int resolve_dir(struct resolver *r, int base, const char *path, size_t len);
/* The inode number of a directory resolve_dir returned: one fstat per
 * directory cached, not one per operation.  -1 with errno. */
int resolve_ino(struct resolver *r, int fd, uint64_t *ino);
void resolve_forget(struct resolver *r);
void resolve_release(struct resolver *r);

#endif
