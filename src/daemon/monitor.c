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
 *
 * The primary: the monitor holds its root open from the start, and checks
 * every PRIMARY_CHECK_MS that the configured path still names that very
 * directory.  One moved away (or replaced) would otherwise be followed
 * silently, by the recorder and by a worker holding it open: the session
 * goes Faulty with the reason instead, recording and the worker stop, and
 * both start again (with a full crawl) once the path holds it again.
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
#include <sys/stat.h>
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
#include "../status/metrics.h"
#include "../sync/contact.h"
#include "scrape.h"
#include "session.h"
#include "daemon.h"
#include "../common/banned.h"

#define BACKOFF_MIN_MS		1000
#define BACKOFF_MAX_MS		60000
#define PRIMARY_CHECK_MS	1000

/* A sealed segment not yet applied, and how many records it holds. */
struct sealed {
	uint64_t seq;
	size_t records;
};

struct monitor {
	struct worker w;	/* what the worker starts from */
	bool foreground;
	const char *log_path;	/* NULL: standard error, not reopened */
	char *log_desc;		/* where the log is, as status shows it */
	int64_t lost_at;	/* mono ns: the first of the workers that failed
				 * since the last one reached the secondary */
	unsigned attempts;	/* workers failed since */
	char *jdir;
	struct journal *j;
	struct recorder *rec;
	/* The primary the session runs on: its root held open, and who it
	 * is (device and inode for the quick check, volume id for sure). */
	int rootfd;
	dev_t root_dev;
	ino_t root_ino;
	char *volume;
	bool primary_lost;
	int64_t next_check;
	char note[1024];
	char lost_note[1024];	/* the reason the primary is lost, as saved */
	int listenfd;
	struct scrape *scrape;	/* metrics_listen; NULL: off */
	pid_t worker;		/* 0: none running */
	int chan;
	char in[256];
	size_t inlen;
	bool waiting;		/* the worker asked and has no segment */
	uint64_t applied;	/* the worker's last applied segment */
	uint64_t last_cut;
	struct sealed *sealed;	/* cut by this monitor, not applied yet */
	size_t nsealed, capsealed;
	int64_t open_since;	/* mono ns of the open segment's first record */
	int64_t restart_at;	/* mono ns; the worker starts again then */
	int64_t backoff;	/* ms */
	bool connected;		/* the running worker reached the secondary */
	pid_t verifier;		/* georep verify, run every verify_interval */
	struct clockwatch clock;	/* a step back moves synced back */
	int64_t verify_at;	/* mono ns: the next one (0: not planned) */
	/* The sync point as known here (a worker idle with nothing pending
	 * is in step now): what status showed once stays, even when the
	 * session pauses or stops. */
	int64_t synced;
	bool reload;		/* the worker was told to finish (SIGHUP) */
	uint64_t config_digest;	/* of the config in use */
	uint64_t worker_digest;	/* of the one the running worker has */
};

/* ---- the primary ---- */

/* Open the primary where the config says, and learn who it is: 0, or -1
 * with the reason in m->note. */
static int
primary_open(struct monitor *m)
{
	const char *path = m->w.cfg->primary;
	struct stat st;
	struct fid root;
	uint64_t fsid;

	m->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->rootfd < 0 || fstat(m->rootfd, &st) < 0) {
		snprintf(m->note, sizeof(m->note), "the primary %s: %s", path,
		    strerror(errno));
		if (m->rootfd >= 0)
			close(m->rootfd);
		m->rootfd = -1;
		return -1;
	}
	m->root_dev = st.st_dev;
	m->root_ino = st.st_ino;
	m->volume = volume_id(m->rootfd, path, &fsid, &root);
	if (m->volume == NULL) {
		snprintf(m->note, sizeof(m->note), "the primary %s: no file "
		    "handles on its filesystem", path);
		close(m->rootfd);
		m->rootfd = -1;
		return -1;
	}
	return 0;
}

/* Whether the configured path names the directory held open; else why
 * not, in m->note. */
