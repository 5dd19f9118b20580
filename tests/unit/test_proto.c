/*
 * Unit tests of the wire format (src/protocol/proto.c): writers and readers
 * round-trip, the frame parser's three answers, and every refusal the
 * secondary relies on (get_oref, get_attrs, get_fid), and compressed blocks
 * (proto_block_span, proto_pack_block, proto_unpack_block): round trips,
 * blocks that do not shrink, and every refusal of a hostile block (cut,
 * corrupt, a size that lies, a bomb, frames that do not fit, a block in a
 * block).  The fields they are
 * made of (get_u32, get_str, rd_end, ...) are the codec's: test_codec.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <zstd.h>

#include "protocol/proto.h"
#include "common/names.h"

/* ---- helpers ---- */

static void
rd_buf(struct rd *r, const struct buf *b)
{
	rd_init(r, b->data, b->len);
}

/* Parse one oref written with the given fields; true when accepted and the
 * payload was consumed exactly. */
static bool
oref_try(bool or_self, uint8_t base, const char *parent, size_t plen,
    const char *name, size_t nlen)
{
	struct buf b = BUF_INIT;
	struct oref o;
	struct rd r;
	bool ok;

	put_oref(&b, base, parent, plen, 0x1122334455667788ull, name, nlen);
	rd_buf(&r, &b);
	ok = or_self ? get_oref_or_self(&r, &o) : get_oref(&r, &o);
	if (ok) {
		assert_int_equal(o.base, base);
		assert_true(o.psino == 0x1122334455667788ull);
		assert_int_equal(o.parent_len, plen);
		assert_int_equal(o.name_len, nlen);
		if (plen)
			assert_memory_equal(o.parent, parent, plen);
		if (nlen)
			assert_memory_equal(o.name, name, nlen);
		assert_true(rd_end(&r));
	} else {
		assert_true(r.bad);
		assert_false(rd_end(&r));
	}
	buf_release(&b);
	return ok;
}

static bool
oref_ok(uint8_t base, const char *parent, const char *name)
{
	return oref_try(false, base, parent, strlen(parent), name, strlen(name));
}

/* Attributes with no xattrs that are valid but for the one field changed. */
static void
attrs_plain(struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->mask = ATTR_MODE | ATTR_OWNER | ATTR_MTIME;
	a->mode = 0644;
	a->uid = 1000;
	a->gid = 100;
	a->mtime_sec = 1700000000;
	a->mtime_nsec = 123456789;
}

static bool
attrs_try(const struct attrs *in)
{
	struct buf b = BUF_INIT;
	struct attrs out;
	struct rd r;
	bool ok;

	put_attrs(&b, in);
	rd_buf(&r, &b);
	ok = get_attrs(&r, &out);
	if (ok)
		assert_true(rd_end(&r));
	else
		assert_true(r.bad);
	attrs_release(&out);
	buf_release(&b);
	return ok;
}

static bool
one_xattr_ok(const char *name, size_t nlen, uint32_t vlen)
{
	struct attrs a;
	struct xattr x;
	uint8_t *val = calloc(1, vlen ? vlen : 1);
	bool ok;

	attrs_plain(&a);
	a.mask |= ATTR_XATTRS | ATTR_ACLS;
	x.name = name;
	x.name_len = (uint32_t)nlen;
	x.value = val;
	x.value_len = vlen;
	a.nxattrs = 1;
	a.xattrs = &x;
	ok = attrs_try(&a);
	free(val);
	return ok;
}

/* ---- round trips ---- */

static void
test_roundtrip_oref_attrs(void **state)
{
	struct buf b = BUF_INIT;
	struct attrs a, out;
	struct xattr x[3] = {
		{ "user.one", 8, (const uint8_t *)"v1", 2 },
		{ "security.capability", 19, (const uint8_t *)"", 0 },
		{ "system.posix_acl_access", 23, (const uint8_t *)"\0\1\2", 3 },
	};
	struct oref o;
	struct rd r;

	(void)state;
	put_oref(&b, BASE_STAGE, "a/b", 3, 42, "c", 1);
	attrs_plain(&a);
	a.mask |= ATTR_XATTRS | ATTR_ACLS;	/* the list holds an ACL too */
	a.mode = 07777;
	a.mtime_sec = -5;		/* before the epoch */
	a.mtime_nsec = 999999999;
	a.nxattrs = 3;
	a.xattrs = x;
	put_attrs(&b, &a);
	attrs_plain(&a);		/* no ATTR_XATTRS: no count on the wire */
	put_attrs(&b, &a);

	rd_buf(&r, &b);
	assert_true(get_oref(&r, &o));
	assert_int_equal(o.base, BASE_STAGE);
	assert_int_equal(o.parent_len, 3);
	assert_memory_equal(o.parent, "a/b", 3);
	assert_int_equal(o.psino, 42);
	assert_int_equal(o.name_len, 1);
	assert_memory_equal(o.name, "c", 1);

	assert_true(get_attrs(&r, &out));
	assert_int_equal(out.mask, ATTR_MODE | ATTR_OWNER | ATTR_MTIME |
	    ATTR_XATTRS | ATTR_ACLS);
	assert_int_equal(out.mode, 07777);
	assert_int_equal(out.uid, 1000);
	assert_int_equal(out.gid, 100);
	assert_true(out.mtime_sec == -5);
	assert_int_equal(out.mtime_nsec, 999999999);
	assert_int_equal(out.nxattrs, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(out.xattrs[i].name_len, x[i].name_len);
		assert_memory_equal(out.xattrs[i].name, x[i].name,
		    x[i].name_len);
		assert_int_equal(out.xattrs[i].value_len, x[i].value_len);
		if (x[i].value_len)
			assert_memory_equal(out.xattrs[i].value, x[i].value,
			    x[i].value_len);
	}
	attrs_release(&out);
	assert_null(out.xattrs);
	assert_int_equal(out.nxattrs, 0);

	assert_true(get_attrs(&r, &out));
	assert_int_equal(out.mask, ATTR_MODE | ATTR_OWNER | ATTR_MTIME);
	assert_int_equal(out.nxattrs, 0);
	assert_null(out.xattrs);
	attrs_release(&out);
	assert_true(rd_end(&r));
	buf_release(&b);
}

