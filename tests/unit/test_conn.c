/*
 * Unit tests of the primary's reply checks (src/protocol/conn.c), through
 * conn_feed: requests are queued as the primary queues them and marked
 * written as do_write would; then crafted replies go in, and either reach
 * on_reply or fail the connection with the protocol error that names what
 * was wrong.  The same checks against a live peer: tests/e2e/47 (a hostile
 * secondary); on arbitrary bytes: tests/fuzz/fuzz_replies.c.
 *
 * And the wire the pump writes, into a pipe: with compression, blocks and
 * plain runs that give back exactly the frames queued, the counters
 * (bytes_out in frames, wire_out on the wire) and every request's sent_at
 * reached; with a bandwidth limit, everything written, the bucket waited
 * for, and a wait longer than the timeout not taken for a silent peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <cmocka.h>

#include <zstd.h>

#include "common/config.h"
#include "protocol/conn.h"

struct seen {
	size_t n;
	uint8_t type[8];
	uint64_t value[8];
};

static void
record(void *arg, const struct pending_req *req, const struct reply *rep)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->type[s->n] = req->type;
		s->value[s->n] = rep->value;
	}
	s->n++;
}

/* A connection with requests of these types waiting (0-terminated), the
 * first `written` of them written. */
static void
setup(struct conn *c, struct seen *s, const uint8_t *types, size_t written)
{
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	conn_init(c, "test", 1000);
	c->on_reply = record;
	c->arg = s;
	for (; types[n]; n++) {
		size_t st = conn_begin(c, types[n], n, true);
		put_u32(&c->out, 7);
		assert_int_equal(conn_end(c, st), 0);
	}
	c->bytes_out = written ? c->pend[written - 1].sent_at : 0;
}

static void
feed_reply(struct conn *c, uint32_t id, int32_t err, uint64_t value,
    const void *data, uint32_t len)
{
	struct buf b = BUF_INIT;
	size_t st = proto_begin(&b, MSG_REPLY, id);

	put_u32(&b, (uint32_t)err);
	put_u64(&b, value);
	put_bytes(&b, data, len);
	proto_finish(&b, st);
	conn_feed(c, b.data, b.len);
	buf_release(&b);
}

/* The connection failed with a protocol error containing what. */
static void
refused(struct conn *c, const char *what)
{
	assert_true(c->failed);
	assert_true(c->proto_error);
	assert_int_equal(conn_exit_code(c), EX_PROTOCOL);
	assert_int_equal(strncmp(c->error, "protocol error: ", 16), 0);
	if (strstr(c->error, what) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", c->error, what);
}

static const uint8_t hello_mkdir[] = { MSG_HELLO, MSG_MKDIR, 0 };

static void
test_good_replies(void **state)
{
	struct conn c;
	struct seen s;
	uint8_t uidgid[8] = { 0 };

	(void)state;
	setup(&c, &s, hello_mkdir, 2);
	/* Cut anywhere: nothing until the whole frame is in. */
	struct buf b = BUF_INIT;
	size_t st = proto_begin(&b, MSG_REPLY, 1);
	put_u32(&b, 0);
	put_u64(&b, HELLO_NEW | HELLO_IS_ROOT);
	put_bytes(&b, uidgid, sizeof(uidgid));
	proto_finish(&b, st);
	for (size_t i = 0; i < b.len; i++)
		conn_feed(&c, b.data + i, 1);
	buf_release(&b);
	assert_int_equal(s.n, 1);
	feed_reply(&c, 2, ESTALE, 0, "not that directory", 18);
	assert_false(c.failed);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.type[1], MSG_MKDIR);
	assert_int_equal(conn_exit_code(&c), EX_UNAVAILABLE);
	conn_release(&c);
}

