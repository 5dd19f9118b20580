/*
 * proto: the wire between the primary and the secondary.
 *
 * A frame is a 9-byte header -- u32 length of what follows the length field
 * (type + id + payload), u8 type, u32 request id -- and a payload.  A frame
 * longer than PROTO_FRAME_MAX is refused before anything is allocated.  The
 * fields are codec.h's: little-endian integers, strings and byte strings
 * with a u32 length, read through a struct rd that refuses what does not
 * fit; a payload must be consumed exactly (rd_end).  What is the wire's own
 * is here: frames, orefs, attribute sets and fids as the wire carries them,
 * and the message types.  The wire has its own version (PROTO_VERSION,
 * agreed by HELLO), apart from the on-disk formats built on the same codec.
 *
 * Requests are pipelined: the primary sends without waiting; the secondary
 * handles them in order and answers each with one REPLY frame carrying the
 * request's id, except MSG_PUT and MSG_DATA, which are answered once, by the
 * reply to the MSG_PUT_END or MSG_PUT_ABORT that closes them.  Replies come
 * back in request order, so the primary checks each against the head of its
 * queue of pending requests.
 *
 * Every object is named by an oref: a base (the tree root or the staging
 * area), the path of its parent relative to that base, the parent's inode
 * number on the secondary as the primary's index knows it (0: not known
 * yet, any), and its name.  The secondary resolves it beneath its root
 * without following any symlink, and answers ESTALE when the directory at
 * that path is another inode: a path is only the index's belief, and a
 * write that went to whatever directory sits there now would be reported
 * done while the object it meant stays missing.  On the wire: u8 base,
 * str parent, u64 parent sino, str name.
 *
 * Entry operations are "ordered": once one fails, the secondary answers every
 * later ordered request with ECANCELED until the next MSG_COMMIT, so the
 * primary knows exactly which prefix of its entry operations took effect.
 *
 * Compression (protocol 7).  When the primary's HELLO carries
 * HELLO_COMPRESS and the secondary accepted it, the primary may send, in
 * place of a run of ordinary frames, one MSG_ZBLOCK frame (id 0) whose
 * payload is a single zstd frame that declares its content size and holds
 * those frames, whole, back to back.  The block is made by the pump when
 * it is about to write (conn.c): whatever frames are queued then, up to
 * PROTO_BLOCK_TARGET bytes, so many small frames (entry operations, PUTs
 * of small files, their attributes) share one zstd frame and its
 * dictionary of names, which compresses far better than frame by frame.
 * A block that would not save at least 1/32 of its bytes is not sent: the
 * same frames go as they are, so content that is compressed already
 * (archives, media) costs one fast attempt on the primary and nothing on
 * the wire or on the secondary; above level 3 that attempt is made at
 * level 1 first, and only a block level 1 can shrink is compressed at the
 * level asked for.  Frame boundaries and request ids are those of the
 * frames inside; the block itself is answered by nothing.
 *
 * The secondary unpacks a block before it looks at what is inside, and
 * trusts none of it (proto_unpack_block): the declared size is checked
 * against PROTO_BLOCK_MAX before anything is allocated, the zstd frame must
 * be the whole payload and carry its content checksum (XXH64, checked as
 * it is decompressed), it is decompressed into exactly the declared size
 * (a frame that would write more fails: no bomb gets further than that),
 * and what comes out must be whole, valid frames, none of them another
 * block.  Anything else is a protocol error.
 *
 * Replies are never compressed.  They are small (an errno, a value) but
 * for LISTDIR and VLIST pages, which only reconciling and verify ask for;
 * and the primary, the side that holds the index and trusts its peer
 * least, then never runs a decompressor on bytes the secondary chose.
 */
#ifndef GEOREP_PROTO_H
#define GEOREP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/attrs.h"
#include "../common/codec.h"
#include "../common/delta.h"
#include "../common/digest.h"
#include "../common/fid.h"
#include "../common/util.h"

/* 2: ATTR_ACLS; 3: LISTDIR's sino, PUT's mode; 4: the oref's parent sino;
 * 5: the HELLO reply's data (the secondary's uid and gid); PING;
 * 6: HELLO_READONLY, VLIST and DIGEST (georep verify);
 * 7: HELLO_COMPRESS and MSG_ZBLOCK (zstd blocks of frames);
 * 8: SIGNATURE and PUT_DELTA (rsync-style deltas of large files);
 * 9: HELLO_JOBS (sync_jobs); 10: PUT_COPY and HELLO_FDS (content passed
 * as a descriptor to a local secondary), HELLO_ADOPT and HELLO_ADOPTED */
