#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "../common/log.h"
#include "../common/cmdline.h"
#include "../common/config.h"
#include "conn.h"
#include "transport.h"
#include "../common/banned.h"

#define CONN_HIGH_WATER	(4u << 20)
#define CONN_READ_CHUNK	(256u << 10)

void
conn_init(struct conn *c, const char *peer, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->rfd = c->wfd = c->errfd = c->fdchan = -1;
	c->pid = -1;
	c->exit_status = -1;
	c->next_id = 1;
	c->peer = peer;
	c->timeout_ms = timeout_ms;
}

void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return;
	c->failed = true;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

void
conn_protocol_error(struct conn *c, const char *fmt, ...)
{
	char what[sizeof(c->error) - 16];
	va_list ap;

	if (c->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	conn_fail(c, "protocol error: %s", what);
	c->proto_error = true;
}

int
conn_exit_code(const struct conn *c)
{
	return c->proto_error ? EX_PROTOCOL : EX_UNAVAILABLE;
}

/* Start exe with argv over pipes (the child's stdin and stdout carry the
 * protocol; its stderr comes through a pipe when capture_stderr).  With
 * fds, a unix socket is the child's descriptor SPAWN_FDCHAN too: the
 * descriptor channel (proto.h, PUT_COPY). */
static int
spawn(struct conn *c, const char *exe, char *const argv[], bool fds)
{
	int to_child[2], from_child[2], errpipe[2], errout[2] = { -1, -1 };
	int chan[2] = { -1, -1 };
	int child_errno;
	ssize_t n;

	if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0 ||
	    pipe2(errpipe, O_CLOEXEC) < 0 || (c->capture_stderr &&
	    pipe2(errout, O_CLOEXEC) < 0)) {
		conn_fail(c, "pipe: %s", strerror(errno));
		return -1;
	}
	if (fds && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    chan) < 0) {
		conn_fail(c, "socketpair: %s", strerror(errno));
		return -1;
	}
	c->pid = fork();
	if (c->pid < 0) {
		conn_fail(c, "fork: %s", strerror(errno));
		return -1;
	}
	if (c->pid == 0) {
		/* Only async-signal-safe calls from here to exec.  A process
		 * group of its own: Ctrl-C on a terminal signals the whole
		 * foreground group, and the secondary must be ended by its
		 * primary (BYE, or EOF if the primary dies), never killed in
		 * the middle of a request by the same keystroke.  Outside the
		 * foreground group, a terminal with `stty tostop` would stop
		 * it on a write to stderr: SIGTTOU is ignored (that lets the
		 * write through; an ignored signal stays so across exec). */
		struct sigaction ign;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		if (setpgid(0, 0) < 0 || sigaction(SIGTTOU, &ign, NULL) < 0 ||
		    dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0 ||
		    (errout[1] >= 0 && dup2(errout[1], 2) < 0))
			goto child_fail;
		/* Last: any of the above may have been SPAWN_FDCHAN.  dup2
		 * onto itself would keep close-on-exec. */
		if (chan[1] >= 0 && (chan[1] == SPAWN_FDCHAN ?
		    fcntl(chan[1], F_SETFD, 0) : dup2(chan[1], SPAWN_FDCHAN)) < 0)
			goto child_fail;
		execv(exe, argv);
child_fail:
		child_errno = errno;
		n = write(errpipe[1], &child_errno, sizeof(child_errno));
		(void)n;
		_exit(127);
	}
	/* Also here, so that no signal to our group reaches the child before
	 * its own setpgid (EACCES once it has exec'ed: it did it then). */
	if (setpgid(c->pid, c->pid) < 0 && errno != EACCES && errno != ESRCH)
		log_sys(LOG_LVL_WARN, "setpgid of the secondary");
	close(to_child[0]);
	close(from_child[1]);
	close(errpipe[1]);
	if (errout[1] >= 0)
		close(errout[1]);
	if (chan[1] >= 0)
		close(chan[1]);
	c->errfd = errout[0];
	c->fdchan = chan[0];
	n = read_full(errpipe[0], &child_errno, sizeof(child_errno));
	close(errpipe[0]);
	if (n == sizeof(child_errno)) {
		conn_fail(c, "cannot run %s: %s", exe, strerror(child_errno));
		close(to_child[1]);
		close(from_child[0]);
		if (chan[0] >= 0)
			close(chan[0]);
		c->fdchan = -1;
		waitpid(c->pid, NULL, 0);
		c->pid = -1;
		return -1;
	}
	c->wfd = to_child[1];
	c->rfd = from_child[0];
	/* Larger pipes: fewer wake-ups per megabyte.  Best effort (the
	 * limit is /proc/sys/fs/pipe-max-size). */
	fcntl(c->wfd, F_SETPIPE_SZ, 1 << 20);
	fcntl(c->rfd, F_SETPIPE_SZ, 1 << 20);
	if (fcntl(c->wfd, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(c->rfd, F_SETFL, O_NONBLOCK) < 0 || (c->errfd >= 0 &&
	    fcntl(c->errfd, F_SETFL, O_NONBLOCK) < 0)) {
		conn_fail(c, "fcntl: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
conn_spawn_local(struct conn *c, const char *self_exe, const char *dir)
{
	char chan[16];
	snprintf(chan, sizeof(chan), "%d", SPAWN_FDCHAN);
	char *argv[] = { (char *)"georep", (char *)"secondary",
	    (char *)"--fd-channel", chan, (char *)"--", (char *)dir, NULL };

	free(c->local_dir);
	c->local_dir = xstrdup(dir);
	return spawn(c, self_exe, argv, true);
}

/* The program a command names, looked up in PATH as a shell would (before
 * the fork: the child may only exec). */
static char *
find_program(const char *name)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/'))
		return xstrdup(name);
	if (path == NULL || *path == '\0')
		path = "/usr/bin:/bin";
	for (const char *p = path; ; ) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *cand = xasprintf("%.*s%s%s", (int)len, p, len ? "/" : "",
		    name);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (end == NULL)
			return NULL;
		p = end + 1;
	}
}

int
conn_spawn_remote(struct conn *c, const char *ssh_cmd, const struct remote *r)
{
	char **argv, err[512];
	int rc;

	if (remote_argv(ssh_cmd, r, &argv, err, sizeof(err)) < 0) {
		conn_fail(c, "the ssh command %s", err);
		return -1;
	}
	char *exe = find_program(argv[0]);
	if (exe == NULL) {
		conn_fail(c, "%s: not found in PATH (the ssh command is '%s')",
		    argv[0], ssh_cmd);
		argv_free(argv);
		return -1;
	}
	snprintf(c->host, sizeof(c->host), "%s", r->host);
	rc = spawn(c, exe, argv, false);
	free(exe);
	argv_free(argv);
	return rc;
}

static void
pend_push(struct conn *c, uint32_t id, uint8_t type, uint64_t cookie)
{
	if (c->pend_count == c->pend_cap) {
		/* A ring: unrolled into a new array, oldest first. */
		size_t cap = c->pend_cap;
		struct pending_req *p = xgrow(NULL, &cap, c->pend_count + 1,
		    sizeof(*p));
		for (size_t i = 0; i < c->pend_count; i++)
			p[i] = c->pend[(c->pend_head + i) % c->pend_cap];
		free(c->pend);
		c->pend = p;
		c->pend_cap = cap;
		c->pend_head = 0;
	}
	struct pending_req *r = &c->pend[(c->pend_head + c->pend_count) %
	    c->pend_cap];
	r->id = id;
	r->type = type;
	r->cookie = cookie;
	r->sent_at = UINT64_MAX;	/* conn_end says when */
	c->pend_count++;
	c->pend_open = true;
}

size_t
conn_begin(struct conn *c, uint8_t type, uint64_t cookie, bool reply)
{
	uint32_t id = c->next_id++;

	if (c->next_id == 0)
		c->next_id = 1;
	if (reply)
		pend_push(c, id, type, cookie);
	return proto_begin(&c->out, type, id);
}

size_t
conn_begin_cont(struct conn *c, uint8_t type, bool reply, uint64_t cookie)
{
	uint32_t id = c->next_id - 1;

	if (reply)
		pend_push(c, id, type, cookie);
	return proto_begin(&c->out, type, id);
}

int
conn_end(struct conn *c, size_t start)
{
	if (c->out.len - start > PROTO_FRAME_MAX + 4)
		fatal("internal error: a %s frame of %zu bytes",
		    msg_name(c->out.data[start + 4]), c->out.len - start);
	proto_finish(&c->out, start);
	if (c->pend_open) {
		/* Its reply can come once the secondary has read it all. */
		c->pend[(c->pend_head + c->pend_count - 1) % c->pend_cap].sent_at =
		    c->bytes_out + (c->out.len - c->out_off);
		c->pend_open = false;
	}
	while (!c->failed && c->out.len - c->out_off > CONN_HIGH_WATER)
		conn_pump(c, true);
	return c->failed ? -1 : 0;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/*
 * Whether a frame of this type and id can be the answer to the oldest
 * request waiting: a REPLY, with that request's id, once the secondary has
 * had all of the request (a reply to one still in our buffer would answer
 * a request it never saw).  Checked on the header alone, so that a frame
 * that cannot be is refused before its payload is waited for.
 */
static bool
reply_head_ok(struct conn *c, uint8_t type, uint32_t id)
{
	if (type != MSG_REPLY) {
		if (strcmp(msg_name(type), "unknown") == 0)
			conn_protocol_error(c, "the secondary sent a frame of "
			    "unknown type %u", type);
		else
			conn_protocol_error(c, "the secondary sent a %s frame, "
			    "not a REPLY", msg_name(type));
		return false;
	}
	if (c->pend_count == 0) {
		conn_protocol_error(c, "a reply to request %u, and no request "
		    "is waiting", id);
		return false;
	}
	const struct pending_req *req = &c->pend[c->pend_head];
	if (req->id != id) {
		conn_protocol_error(c, "a reply to request %u, but request %u "
		    "(%s) is the one waiting", id, req->id, msg_name(req->type));
		return false;
	}
	if (c->bytes_out < req->sent_at) {
		conn_protocol_error(c, "a reply to request %u (%s) before all of "
		    "it was sent", id, msg_name(req->type));
		return false;
	}
	return true;
}

/* The fields of a REPLY's payload (proto.h: i32 errno, u64 value, bytes
 * data), each checked: nothing short, nothing left over, an errno the
 * kernel could have said, an error message of a sane length. */
static bool
read_reply(struct conn *c, const char *what, const struct frame *f,
    struct reply *rep)
{
	enum { FIELDS = 4 + 8 + 4 };
	struct rd r;

	if (f->len < FIELDS) {
		conn_protocol_error(c, "a reply to %s of %u bytes (at least %u)",
		    what, f->len, (unsigned)FIELDS);
		return false;
	}
	rd_init(&r, f->payload, f->len);
	rep->err = (int)(int32_t)get_u32(&r);
	rep->value = get_u64(&r);
	rep->msg_len = get_u32(&r);
	size_t left = rd_left(&r);
	if (rep->msg_len > left) {
		conn_protocol_error(c, "a reply to %s whose data of %u bytes runs "
		    "past its end (%zu left)", what, rep->msg_len, left);
		return false;
	}
	if (rep->msg_len < left) {
		conn_protocol_error(c, "%zu bytes after the data of a reply to %s",
		    left - rep->msg_len, what);
		return false;
	}
	rep->msg = (const char *)get_raw(&r, rep->msg_len);
	if (rep->err < 0 || rep->err > PROTO_ERRNO_MAX) {
		conn_protocol_error(c, "a reply to %s with errno %d (not 0..%d)",
		    what, rep->err, PROTO_ERRNO_MAX);
		return false;
	}
	if (rep->err != 0 && rep->msg_len > PROTO_REPLY_MSG_MAX) {
		conn_protocol_error(c, "a reply to %s with an error message of %u "
		    "bytes (at most %u)", what, rep->msg_len,
		    PROTO_REPLY_MSG_MAX);
		return false;
	}
	return true;
}

/* Whether a HELLO reply's value is a state and the bits proto.h names. */
static bool
hello_value_ok(uint64_t v)
{
	return (v & HELLO_STATE_MASK) <= HELLO_ADOPTED &&
	    (v & ~(uint64_t)(HELLO_STATE_MASK | HELLO_IS_ROOT |
	    HELLO_NO_OPENAT2 | HELLO_FDS | HELLO_PARTIALS)) == 0;
}

/*
 * What a successful reply to a request of this type carries (proto.h): its
 * data (HELLO: uid and gid; LISTDIR: a page of entries, checked by
 * reconcile.c; the rest: none) and its value.  A value the primary keeps
 * as an inode number is never 0: in an oref, 0 means "any", and would turn
 * the secondary's check of that directory off.
 */
static bool
result_ok(struct conn *c, uint8_t type, const struct reply *rep)
{
	const char *what = msg_name(type);
	uint32_t data_max = 0;
	bool value_ok;

	switch (type) {
	case MSG_HELLO:
		data_max = HELLO_REPLY_DATA;
		value_ok = hello_value_ok(rep->value);
		if (rep->msg_len != HELLO_REPLY_DATA) {
			conn_protocol_error(c, "a reply to HELLO with %u bytes of "
			    "data (%u expected)", rep->msg_len, HELLO_REPLY_DATA);
			return false;
		}
		break;
	case MSG_LISTDIR:
		data_max = PROTO_LIST_BYTES;
		value_ok = rep->value <= 1;	/* more entries follow */
		break;
	case MSG_VLIST:
		data_max = VLIST_PAGE_MAX;
		value_ok = rep->value <= 1;
		break;
	case MSG_DIGEST:
		/* The value is a size: any. */
		data_max = DIGEST_LEN;
		value_ok = true;
		if (rep->msg_len != DIGEST_LEN) {
			conn_protocol_error(c, "a reply to DIGEST with %u bytes "
			    "of data (%u expected)", rep->msg_len, DIGEST_LEN);
			return false;
		}
		break;
	case MSG_SIGNATURE:
		/* The value is the size signed: any.  The signature's shape
		 * is checked against it by its reader (delta_sig_check). */
		data_max = PROTO_SIG_MAX;
		value_ok = true;
		break;
	case MSG_MKDIR: case MSG_SYMLINK: case MSG_MKNOD: case MSG_PUT_END:
		if (rep->value == 0) {
			conn_protocol_error(c, "a reply to %s with inode number 0",
			    what);
			return false;
		}
		value_ok = true;
		break;
	default:
		value_ok = rep->value == 0;
		break;
	}
	if (rep->msg_len > data_max) {
		if (data_max == 0)
			conn_protocol_error(c, "a reply to %s with %u bytes of data "
			    "(none expected)", what, rep->msg_len);
		else
			conn_protocol_error(c, "a reply to %s with %u bytes of data "
			    "(at most %u)", what, rep->msg_len, data_max);
		return false;
	}
	if (!value_ok) {
		conn_protocol_error(c, "a reply to %s with value %#llx (%s)", what,
		    (unsigned long long)rep->value, type == MSG_HELLO ?
		    "not a state and known flags" : type == MSG_LISTDIR ||
		    type == MSG_VLIST ?
		    "0 or 1 expected" : "0 expected");
		return false;
	}
	return true;
}

/* One whole frame from the secondary: checked, then taken off the queue
 * and handed to on_reply. */
static void
handle_reply(struct conn *c, const struct frame *f)
{
	struct reply rep;

	if (!reply_head_ok(c, f->type, f->id))
		return;
	struct pending_req req = c->pend[c->pend_head];
	if (!read_reply(c, msg_name(req.type), f, &rep) ||
	    (rep.err == 0 && !result_ok(c, req.type, &rep)))
		return;
	c->pend_head = (c->pend_head + 1) % c->pend_cap;
	c->pend_count--;
	if (c->on_reply)
		c->on_reply(c->arg, &req, &rep);
}

/* A frame length proto_parse_frame refused, said with its bounds. */
static void
bad_length(struct conn *c, const uint8_t *p)
{
	uint32_t n = le32(p);

	conn_protocol_error(c, "a frame of %u bytes from the secondary (%s %u)",
	    n, n > PROTO_FRAME_MAX ? "at most" : "at least",
	    n > PROTO_FRAME_MAX ? PROTO_FRAME_MAX : PROTO_HDR_LEN - 4);
}

/* Handle every whole frame in the input; keep a cut one for later. */
static void
parse_input(struct conn *c)
{
	size_t off = 0;
	struct frame f;

	while (!c->failed && off < c->in.len) {
		const uint8_t *p = c->in.data + off;
		size_t left = c->in.len - off;
		ssize_t n = proto_parse_frame(p, left, &f);
		if (n < 0) {
			bad_length(c, p);
			break;
		}
		if (n == 0) {
			if (left >= PROTO_HDR_LEN)
				reply_head_ok(c, p[4], le32(p + 5));
			break;
		}
		handle_reply(c, &f);
		off += (size_t)n;
	}
	buf_consume(&c->in, off);
}

void
conn_feed(struct conn *c, const uint8_t *p, size_t len)
{
	if (c->failed)
		return;
	buf_add(&c->in, p, len);
	parse_input(c);
}

/* One line of the secondary's stderr, logged at the level it was written
 * with ("georep secondary: warning: ..."); its last error is kept for the
 * message that says why the connection failed. */
static void
relay_line(struct conn *c, const char *line)
{
	static const char prog[] = "georep secondary: ";
	static const char *const levels[] = { "error: ", "warning: " };
	enum log_level lvl = LOG_LVL_INFO;

	if (strncmp(line, prog, sizeof(prog) - 1) == 0) {
		line += sizeof(prog) - 1;
	} else {
		/* Not georep's: ssh's, or the remote shell's ("command not
		 * found"): the reason when the link fails. */
		snprintf(c->peer_said, sizeof(c->peer_said), "%s", line);
		log_msg(LOG_LVL_WARN, "secondary: %s", line);
		return;
	}
	for (size_t i = 0; i < 2; i++)
		if (strncmp(line, levels[i], strlen(levels[i])) == 0) {
			lvl = i == 0 ? LOG_LVL_ERR : LOG_LVL_WARN;
			line += strlen(levels[i]);
		}
	if (lvl == LOG_LVL_ERR)
		snprintf(c->peer_said, sizeof(c->peer_said), "%s", line);
	log_msg(lvl, "secondary: %s", line);
}

/* Read what the secondary wrote on stderr and log its whole lines (all
 * that is left at EOF). */
static void
relay_stderr(struct conn *c)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(c->errfd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;	/* EAGAIN: the rest comes later */
		buf_add(&c->errbuf, chunk, (size_t)n);
		char *start = (char *)c->errbuf.data, *nl;
		size_t left = c->errbuf.len;
		while ((nl = memchr(start, '\n', left)) != NULL) {
			*nl = '\0';
			if (nl > start && nl[-1] == '\r')
				nl[-1] = '\0';	/* ssh ends its lines so */
			relay_line(c, start);
			left -= (size_t)(nl + 1 - start);
			start = nl + 1;
		}
		buf_consume(&c->errbuf, c->errbuf.len - left);
		if (c->errbuf.len > 8192) {	/* no line that long: cut it */
			buf_add(&c->errbuf, "", 1);
			relay_line(c, (char *)c->errbuf.data);
			buf_reset(&c->errbuf);
		}
	}
	if (c->errbuf.len) {
		buf_add(&c->errbuf, "", 1);
		relay_line(c, (char *)c->errbuf.data);
		buf_reset(&c->errbuf);
	}
	close(c->errfd);
	c->errfd = -1;
}

/* Whether the child ended within a second (its end of a pipe closed: it
 * is on its way out), reaped into *status. */
static bool
reap_soon(pid_t pid, int *status)
{
	int64_t deadline = mono_ns() + 1000000000LL;

	do {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	} while (mono_ns() < deadline);
	return false;
}

/* What the secondary's output ended in the middle of, if anything: a
 * frame it did not finish (a crash, or a cut link, is how that happens). */
static void
cut_frame_note(const struct conn *c, char *out, size_t len)
{
	out[0] = '\0';
	if (c->in.len >= 4)
		snprintf(out, len, " in the middle of a frame (%zu of %llu bytes)",
		    c->in.len, (unsigned long long)le32(c->in.data) + 4);
	else if (c->in.len > 0)
		snprintf(out, len, " in the middle of a frame's length (%zu of 4 "
		    "bytes)", c->in.len);
}

/* The secondary's output ended: say how it ended, with what it said last
 * (the reason is usually there). */
static void
peer_gone(struct conn *c)
{
	int status;
	char how[384] = "closed the connection";
	char cut[96];

	if (c->pid > 0 && reap_soon(c->pid, &status)) {
		c->pid = -1;
		c->exit_status = status;
		if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "was killed by signal %d",
			    WTERMSIG(status));
		else
			snprintf(how, sizeof(how), "exited with status %d",
			    WEXITSTATUS(status));
		if (c->host[0] && WIFEXITED(status)) {
			/* ssh's own failure, and a remote shell that found
			 * no georep: said as such, with what they said. */
			if (WEXITSTATUS(status) == 255)
				snprintf(how, sizeof(how), "could not be reached: "
				    "ssh to %s failed (exit 255)", c->host);
			else if (WEXITSTATUS(status) == 127)
				snprintf(how, sizeof(how), "could not be started: "
				    "no georep on %s, or not in its PATH (exit "
				    "127)", c->host);
		}
		if (c->errfd >= 0) {
			/* It exited: what it said is all in the pipe. */
			int fl = fcntl(c->errfd, F_GETFL);
			if (fl >= 0)
				fcntl(c->errfd, F_SETFL, fl & ~O_NONBLOCK);
			relay_stderr(c);
		}
	}
	cut_frame_note(c, cut, sizeof(cut));
	conn_fail(c, "the secondary (%s) %s%s%s%s", c->peer, how, cut,
	    c->peer_said[0] ? ": " : "", c->peer_said);
}

