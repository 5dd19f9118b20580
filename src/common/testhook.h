/*
 * testhook: the fault points the tests and the torture suite drive (tests
 * only; nothing happens unless the environment asks).
 *
 * GEOREP_TEST_CRASH=WHERE kills this process with SIGKILL at the point
 * named WHERE:
 *   entry, data, commit  a turn's entry operations, its data, applied by
 *                        the secondary, and the index not committed
 *   content              in the middle of a file's content: part of it
 *                        written to the secondary
 *   content-at:BYTES     the same, once BYTES of a file's content are sent
 *   journal              in the middle of a journal segment's record: half
 *                        of what is pending written (the monitor)
 *   reply:N              at the Nth reply of a turn (turn.c)
 * With GEOREP_TEST_CRASH_FLAG=FILE as well, only while FILE exists, and
 * FILE is removed at the crash: a daemon dies once, where a test chose.
 */
#ifndef GEOREP_TESTHOOK_H
#define GEOREP_TESTHOOK_H

#include <stdbool.h>

/* Whether this process must die at WHERE now (the flag file, if any, is
 * then removed: it is consumed). */
bool test_crash_armed(const char *where);
/* Say so in the log, and SIGKILL this process. */
void test_crash_now(const char *where) __attribute__((noreturn));
/* Both: die at WHERE if asked to. */
void test_crash_point(const char *where);
/* content-at:BYTES: whether this process must die now that off bytes of
 * a file were sent (the flag file, if any, consumed then). */
bool test_crash_at_offset(unsigned long long off);

#endif
