#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/delta.h"
#include "../common/log.h"
#include "../common/testhook.h"
#include "../common/xattrs.h"
#include "turn_int.h"
#include "../common/banned.h"

/* Turns longer than this many acknowledged operations, or than this long,
 * commit in batches: an LMDB write transaction stays bounded, and a link
 * cut or a crash in a long turn costs what came after the last commit
 * only (what was committed is on the secondary for good, and the walk
 * that follows keeps it). */
#define COMMIT_BATCH	20000
#define COMMIT_EVERY_NS	(2 * 1000000000LL)
/* A file that changes while it is read is read again, after 5, 10, 20,
 * 40, 80 and 160 ms; still changing, it is not sent (below). */
#define CHANGED_RETRIES	6
/* Written this recently before it was read, a file is read again to be
 * sure (fresh_write_seen): a few ticks of the coarse clock. */
#define FRESH_NS	(50 * 1000000LL)

/* ---- progress ---- */

void
progress_update(struct turn *t, bool final)
{
	int64_t now = mono_ns();
	char done[16], rate[16], eta[32] = "--:--";

	if (!final && now - t->last_progress < 250000000)
		return;
	t->last_progress = now;
	double secs = (double)(now - t->started) / 1e9;
	uint64_t bytes = t->done_bytes;
	double bps = secs > 0 ? (double)bytes / secs : 0;
	int pct = t->total_bytes ? (int)(bytes * 100 / t->total_bytes) : 100;
	if (pct > 100)
		pct = 100;
	if (bps > 0 && t->total_bytes > bytes) {
		uint64_t left = (uint64_t)((double)(t->total_bytes - bytes) / bps);
		snprintf(eta, sizeof(eta), "%llu:%02llu:%02llu",
		    (unsigned long long)(left / 3600),
		    (unsigned long long)(left / 60 % 60),
		    (unsigned long long)(left % 60));
	}
	format_size(bytes, done, sizeof(done));
	format_size((uint64_t)bps, rate, sizeof(rate));
	fprintf(stderr, "\r%10s %3d%% %9s/s %10s  %llu/%llu %s%s", done, pct,
	    rate, final ? "" : eta, (unsigned long long)t->st->files_sent,
	    (unsigned long long)t->total_files,
	    plural(t->total_files, "file", "files"), final ? "\n" : "");
	fflush(stderr);
}

void
turn_report(struct turn *t, bool now)
{
	struct sync_progress p = { 0 };
	int64_t mono = mono_ns();

	if (t->opts->on_progress == NULL || (!now && mono - t->last_report <
	    SYNC_PROGRESS_MS * 1000000LL))
		return;
	t->last_report = mono;
	p.crawling = !t->crawled;
	p.files_seen = t->crawl.seen_files;
	p.dirs_seen = t->crawl.seen_dirs;
	for (size_t i = 0; i < t->nmops; i++) {
		p.entries_total++;
		p.entries_done += t->mops[i].state == 1 || t->mops[i].state == -1;
	}
	for (size_t i = 0; i < t->ndops; i++) {
		bool put = t->dops[i].type == D_PUT;
		*(put ? &p.data_total : &p.meta_total) += 1;
		*(put ? &p.data_done : &p.meta_done) += t->dops[i].done;
	}
	p.bytes_total = t->total_bytes;
	p.bytes_done = t->done_bytes;
	t->opts->on_progress(t->opts->progress_arg, &p);
}

/* ---- helpers ---- */

static struct dop *
dop_add(struct turn *t, uint8_t type, struct pobj *o)
{
	XGROW(t->dops, t->capdops, t->ndops + 1);
	struct dop *d = &t->dops[t->ndops++];
	memset(d, 0, sizeof(*d));
	d->type = type;
	d->o = o;
	return d;
}

static void
attrs_from_pobj(struct attrs *a, const struct pobj *o,
    const struct sync_opts *opts)
{
	memset(a, 0, sizeof(*a));
	a->mask = ATTR_MODE | ATTR_MTIME | (opts->no_owners ? 0 : ATTR_OWNER) |
	    (opts->no_xattrs ? 0 : ATTR_XATTRS) | (opts->no_acls ? 0 : ATTR_ACLS);
	a->mode = o->mode & 07777;
	a->uid = o->uid;
	a->gid = o->gid;
	a->mtime_sec = o->mtime_sec;
	a->mtime_nsec = o->mtime_nsec;
}

static void
pobj_restat(struct pobj *o, const struct stat *st)
{
	o->mode = st->st_mode;
	o->uid = st->st_uid;
	o->gid = st->st_gid;
	o->size = (uint64_t)st->st_size;
	o->mtime_sec = st->st_mtim.tv_sec;
	o->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	o->ctime_sec = st->st_ctim.tv_sec;
	o->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

/* A failure of the file at `at`: said, and looked at again next turn. */
#define turn_error_at(t, at, ...) (turn_retry_at((t), &(at)->parent, \
	(at)->name, (at)->name_len), turn_error((t), __VA_ARGS__))

/*
 * Whether a file seen at `seen` (taken before the stat) may change again
 * with its size and times unmoved: file times come from a coarse clock
 * (a tick of 1-10 ms), so a change in the tick of the last one leaves ctime
 * as it was, and only a new look at the content tells.  The margin is wide;
 * it costs a hash of the file when it is next looked at.
 */
static bool
racy(const struct stat *st, int64_t seen)
{
	int64_t ctime = (int64_t)st->st_ctim.tv_sec * 1000000000 +
	    st->st_ctim.tv_nsec;

	return ctime + SYNC_RACY_NS > seen;
}


