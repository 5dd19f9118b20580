#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/log.h"
#include "../common/names.h"
#include "../common/util.h"
#include "../journal/journal.h"
#include "recorder.h"
#include "../common/banned.h"

/* ---- a map from byte strings to a small value ---- */

struct kslot {
	uint8_t *key;		/* NULL: free */
	uint32_t len;
	int8_t val;
};

struct keymap {
	struct kslot *slots;
	size_t cap, n;
};

static size_t
keymap_slot(const struct keymap *m, const void *key, size_t len)
{
	size_t i = (size_t)XXH3_64bits(key, len) & (m->cap - 1);

	while (m->slots[i].key && (m->slots[i].len != len ||
	    memcmp(m->slots[i].key, key, len) != 0))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int8_t *
keymap_get(struct keymap *m, const void *key, size_t len)
{
	if (m->n == 0)
		return NULL;
	size_t i = keymap_slot(m, key, len);
	return m->slots[i].key ? &m->slots[i].val : NULL;
}

static void
keymap_clear(struct keymap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static void
keymap_put(struct keymap *m, const void *key, size_t len, int8_t val)
{
	/* Rehashed into a new table, a power of two (the index is a mask),
	 * rather than grown in place with XGROW.  No overflow: xcalloc
	 * refuses a size that does not fit, so cap < SIZE_MAX / 16. */
	if (2 * (m->n + 1) > m->cap) {
		struct keymap bigger = { .cap = m->cap ? 2 * m->cap : 256 };
		bigger.slots = xcalloc(bigger.cap, sizeof(*bigger.slots));
		for (size_t i = 0; i < m->cap; i++) {
			struct kslot *s = &m->slots[i];
			if (s->key)
				bigger.slots[keymap_slot(&bigger, s->key,
				    s->len)] = *s;
		}
		bigger.n = m->n;
		free(m->slots);
		*m = bigger;
	}
	size_t i = keymap_slot(m, key, len);
	if (m->slots[i].key == NULL) {
		m->slots[i].key = xmalloc(len ? len : 1);
		memcpy(m->slots[i].key, key, len);
		m->slots[i].len = (uint32_t)len;
		m->n++;
	}
	m->slots[i].val = val;
}

/* ---- the recorder ---- */

/* Beyond this many remembered directories, forget them all (they are
 * checked again as their events come). */
#define INSIDE_MAX	(1u << 18)
#define FAN_BUF		(256 * 1024)
#define INO_BUF		(256 * 1024)

struct watch {
	char *path;		/* relative to the primary; "" for the root */
	struct fid fid;
	bool moving;		/* in a tree moved away, whose other half */
	uint32_t cookie;	/* (this move's cookie) is not seen yet */
};

struct recorder {
	struct recorder_opts o;
	struct journal *j;
	int fd;
	uint8_t *buf;
	struct keymap seen;	/* records written in this segment */
	struct keymap inside;	/* fanotify: directory fid -> inside? */
	size_t primary_len;
	/* inotify: watch descriptor -> directory */
	struct watch *watches;
	size_t nwatches;
	/* directories moved from a path, waiting for their MOVED_TO (other
	 * events may come between the two halves) */
	struct pending_move {
		uint32_t cookie;
		char *from;
	} *moves;
	size_t nmoves, cap_moves;
	/* where directories moved to in this drain (ino_check_moved_to) */
	char **moved_to;
	size_t nmoved_to, cap_moved_to;
	bool rescan;		/* a new directory could not be watched */
};

const char *
recorder_kind_name(enum recorder_kind kind)
{
	return kind == RECORDER_FANOTIFY ? "fanotify" : "inotify";
}

int
recorder_fd(const struct recorder *r)
{
	return r->fd;
}


void
recorder_segment_cut(struct recorder *r)
{
	keymap_clear(&r->seen);
}

static bool
dedupable(uint8_t type)
{
	return type == J_DATA || type == J_SETATTR;
}

/* Whether the same change of the same name is in the segment already
 * (data and attribute changes only); remembered if not. */
static bool
seen_before(struct recorder *r, const struct jrec *rec)
{
	uint8_t key[1 + 1 + FID_MAX + 256];
	size_t n = 0;

	if (!dedupable(rec->type))
		return false;
	key[n++] = rec->type;
	key[n++] = rec->parent.len;
	memcpy(key + n, rec->parent.bytes, rec->parent.len);
	n += rec->parent.len;
	memcpy(key + n, rec->name, rec->name_len);
	n += rec->name_len;
	if (keymap_get(&r->seen, key, n))
		return true;
	keymap_put(&r->seen, key, n, 1);
	return false;
}

/* Append r unless the same change of the same name is in the segment. */
static int
record(struct recorder *r, struct jrec *rec)
{
	rec->time_ns = now_ns();
	if (seen_before(r, rec))
		return 0;
	return journal_append(r->j, rec) < 0 ? -1 : 1;
}

/* Append r, already checked by seen_before. */
static int
record_new(struct recorder *r, struct jrec *rec)
{
	rec->time_ns = now_ns();
	return journal_append(r->j, rec) < 0 ? -1 : 1;
}

static int
record_overflow(struct recorder *r, const char *why)
{
	struct jrec rec;

	memset(&rec, 0, sizeof(rec));
	rec.type = J_OVERFLOW;
	log_warn("%s: the next turn crawls the whole primary %s", why,
	    r->o.primary);
	return record(r, &rec);
}

static void
set_name(struct jrec *rec, bool second, const char *name)
{
	size_t len = strnlen(name, NAME_MAX + 1);

	if (len > NAME_MAX || (len && !name_valid(name, len)))
		len = 0;	/* "." names the directory itself */
	if (second) {
		memcpy(rec->name2, name, len);
		rec->name2[len] = '\0';
		rec->name2_len = (uint8_t)len;
	} else {
		memcpy(rec->name, name, len);
		rec->name[len] = '\0';
		rec->name_len = (uint8_t)len;
	}
}

/* ---- fanotify ---- */

/*
 * Events and their info records are packed in the read buffer with no
 * alignment promised for our structs: every field is copied out with
 * memcpy, never read through a cast pointer.
 */

/* A file handle, aligned, built from an event's info record. */
union handle {
	struct file_handle fh;
	uint8_t space[sizeof(struct file_handle) + FID_MAX];
};

/* The fid and handle of an info record's handle at p (len bytes left);
 * false when it does not fit.  *name points past the handle. */
static bool
event_fid(const uint8_t *p, size_t len, struct fid *out, union handle *h,
    const char **name)
{
	const size_t hdr = sizeof(struct fanotify_event_info_header);
	uint32_t bytes;
	int32_t type;

	if (len < hdr + 8 + 8)
		return false;
	memcpy(&bytes, p + hdr + 8, 4);
	memcpy(&type, p + hdr + 12, 4);
	if (bytes + 12 > FID_MAX || len < hdr + 16 + bytes)
		return false;
	memcpy(out->bytes, p + hdr, 8);			/* fsid */
	memcpy(out->bytes + 8, &type, 4);
	memcpy(out->bytes + 12, p + hdr + 16, bytes);
	out->len = (uint8_t)(12 + bytes);
	h->fh.handle_bytes = bytes;
	h->fh.handle_type = type;
	memcpy(h->fh.f_handle, p + hdr + 16, bytes);
	*name = (const char *)p + hdr + 16 + bytes;
	return true;
}

/* Whether the directory with this handle is the primary or beneath it:
 * opened by handle, its path compared with the primary's. */
static bool
dir_inside(struct recorder *r, const struct fid *dir, union handle *h)
{
	char link[64], path[PATH_MAX + 1];

	if (fid_eq(dir, &r->o.root))
		return true;
	if (memcmp(dir->bytes, &r->o.fsid, 8) != 0)
		return false;
	int8_t *known = keymap_get(&r->inside, dir->bytes, dir->len);
	if (known)
		return *known;
	int fd = open_by_handle_at(r->o.rootfd, &h->fh, O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd < 0)
		return false;	/* gone: its parent's event covers it */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (n < 0)
		return false;
	path[n] = '\0';
	size_t pl = r->primary_len;
	bool in = strcmp(r->o.primary, "/") == 0 ||
	    (strncmp(path, r->o.primary, pl) == 0 &&
	    (path[pl] == '\0' || path[pl] == '/'));
	if (r->inside.n >= INSIDE_MAX)
		keymap_clear(&r->inside);
	keymap_put(&r->inside, dir->bytes, dir->len, in);
	return in;
}

struct fan_event {
	uint64_t mask;
	struct fid dir, dir2, obj;
	const char *name, *name2;
	bool has_dir, has_dir2, has_obj;
	bool in, in2;
};

/* The info records of the event at ev (len bytes, metadata_len first). */
static bool
fan_parse(struct recorder *r, const uint8_t *ev, size_t len,
    const struct fanotify_event_metadata *m, struct fan_event *e)
{
	const uint8_t *p = ev + m->metadata_len;
	const uint8_t *end = ev + len;
	struct fanotify_event_info_header hdr;

	memset(e, 0, sizeof(e[0]));
	e->mask = m->mask;
	while ((size_t)(end - p) >= sizeof(hdr)) {
		memcpy(&hdr, p, sizeof(hdr));
		if (hdr.len < sizeof(hdr) || hdr.len > end - p)
			return false;
		union handle h;
		struct fid f;
		const char *name;
		switch (hdr.info_type) {
		case FAN_EVENT_INFO_TYPE_FID:
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
		case FAN_EVENT_INFO_TYPE_DFID:
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			if (!event_fid(p, hdr.len, &f, &h, &name))
				return false;
			break;
		default:
			p += hdr.len;
			continue;
		}
		/* A name must end inside its record. */
		bool has_name = hdr.info_type != FAN_EVENT_INFO_TYPE_FID &&
		    hdr.info_type != FAN_EVENT_INFO_TYPE_DFID;
		if (has_name && memchr(name, '\0', (size_t)(p + hdr.len -
		    (const uint8_t *)name)) == NULL)
			return false;
		switch (hdr.info_type) {
		case FAN_EVENT_INFO_TYPE_FID:
			e->obj = f;
			e->has_obj = true;
			break;
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			e->dir2 = f;
			e->has_dir2 = true;
			e->name2 = name;
			e->in2 = dir_inside(r, &f, &h);
			break;
		default:
			e->dir = f;
			e->has_dir = true;
			e->name = has_name ? name : ".";
			e->in = dir_inside(r, &f, &h);
			break;
		}
		p += hdr.len;
	}
	return true;
}

static uint8_t
fan_type(uint64_t mask)
{
	bool dir = mask & FAN_ONDIR;

	if (mask & FAN_RENAME)
		return J_RENAME;
	if (mask & FAN_CREATE)
		return dir ? J_MKDIR : J_CREATE;
	if (mask & FAN_DELETE)
		return dir ? J_RMDIR : J_UNLINK;
	if (mask & (FAN_MODIFY | FAN_CLOSE_WRITE))
		return J_DATA;
	return J_SETATTR;
}

static int
fan_event(struct recorder *r, const uint8_t *ev,
    const struct fanotify_event_metadata *m)
{
	struct fan_event e;
	struct jrec rec;

	if (m->mask & FAN_Q_OVERFLOW)
		return record_overflow(r, "the fanotify event queue overflowed");
	if (!fan_parse(r, ev, m->event_len, m, &e)) {
		log_warn("a fanotify event that does not parse (mask %#llx)",
		    (unsigned long long)m->mask);
		return record_overflow(r, "an unreadable fanotify event");
	}
	memset(&rec, 0, sizeof(rec));
	rec.type = fan_type(e.mask);
	rec.mode = e.mask & FAN_ONDIR ? S_IFDIR : 0;
	if (e.has_obj)
		rec.fid = e.obj;
	/* The primary's root itself (its parent is outside). */
	if (e.has_obj && fid_eq(&e.obj, &r->o.root) && !e.in) {
		rec.parent = r->o.root;
		return record(r, &rec);
	}
	if (e.has_dir && e.in) {
		rec.parent = e.dir;
		set_name(&rec, false, e.name);
	}
	if (e.has_dir2 && e.in2) {
		rec.parent2 = e.dir2;
		set_name(&rec, true, e.name2);
	}
	if (rec.parent.len == 0 && rec.parent2.len == 0)
		return 0;	/* outside the primary */
	/* A directory moved across the primary's edge: what is beneath it
	 * changed sides, and what changed in it while it was outside was
	 * not recorded (a crawl finds it). */
	if (rec.type == J_RENAME && (e.mask & FAN_ONDIR) && e.in != e.in2) {
		keymap_clear(&r->inside);
		if (e.in2 && record_overflow(r, "a directory moved into the "
		    "primary") < 0)
			return -1;
	}
	return record(r, &rec);
}

/* One read of queued events into r->buf: the bytes read, 0 when nothing
 * is queued, -1 on an error (logged). */
static ssize_t
read_events(struct recorder *r, size_t size, const char *what)
{
	for (;;) {
		ssize_t n = read(r->fd, r->buf, size);
		if (n >= 0)
			return n;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR) {
			log_sys(LOG_LVL_ERR, "read %s events", what);
			return -1;
		}
	}
}

static ssize_t
fan_drain(struct recorder *r)
{
	ssize_t total = 0;

	for (;;) {
		ssize_t n = read_events(r, FAN_BUF, "fanotify");
		if (n <= 0) {
			if (n < 0)
				return -1;
			break;
		}
		for (size_t off = 0; (size_t)n - off >= FAN_EVENT_METADATA_LEN; ) {
			struct fanotify_event_metadata m;
			memcpy(&m, r->buf + off, sizeof(m));
			if (m.event_len < FAN_EVENT_METADATA_LEN ||
			    m.event_len > (size_t)n - off ||
			    m.metadata_len > m.event_len)
				break;
			if (m.vers != FANOTIFY_METADATA_VERSION) {
				log_err("fanotify metadata version %u, not %u",
				    m.vers, FANOTIFY_METADATA_VERSION);
				return -1;
			}
			int rc = fan_event(r, r->buf + off, &m);
			if (m.fd >= 0)
				close(m.fd);
			if (rc < 0)
				return -1;
			total += rc;
			off += m.event_len;
		}
	}
	return total;
}

#ifndef BTRFS_SUPER_MAGIC
#define BTRFS_SUPER_MAGIC	0x9123683e
#endif

/*
 * Why the filesystem mark failed, in words: a bare "Invalid cross-device
 * link" tells nobody that the kernel refuses FAN_MARK_FILESYSTEM where
 * the object's fsid is not its filesystem's -- a btrfs subvolume (each
 * has its own fsid), or the like on another filesystem.
 */
static void
fan_mark_error(const struct recorder *r, char *err, size_t errlen)
{
	int e = errno;
	struct statfs sf;

	if (e != EXDEV) {
		snprintf(err, errlen, "fanotify_mark %s: %s", r->o.primary,
		    strerror(e));
		return;
	}
	bool btrfs = fstatfs(r->o.rootfd, &sf) == 0 &&
	    (unsigned long)sf.f_type == BTRFS_SUPER_MAGIC;
	snprintf(err, errlen, "fanotify cannot mark a filesystem from %s, "
	    "and %s is in one (the kernel refuses FAN_MARK_FILESYSTEM where "
	    "the fsid is not the filesystem's: EXDEV)", btrfs ?
	    "a btrfs subvolume" : "a subvolume", r->o.primary);
}

static int
fan_open(struct recorder *r, char *err, size_t errlen)
{
	uint64_t mask = FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_MODIFY |
	    FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR;

	r->fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME_TARGET |
	    FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	if (r->fd < 0) {
		snprintf(err, errlen, "fanotify_init: %s", strerror(errno));
		return -1;
	}
	if (fanotify_mark(r->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask,
	    r->o.rootfd, NULL) < 0) {
		fan_mark_error(r, err, errlen);
		return -1;
	}
	r->buf = xmalloc(FAN_BUF);
	return 0;
}

/* ---- inotify ---- */

/* No IN_DONT_FOLLOW: watches are added through /proc/self/fd/N, a link
 * to a directory already opened with O_NOFOLLOW. */
#define INO_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
	IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_EXCL_UNLINK | IN_ONLYDIR)

