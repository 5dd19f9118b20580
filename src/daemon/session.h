/*
 * session: the directory of a session, HOME/sessions/NAME, and every file in
 * it, named here once (DESIGN.md, "Session files").
 *
 *   config         the settings (INI; common/config.h reads and writes it)
 *   index/         the primary's model of the secondary (LMDB; index.h)
 *   journal/       the recorded changes (journal.h)
 *   status.json    what `georep status` shows (status.h)
 *   log            the monitor's and the worker's log
 *   lock           flock'ed by the running monitor for its whole life, with
 *                  its pid: a session runs when the lock is held
 *   sock           the monitor's status socket
 *   paused         present while the session is paused
 *   checkpoint     the checkpoint last set (ns since the epoch, text)
 *   crawl_needed   present until a full crawl succeeds (a journal turn
 *                  could not keep the segments it failed on)
 *   takeover       present from `georep create --force` until the first
 *                  contact with the secondary: it may replace what the
 *                  secondary holds (bound to another primary, or synced
 *                  from this one by a session whose index is gone)
 *   repair         what `georep verify --repair` found, until a turn
 *                  applies it to the index (sync/repair.h)
 *
 * The command line (cli/) and the daemon (monitor, worker) go through these
 * functions and never spell a file's name.  Paths are malloc'ed; the
 * caller frees them.  Functions that can fail log the path and the reason
 * and return -1.
 */
#ifndef GEOREP_SESSION_H
#define GEOREP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct config;

enum session_file {
	SF_CONFIG, SF_INDEX, SF_JOURNAL, SF_STATUS, SF_LOG, SF_LOCK, SF_SOCK,
	SF_PAUSED, SF_CHECKPOINT, SF_CRAWL_NEEDED, SF_TAKEOVER, SF_REPAIR,
	SF_ADOPT,
};

/* The state directory: opt_home, else $GEOREP_HOME, else /var/lib/georep
 * as root, else ~/.local/state/georep. */
const char *session_home(const char *opt_home);
/* Letters, digits, '_', '-', '.'; 1..64 bytes; not starting '.' or '-'. */
bool session_name_valid(const char *name);
char *session_dir(const char *home, const char *name);
/* The path of f inside a session directory, and its bare name. */
char *session_path(const char *dir, enum session_file f);
const char *session_file_name(enum session_file f);
/* Where the session logs, as its config says (log_file): a path, or
 * "standard error" for "-" (caller frees). */
char *session_log_path(const char *dir, const struct config *c);
/* The names of the sessions in home, sorted (caller frees each and the
 * array); none when home has no sessions yet. */
void session_list(const char *home, char ***names, size_t *n);
void session_list_release(char **names, size_t n);

/* Load NAME's config (and give its directory in *dirp if not NULL); -1
 * logged when the name is not valid, there is no such session, or its
 * config cannot be read. */
int session_load(const char *home, const char *name, struct config *c,
    char **dirp);

/* The flag files (paused, crawl_needed): present or not. */
bool session_flag(const char *dir, enum session_file f);
int session_set_flag(const char *dir, enum session_file f, bool on);

/* The checkpoint last set (ns), 0 if none; setting it is durable. */
int64_t session_checkpoint(const char *dir);
int session_set_checkpoint(const char *dir, int64_t when);

/* A digest of the config file as it is now (0 if unreadable): the config
 * a running session applied, as status shows it, is compared with it. */
uint64_t session_config_digest(const char *dir);

/* What can be checked of a primary before a session runs on it: a
 * directory that opens, on a filesystem with file handles, and (dir not
 * NULL, its index present) the one the session's index was made for.
 * 0, or the sysexits(3) code with the path and the reason logged. */
int session_check_primary(const char *primary, const char *dir);

/* The pid of the session's running monitor (the holder of the lock), 0
 * when not running, -1 when running with its pid unknown. */
pid_t session_running_pid(const char *dir);
/* Take the lock for this process (it stays held until the process ends,
 * across fork); -1 with errno EWOULDBLOCK when another holds it. */
int session_lock(const char *dir, int *fdp);

#endif
