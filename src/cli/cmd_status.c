#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../status/metrics.h"
#include "../status/status.h"
#include "../daemon/session.h"
#include "../sync/contact.h"
#include "cli.h"
#include "../daemon/daemon.h"
#include "../common/banned.h"

/* The status a running monitor serves on the session's socket; -1 if it
 * does not answer within a second (stopped with SIGSTOP, say): the caller
 * reads status.json instead. */
int
read_live_status(const char *dir, struct status *st)
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

/* The terminal's width, for the table's second lines (0: not a terminal,
 * the default then). */
static int
term_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");

	if (cols && atoi(cols) > 0)
		return atoi(cols);
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 0;
}

enum view_kind { VIEW_TABLE, VIEW_DETAIL, VIEW_JSON, VIEW_PROMETHEUS };

/* A session as status shows it: its status (live from its monitor when it
 * runs) and what a view needs beside it. */
struct shown {
	struct config cfg;
	struct status st;
	struct status_view v;
	char *dir, *log;
};

/* 0, or -1 when the session cannot be read (reported). */
static int
load_shown(const char *home, const char *name, struct shown *sh)
{
	struct status *st = &sh->st;

	memset(sh, 0, sizeof(*sh));
	if (session_load(home, name, &sh->cfg, &sh->dir) < 0)
		return -1;
	bool running = session_running_pid(sh->dir) != 0;
	if ((!running || read_live_status(sh->dir, st) < 0) &&
	    status_load(st, sh->dir) < 0)
		status_init(st);
	/* A checkpoint just set, that the worker has not seen yet: pending
	 * (not the previous one, completed).  status.json keeps times to
	 * the millisecond. */
	int64_t cp = session_checkpoint(sh->dir);
	if (cp / 1000000 != st->checkpoint / 1000000)
		status_set_checkpoint(st, cp);
	if (!running && st->state != STATE_CREATED &&
	    st->state != STATE_STOPPED) {
		/* The monitor ended without saying so (killed): stopped. */
		char *detail = xasprintf("not running: the monitor ended while "
		    "%s (the next start recovers)", state_name(st->state));
		st->state = STATE_STOPPED;
		status_set_detail(st, detail);
		free(detail);
	}
	/* A running monitor says where it logs (start --log-file may have
	 * moved it); else where the config says. */
	sh->log = running && st->log ? xstrdup(st->log) :
	    session_log_path(sh->dir, &sh->cfg);
	sh->v = (struct status_view){ .name = name, .primary = sh->cfg.primary,
	    .secondary = sh->cfg.secondary, .log = sh->log,
	    .running = running, .width = term_width() };
	return 0;
}

static void
release_shown(struct shown *sh)
{
	free(sh->log);
	status_release(&sh->st);
	config_release(&sh->cfg);
	free(sh->dir);
}

static void
print_shown(const struct shown *sh, enum view_kind kind, json_t *array)
{
	if (kind == VIEW_JSON)
		status_print_json(&sh->st, &sh->v, array);
	else if (kind == VIEW_DETAIL)
		status_print_detail(&sh->st, &sh->v);
	else
		status_print_row(&sh->st, &sh->v);
}

/* The Prometheus text of the sessions named: one family at a time, with a
 * sample for each session.  The exit status. */
static int
print_prometheus(const char *home, char **names, size_t n)
{
	struct shown *sh = xcalloc(n ? n : 1, sizeof(*sh));
	struct status *st = xcalloc(n ? n : 1, sizeof(*st));
	struct status_view *v = xcalloc(n ? n : 1, sizeof(*v));
	size_t got = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (load_shown(home, names[i], &sh[got]) < 0) {
			rc = n == 1 ? EX_NOINPUT : EX_IOERR;
			continue;
		}
		st[got] = sh[got].st;	/* shallow: sh[] keeps and frees */
		v[got] = sh[got].v;
		got++;
	}
	if (got || rc == 0) {
		char *text = status_prometheus(st, v, got, now_ns());
		fputs(text, stdout);
		free(text);
	}
	for (size_t i = 0; i < got; i++)
		release_shown(&sh[i]);
	free(sh);
	free(st);
	free(v);
	return rc;
}

static void
status_usage(FILE *out)
{
	fprintf(out,
"usage: georep status [--home DIR] [--json | --detail | --prometheus] [NAME]\n"
"\n"
"The state of one session or of all: state, last synced (the sync point), lag,\n"
"failures with their paths, checkpoint; a Faulty session's reason and its log.\n"
"  --detail   every field, one block per session: the crawl in progress\n"
"             (files seen, bytes sent of those to send), the entry, data and\n"
"             metadata operations pending, the changes recorded and not yet\n"
"             applied, the checkpoint's completion time, the log\n"
"  --json     every field: one object for NAME, an array for all\n"
"  --prometheus\n"
"             the figures in the Prometheus text format (lag, sync point,\n"
"             files and bytes synced, pending, failures, turns, crawl\n"
"             durations, state), each labelled session=\"NAME\": for the\n"
"             node exporter's textfile collector; the metrics_listen key\n"
"             serves the same from a running session\n");
}

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "detail", no_argument, NULL, 'd' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	enum view_kind kind = VIEW_TABLE;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'j': kind = VIEW_JSON; break;
		case 'd': kind = VIEW_DETAIL; break;
		case 'p': kind = VIEW_PROMETHEUS; break;
		case 'h': status_usage(stdout); return 0;
		default: return EX_USAGE;
		}
	}
	home = session_home(home);
	if (argc - optind > 1) {
		fprintf(stderr, "georep status: unexpected argument '%s'\n",
		    argv[optind + 1]);
		status_usage(stderr);
		return EX_USAGE;
	}
	if (kind == VIEW_PROMETHEUS && argc - optind == 1)
		return print_prometheus(home, &argv[optind], 1);
	if (argc - optind == 1) {
		struct shown sh;
		if (load_shown(home, argv[optind], &sh) < 0)
			return EX_NOINPUT;
		if (kind == VIEW_TABLE)
			status_print_header();
		print_shown(&sh, kind, NULL);
		release_shown(&sh);
		return 0;
	}
	char **names;
	size_t n;
	session_list(home, &names, &n);
	if (kind == VIEW_PROMETHEUS) {
		rc = print_prometheus(home, names, n);
		session_list_release(names, n);
		return rc;
	}
	json_t *array = kind == VIEW_JSON ? json_array() : NULL;
	if (kind == VIEW_TABLE)
		status_print_header();
	for (size_t i = 0; i < n; i++) {
		if (kind == VIEW_DETAIL && i)
			printf("\n");
		struct shown sh;
		if (load_shown(home, names[i], &sh) < 0) {
			rc = EX_IOERR;
			continue;
		}
		print_shown(&sh, kind, array);
		release_shown(&sh);
	}
	session_list_release(names, n);
	if (array) {
		char *text = json_dumps(array, JSON_INDENT(2) | JSON_SORT_KEYS |
		    JSON_REAL_PRECISION(6));
		printf("%s\n", text);
		free(text);
		json_decref(array);
	}
	return rc;
}
