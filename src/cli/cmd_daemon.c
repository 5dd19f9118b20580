/*
 * The continuous side: georep start, stop, pause, resume, checkpoint.
 *
 * `start` runs a monitor (a daemon, or in the foreground under systemd).
 * The monitor holds the session's lock (sessions/NAME/lock, flock, with its
 * pid) for its whole life, runs one worker process and restarts it with
 * backoff when it fails, marking the session Faulty with the reason
 * meanwhile.  Signals: SIGTERM/SIGINT stop (the worker finishes or drops
 * its turn -- a dropped turn is reconciled at the next start), SIGUSR1
 * wakes the worker (a checkpoint, a resume).
 *
 * The worker connects to the secondary and runs turns: today, crawl turns
 * every crawl_interval (the fanotify/inotify recorder and journal-driven
 * turns are the next step; until then auto/fanotify/inotify run in crawl
 * mode, with a warning in the log and in status).  After every turn it
 * writes status.json: the sync point, counters, failures with their paths,
 * the checkpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../index/index.h"
#include "../protocol/conn.h"
#include "../status/status.h"
#include "../sync/sync.h"
#include "cli.h"
#include "../common/banned.h"

#define BACKOFF_MAX_MS	60000

/* ---- the lock ---- */

/* The pid of the running monitor, or 0 (-1: running, pid unknown). */
pid_t
running_pid(const char *dir)
{
	char *path = xasprintf("%s/lock", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[32] = "";
	pid_t pid = 0;

	free(path);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			pid = (pid_t)atoi(buf);
		}
		if (pid <= 0)
			pid = -1;	/* running, pid unknown */
	}
	close(fd);
	return pid;
}

static int
take_lock(const char *dir, int *fdp)
{
	char *path = xasprintf("%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char buf[32];

	free(path);
	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "open %s/lock", dir);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		errno = EWOULDBLOCK;
		return -1;
	}
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_sys(LOG_LVL_WARN, "write the pid to %s/lock", dir);
	*fdp = fd;
	return 0;
}

/* ---- signals: flags, and a pipe that wakes a sleeper ---- */

static volatile int sig_stop;
static volatile int sig_wake;
static int wake_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;
	char c = 0;

	if (sig == SIGUSR1)
		sig_wake = 1;
	else if (sig == SIGTERM || sig == SIGINT)
		sig_stop = 1;
	if (wake_pipe[1] >= 0) {
		ssize_t n = write(wake_pipe[1], &c, 1);
		(void)n;	/* a full pipe: a wake-up is pending anyway */
	}
	errno = saved;
}

static void
install_signals(void)
{
	struct sigaction sa;

	if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		fatal("pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
}

/* Sleep up to ms, or until a signal arrives. */
static void
nap(int64_t ms)
{
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };
	char buf[64];

	if (sig_stop || sig_wake)
		return;
	if (poll(&p, 1, ms > INT32_MAX ? INT32_MAX : (int)ms) > 0)
		while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
			;
}

/* ---- the worker ---- */

struct worker {
	const char *name, *dir;
	struct config *cfg;
	struct status st;
	int64_t checkpoint_seen;
};

static void
save_status(struct worker *w)
{
	if (status_save(&w->st, w->dir) < 0)
		log_err("cannot write the status of %s", w->name);
}

