/*
 * fsstress: a seeded random workload on a directory tree, in the spirit of
 * fsstress from xfstests, for the torture tests that replicate a tree while
 * it changes.
 *
 *   fsstress DIR [--seed N] [--ops N | --seconds S] [--rate OPS_PER_SEC]
 *            [--mix NAME=WEIGHT,...] [--max-files N] [--max-size BYTES]
 *            [--quiet] [--help]
 *
 * Operations (--mix names; --help shows the default weights): create (a
 * file with content), write (at an offset, sometimes past the end), append,
 * truncate (grow or shrink), fallocate (keeping the size or extending it),
 * punch (a hole), rename (a non-directory, to a new name or over another),
 * rename_dir (to a new name elsewhere, or over an empty directory),
 * rename_newdir (anything into a directory made for it), exchange
 * (renameat2 RENAME_EXCHANGE), link, symlink (relative targets, some
 * dangling), mkdir, chmod, chown (root only), setxattr and rmxattr (user.*),
 * unlink, rmtree (rm -r of a subtree).  Names are sometimes odd on purpose
 * (non-UTF-8 bytes, a newline, a leading dash, 200-odd bytes).  The tree is
 * bounded: from --max-files entries on, an operation that would add one is
 * replaced by unlink or rmtree; files grow up to --max-size bytes.
 *
 * The first line on stderr is "seed N".  The same seed on the same starting
 * tree with --ops gives the same operations, hence the same tree: the PRNG
 * is our own (splitmix64), targets are picked from a sorted listing, nothing
 * is decided by the clock or by inode numbers.  The last lines on stderr
 * count each operation: done, skipped, failed.
 *
 * Targets are picked from an in-memory list of the paths under DIR, rebuilt
 * by a walk every REWALK_EVERY operations and before the next operation when
 * the list proved stale, since others may change the tree at the same time.
 * An operation whose target vanished or changed kind under it (ENOENT,
 * ENOTDIR, EEXIST, ENOTEMPTY, ...; see is_race) is counted as skipped, as
 * is one that found nothing to act on; any other failure is printed with
 * the path and strerror and counted as failed.  Exit status: 0, 1 when an
 * operation failed, 2 for a bad argument.  SIGTERM and SIGINT stop it after
 * the current operation (the counts are printed, the status is as above).
 *
 * What it never does: touch ".georep" at the top of DIR (it is never
 * listed, and no generated name starts with a dot), or follow a symlink.
 * A path is reached by a walk of its components from DIR's descriptor, each
 * opened O_NOFOLLOW, and acted on with an *at() call on its last component.
 * A file or directory that must be opened is first opened O_PATH and checked
 * to be of the expected kind, then reopened through /proc/self/fd, so a
 * device or a fifo swapped in under its name is never opened.  Without
 * /proc it says so at start and opens the name O_NOFOLLOW|O_NONBLOCK after
 * that check, which leaves a window for a device swapped in between.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define REWALK_EVERY	64	/* operations between two walks of the tree */
#define PATH_LIMIT	2048	/* longer paths are neither made nor listed */
#define MAX_DEPTH	256	/* deeper directories are not listed */
#define RMTREE_DEPTH	512	/* deeper trees are not removed (descriptors) */
#define CHUNK		65536	/* bytes per write call, the largest write */
#define MAX_WEIGHT	1000000
#define XATTR_NAMES	5	/* user.k0 .. user.k4 */
#define XATTR_MAX	512	/* five of them fit in one 4 KiB block */
#define STATE_DIR	".georep"
#define TOP		"."

/* Kinds of entries, as bits so that a pick can ask for several. */
enum kind {
	K_DIR = 1,
	K_REG = 2,
	K_LNK = 4,
	K_OTHER = 8,		/* fifo, socket, device: made by others */
	K_TOP = 16,		/* with K_DIR: DIR itself may be picked */
};
#define K_NONDIR	(K_REG | K_LNK | K_OTHER)
#define K_ANY		(K_DIR | K_NONDIR)

struct entry {
	char *path;		/* relative to DIR, "." for DIR itself */
	unsigned kind;
};

struct tree {
	struct entry *v;	/* v[0] is DIR itself */
	size_t n, cap;
};

enum res { R_DONE, R_SKIP, R_FAIL, R_COUNT };

enum op {
	OP_CREATE, OP_WRITE, OP_APPEND, OP_TRUNCATE, OP_FALLOCATE, OP_PUNCH,
	OP_RENAME, OP_RENAME_DIR, OP_RENAME_NEWDIR, OP_EXCHANGE, OP_LINK,
	OP_SYMLINK, OP_MKDIR, OP_CHMOD, OP_CHOWN, OP_SETXATTR, OP_RMXATTR,
	OP_UNLINK, OP_RMTREE, OP_COUNT
};

struct ctx {
	int top;		/* DIR, O_RDONLY */
	struct tree tree;
	bool stale;		/* the list was found wrong: walk again */
	uint64_t rng;		/* splitmix64 state */
	uint64_t serial;	/* numbers the names we make */
	bool root;
	bool have_proc;
	uint64_t max_files;
	uint64_t max_size;
	unsigned weight[OP_COUNT];
	unsigned long count[OP_COUNT][R_COUNT];
	enum op cur;		/* the operation running */
	unsigned char *buf;	/* CHUNK bytes of data to write */
};

/* Set by SIGTERM/SIGINT; the loop stops before the next operation. */
static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

/* -- small helpers -------------------------------------------------------- */

static void
out_of_memory(void)
{
	fputs("fsstress: out of memory\n", stderr);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		out_of_memory();
	return p;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* A path as a message can show it: control and non-ASCII bytes as \xNN. */
static void
put_path(const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '\\')
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	}
}

/* -- the PRNG: splitmix64 ------------------------------------------------- */

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), without the bias of a bare modulo; 0 when n is 0. */
static uint64_t
rng_below(struct ctx *c, uint64_t n)
{
	if (n == 0)
		return 0;
	uint64_t floor = -n % n;	/* 2^64 mod n: fewer values below */
	for (;;) {
		uint64_t x = rng_next(&c->rng);
		if (x >= floor)
			return x % n;
	}
}

/* A random element of a static array. */
#define PICK(c, a)	((a)[rng_below((c), sizeof(a) / sizeof((a)[0]))])

/* -- paths ---------------------------------------------------------------- */

static bool
is_top(const char *path)
{
	return strcmp(path, TOP) == 0;
}

/* DIR/NAME as a new string, or NULL when longer than PATH_LIMIT. */
static char *
join(const char *dir, const char *name)
{
	size_t dl = is_top(dir) ? 0 : strlen(dir), nl = strlen(name);

	if (dl + 1 + nl > PATH_LIMIT)
		return NULL;
	char *p = xmalloc(dl + 1 + nl + 1);
	if (dl) {
		memcpy(p, dir, dl);
		p[dl++] = '/';
	}
	memcpy(p + dl, name, nl + 1);
	return p;
}

/* The directory holding PATH, as a new string ("." at the top). */
static char *
parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(TOP);
	char *p = strndup(path, (size_t)(slash - path));
	if (p == NULL)
		out_of_memory();
	return p;
}

static const char *
base_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Whether PATH is strictly beneath directory ANC. */
static bool
is_under(const char *path, const char *anc)
{
	size_t n = strlen(anc);

	if (is_top(anc))
		return !is_top(path);
	return strncmp(path, anc, n) == 0 && path[n] == '/';
}

