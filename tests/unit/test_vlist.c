/*
 * Unit tests of a VLIST page, the listing `georep verify` compares: an
 * entry round-trips through put_vlist_entry/get_vlist_entry (xattrs by the
 * digests of their values); proto_check_vlist_page, which the primary runs
 * on every page from the secondary before it uses it, refuses each way a
 * page can be wrong (a bad name, names out of order or not after the last
 * page's, "more" on an empty page, the state directory at the root, the
 * root's first page that does not begin with the root itself, xattr
 * names out of order, with a NUL, too many of them, a symlink without a
 * target or another object with one, nanoseconds of a second or more, an
 * entry cut short); and vlist_dir (src/verify/vlist.c), which builds a
 * page on either side, lists a real directory in byte order, pages with
 * `after`, passes over the state directory at the root only, begins the
 * root's first page with the root itself, and says what each entry is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/names.h"
#include "protocol/proto.h"
#include "verify/vlist.h"
#include "testutil.h"

/* ---- building entries ---- */

static struct vlist_entry
entry(const char *name, uint32_t mode)
{
	struct vlist_entry e;

	memset(&e, 0, sizeof(e));
	e.ino = 1000;
	e.mode = mode;
	e.uid = 1;
	e.gid = 2;
	e.nlink = 1;
	e.mtime_sec = 1700000000;
	e.mtime_nsec = 5;
	e.ctime_sec = 1700000001;
	e.ctime_nsec = 6;
	e.name = name;
	e.name_len = (uint32_t)strlen(name);
	return e;
}

static void
put_plain(struct buf *b, const char *name)
{
	struct vlist_entry e = entry(name, S_IFREG | 0644);
	struct attrs a = { 0 };

	put_vlist_entry(b, &e, &a);
}

/* Whether proto_check_vlist_page accepts the page in b (a first page, or
 * one after last when given); why says why not. */
static char why[512];

static bool
page_ok(const struct buf *b, bool more, bool root, const char *last)
{
	struct list_pos pos = { .len = 0 };

	why[0] = '\0';
	if (last) {
		pos.len = (uint32_t)strlen(last);
		memcpy(pos.last, last, pos.len);
	}
	return proto_check_vlist_page(b->data, b->len, more, root, &pos, why,
	    sizeof(why));
}

/* A page of one entry with the given xattrs (in the order given). */
static bool
xattrs_ok(const struct xattr *x, uint32_t n)
{
	struct vlist_entry e = entry("f", S_IFREG | 0644);
	struct attrs a = { .nxattrs = n, .xattrs = (struct xattr *)x };
	struct buf b = BUF_INIT;

	put_vlist_entry(&b, &e, &a);
	bool ok = page_ok(&b, false, false, NULL);
	buf_release(&b);
	return ok;
}

static struct xattr
xa(const char *name, const char *value)
{
	struct xattr x = { name, (uint32_t)strlen(name), (const uint8_t *)value,
	    (uint32_t)strlen(value) };
	return x;
}

/* ---- the entry on the wire ---- */

