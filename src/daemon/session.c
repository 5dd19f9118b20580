#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/config.h"
#include "../common/fid.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../index/index.h"
#include "../sync/contact.h"
#include "session.h"
#include "../common/banned.h"

static const char *const file_names[] = {
	[SF_CONFIG] = "config",
	[SF_INDEX] = "index",
	[SF_JOURNAL] = "journal",
	[SF_STATUS] = "status.json",
	[SF_LOG] = "log",
	[SF_LOCK] = "lock",
	[SF_SOCK] = "sock",
	[SF_PAUSED] = "paused",
	[SF_CHECKPOINT] = "checkpoint",
	[SF_CRAWL_NEEDED] = "crawl_needed",
	[SF_TAKEOVER] = "takeover",
	[SF_ADOPT] = "adopt",
	[SF_REPAIR] = "repair",
};

const char *
session_file_name(enum session_file f)
{
	return file_names[f];
}

/* Absolute, so that what is shown (the log's path) and what a daemon
 * opens later do not depend on where the command ran. */
static const char *
absolute(const char *path)
{
	static char abs[PATH_MAX];
	char cwd[PATH_MAX];

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return path;
	int n = snprintf(abs, sizeof(abs), "%s/%s", strcmp(cwd, "/") ? cwd :
	    "", path);
	return n > 0 && (size_t)n < sizeof(abs) ? abs : path;
}

const char *
session_home(const char *opt_home)
{
	static char *home;
	const char *env = getenv("GEOREP_HOME");

	if (opt_home)
		return absolute(opt_home);
	if (env && *env)
		return absolute(env);
	if (geteuid() == 0)
		return "/var/lib/georep";
	if (home == NULL) {
		const char *h = getenv("HOME");
		if (h == NULL || *h == '\0')
			fatal("neither GEOREP_HOME nor HOME is set: use --home DIR");
		home = xasprintf("%s/.local/state/georep", h);
	}
	return absolute(home);
}

bool
session_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

char *
session_dir(const char *home, const char *name)
{
	return xasprintf("%s/sessions/%s", home, name);
}

char *
session_path(const char *dir, enum session_file f)
{
	return xasprintf("%s/%s", dir, file_names[f]);
}

char *
session_log_path(const char *dir, const struct config *c)
{
	if (c->log_file == NULL)
		return session_path(dir, SF_LOG);
	return xstrdup(strcmp(c->log_file, "-") == 0 ? "standard error" :
	    c->log_file);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
session_list(const char *home, char ***names, size_t *n)
{
	char *sessions = xasprintf("%s/sessions", home);
	DIR *d = opendir(sessions);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	free(sessions);
	while (d && (de = readdir(d)) != NULL) {
		if (!session_name_valid(de->d_name))
			continue;
		XGROW(*names, cap, *n + 1);
		(*names)[(*n)++] = xstrdup(de->d_name);
	}
	if (d)
		closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), cmp_name);
}

void
session_list_release(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
session_load(const char *home, const char *name, struct config *c,
    char **dirp)
{
	char err[1024];
	char *dir, *path;
	struct stat st;

	if (!session_name_valid(name)) {
		log_err("'%s' is not a session name (letters, digits, '_', '-', "
		    "'.'; at most 64)", name);
		return -1;
	}
	dir = session_dir(home, name);
	if (stat(dir, &st) < 0) {
		log_err("no session '%s' (in %s/sessions)", name, home);
		free(dir);
		return -1;
	}
	path = session_path(dir, SF_CONFIG);
	config_init(c);
	if (config_load(c, path, err, sizeof(err)) < 0) {
		log_err("%s", err);
		free(path);
		free(dir);
		config_release(c);
		return -1;
	}
	free(path);
	if (dirp)
		*dirp = dir;
	else
		free(dir);
	return 0;
}

bool
session_flag(const char *dir, enum session_file f)
{
	char *path = session_path(dir, f);
	bool on = access(path, F_OK) == 0;

	free(path);
	return on;
}

int
session_set_flag(const char *dir, enum session_file f, bool on)
{
	char *path = session_path(dir, f);
	int rc = 0;

	if (on) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = fd < 0 ? -1 : durable_write_at(fd, file_names[f], "1\n", 2,
		    0600);
		if (fd < 0)
			log_sys(LOG_LVL_ERR, "open %s", dir);
		else
			close(fd);
	} else if (unlink(path) < 0 && errno != ENOENT) {
		log_sys(LOG_LVL_ERR, "remove %s", path);
		rc = -1;
	}
	free(path);
	return rc;
}

int64_t
session_checkpoint(const char *dir)
{
	char *path = session_path(dir, SF_CHECKPOINT);
	FILE *f = fopen(path, "re");
	long long v = 0;

	free(path);
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lld", &v) != 1 || v < 0)
		v = 0;
	fclose(f);
	return v;
}

int
session_set_checkpoint(const char *dir, int64_t when)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%lld\n", (long long)when);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "open %s", dir);
		return -1;
	}
	rc = durable_write_at(fd, file_names[SF_CHECKPOINT], text, (size_t)n,
	    0600);
	close(fd);
	return rc;
}

pid_t
session_running_pid(const char *dir)
{
	char *path = session_path(dir, SF_LOCK);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[32] = "";
	pid_t pid = 0;

	free(path);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			pid = (pid_t)atoi(buf);
		}
		if (pid <= 0)
			pid = -1;	/* running, pid unknown */
	}
	close(fd);
	return pid;
}

int
session_lock(const char *dir, int *fdp)
{
	char *path = session_path(dir, SF_LOCK);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char buf[32];

	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "open %s", path);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		free(path);
		errno = EWOULDBLOCK;
		return -1;
	}
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_sys(LOG_LVL_WARN, "write the pid to %s", path);
	free(path);
	*fdp = fd;
	return 0;
}

uint64_t
session_config_digest(const char *dir)
{
	struct buf b = BUF_INIT;
	uint64_t d = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 && read_small_file_at(fd, file_names[SF_CONFIG], &b,
	    1 << 20) == 0)
		d = XXH3_64bits(b.data, b.len) | 1;	/* never 0 */
	if (fd >= 0)
		close(fd);
	buf_release(&b);
	return d;
}

int
session_check_primary(const char *primary, const char *dir)
{
	struct fid root;
	struct index *ix = NULL;
	uint64_t fsid;
	int rc = 0;
	int fd = open(primary, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "the primary %s", primary);
		return EX_NOINPUT;
	}
	/* volume_id says why when the filesystem has no file handles. */
	char *volume = volume_id(fd, primary, &fsid, &root);
	close(fd);
	if (volume == NULL)
		return EX_NOINPUT;
	char *ixdir = dir ? session_path(dir, SF_INDEX) : NULL;
	if (ixdir && access(ixdir, F_OK) == 0) {
		int o = open_index(ixdir, volume, &ix);
		if (o > 0)
			log_err("the primary %s is not the directory this session "
			    "was created for (moved away, or replaced by "
			    "another); to replicate this one, delete the session "
			    "and create it again", primary);
		rc = o == 0 ? 0 : o > 0 ? EX_DATAERR : EX_IOERR;
		index_close(ix);
	}
	free(ixdir);
	free(volume);
	return rc;
}
