/*
 * Unit tests of src/common/config.c: every key's valid and refused values
 * (the message names the key and the value), sync_jobs,
 * durations, and the file: a save and load round trip, an old file, and
 * errors naming the line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/config.h"
#include "common/util.h"
#include "testutil.h"

/* ---- durations ---- */

static void
assert_duration(const char *s, int64_t want)
{
	int64_t got = -12345;

	if (parse_duration_ms(s, &got) < 0)
		fail_msg("parse_duration_ms(\"%s\") refused, want %lld", s,
		    (long long)want);
	if (got != want)
		fail_msg("parse_duration_ms(\"%s\") = %lld, want %lld", s,
		    (long long)got, (long long)want);
}

static void
assert_no_duration(const char *s)
{
	int64_t got = -12345;

	if (parse_duration_ms(s, &got) == 0)
		fail_msg("parse_duration_ms(\"%s\") accepted: %lld", s,
		    (long long)got);
	assert_int_equal(got, -12345);	/* untouched */
}

static void
test_durations(void **state)
{
	(void)state;
	assert_duration("500ms", 500);
	assert_duration("1s", 1000);
	assert_duration("2m", 120000);
	assert_duration("1h", 3600000);
	assert_duration("1.5s", 1500);
	assert_duration("0.25m", 15000);
	assert_duration("1", 1000);		/* seconds */
	assert_duration("90", 90000);
	assert_duration("0", 0);		/* config_set wants >= 1 ms */
	assert_duration(".5s", 500);
	assert_duration("5.s", 5000);
	assert_duration("1.5ms", 1);		/* whole milliseconds */
	/* At most 7 days, however written. */
	assert_duration("604800", 604800000);
	assert_duration("168h", 604800000);
	assert_duration("10080m", 604800000);
	assert_no_duration("604801");
	assert_no_duration("169h");
	assert_no_duration("10081m");
	assert_no_duration("99999999999999999999999999h");
	/* Units: ms, s, m, h, nothing else. */
	assert_no_duration("1d");
	assert_no_duration("1w");
	assert_no_duration("1sec");
	assert_no_duration("1S");
	assert_no_duration("1 s");
	assert_no_duration("1s ");
	assert_no_duration("1us");
	assert_no_duration("ms");
	assert_no_duration("s");
	/* Only digits and one '.': no sign, blank, hex, exponent, inf, nan. */
	assert_no_duration("-1");
	assert_no_duration("-1s");
	assert_no_duration("+1s");
	assert_no_duration(" 1s");
	assert_no_duration("0x10");
	assert_no_duration("1e3");
	assert_no_duration("inf");
	assert_no_duration("nan");
	assert_no_duration("nans");
	assert_no_duration("1..5s");
	assert_no_duration("1.5.5s");
	assert_no_duration(".");
	assert_no_duration(".s");
	assert_no_duration("");
}

/* ---- config_set and config_get ---- */

struct fx {
	struct config c;
	char err[1024];
	char top[PATH_MAX];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	config_init(&f->c);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	config_release(&f->c);
	if (f->top[0])
		rm_rf(f->top);
	free(f);
	return 0;
}

/* KEY as config_get shows it (compared, then freed). */
static void
assert_get(struct fx *f, const char *key, const char *want)
{
	char *v = config_get(&f->c, key);

	if (v == NULL)
		fail_msg("config_get(%s): NULL", key);
	if (strcmp(v, want) != 0)
		fail_msg("config_get(%s) = '%s', want '%s'", key, v, want);
	free(v);
}

/* Set KEY to VALUE; then config_get shows SHOWN. */
static void
assert_set(struct fx *f, const char *key, const char *value,
    const char *shown)
{
	f->err[0] = '\0';
	if (config_set(&f->c, key, value, f->err, sizeof(f->err)) < 0)
		fail_msg("config_set(%s, '%s') refused: %s", key, value,
		    f->err);
	assert_get(f, key, shown);
}

/* Setting KEY to VALUE is refused with exactly the message want, and
 * changes nothing that config_get shows. */
