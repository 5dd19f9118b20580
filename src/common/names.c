#include <limits.h>
#include <string.h>

#include "names.h"
#include "banned.h"

bool
name_valid(const char *name, size_t len)
{
	if (len == 0 || len > NAME_MAX)
		return false;
	if (memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return false;
	if (len == 1 && name[0] == '.')
		return false;
	if (len == 2 && name[0] == '.' && name[1] == '.')
		return false;
	return true;
}

bool
relpath_valid(const char *path, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return true;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (!name_valid(path + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}
