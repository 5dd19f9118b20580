#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/log.h"
#include "../common/testhook.h"
#include "turn_int.h"
#include "../common/banned.h"


static void
keep_failure(struct sync_stats *st, const char *path, const char *msg)
{
	if (st->nfail == SYNC_FAILURES_KEPT)
		return;
	st->fail_path[st->nfail] = xstrdup(path && *path ? path : "(turn)");
	st->fail_error[st->nfail++] = xstrdup(msg);
}

void
turn_error(struct turn *t, const char *path, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	t->st->errors++;
	keep_failure(t->st, path, msg);
}

void
sync_stats_release(struct sync_stats *st)
{
	for (size_t i = 0; i < st->nfail; i++) {
		free(st->fail_path[i]);
		free(st->fail_error[i]);
	}
	st->nfail = 0;
	free(st->racy.v);
	memset(&st->racy, 0, sizeof(st->racy));
	free(st->owner_first);
	free(st->device_first);
	st->owner_first = st->device_first = NULL;
	st->owners_skipped = st->devices_skipped = 0;
	for (size_t i = 0; i < st->nmounts; i++)
		free(st->mounts[i]);
	free(st->mounts);
	st->mounts = NULL;
	st->nmounts = 0;
	for (size_t i = 0; i < st->nretry; i++)
		free(st->retry[i].name);
	free(st->retry);
	st->retry = NULL;
	st->nretry = st->capretry = 0;
}

void
turn_retry_at(struct turn *t, const struct fid *dir, const char *name,
    size_t len)
{
	struct sync_stats *st = t->st;

	if (dir == NULL || dir->len == 0 || fid_is_stage(dir))
		return;
	if (st->nretry >= SYNC_RETRY_MAX) {
		st->retry_overflow = true;
		return;
	}
	XGROW(st->retry, st->capretry, st->nretry + 1);
	st->retry[st->nretry].dir = *dir;
	st->retry[st->nretry++].name = len ? xstrndup(name, len) : NULL;
}

void
sync_racy_add(struct sync_racy_list *l, const struct fid *fid, int64_t seen)
{
	XGROW(l->v, l->cap, l->n + 1);
	l->v[l->n].fid = *fid;
	l->v[l->n++].seen = seen;
}

/*
 * Tests only (common/testhook.h): GEOREP_TEST_CRASH=entry|data|commit kills
 * this process with SIGKILL once the secondary has applied that part of
 * the turn and before the index commits it -- the window a crash recovery
 * must handle.
 * GEOREP_TEST_CRASH=reply:N kills it at the Nth reply to an operation of
 * the turn, anywhere in it (the secondary may have applied a few more).
 * With GEOREP_TEST_CRASH_FLAG=FILE as well, replies are counted across
 * the process's turns, only while FILE exists, and FILE is removed at the
 * crash: a daemon's worker dies once, at a point a test can choose.
 */
void
turn_crash_point(const char *where)
{
	test_crash_point(where);
}

/*
 * Tests only: GEOREP_TEST_HOLD=FILE holds a turn before its data (its
 * progress reported) while FILE exists, so that a test can look at a
 * turn in progress without racing it.
 */
void
turn_hold_point(struct turn *t)
{
	const char *flag = getenv("GEOREP_TEST_HOLD");

	while (flag && access(flag, F_OK) == 0 && !turn_stopped(t)) {
		struct timespec ts = { 0, 10 * 1000000 };
		turn_report(t, false);	/* as a long turn would */
		nanosleep(&ts, NULL);
	}
}

static void
crash_point_init(struct turn *t)
{
	const char *want = getenv("GEOREP_TEST_CRASH");
	char *end;

	if (want == NULL || strncmp(want, "reply:", 6) != 0)
		return;
	errno = 0;
	t->crash_after = strtoul(want + 6, &end, 10);
	if (errno || *end != '\0')
		fatal("GEOREP_TEST_CRASH=%s: not reply:N", want);
}

static void
crash_at_reply(struct turn *t)
{
	static unsigned long flagged_replies;	/* tests only */
	const char *flag = getenv("GEOREP_TEST_CRASH_FLAG");
	unsigned long n;

	if (t->crash_after == 0)
		return;
	if (flag != NULL) {
		if (access(flag, F_OK) < 0)
			return;
		n = ++flagged_replies;
	} else {
		n = ++t->replies;
	}
	if (n != t->crash_after)
		return;
	if (flag != NULL && unlink(flag) < 0)
		return;
	log_warn("GEOREP_TEST_CRASH=reply:%lu: killing myself",
	    t->crash_after);
	raise(SIGKILL);
}

bool
turn_stopped(const struct turn *t)
{
	return t->opts->stop != NULL && *t->opts->stop;
}

/* ---- paths ---- */

/*
 * Append the oref of (parent, name) on the secondary to b; *display gets a
 * printable path for messages (caller frees) if display is not NULL.
 * Returns 1 if the parent is not in the model (gone with an ancestor).
 */
int
turn_oref(struct turn *t, struct buf *b, const struct fid *parent,
    const char *name, size_t len, char **display)
{
	uint8_t base;
	uint64_t psino;
	int rc = index_path(t->txn, &t->tgt->root, parent, &t->path2, &base,
	    &psino);

	if (rc != 0)
		return rc;
	if (b)
		put_oref(b, base, (char *)t->path2.data, t->path2.len, psino,
		    name, len);
	if (display) {
		char *p = quote_name((char *)t->path2.data, t->path2.len);
		char *n = quote_name(name, len);
		*display = xasprintf("%s%s%s%s", base == BASE_STAGE ?
		    "(staging)/" : "", p, t->path2.len ? "/" : "", n);
		free(p);
		free(n);
	}
	return 0;
}

