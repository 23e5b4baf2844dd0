/*
 * test_consolidate.c - consolidation runs: concepts form from three or
 * more similar episodes and not from fewer or unrelated ones; bindings
 * in both directions; forgetting and changing members; dissolving;
 * incremental runs that read only what changed; recall-side reads during
 * a run; persistence; the dual_memory_types switch; the background
 * thread, the change hook and a failed write.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "concept_i.h"

static const char *const coffee[] = {
	"Met Alice for coffee at the station before the train",
	"Coffee with Alice at the station cafe this morning",
	"Alice bought coffee at the station kiosk, the coffee was cold",
	"Alice and I drank coffee near the station after work",
};

static const char *const unrelated[] = {
	"Quarterly budget review with the finance team",
	"Planted tomatoes and basil in the garden",
	"Fixed the flat tyre on the old bicycle",
	"Read a novel about sailors lost in the arctic",
	"The dentist appointment moved to Thursday",
};

static uint64_t put(struct store *st, const char *name, const char *text)
{
	struct store_attr a;
	int rc = store_lookup(st, STORE_ROOT_INO, name, &a);

	if (rc == -ENOENT)
		assert_int_equal(store_create(st, STORE_ROOT_INO, name,
					      S_IFREG | 0644, 1000, 1000, &a),
				 0);
	assert_int_equal(store_content_write(st, a.ino, text, strlen(text), 0,
					     &a),
			 0);
	return a.ino;
}

static struct store_consolidation run(struct store *st)
{
	struct store_consolidation rep;

	memset(&rep, 0xff, sizeof(rep));
	assert_int_equal(store_consolidate(st, &rep), 0);
	return rep;
}

static void set_flag(struct store *st, enum store_flag_id id,
		     const char *value)
{
	char why[128];

	assert_int_equal(store_flag_set(st, id, value, strlen(value), 0,
					"write", why, sizeof(why)),
			 0);
}

static uint64_t concepts_now(struct store *st)
{
	struct concept_stats cs;

	concept_stats(st, &cs);
	return cs.concepts;
}

/* The one concept INO is bound to, or 0; checks both directions. */
static uint64_t bound_to(struct store *st, uint64_t ino)
{
	struct binding *e = NULL, *c = NULL;
	size_t ne = 0, nc = 0;
	uint64_t cid = 0;
	bool seen = false;

	assert_int_equal(episode_bindings(st, ino, &e, &ne), 0);
	assert_true(ne <= 1);
	if (ne) {
		cid = e[0].id;
		assert_true(e[0].strength > 0 && e[0].strength <= 1);
		assert_int_equal(concept_members(st, cid, &c, &nc), 0);
		for (size_t i = 0; i < nc; i++)
			if (c[i].id == ino) {
				seen = true;
				assert_true(c[i].strength == e[0].strength);
			}
		assert_true(seen);
	}
	free(e);
	free(c);
	return cid;
}

static size_t members_of(struct store *st, uint64_t cid)
{
	struct binding *m = NULL;
	size_t n = 0;

	assert_int_equal(concept_members(st, cid, &m, &n), 0);
	for (size_t i = 1; i < n; i++)
		assert_true(m[i - 1].strength >= m[i].strength);
	free(m);
	return n;
}

static void test_forms_from_three_similar(void **state)
{
	struct store *st = *state;
	uint64_t c[3], u[2], cid;
	struct store_consolidation rep;
	struct concept_hit info;

	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "coffee-%d", i);
		c[i] = put(st, name, coffee[i]);
	}
	u[0] = put(st, "budget", unrelated[0]);
	u[1] = put(st, "garden", unrelated[1]);
	rep = run(st);
	assert_int_equal(rep.episodes_seen, 5);
	assert_int_equal(rep.concepts_formed, 1);
	assert_int_equal(rep.concepts_dissolved, 0);
	assert_int_equal(rep.bindings_created, 3);
	assert_true(rep.seconds >= 0);
	cid = bound_to(st, c[0]);
	assert_true(cid != 0);
	assert_int_equal(bound_to(st, c[1]), cid);
	assert_int_equal(bound_to(st, c[2]), cid);
	assert_int_equal(bound_to(st, u[0]), 0);
	assert_int_equal(bound_to(st, u[1]), 0);
	assert_int_equal(members_of(st, cid), 3);
	assert_int_equal(concept_info(st, cid, &info), 0);
	assert_int_equal(info.members, 3);
	assert_true(info.coherence >= 0.35 && info.coherence <= 1);
}

