/*
 * Unit tests of the journal (src/journal/journal.c): the record codec
 * (round trips at the size limits, torn and corrupt records), and segments
 * on disk (append, cut and seal, list, read back whole, torn or corrupt,
 * without a header as a crash leaves them -- a full crawl for the batch --
 * or of another version -- refused --, reopen, remove).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <inttypes.h>
#include <xxhash.h>
#include <cmocka.h>

#include "common/fid.h"
#include "common/util.h"
#include "daemon/batch.h"
#include "journal/journal.h"
#include "testutil.h"

#define SEG_HDR 24	/* the segment header: magic, version, seq, ctime */
#define BODY_MIN 18	/* type, time, mode and five empty length bytes */

/* ---- building and comparing records ---- */

static void
set_fid(struct fid *f, uint8_t len, uint8_t seed)
{
	memset(f, 0, sizeof(*f));
	f->len = len;
	for (unsigned i = 0; i < len; i++)
		f->bytes[i] = (uint8_t)(seed + i * 7u);
}

static void
set_name(char *out, uint8_t *len, const char *s)
{
	size_t n = strlen(s);

	assert_true(n <= 255);
	memcpy(out, s, n);
	out[n] = '\0';
	*len = (uint8_t)n;
}

/* A name of n bytes ('a'..'z' cycling, never '/' or NUL). */
static void
set_long_name(char *out, uint8_t *len, size_t n, char first)
{
	assert_true(n <= 255);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('a' + (first - 'a' + i) % 26);
	out[n] = '\0';
	*len = (uint8_t)n;
}

/* Variant 0: every fid FID_MAX bytes, both names 255 bytes.
 * Variant 1: every fid and both names empty.
 * Variant 2: mixed (empty fid, full parents, one long and one short name). */
static void
make_rec(struct jrec *r, uint8_t type, int variant, unsigned salt)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->time_ns = (int64_t)1700000000123456789ll + (int64_t)salt;
	r->mode = 0100644u + salt;
	switch (variant) {
	case 0:
		set_fid(&r->fid, FID_MAX, (uint8_t)(1 + salt));
		set_fid(&r->parent, FID_MAX, (uint8_t)(2 + salt));
		set_fid(&r->parent2, FID_MAX, (uint8_t)(3 + salt));
		set_long_name(r->name, &r->name_len, 255, 'a');
		set_long_name(r->name2, &r->name2_len, 255, 'q');
		break;
	case 1:
		r->time_ns = -1;	/* the sign survives the u64 on disk */
		r->mode = 0xffffffffu;
		break;
	default:
		set_fid(&r->parent, FID_MAX, (uint8_t)(4 + salt));
		set_fid(&r->parent2, 1, 0);
		set_long_name(r->name, &r->name_len, 255, 'z');
		set_name(r->name2, &r->name2_len, "x");
		break;
	}
}

/* A small record, distinct per i, as the recorder writes them. */
static void
small_rec(struct jrec *r, unsigned i)
{
	char name[32];

	memset(r, 0, sizeof(*r));
	r->type = (uint8_t)(J_CREATE + i % J_CUT);
	r->time_ns = (int64_t)(1000 + i);
	r->mode = 0100600u;
	set_fid(&r->fid, 16, (uint8_t)i);
	set_fid(&r->parent, 16, (uint8_t)(100 + i));
	snprintf(name, sizeof(name), "file-%u", i);
	set_name(r->name, &r->name_len, name);
	if (r->type == J_RENAME) {
		set_fid(&r->parent2, 12, (uint8_t)(200 + i));
		snprintf(name, sizeof(name), "moved-%u", i);
		set_name(r->name2, &r->name2_len, name);
	}
}

