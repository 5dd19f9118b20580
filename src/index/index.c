#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "../common/codec.h"
#include "../common/log.h"
#include "index.h"
#include "../common/banned.h"

/* The first byte of every object record (index.h, "Versions"). */
#define IREC_VERSION	1
#define FORMAT_KEY	"format"

struct index {
	MDB_env *env;
	MDB_dbi objects, children, meta;
	char *dir;
	uint64_t lookups;	/* since the map was last trimmed */
	void *map;		/* LMDB's map of data.mdb, once found */
	size_t map_len;
	bool trim_failed;	/* not trimmed again */
};

/*
 * The pages of the map a crawl reads count in the process's resident set,
 * though they are the page cache's: at a million files, more than the
 * rest of the process.  Every INDEX_TRIM_LOOKUPS lookups, once the map
 * holds more than INDEX_TRIM_MIN, they leave the process's page tables
 * (MADV_DONTNEED: the map is shared and read-only -- LMDB writes through
 * the file, not the map -- so a page read again comes back unchanged from
 * the page cache, and every pointer into the map stays valid).
 */
#define INDEX_TRIM_LOOKUPS	4096
#define INDEX_TRIM_MIN		((size_t)32 << 20)

/* Where LMDB mapped dir/data.mdb: LMDB does not say (mdb_env_info gives
 * an address only for a fixed map), /proc/self/maps does.  NULL when it
 * is not found. */
static void *
find_map(const char *dir, size_t *len)
{
	char *want = realpath(dir, NULL), line[PATH_MAX + 128];
	void *addr = NULL;
	FILE *f;

	if (want == NULL)
		return NULL;
	char *file = xasprintf("%s/data.mdb", want);
	free(want);
	if ((f = fopen("/proc/self/maps", "re")) == NULL) {
		free(file);
		return NULL;
	}
	while (addr == NULL && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char *path = strchr(line, '/');
		line[strcspn(line, "\n")] = '\0';
		if (path && strcmp(path, file) == 0 &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > lo) {
			addr = (void *)lo;
			*len = hi - lo;
		}
	}
	fclose(f);
	free(file);
	return addr;
}

static void
maybe_trim(struct index *ix)
{
	MDB_envinfo info;
	MDB_stat st;

	if (++ix->lookups < INDEX_TRIM_LOOKUPS || ix->trim_failed)
		return;
	ix->lookups = 0;
	if (mdb_env_info(ix->env, &info) != 0 ||
	    mdb_env_stat(ix->env, &st) != 0)
		return;
	size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	if (used < INDEX_TRIM_MIN)
		return;
	if (ix->map == NULL) {
		ix->trim_failed = true;
		log_debug("index %s: its map is not in /proc/self/maps: not "
		    "trimmed", ix->dir);
		return;
	}
	if (madvise(ix->map, used < ix->map_len ? used : ix->map_len,
	    MADV_DONTNEED) < 0) {
		ix->trim_failed = true;
		log_sys(LOG_LVL_DEBUG, "madvise of the index map %s", ix->dir);
	}
}

struct index_txn {
	struct index *ix;
	MDB_txn *txn;
};

static int
lmdb_fail(struct index *ix, int rc, const char *what)
{
	log_err("index %s: %s: %s", ix->dir, what, mdb_strerror(rc));
	errno = EIO;
	return -1;
}

/* What to add when this build refuses a version: an older georep's
 * formats are all read, so a higher one is most likely a newer georep's. */
static const char *
newer_hint(uint32_t found, uint32_t ours)
{
	return found > ours ? " (made by a newer georep?)" : "";
}

/* An object record that does not decode: of a version this build does not
 * read, or corrupt.  Logged; -1 with errno EPROTONOSUPPORT or EIO. */
static int
bad_record(struct index *ix, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size > 0 && p[0] != IREC_VERSION) {
		log_err("the index %s holds records of version %u; this georep "
		    "reads version %u%s", ix->dir, p[0], IREC_VERSION,
		    newer_hint(p[0], IREC_VERSION));
		errno = EPROTONOSUPPORT;
		return -1;
	}
	log_err("index %s: a corrupt object record", ix->dir);
	errno = EIO;
	return -1;
}

