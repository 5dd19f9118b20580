/*
 * lagprobe: measures replication lag, the time from a write on the primary
 * to identical content on the secondary, for any replicator (georep, lsyncd).
 * bench/lag.sh builds and drives it; see there for the method.
 *
 *   lagprobe init DIR                          the base tree: DIR/d00..d15, each
 *                                              with f000..f099 (1-4 KiB)
 *   lagprobe [OPTS] single PRIMARY SECONDARY COUNT
 *                      one write at a time on a quiet primary: write, wait until
 *                      it is on the secondary, pause 50 ms, next
 *   lagprobe [OPTS] rate PRIMARY SECONDARY OPS_PER_SEC COUNT
 *                      COUNT writes paced at OPS_PER_SEC, half new files, half
 *                      overwrites of existing ones, spread over d00..d15
 *   lagprobe [OPTS] burst PRIMARY SECONDARY COUNT
 *                      COUNT new files as fast as possible; reports when ALL are
 *                      on the secondary: all_ms from just before the first
 *                      write, after_ms from the end of the last one (write_ms
 *                      is how long the writing took)
 *
 *   -d SECONDS   how long to wait, after the last write, for everything to
 *                show on the secondary (60); what has not is "missing"
 *   -w SECONDS   single: how long to wait for one write (30); after a write
 *                that does not show in time, the run stops
 *   -n FILES     base files per directory (100), as made by init
 *
 * The primary and the secondary must both hold the base tree before a run.
 * Every write has unique content ("op N dNN/NAME" and padding derived from N),
 * so the content found on the secondary names the write it comes from.  The
 * write time is taken just after close().  An observer thread watches the
 * secondary's directories with inotify (IN_CREATE: georep links a complete
 * O_TMPFILE; IN_MOVED_TO: rsync renames a temporary file; IN_CLOSE_WRITE,
 * IN_ATTRIB: in-place writes), reads the named file on each event and, when
 * it holds write N, marks N and every earlier write to that file as arrived
 * (a write overwritten before it was replicated is satisfied by the newer
 * content).  Events can be lost (queue overflow): after an overflow, after
 * the last write, and every 100 ms in single mode, the observer also sweeps
 * every file still waiting (read again only when its inode, size or ctime
 * changed).  Writes first seen by a sweep are counted ("swept"); the sweep
 * runs in the observer thread, between batches of events, so a swept write
 * was usually found before its queued event was read, not later.
 *
 * Output: one line of KEY=VALUE on stdout, times in milliseconds; a write
 * that never showed counts as an infinite lag in the percentiles ("inf").
 * Exit status: 0 measured (even with missing writes), 1 usage or setup error.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NDIRS		16
#define CONTENT_MAX	4096
#define READ_MAX	(CONTENT_MAX + 1)	/* one more: a longer file differs */
#define SWEEP_NS	100000000LL		/* 100 ms */
#define PAUSE_NS	50000000LL		/* single: between writes */

struct slot {
	int dir;
	char name[16];
	int latest_op;		/* last write to this file, -1: base content */
	int done_op;		/* newest write seen on the secondary, or -1 */
	/* what the last sweep read, to skip files that did not change */
	ino_t ino;
	off_t size;
	struct timespec ctime;
};

