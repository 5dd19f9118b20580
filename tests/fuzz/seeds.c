/*
 * Writes the seed corpus of fuzz_frames into the directory given: one file
 * per message type with a valid frame, a stream of every type, sessions
 * that succeed (and one with a failure that cancels what follows), and a
 * few refused on purpose (hostile names, a cut frame, an oversized
 * header).  The secondary takes nothing before a HELLO: every seed starts
 * with one.  Built with the same put_* writers the primary uses.
 *
 * georep verify's sessions start with a HELLO carrying HELLO_READONLY,
 * which makes fuzz_frames build its small tree (fuzz_frames.c, make_tree:
 * bound to "vol-0123", the volume here): VLIST and DIGEST of what is
 * there and of what is not, malformed ones, and every kind of write after
 * a read-only HELLO (each a protocol violation).  Forced HELLOs find the
 * same tree, bound to us or to another primary, and write in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "protocol/proto.h"
#include "seedutil.h"

static struct buf all = BUF_INIT;
static struct buf hello = BUF_INIT;	/* the frame every seed starts with */


/* HELLO, then b, saved as name. */
static void
emit_after_hello(const char *name, const struct buf *b)
{
	struct buf s = BUF_INIT;

	buf_add(&s, hello.data, hello.len);
	buf_add(&s, b->data, b->len);
	emit(name, &s);
	buf_release(&s);
}

/* One frame of type t whose payload the statements given write to b;
 * saved after a HELLO as name, and added to the stream of all frames. */
#define FRAME(name, t, ...) do { \
	struct buf b_ = BUF_INIT; \
	size_t s_ = proto_begin(&b_, (t), id++); \
	struct buf *b = &b_; \
	__VA_ARGS__; \
	proto_finish(&b_, s_); \
	emit_after_hello(name, &b_); \
	buf_add(&all, b_.data, b_.len); \
	buf_release(&b_); \
} while (0)

/* The same, appended to the session being built in *sess. */
#define STEP(sess, t, ...) do { \
	size_t s_ = proto_begin((sess), (t), id++); \
	struct buf *b = (sess); \
	__VA_ARGS__; \
	proto_finish((sess), s_); \
} while (0)

/* A session that succeeds, through every request type (the parent inodes
 * are 0: not checked). */