static void
assert_rec_equal(const struct jrec *a, const struct jrec *b)
{
	assert_int_equal(a->type, b->type);
	assert_true(a->time_ns == b->time_ns);
	assert_int_equal(a->mode, b->mode);
	assert_true(fid_eq(&a->fid, &b->fid));
	assert_true(fid_eq(&a->parent, &b->parent));
	assert_true(fid_eq(&a->parent2, &b->parent2));
	assert_int_equal(a->name_len, b->name_len);
	assert_memory_equal(a->name, b->name, a->name_len);
	assert_int_equal(a->name2_len, b->name2_len);
	assert_memory_equal(a->name2, b->name2, a->name2_len);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
set_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Write the length blen and a valid checksum of the blen bytes after the
 * 8-byte record header at p: a record that is well framed, whatever its
 * body says. */
static void
reseal(uint8_t *p, uint32_t blen)
{
	set_le32(p, blen);
	set_le32(p + 4, XXH32(p + 8, blen, 0));
}

/* ---- the record codec ---- */

static void
test_roundtrip_all_types(void **state)
{
	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		struct buf all = BUF_INIT;
		size_t sizes[J_CUT + 1] = { 0 };

		for (uint8_t t = J_CREATE; t <= J_CUT; t++) {
			struct jrec in, out;
			struct buf b = BUF_INIT;

			make_rec(&in, t, variant, t);
			jrec_encode(&b, &in);
			assert_true(b.len >= 8 + BODY_MIN);
			assert_int_equal(le32(b.data), b.len - 8);
			assert_true(le32(b.data) <= JOURNAL_RECORD_MAX);
			memset(&out, 0x5a, sizeof(out));
			assert_int_equal(jrec_decode(b.data, b.len, &out),
			    (ssize_t)b.len);
			assert_rec_equal(&in, &out);
			/* Names come back NUL-terminated. */
			assert_int_equal(out.name[out.name_len], '\0');
			assert_int_equal(out.name2[out.name2_len], '\0');
			assert_string_not_equal(jrec_type_name(t), "?");

			sizes[t] = b.len;
			buf_add(&all, b.data, b.len);
			buf_release(&b);
		}
		/* Back to back, as in a segment: each one takes exactly its
		 * own bytes. */
		size_t off = 0;
		for (uint8_t t = J_CREATE; t <= J_CUT; t++) {
			struct jrec in, out;

			make_rec(&in, t, variant, t);
			ssize_t n = jrec_decode(all.data + off, all.len - off,
			    &out);
			assert_int_equal(n, (ssize_t)sizes[t]);
			assert_rec_equal(&in, &out);
			off += (size_t)n;
		}
		assert_int_equal(off, all.len);
		buf_release(&all);
	}
	assert_string_equal(jrec_type_name(0), "?");
	assert_string_equal(jrec_type_name(J_CUT + 1), "?");
	assert_string_equal(jrec_type_name(255), "?");
}

static void
test_roundtrip_sizes(void **state)
{
	(void)state;
	/* The largest record fits JOURNAL_RECORD_MAX; the smallest body is
	 * BODY_MIN bytes. */
	struct jrec in, out;
	struct buf b = BUF_INIT;

	make_rec(&in, J_RENAME, 0, 0);
	jrec_encode(&b, &in);
	assert_int_equal(b.len, 8 + BODY_MIN + 3 * FID_MAX + 255 + 255);
	buf_reset(&b);
	make_rec(&in, J_OVERFLOW, 1, 0);
	jrec_encode(&b, &in);
	assert_int_equal(b.len, 8 + BODY_MIN);
	assert_int_equal(jrec_decode(b.data, b.len, &out), 8 + BODY_MIN);
	assert_rec_equal(&in, &out);
	/* Extra bytes after the record are not its business. */
	buf_add(&b, "\x01\x02\x03", 3);
	assert_int_equal(jrec_decode(b.data, b.len, &out), 8 + BODY_MIN);
	buf_release(&b);
}

static void
test_decode_truncated(void **state)
{
	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		struct jrec in, out;
		struct buf b = BUF_INIT;

		make_rec(&in, J_RENAME, variant, 9);
		jrec_encode(&b, &in);
		/* Every proper prefix, header included, is a torn tail. */
		for (size_t len = 0; len < b.len; len++)
			assert_int_equal(jrec_decode(b.data, len, &out), 0);
		assert_int_equal(jrec_decode(b.data, b.len, &out),
		    (ssize_t)b.len);
		buf_release(&b);
	}
}

