/*
 * libFuzzer target: the frame parser and the payload readers, as the
 * secondary (and, for REPLY, the primary) runs them on what arrives.
 *
 * The input is read twice:
 *   1. as a stream of frames, cut by proto_parse_frame, each payload handed
 *      to the readers of its type;
 *   2. as one raw payload (type = first byte, payload = the rest), so the
 *      readers are reached without a valid frame header.
 *
 * Beyond "no crash, no sanitizer report", every accepted value is checked
 * against the contract of proto.h (names and paths valid, no state
 * directory at the root, attributes in range, pointers inside the frame),
 * and every accepted oref or attrs is written back with put_oref/put_attrs
 * and must give exactly the bytes that were read.  A violation aborts.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/log.h"
#include "common/names.h"
#include "protocol/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_frames: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static void
check_cursor(const struct rd *r)
{
	CHECK(r->off <= r->len);
}

/* p/n lies inside the payload. */
static void
check_inside(const struct rd *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	if (n == 0)
		return;
	CHECK(b != NULL);
	CHECK(b >= r->p && b + n <= r->p + r->len);
}

/* The bytes of the reader from start to its cursor equal what put_* wrote. */
static void
check_same(const struct rd *r, size_t start, const struct buf *b)
{
	CHECK(r->off - start == b->len);
	CHECK(b->len == 0 || memcmp(r->p + start, b->data, b->len) == 0);
}

static bool
read_oref(struct rd *r, struct oref *o, bool or_self)
{
	size_t start = r->off;
	bool ok = or_self ? get_oref_or_self(r, o) : get_oref(r, o);

	check_cursor(r);
	if (!ok) {
		CHECK(r->bad);
		return false;
	}
	CHECK(!r->bad);
	check_inside(r, o->parent, o->parent_len);
	check_inside(r, o->name, o->name_len);
	if (o->base == BASE_SELF) {
		CHECK(or_self);
		CHECK(o->parent_len == 0 && o->name_len == 0);
	} else {
		CHECK(o->base == BASE_ROOT || o->base == BASE_STAGE);
		CHECK(relpath_valid(o->parent, o->parent_len));
		CHECK(name_valid(o->name, o->name_len));
		CHECK(o->name_len <= NAME_MAX);
		CHECK(memchr(o->name, '/', o->name_len) == NULL);
		CHECK(memchr(o->name, '\0', o->name_len) == NULL);
		CHECK(o->parent_len == 0 ||
		    memchr(o->parent, '\0', o->parent_len) == NULL);
		if (o->base == BASE_ROOT) {
			size_t sl = strlen(GEOREP_STATE_DIR);
			const char *first = o->parent_len ? o->parent : o->name;
			size_t flen = o->parent_len ? o->parent_len : o->name_len;
			const char *slash = memchr(first, '/', flen);
			if (slash)
				flen = (size_t)(slash - first);
			CHECK(!(flen == sl &&
			    memcmp(first, GEOREP_STATE_DIR, sl) == 0));
		}
	}
	struct buf b = BUF_INIT;
	put_oref(&b, o->base, o->parent, o->parent_len, o->psino, o->name,
	    o->name_len);
	check_same(r, start, &b);
	buf_release(&b);
	return true;
}

static bool
read_attrs(struct rd *r)
{
	size_t start = r->off;
	struct attrs a;
	bool ok = get_attrs(r, &a);

	check_cursor(r);
	if (!ok) {
		CHECK(r->bad);
		CHECK(a.xattrs == NULL);	/* released on refusal */
		attrs_release(&a);
		return false;
	}
	CHECK((a.mask & ~(uint32_t)ATTR_ALL) == 0);
	CHECK(a.mtime_nsec < 1000000000u);
	CHECK((a.mode & ~07777u) == 0);
	CHECK(a.nxattrs <= PROTO_XATTR_COUNT_MAX);
	if (!(a.mask & (ATTR_XATTRS | ATTR_ACLS)))
		CHECK(a.nxattrs == 0);
	for (uint32_t i = 0; i < a.nxattrs; i++) {
		const struct xattr *x = &a.xattrs[i];
		CHECK(x->name_len > 0 && x->name_len <= PROTO_XATTR_NAME_MAX);
		CHECK(x->value_len <= PROTO_XATTR_VALUE_MAX);
		check_inside(r, x->name, x->name_len);
		check_inside(r, x->value, x->value_len);
		CHECK(memchr(x->name, '\0', x->name_len) == NULL);
		CHECK(a.mask & (xattr_is_acl(x->name, x->name_len) ?
		    ATTR_ACLS : ATTR_XATTRS));
		bool ns = (x->name_len > 5 && !memcmp(x->name, "user.", 5)) ||
		    (x->name_len > 8 && !memcmp(x->name, "trusted.", 8)) ||
		    (x->name_len > 9 && !memcmp(x->name, "security.", 9)) ||
		    (x->name_len > 7 && !memcmp(x->name, "system.", 7));
		CHECK(ns);
	}
	struct buf b = BUF_INIT;
	put_attrs(&b, &a);
	check_same(r, start, &b);
	buf_release(&b);
	attrs_release(&a);
	CHECK(a.xattrs == NULL && a.nxattrs == 0);
	return true;
}

