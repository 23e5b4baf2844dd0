/*
 * test_pcache.c - the cache of decoded postings (store/pcache.c): recall
 * answers the same from the cache as from RocksDB, and a write is seen by
 * the very next recall (its terms' lists are dropped before it returns).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "recall_i.h"

#define N_EPISODES 1300		/* "zeta" in all: over PCACHE_MIN_DF */

struct answer {
	size_t n;
	char name[10][32];
	double score[10];
};

static void recall(struct store *st, const char *cue, struct answer *a)
{
	struct store_query q = { .cue = (char *)cue, .limit = 10,
				 .mode = STORE_MODE_EPISODIC,
				 .since = INT64_MIN, .until = INT64_MAX,
				 .min_confidence = -1 };
	struct store_results r;

	assert_int_equal(store_recall(st, &q, NULL, &r), 0);
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
		snprintf(text, sizeof(text), "zeta word%d and word%d, zeta%s",
			 i % 37, i % 101, i % 5 ? "" : " zeta");
		harness_put(st, name, text);
	}
}

static void test_cached_answers_the_same(void **state)
{
	struct store *st = *state;
	struct answer a, b;

	fill(st);
	assert_int_equal(stats(st).bytes, 0);
	recall(st, "zeta", &a);		/* from RocksDB; offers the list */
	assert_true(stats(st).bytes > N_EPISODES * sizeof(struct pcache_posting));
	recall(st, "zeta", &b);		/* from the cache */
	assert_true(stats(st).hits >= 1);
	assert_int_equal(a.n, 10);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		assert_string_equal(a.name[i], b.name[i]);
		assert_true(fabs(a.score[i] - b.score[i]) < 1e-12);
	}
	/* a two-word cue completes its scores from the cached list alike */
	recall(st, "word7 zeta", &a);
	recall(st, "word7 zeta", &b);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.name[i], b.name[i]);
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
		T(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
