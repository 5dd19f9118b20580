/*
 * util: memory, byte buffers, full reads and writes, the durable-write
 * helper and time.
 *
 * x*alloc() never return NULL: running out of memory is a broken invariant
 * for a daemon of this kind, so they call fatal().  read_full()/write_full()
 * loop over short transfers and EINTR; a write of 0 bytes is reported as
 * ENOSPC.  durable_write_at() is the one way a small state file is made to
 * survive a crash.
 */
#ifndef GEOREP_UTIL_H
#define GEOREP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/*
 * Array growth, one rule for every array that grows as it fills.  An array
 * of elem-byte elements with room for cap needs room for need: the new
 * capacity is cap itself when that is enough, else the largest of need,
 * twice cap, and GROW_FIRST_BYTES' worth of elements (at least one), so
 * that appending one at a time costs amortised O(1).
 *
 * grow_size() computes it into *out; false when that many elements would
 * not fit in size_t (nothing is changed then).  xgrow() reallocates p to
 * it, updates *cap and returns the new pointer (p itself when cap was
 * enough; with p NULL, a new array); a size that overflows is fatal, like
 * running out of memory -- no input may ask for that much.  XGROW(p, cap,
 * need) does it for an array p and its size_t capacity cap.
 */
#define GROW_FIRST_BYTES 256
bool grow_size(size_t cap, size_t need, size_t elem, size_t *out);
void *xgrow(void *p, size_t *cap, size_t need, size_t elem);
#define XGROW(p, cap, need) \
	((p) = xgrow((p), &(cap), (need), sizeof(*(p))))

char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocating printf; never NULL. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer.  BUF_INIT is a valid empty buffer. */
struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
#define BUF_INIT { NULL, 0, 0 }
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_addstr(struct buf *b, const char *s);
/* printf onto the end of b. */
void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_release(struct buf *b);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);

ssize_t read_full(int fd, void *p, size_t n);	/* short only at EOF */
int write_full(int fd, const void *p, size_t n);
ssize_t pread_full(int fd, void *p, size_t n, off_t off);
int pwrite_full(int fd, const void *p, size_t n, off_t off);
/* A descriptor over a unix socket (SCM_RIGHTS), with one byte.  fd_send
 * never blocks: -1 with EAGAIN when the socket is full.  fd_recv waits:
 * the descriptor (close-on-exec), or -1 (errno; EPROTO when a byte came
 * without one, ECONNRESET at the end of the socket). */
int fd_send(int sock, int fd);
int fd_recv(int sock);
/* Bytes off..n of in over the same bytes of out, by pread and pwrite:
 * copy_range without the kernel's copy (between filesystems of different
 * kinds: EXDEV since Linux 5.19; or where it is not supported).  0, -1
 * with errno, -2 when in is shorter than n. */
int copy_by_reads(int in, int out, uint64_t off, uint64_t n);
/* The first n bytes of in over out's, at the same offsets, copied by the
 * kernel: copy_file_range (a reflink where the filesystem shares
 * extents), else read and write.  0; -1 (errno); -2 when in is shorter. */
int copy_range(int in, int out, uint64_t n);

/*
 * Write a whole file durably: a temporary file beside NAME in DIRFD
 * (O_EXCL|O_CLOEXEC), a full write, fdatasync, a checked close, renameat and
 * an fsync of the directory.  On failure, the failing step is logged with
 * the name, the temporary file is removed and -1 is returned.
 */
int durable_write_at(int dirfd, const char *name, const void *data, size_t len,
    mode_t mode);
/* Read a small whole file (at most max bytes) into b; -1 with errno. */
int read_small_file_at(int dirfd, const char *name, struct buf *b, size_t max);

/* mkdir -p, mode for the created ones; -1 with errno and the path logged. */
int mkdir_p(const char *path, mode_t mode);

int64_t now_ns(void);		/* CLOCK_REALTIME in nanoseconds */
int64_t mono_ns(void);		/* CLOCK_MONOTONIC in nanoseconds */

/*
 * A watch on the realtime clock against the monotonic one.  A sync point is
 * a realtime: when the clock is stepped back, changes made after the step
 * carry times the sync point may already have passed, and "everything
 * before the sync point is on the secondary" would no longer hold.
 * clockwatch_back() returns, when the clock went back by more than 50 ms
 * since the last call, the earliest time (on the new scale) a change made
 * after the step can carry -- a sync point must go back to it -- and 0
 * otherwise (the first call, a slew, a step forward).
 */
struct clockwatch {
	int64_t real, mono;
};
int64_t clockwatch_back(struct clockwatch *cw);
/* RFC 3339 UTC with milliseconds into out (>= 32 bytes). */
void format_rfc3339(int64_t ns, char *out, size_t outlen);

/* This program's path, to run it again (the secondary); "/proc/self/exe"
 * when the file was replaced since it started. */
const char *self_exe(void);

/* The noun for a count in a message: "1 file", "2 files". */
static inline const char *
plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Human size: 1.5M, 300K, 12G into out (>= 16 bytes). */
void format_size(uint64_t n, char *out, size_t outlen);
/* A rate in bytes per second as config.h's parse_rate reads it back
 * (caller frees): "0", "512K", "2M", "1536B". */
char *format_rate(uint64_t bytes_per_s);

/* Lowercase hex of n bytes into out (>= 2n+1). */
void hex_encode(const uint8_t *p, size_t n, char *out);

/* A printable, escaped copy of a name for messages (bytes < 0x20, 0x7f,
 * '\\' and non-UTF-8 shown as \xNN); caller frees. */
char *quote_name(const char *s, size_t n);

#endif