/* How many "../" lead from directory DIR up to the top. */
static size_t
depth_of(const char *dir)
{
	size_t n = 1;

	if (is_top(dir))
		return 0;
	for (const char *p = dir; *p; p++)
		n += *p == '/';
	return n;
}

/* -- the list of known paths ---------------------------------------------- */

/* Adds PATH (taken over) of KIND. */
static void
tree_add(struct ctx *c, char *path, unsigned kind)
{
	struct tree *t = &c->tree;

	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		t->v = realloc(t->v, t->cap * sizeof(*t->v));
		if (t->v == NULL)
			out_of_memory();
	}
	t->v[t->n].path = path;
	t->v[t->n].kind = kind;
	t->n++;
}

static struct entry *
tree_find(struct ctx *c, const char *path)
{
	for (size_t i = 0; i < c->tree.n; i++)
		if (strcmp(c->tree.v[i].path, path) == 0)
			return &c->tree.v[i];
	return NULL;
}

static void
tree_remove(struct ctx *c, const char *path)
{
	struct entry *e = tree_find(c, path);

	if (e == NULL || e == &c->tree.v[0])
		return;
	free(e->path);
	*e = c->tree.v[--c->tree.n];
}

static bool
is_at_or_under(const char *path, const char *dir)
{
	return strcmp(path, dir) == 0 || is_under(path, dir);
}

/* A rename in the list: FROM and all beneath it move to TO; with SWAP what
 * was at TO moves to FROM at the same time (an exchange). */
static void
tree_rename(struct ctx *c, const char *from, const char *to, bool swap)
{
	size_t fl = strlen(from), tl = strlen(to);

	for (size_t i = 1; i < c->tree.n;) {
		struct entry *e = &c->tree.v[i];
		const char *dst;
		size_t cut;
		if (is_at_or_under(e->path, from)) {
			dst = to;
			cut = fl;
		} else if (swap && is_at_or_under(e->path, to)) {
			dst = from;
			cut = tl;
		} else {
			i++;
			continue;
		}
		size_t dl = strlen(dst), rest = strlen(e->path + cut);
		if (dl + rest > PATH_LIMIT) {	/* no longer listed */
			free(e->path);
			*e = c->tree.v[--c->tree.n];
			continue;
		}
		char *p = xmalloc(dl + rest + 1);
		memcpy(p, dst, dl);
		memcpy(p + dl, e->path + cut, rest + 1);
		free(e->path);
		e->path = p;
		i++;
	}
}

/* Removes DIR and all beneath it from the list. */
static void
tree_remove_tree(struct ctx *c, const char *dir)
{
	for (size_t i = 1; i < c->tree.n;) {
		struct entry *e = &c->tree.v[i];
		if (!is_at_or_under(e->path, dir)) {
			i++;
			continue;
		}
		free(e->path);
		*e = c->tree.v[--c->tree.n];
	}
}

static void
tree_clear(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	t->n = 0;
}

static bool
eligible(const struct entry *e, unsigned kinds)
{
	if (is_top(e->path))
		return (kinds & K_TOP) != 0;
	return (e->kind & kinds) != 0;
}

/* A random entry of one of KINDS, or NULL when there is none.  The pointer
 * is valid until the list changes. */
static const struct entry *
pick(struct ctx *c, unsigned kinds)
{
	size_t n = 0;

	for (size_t i = 0; i < c->tree.n; i++)
		n += eligible(&c->tree.v[i], kinds);
	if (n == 0)
		return NULL;
	uint64_t k = rng_below(c, n);
	for (size_t i = 0; i < c->tree.n; i++)
		if (eligible(&c->tree.v[i], kinds) && k-- == 0)
			return &c->tree.v[i];
	return NULL;
}

/* Like pick, as a new string (NULL when none); *kind gets its kind. */
static char *
pick_path(struct ctx *c, unsigned kinds, unsigned *kind)
{
	const struct entry *e = pick(c, kinds);

	if (e == NULL)
		return NULL;
	if (kind)
		*kind = e->kind;
	return xstrdup(e->path);
}

/* Whether the list knows nothing beneath directory DIR. */
static bool
listed_empty(struct ctx *c, const char *dir)
{
	for (size_t i = 0; i < c->tree.n; i++)
		if (is_under(c->tree.v[i].path, dir))
			return false;
	return true;
}

/* How much longer than PATH the longest listed path beneath it is. */
static size_t
subtree_extra(struct ctx *c, const char *path)
{
	size_t n = strlen(path), extra = 0;

	for (size_t i = 0; i < c->tree.n; i++) {
		size_t l = strlen(c->tree.v[i].path);
		if (l > n + extra && is_under(c->tree.v[i].path, path))
			extra = l - n;
	}
	return extra;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory stream D, sorted, without "." and ".." (and
 * without .georep when TOP); *n gets their number.  Free with free_names. */
static char **
read_names(DIR *d, bool top, size_t *n)
{
	char **v = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    (top && strcmp(name, STATE_DIR) == 0))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 32;
			v = realloc(v, cap * sizeof(*v));
			if (v == NULL)
				out_of_memory();
		}
		v[(*n)++] = xstrdup(name);
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_names);
	return v;
}

static void
free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static unsigned
kind_of(mode_t mode)
{
	return S_ISDIR(mode) ? K_DIR : S_ISREG(mode) ? K_REG :
	    S_ISLNK(mode) ? K_LNK : K_OTHER;
}

/* Lists what directory FD (taken over) at DPATH holds, depth first, each
 * directory's names sorted.  What vanishes meanwhile is left out. */
static void
walk_dir(struct ctx *c, int fd, const char *dpath, unsigned depth)
{
	DIR *d = fdopendir(fd);
	size_t n;

	if (d == NULL) {
		close(fd);
		return;
	}
	char **names = read_names(d, is_top(dpath), &n);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char *path = join(dpath, names[i]);
		if (path == NULL)
			continue;
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(path);
			continue;
		}
		unsigned kind = kind_of(st.st_mode);
		tree_add(c, path, kind);	/* path stays valid */
		if (kind != K_DIR || depth + 1 >= MAX_DEPTH)
			continue;
		int sub = openat(fd, names[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			walk_dir(c, sub, path, depth + 1);
	}
	free_names(names, n);
	closedir(d);
}

