/*
 * Unit tests of confined directory resolution (src/common/resolve.c), each
 * run twice: with openat2 and with the O_NOFOLLOW component walk.
 *
 * The scratch layout:  top/root  (the resolver's root)
 *                      top/stage (its staging base)
 *                      top/outside (must never be reached)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "common/resolve.h"
#include "common/fid.h"
#include "testutil.h"

struct fx {
	bool walk;
	char top[PATH_MAX];
	int topfd, rootfd, stagefd;
	struct resolver r;
};

static bool mode_openat2 = false;
static bool mode_walk = true;

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->walk = *(bool *)*state;
	scratch_make(f->top, "resolve");
	f->topfd = open(f->top, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->topfd >= 0);
	assert_int_equal(mkdirat(f->topfd, "root", 0755), 0);
	assert_int_equal(mkdirat(f->topfd, "stage", 0755), 0);
	assert_int_equal(mkdirat(f->topfd, "outside", 0755), 0);
	assert_int_equal(mkdirat(f->topfd, "outside/secret", 0755), 0);
	f->rootfd = openat(f->topfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	f->stagefd = openat(f->topfd, "stage", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0 && f->stagefd >= 0);
	resolve_init(&f->r, f->rootfd, f->stagefd);
	if (f->walk)
		f->r.use_openat2 = false;
	else
		assert_true(f->r.use_openat2);	/* the kernel has it */
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	resolve_release(&f->r);
	close(f->rootfd);
	close(f->stagefd);
	close(f->topfd);
	rm_rf(f->top);
	free(f);
	return 0;
}

static int
res(struct fx *f, int base, const char *path)
{
	return resolve_dir(&f->r, base, path, strlen(path));
}

