/*
 * xattr.c - extended attributes of episodes and folders.
 *
 * "user.engram.confidence" lives in the inode record (ranking reads it
 * from the postings, so a change rewrites them); every other "user.*"
 * name, including user.engram.where/who/tags, is a key ino | name in
 * CF_XATTRS.  "user.engram.concepts" is computed and read-only; it is
 * never listed, so `cp -a` does not try to copy it and fail.  Other
 * namespaces (security, system, trusted) are not supported: ENOTSUP
 * tells cp and rsync to carry on without them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_i.h"

#define XATTR_VALUE_MAX (64 * 1024)
#define XATTR_CONFIDENCE "user.engram.confidence"
#define XATTR_CONCEPTS "user.engram.concepts"

static int xattr_check_name(const char *name)
{
	size_t n = strlen(name);

	if (strncmp(name, "user.", 5) != 0)
		return -ENOTSUP;
	if (n == 5)
		return -EINVAL;
	if (n > 255)
		return -ERANGE;
	return 0;
}

static size_t xattr_key(unsigned char *key, uint64_t ino, const char *name)
{
	size_t n = strlen(name);

	be64_put(key, ino);
	memcpy(key + 8, name, n);
	return 8 + n;
}

static int xattr_confidence_parse(const void *val, size_t len, double *out)
{
	char buf[64], *end;
	double v;

	if (len && ((const char *)val)[len - 1] == '\0')
		len--;	/* some tools send the C string's terminator */
	if (len == 0 || len >= sizeof(buf) || memchr(val, '\0', len))
		return -EINVAL;	/* "0.9\0junk" is not 0.9 */
	memcpy(buf, val, len);
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	v = strtod(buf, &end);
	if (end == buf || *end || !isfinite(v) || v < 0 || v > 1)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Set the confidence in the record and rewrite the postings. */
static int xattr_set_confidence_locked(struct store *st, uint64_t ino,
				       double v)
{
	struct inode_rec r;
	struct text_terms t = { 0 };
	rocksdb_writebatch_t *b;
	int rc = inode_get(st, ino, &r);

	if (rc)
		return rc;
	if (r.indexed)
		rc = index_terms_of(st, &r, &t);
	b = rocksdb_writebatch_create();
	if (!rc) {
		r.a.confidence = v;
		clock_gettime(CLOCK_REALTIME, &r.a.ctime);
		if (r.indexed) {
			index_update(b, st, &r, &t, &t);
			dirty_mark(b, st, ino);
		}
		inode_put(b, st, &r);
		rc = db_write(st, b, false);
	}
	rocksdb_writebatch_destroy(b);
	text_terms_release(&t);
	inode_rec_release(&r);
	return rc;
}

static int xattr_set_confidence(struct store *st, uint64_t ino,
				const void *val, size_t len, int flags)
{
	double v;
	int rc;

	if (flags & STORE_XATTR_CREATE)
		return -EEXIST;	/* it always exists (default 0.7) */
	if (xattr_confidence_parse(val, len, &v)) {
		store_log(STORE_LOG_NOTICE,
			  "inode %llu: " XATTR_CONFIDENCE
			  " refused: expected a number between 0 and 1",
			  (unsigned long long)ino);
		return -EINVAL;
	}
	pthread_mutex_lock(&st->write_lock);
	rc = xattr_set_confidence_locked(st, ino, v);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}

int store_xattr_get(struct store *st, uint64_t ino, const char *name,
		    char **val, size_t *len)
{
	unsigned char key[8 + 256];
	struct store_attr a;
	char buf[32];
	int rc = xattr_check_name(name);

	if (!rc)
		rc = store_getattr(st, ino, &a);
	if (rc)
		return rc;
	if (!strcmp(name, XATTR_CONFIDENCE)) {
		snprintf(buf, sizeof(buf), "%.6g", a.confidence);
		*val = strdup(buf);
		*len = strlen(buf);
		return *val ? 0 : -ENOMEM;
	}
	if (!strcmp(name, XATTR_CONCEPTS))
		return store_episode_concepts(st, ino, val, len);
	rc = db_get(st, CF_XATTRS, key, xattr_key(key, ino, name), val, len);
	return rc == -ENOENT ? -ENODATA : rc;
}