static void
session_ok(uint32_t id, const struct attrs *a, const struct attrs *plain)
{
	struct buf s = BUF_INIT;

	STEP(&s, MSG_MKDIR, put_oref(b, BASE_ROOT, "", 0, 0, "a", 1);
	    put_u32(b, 0755));
	STEP(&s, MSG_MKDIR, put_oref(b, BASE_ROOT, "a", 1, 0, "b", 1);
	    put_u32(b, 0700));
	STEP(&s, MSG_SYMLINK, put_oref(b, BASE_ROOT, "a", 1, 0, "l", 1);
	    put_str(b, "../x"));
	STEP(&s, MSG_MKNOD, put_oref(b, BASE_ROOT, "a", 1, 0, "fifo", 4);
	    put_u32(b, 010644); put_u64(b, 0));
	STEP(&s, MSG_PUT, put_oref(b, BASE_ROOT, "a", 1, 0, "f", 1);
	    put_u64(b, 0); put_u32(b, 0); put_u64(b, 11); put_u32(b, 0644));
	STEP(&s, MSG_DATA, put_u64(b, 0); put_bytes(b, "hello world", 11));
	STEP(&s, MSG_PUT_END, put_attrs(b, plain));
	STEP(&s, MSG_LINK, put_oref(b, BASE_ROOT, "a", 1, 0, "f", 1);
	    put_u64(b, 0); put_oref(b, BASE_ROOT, "a/b", 3, 0, "g", 1));
	STEP(&s, MSG_RENAME, put_oref(b, BASE_ROOT, "a", 1, 0, "f", 1);
	    put_u64(b, 0); put_oref(b, BASE_ROOT, "", 0, 0, "f2", 2));
	STEP(&s, MSG_PUT, put_oref(b, BASE_ROOT, "", 0, 0, "f2", 2);
	    put_u64(b, 0); put_u32(b, PUT_INPLACE); put_u64(b, 1 << 20);
	    put_u32(b, 0600));
	STEP(&s, MSG_DATA, put_u64(b, 4096); put_bytes(b, "sparse", 6));
	STEP(&s, MSG_PUT_END, put_attrs(b, a));
	STEP(&s, MSG_PUT, put_oref(b, BASE_ROOT, "a", 1, 0, "gone", 4);
	    put_u64(b, 0); put_u32(b, 0); put_u64(b, 3); put_u32(b, 0644));
	STEP(&s, MSG_PUT_ABORT, (void)b);
	/* A delta against f2: its signature, then a literal and a copy of
	 * its first bytes (librsync's format: magic, LITERAL_N1 and a u8
	 * length, COPY_N1_N1 and a u8 offset and length, END); the content
	 * hash is not the result's (refused: the fuzzer mutates it). */
	STEP(&s, MSG_SIGNATURE, put_oref(b, BASE_ROOT, "", 0, 0, "f2", 2);
	    put_u64(b, 0); put_u64(b, 0));
	STEP(&s, MSG_PUT, put_oref(b, BASE_ROOT, "", 0, 0, "f2", 2);
	    put_u64(b, 0); put_u32(b, PUT_DELTA); put_u64(b, 8);
	    put_u32(b, 0644));
	STEP(&s, MSG_DATA, put_u64(b, 0); put_bytes(b,
	    "rs\x02\x36\x41\x04" "abcd\x45\x00\x04\x00", 14));
	STEP(&s, MSG_PUT_END, put_attrs(b, plain);
	    put_raw(b, "0123456789abcdef", 16));
	STEP(&s, MSG_SETATTR, put_oref(b, BASE_ROOT, "a", 1, 0, "b", 1);
	    put_u64(b, 0); put_attrs(b, plain));
	STEP(&s, MSG_SETATTR, put_oref(b, BASE_SELF, "", 0, 0, "", 0);
	    put_u64(b, 0); put_attrs(b, plain));
	STEP(&s, MSG_LISTDIR, put_u8(b, BASE_ROOT); put_bytes(b, "", 0);
	    put_u64(b, 0); put_bytes(b, "", 0));
	STEP(&s, MSG_LISTDIR, put_u8(b, BASE_ROOT); put_bytes(b, "a", 1);
	    put_u64(b, 0); put_bytes(b, "f", 1));
	STEP(&s, MSG_RENAME, put_oref(b, BASE_ROOT, "a", 1, 0, "b", 1);
	    put_u64(b, 0);
	    put_oref(b, BASE_STAGE, "", 0, 0, "0123456789abcdef", 16));
	STEP(&s, MSG_LISTDIR, put_u8(b, BASE_STAGE); put_bytes(b, "", 0);
	    put_u64(b, 0); put_bytes(b, "", 0));
	STEP(&s, MSG_UNLINK, put_oref(b, BASE_ROOT, "", 0, 0, "f2", 2);
	    put_u64(b, 0));
	STEP(&s, MSG_RMTREE, put_oref(b, BASE_ROOT, "", 0, 0, "a", 1);
	    put_u64(b, 0));
	STEP(&s, MSG_COMMIT, put_u64(b, 1700000000000000000ull);
	    put_u32(b, COMMIT_NOSYNC));
	STEP(&s, MSG_PING, (void)b);
	STEP(&s, MSG_RESET, (void)b);
	STEP(&s, MSG_BYE, (void)b);
	emit_after_hello("session", &s);
	buf_release(&s);
}

/* A failed entry operation cancels the ordered ones after it, until
 * COMMIT. */
