/*
 * sync: one turn of replication from a crawl, over a connection to a
 * secondary that has already answered HELLO.
 *
 * sync_turn() crawls the primary against the index and applies the
 * difference in the order DESIGN.md gives for a turn:
 *
 *   A. entry operations, in order, pipelined: objects that move go first
 *      (straight to their new name when it is free, else through the
 *      staging area), then removals, creations of directories, symlinks and
 *      nodes (parents first), moves out of staging, new hard links.  The
 *      index changes as each is sent, so later paths are derived from it;
 *      if one fails, the secondary cancels the rest and the index keeps
 *      exactly the prefix that took effect.
 *   B. content and attributes of files, pipelined; each failure is that
 *      file's alone.  The index changes as each is acknowledged.
 *   C. further names of new hard-linked files.
 *   D. attributes of directories, after their content.
 *   E. COMMIT: the secondary makes it durable (one syncfs) and records the
 *      sync point; then the index commits.  Long turns commit in batches.
 *
 * A file that vanished before it was sent is not an error; one that
 * changed while it was sent is sent again.  Errors name the path and the
 * reason; the turn goes on past per-file errors and reports them.
 *
 * A turn that does not finish leaves a marker in the index; the next turn
 * starts by reconciling the index with the secondary (reconcile.c).
 *
 * Returns an enum sync_result (below).
 */
#ifndef GEOREP_SYNC_H
#define GEOREP_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/fid.h"

struct conn;
struct crawl_names;
struct index;
struct index_txn;

/* Where a running turn is. */
struct sync_progress {
	bool crawling;		/* still listing the primary */
	uint64_t files_seen, dirs_seen;
	uint64_t entries_total, entries_done;	/* namespace operations */
	uint64_t data_total, data_done;		/* files whose content goes */
	uint64_t meta_total, meta_done;		/* attributes only */
	uint64_t bytes_total, bytes_done;
};
#define SYNC_PROGRESS_MS	500
#define SYNC_DELTA_AUTO		UINT64_MAX
#define SYNC_DELTA_REMOTE	(1u << 20)

struct sync_opts {
	bool dry_run;
	bool verbose;		/* print each change, like rsync -v */
	bool verbose_log;	/* ... to the log at debug level instead of
				 * stdout (a daemon: one format for every
				 * line of its log) */
	bool progress;		/* progress on stderr */
	bool ignore_deletes;
	bool no_xattrs;		/* leave xattrs other than ACLs alone */
	bool no_acls;		/* leave POSIX ACLs alone */
	bool no_fsync;		/* tests only */
	/* Left out on purpose: owners and groups (the secondary keeps its
	 * own), character and block devices, and what is mounted inside the
	 * primary (listed, not entered).  Without them, what the secondary
	 * cannot hold is counted in sync_stats and a mount point is a failure:
	 * the replica is not exact. */
	bool no_owners;
	bool no_devices;
	bool one_file_system;
	/* A changed file of at least this many bytes that the secondary
	 * already holds goes as an rsync-style delta against its copy
	 * (delta.h); 0: never; SYNC_DELTA_AUTO: SYNC_DELTA_REMOTE to a
	 * remote secondary (over ssh), never to a local one (config.h says
	 * why). */
	uint64_t delta_threshold;
	/* Workers the secondary writes files with (HELLO_JOBS, proto.h);
	 * 0 is taken as 1. */
	int sync_jobs;
	/* Set (by a signal handler) to stop the turn at the next operation;
	 * the turn then returns -1 and the next one reconciles. */
	volatile int *stop;
	const char *const *excludes;
	size_t nexcludes;
	/* A directed turn (from the journal): list only these directories
	 * (and whatever is new beneath them), not the whole primary. */
	bool directed;
	const struct fid *dirs;
	const struct crawl_names *dirnames;	/* parallel to dirs, or NULL */
	size_t ndirs;
	const struct fid *deep;	/* directories that moved: walked whole */
	size_t ndeep;
	/* The sync point the turn records when it succeeds: every change
	 * before it is covered.  0: the turn's start (a full crawl). */
	int64_t sync_point;
	/* Racy files (below) that a directed turn settles if it does not look
	 * at them: the caller knows that no change of theirs after they were
	 * sent is left unrecorded -- any would have named them. */
	const struct fid *settle;
	size_t nsettle;
	/* Called while the turn runs (may be NULL): at most every
	 * SYNC_PROGRESS_MS and when a phase ends, for status. */
	void (*on_progress)(void *arg, const struct sync_progress *p);
	void *progress_arg;
};

