#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/codec.h"
#include "../common/log.h"
#include "../common/testhook.h"
#include "../common/names.h"
#include "journal.h"
#include "../common/banned.h"

#define SEG_MAGIC	"GRJ"	/* and a NUL: 4 bytes */
#define SEG_HDR_LEN	24

struct journal {
	char *dir;
	int dirfd;
	int fd;			/* the open segment, -1 before the first record */
	uint64_t seq;		/* its sequence */
	struct buf pending;	/* encoded, not yet written */
	size_t nrecords;	/* in the open segment */
	bool durable;		/* fdatasync each segment as it is cut */
};

/* ---- records ---- */

/* A fid in a record: a u8 length and the bytes, empty where unknown.  The
 * journal's own layout, whatever the wire does with fids. */
static void
put_jfid(struct buf *b, const struct fid *f)
{
	put_bytes8(b, f->bytes, f->len);
}

static bool
get_jfid(struct rd *r, struct fid *f)
{
	const uint8_t *p = get_bytes8(r, &f->len, FID_MAX);

	if (p == NULL)
		return false;
	memcpy(f->bytes, p, f->len);
	return true;
}

/* A name: a u8 length and the bytes, empty or a valid name; NUL-ended in
 * out. */
static bool
get_jname(struct rd *r, char *out, uint8_t *len)
{
	const uint8_t *p = get_bytes8(r, len, 255);

	if (p == NULL)
		return false;
	memcpy(out, p, *len);
	out[*len] = '\0';
	return *len == 0 || name_valid(out, *len);
}

void
jrec_encode(struct buf *b, const struct jrec *r)
{
	size_t start = b->len;

	put_u32(b, 0);		/* length, filled below */
	put_u32(b, 0);		/* checksum, filled below */
	put_u8(b, r->type);
	put_u64(b, (uint64_t)r->time_ns);
	put_u32(b, r->mode);
	put_jfid(b, &r->fid);
	put_jfid(b, &r->parent);
	put_bytes8(b, r->name, r->name_len);
	put_jfid(b, &r->parent2);
	put_bytes8(b, r->name2, r->name2_len);
	uint32_t len = (uint32_t)(b->len - start - 8);
	uint32_t sum = XXH32(b->data + start + 8, len, 0);
	for (int i = 0; i < 4; i++) {
		b->data[start + i] = (uint8_t)(len >> (8 * i));
		b->data[start + 4 + i] = (uint8_t)(sum >> (8 * i));
	}
}

ssize_t
jrec_decode(const uint8_t *p, size_t len, struct jrec *out)
{
	struct rd h, r;

	if (len < 8)
		return 0;
	rd_init(&h, p, 8);
	uint32_t blen = get_u32(&h);
	uint32_t sum = get_u32(&h);
	if (blen < 14 || blen > JOURNAL_RECORD_MAX)
		return -1;
	if (len - 8 < blen)
		return 0;
	if (XXH32(p + 8, blen, 0) != sum)
		return -1;
	memset(out, 0, sizeof(*out));
	rd_init(&r, p + 8, blen);
	out->type = get_u8(&r);
	out->time_ns = (int64_t)get_u64(&r);
	out->mode = get_u32(&r);
	if (!get_jfid(&r, &out->fid) || !get_jfid(&r, &out->parent) ||
	    !get_jname(&r, out->name, &out->name_len) ||
	    !get_jfid(&r, &out->parent2) ||
	    !get_jname(&r, out->name2, &out->name2_len) || !rd_end(&r))
		return -1;
	if (out->type < J_CREATE || out->type > J_CUT)
		return -1;
	return (ssize_t)(8 + blen);
}

const char *
jrec_type_name(uint8_t type)
{
	static const char *const names[] = { "?", "CREATE", "MKDIR", "MKNOD",
	    "SYMLINK", "LINK", "RENAME", "UNLINK", "RMDIR", "SETATTR",
	    "SETXATTR", "DATA", "OVERFLOW", "CUT" };

	return type <= J_CUT ? names[type] : "?";
}

/* ---- segments ---- */

static void
seg_name(uint64_t seq, bool open, char out[40])
{
	snprintf(out, 40, "%020llu.%s", (unsigned long long)seq,
	    open ? "open" : "seg");
}

