/*
 * episodic.c - the episodic pathway: BM25 over the postings, with the
 * work bounded by what can still reach the top K.
 *
 * Scores are what recall.c's header describes (idf = ln(1 + (N - df +
 * .5) / (df + .5)), similarity 1 - e^-(bm25 / sum idf), final score =
 * similarity x decay x confidence).  What this file adds is the order
 * and the bound, in the spirit of max-score (Turtle and Flood 1995):
 *
 *   1. sample: every cue term reads its first EP_SAMPLE postings (keys
 *      are term | ino, so that is the lowest inode numbers).  A term
 *      that runs out has its exact df; a longer one has df estimated
 *      from how far into its own inode range the sample reached (one
 *      seek to its last posting gives the range): terms of common words
 *      are spread over the whole range, and an estimate within a few per
 *      cent moves idf by hundredths;
 *   2. order: terms by idf, rarest first; only the EP_CUE_TERMS rarest
 *      are scored (a pasted paragraph keeps its telling words).  An
 *      episode is an answer when it holds a content word of the cue, or
 *      at least EP_STOP_COVER of its stop words: "tea with Bob" is no
 *      answer to "coffee with alice", but a mistyped cue whose stop
 *      words are what is left of it still finds (FTS5 ORs every word;
 *      this rule keeps the 35 of 1,000 fortunes/partial cues whose known
 *      item shares only stop words with the cue).  With no content word
 *      of the cue in the store at all ("to be or not to be"), stop words
 *      count as content;
 *   3. scan: a term is read in full, creating candidates, while a new
 *      episode could still reach the top K: its best possible final
 *      score, 1 - e^-(R / sum idf) with R the sum of the remaining
 *      terms' upper bounds idf x (k1 + 1), is compared with theta, the
 *      K-th best final score so far (a lower bound of the true K-th:
 *      scores only grow).  Once new episodes cannot make it, each
 *      remaining term only completes the scores of the candidates that
 *      still could (their partial score plus R reaches theta): by one
 *      seek per candidate when they are few against the term's
 *      postings, else by reading the rest of the postings without
 *      creating candidates.  The common words of a cue ("the", "of")
 *      come last and cost a few seeks instead of a scan.
 *
 * Tiers: an episode that holds every content word of the cue that the
 * store holds is complete and ranks before all others (recall.c); the
 * bounds above compare 2 x tier + final score, and an episode first met
 * after a content word was run can no longer be complete.
 *
 * Exactness: every episode in the top K of the unbounded scan is a
 * candidate with its full score.  Episodes outside it may be missing or
 * scored low; recall.c re-runs unbounded (K = 0) in the rare case that
 * the results the caller may see run out inside the bounded candidates.
 * Blended recall uses the same candidates: an episode whose episodic
 * score could not reach the top K enters only through the semantic side.
 *
 * Postings come through one cursor (ep_valid, ep_next, ep_seek,
 * ep_current) from RocksDB's iterator or, for a frequent term read in
 * full before, from its decoded list in pcache.c: the same postings in
 * the same order, so the same answer.
 *
 * Rejected: a document-frequency table (doubled the keys of a commit,
 * see index.c); block-max indexes (RocksDB gives no block boundaries to
 * hang the maxima on).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recall_i.h"

#define EP_SAMPLE	256	/* postings read per term before ordering */
#define EP_CUE_TERMS	64	/* rarest cue terms scored */
#define EP_SEEK_COST	16	/* one seek costs about this many nexts */
#define EP_STOP_COVER	2	/* stop words of the cue that find without
				 * a content word */

/* The postings of one term that pass the filters. */
struct hits {
	struct posting_hit *v;
	size_t n, cap;
};

struct ep_term {
	struct store *st;
	const char *term;
	size_t tl;
	char *hi;		/* term | 0x01: the upper bound (RocksDB keeps
				 * a pointer: not in the struct, which moves) */
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;		/* the postings, or: */
	const struct pcache_list *pl;	/* the same, decoded (pcache.c) */
	size_t pos;			/* pl's cursor */
	uint64_t gen;			/* pcache generation at open */
	struct hits h;		/* postings read so far that pass filters */
	uint64_t seen;		/* postings read so far */
	uint64_t first, last;	/* inodes of the first and last read */
	bool done;		/* all read: seen is the df */
	bool stop;		/* a stop word of a cue with stored content */
	size_t idx;		/* its place in the cue's terms */
	double df, idf, ub;
};

