/*
 * scrape: the monitor's metrics endpoint (the metrics_listen key), a
 * minimal HTTP/1.0 server for Prometheus to scrape: GET /metrics answers
 * with the session's figures (status/metrics.h), / with a line that
 * points there, anything else 404 or 405.
 *
 * It lives in the monitor's poll loop and never blocks it: sockets are
 * non-blocking, at most SCRAPE_CLIENTS are served at once (the others
 * wait in the listen backlog), a request is at most SCRAPE_REQUEST_MAX
 * bytes, and a client that has not been answered and gone within
 * SCRAPE_DEADLINE_MS is dropped.  One request per connection.
 *
 * There is no authentication: the figures name the session's paths.  The
 * address is loopback unless the administrator writes another one
 * (config.h, parse_listen).
 */
#ifndef GEOREP_SCRAPE_H
#define GEOREP_SCRAPE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#define SCRAPE_CLIENTS		8
#define SCRAPE_REQUEST_MAX	4096
#define SCRAPE_DEADLINE_MS	5000

struct scrape;

/* Listen on a metrics_listen address: NULL with the reason in err (the
 * address, and why: taken, not permitted...). */
struct scrape *scrape_open(const char *listen, char *err, size_t errlen);
void scrape_close(struct scrape *s);

/* The descriptors to poll: the listener first (fd -1 while it is full
 * or paused), then each client there is, for reading or for writing.
 * How many were filled, at most room (SCRAPE_CLIENTS + 1 always fits). */
size_t scrape_pollfds(const struct scrape *s, struct pollfd *p, size_t room);
/* The poll timeout the clients' deadlines need (-1: none). */
int scrape_timeout_ms(const struct scrape *s);
/* After poll, with the same p and n: accept, read, answer, drop.  body
 * gives the metrics text (malloc'ed) when a GET /metrics is complete. */
void scrape_handle(struct scrape *s, const struct pollfd *p, size_t n,
    char *(*body)(void *arg), void *arg);

/* What a request asks, read from what has come of it (only its first
 * line counts; the headers are read and ignored).  Pure: tested on its
 * own. */
enum scrape_answer {
	SCRAPE_MORE,		/* not complete yet (no blank line) */
	SCRAPE_METRICS,		/* GET or HEAD /metrics (a query ignored) */
	SCRAPE_INDEX,		/* GET or HEAD / */
	SCRAPE_NOT_FOUND,	/* another path */
	SCRAPE_BAD_METHOD,	/* not GET or HEAD */
	SCRAPE_BAD_REQUEST,	/* not an HTTP/1.x request line */
};
/* *head: the method was HEAD (the answer has no body). */
enum scrape_answer scrape_parse_request(const char *req, size_t len,
    bool *head);

#endif
