/*
 * concepts.c - concepts/: one read-only file per concept, named by its
 * label, and the store's change hook that keeps the kernel's caches of
 * them honest.
 *
 * Consolidation (store_consolidate, from `echo consolidate > ctl` or the
 * store's background thread) decides what the concepts are; this file
 * only shows them:
 *
 *   readdir  store_concept_list in label order.  Offsets as in episodes/:
 *            "." is entry 0, ".." entry 1, the n-th concept entry n+2,
 *            and an entry's offset is its index + 1.  The directory
 *            handle (struct efs_dirh) remembers the last label returned
 *            and the offset after it, so a long listing resumes with
 *            store_concept_list(after=last); any other offset rescans.
 *   lookup   store_concept_lookup(label); an unknown label is ENOENT, not
 *            cached as a negative entry (a consolidation may form it any
 *            moment, and a negative dentry would hide it for a second).
 *   open     read-only.  store_concept_render with the caller's uid, gid
 *            and groups (members the caller could not read are left out),
 *            into the handle; direct I/O, so every open renders afresh and
 *            a member that was just removed is gone from the next cat.
 *   getattr  S_IFREG 0444, owned by the mount owner, size 0 (read to EOF),
 *            mtime and ctime = the concept's last update.
 *
 * What a caller cannot do here, with the errno of the other read-only
 * synthetic folders (ops.c): EPERM for making or removing names (create,
 * mknod, mkdir, unlink, rmdir, rename, link, symlink: the set of concepts
 * is the store's, not the caller's to change, so EACCES would suggest
 * someone else could); EACCES for opening a concept for writing and for
 * truncating one (root included: mode 0444 says so, but root bypasses
 * mode bits - as recall/ does); EPERM for chmod and chown; ENOTSUP for
 * setting an xattr.
 *
 * Inode numbers.  A concept's number is EFS_INO_CONCEPT_BASE + its id.
 * The store hands ids out from a persistent counter and never reuses
 * one, so the number is stable while the concept lives (across relabels
 * and remounts) and a stale number the kernel still holds cannot name a
 * different concept.  Ids past the range (2^40 - 2^36 of them) are
 * refused with EOVERFLOW; that is beyond any store's lifetime.
 *
 * Concept nodes.  The kernel may hold a concept's inode after its name
 * went away (dissolved, or relabelled when its top terms moved).  To drop
 * the old name from the dentry cache the daemon must know it, so every
 * lookup count the kernel takes (lookup, readdirplus) is counted in a
 * small table, number -> { label, times, nlookup }, and FORGET subtracts
 * and frees at zero, as for recall nodes (inode.c).  The table holds what
 * the kernel holds, not the store's concepts.  getattr refreshes the
 * times from the label; when the label no longer names the concept it
 * answers with the last known attributes rather than ENOENT, so an fstat
 * on an open descriptor (cat does one) does not fail because a
 * consolidation relabelled the concept meanwhile.
 *
 * The change hook (efs_concepts_changed, set in main.c).  The store calls
 * it after a consolidation published its changes - from its background
 * thread, or from inside the ctl write that asked for the run.  It only
 * queues invalidations for the notifier thread (handle.c); a
 * fuse_lowlevel_notify_* sent from inside a request can deadlock.
 *   STORE_CHANGE_CONCEPT         if the kernel holds the concept (it has
 *                                a node): inval_entry of the label it was
 *                                known by (the concept may be gone or
 *                                renamed; dropping a name that still
 *                                exists only costs a lookup) and
 *                                inval_inode of its number.  A run that
 *                                changes 10,000 concepts queues nothing
 *                                for the ones nobody looked at.
 *   STORE_CHANGE_CONCEPTS_DIR    inval_inode of concepts/ itself
 *   STORE_CHANGE_EPISODE_XATTR   nothing: the FUSE kernel module keeps no
 *                                xattr cache, every getxattr of
 *                                user.engram.concepts reaches the daemon
 *
 * Locks: the node table's mutex is a leaf, never held across a store
 * call or a notification.
 *
 * Rejected: a snapshot of the concept list per open directory (memory
 * grows with the store; resuming by label is enough); a negative entry
 * timeout for unknown labels (above); answering getattr from a store
 * lookup by id (the store offers lookup by label only, and the label is
 * what the kernel's name refers to anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "efs.h"

#define EFS_CONCEPT_MODE (S_IFREG | 0444)

static bool efs_concept_ino(uint64_t id, fuse_ino_t *ino)
{
	if (id >= EFS_INO_RECALL_BASE - EFS_INO_CONCEPT_BASE)
		return false;
	*ino = EFS_INO_CONCEPT_BASE + id;
	return true;
}

static uint64_t efs_concept_id(fuse_ino_t ino)
{
	return ino - EFS_INO_CONCEPT_BASE;
}

/* ------------------------------------------------------------------ */
/* Concept nodes                                                      */
/* ------------------------------------------------------------------ */

