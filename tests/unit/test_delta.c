/*
 * Unit tests of the delta module (src/common/delta.c): the block length
 * and the bound it puts on a signature whatever the file's size; the check
 * of a signature's shape the primary makes before librsync reads one; a
 * round trip (signature, delta, patch) that rebuilds the new content from
 * the old with a delta much smaller than the file; and the patch's refusals,
 * none of which may crash: a corrupt or truncated delta, bytes after its
 * end, an old copy that changed since it was signed (a copy past its end,
 * or a result that does not hash to the primary's content), a result
 * longer than announced.  Files are memfds.
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
#include <sys/mman.h>
#include <unistd.h>

#include "common/delta.h"
#include "common/util.h"

static int
memfd_with(const uint8_t *p, size_t n)
{
	int fd = memfd_create("delta-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, p, n, 0), 0);
	return fd;
}

static uint8_t *
random_bytes(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
	return p;
}

/* The content hash of p, as data.c computes it of a file without holes. */
static void
hash_of(const uint8_t *p, size_t n, uint8_t out[CHASH_LEN])
{
	XXH3_state_t *st = XXH3_createState();

	XXH3_128bits_reset(st);
	for (size_t off = 0; off < n; off += CHASH_CHUNK)
		chash_chunk(st, off, p + off, n - off < CHASH_CHUNK ? n - off :
		    CHASH_CHUNK);
	chash_end(st, n, out);
	XXH3_freeState(st);
}

static void
test_block_len(void **state)
{
	static const uint64_t sizes[] = { 0, 1, 1 << 20, 20 << 20, 64 << 20,
	    1ull << 30, 100ull << 30, 1ull << 40 };
	uint32_t b;

	(void)state;
	assert_true(delta_block_len(1 << 20, &b));
	assert_int_equal(b, DELTA_BLOCK_MIN);
	assert_true(delta_block_len(64 << 20, &b));
	assert_int_equal(b, 2048);	/* sqrt(64 MiB) / 4 */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_true(delta_block_len(sizes[i], &b));
		assert_true(b >= DELTA_BLOCK_MIN && b <= DELTA_BLOCK_MAX);
		assert_true(delta_sig_len(sizes[i], b) <= DELTA_SIG_MAX);
	}
	/* Past the longest block times the most blocks: no delta. */
	assert_false(delta_block_len((uint64_t)DELTA_BLOCK_MAX *
	    DELTA_BLOCKS_MAX + 1, &b));
	assert_true(delta_block_len((uint64_t)DELTA_BLOCK_MAX *
	    DELTA_BLOCKS_MAX, &b));
	assert_true(delta_sig_len((uint64_t)DELTA_BLOCK_MAX * DELTA_BLOCKS_MAX,
	    b) <= DELTA_SIG_MAX);
}

/* The signature of fd, page by page, each checked, joined as the
 * primary joins them (the header once). */
static void
sign_fd(int fd, uint64_t n, struct buf *sig)
{
	uint32_t block;
	uint64_t first = 0;
	char why[256];

	assert_true(delta_block_len(n, &block));
	do {
		struct buf page = BUF_INIT;
		assert_int_equal(delta_signature(fd, n, first, &page), 0);
		if (!delta_sig_check(page.data, page.len, n, first, why,
		    sizeof(why)))
			fail_msg("page %llu: %s", (unsigned long long)first, why);
		size_t skip = first ? DELTA_SIG_HDR : 0;
		buf_add(sig, page.data + skip, page.len - skip);
		buf_release(&page);
		first += delta_page_blocks(block);
	} while (first < delta_blocks(n, block));
	assert_int_equal(sig->len, delta_sig_len(n, block));
}

static void
sign(const uint8_t *p, size_t n, struct buf *sig)
{
	int fd = memfd_with(p, n);

	sign_fd(fd, n, sig);
	close(fd);
}

