/*
 * semantic.c - the semantic pathway, blending and pattern completion.
 *
 * Activation reaches episodes two ways (DESIGN section 2):
 *
 *   cue -> concepts -> members
 *       the cue's term vector is compared with concept centroids; the top
 *       blended_recall.max_concepts concepts with coherence >=
 *       min_concept_coherence pass  similarity x coherence x strength
 *       to each member;
 *   best episodic hits -> their concepts -> sibling episodes
 *       up with direction strength 0.8, down with 0.6, each hop decayed
 *       by e^(-0.7 d) (d = 1 for the concept, 2 for the sibling), to a
 *       depth of recall.max_depth.
 *
 * Contributions under 0.01 stop.  With fan_effect on, what a concept
 * passes to each member is divided by its fan (member count, linear or
 * sqrt), Anderson's fan effect.  The semantic score of an episode is the
 * sum of what reached it, capped at 1.
 *
 * The whole pathway runs under blended_recall.semantic_timeout_ms: past
 * the deadline every semantic contribution is dropped and recall answers
 * from the episodic pathway alone (and a timeout is counted).
 *
 * Blending: sim = episodic + w_s x semantic x (1 - episodic), with the
 * weights from the base flags, normalised (see sem_set_sim for why this
 * and not the linear blend); with adaptive_weighting, strong episodic evidence
 * (mean of the best ten episodic hits' similarity x confidence > 0.8)
 * raises w_e x1.2, weak (< 0.3) raises w_s x1.3, and low mean coherence
 * of the activated concepts (< 0.6) favours episodic (w_e x1.5, w_s
 * x0.5); and semantic evidence re-ranks episodic hits only as far as the
 * cue is unexplained (sem_rerank).  No semantic answer means episodic
 * only.  An episode found by
 * both pathways is convergent and its confidence is raised x1.15 (capped
 * at 1).
 *
 * Pattern completion appends, when an answer is short or weak, the
 * strongly bound members (strength >= 0.5) of the activated concepts that
 * no pathway returned, at confidence x0.7, pathway "completed".
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recall_i.h"

#define SEM_CUTOFF 0.01		/* contributions below this stop */
#define SEM_UP 0.8		/* episode -> concept direction strength */
#define SEM_DOWN 0.6		/* concept -> episode direction strength */
#define SEM_HOP_DECAY 0.7	/* e^(-0.7 d) per hop */
#define SEM_SEEDS 10		/* episodic hits that spread activation */
#define SEM_MAX_CANDS 4096	/* semantic-only candidates, a memory bound */
#define SEM_CONVERGENT 1.15	/* confidence boost of convergent results */
#define SEM_COMPLETED 0.7	/* confidence factor of completed results */
#define SEM_STRONG 0.5		/* binding strength that completion uses */
#define SEM_UNEXPLAINED 0.25	/* share of the cue no episode holds above
				 * which the semantic weight is whole */

struct sem_params {
	size_t max_concepts;
	double min_coh;
	bool fan;
	bool fan_sqrt;
	int max_depth;
	int64_t deadline_ns;
};

static void sem_params_init(struct store *st, struct sem_params *sp)
{
	double timeout_ms = store_flag_get(st, FLAG_BR_SEMANTIC_TIMEOUT_MS);

	sp->max_concepts = (size_t)store_flag_get(st, FLAG_BR_MAX_CONCEPTS);
	sp->min_coh = store_flag_get(st, FLAG_BR_MIN_CONCEPT_COHERENCE);
	sp->fan = store_flag_get(st, FLAG_FAN_EFFECT) != 0;
	sp->fan_sqrt = store_flag_get(st, FLAG_FAN_DIVISOR) != 0;
	sp->max_depth = (int)store_flag_get(st, FLAG_RECALL_MAX_DEPTH);
	sp->deadline_ns = now_ns() + (int64_t)(timeout_ms * 1e6);
}

static bool sem_late(const struct sem_params *sp, struct semantic_info *info)
{
	if (now_ns() <= sp->deadline_ns)
		return false;
	info->timed_out = true;
	return true;
}

static double sem_fan(const struct sem_params *sp, uint32_t members,
		      struct semantic_info *info)
{
	if (!sp->fan || members <= 1)
		return 1;
	info->fan_penalties++;
	return sp->fan_sqrt ? sqrt((double)members) : (double)members;
}

