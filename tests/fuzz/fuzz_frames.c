/*
 * libFuzzer target: the secondary's request handling, on what arrives.
 *
 * Each input is a stream of request frames, fed to the secondary's own
 * handler (secondary_open / secondary_handle / secondary_close: what
 * `georep secondary` runs) against a fresh secondary directory.  It is fed
 * in two calls, cut in the middle, as a pipe may cut it.  A secondary
 * takes nothing before a HELLO, so the seeds start with one (seeds.c).
 *
 * The directory is empty (a new secondary) unless the input's first HELLO
 * carries HELLO_READONLY or HELLO_FORCE, which are meant for a tree that
 * is there already (georep verify compares one; --force takes one over):
 * then it holds a small tree bound to volume TREE_VOLUME (make_tree: files,
 * a sparse one, a hard link, symlinks, a FIFO, subdirectories, one of mode
 * 0000, xattrs where the filesystem takes them), for VLIST and DIGEST to
 * find something.
 *
 * Checked, beyond "no crash, no sanitizer report, no leak":
 *   - secondary_handle's contract: whole frames used, the rest a cut frame
 *     (proto_parse_frame says "more"), the second call going on where the
 *     first stopped;
 *   - the replies: well-formed REPLY frames, read back exactly, one per
 *     request but PUT and DATA, in order, with the request's id;
 *   - what a successful reply carries is what the primary accepts: a
 *     LISTDIR or VLIST page passes proto_check_list_page or
 *     proto_check_vlist_page (names after the request's `after`, .georep
 *     never at the root, within VLIST_PAGE_MAX), a DIGEST reply has
 *     DIGEST_LEN bytes, a read-only HELLO finds the tree new or bound
 *     (never taken);
 *   - a read-only connection (a HELLO with HELLO_READONLY answered) answers
 *     nothing but LISTDIR, VLIST, DIGEST, PING and BYE, and leaves the
 *     secondary's directory exactly as it was: every entry's inode, type
 *     and mode, owner, links, size, mtime and ctime (which any write, even
 *     one undone, moves);
 *   - no descriptor left open, the working directory where it was (VLIST
 *     reads xattrs from inside the directory listed);
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
 * FUZZ_VERBOSE is set (to replay a crash); then each reply is said too.
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
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include "common/codec.h"
#include "common/digest.h"
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
#define TREE_VOLUME	"vol-0123"	/* make_tree's binding; seeds.c's HELLO */
#define FD_SPAN		32	/* descriptors looked at for a leak */

static char top[PATH_MAX];	/* the scratch directory */
static char secdir[PATH_MAX + 8];
static int topfd = -1;
static struct stat cwd0;	/* the working directory, at the start */
static bool verbose;		/* FUZZ_VERBOSE */

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

/* A HELLO request's flags, or 0 if it does not parse. */
static uint32_t
hello_flags(const struct frame *q)
{
	struct rd r;
	uint32_t vlen;

	rd_init(&r, q->payload, q->len);
	(void)get_u32(&r);
	(void)get_bytes(&r, &vlen, PROTO_FRAME_MAX);
	uint32_t flags = get_u32(&r);
	return r.bad ? 0 : flags;
}

/* A successful reply to request q (value, data/len) is what the primary
 * accepts (conn.c's result_ok, the page checks of reconcile and verify). */
static void
check_result(const struct frame *q, uint64_t value, const uint8_t *data,
    uint32_t len)
{
	struct list_pos pos = { .len = 0 };
	char why[384];
	uint32_t plen, alen;
	struct rd r;

	rd_init(&r, q->payload, q->len);
	switch (q->type) {
	case MSG_HELLO:
		CHECK(len == HELLO_REPLY_DATA);
		if (hello_flags(q) & HELLO_READONLY)
			CHECK((value & HELLO_STATE_MASK) == HELLO_NEW ||
			    (value & HELLO_STATE_MASK) == HELLO_BOUND);
		break;
	case MSG_LISTDIR: {
		uint8_t base = get_u8(&r);
		(void)get_str(&r, &plen, PROTO_FRAME_MAX);
		(void)get_u64(&r);
		const char *after = get_str(&r, &alen, NAME_MAX);
		CHECK(rd_end(&r));
		memcpy(pos.last, after, alen);
		pos.len = alen;
		CHECK(value <= 1 && len <= PROTO_LIST_BYTES);
		CHECK(proto_check_list_page(data, len, value == 1,
		    base == BASE_ROOT && plen == 0, &pos, why, sizeof(why)));
		break;
	}
	case MSG_VLIST: {
		(void)get_str(&r, &plen, PROTO_FRAME_MAX);
		const char *after = get_str(&r, &alen, NAME_MAX);
		CHECK(rd_end(&r));
		memcpy(pos.last, after, alen);
		pos.len = alen;
		CHECK(value <= 1 && len <= VLIST_PAGE_MAX);
		CHECK(proto_check_vlist_page(data, len, value == 1, plen == 0,
		    &pos, why, sizeof(why)));
		break;
	}
	case MSG_DIGEST:
		CHECK(len == DIGEST_LEN);
		break;
	default:
		break;
	}
}