static void
test_sig_check(void **state)
{
	enum { N = 3 << 20 };
	uint8_t *old = random_bytes(N, 1);
	struct buf sig = BUF_INIT;
	char why[256];

	(void)state;
	sign(old, N, &sig);
	assert_true(delta_sig_check(sig.data, sig.len, N, 0, why, sizeof(why)));
	/* Shorter, longer, another size, another magic, another block. */
	assert_false(delta_sig_check(sig.data, sig.len - 1, N, 0, why,
	    sizeof(why)));
	assert_false(delta_sig_check(sig.data, 5, N, 0, why, sizeof(why)));
	assert_false(delta_sig_check(sig.data, sig.len, N + 4096, 0, why,
	    sizeof(why)));
	sig.data[0] ^= 1;
	assert_false(delta_sig_check(sig.data, sig.len, N, 0, why, sizeof(why)));
	assert_non_null(strstr(why, "magic"));
	sig.data[0] ^= 1;
	sig.data[6] ^= 1;
	assert_false(delta_sig_check(sig.data, sig.len, N, 0, why, sizeof(why)));
	sig.data[6] ^= 1;
	/* A page past the last block. */
	assert_false(delta_sig_check(sig.data, sig.len, N, 1 << 20, why,
	    sizeof(why)));
	assert_non_null(strstr(why, "past its end"));
	/* librsync refuses what is not a signature, without crashing. */
	uint8_t junk[64];
	memset(junk, 0xa5, sizeof(junk));
	assert_null(delta_enc_new(junk, sizeof(junk), why, sizeof(why)));
	assert_null(delta_enc_new(sig.data, 7, why, sizeof(why)));
	buf_release(&sig);
	free(old);
}

/* A file of more than one page (64 MiB of zeros and a tail): signed in
 * two pages that join into a signature a delta is made with; a page past
 * the end, or of a file that shrank since its size was taken, refused. */
static void
test_pages(void **state)
{
	const uint64_t n = ((uint64_t)DELTA_PAGE_BYTES) + 3000;
	int fd = memfd_create("delta-pages", MFD_CLOEXEC);
	struct buf sig = BUF_INIT, page = BUF_INIT;
	uint32_t block;
	char why[256];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)n), 0);
	assert_int_equal(pwrite_full(fd, "tail", 4, (off_t)n - 4), 0);
	assert_true(delta_block_len(n, &block));
	assert_int_equal(delta_blocks(n, block), delta_page_blocks(block) + 2);
	sign_fd(fd, n, &sig);
	struct delta_enc *e = delta_enc_new(sig.data, sig.len, why, sizeof(why));
	assert_non_null(e);
	delta_enc_free(e);
	errno = 0;
	assert_int_equal(delta_signature(fd, n, delta_blocks(n, block), &page),
	    -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ftruncate(fd, (off_t)n - 100), 0);
	assert_int_equal(delta_signature(fd, n, delta_page_blocks(block),
	    &page), -1);
	assert_int_equal(errno, EAGAIN);
	/* Too large for any bounded signature. */
	assert_int_equal(delta_signature(fd, (uint64_t)DELTA_BLOCK_MAX *
	    DELTA_BLOCKS_MAX + 1, 0, &page), -1);
	assert_int_equal(errno, EFBIG);
	buf_release(&sig);
	buf_release(&page);
	close(fd);
}

static int
collect(void *arg, const uint8_t *p, size_t n)
{
	buf_add(arg, p, n);
	return 0;
}

/* The delta from old (signed) to new, fed in odd pieces. */
static void
make_delta(const uint8_t *old, size_t on, const uint8_t *new, size_t nn,
    struct buf *delta)
{
	struct buf sig = BUF_INIT;
	char why[256];

	sign(old, on, &sig);
	struct delta_enc *e = delta_enc_new(sig.data, sig.len, why, sizeof(why));
	assert_non_null(e);
	assert_int_equal(delta_enc_begin(e), 0);
	for (size_t off = 0; off < nn; off += 100003) {
		size_t k = nn - off < 100003 ? nn - off : 100003;
		assert_int_equal(delta_enc_feed(e, new + off, k, false, collect,
		    delta), 0);
	}
	assert_int_equal(delta_enc_feed(e, NULL, 0, true, collect, delta), 0);
	delta_enc_free(e);
	buf_release(&sig);
}

