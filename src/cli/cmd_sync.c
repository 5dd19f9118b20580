#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/cmdline.h"
#include "../common/config.h"
#include "../common/fid.h"
#include "../common/log.h"
#include "../common/names.h"
#include "../index/index.h"
#include "../protocol/conn.h"
#include "../sync/sync.h"
#include "../daemon/session.h"
#include "../sync/adopt.h"
#include "../sync/contact.h"
#include "cli.h"
#include "../common/banned.h"

static void
sync_usage(FILE *out)
{
	fprintf(out,
"usage: georep sync [OPTIONS] PRIMARY SECONDARY\n"
"\n"
"Make SECONDARY an exact replica of PRIMARY, then exit.  SECONDARY is a local\n"
"directory, or [USER@]HOST:PATH on another host, reached with ssh (georep must\n"
"be installed there, in the PATH of that account).  A later run sends only\n"
"what changed, recognising renames, moves, hard links and deletes by file\n"
"identity.\n"
"\n"
"options:\n"
"  --exclude PATTERN   skip names matching PATTERN (repeatable; no '/' matches a\n"
"                      name at any depth, a leading '/' anchors at PRIMARY, a\n"
"                      trailing '/' matches directories only); excluded names\n"
"                      are neither sent nor deleted on the secondary\n"
"  --ignore-deletes    do not replicate deletions (archive)\n"
"  -x, --one-file-system  leave out what is mounted inside PRIMARY (mount\n"
"                      points and subvolumes are made, not entered); without\n"
"                      it, each one is reported and the exit status is 74\n"
"  --no-owners         leave owners and groups out (the secondary's own stay);\n"
"                      without it, owners a secondary without privilege cannot\n"
"                      give are counted and the exit status is 74\n"
"  --no-devices        leave character and block devices out; without it,\n"
"                      devices a secondary without privilege cannot make are\n"
"                      counted and the exit status is 74\n"
"  --dry-run, -n       print what would change; change nothing\n"
"  --progress          show bytes, percentage, rate and time left on stderr\n"
"  --force             take over a SECONDARY bound to another primary (its\n"
"                      content is replaced by a replica of PRIMARY; with\n"
"                      --adopt, what matches is kept)\n"
"  --adopt             take over a SECONDARY that is not empty and was never\n"
"                      synced (a copy made by rsync, tar, cp, a backup): what\n"
"                      matches PRIMARY by path is kept as it is, the rest is\n"
"                      sent, and what PRIMARY lacks is removed (kept with\n"
"                      --ignore-deletes).  Files of one size and mtime are\n"
"                      taken as the same; one size and another mtime are\n"
"                      compared by checksum.  A first sync that was cut off,\n"
"                      or a SECONDARY whose index was lost, is adopted the\n"
"                      same way without being asked\n"
"  --checksum, -c      compare every file of one size on both sides by a\n"
"                      checksum computed on each side (only checksums cross\n"
"                      the wire), not by its mtime, and send what differs:\n"
"                      finds a change made behind georep's back.  The index\n"
"                      of the pair is rebuilt from what SECONDARY holds, as\n"
"                      --adopt does (which a never-synced SECONDARY still\n"
"                      needs)\n"
"  --name NAME         name of the index kept for this pair (default: derived\n"
"                      from the two paths)\n"
"  --home DIR          where sessions and indexes live (default: $GEOREP_HOME,\n"
"                      /var/lib/georep as root, ~/.local/state/georep\n"
"                      otherwise); only its last component is created\n"
"  --no-delta          send changed files whole (no rsync-style deltas)\n"
"  --delta-threshold SIZE  a changed file the secondary holds goes as a delta\n"
"                      against its copy from this size up (K, M, G: binary\n"
"                      units; 0 or off: never; default auto: 1M to a remote\n"
"                      SECONDARY, never to a local one)\n"
"  --sync-jobs N       the secondary writes small files with N workers at\n"
"                      once (1 to 32; default 3; 1: one at a time)\n"
"  --timeout SECONDS   fail when the secondary is silent this long (default 60)\n"
"  --compress[=LEVEL]  compress what is sent with zstd, at LEVEL 1..19 (default\n"
"                      1; also on, off, auto); content that does not shrink\n"
"                      is sent as it is.  The default (auto) is on for a\n"
"                      remote SECONDARY, off for a local one\n"
"  --no-compress       send nothing compressed, over ssh too\n"
"  --bwlimit RATE      write at most RATE to the secondary (after compression):\n"
"                      KiB per second, or with a suffix K, M, G (e.g. 500,\n"
"                      1.5M); 0 means no limit (the default)\n"
"  --ssh CMD           the ssh command for a remote SECONDARY, a whole command\n"
"                      line (default: ssh -oBatchMode=yes; e.g. \"ssh -p 2222\n"
"                      -i KEY\"); it must not prompt: use keys or an agent\n"
"  --json              print the summary as JSON on stdout (for scripts)\n"
"  -v, --verbose       print each change\n"
"  -q, --quiet         print errors only\n"
"  -h, --help          this help\n"
"\n"
"exit status: 0 replica exact; 64 usage; 65 SECONDARY belongs to another primary\n"
"or is not empty and never synced; 66 PRIMARY missing or unreadable; 69 the\n"
"secondary failed or could not be reached (ssh's own error is shown as ssh\n"
"printed it); 73 SECONDARY or the --home directory cannot be created; 74\n"
"the replica is not exact: some paths failed (each reported with its path and\n"
"reason; run again to retry), a mount point was not entered, or owners or\n"
"devices could not be replicated; 70 an internal error; 76 protocol mismatch,\n"
"or the secondary broke the protocol (\"protocol error: ...\"); 77 the remote\n"
"account's forced command serves another directory; 130 interrupted (Ctrl-C; 143\n"
"for SIGTERM): SECONDARY may hold part of the changes, and the next sync\n"
"checks it and sends what is missing.\n");
}

