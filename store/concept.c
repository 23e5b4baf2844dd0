/*
 * concept.c - concepts and bindings: records, labels, the in-memory
 * concept cache, and everything that reads them (the semantic pathway of
 * recall, concepts/ files, user.engram.concepts).
 *
 * consolidate.c decides what the concepts are; this file stores them and
 * answers questions about them.
 *
 * Records (CF_CONCEPTS; little-endian numbers, as inode records):
 *
 *   key id (8, big-endian)       the concept record:
 *     u8 version (1) | u8 0 | u16 0 | u32 members | u32 changes |
 *     u32 ntop | i64 formed | i64 updated (unix s) | f64 coherence |
 *     4 strings (u16 length | bytes): label, label stems, shown words,
 *     shown stems |
 *     ntop x (u8 length | stem | f32 weight): the heaviest terms of the
 *     unit-length centroid, heaviest first (at most 64)
 *   key 0xff id stem             f32: the stem's weight in the member
 *                                sum vector (one key per term)
 *
 * The sum S is the sum of the members' unit-length weight vectors, so the
 * centroid is S/|S| and the coherence (mean member-to-centroid cosine) is
 * exactly |S|/n: a concept changes in time proportional to the members
 * that come and go, never to its size.  The record is small (read at
 * every mount); the sum, which grows with the concept's vocabulary, is
 * read only by a run that changes the concept, and written one term at
 * a time, so a member that joins rewrites its own terms of the sum and
 * nothing else (a whole-vector value made every chunk of a run rewrite
 * kilobytes per concept it touched: 160 MB per run, measured).
 *
 *   CF_LABELS    label -> id (8, big-endian); labels are unique
 *   CF_BINDINGS  'e' ino cid -> f64 strength; 'c' cid ino -> the same
 *
 * Invariants:
 *  1. A label key exists iff a record with that label exists; both are
 *     written in the same batch.
 *  2. 'e' i c exists iff 'c' c i exists, with the same strength: both
 *     are always staged together (concept_binding_put/del).
 *  3. A binding may outlive its episode for no time at all: forgetting an
 *     episode drops its bindings in the commit's batch (bindings_drop).
 *     The converse is allowed: a member consolidate.c could not bind
 *     because it changed during the run has no binding until the next
 *     run.  Readers also tolerate a bound episode that no longer exists.
 *
 * Labels.  A label is the three heaviest centroid terms, each written as
 * the lower-case word that analyses to the stem most often in the text of
 * a few members ("coffee-alice-station", not "coffe-alic-station"),
 * stripped to [a-z0-9] and joined with '-'; the stem stands in when no
 * ASCII word does.  A clash takes the first free of -2, -3...  A label
 * stays while any of its three stems is still among the concept's eight
 * heaviest terms, so a file name does not change under a user as members
 * come and go; only a concept whose subject drifted away is renamed.  The
 * words of the "terms:" line are redone (member texts read) only for
 * stems that are new to the top five.
 *
 * The cache.  Recall must match a cue against every concept in well
 * under a millisecond, so the top terms of every centroid live in memory
 * in an inverted map (term -> (concept, weight)); matching touches only
 * the concepts that share a term with the cue, and costs nothing for
 * concepts that share none.  One pthread rwlock guards it: recall threads
 * read, and a run publishes each chunk's results under the write side;
 * a posting knows its place in its list, so replacing a concept costs
 * O(64), not the length of the lists of common terms (which made the
 * write side hold readers for tens of milliseconds, measured).  Every
 * thing a reader hands out is copied while the read lock is held.  The
 * cache is loaded by concept_init (open) from the records, never from
 * the sums; a publish that fails (ENOMEM) marks it stale, and the next
 * run reloads it.
 *
 * Matching uses the truncated centroid (64 heaviest terms), so a cosine
 * is a slight underestimate; the run checks a candidate against the full
 * sum before it joins an episode to a concept.
 *
 * Rejected: a copy-on-write snapshot of the whole cache per run (cost
 * grows with the store, not the change); reading centroids from RocksDB
 * per recall (a get per concept); keeping member lists in memory (the
 * bindings are a prefix scan away and memory would grow with the store).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "concept_i.h"

#define CONCEPT_VERSION 1
/* Cue terms looked at: a cue of 64 distinct terms is plenty (recall.c). */
#define CONCEPT_CUE_TERMS 64
/* Member texts read to find the words behind a label's stems. */
#define CONCEPT_WORDS_DOCS 8
/* Distinct words examined per label: enough for a few episodes. */
#define CONCEPT_WORDS_MAX 512
#define CONCEPT_TERM_MAX 64	/* text.c drops longer tokens */
/* Room left in a label for a "-NNN" suffix within STORE_NAME_MAX. */
#define CONCEPT_LABEL_BASE_MAX 200

struct concept_entry {
	uint64_t id;
	char *label;
	double coherence;
	uint32_t members;
	int64_t formed, updated;
	uint32_t ntop;
	uint32_t *tids;		/* top terms, ids in the index's term table */
	float *w;
	uint32_t *pos;		/* where term k's post is in its list */
};

/* A posting of the inverted map; knows its place in its entry, so that
 * unlinking a concept costs O(terms), not O(length of the lists). */
struct concept_post {
	uint64_t id;
	float w;
	uint32_t k;		/* index of the term in the entry */
	struct concept_entry *e;
};

struct concept_plist {
	struct concept_post *v;
	uint32_t n, cap;
};

/* What the rwlock guards. */
struct concept_index {
	struct concept_map by_id;	/* id -> struct concept_entry * */
	struct concept_tab terms;	/* every top term ever seen */
	struct concept_plist *plists;	/* by term id */
	size_t nplists;
	uint64_t bindings;
	double coherence_sum;
};

struct concept_cache {
	pthread_rwlock_t lock;
	struct concept_index ix;
	bool stale;			/* a publish failed: reload */
	_Atomic uint64_t n_vectors;	/* N for idf */

	pthread_mutex_t run_lock;
	atomic_bool cancel;
	_Atomic uint64_t dirty_seq;

	_Atomic uint64_t formed_total, bindings_created_total;
	_Atomic uint64_t failures_total, runs_total, analysed_total;
	_Atomic uint64_t last_run_ns;
	_Atomic int64_t last_run_end;
};

/* ---- hash maps -------------------------------------------------------- */

static size_t concept_mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (size_t)k;
}

