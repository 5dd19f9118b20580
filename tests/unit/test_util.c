/*
 * Unit tests of src/common/util.c: array growth, byte buffers, full reads and
 * writes, the durable-write helper, small-file reads, formatting, and
 * quote_name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/util.h"
#include "testutil.h"

struct fx {
	char top[PATH_MAX];
	int dirfd;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	umask(022);
	scratch_make(f->top, "util");
	f->dirfd = open(f->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dirfd >= 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	close(f->dirfd);
	rm_rf(f->top);
	free(f);
	return 0;
}

/* The names in dirfd, sorted, joined by ' '. */
static const char *
listing(int dirfd)
{
	static char out[4096];
	char *names[64];
	size_t n = 0;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(fd);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0;
		    j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, names[i]);
		free(names[i]);
	}
	return out;
}

/* ---- array growth ---- */

/* The capacity grow_size() gives, or 0 when it refuses (and must then leave
 * its output alone). */
static size_t
grown(size_t cap, size_t need, size_t elem)
{
	size_t out = 12345;

	if (!grow_size(cap, need, elem, &out)) {
		assert_int_equal(out, 12345);
		return 0;
	}
	return out;
}

static void
test_grow_size(void **state)
{
	(void)state;
	/* Enough already: unchanged. */
	assert_int_equal(grown(10, 10, 8), 10);
	assert_int_equal(grown(10, 3, 8), 10);
	assert_int_equal(grown(0, 0, 8), 0);
	/* The first allocation: GROW_FIRST_BYTES' worth, at least one, at
	 * least need. */
	assert_int_equal(grown(0, 1, 1), GROW_FIRST_BYTES);
	assert_int_equal(grown(0, 1, 8), GROW_FIRST_BYTES / 8);
	assert_int_equal(grown(0, 1, GROW_FIRST_BYTES + 1), 1);
	assert_int_equal(grown(0, 100, 8), 100);
	/* Then doubling, or straight to need when that is more. */
	assert_int_equal(grown(32, 33, 8), 64);
	assert_int_equal(grown(3, 4, 1000), 6);
	assert_int_equal(grown(64, 1000, 8), 1000);

	/* Up to exactly what size_t can measure... */
	size_t max = SIZE_MAX / 8;
	assert_int_equal(grown(0, max, 8), max);
	assert_int_equal(grown(0, SIZE_MAX, 1), SIZE_MAX);
	assert_int_equal(grown(max / 2, max / 2 + 1, 8), max / 2 * 2);
	/* ... where doubling would overflow, need is given instead ... */
	assert_int_equal(grown(max / 2 + 1, max / 2 + 2, 8), max / 2 + 2);
	assert_int_equal(grown(SIZE_MAX / 2 + 1, SIZE_MAX, 1), SIZE_MAX);
	/* ... and no further: refused, not wrapped around. */
	assert_int_equal(grown(0, max + 1, 8), 0);
	assert_int_equal(grown(max, max + 1, 8), 0);
	assert_int_equal(grown(0, SIZE_MAX, 2), 0);
	assert_int_equal(grown(0, SIZE_MAX / 24 + 1, 24), 0);
	assert_int_equal(grown(0, 1, 0), 0);
}

static void
test_xgrow(void **state)
{
	uint32_t *v = NULL;
	size_t n = 0, cap = 0, grew = 0;

	(void)state;
	for (uint32_t i = 0; i < 10000; i++) {
		size_t before = cap;
		XGROW(v, cap, n + 1);
		if (cap != before) {
			grew++;
			assert_true(cap == GROW_FIRST_BYTES / sizeof(*v) ||
			    cap == 2 * before);
		}
		assert_true(cap > n);
		v[n++] = i;
	}
	for (uint32_t i = 0; i < 10000; i++)
		assert_int_equal(v[i], i);
	assert_true(grew <= 10);	/* doubling: log2(10000 / 64) + 1 */
	/* Room already there: the same memory, the same capacity. */
	uint32_t *same = v;
	size_t had = cap;
	XGROW(v, cap, n);
	assert_ptr_equal(v, same);
	assert_int_equal(cap, had);
	free(v);

	/* An overflowing request is fatal (exit 70), not a short array. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t c = 0;
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);	/* the fatal() message */
		void *p = xgrow(NULL, &c, SIZE_MAX / 2 + 1, 4);
		_exit(p == NULL ? 1 : 2);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 70);
}

