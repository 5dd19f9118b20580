/* adopt: see adopt.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/fid.h"
#include "../common/log.h"
#include "../common/names.h"
#include "../index/index.h"
#include "../protocol/conn.h"
#include "../protocol/proto.h"
#include "../verify/verify.h"
#include "adopt.h"
#include "sync.h"
#include "../common/banned.h"

#define ADOPT_KEY	"adopting"
#define BOUND_KEY	"bound"		/* contact.c's */
#define COMMIT_EVERY	8192		/* records per index transaction */
#define COOKIE_REMOVE	(VERIFY_COOKIE_OTHER | 1)
#define COOKIE_COMMIT	(VERIFY_COOKIE_OTHER | 2)

struct adopt {
	struct conn *c;
	struct index *ix;
	struct index_txn *txn;
	const struct sync_target *t;
	const struct adopt_opts *o;
	struct adopt_stats *st;
	bool owners_given;	/* the secondary holds the primary's owners */
	size_t since_commit;
	int failed;		/* the index could not be written */
	/* The directory of the last pair, and its fid. */
	char *dir;
	size_t dlen;
	struct fid dir_fid;
	bool have_dir;
};

int
adopt_pending(struct index_txn *txn, bool *pending)
{
	struct buf b = BUF_INIT;
	int rc = index_meta_get(txn, ADOPT_KEY, &b);

	buf_release(&b);
	if (rc < 0)
		return -1;
	*pending = rc == 0;
	return 0;
}

static void
on_other_reply(void *arg, const struct pending_req *req,
    const struct reply *rep)
{
	struct adopt *a = arg;

	if (req->cookie == COOKIE_REMOVE && rep->err && rep->err != ENOENT) {
		a->st->failures++;
		log_err("adopt: removing from the secondary: %.*s",
		    (int)rep->msg_len, rep->msg ? rep->msg : "");
	} else if (req->cookie == COOKIE_COMMIT && rep->err) {
		a->st->failures++;
		log_err("adopt: %.*s", (int)rep->msg_len, rep->msg ? rep->msg :
		    "");
	}
}

/* RMTREE of dir/name on the secondary, if it is still inode sino. */
static void
remove_name(struct adopt *a, const char *dir, size_t dlen, const char *name,
    size_t nlen, uint64_t sino, const char *why)
{
	char *q = quote_name(name, nlen);

	log_info("adopt: removing %.*s%s%s from the secondary: %s", (int)dlen,
	    dir, dlen ? "/" : "", q, why);
	free(q);
	a->st->removed++;
	size_t s = conn_begin(a->c, MSG_RMTREE, COOKIE_REMOVE, true);
	put_oref(&a->c->out, BASE_ROOT, dir, dlen, 0, name, nlen);
	put_u64(&a->c->out, sino);
	conn_end(a->c, s);	/* a failed link: verify_tree stops */
}

/* Commit what is recorded every so often: one transaction for a million
 * names would hold all their pages dirty. */
static void
record_done(struct adopt *a)
{
	if (++a->since_commit < COMMIT_EVERY || a->failed)
		return;
	a->since_commit = 0;
	if (index_commit(a->txn) < 0 || index_begin(a->ix, true, &a->txn) < 0) {
		a->txn = NULL;
		a->failed = 1;
	}
}

/* The fid of the pair's directory, looked up once per directory. */
static int
dir_fid(struct adopt *a, const struct vpair *vp, struct fid *out)
{
	if (!a->have_dir || a->dlen != vp->dlen ||
	    memcmp(a->dir, vp->dir, vp->dlen) != 0) {
		free(a->dir);
		a->dir = xstrndup(vp->dir, vp->dlen);
		a->dlen = vp->dlen;
		a->have_dir = fid_at(vp->pfd, "", a->t->fsid, &a->dir_fid) == 0;
		if (!a->have_dir) {
			free(a->dir);
			a->dir = NULL;
		}
	}
	*out = a->dir_fid;
	return a->have_dir ? 0 : -1;
}

/* The index record of a name adopted: the primary's attributes as
 * listed (so that a change after the listing is seen by the crawl), the
 * secondary's inode, and what the secondary already has. */
