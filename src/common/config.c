#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmdline.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "banned.h"

const char *const config_keys[] = {
	"change_detector", "change_interval", "timeout", "ignore_deletes",
	"sync_xattrs", "sync_acls", "one_file_system", "exclude",
	"ssh_command", "crawl_interval", "log_level", "verify_interval",
	"compress", "bwlimit", "delta_threshold", "sync_jobs", "log_file",
	"metrics_listen", NULL,
};

/*
 * What a "key = value" line gives back through libinih, as Debian builds
 * it: lines of at most 199 bytes (a longer one is cut, and the rest read
 * as another line), blanks around a value stripped, and ';' at its start
 * or after a blank starting a comment ('#' too, in other builds).  A value
 * it would not give back as written is refused when it is set or saved,
 * not found wrong when the file is read.  NULL when it fits, else why.
 */
#define INI_LINE_MAX 198

static const char *
ini_unfit(const char *key, const char *v)
{
	size_t n = strlen(v);

	if (strpbrk(v, "\n\r"))
		return "not on one line";
	if (strlen(key) + 3 + n > INI_LINE_MAX)
		return "too long for a line of the config file (198 bytes)";
	if (n > 0 && (isspace((unsigned char)v[0]) ||
	    isspace((unsigned char)v[n - 1])))
		return "the config file drops blanks at either end";
	for (size_t i = 0; i < n; i++)
		if ((v[i] == ';' || v[i] == '#') &&
		    (i == 0 || isspace((unsigned char)v[i - 1])))
			return "';' or '#' at the start or after a blank "
			    "begins a comment in the config file";
	return NULL;
}

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
	c->timeout_ms = 60000;
	c->sync_xattrs = true;
	c->sync_acls = true;
	c->one_file_system = false;
	c->crawl_interval_ms = 60000;
	c->log_level = LOG_LVL_INFO;
	c->ssh_command = xstrdup(CONFIG_SSH_COMMAND);
	c->compress = COMPRESS_AUTO;
	c->delta_threshold = CONFIG_DELTA_AUTO;
	c->sync_jobs = SYNC_JOBS_DEFAULT;
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
	free(c->log_file);
	free(c->metrics_listen);
	memset(c, 0, sizeof(*c));
}

/* A port: 1 to 65535, digits only. */
static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
parse_listen(const char *s, struct sockaddr_storage *ss, unsigned *len)
{
	struct sockaddr_storage tmp;
	struct sockaddr_in *in = (struct sockaddr_in *)&tmp;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&tmp;
	char host[64];
	const char *colon;
	uint16_t port;

	if (strcmp(s, "off") == 0)
		return 1;
	memset(&tmp, 0, sizeof(tmp));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >=
		    sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (parse_port(end + 2, &port) < 0 ||
		    inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		if (len)
			*len = sizeof(*in6);
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			snprintf(host, sizeof(host), "127.0.0.1");
		else if ((size_t)(colon - s) >= sizeof(host))
			return -1;
		else {
			memcpy(host, s, (size_t)(colon - s));
			host[colon - s] = '\0';
		}
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		if (parse_port(colon ? colon + 1 : s, &port) < 0 ||
		    inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -1;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		if (len)
			*len = sizeof(*in);
	}
	if (ss)
		*ss = tmp;
	return 0;
}

/* A number with an optional unit after it: digits with at most one '.'
 * (strtod alone would also take a sign, blanks, hex, exponents, "inf" and
 * "nan", which no comparison refuses and which has no integer value).
 * *unit: what follows the number.  -1 when there is no such number. */
static int
parse_decimal(const char *s, double *v, const char **unit)
{
	char *end;
	size_t n = strspn(s, "0123456789");

	if (s[n] == '.')
		n += 1 + strspn(s + n + 1, "0123456789");
	if (n == 0 || (n == 1 && s[0] == '.'))
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end != s + n)
		return -1;
	*unit = end;
	return 0;
}