#define ZMISS_MAX	8	/* blocks of about 1 MiB (PROTO_BLOCK_TARGET) */
#define ZSAMPLE		(16u << 10)

/* Whether a sample of a block (ZSAMPLE bytes from its middle, at level 1)
 * shrinks by a sixteenth: about 1.5% of a block's cost to try it whole,
 * which on random data is a level-1 pass for nothing (a second of CPU for
 * 400 MiB here). */
static bool
sample_shrinks(struct conn *c, const uint8_t *p, size_t span)
{
	uint8_t out[ZSTD_COMPRESSBOUND(ZSAMPLE)];
	size_t n = span < ZSAMPLE ? span : ZSAMPLE;
	size_t z = ZSTD_compressCCtx(c->zctx, out, sizeof(out),
	    p + (span - n) / 2, n, 1);

	return !ZSTD_isError(z) && z < n - n / 16;
}

/* The next chunk to write, when none is in flight: the next span of
 * whole frames, as a compressed block if that shrinks it, else as is. */
static void
next_chunk(struct conn *c)
{
	const uint8_t *p = c->out.data + c->out_off;
	size_t span = proto_block_span(p, c->out.len - c->out_off,
	    PROTO_BLOCK_TARGET);

	c->zplain = span;
	if (span == 0)
		return;		/* a frame not finished yet */
	buf_reset(&c->zout);
	c->zout_off = 0;
	if (c->zsampling && !sample_shrinks(c, p, span)) {
		c->blocks_plain++;
		return;
	}
	if (proto_pack_block(c->zctx, c->zlevel, p, span, &c->zout)) {
		c->blocks++;
		c->zmisses = 0;
		c->zsampling = false;
		return;
	}
	c->blocks_plain++;
	if (++c->zmisses >= ZMISS_MAX)
		c->zsampling = true;
}

