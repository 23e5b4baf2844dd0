/*
 * tree.c - changing the tree: create, unlink, rmdir, rename, setattr.
 *
 * Each operation takes st->write_lock, reads what it needs, stages every
 * change (records, entries, postings, counters, the inode counter) in one
 * write batch and writes it.  Counters in struct store are published only
 * after the batch is written, so a failed write (ENOSPC, injected fault)
 * changes nothing, in the database or in memory.
 *
 * Folder times: creating, removing or renaming an entry sets the folder's
 * mtime and ctime, as POSIX asks; folder nlink is 2 + subfolders.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "store_i.h"

static struct timespec tree_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

void counts_stage(rocksdb_writebatch_t *b, struct store *st,
		  const struct count_delta *d)
{
	if (d->episodes)
		db_put_u64(b, st, CF_DEFAULT, "meta/episodes",
			   st->n_episodes + d->episodes);
	if (d->folders)
		db_put_u64(b, st, CF_DEFAULT, "meta/folders",
			   st->n_folders + d->folders);
	if (d->indexed)
		db_put_u64(b, st, CF_DEFAULT, "meta/indexed",
			   st->n_indexed + d->indexed);
	if (d->bytes)
		db_put_u64(b, st, CF_DEFAULT, "meta/bytes",
			   st->n_bytes + d->bytes);
	if (d->total_len)
		db_put_u64(b, st, CF_DEFAULT, "meta/total_len",
			   st->total_len + d->total_len);
}

void counts_publish(struct store *st, const struct count_delta *d)
{
	st->n_episodes += d->episodes;
	st->n_folders += d->folders;
	st->n_indexed += d->indexed;
	st->n_bytes += d->bytes;
	st->total_len += d->total_len;
}

static void tree_dirent_put(rocksdb_writebatch_t *b, struct store *st,
			    uint64_t parent, const char *name, uint64_t ino,
			    uint32_t mode)
{
	unsigned char key[8 + STORE_NAME_MAX], val[12];
	size_t n = strlen(name);

	dirent_key(key, parent, name, n);
	be64_put(val, ino);
	memcpy(val + 8, &mode, 4);
	rocksdb_writebatch_put_cf(b, st->cf[CF_DIRENTS], (const char *)key,
				  8 + n, (const char *)val, 12);
}

static void tree_dirent_del(rocksdb_writebatch_t *b, struct store *st,
			    uint64_t parent, const char *name)
{
	unsigned char key[8 + STORE_NAME_MAX];
	size_t n = strlen(name);

	dirent_key(key, parent, name, n);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_DIRENTS], (const char *)key,
				     8 + n);
}

/* Delete every key of CF that starts with the 8-byte INO. */
static void tree_del_prefix(rocksdb_writebatch_t *b, struct store *st,
			    enum db_cf cf, uint64_t ino)
{
	unsigned char lo[8], hi[8];

	be64_put(lo, ino);
	be64_put(hi, ino + 1);
	rocksdb_writebatch_delete_range_cf(b, st->cf[cf], (const char *)lo, 8,
					   (const char *)hi, 8);
}

/* Stage removal of a file: content, record, postings, xattrs, stats. */
int tree_drop_file(rocksdb_writebatch_t *b, struct store *st,
		   const struct inode_rec *r, struct count_delta *d)
{
	unsigned char key[8];
	int rc = bindings_drop(b, st, r->a.ino);

	if (rc)
		return rc;
	dirty_mark(b, st, r->a.ino);
	if (r->indexed) {
		struct text_terms t;

		rc = index_terms_of(st, r, &t);
		if (rc)
			return rc;
		index_update(b, st, r, &t, NULL);
		text_terms_release(&t);
		d->indexed--;
		d->total_len -= r->dl;
	}
	be64_put(key, r->a.ino);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_CONTENT], (const char *)key,
				     8);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_INODES], (const char *)key,
				     8);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_RSTAT], (const char *)key,
				     8);
	tree_del_prefix(b, st, CF_XATTRS, r->a.ino);
	d->episodes--;
	d->bytes -= (int64_t)r->a.size;
	return 0;
}

/* 0 if folder DIR has no entry, -ENOTEMPTY if it has one; a failed read
 * is an error, never "empty" (that would orphan the entries). */
int tree_dir_empty(struct store *st, uint64_t dir)
{
	unsigned char lo[8], hi[8];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	int rc;

	be64_put(lo, dir);
	be64_put(hi, dir + 1);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 8);
	it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_DIRENTS]);
	rocksdb_iter_seek(it, (const char *)lo, 8);
	rc = rocksdb_iter_valid(it) ? -ENOTEMPTY : 0;
	if (!rc)
		rc = db_iter_status(st, it, "folder entries");
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

/* Load the parent folder record, checking it is a folder. */
static int tree_get_dir(struct store *st, uint64_t ino, struct inode_rec *r)
{
	int rc = inode_get(st, ino, r);

	if (rc)
		return rc;
	if (!S_ISDIR(r->a.mode)) {
		inode_rec_release(r);
		return -ENOTDIR;
	}
	return 0;
}

static void tree_touch_dir(struct inode_rec *dir, int nlink_delta)
{
	dir->a.mtime = dir->a.ctime = tree_now();
	dir->a.nlink += nlink_delta;
}

