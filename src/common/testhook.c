#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testhook.h"
#include "banned.h"

bool
test_crash_armed(const char *where)
{
	const char *want = getenv("GEOREP_TEST_CRASH");
	const char *flag = getenv("GEOREP_TEST_CRASH_FLAG");

	if (want == NULL || strcmp(want, where) != 0)
		return false;
	if (flag == NULL)
		return true;
	return unlink(flag) == 0;	/* once: the first to remove it */
}

void
test_crash_now(const char *where)
{
	log_warn("GEOREP_TEST_CRASH=%s: killing myself", where);
	raise(SIGKILL);
	_exit(137);
}

bool
test_crash_at_offset(unsigned long long off)
{
	const char *want = getenv("GEOREP_TEST_CRASH");
	const char *flag = getenv("GEOREP_TEST_CRASH_FLAG");
	char *end;

	if (want == NULL || strncmp(want, "content-at:", 11) != 0)
		return false;
	unsigned long long at = strtoull(want + 11, &end, 10);
	if (*end != '\0' || off < at)
		return false;
	return flag == NULL || unlink(flag) == 0;
}

void
test_crash_point(const char *where)
{
	if (test_crash_armed(where))
		test_crash_now(where);
}
