#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "banned.h"

const char *const config_keys[] = {
	"change_detector", "change_interval", "sync_jobs", "timeout",
	"ignore_deletes", "sync_xattrs", "sync_acls", "compress", "exclude",
	"ssh_command", "crawl_interval", "log_level", NULL,
};

static const char *const detector_names[] = { "auto", "fanotify", "inotify",
    "crawl" };
static const char *const level_names[] = { "error", "warning", "info",
    "debug" };

void
config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->change_detector = DETECT_AUTO;
	c->change_interval_ms = 1000;
	c->sync_jobs = 3;
	c->timeout_ms = 60000;
	c->sync_xattrs = true;
	c->sync_acls = true;
	c->compress = -1;
	c->ssh_command = xstrdup("ssh -oBatchMode=yes");
	c->crawl_interval_ms = 60000;
	c->log_level = LOG_LVL_INFO;
}

void
config_release(struct config *c)
{
	free(c->primary);
	free(c->secondary);
	for (size_t i = 0; i < c->nexclude; i++)
		free(c->exclude[i]);
	free(c->exclude);
	free(c->ssh_command);
	memset(c, 0, sizeof(*c));
}

int
parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "ms") == 0)
		;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if (strcmp(end, "h") == 0)
		v *= 3600000;
	else
		return -1;
	if (v > 7.0 * 24 * 3600 * 1000)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
parse_enum(const char *s, const char *const *names, size_t n, int *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	return -1;
}

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int
config_set(struct config *c, const char *key, const char *v, char *err,
    size_t errlen)
{
	int iv;
	int64_t ms;

	if (strcmp(key, "change_detector") == 0) {
		if (parse_enum(v, detector_names, 4, &iv) < 0)
			BAD("change_detector '%s': expected fanotify, inotify, "
			    "crawl or auto", v);
		c->change_detector = (enum detector)iv;
	} else if (strcmp(key, "change_interval") == 0 ||
	    strcmp(key, "timeout") == 0 || strcmp(key, "crawl_interval") == 0) {
		if (parse_duration_ms(v, &ms) < 0 || ms < 1)
			BAD("%s '%s': expected a duration such as 1s, 500ms, 2m "
			    "(at most 7 days)", key, v);
		if (strcmp(key, "timeout") == 0 && ms < 1000)
			BAD("timeout '%s': at least 1s", v);
		if (strcmp(key, "change_interval") == 0)
			c->change_interval_ms = ms;
		else if (strcmp(key, "timeout") == 0)
			c->timeout_ms = ms;
		else
			c->crawl_interval_ms = ms;
	} else if (strcmp(key, "sync_jobs") == 0) {
		if (parse_int(v, 1, 64, &iv) < 0)
			BAD("sync_jobs '%s': expected a number from 1 to 64", v);
		c->sync_jobs = iv;
	} else if (strcmp(key, "ignore_deletes") == 0 ||
	    strcmp(key, "sync_xattrs") == 0 || strcmp(key, "sync_acls") == 0) {
		bool b;
		if (parse_bool(v, &b) < 0)
			BAD("%s '%s': expected true or false", key, v);
		if (strcmp(key, "ignore_deletes") == 0)
			c->ignore_deletes = b;
		else if (strcmp(key, "sync_xattrs") == 0)
			c->sync_xattrs = b;
		else
			c->sync_acls = b;
	} else if (strcmp(key, "compress") == 0) {
		if (strcmp(v, "auto") == 0)
			iv = -1;
		else if (parse_int(v, 0, 19, &iv) < 0)
			BAD("compress '%s': expected a zstd level from 0 (off) "
			    "to 19, or auto", v);
		c->compress = iv;
	} else if (strcmp(key, "exclude") == 0) {
		if (*v == '\0') {
			for (size_t i = 0; i < c->nexclude; i++)
				free(c->exclude[i]);
			c->nexclude = 0;
			return 0;
		}
		if (strlen(v) >= PATH_MAX || strchr(v, '\n'))
			BAD("exclude: a pattern of at most %d bytes on one line",
			    PATH_MAX - 1);
		XGROW(c->exclude, c->cap_exclude, c->nexclude + 1);
		c->exclude[c->nexclude++] = xstrdup(v);
	} else if (strcmp(key, "ssh_command") == 0) {
		if (*v == '\0' || strchr(v, '\n'))
			BAD("ssh_command: a command on one line");
		free(c->ssh_command);
		c->ssh_command = xstrdup(v);
	} else if (strcmp(key, "log_level") == 0) {
		if (parse_enum(v, level_names, 4, &iv) < 0)
			BAD("log_level '%s': expected error, warning, info or "
			    "debug", v);
		c->log_level = iv;
	} else {
		BAD("unknown key '%s' (the keys: change_detector, "
		    "change_interval, sync_jobs, timeout, ignore_deletes, "
		    "sync_xattrs, sync_acls, compress, exclude, ssh_command, "
		    "crawl_interval, log_level)", key);
	}
	return 0;
}