static bool
primary_in_place(struct monitor *m)
{
	const char *path = m->w.cfg->primary;
	struct stat st;

	if (m->rootfd < 0) {
		/* Missing since the start: it is back once it opens. */
		free(m->volume);
		m->volume = NULL;
		return primary_open(m) == 0;
	}
	if (stat(path, &st) < 0) {
		snprintf(m->note, sizeof(m->note), "the primary %s is gone (%s): "
		    "moved or removed while the session ran; waiting for it "
		    "to come back", path, strerror(errno));
		return false;
	}
	if (st.st_dev != m->root_dev || st.st_ino != m->root_ino) {
		snprintf(m->note, sizeof(m->note), "the primary %s is not the "
		    "directory this session started on (it was moved away or "
		    "replaced: inode %llu there, %llu expected); nothing is "
		    "replicated until it is back", path,
		    (unsigned long long)st.st_ino,
		    (unsigned long long)m->root_ino);
		return false;
	}
	return true;
}

/* ---- recording ---- */

static enum recorder_kind
first_kind(enum detector d)
{
	if (d == DETECT_FANOTIFY)
		return RECORDER_FANOTIFY;
	if (d == DETECT_INOTIFY)
		return RECORDER_INOTIFY;
	return geteuid() == 0 ? RECORDER_FANOTIFY : RECORDER_INOTIFY;
}

static void
append_overflow(struct monitor *m)
{
	struct jrec r;

	memset(&r, 0, sizeof(r));
	r.type = J_OVERFLOW;
	r.time_ns = now_ns();
	if (journal_append(m->j, &r) < 0 || journal_flush(m->j) < 0)
		log_err("cannot write the journal %s", m->jdir);
	if (m->open_since == 0)
		m->open_since = mono_ns();
}

/* Open the recorder the config asks for, falling back from fanotify to
 * inotify to crawl mode, each fallback said in the log and in status. */
static void
start_recording(struct monitor *m)
{
	struct config *cfg = m->w.cfg;
	struct recorder_opts ro = { 0 };
	char err[512];
	static char fallback[1024];

	m->w.detector = "crawl";
	m->w.detector_note = NULL;
	if (cfg->change_detector == DETECT_CRAWL || m->rootfd < 0)
		return;
	if (m->j == NULL && journal_open(&m->j, m->jdir, false) < 0) {
		snprintf(fallback, sizeof(fallback), "cannot open the journal "
		    "%s: crawl mode", m->jdir);
		m->w.detector_note = fallback;
		return;
	}
	free(volume_id(m->rootfd, cfg->primary, &ro.fsid, &ro.root));
	ro.primary = cfg->primary;
	ro.rootfd = m->rootfd;
	ro.kind = first_kind(cfg->change_detector);
	fallback[0] = '\0';
	if (recorder_open(&m->rec, &ro, m->j, err, sizeof(err)) < 0 &&
	    ro.kind == RECORDER_FANOTIFY) {
		snprintf(fallback, sizeof(fallback), "fanotify is not available "
		    "(%s): using inotify", err);
		log_warn("%s", fallback);
		ro.kind = RECORDER_INOTIFY;
		if (recorder_open(&m->rec, &ro, m->j, err, sizeof(err)) < 0)
			m->rec = NULL;
	}
	if (m->rec == NULL) {
		snprintf(fallback, sizeof(fallback), "no change notification "
		    "(%s): crawl mode, every %lld ms", err,
		    (long long)cfg->crawl_interval_ms);
		log_warn("%s", fallback);
		m->w.detector_note = fallback;
		return;
	}
	if (fallback[0])
		m->w.detector_note = fallback;
	m->w.detector = recorder_kind_name(ro.kind);
	/* Before this, nothing was recorded: the first turn crawls. */
	append_overflow(m);
	log_info("recording changes of %s with %s", cfg->primary,
	    m->w.detector);
}

static void
stop_recording(struct monitor *m)
{
	recorder_close(m->rec);
	m->rec = NULL;
}

static void
send_line(struct monitor *m, const char *line)
{
	if (m->chan >= 0 && write_full(m->chan, line, strlen(line)) < 0 &&
	    errno != EPIPE)
		log_sys(LOG_LVL_WARN, "write to the worker");
}

