/*
 * cue.c - cue completion for blended recall: a degraded cue is completed
 * from what memory holds before it is matched.
 *
 * A content word of the cue that no episode contains (a typo: "mising",
 * "recieve", "teh") is replaced by a stored word one edit away from it as
 * written (Damerau-Levenshtein 1: a letter dropped, added, replaced, or
 * two neighbours swapped), each variant analysed as the index is.  Which
 * one, when several are stored, in this order:
 *   1. a stop word: short typos of "will", "only", "your" are common, and
 *      a stop word only counts where the cue is made of them; completing
 *      "wll" to "wall" instead makes every wall a complete match;
 *   2. the one the cue's context holds most: the CUE_CONTEXT best
 *      matches of the cue's other words (the episodic pathway on them),
 *      each weighted 1 / (1 + its rank).  "banx loan" is "bank loan" even
 *      where bands are more common than banks, and in "might be drqnk"
 *      the best matches of "might be" say "drunk" more than "drink";
 *   3. the one the most episodes hold, as Norvig's corrector does with a
 *      corpus; past CUE_COUNT_MAX holders the count is estimated, so
 *      "beter" is "better" and not "beer".
 * Edits are made on the word as written, not its stem ("faimly" is one
 * swap from "family", but their stems "faim" and "famili" are further
 * apart).  A variant whose stem is a stop word ("alled" -> "all") is no
 * candidate: it would match every "all".  Known words, stop words,
 * numbers, words under 3 letters and words with non-ASCII letters are left
 * as they are; so is a word with no stored neighbour.
 *
 * Only blended (and semantic) recall completes cues, with the flag
 * blended_recall.cue_completion: the episodic pathway stays a literal
 * match, comparable with any BM25 engine.  Measured by make eval on
 * partial cues (a quarter of the words mistyped): README, "Recall
 * quality".
 *
 * Cost: about 54 x length variants per unknown word, each analysed
 * (~2 us) and looked up (one prefix seek) once, one bounded episodic run
 * for the context, and one seek per stored variant and context episode
 * (at most CUE_VARIANTS x CUE_CONTEXT); a cue without an unknown word
 * costs one seek per content word.  Rejected: a trigram or BK-tree of
 * the vocabulary (a second index to maintain on every commit, for a
 * cue-time saving of a few hundred microseconds).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "recall_i.h"

#define CUE_EDIT_MAX	24	/* longer words are not completed */
#define CUE_COUNT_MAX	64	/* postings counted to compare candidates */
#define CUE_VARIANTS	32	/* stored variants of one word weighed */
#define CUE_CONTEXT	32	/* best matches of the cue's other words */

/* The episodes holding TERM, up to MAX, read with IT (an iterator of
 * the postings, one for all the lookups of a word: making one per
 * variant cost more than the seek): how many in *N and their inode
 * numbers in INOS, sorted. */
static int cue_postings(struct store *st, rocksdb_iterator_t *it,
			const char *term, size_t max, uint64_t *inos,
			size_t *n)
{
	size_t tl = strlen(term), klen;
	char key[INDEX_TERM_MAX + 1];

	*n = 0;
	if (tl > INDEX_TERM_MAX)
		return 0;
	memcpy(key, term, tl);
	key[tl] = '\0';
	for (rocksdb_iter_seek(it, key, tl + 1);
	     *n < max && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);

		if (klen != tl + 9 || memcmp(k, key, tl + 1))
			break;
		inos[(*n)++] = be64_get((const unsigned char *)k + tl + 1);
	}
	return db_iter_status(st, it, "cue completion");
}

static rocksdb_iterator_t *cue_iter(struct store *st)
{
	return rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_POSTINGS]);
}

/* How many episodes hold TERM: counted up to CUE_COUNT_MAX, past that
 * estimated from how densely the first ones lie in inode order (inodes
 * are handed out in order, so a word in every other episode has its
 * first 64 within ~128 inodes).  The estimate only has to order common
 * words: "beter" is "better" more often than "beer". */
