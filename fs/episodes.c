/*
 * episodes.c - episodes/: the stored tree of folders and episodes.
 *
 * A thin translation of file operations into store calls; the content life
 * cycle of an open episode (buffer, commit at close) is in handle.c.
 *
 * Choices, with the errno a user sees:
 *  - Hard links and symlinks: EPERM (the store has one name per inode;
 *    recall names an episode by its one path).  mknod: regular files are
 *    created as by open(O_CREAT) (POSIX allows mknod for them); FIFOs,
 *    sockets and devices get EPERM.
 *  - rename: RENAME_NOREPLACE is honoured; RENAME_EXCHANGE and
 *    RENAME_WHITEOUT get EINVAL (the store cannot swap atomically).
 *  - Owner and mode come from the caller: uid, gid (or the folder's group
 *    under a set-group-ID folder, whose new subfolders inherit the bit, as
 *    on Linux) and mode & ~umask (the kernel passes the umask because
 *    init asks for FUSE_CAP_DONT_MASK).
 *    Permission checks are the kernel's (default_permissions).
 *  - Names and attributes are cached by the kernel for EFS_TIMEOUT_STORE,
 *    negative lookups included: they change only through this mount's
 *    requests, which update the kernel's copy.
 *  - Unlink or rename over an open episode: the open fds keep their
 *    buffer; see handle.c.
 *  - A read-only open reads the content committed when it opened, never
 *    another fd's uncommitted writes: handle.c, invariant 5.
 *  - Times: atime/mtime set on an episode with uncommitted writes are
 *    kept with them and committed together at close (handle.c), so that
 *    `cp -p` and engramctl import (write, futimens, close) keep the time
 *    they set instead of getting the commit's "now", and the episode is
 *    written and indexed once, with that time.  A stat in between shows
 *    the time set.  Other states (nothing uncommitted, or a write refused
 *    with EFBIG) go to the store at once, after a commit of what is
 *    pending, as before.
 *  - Extended attributes are the store's (store_xattr_*), except that a
 *    get of user.engram.concepts is answered by store_episode_concepts:
 *    "label<TAB>strength" lines, one per concept the episode is bound to,
 *    empty when none.  It stays read-only (the store refuses set and
 *    remove with EPERM) and is never listed by listxattr, so `cp -a` and
 *    rsync -X do not try to copy it and fail.  The kernel does not cache
 *    xattrs, so a consolidation that changes it needs no invalidation.
 *
 * Directory offsets: "." is entry 0, ".." entry 1, the n-th name entry
 * n+2; the offset of an entry is its index + 1.  A directory handle
 * remembers the last name returned and the offset after it, so a listing
 * resumes with store_readdir(after=last) in O(1) however large the folder;
 * any other offset (seekdir) rescans from the start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>	/* RENAME_NOREPLACE */
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "efs.h"

/* Computed from the episode's bindings; see the top of the file. */
#define EFS_XATTR_CONCEPTS "user.engram.concepts"

static void efs_ep_entry(struct efs *fs, const struct store_attr *a,
			 struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->attr_timeout = EFS_TIMEOUT_STORE;
	e->entry_timeout = EFS_TIMEOUT_STORE;
	efs_store_stat(fs, a, &e->attr);
}

int efs_ep_lookup(struct efs *fs, uint64_t parent, const char *name,
		  struct fuse_entry_param *e)
{
	struct store_attr a;
	int r;

	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	r = store_lookup(fs->st, parent, name, &a);
	if (r == -ENOENT) {
		/* A negative entry the kernel may cache. */
		memset(e, 0, sizeof(*e));
		e->entry_timeout = EFS_TIMEOUT_STORE;
		return 0;
	}
	if (r < 0)
		return r;
	efs_ep_entry(fs, &a, e);
	return 0;
}

int efs_ep_getattr(struct efs *fs, uint64_t ino, struct stat *st)
{
	struct store_attr a;
	int r;

	r = store_getattr(fs->st, ino, &a);
	if (r == -ENOENT) {
		/* Unlinked but open: a writer's buffer or a reader's
		 * snapshot.  fstat(2) gets here with no file handle. */
		r = efs_estate_orphan_stat(fs, ino, st);
		return r == -ENOENT ? efs_reader_stat(fs, ino, st) : r;
	}
	if (r < 0)
		return r;
	efs_store_stat(fs, &a, st);
	return 0;
}