/* Read what the recorder has (a full crawl follows when recording broke:
 * it starts again with an OVERFLOW record). */
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

/* ---- segments ---- */

/* The records recorded and not yet applied. */
static uint64_t
changes_pending(struct monitor *m)
{
	uint64_t n = m->j ? journal_pending(m->j) : 0;

	for (size_t i = 0; i < m->nsealed; i++)
		n += m->sealed[i].records;
	return n;
}

static void
sealed_applied(struct monitor *m, uint64_t applied)
{
	size_t keep = 0;

	for (size_t i = 0; i < m->nsealed; i++)
		if (m->sealed[i].seq > applied)
			m->sealed[keep++] = m->sealed[i];
	m->nsealed = keep;
}

/* Whether a sealed segment after `applied` is still on disk: a worker that
 * restarted does not know the segments its predecessor applied. */
static bool
sealed_after(struct monitor *m, uint64_t applied)
{
	uint64_t *seqs = NULL;
	size_t n = 0;
	bool any;

	if (journal_list(m->jdir, &seqs, &n) < 0) {
		log_sys(LOG_LVL_WARN, "list the journal %s", m->jdir);
		return true;	/* let the worker look */
	}
	any = n > 0 && seqs[n - 1] > applied;
	free(seqs);
	return any;
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

	if (journal_list(m->jdir, &seqs, &n) < 0 || n <= BACKLOG_MAX) {
		free(seqs);
		return;
	}
	append_overflow(m);
	for (size_t i = 0; i < n; i++)
		if (journal_remove(m->jdir, seqs[i]) < 0)
			log_sys(LOG_LVL_WARN, "remove the journal segment %llu",
			    (unsigned long long)seqs[i]);
	m->nsealed = 0;
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
	size_t records = journal_pending(m->j);
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
	XGROW(m->sealed, m->capsealed, m->nsealed + 1);
	m->sealed[m->nsealed].seq = seq;
	m->sealed[m->nsealed++].records = records;
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
	sealed_applied(m, applied);
	m->waiting = true;
	if (m->j && journal_pending(m->j)) {
		cut(m);
	} else if (m->last_cut > applied && sealed_after(m, applied)) {
		m->waiting = false;
		send_line(m, "s\n");
	} else {
		/* Nothing recorded before t is left to apply. */
		snprintf(line, sizeof(line), "i %lld\n", (long long)t);
		send_line(m, line);
	}
}

/* The worker reached the secondary: a line, and after failures, how long
 * the session was without it. */
static void
on_connected(struct monitor *m)
{
	m->connected = true;
	if (m->lost_at == 0) {
		log_info("connected to %s", m->w.cfg->secondary);
		return;
	}
	log_info("reconnected to %s, %.1f s after the first failure (%u "
	    "failed %s)", m->w.cfg->secondary, (double)(mono_ns() -
	    m->lost_at) / 1e9, m->attempts, m->attempts == 1 ? "attempt" :
	    "attempts");
	m->lost_at = 0;
	m->attempts = 0;
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
		else if (m->in[0] == 't')
			m->backoff = BACKOFF_MIN_MS;	/* progress */
		else if (m->in[0] == 'c')
			on_connected(m);
		size_t used = (size_t)(nl + 1 - m->in);
		memmove(m->in, nl + 1, m->inlen - used);
		m->inlen -= used;
	}
	if (m->inlen == sizeof(m->in))
		m->inlen = 0;
}

/* ---- the worker ---- */

/* The worker starts from the status as it is now (the last worker's
 * counters and checkpoint), with the monitor's start time and pid. */
static void
refresh_status(struct monitor *m)
{
	struct status *st = &m->w.st;
	int64_t started = st->started_at;

	status_release(st);
	status_load(st, m->w.dir);
	st->started_at = started;
	st->pid = (int)getpid();
}

