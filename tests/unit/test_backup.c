/*
 * test_backup.c - checkpoints, backups, restore, compaction and usage:
 * a checkpoint is an openable store frozen at its moment, even while a
 * writer keeps writing and when it lives inside the data dir; backups are
 * incremental; restore brings either back into an empty dir and refuses
 * anything else; compaction reclaims deleted episodes.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "store_i.h"

/* The harness's temp dir (the store is DIR/db). */
static void base_of(struct store *st, char *out, size_t size)
{
	char *slash;

	snprintf(out, size, "%s", store_dir(st));
	slash = strrchr(out, '/');
	assert_non_null(slash);
	*slash = '\0';
}


static void expect_episode(struct store *st, const char *name,
			   const char *text)
{
	struct store_attr a;
	char *buf;
	size_t len;

	assert_int_equal(store_lookup(st, STORE_ROOT_INO, name, &a), 0);
	assert_int_equal(store_content_read(st, a.ino, &buf, &len), 0);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(buf, text, len);
	free(buf);
}

static struct store *open_ro(const char *dir)
{
	struct store_options o = { .read_only = true };
	struct store *st = NULL;

	assert_int_equal(store_open(dir, &o, &st), 0);
	return st;
}

/* store_verify finds nothing wrong. */
static void expect_clean(struct store *st)
{
	char *report = NULL;
	size_t len = 0;
	int n = store_verify(st, &report, &len);

	if (n)
		fprintf(stderr, "verify:\n%s", report ? report : "");
	assert_int_equal(n, 0);
	free(report);
}

/* Regular files directly in DIR, and their bytes. */
static int count_files(const char *dir, off_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat sb;
	int n = 0;

	if (!d)
		return -1;
	*bytes = 0;
	while ((de = readdir(d)))
		if (fstatat(dirfd(d), de->d_name, &sb, 0) == 0 &&
		    S_ISREG(sb.st_mode)) {
			n++;
			*bytes += sb.st_size;
		}
	closedir(d);
	return n;
}

/* Random lower-case text (LZ4 cannot squeeze it much). */
static void random_text(char *buf, size_t size, unsigned *seed)
{
	for (size_t i = 0; i + 1 < size; i++)
		buf[i] = (char)('a' + rand_r(seed) % 26);
	buf[size - 1] = '\0';
}

static void test_checkpoint_is_a_frozen_store(void **state)
{
	struct store *st = *state, *ck;
	struct store_counts c;
	char base[256], dir[300];

	base_of(st, base, sizeof(base));
	snprintf(dir, sizeof(dir), "%s/ck", base);
	harness_put(st, "coffee", "Met Alice for coffee at the station");
	harness_put(st, ".swap", "hidden");
	assert_int_equal(store_checkpoint(st, dir), 0);
	harness_put(st, "later", "written after the checkpoint");
	assert_int_equal(store_checkpoint(st, dir), -EEXIST);
	snprintf(dir, sizeof(dir), "%s/no/such/parent", base);
	assert_int_equal(store_checkpoint(st, dir), -ENOENT);

	snprintf(dir, sizeof(dir), "%s/ck", base);
	ck = open_ro(dir);
	expect_episode(ck, "coffee", "Met Alice for coffee at the station");
	expect_episode(ck, ".swap", "hidden");
	assert_int_equal(store_lookup(ck, STORE_ROOT_INO, "later",
				      &(struct store_attr){ 0 }), -ENOENT);
	store_counts(ck, &c);
	assert_int_equal(c.episodes, 2);
	assert_int_equal(c.indexed, 1);
	expect_clean(ck);
	store_close(ck);
}

