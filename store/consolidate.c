/*
 * consolidate.c - consolidation: episodes changed since the last run join
 * concepts, or wait in the pool until enough similar ones appear to form
 * one; the commit hooks that tell a run what changed; the background
 * thread.
 *
 * Data this file owns (CF_* keys in db.c, concept records in concept.c):
 *
 *   CF_DIRTY    ino -> u64 mark (big-endian): changed since the last run.
 *               Written by dirty_mark in the commit's own batch; the mark
 *               is a per-process increasing sequence, so a run can tell
 *               whether an episode changed again while it worked.
 *   CF_VECTORS  ino -> the episode's vector as last consolidated:
 *                 u8 version (1) | u8 0 | u16 0 | u32 n | u64 cid |
 *                 n x (u8 length | stem | varint tf | f32 weight)
 *               little-endian, terms in no particular order.  cid is the
 *               concept the episode belongs to, 0 = the pool.  Weights
 *               are (1 + ln tf) x ln(1 + N/df), unit length, fixed when
 *               the episode was consolidated; only the 256 heaviest
 *               terms carry a weight (a 1 MiB episode must not give its
 *               concept a vocabulary of 20,000 terms).
 *   CF_DF       stem -> u64 (big-endian) number of vectors holding it.
 *   default     "meta/vectors" (N, the vectors), "meta/next_concept",
 *               "meta/dual_schema" (dirty marks seeded for old stores).
 *
 * Invariants (between runs, and after any crash):
 *  1. S(c), concept c's sum (concept.c), is the sum of the weights of
 *     the vectors whose cid is c (to float rounding; |w| < 1e-5 is
 *     dropped), and c's member count is their number.
 *  2. df(t) and N count exactly the stored vectors.
 *  3. An episode whose content, name or existence changed since its
 *     vector was written has a dirty mark.
 *  4. A binding (i, c) exists only if i's vector says c (commits may
 *     drop bindings at any time; a run writes one only after checking,
 *     under the writer lock, that i did not change since it was read).
 * They hold because a chunk of work (below) is one write batch.
 *
 * A run.  Runs are serialised by the run lock (concept.c); commits never
 * wait for a run except for the final write of each chunk.  The dirty set
 * is walked in chunks of CONS_CHUNK inode numbers.  The term table,
 * document frequencies and every concept a chunk loads stay in memory for
 * the rest of the run (they equal what the last chunk wrote), so each is
 * read once per run however many chunks touch it.  For each chunk:
 *   1. read: the stored vector, the inode and its text.  An episode whose
 *      terms did not change (touch, setxattr) keeps its vector;
 *   2. frequencies: old terms leave df and N, new ones enter; then the
 *      new vectors are weighed with the updated idf;
 *   3. leave: a changed or gone episode's old weights leave its concept;
 *   4. join: each new vector goes to the nearest concept if their cosine
 *      is at least consolidation.join_similarity and the concept stays
 *      coherent with it.  Candidates come from the cache's inverted map
 *      of centroid top terms (never a scan of all concepts) and are
 *      checked against the full sum;
 *   5. review: a concept that lost members and fell under two members or
 *      under consolidation.min_coherence dissolves; its members go back
 *      to the pool;
 *   6. cluster: every changed episode still in the pool seeds a search
 *      for pool neighbours through the postings of its most specific
 *      terms (document frequency 2..CONS_DF_CAP, at most CONS_POSTINGS
 *      postings each, the newest, CONS_NEIGHBOURS vectors read).  The
 *      seed and the neighbours close to it make a group; members are
 *      dropped, farthest first, until each is join_similarity close to
 *      the group's centroid and the group is coherent; a group of
 *      consolidation.min_cluster_size becomes a concept;
 *   7. finish: centroid top terms, coherence |S|/n, strengths, labels;
 *   8. commit: under st->write_lock, every binding about to be written is
 *      checked against the episode's dirty mark: an episode that changed
 *      or went meanwhile is not bound (its next run fixes it) and keeps
 *      its mark.  One batch, then the cache is published.
 *
 * Cost.  A chunk reads its dirty episodes, the concepts they touch and a
 * bounded number of neighbours per seed, and writes its episodes' vectors
 * and bindings, the frequencies and sum terms they change and the records
 * of the concepts they touch: proportional to the change, not to the
 * store.  Strengths of existing members shift a little when a concept
 * changes; they are all redone only when the concept is tiny or half of
 * its members changed since the last time (amortised O(1) per change),
 * otherwise only the members that moved are written.  Measured on this
 * 2-core machine: 10,000 new episodes into a store of 100,000 (1,000
 * topics) in about 5 s; see tests/bench/consolidate_bench.c.  A DEBUG log
 * line after each run gives the time of each step and the longest hold
 * of the writer lock.
 *
 * Locks: run lock > st->write_lock; the cache lock is taken alone.
 * The change hook is called with the run lock held (and no other), which
 * is what lets store_change_hook retire a hook safely.
 *
 * Rejected: clustering the whole store each run (quadratic); one batch
 * for a whole run (holds the writer lock for seconds); recomputing idf
 * weights of old members (a member's weights are frozen, so its removal
 * subtracts exactly what it added); k-means (needs k, and rewrites every
 * membership each iteration).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "concept_i.h"

/*
 * Dirty episodes per chunk, one batch each.  The batch holds the writer
 * lock and, longer, RocksDB's write queue, which recall's own small
 * writes wait in: 128 episodes made about 7,000 keys and 20 ms in the
 * worst case measured (every chunk touching a hundred concepts), 512
 * made 23,000 keys and 150 ms, for the same total time.
 */
#ifndef CONS_CHUNK
#define CONS_CHUNK 128
#endif
/* Weighted terms per episode vector. */
#define CONS_VEC_MAX 256
/* Concepts checked against the full sum per joining episode. */
#define CONS_JOIN_CANDIDATES 4
/* Terms of a seed whose postings are read. */
#define CONS_SEED_TERMS 4
/* Terms in more vectors than this say little about a topic. */
#define CONS_DF_CAP 5000
/* Postings read per seed term (the newest). */
#define CONS_POSTINGS 2000
/* Neighbour vectors read per seed (most shared terms first). */
#define CONS_NEIGHBOURS 64
/*
 * A neighbour needs this fraction of join_similarity as its cosine with
 * the seed.  Pairwise cosines of tf-idf vectors run well below member-to-
 * centroid cosines (the centroid averages away what members do not
 * share: four episodes with pairwise cosines of 0.25 have a centroid
 * they are all 0.66 close to), so the group is cut by the centroid, as
 * a join is, not by the seed.
 */
#define CONS_NEIGHBOUR_FACTOR 0.5
/* Strengths of every member are redone for concepts this small... */
#define CONS_REFRESH_SMALL 4
/* ...or when 1/N of the members changed since the last time.  Half:
 * amortised, each change rewrites about 4 bindings. */
#define CONS_REFRESH_FRACTION 2
/* Sum weights closer to 0 than this are rounding residue. */
#define CONS_SUM_EPS 1e-5
/* Label stems that keep a label while they are among the top N terms. */
#define CONS_LABEL_KEEP 8
#define CONS_TERM_MAX 64

enum {
	EP_DIRTY = 1 << 0,	/* in this chunk's dirty set */
	EP_STORED = 1 << 1,	/* had a stored vector */
	EP_ALIVE = 1 << 2,	/* has a vector now */
	EP_CHANGED = 1 << 3,	/* its vector is new */
	EP_BIND = 1 << 4,	/* a binding to (ino, cid) is to be written */
	EP_UNBOUND = 1 << 5,	/* a binding of it was deleted */
	EP_TAKEN = 1 << 6,	/* grouped by a seed in this chunk */
};

struct cons_tw {
	uint32_t tid, tf;
	float w;
};

struct cons_vec {
	struct cons_tw *v;	/* sorted by tid */
	uint32_t n;
};

struct cons_ep {
	uint64_t ino;
	uint64_t dirty;		/* mark read; 0 = not in the dirty set */
	uint64_t old_cid, cid;	/* stored, and now */
	struct cons_vec vec, old;
	double strength;
	unsigned flags;
};

struct cons_con {
	uint64_t id;
	struct concept_rec rec;
	struct concept_map sum;	/* tid + 1 -> double bits */
	struct concept_map touched;	/* tid + 1: sum terms changed */
	double norm2;		/* |S|^2, kept up to date */
	uint32_t n;		/* members */
	uint32_t joined, left;
	uint32_t *newm;		/* eps bound to it in this chunk */
	size_t nnewm, capnewm;
	bool missing, is_new, changed, dissolved, relabelled;
};

struct cons_df {
	int64_t df;
	bool loaded, changed;
};

struct cons_label {
	char *label;
	uint64_t id;		/* 0 = freed */
};

/* What a whole run reports. */
struct cons_total {
	struct store_consolidation rep;
	struct concept_map updated;	/* ids updated (not formed) */
	uint64_t analysed;
	bool dir_changed;
	double step_s[8];	/* read, assign, cluster, finish, commit, publish */
	double hold_max;	/* longest hold of st->write_lock */
	size_t batch_max;	/* most keys in a chunk's batch */
};

/*
 * A run's working state.  Episodes (ep) live for one chunk; concepts
 * (con), terms and frequencies for the whole run, so a concept or a
 * frequency is read from the store once per run, however many chunks
 * touch it (they are written by every chunk that changes them).
 */
