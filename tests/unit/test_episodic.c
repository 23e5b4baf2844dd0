/*
 * test_episodic.c - the episodic pathway's bound (episodic.c), stop
 * words in the index, cue completion (cue.c) and the index format
 * upgrade (index.c).
 *
 * The bound is checked against the unbounded scan on a seeded random
 * store: for every cue, the best RECALL_M(10) of the bounded run must be
 * the same episodes with the same scores.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define HARNESS_RECALL
#include "harness.h"

static size_t recall_n(struct store *st, const char *cue,
		       enum store_mode mode, const char *want)
{
	struct store_results r;
	size_t n, hit = 0;

	harness_recall(st, cue, mode, &r);
	n = r.n;
	for (size_t i = 0; want && i < r.n; i++)
		hit += !strcmp(r.v[i].name, want);
	store_results_release(&r);
	return want ? hit : n;
}

static char first_buf[64];

/* The name of the best answer to CUE in MODE ("" if none). */
static const char *first_in(struct store *st, const char *cue,
			    enum store_mode mode)
{
	struct store_results r;

	harness_recall(st, cue, mode, &r);
	snprintf(first_buf, sizeof(first_buf), "%s", r.n ? r.v[0].name : "");
	store_results_release(&r);
	return first_buf;
}

static const char *first_name(struct store *st, const char *cue)
{
	return first_in(st, cue, STORE_MODE_EPISODIC);
}

/* Word W of a Zipf-like vocabulary of 400 made-up words ("bakedo"),
 * with the stop words among the commonest. */
static void word_of(unsigned r, char *out);

static void word(unsigned *seed, char *out)
{
	double u = (double)rand_r(seed) / RAND_MAX;

	word_of((unsigned)(400 * u * u * u), out);	/* skewed to 0 */
}

static void word_of(unsigned r, char *out)
{
	static const char *const stop[] = { "the", "of", "and", "a", "to",
					     "in", "is", "with" };
	static const char syl[][3] = { "ba", "ke", "do", "mi", "lu", "ro",
				       "si", "ta", "ve", "zo" };

	if (r < 8) {
		strcpy(out, stop[r]);
		return;
	}
	snprintf(out, 8, "%s%s%s", syl[r % 10], syl[r / 10 % 10],
		 syl[r / 100 % 10]);
}

/* Ranks (2 x complete + score) of the best M candidates, best first. */
static void best_of(struct store *st, const char *cue, size_t k,
		    int64_t now, double *out, uint64_t *ino, size_t m,
		    bool *bounded)
{
	struct recall_params p;
	struct cand_table tab = { 0 };
	size_t n = 0;

	/* one clock for both runs: decay moves by the second */
	harness_score(st, cue, k, now, &p, &tab, bounded);
	for (size_t i = 0; i < m; i++)
		out[i] = -1, ino[i] = 0;
	for (size_t i = 0; i < tab.cap; i++) {
		struct cand *c = &tab.v[i];
		double f;
		size_t j;

		if (!c->ino)
			continue;
		f = recall_shape(&p, c, 0) + (c->complete ? 2 : 0);
		n++;
		for (j = m; j > 0 && (out[j - 1] < f ||
				      (out[j - 1] == f && ino[j - 1] > c->ino));
		     j--)
			if (j < m)
				out[j] = out[j - 1], ino[j] = ino[j - 1];
		if (j < m)
			out[j] = f, ino[j] = c->ino;
	}
	free(tab.v);
}

