#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/cmdline.h"
#include "../common/config.h"
#include "../common/log.h"
#include "../common/names.h"
#include "../daemon/session.h"
#include "../index/index.h"
#include "../protocol/conn.h"
#include "../protocol/transport.h"
#include "../status/status.h"
#include "../sync/contact.h"
#include "../sync/repair.h"
#include "../verify/verify.h"
#include "cli.h"
#include "../common/banned.h"

/* An object changed this close before the sync point may not be in it
 * yet: a ctime comes from a clock that runs a tick behind. */
#define JUDGE_MARGIN_NS	(50 * 1000000LL)

static void
verify_usage(FILE *out)
{
	fprintf(out,
"usage: georep verify [OPTIONS] NAME\n"
"       georep verify [OPTIONS] PRIMARY SECONDARY\n"
"\n"
"Compare a session's primary with its secondary (NAME), or any two trees,\n"
"object by object: type, content, mode, owner, mtime, hard links, symlink\n"
"targets, device numbers, xattrs and ACLs.  Each difference is printed with\n"
"its path and what differs.  Content is compared by a digest computed on each\n"
"side at once (XXH3-128 of the bytes, whatever the holes): over ssh only the\n"
"digests travel.  Nothing is changed on either side.\n"
"\n"
"For a session, its settings apply (exclude, sync_xattrs, sync_acls,\n"
"ssh_command; with ignore_deletes, names only on the secondary are no\n"
"difference), and an object changed on the primary since the session's sync\n"
"point is not judged (the session has not sent it yet): it is counted as\n"
"changing.  SECONDARY is a local directory or [USER@]HOST:PATH.\n"
"\n"
"options:\n"
"  --repair            have what differs fixed, and nothing else: for a session,\n"
"                      by its next turn (a running session starts it at once);\n"
"                      for PRIMARY SECONDARY, by a sync of the pair run now with\n"
"                      the index georep sync keeps for it (--home, --name)\n"
"  --json              one JSON object per line for each difference, then one\n"
"                      with the summary\n"
"  --progress          files, directories, bytes and differences on stderr,\n"
"                      every second\n"
"  --no-owners         do not compare owners and groups\n"
"  --no-xattrs         do not compare xattrs (other than ACLs)\n"
"  --no-acls           do not compare POSIX ACLs\n"
"  --exclude PATTERN   leave names matching PATTERN out, as georep sync does\n"
"                      (repeatable)\n"
"  --ssh CMD           the ssh command for a remote SECONDARY (default: ssh\n"
"                      -oBatchMode=yes; a session's ssh_command otherwise)\n"
"  --name NAME         with --repair: the name of the pair's index (georep sync\n"
"                      --name)\n"
"  --home DIR          where sessions and indexes live (as georep sync)\n"
"  --timeout SECONDS   fail when the secondary is silent this long (default 60)\n"
"  -q, --quiet         no summary on stderr\n"
"  -h, --help          this help\n"
"\n"
"exit status: 0 identical; 1 they differ (with --repair too: run verify again\n"
"once repaired); 64 usage; 66 PRIMARY or SECONDARY missing; 69 the secondary\n"
"failed or could not be reached; 74 nothing differed but some objects could\n"
"not be read (each printed); 75 the session has not synced yet; 76 protocol\n"
"mismatch or error; 130 interrupted (143 for SIGTERM).\n");
}

struct verify_args {
	struct verify_opts o;
	bool repair, json, quiet, log;
	const char *home, *name, *ssh;
	int timeout;
	struct opt_list excl;
};

struct found {
	bool json;
	bool log;		/* into the log (a session's timer) */
	struct repair_list repairs;	/* records: objects and directories */
	uint32_t nrepairs;		/* differences a turn can repair */
	bool repair;
	struct status_verify result;	/* for a session's status */
};