int concept_map_init(struct concept_map *m, size_t hint)
{
	size_t cap = 16;

	while (cap < hint * 2)
		cap <<= 1;
	m->k = calloc(cap, sizeof(*m->k));
	m->v = calloc(cap, sizeof(*m->v));
	m->cap = cap;
	m->n = 0;
	if (!m->k || !m->v) {
		concept_map_free(m);
		return -ENOMEM;
	}
	return 0;
}

void concept_map_free(struct concept_map *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

void concept_map_clear(struct concept_map *m)
{
	if (m->cap) {
		memset(m->k, 0, m->cap * sizeof(*m->k));
		memset(m->v, 0, m->cap * sizeof(*m->v));
	}
	m->n = 0;
}

static size_t concept_map_slot(const struct concept_map *m, uint64_t key)
{
	size_t mask = m->cap - 1, i = concept_mix(key) & mask;

	while (m->k[i] && m->k[i] != key)
		i = (i + 1) & mask;
	return i;
}

uint64_t *concept_map_get(const struct concept_map *m, uint64_t key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = concept_map_slot(m, key);
	return m->k[i] ? &m->v[i] : NULL;
}

static int concept_map_grow(struct concept_map *m)
{
	struct concept_map bigger;

	if (concept_map_init(&bigger, m->cap))
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->k[i]) {
			size_t j = concept_map_slot(&bigger, m->k[i]);

			bigger.k[j] = m->k[i];
			bigger.v[j] = m->v[i];
		}
	bigger.n = m->n;
	concept_map_free(m);
	*m = bigger;
	return 0;
}

uint64_t *concept_map_put(struct concept_map *m, uint64_t key)
{
	size_t i;

	if ((!m->cap || (m->n + 1) * 2 > m->cap) &&
	    (m->cap ? concept_map_grow(m) : concept_map_init(m, 8)))
		return NULL;
	i = concept_map_slot(m, key);
	if (!m->k[i]) {
		m->k[i] = key;
		m->v[i] = 0;
		m->n++;
	}
	return &m->v[i];
}

/* Linear probing deletion by backward shift: no tombstones. */
void concept_map_del(struct concept_map *m, uint64_t key)
{
	size_t mask, i, j;

	if (!m->cap)
		return;
	mask = m->cap - 1;
	i = concept_map_slot(m, key);
	if (!m->k[i])
		return;
	for (j = (i + 1) & mask; m->k[j]; j = (j + 1) & mask) {
		size_t h = concept_mix(m->k[j]) & mask;

		/* Move it back unless its home lies cyclically in (i, j]. */
		if (i <= j ? (h > i && h <= j) : (h > i || h <= j))
			continue;
		m->k[i] = m->k[j];
		m->v[i] = m->v[j];
		i = j;
	}
	m->k[i] = 0;
	m->v[i] = 0;
	m->n--;
}

long concept_tab_find(const struct concept_tab *t, const char *s, size_t len)
{
	size_t mask, i;

	if (!t->cap)
		return -1;
	mask = t->cap - 1;
	for (i = XXH3_64bits(s, len) & mask; t->slot[i]; i = (i + 1) & mask) {
		const char *x = t->s[t->slot[i] - 1];

		if (!strncmp(x, s, len) && x[len] == '\0')
			return (long)t->slot[i] - 1;
	}
	return -1;
}

static int concept_tab_rehash(struct concept_tab *t, size_t cap)
{
	uint32_t *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t id = 0; id < t->n; id++) {
		size_t i = XXH3_64bits(t->s[id], strlen(t->s[id])) & (cap - 1);

		while (slot[i])
			i = (i + 1) & (cap - 1);
		slot[i] = (uint32_t)id + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->cap = cap;
	return 0;
}

