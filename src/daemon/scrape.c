#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../status/metrics.h"
#include "scrape.h"
#include "../common/banned.h"

struct client {
	int fd;			/* -1: a free slot */
	int64_t deadline;	/* mono ns */
	char req[SCRAPE_REQUEST_MAX];
	size_t reqlen;
	struct buf out;		/* the answer, once the request is read */
	size_t sent;
	bool answering;
};

struct scrape {
	int listenfd;
	/* mono ns: the listener is not polled until then (out of
	 * descriptors: a readable listener would spin the loop) */
	int64_t pause_until;
	struct client c[SCRAPE_CLIENTS];
};

struct scrape *
scrape_open(const char *listen_addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned len;
	int one = 1;

	if (parse_listen(listen_addr, &ss, &len) != 0) {
		snprintf(err, errlen, "metrics_listen %s: not an address to "
		    "listen on", listen_addr);
		return NULL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 16) < 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", listen_addr,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct scrape *s = xcalloc(1, sizeof(*s));
	s->listenfd = fd;
	for (size_t i = 0; i < SCRAPE_CLIENTS; i++)
		s->c[i].fd = -1;
	return s;
}

static void
drop(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_release(&c->out);
	c->reqlen = c->sent = 0;
	c->answering = false;
}

void
scrape_close(struct scrape *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < SCRAPE_CLIENTS; i++)
		drop(&s->c[i]);
	close(s->listenfd);
	free(s);
}

static size_t
nclients(const struct scrape *s)
{
	size_t n = 0;

	for (size_t i = 0; i < SCRAPE_CLIENTS; i++)
		n += s->c[i].fd >= 0;
	return n;
}

size_t
scrape_pollfds(const struct scrape *s, struct pollfd *p, size_t room)
{
	size_t n = 0;

	bool listen_now = nclients(s) < SCRAPE_CLIENTS &&
	    mono_ns() >= s->pause_until;

	if (n < room)
		p[n++] = (struct pollfd){ .fd = listen_now ? s->listenfd : -1,
		    .events = POLLIN };
	/* Only the clients there are: poll refuses more entries than the
	 * descriptor limit (EINVAL), which out of descriptors is near. */
	for (size_t i = 0; i < SCRAPE_CLIENTS && n < room; i++)
		if (s->c[i].fd >= 0)
			p[n++] = (struct pollfd){ .fd = s->c[i].fd, .events =
			    s->c[i].answering ? POLLOUT : POLLIN };
	return n;
}

int
scrape_timeout_ms(const struct scrape *s)
{
	int64_t now = mono_ns(), ms = -1;

	if (s->pause_until > now)
		ms = (s->pause_until - now) / 1000000 + 1;
	for (size_t i = 0; i < SCRAPE_CLIENTS; i++) {
		if (s->c[i].fd < 0)
			continue;
		int64_t due = (s->c[i].deadline - now) / 1000000 + 1;
		if (ms < 0 || due < ms)
			ms = due < 0 ? 0 : due;
	}
	return (int)ms;
}

enum scrape_answer
scrape_parse_request(const char *req, size_t len, bool *head)
{
	const char *end = NULL, *eol;
	size_t mlen, plen;

	*head = false;
	for (size_t i = 0; i + 1 < len && !end; i++)
		if (req[i] == '\n' && (req[i + 1] == '\n' ||
		    (req[i + 1] == '\r' && i + 2 < len && req[i + 2] == '\n')))
			end = req + i;
	if (end == NULL)
		return SCRAPE_MORE;
	eol = memchr(req, '\n', len);	/* found: end is one */
	size_t line = (size_t)(eol - req);
	if (line && req[line - 1] == '\r')
		line--;
	const char *sp1 = memchr(req, ' ', line);
	if (sp1 == NULL)
		return SCRAPE_BAD_REQUEST;
	mlen = (size_t)(sp1 - req);
	const char *path = sp1 + 1;
	const char *sp2 = memchr(path, ' ', line - mlen - 1);
	if (sp2 == NULL)
		return SCRAPE_BAD_REQUEST;
	plen = (size_t)(sp2 - path);
	size_t vlen = line - mlen - 1 - plen - 1;
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1') || plen == 0 || path[0] != '/')
		return SCRAPE_BAD_REQUEST;
	if (mlen == 4 && memcmp(req, "HEAD", 4) == 0)
		*head = true;
	else if (!(mlen == 3 && memcmp(req, "GET", 3) == 0))
		return SCRAPE_BAD_METHOD;
	const char *q = memchr(path, '?', plen);
	if (q)
		plen = (size_t)(q - path);
	if (plen == 8 && memcmp(path, "/metrics", 8) == 0)
		return SCRAPE_METRICS;
	if (plen == 1)
		return SCRAPE_INDEX;
	return SCRAPE_NOT_FOUND;
}

