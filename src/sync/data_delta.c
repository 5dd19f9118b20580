/*
 * data_delta: the primary's half of an rsync-style delta (delta.h), for
 * send_put (data.c).
 *
 * A large file the secondary already holds, changed: SIGNATURE asks the
 * secondary for the signature of its copy -- whatever file is at the name
 * now, not the inode the index believes (the patch is checked against the
 * primary's content hash, so any old copy is a fair basis) -- a page at a
 * time, and the turn waits for each (the round trips a delta costs, one
 * per DELTA_PAGE_BYTES of the old copy; the PUTs before them stay
 * pipelined).  The pages are joined into one signature.  The file is then read once, in order, a chunk at a
 * time: each chunk hashed as send_extents hashes it, and fed to librsync,
 * whose delta goes out as the PUT_DELTA's DATA frames.  Memory: the
 * signature (at most DELTA_SIG_MAX) and its hash table, and a chunk.
 *
 * Whatever goes wrong with a delta, the file goes whole: no signature
 * (the copy is gone, or too large to sign), librsync failing here, or the
 * secondary refusing the patch (its copy changed since it was signed, or
 * anything else): that PUT is sent again, whole, in the same turn, once
 * the PUTs out are answered (run_dops).  A signature that is not shaped
 * as one is a protocol error: the secondary broke the wire.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/delta.h"
#include "../common/log.h"
#include "turn_int.h"
#include "../common/banned.h"

_Static_assert(PROTO_DATA_CHUNK == CHASH_CHUNK,
    "a delta's chunks are hashed as send_extents hashes its frames");

/* A file with several names is written in place on the secondary: its
 * delta is patched aside (never over its own basis) and copied into the
 * inode once checked -- the inode is touched only then, and written as a
 * whole PUT in place writes it. */
bool
delta_wanted(const struct turn *t, const struct dop *d, const struct stat *st)
{
	uint64_t size = (uint64_t)st->st_size;
	uint64_t threshold = t->opts->delta_threshold;

	if (threshold == SYNC_DELTA_AUTO)
		threshold = t->conn->host[0] ? SYNC_DELTA_REMOTE : 0;
	if (d->is_new || d->whole || threshold == 0)
		return false;
	/* A sparse file goes by its extents (its holes stay holes). */
	if ((uint64_t)st->st_blocks * 512 < size)
		return false;
	return size >= threshold;
}

void
delta_on_signature(struct turn *t, const struct reply *rep)
{
	struct sig_wait *w = &t->sig;

	w->pending = false;
	w->err = rep->err;
	w->size = rep->value;
	buf_reset(&w->data);
	buf_add(&w->data, rep->msg, rep->msg_len);
}

/* Ask for the page of the signature from block `first` and wait for it
 * (the replies before it are handled meanwhile, in order). */
static int
ask_signature(struct turn *t, size_t idx, const struct plink *at,
    uint64_t first, bool partial)
{
	struct conn *c = t->conn;
	size_t s = conn_begin(c, MSG_SIGNATURE, COOKIE_SIG | idx, true);

	if (turn_oref(t, &c->out, &at->parent, at->name, at->name_len,
	    NULL) != 0)
		fatal("internal error: SIGNATURE of an unresolved path");
	/* Any file (see above), or the partial kept for this name. */
	put_u64(&c->out, partial ? SIG_PARTIAL : 0);
	put_u64(&c->out, first);
	t->sig.pending = true;
	if (conn_end(c, s) < 0)
		return -1;
	while (t->sig.pending && !c->failed)
		conn_pump(c, true);
	return c->failed ? -1 : 0;
}

/*
 * The next page of the signature into sig (its header only with the first
 * page): 1 when added, 0 when there is none (said in the log: the file
 * goes whole), -1 when the connection failed (a page that is not one is a
 * protocol error).  *size: the size of the old copy, which every page must
 * say alike (else it changed while signed).
 */
