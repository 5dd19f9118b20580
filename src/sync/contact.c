#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sysexits.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/fid.h"
#include "../common/log.h"
#include "../index/index.h"
#include "../protocol/conn.h"
#include "../sync/sync.h"
#include "../protocol/transport.h"
#include "adopt.h"
#include "contact.h"
#include "../common/banned.h"

/*
 * connect: what a one-shot sync and a session's worker share before their
 * first turn -- the primary's volume id, the index of the pair, the HELLO
 * and what it means for the index.
 */

int
open_index(const char *where, const char *volume, struct index **ix)
{
	struct index_txn *t;
	struct buf b = BUF_INIT;
	int rc;

	if (index_open(ix, where) < 0) {
		log_err("cannot open the index in %s", where);
		return -1;
	}
	if (index_begin(*ix, true, &t) < 0)
		goto fail;
	rc = index_meta_get(t, "volume", &b);
	if (rc < 0) {
		index_abort(t);
		goto fail;
	}
	if (rc == 0) {
		bool same = b.len == strlen(volume) && memcmp(b.data, volume,
		    b.len) == 0;
		index_abort(t);
		buf_release(&b);
		if (same)
			return 0;
		index_close(*ix);
		*ix = NULL;
		return 1;
	}
	if (index_meta_put(t, "volume", volume, strlen(volume)) < 0 ||
	    index_commit(t) < 0)
		goto fail;
	buf_release(&b);
	return 0;
fail:
	buf_release(&b);
	index_close(*ix);
	*ix = NULL;
	return -1;
}

static void
hello_reply(void *arg, const struct pending_req *req, const struct reply *rep)
{
	struct reply *dst = arg;
	char *msg;

	(void)req;
	msg = xstrndup(rep->msg ? rep->msg : "", rep->msg_len);
	*dst = *rep;
	dst->msg = msg;
}

_Static_assert(SYNC_JOBS_LIMIT <= SYNC_JOBS_MAX,
    "the config's sync_jobs fits in the HELLO");

uint32_t
hello_jobs(int n)
{
	if (n < 1)
		n = 1;
	if (n > SYNC_JOBS_MAX)
		n = SYNC_JOBS_MAX;
	return HELLO_JOBS(n);
}

int
say_hello(struct conn *c, const char *volume, uint32_t flags,
    struct hello_result *out, int *exit_code)
{
	struct reply rep = { 0 };
	size_t s;

	c->on_reply = hello_reply;
	c->arg = &rep;
	if (conn_compress_level(c) > 0)
		flags |= HELLO_COMPRESS;
	s = conn_begin(c, MSG_HELLO, 0, true);
	put_u32(&c->out, PROTO_VERSION);
	put_str(&c->out, volume);
	put_u32(&c->out, flags);
	if (conn_end(c, s) < 0 || conn_wait_all(c) < 0) {
		/* The reply may have come, and the failure after it (junk
		 * behind it): its copy is ours to free. */
		free((char *)rep.msg);
		log_err("%s", c->error);
		*exit_code = conn_exit_code(c);
		return -1;
	}
	c->on_reply = NULL;
	if (rep.err) {
		log_err("%s", rep.msg);
		*exit_code = rep.err == EPROTO ? EX_PROTOCOL :
		    (rep.err == EEXIST || rep.err == ENOTEMPTY) ? EX_DATAERR :
		    rep.err == EPERM ? EX_NOPERM : EX_CANTCREAT;
		free((char *)rep.msg);
		return -1;
	}
	struct rd r;
	rd_init(&r, (const uint8_t *)rep.msg, rep.msg_len);
	out->uid = get_u32(&r);
	out->gid = get_u32(&r);
	free((char *)rep.msg);
	if (!rd_end(&r)) {
		log_err("protocol error: a HELLO reply of %u bytes, not %u",
		    rep.msg_len, HELLO_REPLY_DATA);
		*exit_code = EX_PROTOCOL;
		return -1;
	}
	out->state = (int)(rep.value & HELLO_STATE_MASK);
	out->privileged = (rep.value & HELLO_IS_ROOT) != 0;
	/* Only a secondary we started with the channel says so; one that
	 * says it without (a secondary over ssh) is not believed. */
	c->partials = (rep.value & HELLO_PARTIALS) != 0;
	c->fds_ok = c->fdchan >= 0 && (rep.value & HELLO_FDS);
	struct stat st;
	if (c->fds_ok && (c->local_dir == NULL || stat(c->local_dir, &st) < 0))
		c->fds_ok = false;
	else if (c->fds_ok)
		c->fds_dev = (uint64_t)st.st_dev;
	if (rep.value & HELLO_NO_OPENAT2)
		log_warn("the secondary confines paths by a component walk "
		    "(openat2 is not available there)");
	if (conn_compress_start(c) < 0) {
		log_err("%s", c->error);
		*exit_code = EX_SOFTWARE;
		return -1;
	}
	return 0;
}