/* Where the bytes to write next are, and how many. */
static size_t
chunk_to_write(struct conn *c, const uint8_t **p)
{
	if (!c->zactive) {
		*p = c->out.data + c->out_off;
		return c->out.len - c->out_off;
	}
	if (c->zplain == 0)
		next_chunk(c);
	if (c->zout.len > 0) {
		*p = c->zout.data + c->zout_off;
		return c->zout.len - c->zout_off;
	}
	*p = c->out.data + c->out_off;
	return c->zplain;
}

/* w bytes of the chunk written: the plain stream moves on by what they
 * stand for (a block: all of it, once its last byte is out). */
static void
chunk_written(struct conn *c, size_t w)
{
	size_t plain = w;

	c->wire_out += w;
	if (c->bw_rate)
		c->bw_tokens -= (int64_t)w;
	if (c->zactive && c->zout.len > 0) {
		c->zout_off += w;
		if (c->zout_off < c->zout.len)
			return;
		plain = c->zplain;
		buf_reset(&c->zout);
		c->zout_off = 0;
	}
	if (c->zactive)
		c->zplain -= plain;
	c->out_off += plain;
	c->bytes_out += plain;
}

/* What the bucket lets through now (the whole chunk without a limit). */
static size_t
write_allowance(const struct conn *c, size_t n)
{
	if (c->bw_rate == 0 || (int64_t)n <= c->bw_tokens)
		return n;
	return c->bw_tokens > 0 ? (size_t)c->bw_tokens : 0;
}

