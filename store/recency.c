/*
 * recency.c - cues that ask for the newest: "what changed recently in
 * X", "latest news from alice", "what happened lately with the build".
 *
 * Intent.  A recency word (recent, recently, latest, newest, lately, as
 * written: the analyser makes "late" of "lately") marks the cue.  It is taken out, and with it
 * the words that only say that something happened (change, happen, new,
 * news, update) and the stop words, as long as a content word is left:
 * that rest names what to match.  "latest news" keeps "news".
 *
 * Ranking, in three steps:
 *   1. the band: the episodes that match the cue about as fully as the
 *      best one does: the idf sum of the cue's content words they hold
 *      is at least RECENT_FLOOR of the best one's.  Coverage, not BM25:
 *      a long entry about X is as much about X as a short one, and BM25's
 *      length norm had kept X's newest entry out of a band cut on
 *      similarity (newest first for 0.38 of the cues of tests/eval);
 *   2. aboutness: an episode is about the cue when its first line holds
 *      every content word of the cue that the episode holds at all (a
 *      changelog entry's header, a note's title, a one-line episode).
 *      Newer entries of other packages that mention X in passing are
 *      not about X.  First lines are read newest first, of at most
 *      RECALL_M(limit) episodes the caller may see, until LIMIT are
 *      about the cue;
 *   3. order: the episodes about the cue, then the rest of the band,
 *      each newest first.  The score shown is 0.5 for being about the
 *      cue plus 0.5 x confidence / (1 + age in years).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "recall_i.h"

#define RECENT_FLOOR	0.85	/* of the best coverage, to be in the band */
#define RECENT_ABOUT	0.5	/* score for being about the cue */

/* The recency words as written, and the stem the analyser makes of
 * each: "lately" becomes "late", so only the written word can tell. */
static const struct {
	const char *word, *stem;
} recency_words[] = {
	{ "recent", "recent" }, { "recently", "recent" },
	{ "latest", "latest" }, { "newest", "newest" },
	{ "lately", "late" },
};
#define RECENCY_WORDS (sizeof(recency_words) / sizeof(*recency_words))

/* Which recency words CUE (LEN bytes) has as written, as a mask over
 * recency_words; T is the cue analysed.  The cue is read again, unstemmed
 * (text_words), only when one of T's terms is a recency stem. */
static unsigned recency_written(const struct text_terms *t, const char *cue,
				size_t len)
{
	struct text_terms w = { 0 };
	unsigned found = 0;
	bool stem = false;

	for (size_t i = 0; !stem && i < t->n; i++)
		for (size_t k = 0; !stem && k < RECENCY_WORDS; k++)
			stem = !strcmp(t->v[i].term, recency_words[k].stem);
	if (!stem || text_words(cue, len, &w))
		return 0;	/* out of memory: ranked as a plain cue */
	for (size_t i = 0; i < w.n; i++)
		for (size_t k = 0; k < RECENCY_WORDS; k++)
			if (!strcmp(w.v[i].term, recency_words[k].word))
				found |= 1u << k;
	text_terms_release(&w);
	return found;
}

/* Is TERM the stem of one of the recency words FOUND? */
static bool recency_marker(const char *term, unsigned found)
{
	for (size_t k = 0; k < RECENCY_WORDS; k++)
		if ((found >> k & 1) && !strcmp(term, recency_words[k].stem))
			return true;
	return false;
}

static bool recency_event(const char *term)
{
	static const char *const w[] = { "chang", "happen", "new", "news",
					 "updat" };

	for (size_t i = 0; i < sizeof(w) / sizeof(*w); i++)
		if (!strcmp(term, w[i]))
			return true;
	return false;
}

/* Take the recency words FOUND, the stop words and (DROP_EVENTS) the
 * words of happening out of T. */
static void recency_filter(struct text_terms *t, unsigned found,
			   bool drop_events)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct text_term *w = &t->v[i];

		if (recency_marker(w->term, found) || w->stop ||
		    (drop_events && recency_event(w->term)))
			continue;
		t->v[k++] = *w;
	}
	t->n = k;
}

