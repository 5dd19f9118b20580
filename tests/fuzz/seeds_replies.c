/*
 * Writes the seed corpus of fuzz_replies into the directory given: the
 * requests waiting (fuzz_replies.c's header) and what a secondary answers,
 * built with the writers the secondary uses.  Valid exchanges -- a HELLO,
 * a turn of every request type (with a failure and the cancellations after
 * it), PUT_END and PUT_ABORT, a listing of two pages, a VLIST listing of
 * two pages (files, a directory, symlinks, xattrs and ACLs, an entry whose
 * xattrs could not be read) with DIGEST replies between them -- and a few
 * refused on purpose near the edges: a HELLO reply of the wrong length, a
 * bad errno, a LISTDIR or VLIST page out of order or with .georep, "more"
 * with nothing, a VLIST entry with a target it should not have (or
 * without one), nanoseconds of a second, an errno out of range, xattrs
 * out of order, repeated, unnamed, too long, fewer than counted, one more
 * than PROTO_XATTR_COUNT_MAX, a DIGEST reply of 15 or 17 bytes, a reply
 * to a request not written yet, a cut frame.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "protocol/proto.h"
#include "seedutil.h"

/* The indexes of fuzz_replies.c's reqs[]. */
enum {
	R_HELLO, R_MKDIR, R_SYMLINK, R_MKNOD, R_LINK, R_RENAME, R_UNLINK,
	R_RMTREE, R_PUT_END, R_PUT_ABORT, R_SETATTR, R_COMMIT, R_BYE, R_RESET,
	R_LISTDIR, R_PING, R_VLIST, R_DIGEST,
};

#define ALL_SENT	255	/* the header's "unsent" byte: all written */



/* The header: the requests (by reqs[] index), how many are unsent (or
 * ALL_SENT), where the output is cut. */
static void
header(struct buf *b, const uint8_t *types, size_t n, uint8_t unsent,
    uint8_t cut)
{
	put_u8(b, (uint8_t)(n - 1));	/* fuzz_replies reads 1 + n % 12 */
	for (size_t i = 0; i < n; i++)
		put_u8(b, types[i]);
	put_u8(b, unsent);
	put_u8(b, cut);
}

/* A REPLY: an error with its message, or a success with its value and
 * data. */
static void
reply(struct buf *b, uint32_t id, int err, uint64_t value, const void *data,
    uint32_t len)
{
	size_t s = proto_begin(b, MSG_REPLY, id);

	put_u32(b, (uint32_t)err);
	put_u64(b, value);
	put_bytes(b, data, len);
	proto_finish(b, s);
}

static void
reply_ok(struct buf *b, uint32_t id, uint64_t value)
{
	reply(b, id, 0, value, NULL, 0);
}

static void
hello_reply(struct buf *b, uint32_t id, uint64_t value, uint32_t data_len)
{
	struct buf d = BUF_INIT;

	put_u32(&d, 1000);
	put_u32(&d, 1000);
	while (d.len < data_len)
		put_u8(&d, 0);
	reply(b, id, 0, value, d.data, data_len);
	buf_release(&d);
}

/* A LISTDIR page of the names given (NULL-terminated). */
static void
list_reply(struct buf *b, uint32_t id, uint64_t more,
    const char *const *names)
{
	struct buf d = BUF_INIT;

	for (size_t i = 0; names[i]; i++) {
		put_u64(&d, 100 + i);
		put_u32(&d, i % 2 ? 040755 : 0100644);
		put_u64(&d, 4096);
		put_u64(&d, 1700000000);
		put_u32(&d, 0);
		put_str(&d, names[i]);
	}
	reply(b, id, 0, more, d.data, (uint32_t)d.len);
	buf_release(&d);
}

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Ids as fuzz_replies gives them: 1, 2, ...; a PUT takes one, and the
 * PUT_END or PUT_ABORT that closes it answers with it. */
