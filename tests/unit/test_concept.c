/*
 * test_concept.c - what concept.c keeps and answers: its hash maps, label
 * words and uniqueness, the concept file, user.engram.concepts text, the
 * list and lookup of concepts, matching a cue against centroids, and the
 * cache after a reopen.
 */
#include <errno.h>
#include <sys/stat.h>

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
};

static uint64_t put_in(struct store *st, uint64_t dir, const char *name,
		       const char *text, uint32_t mode, uint32_t uid)
{
	struct store_attr a;

	assert_int_equal(store_create(st, dir, name, S_IFREG | mode, uid, uid,
				      &a),
			 0);
	assert_int_equal(store_content_write(st, a.ino, text, strlen(text), 0,
					     &a),
			 0);
	return a.ino;
}

static uint64_t put(struct store *st, const char *name, const char *text)
{
	return put_in(st, STORE_ROOT_INO, name, text, 0644, 1000);
}

static void set_flag(struct store *st, enum store_flag_id id,
		     const char *value)
{
	char why[128];

	assert_int_equal(store_flag_set(st, id, value, strlen(value), 0,
					"write", why, sizeof(why)),
			 0);
}

static void consolidate(struct store *st)
{
	struct store_consolidation rep;

	assert_int_equal(store_consolidate(st, &rep), 0);
}

/* The coffee concept (three members) and two unrelated episodes. */
static uint64_t coffee_concept(struct store *st, uint64_t *members)
{
	struct binding *b = NULL;
	size_t n = 0;
	uint64_t cid;

	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "coffee-%d", i);
		members[i] = put(st, name, coffee[i]);
	}
	put(st, "budget", unrelated[0]);
	put(st, "garden", unrelated[1]);
	consolidate(st);
	assert_int_equal(episode_bindings(st, members[0], &b, &n), 0);
	assert_int_equal(n, 1);
	cid = b[0].id;
	free(b);
	return cid;
}

/* ---- maps ------------------------------------------------------------ */

static void test_map_put_get_del(void **state)
{
	struct concept_map m;

	assert_int_equal(concept_map_init(&m, 4), 0);
	for (uint64_t k = 1; k <= 5000; k++)
		*concept_map_put(&m, k * 7919) = k;
	assert_int_equal(m.n, 5000);
	for (uint64_t k = 1; k <= 5000; k += 2)
		concept_map_del(&m, k * 7919);
	assert_int_equal(m.n, 2500);
	for (uint64_t k = 1; k <= 5000; k++) {
		uint64_t *v = concept_map_get(&m, k * 7919);

		if (k % 2)
			assert_null(v);
		else
			assert_true(v && *v == k);
	}
	concept_map_del(&m, 12345);	/* absent: nothing happens */
	concept_map_clear(&m);
	assert_int_equal(m.n, 0);
	assert_null(concept_map_get(&m, 2 * 7919));
	concept_map_free(&m);
}

static void test_tab_interns(void **state)
{
	struct concept_tab t = { 0 };
	uint32_t a, b, c;
	char buf[16];

	assert_int_equal(concept_tab_find(&t, "coffe", 5), -1);
	assert_int_equal(concept_tab_add(&t, "coffe", 5, &a), 0);
	assert_int_equal(concept_tab_add(&t, "coffee", 5, &b), 0);
	assert_int_equal(a, b);
	assert_int_equal(concept_tab_add(&t, "alic", 4, &c), 0);
	assert_int_not_equal(a, c);
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "t%d", i);
		assert_int_equal(concept_tab_add(&t, buf, strlen(buf), &b), 0);
	}
	assert_int_equal(concept_tab_find(&t, "coffe", 5), (long)a);
	assert_int_equal(concept_tab_find(&t, "t999", 4), (long)b);
	assert_string_equal(t.s[c], "alic");
	concept_tab_free(&t);
}

/* ---- labels ----------------------------------------------------------- */