/* Add W from concept CID to C, keeping its strongest contributors. */
static void sem_add(struct cand *c, uint64_t cid, double w)
{
	size_t i, k = CAND_CONTRIBS - 1;

	c->sem += w;
	for (i = 0; i < CAND_CONTRIBS && c->contrib[i].cid; i++)
		if (c->contrib[i].cid == cid) {
			w += c->contrib[i].weight;
			k = i;
			break;
		}
	if (i == CAND_CONTRIBS && w <= c->contrib[k].weight)
		return;
	if (i < CAND_CONTRIBS && !c->contrib[i].cid)
		k = i;
	c->contrib[k].cid = cid;
	c->contrib[k].weight = (float)w;
	while (k > 0 && c->contrib[k].weight > c->contrib[k - 1].weight) {
		struct cand_contrib tmp = c->contrib[k];

		c->contrib[k] = c->contrib[k - 1];
		c->contrib[--k] = tmp;
	}
}

/* Pass activation A of concept CID down to its members (scaled). */
static int sem_to_members(struct store *st, uint64_t cid, double a,
			  uint32_t fan, uint64_t skip,
			  const struct sem_params *sp, struct cand_table *t,
			  struct semantic_info *info)
{
	struct binding *m;
	size_t n;
	double div = sem_fan(sp, fan, info);
	int rc = concept_members(st, cid, &m, &n);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	for (size_t i = 0; !rc && i < n; i++) {
		double w = a * m[i].strength / div;
		struct cand *c;

		if (w < SEM_CUTOFF || m[i].id == skip)
			continue;
		if (t->n >= SEM_MAX_CANDS * 4)
			break;
		c = cand_slot(t, m[i].id);
		if (!c)
			rc = -ENOMEM;
		else
			sem_add(c, cid, w);
	}
	free(m);
	return rc;
}

/* Remember an activated concept once (for blending and completion). */
static int sem_note(struct semantic_info *info, const struct concept_hit *h)
{
	struct concept_hit *v;

	for (size_t i = 0; i < info->n; i++)
		if (info->concepts[i].id == h->id)
			return 0;
	v = realloc(info->concepts, (info->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	info->concepts = v;
	info->concepts[info->n++] = *h;
	return 0;
}

/* cue -> concepts -> members */
static int sem_from_cue(struct store *st, const struct text_terms *cue,
			const struct sem_params *sp, struct cand_table *t,
			struct semantic_info *info)
{
	struct concept_hit *h;
	size_t n;
	int rc = concept_match(st, cue, sp->max_concepts, sp->min_coh, &h,
			       &n);

	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n && !sem_late(sp, info); i++) {
		rc = sem_note(info, &h[i]);
		if (!rc)
			rc = sem_to_members(st, h[i].id,
					    h[i].similarity * h[i].coherence,
					    h[i].members, 0, sp, t, info);
	}
	free(h);
	return rc;
}

/* The best SEM_SEEDS episodic hits, by episodic similarity. */
static size_t sem_seeds(const struct cand_table *t, struct cand *seeds)
{
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++) {
		const struct cand *c = &t->v[i];
		size_t k;

		if (!c->ino || c->sim_e <= 0)
			continue;
		if (n < SEM_SEEDS)
			n++;
		else if (c->sim_e <= seeds[n - 1].sim_e)
			continue;
		for (k = n - 1; k > 0 && seeds[k - 1].sim_e < c->sim_e; k--)
			seeds[k] = seeds[k - 1];
		seeds[k] = *c;
	}
	return n;
}

/* One seed: up to its concepts, and (depth 2) down to its siblings. */
static int sem_spread_one(struct store *st, const struct cand *seed,
			  const struct sem_params *sp, struct cand_table *t,
			  struct semantic_info *info)
{
	struct binding *b;
	size_t n;
	int rc = episode_bindings(st, seed->ino, &b, &n);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	for (size_t i = 0; !rc && i < n; i++) {
		double up = seed->sim_e * SEM_UP * b[i].strength *
			    exp(-SEM_HOP_DECAY * 1);
		struct concept_hit h;

		if (up < SEM_CUTOFF || concept_info(st, b[i].id, &h) ||
		    h.coherence < sp->min_coh)
			continue;
		h.similarity = up;
		rc = sem_note(info, &h);
		if (!rc && sp->max_depth >= 2)
			rc = sem_to_members(st, h.id,
					    up * SEM_DOWN *
						    exp(-SEM_HOP_DECAY * 2),
					    h.members, seed->ino, sp, t, info);
	}
	free(b);
	return rc;
}