/* Whether st is what the crawl saw of o. */
static bool
stat_is_pobj(const struct stat *st, const struct pobj *o)
{
	return (uint64_t)st->st_size == o->size && st->st_mode == o->mode &&
	    st->st_uid == o->uid && st->st_gid == o->gid &&
	    st->st_mtim.tv_sec == o->mtime_sec &&
	    (uint32_t)st->st_mtim.tv_nsec == o->mtime_nsec &&
	    st->st_ctim.tv_sec == o->ctime_sec &&
	    (uint32_t)st->st_ctim.tv_nsec == o->ctime_nsec;
}

static bool
same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Before a file's content is read: wait out a write in progress, then
 * take the stat the read is checked against.  A write(2) holds the
 * inode's lock while it copies, and lseek(SEEK_DATA) takes it too (ext4,
 * xfs, btrfs, tmpfs), so a write that began before is finished when it
 * returns; one that begins after changes the ctime, which the stat after
 * the read sees -- the kernel's multigrain timestamps (6.13) make a change
 * after a stat visible to it even within one clock tick.  Without the
 * wait, a write already copying when the first stat was taken, in the
 * same tick, went unseen, and the secondary got blocks of two versions.
 */
static int
settle_writes(int fd, struct stat *st)
{
	(void)lseek(fd, 0, SEEK_DATA);	/* ENXIO (all hole) waited too */
	return fstat(fd, st);
}

/*
 * A file changed within the last few clock ticks before it was read: a
 * write that began during the read may have kept its ctime (the same
 * coarse tick) and gone unseen by the stats around it.  Read again once
 * any write in progress is done, and compare with what was sent: true
 * (changed) when they differ.  Costs a second read of only the files
 * written just before (torture 09 found such a mix once a minute under a
 * file rewritten a hundred times a second).
 */
static int hash_file(int fd, uint64_t size, bool sparse, uint8_t out[16]);

static bool
fresh_write_seen(int fd, const struct stat *st, int64_t seen, bool sparse,
    const uint8_t sent[16])
{
	struct stat now;
	uint8_t h[16];
	int64_t ctime = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;

	if (seen - ctime > FRESH_NS)
		return false;
	if (settle_writes(fd, &now) < 0 || !same_stat(st, &now))
		return true;
	if (hash_file(fd, (uint64_t)st->st_size, sparse, h) < 0)
		return true;
	return memcmp(h, sent, 16) != 0;
}

/* The owner o has on the secondary once its attributes are set: its own
 * where the secondary may give owners and they are replicated, else the
 * secondary's (proto.h, HELLO).  The index records that, so the next crawl
 * sees an owner that did not make it as a change, and counts it again. */
static void
owner_on_secondary(const struct turn *t, const struct pobj *o, uint32_t *uid,
    uint32_t *gid)
{
	bool given = t->tgt->secondary_privileged && !t->opts->no_owners;

	*uid = given ? o->uid : t->tgt->secondary_uid;
	*gid = given ? o->gid : t->tgt->secondary_gid;
}

/* Attributes of o are sent: count its owner if the secondary cannot give
 * it and --no-owners did not leave it out (sync_stats.owners_skipped).
 * disp: o's path for the message, computed here when NULL. */
static void
note_owner(struct turn *t, const struct pobj *o, const struct plink *at,
    const char *disp)
{
	uint32_t uid, gid;
	char *mine = NULL;

	owner_on_secondary(t, o, &uid, &gid);
	if (t->opts->no_owners || (o->uid == uid && o->gid == gid))
		return;
	if (t->st->owners_skipped++ > 0)
		return;
	if (disp == NULL && (o->flags & POBJ_ROOT))
		disp = ".";
	if (disp == NULL && turn_oref(t, NULL, &at->parent, at->name,
	    at->name_len, &mine) != 0)
		disp = "?";
	t->st->owner_first = xstrdup(disp ? disp : mine);
	free(mine);
}

/* A dry run goes through every step of a real one but the wire: each
 * operation it would send is taken as done, so the model moves on as it
 * would (a new file's further names, a directory's attributes after a
 * file renamed into it) and it lists what the real run sends. */
static void
dry_done(struct turn *t, size_t idx)
{
	struct reply ok = { 0 };

	data_on_reply(t, idx, &ok);
}

/* Where the object is now: its new name, or its first link in the model. */
static int
dop_link(struct turn *t, struct dop *d, struct plink *at)
{
	struct irec rec;

	if (d->is_new) {
		*at = d->at;
		return 0;
	}
	int rc = turn_fid_link(t, &d->o->fid, at, &rec);
	if (rc == 0)
		irec_release(&rec);
	return rc;
}

/* The primary's directory holding at, as an O_PATH fd owned by t->pres. */
static int
primary_dir(struct turn *t, const struct plink *at)
{
	uint8_t base;

	if (index_path(t->txn, &t->tgt->root, &at->parent, &t->path, &base,
	    NULL) != 0) {
		errno = ENOENT;
		return -1;
	}
	return resolve_dir(&t->pres, 0, (char *)t->path.data, t->path.len);
}

/* The file at `at` in dirfd, to read.  O_NONBLOCK: a name replaced by a
 * fifo since the crawl must not hang the turn (send_put's fid check finds
 * it). */
static int
open_content(int dirfd, const struct plink *at)
{
	char *nm = xstrndup(at->name, at->name_len);
	int fd = openat(dirfd, nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | O_NOATIME);

	if (fd < 0 && errno == EPERM)	/* O_NOATIME: not the owner */
		fd = openat(dirfd, nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NONBLOCK);
	free(nm);
	return fd;
}

/*
 * Reads in flight.  A cold tree of small files is bound by the disk's
 * latency when files are read one at a time; so the files of the next
 * TURN_PREFETCH new files to send are opened ahead and their content asked
 * for (POSIX_FADV_WILLNEED starts the reads and returns), and send_put
 * takes the open descriptor.  Only new files: their name is in the dop;
 * a known file's is found in the index when it is sent.
 */