/* ---- buffers ---- */

static void
test_buf(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_null(b.data);
	buf_add(&b, "abc", 3);
	assert_int_equal(b.len, 3);
	assert_true(b.cap >= 3);
	assert_memory_equal(b.data, "abc", 3);
	buf_add(&b, NULL, 0);		/* nothing */
	assert_int_equal(b.len, 3);
	buf_addstr(&b, "defg");
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "abcdefg", 7);

	/* Growth keeps content. */
	for (int i = 0; i < 1000; i++)
		buf_add(&b, "0123456789", 10);
	assert_int_equal(b.len, 10007);
	assert_true(b.cap >= b.len);
	assert_memory_equal(b.data, "abcdefg0123456789", 17);
	assert_memory_equal(b.data + 9997, "0123456789", 10);

	/* reserve gives room without changing len. */
	size_t len = b.len;
	buf_reserve(&b, 100000);
	assert_int_equal(b.len, len);
	assert_true(b.cap >= len + 100000);
	uint8_t *p = b.data;
	buf_add(&b, "x", 1);
	assert_ptr_equal(b.data, p);	/* no move needed */

	/* consume: part, then exactly all, then more than all. */
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);	/* reset keeps the memory */
	buf_addstr(&b, "hello world");
	buf_consume(&b, 6);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "world", 5);
	buf_consume(&b, 0);
	assert_int_equal(b.len, 5);
	buf_consume(&b, 5);
	assert_int_equal(b.len, 0);
	buf_addstr(&b, "ab");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);

	buf_release(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	buf_release(&b);		/* twice is harmless */
	buf_addstr(&b, "again");	/* usable after release */
	assert_int_equal(b.len, 5);
	buf_release(&b);
}

static void
test_strings(void **state)
{
	char *s;

	(void)state;
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	s = xstrndup("a\0b", 3);	/* n bytes, whatever they are */
	assert_memory_equal(s, "a\0b\0", 4);
	free(s);
	s = xstrdup("");
	assert_string_equal(s, "");
	free(s);
	s = xasprintf("%s-%d-%05.1f", "x", 42, 3.25);
	assert_string_equal(s, "x-42-003.2");
	free(s);

	char hex[2 * 4 + 1];
	hex_encode((const uint8_t *)"\x00\x9f\xff\x10", 4, hex);
	assert_string_equal(hex, "009fff10");
	hex_encode(NULL, 0, hex);
	assert_string_equal(hex, "");

	char sz[16];
	format_size(0, sz, sizeof(sz));
	assert_string_equal(sz, "0B");
	format_size(1023, sz, sizeof(sz));
	assert_string_equal(sz, "1023B");
	format_size(1024, sz, sizeof(sz));
	assert_string_equal(sz, "1.0K");
	format_size(1536 * 1024, sz, sizeof(sz));
	assert_string_equal(sz, "1.5M");
	format_size(UINT64_MAX, sz, sizeof(sz));
	assert_true(strlen(sz) > 0 && sz[strlen(sz) - 1] == 'P');

	char when[32];
	format_rfc3339(0, when, sizeof(when));
	assert_string_equal(when, "1970-01-01T00:00:00.000Z");
	format_rfc3339(1700000000123456789ll, when, sizeof(when));
	assert_string_equal(when, "2023-11-14T22:13:20.123Z");
}

/* ---- reads and writes ---- */

