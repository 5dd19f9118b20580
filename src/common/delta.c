#include <errno.h>
#include <librsync.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delta.h"
#include "log.h"
#include "banned.h"

/* ---- the content hash ---- */

void
chash_chunk(XXH3_state_t *st, uint64_t off, const void *p, size_t n)
{
	XXH3_128bits_update(st, &off, sizeof(off));
	XXH3_128bits_update(st, p, n);
}

/* The size goes in last, for a hole at the end is in no chunk (a sparse
 * file truncated within its trailing hole keeps every chunk). */
void
chash_end(XXH3_state_t *st, uint64_t size, uint8_t out[CHASH_LEN])
{
	static const char tag[] = "size";

	XXH3_128bits_update(st, tag, sizeof(tag));
	XXH3_128bits_update(st, &size, sizeof(size));
	XXH128_hash_t h = XXH3_128bits_digest(st);
	memcpy(out, &h.high64, 8);
	memcpy(out + 8, &h.low64, 8);
}

int
chash_file(int fd, uint64_t size, uint8_t out[CHASH_LEN])
{
	XXH3_state_t *st = XXH3_createState();
	uint8_t *chunk = xmalloc(CHASH_CHUNK);
	int rc = 0;

	if (st == NULL)
		fatal("out of memory");
	XXH3_128bits_reset(st);
	for (uint64_t off = 0; off < size && rc == 0; ) {
		size_t want = size - off < CHASH_CHUNK ? (size_t)(size - off) :
		    CHASH_CHUNK;
		ssize_t got = pread_full(fd, chunk, want, (off_t)off);
		if (got < 0 || (size_t)got < want) {
			if (got >= 0)
				errno = EIO;	/* shorter than it was made */
			rc = -1;
			break;
		}
		chash_chunk(st, off, chunk, want);
		off += want;
	}
	if (rc == 0)
		chash_end(st, size, out);
	free(chunk);
	XXH3_freeState(st);
	return rc;
}

/* ---- the shape of a signature ---- */

