/*
 * log: the one logging module.
 *
 * log_init() picks the destination (stderr in the foreground, a file for the
 * daemon) and the level.  A file gets a timestamp, the pid and the level on
 * each line; stderr that the journal reads (systemd's JOURNAL_STREAM) gets
 * the level as an sd-daemon priority prefix ("<3>"), the journal keeping
 * time and pid itself; a terminal gets "georep: ".  Every function preserves errno, so a caller can log
 * and then inspect or propagate errno.  log_sys*() append ": strerror(errno)".
 * fatal() is for start-up and broken internal invariants only: input from the
 * peer, a file or the command line is refused with a message, never fatal.
 * A record is one line: control bytes in a message (a name holding a
 * newline) are written as \xNN.
 * The only global state in georep is here (and it is set once at start-up).
 */
#ifndef GEOREP_LOG_H
#define GEOREP_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname, enum log_level level, FILE *out);
void log_set_level(enum log_level level);
/* Every line names this (a session), so that logs read together -- one
 * file for several sessions, the journal -- say whose a line is. */
void log_set_tag(const char *tag);
/* Whether the log goes to the systemd journal (standard error that
 * JOURNAL_STREAM names), which stamps lines itself. */
bool log_to_journal(void);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Like log_msg, with ": strerror(errno)" appended. */
void log_sys(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The last message logged at error level (escaped as logged), or NULL;
 * cleared by log_clear_last_error.  For a status that says why. */
const char *log_last_error(void);
void log_clear_last_error(void);
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