static int
next_page(struct turn *t, size_t idx, const struct plink *at,
    const char *disp, uint64_t first, uint64_t *size, struct buf *sig,
    bool partial)
{
	struct sig_wait *w = &t->sig;
	char why[256];

	if (ask_signature(t, idx, at, first, partial) < 0)
		return -1;
	if (w->err) {
		/* Most large files have no partial: said at debug only. */
		log_msg(partial ? LOG_LVL_DEBUG : LOG_LVL_INFO, "%s: %s: no "
		    "%s from the secondary (%.*s): sent whole", partial ?
		    "resume" : "delta", disp, partial ? "partial copy" :
		    "signature", (int)w->data.len, (char *)w->data.data);
		return 0;
	}
	if (first > 0 && w->size != *size) {
		log_info("delta: %s: the secondary's copy changed while it was "
		    "signed: sent whole", disp);
		return 0;
	}
	*size = w->size;
	if (!delta_sig_check(w->data.data, w->data.len, w->size, first, why,
	    sizeof(why))) {
		conn_protocol_error(t->conn, "a reply to SIGNATURE for %s: %s",
		    disp, why);
		return -1;
	}
	size_t skip = first > 0 ? DELTA_SIG_HDR : 0;
	buf_add(sig, w->data.data + skip, w->data.len - skip);
	return 1;
}

struct delta_enc *
delta_fetch(struct turn *t, size_t idx, const struct plink *at,
    const char *disp, bool partial)
{
	struct buf sig = BUF_INIT;
	struct delta_enc *e = NULL;
	uint64_t size = 0, first = 0, total = 1;
	uint32_t block;
	char why[256];
	int rc = 1;

	while (rc == 1 && first < total) {
		rc = next_page(t, idx, at, disp, first, &size, &sig, partial);
		if (rc == 1 && delta_block_len(size, &block)) {
			total = delta_blocks(size, block);
			first += delta_page_blocks(block);
		}
	}
	if (rc == 1) {
		e = delta_enc_new(sig.data, sig.len, why, sizeof(why));
		if (e == NULL)
			conn_protocol_error(t->conn, "a reply to SIGNATURE for "
			    "%s: %s", disp, why);
	}
	buf_reset(&t->sig.data);
	buf_release(&sig);
	return e;
}

/* Where the delta goes: DATA frames of the PUT just begun, their offsets
 * counting the delta's bytes. */
struct delta_sink {
	struct turn *t;
	uint64_t off;
};

static int
send_piece(void *arg, const uint8_t *p, size_t n)
{
	struct delta_sink *k = arg;
	struct conn *c = k->t->conn;
	size_t s = conn_begin_cont(c, MSG_DATA, false, 0);

	put_u64(&c->out, k->off);
	put_bytes(&c->out, p, (uint32_t)n);
	k->off += n;
	k->t->st->bytes_sent += n;
	return conn_end(c, s);
}

/* Progress, and a stop asked for: as send_extents. */
static bool
delta_progress(struct turn *t)
{
	if (t->opts->progress)
		progress_update(t, false);
	turn_report(t, false);
	return turn_stopped(t);
}

int
delta_send(struct turn *t, int fd, uint64_t size, struct delta_enc *e,
    uint8_t hash[16], uint64_t *sent)
{
	struct delta_sink sink = { t, 0 };
	XXH3_state_t *st = XXH3_createState();
	uint8_t *chunk = xmalloc(CHASH_CHUNK);
	uint64_t off = 0;
	int rc = delta_enc_begin(e) < 0 ? -2 : 0;
	bool eof = false;

	if (st == NULL)
		fatal("out of memory");
	XXH3_128bits_reset(st);
	while (rc == 0 && !eof) {
		size_t n = size - off < CHASH_CHUNK ? (size_t)(size - off) :
		    CHASH_CHUNK;
		ssize_t r = n ? pread_full(fd, chunk, n, (off_t)off) : 0;
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r > 0)
			chash_chunk(st, off, chunk, (size_t)r);
		off += (uint64_t)r;
		t->done_bytes += (uint64_t)r;
		/* Shorter than its size: it shrank under us, and the restat
		 * after the read sees it. */
		eof = (size_t)r < n || off == size;
		if (delta_enc_feed(e, chunk, (size_t)r, eof, send_piece,
		    &sink) < 0)
			rc = t->conn->failed ? -1 : -2;
		else if (!eof && delta_progress(t))
			break;	/* the caller aborts the PUT */
	}
	int err = errno;
	chash_end(st, size, hash);
	XXH3_freeState(st);
	free(chunk);
	*sent = sink.off;
	errno = err;
	return rc;
}