#define PROTO_VERSION		10
#define PROTO_HDR_LEN		9
#define PROTO_FRAME_MAX		(4u << 20)	/* type + id + payload */
#define PROTO_DATA_CHUNK	(256u << 10)
#define PROTO_XATTR_NAME_MAX	255
#define PROTO_XATTR_VALUE_MAX	65536
#define PROTO_XATTR_COUNT_MAX	1024
#define PROTO_LIST_BYTES	(1u << 20)	/* a LISTDIR reply's entries */
#define PROTO_NAME_MAX		255		/* a name's bytes (NAME_MAX) */
#define PROTO_ERRNO_MAX		4095		/* a REPLY's errno: 0..this */
#define PROTO_REPLY_MSG_MAX	4096		/* a REPLY's error message */
/* A compressed block (MSG_ZBLOCK): the frames it holds come to at most
 * PROTO_BLOCK_MAX bytes (one frame of the largest size, length included);
 * the primary gathers about PROTO_BLOCK_TARGET bytes of frames per block. */
#define PROTO_BLOCK_MAX		(PROTO_FRAME_MAX + 4)
#define PROTO_BLOCK_TARGET	(1u << 20)
#define PROTO_BLOCK_MIN		64	/* fewer bytes are never compressed */
#define PROTO_SIG_MAX		DELTA_SIG_MAX	/* a SIGNATURE reply's data */

enum msg_type {
	MSG_HELLO = 1,	/* u32 version, str volume, u32 flags; reply
			 * value: enum hello_state | HELLO_* bits; reply
			 * data: u32 uid, u32 gid the secondary runs as */
	MSG_MKDIR,	/* oref, u32 mode */
	MSG_SYMLINK,	/* oref, str target */
	MSG_MKNOD,	/* oref, u32 mode, u64 rdev */
	MSG_LINK,	/* oref src, u64 sino, oref dst */
	MSG_RENAME,	/* oref src, u64 sino, oref dst */
	MSG_UNLINK,	/* oref, u64 sino (0: any) */
	MSG_RMTREE,	/* oref, u64 sino (0: any) */
	MSG_PUT,	/* oref, u64 sino (0: new), u32 flags, u64 size,
			 * u32 mode (permission bits, for a new file) */
	MSG_DATA,	/* u64 offset, bytes */
	MSG_PUT_END,	/* attrs */
	MSG_PUT_ABORT,	/* (empty) */
	MSG_SETATTR,	/* oref, u64 sino, attrs */
	MSG_COMMIT,	/* i64 sync point (ns), u32 flags */
	MSG_BYE,	/* (empty): the secondary answers and exits */
	MSG_RESET,	/* (empty): remove everything beneath the root but the
			 * state directory (a takeover, or a lost index) */
	MSG_LISTDIR,	/* u8 base, str path, u64 sino (0: any), str after:
			 * the directory's entries with names after `after`,
			 * in byte order (ESTALE when path is not inode sino);
			 * reply value 1 when more follow, data: entries of
			 * u64 ino, u32 mode, u64 size, u64 mtime sec,
			 * u32 mtime nsec, str name */
	MSG_PING,	/* (empty): answered at once; the keep-alive of an
			 * idle link (DESIGN.md, "Process model") */
	MSG_VLIST,	/* str path, str after: as LISTDIR (beneath the
			 * root only), each entry with all that verify
			 * compares (struct vlist_entry); reply value 1 when
			 * more follow.  The root's first page begins with
			 * the root itself, named "." */
	MSG_DIGEST,	/* oref, u64 sino (0: any): the content digest of
			 * a regular file (digest.h); reply value: the
			 * size digested, data: DIGEST_LEN bytes */
	MSG_ZBLOCK,	/* id 0; a zstd frame holding whole frames (above,
			 * "Compression"); only after HELLO_COMPRESS, never
			 * answered, never inside another block */
	MSG_SIGNATURE,	/* oref, u64 sino (0: any), u64 first block: a page
			 * of the librsync signature of a regular file
			 * (delta.h), the basis of a PUT_DELTA; reply
			 * value: the file's size, data: the page, its
			 * header and the sums of up to delta_page_blocks
			 * blocks from the first, at most PROTO_SIG_MAX
			 * bytes (a file too large to sign: EFBIG; one
			 * that shrank while read: EAGAIN) */
	MSG_REPLY = 64,	/* i32 errno, u64 value, bytes data: the message
			 * on error, else the request's result (LISTDIR) */
};

