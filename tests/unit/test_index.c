/*
 * Unit tests of the LMDB index (src/index/index.c): records, the two link
 * tables kept in step, children listing by parent, paths, meta, clear,
 * transaction abort, and the format versions (an index or a record of
 * another version refused, an index from before the format key taken in).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <lmdb.h>
#include <cmocka.h>

#include "common/codec.h"
#include "common/fid.h"
#include "index/index.h"
#include "testutil.h"

struct fx {
	char top[PATH_MAX];
	char dir[PATH_MAX + 16];
	struct index *ix;
	struct index_txn *t;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	scratch_make(f->top, "index");
	snprintf(f->dir, sizeof(f->dir), "%s/index", f->top);
	assert_int_equal(index_open(&f->ix, f->dir), 0);
	assert_int_equal(index_begin(f->ix, true, &f->t), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	index_abort(f->t);
	index_close(f->ix);
	rm_rf(f->top);
	free(f);
	return 0;
}

/* Commit the current write transaction and open another. */
static void
recommit(struct fx *f)
{
	assert_int_equal(index_commit(f->t), 0);
	assert_int_equal(index_begin(f->ix, true, &f->t), 0);
}

static struct fid
mkfid(size_t n, const uint8_t *b)
{
	struct fid f;

	memset(&f, 0, sizeof(f));
	f.len = (uint8_t)n;
	memcpy(f.bytes, b, n);
	return f;
}
#define FID(...) mkfid(sizeof((uint8_t[]){ __VA_ARGS__ }), \
	(const uint8_t[]){ __VA_ARGS__ })

static struct irec
mkrec(uint32_t mode)
{
	struct irec r;

	memset(&r, 0, sizeof(r));
	r.mode = mode;
	r.uid = 1000;
	r.gid = 1001;
	return r;
}

/* A new object with no links. */
static void
put_obj(struct fx *f, const struct fid *fid, uint32_t mode)
{
	struct irec r = mkrec(mode);

	assert_int_equal(index_put(f->t, fid, &r), 0);
}

/* A new directory or file with one link. */
static void
add(struct fx *f, const struct fid *fid, const struct fid *parent,
    const char *name, uint32_t mode)
{
	put_obj(f, fid, mode);
	assert_int_equal(link_add(f->t, fid, parent, name, strlen(name)), 0);
}

static bool
has_link(const struct irec *r, const struct fid *parent, const char *name)
{
	for (uint32_t i = 0; i < r->nlinks; i++)
		if (fid_eq(&r->links[i].parent, parent) &&
		    r->links[i].name_len == strlen(name) &&
		    memcmp(r->links[i].name, name, strlen(name)) == 0)
			return true;
	return false;
}

static void
assert_child(struct fx *f, const struct fid *parent, const char *name,
    const struct fid *want)
{
	struct fid got;
	int rc = index_child_get(f->t, parent, name, strlen(name), &got);

	if (want == NULL) {
		assert_int_equal(rc, 1);
		return;
	}
	assert_int_equal(rc, 0);
	assert_true(fid_eq(&got, want));
}