static int64_t
read_checkpoint(const char *dir)
{
	char *path = xasprintf("%s/checkpoint", dir);
	FILE *f = fopen(path, "re");
	long long v = 0;

	free(path);
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lld", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static bool
is_paused(const char *dir)
{
	char *path = xasprintf("%s/paused", dir);
	bool p = access(path, F_OK) == 0;

	free(path);
	return p;
}

static void
set_state(struct worker *w, const char *state, const char *detail)
{
	snprintf(w->st.state, sizeof(w->st.state), "%s", state);
	status_set_detail(&w->st, detail);
	save_status(w);
}

static void
after_turn(struct worker *w, const struct sync_stats *s)
{
	w->st.files_synced += s->files_sent;
	w->st.bytes_synced += s->bytes_sent;
	status_set_failures(&w->st, s->fail_path, s->fail_error, s->nfail,
	    s->errors);
	if (s->sync_point > w->st.last_synced)
		w->st.last_synced = s->sync_point;
	/* A checkpoint completes when the sync point passes it; the sync
	 * point only moves on a turn without failures, so nothing parked
	 * from before it can be pending. */
	if (w->st.checkpoint && !w->st.checkpoint_completed &&
	    w->st.last_synced >= w->st.checkpoint) {
		w->st.checkpoint_completed = true;
		w->st.checkpoint_completed_at = now_ns();
		char t[40];
		format_rfc3339(w->st.checkpoint, t, sizeof(t));
		log_info("checkpoint %s completed", t);
	}
}

static int
worker_run(struct worker *w)
{
	struct sync_target tgt = { .rootfd = -1 };
	struct sync_opts o = { 0 };
	struct index *ix = NULL;
	struct conn c;
	struct hello_result h;
	char *volume = NULL, *ixdir = NULL;
	int code = EX_UNAVAILABLE;
	char detail[1024];

	conn_init(&c, w->cfg->secondary, (int)w->cfg->timeout_ms);
	free(w->st.detector);
	w->st.detector = xstrdup("crawl");
	if (w->cfg->change_detector != DETECT_CRAWL)
		log_warn("change detection by fanotify/inotify is not built yet: "
		    "%s runs in crawl mode, every %lld ms", w->name,
		    (long long)w->cfg->crawl_interval_ms);
	tgt.rootfd = open(w->cfg->primary, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tgt.rootfd < 0) {
		snprintf(detail, sizeof(detail), "primary %s: %s",
		    w->cfg->primary, strerror(errno));
		code = EX_NOINPUT;
		goto fail;
	}
	volume = volume_id(tgt.rootfd, w->cfg->primary, &tgt.fsid, &tgt.root);
	ixdir = xasprintf("%s/index", w->dir);
	if (volume == NULL || open_index(ixdir, volume, &ix) < 0) {
		snprintf(detail, sizeof(detail), "cannot open the index of %s",
		    w->cfg->primary);
		code = EX_IOERR;
		goto fail;
	}
	if (conn_spawn_local(&c, self_exe(), w->cfg->secondary) < 0 ||
	    say_hello(&c, volume, false, &h, &code) < 0 ||
	    reconcile_hello(&c, ix, &h, false, w->cfg->secondary, &code) < 0) {
		snprintf(detail, sizeof(detail), "the secondary %s: %s",
		    w->cfg->secondary, c.failed ? c.error :
		    "refused (see the log)");
		goto fail;
	}
	tgt.secondary_privileged = h.privileged;
	o.excludes = (const char *const *)w->cfg->exclude;
	o.nexcludes = w->cfg->nexclude;
	o.ignore_deletes = w->cfg->ignore_deletes;
	o.no_xattrs = !w->cfg->sync_xattrs;
	o.no_acls = !w->cfg->sync_acls;
	o.stop = &sig_stop;
	o.no_fsync = getenv("GEOREP_TEST_NO_FSYNC") != NULL;
	bool first = w->st.last_synced == 0;
	while (!sig_stop) {
		sig_wake = 0;
		/* A new checkpoint shows as pending at once, paused or not. */
		int64_t cp = read_checkpoint(w->dir);
		bool cp_new = cp != w->st.checkpoint;
		if (cp_new) {
			w->st.checkpoint = cp;
			w->st.checkpoint_completed = false;
			w->st.checkpoint_completed_at = 0;
		}
		if (is_paused(w->dir)) {
			if (strcmp(w->st.state, "Paused") != 0 || cp_new)
				set_state(w, "Paused", NULL);
			nap(INT32_MAX);
			continue;
		}
		set_state(w, first ? "Initializing" : "Hybrid Crawl",
		    w->cfg->change_detector == DETECT_CRAWL ? NULL :
		    "change detection by fanotify/inotify is not built yet: "
		    "crawl mode");
		struct sync_stats s = { 0 };
		int rc = sync_turn(&o, &tgt, ix, &c, &s);
		if (rc == 2) {
			/* Reconciled fully by the next turn: its report alone. */
			sync_stats_release(&s);
			memset(&s, 0, sizeof(s));
			rc = sync_turn(&o, &tgt, ix, &c, &s);
		}
		if (rc < 0) {
			sync_stats_release(&s);
			if (sig_stop)
				break;
			snprintf(detail, sizeof(detail), "%s", c.failed ? c.error :
			    "a turn failed (see the log)");
			code = c.failed ? EX_UNAVAILABLE : EX_IOERR;
			goto fail;
		}
		after_turn(w, &s);
		sync_stats_release(&s);
		first = false;
		set_state(w, "Hybrid Crawl", w->cfg->change_detector ==
		    DETECT_CRAWL ? NULL : "change detection by fanotify/inotify "
		    "is not built yet: crawl mode");
		nap(w->cfg->crawl_interval_ms);
	}
	code = 0;
	goto out;
fail:
	log_err("%s", detail);
	snprintf(w->st.state, sizeof(w->st.state), "Faulty");
	status_set_detail(&w->st, detail);
	save_status(w);
out:
	conn_release(&c);
	index_close(ix);
	if (tgt.rootfd >= 0)
		close(tgt.rootfd);
	free(volume);
	free(ixdir);
	return code;
}

/* ---- the monitor ---- */

static int
monitor_run(const char *name, const char *dir, struct config *cfg, int lockfd)
{
	struct worker w = { .name = name, .dir = dir, .cfg = cfg };
	int64_t backoff = 1000;

	status_load(&w.st, dir);
	w.st.started_at = now_ns();
	w.st.pid = (int)getpid();
	install_signals();
	log_info("session %s: %s -> %s, monitor pid %d", name, cfg->primary,
	    cfg->secondary, (int)getpid());
	while (!sig_stop) {
		int64_t began = mono_ns();
		pid_t pid = fork();
		if (pid < 0) {
			log_sys(LOG_LVL_ERR, "fork a worker");
			nap(backoff);
			continue;
		}
		if (pid == 0) {
			/* The worker ends with its monitor, holds no lock of its
			 * own, and wakes on its own pipe. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(0);
			close(lockfd);
			close(wake_pipe[0]);
			close(wake_pipe[1]);
			wake_pipe[0] = wake_pipe[1] = -1;
			install_signals();
			_exit(worker_run(&w));
		}
		int wstatus = 0;
		while (waitpid(pid, &wstatus, 0) < 0) {
			if (errno != EINTR)
				break;
			if (sig_stop)
				kill(pid, SIGTERM);
			if (sig_wake) {
				sig_wake = 0;
				kill(pid, SIGUSR1);
			}
		}
		if (sig_stop)
			break;
		/* The worker failed: Faulty, with what it said, and a retry. */
		status_release(&w.st);
		status_load(&w.st, dir);
		w.st.started_at = now_ns();
		w.st.pid = (int)getpid();
		if (mono_ns() - began > 60 * 1000000000LL)
			backoff = 1000;
		char detail[1200];
		snprintf(detail, sizeof(detail), "%s%sthe worker %s %d; retrying "
		    "in %lld s", w.st.detail ? w.st.detail : "",
		    w.st.detail ? "; " : "", WIFSIGNALED(wstatus) ?
		    "was killed by signal" : "exited with status",
		    WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) :
		    WEXITSTATUS(wstatus), (long long)(backoff / 1000));
		log_warn("%s", detail);
		snprintf(w.st.state, sizeof(w.st.state), "Faulty");
		status_set_detail(&w.st, detail);
		save_status(&w);
		nap(backoff);
		sig_wake = 0;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    backoff * 2;
	}
	status_release(&w.st);
	status_load(&w.st, dir);
	snprintf(w.st.state, sizeof(w.st.state), "Stopped");
	status_set_detail(&w.st, NULL);
	w.st.started_at = 0;
	w.st.pid = 0;
	save_status(&w);
	status_release(&w.st);
	log_info("session %s stopped", name);
	return 0;
}

/* ---- start ---- */

static void
start_usage(FILE *out)
{
	fprintf(out,
"usage: georep start [--home DIR] [--foreground] NAME\n"
"\n"
"Start continuous replication of session NAME: a monitor process (a daemon,\n"
"or in the foreground with --foreground, for systemd) that runs a worker and\n"
"restarts it with backoff when it fails.  The log is sessions/NAME/log.\n"
"Stop it with 'georep stop NAME'.\n");
}

int
cmd_start(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	bool foreground = false;
	struct config cfg;
	char *dir = NULL;
	int ch, lockfd, ready[2];

	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'f': foreground = true; break;
		case 'h': start_usage(stdout); return 0;
		default: return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		start_usage(stderr);
		return EX_USAGE;
	}
	const char *name = argv[optind];
	if (load_session(georep_home(home), name, &cfg, &dir) < 0)
		return EX_NOINPUT;
	pid_t pid = running_pid(dir);
	if (pid != 0) {
		log_err("session %s is already running (pid %d)", name, (int)pid);
		config_release(&cfg);
		free(dir);
		return EX_TEMPFAIL;
	}
	log_set_level((enum log_level)cfg.log_level);
	if (foreground) {
		if (take_lock(dir, &lockfd) < 0) {
			log_err("session %s is already running", name);
			config_release(&cfg);
			free(dir);
			return EX_TEMPFAIL;
		}
		int rc = monitor_run(name, dir, &cfg, lockfd);
		config_release(&cfg);
		free(dir);
		return rc;
	}
	/* A daemon: the parent returns once the monitor holds the lock. */
	if (pipe2(ready, O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		char msg[256] = "";
		close(ready[1]);
		ssize_t n = read_full(ready[0], msg, sizeof(msg) - 1);
		msg[n > 0 ? n : 0] = '\0';
		waitpid(pid, NULL, 0);
		close(ready[0]);
		config_release(&cfg);
		free(dir);
		if (strncmp(msg, "ok ", 3) != 0) {
			log_err("session %s did not start: %s", name, n > 0 ? msg :
			    "see its log");
			return EX_TEMPFAIL;
		}
		printf("started session %s (pid %s)\n", name, msg + 3);
		return 0;
	}
	close(ready[0]);
	if (setsid() < 0 || (pid = fork()) < 0)
		_exit(EX_OSERR);
	if (pid > 0)
		_exit(0);
	char *logpath = xasprintf("%s/log", dir);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0 || dup2(nullfd, 0) < 0 ||
	    dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) {
		dprintf(ready[1], "cannot open %s: %s", logpath, strerror(errno));
		_exit(EX_CANTCREAT);
	}
	free(logpath);
	FILE *logf = fdopen(2, "a");
	log_init("georep", (enum log_level)cfg.log_level, logf);
	if (take_lock(dir, &lockfd) < 0) {
		dprintf(ready[1], "it is already running");
		_exit(EX_TEMPFAIL);
	}
	dprintf(ready[1], "ok %d", (int)getpid());
	close(ready[1]);
	_exit(monitor_run(name, dir, &cfg, lockfd));
}