struct cons_run {
	struct store *st;
	struct cons_total *tot;
	double join, min_coh;
	uint32_t min_size;
	int64_t now;
	struct concept_tab tab;
	struct cons_df *df;	/* by tid */
	size_t ndf;
	int64_t n_vectors;
	uint64_t next_cid, first_new;	/* first_new: formed in this run */
	struct concept_map ep_ix;	/* ino -> index + 1 */
	struct cons_ep *ep;
	size_t nep, capep, nd;	/* eps [0, nd) are the dirty set */
	struct concept_map con_ix;	/* id -> index + 1 */
	struct cons_con *con;
	size_t ncon, capcon;
	struct cons_label *lab;
	size_t nlab, caplab;
	rocksdb_writebatch_t *b;
	int read_err;		/* a failed read of a frequency: no commit */
};

/* ---- growing arrays ------------------------------------------------- */

static int cons_grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	void *nv;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	nv = realloc(*v, c * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

static double cons_dget(const uint64_t *slot)
{
	double d = 0;

	if (slot)
		memcpy(&d, slot, 8);
	return d;
}

static void cons_dset(uint64_t *slot, double d)
{
	memcpy(slot, &d, 8);
}

/* ---- commit hooks ---------------------------------------------------- */

void dirty_mark(rocksdb_writebatch_t *b, struct store *st, uint64_t ino)
{
	unsigned char key[8], val[8];

	be64_put(key, ino);
	be64_put(val, concept_dirty_seq(st));
	rocksdb_writebatch_put_cf(b, st->cf[CF_DIRTY], (const char *)key, 8,
				  (const char *)val, 8);
}

int bindings_drop(rocksdb_writebatch_t *b, struct store *st, uint64_t ino)
{
	struct binding *v = NULL;
	size_t n = 0;
	int rc = episode_bindings(st, ino, &v, &n);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		concept_binding_del(b, st, ino, v[i].id);
	free(v);
	return 0;
}

/* Mark every indexed episode of a store made before dual memory. */
int dirty_seed_all(struct store *st)
{
	rocksdb_writebatch_t *b;
	rocksdb_iterator_t *it;
	size_t klen, n = 0;
	char *v;
	int rc = db_get(st, CF_DEFAULT, "meta/dual_schema", 16, &v, &klen);

	if (rc != -ENOENT) {
		free(rc ? NULL : v);
		return rc;
	}
	rc = 0;
	b = rocksdb_writebatch_create();
	it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_INODES]);
	for (rocksdb_iter_seek_to_first(it); !rc && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		struct inode_rec r;

		if (klen != 8)
			continue;
		rc = inode_get(st, be64_get((const unsigned char *)k), &r);
		if (rc) {
			rc = rc == -ENOENT ? 0 : rc;
			continue;
		}
		if (r.indexed && S_ISREG(r.a.mode)) {
			dirty_mark(b, st, r.a.ino);
			n++;
		}
		inode_rec_release(&r);
	}
	if (!rc)
		rc = db_iter_status(st, it, "dual memory: inodes");
	rocksdb_iter_destroy(it);
	rocksdb_writebatch_put_cf(b, st->cf[CF_DEFAULT], "meta/dual_schema",
				  16, "1", 1);
	if (!rc)
		rc = db_write(st, b, true);
	rocksdb_writebatch_destroy(b);
	if (!rc && n)
		store_log(STORE_LOG_NOTICE,
			  "dual memory: %zu existing episodes marked for "
			  "consolidation", n);
	return rc;
}

/* ---- terms and frequencies --------------------------------------------- */

static int cons_intern(struct cons_run *r, const char *s, size_t len,
		       uint32_t *tid)
{
	size_t old = r->ndf;
	int rc = concept_tab_add(&r->tab, s, len, tid);

	if (!rc && *tid >= r->ndf) {
		rc = cons_grow((void **)&r->df, &r->ndf, *tid + 1,
			       sizeof(*r->df));
		if (!rc)
			memset(r->df + old, 0, (r->ndf - old) * sizeof(*r->df));
	}
	return rc;
}

static const char *cons_term(const struct cons_run *r, uint32_t tid)
{
	return r->tab.s[tid];
}

/*
 * The document frequency of TID, read once per run.  A failed read is
 * not a frequency of 0: it is kept in r->read_err, which stops the chunk
 * before its commit (cons_chunk), and the frequency stays unloaded.
 */
static int64_t cons_df_of(struct cons_run *r, uint32_t tid)
{
	struct cons_df *d = &r->df[tid];
	const char *t = cons_term(r, tid);
	uint64_t df;
	int rc;

	if (d->loaded)
		return d->df;
	rc = db_get_be64(r->st, CF_DF, t, strlen(t), 0, &df);
	if (rc) {
		if (!r->read_err)
			r->read_err = rc;
		return 0;
	}
	d->loaded = true;
	d->df = (int64_t)df;
	return d->df;
}

static void cons_df_add(struct cons_run *r, const struct cons_vec *v,
			int sign)
{
	for (uint32_t i = 0; i < v->n; i++) {
		cons_df_of(r, v->v[i].tid);
		r->df[v->v[i].tid].df += sign;
		r->df[v->v[i].tid].changed = true;
	}
	r->n_vectors += sign;
}

/* ---- vectors ------------------------------------------------------- */

static int cons_tw_cmp(const void *a, const void *b)
{
	const struct cons_tw *x = a, *y = b;

	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static double cons_dot(const struct cons_vec *a, const struct cons_vec *b)
{
	double d = 0;
	uint32_t i = 0, j = 0;

	while (i < a->n && j < b->n) {
		if (a->v[i].tid < b->v[j].tid)
			i++;
		else if (a->v[i].tid > b->v[j].tid)
			j++;
		else
			d += (double)a->v[i++].w * b->v[j++].w;
	}
	return d;
}

static bool cons_same_terms(const struct cons_vec *a, const struct cons_vec *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->v[i].tid != b->v[i].tid || a->v[i].tf != b->v[i].tf)
			return false;
	return true;
}

/* Parse one term of a vector record at *P. */
static int cons_vec_term(struct cons_run *r, const unsigned char **p,
			 const unsigned char *end, struct cons_tw *tw)
{
	uint64_t tf;
	size_t len;

	if (*p >= end || (size_t)(end - *p) < 1u + **p)
		return -EIO;
	len = **p;
	if (cons_intern(r, (const char *)*p + 1, len, &tw->tid))
		return -ENOMEM;
	*p += 1 + len;
	if (varint_get(p, end, &tf) || end - *p < 4)
		return -EIO;
	tw->tf = (uint32_t)tf;
	memcpy(&tw->w, *p, 4);
	*p += 4;
	return 0;
}

static int cons_vec_decode(struct cons_run *r, const unsigned char *p,
			   size_t n, struct cons_vec *v, uint64_t *cid)
{
	const unsigned char *end = p + n;
	uint32_t cnt;
	int rc = 0;

	if (n < 16 || p[0] != 1)
		return -EIO;
	memcpy(&cnt, p + 4, 4);
	memcpy(cid, p + 8, 8);
	if (cnt > n)
		return -EIO;
	v->v = calloc(cnt ? cnt : 1, sizeof(*v->v));
	if (!v->v)
		return -ENOMEM;
	p += 16;
	for (v->n = 0; !rc && v->n < cnt; v->n++)
		rc = cons_vec_term(r, &p, end, &v->v[v->n]);
	if (rc) {
		free(v->v);
		v->v = NULL;
		v->n = 0;
		return rc;
	}
	qsort(v->v, v->n, sizeof(*v->v), cons_tw_cmp);
	return 0;
}

/* The stored vector of INO; -ENOENT if it has none. */
static int cons_vec_load(struct cons_run *r, uint64_t ino,
			 struct cons_vec *v, uint64_t *cid)
{
	unsigned char key[8];
	char *val;
	size_t n;
	int rc;

	be64_put(key, ino);
	rc = db_get(r->st, CF_VECTORS, key, 8, &val, &n);
	if (rc)
		return rc;
	rc = cons_vec_decode(r, (unsigned char *)val, n, v, cid);
	free(val);
	if (rc == -EIO)
		store_log(STORE_LOG_ERR, "inode %llu: bad vector record",
			  (unsigned long long)ino);
	return rc;
}

static int cons_vec_stage(struct cons_run *r, const struct cons_ep *e)
{
	unsigned char key[8], *buf, *p;
	size_t cap = 16;

	for (uint32_t i = 0; i < e->vec.n; i++)
		cap += 1 + strlen(cons_term(r, e->vec.v[i].tid)) + 10 + 4;
	p = buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	memset(p, 0, 4);
	p[0] = 1;
	memcpy(p + 4, &e->vec.n, 4);
	memcpy(p + 8, &e->cid, 8);
	p += 16;
	for (uint32_t i = 0; i < e->vec.n; i++) {
		const char *t = cons_term(r, e->vec.v[i].tid);
		size_t len = strlen(t);

		*p++ = (unsigned char)len;
		memcpy(p, t, len);
		p += len;
		p += varint_put(p, e->vec.v[i].tf);
		memcpy(p, &e->vec.v[i].w, 4);
		p += 4;
	}
	be64_put(key, e->ino);
	rocksdb_writebatch_put_cf(r->b, r->st->cf[CF_VECTORS],
				  (const char *)key, 8, (const char *)buf,
				  (size_t)(p - buf));
	free(buf);
	return 0;
}

