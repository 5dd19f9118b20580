/*
 * The worker: connects to the secondary and runs turns until it is told to
 * stop (daemon.h).
 *
 * With a recorder (fanotify or inotify), each turn takes every sealed
 * segment of the journal (batch.h), lists again the directories their
 * records name and applies the difference; a segment is deleted once the
 * secondary has it.  A batch holding J_OVERFLOW (every start of a monitor
 * writes one, and a queue overflow does) is a full crawl instead.  A turn
 * whose paths failed keeps its segments, so the next turn lists those
 * directories again and retries them, with backoff when nothing new came;
 * past BATCH_SEGMENTS_MAX kept segments they give way to a full crawl
 * marked in the session's crawl_needed flag, which stays until a full
 * crawl succeeds.
 *
 * In crawl mode (no recorder), a full crawl every crawl_interval.
 *
 * Between turns it waits on the monitor, on signals and on the secondary
 * (idle_wait): a secondary that dies is noticed at once, one that stops
 * answering within `timeout` (a PING every timeout / 2 of silence).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../detection/crawl.h"
#include "../index/index.h"
#include "../journal/journal.h"
#include "../protocol/conn.h"
#include "../sync/repair.h"
#include "../sync/sync.h"
#include "../sync/adopt.h"
#include "../sync/contact.h"
#include "batch.h"
#include "session.h"
#include "daemon.h"
#include "../common/banned.h"

#define RETRY_MIN_MS	1000
/* Failed paths are retried at least this often, whatever crawl_interval
 * is: space freed on a full secondary is used within half a minute. */
#define RETRY_MAX_MS	30000
#define SAVE_EVERY_NS	1000000000LL	/* status under load */
#define IDLE_SAVE_NS	50000000LL	/* and once idle that long */

/* What one loop iteration of the journal loop found. */
enum turn_outcome {
	OUT_FAILED = -1,	/* the turn could not go on: the worker ends */
	OUT_DONE = 0,		/* applied, the secondary matches */
	OUT_PARTIAL = 1,	/* applied, some paths failed (kept, retried) */
	OUT_NOTHING = 3,	/* nothing new to apply */
};

/* ---- status ---- */

void
worker_save_status(struct worker *w)
{
	if (status_save(&w->st, w->dir) < 0)
		log_err("cannot write the status of %s", w->name);
	w->saved_at = mono_ns();
	w->dirty = false;
}

/* Save now if asked, else at most once a second (turns follow each other
 * closely under load); what is left is saved when the worker goes idle. */
static void
save_status(struct worker *w, bool now)
{
	w->dirty = true;
	if (now || mono_ns() - w->saved_at > SAVE_EVERY_NS)
		worker_save_status(w);
}

/* The detail of a running session: why not the detector asked for, and
 * what the replica cannot hold. */
static void
running_detail(struct worker *w)
{
	char *d = xasprintf("%s%s%s", w->detector_note ? w->detector_note : "",
	    w->detector_note && w->not_exact[0] ? "; " : "", w->not_exact);

	status_set_detail(&w->st, *d ? d : NULL);
	free(d);
}

static void
set_state(struct worker *w, enum session_state state)
{
	if (w->st.state == state)
		return;
	w->st.state = state;
	running_detail(w);
	worker_save_status(w);
}

/* Owners and devices a secondary without privilege could not hold. */
static void
note_not_exact(struct worker *w, const struct sync_stats *s, bool full)
{
	char was[sizeof(w->not_exact)];

	memcpy(was, w->not_exact, sizeof(was));
	if (s->owners_skipped || s->devices_skipped)
		snprintf(w->not_exact, sizeof(w->not_exact), "the secondary runs "
		    "without privilege: %llu %s and %llu device %s not "
		    "replicated (the first: %s)",
		    (unsigned long long)s->owners_skipped,
		    plural(s->owners_skipped, "owner", "owners"),
		    (unsigned long long)s->devices_skipped,
		    plural(s->devices_skipped, "node", "nodes"),
		    s->owner_first ? s->owner_first : s->device_first ?
		    s->device_first : "?");
	else if (full)
		w->not_exact[0] = '\0';
	if (strcmp(was, w->not_exact) != 0)
		running_detail(w);
}

/* The clock stepped back: the sync point goes back with it (util.h,
 * clockwatch). */
static void
watch_clock(struct worker *w)
{
	int64_t bound = clockwatch_back(&w->clock);
	char t[40];

	if (bound == 0)
		return;
	w->stepped_at = mono_ns();
	if (w->st.last_synced <= bound)
		return;
	format_rfc3339(bound, t, sizeof(t));
	log_warn("the clock went back by %.3f s: the sync point goes back to "
	    "%s (changes made since carry earlier times than it)",
	    (double)(w->st.last_synced - bound) / 1e9, t);
	status_clock_back(&w->st, bound);
	worker_save_status(w);
}