/* The first link of a known object, and its record (caller releases). */
int
turn_fid_link(struct turn *t, const struct fid *fid, struct plink *out,
    struct irec *rec)
{
	int rc = index_get(t->txn, fid, rec);

	if (rc != 0)
		return rc;
	if (rec->nlinks == 0) {
		irec_release(rec);
		return 1;
	}
	out->parent = rec->links[0].parent;
	out->name = crawl_intern(&t->crawl, rec->links[0].name,
	    rec->links[0].name_len);
	out->name_len = rec->links[0].name_len;
	return 0;
}

/* ---- the model: how each entry op changes the index ---- */

static void
stage_name(const struct fid *fid, char out[33])
{
	XXH128_hash_t h = XXH3_128bits(fid->bytes, fid->len);
	uint8_t b[16];

	memcpy(b, &h.high64, 8);
	memcpy(b + 8, &h.low64, 8);
	hex_encode(b, 16, out);
}

/* Drop fid and, for a directory, everything below it that has no other
 * link. */
static int
forget(struct index_txn *txn, const struct fid *fid)
{
	struct ichild_list kids = { 0 };
	struct irec rec;
	int rc = 0;

	if (index_children(txn, fid, &kids) < 0)
		return -1;
	for (size_t i = 0; i < kids.n && rc == 0; i++) {
		struct ichild *k = &kids.v[i];
		if (link_del(txn, &k->fid, fid, k->name, k->name_len) < 0) {
			rc = -1;
			break;
		}
		int g = index_get(txn, &k->fid, &rec);
		if (g < 0)
			rc = -1;
		else if (g == 0) {
			if (rec.nlinks == 0)
				rc = forget(txn, &k->fid);
			irec_release(&rec);
		}
	}
	ichild_list_release(&kids);
	if (rc == 0 && index_del(txn, fid) < 0)
		rc = -1;
	return rc;
}

int
turn_synced(struct turn *t, const struct fid *fid, uint32_t clear,
    uint32_t set)
{
	struct irec rec;
	int rc = index_get(t->txn, fid, &rec);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	uint32_t synced = (rec.synced & ~clear) | set;
	bool changed = synced != rec.synced;
	rec.synced = synced;
	rc = changed ? index_put(t->txn, fid, &rec) : 0;
	irec_release(&rec);
	return rc < 0 ? -1 : changed;
}

static void
irec_from_pobj(struct irec *r, const struct pobj *o)
{
	memset(r, 0, sizeof(*r));
	r->mode = o->mode;
	r->uid = o->uid;
	r->gid = o->gid;
	r->size = o->size;
	r->rdev = o->rdev;
	r->mtime_sec = o->mtime_sec;
	r->mtime_nsec = o->mtime_nsec;
	r->ctime_sec = o->ctime_sec;
	r->ctime_nsec = o->ctime_nsec;
}

static int
model_apply(struct turn *t, const struct mop *m)
{
	struct index_txn *txn = t->txn;
	const struct fid *fid = &m->o->fid;
	struct irec rec;
	struct fid stage;
	char sname[33];
	int rc;

	fid_set_stage(&stage);
	switch (m->type) {
	case M_STAGE:
		stage_name(fid, sname);
		if (link_del(txn, fid, &m->from.parent, m->from.name,
		    m->from.name_len) < 0)
			return -1;
		return link_add(txn, fid, &stage, sname, 32);
	case M_MOVE:
	case M_UNSTAGE:
		if (link_del(txn, fid, &m->from.parent, m->from.name,
		    m->from.name_len) < 0)
			return -1;
		return link_add(txn, fid, &m->to.parent, m->to.name,
		    m->to.name_len);
	case M_REMOVE:
		if (link_del(txn, fid, &m->from.parent, m->from.name,
		    m->from.name_len) < 0)
			return -1;
		rc = index_get(txn, fid, &rec);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0;
		rc = rec.nlinks == 0 ? forget(txn, fid) : 0;
		irec_release(&rec);
		return rc;
	case M_MKDIR:
	case M_SYMLINK:
	case M_MKNOD:
		irec_from_pobj(&rec, m->o);
		rec.sino = m->sino;
		if (index_put(txn, fid, &rec) < 0)
			return -1;
		return link_add(txn, fid, &m->to.parent, m->to.name,
		    m->to.name_len);
	case M_LINK:
		return link_add(txn, fid, &m->to.parent, m->to.name,
		    m->to.name_len);
	}
	return -1;
}

/* ---- planning ---- */