static struct watch *
watch_of(struct recorder *r, int wd)
{
	if (wd < 0 || (size_t)wd >= r->nwatches || r->watches[wd].path == NULL)
		return NULL;
	return &r->watches[wd];
}

static void
watch_forget(struct recorder *r, int wd)
{
	struct watch *w = watch_of(r, wd);

	if (w) {
		free(w->path);
		w->path = NULL;
		w->moving = false;
	}
}

/* Whether a directory entry is a directory (d_type, else lstat). */
static bool
entry_is_dir(int dirfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode);
}

/* An entry found in a directory just watched (ino_watch_tree): made
 * before its watch, perhaps, so no event will say it is there. */
static int
ino_record_found(struct recorder *r, int dirfd, const struct fid *dir,
    const char *name, bool is_dir)
{
	struct jrec rec;

	memset(&rec, 0, sizeof(rec));
	rec.type = is_dir ? J_MKDIR : J_CREATE;
	rec.mode = is_dir ? S_IFDIR : 0;
	rec.parent = *dir;
	set_name(&rec, false, name);
	if (rec.name_len == 0)
		return 0;	/* not a name a turn can take */
	if (fid_at(dirfd, name, r->o.fsid, &rec.fid) < 0)
		rec.fid.len = 0;
	return record_new(r, &rec) < 0 ? -1 : 0;
}