static int sem_spread(struct store *st, const struct sem_params *sp,
		      struct cand_table *t, struct semantic_info *info)
{
	struct cand seeds[SEM_SEEDS];
	size_t n = sem_seeds(t, seeds);
	int rc = 0;

	if (sp->max_depth < 1)
		return 0;
	for (size_t i = 0; !rc && i < n && !sem_late(sp, info); i++)
		rc = sem_spread_one(st, &seeds[i], sp, t, info);
	return rc;
}

/* Semantic-only candidates: time and confidence from their records,
 * and the recall filters applied; those that fail get no activation. */
static void sem_fill_meta(struct store *st, const struct recall_params *p,
			  struct cand_table *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		struct cand *c = &t->v[i];
		struct store_attr a;

		if (!c->ino || c->have_meta)
			continue;
		if (c->sem < SEM_CUTOFF || store_getattr(st, c->ino, &a) ||
		    a.mtime.tv_sec < p->since || a.mtime.tv_sec > p->until ||
		    a.confidence + 1e-9 < p->min_conf) {
			c->sem = 0;
			continue;
		}
		c->when = a.mtime.tv_sec;
		c->conf = a.confidence;
		c->have_meta = true;
	}
}

/* Drop every semantic contribution (timeout): episodic only. */
static void sem_forget(struct cand_table *t, struct semantic_info *info)
{
	for (size_t i = 0; i < t->cap; i++) {
		t->v[i].sem = 0;
		memset(t->v[i].contrib, 0, sizeof(t->v[i].contrib));
	}
	info->answered = false;
}

static double sem_mean_episodic(const struct cand_table *t)
{
	struct cand seeds[SEM_SEEDS];
	size_t n = sem_seeds(t, seeds);
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += seeds[i].sim_e * seeds[i].conf;
	return n ? sum / (double)n : 0;
}

/* The share of the cue's content words (by idf) that the episode
 * holding most of them holds: 1 for a cue one memory holds in full. */
static double sem_explained(const struct cand_table *t)
{
	double best = 0;

	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].ino && t->v[i].cover > best)
			best = t->v[i].cover;
	return t->cue_cover > 0 ? best / t->cue_cover : 0;
}

static void sem_weights(struct store *st, const struct cand_table *t,
			const struct semantic_info *info, double *we,
			double *ws)
{
	double e = store_flag_get(st, FLAG_BR_BASE_EPISODIC_WEIGHT);
	double s = store_flag_get(st, FLAG_BR_BASE_SEMANTIC_WEIGHT);

	if (store_flag_get(st, FLAG_BR_ADAPTIVE_WEIGHTING) != 0) {
		double ev = sem_mean_episodic(t), coh = 0;

		if (ev > 0.8)
			e *= 1.2;
		else if (ev < 0.3)
			s *= 1.3;
		for (size_t i = 0; i < info->n; i++)
			coh += info->concepts[i].coherence / (double)info->n;
		if (info->n && coh < 0.6) {
			e *= 1.5;
			s *= 0.5;
		}
	}
	if (!info->answered)
		s = 0;
	if (e + s <= 0) {
		e = 1;	/* both weights 0 at runtime: episodic only */
		s = 0;
	}
	*we = e / (e + s);
	*ws = s / (e + s);
}

/*
 * How far semantic evidence may re-rank the episodic hits, 0..1.  A cue
 * that one episode holds in full (an exact cue) has nothing left for
 * pattern completion to fill in: its episodic ranking stands, and the
 * semantic side only adds episodes after it.  The more of the cue no
 * episode holds (dropped or mistyped words), the more it may re-rank:
 * fully from SEM_UNEXPLAINED on.  Measured on fortunes (tests/eval):
 * top-10 overlap with episodic on exact cues 0.72 -> 1.0.  Only with
 * adaptive_weighting; without it, always 1.
 */
static double sem_rerank(struct store *st, const struct cand_table *t)
{
	if (store_flag_get(st, FLAG_BR_ADAPTIVE_WEIGHTING) == 0)
		return 1;
	return fmin(1, (1 - sem_explained(t)) / SEM_UNEXPLAINED);
}