static struct mop *
mop_add(struct turn *t, uint8_t type, struct pobj *o)
{
	XGROW(t->mops, t->capmops, t->nmops + 1);
	struct mop *m = &t->mops[t->nmops++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->o = o;
	return m;
}

static bool
link_eq(const struct plink *a, const struct fid *parent, const char *name,
    size_t len)
{
	return fid_eq(&a->parent, parent) && a->name_len == len &&
	    memcmp(a->name, name, len) == 0;
}

static bool
in_links(const struct plink *v, uint32_t n, const struct fid *parent,
    const char *name, size_t len)
{
	for (uint32_t i = 0; i < n; i++)
		if (link_eq(&v[i], parent, name, len))
			return true;
	return false;
}

/* Whether a link of the index is confirmed present on the primary: its
 * directory was listed and the link was not found removed -- or, in a
 * directed crawl, its directory was not listed (nothing changed there)
 * and is not going away.  Once the crawl handed a model over (crawl.h,
 * flush), a directory it does not hold may have been listed before: the
 * link is taken as kept.  Should the crawl find it removed further on,
 * that is a removal then, and the new name is a link now: the same end. */
static bool
link_confirmed(struct turn *t, const struct pobj *o, const struct ilink *l)
{
	struct pobj *dir = crawl_find(&t->crawl, &l->parent);

	if (dir == NULL && t->crawl.flushes > 0)
		return !crawl_removed_above(&t->crawl, t->txn, &l->parent);
	if (dir == NULL || !(dir->flags & POBJ_VISITED))
		return t->crawl.directed &&
		    !crawl_removed_above(&t->crawl, t->txn, &l->parent);
	if (dir->flags & POBJ_UNREADABLE)
		return false;
	return !in_links(o->removed, o->nremoved, &l->parent, l->name,
	    l->name_len);
}

/* Is dir inside (or equal to) the subtree of fid, in the model now? */
static bool
inside(struct turn *t, const struct fid *dir, const struct fid *fid)
{
	struct fid cur = *dir;
	struct irec rec;

	for (int depth = 0; depth < 100000; depth++) {
		if (fid_eq(&cur, fid))
			return true;
		if (fid_eq(&cur, &t->tgt->root) || fid_is_stage(&cur))
			return false;
		if (index_get(t->txn, &cur, &rec) != 0)
			return false;
		if (rec.nlinks == 0) {
			irec_release(&rec);
			return false;
		}
		cur = rec.links[0].parent;
		irec_release(&rec);
	}
	return true;
}

struct plan {
	/* indices into t->crawl.objs, per step */
	struct pobj **moves;
	struct plink *move_from;
	size_t nmoves, cap_moves, cap_from;
};

/* What one known object's links turn into. */
static void
plan_known(struct turn *t, struct pobj *o, const struct irec *rec,
    struct plan *p, struct mop ***removes, size_t *nremoves, size_t *capr)
{
	const struct plink *src = NULL;
	struct plink unconfirmed;
	bool kept = false;

	for (uint32_t i = 0; i < rec->nlinks && !kept; i++)
		kept = link_confirmed(t, o, &rec->links[i]);
	/* A directory with a new name moved, whatever else the crawl saw. */
	if (S_ISDIR(rec->mode))
		kept = false;
	if (o->nadded > 0 && !kept) {
		/* It moves: from a removed link, else from a link in a
		 * directory that is gone. */
		if (o->nremoved > 0) {
			src = &o->removed[0];
		} else if (rec->nlinks > 0) {
			unconfirmed.parent = rec->links[0].parent;
			unconfirmed.name = crawl_intern(&t->crawl,
			    rec->links[0].name, rec->links[0].name_len);
			unconfirmed.name_len = rec->links[0].name_len;
			src = &unconfirmed;
		}
		if (src) {
			XGROW(p->moves, p->cap_moves, p->nmoves + 1);
			XGROW(p->move_from, p->cap_from, p->nmoves + 1);
			p->moves[p->nmoves] = o;
			p->move_from[p->nmoves++] = *src;
		}
	}
	for (uint32_t i = 0; i < o->nremoved; i++) {
		if (src && link_eq(src, &o->removed[i].parent,
		    o->removed[i].name, o->removed[i].name_len))
			continue;
		/* Only links the index really has (a name that vanished
		 * during the crawl may be reported twice). */
		bool present = false;
		for (uint32_t k = 0; k < rec->nlinks && !present; k++)
			present = fid_eq(&rec->links[k].parent,
			    &o->removed[i].parent) &&
			    rec->links[k].name_len == o->removed[i].name_len &&
			    memcmp(rec->links[k].name, o->removed[i].name,
			    o->removed[i].name_len) == 0;
		if (!present)
			continue;
		*removes = xgrow(*removes, capr, *nremoves + 1,
		    sizeof(**removes));
		struct mop *m = xcalloc(1, sizeof(*m));
		m->type = M_REMOVE;
		m->o = o;
		m->from = o->removed[i];
		(*removes)[(*nremoves)++] = m;
	}
}

/* Is (parent, name) taken by an object created or moved in this turn? */
static bool
name_reused(struct turn *t, const struct plink *l)
{
	struct pobj *dir = crawl_find(&t->crawl, &l->parent);

	if (dir == NULL || !(dir->flags & POBJ_DIRTY))
		return false;
	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		if (in_links(o->added, o->nadded, &l->parent, l->name,
		    l->name_len))
			return true;
	}
	return false;
}