static void
test_record_roundtrip(void **state)
{
	struct fx *f = *state;
	struct fid id = FID(0xaa, 0xbb, 0xcc, 0xdd), p1 = FID(1), p2 = FID(2, 2);
	struct fid p3;
	struct irec in, out;
	struct ilink links[3];
	char longname[256];

	memset(&p3, 0x5a, sizeof(p3));
	p3.len = FID_MAX;
	memset(longname, 'L', 255);
	memset(links, 0, sizeof(links));
	links[0].parent = p1;
	links[0].name_len = 1;
	memcpy(links[0].name, "a", 1);
	links[1].parent = p2;
	links[1].name_len = 3;
	memcpy(links[1].name, "\xff\x01z", 3);
	links[2].parent = p3;
	links[2].name_len = 255;
	memcpy(links[2].name, longname, 255);

	memset(&in, 0, sizeof(in));
	in.mode = 0100644;
	in.uid = 4000000000u;
	in.gid = 7;
	in.size = 0x123456789ull;
	in.mtime_sec = -1;
	in.mtime_nsec = 999999999;
	in.ctime_sec = 1700000000;
	in.ctime_nsec = 1;
	in.rdev = 0x0801;
	in.sino = 0xfeedfacecafebeefull;
	in.xattr_digest = 42;
	for (int i = 0; i < 16; i++)
		in.content_hash[i] = (uint8_t)(i * 17);
	in.synced = IREC_CONTENT | IREC_ATTRS;
	in.nlinks = 3;
	in.links = links;

	assert_int_equal(index_get(f->t, &id, &out), 1);
	assert_int_equal(index_put(f->t, &id, &in), 0);
	recommit(f);
	assert_int_equal(index_get(f->t, &id, &out), 0);
	assert_int_equal(out.mode, in.mode);
	assert_int_equal(out.uid, in.uid);
	assert_int_equal(out.gid, in.gid);
	assert_true(out.size == in.size);
	assert_true(out.mtime_sec == -1);
	assert_int_equal(out.mtime_nsec, in.mtime_nsec);
	assert_true(out.ctime_sec == in.ctime_sec);
	assert_int_equal(out.ctime_nsec, in.ctime_nsec);
	assert_true(out.rdev == in.rdev);
	assert_true(out.sino == in.sino);
	assert_true(out.xattr_digest == in.xattr_digest);
	assert_memory_equal(out.content_hash, in.content_hash, 16);
	assert_int_equal(out.synced, in.synced);
	assert_int_equal(out.nlinks, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(fid_eq(&out.links[i].parent, &links[i].parent));
		assert_int_equal(out.links[i].name_len, links[i].name_len);
		assert_memory_equal(out.links[i].name, links[i].name,
		    links[i].name_len);
	}
	irec_release(&out);
	assert_null(out.links);

	/* No links at all. */
	struct fid bare = FID(0xaa, 0xbb, 0xcc);	/* a prefix of id */
	put_obj(f, &bare, 040755);
	assert_int_equal(index_get(f->t, &bare, &out), 0);
	assert_int_equal(out.mode, 040755);
	assert_int_equal(out.nlinks, 0);
	irec_release(&out);
	/* ... and the longer fid is untouched by it. */
	assert_int_equal(index_get(f->t, &id, &out), 0);
	assert_int_equal(out.nlinks, 3);
	irec_release(&out);

	/* Overwrite, delete. */
	in.nlinks = 1;
	in.mode = 0100600;
	assert_int_equal(index_put(f->t, &id, &in), 0);
	assert_int_equal(index_get(f->t, &id, &out), 0);
	assert_int_equal(out.mode, 0100600);
	assert_int_equal(out.nlinks, 1);
	irec_release(&out);
	assert_int_equal(index_del(f->t, &id), 0);
	assert_int_equal(index_get(f->t, &id, &out), 1);
	assert_int_equal(index_del(f->t, &id), 1);
	assert_int_equal(index_get(f->t, &bare, &out), 0);
	irec_release(&out);
}

