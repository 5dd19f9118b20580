#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/log.h"
#include "../common/names.h"
#include "../common/resolve.h"
#include "../common/fid.h"
#include "../index/index.h"
#include "crawl.h"
#include "../common/banned.h"

#define ARENA_SIZE (1u << 20)

/* ---- the fid table ---- */

static size_t
fid_hash(const struct fid *f)
{
	return (size_t)XXH3_64bits(f->bytes, f->len);
}

struct pobj *
crawl_find(struct crawl *c, const struct fid *fid)
{
	if (c->table_cap == 0)
		return NULL;
	for (size_t i = fid_hash(fid) & (c->table_cap - 1); c->table[i];
	    i = (i + 1) & (c->table_cap - 1))
		if (fid_eq(&c->table[i]->fid, fid))
			return c->table[i];
	return NULL;
}

static void
table_insert(struct crawl *c, struct pobj *o)
{
	size_t i = fid_hash(&o->fid) & (c->table_cap - 1);

	while (c->table[i])
		i = (i + 1) & (c->table_cap - 1);
	c->table[i] = o;
}

static struct pobj *
pobj_get(struct crawl *c, const struct fid *fid, bool *created)
{
	struct pobj *o = crawl_find(c, fid);

	*created = false;
	if (o)
		return o;
	/* Rehashed into a new table, a power of two (the index is a mask),
	 * rather than grown in place with XGROW.  No overflow: xcalloc
	 * refuses a size that does not fit, so table_cap < SIZE_MAX / 8. */
	if ((c->nobjs + 1) * 2 > c->table_cap) {
		struct pobj **old = c->table;
		size_t oldcap = c->table_cap;
		c->table_cap = oldcap ? oldcap * 2 : 1024;
		c->table = xcalloc(c->table_cap, sizeof(*c->table));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i])
				table_insert(c, old[i]);
		free(old);
	}
	XGROW(c->objs, c->cap_objs, c->nobjs + 1);
	o = xcalloc(1, sizeof(*o));
	o->fid = *fid;
	c->objs[c->nobjs++] = o;
	table_insert(c, o);
	*created = true;
	return o;
}

const char *
crawl_intern(struct crawl *c, const char *s, size_t n)
{
	if (n > c->arena_left) {
		XGROW(c->arenas, c->cap_arenas, c->narenas + 1);
		c->arena_pos = c->arenas[c->narenas++] = xmalloc(ARENA_SIZE);
		c->arena_left = ARENA_SIZE;
	}
	char *p = c->arena_pos;
	memcpy(p, s, n);
	c->arena_pos += n;
	c->arena_left -= n;
	return p;
}

static void
add_link(struct crawl *c, struct plink **v, uint32_t *n, uint32_t *cap,
    const struct fid *parent, const char *name, size_t len)
{
	/* The counts are 32-bit to keep struct pobj small; no object has
	 * 2^32 names. */
	if (*n == UINT32_MAX)
		fatal("internal error: 2^32 links of one object");
	size_t grown = *cap;
	*v = xgrow(*v, &grown, (size_t)*n + 1, sizeof(**v));
	*cap = grown > UINT32_MAX ? UINT32_MAX : (uint32_t)grown;
	struct plink *l = &(*v)[(*n)++];
	l->parent = *parent;
	l->name = crawl_intern(c, name, len);
	l->name_len = (uint8_t)len;
}

void
crawl_add_error(struct crawl *c, const char *path, int err, const char *what)
{
	XGROW(c->errors, c->cap_errors, c->nerrors + 1);
	c->errors[c->nerrors].path = xstrdup(path);
	c->errors[c->nerrors].err = err;
	c->errors[c->nerrors].what = what;
	c->nerrors++;
	log_err("%s %s: %s", what, path, strerror(err));
}

/* ---- excludes ---- */

bool
exclude_match(const struct crawl_opts *o, const char *relpath,
    const char *name, bool is_dir)
{
	char pat[4096];

	for (size_t i = 0; i < o->nexcludes; i++) {
		size_t n = strlen(o->excludes[i]);
		if (n == 0 || n >= sizeof(pat))
			continue;
		memcpy(pat, o->excludes[i], n + 1);
		if (pat[n - 1] == '/') {
			if (!is_dir)
				continue;
			pat[--n] = '\0';
		}
		if (strchr(pat, '/') == NULL) {
			if (fnmatch(pat, name, FNM_PERIOD & 0) == 0)
				return true;
		} else if (pat[0] == '/') {
			if (fnmatch(pat + 1, relpath, FNM_PATHNAME) == 0)
				return true;
		} else {
			/* Unanchored with a slash: match any tail of the path
			 * that starts at a component. */
			for (const char *p = relpath; p; ) {
				if (fnmatch(pat, p, FNM_PATHNAME) == 0)
					return true;
				p = strchr(p, '/');
				if (p)
					p++;
			}
		}
	}
	return false;
}