/* ---- frames ---- */

static void
test_frame_parse(void **state)
{
	struct buf b = BUF_INIT;
	struct frame f;
	size_t s1, s2, len1;

	(void)state;
	s1 = proto_begin(&b, MSG_MKDIR, 0x01020304u);
	put_oref(&b, BASE_ROOT, "", 0, 0, "dir", 3);
	put_u32(&b, 0755);
	proto_finish(&b, s1);
	len1 = b.len;
	s2 = proto_begin(&b, MSG_BYE, 7);
	proto_finish(&b, s2);
	assert_int_equal(b.len - len1, PROTO_HDR_LEN);

	/* Complete: the whole first frame, not the second. */
	assert_int_equal(proto_parse_frame(b.data, b.len, &f), (ssize_t)len1);
	assert_int_equal(f.type, MSG_MKDIR);
	assert_int_equal(f.id, 0x01020304u);
	assert_ptr_equal(f.payload, b.data + PROTO_HDR_LEN);
	assert_int_equal(f.len, len1 - PROTO_HDR_LEN);
	struct rd r;
	struct oref o;
	rd_init(&r, f.payload, f.len);
	assert_true(get_oref(&r, &o));
	assert_int_equal(get_u32(&r), 0755);
	assert_true(rd_end(&r));

	/* Every strict prefix asks for more. */
	for (size_t n = 0; n < len1; n++)
		assert_int_equal(proto_parse_frame(b.data, n, &f), 0);

	/* The second frame: empty payload. */
	assert_int_equal(proto_parse_frame(b.data + len1, b.len - len1, &f),
	    PROTO_HDR_LEN);
	assert_int_equal(f.type, MSG_BYE);
	assert_int_equal(f.id, 7);
	assert_int_equal(f.len, 0);
	buf_release(&b);
}

static void
test_frame_bad_length(void **state)
{
	uint8_t h[PROTO_HDR_LEN] = { 0 };
	struct frame f;
	uint32_t n;

	(void)state;
	/* Above the maximum: refused from the 4 length bytes alone. */
	n = PROTO_FRAME_MAX + 1;
	memcpy(h, &(uint8_t[4]){ (uint8_t)n, (uint8_t)(n >> 8),
	    (uint8_t)(n >> 16), (uint8_t)(n >> 24) }, 4);
	assert_int_equal(proto_parse_frame(h, 4, &f), -1);
	assert_int_equal(proto_parse_frame(h, sizeof(h), &f), -1);
	h[0] = h[1] = h[2] = h[3] = 0xff;
	assert_int_equal(proto_parse_frame(h, 4, &f), -1);

	/* Exactly the maximum is a valid header that needs more bytes. */
	n = PROTO_FRAME_MAX;
	memcpy(h, &(uint8_t[4]){ (uint8_t)n, (uint8_t)(n >> 8),
	    (uint8_t)(n >> 16), (uint8_t)(n >> 24) }, 4);
	assert_int_equal(proto_parse_frame(h, sizeof(h), &f), 0);

	/* Below type + id. */
	for (n = 0; n < PROTO_HDR_LEN - 4; n++) {
		memset(h, 0, sizeof(h));
		h[0] = (uint8_t)n;
		assert_int_equal(proto_parse_frame(h, sizeof(h), &f), -1);
	}
	/* Exactly type + id: a frame with an empty payload. */
	h[0] = PROTO_HDR_LEN - 4;
	h[4] = MSG_COMMIT;
	assert_int_equal(proto_parse_frame(h, sizeof(h), &f), PROTO_HDR_LEN);
	assert_int_equal(f.type, MSG_COMMIT);
	assert_int_equal(f.len, 0);
	/* Fewer than 4 bytes: more needed, whatever they are. */
	memset(h, 0xff, sizeof(h));
	assert_int_equal(proto_parse_frame(h, 3, &f), 0);
}

/* ---- fids ---- */