static void
test_links_consistent(void **state)
{
	struct fx *f = *state;
	struct fid x = FID(10, 1), y = FID(10, 2), p = FID(20), q = FID(21);
	struct irec r;

	put_obj(f, &x, 0100644);
	put_obj(f, &y, 0100644);
	assert_int_equal(link_add(f->t, &x, &p, "a", 1), 0);
	assert_int_equal(link_add(f->t, &x, &q, "b", 1), 0);
	assert_int_equal(link_add(f->t, &x, &p, "c", 1), 0);
	assert_int_equal(link_add(f->t, &y, &p, "d", 1), 0);
	recommit(f);

	assert_int_equal(index_get(f->t, &x, &r), 0);
	assert_int_equal(r.nlinks, 3);
	assert_true(has_link(&r, &p, "a"));
	assert_true(has_link(&r, &q, "b"));
	assert_true(has_link(&r, &p, "c"));
	assert_int_equal(r.mode, 0100644);	/* the rest kept */
	assert_int_equal(r.uid, 1000);
	irec_release(&r);
	assert_child(f, &p, "a", &x);
	assert_child(f, &q, "b", &x);
	assert_child(f, &p, "c", &x);
	assert_child(f, &p, "d", &y);
	assert_child(f, &p, "b", NULL);
	assert_child(f, &q, "a", NULL);

	/* Remove the middle link: both tables lose it, nothing else. */
	assert_int_equal(link_del(f->t, &x, &q, "b", 1), 0);
	assert_int_equal(index_get(f->t, &x, &r), 0);
	assert_int_equal(r.nlinks, 2);
	assert_true(has_link(&r, &p, "a"));
	assert_true(has_link(&r, &p, "c"));
	assert_false(has_link(&r, &q, "b"));
	irec_release(&r);
	assert_child(f, &q, "b", NULL);
	assert_child(f, &p, "a", &x);

	/* A link that is not there: nothing changes. */
	assert_int_equal(link_del(f->t, &x, &q, "zz", 2), 0);
	assert_int_equal(index_get(f->t, &x, &r), 0);
	assert_int_equal(r.nlinks, 2);
	irec_release(&r);
	assert_child(f, &p, "d", &y);

	/* Remove the rest: the object stays, with no links. */
	assert_int_equal(link_del(f->t, &x, &p, "a", 1), 0);
	assert_int_equal(link_del(f->t, &x, &p, "c", 1), 0);
	assert_int_equal(index_get(f->t, &x, &r), 0);
	assert_int_equal(r.nlinks, 0);
	irec_release(&r);
	assert_child(f, &p, "a", NULL);
	assert_child(f, &p, "c", NULL);

	/* link_del of an unknown object still drops the child entry. */
	struct fid ghost = FID(99);
	put_obj(f, &ghost, 0100644);
	assert_int_equal(link_add(f->t, &ghost, &p, "g", 1), 0);
	assert_int_equal(index_del(f->t, &ghost), 0);
	assert_child(f, &p, "g", &ghost);
	assert_int_equal(link_del(f->t, &ghost, &p, "g", 1), 0);
	assert_child(f, &p, "g", NULL);
	assert_int_equal(index_get(f->t, &ghost, &r), 1);

	/* A rename in one transaction: del then add. */
	assert_int_equal(link_add(f->t, &x, &p, "old", 3), 0);
	assert_int_equal(link_del(f->t, &x, &p, "old", 3), 0);
	assert_int_equal(link_add(f->t, &x, &q, "new", 3), 0);
	recommit(f);
	assert_int_equal(index_get(f->t, &x, &r), 0);
	assert_int_equal(r.nlinks, 1);
	assert_true(has_link(&r, &q, "new"));
	irec_release(&r);
	assert_child(f, &p, "old", NULL);
	assert_child(f, &q, "new", &x);
}

static void
assert_kids(struct fx *f, const struct fid *parent, const char *const *names,
    const struct fid *const *fids, size_t n)
{
	struct ichild_list l = { 0 };

	assert_int_equal(index_children(f->t, parent, &l), 0);
	if (l.n != n) {
		for (size_t i = 0; i < l.n; i++)
			print_error("  child %zu: %.*s\n", i,
			    (int)l.v[i].name_len, l.v[i].name);
	}
	assert_int_equal(l.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(l.v[i].name_len, strlen(names[i]));
		assert_memory_equal(l.v[i].name, names[i], l.v[i].name_len);
		assert_int_equal(l.v[i].name[l.v[i].name_len], '\0');
		assert_true(fid_eq(&l.v[i].fid, fids[i]));
	}
	ichild_list_release(&l);
	assert_null(l.v);
}

