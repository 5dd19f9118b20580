/*
 * The worker: connects to the secondary and runs turns until it is told to
 * stop (daemon.h).
 *
 * With a recorder (fanotify or inotify), each turn takes every sealed
 * segment of the journal, lists again the directories their records name
 * (crawl_dirs) and applies the difference; a segment is deleted once the
 * secondary has it.  A batch holding J_OVERFLOW (every start of a monitor
 * writes one, and a queue overflow does) is a full crawl instead.  A turn
 * whose paths failed keeps its segments, so the next turn lists those
 * directories again and retries them, with backoff when nothing new came;
 * past BATCH_SEGMENTS_MAX kept segments they give way to a full crawl marked in
 * the file `crawl_needed`, which stays until a full crawl succeeds.
 *
 * In crawl mode (no recorder), a full crawl every crawl_interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../detection/crawl.h"
#include "../index/index.h"
#include "../journal/journal.h"
#include "../protocol/conn.h"
#include "../sync/sync.h"
#include "../sync/contact.h"
#include "batch.h"
#include "session.h"
#include "daemon.h"
#include "../common/banned.h"

#define RETRY_MIN_MS	1000

/* ---- status ---- */

void
worker_save_status(struct worker *w)
{
	if (status_save(&w->st, w->dir) < 0)
		log_err("cannot write the status of %s", w->name);
	w->saved_at = mono_ns();
}

static void
set_state(struct worker *w, const char *state)
{
	if (strcmp(w->st.state, state) == 0)
		return;
	snprintf(w->st.state, sizeof(w->st.state), "%s", state);
	status_set_detail(&w->st, w->detector_note);
	worker_save_status(w);
}

/* The sync point moved to t: a checkpoint it passes completes. */
static bool
sync_point_moved(struct worker *w, int64_t t)
{
	if (t > w->st.last_synced)
		w->st.last_synced = t;
	if (w->st.checkpoint && !w->st.checkpoint_completed &&
	    w->st.last_synced >= w->st.checkpoint) {
		char s[40];
		w->st.checkpoint_completed = true;
		w->st.checkpoint_completed_at = now_ns();
		format_rfc3339(w->st.checkpoint, s, sizeof(s));
		log_info("checkpoint %s completed", s);
		return true;
	}
	return false;
}

/* After a turn: counters, failures, the sync point (only a turn without
 * failures sets one, so no checkpoint passes a parked failure).  Saved at
 * once when something a reader waits for changed, else at most once a
 * second: under load, turns follow each other closely. */
static void
after_turn(struct worker *w, const struct sync_stats *s)
{
	bool had_failures = w->st.failure_count != 0;
	bool now = false;

	w->st.files_synced += s->files_sent;
	w->st.bytes_synced += s->bytes_sent;
	status_set_failures(&w->st, s->fail_path, s->fail_error, s->nfail,
	    s->errors);
	if (s->sync_point)
		now = sync_point_moved(w, s->sync_point);
	if (now || had_failures != (w->st.failure_count != 0) ||
	    mono_ns() - w->saved_at > 1000000000LL)
		worker_save_status(w);
}

/* A new checkpoint shows as pending at once, paused or not. */
static bool
check_checkpoint(struct worker *w)
{
	int64_t cp = session_checkpoint(w->dir);

	if (cp == w->st.checkpoint)
		return false;
	w->st.checkpoint = cp;
	w->st.checkpoint_completed = false;
	w->st.checkpoint_completed_at = 0;
	worker_save_status(w);
	return true;
}

/* ---- talking to the monitor ---- */

struct chan {
	int fd;
	char buf[256];
	size_t len;
	bool asked;		/* "r" sent, no "s" since */
};

/* Ask for the next segment (once) and wait for the monitor, a signal, or
 * the timeout.  Returns 1 when a segment was sealed, 0 otherwise (*idle
 * gets the time of an "i"), -1 when the monitor is gone. */