static void test_checkpoint_inside_datadir_opens_read_write(void **state)
{
	struct store *st = *state, *ck = NULL;
	char snaps[300], dir[320];
	struct stat sb;

	snprintf(snaps, sizeof(snaps), "%s/snapshots", store_dir(st));
	assert_int_equal(mkdir(snaps, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/s1", snaps);
	harness_put(st, "a", "alpha episode");
	assert_int_equal(store_checkpoint(st, dir), 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	/* RocksDB ignores the foreign folder in its data dir. */
	harness_put(st, "b", "beta episode");
	assert_int_equal(store_compact(st), 0);
	st = harness_reopen(st);
	*state = st;
	expect_episode(st, "b", "beta episode");
	expect_clean(st);
	/* The snapshot is a data dir of its own, writable too. */
	assert_int_equal(store_open(dir, NULL, &ck), 0);
	expect_episode(ck, "a", "alpha episode");
	harness_put(ck, "c", "written in the snapshot");
	expect_clean(ck);
	store_close(ck);
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "c",
				      &(struct store_attr){ 0 }), -ENOENT);
}

/* The test thread reads n while the writer counts: both atomic. */
struct writer {
	struct store *st;
	atomic_bool stop;
	atomic_int n;		/* episodes written so far */
};

static void *writer_loop(void *arg)
{
	struct writer *w = arg;
	char name[32], text[64];

	while (!w->stop) {
		int k = atomic_load(&w->n);

		snprintf(name, sizeof(name), "w%d", k);
		snprintf(text, sizeof(text), "writer episode number %d", k);
		harness_put(w->st, name, text);
		atomic_store(&w->n, k + 1);
	}
	return NULL;
}

static void test_checkpoint_while_writing_is_consistent(void **state)
{
	struct writer w = { .st = *state };
	/* Episodes written before the checkpoints (fewer under valgrind). */
	const int early = harness_slow() ? 20 : 200;
	struct store_counts c;
	char base[256], dir[300];
	struct store *ck;
	pthread_t t;

	base_of(w.st, base, sizeof(base));
	assert_int_equal(pthread_create(&t, NULL, writer_loop, &w), 0);
	while (atomic_load(&w.n) < early)
		usleep(1000);
	for (int i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "%s/hot%d", base, i);
		assert_int_equal(store_checkpoint(w.st, dir), 0);
	}
	w.stop = true;
	pthread_join(t, NULL);
	for (int i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "%s/hot%d", base, i);
		ck = open_ro(dir);
		store_counts(ck, &c);
		assert_true(c.episodes >= (uint64_t)early &&
			    c.episodes <= (uint64_t)atomic_load(&w.n));
		expect_clean(ck);
		store_close(ck);
	}
}

static void test_backup_is_incremental_and_restores(void **state)
{
	struct store *st = *state, *rs;
	char base[256], bk[300], shared[340], meta[340], data[300];
	char big[2048], name[16];
	unsigned seed = 1;
	off_t b1, b2, b;
	int n1, n2;

	base_of(st, base, sizeof(base));
	snprintf(bk, sizeof(bk), "%s/bk", base);
	snprintf(shared, sizeof(shared), "%s/shared_checksum", bk);
	snprintf(meta, sizeof(meta), "%s/meta", bk);
	for (int i = 0; i < 100; i++) {
		random_text(big, sizeof(big), &seed);
		snprintf(name, sizeof(name), "e%d", i);
		harness_put(st, name, big);
	}
	assert_int_equal(store_backup(st, bk), 0);
	n1 = count_files(shared, &b1);
	assert_true(n1 > 0 && b1 > 100 * 1024);
	assert_int_equal(count_files(meta, &b), 1);
	harness_put(st, "one-more", "a small episode after the first backup");
	assert_int_equal(store_backup(st, bk), 0);
	n2 = count_files(shared, &b2);
	/* Only the new tables were copied: a few small ones. */
	assert_true(n2 > n1);
	assert_true(b2 - b1 < b1 / 4);
	assert_int_equal(count_files(meta, &b), 2); /* every backup kept */

	snprintf(data, sizeof(data), "%s/restored", base);
	assert_int_equal(store_restore(bk, data), 0);
	rs = open_ro(data);
	expect_episode(rs, "one-more",
		       "a small episode after the first backup");
	expect_episode(rs, "e99", big);
	expect_clean(rs);
	store_close(rs);
	assert_int_equal(store_restore(bk, data), -ENOTEMPTY);
}

static void test_backup_refuses_the_data_dir(void **state)
{
	struct store *st = *state;
	char dir[300];

	assert_int_equal(store_backup(st, store_dir(st)), -EINVAL);
	snprintf(dir, sizeof(dir), "%s/bk", store_dir(st));
	assert_int_equal(store_backup(st, dir), -EINVAL);
	snprintf(dir, sizeof(dir), "%s/../no/such/dir", store_dir(st));
	assert_int_equal(store_backup(st, dir), -ENOENT);
}