struct efs_cnode {
	struct efs_cnode *next;
	fuse_ino_t ino;
	uint64_t nlookup;
	int64_t updated;	/* unix seconds */
	char *label;
};

/* Buckets: a power of two; doubled past one node per bucket.  Never
 * shrunk: the table is as large as the most concepts ever held at once. */
#define EFS_CNODE_MIN 64

static struct {
	pthread_mutex_t lock;
	struct efs_cnode **b;
	size_t nbuckets, count;
} efs_ct = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t efs_cnode_bucket(fuse_ino_t ino, size_t n)
{
	/* Ids are sequential: a multiplicative mix spreads them. */
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 20) & (n - 1);
}

static int efs_ct_resize(size_t n)
{
	struct efs_cnode **b = calloc(n, sizeof(*b));
	size_t i;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < efs_ct.nbuckets; i++) {
		struct efs_cnode *p = efs_ct.b[i], *next;

		for (; p; p = next) {
			size_t k = efs_cnode_bucket(p->ino, n);

			next = p->next;
			p->next = b[k];
			b[k] = p;
		}
	}
	free(efs_ct.b);
	efs_ct.b = b;
	efs_ct.nbuckets = n;
	return 0;
}

/* The slot pointing at INO's node, or at the NULL ending its chain. */
static struct efs_cnode **efs_ct_slot(fuse_ino_t ino)
{
	struct efs_cnode **pp = &efs_ct.b[efs_cnode_bucket(ino,
							   efs_ct.nbuckets)];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

/* The kernel takes one lookup on concept C (number INO). */
static int efs_cnode_ref(fuse_ino_t ino, const struct store_concept *c)
{
	struct efs_cnode **pp, *p;
	char *label = strdup(c->label);
	int r = 0;

	if (!label)
		return -ENOMEM;
	pthread_mutex_lock(&efs_ct.lock);
	if (!efs_ct.nbuckets && (r = efs_ct_resize(EFS_CNODE_MIN)) < 0)
		goto out;
	pp = efs_ct_slot(ino);
	p = *pp;
	if (!p) {
		if (efs_ct.count >= efs_ct.nbuckets &&
		    efs_ct_resize(efs_ct.nbuckets * 2) == 0)
			pp = efs_ct_slot(ino);	/* best effort */
		p = calloc(1, sizeof(*p));
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		p->ino = ino;
		*pp = p;
		efs_ct.count++;
	}
	free(p->label);
	p->label = label;	/* the newest name it is known by */
	label = NULL;
	p->updated = c->updated;
	p->nlookup++;
out:
	pthread_mutex_unlock(&efs_ct.lock);
	free(label);
	return r;
}

void efs_concepts_forget(fuse_ino_t ino, uint64_t nlookup)
{
	struct efs_cnode **pp, *p;

	pthread_mutex_lock(&efs_ct.lock);
	if (!efs_ct.nbuckets)
		goto out;
	pp = efs_ct_slot(ino);
	p = *pp;
	if (!p)
		goto out;
	p->nlookup = nlookup < p->nlookup ? p->nlookup - nlookup : 0;
	if (!p->nlookup) {
		*pp = p->next;
		efs_ct.count--;
		free(p->label);
		free(p);
	}
out:
	pthread_mutex_unlock(&efs_ct.lock);
}

/* Copy of the node's label and its last known update time. */
static int efs_cnode_get(fuse_ino_t ino, char **label, int64_t *updated)
{
	struct efs_cnode *p = NULL;
	int r = 0;

	pthread_mutex_lock(&efs_ct.lock);
	if (efs_ct.nbuckets)
		p = *efs_ct_slot(ino);
	if (!p)
		r = -ENOENT;
	else if (label && !(*label = strdup(p->label)))
		r = -ENOMEM;
	else
		*updated = p->updated;
	pthread_mutex_unlock(&efs_ct.lock);
	return r;
}

static void efs_cnode_set_updated(fuse_ino_t ino, int64_t updated)
{
	struct efs_cnode *p;

	pthread_mutex_lock(&efs_ct.lock);
	if (efs_ct.nbuckets && (p = *efs_ct_slot(ino)))
		p->updated = updated;
	pthread_mutex_unlock(&efs_ct.lock);
}

size_t efs_concepts_node_count(void)
{
	size_t n;

	pthread_mutex_lock(&efs_ct.lock);
	n = efs_ct.count;
	pthread_mutex_unlock(&efs_ct.lock);
	return n;
}

void efs_concepts_clear(void)
{
	size_t i;

	pthread_mutex_lock(&efs_ct.lock);
	for (i = 0; i < efs_ct.nbuckets; i++) {
		struct efs_cnode *p = efs_ct.b[i], *next;

		for (; p; p = next) {
			next = p->next;
			free(p->label);
			free(p);
		}
	}
	free(efs_ct.b);
	efs_ct.b = NULL;
	efs_ct.nbuckets = efs_ct.count = 0;
	pthread_mutex_unlock(&efs_ct.lock);
}

/* ------------------------------------------------------------------ */
/* Names and attributes                                               */
/* ------------------------------------------------------------------ */

static void efs_concept_stat(const struct efs *fs, fuse_ino_t ino,
			     int64_t updated, struct stat *st)
{
	efs_synth_stat(fs, ino, EFS_CONCEPT_MODE, 1, st);
	st->st_mtim.tv_sec = (time_t)updated;
	st->st_mtim.tv_nsec = 0;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

static void efs_concept_entry(const struct efs *fs, fuse_ino_t ino,
			      const struct store_concept *c,
			      struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = EFS_TIMEOUT;
	e->entry_timeout = EFS_TIMEOUT;
	efs_concept_stat(fs, ino, c->updated, &e->attr);
}

int efs_concepts_lookup(struct efs *fs, fuse_req_t req, const char *name,
			struct fuse_entry_param *e)
{
	struct store_concept c;
	struct efs_caller who;
	fuse_ino_t ino;
	int r;

	r = store_concept_lookup(fs->st, name, &c);
	if (r < 0)
		return r;
	efs_caller_init(&who, req);
	if (!store_concept_visible(fs->st, c.id, &who.c)) {
		efs_caller_release(&who);
		store_concept_release(&c);
		return -ENOENT;
	}
	efs_caller_release(&who);
	if (!efs_concept_ino(c.id, &ino)) {
		efs_log(LOG_ERR, "concept '%s': id %" PRIu64 " is past the "
			"inode range (EOVERFLOW)", name, c.id);
		r = -EOVERFLOW;
	} else {
		r = efs_cnode_ref(ino, &c);
	}
	if (!r)
		efs_concept_entry(fs, ino, &c, e);
	store_concept_release(&c);
	return r;
}

int efs_concepts_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st)
{
	struct store_concept c;
	char *label;
	int64_t updated;
	int r;

	r = efs_cnode_get(ino, &label, &updated);
	if (r < 0)
		return r;
	/* Fresh times while the label still names this concept; the last
	 * known ones otherwise (see the top of the file). */
	if (store_concept_lookup(fs->st, label, &c) == 0) {
		if (c.id == efs_concept_id(ino)) {
			updated = c.updated;
			efs_cnode_set_updated(ino, updated);
		}
		store_concept_release(&c);
	}
	free(label);
	efs_concept_stat(fs, ino, updated, st);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Listing                                                            */
/* ------------------------------------------------------------------ */

struct efs_cfill {
	struct efs *fs;
	fuse_req_t req;
	struct efs_caller who;	/* concepts it may not know are skipped */
	bool plus;
	char *buf;
	size_t size, used;
	off_t skip;		/* concepts still to skip (rescan) */
	off_t next;		/* index of the entry being added */
	char *lastcopy;		/* copy of the last label added */
	int err;
};

/* Add one entry; 1 when the buffer is full. */
static int efs_cfill_add(struct efs_cfill *f, const char *name,
			 const struct fuse_entry_param *e)
{
	size_t room = f->size - f->used, n;

	if (f->plus)
		n = fuse_add_direntry_plus(f->req, f->buf + f->used, room,
					   name, e, f->next + 1);
	else
		n = fuse_add_direntry(f->req, f->buf + f->used, room, name,
				      &e->attr, f->next + 1);
	if (n > room)
		return 1;
	f->used += n;
	f->next++;
	return 0;
}

static int efs_cfill_cb(void *ctx, const struct store_concept *c)
{
	struct efs_cfill *f = ctx;
	struct fuse_entry_param e;
	fuse_ino_t ino;
	char *copy;

	if (!store_concept_visible(f->fs->st, c->id, &f->who.c))
		return 0;	/* made only of episodes the reader may not read */
	if (f->skip > 0) {
		f->skip--;
		return 0;
	}
	if (!efs_concept_ino(c->id, &ino))
		return 0;	/* lookup says why */
	efs_concept_entry(f->fs, ino, c, &e);
	copy = strdup(c->label);
	if (!copy) {
		f->err = -ENOMEM;
		return 1;
	}
	/* readdirplus hands the kernel a lookup count: count it first,
	 * give it back if the entry does not fit. */
	if (f->plus && (f->err = efs_cnode_ref(ino, c)) < 0) {
		free(copy);
		return 1;
	}
	if (efs_cfill_add(f, c->label, &e)) {
		if (f->plus)
			efs_concepts_forget(ino, 1);
		free(copy);
		return 1;
	}
	free(f->lastcopy);
	f->lastcopy = copy;
	return 0;
}

static void efs_cfill_dots(struct efs_cfill *f, off_t off)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));	/* ino 0: no lookup count taken */
	e.attr.st_mode = S_IFDIR;
	if (off < 1) {
		e.attr.st_ino = EFS_INO_CONCEPTS;
		f->next = 0;
		if (efs_cfill_add(f, ".", &e))
			return;
	}
	if (off < 2) {
		e.attr.st_ino = FUSE_ROOT_ID;
		f->next = 1;
		(void)efs_cfill_add(f, "..", &e);
	}
}

