/*
 * test_episode.c - the tree and episode content: create, read, replace,
 * append, rename, delete, attributes, xattrs, counters, persistence, a
 * replace with the times given (content and time in one write, postings
 * carrying that time), and that a failed write (injected fault) leaves
 * nothing half done.
 */
#include <errno.h>
#include <sys/stat.h>

#include "harness.h"
#include "store_i.h"

static struct store_attr mk(struct store *st, uint64_t parent,
			    const char *name, uint32_t mode)
{
	struct store_attr a;

	assert_int_equal(store_create(st, parent, name, mode, 1000, 1000, &a),
			 0);
	return a;
}

static void put(struct store *st, uint64_t ino, const char *text)
{
	struct store_attr a;

	assert_int_equal(
		store_content_write(st, ino, text, strlen(text), 0, &a), 0);
	assert_int_equal(a.size, strlen(text));
}

static void expect_content(struct store *st, uint64_t ino, const char *text)
{
	char *buf;
	size_t len;

	assert_int_equal(store_content_read(st, ino, &buf, &len), 0);
	assert_int_equal(len, strlen(text));
	if (len)
		assert_memory_equal(buf, text, len);
	free(buf);
}

/* Number of postings of TERM: the document frequency. */
static int64_t df_of(struct store *st, const char *term)
{
	size_t tl = strlen(term), klen;
	rocksdb_iterator_t *it;
	int64_t df = 0;

	it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_POSTINGS]);
	for (rocksdb_iter_seek(it, term, tl + 1); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);

		if (klen != tl + 9 || memcmp(k, term, tl + 1))
			break;
		df++;
	}
	rocksdb_iter_destroy(it);
	return df;
}

static void test_create_read_replace(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, "coffee", S_IFREG | 0644);
	struct store_attr b;

	assert_true(a.ino >= STORE_FIRST_INO);
	assert_int_equal(a.uid, 1000);
	expect_content(st, a.ino, "");
	put(st, a.ino, "Met Alice for coffee at the station");
	expect_content(st, a.ino, "Met Alice for coffee at the station");
	assert_int_equal(df_of(st, "alic"), 1);
	put(st, a.ino, "Met Bob instead");
	expect_content(st, a.ino, "Met Bob instead");
	assert_int_equal(df_of(st, "alic"), 0);
	assert_int_equal(df_of(st, "bob"), 1);
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "coffee", &b), 0);
	assert_int_equal(b.ino, a.ino);
	assert_int_equal(store_create(st, STORE_ROOT_INO, "coffee",
				      S_IFREG | 0644, 0, 0, &b),
			 -EEXIST);
}

static void test_names_refused(void **state)
{
	struct store *st = *state;
	struct store_attr a;
	char long_name[300];

	memset(long_name, 'x', 256);
	long_name[256] = '\0';
	assert_int_equal(store_create(st, STORE_ROOT_INO, long_name,
				      S_IFREG | 0644, 0, 0, &a),
			 -ENAMETOOLONG);
	long_name[255] = '\0';
	assert_int_equal(store_create(st, STORE_ROOT_INO, long_name,
				      S_IFREG | 0644, 0, 0, &a),
			 0);
	assert_int_equal(store_create(st, STORE_ROOT_INO, "..", S_IFREG, 0, 0,
				      &a),
			 -EINVAL);
	assert_int_equal(store_create(st, STORE_ROOT_INO, "dev",
				      S_IFCHR | 0644, 0, 0, &a),
			 -EPERM);
	assert_int_equal(store_create(st, a.ino, "x", S_IFREG, 0, 0, &a),
			 -ENOTDIR);
}

static void test_append_and_limit(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, "log", S_IFREG | 0644);
	struct store_attr out;
	char why[128];
	char big[101];

	put(st, a.ino, "one ");
	assert_int_equal(store_content_append(st, a.ino, "two", 3, 0, &out),
			 0);
	expect_content(st, a.ino, "one two");
	assert_int_equal(store_flag_set(st, FLAG_STORE_MAX_EPISODE_BYTES,
					"100", 3, 0, "write", why,
					sizeof(why)),
			 0);
	memset(big, 'a', sizeof(big));
	assert_int_equal(store_content_write(st, a.ino, big, 100, 0, &out), 0);
	assert_int_equal(store_content_write(st, a.ino, big, 101, 0, &out),
			 -EFBIG);
	assert_int_equal(store_content_append(st, a.ino, "b", 1, 0, &out),
			 -EFBIG);
	assert_int_equal(store_getattr(st, a.ino, &out), 0);
	assert_int_equal(out.size, 100);
}

