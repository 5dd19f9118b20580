#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <xxhash.h>
#include <zstd.h>

#include "../common/digest.h"
#include "../common/log.h"
#include "../common/names.h"
#include "proto.h"
#include "../common/banned.h"

size_t
proto_begin(struct buf *b, uint8_t type, uint32_t id)
{
	size_t start = b->len;

	put_u32(b, 0);		/* filled by proto_finish */
	put_u8(b, type);
	put_u32(b, id);
	return start;
}

void
proto_finish(struct buf *b, size_t start)
{
	uint32_t n = (uint32_t)(b->len - start - 4);

	for (int i = 0; i < 4; i++)
		b->data[start + i] = (uint8_t)(n >> (8 * i));
}

void
partial_name(uint8_t base, const char *parent, size_t plen, const char *name,
    size_t nlen, char out[PARTIAL_NAME_LEN + 1])
{
	XXH3_state_t *st = XXH3_createState();
	static const char sep = '\0';

	if (st == NULL)
		fatal("out of memory");
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, &base, 1);
	XXH3_64bits_update(st, parent, plen);
	XXH3_64bits_update(st, &sep, 1);
	XXH3_64bits_update(st, name, nlen);
	snprintf(out, PARTIAL_NAME_LEN + 1, PARTIAL_PREFIX "%016llx",
	    (unsigned long long)XXH3_64bits_digest(st));
	XXH3_freeState(st);
}

void
put_oref(struct buf *b, uint8_t base, const char *parent, size_t plen,
    uint64_t psino, const char *name, size_t nlen)
{
	put_u8(b, base);
	put_bytes(b, parent, (uint32_t)plen);
	put_u64(b, psino);
	put_bytes(b, name, (uint32_t)nlen);
}

void
put_attrs(struct buf *b, const struct attrs *a)
{
	put_u32(b, a->mask);
	put_u32(b, a->mode);
	put_u32(b, a->uid);
	put_u32(b, a->gid);
	put_u64(b, (uint64_t)a->mtime_sec);
	put_u32(b, a->mtime_nsec);
	if (!(a->mask & (ATTR_XATTRS | ATTR_ACLS)))
		return;
	put_u32(b, a->nxattrs);
	for (uint32_t i = 0; i < a->nxattrs; i++) {
		put_bytes(b, a->xattrs[i].name, a->xattrs[i].name_len);
		put_bytes(b, a->xattrs[i].value, a->xattrs[i].value_len);
	}
}

void
put_fid(struct buf *b, const struct fid *f)
{
	put_bytes8(b, f->bytes, f->len);
}

bool
get_oref(struct rd *r, struct oref *o)
{
	o->base = get_u8(r);
	o->parent = get_str(r, &o->parent_len, PROTO_FRAME_MAX);
	o->psino = get_u64(r);
	o->name = get_str(r, &o->name_len, NAME_MAX);
	if (r->bad)
		return false;
	if ((o->base != BASE_ROOT && o->base != BASE_STAGE) ||
	    !relpath_valid(o->parent, o->parent_len) ||
	    !name_valid(o->name, o->name_len)) {
		r->bad = true;
		return false;
	}
	/* The state directory at the root is never addressed by the peer,
	 * neither as a name nor as the first component of a parent. */
	size_t sl = strlen(GEOREP_STATE_DIR);
	const char *first = o->parent_len ? o->parent : o->name;
	uint32_t flen = o->parent_len ? o->parent_len : o->name_len;
	const char *slash = memchr(first, '/', flen);
	if (slash != NULL)
		flen = (uint32_t)(slash - first);
	if (o->base == BASE_ROOT && flen == sl &&
	    memcmp(first, GEOREP_STATE_DIR, sl) == 0) {
		r->bad = true;
		return false;
	}
	return true;
}

bool
get_oref_or_self(struct rd *r, struct oref *o)
{
	if (r->off < r->len && r->p[r->off] == BASE_SELF) {
		o->base = get_u8(r);
		o->parent = get_str(r, &o->parent_len, 0);
		o->psino = get_u64(r);
		o->name = get_str(r, &o->name_len, 0);
		return !r->bad;
	}
	return get_oref(r, o);
}

