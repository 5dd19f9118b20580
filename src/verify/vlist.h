/*
 * vlist: one page of a directory as `georep verify` compares it -- each
 * entry with its type, mode, owner, links, size, device, mtime, symlink
 * target and xattrs (proto.h, struct vlist_entry) -- built by the same code
 * on both sides: the secondary answers MSG_VLIST with it, and verify lists
 * the primary with it, so the two pages compare field by field.
 *
 * vlist_dir() lists dirfd (any descriptor of the directory; it opens its
 * own) in byte order, the names after `after` (alen 0: from the start),
 * appending entries to out until about PROTO_LIST_BYTES; *more says
 * whether some were left for the next page.  root: the tree's top, where
 * the state directory (.georep) is passed over, and whose first page (alen
 * 0) begins with an entry for the top itself, named ".".  privileged: whether the
 * xattrs that need privilege (trusted.*, security.capability) are read.
 * An entry gone between readdir and its stat is passed over; xattrs that
 * cannot be read are reported in the entry (xattr_errno), not as a
 * failure.  Returns 0, or -1 with errno (the directory could not be read).
 */
#ifndef GEOREP_VLIST_H
#define GEOREP_VLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/util.h"

int vlist_dir(int dirfd, bool root, const char *after, size_t alen,
    bool privileged, struct buf *out, bool *more);

#endif