static void
assert_refused(struct fx *f, const char *key, const char *value,
    const char *want)
{
	char *before[32];

	for (size_t i = 0; config_keys[i]; i++)
		before[i] = config_get(&f->c, config_keys[i]);
	f->err[0] = '\0';
	if (config_set(&f->c, key, value, f->err, sizeof(f->err)) == 0)
		fail_msg("config_set(%s, '%s') accepted", key, value);
	if (strcmp(f->err, want) != 0)
		fail_msg("config_set(%s, '%s'): '%s', want '%s'", key, value,
		    f->err, want);
	for (size_t i = 0; config_keys[i]; i++) {
		assert_get(f, config_keys[i], before[i]);
		free(before[i]);
	}
}

/* Each of bad[] refused for key, the message "KEY 'VALUE': expected". */
static void
assert_all_refused(struct fx *f, const char *key, const char *const *bad,
    size_t n, const char *expected)
{
	for (size_t i = 0; i < n; i++) {
		char want[256];
		snprintf(want, sizeof(want), "%s '%s': expected %s", key, bad[i],
		    expected);
		assert_refused(f, key, bad[i], want);
	}
}

/* Sizes: digits and a binary unit; the threshold also "off", and reads
 * back as it was written (in the largest unit that divides it). */
static void
test_delta_threshold(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = { "", "M", "1.5M", "-1", "1m", "1MB",
	    "1 M", " 1M", "1P", "2000T", "99999999999999999999", "on" };
	uint64_t v;

	assert_int_equal(parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_size("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(parse_size("512K", &v), 0);
	assert_int_equal(v, 512 << 10);
	assert_int_equal(parse_size("3G", &v), 0);
	assert_int_equal(v, 3ull << 30);
	assert_int_equal(parse_size("1024T", &v), 0);
	assert_int_equal(v, 1ull << 50);
	assert_int_equal(parse_size("1025T", &v), -1);
	config_set(&f->c, "delta_threshold", "off", f->err, sizeof(f->err));
	assert_get(f, "delta_threshold", "off");
	assert_int_equal(f->c.delta_threshold, 0);
	config_set(&f->c, "delta_threshold", "2048K", f->err, sizeof(f->err));
	assert_get(f, "delta_threshold", "2M");
	config_set(&f->c, "delta_threshold", "0", f->err, sizeof(f->err));
	assert_get(f, "delta_threshold", "off");
	config_set(&f->c, "delta_threshold", "1500", f->err, sizeof(f->err));
	assert_get(f, "delta_threshold", "1500");
	config_set(&f->c, "delta_threshold", "auto", f->err, sizeof(f->err));
	assert_get(f, "delta_threshold", "auto");
	assert_int_equal(f->c.delta_threshold, CONFIG_DELTA_AUTO);
	assert_all_refused(f, "delta_threshold", bad, sizeof(bad) /
	    sizeof(bad[0]), "a size such as 1M, 512K, 2G (bytes without a "
	    "unit), off or auto");
}

static void
test_keys_and_defaults(void **state)
{
	struct fx *f = *state;
	static const char *const want[][2] = {
		{ "change_detector", "auto" },
		{ "change_interval", "1s" },
		{ "timeout", "1m" },
		{ "ignore_deletes", "false" },
		{ "sync_xattrs", "true" },
		{ "sync_acls", "true" },
		{ "one_file_system", "false" },
		{ "exclude", "" },
		{ "ssh_command", "ssh -oBatchMode=yes" },
		{ "crawl_interval", "1m" },
		{ "log_level", "info" },
		{ "verify_interval", "off" },
		{ "compress", "auto" },
		{ "bwlimit", "0" },
		{ "delta_threshold", "auto" },
		{ "sync_jobs", "3" },
		{ "log_file", "" },
		{ "metrics_listen", "off" },
	};
	size_t n = 0;

	while (config_keys[n])
		n++;
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(config_keys[i], want[i][0]);
		assert_get(f, want[i][0], want[i][1]);
	}
	assert_false(f->c.one_file_system);
	assert_int_equal(f->c.nexclude, 0);
}

static void
test_change_detector(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "fanotify", "inotify", "crawl",
	    "auto" };
	static const enum detector values[] = { DETECT_FANOTIFY,
	    DETECT_INOTIFY, DETECT_CRAWL, DETECT_AUTO };

	for (size_t i = 0; i < 4; i++) {
		assert_set(f, "change_detector", names[i], names[i]);
		assert_int_equal(f->c.change_detector, values[i]);
	}
	assert_set(f, "change_detector", "inotify", "inotify");
	static const char *const bad[] = { "magic", "", "Inotify", "inotify ",
	    "fanotify,inotify" };
	assert_all_refused(f, "change_detector", bad, 5,
	    "fanotify, inotify, crawl or auto");
}

