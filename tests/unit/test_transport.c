/*
 * Unit tests of src/protocol/transport.c (a secondary's spec: local or
 * [USER@]HOST:PATH, and the ssh argv) and src/common/cmdline.c (a command
 * line into words, a word quoted for the shell).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/cmdline.h"
#include "protocol/transport.h"

static void
test_remote_parse(void **state)
{
	static const char *const local[] = { "/srv/x", "rel/x", "./a:b",
	    "dir/with:colon", "x" };
	static const char *const good[][3] = {
		{ "host:/srv/x", "host", "/srv/x" },
		{ "user@host.example:rel/path", "user@host.example",
		    "rel/path" },
		{ "127.0.0.1:/x:y", "127.0.0.1", "/x:y" },
		{ "[::1]:/srv", "[::1]", "/srv" },
		{ "u@[fe80::1%eth0]:/srv", "u@[fe80::1%eth0]", "/srv" },
		{ "h:/path with blanks/'q'", "h", "/path with blanks/'q'" },
		{ "h://a//b/", "h", "/a/b" },
		{ "h:/", "h", "/" },
		{ "h:rel///", "h", "rel" },
	};
	static const char *const bad[] = { "-oProxyCommand=x:/srv", "host:",
	    ":/srv", "bad host:/x", "u@-h:/x", "@h:/x", "h;rm:/x", "h:/a\nb",
	    "[::1:/x", "h$(id):/x" };
	struct remote r;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		assert_int_equal(remote_parse(local[i], &r, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(remote_parse(good[i][0], &r, err, sizeof(err)),
		    1);
		assert_string_equal(r.host, good[i][1]);
		assert_string_equal(r.path, good[i][2]);
		remote_release(&r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (remote_parse(bad[i], &r, err, sizeof(err)) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void
expect_words(const char *cmd, const char *const *want, size_t n)
{
	char **v, err[256];

	if (split_command(cmd, &v, err, sizeof(err)) < 0)
		fail_msg("'%s' refused: %s", cmd, err);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(v[i]);
		assert_string_equal(v[i], want[i]);
	}
	assert_null(v[n]);
	argv_free(v);
}

static void
test_split(void **state)
{
	char **v, err[256];

	(void)state;
	expect_words("ssh", (const char *const[]){ "ssh" }, 1);
	expect_words("  ssh   -p\t2222  ", (const char *const[]){ "ssh", "-p",
	    "2222" }, 3);
	expect_words("ssh -i '/a key' -o \"User=x y\"",
	    (const char *const[]){ "ssh", "-i", "/a key", "-o", "User=x y" }, 5);
	expect_words("a\\ b 'it'\\''s' \"\\\"q\\\"\" ''",
	    (const char *const[]){ "a b", "it's", "\"q\"", "" }, 4);
	expect_words("$HOME *.c `id`", (const char *const[]){ "$HOME", "*.c",
	    "`id`" }, 3);
	static const char *const bad[] = { "", "   ", "ssh 'open", "ssh \"open",
	    "ssh \\" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(split_command(bad[i], &v, err, sizeof(err)), -1);
}

static void
test_shell_quote(void **state)
{
	static const char *const words[] = { "/srv/x", "a b", "it's", "$(id)",
	    "'", "\"", "\\", "a\nb", "" };
	char **v, err[256];

	(void)state;
	/* What the shell reads back (our split follows its quoting). */
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		char *q = shell_quote(words[i]);
		assert_int_equal(split_command(q, &v, err, sizeof(err)), 0);
		assert_string_equal(v[0], words[i]);
		assert_null(v[1]);
		argv_free(v);
		free(q);
	}
	char *q = shell_quote("it's");
	assert_string_equal(q, "'it'\\''s'");
	free(q);
}

static void
test_remote_argv(void **state)
{
	struct remote r = { .host = "u@h", .path = "/srv/it's here" };
	char **v, err[256];

	(void)state;
	assert_int_equal(remote_argv("ssh -p 2222 -oBatchMode=yes", &r, &v, err,
	    sizeof(err)), 0);
	assert_string_equal(v[0], "ssh");
	assert_string_equal(v[1], "-p");
	assert_string_equal(v[2], "2222");
	assert_string_equal(v[3], "-oBatchMode=yes");
	assert_string_equal(v[4], "u@h");
	assert_string_equal(v[5], "georep secondary '/srv/it'\\''s here'");
	assert_null(v[6]);
	argv_free(v);
	assert_int_equal(remote_argv("ssh 'open", &r, &v, err, sizeof(err)),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_parse),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_shell_quote),
		cmocka_unit_test(test_remote_argv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