struct op {
	int slot;
	int prev;		/* the previous write to the same file, or -1 */
	int64_t write_ns;	/* after close() */
	int64_t seen_ns;	/* 0: not (yet) on the secondary */
	bool swept;		/* found by a sweep, not by an event */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* an op arrived */
	struct slot *slots;
	int nslots, nbase;
	struct op *ops;
	int nops;		/* ops started (slot assigned) */
	int unseen;		/* ops started and not yet seen */
	int pdir[NDIRS], sdir[NDIRS];
	int wd[NDIRS];
	int ifd;
	atomic_bool stop;
	atomic_bool sweeping;	/* sweep every SWEEP_NS */
	atomic_int overflows;
} P = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "lagprobe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static int64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The content of write N (or of a base file, N < 0), 1-4 KiB; its length. */
static size_t
content(char *buf, long n, int dir, const char *name)
{
	int h = snprintf(buf, CONTENT_MAX, n >= 0 ? "op %ld d%02d/%s\n" :
	    "base %ld d%02d/%s\n", n, dir, name);
	uint64_t x = mix((uint64_t)n ^ ((uint64_t)dir << 40));
	size_t len = 1024 + x % (CONTENT_MAX - 1024 + 1);
	for (size_t i = (size_t)h; i < len; i++) {
		if (i % 64 == 63) {
			buf[i] = '\n';
			continue;
		}
		x = mix(x);
		buf[i] = (char)('a' + x % 26);
	}
	return len;
}

static int
opendir_at(const char *root, int i)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/d%02d", root, i);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "lagprobe: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Slot of a name in directory d, or -1: fNNN (base) or nNNNNNN (new). */
static int
slot_of(int d, const char *name)
{
	char *end;
	if (name[0] != 'f' && name[0] != 'n')
		return -1;
	if (!isdigit((unsigned char)name[1]))
		return -1;
	long k = strtol(name + 1, &end, 10);
	if (*end != '\0')
		return -1;
	int s;
	if (name[0] == 'f') {
		if (strlen(name) != 4 || k >= P.nbase)
			return -1;
		s = d * P.nbase + (int)k;
	} else {
		if (strlen(name) != 7)
			return -1;
		s = NDIRS * P.nbase + (int)k;
	}
	pthread_mutex_lock(&P.lock);
	if (s >= P.nslots || P.slots[s].dir != d)
		s = -1;
	pthread_mutex_unlock(&P.lock);
	return s;
}

/*
 * Read slot s on the secondary; if it holds a write newer than the last one
 * seen there, mark that write and the earlier ones to the file.  sweep: skip
 * the read when the file's inode, size and ctime are those of the last sweep.
 */
static void
check(int s, bool sweep)
{
	static char got[READ_MAX], want[CONTENT_MAX];	/* observer thread only */
	int d;
	char name[16];

	pthread_mutex_lock(&P.lock);
	struct slot *sl = &P.slots[s];
	bool pending = sl->done_op < sl->latest_op;
	d = sl->dir;
	memcpy(name, sl->name, sizeof(name));
	pthread_mutex_unlock(&P.lock);
	if (!pending)
		return;

	int fd = openat(P.sdir[d], name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	if (sweep) {
		pthread_mutex_lock(&P.lock);
		bool same = st.st_ino == sl->ino && st.st_size == sl->size &&
		    st.st_ctim.tv_sec == sl->ctime.tv_sec &&
		    st.st_ctim.tv_nsec == sl->ctime.tv_nsec;
		sl->ino = st.st_ino;
		sl->size = st.st_size;
		sl->ctime = st.st_ctim;
		pthread_mutex_unlock(&P.lock);
		if (same) {
			close(fd);
			return;
		}
	}
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, got + len, READ_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == READ_MAX)
			break;
	}
	close(fd);
	int64_t t = now_ns();

	long n;
	if (len < 4 || memcmp(got, "op ", 3) != 0)
		return;
	n = strtol(got + 3, NULL, 10);
	pthread_mutex_lock(&P.lock);
	bool known = n >= 0 && n < P.nops && P.ops[n].slot == s &&
	    n > sl->done_op;
	pthread_mutex_unlock(&P.lock);
	if (!known)
		return;
	size_t wl = content(want, n, d, name);
	if (wl != len || memcmp(want, got, len) != 0)
		return;		/* torn or partial: a later event or sweep */

	pthread_mutex_lock(&P.lock);
	if (n > sl->done_op) {
		sl->done_op = (int)n;
		for (long k = n; k >= 0 && P.ops[k].seen_ns == 0;
		    k = P.ops[k].prev) {
			P.ops[k].seen_ns = t;
			P.ops[k].swept = sweep;
			P.unseen--;
		}
		pthread_cond_broadcast(&P.cond);
	}
	pthread_mutex_unlock(&P.lock);
}

