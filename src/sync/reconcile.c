/*
 * reconcile: bring the index back in step with the secondary after a turn
 * that did not finish.
 *
 * Before a turn changes the secondary, turn_mark() commits a marker to the
 * index, with the files the turn writes.  The commit that ends the turn
 * removes it.  A marker found at the start of a turn therefore means the secondary
 * may be ahead of the index.  reconcile() then walks the whole secondary
 * and gives each entry to the object whose inode number (and type, size
 * and mtime) it has; names the index cannot explain (left by the unfinished
 * turn) are removed from the secondary, and objects found nowhere are
 * forgotten, so that the turn that follows sends them again if the primary
 * has them: a directed turn, when everything forgotten and every file
 * being written lie in the directories it lists (the unfinished turn was
 * most likely the same batch), else a crawl of the whole primary.  The
 * marker's objects tell which files were being written.
 * (Listing only its directories is not enough: see reconcile().) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "../common/log.h"
#include "../common/names.h"
#include "turn_int.h"
#include "../common/banned.h"

#define MARK_KEY	"turn"
#define FULL_KEY	"reconcile_full"
#define MARK_VERSION	2	/* 2: the turn's flags at the end */
#define MARK_PUT	0x1	/* content may have been replaced (new inode) */
#define MARK_DIRECTED	0x1	/* the turn listed only its batch's
				 * directories (else: it crawled everything,
				 * and may have touched anything) */

struct mobj {
	struct fid fid;
	uint64_t sino;
	uint8_t flags;
};

/* ---- the marker ---- */

/*
 * Only the files the turn writes are listed (the recovery sends them
 * again), and whether the turn was directed; the marker's presence says
 * the rest.  The layout keeps the first version's directory list and
 * inode numbers, now empty and 0, so a marker left by an older georep
 * still reads (as a turn that was not directed).
 */
/*
 * Whether a file the turn only checks (its ctime moved: the content is
 * hashed and sent only if it changed) would be written in place, where a
 * cut leaves it half written.  Else its new content, if any, is renamed in
 * whole, and reconcile_full() finds the new inode; listing it as written
 * would send an unchanged file again after every cut turn, as a new inode
 * that drops what the secondary keeps of its own (its ACLs when sync_acls
 * is off).  As send_put() decides: several names in the index.
 */
static bool
written_in_place(struct turn *t, const struct pobj *o)
{
	struct irec rec;
	int rc = index_get(t->txn, &o->fid, &rec);

	if (rc != 0)
		return rc < 0;	/* unreadable: listed, to be safe */
	bool inplace = rec.nlinks > 1;
	irec_release(&rec);
	return inplace;
}

int
turn_mark(struct turn *t)
{
	struct buf objs = BUF_INIT, out = BUF_INIT;
	uint32_t nobjs = 0;
	bool touches = t->nmops != 0;
	int rc;

	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		bool put = S_ISREG(o->mode) &&
		    (o->flags & (POBJ_DATA | POBJ_HASHCHECK));
		touches = touches || put || o->nadded || o->nremoved;
		if (!put || (!(o->flags & POBJ_DATA) && !written_in_place(t, o)))
			continue;
		put_fid(&objs, &o->fid);
		put_u64(&objs, 0);
		put_u8(&objs, MARK_PUT);
		nobjs++;
	}
	if (!touches) {
		buf_release(&objs);
		return 0;
	}
	put_u32(&out, MARK_VERSION);
	put_u32(&out, 0);
	put_u32(&out, nobjs);
	buf_add(&out, objs.data, objs.len);
	put_u32(&out, t->crawl.directed ? MARK_DIRECTED : 0);
	rc = index_meta_put(t->txn, MARK_KEY, out.data, out.len);
	t->marked = rc == 0;
	buf_release(&objs);
	buf_release(&out);
	return rc;
}