static void
tree_rebuild(struct ctx *c)
{
	tree_clear(&c->tree);
	tree_add(c, xstrdup(TOP), K_DIR);
	int fd = openat(c->top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		walk_dir(c, fd, TOP, 0);
	c->stale = false;
}

/* -- errors --------------------------------------------------------------- */

static const char *op_name(enum op op);

/* Whether ERR is what a race with another writer (or a filesystem without
 * the feature) gives, rather than a failure. */
static bool
is_race(const struct ctx *c, int err)
{
	switch (err) {
	case ENOENT:		/* vanished */
	case ENOTDIR:		/* a directory became something else */
	case ELOOP:		/* ... a symlink (O_NOFOLLOW) */
	case EISDIR:		/* a non-directory became a directory */
	case ENXIO:		/* ... a fifo or a device (open_final) */
	case EEXIST:		/* a new name was taken meanwhile */
	case ENOTEMPTY:		/* a directory filled meanwhile */
	case EXDEV:		/* a mount point (a btrfs subvolume) */
	case EBUSY:		/* a mount point */
	case EMLINK:
	case EOPNOTSUPP:	/* == ENOTSUP: no punch, xattrs, exchange */
	case ENODATA:		/* the xattr went meanwhile */
	case ERANGE:		/* the xattr list grew meanwhile */
		return true;
	case EINVAL:		/* a directory into its own subtree */
		return c->cur == OP_RENAME || c->cur == OP_RENAME_DIR ||
		    c->cur == OP_RENAME_NEWDIR || c->cur == OP_EXCHANGE;
	case EACCES:		/* another writer's chmod */
	case EPERM:
		return !c->root;
	default:
		return false;
	}
}

/* The result of an operation that failed with errno in WHAT on PATH (and
 * PATH2): skipped for a race (the list is walked again when it was wrong),
 * else printed and failed. */
static enum res
failed(struct ctx *c, const char *what, const char *path, const char *path2)
{
	int err = errno;

	if (is_race(c, err)) {
		if (err == ENOENT || err == ENOTDIR || err == ELOOP ||
		    err == EISDIR || err == ENXIO || err == EEXIST ||
		    err == ENOTEMPTY)
			c->stale = true;
		return R_SKIP;
	}
	fprintf(stderr, "fsstress: %s: %s ", op_name(c->cur), what);
	put_path(path);
	if (path2) {
		fputs(" -> ", stderr);
		put_path(path2);
	}
	fprintf(stderr, ": %s\n", strerror(err));
	return R_FAIL;
}

/* -- reaching a path without following symlinks --------------------------- */

/* The directory holding PATH, by a walk of its components from the top,
 * none of them followed if it is a symlink; *name gets PATH's last
 * component.  Returns c->top for a name at the top: release with
 * put_parent.  -1 with errno on failure. */
static int
open_parent(struct ctx *c, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	const char *p = path;
	char comp[NAME_MAX + 1];
	int fd = c->top;

	*name = slash ? slash + 1 : path;
	while (slash && p < slash) {
		const char *end = memchr(p, '/', (size_t)(slash - p));
		if (end == NULL)
			end = slash;
		size_t n = (size_t)(end - p);
		if (n == 0 || n > NAME_MAX) {
			if (fd != c->top)
				close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		int next = openat(fd, comp,
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		if (fd != c->top)
			close(fd);
		if (next < 0) {
			errno = err;
			return -1;
		}
		fd = next;
		p = end + 1;
	}
	return fd;
}

static void
put_parent(struct ctx *c, int fd)
{
	int err = errno;

	if (fd >= 0 && fd != c->top)
		close(fd);
	errno = err;
}

/* Opens NAME in directory DFD with FLAGS if it is of type WANT (S_IFREG or
 * S_IFDIR), never following a symlink and never opening anything else.
 * Another type fails with the errno a race would give: ELOOP (a symlink),
 * EISDIR, ENOTDIR, ENXIO (a fifo, socket or device). */
static int
open_final(struct ctx *c, int dfd, const char *name, int flags, mode_t want)
{
	struct stat st;
	int fd, err;
	int pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pfd < 0)
		return -1;
	if (fstat(pfd, &st) < 0)
		goto fail;
	if ((st.st_mode & S_IFMT) != want) {
		errno = S_ISLNK(st.st_mode) ? ELOOP : S_ISDIR(st.st_mode) ?
		    EISDIR : want == S_IFDIR ? ENOTDIR : ENXIO;
		goto fail;
	}
	if (c->have_proc) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		fd = open(proc, flags | O_CLOEXEC | O_NOCTTY);
	} else {
		struct stat now;
		fd = openat(dfd, name, flags | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 && (fstat(fd, &now) < 0 || now.st_dev !=
		    st.st_dev || now.st_ino != st.st_ino)) {
			close(fd);
			fd = -1;
			errno = ENOENT;	/* replaced meanwhile */
		}
	}
	err = errno;
	close(pfd);
	errno = err;
	return fd;
fail:
	err = errno;
	close(pfd);
	errno = err;
	return -1;
}

/* Opens PATH, a regular file or a directory (WANT), with FLAGS. */
static int
open_path(struct ctx *c, const char *path, int flags, mode_t want)
{
	const char *name;
	int dfd = open_parent(c, path, &name);

	if (dfd < 0)
		return -1;
	int fd = open_final(c, dfd, name, flags, want);
	put_parent(c, dfd);
	return fd;
}

static int
rename_paths(struct ctx *c, const char *src, const char *dst, unsigned flags)
{
	const char *sname, *dname;
	int sfd = open_parent(c, src, &sname);
	int dfd = sfd < 0 ? -1 : open_parent(c, dst, &dname);
	int rc = -1;

	if (dfd >= 0)
		rc = flags ? renameat2(sfd, sname, dfd, dname, flags) :
		    renameat(sfd, sname, dfd, dname);
	put_parent(c, dfd);
	put_parent(c, sfd);
	return rc;
}

/* Removes NAME in directory DFD and all beneath it, never following a
 * symlink.  What vanishes meanwhile is ignored; what is added meanwhile is
 * removed on up to three passes.  0, or -1 with errno of the first failure
 * (ENOENT when NAME itself vanished). */
static int
remove_tree(int dfd, const char *name, unsigned depth)
{
	if (unlinkat(dfd, name, 0) == 0)
		return 0;
	if (errno != EISDIR)
		return -1;
	if (depth >= RMTREE_DEPTH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)	/* no longer a dir */
			return unlinkat(dfd, name, 0);
		return -1;
	}
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	int first = 0;
	for (int pass = 0;; pass++) {
		size_t n;
		rewinddir(d);
		char **names = read_names(d, false, &n);
		for (size_t i = 0; i < n; i++)
			if (remove_tree(fd, names[i], depth + 1) < 0 &&
			    errno != ENOENT && first == 0)
				first = errno;
		free_names(names, n);
		if (first || unlinkat(dfd, name, AT_REMOVEDIR) == 0)
			break;
		if (errno != ENOTEMPTY || pass == 2) {
			first = errno;
			break;
		}
	}
	closedir(d);
	errno = first;
	return first ? -1 : 0;
}

/* -- what to write -------------------------------------------------------- */

/* N bytes into c->buf in pattern PAT: random, zeros, or text. */
static void
fill(struct ctx *c, size_t n, unsigned pat, uint64_t seed)
{
	if (pat == 0) {
		for (size_t i = 0; i < n; i += 8) {
			uint64_t x = rng_next(&c->rng);
			memcpy(c->buf + i, &x, n - i < 8 ? n - i : 8);
		}
	} else if (pat == 1) {
		memset(c->buf, 0, n);
	} else {
		for (size_t i = 0; i < n; i++)
			c->buf[i] = i % 64 == 63 ? '\n' :
			    (unsigned char)('a' + (seed + i / 64) % 26);
	}
}

