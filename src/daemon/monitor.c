/*
 * The monitor: one poll loop over the recorder, the worker's channel, the
 * status socket and the signals (daemon.h).
 *
 * It starts recording before it starts the worker, and its first record is
 * J_OVERFLOW, so the worker's first turn is a full crawl that covers
 * everything up to the moment recording began: nothing falls between.  It
 * cuts a segment when the worker asks for one (group commit), or when the
 * open segment is change_interval old.  The worker may die and come back
 * any number of times: recording goes on, and it resumes from the sealed
 * segments.  A monitor that dies leaves its open segment; the next
 * monitor seals it and starts with a full crawl all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/fid.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../detection/recorder.h"
#include "../journal/journal.h"
#include "../sync/contact.h"
#include "session.h"
#include "daemon.h"
#include "../common/banned.h"

#define BACKOFF_MAX_MS	60000

/* ---- the monitor ---- */

struct monitor {
	struct worker w;	/* what the worker starts from */
	char *jdir;
	struct journal *j;
	struct recorder *rec;
	int rootfd;
	char note[1024];
	int listenfd;
	pid_t worker;		/* 0: none running */
	int chan;
	char in[256];
	size_t inlen;
	bool waiting;		/* the worker asked and has no segment */
	uint64_t applied;	/* the worker's last applied segment */
	uint64_t last_cut;
	int64_t open_since;	/* mono ns of the open segment's first record */
	int64_t restart_at;	/* mono ns; the worker starts again then */
	int64_t backoff, began;
};

static enum recorder_kind
first_kind(enum detector d)
{
	if (d == DETECT_FANOTIFY)
		return RECORDER_FANOTIFY;
	if (d == DETECT_INOTIFY)
		return RECORDER_INOTIFY;
	return geteuid() == 0 ? RECORDER_FANOTIFY : RECORDER_INOTIFY;
}

/* Open the recorder the config asks for, falling back from fanotify to
 * inotify to crawl mode, each fallback said in the log and in status. */
