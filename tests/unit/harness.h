/*
 * harness.h - what every unit test binary shares: cmocka, and a fresh
 * store in a private mkdtemp() directory that is removed afterwards.
 *
 * Usage in a test:
 *     static void test_x(void **state) { struct store *st = *state; ... }
 *     cmocka_unit_test_setup_teardown(test_x, harness_open, harness_close)
 */
#ifndef ENGRAM_HARNESS_H
#define ENGRAM_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "store.h"

struct harness {
	struct store *st;
	char dir[64];
};

static inline void harness_rm_rf(const char *dir)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: cannot remove '%s'\n", dir);
}

/* Make a temp dir; the store goes in DIR/db. */
static inline int harness_mkdir(char dir[64])
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, 64, "%s/engram-unit-XXXXXX", tmp ? tmp : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static inline void harness_quiet(int level, const char *msg)
{
	if (getenv("HARNESS_VERBOSE"))
		fprintf(stderr, "log<%d>: %s\n", level, msg);
}

/*
 * Timing bounds in the tests hold for a plain build.  Under valgrind
 * (make valgrind sets VALGRIND=1) or ThreadSanitizer code runs 5 to 50
 * times slower: a test loosens or skips such a bound, gives a time budget
 * of the store its maximum, or shrinks its workload when this is true.
 */
static inline bool harness_slow(void)
{
#if defined(__SANITIZE_THREAD__)
	return true;
#else
	const char *v = getenv("VALGRIND");

	return v && *v && strcmp(v, "0") != 0;
#endif
}

static inline int harness_open(void **state)
{
	static struct harness h;
	char path[96];

	store_log_set(harness_quiet, STORE_LOG_DEBUG);
	if (harness_mkdir(h.dir))
		return -1;
	snprintf(path, sizeof(path), "%s/db", h.dir);
	if (store_open(path, NULL, &h.st))
		return -1;
	*state = h.st;
	return 0;
}

/* Close and reopen the same store (persistence tests). */
static inline struct store *harness_reopen(struct store *st)
{
	char path[256];
	struct store *out = NULL;

	snprintf(path, sizeof(path), "%s", store_dir(st));
	store_close(st);
	assert_int_equal(store_open(path, NULL, &out), 0);
	return out;
}

/* Remember TEXT as the episode NAME at the root, owned by uid 1000. */
static inline uint64_t harness_put(struct store *st, const char *name,
				   const char *text)
{
	struct store_attr a;

	assert_int_equal(store_create(st, STORE_ROOT_INO, name, S_IFREG | 0644,
				      1000, 1000, &a),
			 0);
	assert_int_equal(store_content_write(st, a.ino, text, strlen(text), 0,
					     &a),
			 0);
	return a.ino;
}

/* Remember TEXT N times, as PREFIX0, PREFIX1, ... */
static inline void harness_put_n(struct store *st, const char *prefix,
				 int n, const char *text)
{
	char name[64];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		harness_put(st, name, text);
	}
}

/* Recall CUE in MODE, ten results, no filters, as root; R is the
 * caller's to release. */
static inline void harness_recall(struct store *st, const char *cue,
				  enum store_mode mode,
				  struct store_results *r)
{
	struct store_query q = { .cue = (char *)cue, .limit = 10,
				 .mode = mode, .since = INT64_MIN,
				 .until = INT64_MAX, .min_confidence = -1 };

	assert_int_equal(store_recall(st, &q, NULL, r), 0);
}

static inline int harness_close(void **state)
{
	struct store *st = *state;
	char dir[256], *slash;

	snprintf(dir, sizeof(dir), "%s", store_dir(st));
	store_close(st);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	harness_rm_rf(dir);
	return 0;
}

/*
 * Tests of the episodic pathway itself (define HARNESS_RECALL before the
 * include): the default BM25 and decay parameters with a clock of the
 * test's own, so two runs score alike, then episodic_score of CUE.
 */
#ifdef HARNESS_RECALL
#include "recall_i.h"

static inline void harness_score(struct store *st, const char *cue,
				 size_t k, int64_t now,
				 struct recall_params *p,
				 struct cand_table *tab, bool *bounded)
{
	struct text_terms t;

	memset(p, 0, sizeof(*p));
	p->k1 = 1.2;
	p->b = 0.75;
	p->n_docs = (double)st->n_indexed;
	p->avgdl = (double)st->total_len / p->n_docs;
	p->min_conf = -1;
	p->since = INT64_MIN;
	p->until = INT64_MAX;
	p->now = now;
	p->decay_fn = 2;
	p->exponent = 0.2;
	assert_int_equal(text_analyze(cue, strlen(cue), &t), 0);
	assert_int_equal(episodic_score(st, &t, p, k, tab, bounded), 0);
	text_terms_release(&t);
}
#endif

#endif