int
turn_unmark(struct turn *t)
{
	if (!t->marked || t->stale)
		return 0;
	t->marked = false;
	return index_meta_del(t->txn, MARK_KEY) < 0 ? -1 : 0;
}

/* ---- listing the secondary ---- */

struct listing {
	struct buf data;	/* the entries, as the secondary sent them */
	bool more;
	int err;
};

static void
list_reply(void *arg, const struct pending_req *req, const struct reply *rep)
{
	struct listing *l = arg;

	(void)req;
	if (rep->err) {
		l->err = rep->err;
		if (rep->err != ENOENT && rep->err != ENOTDIR &&
		    rep->err != ELOOP && rep->err != ESTALE)
			log_err("listing on the secondary failed: %.*s",
			    (int)rep->msg_len, rep->msg);
		return;
	}
	buf_add(&l->data, rep->msg, rep->msg_len);
	l->more = rep->value == 1;
}

struct sent {
	uint64_t ino;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *name;
	uint32_t len;
	bool used;
};

/*
 * A page of a LISTDIR reply is the secondary's word, checked before any of
 * it is used -- its names become index links, and the names of RMTREEs
 * (proto_check_list_page: entries that parse, valid names, no .georep at
 * the root, strictly in order; "more" never on an empty page, which would
 * ask for the same page forever).  What is wrong is a protocol error that
 * names the directory (where).
 */
static void
check_page(struct conn *c, const char *where, bool root, const uint8_t *p,
    size_t len, bool more, struct list_pos *pos)
{
	char why[384];

	if (!proto_check_list_page(p, len, more, root, pos, why, sizeof(why)))
		conn_protocol_error(c, "the LISTDIR reply for %s %s", where, why);
}

/* All entries of a directory (base/path, inode sino when not 0), in name
 * order; names point into l->data.  1: the path is not that directory
 * (not yet, when an unfinished turn moved it). */
static int
list_dir(struct turn *t, uint8_t base, const struct buf *path, uint64_t sino,
    struct listing *l, struct sent **out, size_t *n)
{
	struct conn *c = t->conn;
	reply_fn saved_fn = c->on_reply;
	void *saved_arg = c->arg;
	struct list_pos pos = { .len = 0 };
	size_t cap = 0;
	struct rd r;
	char *where = xasprintf("%s%.*s", base == BASE_STAGE ? "(staging)/" :
	    "/", (int)path->len, (const char *)path->data);

	*out = NULL;
	*n = 0;
	buf_reset(&l->data);
	c->on_reply = list_reply;
	c->arg = l;
	do {
		size_t page = l->data.len;
		l->more = false;
		size_t s = conn_begin(c, MSG_LISTDIR, 0, true);
		put_u8(&c->out, base);
		put_bytes(&c->out, path->data, (uint32_t)path->len);
		put_u64(&c->out, sino);
		put_bytes(&c->out, pos.last, pos.len);
		if (conn_end(c, s) < 0 || conn_wait_all(c) < 0 || l->err)
			break;
		check_page(c, where, base == BASE_ROOT && path->len == 0,
		    l->data.data + page, l->data.len - page, l->more, &pos);
	} while (l->more && !c->failed);
	free(where);
	c->on_reply = saved_fn;
	c->arg = saved_arg;
	if (c->failed || l->err) {
		if (!c->failed && (l->err == ENOENT || l->err == ENOTDIR ||
		    l->err == ELOOP || l->err == ESTALE)) {
			l->err = 0;
			return 1;	/* not there (yet): the model moves it */
		}
		return -1;
	}
	/* Every page was checked (check_page): this parses. */
	rd_init(&r, l->data.data, l->data.len);
	while (r.off < r.len) {
		struct list_entry le;
		get_list_entry(&r, &le);
		XGROW(*out, cap, *n + 1);
		(*out)[(*n)++] = (struct sent){ .ino = le.ino, .mode = le.mode,
		    .size = le.size, .mtime_sec = le.mtime_sec,
		    .mtime_nsec = le.mtime_nsec, .name = le.name,
		    .len = le.name_len };
	}
	return 0;
}