static bool ep_keep(const struct recall_params *p, const struct posting *po)
{
	return po->when >= p->since && po->when <= p->until &&
	       po->conf + 1e-9 >= p->min_conf;
}

static int ep_hits_push(struct hits *h, uint64_t ino, const struct posting *po)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 256;
		struct posting_hit *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n].ino = ino;
	h->v[h->n++].po = *po;
	return 0;
}

static size_t ep_key(const struct ep_term *e, uint64_t ino, char *key)
{
	memcpy(key, e->term, e->tl);
	key[e->tl] = '\0';
	be64_put((unsigned char *)key + e->tl + 1, ino);
	return e->tl + 9;
}

static int ep_open(struct store *st, struct ep_term *e, const char *term)
{
	char key[INDEX_TERM_MAX + 9];

	e->st = st;
	e->term = term;
	e->tl = strlen(term);
	if (e->tl > INDEX_TERM_MAX)
		e->tl = INDEX_TERM_MAX;
	e->gen = pcache_gen(st->pcache, term, e->tl);
	e->pl = pcache_get(st->pcache, term, e->tl);
	if (e->pl)
		return 0;	/* positioned at its first posting */
	e->hi = malloc(e->tl + 1);
	e->ro = rocksdb_readoptions_create();
	if (!e->hi || !e->ro)
		return -ENOMEM;
	memcpy(e->hi, term, e->tl);
	e->hi[e->tl] = '\1';
	rocksdb_readoptions_set_iterate_upper_bound(e->ro, e->hi, e->tl + 1);
	e->it = rocksdb_create_iterator_cf(st->db, e->ro, st->cf[CF_POSTINGS]);
	if (!e->it)
		return -ENOMEM;
	rocksdb_iter_seek(e->it, key, ep_key(e, 0, key));
	return 0;
}

static void ep_close(struct ep_term *e)
{
	pcache_release(e->st ? e->st->pcache : NULL, e->pl);
	if (e->it)
		rocksdb_iter_destroy(e->it);
	if (e->ro)
		rocksdb_readoptions_destroy(e->ro);
	free(e->hi);
	free(e->h.v);
	memset(e, 0, sizeof(*e));
}

/* The iterator's own error (a failed read) as -errno, logged. */
static int ep_iter_error(const struct ep_term *e)
{
	return e->pl ? 0 : db_iter_status(e->st, e->it, "recall: read postings");
}

/* The postings of E are read through these four, from RocksDB or from
 * the cached list alike: the same postings in the same order. */
static bool ep_valid(const struct ep_term *e)
{
	return e->pl ? e->pos < e->pl->n : rocksdb_iter_valid(e->it);
}

static void ep_next(struct ep_term *e)
{
	if (e->pl)
		e->pos++;
	else
		rocksdb_iter_next(e->it);
}