static void
prefetch_upto(struct turn *t, size_t end)
{
	if (t->opts->dry_run)
		return;
	for (; t->prefetch_upto < end && t->prefetch_upto < t->ndops;
	    t->prefetch_upto++) {
		size_t i = t->prefetch_upto;
		const struct dop *d = &t->dops[i];
		int fd = -1, dirfd;
		if (d->type == D_PUT && d->is_new &&
		    (dirfd = primary_dir(t, &d->at)) >= 0 &&
		    (fd = open_content(dirfd, &d->at)) >= 0 && d->o->size > 0)
			(void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		t->prefetch[i % TURN_PREFETCH].idx = i;
		t->prefetch[i % TURN_PREFETCH].fd = fd;
	}
}

/* The descriptor opened ahead for dop idx, or -1. */
static int
prefetched(struct turn *t, size_t idx)
{
	int fd;

	if (t->prefetch[idx % TURN_PREFETCH].idx != idx)
		return -1;
	fd = t->prefetch[idx % TURN_PREFETCH].fd;
	t->prefetch[idx % TURN_PREFETCH].fd = -1;
	return fd;
}

/* Nothing opened ahead; what was and is not sent (the turn stopped) is
 * closed. */
static void
prefetch_reset(struct turn *t, size_t from, bool close_open)
{
	for (size_t i = 0; i < TURN_PREFETCH; i++) {
		if (close_open && t->prefetch[i].fd >= 0)
			close(t->prefetch[i].fd);
		t->prefetch[i].fd = -1;
		t->prefetch[i].idx = SIZE_MAX;
	}
	t->prefetch_upto = from;
}

/* A name that no longer leads to the object the crawl found there. */
static bool
vanished(int err)
{
	return err == ENOENT || err == ENOTDIR || err == ELOOP ||
	    err == ENXIO || err == ENODEV || err == ESTALE;
}

/*
 * An object the model's path no longer leads to on the primary: renamed or
 * deleted since the crawl, or a directory above it moved (a directed turn
 * lists only some directories, so its model can lag the primary's paths).
 * With the privilege to open by handle, it is found wherever it is; ESTALE
 * means it is gone, which is no error (its removal has its own change).
 * Without, nothing proves it gone: the turn is incomplete -- no sync
 * point, and it runs again.
 */
static int
reopen_moved(struct turn *t, const struct fid *fid, int flags)
{
	if (t->privileged) {
		int fd = fid_open(t->tgt->rootfd, fid, t->tgt->fsid, flags);
		if (fd >= 0 || errno == ESTALE)
			return fd;
	}
	t->incomplete = true;
	errno = ENOENT;
	return -1;
}

/* An object whose name is under a directory the model does not have (a
 * directed turn saw a directory leave for one it did not list): nothing
 * is sent, and the turn is incomplete (it runs again with the records
 * that say where the directory went).  In a full crawl, a bug. */
static int
unresolved(struct turn *t, struct dop *d)
{
	if (!t->crawl.directed)
		fatal("internal error: %s of an unresolved path",
		    d->type == D_PUT ? "PUT" : "SETATTR");
	t->incomplete = true;
	d->done = true;
	return 0;
}

/* Keep only the categories this turn replicates (sync_xattrs, sync_acls). */
static void
filter_xattrs(struct turn *t, struct attrs *a)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < a->nxattrs; i++) {
		bool acl = xattr_is_acl(a->xattrs[i].name, a->xattrs[i].name_len);
		if (acl ? !t->opts->no_acls : !t->opts->no_xattrs)
			a->xattrs[k++] = a->xattrs[i];
	}
	a->nxattrs = k;
}

static int read_xattrs_all(struct turn *t, int fd, int dirfd,
    const struct plink *at, bool root, struct attrs *a, struct buf *store);

static int
read_xattrs(struct turn *t, int fd, int dirfd, const struct plink *at,
    bool root, struct attrs *a, struct buf *store)
{
	if (t->opts->no_xattrs && t->opts->no_acls) {
		a->nxattrs = 0;
		a->xattrs = NULL;
		return 0;
	}
	int rc = read_xattrs_all(t, fd, dirfd, at, root, a, store);
	if (rc == 0)
		filter_xattrs(t, a);
	return rc;
}

static int
read_xattrs_all(struct turn *t, int fd, int dirfd, const struct plink *at,
    bool root, struct attrs *a, struct buf *store)
{
	char path[64 + 256];

	if (fd >= 0)
		return xattrs_read(fd, NULL, false, t->privileged, a, store);
	if (root)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", t->tgt->rootfd);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%.*s", dirfd,
		    (int)at->name_len, at->name);
	return xattrs_read(-1, path, root, t->privileged, a, store);
}

/* ---- content ---- */

/* Hash the content as it is sent: extents with their offsets, and the
 * size. */
static int next_extent(int fd, bool sparse, off_t off, uint64_t size,
    off_t *data, off_t *hole);

static int
hash_file(int fd, uint64_t size, bool sparse, uint8_t out[16])
{
	XXH3_state_t *st = XXH3_createState();
	uint8_t *chunk = xmalloc(PROTO_DATA_CHUNK);
	off_t off = 0;
	int rc = 0;

	XXH3_128bits_reset(st);
	while ((uint64_t)off < size) {
		off_t data, hole;
		if (next_extent(fd, sparse, off, size, &data, &hole) < 0)
			break;
		for (off = data; off < hole; ) {
			size_t n = (size_t)(hole - off) < PROTO_DATA_CHUNK ?
			    (size_t)(hole - off) : PROTO_DATA_CHUNK;
			ssize_t r = pread_full(fd, chunk, n, off);
			if (r < 0) {
				rc = -1;
				goto out;
			}
			if (r == 0)
				goto out;
			chash_chunk(st, (uint64_t)off, chunk, (size_t)r);
			off += r;
		}
	}
out:
	if (rc == 0)
		chash_end(st, size, out);
	free(chunk);
	XXH3_freeState(st);
	return rc;
}