static void
test_round_trip(void **state)
{
	struct xattr x[2] = { xa("system.posix_acl_access", "acl-bytes"),
	    xa("user.color", "blue") };
	struct attrs a = { .nxattrs = 2, .xattrs = x };
	struct vlist_entry e = entry("link", S_IFLNK | 0777), g;
	struct buf b = BUF_INIT;
	struct rd r, xr;
	struct vxattr v;

	(void)state;
	e.ino = 0x0123456789abcdefull;
	e.uid = 4000000000u;
	e.gid = 7;
	e.nlink = 3;
	e.size = 1ull << 40;
	e.rdev = 0x1234;
	e.mtime_sec = -5;		/* before the epoch */
	e.mtime_nsec = 999999999;
	e.ctime_sec = INT64_MAX;
	e.ctime_nsec = 0;
	e.target = "../some/where";
	e.target_len = (uint32_t)strlen(e.target);
	e.xattr_errno = 0;
	put_vlist_entry(&b, &e, &a);
	put_plain(&b, "next");

	rd_init(&r, b.data, b.len);
	assert_true(get_vlist_entry(&r, &g));
	assert_true(g.ino == e.ino);
	assert_int_equal(g.mode, e.mode);
	assert_int_equal(g.uid, e.uid);
	assert_int_equal(g.gid, e.gid);
	assert_int_equal(g.nlink, 3);
	assert_true(g.size == e.size);
	assert_true(g.rdev == 0x1234);
	assert_true(g.mtime_sec == -5);
	assert_int_equal(g.mtime_nsec, 999999999);
	assert_true(g.ctime_sec == INT64_MAX);
	assert_int_equal(g.ctime_nsec, 0);
	assert_int_equal(g.name_len, 4);
	assert_memory_equal(g.name, "link", 4);
	assert_int_equal(g.target_len, e.target_len);
	assert_memory_equal(g.target, e.target, e.target_len);
	assert_int_equal(g.xattr_errno, 0);
	assert_int_equal(g.nxattrs, 2);
	/* The xattrs: names and value lengths as given, values by digest. */
	rd_init(&xr, g.xattrs, g.xattrs_len);
	for (int i = 0; i < 2; i++) {
		assert_true(get_vxattr(&xr, &v));
		assert_int_equal(v.name_len, x[i].name_len);
		assert_memory_equal(v.name, x[i].name, x[i].name_len);
		assert_int_equal(v.value_len, x[i].value_len);
		XXH128_hash_t h = XXH3_128bits(x[i].value, x[i].value_len);
		struct buf d = BUF_INIT;
		put_u64(&d, h.high64);
		put_u64(&d, h.low64);
		assert_memory_equal(v.digest, d.data, DIGEST_LEN);
		buf_release(&d);
	}
	assert_true(rd_end(&xr));
	/* The next entry follows exactly. */
	assert_true(get_vlist_entry(&r, &g));
	assert_int_equal(g.name_len, 4);
	assert_memory_equal(g.name, "next", 4);
	assert_int_equal(g.nxattrs, 0);
	assert_int_equal(g.target_len, 0);
	assert_true(rd_end(&r));
	assert_true(page_ok(&b, false, false, NULL));
	buf_release(&b);
}

/* Unreadable xattrs travel as an errno, with none listed. */
static void
test_xattr_errno(void **state)
{
	struct vlist_entry e = entry("f", S_IFREG | 0600), g;
	struct attrs a = { 0 };
	struct buf b = BUF_INIT;
	struct rd r;

	(void)state;
	e.xattr_errno = EACCES;
	put_vlist_entry(&b, &e, &a);
	rd_init(&r, b.data, b.len);
	assert_true(get_vlist_entry(&r, &g));
	assert_int_equal(g.xattr_errno, EACCES);
	assert_int_equal(g.nxattrs, 0);
	buf_release(&b);

	/* An errno past PROTO_ERRNO_MAX is not one. */
	e.xattr_errno = PROTO_ERRNO_MAX + 1;
	put_vlist_entry(&b, &e, &a);
	assert_false(page_ok(&b, false, false, NULL));
	buf_release(&b);
}

/* ---- what proto_check_vlist_page refuses ---- */