static void tree_new_rec(struct inode_rec *r, uint64_t ino, uint64_t parent,
			 const char *name, uint32_t mode, uint32_t uid,
			 uint32_t gid)
{
	memset(r, 0, sizeof(*r));
	r->a.ino = ino;
	r->a.parent = parent;
	r->a.mode = mode;
	r->a.uid = uid;
	r->a.gid = gid;
	r->a.nlink = S_ISDIR(mode) ? 2 : 1;
	r->a.atime = r->a.mtime = r->a.ctime = r->a.crtime = tree_now();
	/* Encoding confidence of a new episode (DESIGN section 2). */
	r->a.confidence = 0.7;
	r->a.hash = XXH64(NULL, 0, 0);
	r->indexed = S_ISREG(mode) && !name_is_hidden(name);
	r->name = (char *)name;
}

static int tree_create_locked(struct store *st, uint64_t parent,
			      const char *name, uint32_t mode, uint32_t uid,
			      uint32_t gid, struct store_attr *out)
{
	struct inode_rec dir, r;
	struct count_delta d = { 0 };
	rocksdb_writebatch_t *b;
	uint64_t ino;
	int rc = tree_get_dir(st, parent, &dir);

	if (rc)
		return rc;
	rc = dirent_get(st, parent, name, &ino);
	if (rc != -ENOENT) {
		inode_rec_release(&dir);
		return rc ? rc : -EEXIST;
	}
	tree_new_rec(&r, st->next_ino, parent, name, mode, uid, gid);
	tree_touch_dir(&dir, S_ISDIR(mode) ? 1 : 0);
	b = rocksdb_writebatch_create();
	inode_put(b, st, &r);
	inode_put(b, st, &dir);
	tree_dirent_put(b, st, parent, name, r.a.ino, mode);
	db_put_u64(b, st, CF_DEFAULT, "meta/next_ino", st->next_ino + 1);
	if (S_ISDIR(mode))
		d.folders = 1;
	else
		d.episodes = 1;
	if (r.indexed)
		d.indexed = 1;
	counts_stage(b, st, &d);
	rc = db_write(st, b, false);
	rocksdb_writebatch_destroy(b);
	inode_rec_release(&dir);
	if (rc)
		return rc;
	st->next_ino++;
	counts_publish(st, &d);
	*out = r.a;
	return 0;
}

int store_create(struct store *st, uint64_t parent, const char *name,
		 uint32_t mode, uint32_t uid, uint32_t gid,
		 struct store_attr *out)
{
	int rc = name_check(name);

	if (rc)
		return rc;
	if (!S_ISREG(mode) && !S_ISDIR(mode))
		return -EPERM;
	pthread_mutex_lock(&st->write_lock);
	rc = tree_create_locked(st, parent, name, mode, uid, gid, out);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}

/* Look NAME up in PARENT and load both records. */
static int tree_get_entry(struct store *st, uint64_t parent, const char *name,
			  struct inode_rec *dir, struct inode_rec *r)
{
	uint64_t ino;
	int rc = tree_get_dir(st, parent, dir);

	if (rc)
		return rc;
	rc = dirent_get(st, parent, name, &ino);
	if (!rc)
		rc = inode_get(st, ino, r);
	if (rc)
		inode_rec_release(dir);
	return rc;
}

static int tree_remove_locked(struct store *st, uint64_t parent,
			      const char *name, bool want_dir)
{
	struct inode_rec dir, r;
	struct count_delta d = { 0 };
	rocksdb_writebatch_t *b;
	int rc = tree_get_entry(st, parent, name, &dir, &r);

	if (rc)
		return rc;
	if (want_dir && !S_ISDIR(r.a.mode))
		rc = -ENOTDIR;
	else if (!want_dir && S_ISDIR(r.a.mode))
		rc = -EISDIR;
	else if (want_dir)
		rc = tree_dir_empty(st, r.a.ino);
	b = rocksdb_writebatch_create();
	if (!rc && want_dir) {
		unsigned char key[8];

		be64_put(key, r.a.ino);
		rocksdb_writebatch_delete_cf(b, st->cf[CF_INODES],
					     (const char *)key, 8);
		tree_del_prefix(b, st, CF_XATTRS, r.a.ino);
		d.folders = -1;
	} else if (!rc) {
		rc = tree_drop_file(b, st, &r, &d);
	}
	if (!rc) {
		tree_dirent_del(b, st, parent, name);
		tree_touch_dir(&dir, want_dir ? -1 : 0);
		inode_put(b, st, &dir);
		counts_stage(b, st, &d);
		rc = db_write(st, b, false);
	}
	if (!rc)
		counts_publish(st, &d);
	rocksdb_writebatch_destroy(b);
	inode_rec_release(&r);
	inode_rec_release(&dir);
	return rc;
}

int store_unlink(struct store *st, uint64_t parent, const char *name)
{
	int rc;

	pthread_mutex_lock(&st->write_lock);
	rc = tree_remove_locked(st, parent, name, false);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}

int store_rmdir(struct store *st, uint64_t parent, const char *name)
{
	int rc;

	if (!strcmp(name, "."))
		return -EINVAL;
	if (!strcmp(name, ".."))
		return -ENOTEMPTY;
	pthread_mutex_lock(&st->write_lock);
	rc = tree_remove_locked(st, parent, name, true);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}