/* Send the extents of fd as DATA frames, hashing as they go. */
/* The next extent of data at or after off: [*data, *hole).  A file with as
 * many blocks as bytes has no holes, and costs no lseek. */
static int
next_extent(int fd, bool sparse, off_t off, uint64_t size, off_t *data,
    off_t *hole)
{
	if (!sparse) {
		*data = off;
		*hole = (off_t)size;
		return 0;
	}
	*data = lseek(fd, off, SEEK_DATA);
	if (*data < 0)
		return -1;	/* ENXIO: a hole up to the end */
	*hole = lseek(fd, *data, SEEK_HOLE);
	if (*hole < 0 || (uint64_t)*hole > size)
		*hole = (off_t)size;
	return 0;
}

static int
send_extents(struct turn *t, int fd, uint64_t size, bool sparse,
    uint8_t hash[16])
{
	struct conn *c = t->conn;
	XXH3_state_t *st = XXH3_createState();
	off_t off = 0;
	int rc = 0;

	XXH3_128bits_reset(st);
	while ((uint64_t)off < size && rc == 0) {
		off_t data, hole;
		if (next_extent(fd, sparse, off, size, &data, &hole) < 0) {
			t->done_bytes += size - (uint64_t)off;	/* a hole */
			break;
		}
		t->done_bytes += (uint64_t)(data - off);
		for (off = data; off < hole; ) {
			size_t n = (size_t)(hole - off) < PROTO_DATA_CHUNK ?
			    (size_t)(hole - off) : PROTO_DATA_CHUNK;
			size_t s = conn_begin_cont(c, MSG_DATA, false, 0);
			put_u64(&c->out, (uint64_t)off);
			put_u32(&c->out, 0);
			size_t lenpos = c->out.len - 4;
			buf_reserve(&c->out, n);
			ssize_t r = pread_full(fd, c->out.data + c->out.len, n, off);
			if (r < 0) {
				r = 0;
				rc = -1;
			}
			for (int i = 0; i < 4; i++)
				c->out.data[lenpos + i] = (uint8_t)((uint64_t)r >>
				    (8 * i));
			chash_chunk(st, (uint64_t)off, c->out.data + c->out.len,
			    (size_t)r);
			c->out.len += (size_t)r;
			t->st->bytes_sent += (uint64_t)r;
			t->done_bytes += (uint64_t)r;
			if (conn_end(c, s) < 0) {
				rc = -1;
				break;
			}
			if (r == 0)
				break;	/* shrank under us: caught by the restat */
			off += r;
			if (off < hole && (test_crash_armed("content") ||
			    test_crash_at_offset((unsigned long long)off))) {
				conn_flush(c);	/* part of it there */
				test_crash_now("content");
			}
			if (t->opts->progress)
				progress_update(t, false);
			turn_report(t, false);
			if (turn_stopped(t))
				break;	/* the caller aborts the PUT */
		}
		if ((uint64_t)off < (uint64_t)hole)
			break;
	}
	chash_end(st, size, hash);
	XXH3_freeState(st);
	return rc;
}

/* PUT_COPY: the file read once, to hash it, while the secondary copies
 * it; counted as done, not as sent (nothing of it is on the wire). */
static int
hash_copied(struct turn *t, int fd, uint64_t size, uint8_t hash[16])
{
	int rc = hash_file(fd, size, false, hash);

	t->done_bytes += size;
	return rc;
}

static int send_setattr(struct turn *t, size_t idx);

/*
 * A large file for a local secondary on the same filesystem, one that
 * shares extents (HELLO_FDS), goes as its descriptor (PUT_COPY): the
 * secondary clones it (a reflink: no byte copied, none written) while
 * this side reads it once to hash it.  Not below
 * COPY_MIN_BYTES, where the pipe costs as little and the secondary's
 * workers take the file; not for a sparse file (its holes stay holes
 * only in DATA frames), a write in place, a delta, or under a bandwidth
 * limit (which a copy would not keep).  Sent here when the channel takes
 * the descriptor at once (else the file goes in DATA frames).
 */
#define COPY_MIN_BYTES	((1u << 20) + 1)