/*
 * Watch the directory open at fd (path rel, relative to the primary), then
 * list it and watch its subdirectories: watched before listed, so an entry
 * made in between is either listed or reported.  With `found` (a
 * directory new since recording began), what the listing finds is
 * recorded too: an entry made after the directory and before its watch
 * has no event, and a full crawl running meanwhile may have listed the
 * directory before that entry was made -- nothing else would tell the
 * next turn to look (a file lost under load, seen in 46-ssh-session).
 * Stays on the primary's filesystem; -1 only when a watch cannot be
 * added (the limit) or a record cannot be written.
 */
static int
ino_watch_tree(struct recorder *r, int fd, const char *rel, dev_t dev,
    bool found)
{
	char proc[64];
	struct fid fid;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int wd = inotify_add_watch(r->fd, proc, INO_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			log_err("inotify: the watch limit is reached at %s%s%s "
			    "(raise fs.inotify.max_user_watches)", r->o.primary,
			    *rel ? "/" : "", rel);
		else
			log_sys(LOG_LVL_ERR, "inotify: watch %s%s%s",
			    r->o.primary, *rel ? "/" : "", rel);
		close(fd);
		return -1;
	}
	if (fid_at(fd, "", r->o.fsid, &fid) < 0) {
		close(fd);
		return 0;	/* no handle: nothing a turn can name */
	}
	if ((size_t)wd >= r->nwatches) {
		size_t had = r->nwatches;
		XGROW(r->watches, r->nwatches, (size_t)wd + 1);
		memset(r->watches + had, 0,
		    (r->nwatches - had) * sizeof(*r->watches));
	}
	free(r->watches[wd].path);
	r->watches[wd].path = xstrdup(rel);
	r->watches[wd].fid = fid;
	r->watches[wd].moving = false;	/* found here: in the primary */
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return 0;
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (found && ino_record_found(r, dirfd(d), &fid, de->d_name,
		    entry_is_dir(dirfd(d), de)) < 0) {
			rc = -1;
			break;
		}
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (sub < 0)
			continue;	/* gone, not a directory, unreadable */
		if (fstat(sub, &st) < 0 || st.st_dev != dev) {
			close(sub);
			continue;
		}
		char *subrel = *rel ? xasprintf("%s/%s", rel, de->d_name) :
		    xstrdup(de->d_name);
		rc = ino_watch_tree(r, sub, subrel, dev, found);
		free(subrel);
	}
	closedir(d);
	return rc;
}