static void
read_bytes(struct rd *r, uint32_t max, bool str)
{
	uint32_t len = 12345;
	const void *p = str ? (const void *)get_str(r, &len, max) :
	    (const void *)get_bytes(r, &len, max);

	check_cursor(r);
	if (r->bad) {
		CHECK(p == NULL);
		return;
	}
	CHECK(len <= max);
	check_inside(r, p, len);
	if (str)
		CHECK(len == 0 || memchr(p, '\0', len) == NULL);
}

/* The readers of one message, in the secondary's order. */
static void
handle(uint8_t type, const uint8_t *p, size_t len)
{
	struct rd r;
	struct oref o, dst;

	rd_init(&r, p, len);
	switch (type) {
	case MSG_HELLO:
		(void)get_u32(&r);
		read_bytes(&r, 1024, true);
		(void)get_u32(&r);
		break;
	case MSG_MKDIR:
		if (read_oref(&r, &o, false))
			(void)get_u32(&r);
		break;
	case MSG_SYMLINK:
		if (read_oref(&r, &o, false))
			read_bytes(&r, PATH_MAX - 1, true);
		break;
	case MSG_MKNOD:
		if (read_oref(&r, &o, false)) {
			(void)get_u32(&r);
			(void)get_u64(&r);
		}
		break;
	case MSG_LINK:
	case MSG_RENAME:
		if (read_oref(&r, &o, false)) {
			(void)get_u64(&r);
			(void)read_oref(&r, &dst, false);
		}
		break;
	case MSG_UNLINK:
	case MSG_RMTREE:
		if (read_oref(&r, &o, false))
			(void)get_u64(&r);
		break;
	case MSG_SETATTR:
		if (read_oref(&r, &o, true)) {
			(void)get_u64(&r);
			(void)read_attrs(&r);
		}
		break;
	case MSG_PUT:
		if (read_oref(&r, &o, false)) {
			(void)get_u64(&r);
			(void)get_u32(&r);
			(void)get_u64(&r);
		}
		break;
	case MSG_DATA:
		(void)get_u64(&r);
		read_bytes(&r, PROTO_DATA_CHUNK, false);
		break;
	case MSG_PUT_END:
		(void)read_attrs(&r);
		break;
	case MSG_COMMIT:
		(void)get_u64(&r);
		(void)get_u32(&r);
		break;
	case MSG_REPLY:
		(void)get_u32(&r);
		(void)get_u64(&r);
		read_bytes(&r, 4096, true);
		break;
	case MSG_PUT_ABORT:
	case MSG_BYE:
	case MSG_RESET:
	default:
		break;
	}
	check_cursor(&r);
	bool end = rd_end(&r);
	CHECK(end == (!r.bad && r.off == r.len));
	(void)msg_name(type);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Quiet: the readers do not log, but keep errors only. */
	log_init("fuzz_frames", LOG_LVL_ERR, NULL);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	/* 1. A stream of frames. */
	while (off < size) {
		struct frame f;
		ssize_t n = proto_parse_frame(data + off, size - off, &f);
		if (n <= 0) {
			if (n == 0 && size - off >= 4) {
				uint32_t len = (uint32_t)data[off] |
				    (uint32_t)data[off + 1] << 8 |
				    (uint32_t)data[off + 2] << 16 |
				    (uint32_t)data[off + 3] << 24;
				/* "More needed" only for a valid length. */
				CHECK(len >= PROTO_HDR_LEN - 4 &&
				    len <= PROTO_FRAME_MAX);
				CHECK(size - off - 4 < len);
			}
			break;
		}
		CHECK((size_t)n <= size - off);
		CHECK((size_t)n >= PROTO_HDR_LEN);
		CHECK((size_t)n == (size_t)f.len + PROTO_HDR_LEN);
		CHECK(f.payload == data + off + PROTO_HDR_LEN);
		CHECK(f.type == data[off + 4]);
		handle(f.type, f.payload, f.len);
		off += (size_t)n;
	}

	/* 2. The whole input as one payload. */
	if (size > 0)
		handle(data[0], data + 1, size - 1);
	return 0;
}