static bool
xattr_name_valid(const char *name, uint32_t len)
{
	static const char *const allowed[] = {
		"user.", "trusted.", "security.capability", "system.posix_acl_access",
		"system.posix_acl_default",
	};

	if (len == 0 || len > PROTO_XATTR_NAME_MAX)
		return false;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		size_t n = strlen(allowed[i]);
		bool prefix = allowed[i][n - 1] == '.';
		if (prefix ? (len > n && memcmp(name, allowed[i], n) == 0) :
		    (len == n && memcmp(name, allowed[i], n) == 0))
			return true;
	}
	return false;
}

bool
get_attrs(struct rd *r, struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->mask = get_u32(r);
	a->mode = get_u32(r);
	a->uid = get_u32(r);
	a->gid = get_u32(r);
	a->mtime_sec = (int64_t)get_u64(r);
	a->mtime_nsec = get_u32(r);
	if (r->bad || (a->mask & ~(uint32_t)ATTR_ALL) ||
	    a->mtime_nsec >= 1000000000u || (a->mode & ~07777u)) {
		r->bad = true;
		return false;
	}
	if (!(a->mask & (ATTR_XATTRS | ATTR_ACLS)))
		return true;
	a->nxattrs = get_u32(r);
	if (r->bad || a->nxattrs > PROTO_XATTR_COUNT_MAX) {
		r->bad = true;
		return false;
	}
	a->xattrs = xcalloc(a->nxattrs, sizeof(*a->xattrs));
	for (uint32_t i = 0; i < a->nxattrs; i++) {
		struct xattr *x = &a->xattrs[i];
		x->name = get_str(r, &x->name_len, PROTO_XATTR_NAME_MAX);
		x->value = get_bytes(r, &x->value_len, PROTO_XATTR_VALUE_MAX);
		/* Each name within a category the mask replaces. */
		uint32_t cat = r->bad ? 0 : xattr_is_acl(x->name, x->name_len) ?
		    ATTR_ACLS : ATTR_XATTRS;
		if (r->bad || !xattr_name_valid(x->name, x->name_len) ||
		    !(a->mask & cat)) {
			r->bad = true;
			attrs_release(a);
			return false;
		}
	}
	return true;
}

bool
get_fid(struct rd *r, struct fid *f, bool allow_empty)
{
	const uint8_t *p = get_bytes8(r, &f->len, FID_MAX);

	if (p == NULL || (f->len == 0 && !allow_empty)) {
		r->bad = true;
		f->len = 0;
		return false;
	}
	memcpy(f->bytes, p, f->len);
	return true;
}

ssize_t
proto_parse_frame(const uint8_t *p, size_t len, struct frame *f)
{
	uint32_t n = 0;

	if (len < 4)
		return 0;
	for (int i = 0; i < 4; i++)
		n |= (uint32_t)p[i] << (8 * i);
	if (n < PROTO_HDR_LEN - 4 || n > PROTO_FRAME_MAX)
		return -1;
	if (len - 4 < n)
		return 0;
	f->type = p[4];
	f->id = (uint32_t)p[5] | (uint32_t)p[6] << 8 | (uint32_t)p[7] << 16 |
	    (uint32_t)p[8] << 24;
	f->payload = p + PROTO_HDR_LEN;
	f->len = n - (PROTO_HDR_LEN - 4);
	return (ssize_t)(n + 4);
}

_Static_assert(PROTO_NAME_MAX == NAME_MAX, "a name on the wire is a name");
_Static_assert(VLIST_PAGE_MAX + 64 < PROTO_FRAME_MAX,
    "a VLIST page fits in a frame");

bool
get_list_entry(struct rd *r, struct list_entry *e)
{
	e->ino = get_u64(r);
	e->mode = get_u32(r);
	e->size = get_u64(r);
	e->mtime_sec = (int64_t)get_u64(r);
	e->mtime_nsec = get_u32(r);
	/* Any length that fits: name_valid says whether it is a name. */
	e->name = (const char *)get_bytes(r, &e->name_len, PROTO_LIST_BYTES);
	return !r->bad;
}