static void sem_set_sim(struct cand *c, enum store_mode mode, double ws,
			double rerank)
{
	double s = c->sem > 1 ? 1 : c->sem;

	if (mode == STORE_MODE_SEMANTIC) {
		c->sim = s;
		c->pathway = STORE_PATHWAY_SEMANTIC;
		return;
	}
	/* Episodic evidence is kept whole and semantic evidence adds to it
	 * as a weighted probabilistic or: sim_e + ws x s x (1 - sim_e).
	 * The linear we x sim_e + ws x s of DESIGN scaled every
	 * episodic-only hit by we, so members of a concept outranked the
	 * exact match of a cue (top-10 overlap with episodic on exact cues
	 * fell to 0.62 in tests/eval).  WE still sets how much the two
	 * pathways trust each other through WS = 1 - WE.  RERANK scales
	 * what semantic evidence does to an episodic hit's rank (its
	 * similarity and the convergent confidence boost): the label and
	 * the confidence shown stay. */
	double w = c->sim_e > 0 ? ws * rerank : ws;

	c->sim = c->sim_e + w * s * (1 - c->sim_e);
	if (c->sim_e > 0 && s > 0 && ws > 0) {
		c->pathway = STORE_PATHWAY_CONVERGENT;
		c->conf = fmin(1, c->conf * (1 + (SEM_CONVERGENT - 1) * rerank));
	} else {
		c->pathway = c->sim_e > 0 ? STORE_PATHWAY_EPISODIC
					  : STORE_PATHWAY_SEMANTIC;
	}
}

int semantic_blend(struct store *st, const struct text_terms *cue,
		   const struct recall_params *p, enum store_mode mode,
		   struct cand_table *t, struct semantic_info *info)
{
	struct sem_params sp;
	double we, ws, rerank;
	int rc;

	sem_params_init(st, &sp);
	rc = sem_from_cue(st, cue, &sp, t, info);
	if (!rc && !info->timed_out)
		rc = sem_spread(st, &sp, t, info);
	if (rc)
		return rc;
	sem_fill_meta(st, p, t);
	for (size_t i = 0; i < t->cap && !info->answered; i++)
		info->answered = t->v[i].ino && t->v[i].sem >= SEM_CUTOFF;
	if (info->timed_out)
		sem_forget(t, info);
	sem_weights(st, t, info, &we, &ws);
	rerank = sem_rerank(st, t);
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].ino)
			sem_set_sim(&t->v[i], mode, ws, rerank);
	return 0;
}

/* ---- pattern completion -------------------------------------------- */

static bool sem_in_results(const struct store_results *res, uint64_t ino)
{
	for (size_t i = 0; i < res->n; i++)
		if (res->v[i].ino == ino)
			return true;
	return false;
}

/* One completed result from member M of concept H, if it may be shown. */
static int sem_complete_one(struct store *st, const struct concept_hit *h,
			    const struct binding *m,
			    const struct recall_params *p,
			    const struct store_caller *c, uint64_t under,
			    struct store_results *res)
{
	struct inode_rec r;
	struct cand tmp = { 0 };
	int rc;

	if (m->strength < SEM_STRONG || sem_in_results(res, m->id) ||
	    inode_get(st, m->id, &r))
		return 0;
	rc = 0;
	if (r.a.mtime.tv_sec >= p->since && r.a.mtime.tv_sec <= p->until &&
	    recall_visible(st, c, &r, under)) {
		tmp.ino = m->id;
		tmp.sim = fmin(1, h->similarity * h->coherence) * m->strength;
		tmp.when = r.a.mtime.tv_sec;
		tmp.conf = r.a.confidence * SEM_COMPLETED;
		tmp.final = recall_shape(p, &tmp, 0);
		tmp.pathway = STORE_PATHWAY_COMPLETED;
		tmp.contrib[0].cid = h->id;
		tmp.contrib[0].weight = (float)tmp.sim;
		if (tmp.conf + 1e-9 >= p->min_conf && tmp.final > 0)
			rc = recall_result_add(st, &r, &tmp, res);
	}
	inode_rec_release(&r);
	return rc < 0 ? rc : 0;
}

int semantic_complete(struct store *st, const struct semantic_info *info,
		      const struct recall_params *p, size_t limit,
		      const struct store_caller *c, uint64_t under,
		      struct store_results *res)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < info->n && res->n < limit; i++) {
		struct binding *m;
		size_t n;

		if (concept_members(st, info->concepts[i].id, &m, &n))
			continue;	/* dissolved meanwhile */
		for (size_t j = 0; !rc && j < n && res->n < limit; j++)
			rc = sem_complete_one(st, &info->concepts[i], &m[j], p,
					      c, under, res);
		free(m);
	}
	return rc;
}

void semantic_info_release(struct semantic_info *info)
{
	free(info->concepts);
	memset(info, 0, sizeof(*info));
}
