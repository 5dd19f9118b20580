/*
 * Unit tests of the crawl (src/detection/crawl.c) on small real trees: what
 * it reports against an empty index, and against an index filled by hand
 * after renames, hard links, deletes and content changes; and the exclude
 * rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <sys/sysmacros.h>
#include <cmocka.h>

#include "common/fid.h"
#include "detection/crawl.h"
#include "index/index.h"
#include "testutil.h"

#define FSID 0x1122334455667788ull

struct fx {
	char top[PATH_MAX];
	char rootpath[PATH_MAX + 16];
	char ixpath[PATH_MAX + 16];
	int rootfd;
	struct fid root;
	struct index *ix;
	struct index_txn *t;
	struct crawl c;
	bool crawled;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	umask(022);
	scratch_make(f->top, "crawl");
	snprintf(f->rootpath, sizeof(f->rootpath), "%s/root", f->top);
	snprintf(f->ixpath, sizeof(f->ixpath), "%s/index", f->top);
	assert_int_equal(mkdir(f->rootpath, 0755), 0);
	f->rootfd = open(f->rootpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0);
	assert_int_equal(fid_at(f->rootfd, "", FSID, &f->root), 0);
	assert_int_equal(index_open(&f->ix, f->ixpath), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->crawled)
		crawl_release(&f->c);
	index_abort(f->t);
	index_close(f->ix);
	close(f->rootfd);
	rm_rf(f->top);
	free(f);
	return 0;
}

/* ---- building trees ---- */

static void
mkd(struct fx *f, const char *rel)
{
	assert_int_equal(mkdirat(f->rootfd, rel, 0755), 0);
}

static void
mkf(struct fx *f, const char *rel, const char *content)
{
	assert_int_equal(put_file_at(f->rootfd, rel, content), 0);
}

static void
append(struct fx *f, const char *rel, const char *more)
{
	int fd = openat(f->rootfd, rel, O_WRONLY | O_APPEND | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, more, strlen(more)), (ssize_t)strlen(more));
	close(fd);
}

static struct fid
fid_of(struct fx *f, const char *rel)
{
	struct fid id;

	if (rel[0] == '\0')
		return f->root;
	assert_int_equal(fid_at(f->rootfd, rel, FSID, &id), 0);
	return id;
}

/* ---- filling the index by hand, as a finished sync would ---- */

static void
rec_from_stat(struct irec *r, const struct stat *st)
{
	memset(r, 0, sizeof(*r));
	r->mode = st->st_mode;
	r->uid = st->st_uid;
	r->gid = st->st_gid;
	r->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	r->mtime_sec = st->st_mtim.tv_sec;
	r->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	r->ctime_sec = st->st_ctim.tv_sec;
	r->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	r->rdev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ?
	    (uint64_t)st->st_rdev : 0;
	r->sino = st->st_ino;
	r->synced = IREC_CONTENT | IREC_ATTRS;
}

static void
fill_dir(struct fx *f, int dirfd, const struct fid *dirfid, bool at_root)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(fd);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		struct stat st;
		struct fid id;
		struct irec r;

		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 ||
		    (at_root && strcmp(nm, ".georep") == 0))
			continue;
		assert_int_equal(fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW),
		    0);
		assert_int_equal(fid_at(dirfd, nm, FSID, &id), 0);
		int rc = index_get(f->t, &id, &r);
		assert_true(rc >= 0);
		if (rc == 1) {
			rec_from_stat(&r, &st);
			assert_int_equal(index_put(f->t, &id, &r), 0);
		} else {
			irec_release(&r);
		}
		assert_int_equal(link_add(f->t, &id, dirfid, nm, strlen(nm)),
		    0);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, nm, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			assert_true(sub >= 0);
			fill_dir(f, sub, &id, false);
			close(sub);
		}
	}
	closedir(d);
}

/* Index the whole tree as it is now, and commit. */
static void
fill_index(struct fx *f)
{
	struct stat st;
	struct irec r;

	index_abort(f->t);	/* one transaction per thread at a time */
	assert_int_equal(index_begin(f->ix, true, &f->t), 0);
	assert_int_equal(index_clear(f->t), 0);
	assert_int_equal(fstat(f->rootfd, &st), 0);
	rec_from_stat(&r, &st);
	assert_int_equal(index_put(f->t, &f->root, &r), 0);
	fill_dir(f, f->rootfd, &f->root, true);
	assert_int_equal(index_commit(f->t), 0);
	f->t = NULL;
}

