#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <xxhash.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../daemon/session.h"
#include "../protocol/transport.h"
#include "cli.h"
#include "../common/banned.h"

/* The real path of a secondary that may not exist yet (its parent must). */
char *
secondary_realpath(const char *arg)
{
	char *r = realpath(arg, NULL);

	if (r)
		return r;
	if (errno != ENOENT)
		return NULL;
	char *copy1 = xstrdup(arg), *copy2 = xstrdup(arg);
	char *parent = realpath(dirname(copy1), NULL);
	char *base = basename(copy2);
	if (parent)
		r = xasprintf("%s/%s", strcmp(parent, "/") ? parent : "", base);
	free(parent);
	free(copy1);
	free(copy2);
	return r;
}

static bool
is_inside(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	if (strcmp(outer, "/") == 0)
		return true;
	return strncmp(inner, outer, n) == 0 && inner[n] == '/';
}

/* Refuse the pairs that would replicate a tree into itself. */
int
check_pair(const char *prim, const char *sec, const char *sec_arg)
{
	struct stat a, b;

	if (strcmp(prim, sec) == 0 || (stat(prim, &a) == 0 &&
	    stat(sec, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)) {
		log_err("%s and %s are the same directory", prim, sec_arg);
		return -1;
	}
	if (is_inside(sec, prim)) {
		log_err("the secondary %s is inside the primary %s: it would be "
		    "replicated into itself", sec, prim);
		return -1;
	}
	if (is_inside(prim, sec)) {
		log_err("the primary %s is inside the secondary %s: syncing would "
		    "delete the primary", prim, sec);
		return -1;
	}
	return 0;
}


int
resolve_pair(const char *prim_arg, const char *sec_arg, char **prim,
    char **sec)
{
	struct remote r;
	struct stat st;
	char err[512];

	*prim = *sec = NULL;
	int remote = remote_parse(sec_arg, &r, err, sizeof(err));
	if (remote < 0) {
		log_err("%s", err);
		return EX_USAGE;
	}
	char *spec = remote > 0 ? remote_spec(&r) : NULL;
	if (remote > 0)
		remote_release(&r);
	*prim = realpath(prim_arg, NULL);
	if (*prim == NULL || stat(*prim, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (*prim && !S_ISDIR(st.st_mode))
			errno = ENOTDIR;
		log_sys(LOG_LVL_ERR, "primary %s", prim_arg);
		free(spec);
		goto fail_noinput;
	}
	if (remote) {
		/* On another host: its path is that host's to resolve; the
		 * spec as parsed names the pair, whatever slashes it had. */
		*sec = spec;
		return 0;
	}
	*sec = secondary_realpath(sec_arg);
	if (*sec == NULL) {
		log_sys(LOG_LVL_ERR, "secondary %s", sec_arg);
		free(*prim);
		*prim = NULL;
		return EX_CANTCREAT;
	}
	if (check_pair(*prim, *sec, sec_arg) < 0) {
		free(*prim);
		free(*sec);
		*prim = *sec = NULL;
		return EX_USAGE;
	}
	return 0;
fail_noinput:
	free(*prim);
	*prim = NULL;
	return EX_NOINPUT;
}

/*
 * A state directory given by --home or $GEOREP_HOME is made as its last
 * component only: a mistyped path must fail, not grow a tree of
 * directories where nobody looks.  The default one gets its parents (a
 * new user has no ~/.local/state yet).
 */
int
home_make(const char *home)
{
	const char *env = getenv("GEOREP_HOME");
	bool by_default = (env == NULL || *env == '\0') &&
	    strcmp(home, session_home(NULL)) == 0;
	struct stat st;

	if (by_default)
		return mkdir_p(home, 0700);
	if (mkdir(home, 0700) == 0 || (errno == EEXIST &&
	    stat(home, &st) == 0 && S_ISDIR(st.st_mode)))
		return 0;
	if (errno == EEXIST)
		errno = ENOTDIR;
	if (errno == ENOENT) {
		char *copy = xstrdup(home);
		log_err("the state directory %s cannot be created: its parent "
		    "%s does not exist (only the last component is made: a "
		    "typo in --home or GEOREP_HOME?)", home, dirname(copy));
		free(copy);
	} else {
		log_sys(LOG_LVL_ERR, "the state directory %s", home);
	}
	return -1;
}

/* The index of the pair: --name, or a hash of the two paths. */
char *
pair_index_dir(const char *home, const char *name, const char *prim,
    const char *sec)
{
	struct buf key = BUF_INIT;
	char *dir;

	if (name)
		return xasprintf("%s/sync/%s", session_home(home), name);
	buf_addstr(&key, prim);
	buf_add(&key, "", 1);
	buf_addstr(&key, sec);
	dir = xasprintf("%s/sync/%016llx", session_home(home),
	    (unsigned long long)XXH3_64bits(key.data, key.len));
	buf_release(&key);
	return dir;
}