int
parse_duration_ms(const char *s, int64_t *out)
{
	const char *end;
	double v;

	if (parse_decimal(s, &v, &end) < 0)
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

/* One or two digits, no sign, no blank (atoi alone would take both),
 * from 1 to max. */
static int
parse_small_count(const char *s, int max, int *out)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n > 2 || s[n] != '\0')
		return -1;
	int v = atoi(s);
	if (v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

int
parse_sync_jobs(const char *s, int *out)
{
	return parse_small_count(s, SYNC_JOBS_LIMIT, out);
}

int
parse_compress(const char *s, int *out)
{
	static const char *const on[] = { "on", "yes", "true" };
	static const char *const off[] = { "off", "no", "false", "0" };

	if (strcmp(s, "auto") == 0) {
		*out = COMPRESS_AUTO;
		return 0;
	}
	for (size_t i = 0; i < 4; i++) {
		if (i < 3 && strcmp(s, on[i]) == 0) {
			*out = COMPRESS_DEFAULT;
			return 0;
		}
		if (strcmp(s, off[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return parse_small_count(s, COMPRESS_MAX, out);
}

int
parse_rate(const char *s, uint64_t *out)
{
	static const struct { char c; uint64_t mul; } units[] = {
		{ 'B', 1 }, { 'K', 1ull << 10 }, { 'M', 1ull << 20 },
		{ 'G', 1ull << 30 },
	};
	uint64_t mul = 1ull << 10;	/* rsync's default unit: KiB */
	const char *end;
	double v;

	if (parse_decimal(s, &v, &end) < 0)
		return -1;
	if (*end != '\0') {
		size_t i;
		for (i = 0; i < 4; i++)
			if (toupper((unsigned char)*end) == units[i].c)
				break;
		if (i == 4 || end[1] != '\0')
			return -1;
		mul = units[i].mul;
	}
	v *= (double)mul;
	if (v != 0 && (v < 1024 || v > (double)RATE_MAX))
		return -1;
	*out = (uint64_t)(v + 0.5);
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	size_t n = strspn(s, "0123456789");
	uint64_t v = 0;
	unsigned shift = 0;

	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	if (s[n] != '\0') {
		const char *u = strchr(units, s[n]);
		if (u == NULL || s[n + 1] != '\0')
			return -1;
		shift = 10 * (unsigned)(u - units + 1);
	}
	if (v > (1ull << 50) >> shift)
		return -1;
	*out = v << shift;
	return 0;
}

int
parse_delta_threshold(const char *s, uint64_t *out)
{
	if (strcmp(s, "off") == 0) {
		*out = 0;
		return 0;
	}
	if (strcmp(s, "auto") == 0) {
		*out = CONFIG_DELTA_AUTO;
		return 0;
	}
	return parse_size(s, out);
}

char *
format_delta_threshold(uint64_t v)
{
	static const char units[] = "TGMK";

	if (v == 0)
		return xstrdup("off");
	if (v == CONFIG_DELTA_AUTO)
		return xstrdup("auto");
	for (int i = 0; i < 4; i++) {
		unsigned shift = 10 * (unsigned)(4 - i);
		if (v % (1ull << shift) == 0)
			return xasprintf("%llu%c", (unsigned long long)(v >> shift),
			    units[i]);
	}
	return xasprintf("%llu", (unsigned long long)v);
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

/* The boolean keys, and where each lives in struct config. */
static const struct bool_key {
	const char *key;
	size_t off;
} bool_keys[] = {
	{ "ignore_deletes", offsetof(struct config, ignore_deletes) },
	{ "sync_xattrs", offsetof(struct config, sync_xattrs) },
	{ "sync_acls", offsetof(struct config, sync_acls) },
	{ "one_file_system", offsetof(struct config, one_file_system) },
};

static const struct bool_key *
find_bool(const char *key)
{
	for (size_t i = 0; i < sizeof(bool_keys) / sizeof(bool_keys[0]); i++)
		if (strcmp(key, bool_keys[i].key) == 0)
			return &bool_keys[i];
	return NULL;
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

/* "unknown key 'KEY' (the keys: ...)" into err. */
static int
unknown_key(const char *key, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; config_keys[i]; i++) {
		if (i)
			buf_addstr(&b, ", ");
		buf_addstr(&b, config_keys[i]);
	}
	buf_add(&b, "", 1);
	snprintf(err, errlen, "unknown key '%s' (the keys: %s)", key,
	    (char *)b.data);
	buf_release(&b);
	return -1;
}

int
config_set(struct config *c, const char *key, const char *v, char *err,
    size_t errlen)
{
	const struct bool_key *bk = find_bool(key);
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
	} else if (strcmp(key, "verify_interval") == 0) {
		if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
			ms = 0;
		else if (parse_duration_ms(v, &ms) < 0 || ms < 1000)
			BAD("verify_interval '%s': expected off, or a duration "
			    "of at least 1s such as 30m, 1h (at most 7 days)", v);
		c->verify_interval_ms = ms;
	} else if (bk) {
		if (parse_bool(v, (bool *)((char *)c + bk->off)) < 0)
			BAD("%s '%s': expected true or false", key, v);
	} else if (strcmp(key, "exclude") == 0) {
		if (*v == '\0') {
			for (size_t i = 0; i < c->nexclude; i++)
				free(c->exclude[i]);
			c->nexclude = 0;
			return 0;
		}
		const char *why = ini_unfit(key, v);
		if (why) {
			char *q = quote_name(v, strlen(v));
			snprintf(err, errlen, "exclude '%s': %s", q, why);
			free(q);
			return -1;
		}
		XGROW(c->exclude, c->cap_exclude, c->nexclude + 1);
		c->exclude[c->nexclude++] = xstrdup(v);
	} else if (strcmp(key, "ssh_command") == 0) {
		char **argv;
		const char *why = ini_unfit(key, v);
		if (why)
			BAD("ssh_command '%s': %s", v, why);
		if (split_command(v, &argv, err, errlen) < 0) {
			char e2[512];
			snprintf(e2, sizeof(e2), "%s", err);
			BAD("ssh_command %s", e2);
		}
		argv_free(argv);
		free(c->ssh_command);
		c->ssh_command = xstrdup(v);
	} else if (strcmp(key, "compress") == 0) {
		if (parse_compress(v, &c->compress) < 0)
			BAD("compress '%s': expected auto, on, off or a zstd "
			    "level from 1 to %d", v, COMPRESS_MAX);
	} else if (strcmp(key, "bwlimit") == 0) {
		if (parse_rate(v, &c->bwlimit) < 0)
			BAD("bwlimit '%s': expected 0 (no limit) or a rate in KiB "
			    "per second, or with a suffix K, M, G (e.g. 500, 2M), "
			    "from 1K to 1024G", v);
	} else if (strcmp(key, "sync_jobs") == 0) {
		if (parse_sync_jobs(v, &c->sync_jobs) < 0)
			BAD("sync_jobs '%s': expected a number of workers from 1 "
			    "to %d", v, SYNC_JOBS_LIMIT);
	} else if (strcmp(key, "delta_threshold") == 0) {
		if (parse_delta_threshold(v, &c->delta_threshold) < 0)
			BAD("delta_threshold '%s': expected a size such as 1M, "
			    "512K, 2G (bytes without a unit), off or auto", v);
	} else if (strcmp(key, "log_file") == 0) {
		const char *why = ini_unfit(key, v);
		if (why)
			BAD("log_file '%s': %s", v, why);
		if (*v != '\0' && strcmp(v, "-") != 0 && v[0] != '/')
			BAD("log_file '%s': expected an absolute path, - (standard "
			    "error) or '' (the session's own log)", v);
		free(c->log_file);
		c->log_file = *v ? xstrdup(v) : NULL;
	} else if (strcmp(key, "metrics_listen") == 0) {
		int off = parse_listen(v, NULL, NULL);
		if (off < 0)
			BAD("metrics_listen '%s': expected off, a port (on "
			    "127.0.0.1), or ADDRESS:PORT with an IPv4 address, "
			    "[an IPv6 one] or localhost", v);
		free(c->metrics_listen);
		c->metrics_listen = off ? NULL : xstrdup(v);
	} else if (strcmp(key, "log_level") == 0) {
		if (parse_enum(v, level_names, 4, &iv) < 0)
			BAD("log_level '%s': expected error, warning, info or "
			    "debug", v);
		c->log_level = iv;
	} else {
		return unknown_key(key, err, errlen);
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
	if (strcmp(key, "verify_interval") == 0)
		return c->verify_interval_ms ? format_ms(c->verify_interval_ms) :
		    xstrdup("off");
	const struct bool_key *bk = find_bool(key);
	if (bk)
		return xstrdup(*(const bool *)((const char *)c + bk->off) ?
		    "true" : "false");
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
	if (strcmp(key, "compress") == 0)
		return c->compress == COMPRESS_AUTO ? xstrdup("auto") :
		    c->compress == 0 ? xstrdup("off") :
		    xasprintf("%d", c->compress);
	if (strcmp(key, "bwlimit") == 0)
		return format_rate(c->bwlimit);
	if (strcmp(key, "delta_threshold") == 0)
		return format_delta_threshold(c->delta_threshold);
	if (strcmp(key, "sync_jobs") == 0)
		return xasprintf("%d", c->sync_jobs);
	if (strcmp(key, "log_file") == 0)
		return xstrdup(c->log_file ? c->log_file : "");
	if (strcmp(key, "metrics_listen") == 0)
		return xstrdup(c->metrics_listen ? c->metrics_listen : "off");
	errno = ENOENT;
	return NULL;
}

struct load {
	struct config *c;
	char why[512];		/* the first error; ini_parse gives its line */
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
		snprintf(l->why, sizeof(l->why), "unknown setting [%s] %s",
		    section, name);
		l->failed = true;
		return 0;
	}
	if (strcmp(name, "exclude") == 0 && !l->excludes_reset) {
		config_set(l->c, "exclude", "", why, sizeof(why));
		l->excludes_reset = true;
	}
	if (config_set(l->c, name, value, l->why, sizeof(l->why)) < 0) {
		l->failed = true;
		return 0;
	}
	return 1;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load l = { .c = c };
	int rc = ini_parse(path, on_ini, &l);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (l.failed) {
		snprintf(err, errlen, "%s: line %d: %s", path, rc, l.why);
		return -1;
	}
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

/* One "key = value" line, if the file can give the value back. */
static int
add_line(struct buf *b, const char *key, const char *v)
{
	const char *why = ini_unfit(key, v);

	if (why) {
		char *q = quote_name(v, strlen(v));
		log_err("the session's %s cannot be saved ('%s'): %s", key, q,
		    why);
		free(q);
		errno = EINVAL;
		return -1;
	}
	buf_addstr(b, key);
	buf_addstr(b, " = ");
	buf_addstr(b, v);
	buf_addstr(b, "\n");
	return 0;
}

/* The file's text into b: -1 (logged) when a value would not read back. */
static int
config_text(const struct config *c, struct buf *b)
{
	int rc = 0;

	buf_addstr(b, "# georep session: edit with 'georep config NAME KEY "
	    "VALUE'\n[session]\n");
	if (add_line(b, "primary", c->primary) < 0 ||
	    add_line(b, "secondary", c->secondary) < 0)
		return -1;
	buf_addstr(b, "\n[config]\n");
	for (size_t i = 0; config_keys[i] && rc == 0; i++) {
		if (strcmp(config_keys[i], "exclude") == 0) {
			for (size_t k = 0; k < c->nexclude && rc == 0; k++)
				rc = add_line(b, "exclude", c->exclude[k]);
			continue;
		}
		char *v = config_get(c, config_keys[i]);
		rc = add_line(b, config_keys[i], v);
		free(v);
	}
	return rc;
}

int
config_save(const struct config *c, const char *dir)
{
	struct buf b = BUF_INIT;
	int fd, rc;

	if (config_text(c, &b) < 0) {
		buf_release(&b);
		return -1;
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