static void
test_duration_keys(void **state)
{
	struct fx *f = *state;
	static const char *const keys[] = { "change_interval", "timeout",
	    "crawl_interval" };

	for (size_t i = 0; i < 3; i++) {
		const char *k = keys[i];
		assert_set(f, k, "2m", "2m");
		assert_set(f, k, "1h", "1h");
		assert_set(f, k, "1.5s", "1500ms");
		assert_set(f, k, "90", "90s");
		assert_set(f, k, "168h", "168h");
		static const char *const bad[] = { "soon", "0", "0ms", "-1s",
		    "1d", "169h", "", "1e3", "nan" };
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			char want[256];
			snprintf(want, sizeof(want), "%s '%s': expected a "
			    "duration such as 1s, 500ms, 2m (at most 7 days)",
			    k, bad[b]);
			assert_refused(f, k, bad[b], want);
		}
	}
	/* verify_interval: off (0) or at least a second. */
	assert_set(f, "verify_interval", "6h", "6h");
	assert_int_equal(f->c.verify_interval_ms, 6 * 3600 * 1000);
	assert_set(f, "verify_interval", "off", "off");
	assert_int_equal(f->c.verify_interval_ms, 0);
	assert_set(f, "verify_interval", "0", "off");
	static const char *const vbad[] = { "500ms", "soon", "-1s", "169h",
	    "" };
	for (size_t b = 0; b < sizeof(vbad) / sizeof(vbad[0]); b++) {
		char want[256];
		snprintf(want, sizeof(want), "verify_interval '%s': expected "
		    "off, or a duration of at least 1s such as 30m, 1h (at most "
		    "7 days)", vbad[b]);
		assert_refused(f, "verify_interval", vbad[b], want);
	}
	/* Each key its own field. */
	assert_set(f, "change_interval", "500ms", "500ms");
	assert_set(f, "timeout", "90s", "90s");
	assert_set(f, "crawl_interval", "5m", "5m");
	assert_int_equal(f->c.change_interval_ms, 500);
	assert_int_equal(f->c.timeout_ms, 90000);
	assert_int_equal(f->c.crawl_interval_ms, 300000);
	/* Below a second: an interval may, the timeout may not. */
	assert_set(f, "change_interval", "1ms", "1ms");
	assert_set(f, "crawl_interval", "250ms", "250ms");
	assert_set(f, "timeout", "1s", "1s");
	assert_refused(f, "timeout", "999ms", "timeout '999ms': at least 1s");
	assert_refused(f, "timeout", "0.5", "timeout '0.5': at least 1s");
}

static void
test_bool_keys(void **state)
{
	struct fx *f = *state;
	static const char *const keys[] = { "ignore_deletes", "sync_xattrs",
	    "sync_acls", "one_file_system" };
	static const char *const yes[] = { "true", "yes", "on", "1", "TRUE",
	    "Yes" };
	static const char *const no[] = { "false", "no", "off", "0", "FALSE",
	    "Off" };
	static const char *const bad[] = { "maybe", "", "2", "y", "t",
	    "true!", " true" };

	for (size_t i = 0; i < 4; i++) {
		const char *k = keys[i];
		for (size_t v = 0; v < 6; v++) {
			assert_set(f, k, yes[v], "true");
			assert_set(f, k, no[v], "false");
		}
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			char want[256];
			snprintf(want, sizeof(want), "%s '%s': expected true "
			    "or false", k, bad[b]);
			assert_refused(f, k, bad[b], want);
		}
	}
	/* Each key its own field. */
	assert_set(f, "ignore_deletes", "true", "true");
	assert_set(f, "sync_xattrs", "false", "false");
	assert_set(f, "sync_acls", "true", "true");
	assert_set(f, "one_file_system", "true", "true");
	assert_true(f->c.ignore_deletes);
	assert_false(f->c.sync_xattrs);
	assert_true(f->c.sync_acls);
	assert_true(f->c.one_file_system);
	assert_set(f, "one_file_system", "false", "false");
	assert_false(f->c.one_file_system);
	assert_true(f->c.ignore_deletes);
}

