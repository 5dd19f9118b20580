#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "banned.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("out of memory reallocating %zu bytes", n);
	return q;
}

bool
grow_size(size_t cap, size_t need, size_t elem, size_t *out)
{
	if (elem == 0)
		return false;
	size_t max = SIZE_MAX / elem;	/* elements size_t can measure */
	if (need <= cap) {
		*out = cap;
		return true;
	}
	if (need > max)
		return false;
	size_t n = cap <= max / 2 ? 2 * cap : need;
	size_t first = GROW_FIRST_BYTES / elem;
	if (n < first)
		n = first;
	if (n < need)
		n = need;
	*out = n;
	return true;
}

void *
xgrow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t n;

	if (need <= *cap)
		return p;
	if (!grow_size(*cap, need, elem, &n))
		fatal("array size overflow: %zu elements of %zu bytes", need,
		    elem);
	p = xrealloc(p, n * elem);
	*cap = n;
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		fatal("out of memory formatting a string");
	va_end(ap);
	return p;
}

void
buf_reserve(struct buf *b, size_t extra)
{
	size_t want = b->len + extra;

	if (want < b->len)
		fatal("buffer size overflow");
	b->data = xgrow(b->data, &b->cap, want, 1);
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("buf_addf: a bad format");
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
		return;
	}
	buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

ssize_t
read_full(int fd, void *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (char *)p + done, n - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int
write_full(int fd, const void *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, (const char *)p + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

ssize_t
pread_full(int fd, void *p, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)p + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int
pwrite_full(int fd, const void *p, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = pwrite(fd, (const char *)p + done, n - done,
		    off + (off_t)done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

int
fd_send(int sock, int fd)
{
	char byte = 'F';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.space, .msg_controllen = sizeof(ctl.space),
	};

	memset(&ctl, 0, sizeof(ctl));
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof(int));
	for (;;) {
		ssize_t n = sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == 1)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			errno = EIO;
		return -1;
	}
}

int
copy_by_reads(int in, int out, uint64_t off, uint64_t n)
{
	size_t cap = 1u << 20;
	uint8_t *b = xmalloc(cap);
	int rc = 0;

	while (off < n && rc == 0) {
		size_t want = n - off < cap ? (size_t)(n - off) : cap;
		ssize_t got = pread_full(in, b, want, (off_t)off);
		if (got < 0)
			rc = -1;
		else if ((size_t)got < want)
			rc = -2;
		else
			rc = pwrite_full(out, b, want, (off_t)off);
		off += want;
	}
	free(b);
	return rc;
}

int
copy_range(int in, int out, uint64_t n)
{
	loff_t off_in = 0, off_out = 0;

	while ((uint64_t)off_in < n) {
		size_t want = n - (uint64_t)off_in > (1u << 30) ? (1u << 30) :
		    (size_t)(n - (uint64_t)off_in);
		ssize_t got = copy_file_range(in, &off_in, out, &off_out, want,
		    0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EXDEV || errno == EINVAL ||
		    errno == EOPNOTSUPP || errno == ENOSYS))
			return copy_by_reads(in, out, (uint64_t)off_in, n);
		if (got < 0)
			return -1;
		if (got == 0)
			return -2;
	}
	return 0;
}

int
fd_recv(int sock)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.space, .msg_controllen = sizeof(ctl.space),
	};
	ssize_t n;

	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0) {
		errno = ECONNRESET;
		return -1;
	}
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	int fd = -1;
	if (h != NULL && h->cmsg_level == SOL_SOCKET &&
	    h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
	if (fd < 0 || (m.msg_flags & MSG_CTRUNC)) {
		if (fd >= 0)
			close(fd);
		errno = EPROTO;
		return -1;
	}
	return fd;
}