static void
seed_hello(void)
{
	struct buf b = BUF_INIT;
	static const char msg[] = "this secondary belongs to another primary";

	header(&b, (uint8_t[]){ R_HELLO }, 1, ALL_SENT, 128);
	hello_reply(&b, 1, HELLO_BOUND | HELLO_IS_ROOT, HELLO_REPLY_DATA);
	emit("hello", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_HELLO }, 1, ALL_SENT, 3);
	reply(&b, 1, EEXIST, 0, msg, sizeof(msg) - 1);
	emit("hello_refused", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_HELLO, R_RESET }, 2, ALL_SENT, 200);
	hello_reply(&b, 1, HELLO_TAKEN | HELLO_NO_OPENAT2, HELLO_REPLY_DATA);
	reply_ok(&b, 2, 0);
	emit("hello_taken_reset", &b);
	buf_reset(&b);
	/* Refused: 12 bytes of data, a state that is none. */
	header(&b, (uint8_t[]){ R_HELLO }, 1, ALL_SENT, 0);
	hello_reply(&b, 1, HELLO_NEW, 12);
	emit("bad_hello_long", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_HELLO }, 1, ALL_SENT, 0);
	hello_reply(&b, 1, 7, HELLO_REPLY_DATA);
	emit("bad_hello_state", &b);
	buf_release(&b);
}

/* Entry operations, a failure (ESTALE) cancelling the rest, the data
 * phase, the commit. */
static void
seed_turn(void)
{
	static const uint8_t types[] = { R_MKDIR, R_SYMLINK, R_MKNOD, R_LINK,
	    R_RENAME, R_UNLINK, R_RMTREE, R_PUT_END, R_SETATTR, R_PUT_ABORT,
	    R_COMMIT, R_PING };
	static const char stale[] = "mkdir a/b: not the directory meant";
	struct buf b = BUF_INIT;

	header(&b, types, 12, ALL_SENT, 90);
	reply_ok(&b, 1, 4711);
	reply_ok(&b, 2, 4712);
	reply_ok(&b, 3, 4713);
	reply_ok(&b, 4, 0);
	reply_ok(&b, 5, 0);
	reply_ok(&b, 6, 0);
	reply_ok(&b, 7, 0);
	reply_ok(&b, 8, 4714);		/* PUT 8 and its PUT_END */
	reply_ok(&b, 9, 0);
	reply_ok(&b, 10, 0);		/* PUT 10 and its PUT_ABORT */
	reply_ok(&b, 11, 0);
	reply_ok(&b, 12, 0);
	emit("turn", &b);
	buf_reset(&b);
	header(&b, types, 12, ALL_SENT, 40);
	reply(&b, 1, ESTALE, 0, stale, sizeof(stale) - 1);
	for (uint32_t id = 2; id <= 7; id++)
		reply(&b, id, ECANCELED, 0, "cancelled", 9);
	reply(&b, 8, EIO, 0, "write f: Input/output error", 27);
	reply(&b, 9, EACCES, 0, "setattr: \x1b[31m\n", 15);
	reply_ok(&b, 10, 0);
	reply(&b, 11, ENOSPC, 0, "syncfs", 6);
	reply_ok(&b, 12, 0);
	emit("turn_failed", &b);
	buf_reset(&b);
	/* Refused: an inode number of 0; a reply to a request not written
	 * yet (the last of two); a reply cut in the middle. */
	header(&b, (uint8_t[]){ R_MKDIR }, 1, ALL_SENT, 0);
	reply_ok(&b, 1, 0);
	emit("bad_ino_zero", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_UNLINK, R_BYE }, 2, 1, 255);
	reply_ok(&b, 1, 0);
	reply_ok(&b, 2, 0);
	emit("bad_unsent", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_COMMIT }, 1, ALL_SENT, 255);
	reply(&b, 1, -1, 0, "minus one", 9);
	emit("bad_errno", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_SETATTR, R_BYE }, 2, ALL_SENT, 255);
	reply_ok(&b, 1, 0);
	reply_ok(&b, 2, 0);
	b.len -= 7;
	emit("cut", &b);
	buf_release(&b);
}

/* A listing of the root in two pages (the first says more follow), then
 * one of another directory (fuzz_replies: begun at an odd index). */