/* from_turn: t is a turn's cut; a turn begun before the clock went back
 * covers none of what came after the step, so it moves nothing.  A time
 * not yet reached is from before a step too. */
static void
sync_point_moved(struct worker *w, int64_t t, bool from_turn)
{
	int64_t before = w->st.last_synced;

	watch_clock(w);
	if ((from_turn && w->turn_began <= w->stepped_at) || t > now_ns())
		return;

	if (status_synced(&w->st, t)) {
		char s[40];
		format_rfc3339(w->st.checkpoint, s, sizeof(s));
		log_info("checkpoint %s completed", s);
		worker_save_status(w);
	} else if (w->st.last_synced != before) {
		w->dirty = true;
	}
}

/* After a turn: counters, failures, the sync point (only a turn without
 * failures sets one, so no checkpoint passes a parked failure). */
static void
after_turn(struct worker *w, const struct sync_stats *s)
{
	bool had_failures = w->st.failure_count != 0;
	enum turn_kind kind = w->st.turn.kind;

	w->st.turns++;
	if (kind == TURN_FIRST_CRAWL || kind == TURN_FULL_CRAWL) {
		int64_t ms = (mono_ns() - w->turn_began) / 1000000;
		w->st.full_crawls++;
		w->st.last_crawl_ms = ms;
		w->st.crawl_ms_total += ms;
	}
	w->st.files_synced += s->files_sent;
	w->st.bytes_synced += s->bytes_sent;
	w->st.wire_bytes += s->wire_bytes;
	w->st.wire_plain += s->wire_plain;
	w->st.entries_pending = w->st.data_pending = w->st.meta_pending = 0;
	memset(&w->st.turn, 0, sizeof(w->st.turn));
	status_set_failures(&w->st, s->fail_path, s->fail_error, s->nfail,
	    s->errors);
	if (s->sync_point)
		sync_point_moved(w, s->sync_point, true);
	save_status(w, had_failures != (w->st.failure_count != 0));
}

/* A secondary out of space fails every write that follows: the session
 * is Faulty, with the path and the reason, until a turn goes through
 * (failed paths are retried at least every RETRY_MAX_MS). */
static void
note_full(struct worker *w, const struct sync_stats *s)
{
	const char *nospc = strerror(ENOSPC), *quota = strerror(EDQUOT);
	char detail[1024];

	for (size_t i = 0; i < s->nfail; i++) {
		if (strstr(s->fail_error[i], nospc) == NULL &&
		    strstr(s->fail_error[i], quota) == NULL)
			continue;
		snprintf(detail, sizeof(detail), "the secondary is out of space: "
		    "%s; failed paths are retried at least every %d s",
		    s->fail_error[i], RETRY_MAX_MS / 1000);
		if (w->st.state != STATE_FAULTY)
			log_warn("%s", detail);
		w->st.state = STATE_FAULTY;
		status_set_detail(&w->st, detail);
		worker_save_status(w);
		return;
	}
}

/* A checkpoint set ahead of the clock completes with the first idle after
 * its time, even if nothing changes meanwhile: how long until then (ms),
 * or -1 when no checkpoint waits for the clock. */
static int64_t
checkpoint_ahead_ms(const struct worker *w)
{
	int64_t ahead = w->st.checkpoint - now_ns();

	if (w->st.checkpoint == 0 || w->st.checkpoint_completed || ahead < 0)
		return -1;
	return ahead / 1000000 + 1;
}

/* A new checkpoint shows as pending at once, paused or not. */
static bool
check_checkpoint(struct worker *w)
{
	int64_t cp = session_checkpoint(w->dir);

	if (cp == w->st.checkpoint)
		return false;
	status_set_checkpoint(&w->st, cp);
	worker_save_status(w);
	return true;
}

/* sync_opts.on_progress: where the running turn is, for status. */
static void
on_progress(void *arg, const struct sync_progress *p)
{
	struct worker *w = arg;

	w->st.turn.files_seen = p->files_seen;
	w->st.turn.dirs_seen = p->dirs_seen;
	w->st.turn.bytes_total = p->bytes_total;
	w->st.turn.bytes_done = p->bytes_done;
	w->st.entries_pending = p->entries_total - p->entries_done;
	w->st.data_pending = p->data_total - p->data_done;
	w->st.meta_pending = p->meta_total - p->meta_done;
	/* The end of a long crawl is saved at once: what the turn found (a
	 * short turn's status waits: a durable write is not for every
	 * lone change). */
	save_status(w, w->crawling && !p->crawling && mono_ns() -
	    w->turn_began > SAVE_EVERY_NS);
	w->crawling = p->crawling;
}

static void
turn_begins(struct worker *w, enum turn_kind kind)
{
	memset(&w->st.turn, 0, sizeof(w->st.turn));
	w->st.turn.kind = kind;
	w->st.turn.started = now_ns();
	w->turn_began = mono_ns();
	w->crawling = true;
	w->dirty = true;
}

