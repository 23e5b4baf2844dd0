/*
 * handle.c - open-file state: per-fd handles, the shared buffer of an open
 * episode, and the notifier thread that keeps the kernel's caches honest.
 *
 * Directory handles (struct efs_dirh) of episodes/ folders and concepts/
 * remember where a listing stopped, so that the next readdir resumes by
 * name.
 *
 * Per-fd handles (struct efs_fh, fi->fh).  Synthetic files render their
 * whole content at open into fh->buf and serve reads from it: the content
 * is computed fresh at every open and is stable for the life of the fd.
 * A read-only episode fd holds a copy of the committed content the same
 * way (invariant 5).
 *
 * Episodes.  An episode is committed as a whole (store_content_write) so
 * that readers and recall see the old or the new content, never a mix.
 * Between open and commit its bytes live in ONE state per inode, shared by
 * every fd open on it for writing:
 *
 *     estate table: ino -> { ref, lock, buf/len, dirty, failed, unlinked }
 *
 *   open         ref++ (table lock); the first holder of the state lock
 *                that finds it not loaded loads the content; O_TRUNC
 *                empties the buffer and marks it dirty.
 *   write        into the buffer at any offset, holes zero-filled; a write
 *                ending past store.max_episode_bytes fails with EFBIG,
 *                changes nothing, and poisons the state (failed = -EFBIG).
 *   utimensat    while dirty: the times are kept in the state and
 *                committed with the content (one store write, postings
 *                indexed once with that time); a later write sets the
 *                mtime to now again, as on a local file system.
 *   flush/fsync  commit if dirty; the errno reaches close()/fsync().  A
 *                poisoned state is not committed: the flush returns EFBIG
 *                and the buffer goes back to the stored content, so a
 *                write that was cut at the limit does not leave a
 *                truncated episode behind ("the stored episode is
 *                unchanged").
 *   release      commit if this fd could write and the state is dirty
 *                (writes that arrive after the last flush: mmap); ref--;
 *                at zero the state is freed.
 *   unlink /     the state is marked unlinked under its lock in the same
 *   rename-over  critical section as the store call: open fds keep
 *                reading and writing their buffer, later commits are
 *                dropped silently (the episode is gone, as on a local fs).
 *
 *             open                 write             flush/fsync ok
 *   (none) --------> clean <----------------------- dirty
 *                      |   ------------------------->  |
 *                      |           write               | write > max
 *                      |                               v
 *                      +<---- flush (EFBIG, reload) -- failed
 *
 * Invariants.
 *  1. A state is in the table iff ref > 0; the table lock guards ref and
 *     the chains, the state lock guards everything else.
 *  2. Lock order: table lock, then (never while holding it) a state lock,
 *     then the store's own locks.  The table lock is never held across a
 *     store call.
 *  3. While a state exists its buffer is the truth for size and content:
 *     getattr and readdir report its length (the kernel needs the right
 *     size for O_APPEND and reads of a dirty file).
 *  4. Only fds opened for writing commit at flush, so a reader closing in
 *     the middle of a writer's sequence of writes cannot commit half of
 *     them.
 *  5. Only writers (O_WRONLY, O_RDWR) join the state.  A read-only open
 *     reads a private copy of the committed content, taken at open, with
 *     direct I/O (the page cache holds the writers' bytes): snapshot
 *     isolation, so `cat` or `grep` during a rewrite sees the old content
 *     whole, and the new after the writer's close - never a torn mix,
 *     also when the writer starts while the reader is reading.  Writers see
 *     each other's writes at once, as on a local file system (fsx, mmap,
 *     `>>` from two shells).
 *
 * Kernel caches.  Writers open without direct I/O and with keep_cache
 * (shared writable mmap needs the page cache), so the page cache of an
 * episode holds what the writers see: the committed content with the
 * writers' bytes on top; readers use direct I/O and their snapshot
 * (invariant 5).  A commit at flush or fsync therefore needs no
 * invalidation: the kernel wrote those very bytes, and every write made
 * it drop its cached size and times.  Only
 * dirty times it fetched before the commit (getattr or readdirplus of an
 * episode with uncommitted writes: the state's attr_shown) can differ
 * from the commit's, so then the attributes alone are invalidated; times
 * set by a utimensat while dirty are committed as its reply showed them
 * (the times set and the utimensat's ctime), so they need none.  Paths
 * that change stored content behind the page cache's back (a discarded
 * poisoned buffer, changes dropped because the commit failed) queue a
 * full fuse_lowlevel_notify_inval_inode.  A notification is sent by a separate
 * thread: sent from inside a request it can deadlock, because the kernel
 * may hold the inode's page locks while it waits for that very request.
 * Episode names need no notification: every namespace change comes
 * through the kernel.  Recall names do (recall.c): the notifier also
 * drops their dentries, and so do concept names that a consolidation
 * removed or renamed (concepts.c).
 *
 * A request may wait for the notifier (efs_notify_wait) when what it did
 * changes other nodes and its caller expects to see that at once: ctl's
 * consolidate waits until the invalidations its run queued are sent, so
 * `echo consolidate > ctl; ls concepts/x` never sees a dissolved concept.
 * That is safe where sending from the request is not: the request holds
 * no lock of the nodes invalidated (the kernel holds only ctl's), and
 * the wait is bounded by EFS_TIMEOUT, after which the kernel's caches
 * expire anyway, so even a notifier stuck behind a busy directory cannot
 * hold the request longer than that.
 *
 * Rejected: direct I/O for writers (no shared mmap, so no fsx mapped
 * writes); page cache for readers (it is per inode, so a reader would see
 * a writer's uncommitted bytes); writeback cache (the kernel would own
 * the commit points, and close() could no longer report EFBIG/ENOSPC).
 *
 * The table has a fixed number of buckets: it holds open files, not the
 * store, so it stays small.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "efs.h"

struct efs_estate {
	struct efs_estate *next;	/* table lock */
	uint64_t ino;
	unsigned ref;			/* table lock */
	pthread_mutex_t lock;
	bool loaded, dirty, unlinked;
	bool attr_shown;		/* dirty size/times went to the kernel */
	int failed;			/* -EFBIG after a refused write */
	char *buf;
	size_t len, cap;
	struct store_attr attr;		/* as last read or committed */
	struct timespec mtime;		/* of the last change, or set */
	struct timespec ctime;		/* of the last buffered change */
	/* Set by utimensat while dirty, committed with the content. */
	bool atime_set, mtime_set;
	struct timespec atime;
};

