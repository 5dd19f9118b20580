/*
 * Writes the seed corpus of fuzz_replies into the directory given: the
 * requests waiting (fuzz_replies.c's header) and what a secondary answers,
 * built with the writers the secondary uses.  Valid exchanges -- a HELLO,
 * a turn of every request type (with a failure and the cancellations after
 * it), PUT_END and PUT_ABORT, a listing of two pages -- and a few refused
 * on purpose near the edges: a HELLO reply of the wrong length, a bad
 * errno, a LISTDIR page out of order or with .georep, "more" with nothing,
 * a reply to a request not written yet, a cut frame.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto.h"
#include "seedutil.h"

/* The indexes of fuzz_replies.c's reqs[]. */
enum {
	R_HELLO, R_MKDIR, R_SYMLINK, R_MKNOD, R_LINK, R_RENAME, R_UNLINK,
	R_RMTREE, R_PUT_END, R_PUT_ABORT, R_SETATTR, R_COMMIT, R_BYE, R_RESET,
	R_LISTDIR, R_PING,
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
	return 0;
}
