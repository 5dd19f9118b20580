/*
 * daemon: the processes of a running session (DESIGN.md, "Process model").
 *
 * Files: monitor.c and worker.c (the two processes), batch.c (journal
 * segments into a turn), session.c (the session directory), signals.c.
 *
 *   monitor (monitor.c)  holds the session's lock; records the primary's
 *                        changes into the journal (src/detection/recorder)
 *                        and cuts segments; serves status on the session's
 *                        socket; runs the worker and restarts it with
 *                        backoff when it fails (Faulty meanwhile).
 *   worker (worker.c)    connects to the secondary and runs turns: a full
 *                        crawl first, then one turn per batch of sealed
 *                        segments, directed at the directories they name.
 *
 * The two talk over a socketpair, one line at a time:
 *   worker -> monitor  "r SEQ"   idle: every segment up to SEQ is applied;
 *                                cut the next one as soon as there is one
 *   monitor -> worker  "s"       a segment was sealed: look again
 *                      "i TIME"  nothing was recorded before TIME that is
 *                                not applied (the sync point may move)
 * That exchange is the group commit of DESIGN.md: a segment is cut the
 * moment the syncer is free, so a lone change travels at once, and under
 * load segments grow (up to change_interval) while the syncer works.
 */
#ifndef GEOREP_DAEMON_H
#define GEOREP_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "../status/status.h"
#include "../sync/sync.h"

struct config;

/* Signals, shared by both processes (each installs its own). */
extern volatile int sig_stop, sig_wake, sig_child;
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
	int chan;		/* to the monitor; -1 in crawl mode */
	int64_t saved_at;	/* when status.json was last written */
	/* Files left racy by the turns so far, to settle once the journal
	 * covers the time they were sent (sync.h, SYNC_RACY_NS). */
	struct sync_racy_list racy;
};

int worker_run(struct worker *w);
void worker_save_status(struct worker *w);

int monitor_run(const char *name, const char *dir, struct config *cfg,
    int lockfd);

#endif