/* Watch a directory that appeared (created or moved in) as name in w. */
static int
ino_watch_new(struct recorder *r, const struct watch *w, const char *name)
{
	char *rel = *w->path ? xasprintf("%s/%s", w->path, name) :
	    xstrdup(name);
	struct stat st;
	int rc = 0;

	int fd = openat(r->o.rootfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0) {
		struct stat root;
		if (fstat(r->o.rootfd, &root) == 0 && st.st_dev == root.st_dev)
			rc = ino_watch_tree(r, fd, rel, st.st_dev, true);
		else
			close(fd);
	} else if (fd >= 0) {
		close(fd);
	} else if (errno == ENOENT || errno == ENOTDIR) {
		/* Moved (or gone) before its event was read: its path here
		 * is stale.  Every directory is watched again after this
		 * drain, and a crawl covers what it missed meanwhile. */
		r->rescan = true;
	}
	free(rel);
	if (rc < 0)
		return record_overflow(r, "inotify: a directory is not watched");
	return 0;
}

/* Watch every directory again, with its path now (inotify_add_watch on
 * a watched one returns its watch), and crawl once. */
static int
ino_rescan(struct recorder *r)
{
	struct stat st;

	r->rescan = false;
	int fd = openat(r->o.rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return record_overflow(r, "inotify: the primary cannot be "
		    "watched again");
	}
	if (ino_watch_tree(r, fd, "", st.st_dev, false) < 0)
		return record_overflow(r, "inotify: a directory is not watched");
	return record_overflow(r, "inotify: a new directory moved before it "
	    "was watched");
}

