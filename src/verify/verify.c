#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../common/digest.h"
#include "../common/log.h"
#include "../common/names.h"
#include "../common/resolve.h"
#include "../common/xattrs.h"
#include "../detection/crawl.h"
#include "../protocol/conn.h"
#include "../protocol/proto.h"
#include "verify.h"
#include "vlist.h"
#include "../common/banned.h"

/* DIGEST requests out at once, and the content they cover: enough to keep
 * the secondary busy while the primary digests its own copies. */
#define JOBS_MAX	256
#define JOBS_BYTES	(256ull << 20)
#define COOKIE_VLIST	0

/* One side's listing of the directory being compared. */
struct page {
	struct buf data;
	struct rd r;
	bool more;		/* pages follow this one */
	bool have;		/* cur is an entry */
	struct vlist_entry cur;
	struct list_pos pos;	/* the last name of the pages so far */
};

/* A regular file whose content is compared, once both digests are in. */
struct job {
	char *name;
	struct vlist_entry pe;	/* the primary's entry (for on_pair) */
	uint32_t snlink, smode;
	uint64_t pino, sino, size;
	int64_t ctime_ns;
	uint32_t what;		/* what else differs (the attributes) */
	char *detail;
	uint8_t pd[DIGEST_LEN], sd[DIGEST_LEN];
	bool s_done;		/* the secondary answered */
	int s_err;
	char *s_msg;
};

/* Inode numbers of files with several names: primary to secondary, and
 * back.  Open addressing; a key is stored plus one (0: empty). */
struct inomap {
	uint64_t *k, *v;
	size_t cap, n;
};

/* A level of the walk: a directory and the subdirectories it still has
 * to visit (u32 length and bytes each, in subdirs). */
struct level {
	char *path;
	size_t plen;
	bool listed;
	struct buf subdirs;
	size_t next;
};

struct walk {
	struct conn *c;
	const struct verify_opts *o;
	struct verify_stats *st;
	struct resolver res;
	int rootfd;
	dev_t root_dev;
	struct page p, s;
	bool s_pending;		/* a VLIST is out */
	int s_err;
	char s_msg[512];
	struct job *jobs;
	size_t njobs, capjobs;
	uint64_t job_bytes;
	struct inomap p2s, s2p;
	const char *dir;	/* the directory being compared */
	size_t dlen;
	int pfd;		/* its primary descriptor (the resolver's) */
	int64_t dir_ctime;
	uint64_t extra_sino;	/* of the VD_EXTRA being reported */
	struct buf detail;
	int64_t next_progress;
};

static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

static int64_t
ts_ns(int64_t sec, uint32_t nsec)
{
	return sec * 1000000000 + nsec;
}

/* ---- inode maps ---- */

static uint64_t *
inomap_slot(struct inomap *m, uint64_t key)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 7) & (m->cap - 1);

	while (m->k[i] != 0 && m->k[i] != key + 1)
		i = (i + 1) & (m->cap - 1);
	return &m->k[i];
}

/* The value of key, or put it there: true when it was there already. */
static bool
inomap_get_or_put(struct inomap *m, uint64_t key, uint64_t *val)
{
	if (2 * (m->n + 1) > m->cap) {
		struct inomap g = { 0 };
		g.cap = m->cap ? 2 * m->cap : 1024;
		g.k = xcalloc(g.cap, sizeof(*g.k));
		g.v = xcalloc(g.cap, sizeof(*g.v));
		for (size_t i = 0; i < m->cap; i++) {
			if (m->k[i] == 0)
				continue;
			uint64_t *s = inomap_slot(&g, m->k[i] - 1);
			*s = m->k[i];
			g.v[s - g.k] = m->v[i];
		}
		g.n = m->n;
		free(m->k);
		free(m->v);
		*m = g;
	}
	uint64_t *s = inomap_slot(m, key);
	if (*s != 0) {
		*val = m->v[s - m->k];
		return true;
	}
	*s = key + 1;
	m->v[s - m->k] = *val;
	m->n++;
	return false;
}

/* ---- the secondary's side ---- */

