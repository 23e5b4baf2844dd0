/*
 * consolidate_bench.c - time consolidation of NEW new episodes into a
 * store of BASE consolidated ones, with recall served throughout.
 *
 *   consolidate_bench [BASE [NEW [DIR]]]     (defaults 100000 10000)
 *
 * Synthetic text with topical structure: 1,000 topics of 30 words each
 * over a 30,000-word vocabulary; an episode is 20-35 words, 70% from its
 * topic and 30% from the whole vocabulary (Zipf-like).  Prints the time
 * of the initial run over BASE, then of the run over NEW, and recall
 * latencies (p50/p99) measured by a thread recalling while NEW is
 * consolidated, and the CPU time of the run's thread (the wall time
 * depends on what else the machine runs).  The store's DEBUG line gives
 * the time of each step and the longest hold of the writer lock.
 * Not a unit test; build with
 *   make build/libengram.a && cc -D_GNU_SOURCE -Istore -O2 \
 *     -o build/consolidate_bench tests/bench/consolidate_bench.c \
 *     build/libengram.a -lrocksdb -ljson-c -linih -lutf8proc -lxxhash \
 *     -lstemmer -lm -lpthread
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_i.h"
#include "concept_i.h"

#define VOCAB 30000
#define TOPICS 1000
#define TOPIC_WORDS 30

static char words[VOCAB][12];
static int topic[TOPICS][TOPIC_WORDS];
static atomic_bool done;
static double lat[200000];
static size_t nlat;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void make_words(void)
{
	static const char *c = "bcdfghklmnprstvz", *v = "aeiou";
	uint64_t s = 42;

	for (int i = 0; i < VOCAB; i++) {
		int syl = 2 + (int)(rnd(&s) % 3), n = 0;

		for (int k = 0; k < syl; k++) {
			words[i][n++] = c[rnd(&s) % 16];
			words[i][n++] = v[rnd(&s) % 5];
		}
		words[i][n++] = c[rnd(&s) % 16];
		words[i][n] = '\0';
	}
	for (int t = 0; t < TOPICS; t++)
		for (int k = 0; k < TOPIC_WORDS; k++)
			topic[t][k] = (int)(rnd(&s) % VOCAB);
}

static void make_text(uint64_t *s, char *buf, size_t size)
{
	int t = (int)(rnd(s) % TOPICS), n = 20 + (int)(rnd(s) % 16);
	size_t len = 0;

	for (int i = 0; i < n && len + 16 < size; i++) {
		int w;

		if (rnd(s) % 10 < 7)
			w = topic[t][rnd(s) % TOPIC_WORDS];
		else	/* Zipf-like: the square of a uniform number */
			w = (int)(pow((double)(rnd(s) % 100000) / 100000.0, 2) *
				  VOCAB);
		len += (size_t)snprintf(buf + len, size - len, "%s ", words[w]);
	}
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void add(struct store *st, uint64_t *seed, int n, int base)
{
	char name[32], text[512];

	for (int i = 0; i < n; i++) {
		struct store_attr a;

		snprintf(name, sizeof(name), "e%d", base + i);
		make_text(seed, text, sizeof(text));
		if (store_create(st, STORE_ROOT_INO, name, S_IFREG | 0644, 0, 0,
				 &a) ||
		    store_content_write(st, a.ino, text, strlen(text), 0, &a))
			abort();
	}
}

static void *reader(void *arg)
{
	struct store *st = arg;
	uint64_t s = 7;

	while (!done && nlat < 200000) {
		struct store_query q = { 0 };
		struct store_results res;
		char cue[512];
		double t0;

		make_text(&s, cue, 120);
		q.cue = cue;
		q.limit = 10;
		q.mode = STORE_MODE_EPISODIC;
		q.since = INT64_MIN;
		q.until = INT64_MAX;
		q.min_confidence = -1;
		t0 = now_s();
		if (store_recall(st, &q, NULL, &res) == 0)
			store_results_release(&res);
		{
			struct text_terms t;
			struct concept_hit *h;
			size_t n;

			if (!text_analyze(cue, strlen(cue), &t)) {
				if (!concept_match(st, &t, 8, 0, &h, &n))
					free(h);
				text_terms_release(&t);
			}
		}
		lat[nlat++] = now_s() - t0;
	}
	return NULL;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void quiet(int level, const char *msg)
{
	if (level <= STORE_LOG_DEBUG)
		fprintf(stderr, "%s\n", msg);
}

int main(int argc, char **argv)
{
	int base = argc > 1 ? atoi(argv[1]) : 100000;
	int neu = argc > 2 ? atoi(argv[2]) : 10000;
	char dir[] = "/tmp/engram-bench-XXXXXX";
	struct store_consolidation rep;
	struct concept_stats cs;
	struct store *st;
	uint64_t seed = 1;
	pthread_t th;
	double t0, c0;

	store_log_set(quiet, STORE_LOG_DEBUG);
	make_words();
	if (!mkdtemp(dir) || store_open(argc > 3 ? argv[3] : dir, NULL, &st))
		return 1;
	t0 = now_s();
	add(st, &seed, base, 0);
	printf("ingest %d: %.1f s\n", base, now_s() - t0);
	t0 = now_s();
	if (store_consolidate(st, &rep))
		return 1;
	concept_stats(st, &cs);
	printf("initial run over %d: %.2f s, %llu concepts, %llu bindings, "
	       "mean coherence %.3f\n", base, now_s() - t0,
	       (unsigned long long)cs.concepts,
	       (unsigned long long)cs.bindings,
	       cs.concepts ? cs.coherence_sum / cs.concepts : 0);
	add(st, &seed, neu, base);
	pthread_create(&th, NULL, reader, st);
	t0 = now_s();
	c0 = cpu_s();
	if (store_consolidate(st, &rep))
		return 1;
	printf("run over %d new into %d: %.2f s, %.2f s cpu (formed %llu, "
	       "updated %llu, dissolved %llu, bindings %llu)\n", neu, base,
	       now_s() - t0, cpu_s() - c0,
	       (unsigned long long)rep.concepts_formed,
	       (unsigned long long)rep.concepts_updated,
	       (unsigned long long)rep.concepts_dissolved,
	       (unsigned long long)rep.bindings_created);
	done = true;
	pthread_join(th, NULL);
	qsort(lat, nlat, sizeof(*lat), dcmp);
	if (nlat)
		printf("recall+match during the run: %zu, p50 %.2f ms, "
		       "p99 %.2f ms\n", nlat, lat[nlat / 2] * 1e3,
		       lat[nlat * 99 / 100] * 1e3);
	concept_stats(st, &cs);
	printf("now %llu concepts, %llu bindings\n",
	       (unsigned long long)cs.concepts,
	       (unsigned long long)cs.bindings);
	store_close(st);
	if (argc <= 3) {	/* our own temporary store */
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove '%s'\n", dir);
	}
	return 0;
}