/* ---- stop, pause, resume, checkpoint ---- */

static int
session_arg(int argc, char **argv, const char *usage, const char **home,
    struct config *cfg, char **dir)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*home = NULL;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': *home = optarg; break;
		case 'h': printf("%s", usage); exit(0);
		default: return EX_USAGE;
		}
	}
	if (argc - optind < 1) {
		fprintf(stderr, "%s", usage);
		return EX_USAGE;
	}
	if (load_session(georep_home(*home), argv[optind], cfg, dir) < 0)
		return EX_NOINPUT;
	return 0;
}

int
cmd_stop(int argc, char **argv)
{
	const char *home;
	struct config cfg;
	char *dir;
	int rc = session_arg(argc, argv, "usage: georep stop [--home DIR] NAME\n"
	    "\nStop session NAME; a turn in progress is finished or left for "
	    "the next start.\n", &home, &cfg, &dir);

	if (rc)
		return rc;
	const char *name = argv[optind];
	pid_t pid = running_pid(dir);
	config_release(&cfg);
	if (pid == 0) {
		printf("session %s is not running\n", name);
		free(dir);
		return 0;
	}
	if (pid < 0 || kill(pid, SIGTERM) < 0) {
		log_err("cannot signal session %s (pid %d)", name, (int)pid);
		free(dir);
		return EX_UNAVAILABLE;
	}
	int64_t deadline = mono_ns() + 120 * 1000000000LL;
	while (running_pid(dir) != 0 && mono_ns() < deadline) {
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	rc = running_pid(dir) != 0;
	free(dir);
	if (rc) {
		log_err("session %s (pid %d) did not stop within 120 s", name,
		    (int)pid);
		return EX_TEMPFAIL;
	}
	printf("stopped session %s\n", name);
	return 0;
}

/* Tell a running monitor to look again (a checkpoint, a resume). */
static void
poke(const char *dir)
{
	pid_t pid = running_pid(dir);

	if (pid > 0)
		kill(pid, SIGUSR1);
}

int
cmd_pause(int argc, char **argv)
{
	const char *home;
	struct config cfg;
	char *dir;
	bool pause = strcmp(argv[0], "pause") == 0;
	int rc = session_arg(argc, argv, pause ?
	    "usage: georep pause [--home DIR] NAME\n\nPause session NAME after "
	    "its current turn; changes are picked up by 'georep resume'.\n" :
	    "usage: georep resume [--home DIR] NAME\n\nResume a paused "
	    "session.\n", &home, &cfg, &dir);

	if (rc)
		return rc;
	config_release(&cfg);
	char *path = xasprintf("%s/paused", dir);
	if (pause) {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		rc = fd < 0 ? -1 : close(fd);
	} else {
		rc = unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	}
	if (rc < 0)
		log_sys(LOG_LVL_ERR, "%s", path);
	else {
		poke(dir);
		printf("%s session %s\n", pause ? "paused" : "resumed",
		    argv[optind]);
	}
	free(path);
	free(dir);
	return rc < 0 ? EX_CANTCREAT : 0;
}

/* "now", seconds since the epoch, or RFC 3339 in UTC. */
static int
parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	int ms = 0;

	if (strcmp(s, "now") == 0) {
		*out = now_ns();
		return 0;
	}
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno == 0 && *end == '\0' && v > 0) {
		*out = (int64_t)v * 1000000000;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	if (*end == '.') {
		char *e2;
		ms = (int)strtol(end + 1, &e2, 10);
		end = e2;
	}
	if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
		return -1;
	*out = (int64_t)timegm(&tm) * 1000000000 + (int64_t)ms * 1000000;
	return 0;
}

