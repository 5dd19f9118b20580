/*
 * journal: the durable, append-only record of operations on the primary,
 * cut into segments (DESIGN.md, "Journal").
 *
 * A segment is a file `SEQ.seg` (SEQ: 20 decimal digits, increasing) in the
 * session's journal directory: a 24-byte header (magic "GRJ\0", u32
 * version, u64 sequence, u64 creation time in ns) and records.  A record is
 * a u32 length of its body, a u32 XXH32 checksum of the body, and the body
 * (struct jrec, encoded by jrec_encode).  Integers are little-endian.
 *
 * Writing: journal_open (which seals a segment a crash left open), then
 * journal_append for each record (buffered, written in batches),
 * journal_cut to seal the open segment (written and fdatasync'ed, a new one
 * started) and hand its sequence to the syncer; journal_close.
 * Reading: journal_read_segment decodes a whole segment.  A torn or corrupt
 * tail -- a short record or a bad checksum, as a crash during a write
 * leaves -- ends the segment there: the records before it are returned,
 * *torn is set, and the caller runs a full crawl (which covers what was
 * lost).  Nothing after a bad record is trusted.  A segment without a
 * valid header -- empty or shorter than one, as a monitor stopped while
 * creating it leaves, or with another magic or sequence -- is torn with
 * no record.  A segment of another version is refused, not guessed at:
 * -1 with errno EPROTONOSUPPORT, logged with its path, the version found
 * and JOURNAL_VERSION.  Each of these is logged here, with what is done.
 * journal_remove deletes a segment every session has applied.
 */
#ifndef GEOREP_JOURNAL_H
#define GEOREP_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/fid.h"
#include "../common/util.h"

/* The segment format this build reads and writes (the header's version):
 * bumped whenever an older georep would misread a segment. */
#define JOURNAL_VERSION		1
#define JOURNAL_RECORD_MAX	2048	/* a body never exceeds this */

enum jrec_type {
	J_CREATE = 1,	/* fid created as (parent, name), of type `mode` */
	J_MKDIR,
	J_MKNOD,
	J_SYMLINK,
	J_LINK,		/* a new name (parent, name) for fid */
	J_RENAME,	/* fid moved from (parent, name) to (parent2, name2) */
	J_UNLINK,	/* the name (parent, name) of fid is gone */
	J_RMDIR,
	J_SETATTR,	/* mode, owner or times of fid changed */
	J_SETXATTR,	/* an xattr of fid changed */
	J_DATA,		/* the content of fid changed */
	J_OVERFLOW,	/* events were lost: the next turn crawls */
	J_CUT,		/* the segment was cut at time_ns, after the recorder
			 * had read everything queued: a change made before
			 * that time is in this segment or an earlier one */
};

struct jrec {
	uint8_t type;
	int64_t time_ns;	/* when the recorder saw it */
	uint32_t mode;		/* type and permission bits, where known */
	struct fid fid;		/* may be empty (len 0) where unknown */
	struct fid parent, parent2;
	uint8_t name_len, name2_len;
	char name[256], name2[256];
};

/* Append the encoded record (length, checksum, body) to b. */
void jrec_encode(struct buf *b, const struct jrec *r);
/*
 * Decode the record at p (len bytes available).  Returns the bytes it
 * takes (> 0), 0 if the record runs past len (a torn tail), -1 if it is
 * corrupt (bad length, checksum or field).
 */
ssize_t jrec_decode(const uint8_t *p, size_t len, struct jrec *r);
const char *jrec_type_name(uint8_t type);

struct journal;

/* durable: fdatasync each segment when it is cut.  The daemon does not
 * need it: every start of a monitor begins with a full crawl (nothing can
 * prove a record gapless across a monitor that died), so the journal only
 * has to outlive the worker, which the page cache does. */
int journal_open(struct journal **out, const char *dir, bool durable);
/* Buffered: written by journal_flush, by journal_cut, or when 64 KiB wait. */
int journal_append(struct journal *j, const struct jrec *r);
int journal_flush(struct journal *j);
/* Records appended since the last cut. */
size_t journal_pending(const struct journal *j);
/* Seal the open segment: write, fdatasync, start a new one.  *seq gets the
 * sealed segment's sequence (0 when there was nothing to seal). */
int journal_cut(struct journal *j, uint64_t *seq);
void journal_close(struct journal *j);

/* The sealed segments in dir, oldest first (caller frees *seqs). */
int journal_list(const char *dir, uint64_t **seqs, size_t *n);
struct jrec_list {
	struct jrec *v;
	size_t n, cap;
};
int journal_read_segment(const char *dir, uint64_t seq, struct jrec_list *out,
    bool *torn);
void jrec_list_release(struct jrec_list *l);
int journal_remove(const char *dir, uint64_t seq);

#endif