static void
spawn_worker(struct monitor *m)
{
	int sv[2];

	m->connected = false;
	refresh_status(m);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_sys(LOG_LVL_ERR, "socketpair");
		m->restart_at = mono_ns() + m->backoff * 1000000;
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_sys(LOG_LVL_ERR, "fork a worker");
		close(sv[0]);
		close(sv[1]);
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
		scrape_close(m->scrape);
		close(m->rootfd);
		close(sv[0]);
		m->w.chan = sv[1];
		m->w.journal = m->rec != NULL;
		_exit(worker_run(&m->w));
	}
	close(sv[1]);
	m->worker = pid;
	m->worker_digest = m->config_digest;
	m->chan = sv[0];
	m->inlen = 0;
	m->waiting = false;
	m->applied = 0;
	m->restart_at = 0;
}

/* Faulty, with the reason, in the status file (no worker runs). */
static void
save_faulty(struct monitor *m, const char *detail)
{
	struct worker *w = &m->w;

	status_release(&w->st);
	status_load(&w->st, w->dir);
	w->st.started_at = w->st.started_at ? w->st.started_at : now_ns();
	w->st.pid = (int)getpid();
	if (m->synced > w->st.last_synced)
		w->st.last_synced = m->synced;
	w->st.state = STATE_FAULTY;
	memset(&w->st.turn, 0, sizeof(w->st.turn));
	w->st.entries_pending = w->st.data_pending = w->st.meta_pending = 0;
	status_set_detail(&w->st, detail);
	worker_save_status(w);
}

/*
 * Whether the worker was cut short from outside, and is restarted after
 * BACKOFF_MIN_MS without the backoff growing: killed (SIGKILL, SIGTERM,
 * SIGINT: an administrator, the OOM killer), or its link lost once it
 * had reached the secondary (the secondary killed, the network cut).
 * Each such cut costs a second, not a doubling: four in a row took a
 * minute before.  What repeats by itself -- a secondary out of reach, a
 * crash (SIGSEGV, SIGABRT), a failing turn -- still backs off to a minute.
 */
static bool
cut_short(struct monitor *m, int wstatus)
{
	bool connected = m->connected;

	m->connected = false;
	if (WIFSIGNALED(wstatus))
		return WTERMSIG(wstatus) == SIGKILL ||
		    WTERMSIG(wstatus) == SIGTERM || WTERMSIG(wstatus) == SIGINT;
	return connected && WIFEXITED(wstatus) &&
	    WEXITSTATUS(wstatus) == EX_UNAVAILABLE;
}

/* The worker ended: at once again when it was told to reload, else
 * Faulty, with what it said, and a restart later. */
static void
worker_ended(struct monitor *m, int wstatus)
{
	struct worker *w = &m->w;
	char detail[1400];

	m->worker = 0;
	if (m->chan >= 0)
		close(m->chan);
	m->chan = -1;
	m->waiting = false;
	if (sig_stop)
		return;
	if (m->reload && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		m->reload = false;
		m->restart_at = mono_ns();
		log_info("the worker restarts with the new settings");
		return;
	}
	m->reload = false;
	bool soon = cut_short(m, wstatus);
	int64_t delay = soon ? BACKOFF_MIN_MS : m->backoff;
	status_release(&w->st);
	status_load(&w->st, w->dir);
	snprintf(detail, sizeof(detail), "%s%sthe worker %s %d; retrying in "
	    "%lld s", w->st.detail ? w->st.detail : "", w->st.detail ? "; " :
	    "", WIFSIGNALED(wstatus) ? "was killed by signal" :
	    "exited with status", WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) :
	    WEXITSTATUS(wstatus), (long long)(delay / 1000));
	log_warn("%s", detail);
	save_faulty(m, detail);
	if (m->lost_at == 0)
		m->lost_at = mono_ns();
	m->attempts++;
	m->restart_at = mono_ns() + delay * 1000000;
	if (!soon)
		m->backoff = m->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    m->backoff * 2;
}

/* ---- verify on a timer ---- */

/* Plan the next verify one interval from now (none when it is off). */
static void
plan_verify(struct monitor *m)
{
	int64_t iv = m->w.cfg->verify_interval_ms;

	m->verify_at = iv > 0 ? mono_ns() + iv * 1000000 : 0;
}

