#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "../common/log.h"
#include "../common/names.h"
#include "../common/util.h"
#include "../common/xattrs.h"
#include "../common/delta.h"
#include "../common/digest.h"
#include "../verify/vlist.h"
#include "../protocol/proto.h"
#include "../common/resolve.h"
#include "pool.h"
#include "secondary.h"
#include "../common/banned.h"

#define STAGE_DIR	"stage"
#define VOLUME_FILE	"volume"
#define STATE_FILE	"state"
#define LOCK_FILE	"lock"
/* How long a HELLO waits for another secondary writing into the same
 * directory: one left behind by a primary killed mid-turn applies what is
 * still in its pipe, then ends (its replies have nowhere to go). */
#define LOCK_WAIT_MS	30000

/* The file being written by an open PUT. */
struct put {
	bool active;
	int err;		/* first error; the rest of the PUT is drained */
	char *errmsg;
	int fd;
	int dirfd;		/* the parent (the resolver's) */
	uint64_t written_end;	/* the end of the last extent written */
	char *name;
	char *parent;		/* the parent's path (parent_len bytes), */
	size_t parent_len;	/* quoted into messages only on an error */
	uint32_t flags;
	uint64_t sino;		/* expected inode (0: a new file) */
	uint64_t size;
	struct stat cur;	/* the file as opened (owner, mode, inode) */
	bool have_cur;
	/* PUT_DELTA: the old file, the patch into fd, the delta's bytes
	 * taken so far. */
	int basis_fd;
	struct delta_dec *dec;
	uint64_t delta_in;
	/* PUT_COPY: the primary's file, from the descriptor channel. */
	int src_fd;
	uint8_t base;		/* the oref's, for its partial's name */
};

/*
 * A PUT done by a worker: a new file (or a new version of one, linked over
 * it) of at most JOB_MAX_BYTES, gathered whole from its PUT, DATA and
 * PUT_END frames by the main thread, which checks them as it does for its
 * own PUTs; the worker creates, writes, sets the attributes and links it
 * in.  Files in place, deltas, and PUTs into a directory opened up for
 * them (no privilege) stay in the main thread.
 */
#define JOB_MAX_BYTES	(1u << 20)
#define JOBS_OUT_MAX	256		/* jobs out, at most ... */
#define JOBS_BYTES_MAX	(32u << 20)	/* ... and their content */

struct job {
	struct pool_job pj;
	uint32_t id;		/* its PUT_END's: the reply's */
	struct put p;		/* dirfd is the job's own descriptor */
	uint32_t mode;
	struct buf data;	/* DATA frames: u64 offset, u32 length, bytes */
	struct buf end;		/* PUT_END's payload, checked already */
	uint64_t val;		/* the inode number, for the reply */
};

struct secondary {
	char *dir;
	int rootfd, statefd, stagefd;
	int lockfd;		/* .georep/lock, flock'ed while it writes */
	struct resolver res;	/* set up by HELLO (open_state) */
	bool res_ready;
	bool is_root;
	uid_t uid;		/* what it runs as: without privilege, the */
	gid_t gid;		/* owner of all it makes (proto.h, HELLO) */
	bool hello_done;
	bool readonly;		/* HELLO_READONLY: georep verify */
	ZSTD_DCtx *dctx;	/* HELLO_COMPRESS: blocks may come (proto.h) */
	struct buf block;	/* the frames of the block being handled */
	bool made_root;		/* the directory was missing: made at start */
	const char *refusal;	/* every HELLO is refused (EPERM) with it */
	bool poisoned;		/* an ordered op failed: cancel the rest */
	int ended;		/* 1 after BYE, -1 after a protocol violation */
	struct put put;
	/* sync_jobs > 1 (HELLO): whole small PUTs go to workers (jobs
	 * below); the replies still go out in order. */
	struct pool *pool;
	struct job *job_open;	/* the PUT being gathered for a worker */
	size_t jobs_bytes;	/* the content held by jobs out */
	bool stream;		/* secondary_main: replies of jobs may wait */
	int fdchan;		/* the descriptor channel (PUT_COPY), or -1 */
	bool fds;		/* HELLO_FDS said: PUT_COPY may come */
	size_t partials;	/* partial files in the staging area */
	char msg[1024];		/* detail of the current reply */
	struct buf data;	/* result of the current reply */
	/* Without privilege, directories opened up for one operation (a
	 * replicated 0555 or 000 directory) and their modes, restored after
	 * it. */
	struct unlocked {
		int fd;
		mode_t mode;
	} *unlocked;
	size_t nunlocked, capunlocked;
};

/* ---- replies ---- */

/* Append the reply to request id to out: err and s->msg, or value and
 * s->data. */
static void
reply(struct secondary *s, struct buf *out, uint32_t id, int err,
    uint64_t value)
{
	size_t start = proto_begin(out, MSG_REPLY, id);

	put_u32(out, (uint32_t)err);
	put_u64(out, value);
	if (err)
		put_str(out, s->msg);
	else
		put_bytes(out, s->data.data, (uint32_t)s->data.len);
	proto_finish(out, start);
	s->msg[0] = '\0';
	buf_reset(&s->data);
}

/* Record the detail of a failure: "STEP PATH: strerror". Returns -1. */
static int
fail(struct secondary *s, int err, const char *step, const struct oref *o)
{
	char *q = quote_name(o->name, o->name_len);
	char *p = quote_name(o->parent, o->parent_len);

	snprintf(s->msg, sizeof(s->msg), "%s %s%s%s%s: %s", step,
	    o->base == BASE_STAGE ? "(staging)/" : "", p,
	    o->parent_len ? "/" : "", q, strerror(err));
	free(q);
	free(p);
	errno = err;
	return -1;
}

/* After an ESTALE message: the inode found and the one the primary meant
 * (errno is kept). */
static void
add_inodes(struct secondary *s, uint64_t found, uint64_t expected)
{
	size_t n = strlen(s->msg);
	int saved = errno;

	snprintf(s->msg + n, sizeof(s->msg) - n, " (inode %llu there, "
	    "expected %llu)", (unsigned long long)found,
	    (unsigned long long)expected);
	errno = saved;
}

static int
flush_out(int fd, struct buf *out)
{
	if (out->len == 0)
		return 0;
	if (write_full(fd, out->data, out->len) < 0) {
		log_sys(LOG_LVL_ERR, "writing replies");
		return -1;
	}
	buf_reset(out);
	return 0;
}

/* ---- object helpers ---- */

static char *
cstr(const char *p, uint32_t n)
{
	return xstrndup(p, n);
}

/* The parent directory of o; fills s->msg on failure. */
/*
 * Without privilege a replicated directory may deny its owner -- us -- the
 * write or search access an operation needs.  Grant it for the operation
 * and put the mode back after (restore_unlocked).  The primary sets the
 * attributes of every directory whose entries changed after its content,
 * so a directory's own mtime ends right as well.
 */
static int
unlock_fd(struct secondary *s, int fd)
{
	struct stat st;
	char proc[64];

	/* Never on a read-only connection (verify): it changes nothing,
	 * modes included, and says what it could not read. */
	if (s->is_root || s->readonly || fstat(fd, &st) < 0 ||
	    !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 0700) == 0700)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (chmod(proc, (st.st_mode & 07777) | 0700) < 0)
		return -1;
	XGROW(s->unlocked, s->capunlocked, s->nunlocked + 1);
	s->unlocked[s->nunlocked].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	s->unlocked[s->nunlocked++].mode = st.st_mode & 07777;
	return 0;
}

static void
restore_unlocked(struct secondary *s)
{
	char proc[64];

	while (s->nunlocked > 0) {
		struct unlocked *u = &s->unlocked[--s->nunlocked];
		if (u->fd < 0)
			continue;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->fd);
		if (chmod(proc, u->mode) < 0)
			log_sys(LOG_LVL_WARN, "restoring the mode of a directory");
		close(u->fd);
	}
}

/* Walk base/path opening up every directory on the way that denies us
 * search access. */