int concept_tab_add(struct concept_tab *t, const char *s, size_t len,
		    uint32_t *id)
{
	long found = concept_tab_find(t, s, len);
	char *copy;
	size_t i;

	if (found >= 0) {
		*id = (uint32_t)found;
		return 0;
	}
	if ((t->n + 1) * 2 > t->cap &&
	    concept_tab_rehash(t, t->cap ? t->cap * 2 : 64))
		return -ENOMEM;
	if (t->n == t->scap) {
		size_t cap = t->scap ? t->scap * 2 : 32;
		char **v = realloc(t->s, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->s = v;
		t->scap = cap;
	}
	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	i = XXH3_64bits(s, len) & (t->cap - 1);
	while (t->slot[i])
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = (uint32_t)t->n + 1;
	t->s[t->n] = copy;
	*id = (uint32_t)t->n++;
	return 0;
}

void concept_tab_free(struct concept_tab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* ---- encodings ---------------------------------------------------- */

struct concept_wbuf {
	unsigned char *p;
	size_t n, cap;
	bool oom;
};

static void concept_w(struct concept_wbuf *b, const void *p, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		unsigned char *q;

		while (cap < b->n + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void concept_w_str16(struct concept_wbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	uint16_t len = n > 65535 ? 65535 : (uint16_t)n;

	concept_w(b, &len, 2);
	concept_w(b, s ? s : "", len);
}

static void concept_w_term(struct concept_wbuf *b, const char *t, float w)
{
	size_t n = strlen(t);
	unsigned char len = n > 255 ? 255 : (unsigned char)n;

	concept_w(b, &len, 1);
	concept_w(b, t, len);
	concept_w(b, &w, 4);
}

struct concept_rbuf {
	const unsigned char *p, *end;
	bool bad;
};

static void concept_r(struct concept_rbuf *b, void *out, size_t n)
{
	if (b->bad || (size_t)(b->end - b->p) < n) {
		b->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, b->p, n);
	b->p += n;
}

static char *concept_r_str16(struct concept_rbuf *b)
{
	uint16_t n;
	char *s;

	concept_r(b, &n, 2);
	if (b->bad || (size_t)(b->end - b->p) < n) {
		b->bad = true;
		return NULL;
	}
	s = strndup((const char *)b->p, n);
	b->p += n;
	if (!s)
		b->bad = true;
	return s;
}

/* Read N terms into V (zeroed, caller's array). */
static void concept_r_terms(struct concept_rbuf *b, struct concept_term *v,
			    uint32_t n)
{
	for (uint32_t i = 0; i < n && !b->bad; i++) {
		unsigned char len;

		concept_r(b, &len, 1);
		if (b->bad || (size_t)(b->end - b->p) < len) {
			b->bad = true;
			return;
		}
		v[i].term = strndup((const char *)b->p, len);
		b->p += len;
		concept_r(b, &v[i].w, 4);
		if (!v[i].term)
			b->bad = true;
	}
}

static void concept_terms_free(struct concept_term *v, uint32_t n)
{
	for (uint32_t i = 0; v && i < n; i++)
		free(v[i].term);
	free(v);
}

void concept_rec_release(struct concept_rec *r)
{
	free(r->label);
	free(r->label_stems);
	free(r->shown);
	free(r->shown_stems);
	concept_terms_free(r->top, r->ntop);
	memset(r, 0, sizeof(*r));
}

static int concept_rec_decode(uint64_t id, const unsigned char *p, size_t n,
			      struct concept_rec *r)
{
	struct concept_rbuf b = { p, p + n, false };
	unsigned char ver[4];

	memset(r, 0, sizeof(*r));
	r->id = id;
	concept_r(&b, ver, 4);
	concept_r(&b, &r->members, 4);
	concept_r(&b, &r->changes, 4);
	concept_r(&b, &r->ntop, 4);
	concept_r(&b, &r->formed, 8);
	concept_r(&b, &r->updated, 8);
	concept_r(&b, &r->coherence, 8);
	if (b.bad || ver[0] != CONCEPT_VERSION || r->ntop > 4096)
		b.bad = true;
	else {
		r->label = concept_r_str16(&b);
		r->label_stems = concept_r_str16(&b);
		r->shown = concept_r_str16(&b);
		r->shown_stems = concept_r_str16(&b);
		r->top = calloc(r->ntop ? r->ntop : 1, sizeof(*r->top));
		if (!r->top)
			b.bad = true;
		concept_r_terms(&b, r->top, r->ntop);
	}
	if (!b.bad)
		return 0;
	store_log(STORE_LOG_ERR, "concept %llu: bad record (%zu bytes)",
		  (unsigned long long)id, n);
	concept_rec_release(r);
	return -EIO;
}

int concept_rec_get(struct store *st, uint64_t id, struct concept_rec *out)
{
	unsigned char key[8];
	char *v;
	size_t n;
	int rc;

	be64_put(key, id);
	rc = db_get(st, CF_CONCEPTS, key, 8, &v, &n);
	if (rc)
		return rc;
	rc = concept_rec_decode(id, (const unsigned char *)v, n, out);
	free(v);
	return rc;
}

int concept_rec_put(rocksdb_writebatch_t *b, struct store *st,
		    const struct concept_rec *r)
{
	struct concept_wbuf w = { 0 };
	unsigned char key[8], hdr[4] = { CONCEPT_VERSION, 0, 0, 0 };

	concept_w(&w, hdr, 4);
	concept_w(&w, &r->members, 4);
	concept_w(&w, &r->changes, 4);
	concept_w(&w, &r->ntop, 4);
	concept_w(&w, &r->formed, 8);
	concept_w(&w, &r->updated, 8);
	concept_w(&w, &r->coherence, 8);
	concept_w_str16(&w, r->label);
	concept_w_str16(&w, r->label_stems);
	concept_w_str16(&w, r->shown);
	concept_w_str16(&w, r->shown_stems);
	for (uint32_t i = 0; i < r->ntop; i++)
		concept_w_term(&w, r->top[i].term, r->top[i].w);
	if (w.oom) {
		free(w.p);
		return -ENOMEM;
	}
	be64_put(key, r->id);
	rocksdb_writebatch_put_cf(b, st->cf[CF_CONCEPTS], (const char *)key, 8,
				  (const char *)w.p, w.n);
	free(w.p);
	return 0;
}

/* Sum keys: 0xff | id | term.  Concept ids are sequential from 1, so no
 * record key starts with 0xff and records sort before every sum. */
static size_t concept_sum_key(unsigned char *k, uint64_t id, const char *term)
{
	size_t n = term ? strlen(term) : 0;

	k[0] = 0xff;
	be64_put(k + 1, id);
	if (n)
		memcpy(k + 9, term, n);
	return 9 + n;
}

void concept_rec_del(rocksdb_writebatch_t *b, struct store *st,
		     const struct concept_rec *r)
{
	unsigned char key[8], lo[9], hi[9];

	be64_put(key, r->id);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_CONCEPTS], (const char *)key,
				     8);
	concept_sum_key(lo, r->id, NULL);
	concept_sum_key(hi, r->id + 1, NULL);
	rocksdb_writebatch_delete_range_cf(b, st->cf[CF_CONCEPTS],
					   (const char *)lo, 9,
					   (const char *)hi, 9);
	if (r->label)
		rocksdb_writebatch_delete_cf(b, st->cf[CF_LABELS], r->label,
					     strlen(r->label));
}

static int concept_sum_push(struct concept_sum *s, uint32_t *cap,
			    const char *t, size_t n, float w)
{
	if (s->n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 64;
		struct concept_term *v = realloc(s->v, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		*cap = c;
	}
	s->v[s->n].term = strndup(t, n);
	s->v[s->n].w = w;
	return s->v[s->n++].term ? 0 : -ENOMEM;
}

int concept_sum_get(struct store *st, uint64_t id, struct concept_sum *out)
{
	unsigned char lo[9], hi[9];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	struct concept_sum s = { 0 };
	uint32_t cap = 0;
	size_t klen, vlen;
	int rc = 0;

	concept_sum_key(lo, id, NULL);
	concept_sum_key(hi, id + 1, NULL);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 9);
	it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_CONCEPTS]);
	for (rocksdb_iter_seek(it, (const char *)lo, 9);
	     !rc && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		float w;

		if (klen <= 9 || vlen != 4)
			continue;
		memcpy(&w, v, 4);
		rc = concept_sum_push(&s, &cap, k + 9, klen - 9, w);
	}
	if (!rc)
		rc = db_iter_status(st, it, "concept sum");
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (rc) {
		concept_sum_release(&s);
		return rc;
	}
	*out = s;
	return 0;
}

void concept_sum_set(rocksdb_writebatch_t *b, struct store *st, uint64_t id,
		     const char *term, float w)
{
	unsigned char key[9 + CONCEPT_TERM_MAX + 1];
	size_t klen = concept_sum_key(key, id, term);

	if (w == 0)
		rocksdb_writebatch_delete_cf(b, st->cf[CF_CONCEPTS],
					     (const char *)key, klen);
	else
		rocksdb_writebatch_put_cf(b, st->cf[CF_CONCEPTS],
					  (const char *)key, klen,
					  (const char *)&w, 4);
}

void concept_sum_release(struct concept_sum *s)
{
	concept_terms_free(s->v, s->n);
	s->v = NULL;
	s->n = 0;
}