static void
test_fid(void **state)
{
	struct buf b = BUF_INIT;
	struct fid in, out;
	struct rd r;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.len = FID_MAX;
	for (unsigned i = 0; i < FID_MAX; i++)
		in.bytes[i] = (uint8_t)(i * 13u);
	put_fid(&b, &in);
	assert_int_equal(b.len, 1 + FID_MAX);
	assert_int_equal(b.data[0], FID_MAX);
	rd_buf(&r, &b);
	assert_true(get_fid(&r, &out, false));
	assert_true(fid_eq(&in, &out));
	assert_true(rd_end(&r));
	/* Cut anywhere. */
	for (size_t n = 0; n < b.len; n++) {
		rd_init(&r, b.data, n);
		assert_false(get_fid(&r, &out, true));
		assert_true(r.bad);
	}
	/* Longer than FID_MAX, every byte there. */
	static uint8_t big[1 + 255];
	memset(big, 7, sizeof(big));
	for (unsigned len = FID_MAX + 1; len <= 255; len += 37) {
		big[0] = (uint8_t)len;
		rd_init(&r, big, 1 + len);
		assert_false(get_fid(&r, &out, true));
		assert_true(r.bad);
	}
	/* Empty: only where allowed. */
	buf_reset(&b);
	in.len = 0;
	put_fid(&b, &in);
	assert_int_equal(b.len, 1);
	rd_buf(&r, &b);
	assert_false(get_fid(&r, &out, false));
	assert_true(r.bad);
	rd_buf(&r, &b);
	assert_true(get_fid(&r, &out, true));
	assert_int_equal(out.len, 0);
	assert_true(rd_end(&r));
	buf_release(&b);
}

/* ---- truncation ---- */

/* An oref or attrs cut anywhere is refused (the fields' own refusals are
 * the codec's: test_codec.c). */
static void
test_truncated(void **state)
{
	struct buf b = BUF_INIT;
	struct rd r;
	struct oref o;
	struct attrs a;

	(void)state;
	put_oref(&b, BASE_ROOT, "dir", 3, 0, "name", 4);
	for (size_t n = 0; n < b.len; n++) {
		rd_init(&r, b.data, n);
		assert_false(get_oref(&r, &o));
		assert_true(r.bad);
	}
	buf_reset(&b);
	struct xattr x = { "user.x", 6, (const uint8_t *)"val", 3 };
	attrs_plain(&a);
	a.mask |= ATTR_XATTRS;
	a.nxattrs = 1;
	a.xattrs = &x;
	put_attrs(&b, &a);
	for (size_t n = 0; n < b.len; n++) {
		struct attrs out;
		rd_init(&r, b.data, n);
		assert_false(get_attrs(&r, &out));
		assert_true(r.bad);
		attrs_release(&out);
	}
	buf_release(&b);
}

static void
test_oref_names(void **state)
{
	char longname[257];

	(void)state;
	assert_true(oref_ok(BASE_ROOT, "", "a"));
	assert_true(oref_ok(BASE_ROOT, "a/b/c", "d"));
	assert_true(oref_ok(BASE_STAGE, "", "x"));
	assert_true(oref_ok(BASE_ROOT, "", "..."));
	assert_true(oref_ok(BASE_ROOT, "", ".hidden"));
	assert_true(oref_ok(BASE_ROOT, "\xff\xfe", "\x80"));	/* bytes */
	assert_false(oref_ok(BASE_ROOT, "", ""));
	assert_false(oref_ok(BASE_ROOT, "", "."));
	assert_false(oref_ok(BASE_ROOT, "", ".."));
	assert_false(oref_ok(BASE_ROOT, "", "a/b"));
	assert_false(oref_ok(BASE_ROOT, "", "/"));
	assert_false(oref_ok(BASE_ROOT, "a", ".."));
	assert_false(oref_ok(BASE_STAGE, "", ".."));
	/* A NUL in the name or the parent. */
	assert_false(oref_try(false, BASE_ROOT, "", 0, "a\0b", 3));
	assert_false(oref_try(false, BASE_ROOT, "a\0", 2, "b", 1));

	memset(longname, 'n', sizeof(longname));
	assert_true(oref_try(false, BASE_ROOT, "", 0, longname, 255));
	assert_false(oref_try(false, BASE_ROOT, "", 0, longname, 256));
	assert_false(oref_try(false, BASE_ROOT, "", 0, longname, 257));
	/* ... and a component of the parent, too. */
	assert_true(oref_try(false, BASE_ROOT, longname, 255, "x", 1));
	assert_false(oref_try(false, BASE_ROOT, longname, 256, "x", 1));
}

static void
test_oref_parents_and_bases(void **state)
{
	(void)state;
	assert_false(oref_ok(BASE_ROOT, "a//b", "x"));
	assert_false(oref_ok(BASE_ROOT, "/a", "x"));
	assert_false(oref_ok(BASE_ROOT, "a/", "x"));
	assert_false(oref_ok(BASE_ROOT, "/", "x"));
	assert_false(oref_ok(BASE_ROOT, "..", "x"));
	assert_false(oref_ok(BASE_ROOT, "a/../b", "x"));
	assert_false(oref_ok(BASE_ROOT, "a/./b", "x"));
	assert_false(oref_ok(BASE_ROOT, ".", "x"));

	assert_false(oref_ok(BASE_SELF, "", "x"));
	assert_false(oref_ok(BASE_SELF, "", ""));
	for (unsigned base = 2; base < 256; base++)
		assert_false(oref_ok((uint8_t)base, "", "x"));
}