/* To the first posting of an inode number at least INO. */
static void ep_seek(struct ep_term *e, uint64_t ino)
{
	char key[INDEX_TERM_MAX + 9];
	size_t lo = 0, hi;

	if (!e->pl) {
		rocksdb_iter_seek(e->it, key, ep_key(e, ino, key));
		return;
	}
	for (hi = e->pl->n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->pl->v[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	e->pos = lo;
}

/* Decode the posting under the cursor; false if it is not one. */
static bool ep_current(const struct ep_term *e, uint64_t *ino,
		       struct posting *po)
{
	size_t klen, vlen;
	const char *k, *v;

	if (e->pl) {
		const struct pcache_posting *c = &e->pl->v[e->pos];

		*ino = c->ino;
		*po = (struct posting){ .tf = c->tf, .dl = c->dl,
					.when = c->when,
					.conf = c->conf / 255.0 };
		return true;
	}
	k = rocksdb_iter_key(e->it, &klen);
	v = rocksdb_iter_value(e->it, &vlen);

	if (klen != e->tl + 9 ||
	    posting_decode((const unsigned char *)v, vlen, po))
		return false;
	*ino = be64_get((const unsigned char *)k + e->tl + 1);
	return true;
}

/* Read up to MAX more postings into E's hits. */
static int ep_read(struct ep_term *e, const struct recall_params *p,
		   uint64_t max)
{
	int rc = 0;

	for (; !rc && max && ep_valid(e); ep_next(e)) {
		struct posting po;
		uint64_t ino;

		if (!ep_current(e, &ino, &po))
			continue;
		if (!e->seen++)
			e->first = ino;
		e->last = ino;
		max--;
		if (ep_keep(p, &po))
			rc = ep_hits_push(&e->h, ino, &po);
	}
	if (!rc && !ep_valid(e)) {
		rc = ep_iter_error(e);
		e->done = true;
	}
	return rc;
}

/* The first inode number of E's postings at or after FROM, by a forward
 * seek of IT; false when there is none (or on a read error: IT says). */
static bool ep_first_from(rocksdb_iterator_t *it, const struct ep_term *e,
			  uint64_t from, uint64_t *ino)
{
	char key[INDEX_TERM_MAX + 9];
	const char *k;
	size_t klen;

	rocksdb_iter_seek(it, key, ep_key(e, from, key));
	if (!rocksdb_iter_valid(it))
		return false;
	k = rocksdb_iter_key(it, &klen);
	if (klen != e->tl + 9 || memcmp(k, e->term, e->tl) || k[e->tl])
		return false;
	*ino = be64_get((const unsigned char *)k + e->tl + 1);
	return true;
}

/*
 * The inode number of E's last posting, by forward seeks: doubling steps
 * from the last one read, then bisection (about 2 log2 of the range,
 * ~40 seeks at 1M episodes).  Exact, so a cached list (whose last entry
 * gives the same number) and the iterator agree.  Rejected: one backward
 * seek; the hash memtable of the postings cannot seek backwards and
 * answered nothing for postings not yet flushed, which made the estimate
 * of a common term's df the size of its sample.  A separate iterator:
 * E's own is in the middle of its scan.
 */
static int ep_last_ino(struct store *st, const struct ep_term *e,
		       uint64_t *out)
{
	rocksdb_iterator_t *it;
	uint64_t lo = e->last, hi = UINT64_MAX, step = 1, ino;
	int rc;

	if (e->pl) {
		*out = e->pl->v[e->pl->n - 1].ino;
		return 0;
	}
	it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_POSTINGS]);
	if (!it)
		return -ENOMEM;
	/* invariant: a posting at lo, none at hi or above */
	while (step && step < hi - lo) {
		if (!ep_first_from(it, e, lo + step, &ino)) {
			hi = lo + step;
			break;
		}
		lo = ino;
		step *= 2;
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (ep_first_from(it, e, mid, &ino))
			lo = ino;
		else
			hi = mid;
	}
	rc = db_iter_status(st, it, "recall: read postings");
	rocksdb_iter_destroy(it);
	*out = lo;
	return rc;
}

/* Document frequency: exact when all postings were read, else
 * extrapolated over the term's inode range. */
static int ep_estimate(struct store *st, struct ep_term *e,
		       const struct recall_params *p)
{
	uint64_t max = e->last;
	double df;
	int rc;

	if (e->done || e->seen < 2) {
		e->df = (double)e->seen;
		return 0;
	}
	rc = ep_last_ino(st, e, &max);
	if (rc)
		return rc;
	if (max < e->last)
		max = e->last;
	df = (double)(e->seen - 1) * (double)(max - e->first) /
		     (double)(e->last - e->first) +
	     1;
	if (df < (double)e->seen + 1)
		df = (double)e->seen + 1;
	if (df > p->n_docs && p->n_docs > (double)e->seen)
		df = p->n_docs;
	e->df = df;
	return 0;
}

static void ep_weigh(struct ep_term *e, const struct recall_params *p)
{
	e->idf = log(1 + (p->n_docs - e->df + 0.5) / (e->df + 0.5));
	if (e->idf < 0)
		e->idf = 0;
	e->ub = e->idf * (p->k1 + 1);
}

/* By idf, rarest first. */
static int ep_by_idf(const void *a, const void *b)
{
	const struct ep_term *x = a, *y = b;

	if (x->idf != y->idf)
		return x->idf < y->idf ? 1 : -1;
	return strcmp(x->term, y->term);
}

/* ---- scoring -------------------------------------------------------- */

static double ep_bm25(const struct recall_params *p, double idf,
		      const struct posting *po)
{
	double norm = p->k1 * (1 - p->b + p->b * po->dl / p->avgdl);

	return idf * po->tf * (p->k1 + 1) / (po->tf + norm);
}

static void ep_add(struct cand *c, const struct ep_term *e, double s,
		   const struct posting *po)
{
	c->bm25 += s;
	if (!e->stop) {
		c->content = true;
		c->cover += e->idf;
		if (e->idx < 64)
			c->words |= UINT64_C(1) << e->idx;
	} else if (c->stops < UINT8_MAX)
		c->stops++;
	c->when = po->when;
	c->conf = po->conf;
	c->have_meta = true;
}