static void
compose(struct client *c, const char *status, const char *type,
    const char *body, bool head)
{
	size_t n = strlen(body);

	buf_addf(&c->out, "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
	    type, n, strcmp(status, "405 Method Not Allowed") == 0 ?
	    "Allow: GET, HEAD\r\n" : "");
	if (!head)
		buf_add(&c->out, body, n);
	c->answering = true;
}

static void
answer(struct client *c, enum scrape_answer a, bool head,
    char *(*body)(void *), void *arg)
{
	static const char *text = "text/plain; charset=utf-8";

	switch (a) {
	case SCRAPE_METRICS: {
		char *m = body(arg);
		compose(c, "200 OK", METRICS_CONTENT_TYPE, m, head);
		free(m);
		break;
	}
	case SCRAPE_INDEX:
		compose(c, "200 OK", text, "georep: the metrics are at "
		    "/metrics\n", head);
		break;
	case SCRAPE_NOT_FOUND:
		compose(c, "404 Not Found", text, "not found: the metrics are "
		    "at /metrics\n", head);
		break;
	case SCRAPE_BAD_METHOD:
		compose(c, "405 Method Not Allowed", text, "only GET and "
		    "HEAD\n", false);
		break;
	default:
		compose(c, "400 Bad Request", text, "not an HTTP/1.x request\n",
		    false);
		break;
	}
}

static void
take_client(struct scrape *s)
{
	int fd = accept4(s->listenfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_sys(LOG_LVL_WARN, "metrics: accept (paused for a "
			    "second)");
			s->pause_until = mono_ns() + 1000000000LL;
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED) {
			log_sys(LOG_LVL_DEBUG, "metrics: accept");
		}
		return;
	}
	for (size_t i = 0; i < SCRAPE_CLIENTS; i++) {
		if (s->c[i].fd < 0) {
			s->c[i].fd = fd;
			s->c[i].deadline = mono_ns() + SCRAPE_DEADLINE_MS *
			    1000000LL;
			return;
		}
	}
	close(fd);	/* not polled when full: not reached */
}

static void
write_answer(struct client *c)
{
	ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
	    MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		drop(c);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == c->out.len)
		drop(c);
}

static void
read_request(struct client *c, char *(*body)(void *), void *arg)
{
	ssize_t n = read(c->fd, c->req + c->reqlen, sizeof(c->req) -
	    c->reqlen);
	bool head;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->reqlen += (size_t)n;
	enum scrape_answer a = scrape_parse_request(c->req, c->reqlen, &head);
	if (a == SCRAPE_MORE && c->reqlen == sizeof(c->req))
		a = SCRAPE_BAD_REQUEST;
	if (a != SCRAPE_MORE) {
		answer(c, a, head, body, arg);
		write_answer(c);	/* most answers go at once */
	}
}

/* The client polled as fd (NULL: gone since). */
static struct client *
client_of(struct scrape *s, int fd)
{
	for (size_t i = 0; fd >= 0 && i < SCRAPE_CLIENTS; i++)
		if (s->c[i].fd == fd)
			return &s->c[i];
	return NULL;
}

void
scrape_handle(struct scrape *s, const struct pollfd *p, size_t n,
    char *(*body)(void *), void *arg)
{
	int64_t now = mono_ns();

	for (size_t i = 1; i < n; i++) {
		struct client *c = client_of(s, p[i].fd);
		if (c == NULL)
			continue;
		if (p[i].revents & (POLLERR | POLLNVAL))
			drop(c);
		else if (c->answering && (p[i].revents & (POLLOUT | POLLHUP)))
			write_answer(c);
		else if (!c->answering && (p[i].revents & (POLLIN | POLLHUP)))
			read_request(c, body, arg);
	}
	for (size_t i = 0; i < SCRAPE_CLIENTS; i++)
		if (s->c[i].fd >= 0 && now > s->c[i].deadline)
			drop(&s->c[i]);
	if (n > 0 && p[0].fd >= 0 && (p[0].revents & POLLIN))
		take_client(s);
}