/* ---- the walk ---- */

struct entry {
	char *name;
	uint16_t len;
};

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->name, y->name, n);

	return r ? r : (int)x->len - (int)y->len;
}

static void
fill_stat(struct pobj *o, const struct stat *st)
{
	o->mode = st->st_mode;
	o->uid = st->st_uid;
	o->gid = st->st_gid;
	o->nlink = (uint32_t)st->st_nlink;
	/* A symlink's size (its target's length) is kept too: the reconcile
	 * tells a replaced symlink on the secondary by it. */
	o->size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ?
	    (uint64_t)st->st_size : 0;
	o->rdev = (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) ?
	    (uint64_t)st->st_rdev : 0;
	o->mtime_sec = st->st_mtim.tv_sec;
	o->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	o->ctime_sec = st->st_ctim.tv_sec;
	o->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

/* Compare a known object with its index record; flag what to send. */
static uint32_t
compare(const struct stat *st, const struct irec *rec, bool no_owners)
{
	uint32_t flags = 0;
	bool ctime_same = st->st_ctim.tv_sec == rec->ctime_sec &&
	    (uint32_t)st->st_ctim.tv_nsec == rec->ctime_nsec;
	bool mtime_same = st->st_mtim.tv_sec == rec->mtime_sec &&
	    (uint32_t)st->st_mtim.tv_nsec == rec->mtime_nsec;
	bool size_same = !S_ISREG(st->st_mode) ||
	    (uint64_t)st->st_size == rec->size;

	bool owner_same = no_owners || (st->st_uid == rec->uid &&
	    st->st_gid == rec->gid);

	if (!(rec->synced & IREC_ATTRS) || !ctime_same || !mtime_same ||
	    st->st_mode != rec->mode || !owner_same)
		flags |= POBJ_ATTRS;
	if (S_ISREG(st->st_mode)) {
		if (!(rec->synced & IREC_CONTENT) || !size_same || !mtime_same)
			flags |= POBJ_DATA;
		else if (!ctime_same || (rec->synced & IREC_RACY))
			flags |= POBJ_HASHCHECK;
	}
	return flags;
}

struct walk {
	struct crawl *c;
	struct index_txn *txn;
	struct buf path;	/* relative path of the directory being walked */
	int deep;		/* inside this many moved directories */
};

static int walk_dir(struct walk *w, int dirfd, struct pobj *dir, uint32_t depth);
static void release_model(struct crawl *c);
static bool crawl_named(const struct crawl *c, const struct fid *fid);

static char *
child_path(struct walk *w, const char *name)
{
	return w->path.len ? xasprintf("%.*s/%s", (int)w->path.len,
	    (char *)w->path.data, name) : xstrdup(name);
}

/* A directory on another device than the primary's root: listed, not
 * entered (the turn reports it).  A mount root is a mount point; one that
 * is not is a subvolume of the same mount (btrfs). */
static void
add_mount(struct walk *w, int dirfd, const char *name)
{
	struct crawl *c = w->c;
	struct statx stx;

	if (c->nmounts == c->cap_mounts) {
		c->cap_mounts = c->cap_mounts ? c->cap_mounts * 2 : 4;
		c->mounts = xrealloc(c->mounts, c->cap_mounts *
		    sizeof(*c->mounts));
	}
	struct crawl_mount *m = &c->mounts[c->nmounts++];
	m->path = child_path(w, name);
	/* Without STATX_ATTR_MOUNT_ROOT (before Linux 5.8), a mount point. */
	m->subvolume = statx(dirfd, name, AT_SYMLINK_NOFOLLOW, 0, &stx) == 0 &&
	    (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* A directory listed, to walk once its parent's entries are all seen.
 * By fid, not by pobj: a flush (crawl_opts.flush) may hand the model over
 * before the walk gets to it. */
struct subdir {
	struct fid fid;
	const char *name;	/* in the directory's listing */
};

static void
visit_entry(struct walk *w, int dirfd, struct pobj *dir, const char *name,
    size_t len, const struct fid *old_fid, uint32_t depth,
    struct subdir **subdirs, size_t *nsub, size_t *capsub)
{
	struct crawl *c = w->c;
	struct stat st;
	struct fid fid;
	struct irec rec;
	bool created;
	struct pobj *o;
	int rc;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fid_at(dirfd, name, c->fsid, &fid) < 0) {
		if (errno == ENOENT) {
			/* Vanished since the listing: gone, like any delete. */
			if (old_fid) {
				o = pobj_get(c, old_fid, &created);
				add_link(c, &o->removed, &o->nremoved,
				    &o->cap_removed, &dir->fid, name, len);
				dir->flags |= POBJ_DIRTY;
			}
			return;
		}
		char *p = child_path(w, name);
		crawl_add_error(c, p, errno, "stat");
		free(p);
		return;
	}
	if (S_ISDIR(st.st_mode))
		c->seen_dirs++;
	else
		c->seen_files++;
	if (old_fid == NULL && c->opts->no_devices &&
	    (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
		return;
	if (old_fid && fid_eq(old_fid, &fid)) {
		/* The same object under the same name: compare attributes.
		 * New content is renamed in beside the old, which changes
		 * this directory on the secondary: its attributes go again. */
		o = crawl_find(c, &fid);
		uint32_t flags = 0;
		if (o == NULL || !(o->flags & POBJ_KNOWN)) {
			rc = index_get(w->txn, &fid, &rec);
			if (rc == 0) {
				flags = compare(&st, &rec, c->opts->no_owners);
				/* (A hash check that finds new content
				 * marks the directory it writes into:
				 * send_put.) */
				if (flags & POBJ_DATA)
					dir->flags |= POBJ_DIRTY;
				if (flags || S_ISDIR(st.st_mode)) {
					o = pobj_get(c, &fid, &created);
					o->flags |= POBJ_KNOWN | flags;
					o->sino = rec.sino;
					memcpy(o->old_hash, rec.content_hash, 16);
					fill_stat(o, &st);
					o->depth = depth;
				}
				irec_release(&rec);
			}
		} else if (o->flags & POBJ_DATA) {
			/* Met by another link first: this directory may see
			 * the new content renamed in all the same (the file
			 * can end the turn with this one link). */
			dir->flags |= POBJ_DIRTY;
		}
	} else {
		o = pobj_get(c, &fid, &created);
		/* It may exist already, made by its removed link (a rename
		 * seen from the old name first): it has no stat yet then. */
		if (created || o->mode == 0) {
			created = true;
			fill_stat(o, &st);
			o->depth = depth;
			rc = index_get(w->txn, &fid, &rec);
			if (rc == 0 && rec.nlinks == 0 && !S_ISDIR(rec.mode)) {
				/* Known, but nowhere on the secondary (a reconcile
				 * took its last name): new again. */
				irec_release(&rec);
				rc = 1;
			}
			if (rc == 0) {
				o->flags |= POBJ_KNOWN | compare(&st, &rec,
				    c->opts->no_owners);
				o->sino = rec.sino;
				memcpy(o->old_hash, rec.content_hash, 16);
				irec_release(&rec);
			} else {
				o->flags |= POBJ_ATTRS | (S_ISREG(st.st_mode) ?
				    POBJ_DATA : 0);
			}
		}
		add_link(c, &o->added, &o->nadded, &o->cap_added, &dir->fid,
		    name, len);
		if (old_fid) {
			struct pobj *gone = pobj_get(c, old_fid, &created);
			add_link(c, &gone->removed, &gone->nremoved,
			    &gone->cap_removed, &dir->fid, name, len);
		}
		dir->flags |= POBJ_DIRTY;
	}
	if (o && S_ISLNK(st.st_mode) && o->target == NULL &&
	    (o->flags & (POBJ_DATA | POBJ_ATTRS)) && !(o->flags & POBJ_KNOWN)) {
		char buf[4096];
		ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
		if (n < 0) {
			char *p = child_path(w, name);
			crawl_add_error(c, p, errno, "readlink");
			free(p);
		} else {
			o->target = xstrndup(buf, (size_t)n);
		}
	}
	if (S_ISDIR(st.st_mode)) {
		if (o == NULL) {
			o = pobj_get(c, &fid, &created);
			fill_stat(o, &st);
			o->flags |= POBJ_KNOWN;
			o->depth = depth;
		}
		if (st.st_dev != c->root_dev) {
			add_mount(w, dirfd, name);
			return;
		}
		if (o->flags & POBJ_VISITED)
			return;	/* met again under a new name: renamed while
				 * the crawl ran; walked once */
		*subdirs = xgrow(*subdirs, capsub, *nsub + 1,
		    sizeof(**subdirs));
		(*subdirs)[*nsub].fid = o->fid;
		(*subdirs)[(*nsub)++].name = name;
		o->flags |= POBJ_VISITED;
	}
}

static int
read_dir(int dirfd, struct entry **out, size_t *n, bool at_root)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 0;
	DIR *d;
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		if (at_root && strcmp(nm, GEOREP_STATE_DIR) == 0)
			continue;	/* a secondary's own state: never replicated */
		XGROW(*out, cap, *n + 1);
		size_t len = strlen(nm);
		(*out)[*n].name = xstrndup(nm, len);
		(*out)[(*n)++].len = (uint16_t)len;
	}
	int saved = errno;
	closedir(d);
	if (saved) {
		for (size_t i = 0; i < *n; i++)
			free((*out)[i].name);
		free(*out);
		*out = NULL;
		*n = 0;
		errno = saved;
		return -1;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), cmp_entry);
	return 0;
}

static bool
excluded(struct walk *w, const char *name, bool is_dir)
{
	if (w->c->opts->nexcludes == 0)
		return false;
	char *p = child_path(w, name);
	bool r = exclude_match(w->c->opts, p, name, is_dir);
	free(p);
	return r;
}

static bool
entry_is_dir(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode);
}

