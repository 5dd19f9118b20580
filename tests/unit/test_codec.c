/*
 * Unit tests of the byte codec (src/common/codec.c) the wire, the index and
 * the journal share: every writer round-trips through its reader at the
 * edges of its range, in little-endian order; every reader refuses input
 * cut short, a length over its maximum or past the end, and a NUL in a
 * string; a refusal sticks; rd_end wants the input consumed exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/codec.h"

static void
rd_buf(struct rd *r, const struct buf *b)
{
	rd_init(r, b->data, b->len);
}

/* ---- round trips ---- */

static void
test_integers(void **state)
{
	static const uint32_t u32s[] = { 0, 1, 0x7f, 0x80, 0xff, 0x100,
	    0xdeadbeefu, 0x7fffffffu, 0x80000000u, UINT32_MAX };
	static const uint64_t u64s[] = { 0, 1, 0xffffffffull, 0x100000000ull,
	    0x0123456789abcdefull, INT64_MAX, (uint64_t)INT64_MIN,
	    UINT64_MAX };
	struct buf b = BUF_INIT;
	struct rd r;

	(void)state;
	for (unsigned v = 0; v <= 0xff; v++)
		put_u8(&b, (uint8_t)v);
	for (size_t i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++)
		put_u32(&b, u32s[i]);
	for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++)
		put_u64(&b, u64s[i]);
	/* A signed value travels as its two's complement. */
	put_u64(&b, (uint64_t)(int64_t)-2);
	assert_int_equal(b.len, 256 + 4 * 10 + 8 * 8 + 8);

	rd_buf(&r, &b);
	for (unsigned v = 0; v <= 0xff; v++)
		assert_int_equal(get_u8(&r), v);
	for (size_t i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++)
		assert_int_equal(get_u32(&r), u32s[i]);
	for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++)
		assert_true(get_u64(&r) == u64s[i]);
	assert_true((int64_t)get_u64(&r) == -2);
	assert_int_equal(rd_left(&r), 0);
	assert_true(rd_end(&r));
	buf_release(&b);
}

static void
test_little_endian(void **state)
{
	static const uint8_t want[] = {
		0xab,
		0x04, 0x03, 0x02, 0x01,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x03, 0, 0, 0, 'a', 'b', 'c',
		0x02, 'x', 'y',
		0x02, 0, 0, 0, 'h', 'i',
		'r', 'a', 'w',
	};
	struct buf b = BUF_INIT;

	(void)state;
	put_u8(&b, 0xab);
	put_u32(&b, 0x01020304u);
	put_u64(&b, 0x0102030405060708ull);
	put_bytes(&b, "abc", 3);
	put_bytes8(&b, "xy", 2);
	put_str(&b, "hi");
	put_raw(&b, "raw", 3);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	buf_release(&b);
}

static void
test_strings(void **state)
{
	static const uint8_t blob[] = { 0, 1, 2, 0xff, 0 };
	uint8_t big[255];
	struct buf b = BUF_INIT;
	struct rd r;
	uint32_t len;
	uint8_t len8;
	const uint8_t *p;
	const char *s;

	(void)state;
	memset(big, 0xa5, sizeof(big));
	put_bytes(&b, blob, sizeof(blob));	/* NULs are bytes here */
	put_bytes(&b, NULL, 0);
	put_bytes8(&b, big, 255);
	put_bytes8(&b, NULL, 0);
	put_str(&b, "hello");
	put_str(&b, "");
	put_raw(&b, blob, sizeof(blob));
	put_raw(&b, NULL, 0);

	rd_buf(&r, &b);
	p = get_bytes(&r, &len, sizeof(blob));	/* exactly the maximum */
	assert_non_null(p);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(p, blob, sizeof(blob));
	(void)get_bytes(&r, &len, 0);
	assert_int_equal(len, 0);
	assert_false(r.bad);
	p = get_bytes8(&r, &len8, 255);
	assert_non_null(p);
	assert_int_equal(len8, 255);
	assert_memory_equal(p, big, 255);
	(void)get_bytes8(&r, &len8, 0);
	assert_int_equal(len8, 0);
	assert_false(r.bad);
	s = get_str(&r, &len, 5);
	assert_non_null(s);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "hello", 5);
	(void)get_str(&r, &len, 0);
	assert_int_equal(len, 0);
	p = get_raw(&r, sizeof(blob));
	assert_non_null(p);
	assert_memory_equal(p, blob, sizeof(blob));
	(void)get_raw(&r, 0);
	assert_true(rd_end(&r));
	buf_release(&b);
}