/* fstat(2) of a reader whose episode was unlinked: its snapshot. */
int efs_ep_fgetattr(struct efs *fs, const struct efs_fh *fh, struct stat *st)
{
	struct store_attr a = fh->attr;

	if (fh->cls != EFS_C_STORE || fh->es || !a.ino)
		return -ENOENT;
	a.size = fh->len;
	efs_store_stat(fs, &a, st);
	st->st_nlink = 0;
	return 0;
}

/* Truncate INO to SIZE: through the open fd's buffer when FH can write
 * (committed at close), else load, cut and commit now. */
static int efs_ep_truncate(struct efs *fs, uint64_t ino, off_t size,
			   struct efs_fh *fh)
{
	struct efs_estate *es;
	int r;

	if (fh && fh->es && fh->writable)
		return efs_estate_truncate(fs, fh->es, size);
	r = efs_estate_open(fs, ino, false, &es);
	if (r < 0)
		return r;
	r = efs_estate_truncate(fs, es, size);
	if (!r)
		r = efs_estate_commit(fs, es, 0);
	efs_estate_put(fs, es);
	return r;
}

static void efs_ep_time(const struct timespec *in, bool now,
			struct timespec *out)
{
	if (now)
		clock_gettime(CLOCK_REALTIME, out);
	else
		*out = *in;
}

/*
 * Times A (the STORE_SET_ATIME/MTIME bits of *MASK) on episode INO when
 * it is open for writing: kept in its state while it has uncommitted
 * writes (the bits leave *MASK), else whatever is pending is committed
 * first so that the commit's "now" cannot overwrite them.
 */
static int efs_ep_times_pending(struct efs *fs, uint64_t ino,
				const struct store_attr *a, unsigned *mask)
{
	struct efs_estate *es = efs_estate_find(fs, ino);
	int r = 0;

	if (!es)
		return 0;
	if (efs_estate_set_times(es, *mask & STORE_SET_ATIME ? &a->atime : NULL,
				 *mask & STORE_SET_MTIME ? &a->mtime : NULL))
		*mask &= ~(STORE_SET_ATIME | STORE_SET_MTIME);
	else
		r = efs_estate_commit(fs, es, 0);
	efs_estate_put(fs, es);
	return r;
}

int efs_ep_setattr(struct efs *fs, fuse_req_t req, uint64_t ino,
		   const struct stat *in, int to_set, struct efs_fh *fh,
		   struct stat *out)
{
	struct store_attr a, res;
	unsigned mask = 0;
	int r;

	if (to_set & FUSE_SET_ATTR_SIZE) {
		r = efs_ep_truncate(fs, ino, in->st_size, fh);
		if (r < 0)
			return r;
	}
	memset(&a, 0, sizeof(a));
	if (to_set & FUSE_SET_ATTR_MODE) {
		a.mode = in->st_mode;
		mask |= STORE_SET_MODE;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		a.uid = in->st_uid;
		mask |= STORE_SET_UID;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		a.gid = in->st_gid;
		mask |= STORE_SET_GID;
	}
	if (to_set & FUSE_SET_ATTR_ATIME) {
		efs_ep_time(&in->st_atim, to_set & FUSE_SET_ATTR_ATIME_NOW,
			    &a.atime);
		mask |= STORE_SET_ATIME;
	}
	if (to_set & FUSE_SET_ATTR_MTIME) {
		efs_ep_time(&in->st_mtim, to_set & FUSE_SET_ATTR_MTIME_NOW,
			    &a.mtime);
		mask |= STORE_SET_MTIME;
	}
	if (mask & (STORE_SET_ATIME | STORE_SET_MTIME)) {
		r = efs_ep_times_pending(fs, ino, &a, &mask);
		if (r < 0)
			return r;
	}
	if (mask) {
		r = store_setattr(fs->st, ino, &a, mask, &res);
		if (r < 0)
			return r;
		efs_store_stat(fs, &res, out);
		return 0;
	}
	return efs_ep_getattr(fs, ino, out);
}

/* ------------------------------------------------------------------ */
/* Directories                                                        */
/* ------------------------------------------------------------------ */

struct efs_ep_fill {
	struct efs *fs;
	fuse_req_t req;
	bool plus;
	char *buf;
	size_t size, used;
	off_t skip;		/* names still to skip (rescan) */
	off_t next;		/* index of the entry being added */
	char last[STORE_NAME_MAX + 1];	/* the last name added, or "" */
};