static void
session_cancelled(uint32_t id)
{
	struct buf s = BUF_INIT;

	STEP(&s, MSG_MKDIR, put_oref(b, BASE_ROOT, "", 0, 0, "x", 1);
	    put_u32(b, 0755));
	STEP(&s, MSG_UNLINK, put_oref(b, BASE_ROOT, "", 0, 0, "x", 1);
	    put_u64(b, 999999));
	STEP(&s, MSG_MKDIR, put_oref(b, BASE_ROOT, "", 0, 0, "y", 1);
	    put_u32(b, 0755));
	STEP(&s, MSG_COMMIT, put_u64(b, 0); put_u32(b, COMMIT_NOSYNC));
	STEP(&s, MSG_MKDIR, put_oref(b, BASE_ROOT, "x", 1, 0, "y", 1);
	    put_u32(b, 0755));
	STEP(&s, MSG_BYE, (void)b);
	emit_after_hello("session_cancelled", &s);
	buf_release(&s);
}

/* A HELLO of volume vol with these flags. */
static void
put_hello(struct buf *b, uint32_t id, uint32_t version, const char *vol,
    uint32_t flags)
{
	size_t s = proto_begin(b, MSG_HELLO, id);

	put_u32(b, version);
	put_str(b, vol);
	put_u32(b, flags);
	proto_finish(b, s);
}

static void
put_vlist(struct buf *b, const char *path, const char *after)
{
	put_str(b, path);
	put_str(b, after);
}

/* A DIGEST of parent/name (the parent's inode and the file's: 0, any). */
static void
put_digest(struct buf *b, const char *parent, const char *name, uint64_t sino)
{
	put_oref(b, BASE_ROOT, parent, strlen(parent), 0, name, strlen(name));
	put_u64(b, sino);
}

/* verify's session: the tree listed, page by page and directory by
 * directory, what is there digested, then BYE. */
static void
session_verify(uint32_t id, const char *vol, const char *name)
{
	struct buf s = BUF_INIT;

	put_hello(&s, id++, PROTO_VERSION, vol, HELLO_READONLY);
	STEP(&s, MSG_VLIST, put_vlist(b, "", ""));
	STEP(&s, MSG_VLIST, put_vlist(b, "", "f"));
	STEP(&s, MSG_VLIST, put_vlist(b, "d", ""));
	STEP(&s, MSG_VLIST, put_vlist(b, "d/sub", ""));
	STEP(&s, MSG_VLIST, put_vlist(b, "closed", ""));
	STEP(&s, MSG_VLIST, put_vlist(b, "link", ""));	/* a symlink */
	STEP(&s, MSG_VLIST, put_vlist(b, "gone", ""));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "f", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "sparse", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "empty", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "d", "g", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "f", 1));	/* ESTALE */
	STEP(&s, MSG_DIGEST, put_digest(b, "", "fifo", 0));	/* EINVAL */
	STEP(&s, MSG_DIGEST, put_digest(b, "", "link", 0));	/* ELOOP */
	STEP(&s, MSG_DIGEST, put_digest(b, "", "d", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "locked", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "closed", "x", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "d/l", "f", 0));	/* via .. */
	STEP(&s, MSG_DIGEST, put_digest(b, "", "null", 0));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "nope", 0));
	STEP(&s, MSG_LISTDIR, put_u8(b, BASE_ROOT); put_bytes(b, "", 0);
	    put_u64(b, 0); put_bytes(b, "", 0));
	STEP(&s, MSG_LISTDIR, put_u8(b, BASE_STAGE); put_bytes(b, "", 0);
	    put_u64(b, 0); put_bytes(b, "", 0));
	STEP(&s, MSG_PING, (void)b);
	STEP(&s, MSG_BYE, (void)b);
	emit(name, &s);
	buf_release(&s);
}

/* A read-only HELLO, a VLIST that succeeds, then the frame of type t
 * that the statements given write: each a protocol violation (a
 * malformed request, or a write). */
#define RO_THEN(name, t, ...) do { \
	struct buf ro_ = BUF_INIT; \
	put_hello(&ro_, 1, PROTO_VERSION, "vol-0123", HELLO_READONLY); \
	STEP(&ro_, MSG_VLIST, put_vlist(b, "", "")); \
	STEP(&ro_, (t), __VA_ARGS__); \
	STEP(&ro_, MSG_PING, (void)b); \
	emit((name), &ro_); \
	buf_release(&ro_); \
} while (0)