static void
unlock_path(struct secondary *s, int base, const char *path, size_t len)
{
	int cur = openat(s->res.basefd[base], ".", O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	size_t off = 0;

	while (cur >= 0 && off < len) {
		const char *slash = memchr(path + off, '/', len - off);
		size_t n = slash ? (size_t)(slash - (path + off)) : len - off;
		char comp[NAME_MAX + 1];
		memcpy(comp, path + off, n);
		comp[n] = '\0';
		int next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		close(cur);
		cur = next;
		if (cur >= 0)
			unlock_fd(s, cur);
		off += n + 1;
	}
	if (cur >= 0)
		close(cur);
	resolve_forget(&s->res);
}

/* The directory at base/path, opened up for writing if need be. */
static int
resolve_parent(struct secondary *s, int base, const char *path, size_t len)
{
	int fd = resolve_dir(&s->res, base, path, len);

	if (fd < 0 && errno == EACCES && !s->is_root && !s->readonly) {
		unlock_path(s, base, path, len);
		fd = resolve_dir(&s->res, base, path, len);
	}
	if (fd >= 0 && unlock_fd(s, fd) < 0)
		return -1;
	return fd;
}

/* A parent that is missing, or not a directory, or a symlink: the
 * primary's model of this tree is wrong -- ESTALE says so (the primary
 * reconciles and tries again).  The cause stays in the message. */
static int
model_errno(int err)
{
	return (err == ENOENT || err == ENOTDIR || err == ELOOP) ? ESTALE : err;
}

/*
 * The parent directory of o, which must be inode o->psino when that is
 * given: a path is the primary's belief, and an operation applied to
 * another directory found there would be reported done while the object
 * meant stays missing.  ESTALE on a mismatch, with both numbers in the
 * message; the primary then rebuilds its index from the secondary.
 */
static int
parent_fd(struct secondary *s, const struct oref *o)
{
	int fd = resolve_parent(s, o->base, o->parent, o->parent_len);
	uint64_t ino;

	if (fd < 0) {
		int err = errno;
		fail(s, err, "resolve the parent of", o);
		errno = model_errno(err);
		return -1;
	}
	if (o->psino == 0)
		return fd;
	if (resolve_ino(&s->res, fd, &ino) < 0)
		return fail(s, errno, "stat the parent of", o);
	if (ino != o->psino) {
		fail(s, ESTALE, "resolve the parent of", o);
		add_inodes(s, ino, o->psino);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

static int
lstat_at(int dfd, const char *name, struct stat *st)
{
	return fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW);
}

static int
rmtree_at(int dfd, const char *name)
{
	struct stat st;

	if (lstat_at(dfd, name, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	/* Without privilege a 0555 or 000 directory is opened up first: it is
	 * going away anyway. */
	if ((st.st_mode & 0700) != 0700 && st.st_uid == geteuid()) {
		int pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		char proc[64];
		if (pfd >= 0) {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
			if (chmod(proc, (st.st_mode & 07777) | 0700) < 0)
				log_sys(LOG_LVL_DEBUG, "chmod before removal");
			close(pfd);
		}
	}
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rmtree_at(fd, de->d_name) < 0) {
			rc = -1;
			break;
		}
	}
	if (de == NULL && errno != 0)
		rc = -1;
	int saved = errno;
	closedir(d);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Make room at dfd/name for a new object: remove whatever is there. */
static int
clear_name(int dfd, const char *name)
{
	return rmtree_at(dfd, name);
}

/*
 * Where xattrs are read and written: a real fd (f*xattr), or a path, followed
 * (a /proc/self/fd/N path, which must be followed to reach the inode) or not
 * (dir/name of a symlink).
 */
struct xtarget {
	int fd;			/* -1: use path */
	const char *path;
	bool follow;
};

static ssize_t
x_list(const struct xtarget *x, char *names, size_t n)
{
	if (x->fd >= 0)
		return flistxattr(x->fd, names, n);
	return x->follow ? listxattr(x->path, names, n) :
	    llistxattr(x->path, names, n);
}

static int
x_remove(const struct xtarget *x, const char *name)
{
	if (x->fd >= 0)
		return fremovexattr(x->fd, name);
	return x->follow ? removexattr(x->path, name) :
	    lremovexattr(x->path, name);
}

static int
x_set(const struct xtarget *x, const char *name, const void *v, size_t n)
{
	if (x->fd >= 0)
		return fsetxattr(x->fd, name, v, n, 0);
	return x->follow ? setxattr(x->path, name, v, n, 0) :
	    lsetxattr(x->path, name, v, n, 0);
}

/* Replace the managed xattrs of the target with the list in a. */
static int
set_xattrs(const struct xtarget *x, const struct attrs *a, bool priv,
    bool *changed)
{
	char names[65536];
	ssize_t n = x_list(x, names, sizeof(names));

	if (n < 0 && errno != ENOTSUP && errno != EOPNOTSUPP)
		return -1;
	for (char *p = names; n > 0 && p < names + n; p += strlen(p) + 1) {
		if (!xattr_managed(p, priv) || !(a->mask &
		    (xattr_is_acl(p, strlen(p)) ? ATTR_ACLS : ATTR_XATTRS)))
			continue;	/* not a category this request replaces */
		bool keep = false;
		for (uint32_t i = 0; i < a->nxattrs && !keep; i++)
			keep = strlen(p) == a->xattrs[i].name_len &&
			    memcmp(p, a->xattrs[i].name, a->xattrs[i].name_len) == 0;
		if (keep)
			continue;
		*changed = true;
		if (x_remove(x, p) < 0 && errno != ENODATA)
			return -1;
	}
	for (uint32_t i = 0; i < a->nxattrs; i++) {
		char nm[PROTO_XATTR_NAME_MAX + 1];
		memcpy(nm, a->xattrs[i].name, a->xattrs[i].name_len);
		nm[a->xattrs[i].name_len] = '\0';
		if (!xattr_managed(nm, priv))
			continue;
		*changed = true;
		if (x_set(x, nm, a->xattrs[i].value, a->xattrs[i].value_len) < 0)
			return -1;
	}
	return 0;
}

/*
 * Apply attributes to the object fd, which is dfd/name.  fd is a real
 * descriptor of a regular file when real_fd (f* calls), else an O_PATH one
 * (reached through /proc/self/fd/N, or dir/name for a symlink).  Order
 * matters: chown clears set-id bits, so mode after owner; ACL xattrs touch
 * the group bits, so mode after xattrs; times last.  cur, when not NULL, is
 * the object's stat from before (a file just created or opened): an owner
 * or a mode it has already is not set again.
 */
static int
apply_attrs(const struct secondary *s, int fd, bool real_fd, int dfd,
    const char *name, mode_t type, const struct attrs *a,
    const struct stat *cur, const char **step)
{
	bool owner_set = false, xattrs_set = false;

	char path[64 + NAME_MAX];
	bool symlink = S_ISLNK(type);
	struct xtarget x = { .fd = real_fd ? fd : -1, .path = path,
	    .follow = !symlink };

	if (symlink)
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* Without privilege, the owner is our own uid and gid, whatever the
	 * primary's is: the primary counts the owners that differ as not
	 * replicated (proto.h, HELLO).  Our gid is set too, for a setgid
	 * directory gives a new file its own group. */
	uid_t uid = s->is_root ? a->uid : (uid_t)-1;
	gid_t gid = s->is_root ? a->gid : s->gid;
	if ((a->mask & ATTR_OWNER) && !(cur && cur->st_gid == gid &&
	    (!s->is_root || cur->st_uid == uid))) {
		*step = s->is_root ? "chown" : "chgrp";
		owner_set = true;
		if (fchownat(fd, "", uid, gid,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -1;
	}
	if (a->mask & (ATTR_XATTRS | ATTR_ACLS)) {
		*step = "set xattrs of";
		if (set_xattrs(&x, a, s->is_root, &xattrs_set) < 0)
			return -1;
	}
	/* A write may only clear set-id bits, never add one: a mode without
	 * them that the file had when opened, it still has. */
	bool mode_kept = cur && !owner_set && !xattrs_set &&
	    (a->mode & 06000) == 0 && (cur->st_mode & 07777) == a->mode;
	if ((a->mask & ATTR_MODE) && !symlink && !mode_kept) {
		*step = "chmod";
		if ((real_fd ? fchmod(fd, a->mode & 07777) :
		    chmod(path, a->mode & 07777)) < 0)
			return -1;
	}
	if (a->mask & ATTR_MTIME) {
		struct timespec ts[2] = {
			{ .tv_nsec = UTIME_OMIT },
			{ .tv_sec = a->mtime_sec, .tv_nsec = a->mtime_nsec },
		};
		*step = "set times of";
		int rc = real_fd ? futimens(fd, ts) : symlink ?
		    utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) :
		    utimensat(AT_FDCWD, path, ts, 0);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Check that dfd/name is the inode the primary expects (sino != 0). */
static int
check_ino(int dfd, const char *name, uint64_t sino, struct stat *st)
{
	if (lstat_at(dfd, name, st) < 0)
		return -1;
	if (sino != 0 && (uint64_t)st->st_ino != sino) {
		errno = ESTALE;
		return -1;
	}
	return 0;
}

/* Whether fd is inode sino; errno ESTALE when another. */
static bool
fd_is_inode(int fd, uint64_t sino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return false;
	if ((uint64_t)st.st_ino != sino) {
		errno = ESTALE;
		return false;
	}
	return true;
}

/* ---- entry operations ---- */

static int
op_mkdir(struct secondary *s, struct rd *r, uint64_t *val)
{
	struct oref o;
	struct stat st;

	if (!get_oref(r, &o))
		return -2;
	uint32_t mode = get_u32(r);
	if (!rd_end(r))
		return -2;
	int dfd = parent_fd(s, &o);
	if (dfd < 0)
		return -1;
	char *name = cstr(o.name, o.name_len);
	/* Owner access while the tree is filled; SETATTR sets the real mode. */
	int rc = mkdirat(dfd, name, (mode & 07777) | 0700);
	if (rc < 0 && errno == EEXIST && lstat_at(dfd, name, &st) == 0 &&
	    !S_ISDIR(st.st_mode)) {
		if (clear_name(dfd, name) == 0)
			rc = mkdirat(dfd, name, (mode & 07777) | 0700);
	} else if (rc < 0 && errno == EEXIST) {
		rc = 0;
	}
	if (rc < 0 || lstat_at(dfd, name, &st) < 0) {
		free(name);
		return fail(s, errno, "mkdir", &o);
	}
	free(name);
	*val = st.st_ino;
	return 0;
}

/* Create a symlink or node under a temporary name and rename it over name,
 * so an existing wrong entry is replaced in one step. */
static int
create_special(int dfd, const char *name, const char *target, mode_t mode,
    dev_t rdev)
{
	char tmp[64];
	static unsigned seq;

	for (int tries = 0; tries < 2; tries++) {
		int rc = target ? symlinkat(target, dfd, name) :
		    mknodat(dfd, name, mode, rdev);
		if (rc == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
		snprintf(tmp, sizeof(tmp), ".georep-tmp.%d.%u", (int)getpid(),
		    ++seq);
		rc = target ? symlinkat(target, dfd, tmp) :
		    mknodat(dfd, tmp, mode, rdev);
		if (rc < 0)
			return -1;
		if (renameat(dfd, tmp, dfd, name) == 0)
			return 0;
		int saved = errno;
		unlinkat(dfd, tmp, 0);
		if (saved != EISDIR && saved != ENOTEMPTY) {
			errno = saved;
			return -1;
		}
		/* A directory is in the way: remove it and try again. */
		if (clear_name(dfd, name) < 0)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

static int
op_symlink(struct secondary *s, struct rd *r, uint64_t *val)
{
	struct oref o;
	uint32_t tlen;
	struct stat st;

	if (!get_oref(r, &o))
		return -2;
	const char *t = get_str(r, &tlen, PATH_MAX - 1);
	if (!rd_end(r) || tlen == 0)
		return -2;
	int dfd = parent_fd(s, &o);
	if (dfd < 0)
		return -1;
	char *name = cstr(o.name, o.name_len), *target = cstr(t, tlen);
	int rc = create_special(dfd, name, target, 0, 0);
	if (rc == 0)
		rc = lstat_at(dfd, name, &st);
	free(target);
	free(name);
	if (rc < 0)
		return fail(s, errno, "symlink", &o);
	*val = st.st_ino;
	return 0;
}

static int
op_mknod(struct secondary *s, struct rd *r, uint64_t *val)
{
	struct oref o;
	struct stat st;

	if (!get_oref(r, &o))
		return -2;
	uint32_t mode = get_u32(r);
	uint64_t rdev = get_u64(r);
	if (!rd_end(r))
		return -2;
	mode_t type = mode & S_IFMT;
	if (type != S_IFIFO && type != S_IFCHR && type != S_IFBLK &&
	    type != S_IFSOCK)
		return -2;
	int dfd = parent_fd(s, &o);
	if (dfd < 0)
		return -1;
	char *name = cstr(o.name, o.name_len);
	int rc = create_special(dfd, name, NULL, mode & (S_IFMT | 07777),
	    (dev_t)rdev);
	if (rc == 0)
		rc = lstat_at(dfd, name, &st);
	free(name);
	if (rc < 0)
		return fail(s, errno, "mknod", &o);
	*val = st.st_ino;
	return 0;
}

/*
 * LINK and RENAME move an existing object.  Idempotent: if the source is
 * gone and the destination already is the expected inode, it is done.  An
 * object that is neither where the primary thinks nor already moved is
 * ESTALE: the primary's model of this tree is wrong, and saying so beats
 * guessing.
 */
static int
op_link_or_rename(struct secondary *s, struct rd *r, bool is_rename)
{
	struct oref src, dst;
	struct stat st;
	const char *what = is_rename ? "rename" : "link";

	if (!get_oref(r, &src))
		return -2;
	uint64_t sino = get_u64(r);
	if (!get_oref(r, &dst) || !rd_end(r))
		return -2;
	int sfd = parent_fd(s, &src);
	if (sfd < 0)
		return -1;
	sfd = fcntl(sfd, F_DUPFD_CLOEXEC, 0);
	if (sfd < 0)
		return fail(s, errno, what, &src);
	int dfd = parent_fd(s, &dst);
	if (dfd < 0) {
		close(sfd);
		return -1;
	}
	char *sname = cstr(src.name, src.name_len);
	char *dname = cstr(dst.name, dst.name_len);
	int rc = check_ino(sfd, sname, sino, &st);
	if (rc < 0) {
		int err = errno;
		struct stat dst_st;
		if (check_ino(dfd, dname, sino, &dst_st) == 0 && sino != 0) {
			rc = 0;		/* already done */
			goto out;
		}
		/* Not where the model says, nor moved already: the model is
		 * wrong (ESTALE); the cause stays in the message. */
		fail(s, err, what, &src);
		if (err == ESTALE)
			add_inodes(s, (uint64_t)st.st_ino, sino);
		errno = model_errno(err);
		goto out;
	}
	if (is_rename) {
		if (S_ISDIR(st.st_mode) && !s->is_root) {
			int ofd = openat(sfd, sname, O_PATH | O_NOFOLLOW |
			    O_CLOEXEC);
			if (ofd >= 0) {
				unlock_fd(s, ofd);
				close(ofd);
			}
		}
		rc = renameat(sfd, sname, dfd, dname);
		if (rc < 0 && (errno == ENOTEMPTY || errno == EEXIST ||
		    errno == EISDIR || errno == ENOTDIR) &&
		    clear_name(dfd, dname) == 0)
			rc = renameat(sfd, sname, dfd, dname);
		resolve_forget(&s->res);
	} else {
		rc = linkat(sfd, sname, dfd, dname, 0);
		if (rc < 0 && errno == EEXIST) {
			struct stat dst_st;
			if (lstat_at(dfd, dname, &dst_st) == 0 &&
			    dst_st.st_ino == st.st_ino)
				rc = 0;
			else if (clear_name(dfd, dname) == 0)
				rc = linkat(sfd, sname, dfd, dname, 0);
		}
	}
	if (rc < 0)
		fail(s, errno, what, &dst);
out:
	free(sname);
	free(dname);
	close(sfd);
	return rc;
}

static int
op_remove(struct secondary *s, struct rd *r, bool tree)
{
	struct oref o;
	struct stat st;

	if (!get_oref(r, &o))
		return -2;
	uint64_t sino = get_u64(r);
	if (!rd_end(r))
		return -2;
	if (resolve_parent(s, o.base, o.parent, o.parent_len) < 0 &&
	    errno == ENOENT)
		return 0;	/* gone with its parent: done */
	int dfd = parent_fd(s, &o);
	if (dfd < 0)
		return -1;
	char *name = cstr(o.name, o.name_len);
	int rc = check_ino(dfd, name, sino, &st);
	if (rc < 0) {
		rc = errno == ENOENT ? 0 : fail(s, errno, "remove", &o);
		if (errno == ESTALE)
			add_inodes(s, (uint64_t)st.st_ino, sino);
		free(name);
		return rc;
	}
	if (tree || S_ISDIR(st.st_mode)) {
		rc = rmtree_at(dfd, name);
		resolve_forget(&s->res);
	} else {
		rc = unlinkat(dfd, name, 0);
	}
	if (rc < 0 && errno != ENOENT)
		fail(s, errno, "remove", &o);
	else
		rc = 0;
	free(name);
	return rc;
}

static int
op_setattr(struct secondary *s, struct rd *r)
{
	struct oref o;
	struct attrs a;
	struct stat st;
	const char *step = "open";

	if (!get_oref_or_self(r, &o))
		return -2;
	uint64_t sino = get_u64(r);
	if (!get_attrs(r, &a))
		return -2;
	if (!rd_end(r)) {
		attrs_release(&a);
		return -2;
	}
	bool self = o.base == BASE_SELF;
	int dfd = self ? s->rootfd : parent_fd(s, &o);
	if (dfd < 0) {
		attrs_release(&a);
		return -1;
	}
	char *name = self ? xstrdup(".") : cstr(o.name, o.name_len);
	int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int rc = -1;
	if (fd >= 0 && fstat(fd, &st) == 0) {
		if (sino != 0 && (uint64_t)st.st_ino != sino) {
			errno = ESTALE;
			step = "set attributes of";
		} else {
			rc = apply_attrs(s, fd, false, dfd, name, st.st_mode, &a,
			    &st, &step);
		}
	}
	if (rc < 0) {
		int err = errno;
		fail(s, err, step, &o);
		errno = fd < 0 ? model_errno(err) : err;
	}
	if (fd >= 0)
		close(fd);
	free(name);
	attrs_release(&a);
	return rc;
}

/*
 * The regular file name in directory pfd, opened to be read, if it is
 * inode sino (0: any); its stat in *st.  Looked at before it is opened:
 * opening a device node would run its driver's open, and a FIFO's would
 * block.  Reopened through /proc: the same inode.  -1 with errno, and the
 * message (step: what the caller does with it) when o is given.
 */
static int
open_regular(struct secondary *s, int pfd, const char *name, uint64_t sino,
    const char *step, const struct oref *o, struct stat *st)
{
	char proc[64], what[96];
	int fd = -1, err = 0;
	int pathfd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pathfd < 0) {
		err = errno;
		snprintf(what, sizeof(what), "open");
	} else if (fstat(pathfd, st) < 0) {
		err = errno;
		snprintf(what, sizeof(what), "stat");
	} else if (!S_ISREG(st->st_mode)) {
		err = EINVAL;
		snprintf(what, sizeof(what), "%s (not a regular file)", step);
	} else if (sino && (uint64_t)st->st_ino != sino) {
		err = ESTALE;
		snprintf(what, sizeof(what), "%s", step);
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
		fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = open(proc, O_RDONLY | O_CLOEXEC);
		err = errno;
		snprintf(what, sizeof(what), "open");
	}
	if (pathfd >= 0)
		close(pathfd);
	if (fd >= 0)
		return fd;
	if (o)
		fail(s, err, what, o);
	errno = err;
	return -1;
}

/* ---- PUT: file content ---- */

static void
put_reset(struct put *p)
{
	if (p->fd >= 0)
		close(p->fd);
	if (p->basis_fd >= 0)
		close(p->basis_fd);
	if (p->src_fd >= 0)
		close(p->src_fd);
	delta_dec_free(p->dec);
	free(p->name);
	free(p->parent);
	free(p->errmsg);
	memset(p, 0, sizeof(*p));
	p->fd = p->dirfd = p->basis_fd = p->src_fd = -1;
}

/* "STEP parent/name: WHY", the names quoted. */
static char *
put_message(const struct put *p, const char *step, const char *why)
{
	char *qp = quote_name(p->parent, p->parent_len);
	char *qn = quote_name(p->name, strlen(p->name));
	char *m = xasprintf("%s %s%s%s: %s", step, qp, p->parent_len ? "/" :
	    "", qn, why);
	free(qp);
	free(qn);
	return m;
}

static void
put_error(struct put *p, int err, const char *step)
{
	if (p->err)
		return;
	p->err = err;
	p->errmsg = put_message(p, step, strerror(err));
}

/* As put_error, with what went wrong said in words (a delta's). */
static void
put_error_why(struct put *p, int err, const char *step,
    const char *why)
{
	if (p->err)
		return;
	p->err = err;
	p->errmsg = put_message(p, step, why);
}

/*
 * Open the existing file of a PUT in place (sino: the inode expected, or
 * 0).  What is there is looked at before it is opened for writing: opening
 * a FIFO would block until a reader came, and opening a device node would
 * run its driver's open.  Reopened through /proc: the same inode.
 */
static void
put_open_inplace(struct secondary *s, uint64_t sino)
{
	struct put *p = &s->put;
	struct stat *st = &p->cur;
	char proc[64];
	int pfd = openat(p->dirfd, p->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pfd < 0 || fstat(pfd, st) < 0) {
		int err = errno;
		put_error(&s->put, err, "open");
		p->err = model_errno(err);
	} else if (!S_ISREG(st->st_mode) ||
	    (sino != 0 && (uint64_t)st->st_ino != sino)) {
		put_error(&s->put, ESTALE, "write in place");
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		p->fd = open(proc, O_WRONLY | O_CLOEXEC);
		if (p->fd < 0)
			put_error(&s->put, errno, "open");
		else if (ftruncate(p->fd, 0) < 0)
			put_error(&s->put, errno, "truncate");
		else
			p->have_cur = true;
	}
	if (pfd >= 0)
		close(pfd);
}

/* PUT_DELTA: the file the delta is applied to, the one at the name now
 * (sino: the inode expected, or 0), read only; the patch goes into the
 * temporary file, so a reader sees the old file or the new one, whole --
 * but for PUT_INPLACE, where the patched file, once checked, is copied
 * into the inode all the names share (put_copy_in): the inode is not
 * touched before, and then written as a whole PUT in place writes it. */
static void
put_open_basis(struct secondary *s, uint64_t sino)
{
	struct put *p = &s->put;
	struct stat st;

	p->basis_fd = open_regular(s, p->dirfd, p->name, sino, "patch", NULL,
	    &st);
	if (p->basis_fd < 0)
		put_error(&s->put, errno, "open the old copy of");
	else
		p->dec = delta_dec_new(p->basis_fd, p->fd, p->size);
}

/* ---- partial files (proto.h) ---- */

static void
put_partial_name(const struct put *p, char out[PARTIAL_NAME_LEN + 1])
{
	partial_name(p->base, p->parent, p->parent_len, p->name,
	    strlen(p->name), out);
}

/* The partial kept for an oref, open to be read, or -1 (errno). */
static int
open_partial(struct secondary *s, const char *pname, struct stat *st)
{
	int fd = openat(s->stagefd, pname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 && (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* PUT_PARTIAL: the basis of the delta is this name's partial file. */
static void
put_open_partial(struct secondary *s)
{
	struct put *p = &s->put;
	char pname[PARTIAL_NAME_LEN + 1];
	struct stat st;

	put_partial_name(p, pname);
	p->basis_fd = s->stagefd < 0 ? -1 : open_partial(s, pname, &st);
	if (p->basis_fd < 0)
		put_error(&s->put, errno, "open the partial copy of");
	else
		p->dec = delta_dec_new(p->basis_fd, p->fd, p->size);
}

/*
 * The input ended inside a PUT (the primary killed, the link lost): what
 * it wrote of a large new copy is kept in the staging area for the next
 * run to continue from (proto.h, partial files).  Best effort: a partial
 * that cannot be kept is only a resend.
 */
static void
put_keep_partial(struct secondary *s)
{
	struct put *p = &s->put;
	char pname[PARTIAL_NAME_LEN + 1], tmp[64], proc[64];

	if (!p->active || p->err || p->fd < 0 || s->stagefd < 0 ||
	    (p->flags & (PUT_INPLACE | PUT_DELTA | PUT_COPY)) ||
	    p->written_end < PARTIAL_MIN)
		return;
	put_partial_name(p, pname);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p->fd);
	snprintf(tmp, sizeof(tmp), ".georep-tmp.%d.partial", (int)getpid());
	unlinkat(s->stagefd, tmp, 0);
	if (linkat(AT_FDCWD, proc, s->stagefd, tmp, AT_SYMLINK_FOLLOW) < 0 ||
	    renameat(s->stagefd, tmp, s->stagefd, pname) < 0) {
		log_sys(LOG_LVL_WARN, "keeping the partial copy of %s",
		    p->name);
		unlinkat(s->stagefd, tmp, 0);
		return;
	}
	log_info("the input ended in the middle of %s%s%s: its first %llu "
	    "bytes are kept for the next run", p->parent, p->parent_len ?
	    "/" : "", p->name, (unsigned long long)p->written_end);
}

/* How many partial files the staging area holds. */
static size_t
count_partials(const struct secondary *s)
{
	size_t n = 0;
	int fd = s->stagefd < 0 ? -1 : openat(s->stagefd, ".", O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, PARTIAL_PREFIX,
		    sizeof(PARTIAL_PREFIX) - 1) == 0;
	closedir(d);
	return n;
}

/* A turn completed: what is left of partial files is stale. */
static void
remove_partials(struct secondary *s)
{
	int fd = openat(s->stagefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, PARTIAL_PREFIX,
		    sizeof(PARTIAL_PREFIX) - 1) == 0 &&
		    unlinkat(s->stagefd, de->d_name, 0) < 0 && errno != ENOENT)
			log_sys(LOG_LVL_WARN, "remove the partial file %s",
			    de->d_name);
	closedir(d);
	s->partials = 0;
}

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->p.dirfd >= 0)
		close(j->p.dirfd);
	put_reset(&j->p);
	buf_release(&j->data);
	buf_release(&j->end);
	free(j);
}

/* The PUT open in s->put (its parent resolved) becomes a job, if it may:
 * then s->put is reset and s->job_open gathers its frames. */
static bool
job_begin(struct secondary *s, uint32_t mode)
{
	struct put *p = &s->put;

	if (s->pool == NULL || (p->flags & (PUT_INPLACE | PUT_DELTA |
	    PUT_COPY)) ||
	    p->size > JOB_MAX_BYTES || s->nunlocked > 0)
		return false;
	int dirfd = fcntl(p->dirfd, F_DUPFD_CLOEXEC, 0);
	if (dirfd < 0)
		return false;	/* the main thread does it, then */
	struct job *j = xcalloc(1, sizeof(*j));
	j->p = *p;
	j->p.dirfd = dirfd;
	j->mode = mode;
	/* Its strings are the job's now. */
	memset(p, 0, sizeof(*p));
	p->fd = p->dirfd = p->basis_fd = p->src_fd = -1;
	s->job_open = j;
	return true;
}

/* PUT_COPY: the primary's file, from the descriptor channel.  A channel
 * that fails or brings no descriptor is a protocol error; a descriptor
 * that is not a regular file open for reading fails the PUT. */
static int
put_take_source(struct secondary *s)
{
	struct put *p = &s->put;

	p->src_fd = fd_recv(s->fdchan);
	if (p->src_fd < 0) {
		log_err("protocol error: no descriptor for a PUT_COPY on the "
		    "descriptor channel: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Once the PUT has its names (for the message). */
static void
put_check_source(struct put *p)
{
	struct stat st;
	int fl = fcntl(p->src_fd, F_GETFL);
	if (fstat(p->src_fd, &st) < 0 || fl < 0)
		put_error(p, errno, "read the primary's file for");
	else if (!S_ISREG(st.st_mode) || (fl & O_ACCMODE) == O_WRONLY)
		put_error(p, EBADF, "read the primary's file for");
}

/*
 * Whether files here can share extents (a reflink: btrfs, XFS with
 * reflink, bcachefs): two nameless files in the staging area, one cloned
 * from the other.  Only then is a descriptor channel worth offering
 * (HELLO_FDS): where the kernel would copy the bytes (ext4: a splice
 * through two page copies), measured slower than the pipe, whose writes
 * the secondary's workers and the primary's reads overlap.
 * GEOREP_TEST_FDS=1 offers it anyway (tests: the copy path on any
 * filesystem).
 */
static bool
clone_works(const struct secondary *s)
{
	static const char block[4096];
	const char *test = getenv("GEOREP_TEST_FDS");
	bool ok = false;

	if (test && strcmp(test, "1") == 0)
		return true;
	int a = openat(s->stagefd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int b = openat(s->stagefd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (a >= 0 && b >= 0 && write_full(a, block, sizeof(block)) == 0)
		ok = ioctl(b, FICLONE, a) == 0;
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return ok;
}

/* PUT_COPY at its end: the content cloned (FICLONE: the extents shared,
 * the source as it was at one instant) or else copied by the kernel, then
 * read back and hashed as the primary hashed its file.  A file changed between the
 * primary's read and this copy has another hash, and is refused (the
 * primary sends it again, in DATA frames). */
static void
put_copy_finish(struct secondary *s, const uint8_t *hash)
{
	struct put *p = &s->put;
	uint8_t got[CHASH_LEN];

	int rc = 0;
	struct stat st;
	if (ioctl(p->fd, FICLONE, p->src_fd) < 0)
		rc = copy_range(p->src_fd, p->fd, p->size);
	else if (fstat(p->fd, &st) < 0)
		rc = -1;
	else if ((uint64_t)st.st_size != p->size)
		rc = -3;	/* another size than the primary read */
	if (rc == -2 || rc == -3) {
		put_error_why(p, ESTALE, "copy", rc == -2 ? "the file shrank on "
		    "the primary while it was copied" : "the file changed on "
		    "the primary while it was copied");
	} else if (rc == -1) {
		put_error(p, errno, "copy");
	} else if (chash_file(p->fd, p->size, got) < 0) {
		put_error(p, errno, "read back");
	} else if (memcmp(got, hash, CHASH_LEN) != 0) {
		put_error_why(p, ESTALE, "copy", "the file changed on the "
		    "primary while it was copied");
	} else {
		p->written_end = p->size;
	}
}

static int
op_put(struct secondary *s, struct rd *r)
{
	struct oref o;
	struct put *p = &s->put;

	if (!get_oref(r, &o))
		return -2;
	uint64_t sino = get_u64(r);
	uint32_t flags = get_u32(r);
	uint64_t size = get_u64(r);
	uint32_t mode = get_u32(r);
	if (!rd_end(r) || (flags & ~(PUT_INPLACE | PUT_DELTA | PUT_COPY |
	    PUT_PARTIAL)) || size > (uint64_t)INT64_MAX || (mode & ~07777u))
		return -2;
	if ((flags & PUT_PARTIAL) && (!(flags & PUT_DELTA) ||
	    (flags & PUT_INPLACE)))
		return -2;
	if ((flags & PUT_COPY) && (!s->fds || (flags & (PUT_INPLACE |
	    PUT_DELTA))))
		return -2;
	put_reset(p);
	p->active = true;
	/* First, whatever becomes of the PUT: the descriptors come in the
	 * order of their PUTs. */
	if ((flags & PUT_COPY) && put_take_source(s) < 0)
		return -2;
	p->flags = flags;
	p->base = o.base;
	p->sino = sino;
	p->size = size;
	p->name = cstr(o.name, o.name_len);
	p->parent = o.parent_len ? cstr(o.parent, o.parent_len) : xstrdup("");
	p->parent_len = strlen(p->parent);
	if (flags & PUT_COPY)
		put_check_source(p);

	/* Borrowed from the resolver: nothing else runs inside a PUT, so the
	 * cached directory cannot change under it. */
	p->dirfd = parent_fd(s, &o);
	if (p->dirfd < 0 && !p->err) {
		p->err = errno;
		p->errmsg = xstrdup(s->msg);
	}
	if (p->err)
		return 0;	/* the rest of the PUT is drained */
	if (job_begin(s, mode))
		return 0;
	if ((flags & PUT_INPLACE) && !(flags & PUT_DELTA)) {
		put_open_inplace(s, sino);
		return 0;
	}
	/* A nameless file, linked in only once complete: a crash or a full
	 * disk never leaves a half-written file under a real name.  Made
	 * with its final permission bits (the umask allowing), so that
	 * most files need no chmod at the end. */
	/* Read back too when it is copied into the inode (put_copy_in). */
	int rw = (flags & (PUT_INPLACE | PUT_COPY)) ? O_RDWR : O_WRONLY;
	p->fd = openat(p->dirfd, ".", O_TMPFILE | rw | O_CLOEXEC,
	    (mode_t)(mode & 0777));
	if (p->fd < 0)
		put_error(&s->put, errno, "create a temporary file for");
	else if (fstat(p->fd, &p->cur) < 0)
		put_error(&s->put, errno, "stat the temporary file for");
	else
		p->have_cur = true;
	if (!p->err && (flags & PUT_PARTIAL))
		put_open_partial(s);
	else if (!p->err && (flags & PUT_DELTA))
		put_open_basis(s, sino);
	return 0;
}

/* The next bytes of a delta: in order, and no more than a delta of that
 * size can take (else a protocol error: the primary never sends that). */
static int
put_delta_data(struct secondary *s, uint64_t off, const uint8_t *data,
    uint32_t len)
{
	struct put *p = &s->put;
	char why[256];

	if (off != p->delta_in || len > delta_stream_max(p->size) - off)
		return -2;
	p->delta_in += len;
	if (p->err)
		return 0;
	if (delta_dec_feed(p->dec, data, len, why, sizeof(why)) < 0)
		put_error_why(&s->put, errno, "apply the delta to", why);
	return 0;
}

static int
op_data(struct secondary *s, struct rd *r)
{
	struct put *p = &s->put;
	uint32_t len;

	uint64_t off = get_u64(r);
	const uint8_t *data = get_bytes(r, &len, PROTO_DATA_CHUNK);
	if (!rd_end(r) || !p->active || (p->flags & PUT_COPY))
		return -2;
	if (p->flags & PUT_DELTA)
		return put_delta_data(s, off, data, len);
	if (off > p->size || len > p->size - off)
		return -2;
	if (p->err)
		return 0;
	if (pwrite_full(p->fd, data, len, (off_t)off) < 0)
		put_error(&s->put, errno, "write");
	else if (off + len > p->written_end)
		p->written_end = off + len;
	return 0;
}

static int
put_link_into_place(const struct secondary *s, struct put *p)
{
	char proc[64], tmp[64];
	static unsigned seq;	/* the workers' too (atomic) */

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p->fd);
	/* With privilege the descriptor itself is linked (AT_EMPTY_PATH);
	 * without, through its /proc link. */
	if (s->is_root && linkat(p->fd, "", p->dirfd, p->name, AT_EMPTY_PATH) == 0)
		return 0;
	if ((!s->is_root || errno != EEXIST) && linkat(AT_FDCWD, proc, p->dirfd,
	    p->name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST) {
		put_error(p, errno, "link");
		return -1;
	}
	snprintf(tmp, sizeof(tmp), ".georep-tmp.%d.%u", (int)getpid(),
	    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	if (linkat(AT_FDCWD, proc, p->dirfd, tmp, AT_SYMLINK_FOLLOW) < 0) {
		put_error(p, errno, "link");
		return -1;
	}
	if (renameat(p->dirfd, tmp, p->dirfd, p->name) < 0) {
		int err = errno;
		if ((err == EISDIR || err == ENOTEMPTY) &&
		    clear_name(p->dirfd, p->name) == 0 &&
		    renameat(p->dirfd, tmp, p->dirfd, p->name) == 0)
			return 0;
		unlinkat(p->dirfd, tmp, 0);
		put_error(p, err, "rename into place");
		return -1;
	}
	return 0;
}

/* n bytes of in, from its start, over out's. */
static int
copy_content(int in, int out, uint64_t n)
{
	int rc = copy_by_reads(in, out, 0, n);

	if (rc == -2)
		errno = EIO;	/* our own file shrank */
	return rc < 0 ? -1 : 0;
}

/* PUT_INPLACE with PUT_DELTA: the patched file, checked, copied into the
 * inode (the basis, read all it was needed for), which the rest of the
 * PUT then works on as a PUT in place does. */
static void
put_copy_in(struct secondary *s)
{
	struct put *p = &s->put;
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p->basis_fd);
	int out = open(proc, O_WRONLY | O_CLOEXEC);
	if (out < 0) {
		put_error(&s->put, errno, "open");
		return;
	}
	if (copy_content(p->fd, out, p->size) < 0 ||
	    ftruncate(out, (off_t)p->size) < 0 || fstat(out, &p->cur) < 0) {
		put_error(&s->put, errno, "write in place");
		close(out);
		return;
	}
	close(p->fd);
	p->fd = out;
}

/* The end of a delta: the patch finished and checked against the content
 * hash the primary read (delta.h); the result is then the file's whole
 * size. */
static void
put_delta_finish(struct secondary *s, const uint8_t *hash)
{
	struct put *p = &s->put;
	char why[256];

	if (delta_dec_finish(p->dec, hash, why, sizeof(why)) < 0) {
		put_error_why(&s->put, errno, "apply the delta to", why);
		return;
	}
	p->written_end = p->size;
	if (p->flags & PUT_INPLACE)
		put_copy_in(s);
}

static int
op_put_end(struct secondary *s, struct rd *r, bool abort_put, uint64_t *val)
{
	struct put *p = &s->put;
	struct attrs a;
	const char *step = "";
	struct stat st;

	memset(&a, 0, sizeof(a));
	if (!abort_put && !get_attrs(r, &a))
		return -2;
	const uint8_t *hash = NULL;
	if (!abort_put && p->active && (p->flags & (PUT_DELTA | PUT_COPY)))
		hash = get_raw(r, CHASH_LEN);
	if (!rd_end(r) || !p->active) {
		attrs_release(&a);
		return -2;
	}
	if (abort_put || p->err)
		goto done;
	if (hash && (p->flags & PUT_COPY))
		put_copy_finish(s, hash);
	else if (hash)
		put_delta_finish(s, hash);
	if (p->err)
		goto done;
	/* The size, and a hole at the end of a sparse file. */
	if (p->written_end != p->size && ftruncate(p->fd, (off_t)p->size) < 0)
		put_error(&s->put, errno, "truncate");
	else if (apply_attrs(s, p->fd, true, p->dirfd, p->name, S_IFREG, &a,
	    p->have_cur ? &p->cur : NULL, &step) < 0)
		put_error(&s->put, errno, step);
	else if (!(p->flags & PUT_INPLACE))
		put_link_into_place(s, &s->put);
	if (!p->err && s->partials > 0) {
		char pname[PARTIAL_NAME_LEN + 1];
		put_partial_name(p, pname);
		if (unlinkat(s->stagefd, pname, 0) == 0)
			s->partials--;
	}
	/* The inode number: a temporary file keeps its own when linked. */
	if (!p->err && p->have_cur)
		*val = p->cur.st_ino;
	else if (!p->err && fstat(p->fd, &st) == 0)
		*val = st.st_ino;
done:
	attrs_release(&a);
	if (p->err)
		snprintf(s->msg, sizeof(s->msg), "%s", p->errmsg);
	int err = p->err;
	put_reset(p);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* ---- jobs: whole small PUTs done by workers ---- */

/* A worker's part: what op_put, op_data and op_put_end do for a PUT of a
 * new copy, on the job's own put.  Only s's constants are read. */
static void
job_run(void *arg, struct pool_job *pj)
{
	const struct secondary *s = arg;
	struct job *j = (struct job *)pj;
	struct put *p = &j->p;
	struct attrs a;
	struct rd r;
	const char *step = "";

	p->fd = openat(p->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
	    (mode_t)(j->mode & 0777));
	if (p->fd < 0) {
		put_error(p, errno, "create a temporary file for");
		return;
	}
	if (fstat(p->fd, &p->cur) < 0) {
		put_error(p, errno, "stat the temporary file for");
		return;
	}
	p->have_cur = true;
	rd_init(&r, j->data.data, j->data.len);
	while (r.off < r.len) {
		uint64_t off = get_u64(&r);
		uint32_t len;
		const uint8_t *data = get_bytes(&r, &len, PROTO_DATA_CHUNK);
		if (pwrite_full(p->fd, data, len, (off_t)off) < 0) {
			put_error(p, errno, "write");
			return;
		}
		if (off + len > p->written_end)
			p->written_end = off + len;
	}
	memset(&a, 0, sizeof(a));
	rd_init(&r, j->end.data, j->end.len);
	(void)get_attrs(&r, &a);	/* checked by job_end */
	if (p->written_end != p->size && ftruncate(p->fd, (off_t)p->size) < 0)
		put_error(p, errno, "truncate");
	else if (apply_attrs(s, p->fd, true, p->dirfd, p->name, S_IFREG, &a,
	    &p->cur, &step) < 0)
		put_error(p, errno, step);
	else if (put_link_into_place(s, p) == 0)
		j->val = p->cur.st_ino;
	attrs_release(&a);
}

/* The reply of a job done, in its turn; the job freed. */
static void
job_reply(struct secondary *s, struct buf *out, struct job *j)
{
	s->jobs_bytes -= j->data.len;
	if (j->p.err)
		snprintf(s->msg, sizeof(s->msg), "%s", j->p.errmsg);
	reply(s, out, j->id, j->p.err, j->p.err ? 0 : j->val);
	job_free(j);
}

/* The replies of the jobs done, in order, up to the first one not done
 * (wait: of every job out). */
static void
jobs_collect(struct secondary *s, struct buf *out, bool wait)
{
	struct pool_job *pj;

	while (s->pool && pool_out(s->pool) > 0 &&
	    (pj = pool_take(s->pool, wait)) != NULL)
		job_reply(s, out, (struct job *)pj);
}

static int
job_data(struct secondary *s, struct rd *r)
{
	struct job *j = s->job_open;
	uint32_t len;

	uint64_t off = get_u64(r);
	const uint8_t *data = get_bytes(r, &len, PROTO_DATA_CHUNK);
	if (!rd_end(r) || off > j->p.size || len > j->p.size - off)
		return -2;
	put_u64(&j->data, off);
	put_bytes(&j->data, data, len);
	return 0;
}

/* PUT_END of a job: its attributes checked here (a malformed frame is the
 * main thread's to refuse), then the job handed to a worker; its reply
 * comes when it is done. */
static int
job_end(struct secondary *s, struct rd *r, struct buf *out)
{
	struct job *j = s->job_open;
	struct attrs a;

	memset(&a, 0, sizeof(a));
	bool ok = get_attrs(r, &a) && rd_end(r);
	attrs_release(&a);
	if (!ok)
		return -2;
	buf_add(&j->end, r->p, r->len);
	/* Bounded: past it, the oldest job is waited for. */
	while (pool_out(s->pool) >= JOBS_OUT_MAX ||
	    s->jobs_bytes + j->data.len > JOBS_BYTES_MAX) {
		struct pool_job *pj = pool_take(s->pool, true);
		if (pj == NULL)
			break;
		job_reply(s, out, (struct job *)pj);
	}
	s->jobs_bytes += j->data.len;
	s->job_open = NULL;
	pool_submit(s->pool, &j->pj);
	return 0;
}

/* A frame of the PUT being gathered for a job: 0 (nothing to answer yet,
 * or answered), -2 malformed, 1 for any other frame (a protocol error:
 * only DATA, PUT_END and PUT_ABORT may come inside a PUT). */
static int
job_frame(struct secondary *s, const struct frame *f, struct rd *r,
    struct buf *out)
{
	switch (f->type) {
	case MSG_DATA:
		return job_data(s, r);
	case MSG_PUT_END:
		s->job_open->id = f->id;
		return job_end(s, r, out);
	case MSG_PUT_ABORT:
		if (!rd_end(r))
			return -2;
		job_free(s->job_open);
		s->job_open = NULL;
		jobs_collect(s, out, true);
		reply(s, out, f->id, 0, 0);
		return 0;
	default:
		return 1;
	}
}

/* ---- state: HELLO and COMMIT ---- */

static int
root_is_empty(struct secondary *s, bool *empty)
{
	int fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*empty = true;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, GEOREP_STATE_DIR)) {
			*empty = false;
			break;
		}
	}
	closedir(d);
	return 0;
}

/* Close what open_state opened (a failed HELLO may be followed by
 * another). */
static void
close_state(struct secondary *s)
{
	if (s->res_ready)
		resolve_release(&s->res);
	s->res_ready = false;
	if (s->stagefd >= 0)
		close(s->stagefd);
	if (s->statefd >= 0)
		close(s->statefd);
	s->statefd = s->stagefd = -1;
}

/* Only one secondary writes into a directory at a time.  A second one
 * (a sync started while a session runs there, or a primary restarted after
 * a kill while its old secondary still drains the pipe) would race the
 * first: a walk removing a directory the other is filling.  The lock is
 * held until the process ends; a wait gives an orphan time to finish. */
static int
lock_secondary(struct secondary *s)
{
	if (s->lockfd >= 0)
		return 0;
	s->lockfd = openat(s->statefd, LOCK_FILE, O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		snprintf(s->msg, sizeof(s->msg), "open %s/%s/%s: %s", s->dir,
		    GEOREP_STATE_DIR, LOCK_FILE, strerror(errno));
		return -1;
	}
	int64_t start = mono_ns() / 1000000, waited = 0, limit = LOCK_WAIT_MS;
	const char *test = getenv("GEOREP_TEST_LOCK_WAIT_MS");
	bool said = false;

	if (test != NULL)
		limit = atoi(test);
	while (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		waited = mono_ns() / 1000000 - start;
		if (errno != EWOULDBLOCK || waited >= limit) {
			int err = errno == EWOULDBLOCK ? EBUSY : errno;
			snprintf(s->msg, sizeof(s->msg), err == EBUSY ?
			    "another georep is writing into %s (a sync or a "
			    "session there is still running): wait for it to "
			    "end, or stop it" : "lock %s: %s", s->dir,
			    strerror(err));
			close(s->lockfd);
			s->lockfd = -1;
			errno = err;
			return -1;
		}
		if (!said && waited > 1000) {
			log_info("waiting for another georep writing into %s "
			    "to end", s->dir);
			said = true;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int
open_state(struct secondary *s)
{
	close_state(s);
	if (mkdirat(s->rootfd, GEOREP_STATE_DIR, 0700) < 0 && errno != EEXIST) {
		snprintf(s->msg, sizeof(s->msg), "mkdir %s/%s: %s", s->dir,
		    GEOREP_STATE_DIR, strerror(errno));
		return -1;
	}
	s->statefd = openat(s->rootfd, GEOREP_STATE_DIR,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->statefd < 0 || (mkdirat(s->statefd, STAGE_DIR, 0700) < 0 &&
	    errno != EEXIST) || (s->stagefd = openat(s->statefd, STAGE_DIR,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(s->msg, sizeof(s->msg), "open %s/%s: %s", s->dir,
		    GEOREP_STATE_DIR, strerror(errno));
		return -1;
	}
	if (lock_secondary(s) < 0)
		return -1;
	resolve_init(&s->res, s->rootfd, s->stagefd);
	s->res_ready = true;
	return 0;
}

static int
op_hello(struct secondary *s, struct rd *r, uint64_t *val)
{
	uint32_t vlen;
	struct buf bound = BUF_INIT;
	bool empty;
	int state;

	uint32_t version = get_u32(r);
	const char *vol = get_str(r, &vlen, 1024);
	uint32_t flags = get_u32(r);
	if (!rd_end(r) || vlen == 0 || (flags & ~(uint32_t)(HELLO_FORCE |
	    HELLO_READONLY | HELLO_COMPRESS | HELLO_ADOPT |
	    HELLO_JOBS_MASK)) != 0)
		return -2;
	if (s->refusal) {
		snprintf(s->msg, sizeof(s->msg), "%s", s->refusal);
		errno = EPERM;
		return -1;
	}
	if (version != PROTO_VERSION) {
		snprintf(s->msg, sizeof(s->msg), "protocol version %u is not "
		    "supported by this secondary (it speaks %u)", version,
		    PROTO_VERSION);
		errno = EPROTO;
		return -1;
	}
	if ((flags & HELLO_READONLY) && s->made_root) {
		/* Made at start, for a sync; a read-only connection makes
		 * nothing, and there is nothing to read. */
		if (rmdir(s->dir) < 0)
			log_sys(LOG_LVL_WARN, "rmdir %s", s->dir);
		snprintf(s->msg, sizeof(s->msg), "%s: %s", s->dir,
		    strerror(ENOENT));
		errno = ENOENT;
		return -1;
	}
	int have = read_small_file_at(s->rootfd, GEOREP_STATE_DIR "/" VOLUME_FILE,
	    &bound, 1024);
	if (have < 0 && errno != ENOENT) {
		snprintf(s->msg, sizeof(s->msg), "read %s/%s/%s: %s", s->dir,
		    GEOREP_STATE_DIR, VOLUME_FILE, strerror(errno));
		buf_release(&bound);
		return -1;
	}
	if (have == 0 && bound.len == vlen && memcmp(bound.data, vol, vlen) == 0) {
		state = HELLO_BOUND;
	} else if (flags & HELLO_READONLY) {
		state = HELLO_NEW;	/* any tree can be compared */
	} else if (have == 0 && !(flags & HELLO_FORCE)) {
		snprintf(s->msg, sizeof(s->msg), "%s belongs to another primary "
		    "(volume %.*s); use --force to take it over", s->dir,
		    (int)(bound.len > 200 ? 200 : bound.len), (char *)bound.data);
		buf_release(&bound);
		errno = EEXIST;
		return -1;
	} else if (have == 0) {
		state = HELLO_TAKEN;
	} else {
		if (root_is_empty(s, &empty) < 0) {
			snprintf(s->msg, sizeof(s->msg), "read %s: %s", s->dir,
			    strerror(errno));
			buf_release(&bound);
			return -1;
		}
		if (!empty && !(flags & HELLO_ADOPT)) {
			snprintf(s->msg, sizeof(s->msg), "%s is not empty and was "
			    "never synced by georep; nothing was changed in it. "
			    "If it holds a copy of the primary (made by rsync, "
			    "tar, cp or a backup), --adopt takes it over and "
			    "sends only what differs (and removes what the "
			    "primary does not have); else choose another "
			    "directory", s->dir);
			buf_release(&bound);
			errno = ENOTEMPTY;
			return -1;
		}
		state = empty ? HELLO_NEW : HELLO_ADOPTED;
	}
	buf_release(&bound);
	if (flags & HELLO_READONLY) {
		/* Nothing is made, not even the state directory: the
		 * resolver has no staging area, which no read asks for. */
		s->readonly = true;
		resolve_init(&s->res, s->rootfd, -1);
		s->res_ready = true;
	} else if (open_state(s) < 0) {
		return -1;
	}
	if (!s->readonly && state != HELLO_BOUND && durable_write_at(s->statefd, VOLUME_FILE,
	    vol, vlen, 0600) < 0) {
		snprintf(s->msg, sizeof(s->msg), "write %s/%s/%s: %s", s->dir,
		    GEOREP_STATE_DIR, VOLUME_FILE, strerror(errno));
		return -1;
	}
	if (flags & HELLO_COMPRESS) {
		s->dctx = ZSTD_createDCtx();
		if (s->dctx == NULL) {
			snprintf(s->msg, sizeof(s->msg), "cannot set up zstd "
			    "decompression: out of memory");
			errno = ENOMEM;
			return -1;
		}
	}
	int jobs = (int)((flags & HELLO_JOBS_MASK) >> HELLO_JOBS_SHIFT) + 1;
	if (jobs > 1 && !s->readonly) {
		s->pool = pool_new(jobs, job_run, s);
		if (s->pool == NULL)
			log_sys(LOG_LVL_WARN, "cannot start %d workers: writing "
			    "every file in one thread", jobs);
	}
	s->hello_done = true;
	s->fds = s->fdchan >= 0 && !s->readonly && clone_works(s);
	s->partials = s->readonly ? 0 : count_partials(s);
	*val = (uint64_t)state | (s->is_root ? HELLO_IS_ROOT : 0) |
	    (s->res.use_openat2 ? 0 : HELLO_NO_OPENAT2) |
	    (s->fds ? HELLO_FDS : 0) | (s->partials ? HELLO_PARTIALS : 0);
	put_u32(&s->data, (uint32_t)s->uid);
	put_u32(&s->data, (uint32_t)s->gid);
	return 0;
}

static int
op_commit(struct secondary *s, struct rd *r)
{
	char state[64];

	int64_t sync_point = (int64_t)get_u64(r);
	uint32_t flags = get_u32(r);
	if (!rd_end(r))
		return -2;
	s->poisoned = false;
	/* One syncfs makes the whole batch durable before the sync point
	 * moves: far cheaper than an fsync per file. */
	if (!(flags & COMMIT_NOSYNC) && syncfs(s->rootfd) < 0) {
		snprintf(s->msg, sizeof(s->msg), "syncfs %s: %s", s->dir,
		    strerror(errno));
		return -1;
	}
	if (sync_point != 0 && s->partials > 0)
		remove_partials(s);
	if (sync_point != 0) {
		int n = snprintf(state, sizeof(state), "sync_point %lld\n",
		    (long long)sync_point);
		if (durable_write_at(s->statefd, STATE_FILE, state, (size_t)n,
		    0600) < 0) {
			snprintf(s->msg, sizeof(s->msg), "write %s/%s/%s: %s",
			    s->dir, GEOREP_STATE_DIR, STATE_FILE, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
op_reset(struct secondary *s, struct rd *r)
{
	int fd;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (!rd_end(r))
		return -2;
	resolve_forget(&s->res);
	fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		snprintf(s->msg, sizeof(s->msg), "read %s: %s", s->dir,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, GEOREP_STATE_DIR))
			continue;
		if (rmtree_at(s->rootfd, de->d_name) < 0) {
			snprintf(s->msg, sizeof(s->msg), "remove %s/%s: %s",
			    s->dir, de->d_name, strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	if (rc == 0 && rmtree_at(s->statefd, STAGE_DIR) == 0 &&
	    mkdirat(s->statefd, STAGE_DIR, 0700) < 0) {
		snprintf(s->msg, sizeof(s->msg), "mkdir the staging area: %s",
		    strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Whether a path beneath the root is the state directory or in it. */
static bool
is_state_path(const char *path, size_t plen)
{
	size_t sl = strlen(GEOREP_STATE_DIR);

	return plen >= sl && memcmp(path, GEOREP_STATE_DIR, sl) == 0 &&
	    (plen == sl || path[sl] == '/');
}

struct dent {
	char *name;
	size_t len;
	uint64_t ino;
	uint32_t mode;
	uint64_t size;
	struct timespec mtime;
};

static int
cmp_dent(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The entries of one directory after a name, in byte order, up to about
 * PROTO_LIST_BYTES; *more says whether the listing goes on. */
static int
op_listdir(struct secondary *s, struct rd *r, uint64_t *more)
{
	uint32_t plen, alen;
	struct dent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	uint8_t base = get_u8(r);
	const char *path = get_str(r, &plen, PROTO_FRAME_MAX);
	uint64_t sino = get_u64(r);
	const char *after = get_str(r, &alen, NAME_MAX);
	if (!rd_end(r) || base > BASE_STAGE || !relpath_valid(path, plen))
		return -2;
	if (base == BASE_ROOT && is_state_path(path, plen))
		return -2;
	int dfd = resolve_dir(&s->res, base, path, plen);
	int fd = dfd < 0 ? -1 : openat(dfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	/* The primary lists a directory by the path its index holds; after
	 * an unfinished turn another directory can sit there, and its
	 * entries must not be taken for this one's. */
	if (fd >= 0 && sino != 0 && !fd_is_inode(fd, sino)) {
		int err = errno;
		close(fd);
		fd = -1;
		errno = err;
	}
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		struct oref o = { .base = base, .parent = "", .name = path,
		    .name_len = plen };
		if (fd >= 0)
			close(fd);
		return fail(s, errno, "list", &o);
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (base == BASE_ROOT && plen == 0 &&
		    !strcmp(de->d_name, GEOREP_STATE_DIR)) ||
		    (base == BASE_STAGE && plen == 0 && !strncmp(de->d_name,
		    PARTIAL_PREFIX, sizeof(PARTIAL_PREFIX) - 1)))
			continue;
		size_t len = strlen(de->d_name);
		struct dent e = { .name = de->d_name, .len = len };
		if (alen && cmp_dent(&e, &(struct dent){ .name = (char *)after,
		    .len = alen }) <= 0)
			continue;
		struct stat st;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* gone meanwhile */
		XGROW(v, cap, n + 1);
		v[n].name = xstrndup(de->d_name, len);
		v[n].len = len;
		v[n].ino = st.st_ino;
		v[n].size = (uint64_t)st.st_size;
		v[n].mtime = st.st_mtim;
		v[n++].mode = st.st_mode;
	}
	if (errno) {
		struct oref o = { .base = base, .parent = "", .name = path,
		    .name_len = plen };
		rc = fail(s, errno, "list", &o);
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_dent);
	*more = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && *more == 0) {
			if (s->data.len + v[i].len + 40 > PROTO_LIST_BYTES)
				*more = 1;
			else {
				put_u64(&s->data, v[i].ino);
				put_u32(&s->data, v[i].mode);
				put_u64(&s->data, v[i].size);
				put_u64(&s->data, (uint64_t)v[i].mtime.tv_sec);
				put_u32(&s->data, (uint32_t)v[i].mtime.tv_nsec);
				put_bytes(&s->data, v[i].name, (uint32_t)v[i].len);
			}
		}
		free(v[i].name);
	}
	free(v);
	if (rc < 0)
		buf_reset(&s->data);
	return rc;
}

/* ---- verify ---- */

/* A page of the directory path beneath the root, as verify compares it
 * (vlist.h). */
static int
op_vlist(struct secondary *s, struct rd *r, uint64_t *more)
{
	uint32_t plen, alen;
	bool m;

	const char *path = get_str(r, &plen, PROTO_FRAME_MAX);
	const char *after = get_str(r, &alen, NAME_MAX);
	if (!rd_end(r) || !relpath_valid(path, plen) ||
	    (alen && !name_valid(after, alen)) || is_state_path(path, plen))
		return -2;
	struct oref o = { .base = BASE_ROOT, .parent = "", .name = path,
	    .name_len = plen };
	int dfd = resolve_dir(&s->res, BASE_ROOT, path, plen);
	if (dfd < 0)
		return fail(s, errno, "list", &o);
	if (vlist_dir(dfd, plen == 0, after, alen, s->is_root, &s->data,
	    &m) < 0) {
		buf_reset(&s->data);
		return fail(s, errno, "list", &o);
	}
	*more = m;
	return 0;
}

/* The content digest of a regular file (digest.h); its size in *val. */
static int
op_digest(struct secondary *s, struct rd *r, uint64_t *val)
{
	struct oref o;
	struct stat st;
	uint8_t d[DIGEST_LEN];

	if (!get_oref(r, &o))
		return -2;
	uint64_t sino = get_u64(r);
	if (!rd_end(r) || o.base != BASE_ROOT)
		return -2;
	int pfd = parent_fd(s, &o);
	if (pfd < 0)
		return -1;
	char *name = xstrndup(o.name, o.name_len);
	int fd = open_regular(s, pfd, name, sino, "digest", &o, &st);
	free(name);
	if (fd < 0)
		return -1;
	int rc = content_digest(fd, (uint64_t)st.st_size, d);
	if (rc < 0)
		fail(s, errno, "read", &o);
	int err = errno;
	close(fd);
	errno = err;
	if (rc < 0)
		return -1;
	*val = (uint64_t)st.st_size;
	put_raw(&s->data, d, DIGEST_LEN);
	return 0;
}

/* A page of the librsync signature of a regular file (delta.h), the basis
 * of a PUT_DELTA to come; the file's size in *val. */
static int
op_signature(struct secondary *s, struct rd *r, uint64_t *val)
{
	struct oref o;
	struct stat st;

	if (!get_oref(r, &o))
		return -2;
	uint64_t sino = get_u64(r);
	uint64_t first = get_u64(r);
	if (!rd_end(r))
		return -2;
	int fd;
	if (sino == SIG_PARTIAL) {
		char pname[PARTIAL_NAME_LEN + 1];
		partial_name(o.base, o.parent, o.parent_len, o.name,
		    o.name_len, pname);
		fd = s->stagefd < 0 ? (errno = ENOENT, -1) :
		    open_partial(s, pname, &st);
		if (fd < 0)
			return fail(s, errno, "open the partial copy of", &o);
	} else {
		int pfd = parent_fd(s, &o);
		if (pfd < 0)
			return -1;
		char *name = xstrndup(o.name, o.name_len);
		fd = open_regular(s, pfd, name, sino, "sign", &o, &st);
		free(name);
		if (fd < 0)
			return -1;
	}
	*val = (uint64_t)st.st_size;
	int rc = delta_signature(fd, (uint64_t)st.st_size, first, &s->data);
	if (rc < 0) {
		int err = errno;
		fail(s, err, err == EFBIG ? "sign (too large for a bounded "
		    "signature)" : err == EINVAL ? "sign (past the last block)" :
		    err == EAGAIN ? "sign (it shrank while read)" : "read", &o);
		buf_reset(&s->data);
		*val = 0;
	}
	int err = errno;
	close(fd);
	errno = err;
	return rc;
}

/* What a read-only connection (HELLO_READONLY) may ask. */
static bool
readonly_ok(uint8_t type)
{
	return type == MSG_LISTDIR || type == MSG_VLIST ||
	    type == MSG_DIGEST || type == MSG_PING || type == MSG_BYE;
}

/* ---- the loop ---- */

static bool
is_ordered(uint8_t type)
{
	return type >= MSG_MKDIR && type <= MSG_RMTREE;
}

/* Handle one frame, its reply (if it has one) appended to out.  Returns 0
 * to go on, 1 after BYE, -1 on a protocol violation (the connection is
 * then dropped). */
static int
handle(struct secondary *s, const struct frame *f, struct buf *out)
{
	struct rd r;
	uint64_t val = 0;
	int rc;

	rd_init(&r, f->payload, f->len);
	if (!s->hello_done && f->type != MSG_HELLO && f->type != MSG_BYE) {
		log_err("protocol error: %s before HELLO", msg_name(f->type));
		return -1;
	}
	if (s->readonly && !readonly_ok(f->type)) {
		log_err("protocol error: %s on a read-only connection (verify)",
		    msg_name(f->type));
		return -1;
	}
	if (s->put.active && f->type != MSG_DATA && f->type != MSG_PUT_END &&
	    f->type != MSG_PUT_ABORT) {
		log_err("protocol error: %s inside a PUT", msg_name(f->type));
		return -1;
	}
	if (s->job_open) {
		rc = job_frame(s, f, &r, out);
		if (rc == 1)
			log_err("protocol error: %s inside a PUT",
			    msg_name(f->type));
		else if (rc == -2)
			log_err("protocol error: malformed %s frame (id %u)",
			    msg_name(f->type), f->id);
		return rc == 0 ? 0 : -1;
	}
	/* Anything but the start and data of a PUT waits for the jobs out:
	 * it may depend on what they do (a directory's times, COMMIT's
	 * syncfs, a listing), and its reply follows theirs. */
	if (s->pool && f->type != MSG_PUT && f->type != MSG_DATA)
		jobs_collect(s, out, true);
	if (s->poisoned && is_ordered(f->type)) {
		snprintf(s->msg, sizeof(s->msg), "cancelled after an earlier "
		    "failure");
		reply(s, out, f->id, ECANCELED, 0);
		return 0;
	}
	switch (f->type) {
	case MSG_HELLO:
		if (s->hello_done) {
			log_err("protocol error: a second HELLO");
			return -1;
		}
		rc = op_hello(s, &r, &val);
		break;
	case MSG_MKDIR:		rc = op_mkdir(s, &r, &val); break;
	case MSG_SYMLINK:	rc = op_symlink(s, &r, &val); break;
	case MSG_MKNOD:		rc = op_mknod(s, &r, &val); break;
	case MSG_LINK:		rc = op_link_or_rename(s, &r, false); break;
	case MSG_RENAME:	rc = op_link_or_rename(s, &r, true); break;
	case MSG_UNLINK:	rc = op_remove(s, &r, false); break;
	case MSG_RMTREE:	rc = op_remove(s, &r, true); break;
	case MSG_SETATTR:	rc = op_setattr(s, &r); break;
	case MSG_PUT:		rc = op_put(s, &r); break;
	case MSG_DATA:		rc = op_data(s, &r); break;
	case MSG_PUT_END:	rc = op_put_end(s, &r, false, &val); break;
	case MSG_PUT_ABORT:	rc = op_put_end(s, &r, true, &val); break;
	case MSG_COMMIT:	rc = op_commit(s, &r); break;
	case MSG_RESET:		rc = op_reset(s, &r); break;
	case MSG_LISTDIR:	rc = op_listdir(s, &r, &val); break;
	case MSG_VLIST:		rc = op_vlist(s, &r, &val); break;
	case MSG_DIGEST:	rc = op_digest(s, &r, &val); break;
	case MSG_SIGNATURE:	rc = op_signature(s, &r, &val); break;
	case MSG_BYE:
	case MSG_PING:
		if (!rd_end(&r)) {
			rc = -2;	/* malformed: said below */
			break;
		}
		reply(s, out, f->id, 0, 0);
		return f->type == MSG_BYE;
	default:
		log_err("protocol error: unknown frame type %u", f->type);
		return -1;
	}
	if (rc == -2) {
		log_err("protocol error: malformed %s frame (id %u)",
		    msg_name(f->type), f->id);
		return -1;
	}
	if (f->type == MSG_PUT || f->type == MSG_DATA)
		return 0;	/* answered by PUT_END / PUT_ABORT */
	restore_unlocked(s);
	if (rc < 0 && is_ordered(f->type))
		s->poisoned = true;
	reply(s, out, f->id, rc < 0 ? errno : 0, val);
	return 0;
}

struct secondary *
secondary_open(const char *dir)
{
	struct secondary *s = xcalloc(1, sizeof(*s));

	s->dir = xstrdup(dir);
	s->rootfd = s->statefd = s->stagefd = s->lockfd = s->fdchan = -1;
	s->put.fd = s->put.dirfd = s->put.basis_fd = s->put.src_fd = -1;
	s->uid = geteuid();
	s->gid = getegid();
	s->is_root = s->uid == 0;
	if (mkdir(dir, 0755) == 0)
		s->made_root = true;
	else if (errno != EEXIST) {
		log_sys(LOG_LVL_ERR, "cannot create the secondary directory %s",
		    dir);
		secondary_close(s);
		return NULL;
	}
	s->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		log_sys(LOG_LVL_ERR, "cannot open the secondary directory %s", dir);
		secondary_close(s);
		return NULL;
	}
	return s;
}

/* A secondary that answers only a refusal: nothing on disk is touched. */
static struct secondary *
secondary_open_refusing(const char *dir, const char *refusal)
{
	struct secondary *s = xcalloc(1, sizeof(*s));

	s->dir = xstrdup(dir);
	s->rootfd = s->statefd = s->stagefd = s->lockfd = s->fdchan = -1;
	s->put.fd = s->put.dirfd = s->put.basis_fd = s->put.src_fd = -1;
	s->refusal = refusal;
	return s;
}

/* A compressed block (proto.h, MSG_ZBLOCK): unpacked, checked, and the
 * frames in it handled in order as if they had come one by one.  As
 * handle(). */
static int
handle_block(struct secondary *s, const struct frame *f, struct buf *out)
{
	char why[256];
	size_t off = 0;
	int rc = 0;

	if (s->dctx == NULL) {
		log_err("protocol error: a compressed block%s", s->hello_done ?
		    ", and HELLO did not ask for compression" : " before HELLO");
		return -1;
	}
	if (f->id != 0) {
		log_err("protocol error: a compressed block with id %u (0 "
		    "expected)", f->id);
		return -1;
	}
	if (!proto_unpack_block(s->dctx, f->payload, f->len, &s->block, why,
	    sizeof(why))) {
		log_err("protocol error: a compressed block of %u bytes %s",
		    f->len, why);
		return -1;
	}
	while (rc == 0 && off < s->block.len) {
		struct frame in;
		/* Whole and valid: proto_unpack_block checked them all. */
		ssize_t n = proto_parse_frame(s->block.data + off,
		    s->block.len - off, &in);
		rc = handle(s, &in, out);
		off += (size_t)n;
	}
	return rc;
}

int
secondary_handle(struct secondary *s, const uint8_t *in, size_t len,
    size_t *used, struct buf *out)
{
	size_t off = 0;

	*used = 0;
	while (s->ended == 0 && off < len) {
		struct frame f;
		ssize_t n = proto_parse_frame(in + off, len - off, &f);
		if (n == 0)
			break;		/* the rest of a frame is to come */
		if (n < 0) {
			log_err("protocol error: bad frame header (length out "
			    "of bounds)");
			s->ended = -1;
			break;
		}
		s->ended = f.type == MSG_ZBLOCK ? handle_block(s, &f, out) :
		    handle(s, &f, out);
		off += (size_t)n;
	}
	/* The replies of the jobs done so far go with this chunk's (once,
	 * not after every frame: each look reads the pool's eventfd);
	 * outside secondary_main every reply is out on return. */
	if (s->pool)
		jobs_collect(s, out, !s->stream);
	*used = off;
	return s->ended;
}

void
secondary_close(struct secondary *s)
{
	if (s == NULL)
		return;
	put_reset(&s->put);
	job_free(s->job_open);
	if (s->pool) {
		/* What was handed over is done before the end; nobody is
		 * left to read the replies. */
		struct buf unread = BUF_INIT;
		jobs_collect(s, &unread, true);
		buf_release(&unread);
		pool_free(s->pool);
	}
	restore_unlocked(s);
	free(s->unlocked);
	close_state(s);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	buf_release(&s->data);
	buf_release(&s->block);
	ZSTD_freeDCtx(s->dctx);
	free(s->dir);
	free(s);
}

int
secondary_main(const char *dir, int in_fd, int out_fd, int fdchan,
    const char *refusal)
{
	struct secondary *s = refusal ? secondary_open_refusing(dir, refusal) :
	    secondary_open(dir);
	struct buf in = BUF_INIT, out = BUF_INIT;
	uint8_t chunk[256 << 10];
	int status = EX_PROTOCOL;

	if (s == NULL)
		return EX_CANTCREAT;
	s->stream = true;
	s->fdchan = fdchan;
	for (;;) {
		size_t used;
		int rc = secondary_handle(s, in.data, in.len, &used, &out);
		buf_consume(&in, used);
		if (rc < 0)
			break;
		if (rc > 0) {
			status = flush_out(out_fd, &out) < 0 ? EX_IOERR : 0;
			break;
		}
		/* Need more input: answer what we have before blocking. */
		if (flush_out(out_fd, &out) < 0) {
			status = EX_IOERR;
			break;
		}
		/* Jobs out: their replies go as they are done, whether or
		 * not more requests come. */
		if (s->pool && pool_out(s->pool) > 0) {
			struct pollfd pf[2] = {
				{ .fd = in_fd, .events = POLLIN },
				{ .fd = pool_fd(s->pool), .events = POLLIN },
			};
			if (poll(pf, 2, -1) < 0 && errno != EINTR) {
				log_sys(LOG_LVL_ERR, "poll");
				status = EX_IOERR;
				break;
			}
			jobs_collect(s, &out, false);
			if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		ssize_t r = read(in_fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_sys(LOG_LVL_ERR, "reading requests");
			status = EX_IOERR;
			break;
		}
		if (r == 0) {
			if (in.len)
				log_err("protocol error: truncated frame at end "
				    "of input");
			else
				status = 0;	/* the primary went away */
			break;
		}
		buf_add(&in, chunk, (size_t)r);
	}
	/* The replies of the jobs out, and those before a violation. */
	jobs_collect(s, &out, true);
	put_keep_partial(s);
	flush_out(out_fd, &out);
	secondary_close(s);
	buf_release(&in);
	buf_release(&out);
	return status;
}
