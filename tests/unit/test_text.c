/*
 * test_text.c - text analysis (text.c): folding, tokens, stop words,
 * stemming, counts, hostile bytes, snippets, threads, and speed.
 *
 * No store needed: plain cmocka tests.  TEXT_BENCH_ITERS=N in the
 * environment changes the size of the timing loop (0 skips it).
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "harness.h"
#include "store_i.h"

/* Analyse a C string; the caller releases. */
static struct text_terms test_an(const char *s)
{
	struct text_terms t = { 0 };

	assert_int_equal(text_analyze(s, strlen(s), &t), 0);
	return t;
}

/* tf of TERM in T, 0 when absent. */
static uint32_t test_tf(const struct text_terms *t, const char *term)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].term, term))
			return t->v[i].tf;
	return 0;
}

/* The terms joined by spaces, for whole-result comparisons. */
static void test_join(const struct text_terms *t, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < t->n && o < size; i++)
		if (!t->v[i].stop)	/* content terms; stop words: own test */
			o += (size_t)snprintf(buf + o, size - o, "%s%s",
					      o ? " " : "", t->v[i].term);
}

static void test_expect(const char *text, const char *terms)
{
	struct text_terms t = test_an(text);
	char got[1024];

	test_join(&t, got, sizeof(got));
	if (strcmp(got, terms))
		fail_msg("'%s' gave '%s', expected '%s'", text, got, terms);
	text_terms_release(&t);
}

/* Invariants every result holds, whatever the input. */
static void test_check_shape(const struct text_terms *t)
{
	uint64_t sum = 0;
	size_t i, n;

	for (i = 0; i < t->n; i++) {
		n = strlen(t->v[i].term);
		assert_true(n > 0 && n <= 64);
		assert_true(t->v[i].tf > 0);
		if (i)
			assert_true(strcmp(t->v[i - 1].term, t->v[i].term) < 0);
		sum += t->v[i].stop ? 0 : t->v[i].tf;
	}
	assert_int_equal(sum, t->length);
}

static void case_folding_and_accents_give_one_term(void **state)
{
	(void)state;
	test_expect("Café", "cafe");
	test_expect("CAFE", "cafe");
	test_expect("cafe\xcc\x81", "cafe");		/* e + combining acute */
	test_expect("Straße STRASSE", "strass");
	test_expect("\xef\xac\x81le FILE", "file");	/* fi ligature */
	test_expect("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", "abc"); /* full width */
}

static void stemming_conflates_word_forms(void **state)
{
	struct text_terms t = test_an("running runs run");

	(void)state;
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0].term, "run");
	assert_int_equal(t.v[0].tf, 3);
	assert_int_equal(t.length, 3);
	text_terms_release(&t);
	test_expect("connected connection connecting", "connect");
}

static void stop_words_are_marked_and_not_counted(void **state)
{
	struct text_terms t = test_an("The cat and THE hat: is it in a box, "
				      "with the fox? I don't know.");

	(void)state;
	/* 5 content terms, 9 stop words (the and is it in a with i dont) */
	assert_int_equal(t.n, 14);
	assert_int_equal(test_tf(&t, "the"), 3);	/* unstemmed, indexed */
	assert_int_equal(test_tf(&t, "dont"), 1);
	assert_int_equal(t.length, 5);		/* stop words not counted */
	test_check_shape(&t);
	text_terms_drop_stop(&t);
	assert_int_equal(t.n, 5);
	assert_int_equal(test_tf(&t, "cat"), 1);
	assert_int_equal(test_tf(&t, "hat"), 1);
	assert_int_equal(test_tf(&t, "box"), 1);
	assert_int_equal(test_tf(&t, "fox"), 1);
	assert_int_equal(test_tf(&t, "know"), 1);
	assert_int_equal(test_tf(&t, "the"), 0);
	text_terms_release(&t);
	test_expect("the of and to in is with for at", "");
}

/* text_words: the same tokens, folded but not stemmed (cue completion
 * edits words as written); text_stop_word: the stop list alone. */
static void words_are_folded_not_stemmed(void **state)
{
	const char *s = "Running FAIMLY café, don't runs";
	struct text_terms t = { 0 };

	(void)state;
	assert_int_equal(text_words(s, strlen(s), &t), 0);
	test_check_shape(&t);
	assert_int_equal(test_tf(&t, "running"), 1);	/* not "run" */
	assert_int_equal(test_tf(&t, "faimly"), 1);
	assert_int_equal(test_tf(&t, "cafe"), 1);
	assert_int_equal(test_tf(&t, "runs"), 1);
	assert_int_equal(test_tf(&t, "dont"), 1);
	assert_int_equal(t.n, 5);
	assert_int_equal(t.length, 4);			/* "dont" is a stop word */
	text_terms_release(&t);
	assert_true(text_stop_word("will"));
	assert_true(text_stop_word("dont"));
	assert_false(text_stop_word("better"));
	assert_false(text_stop_word("in "));
	assert_false(text_stop_word(""));
}