/* A directory moved away from `from` (relative), with this cookie: the
 * watches of its tree are marked, so that what is watched at those paths
 * later (a new directory of the same name) is not taken for them. */
static void
ino_moving(struct recorder *r, const char *from, uint32_t cookie)
{
	size_t fl = strlen(from);

	for (size_t i = 0; i < r->nwatches; i++) {
		char *p = r->watches[i].path;
		if (p == NULL || strncmp(p, from, fl) != 0 ||
		    (p[fl] != '\0' && p[fl] != '/'))
			continue;
		r->watches[i].moving = true;
		r->watches[i].cookie = cookie;
	}
}

/* The move with this cookie from `from` ended at `to` (both relative): the
 * paths of the watches marked follow. */
static void
ino_moved(struct recorder *r, uint32_t cookie, const char *from,
    const char *to)
{
	size_t fl = strlen(from);

	for (size_t i = 0; i < r->nwatches; i++) {
		struct watch *w = &r->watches[i];
		if (w->path == NULL || !w->moving || w->cookie != cookie)
			continue;
		char *p = w->path;
		w->path = strlen(p) >= fl ? xasprintf("%s%s", to, p + fl) :
		    xstrdup(to);
		w->moving = false;
		free(p);
	}
}

/* The move with this cookie left the primary: the watches marked go. */
static void
ino_moved_out(struct recorder *r, uint32_t cookie)
{
	for (size_t i = 0; i < r->nwatches; i++) {
		struct watch *w = &r->watches[i];
		if (w->path == NULL || !w->moving || w->cookie != cookie)
			continue;
		inotify_rm_watch(r->fd, (int)i);
		watch_forget(r, (int)i);
	}
}