/* Writes LEN bytes of generated data at OFF (at the end with APPEND). */
static int
write_data(struct ctx *c, int fd, uint64_t off, uint64_t len, bool append)
{
	unsigned pat = rng_below(c, 10) < 8 ? 0 : 1 + (unsigned)rng_below(c, 2);
	uint64_t seed = rng_next(&c->rng);

	while (len > 0) {
		size_t n = (size_t)min_u64(len, CHUNK);
		fill(c, n, pat, seed++);
		for (size_t done = 0; done < n;) {
			ssize_t w = append ?
			    write(fd, c->buf + done, n - done) :
			    pwrite(fd, c->buf + done, n - done,
			    (off_t)(off + done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				if (w == 0)
					errno = ENOSPC;
				return -1;
			}
			done += (size_t)w;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* A size for a new file: mostly small, sometimes empty, now and then up
 * to --max-size. */
static uint64_t
pick_size(struct ctx *c)
{
	uint64_t r = rng_below(c, 100), max = c->max_size;

	if (r < 5)
		return 0;
	if (r < 75)
		return 1 + rng_below(c, min_u64(4096, max));
	if (r < 97)
		return 1 + rng_below(c, min_u64(CHUNK, max));
	return 1 + rng_below(c, max);
}

/* A new name in directory DIR, as a path (NULL when too long).  PREFIX
 * tells what made it.  Some names are odd on purpose: a space and bytes
 * that are not UTF-8, a newline, a leading dash, 200-odd bytes. */
static char *
new_name(struct ctx *c, const char *dir, char prefix)
{
	char name[NAME_MAX + 1];
	unsigned long long serial = ++c->serial;
	uint64_t odd = rng_below(c, 100);
	unsigned tag = (unsigned)rng_below(c, 0x10000);

	if (odd < 3)
		snprintf(name, sizeof(name), "%c%llu \xff\xfe", prefix, serial);
	else if (odd < 4)
		snprintf(name, sizeof(name), "%c%llu\nnl", prefix, serial);
	else if (odd < 5)
		snprintf(name, sizeof(name), "-%c%llu", prefix, serial);
	else if (odd < 6)
		snprintf(name, sizeof(name), "%c%llu_%0200d", prefix, serial,
		    0);
	else
		snprintf(name, sizeof(name), "%c%llu_%04x", prefix, serial,
		    tag);
	return join(dir, name);
}

/* Without root, keep the owner's access (a mode 000 file would make every
 * later operation on it fail with EACCES). */
static mode_t
keep_access(struct ctx *c, mode_t mode, bool dir)
{
	return c->root ? mode : mode | (dir ? 0700 : 0600);
}

/* -- the operations ------------------------------------------------------- */

/* Each returns R_DONE, R_SKIP (nothing to act on, or a race) or R_FAIL. */

static enum res
op_create(struct ctx *c)
{
	static const mode_t modes[] = { 0644, 0644, 0600, 0755, 0664, 0400 };
	char *path = new_name(c, pick(c, K_DIR | K_TOP)->path, 'f');
	mode_t mode = keep_access(c, PICK(c, modes), false);
	uint64_t size = pick_size(c);
	const char *name;
	enum res res = R_DONE;

	if (path == NULL)
		return R_SKIP;
	int dfd = open_parent(c, path, &name);
	int fd = dfd < 0 ? -1 : openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, mode);
	put_parent(c, dfd);
	if (fd < 0) {
		res = failed(c, "open", path, NULL);
		free(path);
		return res;
	}
	tree_add(c, xstrdup(path), K_REG);
	if (write_data(c, fd, 0, size, false) < 0)
		res = failed(c, "write", path, NULL);
	if (close(fd) < 0 && res == R_DONE)
		res = failed(c, "close", path, NULL);
	free(path);
	return res;
}

enum file_op { F_WRITE, F_APPEND, F_TRUNCATE, F_FALLOCATE, F_PUNCH };

/* The operations on the data of an existing regular file. */
static enum res
file_op(struct ctx *c, enum file_op what)
{
	char *path = pick_path(c, K_REG, NULL);
	uint64_t max = c->max_size, size, off, len;
	enum res res = R_DONE;
	struct stat st;
	int rc = 0, mode = 0;

	if (path == NULL)
		return R_SKIP;
	int fd = open_path(c, path,
	    O_WRONLY | (what == F_APPEND ? O_APPEND : 0), S_IFREG);
	if (fd < 0) {
		res = failed(c, "open", path, NULL);
		free(path);
		return res;
	}
	if (fstat(fd, &st) < 0) {
		res = failed(c, "fstat", path, NULL);
		goto out;
	}
	size = (uint64_t)st.st_size;
	switch (what) {
	case F_WRITE:
		/* Mostly within the file, sometimes past its end (a hole). */
		off = rng_below(c, 10) ? rng_below(c, size + 1) :
		    size + 1 + rng_below(c, CHUNK);
		if (off >= max)
			off = rng_below(c, min_u64(size + 1, max));
		len = 1 + rng_below(c, min_u64(CHUNK, max - off));
		rc = write_data(c, fd, off, len, false);
		break;
	case F_APPEND:
		if (size >= max) {
			res = R_SKIP;
			goto out;
		}
		rc = write_data(c, fd, 0, 1 + rng_below(c,
		    min_u64(CHUNK, max - size)), true);
		break;
	case F_TRUNCATE:
		/* Grow (a hole at the end) or shrink. */
		if (size == 0 || (size < max && rng_below(c, 2)))
			len = size + 1 + rng_below(c, max - size);
		else
			len = rng_below(c, size);
		rc = ftruncate(fd, (off_t)len);
		break;
	case F_FALLOCATE:
		/* Keep the size (blocks past the end, or holes filled), or
		 * extend it. */
		if (rng_below(c, 2)) {
			off = rng_below(c, size + CHUNK);
			mode = FALLOC_FL_KEEP_SIZE;
		} else {
			off = rng_below(c, size + 1);
		}
		if (off >= max) {
			res = R_SKIP;
			goto out;
		}
		len = 1 + rng_below(c, min_u64(4 * CHUNK, max - off));
		rc = fallocate(fd, mode, (off_t)off, (off_t)len);
		break;
	case F_PUNCH:
		if (size == 0) {
			res = R_SKIP;
			goto out;
		}
		off = rng_below(c, size);
		len = 1 + rng_below(c, size - off);
		rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		    (off_t)off, (off_t)len);
		break;
	}
	if (rc < 0)
		res = failed(c, what == F_WRITE || what == F_APPEND ? "write" :
		    what == F_TRUNCATE ? "ftruncate" : "fallocate", path, NULL);
out:
	if (close(fd) < 0 && res == R_DONE)
		res = failed(c, "close", path, NULL);
	free(path);
	return res;
}

static enum res
op_write(struct ctx *c)
{
	return file_op(c, F_WRITE);
}

static enum res
op_append(struct ctx *c)
{
	return file_op(c, F_APPEND);
}

static enum res
op_truncate(struct ctx *c)
{
	return file_op(c, F_TRUNCATE);
}

static enum res
op_fallocate(struct ctx *c)
{
	return file_op(c, F_FALLOCATE);
}

static enum res
op_punch(struct ctx *c)
{
	return file_op(c, F_PUNCH);
}

/* lstat of PATH: 0, or -1 with errno. */
static int
lstat_path(struct ctx *c, const char *path, struct stat *st)
{
	const char *name;
	int dfd = open_parent(c, path, &name);
	int rc = dfd < 0 ? -1 : fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW);

	put_parent(c, dfd);
	return rc;
}

/* Whether PATH exists (as anything). */
static bool
still_there(struct ctx *c, const char *path)
{
	struct stat st;

	return lstat_path(c, path, &st) == 0;
}

/* A non-directory to a new name (in its directory or another one), or
 * over another non-directory. */
static enum res
op_rename(struct ctx *c)
{
	char *src = pick_path(c, K_NONDIR, NULL), *dst = NULL;
	bool over = rng_below(c, 4) == 0;
	enum res res = R_SKIP;

	if (src == NULL)
		return R_SKIP;
	if (over) {
		dst = pick_path(c, K_NONDIR, NULL);
		if (dst == NULL || strcmp(dst, src) == 0)
			goto out;
	} else if (rng_below(c, 2)) {
		char *dir = parent_of(src);
		dst = new_name(c, dir, 'r');
		free(dir);
	} else {
		dst = new_name(c, pick(c, K_DIR | K_TOP)->path, 'r');
	}
	if (dst == NULL)
		goto out;
	if (rename_paths(c, src, dst, 0) < 0) {
		res = failed(c, "rename", src, dst);
		goto out;
	}
	res = R_DONE;
	if (over && still_there(c, src))
		goto out;	/* two names of one file: nothing happens */
	if (over)
		tree_remove(c, dst);
	tree_rename(c, src, dst, false);
out:
	free(src);
	free(dst);
	return res;
}

/* A directory to a new name in another directory (never beneath itself),
 * or over an empty directory. */
static enum res
op_rename_dir(struct ctx *c)
{
	char *src = pick_path(c, K_DIR, NULL), *dst = NULL;
	enum res res = R_SKIP;

	if (src == NULL)
		return R_SKIP;
	for (int tries = 0; tries < 8 && dst == NULL; tries++) {
		const struct entry *d = pick(c, K_DIR | K_TOP);
		if (strcmp(d->path, src) == 0 || is_under(d->path, src))
			continue;
		if (rng_below(c, 5) == 0) {
			if (!is_top(d->path) && !is_under(src, d->path) &&
			    listed_empty(c, d->path))
				dst = xstrdup(d->path);
		} else {
			dst = new_name(c, d->path, 'm');
			if (dst == NULL)
				break;
		}
	}
	if (dst == NULL || strlen(dst) + subtree_extra(c, src) > PATH_LIMIT)
		goto out;
	if (rename_paths(c, src, dst, 0) < 0) {
		res = failed(c, "rename", src, dst);
		goto out;
	}
	res = R_DONE;
	tree_remove(c, dst);	/* when over an empty directory */
	tree_rename(c, src, dst, false);
out:
	free(src);
	free(dst);
	return res;
}

/* Anything into a directory made for it. */
static enum res
op_rename_newdir(struct ctx *c)
{
	char *src = pick_path(c, K_ANY, NULL), *dir = NULL, *dst = NULL;
	const char *name;
	enum res res = R_SKIP;

	if (src == NULL)
		return R_SKIP;
	const struct entry *d = pick(c, K_DIR | K_TOP);
	if (strcmp(d->path, src) == 0 || is_under(d->path, src))
		goto out;
	dir = new_name(c, d->path, 'n');
	if (dir == NULL)
		goto out;
	dst = join(dir, base_of(src));
	if (dst == NULL || strlen(dst) + subtree_extra(c, src) > PATH_LIMIT)
		goto out;
	int dfd = open_parent(c, dir, &name);
	int rc = dfd < 0 ? -1 : mkdirat(dfd, name, 0755);
	put_parent(c, dfd);
	if (rc < 0) {
		res = failed(c, "mkdir", dir, NULL);
		goto out;
	}
	tree_add(c, xstrdup(dir), K_DIR);
	if (rename_paths(c, src, dst, 0) < 0) {
		res = failed(c, "rename", src, dst);
		goto out;
	}
	res = R_DONE;
	tree_rename(c, src, dst, false);
out:
	free(src);
	free(dir);
	free(dst);
	return res;
}

/* Two entries swap names (renameat2 RENAME_EXCHANGE). */
static enum res
op_exchange(struct ctx *c)
{
	char *a = pick_path(c, K_ANY, NULL);
	char *b = pick_path(c, K_ANY, NULL);
	enum res res = R_SKIP;

	if (a == NULL || b == NULL || strcmp(a, b) == 0 || is_under(a, b) ||
	    is_under(b, a))
		goto out;
	if (strlen(b) + subtree_extra(c, a) > PATH_LIMIT ||
	    strlen(a) + subtree_extra(c, b) > PATH_LIMIT)
		goto out;
	if (rename_paths(c, a, b, RENAME_EXCHANGE) < 0) {
		res = failed(c, "exchange", a, b);
		goto out;
	}
	res = R_DONE;
	tree_rename(c, a, b, true);
out:
	free(a);
	free(b);
	return res;
}

/* A hard link to a non-directory (a symlink too: linked, not followed). */
static enum res
op_link(struct ctx *c)
{
	unsigned kind;
	char *src = pick_path(c, K_NONDIR, &kind), *dst;
	const char *sname, *dname;
	enum res res = R_SKIP;

	if (src == NULL)
		return R_SKIP;
	dst = new_name(c, pick(c, K_DIR | K_TOP)->path, 'h');
	if (dst == NULL)
		goto out;
	int sfd = open_parent(c, src, &sname);
	int dfd = sfd < 0 ? -1 : open_parent(c, dst, &dname);
	int rc = dfd < 0 ? -1 : linkat(sfd, sname, dfd, dname, 0);
	put_parent(c, dfd);
	put_parent(c, sfd);
	if (rc < 0) {
		struct stat st;
		/* EPERM: the source is a directory now (a race) */
		if (errno == EPERM && lstat_path(c, src, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			errno = EISDIR;
		res = failed(c, "link", src, dst);
		goto out;
	}
	res = R_DONE;
	tree_add(c, dst, kind);
	dst = NULL;
out:
	free(src);
	free(dst);
	return res;
}

/* The relative path from directory DIR to TO (which may not exist). */
static char *
relative(const char *dir, const char *to)
{
	size_t ups = depth_of(dir), tl = is_top(to) ? 0 : strlen(to);
	char *dpar = parent_of(to);
	bool sibling = !is_top(to) && strcmp(dpar, dir) == 0;

	free(dpar);
	if (sibling)
		return xstrdup(base_of(to));
	if (ups == 0)
		return xstrdup(tl ? to : ".");
	char *t = xmalloc(3 * ups + tl + 1), *p = t;
	for (size_t i = 0; i < ups; i++, p += 3)
		memcpy(p, "../", 3);
	if (tl)
		memcpy(p, to, tl + 1);
	else
		p[-1] = '\0';	/* "../.." */
	return t;
}

/* A symlink with a relative target that stays within DIR where it is made:
 * to an existing entry, or dangling. */
static enum res
op_symlink(struct ctx *c)
{
	char *dir = xstrdup(pick(c, K_DIR | K_TOP)->path);
	char *path = new_name(c, dir, 's'), *target, *gone;
	const char *name;
	uint64_t r = rng_below(c, 10);
	enum res res = R_DONE;

	if (r < 6) {
		target = relative(dir, pick(c, K_ANY | K_TOP)->path);
	} else {
		/* A name that does not exist, in some directory. */
		char tail[64];
		snprintf(tail, sizeof(tail), r < 8 ? "gone%llu" :
		    "nodir%llu/gone", (unsigned long long)c->serial);
		gone = join(pick(c, K_DIR | K_TOP)->path, tail);
		target = gone ? relative(dir, gone) : NULL;
		free(gone);
	}
	if (path == NULL || target == NULL || strlen(target) > PATH_LIMIT) {
		res = R_SKIP;
		goto out;
	}
	int dfd = open_parent(c, path, &name);
	int rc = dfd < 0 ? -1 : symlinkat(target, dfd, name);
	put_parent(c, dfd);
	if (rc < 0) {
		res = failed(c, "symlink", path, NULL);
		goto out;
	}
	tree_add(c, path, K_LNK);
	path = NULL;
out:
	free(dir);
	free(path);
	free(target);
	return res;
}

static enum res
op_mkdir(struct ctx *c)
{
	static const mode_t modes[] = { 0755, 0755, 0700, 0775, 02775, 01777 };
	char *path = new_name(c, pick(c, K_DIR | K_TOP)->path, 'd');
	mode_t mode = keep_access(c, PICK(c, modes), true);
	const char *name;

	if (path == NULL)
		return R_SKIP;
	int dfd = open_parent(c, path, &name);
	int rc = dfd < 0 ? -1 : mkdirat(dfd, name, mode);
	put_parent(c, dfd);
	if (rc < 0) {
		enum res res = failed(c, "mkdir", path, NULL);
		free(path);
		return res;
	}
	tree_add(c, path, K_DIR);
	return R_DONE;
}

/* A regular file or a directory (symlinks have no mode to set). */
static enum res
op_chmod(struct ctx *c)
{
	static const mode_t fmodes[] = { 0644, 0600, 0755, 0444, 0640, 0000,
	    04755, 02755, 01644, 07777 };
	static const mode_t dmodes[] = { 0755, 0700, 0555, 0750, 01777, 02775,
	    0000 };
	unsigned kind;
	char *path = pick_path(c, K_REG | K_DIR, &kind);
	enum res res = R_DONE;

	if (path == NULL)
		return R_SKIP;
	bool dir = kind == K_DIR;
	mode_t mode = keep_access(c, dir ? PICK(c, dmodes) : PICK(c, fmodes),
	    dir);
	int fd = open_path(c, path, O_RDONLY | (dir ? O_DIRECTORY : 0),
	    dir ? S_IFDIR : S_IFREG);
	if (fd < 0 || fchmod(fd, mode) < 0)
		res = failed(c, fd < 0 ? "open" : "chmod", path, NULL);
	if (fd >= 0)
		close(fd);
	free(path);
	return res;
}

/* Any entry, a symlink itself included; root only. */
static enum res
op_chown(struct ctx *c)
{
	static const unsigned ids[] = { 0, 1000, 1234 };
	char *path;
	const char *name;
	enum res res = R_DONE;

	if (!c->root)
		return R_SKIP;
	path = pick_path(c, K_ANY, NULL);
	if (path == NULL)
		return R_SKIP;
	uid_t uid = PICK(c, ids);
	gid_t gid = PICK(c, ids);
	int dfd = open_parent(c, path, &name);
	if (dfd < 0 || fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		res = failed(c, "chown", path, NULL);
	put_parent(c, dfd);
	free(path);
	return res;
}

/* user.k0 .. user.k4 on a regular file or a directory (the only kinds that
 * may carry user.* xattrs). */
static enum res
op_setxattr(struct ctx *c)
{
	unsigned kind;
	char *path = pick_path(c, K_REG | K_DIR, &kind);
	char name[32];
	enum res res = R_DONE;

	if (path == NULL)
		return R_SKIP;
	snprintf(name, sizeof(name), "user.k%u",
	    (unsigned)rng_below(c, XATTR_NAMES));
	size_t len = (size_t)(rng_below(c, 10) ? rng_below(c, 65) :
	    65 + rng_below(c, XATTR_MAX - 64));
	fill(c, len, 0, 0);
	bool dir = kind == K_DIR;
	int fd = open_path(c, path, O_RDONLY | (dir ? O_DIRECTORY : 0),
	    dir ? S_IFDIR : S_IFREG);
	if (fd < 0 || fsetxattr(fd, name, c->buf, len, 0) < 0)
		res = failed(c, fd < 0 ? "open" : "setxattr", path, NULL);
	if (fd >= 0)
		close(fd);
	free(path);
	return res;
}

/* One of the user.* xattrs of a regular file or a directory. */
static enum res
op_rmxattr(struct ctx *c)
{
	unsigned kind;
	char *path = pick_path(c, K_REG | K_DIR, &kind), *list = NULL;
	const char **names = NULL;
	enum res res = R_SKIP;
	ssize_t len;

	if (path == NULL)
		return R_SKIP;
	bool dir = kind == K_DIR;
	int fd = open_path(c, path, O_RDONLY | (dir ? O_DIRECTORY : 0),
	    dir ? S_IFDIR : S_IFREG);
	if (fd < 0) {
		res = failed(c, "open", path, NULL);
		goto out;
	}
	len = flistxattr(fd, NULL, 0);
	if (len > 0) {
		list = xmalloc((size_t)len);
		len = flistxattr(fd, list, (size_t)len);
	}
	if (len < 0) {
		res = failed(c, "listxattr", path, NULL);
		goto out;
	}
	/* The user.* names, sorted: the kernel's order is not ours. */
	size_t n = 0;
	names = xmalloc((size_t)len / 2 * sizeof(*names) + 1);
	for (char *p = list; p && p < list + len; p += strlen(p) + 1)
		if (strncmp(p, "user.", 5) == 0)
			names[n++] = p;
	if (n == 0)
		goto out;
	qsort(names, n, sizeof(*names), cmp_names);
	const char *name = names[rng_below(c, n)];
	if (fremovexattr(fd, name) < 0)
		res = failed(c, "removexattr", path, NULL);
	else
		res = R_DONE;
out:
	if (fd >= 0)
		close(fd);
	free(names);
	free(list);
	free(path);
	return res;
}

static enum res
op_unlink(struct ctx *c)
{
	char *path = pick_path(c, K_NONDIR, NULL);
	const char *name;
	enum res res = R_DONE;

	if (path == NULL)
		return R_SKIP;
	int dfd = open_parent(c, path, &name);
	if (dfd < 0 || unlinkat(dfd, name, 0) < 0)
		res = failed(c, "unlink", path, NULL);
	else
		tree_remove(c, path);
	put_parent(c, dfd);
	free(path);
	return res;
}

/* How many listed entries are beneath directory DIR. */
static size_t
listed_beneath(struct ctx *c, const char *dir)
{
	size_t n = 0;

	for (size_t i = 0; i < c->tree.n; i++)
		n += is_under(c->tree.v[i].path, dir);
	return n;
}

/* A whole subtree, as rm -r does it (never DIR itself).  Below --max-files
 * the subtree is small (a tenth of the tree at most, of the few picked, or
 * the smallest of them): a big one at random would keep the tree tiny. */
static enum res
op_rmtree(struct ctx *c)
{
	char *path = NULL;
	const char *name;
	enum res res = R_DONE;
	size_t best = SIZE_MAX, small = c->tree.n / 10;

	for (int tries = 0; tries < 4; tries++) {
		const struct entry *e = pick(c, K_DIR);
		if (e == NULL)
			return R_SKIP;
		size_t n = c->tree.n - 1 >= c->max_files ? 0 :
		    listed_beneath(c, e->path);
		if (n < best) {
			free(path);
			path = xstrdup(e->path);
			best = n;
		}
		if (n <= small)
			break;
	}
	int dfd = open_parent(c, path, &name);
	if (dfd < 0 || remove_tree(dfd, name, 0) < 0) {
		res = failed(c, "rm -r", path, NULL);
		c->stale = true;	/* it may be half gone */
	} else {
		tree_remove_tree(c, path);
	}
	put_parent(c, dfd);
	free(path);
	return res;
}

/* -- the table of operations ---------------------------------------------- */

struct op_def {
	const char *name;
	unsigned weight;	/* by default */
	bool adds;		/* adds an entry: a delete instead when full */
	enum res (*run)(struct ctx *);
};

/* Name, default weight, whether it adds an entry, what runs it. */
static const struct op_def ops[OP_COUNT] = {
	[OP_CREATE] = { "create", 12, true, op_create },
	[OP_WRITE] = { "write", 10, false, op_write },
	[OP_APPEND] = { "append", 6, false, op_append },
	[OP_TRUNCATE] = { "truncate", 4, false, op_truncate },
	[OP_FALLOCATE] = { "fallocate", 3, false, op_fallocate },
	[OP_PUNCH] = { "punch", 3, false, op_punch },
	[OP_RENAME] = { "rename", 6, false, op_rename },
	[OP_RENAME_DIR] = { "rename_dir", 2, false, op_rename_dir },
	[OP_RENAME_NEWDIR] = { "rename_newdir", 2, true, op_rename_newdir },
	[OP_EXCHANGE] = { "exchange", 2, false, op_exchange },
	[OP_LINK] = { "link", 3, true, op_link },
	[OP_SYMLINK] = { "symlink", 3, true, op_symlink },
	[OP_MKDIR] = { "mkdir", 4, true, op_mkdir },
	[OP_CHMOD] = { "chmod", 4, false, op_chmod },
	[OP_CHOWN] = { "chown", 3, false, op_chown },
	[OP_SETXATTR] = { "setxattr", 4, false, op_setxattr },
	[OP_RMXATTR] = { "rmxattr", 2, false, op_rmxattr },
	[OP_UNLINK] = { "unlink", 6, false, op_unlink },
	[OP_RMTREE] = { "rmtree", 1, false, op_rmtree },
};

static const char *
op_name(enum op op)
{
	return ops[op].name;
}

/* The next operation, by weight; when the tree holds --max-files entries
 * or more, one that would add an entry is replaced by a delete (unlink or
 * rmtree, by their weights).  *skip is set when it must be skipped: the
 * tree is full and both deletes are disabled. */
static enum op
pick_op(struct ctx *c, bool *skip)
{
	uint64_t total = 0;
	unsigned k;

	for (k = 0; k < OP_COUNT; k++)
		total += c->weight[k];
	uint64_t r = rng_below(c, total);
	for (k = 0; k + 1 < OP_COUNT && r >= c->weight[k]; k++)
		r -= c->weight[k];
	*skip = false;
	if (!ops[k].adds || c->tree.n - 1 < c->max_files)
		return (enum op)k;
	uint64_t wu = c->weight[OP_UNLINK], wr = c->weight[OP_RMTREE];
	if (wu + wr == 0) {
		*skip = true;
		return (enum op)k;
	}
	return rng_below(c, wu + wr) < wu ? OP_UNLINK : OP_RMTREE;
}

/* -- the command line ----------------------------------------------------- */

struct opts {
	const char *dir;
	uint64_t seed;
	bool have_seed;
	uint64_t nops;
	bool have_ops;
	double seconds;		/* 0: count operations instead */
	double rate;		/* operations per second, 0: no pacing */
	uint64_t max_files;
	uint64_t max_size;
	bool quiet;
	unsigned weight[OP_COUNT];
};

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("fsstress: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(fsstress --help tells the usage)\n", stderr);
	exit(2);
}

static void
usage(void)
{
	printf("usage: fsstress DIR [--seed N] [--ops N | --seconds S] "
	    "[--rate OPS_PER_SEC]\n"
	    "                [--mix NAME=WEIGHT,...] [--max-files N] "
	    "[--max-size BYTES] [--quiet]\n"
	    "\n"
	    "A seeded random workload on the tree DIR (.georep at its top is "
	    "left alone).\n"
	    "\n"
	    "  --seed N          the seed (default: from the clock); printed "
	    "first on stderr\n"
	    "  --ops N           run N operations (default 1000)\n"
	    "  --seconds S       run for S seconds instead\n"
	    "  --rate R          at most R operations per second (0: as fast "
	    "as possible)\n"
	    "  --mix NAME=W,...  relative weights; W 0 disables one, all=W "
	    "sets every one\n"
	    "  --max-files N     entries kept in DIR (default 2000): over it, "
	    "deletes instead\n"
	    "  --max-size BYTES  largest file made or grown (default 1M; K, M, "
	    "G suffixes)\n"
	    "  --quiet           only the seed, failures and a total at the "
	    "end\n"
	    "\n"
	    "Operations and their default weights:\n");
	for (unsigned k = 0; k < OP_COUNT; k++)
		printf("  %-14s %u\n", ops[k].name, ops[k].weight);
	printf("\nExit status: 0, 1 when an operation failed unexpectedly, "
	    "2 for a bad argument.\nSIGTERM and SIGINT stop it after the "
	    "current operation.\n");
}

/* A decimal integer in [0, MAX] for option OPT. */
static uint64_t
parse_uint(const char *opt, const char *arg, uint64_t max)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || errno || v > max)
		usage_error("%s: '%s' is not an integer from 0 to %llu", opt,
		    arg, (unsigned long long)max);
	return v;
}

/* A number of bytes, with an optional K, M or G (binary) suffix. */
static uint64_t
parse_size(const char *opt, const char *arg)
{
	static const uint64_t max = 1ULL << 40;
	char *end;

	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*arg < '0' || *arg > '9' || *end != '\0' || errno ||
	    v > max >> shift || v == 0)
		usage_error("%s: '%s' is not a size from 1 to 1T", opt, arg);
	return v << shift;
}