static void test_not_from_two(void **state)
{
	struct store *st = *state;

	put(st, "coffee-0", coffee[0]);
	put(st, "coffee-1", coffee[1]);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "other-%d", i);
		put(st, name, unrelated[i]);
	}
	assert_int_equal(run(st).concepts_formed, 0);
	assert_int_equal(concepts_now(st), 0);
}

static void test_not_from_unrelated(void **state)
{
	struct store *st = *state;

	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "other-%d", i);
		put(st, name, unrelated[i]);
	}
	assert_int_equal(run(st).concepts_formed, 0);
	assert_int_equal(concepts_now(st), 0);
}

static void test_min_cluster_size_flag(void **state)
{
	struct store *st = *state;

	set_flag(st, FLAG_CONS_MIN_CLUSTER_SIZE, "2");
	put(st, "coffee-0", coffee[0]);
	put(st, "coffee-1", coffee[1]);
	put(st, "budget", unrelated[0]);
	assert_int_equal(run(st).concepts_formed, 1);
}

/* Three coffee episodes and two others, consolidated; the concept id. */
static uint64_t form(struct store *st, uint64_t *c, size_t nc)
{
	uint64_t cid;

	for (size_t i = 0; i < nc; i++) {
		char name[16];

		snprintf(name, sizeof(name), "coffee-%zu", i);
		c[i] = put(st, name, coffee[i]);
	}
	put(st, "budget", unrelated[0]);
	put(st, "garden", unrelated[1]);
	assert_int_equal(run(st).concepts_formed, 1);
	cid = bound_to(st, c[0]);
	assert_true(cid != 0);
	return cid;
}

static void test_rm_drops_bindings_at_once(void **state)
{
	struct store *st = *state;
	uint64_t c[4], cid = form(st, c, 4);
	struct store_consolidation rep;
	struct concept_hit info;

	assert_int_equal(members_of(st, cid), 4);
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "coffee-0"), 0);
	/* Before any run: the bindings are gone in both directions. */
	assert_int_equal(bound_to(st, c[0]), 0);
	assert_int_equal(members_of(st, cid), 3);
	/* rename over a member forgets the replaced one at once too */
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "budget",
				      STORE_ROOT_INO, "coffee-1", 0),
			 0);
	assert_int_equal(bound_to(st, c[1]), 0);
	assert_int_equal(members_of(st, cid), 2);
	rep = run(st);
	assert_int_equal(rep.episodes_seen, 2);
	assert_int_equal(rep.concepts_dissolved, 0);
	assert_int_equal(concept_info(st, cid, &info), 0);
	assert_int_equal(info.members, 2);
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "coffee-2"), 0);
	rep = run(st);
	assert_int_equal(rep.concepts_dissolved, 1);
	assert_int_equal(concept_info(st, cid, &info), -ENOENT);
	assert_int_equal(bound_to(st, c[3]), 0);
	assert_int_equal(members_of(st, cid), 0);
}

static void test_change_reevaluates(void **state)
{
	struct store *st = *state;
	uint64_t c[4], cid = form(st, c, 4), garden;
	struct store_attr a;
	struct store_consolidation rep;

	put(st, "coffee-3", "Repotted the fern and watered the orchids");
	rep = run(st);
	assert_int_equal(rep.episodes_seen, 1);
	assert_int_equal(rep.concepts_updated, 1);
	assert_int_equal(bound_to(st, c[3]), 0);
	assert_int_equal(members_of(st, cid), 3);
	/* An unrelated episode rewritten to fit joins the concept. */
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "garden", &a), 0);
	garden = put(st, "garden", coffee[3]);
	assert_int_equal(garden, a.ino);
	rep = run(st);
	assert_int_equal(rep.bindings_created, 1);
	assert_int_equal(bound_to(st, garden), cid);
	assert_int_equal(members_of(st, cid), 4);
}

