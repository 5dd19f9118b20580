#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <xxhash.h>

#include "util.h"
#include "xattrs.h"
#include "banned.h"

bool
xattr_managed(const char *name, bool privileged)
{
	if (strncmp(name, "user.", 5) == 0)
		return true;
	if (strcmp(name, "system.posix_acl_access") == 0 ||
	    strcmp(name, "system.posix_acl_default") == 0)
		return true;
	if (!privileged)
		return false;
	return strncmp(name, "trusted.", 8) == 0 ||
	    strcmp(name, "security.capability") == 0;
}

static int
cmp_xattr(const void *a, const void *b)
{
	const struct xattr *x = a, *y = b;
	uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);

	return c ? c : (int)x->name_len - (int)y->name_len;
}

static bool
unsupported(int err)
{
	return err == ENOTSUP || err == EOPNOTSUPP;
}

int
xattrs_read(int fd, const char *path, bool follow, bool privileged,
    struct attrs *a, struct buf *store)
{
	char *names = NULL;
	ssize_t n;

	a->nxattrs = 0;
	a->xattrs = NULL;
	buf_reset(store);
	for (;;) {
		n = fd >= 0 ? flistxattr(fd, NULL, 0) : follow ?
		    listxattr(path, NULL, 0) : llistxattr(path, NULL, 0);
		if (n < 0)
			return unsupported(errno) ? 0 : -1;
		if (n == 0)
			return 0;
		names = xrealloc(names, (size_t)n);
		n = fd >= 0 ? flistxattr(fd, names, (size_t)n) : follow ?
		    listxattr(path, names, (size_t)n) :
		    llistxattr(path, names, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE) {
			free(names);
			return unsupported(errno) ? 0 : -1;
		}
	}
	/* First pass: values into store, remembering offsets. */
	size_t count = 0, cap = 0;
	struct { size_t noff, nlen, voff, vlen; } *ent = NULL;
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		if (!xattr_managed(p, privileged))
			continue;
		ssize_t v;
		for (;;) {
			v = fd >= 0 ? fgetxattr(fd, p, NULL, 0) : follow ?
			    getxattr(path, p, NULL, 0) :
			    lgetxattr(path, p, NULL, 0);
			if (v < 0)
				break;
			buf_reserve(store, (size_t)v + strlen(p));
			void *dst = store->data + store->len;
			v = fd >= 0 ? fgetxattr(fd, p, dst, (size_t)v) : follow ?
			    getxattr(path, p, dst, (size_t)v) :
			    lgetxattr(path, p, dst, (size_t)v);
			if (v >= 0 || errno != ERANGE)
				break;
		}
		if (v < 0) {
			if (errno == ENODATA)
				continue;	/* removed meanwhile */
			int saved = errno;
			free(names);
			free(ent);
			errno = saved;
			return -1;
		}
		XGROW(ent, cap, count + 1);
		ent[count].voff = store->len;
		ent[count].vlen = (size_t)v;
		store->len += (size_t)v;
		ent[count].noff = store->len;
		ent[count].nlen = strlen(p);
		buf_add(store, p, strlen(p));
		count++;
	}
	free(names);
	if (count > 0) {
		a->xattrs = xcalloc(count, sizeof(*a->xattrs));
		for (size_t i = 0; i < count; i++) {
			a->xattrs[i].name = (const char *)store->data + ent[i].noff;
			a->xattrs[i].name_len = (uint32_t)ent[i].nlen;
			a->xattrs[i].value = store->data + ent[i].voff;
			a->xattrs[i].value_len = (uint32_t)ent[i].vlen;
		}
		qsort(a->xattrs, count, sizeof(*a->xattrs), cmp_xattr);
	}
	a->nxattrs = (uint32_t)count;
	free(ent);
	return 0;
}

uint64_t
xattrs_digest(const struct attrs *a)
{
	XXH3_state_t *st;
	uint64_t h;

	if (a->nxattrs == 0)
		return 0;
	st = XXH3_createState();
	if (st == NULL)
		abort();
	XXH3_64bits_reset(st);
	for (uint32_t i = 0; i < a->nxattrs; i++) {
		uint32_t lens[2] = { a->xattrs[i].name_len, a->xattrs[i].value_len };
		XXH3_64bits_update(st, lens, sizeof(lens));
		XXH3_64bits_update(st, a->xattrs[i].name, a->xattrs[i].name_len);
		XXH3_64bits_update(st, a->xattrs[i].value, a->xattrs[i].value_len);
	}
	h = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return h ? h : 1;
}