static void
test_oref_state_dir(void **state)
{
	(void)state;
	/* At the root, as the name or the first parent component. */
	assert_false(oref_ok(BASE_ROOT, "", GEOREP_STATE_DIR));
	assert_false(oref_ok(BASE_ROOT, GEOREP_STATE_DIR, "x"));
	assert_false(oref_ok(BASE_ROOT, GEOREP_STATE_DIR "/sub", "x"));
	assert_false(oref_ok(BASE_ROOT, GEOREP_STATE_DIR "/a/b", "x"));
	/* Deeper, or only a prefix of it, or in the staging area: fine. */
	assert_true(oref_ok(BASE_ROOT, "x", GEOREP_STATE_DIR));
	assert_true(oref_ok(BASE_ROOT, "x/" GEOREP_STATE_DIR, "y"));
	assert_true(oref_ok(BASE_ROOT, "", GEOREP_STATE_DIR "x"));
	assert_true(oref_ok(BASE_ROOT, "", ".geore"));
	assert_true(oref_ok(BASE_ROOT, GEOREP_STATE_DIR "x", "y"));
	assert_true(oref_ok(BASE_ROOT, ".geore/x", "y"));
	assert_true(oref_ok(BASE_STAGE, "", GEOREP_STATE_DIR));
}

static void
test_oref_or_self(void **state)
{
	(void)state;
	/* BASE_SELF: only with an empty parent and name. */
	assert_true(oref_try(true, BASE_SELF, "", 0, "", 0));
	assert_false(oref_try(true, BASE_SELF, "", 0, "x", 1));
	assert_false(oref_try(true, BASE_SELF, "x", 1, "", 0));
	/* Plain get_oref refuses it. */
	assert_false(oref_try(false, BASE_SELF, "", 0, "", 0));
	/* The usual orefs and refusals still apply. */
	assert_true(oref_try(true, BASE_ROOT, "a", 1, "b", 1));
	assert_false(oref_try(true, BASE_ROOT, "", 0, "", 0));
	assert_false(oref_try(true, BASE_ROOT, "", 0, "..", 2));
	assert_false(oref_try(true, 3, "", 0, "", 0));
	assert_false(oref_try(true, BASE_ROOT, "", 0, GEOREP_STATE_DIR, 7));

	/* Nothing at all to read. */
	struct rd r;
	struct oref o;
	rd_init(&r, NULL, 0);
	assert_false(get_oref_or_self(&r, &o));
	assert_true(r.bad);
}

/* ---- attributes ---- */

static void
test_attrs_refusals(void **state)
{
	struct attrs a;

	(void)state;
	attrs_plain(&a);
	assert_true(attrs_try(&a));
	a.mask = 0;
	assert_true(attrs_try(&a));

	attrs_plain(&a);
	a.mask = 0x20;			/* past ATTR_ALL */
	assert_false(attrs_try(&a));
	a.mask = ATTR_ACLS;		/* the ACL category alone, no list */
	assert_true(attrs_try(&a));
	a.mask = ATTR_MODE | 0x80000000u;
	assert_false(attrs_try(&a));

	attrs_plain(&a);
	a.mtime_nsec = 1000000000u;
	assert_false(attrs_try(&a));
	a.mtime_nsec = UINT32_MAX;
	assert_false(attrs_try(&a));
	a.mtime_nsec = 999999999u;
	assert_true(attrs_try(&a));

	attrs_plain(&a);
	a.mode = 010000;
	assert_false(attrs_try(&a));
	a.mode = 0100644;		/* S_IFREG | 0644: type bits refused */
	assert_false(attrs_try(&a));
	a.mode = 07777;
	assert_true(attrs_try(&a));
}

/* A name outside the categories the mask replaces is refused: an ACL
 * needs ATTR_ACLS, any other xattr ATTR_XATTRS. */
static bool
one_xattr_mask(const char *name, uint32_t mask)
{
	struct attrs a;
	struct xattr x = { .name = name, .name_len = (uint32_t)strlen(name),
	    .value = (const uint8_t *)"v", .value_len = 1 };

	attrs_plain(&a);
	a.mask |= mask;
	a.nxattrs = 1;
	a.xattrs = &x;
	return attrs_try(&a);
}

static void
test_attrs_xattr_categories(void **state)
{
	(void)state;
	assert_true(one_xattr_mask("user.a", ATTR_XATTRS));
	assert_false(one_xattr_mask("user.a", ATTR_ACLS));
	assert_true(one_xattr_mask("system.posix_acl_access", ATTR_ACLS));
	assert_false(one_xattr_mask("system.posix_acl_access", ATTR_XATTRS));
	assert_true(one_xattr_mask("system.posix_acl_default",
	    ATTR_XATTRS | ATTR_ACLS));
}