/* ---- crawling ---- */

static void
crawl_opts(struct fx *f, const struct crawl_opts *opts)
{
	if (f->crawled)
		crawl_release(&f->c);
	index_abort(f->t);
	assert_int_equal(index_begin(f->ix, false, &f->t), 0);
	assert_int_equal(crawl_run(&f->c, opts, f->rootfd, FSID, &f->root,
	    f->t), 0);
	f->crawled = true;
	assert_int_equal(f->c.nerrors, 0);
}

static void
crawl(struct fx *f)
{
	static const struct crawl_opts none = { 0 };

	crawl_opts(f, &none);
}

static struct pobj *
obj(struct fx *f, const char *rel)
{
	struct fid id = fid_of(f, rel);

	return crawl_find(&f->c, &id);
}

static bool
in(const struct plink *v, uint32_t n, const struct fid *parent,
    const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (fid_eq(&v[i].parent, parent) &&
		    v[i].name_len == strlen(name) &&
		    memcmp(v[i].name, name, v[i].name_len) == 0)
			return true;
	return false;
}

/* o was added exactly under these (parent, name) pairs, given as paths of
 * the parent relative to the root. */
static void
assert_links(struct fx *f, const struct pobj *o, const struct plink *v,
    uint32_t n, const char *const *pairs, uint32_t npairs)
{
	(void)o;
	if (n != npairs) {
		for (uint32_t i = 0; i < n; i++)
			print_error("  link %u: %.*s\n", i, (int)v[i].name_len,
			    v[i].name);
	}
	assert_int_equal(n, npairs);
	for (uint32_t i = 0; i < npairs; i++) {
		struct fid p = fid_of(f, pairs[2 * i]);
		if (!in(v, n, &p, pairs[2 * i + 1]))
			fail_msg("missing link %s/%s", pairs[2 * i],
			    pairs[2 * i + 1]);
	}
}

#define ADDED(f, o, ...) do { \
	const char *const p_[] = { __VA_ARGS__ }; \
	assert_links(f, o, (o)->added, (o)->nadded, p_, \
	    sizeof(p_) / sizeof(p_[0]) / 2); \
} while (0)
#define REMOVED_AT(f, o, ...) do { \
	const char *const p_[] = { __VA_ARGS__ }; \
	assert_links(f, o, (o)->removed, (o)->nremoved, p_, \
	    sizeof(p_) / sizeof(p_[0]) / 2); \
} while (0)

/* No object has any added or removed link. */
static void
assert_no_link_changes(struct fx *f)
{
	for (size_t i = 0; i < f->c.nobjs; i++) {
		struct pobj *o = f->c.objs[i];
		if (o->nadded || o->nremoved)
			fail_msg("object %zu: %u added, %u removed", i,
			    o->nadded, o->nremoved);
	}
}

/* The standard small tree:
 *   d1/ f1  d1/sub/ f2  f3 (= d1/h3, a hard link)  sym -> target  fifo
 *   .georep/state (skipped at the root)  d1/.georep (not skipped) */
static void
std_tree(struct fx *f)
{
	mkd(f, "d1");
	mkd(f, "d1/sub");
	mkf(f, "d1/f1", "one");
	mkf(f, "d1/sub/f2", "two!");
	mkf(f, "f3", "three");
	assert_int_equal(linkat(f->rootfd, "f3", f->rootfd, "d1/h3", 0), 0);
	assert_int_equal(symlinkat("target", f->rootfd, "sym"), 0);
	assert_int_equal(mkfifoat(f->rootfd, "fifo", 0600), 0);
	mkd(f, ".georep");
	mkf(f, ".georep/state", "x");
	mkf(f, "d1/.georep", "not the state dir");
}

/* ---- against an empty index ---- */