static void
adopted_record(struct adopt *a, const struct vpair *vp, struct irec *r)
{
	const struct vlist_entry *p = vp->p;
	uint32_t what = vp->what;

	memset(r, 0, sizeof(*r));
	r->mode = p->mode;
	r->uid = a->owners_given ? p->uid : a->t->secondary_uid;
	r->gid = a->owners_given ? p->gid : a->t->secondary_gid;
	/* A symlink's size (its target's length) too, as the crawl keeps
	 * it: the reconcile tells a replaced symlink by it. */
	r->size = S_ISREG(p->mode) || S_ISLNK(p->mode) ? p->size : 0;
	r->rdev = S_ISCHR(p->mode) || S_ISBLK(p->mode) ? p->rdev : 0;
	r->mtime_sec = p->mtime_sec;
	r->mtime_nsec = p->mtime_nsec;
	r->ctime_sec = p->ctime_sec;
	r->ctime_nsec = p->ctime_nsec;
	r->sino = vp->sino;
	if (!S_ISREG(p->mode) || !(what & (VD_CONTENT | VD_UNREADABLE)))
		r->synced |= IREC_CONTENT;
	if (!(what & (VD_ATTR_BITS | VD_UNREADABLE)))
		r->synced |= IREC_ATTRS;
	a->st->adopted++;
	if (what)
		log_debug("adopt: %.*s%s%.*s: differs (0x%x)", (int)vp->dlen,
		    vp->dir, vp->dlen ? "/" : "", (int)p->name_len, p->name,
		    what);
	if (!(r->synced & IREC_CONTENT))
		a->st->content++;
	if (!(r->synced & IREC_ATTRS))
		a->st->attrs++;
}

static void
adopt_root(struct adopt *a, const struct vpair *vp)
{
	struct irec r;

	adopted_record(a, vp, &r);
	r.sino = 0;		/* the root's, as a turn records it */
	if (index_put(a->txn, &a->t->root, &r) < 0)
		a->failed = 1;
	record_done(a);
}

/* A second name of a file the index has: one more link if it is the same
 * inode on the secondary too, else the name goes (the crawl links it). */
static void
adopt_link(struct adopt *a, const struct vpair *vp, const struct fid *fid,
    const struct fid *parent, const struct irec *rec)
{
	const struct vlist_entry *p = vp->p;

	if (rec->sino != vp->sino) {
		remove_name(a, vp->dir, vp->dlen, p->name, p->name_len,
		    vp->sino, "another inode than the other names of its file");
		return;
	}
	if (link_add(a->txn, fid, parent, p->name, p->name_len) < 0)
		a->failed = 1;
	record_done(a);
}