static void
start_recording(struct monitor *m)
{
	struct config *cfg = m->w.cfg;
	struct recorder_opts ro = { 0 };
	char err[512];

	m->w.detector = "crawl";
	m->w.detector_note = NULL;
	if (cfg->change_detector == DETECT_CRAWL)
		return;
	m->rootfd = open(cfg->primary, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *volume = m->rootfd < 0 ? NULL : volume_id(m->rootfd,
	    cfg->primary, &ro.fsid, &ro.root);
	if (volume == NULL) {
		/* The worker says why (the primary is gone); retried at its
		 * next start. */
		if (m->rootfd >= 0)
			close(m->rootfd);
		m->rootfd = -1;
		return;
	}
	free(volume);
	if (m->j == NULL && journal_open(&m->j, m->jdir, false) < 0) {
		snprintf(m->note, sizeof(m->note), "cannot open the journal %s: "
		    "crawl mode", m->jdir);
		m->w.detector_note = m->note;
		return;
	}
	ro.primary = cfg->primary;
	ro.rootfd = m->rootfd;
	ro.kind = first_kind(cfg->change_detector);
	m->note[0] = '\0';
	if (recorder_open(&m->rec, &ro, m->j, err, sizeof(err)) < 0 &&
	    ro.kind == RECORDER_FANOTIFY) {
		snprintf(m->note, sizeof(m->note), "fanotify is not available "
		    "(%s): using inotify", err);
		log_warn("%s", m->note);
		ro.kind = RECORDER_INOTIFY;
		if (recorder_open(&m->rec, &ro, m->j, err, sizeof(err)) < 0)
			m->rec = NULL;
	}
	if (m->rec == NULL) {
		snprintf(m->note, sizeof(m->note), "no change notification "
		    "(%s): crawl mode, every %lld ms", err,
		    (long long)cfg->crawl_interval_ms);
		log_warn("%s", m->note);
		m->w.detector_note = m->note;
		return;
	}
	if (m->note[0])
		m->w.detector_note = m->note;
	m->w.detector = recorder_kind_name(ro.kind);
	/* Before this, nothing was recorded: the first turn crawls. */
	struct jrec r;
	memset(&r, 0, sizeof(r));
	r.type = J_OVERFLOW;
	r.time_ns = now_ns();
	if (journal_append(m->j, &r) < 0 || journal_flush(m->j) < 0)
		log_err("cannot write the journal %s", m->jdir);
	m->open_since = mono_ns();
	log_info("recording changes of %s with %s", cfg->primary,
	    m->w.detector);
}

static void
stop_recording(struct monitor *m)
{
	recorder_close(m->rec);
	m->rec = NULL;
	if (m->rootfd >= 0)
		close(m->rootfd);
	m->rootfd = -1;
}

static void
send_line(struct monitor *m, const char *line)
{
	if (m->chan >= 0 && write_full(m->chan, line, strlen(line)) < 0 &&
	    errno != EPIPE)
		log_sys(LOG_LVL_WARN, "write to the worker");
}

/* Read what the recorder has; -1 when recording broke (a full crawl then
 * follows at the next start of recording). */
static void
drain_recorder(struct monitor *m)
{
	if (m->rec == NULL)
		return;
	ssize_t n = recorder_drain(m->rec);
	if (n > 0 && m->open_since == 0)
		m->open_since = mono_ns();
	if (n < 0 || journal_flush(m->j) < 0) {
		log_err("recording stopped: the next turn crawls");
		stop_recording(m);
		start_recording(m);
	}
}

/*
 * While no worker runs (the secondary is away, say), segments pile up; past
 * what a worker would read as a batch anyway (a full crawl), they are
 * replaced by one OVERFLOW record: the journal stays small however long the
 * outage, and the next worker crawls, as it would have.
 */
#define BACKLOG_MAX	256

static void
fold_backlog(struct monitor *m)
{
	uint64_t *seqs = NULL;
	size_t n = 0;
	struct jrec r;

	if (journal_list(m->jdir, &seqs, &n) < 0 || n <= BACKLOG_MAX) {
		free(seqs);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.type = J_OVERFLOW;
	r.time_ns = now_ns();
	if (journal_append(m->j, &r) < 0 || journal_flush(m->j) < 0) {
		free(seqs);
		return;
	}
	if (m->open_since == 0)
		m->open_since = mono_ns();
	for (size_t i = 0; i < n; i++)
		if (journal_remove(m->jdir, seqs[i]) < 0)
			log_sys(LOG_LVL_WARN, "remove the journal segment %llu",
			    (unsigned long long)seqs[i]);
	log_info("%zu journal segments wait for the worker: replaced by a "
	    "full crawl at its next start", n);
	free(seqs);
}

/* Seal the open segment.  Everything recorded before `t` is in it (the
 * recorder was drained after t was taken). */
static void
cut(struct monitor *m)
{
	int64_t t = now_ns();
	uint64_t seq;
	struct jrec r;

	drain_recorder(m);
	if (m->j == NULL || journal_pending(m->j) == 0)
		return;
	memset(&r, 0, sizeof(r));
	r.type = J_CUT;
	r.time_ns = t;
	if (journal_append(m->j, &r) < 0 || journal_cut(m->j, &seq) < 0) {
		log_err("cannot cut the journal %s", m->jdir);
		return;
	}
	if (m->rec)
		recorder_segment_cut(m->rec);
	m->open_since = 0;
	m->last_cut = seq;
	if (m->worker == 0)
		fold_backlog(m);
	if (m->waiting) {
		m->waiting = false;
		send_line(m, "s\n");
	}
}

/* The worker is idle with every segment up to `applied` done. */
static void
on_request(struct monitor *m, uint64_t applied)
{
	int64_t t = now_ns();
	char line[40];

	drain_recorder(m);
	m->applied = applied;
	m->waiting = true;
	if (m->j && journal_pending(m->j)) {
		cut(m);
	} else if (m->last_cut > applied) {
		m->waiting = false;
		send_line(m, "s\n");
	} else {
		snprintf(line, sizeof(line), "i %lld\n", (long long)t);
		send_line(m, line);
	}
}

static void
read_chan(struct monitor *m)
{
	ssize_t n = read(m->chan, m->in + m->inlen, sizeof(m->in) - m->inlen);
	char *nl;

	if (n <= 0) {
		if (n == 0 || errno != EINTR) {
			close(m->chan);	/* the worker is gone: reaped soon */
			m->chan = -1;
			m->waiting = false;
		}
		return;
	}
	m->inlen += (size_t)n;
	while ((nl = memchr(m->in, '\n', m->inlen)) != NULL) {
		*nl = '\0';
		if (m->in[0] == 'r')
			on_request(m, strtoull(m->in + 1, NULL, 10));
		size_t used = (size_t)(nl + 1 - m->in);
		memmove(m->in, nl + 1, m->inlen - used);
		m->inlen -= used;
	}
	if (m->inlen == sizeof(m->in))
		m->inlen = 0;
}

static void
spawn_worker(struct monitor *m)
{
	int sv[2] = { -1, -1 };

	if (m->rec == NULL && m->w.cfg->change_detector != DETECT_CRAWL &&
	    m->rootfd < 0)
		start_recording(m);	/* the primary is back */
	if (m->rec && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv) < 0) {
		log_sys(LOG_LVL_ERR, "socketpair");
		m->restart_at = mono_ns() + m->backoff * 1000000;
		return;
	}
	m->began = mono_ns();
	pid_t pid = fork();
	if (pid < 0) {
		log_sys(LOG_LVL_ERR, "fork a worker");
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		m->restart_at = mono_ns() + m->backoff * 1000000;
		return;
	}
	if (pid == 0) {
		/* The worker ends with its monitor and wakes on its own
		 * pipe; it holds nothing else of the monitor's. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(0);
		close_wake();
		install_signals();
		recorder_close(m->rec);
		journal_close(m->j);
		if (m->listenfd >= 0)
			close(m->listenfd);
		if (sv[0] >= 0)
			close(sv[0]);
		m->w.chan = sv[1];
		_exit(worker_run(&m->w));
	}
	if (sv[1] >= 0)
		close(sv[1]);
	m->worker = pid;
	m->chan = sv[0];
	m->inlen = 0;
	m->waiting = false;
	m->applied = 0;
	m->restart_at = 0;
}

/* The worker ended: Faulty, with what it said, and a restart later. */
static void
worker_ended(struct monitor *m, int wstatus)
{
	struct worker *w = &m->w;
	char detail[1200];

	m->worker = 0;
	if (m->chan >= 0)
		close(m->chan);
	m->chan = -1;
	m->waiting = false;
	if (sig_stop)
		return;
	status_release(&w->st);
	status_load(&w->st, w->dir);
	w->st.started_at = m->w.st.started_at ? m->w.st.started_at : now_ns();
	w->st.pid = (int)getpid();
	if (mono_ns() - m->began > 60 * 1000000000LL)
		m->backoff = 1000;
	snprintf(detail, sizeof(detail), "%s%sthe worker %s %d; retrying in "
	    "%lld s", w->st.detail ? w->st.detail : "", w->st.detail ? "; " :
	    "", WIFSIGNALED(wstatus) ? "was killed by signal" :
	    "exited with status", WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) :
	    WEXITSTATUS(wstatus), (long long)(m->backoff / 1000));
	log_warn("%s", detail);
	snprintf(w->st.state, sizeof(w->st.state), "Faulty");
	status_set_detail(&w->st, detail);
	worker_save_status(w);
	m->restart_at = mono_ns() + m->backoff * 1000000;
	m->backoff = m->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    m->backoff * 2;
}

static void
reap(struct monitor *m)
{
	int wstatus;
	pid_t pid;

	sig_child = 0;
	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
		if (pid == m->worker)
			worker_ended(m, wstatus);
}

/* ---- status on the socket ---- */

static int
open_socket(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path = session_path(dir, SF_SOCK);
	int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warn("%s: too long for a socket; status is read from "
		    "status.json", path);
		goto out;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (unlink(path) < 0 && errno != ENOENT)
		log_sys(LOG_LVL_WARN, "remove %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		log_sys(LOG_LVL_WARN, "status socket %s", path);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
out:
	free(path);
	return fd;
}

/* One reader: the status as the worker last wrote it, with what only the
 * monitor knows -- an idle worker with nothing recorded since is in step
 * (lag 0), and the records not yet applied. */
static void
serve_status(struct monitor *m)
{
	struct status st;
	int fd = accept4(m->listenfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (status_load(&st, m->w.dir) < 0)
		status_init(&st);
	drain_recorder(m);
	size_t pending = m->j ? journal_pending(m->j) : 0;
	if (m->worker && m->waiting && pending == 0 && st.failure_count == 0 &&
	    strcmp(st.state, "Changelog Crawl") == 0)
		st.last_synced = now_ns();
	st.entries_pending = pending;
	char *text = status_to_text(&st);
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (write_full(fd, text, strlen(text)) < 0)
		log_sys(LOG_LVL_DEBUG, "status reader");
	free(text);
	close(fd);
	status_release(&st);
}

/* ---- the loop ---- */

static int
poll_timeout(const struct monitor *m)
{
	int64_t now = mono_ns(), ms = INT32_MAX;

	if (m->worker == 0 && m->restart_at)
		ms = (m->restart_at - now) / 1000000 + 1;
	if (m->open_since) {
		int64_t due = (m->open_since + m->w.cfg->change_interval_ms *
		    1000000 - now) / 1000000 + 1;
		if (due < ms)
			ms = due;
	}
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void
monitor_loop(struct monitor *m)
{
	while (!sig_stop) {
		if (m->worker == 0 && mono_ns() >= m->restart_at)
			spawn_worker(m);
		struct pollfd p[4] = {
			{ .fd = wake_fd(), .events = POLLIN },
			{ .fd = m->rec ? recorder_fd(m->rec) : -1,
			    .events = POLLIN },
			{ .fd = m->chan, .events = POLLIN },
			{ .fd = m->listenfd, .events = POLLIN },
		};
		if (poll(p, 4, poll_timeout(m)) < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		if (p[0].revents)
			drain_wake();
		if (sig_child)
			reap(m);
		if (sig_wake) {
			sig_wake = 0;
			if (m->worker)
				kill(m->worker, SIGUSR1);
		}
		if (p[1].revents)
			drain_recorder(m);
		if (p[2].revents && m->chan >= 0)
			read_chan(m);
		if (p[3].revents)
			serve_status(m);
		if (m->j && journal_pending(m->j) && (m->waiting ||
		    mono_ns() - m->open_since >= m->w.cfg->change_interval_ms *
		    1000000))
			cut(m);
	}
}

int
monitor_run(const char *name, const char *dir, struct config *cfg, int lockfd)
{
	struct monitor m;

	memset(&m, 0, sizeof(m));
	m.w.name = name;
	m.w.dir = dir;
	m.w.cfg = cfg;
	m.w.chan = -1;
	m.rootfd = -1;
	m.chan = -1;
	m.backoff = 1000;
	m.jdir = session_path(dir, SF_JOURNAL);
	status_load(&m.w.st, dir);
	m.w.st.started_at = now_ns();
	m.w.st.pid = (int)getpid();
	install_signals();
	(void)lockfd;	/* held open (and locked) until the process ends */
	log_info("session %s: %s -> %s, monitor pid %d", name, cfg->primary,
	    cfg->secondary, (int)getpid());
	start_recording(&m);
	m.listenfd = open_socket(dir);
	monitor_loop(&m);
	if (m.worker) {
		kill(m.worker, SIGTERM);
		int wstatus;
		while (waitpid(m.worker, &wstatus, 0) < 0 && errno == EINTR)
			;
	}
	cut(&m);	/* what was recorded is kept (the next start crawls) */
	stop_recording(&m);
	journal_close(m.j);
	if (m.listenfd >= 0) {
		char *path = session_path(dir, SF_SOCK);
		close(m.listenfd);
		unlink(path);
		free(path);
	}
	status_release(&m.w.st);
	status_load(&m.w.st, dir);
	snprintf(m.w.st.state, sizeof(m.w.st.state), "Stopped");
	status_set_detail(&m.w.st, NULL);
	m.w.st.started_at = 0;
	m.w.st.pid = 0;
	worker_save_status(&m.w);
	status_release(&m.w.st);
	free(m.jdir);
	log_info("session %s stopped", name);
	return 0;
}