static void
test_all_new(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	crawl(f);

	/* root, d1, sub, f1, f2, f3, sym, fifo, d1/.georep */
	assert_int_equal(f->c.nobjs, 9);
	assert_int_equal(f->c.seen_dirs, 2);
	assert_int_equal(f->c.seen_files, 7);	/* f3 counted per name */
	for (size_t i = 0; i < f->c.nobjs; i++) {
		assert_false(f->c.objs[i]->flags & POBJ_KNOWN);
		assert_int_equal(f->c.objs[i]->nremoved, 0);
	}

	o = crawl_find(&f->c, &f->root);
	assert_non_null(o);
	assert_true(o->flags & POBJ_ROOT);
	assert_true(o->flags & POBJ_VISITED);
	assert_true(o->flags & POBJ_ATTRS);
	assert_true(o->flags & POBJ_DIRTY);
	assert_int_equal(o->nadded, 0);
	assert_true(S_ISDIR(o->mode));

	o = obj(f, "d1");
	assert_non_null(o);
	ADDED(f, o, "", "d1");
	assert_true(S_ISDIR(o->mode));
	assert_true(o->flags & POBJ_VISITED);
	assert_int_equal(o->depth, 1);

	o = obj(f, "d1/sub");
	ADDED(f, o, "d1", "sub");
	assert_int_equal(o->depth, 2);
	o = obj(f, "d1/sub/f2");
	ADDED(f, o, "d1/sub", "f2");
	assert_true(S_ISREG(o->mode));
	assert_int_equal(o->size, 4);
	assert_int_equal(o->flags & (POBJ_DATA | POBJ_ATTRS),
	    POBJ_DATA | POBJ_ATTRS);
	assert_int_equal(o->depth, 3);

	o = obj(f, "d1/f1");
	ADDED(f, o, "d1", "f1");
	assert_int_equal(o->size, 3);

	/* One object, both names. */
	o = obj(f, "f3");
	assert_ptr_equal(o, obj(f, "d1/h3"));
	ADDED(f, o, "", "f3", "d1", "h3");
	assert_int_equal(o->nlink, 2);

	o = obj(f, "sym");
	ADDED(f, o, "", "sym");
	assert_true(S_ISLNK(o->mode));
	assert_non_null(o->target);
	assert_string_equal(o->target, "target");
	assert_false(o->flags & POBJ_DATA);

	o = obj(f, "fifo");
	ADDED(f, o, "", "fifo");
	assert_true(S_ISFIFO(o->mode));
	assert_false(o->flags & POBJ_DATA);

	o = obj(f, "d1/.georep");
	assert_non_null(o);
	ADDED(f, o, "d1", ".georep");
	/* The state directory at the root is never seen. */
	assert_null(obj(f, ".georep"));
	assert_null(obj(f, ".georep/state"));
}

static void
test_empty_root(void **state)
{
	struct fx *f = *state;

	crawl(f);
	assert_int_equal(f->c.nobjs, 1);
	assert_true(f->c.objs[0]->flags & POBJ_ROOT);
	assert_false(f->c.objs[0]->flags & POBJ_DIRTY);
	assert_true(fid_eq(&f->c.objs[0]->fid, &f->root));
}

/* ---- against a filled index ---- */

static void
test_unchanged(void **state)
{
	struct fx *f = *state;

	std_tree(f);
	fill_index(f);
	crawl(f);
	assert_no_link_changes(f);
	for (size_t i = 0; i < f->c.nobjs; i++) {
		struct pobj *o = f->c.objs[i];
		/* Only the visited directories, known and unchanged. */
		assert_true(S_ISDIR(o->mode));
		assert_true(o->flags & POBJ_KNOWN);
		assert_true(o->flags & POBJ_VISITED);
		assert_false(o->flags & (POBJ_DIRTY | POBJ_ATTRS | POBJ_DATA));
	}
	assert_int_equal(f->c.nobjs, 3);	/* root, d1, d1/sub */
}

static void
test_rename_same_dir(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	mkf(f, "a", "content a");
	mkf(f, "z", "content z");
	fill_index(f);
	/* Old name first in order (a -> b), and new name first (z -> c). */
	assert_int_equal(renameat(f->rootfd, "a", f->rootfd, "b"), 0);
	assert_int_equal(renameat(f->rootfd, "z", f->rootfd, "c"), 0);
	crawl(f);

	o = obj(f, "b");
	assert_non_null(o);
	ADDED(f, o, "", "b");
	REMOVED_AT(f, o, "", "a");
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(S_ISREG(o->mode));
	assert_int_equal(o->size, 9);
	assert_false(o->flags & POBJ_DATA);	/* content as indexed */

	o = obj(f, "c");
	assert_non_null(o);
	ADDED(f, o, "", "c");
	REMOVED_AT(f, o, "", "z");
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(S_ISREG(o->mode));
	assert_false(o->flags & POBJ_DATA);

	assert_true(crawl_find(&f->c, &f->root)->flags & POBJ_DIRTY);
	assert_int_equal(f->c.nobjs, 3);
}