static void
test_decode_checksum(void **state)
{
	(void)state;
	struct jrec in, out;
	struct buf b = BUF_INIT;

	make_rec(&in, J_SETATTR, 2, 3);
	jrec_encode(&b, &in);
	/* Any single flipped body byte, or checksum byte. */
	for (size_t i = 4; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b.data[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(jrec_decode(b.data, b.len, &out), -1);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(jrec_decode(b.data, b.len, &out), (ssize_t)b.len);
	buf_release(&b);
}

static void
test_decode_bad_length(void **state)
{
	(void)state;
	static uint8_t big[8 + JOURNAL_RECORD_MAX + 64];
	struct jrec out;

	/* Above the maximum, with all its bytes there and a valid checksum:
	 * corrupt, not torn. */
	memset(big, 0, sizeof(big));
	big[8] = J_DATA;
	reseal(big, JOURNAL_RECORD_MAX + 1);
	assert_int_equal(jrec_decode(big, sizeof(big), &out), -1);
	reseal(big, JOURNAL_RECORD_MAX + 64);
	assert_int_equal(jrec_decode(big, sizeof(big), &out), -1);
	/* ... and with only its header there: it can never complete. */
	reseal(big, JOURNAL_RECORD_MAX + 1);
	assert_int_equal(jrec_decode(big, 8, &out), -1);
	assert_int_equal(jrec_decode(big, 100, &out), -1);
	set_le32(big, 0xffffffffu);
	assert_int_equal(jrec_decode(big, 8, &out), -1);
	assert_int_equal(jrec_decode(big, sizeof(big), &out), -1);

	/* Below the minimum body (0 .. BODY_MIN-1 bytes), well framed. */
	for (uint32_t blen = 0; blen < BODY_MIN; blen++) {
		memset(big, 0, sizeof(big));
		big[8] = J_CREATE;
		reseal(big, blen);
		assert_int_equal(jrec_decode(big, 8 + blen, &out), -1);
		assert_int_equal(jrec_decode(big, sizeof(big), &out), -1);
	}
	/* The minimum itself is a valid (all-empty) record. */
	memset(big, 0, sizeof(big));
	big[8] = J_OVERFLOW;
	reseal(big, BODY_MIN);
	assert_int_equal(jrec_decode(big, 8 + BODY_MIN, &out), 8 + BODY_MIN);
	assert_int_equal(out.type, J_OVERFLOW);

	/* A body longer than its fields say (trailing bytes inside the
	 * record) is corrupt too. */
	memset(big, 0, sizeof(big));
	big[8] = J_OVERFLOW;
	reseal(big, BODY_MIN + 1);
	assert_int_equal(jrec_decode(big, 8 + BODY_MIN + 1, &out), -1);
}

static void
test_decode_unknown_type(void **state)
{
	(void)state;
	static const uint8_t bad[] = { 0, J_CUT + 1, 100, 255 };

	for (size_t i = 0; i < sizeof(bad); i++) {
		for (int variant = 0; variant < 3; variant++) {
			struct jrec in, out;
			struct buf b = BUF_INIT;

			make_rec(&in, bad[i], variant, 1);
			jrec_encode(&b, &in);
			assert_int_equal(jrec_decode(b.data, b.len, &out), -1);
			buf_release(&b);
		}
	}
}

static void
test_decode_bad_name(void **state)
{
	(void)state;
	static const char *const bad[] = { "a/b", "/", "x/", "/etc", ".", ".." };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int which = 0; which < 2; which++) {
			struct jrec in, out;
			struct buf b = BUF_INIT;

			make_rec(&in, J_RENAME, 2, 0);
			if (which == 0)
				set_name(in.name, &in.name_len, bad[i]);
			else
				set_name(in.name2, &in.name2_len, bad[i]);
			jrec_encode(&b, &in);
			assert_int_equal(jrec_decode(b.data, b.len, &out), -1);
			buf_release(&b);
		}
	}
	/* A '/' at the end of a 255-byte name, and a NUL inside one. */
	struct jrec in, out;
	struct buf b = BUF_INIT;

	make_rec(&in, J_CREATE, 0, 0);
	in.name[254] = '/';
	jrec_encode(&b, &in);
	assert_int_equal(jrec_decode(b.data, b.len, &out), -1);
	buf_reset(&b);
	make_rec(&in, J_CREATE, 0, 0);
	in.name2[10] = '\0';
	jrec_encode(&b, &in);
	assert_int_equal(jrec_decode(b.data, b.len, &out), -1);
	buf_release(&b);
}

static void
test_decode_bad_fid(void **state)
{
	(void)state;
	/* A fid length above FID_MAX, the record well framed around it. */
	struct jrec in, out;
	struct buf b = BUF_INIT;

	make_rec(&in, J_DATA, 0, 0);
	jrec_encode(&b, &in);
	/* body: type(1) time(8) mode(4), then the fid's length byte */
	assert_int_equal(b.data[8 + 13], FID_MAX);
	b.data[8 + 13] = FID_MAX + 1;
	reseal(b.data, (uint32_t)(b.len - 8));
	assert_int_equal(jrec_decode(b.data, b.len, &out), -1);
	b.data[8 + 13] = 255;
	reseal(b.data, (uint32_t)(b.len - 8));
	assert_int_equal(jrec_decode(b.data, b.len, &out), -1);
	buf_release(&b);

	/* The same with the body consistent around it: a fid of FID_MAX+1
	 * (or 255) bytes really there, every other field empty, in each of
	 * the three fid places. */
	static uint8_t rec[8 + BODY_MIN + 255];
	static const uint8_t lens[] = { FID_MAX, FID_MAX + 1, 255 };

	for (int place = 0; place < 3; place++) {
		for (size_t k = 0; k < sizeof(lens); k++) {
			uint8_t *q = rec + 8;
			uint32_t blen;

			memset(rec, 0, sizeof(rec));
			*q++ = J_LINK;
			q += 8 + 4;			/* time, mode */
			if (place == 2)
				q += 3;			/* fid, parent, name empty */
			else if (place == 1)
				q += 1;			/* fid empty */
			*q++ = lens[k];
			memset(q, 0xab, lens[k]);
			blen = BODY_MIN + lens[k];
			reseal(rec, blen);
			assert_int_equal(jrec_decode(rec, 8 + blen, &out),
			    lens[k] <= FID_MAX ? (ssize_t)(8 + blen) : -1);
		}
	}
}