/* ---- bindings ----------------------------------------------------- */

static void concept_binding_key(unsigned char *k, char dir, uint64_t a,
				uint64_t b)
{
	k[0] = (unsigned char)dir;
	be64_put(k + 1, a);
	be64_put(k + 9, b);
}

void concept_binding_put(rocksdb_writebatch_t *b, struct store *st,
			 uint64_t ino, uint64_t cid, double strength)
{
	unsigned char k[17];

	concept_binding_key(k, 'e', ino, cid);
	rocksdb_writebatch_put_cf(b, st->cf[CF_BINDINGS], (const char *)k, 17,
				  (const char *)&strength, 8);
	concept_binding_key(k, 'c', cid, ino);
	rocksdb_writebatch_put_cf(b, st->cf[CF_BINDINGS], (const char *)k, 17,
				  (const char *)&strength, 8);
}

void concept_binding_del(rocksdb_writebatch_t *b, struct store *st,
			 uint64_t ino, uint64_t cid)
{
	unsigned char k[17];

	concept_binding_key(k, 'e', ino, cid);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_BINDINGS], (const char *)k,
				     17);
	concept_binding_key(k, 'c', cid, ino);
	rocksdb_writebatch_delete_cf(b, st->cf[CF_BINDINGS], (const char *)k,
				     17);
}

static int concept_binding_cmp(const void *a, const void *b)
{
	const struct binding *x = a, *y = b;

	if (x->strength != y->strength)
		return x->strength < y->strength ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int concept_push_binding(struct binding **v, size_t *n, size_t *cap,
				uint64_t id, double strength)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct binding *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[*n].id = id;
	(*v)[(*n)++].strength = strength;
	return 0;
}

/* Every binding under DIR | ID, strongest first. */
static int concept_scan(struct store *st, char dir, uint64_t id,
			struct binding **out, size_t *n)
{
	unsigned char lo[9], hi[9];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	struct binding *v = NULL;
	size_t cnt = 0, cap = 0, klen, vlen;
	int rc = 0;

	lo[0] = hi[0] = (unsigned char)dir;
	be64_put(lo + 1, id);
	be64_put(hi + 1, id + 1);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 9);
	it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_BINDINGS]);
	for (rocksdb_iter_seek(it, (const char *)lo, 9);
	     !rc && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		const char *val = rocksdb_iter_value(it, &vlen);
		double s;

		if (klen != 17 || vlen != 8)
			continue;
		memcpy(&s, val, 8);
		rc = concept_push_binding(&v, &cnt, &cap,
					  be64_get((const unsigned char *)k + 9),
					  s);
	}
	if (!rc)
		rc = db_iter_status(st, it, "bindings");
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (rc) {
		free(v);
		return rc;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), concept_binding_cmp);
	*out = v;
	*n = cnt;
	return 0;
}

int concept_members(struct store *st, uint64_t cid, struct binding **out,
		    size_t *n)
{
	return concept_scan(st, 'c', cid, out, n);
}

int episode_bindings(struct store *st, uint64_t ino, struct binding **out,
		     size_t *n)
{
	return concept_scan(st, 'e', ino, out, n);
}

/* ---- the index ------------------------------------------------------ */

static void concept_entry_free(struct concept_entry *e)
{
	if (!e)
		return;
	free(e->label);
	free(e->tids);
	free(e->w);
	free(e->pos);
	free(e);
}

static struct concept_entry *concept_entry_of(const struct concept_index *ix,
					      uint64_t id)
{
	uint64_t *v = concept_map_get(&ix->by_id, id);

	return v ? (struct concept_entry *)(uintptr_t)*v : NULL;
}

/* A new entry for R, with its terms not yet resolved to ids. */
static struct concept_entry *concept_entry_new(const struct concept_rec *r)
{
	struct concept_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->id = r->id;
	e->coherence = r->coherence;
	e->members = r->members;
	e->formed = r->formed;
	e->updated = r->updated;
	e->ntop = r->ntop;
	e->label = strdup(r->label ? r->label : "");
	e->tids = calloc(r->ntop + 1, sizeof(*e->tids));
	e->w = calloc(r->ntop + 1, sizeof(*e->w));
	e->pos = calloc(r->ntop + 1, sizeof(*e->pos));
	if (!e->label || !e->tids || !e->w || !e->pos) {
		concept_entry_free(e);
		return NULL;
	}
	return e;
}

/* Post term K of entry E (its id already in e->tids[k]). */
static int concept_plist_add(struct concept_index *ix,
			     struct concept_entry *e, uint32_t k)
{
	uint32_t tid = e->tids[k];
	struct concept_plist *pl;

	if (tid >= ix->nplists) {
		size_t n = ix->terms.scap > tid ? ix->terms.scap : tid + 1;
		struct concept_plist *v = realloc(ix->plists, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + ix->nplists, 0, (n - ix->nplists) * sizeof(*v));
		ix->plists = v;
		ix->nplists = n;
	}
	pl = &ix->plists[tid];
	if (pl->n == pl->cap) {
		uint32_t cap = pl->cap ? pl->cap * 2 : 4;
		struct concept_post *v = realloc(pl->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pl->v = v;
		pl->cap = cap;
	}
	e->pos[k] = pl->n;
	pl->v[pl->n++] = (struct concept_post){ e->id, e->w[k], k, e };
	return 0;
}

/* Swap the last post of the list into the place of E's term K. */
static void concept_plist_drop(struct concept_index *ix,
			       struct concept_entry *e, uint32_t k)
{
	struct concept_plist *pl = &ix->plists[e->tids[k]];
	uint32_t i = e->pos[k];
	struct concept_post last = pl->v[--pl->n];