int efs_concepts_readdir(struct efs *fs, fuse_req_t req, size_t size,
			 off_t off, struct fuse_file_info *fi, bool plus,
			 struct efs_rbuf *rb)
{
	struct efs_dirh *dh = (struct efs_dirh *)(uintptr_t)fi->fh;
	struct efs_cfill f = { .fs = fs, .req = req, .plus = plus,
			       .size = size };
	const char *after = NULL;
	int r = 0;

	f.buf = malloc(size ? size : 1);
	if (!f.buf)
		return -ENOMEM;
	efs_cfill_dots(&f, off);
	if (off < 2 && f.next < 2)
		goto done;	/* the buffer did not even hold the dots */
	if (off >= 2) {
		f.next = off;
		if (dh && dh->last && dh->next == off)
			after = dh->last;
		else
			f.skip = off - 2;
	}
	efs_caller_init(&f.who, req);
	r = store_concept_list(fs->st, after, efs_cfill_cb, &f);
	efs_caller_release(&f.who);
	if (r > 0)
		r = 0;	/* the buffer is full */
	if (!r)
		r = f.err;
	if (r < 0) {
		free(f.lastcopy);
		free(f.buf);
		return r;
	}
	if (dh && f.lastcopy) {
		free(dh->last);
		dh->last = f.lastcopy;
		f.lastcopy = NULL;
		dh->next = f.next;
	}
done:
	free(f.lastcopy);
	rb->data = rb->alloc = f.buf;
	rb->len = f.used;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Content                                                            */
/* ------------------------------------------------------------------ */

int efs_concepts_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct efs_caller ec;
	struct efs_fh *fh;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	fh = efs_fh_new(EFS_C_CONCEPT, ino, fi->flags);
	if (!fh)
		return -ENOMEM;
	efs_caller_init(&ec, req);
	r = store_concept_render(fs->st, efs_concept_id(ino), &ec.c,
				 &fh->buf, &fh->len);
	efs_caller_release(&ec);
	if (r < 0) {
		if (r != -ENOENT)
			efs_log(LOG_NOTICE, "concept %" PRIu64 ": render: %s",
				efs_concept_id(ino), efs_errname(r));
		efs_fh_free(fs, fh);
		return r;
	}
	fi->fh = (uintptr_t)fh;
	fi->direct_io = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The store's change hook                                            */
/* ------------------------------------------------------------------ */

void efs_concepts_changed(void *ctx, enum store_change what, uint64_t id)
{
	struct efs *fs = ctx;
	fuse_ino_t ino;
	char *label = NULL;
	int64_t updated;

	switch (what) {
	case STORE_CHANGE_CONCEPTS_DIR:
		efs_notify_inval(fs, EFS_INO_CONCEPTS);
		break;
	case STORE_CHANGE_CONCEPT:
		/* A concept the kernel holds has a node (every lookup count
		 * is counted): the others have nothing cached to drop. */
		if (!efs_concept_ino(id, &ino) ||
		    efs_cnode_get(ino, &label, &updated) < 0)
			break;
		efs_notify_inval_entry(fs, EFS_INO_CONCEPTS, label);
		efs_notify_inval(fs, ino);
		free(label);
		break;
	case STORE_CHANGE_EPISODE_XATTR:
		/* The kernel caches no xattrs for FUSE: nothing to drop. */
		break;
	}
}