static void
test_children_order_and_prefix(void **state)
{
	struct fx *f = *state;
	/* Parents whose fids are prefixes of one another. */
	struct fid a = FID(1, 2), b = FID(1, 2, 3), c = FID(1), d = FID(1, 2, 0);
	struct fid e = FID(3, 1, 2);	/* a's key bytes, shifted */
	struct fid k[12];

	for (int i = 0; i < 12; i++)
		k[i] = mkfid(4, (const uint8_t[]){ 0x77, 0, 0, (uint8_t)i });
	/* Under a, inserted out of order. */
	add(f, &k[0], &a, "b", 0100644);
	add(f, &k[1], &a, "\xff", 0100644);
	add(f, &k[2], &a, "a", 0100644);
	add(f, &k[3], &a, "B", 0100644);
	add(f, &k[4], &a, "ab", 0100644);
	add(f, &k[5], &a, "a\x01", 0100644);
	/* Under the others. */
	add(f, &k[6], &b, "a", 0100644);
	add(f, &k[7], &b, "0", 0100644);
	add(f, &k[8], &c, "zz", 0100644);
	add(f, &k[9], &d, "m", 0100644);
	add(f, &k[10], &e, "q", 0100644);
	recommit(f);

	const char *an[] = { "B", "a", "a\x01", "ab", "b", "\xff" };
	const struct fid *af[] = { &k[3], &k[2], &k[5], &k[4], &k[0], &k[1] };
	assert_kids(f, &a, an, af, 6);
	const char *bn[] = { "0", "a" };
	const struct fid *bf[] = { &k[7], &k[6] };
	assert_kids(f, &b, bn, bf, 2);
	const char *cn[] = { "zz" };
	const struct fid *cf[] = { &k[8] };
	assert_kids(f, &c, cn, cf, 1);
	const char *dn[] = { "m" };
	const struct fid *df[] = { &k[9] };
	assert_kids(f, &d, dn, df, 1);
	const char *en[] = { "q" };
	const struct fid *ef[] = { &k[10] };
	assert_kids(f, &e, en, ef, 1);
	/* No children; a parent that sorts after everything. */
	struct fid none = FID(1, 2, 3, 4), last = FID(0xff, 0xff);
	assert_kids(f, &none, NULL, NULL, 0);
	assert_kids(f, &last, NULL, NULL, 0);
	assert_kids(f, &k[0], NULL, NULL, 0);

	/* After removing one in the middle. */
	assert_int_equal(link_del(f->t, &k[5], &a, "a\x01", 2), 0);
	const char *an2[] = { "B", "a", "ab", "b", "\xff" };
	const struct fid *af2[] = { &k[3], &k[2], &k[4], &k[0], &k[1] };
	assert_kids(f, &a, an2, af2, 5);

	/* A list is reused: n restarts at 0. */
	struct ichild_list l = { 0 };
	assert_int_equal(index_children(f->t, &a, &l), 0);
	assert_int_equal(index_children(f->t, &b, &l), 0);
	assert_int_equal(l.n, 2);
	ichild_list_release(&l);

	/* Many children: beyond the list's first allocation. */
	struct fid many = FID(0x42, 0x42);
	char name[32];
	for (int i = 0; i < 300; i++) {
		struct fid o = mkfid(3, (const uint8_t[]){ 0x43, (uint8_t)(i >> 8),
		    (uint8_t)i });
		snprintf(name, sizeof(name), "n%04d", 299 - i);
		add(f, &o, &many, name, 0100644);
	}
	assert_int_equal(index_children(f->t, &many, &l), 0);
	assert_int_equal(l.n, 300);
	for (size_t i = 0; i < l.n; i++) {
		snprintf(name, sizeof(name), "n%04zu", i);
		assert_string_equal(l.v[i].name, name);
		assert_int_equal(l.v[i].fid.bytes[2], (uint8_t)(299 - i));
	}
	ichild_list_release(&l);
}