static void
test_exclude(void **state)
{
	struct fx *f = *state;

	assert_set(f, "exclude", "*.tmp", "*.tmp");
	assert_set(f, "exclude", "/cache/", "*.tmp\n/cache/");
	assert_set(f, "exclude", "a b;c#d", "*.tmp\n/cache/\na b;c#d");
	assert_int_equal(f->c.nexclude, 3);
	assert_set(f, "exclude", "", "");	/* clears */
	assert_int_equal(f->c.nexclude, 0);
	for (int i = 0; i < 100; i++) {
		char pat[32];
		snprintf(pat, sizeof(pat), "p%d", i);
		assert_int_equal(config_set(&f->c, "exclude", pat, f->err,
		    sizeof(f->err)), 0);
	}
	assert_int_equal(f->c.nexclude, 100);
	assert_string_equal(f->c.exclude[99], "p99");
	assert_set(f, "exclude", "", "");

	/* Only what the config file gives back as written. */
	char longest[200];
	memset(longest, 'x', 188);		/* "exclude = " + 188 = 198 */
	longest[188] = '\0';
	assert_set(f, "exclude", longest, longest);
	assert_set(f, "exclude", "", "");
	char want[512];
	strcat(longest, "y");
	snprintf(want, sizeof(want), "exclude '%s': too long for a line of the "
	    "config file (198 bytes)", longest);
	assert_refused(f, "exclude", longest, want);
	/* Shown escaped (quote_name). */
	assert_refused(f, "exclude", "a\nb", "exclude 'a\\x0ab': not on one "
	    "line");
	assert_refused(f, "exclude", " a", "exclude ' a': the config file "
	    "drops blanks at either end");
	assert_refused(f, "exclude", "a\t", "exclude 'a\\x09': the config "
	    "file drops blanks at either end");
	static const char *const comments[] = { ";x", "#x", "a ;x", "a  #x" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "exclude '%s': ';' or '#' at the "
		    "start or after a blank begins a comment in the config "
		    "file", comments[i]);
		assert_refused(f, "exclude", comments[i], want);
	}
}

static void
test_log_level(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "error", "warning", "info",
	    "debug" };

	for (int i = 0; i < 4; i++) {
		assert_set(f, "log_level", names[i], names[i]);
		assert_int_equal(f->c.log_level, i);
	}
	static const char *const bad[] = { "verbose", "", "DEBUG", "warn",
	    "3" };
	assert_all_refused(f, "log_level", bad, 5,
	    "error, warning, info or debug");
}

static void
test_log_file(void **state)
{
	struct fx *f = *state;

	assert_null(f->c.log_file);
	assert_set(f, "log_file", "/var/log/georep/dr.log",
	    "/var/log/georep/dr.log");
	assert_set(f, "log_file", "-", "-");
	assert_string_equal(f->c.log_file, "-");
	assert_set(f, "log_file", "", "");
	assert_null(f->c.log_file);
	static const char *const bad[] = { "log", "./log", "~/log" };
	assert_all_refused(f, "log_file", bad, 3, "an absolute path, - "
	    "(standard error) or '' (the session's own log)");
	char *text = config_get(&f->c, "log_file");
	assert_string_equal(text, "");
	free(text);
}