/* ------------------------------------------------------------------ */
/* Per-fd handles                                                     */
/* ------------------------------------------------------------------ */

/* Every live handle, so unmount can free those never released. */
static pthread_mutex_t efs_fh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct efs_fh *efs_fh_list;

struct efs_fh *efs_fh_new(enum efs_class cls, fuse_ino_t ino, int flags)
{
	struct efs_fh *fh = calloc(1, sizeof(*fh));

	if (!fh)
		return NULL;
	fh->cls = cls;
	fh->ino = ino;
	fh->flags = flags;
	fh->writable = (flags & O_ACCMODE) != O_RDONLY;
	pthread_mutex_init(&fh->lock, NULL);
	pthread_mutex_lock(&efs_fh_lock);
	fh->next = efs_fh_list;
	if (efs_fh_list)
		efs_fh_list->prev = fh;
	efs_fh_list = fh;
	pthread_mutex_unlock(&efs_fh_lock);
	return fh;
}

static void efs_fh_unlink(struct efs_fh *fh)
{
	pthread_mutex_lock(&efs_fh_lock);
	if (fh->prev)
		fh->prev->next = fh->next;
	else if (efs_fh_list == fh)
		efs_fh_list = fh->next;
	if (fh->next)
		fh->next->prev = fh->prev;
	fh->prev = fh->next = NULL;
	pthread_mutex_unlock(&efs_fh_lock);
}

