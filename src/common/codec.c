#include <string.h>

#include "codec.h"
#include "banned.h"

void
put_u8(struct buf *b, uint8_t v)
{
	buf_add(b, &v, 1);
}

void
put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	buf_add(b, x, 4);
}

void
put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	buf_add(b, x, 8);
}

void
put_raw(struct buf *b, const void *p, size_t n)
{
	buf_add(b, p, n);
}

void
put_bytes(struct buf *b, const void *p, uint32_t n)
{
	put_u32(b, n);
	buf_add(b, p, n);
}

void
put_bytes8(struct buf *b, const void *p, uint8_t n)
{
	put_u8(b, n);
	buf_add(b, p, n);
}

void
put_str(struct buf *b, const char *s)
{
	put_bytes(b, s, (uint32_t)strlen(s));
}

/* The next n bytes, or NULL and the cursor bad when fewer are left. */
static const uint8_t *
rd_take(struct rd *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t
get_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

uint32_t
get_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	uint32_t v = 0;

	if (p == NULL)
		return 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t
get_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

const uint8_t *
get_raw(struct rd *r, size_t n)
{
	return rd_take(r, n);
}

/* The n bytes of a string whose length n was just read, at most max. */
static const uint8_t *
take_counted(struct rd *r, size_t n, size_t max)
{
	if (r->bad)
		return NULL;
	if (n > max) {
		r->bad = true;
		return NULL;
	}
	return rd_take(r, n);
}

const uint8_t *
get_bytes(struct rd *r, uint32_t *len, uint32_t max)
{
	uint32_t n = get_u32(r);
	const uint8_t *p = take_counted(r, n, max);

	*len = p != NULL ? n : 0;
	return p;
}

const uint8_t *
get_bytes8(struct rd *r, uint8_t *len, uint8_t max)
{
	uint8_t n = get_u8(r);
	const uint8_t *p = take_counted(r, n, max);

	*len = p != NULL ? n : 0;
	return p;
}

const char *
get_str(struct rd *r, uint32_t *len, uint32_t max)
{
	const uint8_t *p = get_bytes(r, len, max);

	if (p != NULL && memchr(p, '\0', *len) != NULL) {
		r->bad = true;
		*len = 0;
		return NULL;
	}
	return (const char *)p;
}

bool
rd_end(const struct rd *r)
{
	return !r->bad && r->off == r->len;
}
