/*
 * recall.c - the life cycle of one recall.
 *
 *   1. mode: auto resolves to blended for the treatment cohort when the
 *      blended_recall flag is on, else episodic.  Cohort = xxh64(key,
 *      seed) / 2^64 < cohort_sampling_rate, with the key the caller's uid
 *      in decimal or user=.  xxh64 is fixed and documented, so a key keeps
 *      its cohort across restarts and machines, and raising the rate only
 *      moves keys from control to treatment.
 *   2. episodic pathway: the cue is analysed like an episode; each term's
 *      postings are scanned once and scored with BM25 (k1, b are flags;
 *      idf = ln(1 + (N - df + .5) / (df + .5)), always positive).  The
 *      raw score is divided by the score of an ideal episode for the cue:
 *      one of average length holding each cue term once, whose BM25 is
 *      exactly sum(idf).  x = bm25 / sum(idf) maps to a similarity
 *      1 - e^-x in 0..1: comparable across cues, strictly monotone (no
 *      ties among strong matches, as a cap at 1 would make), and a plain
 *      full match scores about 0.63.
 *   3. shaping: similarity x decay(age) x confidence, where age is the
 *      time since the episode's mtime ("when"), shortened by rehearsal:
 *      age / (1 + rehearsal_weight x recall count).  Filters since/until/
 *      min_confidence apply to the posting values, before any record is
 *      read.
 *   4. selection: the best M = 4 x limit + 32 candidates (complete
 *      matches first: episodic.c) are re-ranked with their recall
 *      history, then walked in order: records are read,
 *      results the caller may not read, outside under=, or with a content
 *      hash already returned are skipped, until limit results are found
 *      (if M runs out, the walk goes on over all candidates).
 *   5. bookkeeping: each returned episode's recall count and last recall
 *      time are bumped with a merge (no read), metrics are counted.
 *
 * A cue that asks for the newest ranks by recency.c instead of step 4.
 *
 * Semantic and blended modes add step 2b (semantic.c): activation spread
 * from the cue's concepts and from the best episodic hits, blended into
 * each candidate's similarity before shaping; and step 4b: pattern
 * completion when the answer is short or weak.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "recall_i.h"

/* ---- cohorts -------------------------------------------------------- */

enum store_cohort store_cohort_of(struct store *st, const char *key,
				  size_t len)
{
	uint64_t seed = (uint64_t)store_flag_get(st, FLAG_BR_COHORT_SEED);
	double rate = store_flag_get(st, FLAG_BR_COHORT_SAMPLING_RATE);
	double u = (double)XXH64(key, len, seed) / 18446744073709551616.0;

	/* DESIGN: with blended_recall off, everyone is control. */
	if (store_flag_get(st, FLAG_BLENDED_RECALL) == 0)
		return STORE_COHORT_CONTROL;
	return u < rate ? STORE_COHORT_TREATMENT : STORE_COHORT_CONTROL;
}

static enum store_cohort recall_cohort(struct store *st,
				       const struct store_query *q,
				       const struct store_caller *c)
{
	char uid[16];

	if (q->user)
		return store_cohort_of(st, q->user, strlen(q->user));
	snprintf(uid, sizeof(uid), "%u", c ? c->uid : 0);
	return store_cohort_of(st, uid, strlen(uid));
}

static enum store_mode recall_mode(struct store *st, enum store_mode m,
				   enum store_cohort cohort)
{
	if (m != STORE_MODE_AUTO)
		return m;
	if (store_flag_get(st, FLAG_BLENDED_RECALL) != 0 &&
	    cohort == STORE_COHORT_TREATMENT)
		return STORE_MODE_BLENDED;
	return STORE_MODE_EPISODIC;
}

/* ---- candidate table -------------------------------------------------- */

int cand_init(struct cand_table *t, size_t cap)
{
	t->v = calloc(cap, sizeof(*t->v));
	t->cap = cap;
	t->n = 0;
	t->cue_cover = 0;
	return t->v ? 0 : -ENOMEM;
}

static struct cand *cand_probe(struct cand_table *t, uint64_t ino)
{
	size_t mask = t->cap - 1, i = (size_t)XXH64(&ino, 8, 0) & mask;

	while (t->v[i].ino && t->v[i].ino != ino)
		i = (i + 1) & mask;
	return &t->v[i];
}

/* Double the table when it is 3/4 full. */
static int cand_grow(struct cand_table *t)
{
	struct cand_table bigger;

	if (cand_init(&bigger, t->cap * 2))
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].ino)
			*cand_probe(&bigger, t->v[i].ino) = t->v[i];
	bigger.n = t->n;
	bigger.cue_cover = t->cue_cover;
	free(t->v);
	*t = bigger;
	return 0;
}

