/*
 * test_verify.c - store_verify: a store built through the API (tree,
 * renames, hidden names, xattrs, times, consolidation) has no problems,
 * read-write or read-only; each kind of damage written straight into
 * RocksDB is found and named on its own line; the report is capped.
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

static uint64_t put(struct store *st, uint64_t parent, const char *name,
		    const char *text)
{
	struct store_attr a = mk(st, parent, name, S_IFREG | 0644);

	assert_int_equal(store_content_write(st, a.ino, text, strlen(text), 0,
					     &a), 0);
	return a.ino;
}

/* Run verify; the report (caller frees) and the count. */
static int verify(struct store *st, char **report)
{
	size_t len = 0;
	int n = store_verify(st, report, &len);

	assert_true(n >= 0);
	assert_non_null(*report);
	assert_int_equal(strlen(*report), len);
	if (getenv("HARNESS_VERBOSE"))
		fprintf(stderr, "verify: %d\n%s", n, *report);
	return n;
}

static void expect_line(const char *report, const char *needle)
{
	if (!strstr(report, needle)) {
		fprintf(stderr, "not in the report: %s\n---\n%s---\n", needle,
			report);
		fail();
	}
}

static void raw_put(struct store *st, enum db_cf cf, const void *k,
		    size_t klen, const void *v, size_t vlen)
{
	char *err = NULL;

	rocksdb_put_cf(st->db, st->wo, st->cf[cf], k, klen, v, vlen, &err);
	assert_null(err);
}

static void raw_del(struct store *st, enum db_cf cf, const void *k,
		    size_t klen)
{
	char *err = NULL;

	rocksdb_delete_cf(st->db, st->wo, st->cf[cf], k, klen, &err);
	assert_null(err);
}

static size_t posting_key(unsigned char *k, const char *term, uint64_t ino)
{
	size_t n = strlen(term);

	memcpy(k, term, n);
	k[n] = '\0';
	be64_put(k + n + 1, ino);
	return n + 9;
}

static void binding_key(unsigned char *k, char dir, uint64_t a, uint64_t b)
{
	k[0] = (unsigned char)dir;
	be64_put(k + 1, a);
	be64_put(k + 9, b);
}

/* A varied tree, made only through the store API. */
static void build_tree(struct store *st)
{
	struct store_attr work = mk(st, STORE_ROOT_INO, "work", S_IFDIR | 0755);
	struct store_attr daily = mk(st, work.ino, "daily", S_IFDIR | 0755);
	struct store_attr gone = mk(st, work.ino, "gone", S_IFDIR | 0755);
	struct store_attr a, t = { 0 };
	uint64_t x;

	put(st, daily.ino, "standup", "Standup: the parser is late again");
	put(st, STORE_ROOT_INO, ".swp", "an editor's swap file, not indexed");
	x = put(st, STORE_ROOT_INO, ".draft", "a draft about the station");
	assert_int_equal(store_rename(st, STORE_ROOT_INO, ".draft", work.ino,
				      "final", 0), 0);
	assert_int_equal(store_rename(st, work.ino, "final", STORE_ROOT_INO,
				      ".again", 0), 0);
	assert_int_equal(store_rename(st, STORE_ROOT_INO, ".again", work.ino,
				      "final", 0), 0);
	put(st, STORE_ROOT_INO, "forgotten", "to be forgotten soon");
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "forgotten"), 0);
	assert_int_equal(store_rmdir(st, work.ino, "gone"), 0);
	(void)gone;
	mk(st, STORE_ROOT_INO, "empty", S_IFREG | 0600);
	assert_int_equal(store_content_append(st, x, " and more", 9, 0, &a), 0);
	assert_int_equal(store_xattr_set(st, x, "user.engram.confidence", "0.9",
					 3, 0), 0);
	assert_int_equal(store_xattr_set(st, x, "user.engram.where", "home", 4,
					 0), 0);
	t.mtime.tv_sec = 1714557600;
	assert_int_equal(store_setattr(st, x, &t, STORE_SET_MTIME, &a), 0);
	put(st, STORE_ROOT_INO, "twin", "Met Alice for coffee at the station");
	put(st, STORE_ROOT_INO, "twin2", "Met Alice for coffee at the station");
}

static int count_concept(void *ctx, const struct store_concept *c)
{
	(*(int *)ctx)++;
	return 0;
}