static void
test_path(void **state)
{
	struct fx *f = *state;
	struct fid root = FID(9, 9), da = FID(9, 1), db = FID(9, 2),
	    fc = FID(9, 3), stage, sx = FID(8, 1), sy = FID(8, 2),
	    unknown = FID(7, 7), orphan = FID(7, 8), lost = FID(7, 9);
	struct buf path = BUF_INIT;
	uint8_t base = 99;

	fid_set_stage(&stage);
	put_obj(f, &root, 040755);
	add(f, &da, &root, "a", 040755);
	add(f, &db, &da, "b", 040755);
	add(f, &fc, &db, "c", 0100644);
	add(f, &sx, &stage, "x", 040755);
	add(f, &sy, &sx, "y", 0100644);
	add(f, &orphan, &unknown, "o", 0100644);
	put_obj(f, &lost, 0100644);	/* no link */
	recommit(f);

	assert_int_equal(index_path(f->t, &root, &fc, &path, &base, NULL), 0);
	assert_int_equal(base, BASE_ROOT);
	assert_int_equal(path.len, 5);
	assert_memory_equal(path.data, "a/b/c", 5);
	assert_int_equal(index_path(f->t, &root, &da, &path, &base, NULL), 0);
	assert_int_equal(path.len, 1);
	assert_memory_equal(path.data, "a", 1);
	/* The root: "" (path reset from the last call). */
	assert_int_equal(index_path(f->t, &root, &root, &path, &base, NULL), 0);
	assert_int_equal(base, BASE_ROOT);
	assert_int_equal(path.len, 0);

	/* Under the staging area. */
	base = 99;
	assert_int_equal(index_path(f->t, &root, &sy, &path, &base, NULL), 0);
	assert_int_equal(base, BASE_STAGE);
	assert_int_equal(path.len, 3);
	assert_memory_equal(path.data, "x/y", 3);
	assert_int_equal(index_path(f->t, &root, &sx, &path, &base, NULL), 0);
	assert_int_equal(base, BASE_STAGE);
	assert_int_equal(path.len, 1);
	assert_int_equal(index_path(f->t, &root, &stage, &path, &base, NULL),
	    0);
	assert_int_equal(base, BASE_STAGE);
	assert_int_equal(path.len, 0);

	/* Unknown: the fid, a directory above it, or no link. */
	assert_int_equal(index_path(f->t, &root, &unknown, &path, &base, NULL),
	    1);
	assert_int_equal(index_path(f->t, &root, &orphan, &path, &base, NULL),
	    1);
	assert_int_equal(index_path(f->t, &root, &lost, &path, &base, NULL), 1);

	/* The first link decides; a second link elsewhere does not matter. */
	assert_int_equal(link_add(f->t, &fc, &root, "hard", 4), 0);
	assert_int_equal(index_path(f->t, &root, &fc, &path, &base, NULL), 0);
	assert_int_equal(path.len, 5);
	assert_memory_equal(path.data, "a/b/c", 5);

	/* The object's own secondary inode number: 0 for the root and the
	 * staging area, which the secondary finds by itself. */
	struct irec r;
	uint64_t sino = 1;
	assert_int_equal(index_get(f->t, &db, &r), 0);
	r.sino = 77;
	assert_int_equal(index_put(f->t, &db, &r), 0);
	irec_release(&r);
	assert_int_equal(index_path(f->t, &root, &db, &path, &base, &sino), 0);
	assert_int_equal(sino, 77);
	assert_int_equal(index_path(f->t, &root, &root, &path, &base, &sino),
	    0);
	assert_int_equal(sino, 0);
	sino = 1;
	assert_int_equal(index_path(f->t, &root, &stage, &path, &base, &sino),
	    0);
	assert_int_equal(sino, 0);

	/* Long names. */
	char n255[256];
	memset(n255, 'N', 255);
	n255[255] = '\0';
	struct fid deep = FID(9, 4);
	add(f, &deep, &fc, n255, 0100644);
	assert_int_equal(index_path(f->t, &root, &deep, &path, &base, NULL), 0);
	assert_int_equal(path.len, 5 + 1 + 255);
	assert_memory_equal(path.data + 6, n255, 255);
	buf_release(&path);
}

static void
test_path_cycle(void **state)
{
	struct fx *f = *state;
	struct fid root = FID(1), a = FID(2), b = FID(3);
	struct buf path = BUF_INIT;
	uint8_t base;

	/* A corrupt index: a and b are each other's parent.  index_path must
	 * give up, not loop forever. */
	put_obj(f, &a, 040755);
	put_obj(f, &b, 040755);
	assert_int_equal(link_add(f->t, &a, &b, "a", 1), 0);
	assert_int_equal(link_add(f->t, &b, &a, "b", 1), 0);
	assert_int_not_equal(index_path(f->t, &root, &a, &path, &base, NULL),
	    0);
	buf_release(&path);
}