static int
parse_args(int argc, char **argv, struct verify_args *a)
{
	enum { O_REPAIR = 256, O_JSON, O_PROGRESS, O_NO_OWNERS, O_NO_XATTRS,
	    O_NO_ACLS, O_EXCLUDE, O_SSH, O_NAME, O_HOME, O_TIMEOUT, O_LOG };
	static const struct option longopts[] = {
		{ "repair", no_argument, NULL, O_REPAIR },
		{ "json", no_argument, NULL, O_JSON },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "no-owners", no_argument, NULL, O_NO_OWNERS },
		{ "no-xattrs", no_argument, NULL, O_NO_XATTRS },
		{ "no-acls", no_argument, NULL, O_NO_ACLS },
		{ "exclude", required_argument, NULL, O_EXCLUDE },
		{ "ssh", required_argument, NULL, O_SSH },
		{ "name", required_argument, NULL, O_NAME },
		{ "home", required_argument, NULL, O_HOME },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		/* The monitor's timer (verify_interval): each difference
		 * and the summary go to the session's log. */
		{ "log", no_argument, NULL, O_LOG },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	a->timeout = 60;
	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (ch) {
		case O_REPAIR: a->repair = true; break;
		case O_JSON: a->json = true; break;
		case O_PROGRESS: a->o.progress = true; break;
		case O_NO_OWNERS: a->o.no_owners = true; break;
		case O_NO_XATTRS: a->o.no_xattrs = true; break;
		case O_NO_ACLS: a->o.no_acls = true; break;
		case O_EXCLUDE:
			if (opt_exclude("verify", optarg, &a->excl) < 0)
				return -1;
			break;
		case O_SSH:
			if (opt_ssh("verify", optarg) < 0)
				return -1;
			a->ssh = optarg;
			break;
		case O_NAME:
			if (opt_name("verify", optarg) < 0)
				return -1;
			a->name = optarg;
			break;
		case O_HOME: a->home = optarg; break;
		case O_TIMEOUT:
			if (opt_timeout("verify", optarg, &a->timeout) < 0)
				return -1;
			break;
		case O_LOG: a->log = true; break;
		case 'q': a->quiet = true; break;
		case 'h': verify_usage(stdout); exit(0);
		default: return -1;
		}
	}
	return 0;
}

/* ---- what is found ---- */

static void
print_json(const struct vdiff *d)
{
	json_t *o = json_object(), *what = json_array();

	for (uint32_t bit = 1; bit <= VD_UNREADABLE; bit <<= 1)
		if (d->what & bit)
			json_array_append_new(what, json_string(vdiff_name(bit)));
	/* JSON holds UTF-8 only: a name that is not goes with its bytes
	 * written as \xNN, as the text output writes it, and says so. */
	json_t *path = json_stringn(d->path, strlen(d->path));
	if (path == NULL) {
		char *q = quote_name(d->path, strlen(d->path));
		path = json_string(q);
		free(q);
		json_object_set_new(o, "path_escaped", json_true());
	}
	json_object_set_new(o, "path", path);
	json_object_set_new(o, "what", what);
	json_object_set_new(o, "detail", json_string(d->detail));
	json_object_set_new(o, "directory", json_boolean(d->is_dir));
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

/* What a turn must do about a difference (repair.h). */
static void
add_repair(struct found *f, const struct vdiff *d)
{
	struct repair_list *l = &f->repairs;
	uint8_t flags = 0;

	if (d->what & VD_CONTENT)
		flags |= REPAIR_CONTENT;
	if (d->what & VD_ATTR_BITS)
		flags |= REPAIR_ATTRS;
	if (d->what & VD_ENTRY_BITS)
		flags |= REPAIR_WALK;
	/* Made again: a symlink's target, a device's number, or a type are
	 * not changed in place.  A directory is never forgotten: what is
	 * beneath it would be forgotten with it, and sent again whole. */
	if ((d->what & (VD_TARGET | VD_DEVICE | VD_TYPE)) && !d->is_dir)
		flags |= REPAIR_FORGET;
	if (flags == 0)
		return;		/* unreadable: nothing a turn can do */
	f->nrepairs++;
	/* A name only on the secondary has no object on the primary; the
	 * walk removes it.  Otherwise the object, by its fid. */
	repair_add(l, flags, d->has_fid ? &d->fid : NULL);
	/* A name made or removed changes its directory's mtime: the
	 * directory's attributes go again after. */
	if ((d->what & VD_ENTRY_BITS) && d->has_parent_fid)
		repair_add(l, REPAIR_ATTRS, &d->parent_fid);
}

static void
on_diff(void *arg, const struct vdiff *d)
{
	struct found *f = arg;

	if (f->result.nshown < STATUS_VERIFY_SHOWN)
		f->result.shown[f->result.nshown++] = xasprintf("%s%s: %s",
		    d->path, d->is_dir ? "/" : "", d->detail);
	if (f->log) {
		log_warn("verify: %s%s: %s", d->path, d->is_dir ? "/" : "",
		    d->detail);
	} else if (f->json) {
		print_json(d);
	} else {
		char *q = quote_name(d->path, strlen(d->path));
		printf("%s%s: %s\n", q, d->is_dir ? "/" : "", d->detail);
		free(q);
	}
	fflush(stdout);
	if (f->repair)
		add_repair(f, d);
}

static void
print_summary(const struct verify_args *a, const struct verify_stats *st,
    const char *prim, const char *sec)
{
	char sz[32];

	format_size(st->bytes, sz, sizeof(sz));
	if (a->json) {
		json_t *o = json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}}",
		    "summary", "files", (json_int_t)st->files, "directories",
		    (json_int_t)st->dirs, "others", (json_int_t)st->others,
		    "bytes", (json_int_t)st->bytes, "differences",
		    (json_int_t)st->differences, "unreadable",
		    (json_int_t)st->unreadable, "changing",
		    (json_int_t)st->changing, "identical",
		    st->differences == 0);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
		return;
	}
	if (a->log) {
		log_info("verify %s %s: %" PRIu64 " %s, %" PRIu64 " %s "
		    "compared; %" PRIu64 " %s, %" PRIu64 " not judged (changed "
		    "since the sync point)", prim, sec, st->files,
		    plural(st->files, "file", "files"), st->dirs,
		    plural(st->dirs, "directory", "directories"),
		    st->differences, plural(st->differences, "difference",
		    "differences"), st->changing);
		return;
	}
	if (a->quiet)
		return;
	fprintf(stderr, "%s %s %s: %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64
	    " other %s, %s of content compared; %" PRIu64 " %s",
	    st->differences ? "differ:" : "identical:", prim, sec, st->files,
	    plural(st->files, "file", "files"), st->dirs,
	    plural(st->dirs, "directory", "directories"), st->others,
	    plural(st->others, "object", "objects"), sz, st->differences,
	    plural(st->differences, "difference", "differences"));
	if (st->unreadable)
		fprintf(stderr, " (%" PRIu64 " could not be compared)",
		    st->unreadable);
	if (st->changing)
		fprintf(stderr, "; %" PRIu64 " changed since the sync point, "
		    "not judged", st->changing);
	fprintf(stderr, "\n");
}