/* What a read-only connection may ask (proto.h, HELLO_READONLY). */
static bool
readonly_type(uint8_t t)
{
	return t == MSG_LISTDIR || t == MSG_VLIST || t == MSG_DIGEST ||
	    t == MSG_PING || t == MSG_BYE;
}

/*
 * The requests of data[0..used) as the secondary handles them: each
 * compressed block (MSG_ZBLOCK) that unpacks replaced by the frames it
 * holds; one that does not stays as it is (the secondary stopped there).
 * *blocks says whether there was any.
 */
static void
flatten_blocks(const uint8_t *data, size_t used, struct buf *flat,
    bool *blocks)
{
	static ZSTD_DCtx *dctx;
	struct buf inner = BUF_INIT;
	size_t off = 0;
	char why[256];

	if (dctx == NULL)
		CHECK((dctx = ZSTD_createDCtx()) != NULL);
	*blocks = false;
	while (off < used) {
		struct frame f;
		ssize_t n = proto_parse_frame(data + off, used - off, &f);
		CHECK(n > 0);
		if (f.type == MSG_ZBLOCK) {
			*blocks = true;
			if (proto_unpack_block(dctx, f.payload, f.len, &inner,
			    why, sizeof(why))) {
				/* What the secondary checks, checked again. */
				CHECK(proto_block_span(inner.data, inner.len,
				    inner.len) == inner.len);
				buf_add(flat, inner.data, inner.len);
				off += (size_t)n;
				continue;
			}
		}
		buf_add(flat, data + off, (size_t)n);
		off += (size_t)n;
	}
	buf_release(&inner);
}

/* The replies in out: well-formed REPLY frames, each read exactly, and
 * each answering, in order, a request of data[0..used) that has a reply
 * (all but PUT and DATA; the frames inside a compressed block each
 * count).  All of them are answered unless the handler found a violation
 * (rc < 0), which leaves the last one unanswered -- or, with blocks, BYE
 * or a violation inside a block leaves the rest of that block.  Returns
 * whether a read-only HELLO was answered (the connection went
 * read-only). */