static void
test_rename_and_modify(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	mkf(f, "a", "short");
	mkf(f, "y", "short");
	fill_index(f);
	append(f, "a", " and longer");
	append(f, "y", " and longer");
	assert_int_equal(renameat(f->rootfd, "a", f->rootfd, "b"), 0);
	assert_int_equal(renameat(f->rootfd, "y", f->rootfd, "x"), 0);
	crawl(f);

	/* Whichever name comes first, the new content must be sent. */
	o = obj(f, "b");
	REMOVED_AT(f, o, "", "a");
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_DATA);
	assert_int_equal(o->size, 16);
	o = obj(f, "x");
	REMOVED_AT(f, o, "", "y");
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_DATA);
	assert_int_equal(o->size, 16);
}

static void
test_move_across_dirs(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	mkd(f, "d2");
	fill_index(f);
	/* A file to another directory, and a directory with its content. */
	assert_int_equal(renameat(f->rootfd, "d1/f1", f->rootfd, "d2/f1"), 0);
	assert_int_equal(renameat(f->rootfd, "d1/sub", f->rootfd, "d2/moved"),
	    0);
	crawl(f);

	o = obj(f, "d2/f1");
	ADDED(f, o, "d2", "f1");
	REMOVED_AT(f, o, "d1", "f1");
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(S_ISREG(o->mode));

	o = obj(f, "d2/moved");
	ADDED(f, o, "d2", "moved");
	REMOVED_AT(f, o, "d1", "sub");
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(S_ISDIR(o->mode));
	assert_true(o->flags & POBJ_VISITED);
	/* Its content moved with it: no link of f2 changed. */
	o = obj(f, "d2/moved/f2");
	if (o != NULL) {
		assert_int_equal(o->nadded, 0);
		assert_int_equal(o->nremoved, 0);
	}
	assert_true(obj(f, "d1")->flags & POBJ_DIRTY);
	assert_true(obj(f, "d2")->flags & POBJ_DIRTY);
	assert_false(crawl_find(&f->c, &f->root)->flags & POBJ_DIRTY);
}

static void
test_swap_names(void **state)
{
	struct fx *f = *state;
	struct pobj *a, *b;

	mkf(f, "a", "A");
	mkf(f, "b", "BB");
	struct fid fa = fid_of(f, "a"), fb = fid_of(f, "b");
	fill_index(f);
	assert_int_equal(renameat2(f->rootfd, "a", f->rootfd, "b",
	    RENAME_EXCHANGE), 0);
	crawl(f);

	a = crawl_find(&f->c, &fa);
	b = crawl_find(&f->c, &fb);
	assert_non_null(a);
	assert_non_null(b);
	ADDED(f, a, "", "b");
	REMOVED_AT(f, a, "", "a");
	ADDED(f, b, "", "a");
	REMOVED_AT(f, b, "", "b");
	assert_true(a->flags & POBJ_KNOWN);
	assert_true(b->flags & POBJ_KNOWN);
	assert_int_equal(a->size, 1);
	assert_int_equal(b->size, 2);
}

static void
test_hard_link_added(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	fill_index(f);
	assert_int_equal(linkat(f->rootfd, "d1/f1", f->rootfd, "d1/sub/l1", 0),
	    0);
	assert_int_equal(linkat(f->rootfd, "d1/f1", f->rootfd, "0first", 0),
	    0);
	crawl(f);

	o = obj(f, "d1/f1");
	assert_non_null(o);
	ADDED(f, o, "d1/sub", "l1", "", "0first");
	assert_int_equal(o->nremoved, 0);	/* d1/f1 kept */
	assert_true(o->flags & POBJ_KNOWN);
	assert_int_equal(o->nlink, 3);
	assert_int_equal(o->old_nlinks, 1);
	/* Nobody else changed names. */
	for (size_t i = 0; i < f->c.nobjs; i++)
		if (f->c.objs[i] != o) {
			assert_int_equal(f->c.objs[i]->nadded, 0);
			assert_int_equal(f->c.objs[i]->nremoved, 0);
		}
}