static void
seeds_readonly(uint32_t id, const struct attrs *plain)
{
	session_verify(id, "vol-0123", "ro_verify");
	session_verify(id, "vol-other", "ro_verify_unbound");
	/* Malformed: the state directory, a path that is not relative,
	 * an `after` that is not a name, bytes left over, no sino; a
	 * DIGEST in the staging area, of the root itself, of .georep. */
	RO_THEN("ro_vlist_state", MSG_VLIST, put_vlist(b, ".georep", ""));
	RO_THEN("ro_vlist_abs", MSG_VLIST, put_vlist(b, "/etc", ""));
	RO_THEN("ro_vlist_dotdot", MSG_VLIST, put_vlist(b, "d/../..", ""));
	RO_THEN("ro_vlist_after", MSG_VLIST, put_vlist(b, "", "a/b"));
	RO_THEN("ro_vlist_trailing", MSG_VLIST, put_vlist(b, "d", "");
	    put_u8(b, 0));
	RO_THEN("ro_vlist_short", MSG_VLIST, put_str(b, "d"));
	RO_THEN("ro_digest_no_sino", MSG_DIGEST,
	    put_oref(b, BASE_ROOT, "", 0, 0, "f", 1));
	RO_THEN("ro_digest_stage", MSG_DIGEST,
	    put_oref(b, BASE_STAGE, "", 0, 0, "0123456789abcdef", 16);
	    put_u64(b, 0));
	RO_THEN("ro_digest_self", MSG_DIGEST,
	    put_oref(b, BASE_SELF, "", 0, 0, "", 0); put_u64(b, 0));
	RO_THEN("ro_digest_state", MSG_DIGEST,
	    put_digest(b, ".georep", "volume", 0));
	/* Writes: refused on a read-only connection. */
	RO_THEN("ro_mkdir", MSG_MKDIR,
	    put_oref(b, BASE_ROOT, "", 0, 0, "new", 3); put_u32(b, 0755));
	RO_THEN("ro_symlink", MSG_SYMLINK,
	    put_oref(b, BASE_ROOT, "", 0, 0, "l2", 2); put_str(b, "f"));
	RO_THEN("ro_unlink", MSG_UNLINK,
	    put_oref(b, BASE_ROOT, "", 0, 0, "f", 1); put_u64(b, 0));
	RO_THEN("ro_rmtree", MSG_RMTREE,
	    put_oref(b, BASE_ROOT, "", 0, 0, "d", 1); put_u64(b, 0));
	RO_THEN("ro_rename", MSG_RENAME,
	    put_oref(b, BASE_ROOT, "", 0, 0, "f", 1); put_u64(b, 0);
	    put_oref(b, BASE_ROOT, "d", 1, 0, "f", 1));
	RO_THEN("ro_put", MSG_PUT,
	    put_oref(b, BASE_ROOT, "", 0, 0, "f", 1); put_u64(b, 0);
	    put_u32(b, PUT_INPLACE); put_u64(b, 1); put_u32(b, 0644));
	RO_THEN("ro_setattr", MSG_SETATTR,
	    put_oref(b, BASE_SELF, "", 0, 0, "", 0); put_u64(b, 0);
	    put_attrs(b, plain));
	RO_THEN("ro_commit", MSG_COMMIT,
	    put_u64(b, 1700000000000000000ull); put_u32(b, COMMIT_NOSYNC));
	RO_THEN("ro_reset", MSG_RESET, (void)b);
	RO_THEN("ro_hello_again", MSG_HELLO, put_u32(b, PROTO_VERSION);
	    put_str(b, "vol-0123"); put_u32(b, 0));

	/* Without privilege, a DIGEST beneath a directory of mode 0000 (our
	 * own) opened it up (chmod 0700) and closed it again: a write, on a
	 * read-only connection, that fuzz_frames sees by the directory's
	 * ctime.  (As root nothing is opened up.) */
	struct buf c = BUF_INIT;
	put_hello(&c, id++, PROTO_VERSION, "vol-0123", HELLO_READONLY);
	STEP(&c, MSG_DIGEST, put_digest(b, "closed", "x", 0));
	STEP(&c, MSG_BYE, (void)b);
	emit("ro_digest_closed_dir", &c);
	buf_release(&c);

	/* A HELLO refused (another version), then a read-only one: on the
	 * empty directory fuzz_frames makes when the first HELLO has no
	 * flags. */
	struct buf s = BUF_INIT;
	put_hello(&s, id++, 5, "vol-0123", 0);
	put_hello(&s, id++, PROTO_VERSION, "vol-0123", HELLO_READONLY);
	STEP(&s, MSG_VLIST, put_vlist(b, "", ""));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "f", 0));
	STEP(&s, MSG_BYE, (void)b);
	emit("ro_after_refused", &s);
	buf_reset(&s);
	/* Forced: the tree bound to us, then to another primary (taken
	 * over); verify's requests, then writes in the tree. */
	put_hello(&s, id++, PROTO_VERSION, "vol-0123", HELLO_FORCE);
	STEP(&s, MSG_VLIST, put_vlist(b, "", ""));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "f", 0));
	STEP(&s, MSG_RMTREE, put_oref(b, BASE_ROOT, "", 0, 0, "closed", 6);
	    put_u64(b, 0));
	STEP(&s, MSG_PUT, put_oref(b, BASE_ROOT, "", 0, 0, "sparse", 6);
	    put_u64(b, 0); put_u32(b, PUT_INPLACE); put_u64(b, 4);
	    put_u32(b, 0600));
	STEP(&s, MSG_DATA, put_u64(b, 0); put_bytes(b, "new!", 4));
	STEP(&s, MSG_PUT_END, put_attrs(b, plain));
	STEP(&s, MSG_DIGEST, put_digest(b, "", "sparse", 0));
	STEP(&s, MSG_VLIST, put_vlist(b, "", "empty"));
	STEP(&s, MSG_COMMIT, put_u64(b, 0); put_u32(b, COMMIT_NOSYNC));
	STEP(&s, MSG_BYE, (void)b);
	emit("force_bound", &s);
	buf_reset(&s);
	put_hello(&s, id++, PROTO_VERSION, "vol-other", HELLO_FORCE);
	STEP(&s, MSG_RESET, (void)b);
	STEP(&s, MSG_VLIST, put_vlist(b, "", ""));
	STEP(&s, MSG_BYE, (void)b);
	emit("force_taken", &s);
	buf_reset(&s);
	/* Read-only and forced at once: read-only wins. */
	put_hello(&s, id++, PROTO_VERSION, "vol-other",
	    HELLO_READONLY | HELLO_FORCE);
	STEP(&s, MSG_VLIST, put_vlist(b, "d", ""));
	STEP(&s, MSG_UNLINK, put_oref(b, BASE_ROOT, "", 0, 0, "f", 1);
	    put_u64(b, 0));
	emit("ro_force", &s);
	buf_release(&s);
}