static void
test_attrs_xattr_names(void **state)
{
	char big[300];

	(void)state;
	assert_true(one_xattr_ok("user.a", 6, 0));
	assert_true(one_xattr_ok("trusted.a", 9, 1));
	assert_true(one_xattr_ok("security.capability", 19, 20));
	assert_true(one_xattr_ok("system.posix_acl_access", 23, 28));
	assert_true(one_xattr_ok("system.posix_acl_default", 24, 28));

	assert_false(one_xattr_ok("", 0, 0));
	assert_false(one_xattr_ok("user.", 5, 0));	/* the bare prefix */
	assert_false(one_xattr_ok("user", 4, 0));
	assert_false(one_xattr_ok("User.a", 6, 0));
	assert_false(one_xattr_ok("os2.a", 5, 0));
	assert_false(one_xattr_ok("system.foo", 10, 0));
	assert_false(one_xattr_ok("system.posix_acl_accessX", 24, 0));
	assert_false(one_xattr_ok("system.posix_acl", 16, 0));
	/* security.: only the capability set the sync manages. */
	assert_false(one_xattr_ok("security.selinux", 16, 0));
	assert_false(one_xattr_ok("security.capabilityX", 20, 0));
	assert_false(one_xattr_ok("security.", 9, 0));
	assert_false(one_xattr_ok("xuser.a", 7, 0));
	assert_false(one_xattr_ok("user.a\0b", 8, 0));	/* NUL */

	/* Name length: 255 accepted, 256 refused. */
	memcpy(big, "user.", 5);
	memset(big + 5, 'x', sizeof(big) - 5);
	assert_true(one_xattr_ok(big, PROTO_XATTR_NAME_MAX, 0));
	assert_false(one_xattr_ok(big, PROTO_XATTR_NAME_MAX + 1, 0));
	/* Value length: the maximum accepted, one more refused. */
	assert_true(one_xattr_ok("user.v", 6, PROTO_XATTR_VALUE_MAX));
	assert_false(one_xattr_ok("user.v", 6, PROTO_XATTR_VALUE_MAX + 1));
}

static void
test_attrs_xattr_count(void **state)
{
	struct attrs a, out;
	struct buf b = BUF_INIT;
	struct rd r;
	struct xattr *x;

	(void)state;
	/* The maximum count, all valid. */
	x = calloc(PROTO_XATTR_COUNT_MAX, sizeof(*x));
	for (uint32_t i = 0; i < PROTO_XATTR_COUNT_MAX; i++) {
		x[i].name = "user.k";
		x[i].name_len = 6;
		x[i].value = (const uint8_t *)"";
	}
	attrs_plain(&a);
	a.mask |= ATTR_XATTRS;
	a.nxattrs = PROTO_XATTR_COUNT_MAX;
	a.xattrs = x;
	assert_true(attrs_try(&a));
	free(x);

	/* One more is refused from the count alone, before any allocation
	 * sized by it. */
	attrs_plain(&a);
	a.mask |= ATTR_XATTRS;
	a.nxattrs = 0;
	put_attrs(&b, &a);
	uint32_t n = PROTO_XATTR_COUNT_MAX + 1;
	memcpy(b.data + b.len - 4, &(uint8_t[4]){ (uint8_t)n,
	    (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) }, 4);
	rd_buf(&r, &b);
	assert_false(get_attrs(&r, &out));
	assert_true(r.bad);
	assert_null(out.xattrs);
	attrs_release(&out);

	/* A huge count is refused too. */
	memset(b.data + b.len - 4, 0xff, 4);
	rd_buf(&r, &b);
	assert_false(get_attrs(&r, &out));
	attrs_release(&out);

	/* A count that promises more entries than the payload holds. */
	memcpy(b.data + b.len - 4, &(uint8_t[4]){ 2, 0, 0, 0 }, 4);
	put_str(&b, "user.a");
	put_bytes(&b, "v", 1);
	rd_buf(&r, &b);
	assert_false(get_attrs(&r, &out));
	assert_null(out.xattrs);
	attrs_release(&out);
	buf_release(&b);
}

static void
test_msg_name(void **state)
{
	(void)state;
	assert_string_equal(msg_name(MSG_HELLO), "HELLO");
	assert_string_equal(msg_name(MSG_RESET), "RESET");
	assert_string_equal(msg_name(MSG_REPLY), "REPLY");
	assert_string_equal(msg_name(0), "unknown");
	assert_string_equal(msg_name(200), "unknown");
}

/* ---- LISTDIR pages (proto_check_list_page) ---- */

static void
put_entry(struct buf *b, const char *name, size_t len)
{
	put_u64(b, 12);
	put_u32(b, 0100644);
	put_u64(b, 3);
	put_u64(b, 1700000000);
	put_u32(b, 5);
	put_bytes(b, name, (uint32_t)len);
}

/* One page of the names given (NULL-terminated); true when accepted, and
 * what was wrong in why otherwise. */
static bool
page_ok(bool more, bool root, struct list_pos *pos, char *why, size_t wl,
    const char *const *names)
{
	struct buf b = BUF_INIT;
	bool ok;

	for (size_t i = 0; names[i]; i++)
		put_entry(&b, names[i], strlen(names[i]));
	ok = proto_check_list_page(b.data, b.len, more, root, pos, why, wl);
	buf_release(&b);
	return ok;
}

#define PAGE(more, root, pos, ...) \
	page_ok((more), (root), (pos), why, sizeof(why), \
	    (const char *const[]){ __VA_ARGS__, NULL })

