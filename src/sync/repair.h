/*
 * repair: what `georep verify --repair` found, handed to the turn that
 * fixes it (DESIGN.md, "verify").
 *
 * Verify does not write the secondary itself: one writer per secondary.
 * It writes what differs, by the primary's fid, into a repair file; the
 * index is then told what the secondary really holds, and a crawl of the
 * whole primary sends exactly that again:
 *
 *   REPAIR_CONTENT  the content differs: the index forgets that the
 *                   secondary has it (IREC_CONTENT), so it is sent
 *   REPAIR_ATTRS    an attribute differs: the attributes go again
 *   REPAIR_FORGET   the object must be made again (a symlink's target, a
 *                   device's number, another type): the index forgets it
 *   REPAIR_WALK     names differ (missing, extra, links, types): the next
 *                   turn walks the secondary and rebuilds the index's
 *                   names from it (reconcile), removing what the primary
 *                   does not have and forgetting what the secondary lacks
 *
 * The file: "GRREPAIR", u32 version, u32 count, the records (u8 flags, a
 * fid; length 0 for a record without an object), u64 XXH3 of all that.
 * repair_save() adds to the records already waiting (durable_write_at: a
 * reader sees the old list or the new one).  repair_take() renames the
 * file aside (a save that comes meanwhile starts a new one), applies it in
 * one index transaction, and removes it once committed; a file renamed
 * aside by a run that crashed is applied first.  Applying twice does no
 * harm.  Functions return 0 (take: 1 when something was applied), or -1
 * with the path and the reason logged.
 */
#ifndef GEOREP_REPAIR_H
#define GEOREP_REPAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/util.h"

struct fid;
struct index;

#define REPAIR_CONTENT	0x1
#define REPAIR_ATTRS	0x2
#define REPAIR_FORGET	0x4
#define REPAIR_WALK	0x8

struct repair_list {
	struct buf recs;	/* the records, encoded */
	uint32_t n;
};

void repair_add(struct repair_list *l, uint8_t flags, const struct fid *fid);
void repair_release(struct repair_list *l);
/* Add l to the repair file at dirfd/name. */
int repair_save(const struct repair_list *l, int dirfd, const char *name);
/* Apply and remove the repair file at dirfd/name (and its taken copy). */
int repair_take(struct index *ix, int dirfd, const char *name);

#endif