void efs_fh_free_all(struct efs *fs)
{
	for (;;) {
		struct efs_fh *fh;

		pthread_mutex_lock(&efs_fh_lock);
		fh = efs_fh_list;
		pthread_mutex_unlock(&efs_fh_lock);
		if (!fh)
			return;
		efs_fh_free(fs, fh);
	}
}

static void efs_reader_del(struct efs_fh *fh);

void efs_fh_free(struct efs *fs, struct efs_fh *fh)
{
	if (!fh)
		return;
	efs_fh_unlink(fh);
	if (fh->reader_listed)
		efs_reader_del(fh);
	if (fh->es)
		efs_estate_put(fs, fh->es);
	pthread_mutex_destroy(&fh->lock);
	free(fh->buf);
	free(fh->cue);
	free(fh);
}

void efs_fh_slice(const char *buf, size_t len, size_t size, off_t off,
		  const char **data, size_t *n)
{
	if (off < 0 || (size_t)off >= len) {
		*data = NULL;
		*n = 0;
		return;
	}
	*data = buf + off;
	*n = len - (size_t)off < size ? len - (size_t)off : size;
}

int efs_fh_read(const struct efs_fh *fh, size_t size, off_t off,
		struct efs_rbuf *rb)
{
	const char *p;
	size_t n;

	efs_fh_slice(fh->buf, fh->len, size, off, &p, &n);
	rb->data = rb->alloc = NULL;
	rb->len = 0;
	if (!n)
		return 0;
	rb->alloc = malloc(n);
	if (!rb->alloc)
		return -ENOMEM;
	memcpy(rb->alloc, p, n);
	rb->data = rb->alloc;
	rb->len = n;
	return 0;
}

int efs_dirh_open(struct fuse_file_info *fi)
{
	struct efs_dirh *dh = calloc(1, sizeof(*dh));

	if (!dh)
		return -ENOMEM;
	fi->fh = (uintptr_t)dh;
	return 0;
}

void efs_dirh_release(struct fuse_file_info *fi)
{
	struct efs_dirh *dh = (struct efs_dirh *)(uintptr_t)fi->fh;

	if (!dh)
		return;
	free(dh->last);
	free(dh);
	fi->fh = 0;
}

/* ------------------------------------------------------------------ */
/* Readers by inode                                                   */
/* ------------------------------------------------------------------ */

/*
 * fstat(2) on a reader's descriptor after the episode was unlinked: the
 * kernel sends GETATTR by inode with no file handle (fuse_getattr passes
 * none), the store no longer has the inode, and the answer must come
 * from the reader's snapshot (fh->attr, fh->len).  So read-only episode
 * handles are listed by inode while open.  Same fixed bucket count as the
 * estate table: it holds open files.  The lock is a leaf.
 */
#define EFS_READER_BUCKETS 1024

static struct {
	pthread_mutex_t lock;
	struct efs_fh *b[EFS_READER_BUCKETS];
} efs_rd = { .lock = PTHREAD_MUTEX_INITIALIZER };

void efs_reader_add(struct efs_fh *fh)
{
	struct efs_fh **head = &efs_rd.b[fh->ino % EFS_READER_BUCKETS];

	pthread_mutex_lock(&efs_rd.lock);
	fh->next_reader = *head;
	*head = fh;
	fh->reader_listed = true;
	pthread_mutex_unlock(&efs_rd.lock);
}

static void efs_reader_del(struct efs_fh *fh)
{
	struct efs_fh **pp = &efs_rd.b[fh->ino % EFS_READER_BUCKETS];

	pthread_mutex_lock(&efs_rd.lock);
	while (*pp && *pp != fh)
		pp = &(*pp)->next_reader;
	if (*pp)
		*pp = fh->next_reader;
	fh->reader_listed = false;
	pthread_mutex_unlock(&efs_rd.lock);
}