static int
build_plan(struct turn *t)
{
	struct plan p = { 0 };
	struct mop **removes = NULL;
	size_t nremoves = 0, capr = 0;
	struct irec rec;

	/* A directory has one name.  Two new ones mean it was renamed while
	 * the crawl ran: keep the name seen last (the next turn corrects it,
	 * should that one be stale too). */
	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		if (S_ISDIR(o->mode) && o->nadded > 1) {
			o->added[0] = o->added[o->nadded - 1];
			o->nadded = 1;
		}
	}

	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		if (o->nadded == 0 && o->nremoved == 0)
			continue;
		int rc = index_get(t->txn, &o->fid, &rec);
		if (rc < 0)
			return -1;
		if (rc == 0 && rec.nlinks == 0 && !S_ISDIR(rec.mode) &&
		    o->nadded > 0) {
			/* Known, but nowhere on the secondary (a reconcile took
			 * its last name): created again, like a new one. */
			irec_release(&rec);
			rc = 1;
		}
		if (rc == 0) {
			o->flags |= POBJ_KNOWN;
			o->sino = rec.sino;
			plan_known(t, o, &rec, &p, &removes, &nremoves, &capr);
			irec_release(&rec);
		} else {
			o->flags &= ~POBJ_KNOWN;
			o->flags |= POBJ_ATTRS | (S_ISREG(o->mode) ? POBJ_DATA : 0);
		}
	}
	/* 1. Moves: straight when the new name is free now, else staged. */
	for (size_t i = 0; i < p.nmoves; i++) {
		struct pobj *o = p.moves[i];
		struct plink *to = &o->added[0];
		struct fid occupant, stage;
		struct mop *m;
		bool direct = index_child_get(t->txn, &to->parent, to->name,
		    to->name_len, &occupant) == 1 &&
		    index_get(t->txn, &to->parent, &rec) == 0;
		if (direct) {
			irec_release(&rec);
			direct = !inside(t, &to->parent, &o->fid);
		}
		m = mop_add(t, direct ? M_MOVE : M_STAGE, o);
		m->from = p.move_from[i];
		if (direct) {
			m->to = *to;
		} else {
			char sname[33];
			stage_name(&o->fid, sname);
			fid_set_stage(&stage);
			m->to.parent = stage;
			m->to.name = crawl_intern(&t->crawl, sname, 32);
			m->to.name_len = 32;
		}
		/* Applied to the model now, so later choices see it. */
		if (model_apply(t, m) < 0)
			return -1;
		m->state = 2;	/* planned and modelled, not sent */
	}
	/* 2. Removals, deepest first. */
	for (size_t i = nremoves; i-- > 0; ) {
		if (t->opts->ignore_deletes && !name_reused(t, &removes[i]->from)) {
			free(removes[i]);
			continue;
		}
		struct mop *m = mop_add(t, M_REMOVE, removes[i]->o);
		m->from = removes[i]->from;
		free(removes[i]);
	}
	free(removes);
	/* 3. Creations of everything but regular files, parents first. */
	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		if ((o->flags & POBJ_KNOWN) || o->nadded == 0 || S_ISREG(o->mode))
			continue;
		uint8_t type = S_ISDIR(o->mode) ? M_MKDIR :
		    S_ISLNK(o->mode) ? M_SYMLINK : M_MKNOD;
		if (type == M_MKNOD && !S_ISFIFO(o->mode) && !S_ISSOCK(o->mode) &&
		    (t->opts->no_devices || !t->tgt->secondary_privileged)) {
			/* Counted unless left out on purpose, and named
			 * once the model has its directory (report_skipped). */
			if (!t->opts->no_devices && t->skipped_device++ == 0)
				t->first_device = o;
			continue;
		}
		if (type == M_SYMLINK && o->target == NULL)
			continue;	/* readlink failed: reported */
		mop_add(t, type, o)->to = o->added[0];
	}
	/* 4. Out of staging. */
	for (size_t i = 0; i < t->nmops; i++) {
		struct mop *s = &t->mops[i];
		if (s->type != M_STAGE)
			continue;
		struct pobj *o = s->o;
		struct mop *m = mop_add(t, M_UNSTAGE, o);
		m->from = t->mops[i].to;
		m->to = o->added[0];
	}
	/* 5. New names of existing objects (and of new non-regular ones). */
	for (size_t i = 0; i < t->crawl.nobjs; i++) {
		struct pobj *o = t->crawl.objs[i];
		if (o->nadded == 0 || (!(o->flags & POBJ_KNOWN) &&
		    S_ISREG(o->mode)))
			continue;
		bool moved = false;
		for (size_t k = 0; k < p.nmoves && !moved; k++)
			moved = p.moves[k] == o;
		for (uint32_t a = (moved || !(o->flags & POBJ_KNOWN)) ? 1 : 0;
		    a < o->nadded; a++)
			mop_add(t, M_LINK, o)->to = o->added[a];
	}
	free(p.moves);
	free(p.move_from);
	return 0;
}

/* ---- entry phase ---- */

static const char *
mop_verb(uint8_t type)
{
	switch (type) {
	case M_STAGE:	return "stage";
	case M_MOVE:	return "rename";
	case M_UNSTAGE:	return "rename";
	case M_REMOVE:	return "delete";
	case M_MKDIR:	return "mkdir";
	case M_SYMLINK:	return "symlink";
	case M_MKNOD:	return "mknod";
	case M_LINK:	return "link";
	}
	return "?";
}

