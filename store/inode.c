/*
 * inode.c - inode records, folder entries, and the read side of the tree.
 *
 * An inode record (CF_INODES, key = ino big-endian) is:
 *
 *   u8 version (1) | u8 flags (bit 0: indexed) | u16 0 |
 *   u32 mode | u32 uid | u32 gid | u32 nlink | u32 dl |
 *   u64 parent | u64 size | i64 atime | i64 mtime | i64 ctime | i64 crtime
 *   (nanoseconds since the epoch) | u64 confidence bits | u64 hash |
 *   name bytes (to the end)
 *
 * all little-endian.  The record carries its own name because an inode
 * has exactly one entry (hard links are refused): that makes the path of
 * an episode a walk up the parent chain, without a reverse index.
 *
 * Folder entries (CF_DIRENTS) are keyed parent | name so a folder lists
 * in name order with one prefix scan.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_i.h"

#define INODE_HDR 88
#define INODE_VERSION 1

static void inode_le32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* the store is little-endian only (x86, arm) */
}

static void inode_le64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t inode_rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t inode_rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int64_t inode_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static struct timespec inode_ns_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000;
		ts.tv_sec--;
	}
	return ts;
}

static void inode_encode(unsigned char *p, const struct inode_rec *r)
{
	const struct store_attr *a = &r->a;
	uint64_t conf;

	memcpy(&conf, &a->confidence, 8);
	p[0] = INODE_VERSION;
	p[1] = r->indexed ? 1 : 0;
	p[2] = p[3] = 0;
	inode_le32(p + 4, a->mode);
	inode_le32(p + 8, a->uid);
	inode_le32(p + 12, a->gid);
	inode_le32(p + 16, a->nlink);
	inode_le32(p + 20, r->dl);
	inode_le64(p + 24, a->parent);
	inode_le64(p + 32, a->size);
	inode_le64(p + 40, (uint64_t)inode_ts_ns(&a->atime));
	inode_le64(p + 48, (uint64_t)inode_ts_ns(&a->mtime));
	inode_le64(p + 56, (uint64_t)inode_ts_ns(&a->ctime));
	inode_le64(p + 64, (uint64_t)inode_ts_ns(&a->crtime));
	inode_le64(p + 72, conf);
	inode_le64(p + 80, a->hash);
}

/* The fixed part of a record: everything but the name. */
static int inode_decode_attr(const unsigned char *p, size_t n, uint64_t ino,
			     struct inode_rec *r)
{
	struct store_attr *a = &r->a;
	uint64_t conf;

	if (n < INODE_HDR || p[0] != INODE_VERSION) {
		store_log(STORE_LOG_ERR, "inode %llu: bad record (%zu bytes)",
			  (unsigned long long)ino, n);
		return -EIO;
	}
	memset(r, 0, sizeof(*r));
	r->indexed = p[1] & 1;
	a->ino = ino;
	a->mode = inode_rd32(p + 4);
	a->uid = inode_rd32(p + 8);
	a->gid = inode_rd32(p + 12);
	a->nlink = inode_rd32(p + 16);
	r->dl = inode_rd32(p + 20);
	a->parent = inode_rd64(p + 24);
	a->size = inode_rd64(p + 32);
	a->atime = inode_ns_ts((int64_t)inode_rd64(p + 40));
	a->mtime = inode_ns_ts((int64_t)inode_rd64(p + 48));
	a->ctime = inode_ns_ts((int64_t)inode_rd64(p + 56));
	a->crtime = inode_ns_ts((int64_t)inode_rd64(p + 64));
	conf = inode_rd64(p + 72);
	memcpy(&a->confidence, &conf, 8);
	a->hash = inode_rd64(p + 80);
	return 0;
}

static int inode_decode(const unsigned char *p, size_t n, uint64_t ino,
			struct inode_rec *r)
{
	int rc = inode_decode_attr(p, n, ino, r);

	if (rc)
		return rc;
	r->name = strndup((const char *)p + INODE_HDR, n - INODE_HDR);
	return r->name ? 0 : -ENOMEM;
}