/*
 * `georep verify --repair --log` of this session, in a process of its own:
 * it reads both trees while the worker goes on, writes its differences
 * into the log and its result into status (verify.json), and hands what
 * differs to the worker (the repair list, and SIGUSR1 to us).
 */
static void
start_verify(struct monitor *m)
{
	const char *dir = m->w.dir;
	const char *slash = strrchr(dir, '/');
	size_t hl = slash ? (size_t)(slash - dir) : 0;

	/* HOME/sessions/NAME: HOME is two components up. */
	while (hl > 0 && dir[hl - 1] != '/')
		hl--;
	char *home = hl > 1 ? xstrndup(dir, hl - 1) : xstrdup("/");
	const char *argv[] = { "georep", "verify", "--repair", "--log",
	    "--home", home, m->w.name, NULL };
	const char *exe = self_exe();
	pid_t pid = fork();
	if (pid < 0) {
		log_sys(LOG_LVL_ERR, "fork georep verify");
	} else if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 0);
		dup2(2, 1);
		execv(exe, (char *const *)argv);
		_exit(EX_OSERR);
	} else {
		m->verifier = pid;
		log_info("verify started (verify_interval), pid %d", (int)pid);
	}
	free(home);
	m->verify_at = 0;
	if (pid < 0)
		plan_verify(m);
}

static void
verify_ended(struct monitor *m, int wstatus)
{
	m->verifier = 0;
	plan_verify(m);
	/* 0 identical, 1 differences (logged by verify itself). */
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) > 1)
		log_warn("verify ended with %s %d", WIFSIGNALED(wstatus) ?
		    "signal" : "status", WIFSIGNALED(wstatus) ?
		    WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
}

static void
stop_verify(struct monitor *m)
{
	int wstatus;

	if (m->verifier == 0)
		return;
	kill(m->verifier, SIGTERM);
	while (waitpid(m->verifier, &wstatus, 0) < 0 && errno == EINTR)
		;
	m->verifier = 0;
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
		else if (pid == m->verifier)
			verify_ended(m, wstatus);
}

/* Stop the worker and wait for it (its turn is finished or dropped: a
 * dropped turn is reconciled by the next worker). */
static void
stop_worker(struct monitor *m)
{
	int wstatus;

	if (m->worker == 0)
		return;
	kill(m->worker, SIGTERM);
	while (waitpid(m->worker, &wstatus, 0) < 0 && errno == EINTR)
		;
	m->worker = 0;
	if (m->chan >= 0)
		close(m->chan);
	m->chan = -1;
	m->waiting = false;
}

/* Every PRIMARY_CHECK_MS: is the primary still where the config says?
 * Lost: Faulty, nothing recorded or applied.  Back: a full crawl. */
static void
check_primary(struct monitor *m)
{
	int64_t now = mono_ns();

	if (now < m->next_check)
		return;
	m->next_check = now + PRIMARY_CHECK_MS * 1000000LL;
	bool there = primary_in_place(m);
	if (!there && m->primary_lost && strcmp(m->note, m->lost_note) != 0) {
		/* Still lost, for another reason now (replaced, say). */
		snprintf(m->lost_note, sizeof(m->lost_note), "%s", m->note);
		log_err("%s", m->note);
		save_faulty(m, m->note);
	}
	if (there == !m->primary_lost)
		return;
	m->primary_lost = !there;
	if (!there) {
		snprintf(m->lost_note, sizeof(m->lost_note), "%s", m->note);
		log_err("%s", m->note);
		stop_worker(m);
		stop_recording(m);
		save_faulty(m, m->note);
		return;
	}
	log_info("the primary %s is back: recording again, with a full crawl",
	    m->w.cfg->primary);
	start_recording(m);
	m->restart_at = now;
}

/* ---- SIGHUP: the log and the config ---- */