struct cand *cand_find(struct cand_table *t, uint64_t ino)
{
	struct cand *c = cand_probe(t, ino);

	return c->ino ? c : NULL;
}

struct cand *cand_slot(struct cand_table *t, uint64_t ino)
{
	struct cand *c;

	if (t->n + 1 > t->cap / 2 + t->cap / 4 && cand_grow(t))
		return NULL;
	c = cand_probe(t, ino);
	if (!c->ino) {
		c->ino = ino;
		t->n++;
	}
	return c;
}

/* ---- shaping ------------------------------------------------------ */

static double recall_decay(const struct recall_params *p, double age_days)
{
	double e, w;

	if (age_days < 0)
		age_days = 0;
	switch (p->decay_fn) {
	case 1:	/* exponential: halves every half_life days */
		return pow(0.5, age_days / p->half_life);
	case 2:	/* power law: (1 + t)^-a, Wickelgren-style long tail */
		return pow(1 + age_days, -p->exponent);
	case 3:	/* two components: fast hippocampal, slow neocortical */
		e = pow(0.5, age_days / p->half_life);
		w = pow(1 + age_days, -p->exponent);
		return 0.5 * e + 0.5 * w;
	default:
		return 1;
	}
}

double recall_shape(const struct recall_params *p,
			   const struct cand *c, uint64_t recalls)
{
	double age = (double)(p->now - c->when) / 86400.0;

	age /= 1 + p->rehearsal * (double)recalls;
	return c->sim * recall_decay(p, age) * c->conf;
}

static void recall_params_init(struct store *st, const struct store_query *q,
			       struct recall_params *p)
{
	uint64_t n = st->n_indexed, total = st->total_len;

	p->k1 = store_flag_get(st, FLAG_RECALL_BM25_K1);
	p->b = store_flag_get(st, FLAG_RECALL_BM25_B);
	p->n_docs = (double)n;
	p->avgdl = n ? (double)total / (double)n : 1;
	if (p->avgdl < 1)
		p->avgdl = 1;
	p->min_conf = q->min_confidence >= 0
			      ? q->min_confidence
			      : store_flag_get(st, FLAG_RECALL_MIN_CONFIDENCE);
	p->since = q->since;
	p->until = q->until;
	p->now = now_ns() / 1000000000;
	p->decay_fn = (int)store_flag_get(st, FLAG_RECALL_DECAY_FUNCTION);
	p->exponent = store_flag_get(st, FLAG_RECALL_DECAY_EXPONENT);
	p->half_life = store_flag_get(st, FLAG_RECALL_DECAY_HALF_LIFE_DAYS);
	p->rehearsal = store_flag_get(st, FLAG_RECALL_REHEARSAL_WEIGHT);
	p->recency = false;
}

/* ---- selection ------------------------------------------------------ */

int recall_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->complete != y->complete)
		return x->complete ? -1 : 1;
	if (x->final != y->final)
		return x->final < y->final ? 1 : -1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;	/* stable ties */
}

/* Sift-down in a min-heap (worst of the kept best at the top). */
static void recall_heap_down(struct cand *h, size_t m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		struct cand tmp;

		if (l < m && recall_cmp(&h[l], &h[w]) > 0)
			w = l;
		if (r < m && recall_cmp(&h[r], &h[w]) > 0)
			w = r;
		if (w == i)
			return;
		tmp = h[i];
		h[i] = h[w];
		h[w] = tmp;
		i = w;
	}
}

/* Move the best M of V[0..n) to the front, unordered: a bounded heap,
 * O(n log m), instead of sorting every candidate. */
static void recall_select(struct cand *v, size_t n, size_t m)
{
	if (m >= n)
		return;
	for (size_t i = m / 2; i-- > 0;)
		recall_heap_down(v, m, i);
	for (size_t i = m; i < n; i++) {
		if (recall_cmp(&v[i], &v[0]) < 0) {
			struct cand tmp = v[0];

			v[0] = v[i];
			v[i] = tmp;
			recall_heap_down(v, m, 0);
		}
	}
}

/*
 * The final scores of V[0..M) with their past recalls, read in one
 * MultiGet (72 point gets made a quarter of a recall's CPU at 100,000
 * episodes).  A failed read counts as no recall (BUGS in engramfs(8)).
 */