static void
test_clear(void **state)
{
	struct fx *f = *state;
	struct fid root = FID(1), x = FID(2), y = FID(3);
	struct irec r;
	bool empty = false;

	assert_int_equal(index_is_empty(f->t, &empty), 0);
	assert_true(empty);
	put_obj(f, &root, 040755);
	add(f, &x, &root, "x", 0100644);
	add(f, &y, &x, "y", 0100644);
	recommit(f);
	assert_int_equal(index_is_empty(f->t, &empty), 0);
	assert_false(empty);

	assert_int_equal(index_clear(f->t), 0);
	recommit(f);
	assert_int_equal(index_is_empty(f->t, &empty), 0);
	assert_true(empty);
	assert_int_equal(index_get(f->t, &root, &r), 1);
	assert_int_equal(index_get(f->t, &x, &r), 1);
	assert_child(f, &root, "x", NULL);
	assert_child(f, &x, "y", NULL);
	assert_kids(f, &root, NULL, NULL, 0);

	/* Usable again afterwards. */
	add(f, &x, &root, "x2", 0100644);
	assert_child(f, &root, "x2", &x);
}

static void
test_meta(void **state)
{
	struct fx *f = *state;
	struct buf b = BUF_INIT;

	assert_int_equal(index_meta_get(f->t, "root", &b), 1);
	assert_int_equal(index_meta_put(f->t, "root", "\x01\x00\x02", 3), 0);
	assert_int_equal(index_meta_put(f->t, "volume", "vol-1", 5), 0);
	assert_int_equal(index_meta_put(f->t, "empty", "", 0), 0);
	recommit(f);
	buf_addstr(&b, "stale bytes");
	assert_int_equal(index_meta_get(f->t, "root", &b), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "\x01\x00\x02", 3);
	assert_int_equal(index_meta_get(f->t, "volume", &b), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "vol-1", 5);
	assert_int_equal(index_meta_get(f->t, "empty", &b), 0);
	assert_int_equal(b.len, 0);
	/* Keys are exact. */
	assert_int_equal(index_meta_get(f->t, "roo", &b), 1);
	assert_int_equal(index_meta_get(f->t, "rootx", &b), 1);
	/* Overwrite. */
	assert_int_equal(index_meta_put(f->t, "volume", "vol-22", 6), 0);
	assert_int_equal(index_meta_get(f->t, "volume", &b), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "vol-22", 6);
	buf_release(&b);
}

static void
test_abort_and_reopen(void **state)
{
	struct fx *f = *state;
	struct fid root = FID(1), x = FID(2), y = FID(3);
	struct buf b = BUF_INIT;
	struct irec r;

	put_obj(f, &root, 040755);
	add(f, &x, &root, "kept", 0100644);
	assert_int_equal(index_meta_put(f->t, "k", "v1", 2), 0);
	recommit(f);

	/* Changes in an aborted transaction vanish. */
	add(f, &y, &root, "gone", 0100644);
	assert_int_equal(link_del(f->t, &x, &root, "kept", 4), 0);
	assert_int_equal(index_meta_put(f->t, "k", "v2", 2), 0);
	assert_int_equal(index_del(f->t, &root), 0);
	index_abort(f->t);
	assert_int_equal(index_begin(f->ix, false, &f->t), 0);	/* read */
	assert_int_equal(index_get(f->t, &y, &r), 1);
	assert_child(f, &root, "gone", NULL);
	assert_child(f, &root, "kept", &x);
	assert_int_equal(index_get(f->t, &x, &r), 0);
	assert_int_equal(r.nlinks, 1);
	irec_release(&r);
	assert_int_equal(index_get(f->t, &root, &r), 0);
	irec_release(&r);
	assert_int_equal(index_meta_get(f->t, "k", &b), 0);
	assert_memory_equal(b.data, "v1", 2);
	index_abort(f->t);
	index_abort(NULL);		/* harmless */

	/* Committed state survives a close and reopen. */
	index_close(f->ix);
	f->t = NULL;
	assert_int_equal(index_open(&f->ix, f->dir), 0);
	assert_int_equal(index_begin(f->ix, true, &f->t), 0);
	assert_child(f, &root, "kept", &x);
	assert_int_equal(index_get(f->t, &x, &r), 0);
	assert_true(has_link(&r, &root, "kept"));
	irec_release(&r);
	buf_release(&b);
}