static void test_bound_keeps_the_best(void **state)
{
	struct store *st = *state;
	const char *cues[] = { "bakeba the", "the kebaba of the mibaba",
			       "tababa with a sibaba in the dobaba", "the",
			       "of and the", "lubaba", "zebra the",
			       "bamiba bamiba rokeba kekeba bakeba",
			       "dobaba kebaba", "bakeba kebaba dobaba mibaba" };
	unsigned seed = 7;
	char text[512], name[32];
	size_t m = RECALL_M(10), bounded_runs = 0;
	int64_t now = time(NULL) + 86400;	/* a day later: decay is live */

	for (int i = 0; i < 1500; i++) {
		size_t o = 0, len = 5 + (size_t)(rand_r(&seed) % 30);

		for (size_t w = 0; w < len; w++) {
			char wd[8];

			word(&seed, wd);
			o += (size_t)snprintf(text + o, sizeof(text) - o,
					      "%s ", wd);
		}
		snprintf(name, sizeof(name), "e%04d", i);
		harness_put(st, name, text);
	}
	char pairs[40][24];
	size_t nfixed = sizeof(cues) / sizeof(*cues), nc = nfixed + 40;

	for (unsigned r = 0; r < 40; r++) {	/* common and mid pairs */
		char a[8], b[8];

		word_of(8 + r, a);
		word_of(8 + (r * 7 + 3) % 60, b);
		snprintf(pairs[r], sizeof(pairs[r]), "%s %s", a, b);
	}
	for (size_t c = 0; c < nc; c++) {
		const char *cue = c < nfixed ? cues[c] : pairs[c - nfixed];

		double a[RECALL_M(10)], b[RECALL_M(10)];
		uint64_t ia[RECALL_M(10)], ib[RECALL_M(10)];
		bool bounded, unbounded;

		best_of(st, cue, m, now, a, ia, m, &bounded);
		best_of(st, cue, 0, now, b, ib, m, &unbounded);
		assert_false(unbounded);
		bounded_runs += bounded;
		for (size_t i = 0; i < m; i++) {
			if (ia[i] != ib[i] || fabs(a[i] - b[i]) > 1e-12)
				fail_msg("cue '%s' rank %zu: bounded %lu "
					 "%.12f, unbounded %lu %.12f",
					 cue, i, (unsigned long)ia[i],
					 a[i], (unsigned long)ib[i], b[i]);
		}
	}
	assert_true(bounded_runs > 0);	/* the bound did cut work */
}

static void test_stop_words(void **state)
{
	struct store *st = *state;

	harness_put(st, "hamlet", "To be, or not to be: that is the question.");
	harness_put(st, "coffee", "Met Alice for coffee at the station");
	harness_put(st, "tea", "Drank tea with Bob in the garden");
	/* a cue of stop words only finds by them */
	assert_int_equal(recall_n(st, "to be or not to be",
				  STORE_MODE_EPISODIC, "hamlet"), 1);
	/* with content words, stop words only rank: no tea-with-Bob */
	assert_int_equal(recall_n(st, "coffee with alice",
				  STORE_MODE_EPISODIC, NULL), 1);
	/* two of the cue's stop words find without a content word (what is
	 * left of a mistyped cue); hamlet shares one of them only */
	assert_int_equal(recall_n(st, "alice in the gardn",
				  STORE_MODE_EPISODIC, NULL), 2);
	assert_int_equal(recall_n(st, "alice in the gardn",
				  STORE_MODE_EPISODIC, "tea"), 1);
	assert_int_equal(recall_n(st, "the", STORE_MODE_EPISODIC, NULL), 3);
}

static void test_cue_completion(void **state)
{
	struct store *st = *state;

	harness_put(st, "coffee", "Met Alice for coffee at the station");
	harness_put(st, "walk", "Walked to the station in the rain");
	/* a typo: episodic matches literally, blended completes the cue */
	assert_int_equal(recall_n(st, "cofefe alcie", STORE_MODE_EPISODIC,
				  NULL), 0);
	assert_int_equal(recall_n(st, "cofefe alcie", STORE_MODE_BLENDED,
				  "coffee"), 1);
	assert_int_equal(recall_n(st, "runnign in the rian",
				  STORE_MODE_BLENDED, "walk"), 1);
	/* the variant stored with the cue's other word wins over the more
	 * frequent one: "banx loan" is the bank, though bands are many */
	harness_put(st, "bank", "Asked the bank about the loan");
	harness_put_n(st, "band", 5, "The band played on");
	assert_int_equal(recall_n(st, "banx loan", STORE_MODE_BLENDED, "bank"),
			 1);
	assert_int_equal(recall_n(st, "banx loan", STORE_MODE_BLENDED, NULL),
			 1);	/* completed to "bank", not "band" */
	assert_int_equal(recall_n(st, "banx", STORE_MODE_BLENDED, "band0"), 1);
	char why[128];

	assert_int_equal(store_flag_set(st, FLAG_BR_CUE_COMPLETION, "0", 1, 0,
					"test", why, sizeof(why)),
			 0);
	assert_int_equal(recall_n(st, "cofefe alcie", STORE_MODE_BLENDED,
				  NULL), 0);
}

/* Which stored word a typo is completed to (cue.c): edits of the word
 * as written, stop words as candidates, common words by frequency. */