static char *
ino_child(const struct watch *w, const char *name)
{
	return *w->path ? xasprintf("%s/%s", w->path, name) : xstrdup(name);
}

/* Directories moved from the primary with no MOVED_TO after them left
 * it: their watches go. */
static void
ino_settle_moves(struct recorder *r)
{
	for (size_t i = 0; i < r->nmoves; i++) {
		ino_moved_out(r, r->moves[i].cookie);
		free(r->moves[i].from);
	}
	free(r->moves);
	r->moves = NULL;
	r->nmoves = r->cap_moves = 0;
}

/*
 * After a drain: is any directory moved in it sharing its path with
 * another watch?  Then one of them went where the other was -- two
 * directories exchanged (RENAME_EXCHANGE: each half of it moves, by its
 * path prefix, the watches of both), or one replaced another whose
 * removal is not read yet -- and the paths can no longer tell them apart:
 * a later move of one would take the other's watches with it, and changes
 * in a directory whose watch went that way were lost.  Every directory is
 * watched again with its path now, and a crawl covers the meantime.
 */
static void
ino_check_moved_to(struct recorder *r)
{
	for (size_t k = 0; k < r->nmoved_to; k++) {
		size_t n = 0;
		for (size_t i = 0; i < r->nwatches && n < 2; i++)
			if (r->watches[i].path != NULL &&
			    strcmp(r->watches[i].path, r->moved_to[k]) == 0)
				n++;
		if (n > 1)
			r->rescan = true;
		free(r->moved_to[k]);
	}
	r->nmoved_to = 0;
}