/* ---- segments on disk ---- */

struct fx {
	char top[PATH_MAX];
	char dir[PATH_MAX + 32];	/* the journal, not created yet */
	struct journal *j;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	scratch_make(f->top, "journal");
	snprintf(f->dir, sizeof(f->dir), "%s/state/journal", f->top);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	journal_close(f->j);
	rm_rf(f->top);
	free(f);
	return 0;
}

static void
seg_path(const struct fx *f, uint64_t seq, const char *ext, char *out,
    size_t size)
{
	snprintf(out, size, "%s/%020" PRIu64 ".%s", f->dir, seq, ext);
}

static bool
seg_exists(const struct fx *f, uint64_t seq, const char *ext)
{
	char p[PATH_MAX + 64];
	struct stat st;

	seg_path(f, seq, ext, p, sizeof(p));
	return lstat(p, &st) == 0;
}

static off_t
seg_size(const struct fx *f, uint64_t seq)
{
	char p[PATH_MAX + 64];
	struct stat st;

	seg_path(f, seq, "seg", p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static void
seg_truncate(const struct fx *f, uint64_t seq, off_t size)
{
	char p[PATH_MAX + 64];

	seg_path(f, seq, "seg", p, sizeof(p));
	assert_int_equal(truncate(p, size), 0);
}

static void
seg_poke(const struct fx *f, uint64_t seq, off_t off, uint8_t xor_mask)
{
	char p[PATH_MAX + 64];
	uint8_t c;
	int fd;

	seg_path(f, seq, "seg", p, sizeof(p));
	fd = open(p, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= xor_mask;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Put a file (of content s) by name in the journal directory. */
static void
put_in_dir(const struct fx *f, const char *name, const char *s)
{
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(dfd >= 0);
	assert_int_equal(put_file_at(dfd, name, s), 0);
	close(dfd);
}

/* Append records first .. first+n-1 (small_rec) to f->j. */
static void
append_n(struct fx *f, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		struct jrec r;

		small_rec(&r, i);
		assert_int_equal(journal_append(f->j, &r), 0);
	}
}

/* Read segment seq: the records must be first .. first+n-1, and torn as
 * expected. */
static void
expect_segment(const struct fx *f, uint64_t seq, unsigned first, unsigned n,
    bool want_torn)
{
	struct jrec_list l = { NULL, 0, 0 };
	bool torn = !want_torn;

	assert_int_equal(journal_read_segment(f->dir, seq, &l, &torn), 0);
	assert_int_equal(l.n, n);
	for (unsigned i = 0; i < n; i++) {
		struct jrec r;

		small_rec(&r, first + i);
		assert_rec_equal(&l.v[i], &r);
	}
	assert_int_equal(torn, want_torn);
	jrec_list_release(&l);
}

static void
expect_list(const struct fx *f, const uint64_t *want, size_t nwant)
{
	uint64_t *seqs = NULL;
	size_t n = 99;

	bool same;

	assert_int_equal(journal_list(f->dir, &seqs, &n), 0);
	same = n == nwant;
	for (size_t i = 0; same && i < n; i++)
		same = seqs[i] == want[i];
	if (!same) {
		for (size_t i = 0; i < n; i++)
			print_message("listed %" PRIu64 "\n", seqs[i]);
		for (size_t i = 0; i < nwant; i++)
			print_message("wanted %" PRIu64 "\n", want[i]);
	}
	free(seqs);	/* before a failure, which would leak it */
	assert_true(same);
}

/* The byte size of the encoded records first .. first+n-1. */
static size_t
encoded_size(unsigned first, unsigned n)
{
	struct buf b = BUF_INIT;
	size_t len;

	for (unsigned i = first; i < first + n; i++) {
		struct jrec r;

		small_rec(&r, i);
		jrec_encode(&b, &r);
	}
	len = b.len;
	buf_release(&b);
	return len;
}

static void
test_open_new_dir(void **state)
{
	struct fx *f = *state;
	struct stat st;
	uint64_t seq = 77;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(journal_pending(f->j), 0);
	/* Nothing to seal: seq 0, and no file appears. */
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 0);
	expect_list(f, NULL, 0);
	assert_false(seg_exists(f, 1, "seg"));
	assert_false(seg_exists(f, 1, "open"));
}

static void
test_append_cut(void **state)
{
	struct fx *f = *state;
	uint64_t seq = 77;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	for (unsigned i = 0; i < 5; i++) {
		append_n(f, i, 1);
		assert_int_equal(journal_pending(f->j), i + 1);
	}
	assert_true(seg_exists(f, 1, "open"));
	assert_false(seg_exists(f, 1, "seg"));
	expect_list(f, NULL, 0);	/* not sealed yet */

	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 1);
	assert_true(seg_exists(f, 1, "seg"));
	assert_false(seg_exists(f, 1, "open"));
	assert_int_equal(journal_pending(f->j), 0);
	assert_int_equal(seg_size(f, 1), SEG_HDR + encoded_size(0, 5));

	/* A second cut with nothing since: 0, nothing new on disk. */
	seq = 77;
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 0);
	assert_false(seg_exists(f, 2, "open"));
	assert_false(seg_exists(f, 2, "seg"));

	append_n(f, 5, 3);
	assert_int_equal(journal_pending(f->j), 3);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 2);
	append_n(f, 8, 1);
	assert_int_equal(journal_pending(f->j), 1);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 3);
	assert_false(seg_exists(f, 2, "open"));
	assert_false(seg_exists(f, 3, "open"));

	static const uint64_t want[] = { 1, 2, 3 };
	expect_list(f, want, 3);
	expect_segment(f, 1, 0, 5, false);
	expect_segment(f, 2, 5, 3, false);
	expect_segment(f, 3, 8, 1, false);
}