static void
on_reply(void *arg, const struct pending_req *req, const struct reply *rep)
{
	struct walk *w = arg;

	if (req->cookie >= VERIFY_COOKIE_OTHER) {
		if (w->o->on_other_reply)
			w->o->on_other_reply(w->o->arg, req, rep);
		return;
	}
	if (req->cookie == COOKIE_VLIST) {
		w->s_pending = false;
		if (rep->err) {
			w->s_err = rep->err;
			snprintf(w->s_msg, sizeof(w->s_msg), "%.*s",
			    (int)rep->msg_len, rep->msg ? rep->msg : "");
			return;
		}
		buf_add(&w->s.data, rep->msg, rep->msg_len);
		w->s.more = rep->value == 1;
		return;
	}
	struct job *j = &w->jobs[req->cookie - 1];
	j->s_done = true;
	if (rep->err) {
		j->s_err = rep->err;
		j->s_msg = xstrndup(rep->msg ? rep->msg : "", rep->msg_len);
	} else if (rep->value != j->size) {
		/* The size changed since the listing: a digest of another
		 * version, which the comparison tells by its size. */
		j->s_err = EAGAIN;
		j->s_msg = xasprintf("changed while read (%" PRIu64 " bytes, "
		    "listed with %" PRIu64 ")", rep->value, j->size);
	} else {
		memcpy(j->sd, rep->msg, DIGEST_LEN);
	}
}

/* The next page of the secondary's listing of the current directory;
 * -1 when the connection failed, 1 when the secondary could not list it
 * (w->s_err, w->s_msg). */
static int
fetch_s(struct walk *w, bool first)
{
	char why[384];

	buf_reset(&w->s.data);
	w->s.more = false;
	w->s_err = 0;
	w->s_pending = true;
	size_t s = conn_begin(w->c, MSG_VLIST, COOKIE_VLIST, true);
	put_bytes(&w->c->out, w->dir, (uint32_t)w->dlen);
	put_bytes(&w->c->out, w->s.pos.last, first ? 0 : w->s.pos.len);
	if (conn_end(w->c, s) < 0)
		return -1;
	while (w->s_pending && !w->c->failed)
		if (conn_pump(w->c, true) < 0)
			break;
	if (w->c->failed)
		return -1;
	if (w->s_err)
		return 1;
	if (first)
		w->s.pos.len = 0;
	if (!proto_check_vlist_page(w->s.data.data, w->s.data.len, w->s.more,
	    w->dlen == 0, &w->s.pos, why, sizeof(why))) {
		conn_protocol_error(w->c, "the VLIST reply for /%.*s %s",
		    (int)w->dlen, w->dir, why);
		return -1;
	}
	rd_init(&w->s.r, w->s.data.data, w->s.data.len);
	return 0;
}

/* The next page of the primary's listing; its last name is where the
 * page after it starts. */
static int
fetch_p(struct walk *w, bool first)
{
	struct vlist_entry e;
	struct rd r;

	buf_reset(&w->p.data);
	if (first)
		w->p.pos.len = 0;
	if (vlist_dir(w->pfd, w->dlen == 0, w->p.pos.last, w->p.pos.len,
	    w->o->privileged, &w->p.data, &w->p.more) < 0)
		return -1;
	rd_init(&r, w->p.data.data, w->p.data.len);
	while (r.off < r.len) {
		if (!get_vlist_entry(&r, &e)) {
			errno = EIO;	/* our own page: never */
			return -1;
		}
		memcpy(w->p.pos.last, e.name, e.name_len);
		w->p.pos.len = e.name_len;
	}
	rd_init(&w->p.r, w->p.data.data, w->p.data.len);
	return 0;
}

/* ---- reporting ---- */