/* The pending move with this cookie, taken out of the list (NULL). */
static char *
ino_take_move(struct recorder *r, uint32_t cookie)
{
	for (size_t i = 0; i < r->nmoves; i++) {
		if (r->moves[i].cookie != cookie)
			continue;
		char *from = r->moves[i].from;
		r->moves[i] = r->moves[--r->nmoves];
		return from;
	}
	return NULL;
}

/*
 * A directory moved within the primary (both halves of the move seen): it
 * should be watched already, but a walk that watched a tree (a new
 * directory's, a rescan) can miss one moved across it meanwhile, from a part
 * not yet listed to one already listed.  Watched then, and crawled for what
 * it missed.
 */
static int
ino_check_moved(struct recorder *r, const struct watch *w, const char *name)
{
	char *rel = ino_child(w, name);
	char proc[64];
	int fd = openat(r->o.rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	int wd = -1;

	free(rel);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			r->rescan = true;	/* moved again */
		return 0;
	}
	/* On a watched directory this returns its watch, changing nothing. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(r->fd, proc, INO_MASK);
	close(fd);
	if (wd >= 0 && watch_of(r, wd) != NULL)
		return 0;
	if (ino_watch_new(r, w, name) < 0)
		return -1;
	return record_overflow(r, "inotify: a directory moved before it was "
	    "watched");
}

static int
ino_event(struct recorder *r, const struct inotify_event *ev)
{
	struct jrec rec;
	bool dir = ev->mask & IN_ISDIR;

	if (ev->mask & IN_Q_OVERFLOW)
		return record_overflow(r, "the inotify event queue overflowed");
	if (ev->mask & IN_IGNORED) {
		watch_forget(r, ev->wd);
		return 0;
	}
	struct watch *w = watch_of(r, ev->wd);
	if (w == NULL)
		return 0;
	const char *name = ev->len ? ev->name : "";
	memset(&rec, 0, sizeof(rec));
	rec.mode = dir ? S_IFDIR : 0;
	rec.parent = w->fid;
	set_name(&rec, false, name);
	if (ev->mask & IN_CREATE)
		rec.type = dir ? J_MKDIR : J_CREATE;
	else if (ev->mask & IN_DELETE)
		rec.type = dir ? J_RMDIR : J_UNLINK;
	else if (ev->mask & (IN_MOVED_FROM | IN_MOVED_TO))
		rec.type = J_RENAME;
	else if (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE))
		rec.type = J_DATA;
	else
		rec.type = J_SETATTR;
	if (seen_before(r, &rec))
		return 0;
	if (ev->len == 0) {
		rec.fid = w->fid;	/* the directory itself */
	} else if (!(ev->mask & (IN_DELETE | IN_MOVED_FROM))) {
		/* Which object the name is, while it is there (inotify does
		 * not say): a file written through a hard link that is then
		 * removed changed under its other names, which the turn
		 * finds by fid.  A name gone before this is read leaves the
		 * fid unknown -- inotify's limit; fanotify reports it. */
		char *rel = ino_child(w, name);
		if (fid_at(r->o.rootfd, rel, r->o.fsid, &rec.fid) < 0)
			rec.fid.len = 0;
		free(rel);
	}
	int rc = record_new(r, &rec);
	if (rc < 0 || !dir)
		return rc;
	char *from;
	if (ev->mask & IN_MOVED_FROM) {
		XGROW(r->moves, r->cap_moves, r->nmoves + 1);
		r->moves[r->nmoves].cookie = ev->cookie;
		r->moves[r->nmoves].from = ino_child(w, name);
		ino_moving(r, r->moves[r->nmoves].from, ev->cookie);
		r->nmoves++;
	} else if ((ev->mask & IN_MOVED_TO) &&
	    (from = ino_take_move(r, ev->cookie)) != NULL) {
		char *to = ino_child(w, name);
		ino_moved(r, ev->cookie, from, to);
		XGROW(r->moved_to, r->cap_moved_to, r->nmoved_to + 1);
		r->moved_to[r->nmoved_to++] = to;
		free(from);
		if (ino_check_moved(r, w, name) < 0)
			return -1;
	} else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
		/* Moved in from outside: what changed in it meanwhile was
		 * not seen, and its watches start now (a crawl follows). */
		if ((ev->mask & IN_MOVED_TO) && record_overflow(r,
		    "a directory moved into the primary") < 0)
			return -1;
		if (ino_watch_new(r, w, name) < 0)
			return -1;
	}
	return rc;
}

