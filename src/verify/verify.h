/*
 * verify: compare the primary with the secondary, object by object, and
 * say what differs (`georep verify`, DESIGN.md "verify").
 *
 * Both trees are walked together, a directory at a time, depth first: the
 * primary's pages come from vlist_dir() here, the secondary's from VLIST
 * requests, built by the same code, and the two are merged by name.  For
 * each pair: type, mode, owner, mtime, link count, symlink target, device
 * number, xattrs and ACLs (by the digests of their values), and for
 * regular files of the same size the content digest (digest.h), computed
 * on each side at once -- DIGEST requests go out for a batch of files, the
 * primary digests its own copies while the secondary works, and only
 * digests cross the wire.  Memory holds one page per side and, per level
 * of the walk, the names of the subdirectories still to visit; besides
 * that only files with several names are remembered (their inode on each
 * side, so that names of one inode on the primary are names of one inode
 * on the secondary too).
 *
 * An object that changed on the primary since judged_before (its ctime;
 * for a name only on the secondary, its directory's) is not judged: a
 * session has not synced it yet.  It is counted as changing.  With no
 * session, judged_before is INT64_MAX and everything is judged.
 *
 * verify_tree() returns 0 when the walk finished (differences are in the
 * stats and went to on_diff), -1 when the connection failed (c->error) or
 * stop was set.
 */
#ifndef GEOREP_VERIFY_H
#define GEOREP_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/fid.h"

struct conn;
struct pending_req;
struct reply;
struct vlist_entry;

/* What differs: bits of vdiff.what. */
#define VD_MISSING	0x1	/* only on the primary */
#define VD_EXTRA	0x2	/* only on the secondary */
#define VD_TYPE		0x4	/* another type of object */
#define VD_CONTENT	0x8	/* size or content */
#define VD_MODE		0x10
#define VD_OWNER	0x20
#define VD_MTIME	0x40
#define VD_LINKS	0x80	/* link count, or which names share an inode */
#define VD_TARGET	0x100	/* a symlink's target */
#define VD_DEVICE	0x200	/* a device's number */
#define VD_XATTRS	0x400
#define VD_ACLS		0x800
#define VD_UNREADABLE	0x1000	/* could not be compared (detail says why) */

/* Differences a turn repairs by sending the object again (its content or
 * attributes), against those that need the tree walked (a name too many or
 * too few, a type). */
#define VD_ATTR_BITS	(VD_MODE | VD_OWNER | VD_MTIME | VD_XATTRS | VD_ACLS)
#define VD_ENTRY_BITS	(VD_MISSING | VD_EXTRA | VD_TYPE | VD_LINKS | \
			 VD_TARGET | VD_DEVICE)

struct vdiff {
	const char *path;	/* relative to the two roots */
	uint32_t what;		/* VD_* */
	const char *detail;	/* what differs, in words */
	bool is_dir;		/* on the primary (else the secondary) */
	bool has_fid;		/* the primary has the object: its fid */
	struct fid fid;
	bool has_parent_fid;	/* the primary's directory holding it */
	struct fid parent_fid;
	uint64_t sino;		/* VD_EXTRA: the secondary's inode */
};

/* A name both sides have, judged (on_pair): the primary's entry as listed
 * (its name, and the directory's descriptor pfd, valid during the call;
 * the root itself is ".", with pfd the root), the secondary's inode, link
 * count and type, and what differs (VD_* bits; 0: nothing). */
struct vpair {
	int pfd;
	const char *dir;	/* the directory, relative to the roots */
	size_t dlen;
	const struct vlist_entry *p;
	uint64_t sino;
	uint32_t snlink, smode;
	uint32_t what;
};

struct verify_opts {
	const char *const *excludes;	/* exclude_match() patterns */
	size_t nexcludes;
	bool no_owners, no_xattrs, no_acls;
	bool extra_kept;	/* a name only on the secondary is kept there
				 * (a session's ignore_deletes): no difference,
				 * nor a link too many */
	int64_t judged_before;	/* ns since the epoch; INT64_MAX: all */
	bool privileged;	/* both sides may read trusted.* and the like */
	uint64_t fsid;		/* the primary's, for fids */
	bool progress;		/* a line on stderr every second */
	volatile int *stop;
	void (*on_diff)(void *arg, const struct vdiff *d);
	/* Optional: every pair judged, the same or not (georep sync
	 * --adopt), and the replies to requests of its own (cookies from
	 * VERIFY_COOKIE_OTHER up) on the same connection. */
	void (*on_pair)(void *arg, const struct vpair *p);
	void (*on_other_reply)(void *arg, const struct pending_req *req,
	    const struct reply *rep);
	/* Regular files of the same size and mtime on both sides are taken
	 * as the same without reading them (rsync's quick check); the
	 * others of the same size are digested as always. */
	bool quick;
	void *arg;
};

#define VERIFY_COOKIE_OTHER	(1ull << 32)

struct verify_stats {
	uint64_t files, dirs, others;	/* compared, on the primary */
	uint64_t bytes;			/* content digested on each side */
	uint64_t differences;		/* objects that differ */
	uint64_t unreadable;		/* of which could not be compared */
	uint64_t changing;		/* not judged: changed since */
};

int verify_tree(struct conn *c, int rootfd, const struct verify_opts *o,
    struct verify_stats *st);

/* The words of a VD_* bit ("content", "mode", ...), for --json. */
const char *vdiff_name(uint32_t bit);

#endif