/* Enough alike episodes for consolidation to form concepts. */
static void build_concepts(struct store *st)
{
	static const char *const topics[] = { "coffee espresso barista cafe",
					      "rocket launch orbit booster" };
	struct store_consolidation rep;
	char name[32], text[160];
	int n = 0;

	assert_int_equal(store_flag_set(st, FLAG_DUAL_MEMORY_TYPES, "1", 1, 0,
					"write", NULL, 0), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		snprintf(text, sizeof(text), "%s notes %s day %d",
			 topics[i % 2], topics[i % 2], i);
		put(st, STORE_ROOT_INO, name, text);
	}
	assert_int_equal(store_consolidate(st, &rep), 0);
	assert_int_equal(store_concept_list(st, NULL, count_concept, &n), 0);
	assert_true(n > 0);
	/* One of them changes and one goes: the next run catches up. */
	put(st, STORE_ROOT_INO, "t12", "rocket launch orbit booster again");
	assert_int_equal(store_unlink(st, STORE_ROOT_INO, "t0"), 0);
	assert_int_equal(store_consolidate(st, &rep), 0);
}

static void test_a_store_made_by_the_api_is_clean(void **state)
{
	struct store *st = *state;
	struct store_options o = { .read_only = true };
	char dir[256], *report;

	build_tree(st);
	build_concepts(st);
	assert_int_equal(verify(st, &report), 0);
	assert_string_equal(report, "");
	free(report);
	snprintf(dir, sizeof(dir), "%s", store_dir(st));
	store_close(st);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(verify(st, &report), 0);
	free(report);
	store_close(st);
	assert_int_equal(store_open(dir, NULL, &st), 0);
	*state = st;
}

static void test_index_damage_is_named(void **state)
{
	struct store *st = *state;
	uint64_t a = put(st, STORE_ROOT_INO, "coffee",
			 "Met Alice for coffee at the station");
	uint64_t h = put(st, STORE_ROOT_INO, ".hidden", "secret station");
	unsigned char k[80], v[4] = { 1, 1, 0, 255 }, tf5[4] = { 5, 6, 0, 179 };
	char *report;

	raw_del(st, CF_POSTINGS, k, posting_key(k, "alic", a));
	raw_put(st, CF_POSTINGS, k, posting_key(k, "zebra", a), v, 4);
	raw_put(st, CF_POSTINGS, k, posting_key(k, "ghost", 999), v, 4);
	raw_put(st, CF_POSTINGS, k, posting_key(k, "station", h), v, 4);
	raw_put(st, CF_POSTINGS, "bad", 3, v, 4);
	raw_put(st, CF_POSTINGS, k, posting_key(k, "station", a), tf5, 4);
	assert_int_equal(verify(st, &report), 6);
	expect_line(report, "episode 16: term 'alic' has no posting");
	expect_line(report, "posting 'zebra' -> inode 16: the term is not in "
			    "the episode's content");
	expect_line(report, "posting 'ghost' -> inode 999: no such episode");
	expect_line(report, "posting 'station' -> inode 17: the episode is "
			    "not indexed");
	expect_line(report, "posting: malformed key 'bad' (3 bytes)");
	expect_line(report, "posting 'station' -> inode 16: tf, length, time "
			    "or confidence differ from the episode's");
	free(report);
}

