/*
 * test_inode.c - the read side of the tree (store/inode.c): listings.
 *
 * store_readdir reads each entry's record through a cursor that follows
 * the entries' numbers; these tests make the numbers run in order, in
 * reverse, interleaved and shuffled against the names, and check every
 * entry against store_getattr.  store_readdir_names gives number and
 * type only.
 */
#include <sys/stat.h>

#include "harness.h"

#define N 300

struct seen {
	struct store *st;
	int n;
	char last[64];
	bool names_only;
};

static int check_entry(void *ctx, const char *name, const struct store_attr *a)
{
	struct seen *s = ctx;
	struct store_attr want;

	assert_int_equal(store_lookup(s->st, STORE_ROOT_INO, name, &want), 0);
	assert_int_equal(a->ino, want.ino);
	if (s->names_only) {
		assert_int_equal(a->mode, want.mode & S_IFMT);
	} else {
		assert_int_equal(a->mode, want.mode);
		assert_int_equal(a->size, want.size);
		assert_int_equal(a->mtime.tv_nsec, want.mtime.tv_nsec);
	}
	assert_true(strcmp(s->last, name) < 0);
	snprintf(s->last, sizeof(s->last), "%s", name);
	s->n++;
	return 0;
}

/* Name i gets made at position order(i): numbers against names. */
static void make_names(struct store *st, int (*order)(int))
{
	int pos[N];

	for (int i = 0; i < N; i++)
		pos[order(i)] = i;
	for (int k = 0; k < N; k++) {
		struct store_attr a, out;
		char name[16];

		snprintf(name, sizeof(name), "n%04d", pos[k]);
		assert_int_equal(store_create(st, STORE_ROOT_INO, name,
					      S_IFREG | 0644, 0, 0, &a), 0);
		assert_int_equal(store_content_write(st, a.ino, name,
						     (size_t)(k % 7), 0,
						     &out), 0);
	}
}

static void check_listing(struct store *st)
{
	struct seen s = { .st = st };

	assert_int_equal(store_readdir(st, STORE_ROOT_INO, NULL, check_entry,
				       &s), 0);
	assert_int_equal(s.n, N);
	s = (struct seen){ .st = st, .names_only = true };
	assert_int_equal(store_readdir_names(st, STORE_ROOT_INO, NULL,
					     check_entry, &s), 0);
	assert_int_equal(s.n, N);
	/* Resumed after a name, as the daemon does page by page. */
	s = (struct seen){ .st = st };
	snprintf(s.last, sizeof(s.last), "n%04d", N / 2);
	assert_int_equal(store_readdir(st, STORE_ROOT_INO, s.last,
				       check_entry, &s), 0);
	assert_int_equal(s.n, N - N / 2 - 1);
}

static int in_order(int i) { return i; }
static int reversed(int i) { return N - 1 - i; }
static int interleaved(int i) { return i % 2 ? N / 2 + i / 2 : i / 2; }
static int shuffled(int i) { return (i * 7919) % N; }	/* 7919 prime */

static void test_in_order(void **state)
{
	make_names(*state, in_order);
	check_listing(*state);
}

static void test_reversed(void **state)
{
	make_names(*state, reversed);
	check_listing(*state);
}

static void test_interleaved(void **state)
{
	make_names(*state, interleaved);
	check_listing(*state);
}

static void test_shuffled_after_reopen(void **state)
{
	make_names(*state, shuffled);
	*state = harness_reopen(*state);	/* records in tables */
	check_listing(*state);
}

static int type_of(void *ctx, const char *name, const struct store_attr *a)
{
	mode_t *m = ctx;

	*m = a->mode;
	return 0;
}

static void test_names_give_type_not_bits(void **state)
{
	struct store *st = *state;
	struct store_attr a, res;
	mode_t m = 0;

	assert_int_equal(store_create(st, STORE_ROOT_INO, "d",
				      S_IFDIR | 0755, 0, 0, &a), 0);
	assert_int_equal(store_readdir_names(st, STORE_ROOT_INO, NULL, type_of,
					     &m), 0);
	assert_int_equal(m, S_IFDIR);
	a.mode = S_IFDIR | 0700;
	assert_int_equal(store_setattr(st, a.ino, &a, STORE_SET_MODE, &res), 0);
	assert_int_equal(store_readdir_names(st, STORE_ROOT_INO, NULL, type_of,
					     &m), 0);
	assert_int_equal(m, S_IFDIR);
	assert_int_equal(store_readdir(st, STORE_ROOT_INO, NULL, type_of, &m),
			 0);
	assert_int_equal(m, S_IFDIR | 0700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order, harness_open,
						harness_close),
		cmocka_unit_test_setup_teardown(test_reversed, harness_open,
						harness_close),
		cmocka_unit_test_setup_teardown(test_interleaved, harness_open,
						harness_close),
		cmocka_unit_test_setup_teardown(test_shuffled_after_reopen,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(test_names_give_type_not_bits,
						harness_open, harness_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