static void
test_big_records_on_disk(void **state)
{
	struct fx *f = *state;
	struct jrec_list l = { NULL, 0, 0 };
	uint64_t seq;
	bool torn = true;

	/* Every type and every shape through a segment, 300 records (past
	 * the reader's first allocation). */
	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	for (unsigned i = 0; i < 300; i++) {
		struct jrec r;

		make_rec(&r, (uint8_t)(J_CREATE + i % J_CUT), (int)(i % 3),
		    i);
		assert_int_equal(journal_append(f->j, &r), 0);
	}
	assert_int_equal(journal_pending(f->j), 300);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(journal_read_segment(f->dir, 1, &l, &torn), 0);
	assert_false(torn);
	assert_int_equal(l.n, 300);
	for (unsigned i = 0; i < 300; i++) {
		struct jrec r;

		make_rec(&r, (uint8_t)(J_CREATE + i % J_CUT), (int)(i % 3),
		    i);
		assert_rec_equal(&l.v[i], &r);
	}
	jrec_list_release(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
}

static void
test_list_order_and_junk(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	for (unsigned s = 1; s <= 3; s++) {
		append_n(f, s, 1);
		assert_int_equal(journal_cut(f->j, &seq), 0);
		assert_int_equal(seq, s);
	}
	/* Sealed segments written out of order, and ones far apart. */
	put_in_dir(f, "00000000000000000042.seg", "");
	put_in_dir(f, "00000000000000000007.seg", "");
	put_in_dir(f, "00000000000000001000.seg", "");
	put_in_dir(f, "00000000000000000010.seg", "");
	/* Open segments: ignored. */
	put_in_dir(f, "00000000000000000005.open", "");
	put_in_dir(f, "00000000000000002000.open", "");
	append_n(f, 9, 1);	/* the journal's own open segment, 4 */
	assert_true(seg_exists(f, 4, "open"));
	/* Junk. */
	static const char *const junk[] = {
		"foo", "seg", ".seg", "1.seg", "7.seg",
		"0000000000000000001.seg",		/* 19 digits */
		"000000000000000000011.seg",		/* 21 digits */
		"00000000000000000012.seg.tmp",
		"00000000000000000013.se",
		"00000000000000000014.SEG",
		"00000000000000000015.sea",
		"00000000000000000016.seg~",
		"00000000000000000017.opens",
		"0000000000000000001a.seg",
		"a0000000000000000018.seg",
		"00000000000000000019_seg",
		"0000000000000000002 .seg",
		"99999999999999999999.seg",		/* > UINT64_MAX */
		".00000000000000000021.seg",
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		put_in_dir(f, junk[i], "junk");

	static const uint64_t want[] = { 1, 2, 3, 7, 10, 42, 1000 };
	expect_list(f, want, sizeof(want) / sizeof(want[0]));

	/* An unreadable directory is an error, not an empty list. */
	uint64_t *seqs = (uint64_t *)1;
	size_t n = 99;
	char missing[PATH_MAX + 32];

	snprintf(missing, sizeof(missing), "%s/nope", f->top);
	assert_int_equal(journal_list(missing, &seqs, &n), -1);
	assert_null(seqs);
	assert_int_equal(n, 0);
}

static void
test_list_ignores_signed_names(void **state)
{
	struct fx *f = *state;

	/* "SEQ: 20 decimal digits": a sign or a blank in the first place is
	 * not a digit, and such a name is not a segment. */
	assert_int_equal(mkdir_p(f->dir, 0700), 0);
	put_in_dir(f, "00000000000000000003.seg", "");
	put_in_dir(f, "+0000000000000000005.seg", "junk");
	put_in_dir(f, " 0000000000000000006.seg", "junk");
	put_in_dir(f, "-0000000000000000001.seg", "junk");

	static const uint64_t want[] = { 3 };
	expect_list(f, want, 1);
}

static void
test_reopen_ignores_signed_names(void **state)
{
	struct fx *f = *state;
	uint64_t seq = 0;

	/* A junk name must not move the sequence: "-000...1" would read as
	 * UINT64_MAX, and the next segment would wrap to 0 -- the sequence
	 * journal_cut uses for "nothing sealed". */
	assert_int_equal(mkdir_p(f->dir, 0700), 0);
	put_in_dir(f, "-0000000000000000001.open", "junk");
	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 2);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 1);
	expect_segment(f, 1, 0, 2, false);
}