static void tf_counts_and_length(void **state)
{
	struct text_terms t = test_an("apple banana apple cherry APPLE "
				      "banana");

	(void)state;
	assert_int_equal(t.n, 3);
	assert_int_equal(test_tf(&t, "appl"), 3);
	assert_int_equal(test_tf(&t, "banana"), 2);
	assert_int_equal(test_tf(&t, "cherri"), 1);
	assert_int_equal(t.length, 6);
	test_check_shape(&t);
	text_terms_release(&t);
}

static void terms_are_unique_and_sorted(void **state)
{
	struct text_terms t = test_an("zebra yak xylophone walrus vulture "
				      "umbrella 42 7 tiger zebra ant Zulu "
				      "\xce\xb1\xce\xb2 b a2 a1");

	(void)state;
	test_check_shape(&t);
	assert_string_equal(t.v[0].term, "42");
	assert_int_equal(test_tf(&t, "zebra"), 2);
	text_terms_release(&t);
}

static void apostrophes_make_no_junk_tokens(void **state)
{
	(void)state;
	test_expect("Alice's", "alic");
	test_expect("Alice", "alic");
	test_expect("Alice\xe2\x80\x99s", "alic");	/* right single quote */
	test_expect("don't won't can't we'll they've I'm you're she'd", "");
	test_expect("O'Brien", "obrien");
	test_expect("O\xe2\x80\x99" "Brien", "obrien");
	test_expect("'quoted' students' 'tis", "quot student tis");
	test_expect("1990's", "1990");
	test_expect("a''b", "b");
}

static void invalid_utf8_bytes_separate_tokens(void **state)
{
	(void)state;
	test_expect("alpha\xff" "beta", "alpha beta");
	test_expect("alpha\xc3", "alpha");		/* truncated sequence */
	test_expect("\xe2\x82" "gamma", "gamma");	/* truncated in the middle */
	test_expect("delta\xc0\xaf" "omega", "delta omega");	/* overlong */
	test_expect("sigma\xed\xa0\x80" "tau", "sigma tau");	/* surrogate */
	test_expect("\xf4\x90\x80\x80" "kappa", "kappa");	/* > U+10FFFF */
	test_expect("\x80\x80\x80", "");
}

static void embedded_nul_bytes_separate_tokens(void **state)
{
	static const char buf[] = "alpha\0beta\0\0gamma";
	struct text_terms t = { 0 };

	(void)state;
	assert_int_equal(text_analyze(buf, sizeof(buf) - 1, &t), 0);
	assert_int_equal(t.n, 3);
	assert_int_equal(test_tf(&t, "alpha"), 1);
	assert_int_equal(test_tf(&t, "beta"), 1);
	assert_int_equal(test_tf(&t, "gamma"), 1);
	text_terms_release(&t);
}

/* Exact-size heap copies, so a sanitizer sees any read past the end. */
static void binary_content_never_breaks(void **state)
{
	struct text_terms t = { 0 };
	unsigned seed = 12345;
	size_t i, j, n;
	char *buf;

	(void)state;
	for (i = 0; i < 3000; i++) {
		n = (size_t)(rand_r(&seed) % 300) + 1;
		buf = malloc(n);
		assert_non_null(buf);
		for (j = 0; j < n; j++)
			buf[j] = (char)(rand_r(&seed) >> 3);
		assert_int_equal(text_analyze(buf, n, &t), 0);
		test_check_shape(&t);
		text_terms_release(&t);
		free(buf);
	}
	n = 256 * 1024;
	buf = malloc(n);
	assert_non_null(buf);
	for (j = 0; j < n; j++)
		buf[j] = (char)(rand_r(&seed) >> 5);
	assert_int_equal(text_analyze(buf, n, &t), 0);
	test_check_shape(&t);
	text_terms_release(&t);
	free(buf);
}

