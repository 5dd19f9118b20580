/*
 * turn_int: state shared by the parts of one turn (turn.c: planning and
 * entry operations; data.c: content and attributes).  Not for other modules.
 */
#ifndef GEOREP_TURN_INT_H
#define GEOREP_TURN_INT_H

#include "../common/resolve.h"
#include "../detection/crawl.h"
#include "../index/index.h"
#include "../protocol/conn.h"
#include "sync.h"

/* A model operation: an entry op, and how it changes the index. */
enum mop_type {
	M_STAGE, M_MOVE, M_UNSTAGE, M_REMOVE, M_MKDIR, M_SYMLINK, M_MKNOD,
	M_LINK,
};

struct mop {
	uint8_t type;
	int8_t state;		/* 0 sent, 1 done, -1 failed or cancelled */
	struct pobj *o;
	struct plink from, to;
	uint64_t sino;		/* from the reply, for creations */
	char *shown_from;	/* M_STAGE: where it came from, for -v */
};

/* A data operation of phases B and D. */
enum dop_type { D_PUT, D_SETATTR };

struct dop {
	uint8_t type;
	bool is_new;		/* PUT of a file the index does not know */
	bool done;
	struct pobj *o;
	struct plink at;	/* where it is (for a new file) */
	uint8_t hash[16];
	uint64_t xattr_digest;
	uint64_t size;
	bool hashed;		/* hashed: sets or clears IREC_RACY */
	bool racy;		/* ... which it sets */
	int64_t seen;		/* when the file was looked at */
	bool delta;		/* the PUT out is a delta (PUT_DELTA) */
	bool copied;		/* ... or a descriptor (PUT_COPY) */
	bool whole;		/* either was refused: send it in DATA frames */
	bool retry_whole;	/* ... once the PUTs out are answered */
};

/* The SIGNATURE a PUT waits for (data_delta.c): its reply, copied. */
struct sig_wait {
	bool pending;
	int err;
	uint64_t size;		/* the size signed */
	struct buf data;	/* the signature, or the error message */
};

struct turn {
	const struct sync_opts *opts;
	const struct sync_target *tgt;
	struct conn *conn;
	struct index *ix;
	struct index_txn *txn;
	struct crawl crawl;
	struct resolver pres;	/* the primary's directories */
	struct sync_stats *st;
	struct mop *mops;
	size_t nmops, capmops;
	struct dop *dops;
	size_t ndops, capdops;
	/* Reads in flight (data.c, prefetch): the files of the next PUTs,
	 * opened ahead, by dop index modulo TURN_PREFETCH. */
#define TURN_PREFETCH	32
	struct { size_t idx; int fd; } prefetch[TURN_PREFETCH];
	size_t prefetch_upto;	/* dops below this were looked at */
	size_t acked_since_commit;
	bool entry_failed;
	bool fatal;		/* index or connection failure */
	bool privileged;	/* we may read trusted.* xattrs */
	bool marked;		/* the turn marker is in the index */
	bool by_verify;		/* the walk was asked for by verify
				 * --repair (not an unfinished turn) */
	bool reconcile_wide;	/* ... and it forgot objects outside the
				 * directories this directed turn lists (or
				 * the index was found wrong): the turn
				 * crawls the whole primary */
	int64_t committed_at;	/* mono ns of the last commit */
	bool reconciled;	/* the index was mended from the secondary: what
				 * it dropped is found again by a full crawl */
	bool incomplete;	/* something could not be read where the model
				 * says, and not proved gone: no sync point */
	bool stale;		/* the secondary refused an op (ESTALE): the
				 * marker stays, the next turn reconciles */
	/* Device nodes a secondary without privilege cannot make: how many,
	 * and the first (report_skipped). */
	uint64_t skipped_device;
	const struct pobj *first_device;
	struct buf path, path2;
	struct sig_wait sig;
	/* Tests only (GEOREP_TEST_CRASH=reply:N): SIGKILL at the Nth reply
	 * to an entry or data operation of the turn. */
	unsigned long crash_after, replies;
	/* progress */
	uint64_t total_bytes, total_files;
	uint64_t done_bytes;	/* sent, and holes skipped */
	int64_t started, last_progress;
	int64_t last_report;	/* mono ns of the last on_progress */
	bool crawled;		/* the crawl is over */
	int64_t entries_done_at;	/* mono ns: the last entry phase ended */
	size_t ops_applied;	/* by models the crawl handed over */
	uint64_t strays_removed;	/* by the walk of the secondary */
};

