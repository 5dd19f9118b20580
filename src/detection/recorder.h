/*
 * recorder: the kernel's change notifications on the primary, turned into
 * journal records (DESIGN.md, "Change detection").
 *
 * Two kinds:
 *   fanotify  one mark on the whole filesystem (FAN_MARK_FILESYSTEM), with
 *             directory fid, name and target fid in every event
 *             (FAN_REPORT_DFID_NAME_TARGET) and both ends of a rename in
 *             one event (FAN_RENAME).  Needs CAP_SYS_ADMIN.  The mark sees
 *             the whole filesystem, so an event is kept only when its
 *             directory is inside the primary (checked once per directory
 *             and remembered; a directory renamed across the primary's
 *             edge forgets what was remembered).
 *   inotify   a watch on every directory of the primary, added before the
 *             directory is listed so nothing falls between; new and
 *             moved-in directories get theirs as their events arrive.
 *
 * What the journal needs from an event is which directories to list again
 * (the parent fids; a record with no name names a directory whose own
 * attributes changed): the turn finds what changed by comparing them with
 * the index (crawl_dirs).  Records of data and attribute changes are
 * written once per (directory, name) per segment: a file written a
 * thousand times between two cuts is one record.
 *
 * A lost event -- the kernel's queue overflowed, or a watch could not be
 * added -- is a J_OVERFLOW record: the next turn crawls the whole primary.
 */
#ifndef GEOREP_RECORDER_H
#define GEOREP_RECORDER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/fid.h"

struct journal;
struct recorder;

enum recorder_kind { RECORDER_FANOTIFY, RECORDER_INOTIFY };

struct recorder_opts {
	enum recorder_kind kind;
	const char *primary;	/* its real path */
	int rootfd;		/* the primary's root, open */
	uint64_t fsid;
	struct fid root;
};

/*
 * Start recording into j.  On failure returns -1 and says why in err
 * (EPERM for fanotify without privilege: the caller falls back to
 * inotify).  Nothing is recorded before this returns, everything after.
 */
int recorder_open(struct recorder **out, const struct recorder_opts *o,
    struct journal *j, char *err, size_t errlen);
/* The descriptor to poll for POLLIN. */
int recorder_fd(const struct recorder *r);
/* Read every queued event (without blocking) and append its records.
 * Returns the records appended, or -1 when recording cannot go on. */
ssize_t recorder_drain(struct recorder *r);
/* A segment was cut: records deduplicated so far may be written again. */
void recorder_segment_cut(struct recorder *r);
const char *recorder_kind_name(enum recorder_kind kind);
void recorder_close(struct recorder *r);

#endif