/* What a reader returns points into the input: nothing is copied. */
static void
test_pointers_into_input(void **state)
{
	struct buf b = BUF_INIT;
	struct rd r;
	uint32_t len;
	uint8_t len8;

	(void)state;
	put_bytes(&b, "abc", 3);
	put_bytes8(&b, "de", 2);
	put_str(&b, "f");
	put_raw(&b, "gh", 2);
	rd_buf(&r, &b);
	assert_ptr_equal(get_bytes(&r, &len, 10), b.data + 4);
	assert_ptr_equal(get_bytes8(&r, &len8, 10), b.data + 8);
	assert_ptr_equal(get_str(&r, &len, 10), b.data + 14);
	assert_ptr_equal(get_raw(&r, 2), b.data + 15);
	assert_true(rd_end(&r));
	buf_release(&b);
}

/* ---- refusals ---- */

/* Read the fields test_every_prefix writes; true when all were taken. */
static bool
read_all(struct rd *r)
{
	uint32_t len;
	uint8_t len8;

	(void)get_u8(r);
	(void)get_u32(r);
	(void)get_u64(r);
	(void)get_bytes(r, &len, 100);
	(void)get_bytes8(r, &len8, 100);
	(void)get_str(r, &len, 100);
	(void)get_raw(r, 3);
	return !r->bad;
}

static void
test_every_prefix(void **state)
{
	struct buf b = BUF_INIT;
	struct rd r;

	(void)state;
	put_u8(&b, 1);
	put_u32(&b, 2);
	put_u64(&b, 3);
	put_bytes(&b, "four", 4);
	put_bytes8(&b, "five", 4);
	put_str(&b, "six");
	put_raw(&b, "svn", 3);
	/* Cut anywhere, inside a field or between two: refused, the cursor
	 * never past what it was given. */
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, b.data, n);
		rd_init(&r, copy, n);
		assert_false(read_all(&r));
		assert_true(r.bad);
		assert_true(r.off <= n);
		assert_false(rd_end(&r));
		free(copy);
	}
	rd_buf(&r, &b);
	assert_true(read_all(&r));
	assert_true(rd_end(&r));
	buf_release(&b);
}

static void
test_short_scalars(void **state)
{
	static const uint8_t z[16];
	struct rd r;

	(void)state;
	rd_init(&r, NULL, 0);
	assert_int_equal(get_u8(&r), 0);
	assert_true(r.bad);
	rd_init(&r, z, 3);
	assert_int_equal(get_u32(&r), 0);
	assert_true(r.bad);
	rd_init(&r, z, 7);
	assert_true(get_u64(&r) == 0);
	assert_true(r.bad);
	rd_init(&r, z, 15);
	assert_null(get_raw(&r, 16));
	assert_true(r.bad);
	/* A failed read takes nothing. */
	assert_int_equal(r.off, 0);
}

static void
test_lengths_past_the_end(void **state)
{
	struct rd r;
	uint32_t len = 99;
	uint8_t len8 = 99;

	(void)state;
	/* The length prefix itself cut. */
	static const uint8_t two[2] = { 1, 0 };
	rd_init(&r, two, sizeof(two));
	assert_null(get_bytes(&r, &len, 100));
	assert_int_equal(len, 0);
	assert_true(r.bad);
	rd_init(&r, two, 0);
	assert_null(get_bytes8(&r, &len8, 100));
	assert_int_equal(len8, 0);
	assert_true(r.bad);

	/* A length that claims more than is left. */
	static const uint8_t s[8] = { 5, 0, 0, 0, 'a', 'b', 'c', 'd' };
	rd_init(&r, s, sizeof(s));
	assert_null(get_bytes(&r, &len, 100));
	assert_int_equal(len, 0);
	assert_true(r.bad);
	rd_init(&r, s, sizeof(s));
	assert_null(get_str(&r, &len, 100));
	assert_true(r.bad);
	static const uint8_t s8[4] = { 4, 'a', 'b', 'c' };
	rd_init(&r, s8, sizeof(s8));
	assert_null(get_bytes8(&r, &len8, 255));
	assert_int_equal(len8, 0);
	assert_true(r.bad);

	/* A huge length must not wrap the bounds check. */
	static const uint8_t h[6] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
	rd_init(&r, h, sizeof(h));
	assert_null(get_bytes(&r, &len, UINT32_MAX));
	assert_true(r.bad);
	static const uint8_t h8[3] = { 0xff, 'a', 'b' };
	rd_init(&r, h8, sizeof(h8));
	assert_null(get_bytes8(&r, &len8, 255));
	assert_true(r.bad);
	rd_init(&r, h, sizeof(h));
	(void)get_u8(&r);
	assert_null(get_raw(&r, SIZE_MAX));
	assert_true(r.bad);
}