/* turn.c */
/* A failure of one path: logged, counted, kept for status. */
/* The name dir/name (len 0: dir itself) is looked at again by the next
 * directed turn (sync_stats.retry); the staging area is not. */
void turn_retry_at(struct turn *t, const struct fid *dir, const char *name,
    size_t len);
void turn_error(struct turn *t, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int turn_oref(struct turn *t, struct buf *b, const struct fid *parent,
    const char *name, size_t len, char **display);
int turn_fid_link(struct turn *t, const struct fid *fid, struct plink *out,
    struct irec *rec);
int turn_commit(struct turn *t, int64_t sync_point);
int turn_entry_ops(struct turn *t, size_t first);
/* Clear, then set, IREC_* bits of fid's index record (if it has one): 1
 * when that changed it, 0 when not, -1 on error. */
int turn_synced(struct turn *t, const struct fid *fid, uint32_t clear,
    uint32_t set);
/* The index no longer vouches for fid's content and attributes on the
 * secondary: the next crawl sends them. */
static inline int
content_unsynced(struct turn *t, const struct fid *fid)
{
	return turn_synced(t, fid, IREC_CONTENT | IREC_ATTRS, 0) < 0 ? -1 : 0;
}
void turn_crash_point(const char *where);
void turn_hold_point(struct turn *t);
/* One change, for -v (stdout) or a daemon's debug log; path is already
 * quoted for display. */
void turn_say(struct turn *t, const char *verb, const char *path,
    const char *extra);
/* Whether a stop was asked for (sync_opts.stop). */
bool turn_stopped(const struct turn *t);

/* reconcile.c */
int turn_mark(struct turn *t);
int turn_unmark(struct turn *t);
/* At the start of a turn: a walk of the secondary if a marker is there
 * (an unfinished turn) or one was asked for (ESTALE), else nothing. */
int reconcile_start(struct turn *t);
/* Ask the next turn for a full reconcile (in the current transaction). */
int reconcile_mark_full(struct turn *t);

/* data_delta.c: rsync-style deltas of large changed files (delta.h) */
struct delta_enc;
struct stat;
/* Whether d's content, of st, goes as a delta (the secondary holds an
 * older copy; large enough; no holes). */
bool delta_wanted(const struct turn *t, const struct dop *d,
    const struct stat *st);
/* The secondary's signature of the file at `at` (partial: of the partial
 * copy it keeps for that name, proto.h), checked and loaded: NULL when
 * there is none (the file goes whole, said in the log) or the connection
 * failed (c->failed: a signature that is not one is a protocol error). */
struct delta_enc *delta_fetch(struct turn *t, size_t idx,
    const struct plink *at, const char *disp, bool partial);
void delta_on_signature(struct turn *t, const struct reply *rep);
/* Send fd's content (size bytes, read in order) as a delta in DATA
 * frames, hashing what is read into hash as send_extents does; *sent:
 * the delta's bytes.  0; -1 on a read error (errno) or a failed
 * connection; -2 when librsync failed (send it whole). */
int delta_send(struct turn *t, int fd, uint64_t size, struct delta_enc *e,
    uint8_t hash[16], uint64_t *sent);

/* data.c */
int data_phase(struct turn *t);
int dirattr_phase(struct turn *t);
void data_on_reply(struct turn *t, size_t idx, const struct reply *rep);
void progress_update(struct turn *t, bool final);
/* Tell sync_opts.on_progress where the turn is: at most every
 * SYNC_PROGRESS_MS, or now when `now`. */
void turn_report(struct turn *t, bool now);

#define COOKIE_MOP	(1ull << 56)
#define COOKIE_DOP	(2ull << 56)
#define COOKIE_COMMIT	(3ull << 56)
#define COOKIE_IGNORE	(4ull << 56)
#define COOKIE_STRAY	(5ull << 56)
#define COOKIE_SIG	(6ull << 56)
#define COOKIE_KIND(c)	((c) & (0xffull << 56))
#define COOKIE_IDX(c)	((size_t)((c) & ((1ull << 56) - 1)))

#endif