static void
do_write(struct conn *c)
{
	const uint8_t *p;
	size_t n;

	while (c->out_off < c->out.len && (n = write_allowance(c,
	    chunk_to_write(c, &p))) > 0) {
		ssize_t w = write(c->wfd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == EPIPE) {
				peer_gone(c);	/* it went away: how, and why */
				return;
			}
			conn_fail(c, "writing to the secondary (%s): %s",
			    c->peer, strerror(errno));
			return;
		}
		chunk_written(c, (size_t)w);
	}
	if (c->out_off == c->out.len) {
		c->out.len = 0;
		c->out_off = 0;
	} else if (c->out_off > (1u << 20)) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
}

static void
do_read(struct conn *c)
{
	for (;;) {
		buf_reserve(&c->in, CONN_READ_CHUNK);
		ssize_t r = read(c->rfd, c->in.data + c->in.len, CONN_READ_CHUNK);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(c, "reading from the secondary (%s): %s",
				    c->peer, strerror(errno));
			return;
		}
		if (r == 0) {
			peer_gone(c);
			return;
		}
		c->in.len += (size_t)r;
		parse_input(c);
		if ((size_t)r < CONN_READ_CHUNK)
			return;
	}
}

/* The bucket's size: a tenth of a second's worth, at least 1 KiB. */
static int64_t
bw_burst(const struct conn *c)
{
	int64_t b = (int64_t)(c->bw_rate / 10);

	return b < 1024 ? 1024 : b;
}

