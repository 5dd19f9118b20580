/*
 * conn: the primary's end of a pipelined connection to a secondary process.
 *
 *   conn_spawn_local()      start `georep secondary DIR`
 *   conn_spawn_remote()     ... on another host, over ssh (transport.h)
 *   conn_begin()/conn_end() append one request frame; conn_end may pump
 *   conn_wait_all()         pump until every request has been answered
 *   conn_close()            say BYE, reap the child
 *   conn_ping()             the keep-alive of an idle link: a PING whose
 *                           answer conn_pump takes (conn_idle_fds to poll
 *                           while idle)
 *   conn_set_wire()         after the spawn, before HELLO: compression and
 *                           the bandwidth limit; say_hello (contact.h)
 *                           asks the secondary for compression and calls
 *                           conn_compress_start() once it agreed
 *
 * Both pipe ends are non-blocking and one poll() loop moves requests out and
 * replies in, so neither side can deadlock on a full pipe.  Each reply is
 * matched against the oldest pending request (replies come in order) and
 * handed to the on_reply callback with the cookie given at conn_begin.
 * Any violation by the peer -- a bad frame, an unexpected id, EOF -- marks
 * the connection failed with a message (conn->error); it is never fatal.
 *
 * Every reply is checked before a callback sees it, as strictly as the
 * secondary checks requests: a REPLY frame, to the oldest request waiting,
 * once the secondary has had all of that request; its fields exactly
 * (errno 0..PROTO_ERRNO_MAX, an error message of at most
 * PROTO_REPLY_MSG_MAX bytes); and, for a success, the data and value its
 * request's type gives it in proto.h (HELLO: 8 bytes, a state and known
 * bits; LISTDIR: at most PROTO_LIST_BYTES, "more" 0 or 1;
 * SIGNATURE: at most PROTO_SIG_MAX; an inode number
 * for what creates one, never 0; nothing, 0, for the rest).  What is in a
 * LISTDIR reply's entries is checked by its reader (reconcile.c).  A
 * violation is a "protocol error: ..." (conn_protocol_error), told apart
 * from a secondary that went away or went silent by conn_exit_code.
 *
 * The wire.  Requests are queued as plain frames in `out`; the pump turns
 * them into what is written when it is about to write: with compression
 * on, the next run of whole frames (PROTO_BLOCK_TARGET bytes at most, a
 * larger frame alone) becomes one MSG_ZBLOCK if that saves enough
 * (proto_pack_block), else goes as it is.  bytes_out counts the plain
 * stream (a request's sent_at is a position in it: a block counts once
 * all of it is written), wire_out the bytes really written.
 *
 * The bandwidth limit is a token bucket on what is written (after
 * compression): it fills at bw_rate bytes per second up to a tenth of a
 * second's worth (at least 1 KiB), and the pump asks poll() for POLLOUT
 * only once the bucket holds what it would write next (or a whole
 * bucket); meanwhile it polls the secondary's output with a timeout of the
 * time left to fill it, so waiting costs no CPU, replies are still read,
 * and a wait for tokens is never taken for a silent secondary.
 */
#ifndef GEOREP_CONN_H
#define GEOREP_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct reply {
	int err;		/* errno from the secondary, 0 = done */
	uint64_t value;		/* secondary inode number, hello state, ... */
	const char *msg;	/* the message on error, else the result;
				 * not NUL-terminated; valid in the callback */
	uint32_t msg_len;
};

struct pending_req {
	uint32_t id;
	uint8_t type;
	uint64_t cookie;
	uint64_t sent_at;	/* bytes_out once its frame is all written: a
				 * reply before that is impossible */
};

typedef void (*reply_fn)(void *arg, const struct pending_req *req,
    const struct reply *rep);