static void test_label_base(void **state)
{
	char *w1[] = { (char *)"coffee", (char *)"alice", (char *)"station" };
	char *w2[] = { (char *)"caf\xc3\xa9", (char *)"", (char *)"Zug-42" };
	char *w3[] = { (char *)"\xce\xb1\xce\xb2", (char *)"!!" };
	char long_word[300], *w4[] = { long_word, long_word };
	char buf[STORE_NAME_MAX + 1];

	concept_label_base(w1, 3, buf, sizeof(buf));
	assert_string_equal(buf, "coffee-alice-station");
	concept_label_base(w2, 3, buf, sizeof(buf));
	assert_string_equal(buf, "caf-ug42");
	concept_label_base(w3, 2, buf, sizeof(buf));
	assert_string_equal(buf, "concept");
	memset(long_word, 'a', 299);
	long_word[299] = '\0';
	concept_label_base(w4, 2, buf, sizeof(buf));
	assert_true(strlen(buf) <= 200);
}

static void test_words_are_surface_forms(void **state)
{
	struct store *st = *state;
	uint64_t ino[2];
	char *stems[] = { (char *)"coffe", (char *)"alic", (char *)"station",
			  (char *)"zzzq" };
	char *words[4];

	ino[0] = put(st, "a", "Alice's COFFEE at the station; coffees!");
	ino[1] = put(st, "b", "coffee with Alice, stations and Alice");
	assert_int_equal(concept_words(st, ino, 2, stems, 4, words), 0);
	assert_string_equal(words[0], "coffee");
	assert_string_equal(words[1], "alice");
	assert_string_equal(words[2], "station");
	assert_string_equal(words[3], "zzzq");	/* no word: the stem */
	for (int i = 0; i < 4; i++)
		free(words[i]);
}

static void test_label_of_a_concept(void **state)
{
	struct store *st = *state;
	uint64_t m[3], cid = coffee_concept(st, m);
	char *label;
	struct store_concept c;

	assert_int_equal(concept_label(st, cid, &label), 0);
	assert_string_equal(label, "coffee-alice-station");
	assert_int_equal(store_concept_lookup(st, label, &c), 0);
	assert_int_equal(c.id, cid);
	assert_string_equal(c.label, label);
	assert_int_equal(c.members, 3);
	assert_true(c.coherence > 0.35 && c.coherence <= 1);
	assert_true(c.formed > 0 && c.updated >= c.formed);
	store_concept_release(&c);
	assert_int_equal(store_concept_lookup(st, "no-such-concept", &c),
			 -ENOENT);
	free(label);
}

/*
 * Two groups of identical episodes whose three heaviest terms are the
 * same and whose other five differ: the cosine of an A and a B is about
 * 0.58, so with join_similarity 0.9 the six are not one concept (each
 * would be 0.89 from their centroid) but two, and share a label base.
 */
#define GROUP_A "alpha alpha alpha alpha beta beta beta beta gamma gamma " \
		"gamma gamma delta epsilon zeta theta kappa"
#define GROUP_B "alpha alpha alpha alpha beta beta beta beta gamma gamma " \
		"gamma gamma lambda sigma omega rhombus omicron"

static void test_labels_unique(void **state)
{
	struct store *st = *state;
	const char *a = GROUP_A, *b = GROUP_B;
	char *l1, *l2;
	struct binding *v = NULL;
	size_t n = 0;
	uint64_t ia, ib, c1, c2;

	set_flag(st, FLAG_CONS_JOIN_SIMILARITY, "0.9");
	ia = put(st, "a0", a);
	put(st, "a1", a);
	put(st, "a2", a);
	ib = put(st, "b0", b);
	put(st, "b1", b);
	put(st, "b2", b);
	consolidate(st);
	assert_int_equal(episode_bindings(st, ia, &v, &n), 0);
	assert_int_equal(n, 1);
	c1 = v[0].id;
	free(v);
	assert_int_equal(episode_bindings(st, ib, &v, &n), 0);
	assert_int_equal(n, 1);
	c2 = v[0].id;
	free(v);
	assert_int_not_equal(c1, c2);
	assert_int_equal(concept_label(st, c1, &l1), 0);
	assert_int_equal(concept_label(st, c2, &l2), 0);
	assert_string_equal(l1, "alpha-beta-gamma");
	assert_string_equal(l2, "alpha-beta-gamma-2");
	free(l1);
	free(l2);
}

