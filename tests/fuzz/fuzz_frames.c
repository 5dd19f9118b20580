/*
 * libFuzzer target: the secondary's request handling, on what arrives.
 *
 * Each input is a stream of request frames, fed to the secondary's own
 * handler (secondary_open / secondary_handle / secondary_close: what
 * `georep secondary` runs) against a fresh secondary directory.  It is fed
 * in two calls, cut in the middle, as a pipe may cut it.  A secondary
 * takes nothing before a HELLO, so the seeds start with one (seeds.c).
 * Checked, beyond "no crash, no sanitizer report, no leak":
 *   - secondary_handle's contract: whole frames used, the rest a cut frame
 *     (proto_parse_frame says "more"), the second call going on where the
 *     first stopped;
 *   - the replies: well-formed REPLY frames, read back exactly, one per
 *     request but PUT and DATA, in order, with the request's id;
 *   - nothing changes beside the secondary's directory (a canary file,
 *     and no other entry);
 *   - the frame parser's contract on the input as a stream; and the
 *     typed readers on the input as one payload: an accepted oref or attrs
 *     within the contract of proto.h, and written back by put_oref /
 *     put_attrs to exactly the bytes read.
 * A violation aborts.
 *
 * The scratch directory is made once; the secondary's directory in it is
 * removed after every input (a few system calls for what an input of at
 * most 64 KiB can make), so that an input does not depend on the ones
 * before it and a crash replays from its file alone.
 *
 * As root the handler makes device nodes, changes owners and writes
 * trusted.* xattrs.  So the target first moves into a mount namespace of
 * its own, where every mount is read-only except a new tmpfs (nodev,
 * nosuid, noexec) for the scratch directory and FUZZ_WRITABLE (the corpus
 * and crash files; default: the current directory).  If that cannot be
 * set up, it refuses to run as root unless FUZZ_UNSAFE=1.  Without root,
 * the scratch directory is made in /dev/shm (a tmpfs: HELLO's and
 * COMMIT's fsyncs cost nothing there), else in TMPDIR.
 *
 * The handler's logs ("protocol error: ...") go to /dev/null unless
 * FUZZ_VERBOSE is set (to replay a crash).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/log.h"
#include "common/names.h"
#include "protocol/proto.h"
#include "secondary/secondary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_frames: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#define SEC_NAME	"sec"		/* the secondary's directory */
#define CANARY_NAME	"canary"	/* beside it: must not change */
#define CANARY_TEXT	"untouched\n"

static char top[PATH_MAX];	/* the scratch directory */
static char secdir[PATH_MAX + 8];
static int topfd = -1;

/* ---- the typed readers, on the input as one payload ---- */

static void
check_cursor(const struct rd *r)
{
	CHECK(r->off <= r->len);
}

/* p/n lies inside the payload. */
static void
check_inside(const struct rd *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	if (n == 0)
		return;
	CHECK(b != NULL);
	CHECK(b >= r->p && b + n <= r->p + r->len);
}

/* The bytes of the reader from start to its cursor equal what put_* wrote. */
static void
check_same(const struct rd *r, size_t start, const struct buf *b)
{
	CHECK(r->off - start == b->len);
	CHECK(b->len == 0 || memcmp(r->p + start, b->data, b->len) == 0);
}

static void
check_oref_fields(const struct rd *r, const struct oref *o, bool or_self)
{
	check_inside(r, o->parent, o->parent_len);
	check_inside(r, o->name, o->name_len);
	if (o->base == BASE_SELF) {
		CHECK(or_self);
		CHECK(o->parent_len == 0 && o->name_len == 0);
		return;
	}
	CHECK(o->base == BASE_ROOT || o->base == BASE_STAGE);
	CHECK(relpath_valid(o->parent, o->parent_len));
	CHECK(name_valid(o->name, o->name_len));
	CHECK(o->name_len <= NAME_MAX);
	CHECK(memchr(o->name, '/', o->name_len) == NULL);
	CHECK(memchr(o->name, '\0', o->name_len) == NULL);
	CHECK(o->parent_len == 0 ||
	    memchr(o->parent, '\0', o->parent_len) == NULL);
	if (o->base == BASE_ROOT) {
		size_t sl = strlen(GEOREP_STATE_DIR);
		const char *first = o->parent_len ? o->parent : o->name;
		size_t flen = o->parent_len ? o->parent_len : o->name_len;
		const char *slash = memchr(first, '/', flen);
		if (slash)
			flen = (size_t)(slash - first);
		CHECK(!(flen == sl &&
		    memcmp(first, GEOREP_STATE_DIR, sl) == 0));
	}
}

