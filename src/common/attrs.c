#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "banned.h"

void
attrs_release(struct attrs *a)
{
	free(a->xattrs);
	a->xattrs = NULL;
	a->nxattrs = 0;
}

bool
xattr_is_acl(const char *name, size_t len)
{
	static const char acl[] = "system.posix_acl_";

	return len > sizeof(acl) - 1 && memcmp(name, acl, sizeof(acl) - 1) == 0;
}