/* ---- the two sides ---- */

struct side {
	char *prim, *sec;	/* as resolved */
	const char *ssh;
	char *sdir;		/* the session's directory, or NULL */
	pid_t monitor;		/* the session's running monitor, or 0 */
	struct config cfg;
	bool have_cfg;
};

/* NAME: the session's settings and its sync point. */
static int
from_session(struct verify_args *a, const char *name, struct side *sd)
{
	struct status st;

	/* session_load initialises the config (and releases it when it
	 * fails): the caller releases it either way. */
	sd->have_cfg = true;
	if (session_load(session_home(a->home), name, &sd->cfg, &sd->sdir) < 0)
		return EX_USAGE;
	sd->prim = xstrdup(sd->cfg.primary);
	sd->sec = xstrdup(sd->cfg.secondary);
	if (a->ssh == NULL)
		sd->ssh = sd->cfg.ssh_command;
	a->o.excludes = (const char *const *)sd->cfg.exclude;
	a->o.nexcludes = sd->cfg.nexclude;
	a->o.no_xattrs |= !sd->cfg.sync_xattrs;
	a->o.no_acls |= !sd->cfg.sync_acls;
	a->o.extra_kept = sd->cfg.ignore_deletes;
	sd->monitor = session_running_pid(sd->sdir);
	status_init(&st);
	if ((sd->monitor == 0 || read_live_status(sd->sdir, &st) < 0) &&
	    status_load(&st, sd->sdir) < 0)
		st.last_synced = 0;
	int64_t sp = st.last_synced;
	status_release(&st);
	if (sp == 0) {
		log_err("session %s has not synced yet: there is no replica to "
		    "verify (its status shows when the first crawl is done)",
		    name);
		return EX_TEMPFAIL;
	}
	a->o.judged_before = sp - JUDGE_MARGIN_NS;
	return 0;
}