struct sync_args {
	struct sync_opts o;
	const char *home;
	const char *name;
	bool force;
	bool adopt, checksum;
	bool json;		/* the summary as JSON on stdout */
	bool adopted;		/* an adoption ran: its figures */
	struct adopt_stats as;
	int64_t started;	/* mono ns */
	int timeout;
	int compress;		/* COMPRESS_AUTO, 0 or a level (config.h) */
	uint64_t bwlimit;	/* bytes per second; 0: no limit */
	struct opt_list excl;
	const char *ssh;
};

static int
parse_args(int argc, char **argv, struct sync_args *a)
{
	enum { O_EXCLUDE = 256, O_IGNORE_DELETES, O_PROGRESS, O_FORCE, O_NAME,
	    O_HOME, O_TIMEOUT, O_NOFSYNC, O_NO_OWNERS, O_NO_DEVICES, O_SSH,
	    O_COMPRESS, O_NO_COMPRESS, O_BWLIMIT, O_NO_DELTA,
	    O_DELTA_THRESHOLD, O_SYNC_JOBS, O_ADOPT, O_JSON };
	static const struct option longopts[] = {
		{ "exclude", required_argument, NULL, O_EXCLUDE },
		{ "ignore-deletes", no_argument, NULL, O_IGNORE_DELETES },
		{ "one-file-system", no_argument, NULL, 'x' },
		{ "no-owners", no_argument, NULL, O_NO_OWNERS },
		{ "no-devices", no_argument, NULL, O_NO_DEVICES },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "force", no_argument, NULL, O_FORCE },
		{ "adopt", no_argument, NULL, O_ADOPT },
		{ "checksum", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, O_JSON },
		{ "name", required_argument, NULL, O_NAME },
		{ "home", required_argument, NULL, O_HOME },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "ssh", required_argument, NULL, O_SSH },
		{ "compress", optional_argument, NULL, O_COMPRESS },
		{ "no-compress", no_argument, NULL, O_NO_COMPRESS },
		{ "bwlimit", required_argument, NULL, O_BWLIMIT },
		{ "no-fsync", no_argument, NULL, O_NOFSYNC },
		{ "no-delta", no_argument, NULL, O_NO_DELTA },
		{ "delta-threshold", required_argument, NULL,
		    O_DELTA_THRESHOLD },
		{ "sync-jobs", required_argument, NULL, O_SYNC_JOBS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	a->timeout = 60;
	a->ssh = CONFIG_SSH_COMMAND;
	a->compress = COMPRESS_AUTO;
	a->o.delta_threshold = SYNC_DELTA_AUTO;
	a->o.sync_jobs = SYNC_JOBS_DEFAULT;
	while ((ch = getopt_long(argc, argv, "cnvqxh", longopts, NULL)) != -1) {
		switch (ch) {
		case O_EXCLUDE:
			if (opt_exclude("sync", optarg, &a->excl) < 0)
				return -1;
			break;
		case O_IGNORE_DELETES: a->o.ignore_deletes = true; break;
		case O_SSH:
			if (opt_ssh("sync", optarg) < 0)
				return -1;
			a->ssh = optarg;
			break;
		case 'x': a->o.one_file_system = true; break;
		case O_NO_OWNERS: a->o.no_owners = true; break;
		case O_NO_DEVICES: a->o.no_devices = true; break;
		case 'n': a->o.dry_run = true; break;
		case O_PROGRESS: a->o.progress = true; break;
		case O_FORCE: a->force = true; break;
		case O_ADOPT: a->adopt = true; break;
		case 'c': a->checksum = true; break;
		case O_JSON: a->json = true; break;
		case O_NAME:
			if (opt_name("sync", optarg) < 0)
				return -1;
			a->name = optarg;
			break;
		case O_HOME: a->home = optarg; break;
		case O_TIMEOUT:
			if (opt_timeout("sync", optarg, &a->timeout) < 0)
				return -1;
			break;
		case O_COMPRESS:
			if (opt_compress("sync", optarg, &a->compress) < 0)
				return -1;
			break;
		case O_NO_COMPRESS: a->compress = 0; break;
		case O_BWLIMIT:
			if (opt_bwlimit("sync", optarg, &a->bwlimit) < 0)
				return -1;
			break;
		case O_NOFSYNC: a->o.no_fsync = true; break;
		case O_NO_DELTA: a->o.delta_threshold = 0; break;
		case O_DELTA_THRESHOLD:
			if (opt_delta_threshold("sync", optarg,
			    &a->o.delta_threshold) < 0)
				return -1;
			break;
		case O_SYNC_JOBS:
			if (opt_sync_jobs("sync", optarg, &a->o.sync_jobs) < 0)
				return -1;
			break;
		case 'v': a->o.verbose = true; break;
		case 'q': log_set_level(LOG_LVL_ERR); break;
		case 'h': sync_usage(stdout); exit(0);
		default: return -1;
		}
	}
	a->o.excludes = a->excl.v;
	a->o.nexcludes = a->excl.n;
	return 0;
}