static double ep_sim(double bm25, double ideal)
{
	return ideal > 0 ? 1 - exp(-bm25 / ideal) : 0;
}

/* The final score of C if its BM25 were BM25 (no rehearsal: a lower
 * bound of what recall.c ranks by). */
static double ep_final(const struct recall_params *p, const struct cand *c,
		       double bm25, double ideal)
{
	struct cand x = *c;

	x.sim = ep_sim(bm25, ideal);
	return recall_shape(p, &x, 0);
}

/*
 * What scoring needs besides the terms.  Complete first: an episode that
 * holds every stored content word of the cue ranks before any that does
 * not (recall.c).  ALL is the mask of those words (bit = place in the
 * cue; 0 = no tiers: a one-word cue, or one too long to track), DONE
 * those already run.  Every bound below compares keys, 2 x tier + final,
 * which order candidates the same way.
 */
struct ep_ctx {
	const struct recall_params *p;
	double ideal;
	uint64_t all, done;
};

static bool ep_is_complete(const struct ep_ctx *x, const struct cand *c)
{
	return x->all && (c->words & x->all) == x->all;
}

/* Could C still be complete: does it hold every word run so far? */
static bool ep_may_complete(const struct ep_ctx *x, const struct cand *c)
{
	return x->all && (c->words & x->done) == x->done;
}

static double ep_rank(const struct ep_ctx *x, const struct cand *c,
		      double bm25, bool complete)
{
	return (complete ? 2 : 0) + ep_final(x->p, c, bm25, x->ideal);
}

/* Min-heap of the K best ranks seen: theta is its top once full. */
struct ep_topk {
	double *v;
	size_t n, k;
};

static void ep_topk_push(struct ep_topk *q, double s)
{
	size_t i;

	if (q->n == q->k) {
		if (s <= q->v[0])
			return;
		i = 0;	/* replace the least, sift down */
		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, w = i;
			double ws = s;

			if (l < q->n && q->v[l] < ws)
				w = l, ws = q->v[l];
			if (r < q->n && q->v[r] < ws)
				w = r;
			if (w == i)
				break;
			q->v[i] = q->v[w];
			i = w;
		}
		q->v[i] = s;
		return;
	}
	for (i = q->n++; i && q->v[(i - 1) / 2] > s; i = (i - 1) / 2)
		q->v[i] = q->v[(i - 1) / 2];
	q->v[i] = s;
}

static double ep_topk_theta(const struct ep_topk *q)
{
	return q->k && q->n == q->k ? q->v[0] : 0;
}

/* May C be an answer?  A content word of the cue, or EP_STOP_COVER of
 * its stop words (ep_prepare).  Only grows as terms are added. */
static bool ep_eligible(const struct cand *c)
{
	return c->content || c->stops >= EP_STOP_COVER;
}

/* Theta from every eligible candidate's partial rank. */
static double ep_theta(const struct cand_table *t, const struct ep_ctx *x,
		       struct ep_topk *q)
{
	q->n = 0;
	for (size_t i = 0; i < t->cap; i++) {
		const struct cand *c = &t->v[i];

		if (c->ino && ep_eligible(c))
			ep_topk_push(q, ep_rank(x, c, c->bm25,
					       ep_is_complete(x, c)));
	}
	return ep_topk_theta(q);
}

/* Term E in full: every posting, new candidates only when they could
 * reach theta (R: upper bound of the terms after E). */