int
durable_write_at(int dirfd, const char *name, const void *data, size_t len,
    mode_t mode)
{
	char tmp[512];
	const char *step;
	int fd, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.tmp.%d", name,
	    (int)getpid()) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		log_sys(LOG_LVL_ERR, "durable write of %s", name);
		return -1;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno != EEXIST) {
			log_sys(LOG_LVL_ERR, "create %s", tmp);
			return -1;
		}
		/* A leftover of a crashed writer with our pid: replace it. */
		unlinkat(dirfd, tmp, 0);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    mode);
		if (fd < 0) {
			log_sys(LOG_LVL_ERR, "create %s", tmp);
			return -1;
		}
	}
	step = "write";
	if (write_full(fd, data, len) < 0)
		goto fail;
	step = "fdatasync";
	if (fdatasync(fd) < 0)
		goto fail;
	step = "close";
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	step = "rename";
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		goto fail;
	step = "fsync of the directory";
	if (fsync(dirfd) < 0)
		goto fail_renamed;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	errno = saved;
fail_renamed:
	log_sys(LOG_LVL_ERR, "durable write of %s: %s", name, step);
	return -1;
}

int
read_small_file_at(int dirfd, const char *name, struct buf *b, size_t max)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t chunk[4096];

	if (fd < 0)
		return -1;
	buf_reset(b);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		if (b->len + (size_t)r > max) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
		buf_add(b, chunk, (size_t)r);
	}
	close(fd);
	return 0;
}

int
mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			log_sys(LOG_LVL_ERR, "mkdir %s", p);
			free(p);
			return -1;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return 0;
}

int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
clockwatch_back(struct clockwatch *cw)
{
	int64_t real = now_ns(), mono = mono_ns();
	int64_t was = cw->real - cw->mono, is = real - mono;
	bool first = cw->mono == 0;
	int64_t since = mono - cw->mono;

	cw->real = real;
	cw->mono = mono;
	if (first || was - is <= 50 * 1000000LL)
		return 0;
	/* The step came after the last call: what was the time then, on
	 * the new scale, is the earliest a later change can carry. */
	return real - since;
}

void
format_rfc3339(int64_t ns, char *out, size_t outlen)
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	char base[24];

	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%03dZ", base, (int)((ns / 1000000) % 1000));
}

void
format_size(uint64_t n, char *out, size_t outlen)
{
	const char *units = "BKMGTP";
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outlen, "%lluB", (unsigned long long)n);
	else
		snprintf(out, outlen, "%.1f%c", v, units[u]);
}

char *
format_rate(uint64_t r)
{
	static const char suffix[] = "GMK";

	if (r == 0)
		return xstrdup("0");
	for (int i = 0; i < 3; i++) {
		uint64_t unit = 1ull << (10 * (3 - i));
		if (r % unit == 0)
			return xasprintf("%llu%c", (unsigned long long)(r / unit),
			    suffix[i]);
	}
	return xasprintf("%lluB", (unsigned long long)r);
}

void
hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The length of the valid UTF-8 sequence at s (a lead byte >= 0x80), or 0. */
static size_t
utf8_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* No overlong forms, surrogates or code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

char *
quote_name(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	char esc[8];

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t u = c >= 0x80 ? utf8_len(s + i, n - i) : 0;
		if (u > 0) {
			buf_add(&b, s + i, u);	/* valid UTF-8 as it is */
			i += u - 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			buf_addstr(&b, esc);
		} else {
			buf_add(&b, &c, 1);
		}
	}
	buf_add(&b, "", 1);
	return (char *)b.data;
}

const char *
self_exe(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	if (n < 0 || (size_t)n >= sizeof(path) - 1)
		fatal("cannot find this program's path (/proc/self/exe): %s",
		    strerror(errno));
	path[n] = '\0';
	/* Replaced since it started (an upgrade, a rebuild under a running
	 * daemon): run this same program, which the kernel still has, so
	 * both ends speak the same wire; the next start runs the new. */
	static const char deleted[] = " (deleted)";
	if ((size_t)n > sizeof(deleted) - 1 && strcmp(path + n -
	    (sizeof(deleted) - 1), deleted) == 0 && access(path, X_OK) < 0)
		return "/proc/self/exe";
	return path;
}