static int
chan_wait(struct chan *ch, uint64_t applied, int64_t ms, int64_t *idle)
{
	struct pollfd p[2] = { { .fd = ch->fd, .events = POLLIN },
	    { .fd = wake_fd(), .events = POLLIN } };

	*idle = 0;
	if (!ch->asked) {
		char line[40];
		int n = snprintf(line, sizeof(line), "r %llu\n",
		    (unsigned long long)applied);
		if (write_full(ch->fd, line, (size_t)n) < 0)
			return -1;
		ch->asked = true;
	}
	if (sig_stop || sig_wake)
		return 0;
	if (poll(p, 2, ms > INT32_MAX ? INT32_MAX : (int)ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (p[1].revents)
		drain_wake();
	if (!p[0].revents)
		return 0;
	ssize_t n = read(ch->fd, ch->buf + ch->len, sizeof(ch->buf) - ch->len);
	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	ch->len += (size_t)n;
	int rc = 0;
	char *nl;
	while ((nl = memchr(ch->buf, '\n', ch->len)) != NULL) {
		*nl = '\0';
		if (ch->buf[0] == 's') {
			ch->asked = false;
			rc = 1;
		} else if (ch->buf[0] == 'i') {
			*idle = strtoll(ch->buf + 1, NULL, 10);
		}
		size_t used = (size_t)(nl + 1 - ch->buf);
		memmove(ch->buf, nl + 1, ch->len - used);
		ch->len -= used;
	}
	if (ch->len == sizeof(ch->buf))
		ch->len = 0;	/* no line that long is sent */
	return rc;
}

/* ---- turns ---- */

struct session_conn {
	struct sync_target tgt;
	struct sync_opts o;
	struct index *ix;
	struct conn c;
	char *volume;
};

/* One turn; a second at once after ESTALE (it reconciles first). */
static int
run_turn(struct session_conn *sc, struct sync_stats *s)
{
	int rc = sync_turn(&sc->o, &sc->tgt, sc->ix, &sc->c, s);

	if (rc == 2) {
		sync_stats_release(s);
		memset(s, 0, sizeof(*s));
		rc = sync_turn(&sc->o, &sc->tgt, sc->ix, &sc->c, s);
	}
	return rc;
}

static int
connect_secondary(struct worker *w, struct session_conn *sc, char *detail,
    size_t dlen, int *code)
{
	struct hello_result h;
	char *ixdir;

	sc->tgt.rootfd = open(w->cfg->primary, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (sc->tgt.rootfd < 0) {
		snprintf(detail, dlen, "primary %s: %s", w->cfg->primary,
		    strerror(errno));
		*code = EX_NOINPUT;
		return -1;
	}
	sc->volume = volume_id(sc->tgt.rootfd, w->cfg->primary, &sc->tgt.fsid,
	    &sc->tgt.root);
	ixdir = session_path(w->dir, SF_INDEX);
	if (sc->volume == NULL || open_index(ixdir, sc->volume, &sc->ix) < 0) {
		snprintf(detail, dlen, "cannot open the index of %s",
		    w->cfg->primary);
		free(ixdir);
		*code = EX_IOERR;
		return -1;
	}
	free(ixdir);
	*code = EX_UNAVAILABLE;
	if (conn_spawn_local(&sc->c, self_exe(), w->cfg->secondary) < 0 ||
	    say_hello(&sc->c, sc->volume, false, &h, code) < 0 ||
	    reconcile_hello(&sc->c, sc->ix, &h, false, w->cfg->secondary,
	    code) < 0) {
		snprintf(detail, dlen, "the secondary %s: %s",
		    w->cfg->secondary, sc->c.failed ? sc->c.error :
		    "refused (see the log)");
		return -1;
	}
	sc->tgt.secondary_privileged = h.privileged;
	sc->tgt.secondary_uid = h.uid;
	sc->tgt.secondary_gid = h.gid;
	sc->o.excludes = (const char *const *)w->cfg->exclude;
	sc->o.nexcludes = w->cfg->nexclude;
	sc->o.ignore_deletes = w->cfg->ignore_deletes;
	sc->o.no_xattrs = !w->cfg->sync_xattrs;
	sc->o.no_acls = !w->cfg->sync_acls;
	sc->o.stop = &sig_stop;
	sc->o.no_fsync = getenv("GEOREP_TEST_NO_FSYNC") != NULL;
	/* At debug level, each change goes to the log, as sync -v prints it
	 * (whole lines, even at a SIGKILL). */
	sc->o.verbose = w->cfg->log_level == LOG_LVL_DEBUG;
	if (sc->o.verbose)
		setvbuf(stdout, NULL, _IOLBF, 0);
	return 0;
}

static int
cmp_racy(const void *a, const void *b)
{
	const struct sync_racy *x = a, *y = b;
	int c = crawl_fid_cmp(&x->fid, &y->fid);

	if (c)
		return c;
	/* The newest first. */
	return (x->seen < y->seen) - (x->seen > y->seen);
}

/*
 * Racy files (sync.h): a directed turn may settle those sent before its cut
 * time by more than a clock tick -- any change after they were looked at is
 * in the journal up to that cut, and a turn that met it hashed them again.
 * The ones it may settle are taken out of l into *out.
 */
static void
racy_due(struct sync_racy_list *l, int64_t cut, struct fid **out, size_t *n)
{
	size_t keep = 0, uniq = 0;

	/* A file left racy again by a later turn counts from then only. */
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_racy);
	for (size_t i = 0; i < l->n; i++)
		if (uniq == 0 || !fid_eq(&l->v[i].fid, &l->v[uniq - 1].fid))
			l->v[uniq++] = l->v[i];
	*out = xcalloc(uniq + 1, sizeof(**out));
	*n = 0;
	for (size_t i = 0; i < uniq; i++) {
		if (l->v[i].seen + SYNC_RACY_NS <= cut)
			(*out)[(*n)++] = l->v[i].fid;
		else
			l->v[keep++] = l->v[i];
	}
	l->n = keep;
}

/* The files a turn left racy join those waiting (a full crawl looked at
 * every one that waited: it starts the list again). */
static void
racy_add(struct sync_racy_list *l, const struct sync_stats *s, bool full)
{
	if (full)
		l->n = 0;
	for (size_t i = 0; i < s->racy.n; i++)
		sync_racy_add(l, &s->racy.v[i].fid, s->racy.v[i].seen);
}

/* One turn over the journal's sealed segments, when one of them is new
 * (after *applied) or a retry is due.  Returns the turn's code (0, 1:
 * paths failed, -1: it could not go on), or 3 when there was no turn. */
static int
journal_turn(struct worker *w, struct session_conn *sc, const char *jdir,
    uint64_t *applied, bool retry_due)
{
	struct batch b = { 0 };
	struct sync_stats s = { 0 };
	bool crawl_needed = session_flag(w->dir, SF_CRAWL_NEEDED);

	if (batch_read(jdir, &b) < 0)
		return -1;
	if (!(b.nseqs && b.seqs[b.nseqs - 1] > *applied) && !retry_due) {
		batch_release(&b);
		return 3;
	}
	bool full = b.full || crawl_needed;
	if (!full && batch_plan(&b, sc->ix) < 0) {
		batch_release(&b);
		return -1;
	}
	if (!full && b.nseqs == 0) {
		batch_release(&b);
		return 0;	/* a retry with nothing left to retry */
	}
	set_state(w, !full ? "Changelog Crawl" : w->st.last_synced ?
	    "Hybrid Crawl" : "Initializing");
	sc->o.directed = !full;
	sc->o.dirs = b.dirs;
	sc->o.dirnames = b.names;
	sc->o.deep = b.deep;
	sc->o.ndeep = b.ndeep;
	sc->o.ndirs = b.ndirs;
	/* A directed turn covers what was recorded before its last cut. */
	sc->o.sync_point = full ? 0 : b.cut;
	struct fid *settle = NULL;
	size_t nsettle = 0;
	if (!full)
		racy_due(&w->racy, b.cut, &settle, &nsettle);
	sc->o.settle = settle;
	sc->o.nsettle = nsettle;
	log_debug("turn: %zu segments, %zu records, %zu directories%s",
	    b.nseqs, b.nrecords, b.ndirs, full ? ", a full crawl" : "");
	int rc = run_turn(sc, &s);
	racy_add(&w->racy, &s, full && rc >= 0);
	if (rc < 0)	/* not settled: due again next turn */
		for (size_t i = 0; i < nsettle; i++)
			sync_racy_add(&w->racy, &settle[i], 0);
	free(settle);
	sc->o.settle = NULL;
	sc->o.nsettle = 0;
	if (rc >= 0) {
		after_turn(w, &s);
		/* Segments stay while their paths fail, so the next turn
		 * lists them again; a full crawl stands for them all. */
		if (rc == 0 || full || b.nseqs > BATCH_SEGMENTS_MAX) {
			if (rc != 0)
				session_set_flag(w->dir, SF_CRAWL_NEEDED, true);
			else if (crawl_needed)
				session_set_flag(w->dir, SF_CRAWL_NEEDED, false);
			batch_remove(jdir, &b);
		}
		if (b.nseqs)
			*applied = b.seqs[b.nseqs - 1];
		set_state(w, "Changelog Crawl");
	}
	sync_stats_release(&s);
	batch_release(&b);
	sc->o.directed = false;
	sc->o.dirs = NULL;
	sc->o.dirnames = NULL;
	sc->o.ndirs = 0;
	sc->o.deep = NULL;
	sc->o.ndeep = 0;
	sc->o.sync_point = 0;
	return rc;
}

/* The loop with a recorder.  -1 when a turn could not go on. */
static int
journal_loop(struct worker *w, struct session_conn *sc)
{
	char *jdir = session_path(w->dir, SF_JOURNAL);
	struct chan ch = { .fd = w->chan };
	uint64_t applied = 0;
	int64_t retry_ms = RETRY_MIN_MS, retry_at = 0;
	bool retry_pending = true;	/* the first turn runs in any case */
	bool want_idle = false;
	int rc = 0;

	while (!sig_stop) {
		sig_wake = 0;
		want_idle |= check_checkpoint(w);
		if (session_flag(w->dir, SF_PAUSED)) {
			set_state(w, "Paused");
			nap(INT32_MAX);
			continue;
		}
		rc = journal_turn(w, sc, jdir, &applied, retry_pending &&
		    mono_ns() >= retry_at);
		if (rc < 0)
			break;
		if (rc == 0) {
			retry_pending = false;
			retry_ms = RETRY_MIN_MS;
		} else if (rc == 1) {
			retry_pending = true;
			retry_at = mono_ns() + retry_ms * 1000000;
			retry_ms = retry_ms * 2 > w->cfg->crawl_interval_ms ?
			    w->cfg->crawl_interval_ms : retry_ms * 2;
		}
		if (rc != 3)
			continue;	/* look for the next segment at once */
		if (want_idle)
			ch.asked = false;	/* a fresh "i" for a checkpoint */
		want_idle = false;
		int64_t idle, wait = retry_pending ?
		    (retry_at - mono_ns()) / 1000000 + 1 : INT32_MAX;
		int got = chan_wait(&ch, applied, wait < 0 ? 0 : wait, &idle);
		if (got < 0) {
			if (!sig_stop)
				log_err("lost the monitor");
			rc = sig_stop ? 0 : -1;
			break;
		}
		if (idle && !retry_pending && w->st.failure_count == 0 &&
		    sync_point_moved(w, idle))
			worker_save_status(w);
	}
	free(jdir);
	return rc < 0 ? -1 : 0;
}

/* The loop in crawl mode. */
static int
crawl_loop(struct worker *w, struct session_conn *sc)
{
	while (!sig_stop) {
		sig_wake = 0;
		check_checkpoint(w);
		if (session_flag(w->dir, SF_PAUSED)) {
			set_state(w, "Paused");
			nap(INT32_MAX);
			continue;
		}
		set_state(w, w->st.last_synced ? "Hybrid Crawl" :
		    "Initializing");
		struct sync_stats s = { 0 };
		int rc = run_turn(sc, &s);
		if (rc < 0) {
			sync_stats_release(&s);
			return -1;
		}
		after_turn(w, &s);
		sync_stats_release(&s);
		set_state(w, "Hybrid Crawl");
		nap(w->cfg->crawl_interval_ms);
	}
	return 0;
}

int
worker_run(struct worker *w)
{
	struct session_conn sc;
	char detail[1024];
	int code = EX_UNAVAILABLE;

	memset(&sc, 0, sizeof(sc));
	sc.tgt.rootfd = -1;
	conn_init(&sc.c, w->cfg->secondary, (int)w->cfg->timeout_ms);
	free(w->st.detector);
	w->st.detector = xstrdup(w->detector);
	if (connect_secondary(w, &sc, detail, sizeof(detail), &code) < 0)
		goto fail;
	int rc = w->chan >= 0 ? journal_loop(w, &sc) : crawl_loop(w, &sc);
	if (rc < 0 && !sig_stop) {
		/* The turn logged the cause; status and the monitor say it
		 * again, the log need not. */
		snprintf(detail, sizeof(detail), "%s", sc.c.failed ?
		    sc.c.error : "a turn failed (see the log)");
		code = sc.c.failed ? EX_UNAVAILABLE : EX_IOERR;
		goto fail_logged;
	}
	worker_save_status(w);
	code = 0;
	goto out;
fail:
	log_err("%s", detail);
fail_logged:
	snprintf(w->st.state, sizeof(w->st.state), "Faulty");
	status_set_detail(&w->st, detail);
	worker_save_status(w);
out:
	conn_release(&sc.c);
	index_close(sc.ix);
	if (sc.tgt.rootfd >= 0)
		close(sc.tgt.rootfd);
	free(sc.volume);
	free(w->racy.v);
	memset(&w->racy, 0, sizeof(w->racy));
	return code;
}
