#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cmdline.h"
#include "../common/util.h"
#include "transport.h"
#include "../common/banned.h"

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

static bool
host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* USER@ (optional) and a host name, or [an IPv6 address]: nothing ssh
 * could read as an option or the remote shell as syntax. */
static bool
host_valid(const char *h, size_t n)
{
	const char *at = memchr(h, '@', n);

	if (at) {
		size_t ulen = (size_t)(at - h);
		if (ulen == 0 || h[0] == '-')
			return false;
		for (size_t i = 0; i < ulen; i++)
			if (!host_char(h[i]))
				return false;
		n -= ulen + 1;
		h = at + 1;
	}
	if (n == 0 || h[0] == '-')
		return false;
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++)
			if (!(host_char(h[i]) || h[i] == ':' || h[i] == '%'))
				return false;
		return true;
	}
	for (size_t i = 0; i < n; i++)
		if (!host_char(h[i]))
			return false;
	return true;
}

/* The path with repeated '/' collapsed and no trailing one (but "/"):
 * host:/d and host:/d/ are one secondary, as they are locally. */
static char *
normalize_path(const char *path)
{
	char *out = xmalloc(strlen(path) + 1);
	size_t n = 0;

	for (const char *p = path; *p; p++)
		if (!(*p == '/' && n && out[n - 1] == '/'))
			out[n++] = *p;
	while (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
	return out;
}

int
remote_parse(const char *spec, struct remote *r, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':'), *slash = strchr(spec, '/');

	if (colon == NULL || (slash && slash < colon))
		return 0;
	memset(r, 0, sizeof(*r));
	/* [v6]:path: the address's own colons are not the separator. */
	const char *at = strchr(spec, '@');
	const char *host = at && at < colon ? at + 1 : spec;
	if (*host == '[') {
		const char *end = strstr(host, "]:");
		if (end == NULL)
			BAD("%s: an IPv6 host is written [ADDRESS]:PATH", spec);
		colon = end + 1;
	}
	size_t hlen = (size_t)(colon - spec);
	if (!host_valid(spec, hlen))
		BAD("'%.*s' is not a host ([USER@]HOST: letters, digits, '.', "
		    "'-', '_'; or [IPv6]); for a local path with ':' write "
		    "./%s", (int)hlen, spec, spec);
	const char *path = colon + 1;
	if (*path == '\0')
		BAD("%s: no path after the host", spec);
	if (strchr(path, '\n'))
		BAD("%s: a path on one line", spec);
	r->host = xstrndup(spec, hlen);
	r->path = normalize_path(path);
	return 1;
}

char *
remote_spec(const struct remote *r)
{
	return xasprintf("%s:%s", r->host, r->path);
}

void
remote_release(struct remote *r)
{
	free(r->host);
	free(r->path);
	memset(r, 0, sizeof(*r));
}

int
remote_argv(const char *ssh_cmd, const struct remote *r, char ***argv,
    char *err, size_t errlen)
{
	char **v;
	size_t n = 0;

	if (split_command(ssh_cmd, &v, err, errlen) < 0)
		return -1;
	while (v[n])
		n++;
	v = xrealloc(v, (n + 3) * sizeof(*v));
	v[n++] = xstrdup(r->host);
	char *q = shell_quote(r->path);
	/* ssh hands the remote shell one line: the path quoted for it. */
	v[n++] = xasprintf("%s secondary %s", REMOTE_GEOREP, q);
	v[n] = NULL;
	free(q);
	*argv = v;
	return 0;
}