static void
mop_on_reply(struct turn *t, size_t idx, const struct reply *rep)
{
	struct mop *m = &t->mops[idx];

	turn_report(t, false);
	if (rep->err == 0) {
		m->state = 1;
		if (m->type == M_MKDIR || m->type == M_SYMLINK ||
		    m->type == M_MKNOD) {
			struct irec rec;
			m->sino = rep->value;
			m->o->sino = rep->value;
			if (index_get(t->txn, &m->o->fid, &rec) == 0) {
				rec.sino = rep->value;
				if (index_put(t->txn, &m->o->fid, &rec) < 0)
					t->fatal = true;
				irec_release(&rec);
			}
		}
		if (m->type == M_REMOVE)
			t->st->removed++;
		else if (m->type == M_MKDIR || m->type == M_SYMLINK ||
		    m->type == M_MKNOD)
			t->st->created++;
		else if (m->type != M_STAGE && (m->type != M_LINK ||
		    (m->o->flags & POBJ_KNOWN)))
			t->st->changed++;	/* a move (staged: once), a new
						 * name of a file made before */
		t->st->entries++;
		return;
	}
	m->state = -1;
	/* Not done, cancelled or failed: looked at again next turn. */
	turn_retry_at(t, &m->to.parent, m->to.name, m->to.name_len);
	turn_retry_at(t, &m->from.parent, m->from.name, m->from.name_len);
	if (rep->err == ECANCELED)
		return;
	if (rep->err == ESTALE)
		t->stale = true;
	t->entry_failed = true;
	char *disp = NULL;
	const struct plink *l = m->type == M_REMOVE ? &m->from : &m->to;
	turn_oref(t, NULL, &l->parent, l->name, l->name_len, &disp);
	turn_error(t, disp, "%s failed on the secondary: %.*s",
	    mop_verb(m->type), (int)rep->msg_len, rep->msg ? rep->msg : "");
	free(disp);
}

static void
on_reply(void *arg, const struct pending_req *req, const struct reply *rep)
{
	struct turn *t = arg;

	switch (COOKIE_KIND(req->cookie)) {
	case COOKIE_MOP:
		crash_at_reply(t);
		mop_on_reply(t, COOKIE_IDX(req->cookie), rep);
		break;
	case COOKIE_DOP:
		crash_at_reply(t);
		data_on_reply(t, COOKIE_IDX(req->cookie), rep);
		break;
	case COOKIE_SIG:
		delta_on_signature(t, rep);
		break;
	case COOKIE_STRAY:
		if (rep->err)
			turn_error(t, NULL, "removing a leftover on the secondary "
			    "failed: %.*s", (int)rep->msg_len, rep->msg);
		break;
	case COOKIE_COMMIT:
		if (rep->err) {
			turn_error(t, NULL, "commit failed on the secondary: %.*s",
			    (int)rep->msg_len, rep->msg ? rep->msg : "");
			t->fatal = true;
		}
		break;
	default:
		break;
	}
}

void
turn_say(struct turn *t, const char *verb, const char *path,
    const char *extra)
{
	if (t->opts->verbose_log)
		log_debug("%s %s%s%s", verb, path, extra ? " " : "", extra ?
		    extra : "");
	else
		printf("%s %s%s%s\n", verb, path, extra ? " " : "", extra ?
		    extra : "");
}

static int
send_mop(struct turn *t, size_t idx)
{
	struct mop *m = &t->mops[idx];
	struct buf *out = &t->conn->out;
	struct irec rec;
	char *from = NULL, *to = NULL;
	uint8_t type;
	size_t start = 0;
	int rc;
	bool dry = t->opts->dry_run;

	switch (m->type) {
	case M_MKDIR:	type = MSG_MKDIR; break;
	case M_SYMLINK:	type = MSG_SYMLINK; break;
	case M_MKNOD:	type = MSG_MKNOD; break;
	case M_LINK:	type = MSG_LINK; break;
	case M_REMOVE:	type = MSG_UNLINK; break;
	default:	type = MSG_RENAME; break;
	}
	if (m->type == M_REMOVE) {
		rc = index_get(t->txn, &m->o->fid, &rec);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			m->state = 1;	/* gone with a directory above it */
			return 0;
		}
		if (S_ISDIR(rec.mode))
			type = MSG_RMTREE;
		m->o->sino = rec.sino;
		irec_release(&rec);
	}
	if (m->type == M_LINK) {
		struct plink src;
		rc = turn_fid_link(t, &m->o->fid, &src, &rec);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		m->from = src;
		m->o->sino = rec.sino;
		irec_release(&rec);
	}
	if (m->type == M_REMOVE && turn_oref(t, NULL, &m->from.parent,
	    m->from.name, m->from.name_len, NULL) == 1) {
		/* Its directory went before it: nothing to send. */
		m->state = 1;
		return model_apply(t, m);
	}
	bool has_from = m->type != M_MKDIR && m->type != M_SYMLINK &&
	    m->type != M_MKNOD;
	/* A directed turn sees only part of the primary: a directory that
	 * left a listed one for one not listed yet looks removed, and what
	 * goes into it has nowhere to go.  Skipped, and the turn runs again
	 * with the records that say where it went. */
	if ((has_from && (rc = turn_oref(t, NULL, &m->from.parent,
	    m->from.name, m->from.name_len, NULL)) != 0) ||
	    (m->type != M_REMOVE && (rc = turn_oref(t, NULL, &m->to.parent,
	    m->to.name, m->to.name_len, NULL)) != 0)) {
		if (rc < 0)
			return -1;
		if (!t->crawl.directed)
			goto unresolved;
		log_debug("%s: a directory is not in the model yet: the turn "
		    "runs again", mop_verb(m->type));
		t->incomplete = true;
		m->state = 1;
		return 0;
	}
	if (!dry)
		start = conn_begin(t->conn, type, COOKIE_MOP | idx, true);
	if (has_from) {
		rc = turn_oref(t, dry ? NULL : out, &m->from.parent, m->from.name,
		    m->from.name_len, &from);
		if (rc != 0)
			goto unresolved;
		if (!dry)
			put_u64(out, m->o->sino);
	}
	if (m->type != M_REMOVE) {
		rc = turn_oref(t, dry ? NULL : out, &m->to.parent, m->to.name,
		    m->to.name_len, &to);
		if (rc != 0)
			goto unresolved;
	}
	if (!dry) {
		if (m->type == M_MKDIR)
			put_u32(out, m->o->mode & 07777);
		else if (m->type == M_SYMLINK)
			put_str(out, m->o->target);
		else if (m->type == M_MKNOD) {
			put_u32(out, m->o->mode);
			put_u64(out, m->o->rdev);
		}
	}
	if (dry || t->opts->verbose) {
		if (m->type == M_STAGE) {
			/* Shown when it reaches its new name. */
			m->shown_from = from;
			from = NULL;
		} else if (has_from && m->type != M_REMOVE) {
			const char *src = from;
			for (size_t k = 0; m->type == M_UNSTAGE && k < idx; k++)
				if (t->mops[k].type == M_STAGE &&
				    t->mops[k].o == m->o && t->mops[k].shown_from)
					src = t->mops[k].shown_from;
			char *arrow = xasprintf("-> %s", to);
			turn_say(t, mop_verb(m->type), src, arrow);
			free(arrow);
		} else {
			char *target = m->type == M_SYMLINK ? quote_name(
			    m->o->target, strlen(m->o->target)) : NULL;
			turn_say(t, mop_verb(m->type), has_from ? from : to,
			    target);
			free(target);
		}
	}
	free(from);
	free(to);
	if (model_apply(t, m) < 0)
		return -1;
	if (dry) {
		m->state = 1;
		return 0;
	}
	m->state = 0;
	return conn_end(t->conn, start);
