/*
 * Unit tests of src/detection/recorder.c with inotify, on a real
 * directory: what is made in a new directory before the recorder watches
 * it has no event of its own, so the recorder records what it finds there
 * when it starts to watch it (a full crawl that listed the directory in
 * between would otherwise leave those entries unknown to every turn).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/fid.h"
#include "detection/recorder.h"
#include "journal/journal.h"
#include "sync/contact.h"
#include "testutil.h"

struct fx {
	char dir[PATH_MAX], prim[PATH_MAX + 16], jdir[PATH_MAX + 16];
	int rootfd;
	struct journal *j;
	struct recorder *r;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct recorder_opts o = { .kind = RECORDER_INOTIFY };
	char err[256];

	scratch_make(f->dir, "recorder");
	snprintf(f->prim, sizeof(f->prim), "%s/p", f->dir);
	snprintf(f->jdir, sizeof(f->jdir), "%s/j", f->dir);
	assert_int_equal(mkdir(f->prim, 0755), 0);
	assert_int_equal(mkdir(f->jdir, 0755), 0);
	f->rootfd = open(f->prim, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0);
	free(volume_id(f->rootfd, f->prim, &o.fsid, &o.root));
	o.primary = f->prim;
	o.rootfd = f->rootfd;
	assert_int_equal(journal_open(&f->j, f->jdir, false), 0);
	if (recorder_open(&f->r, &o, f->j, err, sizeof(err)) < 0)
		fail_msg("recorder_open: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	recorder_close(f->r);
	journal_close(f->j);
	close(f->rootfd);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* The names recorded (in every segment cut so far), "TYPE:NAME" joined
 * by blanks. */
static char *
recorded(struct fx *f)
{
	uint64_t seq, *seqs;
	size_t n;
	char *out = calloc(1, 1 << 16);

	assert_int_equal(journal_cut(f->j, &seq), 0);
	assert_int_equal(journal_list(f->jdir, &seqs, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct jrec_list l = { 0 };
		bool torn = false;
		assert_int_equal(journal_read_segment(f->jdir, seqs[i], &l,
		    &torn), 0);
		for (size_t k = 0; k < l.n; k++) {
			char one[300];
			snprintf(one, sizeof(one), " %s:%s",
			    l.v[k].type == J_CREATE ? "create" :
			    l.v[k].type == J_MKDIR ? "mkdir" : "other",
			    l.v[k].name);
			strncat(out, one, (1 << 16) - strlen(out) - 1);
		}
		jrec_list_release(&l);
	}
	free(seqs);
	strncat(out, " ", (1 << 16) - strlen(out) - 1);
	return out;
}

static void
assert_has(const char *all, const char *one)
{
	char want[300];

	snprintf(want, sizeof(want), " %s ", one);
	if (strstr(all, want) == NULL)
		fail_msg("'%s' not recorded in:%s", one, all);
}

static void
make_file(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

/* A directory made, and filled (a file, a subdirectory with a file of
 * its own) before the recorder reads the event that it was made. */
static void
test_filled_before_watched(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mkdirat(f->rootfd, "d", 0755), 0);
	int d = openat(f->rootfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(d >= 0);
	make_file(d, "f1");
	assert_int_equal(mkdirat(d, "sub", 0755), 0);
	int sub = openat(d, "sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	make_file(sub, "f2");
	assert_int_equal(symlinkat("f1", d, "link"), 0);
	close(sub);
	close(d);
	assert_true(recorder_drain(f->r) > 0);
	char *all = recorded(f);
	assert_has(all, "mkdir:d");
	assert_has(all, "create:f1");
	assert_has(all, "mkdir:sub");
	assert_has(all, "create:f2");
	assert_has(all, "create:link");
	free(all);

	/* Watched now: a file made later has its own event. */
	d = openat(f->rootfd, "d/sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(d >= 0);
	make_file(d, "f3");
	close(d);
	assert_true(recorder_drain(f->r) > 0);
	all = recorded(f);
	assert_has(all, "create:f3");
	free(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_filled_before_watched,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
