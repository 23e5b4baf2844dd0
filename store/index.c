/*
 * index.c - the inverted index: postings and document frequencies.
 *
 * A posting (CF_POSTINGS) is keyed term | 0x00 | ino, so all postings of
 * a term are one contiguous range and an episode's postings are found by
 * its terms (we re-analyse its content rather than keep a forward index:
 * analysis costs microseconds, a forward index would double the index).
 * The value carries what ranking needs without touching the inode record:
 *
 *   varint tf | varint doc length | varint zigzag(when, seconds) | u8 conf
 *
 * so when the time or confidence of an episode changes, its postings are
 * rewritten (touch -d and setxattr are rare; recall is not).
 *
 * There is no document-frequency table: recall scans every posting of a
 * cue term anyway and counts them as it goes.  A df table maintained per
 * commit doubled the keys a commit writes (the memtable insert is the
 * cost of a commit) and turned each recall lookup into the resolution of
 * thousands of merge operands.  Terms never contain a 0x00 byte (they are
 * letters and digits), which keeps the prefix unambiguous.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_i.h"


size_t varint_put(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

int varint_get(const unsigned char **p, const unsigned char *end,
	       uint64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		unsigned char c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EIO;
}

static size_t index_value(unsigned char *p, uint32_t tf,
			  const struct inode_rec *r)
{
	int64_t when = r->a.mtime.tv_sec;
	uint64_t zz = ((uint64_t)when << 1) ^ (uint64_t)(when >> 63);
	double c = r->a.confidence;
	size_t n = 0;

	n += varint_put(p + n, tf);
	n += varint_put(p + n, r->dl);
	n += varint_put(p + n, zz);
	p[n++] = (unsigned char)lround((c < 0 ? 0 : c > 1 ? 1 : c) * 255.0);
	return n;
}

int posting_decode(const unsigned char *p, size_t n, struct posting *out)
{
	const unsigned char *end = p + n;
	uint64_t tf, dl, zz;

	if (varint_get(&p, end, &tf) ||
	    varint_get(&p, end, &dl) ||
	    varint_get(&p, end, &zz) || p >= end)
		return -EIO;
	out->tf = (uint32_t)tf;
	out->dl = (uint32_t)dl;
	out->when = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
	out->conf = *p / 255.0;
	return 0;
}

size_t index_posting_key(unsigned char *key, const char *term, uint64_t ino)
{
	size_t n = strlen(term);

	memcpy(key, term, n);
	key[n] = '\0';
	be64_put(key + n + 1, ino);
	return n + 9;
}

static void index_put(rocksdb_writebatch_t *b, struct store *st,
		      const struct inode_rec *r, const struct text_term *t)
{
	unsigned char key[INDEX_TERM_MAX + 16], val[32];
	size_t klen = index_posting_key(key, t->term, r->a.ino);

	pcache_note(t->term, klen - 9);
	rocksdb_writebatch_put_cf(b, st->cf[CF_POSTINGS], (const char *)key,
				  klen, (const char *)val,
				  index_value(val, t->tf, r));
}

static void index_drop(rocksdb_writebatch_t *b, struct store *st,
		       const struct inode_rec *r, const struct text_term *t)
{
	unsigned char key[INDEX_TERM_MAX + 16];
	size_t klen = index_posting_key(key, t->term, r->a.ino);

	pcache_note(t->term, klen - 9);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_POSTINGS],
				     (const char *)key, klen);
}

/* Walk both sorted term lists once, like a merge join. */
void index_update(rocksdb_writebatch_t *b, struct store *st,
		  const struct inode_rec *r, const struct text_terms *old,
		  const struct text_terms *neu)
{
	size_t i = 0, j = 0, no = old ? old->n : 0, nn = neu ? neu->n : 0;

	while (i < no || j < nn) {
		int cmp = i == no ? 1 : j == nn ? -1
				   : strcmp(old->v[i].term, neu->v[j].term);

		if (cmp < 0) {
			index_drop(b, st, r, &old->v[i++]);
			continue;
		}
		if (cmp == 0)
			i++;
		index_put(b, st, r, &neu->v[j++]);
	}
}

int index_terms_of(struct store *st, const struct inode_rec *r,
		   struct text_terms *t)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = store_content_read(st, r->a.ino, &buf, &len);
	if (rc)
		return rc;
	rc = text_analyze(buf, len, t);
	free(buf);
	return rc;
}

/* ---- format upgrade ------------------------------------------------- */

#define INDEX_FORMAT	2	/* 1: no stop words; 2: stop words indexed */
#define INDEX_UPGRADE_BATCH 256	/* episodes a write */

/* Absent: a new store, or one from before the key (format 1). */
static int index_format_get(struct store *st, uint64_t *out)
{
	return db_get_be64(st, CF_DEFAULT, "meta/index_format", 17, 1, out);
}

/* Add the postings format 1 did not have (the stop words) for INO. */
static int index_upgrade_one(struct store *st, rocksdb_writebatch_t *b,
			     uint64_t ino)
{
	struct text_terms t;
	struct inode_rec r;
	int rc = inode_get(st, ino, &r);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	if (S_ISREG(r.a.mode) && r.indexed) {
		rc = index_terms_of(st, &r, &t);
		for (size_t i = 0; !rc && i < t.n; i++)
			if (t.v[i].stop)
				index_put(b, st, &r, &t.v[i]);
		text_terms_release(&t);
	}
	inode_rec_release(&r);
	return rc == -ENOENT ? 0 : rc;
}

static int index_upgrade_all(struct store *st)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(
		st->db, st->ro, st->cf[CF_INODES]);
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	size_t n = 0, klen;
	int rc = 0;

	for (rocksdb_iter_seek_to_first(it); !rc && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);

		if (klen != 8)
			continue;
		rc = index_upgrade_one(st, b, be64_get((const unsigned char *)k));
		if (!rc && ++n % INDEX_UPGRADE_BATCH == 0) {
			rc = db_write(st, b, false);
			rocksdb_writebatch_clear(b);
		}
	}
	if (!rc)
		rc = db_iter_status(st, it, "index upgrade");
	if (!rc) {
		db_put_u64(b, st, CF_DEFAULT, "meta/index_format", INDEX_FORMAT);
		rc = db_write(st, b, true);
	}
	rocksdb_writebatch_destroy(b);
	rocksdb_iter_destroy(it);
	return rc;
}

/*
 * At open: bring an index of an older format up to INDEX_FORMAT, once,
 * in place (postings are only added, so a crash half way leaves a store
 * that upgrades again at the next open).  A new store just gets the key.
 */
int index_upgrade(struct store *st)
{
	uint64_t fmt;
	int rc = index_format_get(st, &fmt);

	if (rc || fmt == INDEX_FORMAT)
		return rc;
	if (fmt > INDEX_FORMAT) {
		store_log(STORE_LOG_ERR, "index format %" PRIu64 " is newer "
			  "than this engramfs (%d): upgrade engramfs", fmt,
			  INDEX_FORMAT);
		return -EPROTO;
	}
	if (st->n_indexed)
		store_log(STORE_LOG_NOTICE, "upgrading the index from format "
			  "%" PRIu64 " to %d (%" PRIu64 " episodes): stop words "
			  "are now indexed", fmt, INDEX_FORMAT,
			  (uint64_t)st->n_indexed);
	rc = index_upgrade_all(st);
	if (rc)
		store_log(STORE_LOG_ERR, "index upgrade failed: %s",
			  strerror(-rc));
	return rc;
}