static ssize_t
ino_drain(struct recorder *r)
{
	ssize_t total = 0;

	for (;;) {
		ssize_t n = read_events(r, INO_BUF, "inotify");
		if (n <= 0) {
			if (n < 0)
				return -1;
			break;
		}
		for (ssize_t off = 0; off < n; ) {
			const struct inotify_event *ev = (const void *)
			    (r->buf + off);
			if ((size_t)(n - off) < sizeof(*ev) ||
			    (size_t)(n - off) < sizeof(*ev) + ev->len)
				break;
			int rc = ino_event(r, ev);
			if (rc < 0)
				return -1;
			total += rc;
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	}
	/* A move whose other half is not queued: it left. */
	ino_settle_moves(r);
	ino_check_moved_to(r);
	if (r->rescan) {
		int rc = ino_rescan(r);
		if (rc < 0)
			return -1;
		total += rc;
	}
	return total;
}

static int
ino_open(struct recorder *r, char *err, size_t errlen)
{
	struct stat st;

	r->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (r->fd < 0) {
		snprintf(err, errlen, "inotify_init1: %s", strerror(errno));
		return -1;
	}
	r->buf = xmalloc(INO_BUF);
	int fd = openat(r->o.rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", r->o.primary, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (ino_watch_tree(r, fd, "", st.st_dev, false) < 0) {
		snprintf(err, errlen, "inotify cannot watch every directory "
		    "of %s (see the log)", r->o.primary);
		return -1;
	}
	return 0;
}

/* ---- the interface ---- */

int
recorder_open(struct recorder **out, const struct recorder_opts *o,
    struct journal *j, char *err, size_t errlen)
{
	struct recorder *r = xcalloc(1, sizeof(*r));
	int rc;

	r->o = *o;
	r->j = j;
	r->fd = -1;
	r->primary_len = strlen(o->primary);
	rc = o->kind == RECORDER_FANOTIFY ? fan_open(r, err, errlen) :
	    ino_open(r, err, errlen);
	if (rc < 0) {
		int saved = errno;
		recorder_close(r);
		errno = saved;
		return -1;
	}
	*out = r;
	return 0;
}

ssize_t
recorder_drain(struct recorder *r)
{
	return r->o.kind == RECORDER_FANOTIFY ? fan_drain(r) : ino_drain(r);
}

void
recorder_close(struct recorder *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	for (size_t i = 0; i < r->nwatches; i++)
		free(r->watches[i].path);
	free(r->watches);
	for (size_t i = 0; i < r->nmoves; i++)
		free(r->moves[i].from);
	free(r->moves);
	for (size_t i = 0; i < r->nmoved_to; i++)
		free(r->moved_to[i]);
	free(r->moved_to);
	keymap_clear(&r->seen);
	keymap_clear(&r->inside);
	free(r->buf);
	free(r);
}