static void
read_oref(const uint8_t *p, size_t len, bool or_self)
{
	struct rd r;
	struct oref o;

	rd_init(&r, p, len);
	bool ok = or_self ? get_oref_or_self(&r, &o) : get_oref(&r, &o);
	check_cursor(&r);
	if (!ok) {
		CHECK(r.bad);
		return;
	}
	CHECK(!r.bad);
	check_oref_fields(&r, &o, or_self);
	struct buf b = BUF_INIT;
	put_oref(&b, o.base, o.parent, o.parent_len, o.psino, o.name,
	    o.name_len);
	check_same(&r, 0, &b);
	buf_release(&b);
}

static void
check_attrs_fields(const struct rd *r, const struct attrs *a)
{
	CHECK((a->mask & ~(uint32_t)ATTR_ALL) == 0);
	CHECK(a->mtime_nsec < 1000000000u);
	CHECK((a->mode & ~07777u) == 0);
	CHECK(a->nxattrs <= PROTO_XATTR_COUNT_MAX);
	if (!(a->mask & (ATTR_XATTRS | ATTR_ACLS)))
		CHECK(a->nxattrs == 0);
	for (uint32_t i = 0; i < a->nxattrs; i++) {
		const struct xattr *x = &a->xattrs[i];
		CHECK(x->name_len > 0 && x->name_len <= PROTO_XATTR_NAME_MAX);
		CHECK(x->value_len <= PROTO_XATTR_VALUE_MAX);
		check_inside(r, x->name, x->name_len);
		check_inside(r, x->value, x->value_len);
		CHECK(memchr(x->name, '\0', x->name_len) == NULL);
		CHECK(a->mask & (xattr_is_acl(x->name, x->name_len) ?
		    ATTR_ACLS : ATTR_XATTRS));
		bool ns = (x->name_len > 5 && !memcmp(x->name, "user.", 5)) ||
		    (x->name_len > 8 && !memcmp(x->name, "trusted.", 8)) ||
		    (x->name_len > 9 && !memcmp(x->name, "security.", 9)) ||
		    (x->name_len > 7 && !memcmp(x->name, "system.", 7));
		CHECK(ns);
	}
}

static void
read_attrs(const uint8_t *p, size_t len)
{
	struct rd r;
	struct attrs a;

	rd_init(&r, p, len);
	bool ok = get_attrs(&r, &a);
	check_cursor(&r);
	if (!ok) {
		CHECK(r.bad);
		CHECK(a.xattrs == NULL);	/* released on refusal */
		attrs_release(&a);
		return;
	}
	check_attrs_fields(&r, &a);
	struct buf b = BUF_INIT;
	put_attrs(&b, &a);
	check_same(&r, 0, &b);
	buf_release(&b);
	attrs_release(&a);
	CHECK(a.xattrs == NULL && a.nxattrs == 0);
}

/* ---- the frame parser, on the input as a stream ---- */

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
check_stream(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct frame f;
		ssize_t n = proto_parse_frame(data + off, size - off, &f);
		if (n <= 0) {
			if (n == 0 && size - off >= 4) {
				uint32_t len = le32(data + off);
				/* "More needed" only for a valid length. */
				CHECK(len >= PROTO_HDR_LEN - 4 &&
				    len <= PROTO_FRAME_MAX);
				CHECK(size - off - 4 < len);
			}
			return;
		}
		CHECK((size_t)n <= size - off);
		CHECK((size_t)n >= PROTO_HDR_LEN);
		CHECK((size_t)n == (size_t)f.len + PROTO_HDR_LEN);
		CHECK(f.payload == data + off + PROTO_HDR_LEN);
		CHECK(f.type == data[off + 4]);
		(void)msg_name(f.type);
		off += (size_t)n;
	}
}

