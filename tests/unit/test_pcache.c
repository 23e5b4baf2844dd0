/*
 * test_pcache.c - the cache of decoded postings (store/pcache.c): recall
 * answers the same from the cache as from RocksDB, and a write is seen by
 * the very next recall (its terms' lists are dropped before it returns).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HARNESS_RECALL
#include "harness.h"

#define N_EPISODES 1300		/* "zeta" in all: over PCACHE_MIN_DF */

struct answer {
	size_t n;
	char name[10][32];
	double score[10];
};

static void recall(struct store *st, const char *cue, struct answer *a)
{
	struct store_results r;

	harness_recall(st, cue, STORE_MODE_EPISODIC, &r);
	a->n = r.n;
	for (size_t i = 0; i < r.n && i < 10; i++) {
		snprintf(a->name[i], sizeof(a->name[i]), "%s", r.v[i].name);
		a->score[i] = r.v[i].score;
	}
	store_results_release(&r);
}

static struct pcache_stats stats(struct store *st)
{
	struct pcache_stats s;

	pcache_stats(st->pcache, &s);
	return s;
}

static void fill(struct store *st)
{
	char name[32], text[128];

	for (int i = 0; i < N_EPISODES; i++) {
		snprintf(name, sizeof(name), "e%04d", i);
		snprintf(text, sizeof(text),
			 "zeta omega word%d and tag%d, zeta%s%s", i % 37,
			 i % 12, i % 5 ? "" : " zeta", i % 7 ? "" : " omega");
		harness_put(st, name, text);
	}
}

/* Every candidate of the episodic pathway for CUE, by inode number, its
 * BM25 and final score in BM25[2i] and [2i+1]: the
 * scoring itself, with one clock and no rehearsal, so two runs compare
 * exactly (store_recall re-ranks by past recalls, which it also writes). */
static size_t scores(struct store *st, const char *cue, uint64_t *ino,
		     double *bm25, size_t max)
{
	struct recall_params p;
	struct cand_table tab = { 0 };
	bool bounded;
	size_t n = 0;

	harness_score(st, cue, RECALL_M(10), 2000000000, &p, &tab, &bounded);
	for (uint64_t want = 1; n < tab.n && want < 4 * N_EPISODES; want++) {
		struct cand *c = cand_find(&tab, want);

		if (c && n < max) {	/* BM25 and the shaped score */
			ino[n] = c->ino;
			bm25[2 * n] = c->bm25;
			bm25[2 * n++ + 1] = recall_shape(&p, c, 0);
		}
	}
	free(tab.v);
	return n;
}

/* CUE scored before and after WARM put its common word in the cache. */
static void same_from_cache(struct store *st, const char *cue,
			    const char *warm)
{
	static uint64_t ia[4 * N_EPISODES], ib[4 * N_EPISODES];
	static double a[8 * N_EPISODES], b[8 * N_EPISODES];
	uint64_t hits;
	size_t na, nb;

	na = scores(st, cue, ia, a, 4 * N_EPISODES);	/* from RocksDB */
	scores(st, warm, ib, b, 4 * N_EPISODES);
	hits = stats(st).hits;
	nb = scores(st, cue, ib, b, 4 * N_EPISODES);
	assert_true(stats(st).hits > hits);	/* from the cache */
	assert_true(na > 10);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(ia[i], ib[i]);
		assert_memory_equal(&a[2 * i], &b[2 * i], 2 * sizeof(double));
	}
}

static void test_cached_answers_the_same(void **state)
{
	struct store *st = *state;
	struct answer a, b;

	fill(st);
	/* the scoring, exactly: one common word, and a less common one
	 * whose candidates the common word's list completes */
	same_from_cache(st, "zeta", "zeta");
	same_from_cache(st, "tag3 omega", "omega");
	/* and through store_recall: the same names */
	recall(st, "zeta", &a);
	assert_true(stats(st).bytes > N_EPISODES * sizeof(struct pcache_posting));
	recall(st, "zeta", &b);
	assert_int_equal(a.n, 10);
	assert_int_equal(a.n, b.n);
}