/* A decimal number in [0, 1e9] for option OPT. */
static double
parse_number(const char *opt, const char *arg)
{
	char *end;

	errno = 0;
	double v = strtod(arg, &end);
	if (((*arg < '0' || *arg > '9') && *arg != '.') || *end != '\0' ||
	    errno || !(v >= 0 && v <= 1e9))
		usage_error("%s: '%s' is not a number from 0 to 1e9", opt, arg);
	return v;
}

/* NAME=WEIGHT,... into W, left to right; "all" names every operation. */
static void
parse_mix(unsigned *w, const char *arg)
{
	char *copy = xstrdup(arg), *save = NULL;

	for (char *item = strtok_r(copy, ",", &save); item;
	    item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (eq == NULL || eq == item)
			usage_error("--mix: '%s' is not NAME=WEIGHT", item);
		*eq = '\0';
		char what[64];
		snprintf(what, sizeof(what), "--mix %.40s", item);
		unsigned weight = (unsigned)parse_uint(what, eq + 1,
		    MAX_WEIGHT);
		unsigned k;
		if (strcmp(item, "all") == 0) {
			for (k = 0; k < OP_COUNT; k++)
				w[k] = weight;
			continue;
		}
		for (k = 0; k < OP_COUNT; k++)
			if (strcmp(item, ops[k].name) == 0)
				break;
		if (k == OP_COUNT) {
			fprintf(stderr, "fsstress: --mix: unknown operation "
			    "'%s'; known:", item);
			for (k = 0; k < OP_COUNT; k++)
				fprintf(stderr, " %s", ops[k].name);
			fputs(", all\n", stderr);
			exit(2);
		}
		w[k] = weight;
	}
	free(copy);
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	enum { O_SEED = 256, O_OPS, O_SECONDS, O_RATE, O_MIX, O_MAX_FILES,
	    O_MAX_SIZE, O_QUIET };
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, O_SEED },
		{ "ops", required_argument, NULL, O_OPS },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "mix", required_argument, NULL, O_MIX },
		{ "max-files", required_argument, NULL, O_MAX_FILES },
		{ "max-size", required_argument, NULL, O_MAX_SIZE },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_seconds = false;
	int ch;

	*o = (struct opts){ .nops = 1000, .max_files = 2000,
	    .max_size = 1 << 20 };
	for (unsigned k = 0; k < OP_COUNT; k++)
		o->weight[k] = ops[k].weight;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_SEED:
			o->seed = parse_uint("--seed", optarg, UINT64_MAX);
			o->have_seed = true;
			break;
		case O_OPS:
			o->nops = parse_uint("--ops", optarg, UINT64_MAX);
			o->have_ops = true;
			break;
		case O_SECONDS:
			o->seconds = parse_number("--seconds", optarg);
			if (o->seconds <= 0)
				usage_error("--seconds: '%s' is not above 0",
				    optarg);
			have_seconds = true;
			break;
		case O_RATE:
			o->rate = parse_number("--rate", optarg);
			break;
		case O_MIX:
			parse_mix(o->weight, optarg);
			break;
		case O_MAX_FILES:
			o->max_files = parse_uint("--max-files", optarg,
			    UINT32_MAX);
			if (o->max_files == 0)
				usage_error("--max-files: '%s' is not above 0",
				    optarg);
			break;
		case O_MAX_SIZE:
			o->max_size = parse_size("--max-size", optarg);
			break;
		case O_QUIET:
			o->quiet = true;
			break;
		case 'h':
			usage();
			exit(0);
		case ':':
			usage_error("%s needs an argument", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (o->have_ops && have_seconds)
		usage_error("--ops and --seconds exclude each other");
	if (optind == argc)
		usage_error("no DIR given");
	if (optind != argc - 1)
		usage_error("one DIR only, not also '%s'", argv[optind + 1]);
	o->dir = argv[optind];
	uint64_t total = 0;
	for (unsigned k = 0; k < OP_COUNT; k++)
		total += o->weight[k];
	if (total == 0)
		usage_error("--mix: every operation has weight 0");
}