static void
on_pair(void *arg, const struct vpair *vp)
{
	struct adopt *a = arg;
	const struct vlist_entry *p = vp->p;
	struct fid parent, fid;
	struct stat st;
	struct irec rec;

	if (a->failed || a->txn == NULL)
		return;
	if (vp->dlen == 0 && p->name_len == 1 && p->name[0] == '.') {
		adopt_root(a, vp);
		return;
	}
	if (vp->what & (VD_TYPE | VD_TARGET | VD_DEVICE)) {
		remove_name(a, vp->dir, vp->dlen, p->name, p->name_len,
		    vp->sino, vp->what & VD_TYPE ? "another type of object "
		    "than on the primary" : vp->what & VD_TARGET ? "another "
		    "symlink target" : "another device number");
		return;
	}
	char *name = xstrndup(p->name, p->name_len);
	bool same = fstatat(vp->pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (uint64_t)st.st_ino == p->ino && fid_at(vp->pfd, name,
	    a->t->fsid, &fid) == 0 && dir_fid(a, vp, &parent) == 0;
	free(name);
	if (!same)
		return;	/* gone or replaced since listed: the crawl sees it */
	int rc = index_get(a->txn, &fid, &rec);
	if (rc < 0) {
		a->failed = 1;
		return;
	}
	if (rc == 0) {
		adopt_link(a, vp, &fid, &parent, &rec);
		irec_release(&rec);
		return;
	}
	if ((vp->what & VD_LINKS) && p->nlink < 2) {
		remove_name(a, vp->dir, vp->dlen, p->name, p->name_len,
		    vp->sino, "shares its inode on the secondary with another "
		    "name");
		return;
	}
	adopted_record(a, vp, &rec);
	if (index_put(a->txn, &fid, &rec) < 0 ||
	    link_add(a->txn, &fid, &parent, p->name, p->name_len) < 0)
		a->failed = 1;
	record_done(a);
}

static void
on_diff(void *arg, const struct vdiff *d)
{
	struct adopt *a = arg;

	if (d->what & VD_MISSING) {
		a->st->missing++;
		return;
	}
	if (!(d->what & VD_EXTRA) || a->o->ignore_deletes || d->sino == 0)
		return;
	const char *slash = strrchr(d->path, '/');
	size_t dlen = slash ? (size_t)(slash - d->path) : 0;
	const char *name = slash ? slash + 1 : d->path;
	remove_name(a, d->path, dlen, name, strlen(name), d->sino,
	    "not on the primary");
}

/* The end: the removals answered, the secondary's writes made durable
 * and its cancelled state cleared (COMMIT), the mark taken away. */
static int
adopt_finish(struct adopt *a)
{
	reply_fn saved_fn = a->c->on_reply;
	void *saved_arg = a->c->arg;

	a->c->on_reply = on_other_reply;
	a->c->arg = a;
	size_t s = conn_begin(a->c, MSG_COMMIT, COOKIE_COMMIT, true);
	put_u64(&a->c->out, 0);
	put_u32(&a->c->out, a->o->no_fsync ? COMMIT_NOSYNC : 0);
	int rc = conn_end(a->c, s) < 0 || conn_wait_all(a->c) < 0 ? -1 : 0;
	a->c->on_reply = saved_fn;
	a->c->arg = saved_arg;
	if (rc < 0)
		return -1;
	if (index_meta_del(a->txn, ADOPT_KEY) < 0 ||
	    index_meta_put(a->txn, BOUND_KEY, "1", 1) < 0 ||
	    index_commit(a->txn) < 0) {
		a->txn = NULL;
		return -1;
	}
	a->txn = NULL;
	return 0;
}

int
adopt_tree(struct conn *c, struct index *ix, const struct sync_target *t,
    const struct adopt_opts *o, struct adopt_stats *st)
{
	struct adopt a = {
		.c = c, .ix = ix, .t = t, .o = o, .st = st,
		.owners_given = t->secondary_privileged && !o->no_owners,
	};
	struct verify_opts vo = {
		.excludes = o->excludes, .nexcludes = o->nexcludes,
		.no_owners = !a.owners_given, .no_xattrs = o->no_xattrs,
		.no_acls = o->no_acls, .extra_kept = o->ignore_deletes,
		.judged_before = INT64_MAX, .privileged = t->secondary_privileged,
		.fsid = t->fsid, .progress = o->progress, .stop = o->stop,
		.on_diff = on_diff, .on_pair = on_pair,
		.on_other_reply = on_other_reply, .quick = !o->checksum,
		.arg = &a,
	};
	struct verify_stats vs;
	int rc;

	memset(st, 0, sizeof(*st));
	/* From an empty index, whatever an adoption cut off left. */
	if (index_begin(ix, true, &a.txn) < 0 || index_clear(a.txn) < 0 ||
	    sync_forget_secondary(a.txn) < 0 ||
	    index_meta_put(a.txn, ADOPT_KEY, "1", 1) < 0 ||
	    index_commit(a.txn) < 0 || index_begin(ix, true, &a.txn) < 0) {
		if (a.txn)
			index_abort(a.txn);
		log_err("adopt: the index could not be written");
		return -1;
	}
	rc = verify_tree(c, t->rootfd, &vo, &vs);
	st->digested = vs.bytes;
	if (rc == 0 && a.failed)
		log_err("adopt: the index could not be written");
	if (rc == 0 && !a.failed)
		rc = adopt_finish(&a);
	else
		rc = -1;
	if (a.txn)
		index_abort(a.txn);
	if (rc < 0 && c->failed)
		log_err("%s", c->error);
	free(a.dir);
	return rc;
}