static void
seed_listdir(void)
{
	static const uint8_t types[] = { R_LISTDIR, R_LISTDIR, R_RMTREE,
	    R_LISTDIR };
	struct buf b = BUF_INIT;

	header(&b, types, 4, ALL_SENT, 100);
	list_reply(&b, 1, 1, NAMES(".a", "a", "ab"));
	list_reply(&b, 2, 0, NAMES("b", "\xc3\xa9t\xc3\xa9", "\xff"));
	reply_ok(&b, 3, 0);
	list_reply(&b, 4, 0, NAMES(".georep", "x"));	/* not the root */
	emit("listdir", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_LISTDIR }, 1, ALL_SENT, 30);
	reply(&b, 1, ENOENT, 0, "list a: No such file or directory", 33);
	emit("listdir_gone", &b);
	buf_reset(&b);
	/* Refused: out of order across the pages, .georep at the root, a
	 * name with '/', "more" with nothing. */
	header(&b, types, 4, ALL_SENT, 255);
	list_reply(&b, 1, 1, NAMES("a", "c"));
	list_reply(&b, 2, 0, NAMES("b"));
	emit("bad_listdir_order", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_LISTDIR }, 1, ALL_SENT, 255);
	list_reply(&b, 1, 0, NAMES("a", ".georep"));
	emit("bad_listdir_state_dir", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_LISTDIR }, 1, ALL_SENT, 255);
	list_reply(&b, 1, 0, NAMES("a/b"));
	emit("bad_listdir_slash", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_LISTDIR }, 1, ALL_SENT, 255);
	list_reply(&b, 1, 1, NAMES(NULL));
	emit("bad_listdir_more_empty", &b);
	buf_release(&b);
}

/* A VLIST entry as the secondary writes it (put_vlist_entry: the xattrs'
 * values are digested there, in the order given). */
struct ventry {
	const char *name;
	uint32_t mode;
	const char *target;	/* NULL: none */
	uint32_t mtime_nsec;
	uint32_t xattr_errno;
	const struct xattr *xattrs;
	uint32_t nxattrs;
};

static void
put_ventry(struct buf *b, const struct ventry *v, uint64_t ino)
{
	struct vlist_entry e = {
		.ino = ino, .mode = v->mode, .uid = 1000, .gid = 100,
		.nlink = S_ISDIR(v->mode) ? 2 : 1, .size = 4096,
		.rdev = 0, .mtime_sec = 1700000000,
		.mtime_nsec = v->mtime_nsec, .ctime_sec = 1700000001,
		.ctime_nsec = 999999999, .name = v->name,
		.name_len = (uint32_t)strlen(v->name), .target = v->target,
		.target_len = v->target ? (uint32_t)strlen(v->target) : 0,
		.xattr_errno = v->xattr_errno,
	};
	struct attrs a = { .mask = ATTR_XATTRS, .nxattrs = v->nxattrs,
	    .xattrs = (struct xattr *)v->xattrs };

	put_vlist_entry(b, &e, &a);
}

/* A VLIST page of the entries given (ending with one of NULL name). */
static void
vlist_reply(struct buf *b, uint32_t id, uint64_t more,
    const struct ventry *v)
{
	struct buf d = BUF_INIT;

	for (size_t i = 0; v[i].name; i++)
		put_ventry(&d, &v[i], 200 + i);
	reply(b, id, 0, more, d.data, (uint32_t)d.len);
	buf_release(&d);
}

/* The content digest of a file: DIGEST_LEN bytes, or `len` to be wrong. */
static void
digest_reply(struct buf *b, uint32_t id, uint64_t size, uint32_t len)
{
	static const uint8_t d[DIGEST_LEN + 1] = {
		0x9a, 0x3c, 0x00, 0x11, 0xfe, 0x42, 0x07, 0x80,
		0x5d, 0x00, 0x00, 0xc1, 0x2b, 0x66, 0x13, 0xef, 0x01,
	};

	reply(b, id, 0, size, d, len);
}

#define X(n, v) { n, sizeof(n) - 1, (const uint8_t *)v, sizeof(v) - 1 }
#define VEND { NULL, 0, NULL, 0, 0, NULL, 0 }

/* verify's exchange: the root listed in two pages, files digested between
 * them, then a subdirectory (odd index: .georep is a name like another
 * there). */