static bool
check_replies(const struct buf *out, const uint8_t *raw, size_t raw_used,
    int rc)
{
	struct buf flat = BUF_INIT;
	bool blocks;

	flatten_blocks(raw, raw_used, &flat, &blocks);
	const uint8_t *data = flat.data;
	size_t used = flat.len;
	size_t roff = 0, qoff = 0;
	bool ro = false;

	while (roff < out->len) {
		struct frame f, q;
		ssize_t n = proto_parse_frame(out->data + roff, out->len - roff,
		    &f);
		CHECK(n > 0);
		CHECK(f.type == MSG_REPLY);
		struct rd r;
		uint32_t len;
		const uint8_t *d;
		rd_init(&r, f.payload, f.len);
		uint32_t err = get_u32(&r);
		uint64_t value = get_u64(&r);
		if (err)
			d = (const uint8_t *)get_str(&r, &len, 4096);
		else
			d = get_bytes(&r, &len, PROTO_FRAME_MAX);
		CHECK(d != NULL);
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
		if (verbose)
			fprintf(stderr, "fuzz_frames: %s %u: %s%.*s (value %llu, "
			    "%u bytes)\n", msg_name(q.type), q.id, err ?
			    "failed: " : "done", err ? (int)len : 0,
			    err ? (const char *)d : "",
			    (unsigned long long)value, len);
		CHECK(!ro || readonly_type(q.type));
		if (err == 0) {
			check_result(&q, value, d, len);
			if (q.type == MSG_HELLO &&
			    (hello_flags(&q) & HELLO_READONLY))
				ro = true;
		}
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
	CHECK(left == 0 || (rc < 0 && left == 1) || (blocks && rc != 0));
	buf_release(&flat);
	return ro;
}

/* The handler keeps a cut frame for later: what it left is one. */
static void
check_left(const uint8_t *rest, size_t n, int rc)
{
	struct frame f;

	if (rc == 0 && n > 0)
		CHECK(proto_parse_frame(rest, n, &f) == 0);
}

/* Whether the input went through a read-only connection. */
static bool
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
	bool ro = check_replies(&out, data, used, rc);
	buf_release(&out);
	secondary_close(s);
	return ro;
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

/* ---- the tree a read-only or forced HELLO finds ---- */

/* The flags of the input's first HELLO in *first, and of all its HELLOs
 * in *any (0: none, or it does not parse). */
static void
input_hello_flags(const uint8_t *data, size_t size, uint32_t *first,
    uint32_t *any)
{
	size_t off = 0;
	struct frame f;
	ssize_t n;
	bool seen = false;

	*first = *any = 0;
	while (off < size && (n = proto_parse_frame(data + off, size - off,
	    &f)) > 0) {
		if (f.type == MSG_HELLO) {
			uint32_t flags = hello_flags(&f);
			if (!seen)
				*first = flags;
			seen = true;
			*any |= flags;
		}
		off += (size_t)n;
	}
}

static void
put_file(int dfd, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode);

	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, mode) == 0);	/* whatever the umask */
	CHECK(close(fd) == 0);
}

/* An xattr where the filesystem and our privilege allow one. */
static void
put_xattr(const char *name, const char *xname, const char *value)
{
	char path[sizeof(secdir) + 64];

	snprintf(path, sizeof(path), "%s/%s", secdir, name);
	if (lsetxattr(path, xname, value, strlen(value), 0) < 0)
		CHECK(errno == ENOTSUP || errno == EPERM);
}

/*
 * The secondary's directory, bound to TREE_VOLUME:
 *
 *   .georep/volume  f (user.comment, trusted.georep, user.empty)
 *   empty  sparse (a hole, data, a hole, data: 3 DIGEST_BLOCKs and 4)
 *   link -> f  up -> ../../outside  fifo  locked (0000)  \xc3\xa9 (latin)
 *   d/ (user.dir): g (a hard link of f), l -> .., sub/
 *   closed/ (0000): x
 *   null (a character device, as root; tmpfs is nodev in the sandbox)
 *
 * A few dozen system calls, on a tmpfs.
 */
static void
make_tree(void)
{
	CHECK(mkdirat(topfd, SEC_NAME, 0755) == 0);
	int d = openat(topfd, SEC_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(d >= 0);
	CHECK(mkdirat(d, GEOREP_STATE_DIR, 0700) == 0);
	put_file(d, GEOREP_STATE_DIR "/volume", TREE_VOLUME, 0600);
	put_file(d, "f", "hello world\n", 0644);
	put_xattr("f", "user.comment", "hello");
	put_xattr("f", "user.empty", "");
	put_xattr("f", "trusted.georep", "t");
	put_file(d, "empty", "", 0644);
	int fd = openat(d, "sparse", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0640);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "data", 4, DIGEST_BLOCK + 7) == 4);
	CHECK(pwrite(fd, "tail", 4, 3 * DIGEST_BLOCK) == 4);
	CHECK(close(fd) == 0);
	CHECK(symlinkat("f", d, "link") == 0);
	CHECK(symlinkat("../../outside", d, "up") == 0);
	CHECK(mkfifoat(d, "fifo", 0644) == 0);
	put_file(d, "locked", "secret\n", 0);
	put_file(d, "\xc3\xa9", "e\n", 0600);
	CHECK(mkdirat(d, "d", 0755) == 0);
	put_xattr("d", "user.dir", "1");
	CHECK(linkat(d, "f", d, "d/g", 0) == 0);
	CHECK(symlinkat("..", d, "d/l") == 0);
	CHECK(mkdirat(d, "d/sub", 0700) == 0);
	CHECK(mkdirat(d, "closed", 0755) == 0);
	put_file(d, "closed/x", "x\n", 0644);
	CHECK(fchmodat(d, "closed", 0, 0) == 0);
	if (geteuid() == 0)
		(void)mknodat(d, "null", S_IFCHR | 0666, makedev(1, 3));
	CHECK(close(d) == 0);
}