static uint64_t
isqrt(uint64_t v)
{
	uint64_t r = 0;

	for (uint64_t bit = 1ull << 62; bit; bit >>= 2) {
		if (v >= r + bit) {
			v -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
	}
	return r;
}

bool
delta_block_len(uint64_t size, uint32_t *block_len)
{
	/* A quarter of the square root: a change of a few bytes costs about
	 * a block of literal data, and the signature stays near 1% of a
	 * file of tens of MiB (rsync's square root would double the delta
	 * of scattered small edits). */
	uint64_t b = (isqrt(size) / 4 + 63) & ~(uint64_t)63;
	uint64_t need = (size + DELTA_BLOCKS_MAX - 1) / DELTA_BLOCKS_MAX;

	if (b < DELTA_BLOCK_MIN)
		b = DELTA_BLOCK_MIN;
	if (b < need)
		b = need;
	if (b > DELTA_BLOCK_MAX)
		return false;
	*block_len = (uint32_t)b;
	return true;
}

uint64_t
delta_blocks(uint64_t size, uint32_t block_len)
{
	return (size + block_len - 1) / block_len;
}

uint64_t
delta_sig_len(uint64_t size, uint32_t block_len)
{
	return DELTA_SIG_HDR + delta_blocks(size, block_len) *
	    (4 + DELTA_STRONG_LEN);
}

uint64_t
delta_page_blocks(uint32_t block_len)
{
	uint64_t n = DELTA_PAGE_BYTES / block_len;

	return n ? n : 1;
}

/* The blocks of the page at `first`: 0 for a first past the last block
 * (false), but a copy of 0 bytes has one page, of no block. */
static bool
page_len(uint64_t size, uint32_t block, uint64_t first, uint64_t *n)
{
	uint64_t total = delta_blocks(size, block);

	if (first > total || (first == total && total > 0))
		return false;
	*n = total - first < delta_page_blocks(block) ? total - first :
	    delta_page_blocks(block);
	return true;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

bool
delta_sig_check(const uint8_t *sig, size_t len, uint64_t size,
    uint64_t first, char *why, size_t whylen)
{
	uint32_t want;
	uint64_t n;

	if (!delta_block_len(size, &want)) {
		snprintf(why, whylen, "a signature of a file of %llu bytes "
		    "(too large to sign)", (unsigned long long)size);
		return false;
	}
	if (len < DELTA_SIG_HDR) {
		snprintf(why, whylen, "a signature of %zu bytes (its header "
		    "alone is %d)", len, DELTA_SIG_HDR);
		return false;
	}
	uint32_t magic = be32(sig), block = be32(sig + 4),
	    strong = be32(sig + 8);
	if (magic != RS_RK_BLAKE2_SIG_MAGIC) {
		snprintf(why, whylen, "a signature with magic %#x (%#x "
		    "expected)", magic, (unsigned)RS_RK_BLAKE2_SIG_MAGIC);
		return false;
	}
	if (block != want || strong != DELTA_STRONG_LEN) {
		snprintf(why, whylen, "a signature in blocks of %u bytes with "
		    "sums of %u (%u and %u expected for %llu bytes)", block,
		    strong, want, DELTA_STRONG_LEN, (unsigned long long)size);
		return false;
	}
	if (!page_len(size, want, first, &n)) {
		snprintf(why, whylen, "a signature from block %llu of a file of "
		    "%llu bytes (past its end)", (unsigned long long)first,
		    (unsigned long long)size);
		return false;
	}
	uint64_t expect = DELTA_SIG_HDR + n * (4 + DELTA_STRONG_LEN);
	if (len != expect) {
		snprintf(why, whylen, "a signature of %zu bytes (%llu expected "
		    "for %llu blocks of %u from block %llu)", len,
		    (unsigned long long)expect, (unsigned long long)n, want,
		    (unsigned long long)first);
		return false;
	}
	return true;
}

uint64_t
delta_stream_max(uint64_t size)
{
	return size + size / 8 + (1u << 20);
}

/* ---- driving a librsync job ---- */

/* librsync's messages (a corrupt delta, say) go to the log at debug
 * level: the caller says what failed, with rs_strerror. */
static void
trace_to_log(rs_loglevel level, const char *msg)
{
	(void)level;
	log_debug("librsync: %s", msg);
}

static void
quiet_library(void)
{
	rs_trace_to(trace_to_log);
}

/* Where a job's output goes: a buffer handed on whole to fn each time it
 * fills (so the pieces are CHASH_CHUNK-aligned), and the rest when the job
 * is done. */
struct job_out {
	uint8_t *buf;
	size_t cap, fill;
	delta_out_fn fn;
	void *arg;
	bool fn_failed;
};

static int
out_flush(struct job_out *o)
{
	if (o->fill == 0)
		return 0;
	if (o->fn(o->arg, o->buf, o->fill) < 0) {
		o->fn_failed = true;
		return -1;
	}
	o->fill = 0;
	return 0;
}

/* Input left when a job is done: bytes after the end of a delta (not one
 * of librsync's results). */
#define JOB_TRAILING	((rs_result)-1)

/* A job's result in words. */
static const char *
job_strerror(rs_result r)
{
	return r == JOB_TRAILING ? "bytes after its end" : rs_strerror(r);
}

/*
 * Run job over n input bytes until it has taken them all (RS_BLOCKED) or,
 * with eof, until it is done (RS_DONE, the output all handed on).  Input
 * the job cannot take while output space is free is a stuck job, said as
 * RS_INTERNAL_ERROR rather than looped on; input left when it is done is
 * JOB_TRAILING.
 */
static rs_result
job_pump(rs_job_t *job, const uint8_t *p, size_t n, bool eof,
    struct job_out *o)
{
	rs_buffers_t b = { .next_in = (char *)p, .avail_in = n,
	    .eof_in = eof };

	for (;;) {
		size_t room = o->cap - o->fill;
		size_t in_before = b.avail_in;
		b.next_out = (char *)o->buf + o->fill;
		b.avail_out = room;
		rs_result r = rs_job_iter(job, &b);
		size_t made = room - b.avail_out;
		o->fill += made;
		if (r != RS_DONE && r != RS_BLOCKED)
			return r;
		if ((o->fill == o->cap || r == RS_DONE) && out_flush(o) < 0)
			return RS_IO_ERROR;
		if (r == RS_DONE)
			return b.avail_in ? JOB_TRAILING : RS_DONE;
		if (!eof && b.avail_in == 0 && made < room)
			return RS_BLOCKED;	/* wants more input */
		if (made == 0 && b.avail_in == in_before)
			return eof ? RS_INPUT_ENDED : RS_INTERNAL_ERROR;
	}
}

/* ---- the signature (secondary) ---- */

static int
append_out(void *arg, const uint8_t *p, size_t n)
{
	buf_add(arg, p, n);
	return 0;
}

int
delta_signature(int fd, uint64_t size, uint64_t first, struct buf *out)
{
	uint32_t block;
	uint64_t n;
	uint8_t *chunk, obuf[64 << 10];
	struct job_out o = { obuf, sizeof(obuf), 0, append_out, out, false };
	rs_result r = RS_BLOCKED;
	int err = 0;

	if (!delta_block_len(size, &block)) {
		errno = EFBIG;
		return -1;
	}
	if (!page_len(size, block, first, &n)) {
		errno = EINVAL;
		return -1;
	}
	uint64_t off = first * block, end = off + n * block < size ?
	    off + n * block : size;
	quiet_library();
	rs_job_t *job = rs_sig_begin(block, DELTA_STRONG_LEN,
	    RS_RK_BLAKE2_SIG_MAGIC);
	chunk = xmalloc(CHASH_CHUNK);
	while (r == RS_BLOCKED && err == 0) {
		size_t want = end - off < CHASH_CHUNK ? (size_t)(end - off) :
		    CHASH_CHUNK;
		ssize_t got = want ? pread_full(fd, chunk, want, (off_t)off) : 0;
		if (got < 0 || (size_t)got < want) {
			/* A shorter page would be no page of this size. */
			err = got < 0 ? errno : EAGAIN;
			break;
		}
		off += want;
		r = job_pump(job, chunk, want, off == end, &o);
	}
	if (err == 0 && r != RS_DONE) {
		log_err("signature: librsync: %s", job_strerror(r));
		err = EIO;
	}
	rs_job_free(job);
	free(chunk);
	errno = err;
	return err ? -1 : 0;
}

/* ---- the delta (primary) ---- */

struct delta_enc {
	rs_signature_t *sig;
	rs_job_t *job;
	struct job_out out;
};

static int
no_output(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	return n ? -1 : 0;
}

struct delta_enc *
delta_enc_new(const uint8_t *sig, size_t len, char *why, size_t whylen)
{
	uint8_t none[16];
	struct job_out o = { none, sizeof(none), 0, no_output, NULL, false };
	rs_signature_t *s = NULL;

	quiet_library();
	rs_job_t *job = rs_loadsig_begin(&s);
	rs_result r = job_pump(job, sig, len, true, &o);
	rs_job_free(job);
	if (r == RS_DONE)
		r = rs_build_hash_table(s);
	if (r != RS_DONE) {
		snprintf(why, whylen, "a signature librsync refused: %s",
		    job_strerror(r));
		if (s)
			rs_free_sumset(s);
		errno = EBADMSG;
		return NULL;
	}
	struct delta_enc *e = xcalloc(1, sizeof(*e));
	e->sig = s;
	e->out.buf = xmalloc(CHASH_CHUNK);
	e->out.cap = CHASH_CHUNK;
	return e;
}

int
delta_enc_begin(struct delta_enc *e)
{
	if (e->job)
		rs_job_free(e->job);
	e->job = rs_delta_begin(e->sig);
	e->out.fill = 0;
	e->out.fn_failed = false;
	return e->job ? 0 : -1;
}

int
delta_enc_feed(struct delta_enc *e, const uint8_t *p, size_t n, bool eof,
    delta_out_fn out, void *arg)
{
	e->out.fn = out;
	e->out.arg = arg;
	rs_result r = job_pump(e->job, p, n, eof, &e->out);
	if (r == RS_DONE || (!eof && r == RS_BLOCKED))
		return 0;
	if (!e->out.fn_failed) {
		log_err("delta: librsync: %s", job_strerror(r));
		errno = EIO;
	}
	return -1;
}

void
delta_enc_free(struct delta_enc *e)
{
	if (e == NULL)
		return;
	if (e->job)
		rs_job_free(e->job);
	rs_free_sumset(e->sig);
	free(e->out.buf);
	free(e);
}

/* ---- the patch (secondary) ---- */

struct delta_dec {
	rs_job_t *job;
	int basis_fd, out_fd;
	uint64_t size;		/* of the result, as announced */
	uint64_t written;
	XXH3_state_t *hash;
	struct job_out out;
	bool done;		/* the job saw the delta's end */
	int err;		/* what failed, when it was not librsync */
	char why[160];
};

/* A COPY command: bytes of the old copy.  Reading past its end means the
 * delta was not made against it. */
static rs_result
copy_basis(void *arg, rs_long_t pos, size_t *len, void **buf)
{
	struct delta_dec *d = arg;

	if (pos < 0)
		return RS_CORRUPT;
	ssize_t r = pread_full(d->basis_fd, *buf, *len, (off_t)pos);
	if (r < 0) {
		d->err = errno;
		snprintf(d->why, sizeof(d->why), "reading the old copy: %s",
		    strerror(errno));
		return RS_IO_ERROR;
	}
	if (r == 0) {
		d->err = EBADMSG;
		snprintf(d->why, sizeof(d->why), "the delta copies from "
		    "offset %lld, past the old copy's end", (long long)pos);
		return RS_IO_ERROR;
	}
	*len = (size_t)r;
	return RS_DONE;
}

/* A whole chunk of the result (the last may be short): hashed, written. */
static int
write_result(void *arg, const uint8_t *p, size_t n)
{
	struct delta_dec *d = arg;

	if (n > d->size - d->written) {
		d->err = EBADMSG;
		snprintf(d->why, sizeof(d->why), "the delta makes more than "
		    "the %llu bytes announced", (unsigned long long)d->size);
		return -1;
	}
	chash_chunk(d->hash, d->written, p, n);
	if (pwrite_full(d->out_fd, p, n, (off_t)d->written) < 0) {
		d->err = errno;
		snprintf(d->why, sizeof(d->why), "write: %s", strerror(errno));
		return -1;
	}
	d->written += n;
	return 0;
}

struct delta_dec *
delta_dec_new(int basis_fd, int out_fd, uint64_t size)
{
	struct delta_dec *d = xcalloc(1, sizeof(*d));

	quiet_library();
	d->basis_fd = basis_fd;
	d->out_fd = out_fd;
	d->size = size;
	d->hash = XXH3_createState();
	if (d->hash == NULL)
		fatal("out of memory");
	XXH3_128bits_reset(d->hash);
	d->out = (struct job_out){ xmalloc(CHASH_CHUNK), CHASH_CHUNK, 0,
	    write_result, d, false };
	d->job = rs_patch_begin(copy_basis, d);
	return d;
}

/* A failed step, said in why with errno set: our own reason when there is
 * one, else librsync's. */
static int
dec_fail(struct delta_dec *d, rs_result r, char *why, size_t whylen)
{
	if (d->err) {
		snprintf(why, whylen, "%s", d->why);
		errno = d->err;
		return -1;
	}
	snprintf(why, whylen, "a delta librsync refused: %s", job_strerror(r));
	errno = EBADMSG;
	return -1;
}

int
delta_dec_feed(struct delta_dec *d, const uint8_t *p, size_t n, char *why,
    size_t whylen)
{
	if (d->done) {
		if (n == 0)
			return 0;
		return dec_fail(d, JOB_TRAILING, why, whylen);
	}
	rs_result r = job_pump(d->job, p, n, false, &d->out);
	if (r == RS_DONE)
		d->done = true;
	if (r == RS_DONE || r == RS_BLOCKED)
		return 0;
	return dec_fail(d, r, why, whylen);
}

int
delta_dec_finish(struct delta_dec *d, const uint8_t expect[CHASH_LEN],
    char *why, size_t whylen)
{
	uint8_t got[CHASH_LEN];

	if (!d->done) {
		rs_result r = job_pump(d->job, NULL, 0, true, &d->out);
		if (r != RS_DONE)
			return dec_fail(d, r, why, whylen);
		d->done = true;
	}
	if (d->written != d->size) {
		snprintf(why, whylen, "the delta makes %llu bytes, not the %llu "
		    "announced", (unsigned long long)d->written,
		    (unsigned long long)d->size);
		errno = EBADMSG;
		return -1;
	}
	chash_end(d->hash, d->size, got);
	if (memcmp(got, expect, CHASH_LEN) != 0) {
		snprintf(why, whylen, "the patched file is not the primary's "
		    "content (the old copy changed since it was signed?)");
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

void
delta_dec_free(struct delta_dec *d)
{
	if (d == NULL)
		return;
	if (d->job)
		rs_job_free(d->job);
	XXH3_freeState(d->hash);
	free(d->out.buf);
	free(d);
}
