/*
 * content.c - episode content: read, replace, append.
 *
 * A replace is the commit point of an episode (the daemon calls it at
 * close and fsync): new content, the inode record (size, hash, times,
 * document length), the postings that change and the counters go in one
 * batch, so a reader or a crash sees the old episode or the new one,
 * never a mix.  The new text is analysed before the writer lock is taken;
 * the old text is re-analysed under it (postings to drop).
 *
 * The size limit (store.max_episode_bytes) is checked here as well as in
 * the daemon: the store keeps its own invariant whoever calls it.
 *
 * Times.  A replace sets mtime and ctime to now, unless the caller gives
 * the times (store_content_write_times): the daemon does when a time was
 * set on an episode with uncommitted writes (`cp -p`, engramctl import:
 * write, futimens, close), so content and time are one batch and the
 * postings, which carry the time, are written once and right.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "store_i.h"

int store_content_read(struct store *st, uint64_t ino, char **buf,
		       size_t *len)
{
	unsigned char key[8];
	struct store_attr a;
	char *v;
	size_t n;
	int rc;

	be64_put(key, ino);
	rc = db_get(st, CF_CONTENT, key, 8, &v, &n);
	if (rc == -ENOENT) {
		rc = store_getattr(st, ino, &a);
		if (!rc && S_ISDIR(a.mode))
			rc = -EISDIR;
		if (rc)
			return rc;
		*buf = NULL;
		*len = 0;
		return 0;
	}
	if (rc)
		return rc;
	*buf = v;
	*len = n;
	return 0;
}

/* The times a replace gives R: those of T, else now (mtime, ctime) and
 * unchanged (atime). */
static void content_times(struct inode_rec *r, const struct store_times *t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	r->a.mtime = t && t->mtime ? *t->mtime : now;
	r->a.ctime = t && t->ctime ? *t->ctime : now;
	if (t && t->atime)
		r->a.atime = *t->atime;
}

static int content_commit(rocksdb_writebatch_t *b, struct store *st,
			  struct inode_rec *r, const void *buf, size_t len,
			  const struct text_terms *neu,
			  const struct store_times *t, struct count_delta *d)
{
	unsigned char key[8];
	struct text_terms old = { 0 };
	int rc = 0;

	if (r->indexed) {
		if (r->a.size)
			rc = index_terms_of(st, r, &old);
		if (rc)
			return rc;
		d->total_len += (int64_t)neu->length - r->dl;
		r->dl = neu->length;
	}
	content_times(r, t);
	d->bytes += (int64_t)len - (int64_t)r->a.size;
	r->a.size = len;
	r->a.hash = XXH64(buf, len, 0);
	if (r->indexed) {
		index_update(b, st, r, &old, neu);
		dirty_mark(b, st, r->a.ino);
	}
	text_terms_release(&old);
	be64_put(key, r->a.ino);
	if (len)
		rocksdb_writebatch_put_cf(b, st->cf[CF_CONTENT],
					  (const char *)key, 8, buf, len);
	else
		rocksdb_writebatch_delete_cf(b, st->cf[CF_CONTENT],
					     (const char *)key, 8);
	inode_put(b, st, r);
	counts_stage(b, st, d);
	return 0;
}

static int content_write_locked(struct store *st, uint64_t ino,
				const void *buf, size_t len, unsigned flags,
				const struct text_terms *neu,
				const struct store_times *t,
				struct store_attr *out)
{
	struct inode_rec r;
	struct count_delta d = { 0 };
	rocksdb_writebatch_t *b;
	int rc = inode_get(st, ino, &r);

	if (rc)
		return rc;
	if (S_ISDIR(r.a.mode)) {
		inode_rec_release(&r);
		return -EISDIR;
	}
	b = rocksdb_writebatch_create();
	rc = content_commit(b, st, &r, buf, len, neu, t, &d);
	if (!rc)
		rc = db_write(st, b, flags & STORE_SYNC);
	if (!rc) {
		counts_publish(st, &d);
		*out = r.a;
	}
	rocksdb_writebatch_destroy(b);
	inode_rec_release(&r);
	return rc;
}

static int content_check_size(struct store *st, size_t len)
{
	double max = store_flag_get(st, FLAG_STORE_MAX_EPISODE_BYTES);

	if ((double)len > max) {
		store_log(STORE_LOG_NOTICE,
			  "episode of %zu bytes refused: over "
			  "store.max_episode_bytes (%.0f)", len, max);
		return -EFBIG;
	}
	return 0;
}

int store_content_write_times(struct store *st, uint64_t ino,
			      const void *buf, size_t len, unsigned flags,
			      const struct store_times *t,
			      struct store_attr *out)
{
	struct text_terms neu = { 0 };
	int rc = content_check_size(st, len);

	if (!rc)
		rc = text_analyze(buf, len, &neu);
	if (rc)
		return rc;
	pthread_mutex_lock(&st->write_lock);
	rc = content_write_locked(st, ino, buf, len, flags, &neu, t, out);
	pthread_mutex_unlock(&st->write_lock);
	text_terms_release(&neu);
	return rc;
}

int store_content_write(struct store *st, uint64_t ino, const void *buf,
			size_t len, unsigned flags, struct store_attr *out)
{
	return store_content_write_times(st, ino, buf, len, flags, NULL, out);
}

static int content_append_locked(struct store *st, uint64_t ino,
				 const void *buf, size_t len, unsigned flags,
				 struct store_attr *out)
{
	struct text_terms neu = { 0 };
	char *old = NULL, *all;
	size_t olen = 0;
	int rc = store_content_read(st, ino, &old, &olen);

	if (!rc)
		rc = content_check_size(st, olen + len);
	if (rc) {
		free(old);
		return rc;
	}
	all = realloc(old, olen + len + 1);
	if (!all) {
		free(old);
		return -ENOMEM;
	}
	memcpy(all + olen, buf, len);
	rc = text_analyze(all, olen + len, &neu);
	if (!rc)
		rc = content_write_locked(st, ino, all, olen + len, flags,
					  &neu, NULL, out);
	text_terms_release(&neu);
	free(all);
	return rc;
}

int store_content_append(struct store *st, uint64_t ino, const void *buf,
			 size_t len, unsigned flags, struct store_attr *out)
{
	int rc;

	pthread_mutex_lock(&st->write_lock);
	rc = content_append_locked(st, ino, buf, len, flags, out);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}