static void test_tree_damage_is_named(void **state)
{
	struct store *st = *state;
	struct store_attr work = mk(st, STORE_ROOT_INO, "work", S_IFDIR | 0755);
	uint64_t a = put(st, work.ino, "a", "alpha");
	uint64_t b = put(st, STORE_ROOT_INO, "b", "beta");
	unsigned char k[64], v[12];
	struct inode_rec r;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *report;

	(void)a;
	dirent_key(k, work.ino, "a", 1);
	raw_del(st, CF_DIRENTS, k, 9);			/* a: unnamed */
	dirent_key(k, STORE_ROOT_INO, "b2", 2);	/* b: named twice */
	be64_put(v, b);
	memcpy(v + 8, &(uint32_t){ S_IFREG | 0644 }, 4);
	raw_put(st, CF_DIRENTS, k, 10, v, 12);
	dirent_key(k, STORE_ROOT_INO, "nobody", 6);	/* to nothing */
	be64_put(v, 4242);
	raw_put(st, CF_DIRENTS, k, 14, v, 12);
	assert_int_equal(inode_get(st, work.ino, &r), 0);
	r.a.nlink = 5;
	inode_put(wb, st, &r);
	r.a.ino = 1000000;	/* beyond meta/next_ino, and unnamed */
	r.a.nlink = 2;
	inode_put(wb, st, &r);
	assert_int_equal(db_write(st, wb, false), 0);
	rocksdb_writebatch_destroy(wb);
	inode_rec_release(&r);
	assert_int_equal(verify(st, &report), 8);
	expect_line(report, "inode 17 ('a'): named by 0 entries");
	expect_line(report, "entry 'b2' in folder 2 -> inode 18: the inode "
			    "says it is 'b' in folder 2");
	expect_line(report, "inode 18 ('b'): named by 2 entries");
	expect_line(report, "entry 'nobody' in folder 2 -> inode 4242: no such "
			    "inode");
	expect_line(report, "folder 16: nlink 5, it has 0 subfolders");
	expect_line(report, "inode 1000000: not below meta/next_ino 19");
	expect_line(report, "inode 1000000 ('work'): named by 0 entries");
	expect_line(report, "counter meta/folders: 1, counted 2");
	free(report);
}

static void test_content_and_counter_damage_is_named(void **state)
{
	struct store *st = *state;
	uint64_t a = put(st, STORE_ROOT_INO, "a", "alpha");
	unsigned char k[16];
	char *report;

	be64_put(k, a);
	raw_put(st, CF_CONTENT, k, 8, "omega", 5);	/* same size */
	be64_put(k, 777);
	raw_put(st, CF_CONTENT, k, 8, "lost", 4);
	memcpy(k + 8, "user.x", 6);
	raw_put(st, CF_XATTRS, k, 14, "1", 1);
	st->n_bytes += 3;
	assert_int_equal(verify(st, &report), 6);
	expect_line(report, "episode 16: hash differs from its content");
	expect_line(report, "episode 16: term 'omega' has no posting");
	expect_line(report, "posting 'alpha' -> inode 16: the term is not in "
			    "the episode's content");
	expect_line(report, "content of inode 777: no such episode");
	expect_line(report, "xattr of inode 777: no such inode");
	expect_line(report, "counter meta/bytes: 8, counted 5");
	st->n_bytes -= 3;
	free(report);
}

static void test_binding_damage_is_named(void **state)
{
	struct store *st = *state;
	uint64_t a = put(st, STORE_ROOT_INO, "a", "alpha");
	unsigned char k[17];
	double s = 0.5, s2 = 0.25, bad = 1.5;
	char *report;

	binding_key(k, 'e', a, 5);		/* one side only */
	raw_put(st, CF_BINDINGS, k, 17, &s, 8);
	binding_key(k, 'c', 6, 555);		/* one side, no episode */
	raw_put(st, CF_BINDINGS, k, 17, &s, 8);
	binding_key(k, 'e', a, 7);		/* strengths differ */
	raw_put(st, CF_BINDINGS, k, 17, &s, 8);
	binding_key(k, 'c', 7, a);
	raw_put(st, CF_BINDINGS, k, 17, &s2, 8);
	binding_key(k, 'e', a, 8);		/* out of range, both sides */
	raw_put(st, CF_BINDINGS, k, 17, &bad, 8);
	binding_key(k, 'c', 8, a);
	raw_put(st, CF_BINDINGS, k, 17, &bad, 8);
	assert_int_equal(verify(st, &report), 9);
	expect_line(report, "binding of episode 16 to concept 5: no 'c' "
			    "mirror");
	expect_line(report, "binding of episode 16 to concept 5: no such "
			    "concept");
	expect_line(report, "binding of episode 555 to concept 6: no 'e' "
			    "mirror");
	expect_line(report, "binding of episode 555 to concept 6: no such "
			    "episode");
	expect_line(report, "binding of episode 16 to concept 7: the mirror's "
			    "strength differs");
	expect_line(report, "binding of episode 16 to concept 8: strength 1.5 "
			    "out of 0..1");
	free(report);
}

static int first_concept(void *ctx, const struct store_concept *c)
{
	*(struct store_concept *)ctx = *c;
	((struct store_concept *)ctx)->label = strdup(c->label);
	return 1;
}

