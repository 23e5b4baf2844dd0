/*
 * rename.c - atomic rename and attribute changes.
 *
 * rename(2) semantics in one batch: the old entry goes, the new entry
 * comes, an existing target (episode or empty folder) is dropped with all
 * its index entries, and folder link counts and times follow.  An episode
 * keeps its inode number (and so its postings) across a rename; only a
 * move between a '.'-name and a plain name adds or drops its postings,
 * because hidden names are never indexed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_i.h"

static struct timespec rename_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* Is folder ANC equal to DIR or above it? */
static int rename_is_ancestor(struct store *st, uint64_t anc, uint64_t dir)
{
	for (int depth = 0; depth < 4096; depth++) {
		struct store_attr a;
		int rc;

		if (dir == anc)
			return 1;
		if (dir == STORE_ROOT_INO)
			return 0;
		rc = store_getattr(st, dir, &a);
		if (rc)
			return rc;
		dir = a.parent;
	}
	return -ELOOP;
}

/* Stage the removal of the existing target T of a rename of R. */
static int rename_drop_target(rocksdb_writebatch_t *b, struct store *st,
			      const struct inode_rec *r,
			      const struct inode_rec *t, struct inode_rec *ndir,
			      unsigned flags, struct count_delta *d)
{
	unsigned char key[8];

	if (flags & STORE_RENAME_NOREPLACE)
		return -EEXIST;
	if (S_ISDIR(r->a.mode) && !S_ISDIR(t->a.mode))
		return -ENOTDIR;
	if (!S_ISDIR(r->a.mode) && S_ISDIR(t->a.mode))
		return -EISDIR;
	if (!S_ISDIR(t->a.mode))
		return tree_drop_file(b, st, t, d);
	be64_put(key, t->a.ino);
	/* An empty folder target: the caller checked emptiness. */
	rocksdb_writebatch_delete_cf(b, st->cf[CF_INODES], (const char *)key,
				     8);
	ndir->a.nlink--;
	d->folders--;
	return 0;
}

/* Add or drop R's postings when it moves between hidden and plain. */
static int rename_reindex(rocksdb_writebatch_t *b, struct store *st,
			  struct inode_rec *r, const char *newname,
			  struct count_delta *d)
{
	bool want = S_ISREG(r->a.mode) && !name_is_hidden(newname);
	struct text_terms t;
	int rc;

	if (want == r->indexed)
		return 0;
	rc = index_terms_of(st, r, &t);
	if (rc)
		return rc;
	if (want) {
		r->dl = t.length;
		index_update(b, st, r, NULL, &t);
		d->indexed++;
		d->total_len += r->dl;
	} else {
		index_update(b, st, r, &t, NULL);
		d->indexed--;
		d->total_len -= r->dl;
		r->dl = 0;
	}
	r->indexed = want;
	dirty_mark(b, st, r->a.ino);
	text_terms_release(&t);
	return 0;
}

static void rename_dirents(rocksdb_writebatch_t *b, struct store *st,
			   uint64_t parent, const char *name,
			   uint64_t newparent, const char *newname,
			   const struct inode_rec *r)
{
	unsigned char key[8 + STORE_NAME_MAX], val[12];
	size_t n = strlen(name), nn = strlen(newname);

	dirent_key(key, parent, name, n);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_DIRENTS], (const char *)key,
				     8 + n);
	dirent_key(key, newparent, newname, nn);
	be64_put(val, r->a.ino);
	memcpy(val + 8, &r->a.mode, 4);
	rocksdb_writebatch_put_cf(b, st->cf[CF_DIRENTS], (const char *)key,
				  8 + nn, (const char *)val, 12);
}

struct rename_ctx {
	struct inode_rec dir, ndir, r, t;
	bool have_ndir, have_t;
};

static void rename_ctx_release(struct rename_ctx *c)
{
	inode_rec_release(&c->dir);
	inode_rec_release(&c->r);
	if (c->have_ndir)
		inode_rec_release(&c->ndir);
	if (c->have_t)
		inode_rec_release(&c->t);
}

static int rename_load(struct store *st, struct rename_ctx *c,
		       uint64_t parent, const char *name, uint64_t newparent,
		       const char *newname)
{
	uint64_t tino;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = inode_get(st, parent, &c->dir);
	if (rc)
		return rc;
	rc = dirent_get(st, parent, name, &tino);
	if (!rc)
		rc = inode_get(st, tino, &c->r);
	if (rc) {
		inode_rec_release(&c->dir);
		return rc;
	}
	if (newparent != parent) {
		rc = inode_get(st, newparent, &c->ndir);
		if (rc)
			return rc;
		c->have_ndir = true;
		if (!S_ISDIR(c->ndir.a.mode))
			return -ENOTDIR;
	}
	rc = dirent_get(st, newparent, newname, &tino);
	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = inode_get(st, tino, &c->t);
	c->have_t = !rc;
	return rc;
}