/* A reset reply: just the error. */
static void
reset_reply(void *arg, const struct pending_req *req, const struct reply *rep)
{
	(void)req;
	if (rep->err) {
		log_err("emptying the secondary failed: %.*s", (int)rep->msg_len,
		    rep->msg ? rep->msg : "");
		*(int *)arg = rep->err;
	}
}

/* Index meta: this index bound its secondary (set with the binding, before
 * anything is sent), so an empty index with a bound secondary is a first
 * sync that never finished, not a lost index. */
#define BOUND_KEY	"bound"

/*
 * Reconcile what the secondary said with what the index holds: a new or
 * taken-over secondary means the index describes nothing there; a bound
 * secondary with an empty index is a lost index -- or, if this index made
 * the binding, a first sync that was interrupted: what it left is unknown
 * to the index, so the secondary is emptied and the sync starts again.
 */
int
reconcile_hello(struct conn *c, struct index *ix, const struct hello_result *h,
    bool *adopt, const char *sec, int *exit_code)
{
	struct index_txn *t;
	struct buf b = BUF_INIT;
	bool empty, adopting;
	bool reset = false;
	int bound;

	if (index_begin(ix, true, &t) < 0 || index_is_empty(t, &empty) < 0 ||
	    (bound = index_meta_get(t, BOUND_KEY, &b)) < 0 ||
	    adopt_pending(t, &adopting) < 0) {
		buf_release(&b);
		goto fail;
	}
	buf_release(&b);
	bool asked = *adopt;
	*adopt = false;
	if (h->state == HELLO_TAKEN && asked) {
		log_warn("taking over %s, which belonged to another primary "
		    "(--force --adopt): what matches is kept", sec);
		*adopt = true;
	} else if (h->state == HELLO_TAKEN) {
		log_warn("taking over %s, which belonged to another primary "
		    "(--force): its content is replaced", sec);
		reset = true;
	} else if (h->state == HELLO_ADOPTED) {
		log_info("adopting %s: what it holds and matches the primary "
		    "is kept, the rest is sent or removed (--adopt)", sec);
		*adopt = true;
	} else if (h->state == HELLO_BOUND && adopting) {
		log_warn("adopting %s did not finish: adopting it again", sec);
		*adopt = true;
	} else if (h->state == HELLO_BOUND && empty && bound == 0) {
		/* A first sync cut off: what it wrote and matches is kept. */
		log_warn("the first sync into %s did not finish: resuming it "
		    "(what is there and matches the primary is kept)", sec);
		*adopt = true;
	} else if (h->state == HELLO_BOUND && empty) {
		log_warn("%s was synced from this primary, but the index of this "
		    "pair is missing (a new --home or --name, or a session "
		    "deleted and created again?): adopting what it holds", sec);
		*adopt = true;
	}
	if (*adopt) {
		index_abort(t);	/* adopt_tree starts from an empty index */
		return 0;
	}
	if ((reset || h->state == HELLO_NEW) && ((!empty &&
	    index_clear(t) < 0) || sync_forget_secondary(t) < 0 ||
	    index_meta_put(t, BOUND_KEY, "1", 1) < 0))
		goto fail;
	if (index_commit(t) < 0)
		goto fail_nocommit;
	if (reset) {
		int err = 0;
		c->on_reply = reset_reply;
		c->arg = &err;
		size_t s = conn_begin(c, MSG_RESET, 0, true);
		if (conn_end(c, s) < 0 || conn_wait_all(c) < 0 || err) {
			if (c->failed)
				log_err("%s", c->error);
			/* The secondary's own failure to empty itself, or
			 * a link that failed (said as such). */
			*exit_code = c->failed ? conn_exit_code(c) :
			    EX_CANTCREAT;
			return -1;
		}
		c->on_reply = NULL;
	}
	return 0;
fail:
	index_abort(t);
fail_nocommit:
	*exit_code = EX_IOERR;
	return -1;
}

int
secondary_connect(struct conn *c, const char *secondary, const char *ssh_cmd)
{
	struct remote r;
	char err[512];
	int rc = remote_parse(secondary, &r, err, sizeof(err));

	if (rc < 0) {
		conn_fail(c, "%s", err);
		return -1;
	}
	if (rc == 0)
		return conn_spawn_local(c, self_exe(), secondary);
	rc = conn_spawn_remote(c, ssh_cmd, &r);
	remote_release(&r);
	return rc;
}

char *
volume_id(int rootfd, const char *prim, uint64_t *fsid, struct fid *root)
{
	struct statfs sf;
	char hex[2 * FID_MAX + 1];

	if (fstatfs(rootfd, &sf) < 0) {
		log_sys(LOG_LVL_ERR, "statfs %s", prim);
		return NULL;
	}
	memcpy(fsid, &sf.f_fsid, sizeof(*fsid));
	if (fid_at(rootfd, "", *fsid, root) < 0) {
		log_sys(LOG_LVL_ERR, "%s: cannot get file handles on this "
		    "filesystem (georep identifies files by handle)", prim);
		return NULL;
	}
	fid_hex(root, hex);
	return xasprintf("fid:%s", hex);
}