	if (i != pl->n) {
		pl->v[i] = last;
		last.e->pos[last.k] = i;
	}
}

/* Take E out of the index (the caller frees it). */
static void concept_index_unlink(struct concept_index *ix,
				 struct concept_entry *e)
{
	for (uint32_t i = 0; i < e->ntop; i++)
		concept_plist_drop(ix, e, i);
	concept_map_del(&ix->by_id, e->id);
	ix->bindings -= e->members;
	ix->coherence_sum -= e->coherence;
}

/* Put E (terms from R) into the index.  On ENOMEM E is not linked. */
static int concept_index_link(struct concept_index *ix,
			      struct concept_entry *e,
			      const struct concept_rec *r)
{
	uint64_t *slot;
	uint32_t linked = 0;
	int rc = 0;

	for (uint32_t i = 0; !rc && i < r->ntop; i++) {
		e->w[i] = r->top[i].w;
		rc = concept_tab_add(&ix->terms, r->top[i].term,
				     strlen(r->top[i].term), &e->tids[i]);
		if (!rc)
			rc = concept_plist_add(ix, e, i);
		linked += !rc;
	}
	slot = rc ? NULL : concept_map_put(&ix->by_id, e->id);
	if (!slot) {
		while (linked-- > 0)	/* last in, first out: O(1) each */
			concept_plist_drop(ix, e, linked);
		return -ENOMEM;
	}
	*slot = (uint64_t)(uintptr_t)e;
	ix->bindings += e->members;
	ix->coherence_sum += e->coherence;
	return 0;
}

static void concept_index_free(struct concept_index *ix)
{
	for (size_t i = 0; i < ix->by_id.cap; i++)
		if (ix->by_id.k[i])
			concept_entry_free(
				(struct concept_entry *)(uintptr_t)ix->by_id.v[i]);
	concept_map_free(&ix->by_id);
	concept_tab_free(&ix->terms);
	for (size_t i = 0; i < ix->nplists; i++)
		free(ix->plists[i].v);
	free(ix->plists);
	memset(ix, 0, sizeof(*ix));
}

static int concept_index_add_rec(struct concept_index *ix,
				 const struct concept_rec *r)
{
	struct concept_entry *e = concept_entry_new(r);
	int rc = e ? concept_index_link(ix, e, r) : -ENOMEM;

	if (rc)
		concept_entry_free(e);
	return rc;
}

/* Build an index from every record in CF_CONCEPTS. */
static int concept_index_load(struct store *st, struct concept_index *ix)
{
	rocksdb_iterator_t *it;
	int rc = concept_map_init(&ix->by_id, 64);

	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	unsigned char hi[1] = { 0xff };

	/* Records only: the sums (keys from 0xff on) are not read. */
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 1);
	it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_CONCEPTS]);
	for (rocksdb_iter_seek_to_first(it); !rc && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		struct concept_rec r;

		if (klen != 8)
			continue;
		rc = concept_rec_decode(be64_get((const unsigned char *)k),
					(const unsigned char *)v, vlen, &r);
		if (!rc)
			rc = concept_index_add_rec(ix, &r);
		concept_rec_release(&r);
	}
	if (!rc)
		rc = db_iter_status(st, it, "concepts");
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (rc)
		concept_index_free(ix);
	return rc;
}

/* A counter of the default column family (0 when absent); a failed
 * read is an error, not 0. */
static int concept_meta_u64(struct store *st, const char *key, uint64_t *out)
{
	return db_get_be64(st, CF_DEFAULT, key, strlen(key), 0, out);
}

int concept_init(struct store *st)
{
	struct concept_cache *c = calloc(1, sizeof(*c));
	uint64_t n_vectors;
	int rc;

	if (!c)
		return -ENOMEM;
	pthread_rwlock_init(&c->lock, NULL);
	pthread_mutex_init(&c->run_lock, NULL);
	c->dirty_seq = (uint64_t)now_ns();
	rc = concept_meta_u64(st, "meta/vectors", &n_vectors);
	c->n_vectors = n_vectors;
	if (!rc)
		rc = concept_index_load(st, &c->ix);
	st->concepts = c;
	if (!rc && !st->read_only)
		rc = dirty_seed_all(st);
	if (rc) {
		store_log(STORE_LOG_ERR, "cannot load concepts: %s",
			  strerror(-rc));
		concept_free(st);
	}
	return rc;
}

void concept_free(struct store *st)
{
	struct concept_cache *c = st->concepts;

	if (!c)
		return;
	concept_index_free(&c->ix);
	pthread_rwlock_destroy(&c->lock);
	pthread_mutex_destroy(&c->run_lock);
	free(c);
	st->concepts = NULL;
}

/* ---- publishing (the run) -------------------------------------------- */

void concept_publish(struct store *st, struct concept_rec *const *put,
		     size_t nput, const uint64_t *del, size_t ndel,
		     uint64_t n_vectors)
{
	struct concept_cache *c = st->concepts;
	int rc = 0;

	pthread_rwlock_wrlock(&c->lock);
	for (size_t i = 0; i < ndel + nput; i++) {
		uint64_t id = i < ndel ? del[i] : put[i - ndel]->id;
		struct concept_entry *e = concept_entry_of(&c->ix, id);

		if (e) {
			concept_index_unlink(&c->ix, e);
			concept_entry_free(e);
		}
	}
	for (size_t i = 0; !rc && i < nput; i++)
		rc = concept_index_add_rec(&c->ix, put[i]);
	c->n_vectors = n_vectors;
	if (rc)
		c->stale = true;
	pthread_rwlock_unlock(&c->lock);
	if (rc)
		store_log(STORE_LOG_ERR,
			  "concept cache not updated (%s): reloaded by the "
			  "next consolidation", strerror(-rc));
}

void concept_cache_stale(struct store *st)
{
	pthread_rwlock_wrlock(&st->concepts->lock);
	st->concepts->stale = true;
	pthread_rwlock_unlock(&st->concepts->lock);
}

int concept_reload_if_stale(struct store *st)
{
	struct concept_cache *c = st->concepts;
	struct concept_index fresh = { 0 }, old;
	bool stale;
	int rc;

	pthread_rwlock_rdlock(&c->lock);
	stale = c->stale;
	pthread_rwlock_unlock(&c->lock);
	if (!stale)
		return 0;
	rc = concept_index_load(st, &fresh);
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&c->lock);
	old = c->ix;
	c->ix = fresh;
	c->stale = false;
	pthread_rwlock_unlock(&c->lock);
	concept_index_free(&old);
	return 0;
}

void concept_run_lock(struct store *st)
{
	pthread_mutex_lock(&st->concepts->run_lock);
}

void concept_run_unlock(struct store *st)
{
	pthread_mutex_unlock(&st->concepts->run_lock);
}

bool concept_run_cancelled(struct store *st)
{
	return st->concepts->cancel;
}

void concept_run_cancel(struct store *st, bool on)
{
	if (st->concepts)
		st->concepts->cancel = on;
}

uint64_t concept_dirty_seq(struct store *st)
{
	if (!st->concepts)
		return (uint64_t)now_ns();
	return ++st->concepts->dirty_seq;
}