static void
say(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(struct walk *w, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (w->detail.len)
		buf_addstr(&w->detail, "; ");
	buf_addstr(&w->detail, line);
}

/* What say() gathered, as a string. */
static const char *
detail(struct walk *w)
{
	buf_reserve(&w->detail, 1);
	w->detail.data[w->detail.len] = '\0';
	return (const char *)w->detail.data;
}

static void
report(struct walk *w, const char *name, size_t nlen, uint32_t what,
    const char *detail, bool is_dir, bool on_primary)
{
	struct vdiff d;
	char *path = w->dlen ? xasprintf("%.*s/%.*s", (int)w->dlen, w->dir,
	    (int)nlen, name) : xstrndup(name, nlen);

	memset(&d, 0, sizeof(d));
	d.path = path;
	d.what = what;
	d.sino = w->extra_sino;
	d.detail = detail;
	d.is_dir = is_dir;
	d.has_parent_fid = fid_at(w->pfd, "", w->o->fsid, &d.parent_fid) == 0;
	if (on_primary) {
		char *nm = xstrndup(name, nlen);
		d.has_fid = fid_at(w->pfd, nm, w->o->fsid, &d.fid) == 0;
		free(nm);
	}
	w->st->differences++;
	if (what & VD_UNREADABLE)
		w->st->unreadable++;
	if (w->o->on_diff)
		w->o->on_diff(w->o->arg, &d);
	free(path);
}

/* on_pair, for a name both sides have. */
static void
pair_judged(struct walk *w, const struct vlist_entry *p, uint64_t sino,
    uint32_t snlink, uint32_t smode, uint32_t what)
{
	struct vpair vp = {
		.pfd = w->pfd, .dir = w->dir, .dlen = w->dlen, .p = p,
		.sino = sino, .snlink = snlink, .smode = smode, .what = what,
	};

	if (w->o->on_pair)
		w->o->on_pair(w->o->arg, &vp);
}

static const char *
type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:	return "a file";
	case S_IFDIR:	return "a directory";
	case S_IFLNK:	return "a symlink";
	case S_IFIFO:	return "a fifo";
	case S_IFSOCK:	return "a socket";
	case S_IFCHR:	return "a character device";
	case S_IFBLK:	return "a block device";
	default:	return "an object of unknown type";
	}
}

static void
count(struct walk *w, uint32_t mode)
{
	if (S_ISREG(mode))
		w->st->files++;
	else if (S_ISDIR(mode))
		w->st->dirs++;
	else
		w->st->others++;
}

static bool
judged(const struct walk *w, const struct vlist_entry *e)
{
	return ts_ns(e->ctime_sec, e->ctime_nsec) < w->o->judged_before;
}

static bool
excluded(const struct walk *w, const struct vlist_entry *e)
{
	struct crawl_opts co = { .excludes = w->o->excludes,
	    .nexcludes = w->o->nexcludes };
	char name[NAME_MAX + 1];

	if (w->o->nexcludes == 0)
		return false;
	memcpy(name, e->name, e->name_len);
	name[e->name_len] = '\0';
	char *rel = w->dlen ? xasprintf("%.*s/%s", (int)w->dlen, w->dir, name) :
	    xstrdup(name);
	bool r = exclude_match(&co, rel, name, S_ISDIR(e->mode));
	free(rel);
	return r;
}

/* ---- xattrs ---- */

/* Whether an xattr of this name is compared. */
static bool
xattr_compared(const struct walk *w, const struct vxattr *x)
{
	char nm[PROTO_XATTR_NAME_MAX + 1];

	memcpy(nm, x->name, x->name_len);
	nm[x->name_len] = '\0';
	if (!xattr_managed(nm, w->o->privileged))
		return false;
	return xattr_is_acl(x->name, x->name_len) ? !w->o->no_acls :
	    !w->o->no_xattrs;
}

static bool
next_vxattr(const struct walk *w, struct rd *r, uint32_t *left,
    struct vxattr *x)
{
	while (*left > 0) {
		(*left)--;
		get_vxattr(r, x);	/* checked with the page */
		if (xattr_compared(w, x))
			return true;
	}
	return false;
}

static uint32_t
compare_xattrs(struct walk *w, const struct vlist_entry *p,
    const struct vlist_entry *s)
{
	struct rd rp, rs;
	struct vxattr xp, xs;
	uint32_t lp = p->nxattrs, ls = s->nxattrs, what = 0;

	rd_init(&rp, p->xattrs, p->xattrs_len);
	rd_init(&rs, s->xattrs, s->xattrs_len);
	bool hp = next_vxattr(w, &rp, &lp, &xp);
	bool hs = next_vxattr(w, &rs, &ls, &xs);
	while (hp || hs) {
		int c = !hp ? 1 : !hs ? -1 : name_cmp(xp.name, xp.name_len,
		    xs.name, xs.name_len);
		const struct vxattr *x = c <= 0 ? &xp : &xs;
		uint32_t bit = xattr_is_acl(x->name, x->name_len) ? VD_ACLS :
		    VD_XATTRS;
		/* Quoted: a name is any bytes, and a line is one line. */
		char *q = quote_name(x->name, x->name_len);
		if (c < 0) {
			say(w, "xattr %s only on the primary", q);
			what |= bit;
		} else if (c > 0) {
			say(w, "xattr %s only on the secondary", q);
			what |= bit;
		} else if (xp.value_len != xs.value_len ||
		    memcmp(xp.digest, xs.digest, DIGEST_LEN) != 0) {
			say(w, "xattr %s: value differs", q);
			what |= bit;
		}
		free(q);
		if (c <= 0)
			hp = next_vxattr(w, &rp, &lp, &xp);
		if (c >= 0)
			hs = next_vxattr(w, &rs, &ls, &xs);
	}
	return what;
}

