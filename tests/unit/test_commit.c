/*
 * test_commit.c - group commit (store/commit.c): store_sync makes what
 * was written durable, shares one log sync among concurrent callers and
 * skips the sync when nothing was written since the last one.
 */
#include <pthread.h>
#include <sys/stat.h>

#include "harness.h"
#include "store_i.h"

#define WRITERS 8
#define EACH 40

static void commit_one(struct store *st, const char *name)
{
	struct store_attr a, out;

	assert_int_equal(store_create(st, STORE_ROOT_INO, name, S_IFREG | 0644,
				      0, 0, &a), 0);
	assert_int_equal(store_content_write(st, a.ino, name, strlen(name), 0,
					     &out), 0);
}

static void test_sync_skips_when_clean(void **state)
{
	struct store *st = *state;
	uint64_t before;

	commit_one(st, "first");
	assert_int_equal(store_sync(st), 0);
	before = st->commit.syncs;
	/* Nothing written since: no log sync. */
	assert_int_equal(store_sync(st), 0);
	assert_int_equal(st->commit.syncs, before);
	commit_one(st, "second");
	assert_int_equal(store_sync(st), 0);
	assert_int_equal(st->commit.syncs, before + 1);
	assert_true(st->commit.synced >=
		    rocksdb_get_latest_sequence_number(st->db));
}

struct writer {
	struct store *st;
	int id;
	int failed;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char name[32];

	for (int i = 0; i < EACH; i++) {
		struct store_attr a, out;

		snprintf(name, sizeof(name), "w%d-%03d", w->id, i);
		if (store_create(w->st, STORE_ROOT_INO, name, S_IFREG | 0644,
				 0, 0, &a) ||
		    store_content_write(w->st, a.ino, name, strlen(name), 0,
					&out) ||
		    store_sync(w->st))
			w->failed++;
	}
	return NULL;
}

static void test_concurrent_syncs_share(void **state)
{
	struct store *st = *state;
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	struct store_counts c;
	uint64_t before = st->commit.syncs;

	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ st, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, writer_main,
						&w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	store_counts(st, &c);
	assert_int_equal(c.episodes, WRITERS * EACH);
	/* Never more syncs than calls; each call ended with its write
	 * covered. */
	assert_true(st->commit.syncs - before <= WRITERS * EACH);
	assert_true(st->commit.synced >=
		    rocksdb_get_latest_sequence_number(st->db));
	print_message("%d fsyncs, %llu log syncs\n", WRITERS * EACH,
		      (unsigned long long)(st->commit.syncs - before));
}

static void test_synced_survives_reopen(void **state)
{
	struct store *st = *state;
	struct store_attr a;

	commit_one(st, "durable");
	assert_int_equal(store_sync(st), 0);
	st = harness_reopen(st);
	*state = st;
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "durable", &a), 0);
	/* A fresh store syncs once for what it recovered, then not. */
	assert_int_equal(store_sync(st), 0);
	assert_int_equal(store_sync(st), 0);
	assert_true(st->commit.syncs <= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_skips_when_clean,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(test_concurrent_syncs_share,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(test_synced_survives_reopen,
						harness_open, harness_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