/* Whether dir moved (crawl_opts.deep): walked whole. */
static bool
crawl_deep(const struct crawl *c, const struct fid *dir)
{
	return c->opts->ndeep && bsearch(dir, c->opts->deep, c->opts->ndeep,
	    sizeof(*c->opts->deep), crawl_fid_cmp) != NULL;
}

/* The names recorded for dir, when only they are to be looked at. */
static const struct crawl_names *
names_of(const struct crawl *c, const struct fid *dir)
{
	if (c->dirnames == NULL || c->nnamed == 0)
		return NULL;
	const struct fid *f = bsearch(dir, c->named, c->nnamed,
	    sizeof(*c->named), crawl_fid_cmp);
	if (f == NULL)
		return NULL;
	const struct crawl_names *n = &c->dirnames[f - c->named];
	return n->all ? NULL : n;
}

/* The entries of a directory and the index's children of it, for only
 * the names given: those the primary has, and those the index has. */
static int
read_names(struct walk *w, int dirfd, const struct pobj *dir,
    const struct crawl_names *only, bool at_root, struct entry **ents,
    size_t *nents, struct ichild_list *kids)
{
	struct stat st;

	*ents = xcalloc(only->n ? only->n : 1, sizeof(**ents));
	*nents = 0;
	for (size_t i = 0; i < only->n; i++) {
		const char *nm = only->names[i];
		size_t len = strlen(nm);
		struct fid f;
		if (at_root && strcmp(nm, GEOREP_STATE_DIR) == 0)
			continue;
		/* Gone is absent; any other error is visit_entry's to say. */
		if (fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    errno != ENOENT) {
			(*ents)[*nents].name = xstrndup(nm, len);
			(*ents)[(*nents)++].len = (uint16_t)len;
		}
		int rc = index_child_get(w->txn, &dir->fid, nm, len, &f);
		if (rc < 0)
			return -1;
		if (rc > 0)
			continue;
		XGROW(kids->v, kids->cap, kids->n + 1);
		struct ichild *k = &kids->v[kids->n++];
		k->fid = f;
		k->name_len = (uint8_t)len;
		memcpy(k->name, nm, len);
		k->name[len] = '\0';
	}
	return 0;
}