/* MSG_HELLO flags */
#define HELLO_FORCE	0x1	/* take over a secondary bound to another primary */
#define HELLO_READONLY	0x2	/* georep verify: bind nothing, write nothing;
				 * only LISTDIR, VLIST, DIGEST, PING and BYE
				 * may follow.  Any tree will do: the state
				 * says whether it is bound to this primary
				 * (HELLO_BOUND) or not (HELLO_NEW) */
#define HELLO_COMPRESS	0x4	/* MSG_ZBLOCK frames may follow the HELLO */
#define HELLO_ADOPT	0x8	/* a tree that is not empty and never bound
				 * is taken over as it is (HELLO_ADOPTED):
				 * the primary adopts what matches (adopt.h) */
/* Bits 8-12: sync_jobs - 1, the workers the secondary may write files with
 * (0: none beside itself).  Whatever their number, replies come in the
 * order of the requests. */
#define HELLO_JOBS_SHIFT 8
#define HELLO_JOBS_MASK	(0x1fu << HELLO_JOBS_SHIFT)
#define SYNC_JOBS_MAX	32
#define HELLO_JOBS(n)	((((uint32_t)(n) - 1) << HELLO_JOBS_SHIFT) & \
			    HELLO_JOBS_MASK)

/* MSG_HELLO reply value: what the secondary found at its root */
enum hello_state {
	HELLO_NEW = 0,		/* empty or missing: now bound to us */
	HELLO_BOUND = 1,	/* bound to this primary */
	HELLO_TAKEN = 2,	/* bound to another primary, taken over (--force) */
	HELLO_ADOPTED = 3,	/* not empty and never bound: now bound to us,
				 * its content to be adopted (HELLO_ADOPT) */
};
#define HELLO_STATE_MASK 0xff	/* the state, in the HELLO reply's value */
/* Bits of the HELLO reply's value above the state byte */
#define HELLO_IS_ROOT	0x100	/* the secondary runs with privilege */
#define HELLO_NO_OPENAT2 0x200	/* confinement by component walk */
#define HELLO_FDS	0x400	/* it was started with a descriptor channel
				 * (a local secondary): PUT_COPY may come */
#define HELLO_PARTIALS	0x800	/* it keeps partial files (below) */
/* Without HELLO_IS_ROOT, the secondary cannot give an object another owner
 * than its own uid and gid (the HELLO reply's data): it applies those to
 * every object it is sent an owner for, so the primary knows what the
 * secondary holds and can tell which owners did not make it. */
#define HELLO_REPLY_DATA	8

/* MSG_PUT flags */
#define PUT_INPLACE	0x1	/* several hard links: write the inode itself */
#define PUT_DELTA	0x2	/* the DATA frames are a librsync delta against
				 * the file at the oref (with PUT_INPLACE:
				 * patched aside, then copied into the
				 * inode): their offsets count the
				 * delta's bytes, in order, at most
				 * delta_stream_max(size) of them; PUT_END
				 * carries, after the attrs, the CHASH_LEN
				 * bytes of the content hash the result must
				 * have (delta.h), else it is refused */
#define PUT_COPY	0x4	/* after HELLO_FDS only, with neither flag
				 * above: no DATA frames; the content is the
				 * regular file whose descriptor went down the
				 * descriptor channel with this PUT (one per
				 * PUT_COPY, in order), copied by the kernel
				 * (copy_file_range); PUT_END carries the
				 * content hash as PUT_DELTA's does, and a
				 * copy that does not have it is refused */

#define PUT_PARTIAL	0x8	/* with PUT_DELTA, not PUT_INPLACE: the
				 * basis is the partial file kept for this
				 * PUT's oref (below), not the file there */

/*
 * Partial files (rsync's --partial): a PUT of a new copy of at least
 * PARTIAL_MIN bytes, cut off by the end of the input (the primary killed,
 * the link lost), is kept in the staging area under partial_name() of its
 * oref, with the bytes written so far.  The HELLO reply says whether any
 * are kept (HELLO_PARTIALS); the primary then asks for the SIGNATURE of
 * the one for a large file it sends (sino SIG_PARTIAL) and sends a
 * PUT_DELTA | PUT_PARTIAL against it: the bytes already there are not
 * sent again, and the result is checked by the content hash as every
 * delta is.  A PUT that succeeds removes the partial of its name; a
 * COMMIT with a sync point (a turn that completed) removes them all.
 * LISTDIR of the staging area does not show them.
 */