/* Terms and tf of analysed text, weights still 0. */
static int cons_vec_from_terms(struct cons_run *r, const struct text_terms *t,
			       struct cons_vec *v)
{
	v->v = calloc(t->n ? t->n : 1, sizeof(*v->v));
	if (!v->v)
		return -ENOMEM;
	for (v->n = 0; v->n < t->n; v->n++) {
		struct cons_tw *tw = &v->v[v->n];

		if (cons_intern(r, t->v[v->n].term, strlen(t->v[v->n].term),
				&tw->tid))
			return -ENOMEM;
		tw->tf = t->v[v->n].tf;
	}
	qsort(v->v, v->n, sizeof(*v->v), cons_tw_cmp);
	return 0;
}

static int cons_w_desc(const void *a, const void *b)
{
	float x = **(float *const *)a, y = **(float *const *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Weigh V with the current idf, keep the CONS_VEC_MAX heaviest, unit
 * length. */
static int cons_weigh(struct cons_run *r, struct cons_vec *v)
{
	double norm = 0, n_docs = r->n_vectors > 0 ? (double)r->n_vectors : 1;

	for (uint32_t i = 0; i < v->n; i++) {
		int64_t df = cons_df_of(r, v->v[i].tid);

		v->v[i].w = (float)((1 + log((double)v->v[i].tf)) *
				    log(1 + n_docs / (double)(df > 0 ? df : 1)));
	}
	if (v->n > CONS_VEC_MAX) {
		float **by = malloc(v->n * sizeof(*by));

		if (!by)
			return -ENOMEM;
		for (uint32_t i = 0; i < v->n; i++)
			by[i] = &v->v[i].w;
		qsort(by, v->n, sizeof(*by), cons_w_desc);
		for (uint32_t i = CONS_VEC_MAX; i < v->n; i++)
			*by[i] = 0;
		free(by);
	}
	for (uint32_t i = 0; i < v->n; i++)
		norm += (double)v->v[i].w * v->v[i].w;
	norm = sqrt(norm);
	for (uint32_t i = 0; i < v->n; i++)
		v->v[i].w = norm > 0 ? (float)(v->v[i].w / norm) : 0;
	return 0;
}

/* ---- episodes in the working set --------------------------------------- */

static int cons_ep_new(struct cons_run *r, uint64_t ino, size_t *idx)
{
	uint64_t *slot;

	if (cons_grow((void **)&r->ep, &r->capep, r->nep + 1, sizeof(*r->ep)))
		return -ENOMEM;
	slot = concept_map_put(&r->ep_ix, ino);
	if (!slot)
		return -ENOMEM;
	*slot = r->nep + 1;
	memset(&r->ep[r->nep], 0, sizeof(r->ep[0]));
	r->ep[r->nep].ino = ino;
	*idx = r->nep++;
	return 0;
}

/* Episode INO: from the working set, or with its stored vector. */
static int cons_ep_get(struct cons_run *r, uint64_t ino, size_t *idx)
{
	uint64_t *slot = concept_map_get(&r->ep_ix, ino);
	struct cons_vec v = { 0 };
	uint64_t cid = 0;
	int rc;

	if (slot) {
		*idx = *slot - 1;
		return 0;
	}
	rc = cons_vec_load(r, ino, &v, &cid);
	if (rc && rc != -ENOENT)
		return rc;
	if (cons_ep_new(r, ino, idx)) {
		free(v.v);
		return -ENOMEM;
	}
	if (!rc) {
		r->ep[*idx].vec = v;
		r->ep[*idx].old_cid = r->ep[*idx].cid = cid;
		r->ep[*idx].flags = EP_STORED | EP_ALIVE;
	}
	return 0;
}

/* The text of INO as terms; *alive = false if it has none to give. */
static int cons_analyse(struct cons_run *r, uint64_t ino,
			struct text_terms *t, bool *alive)
{
	struct inode_rec rec;
	int rc = inode_get(r->st, ino, &rec);

	*alive = false;
	memset(t, 0, sizeof(*t));
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (S_ISREG(rec.a.mode) && rec.indexed) {
		rc = index_terms_of(r->st, &rec, t);
		r->tot->analysed++;
		if (!rc)
			text_terms_drop_stop(t);	/* concepts are content */
		*alive = !rc && t->n > 0;
	}
	inode_rec_release(&rec);
	return rc == -ENOENT ? 0 : rc;
}

/* Step 1 for one dirty episode. */
static int cons_dirty_load(struct cons_run *r, uint64_t ino, uint64_t mark)
{
	struct text_terms t;
	struct cons_vec neu = { 0 };
	struct cons_ep *e;
	size_t i;
	bool alive;
	int rc = cons_ep_get(r, ino, &i);

	if (!rc)
		rc = cons_analyse(r, ino, &t, &alive);
	if (rc)
		return rc;
	if (alive)
		rc = cons_vec_from_terms(r, &t, &neu);
	text_terms_release(&t);
	e = &r->ep[i];
	e->dirty = mark;
	e->flags |= EP_DIRTY;
	if (rc || (alive && (e->flags & EP_STORED) &&
		   cons_same_terms(&neu, &e->vec))) {
		free(neu.v);
		return rc;	/* unchanged: keeps its vector */
	}
	e->old = e->vec;
	e->vec = neu;
	e->cid = 0;
	e->flags &= ~EP_ALIVE;
	e->flags |= alive ? EP_ALIVE | EP_CHANGED : 0;
	return 0;
}

/* Read up to CONS_CHUNK dirty marks from *CURSOR on. */
static int cons_read_dirty(struct cons_run *r, uint64_t *cursor, bool *more)
{
	uint64_t ino[CONS_CHUNK], mark[CONS_CHUNK];
	unsigned char lo[8];
	rocksdb_iterator_t *it;
	size_t n = 0, klen, vlen;
	int rc = 0;

	be64_put(lo, *cursor);
	it = rocksdb_create_iterator_cf(r->st->db, r->st->ro,
					r->st->cf[CF_DIRTY]);
	for (rocksdb_iter_seek(it, (const char *)lo, 8);
	     n < CONS_CHUNK && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);

		if (klen != 8)
			continue;
		ino[n] = be64_get((const unsigned char *)k);
		mark[n++] = vlen == 8 ? be64_get((const unsigned char *)v) : 1;
	}
	*more = rocksdb_iter_valid(it);
	rc = db_iter_status(r->st, it, "consolidation: dirty marks");
	rocksdb_iter_destroy(it);
	for (size_t i = 0; !rc && i < n; i++)
		rc = cons_dirty_load(r, ino[i], mark[i]);
	r->nd = r->nep;
	if (n)
		*cursor = ino[n - 1] + 1;
	return rc;
}

/* ---- concepts in the working set -------------------------------------- */

/* S += SIGN x V, keeping |S|^2. */
static int cons_sum_add(struct cons_con *c, const struct cons_vec *v,
			int sign)
{
	double dot = 0, vv = 0;

	for (uint32_t i = 0; i < v->n; i++) {
		dot += v->v[i].w *
		       cons_dget(concept_map_get(&c->sum, v->v[i].tid + 1));
		vv += (double)v->v[i].w * v->v[i].w;
	}
	for (uint32_t i = 0; i < v->n; i++) {
		uint64_t *slot;

		if (v->v[i].w == 0)
			continue;
		slot = concept_map_put(&c->sum, v->v[i].tid + 1);
		if (!slot)
			return -ENOMEM;
		cons_dset(slot, cons_dget(slot) + sign * (double)v->v[i].w);
		if (!concept_map_put(&c->touched, v->v[i].tid + 1))
			return -ENOMEM;
	}
	c->norm2 += 2 * sign * dot + vv;
	if (c->norm2 < 0)
		c->norm2 = 0;
	return 0;
}

static double cons_sum_dot(const struct cons_con *c, const struct cons_vec *v)
{
	double dot = 0;

	for (uint32_t i = 0; i < v->n; i++)
		if (v->v[i].w != 0)
			dot += v->v[i].w * cons_dget(concept_map_get(
						   &c->sum, v->v[i].tid + 1));
	return dot;
}

static double cons_cosine(const struct cons_con *c, const struct cons_vec *v)
{
	double d = c->norm2 > 0 ? cons_sum_dot(c, v) / sqrt(c->norm2) : 0;

	return d < 0 ? 0 : d > 1 ? 1 : d;
}

static int cons_con_new(struct cons_run *r, uint64_t id, size_t *idx)
{
	uint64_t *slot;

	if (cons_grow((void **)&r->con, &r->capcon, r->ncon + 1,
		      sizeof(*r->con)))
		return -ENOMEM;
	slot = concept_map_put(&r->con_ix, id);
	if (!slot)
		return -ENOMEM;
	*slot = r->ncon + 1;
	memset(&r->con[r->ncon], 0, sizeof(r->con[0]));
	r->con[r->ncon].id = id;
	*idx = r->ncon++;
	return 0;
}

static int cons_con_load(struct cons_run *r, struct cons_con *c)
{
	struct concept_sum s;
	int rc = concept_rec_get(r->st, c->id, &c->rec);

	if (rc == -ENOENT) {
		c->missing = true;
		return 0;
	}
	if (!rc)
		rc = concept_sum_get(r->st, c->id, &s);
	if (rc)
		return rc;
	c->n = c->rec.members;
	rc = concept_map_init(&c->sum, s.n);
	for (uint32_t i = 0; !rc && i < s.n; i++) {
		uint32_t tid;
		uint64_t *slot;

		rc = cons_intern(r, s.v[i].term, strlen(s.v[i].term), &tid);
		slot = rc ? NULL : concept_map_put(&c->sum, tid + 1);
		if (!slot)
			rc = -ENOMEM;
		else
			cons_dset(slot, s.v[i].w);
		c->norm2 += (double)s.v[i].w * s.v[i].w;
	}
	concept_sum_release(&s);
	return rc;
}

/* Concept ID in the working set (loaded on first use); *idx = SIZE_MAX
 * when it no longer exists. */
static int cons_con_get(struct cons_run *r, uint64_t id, size_t *idx)
{
	uint64_t *slot = concept_map_get(&r->con_ix, id);
	int rc;

	if (slot) {
		*idx = *slot - 1;
	} else {
		rc = cons_con_new(r, id, idx);
		if (!rc)
			rc = cons_con_load(r, &r->con[*idx]);
		if (rc)
			return rc;
	}
	if (r->con[*idx].missing || r->con[*idx].dissolved)
		*idx = SIZE_MAX;
	return 0;
}

static int cons_newm_add(struct cons_con *c, size_t ep)
{
	if (cons_grow((void **)&c->newm, &c->capnewm, c->nnewm + 1,
		      sizeof(*c->newm)))
		return -ENOMEM;
	c->newm[c->nnewm++] = (uint32_t)ep;
	return 0;
}

/* Episode EP joins concept CI. */
static int cons_bind(struct cons_run *r, size_t ci, size_t ep)
{
	struct cons_con *c = &r->con[ci];
	int rc = cons_sum_add(c, &r->ep[ep].vec, 1);

	if (!rc)
		rc = cons_newm_add(c, ep);
	if (rc)
		return rc;
	c->n++;
	c->joined++;
	c->changed = true;
	r->ep[ep].cid = c->id;
	r->tot->rep.bindings_created++;
	return 0;
}

/* Would concept C stay coherent with V as a member?  *cos gets the
 * cosine of V to the centroid. */
static bool cons_fits(const struct cons_run *r, const struct cons_con *c,
		      const struct cons_vec *v, double *cos)
{
	double dot = cons_sum_dot(c, v), vv = cons_dot(v, v);
	double n2 = c->norm2 + 2 * dot + vv;

	*cos = c->norm2 > 0 ? dot / sqrt(c->norm2) : 0;
	return *cos >= r->join && sqrt(n2 > 0 ? n2 : 0) / (c->n + 1) >=
				  r->min_coh;
}

/* Time spent in each step, for the debug line of a run. */
static void cons_lap(struct cons_run *r, int step, int64_t *t)
{
	int64_t now = now_ns();

	r->tot->step_s[step] += (double)(now - *t) / 1e9;
	*t = now;
}

/* ---- steps 2 and 3: frequencies, leaving ----------------------------- */

static int cons_frequencies(struct cons_run *r)
{
	int rc = 0;

	for (size_t i = 0; i < r->nd; i++) {
		struct cons_ep *e = &r->ep[i];
		bool moved = (e->flags & EP_CHANGED) || !(e->flags & EP_ALIVE);

		if (moved && (e->flags & EP_STORED))
			cons_df_add(r, &e->old, -1);
		if (e->flags & EP_CHANGED)
			cons_df_add(r, &e->vec, 1);
	}
	for (size_t i = 0; !rc && i < r->nd; i++)
		if (r->ep[i].flags & EP_CHANGED)
			rc = cons_weigh(r, &r->ep[i].vec);
	return rc;
}

/* A changed or gone episode leaves its old concept; an unchanged one is
 * bound again (its binding may have been skipped by a racing commit). */
static int cons_leave(struct cons_run *r, size_t i)
{
	struct cons_ep *e = &r->ep[i];
	bool moved = (e->flags & EP_CHANGED) || !(e->flags & EP_ALIVE);
	size_t ci;
	int rc;

	if (!(e->flags & EP_STORED) || !e->old_cid)
		return 0;
	rc = cons_con_get(r, e->old_cid, &ci);
	if (rc)
		return rc;
	e = &r->ep[i];
	if (ci == SIZE_MAX) {	/* its concept dissolved earlier */
		e->cid = 0;
		return 0;
	}
	if (!moved)
		return cons_newm_add(&r->con[ci], i);
	concept_binding_del(r->b, r->st, e->ino, e->old_cid);
	e->flags |= EP_UNBOUND;
	r->con[ci].n--;
	r->con[ci].left++;
	r->con[ci].changed = true;
	return cons_sum_add(&r->con[ci], &e->old, -1);
}

/* ---- step 4: joining ----------------------------------------------- */

static int cons_join(struct cons_run *r, size_t i)
{
	struct concept_hit hits[CONS_JOIN_CANDIDATES];
	char *terms[CONS_VEC_MAX];
	float w[CONS_VEC_MAX];
	size_t n = 0, nh, best = SIZE_MAX;
	double best_cos = -1;

	for (uint32_t j = 0; j < r->ep[i].vec.n && n < CONS_VEC_MAX; j++)
		if (r->ep[i].vec.v[j].w > 0) {
			terms[n] = (char *)cons_term(r, r->ep[i].vec.v[j].tid);
			w[n++] = r->ep[i].vec.v[j].w;
		}
	nh = concept_candidates(r->st, terms, w, n, CONS_JOIN_CANDIDATES,
				hits);
	for (size_t h = 0; h < nh; h++) {
		size_t ci;
		double cos;
		int rc = cons_con_get(r, hits[h].id, &ci);

		if (rc)
			return rc;
		if (ci != SIZE_MAX && cons_fits(r, &r->con[ci], &r->ep[i].vec,
						&cos) && cos > best_cos) {
			best = ci;
			best_cos = cos;
		}
	}
	return best == SIZE_MAX ? 0 : cons_bind(r, best, i);
}

/* ---- step 5: dissolving -------------------------------------------- */

/* Member INO of dissolving concept C goes back to the pool. */
static int cons_release_member(struct cons_run *r, uint64_t cid,
			       uint64_t ino)
{
	size_t i;
	int rc = cons_ep_get(r, ino, &i);

	if (rc)
		return rc;
	concept_binding_del(r->b, r->st, ino, cid);
	r->ep[i].flags |= EP_UNBOUND;
	if (r->ep[i].cid == cid) {
		r->ep[i].cid = 0;
		r->ep[i].flags &= ~EP_BIND;
	}
	return 0;
}

static int cons_label_op(struct cons_run *r, const char *label, uint64_t id)
{
	char *copy = strdup(label);

	if (!copy || cons_grow((void **)&r->lab, &r->caplab, r->nlab + 1,
			       sizeof(*r->lab))) {
		free(copy);
		return -ENOMEM;
	}
	r->lab[r->nlab].label = copy;
	r->lab[r->nlab++].id = id;
	return 0;
}

static int cons_dissolve(struct cons_run *r, size_t ci)
{
	struct binding *m = NULL;
	size_t n = 0;
	uint64_t id = r->con[ci].id;
	int rc = concept_members(r->st, id, &m, &n);

	for (size_t j = 0; !rc && j < n; j++)
		rc = cons_release_member(r, id, m[j].id);
	free(m);
	for (size_t j = 0; !rc && j < r->con[ci].nnewm; j++)
		rc = cons_release_member(r, id,
					 r->ep[r->con[ci].newm[j]].ino);
	if (!rc && r->con[ci].rec.label)
		rc = cons_label_op(r, r->con[ci].rec.label, 0);
	if (rc)
		return rc;
	concept_rec_del(r->b, r->st, &r->con[ci].rec);
	r->con[ci].dissolved = r->con[ci].changed = true;
	r->tot->rep.concepts_dissolved++;
	r->tot->dir_changed = true;
	return 0;
}

static int cons_review(struct cons_run *r)
{
	int rc = 0;

	for (size_t ci = 0; !rc && ci < r->ncon; ci++) {
		struct cons_con *c = &r->con[ci];
		double coh = c->n ? sqrt(c->norm2) / c->n : 0;

		if (c->missing || c->dissolved || c->is_new || !c->changed)
			continue;
		if (c->n < 2 || coh < r->min_coh)
			rc = cons_dissolve(r, ci);
	}
	return rc;
}

/* ---- step 6: clustering the pool ------------------------------------- */

struct cons_cand {
	uint64_t ino;
	uint32_t hits;
	double cos;
	size_t ep;
};

/*
 * Where to start reading the postings of a term in DF vectors so that
 * about CONS_POSTINGS of the newest are read, assuming they spread evenly
 * over the inode numbers.  Postings are read forward only: the postings
 * memtable hashes by term, and reverse or total-order iteration over it
 * would copy the whole memtable.
 */
static uint64_t cons_postings_from(struct cons_run *r, int64_t df)
{
	uint64_t next, span;

	if (df <= CONS_POSTINGS)
		return 0;
	pthread_mutex_lock(&r->st->write_lock);
	next = r->st->next_ino;
	pthread_mutex_unlock(&r->st->write_lock);
	span = next > STORE_FIRST_INO ? next - STORE_FIRST_INO : 0;
	return next - (uint64_t)((double)span * 1.25 * CONS_POSTINGS /
				 (double)df);
}

/* Count, per episode, the postings of term TID it has. */
static int cons_postings(struct cons_run *r, uint32_t tid,
			 struct concept_map *hits)
{
	const char *term = cons_term(r, tid);
	size_t tl = strlen(term), klen, n = 0;
	char lo[CONS_TERM_MAX + 16], hi[CONS_TERM_MAX + 16];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	int rc = 0;

	memcpy(lo, term, tl);
	lo[tl] = '\0';
	be64_put((unsigned char *)lo + tl + 1,
		 cons_postings_from(r, cons_df_of(r, tid)));
	memcpy(hi, term, tl);
	hi[tl] = '\1';
	rocksdb_readoptions_set_iterate_upper_bound(ro, hi, tl + 1);
	it = rocksdb_create_iterator_cf(r->st->db, ro, r->st->cf[CF_POSTINGS]);
	for (rocksdb_iter_seek(it, lo, tl + 9);
	     !rc && n < CONS_POSTINGS && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it), n++) {
		const char *k = rocksdb_iter_key(it, &klen);
		uint64_t *slot;

		if (klen != tl + 9)
			continue;
		slot = concept_map_put(hits,
				       be64_get((const unsigned char *)k + tl + 1));
		if (!slot)
			rc = -ENOMEM;
		else
			++*slot;
	}
	if (!rc)
		rc = db_iter_status(r->st, it, "consolidation: postings");
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

/* The seed's most specific terms shared with other vectors. */
static size_t cons_seed_terms(struct cons_run *r, const struct cons_vec *v,
			      uint32_t *out)
{
	float best[CONS_SEED_TERMS];
	size_t n = 0;

	for (uint32_t i = 0; i < v->n; i++) {
		int64_t df = cons_df_of(r, v->v[i].tid);
		size_t j;

		if (v->v[i].w <= 0 || df < 2 || df > CONS_DF_CAP)
			continue;
		j = n < CONS_SEED_TERMS ? n++ : CONS_SEED_TERMS;
		for (; j > 0 && best[j - 1] < v->v[i].w; j--)
			if (j < CONS_SEED_TERMS) {
				best[j] = best[j - 1];
				out[j] = out[j - 1];
			}
		if (j < CONS_SEED_TERMS) {
			best[j] = v->v[i].w;
			out[j] = v->v[i].tid;
		}
	}
	return n;
}

static int cons_cand_cmp(const void *a, const void *b)
{
	const struct cons_cand *x = a, *y = b;

	if (x->hits != y->hits)
		return x->hits < y->hits ? 1 : -1;
	return x->ino < y->ino ? 1 : x->ino > y->ino ? -1 : 0;
}

static int cons_cos_cmp(const void *a, const void *b)
{
	const struct cons_cand *x = a, *y = b;

	return x->cos < y->cos ? 1 : x->cos > y->cos ? -1 : 0;
}

/* Candidate episodes sharing the most seed terms, into C (malloc'd). */
static int cons_candidates(struct cons_run *r, size_t seed,
			   struct cons_cand **c, size_t *nc)
{
	uint32_t terms[CONS_SEED_TERMS];
	size_t nt = cons_seed_terms(r, &r->ep[seed].vec, terms), n = 0;
	struct concept_map hits = { 0 };
	int rc = concept_map_init(&hits, 256);

	for (size_t i = 0; !rc && i < nt; i++)
		rc = cons_postings(r, terms[i], &hits);
	*c = rc ? NULL : calloc(hits.n + 1, sizeof(**c));
	if (!rc && !*c)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < hits.cap; i++)
		if (hits.k[i] && hits.k[i] != r->ep[seed].ino) {
			(*c)[n].ino = hits.k[i];
			(*c)[n++].hits = (uint32_t)hits.v[i];
		}
	concept_map_free(&hits);
	if (!rc)
		qsort(*c, n, sizeof(**c), cons_cand_cmp);
	*nc = n < CONS_NEIGHBOURS ? n : CONS_NEIGHBOURS;
	return rc;
}

