/*
 * libFuzzer target: the primary's handling of what the secondary sends.
 *
 * Each input is a few bytes that choose the requests waiting, then the
 * secondary's output:
 *
 *   u8 n            1 + n % MAX_REQS requests
 *   u8 type[n]      each one's type, an index into reqs[] (mod its size)
 *   u8 unsent       below 64: the last unsent % (n + 1) of them were not
 *                   written yet (a reply to one is impossible); else all
 *   u8 cut          where the output is cut in two (cut / 255 of it)
 *   ...             the secondary's output, fed to conn_feed in two parts
 *
 * The requests are queued as the primary queues them (conn_begin /
 * conn_end; PUT_END and PUT_ABORT after a PUT, with its id), and marked
 * written as do_write would.  The bytes then go through conn_feed: the
 * frame parser, the reply checks and the callback, exactly as conn_pump's
 * reading runs them.  The callback does what the real ones do with a reply
 * (sync/contact.c, reconcile.c, turn.c, data.c, verify/verify.c): reads
 * the message or data as printed ("%.*s"), copies the HELLO reply's
 * (say_hello), reads the uid and gid, the state and bits; checks each
 * LISTDIR page with proto_check_list_page across the pages of one listing
 * and then reads its entries (reconcile's list_dir); copies each VLIST
 * page, checks it with proto_check_vlist_page across the pages of one
 * listing, then reads it entry by entry with get_vlist_entry and each
 * entry's xattrs with get_vxattr, as verify's comparison does (fetch_s,
 * next_entry, compare_xattrs); copies a DIGEST reply's digest and its size;
 * keeps the inode numbers of creations.
 * Checked, beyond "no crash, no sanitizer report, no leak":
 *   - replies reach the callback in request order, each to a request that
 *     was written, with its id and type;
 *   - what the callback is given keeps conn.h's contract: an errno in
 *     0..PROTO_ERRNO_MAX, an error message of at most PROTO_REPLY_MSG_MAX
 *     bytes, and for a success the data and value proto.h gives its type
 *     (8 bytes and a known state for HELLO, "more" 0 or 1 and at most a
 *     page for LISTDIR and VLIST, DIGEST_LEN bytes for DIGEST, an inode
 *     number, never 0, for what creates one, nothing and 0 for the rest);
 *   - a connection that failed failed with "protocol error: " (nothing else
 *     can fail here), exits EX_PROTOCOL, and takes nothing more;
 *   - one that did not holds at most a cut frame, whose header, once in,
 *     is a REPLY to the request waiting;
 *   - an accepted LISTDIR page parses, with valid names in strict order;
 *   - so does an accepted VLIST page (read from a copy of its own size,
 *     so that a read past it is caught), every entry within proto.h's
 *     contract: nanoseconds below a second, an errno in range, a target
 *     exactly for a symlink, and its xattrs -- all of them, no byte left
 *     -- with names of 1..PROTO_XATTR_NAME_MAX bytes in strict order,
 *     values of at most PROTO_XATTR_VALUE_MAX, digests in the page.
 * A violation aborts.  Nothing touches a file or a process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "common/attrs.h"
#include "common/codec.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/names.h"
#include "protocol/conn.h"
#include "protocol/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_replies: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#define MAX_REQS	12

static bool verbose;	/* FUZZ_VERBOSE: say what each input came to */

/* The requests that have a reply (PUT and DATA are answered by the
 * PUT_END or PUT_ABORT that closes them). */
static const uint8_t reqs[] = {
	MSG_HELLO, MSG_MKDIR, MSG_SYMLINK, MSG_MKNOD, MSG_LINK, MSG_RENAME,
	MSG_UNLINK, MSG_RMTREE, MSG_PUT_END, MSG_PUT_ABORT, MSG_SETATTR,
	MSG_COMMIT, MSG_BYE, MSG_RESET, MSG_LISTDIR, MSG_PING, MSG_VLIST,
	MSG_DIGEST,
};