/* The first vector that names a concept: its inode and value. */
static uint64_t bound_vector(struct store *st, char **val, size_t *vlen)
{
	rocksdb_iterator_t *it;
	uint64_t ino = 0, cid;

	it = rocksdb_create_iterator_cf(st->db, st->ro, st->cf[CF_VECTORS]);
	for (rocksdb_iter_seek_to_first(it); !ino && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, vlen);

		memcpy(&cid, v + 8, 8);
		if (!cid)
			continue;
		ino = be64_get((const unsigned char *)k);
		*val = malloc(*vlen);
		memcpy(*val, v, *vlen);
	}
	rocksdb_iter_destroy(it);
	assert_true(ino != 0);
	return ino;
}

static void test_concept_damage_is_named(void **state)
{
	struct store *st = *state;
	struct store_concept c = { 0 };
	uint64_t ino, fake = 999, cid;
	unsigned char k[8], idk[8];
	char *report, *val = NULL, line[160];
	size_t vlen;

	build_concepts(st);
	assert_int_equal(store_concept_list(st, NULL, first_concept, &c), 1);
	raw_del(st, CF_LABELS, c.label, strlen(c.label));
	be64_put(idk, fake);
	raw_put(st, CF_LABELS, "fake", 4, idk, 8);
	ino = bound_vector(st, &val, &vlen);
	memcpy(&cid, val + 8, 8);
	memcpy(val + 8, &fake, 8);
	be64_put(k, ino);
	raw_put(st, CF_VECTORS, k, 8, val, vlen);
	free(val);
	assert_int_equal(verify(st, &report), 4);
	snprintf(line, sizeof(line), "concept %llu: its label has no entry "
		 "naming it", (unsigned long long)c.id);
	expect_line(report, line);
	expect_line(report, "label 'fake' -> concept 999: no such concept");
	snprintf(line, sizeof(line), "vector of inode %llu -> concept 999: no "
		 "such concept", (unsigned long long)ino);
	expect_line(report, line);
	snprintf(line, sizeof(line), "concept %llu: ", (unsigned long long)cid);
	expect_line(report, line);
	expect_line(report, "vectors name it");
	free(report);
	store_concept_release(&c);
}

static void test_report_is_capped(void **state)
{
	struct store *st = *state;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	unsigned char k[32], v[4] = { 1, 1, 0, 255 };
	char *report, *last;
	size_t lines = 0;

	for (uint64_t i = 0; i < 10050; i++)
		rocksdb_writebatch_put_cf(wb, st->cf[CF_POSTINGS], (char *)k,
					  posting_key(k, "ghost", 5000 + i),
					  (char *)v, 4);
	assert_int_equal(db_write(st, wb, false), 0);
	rocksdb_writebatch_destroy(wb);
	assert_int_equal(verify(st, &report), 10050);
	for (const char *p = report; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 10001);
	report[strlen(report) - 1] = '\0';
	last = strrchr(report, '\n');
	assert_non_null(last);
	assert_string_equal(last + 1, "... and 50 more problems");
	free(report);
}

static void test_damage_is_found_read_only(void **state)
{
	struct store *st = *state;
	struct store_options o = { .read_only = true };
	uint64_t a = put(st, STORE_ROOT_INO, "a", "alpha");
	unsigned char k[32];
	char dir[256], *report;

	raw_del(st, CF_POSTINGS, k, posting_key(k, "alpha", a));
	snprintf(dir, sizeof(dir), "%s", store_dir(st));
	store_close(st);
	assert_int_equal(store_open(dir, &o, &st), 0);
	assert_int_equal(verify(st, &report), 1);
	expect_line(report, "episode 16: term 'alpha' has no posting");
	free(report);
	store_close(st);
	assert_int_equal(store_open(dir, NULL, &st), 0);
	*state = st;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_a_store_made_by_the_api_is_clean, harness_open,
			harness_close),
		cmocka_unit_test_setup_teardown(test_index_damage_is_named,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(test_tree_damage_is_named,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(
			test_content_and_counter_damage_is_named, harness_open,
			harness_close),
		cmocka_unit_test_setup_teardown(test_binding_damage_is_named,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(test_concept_damage_is_named,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(test_report_is_capped,
						harness_open, harness_close),
		cmocka_unit_test_setup_teardown(test_damage_is_found_read_only,
						harness_open, harness_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