int inode_get(struct store *st, uint64_t ino, struct inode_rec *r)
{
	unsigned char key[8];
	char *v;
	size_t n;
	int rc;

	if (ino < STORE_ROOT_INO || ino >= STORE_INO_LIMIT)
		return -ENOENT;
	be64_put(key, ino);
	rc = db_get(st, CF_INODES, key, 8, &v, &n);
	if (rc)
		return rc;
	rc = inode_decode((const unsigned char *)v, n, ino, r);
	free(v);
	return rc;
}

void inode_put(rocksdb_writebatch_t *b, struct store *st,
	       const struct inode_rec *r)
{
	size_t nlen = r->name ? strlen(r->name) : 0;
	unsigned char key[8], val[INODE_HDR + STORE_NAME_MAX];

	be64_put(key, r->a.ino);
	inode_encode(val, r);
	memcpy(val + INODE_HDR, r->name, nlen);
	rocksdb_writebatch_put_cf(b, st->cf[CF_INODES], (const char *)key, 8,
				  (const char *)val, INODE_HDR + nlen);
}

void inode_rec_release(struct inode_rec *r)
{
	free(r->name);
	r->name = NULL;
}

void dirent_key(unsigned char *key, uint64_t parent, const char *name,
		size_t nlen)
{
	be64_put(key, parent);
	memcpy(key + 8, name, nlen);
}