/* ---- one pair of objects ---- */

static void
format_time(int64_t sec, uint32_t nsec, char *out, size_t n)
{
	format_rfc3339(ts_ns(sec, nsec), out, n);
	/* Nanoseconds: two mtimes a few ns apart differ too. */
	char *dot = strchr(out, '.');
	if (dot)
		snprintf(dot, n - (size_t)(dot - out), ".%09uZ", nsec);
}

static uint32_t
compare_attrs(struct walk *w, const struct vlist_entry *p,
    const struct vlist_entry *s)
{
	uint32_t what = 0;
	char tp[64], ts[64];

	if (!S_ISLNK(p->mode) && (p->mode & 07777) != (s->mode & 07777)) {
		say(w, "mode %04o on the primary, %04o on the secondary",
		    p->mode & 07777, s->mode & 07777);
		what |= VD_MODE;
	}
	if (!w->o->no_owners && (p->uid != s->uid || p->gid != s->gid)) {
		say(w, "owner %u:%u on the primary, %u:%u on the secondary",
		    p->uid, p->gid, s->uid, s->gid);
		what |= VD_OWNER;
	}
	if (p->mtime_sec != s->mtime_sec || p->mtime_nsec != s->mtime_nsec) {
		format_time(p->mtime_sec, p->mtime_nsec, tp, sizeof(tp));
		format_time(s->mtime_sec, s->mtime_nsec, ts, sizeof(ts));
		say(w, "mtime %s on the primary, %s on the secondary", tp, ts);
		what |= VD_MTIME;
	}
	if (p->xattr_errno || s->xattr_errno) {
		say(w, "xattrs unreadable on the %s: %s", p->xattr_errno ?
		    "primary" : "secondary", strerror((int)(p->xattr_errno ?
		    p->xattr_errno : s->xattr_errno)));
		what |= VD_UNREADABLE;
	} else {
		what |= compare_xattrs(w, p, s);
	}
	return what;
}

/* Names of one inode on the primary are names of one inode on the
 * secondary, and the other way round. */
static uint32_t
compare_links(struct walk *w, const struct vlist_entry *p,
    const struct vlist_entry *s)
{
	uint64_t v;

	/* Names the session keeps on the secondary after the primary
	 * removed them are links there too. */
	if (p->nlink != s->nlink && !(w->o->extra_kept && s->nlink > p->nlink)) {
		say(w, "%u links on the primary, %u on the secondary",
		    p->nlink, s->nlink);
		return VD_LINKS;
	}
	if (p->nlink < 2)
		return 0;
	v = s->ino;
	bool seen = inomap_get_or_put(&w->p2s, p->ino, &v);
	if (seen && v != s->ino) {
		say(w, "another inode on the secondary than the other names "
		    "of its inode on the primary");
		return VD_LINKS;
	}
	v = p->ino;
	seen = inomap_get_or_put(&w->s2p, s->ino, &v);
	if (seen && v != p->ino) {
		say(w, "shares an inode on the secondary with a name of "
		    "another file");
		return VD_LINKS;
	}
	return 0;
}

static int flush_jobs(struct walk *w);

/* Ask the secondary for the digest of a file, and remember what else
 * differs until both digests are in. */
static int
add_job(struct walk *w, const struct vlist_entry *p,
    const struct vlist_entry *s, uint32_t what)
{
	if (w->njobs == JOBS_MAX || w->job_bytes >= JOBS_BYTES)
		if (flush_jobs(w) < 0)
			return -1;
	XGROW(w->jobs, w->capjobs, w->njobs + 1);
	struct job *j = &w->jobs[w->njobs++];
	memset(j, 0, sizeof(*j));
	j->name = xstrndup(p->name, p->name_len);
	j->pe = *p;
	j->pe.name = j->name;
	j->pe.target = NULL;
	j->pe.target_len = 0;
	j->pe.xattrs = NULL;
	j->pe.xattrs_len = j->pe.nxattrs = 0;
	j->snlink = s->nlink;
	j->smode = s->mode;
	j->pino = p->ino;
	j->sino = s->ino;
	j->size = p->size;
	j->ctime_ns = ts_ns(p->ctime_sec, p->ctime_nsec);
	j->what = what;
	j->detail = w->detail.len ? xstrndup(detail(w),
	    w->detail.len) : NULL;
	w->job_bytes += p->size;
	size_t o = conn_begin(w->c, MSG_DIGEST, w->njobs, true);
	put_oref(&w->c->out, BASE_ROOT, w->dir, w->dlen, 0, p->name,
	    p->name_len);
	put_u64(&w->c->out, s->ino);
	return conn_end(w->c, o) < 0 ? -1 : 0;
}