static void test_unlink_forgets_everything(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, "x", S_IFREG | 0644);
	struct store_counts c;
	char *v;
	size_t n;

	put(st, a.ino, "zebra crossing");
	assert_int_equal(store_xattr_set(st, a.ino, "user.engram.where",
					 "london", 6, 0),
			 0);
	store_counts(st, &c);
	assert_int_equal(c.episodes, 1);
	assert_int_equal(c.indexed, 1);
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "x"), 0);
	assert_int_equal(df_of(st, "zebra"), 0);
	assert_int_equal(store_getattr(st, a.ino, &a), -ENOENT);
	assert_int_equal(store_xattr_get(st, a.ino, "user.engram.where", &v,
					 &n),
			 -ENOENT);
	store_counts(st, &c);
	assert_int_equal(c.episodes, 0);
	assert_int_equal(c.indexed, 0);
	assert_int_equal(c.bytes, 0);
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "x"), -ENOENT);
}

static void test_folders(void **state)
{
	struct store *st = *state;
	struct store_attr d = mk(st, STORE_ROOT_INO, "work", S_IFDIR | 0755);
	struct store_attr f = mk(st, d.ino, "standup", S_IFREG | 0644);
	struct store_attr root;
	char *path;

	assert_int_equal(store_getattr(st, STORE_ROOT_INO, &root), 0);
	assert_int_equal(root.nlink, 3);
	assert_int_equal(store_path(st, f.ino, &path), 0);
	assert_string_equal(path, "work/standup");
	free(path);
	assert_int_equal(store_rmdir(st, STORE_ROOT_INO, "work"), -ENOTEMPTY);
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "work"), -EISDIR);
	assert_int_equal(store_rmdir(st, d.ino, "standup"), -ENOTDIR);
	assert_int_equal(store_unlink(st, d.ino, "standup"), 0);
	assert_int_equal(store_rmdir(st, STORE_ROOT_INO, "work"), 0);
	assert_int_equal(store_getattr(st, STORE_ROOT_INO, &root), 0);
	assert_int_equal(root.nlink, 2);
}

static void test_rename(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, "a", S_IFREG | 0644);
	struct store_attr b = mk(st, STORE_ROOT_INO, "b", S_IFREG | 0644);
	struct store_attr d = mk(st, STORE_ROOT_INO, "dir", S_IFDIR | 0755);
	struct store_attr x;
	struct store_counts c;

	put(st, a.ino, "apple");
	put(st, b.ino, "banana");
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "a", STORE_ROOT_INO,
				      "b", STORE_RENAME_NOREPLACE),
			 -EEXIST);
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "a", STORE_ROOT_INO,
				      "b", 0),
			 0);
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "b", &x), 0);
	assert_int_equal(x.ino, a.ino);
	expect_content(st, a.ino, "apple");
	assert_int_equal(df_of(st, "banana"), 0);
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "a", &x), -ENOENT);
	store_counts(st, &c);
	assert_int_equal(c.episodes, 1);
	/* into a folder, and a folder into itself */
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "b", d.ino, "b", 0),
			 0);
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "dir", d.ino, "sub",
				      0),
			 -EINVAL);
	assert_int_equal(store_rename(st, d.ino, "b", STORE_ROOT_INO, "dir",
				      0),
			 -EISDIR);
}

static void test_hidden_names_not_indexed(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, ".x.swp", S_IFREG | 0644);
	struct store_counts c;

	put(st, a.ino, "walrus");
	assert_int_equal(df_of(st, "walrus"), 0);
	assert_int_equal(store_rename(st, STORE_ROOT_INO, ".x.swp",
				      STORE_ROOT_INO, "x", 0),
			 0);
	assert_int_equal(df_of(st, "walrus"), 1);
	store_counts(st, &c);
	assert_int_equal(c.indexed, 1);
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "x", STORE_ROOT_INO,
				      ".x~", 0),
			 0);
	assert_int_equal(df_of(st, "walrus"), 0);
	store_counts(st, &c);
	assert_int_equal(c.indexed, 0);
}