/* Patch basis with delta into a new memfd: 0, or -1 with errno and why. */
static int
apply(const uint8_t *basis, size_t bn, const uint8_t *delta, size_t dn,
    uint64_t size, const uint8_t hash[CHASH_LEN], uint8_t **out, char *why)
{
	int bfd = memfd_with(basis, bn), ofd = memfd_with(NULL, 0);
	struct delta_dec *d = delta_dec_new(bfd, ofd, size);
	int rc = 0;

	for (size_t off = 0; off < dn && rc == 0; off += 65536)
		rc = delta_dec_feed(d, delta + off, dn - off < 65536 ? dn - off :
		    65536, why, 256);
	if (rc == 0)
		rc = delta_dec_finish(d, hash, why, 256);
	int err = errno;
	delta_dec_free(d);
	if (rc == 0 && out) {
		*out = malloc(size + 1);
		assert_int_equal(pread_full(ofd, *out, size + 1, 0),
		    (ssize_t)size);
	}
	close(bfd);
	close(ofd);
	errno = err;
	return rc;
}

static void
test_round_trip(void **state)
{
	enum { N = 8 << 20 };
	uint8_t *old = random_bytes(N, 2), *new = malloc(N + 5000);
	uint8_t hash[CHASH_LEN], *got = NULL;
	struct buf delta = BUF_INIT;
	char why[256];

	(void)state;
	/* 1% rewritten in 100 places, and grown. */
	memcpy(new, old, N);
	uint8_t *noise = random_bytes(N / 100, 3);
	for (int i = 0; i < 100; i++)
		memcpy(new + (size_t)i * (N / 100) + 17 * i, noise +
		    (size_t)i * (N / 10000), N / 10000);
	memcpy(new + N, noise, 5000);
	hash_of(new, N + 5000, hash);
	make_delta(old, N, new, N + 5000, &delta);
	print_message("delta: %zu bytes for %d\n", delta.len, N + 5000);
	assert_true(delta.len < N / 40);
	assert_int_equal(apply(old, N, delta.data, delta.len, N + 5000, hash,
	    &got, why), 0);
	assert_memory_equal(got, new, N + 5000);
	free(got);
	buf_release(&delta);

	/* Truncated to less than a block of the old. */
	hash_of(new, 700, hash);
	make_delta(old, N, new, 700, &delta);
	assert_int_equal(apply(old, N, delta.data, delta.len, 700, hash, &got,
	    why), 0);
	assert_memory_equal(got, new, 700);
	free(got);
	buf_release(&delta);
	free(old);
	free(new);
	free(noise);
}

static void
test_refusals(void **state)
{
	enum { N = 2 << 20 };
	uint8_t *old = random_bytes(N, 4), *new = random_bytes(N, 4);
	uint8_t hash[CHASH_LEN];
	struct buf delta = BUF_INIT;
	char why[256];

	(void)state;
	for (int i = 0; i < 10; i++)
		new[(size_t)i * 200000] ^= 0xff;
	hash_of(new, N, hash);
	make_delta(old, N, new, N, &delta);
	assert_int_equal(apply(old, N, delta.data, delta.len, N, hash, NULL,
	    why), 0);

	/* The old copy changed since it was signed: same size ... */
	uint8_t *other = random_bytes(N, 5);
	assert_int_equal(apply(other, N, delta.data, delta.len, N, hash, NULL,
	    why), -1);
	assert_int_equal(errno, EBADMSG);
	assert_non_null(strstr(why, "not the primary's content"));
	/* ... or shorter: a copy past its end. */
	assert_int_equal(apply(old, N / 2, delta.data, delta.len, N, hash,
	    NULL, why), -1);
	assert_int_equal(errno, EBADMSG);
	/* Announced shorter than it makes. */
	assert_int_equal(apply(old, N, delta.data, delta.len, N - 1, hash,
	    NULL, why), -1);
	assert_non_null(strstr(why, "more than"));
	/* Truncated, a bad magic, junk inside, bytes after its end. */
	assert_int_equal(apply(old, N, delta.data, delta.len - 1, N, hash,
	    NULL, why), -1);
	delta.data[0] ^= 0x40;
	assert_int_equal(apply(old, N, delta.data, delta.len, N, hash, NULL,
	    why), -1);
	delta.data[0] ^= 0x40;
	for (size_t i = 4; i < delta.len; i += 97) {
		uint8_t keep = delta.data[i];
		delta.data[i] = 0xff;
		(void)apply(old, N, delta.data, delta.len, N, hash, NULL, why);
		delta.data[i] = keep;
	}
	buf_add(&delta, "x", 1);
	assert_int_equal(apply(old, N, delta.data, delta.len, N, hash, NULL,
	    why), -1);
	buf_release(&delta);
	free(old);
	free(new);
	free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_len),
		cmocka_unit_test(test_sig_check),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