static char *
format_ms(int64_t ms)
{
	if (ms % 3600000 == 0)
		return xasprintf("%lldh", (long long)(ms / 3600000));
	if (ms % 60000 == 0)
		return xasprintf("%lldm", (long long)(ms / 60000));
	if (ms % 1000 == 0)
		return xasprintf("%llds", (long long)(ms / 1000));
	return xasprintf("%lldms", (long long)ms);
}

char *
config_get(const struct config *c, const char *key)
{
	if (strcmp(key, "change_detector") == 0)
		return xstrdup(detector_names[c->change_detector]);
	if (strcmp(key, "change_interval") == 0)
		return format_ms(c->change_interval_ms);
	if (strcmp(key, "timeout") == 0)
		return format_ms(c->timeout_ms);
	if (strcmp(key, "crawl_interval") == 0)
		return format_ms(c->crawl_interval_ms);
	if (strcmp(key, "sync_jobs") == 0)
		return xasprintf("%d", c->sync_jobs);
	if (strcmp(key, "ignore_deletes") == 0)
		return xstrdup(c->ignore_deletes ? "true" : "false");
	if (strcmp(key, "sync_xattrs") == 0)
		return xstrdup(c->sync_xattrs ? "true" : "false");
	if (strcmp(key, "sync_acls") == 0)
		return xstrdup(c->sync_acls ? "true" : "false");
	if (strcmp(key, "compress") == 0)
		return c->compress < 0 ? xstrdup("auto") :
		    xasprintf("%d", c->compress);
	if (strcmp(key, "exclude") == 0) {
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < c->nexclude; i++) {
			if (i)
				buf_addstr(&b, "\n");
			buf_addstr(&b, c->exclude[i]);
		}
		buf_add(&b, "", 1);
		return (char *)b.data;
	}
	if (strcmp(key, "ssh_command") == 0)
		return xstrdup(c->ssh_command);
	if (strcmp(key, "log_level") == 0)
		return xstrdup(level_names[c->log_level]);
	errno = ENOENT;
	return NULL;
}

struct load {
	struct config *c;
	char *err;
	size_t errlen;
	const char *path;
	bool failed;
	bool excludes_reset;
};

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	char why[512];

	if (l->failed)
		return 0;
	if (strcmp(section, "session") == 0 && (strcmp(name, "primary") == 0 ||
	    strcmp(name, "secondary") == 0)) {
		char **dst = name[0] == 'p' ? &l->c->primary : &l->c->secondary;
		free(*dst);
		*dst = xstrdup(value);
		return 1;
	}
	if (strcmp(section, "config") != 0) {
		snprintf(l->err, l->errlen, "%s: unknown setting [%s] %s", l->path,
		    section, name);
		l->failed = true;
		return 0;
	}
	if (strcmp(name, "exclude") == 0 && !l->excludes_reset) {
		config_set(l->c, "exclude", "", why, sizeof(why));
		l->excludes_reset = true;
	}
	if (config_set(l->c, name, value, why, sizeof(why)) < 0) {
		snprintf(l->err, l->errlen, "%s: %s", l->path, why);
		l->failed = true;
		return 0;
	}
	return 1;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load l = { c, err, errlen, path, false, false };
	int rc = ini_parse(path, on_ini, &l);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (l.failed)
		return -1;
	if (rc > 0) {
		snprintf(err, errlen, "%s: line %d: not valid INI", path, rc);
		return -1;
	}
	if (c->primary == NULL || c->secondary == NULL) {
		snprintf(err, errlen, "%s: [session] primary and secondary are "
		    "required", path);
		return -1;
	}
	return 0;
}

int
config_save(const struct config *c, const char *dir)
{
	struct buf b = BUF_INIT;
	int fd, rc;

	buf_addstr(&b, "# georep session: edit with 'georep config NAME KEY VALUE'\n"
	    "[session]\nprimary = ");
	buf_addstr(&b, c->primary);
	buf_addstr(&b, "\nsecondary = ");
	buf_addstr(&b, c->secondary);
	buf_addstr(&b, "\n\n[config]\n");
	for (size_t i = 0; config_keys[i]; i++) {
		if (strcmp(config_keys[i], "exclude") == 0) {
			for (size_t k = 0; k < c->nexclude; k++) {
				buf_addstr(&b, "exclude = ");
				buf_addstr(&b, c->exclude[k]);
				buf_addstr(&b, "\n");
			}
			continue;
		}
		char *v = config_get(c, config_keys[i]);
		buf_addstr(&b, config_keys[i]);
		buf_addstr(&b, " = ");
		buf_addstr(&b, v);
		buf_addstr(&b, "\n");
		free(v);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_sys(LOG_LVL_ERR, "open %s", dir);
		buf_release(&b);
		return -1;
	}
	rc = durable_write_at(fd, "config", b.data, b.len, 0600);
	close(fd);
	buf_release(&b);
	return rc;
}