/*
 * Whether the model so far can be handed over before the crawl ends: only
 * creations and changes in place.  A removed link may be half of a move
 * whose other half is still ahead (sent apart, it would be a delete and a
 * copy), and a known directory met under a new name is such a move.  Once
 * the model holds either, it grows to the end of the crawl, as without a
 * flush.
 */
static bool
model_flushable(struct crawl *c)
{
	for (size_t i = 0; i < c->nobjs && !c->no_flush; i++) {
		const struct pobj *o = c->objs[i];
		if (o->nremoved || (S_ISDIR(o->mode) &&
		    (o->flags & POBJ_KNOWN) && o->nadded))
			c->no_flush = true;
	}
	return !c->no_flush;
}

/* Between two directories of a walk: hand the model over once it holds
 * crawl_opts.flush_objs objects.  -1 when the flush says stop. */
static int
maybe_flush(struct walk *w)
{
	struct crawl *c = w->c;

	if (c->opts->flush == NULL || c->no_flush || c->directed ||
	    c->nobjs < c->opts->flush_objs || !model_flushable(c))
		return 0;
	if (c->opts->flush(c->opts->flush_arg, c, &w->txn) < 0) {
		c->stopped = true;
		return -1;
	}
	release_model(c);
	c->flushes++;
	return 0;
}

