/*
 * Sessions: georep create, config and delete.  A session is a directory
 * HOME/sessions/NAME holding its config (INI); the index, journal, status
 * and log join it when it runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <dirent.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../daemon/session.h"
#include "../sync/contact.h"
#include "cli.h"
#include "../common/banned.h"

/* The session, if any, that already writes this secondary. */
static char *
session_writing(const char *home, const char *secondary)
{
	char *sessions = xasprintf("%s/sessions", home);
	DIR *d = opendir(sessions);
	struct dirent *de;
	char *found = NULL;

	free(sessions);
	if (d == NULL)
		return NULL;
	while (found == NULL && (de = readdir(d)) != NULL) {
		struct config c;
		if (!session_name_valid(de->d_name))
			continue;
		char *sdir = session_dir(home, de->d_name);
		char *path = session_path(sdir, SF_CONFIG);
		free(sdir);
		char err[1024];
		config_init(&c);
		if (config_load(&c, path, err, sizeof(err)) == 0 &&
		    strcmp(c.secondary, secondary) == 0)
			found = xstrdup(de->d_name);
		config_release(&c);
		free(path);
	}
	closedir(d);
	return found;
}

static void
create_usage(FILE *out)
{
	fprintf(out,
"usage: georep create [--home DIR] [--config KEY=VALUE]... NAME PRIMARY SECONDARY\n"
"\n"
"Create the session NAME replicating PRIMARY to SECONDARY (a local directory).\n"
"Nothing is copied until 'georep start NAME'.  --config sets a key (see\n"
"'georep config --help'); exclude=PATTERN may be given several times.\n"
"Two sessions may share a primary, never a secondary directory.\n");
}

int
cmd_create(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	struct config c;
	char err[1024];
	int ch, code = EX_USAGE;
	char *prim = NULL, *sec = NULL, *dir = NULL, *other = NULL;

	config_init(&c);
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			home = optarg;
			break;
		case 'c': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL) {
				log_err("--config '%s': expected KEY=VALUE", optarg);
				goto out;
			}
			*eq = '\0';
			if (config_set(&c, optarg, eq + 1, err, sizeof(err)) < 0) {
				log_err("%s", err);
				goto out;
			}
			break;
		}
		case 'h':
			create_usage(stdout);
			code = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (argc - optind != 3) {
		create_usage(stderr);
		goto out;
	}
	const char *name = argv[optind], *prim_arg = argv[optind + 1],
	    *sec_arg = argv[optind + 2];
	if (!session_name_valid(name)) {
		log_err("'%s' is not a session name (letters, digits, '_', '-', "
		    "'.'; at most 64)", name);
		goto out;
	}
	code = resolve_pair(prim_arg, sec_arg, &prim, &sec);
	if (code != 0)
		goto out;
	code = EX_USAGE;
	if (strchr(prim, '\n') || strchr(sec, '\n')) {
		log_err("a primary or secondary path with a newline cannot be a "
		    "session (use georep sync)");
		goto out;
	}
	home = session_home(home);
	dir = session_dir(home, name);
	if (access(dir, F_OK) == 0) {
		log_err("session '%s' exists already (%s)", name, dir);
		code = EX_CANTCREAT;
		goto out;
	}
	if ((other = session_writing(home, sec)) != NULL) {
		log_err("session '%s' already writes %s: two sessions may not "
		    "write one secondary directory", other, sec);
		code = EX_CANTCREAT;
		goto out;
	}
	c.primary = xstrdup(prim);
	c.secondary = xstrdup(sec);
	if (mkdir_p(dir, 0700) < 0 || config_save(&c, dir) < 0) {
		code = EX_CANTCREAT;
		goto out;
	}
	printf("created session %s: %s -> %s\n", name, prim, sec);
	code = 0;
out:
	config_release(&c);
	free(prim);
	free(sec);
	free(dir);
	free(other);
	return code;
}