/* Byte order, a prefix first: the order the secondary lists in. */
static int
name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* What is wrong with entry e of a page, in why, or false. */
static bool
list_entry_wrong(const struct list_entry *e, bool root,
    const struct list_pos *pos, char *why, size_t whylen)
{
	char *q = quote_name(e->name, e->name_len);
	size_t sl = strlen(GEOREP_STATE_DIR);
	bool wrong = true;

	if (!name_valid(e->name, e->name_len)) {
		snprintf(why, whylen, "has an entry with an invalid name \"%s\"",
		    q);
	} else if (root && e->name_len == sl &&
	    memcmp(e->name, GEOREP_STATE_DIR, sl) == 0) {
		snprintf(why, whylen, "has an entry named \"%s\" (the "
		    "secondary's own state)", q);
	} else if (pos->len && name_cmp(e->name, e->name_len, pos->last,
	    pos->len) <= 0) {
		char *qa = quote_name(pos->last, pos->len);
		snprintf(why, whylen, "has entries out of order: \"%s\" after "
		    "\"%s\"", q, qa);
		free(qa);
	} else {
		wrong = false;
	}
	free(q);
	return wrong;
}

bool
proto_check_list_page(const uint8_t *p, size_t len, bool more, bool root,
    struct list_pos *pos, char *why, size_t whylen)
{
	struct list_entry e;
	struct rd r;

	if (more && len == 0) {
		snprintf(why, whylen, "says more entries follow, and has none");
		return false;
	}
	rd_init(&r, p, len);
	while (r.off < r.len) {
		if (!get_list_entry(&r, &e)) {
			snprintf(why, whylen, "has an entry that does not parse "
			    "(at byte %zu of %zu)", r.off, len);
			return false;
		}
		if (list_entry_wrong(&e, root, pos, why, whylen))
			return false;
		memcpy(pos->last, e.name, e.name_len);
		pos->len = e.name_len;
	}
	return true;
}

void
put_vlist_entry(struct buf *b, const struct vlist_entry *e,
    const struct attrs *a)
{
	put_u64(b, e->ino);
	put_u32(b, e->mode);
	put_u32(b, e->uid);
	put_u32(b, e->gid);
	put_u32(b, e->nlink);
	put_u64(b, e->size);
	put_u64(b, e->rdev);
	put_u64(b, (uint64_t)e->mtime_sec);
	put_u32(b, e->mtime_nsec);
	put_u64(b, (uint64_t)e->ctime_sec);
	put_u32(b, e->ctime_nsec);
	put_bytes(b, e->name, e->name_len);
	put_bytes(b, e->target, e->target_len);
	put_u32(b, e->xattr_errno);
	put_u32(b, a->nxattrs);
	for (uint32_t i = 0; i < a->nxattrs; i++) {
		const struct xattr *x = &a->xattrs[i];
		XXH128_hash_t h = XXH3_128bits(x->value, x->value_len);
		put_bytes(b, x->name, x->name_len);
		put_u32(b, x->value_len);
		put_u64(b, h.high64);
		put_u64(b, h.low64);
	}
}

bool
get_vxattr(struct rd *r, struct vxattr *x)
{
	x->name = get_str(r, &x->name_len, PROTO_XATTR_NAME_MAX);
	x->value_len = get_u32(r);
	x->digest = get_raw(r, DIGEST_LEN);
	return !r->bad && x->name_len > 0 &&
	    x->value_len <= PROTO_XATTR_VALUE_MAX;
}

bool
get_vlist_entry(struct rd *r, struct vlist_entry *e)
{
	e->ino = get_u64(r);
	e->mode = get_u32(r);
	e->uid = get_u32(r);
	e->gid = get_u32(r);
	e->nlink = get_u32(r);
	e->size = get_u64(r);
	e->rdev = get_u64(r);
	e->mtime_sec = (int64_t)get_u64(r);
	e->mtime_nsec = get_u32(r);
	e->ctime_sec = (int64_t)get_u64(r);
	e->ctime_nsec = get_u32(r);
	e->name = (const char *)get_bytes(r, &e->name_len, PROTO_LIST_BYTES);
	e->target = get_str(r, &e->target_len, VLIST_TARGET_MAX);
	e->xattr_errno = get_u32(r);
	e->nxattrs = get_u32(r);
	if (r->bad || e->xattr_errno > PROTO_ERRNO_MAX ||
	    e->nxattrs > PROTO_XATTR_COUNT_MAX || e->mtime_nsec >= 1000000000u ||
	    e->ctime_nsec >= 1000000000u)
		return r->bad = true, false;
	/* The xattrs: names in strictly increasing order. */
	size_t start = r->off;
	struct vxattr x, prev = { 0 };
	for (uint32_t i = 0; i < e->nxattrs; i++) {
		if (!get_vxattr(r, &x) || (i > 0 && name_cmp(x.name,
		    x.name_len, prev.name, prev.name_len) <= 0))
			return r->bad = true, false;
		prev = x;
	}
	e->xattrs = r->p + start;
	e->xattrs_len = (uint32_t)(r->off - start);
	bool target_ok = S_ISLNK(e->mode) ? e->target_len > 0 :
	    e->target_len == 0;
	if (!target_ok)
		r->bad = true;
	return !r->bad;
}