static int ep_full(struct ep_term *e, const struct ep_ctx *x,
		   struct cand_table *t, double rest, struct ep_topk *q,
		   double theta, bool *bounded)
{
	const struct recall_params *p = x->p;
	/* an episode first met here lacks every word run before */
	double tier = x->all && !x->done ? 2 : 0;
	int rc = ep_read(e, p, UINT64_MAX);

	/* Q: the K best of the episodes this term touches, each once (the
	 * table's theta counts every candidate once too; either K-th is a
	 * lower bound of the true one, so the larger is). */
	q->n = 0;

	for (size_t i = 0; !rc && i < e->h.n; i++) {
		const struct posting *po = &e->h.v[i].po;
		double s = ep_bm25(p, e->idf, po);
		struct cand *c = cand_find(t, e->h.v[i].ino);
		bool done;

		if (!c) {
			struct cand probe = { .when = po->when,
					      .conf = po->conf };
			double th = theta > ep_topk_theta(q)
					    ? theta : ep_topk_theta(q);

			/* decay <= 1: the cheap test first, pow() if need be */
			if (q->k && th > 0 &&
			    (tier + ep_sim(s + rest, x->ideal) * po->conf < th ||
			     tier + ep_final(p, &probe, s + rest, x->ideal) <
				     th)) {
				*bounded = true;
				continue;	/* cannot reach the top K */
			}
			c = cand_slot(t, e->h.v[i].ino);
			if (!c)
				return -ENOMEM;
		}
		ep_add(c, e, s, po);
		done = ep_is_complete(x, c);
		if (!q->k || !ep_eligible(c) ||
		    (q->n == q->k && (done ? 2 : 0) + ep_sim(c->bm25, x->ideal) *
							 c->conf <= q->v[0]))
			continue;	/* cannot enter Q */
		ep_topk_push(q, ep_rank(x, c, c->bm25, done));
	}
	/* Every posting, none filtered out: the whole list, for the cache. */
	if (!rc && e->done && !e->pl && e->h.n == e->seen)
		pcache_offer(e->st->pcache, e->term, e->tl, e->gen, e->h.v,
			     e->h.n);
	return rc;
}

static int ep_ino_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The candidates that could still reach THETA, sorted by inode. */
static int ep_contenders(const struct cand_table *t, const struct ep_ctx *x,
			 double rest, double theta, uint64_t **out, size_t *n)
{
	uint64_t *v = malloc((t->n ? t->n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		const struct cand *c = &t->v[i];

		if (c->ino && ep_rank(x, c, c->bm25 + rest,
				     ep_may_complete(x, c)) >= theta)
			v[k++] = c->ino;
	}
	qsort(v, k, sizeof(*v), ep_ino_cmp);
	*out = v;
	*n = k;
	return 0;
}

static void ep_add_existing(struct cand_table *t, uint64_t ino,
			    const struct ep_term *e,
			    const struct recall_params *p,
			    const struct posting *po)
{
	struct cand *c = cand_find(t, ino);

	if (c && ep_keep(p, po))
		ep_add(c, e, ep_bm25(p, e->idf, po), po);
}

/* Term E for the candidates in INOS only (sorted): a seek each. */
static int ep_seek_each(struct ep_term *e, const struct recall_params *p,
			struct cand_table *t, const uint64_t *inos, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct posting po;
		uint64_t ino;

		if (inos[i] <= e->last)
			continue;	/* in the sample already */
		ep_seek(e, inos[i]);
		if (!ep_valid(e))
			return ep_iter_error(e);
		if (ep_current(e, &ino, &po) && ino == inos[i])
			ep_add_existing(t, ino, e, p, &po);
	}
	return 0;
}

/* Term E completing existing candidates only. */
static int ep_complete(struct ep_term *e, const struct ep_ctx *x,
		       struct cand_table *t, double rest, double theta)
{
	const struct recall_params *p = x->p;
	uint64_t *inos = NULL;
	size_t n = 0, sampled = e->h.n;
	int rc = ep_contenders(t, x, rest, theta, &inos, &n);

	for (size_t i = 0; !rc && i < sampled; i++)
		ep_add_existing(t, e->h.v[i].ino, e, p, &e->h.v[i].po);
	if (!rc && !e->done) {
		if ((double)n * EP_SEEK_COST < e->df - (double)e->seen) {
			rc = ep_seek_each(e, p, t, inos, n);
		} else {
			e->h.n = 0;
			rc = ep_read(e, p, UINT64_MAX);
			for (size_t i = 0; !rc && i < e->h.n; i++)
				ep_add_existing(t, e->h.v[i].ino, e, p,
						&e->h.v[i].po);
		}
	}
	free(inos);
	return rc;
}

/* ---- the pathway ---------------------------------------------------- */

/* Open, sample and weigh every cue term.  Stop words count as content
 * when no content word of the cue is in the store ("to be or not to
 * be"); else they only count towards EP_STOP_COVER. */
static int ep_prepare(struct store *st, const struct text_terms *terms,
		      const struct recall_params *p, struct ep_term *v)
{
	bool content = false;
	int rc = 0;

	for (size_t i = 0; !rc && i < terms->n; i++) {
		v[i].idx = i;
		rc = ep_open(st, &v[i], terms->v[i].term);
		if (!rc)
			rc = ep_read(&v[i], p, EP_SAMPLE);
		if (!rc)
			rc = ep_estimate(st, &v[i], p);
		if (!rc) {
			ep_weigh(&v[i], p);
			content = content || (!terms->v[i].stop && v[i].seen);
		}
	}
	for (size_t i = 0; i < terms->n; i++)
		v[i].stop = terms->v[i].stop && content;
	return rc;
}