/* Take over what the secondary holds (adopt.h), before the first turn. */
static int
adopt_secondary(struct sync_args *a, const struct sync_target *tgt,
    struct index *ix, struct conn *c, const char *sec)
{
	struct adopt_opts ao = {
		.checksum = a->checksum, .ignore_deletes = a->o.ignore_deletes,
		.no_owners = a->o.no_owners, .no_xattrs = a->o.no_xattrs,
		.no_acls = a->o.no_acls, .no_fsync = a->o.no_fsync,
		.excludes = a->o.excludes, .nexcludes = a->o.nexcludes,
		.progress = a->o.progress, .stop = &cli_stop_signal,
	};
	struct adopt_stats as;
	char dig[16];

	if (adopt_tree(c, ix, tgt, &ao, &as) < 0)
		return -1;
	a->adopted = true;
	a->as = as;
	format_size(as.digested, dig, sizeof(dig));
	log_info("adopted %s: %llu %s kept (of which %llu to be sent again and "
	    "%llu with attributes to set), %llu removed, %llu only on the "
	    "primary; %s compared by checksum", sec,
	    (unsigned long long)as.adopted, plural(as.adopted, "name", "names"),
	    (unsigned long long)as.content, (unsigned long long)as.attrs,
	    (unsigned long long)as.removed, (unsigned long long)as.missing,
	    dig);
	if (as.failures) {
		log_err("adopting %s: %llu %s could not be removed (above): run "
		    "again", sec, (unsigned long long)as.failures,
		    plural(as.failures, "name", "names"));
		return -1;
	}
	return 0;
}