bool
proto_check_vlist_page(const uint8_t *p, size_t len, bool more, bool root,
    struct list_pos *pos, char *why, size_t whylen)
{
	struct vlist_entry e;
	struct list_entry le;
	struct rd r;

	if (more && len == 0) {
		snprintf(why, whylen, "says more entries follow, and has none");
		return false;
	}
	rd_init(&r, p, len);
	if (root && pos->len == 0) {
		/* The root's first page begins with the root itself; the
		 * names after it start from the beginning. */
		if (!get_vlist_entry(&r, &e) || e.name_len != 1 ||
		    e.name[0] != '.' || !S_ISDIR(e.mode)) {
			snprintf(why, whylen, "does not begin with the root "
			    "itself (\".\", a directory)");
			return false;
		}
		if (more && r.off == r.len) {
			snprintf(why, whylen, "says more entries follow, and has "
			    "only the root");
			return false;
		}
	}
	while (r.off < r.len) {
		if (!get_vlist_entry(&r, &e)) {
			snprintf(why, whylen, "has an entry that does not parse "
			    "(at byte %zu of %zu)", r.off, len);
			return false;
		}
		le.name = e.name;
		le.name_len = e.name_len;
		if (list_entry_wrong(&le, root, pos, why, whylen))
			return false;
		memcpy(pos->last, e.name, e.name_len);
		pos->len = e.name_len;
	}
	return true;
}

/* ---- compressed blocks ---- */

size_t
proto_block_span(const uint8_t *p, size_t len, size_t target)
{
	size_t off = 0;
	struct frame f;

	while (off < len) {
		ssize_t n = proto_parse_frame(p + off, len - off, &f);
		if (n <= 0 || (off > 0 && off + (size_t)n > target))
			break;
		off += (size_t)n;
	}
	return off;
}

/* Compress plain into a MSG_ZBLOCK frame appended to out, if its payload
 * fits in cap bytes. */
static bool
pack_at(struct ZSTD_CCtx_s *cctx, int level, const uint8_t *plain,
    size_t len, size_t cap, struct buf *out)
{
	size_t start = proto_begin(out, MSG_ZBLOCK, 0);

	buf_reserve(out, cap);
	/* With its checksum: the secondary requires one.  An attempt that
	 * did not fit leaves the context mid-frame, where no parameter can
	 * be set: a new frame begins with a reset. */
	size_t n = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
	if (!ZSTD_isError(n))
		n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(n))
		n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(n))
		n = ZSTD_compress2(cctx, out->data + out->len, cap, plain, len);
	if (ZSTD_isError(n)) {
		/* dstSize_tooSmall: it does not shrink enough */
		out->len = start;
		return false;
	}
	out->len += n;
	proto_finish(out, start);
	return true;
}

bool
proto_pack_block(struct ZSTD_CCtx_s *cctx, int level, const uint8_t *plain,
    size_t len, struct buf *out)
{
	if (len < PROTO_BLOCK_MIN || len > PROTO_BLOCK_MAX)
		return false;
	/* Worth it only when it saves a little more than its own header. */
	size_t cap = len - len / 32 - PROTO_HDR_LEN;
	size_t start = out->len;

	if (level <= 3)
		return pack_at(cctx, level, plain, len, cap, out);
	/* A slow level: a fast attempt says first whether it can shrink at
	 * all (content compressed already would cost the slow level for
	 * nothing); the slow one must then do better than the fast one. */
	if (!pack_at(cctx, 1, plain, len, cap, out))
		return false;
	struct buf better = BUF_INIT;
	size_t fast = out->len - start - PROTO_HDR_LEN;
	if (pack_at(cctx, level, plain, len, fast - 1, &better)) {
		out->len = start;
		buf_add(out, better.data, better.len);
	}
	buf_release(&better);
	return true;
}

/* The zstd frame of a block: its declared size, checked before anything
 * is allocated, and the whole payload. */