/*
 * With a bandwidth limit: refill the bucket, and say whether the pump may
 * write now; if not, *wait_ms is how long until it holds what would be
 * written next (or a whole bucket's worth, for a larger chunk).
 */
static bool
bw_may_write(struct conn *c, int *wait_ms)
{
	int64_t now = mono_ns(), burst = bw_burst(c);
	int64_t pending = (int64_t)(c->out.len - c->out_off);
	int64_t need = pending < burst ? pending : burst;

	/* Whole bytes earned; the time of a fraction of one stays in
	 * bw_last.  After a long pause the bucket is simply full. */
	int64_t dt = now - c->bw_last;
	if (c->bw_last == 0 || dt >= 1000000000) {
		c->bw_tokens = burst;
		c->bw_last = now;
	} else {
		int64_t earned = (int64_t)((double)dt * (double)c->bw_rate / 1e9);
		c->bw_tokens += earned;
		c->bw_last += (int64_t)((double)earned * 1e9 /
		    (double)c->bw_rate);
		if (c->bw_tokens >= burst) {
			c->bw_tokens = burst;
			c->bw_last = now;
		}
	}
	if (c->bw_tokens >= need)
		return true;
	int64_t ms = (need - c->bw_tokens) * 1000 / (int64_t)c->bw_rate + 1;
	*wait_ms = ms > INT32_MAX ? INT32_MAX : (int)ms;
	return false;
}

