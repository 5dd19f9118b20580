/*
 * attrs: the attribute set of one object -- mode, owner, mtime and its
 * managed xattrs -- as xattrs_read() fills it, the turn compares it and
 * the wire carries it (proto.h: put_attrs, get_attrs).
 *
 * mask says which parts are meant (ATTR_*): a part whose bit is clear is
 * neither compared nor applied.  ATTR_XATTRS and ATTR_ACLS each stand for
 * a category of xattrs, the POSIX ACLs (system.posix_acl_*) being the
 * second; with either bit set, xattrs lists the whole category, and an
 * empty list means "none".  The names and values point into storage that
 * whoever filled the set keeps (a frame, the store of xattrs_read); the
 * array itself is allocated and freed by attrs_release().
 */
#ifndef GEOREP_ATTRS_H
#define GEOREP_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTR_MODE	0x1
#define ATTR_OWNER	0x2
#define ATTR_MTIME	0x4
#define ATTR_XATTRS	0x8	/* the xattrs other than ACLs */
#define ATTR_ACLS	0x10	/* the POSIX ACLs */
#define ATTR_ALL	0x1f

struct xattr {
	const char *name;	/* not NUL-terminated */
	uint32_t name_len;
	const uint8_t *value;
	uint32_t value_len;
};

struct attrs {
	uint32_t mask;
	uint32_t mode;		/* permission, set-id and sticky bits */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t nxattrs;
	struct xattr *xattrs;	/* owned by whoever filled it */
};

/* Free the xattr array (not what it points to); the set has none after. */
void attrs_release(struct attrs *a);
/* Whether an xattr name is a POSIX ACL (system.posix_acl_*). */
bool xattr_is_acl(const char *name, size_t len);

#endif