/* -- the run -------------------------------------------------------------- */

static double
since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Sleeps until SECS after T0, or until a signal. */
static void
sleep_until(const struct timespec *t0, double secs)
{
	struct timespec due = *t0;
	long long ns = (long long)(secs * 1e9);

	due.tv_sec += (time_t)(ns / 1000000000);
	due.tv_nsec += (long)(ns % 1000000000);
	if (due.tv_nsec >= 1000000000) {
		due.tv_sec++;
		due.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) ==
	    EINTR && !stop_signal)
		;
}

static bool
more(const struct opts *o, uint64_t n, const struct timespec *t0)
{
	if (stop_signal)
		return false;
	if (o->seconds > 0)
		return since(t0) < o->seconds;
	return n < o->nops;
}

static void
report(const struct ctx *c, const struct opts *o, uint64_t n, double secs)
{
	unsigned long sum[R_COUNT] = { 0 };

	for (unsigned k = 0; k < OP_COUNT; k++)
		for (unsigned r = 0; r < R_COUNT; r++)
			sum[r] += c->count[k][r];
	if (stop_signal)
		fprintf(stderr, "fsstress: stopped by signal %d\n",
		    (int)stop_signal);
	fprintf(stderr, "fsstress: %llu ops in %.1fs: %lu done, %lu skipped, "
	    "%lu failed\n", (unsigned long long)n, secs, sum[R_DONE],
	    sum[R_SKIP], sum[R_FAIL]);
	if (o->quiet)
		return;
	fprintf(stderr, "  %-14s %8s %8s %8s\n", "operation", "done", "skipped",
	    "failed");
	for (unsigned k = 0; k < OP_COUNT; k++) {
		const unsigned long *v = c->count[k];
		if (c->weight[k] == 0 && v[R_DONE] + v[R_SKIP] + v[R_FAIL] == 0)
			continue;
		fprintf(stderr, "  %-14s %8lu %8lu %8lu\n", ops[k].name,
		    v[R_DONE], v[R_SKIP], v[R_FAIL]);
	}
}