/* ---- the link to the secondary ---- */

struct session_conn {
	struct sync_target tgt;
	struct sync_opts o;
	struct index *ix;
	struct conn c;
	char *volume;
	int64_t quiet_since;	/* mono ns: the link's last exchange */
	bool adopt;		/* the secondary is to be adopted (adopt.h) */
};

/* ---- talking to the monitor ---- */

struct chan {
	int fd;
	char buf[256];
	size_t len;
	bool asked;		/* "r" sent, no "s" since */
};

/* Lines from the monitor: 1 when a segment was sealed ("s"), else 0;
 * *idle gets the time of an "i". */
static int
chan_read(struct chan *ch, int64_t *idle)
{
	ssize_t n = read(ch->fd, ch->buf + ch->len, sizeof(ch->buf) - ch->len);
	int rc = 0;
	char *nl;

	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	ch->len += (size_t)n;
	while ((nl = memchr(ch->buf, '\n', ch->len)) != NULL) {
		*nl = '\0';
		if (ch->buf[0] == 's') {
			ch->asked = false;
			rc = 1;
		} else if (ch->buf[0] == 'i') {
			*idle = strtoll(ch->buf + 1, NULL, 10);
		}
		size_t used = (size_t)(nl + 1 - ch->buf);
		memmove(ch->buf, nl + 1, ch->len - used);
		ch->len -= used;
	}
	if (ch->len == sizeof(ch->buf))
		ch->len = 0;	/* no line that long is sent */
	return rc;
}

static int
chan_say(struct chan *ch, const char *line)
{
	return ch == NULL ? 0 : write_full(ch->fd, line, strlen(line));
}

/*
 * Wait up to ms for the monitor (ch may be NULL: crawl mode, paused), a
 * signal, or the secondary, keeping the link alive meanwhile.  Returns 1
 * when a segment was sealed, 0 when the time is up or a signal came (*idle
 * gets the time of an "i"), -1 when the monitor or the secondary is gone
 * (the secondary's reason in its conn).
 */