static void
test_metrics_listen(void **state)
{
	struct fx *f = *state;
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	unsigned len = 0;
	char text[64];

	assert_null(f->c.metrics_listen);
	assert_int_equal(parse_listen("off", &ss, &len), 1);
	assert_int_equal(parse_listen("9464", &ss, &len), 0);
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 9464);
	assert_string_equal(inet_ntop(AF_INET, &in->sin_addr, text,
	    sizeof(text)), "127.0.0.1");
	assert_int_equal(len, sizeof(*in));
	assert_int_equal(parse_listen("0.0.0.0:1", &ss, &len), 0);
	assert_string_equal(inet_ntop(AF_INET, &in->sin_addr, text,
	    sizeof(text)), "0.0.0.0");
	assert_int_equal(parse_listen("localhost:65535", &ss, &len), 0);
	assert_int_equal(ntohs(in->sin_port), 65535);
	assert_int_equal(parse_listen("[::1]:9100", &ss, &len), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 9100);
	assert_int_equal(len, sizeof(*in6));
	static const char *const bad[] = { "", "0", "65536", "99999", "-1",
	    "+80", "80a", " 80", "::1:80", "[::1]80", "[::1]:", "[::1:80",
	    "example.com:80", "127.0.0.1:", ":80", "127.0.0.1:0",
	    "1.2.3:80", "[127.0.0.1]:80", "on", "127.0.0.1:8080:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_listen(bad[i], &ss, &len) != -1)
			fail_msg("parse_listen took '%s'", bad[i]);
	assert_set(f, "metrics_listen", "9464", "9464");
	assert_string_equal(f->c.metrics_listen, "9464");
	assert_set(f, "metrics_listen", "[::1]:9464", "[::1]:9464");
	assert_set(f, "metrics_listen", "off", "off");
	assert_null(f->c.metrics_listen);
	assert_all_refused(f, "metrics_listen", bad, sizeof(bad) /
	    sizeof(bad[0]), "off, a port (on 127.0.0.1), or ADDRESS:PORT "
	    "with an IPv4 address, [an IPv6 one] or localhost");
}