static void
sweep(void)
{
	pthread_mutex_lock(&P.lock);
	int n = P.nslots;
	pthread_mutex_unlock(&P.lock);
	for (int s = 0; s < n; s++)
		check(s, true);
}

static void *
observer(void *arg)
{
	(void)arg;
	static char evbuf[256 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	int64_t last_sweep = 0;
	bool overflowed = false;

	while (!atomic_load(&P.stop)) {
		struct pollfd pfd = { .fd = P.ifd, .events = POLLIN };
		int r = poll(&pfd, 1, 20);
		if (r > 0) {
			ssize_t len = read(P.ifd, evbuf, sizeof(evbuf));
			for (char *p = evbuf; len > 0 && p < evbuf + len;) {
				struct inotify_event *ev = (void *)p;
				p += sizeof(*ev) + ev->len;
				if (ev->mask & IN_Q_OVERFLOW) {
					atomic_fetch_add(&P.overflows, 1);
					overflowed = true;
					last_sweep = 0;
					continue;
				}
				if (ev->len == 0)
					continue;
				int d = -1;
				for (int i = 0; i < NDIRS; i++)
					if (P.wd[i] == ev->wd)
						d = i;
				if (d < 0)
					continue;
				int s = slot_of(d, ev->name);
				if (s >= 0)
					check(s, false);
			}
		}
		int64_t t = now_ns();
		if ((overflowed || atomic_load(&P.sweeping)) &&
		    t - last_sweep >= SWEEP_NS) {
			sweep();
			last_sweep = now_ns();
		}
	}
	return NULL;
}

/* Write op n to slot s on the primary. */
static void
do_write(int n, int s)
{
	static char buf[CONTENT_MAX];
	pthread_mutex_lock(&P.lock);
	struct slot *sl = &P.slots[s];
	P.ops[n].slot = s;
	P.ops[n].prev = sl->latest_op;
	P.ops[n].write_ns = 0;
	P.ops[n].seen_ns = 0;
	sl->latest_op = n;
	P.nops = n + 1;
	P.unseen++;
	int d = sl->dir;
	char name[16];
	memcpy(name, sl->name, sizeof(name));
	pthread_mutex_unlock(&P.lock);

	size_t len = content(buf, n, d, name);
	int fd = openat(P.pdir[d], name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		die("open on the primary: %s", strerror(errno));
	if (write(fd, buf, len) != (ssize_t)len)
		die("write on the primary: %s", strerror(errno));
	if (close(fd) < 0)
		die("close on the primary: %s", strerror(errno));
	int64_t t = now_ns();
	pthread_mutex_lock(&P.lock);
	P.ops[n].write_ns = t;
	pthread_mutex_unlock(&P.lock);
}

/* A new file in directory d: its slot. */
static int
new_slot(int d)
{
	pthread_mutex_lock(&P.lock);
	int s = P.nslots;
	struct slot *sl = &P.slots[s];
	memset(sl, 0, sizeof(*sl));
	sl->dir = d;
	snprintf(sl->name, sizeof(sl->name), "n%06d", s - NDIRS * P.nbase);
	sl->latest_op = sl->done_op = -1;
	P.nslots = s + 1;
	pthread_mutex_unlock(&P.lock);
	return s;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct(const double *v, int n, double p)
{
	if (n == 0)
		return NAN;
	int i = (int)ceil(p * n) - 1;
	return v[i < 0 ? 0 : i];
}

static void
print_ms(const char *key, double v)
{
	if (isinf(v))
		printf(" %s=inf", key);
	else
		printf(" %s=%.2f", key, v);
}

static void
init_tree(const char *root, int nbase)
{
	char buf[CONTENT_MAX], name[16];
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		die("mkdir: %s", strerror(errno));
	for (int d = 0; d < NDIRS; d++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/d%02d", root, d);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die("mkdir: %s", strerror(errno));
		int dfd = opendir_at(root, d);
		for (int f = 0; f < nbase; f++) {
			snprintf(name, sizeof(name), "f%03d", f);
			size_t len = content(buf, -1 - (long)f, d, name);
			int fd = openat(dfd, name, O_WRONLY | O_CREAT |
			    O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, buf, len) != (ssize_t)len ||
			    close(fd) < 0)
				die("writing the base tree: %s",
				    strerror(errno));
		}
		close(dfd);
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: lagprobe init DIR\n"
	    "       lagprobe [-d SECONDS] [-w SECONDS] [-n FILES] single PRIMARY SECONDARY COUNT\n"
	    "       lagprobe [-d SECONDS] [-n FILES] rate PRIMARY SECONDARY OPS_PER_SEC COUNT\n"
	    "       lagprobe [-d SECONDS] [-n FILES] burst PRIMARY SECONDARY COUNT\n");
	exit(1);
}

static long
number(const char *s, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 1 || v > max)
		die("not a number in range: %s", s);
	return v;
}

int
main(int argc, char **argv)
{
	double deadline_s = 60, wait_s = 30;
	int c;
	P.nbase = 100;
	while ((c = getopt(argc, argv, "+d:w:n:")) != -1) {
		switch (c) {
		case 'd': deadline_s = (double)number(optarg, 86400); break;
		case 'w': wait_s = (double)number(optarg, 86400); break;
		case 'n': P.nbase = (int)number(optarg, 1000); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	const char *mode = argv[0];
	if (strcmp(mode, "init") == 0) {
		if (argc != 2)
			usage();
		init_tree(argv[1], P.nbase);
		return 0;
	}
	long rate = 0, count;
	if (strcmp(mode, "rate") == 0 && argc == 5) {
		rate = number(argv[3], 1000000);
		count = number(argv[4], 10000000);
	} else if ((strcmp(mode, "single") == 0 ||
	    strcmp(mode, "burst") == 0) && argc == 4) {
		count = number(argv[3], 10000000);
	} else {
		usage();
	}
	bool single = mode[0] == 's', burst = mode[0] == 'b';

	P.ops = calloc((size_t)count, sizeof(*P.ops));
	P.slots = calloc((size_t)(NDIRS * P.nbase + count), sizeof(*P.slots));
	if (!P.ops || !P.slots)
		die("%s", "out of memory");
	for (int d = 0; d < NDIRS; d++) {
		for (int f = 0; f < P.nbase; f++) {
			struct slot *sl = &P.slots[d * P.nbase + f];
			sl->dir = d;
			snprintf(sl->name, sizeof(sl->name), "f%03d", f);
			sl->latest_op = sl->done_op = -1;
		}
	}
	P.nslots = NDIRS * P.nbase;

	P.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (P.ifd < 0)
		die("inotify_init1: %s", strerror(errno));
	for (int d = 0; d < NDIRS; d++) {
		char path[4096];
		P.pdir[d] = opendir_at(argv[1], d);
		P.sdir[d] = opendir_at(argv[2], d);
		snprintf(path, sizeof(path), "%s/d%02d", argv[2], d);
		P.wd[d] = inotify_add_watch(P.ifd, path, IN_CLOSE_WRITE |
		    IN_MOVED_TO | IN_CREATE | IN_ATTRIB | IN_ONLYDIR);
		if (P.wd[d] < 0)
			die("inotify_add_watch: %s", strerror(errno));
	}
	atomic_store(&P.sweeping, single);
	pthread_t th;
	if (pthread_create(&th, NULL, observer, NULL) != 0)
		die("%s", "pthread_create failed");

	/* The writer.  Its choices are fixed by the op number (mix), so every
	 * replicator is given the same sequence. */
	int64_t t0 = now_ns();
	long done = 0;
	bool timed_out = false;
	for (long n = 0; n < count; n++) {
		uint64_t x = mix((uint64_t)n + 12345);
		int d = (int)(x % NDIRS);
		int s;
		if (burst || (x >> 8) % 2 == 0) {
			s = new_slot(d);
		} else {
			/* an existing file of d: a base one or one made here */
			int made = P.nslots - NDIRS * P.nbase;
			int k = (int)((x >> 16) % (uint64_t)(P.nbase + made));
			if (k < P.nbase) {
				s = d * P.nbase + k;
			} else {
				s = NDIRS * P.nbase + (k - P.nbase);
				d = P.slots[s].dir;
			}
		}
		if (rate) {
			int64_t due = t0 + n * 1000000000LL / rate;
			struct timespec ts = { due / 1000000000, due % 1000000000 };
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
			    &ts, NULL) == EINTR)
				;
		}
		do_write((int)n, s);
		done = n + 1;
		if (single) {
			int64_t until = now_ns() + (int64_t)(wait_s * 1e9);
			pthread_mutex_lock(&P.lock);
			while (P.ops[n].seen_ns == 0 && now_ns() < until) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += 20000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&P.cond, &P.lock, &ts);
			}
			bool seen = P.ops[n].seen_ns != 0;
			pthread_mutex_unlock(&P.lock);
			if (!seen) {
				timed_out = true;
				break;
			}
			struct timespec ps = { 0, PAUSE_NS };
			nanosleep(&ps, NULL);
		}
	}
	int64_t t_written = now_ns();

	/* After the last write: sweep too, until all arrived or the deadline. */
	atomic_store(&P.sweeping, true);
	int64_t until = now_ns() + (int64_t)(deadline_s * 1e9);
	if (timed_out)
		until = now_ns();
	pthread_mutex_lock(&P.lock);
	while (P.unseen > 0 && now_ns() < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&P.cond, &P.lock, &ts);
	}
	pthread_mutex_unlock(&P.lock);
	atomic_store(&P.stop, true);
	pthread_join(th, NULL);

	/* Report.  No thread left: no lock. */
	double *lag = malloc((size_t)done * sizeof(double));
	int missing = 0, swept = 0, early = 0;
	int64_t last_seen = 0;
	for (long n = 0; n < done; n++) {
		struct op *o = &P.ops[n];
		if (o->seen_ns == 0) {
			lag[n] = INFINITY;
			missing++;
			continue;
		}
		if (o->seen_ns < o->write_ns)
			early++;	/* copied between write() and close() */
		lag[n] = o->seen_ns > o->write_ns ?
		    (double)(o->seen_ns - o->write_ns) / 1e6 : 0;
		swept += o->swept;
		if (o->seen_ns > last_seen)
			last_seen = o->seen_ns;
	}
	qsort(lag, (size_t)done, sizeof(double), cmp_double);
	double span = (double)(t_written - t0) / 1e9;
	printf("mode=%s ops=%ld", mode, done);
	if (rate)
		printf(" target_rate=%ld rate=%.1f", rate,
		    span > 0 ? (double)done / span : 0);
	print_ms("p50_ms", pct(lag, (int)done, 0.50));
	print_ms("p90_ms", pct(lag, (int)done, 0.90));
	print_ms("p99_ms", pct(lag, (int)done, 0.99));
	print_ms("max_ms", done ? lag[done - 1] : NAN);
	if (burst) {
		print_ms("write_ms", (double)(t_written - t0) / 1e6);
		print_ms("all_ms", missing ? INFINITY :
		    (double)(last_seen - t0) / 1e6);
		print_ms("after_ms", missing ? INFINITY :
		    (double)(last_seen - t_written) / 1e6);
	}
	printf(" missing=%d swept=%d overflows=%d early=%d timed_out=%d\n",
	    missing, swept, atomic_load(&P.overflows), early, timed_out);
	return 0;
}