static void
add_subdir(struct level *l, const struct vlist_entry *e)
{
	put_bytes(&l->subdirs, e->name, e->name_len);
}

static int
compare_pair(struct walk *w, struct level *l, const struct vlist_entry *p,
    const struct vlist_entry *s)
{
	uint32_t what = 0;

	buf_reset(&w->detail);
	count(w, p->mode);
	bool both_dirs = S_ISDIR(p->mode) && S_ISDIR(s->mode);
	if (both_dirs)
		add_subdir(l, p);	/* what is beneath is judged on its own */
	if (!judged(w, p)) {
		w->st->changing++;
		return 0;
	}
	if ((p->mode & S_IFMT) != (s->mode & S_IFMT)) {
		say(w, "%s on the primary, %s on the secondary",
		    type_name(p->mode), type_name(s->mode));
		report(w, p->name, p->name_len, VD_TYPE, detail(w),
		    S_ISDIR(p->mode), true);
		pair_judged(w, p, s->ino, s->nlink, s->mode, VD_TYPE);
		return 0;
	}
	if (S_ISREG(p->mode) && p->size != s->size) {
		say(w, "size %" PRIu64 " on the primary, %" PRIu64 " on the "
		    "secondary", p->size, s->size);
		what |= VD_CONTENT;
	}
	if (S_ISLNK(p->mode) && (p->target_len != s->target_len ||
	    memcmp(p->target, s->target, p->target_len) != 0)) {
		/* Quoted, as names are: a target is any bytes. */
		char *qp = quote_name(p->target, p->target_len);
		char *qs = quote_name(s->target, s->target_len);
		say(w, "target \"%s\" on the primary, \"%s\" on the "
		    "secondary", qp, qs);
		free(qp);
		free(qs);
		what |= VD_TARGET;
	}
	if ((S_ISCHR(p->mode) || S_ISBLK(p->mode)) && p->rdev != s->rdev) {
		say(w, "device %u:%u on the primary, %u:%u on the secondary",
		    major(p->rdev), minor(p->rdev), major(s->rdev),
		    minor(s->rdev));
		what |= VD_DEVICE;
	}
	if (!S_ISDIR(p->mode))
		what |= compare_links(w, p, s);
	what |= compare_attrs(w, p, s);
	bool same_mtime = p->mtime_sec == s->mtime_sec &&
	    p->mtime_nsec == s->mtime_nsec;
	if (S_ISREG(p->mode) && p->size == s->size && p->size > 0 &&
	    !(w->o->quick && same_mtime))
		return add_job(w, p, s, what);
	if (what)
		report(w, p->name, p->name_len, what, detail(w),
		    both_dirs, true);
	pair_judged(w, p, s->ino, s->nlink, s->mode, what);
	return 0;
}

static void
only_primary(struct walk *w, const struct vlist_entry *p)
{
	count(w, p->mode);
	if (!judged(w, p)) {
		w->st->changing++;
		return;
	}
	report(w, p->name, p->name_len, VD_MISSING, S_ISDIR(p->mode) ?
	    "only on the primary (a directory: with all beneath it)" :
	    "only on the primary", S_ISDIR(p->mode), true);
}

static void
only_secondary(struct walk *w, const struct vlist_entry *s)
{
	if (w->o->extra_kept)
		return;		/* kept there on purpose (ignore_deletes) */
	/* Judged by its directory on the primary: a name made or removed
	 * there since the sync point is not on the secondary yet. */
	if (w->dir_ctime >= w->o->judged_before) {
		w->st->changing++;
		return;
	}
	char *d = xasprintf("only on the secondary (%s)", type_name(s->mode));
	w->extra_sino = s->ino;
	report(w, s->name, s->name_len, VD_EXTRA, d, S_ISDIR(s->mode), false);
	w->extra_sino = 0;
	free(d);
}

/* ---- content ---- */

/* The file an O_PATH descriptor holds, opened to be read (the same
 * inode, through /proc), without touching its atime where allowed. */