static void
test_compress(void **state)
{
	struct fx *f = *state;
	static const char *const ok[][2] = {
		{ "on", "1" }, { "yes", "1" }, { "true", "1" }, { "off", "off" },
		{ "no", "off" }, { "false", "off" }, { "0", "off" },
		{ "1", "1" }, { "19", "19" }, { "7", "7" }, { "auto", "auto" },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_set(f, "compress", ok[i][0], ok[i][1]);
	assert_int_equal(f->c.compress, COMPRESS_AUTO);
	static const char *const bad[] = { "20", "-1", "+3", " 3", "3 ", "",
	    "zstd", "100", "1.5", "ON" };
	assert_all_refused(f, "compress", bad, 10,
	    "auto, on, off or a zstd level from 1 to 19");
}

static void
test_bwlimit(void **state)
{
	struct fx *f = *state;
	static const char *const ok[][2] = {
		{ "100", "100K" }, { "1.5", "1536B" }, { "1536B", "1536B" },
		{ "2M", "2M" }, { "2m", "2M" }, { "1g", "1G" },
		{ "1024K", "1M" }, { "0.5M", "512K" }, { "1024G", "1024G" },
		{ "0", "0" }, { "0K", "0" },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_set(f, "bwlimit", ok[i][0], ok[i][1]);
	assert_set(f, "bwlimit", "64", "64K");
	assert_int_equal(f->c.bwlimit, 65536);
	static const char *const bad[] = { "-1", "abc", "1X", "0.5", "1025G",
	    "", "1.2.3", "1KB", " 1", "1e3", "100B" };
	assert_all_refused(f, "bwlimit", bad, 11,
	    "0 (no limit) or a rate in KiB per second, or with a suffix K, M, "
	    "G (e.g. 500, 2M), from 1K to 1024G");
}

static void
test_ssh_command(void **state)
{
	struct fx *f = *state;

	assert_get(f, "ssh_command", "ssh -oBatchMode=yes");
	assert_set(f, "ssh_command", "ssh -p 2222 -i '/k ey'",
	    "ssh -p 2222 -i '/k ey'");
	assert_refused(f, "ssh_command", "", "ssh_command '': no command");
	assert_refused(f, "ssh_command", "ssh \"open",
	    "ssh_command 'ssh \"open': unbalanced quotes or a trailing "
	    "backslash");
	assert_refused(f, "ssh_command", "ssh\nrm",
	    "ssh_command 'ssh\nrm': not on one line");
}

static void
test_unknown_and_sync_jobs(void **state)
{
	struct fx *f = *state;
	static const char *const keys_msg = "(the keys: change_detector, "
	    "change_interval, timeout, ignore_deletes, sync_xattrs, sync_acls, "
	    "one_file_system, exclude, ssh_command, crawl_interval, "
	    "log_level, verify_interval, compress, bwlimit, delta_threshold, "
	    "sync_jobs, log_file, metrics_listen)";
	char want[512];

	snprintf(want, sizeof(want), "unknown key 'nosuchkey' %s", keys_msg);
	assert_refused(f, "nosuchkey", "1", want);
	snprintf(want, sizeof(want), "unknown key 'primary' %s", keys_msg);
	assert_refused(f, "primary", "/x", want);
	snprintf(want, sizeof(want), "unknown key '' %s", keys_msg);
	assert_refused(f, "", "1", want);
	errno = 0;
	assert_null(config_get(&f->c, "nosuchkey"));
	assert_int_equal(errno, ENOENT);

	/* sync_jobs: 1..32, digits only. */
	static const char *const bad_jobs[] = { "0", "33", "x", "", "-1",
	    "3 ", "+3", "100" };
	for (size_t i = 0; i < sizeof(bad_jobs) / sizeof(bad_jobs[0]); i++) {
		snprintf(want, sizeof(want), "sync_jobs '%s': expected a number "
		    "of workers from 1 to 32", bad_jobs[i]);
		assert_refused(f, "sync_jobs", bad_jobs[i], want);
	}
	assert_int_equal(f->c.sync_jobs, SYNC_JOBS_DEFAULT);
	assert_int_equal(config_set(&f->c, "sync_jobs", "32", f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(f->c.sync_jobs, 32);
	char *v = config_get(&f->c, "sync_jobs");
	assert_string_equal(v, "32");
	free(v);
}

/* ---- the file ---- */

static void
scratch(struct fx *f, char *path, size_t len, const char *name)
{
	if (f->top[0] == '\0')
		scratch_make(f->top, "config");
	snprintf(path, len, "%s/%s", f->top, name);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Every key of a and b shows the same. */
static void
assert_same_config(const struct config *a, const struct config *b)
{
	assert_string_equal(a->primary, b->primary);
	assert_string_equal(a->secondary, b->secondary);
	for (size_t i = 0; config_keys[i]; i++) {
		char *x = config_get(a, config_keys[i]);
		char *y = config_get(b, config_keys[i]);
		if (strcmp(x, y) != 0)
			fail_msg("%s: '%s' saved, '%s' loaded", config_keys[i],
			    x, y);
		free(x);
		free(y);
	}
}

static void
test_save_load(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 32];
	struct config back;
	static const char *const set[][2] = {
		{ "change_detector", "crawl" }, { "change_interval", "250ms" },
		{ "timeout", "90s" }, { "ignore_deletes", "yes" },
		{ "sync_xattrs", "off" }, { "sync_acls", "false" },
		{ "one_file_system", "true" }, { "exclude", "*.tmp" },
		{ "exclude", "/cache/" }, { "exclude", "a = b; c#d [e]" },
		{ "crawl_interval", "1.5h" }, { "log_level", "debug" },
		{ "log_file", "/var/log/georep.log" },
		{ "metrics_listen", "127.0.0.1:9464" },
	};

	scratch(f, path, sizeof(path), "config");
	f->c.primary = xstrdup("/data/primary dir");
	f->c.secondary = xstrdup("/backup/=;#");
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		assert_int_equal(config_set(&f->c, set[i][0], set[i][1], f->err,
		    sizeof(f->err)), 0);
	assert_int_equal(config_save(&f->c, f->top), 0);

	config_init(&back);
	f->err[0] = '\0';
	if (config_load(&back, path, f->err, sizeof(f->err)) < 0)
		fail_msg("config_load: %s", f->err);
	assert_same_config(&f->c, &back);
	assert_int_equal(back.nexclude, 3);
	assert_string_equal(back.exclude[2], "a = b; c#d [e]");
	assert_true(back.one_file_system);
	assert_int_equal(back.crawl_interval_ms, 5400000);

	/* Loaded over a config with its own excludes: the file's replace
	 * them, they are not appended. */
	assert_int_equal(config_load(&back, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(back.nexclude, 3);
	config_release(&back);

	const char *text = get_file_at(AT_FDCWD, path);
	assert_non_null(text);
	assert_non_null(strstr(text, "\nsync_jobs = 3\n"));
	assert_non_null(strstr(text, "\ncompress = auto\n"));
	assert_non_null(strstr(text, "\nbwlimit = 0\n"));
	assert_non_null(strstr(text, "\nssh_command = ssh -oBatchMode=yes\n"));
	assert_non_null(strstr(text, "\none_file_system = true\n"));

	/* The defaults, too. */
	config_release(&f->c);
	config_init(&f->c);
	f->c.primary = xstrdup("/p");
	f->c.secondary = xstrdup("/s");
	assert_int_equal(config_save(&f->c, f->top), 0);
	config_init(&back);
	assert_int_equal(config_load(&back, path, f->err, sizeof(f->err)), 0);
	assert_same_config(&f->c, &back);
	config_release(&back);
}

/* A value the file could not give back is not saved: the old file stays. */
static void
test_save_refuses(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 32];
	char longpath[256];

	scratch(f, path, sizeof(path), "config");
	f->c.primary = xstrdup("/p");
	f->c.secondary = xstrdup("/s");
	assert_int_equal(config_save(&f->c, f->top), 0);
	char *before = xstrdup(get_file_at(AT_FDCWD, path));

	longpath[0] = '/';
	memset(longpath + 1, 'p', 200);
	longpath[201] = '\0';
	const char *const bad[] = { "/data ;x", "/data/ ", longpath,
	    "/a\nb" };
	for (size_t i = 0; i < 4; i++) {
		free(f->c.primary);
		f->c.primary = xstrdup(bad[i]);
		errno = 0;
		assert_int_equal(config_save(&f->c, f->top), -1);
		assert_int_equal(errno, EINVAL);
		assert_string_equal(get_file_at(AT_FDCWD, path), before);
	}
	free(before);
	/* The longest a path may be. */
	free(f->c.primary);
	longpath[1 + 188] = '\0';	/* "primary = " + 189 = 199: one over */
	f->c.primary = xstrdup(longpath);
	assert_int_equal(config_save(&f->c, f->top), -1);
	longpath[188] = '\0';
	free(f->c.primary);
	f->c.primary = xstrdup(longpath);
	assert_int_equal(config_save(&f->c, f->top), 0);
	struct config back;
	config_init(&back);
	assert_int_equal(config_load(&back, path, f->err, sizeof(f->err)), 0);
	assert_string_equal(back.primary, longpath);
	config_release(&back);
}

/* A file written by an older georep: every key, sync_jobs at the default it
 * wrote before workers were built (and ssh_command, built since). */
static const char old_file[] =
    "# georep session: edit with 'georep config NAME KEY VALUE'\n"
    "[session]\nprimary = /p\nsecondary = /s\n\n[config]\n"
    "change_detector = auto\nchange_interval = 1s\nsync_jobs = 3\n"
    "timeout = 1m\nignore_deletes = false\nsync_xattrs = true\n"
    "sync_acls = true\ncompress = auto\nexclude = *.o\n"
    "ssh_command = ssh -oBatchMode=yes\ncrawl_interval = 1m\n"
    "log_level = info\n";

static void
test_load_old_file(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 32];

	scratch(f, path, sizeof(path), "config");
	write_file(path, old_file);
	f->err[0] = '\0';
	if (config_load(&f->c, path, f->err, sizeof(f->err)) < 0)
		fail_msg("an old file does not load: %s", f->err);
	assert_string_equal(f->c.primary, "/p");
	assert_int_equal(f->c.nexclude, 1);
	assert_false(f->c.one_file_system);	/* absent: the default */
	/* Saved again: sync_jobs is a setting now. */
	assert_int_equal(f->c.sync_jobs, 3);
	assert_int_equal(config_save(&f->c, f->top), 0);
	const char *text = get_file_at(AT_FDCWD, path);
	assert_non_null(strstr(text, "\nsync_jobs = 3\n"));
	/* compress is built now: its line is the setting. */
	assert_int_equal(f->c.compress, COMPRESS_AUTO);
	assert_non_null(strstr(text, "\ncompress = auto\n"));
	assert_string_equal(f->c.ssh_command, "ssh -oBatchMode=yes");
}

/* config_load of text: 0, or -1 with err matching want (a substring). */
static void
assert_load_fails(struct fx *f, const char *text, const char *want)
{
	char path[PATH_MAX + 32];
	struct config c;

	scratch(f, path, sizeof(path), "bad");
	write_file(path, text);
	config_init(&c);
	f->err[0] = '\0';
	int rc = config_load(&c, path, f->err, sizeof(f->err));
	config_release(&c);
	if (rc == 0)
		fail_msg("loaded: %s", text);
	if (strstr(f->err, want) == NULL || strncmp(f->err, path,
	    strlen(path)) != 0)
		fail_msg("config_load: '%s', want the path and '%s'", f->err,
		    want);
}

static void
test_load_errors(void **state)
{
	struct fx *f = *state;
	char old[sizeof(old_file) + 64];

	/* sync_jobs out of its range: the line named. */
	snprintf(old, sizeof(old), "%s", old_file);
	memcpy(strstr(old, "sync_jobs = 3"), "sync_jobs = 0", 13);
	assert_load_fails(f, old, ": line 9: sync_jobs '0': expected a number "
	    "of workers from 1 to 32");
	snprintf(old, sizeof(old), "%s", old_file);
	memcpy(strstr(old, "compress = auto"), "compress = 99  ", 15);
	assert_load_fails(f, old, ": line 14: compress '99': expected auto, "
	    "on, off or a zstd level from 1 to 19");
	assert_load_fails(f, "[session]\nprimary = /p\nsecondary = /s\n"
	    "[config]\nssh_command = ssh 'unbalanced\n", ": line 5: ssh_command "
	    "'ssh 'unbalanced': unbalanced quotes");
	/* A typo, a bad value, an unknown section: the line, the key. */
	assert_load_fails(f, "[session]\nprimary = /p\nsecondary = /s\n"
	    "[config]\ntimeot = 1s\n", ": line 5: unknown key 'timeot'");
	assert_load_fails(f, "[session]\nprimary = /p\nsecondary = /s\n"
	    "[config]\n\ntimeout = soon\n", ": line 6: timeout 'soon': "
	    "expected a duration");
	assert_load_fails(f, "[session]\nprimary = /p\nsecondary = /s\n"
	    "[sessions]\nx = 1\n", ": line 5: unknown setting [sessions] x");
	assert_load_fails(f, "[session]\nprimary = /p\n[config]\n",
	    ": [session] primary and secondary are required");
	assert_load_fails(f, "[session]\nprimary /p\n", ": line 2: not valid "
	    "INI");
	char path[PATH_MAX + 32];
	scratch(f, path, sizeof(path), "missing");
	struct config c;
	config_init(&c);
	assert_int_equal(config_load(&c, path, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, strerror(ENOENT)));
	config_release(&c);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		T(test_keys_and_defaults),
		T(test_delta_threshold),
		T(test_change_detector),
		T(test_duration_keys),
		T(test_bool_keys),
		T(test_exclude),
		T(test_log_level),
		T(test_log_file),
		T(test_metrics_listen),
		T(test_compress),
		T(test_bwlimit),
		T(test_ssh_command),
		T(test_unknown_and_sync_jobs),
		T(test_save_load),
		T(test_save_refuses),
		T(test_load_old_file),
		T(test_load_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