static int rename_stage(rocksdb_writebatch_t *b, struct store *st,
			struct rename_ctx *c, uint64_t parent,
			const char *name, uint64_t newparent,
			const char *newname, unsigned flags,
			struct count_delta *d)
{
	struct inode_rec *ndir = c->have_ndir ? &c->ndir : &c->dir;
	bool isdir = S_ISDIR(c->r.a.mode);
	int rc = 0;

	if (isdir) {
		rc = rename_is_ancestor(st, c->r.a.ino, newparent);
		if (rc)
			return rc < 0 ? rc : -EINVAL;
	}
	if (c->have_t) {
		if (S_ISDIR(c->t.a.mode) && isdir) {
			rc = tree_dir_empty(st, c->t.a.ino);
			if (rc)
				return rc;
		}
		rc = rename_drop_target(b, st, &c->r, &c->t, ndir, flags, d);
		if (rc)
			return rc;
	}
	rc = rename_reindex(b, st, &c->r, newname, d);
	if (rc)
		return rc;
	rename_dirents(b, st, parent, name, newparent, newname, &c->r);
	if (isdir && c->have_ndir) {
		c->dir.a.nlink--;
		c->ndir.a.nlink++;
	}
	free(c->r.name);
	c->r.name = strdup(newname);
	if (!c->r.name)
		return -ENOMEM;
	c->r.a.parent = newparent;
	c->r.a.ctime = rename_now();
	c->dir.a.mtime = c->dir.a.ctime = c->r.a.ctime;
	ndir->a.mtime = ndir->a.ctime = c->r.a.ctime;
	inode_put(b, st, &c->r);
	inode_put(b, st, &c->dir);
	if (c->have_ndir)
		inode_put(b, st, &c->ndir);
	return 0;
}

static int rename_locked(struct store *st, uint64_t parent, const char *name,
			 uint64_t newparent, const char *newname,
			 unsigned flags)
{
	struct rename_ctx c;
	struct count_delta d = { 0 };
	rocksdb_writebatch_t *b;
	int rc = rename_load(st, &c, parent, name, newparent, newname);

	if (!rc && c.have_t && c.t.a.ino == c.r.a.ino)
		rc = 1;	/* same entry: nothing to do */
	if (rc) {
		rename_ctx_release(&c);
		return rc > 0 ? 0 : rc;
	}
	b = rocksdb_writebatch_create();
	rc = rename_stage(b, st, &c, parent, name, newparent, newname, flags,
			  &d);
	if (!rc) {
		counts_stage(b, st, &d);
		rc = db_write(st, b, false);
	}
	if (!rc)
		counts_publish(st, &d);
	rocksdb_writebatch_destroy(b);
	rename_ctx_release(&c);
	return rc;
}

int store_rename(struct store *st, uint64_t parent, const char *name,
		 uint64_t newparent, const char *newname, unsigned flags)
{
	int rc = name_check(newname);

	if (!rc)
		rc = name_check(name);
	if (rc)
		return rc;
	pthread_mutex_lock(&st->write_lock);
	rc = rename_locked(st, parent, name, newparent, newname, flags);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}

/* ---- setattr ------------------------------------------------------- */

static void rename_apply_attr(struct inode_rec *r, const struct store_attr *in,
			      unsigned mask)
{
	if (mask & STORE_SET_MODE)
		r->a.mode = (r->a.mode & S_IFMT) | (in->mode & 07777);
	if (mask & STORE_SET_UID)
		r->a.uid = in->uid;
	if (mask & STORE_SET_GID)
		r->a.gid = in->gid;
	if (mask & STORE_SET_ATIME)
		r->a.atime = in->atime;
	if (mask & STORE_SET_MTIME)
		r->a.mtime = in->mtime;
	r->a.ctime = rename_now();
}

static int setattr_locked(struct store *st, uint64_t ino,
			  const struct store_attr *in, unsigned mask,
			  struct store_attr *out)
{
	struct inode_rec r;
	struct text_terms t = { 0 };
	rocksdb_writebatch_t *b;
	bool reindex;
	int rc = inode_get(st, ino, &r);

	if (rc)
		return rc;
	/* Postings carry the time: a new mtime rewrites them. */
	reindex = r.indexed && (mask & STORE_SET_MTIME) &&
		  in->mtime.tv_sec != r.a.mtime.tv_sec;
	if (reindex)
		rc = index_terms_of(st, &r, &t);
	b = rocksdb_writebatch_create();
	if (!rc) {
		rename_apply_attr(&r, in, mask);
		if (reindex) {
			index_update(b, st, &r, &t, &t);
			dirty_mark(b, st, ino);
		}
		inode_put(b, st, &r);
		rc = db_write(st, b, false);
	}
	if (!rc)
		*out = r.a;
	rocksdb_writebatch_destroy(b);
	text_terms_release(&t);
	inode_rec_release(&r);
	return rc;
}

int store_setattr(struct store *st, uint64_t ino, const struct store_attr *in,
		  unsigned mask, struct store_attr *out)
{
	int rc;

	pthread_mutex_lock(&st->write_lock);
	rc = setattr_locked(st, ino, in, mask, out);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}