static void test_setattr_and_xattrs(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, "x", S_IFREG | 0644);
	struct store_attr in = { 0 }, out;
	char *v;
	size_t n;

	in.mode = 0600;
	in.uid = 42;
	in.mtime.tv_sec = 1714521600;	/* 2024-05-01 */
	assert_int_equal(store_setattr(st, a.ino, &in,
				       STORE_SET_MODE | STORE_SET_UID |
					       STORE_SET_MTIME,
				       &out),
			 0);
	assert_int_equal(out.mode, S_IFREG | 0600);
	assert_int_equal(out.uid, 42);
	assert_int_equal(out.mtime.tv_sec, 1714521600);
	assert_int_equal(store_xattr_set(st, a.ino, "user.engram.confidence",
					 "1.5", 3, 0),
			 -EINVAL);
	assert_int_equal(store_xattr_set(st, a.ino, "user.engram.confidence",
					 "0.9\n", 4, 0),
			 0);
	assert_int_equal(store_xattr_get(st, a.ino, "user.engram.confidence",
					 &v, &n),
			 0);
	assert_string_equal(v, "0.9");
	free(v);
	assert_int_equal(store_xattr_set(st, a.ino, "user.engram.concepts",
					 "x", 1, 0),
			 -EPERM);
	assert_int_equal(store_xattr_set(st, a.ino, "security.selinux", "x",
					 1, 0),
			 -ENOTSUP);
	assert_int_equal(store_xattr_get(st, a.ino, "user.none", &v, &n),
			 -ENODATA);
	assert_int_equal(store_xattr_set(st, a.ino, "user.engram.tags",
					 "a,b", 3, STORE_XATTR_REPLACE),
			 -ENODATA);
	assert_int_equal(store_xattr_set(st, a.ino, "user.engram.tags",
					 "a,b", 3, 0),
			 0);
	assert_int_equal(store_xattr_list(st, a.ino, &v, &n), 0);
	assert_int_equal(n, strlen("user.engram.confidence") + 1 +
				    strlen("user.engram.tags") + 1);
	free(v);
	assert_int_equal(store_xattr_remove(st, a.ino, "user.engram.tags"),
			 0);
	assert_int_equal(store_xattr_remove(st, a.ino, "user.engram.tags"),
			 -ENODATA);
}

static int count_cb(void *ctx, const char *name, const struct store_attr *a)
{
	(*(int *)ctx)++;
	return 0;
}

/* The time in the posting of TERM for INO, or INT64_MIN when none. */
static int64_t posting_when(struct store *st, const char *term, uint64_t ino)
{
	unsigned char key[64];
	struct posting p;
	size_t tl = strlen(term), n;
	char *v;
	int64_t when = INT64_MIN;

	memcpy(key, term, tl + 1);
	be64_put(key + tl + 1, ino);
	if (db_get(st, CF_POSTINGS, key, tl + 9, &v, &n) == 0) {
		if (posting_decode((const unsigned char *)v, n, &p) == 0)
			when = p.when;
		free(v);
	}
	return when;
}