/* Exactly PRIMARY and SECONDARY, or a message saying what is wrong. */
static int
check_operands(int n, char **ops)
{
	if (n == 2)
		return 0;
	if (n == 0)
		fprintf(stderr, "georep sync: missing PRIMARY and SECONDARY\n");
	else if (n == 1)
		fprintf(stderr, "georep sync: missing SECONDARY (after "
		    "PRIMARY '%s')\n", ops[0]);
	else
		fprintf(stderr, "georep sync: unexpected argument '%s' (only "
		    "PRIMARY and SECONDARY)\n", ops[2]);
	fprintf(stderr, "usage: georep sync [OPTIONS] PRIMARY SECONDARY\n"
	    "Try 'georep sync --help'.\n");
	return -1;
}

/* ---- interruption ---- */


/*
 * What an interrupted sync left, and what the next one does about it
 * (README, "Crash safety"): a turn that changed the secondary leaves its
 * marker in the index, so the next sync walks the secondary and rebuilds
 * the index's links from it, removes what the index cannot account for
 * (what this run made since its last commit), and sends everything
 * missing, the files this run was writing included.  A first sync that
 * never committed is resumed: what it wrote and matches is adopted.
 */
static int
report_interrupted(struct index *ix, const struct sync_stats *st,
    const char *sec, bool dry_run)
{
	struct index_txn *t;
	bool empty = false;
	int sig = cli_stop_signal;

	if (dry_run) {
		log_err("interrupted (SIG%s): a dry run, nothing was changed",
		    sigabbrev_np(sig));
		return 128 + sig;
	}
	if (!st->unfinished) {
		log_err("interrupted (SIG%s) before this run finished; %s "
		    "holds no half-done turn: the next georep sync sends what "
		    "is missing", sigabbrev_np(sig), sec);
		return 128 + sig;
	}
	if (index_begin(ix, false, &t) == 0) {
		if (index_is_empty(t, &empty) < 0)
			empty = false;
		index_abort(t);
	}
	if (empty)
		log_err("interrupted (SIG%s): %s holds part of the first "
		    "copy; the next georep sync of this pair resumes it (what "
		    "is there and matches is kept)",
		    sigabbrev_np(sig), sec);
	else
		log_err("interrupted (SIG%s): %s holds part of this run's "
		    "changes; the next georep sync of this pair checks it "
		    "against the index (a walk of the secondary), removes what "
		    "this run left unrecorded, and sends what is missing",
		    sigabbrev_np(sig), sec);
	return 128 + sig;
}

/* ---- the summary ---- */

/* What went over the wire, when it was compressed or limited: in the
 * summary, and in detail with -v. */
static void
add_wire(struct buf *extra, const struct conn *c, bool verbose)
{
	char wire[16], plain[16], how[128];

	/* Nothing to say: neither on, or nothing sent (a dry run). */
	if ((!c->zactive && c->bw_rate == 0) || c->wire_out == 0)
		return;
	format_size(c->wire_out, wire, sizeof(wire));
	format_size(c->bytes_out, plain, sizeof(plain));
	char *s = xasprintf("; %s on the wire for %s of frames", wire, plain);
	buf_addstr(extra, s);
	free(s);
	if (!verbose)
		return;
	conn_describe_wire(c, how, sizeof(how));
	log_info("the wire: %s; %llu bytes written for %llu bytes of frames; "
	    "%llu %s compressed, %llu sent as %s; writing waited %llu %s "
	    "for the bandwidth limit (%lld ms)", how,
	    (unsigned long long)c->wire_out, (unsigned long long)c->bytes_out,
	    (unsigned long long)c->blocks, plural(c->blocks, "block",
	    "blocks"), (unsigned long long)c->blocks_plain,
	    c->blocks_plain == 1 ? "it was" : "they were",
	    (unsigned long long)c->bw_waits, plural(c->bw_waits, "time",
	    "times"), (long long)(c->bw_waited_ns / 1000000));
}