/* Pool neighbours of SEED close enough to it, best first, in C. */
static int cons_neighbours(struct cons_run *r, size_t seed,
			   struct cons_cand **c, size_t *nc)
{
	size_t n, kept = 0;
	int rc = cons_candidates(r, seed, c, &n);

	for (size_t i = 0; !rc && i < n; i++) {
		struct cons_ep *e;

		rc = cons_ep_get(r, (*c)[i].ino, &(*c)[i].ep);
		if (rc)
			break;
		e = &r->ep[(*c)[i].ep];
		if (!(e->flags & EP_ALIVE) || e->cid || (e->flags & EP_TAKEN))
			continue;
		(*c)[i].cos = cons_dot(&r->ep[seed].vec, &e->vec);
		if ((*c)[i].cos >= r->join * CONS_NEIGHBOUR_FACTOR)
			(*c)[kept++] = (*c)[i];
	}
	if (rc) {
		free(*c);
		*c = NULL;
		return rc;
	}
	qsort(*c, kept, sizeof(**c), cons_cos_cmp);
	*nc = kept;
	return 0;
}

/* Sum of the group G[0..n) into TMP, and the index of the member
 * farthest from its centroid; of equals, the one least like the seed
 * (members are in order of their cosine with the seed). */
static int cons_group_sum(struct cons_run *r, struct cons_cand *g, size_t n,
			  struct cons_con *tmp, size_t *worst)
{
	int rc;

