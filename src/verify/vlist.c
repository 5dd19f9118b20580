#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/attrs.h"
#include "../common/log.h"
#include "../common/names.h"
#include "../common/xattrs.h"
#include "../protocol/proto.h"
#include "vlist.h"
#include "../common/banned.h"

struct vname {
	char *name;
	size_t len;
};

static int
cmp_vname(const void *a, const void *b)
{
	const struct vname *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The names of the directory after `after`, sorted. */
static int
read_names(DIR *d, bool root, const char *after, size_t alen,
    struct vname **out, size_t *nout)
{
	struct vname *v = NULL, a = { (char *)after, alen };
	size_t n = 0, cap = 0;
	struct dirent *de;

	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (root && !strcmp(de->d_name, GEOREP_STATE_DIR)))
			continue;
		struct vname e = { de->d_name, strlen(de->d_name) };
		if (alen && cmp_vname(&e, &a) <= 0)
			continue;
		XGROW(v, cap, n + 1);
		v[n].name = xstrndup(e.name, e.len);
		v[n++].len = e.len;
	}
	int err = errno;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_vname);
	*out = v;
	*nout = n;
	errno = err;
	return err ? -1 : 0;
}

/* One entry, or 1 when it is gone.  in_dir: the working directory is the
 * directory listed, so the xattrs are read by the bare name (a lookup of
 * one component, where /proc/self/fd/N/NAME costs three). */
static int
add_entry(int fd, bool in_dir, const struct vname *nm, bool privileged,
    struct buf *out, struct buf *store)
{
	struct vlist_entry e;
	struct attrs a = { 0 };
	struct stat st;
	char target[VLIST_TARGET_MAX + 1], path[64 + NAME_MAX];

	if (fstatat(fd, nm->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 1;
	memset(&e, 0, sizeof(e));
	e.ino = st.st_ino;
	e.mode = st.st_mode;
	e.uid = st.st_uid;
	e.gid = st.st_gid;
	e.nlink = (uint32_t)st.st_nlink;
	e.size = (uint64_t)st.st_size;
	e.rdev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ?
	    (uint64_t)st.st_rdev : 0;
	e.mtime_sec = st.st_mtim.tv_sec;
	e.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	e.ctime_sec = st.st_ctim.tv_sec;
	e.ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	e.name = nm->name;
	e.name_len = (uint32_t)nm->len;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(fd, nm->name, target, sizeof(target));
		if (n <= 0 || (size_t)n > VLIST_TARGET_MAX)
			return 1;	/* replaced meanwhile, or too long */
		e.target = target;
		e.target_len = (uint32_t)n;
	}
	if (in_dir)
		snprintf(path, sizeof(path), "%s", nm->name);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fd, nm->name);
	if (xattrs_read(-1, path, false, privileged, &a, store) < 0) {
		if (errno == ENOENT)
			return 1;
		e.xattr_errno = errno > PROTO_ERRNO_MAX ? EIO : (uint32_t)errno;
		a.nxattrs = 0;
	} else if (a.nxattrs > PROTO_XATTR_COUNT_MAX) {
		/* More than an entry may carry (get_vlist_entry refuses
		 * it, and the page with it): said, not listed. */
		e.xattr_errno = E2BIG;
		a.nxattrs = 0;
	}
	put_vlist_entry(out, &e, &a);
	free(a.xattrs);
	return 0;
}

int
vlist_dir(int dirfd, bool root, const char *after, size_t alen,
    bool privileged, struct buf *out, bool *more)
{
	struct vname *v = NULL;
	struct buf store = BUF_INIT;
	size_t n = 0;
	int rc = 0;

	*more = false;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		errno = err;
		return -1;
	}
	rc = read_names(d, root, after, alen, &v, &n);
	int err = errno;
	/* Into the directory for the page, back after: nothing in georep
	 * resolves a relative path against the working directory. */
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	bool in_dir = cwd >= 0 && fchdir(dirfd) == 0;
	/* The root's first page begins with the root itself: its mode,
	 * owner, mtime and xattrs are the tree's too. */
	if (rc == 0 && root && alen == 0) {
		struct vname self = { (char *)".", 1 };
		add_entry(dirfd, in_dir, &self, privileged, out, &store);
	}
	for (size_t i = 0; i < n; i++) {
		/* A page ends once past PROTO_LIST_BYTES: at most one
		 * entry (VLIST_ENTRY_MAX) beyond it. */
		if (rc == 0 && !*more) {
			if (out->len >= PROTO_LIST_BYTES)
				*more = true;
			else
				add_entry(dirfd, in_dir, &v[i], privileged, out,
				    &store);
		}
		free(v[i].name);
	}
	free(v);
	buf_release(&store);
	if (in_dir && fchdir(cwd) < 0)
		fatal("cannot return to the working directory: %s",
		    strerror(errno));
	if (cwd >= 0)
		close(cwd);
	closedir(d);
	errno = err;
	return rc;
}