/* A MSG_ZBLOCK frame holding content (any bytes: a hostile block too),
 * with its size declared and a checksum, as the primary makes one. */
static void
put_block(struct buf *b, const void *content, size_t n)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n);
	size_t s = proto_begin(b, MSG_ZBLOCK, 0);

	if (cc == NULL || ZSTD_isError(ZSTD_CCtx_setParameter(cc,
	    ZSTD_c_checksumFlag, 1))) {
		fprintf(stderr, "seeds: zstd\n");
		exit(1);
	}
	buf_reserve(b, cap);
	size_t z = ZSTD_compress2(cc, b->data + b->len, cap, content, n);
	if (ZSTD_isError(z)) {
		fprintf(stderr, "seeds: zstd: %s\n", ZSTD_getErrorName(z));
		exit(1);
	}
	b->len += z;
	proto_finish(b, s);
	ZSTD_freeCCtx(cc);
}

/* Sessions with compressed blocks (HELLO_COMPRESS): a good one, whose
 * block holds entry operations, a whole PUT and a COMMIT; then blocks
 * the secondary refuses: without the HELLO flag, a bomb, frames cut, a
 * block in a block, a nonzero id. */
static void
seeds_compressed(uint32_t id, const struct attrs *plain)
{
	struct buf s = BUF_INIT, in = BUF_INIT;

	put_hello(&s, id++, PROTO_VERSION, "vol-0123", HELLO_COMPRESS);
	for (int i = 0; i < 8; i++) {
		char name[32];
		int len = snprintf(name, sizeof(name), "dir-%d", i);
		STEP(&in, MSG_MKDIR, put_oref(b, BASE_ROOT, "", 0, 0, name,
		    (size_t)len); put_u32(b, 0755));
	}
	STEP(&in, MSG_PUT, put_oref(b, BASE_ROOT, "dir-1", 5, 0, "f", 1);
	    put_u64(b, 0); put_u32(b, 0); put_u64(b, 24); put_u32(b, 0644));
	STEP(&in, MSG_DATA, put_u64(b, 0);
	    put_bytes(b, "abcabcabcabcabcabcabcabc", 24));
	STEP(&in, MSG_PUT_END, put_attrs(b, plain));
	STEP(&in, MSG_COMMIT, put_u64(b, 0); put_u32(b, COMMIT_NOSYNC));
	put_block(&s, in.data, in.len);
	STEP(&s, MSG_PING, (void)b);
	size_t good = s.len;
	STEP(&s, MSG_BYE, (void)b);
	emit("zblock_session", &s);

	/* Refused: each after the good part. */
	s.len = good;
	put_block(&s, in.data, in.len - 3);
	emit("zblock_cut_frame", &s);
	s.len = good;
	struct buf nested = BUF_INIT;
	put_block(&nested, in.data, in.len);
	put_block(&s, nested.data, nested.len);
	emit("zblock_nested", &s);
	s.len = good;
	uint8_t *zeros = calloc(1, 8u << 20);
	put_block(&s, zeros, 8u << 20);
	free(zeros);
	emit("zblock_bomb", &s);
	s.len = good;
	size_t at = s.len;
	put_block(&s, in.data, in.len);
	s.data[at + 5] = 1;		/* the id */
	emit("zblock_id", &s);

	buf_reset(&s);
	put_hello(&s, id++, PROTO_VERSION, "vol-0123", 0);
	put_block(&s, in.data, in.len);
	emit("zblock_not_asked", &s);
	buf_reset(&s);
	put_block(&s, in.data, in.len);
	emit("zblock_before_hello", &s);
	buf_release(&nested);
	buf_release(&in);
	buf_release(&s);
}