static int
idle_wait(struct worker *w, struct session_conn *sc, struct chan *ch,
    int64_t ms, int64_t *idle)
{
	int64_t deadline = mono_ns() + ms * 1000000;
	int64_t keepalive = (int64_t)w->cfg->timeout_ms * 500000;
	/* What the last turns did is saved once they pause a moment: not
	 * between the turns of a burst (a durable write each). */
	int64_t save_at = mono_ns() + IDLE_SAVE_NS;

	*idle = 0;
	while (!sig_stop && !sig_wake && !sig_hup) {
		struct pollfd p[4] = {
			{ .fd = ch ? ch->fd : -1, .events = POLLIN },
			{ .fd = wake_fd(), .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
		};
		int64_t now = mono_ns();
		if (now >= deadline)
			return 0;
		if (now - sc->quiet_since >= keepalive) {
			if (conn_ping(&sc->c) < 0)
				return -1;
			sc->quiet_since = now;
		}
		if (conn_ping_overdue(&sc->c))
			return -1;
		conn_idle_fds(&sc->c, &p[2].fd, &p[3].fd);
		if (w->dirty && now >= save_at)
			worker_save_status(w);
		int64_t wait = deadline - now;
		if (wait > keepalive)
			wait = keepalive;
		if (w->dirty && wait > save_at - now)
			wait = save_at - now;
		if (poll(p, 4, (int)(wait / 1000000) + 1) < 0 &&
		    errno != EINTR)
			return -1;
		if (p[1].revents)
			drain_wake();
		if ((p[2].revents || p[3].revents) &&
		    conn_pump(&sc->c, false) < 0)
			return -1;
		if (p[0].revents) {
			int got = chan_read(ch, idle);
			if (got != 0 || *idle)
				return got;
		}
	}
	return 0;
}

/* ---- turns ---- */

/* One turn; a second at once after ESTALE (it reconciles first).  An
 * enum sync_result, never SYNC_STALE. */
static int
run_turn(struct session_conn *sc, struct sync_stats *s)
{
	uint64_t plain = sc->c.bytes_out, wire = sc->c.wire_out;
	int rc = sync_turn(&sc->o, &sc->tgt, sc->ix, &sc->c, s);

	if (rc == SYNC_STALE) {
		sync_stats_release(s);
		memset(s, 0, sizeof(*s));
		rc = sync_turn(&sc->o, &sc->tgt, sc->ix, &sc->c, s);
	}
	s->wire_plain = sc->c.bytes_out - plain;
	s->wire_bytes = sc->c.wire_out - wire;
	sc->quiet_since = mono_ns();
	return rc == SYNC_STALE ? SYNC_PARTIAL : rc;
}

/* The reason of the last failure, for status: what the connection said,
 * else the last error logged. */
static const char *
failure_reason(const struct session_conn *sc, const char *otherwise)
{
	if (sc->c.failed)
		return sc->c.error;
	return log_last_error() ? log_last_error() : otherwise;
}

static int
open_primary(struct worker *w, struct session_conn *sc, char *detail,
    size_t dlen, int *code)
{
	char *ixdir;
	int rc;

	sc->tgt.rootfd = open(w->cfg->primary, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (sc->tgt.rootfd < 0) {
		snprintf(detail, dlen, "the primary %s: %s", w->cfg->primary,
		    strerror(errno));
		*code = EX_NOINPUT;
		return -1;
	}
	sc->volume = volume_id(sc->tgt.rootfd, w->cfg->primary, &sc->tgt.fsid,
	    &sc->tgt.root);
	if (sc->volume == NULL) {
		snprintf(detail, dlen, "%s", failure_reason(sc, "the primary "
		    "has no file handles"));
		*code = EX_NOINPUT;
		return -1;
	}
	ixdir = session_path(w->dir, SF_INDEX);
	rc = open_index(ixdir, sc->volume, &sc->ix);
	free(ixdir);
	if (rc != 0) {
		snprintf(detail, dlen, rc > 0 ? "the primary %s is not the "
		    "directory this session was created for (it was moved or "
		    "replaced)" : "cannot open the index of %s", w->cfg->primary);
		*code = rc > 0 ? EX_DATAERR : EX_IOERR;
		return -1;
	}
	return 0;
}

/* Take over what the secondary holds (adopt.h); the first turn then
 * crawls the whole primary. */
static int
adopt_session(struct worker *w, struct session_conn *sc, char *detail,
    size_t dlen)
{
	struct adopt_opts ao = {
		.ignore_deletes = sc->o.ignore_deletes,
		.no_owners = sc->o.no_owners, .no_xattrs = sc->o.no_xattrs,
		.no_acls = sc->o.no_acls, .no_fsync = sc->o.no_fsync,
		.excludes = sc->o.excludes, .nexcludes = sc->o.nexcludes,
		.stop = &sig_stop,
	};
	struct adopt_stats as;

	if (adopt_tree(&sc->c, sc->ix, &sc->tgt, &ao, &as) < 0 ||
	    as.failures) {
		snprintf(detail, dlen, "adopting %s failed (%s): it is tried "
		    "again", w->cfg->secondary, sc->c.failed ? sc->c.error :
		    as.failures ? "names that could not be removed, in the "
		    "log" : "see the log");
		return -1;
	}
	log_info("adopted %s: %llu names kept (of which %llu to be sent "
	    "again and %llu with attributes to set), %llu removed, %llu only "
	    "on the primary", w->cfg->secondary,
	    (unsigned long long)as.adopted, (unsigned long long)as.content,
	    (unsigned long long)as.attrs, (unsigned long long)as.removed,
	    (unsigned long long)as.missing);
	if (session_set_flag(w->dir, SF_CRAWL_NEEDED, true) < 0 ||
	    session_set_flag(w->dir, SF_ADOPT, false) < 0) {
		snprintf(detail, dlen, "cannot write the session's flags in %s",
		    w->dir);
		return -1;
	}
	sc->adopt = false;
	return 0;
}

static int
connect_secondary(struct worker *w, struct session_conn *sc, char *detail,
    size_t dlen, int *code)
{
	struct hello_result h;
	/* Created with --force: the first contact may replace what the
	 * secondary holds (bound to another primary, or its index lost). */
	bool force = session_flag(w->dir, SF_TAKEOVER);
	bool adopt = session_flag(w->dir, SF_ADOPT);

	if (open_primary(w, sc, detail, dlen, code) < 0)
		return -1;
	*code = EX_UNAVAILABLE;
	sc->c.capture_stderr = true;
	sc->adopt = adopt;
	if (secondary_connect(&sc->c, w->cfg->secondary,
	    w->cfg->ssh_command) < 0 ||
	    say_hello(&sc->c, sc->volume, (force ? HELLO_FORCE : 0) |
	    (adopt ? HELLO_ADOPT : 0) | hello_jobs(w->cfg->sync_jobs), &h,
	    code) < 0 ||
	    reconcile_hello(&sc->c, sc->ix, &h, &sc->adopt,
	    w->cfg->secondary, code) < 0) {
		if (sc->c.failed)	/* it names the secondary */
			snprintf(detail, dlen, "%s", sc->c.error);
		else
			snprintf(detail, dlen, "the secondary %s: %s",
			    w->cfg->secondary, failure_reason(sc, "refused"));
		return -1;
	}
	if (force)
		session_set_flag(w->dir, SF_TAKEOVER, false);
	sc->quiet_since = mono_ns();
	sc->tgt.secondary_privileged = h.privileged;
	sc->tgt.secondary_uid = h.uid;
	sc->tgt.secondary_gid = h.gid;
	char wire[128];
	if (conn_describe_wire(&sc->c, wire, sizeof(wire)))
		log_info("the wire to %s: %s", w->cfg->secondary, wire);
	sc->o.excludes = (const char *const *)w->cfg->exclude;
	sc->o.nexcludes = w->cfg->nexclude;
	sc->o.ignore_deletes = w->cfg->ignore_deletes;
	sc->o.no_xattrs = !w->cfg->sync_xattrs;
	sc->o.no_acls = !w->cfg->sync_acls;
	_Static_assert(CONFIG_DELTA_AUTO == SYNC_DELTA_AUTO &&
	    CONFIG_DELTA_THRESHOLD == SYNC_DELTA_REMOTE,
	    "the config's delta_threshold is sync_opts'");
	sc->o.delta_threshold = w->cfg->delta_threshold;
	sc->o.sync_jobs = w->cfg->sync_jobs;
	sc->o.one_file_system = w->cfg->one_file_system;
	sc->o.stop = &sig_stop;
	sc->o.no_fsync = getenv("GEOREP_TEST_NO_FSYNC") != NULL;
	sc->o.on_progress = on_progress;
	sc->o.progress_arg = w;
	/* At debug level, each change goes to the log, as sync -v prints
	 * it. */
	sc->o.verbose = sc->o.verbose_log = w->cfg->log_level ==
	    LOG_LVL_DEBUG;
	if (sc->adopt && adopt_session(w, sc, detail, dlen) < 0)
		return -1;
	return 0;
}

static int
cmp_racy(const void *a, const void *b)
{
	const struct sync_racy *x = a, *y = b;
	int c = crawl_fid_cmp(&x->fid, &y->fid);

	if (c)
		return c;
	/* The newest first. */
	return (x->seen < y->seen) - (x->seen > y->seen);
}

/*
 * Racy files (sync.h): a directed turn may settle those sent before its cut
 * time by more than a clock tick -- any change after they were looked at is
 * in the journal up to that cut, and a turn that met it hashed them again.
 * The ones it may settle are taken out of l into *out.
 */
static void
racy_due(struct sync_racy_list *l, int64_t cut, struct fid **out, size_t *n)
{
	size_t keep = 0, uniq = 0;

	/* A file left racy again by a later turn counts from then only. */
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_racy);
	for (size_t i = 0; i < l->n; i++)
		if (uniq == 0 || !fid_eq(&l->v[i].fid, &l->v[uniq - 1].fid))
			l->v[uniq++] = l->v[i];
	*out = xcalloc(uniq + 1, sizeof(**out));
	*n = 0;
	for (size_t i = 0; i < uniq; i++) {
		if (l->v[i].seen + SYNC_RACY_NS <= cut)
			(*out)[(*n)++] = l->v[i].fid;
		else
			l->v[keep++] = l->v[i];
	}
	l->n = keep;
}

/* The files a turn left racy join those waiting (a full crawl looked at
 * every one that waited: it starts the list again). */
static void
racy_add(struct sync_racy_list *l, const struct sync_stats *s, bool full)
{
	if (full)
		l->n = 0;
	for (size_t i = 0; i < s->racy.n; i++)
		sync_racy_add(l, &s->racy.v[i].fid, s->racy.v[i].seen);
}

static void
directed_begin(struct session_conn *sc, const struct batch *b)
{
	sc->o.directed = true;
	sc->o.dirs = b->dirs;
	sc->o.dirnames = b->names;
	sc->o.deep = b->deep;
	sc->o.ndeep = b->ndeep;
	sc->o.ndirs = b->ndirs;
	/* A directed turn covers what was recorded before its last cut. */
	sc->o.sync_point = b->cut;
}

static void
directed_end(struct session_conn *sc)
{
	sc->o.directed = false;
	sc->o.dirs = NULL;
	sc->o.dirnames = NULL;
	sc->o.ndirs = 0;
	sc->o.deep = NULL;
	sc->o.ndeep = 0;
	sc->o.sync_point = 0;
	sc->o.settle = NULL;
	sc->o.nsettle = 0;
}

/* After a turn over a batch: its segments go once the secondary has what
 * they recorded, or once a full crawl stands for them. */
static void
batch_applied(struct worker *w, const char *jdir, struct batch *b,
    int rc, bool full, bool crawl_needed, uint64_t *applied)
{
	if (rc == 0 || full || b->nseqs > BATCH_SEGMENTS_MAX) {
		if (rc != 0)
			session_set_flag(w->dir, SF_CRAWL_NEEDED, true);
		else if (crawl_needed)
			session_set_flag(w->dir, SF_CRAWL_NEEDED, false);
		batch_remove(jdir, b);
	}
	if (b->nseqs)
		*applied = b->seqs[b->nseqs - 1];
}

/* What verify --repair left for the index, applied before a turn: 1 when
 * it was (a full crawl then sends it again), 0 when there was none.  The
 * crawl is flagged first: a crash after the index changed and the list
 * went still crawls.  A list that cannot be applied is logged and left;
 * the session goes on. */
static int
take_repairs(struct worker *w, struct session_conn *sc)
{
	char *path = session_path(w->dir, SF_REPAIR);
	char *taken = xasprintf("%s.taken", path);
	bool some = access(path, F_OK) == 0 || access(taken, F_OK) == 0;
	int rc = 0;

	free(path);
	free(taken);
	if (!some)
		return 0;
	int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		log_sys(LOG_LVL_ERR, "open %s", w->dir);
		return 0;
	}
	if (session_set_flag(w->dir, SF_CRAWL_NEEDED, true) == 0)
		rc = repair_take(sc->ix, dfd, session_file_name(SF_REPAIR));
	close(dfd);
	return rc > 0;
}