/* "; N files of SIZE HOW" when there are any. */
static void
add_files(struct buf *b, uint64_t n, uint64_t size, const char *how)
{
	char whole[16];

	if (n == 0)
		return;
	format_size(size, whole, sizeof(whole));
	buf_addf(b, "; %llu %s of %s %s", (unsigned long long)n, plural(n,
	    "file", "files"), whole, how);
}

static void
print_summary(const struct sync_stats *st, const struct conn *c,
    bool verbose)
{
	char bytes[16];
	struct buf extra = BUF_INIT;

	add_wire(&extra, c, verbose);
	format_size(st->bytes_sent, bytes, sizeof(bytes));
	add_files(&extra, st->delta_files, st->delta_size, "as deltas");
	add_files(&extra, st->copied_files, st->copied_size,
	    "copied by the kernel");
	if (st->errors)
		buf_addstr(&extra, "; some paths failed (see above)");
	if (st->owners_skipped || st->devices_skipped) {
		char *s = xasprintf("; not replicated: %llu %s, %llu device %s "
		    "(see above)", (unsigned long long)st->owners_skipped,
		    plural(st->owners_skipped, "owner", "owners"),
		    (unsigned long long)st->devices_skipped,
		    plural(st->devices_skipped, "node", "nodes"));
		buf_addstr(&extra, s);
		free(s);
	}
	for (size_t i = 0; i < st->nmounts; i++) {
		buf_addstr(&extra, i ? ", " : "; not entered: ");
		buf_addstr(&extra, st->mounts[i]);
	}
	buf_add(&extra, "", 1);
	log_info("%llu %s and %llu %s seen; %llu %s (%s) sent, %llu %s "
	    "changed, %llu %s set%s",
	    (unsigned long long)st->files_seen,
	    plural(st->files_seen, "file", "files"),
	    (unsigned long long)st->dirs_seen,
	    plural(st->dirs_seen, "directory", "directories"),
	    (unsigned long long)st->files_sent,
	    plural(st->files_sent, "file", "files"), bytes,
	    (unsigned long long)st->entries,
	    plural(st->entries, "entry", "entries"),
	    (unsigned long long)st->attrs_set,
	    plural(st->attrs_set, "attribute", "attributes"),
	    (char *)extra.data);
	buf_release(&extra);
}

/* The totals, as rsync --stats gives them: what the run did to the
 * secondary, what it wrote to it, and how long it took. */
static void
print_totals(const struct sync_stats *st, const struct conn *c,
    double secs)
{
	char wire[16];

	format_size(c->wire_out, wire, sizeof(wire));
	log_info("on the secondary: %llu created, %llu changed, %llu deleted; "
	    "%s written to it; %.2f s", (unsigned long long)st->created,
	    (unsigned long long)st->changed, (unsigned long long)st->removed,
	    wire, secs);
}

static void
json_count(json_t *o, const char *key, uint64_t v)
{
	json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* The summary as one JSON object on stdout (--json). */
static void
print_json(const struct sync_args *a, const struct sync_stats *st,
    const struct conn *c, const char *prim, const char *sec, int code,
    double secs)
{
	json_t *o = json_object();
	json_t *fails = json_array();

	json_object_set_new(o, "primary", json_string(prim ? prim : ""));
	json_object_set_new(o, "secondary", json_string(sec ? sec : ""));
	json_object_set_new(o, "exit_status", json_integer(code));
	json_object_set_new(o, "seconds", json_real(secs));
	json_count(o, "files_seen", st->files_seen);
	json_count(o, "directories_seen", st->dirs_seen);
	json_count(o, "created", st->created);
	json_count(o, "changed", st->changed);
	json_count(o, "deleted", st->removed);
	json_count(o, "files_sent", st->files_sent);
	json_count(o, "content_bytes_sent", st->bytes_sent);
	json_count(o, "delta_files", st->delta_files);
	json_count(o, "copied_files", st->copied_files);
	json_count(o, "attributes_set", st->attrs_set);
	json_count(o, "wire_bytes", c->wire_out);
	json_count(o, "frame_bytes", c->bytes_out);
	json_count(o, "errors", st->errors);
	for (size_t i = 0; i < st->nfail; i++) {
		json_t *f = json_object();
		json_object_set_new(f, "path", json_string(st->fail_path[i]));
		json_object_set_new(f, "error", json_string(st->fail_error[i]));
		json_array_append_new(fails, f);
	}
	json_object_set_new(o, "failures", fails);
	if (a->adopted) {
		json_t *ad = json_object();
		json_count(ad, "kept", a->as.adopted);
		json_count(ad, "content_to_send", a->as.content);
		json_count(ad, "attributes_to_set", a->as.attrs);
		json_count(ad, "removed", a->as.removed);
		json_count(ad, "only_on_primary", a->as.missing);
		json_count(ad, "checksummed_bytes", a->as.digested);
		json_object_set_new(o, "adopted", ad);
	}
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text) {
		printf("%s\n", text);
		fflush(stdout);
	}
	free(text);
	json_decref(o);
}