bool recency_intent(struct text_terms *t, const char *cue, size_t len)
{
	unsigned found = recency_written(t, cue, len);
	size_t markers = 0, topic = 0, content = 0;

	for (size_t i = 0; found && i < t->n; i++) {
		const struct text_term *w = &t->v[i];
		bool marker = recency_marker(w->term, found);

		markers += marker;
		content += !w->stop && !marker;
		topic += !w->stop && !marker && !recency_event(w->term);
	}
	if (!markers || !content)
		return false;	/* "recent" alone is a word to match */
	recency_filter(t, found, topic > 0);
	return true;
}

static int recency_by_date(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->when != y->when)
		return x->when < y->when ? 1 : -1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int recency_term_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct text_term *)elem)->term);
}

/* The first line of BUF with anything but white space on it. */
static const char *recency_first_line(const char *buf, size_t len,
				      size_t *n)
{
	const char *p = buf, *end = buf + len, *nl;

	while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' ||
			   *p == '\t'))
		p++;
	nl = memchr(p, '\n', (size_t)(end - p));
	*n = (size_t)((nl ? nl : end) - p);
	return p;
}

/* Does the first line of C's text hold every content word of CUE that C
 * holds?  An episode gone meanwhile is not about anything. */
static int recency_about(struct store *st, const struct cand *c,
			 const struct text_terms *cue, bool *about)
{
	struct text_terms first = { 0 };
	char *buf = NULL;
	size_t len = 0, n;
	const char *line;
	int rc = store_content_read(st, c->ino, &buf, &len);

	*about = false;
	if (rc) {
		free(buf);
		return rc == -ENOENT ? 0 : rc;
	}
	line = recency_first_line(buf, len, &n);
	rc = text_analyze(line, n, &first);
	*about = !rc;
	for (size_t i = 0; *about && i < cue->n && i < 64; i++)
		if ((c->words >> i & 1) &&
		    !bsearch(cue->v[i].term, first.v, first.n,
			     sizeof(*first.v), recency_term_cmp))
			*about = false;
	text_terms_release(&first);
	free(buf);
	return rc;
}

static double recency_score(const struct recall_params *p,
			    const struct cand *c, bool about)
{
	double years = (double)(p->now - c->when) / (365.25 * 86400);

	if (years < 0)
		years = 0;
	return (about ? RECENT_ABOUT : 0) +
	       (1 - RECENT_ABOUT) * c->conf / (1 + years);
}

/* Compact T's band into its own array, newest first; *N of them. */
static struct cand *recency_band(struct cand_table *t, size_t *n)
{
	double best = 0;
	size_t k = 0;

	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].ino && t->v[i].cover > best)
			best = t->v[i].cover;
	for (size_t i = 0; best > 0 && i < t->cap; i++)
		if (t->v[i].ino && t->v[i].cover >= RECENT_FLOOR * best) {
			t->v[k] = t->v[i];
			t->v[k++].complete = false;	/* by date here */
		}
	qsort(t->v, k, sizeof(*t->v), recency_by_date);
	*n = k;
	return t->v;
}

int recency_rank(struct store *st, struct cand_table *t,
		 const struct text_terms *cue, const struct recall_params *p,
		 size_t limit, const struct store_caller *c, uint64_t under,
		 struct cand **out, size_t *n_out)
{
	size_t n, checked = 0, about = 0, i;
	struct cand *v = recency_band(t, &n);
	int rc = 0;

	for (i = 0; !rc && i < n && checked < RECALL_M(limit) &&
		    about < limit;
	     i++) {
		struct inode_rec r;
		bool ab = false;

		if (inode_get(st, v[i].ino, &r)) {
			v[i].final = 0;	/* gone meanwhile: skipped */
			continue;
		}
		if (recall_visible(st, c, &r, under)) {
			checked++;
			rc = recency_about(st, &v[i], cue, &ab);
			about += ab;
		}
		inode_rec_release(&r);
		v[i].final = recency_score(p, &v[i], ab);
	}
	for (; i < n; i++)
		v[i].final = recency_score(p, &v[i], false);
	qsort(v, n, sizeof(*v), recall_cmp);
	*out = v;
	*n_out = n;
	return rc;
}
