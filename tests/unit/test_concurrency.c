/*
 * test_concurrency.c - many threads on one store at once: commits,
 * recalls, flag sets, consolidation, status and metrics, concept files.
 * Built as every unit test; `make tsan` builds it with ThreadSanitizer,
 * which is the point: a data race is a failure there even when the
 * results come out right.
 *
 * Threads (all started together, each a fixed number of rounds so that
 * the run is bounded under valgrind and TSan; CONC_ROUNDS sets them,
 * default 150, 12 under valgrind):
 *   writers (4)    each in its own folder: create, write, append, sync
 *                  write, rename (also over its own episodes), unlink,
 *                  confidence; keeps a model and reads back what it wrote
 *   recallers (3)  episodic, blended and semantic recall, formatted as
 *                  text and JSON; every score in 0..1, every result a path
 *   flagger (1)    sets flags (fan_effect, blended_recall, limits, the
 *                  cohort sampling rate) and reads them back
 *   consolidator   store_consolidate in a loop, dual_memory_types on
 *   observer (1)   store_counts, status, metrics, concept list and render,
 *                  the flag history
 * Afterwards: each writer's folder equals its model, the counters equal
 * the tree, and store_verify (when the library has it) reports nothing;
 * then the same after a reopen.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "harness.h"
#include "store_i.h"

#if defined(__has_include)
#if __has_include("verify.c")
#define CC_HAVE_VERIFY 1
#endif
#endif

#define CC_WRITERS 4
#define CC_RECALLERS 3
#define CC_FILES 24	/* episodes a writer keeps at most */

static const char *const cc_words[] = {
	"alice", "bob", "station", "coffee", "bike", "chain", "river",
	"garden", "market", "train", "lunch", "report", "budget", "rain",
	"piano", "letter", "harbour", "lantern", "orchard", "meadow",
};
#define CC_NWORDS (sizeof(cc_words) / sizeof(*cc_words))

struct cc_file {
	char name[32];
	char *text;	/* what it must hold; NULL = no such file */
	size_t len;
};

struct cc {
	struct store *st;
	int rounds;
	_Atomic int failures;
	_Atomic bool stop;	/* the writers are done */
	_Atomic long recalls, results, consolidations, flagsets, commits;
};

struct cc_writer {
	struct cc *cc;
	int id;
	uint64_t dir;
	unsigned seed;
	struct cc_file f[CC_FILES];
};