/* ---- the command ---- */

/* The turns of a real sync (the first contact made): one, and again when
 * the secondary was not what the index said (after reconciling the two),
 * or when the primary changed under the crawl (a directory renamed while
 * it was walked: 1 with no failure).  The turn's result. */
static int
run_turns(struct sync_args *a, struct sync_target *tgt, struct index *ix,
    struct conn *c, struct sync_stats *st)
{
	int rc = sync_turn(&a->o, tgt, ix, c, st);

	for (int again = 0; again < 4 && !cli_stop_signal && (rc == 2 ||
	    (rc == 1 && st->errors == 0)); again++) {
		if (rc == 2)
			log_warn("the secondary did not match the index: "
			    "reconciling and trying again");
		else
			log_info("the primary changed while it was read: "
			    "once more");
		struct sync_stats prev = *st;
		memset(st, 0, sizeof(*st));
		st->files_sent = prev.files_sent;
		st->bytes_sent = prev.bytes_sent;
		st->delta_files = prev.delta_files;
		st->delta_size = prev.delta_size;
		st->copied_files = prev.copied_files;
		st->copied_size = prev.copied_size;
		st->entries = prev.entries;
		st->attrs_set = prev.attrs_set;
		st->created = prev.created;
		st->changed = prev.changed;
		st->removed = prev.removed;
		sync_stats_release(&prev);
		rc = sync_turn(&a->o, tgt, ix, c, st);
	}
	if (rc == 1 && st->errors == 0 && !cli_stop_signal)
		log_err("the primary kept changing while it was read: run "
		    "georep sync again");
	return rc == 2 ? 1 : rc;
}

/* The exit status of a finished run: 0 only for an exact replica. */
static int
exit_status(int rc, const struct sync_stats *st)
{
	if (rc != 0)
		return EX_IOERR;
	return st->owners_skipped || st->devices_skipped ? EX_IOERR : 0;
}