static void
test_deletes(void **state)
{
	struct fx *f = *state;
	struct fid f1, sub, h3;
	struct pobj *o;

	std_tree(f);
	fill_index(f);
	f1 = fid_of(f, "d1/f1");
	sub = fid_of(f, "d1/sub");
	h3 = fid_of(f, "f3");
	assert_int_equal(unlinkat(f->rootfd, "d1/f1", 0), 0);
	assert_int_equal(unlinkat(f->rootfd, "d1/sub/f2", 0), 0);
	assert_int_equal(unlinkat(f->rootfd, "d1/sub", AT_REMOVEDIR), 0);
	assert_int_equal(unlinkat(f->rootfd, "d1/h3", 0), 0);	/* one of 2 */
	crawl(f);

	o = crawl_find(&f->c, &f1);
	assert_non_null(o);
	assert_int_equal(o->nadded, 0);
	REMOVED_AT(f, o, "d1", "f1");
	o = crawl_find(&f->c, &sub);
	assert_non_null(o);
	assert_int_equal(o->nadded, 0);
	REMOVED_AT(f, o, "d1", "sub");
	o = crawl_find(&f->c, &h3);
	assert_non_null(o);
	assert_int_equal(o->nadded, 0);
	REMOVED_AT(f, o, "d1", "h3");
	assert_true(o->flags & POBJ_KNOWN);	/* still there as f3 */
	assert_true(obj(f, "d1")->flags & POBJ_DIRTY);
}

static void
test_replaced(void **state)
{
	struct fx *f = *state;
	struct fid old, neu;
	struct pobj *o;

	mkf(f, "f", "old");
	mkd(f, "d");
	fill_index(f);
	old = fid_of(f, "f");
	assert_int_equal(unlinkat(f->rootfd, "f", 0), 0);
	/* Another inode under the same name (a directory, so it cannot reuse
	 * the file's inode and generation). */
	mkd(f, "f");
	neu = fid_of(f, "f");
	assert_false(fid_eq(&old, &neu));
	crawl(f);

	o = crawl_find(&f->c, &old);
	assert_non_null(o);
	assert_int_equal(o->nadded, 0);
	REMOVED_AT(f, o, "", "f");
	o = crawl_find(&f->c, &neu);
	assert_non_null(o);
	ADDED(f, o, "", "f");
	assert_int_equal(o->nremoved, 0);
	assert_false(o->flags & POBJ_KNOWN);
	assert_true(S_ISDIR(o->mode));
}

static void
test_attr_changes(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	mkf(f, "grow", "abc");
	mkf(f, "mode", "abc");
	mkf(f, "same", "abc");
	mkf(f, "ctime", "abc");
	fill_index(f);
	append(f, "grow", "def");
	assert_int_equal(fchmodat(f->rootfd, "mode", 0600, 0), 0);
	/* Only the ctime moves: chmod to the mode it has, after the clock
	 * has surely ticked. */
	usleep(20000);
	assert_int_equal(fchmodat(f->rootfd, "ctime", 0644, 0), 0);
	crawl(f);

	o = obj(f, "grow");
	assert_non_null(o);
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_DATA);
	assert_int_equal(o->size, 6);
	assert_int_equal(o->nadded + o->nremoved, 0);

	o = obj(f, "mode");
	assert_non_null(o);
	assert_true(o->flags & POBJ_ATTRS);
	assert_false(o->flags & POBJ_DATA);	/* the ctime moved: a hash
						 * check at most */
	assert_int_equal(o->mode & 07777, 0600);

	o = obj(f, "ctime");
	assert_non_null(o);
	assert_true(o->flags & POBJ_HASHCHECK);
	assert_false(o->flags & POBJ_DATA);

	assert_null(obj(f, "same"));
	assert_no_link_changes(f);
}

/* ---- excludes ---- */

static bool
ex(const char *pattern, const char *relpath, bool is_dir)
{
	const char *pats[1] = { pattern };
	struct crawl_opts o = { .excludes = pats, .nexcludes = 1 };
	const char *slash = strrchr(relpath, '/');

	return exclude_match(&o, relpath, slash ? slash + 1 : relpath, is_dir);
}

