/*
 * Unit tests of src/status/metrics.c (the Prometheus text of sessions:
 * one family at a time, a sample per session, label values escaped, the
 * lag before a first sync) and of the request line the metrics endpoint
 * reads (src/daemon/scrape.c, scrape_parse_request).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/scrape.h"
#include "status/metrics.h"
#include "status/status.h"
#include "testutil.h"

#define SEC 1000000000LL

/* How many lines of text start with prefix. */
static size_t
count_lines(const char *text, const char *prefix)
{
	size_t n = 0, plen = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p +
	    1 : NULL)
		n += strncmp(p, prefix, plen) == 0;
	return n;
}

static void
assert_line(const char *text, const char *line)
{
	char *want = malloc(strlen(line) + 3);

	sprintf(want, "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("no line '%s' in:\n%s", line, text);
	free(want);
}

static void
two_sessions(struct status st[2], struct status_view v[2])
{
	status_init(&st[0]);
	status_init(&st[1]);
	st[0].state = STATE_CHANGELOG_CRAWL;
	st[0].detector = strdup("fanotify");
	st[0].last_synced = 1000 * SEC;
	st[0].files_synced = 12345;
	st[0].bytes_synced = 1ull << 40;
	st[0].changes_pending = 7;
	st[0].failure_count = 2;
	st[0].turns = 31;
	st[0].full_crawls = 2;
	st[0].last_crawl_ms = 1500;
	st[0].crawl_ms_total = 4250;
	st[0].checkpoint = 990 * SEC;
	st[0].checkpoint_completed = true;
	st[0].started_at = 900 * SEC + 123000000;
	st[1].state = STATE_FAULTY;	/* never synced */
	v[0] = (struct status_view){ .name = "dr", .primary = "/srv/data",
	    .secondary = "backup:/srv/replica", .running = true };
	/* Paths may hold any byte: a quote, a backslash, a newline, a byte
	 * that is not UTF-8, and UTF-8 that is. */
	v[1] = (struct status_view){ .name = "b-2", .primary =
	    "/p/\"q\"\\r\n\xff\xc3\xa9", .secondary = "/s", .running = false };
}

static void
test_families_once(void **state)
{
	struct status st[2];
	struct status_view v[2];

	(void)state;
	two_sessions(st, v);
	char *text = status_prometheus(st, v, 2, 1002 * SEC + 500000000);
	/* Each family once, with its HELP and TYPE before its samples. */
	assert_int_equal(count_lines(text, "# TYPE georep_lag_seconds "), 1);
	assert_int_equal(count_lines(text, "# HELP georep_lag_seconds "), 1);
	assert_int_equal(count_lines(text, "# TYPE "), count_lines(text,
	    "# HELP "));
	assert_int_equal(count_lines(text, "georep_lag_seconds{"), 2);
	/* Seven states a session, one of them 1. */
	assert_int_equal(count_lines(text, "georep_state{session=\"dr\""), 7);
	assert_line(text, "georep_state{session=\"dr\",state=\"Changelog "
	    "Crawl\"} 1");
	assert_line(text, "georep_state{session=\"dr\",state=\"Faulty\"} 0");
	assert_line(text, "georep_state{session=\"b-2\",state=\"Faulty\"} 1");
	assert_line(text, "georep_lag_seconds{session=\"dr\"} 2.5");
	assert_line(text, "georep_lag_seconds{session=\"b-2\"} +Inf");
	assert_line(text, "georep_sync_point_timestamp_seconds{session="
	    "\"dr\"} 1000");
	assert_line(text, "georep_sync_point_timestamp_seconds{session="
	    "\"b-2\"} 0");
	assert_line(text, "georep_files_synced_total{session=\"dr\"} 12345");
	assert_line(text, "georep_bytes_synced_total{session=\"dr\"} "
	    "1099511627776");
	assert_line(text, "georep_changes_pending{session=\"dr\"} 7");
	assert_line(text, "georep_failures{session=\"dr\"} 2");
	assert_line(text, "georep_turns_total{session=\"dr\"} 31");
	assert_line(text, "georep_full_crawls_total{session=\"dr\"} 2");
	assert_line(text, "georep_last_full_crawl_duration_seconds{session="
	    "\"dr\"} 1.5");
	assert_line(text, "georep_full_crawl_duration_seconds_total{session="
	    "\"dr\"} 4.25");
	assert_line(text, "georep_checkpoint_completed{session=\"dr\"} 1");
	assert_line(text, "georep_checkpoint_timestamp_seconds{session="
	    "\"dr\"} 990");
	/* A time to the millisecond; a session not running has none. */
	assert_line(text, "georep_start_timestamp_seconds{session=\"dr\"} "
	    "900.123");
	assert_line(text, "georep_start_timestamp_seconds{session=\"b-2\"} 0");
	assert_line(text, "georep_running{session=\"b-2\"} 0");
	assert_line(text, "georep_info{session=\"dr\",primary=\"/srv/data\","
	    "secondary=\"backup:/srv/replica\",detector=\"fanotify\"} 1");
	assert_line(text, "georep_info{session=\"b-2\",primary="
	    "\"/p/\\\"q\\\"\\\\r\\n?\xc3\xa9\",secondary=\"/s\",detector=\"\"} 1");
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
	status_release(&st[0]);
	status_release(&st[1]);
}

static void
test_no_sessions(void **state)
{
	(void)state;
	char *text = status_prometheus(NULL, NULL, 0, 0);
	/* The families, without samples: a valid, empty scrape. */
	assert_int_equal(count_lines(text, "georep_"), 0);
	assert_true(count_lines(text, "# TYPE ") > 20);
	free(text);
}

static void
test_request_line(void **state)
{
	static const struct {
		const char *req;
		enum scrape_answer want;
		bool head;
	} cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", SCRAPE_METRICS,
		    false },
		{ "GET /metrics HTTP/1.0\n\n", SCRAPE_METRICS, false },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", SCRAPE_METRICS, true },
		{ "GET /metrics?name[]=x HTTP/1.1\r\n\r\n", SCRAPE_METRICS,
		    false },
		{ "GET / HTTP/1.1\r\n\r\n", SCRAPE_INDEX, false },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", SCRAPE_NOT_FOUND, false },
		{ "GET /other HTTP/1.1\r\n\r\n", SCRAPE_NOT_FOUND, false },
		{ "POST /metrics HTTP/1.1\r\n\r\n", SCRAPE_BAD_METHOD, false },
		{ "get /metrics HTTP/1.1\r\n\r\n", SCRAPE_BAD_METHOD, false },
		{ "GET /metrics\r\n\r\n", SCRAPE_BAD_REQUEST, false },
		{ "GET /metrics HTTP/2.0\r\n\r\n", SCRAPE_BAD_REQUEST, false },
		{ "GET /metrics HTTP/1.12\r\n\r\n", SCRAPE_BAD_REQUEST, false },
		{ "GET metrics HTTP/1.1\r\n\r\n", SCRAPE_BAD_REQUEST, false },
		{ "GET  HTTP/1.1\r\n\r\n", SCRAPE_BAD_REQUEST, false },
		{ "\r\n\r\n", SCRAPE_BAD_REQUEST, false },
		{ "GET /metrics HTTP/1.1\r\n", SCRAPE_MORE, false },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", SCRAPE_MORE, false },
		{ "GET /met", SCRAPE_MORE, false },
		{ "", SCRAPE_MORE, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool head = !cases[i].head;
		enum scrape_answer got = scrape_parse_request(cases[i].req,
		    strlen(cases[i].req), &head);
		if (got != cases[i].want || (got != SCRAPE_MORE &&
		    got != SCRAPE_BAD_REQUEST && got != SCRAPE_BAD_METHOD &&
		    head != cases[i].head))
			fail_msg("'%s': %d (head %d), want %d", cases[i].req,
			    (int)got, head, (int)cases[i].want);
	}
	/* Only what came counts: a request cut anywhere is not complete. */
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	bool head;
	for (size_t n = 0; n < strlen(req) - 1; n++)
		assert_int_equal(scrape_parse_request(req, n, &head),
		    SCRAPE_MORE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families_once),
		cmocka_unit_test(test_no_sessions),
		cmocka_unit_test(test_request_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