/*
 * A directory listed before a flush, walked after it: its creation went
 * with the flush, so the index has it now.  Its pobj is made again from
 * the index and a fresh stat, as a known directory's is.  NULL (and the
 * crawl incomplete: no sync point) when the index does not have it -- its
 * creation failed, and the turn said so -- or it is gone.
 */
static struct pobj *
after_flush(struct walk *w, int dirfd, const char *name, const struct fid *fid)
{
	struct crawl *c = w->c;
	struct stat st;
	struct irec rec;
	bool created;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode) || index_get(w->txn, fid, &rec) != 0) {
		c->incomplete = true;
		return NULL;
	}
	struct pobj *o = pobj_get(c, fid, &created);
	fill_stat(o, &st);
	o->flags |= POBJ_KNOWN | POBJ_VISITED |
	    compare(&st, &rec, c->opts->no_owners);
	o->sino = rec.sino;
	irec_release(&rec);
	return o;
}

static int
walk_dir(struct walk *w, int dirfd, struct pobj *dir, uint32_t depth)
{
	struct crawl *c = w->c;
	struct entry *ents;
	size_t nents, i = 0, j = 0;
	struct ichild_list kids = { 0 };
	struct subdir *subdirs = NULL;
	size_t nsub = 0, capsub = 0;
	bool have_excludes = c->opts->nexcludes > 0;

	/* Only a directory the index knows can be looked at by name: the
	 * names of one that is new are not all in the journal. */
	bool deep = c->directed && crawl_deep(c, &dir->fid);
	const struct crawl_names *only = (dir->flags & POBJ_KNOWN) &&
	    w->deep == 0 && !deep ? names_of(c, &dir->fid) : NULL;
	if (only) {
		if (read_names(w, dirfd, dir, only, depth == 0, &ents, &nents,
		    &kids) < 0)
			goto fail;
	} else if (read_dir(dirfd, &ents, &nents, depth == 0) < 0) {
		char *p = w->path.len ? xstrndup((char *)w->path.data,
		    w->path.len) : xstrdup(".");
		crawl_add_error(c, p, errno, "list directory");
		free(p);
		dir->flags |= POBJ_UNREADABLE;
		return 0;
	} else if (index_children(w->txn, &dir->fid, &kids) < 0) {
		goto fail;
	}
	/* Merge the two sorted lists. */
	while (i < nents || j < kids.n) {
		int cmp;
		if (i == nents)
			cmp = 1;
		else if (j == kids.n)
			cmp = -1;
		else {
			size_t n = ents[i].len < kids.v[j].name_len ? ents[i].len :
			    kids.v[j].name_len;
			cmp = memcmp(ents[i].name, kids.v[j].name, n);
			if (cmp == 0)
				cmp = (int)ents[i].len - (int)kids.v[j].name_len;
		}
		if (cmp < 0 || cmp == 0) {
			const char *nm = ents[i].name;
			if (!have_excludes || !excluded(w, nm,
			    entry_is_dir(dirfd, nm)))
				visit_entry(w, dirfd, dir, nm, ents[i].len,
				    cmp == 0 ? &kids.v[j].fid : NULL, depth + 1,
				    &subdirs, &nsub, &capsub);
			i++;
			if (cmp == 0)
				j++;
		} else {
			/* In the index, not on the primary: removed, unless
			 * excluded (excluded names are left alone). */
			struct ichild *k = &kids.v[j++];
			if (have_excludes && excluded(w, k->name, false))
				continue;
			bool created;
			struct pobj *o = pobj_get(c, &k->fid, &created);
			add_link(c, &o->removed, &o->nremoved, &o->cap_removed,
			    &dir->fid, k->name, k->name_len);
			dir->flags |= POBJ_DIRTY;
		}
	}
	ichild_list_release(&kids);
	/* Now descend, with this directory's listing released. */
	size_t base = w->path.len;
	if (c->opts->tick)
		c->opts->tick(c->opts->tick_arg, c->seen_files, c->seen_dirs);
	for (size_t k = 0; k < nsub; k++) {
		const char *nm = subdirs[k].name;
		if (maybe_flush(w) < 0)
			goto stopped;
		struct pobj *sub = crawl_find(c, &subdirs[k].fid);
		if (sub == NULL && (sub = after_flush(w, dirfd, nm,
		    &subdirs[k].fid)) == NULL)
			continue;
		/* A directed crawl walks what the index has never seen, and
		 * the known directories it was asked to list, wherever it
		 * meets them (one may have moved): changes below any other
		 * known directory have their own records. */
		if (c->directed && (sub->flags & POBJ_KNOWN) && w->deep == 0 &&
		    !deep && !crawl_named(c, &sub->fid) &&
		    !crawl_deep(c, &sub->fid)) {
			sub->flags &= ~POBJ_VISITED;	/* not listed */
			continue;
		}
		int fd = openat(dirfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		struct fid now;
		if (fd >= 0 && (fid_at(fd, "", c->fsid, &now) < 0 ||
		    !fid_eq(&now, &sub->fid))) {
			/* Another directory has the name since the listing (a
			 * swap): its entries are not this one's.  Left as the
			 * index has it, like one that vanished; the rename
			 * has its own change. */
			close(fd);
			fd = -1;
			errno = ENOENT;
		}
		if (base)
			buf_add(&w->path, "/", 1);
		buf_addstr(&w->path, nm);
		if (fd < 0) {
			char *p = xstrndup((char *)w->path.data, w->path.len);
			if (errno != ENOENT && errno != ENOTDIR)
				crawl_add_error(c, p, errno, "open directory");
			/* Renamed or replaced since the listing: what changed
			 * in it before is not seen, so this crawl proves no
			 * sync point (the next one walks it where it is). */
			c->incomplete = true;
			sub->flags |= POBJ_UNREADABLE;
			free(p);
		} else {
			w->deep += deep;
			walk_dir(w, fd, sub, depth + 1);
			w->deep -= deep;
			close(fd);
		}
		w->path.len = base;
		if (c->stopped)
			goto stopped;
	}
	for (size_t k = 0; k < nents; k++)
		free(ents[k].name);
	free(ents);
	free(subdirs);
	return 0;
stopped:
	for (size_t k = 0; k < nents; k++)
		free(ents[k].name);
	free(ents);
	free(subdirs);
	return -1;
fail:
	for (size_t k = 0; k < nents; k++)
		free(ents[k].name);
	free(ents);
	ichild_list_release(&kids);
	return -1;
}

/*
 * The staging area is a directory the primary never has: whatever the index
 * holds there (left by a turn that did not finish) is a removed link, so
 * the planner moves it to where the primary has it, or removes it.
 */
static int
crawl_stage(struct crawl *c, struct index_txn *txn)
{
	struct ichild_list kids = { 0 };
	struct fid stage;
	bool created;

	fid_set_stage(&stage);
	if (index_children(txn, &stage, &kids) < 0)
		return -1;
	for (size_t i = 0; i < kids.n; i++) {
		struct pobj *o = pobj_get(c, &kids.v[i].fid, &created);
		add_link(c, &o->removed, &o->nremoved, &o->cap_removed, &stage,
		    kids.v[i].name, kids.v[i].name_len);
	}
	ichild_list_release(&kids);
	return 0;
}

int
crawl_run(struct crawl *c, const struct crawl_opts *opts, int rootfd,
    uint64_t fsid, const struct fid *root, struct index_txn *txn)
{
	struct walk w = { .c = c, .txn = txn };
	struct stat st;
	struct irec rec;
	bool created;
	int rc;

	memset(c, 0, sizeof(*c));
	c->opts = opts;
	c->rootfd = rootfd;
	c->fsid = fsid;
	c->root = *root;
	if (fstat(rootfd, &st) < 0)
		return -1;
	c->root_dev = st.st_dev;
	struct pobj *r = pobj_get(c, root, &created);
	fill_stat(r, &st);
	r->flags |= POBJ_ROOT | POBJ_VISITED;
	rc = index_get(txn, root, &rec);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		r->flags |= POBJ_KNOWN | compare(&st, &rec, c->opts->no_owners);
		r->sino = rec.sino;
		irec_release(&rec);
	} else {
		r->flags |= POBJ_ATTRS;
	}
	rc = walk_dir(&w, rootfd, r, 0);
	buf_release(&w.path);
	if (rc == 0 && c->stopped)
		rc = -1;
	if (rc == 0)
		rc = crawl_stage(c, w.txn);	/* (a flush committed txn) */
	return rc;
}