static void test_dissolves_when_incoherent(void **state)
{
	struct store *st = *state;
	uint64_t c[3], cid = form(st, c, 3);
	char *label;
	struct store_concept sc;
	struct store_consolidation rep;

	assert_int_equal(concept_label(st, cid, &label), 0);
	put(st, "coffee-1", "Repotted the fern and watered the orchids");
	put(st, "coffee-2", "Renewed the passport at the town hall");
	rep = run(st);
	assert_int_equal(rep.concepts_dissolved, 1);
	assert_int_equal(concepts_now(st), 0);
	assert_int_equal(bound_to(st, c[0]), 0);
	assert_int_equal(store_concept_lookup(st, label, &sc), -ENOENT);
	free(label);
}

static void test_dissolves_below_min_coherence(void **state)
{
	struct store *st = *state;
	uint64_t c[4], cid = form(st, c, 4);
	struct concept_hit info;

	assert_int_equal(concept_info(st, cid, &info), 0);
	assert_true(info.coherence < 0.95);
	set_flag(st, FLAG_CONS_MIN_COHERENCE, "0.95");
	/* a change of one member makes the run look at the concept */
	put(st, "coffee-3", "Alice and I drank coffee near the station today");
	assert_int_equal(run(st).concepts_dissolved, 1);
	assert_int_equal(concept_info(st, cid, &info), -ENOENT);
	for (int i = 0; i < 4; i++)
		assert_int_equal(bound_to(st, c[i]), 0);
}

static void test_incremental_second_run_does_nothing(void **state)
{
	struct store *st = *state;
	uint64_t c[3];
	struct concept_stats before, after;
	struct store_consolidation rep;

	form(st, c, 3);
	concept_stats(st, &before);
	rep = run(st);
	concept_stats(st, &after);
	assert_int_equal(rep.episodes_seen, 0);
	assert_int_equal(rep.concepts_formed, 0);
	assert_int_equal(rep.concepts_updated, 0);
	assert_int_equal(rep.bindings_created, 0);
	assert_int_equal(after.analysed_total, before.analysed_total);
}

static void test_cost_grows_with_dirty_only(void **state)
{
	struct store *st = *state;
	struct concept_stats before, after;
	struct store_consolidation rep;
	struct store_attr in = { 0 }, out;
	uint64_t ino[40];

	for (int i = 0; i < 40; i++) {
		char name[16], text[96];

		snprintf(name, sizeof(name), "e%d", i);
		snprintf(text, sizeof(text), "%s number %d",
			 i % 2 ? coffee[i % 4] : unrelated[i % 5], i);
		ino[i] = put(st, name, text);
	}
	assert_int_equal(run(st).episodes_seen, 40);
	concept_stats(st, &before);
	put(st, "e3", "An entirely new thought about kites");
	put(st, "e4", "Another one about mountain huts");
	rep = run(st);
	concept_stats(st, &after);
	assert_int_equal(rep.episodes_seen, 2);
	assert_int_equal(after.analysed_total - before.analysed_total, 2);
	/* touch -d: the episode is looked at, its vector stays */
	in.mtime.tv_sec = 1700000000;
	assert_int_equal(store_setattr(st, ino[5], &in, STORE_SET_MTIME, &out),
			 0);
	rep = run(st);
	assert_int_equal(rep.episodes_seen, 1);
	assert_int_equal(rep.concepts_updated + rep.concepts_formed +
				 rep.concepts_dissolved,
			 0);
}