void concept_count_run(struct store *st, double seconds, bool failed,
		       uint64_t formed, uint64_t bindings_created,
		       uint64_t analysed)
{
	struct concept_cache *c = st->concepts;

	if (failed)
		c->failures_total++;
	c->runs_total++;
	c->formed_total += formed;
	c->bindings_created_total += bindings_created;
	c->analysed_total += analysed;
	c->last_run_ns = (uint64_t)(seconds * 1e9);
	c->last_run_end = now_ns() / 1000000000;
	metrics_consolidation(st, seconds);
}

void concept_stats(struct store *st, struct concept_stats *out)
{
	struct concept_cache *c = st->concepts;

	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	pthread_rwlock_rdlock(&c->lock);
	out->concepts = c->ix.by_id.n;
	out->bindings = c->ix.bindings;
	out->coherence_sum = c->ix.coherence_sum;
	pthread_rwlock_unlock(&c->lock);
	out->formed_total = c->formed_total;
	out->bindings_created_total = c->bindings_created_total;
	out->failures_total = c->failures_total;
	out->runs_total = c->runs_total;
	out->analysed_total = c->analysed_total;
	out->last_run_seconds = (double)c->last_run_ns / 1e9;
	out->last_run_end = c->last_run_end;
}

/* ---- matching ------------------------------------------------------ */

/* Keep OUT[0..*n) the best MAX hits, best first (ties: lower id). */
static void concept_keep(struct concept_hit *out, size_t *n, size_t max,
			 const struct concept_hit *h)
{
	size_t i = *n < max ? (*n)++ : max;

	while (i > 0 && (out[i - 1].similarity < h->similarity ||
			 (out[i - 1].similarity == h->similarity &&
			  out[i - 1].id > h->id))) {
		if (i < max)
			out[i] = out[i - 1];
		i--;
	}
	if (i < max)
		out[i] = *h;
}

/* Add the dot products of TERMS/W with every centroid that shares a
 * term into ACC (id -> double bits).  Read lock held. */
static int concept_accumulate(const struct concept_index *ix,
			      char *const *terms, const float *w, size_t n,
			      struct concept_map *acc)
{
	for (size_t i = 0; i < n; i++) {
		long tid = concept_tab_find(&ix->terms, terms[i],
					    strlen(terms[i]));
		const struct concept_plist *pl;

		if (tid < 0 || (size_t)tid >= ix->nplists)
			continue;
		pl = &ix->plists[tid];
		for (uint32_t j = 0; j < pl->n; j++) {
			uint64_t *slot = concept_map_put(acc, pl->v[j].id);
			double d;

			if (!slot)
				return -ENOMEM;
			memcpy(&d, slot, 8);
			d += (double)w[i] * pl->v[j].w;
			memcpy(slot, &d, 8);
		}
	}
	return 0;
}

static int concept_score(struct store *st, char *const *terms,
			 const float *w, size_t n, size_t max, double min_coh,
			 struct concept_hit *out, size_t *nout)
{
	struct concept_cache *c = st->concepts;
	struct concept_map acc;
	int rc = concept_map_init(&acc, 64);

	*nout = 0;
	if (rc)
		return rc;
	pthread_rwlock_rdlock(&c->lock);
	rc = concept_accumulate(&c->ix, terms, w, n, &acc);
	for (size_t i = 0; !rc && i < acc.cap; i++) {
		struct concept_entry *e;
		struct concept_hit h;

		if (!acc.k[i])
			continue;
		e = concept_entry_of(&c->ix, acc.k[i]);
		memcpy(&h.similarity, &acc.v[i], 8);
		if (!e || e->coherence < min_coh || h.similarity <= 0)
			continue;
		h.id = e->id;
		h.similarity = h.similarity > 1 ? 1 : h.similarity;
		h.coherence = e->coherence;
		h.members = e->members;
		concept_keep(out, nout, max, &h);
	}
	pthread_rwlock_unlock(&c->lock);
	concept_map_free(&acc);
	return rc;
}

size_t concept_candidates(struct store *st, char *const *terms,
			  const float *w, size_t n, size_t max,
			  struct concept_hit *out)
{
	size_t got = 0;

	if (concept_score(st, terms, w, n, max, -1, out, &got))
		return 0;
	return got;
}

/* Document frequency of TERM among the consolidated vectors (0 when
 * absent); a failed read is an error, not a frequency of 0. */
static int concept_df(struct store *st, const char *term, int64_t *df)
{
	uint64_t v;
	int rc = db_get_be64(st, CF_DF, term, strlen(term), 0, &v);

	*df = rc ? 0 : (int64_t)v;
	return rc;
}

/*
 * The cue vector, weighted like episode vectors ((1 + ln tf) x idf,
 * idf = ln(1 + N/df)), unit length.  Terms no consolidated episode has
 * (df 0) are left out: no centroid holds them, and counting them would
 * only scale every similarity down alike.
 */
static int concept_cue(struct store *st, const struct text_terms *t,
		       char **terms, float *w, size_t *nterms)
{
	double n_docs = (double)st->concepts->n_vectors, norm = 0;
	size_t k = 0;

	for (size_t i = 0; i < t->n && k < CONCEPT_CUE_TERMS; i++) {
		int64_t df = 0;
		int rc = t->v[i].stop ? 0 : concept_df(st, t->v[i].term, &df);

		if (rc)
			return rc;
		if (df <= 0)
			continue;
		terms[k] = t->v[i].term;
		w[k] = (float)((1 + log((double)t->v[i].tf)) *
			       log(1 + n_docs / (double)df));
		norm += (double)w[k] * w[k];
		k++;
	}
	norm = sqrt(norm);
	for (size_t i = 0; i < k; i++)
		w[i] = norm > 0 ? (float)(w[i] / norm) : 0;
	*nterms = k;
	return 0;
}

int concept_match(struct store *st, const struct text_terms *t, size_t max,
		  double min_coh, struct concept_hit **out, size_t *n)
{
	char *terms[CONCEPT_CUE_TERMS];
	float w[CONCEPT_CUE_TERMS];
	struct concept_hit *hits = NULL;
	size_t k = 0, got = 0;
	int rc = concept_cue(st, t, terms, w, &k);

	if (rc)
		return rc;
	if (max && k) {
		hits = calloc(max, sizeof(*hits));
		if (!hits)
			return -ENOMEM;
		rc = concept_score(st, terms, w, k, max, min_coh, hits, &got);
	}
	if (rc || !got) {
		free(hits);
		hits = NULL;
		got = 0;
	}
	if (rc)
		return rc;
	*out = hits;
	*n = got;
	return 0;
}

