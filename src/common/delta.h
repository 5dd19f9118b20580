/*
 * delta: rsync-style deltas of a file's content (librsync), and the
 * content hash both ends compute over what they read or write.
 *
 * The exchange (DESIGN.md, "A turn", 3):
 *
 *   secondary  delta_signature()    its copy's signature, a page at a
 *                                   time: a weak and a strong sum per block
 *   primary    delta_enc_new()      the signature checked and loaded
 *              delta_enc_begin()    one delta of the current content
 *              delta_enc_feed()     the content, in order; the delta comes
 *                                   out through a callback, a chunk at once
 *   secondary  delta_dec_new()      the patch, against the old copy (read
 *              delta_dec_feed()     with pread) into a new file
 *              delta_dec_finish()   the result checked against the
 *                                   primary's content hash
 *
 * The block length is a pure function of the size of the copy signed
 * (delta_block_len), about a quarter of its square root, so a few changed
 * bytes cost a few KiB of delta; a floor keeps small files' signatures
 * small, and the number of blocks is capped so that a signature is at most
 * DELTA_SIG_MAX bytes whatever the size (a copy too large for that is not
 * signed: its content goes whole).  A signature travels in pages of the
 * blocks of DELTA_PAGE_BYTES of the file, each with the header, so that
 * signing a large file is many short requests, not one long silence on
 * the link.  The primary checks each page's shape against the size
 * signed before librsync reads any (delta_sig_check), and joins them
 * (the header once) into the signature delta_enc_new loads.
 *
 * The patch trusts nothing: librsync refuses a corrupt delta, a copy from
 * beyond the old file's end is refused, the result may not grow past the
 * size announced, and it must hash to what the primary read -- so an old
 * copy that changed since it was signed, or any other mismatch, is an
 * error, never a wrong file.
 *
 * The content hash (XXH3-128) is the one the index keeps: the file in
 * chunks of CHASH_CHUNK bytes, each hashed as its offset (host byte order,
 * as the index always had it) and its bytes, then the size.  A sparse
 * file's holes are skipped (data.c); a delta is only made of a file
 * without holes, whose chunks are then all there.
 *
 * Errors: -1 with errno (EBADMSG for a corrupt signature or delta, or a
 * result that does not hash right; EIO for librsync's own failure; a read
 * or write errno) and, where a why buffer is given, what was wrong.
 */
#ifndef GEOREP_DELTA_H
#define GEOREP_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#include "util.h"

#define CHASH_CHUNK		(256u << 10)
#define CHASH_LEN		16

#define DELTA_STRONG_LEN	12	/* bytes of BLAKE2 per block */
#define DELTA_BLOCK_MIN		1024u
#define DELTA_BLOCK_MAX		(16u << 20)
#define DELTA_BLOCKS_MAX	65536u
#define DELTA_SIG_HDR		12	/* magic, block length, strong length */
#define DELTA_SIG_MAX		(DELTA_SIG_HDR + DELTA_BLOCKS_MAX * \
				 (4 + DELTA_STRONG_LEN))
#define DELTA_PAGE_BYTES	(64u << 20)	/* of the file, per page */

/* The content hash, fed a chunk at a time. */
void chash_chunk(XXH3_state_t *st, uint64_t off, const void *p, size_t n);
void chash_end(XXH3_state_t *st, uint64_t size, uint8_t out[CHASH_LEN]);
/* The content hash of the first size bytes of fd, all data (no holes
 * skipped: a file written whole); -1 (errno; EIO when it is shorter). */
int chash_file(int fd, uint64_t size, uint8_t out[CHASH_LEN]);

/* The block length for a copy of this size; false when even the longest
 * block would give more than DELTA_BLOCKS_MAX blocks (no delta then). */
bool delta_block_len(uint64_t size, uint32_t *block_len);
/* The size of the signature of a copy of this size in such blocks. */
uint64_t delta_sig_len(uint64_t size, uint32_t block_len);
/* The blocks a page covers, and how many blocks a copy of size has. */
uint64_t delta_page_blocks(uint32_t block_len);
uint64_t delta_blocks(uint64_t size, uint32_t block_len);
/* Whether sig (len bytes) is shaped as the page of the signature of a
 * copy of `size` bytes that begins at block `first`: the magic, the block
 * length delta_block_len gives, the strong length, the length for the
 * blocks of that page.  False with why. */
bool delta_sig_check(const uint8_t *sig, size_t len, uint64_t size,
    uint64_t first, char *why, size_t whylen);
/* The longest delta accepted for a result of `size` bytes: its literal
 * data, and generous room for the commands. */
uint64_t delta_stream_max(uint64_t size);

/* The page of the signature of fd, a file of `size` bytes, that begins at
 * block `first`, appended to out.  -1 with errno: EFBIG when the size
 * allows no bounded signature, EINVAL when first is past the last block,
 * EAGAIN when the file shrank while it was read, or read's. */
int delta_signature(int fd, uint64_t size, uint64_t first, struct buf *out);

/* The primary's side. */
struct delta_enc;
typedef int (*delta_out_fn)(void *arg, const uint8_t *p, size_t n);
/* NULL (why says what) when sig is not a signature librsync can load. */
struct delta_enc *delta_enc_new(const uint8_t *sig, size_t len, char *why,
    size_t whylen);
/* Start a delta (again, after an attempt that was given up). */
int delta_enc_begin(struct delta_enc *e);
/* The next bytes of the new content (eof: the last); the delta is handed
 * to out in pieces of at most CHASH_CHUNK bytes, all of it by the call
 * with eof.  out failing (-1) fails this. */
int delta_enc_feed(struct delta_enc *e, const uint8_t *p, size_t n, bool eof,
    delta_out_fn out, void *arg);
void delta_enc_free(struct delta_enc *e);

/* The secondary's side: the result (of `size` bytes, as the primary
 * said) into out_fd from offset 0; basis_fd is read only. */
struct delta_dec;
struct delta_dec *delta_dec_new(int basis_fd, int out_fd, uint64_t size);
/* The next bytes of the delta. */
int delta_dec_feed(struct delta_dec *d, const uint8_t *p, size_t n,
    char *why, size_t whylen);
/* The delta is all there: the end of the patch, the whole result written,
 * its size and content hash checked against expect. */
int delta_dec_finish(struct delta_dec *d, const uint8_t expect[CHASH_LEN],
    char *why, size_t whylen);
void delta_dec_free(struct delta_dec *d);

#endif