static void tokens_over_64_bytes_are_dropped(void **state)
{
	char buf[512];
	struct text_terms t;
	int i;

	(void)state;
	memset(buf, '7', 64);
	buf[64] = ' ';
	memset(buf + 65, '8', 65);
	buf[130] = ' ';
	memset(buf + 131, 'q', 65);
	memcpy(buf + 196, " zz", 4);
	t = test_an(buf);
	assert_int_equal(t.n, 2);
	assert_int_equal(strlen(t.v[0].term), 64);	/* 64 sevens kept */
	assert_string_equal(t.v[1].term, "zz");
	assert_int_equal(t.length, 2);
	text_terms_release(&t);

	/* The limit is in bytes after normalisation: 32 alphas are 64. */
	for (i = 0; i < 33; i++)
		memcpy(buf + 2 * i, "\xce\xb1", 2);
	t = (struct text_terms){ 0 };
	assert_int_equal(text_analyze(buf, 64, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(strlen(t.v[0].term), 64);
	text_terms_release(&t);
	assert_int_equal(text_analyze(buf, 66, &t), 0);
	assert_int_equal(t.n, 0);
	text_terms_release(&t);
}

static void digits_are_kept(void **state)
{
	(void)state;
	test_expect("In 2024 we met 3 times on 12.05", "05 12 2024 3 met time");
	test_expect("\xc2\xb2 \xe2\x91\xa0", "1 2");	/* superscript, circled */
	test_expect("mp3 covid19", "covid19 mp3");
}

static void hangul_composes_back(void **state)
{
	/* 한국 precomposed and as conjoining jamo. */
	static const char nfc[] = "\xed\x95\x9c\xea\xb5\xad";
	static const char nfd[] = "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"
				  "\xe1\x84\x80\xe1\x85\xae\xe1\x86\xa8";

	(void)state;
	test_expect(nfc, nfc);
	test_expect(nfd, nfc);
}

static void empty_input_gives_no_terms(void **state)
{
	struct text_terms t = { 0 };

	(void)state;
	assert_int_equal(text_analyze("", 0, &t), 0);
	assert_int_equal(t.n, 0);
	assert_null(t.v);
	assert_int_equal(t.length, 0);
	assert_int_equal(text_analyze(NULL, 0, &t), 0);
	assert_int_equal(t.n, 0);
	test_expect("  ,.;!? -- ''' ", "");
}

static void release_zeroes_and_tolerates_zero(void **state)
{
	struct text_terms t = { 0 };

	(void)state;
	text_terms_release(&t);
	t = test_an("some words here");
	assert_true(t.n > 0);
	text_terms_release(&t);
	assert_null(t.v);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.length, 0);
	text_terms_release(&t);
}

static void test_snip(const char *in, size_t len, size_t nchars,
		      const char *want)
{
	char *s = NULL;

	assert_int_equal(text_snippet(in, len, nchars, &s), 0);
	assert_non_null(s);
	if (strcmp(s, want))
		fail_msg("snippet gave '%s', expected '%s'", s, want);
	free(s);
}

static void snippet_folds_white_space(void **state)
{
	(void)state;
	test_snip("  hello\n\n\tworld \r\n ", 19, 100, "hello world");
	test_snip("a\0\0b", 4, 100, "a b");
	test_snip("x\xc2\xa0\xe2\x80\xa8y", 7, 100, "x y");	/* NBSP, LS */
	test_snip("", 0, 100, "");
	test_snip(NULL, 0, 100, "");
	test_snip(" \n\t ", 4, 100, "");
	test_snip("abc", 3, 0, "");
}

static void snippet_counts_characters_not_bytes(void **state)
{
	(void)state;
	test_snip("h\xc3\xa9llo w\xc3\xb6rld", 13, 2, "h\xc3\xa9");
	test_snip("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9, 2,
		  "\xe6\x97\xa5\xe6\x9c\xac");
	test_snip("\xf0\x9f\x98\x80" "ab", 6, 1, "\xf0\x9f\x98\x80");
	test_snip("ab cd", 5, 3, "ab");		/* no trailing space */
	test_snip("ab cd", 5, 4, "ab c");
	test_snip("a\xff\xfe" "b\xe2\x82", 6, 100, "ab");	/* bad bytes dropped */
	test_snip("abcdef", 3, 100, "abc");	/* LEN bounds the read */
}

/* Heap copies of exact size: a sanitizer catches any overread. */
static void snippet_survives_binary(void **state)
{
	unsigned seed = 99;
	size_t i, j, n, nchars;
	char *buf, *s;

	(void)state;
	for (i = 0; i < 3000; i++) {
		n = (size_t)(rand_r(&seed) % 200) + 1;
		nchars = (size_t)(rand_r(&seed) % 120);
		buf = malloc(n);
		assert_non_null(buf);
		for (j = 0; j < n; j++)
			buf[j] = (char)(rand_r(&seed) >> 4);
		s = NULL;
		assert_int_equal(text_snippet(buf, n, nchars, &s), 0);
		assert_true(strlen(s) <= n && strlen(s) <= 4 * nchars);
		free(s);
		free(buf);
	}
}

/* ------------------------------------------------------------------ */

static const char *const test_corpus[] = {
	"Met Alice for coffee at the station; she's moving to Berlin.",
	"Standup: the build broke again, Bob's fixing the flaky tests.",
	"Caf\xc3\xa9 au lait, cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e, and a "
	"na\xc3\xafve r\xc3\xa9sum\xc3\xa9.",
	"\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xe6\x97\xa5\xe6\x9c\xac "
	"\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 2024",
	"Running, runner, runs; connected connections\xff\xfe junk",
};
#define TEST_CORPUS_N (sizeof(test_corpus) / sizeof(test_corpus[0]))

struct test_ref {
	char joined[TEST_CORPUS_N][1024];
	uint32_t length[TEST_CORPUS_N];
	int failures;
};

static void test_ref_fill(struct test_ref *r)
{
	struct text_terms t;
	size_t i;

	for (i = 0; i < TEST_CORPUS_N; i++) {
		t = test_an(test_corpus[i]);
		test_join(&t, r->joined[i], sizeof(r->joined[i]));
		r->length[i] = t.length;
		text_terms_release(&t);
	}
}

/* Worker: no cmocka asserts off the main thread; count mismatches. */
static void *test_worker(void *arg)
{
	struct test_ref *ref = arg;
	struct text_terms t;
	char got[1024];
	size_t i, k;

	for (k = 0; k < 500; k++) {
		for (i = 0; i < TEST_CORPUS_N; i++) {
			t = (struct text_terms){ 0 };
			if (text_analyze(test_corpus[i], strlen(test_corpus[i]),
					 &t)) {
				__atomic_add_fetch(&ref->failures, 1,
						   __ATOMIC_RELAXED);
				continue;
			}
			test_join(&t, got, sizeof(got));
			if (strcmp(got, ref->joined[i]) ||
			    t.length != ref->length[i])
				__atomic_add_fetch(&ref->failures, 1,
						   __ATOMIC_RELAXED);
			text_terms_release(&t);
		}
	}
	return NULL;
}

static void four_threads_agree_with_one(void **state)
{
	static struct test_ref ref;
	pthread_t th[4];
	size_t i;

	(void)state;
	test_ref_fill(&ref);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, test_worker,
						&ref), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(ref.failures, 0);
}