struct state {
	struct conn *c;
	uint32_t ids[MAX_REQS];
	uint8_t types[MAX_REQS];
	size_t nreqs, nsent;
	size_t answered;
	/* The listing in progress (reconcile's list_dir). */
	struct list_pos pos;
	bool listing, root;
	/* The VLIST listing in progress (verify's fetch_s). */
	struct list_pos vpos;
	bool vlisting, vroot;
	/* What the callbacks keep. */
	uint64_t sinos;
	uint8_t digest[DIGEST_LEN];	/* the last DIGEST reply's */
	uint64_t digested;		/* the sizes they give */
	char *hello_msg;
	uint32_t uid, gid;
	size_t printed;
};

/* What a log line with the message does: read it all ("%.*s"). */
static void
print_msg(struct state *s, const struct reply *rep)
{
	char line[PROTO_REPLY_MSG_MAX + 64];

	CHECK(rep->msg != NULL || rep->msg_len == 0);
	int n = snprintf(line, sizeof(line), "failed: %.*s", (int)rep->msg_len,
	    rep->msg ? rep->msg : "");
	CHECK(n >= 0);
	s->printed += (size_t)n;
}

/* say_hello: a copy of the message, then the uid and gid read from it. */
static void
on_hello(struct state *s, const struct reply *rep)
{
	struct rd r;

	free(s->hello_msg);
	s->hello_msg = strndup(rep->msg ? rep->msg : "", rep->msg_len);
	CHECK(s->hello_msg != NULL);
	if (rep->err) {
		print_msg(s, rep);
		return;
	}
	CHECK(rep->msg_len == HELLO_REPLY_DATA);
	rd_init(&r, (const uint8_t *)rep->msg, rep->msg_len);
	s->uid = get_u32(&r);
	s->gid = get_u32(&r);
	CHECK(rd_end(&r));
	CHECK((rep->value & HELLO_STATE_MASK) <= HELLO_ADOPTED);
	CHECK((rep->value & ~(uint64_t)(HELLO_STATE_MASK | HELLO_IS_ROOT |
	    HELLO_NO_OPENAT2 | HELLO_FDS | HELLO_PARTIALS)) == 0);
}

/* A name comes after the last one (none when last->len is 0), and
 * becomes the last. */
static void
check_after_last(struct list_pos *last, const char *name, uint32_t len)
{
	if (last->len) {
		size_t m = len < last->len ? len : last->len;
		int cmp = memcmp(name, last->last, m);
		CHECK(cmp > 0 || (cmp == 0 && len > last->len));
	}
	CHECK(len <= sizeof(last->last));
	memcpy(last->last, name, len);
	last->len = len;
}

/* reconcile's list_dir: the page checked, then its entries read.  A
 * listing begun by a request of even index is the root's, where .georep
 * is never listed; the pages after its first belong to it. */
static void
on_listdir(struct state *s, const struct reply *rep, size_t idx)
{
	char why[384];
	struct list_pos before;
	struct rd r;

	if (rep->err) {
		s->listing = false;
		print_msg(s, rep);
		return;
	}
	CHECK(rep->value <= 1);
	CHECK(rep->msg_len <= PROTO_LIST_BYTES);
	if (!s->listing) {
		s->pos.len = 0;
		s->root = idx % 2 == 0;
	}
	bool root = s->root;
	before = s->pos;
	s->listing = rep->value == 1;
	if (!proto_check_list_page((const uint8_t *)rep->msg, rep->msg_len,
	    rep->value == 1, root, &s->pos, why, sizeof(why))) {
		CHECK(why[0] != '\0');
		conn_protocol_error(s->c, "the LISTDIR reply for / %s", why);
		return;
	}
	CHECK(rep->value == 0 || rep->msg_len > 0);
	rd_init(&r, (const uint8_t *)rep->msg, rep->msg_len);
	while (r.off < r.len) {
		struct list_entry e;
		CHECK(get_list_entry(&r, &e));
		CHECK(name_valid(e.name, e.name_len));
		CHECK(!root || !(e.name_len == strlen(GEOREP_STATE_DIR) &&
		    memcmp(e.name, GEOREP_STATE_DIR, e.name_len) == 0));
		check_after_last(&before, e.name, e.name_len);
	}
	CHECK(rd_end(&r));
	CHECK(before.len == s->pos.len &&
	    memcmp(before.last, s->pos.last, before.len) == 0);
}

