/*
 * xattrs: which extended attributes georep replicates, and reading them.
 *
 * Managed: user.*, trusted.*, security.capability, and the POSIX ACLs
 * (system.posix_acl_access, system.posix_acl_default), whose raw values are
 * the ACLs themselves.  Others (security.selinux, ...) belong to the host
 * and are left alone on both sides.  trusted.* and security.* need privilege
 * to write; without it they are skipped.
 */
#ifndef GEOREP_XATTRS_H
#define GEOREP_XATTRS_H

#include <stdbool.h>
#include <stdint.h>

#include "attrs.h"
#include "util.h"

bool xattr_managed(const char *name, bool privileged);

/*
 * Read the managed xattrs of fd (if >= 0, a real descriptor) or else of the
 * object named by path into a (sorted by
 * name; storage in store; free a->xattrs).  follow: whether a final symlink
 * is followed (true for a /proc/self/fd/N path, which must be followed to
 * reach the inode).  Returns 0, or -1 with errno.  ENOTSUP/EOPNOTSUPP from
 * the filesystem means "none".
 */
int xattrs_read(int fd, const char *path, bool follow, bool privileged,
    struct attrs *a, struct buf *store);
/* A 64-bit digest of the xattr list, 0 when there is none. */
uint64_t xattrs_digest(const struct attrs *a);

#endif