static int efs_ep_fill_one(struct efs_ep_fill *f, const char *name,
			   const struct stat *st,
			   const struct fuse_entry_param *e)
{
	size_t room = f->size - f->used, n;

	if (f->plus)
		n = fuse_add_direntry_plus(f->req, f->buf + f->used, room,
					   name, e, f->next + 1);
	else
		n = fuse_add_direntry(f->req, f->buf + f->used, room, name,
				      st, f->next + 1);
	if (n > room)
		return 1;
	f->used += n;
	f->next++;
	return 0;
}

static int efs_ep_fill_cb(void *ctx, const char *name,
			  const struct store_attr *a)
{
	struct efs_ep_fill *f = ctx;
	struct fuse_entry_param e;

	if (f->skip > 0) {
		f->skip--;
		return 0;
	}
	if (f->plus) {
		efs_ep_entry(f->fs, a, &e);
	} else {	/* a plain readdir gives the kernel number and type */
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = a->ino;
		e.attr.st_mode = a->mode;
	}
	if (efs_ep_fill_one(f, name, &e.attr, &e))
		return 1;
	strcpy(f->last, name);	/* the store's names fit */
	return 0;
}

static int efs_ep_fill_dots(struct efs_ep_fill *f, uint64_t ino,
			    off_t off)
{
	struct fuse_entry_param e;
	struct store_attr a;
	int r;

	r = store_getattr(f->fs->st, ino, &a);
	if (r < 0)
		return r;
	memset(&e, 0, sizeof(e));	/* ino 0: no lookup count taken */
	e.attr.st_mode = S_IFDIR;
	if (off < 1) {
		e.attr.st_ino = ino;
		f->next = 0;
		if (efs_ep_fill_one(f, ".", &e.attr, &e))
			return 0;
	}
	if (off < 2) {
		e.attr.st_ino = ino == STORE_ROOT_INO ? FUSE_ROOT_ID : a.parent;
		f->next = 1;
		(void)efs_ep_fill_one(f, "..", &e.attr, &e);
	}
	return 0;
}

int efs_ep_readdir(struct efs *fs, fuse_req_t req, uint64_t ino,
		   size_t size, off_t off, struct fuse_file_info *fi,
		   bool plus, struct efs_rbuf *rb)
{
	struct efs_dirh *dh = (struct efs_dirh *)(uintptr_t)fi->fh;
	struct efs_ep_fill f = { .fs = fs, .req = req, .plus = plus,
				 .size = size };
	const char *after = NULL;
	int r;

	f.buf = malloc(size);
	if (!f.buf)
		return -ENOMEM;
	r = efs_ep_fill_dots(&f, ino, off);
	if (r < 0)
		goto fail;
	if (off < 2 && f.next < 2)
		goto done;	/* the buffer did not even hold the dots */
	if (off >= 2) {
		f.next = off;
		if (dh && dh->last && dh->next == off)
			after = dh->last;
		else
			f.skip = off - 2;
	}
	/* Without attributes (plain readdir) no inode needs reading. */
	r = (plus ? store_readdir : store_readdir_names)(fs->st, ino, after,
							 efs_ep_fill_cb, &f);
	if (r < 0)
		goto fail;
	if (dh && f.last[0]) {
		char *copy = strdup(f.last);

		if (!copy) {
			r = -ENOMEM;
			goto fail;
		}
		free(dh->last);
		dh->last = copy;
		dh->next = f.next;
	}
done:
	rb->data = rb->alloc = f.buf;
	rb->len = f.used;
	return 0;
fail:
	free(f.buf);
	return r;
}

/* ------------------------------------------------------------------ */
/* Making and removing names                                          */
/* ------------------------------------------------------------------ */