static void
test_read_truncated_tail(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 4);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 1);

	off_t full = seg_size(f, 1);
	size_t last = encoded_size(3, 1);
	assert_int_equal(full, SEG_HDR + encoded_size(0, 4));

	/* Cut into the last record: its body, its checksum, its length. */
	static const size_t cuts[] = { 1, 2, 3, 5, 8 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		seg_truncate(f, 1, full - (off_t)cuts[i]);
		expect_segment(f, 1, 0, 3, true);
	}
	seg_truncate(f, 1, full - (off_t)(last - 9));	/* 1 body byte */
	expect_segment(f, 1, 0, 3, true);
	seg_truncate(f, 1, full - (off_t)(last - 8));	/* header only */
	expect_segment(f, 1, 0, 3, true);
	seg_truncate(f, 1, full - (off_t)(last - 1));	/* 1 byte of it */
	expect_segment(f, 1, 0, 3, true);
	/* At a record boundary the segment simply ends there. */
	seg_truncate(f, 1, full - (off_t)last);
	expect_segment(f, 1, 0, 3, false);
	/* Into the first record: nothing is left, torn. */
	seg_truncate(f, 1, SEG_HDR + 3);
	expect_segment(f, 1, 0, 0, true);
	/* The header alone: an empty segment. */
	seg_truncate(f, 1, SEG_HDR);
	expect_segment(f, 1, 0, 0, false);
}

static void
test_read_corrupt_middle(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 5);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	append_n(f, 0, 5);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	append_n(f, 0, 5);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 3);

	/* Segment 1: a body byte of record 2 (0-based) flipped. */
	off_t rec2 = (off_t)(SEG_HDR + encoded_size(0, 2));
	seg_poke(f, 1, rec2 + 8 + 5, 0x10);
	expect_segment(f, 1, 0, 2, true);
	/* Segment 2: the length of record 2 made huge. */
	seg_poke(f, 2, rec2 + 3, 0x40);
	expect_segment(f, 2, 0, 2, true);
	/* Segment 3: the checksum of record 1. */
	seg_poke(f, 3, (off_t)(SEG_HDR + encoded_size(0, 1)) + 4, 0x01);
	expect_segment(f, 3, 0, 1, true);
	/* And the very first record: nothing. */
	seg_poke(f, 3, SEG_HDR + 8, 0x80);
	expect_segment(f, 3, 0, 0, true);
}

static void
test_read_bad_header(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	for (unsigned s = 1; s <= 4; s++) {
		append_n(f, 0, 3);
		assert_int_equal(journal_cut(f->j, &seq), 0);
		assert_int_equal(seq, s);
	}
	expect_segment(f, 1, 0, 3, false);
	seg_poke(f, 1, 0, 0x01);	/* magic */
	expect_segment(f, 1, 0, 0, true);
	seg_poke(f, 2, 3, 0x20);	/* the magic's NUL */
	expect_segment(f, 2, 0, 0, true);
	seg_poke(f, 3, 8, 0x04);	/* sequence: 3 claims to be 7 */
	expect_segment(f, 3, 0, 0, true);
	seg_truncate(f, 4, SEG_HDR - 1);	/* short header */
	expect_segment(f, 4, 0, 0, true);
	seg_truncate(f, 4, 0);		/* empty file */
	expect_segment(f, 4, 0, 0, true);

	/* A segment renamed to another sequence: its header disagrees. */
	char a[PATH_MAX + 64], b[PATH_MAX + 64];

	append_n(f, 0, 2);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 5);
	seg_path(f, 5, "seg", a, sizeof(a));
	seg_path(f, 9, "seg", b, sizeof(b));
	assert_int_equal(rename(a, b), 0);
	expect_segment(f, 9, 0, 0, true);

	/* A segment that is not there is an error. */
	struct jrec_list l = { NULL, 0, 0 };
	bool torn;

	assert_int_equal(journal_read_segment(f->dir, 5, &l, &torn), -1);
	assert_int_equal(l.n, 0);
	jrec_list_release(&l);
}