int
main(int argc, char **argv)
{
	uint32_t id = 1;
	struct xattr x[3] = {
		{ "user.comment", 12, (const uint8_t *)"hello", 5 },
		{ "security.capability", 19, (const uint8_t *)"\1\0\0\2", 4 },
		{ "system.posix_acl_access", 23, (const uint8_t *)"\2\0\0\0", 4 },
	};
	struct attrs a = { ATTR_MODE | ATTR_OWNER | ATTR_MTIME | ATTR_XATTRS,
	    0644, 1000, 1000, 1700000000, 5, 3, x };
	struct attrs plain = { ATTR_MODE | ATTR_MTIME, 0755, 0, 0, 1, 0, 0,
	    NULL };

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	size_t hs = proto_begin(&hello, MSG_HELLO, id++);
	put_u32(&hello, PROTO_VERSION);
	put_str(&hello, "vol-0123");
	put_u32(&hello, 0);
	proto_finish(&hello, hs);
	emit("hello", &hello);
	buf_add(&all, hello.data, hello.len);
	struct attrs user = { ATTR_MODE | ATTR_MTIME | ATTR_XATTRS, 0640, 0, 0,
	    1600000000, 0, 1, x };
	session_ok(100, &user, &plain);
	session_cancelled(200);
	seeds_readonly(300, &plain);
	seeds_compressed(400, &plain);
	FRAME("mkdir", MSG_MKDIR,
	    put_oref(b, BASE_ROOT, "a/b", 3, 17, "c", 1); put_u32(b, 0755));
	FRAME("symlink", MSG_SYMLINK,
	    put_oref(b, BASE_ROOT, "a", 1, 17, "l", 1);
	    put_str(b, "../target"));
	FRAME("mknod", MSG_MKNOD,
	    put_oref(b, BASE_ROOT, "", 0, 0, "fifo", 4); put_u32(b, 010644);
	    put_u64(b, 0));
	FRAME("link", MSG_LINK,
	    put_oref(b, BASE_ROOT, "a", 1, 17, "f", 1); put_u64(b, 42);
	    put_oref(b, BASE_ROOT, "b", 1, 17, "g", 1));
	FRAME("rename", MSG_RENAME,
	    put_oref(b, BASE_STAGE, "", 0, 0, "0123456789abcdef", 16);
	    put_u64(b, 7); put_oref(b, BASE_ROOT, "x/y", 3, 17, "z", 1));
	FRAME("unlink", MSG_UNLINK,
	    put_oref(b, BASE_ROOT, "a", 1, 17, "f", 1); put_u64(b, 0));
	FRAME("rmtree", MSG_RMTREE,
	    put_oref(b, BASE_ROOT, "", 0, 0, "a", 1); put_u64(b, 9));
	FRAME("put", MSG_PUT,
	    put_oref(b, BASE_ROOT, "a", 1, 17, "f", 1); put_u64(b, 0);
	    put_u32(b, PUT_INPLACE); put_u64(b, 11); put_u32(b, 0644));
	FRAME("data", MSG_DATA,
	    put_u64(b, 0); put_bytes(b, "hello world", 11));
	FRAME("put_end", MSG_PUT_END, put_attrs(b, &a));
	FRAME("put_abort", MSG_PUT_ABORT, (void)b);
	FRAME("setattr", MSG_SETATTR,
	    put_oref(b, BASE_ROOT, "a", 1, 17, "f", 1); put_u64(b, 42);
	    put_attrs(b, &a));
	FRAME("setattr_self", MSG_SETATTR,
	    put_oref(b, BASE_SELF, "", 0, 0, "", 0); put_u64(b, 0);
	    put_attrs(b, &plain));
	FRAME("commit", MSG_COMMIT,
	    put_u64(b, 1700000000000000000ull); put_u32(b, COMMIT_NOSYNC));
	FRAME("reset", MSG_RESET, (void)b);
	FRAME("listdir", MSG_LISTDIR,
	    put_u8(b, BASE_ROOT); put_bytes(b, "a/b", 3); put_u64(b, 12);
	    put_bytes(b, "f", 1));
	FRAME("vlist", MSG_VLIST, put_vlist(b, "a/b", "f"));
	FRAME("digest", MSG_DIGEST, put_digest(b, "a", "f", 42));
	/* A HELLO reply: its data is the secondary's uid and gid. */
	FRAME("reply", MSG_REPLY,
	    put_u32(b, 0); put_u64(b, HELLO_BOUND | HELLO_IS_ROOT);
	    put_u32(b, HELLO_REPLY_DATA); put_u32(b, 65534); put_u32(b, 65534));
	FRAME("bye", MSG_BYE, (void)b);
	FRAME("ping", MSG_PING, (void)b);
	/* Refused ones, near the edges. */
	FRAME("bad_state_dir", MSG_MKDIR,
	    put_oref(b, BASE_ROOT, ".georep", 7, 17, "x", 1); put_u32(b, 0755));
	FRAME("bad_dotdot", MSG_UNLINK,
	    put_oref(b, BASE_ROOT, "a/..", 4, 17, "x", 1); put_u64(b, 0));
	struct xattr bx = { "os2.x", 5, (const uint8_t *)"", 0 };
	struct attrs ba = a;
	ba.nxattrs = 1;
	ba.xattrs = &bx;
	FRAME("bad_xattr", MSG_PUT_END, put_attrs(b, &ba));
	emit("stream", &all);		/* starts with the HELLO */

	struct buf cut = BUF_INIT;
	buf_add(&cut, all.data, all.len - 3);
	emit("stream_cut", &cut);
	buf_release(&cut);
	static const uint8_t big[9] = { 0x01, 0x00, 0x40, 0x00, MSG_DATA };
	struct buf over = BUF_INIT;
	buf_add(&over, big, sizeof(big));
	emit_after_hello("oversized", &over);
	buf_release(&over);
	buf_release(&all);
	buf_release(&hello);
	return 0;
}