int efs_reader_stat(struct efs *fs, uint64_t ino, struct stat *st)
{
	struct efs_fh *p;
	struct store_attr a;
	bool found = false;

	pthread_mutex_lock(&efs_rd.lock);
	for (p = efs_rd.b[ino % EFS_READER_BUCKETS]; p; p = p->next_reader)
		if (p->ino == ino && p->attr.ino == ino) {
			a = p->attr;
			a.size = p->len;
			found = true;
			break;
		}
	pthread_mutex_unlock(&efs_rd.lock);
	if (!found)
		return -ENOENT;
	efs_store_stat(fs, &a, st);	/* outside the lock: it takes others */
	st->st_nlink = 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The estate table                                                   */
/* ------------------------------------------------------------------ */

#define EFS_ESTATE_BUCKETS 1024	/* open files, not episodes: stays small */

static struct {
	pthread_mutex_t lock;
	struct efs_estate *b[EFS_ESTATE_BUCKETS];
} efs_et = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct efs_estate **efs_et_slot(uint64_t ino)
{
	struct efs_estate **pp = &efs_et.b[ino % EFS_ESTATE_BUCKETS];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

struct efs_estate *efs_estate_find(struct efs *fs, uint64_t ino)
{
	struct efs_estate *es;

	pthread_mutex_lock(&efs_et.lock);
	es = *efs_et_slot(ino);
	if (es)
		es->ref++;
	pthread_mutex_unlock(&efs_et.lock);
	return es;
}

static size_t efs_max_bytes(struct efs *fs)
{
	double m = store_flag_get(fs->st, FLAG_STORE_MAX_EPISODE_BYTES);

	return m > 0 ? (size_t)m : 0;
}

/* Load the stored content into ES (state lock held). */
static int efs_estate_load(struct efs *fs, struct efs_estate *es)
{
	struct store_attr a;
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = store_getattr(fs->st, es->ino, &a);
	if (r < 0)
		return r;
	if (!S_ISREG(a.mode))
		return -EISDIR;
	r = store_content_read(fs->st, es->ino, &buf, &len);
	if (r < 0)
		return r;
	free(es->buf);
	es->buf = buf;
	es->len = es->cap = len;
	es->attr = a;
	es->mtime = a.mtime;
	es->ctime = a.ctime;
	es->atime_set = es->mtime_set = false;
	es->loaded = true;
	es->dirty = false;
	es->failed = 0;
	return 0;
}

/* A buffered change (state lock held): dirty, mtime and ctime now. */
static void efs_estate_changed(struct efs_estate *es)
{
	es->dirty = true;
	es->mtime_set = false;
	clock_gettime(CLOCK_REALTIME, &es->mtime);
	es->ctime = es->mtime;
}

int efs_estate_open(struct efs *fs, uint64_t ino, bool trunc,
		    struct efs_estate **out)
{
	struct efs_estate **pp, *es;
	int r = 0;

	pthread_mutex_lock(&efs_et.lock);
	pp = efs_et_slot(ino);
	es = *pp;
	if (!es) {
		es = calloc(1, sizeof(*es));
		if (!es) {
			pthread_mutex_unlock(&efs_et.lock);
			return -ENOMEM;
		}
		es->ino = ino;
		pthread_mutex_init(&es->lock, NULL);
		*pp = es;
	}
	es->ref++;
	pthread_mutex_unlock(&efs_et.lock);

	pthread_mutex_lock(&es->lock);
	if (!es->loaded)
		r = efs_estate_load(fs, es);
	if (!r && trunc && es->len) {
		es->len = 0;
		efs_estate_changed(es);
	}
	pthread_mutex_unlock(&es->lock);
	if (r < 0) {
		efs_estate_put(fs, es);
		return r;
	}
	*out = es;
	return 0;
}

void efs_estate_put(struct efs *fs, struct efs_estate *es)
{
	bool last;

	pthread_mutex_lock(&efs_et.lock);
	last = --es->ref == 0;
	if (last)
		*efs_et_slot(es->ino) = es->next;
	pthread_mutex_unlock(&efs_et.lock);
	if (!last)
		return;
	if (es->dirty && !es->unlinked) {
		/* Only reached when the last commit failed: the error went to
		 * close(), the page cache must forget the bytes. */
		efs_log(LOG_WARNING, "episode %llu: uncommitted changes dropped",
			(unsigned long long)es->ino);
		efs_notify_inval(fs, es->ino);
	}
	pthread_mutex_destroy(&es->lock);
	free(es->buf);
	free(es);
}

void efs_estate_lock(struct efs_estate *es)
{
	pthread_mutex_lock(&es->lock);
}

void efs_estate_unlock(struct efs_estate *es)
{
	pthread_mutex_unlock(&es->lock);
}

void efs_estate_mark_unlinked(struct efs_estate *es)
{
	es->unlinked = true;
	es->dirty = false;
}

/* Make room for SIZE bytes (state lock held). */
static int efs_estate_reserve(struct efs_estate *es, size_t size)
{
	size_t cap;
	char *p;

	if (size <= es->cap)
		return 0;
	cap = es->cap ? es->cap : 4096;
	while (cap < size)
		cap = cap > SIZE_MAX / 2 ? size : cap * 2;
	p = realloc(es->buf, cap);
	if (!p)
		return -ENOMEM;
	es->buf = p;
	es->cap = cap;
	return 0;
}

/* Set the length, zero-filling growth (state lock held). */
static int efs_estate_resize(struct efs_estate *es, size_t len)
{
	int r = efs_estate_reserve(es, len);

	if (r < 0)
		return r;
	if (len > es->len)
		memset(es->buf + es->len, 0, len - es->len);
	es->len = len;
	return 0;
}

int efs_estate_read(struct efs_estate *es, size_t size, off_t off,
		    char **out, size_t *n)
{
	const char *p;
	size_t k;
	int r = 0;

	pthread_mutex_lock(&es->lock);
	efs_fh_slice(es->buf, es->len, size, off, &p, &k);
	*out = NULL;
	*n = k;
	if (!es->loaded)
		r = -EAGAIN;	/* being opened: not the content yet */
	else if (k && !(*out = malloc(k)))
		r = -ENOMEM;
	else if (k)
		memcpy(*out, p, k);
	pthread_mutex_unlock(&es->lock);
	return r;
}

int efs_estate_write(struct efs *fs, struct efs_estate *es, const char *buf,
		     size_t size, off_t off)
{
	size_t end;
	int r;

	if (off < 0)
		return -EINVAL;
	end = (size_t)off + size;
	pthread_mutex_lock(&es->lock);
	if (end > efs_max_bytes(fs) || end < size) {
		es->failed = -EFBIG;
		r = -EFBIG;
		efs_log(LOG_NOTICE,
			"episode inode %" PRIu64 ": write to %zu bytes refused "
			"(EFBIG): over store.max_episode_bytes (%zu)",
			es->ino, end, efs_max_bytes(fs));
		goto out;
	}
	r = efs_estate_reserve(es, end);
	if (r < 0)
		goto out;
	if ((size_t)off > es->len)
		memset(es->buf + es->len, 0, (size_t)off - es->len);
	memcpy(es->buf + off, buf, size);
	if (end > es->len)
		es->len = end;
	efs_estate_changed(es);
out:
	pthread_mutex_unlock(&es->lock);
	return r;
}

int efs_estate_truncate(struct efs *fs, struct efs_estate *es, off_t size)
{
	int r;

	if (size < 0)
		return -EINVAL;
	pthread_mutex_lock(&es->lock);
	if ((size_t)size > efs_max_bytes(fs)) {
		r = -EFBIG;
		efs_log(LOG_NOTICE,
			"episode inode %" PRIu64 ": truncate to %jd bytes "
			"refused (EFBIG): over store.max_episode_bytes (%zu)",
			es->ino, (intmax_t)size, efs_max_bytes(fs));
	} else {
		r = efs_estate_resize(es, (size_t)size);
		if (!r)
			efs_estate_changed(es);
	}
	pthread_mutex_unlock(&es->lock);
	return r;
}

/*
 * The times a commit stores (state lock held): after a utimensat, those
 * it set and its ctime, which is what the kernel was told in the reply
 * (so a commit that keeps them needs no invalidation of attributes);
 * else NULL: the commit's now.
 */
static const struct store_times *efs_estate_times(const struct efs_estate *es,
						  struct store_times *t)
{
	if (!es->mtime_set && !es->atime_set)
		return NULL;
	t->atime = es->atime_set ? &es->atime : NULL;
	t->mtime = es->mtime_set ? &es->mtime : NULL;
	t->ctime = es->mtime_set ? &es->ctime : NULL;
	return t;
}

int efs_estate_commit(struct efs *fs, struct efs_estate *es, unsigned flags)
{
	struct store_times t;
	struct store_attr a;
	int r = 0;

	pthread_mutex_lock(&es->lock);
	if (es->failed) {
		/* Back to the stored content: nothing of the refused write
		 * sequence is committed.  If even the reload fails, the
		 * buffer is dropped as not dirty all the same. */
		r = es->failed;
		es->failed = 0;
		if (!es->unlinked && efs_estate_load(fs, es) < 0)
			es->dirty = false;
		efs_notify_inval(fs, es->ino);
		goto out;
	}
	if (es->unlinked || !es->dirty) {
		if (flags & STORE_SYNC)
			r = store_sync(fs->st);
		goto out;
	}
	r = store_content_write_times(fs->st, es->ino, es->buf, es->len, flags,
				      efs_estate_times(es, &t), &a);
	if (r == -ENOENT) {
		/* Removed under us by a path that did not mark the state. */
		es->unlinked = true;
		es->dirty = false;
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	es->attr = a;
	es->dirty = false;
	es->atime_set = es->mtime_set = false;
	/* The page cache holds these very bytes (the kernel wrote them), and
	 * each write made the kernel drop its size and times; only those it
	 * fetched while dirty (efs_estate_stat) can differ from the commit's
	 * "now".  See "Kernel caches" above. */
	if (es->attr_shown)
		efs_notify_inval_attr(fs, es->ino);
	es->attr_shown = false;
out:
	pthread_mutex_unlock(&es->lock);
	return r;
}

int efs_estate_set_times(struct efs_estate *es, const struct timespec *atime,
			 const struct timespec *mtime)
{
	int kept = 0;

	pthread_mutex_lock(&es->lock);
	if (es->loaded && es->dirty && !es->failed && !es->unlinked) {
		if (atime) {
			es->atime = *atime;
			es->atime_set = true;
		}
		if (mtime) {
			es->mtime = *mtime;
			es->mtime_set = true;
			/* The reply to the setattr replaces what the kernel
			 * had; the commit stores what the reply says. */
			es->attr_shown = false;
		}
		clock_gettime(CLOCK_REALTIME, &es->ctime);
		kept = 1;
	}
	pthread_mutex_unlock(&es->lock);
	return kept;
}

void efs_estate_stat(struct efs *fs, uint64_t ino, struct stat *st)
{
	struct efs_estate *es = efs_estate_find(fs, ino);

	if (!es)
		return;
	pthread_mutex_lock(&es->lock);
	if (es->loaded) {
		st->st_size = (off_t)es->len;
		if (es->dirty) {
			st->st_mtim = es->mtime;
			st->st_ctim = es->ctime;
			if (es->atime_set)
				st->st_atim = es->atime;
			/* Times set are committed as shown
			 * (efs_estate_times). */
			es->attr_shown |= !es->mtime_set;
		}
	}
	pthread_mutex_unlock(&es->lock);
	efs_estate_put(fs, es);
}

int efs_estate_orphan_stat(struct efs *fs, uint64_t ino, struct stat *st)
{
	struct efs_estate *es = efs_estate_find(fs, ino);
	int r = -ENOENT;

	if (!es)
		return r;
	pthread_mutex_lock(&es->lock);
	if (es->loaded && es->unlinked) {
		memset(st, 0, sizeof(*st));
		st->st_ino = ino;
		st->st_mode = es->attr.mode;
		st->st_nlink = 0;
		st->st_uid = es->attr.uid;
		st->st_gid = es->attr.gid;
		st->st_size = (off_t)es->len;
		st->st_blocks = (st->st_size + 511) / 512;
		st->st_blksize = 4096;
		st->st_atim = es->attr.atime;
		st->st_mtim = es->mtime;
		st->st_ctim = es->attr.ctime;
		r = 0;
	}
	pthread_mutex_unlock(&es->lock);
	efs_estate_put(fs, es);
	return r;
}

void efs_estate_commit_all(struct efs *fs)
{
	struct efs_estate **v = NULL, *es;
	size_t i, n = 0, cap = 0;

	/* Take a reference on every state under the table lock, commit
	 * outside it (invariant 2). */
	pthread_mutex_lock(&efs_et.lock);
	for (i = 0; i < EFS_ESTATE_BUCKETS; i++) {
		for (es = efs_et.b[i]; es; es = es->next) {
			if (n == cap) {
				size_t c = cap ? cap * 2 : 16;
				struct efs_estate **p = realloc(v, c * sizeof(*p));

				if (!p)
					break;
				v = p;
				cap = c;
			}
			es->ref++;
			v[n++] = es;
		}
	}
	pthread_mutex_unlock(&efs_et.lock);
	for (i = 0; i < n; i++) {
		es = v[i];
		if (es->dirty && !es->unlinked && !es->failed) {
			int r = efs_estate_commit(fs, es, STORE_SYNC);

			efs_log(r < 0 ? LOG_ERR : LOG_NOTICE,
				"episode %llu: open at unmount, %s",
				(unsigned long long)es->ino,
				r < 0 ? efs_errname(r) : "committed");
		}
		efs_estate_put(fs, es);
	}
	free(v);
}

/* ------------------------------------------------------------------ */
/* The notifier thread                                                */
/* ------------------------------------------------------------------ */

/* A queued notification: the inode INO (its pages and attributes, or
 * with ATTR_ONLY its attributes), or with NAME the entry NAME in
 * directory INO. */
struct efs_note {
	uint64_t ino;
	char *name;
	bool attr_only;
};

struct efs_notifier {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct efs_note *q;	/* pending; duplicates are harmless */
	size_t n, cap;
	bool stop;
	/* Notes queued and sent so far, for efs_notify_wait. */
	uint64_t queued, sent;
	pthread_cond_t sent_cond;	/* CLOCK_MONOTONIC */
};

static void efs_note_send(struct efs *fs, const struct efs_note *nt)
{
	int r;

	if (nt->name)
		r = fuse_lowlevel_notify_inval_entry(fs->se, nt->ino, nt->name,
						     strlen(nt->name));
	else	/* offset -1: the kernel keeps the pages */
		r = fuse_lowlevel_notify_inval_inode(fs->se, nt->ino,
						     nt->attr_only ? -1 : 0, 0);
	/* -ENOENT: the kernel does not have it cached; nothing to do. */
	if (r < 0 && r != -ENOENT)
		efs_log(LOG_DEBUG, "inval %llu%s%s: %s",
			(unsigned long long)nt->ino, nt->name ? "/" : "",
			nt->name ? nt->name : "", efs_errname(r));
}

static void *efs_notifier_main(void *arg)
{
	struct efs *fs = arg;
	struct efs_notifier *nt = fs->notifier;
	struct efs_note *batch;
	size_t n, i;
	uint64_t upto;

	pthread_mutex_lock(&nt->lock);
	for (;;) {
		while (!nt->n && !nt->stop)
			pthread_cond_wait(&nt->cond, &nt->lock);
		if (nt->stop)
			break;
		/* Take the whole queue, send without the lock held. */
		batch = nt->q;
		n = nt->n;
		upto = nt->queued;
		nt->q = NULL;
		nt->n = nt->cap = 0;
		pthread_mutex_unlock(&nt->lock);
		for (i = 0; i < n; i++) {
			efs_note_send(fs, &batch[i]);
			free(batch[i].name);
		}
		free(batch);
		pthread_mutex_lock(&nt->lock);
		nt->sent = upto;
		pthread_cond_broadcast(&nt->sent_cond);
	}
	nt->sent = nt->queued;	/* nothing more will be sent: release */
	pthread_cond_broadcast(&nt->sent_cond);
	pthread_mutex_unlock(&nt->lock);
	return NULL;
}

int efs_notifier_start(struct efs *fs)
{
	struct efs_notifier *nt = calloc(1, sizeof(*nt));
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	if (!nt)
		return -ENOMEM;
	pthread_mutex_init(&nt->lock, NULL);
	pthread_cond_init(&nt->cond, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&nt->sent_cond, &ca);
	pthread_condattr_destroy(&ca);
	fs->notifier = nt;
	/* Signals are for the session loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&nt->thread, NULL, efs_notifier_main, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		fs->notifier = NULL;
		pthread_cond_destroy(&nt->sent_cond);
		pthread_cond_destroy(&nt->cond);
		pthread_mutex_destroy(&nt->lock);
		free(nt);
		return -r;
	}
	return 0;
}

void efs_notifier_stop(struct efs *fs)
{
	struct efs_notifier *nt = fs->notifier;
	size_t i;

	if (!nt)
		return;
	pthread_mutex_lock(&nt->lock);
	nt->stop = true;
	pthread_cond_signal(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
	pthread_join(nt->thread, NULL);
	fs->notifier = NULL;
	pthread_cond_destroy(&nt->sent_cond);
	pthread_cond_destroy(&nt->cond);
	pthread_mutex_destroy(&nt->lock);
	for (i = 0; i < nt->n; i++)
		free(nt->q[i].name);
	free(nt->q);
	free(nt);
}

static void efs_notify(struct efs *fs, uint64_t ino, const char *name,
		       bool attr_only)
{
	struct efs_notifier *nt = fs->notifier;
	char *copy = NULL;

	if (!nt)
		return;
	if (name && !(copy = strdup(name)))
		goto oom;
	pthread_mutex_lock(&nt->lock);
	if (nt->n == nt->cap) {
		size_t cap = nt->cap ? nt->cap * 2 : 64;
		struct efs_note *q = realloc(nt->q, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&nt->lock);
			free(copy);
			goto oom;
		}
		nt->q = q;
		nt->cap = cap;
	}
	nt->q[nt->n] = (struct efs_note){ ino, copy, attr_only };
	nt->n++;
	nt->queued++;
	pthread_cond_signal(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
	return;
oom:
	/* The 1 s attribute timeout and AUTO_INVAL_DATA are the fallback
	 * for inodes, memory pressure for entries; say so rather than fail
	 * the request. */
	efs_log(LOG_WARNING, "inval %llu: out of memory",
		(unsigned long long)ino);
}

void efs_notify_inval(struct efs *fs, uint64_t ino)
{
	efs_notify(fs, ino, NULL, false);
}

void efs_notify_inval_attr(struct efs *fs, uint64_t ino)
{
	efs_notify(fs, ino, NULL, true);
}

void efs_notify_inval_entry(struct efs *fs, uint64_t parent,
			    const char *name)
{
	efs_notify(fs, parent, name, false);
}

int efs_notify_wait(struct efs *fs, double seconds)
{
	struct efs_notifier *nt = fs->notifier;
	struct timespec until;
	uint64_t target;
	int r = 0;

	if (!nt)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)seconds;
	until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&nt->lock);
	target = nt->queued;
	while (nt->sent < target && r == 0)
		r = pthread_cond_timedwait(&nt->sent_cond, &nt->lock, &until);
	pthread_mutex_unlock(&nt->lock);
	return r ? -r : 0;
}
