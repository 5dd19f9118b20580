/*
 * Unit tests of the content digest `georep verify` compares
 * (src/common/digest.c): it depends on a file's bytes and size, never on
 * their layout -- a sparse file and the same bytes written out in full,
 * a hole and zeros written, digest the same; a byte changed anywhere (the
 * last partial block too) or a size changed by a trailing zero changes
 * it; the format is pinned (the stream it hashes, integers little-endian,
 * and the digest in XXH128's canonical byte order, so that two hosts of
 * either byte order agree); a file that shrank since
 * its size was taken still gives a digest, one that grew is read to that
 * size; a descriptor that cannot be read is an error.
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
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/digest.h"
#include "testutil.h"

static char dir[PATH_MAX];
static int dfd = -1;

static int
setup(void **state)
{
	(void)state;
	scratch_make(dir, "digest");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dfd < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	close(dfd);
	rm_rf(dir);
	return 0;
}

/* A new file name in the scratch directory, opened for writing. */
static int
create(const char *name)
{
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	return fd;
}

static void
pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
}

/* The digest of the file name, as stat'ed now. */
static void
digest_of(const char *name, uint8_t out[DIGEST_LEN])
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(content_digest(fd, (uint64_t)st.st_size, out), 0);
	close(fd);
}

static bool
same(const char *a, const char *b)
{
	uint8_t da[DIGEST_LEN], db[DIGEST_LEN];

	digest_of(a, da);
	digest_of(b, db);
	return memcmp(da, db, DIGEST_LEN) == 0;
}

/* The file's blocks on disk, in bytes: whether it is really sparse. */
static uint64_t
allocated(const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(dfd, name, &st, 0), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* The digest of what st hashed, in XXH128's canonical form (big-endian,
 * as xxhsum prints it): the same bytes on every host.  st is freed. */
static void
canonical(XXH3_state_t *st, uint8_t out[DIGEST_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	memcpy(out, c.digest, DIGEST_LEN);
}

/* ---- layout does not matter ---- */

/* Data at an unaligned offset in the second block, a hole before it and
 * after it (to a size that ends in a partial block); the same bytes
 * written in full. */
static void
test_sparse_equals_dense(void **state)
{
	uint64_t size = 5 * (uint64_t)DIGEST_BLOCK + 1234;
	char data[5000];

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	int sp = create("sparse");
	pwrite_all(sp, data, sizeof(data), DIGEST_BLOCK + 4321);
	pwrite_all(sp, data, 10, 3 * (off_t)DIGEST_BLOCK + 7);
	assert_int_equal(ftruncate(sp, (off_t)size), 0);
	close(sp);

	int de = create("dense");
	char *all = calloc(1, size);
	assert_non_null(all);
	memcpy(all + DIGEST_BLOCK + 4321, data, sizeof(data));
	memcpy(all + 3 * DIGEST_BLOCK + 7, data, 10);
	pwrite_all(de, all, size, 0);
	close(de);
	free(all);

	/* The test means something only if one is sparse and one is not. */
	assert_true(allocated("sparse") < size / 2);
	assert_true(allocated("dense") >= size);
	assert_true(same("sparse", "dense"));
}

/* A file of zeros written out and a hole of the same size; and a file
 * with a hole at its start. */
static void
test_zeros_equal_hole(void **state)
{
	uint64_t size = 3 * (uint64_t)DIGEST_BLOCK + 100;

	(void)state;
	char *zeros = calloc(1, size);
	assert_non_null(zeros);
	int z = create("zeros");
	pwrite_all(z, zeros, size, 0);
	close(z);
	int h = create("hole");
	assert_int_equal(ftruncate(h, (off_t)size), 0);
	close(h);
	assert_true(allocated("hole") == 0);
	assert_true(same("zeros", "hole"));

	/* Data only in the last, partial block. */
	int a = create("tail-sparse");
	pwrite_all(a, "end", 3, (off_t)size - 3);
	close(a);
	int b = create("tail-dense");
	memcpy(zeros + size - 3, "end", 3);
	pwrite_all(b, zeros, size, 0);
	close(b);
	assert_true(same("tail-sparse", "tail-dense"));
	assert_false(same("tail-sparse", "hole"));
	free(zeros);
}

/* Zero blocks add nothing: a file of zeros digests as the empty stream of
 * its size, and a block of zeros between two of data leaves the digest
 * as if it were a hole. */
static void
test_zero_blocks_skipped(void **state)
{
	uint8_t d[DIGEST_LEN], want[DIGEST_LEN];
	static const char tag[] = "georep content 1";
	uint64_t size = 2 * (uint64_t)DIGEST_BLOCK;

	(void)state;
	char *zeros = calloc(1, size);
	assert_non_null(zeros);
	int z = create("z2");
	pwrite_all(z, zeros, size, 0);
	close(z);
	free(zeros);
	digest_of("z2", d);
	/* tag, then the size, little-endian. */
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, tag, sizeof(tag));
	uint8_t le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(size >> (8 * i));
	XXH3_128bits_update(st, le, 8);
	canonical(st, want);
	assert_memory_equal(d, want, DIGEST_LEN);
}