/* What verify does with an entry's xattrs (compare_xattrs, xattr_compared,
 * say): each read with get_vxattr, its name copied to a C string, printed,
 * its digest compared (here with the one before).  All of them, and
 * nothing after. */
static void
read_vxattrs(struct state *s, const struct vlist_entry *e,
    const uint8_t *page, size_t len)
{
	char nm[PROTO_XATTR_NAME_MAX + 1], line[PROTO_XATTR_NAME_MAX + 64];
	struct vxattr x, prev = { 0 };
	struct rd r;

	CHECK(e->xattrs_len == 0 || (e->xattrs >= page &&
	    e->xattrs + e->xattrs_len <= page + len));
	rd_init(&r, e->xattrs, e->xattrs_len);
	for (uint32_t i = 0; i < e->nxattrs; i++) {
		CHECK(get_vxattr(&r, &x));
		CHECK(x.name_len > 0 && x.name_len <= PROTO_XATTR_NAME_MAX);
		CHECK(memchr(x.name, '\0', x.name_len) == NULL);
		CHECK(x.value_len <= PROTO_XATTR_VALUE_MAX);
		CHECK(x.digest >= e->xattrs &&
		    x.digest + DIGEST_LEN <= e->xattrs + e->xattrs_len);
		if (i > 0) {
			size_t m = x.name_len < prev.name_len ? x.name_len :
			    prev.name_len;
			int cmp = memcmp(x.name, prev.name, m);
			CHECK(cmp > 0 || (cmp == 0 && x.name_len > prev.name_len));
		}
		memcpy(nm, x.name, x.name_len);
		nm[x.name_len] = '\0';
		int n = snprintf(line, sizeof(line), "xattr %s%s: value differs",
		    nm, xattr_is_acl(x.name, x.name_len) ? " (ACL)" : "");
		CHECK(n >= 0);
		s->printed += (size_t)n;
		if (i > 0 && memcmp(x.digest, prev.digest, DIGEST_LEN) == 0)
			s->printed++;
		prev = x;
	}
	CHECK(rd_end(&r));
}

/* One entry of an accepted VLIST page, within proto.h's contract. */
static void
check_vlist_entry(struct state *s, const struct vlist_entry *e, bool root,
    const uint8_t *page, size_t len)
{
	char line[PROTO_NAME_MAX + VLIST_TARGET_MAX + 64];

	CHECK(name_valid(e->name, e->name_len));
	CHECK(!root || !(e->name_len == strlen(GEOREP_STATE_DIR) &&
	    memcmp(e->name, GEOREP_STATE_DIR, e->name_len) == 0));
	CHECK(e->mtime_nsec < 1000000000u && e->ctime_nsec < 1000000000u);
	CHECK(e->xattr_errno <= PROTO_ERRNO_MAX);
	CHECK(e->nxattrs <= PROTO_XATTR_COUNT_MAX);
	CHECK(e->target_len <= VLIST_TARGET_MAX);
	CHECK(S_ISLNK(e->mode) ? e->target_len > 0 : e->target_len == 0);
	CHECK(e->target_len == 0 || (e->target != NULL &&
	    memchr(e->target, '\0', e->target_len) == NULL));
	/* As compare_pair says a target that differs. */
	int n = snprintf(line, sizeof(line), "%.*s: target \"%.*s\" on the "
	    "secondary", (int)e->name_len, e->name, (int)e->target_len,
	    e->target ? e->target : "");
	CHECK(n >= 0);
	s->printed += (size_t)n;
	read_vxattrs(s, e, page, len);
}