static bool
block_size_ok(const uint8_t *p, size_t len, size_t *size, char *why,
    size_t whylen)
{
	unsigned long long declared = ZSTD_getFrameContentSize(p, len);

	if (declared == ZSTD_CONTENTSIZE_ERROR) {
		snprintf(why, whylen, "is not a zstd frame");
		return false;
	}
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN) {
		snprintf(why, whylen, "does not declare its size");
		return false;
	}
	if (declared < PROTO_HDR_LEN || declared > PROTO_BLOCK_MAX) {
		snprintf(why, whylen, "declares %llu bytes (%u to %u)", declared,
		    PROTO_HDR_LEN, PROTO_BLOCK_MAX);
		return false;
	}
	size_t framed = ZSTD_findFrameCompressedSize(p, len);
	if (ZSTD_isError(framed)) {
		snprintf(why, whylen, "is cut or corrupt (%s)",
		    ZSTD_getErrorName(framed));
		return false;
	}
	if (framed != len) {
		snprintf(why, whylen, "has %zu bytes after its zstd frame",
		    len - framed);
		return false;
	}
	/* The frame header descriptor (after the 4-byte magic number, which
	 * ZSTD_getFrameContentSize checked): bit 2 is the content checksum
	 * flag.  Without a checksum, a damaged block could decompress into
	 * other frames that still parse. */
	if (!(p[4] & 0x04)) {
		snprintf(why, whylen, "has no content checksum");
		return false;
	}
	*size = (size_t)declared;
	return true;
}

/* What a block holds: whole, valid frames, none of them a block. */
static bool
block_frames_ok(const uint8_t *p, size_t len, char *why, size_t whylen)
{
	size_t off = 0;
	struct frame f;

	while (off < len) {
		ssize_t n = proto_parse_frame(p + off, len - off, &f);
		if (n < 0) {
			snprintf(why, whylen, "holds a frame with a bad length "
			    "(at byte %zu)", off);
			return false;
		}
		if (n == 0) {
			snprintf(why, whylen, "ends in the middle of a frame "
			    "(at byte %zu of %zu)", off, len);
			return false;
		}
		if (f.type == MSG_ZBLOCK) {
			snprintf(why, whylen, "holds another compressed block");
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

bool
proto_unpack_block(struct ZSTD_DCtx_s *dctx, const uint8_t *p, size_t len,
    struct buf *out, char *why, size_t whylen)
{
	size_t size;

	buf_reset(out);
	if (!block_size_ok(p, len, &size, why, whylen))
		return false;
	buf_reserve(out, size);
	/* At most size bytes are written, whatever the frame says inside. */
	size_t n = ZSTD_decompressDCtx(dctx, out->data, size, p, len);
	if (ZSTD_isError(n)) {
		snprintf(why, whylen, "does not decompress (%s)",
		    ZSTD_getErrorName(n));
		return false;
	}
	if (n != size) {
		snprintf(why, whylen, "decompresses to %zu bytes, not the %zu "
		    "it declares", n, size);
		return false;
	}
	out->len = n;
	return block_frames_ok(out->data, out->len, why, whylen);
}

const char *
msg_name(uint8_t type)
{
	switch (type) {
	case MSG_HELLO:		return "HELLO";
	case MSG_MKDIR:		return "MKDIR";
	case MSG_SYMLINK:	return "SYMLINK";
	case MSG_MKNOD:		return "MKNOD";
	case MSG_LINK:		return "LINK";
	case MSG_RENAME:	return "RENAME";
	case MSG_UNLINK:	return "UNLINK";
	case MSG_RMTREE:	return "RMTREE";
	case MSG_PUT:		return "PUT";
	case MSG_DATA:		return "DATA";
	case MSG_PUT_END:	return "PUT_END";
	case MSG_PUT_ABORT:	return "PUT_ABORT";
	case MSG_SETATTR:	return "SETATTR";
	case MSG_COMMIT:	return "COMMIT";
	case MSG_BYE:		return "BYE";
	case MSG_RESET:		return "RESET";
	case MSG_LISTDIR:	return "LISTDIR";
	case MSG_PING:		return "PING";
	case MSG_VLIST:		return "VLIST";
	case MSG_DIGEST:	return "DIGEST";
	case MSG_ZBLOCK:	return "ZBLOCK";
	case MSG_SIGNATURE:	return "SIGNATURE";
	case MSG_REPLY:		return "REPLY";
	default:		return "unknown";
	}
}
