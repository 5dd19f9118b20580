/*
 * daemon: the processes of a running session (DESIGN.md, "Process model").
 *
 * Files: monitor.c and worker.c (the two processes), batch.c (journal
 * segments into a turn), session.c (the session directory), signals.c.
 *
 *   monitor (monitor.c)  holds the session's lock; records the primary's
 *                        changes into the journal (src/detection/recorder)
 *                        and cuts segments; serves status on the session's
 *                        socket; watches that the configured path still
 *                        holds the primary it was started on; runs the
 *                        worker and restarts it with backoff when it fails
 *                        (Faulty meanwhile).  SIGHUP: reopen the log and
 *                        reload the config (the worker is restarted after
 *                        its turn, with the new settings).
 *   worker (worker.c)    connects to the secondary and runs turns: a full
 *                        crawl first, then one turn per batch of sealed
 *                        segments, directed at the directories they name.
 *                        While idle it keeps the link alive (a PING every
 *                        timeout / 2) and notices a secondary that died.
 *
 * The two talk over a socketpair, one line at a time:
 *   worker -> monitor  "r SEQ"   idle: every segment up to SEQ is applied;
 *                                cut the next one as soon as there is one
 *                      "t"       a turn was applied: the worker makes
 *                                progress (the restart backoff starts over)
 *   monitor -> worker  "s"       a segment was sealed: look again
 *                      "i TIME"  nothing was recorded before TIME that is
 *                                not applied (the sync point may move)
 * That exchange is the group commit of DESIGN.md: a segment is cut the
 * moment the syncer is free, so a lone change travels at once, and under
 * load segments grow (up to change_interval) while the syncer works.
 *
 * The monitor restarts a worker that failed after 1 s, doubling up to
 * 60 s while workers keep failing; a worker that applied a turn has made
 * progress, and the next failure waits 1 s again.
 */
#ifndef GEOREP_DAEMON_H
#define GEOREP_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "../status/status.h"
#include "../common/util.h"
#include "../sync/sync.h"

struct config;

/* Signals, shared by both processes (each installs its own).  sig_hup:
 * the monitor reloads; a worker finishes its turn and exits (0). */
extern volatile int sig_stop, sig_wake, sig_child, sig_hup;
void install_signals(void);
/* The read end of the self-pipe signals write to (poll it for POLLIN). */
int wake_fd(void);
void drain_wake(void);
void close_wake(void);
/* Sleep up to ms, or until a signal arrives. */
void nap(int64_t ms);

struct worker {
	const char *name, *dir;
	struct config *cfg;
	struct status st;
	const char *detector;	/* "fanotify", "inotify" or "crawl" */
	const char *detector_note;	/* why not the configured one, or NULL */
	/* What the secondary cannot hold (owners, devices without privilege):
	 * the replica is not exact; kept until a full crawl finds none. */
	char not_exact[512];
	bool journal;		/* a recorder runs: turns from the journal;
				 * else crawl mode */
	int chan;		/* to the monitor */
	int64_t saved_at;	/* mono ns: when status.json was last written */
	bool dirty;		/* st changed since */
	bool crawling;		/* the running turn still lists the primary */
	int64_t turn_began;	/* mono ns */
	/* Files left racy by the turns so far, to settle once the journal
	 * covers the time they were sent (sync.h, SYNC_RACY_NS). */
	struct sync_racy_list racy;
	/* The realtime clock, watched: a step back moves the sync point
	 * back, and a turn begun before the step moves it no more. */
	struct clockwatch clock;
	int64_t stepped_at;	/* mono ns of the last step back seen */
	/* Where the last turn's failures are: the next directed turn looks
	 * there again (sync_stats.retry).  In memory only: a worker started
	 * while failures are parked crawls first instead. */
	struct sync_where *retry;
	size_t nretry;
};

/* The worker's exit status: 0 when told to stop or to reload, else the
 * sysexits(3) code of why it failed (its status says it in words). */
int worker_run(struct worker *w);
void worker_save_status(struct worker *w);

/* foreground: not a daemon (systemd's child).  log_path: the file the log
 * (standard error) is, reopened on SIGHUP; NULL when standard error is
 * not ours to reopen (a terminal, the journal, "-"). */
int monitor_run(const char *name, const char *dir, struct config *cfg,
    bool foreground, const char *log_path);

#endif