static uint64_t
clock_seed(void)
{
	struct timespec t;
	uint64_t s;

	clock_gettime(CLOCK_REALTIME, &t);
	s = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
	s ^= (uint64_t)getpid() << 32;
	return rng_next(&s) >> 1;	/* fits a signed 64-bit parser too */
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct ctx c = { .top = -1 };
	struct sigaction sa = { .sa_handler = on_signal,
	    .sa_flags = SA_RESTART };
	struct timespec t0;
	uint64_t n;

	parse_args(&o, argc, argv);
	c.top = open(o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.top < 0) {
		fprintf(stderr, "fsstress: DIR ");
		put_path(o.dir);
		fprintf(stderr, ": %s\n", strerror(errno));
		return 2;
	}
	uint64_t seed = o.have_seed ? o.seed : clock_seed();
	fprintf(stderr, "seed %llu\n", (unsigned long long)seed);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	umask(0);		/* the modes asked for are the modes made */
	c.rng = seed;
	c.root = geteuid() == 0;
	c.have_proc = access("/proc/self/fd", X_OK) == 0;
	c.max_files = o.max_files;
	c.max_size = o.max_size;
	memcpy(c.weight, o.weight, sizeof(c.weight));
	c.buf = xmalloc(CHUNK);
	if (!c.have_proc)
		fputs("fsstress: no /proc/self/fd: a file is opened by name "
		    "after a check of its kind (a device swapped in between "
		    "would be opened)\n", stderr);
	if (!c.root && c.weight[OP_CHOWN] && !o.quiet)
		fputs("fsstress: not root: chown is skipped\n", stderr);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = 0; more(&o, n, &t0); n++) {
		if (o.rate > 0) {
			double due = (double)n / o.rate;
			if (o.seconds > 0 && due > o.seconds)
				due = o.seconds;
			sleep_until(&t0, due);
			if (!more(&o, n, &t0))
				break;
		}
		if (c.stale || n % REWALK_EVERY == 0)
			tree_rebuild(&c);
		bool skip;
		enum op op = pick_op(&c, &skip);
		c.cur = op;
		c.count[op][skip ? R_SKIP : ops[op].run(&c)]++;
	}
	report(&c, &o, n, since(&t0));

	unsigned long failures = 0;
	for (unsigned k = 0; k < OP_COUNT; k++)
		failures += c.count[k][R_FAIL];
	tree_clear(&c.tree);
	free(c.tree.v);
	free(c.buf);
	close(c.top);
	return failures ? 1 : 0;
}