/* The first object record's version, as a sample of them all: an index a
 * newer georep rewrote is refused at open, not at its first lookup. */
static int
check_records(struct index *ix, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, ix->objects, &cur);

	if (rc != 0)
		return lmdb_fail(ix, rc, "open a cursor");
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return lmdb_fail(ix, rc, "read the first object");
	if (v.mv_size > 0 && ((const uint8_t *)v.mv_data)[0] != IREC_VERSION)
		return bad_record(ix, &v);
	return 0;
}

/* Refuse an index of another format; give one without the key (a new
 * index, or one made before the key existed: format 1) this one's. */
static int
check_format(struct index *ix, MDB_txn *txn)
{
	MDB_val k = { strlen(FORMAT_KEY), (void *)FORMAT_KEY }, v;
	struct buf b = BUF_INIT;
	struct rd r;
	int rc = mdb_get(txn, ix->meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		put_u32(&b, INDEX_FORMAT);
		v.mv_size = b.len;
		v.mv_data = b.data;
		rc = mdb_put(txn, ix->meta, &k, &v, 0);
		buf_release(&b);
		return rc ? lmdb_fail(ix, rc, "write the format") : 0;
	}
	if (rc != 0)
		return lmdb_fail(ix, rc, "read the format");
	rd_init(&r, v.mv_data, v.mv_size);
	uint32_t found = get_u32(&r);
	if (!rd_end(&r)) {
		log_err("the index %s has a corrupt format key (%zu bytes)",
		    ix->dir, v.mv_size);
		errno = EIO;
		return -1;
	}
	if (found != INDEX_FORMAT) {
		log_err("the index %s has format %" PRIu32 "; this georep "
		    "reads format %d%s", ix->dir, found, INDEX_FORMAT,
		    newer_hint(found, INDEX_FORMAT));
		errno = EPROTONOSUPPORT;
		return -1;
	}
	return 0;
}

static int
open_env(struct index *ix)
{
	int rc;

	if ((rc = mdb_env_create(&ix->env)) != 0)
		return lmdb_fail(ix, rc, "create");
	/* The map is sparse: a large bound costs nothing until used. */
	if ((rc = mdb_env_set_mapsize(ix->env, (size_t)1 << 40)) != 0 ||
	    (rc = mdb_env_set_maxdbs(ix->env, 4)) != 0 ||
	    (rc = mdb_env_open(ix->env, ix->dir, 0, 0600)) != 0) {
		mdb_env_close(ix->env);
		return lmdb_fail(ix, rc, "open");
	}
	return 0;
}

/* Open the three tables and check the format, in one transaction: a
 * refused index is left as it was. */
static int
open_tables(struct index *ix)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(ix->env, NULL, 0, &txn);

	if (rc != 0)
		return lmdb_fail(ix, rc, "begin");
	if ((rc = mdb_dbi_open(txn, "objects", MDB_CREATE, &ix->objects)) ||
	    (rc = mdb_dbi_open(txn, "children", MDB_CREATE, &ix->children)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ix->meta))) {
		mdb_txn_abort(txn);
		return lmdb_fail(ix, rc, "open tables");
	}
	if (check_records(ix, txn) < 0 || check_format(ix, txn) < 0) {
		int err = errno;
		mdb_txn_abort(txn);
		errno = err;
		return -1;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return lmdb_fail(ix, rc, "open tables");
	return 0;
}

int
index_open(struct index **out, const char *dir)
{
	struct index *ix = xcalloc(1, sizeof(*ix));

	ix->dir = xstrdup(dir);
	if (mkdir_p(dir, 0700) < 0 || open_env(ix) < 0)
		goto fail;
	if (open_tables(ix) < 0) {
		int err = errno;
		mdb_env_close(ix->env);
		errno = err;
		goto fail;
	}
	/* Found now, while dir means what it meant to the caller. */
	ix->map = find_map(dir, &ix->map_len);
	*out = ix;
	return 0;
fail:
	free(ix->dir);
	free(ix);
	return -1;
}