/* ---- repairing the model ---- */

static int
decode_mark(const struct buf *b, struct fid **dirs, size_t *ndirs,
    struct mobj **objs, size_t *nobjs, uint32_t *flags)
{
	struct rd r;

	rd_init(&r, b->data, b->len);
	uint32_t version = get_u32(&r);
	if (version != 1 && version != MARK_VERSION)
		return -1;
	*ndirs = get_u32(&r);
	if (r.bad || *ndirs > b->len)
		return -1;
	*dirs = xcalloc(*ndirs + 1, sizeof(**dirs));
	for (size_t i = 0; i < *ndirs; i++)
		if (!get_fid(&r, &(*dirs)[i], false))
			return -1;
	*nobjs = get_u32(&r);
	if (r.bad || *nobjs > b->len)
		return -1;
	*objs = xcalloc(*nobjs + 1, sizeof(**objs));
	for (size_t i = 0; i < *nobjs; i++) {
		if (!get_fid(&r, &(*objs)[i].fid, false))
			return -1;
		(*objs)[i].sino = get_u64(&r);
		(*objs)[i].flags = get_u8(&r);
	}
	*flags = version == 1 ? 0 : get_u32(&r);
	return rd_end(&r) ? 0 : -1;
}

#define STRAYS_SHOWN	20

static int
remove_stray(struct turn *t, uint8_t base, const struct buf *dir,
    uint64_t dir_sino, const struct sent *e)
{
	struct conn *c = t->conn;
	char *q = quote_name(e->name, e->len);

	/* An interrupted first copy leaves up to a model's worth (8,192
	 * names): the first few at info, the rest at debug, and a count. */
	enum log_level lvl = ++t->strays_removed <= STRAYS_SHOWN ?
	    LOG_LVL_INFO : LOG_LVL_DEBUG;
	log_msg(lvl, "removing %s%.*s%s%s from the secondary: unknown to the "
	    "index (%s)", base == BASE_STAGE ? "(staging)/" : "", (int)dir->len,
	    (char *)dir->data, dir->len ? "/" : "", q, t->by_verify ?
	    "verify --repair: what the primary has is sent again" :
	    "left by an unfinished sync");
	free(q);
	size_t s = conn_begin(c, MSG_RMTREE, COOKIE_STRAY, true);
	put_oref(&c->out, base, (char *)dir->data, dir->len, dir_sino, e->name,
	    e->len);
	put_u64(&c->out, e->ino);
	return conn_end(c, s);
}

/* Whether an entry of the secondary is a name the session excludes: the
 * walk passes it over, and what is beneath it, as the crawl does on the
 * primary; it is never removed (README: excluded names are neither sent
 * nor deleted). */
static bool
entry_excluded(const struct turn *t, uint8_t base, const struct buf *dir,
    const struct sent *e)
{
	struct crawl_opts co = { .excludes = t->opts->excludes,
	    .nexcludes = t->opts->nexcludes };

	if (base != BASE_ROOT || co.nexcludes == 0)
		return false;
	char *name = xstrndup(e->name, e->len);
	char *rel = dir->len ? xasprintf("%.*s/%s", (int)dir->len,
	    (const char *)dir->data, name) : xstrdup(name);
	bool r = exclude_match(&co, rel, name, S_ISDIR(e->mode));
	free(rel);
	free(name);
	return r;
}

/* ---- the full reconcile ---- */

/*
 * When a turn found the index wrong about the secondary (ESTALE), the next
 * one rebuilds every link from the secondary itself: it walks the whole
 * secondary tree and gives each entry to the object whose secondary inode
 * number, type -- and, for files and symlinks, size and mtime -- it has.
 * Inode numbers are reused, so the number alone is not trusted.  Entries no
 * object claims are removed; objects no entry claims are forgotten; every
 * directory's attributes are set again.  It costs a walk of the secondary,
 * and runs only after the index was found wrong.
 */

