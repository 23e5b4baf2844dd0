/*
 * recall_i.h - what the two pathways of recall share: the candidate
 * table (recall.c) and the semantic side (semantic.c).
 */
#ifndef ENGRAM_RECALL_I_H
#define ENGRAM_RECALL_I_H

#include "store_i.h"

#define CAND_CONTRIBS 3	/* concepts kept per result for JSON output */

struct cand {
	uint64_t ino;
	double bm25;		/* raw BM25 sum */
	double sim_e;		/* episodic similarity 0..1 */
	double sem;		/* semantic activation (sum of contributions) */
	double sim;		/* the mode's similarity, what shaping uses */
	double final;		/* what results are ranked by */
	int64_t when;
	double conf;
	bool have_meta;		/* when and conf known */
	uint8_t pathway;	/* enum store_pathway */
	uint8_t stops;		/* distinct cue stop words matched (to 255) */
	bool content;		/* a content word of the cue matched */
	double cover;		/* idf sum of the content words matched */
	uint64_t words;		/* which content words: bit i = cue term i */
	bool complete;		/* holds every stored content word of the
				 * cue: ranks before any that does not */
	struct cand_contrib {
		uint64_t cid;
		float weight;
	} contrib[CAND_CONTRIBS];	/* strongest contributing concepts */
};

struct cand_table {
	struct cand *v;		/* open addressing, ino 0 = empty */
	size_t cap, n;
	double cue_cover;	/* idf sum of the cue's content words: a
				 * candidate's cover over it is how much of
				 * the cue it explains (episodic.c) */
};

struct recall_params {
	double k1, b, avgdl, n_docs;
	double min_conf;
	int64_t since, until, now;
	int decay_fn;
	double exponent, half_life, rehearsal;
	bool recency;		/* the cue asks for the newest (recency.c) */
};

int cand_init(struct cand_table *t, size_t cap);
/* The candidate for INO, made if new (NULL: out of memory). */
struct cand *cand_slot(struct cand_table *t, uint64_t ino);
/* The candidate for INO if there is one. */
struct cand *cand_find(struct cand_table *t, uint64_t ino);

/*
 * Cue completion (cue.c): OUT = IN (the analysed CUE, LEN bytes) with
 * each content word no episode holds replaced by a stored word one edit
 * away from it as written (see cue.c for which); *FIXED counts the
 * replacements.  Release OUT with text_terms_release.
 */
int cue_complete(struct store *st, const char *cue, size_t len,
		 const struct text_terms *in, const struct recall_params *p,
		 struct text_terms *out, size_t *fixed);

/* Candidates ranking looks at for LIMIT results (recall.c, step 4). */
#define RECALL_M(limit) (4 * (limit) + 32)

/*
 * The episodic pathway (episodic.c): score into T (initialised here)
 * every episode that can reach the best K by BM25 of TERMS; K = 0 scores
 * every episode sharing a term.  *BOUNDED: some episodes were left out
 * or scored in part because they could not reach the best K.
 */
int episodic_score(struct store *st, const struct text_terms *terms,
		   const struct recall_params *p, size_t k,
		   struct cand_table *t, bool *bounded);

/* What the semantic pathway found, for blending and completion. */
struct semantic_info {
	struct concept_hit *concepts;	/* activated concepts, best first */
	size_t n;
	bool answered;		/* the semantic side contributed anything */
	bool timed_out;		/* over semantic_timeout_ms: episodic only */
	uint64_t fan_penalties;	/* contributions divided by a fan */
};

/*
 * Semantic and blended modes: spread activation from the cue's concepts
 * and from the best episodic hits into T, then set every candidate's sim
 * (and pathway, convergent confidence) for MODE.  Candidates the semantic
 * side adds get their time and confidence from their records.
 */
int semantic_blend(struct store *st, const struct text_terms *cue,
		   const struct recall_params *p, enum store_mode mode,
		   struct cand_table *t, struct semantic_info *info);
/* Pattern completion: fill RES (up to LIMIT) with strongly bound members
 * of the activated concepts that no pathway returned. */
int semantic_complete(struct store *st, const struct semantic_info *info,
		      const struct recall_params *p, size_t limit,
		      const struct store_caller *c, uint64_t under,
		      struct store_results *res);
void semantic_info_release(struct semantic_info *info);

/*
 * Recency intent (recency.c).  recency_intent takes the words that ask
 * for the newest ("recently", and then "changed", "news"...) out of T,
 * the analysed CUE (LEN bytes);
 * true when there were any and other words are left.  recency_rank
 * ranks T for such a cue into *V (malloc'd, best first, *N of them).
 */
bool recency_intent(struct text_terms *t, const char *cue, size_t len);
int recency_rank(struct store *st, struct cand_table *t,
		 const struct text_terms *cue, const struct recall_params *p,
		 size_t limit, const struct store_caller *c, uint64_t under,
		 struct cand **v, size_t *n);

/* recall.c helpers semantic.c and recency.c use */
int recall_cmp(const void *a, const void *b);	/* by final, best first */
/* Compact T in place (T->v) into a dense array of its *N_OUT candidates,
 * shaped and ranked best first over the first M. */
struct cand *recall_rank(struct store *st, struct cand_table *t,
			 const struct recall_params *p, size_t m,
			 size_t *n_out);
double recall_shape(const struct recall_params *p, const struct cand *c,
		    uint64_t recalls);
bool recall_visible(struct store *st, const struct store_caller *c,
		    const struct inode_rec *r, uint64_t under);
int recall_result(struct store *st, const struct inode_rec *r,
		  const struct cand *c, struct store_result *out);
int recall_result_add(struct store *st, const struct inode_rec *r,
		      const struct cand *c, struct store_results *res);

#endif