/*
 * A file sent within SYNC_RACY_NS of its last change is "racy": file times
 * come from a coarse clock, so a change in the same tick leaves size and
 * times as they were.  The index marks it, and the next look at it hashes
 * the content.  Each turn reports the files it left racy, with when they
 * were looked at, so that a caller with a journal can settle them once the
 * journal covers that time (sync_opts.settle) instead of leaving them for
 * the next full crawl to hash.
 */
#define SYNC_RACY_NS	(100 * 1000000LL)

struct sync_racy {
	struct fid fid;
	int64_t seen;		/* realtime ns, taken before the stat */
};

struct sync_racy_list {
	struct sync_racy *v;
	size_t n, cap;
};

void sync_racy_add(struct sync_racy_list *l, const struct fid *fid,
    int64_t seen);

#define SYNC_FAILURES_KEPT 8

struct sync_stats {
	/* What the turn wrote to the secondary: the frames, and the bytes
	 * that carried them (fewer when compressed).  Set by the caller of
	 * sync_turn, which has the connection's counters. */
	uint64_t wire_plain, wire_bytes;
	uint64_t files_sent, bytes_sent;	/* bytes_sent: content on the
						 * wire (a delta's bytes) */
	uint64_t delta_files, delta_size;	/* sent as deltas, and their
						 * size */
	uint64_t copied_files, copied_size;	/* copied by the kernel on a
						 * local secondary (PUT_COPY) */
	uint64_t entries, attrs_set, removed;
	/* Objects made (directories, symlinks, nodes, new files) and
	 * objects changed (content, attributes, a name moved or added) on
	 * the secondary; removed: names taken away. */
	uint64_t created, changed;
	uint64_t files_seen, dirs_seen;
	uint64_t errors;
	int64_t sync_point;	/* set when the turn left the secondary exact */
	/* The first failures: the path (on the primary, relative) and what
	 * went wrong.  Freed by sync_stats_release. */
	char *fail_path[SYNC_FAILURES_KEPT];
	char *fail_error[SYNC_FAILURES_KEPT];
	size_t nfail;
	/* The files the turn left racy (freed by sync_stats_release). */
	struct sync_racy_list racy;
	/* What a secondary without privilege could not hold (sync_opts did not
	 * leave it out): owners it could not give, device nodes it could not
	 * make; how many, and the first path of each (freed by
	 * sync_stats_release).  Not failures, but the replica is not exact. */
	uint64_t owners_skipped, devices_skipped;
	char *owner_first, *device_first;
	/* Every mount point (or subvolume) inside the primary, not entered;
	 * a failure each unless sync_opts.one_file_system (freed by
	 * sync_stats_release). */
	char **mounts;
	size_t nmounts;
	/* The turn changed the secondary and did not finish (stopped, or
	 * the connection failed): the next turn reconciles first. */
	bool unfinished;
	/* Where the turn's failures are (directory, name; freed by
	 * sync_stats_release): a session's next directed turn looks there
	 * again, whatever its journal's records name.  A file moved into a
	 * directory made by the same turn is named by no record once that
	 * directory is known: without this, its failed copy was never
	 * retried.  Past SYNC_RETRY_MAX, retry_overflow: a crawl, then. */
	struct sync_where *retry;
	size_t nretry, capretry;
	bool retry_overflow;
};

struct sync_where {
	struct fid dir;
	char *name;		/* NULL: the directory itself */
};
#define SYNC_RETRY_MAX	65536

void sync_stats_release(struct sync_stats *st);

struct sync_target {
	int rootfd;		/* the primary's root */
	uint64_t fsid;
	struct fid root;	/* its fid */
	bool secondary_privileged;
	/* Without privilege, the owner of all the secondary holds. */
	uint32_t secondary_uid, secondary_gid;
};

enum sync_result {
	SYNC_FAILED = -1,	/* the turn could not go on (the connection or
				 * the index failed) */
	SYNC_DONE = 0,		/* the secondary matches the primary */
	SYNC_PARTIAL = 1,	/* some paths failed (each in the log, the
				 * first ones in sync_stats) */
	SYNC_STALE = 2,		/* the secondary did not hold what the index
				 * expected (ESTALE): run another turn, which
				 * reconciles first */
};

int sync_turn(const struct sync_opts *o, const struct sync_target *t,
    struct index *ix, struct conn *c, struct sync_stats *st);

/* Drop what the index notes about the secondary's content beyond its
 * objects (an unfinished turn's marker, a pending full reconcile): void
 * once that content is emptied.  0, or -1 on an index error. */
int sync_forget_secondary(struct index_txn *txn);
/* Have the next turn walk the secondary and rebuild the index's names
 * from it (verify found names that differ: repair.h).  0, or -1. */
int sync_request_walk(struct index_txn *txn);

#endif