static void
retry_release(struct worker *w)
{
	for (size_t i = 0; i < w->nretry; i++)
		free(w->retry[i].name);
	free(w->retry);
	w->retry = NULL;
	w->nretry = 0;
}

/* After a turn: where its failures are is where the next one looks again.
 * A turn that ended (done, or with failures) replaces the list; one cut
 * short adds to it (what it did not reach is still to do).  Too many: a
 * crawl stands for them. */
static void
keep_retry(struct worker *w, struct sync_stats *s, bool ended)
{
	if (ended)
		retry_release(w);
	if (!s->retry_overflow && w->nretry + s->nretry <= SYNC_RETRY_MAX) {
		if (s->nretry == 0)
			return;
		w->retry = xrealloc(w->retry, (w->nretry + s->nretry) *
		    sizeof(*w->retry));
		memcpy(w->retry + w->nretry, s->retry, s->nretry *
		    sizeof(*s->retry));
		w->nretry += s->nretry;
		free(s->retry);	/* the names are the worker's now */
		s->retry = NULL;
		s->nretry = s->capretry = 0;
		return;
	}
	log_info("%zu failures to retry: the next turn crawls the primary",
	    w->nretry + s->nretry);
	retry_release(w);
	if (session_set_flag(w->dir, SF_CRAWL_NEEDED, true) < 0)
		log_warn("cannot ask for a crawl (the failures are retried by "
		    "the next full crawl)");
}

