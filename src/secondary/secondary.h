/*
 * secondary: the far end.  `georep secondary DIR` reads requests on stdin and
 * writes replies on stdout until BYE or EOF; it is the same program whether
 * spawned over pipes by a local primary or by sshd for a remote one.
 *
 * It trusts nothing it receives: every frame is size-checked and parsed
 * exactly, every name and path checked, every path resolved beneath DIR
 * without following symlinks (resolve.h).  It keeps its own state in
 * DIR/.georep (the volume id of its primary, the sync point, the staging
 * area), which the protocol can never name.
 *
 *   secondary_main()     the process: requests read from in_fd, replies
 *                        written to out_fd (all the replies to what was read
 *                        before it waits for more).  Returns the exit
 *                        status: 0 after BYE, or at EOF between frames;
 *                        EX_PROTOCOL on a protocol violation (the replies
 *                        before it are written); EX_IOERR, EX_CANTCREAT.
 *
 * The same request handling, without the pipes (the fuzz target uses it):
 *
 *   secondary_open()     the state of a secondary rooted at DIR (made, mode
 *                        0755, if missing; nothing else is touched before
 *                        HELLO).  NULL, logged, if DIR cannot be made or
 *                        opened.
 *   secondary_handle()   handle the complete frames at the start of in, in
 *                        order, each one's reply (PUT and DATA have none)
 *                        appended to out; *used is the bytes they took (a
 *                        cut frame at the end is left: call again with it
 *                        and what follows).  A compressed block
 *                        (MSG_ZBLOCK, after a HELLO with HELLO_COMPRESS) is
 *                        unpacked and checked whole (proto_unpack_block),
 *                        then its frames are handled as if they had come
 *                        one by one.  Returns 0 for "more", 1 once
 *                        BYE is handled, -1 on a protocol violation
 *                        (logged; the peer is to be dropped).  After 1 or
 *                        -1 nothing more is read: it returns the same.
 *   secondary_close()    restore the modes of directories opened up for an
 *                        operation, close everything, free.  NULL is fine.
 */
#ifndef GEOREP_SECONDARY_H
#define GEOREP_SECONDARY_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct secondary;

/* fdchan: the descriptor channel of a local secondary (proto.h,
 * PUT_COPY), or -1.  refusal (or NULL): answer every HELLO with EPERM and
 * that message, and touch nothing (a forced command asked for another
 * directory). */
int secondary_main(const char *dir, int in_fd, int out_fd, int fdchan,
    const char *refusal);

struct secondary *secondary_open(const char *dir);
int secondary_handle(struct secondary *s, const uint8_t *in, size_t len,
    size_t *used, struct buf *out);
void secondary_close(struct secondary *s);

#endif