#define PARTIAL_MIN		(8u << 20)
#define PARTIAL_PREFIX		"partial."
#define PARTIAL_NAME_LEN	(sizeof(PARTIAL_PREFIX) - 1 + 16)
#define SIG_PARTIAL		UINT64_MAX
void partial_name(uint8_t base, const char *parent, size_t plen,
    const char *name, size_t nlen, char out[PARTIAL_NAME_LEN + 1]);

/* MSG_COMMIT flags */
#define COMMIT_NOSYNC	0x1	/* tests only: skip syncfs */

/* An oref's base: BASE_ROOT or BASE_STAGE (fid.h), or BASE_SELF (empty
 * parent and name), which names the root directory itself; only
 * MSG_SETATTR accepts it. */
enum { BASE_SELF = BASE_STAGE + 1 };

struct oref {
	uint8_t base;
	const char *parent;	/* not NUL-terminated */
	uint32_t parent_len;
	uint64_t psino;		/* the parent's inode number; 0: any */
	const char *name;
	uint32_t name_len;
};

/* Writing: frames are appended to a buf, their fields with codec.h's
 * put_* and these. */
size_t proto_begin(struct buf *b, uint8_t type, uint32_t id);
void proto_finish(struct buf *b, size_t start);
void put_oref(struct buf *b, uint8_t base, const char *parent, size_t plen,
    uint64_t psino, const char *name, size_t nlen);
/* An attribute set (attrs.h): u32 mask, u32 mode, u32 uid, u32 gid, u64
 * mtime sec, u32 mtime nsec; with ATTR_XATTRS or ATTR_ACLS, a u32 count
 * and that many xattrs (str name, bytes value).  The list replaces the
 * managed xattrs of the categories named, and only those. */
void put_attrs(struct buf *b, const struct attrs *a);
/* A fid: u8 length and the bytes. */
void put_fid(struct buf *b, const struct fid *f);

/* Reading a payload: codec.h's struct rd and get_*, and these.
 * get_oref checks: a valid base, the parent a valid relative path, a valid
 * name, and never the secondary's own state directory at the root. */
bool get_oref(struct rd *r, struct oref *o);
/* As get_oref, and also accepts BASE_SELF. */
bool get_oref_or_self(struct rd *r, struct oref *o);
/* Checked attributes; the xattr array is allocated (free it with
 * attrs_release) and points into the frame. */
bool get_attrs(struct rd *r, struct attrs *a);
/* A fid of 1..FID_MAX bytes (0 too when allow_empty). */
bool get_fid(struct rd *r, struct fid *f, bool allow_empty);

/* A parsed frame header; the payload stays in the connection's buffer. */
struct frame {
	uint8_t type;
	uint32_t id;
	const uint8_t *payload;
	uint32_t len;
};

/*
 * Parse one frame at the start of p/len.  Returns the frame's total size
 * (> 0), 0 if more bytes are needed, -1 if the header is invalid (length
 * below the minimum or above PROTO_FRAME_MAX).
 */
ssize_t proto_parse_frame(const uint8_t *p, size_t len, struct frame *f);

/* A LISTDIR reply's entry, as the wire carries it (MSG_LISTDIR). */
struct list_entry {
	uint64_t ino;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *name;	/* in the page; not NUL-terminated */
	uint32_t name_len;
};

/* Where a listing is: the last name of the pages so far (len 0: none). */
struct list_pos {
	char last[PROTO_NAME_MAX];
	uint32_t len;
};

/* The fields of the next entry of a page; its name is not checked.  False
 * (the cursor bad) when they do not fit. */
bool get_list_entry(struct rd *r, struct list_entry *e);
/*
 * Check one page of a LISTDIR reply (its data, and whether it says more
 * follow) before anything in it is used: every entry parses, every name is
 * a valid name (names.h) -- and, in the listing of the root, not the
 * secondary's state directory -- and the names come in strictly increasing
 * byte order after pos->last, which becomes the page's last name.  "More
 * follow" on an empty page is refused: it would ask for the same page
 * forever.  True, or false with what is wrong in why ("has an entry with
 * an invalid name ...", quoted with quote_name).
 */