int concept_info(struct store *st, uint64_t cid, struct concept_hit *out)
{
	struct concept_cache *c = st->concepts;
	struct concept_entry *e;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&c->lock);
	e = concept_entry_of(&c->ix, cid);
	if (e) {
		out->id = cid;
		out->similarity = 0;
		out->coherence = e->coherence;
		out->members = e->members;
		rc = 0;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

/* Copy concept CID out of the cache; -ENOENT if it is not there. */
static int concept_copy(struct store *st, uint64_t cid,
			struct store_concept *out)
{
	struct concept_cache *c = st->concepts;
	struct concept_entry *e;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&c->lock);
	e = concept_entry_of(&c->ix, cid);
	if (e) {
		out->id = cid;
		out->label = strdup(e->label);
		out->coherence = e->coherence;
		out->members = e->members;
		out->formed = e->formed;
		out->updated = e->updated;
		rc = out->label ? 0 : -ENOMEM;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int concept_label(struct store *st, uint64_t cid, char **out)
{
	struct store_concept c;
	int rc = concept_copy(st, cid, &c);

	if (!rc)
		*out = c.label;
	return rc;
}

/* ---- labels ----------------------------------------------------------- */

struct concept_wc {
	char w[CONCEPT_TERM_MAX + 1];
	int stem;		/* index into the stems, -1 = none */
	uint32_t count;
};

struct concept_words_ctx {
	char *const *stems;
	size_t k;
	struct concept_wc *v;
	size_t n;
};

/* Which stem does word W analyse to?  -1 for none. */
static int concept_word_stem(const struct concept_words_ctx *x,
			     const char *w, size_t n)
{
	struct text_terms t;
	int hit = -1;

	if (text_analyze(w, n, &t))
		return -1;
	for (size_t i = 0; t.n == 1 && i < x->k; i++)
		if (!strcmp(t.v[0].term, x->stems[i])) {
			hit = (int)i;
			break;
		}
	text_terms_release(&t);
	return hit;
}

/* Stems start like their words (the first letters survive Snowball), so
 * a cheap prefix test spares analysing most words. */
static bool concept_word_plausible(const struct concept_words_ctx *x,
				   const char *w, size_t n)
{
	for (size_t i = 0; i < x->k; i++) {
		size_t p = strlen(x->stems[i]);

		p = p < 2 ? p : 2;
		if (p && n >= p && !memcmp(w, x->stems[i], p))
			return true;
	}
	return false;
}

static void concept_word_count(struct concept_words_ctx *x, const char *w,
			       size_t n)
{
	struct concept_wc *wc;

	if (!concept_word_plausible(x, w, n))
		return;
	for (size_t i = 0; i < x->n; i++)
		if (!strncmp(x->v[i].w, w, n) && x->v[i].w[n] == '\0') {
			x->v[i].count += x->v[i].stem >= 0;
			return;
		}
	if (x->n == CONCEPT_WORDS_MAX)
		return;
	wc = &x->v[x->n++];
	memcpy(wc->w, w, n);
	wc->w[n] = '\0';
	wc->stem = concept_word_stem(x, w, n);
	wc->count = wc->stem >= 0;
}

/* Count the lower-cased ASCII words of BUF; words with other bytes are
 * skipped (a label is [a-z0-9-]). */
static void concept_words_scan(struct concept_words_ctx *x, const char *buf,
			       size_t len)
{
	char w[CONCEPT_TERM_MAX + 1];

	for (size_t i = 0; i < len;) {
		size_t s = i;
		bool ascii = true;

		while (i < len && ((buf[i] >= 'a' && buf[i] <= 'z') ||
				   (buf[i] >= 'A' && buf[i] <= 'Z') ||
				   (buf[i] >= '0' && buf[i] <= '9') ||
				   (unsigned char)buf[i] >= 0x80)) {
			ascii = ascii && (unsigned char)buf[i] < 0x80;
			i++;
		}
		if (i == s) {
			i++;
			continue;
		}
		if (!ascii || i - s > CONCEPT_TERM_MAX)
			continue;
		for (size_t j = s; j < i; j++)
			w[j - s] = (char)(buf[j] >= 'A' && buf[j] <= 'Z'
						  ? buf[j] - 'A' + 'a'
						  : buf[j]);
		concept_word_count(x, w, i - s);
	}
}

/* The best word for stem I: most frequent, then shortest, then first in
 * byte order; the stem itself if no word analyses to it. */
static char *concept_word_pick(const struct concept_words_ctx *x, size_t i)
{
	const struct concept_wc *best = NULL;

	for (size_t j = 0; j < x->n; j++) {
		const struct concept_wc *c = &x->v[j];

		if (c->stem != (int)i || !c->count)
			continue;
		if (!best || c->count > best->count ||
		    (c->count == best->count &&
		     (strlen(c->w) < strlen(best->w) ||
		      (strlen(c->w) == strlen(best->w) &&
		       strcmp(c->w, best->w) < 0))))
			best = c;
	}
	return strdup(best ? best->w : x->stems[i]);
}

int concept_words(struct store *st, const uint64_t *inos, size_t n,
		  char *const *stems, size_t k, char **words)
{
	struct concept_words_ctx x = { stems, k, NULL, 0 };
	size_t i;
	int rc = 0;

	x.v = calloc(CONCEPT_WORDS_MAX, sizeof(*x.v));
	if (!x.v)
		return -ENOMEM;
	for (i = 0; !rc && i < n && i < CONCEPT_WORDS_DOCS; i++) {
		char *buf = NULL;
		size_t len = 0;

		/* A member deleted meanwhile gives no words; a failed
		 * read is an error (the label would differ). */
		rc = store_content_read(st, inos[i], &buf, &len);
		if (!rc)
			concept_words_scan(&x, buf, len);
		free(buf);
		rc = rc == -ENOENT ? 0 : rc;
	}
	if (rc) {
		free(x.v);
		return rc;
	}
	for (i = 0; i < k; i++) {
		words[i] = concept_word_pick(&x, i);
		if (!words[i])
			break;
	}
	free(x.v);
	if (i == k)
		return 0;
	while (i-- > 0)
		free(words[i]);
	return -ENOMEM;
}

void concept_label_base(char *const *words, size_t k, char *buf, size_t size)
{
	size_t n = 0, cap = size - 1;

	if (cap > CONCEPT_LABEL_BASE_MAX)
		cap = CONCEPT_LABEL_BASE_MAX;
	for (size_t i = 0; i < k; i++) {
		size_t start = n + (n > 0);

		if (start >= cap)
			break;
		for (const char *p = words[i]; *p && start < cap; p++)
			if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
				buf[start++] = *p;
		if (start == n + (n > 0))
			continue;	/* nothing of it is [a-z0-9] */
		if (n)
			buf[n] = '-';
		n = start;
	}
	if (!n) {
		snprintf(buf, size, "concept");
		return;
	}
	buf[n] = '\0';
}

/* ---- public API --------------------------------------------------------- */

void store_concept_release(struct store_concept *c)
{
	if (!c)
		return;
	free(c->label);
	c->label = NULL;
}

static int concept_label_id(struct store *st, const char *label,
			    size_t len, uint64_t *id)
{
	char *v;
	size_t n;
	int rc = db_get(st, CF_LABELS, label, len, &v, &n);

	if (rc)
		return rc;
	if (n == 8)
		*id = be64_get((const unsigned char *)v);
	else
		rc = -EIO;
	free(v);
	return rc;
}

int store_concept_lookup(struct store *st, const char *label,
			 struct store_concept *out)
{
	uint64_t id;
	int rc = concept_label_id(st, label, strlen(label), &id);

	if (!rc)
		rc = concept_copy(st, id, out);
	return rc;
}

int store_concept_list(struct store *st, const char *after,
		       store_concept_fn *fn, void *ctx)
{
	rocksdb_iterator_t *it;
	size_t alen = after ? strlen(after) : 0, klen, vlen;
	int rc = 0;

	it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_LABELS]);
	rocksdb_iter_seek(it, after ? after : "", alen);
	for (; !rc && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		struct store_concept c;

		if (after && klen == alen && !memcmp(k, after, alen))
			continue;
		if (vlen != 8 ||
		    concept_copy(st, be64_get((const unsigned char *)v), &c))
			continue;	/* not published yet, or gone */
		rc = fn(ctx, &c);
		store_concept_release(&c);
	}
	if (!rc)
		rc = db_iter_status(st, it, "concepts");
	rocksdb_iter_destroy(it);
	return rc;
}