static bool
copy_sent(struct turn *t, struct dop *d, int fd, const struct stat *st,
    bool inplace)
{
	struct conn *c = t->conn;

	if (!c->fds_ok || (uint64_t)st->st_dev != c->fds_dev || d->whole ||
	    inplace || c->bw_rate ||
	    (uint64_t)st->st_size < COPY_MIN_BYTES ||
	    (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size)
		return false;
	if (fd_send(c->fdchan, fd) == 0)
		return true;
	if (errno != EAGAIN)
		log_sys(LOG_LVL_WARN, "the descriptor channel to the secondary");
	return false;
}

static void
verbose_path(struct turn *t, const char *verb, const struct plink *at,
    const char *extra)
{
	char *disp = NULL;

	if (turn_oref(t, NULL, &at->parent, at->name, at->name_len, &disp) != 0)
		return;
	turn_say(t, verb, disp, extra);
	free(disp);
}

/* A delta sent: logged, and said by -v (how); counted once the
 * secondary took it (shortcut_refused). */
static void
note_delta(const char *disp, uint64_t wire, uint64_t size, bool partial,
    char *how, size_t howlen)
{
	const char *what = partial ? "resumed" : "delta";

	log_msg(partial ? LOG_LVL_INFO : LOG_LVL_DEBUG, "%s: %s: %llu bytes "
	    "for a file of %llu%s", what, disp, (unsigned long long)wire,
	    (unsigned long long)size, partial ? " (the rest was on the "
	    "secondary from a run cut off)" : "");
	snprintf(how, howlen, "(%s: %llu bytes for %llu)", what,
	    (unsigned long long)wire, (unsigned long long)size);
}

/* A large file the secondary may hold part of, from a run cut off in
 * the middle of it (proto.h, partial files): asked for, and continued. */
static bool
partial_wanted(const struct turn *t, const struct dop *d,
    const struct stat *st, bool inplace)
{
	uint64_t size = (uint64_t)st->st_size;

	return t->conn->partials && !inplace && !d->whole &&
	    size >= PARTIAL_MIN && (uint64_t)st->st_blocks * 512 >= size;
}

static int
send_put(struct turn *t, size_t idx)
{
	struct dop *d = &t->dops[idx];
	struct pobj *o = d->o;
	struct conn *c = t->conn;
	struct plink at;
	struct stat st, st2;
	struct attrs a;
	struct buf xstore = BUF_INIT;
	struct irec rec;
	char *disp = NULL;
	struct delta_enc *enc = NULL;
	char how[96] = "";

	memset(&a, 0, sizeof(a));
	int fd = -1, dirfd, rc = 0;

	if (dop_link(t, d, &at) != 0) {
		d->done = true;
		return 0;	/* its name did not make it (reported) */
	}
	if (turn_oref(t, NULL, &at.parent, at.name, at.name_len, &disp) != 0)
		return unresolved(t, d);
	dirfd = primary_dir(t, &at);
	fd = prefetched(t, idx);
	if (fd < 0 && dirfd >= 0)
		fd = open_content(dirfd, &at);
	struct fid now;
	bool have_st = false;
	int64_t seen = now_ns();	/* before the stat (racy) */
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fid_at(fd, "", t->tgt->fsid, &now) < 0 || !fid_eq(&now, &o->fid))) {
		close(fd);	/* another object has the name now */
		fd = -1;
		errno = ENOENT;
	} else if (fd >= 0) {
		have_st = true;	/* a regular file, this very object */
	}
	if (fd < 0 && vanished(errno))
		fd = reopen_moved(t, &o->fid, O_RDONLY | O_NONBLOCK | O_NOATIME);
	if (!have_st)
		seen = now_ns();
	if (fd < 0 || (!have_st && fstat(fd, &st) < 0) || !S_ISREG(st.st_mode)) {
		if (fd >= 0 || !vanished(errno))
			turn_error_at(t, &at, disp, "read %s: %s", disp, fd >= 0 ?
			    "not a regular file" : strerror(errno));
		d->done = true;
		goto out;
	}
	if (!(o->flags & POBJ_DATA) && (o->flags & POBJ_HASHCHECK)) {
		uint8_t h[16];
		if (hash_file(fd, (uint64_t)st.st_size, (uint64_t)st.st_blocks *
		    512 < (uint64_t)st.st_size, h) < 0) {
			turn_error_at(t, &at, disp, "read %s: %s", disp, strerror(errno));
			d->done = true;
			goto out;
		}
		if (memcmp(h, o->old_hash, 16) == 0 &&
		    !(o->flags & POBJ_ATTRS) && stat_is_pobj(&st, o)) {
			/* Looked at again only because it was racy: nothing
			 * changed, and it may be settled now. */
			d->done = true;
			bool still = racy(&st, seen);
			if (still)
				sync_racy_add(&t->st->racy, &o->fid, seen);
			rc = turn_synced(t, &o->fid, IREC_RACY,
			    still ? IREC_RACY : 0) < 0 ? -1 : 0;
			goto out;
		}
		if (memcmp(h, o->old_hash, 16) == 0) {
			/* Same content: attributes only. */
			pobj_restat(o, &st);
			d->type = D_SETATTR;
			d->hashed = true;
			d->racy = racy(&st, seen);
			d->seen = seen;
			rc = send_setattr(t, idx);
			goto out;
		}
	}
	/* Several names share the inode on the secondary: write it in place
	 * so that all of them see the new content. */
	bool inplace = false;
	if (!d->is_new && index_get(t->txn, &o->fid, &rec) == 0) {
		inplace = rec.nlinks > 1;
		irec_release(&rec);
	}
	/* Else the new content is renamed in, which changes the directory on
	 * the secondary: its attributes go again after the data. */
	struct pobj *dir = inplace ? NULL : crawl_find(&t->crawl, &at.parent);
	if (dir != NULL)
		dir->flags |= POBJ_DIRTY;
	if (t->opts->dry_run) {
		pobj_restat(o, &st);
		printf("send %s\n", disp);
		note_owner(t, o, &at, disp);
		dry_done(t, idx);
		goto out;
	}
	bool partial = false;
	if (delta_wanted(t, d, &st) || (partial = partial_wanted(t, d, &st,
	    inplace))) {
		enc = delta_fetch(t, idx, &at, disp, partial);
		if (c->failed) {
			rc = -1;
			goto out;
		}
		partial = partial && enc != NULL;
	}
	for (int attempt = 0; ; attempt++) {
		if (settle_writes(fd, &st) < 0) {
			turn_error_at(t, &at, disp, "stat %s: %s", disp, strerror(errno));
			d->done = true;
			goto out;
		}
		pobj_restat(o, &st);
		bool copy = enc == NULL && copy_sent(t, d, fd, &st, inplace);
		size_t s = conn_begin(c, MSG_PUT, 0, false);
		if (turn_oref(t, &c->out, &at.parent, at.name, at.name_len,
		    NULL) != 0)
			fatal("internal error: PUT of an unresolved path");
		put_u64(&c->out, inplace ? o->sino : 0);
		put_u32(&c->out, (inplace ? PUT_INPLACE : 0) |
		    (enc ? PUT_DELTA : 0) | (copy ? PUT_COPY : 0) |
		    (enc && partial ? PUT_PARTIAL : 0));
		put_u64(&c->out, (uint64_t)st.st_size);
		put_u32(&c->out, st.st_mode & 07777);
		if (conn_end(c, s) < 0) {
			free(a.xattrs);
			rc = -1;
			goto out;
		}
		bool sparse = (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size;
		uint64_t wire = 0;
		int rd = enc ? delta_send(t, fd, (uint64_t)st.st_size, enc,
		    d->hash, &wire) : copy ? hash_copied(t, fd,
		    (uint64_t)st.st_size, d->hash) : send_extents(t, fd,
		    (uint64_t)st.st_size, sparse, d->hash);
		int rderr = errno;
		seen = now_ns();
		bool changed = fstat(fd, &st2) < 0 || !same_stat(&st, &st2) ||
		    (rd == 0 && fresh_write_seen(fd, &st, seen, sparse, d->hash));
		if (c->failed) {
			rc = -1;
			goto out;
		}
		if (turn_stopped(t)) {
			/* Part sent, or all: the turn ends here either way,
			 * and its marker has the file sent again. */
			s = conn_begin_cont(c, MSG_PUT_ABORT, true,
			    COOKIE_IGNORE);
			conn_end(c, s);	/* failed: conn_close says so */
			rc = -1;
			goto out;
		}
		if (rd == -2) {
			/* librsync failed us (logged): whole, then. */
			s = conn_begin_cont(c, MSG_PUT_ABORT, true, COOKIE_IGNORE);
			if (conn_end(c, s) < 0) {
				rc = -1;
				goto out;
			}
			delta_enc_free(enc);
			enc = NULL;
			partial = false;
			continue;
		}
		if (rd < 0 || (changed && attempt < CHANGED_RETRIES)) {
			s = conn_begin_cont(c, MSG_PUT_ABORT, true, COOKIE_IGNORE);
			if (conn_end(c, s) < 0) {
				rc = -1;
				goto out;
			}
			if (rd < 0) {
				turn_error_at(t, &at, disp, "read %s: %s", disp, strerror(rderr));
				d->done = true;
				rc = inplace ? content_unsynced(t, &o->fid) : 0;
				goto out;
			}
			st = st2;	/* changed while sent: send it again */
			struct timespec ts = { 0, (5 * 1000000L) << attempt };
			nanosleep(&ts, NULL);
			continue;
		}
		if (changed) {
			/* Still changing: what was read may hold parts of two
			 * versions, and must not go under the file's name.
			 * The secondary keeps the version it has; the path
			 * is a failure (status, the exit code) until a turn
			 * finds the file quiet. */
			s = conn_begin_cont(c, MSG_PUT_ABORT, true, COOKIE_IGNORE);
			if (conn_end(c, s) < 0) {
				rc = -1;
				goto out;
			}
			turn_error_at(t, &at, disp, "%s changed every time it was read: not "
			    "sent (no mix of two versions under its name); sent "
			    "once it is quiet", disp);
			d->done = true;
			rc = inplace ? content_unsynced(t, &o->fid) : 0;
			goto out;
		}
		attrs_from_pobj(&a, o, t->opts);
		struct attrs x = a;
		if (read_xattrs(t, fd, dirfd, &at, false, &x, &xstore) < 0) {
			s = conn_begin_cont(c, MSG_PUT_ABORT, true, COOKIE_IGNORE);
			turn_error_at(t, &at, disp, "read xattrs of %s: %s", disp,
			    strerror(errno));
			d->done = true;
			rc = conn_end(c, s);
			if (rc == 0 && inplace)
				rc = content_unsynced(t, &o->fid);
			goto out;
		}
		d->xattr_digest = xattrs_digest(&x);
		d->size = (uint64_t)st.st_size;
		d->hashed = true;
		d->racy = changed || racy(&st, seen);
		d->seen = seen;
		s = conn_begin_cont(c, MSG_PUT_END, true, COOKIE_DOP | idx);
		put_attrs(&c->out, &x);
		free(x.xattrs);
		if (enc || copy) {
			/* What the result must hash to (proto.h). */
			put_raw(&c->out, d->hash, CHASH_LEN);
		}
		if (enc)
			note_delta(disp, wire, d->size, partial, how,
			    sizeof(how));
		else if (copy)
			snprintf(how, sizeof(how), "copied by the kernel");
		d->delta = enc != NULL;
		d->copied = copy;
		if (conn_end(c, s) < 0) {
			rc = -1;
			goto out;
		}
		note_owner(t, o, &at, disp);
		break;
	}
	if (t->opts->verbose)
		turn_say(t, "send", disp, how[0] ? how : NULL);
out:
	delta_enc_free(enc);
	if (fd >= 0)
		close(fd);
	buf_release(&xstore);
	free(disp);
	return rc;
}