/* ---- the secondary ---- */

/* The replies in out: well-formed REPLY frames, each read exactly, and
 * each answering, in order, a request of data[0..used) that has a reply
 * (all but PUT and DATA).  All of them are answered unless the handler
 * found a violation (rc < 0), which leaves the last one unanswered. */
static void
check_replies(const struct buf *out, const uint8_t *data, size_t used,
    int rc)
{
	size_t roff = 0, qoff = 0;

	while (roff < out->len) {
		struct frame f, q;
		ssize_t n = proto_parse_frame(out->data + roff, out->len - roff,
		    &f);
		CHECK(n > 0);
		CHECK(f.type == MSG_REPLY);
		struct rd r;
		uint32_t len;
		rd_init(&r, f.payload, f.len);
		uint32_t err = get_u32(&r);
		(void)get_u64(&r);
		if (err)
			CHECK(get_str(&r, &len, 4096) != NULL);
		else
			(void)get_bytes(&r, &len, PROTO_FRAME_MAX);
		CHECK(rd_end(&r));
		roff += (size_t)n;
		/* The next request that has a reply. */
		do {
			CHECK(qoff < used);
			ssize_t m = proto_parse_frame(data + qoff,
			    used - qoff, &q);
			CHECK(m > 0);
			qoff += (size_t)m;
		} while (q.type == MSG_PUT || q.type == MSG_DATA);
		CHECK(q.id == f.id);
	}
	/* Every request answered, or (after a violation) all but the last. */
	size_t left = 0;
	while (qoff < used) {
		struct frame q;
		ssize_t m = proto_parse_frame(data + qoff, used - qoff, &q);
		CHECK(m > 0);
		qoff += (size_t)m;
		if (q.type != MSG_PUT && q.type != MSG_DATA)
			left++;
	}
	CHECK(left == 0 || (rc < 0 && left == 1));
}

/* The handler keeps a cut frame for later: what it left is one. */
static void
check_left(const uint8_t *rest, size_t n, int rc)
{
	struct frame f;

	if (rc == 0 && n > 0)
		CHECK(proto_parse_frame(rest, n, &f) == 0);
}

static void
run_secondary(const uint8_t *data, size_t size)
{
	struct secondary *s = secondary_open(secdir);
	struct buf out = BUF_INIT;
	size_t half = size / 2, used, more = 0;

	CHECK(s != NULL);
	int rc = secondary_handle(s, data, half, &used, &out);
	CHECK(rc >= -1 && rc <= 1 && used <= half);
	check_left(data + used, half - used, rc);
	if (rc == 0) {
		rc = secondary_handle(s, data + used, size - used, &more, &out);
		CHECK(rc >= -1 && rc <= 1 && more <= size - used);
		used += more;
		check_left(data + used, size - used, rc);
	}
	/* Once it has ended, nothing more is read. */
	if (rc != 0 && used < size) {
		CHECK(secondary_handle(s, data + used, size - used, &more,
		    &out) == rc);
		CHECK(more == 0);
	}
	check_replies(&out, data, used, rc);
	buf_release(&out);
	secondary_close(s);
}

/* ---- the scratch directory ---- */

/* Remove dfd/name and everything below, opening up directories a
 * SETATTR closed (0000, 0555) first.  0, or -1 with errno. */
static int
rm_tree(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0);
	if ((st.st_mode & 0700) != 0700)
		(void)fchmodat(dfd, name, 0700, 0);
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			rc = rm_tree(fd, de->d_name);
	if (rc == 0 && errno != 0)
		rc = -1;
	closedir(d);
	return rc < 0 ? -1 : unlinkat(dfd, name, AT_REMOVEDIR);
}

/* After an input: the secondary's directory is gone, and beside it only
 * the canary, unchanged. */