static void test_hidden_names_not_consolidated(void **state)
{
	struct store *st = *state;
	uint64_t c[3];

	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), ".swap-%d", i);
		c[i] = put(st, name, coffee[i]);
	}
	assert_int_equal(run(st).concepts_formed, 0);
	/* un-hiding them makes them count */
	for (int i = 0; i < 3; i++) {
		char from[16], to[16];

		snprintf(from, sizeof(from), ".swap-%d", i);
		snprintf(to, sizeof(to), "plain-%d", i);
		assert_int_equal(store_rename(st, STORE_ROOT_INO, from,
					      STORE_ROOT_INO, to, 0),
				 0);
	}
	assert_int_equal(run(st).concepts_formed, 1);
	assert_true(bound_to(st, c[0]) != 0);
	/* and hiding one again takes it out */
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "plain-0",
				      STORE_ROOT_INO, ".hidden", 0),
			 0);
	run(st);
	assert_int_equal(bound_to(st, c[0]), 0);
}

/* ---- recall-side readers during runs -------------------------------- */

struct reader_ctx {
	struct store *st;
	atomic_bool stop;
	atomic_long rounds;
};

static int reader_list(void *ctx, const struct store_concept *c)
{
	char *text;
	size_t len;

	if (store_concept_render(ctx, c->id, NULL, &text, &len) == 0)
		free(text);
	return 0;
}

static void *reader_main(void *arg)
{
	struct reader_ctx *x = arg;
	struct text_terms t;

	assert_int_equal(text_analyze("coffee alice station", 20, &t), 0);
	while (!x->stop) {
		struct concept_hit *h = NULL;
		size_t n = 0;

		if (concept_match(x->st, &t, 8, 0, &h, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				struct binding *m = NULL;
				size_t nm = 0;
				char *label;

				if (concept_members(x->st, h[i].id, &m, &nm) ==
				    0)
					free(m);
				if (concept_label(x->st, h[i].id, &label) == 0)
					free(label);
			}
			free(h);
		}
		store_concept_list(x->st, NULL, reader_list, x->st);
		x->rounds++;
	}
	text_terms_release(&t);
	return NULL;
}

static void test_reads_during_runs(void **state)
{
	struct store *st = *state;
	struct reader_ctx x = { .st = st };
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader_main, &x),
				 0);
	for (int round = 0; round < 12; round++) {
		for (int i = 0; i < 8; i++) {
			char name[24], text[128];

			snprintf(name, sizeof(name), "r%d-%d", round, i % 5);
			snprintf(text, sizeof(text), "%s %d",
				 i < 4 ? coffee[(round + i) % 4]
				       : unrelated[(round + i) % 5],
				 round);
			put(st, name, text);
		}
		if (round % 3 == 2)
			store_unlink(st, STORE_ROOT_INO, "r0-1");
		run(st);
	}
	/* On a loaded machine (or under valgrind) the readers may not have
	 * been scheduled yet: let them finish a round before stopping. */
	for (int ms = 0; x.rounds == 0 && ms < 60000; ms++)
		usleep(1000);
	x.stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(x.rounds > 0);
	assert_true(concepts_now(st) > 0);
}

/* ---- persistence, switches, background ------------------------------ */

static void test_persists_across_reopen(void **state)
{
	struct store *st = *state;
	uint64_t c[3], cid = form(st, c, 3), joiner;
	struct store_consolidation rep;
	struct concept_hit info;

	st = harness_reopen(st);
	*state = st;
	assert_int_equal(concept_info(st, cid, &info), 0);
	assert_int_equal(info.members, 3);
	assert_int_equal(bound_to(st, c[1]), cid);
	assert_int_equal(run(st).episodes_seen, 0);
	joiner = put(st, "coffee-3", coffee[3]);
	rep = run(st);
	assert_int_equal(rep.concepts_formed, 0);
	assert_int_equal(rep.concepts_updated, 1);
	assert_int_equal(bound_to(st, joiner), cid);
}