/* ---- attributes ---- */

static int
send_setattr(struct turn *t, size_t idx)
{
	struct dop *d = &t->dops[idx];
	struct pobj *o = d->o;
	struct conn *c = t->conn;
	struct plink at;
	struct attrs a, x;
	struct buf xstore = BUF_INIT;
	bool root = (o->flags & POBJ_ROOT) != 0;
	int dirfd = -1;

	memset(&at, 0, sizeof(at));
	if (!root) {
		if (dop_link(t, d, &at) != 0) {
			d->done = true;
			return 0;
		}
		if (turn_oref(t, NULL, &at.parent, at.name, at.name_len,
		    NULL) != 0)
			return unresolved(t, d);
		dirfd = primary_dir(t, &at);
	}
	/* The object itself, checked by fid: the name may hold another one
	 * now (a swap since the crawl), whose xattrs are not this one's.
	 * O_PATH, so no read permission is needed; the xattrs are read
	 * through /proc/self/fd (which leads to a symlink itself, too). */
	int fd = -1, xrc;
	if (!root) {
		char nm[NAME_MAX + 1];
		struct fid now;
		memcpy(nm, at.name, at.name_len);
		nm[at.name_len] = '\0';
		fd = dirfd < 0 ? -1 : openat(dirfd, nm, O_PATH | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd >= 0 && (fid_at(fd, "", t->tgt->fsid, &now) < 0 ||
		    !fid_eq(&now, &o->fid))) {
			close(fd);
			fd = -1;
			errno = ENOENT;
		}
		if (fd < 0 && (dirfd < 0 || vanished(errno)))
			fd = reopen_moved(t, &o->fid, O_PATH | O_NOFOLLOW);
		if (fd < 0) {
			if (!vanished(errno))
				t->incomplete = true;
			d->done = true;
			buf_release(&xstore);
			return 0;
		}
	}
	attrs_from_pobj(&a, o, t->opts);
	x = a;
	if (root) {
		xrc = read_xattrs(t, -1, -1, &at, true, &x, &xstore);
	} else {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		xrc = xattrs_read(-1, path, true, t->privileged, &x, &xstore);
		if (xrc == 0)
			filter_xattrs(t, &x);
		close(fd);
	}
	if (xrc < 0) {
		if (vanished(errno)) {
			t->incomplete = true;	/* moved while read */
		} else {
			char *disp = NULL;
			if (!root)
				turn_oref(t, NULL, &at.parent, at.name,
				    at.name_len, &disp);
			turn_error(t, root ? "." : disp, "read xattrs of %s: %s",
			    root ? "." : disp,
			    strerror(errno));
			free(disp);
		}
		d->done = true;
		buf_release(&xstore);
		return 0;
	}
	a.nxattrs = x.nxattrs;
	a.xattrs = x.xattrs;
	d->xattr_digest = xattrs_digest(&a);
	if ((t->opts->verbose || t->opts->dry_run) && !root)
		verbose_path(t, "attrs", &at, NULL);
	note_owner(t, o, &at, NULL);
	if (t->opts->dry_run) {
		free(a.xattrs);
		buf_release(&xstore);
		dry_done(t, idx);
		return 0;
	}
	size_t s = conn_begin(c, MSG_SETATTR, COOKIE_DOP | idx, true);
	if (root) {
		put_oref(&c->out, BASE_SELF, "", 0, 0, "", 0);
	} else if (turn_oref(t, &c->out, &at.parent, at.name, at.name_len,
	    NULL) != 0) {
		fatal("internal error: SETATTR of an unresolved path");
	}
	put_u64(&c->out, root ? 0 : o->sino);
	put_attrs(&c->out, &a);
	free(a.xattrs);
	buf_release(&xstore);
	return conn_end(c, s);
}