int
conn_pump(struct conn *c, bool block)
{
	struct pollfd pfd[3];
	int n, wait_ms = -1;
	bool want_write = c->out_off < c->out.len;

	if (c->failed)
		return -1;
	if (want_write && c->bw_rate && !bw_may_write(c, &wait_ms))
		want_write = false;
	/* Waiting for the bucket is waiting for ourselves, not for the
	 * secondary: a poll that ends then says nothing about it (the next
	 * pump, with the bucket full enough, waits on the secondary). */
	bool throttled = wait_ms >= 0;
	int timeout = !block ? 0 : !throttled ? c->timeout_ms :
	    wait_ms < c->timeout_ms ? wait_ms : c->timeout_ms;
	pfd[0].fd = c->rfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = want_write ? c->wfd : -1;
	pfd[1].events = POLLOUT;
	pfd[2].fd = c->errfd;
	pfd[2].events = POLLIN;
	int64_t t0 = throttled ? mono_ns() : 0;
	do {
		n = poll(pfd, 3, timeout);
	} while (n < 0 && errno == EINTR);
	if (throttled && block) {
		c->bw_waits++;
		c->bw_waited_ns += mono_ns() - t0;
	}
	if (n < 0) {
		conn_fail(c, "poll: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		if (block && !throttled)
			conn_fail(c, "the secondary (%s) did not answer for %d s",
			    c->peer, c->timeout_ms / 1000);
		return c->failed ? -1 : 0;
	}
	if (pfd[2].revents & (POLLIN | POLLERR | POLLHUP))
		relay_stderr(c);
	if (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP))
		do_write(c);
	if (pfd[0].revents & (POLLIN | POLLERR | POLLHUP))
		do_read(c);
	return c->failed ? -1 : 0;
}

