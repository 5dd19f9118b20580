/*
 * Helpers shared by the unit tests: a scratch directory per test, removed
 * afterwards, and small file builders.  Everything is static inline so a
 * test file that uses only part of it compiles without warnings.
 */
#ifndef GEOREP_TESTUTIL_H
#define GEOREP_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int
testutil_rm_one(const char *p, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p);
	return unlink(p);
}

/* rm -rf, without following symlinks or leaving the filesystem. */
static inline void
rm_rf(const char *path)
{
	nftw(path, testutil_rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* A fresh scratch directory, its path in out (PATH_MAX bytes). */
static inline void
scratch_make(char *out, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, PATH_MAX, "%s/georep-%s-XXXXXX",
	    tmp && *tmp ? tmp : "/tmp", tag);
	if (mkdtemp(out) == NULL) {
		perror("mkdtemp");
		abort();
	}
}

/* Write s (strlen bytes) to name in dirfd, replacing it. */
static inline int
put_file_at(int dirfd, const char *name, const char *s)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	size_t n = strlen(s);

	if (fd < 0)
		return -1;
	if (write(fd, s, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The whole content of a small file, NUL-terminated, in a static buffer;
 * NULL if it cannot be read. */
static inline const char *
get_file_at(int dirfd, const char *name)
{
	static char content[65536];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, content, sizeof(content) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	content[n] = '\0';
	return content;
}

#endif
