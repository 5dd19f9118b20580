/*
 * Helpers shared by the unit tests: a scratch directory per test, removed
 * afterwards, small file builders, and the log captured in memory.
 * Everything is static inline so a test file that uses only part of it
 * compiles without warnings.
 */
#ifndef GEOREP_TESTUTIL_H
#define GEOREP_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

/* Empty the directory fd (closed here), fd by fd: paths deeper than
 * PATH_MAX are removed too. */
static inline void
testutil_rm_under(int fd)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			continue;
		int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0) {
			testutil_rm_under(sub);
			unlinkat(fd, de->d_name, AT_REMOVEDIR);
		}
	}
	closedir(d);
}

/* rm -rf, without following symlinks. */
static inline void
rm_rf(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		unlink(path);
		return;
	}
	testutil_rm_under(fd);
	rmdir(path);
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

/* The log, captured from log_capture() to log_captured(), which returns
 * what was logged (the caller frees it) and sends the log back to
 * stderr. */
struct log_capture {
	FILE *f;
	char *text;
	size_t len;
};

static inline void
log_capture(struct log_capture *c)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	if (c->f == NULL) {
		perror("open_memstream");
		abort();
	}
	log_init("georep", LOG_LVL_DEBUG, c->f);
}

static inline char *
log_captured(struct log_capture *c)
{
	log_init("georep", LOG_LVL_INFO, NULL);
	if (fclose(c->f) != 0) {
		perror("fclose");
		abort();
	}
	return c->text;
}

#endif
