/*
 * Unit tests of src/status/status.c (the states, the sync point that never
 * moves back, checkpoints, failures, status.json and its text form) and of
 * src/daemon/session.c (names, the session directory's files, the lock).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "common/util.h"
#include "daemon/session.h"
#include "status/status.h"
#include "testutil.h"

struct fx {
	char dir[PATH_MAX];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	scratch_make(f->dir, "status");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---- status ---- */

static void
test_state_names(void **state)
{
	enum session_state s;

	(void)state;
	for (int i = STATE_CREATED; i <= STATE_STOPPED; i++) {
		assert_int_equal(state_parse(state_name((enum session_state)i),
		    &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(state_name(STATE_CHANGELOG_CRAWL),
	    "Changelog Crawl");
	assert_int_equal(state_parse("Running", &s), -1);
	assert_int_equal(state_parse("faulty", &s), -1);
	assert_string_equal(state_name((enum session_state)99), "?");
}

static void
test_sync_point_never_back(void **state)
{
	struct status s;

	(void)state;
	status_init(&s);
	assert_int_equal(s.state, STATE_CREATED);
	assert_false(status_synced(&s, 5000));
	assert_true(s.last_synced == 5000);
	assert_false(status_synced(&s, 4000));
	assert_true(s.last_synced == 5000);
	assert_false(status_synced(&s, 0));
	assert_true(s.last_synced == 5000);
	status_release(&s);
}

static void
test_checkpoint(void **state)
{
	struct status s;

	(void)state;
	status_init(&s);
	status_synced(&s, 1000);
	status_set_checkpoint(&s, 2000);
	assert_false(s.checkpoint_completed);
	assert_false(status_synced(&s, 1999));
	assert_true(status_synced(&s, 2000));
	assert_true(s.checkpoint_completed);
	assert_true(s.checkpoint_completed_at > 0);
	/* Completes once. */
	int64_t at = s.checkpoint_completed_at;
	assert_false(status_synced(&s, 3000));
	assert_true(s.checkpoint_completed_at == at);
	/* One set in the past of the sync point is complete at once. */
	status_set_checkpoint(&s, 2500);
	assert_true(s.checkpoint_completed);
	/* None: nothing to complete. */
	status_set_checkpoint(&s, 0);
	assert_false(status_synced(&s, 9000));
	status_release(&s);
}

static void
test_failures(void **state)
{
	struct status s;
	char *p1[] = { "a", "b" }, *e1[] = { "EIO", "EACCES" };
	char *p2[] = { "b", "c" }, *e2[] = { "EACCES", "ENOSPC" };

	(void)state;
	status_init(&s);
	status_set_failures(&s, p1, e1, 2, 2);
	assert_int_equal(s.nfailures, 2);
	assert_int_equal(s.failures[1].tries, 1);
	int64_t since_b = s.failures[1].since;
	status_set_failures(&s, p2, e2, 2, 7);
	assert_int_equal(s.failure_count, 7);
	assert_int_equal(s.nfailures, 2);
	assert_string_equal(s.failures[0].path, "b");
	assert_int_equal(s.failures[0].tries, 2);
	assert_true(s.failures[0].since == since_b);
	assert_string_equal(s.failures[1].path, "c");
	assert_int_equal(s.failures[1].tries, 1);
	status_set_failures(&s, NULL, NULL, 0, 0);
	assert_int_equal(s.nfailures, 0);
	status_release(&s);
}

static void
fill(struct status *s)
{
	char *p[] = { "dir/file\nwith newline" }, *e[] = { "No space" };

	status_init(s);
	s->state = STATE_FAULTY;
	status_set_detail(s, "the secondary went away");
	s->detector = xstrdup("inotify");
	s->last_synced = 1764393600123000000LL;
	s->entries_pending = 3;
	s->data_pending = 4;
	s->meta_pending = 5;
	s->changes_pending = 6;
	s->files_synced = 1234567;
	s->bytes_synced = 1ull << 40;
	status_set_failures(s, p, e, 1, 9);
	s->checkpoint = 1764393600000000000LL;
	s->checkpoint_completed = true;
	s->checkpoint_completed_at = 1764393601500000000LL;
	s->turn.kind = TURN_FIRST_CRAWL;
	s->turn.started = 1764393500000000000LL;
	s->turn.files_seen = 10;
	s->turn.dirs_seen = 2;
	s->turn.bytes_total = 100;
	s->turn.bytes_done = 50;
	s->started_at = 1764393400000000000LL;
	s->pid = 4242;
	s->config_applied = 0xfedcba9876543211ull;
	s->turns = 77;
	s->full_crawls = 3;
	s->last_crawl_ms = 1234;
	s->crawl_ms_total = 98765;
	s->log = xstrdup("/var/log/georep/dr.log");
}

static void
test_text_round_trip(void **state)
{
	struct status a, b;

	(void)state;
	fill(&a);
	char *text = status_to_text(&a);
	assert_non_null(strstr(text, "\"format\": 1"));
	assert_int_equal(status_load_text(&b, text, strlen(text)), 0);
	assert_int_equal(b.state, STATE_FAULTY);
	assert_string_equal(b.detail, "the secondary went away");
	assert_string_equal(b.detector, "inotify");
	assert_true(b.last_synced == a.last_synced);
	assert_true(b.entries_pending == 3 && b.data_pending == 4);
	assert_true(b.meta_pending == 5 && b.changes_pending == 6);
	assert_true(b.files_synced == 1234567);
	assert_true(b.bytes_synced == (1ull << 40));
	assert_true(b.turns == 77 && b.full_crawls == 3);
	assert_true(b.last_crawl_ms == 1234 && b.crawl_ms_total == 98765);
	assert_string_equal(b.log, "/var/log/georep/dr.log");
	assert_true(b.failure_count == 9);
	assert_int_equal(b.nfailures, 1);
	assert_string_equal(b.failures[0].path, "dir/file\nwith newline");
	assert_true(b.checkpoint == a.checkpoint);
	assert_true(b.checkpoint_completed);
	assert_true(b.checkpoint_completed_at == a.checkpoint_completed_at);
	assert_int_equal(b.turn.kind, TURN_FIRST_CRAWL);
	assert_true(b.turn.files_seen == 10 && b.turn.bytes_done == 50);
	assert_true(b.started_at == a.started_at);
	assert_int_equal(b.pid, 4242);
	assert_true(b.config_applied == a.config_applied);
	free(text);
	status_release(&a);
	status_release(&b);
}

static void
test_text_refused(void **state)
{
	static const char *const bad[] = {
		"", "[]", "not json", "{\"format\": 2, \"state\": \"Faulty\"}",
		"{\"format\": \"1\"}", "\"Faulty\"",
	};
	struct status s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(status_load_text(&s, bad[i], strlen(bad[i])),
		    -1);
		assert_int_equal(s.state, STATE_CREATED);	/* fresh */
		status_release(&s);
	}
}

/* Fields of the wrong type or out of range are left at their start. */
static void
test_text_hostile_fields(void **state)
{
	static const char text[] = "{\"state\": \"Exploded\", \"detail\": 7, "
	    "\"last_synced\": \"yesterday\", \"files_synced\": -5, "
	    "\"bytes_synced\": \"many\", \"pid\": 99999999999, "
	    "\"failures\": {\"count\": 2, \"last\": [{\"path\": 1}, "
	    "{\"path\": \"p\", \"error\": \"e\", \"tries\": 99999999999}]}, "
	    "\"checkpoint\": \"now\", \"crawl\": {\"kind\": \"sideways\"}}";
	struct status s;

	(void)state;
	assert_int_equal(status_load_text(&s, text, strlen(text)), 0);
	assert_int_equal(s.state, STATE_CREATED);
	assert_null(s.detail);
	assert_true(s.last_synced == 0);
	assert_true(s.files_synced == 0 && s.bytes_synced == 0);
	assert_int_equal(s.pid, 0);
	assert_true(s.failure_count == 2);
	assert_int_equal(s.nfailures, 1);
	assert_int_equal(s.failures[0].tries, UINT32_MAX);
	assert_true(s.checkpoint == 0);
	assert_int_equal(s.turn.kind, TURN_NONE);
	status_release(&s);
}

static void
test_file(void **state)
{
	struct fx *f = *state;
	struct status a, b;

	assert_int_equal(status_load(&b, f->dir), 1);	/* none yet */
	status_release(&b);
	fill(&a);
	assert_int_equal(status_save(&a, f->dir), 0);
	assert_int_equal(status_load(&b, f->dir), 0);
	assert_true(b.files_synced == a.files_synced);
	status_release(&a);
	status_release(&b);
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(put_file_at(fd, "status.json",
	    "{\"format\": 7, \"files_synced\": 5}"), 0);
	assert_int_equal(status_load(&b, f->dir), -1);
	assert_true(b.files_synced == 0);
	status_release(&b);
	assert_int_equal(put_file_at(fd, "status.json", "{\"files_synced\": 5}"),
	    0);	/* the first builds wrote no format: read */
	assert_int_equal(status_load(&b, f->dir), 0);
	assert_true(b.files_synced == 5);
	status_release(&b);
	close(fd);
}

/* ---- session ---- */

static void
test_session_names(void **state)
{
	static const char *const good[] = { "a", "backup-1", "x.y_z",
	    "A01234567890123456789012345678901234567890123456789012345678901Z" };
	static const char *const bad[] = { "", ".hidden", "-opt", "a/b", "a b",
	    "..", "caf\xc3\xa9", "a\nb",
	    "A012345678901234567890123456789012345678901234567890123456789012Z" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(session_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(session_name_valid(bad[i]));
}

static void
test_session_files(void **state)
{
	struct fx *f = *state;
	char *p = session_path(f->dir, SF_STATUS);

	assert_string_equal(p + strlen(f->dir), "/status.json");
	free(p);
	assert_false(session_flag(f->dir, SF_PAUSED));
	assert_int_equal(session_set_flag(f->dir, SF_PAUSED, true), 0);
	assert_true(session_flag(f->dir, SF_PAUSED));
	assert_int_equal(session_set_flag(f->dir, SF_PAUSED, false), 0);
	assert_int_equal(session_set_flag(f->dir, SF_PAUSED, false), 0);
	assert_false(session_flag(f->dir, SF_PAUSED));
	assert_true(session_checkpoint(f->dir) == 0);
	assert_int_equal(session_set_checkpoint(f->dir, 1764393600123456789LL),
	    0);
	assert_true(session_checkpoint(f->dir) == 1764393600123456789LL);
}

static void
test_session_lock(void **state)
{
	struct fx *f = *state;
	int fd, fd2;

	assert_int_equal(session_running_pid(f->dir), 0);
	assert_int_equal(session_lock(f->dir, &fd), 0);
	assert_int_equal(session_running_pid(f->dir), getpid());
	/* A second holder is refused, in this process too. */
	assert_int_equal(session_lock(f->dir, &fd2), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(fd);
	assert_int_equal(session_running_pid(f->dir), 0);
}

static void
test_session_config_digest(void **state)
{
	struct fx *f = *state;
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY);

	assert_true(session_config_digest(f->dir) == 0);
	assert_int_equal(put_file_at(fd, "config", "[config]\na = 1\n"), 0);
	uint64_t d1 = session_config_digest(f->dir);
	assert_true(d1 != 0);
	assert_int_equal(put_file_at(fd, "config", "[config]\na = 2\n"), 0);
	assert_true(session_config_digest(f->dir) != d1);
	assert_int_equal(put_file_at(fd, "config", "[config]\na = 1\n"), 0);
	assert_true(session_config_digest(f->dir) == d1);
	close(fd);
}

static void
test_session_list(void **state)
{
	struct fx *f = *state;
	char **names, path[PATH_MAX + 32];
	size_t n;

	session_list(f->dir, &names, &n);
	assert_int_equal(n, 0);
	session_list_release(names, n);
	snprintf(path, sizeof(path), "%s/sessions", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	static const char *const made[] = { "zeta", "alpha", ".hidden", "mid" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/sessions/%s", f->dir, made[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	session_list(f->dir, &names, &n);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "alpha");
	assert_string_equal(names[1], "mid");
	assert_string_equal(names[2], "zeta");
	session_list_release(names, n);
}

static void
test_session_home(void **state)
{
	(void)state;
	assert_string_equal(session_home("/abs/home"), "/abs/home");
	const char *h = session_home("rel/home");
	assert_true(h[0] == '/');
	assert_non_null(strstr(h, "/rel/home"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_sync_point_never_back),
		cmocka_unit_test(test_checkpoint),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_text_round_trip),
		cmocka_unit_test(test_text_refused),
		cmocka_unit_test(test_text_hostile_fields),
		cmocka_unit_test_setup_teardown(test_file, setup, teardown),
		cmocka_unit_test(test_session_names),
		cmocka_unit_test_setup_teardown(test_session_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_session_lock, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_session_config_digest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_session_list, setup,
		    teardown),
		cmocka_unit_test(test_session_home),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