static void
config_usage(FILE *out)
{
	fprintf(out,
"usage: georep config [--home DIR] NAME [KEY [VALUE]]\n"
"\n"
"Show all of a session's settings, one of them, or set one (validated; the\n"
"running session picks it up at its next start).\n"
"\n"
"keys (default):\n"
"  change_detector  fanotify | inotify | crawl | auto (auto: fanotify when\n"
"                   permitted, else inotify)\n"
"  change_interval  the longest a journal segment stays open under load (1s)\n"
"  timeout          a silent secondary is declared dead after (60s)\n"
"  ignore_deletes   do not replicate deletions: true | false (false)\n"
"  sync_xattrs      replicate extended attributes (true)\n"
"  sync_acls        replicate POSIX ACLs (true)\n"
"  one_file_system  a mount point inside the primary is not entered: with\n"
"                   false, each is a failure in status; with true, they are\n"
"                   skipped on purpose (false)\n"
"  exclude          a pattern, as georep sync --exclude; setting it replaces\n"
"                   the list with that one pattern, '' clears it (none)\n"
"  crawl_interval   the period of crawl mode (60s)\n"
"  log_level        error | warning | info | debug (info)\n"
"Durations: 500ms, 1s, 2m, 1h, or a number of seconds.\n"
"Not built yet, and refused: sync_jobs (one pipelined stream today),\n"
"compress (nothing is compressed on the wire today) and ssh_command (the\n"
"secondary is a local directory today).\n");
}

int
cmd_config(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	struct config c;
	char *dir = NULL, err[1024];
	int ch, n;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'h': config_usage(stdout); return 0;
		default: return EX_USAGE;
		}
	}
	n = argc - optind;
	if (n < 1 || n > 3) {
		config_usage(stderr);
		return EX_USAGE;
	}
	if (session_load(session_home(home), argv[optind], &c, &dir) < 0)
		return EX_NOINPUT;
	int code = 0;
	if (n == 1) {
		printf("primary = %s\nsecondary = %s\n", c.primary, c.secondary);
		for (size_t i = 0; config_keys[i]; i++) {
			char *v = config_get(&c, config_keys[i]);
			if (strcmp(config_keys[i], "exclude") == 0) {
				for (size_t k = 0; k < c.nexclude; k++)
					printf("exclude = %s\n", c.exclude[k]);
			} else {
				printf("%s = %s\n", config_keys[i], v);
			}
			free(v);
		}
	} else if (n == 2) {
		const char *key = argv[optind + 1];
		char *v = config_get(&c, key);
		if (v == NULL && (strcmp(key, "primary") == 0 ||
		    strcmp(key, "secondary") == 0))
			v = xstrdup(key[0] == 'p' ? c.primary : c.secondary);
		if (v == NULL) {
			config_set(&c, key, "", err, sizeof(err));
			log_err("%s", err);
			code = EX_USAGE;
		} else {
			printf("%s\n", v);
			free(v);
		}
	} else {
		const char *key = argv[optind + 1], *value = argv[optind + 2];
		if (strcmp(key, "primary") == 0 || strcmp(key, "secondary") == 0) {
			log_err("%s is fixed when the session is created (delete it "
			    "and create another)", key);
			code = EX_USAGE;
		} else {
			if (strcmp(key, "exclude") == 0)
				config_set(&c, "exclude", "", err, sizeof(err));
			if (config_set(&c, key, value, err, sizeof(err)) < 0) {
				log_err("%s", err);
				code = EX_USAGE;
			} else if (config_save(&c, dir) < 0) {
				code = EX_CANTCREAT;
			}
		}
	}
	config_release(&c);
	free(dir);
	return code;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0) {
		log_sys(LOG_LVL_ERR, "remove %s", path);
		return -1;
	}
	return 0;
}

int
cmd_delete(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	struct config c;
	char *dir;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'h':
			printf("usage: georep delete [--home DIR] NAME\n\n"
			    "Delete the session NAME: its config, index, journal, "
			    "status and log.\nThe secondary keeps its files.\n");
			return 0;
		default: return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: georep delete [--home DIR] NAME\n");
		return EX_USAGE;
	}
	if (session_load(session_home(home), argv[optind], &c, &dir) < 0)
		return EX_NOINPUT;
	config_release(&c);
	int rc = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc == 0)
		printf("deleted session %s\n", argv[optind]);
	free(dir);
	return rc == 0 ? 0 : EX_IOERR;
}
