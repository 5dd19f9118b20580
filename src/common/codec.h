/*
 * codec: the byte encoding the wire (proto.h), the index's records
 * (index.c) and the journal's records (journal.c) are built from.
 *
 * Integers are little-endian and of fixed width: u8, u32, u64 (a signed
 * value is written as its two's complement, cast by the caller).  A byte
 * string is a u32 length and the bytes; a short byte string a u8 length
 * and at most 255 bytes; a string is a byte string that holds no NUL (it
 * is not NUL-terminated).  Raw bytes are a fixed number of bytes, the
 * length known to both sides.
 *
 * Writing appends to a struct buf (util.h) and cannot fail.
 *
 * Reading goes through a cursor, struct rd, over bytes the caller keeps
 * for as long as it uses what was read: every pointer a get_* returns
 * points into them, and nothing is allocated.  Each get_* takes the next
 * field.  When the field does not fit in what is left, or is longer than
 * the maximum the caller gives, the cursor turns bad and the get_* returns
 * 0 (or NULL, with *len 0); a bad cursor stays bad and refuses everything
 * after, so a decoder reads all its fields and checks once.  rd_end() says
 * whether nothing was refused and the input was consumed exactly: a
 * record with bytes left over is as wrong as one cut short.
 *
 * Only the framing of fields lives here, never the layout of a record: a
 * format changes in its own module (and its own version), so a change to
 * the wire cannot change an on-disk format with it, nor the reverse.  A
 * leaf: it depends on util.h alone.
 */
#ifndef GEOREP_CODEC_H
#define GEOREP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

void put_u8(struct buf *b, uint8_t v);
void put_u32(struct buf *b, uint32_t v);
void put_u64(struct buf *b, uint64_t v);
/* n bytes as they are, no length (get_raw reads them back). */
void put_raw(struct buf *b, const void *p, size_t n);
/* A u32 length and n bytes. */
void put_bytes(struct buf *b, const void *p, uint32_t n);
/* A u8 length and n (<= 255) bytes. */
void put_bytes8(struct buf *b, const void *p, uint8_t n);
/* s without its NUL, as a byte string. */
void put_str(struct buf *b, const char *s);

/* A reading cursor; rd_init() before anything else. */
struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;		/* the next byte to read */
	bool bad;		/* something was refused: stays set */
};

static inline void
rd_init(struct rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

/* The bytes not read yet (0 once the cursor is bad). */
static inline size_t
rd_left(const struct rd *r)
{
	return r->bad ? 0 : r->len - r->off;
}

uint8_t get_u8(struct rd *r);
uint32_t get_u32(struct rd *r);
uint64_t get_u64(struct rd *r);
/* The next n bytes; NULL when fewer are left. */
const uint8_t *get_raw(struct rd *r, size_t n);
/* A byte string of at most max bytes. */
const uint8_t *get_bytes(struct rd *r, uint32_t *len, uint32_t max);
/* A short byte string of at most max bytes. */
const uint8_t *get_bytes8(struct rd *r, uint8_t *len, uint8_t max);
/* As get_bytes, and refused if it holds a NUL. */
const char *get_str(struct rd *r, uint32_t *len, uint32_t max);
/* True when nothing was refused and every byte was read. */
bool rd_end(const struct rd *r);

#endif