/* PRIMARY SECONDARY: both must exist. */
static int
from_pair(struct verify_args *a, const char *p, const char *s,
    struct side *sd)
{
	struct stat st;

	int code = resolve_pair(p, s, &sd->prim, &sd->sec);
	if (code != 0)
		return code;
	if (sd->sec[0] == '/' && stat(sd->sec, &st) < 0) {
		log_sys(LOG_LVL_ERR, "secondary %s", s);
		return EX_NOINPUT;
	}
	a->o.excludes = a->excl.v;
	a->o.nexcludes = a->excl.n;
	a->o.judged_before = INT64_MAX;
	return 0;
}

/* Compare, the secondary reached through c (read-only). */
static int
compare(struct verify_args *a, struct side *sd, struct found *f,
    struct verify_stats *st)
{
	struct conn c;
	struct hello_result h;
	int code = 0;

	int rootfd = open(sd->prim, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		log_sys(LOG_LVL_ERR, "primary %s", sd->prim);
		return EX_NOINPUT;
	}
	struct fid root;
	char *volume = volume_id(rootfd, sd->prim, &a->o.fsid, &root);
	if (volume == NULL) {
		close(rootfd);
		return EX_NOINPUT;
	}
	conn_init(&c, sd->sec, a->timeout * 1000);
	if (secondary_connect(&c, sd->sec, sd->ssh ? sd->ssh :
	    CONFIG_SSH_COMMAND) < 0) {
		log_err("%s", c.error);
		code = EX_UNAVAILABLE;
	} else if (say_hello(&c, volume, HELLO_READONLY, &h, &code) < 0) {
		int status = conn_close(&c);
		/* A read-only HELLO makes nothing: refused, it could not read
		 * the directory (a remote one that does not exist); and a
		 * secondary that could not open it (not a directory) exits
		 * with EX_CANTCREAT.  Either way SECONDARY is missing. */
		if (code == EX_CANTCREAT || (code == EX_UNAVAILABLE &&
		    WIFEXITED(status) && WEXITSTATUS(status) == EX_CANTCREAT))
			code = EX_NOINPUT;
	} else {
		a->o.privileged = h.privileged && geteuid() == 0;
		a->o.stop = &cli_stop_signal;
		a->o.on_diff = on_diff;
		a->o.arg = f;
		int rc = verify_tree(&c, rootfd, &a->o, st);
		if (rc < 0 && c.failed)
			log_err("%s", c.error);
		int status = conn_close(&c);
		code = cli_stop_signal ? 128 + cli_stop_signal :
		    rc < 0 ? (c.failed ? conn_exit_code(&c) : EX_IOERR) :
		    status != 0 ? EX_UNAVAILABLE : 0;
	}
	conn_release(&c);
	free(volume);
	close(rootfd);
	return code;
}

/* ---- repairing ---- */

/* A session: the list waits in its directory for the next turn. */
static int
repair_session(const struct side *sd, const struct found *f)
{
	int dfd = open(sd->sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0) {
		log_sys(LOG_LVL_ERR, "open %s", sd->sdir);
		return EX_CANTCREAT;
	}
	int rc = repair_save(&f->repairs, dfd, session_file_name(SF_REPAIR));
	close(dfd);
	if (rc < 0)
		return EX_CANTCREAT;
	if (sd->monitor > 0 && kill(sd->monitor, SIGUSR1) == 0)
		log_info("the running session repairs %u %s now",
		    f->nrepairs, plural(f->nrepairs, "difference",
		    "differences"));
	else
		log_info("%u %s to repair at the session's next start",
		    f->nrepairs, plural(f->nrepairs, "difference",
		    "differences"));
	return 0;
}

/* A pair: the index georep sync keeps for it learns what differs, then
 * a sync sends exactly that. */