static void
reopen_log(struct monitor *m)
{
	const char *path = m->log_path;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "reopen the log %s (the old one stays)",
		    path);
	} else {
		fflush(NULL);
		/* A daemon's standard output is its log too. */
		if ((!m->foreground && dup2(fd, 1) < 0) || dup2(fd, 2) < 0)
			log_sys(LOG_LVL_ERR, "reopen the log %s", path);
		close(fd);
		log_info("log reopened (SIGHUP)");
	}
}

/* Whether two configs replicate different things: what was left out
 * before is found by a full crawl only. */
static bool
scope_changed(const struct config *a, const struct config *b)
{
	if (a->nexclude != b->nexclude || a->ignore_deletes !=
	    b->ignore_deletes || a->sync_xattrs != b->sync_xattrs ||
	    a->sync_acls != b->sync_acls || a->one_file_system !=
	    b->one_file_system)
		return true;
	for (size_t i = 0; i < a->nexclude; i++)
		if (strcmp(a->exclude[i], b->exclude[i]) != 0)
			return true;
	return false;
}

/* Load the config file again; only what may change changes (primary and
 * secondary are fixed at create). */
static int
reload_config(struct monitor *m, bool *detector_changed, bool *rescan)
{
	struct config *cfg = m->w.cfg, c;
	char *path = session_path(m->w.dir, SF_CONFIG);
	char err[1024];

	config_init(&c);
	int rc = config_load(&c, path, err, sizeof(err));
	free(path);
	if (rc == 0 && (strcmp(c.primary, cfg->primary) != 0 ||
	    strcmp(c.secondary, cfg->secondary) != 0)) {
		snprintf(err, sizeof(err), "primary and secondary are fixed when "
		    "the session is created");
		rc = -1;
	}
	if (rc < 0) {
		log_err("reloading the config: %s; the settings in use stay",
		    err);
		config_release(&c);
		return -1;
	}
	*detector_changed = c.change_detector != cfg->change_detector;
	*rescan = scope_changed(&c, cfg);
	/* The recorder keeps a pointer to the primary's path. */
	free(c.primary);
	free(c.secondary);
	c.primary = cfg->primary;
	c.secondary = cfg->secondary;
	cfg->primary = cfg->secondary = NULL;
	config_release(cfg);
	*cfg = c;
	return 0;
}

static void open_metrics(struct monitor *m);