static void
test_frames_refused(void **state)
{
	struct conn c;
	struct seen s;
	static const uint8_t too_long[] = { 0x01, 0x00, 0x40, 0x00 };
	static const uint8_t too_short[] = { 0x04, 0x00, 0x00, 0x00 };
	static const uint8_t mkdir_head[] = { 5, 0, 0, 0, MSG_MKDIR, 1, 0,
	    0, 0 };
	static const uint8_t unknown_head[] = { 5, 0, 0, 0, 200, 1, 0, 0, 0 };

	(void)state;
	setup(&c, &s, hello_mkdir, 2);
	conn_feed(&c, too_long, sizeof(too_long));
	refused(&c, "a frame of 4194305 bytes from the secondary (at most");
	conn_release(&c);
	setup(&c, &s, hello_mkdir, 2);
	conn_feed(&c, too_short, sizeof(too_short));
	refused(&c, "a frame of 4 bytes from the secondary (at least 5)");
	conn_release(&c);
	/* A header that cannot be a reply: refused before its payload. */
	setup(&c, &s, hello_mkdir, 2);
	conn_feed(&c, mkdir_head, sizeof(mkdir_head));
	refused(&c, "sent a MKDIR frame, not a REPLY");
	conn_release(&c);
	setup(&c, &s, hello_mkdir, 2);
	conn_feed(&c, unknown_head, sizeof(unknown_head));
	refused(&c, "a frame of unknown type 200");
	conn_release(&c);
	assert_int_equal(s.n, 0);
}

static void
test_ids_refused(void **state)
{
	struct conn c;
	struct seen s;
	uint8_t uidgid[8] = { 0 };

	(void)state;
	setup(&c, &s, hello_mkdir, 2);
	feed_reply(&c, 2, 0, 5, NULL, 0);
	refused(&c, "a reply to request 2, but request 1 (HELLO) is the one "
	    "waiting");
	conn_release(&c);
	/* The MKDIR is still in our buffer: its reply is impossible. */
	setup(&c, &s, hello_mkdir, 1);
	feed_reply(&c, 1, 0, HELLO_NEW, uidgid, sizeof(uidgid));
	feed_reply(&c, 2, 0, 5, NULL, 0);
	refused(&c, "a reply to request 2 (MKDIR) before all of it was sent");
	assert_int_equal(s.n, 1);
	conn_release(&c);
	setup(&c, &s, (const uint8_t[]){ MSG_PING, 0 }, 1);
	feed_reply(&c, 1, 0, 0, NULL, 0);
	feed_reply(&c, 2, 0, 0, NULL, 0);
	refused(&c, "a reply to request 2, and no request is waiting");
	/* Failed: nothing more is taken. */
	feed_reply(&c, 2, 0, 0, NULL, 0);
	assert_int_equal(s.n, 1);
	conn_release(&c);
}

static void
test_fields_refused(void **state)
{
	struct conn c;
	struct seen s;
	static const uint8_t ping[] = { MSG_PING, 0 };
	char big[PROTO_REPLY_MSG_MAX + 1];

	(void)state;
	memset(big, 'e', sizeof(big));
	setup(&c, &s, ping, 1);
	feed_reply(&c, 1, -1, 0, "x", 1);
	refused(&c, "a reply to PING with errno -1 (not 0..4095)");
	conn_release(&c);
	setup(&c, &s, ping, 1);
	feed_reply(&c, 1, PROTO_ERRNO_MAX + 1, 0, "x", 1);
	refused(&c, "errno 4096");
	conn_release(&c);
	setup(&c, &s, ping, 1);
	feed_reply(&c, 1, EIO, 0, big, sizeof(big));
	refused(&c, "an error message of 4097 bytes (at most 4096)");
	conn_release(&c);
	/* Cut short, running past its end, bytes after it. */
	setup(&c, &s, ping, 1);
	conn_feed(&c, (const uint8_t[]){ 9, 0, 0, 0, MSG_REPLY, 1, 0, 0, 0,
	    0, 0, 0, 0 }, 13);
	refused(&c, "a reply to PING of 4 bytes (at least 16)");
	conn_release(&c);
	struct buf b = BUF_INIT;
	size_t st = proto_begin(&b, MSG_REPLY, 1);
	put_u32(&b, 0);
	put_u64(&b, 0);
	put_u32(&b, 3);
	put_u8(&b, 1);
	proto_finish(&b, st);
	setup(&c, &s, ping, 1);
	conn_feed(&c, b.data, b.len);
	refused(&c, "whose data of 3 bytes runs past its end (1 left)");
	conn_release(&c);
	b.data[b.len - 5] = 0;		/* a length of 0: 1 byte after */
	setup(&c, &s, ping, 1);
	conn_feed(&c, b.data, b.len);
	refused(&c, "1 bytes after the data of a reply to PING");
	conn_release(&c);
	buf_release(&b);
	assert_int_equal(s.n, 0);
}