	concept_map_free(&tmp->sum);
	concept_map_free(&tmp->touched);
	tmp->norm2 = 0;
	rc = concept_map_init(&tmp->sum, 64);
	for (size_t i = 0; !rc && i < n; i++)
		rc = cons_sum_add(tmp, &r->ep[g[i].ep].vec, 1);
	*worst = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		g[i].cos = cons_cosine(tmp, &r->ep[g[i].ep].vec);
		if (g[i].cos <= g[*worst].cos + 1e-9)
			*worst = i;
	}
	return rc;
}

/* Drop the members farthest from the centroid until every member is
 * join_similarity close to it and the group is coherent (or too small). */
static int cons_group_cut(struct cons_run *r, struct cons_cand *g,
			  size_t *n, struct cons_con *tmp)
{
	for (;;) {
		size_t worst;
		int rc = cons_group_sum(r, g, *n, tmp, &worst);

		if (rc || *n < r->min_size)
			return rc;
		if (g[worst].cos >= r->join &&
		    sqrt(tmp->norm2) / *n >= r->min_coh)
			return 0;
		memmove(g + worst, g + worst + 1,	/* keep the order */
			(--*n - worst) * sizeof(*g));
	}
}

static int cons_form(struct cons_run *r, struct cons_cand *g, size_t n,
		     struct cons_con *tmp)
{
	size_t ci;
	struct cons_con *c;
	int rc = cons_con_new(r, r->next_cid++, &ci);

	if (rc)
		return rc;
	c = &r->con[ci];
	c->is_new = c->changed = true;
	c->sum = tmp->sum;
	c->touched = tmp->touched;
	c->norm2 = tmp->norm2;
	memset(&tmp->sum, 0, sizeof(tmp->sum));
	memset(&tmp->touched, 0, sizeof(tmp->touched));
	for (size_t i = 0; !rc && i < n; i++) {
		rc = cons_newm_add(c, g[i].ep);
		r->ep[g[i].ep].cid = c->id;
		r->ep[g[i].ep].flags |= EP_TAKEN;
	}
	c->n = c->joined = (uint32_t)n;
	r->tot->rep.concepts_formed++;
	r->tot->rep.bindings_created += n;
	r->tot->dir_changed = true;
	return rc;
}

/* A seed first tries the concepts formed in this chunk (not yet in the
 * cache); they are few, so a linear pass is cheap. */
static int cons_join_fresh(struct cons_run *r, size_t seed, bool *joined)
{
	size_t best = SIZE_MAX;
	double best_cos = -1, cos;

	*joined = false;
	for (size_t ci = 0; ci < r->ncon; ci++)
		if (r->con[ci].is_new &&
		    cons_fits(r, &r->con[ci], &r->ep[seed].vec, &cos) &&
		    cos > best_cos) {
			best = ci;
			best_cos = cos;
		}
	if (best == SIZE_MAX)
		return 0;
	*joined = true;
	r->ep[seed].flags |= EP_TAKEN;
	return cons_bind(r, best, seed);
}

static int cons_seed(struct cons_run *r, size_t seed)
{
	struct cons_con tmp = { 0 };
	struct cons_cand *g = NULL;
	size_t n = 0;
	bool joined;
	int rc = cons_join_fresh(r, seed, &joined);

	if (!rc && !joined)
		rc = cons_neighbours(r, seed, &g, &n);
	if (rc || joined) {
		free(g);
		return rc;
	}
	/* The seed is member 0; neighbours follow, best first. */
	memmove(g + 1, g, n * sizeof(*g));
	g[0] = (struct cons_cand){ r->ep[seed].ino, 0, 1, seed };
	n++;
	if (n >= r->min_size)
		rc = cons_group_cut(r, g, &n, &tmp);
	if (!rc && n >= r->min_size && sqrt(tmp.norm2) / n >= r->min_coh)
		rc = cons_form(r, g, n, &tmp);
	concept_map_free(&tmp.sum);
	concept_map_free(&tmp.touched);
	free(g);
	return rc;
}

static int cons_cluster(struct cons_run *r)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < r->nd; i++) {
		const struct cons_ep *e = &r->ep[i];

		if ((e->flags & EP_ALIVE) && !e->cid && !(e->flags & EP_TAKEN))
			rc = cons_seed(r, i);
	}
	return rc;
}

/* ---- step 7: finishing concepts ------------------------------------ */

struct cons_tv {
	uint32_t tid;
	double w;
};

/* Is X a worse top term than Y?  Lighter, then later in the table. */
static bool cons_tv_less(const struct cons_tv *x, const struct cons_tv *y)
{
	return x->w < y->w || (x->w == y->w && x->tid > y->tid);
}