static void
test_over_maximum(void **state)
{
	uint8_t big[256];
	struct buf b = BUF_INIT;
	struct rd r;
	uint32_t len = 99;
	uint8_t len8 = 99;

	(void)state;
	memset(big, 'x', sizeof(big));
	/* Every byte there, the length one over the maximum: refused. */
	put_bytes(&b, big, 6);
	rd_buf(&r, &b);
	assert_null(get_bytes(&r, &len, 5));
	assert_int_equal(len, 0);
	assert_true(r.bad);
	rd_buf(&r, &b);
	assert_null(get_str(&r, &len, 5));
	assert_true(r.bad);
	rd_buf(&r, &b);
	assert_non_null(get_str(&r, &len, 6));
	assert_true(rd_end(&r));
	/* A maximum of 0 takes only the empty string. */
	buf_reset(&b);
	put_bytes(&b, big, 1);
	rd_buf(&r, &b);
	assert_null(get_bytes(&r, &len, 0));
	assert_true(r.bad);

	buf_reset(&b);
	put_bytes8(&b, big, 145);
	rd_buf(&r, &b);
	assert_null(get_bytes8(&r, &len8, 144));
	assert_int_equal(len8, 0);
	assert_true(r.bad);
	rd_buf(&r, &b);
	assert_non_null(get_bytes8(&r, &len8, 145));
	assert_int_equal(len8, 145);
	assert_true(rd_end(&r));
	buf_release(&b);
}

static void
test_str_nul(void **state)
{
	static const char *const bad[] = { "ab\0cd", "abc\0", "\0", "\0\0" };
	static const size_t badlen[] = { 5, 4, 1, 2 };
	struct buf b = BUF_INIT;
	struct rd r;
	uint32_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		put_bytes(&b, bad[i], (uint32_t)badlen[i]);
		rd_buf(&r, &b);
		len = 99;
		assert_null(get_str(&r, &len, 100));
		assert_int_equal(len, 0);
		assert_true(r.bad);
		assert_false(rd_end(&r));
		/* As bytes, the same input is fine. */
		rd_buf(&r, &b);
		assert_non_null(get_bytes(&r, &len, 100));
		assert_int_equal(len, badlen[i]);
		assert_true(rd_end(&r));
	}
	buf_release(&b);
}

static void
test_bad_sticks(void **state)
{
	static const uint8_t v[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct rd r;
	uint32_t len;
	uint8_t len8;

	(void)state;
	/* Refused for its maximum, with everything after it readable. */
	rd_init(&r, v, sizeof(v));
	assert_null(get_bytes8(&r, &len8, 0));
	assert_true(r.bad);
	assert_int_equal(rd_left(&r), 0);
	assert_int_equal(get_u8(&r), 0);
	assert_int_equal(get_u32(&r), 0);
	assert_true(get_u64(&r) == 0);
	assert_null(get_raw(&r, 0));
	assert_null(get_bytes(&r, &len, 100));
	assert_null(get_str(&r, &len, 100));
	assert_true(r.bad);
	assert_false(rd_end(&r));

	/* Short, then given more bytes: still refused. */
	rd_init(&r, v, 3);
	(void)get_u32(&r);
	r.len = sizeof(v);
	assert_int_equal(get_u8(&r), 0);
	assert_false(rd_end(&r));
}

static void
test_rd_end(void **state)
{
	static const uint8_t p[5] = { 1, 2, 3, 4, 5 };
	struct rd r;

	(void)state;
	rd_init(&r, p, sizeof(p));
	assert_int_equal(rd_left(&r), 5);
	(void)get_u32(&r);
	assert_false(r.bad);
	assert_int_equal(rd_left(&r), 1);
	assert_false(rd_end(&r));	/* a byte left over */
	(void)get_u8(&r);
	assert_true(rd_end(&r));
	rd_init(&r, p, 0);
	assert_true(rd_end(&r));	/* nothing, all of it read */
	(void)get_u8(&r);		/* past the end: bad, not the end */
	assert_false(rd_end(&r));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_little_endian),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_pointers_into_input),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_short_scalars),
		cmocka_unit_test(test_lengths_past_the_end),
		cmocka_unit_test(test_over_maximum),
		cmocka_unit_test(test_str_nul),
		cmocka_unit_test(test_bad_sticks),
		cmocka_unit_test(test_rd_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