/* One turn over the journal's sealed segments, when one of them is new
 * (after *applied) or a retry is due. */
/* A line per turn at info level: what it applied, how long it took, and
 * the sync point it reached (or why not). */
static void
log_turn(const struct sync_stats *s, int rc, bool full, size_t records,
    int64_t ns)
{
	char bytes[16], when[40] = "not moved: some paths failed";

	format_size(s->bytes_sent, bytes, sizeof(bytes));
	if (rc == SYNC_FAILED)
		snprintf(when, sizeof(when), "not moved: the turn failed");
	else if (s->sync_point)
		format_rfc3339(s->sync_point, when, sizeof(when));
	log_info("turn (%s, %zu %s): %llu created, %llu changed, %llu "
	    "deleted, %llu %s (%s) sent, in %.3f s; sync point %s", full ?
	    "full crawl" : "journal", records, plural(records, "record",
	    "records"), (unsigned long long)s->created,
	    (unsigned long long)s->changed, (unsigned long long)s->removed,
	    (unsigned long long)s->files_sent, plural(s->files_sent, "file",
	    "files"), bytes, (double)ns / 1e9, when);
}

static enum turn_outcome
journal_turn(struct worker *w, struct session_conn *sc, const char *jdir,
    uint64_t *applied, bool retry_due)
{
	struct batch b = { 0 };
	struct sync_stats s = { 0 };
	bool repairs = take_repairs(w, sc) > 0;
	bool crawl_needed = session_flag(w->dir, SF_CRAWL_NEEDED);
	struct fid *settle = NULL;
	size_t nsettle = 0;

	if (batch_read(jdir, &b) < 0)
		return OUT_FAILED;
	if (!(b.nseqs && b.seqs[b.nseqs - 1] > *applied) && !retry_due &&
	    !repairs) {
		batch_release(&b);
		return OUT_NOTHING;
	}
	bool full = b.full || crawl_needed;
	for (size_t i = 0; !full && i < w->nretry; i++)
		batch_add(&b, &w->retry[i].dir, w->retry[i].name,
		    w->retry[i].name ? strlen(w->retry[i].name) : 0);
	if (!full && batch_plan(&b, sc->ix) < 0) {
		batch_release(&b);
		return OUT_FAILED;
	}
	if (!full && b.nseqs == 0) {
		batch_release(&b);
		return OUT_DONE;	/* a retry with nothing left to retry */
	}
	set_state(w, !full ? STATE_CHANGELOG_CRAWL : w->st.last_synced ?
	    STATE_HYBRID_CRAWL : STATE_INITIALIZING);
	turn_begins(w, !full ? TURN_JOURNAL : w->st.last_synced ?
	    TURN_FULL_CRAWL : TURN_FIRST_CRAWL);
	if (!full) {
		directed_begin(sc, &b);
		racy_due(&w->racy, b.cut, &settle, &nsettle);
		sc->o.settle = settle;
		sc->o.nsettle = nsettle;
	}
	log_debug("turn: %zu segments, %zu records, %zu directories%s",
	    b.nseqs, b.nrecords, b.ndirs, full ? ", a full crawl" : "");
	if (full)
		log_info("a full crawl of the primary: %s", !w->st.last_synced ?
		    "the first since this start" : b.full ? "the journal "
		    "cannot say what changed (the session or its worker "
		    "started, an overflow, or a gap)" :
		    "asked for (failures to retry, a repair, or a restart)");
	int64_t t0 = mono_ns();
	int rc = run_turn(sc, &s);
	log_turn(&s, rc, full, b.nrecords, mono_ns() - t0);
	keep_retry(w, &s, rc >= 0);
	racy_add(&w->racy, &s, full && rc >= 0);
	note_not_exact(w, &s, full && rc == SYNC_DONE);
	if (rc < 0)	/* not settled: due again next turn */
		for (size_t i = 0; i < nsettle; i++)
			sync_racy_add(&w->racy, &settle[i], 0);
	free(settle);
	directed_end(sc);
	if (rc >= 0) {
		after_turn(w, &s);
		batch_applied(w, jdir, &b, rc, full, crawl_needed, applied);
		set_state(w, STATE_CHANGELOG_CRAWL);
		note_full(w, &s);
	}
	sync_stats_release(&s);
	batch_release(&b);
	return rc == SYNC_FAILED ? OUT_FAILED : rc == SYNC_DONE ? OUT_DONE :
	    OUT_PARTIAL;
}