/* Read segment seq under a captured log: it must be torn with no record,
 * the log holding want and no error. */
static void
expect_torn_logged(const struct fx *f, uint64_t seq, const char *want)
{
	struct log_capture c;

	log_capture(&c);
	expect_segment(f, seq, 0, 0, true);
	char *text = log_captured(&c);
	if (strstr(text, want) == NULL)
		print_message("logged: %s\nwanted: %s\n", text, want);
	assert_non_null(strstr(text, want));
	assert_null(strstr(text, "error: "));
	free(text);
}

static void
test_read_headerless(void **state)
{
	struct fx *f = *state;
	struct batch b = { 0 };
	char want[PATH_MAX + 256];
	uint64_t seq;

	/* A monitor killed while it created segments 1 (the file made, the
	 * header not written yet: the common case) and 2 (half of it). */
	assert_int_equal(mkdir_p(f->dir, 0700), 0);
	put_in_dir(f, "00000000000000000001.open", "");
	put_in_dir(f, "00000000000000000002.open", "GRJ\001");
	/* The next monitor seals them and goes on after them. */
	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 2);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 3);
	static const uint64_t want_list[] = { 1, 2, 3 };
	expect_list(f, want_list, 3);

	/* Each is torn, with no record, said in a warning. */
	for (uint64_t s = 1; s <= 2; s++) {
		snprintf(want, sizeof(want), "warning: the journal segment "
		    "%s/%020" PRIu64 ".seg has no valid header (a monitor "
		    "stopped while it was created): a full crawl covers it",
		    f->dir, s);
		expect_torn_logged(f, s, want);
	}
	expect_segment(f, 3, 0, 2, false);

	/* The batch over them is a full crawl. */
	assert_int_equal(batch_read(f->dir, &b), 0);
	assert_int_equal(b.nseqs, 3);
	assert_true(b.full);
	batch_release(&b);

	/* Without them, the batch is a directed one again. */
	assert_int_equal(journal_remove(f->dir, 1), 0);
	assert_int_equal(journal_remove(f->dir, 2), 0);
	append_n(f, 2, 1);
	struct jrec cut = { .type = J_CUT, .time_ns = 5000 };
	assert_int_equal(journal_append(f->j, &cut), 0);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(batch_read(f->dir, &b), 0);
	assert_int_equal(b.nseqs, 2);
	assert_false(b.full);
	assert_true(b.cut == 5000);
	batch_release(&b);
}

/* Segment seq must be refused with EPROTONOSUPPORT, the log holding want,
 * by the journal; a batch over it is a full crawl (which covers whatever
 * it recorded), its segments kept for removal with the batch. */
static void
expect_version_refused(const struct fx *f, uint64_t seq, const char *want)
{
	struct jrec_list l = { NULL, 0, 0 };
	struct batch b = { 0 };
	struct log_capture c;
	bool torn = true;

	log_capture(&c);
	errno = 0;
	assert_int_equal(journal_read_segment(f->dir, seq, &l, &torn), -1);
	assert_int_equal(errno, EPROTONOSUPPORT);
	assert_false(torn);
	assert_int_equal(l.n, 0);
	jrec_list_release(&l);
	assert_int_equal(batch_read(f->dir, &b), 0);
	assert_true(b.full);
	assert_true(b.nseqs >= 1);
	batch_release(&b);
	char *text = log_captured(&c);
	if (strstr(text, want) == NULL)
		print_message("logged: %s\nwanted: %s\n", text, want);
	assert_non_null(strstr(text, want));
	free(text);
}

