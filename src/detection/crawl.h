/*
 * crawl: walk the primary, compare it with the index, and describe the
 * difference as changed objects (struct pobj), found by fid.
 *
 * For every directory it visits, the crawl merges the directory's entries
 * (sorted by name) with the index's children of that directory.  A name
 * bound to the same fid on both sides is an unchanged link; the object's
 * attributes are then compared with the index.  Everything else is a link
 * added or removed.  Since every link of a live fid is visited, the planner
 * can tell a rename (links removed and added), a new hard link (added, some
 * kept), a delete (all removed) and a creation (fid unknown) apart -- even
 * for a directory of 10,000 files renamed, which is one changed object.
 *
 * Memory grows with what changed, not with the size of the tree (one pobj
 * per changed object, plus one per visited directory).
 *
 * Errors on the primary (an unreadable directory or file) are recorded in
 * crawl.errors with the path and the reason; the crawl goes on, and what it
 * could not read is left as the index has it (never deleted).
 */
#ifndef GEOREP_CRAWL_H
#define GEOREP_CRAWL_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/fid.h"
#include "../common/util.h"

struct index_txn;
struct crawl;

struct pobj;

struct plink {
	struct fid parent;
	const char *name;	/* in the crawl's name arena */
	uint8_t name_len;
};

#define POBJ_KNOWN	0x01	/* the index has it */
#define POBJ_DATA	0x02	/* content to send */
#define POBJ_ATTRS	0x04	/* attributes to send */
#define POBJ_HASHCHECK	0x08	/* only ctime moved: compare content hash */
#define POBJ_DIRTY	0x10	/* a directory whose entries changed */
#define POBJ_VISITED	0x20	/* a directory the crawl listed */
#define POBJ_ROOT	0x40	/* the primary's root */
#define POBJ_UNREADABLE	0x80	/* a directory that could not be listed */

struct pobj {
	struct fid fid;
	uint32_t flags;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev;
	int64_t mtime_sec, ctime_sec;
	uint32_t mtime_nsec, ctime_nsec;
	char *target;		/* symlink target */
	struct plink *added, *removed;
	uint32_t nadded, nremoved, cap_added, cap_removed;
	uint32_t depth;		/* of its first added or visited link */
	uint64_t sino;		/* from the index */
	uint8_t old_hash[16];
};

struct crawl_error {
	char *path;
	int err;
	const char *what;
};

/* A directory of the primary on another device: a mount point, or a
 * subvolume (btrfs gives each its own device number).  Fids are unique
 * within one filesystem only, so the crawl lists it but never enters it;
 * the caller says whether that was asked for. */
struct crawl_mount {
	char *path;		/* relative to the primary */
	bool subvolume;		/* not a mount root: a subvolume */
};

struct crawl_opts {
	const char *const *excludes;
	size_t nexcludes;
	/* Owners are left out (sync_opts.no_owners): a different owner is no
	 * change to send. */
	bool no_owners;
	/* Devices are left out (sync_opts.no_devices): a character or block
	 * device the index does not have is passed over, as if excluded. */
	bool no_devices;
	/* crawl_dirs: directories that moved (sorted): walked whole wherever
	 * they are met, everything beneath them listed -- what changed in
	 * them around their move may be only partly in the records. */
	const struct fid *deep;
	size_t ndeep;
	/* Called after each directory is listed (may be NULL): progress. */
	void (*tick)(void *arg, uint64_t files_seen, uint64_t dirs_seen);
	void *tick_arg;
	/*
	 * crawl_run only (may be NULL): memory that does not grow with the
	 * tree.  Between two directories, once the model holds flush_objs
	 * objects, and while it holds only creations and changes in place
	 * (no removed link, no known directory under a new name: halves of a
	 * move), flush is handed the crawl: it applies the changed objects
	 * and records them in the index, and the crawl then forgets them and
	 * goes on (a directory still to walk is found again in the index).
	 * The flush commits: it sets *txn to the transaction the crawl goes
	 * on with.  A first copy is all creations: it streams.  flush
	 * returns -1 to stop the crawl (crawl_run then returns -1 with
	 * c->stopped).
	 */
	int (*flush)(void *arg, struct crawl *c, struct index_txn **txn);
	void *flush_arg;
	size_t flush_objs;
};