static int
repair_pair(const struct verify_args *a, const struct side *sd,
    const struct found *f)
{
	char *ixdir = pair_index_dir(a->home, a->name, sd->prim, sd->sec);
	struct index *ix = NULL;
	struct stat st;
	int code = 0;

	if (stat(ixdir, &st) < 0) {
		log_err("--repair: no index for this pair in %s (georep sync "
		    "keeps it): run georep sync %s %s, which makes the replica "
		    "exact", ixdir, sd->prim, sd->sec);
		free(ixdir);
		return EX_USAGE;
	}
	int dfd = open(ixdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || index_open(&ix, ixdir) < 0 ||
	    repair_save(&f->repairs, dfd, "repair") < 0 ||
	    repair_take(ix, dfd, "repair") < 0)
		code = EX_IOERR;
	if (dfd >= 0)
		close(dfd);
	index_close(ix);
	free(ixdir);
	if (code)
		return code;
	/* The sync of the pair, as georep sync runs it: every exclude with
	 * it, or it would send what the pair leaves out. */
	const char **args = xcalloc(16 + 2 * a->excl.n, sizeof(*args));
	int n = 0;
	args[n++] = "sync";
	if (a->home) {
		args[n++] = "--home";
		args[n++] = a->home;
	}
	if (a->name) {
		args[n++] = "--name";
		args[n++] = a->name;
	}
	if (a->ssh) {
		args[n++] = "--ssh";
		args[n++] = a->ssh;
	}
	if (a->o.no_owners)
		args[n++] = "--no-owners";
	for (size_t i = 0; i < a->excl.n; i++) {
		args[n++] = "--exclude";
		args[n++] = a->excl.v[i];
	}
	args[n++] = sd->prim;
	args[n++] = sd->sec;
	args[n] = NULL;
	log_info("repairing: georep sync %s %s", sd->prim, sd->sec);
	optind = 0;
	code = cmd_sync(n, (char **)args);
	free(args);
	return code;
}

int
cmd_verify(int argc, char **argv)
{
	struct verify_args a;
	struct side sd;
	struct found f;
	struct verify_stats st;
	int code;

	memset(&a, 0, sizeof(a));
	memset(&sd, 0, sizeof(sd));
	memset(&f, 0, sizeof(f));
	memset(&st, 0, sizeof(st));
	if (parse_args(argc, argv, &a) < 0) {
		fprintf(stderr, "Try 'georep verify --help'.\n");
		return EX_USAGE;
	}
	int nops = argc - optind;
	if (nops < 1 || nops > 2) {
		fprintf(stderr, "georep verify: %s\nusage: georep verify "
		    "[OPTIONS] NAME | PRIMARY SECONDARY\nTry 'georep verify "
		    "--help'.\n", nops < 1 ? "missing NAME, or PRIMARY and "
		    "SECONDARY" : "too many arguments");
		free(a.excl.v);
		return EX_USAGE;
	}
	sd.ssh = a.ssh;
	if (nops == 1 && a.excl.n) {
		fprintf(stderr, "georep verify: --exclude is for PRIMARY "
		    "SECONDARY (a session's excludes are its own)\n");
		code = EX_USAGE;
		goto out;
	}
	code = nops == 1 ? from_session(&a, argv[optind], &sd) :
	    from_pair(&a, argv[optind], argv[optind + 1], &sd);
	if (code)
		goto out;
	f.json = a.json;
	f.log = a.log;
	f.repair = a.repair;
	if (a.log) {	/* timestamps, as the daemon's own lines */
		log_init("georep", LOG_LVL_INFO, fdopen(dup(2), "a"));
		if (nops == 1)
			log_set_tag(argv[optind]);	/* the session's */
	}
	cli_catch_stop_signals();
	code = compare(&a, &sd, &f, &st);
	if (code)
		goto out;
	print_summary(&a, &st, sd.prim, sd.sec);
	if (sd.sdir) {
		/* What status shows of the session's last verify. */
		f.result.at = now_ns();
		f.result.differences = st.differences;
		f.result.unreadable = st.unreadable;
		f.result.changing = st.changing;
		f.result.repaired = a.repair && f.repairs.n > 0;
		status_save_verify(&f.result, sd.sdir);
	}
	if (a.repair && f.repairs.n > 0) {
		int rc = sd.sdir ? repair_session(&sd, &f) :
		    repair_pair(&a, &sd, &f);
		if (rc != 0) {
			code = rc;
			goto out;
		}
	}
	code = st.differences > st.unreadable ? 1 : st.unreadable ?
	    EX_IOERR : 0;
out:
	repair_release(&f.repairs);
	status_verify_release(&f.result);
	if (sd.have_cfg)
		config_release(&sd.cfg);
	free(sd.prim);
	free(sd.sec);
	free(sd.sdir);
	free(a.excl.v);
	return code;
}