/* What a write, even one undone, would change: every entry beneath dfd/name
 * (its name, inode, type and mode, owner, links, size, device, mtime and
 * ctime), depth first, appended to b.  Directories are read in their
 * order: one whose order changed has another mtime. */
static void
snapshot(int dfd, const char *name, struct buf *b)
{
	struct stat st;

	put_str(b, name);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		put_u32(b, (uint32_t)errno);
		return;
	}
	put_u64(b, st.st_ino);
	put_u32(b, st.st_mode);
	put_u32(b, st.st_uid);
	put_u32(b, st.st_gid);
	put_u64(b, st.st_nlink);
	put_u64(b, (uint64_t)st.st_size);
	put_u64(b, st.st_rdev);
	put_u64(b, (uint64_t)st.st_mtim.tv_sec);
	put_u64(b, (uint64_t)st.st_mtim.tv_nsec);
	put_u64(b, (uint64_t)st.st_ctim.tv_sec);
	put_u64(b, (uint64_t)st.st_ctim.tv_nsec);
	if (!S_ISDIR(st.st_mode))
		return;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	if (dir == NULL) {
		put_u32(b, (uint32_t)errno);	/* 0000 without privilege */
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			snapshot(fd, de->d_name, b);
	closedir(dir);
}

/* ---- what an input must not leave behind ---- */

/* Which of the FD_SPAN descriptors from the lowest free one on are open:
 * a descriptor an input leaves open is one of them (they are given out
 * lowest first, and an input holds a few at a time). */
struct fds {
	int low;
	uint32_t open;
};

static struct fds
open_fds(int low)
{
	struct fds f = { low, 0 };

	if (f.low < 0) {
		f.low = fcntl(topfd, F_DUPFD_CLOEXEC, 0);
		CHECK(f.low >= 0);
		close(f.low);
	}
	for (int i = 0; i < FD_SPAN; i++)
		if (fcntl(f.low + i, F_GETFD) >= 0)
			f.open |= 1u << i;
	return f;
}

/* The descriptors open as before the input, and the working directory
 * the one we started in. */
static void
check_nothing_left(struct fds before)
{
	struct stat st;

	CHECK(open_fds(before.low).open == before.open);
	CHECK(stat(".", &st) == 0);
	CHECK(st.st_dev == cwd0.st_dev && st.st_ino == cwd0.st_ino);
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
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (!verbose) {
		out = fopen("/dev/null", "w");
		CHECK(out != NULL);
	}
	log_init("fuzz_frames", LOG_LVL_ERR, out);
	make_top();
	CHECK(stat(".", &cwd0) == 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf before = BUF_INIT, after = BUF_INIT;
	struct fds fds = open_fds(-1);
	uint32_t first, any;

	check_stream(data, size);
	read_oref(data, size, false);
	read_oref(data, size, true);
	read_attrs(data, size);
	input_hello_flags(data, size, &first, &any);
	if (first & (HELLO_READONLY | HELLO_FORCE))
		make_tree();
	/* A read-only connection must leave the directory as it found it
	 * (made here, not by secondary_open, to be seen before). */
	if (any & HELLO_READONLY) {
		if (!(first & (HELLO_READONLY | HELLO_FORCE)))
			CHECK(mkdirat(topfd, SEC_NAME, 0755) == 0);
		snapshot(topfd, SEC_NAME, &before);
	}
	if (run_secondary(data, size)) {
		CHECK(any & HELLO_READONLY);
		snapshot(topfd, SEC_NAME, &after);
		CHECK(after.len == before.len &&
		    memcmp(after.data, before.data, after.len) == 0);
	}
	buf_release(&before);
	buf_release(&after);
	check_nothing_left(fds);
	reset_scratch();
	return 0;
}