/* Owner, group and mode of a new node in PARENT for the caller. */
static int efs_ep_new_owner(struct efs *fs, fuse_req_t req, uint64_t parent,
			    mode_t *mode, uint32_t *uid, uint32_t *gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct store_attr pa;
	int r;

	r = store_getattr(fs->st, parent, &pa);
	if (r < 0)
		return r;
	if (!S_ISDIR(pa.mode))
		return -ENOTDIR;
	*uid = ctx->uid;
	*gid = ctx->gid;
	*mode = (*mode & S_IFMT) | (*mode & 07777 & ~ctx->umask);
	if (pa.mode & S_ISGID) {
		*gid = pa.gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
	return 0;
}

static int efs_ep_make(struct efs *fs, fuse_req_t req, uint64_t parent,
		       const char *name, mode_t mode, struct store_attr *a)
{
	uint32_t uid, gid;
	int r;

	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	r = efs_ep_new_owner(fs, req, parent, &mode, &uid, &gid);
	if (r < 0)
		return r;
	return store_create(fs->st, parent, name, mode, uid, gid, a);
}

/* Open an episode whose attributes are A into FI. */
static int efs_ep_open_attr(struct efs *fs, const struct store_attr *a,
			    struct fuse_file_info *fi)
{
	bool trunc = (fi->flags & O_TRUNC) &&
		     (fi->flags & O_ACCMODE) != O_RDONLY;
	struct efs_fh *fh;
	int r;

	if (S_ISDIR(a->mode))
		return -EISDIR;
	fh = efs_fh_new(EFS_C_STORE, a->ino, fi->flags);
	if (!fh)
		return -ENOMEM;
	if (!fh->writable) {
		/* Readers see the committed content as of their open, through
		 * direct I/O: the page cache holds writers' bytes (handle.c,
		 * invariant 5), and a reader that used it would see a writer's
		 * uncommitted bytes, a torn mix DESIGN rules out. */
		r = store_content_read(fs->st, a->ino, &fh->buf, &fh->len);
		fh->attr = *a;
		fi->direct_io = 1;
	} else {
		r = efs_estate_open(fs, a->ino, trunc, &fh->es);
		fi->keep_cache = 1;	/* the notifier invalidates on change */
		fi->direct_io = 0;
	}
	if (r < 0) {
		efs_fh_free(fs, fh);
		return r;
	}
	if (!fh->writable)
		efs_reader_add(fh);
	fi->fh = (uintptr_t)fh;
	return 0;
}

int efs_ep_create(struct efs *fs, fuse_req_t req, uint64_t parent,
		  const char *name, mode_t mode, struct fuse_file_info *fi,
		  struct fuse_entry_param *e)
{
	struct store_attr a;
	int r;

	r = efs_ep_make(fs, req, parent, name, S_IFREG | (mode & 07777), &a);
	if (r == -EEXIST && !(fi->flags & O_EXCL))
		/* Created by someone else since the kernel's lookup: open
		 * it, as open(2) without O_EXCL does. */
		r = store_lookup(fs->st, parent, name, &a);
	if (r < 0)
		return r;
	r = efs_ep_open_attr(fs, &a, fi);
	if (r < 0)
		return r;
	efs_ep_entry(fs, &a, e);
	return 0;
}

int efs_ep_mknod(struct efs *fs, fuse_req_t req, uint64_t parent,
		 const char *name, mode_t mode, struct fuse_entry_param *e)
{
	struct store_attr a;
	int r;

	if (!S_ISREG(mode))
		return -EPERM;
	r = efs_ep_make(fs, req, parent, name, mode, &a);
	if (r < 0)
		return r;
	efs_ep_entry(fs, &a, e);
	return 0;
}

int efs_ep_mkdir(struct efs *fs, fuse_req_t req, uint64_t parent,
		 const char *name, mode_t mode, struct fuse_entry_param *e)
{
	struct store_attr a;
	int r;

	r = efs_ep_make(fs, req, parent, name, S_IFDIR | (mode & 07777), &a);
	if (r < 0)
		return r;
	efs_ep_entry(fs, &a, e);
	return 0;
}

/*
 * Run a store call that may remove episode TARGET (unlink, rename over)
 * with TARGET's open state, if any, locked, and mark it unlinked when the
 * call succeeds.
 */
static int efs_ep_removing(struct efs *fs, uint64_t target,
			   int (*call)(struct efs *, const void *),
			   const void *arg)
{
	struct efs_estate *es = target ? efs_estate_find(fs, target) : NULL;
	int r;

	if (!es)
		return call(fs, arg);
	efs_estate_lock(es);
	r = call(fs, arg);
	if (!r)
		efs_estate_mark_unlinked(es);
	efs_estate_unlock(es);
	efs_estate_put(fs, es);
	return r;
}

/* The episode (not folder) named NAME in PARENT, or 0. */
static uint64_t efs_ep_file_ino(struct efs *fs, uint64_t parent,
				const char *name)
{
	struct store_attr a;

	if (store_lookup(fs->st, parent, name, &a) < 0 || !S_ISREG(a.mode))
		return 0;
	return a.ino;
}

struct efs_ep_names {
	uint64_t parent, newparent;
	const char *name, *newname;
	unsigned flags;
};

static int efs_ep_unlink_call(struct efs *fs, const void *arg)
{
	const struct efs_ep_names *n = arg;

	return store_unlink(fs->st, n->parent, n->name);
}

static int efs_ep_rename_call(struct efs *fs, const void *arg)
{
	const struct efs_ep_names *n = arg;

	return store_rename(fs->st, n->parent, n->name, n->newparent,
			    n->newname, n->flags);
}

int efs_ep_unlink(struct efs *fs, uint64_t parent, const char *name)
{
	struct efs_ep_names n = { .parent = parent, .name = name };

	return efs_ep_removing(fs, efs_ep_file_ino(fs, parent, name),
			       efs_ep_unlink_call, &n);
}

int efs_ep_rmdir(struct efs *fs, uint64_t parent, const char *name)
{
	return store_rmdir(fs->st, parent, name);
}

int efs_ep_rename(struct efs *fs, uint64_t parent, const char *name,
		  uint64_t newparent, const char *newname, unsigned flags)
{
	struct efs_ep_names n = { .parent = parent, .name = name,
				  .newparent = newparent,
				  .newname = newname };
	uint64_t target, source;

	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	if (strlen(newname) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (flags & RENAME_NOREPLACE)
		n.flags |= STORE_RENAME_NOREPLACE;
	target = (flags & RENAME_NOREPLACE) ? 0 :
		 efs_ep_file_ino(fs, newparent, newname);
	source = target ? efs_ep_file_ino(fs, parent, name) : 0;
	if (target && target == source)
		target = 0;	/* same episode under both names */
	return efs_ep_removing(fs, target, efs_ep_rename_call, &n);
}

/* ------------------------------------------------------------------ */
/* Content                                                            */
/* ------------------------------------------------------------------ */

int efs_ep_open(struct efs *fs, fuse_req_t req, uint64_t ino,
		struct fuse_file_info *fi)
{
	struct store_attr a;
	int r;

	r = store_getattr(fs->st, ino, &a);
	if (r < 0)
		return r;
	return efs_ep_open_attr(fs, &a, fi);
}

int efs_ep_read(struct efs *fs, struct efs_fh *fh, size_t size, off_t off,
		struct efs_rbuf *rb)
{
	char *p;
	size_t n;
	int r;

	if (!fh->es)	/* a reader's snapshot */
		return efs_fh_read(fh, size, off, rb);
	r = efs_estate_read(fh->es, size, off, &p, &n);
	if (r < 0)
		return r;
	rb->data = rb->alloc = p;
	rb->len = n;
	return 0;
}

int efs_ep_write(struct efs *fs, struct efs_fh *fh, const char *buf,
		 size_t size, off_t off)
{
	if (!fh->es)
		return -EBADF;
	return efs_estate_write(fs, fh->es, buf, size, off);
}

int efs_ep_flush(struct efs *fs, struct efs_fh *fh)
{
	if (!fh->writable || !fh->es)
		return 0;	/* handle.c invariant 4 */
	return efs_estate_commit(fs, fh->es, 0);
}

/* Commit, then make it durable with store_sync: concurrent fsyncs share
 * one sync of the log (store/commit.c, group commit). */
int efs_ep_fsync(struct efs *fs, struct efs_fh *fh)
{
	int r = fh->es ? efs_estate_commit(fs, fh->es, 0) : 0;

	return r < 0 ? r : store_sync(fs->st);
}

void efs_ep_release(struct efs *fs, struct efs_fh *fh)
{
	int r;

	/* Writes after the last flush (mmap write-back) commit here; the
	 * error has no caller left to go to but the log. */
	if (!fh->writable || !fh->es)
		return;
	r = efs_estate_commit(fs, fh->es, 0);
	if (r < 0)
		efs_log(LOG_ERR, "episode %llu: commit at release: %s",
			(unsigned long long)fh->ino, efs_errname(r));
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                */
/* ------------------------------------------------------------------ */

int efs_ep_getxattr(struct efs *fs, uint64_t ino, const char *name,
		    char **val, size_t *len)
{
	if (!strcmp(name, EFS_XATTR_CONCEPTS))
		return store_episode_concepts(fs->st, ino, val, len);
	return store_xattr_get(fs->st, ino, name, val, len);
}

int efs_ep_listxattr(struct efs *fs, uint64_t ino, char **val, size_t *len)
{
	return store_xattr_list(fs->st, ino, val, len);
}

int efs_ep_setxattr(struct efs *fs, uint64_t ino, const char *name,
		    const char *val, size_t len, int flags)
{
	int sflags = 0;

	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (flags & XATTR_CREATE)
		sflags |= STORE_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		sflags |= STORE_XATTR_REPLACE;
	return store_xattr_set(fs->st, ino, name, val, len, sflags);
}

int efs_ep_removexattr(struct efs *fs, uint64_t ino, const char *name)
{
	return store_xattr_remove(fs->st, ino, name);
}
