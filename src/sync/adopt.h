/*
 * adopt: take over a secondary that already holds a copy of the primary
 * (DESIGN.md, "First contact"): made by rsync, tar or cp, restored from a
 * backup, left by a first sync that was cut off, or synced by georep from
 * this primary with an index since lost.  Nothing that matches is sent
 * again or touched.
 *
 * Both trees are walked together by verify's walk (verify.h: the
 * secondary's pages come in VLIST frames, a directory at a time, memory
 * bounded on both sides).  A name both sides have as the same kind of
 * object goes into the index as it is on the secondary (its inode number;
 * what the primary has for its attributes, so that the crawl after it
 * sends exactly what differs):
 *
 *   - the content is the secondary's when the sizes match and either the
 *     mtimes match too (the quick check, rsync's) or the content digests
 *     match (digested on each side at once, only digests on the wire:
 *     always with --checksum, and for files of one size whose mtimes
 *     differ); else the crawl sends the content, renamed over it;
 *   - the attributes (mode, owner, mtime, xattrs, ACLs) that differ are
 *     set by the crawl's SETATTR; where all match, nothing is sent;
 *   - a name of a file with several names on the primary joins the first
 *     name's record when it is the same inode on the secondary.
 *
 * What cannot be kept is removed from the secondary during the walk
 * (RMTREE, with its inode number): a name the primary does not have
 * (unless ignore_deletes), another kind of object, a symlink with another
 * target, a device with another number, a name that shares an inode on the
 * secondary that it does not share on the primary (or the other way).  The
 * crawl that follows makes what is missing.  A file the walk cannot read
 * on one side keeps its name, unadopted: the crawl sends it again (renamed
 * over it), or says why it cannot.
 *
 * Crash safety: the index holds the "adopting" mark from the first
 * records committed until the end; a run that finds it starts the
 * adoption again from an empty index (every step is safe to repeat).
 *
 *   adopt_tree()   0, or -1 (logged; the connection failed, the index
 *                  could not be written, or stop was set)
 *   adopt_pending() whether an adoption was cut off (the mark is there)
 */
#ifndef GEOREP_ADOPT_H
#define GEOREP_ADOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct index;
struct index_txn;
struct sync_target;

struct adopt_opts {
	bool checksum;		/* digest every file of one size */
	bool ignore_deletes;	/* keep names the primary lacks */
	bool no_owners, no_xattrs, no_acls;
	bool no_fsync;
	const char *const *excludes;
	size_t nexcludes;
	bool progress;
	volatile int *stop;
};

struct adopt_stats {
	uint64_t adopted;	/* names taken over as they are */
	uint64_t content;	/* of which the content is sent again */
	uint64_t attrs;		/* of which attributes are set again */
	uint64_t removed;	/* names removed from the secondary */
	uint64_t missing;	/* names only on the primary */
	uint64_t digested;	/* bytes of content digested on each side */
	uint64_t failures;	/* removals the secondary refused */
};

int adopt_tree(struct conn *c, struct index *ix, const struct sync_target *t,
    const struct adopt_opts *o, struct adopt_stats *st);
int adopt_pending(struct index_txn *txn, bool *pending);

#endif
