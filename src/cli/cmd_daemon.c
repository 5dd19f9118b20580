/*
 * The continuous side's commands: georep start, stop, pause, resume,
 * checkpoint.  The processes they start and talk to are in daemon.h.
 *
 * `start` runs a monitor (a daemon, or in the foreground under systemd)
 * that holds the session's lock (session.h) for its whole life.  Signals
 * to it: SIGTERM/SIGINT stop (the worker finishes or drops its turn -- a
 * dropped turn is reconciled at the next start), SIGUSR1 wakes the worker
 * (a checkpoint, a pause, a resume), SIGHUP reopens the log and reloads
 * the config.
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
#include "../daemon/session.h"
#include "../sync/contact.h"
#include "cli.h"
#include "../daemon/daemon.h"
#include "../common/banned.h"

/* ---- start ---- */

static void
start_usage(FILE *out)
{
	fprintf(out,
"usage: georep start [--home DIR] [-f | --foreground] [--log-file PATH | -] NAME\n"
"\n"
"Start continuous replication of session NAME: a monitor process (a daemon,\n"
"or in the foreground with --foreground, for systemd) that records the\n"
"primary's changes (change_detector: fanotify, inotify or crawl), serves\n"
"status, and runs a worker that applies them, restarted with backoff when it\n"
"fails.  Every start begins with a full crawl.  The primary is checked first\n"
"(a directory that opens, on a filesystem with file handles, the one the\n"
"session was created for).  SIGHUP makes the monitor reopen its log and\n"
"reload the config.  Stop it with 'georep stop'; exit status 75 when the\n"
"session is already running.\n"
"\n"
"  -f, --foreground  do not become a daemon; log to standard error (with\n"
"                    the journal's priorities under systemd)\n"
"  --log-file PATH   log there (this start only; the log_file key for\n"
"                    every start); - is standard error.  By default a\n"
"                    daemon logs to HOME/sessions/NAME/log\n");
}

/* The daemon: the parent returns once the monitor holds the lock. */
static int
daemonize(const char *name, const char *dir, struct config *cfg,
    const char *logpath)
{
	int ready[2], lockfd;
	pid_t pid;

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
		const char *log = logpath ? logpath : "standard error";
		int rc = 0;
		if (strncmp(msg, "ok ", 3) != 0) {
			log_err("session %s did not start: %s", name, n > 0 ?
			    msg : "see its log");
			rc = EX_TEMPFAIL;
		} else {
			printf("started session %s (pid %s); log: %s\n", name,
			    msg + 3, log);
		}
		return rc;
	}
	close(ready[0]);
	if (setsid() < 0 || (pid = fork()) < 0)
		_exit(EX_OSERR);
	if (pid > 0)
		_exit(0);
	/* Standard input and output from /dev/null, or the log file; with
	 * "-", standard error stays where the caller had it. */
	int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int logfd = logpath ? open(logpath, O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0600) : -1;
	if (nullfd < 0 || (logpath && logfd < 0) || dup2(nullfd, 0) < 0 ||
	    dup2(logpath ? logfd : nullfd, 1) < 0 ||
	    (logpath && dup2(logfd, 2) < 0)) {
		dprintf(ready[1], "cannot open %s: %s", logpath ? logpath :
		    "/dev/null", strerror(errno));
		_exit(EX_CANTCREAT);
	}
	if (logfd >= 0)
		close(logfd);
	close(nullfd);
	/* A file gets timestamps (log.c stamps what is not stderr). */
	log_init("georep", (enum log_level)cfg->log_level, logpath ?
	    fdopen(2, "a") : stderr);
	if (session_lock(dir, &lockfd) < 0) {
		dprintf(ready[1], "it is already running");
		_exit(EX_TEMPFAIL);
	}
	dprintf(ready[1], "ok %d", (int)getpid());
	close(ready[1]);
	_exit(monitor_run(name, dir, cfg, false, logpath));
}

/*
 * Where a start logs: --log-file, else the log_file key, else a daemon's
 * own file and a foreground run's standard error.  NULL for standard
 * error; a relative path from the command line is made absolute (the
 * monitor reopens it on SIGHUP from wherever).  -1 when it cannot be.
 */
static int
log_target(const char *opt, const struct config *cfg, const char *dir,
    bool foreground, char **out)
{
	const char *t = opt ? opt : cfg->log_file;

	*out = NULL;
	if (t == NULL)
		*out = foreground ? NULL : session_path(dir, SF_LOG);
	else if (strcmp(t, "-") == 0)
		*out = NULL;
	else if (t[0] == '/')
		*out = xstrdup(t);
	else {
		char *cwd = getcwd(NULL, 0);
		if (cwd == NULL) {
			log_sys(LOG_LVL_ERR, "--log-file %s: the current "
			    "directory", t);
			return -1;
		}
		*out = xasprintf("%s/%s", cwd, t);
		free(cwd);
	}
	return 0;
}