bool proto_check_list_page(const uint8_t *p, size_t len, bool more,
    bool root, struct list_pos *pos, char *why, size_t whylen);

/*
 * A VLIST reply's entry: u64 ino, u32 mode, u32 uid, u32 gid, u32 nlink,
 * u64 size, u64 rdev, u64 mtime sec, u32 mtime nsec, u64 ctime sec, u32
 * ctime nsec (verify judges only what did not change since the sync
 * point), str name, str target
 * (a symlink's, else empty), u32 errno of reading the xattrs (0: read),
 * u32 count and that many xattrs (str name, u32 value length, DIGEST_LEN
 * bytes of the value's digest), sorted by name.  Digests, not values: an
 * entry stays small whatever its xattrs hold.
 */
#define VLIST_TARGET_MAX	4096
/* The most an entry takes: its fixed fields, name and target, and the
 * most xattrs with the longest names.  A page ends once past
 * PROTO_LIST_BYTES, so it is at most PROTO_LIST_BYTES + this. */
#define VLIST_ENTRY_MAX		(64 + 4 + PROTO_NAME_MAX + 4 + \
	VLIST_TARGET_MAX + 8 + PROTO_XATTR_COUNT_MAX * \
	(4 + PROTO_XATTR_NAME_MAX + 4 + DIGEST_LEN))
#define VLIST_PAGE_MAX		(PROTO_LIST_BYTES + VLIST_ENTRY_MAX)
struct vxattr {
	const char *name;	/* in the page; not NUL-terminated */
	uint32_t name_len;
	uint32_t value_len;
	const uint8_t *digest;	/* DIGEST_LEN bytes, in the page */
};
struct vlist_entry {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	const char *name;	/* in the page; not NUL-terminated */
	uint32_t name_len;
	const char *target;
	uint32_t target_len;
	uint32_t xattr_errno;
	uint32_t nxattrs;
	const uint8_t *xattrs;	/* the count's xattrs, still encoded */
	uint32_t xattrs_len;
};
/* Append one entry (xattrs: a's, already read and sorted; their values'
 * digests are computed here). */
void put_vlist_entry(struct buf *b, const struct vlist_entry *e,
    const struct attrs *a);
/* The next entry of a page: false (the cursor bad) when it does not fit;
 * its name is not checked, its xattrs are (names, order, counts). */
bool get_vlist_entry(struct rd *r, struct vlist_entry *e);
/* The i-th xattr of an entry, in order, through a cursor over e->xattrs. */
bool get_vxattr(struct rd *r, struct vxattr *x);
/* As proto_check_list_page, for a VLIST page; the root's first page
 * (root, and pos->len 0) must begin with the root itself, a directory
 * named ".", and may not be only that and say more follow. */
bool proto_check_vlist_page(const uint8_t *p, size_t len, bool more,
    bool root, struct list_pos *pos, char *why, size_t whylen);

/*
 * Compressed blocks (MSG_ZBLOCK; above, "Compression").
 *
 * proto_block_span: how many bytes of the whole frames at the start of
 * p/len make the next block: frames while they fit in target, and at
 * least the first one whatever its size.  A frame not finished (its length
 * field still 0) or cut ends the span; 0 when the first one is.
 *
 * proto_pack_block: append to out one MSG_ZBLOCK frame holding plain (a
 * span as above, at most PROTO_BLOCK_MAX bytes), compressed at level
 * (1..19) with cctx, and return true -- if it saves at least 1/32 of the
 * bytes.  Else false, out as it was: send plain as it is.
 *
 * proto_unpack_block: the frames a MSG_ZBLOCK payload holds, into out
 * (replaced): true, or false with what is wrong in why ("declares 9999999
 * bytes (at most ...)").  Every check of the header comment is made; the
 * frames in out are then whole and valid for proto_parse_frame, and none
 * is a MSG_ZBLOCK.
 */
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
size_t proto_block_span(const uint8_t *p, size_t len, size_t target);
bool proto_pack_block(struct ZSTD_CCtx_s *cctx, int level,
    const uint8_t *plain, size_t len, struct buf *out);
bool proto_unpack_block(struct ZSTD_DCtx_s *dctx, const uint8_t *p,
    size_t len, struct buf *out, char *why, size_t whylen);

const char *msg_name(uint8_t type);

#endif