static void
test_results_refused(void **state)
{
	struct conn c;
	struct seen s;
	uint8_t d[12] = { 0 };

	(void)state;
	setup(&c, &s, hello_mkdir, 2);
	feed_reply(&c, 1, 0, HELLO_BOUND, d, 4);
	refused(&c, "a reply to HELLO with 4 bytes of data (8 expected)");
	conn_release(&c);
	setup(&c, &s, hello_mkdir, 2);
	feed_reply(&c, 1, 0, HELLO_ADOPTED + 1, d, 8);
	refused(&c, "a reply to HELLO with value 0x4 (not a state");
	conn_release(&c);
	setup(&c, &s, hello_mkdir, 2);
	feed_reply(&c, 1, 0, HELLO_BOUND | 0x1000, d, 8);
	refused(&c, "value 0x1001");
	conn_release(&c);
	setup(&c, &s, hello_mkdir, 2);
	feed_reply(&c, 1, 0, HELLO_BOUND | HELLO_NO_OPENAT2, d, 8);
	feed_reply(&c, 2, 0, 0, NULL, 0);
	refused(&c, "a reply to MKDIR with inode number 0");
	conn_release(&c);
	setup(&c, &s, (const uint8_t[]){ MSG_COMMIT, 0 }, 1);
	feed_reply(&c, 1, 0, 0, d, 2);
	refused(&c, "a reply to COMMIT with 2 bytes of data (none expected)");
	conn_release(&c);
	setup(&c, &s, (const uint8_t[]){ MSG_SETATTR, 0 }, 1);
	feed_reply(&c, 1, 0, 12, NULL, 0);
	refused(&c, "a reply to SETATTR with value 0xc (0 expected)");
	conn_release(&c);
	setup(&c, &s, (const uint8_t[]){ MSG_LISTDIR, 0 }, 1);
	feed_reply(&c, 1, 0, 2, NULL, 0);
	refused(&c, "a reply to LISTDIR with value 0x2 (0 or 1 expected)");
	conn_release(&c);
	/* A SIGNATURE's data: at most PROTO_SIG_MAX (its shape is its
	 * reader's to check); the size signed, any. */
	uint8_t *sig = calloc(1, PROTO_SIG_MAX + 1);
	setup(&c, &s, (const uint8_t[]){ MSG_SIGNATURE, 0 }, 1);
	feed_reply(&c, 1, 0, 1ull << 40, sig, PROTO_SIG_MAX);
	assert_false(c.failed);
	assert_int_equal(s.n, 1);
	conn_release(&c);
	setup(&c, &s, (const uint8_t[]){ MSG_SIGNATURE, 0 }, 1);
	feed_reply(&c, 1, 0, 0, sig, PROTO_SIG_MAX + 1);
	refused(&c, "a reply to SIGNATURE with 1048589 bytes of data (at most "
	    "1048588)");
	conn_release(&c);
	free(sig);
	/* An error's value is not looked at. */
	setup(&c, &s, (const uint8_t[]){ MSG_SETATTR, 0 }, 1);
	feed_reply(&c, 1, EPERM, 12, "no", 2);
	assert_false(c.failed);
	conn_release(&c);
}

/* What EOF in the middle of a frame says (peer_gone, through do_read):
 * here the frame is cut and left in the buffer. */
static void
test_cut_kept(void **state)
{
	struct conn c;
	struct seen s;
	static const uint8_t part[] = { 40, 0, 0, 0, MSG_REPLY, 1, 0, 0, 0,
	    0, 0 };

	(void)state;
	setup(&c, &s, hello_mkdir, 2);
	conn_feed(&c, part, sizeof(part));
	assert_false(c.failed);
	assert_int_equal(c.in.len, sizeof(part));
	conn_release(&c);
}

/* ---- the wire the pump writes ---- */

/* A connection whose output is a pipe (read back with drain) and whose
 * secondary never answers (its end of the reply pipe stays open). */
struct wire_fx {
	struct conn c;
	int out[2], in[2];
	struct buf got;
};

