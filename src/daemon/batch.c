#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../index/index.h"
#include "../journal/journal.h"
#include "batch.h"
#include "../common/banned.h"

void
batch_add(struct batch *b, const struct fid *dir, const char *name,
    size_t len)
{
	if (dir->len == 0)
		return;
	XGROW(b->pairs, b->cap, b->npairs + 1);
	b->pairs[b->npairs].dir = *dir;
	b->pairs[b->npairs++].name = len ? xstrndup(name, len) : NULL;
}

void
batch_release(struct batch *b)
{
	for (size_t i = 0; i < b->npairs; i++)
		free(b->pairs[i].name);
	for (size_t i = 0; i < b->ndirs; i++)
		free(b->names[i].names);
	free(b->pairs);
	free(b->objs);
	free(b->deep);
	free(b->seqs);
	free(b->dirs);
	free(b->names);
	memset(b, 0, sizeof(*b));
}

static int
cmp_pair(const void *a, const void *b)
{
	const struct dirname *x = a, *y = b;
	int c = crawl_fid_cmp(&x->dir, &y->dir);

	if (c || x->name == y->name)
		return c;
	if (x->name == NULL || y->name == NULL)
		return x->name == NULL ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Group the (directory, name) pairs: each directory once, with its names
 * sorted and unique (the pairs keep the strings). */
static void
batch_group(struct batch *b)
{
	if (b->npairs > 1)
		qsort(b->pairs, b->npairs, sizeof(*b->pairs), cmp_pair);
	b->dirs = xcalloc(b->npairs ? b->npairs : 1, sizeof(*b->dirs));
	b->names = xcalloc(b->npairs ? b->npairs : 1, sizeof(*b->names));
	for (size_t i = 0; i < b->npairs; ) {
		size_t k = i;
		while (k < b->npairs && fid_eq(&b->pairs[k].dir,
		    &b->pairs[i].dir))
			k++;
		struct crawl_names *n = &b->names[b->ndirs];
		b->dirs[b->ndirs++] = b->pairs[i].dir;
		n->names = xcalloc(k - i, sizeof(*n->names));
		for (size_t m = i; m < k; m++) {
			char *nm = b->pairs[m].name;
			if (nm && (n->n == 0 || strcmp(n->names[n->n - 1],
			    nm) != 0))
				n->names[n->n++] = nm;
		}
		n->all = n->n > BATCH_NAMES_MAX;
		i = k;
	}
}

/* Read the sealed segments: the directories and names they record. */
int
batch_read(const char *jdir, struct batch *b)
{
	if (journal_list(jdir, &b->seqs, &b->nseqs) < 0) {
		log_sys(LOG_LVL_ERR, "list the journal %s", jdir);
		return -1;
	}
	if (b->nseqs > BATCH_SEGMENTS_MAX) {
		b->full = true;
		return 0;
	}
	for (size_t i = 0; i < b->nseqs && !b->full; i++) {
		struct jrec_list l = { 0 };
		bool torn = false;
		if (journal_read_segment(jdir, b->seqs[i], &l, &torn) < 0) {
			if (errno == EPROTONOSUPPORT) {
				/* Written by another version (the journal
				 * said which): not read; a full crawl finds
				 * all it could have recorded, and the segment
				 * goes with the batch. */
				log_warn("a full crawl covers the journal "
				    "segment %llu this georep cannot read",
				    (unsigned long long)b->seqs[i]);
				b->full = true;
				break;
			}
			log_sys(LOG_LVL_ERR, "read the journal segment %llu in %s",
			    (unsigned long long)b->seqs[i], jdir);
			return -1;
		}
		if (torn) {
			/* The journal said what was wrong with it. */
			log_debug("journal segment %llu is torn: a full crawl",
			    (unsigned long long)b->seqs[i]);
			b->full = true;
		}
		b->cut = 0;
		for (size_t k = 0; k < l.n; k++) {
			const struct jrec *r = &l.v[k];
			if (r->type == J_OVERFLOW)
				b->full = true;
			else if (r->type == J_CUT)
				b->cut = r->time_ns;
			batch_add(b, &r->parent, r->name, r->name_len);
			batch_add(b, &r->parent2, r->name2, r->name2_len);
			if (r->type == J_RENAME && S_ISDIR(r->mode) &&
			    r->fid.len) {
				XGROW(b->deep, b->capdeep, b->ndeep + 1);
				b->deep[b->ndeep++] = r->fid;
			}
			if (r->fid.len && r->type != J_MKDIR) {
				XGROW(b->objs, b->capobjs, b->nobjs + 1);
				b->objs[b->nobjs++] = r->fid;
			}
		}
		b->nrecords += l.n;
		jrec_list_release(&l);
	}
	if (b->nseqs && b->cut == 0)
		b->full = true;	/* sealed by a crash: no cut time to trust */
	return 0;
}

/*
 * The names the index has for each object a record names by fid: a file
 * written through one hard link, whose name is then removed, changed
 * under its other names -- only the index knows where those are.
 */
static int
batch_add_links(struct batch *b, struct index *ix)
{
	struct index_txn *txn;

	if (b->npairs == 0)
		return 0;
	if (index_begin(ix, false, &txn) < 0)
		return -1;
	/* A name the index has stands for its object too: inotify cannot
	 * say which object a name that is gone was. */
	for (size_t i = 0, n = b->npairs; i < n; i++) {
		struct fid f;
		const char *nm = b->pairs[i].name;
		if (nm == NULL)
			continue;
		int rc = index_child_get(txn, &b->pairs[i].dir, nm, strlen(nm),
		    &f);
		if (rc < 0) {
			index_abort(txn);
			return -1;
		}
		if (rc > 0)
			continue;
		XGROW(b->objs, b->capobjs, b->nobjs + 1);
		b->objs[b->nobjs++] = f;
	}
	if (b->nobjs > 1)
		qsort(b->objs, b->nobjs, sizeof(*b->objs), crawl_fid_cmp);
	for (size_t i = 0; i < b->nobjs; i++) {
		struct irec rec;
		if (i && fid_eq(&b->objs[i], &b->objs[i - 1]))
			continue;
		int rc = index_get(txn, &b->objs[i], &rec);
		if (rc < 0) {
			index_abort(txn);
			return -1;
		}
		if (rc > 0)
			continue;
		for (uint32_t k = 0; k < rec.nlinks; k++)
			if (!fid_is_stage(&rec.links[k].parent))
				batch_add(b, &rec.links[k].parent,
				    rec.links[k].name, rec.links[k].name_len);
		irec_release(&rec);
	}
	index_abort(txn);
	return 0;
}

void
batch_remove(const char *jdir, const struct batch *b)
{
	for (size_t i = 0; i < b->nseqs; i++)
		if (journal_remove(jdir, b->seqs[i]) < 0)
			log_sys(LOG_LVL_WARN, "remove the journal segment %llu "
			    "in %s", (unsigned long long)b->seqs[i], jdir);
}

int
batch_plan(struct batch *b, struct index *ix)
{
	if (batch_add_links(b, ix) < 0)
		return -1;
	batch_group(b);
	if (b->ndeep > 1)
		qsort(b->deep, b->ndeep, sizeof(*b->deep), crawl_fid_cmp);
	return 0;
}