void
index_close(struct index *ix)
{
	if (ix == NULL)
		return;
	mdb_env_close(ix->env);
	free(ix->dir);
	free(ix);
}

int
index_begin(struct index *ix, bool write, struct index_txn **out)
{
	struct index_txn *t = xcalloc(1, sizeof(*t));
	int rc = mdb_txn_begin(ix->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);

	if (rc != 0) {
		free(t);
		return lmdb_fail(ix, rc, "begin transaction");
	}
	t->ix = ix;
	*out = t;
	return 0;
}

int
index_begin_child(struct index_txn *parent, struct index_txn **out)
{
	struct index_txn *t = xcalloc(1, sizeof(*t));
	int rc = mdb_txn_begin(parent->ix->env, parent->txn, 0, &t->txn);

	if (rc != 0) {
		free(t);
		return lmdb_fail(parent->ix, rc, "begin a nested transaction");
	}
	t->ix = parent->ix;
	*out = t;
	return 0;
}

int
index_commit(struct index_txn *t)
{
	int rc = mdb_txn_commit(t->txn);
	struct index *ix = t->ix;

	free(t);
	return rc ? lmdb_fail(ix, rc, "commit") : 0;
}

void
index_abort(struct index_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

void
irec_release(struct irec *r)
{
	free(r->links);
	r->links = NULL;
	r->nlinks = 0;
}

/* ---- record encoding ---- */

/* A fid in a record or a key: a u8 length and the bytes.  The index's own
 * layout, whatever the wire does with fids. */
static void
put_ifid(struct buf *b, const struct fid *f)
{
	put_bytes8(b, f->bytes, f->len);
}

static bool
get_ifid(struct rd *r, struct fid *f)
{
	const uint8_t *p = get_bytes8(r, &f->len, FID_MAX);

	if (p == NULL || f->len == 0) {
		r->bad = true;
		return false;
	}
	memcpy(f->bytes, p, f->len);
	return true;
}

/* u8 IREC_VERSION, u32 mode, uid, gid, u64 size, u64 mtime sec, u32 nsec,
 * u64 ctime sec, u32 nsec, u64 rdev, sino, xattr digest, 16 bytes content
 * hash, u32 synced, u32 nlinks and the links (fid, u8 name length, name). */
static void
encode_irec(struct buf *b, const struct irec *rec)
{
	put_u8(b, IREC_VERSION);
	put_u32(b, rec->mode);
	put_u32(b, rec->uid);
	put_u32(b, rec->gid);
	put_u64(b, rec->size);
	put_u64(b, (uint64_t)rec->mtime_sec);
	put_u32(b, rec->mtime_nsec);
	put_u64(b, (uint64_t)rec->ctime_sec);
	put_u32(b, rec->ctime_nsec);
	put_u64(b, rec->rdev);
	put_u64(b, rec->sino);
	put_u64(b, rec->xattr_digest);
	put_raw(b, rec->content_hash, 16);
	put_u32(b, rec->synced);
	put_u32(b, rec->nlinks);
	for (uint32_t i = 0; i < rec->nlinks; i++) {
		put_ifid(b, &rec->links[i].parent);
		put_bytes8(b, rec->links[i].name, rec->links[i].name_len);
	}
}

/* The links of a record, after its count (r is bad if one is wrong). */
static void
decode_links(struct rd *r, struct irec *rec)
{
	rec->links = xcalloc(rec->nlinks, sizeof(*rec->links));
	for (uint32_t i = 0; i < rec->nlinks && !r->bad; i++) {
		struct ilink *l = &rec->links[i];
		const uint8_t *name;
		get_ifid(r, &l->parent);
		name = get_bytes8(r, &l->name_len, 255);
		if (name == NULL || l->name_len == 0) {
			r->bad = true;
			break;
		}
		memcpy(l->name, name, l->name_len);
	}
}

/* -1 for a record of another version or a corrupt one (bad_record says
 * which). */
static int
decode_irec(const void *p, size_t len, struct irec *rec)
{
	struct rd r;

	memset(rec, 0, sizeof(*rec));
	rd_init(&r, p, len);
	if (get_u8(&r) != IREC_VERSION)
		return -1;
	rec->mode = get_u32(&r);
	rec->uid = get_u32(&r);
	rec->gid = get_u32(&r);
	rec->size = get_u64(&r);
	rec->mtime_sec = (int64_t)get_u64(&r);
	rec->mtime_nsec = get_u32(&r);
	rec->ctime_sec = (int64_t)get_u64(&r);
	rec->ctime_nsec = get_u32(&r);
	rec->rdev = get_u64(&r);
	rec->sino = get_u64(&r);
	rec->xattr_digest = get_u64(&r);
	const uint8_t *hash = get_raw(&r, 16);
	if (hash != NULL)
		memcpy(rec->content_hash, hash, 16);
	rec->synced = get_u32(&r);
	rec->nlinks = get_u32(&r);
	/* Each link takes two bytes at least: a count beyond what is left
	 * is refused before anything is allocated for it. */
	if (r.bad || rec->nlinks > rd_left(&r) / 2)
		return -1;
	decode_links(&r, rec);
	if (!rd_end(&r)) {
		irec_release(rec);
		return -1;
	}
	return 0;
}

/* ---- objects ---- */

int
index_get(struct index_txn *t, const struct fid *fid, struct irec *out)
{
	MDB_val k = { fid->len, (void *)fid->bytes }, v;

	maybe_trim(t->ix);
	int rc = mdb_get(t->txn, t->ix->objects, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return lmdb_fail(t->ix, rc, "read an object");
	if (decode_irec(v.mv_data, v.mv_size, out) < 0)
		return bad_record(t->ix, &v);
	return 0;
}

int
index_put(struct index_txn *t, const struct fid *fid, const struct irec *rec)
{
	struct buf b = BUF_INIT;
	MDB_val k = { fid->len, (void *)fid->bytes }, v;
	int rc;

	encode_irec(&b, rec);
	v.mv_size = b.len;
	v.mv_data = b.data;
	rc = mdb_put(t->txn, t->ix->objects, &k, &v, 0);
	buf_release(&b);
	return rc ? lmdb_fail(t->ix, rc, "write an object") : 0;
}

int
index_del(struct index_txn *t, const struct fid *fid)
{
	MDB_val k = { fid->len, (void *)fid->bytes };
	int rc = mdb_del(t->txn, t->ix->objects, &k, NULL);

	if (rc == MDB_NOTFOUND)
		return 1;
	return rc ? lmdb_fail(t->ix, rc, "delete an object") : 0;
}

/* ---- children ---- */

static void
child_key(struct buf *b, const struct fid *parent, const char *name,
    size_t len)
{
	buf_reset(b);
	put_ifid(b, parent);
	put_raw(b, name, len);
}

int
index_child_get(struct index_txn *t, const struct fid *parent,
    const char *name, size_t len, struct fid *out)
{
	struct buf key = BUF_INIT;
	MDB_val k, v;
	int rc;

	maybe_trim(t->ix);
	child_key(&key, parent, name, len);
	k.mv_size = key.len;
	k.mv_data = key.data;
	rc = mdb_get(t->txn, t->ix->children, &k, &v);
	buf_release(&key);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return lmdb_fail(t->ix, rc, "read a child");
	if (v.mv_size == 0 || v.mv_size > FID_MAX) {
		log_err("index %s: a corrupt child record", t->ix->dir);
		errno = EIO;
		return -1;
	}
	out->len = (uint8_t)v.mv_size;
	memcpy(out->bytes, v.mv_data, v.mv_size);
	return 0;
}

int
index_children(struct index_txn *t, const struct fid *parent,
    struct ichild_list *out)
{
	struct buf key = BUF_INIT;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	out->n = 0;
	maybe_trim(t->ix);
	if ((rc = mdb_cursor_open(t->txn, t->ix->children, &cur)) != 0)
		return lmdb_fail(t->ix, rc, "open a cursor");
	child_key(&key, parent, "", 0);
	k.mv_size = key.len;
	k.mv_data = key.data;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= key.len ||
		    memcmp(k.mv_data, key.data, key.len) != 0)
			break;
		size_t nlen = k.mv_size - key.len;
		if (nlen > 255 || v.mv_size == 0 || v.mv_size > FID_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		XGROW(out->v, out->cap, out->n + 1);
		struct ichild *c = &out->v[out->n++];
		c->name_len = (uint8_t)nlen;
		memcpy(c->name, (char *)k.mv_data + key.len, nlen);
		c->name[nlen] = '\0';
		c->fid.len = (uint8_t)v.mv_size;
		memcpy(c->fid.bytes, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(cur);
	buf_release(&key);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_fail(t->ix, rc, "list children");
	return 0;
}

void
ichild_list_release(struct ichild_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

int
link_add(struct index_txn *t, const struct fid *fid, const struct fid *parent,
    const char *name, size_t len)
{
	struct buf key = BUF_INIT;
	struct irec rec;
	MDB_val k, v = { fid->len, (void *)fid->bytes };
	int rc;

	if ((rc = index_get(t, fid, &rec)) != 0) {
		if (rc == 1)
			fatal("internal error: link_add of an unknown object");
		return -1;
	}
	rec.links = xrealloc(rec.links, (rec.nlinks + 1) * sizeof(*rec.links));
	struct ilink *l = &rec.links[rec.nlinks++];
	l->parent = *parent;
	l->name_len = (uint8_t)len;
	memcpy(l->name, name, len);
	rc = index_put(t, fid, &rec);
	irec_release(&rec);
	if (rc < 0)
		return -1;
	child_key(&key, parent, name, len);
	k.mv_size = key.len;
	k.mv_data = key.data;
	rc = mdb_put(t->txn, t->ix->children, &k, &v, 0);
	buf_release(&key);
	return rc ? lmdb_fail(t->ix, rc, "write a child") : 0;
}

int
link_del(struct index_txn *t, const struct fid *fid, const struct fid *parent,
    const char *name, size_t len)
{
	struct buf key = BUF_INIT;
	struct irec rec;
	MDB_val k;
	int rc;

	if ((rc = index_get(t, fid, &rec)) < 0)
		return -1;
	if (rc == 0) {
		for (uint32_t i = 0; i < rec.nlinks; i++) {
			struct ilink *l = &rec.links[i];
			if (fid_eq(&l->parent, parent) && l->name_len == len &&
			    memcmp(l->name, name, len) == 0) {
				rec.links[i] = rec.links[--rec.nlinks];
				break;
			}
		}
		rc = index_put(t, fid, &rec);
		irec_release(&rec);
		if (rc < 0)
			return -1;
	}
	child_key(&key, parent, name, len);
	k.mv_size = key.len;
	k.mv_data = key.data;
	rc = mdb_del(t->txn, t->ix->children, &k, NULL);
	buf_release(&key);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_fail(t->ix, rc, "delete a child");
	return 0;
}

int
index_foreach(struct index_txn *t,
    int (*fn)(void *arg, const struct fid *fid, const struct irec *rec),
    void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct irec rec;
	struct fid fid;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, t->ix->objects, &cur)) != 0)
		return lmdb_fail(t->ix, rc, "open a cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size > FID_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (decode_irec(v.mv_data, v.mv_size, &rec) < 0) {
			mdb_cursor_close(cur);
			return bad_record(t->ix, &v);
		}
		fid.len = (uint8_t)k.mv_size;
		memcpy(fid.bytes, k.mv_data, k.mv_size);
		int r = fn(arg, &fid, &rec);
		irec_release(&rec);
		if (r != 0) {
			mdb_cursor_close(cur);
			return r;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return lmdb_fail(t->ix, rc, "walk the objects");
	return 0;
}

/* Objects that have links, for index_drop_links (two passes: LMDB cursors
 * are not written through while they walk). */
static int
collect_linked(void *arg, const struct fid *fid, const struct irec *rec)
{
	struct buf *keys = arg;

	if (rec->nlinks > 0)
		buf_add(keys, fid, sizeof(*fid));
	return 0;
}

int
index_drop_links(struct index_txn *t)
{
	struct buf keys = BUF_INIT;
	struct irec rec;
	int rc = mdb_drop(t->txn, t->ix->children, 0);

	if (rc != 0)
		return lmdb_fail(t->ix, rc, "drop the children");
	if (index_foreach(t, collect_linked, &keys) != 0) {
		buf_release(&keys);
		return -1;
	}
	rc = 0;
	for (size_t off = 0; off < keys.len && rc == 0;
	    off += sizeof(struct fid)) {
		struct fid fid;
		memcpy(&fid, keys.data + off, sizeof(fid));
		if ((rc = index_get(t, &fid, &rec)) != 0)
			break;
		irec_release(&rec);
		rc = index_put(t, &fid, &rec);
	}
	buf_release(&keys);
	return rc == 0 ? 0 : -1;
}

int
index_clear(struct index_txn *t)
{
	int rc = mdb_drop(t->txn, t->ix->objects, 0);

	if (rc == 0)
		rc = mdb_drop(t->txn, t->ix->children, 0);
	return rc ? lmdb_fail(t->ix, rc, "clear") : 0;
}

int
index_is_empty(struct index_txn *t, bool *empty)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, t->ix->objects, &st);

	if (rc)
		return lmdb_fail(t->ix, rc, "stat");
	*empty = st.ms_entries == 0;
	return 0;
}