int
cmd_sync(int argc, char **argv)
{
	struct sync_args a;
	struct sync_target tgt = { .rootfd = -1 };
	struct sync_stats st = { 0 };
	struct index *ix = NULL;
	struct conn c;
	struct hello_result h;
	char *prim = NULL, *sec = NULL, *volume = NULL;
	int code = EX_SOFTWARE;

	memset(&a, 0, sizeof(a));
	a.started = mono_ns();
	if (parse_args(argc, argv, &a) < 0) {
		fprintf(stderr, "Try 'georep sync --help'.\n");
		return EX_USAGE;
	}
	if (check_operands(argc - optind, argv + optind) < 0)
		return EX_USAGE;
	const char *prim_arg = argv[optind], *sec_arg = argv[optind + 1];
	code = resolve_pair(prim_arg, sec_arg, &prim, &sec);
	if (code != 0)
		goto out;
	tgt.rootfd = open(prim, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tgt.rootfd < 0) {
		log_sys(LOG_LVL_ERR, "primary %s", prim_arg);
		code = EX_NOINPUT;
		goto out;
	}
	volume = volume_id(tgt.rootfd, prim, &tgt.fsid, &tgt.root);
	if (volume == NULL) {
		code = EX_NOINPUT;
		goto out;
	}
	if (home_make(session_home(a.home)) < 0) {
		code = EX_CANTCREAT;
		goto out;
	}
	char *ixdir = pair_index_dir(a.home, a.name, prim, sec);
	int ixrc = open_index(ixdir, volume, &ix);
	if (ixrc > 0)
		log_err("the index %s belongs to another primary; choose another "
		    "--name", ixdir);
	free(ixdir);
	if (ixrc != 0) {
		code = EX_CANTCREAT;
		goto out;
	}
	a.o.stop = &cli_stop_signal;
	cli_catch_stop_signals();
	conn_init(&c, sec, a.timeout * 1000);
	conn_set_wire(&c, a.compress, a.bwlimit);
	if (a.o.dry_run) {
		/* Nothing is sent: the index alone says what would change,
		 * for a secondary that would run as we do. */
		tgt.secondary_privileged = geteuid() == 0;
		tgt.secondary_uid = geteuid();
		tgt.secondary_gid = getegid();
		int rc = sync_turn(&a.o, &tgt, ix, &c, &st);
		code = cli_stop_signal ? report_interrupted(ix, &st, sec, true) :
		    rc < 0 ? EX_SOFTWARE : exit_status(rc, &st);
		goto out;
	}
	if (secondary_connect(&c, sec, a.ssh) < 0) {
		log_err("%s", c.error);
		code = EX_UNAVAILABLE;
		goto out_conn;
	}
	bool adopt = a.adopt;
	if (say_hello(&c, volume, (a.force ? HELLO_FORCE : 0) |
	    (a.adopt ? HELLO_ADOPT : 0) | hello_jobs(a.o.sync_jobs), &h,
	    &code) < 0 ||
	    reconcile_hello(&c, ix, &h, &adopt, sec, &code) < 0) {
		/* A secondary that could not even open its directory exits
		 * with EX_CANTCREAT (it said why on stderr). */
		int status = conn_close(&c);
		if (code == EX_UNAVAILABLE && WIFEXITED(status) &&
		    WEXITSTATUS(status) == EX_CANTCREAT)
			code = EX_CANTCREAT;
		goto out_conn;
	}
	tgt.secondary_privileged = h.privileged;
	tgt.secondary_uid = h.uid;
	tgt.secondary_gid = h.gid;
	/* --checksum: every file compared on both sides, the index rebuilt
	 * from the result (an adoption walk, with digests). */
	if (a.checksum)
		adopt = true;
	if (adopt && adopt_secondary(&a, &tgt, ix, &c, sec) < 0) {
		if (cli_stop_signal)
			log_err("interrupted (SIG%s) while adopting %s: the next "
			    "georep sync of this pair adopts it again",
			    sigabbrev_np(cli_stop_signal), sec);
		code = cli_stop_signal ? 128 + cli_stop_signal :
		    c.failed ? conn_exit_code(&c) : EX_IOERR;
		conn_close(&c);
		goto out_conn;
	}
	int rc = run_turns(&a, &tgt, ix, &c, &st);
	int status = conn_close(&c);
	/* Stopped: cut short, or not run again (run_turns). */
	if (cli_stop_signal && !c.failed && (rc < 0 || (rc == 1 &&
	    st.errors == 0))) {
		code = report_interrupted(ix, &st, sec, false);
		goto out_conn;
	}
	if (rc < 0 && !c.failed && status != 0 && WIFEXITED(status))
		log_err("the secondary exited with status %d",
		    WEXITSTATUS(status));
	if (rc < 0)
		code = c.failed ? conn_exit_code(&c) : EX_IOERR;
	else if (status != 0) {
		log_err("the secondary exited with status %d", status);
		code = EX_UNAVAILABLE;
	} else
		code = exit_status(rc, &st);
	if (code == 0 || code == EX_IOERR) {
		print_summary(&st, &c, a.o.verbose);
		print_totals(&st, &c, (double)(mono_ns() - a.started) / 1e9);
	}
out_conn:
	if (a.json)
		print_json(&a, &st, &c, prim, sec, code,
		    (double)(mono_ns() - a.started) / 1e9);
	conn_release(&c);
out:
	sync_stats_release(&st);
	index_close(ix);
	if (tgt.rootfd >= 0)
		close(tgt.rootfd);
	free(prim);
	free(sec);
	free(volume);
	free(a.excl.v);
	return code;
}