/* Paused: wait, the link kept alive, until resumed or stopped. */
static int
wait_paused(struct worker *w, struct session_conn *sc)
{
	int64_t idle;

	set_state(w, STATE_PAUSED);
	return idle_wait(w, sc, NULL, INT32_MAX, &idle) < 0 ? -1 : 0;
}

/* The loop with a recorder.  -1 when a turn could not go on. */
static int
journal_loop(struct worker *w, struct session_conn *sc)
{
	char *jdir = session_path(w->dir, SF_JOURNAL);
	struct chan ch = { .fd = w->chan };
	uint64_t applied = 0;
	int64_t retry_ms = RETRY_MIN_MS, retry_at = 0;
	bool retry_pending = true;	/* the first turn runs in any case */
	bool want_idle = false;
	int rc = 0;

	while (!sig_stop && !sig_hup) {
		sig_wake = 0;
		watch_clock(w);
		want_idle |= check_checkpoint(w);
		if (session_flag(w->dir, SF_PAUSED)) {
			if ((rc = wait_paused(w, sc)) < 0)
				break;
			continue;
		}
		if (w->st.state == STATE_PAUSED)	/* resumed */
			set_state(w, STATE_CHANGELOG_CRAWL);
		enum turn_outcome out = journal_turn(w, sc, jdir, &applied,
		    retry_pending && mono_ns() >= retry_at);
		if (out == OUT_FAILED) {
			rc = -1;
			break;
		}
		if (out == OUT_DONE || out == OUT_PARTIAL) {
			chan_say(&ch, "t\n");
			/* An "i" taken while a retry was pending moved
			 * nothing: ask again once the turn is done, or the
			 * sync point stays where the failure left it. */
			ch.asked = false;
		}
		if (out == OUT_DONE) {
			retry_pending = false;
			retry_ms = RETRY_MIN_MS;
		} else if (out == OUT_PARTIAL) {
			retry_pending = true;
			retry_at = mono_ns() + retry_ms * 1000000;
			int64_t cap = w->cfg->crawl_interval_ms < RETRY_MAX_MS ?
			    w->cfg->crawl_interval_ms : RETRY_MAX_MS;
			retry_ms = retry_ms * 2 > cap ? cap : retry_ms * 2;
		}
		if (out != OUT_NOTHING)
			continue;	/* look for the next segment at once */
		if (want_idle)
			ch.asked = false;	/* a fresh "i" for a checkpoint */
		want_idle = false;
		if (!ch.asked) {
			char line[40];
			snprintf(line, sizeof(line), "r %llu\n",
			    (unsigned long long)applied);
			if (chan_say(&ch, line) < 0) {
				rc = -1;
				break;
			}
			ch.asked = true;
		}
		int64_t idle, wait = retry_pending ?
		    (retry_at - mono_ns()) / 1000000 + 1 : INT32_MAX;
		int64_t cp_wait = checkpoint_ahead_ms(w);
		bool cp_due = cp_wait >= 0 && cp_wait < wait;
		if (cp_due)
			wait = cp_wait;
		int got = idle_wait(w, sc, &ch, wait < 0 ? 0 : wait, &idle);
		if (cp_due && got == 0 && idle == 0)
			ch.asked = false;	/* its time came: a fresh "i" */
		if (got < 0) {
			if (!sc->c.failed && !sig_stop)
				log_err("lost the monitor");
			rc = sig_stop ? 0 : -1;
			break;
		}
		if (idle && !retry_pending && w->st.failure_count == 0)
			sync_point_moved(w, idle, false);
	}
	free(jdir);
	return rc < 0 ? -1 : 0;
}

