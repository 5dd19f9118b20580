/*
 * index: the primary's model of the secondary, in LMDB.
 *
 * Three tables:
 *   objects   fid -> struct irec: type, attributes last synced, the
 *             secondary's inode number (sino), a content hash, and the
 *             object's links (parent fid, name) as the secondary holds them
 *   children  (parent fid, name) -> fid: the same links, by parent, so a
 *             directory's entries on the secondary can be listed in name order
 *   meta      small named values: the index's format, the root's fid, the
 *             primary's volume id
 *
 * Versions: "format" in meta (a u32) is the version of the whole layout,
 * written when the index is created, and each object record starts with
 * its own version byte.  index_open refuses, logged with the directory,
 * the version found and the one this build reads, an index of another
 * format or whose first record is of another version; a record of another
 * version met later is refused the same way.  Such a refusal is -1 with
 * errno EPROTONOSUPPORT, never a guess at what the bytes mean.  An index
 * made before the format key existed is format 1: it is accepted and gets
 * the key.
 *
 * The two link tables change together through link_add/link_del, so they
 * never disagree.  A transaction is opened by index_begin and ended by
 * index_commit or index_abort; readers and the one writer never block each
 * other (LMDB).  Everything else is stored by value: a struct irec filled by
 * index_get owns its links array (irec_release).
 *
 * Functions return 0 when done, 1 for "not found" where that can happen,
 * and -1 on an LMDB error or a corrupt record (errno EIO), logged with
 * what was being done.
 */
#ifndef GEOREP_INDEX_H
#define GEOREP_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/fid.h"
#include "../common/util.h"

/* The format this build reads and writes (meta "format"). */
#define INDEX_FORMAT	1

struct index;
struct index_txn;

struct ilink {
	struct fid parent;
	uint8_t name_len;
	char name[256];
};

struct irec {
	uint32_t mode;		/* st_mode: type and permission bits */
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	uint64_t rdev;
	uint64_t sino;		/* inode number on the secondary */
	uint64_t xattr_digest;
	uint8_t content_hash[16];	/* XXH3-128 of what was sent */
	uint32_t synced;	/* IREC_* bits: what the secondary has */
	uint32_t nlinks;
	struct ilink *links;
};
#define IREC_CONTENT	0x1	/* content (and its hash) on the secondary */
#define IREC_ATTRS	0x2	/* attributes on the secondary */
/* Sent within a clock tick of its last change: a change in the same tick
 * leaves size and times alone, so the content is hashed again when the file
 * is next looked at. */
#define IREC_RACY	0x4

void irec_release(struct irec *r);

/* Open, or create, the index in dir (created if missing); -1 when it
 * cannot be opened or is refused (see Versions). */
int index_open(struct index **out, const char *dir);
void index_close(struct index *ix);

int index_begin(struct index *ix, bool write, struct index_txn **out);
/* A write transaction nested in parent: its changes reach the parent only
 * if it commits; the parent must not be used meanwhile. */
int index_begin_child(struct index_txn *parent, struct index_txn **out);
int index_commit(struct index_txn *t);
void index_abort(struct index_txn *t);

int index_get(struct index_txn *t, const struct fid *fid, struct irec *out);
int index_put(struct index_txn *t, const struct fid *fid,
    const struct irec *rec);
int index_del(struct index_txn *t, const struct fid *fid);

int index_child_get(struct index_txn *t, const struct fid *parent,
    const char *name, size_t len, struct fid *out);

/* The children of a directory on the secondary, in byte order of name. */
struct ichild {
	struct fid fid;
	uint8_t name_len;
	char name[256];
};
struct ichild_list {
	struct ichild *v;
	size_t n, cap;
};
int index_children(struct index_txn *t, const struct fid *parent,
    struct ichild_list *out);
void ichild_list_release(struct ichild_list *l);

/* Add or remove one link in both tables (the object must exist for add). */
int link_add(struct index_txn *t, const struct fid *fid,
    const struct fid *parent, const char *name, size_t len);
int link_del(struct index_txn *t, const struct fid *fid,
    const struct fid *parent, const char *name, size_t len);

/* Call fn for every object, in fid order; fn returns 0 to go on. */
int index_foreach(struct index_txn *t,
    int (*fn)(void *arg, const struct fid *fid, const struct irec *rec),
    void *arg);
/* Keep the objects, drop every link (both tables): the start of a rebuild
 * of the links from the secondary itself. */
int index_drop_links(struct index_txn *t);

/* Forget every object and link (the secondary is to be refilled). */
int index_clear(struct index_txn *t);
/* Whether the index holds no object. */
int index_is_empty(struct index_txn *t, bool *empty);

int index_meta_get(struct index_txn *t, const char *key, struct buf *out);
int index_meta_put(struct index_txn *t, const char *key, const void *p,
    size_t n);
int index_meta_del(struct index_txn *t, const char *key);

/*
 * The path of fid on the secondary, from its first link up to the root (or
 * the staging area: *base, a BASE_* of fid.h, is then BASE_STAGE).  The
 * root's path is "".
 * *sino (if not NULL) gets fid's own inode number on the secondary, 0 for
 * the root and the staging area.  1 if the fid, or a directory above it,
 * is unknown.
 */
int index_path(struct index_txn *t, const struct fid *root,
    const struct fid *fid, struct buf *path, uint8_t *base, uint64_t *sino);

#endif