/* ---- format versions ---- */

/* Commit the fixture's transaction and close the index (a test then
 * opens it again its own way). */
static void
close_index(struct fx *f)
{
	assert_int_equal(index_commit(f->t), 0);
	f->t = NULL;
	index_close(f->ix);
	f->ix = NULL;
}

static void
reopen(struct fx *f)
{
	assert_int_equal(index_open(&f->ix, f->dir), 0);
	assert_int_equal(index_begin(f->ix, true, &f->t), 0);
}

/* Write a value into a table of the closed index behind its back: what
 * another build, or damage, leaves. */
/* A write transaction on a table of the closed index, straight in LMDB. */
static MDB_env *
raw_begin(const struct fx *f, const char *table, MDB_txn **txn, MDB_dbi *dbi)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 40), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, table, 0, dbi), 0);
	return env;
}

static void
raw_put(const struct fx *f, const char *table, const void *k, size_t klen,
    const void *v, size_t vlen)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };
	MDB_env *env = raw_begin(f, table, &txn, &dbi);

	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
raw_put_format(const struct fx *f, uint32_t format)
{
	struct buf b = BUF_INIT;

	put_u32(&b, format);
	raw_put(f, "meta", "format", 6, b.data, b.len);
	buf_release(&b);
}

/* index_open must refuse, with errno err and a log holding want. */
static void
expect_refused(struct fx *f, int err, const char *want)
{
	struct log_capture c;
	struct index *ix = (struct index *)1;

	log_capture(&c);
	errno = 0;
	int rc = index_open(&ix, f->dir);
	int e = errno;
	char *text = log_captured(&c);
	if (strstr(text, want) == NULL)
		print_message("logged: %s\nwanted: %s\n", text, want);
	assert_non_null(strstr(text, want));
	free(text);
	assert_int_equal(rc, -1);
	assert_int_equal(e, err);
	assert_ptr_equal(ix, (struct index *)1);	/* untouched */
}

static void
expect_format(struct fx *f, uint32_t want)
{
	struct buf b = BUF_INIT;
	struct rd r;

	assert_int_equal(index_meta_get(f->t, "format", &b), 0);
	rd_init(&r, b.data, b.len);
	assert_int_equal(get_u32(&r), want);
	assert_true(rd_end(&r));
	buf_release(&b);
}

static void
test_format_written(void **state)
{
	struct fx *f = *state;
	struct fid root = FID(1);

	/* A new index has the key, as a u32. */
	expect_format(f, INDEX_FORMAT);
	put_obj(f, &root, 040755);
	close_index(f);
	reopen(f);
	expect_format(f, INDEX_FORMAT);
}

static void
test_format_refused(void **state)
{
	struct fx *f = *state;
	struct fid root = FID(1);
	struct irec r;
	char want[PATH_MAX + 128];

	put_obj(f, &root, 040755);
	close_index(f);
	raw_put_format(f, 3);
	snprintf(want, sizeof(want), "the index %s has format 3; this "
	    "georep reads format %d (made by a newer georep?)", f->dir,
	    INDEX_FORMAT);
	expect_refused(f, EPROTONOSUPPORT, want);
	/* Every version but this one, without the guess for a lower one. */
	raw_put_format(f, 0);
	snprintf(want, sizeof(want), "the index %s has format 0; this "
	    "georep reads format %d\n", f->dir, INDEX_FORMAT);
	expect_refused(f, EPROTONOSUPPORT, want);
	raw_put_format(f, UINT32_MAX);
	expect_refused(f, EPROTONOSUPPORT, "has format 4294967295;");
	/* A key that is no u32 at all. */
	raw_put(f, "meta", "format", 6, "\x01\x00\x00", 3);
	expect_refused(f, EIO, "a corrupt format key");
	raw_put(f, "meta", "format", 6, "\x01\x00\x00\x00\x00", 5);
	expect_refused(f, EIO, "a corrupt format key");

	/* The refusals changed nothing: set right, the index is whole. */
	raw_put_format(f, INDEX_FORMAT);
	reopen(f);
	assert_int_equal(index_get(f->t, &root, &r), 0);
	irec_release(&r);
}