static void test_restore_from_checkpoint_copies(void **state)
{
	struct store *st = *state, *rs;
	char base[256], ck[300], data[300], path[340], cmd[700];
	struct stat sb;

	base_of(st, base, sizeof(base));
	snprintf(ck, sizeof(ck), "%s/ck", base);
	snprintf(data, sizeof(data), "%s/empty", base);
	harness_put(st, "coffee", "Met Alice for coffee at the station");
	assert_int_equal(store_checkpoint(st, ck), 0);
	assert_int_equal(mkdir(data, 0755), 0); /* an empty dir is fine */
	assert_int_equal(store_restore(ck, data), 0);
	snprintf(path, sizeof(path), "%s/CURRENT", data);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_nlink, 1);	/* copied, not linked */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ck);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(store_open(data, NULL, &rs), 0);
	expect_episode(rs, "coffee", "Met Alice for coffee at the station");
	harness_put(rs, "new", "the restored store takes writes");
	expect_clean(rs);
	store_close(rs);
}

static void test_restore_refuses_bad_targets_and_sources(void **state)
{
	struct store *st = *state;
	char base[256], ck[300], data[300], file[300];
	FILE *f;

	base_of(st, base, sizeof(base));
	snprintf(ck, sizeof(ck), "%s/ck", base);
	snprintf(file, sizeof(file), "%s/file", base);
	assert_int_equal(store_checkpoint(st, ck), 0);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(store_restore(ck, file), -EEXIST);
	assert_int_equal(store_restore(ck, store_dir(st)), -ENOTEMPTY);
	snprintf(data, sizeof(data), "%s/x", base);
	/* BASE is neither a checkpoint nor a backup. */
	assert_int_equal(store_restore(base, data), -EINVAL);
	assert_int_equal(store_restore("/no/such/src", data), -ENOENT);
	assert_int_equal(access(data, F_OK), -1);	/* nothing made */
	snprintf(data, sizeof(data), "%s/no/parent", base);
	assert_int_equal(store_restore(ck, data), -ENOENT);
}

static void test_compact_reclaims_deleted_episodes(void **state)
{
	struct store *st = *state;
	struct store_usage u0, u1, u2;
	char text[4096], name[16];
	unsigned seed = 2;

	for (int i = 0; i < 300; i++) {
		random_text(text, sizeof(text), &seed);
		snprintf(name, sizeof(name), "e%d", i);
		harness_put(st, name, text);
	}
	store_usage(st, &u0);
	assert_true(u0.memtable_bytes > 0);
	assert_true(u0.disk_bytes > 0);	/* the log */
	assert_int_equal(store_compact(st), 0);
	store_usage(st, &u1);
	assert_true(u1.disk_bytes > 300 * 1024);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		assert_int_equal(store_unlink(st, STORE_ROOT_INO, name), 0);
	}
	assert_int_equal(store_compact(st), 0);
	store_usage(st, &u2);
	assert_true(u2.disk_bytes < u1.disk_bytes / 2);
	expect_clean(st);
}

static void test_read_only_store(void **state)
{
	struct store *st = *state, *ro;
	char dir[256], base[256], ck[300];
	struct store_usage u;

	harness_put(st, "coffee", "Met Alice for coffee at the station");
	snprintf(dir, sizeof(dir), "%s", store_dir(st));
	base_of(st, base, sizeof(base));
	store_close(st);
	ro = open_ro(dir);
	assert_int_equal(store_compact(ro), -EROFS);
	store_usage(ro, &u);
	assert_true(u.disk_bytes > 0);
	snprintf(ck, sizeof(ck), "%s/ck", base);
	/* Nothing to flush: a read-only store can be checkpointed too. */
	assert_int_equal(store_checkpoint(ro, ck), 0);
	store_close(ro);
	ro = open_ro(ck);
	expect_episode(ro, "coffee", "Met Alice for coffee at the station");
	store_close(ro);
	assert_int_equal(store_open(dir, NULL, &st), 0);
	*state = st;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_checkpoint_is_a_frozen_store, harness_open,
			harness_close),
		cmocka_unit_test_setup_teardown(
			test_checkpoint_inside_datadir_opens_read_write,
			harness_open, harness_close),
		cmocka_unit_test_setup_teardown(
			test_checkpoint_while_writing_is_consistent,
			harness_open, harness_close),
		cmocka_unit_test_setup_teardown(
			test_backup_is_incremental_and_restores, harness_open,
			harness_close),
		cmocka_unit_test_setup_teardown(
			test_backup_refuses_the_data_dir, harness_open,
			harness_close),
		cmocka_unit_test_setup_teardown(
			test_restore_from_checkpoint_copies, harness_open,
			harness_close),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_bad_targets_and_sources,
			harness_open, harness_close),
		cmocka_unit_test_setup_teardown(
			test_compact_reclaims_deleted_episodes, harness_open,
			harness_close),
		cmocka_unit_test_setup_teardown(test_read_only_store,
						harness_open, harness_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