static void
on_hup(struct monitor *m)
{
	bool detector_changed = false, rescan = false;

	sig_hup = 0;
	if (m->log_path)
		reopen_log(m);
	char *metrics = m->w.cfg->metrics_listen ?
	    xstrdup(m->w.cfg->metrics_listen) : NULL;
	if (reload_config(m, &detector_changed, &rescan) < 0) {
		free(metrics);
		return;
	}
	const char *now_metrics = m->w.cfg->metrics_listen;
	/* Changed, or not had before (the port was taken): again. */
	if ((metrics == NULL) != (now_metrics == NULL) || (metrics &&
	    strcmp(metrics, now_metrics) != 0) || (now_metrics && !m->scrape))
		open_metrics(m);
	free(metrics);
	log_set_level((enum log_level)m->w.cfg->log_level);
	m->config_digest = session_config_digest(m->w.dir);
	log_info("config reloaded: the worker restarts with it after its turn");
	if (m->verifier == 0)
		plan_verify(m);	/* verify_interval may have changed */
	if (detector_changed && !m->primary_lost) {
		stop_recording(m);
		start_recording(m);	/* which crawls */
	} else if (rescan && m->j && m->rec) {
		log_info("what is replicated changed (exclude, ignore_deletes, "
		    "sync_xattrs, sync_acls or one_file_system): a full crawl "
		    "follows");
		append_overflow(m);
	}
	if (m->worker) {
		m->reload = true;
		kill(m->worker, SIGHUP);
	}
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

/* The status as the worker last wrote it, with what only the monitor
 * knows: the changes not yet applied, and the sync point -- an idle worker
 * with nothing recorded since is in step now, and what was shown once is
 * never taken back. */
static void
overlay(struct monitor *m, struct status *st)
{
	uint64_t pending = changes_pending(m);

	if (m->worker && m->waiting && pending == 0 &&
	    st->failure_count == 0 && st->state == STATE_CHANGELOG_CRAWL)
		m->synced = now_ns();
	/* A sync point not reached yet is from before the clock went
	 * back (watch_clock): not taken. */
	if (st->last_synced > m->synced && st->last_synced <= now_ns())
		m->synced = st->last_synced;
	st->last_synced = m->synced;
	st->changes_pending = pending;
	free(st->log);
	st->log = xstrdup(m->log_desc);
	st->config_applied = m->worker ? m->worker_digest : m->config_digest;
}

/* The status as a reader sees it now: the file, with the changes recorded
 * so far and the overlay (for the socket and the metrics). */
static void
live_status(struct monitor *m, struct status *st)
{
	if (status_load(st, m->w.dir) < 0)
		status_init(st);
	drain_recorder(m);
	overlay(m, st);
}

static void
serve_status(struct monitor *m)
{
	struct status st;
	int fd = accept4(m->listenfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	live_status(m, &st);
	char *text = status_to_text(&st);
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (write_full(fd, text, strlen(text)) < 0)
		log_sys(LOG_LVL_DEBUG, "status reader");
	free(text);
	close(fd);
	status_release(&st);
}

/* ---- metrics (metrics_listen) ---- */

/* The session's figures as status shows them now (scrape.h calls it). */
static char *
metrics_body(void *arg)
{
	struct monitor *m = arg;
	struct status st;

	live_status(m, &st);
	struct status_view v = { .name = m->w.name, .primary =
	    m->w.cfg->primary, .secondary = m->w.cfg->secondary, .log =
	    m->log_desc, .running = true };
	char *text = status_prometheus(&st, &v, 1, now_ns());
	status_release(&st);
	return text;
}

/* Serve metrics where metrics_listen says, or stop: at start, and when a
 * reload changes it.  A port that cannot be had is an error in the log;
 * replication goes on without metrics. */
static void
open_metrics(struct monitor *m)
{
	const char *want = m->w.cfg->metrics_listen;
	char err[256];

	scrape_close(m->scrape);
	m->scrape = NULL;
	if (want == NULL)
		return;
	m->scrape = scrape_open(want, err, sizeof(err));
	if (m->scrape == NULL)
		log_err("%s: metrics are not served", err);
	else
		log_info("metrics on http://%s%s/metrics", strchr(want, ':') ?
		    "" : "127.0.0.1:", want);
}

/* ---- the loop ---- */

static int
poll_timeout(const struct monitor *m)
{
	int64_t now = mono_ns(), ms = PRIMARY_CHECK_MS;

	if (m->worker == 0 && m->restart_at && !m->primary_lost) {
		int64_t due = (m->restart_at - now) / 1000000 + 1;
		if (due < ms)
			ms = due;
	}
	if (m->verify_at) {
		int64_t due = (m->verify_at - now) / 1000000 + 1;
		if (due < ms)
			ms = due;
	}
	if (m->open_since) {
		int64_t due = (m->open_since + m->w.cfg->change_interval_ms *
		    1000000 - now) / 1000000 + 1;
		if (due < ms)
			ms = due;
	}
	int scrape = m->scrape ? scrape_timeout_ms(m->scrape) : -1;
	if (scrape >= 0 && scrape < ms)
		ms = scrape;
	return ms < 0 ? 0 : (int)ms;
}

/* The clock stepped back: what the monitor shows of the sync point goes
 * back with it, as the worker's does (util.h, clockwatch). */
static void
watch_clock(struct monitor *m)
{
	int64_t bound = clockwatch_back(&m->clock);

	if (bound && m->synced > bound) {
		log_warn("the clock went back by %.3f s: the sync point goes "
		    "back with it", (double)(m->synced - bound) / 1e9);
		m->synced = bound;
	}
}

static void
monitor_loop(struct monitor *m)
{
	while (!sig_stop) {
		watch_clock(m);
		if (m->worker == 0 && !m->primary_lost &&
		    mono_ns() >= m->restart_at)
			spawn_worker(m);
		if (m->verify_at && m->verifier == 0 && !m->primary_lost &&
		    mono_ns() >= m->verify_at)
			start_verify(m);
		struct pollfd p[4 + SCRAPE_CLIENTS + 1] = {
			{ .fd = wake_fd(), .events = POLLIN },
			{ .fd = m->rec ? recorder_fd(m->rec) : -1,
			    .events = POLLIN },
			{ .fd = m->chan, .events = POLLIN },
			{ .fd = m->listenfd, .events = POLLIN },
		};
		size_t nscrape = m->scrape ? scrape_pollfds(m->scrape, p + 4,
		    SCRAPE_CLIENTS + 1) : 0;
		if (poll(p, 4 + nscrape, poll_timeout(m)) < 0 &&
		    errno != EINTR)
			fatal("poll: %s", strerror(errno));
		if (p[0].revents)
			drain_wake();
		if (sig_child)
			reap(m);
		if (sig_hup)
			on_hup(m);
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
		if (m->scrape)
			scrape_handle(m->scrape, p + 4, nscrape, metrics_body,
			    m);
		check_primary(m);
		if (m->j && journal_pending(m->j) && (m->waiting ||
		    mono_ns() - m->open_since >= m->w.cfg->change_interval_ms *
		    1000000))
			cut(m);
	}
}

/* The session stops: Stopped, with the sync point it reached. */
static void
save_stopped(struct monitor *m)
{
	struct worker *w = &m->w;

	status_release(&w->st);
	status_load(&w->st, w->dir);
	if (m->synced > w->st.last_synced)
		w->st.last_synced = m->synced;
	w->st.state = STATE_STOPPED;
	status_set_detail(&w->st, NULL);
	memset(&w->st.turn, 0, sizeof(w->st.turn));
	w->st.entries_pending = w->st.data_pending = w->st.meta_pending = 0;
	w->st.changes_pending = 0;
	w->st.started_at = 0;
	w->st.pid = 0;
	worker_save_status(w);
	status_release(&w->st);
}

int
monitor_run(const char *name, const char *dir, struct config *cfg,
    bool foreground, const char *log_path)
{
	struct monitor m;

	memset(&m, 0, sizeof(m));
	m.w.name = name;
	m.w.dir = dir;
	m.w.cfg = cfg;
	m.w.chan = -1;
	m.foreground = foreground;
	m.log_path = log_path;
	m.log_desc = xstrdup(log_path ? log_path : log_to_journal() ?
	    "the systemd journal (standard error)" : "standard error");
	log_set_tag(name);
	m.rootfd = -1;
	m.chan = -1;
	m.backoff = BACKOFF_MIN_MS;
	m.jdir = session_path(dir, SF_JOURNAL);
	m.config_digest = session_config_digest(dir);
	status_load(&m.w.st, dir);
	m.synced = m.w.st.last_synced;
	m.w.st.started_at = now_ns();
	install_signals();
	log_info("session %s: %s -> %s, monitor pid %d", name, cfg->primary,
	    cfg->secondary, (int)getpid());
	if (primary_open(&m) < 0) {
		/* Checked before it started; gone since: Faulty, and it
		 * starts when the primary comes back. */
		log_err("%s", m.note);
		m.primary_lost = true;
		save_faulty(&m, m.note);
	} else {
		start_recording(&m);
	}
	m.listenfd = open_socket(dir);
	open_metrics(&m);
	plan_verify(&m);
	monitor_loop(&m);
	stop_verify(&m);
	scrape_close(m.scrape);
	stop_worker(&m);
	cut(&m);	/* what was recorded is kept (the next start crawls) */
	stop_recording(&m);
	journal_close(m.j);
	if (m.listenfd >= 0) {
		char *path = session_path(dir, SF_SOCK);
		close(m.listenfd);
		unlink(path);
		free(path);
	}
	save_stopped(&m);
	if (m.rootfd >= 0)
		close(m.rootfd);
	free(m.volume);
	free(m.sealed);
	free(m.jdir);
	free(m.log_desc);
	log_info("session %s stopped", name);
	return 0;
}