static int
reopen_to_read(int pathfd)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
	int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(proc, O_RDONLY | O_CLOEXEC);
	return fd;
}

/* The primary's digest of a job's file: 0, 1 when it changed (or went)
 * since it was listed, -1 with errno when it could not be read. */
static int
digest_primary(struct walk *w, struct job *j)
{
	struct stat a, b;
	/* Looked at before it is opened to be read: what is there now may
	 * be a device (its driver's open would run) or a FIFO. */
	int pathfd = openat(w->pfd, j->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pathfd < 0)
		return errno == ENOENT ? 1 : -1;
	int rc = 0, fd = -1;
	if (fstat(pathfd, &a) < 0) {
		rc = -1;
	} else if ((uint64_t)a.st_ino != j->pino || !S_ISREG(a.st_mode) ||
	    (uint64_t)a.st_size != j->size ||
	    ts_ns(a.st_ctim.tv_sec, (uint32_t)a.st_ctim.tv_nsec) !=
	    j->ctime_ns) {
		rc = 1;
	} else if ((fd = reopen_to_read(pathfd)) < 0) {
		rc = -1;
	} else if (content_digest(fd, j->size, j->pd) < 0) {
		rc = -1;
	} else if (fstat(fd, &b) < 0) {
		rc = -1;
	} else if (b.st_size != a.st_size || b.st_mtim.tv_sec !=
	    a.st_mtim.tv_sec || b.st_mtim.tv_nsec != a.st_mtim.tv_nsec ||
	    b.st_ctim.tv_sec != a.st_ctim.tv_sec || b.st_ctim.tv_nsec !=
	    a.st_ctim.tv_nsec) {
		rc = 1;		/* written while read */
	}
	int err = errno;
	if (fd >= 0)
		close(fd);
	close(pathfd);
	errno = err;
	w->st->bytes += j->size;
	return rc;
}

static void progress(struct walk *w, bool last);

/* Digest the primary's copies of the batch while the secondary digests
 * its own, then compare. */
static int
flush_jobs(struct walk *w)
{
	int rc = 0;

	for (size_t i = 0; i < w->njobs; i++) {
		struct job *j = &w->jobs[i];
		int pr = digest_primary(w, j);
		if (pr < 0)
			j->what |= VD_UNREADABLE;
		if (pr > 0)
			j->what = UINT32_MAX;	/* changing: not judged */
		if (pr < 0) {
			free(j->detail);
			j->detail = xasprintf("read on the primary: %s",
			    strerror(errno));
		}
		if (conn_pump(w->c, false) < 0 || (w->o->stop && *w->o->stop))
			break;
		progress(w, false);
	}
	if (!w->c->failed && conn_wait_all(w->c) < 0)
		rc = -1;
	if (w->c->failed || (w->o->stop && *w->o->stop))
		rc = -1;
	for (size_t i = 0; i < w->njobs; i++) {
		struct job *j = &w->jobs[i];
		if (rc == 0 && j->what == UINT32_MAX) {
			w->st->changing++;
		} else if (rc == 0 && !(j->what & VD_UNREADABLE)) {
			buf_reset(&w->detail);
			if (j->detail)
				buf_addstr(&w->detail, j->detail);
			if (j->s_err)
				say(w, "read on the secondary: %s", j->s_msg);
			else if (memcmp(j->pd, j->sd, DIGEST_LEN) != 0)
				say(w, "content differs");
			uint32_t what = j->what | (j->s_err ? VD_UNREADABLE :
			    memcmp(j->pd, j->sd, DIGEST_LEN) ? VD_CONTENT : 0);
			if (what)
				report(w, j->name, strlen(j->name), what,
				    detail(w), false, true);
			pair_judged(w, &j->pe, j->sino, j->snlink, j->smode,
			    what);
		} else if (rc == 0) {
			report(w, j->name, strlen(j->name), j->what, j->detail,
			    false, true);
			pair_judged(w, &j->pe, j->sino, j->snlink, j->smode,
			    j->what);
		}
		free(j->name);
		free(j->detail);
		free(j->s_msg);
	}
	w->njobs = 0;
	w->job_bytes = 0;
	return rc;
}

/* ---- a directory ---- */

static bool
next_entry(struct page *pg)
{
	pg->have = pg->r.off < pg->r.len && get_vlist_entry(&pg->r, &pg->cur);
	return pg->have;
}

/* The current entry of a side, fetching its next page when one is due:
 * 0, or -1 (the connection failed, or the primary unreadable: *perr). */