/* ------------------------------------------------------------------ */

static double test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Timing, reported not asserted (sanitizers and valgrind are slow). */
static void speed_of_a_200_byte_episode(void **state)
{
	static const char text[] =
		"Met Alice for coffee at the station before the standup. "
		"We talked about the Berlin move, the flaky integration "
		"tests and her new r\xc3\xa9sum\xc3\xa9; she's starting at "
		"the lab on Monday. Then lunch with Bob at noon.";
	const char *env = getenv("TEXT_BENCH_ITERS");
	long iters = env ? atol(env) : 5000, i;
	struct text_terms t;
	char *snip;
	double t0, us_an, us_sn;

	(void)state;
	if (iters <= 0)
		skip();
	for (i = 0, t0 = test_now(); i < iters; i++) {
		assert_int_equal(text_analyze(text, sizeof(text) - 1, &t), 0);
		text_terms_release(&t);
	}
	us_an = (test_now() - t0) * 1e6 / (double)iters;
	for (i = 0, t0 = test_now(); i < iters; i++) {
		assert_int_equal(text_snippet(text, sizeof(text) - 1, 100,
					      &snip), 0);
		free(snip);
	}
	us_sn = (test_now() - t0) * 1e6 / (double)iters;
	print_message("text_analyze: %.2f us per %zu-byte text; "
		      "text_snippet: %.2f us\n", us_an, sizeof(text) - 1,
		      us_sn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(case_folding_and_accents_give_one_term),
		cmocka_unit_test(stemming_conflates_word_forms),
		cmocka_unit_test(stop_words_are_marked_and_not_counted),
		cmocka_unit_test(words_are_folded_not_stemmed),
		cmocka_unit_test(tf_counts_and_length),
		cmocka_unit_test(terms_are_unique_and_sorted),
		cmocka_unit_test(apostrophes_make_no_junk_tokens),
		cmocka_unit_test(invalid_utf8_bytes_separate_tokens),
		cmocka_unit_test(embedded_nul_bytes_separate_tokens),
		cmocka_unit_test(binary_content_never_breaks),
		cmocka_unit_test(tokens_over_64_bytes_are_dropped),
		cmocka_unit_test(digits_are_kept),
		cmocka_unit_test(hangul_composes_back),
		cmocka_unit_test(empty_input_gives_no_terms),
		cmocka_unit_test(release_zeroes_and_tolerates_zero),
		cmocka_unit_test(snippet_folds_white_space),
		cmocka_unit_test(snippet_counts_characters_not_bytes),
		cmocka_unit_test(snippet_survives_binary),
		cmocka_unit_test(four_threads_agree_with_one),
		cmocka_unit_test(speed_of_a_200_byte_episode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
