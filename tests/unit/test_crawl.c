/*
 * Unit tests of the crawl (src/detection/crawl.c) on small real trees: what
 * it reports against an empty index, and against an index filled by hand
 * after renames, hard links, deletes and content changes; the exclude
 * rules; the directed crawl (crawl_dirs), against crawl_run; and the walk
 * up the index that says whether a directory is going away
 * (crawl_removed_above).
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

/* ---- the directed crawl (crawl_dirs) ---- */

/* crawl_dirs over these directory fids, in a read transaction, as
 * crawl_opts() does for crawl_run. */
static void
crawl_dirs_fids(struct fx *f, const struct fid *dirs, size_t ndirs)
{
	static const struct crawl_opts none = { 0 };

	if (f->crawled)
		crawl_release(&f->c);
	index_abort(f->t);
	assert_int_equal(index_begin(f->ix, false, &f->t), 0);
	f->crawled = true;
	assert_int_equal(crawl_dirs(&f->c, &none, f->rootfd, FSID, &f->root,
	    f->t, dirs, ndirs), 0);
	assert_int_equal(f->c.nerrors, 0);
	assert_true(f->c.directed);
}

/* The same, the directories given by their paths now ("" or "." for the
 * root). */
static void
crawl_dirs_paths(struct fx *f, const char *const *rel, size_t n)
{
	struct fid *ids = calloc(n ? n : 1, sizeof(*ids));

	assert_non_null(ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = fid_of(f, strcmp(rel[i], ".") == 0 ? "" : rel[i]);
	crawl_dirs_fids(f, ids, n);
	free(ids);
}

#define crawl_dirs_of(f, ...) crawl_dirs_paths(f, \
	(const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* Names for fids, for readable messages. */
struct labels {
	struct fid id[64];
	char name[64][64];
	size_t n;
};

static void
label(struct fx *f, struct labels *l, const char *rel)
{
	assert_true(l->n < 64);
	l->id[l->n] = fid_of(f, rel);
	snprintf(l->name[l->n], sizeof(l->name[0]), "%s", rel[0] ? rel : "/");
	l->n++;
}

static void
label_of(const struct labels *l, const struct fid *id, char *out, size_t n)
{
	char hex[2 * FID_MAX + 1];

	for (size_t i = 0; l && i < l->n; i++)
		if (fid_eq(&l->id[i], id)) {
			snprintf(out, n, "%s", l->name[i]);
			return;
		}
	fid_hex(id, hex);
	snprintf(out, n, "fid:%s", hex);
}

/* Every added and removed link of every object of the crawl, as sorted
 * strings "object +parent/name" / "object -parent/name". */
struct linkset {
	char **v;
	size_t n;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
linkset_add(struct linkset *s, const struct labels *l, const struct fid *obj,
    char sign, const struct plink *p)
{
	char o[2 * FID_MAX + 8], d[2 * FID_MAX + 8], line[1024];

	label_of(l, obj, o, sizeof(o));
	label_of(l, &p->parent, d, sizeof(d));
	snprintf(line, sizeof(line), "%s %c%s/%.*s", o, sign, d,
	    (int)p->name_len, p->name);
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	assert_non_null(s->v);
	s->v[s->n] = strdup(line);
	assert_non_null(s->v[s->n]);
	s->n++;
}

static void
linkset_of(struct crawl *c, const struct labels *l, struct linkset *s)
{
	s->v = NULL;
	s->n = 0;
	for (size_t i = 0; i < c->nobjs; i++) {
		const struct pobj *o = c->objs[i];
		for (uint32_t k = 0; k < o->nadded; k++)
			linkset_add(s, l, &o->fid, '+', &o->added[k]);
		for (uint32_t k = 0; k < o->nremoved; k++)
			linkset_add(s, l, &o->fid, '-', &o->removed[k]);
	}
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

static void
linkset_release(struct linkset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Whether the two sets are equal; what differs is printed. */
static bool
same_links(const struct linkset *want, const struct linkset *got,
    const char *what)
{
	size_t i = 0, j = 0;
	bool same = true;

	while (i < want->n || j < got->n) {
		int cmp = i == want->n ? 1 : j == got->n ? -1 :
		    strcmp(want->v[i], got->v[j]);
		if (cmp == 0) {
			i++;
			j++;
			continue;
		}
		same = false;
		if (cmp < 0)
			print_error("  %s: crawl_run only:   %s\n", what,
			    want->v[i++]);
		else
			print_error("  %s: crawl_dirs only:  %s\n", what,
			    got->v[j++]);
	}
	return same;
}

/* Compare, release got, and fail (releasing want first) if they differ. */
static void
assert_same_links(struct linkset *want, struct linkset *got, const char *what)
{
	bool same = same_links(want, got, what);

	linkset_release(got);
	if (!same) {
		linkset_release(want);
		fail_msg("%s: crawl_dirs links differ from crawl_run's", what);
	}
}

/* 1. A rename inside a named directory. */
static void
test_dirs_rename_in_dir(void **state)
{
	struct fx *f = *state;
	struct linkset want, got;
	struct pobj *o;

	mkd(f, "d");
	mkf(f, "d/a", "content a");
	mkf(f, "d/z", "content z");
	mkf(f, "d/same", "unchanged");
	fill_index(f);
	assert_int_equal(renameat(f->rootfd, "d/a", f->rootfd, "d/b"), 0);
	assert_int_equal(renameat(f->rootfd, "d/z", f->rootfd, "d/c"), 0);
	crawl(f);
	linkset_of(&f->c, NULL, &want);
	crawl_dirs_of(f, "d");
	linkset_of(&f->c, NULL, &got);
	assert_same_links(&want, &got, "rename in a named directory");
	linkset_release(&want);

	o = obj(f, "d/b");
	assert_non_null(o);
	ADDED(f, o, "d", "b");
	REMOVED_AT(f, o, "d", "a");
	assert_true(o->flags & POBJ_KNOWN);
	assert_false(o->flags & POBJ_DATA);
	o = obj(f, "d/c");
	assert_non_null(o);
	ADDED(f, o, "d", "c");
	REMOVED_AT(f, o, "d", "z");
	assert_true(o->flags & POBJ_KNOWN);
	assert_null(obj(f, "d/same"));
	o = obj(f, "d");
	assert_non_null(o);
	assert_true(o->flags & POBJ_VISITED);
	assert_true(o->flags & POBJ_DIRTY);
	assert_true(o->flags & POBJ_KNOWN);
	assert_false(o->flags & POBJ_ROOT);
	/* The root was not named: not listed. */
	assert_null(crawl_find(&f->c, &f->root));
}

/* 2. A move between two directories, both named, or only the target. */
static void
test_dirs_move_across(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	mkd(f, "d2");
	fill_index(f);
	assert_int_equal(renameat(f->rootfd, "d1/f1", f->rootfd, "d2/f1"), 0);

	crawl_dirs_of(f, "d1", "d2");
	o = obj(f, "d2/f1");
	assert_non_null(o);
	ADDED(f, o, "d2", "f1");
	REMOVED_AT(f, o, "d1", "f1");
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(obj(f, "d1")->flags & POBJ_DIRTY);
	assert_true(obj(f, "d2")->flags & POBJ_DIRTY);
	assert_true(f->c.directed);

	/* Only the target named: the old name is not seen (d1 not
	 * listed). */
	crawl_dirs_of(f, "d2");
	o = obj(f, "d2/f1");
	assert_non_null(o);
	ADDED(f, o, "d2", "f1");
	assert_int_equal(o->nremoved, 0);
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(f->c.directed);
	o = obj(f, "d1");
	assert_true(o == NULL || !(o->flags & POBJ_VISITED));
	for (size_t i = 0; i < f->c.nobjs; i++)
		assert_int_equal(f->c.objs[i]->nremoved, 0);
}

/* 3. A new tree inside a named directory is walked in full. */
static void
test_dirs_new_tree(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	fill_index(f);
	mkd(f, "d1/new");
	mkd(f, "d1/new/x");
	mkd(f, "d1/new/x/y");
	mkf(f, "d1/new/a", "a");
	mkf(f, "d1/new/x/b", "bb");
	mkf(f, "d1/new/x/y/c", "ccc");
	/* A known file under a new name deep in the new tree. */
	assert_int_equal(linkat(f->rootfd, "f3", f->rootfd, "d1/new/x/y/h",
	    0), 0);
	crawl_dirs_of(f, "d1");

	o = obj(f, "d1/new");
	assert_non_null(o);
	ADDED(f, o, "d1", "new");
	assert_false(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_VISITED);
	o = obj(f, "d1/new/x");
	assert_non_null(o);
	ADDED(f, o, "d1/new", "x");
	assert_false(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_VISITED);
	o = obj(f, "d1/new/x/y");
	assert_non_null(o);
	ADDED(f, o, "d1/new/x", "y");
	assert_false(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_VISITED);
	o = obj(f, "d1/new/a");
	assert_non_null(o);
	ADDED(f, o, "d1/new", "a");
	assert_true(o->flags & POBJ_DATA);
	assert_int_equal(o->size, 1);
	o = obj(f, "d1/new/x/b");
	assert_non_null(o);
	ADDED(f, o, "d1/new/x", "b");
	assert_true(o->flags & POBJ_DATA);
	o = obj(f, "d1/new/x/y/c");
	assert_non_null(o);
	ADDED(f, o, "d1/new/x/y", "c");
	assert_true(o->flags & POBJ_DATA);
	assert_int_equal(o->size, 3);
	o = obj(f, "d1/new/x/y/h");
	assert_non_null(o);
	assert_ptr_equal(o, obj(f, "f3"));
	ADDED(f, o, "d1/new/x/y", "h");
	assert_int_equal(o->nremoved, 0);
	assert_true(o->flags & POBJ_KNOWN);
	for (size_t i = 0; i < f->c.nobjs; i++)
		assert_int_equal(f->c.objs[i]->nremoved, 0);
}

/* 4. A known subdirectory of a named directory is not listed. */
static void
test_dirs_no_recursion_into_known(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	fill_index(f);
	append(f, "d1/sub/f2", " and more");
	mkf(f, "d1/sub/extra", "new but not listed");
	crawl_dirs_of(f, "d1");
	assert_null(obj(f, "d1/sub/f2"));
	assert_null(obj(f, "d1/sub/extra"));
	assert_no_link_changes(f);
	assert_true(obj(f, "d1")->flags & POBJ_VISITED);

	/* Named itself, it is listed: the changes are there to find. */
	crawl_dirs_of(f, "d1/sub");
	o = obj(f, "d1/sub/f2");
	assert_non_null(o);
	assert_true(o->flags & POBJ_DATA);
	o = obj(f, "d1/sub/extra");
	assert_non_null(o);
	ADDED(f, o, "d1/sub", "extra");
}

/* 5. New content in a named directory. */
static void
test_dirs_content_change(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	fill_index(f);
	append(f, "d1/f1", "-more");
	crawl_dirs_of(f, "d1");
	o = obj(f, "d1/f1");
	assert_non_null(o);
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_DATA);
	assert_int_equal(o->size, 8);
	assert_int_equal(o->nadded + o->nremoved, 0);
	assert_true(obj(f, "d1")->flags & POBJ_DIRTY);
	assert_null(obj(f, "d1/h3"));	/* unchanged */
	assert_no_link_changes(f);
}

/* 6. A named directory no longer at its index path is skipped. */
static void
test_dirs_moved_dir_skipped(void **state)
{
	struct fx *f = *state;
	struct fid fa, fb, fc, named[3];
	struct pobj *o;

	mkd(f, "a");
	mkd(f, "a/in");
	mkf(f, "a/in/f", "f");
	mkd(f, "b");
	mkd(f, "c");
	mkd(f, "p");
	fill_index(f);
	fa = fid_of(f, "a");
	fb = fid_of(f, "b");
	fc = fid_of(f, "c");
	/* "a" now holds another directory, "b" nothing, "c" a file. */
	assert_int_equal(renameat(f->rootfd, "a", f->rootfd, "p/a2"), 0);
	assert_int_equal(renameat(f->rootfd, "b", f->rootfd, "a"), 0);
	assert_int_equal(renameat(f->rootfd, "c", f->rootfd, "p/c2"), 0);
	mkf(f, "c", "a file where a directory was");

	named[0] = fa;
	named[1] = fb;
	named[2] = fc;
	crawl_dirs_fids(f, named, 3);
	assert_int_equal(f->c.nerrors, 0);
	/* Not at their index paths: with the privilege to open by handle
	 * they are listed where they are now; without it, nothing proves
	 * where they went, and the turn must crawl in full. */
	for (size_t i = 0; i < 3; i++) {
		o = crawl_find(&f->c, &named[i]);
		if (geteuid() == 0)
			assert_true(o && (o->flags & POBJ_VISITED));
		else
			assert_true(o == NULL || !(o->flags & POBJ_VISITED));
	}
	assert_int_equal(f->c.need_full, geteuid() != 0);
	assert_no_link_changes(f);

	/* The new parents, named, show the renames.  (p before the root: the
	 * order parent first is test_dirs_parent_and_child's.) */
	crawl_dirs_of(f, "p", "");
	o = crawl_find(&f->c, &fa);
	assert_non_null(o);
	ADDED(f, o, "p", "a2");
	REMOVED_AT(f, o, "", "a");
	o = crawl_find(&f->c, &fb);
	assert_non_null(o);
	ADDED(f, o, "", "a");
	REMOVED_AT(f, o, "", "b");
	o = crawl_find(&f->c, &fc);
	assert_non_null(o);
	ADDED(f, o, "p", "c2");
	REMOVED_AT(f, o, "", "c");
	o = obj(f, "c");
	assert_non_null(o);
	ADDED(f, o, "", "c");
	assert_int_equal(o->nremoved, 0);
	assert_false(o->flags & POBJ_KNOWN);
	assert_true(S_ISREG(o->mode));
	/* The moved directory's content did not change: nothing there. */
	assert_null(obj(f, "p/a2/in/f"));
}

/* 7. A directory named twice is listed once. */
static void
test_dirs_named_twice(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	mkd(f, "d");
	mkf(f, "d/a", "a");
	mkf(f, "top", "t");
	fill_index(f);
	assert_int_equal(renameat(f->rootfd, "d/a", f->rootfd, "d/b"), 0);
	mkf(f, "d/new", "n");
	assert_int_equal(renameat(f->rootfd, "top", f->rootfd, "top2"), 0);
	crawl_dirs_of(f, "d", "", "d", ".", "d");

	o = obj(f, "d/b");
	assert_non_null(o);
	ADDED(f, o, "d", "b");
	REMOVED_AT(f, o, "d", "a");
	o = obj(f, "d/new");
	assert_non_null(o);
	ADDED(f, o, "d", "new");
	assert_int_equal(o->nremoved, 0);
	o = obj(f, "top2");
	assert_non_null(o);
	ADDED(f, o, "", "top2");
	REMOVED_AT(f, o, "", "top");
	/* One pobj each. */
	size_t nd = 0, nroot = 0;
	struct fid d = fid_of(f, "d");
	for (size_t i = 0; i < f->c.nobjs; i++) {
		nd += fid_eq(&f->c.objs[i]->fid, &d);
		nroot += fid_eq(&f->c.objs[i]->fid, &f->root);
	}
	assert_int_equal(nd, 1);
	assert_int_equal(nroot, 1);
}

/* 8. The root, named. */
static void
test_dirs_root(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	fill_index(f);
	mkf(f, "newtop", "x");
	mkf(f, ".georep/more", "state, never seen");
	crawl_dirs_of(f, "");
	o = crawl_find(&f->c, &f->root);
	assert_non_null(o);
	assert_true(o->flags & POBJ_ROOT);
	assert_true(o->flags & POBJ_VISITED);
	assert_true(o->flags & POBJ_KNOWN);
	assert_true(o->flags & POBJ_DIRTY);
	assert_true(S_ISDIR(o->mode));
	o = obj(f, "newtop");
	assert_non_null(o);
	ADDED(f, o, "", "newtop");
	assert_null(obj(f, ".georep"));
	assert_null(obj(f, ".georep/more"));
	/* Only the root is marked so. */
	for (size_t i = 0; i < f->c.nobjs; i++)
		if (!fid_eq(&f->c.objs[i]->fid, &f->root))
			assert_false(f->c.objs[i]->flags & POBJ_ROOT);

	crawl_dirs_of(f, ".");
	o = crawl_find(&f->c, &f->root);
	assert_non_null(o);
	assert_true(o->flags & POBJ_ROOT);
	assert_true(o->flags & POBJ_VISITED);
}

/* 9. Every indexed directory named: the same links as crawl_run. */
static void
test_dirs_equivalence(void **state)
{
	struct fx *f = *state;
	static const char *const dirs[] = {
		"", "d1", "d1/sub", "d2", "d2/deep", "d3", "d4",
	};
	enum { NDIRS = sizeof(dirs) / sizeof(dirs[0]) };
	struct fid fwd[NDIRS], rev[NDIRS];
	struct labels l = { .n = 0 };
	struct linkset want, got;

	std_tree(f);
	mkd(f, "d2");
	mkd(f, "d2/deep");
	mkf(f, "d2/deep/g", "g");
	mkd(f, "d3");
	mkf(f, "d3/inner", "i");
	mkd(f, "d4");
	mkf(f, "d4/k", "k");
	fill_index(f);
	for (size_t i = 0; i < NDIRS; i++) {
		fwd[i] = fid_of(f, dirs[i]);
		rev[NDIRS - 1 - i] = fwd[i];
		label(f, &l, dirs[i]);
	}
	label(f, &l, "d1/f1");
	label(f, &l, "d1/sub/f2");
	label(f, &l, "d2/deep/g");
	label(f, &l, "d3/inner");
	label(f, &l, "f3");
	label(f, &l, "fifo");

	/* Creations. */
	mkf(f, "d2/new.txt", "new");
	mkd(f, "d2/newdir");
	mkf(f, "d2/newdir/n", "n");
	/* Renames across directories, a file and a directory. */
	assert_int_equal(renameat(f->rootfd, "d1/f1", f->rootfd,
	    "d2/f1moved"), 0);
	assert_int_equal(renameat(f->rootfd, "d2/deep/g", f->rootfd,
	    "d1/sub/g"), 0);
	assert_int_equal(renameat(f->rootfd, "d4", f->rootfd, "d1/d4moved"),
	    0);
	/* Deletes. */
	assert_int_equal(unlinkat(f->rootfd, "d1/sub/f2", 0), 0);
	assert_int_equal(unlinkat(f->rootfd, "fifo", 0), 0);
	/* A new hard link. */
	assert_int_equal(linkat(f->rootfd, "f3", f->rootfd, "d2/deep/h3b", 0),
	    0);
	/* A directory replaced by a file. */
	assert_int_equal(unlinkat(f->rootfd, "d3/inner", 0), 0);
	assert_int_equal(unlinkat(f->rootfd, "d3", AT_REMOVEDIR), 0);
	mkf(f, "d3", "now a file");
	label(f, &l, "d2/new.txt");
	label(f, &l, "d2/newdir");
	label(f, &l, "d2/newdir/n");
	label(f, &l, "d3");

	crawl(f);
	linkset_of(&f->c, &l, &want);
	assert_int_equal(want.n, 14);	/* every mutation is seen */

	/* Children before their parents. */
	crawl_dirs_fids(f, rev, NDIRS);
	linkset_of(&f->c, &l, &got);
	assert_same_links(&want, &got, "directories named children first");

	/* Parents before their children. */
	crawl_dirs_fids(f, fwd, NDIRS);
	linkset_of(&f->c, &l, &got);
	assert_same_links(&want, &got, "directories named parents first");
	linkset_release(&want);
}

/* A directory and its known subdirectory both named: both are listed,
 * whichever comes first. */
static void
test_dirs_parent_and_child(void **state)
{
	struct fx *f = *state;
	struct pobj *o;

	std_tree(f);
	fill_index(f);
	assert_int_equal(renameat(f->rootfd, "d1/f1", f->rootfd,
	    "d1/sub/f1"), 0);

	crawl_dirs_of(f, "d1/sub", "d1");
	o = obj(f, "d1/sub/f1");
	assert_non_null(o);
	if (o->nadded != 1 || o->nremoved != 1)
		fail_msg("d1/sub named before d1: f1 has %u added, %u removed "
		    "links (want 1 and 1)", o->nadded, o->nremoved);
	ADDED(f, o, "d1/sub", "f1");
	REMOVED_AT(f, o, "d1", "f1");

	crawl_dirs_of(f, "d1", "d1/sub");
	o = obj(f, "d1/sub/f1");
	assert_non_null(o);
	if (o->nadded != 1 || o->nremoved != 1)
		fail_msg("d1 named before d1/sub: f1 has %u added, %u removed "
		    "links (want 1 and 1): d1/sub was %s", o->nadded,
		    o->nremoved, obj(f, "d1/sub") && (obj(f, "d1/sub")->flags &
		    POBJ_VISITED) ? "marked POBJ_VISITED by d1's listing, "
		    "and not listed" : "not listed");
	ADDED(f, o, "d1/sub", "f1");
	REMOVED_AT(f, o, "d1", "f1");
}

/* ---- crawl_removed_above ---- */

/* A made-up fid, no kernel handle's (and not the staging area's). */
static struct fid
fake_fid(const char *tag)
{
	struct fid id = { .len = 12 };

	memset(id.bytes, 0xee, sizeof(id.bytes));
	memcpy(id.bytes, tag, strlen(tag) < 12 ? strlen(tag) : 12);
	return id;
}

/* An index record for a directory id, linked under parent (no link when
 * parent is NULL), in the write transaction f->t. */
static void
put_dir(struct fx *f, const struct fid *id, const struct fid *parent,
    const char *name)
{
	struct irec r;

	memset(&r, 0, sizeof(r));
	r.mode = S_IFDIR | 0755;
	r.sino = 1;
	assert_int_equal(index_put(f->t, id, &r), 0);
	if (parent)
		assert_int_equal(link_add(f->t, id, parent, name,
		    strlen(name)), 0);
}

static void
test_removed_above(void **state)
{
	struct fx *f = *state;
	struct fid a, ab, abc, x, xy, stage;

	mkd(f, "a");
	mkd(f, "a/b");
	mkd(f, "a/b/c");
	mkd(f, "x");
	mkd(f, "x/y");
	fill_index(f);
	a = fid_of(f, "a");
	ab = fid_of(f, "a/b");
	abc = fid_of(f, "a/b/c");
	x = fid_of(f, "x");
	xy = fid_of(f, "x/y");

	/* Beside the real tree, in the index only: a directory waiting in
	 * the staging area and one below it, one with no link, and two
	 * that are each other's parent (a broken index). */
	struct fid staged = fake_fid("staged"), below = fake_fid("below");
	struct fid orphan = fake_fid("orphan");
	struct fid p = fake_fid("cycle-p"), q = fake_fid("cycle-q");
	fid_set_stage(&stage);
	assert_int_equal(index_begin(f->ix, true, &f->t), 0);
	put_dir(f, &staged, &stage, "0123");
	put_dir(f, &below, &staged, "in");
	put_dir(f, &orphan, NULL, NULL);
	put_dir(f, &p, &q, "p");
	put_dir(f, &q, &p, "q");
	assert_int_equal(index_commit(f->t), 0);
	f->t = NULL;

	/* a goes away, with everything in it; x stays. */
	assert_int_equal(unlinkat(f->rootfd, "a/b/c", AT_REMOVEDIR), 0);
	assert_int_equal(unlinkat(f->rootfd, "a/b", AT_REMOVEDIR), 0);
	assert_int_equal(unlinkat(f->rootfd, "a", AT_REMOVEDIR), 0);
	crawl_dirs_of(f, "");
	struct pobj *o = crawl_find(&f->c, &a);
	assert_non_null(o);
	REMOVED_AT(f, o, "", "a");

	/* The directory removed, and those below it the crawl never saw. */
	assert_true(crawl_removed_above(&f->c, f->t, &a));
	assert_true(crawl_removed_above(&f->c, f->t, &ab));
	assert_true(crawl_removed_above(&f->c, f->t, &abc));
	/* Still there: the root, and what is below it untouched. */
	assert_false(crawl_removed_above(&f->c, f->t, &f->root));
	assert_false(crawl_removed_above(&f->c, f->t, &x));
	assert_false(crawl_removed_above(&f->c, f->t, &xy));
	/* Nothing on the secondary to miss: unknown, linked nowhere, or in
	 * the staging area (itself or below). */
	struct fid unknown = fake_fid("unknown");
	assert_true(crawl_removed_above(&f->c, f->t, &unknown));
	assert_true(crawl_removed_above(&f->c, f->t, &orphan));
	assert_true(crawl_removed_above(&f->c, f->t, &staged));
	assert_true(crawl_removed_above(&f->c, f->t, &below));
	/* A cycle never reaches the root: past the bound the walk says no,
	 * the answer that loses nothing, and warns once. */
	assert_false(f->c.walk_warned);
	assert_false(crawl_removed_above(&f->c, f->t, &p));
	assert_true(f->c.walk_warned);
	assert_false(crawl_removed_above(&f->c, f->t, &q));
	/* crawl_dirs asks the same: naming x/y, which did not move, needs no
	 * full crawl; naming a/b, which went with a, neither. */
	crawl_dirs_of(f, "", "x/y");
	assert_false(f->c.need_full);
	struct fid named[2] = { f->root, ab };
	crawl_dirs_fids(f, named, 2);
	assert_false(f->c.need_full);
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
		T(test_dirs_rename_in_dir),
		T(test_dirs_move_across),
		T(test_dirs_new_tree),
		T(test_dirs_no_recursion_into_known),
		T(test_dirs_content_change),
		T(test_dirs_moved_dir_skipped),
		T(test_dirs_named_twice),
		T(test_dirs_root),
		T(test_dirs_equivalence),
		T(test_dirs_parent_and_child),
		T(test_removed_above),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