static void
seed_vlist(void)
{
	static const uint8_t types[] = { R_VLIST, R_DIGEST, R_DIGEST, R_VLIST,
	    R_DIGEST, R_VLIST, R_PING };
	static const struct xattr acl[] = {
		X("system.posix_acl_access", "\2\0\0\0\1\0\6\0"),
		X("system.posix_acl_default", "\2\0\0\0"),
		X("trusted.md5", "0123456789abcdef"),
		X("user.comment", "hello"),
		X("user.empty", ""),
	};
	static const struct xattr one[] = { X("user.a", "1") };
	static char longname[PROTO_XATTR_NAME_MAX + 1];
	memset(longname, 'n', PROTO_XATTR_NAME_MAX);
	memcpy(longname, "user.", 5);
	static uint8_t big[PROTO_XATTR_VALUE_MAX];
	memset(big, 0xa5, sizeof(big));
	const struct xattr edge[] = {
		{ longname, PROTO_XATTR_NAME_MAX, big, PROTO_XATTR_VALUE_MAX },
	};
	static char target[VLIST_TARGET_MAX + 1];
	memset(target, 'x', VLIST_TARGET_MAX);
	for (size_t i = 0; i + 3 < VLIST_TARGET_MAX; i += 3)
		memcpy(target + i, "../", 3);
	const struct ventry page1[] = {
		{ ".hidden", 0100600, NULL, 1, 0, one, 1 },
		{ "a", 040755, NULL, 0, 0, acl, 5 },
		{ "a b", 0100644, NULL, 999999999, 0, NULL, 0 },
		{ "fifo", 010644, NULL, 0, 0, NULL, 0 },
		{ "link", 0120777, "../outside/../x", 0, 0, NULL, 0 },
		VEND,
	};
	const struct ventry page2[] = {
		{ "locked", 0100000, NULL, 0, EACCES, NULL, 0 },
		{ "long", 0120777, target, 0, 0, NULL, 0 },
		{ "n", 0100644, NULL, 5, 0, edge, 1 },
		{ "\xc3\xa9t\xc3\xa9", 0100644, NULL, 0, 0, one, 1 },
		{ "\xff", 020600, NULL, 0, ENOTSUP, NULL, 0 },
		VEND,
	};
	const struct ventry sub[] = {
		{ ".georep", 040700, NULL, 0, 0, NULL, 0 },
		{ "l", 0120777, "/", 0, 0, one, 1 },
		VEND,
	};
	struct buf b = BUF_INIT;

	header(&b, types, sizeof(types), ALL_SENT, 120);
	vlist_reply(&b, 1, 1, page1);
	digest_reply(&b, 2, 4096, DIGEST_LEN);
	reply(&b, 3, ENOENT, 0, "open a b: No such file or directory", 35);
	vlist_reply(&b, 4, 0, page2);
	reply(&b, 5, EINVAL, 0, "digest fifo (not a regular file)", 32);
	vlist_reply(&b, 6, 0, sub);
	reply_ok(&b, 7, 0);
	emit("vlist", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_VLIST, R_VLIST }, 2, ALL_SENT, 10);
	vlist_reply(&b, 1, 0, (const struct ventry[]){ VEND });
	reply(&b, 2, ESTALE, 0, "list a: not the directory meant", 31);
	emit("vlist_empty_gone", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_DIGEST }, 1, ALL_SENT, 77);
	digest_reply(&b, 1, 0, DIGEST_LEN);
	emit("digest", &b);
	buf_release(&b);
}

/* One VLIST page refused: a listing of the root (index 0) of v, saved as
 * name; cut bytes taken off its end first. */
static void
bad_vlist(const char *name, uint64_t more, const struct ventry *v,
    size_t cut)
{
	struct buf b = BUF_INIT, d = BUF_INIT;

	header(&b, (uint8_t[]){ R_VLIST }, 1, ALL_SENT, 255);
	for (size_t i = 0; v[i].name; i++)
		put_ventry(&d, &v[i], 300 + i);
	reply(&b, 1, 0, more, d.data, (uint32_t)(d.len - cut));
	emit(name, &b);
	buf_release(&d);
	buf_release(&b);
}