static int
peek(struct walk *w, struct page *pg, bool primary, int *perr)
{
	if (pg->have || next_entry(pg) || !pg->more)
		return 0;
	if (primary) {
		if (fetch_p(w, false) < 0) {
			*perr = errno;
			return -1;
		}
	} else {
		if (flush_jobs(w) < 0)
			return -1;
		int rc = fetch_s(w, false);
		if (rc != 0) {
			*perr = rc > 0 ? w->s_err : 0;
			return -1;
		}
	}
	next_entry(pg);
	return 0;
}

static void
unreadable_dir(struct walk *w, const char *side, const char *msg)
{
	const char *slash = memrchr(w->dir, '/', w->dlen);
	const char *name = slash ? slash + 1 : w->dir;
	size_t dl = w->dlen;
	char *detail = xasprintf("list on the %s: %s", side, msg);

	/* Reported as an entry of its parent. */
	w->dlen = slash ? (size_t)(slash - w->dir) : 0;
	report(w, name, dl - (size_t)(name - w->dir), VD_UNREADABLE, detail,
	    true, true);
	w->dlen = dl;
	free(detail);
}

/* The roots themselves, the first entries of the first pages of the
 * root's listings (vlist.h): their attributes.  The secondary's is there
 * (proto_check_vlist_page); the primary's too, unless it could not be
 * stat'ed, and then it is not compared. */
static void
compare_root(struct walk *w)
{
	if (!next_entry(&w->p) || w->p.cur.name_len != 1 ||
	    w->p.cur.name[0] != '.') {
		rd_init(&w->p.r, w->p.data.data, w->p.data.len);
		next_entry(&w->s);
		return;
	}
	next_entry(&w->s);
	buf_reset(&w->detail);
	if (!judged(w, &w->p.cur)) {
		w->st->changing++;
		return;
	}
	uint32_t what = compare_attrs(w, &w->p.cur, &w->s.cur);
	if (what)
		report(w, ".", 1, what, detail(w), true, true);
	pair_judged(w, &w->p.cur, w->s.cur.ino, w->s.cur.nlink, w->s.cur.mode,
	    what);
}

/* Compare the directory of level l, and list its subdirectories in l:
 * 0, or -1 when the walk cannot go on. */
static int
compare_dir(struct walk *w, struct level *l)
{
	struct stat st;
	int perr = 0;

	w->dir = l->path;
	w->dlen = l->plen;
	w->pfd = resolve_dir(&w->res, BASE_ROOT, l->path, l->plen);
	if (w->pfd < 0 || fstat(w->pfd, &st) < 0) {
		if (l->plen == 0)
			return -1;
		w->st->changing++;	/* gone since its parent was listed */
		return 0;
	}
	if (l->plen && st.st_dev != w->root_dev)
		return 0;	/* a mount point: never entered, as by a turn */
	w->dir_ctime = ts_ns(st.st_ctim.tv_sec, (uint32_t)st.st_ctim.tv_nsec);
	if (fetch_p(w, true) < 0) {
		unreadable_dir(w, "primary", strerror(errno));
		return l->plen ? 0 : -1;
	}
	int rc = fetch_s(w, true);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		if (w->s_err == ENOENT || w->s_err == ENOTDIR || w->s_err == ESTALE)
			w->st->changing++;	/* changed under us */
		else
			unreadable_dir(w, "secondary", w->s_msg);
		return l->plen ? 0 : -1;
	}
	if (l->plen == 0)
		compare_root(w);
	w->p.have = w->s.have = false;
	for (;;) {
		if (peek(w, &w->p, true, &perr) < 0 ||
		    peek(w, &w->s, false, &perr) < 0) {
			if (w->c->failed || (w->o->stop && *w->o->stop))
				return -1;
			unreadable_dir(w, perr && w->s_err ? "secondary" :
			    "primary", w->s_err ? w->s_msg : strerror(perr));
			break;
		}
		if (!w->p.have && !w->s.have)
			break;
		int c = !w->p.have ? 1 : !w->s.have ? -1 : name_cmp(
		    w->p.cur.name, w->p.cur.name_len, w->s.cur.name,
		    w->s.cur.name_len);
		bool skip = c <= 0 ? excluded(w, &w->p.cur) :
		    excluded(w, &w->s.cur);
		if (skip)
			;
		else if (c < 0)
			only_primary(w, &w->p.cur);
		else if (c > 0)
			only_secondary(w, &w->s.cur);
		else if (compare_pair(w, l, &w->p.cur, &w->s.cur) < 0)
			return -1;
		if (c <= 0)
			w->p.have = false;
		if (c >= 0)
			w->s.have = false;
		progress(w, false);
		if (w->o->stop && *w->o->stop)
			return -1;
	}
	return flush_jobs(w);
}