struct fobj {
	struct fid fid;
	struct fid parent;	/* of its first link (len 0: none) */
	uint64_t link_hash;	/* of that link, parent and name */
	bool moved;		/* a directory claimed at another link */
	uint64_t sino;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	bool linked;
};

struct fobjs {
	struct fobj *v;
	size_t n, cap;
};

/* A link as a number: its parent's fid and its name. */
static uint64_t
link_hash(const struct fid *parent, const char *name, size_t len)
{
	XXH64_state_t *st = XXH64_createState();

	if (st == NULL)
		fatal("out of memory");
	XXH64_reset(st, 0);
	XXH64_update(st, &parent->len, 1);
	XXH64_update(st, parent->bytes, parent->len);
	XXH64_update(st, name, len);
	uint64_t h = XXH64_digest(st);
	XXH64_freeState(st);
	return h;
}

static int
collect(void *arg, const struct fid *fid, const struct irec *rec)
{
	struct fobjs *f = arg;

	XGROW(f->v, f->cap, f->n + 1);
	struct fobj *o = &f->v[f->n++];
	o->fid = *fid;
	o->parent.len = 0;
	o->link_hash = 0;
	o->moved = false;
	if (rec->nlinks) {
		o->parent = rec->links[0].parent;
		o->link_hash = link_hash(&rec->links[0].parent,
		    rec->links[0].name, rec->links[0].name_len);
	}
	o->sino = rec->sino;
	o->mode = rec->mode;
	o->size = rec->size;
	o->mtime_sec = rec->mtime_sec;
	o->mtime_nsec = rec->mtime_nsec;
	o->linked = false;
	return 0;
}

static int
cmp_fobj(const void *a, const void *b)
{
	const struct fobj *x = a, *y = b;

	return (x->sino > y->sino) - (x->sino < y->sino);
}

/* The object an entry is, or NULL. */
static struct fobj *
claim(struct fobjs *f, const struct sent *e)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f->v[mid].sino < e->ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < f->n && f->v[i].sino == e->ino; i++) {
		struct fobj *o = &f->v[i];
		if (e->ino == 0 || (o->mode & S_IFMT) != (e->mode & S_IFMT))
			continue;
		if (S_ISDIR(o->mode) && o->linked)
			continue;	/* a directory has one name */
		if ((S_ISREG(o->mode) || S_ISLNK(o->mode)) &&
		    (o->size != e->size || o->mtime_sec != e->mtime_sec ||
		    o->mtime_nsec != e->mtime_nsec))
			continue;
		return o;
	}
	return NULL;
}

struct qdir {
	struct fid fid;
	uint64_t sino;		/* 0 for the two roots */
	uint8_t base;
	char *path;
	size_t len;
};

/* Whether a directed turn lists dir (named, or walked whole as a directory
 * that moved): what was forgotten there is found again by the turn. */
static bool
listed(const struct turn *t, const struct fid *dir)
{
	const struct sync_opts *o = t->opts;

	if (!o->directed || dir->len == 0 || fid_is_stage(dir))
		return false;
	return (o->ndirs && bsearch(dir, o->dirs, o->ndirs, sizeof(*o->dirs),
	    crawl_fid_cmp)) || (o->ndeep && bsearch(dir, o->deep, o->ndeep,
	    sizeof(*o->deep), crawl_fid_cmp));
}