int dirent_get(struct store *st, uint64_t parent, const char *name,
	       uint64_t *ino)
{
	unsigned char key[8 + STORE_NAME_MAX];
	size_t nlen = strlen(name);
	char *v;
	size_t n;
	int rc;

	if (nlen > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	dirent_key(key, parent, name, nlen);
	rc = db_get(st, CF_DIRENTS, key, 8 + nlen, &v, &n);
	if (rc)
		return rc;
	if (n < 8)
		rc = -EIO;
	else
		*ino = be64_get((const unsigned char *)v);
	free(v);
	return rc;
}

bool name_is_hidden(const char *name)
{
	return name[0] == '.';
}

int name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strchr(name, '/'))
		return -EINVAL;
	if (n > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Create the episodes/ folder on first open, owned by whoever opens. */
int inode_init_root(struct store *st)
{
	struct inode_rec r;
	rocksdb_writebatch_t *b;
	struct timespec now;
	int rc;

	rc = inode_get(st, STORE_ROOT_INO, &r);
	if (rc == 0)
		inode_rec_release(&r);	/* r is only set on success */
	if (rc != -ENOENT)
		return rc;
	if (st->read_only)
		return 0;
	memset(&r, 0, sizeof(r));
	clock_gettime(CLOCK_REALTIME, &now);
	r.a.ino = r.a.parent = STORE_ROOT_INO;
	r.a.mode = S_IFDIR | 0755;
	r.a.uid = getuid();
	r.a.gid = getgid();
	r.a.nlink = 2;
	r.a.atime = r.a.mtime = r.a.ctime = r.a.crtime = now;
	r.a.confidence = 1.0;
	r.name = (char *)"";
	b = rocksdb_writebatch_create();
	inode_put(b, st, &r);
	db_put_u64(b, st, CF_DEFAULT, "meta/next_ino", st->next_ino);
	rocksdb_writebatch_put_cf(b, st->cf[CF_DEFAULT], "meta/schema", 11,
				  "1", 1);
	rc = db_write(st, b, true);
	rocksdb_writebatch_destroy(b);
	return rc;
}

/* ---- public read side ---------------------------------------------- */

int store_getattr(struct store *st, uint64_t ino, struct store_attr *out)
{
	struct inode_rec r;
	int rc = inode_get(st, ino, &r);

	if (rc)
		return rc;
	*out = r.a;
	inode_rec_release(&r);
	return 0;
}

int store_lookup(struct store *st, uint64_t parent, const char *name,
		 struct store_attr *out)
{
	uint64_t ino;
	int rc;

	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	rc = dirent_get(st, parent, name, &ino);
	if (rc == -ENOENT) {
		struct store_attr pa;

		if (store_getattr(st, parent, &pa) == 0 && !S_ISDIR(pa.mode))
			return -ENOTDIR;
		return -ENOENT;
	}
	if (rc)
		return rc;
	return store_getattr(st, ino, out);
}

/*
 * Inode records for a listing.  Entries come in name order; names made
 * in order (numbered or timestamped episodes, the usual case) have
 * increasing numbers, and W concurrent writers make W such runs
 * interleaved.  So the listing keeps a few iterators over CF_INODES, and
 * reads each record by stepping forward from the iterator that stands
 * closest below it; only when none is a few steps away does it seek (the
 * least recently used iterator), which costs about what a point read
 * does.  A point read per entry (what store_getattr does) made `ls -l`
 * of 100,000 episodes spend two thirds of its time in RocksDB lookups.
 */
#define CURSORS 4
#define CURSOR_STEPS 16

struct inode_cursors {
	struct store *st;
	rocksdb_iterator_t *it[CURSORS];
	unsigned long used[CURSORS], tick;
};

/* The number IT stands at, or false. */
static bool cursor_at(rocksdb_iterator_t *it, uint64_t *ino)
{
	const char *k;
	size_t klen;

	if (!it || !rocksdb_iter_valid(it))
		return false;
	k = rocksdb_iter_key(it, &klen);
	if (klen != 8)
		return false;
	*ino = be64_get((const unsigned char *)k);
	return true;
}

/* Step the iterator closest below INO towards it: the iterator now at INO,
 * or -1. */
static int cursors_step(struct inode_cursors *cs, uint64_t ino)
{
	uint64_t k, best = 0;
	int i, b = -1;

	for (i = 0; i < CURSORS; i++)
		if (cursor_at(cs->it[i], &k) && k <= ino && (b < 0 || k > best)) {
			b = i;
			best = k;
		}
	if (b < 0)
		return -1;
	for (i = 0; best < ino && i < CURSOR_STEPS; i++) {
		rocksdb_iter_next(cs->it[b]);
		if (!cursor_at(cs->it[b], &best))
			return -1;
	}
	return best == ino ? b : -1;
}

/* Seek an unused or the least recently used iterator to INO. */
static int cursors_seek(struct inode_cursors *cs, uint64_t ino, int *out)
{
	unsigned char key[8];
	char *err = NULL;
	uint64_t k;
	int i, b = 0;

	for (i = 0; i < CURSORS; i++) {
		if (!cs->it[i]) {
			cs->it[i] = rocksdb_create_iterator_cf(cs->st->db,
							       cs->st->ro,
							       cs->st->cf[CF_INODES]);
			b = i;
			break;
		}
		if (cs->used[i] < cs->used[b])
			b = i;
	}
	be64_put(key, ino);
	rocksdb_iter_seek(cs->it[b], (const char *)key, 8);
	*out = b;
	if (cursor_at(cs->it[b], &k))
		return k == ino ? 0 : -ENOENT;
	rocksdb_iter_get_error(cs->it[b], &err);
	return err ? err_from_rocksdb(&err, "readdir") : -ENOENT;
}

/* The attributes of INO: -ENOENT if it has no record (raced with a
 * delete), -EIO if the record is bad. */
static int cursors_attr(struct inode_cursors *cs, uint64_t ino,
			struct store_attr *a)
{
	struct inode_rec r;
	const char *v;
	size_t vlen;
	int b = cursors_step(cs, ino), rc = 0;

	if (b < 0)
		rc = cursors_seek(cs, ino, &b);
	if (rc)
		return rc;
	cs->used[b] = ++cs->tick;
	v = rocksdb_iter_value(cs->it[b], &vlen);
	if (inode_decode_attr((const unsigned char *)v, vlen, ino, &r))
		return -EIO;
	*a = r.a;
	return 0;
}

static void cursors_close(struct inode_cursors *cs)
{
	for (int i = 0; i < CURSORS; i++)
		if (cs->it[i])
			rocksdb_iter_destroy(cs->it[i]);
}

/* The entries of DIR after AFTER; with FULL each one's inode record is
 * read, else only its number and type (kept in the entry) are given. */
static int readdir_scan(struct store *st, uint64_t dir, const char *after,
			bool full, store_dirent_fn *fn, void *ctx)
{
	unsigned char lo[8 + STORE_NAME_MAX + 1], hi[8];
	size_t lolen = 8, klen;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	struct inode_cursors cs = { .st = st };
	rocksdb_iterator_t *it;
	int rc = 0;

	be64_put(lo, dir);
	be64_put(hi, dir + 1);
	if (after && *after) {
		size_t n = strnlen(after, STORE_NAME_MAX);

		memcpy(lo + 8, after, n);
		lo[8 + n] = '\0';	/* first key strictly after AFTER */
		lolen = 8 + n + 1;
	}
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 8);
	it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_DIRENTS]);
	for (rocksdb_iter_seek(it, (const char *)lo, lolen);
	     !rc && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		char name[STORE_NAME_MAX + 1];
		struct store_attr a;
		size_t vlen;
		const char *v = rocksdb_iter_value(it, &vlen);

		if (klen <= 8 || klen - 8 > STORE_NAME_MAX || vlen < 8)
			continue;
		memcpy(name, k + 8, klen - 8);
		name[klen - 8] = '\0';
		if (!full) {
			memset(&a, 0, sizeof(a));
			a.ino = be64_get((const unsigned char *)v);
			if (vlen >= 12)
				memcpy(&a.mode, v + 8, 4);
			a.mode &= S_IFMT;	/* chmod leaves the entry */
		} else {
			rc = cursors_attr(&cs,
					  be64_get((const unsigned char *)v),
					  &a);
			if (rc == -ENOENT) {
				rc = 0;
				continue;	/* raced with a delete */
			}
		}
		if (!rc)
			rc = fn(ctx, name, &a);
	}
	if (!rc)
		rc = db_iter_status(st, it, "readdir");
	cursors_close(&cs);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

