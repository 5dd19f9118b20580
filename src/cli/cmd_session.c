/*
 * Sessions: georep create, config and delete.  A session is a directory
 * HOME/sessions/NAME holding its config (INI); the index, journal, status
 * and log join it when it runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../status/status.h"
#include "../daemon/session.h"
#include "../sync/contact.h"
#include "cli.h"
#include "../common/banned.h"

/* The session, if any, that already writes this secondary. */
static char *
session_writing(const char *home, const char *secondary)
{
	char **names, *found = NULL;
	size_t n;

	session_list(home, &names, &n);
	for (size_t i = 0; i < n && found == NULL; i++) {
		struct config c;
		char err[1024];
		char *sdir = session_dir(home, names[i]);
		char *path = session_path(sdir, SF_CONFIG);
		config_init(&c);
		if (config_load(&c, path, err, sizeof(err)) == 0 &&
		    strcmp(c.secondary, secondary) == 0)
			found = xstrdup(names[i]);
		config_release(&c);
		free(path);
		free(sdir);
	}
	session_list_release(names, n);
	return found;
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

static void
create_usage(FILE *out)
{
	fprintf(out,
"usage: georep create [--home DIR] [--force] [--adopt] [--config KEY=VALUE]...\n"
"                     NAME PRIMARY SECONDARY\n"
"\n"
"Create the session NAME replicating PRIMARY to SECONDARY: a local directory,\n"
"or [USER@]HOST:PATH reached with the ssh command (config key ssh_command).\n"
"Nothing is copied until 'georep start NAME'.  --config sets a key (see\n"
"'georep config --help'); exclude=PATTERN may be given several times.\n"
"Two sessions may share a primary, never a secondary directory.  PRIMARY must\n"
"be a directory on a filesystem with file handles (not ramfs, say).\n"
"\n"
"  --force   the first start may replace what SECONDARY holds when it\n"
"            belongs to another primary (with --adopt: what matches is kept)\n"
"  --adopt   the first start takes over a SECONDARY that is not empty and\n"
"            was never synced (a copy made by rsync, tar, cp, a backup):\n"
"            what matches PRIMARY is kept as it is, the rest is sent, and\n"
"            what PRIMARY lacks is removed (unless ignore_deletes).  One\n"
"            synced from this primary by a session that is gone (deleted,\n"
"            or a lost --home) is adopted without being asked\n");
}

int
cmd_create(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "adopt", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	struct config c;
	char err[1024];
	bool force = false, adopt = false;
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
		case 'f':
			force = true;
			break;
		case 'a':
			adopt = true;
			break;
		case 'h':
			create_usage(stdout);
			code = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (argc - optind != 3) {
		static const char *const what[] = { "NAME, PRIMARY and SECONDARY",
		    "PRIMARY and SECONDARY", "SECONDARY" };
		if (argc - optind < 3)
			fprintf(stderr, "georep create: missing %s\n",
			    what[argc - optind]);
		else
			fprintf(stderr, "georep create: unexpected argument "
			    "'%s'\n", argv[optind + 3]);
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
	if (code == 0)
		code = session_check_primary(prim, NULL);
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
	if (home_make(home) < 0 || mkdir_p(dir, 0700) < 0) {
		code = EX_CANTCREAT;
		goto out;
	}
	if (config_save(&c, dir) < 0 || (force && session_set_flag(dir,
	    SF_TAKEOVER, true) < 0) || (adopt && session_set_flag(dir,
	    SF_ADOPT, true) < 0)) {
		/* No half-made session for the next create to trip on. */
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
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

/*
 * A setting changed on a running session takes effect at once: the monitor
 * reloads its config on SIGHUP and restarts the worker with it after the
 * worker's turn.  Wait (up to APPLY_WAIT_S) until status says the running
 * worker has this very config, and say which it was.
 */
#define APPLY_WAIT_S	60

static void
apply_running(const char *name, const char *dir)
{
	pid_t pid = session_running_pid(dir);
	uint64_t want = session_config_digest(dir);
	struct status st;

	if (pid <= 0) {
		if (pid < 0)
			printf("saved; session %s is running with its pid unknown: "
			    "it applies the change at its next start\n", name);
		return;
	}
	if (kill(pid, SIGHUP) < 0) {
		log_sys(LOG_LVL_WARN, "signal session %s (pid %d): the change "
		    "applies at its next start", name, (int)pid);
		return;
	}
	int64_t deadline = mono_ns() + APPLY_WAIT_S * 1000000000LL;
	while (mono_ns() < deadline) {
		bool applied = false;
		if (read_live_status(dir, &st) == 0) {
			applied = st.config_applied == want;
			status_release(&st);
		}
		if (applied) {
			printf("applied to the running session %s (its worker "
			    "restarted with it)\n", name);
			return;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	printf("saved; the running session %s applies it once its current "
	    "turn ends\n", name);
}

static void
config_usage(FILE *out)
{
	fprintf(out,
"usage: georep config [--home DIR] NAME [KEY [VALUE]]\n"
"\n"
"Show all of a session's settings, one of them, or set one (validated).  A\n"
"running session applies a new setting at once: its monitor reloads the config\n"
"and restarts its worker with it after the worker's current turn (the command\n"
"waits for that, up to a minute, and says so).\n"
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
"  ssh_command      how a [USER@]HOST:PATH secondary is reached: a whole\n"
"                   command line, which must not prompt (ssh -oBatchMode=yes)\n"
"  crawl_interval   the period of crawl mode (60s)\n"
"  verify_interval  run georep verify --repair this often, the result in\n"
"                   status (off; e.g. 6h, 24h)\n"
"  log_level        error | warning | info | debug (info)\n"
"  compress         zstd on the wire: auto (on over ssh, off for a local\n"
"                   secondary), on (level 1), off, or a level 1..19 (auto)\n"
"  bwlimit          write at most this to the secondary, after compression:\n"
"                   KiB per second, or with a suffix K, M, G (e.g. 500,\n"
"                   2M); 0 is no limit (0)\n"
"  delta_threshold  a changed file the secondary holds goes as an rsync-style\n"
"                   delta from this size up: K, M, G; off; auto: 1M to a\n"
"                   remote secondary, off for a local one (auto)\n"
"  sync_jobs        the secondary writes small files (up to 1 MiB) with this\n"
"                   many workers at once, 1 to 32; 1: one at a time (3)\n"
"  log_file         where a started session logs: an absolute path, or - for\n"
"                   standard error; '' is HOME/sessions/NAME/log (''); read\n"
"                   at start\n"
"  metrics_listen   serve the Prometheus metrics (as status --prometheus) over\n"
"                   HTTP at /metrics: a port on 127.0.0.1, or ADDRESS:PORT\n"
"                   ([::1]:PORT for IPv6); no authentication (off)\n"
"Durations: 500ms, 1s, 2m, 1h, or a number of seconds.\n");
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
			} else {
				apply_running(argv[optind], dir);
			}
		}
	}
	config_release(&c);
	free(dir);
	return code;
}

int
cmd_delete(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	struct config c;
	char *dir;
	bool force = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'f': force = true; break;
		case 'h':
			printf("usage: georep delete [--home DIR] [--force] NAME\n\n"
			    "Delete the session NAME: its config, index, journal, "
			    "status and log.\nThe secondary keeps its files.  A "
			    "running session is refused (exit 75):\nstop it "
			    "first, or --force stops it, then deletes it.\n");
			return 0;
		default: return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "georep delete: %s\nusage: georep delete "
		    "[--home DIR] [--force] NAME\n", argc - optind ?
		    "one NAME only" : "missing NAME");
		return EX_USAGE;
	}
	const char *name = argv[optind];
	if (session_load(session_home(home), name, &c, &dir) < 0)
		return EX_NOINPUT;
	config_release(&c);
	pid_t pid = session_running_pid(dir);
	if (pid != 0 && !force) {
		log_err("session %s is running (monitor pid %d): stop it first "
		    "('georep stop %s'), or 'georep delete --force %s' stops it "
		    "and deletes it", name, (int)pid, name, name);
		free(dir);
		return EX_TEMPFAIL;
	}
	if (pid != 0) {
		int stopped = stop_session(name, dir);
		if (stopped > 1) {
			free(dir);
			return stopped;
		}
		printf("stopped session %s\n", name);
	}
	int rc = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc == 0)
		printf("deleted session %s\n", argv[optind]);
	free(dir);
	return rc == 0 ? 0 : EX_IOERR;
}
