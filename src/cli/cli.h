/*
 * cli: the command line.  One function per command; each parses its own
 * options, prints --help, and returns a sysexits(3) status.
 *
 * Exit status (all commands):
 *   0   done: the secondary matches the primary
 *   64  EX_USAGE      bad command line
 *   65  EX_DATAERR    the secondary belongs to another primary, or is not
 *                     empty and was never synced (nothing was changed)
 *   66  EX_NOINPUT    the primary is missing or not a readable directory
 *   69  EX_UNAVAILABLE the secondary could not be started or went away
 *   70  EX_SOFTWARE   an internal error
 *   73  EX_CANTCREAT  the secondary directory, or the state directory
 *                     (--home), cannot be created or opened
 *   74  EX_IOERR      the replica is not exact: some paths could not be
 *                     synced (each reported with its path and reason; a
 *                     later sync retries them), a mount point inside the
 *                     primary was not entered (without --one-file-system),
 *                     or the secondary could not give owners or make device
 *                     nodes (without --no-owners / --no-devices)
 *   76  EX_PROTOCOL   the two sides could not agree on the protocol
 *   130 (128 + the signal number: 143 for SIGTERM) sync was interrupted;
 *                     the secondary may hold part of the changes, and the
 *                     next sync of the pair checks it and finishes
 */
#ifndef GEOREP_CLI_H
#define GEOREP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

int cmd_sync(int argc, char **argv);
int cmd_secondary(int argc, char **argv);

int cmd_create(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_verify(int argc, char **argv);

/* options.c: the options sync and verify share, checked; each prints
 * "georep CMD: ..." and returns -1 when the value is not valid. */
struct opt_list {
	const char **v;
	size_t n, cap;
};
int opt_exclude(const char *cmd, const char *arg, struct opt_list *l);
int opt_ssh(const char *cmd, const char *arg);
int opt_name(const char *cmd, const char *arg);
int opt_timeout(const char *cmd, const char *arg, int *out);
/* --compress[=LEVEL] (arg NULL: on, COMPRESS_DEFAULT) and --bwlimit RATE,
 * as the config keys compress and bwlimit take them (config.h). */
int opt_compress(const char *cmd, const char *arg, int *out);
int opt_bwlimit(const char *cmd, const char *arg, uint64_t *out);
int opt_delta_threshold(const char *cmd, const char *arg, uint64_t *out);
/* --sync-jobs N: 1..SYNC_JOBS_LIMIT (config.h) */
int opt_sync_jobs(const char *cmd, const char *arg, int *out);

/* interrupt.c: the signal that asked a command to stop (0: none), as
 * sync_opts.stop and verify_opts.stop read it; cli_catch_stop_signals()
 * has SIGINT, SIGTERM and SIGHUP set it (a second one kills). */
extern volatile int cli_stop_signal;
void cli_catch_stop_signals(void);

/* cmd_status.c: the status a running monitor serves; -1 if it does not
 * answer within a second. */
struct status;
int read_live_status(const char *dir, struct status *st);

/* cmd_daemon.c: stop a running session (SIGTERM, then wait up to 120 s):
 * 0 stopped, 1 it was not running, else a sysexits code (logged). */
int stop_session(const char *name, const char *dir);

/* paths.c: the real path of a secondary that may not exist yet (its parent
 * must), and the refusal of pairs that would replicate a tree into itself
 * (logged; -1). */
char *secondary_realpath(const char *arg);
int check_pair(const char *prim, const char *sec, const char *sec_arg);
/* The real paths of PRIMARY (an existing directory) and SECONDARY (local),
 * checked as a pair: 0, or the sysexits code (the reason logged). */
int resolve_pair(const char *prim_arg, const char *sec_arg, char **prim,
    char **sec);
/* Make the state directory home (as session_home() gave it) if missing:
 * only its last component unless it is the default one.  0, or -1 with the
 * path and the reason logged (the caller exits EX_CANTCREAT). */
int home_make(const char *home);
/* Where `georep sync` keeps the index of a pair: HOME/sync/NAME, NAME
 * from --name or else a hash of the two real paths. */
char *pair_index_dir(const char *home, const char *name, const char *prim,
    const char *sec);

#endif