unresolved:
	free(from);
	free(to);
	fatal("internal error: %s of an object whose directory is not in the "
	    "model", mop_verb(m->type));
}

/* Rebuild the model from the operations that took effect, in order. */
static int
replay_model(struct turn *t)
{
	index_abort(t->txn);
	t->txn = NULL;
	if (index_begin(t->ix, true, &t->txn) < 0)
		return -1;
	for (size_t i = 0; i < t->nmops; i++) {
		if (t->mops[i].state != 1)
			continue;
		if (model_apply(t, &t->mops[i]) < 0)
			return -1;
	}
	return 0;
}

/* Send entry operations from first on, wait for them, and if one failed,
 * rebuild the model from those that took effect. */
int
turn_entry_ops(struct turn *t, size_t first)
{
	for (size_t i = first; i < t->nmops && !t->conn->failed; i++) {
		if (turn_stopped(t) || send_mop(t, i) < 0)
			return -1;
	}
	if (t->opts->dry_run)
		return 0;
	if (conn_wait_all(t->conn) < 0 || t->fatal)
		return -1;
	if (t->entry_failed && replay_model(t) < 0)
		return -1;
	return 0;
}

int
turn_commit(struct turn *t, int64_t sync_point)
{
	size_t s = conn_begin(t->conn, MSG_COMMIT, COOKIE_COMMIT, true);

	put_u64(&t->conn->out, (uint64_t)sync_point);
	put_u32(&t->conn->out, t->opts->no_fsync ? COMMIT_NOSYNC : 0);
	if (conn_end(t->conn, s) < 0 || conn_wait_all(t->conn) < 0 || t->fatal)
		return -1;
	if (sync_point != 0)
		turn_crash_point("commit");
	if (index_commit(t->txn) < 0) {
		t->txn = NULL;
		return -1;
	}
	t->txn = NULL;
	t->acked_since_commit = 0;
	t->committed_at = mono_ns();
	return index_begin(t->ix, true, &t->txn);
}

/* ---- the turn ---- */

/* The first device node skipped, named while the model holds it (a flush
 * hands the model over before the turn ends). */
static void
name_first_device(struct turn *t)
{
	const struct pobj *d = t->first_device;
	char *disp = NULL;

	if (d == NULL)
		return;
	t->first_device = NULL;
	if (t->st->device_first != NULL)
		return;
	if (turn_oref(t, NULL, &d->added[0].parent, d->added[0].name,
	    d->added[0].name_len, &disp) != 0)
		disp = quote_name(d->added[0].name, d->added[0].name_len);
	t->st->device_first = disp;
}

/*
 * What the secondary could not hold, once per category and turn: how many
 * paths, and the first.  Not failures (the rest of the turn and its sync
 * point stand), but the replica is not exact, and `georep sync` says so in
 * its exit status.
 */
static void
report_skipped(struct turn *t)
{
	struct sync_stats *st = t->st;

	name_first_device(t);
	if (t->skipped_device) {
		const char *disp = st->device_first ? st->device_first : "?";
		st->devices_skipped = t->skipped_device;
		log_warn("%llu device %s not replicated (the secondary runs "
		    "without the privilege to make them), the first: %s; "
		    "--no-devices leaves them out on purpose",
		    (unsigned long long)t->skipped_device,
		    plural(t->skipped_device, "node", "nodes"), disp);
	}
	if (st->owners_skipped)
		log_warn("%llu %s not replicated (the secondary runs without "
		    "privilege: what it makes is owned by uid %u, gid %u), the "
		    "first: %s; --no-owners leaves owners out on purpose",
		    (unsigned long long)st->owners_skipped,
		    plural(st->owners_skipped, "owner", "owners"),
		    t->tgt->secondary_uid, t->tgt->secondary_gid,
		    st->owner_first);
}

/*
 * Mount points and subvolumes inside the primary are never entered (fids
 * are unique within one filesystem): a failure each, with its path and the
 * reason, unless --one-file-system asked for it.  Every one goes into the
 * stats for the caller's summary.
 */