static void
test_read_other_version(void **state)
{
	struct fx *f = *state;
	char want[PATH_MAX + 256];
	uint64_t seq;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 3);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 1);

	/* A newer georep's segment, whatever follows its version: refused,
	 * not read as this version nor dropped as torn. */
	seg_poke(f, 1, 4, JOURNAL_VERSION ^ 2);	/* version 2 */
	snprintf(want, sizeof(want), "error: the journal segment "
	    "%s/00000000000000000001.seg has version 2; this georep reads "
	    "version %d (written by a newer georep?)", f->dir,
	    JOURNAL_VERSION);
	expect_version_refused(f, 1, want);
	seg_poke(f, 1, 8, 0x10);	/* its sequence too: still version 2 */
	expect_version_refused(f, 1, want);
	seg_poke(f, 1, 8, 0x10);
	seg_poke(f, 1, 7, 0x80);	/* version 0x80000002 */
	expect_version_refused(f, 1, "has version 2147483650; this georep "
	    "reads version 1 (written by a newer georep?)");
	seg_poke(f, 1, 7, 0x80);

	/* Below this one: refused, without the guess. */
	seg_poke(f, 1, 4, 2);			/* version 0 */
	snprintf(want, sizeof(want), "has version 0; this georep reads "
	    "version %d\n", JOURNAL_VERSION);
	expect_version_refused(f, 1, want);

	/* Set back, it reads whole. */
	seg_poke(f, 1, 4, JOURNAL_VERSION);	/* this version */
	expect_segment(f, 1, 0, 3, false);
}

static void
test_reopen_continues(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	/* Highest sealed. */
	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 2);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	append_n(f, 2, 2);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 2);
	journal_close(f->j);
	f->j = NULL;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	assert_int_equal(journal_pending(f->j), 0);
	append_n(f, 4, 1);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 3);

	/* Highest open: a journal closed (or crashed) before its cut. */
	append_n(f, 5, 2);
	assert_true(seg_exists(f, 4, "open"));
	journal_close(f->j);
	f->j = NULL;
	assert_true(seg_exists(f, 4, "open"));

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	assert_int_equal(journal_pending(f->j), 0);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 0);
	append_n(f, 7, 3);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 5);
	/* The leftover open segment was sealed by journal_open, so the
	 * syncer sees it (its torn tail, if any, found by checksum). */
	assert_false(seg_exists(f, 4, "open"));
	assert_true(seg_exists(f, 4, "seg"));
	journal_close(f->j);
	f->j = NULL;

	static const uint64_t want[] = { 1, 2, 3, 4, 5 };
	expect_list(f, want, 5);
	expect_segment(f, 1, 0, 2, false);
	expect_segment(f, 2, 2, 2, false);
	expect_segment(f, 3, 4, 1, false);
	expect_segment(f, 4, 5, 2, false);	/* the sealed leftover, whole */
	expect_segment(f, 5, 7, 3, false);

	/* A far higher one, from elsewhere (an older session's files),
	 * sealed or open, and the gap below it. */
	put_in_dir(f, "00000000000000000100.seg", "");
	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 1);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 101);
	journal_close(f->j);
	f->j = NULL;
	put_in_dir(f, "00000000000000000500.open", "");
	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	append_n(f, 0, 1);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 501);
	expect_segment(f, 501, 0, 1, false);
}

static void
test_remove(void **state)
{
	struct fx *f = *state;
	uint64_t seq;

	assert_int_equal(journal_open(&f->j, f->dir, true), 0);
	for (unsigned s = 1; s <= 3; s++) {
		append_n(f, 0, 1);
		assert_int_equal(journal_cut(f->j, &seq), 0);
	}
	assert_int_equal(journal_remove(f->dir, 2), 0);
	assert_false(seg_exists(f, 2, "seg"));
	assert_true(seg_exists(f, 1, "seg"));
	assert_true(seg_exists(f, 3, "seg"));
	static const uint64_t want[] = { 1, 3 };
	expect_list(f, want, 2);

	/* Gone already, or never there: fine. */
	assert_int_equal(journal_remove(f->dir, 2), 0);
	assert_int_equal(journal_remove(f->dir, 99), 0);
	expect_list(f, want, 2);

	assert_int_equal(journal_remove(f->dir, 1), 0);
	assert_int_equal(journal_remove(f->dir, 3), 0);
	expect_list(f, NULL, 0);

	/* Removing every sealed segment does not reset the sequence. */
	append_n(f, 0, 1);
	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(seq, 4);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_roundtrip_sizes),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_checksum),
		cmocka_unit_test(test_decode_bad_length),
		cmocka_unit_test(test_decode_unknown_type),
		cmocka_unit_test(test_decode_bad_name),
		cmocka_unit_test(test_decode_bad_fid),
		T(test_open_new_dir),
		T(test_append_cut),
		T(test_big_records_on_disk),
		T(test_list_order_and_junk),
		T(test_list_ignores_signed_names),
		T(test_reopen_ignores_signed_names),
		T(test_read_truncated_tail),
		T(test_read_corrupt_middle),
		T(test_read_bad_header),
		T(test_read_headerless),
		T(test_read_other_version),
		T(test_reopen_continues),
		T(test_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