/* ---- replies ---- */

/* A delta or copied PUT the secondary refused (its copy changed since it
 * was signed, the primary's file since it was hashed): sent again whole,
 * in DATA frames, once the PUTs out are answered (retry_whole).  True when it was one; nothing is reported for it, the
 * whole PUT reports its own failure.  One it took is counted. */
static bool
shortcut_refused(struct turn *t, struct dop *d, const struct reply *rep)
{
	struct plink at;
	char *disp = NULL;
	bool delta = d->delta;

	if (!d->delta && !d->copied)
		return false;
	d->delta = d->copied = false;
	if (rep->err == 0 && delta) {
		t->st->delta_files++;
		t->st->delta_size += d->size;
	} else if (rep->err == 0) {
		t->st->copied_files++;
		t->st->copied_size += d->size;
	}
	if (rep->err == 0)
		return false;
	d->whole = true;
	d->retry_whole = true;
	if (dop_link(t, d, &at) == 0)
		turn_oref(t, NULL, &at.parent, at.name, at.name_len, &disp);
	log_info("%s: %s: the secondary refused it (%.*s): sent whole",
	    delta ? "delta" : "copy", disp ? disp : "?", (int)rep->msg_len,
	    rep->msg ? rep->msg : "");
	free(disp);
	return true;
}

void
data_on_reply(struct turn *t, size_t idx, const struct reply *rep)
{
	struct dop *d = &t->dops[idx];
	struct pobj *o = d->o;
	struct irec rec;
	int rc;

	d->done = true;
	turn_report(t, false);
	if (shortcut_refused(t, d, rep))
		return;
	if (rep->err == ESTALE)
		t->stale = true;	/* the next turn reconciles fully */
	if (rep->err) {
		struct plink at;
		char *disp = NULL;
		if ((o->flags & POBJ_ROOT) == 0 && dop_link(t, d, &at) == 0) {
			turn_oref(t, NULL, &at.parent, at.name, at.name_len,
			    &disp);
			turn_retry_at(t, &at.parent, at.name, at.name_len);
		} else if (o->flags & POBJ_ROOT) {
			turn_retry_at(t, &t->tgt->root, NULL, 0);
		}
		turn_error(t, disp ? disp : ".", "%s failed on the secondary: "
		    "%.*s", d->type == D_PUT ? "write" : "setting attributes",
		    (int)rep->msg_len, rep->msg ? rep->msg : "");
		free(disp);
		/* A write in place that failed half way left the file half
		 * new: whatever the primary does next, it is sent again. */
		if (d->type == D_PUT && !d->is_new &&
		    content_unsynced(t, &o->fid) < 0)
			t->fatal = true;
		return;
	}
	t->acked_since_commit++;
	rc = d->is_new ? 1 : index_get(t->txn, &o->fid, &rec);
	if (rc < 0) {
		t->fatal = true;
		return;
	}
	uint32_t nlinks = 0;
	struct ilink *links = NULL;
	uint32_t synced = 0;
	uint64_t sino = o->sino;
	if (rc == 0) {
		nlinks = rec.nlinks;
		links = rec.links;
		synced = rec.synced;
		sino = rec.sino;
		if (d->type != D_PUT)
			memcpy(d->hash, rec.content_hash, 16);
	}
	/* A PUT may have made a new inode (temporary file renamed in). */
	if (d->type == D_PUT && rep->value != 0)
		sino = rep->value;
	memset(&rec, 0, sizeof(rec));
	rec.mode = o->mode;
	owner_on_secondary(t, o, &rec.uid, &rec.gid);
	rec.size = o->size;
	rec.rdev = o->rdev;
	rec.mtime_sec = o->mtime_sec;
	rec.mtime_nsec = o->mtime_nsec;
	rec.ctime_sec = o->ctime_sec;
	rec.ctime_nsec = o->ctime_nsec;
	rec.xattr_digest = d->xattr_digest;
	memcpy(rec.content_hash, d->hash, 16);
	rec.synced = synced | IREC_ATTRS | (d->type == D_PUT ? IREC_CONTENT : 0);
	if (d->hashed)
		rec.synced = (rec.synced & ~IREC_RACY) |
		    (d->racy ? IREC_RACY : 0);
	if (d->hashed && d->racy)
		sync_racy_add(&t->st->racy, &o->fid, d->seen);
	rec.sino = sino;
	rec.nlinks = nlinks;
	rec.links = links;
	if (index_put(t->txn, &o->fid, &rec) < 0)
		t->fatal = true;
	else if (d->is_new && link_add(t->txn, &o->fid, &d->at.parent,
	    d->at.name, d->at.name_len) < 0)
		t->fatal = true;
	irec_release(&rec);
	o->sino = rec.sino;
	if (d->type == D_PUT) {
		t->st->files_sent++;
		if (d->is_new)
			t->st->created++;
		else
			t->st->changed++;
	} else {
		t->st->attrs_set++;
		if (o->flags & POBJ_KNOWN)
			t->st->changed++;	/* not one just made */
	}
}