/* The loop in crawl mode. */
static int
crawl_loop(struct worker *w, struct session_conn *sc)
{
	struct chan ch = { .fd = w->chan };

	while (!sig_stop && !sig_hup) {
		int64_t idle;
		sig_wake = 0;
		watch_clock(w);
		check_checkpoint(w);
		if (session_flag(w->dir, SF_PAUSED)) {
			if (wait_paused(w, sc) < 0)
				return -1;
			continue;
		}
		take_repairs(w, sc);	/* the crawl sends them */
		set_state(w, w->st.last_synced ? STATE_HYBRID_CRAWL :
		    STATE_INITIALIZING);
		turn_begins(w, w->st.last_synced ? TURN_FULL_CRAWL :
		    TURN_FIRST_CRAWL);
		struct sync_stats s = { 0 };
		int rc = run_turn(sc, &s);
		if (rc < 0) {
			sync_stats_release(&s);
			return -1;
		}
		note_not_exact(w, &s, rc == SYNC_DONE);
		if (rc == SYNC_DONE && session_flag(w->dir, SF_CRAWL_NEEDED))
			session_set_flag(w->dir, SF_CRAWL_NEEDED, false);
		after_turn(w, &s);
		set_state(w, STATE_HYBRID_CRAWL);
		note_full(w, &s);
		sync_stats_release(&s);
		chan_say(&ch, "t\n");
		if (idle_wait(w, sc, NULL, w->cfg->crawl_interval_ms, &idle) < 0)
			return -1;
	}
	return 0;
}

static void
worker_fail(struct worker *w, const char *detail)
{
	w->st.state = STATE_FAULTY;
	memset(&w->st.turn, 0, sizeof(w->st.turn));
	status_set_detail(&w->st, detail);
	worker_save_status(w);
}

int
worker_run(struct worker *w)
{
	struct session_conn sc;
	char detail[1024];
	int code = EX_UNAVAILABLE;

	memset(&sc, 0, sizeof(sc));
	sc.tgt.rootfd = -1;
	conn_init(&sc.c, w->cfg->secondary, (int)w->cfg->timeout_ms);
	conn_set_wire(&sc.c, w->cfg->compress, w->cfg->bwlimit);
	free(w->st.detector);
	w->st.detector = xstrdup(w->detector);
	log_clear_last_error();
	if (connect_secondary(w, &sc, detail, sizeof(detail), &code) < 0) {
		/* Said once: where it failed, or here. */
		if (log_last_error() == NULL || strstr(detail,
		    log_last_error()) == NULL)
			log_err("%s", detail);
		worker_fail(w, detail);
		goto out;
	}
	/* Connected: no longer Faulty, whatever the first turn finds; the
	 * monitor restarts a worker that gets this far soon after it ends
	 * (its link or its process cut, not a secondary out of reach). */
	set_state(w, w->journal ? STATE_CHANGELOG_CRAWL : w->st.last_synced ?
	    STATE_HYBRID_CRAWL : STATE_INITIALIZING);
	chan_say(&(struct chan){ .fd = w->chan }, "c\n");
	/* Failures parked by an earlier worker: where they are died with it
	 * (keep_retry), and the journal may name them no more. */
	if (w->journal && w->st.failure_count > 0 && w->nretry == 0 &&
	    session_set_flag(w->dir, SF_CRAWL_NEEDED, true) == 0)
		log_info("failures are parked: the first turn crawls the "
		    "primary to retry them");
	int rc = w->journal ? journal_loop(w, &sc) : crawl_loop(w, &sc);
	if (rc < 0 && !sig_stop) {
		/* The cause was logged where it happened; status and the
		 * monitor say it again, the log need not. */
		snprintf(detail, sizeof(detail), "%s", failure_reason(&sc,
		    "a turn failed"));
		code = sc.c.failed ? conn_exit_code(&sc.c) : EX_IOERR;
		worker_fail(w, detail);
		goto out;
	}
	memset(&w->st.turn, 0, sizeof(w->st.turn));
	worker_save_status(w);
	code = 0;
out:
	conn_release(&sc.c);
	index_close(sc.ix);
	if (sc.tgt.rootfd >= 0)
		close(sc.tgt.rootfd);
	free(sc.volume);
	free(w->racy.v);
	memset(&w->racy, 0, sizeof(w->racy));
	retry_release(w);
	return code;
}
