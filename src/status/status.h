/*
 * status: a session's state as `georep status` shows it, kept in
 * sessions/NAME/status.json (written to a temporary file and renamed, so a
 * reader never sees half of it).
 *
 * Who writes it: the worker, after turns (at once when something a reader
 * waits for changed, else at most once a second, and whenever it becomes
 * idle), at each change of state, and once a second during a long turn
 * (its progress); the monitor, when the worker fails (Faulty, with the
 * reason), when the primary is lost, and when the session stops.  Never
 * both at once: the monitor writes only while no worker runs.  The monitor
 * serves the file on the session's socket with what only it knows laid
 * over it (status_overlay: the changes recorded and not yet applied, and a
 * sync point of "now" while the worker is idle and nothing is pending).
 * Counters carry over restarts: a new worker starts from the file's
 * values.
 *
 * The sync point (last_synced) never moves back: status_synced() is the
 * one way to move it.
 *
 * Times are in nanoseconds since the epoch (0: never); the JSON shows them
 * in RFC 3339 with milliseconds.  lag and uptime are derived when the status
 * is shown.  The file carries "format": STATUS_FORMAT; a file of another
 * format is not read (logged; the counters start again).
 */
#ifndef GEOREP_STATUS_H
#define GEOREP_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#define STATUS_FORMAT		1
#define STATUS_FAILURES_SHOWN	8

/* A session's states, as GlusterFS's geo-replication names them. */
enum session_state {
	STATE_CREATED,		/* never started */
	STATE_INITIALIZING,	/* the first full crawl */
	STATE_HYBRID_CRAWL,	/* a later full crawl (a start, an overflow,
				 * crawl mode) */
	STATE_CHANGELOG_CRAWL,	/* turns from the journal */
	STATE_PAUSED,
	STATE_FAULTY,		/* the worker failed; detail says why */
	STATE_STOPPED,
};
const char *state_name(enum session_state s);
/* -1 for a name that is no state. */
int state_parse(const char *name, enum session_state *out);

struct failure {
	char *path;		/* or the operation, where no path applies */
	char *error;
	int64_t since;
	uint32_t tries;
};

/* The turn running now, for `status --detail` (GlusterFS's crawl status
 * and the ENTRY/DATA/META columns). */
enum turn_kind { TURN_NONE, TURN_FIRST_CRAWL, TURN_FULL_CRAWL, TURN_JOURNAL };
const char *turn_kind_name(enum turn_kind k);

struct status_turn {
	enum turn_kind kind;
	int64_t started;	/* realtime ns */
	uint64_t files_seen, dirs_seen;
	uint64_t bytes_total, bytes_done;	/* content to send */
};

/* The last `georep verify` of the session (its own file, verify.json,
 * which verify writes; status_load reads it with status.json). */
#define STATUS_VERIFY_SHOWN	10
struct status_verify {
	int64_t at;		/* when it finished (realtime ns); 0: never */
	uint64_t differences, unreadable, changing;
	bool repaired;		/* handed to the session to repair */
	char *shown[STATUS_VERIFY_SHOWN];	/* "path: what differs" */
	size_t nshown;
};

struct status {
	enum session_state state;
	char *detail;		/* why Faulty, or a warning; may be NULL */
	char *detector;		/* how changes are found */
	int64_t last_synced;	/* the sync point */
	/* Operations of the running turn not yet acknowledged (0 when
	 * idle): namespace, content, attributes only. */
	uint64_t entries_pending, data_pending, meta_pending;
	/* Changes recorded in the journal and not yet applied (monitor). */
	uint64_t changes_pending;
	uint64_t files_synced, bytes_synced;
	/* Written to the secondary: wire_bytes, carrying wire_plain bytes of
	 * frames (less when compressed; protocol/proto.h). */
	uint64_t wire_bytes, wire_plain;
	uint64_t failure_count;
	/* Turns applied, and of them the full crawls (the first one of each
	 * start, an overflow, a crawl asked for) with their durations: for
	 * the metrics. */
	uint64_t turns, full_crawls;
	int64_t last_crawl_ms, crawl_ms_total;
	struct failure failures[STATUS_FAILURES_SHOWN];
	size_t nfailures;
	int64_t checkpoint;	/* 0: none set */
	bool checkpoint_completed;
	int64_t checkpoint_completed_at;
	struct status_turn turn;
	int64_t started_at;	/* of the monitor; 0 when stopped */
	int pid;		/* of the monitor */
	char *log;		/* where the running monitor logs (monitor);
				 * NULL: as its config says */
	uint64_t config_applied;	/* digest of the config the running
					 * worker was started with (monitor) */
	struct status_verify verify;
};

void status_init(struct status *s);
void status_release(struct status *s);
/* 0, 1 if there is no status file yet, -1 on a bad one (logged; s is then
 * fresh). */
int status_load(struct status *s, const char *dir);
int status_save(const struct status *s, const char *dir);
/* Write the result of a verify of the session in dir (verify.json). */
int status_save_verify(const struct status_verify *v, const char *dir);
void status_verify_release(struct status_verify *v);
/* The form status.json has (malloc'ed), and its reading: what the
 * monitor serves on the session's socket.  -1 on a bad text. */
char *status_to_text(const struct status *s);
int status_load_text(struct status *s, const char *text, size_t len);
void status_set_detail(struct status *s, const char *detail);
/* Record the failures of a turn: an entry already listed keeps its
 * `since` and counts a try; entries not failing any more go. */
void status_set_failures(struct status *s, char *const *paths,
    char *const *errors, size_t n, uint64_t count);
/* Move the sync point to t, never back.  True when a checkpoint it passes
 * completed now. */
bool status_synced(struct status *s, int64_t t);
/* The clock went back (clockwatch_back): the sync point goes back to
 * `bound` if it is past it -- the one time it moves back. */
void status_clock_back(struct status *s, int64_t bound);
/* A checkpoint set at `when` (0: none): pending unless the sync point is
 * past it already. */
void status_set_checkpoint(struct status *s, int64_t when);

/* What a view needs beside the status. */
struct status_view {
	const char *name, *primary, *secondary;
	const char *log;	/* the session log's path */
	bool running;
	int width;		/* of the terminal, for the table (0: 100) */
};

/* Print as JSON (one object, or appended to the jansson array `array`),
 * as one row of the table (with the reason of a Faulty session below it),
 * or as `status --detail`'s block. */
void status_print_json(const struct status *s, const struct status_view *v,
    void *array);
void status_print_header(void);
void status_print_row(const struct status *s, const struct status_view *v);
void status_print_detail(const struct status *s,
    const struct status_view *v);

#endif