static void test_cue_completion_choice(void **state)
{
	struct store *st = *state;
	char name[16];

	/* edits on the word, not its stem: "faimly" is "family" (stems
	 * "faim" and "famili"), not the "farm" one edit from "faim" */
	harness_put(st, "family", "A family dinner");
	harness_put(st, "farm", "The farm");
	assert_string_equal(first_in(st, "faimly", STORE_MODE_BLENDED),
			    "family");
	/* a stem that is a stop word is no candidate: "klled" -> "alled"
	 * stems to "all", which every "all" would have matched */
	harness_put(st, "killed", "The cat killed a mouse");
	harness_put_n(st, "all", 4, "All day long");
	assert_string_equal(first_in(st, "klled", STORE_MODE_BLENDED),
			    "killed");
	/* the intended word may be a stop word: "wll you" is "will you",
	 * two stop words that find the proposal, not the walls */
	harness_put(st, "proposal", "Will you marry me");
	harness_put_n(st, "wall", 3, "The wall is high");
	assert_string_equal(first_in(st, "wll you", STORE_MODE_BLENDED),
			    "proposal");
	/* the cue's other words choose: the best match of "might be" holds
	 * "drunk", though "drink" is held by more episodes */
	harness_put(st, "drunk", "He might be drunk but at home");
	harness_put_n(st, "drink", 5, "Drink water");
	assert_string_equal(first_in(st, "might be drqnk", STORE_MODE_BLENDED),
			    "drunk");
	assert_int_equal(recall_n(st, "might be drqnk", STORE_MODE_BLENDED,
				  NULL), 1);	/* no "drink" */
	/* past 64 holders, frequency is estimated, not capped: "beter" is
	 * "better" (every other episode) before "beer" (every sixth),
	 * which would come first by strcmp */
	for (int i = 0; i < 400; i++) {
		snprintf(name, sizeof(name), "d%03d", i);
		harness_put(st, name, i % 2 == 0 ? "better days"
				      : i % 3 == 0 ? "beer time" : "rain");
	}
	assert_int_equal(first_in(st, "beter", STORE_MODE_BLENDED)[0], 'd');
	assert_int_equal(atoi(first_buf + 1) % 2, 0);
}

/* An episode that holds every word of the cue comes before one that
 * holds only some, however old it is and however often the other holds
 * its word: a specific cue still finds an old episode. */
static void test_complete_first(void **state)
{
	struct store *st = *state;
	struct store_attr in = { 0 }, out;
	uint64_t old;

	/* "beta" is common, "alpha" rare */
	harness_put_n(st, "f", 30, "beta notes");
	old = harness_put(st, "old", "alpha and beta with many other words "
				     "around them in a long old entry");
	in.mtime.tv_sec = time(NULL) - 20 * 365 * 86400;
	assert_int_equal(store_setattr(st, old, &in, STORE_SET_MTIME, &out),
			 0);
	harness_put(st, "new", "alpha alpha alpha");
	assert_int_equal(recall_n(st, "alpha", STORE_MODE_EPISODIC, NULL), 2);
	assert_string_equal(first_name(st, "alpha"), "new");
	assert_string_equal(first_name(st, "alpha beta"), "old");
	/* a word no episode holds does not count */
	assert_string_equal(first_name(st, "alpha beta gamma"), "old");
}

/* A store of index format 1 (no stop-word postings, no format key) is
 * upgraded in place at open. */
static void test_upgrade_from_format_1(void **state)
{
	struct store *st = *state;
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	char *report = NULL;
	size_t len = 0;
	unsigned char key[16];
	uint64_t ino = harness_put(st, "hamlet", "to be or not to be, a question");
	const char *stop[] = { "to", "be", "or", "not", "a" };

	for (size_t i = 0; i < sizeof(stop) / sizeof(*stop); i++) {
		size_t n = strlen(stop[i]);

		memcpy(key, stop[i], n);
		key[n] = 0;
		be64_put(key + n + 1, ino);
		rocksdb_writebatch_delete_cf(b, st->cf[CF_POSTINGS],
					     (const char *)key, n + 9);
	}
	rocksdb_writebatch_delete_cf(b, st->cf[CF_DEFAULT],
				     "meta/index_format", 17);
	assert_int_equal(db_write(st, b, true), 0);
	rocksdb_writebatch_destroy(b);
	assert_int_equal(recall_n(st, "to be or not to be",
				  STORE_MODE_EPISODIC, NULL), 0);
	st = harness_reopen(st);
	*state = st;
	assert_int_equal(recall_n(st, "to be or not to be",
				  STORE_MODE_EPISODIC, "hamlet"), 1);
	if (store_verify(st, &report, &len) != 0)
		fail_msg("verify: %.*s", (int)len, report ? report : "");
	free(report);
}

#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bound_keeps_the_best),
		T(test_stop_words),
		T(test_cue_completion),
		T(test_cue_completion_choice),
		T(test_complete_first),
		T(test_upgrade_from_format_1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