static void recall_rehearsed(struct store *st, const struct recall_params *p,
			     struct cand *v, size_t m)
{
	unsigned char (*key)[8] = malloc((m ? m : 1) * sizeof(*key));
	const char **keys = malloc((m ? m : 1) * sizeof(*keys));
	size_t *klens = malloc((m ? m : 1) * sizeof(*klens));
	size_t *vlens = calloc(m ? m : 1, sizeof(*vlens));
	char **vals = calloc(m ? m : 1, sizeof(*vals));

	if (key && keys && klens && vlens && vals) {
		for (size_t i = 0; i < m; i++) {
			be64_put(key[i], v[i].ino);
			keys[i] = (const char *)key[i];
			klens[i] = 8;
		}
		db_multi_get(st, CF_RSTAT, m, keys, klens, vals, vlens);
	}
	for (size_t i = 0; i < m; i++) {
		uint64_t count = 0;

		if (vals && vals[i] && vlens[i] == 16)
			memcpy(&count, vals[i], 8);
		v[i].final = recall_shape(p, &v[i], count);
		if (vals)
			free(vals[i]);
	}
	free(key);
	free(keys);
	free(klens);
	free(vlens);
	free(vals);
}

struct cand *recall_rank(struct store *st, struct cand_table *t,
			 const struct recall_params *p, size_t m,
			 size_t *n_out)
{
	struct cand *v = t->v;
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].ino) {
			v[n] = t->v[i];
			v[n].final = recall_shape(p, &v[n], 0);
			n++;
		}
	if (m > n)
		m = n;
	recall_select(v, n, m);
	if (p->rehearsal > 0)
		recall_rehearsed(st, p, v, m);
	qsort(v, m, sizeof(*v), recall_cmp);
	*n_out = n;
	return v;
}

/* ---- results ------------------------------------------------------- */

/* Walk R's folders: may C search them, and is UNDER among them? */
bool recall_visible(struct store *st, const struct store_caller *c,
			   const struct inode_rec *r, uint64_t under)
{
	uint64_t dir = r->a.parent;
	bool inside = under == STORE_ROOT_INO;

	if (c && c->uid != 0 && !store_may_read(st, c, r->a.ino))
		return false;
	for (int depth = 0; !inside && depth < 256; depth++) {
		struct store_attr a;

		if (dir == under)
			inside = true;
		else if (dir == STORE_ROOT_INO || store_getattr(st, dir, &a))
			break;
		else
			dir = a.parent;
	}
	return inside;
}

/* The concepts that lifted C, strongest first, with their labels. */
static int recall_contributions(struct store *st, const struct cand *c,
				struct store_result *out)
{
	size_t n = 0;

	while (n < CAND_CONTRIBS && c->contrib[n].cid)
		n++;
	if (!n)
		return 0;
	out->concepts = calloc(n, sizeof(*out->concepts));
	if (!out->concepts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (concept_label(st, c->contrib[i].cid,
				  &out->concepts[out->nconcepts].label))
			continue;	/* dissolved meanwhile */
		out->concepts[out->nconcepts++].weight = c->contrib[i].weight;
	}
	return 0;
}

int recall_result(struct store *st, const struct inode_rec *r,
			 const struct cand *c, struct store_result *out)
{
	size_t chars = (size_t)store_flag_get(st, FLAG_RECALL_SNIPPET_CHARS);
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->ino = r->a.ino;
	out->score = c->final;
	out->pathway = c->pathway;
	out->when = r->a.mtime.tv_sec;
	/* The record's confidence, not the posting's 8-bit copy, with the
	 * pathway's adjustment (convergent x1.15, completed x0.7). */
	out->confidence = r->a.confidence;
	if (c->pathway == STORE_PATHWAY_CONVERGENT)
		out->confidence = fmin(1, out->confidence * 1.15);
	else if (c->pathway == STORE_PATHWAY_COMPLETED)
		out->confidence *= 0.7;
	rc = store_path(st, r->a.ino, &out->name);
	if (!rc)
		rc = recall_contributions(st, c, out);
	if (!rc)
		rc = store_content_read(st, r->a.ino, &buf, &len);
	if (!rc)
		rc = text_snippet(buf, len, chars, &out->snippet);
	free(buf);
	return rc;
}

static void recall_result_clear(struct store_result *out)
{
	free(out->name);
	free(out->snippet);
	for (size_t j = 0; j < out->nconcepts; j++)
		free(out->concepts[j].label);
	free(out->concepts);
	memset(out, 0, sizeof(*out));
}

/*
 * Append the result of candidate C (record R) to RES: 1 when added, 0
 * when the episode was forgotten or moved between reading its record and
 * its path or content (a recall racing an rm or mv is not an error), or
 * -errno.
 */