/* Only the eligible candidates stay in T. */
static int ep_drop_ineligible(struct cand_table *t)
{
	struct cand_table kept;
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++)
		n += t->v[i].ino && ep_eligible(&t->v[i]);
	if (n == t->n)
		return 0;
	if (cand_init(&kept, t->cap))
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].ino && ep_eligible(&t->v[i]))
			*cand_slot(&kept, t->v[i].ino) = t->v[i];
	free(t->v);
	kept.cue_cover = t->cue_cover;
	*t = kept;
	return 0;
}

/* The mask of the cue's stored content words, for complete-first (0: no
 * tiers, when fewer than two or one is past bit 63). */
static uint64_t ep_tier_mask(const struct ep_term *v, size_t n)
{
	uint64_t all = 0;
	size_t words = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].stop || !v[i].seen)
			continue;
		if (v[i].idx >= 64)
			return 0;
		all |= UINT64_C(1) << v[i].idx;
		words++;
	}
	return words >= 2 ? all : 0;
}

static uint64_t ep_bit(const struct ep_ctx *x, const struct ep_term *e)
{
	return e->idx < 64 ? x->all & UINT64_C(1) << e->idx : 0;
}

static int ep_run(struct ep_term *v, size_t n, const struct recall_params *p,
		  size_t k, struct cand_table *t, bool *bounded)
{
	struct ep_topk q = { .k = k }, run = { .k = k };
	struct ep_ctx x = { .p = p, .all = ep_tier_mask(v, n) };
	double rest = 0;
	size_t content = 0, stops = 0;	/* of the terms not yet run */
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		x.ideal += v[i].idf;
		rest += v[i].ub;
		content += !v[i].stop;
		stops += v[i].stop;
		if (!v[i].stop)
			t->cue_cover += v[i].idf;
	}
	if (k && (!(q.v = malloc(k * sizeof(*q.v))) ||
		  !(run.v = malloc(k * sizeof(*run.v))))) {
		free(q.v);
		return -ENOMEM;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		double theta = k && t->n >= k ? ep_theta(t, &x, &q) : 0;
		/* could an episode first found here become eligible, or
		 * complete? */
		bool admits = !v[i].stop || content > 0 ||
			      stops >= EP_STOP_COVER;
		struct cand best = { .conf = 1, .when = p->now };

		rest -= v[i].ub;
		content -= !v[i].stop;
		stops -= v[i].stop;
		if (!admits) {
			*bounded = *bounded || theta > 0;
			rc = ep_complete(&v[i], &x, t, rest, theta);
		} else if (theta > 0 &&
			   ep_rank(&x, &best, rest + v[i].ub,
				  x.all && !x.done) < theta) {
			*bounded = true;
			rc = ep_complete(&v[i], &x, t, rest, theta);
		} else {
			rc = ep_full(&v[i], &x, t, rest, &run, theta, bounded);
		}
		x.done |= ep_bit(&x, &v[i]);
	}
	free(q.v);
	free(run.v);
	if (!rc)
		rc = ep_drop_ineligible(t);
	for (size_t i = 0; !rc && i < t->cap; i++) {
		struct cand *c = &t->v[i];

		if (c->ino) {
			c->sim_e = ep_sim(c->bm25, x.ideal);
			c->sim = c->sim_e;
			c->complete = ep_is_complete(&x, c);
			c->pathway = STORE_PATHWAY_EPISODIC;
		}
	}
	return rc;
}

int episodic_score(struct store *st, const struct text_terms *terms,
		   const struct recall_params *p, size_t k,
		   struct cand_table *t, bool *bounded)
{
	struct ep_term *v = calloc(terms->n ? terms->n : 1, sizeof(*v));
	size_t n;
	int rc;

	*bounded = false;
	if (!v)
		return -ENOMEM;
	rc = cand_init(t, 1024);
	if (!rc)
		rc = ep_prepare(st, terms, p, v);
	n = terms->n;
	if (!rc) {
		qsort(v, n, sizeof(*v), ep_by_idf);
		if (n > EP_CUE_TERMS)
			n = EP_CUE_TERMS;
		rc = ep_run(v, n, p, k, t, bounded);
	}
	for (size_t i = 0; i < terms->n; i++)
		ep_close(&v[i]);
	free(v);
	return rc;
}