static int xattr_set_locked(struct store *st, uint64_t ino, const char *name,
			    const void *val, size_t len, int flags)
{
	unsigned char key[8 + 256];
	size_t klen = xattr_key(key, ino, name);
	struct store_attr a;
	rocksdb_writebatch_t *b;
	char *old;
	size_t olen;
	int rc = store_getattr(st, ino, &a);

	if (rc)
		return rc;
	rc = db_get(st, CF_XATTRS, key, klen, &old, &olen);
	if (rc == 0) {
		free(old);
		if (flags & STORE_XATTR_CREATE)
			return -EEXIST;
	} else if (rc == -ENOENT) {
		if (flags & STORE_XATTR_REPLACE)
			return -ENODATA;
	} else {
		return rc;
	}
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_put_cf(b, st->cf[CF_XATTRS], (const char *)key,
				  klen, val, len);
	rc = db_write(st, b, false);
	rocksdb_writebatch_destroy(b);
	return rc;
}

int store_xattr_set(struct store *st, uint64_t ino, const char *name,
		    const void *val, size_t len, int flags)
{
	int rc = xattr_check_name(name);

	if (rc)
		return rc;
	if (!strcmp(name, XATTR_CONFIDENCE))
		return xattr_set_confidence(st, ino, val, len, flags);
	if (!strcmp(name, XATTR_CONCEPTS))
		return -EPERM;
	if (len > XATTR_VALUE_MAX)
		return -E2BIG;
	pthread_mutex_lock(&st->write_lock);
	rc = xattr_set_locked(st, ino, name, val, len, flags);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}

static int xattr_remove_locked(struct store *st, uint64_t ino,
			       const char *name)
{
	unsigned char key[8 + 256];
	size_t klen = xattr_key(key, ino, name);
	rocksdb_writebatch_t *b;
	char *old;
	size_t olen;
	int rc = db_get(st, CF_XATTRS, key, klen, &old, &olen);

	if (rc)
		return rc == -ENOENT ? -ENODATA : rc;
	free(old);
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete_cf(b, st->cf[CF_XATTRS], (const char *)key,
				     klen);
	rc = db_write(st, b, false);
	rocksdb_writebatch_destroy(b);
	return rc;
}

int store_xattr_remove(struct store *st, uint64_t ino, const char *name)
{
	int rc = xattr_check_name(name);

	if (rc)
		return rc;
	if (!strcmp(name, XATTR_CONFIDENCE) || !strcmp(name, XATTR_CONCEPTS))
		return -EPERM;
	pthread_mutex_lock(&st->write_lock);
	rc = xattr_remove_locked(st, ino, name);
	pthread_mutex_unlock(&st->write_lock);
	return rc;
}

static int xattr_list_append(char **buf, size_t *len, const char *name,
			     size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (!nb)
		return -ENOMEM;
	memcpy(nb + *len, name, n);
	nb[*len + n] = '\0';
	*buf = nb;
	*len += n + 1;
	return 0;
}

int store_xattr_list(struct store *st, uint64_t ino, char **names,
		     size_t *len)
{
	unsigned char lo[8], hi[8];
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	char *buf = NULL;
	size_t n = 0, klen;
	struct store_attr a;
	int rc = store_getattr(st, ino, &a);

	if (!rc)
		rc = xattr_list_append(&buf, &n, XATTR_CONFIDENCE,
				       strlen(XATTR_CONFIDENCE));
	if (rc)
		return rc;
	be64_put(lo, ino);
	be64_put(hi, ino + 1);
	ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 8);
	it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_XATTRS]);
	for (rocksdb_iter_seek(it, (const char *)lo, 8);
	     !rc && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);

		if (klen > 8)
			rc = xattr_list_append(&buf, &n, k + 8, klen - 8);
	}
	if (!rc)
		rc = db_iter_status(st, it, "listxattr");
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (rc) {
		free(buf);
		return rc;
	}
	*names = buf;
	*len = n;
	return 0;
}