/* verify's fetch_s and next_entry: the page copied (buf_add), checked
 * with proto_check_vlist_page across the pages of one listing, then read
 * entry by entry.  A listing begun by a request of even index is the
 * root's, as for LISTDIR. */
static void
on_vlist(struct state *s, const struct reply *rep, size_t idx)
{
	char why[384];
	struct list_pos before;
	struct vlist_entry e;
	struct rd r;

	if (rep->err) {
		s->vlisting = false;
		print_msg(s, rep);
		return;
	}
	CHECK(rep->value <= 1);
	CHECK(rep->msg_len <= VLIST_PAGE_MAX);
	if (!s->vlisting) {
		s->vpos.len = 0;
		s->vroot = idx % 2 == 0;
	}
	bool root = s->vroot;
	before = s->vpos;
	s->vlisting = rep->value == 1;
	/* Exactly the page: a read past it is a heap overflow. */
	size_t len = rep->msg_len;
	uint8_t *page = malloc(len ? len : 1);
	CHECK(page != NULL);
	if (len)
		memcpy(page, rep->msg, len);
	if (!proto_check_vlist_page(page, len, rep->value == 1, root,
	    &s->vpos, why, sizeof(why))) {
		CHECK(why[0] != '\0');
		conn_protocol_error(s->c, "the VLIST reply for / %s", why);
		free(page);
		return;
	}
	CHECK(rep->value == 0 || len > 0);
	rd_init(&r, page, len);
	while (r.off < r.len) {
		CHECK(get_vlist_entry(&r, &e));
		check_vlist_entry(s, &e, root, page, len);
		check_after_last(&before, e.name, e.name_len);
	}
	CHECK(rd_end(&r));
	CHECK(before.len == s->vpos.len &&
	    memcmp(before.last, s->vpos.last, before.len) == 0);
	free(page);
}

/* verify's on_reply for a job: the digest copied, its size kept. */
static void
on_digest(struct state *s, const struct reply *rep)
{
	if (rep->err) {
		print_msg(s, rep);
		return;
	}
	CHECK(rep->msg_len == DIGEST_LEN && rep->msg != NULL);
	memcpy(s->digest, rep->msg, DIGEST_LEN);
	s->digested += rep->value;
}

static void
on_reply(void *arg, const struct pending_req *req, const struct reply *rep)
{
	struct state *s = arg;

	CHECK(s->answered < s->nsent);
	CHECK(req->id == s->ids[s->answered]);
	CHECK(req->type == s->types[s->answered]);
	CHECK(req->cookie == s->answered);
	s->answered++;
	CHECK(rep->err >= 0 && rep->err <= PROTO_ERRNO_MAX);
	CHECK(rep->err == 0 || rep->msg_len <= PROTO_REPLY_MSG_MAX);
	if (req->type == MSG_HELLO) {
		on_hello(s, rep);
		return;
	}
	if (req->type == MSG_LISTDIR) {
		on_listdir(s, rep, (size_t)req->cookie);
		return;
	}
	if (req->type == MSG_VLIST) {
		on_vlist(s, rep, (size_t)req->cookie);
		return;
	}
	if (req->type == MSG_DIGEST) {
		on_digest(s, rep);
		return;
	}
	if (rep->err) {
		print_msg(s, rep);
		return;
	}
	CHECK(rep->msg_len == 0);
	switch (req->type) {
	case MSG_MKDIR: case MSG_SYMLINK: case MSG_MKNOD: case MSG_PUT_END:
		CHECK(rep->value != 0);
		s->sinos += rep->value;	/* the index keeps it */
		break;
	default:
		CHECK(rep->value == 0);
		break;
	}
}

/* Queue request i of type t as the primary does (a small payload; PUT_END
 * and PUT_ABORT after their PUT, with its id). */
