#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "digest.h"
#include "log.h"
#include "util.h"
#include "banned.h"

/* Integers go into the digest little-endian, and the digest out in
 * XXH128's canonical (big-endian) form: the two sides of a verify may be
 * hosts of either byte order, and must agree. */
static void
put_le64(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	/* Compare the block with itself shifted by one byte: zero when
	 * every byte equals the first, which is zero. */
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The first block at or after block b holding data, or the end: holes are
 * skipped whole.  ENXIO (no data up to the end) and a filesystem without
 * SEEK_DATA both fall back to what is safe. */
static uint64_t
next_data_block(int fd, uint64_t b, uint64_t nblocks)
{
	off_t d = lseek(fd, (off_t)(b * DIGEST_BLOCK), SEEK_DATA);

	if (d < 0)
		return errno == ENXIO ? nblocks : b;
	uint64_t nb = (uint64_t)d / DIGEST_BLOCK;
	return nb > b ? nb : b;
}

int
content_digest(int fd, uint64_t size, uint8_t out[DIGEST_LEN])
{
	static const char tag[] = "georep content 1";
	uint64_t nblocks = (size + DIGEST_BLOCK - 1) / DIGEST_BLOCK;
	XXH3_state_t *st = XXH3_createState();
	uint8_t *blk = xmalloc(DIGEST_BLOCK);
	int rc = 0;

	if (st == NULL)
		fatal("out of memory");
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, tag, sizeof(tag));
	uint8_t le[8];
	for (uint64_t b = next_data_block(fd, 0, nblocks); b < nblocks; ) {
		uint64_t off = b * DIGEST_BLOCK;
		size_t n = size - off < DIGEST_BLOCK ? (size_t)(size - off) :
		    DIGEST_BLOCK;
		ssize_t r = pread_full(fd, blk, n, (off_t)off);
		if (r < 0) {
			rc = -1;
			break;
		}
		if (!all_zero(blk, (size_t)r)) {
			put_le64(le, b);
			XXH3_128bits_update(st, le, sizeof(le));
			XXH3_128bits_update(st, blk, (size_t)r);
		}
		if ((size_t)r < n)
			break;		/* shrank meanwhile */
		/* Look for the next data only past a hole: a seek per block
		 * would cost more than it saves on a file without holes. */
		b++;
		if (r > 0 && all_zero(blk, (size_t)r) && b < nblocks)
			b = next_data_block(fd, b, nblocks);
	}
	if (rc == 0) {
		XXH128_canonical_t c;
		put_le64(le, size);
		XXH3_128bits_update(st, le, sizeof(le));
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
		memcpy(out, c.digest, DIGEST_LEN);
	}
	free(blk);
	XXH3_freeState(st);
	return rc;
}