/* fd is the directory top/rel. */
static void
assert_is(struct fx *f, int fd, const char *rel)
{
	struct stat a, b;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstatat(f->topfd, rel, &b, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(a.st_mode));
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

static void
mk(struct fx *f, const char *rel)
{
	assert_int_equal(mkdirat(f->topfd, rel, 0755), 0);
}

static void
test_plain(void **state)
{
	struct fx *f = *state;

	mk(f, "root/a");
	mk(f, "root/a/b");
	mk(f, "stage/s");
	assert_is(f, res(f, BASE_ROOT, ""), "root");
	assert_is(f, res(f, BASE_ROOT, "a"), "root/a");
	assert_is(f, res(f, BASE_ROOT, "a/b"), "root/a/b");
	assert_is(f, res(f, BASE_STAGE, ""), "stage");
	assert_is(f, res(f, BASE_STAGE, "s"), "stage/s");
	/* Paths are counted, not NUL-terminated. */
	assert_is(f, resolve_dir(&f->r, BASE_ROOT, "a/b/zzz", 3), "root/a/b");
	assert_is(f, resolve_dir(&f->r, BASE_ROOT, "a/b/zzz", 1), "root/a");
}

static void
test_missing_and_files(void **state)
{
	struct fx *f = *state;

	mk(f, "root/a");
	assert_int_equal(put_file_at(f->topfd, "root/a/file", "x"), 0);
	errno = 0;
	assert_int_equal(res(f, BASE_ROOT, "nope"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(res(f, BASE_ROOT, "a/nope/deeper"), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(res(f, BASE_ROOT, "a/file"), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(res(f, BASE_ROOT, "a/file/x"), -1);
	/* The stage base does not see the root's entries. */
	assert_int_equal(res(f, BASE_STAGE, "a"), -1);
}

static void
test_symlink_inside(void **state)
{
	struct fx *f = *state;

	mk(f, "root/a");
	mk(f, "root/a/b");
	assert_int_equal(symlinkat("a", f->topfd, "root/rel"), 0);
	char abs[PATH_MAX + 16];
	snprintf(abs, sizeof(abs), "%s/root/a", f->top);
	assert_int_equal(symlinkat(abs, f->topfd, "root/abs"), 0);
	assert_int_equal(symlinkat("b", f->topfd, "root/a/deep"), 0);
	assert_int_equal(symlinkat(".", f->topfd, "root/dot"), 0);

	const char *bad[] = { "rel", "rel/b", "abs", "abs/b", "a/deep",
	    "dot", "dot/a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(res(f, BASE_ROOT, bad[i]), -1);
		assert_true(errno == ELOOP || errno == ENOTDIR ||
		    errno == EXDEV);
	}
	/* The real path still resolves afterwards. */
	assert_is(f, res(f, BASE_ROOT, "a/b"), "root/a/b");
}

static void
test_symlink_outside(void **state)
{
	struct fx *f = *state;
	char abs[PATH_MAX + 16];

	mk(f, "root/a");
	assert_int_equal(symlinkat("../outside", f->topfd, "root/out"), 0);
	assert_int_equal(symlinkat("../../outside", f->topfd, "root/a/out"), 0);
	snprintf(abs, sizeof(abs), "%s/outside", f->top);
	assert_int_equal(symlinkat(abs, f->topfd, "root/absout"), 0);
	assert_int_equal(symlinkat("/", f->topfd, "root/slash"), 0);
	assert_int_equal(symlinkat("../outside", f->topfd, "stage/out"), 0);

	const char *bad[] = { "out", "out/secret", "a/out", "a/out/secret",
	    "absout", "absout/secret", "slash", "slash/tmp" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(res(f, BASE_ROOT, bad[i]), -1);
		assert_true(errno == ELOOP || errno == ENOTDIR ||
		    errno == EXDEV);
	}
	assert_int_equal(res(f, BASE_STAGE, "out"), -1);
	assert_int_equal(res(f, BASE_STAGE, "out/secret"), -1);
}

/* Paths are checked by relpath_valid before they get here, but the header
 * promises EXDEV for an escape: ".." must never leave the root. */
static void
test_dotdot(void **state)
{
	struct fx *f = *state;

	mk(f, "root/a");
	const char *bad[] = { "..", "../outside", "../outside/secret",
	    "a/../..", "a/../../outside" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = res(f, BASE_ROOT, bad[i]);
		if (fd >= 0) {
			struct stat st;
			fstat(fd, &st);
			print_error("resolve_dir(\"%s\") escaped the root "
			    "(%s mode): inode %llu\n", bad[i],
			    f->walk ? "component walk" : "openat2",
			    (unsigned long long)st.st_ino);
		}
		assert_int_equal(fd, -1);
	}
	assert_int_equal(res(f, BASE_STAGE, "../outside"), -1);
}

/* A chain of 200-byte names, n deep, made below top/base; the path (relative
 * to base) in path. */
static void
make_deep(struct fx *f, const char *base, int n, char *path, size_t cap)
{
	char name[201];
	int fd = openat(f->topfd, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t len = 0;

	assert_true(fd >= 0);
	for (int i = 0; i < n; i++) {
		memset(name, 'a' + i % 26, 200);
		snprintf(name + 190, 11, "%010u", (unsigned)i % 1000000000u);
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
		assert_true(len + 202 < cap);
		if (len)
			path[len++] = '/';
		memcpy(path + len, name, 200);
		len += 200;
	}
	path[len] = '\0';
	/* Mark the deepest directory so it can be recognised. */
	assert_int_equal(mkdirat(fd, "bottom", 0755), 0);
	close(fd);
}

static void
test_long_path(void **state)
{
	struct fx *f = *state;
	static char path[64 * 201 + 16];
	struct stat want, got;
	int fd;

	make_deep(f, "root", 50, path, sizeof(path));
	assert_true(strlen(path) > 2 * PATH_MAX);
	fd = res(f, BASE_ROOT, path);
	assert_true(fd >= 0);
	/* It is the deepest directory: it holds "bottom". */
	assert_int_equal(fstatat(fd, "bottom", &got, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(got.st_mode));

	/* And with "/bottom" appended, that directory itself. */
	size_t n = strlen(path);
	memcpy(path + n, "/bottom", 8);
	fd = res(f, BASE_ROOT, path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &want), 0);
	assert_true(want.st_ino == got.st_ino && want.st_dev == got.st_dev);
	path[n] = '\0';

	/* A missing component far beyond the first PATH_MAX bytes. */
	memcpy(path + n, "/nope/x", 8);
	errno = 0;
	assert_int_equal(res(f, BASE_ROOT, path), -1);
	assert_int_equal(errno, ENOENT);
	path[n] = '\0';
}

static void
test_long_path_symlink(void **state)
{
	struct fx *f = *state;
	static char path[64 * 201 + 16];
	char link[PATH_MAX + 16];

	/* top/root/<30 deep> and, at depth 25 (past PATH_MAX), a component
	 * replaced by a symlink to the outside. */
	make_deep(f, "root", 30, path, sizeof(path));
	size_t cut = 25 * 201 - 1;	/* end of the 25th component */
	assert_true(cut > PATH_MAX);
	assert_int_equal(path[cut], '/');
	/* Walk to the directory holding the 25th component ourselves, move
	 * it away and put a symlink in its place. */
	int fd = openat(f->topfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *p = path;
	for (int i = 0; i < 24; i++) {
		char comp[201];
		memcpy(comp, p, 200);
		comp[200] = '\0';
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
		p += 201;
	}
	char comp[201];
	memcpy(comp, p, 200);
	comp[200] = '\0';
	assert_int_equal(renameat(fd, comp, fd, "moved"), 0);
	snprintf(link, sizeof(link), "%s/outside", f->top);
	assert_int_equal(symlinkat(link, fd, comp), 0);
	assert_int_equal(mkdirat(f->topfd, "outside/sub", 0755), 0);
	close(fd);

	errno = 0;
	assert_int_equal(res(f, BASE_ROOT, path), -1);
	path[cut] = '\0';
	assert_int_equal(res(f, BASE_ROOT, path), -1);
	memcpy(path + cut, "/sub", 5);
	assert_int_equal(res(f, BASE_ROOT, path), -1);
}

static void
test_component_too_long(void **state)
{
	struct fx *f = *state;
	static char path[PATH_MAX + 64];

	/* A run without a '/' longer than PATH_MAX cannot name anything. */
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(res(f, BASE_ROOT, path), -1);
}

static void
test_cache(void **state)
{
	struct fx *f = *state;
	int a, a2, ab, s;

	mk(f, "root/a");
	mk(f, "root/a/b");
	mk(f, "root/x");
	mk(f, "stage/x");
	a = res(f, BASE_ROOT, "a");
	assert_is(f, a, "root/a");
	a2 = res(f, BASE_ROOT, "a");
	assert_int_equal(a, a2);	/* the same fd: cached */
	assert_int_equal(f->r.cache_fd, a);
	assert_int_equal(f->r.cache_base, BASE_ROOT);

	/* Another path, and the first one again: right both times. */
	ab = res(f, BASE_ROOT, "a/b");
	assert_is(f, ab, "root/a/b");
	assert_is(f, res(f, BASE_ROOT, "a"), "root/a");

	/* The same path under the other base is another directory. */
	assert_is(f, res(f, BASE_ROOT, "x"), "root/x");
	s = res(f, BASE_STAGE, "x");
	assert_is(f, s, "stage/x");
	assert_is(f, res(f, BASE_ROOT, "x"), "root/x");

	/* Forget drops it. */
	resolve_forget(&f->r);
	assert_int_equal(f->r.cache_fd, -1);
	assert_int_equal(f->r.cache_path.len, 0);
	resolve_forget(&f->r);		/* twice is harmless */

	/* After a rename on disk and a forget, the old path is gone and the
	 * new one resolves. */
	assert_is(f, res(f, BASE_ROOT, "a"), "root/a");
	assert_int_equal(renameat(f->topfd, "root/a", f->topfd, "root/c"), 0);
	resolve_forget(&f->r);
	errno = 0;
	assert_int_equal(res(f, BASE_ROOT, "a"), -1);
	assert_int_equal(errno, ENOENT);
	assert_is(f, res(f, BASE_ROOT, "c/b"), "root/c/b");
	/* A failed lookup does not poison the cache. */
	assert_int_equal(res(f, BASE_ROOT, "a"), -1);
	assert_is(f, res(f, BASE_ROOT, "c/b"), "root/c/b");
}

#define BOTH(fn) \
	{ #fn "/openat2", fn, setup, teardown, &mode_openat2 }, \
	{ #fn "/walk", fn, setup, teardown, &mode_walk }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_plain),
		BOTH(test_missing_and_files),
		BOTH(test_symlink_inside),
		BOTH(test_symlink_outside),
		BOTH(test_dotdot),
		BOTH(test_long_path),
		BOTH(test_long_path_symlink),
		BOTH(test_component_too_long),
		BOTH(test_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