static void
queue(struct state *s, size_t i, uint8_t t)
{
	struct conn *c = s->c;
	size_t start;

	if (t == MSG_PUT_END || t == MSG_PUT_ABORT) {
		start = conn_begin(c, MSG_PUT, 0, false);
		put_oref(&c->out, BASE_ROOT, "", 0, 0, "f", 1);
		CHECK(conn_end(c, start) == 0);
		start = conn_begin_cont(c, t, true, i);
	} else {
		start = conn_begin(c, t, i, true);
	}
	put_u32(&c->out, (uint32_t)i);
	CHECK(conn_end(c, start) == 0);
	s->types[i] = t;
	s->ids[i] = c->next_id - 1;
}

/* The first nsent requests written, as do_write would count them. */
static void
mark_written(struct state *s)
{
	struct conn *c = s->c;

	CHECK(c->pend_count == s->nreqs && c->pend_head == 0);
	c->bytes_out = s->nsent ? c->pend[s->nsent - 1].sent_at : 0;
	if (s->nsent < s->nreqs)
		CHECK(c->bytes_out < c->pend[s->nsent].sent_at);
}

/* After the input: a failure is a protocol error, and final; otherwise
 * what is left is one cut frame, whose header fits the request waiting. */
static void
check_after(struct state *s, const uint8_t *more, size_t n)
{
	struct conn *c = s->c;
	struct frame f;

	CHECK(s->answered + c->pend_count == s->nreqs);
	if (verbose)
		fprintf(stderr, "fuzz_replies: %zu of %zu requests (%zu written) "
		    "answered; %s\n", s->answered, s->nreqs, s->nsent,
		    c->failed ? c->error : "no failure");
	if (c->failed) {
		CHECK(c->proto_error);
		CHECK(strncmp(c->error, "protocol error: ", 16) == 0);
		CHECK(conn_exit_code(c) == EX_PROTOCOL);
		size_t answered = s->answered, inlen = c->in.len;
		conn_feed(c, more, n);
		CHECK(s->answered == answered && c->in.len == inlen);
		return;
	}
	CHECK(conn_exit_code(c) == EX_UNAVAILABLE);
	CHECK(proto_parse_frame(c->in.data, c->in.len, &f) == 0);
	if (c->in.len >= PROTO_HDR_LEN) {
		CHECK(c->in.data[4] == MSG_REPLY);
		CHECK(c->pend_count > 0);
		const struct pending_req *w = &c->pend[c->pend_head];
		uint32_t id = (uint32_t)c->in.data[5] |
		    (uint32_t)c->in.data[6] << 8 |
		    (uint32_t)c->in.data[7] << 16 |
		    (uint32_t)c->in.data[8] << 24;
		CHECK(id == w->id && c->bytes_out >= w->sent_at);
	}
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
	log_init("fuzz_replies", LOG_LVL_ERR, out);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn c;
	struct state s;

	if (size < 1 || size < 3 + 1 + (size_t)data[0] % MAX_REQS)
		return 0;	/* not even the header */
	memset(&s, 0, sizeof(s));
	conn_init(&c, "fuzz", 1000);
	c.on_reply = on_reply;
	c.arg = &s;
	s.c = &c;
	s.nreqs = 1 + data[0] % MAX_REQS;
	for (size_t i = 0; i < s.nreqs; i++)
		queue(&s, i, reqs[data[1 + i] % sizeof(reqs)]);
	uint8_t unsent = data[1 + s.nreqs], cut = data[2 + s.nreqs];
	s.nsent = s.nreqs - (unsent < 64 ? unsent % (s.nreqs + 1) : 0);
	mark_written(&s);
	const uint8_t *out = data + 3 + s.nreqs;
	size_t len = size - 3 - s.nreqs, half = len * cut / 255;
	conn_feed(&c, out, half);
	conn_feed(&c, out + half, len - half);
	check_after(&s, out, len);
	free(s.hello_msg);
	conn_release(&c);
	return 0;
}