int
cmd_checkpoint(int argc, char **argv)
{
	const char *home;
	struct config cfg;
	char *dir;
	int64_t when;
	int rc = session_arg(argc, argv, "usage: georep checkpoint [--home DIR] "
	    "NAME now|TIME\n\nSet a checkpoint: it completes when everything "
	    "changed on the primary before TIME\nis on the secondary ('georep "
	    "status' shows it).  TIME: now, seconds since the\nepoch, or "
	    "2026-11-25T10:00:00Z.\n", &home, &cfg, &dir);

	if (rc)
		return rc;
	config_release(&cfg);
	if (argc - optind != 2 || parse_time(argv[optind + 1], &when) < 0) {
		log_err("checkpoint: expected NAME and now, seconds since the "
		    "epoch, or a time like 2026-11-25T10:00:00Z");
		free(dir);
		return EX_USAGE;
	}
	char text[32];
	int n = snprintf(text, sizeof(text), "%lld\n", (long long)when);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = fd < 0 ? -1 : durable_write_at(fd, "checkpoint", text, (size_t)n,
	    0600);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && running_pid(dir) == 0) {
		/* Not running: status shows the checkpoint pending. */
		struct status st;
		status_load(&st, dir);
		st.checkpoint = when;
		st.checkpoint_completed = st.last_synced >= when;
		st.checkpoint_completed_at = st.checkpoint_completed ? now_ns() : 0;
		status_save(&st, dir);
		status_release(&st);
	}
	if (rc == 0) {
		poke(dir);
		char t[40];
		format_rfc3339(when, t, sizeof(t));
		printf("checkpoint %s set on session %s\n", t, argv[optind]);
	}
	free(dir);
	return rc < 0 ? EX_CANTCREAT : 0;
}