static int cue_count(struct store *st, rocksdb_iterator_t *it,
		     const char *term, size_t *out)
{
	uint64_t inos[CUE_COUNT_MAX];
	double est, all = (double)st->n_indexed;
	int rc = cue_postings(st, it, term, CUE_COUNT_MAX, inos, out);

	if (rc || *out < CUE_COUNT_MAX || inos[*out - 1] <= inos[0])
		return rc;
	est = (double)(*out - 1) * all / (double)(inos[*out - 1] - inos[0]);
	if (est > all)
		est = all;
	if (est > (double)*out)
		*out = (size_t)est;
	return 0;
}

static int cue_term_cmp(const void *a, const void *b)
{
	return strcmp(((const struct text_term *)a)->term,
		      ((const struct text_term *)b)->term);
}

/* The stored variants of one cue word, and what the choice weighs. */
struct cue_variant {
	char term[INDEX_TERM_MAX + 1];
	size_t count;		/* episodes holding it (cue_count) */
	double together;	/* context episodes holding it, by rank */
	bool stop;		/* a stop word ("wll" -> "will") */
};

struct cue_best {
	struct cue_variant v[CUE_VARIANTS];
	size_t n;
	rocksdb_iterator_t *it;	/* the postings, for every lookup */
};

/* Analyse the variant W; keep its one term if it is stored. */
static int cue_try(struct store *st, const char *w, size_t n,
		   struct cue_best *best)
{
	struct text_terms t;
	size_t count = 0;
	bool had = false;
	int rc = text_analyze(w, n, &t);

	if (rc)
		return rc;
	for (size_t i = 0; t.n == 1 && !had && i < best->n; i++)
		had = !strcmp(best->v[i].term, t.v[0].term);
	/* a stem that is also a stop word ("alled" -> "all") is neither */
	if (t.n == 1 && !had && best->n < CUE_VARIANTS &&
	    strlen(t.v[0].term) <= INDEX_TERM_MAX &&
	    (t.v[0].stop || !text_stop_word(t.v[0].term))) {
		rc = cue_count(st, best->it, t.v[0].term, &count);
		if (!rc && count) {
			strcpy(best->v[best->n].term, t.v[0].term);
			best->v[best->n].stop = t.v[0].stop;
			best->v[best->n++].count = count;
		}
	}
	text_terms_release(&t);
	return rc;
}

/* An episode of the context: a best match of the cue's other words. */
struct cue_ctx {
	uint64_t ino;
	double weight;		/* 1 / (1 + its rank) */
};

/* The weight of the episodes of CTX (N, sorted by inode) that hold
 * TERM. */
static int cue_together(struct store *st, rocksdb_iterator_t *it,
			const char *term, const struct cue_ctx *ctx, size_t n,
			double *out)
{
	unsigned char key[INDEX_TERM_MAX + 9];
	size_t klen;

	*out = 0;
	if (strlen(term) > INDEX_TERM_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t kl = index_posting_key(key, term, ctx[i].ino);
		const char *k;

		rocksdb_iter_seek(it, (const char *)key, kl);
		if (!rocksdb_iter_valid(it))
			break;
		k = rocksdb_iter_key(it, &klen);
		if (klen == kl && !memcmp(k, key, kl))
			*out += ctx[i].weight;
	}
	return db_iter_status(st, it, "cue completion");
}

/* The variant to complete to: a stop word, then the one the context
 * holds most, then the most frequent, then the first by strcmp. */
static const struct cue_variant *cue_choose(const struct cue_best *best)
{
	const struct cue_variant *w = NULL;

	for (size_t i = 0; i < best->n; i++) {
		const struct cue_variant *v = &best->v[i];

		if (!w || (v->stop && !w->stop) ||
		    (v->stop == w->stop && v->together > w->together) ||
		    (v->stop == w->stop && v->together == w->together &&
		     (v->count > w->count ||
		      (v->count == w->count && strcmp(v->term, w->term) < 0))))
			w = v;
	}
	return w;
}