static void
wire_open(struct wire_fx *w, int timeout_ms)
{
	memset(w, 0, sizeof(*w));
	conn_init(&w->c, "test", timeout_ms);
	assert_int_equal(pipe2(w->out, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(w->in, O_NONBLOCK | O_CLOEXEC), 0);
	w->c.wfd = w->out[1];
	w->c.rfd = w->in[0];
}

static void
drain(struct wire_fx *w)
{
	uint8_t chunk[65536];
	ssize_t n;

	while ((n = read(w->out[0], chunk, sizeof(chunk))) > 0)
		buf_add(&w->got, chunk, (size_t)n);
	assert_true(n < 0 && errno == EAGAIN);
}

/* Pump (blocking or not) until all is written, reading the pipe. */
static void
wire_flush(struct wire_fx *w, bool block)
{
	while (w->c.out_off < w->c.out.len) {
		assert_int_equal(conn_pump(&w->c, block), 0);
		drain(w);
	}
	drain(w);
}

static void
wire_close(struct wire_fx *w)
{
	close(w->out[0]);
	close(w->in[1]);
	w->c.pid = -1;
	conn_release(&w->c);
	buf_release(&w->got);
}

/* Queue n MKDIRs (each awaiting its reply), a DATA of noise, n more. */
static void
queue_mix(struct conn *c, int n, size_t noise)
{
	uint32_t x = 88172645u;

	for (int half = 0; half < 2; half++) {
		for (int i = 0; i < n; i++) {
			char name[32];
			int len = snprintf(name, sizeof(name), "dir-%d-%d", half,
			    i);
			size_t s = conn_begin(c, MSG_MKDIR, 0, true);
			put_oref(&c->out, BASE_ROOT, "a/b", 3, 9, name,
			    (size_t)len);
			put_u32(&c->out, 0755);
			assert_int_equal(conn_end(c, s), 0);
		}
		if (half || noise == 0)
			continue;
		size_t s = conn_begin(c, MSG_DATA, 0, false);
		put_u64(&c->out, 0);
		put_u32(&c->out, (uint32_t)noise);
		for (size_t i = 0; i < noise; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			put_u8(&c->out, (uint8_t)x);
		}
		assert_int_equal(conn_end(c, s), 0);
	}
}

/* What was written, blocks unpacked: the frames as queued. */
static void
assert_stream_is(const struct buf *got, const struct buf *want)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	struct buf flat = BUF_INIT, inner = BUF_INIT;
	size_t off = 0;
	char why[256];

	while (off < got->len) {
		struct frame f;
		ssize_t n = proto_parse_frame(got->data + off, got->len - off,
		    &f);
		assert_true(n > 0);
		if (f.type == MSG_ZBLOCK) {
			if (!proto_unpack_block(dc, f.payload, f.len, &inner, why,
			    sizeof(why)))
				fail_msg("a block the pump wrote: %s", why);
			buf_add(&flat, inner.data, inner.len);
		} else {
			buf_add(&flat, got->data + off, (size_t)n);
		}
		off += (size_t)n;
	}
	assert_int_equal(flat.len, want->len);
	assert_memory_equal(flat.data, want->data, want->len);
	buf_release(&flat);
	buf_release(&inner);
	ZSTD_freeDCtx(dc);
}

static void
test_wire_compressed(void **state)
{
	struct wire_fx w;
	struct buf plain = BUF_INIT;

	(void)state;
	wire_open(&w, 1000);
	conn_set_wire(&w.c, 3, 0);
	/* Before HELLO accepted it, nothing is compressed. */
	queue_mix(&w.c, 5, 0);
	buf_add(&plain, w.c.out.data, w.c.out.len);
	wire_flush(&w, false);
	assert_int_equal(w.c.wire_out, w.c.bytes_out);
	assert_int_equal(w.c.blocks, 0);
	assert_int_equal(conn_compress_start(&w.c), 0);
	assert_true(w.c.zactive);

	size_t before = w.c.out.len;
	assert_int_equal(before, 0);
	/* A DATA larger than a block's target goes alone: as it is. */
	queue_mix(&w.c, 3000, 2 << 20);
	buf_add(&plain, w.c.out.data, w.c.out.len);
	wire_flush(&w, false);
	assert_stream_is(&w.got, &plain);
	assert_int_equal(w.c.bytes_out, plain.len);
	assert_int_equal(w.c.wire_out, w.got.len);
	/* 6000 MKDIRs (some 250 KiB) shrink, the noise does not. */
	assert_true(w.c.wire_out + (150 << 10) < plain.len);
	assert_true(w.c.blocks > 0);
	assert_true(w.c.blocks_plain > 0);	/* the noise */
	/* Every request counts as sent, the last at the stream's end. */
	for (size_t i = 0; i < w.c.pend_count; i++)
		assert_true(w.c.pend[(w.c.pend_head + i) % w.c.pend_cap].sent_at
		    <= w.c.bytes_out);
	assert_int_equal(w.c.pend[(w.c.pend_head + w.c.pend_count - 1) %
	    w.c.pend_cap].sent_at, plain.len);
	char how[128];
	assert_true(conn_describe_wire(&w.c, how, sizeof(how)));
	assert_string_equal(how, "zstd level 3");
	buf_release(&plain);
	wire_close(&w);
}

