/*
 * digest: the content digest `georep verify` compares, computed the same way
 * on each side of the wire, so that only digests travel.
 *
 * It depends on the bytes of a file and its size, never on how the
 * filesystem lays them out: a sparse file and the same bytes written out in
 * full digest the same.  The file is taken in DIGEST_BLOCK blocks; a block
 * of zeros -- a hole, or zeros written -- adds nothing, every other block
 * adds its index and its bytes, and the size goes in last (integers
 * little-endian, the digest in XXH128's canonical byte order: hosts of
 * either byte order agree).  Holes are skipped with SEEK_DATA, so a
 * large sparse file costs what its data costs.
 * XXH3-128: a check against corruption and edits, not against an adversary
 * (a secondary that lies can lie about its digest as easily).
 *
 * content_digest() reads fd from offset 0 to size (the size the caller
 * stat'ed); it returns 0, or -1 with errno.  A file that grows meanwhile is
 * read to size; one that shrinks gives a short digest, which the caller
 * tells apart by stat'ing again.
 */
#ifndef GEOREP_DIGEST_H
#define GEOREP_DIGEST_H

#include <stdint.h>

#define DIGEST_LEN	16
#define DIGEST_BLOCK	(64u << 10)

int content_digest(int fd, uint64_t size, uint8_t out[DIGEST_LEN]);

#endif