/* ---- the phases ---- */

static bool
in_model(struct turn *t, const struct fid *fid)
{
	struct irec rec;

	if (index_get(t->txn, fid, &rec) != 0)
		return false;
	irec_release(&rec);
	return true;
}

/* The PUTs whose delta the secondary refused, again, whole. */
static int
resend_whole(struct turn *t, size_t from)
{
	bool any = false;

	for (size_t i = from; i < t->ndops && !t->conn->failed && !t->fatal;
	    i++) {
		if (!t->dops[i].retry_whole)
			continue;
		t->dops[i].retry_whole = false;
		any = true;
		if (turn_stopped(t) || send_put(t, i) < 0)
			return -1;
	}
	if (any && (conn_wait_all(t->conn) < 0 || t->fatal))
		return -1;
	return t->conn->failed || t->fatal ? -1 : 0;
}

static int
send_dops(struct turn *t, size_t from)
{
	prefetch_reset(t, from, false);
	for (size_t i = from; i < t->ndops && !t->conn->failed && !t->fatal; i++) {
		if (turn_stopped(t))
			return -1;
		prefetch_upto(t, i + TURN_PREFETCH);
		struct dop *d = &t->dops[i];
		int rc = d->type == D_PUT ? send_put(t, i) : send_setattr(t, i);
		if (rc < 0)
			return -1;
		if (!t->opts->dry_run && (t->acked_since_commit >= COMMIT_BATCH ||
		    (t->acked_since_commit && mono_ns() - t->committed_at >=
		    COMMIT_EVERY_NS)) && turn_commit(t, 0) < 0)
			return -1;
	}
	return 0;
}

static int
run_dops(struct turn *t, size_t from)
{
	int rc = send_dops(t, from);

	prefetch_reset(t, 0, true);
	if (rc < 0)
		return -1;
	if (t->opts->dry_run)
		return 0;
	if (conn_wait_all(t->conn) < 0 || t->fatal)
		return -1;
	return resend_whole(t, from);
}

int
data_phase(struct turn *t)
{
	t->started = mono_ns();
	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		if (o->mode == 0 || S_ISDIR(o->mode))
			continue;	/* gone, or a directory (phase D) */
		bool is_new = !(o->flags & POBJ_KNOWN);
		if (S_ISREG(o->mode)) {
			if (is_new && o->nadded == 0)
				continue;
			if (!(o->flags & (POBJ_DATA | POBJ_HASHCHECK | POBJ_ATTRS)))
				continue;
			struct dop *d = dop_add(t, (o->flags & (POBJ_DATA |
			    POBJ_HASHCHECK)) ? D_PUT : D_SETATTR, o);
			d->is_new = is_new;
			if (is_new)
				d->at = o->added[0];
			if (d->type == D_PUT && (o->flags & POBJ_DATA)) {
				t->total_bytes += o->size;
				t->total_files++;
			}
		} else if ((o->flags & POBJ_ATTRS) && in_model(t, &o->fid)) {
			dop_add(t, D_SETATTR, o);
		}
	}
	turn_hold_point(t);
	if (run_dops(t, 0) < 0)
		return -1;
	/* C. The other names of new hard-linked files, once the first one
	 * exists. */
	size_t first = t->nmops;
	for (size_t i = 0; i < t->ndops; i++) {
		struct dop *d = &t->dops[i];
		if (!d->is_new || d->o->nadded < 2 || !in_model(t, &d->o->fid))
			continue;
		for (uint32_t a = 1; a < d->o->nadded; a++) {
			XGROW(t->mops, t->capmops, t->nmops + 1);
			struct mop *m = &t->mops[t->nmops++];
			memset(m, 0, sizeof(*m));
			m->type = M_LINK;
			m->o = d->o;
			m->to = d->o->added[a];
		}
	}
	if (t->nmops > first)
		return turn_entry_ops(t, first);
	return 0;
}

int
dirattr_phase(struct turn *t)
{
	size_t first = t->ndops;

	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		if (!S_ISDIR(o->mode))
			continue;
		if (!(o->flags & (POBJ_ATTRS | POBJ_DIRTY)) &&
		    (o->flags & POBJ_KNOWN))
			continue;
		if (!(o->flags & POBJ_ROOT) && !in_model(t, &o->fid))
			continue;
		dop_add(t, D_SETATTR, o);
	}
	return run_dops(t, first);
}