int
conn_flush(struct conn *c)
{
	while (!c->failed && c->out_off < c->out.len)
		conn_pump(c, true);
	return c->failed ? -1 : 0;
}

static void
ping_reply(void *arg, const struct pending_req *req, const struct reply *rep)
{
	(void)arg;
	(void)req;
	(void)rep;
}

int
conn_ping(struct conn *c)
{
	if (c->failed)
		return -1;
	/* Only when idle: a request out (the last PING, or a turn's, whose
	 * handler is not ours) is answered first. */
	if (c->pend_count > 0)
		return 0;
	c->on_reply = ping_reply;
	c->ping_sent = mono_ns();
	size_t s = conn_begin(c, MSG_PING, 0, true);
	if (conn_end(c, s) < 0)
		return -1;
	return conn_pump(c, false);
}

bool
conn_ping_overdue(struct conn *c)
{
	if (c->pend_count == 0)
		c->ping_sent = 0;	/* answered */
	if (c->failed || c->ping_sent == 0 ||
	    mono_ns() - c->ping_sent < (int64_t)c->timeout_ms * 1000000)
		return c->failed;
	conn_fail(c, "the secondary (%s) did not answer a keep-alive for %d s",
	    c->peer, c->timeout_ms / 1000);
	return true;
}

void
conn_set_wire(struct conn *c, int compress, uint64_t bwlimit)
{
	c->zlevel = compress;
	c->bw_rate = bwlimit;
	c->bw_tokens = 0;
	c->bw_last = 0;
}