static void test_dual_memory_off_does_nothing(void **state)
{
	struct store *st = *state;
	struct store_consolidation rep;

	set_flag(st, FLAG_DUAL_MEMORY_TYPES, "0");
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "coffee-%d", i);
		put(st, name, coffee[i]);
	}
	memset(&rep, 0xff, sizeof(rep));
	assert_int_equal(store_consolidate(st, &rep), 0);
	assert_int_equal(rep.episodes_seen, 0);
	assert_int_equal(rep.concepts_formed, 0);
	assert_true(rep.seconds == 0);
	assert_int_equal(concepts_now(st), 0);
	/* the changes were remembered: switching on consolidates them */
	set_flag(st, FLAG_DUAL_MEMORY_TYPES, "1");
	rep = run(st);
	assert_int_equal(rep.episodes_seen, 3);
	assert_int_equal(rep.concepts_formed, 1);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_background_runs_and_stops_fast(void **state)
{
	struct store *st = *state;
	double t0;

	set_flag(st, FLAG_CONS_INTERVAL_S, "1");
	assert_int_equal(store_background_start(st), 0);
	assert_int_equal(store_background_start(st), 0);	/* idempotent */
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "coffee-%d", i);
		put(st, name, coffee[i]);
	}
	t0 = mono_s();
	while (concepts_now(st) == 0 && mono_s() - t0 < 10)
		usleep(20000);
	assert_int_equal(concepts_now(st), 1);
	t0 = mono_s();
	store_background_stop(st);
	assert_true(mono_s() - t0 < 1.5);
	store_background_stop(st);	/* idempotent */
}

struct hook_log {
	int concept, dir, xattr;
	uint64_t last_concept;
};

static void hook(void *ctx, enum store_change what, uint64_t id)
{
	struct hook_log *h = ctx;

	if (what == STORE_CHANGE_CONCEPT) {
		h->concept++;
		h->last_concept = id;
	} else if (what == STORE_CHANGE_CONCEPTS_DIR) {
		h->dir++;
	} else {
		h->xattr++;
	}
}

static void test_change_hook(void **state)
{
	struct store *st = *state;
	struct hook_log h = { 0 };
	uint64_t c[3], cid;

	store_change_hook(st, hook, &h);
	cid = form(st, c, 3);
	assert_int_equal(h.concept, 1);
	assert_int_equal(h.last_concept, cid);
	assert_int_equal(h.dir, 1);
	assert_int_equal(h.xattr, 3);
	memset(&h, 0, sizeof(h));
	run(st);	/* nothing changed, nothing told */
	assert_int_equal(h.concept + h.dir + h.xattr, 0);
	store_change_hook(st, NULL, NULL);
}

static void test_failed_write_changes_nothing(void **state)
{
	struct store *st = *state;
	struct concept_stats before, after;
	struct store_consolidation rep = { 0 };

	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "coffee-%d", i);
		put(st, name, coffee[i]);
	}
	concept_stats(st, &before);
	db_fault_write(st, 1, ENOSPC);
	assert_int_equal(store_consolidate(st, &rep), -ENOSPC);
	db_fault_write(st, 0, 0);
	concept_stats(st, &after);
	assert_int_equal(after.failures_total, before.failures_total + 1);
	assert_int_equal(after.concepts, 0);
	assert_int_equal(rep.episodes_seen, 0);	/* untouched on failure */
	rep = run(st);
	assert_int_equal(rep.episodes_seen, 3);
	assert_int_equal(rep.concepts_formed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)
		T(test_forms_from_three_similar),
		T(test_not_from_two),
		T(test_not_from_unrelated),
		T(test_min_cluster_size_flag),
		T(test_rm_drops_bindings_at_once),
		T(test_change_reevaluates),
		T(test_dissolves_when_incoherent),
		T(test_dissolves_below_min_coherence),
		T(test_incremental_second_run_does_nothing),
		T(test_cost_grows_with_dirty_only),
		T(test_hidden_names_not_consolidated),
		T(test_reads_during_runs),
		T(test_persists_across_reopen),
		T(test_dual_memory_off_does_nothing),
		T(test_background_runs_and_stops_fast),
		T(test_change_hook),
		T(test_failed_write_changes_nothing),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
