/*
 * test_recency.c - cues that ask for the newest (recency.c): which
 * words are intent, which episodes are in the band, which are about the
 * cue, and the order of the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static void age(struct store *st, uint64_t ino, int days)
{
	struct store_attr in = { 0 }, out;

	in.mtime.tv_sec = time(NULL) - days * 86400;
	assert_int_equal(store_setattr(st, ino, &in, STORE_SET_MTIME, &out), 0);
}

/* The names of the answer to CUE, space-separated, into BUF. */
static const char *answer(struct store *st, const char *cue, char *buf,
			  size_t size)
{
	struct store_results r;
	size_t o = 0;

	harness_recall(st, cue, STORE_MODE_EPISODIC, &r);
	buf[0] = '\0';
	for (size_t i = 0; i < r.n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? " " : "",
				      r.v[i].name);
	store_results_release(&r);
	return buf;
}

static const char *first_of(struct store *st, const char *cue, char *buf)
{
	char all[256];

	answer(st, cue, all, sizeof(all));
	snprintf(buf, 64, "%.*s", (int)strcspn(all, " "), all);
	return buf;
}

/* "what changed recently in X": the newest episode about X first; a
 * newer one not about X does not come first. */
static void test_recency_intent(void **state)
{
	struct store *st = *state;
	char buf[64];

	age(st, harness_put(st, "old", "bash: fixed the prompt docs"), 400);
	age(st, harness_put(st, "mid", "bash: new completion"), 120);
	age(st, harness_put(st, "new", "bash: a fix for the prompt"), 3);
	age(st, harness_put(st, "other", "zsh: a newer fix for the prompt"), 1);
	assert_string_equal(first_of(st, "bash completion", buf), "mid");
	assert_string_equal(first_of(st, "what changed recently in bash", buf),
			    "new");
	assert_string_equal(first_of(st, "latest bash", buf), "new");
	/* the words of happening go with the recency word */
	assert_string_equal(first_of(st, "what happened lately with bash",
				     buf), "new");
	assert_string_equal(first_of(st, "latest updates on bash", buf), "new");
	/* "recent" alone is a word to match, not an intent */
	harness_put(st, "word", "a recent note");
	assert_string_equal(first_of(st, "recent", buf), "word");
}

/* A long entry about X is as much about X as a short one: length does
 * not keep the newest out (BM25's length norm did). */
static void test_band_by_coverage(void **state)
{
	struct store *st = *state;
	char buf[64], name[16];

	for (int i = 0; i < 20; i++) {	/* short episodes: avgdl is small */
		snprintf(name, sizeof(name), "n%02d", i);
		harness_put(st, name, "a short note");
	}
	age(st, harness_put(st, "short", "abseil: new release"), 300);
	age(st, harness_put(st, "long",
			    "abseil: skip the failure signal handler test on "
			    "ppc64el, known to fail there; rebuild against the "
			    "new toolchain; refresh the symbols file; drop two "
			    "patches applied upstream; bump the standards "
			    "version with no changes needed"),
	    2);
	assert_string_equal(first_of(st, "what changed recently in abseil",
				     buf), "long");
}

/* Episodes about the cue (it is on their first line) come first, newest
 * first; newer ones that mention it further down come after them. */
static void test_about_first(void **state)
{
	struct store *st = *state;
	char buf[256];

	age(st, harness_put(st, "b1", "bash 5.1\n\n* fixed the prompt"), 200);
	age(st, harness_put(st, "b2", "bash 5.2\n\n* new completion"), 50);
	age(st, harness_put(st, "z1",
			    "zsh 5.9\n\n* build-depend on bash for tests"),
	    5);
	age(st, harness_put(st, "z2", "\n\nzsh 6.0\n* runs bash scripts"), 1);
	harness_put(st, "t", "tcsh 6.24 released");	/* not in the band */
	assert_string_equal(answer(st, "what changed recently in bash", buf,
				   sizeof(buf)),
			    "b2 b1 z2 z1");
	/* "lately" is "late" to the analyser: the written word marks */
	assert_string_equal(answer(st, "what happened Lately with bash", buf,
				   sizeof(buf)),
			    "b2 b1 z2 z1");
	/* "late" is a word to match, not an intent */
	assert_string_not_equal(answer(st, "late bash", buf, sizeof(buf)),
				"b2 b1 z2 z1");
	/* the order of a plain cue is relevance, not this */
	assert_string_not_equal(answer(st, "bash", buf, sizeof(buf)),
				"b2 b1 z2 z1");
}

/* Two content words: the band holds the episodes that have the rarer
 * one; an episode with only the common one is out. */
static void test_band_needs_the_telling_word(void **state)
{
	struct store *st = *state;
	char buf[256], name[16], text[64];

	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		snprintf(text, sizeof(text), "release notes number %d", i);
		age(st, harness_put(st, name, text), 100 + i);
	}
	age(st, harness_put(st, "k1", "kernel release notes"), 30);
	age(st, harness_put(st, "k2", "kernel: one more fix"), 60);
	age(st, harness_put(st, "r", "release of something else"), 1);
	assert_string_equal(answer(st, "latest kernel release", buf,
				   sizeof(buf)),
			    "k1 k2");
}

#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_recency_intent),
		T(test_band_by_coverage),
		T(test_about_first),
		T(test_band_needs_the_telling_word),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