int
conn_compress_level(const struct conn *c)
{
	if (c->zlevel == COMPRESS_AUTO)
		return c->host[0] ? COMPRESS_DEFAULT : 0;
	return c->zlevel;
}

bool
conn_describe_wire(const struct conn *c, char *out, size_t len)
{
	char *rate = format_rate(c->bw_rate);
	int level = conn_compress_level(c);

	out[0] = '\0';
	if (level > 0)
		snprintf(out, len, "zstd level %d%s", level, c->bw_rate ? ", " :
		    "");
	if (c->bw_rate) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, "at most %s/s (bwlimit)", rate);
	}
	free(rate);
	return out[0] != '\0';
}

int
conn_compress_start(struct conn *c)
{
	c->zlevel = conn_compress_level(c);
	if (c->zlevel == 0 || c->zactive)
		return 0;
	c->zctx = ZSTD_createCCtx();
	if (c->zctx == NULL) {
		conn_fail(c, "cannot set up zstd compression: out of memory");
		return -1;
	}
	/* Whatever is queued already goes as it is (the HELLO was). */
	c->zplain = c->out.len - c->out_off;
	c->zactive = true;
	return 0;
}

void
conn_idle_fds(const struct conn *c, int *rfd, int *errfd)
{
	*rfd = c->failed ? -1 : c->rfd;
	*errfd = c->errfd;
}

int
conn_wait_all(struct conn *c)
{
	while (!c->failed && (c->pend_count > 0 || c->out_off < c->out.len))
		conn_pump(c, true);
	return c->failed ? -1 : 0;
}

/* A secondary on a failed connection: SIGTERM, and SIGKILL if it has not
 * ended within a second (a stopped or hung one never would). */
static void
end_child(pid_t pid)
{
	int64_t deadline = mono_ns() + 1000000000LL;

	kill(pid, SIGTERM);
	while (mono_ns() < deadline) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG |
		    WNOWAIT) == 0 && si.si_pid == pid)
			return;
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
}

int
conn_close(struct conn *c)
{
	int status = -1;

	if (c->pid < 0)
		return c->exit_status;	/* reaped already, or never spawned */
	if (!c->failed) {
		size_t s = conn_begin(c, MSG_BYE, 0, true);
		conn_end(c, s);
		conn_wait_all(c);
	}
	if (c->wfd >= 0) {
		close(c->wfd);
		c->wfd = -1;
	}
	if (c->fdchan >= 0) {
		close(c->fdchan);
		c->fdchan = -1;
	}
	if (c->failed)
		end_child(c->pid);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
	if (c->errfd >= 0) {
		/* It exited: what it said last is all there now. */
		int fl = fcntl(c->errfd, F_GETFL);
		if (fl >= 0)
			fcntl(c->errfd, F_SETFL, fl & ~O_NONBLOCK);
		relay_stderr(c);
	}
	return status;
}

void
conn_release(struct conn *c)
{
	if (c->pid > 0)
		conn_close(c);
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->wfd >= 0)
		close(c->wfd);
	if (c->errfd >= 0)
		close(c->errfd);
	if (c->fdchan >= 0)
		close(c->fdchan);
	c->rfd = c->wfd = c->errfd = c->fdchan = -1;
	free(c->local_dir);
	c->local_dir = NULL;
	buf_release(&c->errbuf);
	buf_release(&c->out);
	buf_release(&c->in);
	buf_release(&c->zout);
	ZSTD_freeCCtx(c->zctx);
	c->zctx = NULL;
	free(c->pend);
	c->pend = NULL;
}