int store_readdir(struct store *st, uint64_t dir, const char *after,
		  store_dirent_fn *fn, void *ctx)
{
	return readdir_scan(st, dir, after, true, fn, ctx);
}

int store_readdir_names(struct store *st, uint64_t dir, const char *after,
			store_dirent_fn *fn, void *ctx)
{
	return readdir_scan(st, dir, after, false, fn, ctx);
}

int store_path(struct store *st, uint64_t ino, char **out)
{
	char buf[4096];
	size_t pos = sizeof(buf) - 1;
	int depth = 0, rc = 0;

	buf[pos] = '\0';
	while (ino != STORE_ROOT_INO && depth++ < 256) {
		struct inode_rec r;
		size_t n;

		rc = inode_get(st, ino, &r);
		if (rc)
			return rc;
		n = strlen(r.name);
		if (n + 1 > pos) {
			inode_rec_release(&r);
			return -ENAMETOOLONG;
		}
		if (pos != sizeof(buf) - 1)
			buf[--pos] = '/';
		pos -= n;
		memcpy(buf + pos, r.name, n);
		ino = r.a.parent;
		inode_rec_release(&r);
	}
	*out = strdup(buf + pos);
	return *out ? rc : -ENOMEM;
}

/* POSIX permission: may caller C do MASK (4 = r, 1 = x) on A? */
static bool inode_permits(const struct store_caller *c,
			  const struct store_attr *a, unsigned mask)
{
	unsigned bits;

	if (c->uid == 0)
		return true;
	if (c->uid == a->uid)
		bits = a->mode >> 6;
	else {
		bool group = c->gid == a->gid;

		for (size_t i = 0; !group && i < c->ngroups; i++)
			group = c->groups[i] == a->gid;
		bits = group ? a->mode >> 3 : a->mode;
	}
	return (bits & mask) == mask;
}

bool store_may_read(struct store *st, const struct store_caller *c,
		    uint64_t ino)
{
	struct store_attr a;
	unsigned mask = 4;
	int depth = 0;

	if (!c || c->uid == 0)
		return true;
	for (;;) {
		if (store_getattr(st, ino, &a) || !inode_permits(c, &a, mask))
			return false;
		if (ino == STORE_ROOT_INO || depth++ > 256)
			return ino == STORE_ROOT_INO;
		ino = a.parent;
		mask = 1;	/* search permission on every folder above */
	}
}