static void cc_fail(struct cc *cc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cmocka's asserts are not thread-safe: threads count and print. */
static void cc_fail(struct cc *cc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "concurrency: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	cc->failures++;
}

static unsigned cc_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

static char *cc_text(unsigned *seed, size_t words, size_t *len)
{
	size_t cap = words * 10 + 1, n = 0;
	char *t = malloc(cap);

	if (!t)
		abort();
	for (size_t i = 0; i < words; i++)
		n += (size_t)snprintf(t + n, cap - n, "%s%s", i ? " " : "",
				      cc_words[cc_rand(seed) % CC_NWORDS]);
	*len = n;
	return t;
}

static void cc_check_read(struct cc_writer *w, struct cc_file *f,
			  uint64_t ino)
{
	char *buf = NULL;
	size_t len = 0;
	int r = store_content_read(w->cc->st, ino, &buf, &len);

	if (r)
		cc_fail(w->cc, "writer %d: read %s: %s", w->id, f->name,
			strerror(-r));
	else if (len != f->len || (len && memcmp(buf, f->text, len)))
		cc_fail(w->cc, "writer %d: %s holds %zu bytes, wrote %zu",
			w->id, f->name, len, f->len);
	free(buf);
}

static void cc_write_one(struct cc_writer *w)
{
	struct store *st = w->cc->st;
	struct cc_file *f = &w->f[cc_rand(&w->seed) % CC_FILES];
	struct store_attr a;
	unsigned what = cc_rand(&w->seed) % 10;
	size_t len;
	char *t;
	int r;

	if (!f->text) {
		r = store_create(st, w->dir, f->name, S_IFREG | 0644, 1000, 1000,
				 &a);
		if (r) {
			cc_fail(w->cc, "writer %d: create %s: %s", w->id,
				f->name, strerror(-r));
			return;
		}
		f->text = strdup("");
		f->len = 0;
	} else if ((r = store_lookup(st, w->dir, f->name, &a))) {
		cc_fail(w->cc, "writer %d: lookup %s: %s", w->id, f->name,
			strerror(-r));
		return;
	}
	if (what < 4) {	/* replace */
		t = cc_text(&w->seed, 1 + cc_rand(&w->seed) % 60, &len);
		r = store_content_write(st, a.ino, t, len,
					what == 0 ? STORE_SYNC : 0, &a);
		if (!r) {
			free(f->text);
			f->text = t;
			f->len = len;
		} else {
			free(t);
		}
	} else if (what < 6) {	/* append */
		t = cc_text(&w->seed, 1 + cc_rand(&w->seed) % 10, &len);
		r = store_content_append(st, a.ino, t, len, 0, &a);
		if (!r) {
			f->text = realloc(f->text, f->len + len + 1);
			memcpy(f->text + f->len, t, len);
			f->len += len;
		}
		free(t);
	} else if (what < 7) {	/* rename over another slot */
		struct cc_file *g = &w->f[cc_rand(&w->seed) % CC_FILES];

		if (g == f)
			return;
		r = store_rename(st, w->dir, f->name, w->dir, g->name, 0);
		if (!r) {
			free(g->text);
			g->text = f->text;
			g->len = f->len;
			f->text = NULL;
			return;
		}
	} else if (what < 8) {	/* unlink */
		r = store_unlink(st, w->dir, f->name);
		if (!r) {
			free(f->text);
			f->text = NULL;
			return;
		}
	} else if (what < 9) {	/* confidence */
		char v[8];

		snprintf(v, sizeof(v), "0.%u", cc_rand(&w->seed) % 10);
		r = store_xattr_set(st, a.ino, "user.engram.confidence", v,
				    strlen(v), 0);
	} else {
		cc_check_read(w, f, a.ino);
		return;
	}
	if (r)
		cc_fail(w->cc, "writer %d: op %u on %s: %s", w->id, what,
			f->name, strerror(-r));
	else
		w->cc->commits++;
}

static void *cc_writer_main(void *arg)
{
	struct cc_writer *w = arg;

	for (int i = 0; i < w->cc->rounds * 3; i++)
		cc_write_one(w);
	return NULL;
}

struct cc_thread {
	struct cc *cc;
	int id;
};

static const char *const cc_cues[] = {
	"coffee alice station", "bike chain?mode=episodic",
	"river garden?mode=blended&limit=20", "lunch report?mode=semantic",
	"budget rain?format=json", "piano letter?limit=3&min_confidence=0.1",
	"harbour lantern orchard?budget=300",
};

static void cc_recall_one(struct cc *cc, const char *cue)
{
	static const struct store_caller root = { 0, 0, NULL, 0 };
	struct store_query q;
	struct store_results res;
	char why[128], *out = NULL;
	size_t len = 0;
	int r = store_query_parse_name(cue, strlen(cue), &q, why, sizeof(why));

	if (r) {
		cc_fail(cc, "parse '%s': %s", cue, why);
		return;
	}
	r = store_recall(cc->st, &q, &root, &res);
	if (r) {
		cc_fail(cc, "recall '%s': %s", cue, strerror(-r));
		store_query_release(&q);
		return;
	}
	for (size_t i = 0; i < res.n; i++) {
		if (!(res.v[i].score >= 0 && res.v[i].score <= 1) ||
		    !res.v[i].name || !*res.v[i].name)
			cc_fail(cc, "recall '%s': result %zu: score %f name %s",
				cue, i, res.v[i].score, res.v[i].name);
	}
	r = store_results_format(&res, &q, "/mnt", &out, &len);
	if (r)
		cc_fail(cc, "format '%s': %s", cue, strerror(-r));
	cc->recalls++;
	cc->results += (long)res.n;
	free(out);
	store_results_release(&res);
	store_query_release(&q);
}

static void *cc_recaller_main(void *arg)
{
	struct cc_thread *t = arg;
	size_t n = sizeof(cc_cues) / sizeof(*cc_cues);

	/* At least ROUNDS recalls, and on until the writers are done. */
	for (int i = 0; i < t->cc->rounds || !t->cc->stop; i++)
		cc_recall_one(t->cc, cc_cues[(size_t)(i + t->id) % n]);
	return NULL;
}

static void *cc_flagger_main(void *arg)
{
	struct cc_thread *t = arg;
	static const struct {
		enum store_flag_id id;
		const char *v[3];
	} set[] = {
		{ FLAG_FAN_EFFECT, { "0", "1", "1" } },
		{ FLAG_BLENDED_RECALL, { "1", "0", "1" } },
		{ FLAG_RECALL_DEFAULT_LIMIT, { "5", "10", "20" } },
		{ FLAG_BR_COHORT_SAMPLING_RATE, { "0.5", "1", "0" } },
		{ FLAG_RECALL_MAX_DEPTH, { "1", "2", "3" } },
	};
	char why[128];

	for (int i = 0; i < t->cc->rounds; i++) {
		size_t k = (size_t)i % (sizeof(set) / sizeof(*set));
		const char *v = set[k].v[(i / 5) % 3];
		double got;
		int r = store_flag_set(t->cc->st, set[k].id, v, strlen(v), 0,
				       "write", why, sizeof(why));

		if (r)
			cc_fail(t->cc, "flag set %s=%s: %s",
				store_flag_def(set[k].id)->name, v, why);
		got = store_flag_get(t->cc->st, set[k].id);
		if (got != strtod(v, NULL))
			cc_fail(t->cc, "flag %s: set %s, read %g (only this "
				"thread sets it)",
				store_flag_def(set[k].id)->name, v, got);
		t->cc->flagsets++;
	}
	return NULL;
}

static void *cc_consolidator_main(void *arg)
{
	struct cc_thread *t = arg;

	while (!t->cc->stop) {
		struct store_consolidation rep;
		int r = store_consolidate(t->cc->st, &rep);

		if (r)
			cc_fail(t->cc, "consolidate: %s", strerror(-r));
		t->cc->consolidations++;
	}
	return NULL;
}

static int cc_render_concept(void *ctx, const struct store_concept *c)
{
	static const struct store_caller root = { 0, 0, NULL, 0 };
	struct cc *cc = ctx;
	char *out = NULL;
	size_t len = 0;
	int r = store_concept_render(cc->st, c->id, &root, &out, &len);

	/* A concept may dissolve between the listing and the render. */
	if (r && r != -ENOENT)
		cc_fail(cc, "render concept %s: %s", c->label, strerror(-r));
	free(out);
	return 0;
}

static void *cc_observer_main(void *arg)
{
	struct cc_thread *t = arg;

	while (!t->cc->stop) {
		struct store_counts c;
		char *out = NULL;
		size_t len = 0;

		store_counts(t->cc->st, &c);
		if (c.indexed > c.episodes)
			cc_fail(t->cc, "counts: %" PRIu64 " indexed of %" PRIu64
				" episodes", c.indexed, c.episodes);
		if (store_status_render(t->cc->st, NULL, NULL, &out, &len))
			cc_fail(t->cc, "status render failed");
		free(out);
		out = NULL;
		if (store_metrics_render(t->cc->st, &out, &len))
			cc_fail(t->cc, "metrics render failed");
		free(out);
		out = NULL;
		if (store_flag_history(t->cc->st, &out, &len))
			cc_fail(t->cc, "flag history failed");
		free(out);
		if (store_concept_list(t->cc->st, NULL, cc_render_concept,
				       t->cc))
			cc_fail(t->cc, "concept list failed");
	}
	return NULL;
}

/* After the threads: each writer's folder is its model. */
static void cc_check_writer(struct cc_writer *w)
{
	struct store_attr a;

	for (int i = 0; i < CC_FILES; i++) {
		struct cc_file *f = &w->f[i];
		int r = store_lookup(w->cc->st, w->dir, f->name, &a);

		if (!f->text) {
			assert_int_equal(r, -ENOENT);
			continue;
		}
		assert_int_equal(r, 0);
		cc_check_read(w, f, a.ino);
	}
	assert_int_equal(w->cc->failures, 0);
}

static int cc_count(void *ctx, const char *name, const struct store_attr *a)
{
	(void)name;
	(void)a;
	++*(size_t *)ctx;
	return 0;
}

static void cc_check_store(struct cc *cc, struct cc_writer *w)
{
	struct store_counts c;
	size_t total = 0;

	for (int i = 0; i < CC_WRITERS; i++) {
		size_t n = 0, want = 0;

		cc_check_writer(&w[i]);
		assert_int_equal(store_readdir(cc->st, w[i].dir, NULL, cc_count,
					       &n),
				 0);
		for (int k = 0; k < CC_FILES; k++)
			want += w[i].f[k].text != NULL;
		assert_int_equal(n, want);
		total += n;
	}
	store_counts(cc->st, &c);
	assert_int_equal(c.episodes, total);
	assert_int_equal(c.folders, CC_WRITERS);
	assert_int_equal(c.indexed, total);
#ifdef CC_HAVE_VERIFY
	{
		char *report = NULL;
		size_t len = 0;
		int r = store_verify(cc->st, &report, &len);

		if (r)
			fail_msg("store_verify: %d problems:\n%.*s", r, (int)len,
				 report ? report : "");
		free(report);
	}
#endif
}

static void cc_free_writers(struct cc_writer *w)
{
	for (int i = 0; i < CC_WRITERS; i++)
		for (int k = 0; k < CC_FILES; k++) {
			free(w[i].f[k].text);
			w[i].f[k].text = NULL;
		}
}

static void test_threads_on_one_store(void **state)
{
	struct cc cc = { .st = *state };
	struct cc_writer w[CC_WRITERS];
	struct cc_thread rt[CC_RECALLERS], ft = { &cc, 0 }, ct = { &cc, 0 },
		ot = { &cc, 0 };
	pthread_t tw[CC_WRITERS], tr[CC_RECALLERS], tf, tc, to;
	const char *env = getenv("CONC_ROUNDS");
	char why[128];

	/* Under valgrind (run-all.sh exports VALGRIND=1) threads run one at a
	 * time, 50 times slower: fewer rounds, the same interleavings kinds. */
	cc.rounds = env ? atoi(env) : getenv("VALGRIND") ? 12 : 150;
	assert_int_equal(store_flag_set(cc.st, FLAG_DUAL_MEMORY_TYPES, "1", 1, 0,
					"write", why, sizeof(why)),
			 0);
	assert_int_equal(store_flag_set(cc.st, FLAG_CONS_MIN_CLUSTER_SIZE, "2",
					1, 0, "write", why, sizeof(why)),
			 0);
	for (int i = 0; i < CC_WRITERS; i++) {
		struct store_attr a;
		char name[16];

		memset(&w[i], 0, sizeof(w[i]));
		w[i].cc = &cc;
		w[i].id = i;
		w[i].seed = 17u * (unsigned)i + 1;
		snprintf(name, sizeof(name), "w%d", i);
		assert_int_equal(store_create(cc.st, STORE_ROOT_INO, name,
					      S_IFDIR | 0755, 0, 0, &a),
				 0);
		w[i].dir = a.ino;
		for (int k = 0; k < CC_FILES; k++)
			snprintf(w[i].f[k].name, sizeof(w[i].f[k].name), "e%d",
				 k);
	}
	for (int i = 0; i < CC_WRITERS; i++)
		assert_int_equal(pthread_create(&tw[i], NULL, cc_writer_main,
						&w[i]),
				 0);
	for (int i = 0; i < CC_RECALLERS; i++) {
		rt[i] = (struct cc_thread){ &cc, i };
		assert_int_equal(pthread_create(&tr[i], NULL, cc_recaller_main,
						&rt[i]),
				 0);
	}
	assert_int_equal(pthread_create(&tf, NULL, cc_flagger_main, &ft), 0);
	assert_int_equal(pthread_create(&tc, NULL, cc_consolidator_main, &ct),
			 0);
	assert_int_equal(pthread_create(&to, NULL, cc_observer_main, &ot), 0);
	for (int i = 0; i < CC_WRITERS; i++)
		pthread_join(tw[i], NULL);
	pthread_join(tf, NULL);
	cc.stop = true;
	for (int i = 0; i < CC_RECALLERS; i++)
		pthread_join(tr[i], NULL);
	pthread_join(tc, NULL);
	pthread_join(to, NULL);
	fprintf(stderr, "concurrency: %ld commits, %ld recalls (%ld results), "
		"%ld flag sets, %ld consolidations, %d failures\n", cc.commits,
		cc.recalls, cc.results, cc.flagsets, cc.consolidations,
		cc.failures);
	if (cc.failures) {
		/* The models go first: a failed test must not add leaks to
		 * its report under LeakSanitizer or valgrind. */
		cc_free_writers(w);
		fail_msg("%d failures (above)", cc.failures);
	}
	assert_true(cc.consolidations > 0);
	assert_true(cc.results > 0);	/* recall ran on a store with content */
	cc_check_store(&cc, w);
	/* The same after a reopen: what the threads saw was persisted. */
	cc.st = harness_reopen(cc.st);
	*state = cc.st;
	for (int i = 0; i < CC_WRITERS; i++)
		w[i].cc = &cc;
	cc_check_store(&cc, w);
	cc_free_writers(w);
}

/* Background consolidation (the store's own thread) alongside commits,
 * started and stopped while writers run. */
static void test_background_thread_with_writers(void **state)
{
	struct store *st = *state;
	struct cc cc = { .st = st, .rounds = getenv("VALGRIND") ? 8 : 60 };
	struct cc_writer w = { .cc = &cc, .id = 0, .seed = 99 };
	struct store_attr a;
	char why[128];
	pthread_t t;

	assert_int_equal(store_flag_set(st, FLAG_CONS_INTERVAL_S, "1", 1, 0,
					"write", why, sizeof(why)),
			 0);
	assert_int_equal(store_create(st, STORE_ROOT_INO, "bg", S_IFDIR | 0755,
				      0, 0, &a),
			 0);
	w.dir = a.ino;
	for (int k = 0; k < CC_FILES; k++)
		snprintf(w.f[k].name, sizeof(w.f[k].name), "e%d", k);
	assert_int_equal(store_background_start(st), 0);
	assert_int_equal(pthread_create(&t, NULL, cc_writer_main, &w), 0);
	pthread_join(t, NULL);
	store_background_stop(st);
	assert_int_equal(cc.failures, 0);
	for (int k = 0; k < CC_FILES; k++) {
		if (w.f[k].text) {
			assert_int_equal(store_lookup(st, w.dir, w.f[k].name, &a),
					 0);
			cc_check_read(&w, &w.f[k], a.ino);
		}
		free(w.f[k].text);
	}
	assert_int_equal(cc.failures, 0);
}


/* Recall while the episodes it finds come and go: a recall that finds an
 * episode which is then forgotten must answer without it, not fail. */
struct cc_churn {
	struct cc *cc;
	uint64_t dir;
	int id;
};

static void *cc_churn_main(void *arg)
{
	struct cc_churn *c = arg;
	static const char text[] = "churn churn word of a fleeting episode";
	struct store_attr a;
	char name[32];

	for (int i = 0; i < c->cc->rounds * 4; i++) {
		snprintf(name, sizeof(name), "c%d-%d", c->id, i % 8);
		if (store_create(c->cc->st, c->dir, name, S_IFREG | 0644, 0, 0,
				 &a) == 0 &&
		    store_content_write(c->cc->st, a.ino, text,
					sizeof(text) - 1, 0, &a) == 0)
			c->cc->commits++;
		if (i % 2 == 0)
			store_rename(c->cc->st, c->dir, name, c->dir, "moved", 0);
		else
			store_unlink(c->cc->st, c->dir, name);
	}
	return NULL;
}

static void *cc_churn_recall_main(void *arg)
{
	struct cc_thread *t = arg;

	while (!t->cc->stop)
		cc_recall_one(t->cc, t->id ? "churn fleeting?mode=blended"
					   : "churn word");
	return NULL;
}

static void test_recall_races_with_unlink_and_rename(void **state)
{
	struct cc cc = { .st = *state };
	struct cc_churn ch[2];
	struct cc_thread rt[2] = { { &cc, 0 }, { &cc, 1 } };
	pthread_t tc[2], tr[2];
	struct store_attr a;

	cc.rounds = getenv("VALGRIND") ? 20 : 400;
	assert_int_equal(store_create(cc.st, STORE_ROOT_INO, "churn",
				      S_IFDIR | 0755, 0, 0, &a),
			 0);
	for (int i = 0; i < 2; i++) {
		ch[i] = (struct cc_churn){ &cc, a.ino, i };
		assert_int_equal(pthread_create(&tr[i], NULL,
						cc_churn_recall_main, &rt[i]),
				 0);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&tc[i], NULL, cc_churn_main,
						&ch[i]),
				 0);
	for (int i = 0; i < 2; i++)
		pthread_join(tc[i], NULL);
	cc.stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(tr[i], NULL);
	fprintf(stderr, "concurrency: churn: %ld commits, %ld recalls (%ld "
		"results), %d failures\n", cc.commits, cc.recalls, cc.results,
		cc.failures);
	assert_int_equal(cc.failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)
		T(test_threads_on_one_store),
		T(test_background_thread_with_writers),
		T(test_recall_races_with_unlink_and_rename),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