/* Near the edges: each refused by the page check or by the reply check. */
static void
seed_bad_vlist(void)
{
	static const struct xattr unsorted[] = {
		X("user.b", "1"), X("user.a", "2"),
	};
	static const struct xattr twice[] = {
		X("user.a", "1"), X("user.a", "1"),
	};
	static const struct xattr unnamed[] = { X("", "1") };
	static const struct xattr two[] = { X("user.a", "1"), X("user.b", "") };
	static uint8_t big[PROTO_XATTR_VALUE_MAX + 1];
	const struct xattr huge[] = {
		{ "user.big", 8, big, PROTO_XATTR_VALUE_MAX + 1 },
	};
	struct buf b = BUF_INIT;

	bad_vlist("bad_vlist_target_file", 0, (const struct ventry[]){
	    { "f", 0100644, "x", 0, 0, NULL, 0 }, VEND }, 0);
	bad_vlist("bad_vlist_no_target", 0, (const struct ventry[]){
	    { "l", 0120777, NULL, 0, 0, NULL, 0 }, VEND }, 0);
	bad_vlist("bad_vlist_nsec", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 1000000000, 0, NULL, 0 }, VEND }, 0);
	bad_vlist("bad_vlist_errno", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, PROTO_ERRNO_MAX + 1, NULL, 0 }, VEND }, 0);
	bad_vlist("bad_vlist_xattr_order", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, 0, unsorted, 2 }, VEND }, 0);
	bad_vlist("bad_vlist_xattr_twice", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, 0, twice, 2 }, VEND }, 0);
	bad_vlist("bad_vlist_xattr_unnamed", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, 0, unnamed, 1 }, VEND }, 0);
	bad_vlist("bad_vlist_xattr_huge", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, 0, huge, 1 }, VEND }, 0);
	/* One xattr more than the wire takes: what vlist.c sends for a file
	 * with 1025 user.* xattrs (tmpfs, XFS, btrfs allow that many), which
	 * verify then refuses as a protocol error. */
	static char many_names[PROTO_XATTR_COUNT_MAX + 1][16];
	static struct xattr many[PROTO_XATTR_COUNT_MAX + 1];
	for (size_t i = 0; i <= PROTO_XATTR_COUNT_MAX; i++) {
		snprintf(many_names[i], sizeof(many_names[i]), "user.x%05zu", i);
		many[i] = (struct xattr){ many_names[i],
		    (uint32_t)strlen(many_names[i]), (const uint8_t *)"", 0 };
	}
	bad_vlist("bad_vlist_xattr_count", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, 0, many, PROTO_XATTR_COUNT_MAX + 1 },
	    VEND }, 0);
	/* Two counted, one there: the second's bytes cut off the page. */
	bad_vlist("bad_vlist_xattr_missing", 0, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, 0, two, 2 }, VEND },
	    4 + 6 + 4 + DIGEST_LEN);
	bad_vlist("bad_vlist_state_dir", 0, (const struct ventry[]){
	    { ".georep", 040700, NULL, 0, 0, NULL, 0 }, VEND }, 0);
	bad_vlist("bad_vlist_slash", 0, (const struct ventry[]){
	    { "a/b", 0100644, NULL, 0, 0, NULL, 0 }, VEND }, 0);
	bad_vlist("bad_vlist_dot", 0, (const struct ventry[]){
	    { "..", 040755, NULL, 0, 0, NULL, 0 }, VEND }, 0);
	bad_vlist("bad_vlist_more_empty", 1, (const struct ventry[]){ VEND }, 0);
	bad_vlist("bad_vlist_more_two", 2, (const struct ventry[]){
	    { "f", 0100644, NULL, 0, 0, NULL, 0 }, VEND }, 0);
	/* Out of order across two pages of one listing. */
	header(&b, (uint8_t[]){ R_VLIST, R_VLIST }, 2, ALL_SENT, 255);
	vlist_reply(&b, 1, 1, (const struct ventry[]){
	    { "a", 0100644, NULL, 0, 0, NULL, 0 },
	    { "c", 0100644, NULL, 0, 0, NULL, 0 }, VEND });
	vlist_reply(&b, 2, 0, (const struct ventry[]){
	    { "b", 0100644, NULL, 0, 0, NULL, 0 }, VEND });
	emit("bad_vlist_order", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_DIGEST }, 1, ALL_SENT, 255);
	digest_reply(&b, 1, 4096, DIGEST_LEN - 1);
	emit("bad_digest_short", &b);
	buf_reset(&b);
	header(&b, (uint8_t[]){ R_DIGEST, R_PING }, 2, ALL_SENT, 255);
	digest_reply(&b, 1, 4096, DIGEST_LEN + 1);
	reply_ok(&b, 2, 0);
	emit("bad_digest_long", &b);
	buf_release(&b);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	seed_hello();
	seed_turn();
	seed_listdir();
	seed_vlist();
	seed_bad_vlist();
	return 0;
}