/* Every variant of W (N bytes) one edit away. */
static int cue_edits(struct store *st, const char *w, size_t n,
		     struct cue_best *best)
{
	char v[CUE_EDIT_MAX + 2];
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++) {		/* drop */
		memcpy(v, w, i);
		memcpy(v + i, w + i + 1, n - i - 1);
		rc = cue_try(st, v, n - 1, best);
	}
	for (size_t i = 0; !rc && i + 1 < n; i++) {	/* swap */
		memcpy(v, w, n);
		v[i] = w[i + 1];
		v[i + 1] = w[i];
		rc = v[i] == w[i] ? 0 : cue_try(st, v, n, best);
	}
	for (size_t i = 0; !rc && i < n; i++)		/* replace */
		for (char c = 'a'; !rc && c <= 'z'; c++) {
			if (c == w[i])
				continue;
			memcpy(v, w, n);
			v[i] = c;
			rc = cue_try(st, v, n, best);
		}
	for (size_t i = 0; !rc && i <= n; i++)		/* add */
		for (char c = 'a'; !rc && c <= 'z'; c++) {
			memcpy(v, w, i);
			v[i] = c;
			memcpy(v + i + 1, w + i, n - i);
			rc = cue_try(st, v, n + 1, best);
		}
	return rc;
}

static bool cue_completable(const struct text_term *t)
{
	size_t n = strlen(t->term);

	if (t->stop || n < 3 || n > CUE_EDIT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t->term[i] < 'a' || t->term[i] > 'z')
			return false;
	return true;
}

/* OUT = IN with the terms of FIX replaced (one allocation, sorted,
 * duplicates merged), as text_analyze would have made it. */
static int cue_rebuild(const struct text_terms *in,
		       const struct cue_variant *fix, struct text_terms *out)
{
	size_t bytes = 0, n = 0;
	struct text_term *v;
	char *p;

	for (size_t i = 0; i < in->n; i++)
		bytes += strlen(fix[i].term[0] ? fix[i].term : in->v[i].term) + 1;
	v = malloc((in->n ? in->n : 1) * sizeof(*v) + bytes);
	if (!v)
		return -ENOMEM;
	p = (char *)(v + (in->n ? in->n : 1));
	for (size_t i = 0; i < in->n; i++) {
		const char *s = fix[i].term[0] ? fix[i].term : in->v[i].term;
		size_t j;

		for (j = 0; j < n && strcmp(v[j].term, s); j++)
			;
		if (j < n) {	/* the fix is a word the cue has too */
			v[j].tf += in->v[i].tf;
			continue;
		}
		strcpy(p, s);
		v[n] = in->v[i];
		v[n].stop = fix[i].term[0] ? fix[i].stop : in->v[i].stop;
		v[n++].term = p;
		p += strlen(s) + 1;
	}
	qsort(v, n, sizeof(*v), cue_term_cmp);
	out->v = v;
	out->n = n;
	out->length = in->length;
	for (size_t i = 0; i < in->n; i++)	/* stop words do not count */
		if (fix[i].term[0] && fix[i].stop && out->length >= in->v[i].tf)
			out->length -= in->v[i].tf;
	return 0;
}

/* Complete the word W of a cue whose context is CTX (N episodes): FIX
 * gets the chosen variant, or stays empty. */
static int cue_fix(struct store *st, const char *w, const struct cue_ctx *ctx,
		   size_t n, struct cue_variant *fix)
{
	struct cue_best *best = calloc(1, sizeof(*best));
	const struct cue_variant *v;
	int rc;

	if (!best || !(best->it = cue_iter(st))) {
		free(best);
		return -ENOMEM;
	}
	rc = cue_edits(st, w, strlen(w), best);
	for (size_t i = 0; !rc && n && i < best->n; i++)
		rc = cue_together(st, best->it, best->v[i].term, ctx, n,
				  &best->v[i].together);
	v = rc ? NULL : cue_choose(best);
	if (v)
		*fix = *v;
	rocksdb_iter_destroy(best->it);
	free(best);
	return rc;
}

/* Which content words of IN the store holds (HELD), and how many need
 * completing.  One posting each: this runs on every blended recall. */
static int cue_survey(struct store *st, const struct text_terms *in,
		      bool *held, size_t *todo)
{
	rocksdb_iterator_t *it = cue_iter(st);
	int rc = it ? 0 : -ENOMEM;

	*todo = 0;
	for (size_t i = 0; !rc && i < in->n; i++) {
		uint64_t ino;
		size_t n;

		if (in->v[i].stop)
			continue;
		rc = cue_postings(st, it, in->v[i].term, 1, &ino, &n);
		held[i] = n > 0;
		*todo += !rc && !held[i] && cue_completable(&in->v[i]);
	}
	if (it)
		rocksdb_iter_destroy(it);
	return rc;
}

