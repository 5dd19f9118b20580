#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "resolve.h"
#include "banned.h"

void
resolve_init(struct resolver *r, int rootfd, int stagefd)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };
	long fd;

	memset(r, 0, sizeof(*r));
	r->basefd[0] = rootfd;
	r->basefd[1] = stagefd;
	r->cache_fd = -1;
	r->cache_base = -1;
	fd = syscall(SYS_openat2, rootfd, ".", &how, sizeof(how));
	if (fd >= 0) {
		close((int)fd);
		r->use_openat2 = true;
	} else {
		log_warn("openat2 is not available (%s): confining paths by a "
		    "component walk instead", strerror(errno));
	}
}

void
resolve_forget(struct resolver *r)
{
	if (r->cache_fd >= 0)
		close(r->cache_fd);
	r->cache_fd = -1;
	r->cache_base = -1;
	r->cache_ino = 0;
	buf_reset(&r->cache_path);
}

int
resolve_ino(struct resolver *r, int fd, uint64_t *ino)
{
	struct stat st;

	if (fd >= 0 && fd == r->cache_fd && r->cache_ino != 0) {
		*ino = r->cache_ino;
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return -1;
	*ino = (uint64_t)st.st_ino;
	if (fd == r->cache_fd)
		r->cache_ino = *ino;
	return 0;
}

void
resolve_release(struct resolver *r)
{
	resolve_forget(r);
	buf_release(&r->cache_path);
}

/* Open one piece (< PATH_MAX bytes, valid components) relative to dirfd. */
static int
open_piece(struct resolver *r, int dirfd, const char *piece)
{
	if (r->use_openat2) {
		struct open_how how = {
			.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
		};
		long fd;
		do {
			fd = syscall(SYS_openat2, dirfd, piece, &how, sizeof(how));
		} while (fd < 0 && errno == EAGAIN);
		return (int)fd;
	}
	/* Component walk: O_NOFOLLOW on each single name refuses symlinks. */
	char comp[NAME_MAX + 1];
	const char *p = piece;
	int fd = dirfd;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		memcpy(comp, p, n);
		comp[n] = '\0';
		/* Callers check paths, but this fallback holds the line on
		 * its own: no "." or "..", no empty component. */
		if (n == 0 || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			if (fd != dirfd)
				close(fd);
			errno = EXDEV;
			return -1;
		}
		int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		int saved = errno;
		if (fd != dirfd)
			close(fd);
		if (next < 0) {
			errno = saved;
			return -1;
		}
		fd = next;
		p += n + (slash ? 1 : 0);
	}
	if (fd == dirfd)
		fd = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd;
}

static int
open_long(struct resolver *r, int basefd, const char *path, size_t len)
{
	char piece[PATH_MAX];
	size_t off = 0;
	int fd = -1;

	if (len == 0)
		return openat(basefd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	while (off < len) {
		/* The longest run of whole components that fits in a piece. */
		size_t end = len;
		if (end - off >= sizeof(piece)) {
			end = off + sizeof(piece) - 1;
			while (end > off && path[end] != '/')
				end--;
			if (end == off) {
				errno = ENAMETOOLONG;
				goto fail;
			}
		}
		memcpy(piece, path + off, end - off);
		piece[end - off] = '\0';
		int next = open_piece(r, fd >= 0 ? fd : basefd, piece);
		int saved = errno;
		if (fd >= 0)
			close(fd);
		fd = next;
		if (fd < 0) {
			errno = saved;
			return -1;
		}
		off = end + (end < len ? 1 : 0);
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int
resolve_dir(struct resolver *r, int base, const char *path, size_t len)
{
	if (r->cache_fd >= 0 && r->cache_base == base &&
	    r->cache_path.len == len &&
	    (len == 0 || memcmp(r->cache_path.data, path, len) == 0))
		return r->cache_fd;
	int fd = open_long(r, r->basefd[base], path, len);
	if (fd < 0)
		return -1;
	resolve_forget(r);
	r->cache_fd = fd;
	r->cache_base = base;
	buf_add(&r->cache_path, path, len);
	return fd;
}
