#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/codec.h"
#include "../common/fid.h"
#include "../common/log.h"
#include "../index/index.h"
#include "../protocol/proto.h"
#include "repair.h"
#include "sync.h"
#include "../common/banned.h"

#define REPAIR_MAGIC	"GRREPAIR"
#define REPAIR_VERSION	1
#define REPAIR_MAX	(1u << 30)	/* a file larger than this is refused */

void
repair_add(struct repair_list *l, uint8_t flags, const struct fid *fid)
{
	static const struct fid none = { .len = 0 };

	put_u8(&l->recs, flags);
	put_fid(&l->recs, fid ? fid : &none);
	l->n++;
}

void
repair_release(struct repair_list *l)
{
	buf_release(&l->recs);
	l->n = 0;
}

/* The records of a repair file, checked: 0, or -1 (errno EINVAL) when it
 * is not one. */
static int
decode(const struct buf *b, const uint8_t **recs, size_t *len, uint32_t *n)
{
	struct rd r;
	size_t ml = strlen(REPAIR_MAGIC);

	rd_init(&r, b->data, b->len);
	const uint8_t *magic = get_raw(&r, ml);
	uint32_t version = get_u32(&r);
	*n = get_u32(&r);
	if (r.bad || memcmp(magic, REPAIR_MAGIC, ml) != 0 ||
	    version != REPAIR_VERSION || b->len < r.off + 8) {
		errno = EINVAL;
		return -1;
	}
	*recs = b->data + r.off;
	*len = b->len - r.off - 8;
	struct rd t;
	rd_init(&t, b->data + b->len - 8, 8);
	if (get_u64(&t) != XXH3_64bits(b->data, b->len - 8)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
repair_save(const struct repair_list *l, int dirfd, const char *name)
{
	struct buf old = BUF_INIT, out = BUF_INIT;
	const uint8_t *recs = NULL;
	size_t len = 0;
	uint32_t n = 0;

	int rc = read_small_file_at(dirfd, name, &old, REPAIR_MAX);
	if (rc < 0 && errno != ENOENT) {
		log_sys(LOG_LVL_ERR, "read %s", name);
		buf_release(&old);
		return -1;
	}
	if (rc == 0 && decode(&old, &recs, &len, &n) < 0) {
		log_warn("%s is not a repair list: replaced", name);
		n = 0;
		len = 0;
	}
	buf_add(&out, REPAIR_MAGIC, strlen(REPAIR_MAGIC));
	put_u32(&out, REPAIR_VERSION);
	put_u32(&out, n + l->n);
	buf_add(&out, recs, len);
	buf_add(&out, l->recs.data, l->recs.len);
	put_u64(&out, XXH3_64bits(out.data, out.len));
	rc = durable_write_at(dirfd, name, out.data, out.len, 0600);
	buf_release(&old);
	buf_release(&out);
	return rc;
}

/* The records, applied to the index in t. */
static int
apply(struct index_txn *t, const uint8_t *recs, size_t len, uint32_t n)
{
	struct rd r;
	bool walk = false;

	rd_init(&r, recs, len);
	for (uint32_t i = 0; i < n; i++) {
		struct fid fid;
		struct irec rec;
		uint8_t flags = get_u8(&r);
		if (!get_fid(&r, &fid, true)) {
			errno = EINVAL;
			return -1;
		}
		walk |= (flags & REPAIR_WALK) != 0;
		if (fid.len == 0)
			continue;
		if (flags & REPAIR_FORGET) {
			if (index_del(t, &fid) < 0)
				return -1;
			continue;
		}
		int rc = index_get(t, &fid, &rec);
		if (rc < 0)
			return -1;
		if (rc > 0)
			continue;	/* not known: the crawl sends it anyway */
		if (flags & REPAIR_CONTENT)
			rec.synced &= ~(uint32_t)(IREC_CONTENT | IREC_RACY);
		if (flags & REPAIR_ATTRS)
			rec.synced &= ~(uint32_t)IREC_ATTRS;
		rc = index_put(t, &fid, &rec);
		irec_release(&rec);
		if (rc < 0)
			return -1;
	}
	if (!rd_end(&r)) {
		errno = EINVAL;
		return -1;
	}
	return walk ? sync_request_walk(t) : 0;
}

/* Apply one file (gone: 0) and remove it. */
static int
take_one(struct index *ix, int dirfd, const char *name, bool *applied)
{
	struct buf b = BUF_INIT;
	struct index_txn *t;
	const uint8_t *recs;
	size_t len;
	uint32_t n;

	if (read_small_file_at(dirfd, name, &b, REPAIR_MAX) < 0) {
		buf_release(&b);
		if (errno == ENOENT)
			return 0;
		log_sys(LOG_LVL_ERR, "read %s", name);
		return -1;
	}
	int rc = decode(&b, &recs, &len, &n);
	if (rc < 0) {
		/* Ours, so damaged: what it said is found again by the next
		 * verify, and it must not stop every turn after this one. */
		log_err("%s is not a repair list: removed (run georep verify "
		    "again)", name);
		buf_release(&b);
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			log_sys(LOG_LVL_ERR, "remove %s", name);
		return 0;
	} else if (index_begin(ix, true, &t) < 0) {
		rc = -1;
	} else if (apply(t, recs, len, n) < 0) {
		log_err("applying the repair list %s: %s", name,
		    errno == EINVAL ? "corrupt" : strerror(errno));
		index_abort(t);
		rc = -1;
	} else {
		rc = index_commit(t);
	}
	buf_release(&b);
	if (rc < 0)
		return -1;
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
		log_sys(LOG_LVL_ERR, "remove %s", name);
		return -1;
	}
	log_info("verify's repair list applied: %u %s sent again", n,
	    plural(n, "object", "objects"));
	*applied = true;
	return 0;
}

int
repair_take(struct index *ix, int dirfd, const char *name)
{
	char *taken = xasprintf("%s.taken", name);
	bool applied = false;
	int rc = take_one(ix, dirfd, taken, &applied);

	if (rc == 0) {
		if (renameat(dirfd, name, dirfd, taken) < 0) {
			if (errno != ENOENT) {
				log_sys(LOG_LVL_ERR, "rename %s", name);
				rc = -1;
			}
		} else {
			rc = take_one(ix, dirfd, taken, &applied);
		}
	}
	free(taken);
	return rc < 0 ? -1 : applied;
}