static void
report_mounts(struct turn *t)
{
	const struct crawl *c = &t->crawl;
	struct sync_stats *st = t->st;

	st->mounts = xcalloc(c->nmounts + 1, sizeof(*st->mounts));
	for (size_t i = 0; i < c->nmounts; i++) {
		const struct crawl_mount *m = &c->mounts[i];
		char *q = quote_name(m->path, strlen(m->path));
		const char *what = m->subvolume ? "a subvolume (another "
		    "device number)" : "a mount point (another filesystem)";
		st->mounts[st->nmounts++] = q;
		if (t->opts->one_file_system)
			log_info("%s: %s: not descending (--one-file-system)",
			    q, what);
		else
			turn_error(t, q, "%s: %s: not descending; "
			    "--one-file-system to skip it on purpose", q, what);
	}
}

/* The racy files the caller names, unless this turn looked at them (then
 * it decided for itself): no change of theirs went unrecorded. */
static int
settle_racy(struct turn *t, size_t *settled)
{
	for (size_t i = 0; i < t->opts->nsettle; i++) {
		const struct fid *fid = &t->opts->settle[i];
		if (crawl_find(&t->crawl, fid) != NULL)
			continue;
		int rc = turn_synced(t, fid, IREC_RACY, 0);
		if (rc < 0)
			return -1;
		*settled += (size_t)rc;
	}
	return 0;
}

/*
 * Apply the model the crawl holds: plan, entry operations, content and
 * attributes, directories' attributes.  0, or -1 when the turn cannot go
 * on (stopped, the index or the connection failed).
 */
static int
apply_model(struct turn *t)
{
	/* Planning models moves to choose between a straight rename and
	 * staging: in a nested transaction, thrown away after. */
	struct index_txn *parent = t->txn;
	if (index_begin_child(parent, &t->txn) < 0) {
		t->txn = parent;
		return -1;
	}
	int rc = build_plan(t);
	index_abort(t->txn);
	t->txn = parent;
	if (rc < 0)
		return -1;
	/* Stopped during the crawl: the secondary is untouched, and no
	 * marker makes the next turn walk it for nothing. */
	if (turn_stopped(t))
		return -1;
	turn_report(t, true);
	/* The marker is durable before the secondary changes. */
	if (!t->opts->dry_run && !t->marked) {
		if (turn_mark(t) < 0 || index_commit(t->txn) < 0) {
			t->txn = NULL;
			return -1;
		}
		if (index_begin(t->ix, true, &t->txn) < 0) {
			t->txn = NULL;
			return -1;
		}
	}
	if (turn_entry_ops(t, 0) < 0)
		return -1;
	turn_crash_point("entry");
	t->entries_done_at = mono_ns();
	if (!t->entry_failed && (data_phase(t) < 0 || dirattr_phase(t) < 0))
		return -1;
	return 0;
}

/* The operations of one model, once applied. */
static void
forget_ops(struct turn *t)
{
	for (size_t i = 0; i < t->nmops; i++)
		free(t->mops[i].shown_from);
	t->ops_applied += t->nmops + t->ndops;
	t->nmops = t->ndops = 0;
}

/* The most objects a full crawl holds before it hands them over; a test
 * may ask for fewer (GEOREP_TEST_FLUSH_OBJS), so that small trees stream
 * too. */
#define TURN_FLUSH_OBJS	8192

static size_t
flush_objs(void)
{
	const char *v = getenv("GEOREP_TEST_FLUSH_OBJS");
	char *end;

	if (v == NULL)
		return TURN_FLUSH_OBJS;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end != '\0' || n == 0)
		fatal("GEOREP_TEST_FLUSH_OBJS=%s: not a positive number", v);
	return n;
}

/* crawl_opts.flush: apply what the crawl found so far and commit it (no
 * sync point: the crawl is not over), so that the crawl can forget it. */
static int
flush_model(void *arg, struct crawl *c, struct index_txn **txn)
{
	struct turn *t = arg;

	if (turn_stopped(t) || t->fatal)
		return -1;
	if (apply_model(t) < 0)
		return -1;
	name_first_device(t);
	/* The commit also ends the secondary's cancelling of entry
	 * operations after one failed: what failed is reported, and what
	 * depended on it is left to the next turn (no sync point). */
	if (turn_commit(t, 0) < 0)
		return -1;
	*txn = t->txn;
	forget_ops(t);
	if (t->entry_failed) {
		t->entry_failed = false;
		t->incomplete = true;
	}
	if (t->stale)
		c->no_flush = true;	/* the next turn reconciles */
	return 0;
}

/* The crawl listed a directory: the turn's progress, now and then. */
static void
crawl_tick(void *arg, uint64_t files_seen, uint64_t dirs_seen)
{
	struct turn *t = arg;

	(void)files_seen;
	(void)dirs_seen;	/* the crawl in t has them */
	turn_report(t, false);
}