/* The stream, pinned: the tag, for each block with data its index (u64
 * little-endian) and its bytes, then the size (u64 little-endian). */
static void
test_format_pinned(void **state)
{
	static const char tag[] = "georep content 1";
	uint8_t d[DIGEST_LEN], want[DIGEST_LEN], le[8];
	uint64_t size = 2 * (uint64_t)DIGEST_BLOCK + 3;

	(void)state;
	int fd = create("pinned");
	pwrite_all(fd, "abc", 3, 2 * (off_t)DIGEST_BLOCK);
	close(fd);
	digest_of("pinned", d);

	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, tag, sizeof(tag));
	uint64_t block = 2;
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(block >> (8 * i));
	XXH3_128bits_update(st, le, 8);
	XXH3_128bits_update(st, "abc", 3);
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(size >> (8 * i));
	XXH3_128bits_update(st, le, 8);
	canonical(st, want);
	assert_memory_equal(d, want, DIGEST_LEN);
}

/* ---- what matters ---- */

static void
test_content_matters(void **state)
{
	uint64_t size = 2 * (uint64_t)DIGEST_BLOCK + 77;

	(void)state;
	char *buf = malloc(size);
	assert_non_null(buf);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = (char)(i * 7 + 3 + i / DIGEST_BLOCK * 101);
	int a = create("c-a");
	pwrite_all(a, buf, size, 0);
	close(a);
	/* One byte in the first block. */
	buf[10] ^= 1;
	int b = create("c-b");
	pwrite_all(b, buf, size, 0);
	close(b);
	buf[10] ^= 1;
	/* One byte in the last, partial block. */
	buf[size - 1] ^= 0x40;
	int c = create("c-c");
	pwrite_all(c, buf, size, 0);
	close(c);
	buf[size - 1] ^= 0x40;
	/* Two blocks swapped: the index of a block counts. */
	int e = create("c-e");
	pwrite_all(e, buf + DIGEST_BLOCK, DIGEST_BLOCK, 0);
	pwrite_all(e, buf, DIGEST_BLOCK, DIGEST_BLOCK);
	pwrite_all(e, buf + 2 * DIGEST_BLOCK, 77, 2 * (off_t)DIGEST_BLOCK);
	close(e);
	/* A byte of a zero block made non-zero. */
	int f = create("c-f");
	pwrite_all(f, "x", 1, 0);
	assert_int_equal(ftruncate(f, 3 * (off_t)DIGEST_BLOCK), 0);
	close(f);
	int g = create("c-g");
	pwrite_all(g, "x", 1, 0);
	pwrite_all(g, "y", 1, 2 * (off_t)DIGEST_BLOCK + 5);
	assert_int_equal(ftruncate(g, 3 * (off_t)DIGEST_BLOCK), 0);
	close(g);
	free(buf);

	assert_false(same("c-a", "c-b"));
	assert_false(same("c-a", "c-c"));
	assert_false(same("c-a", "c-e"));
	assert_false(same("c-f", "c-g"));
	assert_true(same("c-a", "c-a"));
}