static void
test_list_page(void **state)
{
	struct list_pos pos = { .len = 0 };
	char why[256];
	struct buf b = BUF_INIT;
	struct list_entry e;
	struct rd r;

	(void)state;
	/* Two pages in order, the second after the first's last name. */
	assert_true(PAGE(true, true, &pos, "a", "ab", "b"));
	assert_int_equal(pos.len, 1);
	assert_memory_equal(pos.last, "b", 1);
	assert_true(PAGE(false, true, &pos, "c", "\xff"));
	assert_false(PAGE(false, true, &pos, "c"));	/* not after \xff */
	assert_non_null(strstr(why, "out of order: \"c\" after \"\\xff\""));
	/* Within a page: a repeat, a step back. */
	pos.len = 0;
	assert_false(PAGE(false, false, &pos, "a", "a"));
	pos.len = 0;
	assert_false(PAGE(false, false, &pos, "b", "a"));
	assert_non_null(strstr(why, "\"a\" after \"b\""));
	/* Names that are not names. */
	static const char *const bad[] = { "a/b", "..", ".", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pos.len = 0;
		assert_false(PAGE(false, false, &pos, bad[i]));
		assert_non_null(strstr(why, "invalid name"));
	}
	pos.len = 0;
	put_entry(&b, "a\0b", 3);
	assert_false(proto_check_list_page(b.data, b.len, false, false, &pos,
	    why, sizeof(why)));
	assert_non_null(strstr(why, "\"a\\x00b\""));
	buf_reset(&b);
	char longname[PROTO_NAME_MAX + 1];
	memset(longname, 'x', sizeof(longname));
	put_entry(&b, longname, sizeof(longname));
	assert_false(proto_check_list_page(b.data, b.len, false, false, &pos,
	    why, sizeof(why)));
	buf_reset(&b);
	/* .georep: never in the root's listing, a name like another below. */
	pos.len = 0;
	assert_false(PAGE(false, true, &pos, ".georep"));
	assert_non_null(strstr(why, "own state"));
	pos.len = 0;
	assert_true(PAGE(false, false, &pos, ".georep"));
	/* "More" with nothing; nothing without more is an empty directory. */
	pos.len = 0;
	assert_false(proto_check_list_page(NULL, 0, true, false, &pos, why,
	    sizeof(why)));
	assert_non_null(strstr(why, "more entries follow"));
	assert_true(proto_check_list_page(NULL, 0, false, false, &pos, why,
	    sizeof(why)));
	/* Cut anywhere: refused, and never read past the end. */
	put_entry(&b, "name", 4);
	for (size_t cut = 1; cut < b.len; cut++) {
		pos.len = 0;
		assert_false(proto_check_list_page(b.data, cut, false, false,
		    &pos, why, sizeof(why)));
		assert_non_null(strstr(why, "does not parse"));
	}
	rd_buf(&r, &b);
	assert_true(get_list_entry(&r, &e));
	assert_true(rd_end(&r));
	assert_true(e.ino == 12 && e.mode == 0100644 && e.size == 3 &&
	    e.mtime_sec == 1700000000 && e.mtime_nsec == 5);
	assert_int_equal(e.name_len, 4);
	assert_memory_equal(e.name, "name", 4);
	buf_release(&b);
}

/* ---- compressed blocks ---- */

/* n MKDIR frames with names that look alike (a tree's): what blocks are
 * for. */
static void
put_mkdirs(struct buf *b, int n)
{
	for (int i = 0; i < n; i++) {
		char name[64];
		int len = snprintf(name, sizeof(name), "directory-%05d", i);
		size_t s = proto_begin(b, MSG_MKDIR, (uint32_t)i + 1);
		put_oref(b, BASE_ROOT, "some/parent/dir", 15, 42, name,
		    (size_t)len);
		put_u32(b, 0755);
		proto_finish(b, s);
	}
}

/* A DATA frame of len bytes of noise (content compressed already). */
static void
put_noise_data(struct buf *b, size_t len)
{
	size_t s = proto_begin(b, MSG_DATA, 9);
	uint32_t x = 2463534242u;

	put_u64(b, 0);
	put_u32(b, (uint32_t)len);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		put_u8(b, (uint8_t)x);
	}
	proto_finish(b, s);
}

/* A raw zstd frame of content (its size declared unless told not to), as
 * a hostile primary could make one: the payload of a MSG_ZBLOCK. */
static void
raw_zstd_ck(const void *content, size_t n, bool declare_size, bool checksum,
    struct buf *out)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n);

	assert_non_null(cc);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc,
	    ZSTD_c_contentSizeFlag, declare_size ? 1 : 0)));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc,
	    ZSTD_c_checksumFlag, checksum ? 1 : 0)));
	buf_reset(out);
	buf_reserve(out, cap);
	/* Streamed, so that without the flag no size is known either. */
	ZSTD_outBuffer o = { out->data, cap, 0 };
	ZSTD_inBuffer in = { content, n, 0 };
	size_t left = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end);
	assert_false(ZSTD_isError(left));
	assert_int_equal(left, 0);
	out->len = o.pos;
	ZSTD_freeCCtx(cc);
}

static void
raw_zstd(const void *content, size_t n, bool declare_size, struct buf *out)
{
	raw_zstd_ck(content, n, declare_size, true, out);
}