static void
test_bad_names(void **state)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "/" };
	struct buf b = BUF_INIT;
	char longname[NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_plain(&b, bad[i]);
		assert_false(page_ok(&b, false, false, NULL));
		assert_non_null(strstr(why, "invalid name"));
		buf_reset(&b);
	}
	/* A NUL inside a name. */
	struct vlist_entry e = entry("a", S_IFREG | 0644);
	struct attrs a = { 0 };
	e.name = "a\0b";
	e.name_len = 3;
	put_vlist_entry(&b, &e, &a);
	assert_false(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	/* 255 bytes is a name, 256 is not. */
	memset(longname, 'x', sizeof(longname));
	longname[NAME_MAX] = '\0';
	put_plain(&b, longname);
	assert_true(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	longname[NAME_MAX] = 'x';
	longname[NAME_MAX + 1] = '\0';
	put_plain(&b, longname);
	assert_false(page_ok(&b, false, false, NULL));
	buf_release(&b);
}

static void
test_order(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	/* Byte order, a prefix first: accepted. */
	put_plain(&b, "B");
	put_plain(&b, "a");
	put_plain(&b, "ab");
	put_plain(&b, "b");
	put_plain(&b, "\xff");
	assert_true(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	/* Out of order. */
	put_plain(&b, "b");
	put_plain(&b, "a");
	assert_false(page_ok(&b, false, false, NULL));
	assert_non_null(strstr(why, "out of order"));
	buf_reset(&b);
	/* The same name twice. */
	put_plain(&b, "a");
	put_plain(&b, "a");
	assert_false(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	/* A name not after the last page's. */
	put_plain(&b, "m");
	assert_true(page_ok(&b, false, false, "l"));
	assert_false(page_ok(&b, false, false, "m"));
	assert_false(page_ok(&b, false, false, "n"));
	buf_release(&b);
}

/* The position moves to the page's last name. */
static void
test_position(void **state)
{
	struct buf b = BUF_INIT;
	struct list_pos pos = { .len = 0 };

	(void)state;
	put_plain(&b, "a");
	put_plain(&b, "c");
	assert_true(proto_check_vlist_page(b.data, b.len, true, false, &pos,
	    why, sizeof(why)));
	assert_int_equal(pos.len, 1);
	assert_memory_equal(pos.last, "c", 1);
	buf_reset(&b);
	put_plain(&b, "b");
	assert_false(proto_check_vlist_page(b.data, b.len, false, false,
	    &pos, why, sizeof(why)));
	buf_release(&b);
}

static void
test_more_on_empty_page(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_false(page_ok(&b, true, false, NULL));
	assert_non_null(strstr(why, "more entries follow"));
	assert_true(page_ok(&b, false, false, NULL));	/* an empty directory */
	put_plain(&b, "a");
	assert_true(page_ok(&b, true, false, NULL));
	buf_release(&b);
}

/* The root itself, as the first entry of the root's first page. */
static void
put_root(struct buf *b)
{
	struct vlist_entry e = entry(".", S_IFDIR | 0755);
	struct attrs a = { 0 };

	put_vlist_entry(b, &e, &a);
}

static void
test_state_dir(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	put_root(&b);
	put_plain(&b, GEOREP_STATE_DIR);
	assert_false(page_ok(&b, false, true, NULL));
	assert_non_null(strstr(why, "state"));
	buf_reset(&b);
	put_plain(&b, GEOREP_STATE_DIR);
	assert_false(page_ok(&b, false, true, "-"));	/* a later page */
	assert_true(page_ok(&b, false, false, NULL));	/* below the root */
	buf_release(&b);
}

/* The root's first page begins with the root itself: a directory named
 * ".", there and only there. */
static void
test_root_self(void **state)
{
	struct buf b = BUF_INIT;
	struct attrs a = { 0 };
	struct vlist_entry e;

	(void)state;
	put_root(&b);
	assert_true(page_ok(&b, false, true, NULL));	/* an empty tree */
	put_plain(&b, "a");
	assert_true(page_ok(&b, false, true, NULL));
	assert_true(page_ok(&b, true, true, NULL));
	/* Not at the root, "." is no name. */
	assert_false(page_ok(&b, false, false, NULL));
	assert_non_null(strstr(why, "invalid name"));
	buf_reset(&b);
	/* Without it, or with it elsewhere than first. */
	assert_false(page_ok(&b, false, true, NULL));
	put_plain(&b, "a");
	assert_false(page_ok(&b, false, true, NULL));
	assert_non_null(strstr(why, "root itself"));
	put_root(&b);
	assert_false(page_ok(&b, false, true, NULL));
	buf_reset(&b);
	/* Twice. */
	put_root(&b);
	put_root(&b);
	assert_false(page_ok(&b, false, true, NULL));
	buf_reset(&b);
	/* Not a directory. */
	e = entry(".", S_IFREG | 0644);
	put_vlist_entry(&b, &e, &a);
	assert_false(page_ok(&b, false, true, NULL));
	buf_reset(&b);
	/* Only the root, and "more follow": the same page would be asked
	 * for again and again. */
	put_root(&b);
	assert_false(page_ok(&b, true, true, NULL));
	assert_non_null(strstr(why, "only the root"));
	buf_reset(&b);
	/* A later page of the root (after a name) has no "." */
	put_plain(&b, "b");
	assert_true(page_ok(&b, false, true, "a"));
	buf_reset(&b);
	put_root(&b);
	put_plain(&b, "b");
	assert_false(page_ok(&b, false, true, "a"));
	buf_release(&b);
}

static void
test_xattr_refusals(void **state)
{
	(void)state;
	struct xattr in_order[] = { xa("user.a", "1"), xa("user.b", "2") };
	assert_true(xattrs_ok(in_order, 2));
	struct xattr swapped[] = { xa("user.b", "2"), xa("user.a", "1") };
	assert_false(xattrs_ok(swapped, 2));
	struct xattr twice[] = { xa("user.a", "1"), xa("user.a", "2") };
	assert_false(xattrs_ok(twice, 2));
	/* A NUL inside a name. */
	struct xattr nul[] = { { "user.a\0b", 8, (const uint8_t *)"v", 1 } };
	assert_false(xattrs_ok(nul, 1));
	struct xattr empty[] = { { "", 0, (const uint8_t *)"v", 1 } };
	assert_false(xattrs_ok(empty, 1));
	/* A name over PROTO_XATTR_NAME_MAX. */
	char longname[PROTO_XATTR_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname, "user.", 5);
	struct xattr lng[] = { { longname, PROTO_XATTR_NAME_MAX, NULL, 0 } };
	assert_true(xattrs_ok(lng, 1));
	lng[0].name_len = PROTO_XATTR_NAME_MAX + 1;
	assert_false(xattrs_ok(lng, 1));
	/* A value longer than any xattr can be. */
	static uint8_t big[PROTO_XATTR_VALUE_MAX + 1];
	struct xattr val[] = { { "user.v", 6, big, PROTO_XATTR_VALUE_MAX } };
	assert_true(xattrs_ok(val, 1));
	val[0].value_len = PROTO_XATTR_VALUE_MAX + 1;
	assert_false(xattrs_ok(val, 1));
}

static void
test_too_many_xattrs(void **state)
{
	uint32_t n = PROTO_XATTR_COUNT_MAX + 1;
	struct xattr *x = calloc(n, sizeof(*x));
	char (*names)[16] = calloc(n, sizeof(*names));

	(void)state;
	assert_non_null(x);
	assert_non_null(names);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "user.%05u", i);
		x[i].name = names[i];
		x[i].name_len = (uint32_t)strlen(names[i]);
	}
	assert_true(xattrs_ok(x, n - 1));
	assert_false(xattrs_ok(x, n));
	free(x);
	free(names);
}

static void
test_targets(void **state)
{
	struct buf b = BUF_INIT;
	struct attrs a = { 0 };
	struct vlist_entry e;

	(void)state;
	/* A symlink without a target. */
	e = entry("l", S_IFLNK | 0777);
	put_vlist_entry(&b, &e, &a);
	assert_false(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	/* A regular file, a directory, a device with one. */
	static const uint32_t modes[] = { S_IFREG | 0644, S_IFDIR | 0755,
	    S_IFCHR | 0600 };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		e = entry("x", modes[i]);
		e.target = "t";
		e.target_len = 1;
		put_vlist_entry(&b, &e, &a);
		assert_false(page_ok(&b, false, false, NULL));
		buf_reset(&b);
	}
	/* A target of VLIST_TARGET_MAX bytes, and one more. */
	char *t = malloc(VLIST_TARGET_MAX + 1);
	assert_non_null(t);
	memset(t, 't', VLIST_TARGET_MAX + 1);
	e = entry("l", S_IFLNK | 0777);
	e.target = t;
	e.target_len = VLIST_TARGET_MAX;
	put_vlist_entry(&b, &e, &a);
	assert_true(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	e.target_len = VLIST_TARGET_MAX + 1;
	put_vlist_entry(&b, &e, &a);
	assert_false(page_ok(&b, false, false, NULL));
	free(t);
	buf_release(&b);
}

static void
test_nanoseconds(void **state)
{
	struct buf b = BUF_INIT;
	struct attrs a = { 0 };
	struct vlist_entry e;

	(void)state;
	e = entry("f", S_IFREG | 0644);
	e.mtime_nsec = 1000000000u;
	put_vlist_entry(&b, &e, &a);
	assert_false(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	e = entry("f", S_IFREG | 0644);
	e.ctime_nsec = 1000000000u;
	put_vlist_entry(&b, &e, &a);
	assert_false(page_ok(&b, false, false, NULL));
	buf_reset(&b);
	e = entry("f", S_IFREG | 0644);
	e.mtime_nsec = e.ctime_nsec = 999999999u;
	put_vlist_entry(&b, &e, &a);
	assert_true(page_ok(&b, false, false, NULL));
	buf_release(&b);
}

/* Every entry cut short, and a byte too many, is refused. */
static void
test_cut_short(void **state)
{
	struct xattr x[] = { xa("user.a", "1") };
	struct attrs a = { .nxattrs = 1, .xattrs = x };
	struct vlist_entry e = entry("f", S_IFREG | 0644);
	struct buf b = BUF_INIT;

	(void)state;
	put_vlist_entry(&b, &e, &a);
	for (size_t n = 1; n < b.len; n++) {
		struct buf cut = BUF_INIT;
		buf_add(&cut, b.data, n);
		assert_false(page_ok(&cut, false, false, NULL));
		buf_release(&cut);
	}
	buf_add(&b, "", 1);
	assert_false(page_ok(&b, false, false, NULL));
	buf_release(&b);
}

/* ---- vlist_dir on a real directory ---- */

static char dir[PATH_MAX];
static int dfd = -1;
static char shm[PATH_MAX];	/* a tmpfs scratch directory, when made */

static int
dir_setup(void **state)
{
	(void)state;
	scratch_make(dir, "vlist");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dfd < 0 ? -1 : 0;
}

static int
dir_teardown(void **state)
{
	(void)state;
	close(dfd);
	rm_rf(dir);
	if (shm[0])
		rm_rf(shm);
	return 0;
}

/* The names of a page, checked as the primary checks the secondary's,
 * appended to names (NUL-separated). */
static size_t
page_names(const struct buf *page, bool more, bool root, struct list_pos *pos,
    struct buf *names)
{
	struct vlist_entry e;
	struct rd r;
	size_t n = 0;

	assert_true(proto_check_vlist_page(page->data, page->len, more, root,
	    pos, why, sizeof(why)));
	assert_true(page->len <= VLIST_PAGE_MAX);
	rd_init(&r, page->data, page->len);
	while (r.off < r.len) {
		assert_true(get_vlist_entry(&r, &e));
		buf_add(names, e.name, e.name_len);
		buf_add(names, "", 1);
		n++;
	}
	return n;
}

/* Find the entry named name in a page (false when absent). */
static bool
find(const struct buf *page, const char *name, struct vlist_entry *out)
{
	struct rd r;

	rd_init(&r, page->data, page->len);
	while (r.off < r.len) {
		assert_true(get_vlist_entry(&r, out));
		if (out->name_len == strlen(name) &&
		    memcmp(out->name, name, out->name_len) == 0)
			return true;
	}
	return false;
}

static void
test_dir_sorted(void **state)
{
	static const char *const made[] = { "b", "\xff", "a", "ab", "B", "a b",
	    "-", GEOREP_STATE_DIR };
	static const char want[] = "-\0B\0a\0a b\0ab\0b\0\xff";
	struct buf page = BUF_INIT, names = BUF_INIT;
	struct list_pos pos = { .len = 0 };
	bool more;

	(void)state;
	int sub = -1;
	assert_int_equal(mkdirat(dfd, "sorted", 0755), 0);
	sub = openat(dfd, "sorted", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		assert_int_equal(put_file_at(sub, made[i], "x"), 0);

	/* As the root: the root itself first, and the state directory is
	 * passed over. */
	assert_int_equal(vlist_dir(sub, true, NULL, 0, false, &page, &more), 0);
	assert_false(more);
	assert_int_equal(page_names(&page, more, true, &pos, &names), 8);
	assert_int_equal(names.len, 2 + sizeof(want));
	assert_memory_equal(names.data, ".", 2);
	assert_memory_equal(names.data + 2, want, sizeof(want));
	struct vlist_entry e;
	struct stat st;
	assert_true(find(&page, ".", &e));
	assert_int_equal(fstat(sub, &st), 0);
	assert_true(e.ino == (uint64_t)st.st_ino);
	assert_true(S_ISDIR(e.mode));

	/* Below the root, it is a name like another. */
	buf_reset(&page);
	buf_reset(&names);
	pos.len = 0;
	assert_int_equal(vlist_dir(sub, false, NULL, 0, false, &page, &more),
	    0);
	assert_int_equal(page_names(&page, more, false, &pos, &names), 8);
	assert_true(find(&page, GEOREP_STATE_DIR, &e));
	assert_false(find(&page, ".", &e));

	/* After a name: only the names past it, whether it exists or not
	 * (and no root: a later page). */
	buf_reset(&page);
	buf_reset(&names);
	memcpy(pos.last, "a", 1);
	pos.len = 1;
	assert_int_equal(vlist_dir(sub, true, "a", 1, false, &page, &more), 0);
	assert_int_equal(page_names(&page, more, true, &pos, &names), 4);
	assert_memory_equal(names.data, "a b\0ab\0b\0\xff", names.len);
	buf_reset(&page);
	buf_reset(&names);
	memcpy(pos.last, "aa", 2);
	pos.len = 2;
	assert_int_equal(vlist_dir(sub, true, "aa", 2, false, &page, &more),
	    0);
	assert_int_equal(page_names(&page, more, true, &pos, &names), 3);
	assert_memory_equal(names.data, "ab\0b\0\xff", names.len);
	buf_reset(&page);
	assert_int_equal(vlist_dir(sub, true, "\xff", 1, false, &page, &more),
	    0);
	assert_int_equal(page.len, 0);
	assert_false(more);
	close(sub);
	buf_release(&page);
	buf_release(&names);
}

/* A directory of more than a page: pages follow one another with `after`
 * the last name of the one before, and together list every name once. */
static void
test_dir_paged(void **state)
{
	/* Long names, so that fewer files fill a page: some 290 bytes an
	 * entry, 5000 of them over 1 MiB. */
	const unsigned n = 5000;
	struct buf page = BUF_INIT, names = BUF_INIT;
	struct list_pos pos = { .len = 0 };
	char name[NAME_MAX + 1], pad[201];
	bool more = true;
	unsigned pages = 0, total = 0;

	(void)state;
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	assert_int_equal(mkdirat(dfd, "many", 0755), 0);
	int sub = openat(dfd, "many", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%07u", pad, (i * 7919) % n);
		int fd = openat(sub, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	while (more) {
		buf_reset(&page);
		char last[PROTO_NAME_MAX];
		uint32_t llen = pos.len;
		memcpy(last, pos.last, llen);
		assert_int_equal(vlist_dir(sub, false, last, llen, false, &page,
		    &more), 0);
		total += (unsigned)page_names(&page, more, false, &pos, &names);
		pages++;
		assert_true(pages < 10);
	}
	assert_true(pages >= 2);
	assert_int_equal(total, n);
	/* In order, each name once: "ppp...-0000000" to "ppp...-0004999". */
	const char *p = (const char *)names.data;
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%07u", pad, i);
		assert_string_equal(p, name);
		p += strlen(p) + 1;
	}
	close(sub);
	buf_release(&page);
	buf_release(&names);
}

/* What an entry says about its object. */
static void
test_dir_entries(void **state)
{
	struct buf page = BUF_INIT;
	struct vlist_entry e;
	struct stat st;
	bool more;

	(void)state;
	assert_int_equal(mkdirat(dfd, "kinds", 0755), 0);
	int sub = openat(dfd, "kinds", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	assert_int_equal(put_file_at(sub, "file", "hello"), 0);
	assert_int_equal(linkat(sub, "file", sub, "file2", 0), 0);
	assert_int_equal(symlinkat("../target", sub, "link"), 0);
	assert_int_equal(mkdirat(sub, "dir", 0750), 0);
	assert_int_equal(mkfifoat(sub, "fifo", 0600), 0);
	struct timespec ts[2] = { { 1, 0 }, { 1600000000, 123456789 } };
	assert_int_equal(utimensat(sub, "file", ts, 0), 0);
	bool have_x = fsetxattr(sub, "user.b", "2", 1, 0) == 0;
	if (have_x) {
		int fd = openat(sub, "file", O_RDONLY | O_CLOEXEC);
		assert_int_equal(fsetxattr(fd, "user.b", "22", 2, 0), 0);
		assert_int_equal(fsetxattr(fd, "user.a", "1", 1, 0), 0);
		close(fd);
	}

	assert_int_equal(vlist_dir(sub, false, NULL, 0, false, &page, &more),
	    0);
	assert_false(more);

	assert_true(find(&page, "file", &e));
	assert_int_equal(fstatat(sub, "file", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(e.ino == (uint64_t)st.st_ino);
	assert_int_equal(e.mode, st.st_mode);
	assert_int_equal(e.uid, st.st_uid);
	assert_int_equal(e.gid, st.st_gid);
	assert_int_equal(e.nlink, 2);
	assert_true(e.size == 5);
	assert_true(e.mtime_sec == 1600000000);
	assert_int_equal(e.mtime_nsec, 123456789);
	assert_true(e.ctime_sec == st.st_ctim.tv_sec);
	assert_int_equal(e.ctime_nsec, st.st_ctim.tv_nsec);
	assert_int_equal(e.target_len, 0);
	assert_int_equal(e.xattr_errno, 0);
	if (have_x) {
		struct rd r;
		struct vxattr x;
		assert_int_equal(e.nxattrs, 2);
		rd_init(&r, e.xattrs, e.xattrs_len);
		assert_true(get_vxattr(&r, &x));
		assert_memory_equal(x.name, "user.a", 6);
		assert_int_equal(x.value_len, 1);
		assert_true(get_vxattr(&r, &x));
		assert_memory_equal(x.name, "user.b", 6);
		assert_int_equal(x.value_len, 2);
	}
	assert_true(find(&page, "file2", &e));
	assert_true(e.ino == (uint64_t)st.st_ino);

	assert_true(find(&page, "link", &e));
	assert_true(S_ISLNK(e.mode));
	assert_int_equal(e.target_len, 9);
	assert_memory_equal(e.target, "../target", 9);

	assert_true(find(&page, "dir", &e));
	assert_true(S_ISDIR(e.mode));
	assert_int_equal(e.mode & 07777, 0750);
	if (have_x)
		assert_int_equal(e.nxattrs, 0);	/* the directory's own: none */

	assert_true(find(&page, "fifo", &e));
	assert_true(S_ISFIFO(e.mode));
	assert_true(e.rdev == 0);
	close(sub);
	buf_release(&page);
}

/* More xattrs than a page entry may carry: the entry says its xattrs could
 * not be listed (E2BIG), and the page stays one the other side accepts.
 * tmpfs holds that many; skipped where it does not. */
static void
test_dir_too_many_xattrs(void **state)
{
	char name[32];
	struct buf page = BUF_INIT, names = BUF_INIT;
	struct list_pos pos = { .len = 0 };
	struct vlist_entry e;
	bool more;

	(void)state;
	snprintf(shm, sizeof(shm), "/dev/shm/georep-vlist-XXXXXX");
	if (mkdtemp(shm) == NULL) {
		shm[0] = '\0';
		skip();
	}
	int sub = open(shm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	assert_int_equal(put_file_at(sub, "a", "x"), 0);
	assert_int_equal(put_file_at(sub, "many", "x"), 0);
	assert_int_equal(put_file_at(sub, "z", "x"), 0);
	int fd = openat(sub, "many", O_RDONLY | O_CLOEXEC);
	bool made = true;
	for (unsigned i = 0; i <= PROTO_XATTR_COUNT_MAX && made; i++) {
		snprintf(name, sizeof(name), "user.x%05u", i);
		made = fsetxattr(fd, name, "", 0, 0) == 0;
	}
	close(fd);
	if (!made) {
		close(sub);
		skip();
	}
	assert_int_equal(vlist_dir(sub, false, NULL, 0, false, &page, &more),
	    0);
	/* Every name, in a page the other side accepts. */
	assert_int_equal(page_names(&page, more, false, &pos, &names), 3);
	assert_true(find(&page, "many", &e));
	assert_int_equal(e.xattr_errno, E2BIG);
	assert_int_equal(e.nxattrs, 0);
	close(sub);
	buf_release(&page);
	buf_release(&names);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_xattr_errno),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_position),
		cmocka_unit_test(test_more_on_empty_page),
		cmocka_unit_test(test_state_dir),
		cmocka_unit_test(test_root_self),
		cmocka_unit_test(test_xattr_refusals),
		cmocka_unit_test(test_too_many_xattrs),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_nanoseconds),
		cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_dir_sorted),
		cmocka_unit_test(test_dir_paged),
		cmocka_unit_test(test_dir_entries),
		cmocka_unit_test(test_dir_too_many_xattrs),
	};

	return cmocka_run_group_tests(tests, dir_setup, dir_teardown);
}