static void
reset_scratch(void)
{
	char text[sizeof(CANARY_TEXT) + 8];

	if (rm_tree(topfd, SEC_NAME) < 0) {
		perror("fuzz_frames: emptying the scratch directory");
		abort();
	}
	int fd = openat(topfd, CANARY_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	CHECK(fd >= 0);
	ssize_t n = read(fd, text, sizeof(text));
	close(fd);
	CHECK(n == (ssize_t)strlen(CANARY_TEXT) &&
	    memcmp(text, CANARY_TEXT, (size_t)n) == 0);
	fd = openat(topfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	CHECK(d != NULL);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		CHECK(strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, CANARY_NAME) == 0);
	closedir(d);
}

static void
remove_top(void)
{
	if (topfd >= 0) {
		rm_tree(topfd, SEC_NAME);
		unlinkat(topfd, CANARY_NAME, 0);
	}
	rmdir(top);
}

/*
 * As root: a mount namespace of our own, every mount read-only but
 * `keep` (made its own mount first) and a new tmpfs on `mnt` (a directory
 * in keep).  -1 with errno at the first step that fails.
 */
static int
sandbox(const char *keep, const char *mnt)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	struct mount_attr rw = { .attr_clr = MOUNT_ATTR_RDONLY };

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(keep, keep, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0 ||
	    mount_setattr(AT_FDCWD, keep, AT_RECURSIVE, &rw, sizeof(rw)) < 0 ||
	    mount("fuzz_frames", mnt, "tmpfs", MS_NODEV | MS_NOSUID |
	    MS_NOEXEC, "size=256m,mode=0700") < 0)
		return -1;
	return 0;
}

static void
make_top_as_root(void)
{
	const char *keep = getenv("FUZZ_WRITABLE");
	char cwd[PATH_MAX];

	if (keep == NULL || *keep == '\0') {
		CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
		keep = cwd;
	}
	snprintf(top, sizeof(top), "%s/scratch", keep);
	if (mkdir(top, 0700) < 0 && errno != EEXIST) {
		perror(top);
		exit(1);
	}
	if (sandbox(keep, top) == 0)
		return;
	const char *unsafe = getenv("FUZZ_UNSAFE");
	if (unsafe && strcmp(unsafe, "1") == 0) {
		fprintf(stderr, "fuzz_frames: no sandbox (%s); FUZZ_UNSAFE=1: "
		    "fuzzing as root in %s\n", strerror(errno), top);
		return;
	}
	fprintf(stderr, "fuzz_frames: as root, the target runs in a mount "
	    "namespace where all but %s is read-only, and that cannot be set "
	    "up here (%s).  Run it as another user, or set FUZZ_UNSAFE=1.\n",
	    keep, strerror(errno));
	exit(1);
}

static void
make_top(void)
{
	const char *tmp = getenv("TMPDIR");

	if (geteuid() == 0) {
		make_top_as_root();
	} else {
		struct stat st;
		bool shm = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		    access("/dev/shm", W_OK) == 0;
		snprintf(top, sizeof(top), "%s/georep-fuzz-XXXXXX", shm ?
		    "/dev/shm" : tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(top) == NULL) {
			perror(top);
			exit(1);
		}
		atexit(remove_top);
	}
	topfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(topfd >= 0);
	snprintf(secdir, sizeof(secdir), "%s/" SEC_NAME, top);
	rm_tree(topfd, SEC_NAME);	/* a run before, killed */
	int fd = openat(topfd, CANARY_NAME, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, CANARY_TEXT, strlen(CANARY_TEXT)) ==
	    (ssize_t)strlen(CANARY_TEXT));
	CHECK(close(fd) == 0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FILE *out = NULL;
	if (getenv("FUZZ_VERBOSE") == NULL) {
		out = fopen("/dev/null", "w");
		CHECK(out != NULL);
	}
	log_init("fuzz_frames", LOG_LVL_ERR, out);
	make_top();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_stream(data, size);
	read_oref(data, size, false);
	read_oref(data, size, true);
	read_attrs(data, size);
	run_secondary(data, size);
	reset_scratch();
	return 0;
}