static bool
parse_seg_name(const char *name, uint64_t *seq, bool *open)
{
	char *end;

	if (strlen(name) != 24 && strlen(name) != 25)
		return false;
	/* strtoull would take a sign or a blank: digits only. */
	for (int i = 0; i < 20; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	errno = 0;
	unsigned long long v = strtoull(name, &end, 10);
	if (errno || end != name + 20)
		return false;
	if (strcmp(end, ".seg") == 0)
		*open = false;
	else if (strcmp(end, ".open") == 0)
		*open = true;
	else
		return false;
	*seq = v;
	return true;
}

int
journal_list(const char *dir, uint64_t **seqs, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*seqs = NULL;
	*n = 0;
	if (d == NULL) {
		log_sys(LOG_LVL_ERR, "open the journal %s", dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;
		bool open;
		if (!parse_seg_name(de->d_name, &seq, &open) || open)
			continue;
		XGROW(*seqs, cap, *n + 1);
		(*seqs)[(*n)++] = seq;
	}
	closedir(d);
	/* Few segments: an insertion sort keeps it simple. */
	for (size_t i = 1; i < *n; i++)
		for (size_t k = i; k > 0 && (*seqs)[k - 1] > (*seqs)[k]; k--) {
			uint64_t x = (*seqs)[k];
			(*seqs)[k] = (*seqs)[k - 1];
			(*seqs)[k - 1] = x;
		}
	return 0;
}

/* The highest sequence in the directory, sealed or open. */
static int
last_seq(const char *dir, uint64_t *seq)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	*seq = 0;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		uint64_t s;
		bool open;
		if (parse_seg_name(de->d_name, &s, &open) && s > *seq)
			*seq = s;
	}
	closedir(d);
	return 0;
}

static int
seal_leftovers(struct journal *j)
{
	DIR *d = opendir(j->dir);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;
		bool open;
		char to[40];
		if (!parse_seg_name(de->d_name, &seq, &open) || !open)
			continue;
		seg_name(seq, false, to);
		log_warn("sealing the journal segment %s/%s left open by a "
		    "crash", j->dir, de->d_name);
		if (renameat(j->dirfd, de->d_name, j->dirfd, to) < 0)
			rc = -1;
	}
	closedir(d);
	if (rc == 0 && fsync(j->dirfd) < 0)
		rc = -1;
	return rc;
}

int
journal_open(struct journal **out, const char *dir, bool durable)
{
	struct journal *j = xcalloc(1, sizeof(*j));

	j->dir = xstrdup(dir);
	j->durable = durable;
	j->fd = -1;
	if (mkdir_p(dir, 0700) < 0)
		goto fail;
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		log_sys(LOG_LVL_ERR, "open the journal %s", dir);
		goto fail;
	}
	/* An open segment left by a crash is sealed as it is: its torn
	 * tail, if any, is found by its checksums when it is read. */
	if (seal_leftovers(j) < 0 || last_seq(dir, &j->seq) < 0) {
		log_sys(LOG_LVL_ERR, "list the journal %s", dir);
		close(j->dirfd);
		goto fail;
	}
	*out = j;
	return 0;
fail:
	free(j->dir);
	free(j);
	return -1;
}

static int
start_segment(struct journal *j)
{
	char name[40];
	uint8_t hdr[SEG_HDR_LEN];
	struct buf b = BUF_INIT;

	j->seq++;
	seg_name(j->seq, true, name);
	j->fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
	    O_CLOEXEC, 0600);
	if (j->fd < 0) {
		log_sys(LOG_LVL_ERR, "create the journal segment %s/%s", j->dir,
		    name);
		return -1;
	}
	buf_add(&b, SEG_MAGIC, 4);
	put_u32(&b, JOURNAL_VERSION);
	put_u64(&b, j->seq);
	put_u64(&b, (uint64_t)now_ns());
	memcpy(hdr, b.data, SEG_HDR_LEN);
	buf_release(&b);
	if (write_full(j->fd, hdr, sizeof(hdr)) < 0) {
		log_sys(LOG_LVL_ERR, "write the journal segment %s/%s", j->dir,
		    name);
		return -1;
	}
	j->nrecords = 0;
	return 0;
}

int
journal_append(struct journal *j, const struct jrec *r)
{
	if (j->fd < 0 && start_segment(j) < 0)
		return -1;
	jrec_encode(&j->pending, r);
	j->nrecords++;
	/* Written in batches (journal_flush, or when 64 KiB are waiting):
	 * a burst of events costs a few writes, not one each. */
	return j->pending.len >= 65536 ? journal_flush(j) : 0;
}

int
journal_flush(struct journal *j)
{
	if (j->fd < 0 || j->pending.len == 0)
		return 0;
	if (test_crash_armed("journal")) {
		/* Half of it: a record cut in the middle. */
		(void)write_full(j->fd, j->pending.data, j->pending.len / 2 + 1);
		test_crash_now("journal");
	}
	if (write_full(j->fd, j->pending.data, j->pending.len) < 0) {
		log_sys(LOG_LVL_ERR, "append to the journal %s", j->dir);
		return -1;
	}
	buf_reset(&j->pending);
	return 0;
}

size_t
journal_pending(const struct journal *j)
{
	return j->fd < 0 ? 0 : j->nrecords;
}