static void
progress(struct walk *w, bool last)
{
	char sz[32];

	if (!w->o->progress)
		return;
	int64_t now = mono_ns();
	if (!last && now < w->next_progress)
		return;
	w->next_progress = now + 1000000000;
	format_size(w->st->bytes, sz, sizeof(sz));
	fprintf(stderr, "verify: %" PRIu64 " %s, %" PRIu64 " %s, %s compared, "
	    "%" PRIu64 " %s%s", w->st->files, plural(w->st->files, "file",
	    "files"), w->st->dirs, plural(w->st->dirs, "directory",
	    "directories"), sz, w->st->differences, plural(w->st->differences,
	    "difference", "differences"), isatty(2) && !last ? "\r" : "\n");
}

/* ---- the walk ---- */

static void
level_push(struct level **v, size_t *n, size_t *cap, char *path)
{
	XGROW(*v, *cap, *n + 1);
	struct level *l = &(*v)[(*n)++];
	memset(l, 0, sizeof(*l));
	l->path = path;
	l->plen = strlen(path);
}

int
verify_tree(struct conn *c, int rootfd, const struct verify_opts *o,
    struct verify_stats *st)
{
	struct walk w;
	struct level *lv = NULL;
	size_t nlv = 0, caplv = 0;
	struct stat rst;
	reply_fn saved_fn = c->on_reply;
	void *saved_arg = c->arg;
	int rc = 0;

	memset(&w, 0, sizeof(w));
	memset(st, 0, sizeof(*st));
	if (fstat(rootfd, &rst) < 0)
		return -1;
	w.c = c;
	w.o = o;
	w.st = st;
	w.rootfd = rootfd;
	w.root_dev = rst.st_dev;
	resolve_init(&w.res, rootfd, -1);
	c->on_reply = on_reply;
	c->arg = &w;
	level_push(&lv, &nlv, &caplv, xstrdup(""));
	while (nlv > 0 && rc == 0) {
		struct level *l = &lv[nlv - 1];
		if (!l->listed) {
			l->listed = true;
			rc = compare_dir(&w, l);
			continue;
		}
		if (l->next < l->subdirs.len) {
			struct rd r;
			uint32_t len;
			rd_init(&r, l->subdirs.data + l->next,
			    l->subdirs.len - l->next);
			const uint8_t *nm = get_bytes(&r, &len, NAME_MAX);
			l->next += r.off;
			char *path = l->plen ? xasprintf("%s/%.*s", l->path,
			    (int)len, (const char *)nm) :
			    xstrndup((const char *)nm, len);
			level_push(&lv, &nlv, &caplv, path);
			continue;
		}
		free(l->path);
		buf_release(&l->subdirs);
		nlv--;
	}
	progress(&w, true);
	for (size_t i = 0; i < nlv; i++) {
		free(lv[i].path);
		buf_release(&lv[i].subdirs);
	}
	free(lv);
	for (size_t i = 0; i < w.njobs; i++) {
		free(w.jobs[i].name);
		free(w.jobs[i].detail);
		free(w.jobs[i].s_msg);
	}
	free(w.jobs);
	free(w.p2s.k);
	free(w.p2s.v);
	free(w.s2p.k);
	free(w.s2p.v);
	buf_release(&w.p.data);
	buf_release(&w.s.data);
	buf_release(&w.detail);
	resolve_release(&w.res);
	c->on_reply = saved_fn;
	c->arg = saved_arg;
	return rc;
}

const char *
vdiff_name(uint32_t bit)
{
	switch (bit) {
	case VD_MISSING:	return "missing";
	case VD_EXTRA:		return "extra";
	case VD_TYPE:		return "type";
	case VD_CONTENT:	return "content";
	case VD_MODE:		return "mode";
	case VD_OWNER:		return "owner";
	case VD_MTIME:		return "mtime";
	case VD_LINKS:		return "links";
	case VD_TARGET:		return "target";
	case VD_DEVICE:		return "device";
	case VD_XATTRS:		return "xattrs";
	case VD_ACLS:		return "acls";
	case VD_UNREADABLE:	return "unreadable";
	default:		return "unknown";
	}
}