static void test_content_write_with_times(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, "x", S_IFREG | 0644), out;
	struct timespec mt = { 1714521600, 123456789 };	/* 2024-05-01 */
	struct timespec at = { 1600000000, 5 }, ct = { 1700000000, 7 }, before;
	struct store_times t = { &at, &mt, &ct };
	const char *text = "the walrus sang";

	clock_gettime(CLOCK_REALTIME, &before);
	assert_int_equal(store_content_write_times(st, a.ino, text,
						   strlen(text), 0, &t, &out),
			 0);
	assert_int_equal(out.mtime.tv_sec, mt.tv_sec);
	assert_int_equal(out.mtime.tv_nsec, mt.tv_nsec);
	assert_int_equal(out.atime.tv_sec, at.tv_sec);
	assert_int_equal(out.atime.tv_nsec, at.tv_nsec);
	assert_int_equal(out.ctime.tv_sec, ct.tv_sec);
	assert_int_equal(out.ctime.tv_nsec, ct.tv_nsec);
	assert_int_equal(out.size, strlen(text));
	assert_int_equal(store_getattr(st, a.ino, &out), 0);
	assert_int_equal(out.mtime.tv_sec, mt.tv_sec);
	assert_int_equal(out.mtime.tv_nsec, mt.tv_nsec);
	expect_content(st, a.ino, text);
	/* indexed once, with the time given */
	assert_int_equal(df_of(st, "walrus"), 1);
	assert_int_equal(posting_when(st, "walrus", a.ino), mt.tv_sec);

	/* no mtime or ctime given: now; no atime given: unchanged */
	t.mtime = t.ctime = NULL;
	assert_int_equal(store_content_write_times(st, a.ino, "walrus", 6, 0,
						   &t, &out),
			 0);
	assert_true(out.mtime.tv_sec >= before.tv_sec);
	assert_true(out.ctime.tv_sec >= before.tv_sec);
	assert_int_equal(out.atime.tv_sec, at.tv_sec);
	assert_int_equal(posting_when(st, "walrus", a.ino), out.mtime.tv_sec);
	assert_int_equal(df_of(st, "walrus"), 1);
}

static void test_readdir_and_persistence(void **state)
{
	struct store *st = *state;
	struct store_attr a;
	struct store_counts c;
	uint64_t max_ino = 0;
	char name[16];
	int n = 0;

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "e%02d", i);
		a = mk(st, STORE_ROOT_INO, name, S_IFREG | 0644);
		put(st, a.ino, "some text about owls");
		max_ino = a.ino;
	}
	assert_int_equal(store_readdir(st, STORE_ROOT_INO, NULL, count_cb, &n),
			 0);
	assert_int_equal(n, 50);
	n = 0;
	assert_int_equal(store_readdir(st, STORE_ROOT_INO, "e39", count_cb,
				       &n),
			 0);
	assert_int_equal(n, 10);
	st = harness_reopen(st);
	*state = st;
	store_counts(st, &c);
	assert_int_equal(c.episodes, 50);
	assert_int_equal(c.indexed, 50);
	assert_true(c.next_ino > max_ino);	/* never reused */
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "e07", &a), 0);
	expect_content(st, a.ino, "some text about owls");
}

/* Every write of this workload fails once in turn: no partial state. */
static void test_fault_injection_leaves_no_partial_state(void **state)
{
	struct store *st = *state;
	struct store_attr a = mk(st, STORE_ROOT_INO, "f", S_IFREG | 0644);
	struct store_counts before, after;

	put(st, a.ino, "first version of the text");
	store_counts(st, &before);
	db_fault_write(st, 1, ENOSPC);
	assert_int_equal(store_content_write(st, a.ino, "second", 6, 0, &a),
			 -ENOSPC);
	expect_content(st, a.ino, "first version of the text");
	assert_int_equal(df_of(st, "second"), 0);
	assert_int_equal(df_of(st, "first"), 1);
	db_fault_write(st, 1, EIO);
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "f"), -EIO);
	db_fault_write(st, 1, EIO);
	assert_int_equal(store_rename(st, STORE_ROOT_INO, "f", STORE_ROOT_INO,
				      "g", 0),
			 -EIO);
	db_fault_write(st, 1, ENOSPC);
	assert_int_equal(store_create(st, STORE_ROOT_INO, "h", S_IFREG | 0644,
				      0, 0, &a),
			 -ENOSPC);
	store_counts(st, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "f", &a), 0);
	assert_int_equal(store_lookup(st, STORE_ROOT_INO, "h", &a), -ENOENT);
	expect_content(st, a.ino, "first version of the text");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)
		T(test_create_read_replace),
		T(test_names_refused),
		T(test_append_and_limit),
		T(test_unlink_forgets_everything),
		T(test_folders),
		T(test_rename),
		T(test_hidden_names_not_indexed),
		T(test_setattr_and_xattrs),
		T(test_content_write_with_times),
		T(test_readdir_and_persistence),
		T(test_fault_injection_leaves_no_partial_state),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