struct conn {
	int rfd, wfd;
	pid_t pid;
	struct buf out;
	size_t out_off;		/* bytes of out already written */
	struct buf in;
	uint32_t next_id;
	struct pending_req *pend;	/* ring */
	size_t pend_cap, pend_head, pend_count;
	int timeout_ms;		/* silence from a busy peer longer than this fails */
	reply_fn on_reply;
	void *arg;
	bool failed;
	bool proto_error;	/* failed because the peer broke the protocol */
	bool pend_open;		/* the last request pushed awaits conn_end */
	char error[512];
	const char *peer;	/* for messages: the secondary's location */
	uint64_t bytes_out;
	/* Set before conn_spawn_local: the secondary's stderr comes through
	 * a pipe and each line is logged here, in this process's format
	 * (a daemon's log), instead of landing in the log file as is. */
	bool capture_stderr;
	int errfd;
	struct buf errbuf;
	char peer_said[256];	/* its last error line on stderr */
	char host[256];		/* the remote host ([USER@]HOST), or "" */
	/* A local secondary's descriptor channel (proto.h, PUT_COPY), or
	 * -1; usable once the HELLO reply said HELLO_FDS (fds_ok). */
	int fdchan;
	bool fds_ok;
	char *local_dir;	/* a local secondary's directory, or NULL */
	bool partials;		/* it keeps partial files (HELLO_PARTIALS) */
	uint64_t fds_dev;	/* its device: PUT_COPY only from the same */
	int exit_status;	/* once reaped (pid then -1) */
	int64_t ping_sent;	/* mono ns of the PING awaiting its answer */
	/* The wire (above): compression and the bandwidth limit. */
	int zlevel;		/* zstd level asked for; 0: off; COMPRESS_AUTO */
	bool zactive;		/* the secondary agreed: blocks from now on */
	struct ZSTD_CCtx_s *zctx;
	struct buf zout;	/* the compressed block being written */
	size_t zout_off;
	size_t zplain;		/* the bytes of out the chunk being written
				 * stands for (plain: still to write) */
	uint64_t wire_out;	/* bytes written to the secondary */
	uint64_t blocks, blocks_plain;	/* blocks sent compressed, as is */
	/* Content that does not compress (media, archives, encrypted):
	 * after ZMISS_MAX blocks in a row that did not shrink, a block is
	 * compressed only when a sample of it (16 KiB) shrinks, until one
	 * does again.  (Skipping blocks untried, as before, also skipped the
	 * text that came after a run of noise.) */
	unsigned zmisses;
	bool zsampling;
	uint64_t bw_rate;	/* bytes per second; 0: no limit */
	int64_t bw_tokens;	/* bytes that may be written now */
	int64_t bw_last;	/* mono ns of the last refill */
	uint64_t bw_waits;	/* times the pump waited for the bucket */
	int64_t bw_waited_ns;	/* and for how long, in all */
};

/* The descriptor a local secondary finds its channel at. */
#define SPAWN_FDCHAN	3

void conn_init(struct conn *c, const char *peer, int timeout_ms);
/* Spawn `SELF secondary DIR` with pipes; -1 with c->error set. */
int conn_spawn_local(struct conn *c, const char *self_exe, const char *dir);
/* Spawn the ssh command that runs `georep secondary PATH` on the remote
 * host (transport.h); -1 with c->error set. */
struct remote;
int conn_spawn_remote(struct conn *c, const char *ssh_cmd,
    const struct remote *r);
/* compress: COMPRESS_AUTO (config.h: COMPRESS_DEFAULT over ssh, off for a
 * local secondary), 0 (off) or a zstd level 1..COMPRESS_MAX; bwlimit:
 * bytes per second written at most (0: no limit).  Any time before HELLO.
 * The level takes effect with conn_compress_start, after a HELLO with
 * HELLO_COMPRESS was accepted. */
void conn_set_wire(struct conn *c, int compress, uint64_t bwlimit);
/* The level compression will run at: auto resolved (once spawned). */
int conn_compress_level(const struct conn *c);
/* "zstd level 1, at most 512K/s" (what conn_set_wire and HELLO made of
 * the link), into out: false (out "") when neither is on. */
bool conn_describe_wire(const struct conn *c, char *out, size_t len);
/* Blocks from the next write on; -1 (c->error set) if zstd cannot be set
 * up.  Nothing when the level is 0. */
int conn_compress_start(struct conn *c);
size_t conn_begin(struct conn *c, uint8_t type, uint64_t cookie, bool reply);
/* Finish the frame; pumps when more than the high-water mark is queued.
 * -1 once the connection failed. */
int conn_end(struct conn *c, size_t start);
/* Reuse the id of the last request (MSG_DATA and MSG_PUT_END frames that
 * belong to one PUT); the reply goes to the cookie given at the PUT. */
size_t conn_begin_cont(struct conn *c, uint8_t type, bool reply,
    uint64_t cookie);
int conn_wait_all(struct conn *c);
/* Pump until everything queued is written (replies are taken meanwhile). */
int conn_flush(struct conn *c);
int conn_pump(struct conn *c, bool block);
/* Send BYE, wait for its answer and for the child; returns the child's
 * exit status or -1. */
int conn_close(struct conn *c);
void conn_release(struct conn *c);
/* Send a PING (unless one is out) and return at once; its answer is taken
 * by conn_pump.  -1 once the connection failed. */
int conn_ping(struct conn *c);
/* Whether a PING has been out longer than the timeout: the link is then
 * failed with that reason (true). */
bool conn_ping_overdue(struct conn *c);
/* The descriptors an idle caller polls (POLLIN) besides its own: the
 * secondary's output (a reply, or EOF when it died) and its stderr; -1
 * where there is none.  When one is ready, call conn_pump(c, false). */
void conn_idle_fds(const struct conn *c, int *rfd, int *errfd);
void conn_fail(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The peer broke the protocol: fails the connection with "protocol error: "
 * and the message, which names what was wrong. */
void conn_protocol_error(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* For a failed connection, the command's exit status (sysexits.h):
 * EX_PROTOCOL when the peer broke the protocol (running again will not
 * help), EX_UNAVAILABLE when it could not be started, went away or went
 * silent. */
int conn_exit_code(const struct conn *c);
/* Bytes from the secondary, as if read from its output: appended to the
 * input and every whole frame in it handled (the reply checks, then
 * on_reply).  What the reading in conn_pump does with what it reads; here
 * for tests (the fuzz target of the reply handling). */
void conn_feed(struct conn *c, const uint8_t *p, size_t len);

#endif