static int
reconcile_full(struct turn *t)
{
	struct fobjs f = { 0 };
	struct qdir *q = NULL;
	size_t qn = 0, qcap = 0;
	struct listing l = { BUF_INIT, false, 0 };
	struct buf path = BUF_INIT;
	struct irec rec;
	int rc;

	if (index_foreach(t->txn, collect, &f) != 0 ||
	    index_drop_links(t->txn) < 0) {
		free(f.v);
		return -1;
	}
	if (f.n > 1)
		qsort(f.v, f.n, sizeof(*f.v), cmp_fobj);
	q = xcalloc(2, sizeof(*q));
	qcap = 2;
	q[qn].fid = t->tgt->root;
	q[qn].base = BASE_ROOT;
	q[qn++].path = xstrdup("");
	fid_set_stage(&q[qn].fid);
	q[qn].base = BASE_STAGE;
	q[qn++].path = xstrdup("");
	rc = 0;
	for (size_t i = 0; i < qn && rc == 0; i++) {
		struct sent *ents;
		size_t nents;
		buf_reset(&path);
		buf_add(&path, q[i].path, q[i].len);
		rc = list_dir(t, q[i].base, &path, q[i].sino, &l, &ents,
		    &nents);
		if (rc != 0) {
			rc = rc < 0 ? -1 : 0;
			continue;
		}
		for (size_t k = 0; k < nents && rc == 0; k++) {
			struct sent *e = &ents[k];
			if (entry_excluded(t, q[i].base, &path, e))
				continue;
			struct fobj *o = claim(&f, e);
			if (o == NULL) {
				rc = remove_stray(t, q[i].base, &path,
				    q[i].sino, e);
				continue;
			}
			/* A directory is claimed by its inode number and
			 * type alone, and numbers are reused: one found at
			 * another link may be another directory, with other
			 * attributes.  (Verify's walk sends only the
			 * attributes verify found different, below.) */
			if (S_ISDIR(o->mode) && !o->linked &&
			    o->link_hash != link_hash(&q[i].fid, e->name, e->len))
				o->moved = true;
			o->linked = true;
			rc = link_add(t->txn, &o->fid, &q[i].fid, e->name, e->len);
			if (rc == 0 && S_ISDIR(o->mode)) {
				XGROW(q, qcap, qn + 1);
				q[qn].fid = o->fid;
				q[qn].sino = o->sino;
				q[qn].base = q[i].base;
				q[qn].path = q[i].len ? xasprintf("%s/%.*s",
				    q[i].path, (int)e->len, e->name) :
				    xstrndup(e->name, e->len);
				q[qn].len = strlen(q[qn].path);
				qn++;
			}
		}
		free(ents);
	}
	/* Unclaimed objects are not on the secondary; every directory's
	 * attributes go again (the unfinished turn may have changed them),
	 * unless verify asked for the walk: it named the ones that differ,
	 * and those claimed at another link may be other directories. */
	for (size_t i = 0; i < f.n && rc == 0; i++) {
		bool root = fid_eq(&f.v[i].fid, &t->tgt->root);
		if (!root && !f.v[i].linked) {
			if (!listed(t, &f.v[i].parent))
				t->reconcile_wide = true;
			rc = index_del(t->txn, &f.v[i].fid) < 0 ? -1 : 0;
			continue;
		}
		if (S_ISDIR(f.v[i].mode) && (!t->by_verify || f.v[i].moved) &&
		    index_get(t->txn, &f.v[i].fid, &rec) == 0) {
			rec.synced &= ~IREC_ATTRS;
			rc = index_put(t->txn, &f.v[i].fid, &rec);
			irec_release(&rec);
		}
	}
	for (size_t i = 0; i < qn; i++)
		free(q[i].path);
	free(q);
	free(f.v);
	buf_release(&path);
	buf_release(&l.data);
	if (rc == 0 && conn_wait_all(t->conn) < 0)
		rc = -1;
	return rc;
}

int
reconcile_mark_full(struct turn *t)
{
	return sync_request_walk(t->txn);
}