/* proto_unpack_block refuses payload with a message containing want. */
static void
assert_unpack_refused(ZSTD_DCtx *dc, const uint8_t *p, size_t len,
    const char *want)
{
	struct buf out = BUF_INIT;
	char why[256] = "";

	if (proto_unpack_block(dc, p, len, &out, why, sizeof(why)))
		fail_msg("a block of %zu bytes accepted, want '%s'", len, want);
	if (strstr(why, want) == NULL)
		fail_msg("refused with '%s', want '%s'", why, want);
	buf_release(&out);
}

/* The one ZBLOCK frame in b: its payload. */
static struct frame
only_block(const struct buf *b)
{
	struct frame f;

	assert_int_equal(proto_parse_frame(b->data, b->len, &f),
	    (ssize_t)b->len);
	assert_int_equal(f.type, MSG_ZBLOCK);
	assert_int_equal(f.id, 0);
	return f;
}

static void
test_block_roundtrip(void **state)
{
	static const int levels[] = { 1, 3, 19 };
	struct buf plain = BUF_INIT, packed = BUF_INIT, back = BUF_INIT;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	char why[256];

	(void)state;
	put_mkdirs(&plain, 2000);
	assert_int_equal(proto_block_span(plain.data, plain.len,
	    PROTO_BLOCK_TARGET), plain.len);
	for (size_t i = 0; i < 3; i++) {
		buf_reset(&packed);
		assert_true(proto_pack_block(cc, levels[i], plain.data,
		    plain.len, &packed));
		/* Many small frames that look alike: a tenth, or better. */
		assert_true(packed.len * 10 < plain.len);
		struct frame f = only_block(&packed);
		assert_true(proto_unpack_block(dc, f.payload, f.len, &back, why,
		    sizeof(why)));
		assert_int_equal(back.len, plain.len);
		assert_memory_equal(back.data, plain.data, plain.len);
	}
	/* Appended: what was in out stays. */
	buf_reset(&packed);
	buf_add(&packed, "xyz", 3);
	assert_true(proto_pack_block(cc, 3, plain.data, plain.len, &packed));
	assert_memory_equal(packed.data, "xyz", 3);
	buf_release(&plain);
	buf_release(&packed);
	buf_release(&back);
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
}

static void
test_block_not_shrinking(void **state)
{
	struct buf plain = BUF_INIT, out = BUF_INIT;
	ZSTD_CCtx *cc = ZSTD_createCCtx();

	(void)state;
	/* Content compressed already: not sent compressed, at any level
	 * (19 gives up after the level-1 attempt), out untouched. */
	put_noise_data(&plain, 256 << 10);
	buf_add(&out, "keep", 4);
	assert_false(proto_pack_block(cc, 1, plain.data, plain.len, &out));
	assert_false(proto_pack_block(cc, 3, plain.data, plain.len, &out));
	assert_false(proto_pack_block(cc, 19, plain.data, plain.len, &out));
	assert_int_equal(out.len, 4);
	/* A few small frames with noise after: too little gained. */
	buf_reset(&plain);
	put_mkdirs(&plain, 3);
	put_noise_data(&plain, 64 << 10);
	assert_false(proto_pack_block(cc, 3, plain.data, plain.len, &out));
	/* Too small to bother (a PING), too large to be a block. */
	buf_reset(&plain);
	size_t s = proto_begin(&plain, MSG_PING, 1);
	proto_finish(&plain, s);
	assert_false(proto_pack_block(cc, 3, plain.data, plain.len, &out));
	assert_int_equal(out.len, 4);
	uint8_t *big = calloc(1, PROTO_BLOCK_MAX + 1);
	assert_false(proto_pack_block(cc, 3, big, PROTO_BLOCK_MAX + 1, &out));
	free(big);
	assert_int_equal(out.len, 4);
	/* The context those attempts left still compresses what shrinks. */
	buf_reset(&plain);
	put_mkdirs(&plain, 100);
	assert_true(proto_pack_block(cc, 3, plain.data, plain.len, &out));
	buf_release(&plain);
	buf_release(&out);
	ZSTD_freeCCtx(cc);
}

static void
test_block_span(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	put_mkdirs(&b, 1);
	size_t one = b.len;
	put_mkdirs(&b, 9);
	/* Whole frames while they fit; the first one whatever its size. */
	assert_int_equal(proto_block_span(b.data, b.len, 10 * one), 10 * one);
	assert_int_equal(proto_block_span(b.data, b.len, 3 * one + 1),
	    3 * one);
	assert_int_equal(proto_block_span(b.data, b.len, 1), one);
	/* A cut frame at the end is left out; a cut first one: nothing. */
	assert_int_equal(proto_block_span(b.data, b.len - 1, b.len),
	    9 * one);
	assert_int_equal(proto_block_span(b.data, one - 1, b.len), 0);
	/* A frame begun and not finished (its length still 0) ends it. */
	proto_begin(&b, MSG_PING, 99);
	assert_int_equal(proto_block_span(b.data, b.len, b.len), 10 * one);
	assert_int_equal(proto_block_span(NULL, 0, 100), 0);
	buf_release(&b);
}