int recall_result_add(struct store *st, const struct inode_rec *r,
		      const struct cand *c, struct store_results *res)
{
	struct store_result *out = &res->v[res->n];
	int rc = recall_result(st, r, c, out);

	if (rc) {
		recall_result_clear(out);
		return rc == -ENOENT ? 0 : rc;
	}
	res->n++;
	return 1;
}

static bool recall_seen(const struct store_results *res, const uint64_t *h,
			uint64_t hash)
{
	for (size_t i = 0; i < res->n; i++)
		if (h[i] == hash)
			return true;
	return false;
}

static int recall_collect(struct store *st, const struct cand *v, size_t n,
			  size_t limit, const struct store_caller *c,
			  uint64_t under, struct store_results *res)
{
	uint64_t *hashes = calloc(limit, sizeof(*hashes));
	int rc = 0;

	res->v = calloc(limit, sizeof(*res->v));
	if (!hashes || !res->v) {
		free(hashes);
		return -ENOMEM;
	}
	for (size_t i = 0; !rc && i < n && res->n < limit; i++) {
		struct inode_rec r;

		if (v[i].final <= 0 || inode_get(st, v[i].ino, &r))
			continue;	/* raced with a delete */
		if (!recall_seen(res, hashes, r.a.hash) &&
		    recall_visible(st, c, &r, under)) {
			rc = recall_result_add(st, &r, &v[i], res);
			if (rc > 0)
				hashes[res->n - 1] = r.a.hash;
			rc = rc > 0 ? 0 : rc;
		}
		inode_rec_release(&r);
	}
	free(hashes);
	return rc;
}

/* Queue every result for rehearsal (rehearse.c writes it). */
static void recall_rehearse(struct store *st, const struct store_results *res)
{
	uint64_t ino[64];
	size_t n = 0;

	for (size_t i = 0; i < res->n; i++) {
		ino[n++] = res->v[i].ino;
		if (n == 64 || i + 1 == res->n) {
			rehearse_note(st, ino, n);
			n = 0;
		}
	}
}

/* Folder of under= as an inode number; -ENOENT if there is none. */
static int recall_under(struct store *st, const char *under, uint64_t *out)
{
	char *copy, *save = NULL, *part;
	uint64_t ino = STORE_ROOT_INO;
	int rc = 0;

	if (!under || !*under) {
		*out = ino;
		return 0;
	}
	copy = strdup(under);
	if (!copy)
		return -ENOMEM;
	for (part = strtok_r(copy, "/", &save); part && !rc;
	     part = strtok_r(NULL, "/", &save))
		rc = dirent_get(st, ino, part, &ino);
	free(copy);
	if (!rc)
		*out = ino;
	return rc;
}

static size_t recall_limit(struct store *st, const struct store_query *q)
{
	size_t max = (size_t)store_flag_get(st, FLAG_RECALL_MAX_LIMIT);
	size_t lim = q->limit ? q->limit
			      : (size_t)store_flag_get(st,
						       FLAG_RECALL_DEFAULT_LIMIT);

	return lim > max ? max : lim ? lim : 1;
}

/* Rank the candidates and walk them into RES. */
static int recall_select_results(struct store *st, struct cand_table *t,
				 const struct text_terms *terms,
				 const struct recall_params *p, size_t limit,
				 const struct store_caller *c, uint64_t under,
				 struct store_results *res)
{
	size_t n, m = RECALL_M(limit);
	struct cand *v;
	int rc;

	if (p->recency) {
		rc = recency_rank(st, t, terms, p, limit, c, under, &v, &n);
		return rc ? rc : recall_collect(st, v, n, limit, c, under, res);
	}
	v = recall_rank(st, t, p, m, &n);
	rc = recall_collect(st, v, m < n ? m : n, limit, c, under, res);

	if (!rc && res->n < limit && m < n) {
		/* M was not enough: rank and walk everything. */
		store_results_release(res);
		qsort(v, n, sizeof(*v), recall_cmp);
		rc = recall_collect(st, v, n, limit, c, under, res);
	}
	return rc;
}

static bool recall_wants_completion(struct store *st,
				    const struct store_results *res)
{
	if (res->mode == STORE_MODE_EPISODIC ||
	    !store_flag_get(st, FLAG_BR_ENABLE_PATTERN_COMPLETION))
		return false;
	/* DESIGN: fewer than 5 results, or the best below 0.4 */
	return res->n < 5 || res->v[0].score < 0.4;
}

/*
 * Candidates, ranking, results.  The episodic scan is bounded by the
 * M = 4 x limit + 32 candidates selection looks at; when the results the
 * caller may see run out inside them, the run is repeated unbounded.
 */