/* Sift-down in a min-heap (the worst kept term at the top). */
static void cons_heap_down(struct cons_tv *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct cons_tv t;

		if (l < n && cons_tv_less(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && cons_tv_less(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void cons_heap_up(struct cons_tv *h, size_t i)
{
	while (i > 0 && cons_tv_less(&h[i], &h[(i - 1) / 2])) {
		struct cons_tv t = h[i];

		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static int cons_tv_desc(const void *a, const void *b)
{
	const struct cons_tv *x = a, *y = b;

	return cons_tv_less(x, y) ? 1 : cons_tv_less(y, x) ? -1 : 0;
}

/* The CONCEPT_TOP_TERMS heaviest terms of the sum, heaviest first, with
 * |S|^2 recomputed exactly and rounding residue cleared. */
static size_t cons_top(struct cons_con *c, struct cons_tv *top)
{
	size_t n = 0;

	c->norm2 = 0;
	for (size_t i = 0; i < c->sum.cap; i++) {
		struct cons_tv tv = { (uint32_t)(c->sum.k[i] - 1),
				      cons_dget(&c->sum.v[i]) };

		if (!c->sum.k[i])
			continue;
		if (fabs(tv.w) < CONS_SUM_EPS) {
			cons_dset(&c->sum.v[i], 0);
			continue;
		}
		c->norm2 += tv.w * tv.w;
		if (n < CONCEPT_TOP_TERMS) {
			top[n] = tv;
			cons_heap_up(top, n++);
		} else if (cons_tv_less(&top[0], &tv)) {
			top[0] = tv;
			cons_heap_down(top, n, 0);
		}
	}
	qsort(top, n, sizeof(*top), cons_tv_desc);
	return n;
}

/* Stage the sum terms that changed (all of them for a new concept). */
static void cons_sum_stage(struct cons_run *r, const struct cons_con *c)
{
	const struct concept_map *m = c->is_new ? &c->sum : &c->touched;

	for (size_t i = 0; i < m->cap; i++) {
		double w;

		if (!m->k[i])
			continue;
		w = cons_dget(concept_map_get(&c->sum, m->k[i]));
		concept_sum_set(r->b, r->st, c->id,
				cons_term(r, (uint32_t)(m->k[i] - 1)),
				fabs(w) < CONS_SUM_EPS ? 0 : (float)w);
	}
}

/* Top terms of the centroid into the record; changed sum terms into the
 * batch. */
static int cons_centroid(struct cons_run *r, struct cons_con *c)
{
	struct cons_tv top[CONCEPT_TOP_TERMS];
	size_t n = cons_top(c, top);
	double norm = sqrt(c->norm2);
	struct concept_term *t = calloc(n + 1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		t[i].term = strdup(cons_term(r, top[i].tid));
		t[i].w = norm > 0 ? (float)(top[i].w / norm) : 0;
		if (!t[i].term) {
			while (i-- > 0)
				free(t[i].term);
			free(t);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < c->rec.ntop; i++)
		free(c->rec.top[i].term);
	free(c->rec.top);
	c->rec.top = t;
	c->rec.ntop = (uint32_t)n;
	cons_sum_stage(r, c);
	return 0;
}

/* Strength of episode EP in concept C; bind it unless nothing moved. */
static void cons_strength(struct cons_run *r, const struct cons_con *c,
			  size_t ep, double old)
{
	struct cons_ep *e = &r->ep[ep];

	e->strength = cons_cosine(c, &e->vec);
	if (old < 0 || fabs(e->strength - old) >= 5e-4)
		e->flags |= EP_BIND;
}

/* Redo the strengths of every member M[0..n) (a full refresh). */
static int cons_refresh(struct cons_run *r, size_t ci,
			const struct binding *m, size_t n)
{
	uint64_t id = r->con[ci].id;

	for (size_t j = 0; j < n; j++) {
		size_t i;
		int rc = cons_ep_get(r, m[j].id, &i);

		if (rc)
			return rc;
		if (r->ep[i].cid == id && (r->ep[i].flags & EP_ALIVE)) {
			cons_strength(r, &r->con[ci], i, m[j].strength);
		} else {	/* it left (unbound already), or a stale one */
			concept_binding_del(r->b, r->st, m[j].id, id);
			r->ep[i].flags |= EP_UNBOUND;
		}
	}
	return 0;
}

static char *cons_join_words(char *const *w, size_t k)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < k; i++)
		len += strlen(w[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		if (i && *w[i])
			strcat(s, " ");
		strcat(s, w[i]);
	}
	return s;
}

/* Is any of the label's stems still among the top CONS_LABEL_KEEP? */
static bool cons_label_kept(const struct concept_rec *rec)
{
	char buf[4 * CONS_TERM_MAX], *save = NULL, *t;
	size_t k = rec->ntop < CONS_LABEL_KEEP ? rec->ntop : CONS_LABEL_KEEP;

	if (!rec->label || !rec->label_stems)
		return false;
	snprintf(buf, sizeof(buf), "%s", rec->label_stems);
	for (t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		for (size_t i = 0; i < k; i++)
			if (!strcmp(t, rec->top[i].term))
				return true;
	return false;
}

static int cons_label_taken(struct cons_run *r, const char *label,
			    uint64_t id, bool *taken)
{
	char *v;
	size_t n;
	int rc;

	for (size_t i = r->nlab; i-- > 0;)
		if (!strcmp(r->lab[i].label, label)) {
			*taken = r->lab[i].id && r->lab[i].id != id;
			return 0;
		}
	rc = db_get(r->st, CF_LABELS, label, strlen(label), &v, &n);
	if (rc == -ENOENT) {
		*taken = false;
		return 0;
	}
	if (rc)
		return rc;
	*taken = n != 8 || be64_get((unsigned char *)v) != id;
	free(v);
	return 0;
}

/* A unique label from BASE (BASE, BASE-2, BASE-3...) for concept C. */
static int cons_label_claim(struct cons_run *r, struct cons_con *c,
			    const char *base)
{
	char label[STORE_NAME_MAX + 16];	/* base is at most 200 */
	unsigned char val[8];
	bool taken = true;
	int rc = 0;

	for (unsigned k = 1; !rc && taken; k++) {
		if (k == 1)
			snprintf(label, sizeof(label), "%s", base);
		else
			snprintf(label, sizeof(label), "%s-%u", base, k);
		rc = cons_label_taken(r, label, c->id, &taken);
	}
	if (!rc)
		rc = cons_label_op(r, label, c->id);
	if (rc)
		return rc;
	be64_put(val, c->id);
	rocksdb_writebatch_put_cf(r->b, r->st->cf[CF_LABELS], label,
				  strlen(label), (const char *)val, 8);
	free(c->rec.label);
	c->rec.label = strdup(label);
	return c->rec.label ? 0 : -ENOMEM;
}

/* Episodes whose text shows how the stems are spelt: the ones bound in
 * this chunk, then the strongest members. */
static size_t cons_word_docs(const struct cons_run *r,
			     const struct cons_con *c,
			     const struct binding *m, size_t nm,
			     uint64_t *inos, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nnewm && n < max; i++)
		inos[n++] = r->ep[c->newm[i]].ino;
	for (size_t i = 0; i < nm && n < max; i++)
		inos[n++] = m[i].id;
	return n;
}

/* The word the "terms:" line already shows for STEM, or NULL. */
static char *cons_known_word(const struct concept_rec *rec, const char *stem)
{
	const char *s = rec->shown_stems, *w = rec->shown;
	size_t sl = strlen(stem);

	while (s && w && *s && *w) {
		size_t a = strcspn(s, " "), b = strcspn(w, " ");

		if (a == sl && !memcmp(s, stem, sl))
			return strndup(w, b);
		s += a + (s[a] == ' ');
		w += b + (w[b] == ' ');
	}
	return NULL;
}

/* Words for the K stems: known ones are kept; member texts are read
 * only when a stem is new to the top terms. */
static int cons_words(struct cons_run *r, const struct cons_con *c,
		      const struct binding *m, size_t nm, char *const *stems,
		      size_t k, char **words)
{
	char *found[CONCEPT_SHOW_TERMS];
	uint64_t inos[8];
	size_t missing = 0;
	int rc;

	for (size_t i = 0; i < k; i++) {
		words[i] = cons_known_word(&c->rec, stems[i]);
		missing += !words[i];
	}
	if (!missing)
		return 0;
	rc = concept_words(r->st, inos, cons_word_docs(r, c, m, nm, inos, 8),
			   stems, k, found);
	for (size_t i = 0; i < k; i++) {
		if (rc)
			continue;
		if (words[i])
			free(found[i]);
		else
			words[i] = found[i];
	}
	return rc;
}

/* A new label from the first words; the old one is freed. */
static int cons_relabel(struct cons_run *r, struct cons_con *c,
			char *const *words, char *const *stems, size_t kl)
{
	char base[STORE_NAME_MAX + 1 - 16];
	int rc = 0;

	if (c->rec.label) {
		rc = cons_label_op(r, c->rec.label, 0);
		rocksdb_writebatch_delete_cf(r->b, r->st->cf[CF_LABELS],
					     c->rec.label,
					     strlen(c->rec.label));
	}
	concept_label_base(words, kl, base, sizeof(base));
	if (!rc)
		rc = cons_label_claim(r, c, base);
	free(c->rec.label_stems);
	c->rec.label_stems = rc ? NULL : cons_join_words(stems, kl);
	c->relabelled = true;
	r->tot->dir_changed = true;
	return rc || c->rec.label_stems ? rc : -ENOMEM;
}

/* New label (C is new, or its label stems left the top terms) and the
 * words of the "terms:" line (when the top terms changed). */
static int cons_labels(struct cons_run *r, size_t ci,
		       const struct binding *m, size_t nm)
{
	struct cons_con *c = &r->con[ci];
	char *stems[CONCEPT_SHOW_TERMS], *words[CONCEPT_SHOW_TERMS] = { 0 };
	char *joined;
	size_t k = c->rec.ntop < CONCEPT_SHOW_TERMS ? c->rec.ntop
						     : CONCEPT_SHOW_TERMS;
	bool relabel = !cons_label_kept(&c->rec);
	int rc;

	for (size_t i = 0; i < k; i++)
		stems[i] = c->rec.top[i].term;
	joined = cons_join_words(stems, k);
	if (!joined)
		return -ENOMEM;
	if (!relabel && c->rec.shown_stems &&
	    !strcmp(c->rec.shown_stems, joined)) {
		free(joined);
		return 0;
	}
	rc = cons_words(r, c, m, nm, stems, k, words);
	if (!rc && relabel)
		rc = cons_relabel(r, c, words, stems,
				  k < CONCEPT_LABEL_TERMS ? k
							  : CONCEPT_LABEL_TERMS);
	free(c->rec.shown);
	free(c->rec.shown_stems);
	c->rec.shown = rc ? NULL : cons_join_words(words, k);
	c->rec.shown_stems = joined;
	for (size_t i = 0; i < k; i++)
		free(words[i]);
	return rc;
}

/* Centroid, strengths, label and record of a changed or new concept. */
static int cons_update(struct cons_run *r, size_t ci)
{
	struct cons_con *c = &r->con[ci];
	struct binding *m = NULL;
	size_t nm = 0;
	uint32_t moved = c->rec.changes + c->joined + c->left;
	bool full = c->is_new || c->n <= CONS_REFRESH_SMALL ||
		    (uint64_t)moved * CONS_REFRESH_FRACTION >= c->n;
	int rc = cons_centroid(r, c);

	if (!rc && !c->is_new && (full || !cons_label_kept(&c->rec)))
		rc = concept_members(r->st, c->id, &m, &nm);
	for (size_t j = 0; !rc && j < c->nnewm; j++)
		cons_strength(r, &r->con[ci], c->newm[j], -1);
	int64_t t0 = now_ns();
	if (!rc && full)
		rc = cons_refresh(r, ci, m, nm);
	cons_lap(r, 7, &t0);
	c = &r->con[ci];
	if (!rc)
		rc = cons_labels(r, ci, m, nm);
	cons_lap(r, 6, &t0);
	free(m);
	if (rc)
		return rc;
	c->rec.id = c->id;
	c->rec.members = c->n;
	c->rec.coherence = c->n ? fmin(1, sqrt(c->norm2) / c->n) : 0;
	c->rec.changes = full ? 0 : moved;
	c->rec.updated = r->now;
	if (c->is_new)
		c->rec.formed = r->now;
	return concept_rec_put(r->b, r->st, &c->rec);
}

static int cons_finish(struct cons_run *r)
{
	int rc = 0;

	for (size_t ci = 0; !rc && ci < r->ncon; ci++) {
		struct cons_con *c = &r->con[ci];

		if (c->missing || c->dissolved)
			continue;
		if (c->changed)
			rc = cons_update(r, ci);
		else	/* only unchanged members to bind again */
			for (size_t j = 0; j < c->nnewm; j++)
				cons_strength(r, c, c->newm[j], -1);
	}
	return rc;
}

/* ---- step 8: the batch ----------------------------------------------- */

static void cons_stage_meta(struct cons_run *r)
{
	for (size_t tid = 0; tid < r->tab.n; tid++) {
		const char *t = cons_term(r, (uint32_t)tid);
		unsigned char v[8];

		if (!r->df[tid].changed)
			continue;
		if (r->df[tid].df <= 0) {
			rocksdb_writebatch_delete_cf(r->b, r->st->cf[CF_DF], t,
						     strlen(t));
			continue;
		}
		be64_put(v, (uint64_t)r->df[tid].df);
		rocksdb_writebatch_put_cf(r->b, r->st->cf[CF_DF], t, strlen(t),
					  (const char *)v, 8);
	}
	db_put_u64(r->b, r->st, CF_DEFAULT, "meta/vectors",
		   r->n_vectors > 0 ? (uint64_t)r->n_vectors : 0);
	db_put_u64(r->b, r->st, CF_DEFAULT, "meta/next_concept", r->next_cid);
}

static int cons_stage(struct cons_run *r)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < r->nep; i++) {
		const struct cons_ep *e = &r->ep[i];
		unsigned char key[8];

		if ((e->flags & (EP_STORED | EP_ALIVE)) == EP_STORED) {
			be64_put(key, e->ino);
			rocksdb_writebatch_delete_cf(r->b,
						     r->st->cf[CF_VECTORS],
						     (const char *)key, 8);
		} else if ((e->flags & EP_ALIVE) &&
			   ((e->flags & EP_CHANGED) || e->cid != e->old_cid)) {
			rc = cons_vec_stage(r, e);
		}
	}
	if (!rc)
		cons_stage_meta(r);
	return rc;
}

/* The dirty mark INO has now (0 = none). */
static int cons_mark_now(struct store *st, uint64_t ino, uint64_t *mark)
{
	unsigned char key[8];
	char *v;
	size_t n;
	int rc;

	be64_put(key, ino);
	rc = db_get(st, CF_DIRTY, key, 8, &v, &n);
	*mark = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	*mark = n == 8 ? be64_get((unsigned char *)v) : 1;
	free(v);
	return 0;
}

/* Under the writer lock: bind only episodes that did not change since
 * they were read, clear only the marks that were seen, write. */
static int cons_commit(struct cons_run *r)
{
	struct store *st = r->st;
	int64_t t0;
	int rc = 0;

	pthread_mutex_lock(&st->write_lock);
	t0 = now_ns();
	for (size_t i = 0; !rc && i < r->nep; i++) {
		struct cons_ep *e = &r->ep[i];
		unsigned char key[8];
		uint64_t mark;

		if (!(e->flags & (EP_DIRTY | EP_BIND)))
			continue;
		rc = cons_mark_now(st, e->ino, &mark);
		if (rc || mark != e->dirty) {
			e->flags &= ~EP_BIND;
			continue;
		}
		if (e->flags & EP_BIND)
			concept_binding_put(r->b, st, e->ino, e->cid,
					    e->strength);
		if (e->flags & EP_DIRTY) {
			be64_put(key, e->ino);
			rocksdb_writebatch_delete_cf(r->b, st->cf[CF_DIRTY],
						     (const char *)key, 8);
		}
	}
	if ((size_t)rocksdb_writebatch_count(r->b) > r->tot->batch_max)
		r->tot->batch_max = (size_t)rocksdb_writebatch_count(r->b);
	if (!rc)
		rc = db_write(st, r->b, false);
	pthread_mutex_unlock(&st->write_lock);
	if ((double)(now_ns() - t0) / 1e9 > r->tot->hold_max)
		r->tot->hold_max = (double)(now_ns() - t0) / 1e9;
	return rc;
}

static void cons_notify(struct cons_run *r)
{
	struct store *st = r->st;

	if (!st->change_fn)
		return;
	for (size_t ci = 0; ci < r->ncon; ci++)
		if (r->con[ci].changed)
			st->change_fn(st->change_ctx, STORE_CHANGE_CONCEPT,
				      r->con[ci].id);
	for (size_t i = 0; i < r->nep; i++)
		if (r->ep[i].flags & (EP_BIND | EP_UNBOUND))
			st->change_fn(st->change_ctx,
				      STORE_CHANGE_EPISODE_XATTR,
				      r->ep[i].ino);
}

static int cons_publish(struct cons_run *r)
{
	struct concept_rec **put = calloc(r->ncon + 1, sizeof(*put));
	uint64_t *del = calloc(r->ncon + 1, sizeof(*del));
	size_t np = 0, nd = 0;
	int rc = 0;

	if (!put || !del)
		rc = -ENOMEM;
	for (size_t ci = 0; !rc && ci < r->ncon; ci++) {
		struct cons_con *c = &r->con[ci];

		if (c->dissolved && c->changed)
			del[nd++] = c->id;
		else if (c->changed)
			put[np++] = &c->rec;
		if (c->changed && !c->dissolved && c->id < r->first_new &&
		    !concept_map_put(&r->tot->updated, c->id))
			rc = -ENOMEM;
	}
	if (!rc)
		concept_publish(r->st, put, np, del, nd,
				r->n_vectors > 0 ? (uint64_t)r->n_vectors : 0);
	free(put);
	free(del);
	if (rc)	/* the batch is written: the cache must catch up */
		concept_cache_stale(r->st);
	r->tot->rep.episodes_seen += r->nd;
	cons_notify(r);
	return rc;
}

/* ---- a run ----------------------------------------------------------- */

/* A counter of the run (DEF when absent); a failed read is an error. */
static int cons_meta(struct store *st, const char *key, uint64_t def,
		     uint64_t *out)
{
	return db_get_be64(st, CF_DEFAULT, key, strlen(key), def, out);
}

static int cons_run_init(struct cons_run *r, struct store *st,
			 struct cons_total *tot)
{
	uint64_t n_vectors;
	int rc;

	memset(r, 0, sizeof(*r));
	r->st = st;
	r->tot = tot;
	r->join = store_flag_get(st, FLAG_CONS_JOIN_SIMILARITY);
	r->min_coh = store_flag_get(st, FLAG_CONS_MIN_COHERENCE);
	r->min_size = (uint32_t)store_flag_get(st, FLAG_CONS_MIN_CLUSTER_SIZE);
	if (r->min_size < 2)
		r->min_size = 2;
	r->now = now_ns() / 1000000000;
	r->b = rocksdb_writebatch_create();
	rc = cons_meta(st, "meta/vectors", 0, &n_vectors);
	if (!rc)
		rc = cons_meta(st, "meta/next_concept", 1, &r->next_cid);
	if (rc)
		return rc;
	r->n_vectors = (int64_t)n_vectors;
	r->first_new = r->next_cid;
	if (concept_map_init(&r->ep_ix, CONS_CHUNK) ||
	    concept_map_init(&r->con_ix, 64))
		return -ENOMEM;
	return 0;
}

static void cons_eps_free(struct cons_run *r)
{
	for (size_t i = 0; i < r->nep; i++) {
		free(r->ep[i].vec.v);
		free(r->ep[i].old.v);
	}
	r->nep = r->nd = 0;
	concept_map_clear(&r->ep_ix);
	for (size_t i = 0; i < r->nlab; i++)
		free(r->lab[i].label);
	r->nlab = 0;
}

/* After a chunk is written: its episodes go; concepts, terms and
 * frequencies stay for the next chunk, now equal to what is stored. */
static void cons_chunk_reset(struct cons_run *r)
{
	cons_eps_free(r);
	for (size_t i = 0; i < r->ncon; i++) {
		struct cons_con *c = &r->con[i];

		c->joined = c->left = 0;
		c->nnewm = 0;
		concept_map_clear(&c->touched);
		c->changed = c->is_new = c->relabelled = false;
	}
	for (size_t i = 0; i < r->tab.n; i++)
		r->df[i].changed = false;
	rocksdb_writebatch_clear(r->b);
}

static void cons_run_free(struct cons_run *r)
{
	cons_eps_free(r);
	free(r->ep);
	for (size_t i = 0; i < r->ncon; i++) {
		concept_rec_release(&r->con[i].rec);
		concept_map_free(&r->con[i].sum);
		concept_map_free(&r->con[i].touched);
		free(r->con[i].newm);
	}
	free(r->con);
	free(r->lab);
	concept_map_free(&r->ep_ix);
	concept_map_free(&r->con_ix);
	concept_tab_free(&r->tab);
	free(r->df);
	if (r->b)
		rocksdb_writebatch_destroy(r->b);
}

static int cons_process(struct cons_run *r, int64_t *t)
{
	int rc = cons_frequencies(r);

	for (size_t i = 0; !rc && i < r->nd; i++)
		rc = cons_leave(r, i);
	for (size_t i = 0; !rc && i < r->nd; i++)
		if ((r->ep[i].flags & EP_ALIVE) && !r->ep[i].cid)
			rc = cons_join(r, i);
	if (!rc)
		rc = cons_review(r);
	cons_lap(r, 1, t);
	if (!rc)
		rc = cons_cluster(r);
	cons_lap(r, 2, t);
	if (!rc)
		rc = cons_finish(r);
	if (!rc)
		rc = cons_stage(r);
	cons_lap(r, 3, t);
	return rc;
}

/* One chunk, one batch.  On failure nothing of it is stored and the
 * run ends (its working state may be ahead of the store). */
static int cons_chunk(struct cons_run *r, uint64_t *cursor, bool *more)
{
	int64_t t = now_ns();
	int rc = cons_read_dirty(r, cursor, more);

	cons_lap(r, 0, &t);
	if (!rc && r->nd)
		rc = cons_process(r, &t);
	if (!rc)
		rc = r->read_err;
	if (!rc && r->nd)
		rc = cons_commit(r);
	cons_lap(r, 4, &t);
	if (!rc && r->nd)
		rc = cons_publish(r);
	if (!rc)
		cons_chunk_reset(r);
	cons_lap(r, 5, &t);
	return rc;
}

static void cons_log(const struct cons_total *t, int rc)
{
	const struct store_consolidation *p = &t->rep;

	if (rc) {
		store_log(STORE_LOG_ERR,
			  "consolidation failed after %llu episodes: %s",
			  (unsigned long long)p->episodes_seen, strerror(-rc));
		return;
	}
	store_log(p->episodes_seen ? STORE_LOG_INFO : STORE_LOG_DEBUG,
		  "consolidation: %llu episodes, %llu concepts formed, "
		  "%llu updated, %llu dissolved, %llu bindings created in "
		  "%.3f s",
		  (unsigned long long)p->episodes_seen,
		  (unsigned long long)p->concepts_formed,
		  (unsigned long long)p->concepts_updated,
		  (unsigned long long)p->concepts_dissolved,
		  (unsigned long long)p->bindings_created, p->seconds);
	if (p->episodes_seen)
		store_log(STORE_LOG_DEBUG,
			  "consolidation steps: read %.3f s, assign %.3f s, "
			  "cluster %.3f s, finish %.3f s, write %.3f s, "
			  "publish %.3f s (labels %.3f s, refresh %.3f s); "
			  "writer lock held %.1f ms at most, %zu keys",
			  t->step_s[0], t->step_s[1], t->step_s[2],
			  t->step_s[3], t->step_s[4], t->step_s[5],
			  t->step_s[6], t->step_s[7], t->hold_max * 1e3,
			  t->batch_max);
}

static int cons_all(struct store *st, struct cons_total *tot)
{
	struct cons_run r = { 0 };
	uint64_t cursor = 0;
	bool more = true;
	int rc = concept_reload_if_stale(st);

	if (!rc)
		rc = cons_run_init(&r, st, tot);
	while (!rc && more && !concept_run_cancelled(st))
		rc = cons_chunk(&r, &cursor, &more);
	cons_run_free(&r);
	return rc;
}

int store_consolidate(struct store *st, struct store_consolidation *rep)
{
	struct cons_total tot = { 0 };
	int64_t t0 = now_ns();
	int rc;

	if (store_flag_get(st, FLAG_DUAL_MEMORY_TYPES) == 0) {
		memset(rep, 0, sizeof(*rep));
		return 0;
	}
	if (st->read_only)
		return -EROFS;
	rc = concept_map_init(&tot.updated, 64);
	if (rc)
		return rc;
	concept_run_lock(st);
	rc = cons_all(st, &tot);
	tot.rep.concepts_updated = tot.updated.n;
	tot.rep.seconds = (double)(now_ns() - t0) / 1e9;
	concept_count_run(st, tot.rep.seconds, rc != 0,
			  tot.rep.concepts_formed, tot.rep.bindings_created,
			  tot.analysed);
	if (tot.dir_changed && st->change_fn)
		st->change_fn(st->change_ctx, STORE_CHANGE_CONCEPTS_DIR, 0);
	concept_run_unlock(st);
	cons_log(&tot, rc);
	concept_map_free(&tot.updated);
	if (!rc)
		*rep = tot.rep;
	return rc;
}

/* ---- the background thread ---------------------------------------------- */

struct background {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* CLOCK_MONOTONIC */
	bool stop;
};

static int64_t cons_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Is a run due?  The flags are read each second, so a change of
 * consolidation.interval_s or dual_memory_types applies at once. */
static bool cons_due(struct store *st, int64_t *last)
{
	double interval = store_flag_get(st, FLAG_CONS_INTERVAL_S);
	int64_t now = cons_mono_ns();

	if (interval <= 0 || store_flag_get(st, FLAG_DUAL_MEMORY_TYPES) == 0) {
		*last = now;	/* count the interval from when it applies */
		return false;
	}
	return now - *last >= (int64_t)(interval * 1e9);
}

static void *cons_background(void *arg)
{
	struct store *st = arg;
	struct background *bg = st->bg;
	int64_t last = cons_mono_ns();

	pthread_mutex_lock(&bg->mu);
	while (!bg->stop) {
		struct timespec ts;
		struct store_consolidation rep;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&bg->cv, &bg->mu, &ts);
		if (bg->stop || !cons_due(st, &last))
			continue;
		pthread_mutex_unlock(&bg->mu);
		store_consolidate(st, &rep);	/* logs its own failures */
		last = cons_mono_ns();
		pthread_mutex_lock(&bg->mu);
	}
	pthread_mutex_unlock(&bg->mu);
	return NULL;
}

int store_background_start(struct store *st)
{
	struct background *bg;
	pthread_condattr_t ca;
	int rc;

	if (st->bg || st->read_only)
		return 0;
	bg = calloc(1, sizeof(*bg));
	if (!bg)
		return -ENOMEM;
	pthread_mutex_init(&bg->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bg->cv, &ca);
	pthread_condattr_destroy(&ca);
	concept_run_cancel(st, false);
	st->bg = bg;
	rc = pthread_create(&bg->thread, NULL, cons_background, st);
	if (rc) {
		st->bg = NULL;
		pthread_cond_destroy(&bg->cv);
		pthread_mutex_destroy(&bg->mu);
		free(bg);
		return -rc;
	}
	return 0;
}

void store_background_stop(struct store *st)
{
	struct background *bg = st ? st->bg : NULL;

	if (!bg)
		return;
	concept_run_cancel(st, true);	/* a run stops after its chunk */
	pthread_mutex_lock(&bg->mu);
	bg->stop = true;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	pthread_join(bg->thread, NULL);
	pthread_cond_destroy(&bg->cv);
	pthread_mutex_destroy(&bg->mu);
	free(bg);
	st->bg = NULL;
}