/* A foreground monitor logging to a file: standard error becomes it. */
static int
log_to_file(const char *path, const struct config *cfg)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0 || dup2(fd, 2) < 0) {
		log_sys(LOG_LVL_ERR, "cannot open the log %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	log_init("georep", (enum log_level)cfg->log_level, fdopen(2, "a"));
	return 0;
}

int
cmd_start(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL, *log_opt = NULL;
	bool foreground = false;
	struct config cfg;
	char *dir = NULL, *logpath = NULL;
	int ch, lockfd, rc;

	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'f': foreground = true; break;
		case 'l':
			if (*optarg == '\0') {
				fprintf(stderr, "georep start: --log-file: an "
				    "empty path (- is standard error)\n");
				return EX_USAGE;
			}
			log_opt = optarg;
			break;
		case 'h': start_usage(stdout); return 0;
		default: return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "georep start: %s\n", argc - optind == 0 ?
		    "missing NAME" : "one NAME only");
		start_usage(stderr);
		return EX_USAGE;
	}
	const char *name = argv[optind];
	if (session_load(session_home(home), name, &cfg, &dir) < 0)
		return EX_NOINPUT;
	pid_t pid = session_running_pid(dir);
	if (pid != 0) {
		log_err("session %s is already running (pid %d)", name, (int)pid);
		rc = EX_TEMPFAIL;
		goto out;
	}
	/* What can fail for good fails here, not in a daemon's Faulty. */
	rc = session_check_primary(cfg.primary, dir);
	if (rc != 0) {
		log_err("session %s not started", name);
		goto out;
	}
	log_set_level((enum log_level)cfg.log_level);
	if (log_target(log_opt, &cfg, dir, foreground, &logpath) < 0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	if (!foreground) {
		rc = daemonize(name, dir, &cfg, logpath);
		goto out;
	}
	if (session_lock(dir, &lockfd) < 0) {
		log_err("session %s is already running", name);
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (logpath && log_to_file(logpath, &cfg) < 0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	rc = monitor_run(name, dir, &cfg, true, logpath);
out:
	config_release(&cfg);
	free(logpath);
	free(dir);
	return rc;
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
		fprintf(stderr, "georep %s: missing NAME\n%s", argv[0], usage);
		return EX_USAGE;
	}
	/* Only checkpoint takes an argument after NAME. */
	int most = strcmp(argv[0], "checkpoint") == 0 ? 2 : 1;
	if (argc - optind > most) {
		fprintf(stderr, "georep %s: unexpected argument '%s'\n%s",
		    argv[0], argv[optind + most], usage);
		return EX_USAGE;
	}
	if (session_load(session_home(*home), argv[optind], cfg, dir) < 0)
		return EX_NOINPUT;
	return 0;
}

int
stop_session(const char *name, const char *dir)
{
	pid_t pid = session_running_pid(dir);

	if (pid == 0)
		return 1;
	if (pid < 0 || kill(pid, SIGTERM) < 0) {
		log_err("cannot signal session %s (pid %d)", name, (int)pid);
		return EX_UNAVAILABLE;
	}
	int64_t deadline = mono_ns() + 120 * 1000000000LL;
	while (session_running_pid(dir) != 0 && mono_ns() < deadline) {
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (session_running_pid(dir) != 0) {
		log_err("session %s (pid %d) did not stop within 120 s", name,
		    (int)pid);
		return EX_TEMPFAIL;
	}
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
	config_release(&cfg);
	rc = stop_session(name, dir);
	free(dir);
	if (rc == 1) {
		printf("session %s is not running\n", name);
		return 0;
	}
	if (rc == 0)
		printf("stopped session %s\n", name);
	return rc;
}

/* Tell a running monitor to look again (a checkpoint, a resume). */
static void
poke(const char *dir)
{
	pid_t pid = session_running_pid(dir);

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
	rc = session_set_flag(dir, SF_PAUSED, pause);
	if (rc == 0) {
		poke(dir);
		printf("%s session %s\n", pause ? "paused" : "resumed",
		    argv[optind]);
	}
	free(dir);
	return rc < 0 ? EX_CANTCREAT : 0;
}

/* ".5" after a time: half a second, to the nanosecond.  Moves *p past
 * the digits; 0 when there is no fraction. */
static int64_t
parse_fraction(const char **p)
{
	int64_t frac = 0, scale = 100000000;
	const char *s = *p;

	if (*s != '.')
		return 0;
	for (s++; *s >= '0' && *s <= '9'; s++) {
		frac += (*s - '0') * scale;
		scale /= 10;
	}
	*p = s;
	return frac;
}

/* "now", seconds since the epoch, or RFC 3339 in UTC; either with a
 * fraction of a second. */
static int
parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *rest;
	char *end;

	if (strcmp(s, "now") == 0) {
		*out = now_ns();
		return 0;
	}
	errno = 0;
	long long v = strtoll(s, &end, 10);
	rest = end;
	int64_t frac = parse_fraction(&rest);
	if (errno == 0 && *rest == '\0' && v > 0 && end != s &&
	    v < INT64_MAX / 1000000000 - 1) {
		*out = (int64_t)v * 1000000000 + frac;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return -1;
	frac = parse_fraction(&rest);
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
		return -1;
	*out = (int64_t)timegm(&tm) * 1000000000 + frac;
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
	    "2026-11-25T10:00:00Z, either with a fraction of a second; a TIME\n"
	    "ahead of the clock completes once it has passed.\n", &home, &cfg, &dir);

	if (rc)
		return rc;
	config_release(&cfg);
	if (argc - optind != 2 || parse_time(argv[optind + 1], &when) < 0) {
		log_err("checkpoint: expected NAME and now, seconds since the "
		    "epoch, or a time like 2026-11-25T10:00:00Z");
		free(dir);
		return EX_USAGE;
	}
	rc = session_set_checkpoint(dir, when);
	if (rc == 0 && session_running_pid(dir) == 0) {
		/* Not running: status shows the checkpoint pending. */
		struct status st;
		status_load(&st, dir);
		status_set_checkpoint(&st, when);
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