int
journal_cut(struct journal *j, uint64_t *seq)
{
	char from[40], to[40];

	*seq = 0;
	if (j->fd < 0)
		return 0;
	if (journal_flush(j) < 0)
		return -1;
	if ((j->durable && fdatasync(j->fd) < 0) || close(j->fd) < 0) {
		log_sys(LOG_LVL_ERR, "seal the journal segment %llu in %s",
		    (unsigned long long)j->seq, j->dir);
		j->fd = -1;
		return -1;
	}
	j->fd = -1;
	seg_name(j->seq, true, from);
	seg_name(j->seq, false, to);
	if (renameat(j->dirfd, from, j->dirfd, to) < 0 ||
	    (j->durable && fsync(j->dirfd) < 0)) {
		log_sys(LOG_LVL_ERR, "seal the journal segment %s/%s", j->dir,
		    from);
		return -1;
	}
	*seq = j->seq;
	return 0;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0) {
		(void)journal_flush(j);	/* logged; the next start crawls */
		close(j->fd);
	}
	close(j->dirfd);
	buf_release(&j->pending);
	free(j->dir);
	free(j);
}

/*
 * The header of segment seq, read into b.  0: valid.  1: missing or not
 * this segment's -- the segment is torn, a full crawl covers it.  -1 with
 * errno EPROTONOSUPPORT: a version this build does not read.  Logged.
 */
static int
check_header(const struct buf *b, uint64_t seq, const char *dir,
    const char *name)
{
	struct rd h;

	/* The header is written in one write right after the file is
	 * created: a crash in between leaves the file empty, or short. */
	if (b->len < SEG_HDR_LEN) {
		log_warn("the journal segment %s/%s has no valid header (a "
		    "monitor stopped while it was created): a full crawl "
		    "covers it", dir, name);
		return 1;
	}
	rd_init(&h, b->data, SEG_HDR_LEN);
	const uint8_t *magic = get_raw(&h, 4);
	uint32_t version = get_u32(&h);
	uint64_t hseq = get_u64(&h);
	if (memcmp(magic, SEG_MAGIC, 4) != 0) {
		log_warn("the journal segment %s/%s does not start with a "
		    "segment's magic: dropped, a full crawl covers it", dir,
		    name);
		return 1;
	}
	/* Before anything else is believed: another version may lay out
	 * the rest of its header otherwise. */
	if (version != JOURNAL_VERSION) {
		log_err("the journal segment %s/%s has version %" PRIu32 "; "
		    "this georep reads version %d%s", dir, name, version,
		    JOURNAL_VERSION, version > JOURNAL_VERSION ?
		    " (written by a newer georep?)" : "");
		errno = EPROTONOSUPPORT;
		return -1;
	}
	if (hseq != seq) {
		log_warn("the journal segment %s/%s has the header of segment "
		    "%" PRIu64 ": dropped, a full crawl covers it", dir, name,
		    hseq);
		return 1;
	}
	return 0;
}

int
journal_read_segment(const char *dir, uint64_t seq, struct jrec_list *out,
    bool *torn)
{
	char name[40];
	struct buf b = BUF_INIT;
	int dfd, rc;

	*torn = false;
	out->n = 0;
	seg_name(seq, false, name);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	rc = read_small_file_at(dfd, name, &b, (size_t)1 << 34);
	if (rc < 0 && errno == ENOENT) {
		seg_name(seq, true, name);
		rc = read_small_file_at(dfd, name, &b, (size_t)1 << 34);
	}
	close(dfd);
	if (rc < 0) {
		log_sys(LOG_LVL_ERR, "read the journal segment %s/%s", dir, name);
		buf_release(&b);
		return -1;
	}
	rc = check_header(&b, seq, dir, name);
	if (rc != 0) {
		int err = errno;
		buf_release(&b);
		*torn = rc > 0;
		errno = err;
		return rc > 0 ? 0 : -1;
	}
	for (size_t off = SEG_HDR_LEN; off < b.len; ) {
		XGROW(out->v, out->cap, out->n + 1);
		ssize_t n = jrec_decode(b.data + off, b.len - off, &out->v[out->n]);
		if (n <= 0) {
			log_warn("the journal segment %s/%s ends in a %s record "
			    "at offset %zu: dropped (a crawl covers it)", dir,
			    name, n == 0 ? "torn" : "corrupt", off);
			*torn = true;
			break;
		}
		out->n++;
		off += (size_t)n;
	}
	buf_release(&b);
	return 0;
}

void
jrec_list_release(struct jrec_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

int
journal_remove(const char *dir, uint64_t seq)
{
	char *path;
	char name[40];
	int rc;

	seg_name(seq, false, name);
	path = xasprintf("%s/%s", dir, name);
	rc = unlink(path);
	if (rc < 0 && errno != ENOENT)
		log_sys(LOG_LVL_ERR, "remove %s", path);
	free(path);
	return rc < 0 && errno != ENOENT ? -1 : 0;
}
