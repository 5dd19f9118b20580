/*
 * Unit tests of name_valid and relpath_valid (src/common/names.c): the first
 * check every name from the peer passes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/names.h"

static bool
nv(const char *s)
{
	return name_valid(s, strlen(s));
}

static bool
rv(const char *s)
{
	return relpath_valid(s, strlen(s));
}

static void
test_name_basic(void **state)
{
	(void)state;
	assert_true(nv("a"));
	assert_true(nv("file.txt"));
	assert_true(nv("..."));
	assert_true(nv(".a"));
	assert_true(nv("..a"));
	assert_true(nv("a."));
	assert_true(nv(" "));
	assert_true(nv("\\"));
	assert_true(nv("-rf"));
	assert_true(nv(GEOREP_STATE_DIR));	/* refused by get_oref, not here */

	assert_false(nv(""));
	assert_false(nv("."));
	assert_false(nv(".."));
	assert_false(nv("/"));
	assert_false(nv("a/"));
	assert_false(nv("/a"));
	assert_false(nv("a/b"));
	assert_false(nv("//"));
}

static void
test_name_bytes(void **state)
{
	(void)state;
	/* A name is bytes: anything but '/' and NUL, UTF-8 or not. */
	assert_true(nv("\xff"));
	assert_true(nv("\x80\x81"));
	assert_true(nv("caf\xc3\xa9"));
	assert_true(nv("\xc3"));		/* truncated sequence */
	assert_true(nv("\xed\xa0\x80"));	/* a surrogate */
	assert_true(nv("\xc0\xae"));		/* overlong '.' is not "." */
	assert_true(nv("\xc0\xae\xc0\xae"));
	assert_true(nv("\x01\x1f\x7f"));
	assert_true(nv("new\nline"));

	/* NUL anywhere in the counted bytes. */
	assert_false(name_valid("a\0b", 3));
	assert_false(name_valid("\0", 1));
	assert_false(name_valid("ab\0", 3));
	/* Only len bytes are looked at. */
	assert_true(name_valid("ab/cd", 2));
	assert_false(name_valid("..x", 1));		/* "." */
	assert_false(name_valid("..x", 2));		/* ".." */
	assert_true(name_valid("..x", 3));
}

static void
test_name_length(void **state)
{
	char s[300];

	(void)state;
	memset(s, 'x', sizeof(s));
	assert_true(name_valid(s, 1));
	assert_true(name_valid(s, 254));
	assert_true(name_valid(s, 255));
	assert_false(name_valid(s, 256));
	assert_false(name_valid(s, 257));
	assert_false(name_valid(s, sizeof(s)));
	/* Multi-byte characters count in bytes. */
	for (int i = 0; i < 128; i++) {
		s[2 * i] = '\xc3';
		s[2 * i + 1] = '\xa9';
	}
	assert_true(name_valid(s, 254));
	assert_true(name_valid(s, 255));	/* ends mid-character: bytes */
	assert_false(name_valid(s, 256));
}

static void
test_relpath(void **state)
{
	(void)state;
	assert_true(relpath_valid("", 0));
	assert_true(relpath_valid(NULL, 0));
	assert_true(rv("a"));
	assert_true(rv("a/b"));
	assert_true(rv("a/b/c/d/e"));
	assert_false(rv("...//x"));
	assert_true(rv(".../x"));
	assert_true(rv(".a/.b"));
	assert_true(rv("\xff/\xfe"));

	assert_false(rv("/"));
	assert_false(rv("/a"));
	assert_false(rv("a/"));
	assert_false(rv("a//b"));
	assert_false(rv("//a"));
	assert_false(rv("a/b/"));
	assert_false(rv("."));
	assert_false(rv(".."));
	assert_false(rv("./a"));
	assert_false(rv("a/."));
	assert_false(rv("a/./b"));
	assert_false(rv("../a"));
	assert_false(rv("a/.."));
	assert_false(rv("a/../b"));
	assert_false(relpath_valid("a/\0/b", 5));
	assert_false(relpath_valid("a\0", 2));
}

static void
test_relpath_lengths(void **state)
{
	char p[4 * 257];
	size_t n = 0;

	(void)state;
	/* Components of 255 bytes are fine; one of 256 is not. */
	for (int c = 0; c < 4; c++) {
		if (c)
			p[n++] = '/';
		memset(p + n, 'a' + c, 255);
		n += 255;
	}
	assert_true(relpath_valid(p, n));
	p[n] = 'z';
	assert_false(relpath_valid(p, n + 1));	/* last one 256 */
	memset(p, 'q', 256);
	p[256] = '/';
	p[257] = 'x';
	assert_false(relpath_valid(p, 258));	/* first one 256 */
	assert_true(relpath_valid(p + 1, 257));	/* 255 + "/x" */

	/* A path longer than PATH_MAX is still a valid relative path. */
	char big[8192];
	n = 0;
	while (n + 11 < sizeof(big)) {
		if (n)
			big[n++] = '/';
		memcpy(big + n, "component", 9);
		n += 9;
	}
	assert_true(n > 4096);
	assert_true(relpath_valid(big, n));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_basic),
		cmocka_unit_test(test_name_bytes),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_relpath),
		cmocka_unit_test(test_relpath_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