static void
test_format_missing_is_1(void **state)
{
	struct fx *f = *state;
	struct fid root = FID(1);
	struct irec r;

	/* An index made before the format key: format 1, taken in, and
	 * given the key. */
	put_obj(f, &root, 040755);
	assert_int_equal(index_meta_del(f->t, "format"), 0);
	recommit(f);
	assert_int_equal(index_meta_del(f->t, "format"), 1);
	close_index(f);
	reopen(f);
	expect_format(f, 1);
	assert_int_equal(index_get(f->t, &root, &r), 0);
	irec_release(&r);
}

/* Set the byte at off of the value of key in a table of the closed
 * index, behind its back. */
static void
raw_patch(const struct fx *f, const char *table, const struct fid *key,
    size_t off, uint8_t byte)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { key->len, (void *)key->bytes }, v;
	uint8_t copy[4096];
	MDB_env *env = raw_begin(f, table, &txn, &dbi);

	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_true(off < v.mv_size && v.mv_size <= sizeof(copy));
	memcpy(copy, v.mv_data, v.mv_size);
	copy[off] = byte;
	v.mv_data = copy;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static int
count_objects(void *arg, const struct fid *fid, const struct irec *rec)
{
	(void)fid;
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

/* index_get of fid must fail with errno err and a log holding want. */
static void
expect_get_refused(struct fx *f, const struct fid *fid, int err,
    const char *want)
{
	struct log_capture c;
	struct irec r;
	int n = 0;

	log_capture(&c);
	errno = 0;
	assert_int_equal(index_get(f->t, fid, &r), -1);
	assert_int_equal(errno, err);
	errno = 0;
	assert_int_equal(index_foreach(f->t, count_objects, &n), -1);
	assert_int_equal(errno, err);
	char *text = log_captured(&c);
	assert_non_null(strstr(text, want));
	free(text);
}

static void
test_record_version_refused(void **state)
{
	struct fx *f = *state;
	struct fid a = FID(1), z = FID(9);
	struct irec r;
	char want[PATH_MAX + 128];

	put_obj(f, &a, 040755);
	put_obj(f, &z, 0100644);
	close_index(f);

	/* The first record of another version: refused at open. */
	raw_patch(f, "objects", &a, 0, 2);
	snprintf(want, sizeof(want), "the index %s holds records of version "
	    "2; this georep reads version 1 (made by a newer georep?)",
	    f->dir);
	expect_refused(f, EPROTONOSUPPORT, want);
	raw_patch(f, "objects", &a, 0, 1);
	reopen(f);
	assert_int_equal(index_get(f->t, &a, &r), 0);
	irec_release(&r);
	close_index(f);

	/* Another one (open looks at the first only): refused where it is
	 * read, never decoded as if it were this version. */
	raw_patch(f, "objects", &z, 0, 0);
	reopen(f);
	snprintf(want, sizeof(want), "the index %s holds records of version "
	    "0; this georep reads version 1\n", f->dir);
	expect_get_refused(f, &z, EPROTONOSUPPORT, want);
	assert_int_equal(index_get(f->t, &a, &r), 0);
	irec_release(&r);

	/* A record of this version that does not decode is corrupt. */
	close_index(f);
	raw_patch(f, "objects", &z, 0, 1);
	raw_patch(f, "objects", &z, 5, 0xff);	/* uid: fine */
	reopen(f);
	assert_int_equal(index_get(f->t, &z, &r), 0);
	irec_release(&r);
	close_index(f);
	raw_put(f, "objects", z.bytes, z.len, "\x01\x02", 2);
	reopen(f);
	expect_get_refused(f, &z, EIO, "a corrupt object record");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_links_consistent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_children_order_and_prefix,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_cycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_and_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_format_written, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_format_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_format_missing_is_1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_record_version_refused,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