static int recall_pathways(struct store *st, const struct store_query *q,
			   const struct store_caller *c,
			   const struct text_terms *terms,
			   const struct recall_params *p, size_t limit,
			   uint64_t under, struct store_results *res,
			   struct semantic_info *info)
{
	/* recency: the band is relative to the best match, which the
	 * bound (by final score) need not keep: scan unbounded */
	size_t k = p->recency ? 0 : RECALL_M(limit), fixed = 0;
	struct text_terms cued = { 0 };
	int rc = 0;

	if (res->mode != STORE_MODE_EPISODIC &&
	    store_flag_get(st, FLAG_BR_CUE_COMPLETION) != 0) {
		rc = cue_complete(st, q->cue ? q->cue : "",
				  q->cue ? strlen(q->cue) : 0, terms, p, &cued,
				  &fixed);
		if (rc)
			return rc;
		if (fixed)
			terms = &cued;
	}
	for (;;) {
		struct cand_table t = { 0 };
		bool bounded = false;

		rc = episodic_score(st, terms, p, k, &t, &bounded);
		if (!rc && res->mode != STORE_MODE_EPISODIC)
			rc = semantic_blend(st, terms, p, res->mode, &t, info);
		if (!rc)
			rc = recall_select_results(st, &t, terms, p, limit, c,
						   under, res);
		free(t.v);
		if (rc || !bounded || res->n >= limit || !k)
			break;
		store_results_release(res);	/* ran out: unbounded */
		semantic_info_release(info);
		memset(info, 0, sizeof(*info));
		k = 0;
	}
	if (!rc && recall_wants_completion(st, res))
		rc = semantic_complete(st, info, p, limit, c, under, res);
	text_terms_release(&cued);
	return rc;
}

static int recall_run(struct store *st, const struct store_query *q,
		      const struct store_caller *c, size_t limit,
		      struct store_results *res, struct semantic_info *info)
{
	struct recall_params p = { 0 };
	struct text_terms terms = { 0 };
	uint64_t under;
	int rc = recall_under(st, q->under, &under);

	if (rc)
		return rc == -ENOENT ? 0 : rc;	/* no such folder: no results */
	recall_params_init(st, q, &p);
	rc = text_analyze(q->cue ? q->cue : "", q->cue ? strlen(q->cue) : 0,
			  &terms);
	if (!rc)
		p.recency = recency_intent(&terms, q->cue ? q->cue : "",
					   q->cue ? strlen(q->cue) : 0);
	if (!rc)
		rc = recall_pathways(st, q, c, &terms, &p, limit, under, res,
				     info);
	text_terms_release(&terms);
	return rc;
}

/* Results by pathway; for blended recall also convergent and completed
 * results, timeouts and fan penalties. */
static void recall_count_pathways(struct store *st,
				  const struct store_results *res,
				  const struct semantic_info *info)
{
	uint64_t by[4] = { 0 };

	for (size_t i = 0; i < res->n; i++)
		by[res->v[i].pathway & 3]++;
	for (int p = 0; p < 4; p++)
		if (by[p])
			metrics_results(st, res->cohort, p, by[p]);
	if (res->mode != STORE_MODE_BLENDED)
		return;
	metrics_blended(st, res->cohort, res->elapsed_s,
			by[STORE_PATHWAY_CONVERGENT], by[STORE_PATHWAY_COMPLETED],
			info->timed_out, info->fan_penalties);
}

int store_recall(struct store *st, const struct store_query *q,
		 const struct store_caller *c, struct store_results *out)
{
	struct store_results res = { 0 };
	struct semantic_info info = { 0 };
	int64_t t0 = now_ns();
	int rc;

	res.cohort = recall_cohort(st, q, c);
	res.cohort_applies = q->mode == STORE_MODE_AUTO;
	res.mode = recall_mode(st, q->mode, res.cohort);
	rc = recall_run(st, q, c, recall_limit(st, q), &res, &info);
	res.elapsed_s = (double)(now_ns() - t0) / 1e9;
	metrics_recall(st, res.cohort, res.mode, res.elapsed_s, rc != 0);
	if (!rc)
		recall_count_pathways(st, &res, &info);
	semantic_info_release(&info);
	if (rc) {
		store_results_release(&res);
		return rc;
	}
	recall_rehearse(st, &res);
	*out = res;
	return 0;
}

void store_results_release(struct store_results *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].snippet);
		for (size_t j = 0; j < r->v[i].nconcepts; j++)
			free(r->v[i].concepts[j].label);
		free(r->v[i].concepts);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}
