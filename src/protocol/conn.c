#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/log.h"
#include "conn.h"
#include "../common/banned.h"

#define CONN_HIGH_WATER	(4u << 20)
#define CONN_READ_CHUNK	(256u << 10)

void
conn_init(struct conn *c, const char *peer, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->rfd = c->wfd = -1;
	c->pid = -1;
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

int
conn_spawn_local(struct conn *c, const char *self_exe, const char *dir)
{
	int to_child[2], from_child[2], errpipe[2];
	char *argv[] = { (char *)"georep", (char *)"secondary", (char *)dir,
	    NULL };
	int child_errno;
	ssize_t n;

	if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0 ||
	    pipe2(errpipe, O_CLOEXEC) < 0) {
		conn_fail(c, "pipe: %s", strerror(errno));
		return -1;
	}
	c->pid = fork();
	if (c->pid < 0) {
		conn_fail(c, "fork: %s", strerror(errno));
		return -1;
	}
	if (c->pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		if (dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0)
			goto child_fail;
		execv(self_exe, argv);
child_fail:
		child_errno = errno;
		n = write(errpipe[1], &child_errno, sizeof(child_errno));
		(void)n;
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	close(errpipe[1]);
	n = read_full(errpipe[0], &child_errno, sizeof(child_errno));
	close(errpipe[0]);
	if (n == sizeof(child_errno)) {
		conn_fail(c, "cannot run %s secondary: %s", self_exe,
		    strerror(child_errno));
		close(to_child[1]);
		close(from_child[0]);
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
	    fcntl(c->rfd, F_SETFL, O_NONBLOCK) < 0) {
		conn_fail(c, "fcntl: %s", strerror(errno));
		return -1;
	}
	return 0;
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
	c->pend_count++;
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
	while (!c->failed && c->out.len - c->out_off > CONN_HIGH_WATER)
		conn_pump(c, true);
	return c->failed ? -1 : 0;
}

static void
handle_reply(struct conn *c, const struct frame *f)
{
	struct reply rep;
	struct rd r;

	if (f->type != MSG_REPLY) {
		conn_fail(c, "protocol error: the secondary sent a %s frame",
		    msg_name(f->type));
		return;
	}
	if (c->pend_count == 0) {
		conn_fail(c, "protocol error: a reply (id %u) nobody asked for",
		    f->id);
		return;
	}
	struct pending_req req = c->pend[c->pend_head];
	if (req.id != f->id) {
		conn_fail(c, "protocol error: reply for id %u, expected %u",
		    f->id, req.id);
		return;
	}
	rd_init(&r, f->payload, f->len);
	rep.err = (int)get_u32(&r);
	rep.value = get_u64(&r);
	rep.msg = (const char *)get_bytes(&r, &rep.msg_len, PROTO_FRAME_MAX);
	if (!rd_end(&r) || rep.err < 0 || rep.err > 4095 ||
	    (rep.err != 0 && rep.msg_len > 4096)) {
		conn_fail(c, "protocol error: malformed reply to %s",
		    msg_name(req.type));
		return;
	}
	c->pend_head = (c->pend_head + 1) % c->pend_cap;
	c->pend_count--;
	if (c->on_reply)
		c->on_reply(c->arg, &req, &rep);
}

static void
parse_input(struct conn *c)
{
	size_t off = 0;
	struct frame f;

	while (!c->failed) {
		ssize_t n = proto_parse_frame(c->in.data + off, c->in.len - off,
		    &f);
		if (n < 0) {
			conn_fail(c, "protocol error: bad frame header from the "
			    "secondary");
			break;
		}
		if (n == 0)
			break;
		handle_reply(c, &f);
		off += (size_t)n;
	}
	buf_consume(&c->in, off);
}

static void
do_write(struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t w = write(c->wfd, c->out.data + c->out_off,
		    c->out.len - c->out_off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_fail(c, "writing to the secondary (%s): %s",
			    c->peer, strerror(errno));
			return;
		}
		c->out_off += (size_t)w;
		c->bytes_out += (uint64_t)w;
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
			conn_fail(c, "the secondary (%s) closed the connection",
			    c->peer);
			return;
		}
		c->in.len += (size_t)r;
		parse_input(c);
		if ((size_t)r < CONN_READ_CHUNK)
			return;
	}
}

int
conn_pump(struct conn *c, bool block)
{
	struct pollfd pfd[2];
	int n;

	if (c->failed)
		return -1;
	pfd[0].fd = c->rfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = c->out_off < c->out.len ? c->wfd : -1;
	pfd[1].events = POLLOUT;
	do {
		n = poll(pfd, 2, block ? c->timeout_ms : 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		conn_fail(c, "poll: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		if (block)
			conn_fail(c, "the secondary (%s) did not answer for %d s",
			    c->peer, c->timeout_ms / 1000);
		return c->failed ? -1 : 0;
	}
	if (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP))
		do_write(c);
	if (pfd[0].revents & (POLLIN | POLLERR | POLLHUP))
		do_read(c);
	return c->failed ? -1 : 0;
}

int
conn_wait_all(struct conn *c)
{
	while (!c->failed && (c->pend_count > 0 || c->out_off < c->out.len))
		conn_pump(c, true);
	return c->failed ? -1 : 0;
}

int
conn_close(struct conn *c)
{
	int status = -1;

	if (c->pid < 0)
		return -1;
	if (!c->failed) {
		size_t s = conn_begin(c, MSG_BYE, 0, true);
		conn_end(c, s);
		conn_wait_all(c);
	}
	if (c->wfd >= 0) {
		close(c->wfd);
		c->wfd = -1;
	}
	if (c->failed)
		kill(c->pid, SIGTERM);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
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
	c->rfd = c->wfd = -1;
	buf_release(&c->out);
	buf_release(&c->in);
	free(c->pend);
	c->pend = NULL;
}