/* ---- the concept file and the xattr -------------------------------------- */

static void test_render(void **state)
{
	struct store *st = *state;
	uint64_t m[3], cid = coffee_concept(st, m);
	char *text, *body;
	size_t len;
	double prev = 2;
	int lines = 0;

	assert_int_equal(store_concept_render(st, cid, NULL, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_true(!strncmp(text, "label: coffee-alice-station\ncoherence: 0.",
			     40));
	assert_non_null(strstr(text, "\nmembers: 3\n"));
	assert_non_null(strstr(text, "\nformed: 20"));
	assert_non_null(strstr(text, "Z\nupdated: 20"));
	assert_non_null(strstr(text, "\nterms: coffee alice station "));
	body = strstr(text, "\n\n");
	assert_non_null(body);
	for (char *line = body + 2; *line; lines++) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		double s = strtod(line, NULL);

		assert_true(tab && nl && tab < nl);
		assert_true(!strncmp(tab + 1, "coffee-", 7));
		assert_true(s > 0 && s <= prev);
		prev = s;
		line = nl + 1;
	}
	assert_int_equal(lines, 3);
	free(text);
	assert_int_equal(store_concept_render(st, 424242, NULL, &text, &len),
			 -ENOENT);
}

static void test_render_skips_unreadable_and_gone(void **state)
{
	struct store *st = *state;
	struct store_caller other = { .uid = 2000, .gid = 2000 };
	struct store_attr in = { .mode = 0600 }, out;
	uint64_t m[3], cid = coffee_concept(st, m);
	char *text;
	size_t len;

	assert_int_equal(store_setattr(st, m[1], &in, STORE_SET_MODE, &out),
			 0);
	assert_int_equal(store_concept_render(st, cid, &other, &text, &len), 0);
	assert_null(strstr(text, "coffee-1"));
	assert_non_null(strstr(text, "coffee-0"));
	free(text);
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "coffee-2"), 0);
	assert_int_equal(store_concept_render(st, cid, NULL, &text, &len), 0);
	assert_null(strstr(text, "coffee-2"));
	assert_non_null(strstr(text, "\nmembers: 2\n"));
	free(text);
}

static void test_member_paths_are_relative(void **state)
{
	struct store *st = *state;
	struct store_attr dir;
	char *text;
	size_t len;
	uint64_t cid;
	struct binding *b = NULL;
	size_t n = 0;
	uint64_t first;

	assert_int_equal(store_create(st, STORE_ROOT_INO, "work",
				      S_IFDIR | 0755, 1000, 1000, &dir),
			 0);
	first = put_in(st, dir.ino, "c0", coffee[0], 0644, 1000);
	put_in(st, dir.ino, "c1", coffee[1], 0644, 1000);
	put_in(st, dir.ino, "c2", coffee[2], 0644, 1000);
	put(st, "budget", unrelated[0]);
	consolidate(st);
	assert_int_equal(episode_bindings(st, first, &b, &n), 0);
	assert_int_equal(n, 1);
	cid = b[0].id;
	free(b);
	assert_int_equal(store_concept_render(st, cid, NULL, &text, &len), 0);
	assert_non_null(strstr(text, "\twork/c0\n"));
	free(text);
}