int
sync_turn(const struct sync_opts *o, const struct sync_target *tgt,
    struct index *ix, struct conn *c, struct sync_stats *st)
{
	struct turn t;
	struct crawl_opts copts = { .excludes = o->excludes,
	    .nexcludes = o->nexcludes, .no_owners = o->no_owners,
	    .no_devices = o->no_devices,
	    .deep = o->deep, .ndeep = o->ndeep, .tick = crawl_tick };
	int64_t sync_point = o->sync_point ? o->sync_point : now_ns();
	/* When each phase ended, for the debug log: where a turn's time
	 * goes. */
	int64_t at_start = mono_ns(), at_crawl = 0, at_entry = 0, at_data = 0;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	t.committed_at = mono_ns();
	copts.tick_arg = &t;
	t.opts = o;
	t.tgt = tgt;
	t.conn = c;
	t.ix = ix;
	t.st = st;
	t.privileged = geteuid() == 0;
	crash_point_init(&t);
	c->on_reply = on_reply;
	c->arg = &t;
	resolve_init(&t.pres, tgt->rootfd, tgt->rootfd);
	if (index_begin(ix, true, &t.txn) < 0)
		goto out;
	if (!o->dry_run && reconcile_start(&t) < 0)
		goto out;
	bool directed = o->directed && !(t.reconciled && t.reconcile_wide);
	if (o->directed && t.reconciled)
		log_info(directed ? "after the walk, the turn lists the "
		    "directories its records name" : "after the walk, the turn "
		    "crawls the whole primary (what was forgotten lies beyond "
		    "the directories its records name)");
	if (!directed && !o->dry_run) {
		/* A full crawl hands over what it found every so often, so
		 * that a first copy streams (crawl.h, crawl_opts.flush). */
		copts.flush = flush_model;
		copts.flush_arg = &t;
		copts.flush_objs = flush_objs();
	}
	rc = directed ? crawl_dirs_names(&t.crawl, &copts, tgt->rootfd,
	    tgt->fsid, &tgt->root, t.txn, o->dirs, o->dirnames, o->ndirs) : 0;
	if (rc == 0 && (!directed || t.crawl.need_full)) {
		if (directed)
			log_debug("a directory to list moved out of sight: "
			    "the turn crawls the whole primary");
		crawl_release(&t.crawl);
		rc = crawl_run(&t.crawl, &copts, tgt->rootfd, tgt->fsid,
		    &tgt->root, t.txn);
	}
	if (rc < 0) {
		rc = -1;
		if (!t.crawl.stopped)
			log_sys(LOG_LVL_ERR, "crawl of the primary");
		goto out;
	}
	rc = -1;
	at_crawl = mono_ns();
	t.crawled = true;
	t.incomplete |= t.crawl.incomplete;
	st->files_seen = t.crawl.seen_files;
	st->dirs_seen = t.crawl.seen_dirs;
	st->errors += t.crawl.nerrors;
	for (size_t i = 0; i < t.crawl.nerrors; i++) {
		char *msg = xasprintf("%s %s: %s", t.crawl.errors[i].what,
		    t.crawl.errors[i].path, strerror(t.crawl.errors[i].err));
		keep_failure(st, t.crawl.errors[i].path, msg);
		free(msg);
	}
	report_mounts(&t);
	if (apply_model(&t) < 0)
		goto out;
	at_entry = t.entries_done_at;
	report_skipped(&t);
	if (o->dry_run) {
		rc = st->errors ? SYNC_PARTIAL : SYNC_DONE;
		goto out;
	}
	turn_crash_point("data");
	at_data = mono_ns();
	turn_report(&t, true);
	size_t settled = 0;
	if (settle_racy(&t, &settled) < 0)
		goto out;
	if (settled)
		log_debug("turn: %zu racy %s settled (no change recorded "
		    "since they were sent)", settled,
		    plural(settled, "file", "files"));
	/* A turn that found nothing to do touches nothing: no syncfs on the
	 * secondary, no index commit.  (The secondary's recorded sync point is
	 * that of the last turn that changed it; status has the newer one.) */
	bool idle = t.nmops == 0 && t.ndops == 0 && !t.marked && !t.stale &&
	    st->errors == 0 && !t.incomplete && settled == 0;
	/* A sync point only when everything made it; the marker goes with
	 * the last commit either way (unless the secondary said ESTALE). */
	if (!idle && (turn_unmark(&t) < 0 || (t.stale &&
	    reconcile_mark_full(&t) < 0) ||
	    turn_commit(&t, st->errors || t.incomplete ? 0 : sync_point) < 0))
		goto out;
	rc = t.stale ? SYNC_STALE : st->errors || t.incomplete ? SYNC_PARTIAL :
	    SYNC_DONE;
	if (t.incomplete)
		log_debug("the turn did not find everything where it looked: "
		    "it runs again");
	if (rc == SYNC_DONE)
		st->sync_point = sync_point;
	if (t.crawl.flushes)
		log_debug("turn: the crawl handed over %llu models on the way "
		    "(%zu operations)", (unsigned long long)t.crawl.flushes,
		    t.ops_applied);
	log_debug("turn: entry operations %zu, data operations %zu; crawl "
	    "%lld ms, plan and entries %lld ms, data %lld ms, commit %lld ms",
	    t.nmops, t.ndops, (long long)(at_crawl - at_start) / 1000000,
	    (long long)(at_entry - at_crawl) / 1000000,
	    (long long)(at_data - at_entry) / 1000000,
	    (long long)(mono_ns() - at_data) / 1000000);
out:
	if (o->progress)
		progress_update(&t, true);
	if (rc < 0 && c->failed)
		log_err("%s", c->error);
	/* The marker stays in the index: the next turn reconciles. */
	st->unfinished = rc < 0 && t.marked;
	index_abort(t.txn);
	crawl_release(&t.crawl);
	resolve_release(&t.pres);
	for (size_t i = 0; i < t.nmops; i++)
		free(t.mops[i].shown_from);
	free(t.mops);
	free(t.dops);
	buf_release(&t.path);
	buf_release(&t.path2);
	buf_release(&t.sig.data);
	c->on_reply = NULL;
	return rc;
}