/* Noise that does not shrink, block after block: after 8 misses in a row
 * the next blocks go untried (fewer tried than sent), one is tried again
 * now and then, and content that shrinks is compressed again at once. */
static void
test_wire_skips_noise(void **state)
{
	struct wire_fx w;
	struct buf plain = BUF_INIT;

	(void)state;
	wire_open(&w, 1000);
	conn_set_wire(&w.c, 1, 0);
	assert_int_equal(conn_compress_start(&w.c), 0);
	for (int k = 0; k < 40; k++) {	/* 40 DATA of 1 MiB of noise */
		queue_mix(&w.c, 1, 1 << 20);
		buf_add(&plain, w.c.out.data + w.c.out_off,
		    w.c.out.len - w.c.out_off);
		wire_flush(&w, false);
	}
	assert_stream_is(&w.got, &plain);
	assert_int_equal(w.c.blocks, 0);
	assert_true(w.c.blocks_plain >= 40);
	assert_true(w.c.zsampling);	/* sampling, not trying */
	/* Something that shrinks: its sample does, compressed again at once. */
	buf_reset(&plain);
	buf_reset(&w.got);
	for (int k = 0; k < 20; k++) {
		queue_mix(&w.c, 400, 0);
		buf_add(&plain, w.c.out.data + w.c.out_off,
		    w.c.out.len - w.c.out_off);
		wire_flush(&w, false);
	}
	assert_stream_is(&w.got, &plain);
	assert_true(w.c.blocks > 0);
	assert_false(w.c.zsampling);
	buf_release(&plain);
	wire_close(&w);
}

static void
test_wire_auto(void **state)
{
	struct conn c;
	char how[128];

	(void)state;
	conn_init(&c, "test", 1000);
	conn_set_wire(&c, COMPRESS_AUTO, 0);
	assert_int_equal(conn_compress_level(&c), 0);	/* local */
	assert_false(conn_describe_wire(&c, how, sizeof(how)));
	assert_string_equal(how, "");
	snprintf(c.host, sizeof(c.host), "host");
	assert_int_equal(conn_compress_level(&c), COMPRESS_DEFAULT);
	conn_set_wire(&c, 0, 2 << 20);
	assert_int_equal(conn_compress_level(&c), 0);	/* --no-compress */
	assert_true(conn_describe_wire(&c, how, sizeof(how)));
	assert_string_equal(how, "at most 2M/s (bwlimit)");
	conn_release(&c);
}

static void
test_wire_bwlimit(void **state)
{
	struct wire_fx w;
	struct buf plain = BUF_INIT;

	(void)state;
	/* 16 KiB/s: a bucket of 1.6 KiB, refilled in about 100 ms -- longer
	 * than this timeout, which a wait for the bucket must not trip. */
	wire_open(&w, 50);
	conn_set_wire(&w.c, 0, 16 << 10);
	queue_mix(&w.c, 0, 6000);
	buf_add(&plain, w.c.out.data, w.c.out.len);
	wire_flush(&w, true);
	assert_false(w.c.failed);
	assert_int_equal(w.got.len, plain.len);
	assert_memory_equal(w.got.data, plain.data, plain.len);
	assert_int_equal(w.c.wire_out, plain.len);
	assert_true(w.c.bw_waits > 0);
	assert_true(w.c.bw_waited_ns > 0);
	/* A peer that is silent when nothing waits on the bucket: failed. */
	assert_int_equal(conn_pump(&w.c, true), -1);
	assert_non_null(strstr(w.c.error, "did not answer"));
	buf_release(&plain);
	wire_close(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_replies),
		cmocka_unit_test(test_frames_refused),
		cmocka_unit_test(test_ids_refused),
		cmocka_unit_test(test_fields_refused),
		cmocka_unit_test(test_results_refused),
		cmocka_unit_test(test_cut_kept),
		cmocka_unit_test(test_wire_compressed),
		cmocka_unit_test(test_wire_skips_noise),
		cmocka_unit_test(test_wire_auto),
		cmocka_unit_test(test_wire_bwlimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