/*
 * At the start of a turn: a marker means the last turn changed the
 * secondary and did not commit; a full-reconcile request, that a turn
 * found the index wrong (ESTALE).  Either way the whole secondary is walked
 * and the index's links rebuilt from it (reconcile_full).  Listing only the
 * directories the marker names was tried first and lost data: an
 * unfinished turn's moves, staging and reused inode numbers can leave a
 * directory the marker does not name holding something else than the
 * index says, and nothing would ever look there again.  A walk of the
 * secondary after a crash is the price of never trusting a guess.  A file
 * the unfinished turn was writing may hold part of the new content in
 * place (a file with several names keeps its inode and may keep its size):
 * it is sent again.
 */
/* A file the unfinished turn was writing: sent again, by this turn if it
 * lists the file's directory, else by a crawl of the whole primary. */
static int
resend(struct turn *t, const struct fid *fid)
{
	struct irec rec;
	int rc = index_get(t->txn, fid, &rec);

	if (rc != 0)
		return rc < 0 ? -1 : 0;	/* forgotten: seen above */
	if (rec.nlinks == 0 || !listed(t, &rec.links[0].parent))
		t->reconcile_wide = true;
	irec_release(&rec);
	return content_unsynced(t, fid);
}

int
reconcile_start(struct turn *t)
{
	struct buf mark = BUF_INIT, b = BUF_INIT;
	struct fid *dirs = NULL;
	struct mobj *objs = NULL;
	size_t ndirs = 0, nobjs = 0;
	uint32_t flags = 0;
	int full = index_meta_get(t->txn, FULL_KEY, &b);
	int marked = full < 0 ? -1 : index_meta_get(t->txn, MARK_KEY, &mark);
	int rc = -1;

	t->by_verify = full == 0 && marked == 1 && b.len == 1 &&
	    b.data[0] == 'v';
	buf_release(&b);
	if (full < 0 || marked < 0 || (full == 1 && marked == 1)) {
		buf_release(&mark);
		return full < 0 || marked < 0 ? -1 : 0;
	}
	if (t->by_verify)
		log_info("verify found names that differ on %s: walking it to "
		    "rebuild the index", t->conn->peer);
	else if (full == 0)
		log_warn("the index did not match %s: rebuilding it from a "
		    "walk of the secondary", t->conn->peer);
	else
		log_warn("the last sync did not finish: walking %s to check "
		    "the index", t->conn->peer);
	t->reconciled = true;
	if (marked == 0 &&
	    decode_mark(&mark, &dirs, &ndirs, &objs, &nobjs, &flags) < 0) {
		log_err("a corrupt turn marker in the index");
		goto out;
	}
	/* The index found wrong, or an unfinished turn that crawled (it may
	 * have made anything anywhere): nothing short of a crawl finds what
	 * the walk removes.  A directed one made things only in the
	 * directories of its batch, which the next turn lists again. */
	t->reconcile_wide = full == 0 || !(flags & MARK_DIRECTED);
	rc = reconcile_full(t);
	if (t->strays_removed > STRAYS_SHOWN)
		log_info("removed %llu names unknown to the index from the "
		    "secondary (the first %d above; all of them at debug level)",
		    (unsigned long long)t->strays_removed, STRAYS_SHOWN);
	for (size_t i = 0; i < nobjs && rc == 0; i++)
		if (objs[i].flags & MARK_PUT)
			rc = resend(t, &objs[i].fid);
	if (rc == 0 && (index_meta_del(t->txn, FULL_KEY) < 0 ||
	    index_meta_del(t->txn, MARK_KEY) < 0))
		rc = -1;
	if (rc == 0)
		rc = turn_commit(t, 0);
out:
	buf_release(&mark);
	free(dirs);
	free(objs);
	return rc;
}

int
sync_request_walk(struct index_txn *txn)
{
	return index_meta_put(txn, FULL_KEY, "v", 1);
}

int
sync_forget_secondary(struct index_txn *txn)
{
	if (index_meta_del(txn, MARK_KEY) < 0 ||
	    index_meta_del(txn, FULL_KEY) < 0)
		return -1;
	return 0;
}
