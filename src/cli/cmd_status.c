#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../status/status.h"
#include "../daemon/session.h"
#include "../sync/contact.h"
#include "cli.h"
#include "../daemon/daemon.h"
#include "../common/banned.h"

/* The status a running monitor serves on the session's socket; -1 if it
 * does not answer within a second (stopped with SIGSTOP, say): the caller
 * reads status.json instead. */
static int
read_live(const char *dir, struct status *st)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 1 };
	char *path = session_path(dir, SF_SOCK);
	struct buf b = BUF_INIT;
	int rc = -1;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	free(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	for (;;) {
		buf_reserve(&b, 4096);
		ssize_t n = read(fd, b.data + b.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > (1u << 20))
			goto out;
	}
	rc = status_load_text(st, (const char *)b.data, b.len);
out:
	close(fd);
	buf_release(&b);
	return rc;
}

/* One session: 0, or -1 when it cannot be read (reported). */
static int
show(const char *home, const char *name, bool json, json_t *array)
{
	struct config cfg;
	struct status st;
	char *dir;

	if (session_load(home, name, &cfg, &dir) < 0)
		return -1;
	bool running = session_running_pid(dir) != 0;
	if ((!running || read_live(dir, &st) < 0) && status_load(&st, dir) < 0)
		status_init(&st);
	/* A checkpoint just set, that the worker has not seen yet: pending
	 * (not the previous one, completed).  status.json keeps times to
	 * the millisecond. */
	int64_t cp = session_checkpoint(dir);
	if (cp / 1000000 != st.checkpoint / 1000000) {
		st.checkpoint = cp;
		st.checkpoint_completed = false;
		st.checkpoint_completed_at = 0;
	}
	if (!running && strcmp(st.state, "Created") != 0 &&
	    strcmp(st.state, "Stopped") != 0) {
		/* The monitor ended without saying so (killed): stopped. */
		char detail[256];
		snprintf(detail, sizeof(detail), "not running: the monitor ended "
		    "while %s (the next start recovers)", st.state);
		snprintf(st.state, sizeof(st.state), "Stopped");
		status_set_detail(&st, detail);
	}
	if (json)
		status_print_json(&st, name, cfg.primary, cfg.secondary, running,
		    array);
	else
		status_print_row(&st, name, cfg.primary, cfg.secondary, running);
	status_release(&st);
	config_release(&cfg);
	free(dir);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	bool json = false;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: georep status [--home DIR] [--json] [NAME]\n"
			    "\nThe state of one session or of all: state, last "
			    "synced (the sync point),\nlag, failures with their "
			    "paths, checkpoint.  --json prints one object for\n"
			    "NAME, an array for all.\n");
			return 0;
		default: return EX_USAGE;
		}
	}
	home = session_home(home);
	if (argc - optind > 1) {
		fprintf(stderr, "usage: georep status [--home DIR] [--json] "
		    "[NAME]\n");
		return EX_USAGE;
	}
	if (argc - optind == 1) {
		if (!json)
			status_print_header();
		return show(home, argv[optind], json, NULL) < 0 ? EX_NOINPUT : 0;
	}
	char *sessions = xasprintf("%s/sessions", home);
	DIR *d = opendir(sessions);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (!session_name_valid(de->d_name))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (d)
		closedir(d);
	free(sessions);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	json_t *array = json ? json_array() : NULL;
	if (!json)
		status_print_header();
	for (size_t i = 0; i < n; i++) {
		if (show(home, names[i], json, array) < 0)
			rc = EX_IOERR;
		free(names[i]);
	}
	free(names);
	if (json) {
		char *text = json_dumps(array, JSON_INDENT(2) |
		    JSON_REAL_PRECISION(6));
		printf("%s\n", text);
		free(text);
		json_decref(array);
	}
	return rc;
}