static void
test_block_refusals(void **state)
{
	struct buf plain = BUF_INIT, z = BUF_INIT, packed = BUF_INIT;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	uint8_t junk[64];

	(void)state;
	put_mkdirs(&plain, 100);
	assert_true(proto_pack_block(cc, 3, plain.data, plain.len, &packed));
	struct frame f = only_block(&packed);

	/* Not zstd; empty; cut anywhere; something after it. */
	memset(junk, 0x5a, sizeof(junk));
	assert_unpack_refused(dc, junk, sizeof(junk), "is not a zstd frame");
	assert_unpack_refused(dc, junk, 0, "is not a zstd frame");
	for (size_t cut = 1; cut < f.len; cut++) {
		struct buf out = BUF_INIT;
		char why[256];
		assert_false(proto_unpack_block(dc, f.payload, cut, &out, why,
		    sizeof(why)));
		buf_release(&out);
	}
	assert_unpack_refused(dc, f.payload, f.len - 1, "cut or corrupt");
	buf_reset(&z);
	buf_add(&z, f.payload, f.len);
	buf_add(&z, "abc", 3);
	assert_unpack_refused(dc, z.data, z.len,
	    "has 3 bytes after its zstd frame");
	/* Corrupt inside: a flipped byte in the compressed data. */
	buf_reset(&z);
	buf_add(&z, f.payload, f.len);
	z.data[z.len / 2] ^= 0xff;
	struct buf out = BUF_INIT;
	char why[256];
	assert_false(proto_unpack_block(dc, z.data, z.len, &out, why,
	    sizeof(why)));
	/* Without the checksum that would catch that: refused. */
	raw_zstd_ck(plain.data, plain.len, true, false, &z);
	assert_unpack_refused(dc, z.data, z.len, "has no content checksum");

	/* No size declared: refused before anything is decompressed. */
	raw_zstd(plain.data, plain.len, false, &z);
	assert_unpack_refused(dc, z.data, z.len, "does not declare its size");

	/* A bomb: 64 MiB of zeros in a few KiB, refused by its declared
	 * size before anything is allocated for it. */
	size_t bomb = 64u << 20;
	uint8_t *zeros = calloc(1, bomb);
	assert_non_null(zeros);
	raw_zstd(zeros, bomb, true, &z);
	free(zeros);
	assert_true(z.len < 8192);
	assert_unpack_refused(dc, z.data, z.len, "declares 67108864 bytes");

	/* A size that lies (declares less than it holds): decompressed into
	 * the size declared, no more, and refused. */
	raw_zstd(plain.data, plain.len, true, &z);
	assert_true(plain.len > 256 && plain.len < 65792);
	uint8_t fhd = z.data[4];
	assert_int_equal(fhd >> 6, 1);		/* a 2-byte size field */
	static const size_t did_size[] = { 0, 1, 2, 4 };
	size_t at = 5 + !((fhd >> 5) & 1) + did_size[fhd & 3];
	unsigned lie = (unsigned)(plain.len / 2 - 256);
	z.data[at] = (uint8_t)lie;
	z.data[at + 1] = (uint8_t)(lie >> 8);
	assert_false(proto_unpack_block(dc, z.data, z.len, &out, why,
	    sizeof(why)));
	assert_true(out.len <= plain.len / 2);

	/* Declared sizes out of bounds: below a frame header. */
	raw_zstd("abcd", 4, true, &z);
	assert_unpack_refused(dc, z.data, z.len, "declares 4 bytes");

	/* What is inside must be whole frames, none of them a block. */
	buf_reset(&out);
	buf_add(&out, plain.data, plain.len - 3);
	raw_zstd(out.data, out.len, true, &z);
	assert_unpack_refused(dc, z.data, z.len, "ends in the middle of a "
	    "frame");
	buf_reset(&out);
	buf_add(&out, plain.data, plain.len);
	put_u32(&out, PROTO_FRAME_MAX + 1);
	put_u8(&out, MSG_PING);
	put_u32(&out, 1);
	raw_zstd(out.data, out.len, true, &z);
	assert_unpack_refused(dc, z.data, z.len, "a frame with a bad length");
	buf_reset(&out);
	buf_add(&out, plain.data, plain.len);
	buf_add(&out, packed.data, packed.len);
	raw_zstd(out.data, out.len, true, &z);
	assert_unpack_refused(dc, z.data, z.len, "another compressed block");

	/* And the good one still unpacks with the same context. */
	assert_true(proto_unpack_block(dc, f.payload, f.len, &out, why,
	    sizeof(why)));
	assert_int_equal(out.len, plain.len);
	buf_release(&out);
	buf_release(&plain);
	buf_release(&z);
	buf_release(&packed);
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_oref_attrs),
		cmocka_unit_test(test_frame_parse),
		cmocka_unit_test(test_frame_bad_length),
		cmocka_unit_test(test_block_roundtrip),
		cmocka_unit_test(test_block_not_shrinking),
		cmocka_unit_test(test_block_span),
		cmocka_unit_test(test_block_refusals),
		cmocka_unit_test(test_fid),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_oref_names),
		cmocka_unit_test(test_oref_parents_and_bases),
		cmocka_unit_test(test_oref_state_dir),
		cmocka_unit_test(test_oref_or_self),
		cmocka_unit_test(test_attrs_refusals),
		cmocka_unit_test(test_attrs_xattr_names),
		cmocka_unit_test(test_attrs_xattr_categories),
		cmocka_unit_test(test_attrs_xattr_count),
		cmocka_unit_test(test_msg_name),
		cmocka_unit_test(test_list_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