/* ---- meta ---- */

int
index_meta_get(struct index_txn *t, const char *key, struct buf *out)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(t->txn, t->ix->meta, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return lmdb_fail(t->ix, rc, "read meta");
	buf_reset(out);
	buf_add(out, v.mv_data, v.mv_size);
	return 0;
}

int
index_meta_put(struct index_txn *t, const char *key, const void *p, size_t n)
{
	MDB_val k = { strlen(key), (void *)key }, v = { n, (void *)p };
	int rc = mdb_put(t->txn, t->ix->meta, &k, &v, 0);

	return rc ? lmdb_fail(t->ix, rc, "write meta") : 0;
}

int
index_meta_del(struct index_txn *t, const char *key)
{
	MDB_val k = { strlen(key), (void *)key };
	int rc = mdb_del(t->txn, t->ix->meta, &k, NULL);

	if (rc == MDB_NOTFOUND)
		return 1;
	return rc ? lmdb_fail(t->ix, rc, "delete meta") : 0;
}

/* ---- paths ---- */

int
index_path(struct index_txn *t, const struct fid *root, const struct fid *fid,
    struct buf *path, uint8_t *base, uint64_t *sino)
{
	struct fid cur = *fid;
	struct buf rev = BUF_INIT;	/* components, last first, each NUL-ended */
	struct irec rec;
	int rc = 0;

	*base = BASE_ROOT;
	if (sino)
		*sino = 0;
	buf_reset(path);
	for (int depth = 0; ; depth++) {
		if (fid_eq(&cur, root))
			break;
		if (fid_is_stage(&cur)) {
			*base = BASE_STAGE;
			break;
		}
		if (depth > 1000000 || (rc = index_get(t, &cur, &rec)) != 0 ||
		    rec.nlinks == 0) {
			if (rc == 0) {
				irec_release(&rec);
				rc = 1;
			}
			buf_release(&rev);
			return rc;
		}
		if (depth == 0 && sino)
			*sino = rec.sino;
		buf_add(&rev, rec.links[0].name, rec.links[0].name_len);
		buf_add(&rev, "", 1);
		cur = rec.links[0].parent;
		irec_release(&rec);
	}
	/* rev holds "c\0b\0a\0": emit "a/b/c". */
	size_t end = rev.len;
	while (end > 0) {
		size_t start = end - 1;
		while (start > 0 && rev.data[start - 1] != '\0')
			start--;
		if (path->len)
			buf_add(path, "/", 1);
		buf_add(path, rev.data + start, end - 1 - start);
		end = start;
	}
	buf_release(&rev);
	return 0;
}