static void
test_size_matters(void **state)
{
	(void)state;
	int a = create("s-a");
	pwrite_all(a, "abc", 3, 0);
	close(a);
	int b = create("s-b");
	pwrite_all(b, "abc\0", 4, 0);
	close(b);
	int c = create("s-c");
	pwrite_all(c, "abc", 3, 0);
	assert_int_equal(ftruncate(c, 2 * (off_t)DIGEST_BLOCK), 0);
	close(c);
	int e = create("s-empty");
	close(e);
	int h = create("s-hole1");
	assert_int_equal(ftruncate(h, 1), 0);
	close(h);
	assert_false(same("s-a", "s-b"));	/* a trailing zero */
	assert_false(same("s-a", "s-c"));	/* a trailing hole */
	assert_false(same("s-empty", "s-hole1"));
}

/* ---- a file that changes while read ---- */

/* The size the caller took is past the end now (the file shrank): a
 * digest, not an error -- the caller stats again and tells. */
static void
test_shrank(void **state)
{
	uint8_t d[DIGEST_LEN], full[DIGEST_LEN];
	uint64_t size = 3 * (uint64_t)DIGEST_BLOCK;

	(void)state;
	char *buf = malloc(size);
	assert_non_null(buf);
	memset(buf, 'q', size);
	int fd = create("shrink");
	pwrite_all(fd, buf, size, 0);
	digest_of("shrink", full);
	/* Cut inside the second block, then digest with the old size. */
	assert_int_equal(ftruncate(fd, (off_t)DIGEST_BLOCK + 10), 0);
	assert_int_equal(content_digest(fd, size, d), 0);
	assert_memory_not_equal(d, full, DIGEST_LEN);
	/* Cut to nothing. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(content_digest(fd, size, d), 0);
	assert_memory_not_equal(d, full, DIGEST_LEN);
	close(fd);
	free(buf);
}

/* A file that grew since: read to the size given, as the first bytes of
 * it would be. */
static void
test_grew(void **state)
{
	uint8_t d[DIGEST_LEN], want[DIGEST_LEN];

	(void)state;
	int fd = create("grow");
	pwrite_all(fd, "0123456789", 10, 0);
	int p = create("grow-prefix");
	pwrite_all(p, "01234", 5, 0);
	close(p);
	digest_of("grow-prefix", want);
	assert_int_equal(content_digest(fd, 5, d), 0);
	assert_memory_equal(d, want, DIGEST_LEN);
	close(fd);
}

static void
test_unreadable(void **state)
{
	uint8_t d[DIGEST_LEN];

	(void)state;
	int fd = create("wronly");
	pwrite_all(fd, "abc", 3, 0);
	close(fd);
	fd = openat(dfd, "wronly", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	errno = 0;
	assert_int_equal(content_digest(fd, 3, d), -1);
	assert_int_equal(errno, EBADF);
	close(fd);
	/* A directory: EISDIR, not a digest. */
	assert_int_equal(content_digest(dfd, 4096, d), -1);
	assert_int_equal(errno, EISDIR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse_equals_dense),
		cmocka_unit_test(test_zeros_equal_hole),
		cmocka_unit_test(test_zero_blocks_skipped),
		cmocka_unit_test(test_format_pinned),
		cmocka_unit_test(test_content_matters),
		cmocka_unit_test(test_size_matters),
		cmocka_unit_test(test_shrank),
		cmocka_unit_test(test_grew),
		cmocka_unit_test(test_unreadable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