struct crawl {
	const struct crawl_opts *opts;
	int rootfd;
	uint64_t fsid;
	dev_t root_dev;
	struct fid root;
	/* changed objects, in discovery order */
	struct pobj **objs;
	size_t nobjs, cap_objs;
	/* fid -> pobj */
	struct pobj **table;
	size_t table_cap;
	char **arenas;
	size_t narenas, cap_arenas, arena_left;
	char *arena_pos;
	struct crawl_error *errors;
	size_t nerrors, cap_errors;
	struct crawl_mount *mounts;	/* every one met, in walk order */
	size_t nmounts, cap_mounts;
	uint64_t seen_files, seen_dirs;
	bool directed;		/* crawl_dirs: not every directory was listed */
	struct fid *named;	/* crawl_dirs: the directories to list, sorted */
	size_t nnamed;
	const struct crawl_names *dirnames;	/* parallel to named, or NULL */
	/* crawl_dirs: a named directory could not be found (it moved with a
	 * directory above it, and no handle opens it): crawl in full. */
	bool need_full;
	/* A directory could not be walked where it was listed (renamed or
	 * replaced meanwhile): the crawl is not a complete picture. */
	bool incomplete;
	bool walk_warned;	/* crawl_removed_above hit its bound */
	bool no_flush;		/* the model holds half of a move */
	bool stopped;		/* a flush said stop */
	uint64_t flushes;	/* models handed over (crawl_opts.flush) */
};

/* The names a journal recorded in one directory (sorted by bytes, unique,
 * NUL-terminated): only they are looked at there.  With `all`, or past
 * what is worth looking up one by one, the whole directory is listed. */
struct crawl_names {
	char **names;
	size_t n;
	bool all;
};

/* Walk the primary rooted at rootfd (fid root, filesystem id fsid) against
 * the index in txn.  -1 only when the walk could not start; per-path
 * errors go to c->errors. */
int crawl_run(struct crawl *c, const struct crawl_opts *opts, int rootfd,
    uint64_t fsid, const struct fid *root, struct index_txn *txn);

/*
 * A directed crawl, for turns driven by the journal: list only the
 * directories named (found by the index's path for them, and checked by
 * fid), compare their entries as crawl_run does, and walk in full below any
 * directory that is new to the index.  A named directory that is gone or is
 * no longer where the index says is listed where the walk meets it (its
 * new parent is named too, since the move changed it); one met nowhere is
 * gone.  Links in directories not listed are taken as unchanged
 * (c->directed), unless a directory above them is removed.
 */
int crawl_dirs(struct crawl *c, const struct crawl_opts *opts, int rootfd,
    uint64_t fsid, const struct fid *root, struct index_txn *txn,
    const struct fid *dirs, size_t ndirs);
/*
 * crawl_dirs, looking in each named directory only at the names recorded
 * for it (names[i] for dirs[i]; dirs sorted as crawl_dirs sorts them, and
 * unique).  A name not looked at is taken as unchanged: its link is
 * confirmed, as a link in a directory not listed is.  The whole directory
 * is still listed where names[i].all.  The names are borrowed for the
 * crawl's life.
 */
int crawl_dirs_names(struct crawl *c, const struct crawl_opts *opts,
    int rootfd, uint64_t fsid, const struct fid *root, struct index_txn *txn,
    const struct fid *dirs, const struct crawl_names *names, size_t ndirs);
/* The order crawl_dirs sorts directories in. */
int crawl_fid_cmp(const void *a, const void *b);
void crawl_release(struct crawl *c);

/*
 * Whether the known directory fid, or a directory above it, is going away
 * in this crawl -- so that what the index has beneath it is not missed when
 * it is not listed.  The walk goes up the index (txn: the secondary as the
 * last turn left it), by each directory's first link, and says:
 *   no   at c->root;
 *   yes  at a directory this crawl found removed (links removed, none
 *        added, seen nowhere), one the index does not know or holds with
 *        no link (nothing of it is on the secondary), or the staging area;
 *   no   when the walk cannot finish: an index error (logged by the index)
 *        or more than CRAWL_ANCESTORS_MAX steps (a cycle of links in a
 *        broken index, or an absurd depth; warned once per crawl).
 * "No" is the answer that loses nothing when the walk cannot tell: a
 * directed crawl then crawls in full (need_full), and a turn keeps the
 * index's link rather than moving an object away from a name that may
 * still be there.  Used by crawl_dirs and by the turn's planning.
 */
#define CRAWL_ANCESTORS_MAX 100000
bool crawl_removed_above(struct crawl *c, struct index_txn *txn,
    const struct fid *fid);

/* A copy of n bytes that lives as long as the crawl. */
const char *crawl_intern(struct crawl *c, const char *s, size_t n);
struct pobj *crawl_find(struct crawl *c, const struct fid *fid);
void crawl_add_error(struct crawl *c, const char *path, int err,
    const char *what);

/* A pattern list match, rsync style: no '/' matches a name at any depth;
 * a leading '/' anchors at the root; a trailing '/' matches directories. */
bool exclude_match(const struct crawl_opts *o, const char *relpath,
    const char *name, bool is_dir);

#endif