static void test_episode_concepts_text(void **state)
{
	struct store *st = *state;
	uint64_t m[3];
	char *text;
	size_t len;
	struct store_attr a;

	coffee_concept(st, m);
	assert_int_equal(store_episode_concepts(st, m[0], &text, &len), 0);
	assert_true(!strncmp(text, "coffee-alice-station\t0.", 23));
	assert_int_equal(text[len - 1], '\n');
	assert_int_equal(strchr(text, '\n') - text + 1, (long)len);
	free(text);
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "budget", &a), 0);
	assert_int_equal(store_episode_concepts(st, a.ino, &text, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
}

/* ---- list, match, info ------------------------------------------------ */

struct list_ctx {
	char labels[8][64];
	int n, stop_after;
};

static int list_cb(void *ctx, const struct store_concept *c)
{
	struct list_ctx *x = ctx;

	snprintf(x->labels[x->n++], 64, "%s", c->label);
	return x->n == x->stop_after ? 7 : 0;
}

static void test_list_in_label_order(void **state)
{
	struct store *st = *state;
	const char *a = GROUP_A, *b = GROUP_B;
	struct list_ctx x = { .stop_after = 0 };

	set_flag(st, FLAG_CONS_JOIN_SIMILARITY, "0.9");
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "a%d", i);
		put(st, name, a);
		snprintf(name, sizeof(name), "b%d", i);
		put(st, name, b);
	}
	consolidate(st);
	assert_int_equal(store_concept_list(st, NULL, list_cb, &x), 0);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.labels[0], "alpha-beta-gamma");
	assert_string_equal(x.labels[1], "alpha-beta-gamma-2");
	memset(&x, 0, sizeof(x));
	assert_int_equal(store_concept_list(st, "alpha-beta-gamma", list_cb,
					    &x),
			 0);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.labels[0], "alpha-beta-gamma-2");
	memset(&x, 0, sizeof(x));
	x.stop_after = 1;
	assert_int_equal(store_concept_list(st, NULL, list_cb, &x), 7);
	assert_int_equal(x.n, 1);
}

static void test_match_a_cue(void **state)
{
	struct store *st = *state;
	uint64_t m[3], cid = coffee_concept(st, m);
	struct text_terms t;
	struct concept_hit *h = NULL;
	size_t n = 0;

	assert_int_equal(text_analyze("coffee with alice", 17, &t), 0);
	assert_int_equal(concept_match(st, &t, 4, 0.1, &h, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].id, cid);
	assert_true(h[0].similarity > 0.2 && h[0].similarity <= 1);
	assert_int_equal(h[0].members, 3);
	free(h);
	/* coherence floor */
	assert_int_equal(concept_match(st, &t, 4, 0.999, &h, &n), 0);
	assert_int_equal(n, 0);
	text_terms_release(&t);
	assert_int_equal(text_analyze("tomatoes basil", 14, &t), 0);
	assert_int_equal(concept_match(st, &t, 4, 0, &h, &n), 0);
	assert_int_equal(n, 0);
	text_terms_release(&t);
}

static void test_info_and_label_of_unknown(void **state)
{
	struct store *st = *state;
	struct concept_hit h;
	char *label;

	assert_int_equal(concept_info(st, 99, &h), -ENOENT);
	assert_int_equal(concept_label(st, 99, &label), -ENOENT);
}

static void test_cache_survives_reopen(void **state)
{
	struct store *st = *state;
	uint64_t m[3], cid = coffee_concept(st, m);
	struct store_concept c;
	struct concept_hit info, *h = NULL;
	struct concept_stats cs;
	struct text_terms t;
	size_t n = 0;

	st = harness_reopen(st);
	*state = st;
	assert_int_equal(store_concept_lookup(st, "coffee-alice-station", &c),
			 0);
	assert_int_equal(c.id, cid);
	store_concept_release(&c);
	assert_int_equal(concept_info(st, cid, &info), 0);
	assert_int_equal(info.members, 3);
	concept_stats(st, &cs);
	assert_int_equal(cs.concepts, 1);
	assert_int_equal(cs.bindings, 3);
	assert_true(cs.coherence_sum > 0.35);
	assert_int_equal(text_analyze("alice station", 13, &t), 0);
	assert_int_equal(concept_match(st, &t, 4, 0, &h, &n), 0);
	assert_int_equal(n, 1);
	free(h);
	text_terms_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_put_get_del),
		cmocka_unit_test(test_tab_interns),
		cmocka_unit_test(test_label_base),
#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)
		T(test_words_are_surface_forms),
		T(test_label_of_a_concept),
		T(test_labels_unique),
		T(test_render),
		T(test_render_skips_unreadable_and_gone),
		T(test_member_paths_are_relative),
		T(test_episode_concepts_text),
		T(test_list_in_label_order),
		T(test_match_a_cue),
		T(test_info_and_label_of_unknown),
		T(test_cache_survives_reopen),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