struct concept_buf {
	char *p;
	size_t n, cap;
	int err;
};

static void concept_printf(struct concept_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void concept_printf(struct concept_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int pass = 0; !b->err && pass < 2; pass++) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->n : NULL,
			      b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
		} else if (b->p && (size_t)n < b->cap - b->n) {
			b->n += (size_t)n;
			return;
		} else {
			size_t cap = b->cap ? b->cap : 256;
			char *p;

			while (cap < b->n + (size_t)n + 1)
				cap *= 2;
			p = realloc(b->p, cap);
			if (!p)
				b->err = -ENOMEM;
			else {
				b->p = p;
				b->cap = cap;
			}
		}
	}
}

static void concept_iso(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The member lines: existing members C may read, strongest first. */
static int concept_render_members(struct store *st, uint64_t id,
				  const struct store_caller *c,
				  struct concept_buf *lines, uint32_t *count)
{
	struct binding *m = NULL;
	size_t n = 0;
	int rc = concept_members(st, id, &m, &n);

	for (size_t i = 0; !rc && i < n; i++) {
		struct store_attr a;
		char *path;

		/* A member forgotten meanwhile is left out; a failed read
		 * is an error, not a shorter list. */
		rc = store_getattr(st, m[i].id, &a);
		if (rc || !S_ISREG(a.mode)) {
			rc = rc == -ENOENT ? 0 : rc;
			continue;
		}
		++*count;
		if (!store_may_read(st, c, m[i].id))
			continue;
		rc = store_path(st, m[i].id, &path);
		if (rc) {
			rc = rc == -ENOENT ? 0 : rc;
			continue;
		}
		concept_printf(lines, "%.4f\t%s\n", m[i].strength, path);
		free(path);
		rc = lines->err;
	}
	free(m);
	return rc;
}

bool store_concept_visible(struct store *st, uint64_t id,
			   const struct store_caller *c)
{
	struct binding *m;
	size_t n;
	bool seen = false;

	if (!c || c->uid == 0)
		return true;
	if (concept_members(st, id, &m, &n))
		return false;
	for (size_t i = 0; !seen && i < n; i++)
		seen = store_may_read(st, c, m[i].id);
	free(m);
	return seen;
}

int store_concept_render(struct store *st, uint64_t id,
			 const struct store_caller *c, char **out, size_t *len)
{
	struct concept_buf head = { 0 }, lines = { 0 };
	struct concept_rec r;
	char formed[32], updated[32];
	uint32_t count = 0;
	int rc;

	if (!store_concept_visible(st, id, c))
		return -ENOENT;
	rc = concept_rec_get(st, id, &r);
	if (rc)
		return rc;
	rc = concept_render_members(st, id, c, &lines, &count);
	concept_iso(r.formed, formed, sizeof(formed));
	concept_iso(r.updated, updated, sizeof(updated));
	concept_printf(&head,
		       "label: %s\ncoherence: %.4f\nmembers: %u\n"
		       "formed: %s\nupdated: %s\nterms: %s\n\n%.*s",
		       r.label, r.coherence, count, formed, updated,
		       r.shown ? r.shown : "", (int)lines.n,
		       lines.p ? lines.p : "");
	concept_rec_release(&r);
	free(lines.p);
	if (!rc)
		rc = head.err;
	if (rc) {
		free(head.p);
		return rc;
	}
	*out = head.p;
	*len = head.n;
	return 0;
}

int store_episode_concepts(struct store *st, uint64_t ino, char **out,
			   size_t *len)
{
	struct concept_buf b = { 0 };
	struct binding *v = NULL;
	size_t n = 0;
	int rc = episode_bindings(st, ino, &v, &n);

	for (size_t i = 0; !rc && i < n; i++) {
		char *label;

		if (concept_label(st, v[i].id, &label))
			continue;	/* dissolved, or not published yet */
		concept_printf(&b, "%s\t%.4f\n", label, v[i].strength);
		free(label);
		rc = b.err;
	}
	free(v);
	if (rc) {
		free(b.p);
		return rc;
	}
	if (!b.p)
		b.p = strdup("");
	if (!b.p)
		return -ENOMEM;
	*out = b.p;
	*len = b.n;
	return 0;
}

/* Under the run lock: a run calls the hook only while it holds it, so
 * once this returns the old function and context are never used again. */
void store_change_hook(struct store *st, store_change_fn *fn, void *ctx)
{
	concept_run_lock(st);
	st->change_ctx = ctx;
	st->change_fn = fn;
	concept_run_unlock(st);
}