static int cue_ino_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct cue_ctx *)a)->ino;
	uint64_t y = ((const struct cue_ctx *)b)->ino;

	return x < y ? -1 : x > y;
}

/* The context: the CUE_CONTEXT episodes that episodic recall ranks
 * first for the cue's stored words (stop words, and the content words
 * HELD); in CTX, sorted by inode, *N of them. */
static int cue_context(struct store *st, const struct text_terms *in,
		       const bool *held, const struct recall_params *p,
		       struct cue_ctx *ctx, size_t *n)
{
	struct text_terms known = { .length = in->length };
	struct cand_table t = { 0 };
	const struct cand *v;
	bool bounded;
	size_t m;
	int rc;

	*n = 0;
	known.v = malloc((in->n ? in->n : 1) * sizeof(*known.v));
	if (!known.v)
		return -ENOMEM;
	for (size_t i = 0; i < in->n; i++)
		if (held[i] || in->v[i].stop)
			known.v[known.n++] = in->v[i];
	rc = known.n ? episodic_score(st, &known, p, CUE_CONTEXT, &t, &bounded)
		     : 0;
	free(known.v);
	if (rc || !t.n) {
		free(t.v);
		return rc;
	}
	v = recall_rank(st, &t, p, CUE_CONTEXT, &m);	/* in t.v */
	for (; *n < m && *n < CUE_CONTEXT; ++*n)
		ctx[*n] = (struct cue_ctx){ .ino = v[*n].ino,
					    .weight = 1.0 / (1.0 + (double)*n) };
	qsort(ctx, *n, sizeof(*ctx), cue_ino_cmp);
	free(t.v);
	return 0;
}

/* Which term of IN the written word W makes: *AT, or IN->n if none. */
static int cue_term_of(const struct text_terms *in, const char *w,
		       size_t *at)
{
	struct text_terms t;
	int rc = text_analyze(w, strlen(w), &t);

	*at = in->n;
	if (!rc && t.n == 1) {
		struct text_term key = { .term = t.v[0].term };
		const struct text_term *hit = bsearch(&key, in->v, in->n,
						      sizeof(*in->v),
						      cue_term_cmp);

		if (hit)
			*at = (size_t)(hit - in->v);
	}
	text_terms_release(&t);
	return rc;
}

int cue_complete(struct store *st, const char *cue, size_t len,
		 const struct text_terms *in, const struct recall_params *p,
		 struct text_terms *out, size_t *fixed)
{
	size_t m = in->n ? in->n : 1;
	struct cue_variant *fix = calloc(m, sizeof(*fix));
	bool *held = calloc(m, sizeof(*held));
	struct cue_ctx ctx[CUE_CONTEXT];
	struct text_terms words = { 0 };
	size_t todo = 0, n = 0;
	int rc = fix && held ? cue_survey(st, in, held, &todo) : -ENOMEM;

	*fixed = 0;
	/* the context only when a word needs it: most cues have no typo,
	 * and this is on every blended recall's path */
	if (!rc && todo)
		rc = cue_context(st, in, held, p, ctx, &n);
	if (!rc && todo)
		rc = text_words(cue, len, &words);
	/* edits are made on the word as written: its stem need not be one
	 * edit from the intended stem ("faimly" -> "faim", "family" ->
	 * "famili") */
	for (size_t k = 0; !rc && k < words.n; k++) {
		size_t i;

		if (!cue_completable(&words.v[k]))
			continue;
		rc = cue_term_of(in, words.v[k].term, &i);
		if (rc || i == in->n || held[i] || fix[i].term[0] ||
		    !cue_completable(&in->v[i]))
			continue;	/* a stored word: as it is */
		rc = cue_fix(st, words.v[k].term, ctx, n, &fix[i]);
		*fixed += !rc && fix[i].term[0];
	}
	if (!rc)
		rc = cue_rebuild(in, fix, out);
	text_terms_release(&words);
	free(held);
	free(fix);
	return rc;
}
