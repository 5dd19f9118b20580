/*
 * status: a session's state as `georep status` shows it, kept in
 * sessions/NAME/status.json (written to a temporary file and renamed, so a
 * reader never sees half of it).  The worker writes it after each turn and
 * at each change of state; the monitor writes it when the worker fails
 * (Faulty, with the reason) and when the session stops.  Counters carry
 * over restarts: a new worker starts from the file's values.
 *
 * Times are in nanoseconds since the epoch (0: never); the JSON shows them
 * in RFC 3339.  lag and uptime are derived when the status is shown.
 */
#ifndef GEOREP_STATUS_H
#define GEOREP_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#define STATUS_FAILURES_SHOWN	8

struct failure {
	char *path;		/* or the operation, where no path applies */
	char *error;
	int64_t since;
	uint32_t tries;
};

struct status {
	char state[32];		/* Created, Initializing, Hybrid Crawl, ... */
	char *detail;		/* why Faulty, or a warning; may be NULL */
	char *detector;		/* how changes are found */
	int64_t last_synced;	/* the sync point */
	uint64_t entries_pending, data_pending;
	uint64_t files_synced, bytes_synced;
	uint64_t failure_count;
	struct failure failures[STATUS_FAILURES_SHOWN];
	size_t nfailures;
	int64_t checkpoint;	/* 0: none set */
	bool checkpoint_completed;
	int64_t checkpoint_completed_at;
	int64_t started_at;	/* of the monitor; 0 when stopped */
	int pid;		/* of the monitor */
};

void status_init(struct status *s);
void status_release(struct status *s);
/* 0, 1 if there is no status file yet, -1 on a bad one (logged). */
int status_load(struct status *s, const char *dir);
int status_save(const struct status *s, const char *dir);
/* The form status.json has (malloc'ed), and its reading: what the
 * monitor serves on the session's socket.  -1 on a bad text. */
char *status_to_text(const struct status *s);
int status_load_text(struct status *s, const char *text, size_t len);
void status_set_detail(struct status *s, const char *detail);
/* Record the failures of a turn: an entry already listed keeps its
 * `since` and counts a try; entries not failing any more go. */
void status_set_failures(struct status *s, char *const *paths,
    char *const *errors, size_t n, uint64_t count);

/* Print as JSON (one object) or as one line of the human table. */
void status_print_json(const struct status *s, const char *name,
    const char *primary, const char *secondary, bool running, void *array);
void status_print_header(void);
void status_print_row(const struct status *s, const char *name,
    const char *primary, const char *secondary, bool running);

#endif