int
crawl_fid_cmp(const void *a, const void *b)
{
	const struct fid *x = a, *y = b;

	if (x->len != y->len)
		return (int)x->len - (int)y->len;
	return memcmp(x->bytes, y->bytes, x->len);
}

/* Whether crawl_dirs was asked to list this directory. */
static bool
crawl_named(const struct crawl *c, const struct fid *fid)
{
	return c->nnamed && bsearch(fid, c->named, c->nnamed,
	    sizeof(*c->named), crawl_fid_cmp) != NULL;
}

/* Open a directory of the primary by its path in the index, checked by
 * fid; -1 if it is gone or is something else now. */
static int
open_known_dir(struct crawl *c, struct index_txn *txn, struct resolver *res,
    const struct fid *fid, struct buf *path)
{
	uint8_t base;
	struct fid now;

	if (fid_eq(fid, &c->root)) {
		buf_reset(path);
		return openat(c->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (index_path(txn, &c->root, fid, path, &base, NULL) != 0 ||
	    base != BASE_ROOT)
		return -1;
	int pfd = resolve_dir(res, BASE_ROOT, (char *)path->data, path->len);
	if (pfd < 0 || fid_at(pfd, "", c->fsid, &now) < 0 ||
	    !fid_eq(&now, fid))
		return -1;
	return openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
crawl_dirs(struct crawl *c, const struct crawl_opts *opts, int rootfd,
    uint64_t fsid, const struct fid *root, struct index_txn *txn,
    const struct fid *dirs, size_t ndirs)
{
	return crawl_dirs_names(c, opts, rootfd, fsid, root, txn, dirs, NULL,
	    ndirs);
}

/*
 * Open a named directory that is not at its index path (it, or a directory
 * above it, moved or went away) by its handle, and find its path now.
 * Needs CAP_DAC_READ_SEARCH; -1 when it cannot be done or the directory
 * is gone or outside the primary.
 */
static int
open_moved_dir(struct crawl *c, const struct fid *fid, struct buf *path)
{
	char link[64], where[PATH_MAX + 1], root[PATH_MAX + 1];
	int fd = fid_open(c->rootfd, fid, c->fsid, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return -1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, where, sizeof(where) - 1);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", c->rootfd);
	ssize_t rn = readlink(link, root, sizeof(root) - 1);
	if (n < 0 || rn < 0) {
		close(fd);
		return -1;
	}
	where[n] = root[rn] = '\0';
	size_t rl = strcmp(root, "/") == 0 ? 0 : (size_t)rn;
	if (strncmp(where, root, rl) != 0 || where[rl] != '/') {
		close(fd);
		return -1;	/* moved out of the primary (or deleted) */
	}
	buf_reset(path);
	buf_addstr(path, where + rl + 1);
	return fd;
}

bool
crawl_removed_above(struct crawl *c, struct index_txn *txn,
    const struct fid *fid)
{
	struct fid cur = *fid;
	struct irec rec;

	for (int depth = 0; depth < CRAWL_ANCESTORS_MAX; depth++) {
		if (fid_eq(&cur, &c->root))
			return false;
		struct pobj *p = crawl_find(c, &cur);
		if (p && p->nremoved > 0 && p->nadded == 0 && p->mode == 0)
			return true;	/* lost its links, found nowhere */
		int rc = index_get(txn, &cur, &rec);
		if (rc < 0)
			return false;	/* logged; see the header */
		if (rc > 0)
			return true;	/* unknown: nothing to miss */
		bool orphan = rec.nlinks == 0;
		if (!orphan)
			cur = rec.links[0].parent;
		irec_release(&rec);
		if (orphan || fid_is_stage(&cur))
			return true;
	}
	if (!c->walk_warned)
		log_warn("the index's parents of a directory go on for more "
		    "than %d steps (a cycle, or an absurd depth): taken as "
		    "not going away", CRAWL_ANCESTORS_MAX);
	c->walk_warned = true;
	return false;
}

/* Walk one named directory, open at fd (its path in w->path). */
static int
walk_named(struct walk *w, int fd, const struct fid *fid)
{
	struct crawl *c = w->c;
	struct stat st;
	struct irec rec;
	bool created;
	int rc;

	if (fstat(fd, &st) < 0)
		return 0;
	struct pobj *o = pobj_get(c, fid, &created);
	fill_stat(o, &st);
	o->flags |= POBJ_VISITED;
	bool root = fid_eq(fid, &c->root);
	if (root)
		o->flags |= POBJ_ROOT;
	rc = index_get(w->txn, fid, &rec);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		o->flags |= POBJ_KNOWN | compare(&st, &rec, c->opts->no_owners);
		o->sino = rec.sino;
		irec_release(&rec);
	}
	return walk_dir(w, fd, o, root ? 0 : 1);
}

int
crawl_dirs_names(struct crawl *c, const struct crawl_opts *opts,
    int rootfd, uint64_t fsid, const struct fid *root, struct index_txn *txn,
    const struct fid *dirs, const struct crawl_names *names, size_t ndirs)
{
	struct walk w = { .c = c, .txn = txn };
	struct resolver res;
	struct stat st;
	int rc = 0;
	bool *moved = xcalloc(ndirs ? ndirs : 1, sizeof(*moved));

	memset(c, 0, sizeof(*c));
	c->opts = opts;
	c->rootfd = rootfd;
	c->fsid = fsid;
	c->root = *root;
	c->directed = true;
	c->named = xcalloc(ndirs ? ndirs : 1, sizeof(*c->named));
	memcpy(c->named, dirs, ndirs * sizeof(*dirs));
	c->nnamed = ndirs;
	c->dirnames = names;
	if (ndirs > 1 && names == NULL)
		qsort(c->named, ndirs, sizeof(*c->named), crawl_fid_cmp);
	if (fstat(rootfd, &st) < 0) {
		free(moved);
		return -1;
	}
	c->root_dev = st.st_dev;
	resolve_init(&res, rootfd, rootfd);
	for (size_t i = 0; i < ndirs && rc == 0; i++) {
		struct pobj *o = crawl_find(c, &dirs[i]);
		if (o && (o->flags & POBJ_VISITED))
			continue;	/* named twice, or walked already */
		/* One the index does not know is new: its parent's walk
		 * meets it (a new directory is walked whole). */
		struct irec rec;
		int known = index_get(txn, &dirs[i], &rec);
		if (known < 0) {
			rc = -1;
			break;
		}
		if (known > 0)
			continue;
		bool linked = rec.nlinks > 0;
		irec_release(&rec);
		if (!linked && !fid_eq(&dirs[i], root))
			continue;
		int fd = open_known_dir(c, txn, &res, &dirs[i], &w.path);
		if (fd < 0)
			fd = open_moved_dir(c, &dirs[i], &w.path);
		if (fd < 0) {
			moved[i] = true;	/* checked after the walk */
			continue;
		}
		rc = walk_named(&w, fd, &dirs[i]);
		close(fd);
	}
	/* A named directory neither walked nor going away moved with a
	 * directory above it, where no handle could find it: only a full
	 * crawl finds its changes. */
	for (size_t i = 0; i < ndirs && rc == 0 && !c->need_full; i++) {
		struct pobj *o = crawl_find(c, &dirs[i]);
		if (moved[i] && !(o && (o->flags & POBJ_VISITED)) &&
		    !crawl_removed_above(c, txn, &dirs[i]))
			c->need_full = true;
	}
	free(moved);
	resolve_release(&res);
	buf_release(&w.path);
	if (rc == 0)
		rc = crawl_stage(c, txn);
	return rc;
}

/* The changed objects and their names: what a flush hands over. */
static void
release_model(struct crawl *c)
{
	for (size_t i = 0; i < c->nobjs; i++) {
		free(c->objs[i]->target);
		free(c->objs[i]->added);
		free(c->objs[i]->removed);
		free(c->objs[i]);
	}
	free(c->objs);
	free(c->table);
	for (size_t i = 0; i < c->narenas; i++)
		free(c->arenas[i]);
	free(c->arenas);
	c->objs = NULL;
	c->table = NULL;
	c->arenas = NULL;
	c->nobjs = c->cap_objs = c->table_cap = 0;
	c->narenas = c->cap_arenas = c->arena_left = 0;
	c->arena_pos = NULL;
}

void
crawl_release(struct crawl *c)
{
	release_model(c);
	free(c->named);
	for (size_t i = 0; i < c->nerrors; i++)
		free(c->errors[i].path);
	free(c->errors);
	for (size_t i = 0; i < c->nmounts; i++)
		free(c->mounts[i].path);
	free(c->mounts);
	memset(c, 0, sizeof(*c));
}
