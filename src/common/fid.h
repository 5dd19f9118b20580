/*
 * fid: the identity of a primary inode.  An opaque byte string to everything
 * past the detector: here the 8-byte filesystem id, the 4-byte handle type
 * and the kernel file handle bytes, as name_to_handle_at(2) returns them
 * (fanotify reports the same bytes).  Stable across renames and not reused,
 * because the handle carries the inode generation.
 *
 * FID_STAGE is a pseudo-fid no kernel handle can equal (it is shorter than
 * any): the staging directory on the secondary, where objects wait during a
 * turn that moves them through names that are still taken.  A path on the
 * secondary is relative to one of two bases: the replica's root
 * (BASE_ROOT) or that staging directory (BASE_STAGE).  The index answers
 * paths with their base (index_path), the wire names it in every oref
 * (proto.h), the secondary holds a directory for each (resolve.h).
 */
#ifndef GEOREP_FID_H
#define GEOREP_FID_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FID_MAX 144		/* 8 + 4 + MAX_HANDLE_SZ (128), rounded */

struct fid {
	uint8_t len;
	uint8_t bytes[FID_MAX];
};

/* Where a path on the secondary starts (above). */
enum base { BASE_ROOT = 0, BASE_STAGE = 1 };

static inline bool
fid_eq(const struct fid *a, const struct fid *b)
{
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

static inline bool
fid_is_stage(const struct fid *f)
{
	return f->len == 1 && f->bytes[0] == 0;
}

static inline void
fid_set_stage(struct fid *f)
{
	f->len = 1;
	f->bytes[0] = 0;
}

/*
 * The fid of NAME in DIRFD (or of DIRFD itself with name ""), never
 * following a final symlink.  fsid identifies the filesystem.  -1 with
 * errno (EOPNOTSUPP where the filesystem has no handles).
 */
int fid_at(int dirfd, const char *name, uint64_t fsid, struct fid *out);

/*
 * Open the object with this fid, wherever it is now, on the filesystem of
 * mountfd (open_by_handle_at: needs CAP_DAC_READ_SEARCH).  -1 with errno:
 * ESTALE when it no longer exists, EPERM without the privilege.
 */
int fid_open(int mountfd, const struct fid *fid, uint64_t fsid, int flags);

/* Hex form for messages and staging names; out >= 2*FID_MAX+1. */
void fid_hex(const struct fid *f, char *out);

#endif