static void test_write_is_seen_at_once(void **state)
{
	struct store *st = *state;
	struct answer a;
	struct store_attr at;
	uint64_t ino;
	const char *best = "zeta zeta zeta zeta zeta";

	fill(st);
	recall(st, "zeta", &a);
	assert_true(stats(st).bytes > 0);
	/* a new episode: the next recall finds it first */
	ino = harness_put(st, "new", best);
	assert_int_equal(stats(st).bytes, 0);	/* dropped by the write */
	recall(st, "zeta", &a);
	assert_string_equal(a.name[0], "new");
	assert_true(stats(st).bytes > 0);	/* cached again */
	/* rewritten without the word: gone at once */
	assert_int_equal(store_content_write(st, ino, "nothing here", 12, 0,
					     &at), 0);
	recall(st, "zeta", &a);
	assert_string_not_equal(a.name[0], "new");
	/* written back, then unlinked: found, then gone */
	assert_int_equal(store_content_write(st, ino, best, strlen(best), 0,
					     &at), 0);
	recall(st, "zeta", &a);
	assert_string_equal(a.name[0], "new");
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "new"), 0);
	recall(st, "zeta", &a);
	for (size_t i = 0; i < a.n; i++)
		assert_string_not_equal(a.name[i], "new");
}

struct reader {
	struct store *st;
	atomic_bool stop;
	atomic_int failures;
	pthread_t tid;
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;
	struct store_query q = { .cue = (char *)"zeta", .limit = 10,
				 .mode = STORE_MODE_EPISODIC,
				 .since = INT64_MIN, .until = INT64_MAX,
				 .min_confidence = -1 };
	struct store_results res;

	while (!atomic_load(&r->stop)) {
		if (store_recall(r->st, &q, NULL, &res))
			atomic_fetch_add(&r->failures, 1);
		else
			store_results_release(&res);
	}
	return NULL;
}

/* Recalls of a cached word running while episodes with it are written:
 * after each write returns, the scoring finds the new episode. */
static void test_readers_and_a_writer(void **state)
{
	static uint64_t ino[4 * N_EPISODES];
	static double sc[8 * N_EPISODES];
	struct store *st = *state;
	struct reader r[2] = { { .st = st }, { .st = st } };
	char name[32];

	fill(st);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&r[i].tid, NULL, reader_run,
						&r[i]), 0);
	for (int w = 0; w < 30; w++) {
		uint64_t want;
		size_t n, i;

		snprintf(name, sizeof(name), "w%02d", w);
		want = harness_put(st, name, "zeta zeta zeta zeta zeta zeta");
		n = scores(st, "zeta", ino, sc, 4 * N_EPISODES);
		for (i = 0; i < n && ino[i] != want; i++)
			;
		if (i == n)
			fail_msg("write %d: episode %lu not scored", w,
				 (unsigned long)want);
	}
	for (int i = 0; i < 2; i++) {
		atomic_store(&r[i].stop, true);
		pthread_join(r[i].tid, NULL);
		assert_int_equal(atomic_load(&r[i].failures), 0);
	}
	assert_true(stats(st).hits > 0);
}

/* The budget bounds the cache: a list over a quarter of it is not kept,
 * and eviction keeps the bytes under it. */
static void test_budget(void **state)
{
	struct pcache *pc;
	struct posting_hit *v = calloc(4000, sizeof(*v));
	const struct pcache_list *l;
	struct pcache_stats s;
	char term[16];

	assert_non_null(v);
	for (size_t i = 0; i < 4000; i++)
		v[i] = (struct posting_hit){ .ino = i + 1,
					     .po = { .tf = 1, .dl = 9,
						     .when = 1, .conf = 1 } };
	assert_int_equal(pcache_create(200000, &pc), 0);
	for (int t = 0; t < 40; t++) {
		snprintf(term, sizeof(term), "t%d", t);
		pcache_offer(pc, term, strlen(term),
			     pcache_gen(pc, term, strlen(term)), v, 2000);
		pcache_stats(pc, &s);
		assert_true(s.bytes <= 200000);
	}
	l = pcache_get(pc, "t39", 3);
	assert_non_null(l);
	assert_int_equal(l->n, 2000);
	assert_int_equal(l->v[1999].ino, 2000);
	pcache_release(pc, l);
	assert_null(pcache_get(pc, "t0", 2));		/* evicted */
	pcache_offer(pc, "big", 3, pcache_gen(pc, "big", 3), v, 4000);
	assert_null(pcache_get(pc, "big", 3));		/* over a quarter */
	/* a write between a reader's start and its offer: not kept */
	{
		uint64_t g = pcache_gen(pc, "late", 4);

		pcache_note("late", 4);
		pcache_written(pc);
		pcache_offer(pc, "late", 4, g, v, 2000);
		assert_null(pcache_get(pc, "late", 4));
	}
	/* an inode number over 32 bits: the term is not cached */
	v[5].ino = (uint64_t)1 << 33;
	pcache_offer(pc, "wide", 4, pcache_gen(pc, "wide", 4), v, 2000);
	assert_null(pcache_get(pc, "wide", 4));
	pcache_destroy(pc);
	free(v);
	(void)state;
}

#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_cached_answers_the_same),
		T(test_write_is_seen_at_once),
		T(test_readers_and_a_writer),
		T(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