static void
test_exclude_rules(void **state)
{
	(void)state;
	/* No slash: the name, at any depth. */
	assert_true(ex("*.o", "x.o", false));
	assert_true(ex("*.o", "a/b/x.o", false));
	assert_true(ex("*.o", "a/b/x.o", true));
	assert_false(ex("*.o", "x.c", false));
	assert_false(ex("*.o", "x.o/y", false));
	assert_true(ex("core", "deep/down/core", false));
	assert_false(ex("core", "core.1", false));
	assert_true(ex("*", "anything", false));
	assert_true(ex("*", ".hidden", false));

	/* A leading slash anchors at the root. */
	assert_true(ex("/top", "top", false));
	assert_false(ex("/top", "a/top", false));
	assert_true(ex("/a/b", "a/b", false));
	assert_false(ex("/a/b", "x/a/b", false));
	assert_false(ex("/a/*", "a/b/c", false));	/* '*' stops at '/' */
	assert_true(ex("/a/*", "a/b", false));

	/* A slash inside: matched against a tail that starts at a
	 * component. */
	assert_true(ex("a/b", "a/b", false));
	assert_true(ex("a/b", "x/a/b", false));
	assert_false(ex("a/b", "xa/b", false));
	assert_false(ex("a/b", "a/b/c", false));
	assert_true(ex("a/*/c", "a/x/c", false));
	assert_false(ex("a/*/c", "a/x/y/c", false));

	/* A trailing slash: directories only. */
	assert_true(ex("build/", "build", true));
	assert_true(ex("build/", "src/build", true));
	assert_false(ex("build/", "build", false));
	assert_false(ex("build/", "src/build", false));
	assert_true(ex("/build/", "build", true));
	assert_false(ex("/build/", "src/build", true));
	assert_true(ex("a/b/", "x/a/b", true));
	assert_false(ex("a/b/", "x/a/b", false));

	/* Several patterns: any one matches; none: nothing. */
	const char *pats[] = { "", "*.tmp", "/only/" };
	struct crawl_opts o = { .excludes = pats, .nexcludes = 3 };
	assert_true(exclude_match(&o, "x/y.tmp", "y.tmp", false));
	assert_true(exclude_match(&o, "only", "only", true));
	assert_false(exclude_match(&o, "only", "only", false));
	assert_false(exclude_match(&o, "x/y", "y", false));
	struct crawl_opts empty = { 0 };
	assert_false(exclude_match(&empty, "x", "x", true));
}

static void
test_crawl_excludes(void **state)
{
	struct fx *f = *state;
	const char *pats[] = { "*.o", "build/", "/anchored" };
	struct crawl_opts opts = { .excludes = pats, .nexcludes = 3 };
	struct pobj *o;

	mkd(f, "src");
	mkf(f, "src/a.c", "c");
	mkf(f, "src/a.o", "o");
	mkd(f, "src/build");
	mkf(f, "src/build/out", "x");
	mkf(f, "build", "a file named build");
	mkf(f, "anchored", "x");
	mkf(f, "src/anchored", "x");
	crawl_opts(f, &opts);

	assert_non_null(obj(f, "src/a.c"));
	assert_null(obj(f, "src/a.o"));
	assert_null(obj(f, "src/build"));
	assert_null(obj(f, "src/build/out"));
	assert_non_null(obj(f, "build"));	/* a file: not matched */
	assert_null(obj(f, "anchored"));
	assert_non_null(obj(f, "src/anchored"));

	/* Excluded names that the index holds are left alone, not removed;
	 * a real delete is still seen. */
	fill_index(f);		/* indexes everything, excluded or not */
	assert_int_equal(unlinkat(f->rootfd, "src/a.o", 0), 0);
	assert_int_equal(unlinkat(f->rootfd, "src/a.c", 0), 0);
	crawl_opts(f, &opts);
	assert_int_equal(f->c.nobjs >= 1, 1);
	bool saw_ac = false;
	for (size_t i = 0; i < f->c.nobjs; i++) {
		o = f->c.objs[i];
		assert_int_equal(o->nadded, 0);
		for (uint32_t k = 0; k < o->nremoved; k++) {
			if (o->removed[k].name_len == 3 &&
			    memcmp(o->removed[k].name, "a.c", 3) == 0)
				saw_ac = true;
			else
				fail_msg("removed %.*s",
				    (int)o->removed[k].name_len,
				    o->removed[k].name);
		}
	}
	assert_true(saw_ac);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_all_new),
		T(test_empty_root),
		T(test_unchanged),
		T(test_rename_same_dir),
		T(test_rename_and_modify),
		T(test_move_across_dirs),
		T(test_swap_names),
		T(test_hard_link_added),
		T(test_deletes),
		T(test_replaced),
		T(test_attr_changes),
		cmocka_unit_test(test_exclude_rules),
		T(test_crawl_excludes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