static void
test_full_io(void **state)
{
	int p[2];
	char big[200000], back[200000];

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	assert_int_equal(pipe(p), 0);
	/* A pipe holds 64K: write from a child, read it all back. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(write_full(p[1], big, sizeof(big)) == 0 ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(read_full(p[0], back, sizeof(back)),
	    (ssize_t)sizeof(back));
	assert_memory_equal(back, big, sizeof(big));
	/* At EOF: short, then 0. */
	assert_int_equal(read_full(p[0], back, 10), 0);
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* A write to a closed pipe fails with EPIPE (SIGPIPE ignored). */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	errno = 0;
	assert_int_equal(write_full(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	signal(SIGPIPE, old);
	close(p[1]);
}

static void
test_pread_pwrite(void **state)
{
	struct fx *f = *state;
	char back[16];
	int fd = openat(f->dirfd, "pf", O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, "world", 5, 6), 0);
	assert_int_equal(pwrite_full(fd, "hello ", 6, 0), 0);
	assert_int_equal(pread_full(fd, back, sizeof(back), 0), 11);
	assert_memory_equal(back, "hello world", 11);
	assert_int_equal(pread_full(fd, back, 5, 6), 5);
	assert_memory_equal(back, "world", 5);
	assert_int_equal(pread_full(fd, back, 5, 100), 0);
	close(fd);
}

/* ---- durable writes ---- */

static void
test_durable_write(void **state)
{
	struct fx *f = *state;
	struct stat st;

	assert_int_equal(durable_write_at(f->dirfd, "state", "v1\n", 3, 0640),
	    0);
	assert_string_equal(get_file_at(f->dirfd, "state"), "v1\n");
	assert_int_equal(fstatat(f->dirfd, "state", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_string_equal(listing(f->dirfd), "state");

	/* Replacing: the new content, and still no temporary file. */
	assert_int_equal(durable_write_at(f->dirfd, "state", "version two", 11,
	    0600), 0);
	assert_string_equal(get_file_at(f->dirfd, "state"), "version two");
	assert_string_equal(listing(f->dirfd), "state");

	/* Empty content. */
	assert_int_equal(durable_write_at(f->dirfd, "empty", "", 0, 0644), 0);
	assert_int_equal(fstatat(f->dirfd, "empty", &st, 0), 0);
	assert_int_equal(st.st_size, 0);

	/* Binary content with NULs, larger than a page. */
	static char blob[70000];
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (char)(i % 251);
	assert_int_equal(durable_write_at(f->dirfd, "blob", blob, sizeof(blob),
	    0644), 0);
	int fd = openat(f->dirfd, "blob", O_RDONLY | O_CLOEXEC);
	static char back[sizeof(blob) + 1];
	assert_int_equal(read_full(fd, back, sizeof(back)),
	    (ssize_t)sizeof(blob));
	close(fd);
	assert_memory_equal(back, blob, sizeof(blob));
	assert_string_equal(listing(f->dirfd), "blob empty state");
}

static void
test_durable_write_leftover(void **state)
{
	struct fx *f = *state;
	char tmp[64];

	/* A temporary file left by a crashed writer with our pid. */
	snprintf(tmp, sizeof(tmp), ".state.tmp.%d", (int)getpid());
	assert_int_equal(put_file_at(f->dirfd, tmp, "torn garbage, longer"),
	    0);
	assert_int_equal(durable_write_at(f->dirfd, "state", "ok", 2, 0644), 0);
	assert_string_equal(get_file_at(f->dirfd, "state"), "ok");
	assert_string_equal(listing(f->dirfd), "state");
}

static void
test_durable_write_failure(void **state)
{
	struct fx *f = *state;

	/* The rename cannot replace a directory: -1, the directory intact,
	 * and the temporary file removed. */
	assert_int_equal(mkdirat(f->dirfd, "target", 0755), 0);
	assert_int_equal(put_file_at(f->dirfd, "target/inside", "keep"), 0);
	errno = 0;
	assert_int_equal(durable_write_at(f->dirfd, "target", "x", 1, 0644),
	    -1);
	assert_int_not_equal(errno, 0);
	assert_string_equal(listing(f->dirfd), "target");
	assert_string_equal(get_file_at(f->dirfd, "target/inside"), "keep");

	/* No such directory for the name: -1, nothing created. */
	assert_int_equal(durable_write_at(f->dirfd, "nodir/x", "x", 1, 0644),
	    -1);
	assert_string_equal(listing(f->dirfd), "target");

	/* A name too long for the temporary name. */
	char longname[600];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	errno = 0;
	assert_int_equal(durable_write_at(f->dirfd, longname, "x", 1, 0644),
	    -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_string_equal(listing(f->dirfd), "target");
}

static void
test_read_small_file(void **state)
{
	struct fx *f = *state;
	struct buf b = BUF_INIT;

	assert_int_equal(put_file_at(f->dirfd, "small", "0123456789"), 0);
	buf_addstr(&b, "old");
	assert_int_equal(read_small_file_at(f->dirfd, "small", &b, 10), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "0123456789", 10);
	errno = 0;
	assert_int_equal(read_small_file_at(f->dirfd, "small", &b, 9), -1);
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_int_equal(read_small_file_at(f->dirfd, "missing", &b, 9), -1);
	assert_int_equal(errno, ENOENT);
	/* Never through a symlink. */
	assert_int_equal(symlinkat("small", f->dirfd, "link"), 0);
	errno = 0;
	assert_int_equal(read_small_file_at(f->dirfd, "link", &b, 100), -1);
	assert_int_equal(errno, ELOOP);
	buf_release(&b);
}

static void
test_mkdir_p(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 64];
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b/c", f->top);
	assert_int_equal(mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(mkdir_p(path, 0700), 0);	/* exists: fine */
	/* A file in the way. */
	assert_int_equal(put_file_at(f->dirfd, "file", "x"), 0);
	snprintf(path, sizeof(path), "%s/file/sub", f->top);
	assert_int_equal(mkdir_p(path, 0700), -1);
}

/* ---- quote_name ---- */

static void
assert_quoted(const char *in, size_t n, const char *want)
{
	char *q = quote_name(in, n);
	char got[1024];

	snprintf(got, sizeof(got), "%s", q);
	free(q);		/* before a failure jumps out */
	if (strcmp(got, want) != 0)
		fail_msg("quote_name: got \"%s\", want \"%s\"", got, want);
}

static void
test_quote_name_escapes(void **state)
{
	(void)state;
	assert_quoted("plain.txt", 9, "plain.txt");
	assert_quoted("", 0, "");
	assert_quoted("with space", 10, "with space");
	assert_quoted("a\nb", 3, "a\\x0ab");
	assert_quoted("\t\r\x1b", 3, "\\x09\\x0d\\x1b");
	assert_quoted("\x01", 1, "\\x01");
	assert_quoted("\x1f", 1, "\\x1f");
	assert_quoted("del\x7f", 4, "del\\x7f");
	assert_quoted("back\\slash", 10, "back\\x5cslash");
	/* An embedded NUL is shown, not a terminator. */
	assert_quoted("a\0b", 3, "a\\x00b");
	/* Only n bytes are read. */
	assert_quoted("abcdef", 3, "abc");
	/* Printable ASCII all passes. */
	char ascii[95 + 1];
	for (int i = 0; i < 95; i++)
		ascii[i] = (char)(0x20 + i);
	ascii[95] = '\0';
	char want[95 + 4 + 1];
	char *w = want;
	for (int i = 0; i < 95; i++) {
		if (ascii[i] == '\\') {
			memcpy(w, "\\x5c", 4);
			w += 4;
		} else {
			*w++ = ascii[i];
		}
	}
	*w = '\0';
	assert_quoted(ascii, 95, want);
}

static void
test_quote_name_non_utf8(void **state)
{
	(void)state;
	/* Bytes that are not UTF-8 are shown as \xNN. */
	assert_quoted("\xff", 1, "\\xff");
	assert_quoted("\xfe\xff", 2, "\\xfe\\xff");
	assert_quoted("\x80", 1, "\\x80");		/* lone continuation */
	assert_quoted("a\xc3", 2, "a\\xc3");		/* truncated at end */
	assert_quoted("\xc3(", 2, "\\xc3(");		/* lead, then ASCII */
	assert_quoted("\xc0\xaf", 2, "\\xc0\\xaf");	/* overlong '/' */
	assert_quoted("\xe2\x82", 2, "\\xe2\\x82");	/* 3-byte, cut */
}

/* The header: "bytes < 0x20, 0x7f, '\\' and non-UTF-8 shown as \xNN" --
 * so valid UTF-8 is shown as it is. */
static void
test_quote_name_utf8(void **state)
{
	(void)state;
	assert_quoted("caf\xc3\xa9", 5, "caf\xc3\xa9");		/* é */
	assert_quoted("\xe2\x82\xac", 3, "\xe2\x82\xac");	/* € */
	assert_quoted("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");
	assert_quoted("\xe6\x97\xa5\xe6\x9c\xac", 6,
	    "\xe6\x97\xa5\xe6\x9c\xac");
	/* Mixed: the valid part kept, the invalid byte escaped. */
	assert_quoted("\xc3\xa9\xff\n", 4, "\xc3\xa9\\xff\\x0a");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_size),
		cmocka_unit_test(test_xgrow),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_full_io),
		cmocka_unit_test_setup_teardown(test_pread_pwrite, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_durable_write, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_durable_write_leftover,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_write_failure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_small_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
		cmocka_unit_test(test_quote_name_escapes),
		cmocka_unit_test(test_quote_name_non_utf8),
		cmocka_unit_test(test_quote_name_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
