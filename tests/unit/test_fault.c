/*
 * test_fault.c - fault injection: every database write, and every read,
 * of a workload fails in turn, and no partial state is ever visible.
 *
 * The workload is a list of store operations (create, write, append, sync
 * write, rename over an episode, rename to and from a hidden name, folder
 * rename, unlink, rmdir, xattrs, setattr, flag set, config apply,
 * consolidation, recall).  For each operation, for N = 1, 2, ... the N-th
 * write from the start of the operation fails (db_fault_write, alternately
 * ENOSPC and EIO) until the operation gets through:
 *   1. the operation returns exactly the injected errno;
 *   2. the visible state equals the state before, compared as a full dump:
 *      the tree with every attribute, contents, xattrs, bound concepts,
 *      counters (store_counts), every flag value, the flag history,
 *      concepts with their rendering, and recall results for fixed cues;
 *   3. the store agrees with itself: counters equal the tree, every
 *      posting belongs to an indexed episode's terms and every term has
 *      its posting (db.c, invariant 3), and store_verify (when the library
 *      has it) reports nothing;
 *   4. an operation that gets through with the fault armed must not have
 *      swallowed it: empty probe writes after it tell how many writes it
 *      made, and a fault it consumed while returning 0 is a failure
 *      (except an operation marked best-effort).
 * The seams count the calling thread's accesses only (db.c), so a
 * background thread cannot take a fault meant for the operation; the
 * recall history thread (rehearse.c) is stopped all the same, so that
 * recall changes nothing the dump shows (its history is best-effort).
 * After every sixth operation, and after the whole workload, the store is
 * closed and reopened and must dump the same: what was visible was
 * persisted.
 *
 * Reads: the same loop fails the N-th read (db_fault_read: a point get or
 * an iterator's scan) of every operation, then of read-only operations
 * (lookup, getattr, readdir, read, xattrs, concepts, flag history, path):
 * each must return EIO, never answer as if something were absent.  Only
 * recall may get through a failed read (its recall counts are
 * best-effort, engramfs(8) BUGS).  Then store_open itself: every read it
 * makes fails in turn, the open must fail with EIO, and once it gets
 * through the store dumps as before and the inode counter goes on where
 * it was (a counter read as absent would hand out numbers again).
 *
 * Under valgrind or TSan (harness_slow) reopens are rarer, the workload
 * fails every third read and the open test every fifth: an open costs
 * seconds there, a dump a good fraction of one.
 *
 * Figures go to stderr: operations, accesses, injected faults
 * (HARNESS_VERBOSE=1: accesses per operation).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "harness.h"
#include "store_i.h"

/* store/verify.c (store_verify) is being written: call it once the
 * library has it.  The Makefile puts every store/ source in libengram.a and
 * -Istore makes the file visible to __has_include. */
#if defined(__has_include)
#if __has_include("verify.c")
#define FX_HAVE_VERIFY 1
#endif
/* The recall history thread (rehearse.c) writes behind recall's back, and
 * the dump would show it.  It is stopped (the history is best-effort, and
 * recall queues nothing without it). */
#if __has_include("rehearse.c")
#define FX_HAVE_REHEARSE 1
#endif
#endif

/* ---- a growing text buffer ------------------------------------------ */

struct fx_buf {
	char *p;
	size_t len, cap;
};

static void fx_printf(struct fx_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fx_printf(struct fx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
			      b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
		if (b->len == 0)
			b->p[0] = '\0';
	}
}

/* Printable form of bytes (content and xattr values). */
static void fx_bytes(struct fx_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			fx_printf(b, "%c", c);
		else
			fx_printf(b, "\\x%02x", c);
	}
}

/* ---- the dump of everything visible ------------------------------- */

/* What is being done, for the messages of checks deep in the dump. */
static char fx_context[200] = "setup";

static const struct store_caller fx_root = { 0, 0, NULL, 0 };

struct fx_walk {
	struct store *st;
	struct fx_buf *b;
	const char *path;
	uint64_t files, folders, indexed, bytes;
	char **sub;
	uint64_t *subino;
	size_t nsub;
};

static void fx_dump_ts(struct fx_buf *b, const char *what,
		       const struct timespec *t)
{
	fx_printf(b, " %s=%lld.%09ld", what, (long long)t->tv_sec,
		  t->tv_nsec);
}

static void fx_dump_xattrs(struct store *st, struct fx_buf *b, uint64_t ino)
{
	char *names = NULL, *v;
	size_t n = 0, vl;

	assert_int_equal(store_xattr_list(st, ino, &names, &n), 0);
	for (size_t i = 0; i < n; i += strlen(names + i) + 1) {
		int r = store_xattr_get(st, ino, names + i, &v, &vl);

		fx_printf(b, "  xattr %s", names + i);
		if (r == 0) {
			fx_printf(b, "=");
			fx_bytes(b, v, vl);
			free(v);
		} else {
			fx_printf(b, " (%s)", strerror(-r));
		}
		fx_printf(b, "\n");
	}
	free(names);
}

static int fx_dump_entry(void *ctx, const char *name,
			 const struct store_attr *a)
{
	struct fx_walk *w = ctx;
	struct fx_buf *b = w->b;
	char *path, *buf = NULL, *cs = NULL;
	size_t len = 0, cl = 0;

	assert_true(asprintf(&path, "%s%s%s", w->path, *w->path ? "/" : "",
			     name) > 0);
	fx_printf(b, "%s ino=%" PRIu64 " parent=%" PRIu64 " mode=%o uid=%u "
		  "gid=%u nlink=%u size=%" PRIu64 " hash=%016" PRIx64
		  " conf=%.6f", path, a->ino, a->parent, a->mode, a->uid,
		  a->gid, a->nlink, a->size, a->hash, a->confidence);
	fx_dump_ts(b, "mtime", &a->mtime);
	fx_dump_ts(b, "ctime", &a->ctime);
	fx_printf(b, "\n");
	fx_dump_xattrs(w->st, b, a->ino);
	if (S_ISDIR(a->mode)) {
		w->folders++;
		w->sub = realloc(w->sub, (w->nsub + 1) * sizeof(*w->sub));
		w->subino = realloc(w->subino,
				    (w->nsub + 1) * sizeof(*w->subino));
		assert_true(w->sub && w->subino);
		w->sub[w->nsub] = path;
		w->subino[w->nsub++] = a->ino;
		return 0;
	}
	assert_int_equal(store_content_read(w->st, a->ino, &buf, &len), 0);
	assert_int_equal(len, a->size);
	assert_true(XXH64(buf, len, 0) == a->hash);
	fx_printf(b, "  content ");
	fx_bytes(b, buf, len);
	fx_printf(b, "\n");
	free(buf);
	assert_int_equal(store_episode_concepts(w->st, a->ino, &cs, &cl), 0);
	if (cl) {
		fx_printf(b, "  concepts ");
		fx_bytes(b, cs, cl);
		fx_printf(b, "\n");
	}
	free(cs);
	w->files++;
	w->bytes += len;
	if (name[0] != '.')
		w->indexed++;
	free(path);
	return 0;
}

static void fx_dump_tree(struct fx_walk *top, uint64_t dir, const char *path)
{
	struct fx_walk w = { .st = top->st, .b = top->b, .path = path };

	assert_int_equal(store_readdir(top->st, dir, NULL, fx_dump_entry, &w),
			 0);
	top->files += w.files;
	top->folders += w.folders;
	top->indexed += w.indexed;
	top->bytes += w.bytes;
	for (size_t i = 0; i < w.nsub; i++) {
		struct fx_walk sub = { .st = top->st, .b = top->b };

		fx_dump_tree(&sub, w.subino[i], w.sub[i]);
		top->files += sub.files;
		top->folders += sub.folders;
		top->indexed += sub.indexed;
		top->bytes += sub.bytes;
		free(w.sub[i]);
	}
	free(w.sub);
	free(w.subino);
}

static int fx_dump_concept(void *ctx, const struct store_concept *c)
{
	struct fx_walk *w = ctx;
	char *text = NULL;
	size_t len = 0;

	fx_printf(w->b, "concept %s id=%" PRIu64 " coherence=%.6f members=%u "
		  "formed=%lld updated=%lld\n", c->label, c->id, c->coherence,
		  c->members, (long long)c->formed, (long long)c->updated);
	assert_int_equal(store_concept_render(w->st, c->id, &fx_root, &text,
					      &len),
			 0);
	fx_printf(w->b, "  ");
	fx_bytes(w->b, text, len);
	fx_printf(w->b, "\n");
	free(text);
	return 0;
}

static const char *const fx_cues[] = {
	"coffee alice station?limit=50&mode=episodic",
	"coffee alice station?limit=50&mode=blended",
	"bike chain repair?limit=50&mode=semantic",
	"lunch bob?limit=50",
	"river garden?limit=50&under=work",
};

static void fx_dump_recall(struct store *st, struct fx_buf *b)
{
	for (size_t i = 0; i < sizeof(fx_cues) / sizeof(*fx_cues); i++) {
		struct store_query q;
		struct store_results res;
		char why[256];
		int r;

		assert_int_equal(store_query_parse_name(fx_cues[i],
							strlen(fx_cues[i]),
							&q, why, sizeof(why)),
				 0);
		r = store_recall(st, &q, &fx_root, &res);
		fx_printf(b, "recall '%s': %s\n", fx_cues[i],
			  r ? strerror(-r) : "");
		for (size_t k = 0; !r && k < res.n; k++)
			fx_printf(b, "  %s %.3f %d\n", res.v[k].name,
				  res.v[k].score, (int)res.v[k].pathway);
		if (!r)
			store_results_release(&res);
		store_query_release(&q);
	}
}

/* Everything a caller of the store can see, as text. */
static char *fx_dump(struct store *st)
{
	struct fx_buf b = { 0 };
	struct fx_walk w = { .st = st, .b = &b, .path = "" };
	struct store_counts c;
	char *h = NULL, val[64];
	size_t hl = 0;

	store_counts(st, &c);
	fx_printf(&b, "counts episodes=%" PRIu64 " folders=%" PRIu64
		  " indexed=%" PRIu64 " bytes=%" PRIu64 "\n", c.episodes,
		  c.folders, c.indexed, c.bytes);
	for (int id = 0; id < FLAG__COUNT; id++) {
		store_flag_format(id, store_flag_get(st, id), val, sizeof(val));
		fx_printf(&b, "flag %s=%s\n", store_flag_def(id)->name, val);
	}
	assert_int_equal(store_flag_history(st, &h, &hl), 0);
	fx_printf(&b, "history:\n");
	fx_bytes(&b, h, hl);
	fx_printf(&b, "\n");
	free(h);
	fx_dump_tree(&w, STORE_ROOT_INO, "");
	/* The counters agree with the tree. */
	if (c.episodes != w.files || c.folders != w.folders ||
	    c.indexed != w.indexed || c.bytes != w.bytes)
		fail_msg("store_counts disagree with the tree: episodes %" PRIu64
			 "/%" PRIu64 ", folders %" PRIu64 "/%" PRIu64
			 ", indexed %" PRIu64 "/%" PRIu64 ", bytes %" PRIu64
			 "/%" PRIu64 " (counter/tree), after %s", c.episodes, w.files,
			 c.folders, w.folders, c.indexed, w.indexed, c.bytes,
			 w.bytes, fx_context);
	assert_int_equal(store_concept_list(st, NULL, fx_dump_concept, &w), 0);
	fx_dump_recall(st, &b);
	return b.p;
}

/* Line-wise comparison with the first difference in the message. */
static void fx_same(const char *what, const char *before, const char *after)
{
	const char *a = before, *b = after;

	if (!strcmp(before, after))
		return;
	for (;;) {
		const char *ea = strchrnul(a, '\n'), *eb = strchrnul(b, '\n');

		if (ea - a != eb - b || memcmp(a, b, (size_t)(ea - a))) {
			fail_msg("%s: the state changed; first difference:\n"
				 "  before: %.*s\n  after:  %.*s", what,
				 (int)(ea - a), a, (int)(eb - b), b);
		}
		if (!*ea || !*eb)
			break;
		a = ea + 1;
		b = eb + 1;
	}
	fail_msg("%s: the state changed", what);
}

/* ---- the store agrees with itself ---------------------------------- */

struct fx_post {
	char **keys;	/* "term\0ino" as "term/ino" text */
	size_t n, cap;
};

static void fx_post_add(struct fx_post *p, char *key)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 256;
		p->keys = realloc(p->keys, p->cap * sizeof(*p->keys));
		assert_non_null(p->keys);
	}
	p->keys[p->n++] = key;
}

static int fx_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expected postings: the terms of every indexed episode's content. */
static int fx_expect_postings(void *ctx, const char *name,
			      const struct store_attr *a);

struct fx_expect {
	struct store *st;
	struct fx_post *p;
};

static void fx_expect_dir(struct store *st, uint64_t dir, struct fx_post *p)
{
	struct fx_expect e = { st, p };

	assert_int_equal(store_readdir(st, dir, NULL, fx_expect_postings, &e),
			 0);
}

static int fx_expect_postings(void *ctx, const char *name,
			      const struct store_attr *a)
{
	struct fx_expect *e = ctx;
	struct text_terms t = { 0 };
	char *buf = NULL, *key;
	size_t len = 0;

	if (S_ISDIR(a->mode)) {
		fx_expect_dir(e->st, a->ino, e->p);
		return 0;
	}
	if (name[0] == '.')
		return 0;
	assert_int_equal(store_content_read(e->st, a->ino, &buf, &len), 0);
	assert_int_equal(text_analyze(buf, len, &t), 0);
	for (size_t i = 0; i < t.n; i++) {
		assert_true(asprintf(&key, "%s/%" PRIu64, t.v[i].term, a->ino) >
			    0);
		fx_post_add(e->p, key);
	}
	text_terms_release(&t);
	free(buf);
	return 0;
}

static void fx_check_index(struct store *st)
{
	struct fx_post want = { 0 }, got = { 0 };
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	size_t klen;
	char *key;

	fx_expect_dir(st, STORE_ROOT_INO, &want);
	ro = rocksdb_readoptions_create();
	/* The postings memtable hashes by term: a scan of every term
	 * needs total order. */
	rocksdb_readoptions_set_total_order_seek(ro, 1);
	it = rocksdb_create_iterator_cf(st->db, ro, st->cf[CF_POSTINGS]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		const char *k = rocksdb_iter_key(it, &klen);

		assert_true(klen > 9 && k[klen - 9] == '\0');
		assert_true(asprintf(&key, "%s/%" PRIu64, k,
				     be64_get((const unsigned char *)k + klen -
					      8)) > 0);
		fx_post_add(&got, key);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (want.n)	/* qsort(NULL, 0) is undefined behaviour */
		qsort(want.keys, want.n, sizeof(*want.keys), fx_cmp);
	if (got.n)
		qsort(got.keys, got.n, sizeof(*got.keys), fx_cmp);
	for (size_t i = 0; i < want.n || i < got.n; i++) {
		if (i >= want.n || i >= got.n || strcmp(want.keys[i], got.keys[i]))
			fail_msg("index: posting %s expected, %s found",
				 i < want.n ? want.keys[i] : "(none)",
				 i < got.n ? got.keys[i] : "(none)");
	}
	for (size_t i = 0; i < want.n; i++)
		free(want.keys[i]);
	for (size_t i = 0; i < got.n; i++)
		free(got.keys[i]);
	free(want.keys);
	free(got.keys);
}

static void fx_check_store(struct store *st, const char *what)
{
	fx_check_index(st);
#ifdef FX_HAVE_VERIFY
	{
		char *report = NULL;
		size_t len = 0;
		int r = store_verify(st, &report, &len);

		if (r != 0)
			fail_msg("%s: store_verify: %d: %.*s", what, r,
				 (int)len, report ? report : "");
		free(report);
	}
#else
	(void)what;
#endif
}

/* ---- the workload --------------------------------------------------- */

struct fx {
	struct store *st;
	void **state;		/* the harness's, kept current for teardown */
	size_t max_concepts;
	char cfg[96];		/* a config file for store_config_apply */
	long faults, accesses;
};

/* The paths the operations name.  They are resolved before the fault is
 * armed (fx_resolve), so that the only reads and writes counted are the
 * operation's own. */
static const char *const fx_paths[] = {
	"work", "work2", "alpha", "alpha2", "gamma", "epsilon", "work/beta",
	"work/delta", "work2/delta",
};
#define FX_NPATHS (sizeof(fx_paths) / sizeof(*fx_paths))
static uint64_t fx_resolved[FX_NPATHS];

static uint64_t fx_lookup_path(struct store *st, const char *path)
{
	char *copy = strdup(path), *save = NULL, *part;
	uint64_t ino = STORE_ROOT_INO;
	struct store_attr a;

	assert_non_null(copy);
	for (part = strtok_r(copy, "/", &save); part;
	     part = strtok_r(NULL, "/", &save)) {
		if (store_lookup(st, ino, part, &a)) {
			free(copy);
			return 0;
		}
		ino = a.ino;
	}
	free(copy);
	return ino;
}

static void fx_resolve(struct store *st)
{
	for (size_t i = 0; i < FX_NPATHS; i++)
		fx_resolved[i] = fx_lookup_path(st, fx_paths[i]);
}

static uint64_t fx_ino(struct store *st, const char *path)
{
	(void)st;
	for (size_t i = 0; i < FX_NPATHS; i++)
		if (!strcmp(fx_paths[i], path))
			return fx_resolved[i];
	fail_msg("fx_ino: '%s' is not in fx_paths", path);
	return 0;
}

static int fx_create(struct store *st, const char *dir, const char *name,
		     uint32_t mode)
{
	struct store_attr a;

	return store_create(st, dir ? fx_ino(st, dir) : STORE_ROOT_INO, name,
			    mode, 1000, 1000, &a);
}

static int fx_write(struct store *st, const char *path, const char *text,
		    unsigned flags)
{
	struct store_attr a;

	return store_content_write(st, fx_ino(st, path), text, strlen(text),
				   flags, &a);
}

#define FX_TEXT_A "Met Alice for coffee at the station, then a walk by the river."
#define FX_TEXT_B "Alice and Bob had coffee at the station before the train."
#define FX_TEXT_C "Coffee with Alice at the station cafe; Bob was late again."
#define FX_TEXT_D "Coffee at the station with Alice and Bob, the usual Monday."
#define FX_TEXT_E "Bob fixed the bike chain on Sunday in the garden by the river."

static int op_mkdir_work(struct fx *f)
{
	return fx_create(f->st, NULL, "work", S_IFDIR | 0755);
}
static int op_mkdir_empty(struct fx *f)
{
	return fx_create(f->st, "work", "empty", S_IFDIR | 0700);
}
static int op_create_alpha(struct fx *f)
{
	return fx_create(f->st, NULL, "alpha", S_IFREG | 0644);
}
static int op_write_alpha(struct fx *f)
{
	return fx_write(f->st, "alpha", FX_TEXT_A, 0);
}
static int op_append_alpha(struct fx *f)
{
	struct store_attr a;
	static const char more[] = " And then lunch with Bob.";

	return store_content_append(f->st, fx_ino(f->st, "alpha"), more,
				    strlen(more), 0, &a);
}
static int op_sync_write_alpha(struct fx *f)
{
	return fx_write(f->st, "alpha", FX_TEXT_A " Lunch with Bob, synced.",
			STORE_SYNC);
}
static int op_create_beta(struct fx *f)
{
	return fx_create(f->st, "work", "beta", S_IFREG | 0600);
}
static int op_write_beta(struct fx *f)
{
	return fx_write(f->st, "work/beta", FX_TEXT_E, 0);
}
static int op_create_gamma(struct fx *f)
{
	return fx_create(f->st, NULL, "gamma", S_IFREG | 0644);
}
static int op_write_gamma(struct fx *f)
{
	return fx_write(f->st, "gamma", FX_TEXT_B, 0);
}
static int op_create_delta(struct fx *f)
{
	return fx_create(f->st, "work", "delta", S_IFREG | 0644);
}
static int op_write_delta(struct fx *f)
{
	return fx_write(f->st, "work/delta", FX_TEXT_C, STORE_SYNC);
}
static int op_create_eps(struct fx *f)
{
	return fx_create(f->st, NULL, "epsilon", S_IFREG | 0644);
}
static int op_write_eps(struct fx *f)
{
	return fx_write(f->st, "epsilon", FX_TEXT_D, 0);
}
static int op_empty_alpha_copy(struct fx *f)
{
	/* An empty episode has no content key: the delete path. */
	return fx_write(f->st, "epsilon", "", 0);
}
static int op_rewrite_eps(struct fx *f)
{
	return fx_write(f->st, "epsilon", FX_TEXT_D " Again.", 0);
}
static int op_xattr_conf(struct fx *f)
{
	return store_xattr_set(f->st, fx_ino(f->st, "alpha"),
			       "user.engram.confidence", "0.9", 3, 0);
}
static int op_xattr_where(struct fx *f)
{
	return store_xattr_set(f->st, fx_ino(f->st, "alpha"),
			       "user.engram.where", "the station", 11, 0);
}
static int op_xattr_tags(struct fx *f)
{
	return store_xattr_set(f->st, fx_ino(f->st, "work"),
			       "user.engram.tags", "folder,work", 11, 0);
}
static int op_xattr_remove(struct fx *f)
{
	return store_xattr_remove(f->st, fx_ino(f->st, "alpha"),
				  "user.engram.where");
}
static int op_setattr(struct fx *f)
{
	struct store_attr in = { 0 }, out;

	in.mode = 0640;
	in.uid = 1001;
	in.mtime.tv_sec = 1714557600;	/* 2024-05-01T10:00:00Z */
	return store_setattr(f->st, fx_ino(f->st, "gamma"), &in,
			     STORE_SET_MODE | STORE_SET_UID | STORE_SET_MTIME,
			     &out);
}
static int op_flag_fan(struct fx *f)
{
	char why[128];

	return store_flag_set(f->st, FLAG_FAN_EFFECT, "1", 1, 1000, "write",
			      why, sizeof(why));
}
static int op_flag_cluster(struct fx *f)
{
	char why[128];

	return store_flag_set(f->st, FLAG_CONS_MIN_CLUSTER_SIZE, "2", 1, 1000,
			      "write", why, sizeof(why));
}
static int op_config_apply(struct fx *f)
{
	struct store_config cfg;
	char *errors = NULL;
	int r = store_config_load(f->cfg, &cfg, &errors);

	free(errors);
	assert_int_equal(r, 0);
	return store_config_apply(f->st, &cfg, NULL);
}
static int op_consolidate(struct fx *f)
{
	struct store_consolidation rep;

	return store_consolidate(f->st, &rep);
}
static int op_rename_over(struct fx *f)
{
	return store_rename(f->st, STORE_ROOT_INO, "alpha",
			    fx_ino(f->st, "work"), "beta", 0);
}
static int op_rename_hide(struct fx *f)
{
	return store_rename(f->st, fx_ino(f->st, "work"), "beta",
			    STORE_ROOT_INO, ".hidden", 0);
}
static int op_rename_show(struct fx *f)
{
	return store_rename(f->st, STORE_ROOT_INO, ".hidden", STORE_ROOT_INO,
			    "alpha2", 0);
}
static int op_rename_folder(struct fx *f)
{
	return store_rename(f->st, STORE_ROOT_INO, "work", STORE_ROOT_INO,
			    "work2", 0);
}
static int op_unlink_gamma(struct fx *f)
{
	return store_unlink(f->st, STORE_ROOT_INO, "gamma");
}
static int op_unlink_delta(struct fx *f)
{
	return store_unlink(f->st, fx_ino(f->st, "work2"), "delta");
}
static int op_rmdir_empty(struct fx *f)
{
	return store_rmdir(f->st, fx_ino(f->st, "work2"), "empty");
}
static int op_sync(struct fx *f)
{
	return store_sync(f->st);
}
static int op_recall(struct fx *f)
{
	struct store_query q;
	struct store_results res;
	char why[128];
	static const char cue[] = "coffee station alice?mode=blended";
	int r;

	assert_int_equal(store_query_parse_name(cue, strlen(cue), &q, why,
						sizeof(why)),
			 0);
	r = store_recall(f->st, &q, &fx_root, &res);
	if (!r)
		store_results_release(&res);
	store_query_release(&q);
	return r;
}
static int op_limit_small(struct fx *f)
{
	char why[128];

	return store_flag_set(f->st, FLAG_STORE_MAX_EPISODE_BYTES, "1024", 4,
			      0, "write", why, sizeof(why));
}
/* EFBIG is the expected answer; another error (a failed read) is the
 * operation's result; success is a failure of the test. */
static int fx_want_efbig(int r)
{
	if (r == 0)
		fail_msg("one byte over store.max_episode_bytes was accepted");
	return r == -EFBIG ? 0 : r;
}
static int op_efbig(struct fx *f)
{
	static char big[1025];
	struct store_attr a;
	int r;

	/* One byte over the limit: refused before any write. */
	memset(big, 'x', sizeof(big));
	r = fx_want_efbig(store_content_write(f->st, fx_ino(f->st, "alpha2"),
					      big, sizeof(big), 0, &a));
	if (!r)
		r = fx_want_efbig(store_content_append(f->st,
						       fx_ino(f->st, "alpha2"),
						       big, sizeof(big), 0,
						       &a));
	return r;
}
static int op_limit_back(struct fx *f)
{
	char why[128];

	return store_flag_set(f->st, FLAG_STORE_MAX_EPISODE_BYTES, "1048576",
			      7, 0, "write", why, sizeof(why));
}

/* Which failures an operation may log and ignore (best effort). */
#define FX_WRITES 1u
#define FX_READS 2u

struct fx_op {
	const char *name;
	int (*fn)(struct fx *f);
	unsigned best_effort;	/* FX_WRITES, FX_READS */
};

static const struct fx_op fx_ops[] = {
	{ "mkdir work", op_mkdir_work, 0 },
	{ "mkdir work/empty", op_mkdir_empty, 0 },
	{ "create alpha", op_create_alpha, 0 },
	{ "write alpha", op_write_alpha, 0 },
	{ "append alpha", op_append_alpha, 0 },
	{ "sync write alpha", op_sync_write_alpha, 0 },
	{ "create work/beta", op_create_beta, 0 },
	{ "write work/beta", op_write_beta, 0 },
	{ "create gamma", op_create_gamma, 0 },
	{ "write gamma", op_write_gamma, 0 },
	{ "create work/delta", op_create_delta, 0 },
	{ "sync write work/delta", op_write_delta, 0 },
	{ "create epsilon", op_create_eps, 0 },
	{ "write epsilon", op_write_eps, 0 },
	{ "empty epsilon", op_empty_alpha_copy, 0 },
	{ "rewrite epsilon", op_rewrite_eps, 0 },
	{ "setxattr confidence", op_xattr_conf, 0 },
	{ "setxattr where", op_xattr_where, 0 },
	{ "setxattr tags on a folder", op_xattr_tags, 0 },
	{ "removexattr where", op_xattr_remove, 0 },
	{ "setattr mode uid mtime", op_setattr, 0 },
	{ "flag fan_effect", op_flag_fan, 0 },
	{ "flag consolidation.min_cluster_size", op_flag_cluster, 0 },
	{ "config apply", op_config_apply, 0 },
	{ "recall (history is best-effort)", op_recall, FX_WRITES | FX_READS },
	{ "consolidate", op_consolidate, 0 },
	{ "rename alpha over work/beta", op_rename_over, 0 },
	{ "rename work/beta to .hidden", op_rename_hide, 0 },
	{ "rename .hidden to alpha2", op_rename_show, 0 },
	{ "rename folder work to work2", op_rename_folder, 0 },
	{ "unlink gamma (bound)", op_unlink_gamma, 0 },
	{ "consolidate again", op_consolidate, 0 },
	{ "unlink work2/delta", op_unlink_delta, 0 },
	{ "rmdir work2/empty", op_rmdir_empty, 0 },
	{ "sync", op_sync, 0 },
	{ "flag store.max_episode_bytes 1024", op_limit_small, 0 },
	{ "EFBIG writes (no write at all)", op_efbig, 0 },
	{ "flag store.max_episode_bytes back", op_limit_back, 0 },
	{ "consolidate a third time", op_consolidate, 0 },
};

/*
 * After an operation got through with the fault armed for its N-th write:
 * empty batches count down the rest.  Returns how many writes the
 * operation made (< N), or N if it consumed the fault.
 */
static long fx_probe_write(struct store *st, long n)
{
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	long k;

	for (k = 1; k <= n; k++)
		if (db_write(st, b, false) < 0)
			break;
	rocksdb_writebatch_destroy(b);
	db_fault_write(st, 0, 0);
	return k <= n ? n - k : n;
}

/* The same for reads: gets of a key that is never there. */
static long fx_probe_read(struct store *st, long n)
{
	long k;
	char *v;
	size_t vl;

	for (k = 1; k <= n; k++)
		if (db_get(st, CF_DEFAULT, "fault/probe", 11, &v, &vl) !=
		    -ENOENT)
			break;
	db_fault_read(st, 0, 0);
	return k <= n ? n - k : n;
}

/* A seam as the loop sees it. */
struct fx_seam {
	const char *what;	/* "write", "read" */
	unsigned kind;		/* FX_WRITES, FX_READS */
	void (*arm)(struct store *st, long nth, int err);
	long (*probe)(struct store *st, long n);
	long max;		/* more accesses than this in one operation
				 * is a runaway loop */
	long slow_stride;	/* under valgrind, fail every so many */
};

static const struct fx_seam fx_writes = {
	"write", FX_WRITES, db_fault_write, fx_probe_write, 64, 1,
};
static const struct fx_seam fx_reads = {
	"read", FX_READS, db_fault_read, fx_probe_read, 4000, 3,
};

/* Writes fail alternately with ENOSPC and EIO; reads with EIO. */
static int fx_errno(const struct fx_seam *seam, long n)
{
	return seam->kind == FX_WRITES && n % 2 ? ENOSPC : EIO;
}

/* No background thread changes what the dump shows (fx_dump). */
static void fx_quiesce(struct store *st)
{
#ifdef FX_HAVE_REHEARSE
	rehearse_stop(st);
#else
	(void)st;
#endif
}

static void fx_reopen_same(struct fx *f, const char *what)
{
	char *before = fx_dump(f->st), *after;

	f->st = harness_reopen(f->st);
	*f->state = f->st;
	fx_quiesce(f->st);
	after = fx_dump(f->st);
	fx_same(what, before, after);
	free(before);
	free(after);
}

static int fx_count_concept(void *ctx, const struct store_concept *c)
{
	(void)c;
	++*(size_t *)ctx;
	return 0;
}

/* Fail every write (or read) of OP in turn; then let it through. */
static void fx_run_op(struct fx *f, const struct fx_op *op,
		      const struct fx_seam *seam)
{
	long n, made = 0, stride = harness_slow() ? seam->slow_stride : 1;

	for (n = 1;; n += stride) {
		int err = fx_errno(seam, n), r;
		char *before = fx_dump(f->st), *after, what[160];
		bool ignored = op->best_effort & seam->kind;

		snprintf(what, sizeof(what), "%s, %s %ld failing with %s",
			 op->name, seam->what, n, strerror(err));
		snprintf(fx_context, sizeof(fx_context), "%s", what);
		fx_resolve(f->st);
		seam->arm(f->st, n, err);
		r = op->fn(f);
		if (r == 0) {
			made = seam->probe(f->st, n);
			if (made == n && !ignored)
				fail_msg("%s: the operation returned 0", what);
			free(before);
			if (made < n || ignored)
				break;
			continue;
		}
		seam->arm(f->st, 0, 0);
		if (r != -err)
			fail_msg("%s: the operation returned %s", what,
				 strerror(-r));
		f->faults++;
		after = fx_dump(f->st);
		fx_same(what, before, after);
		fx_check_store(f->st, what);
		free(before);
		free(after);
		if (n > seam->max)
			fail_msg("%s: more than %ld %ss?", op->name, seam->max,
				 seam->what);
	}
	if (getenv("HARNESS_VERBOSE"))
		fprintf(stderr, "fault: %-40s %ld %ss\n", op->name, made,
			seam->what);
	f->accesses += made;
}

static void fx_setup_config(struct fx *f, struct store *st)
{
	FILE *cf;

	snprintf(f->cfg, sizeof(f->cfg), "%s/../fault.conf", store_dir(st));
	cf = fopen(f->cfg, "w");
	assert_non_null(cf);
	fprintf(cf, "[recall]\nbm25_k1 = 1.5\nmax_depth = 3\n"
		"[blended_recall]\nmax_concepts = 7\n");
	fclose(cf);
}

/* Stable recall results: no time in the scores, no rehearsal, no
 * time budget. */
static void fx_stable_recall(struct store *st)
{
	char why[128];

	assert_int_equal(store_flag_set(st, FLAG_RECALL_DECAY_FUNCTION, "none",
					4, 0, "write", why, sizeof(why)),
			 0);
	assert_int_equal(store_flag_set(st, FLAG_RECALL_REHEARSAL_WEIGHT, "0",
					1, 0, "write", why, sizeof(why)),
			 0);
	assert_int_equal(store_flag_set(st, FLAG_DUAL_MEMORY_TYPES, "1", 1, 0,
					"write", why, sizeof(why)),
			 0);
	/* The semantic pathway gives up after its time budget (8 ms): on a
	 * loaded machine, or under valgrind, blended results would then
	 * depend on timing. */
	assert_int_equal(store_flag_set(st, FLAG_BR_SEMANTIC_TIMEOUT_MS,
					"10000", 5, 0, "write", why,
					sizeof(why)),
			 0);
}

/* The workload, every operation failing in turn at each access. */
static void fx_workload(struct fx *f, const struct fx_seam *seam)
{
	struct store_counts n;

	fx_quiesce(f->st);
	fx_setup_config(f, f->st);
	fx_stable_recall(f->st);
	for (size_t i = 0; i < sizeof(fx_ops) / sizeof(*fx_ops); i++) {
		size_t nc = 0;

		fx_run_op(f, &fx_ops[i], seam);
		fx_check_store(f->st, fx_ops[i].name);
		assert_int_equal(store_concept_list(f->st, NULL,
						    fx_count_concept, &nc),
				 0);
		if (nc > f->max_concepts)
			f->max_concepts = nc;
		/* A reopen costs seconds under valgrind: fewer there. */
		if (i % (harness_slow() ? 18 : 6) == 5)
			fx_reopen_same(f, fx_ops[i].name);
	}
	fx_reopen_same(f, "the end of the workload");
	fx_check_store(f->st, "after reopen");
	/* The workload did what it says: alpha2 and epsilon in the root,
	 * the folder work2, and consolidation formed a concept. */
	store_counts(f->st, &n);
	assert_int_equal(n.episodes, 2);
	assert_int_equal(n.folders, 1);
	assert_true(f->max_concepts >= 1);
	unlink(f->cfg);
}

static void test_every_write_fails_in_turn(void **state)
{
	struct fx f = { .st = *state, .state = state };

	fx_workload(&f, &fx_writes);
	fprintf(stderr, "fault: %zu operations, %ld writes, %ld injected "
		"write faults, all clean (concepts formed: %zu)\n",
		sizeof(fx_ops) / sizeof(*fx_ops), f.accesses, f.faults,
		f.max_concepts);
}

/* ---- reads ------------------------------------------------------------ */

/* Read-only operations, on what the workload leaves: each must report a
 * failed read, never answer as if something were absent. */
static int op_ro_lookup(struct fx *f)
{
	struct store_attr a;

	return store_lookup(f->st, STORE_ROOT_INO, "alpha2", &a);
}
static int op_ro_getattr(struct fx *f)
{
	struct store_attr a;

	return store_getattr(f->st, fx_ino(f->st, "epsilon"), &a);
}
static int fx_count_entry(void *ctx, const char *name,
			  const struct store_attr *a)
{
	(void)name;
	(void)a;
	++*(size_t *)ctx;
	return 0;
}
static int op_ro_readdir(struct fx *f)
{
	size_t n = 0;

	return store_readdir(f->st, STORE_ROOT_INO, NULL, fx_count_entry, &n);
}
static int op_ro_read(struct fx *f)
{
	char *buf = NULL;
	size_t len = 0;
	int r = store_content_read(f->st, fx_ino(f->st, "alpha2"), &buf, &len);

	free(buf);
	return r;
}
static int op_ro_xattrs(struct fx *f)
{
	uint64_t ino = fx_ino(f->st, "alpha2");
	char *names = NULL, *v;
	size_t n = 0, vl;
	int r = store_xattr_list(f->st, ino, &names, &n);

	for (size_t i = 0; !r && i < n; i += strlen(names + i) + 1) {
		r = store_xattr_get(f->st, ino, names + i, &v, &vl);
		if (!r)
			free(v);
	}
	free(names);
	return r;
}
static int fx_render_concept(void *ctx, const struct store_concept *c)
{
	struct fx *f = ctx;
	char *text = NULL;
	size_t len = 0;
	int r = store_concept_render(f->st, c->id, &fx_root, &text, &len);

	free(text);
	return r;
}
static int op_ro_concepts(struct fx *f)
{
	return store_concept_list(f->st, NULL, fx_render_concept, f);
}
static int op_ro_episode_concepts(struct fx *f)
{
	char *cs = NULL;
	size_t cl = 0;
	int r = store_episode_concepts(f->st, fx_ino(f->st, "alpha2"), &cs,
				       &cl);

	free(cs);
	return r;
}
static int op_ro_history(struct fx *f)
{
	char *h = NULL;
	size_t hl = 0;
	int r = store_flag_history(f->st, &h, &hl);

	free(h);
	return r;
}
static int op_ro_path(struct fx *f)
{
	char *path = NULL;
	int r = store_path(f->st, fx_ino(f->st, "alpha2"), &path);

	free(path);
	return r;
}

static const struct fx_op fx_ro_ops[] = {
	{ "lookup alpha2", op_ro_lookup, 0 },
	{ "getattr epsilon", op_ro_getattr, 0 },
	{ "readdir /", op_ro_readdir, 0 },
	{ "read alpha2", op_ro_read, 0 },
	{ "listxattr and getxattr alpha2", op_ro_xattrs, 0 },
	{ "list and render concepts", op_ro_concepts, 0 },
	{ "concepts of alpha2", op_ro_episode_concepts, 0 },
	{ "flag history", op_ro_history, 0 },
	{ "path of alpha2", op_ro_path, 0 },
	{ "recall (rstat is best-effort)", op_recall, FX_READS },
};

static void test_every_read_fails_in_turn(void **state)
{
	struct fx f = { .st = *state, .state = state };

	fx_workload(&f, &fx_reads);
	for (size_t i = 0; i < sizeof(fx_ro_ops) / sizeof(*fx_ro_ops); i++)
		fx_run_op(&f, &fx_ro_ops[i], &fx_reads);
	fx_reopen_same(&f, "the read-only operations");
	fprintf(stderr, "fault: %zu operations, %ld reads, %ld injected "
		"read faults, all clean\n",
		sizeof(fx_ops) / sizeof(*fx_ops) +
			sizeof(fx_ro_ops) / sizeof(*fx_ro_ops),
		f.accesses, f.faults);
}

/*
 * Opening: every read store_open makes fails in turn.  The open fails
 * with EIO and leaves nothing behind, until it gets through; then the
 * store holds what it held, and the inode counter goes on from where it
 * was (a counter read as absent would hand out numbers again).
 */
static void fx_populate(struct fx *f)
{
	static int (*const steps[])(struct fx *) = {
		op_mkdir_work, op_create_alpha, op_write_alpha, op_create_beta,
		op_write_beta, op_create_gamma, op_write_gamma, op_create_delta,
		op_write_delta, op_xattr_conf, op_flag_cluster, op_consolidate,
		op_unlink_gamma,
	};

	fx_quiesce(f->st);
	fx_stable_recall(f->st);
	for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
		fx_resolve(f->st);
		assert_int_equal(steps[i](f), 0);
	}
}

static struct store *fx_open_failing(const char *path, struct fx *f)
{
	/* Every read in turn; under valgrind, where an open costs seconds,
	 * every fifth (the first six are the counters). */
	const long step = harness_slow() ? 5 : 1;

	for (long n = 1;; n += step) {
		struct store *st = NULL;
		int r;

		db_fault_read(NULL, n, EIO);
		r = store_open(path, NULL, &st);
		if (r == 0) {
			long reads = fx_probe_read(st, n);

			if (reads == n)
				fail_msg("open: read %ld failed but the open "
					 "went through", n);
			f->accesses = reads;
			return st;
		}
		db_fault_read(NULL, 0, 0);
		if (r != -EIO)
			fail_msg("open, read %ld failing: %s", n, strerror(-r));
		assert_null(st);
		f->faults++;
		if (n > fx_reads.max)
			fail_msg("open: more than %ld reads?", fx_reads.max);
	}
}

static void test_open_fails_on_every_read(void **state)
{
	struct fx f = { .st = *state, .state = state };
	struct store_counts before, after;
	struct store_attr a;
	char path[256], *dump_before, *dump_after;

	fx_populate(&f);
	store_counts(f.st, &before);
	dump_before = fx_dump(f.st);
	snprintf(path, sizeof(path), "%s", store_dir(f.st));
	store_close(f.st);
	f.st = fx_open_failing(path, &f);
	*state = f.st;
	fx_quiesce(f.st);
	store_counts(f.st, &after);
	assert_int_equal(after.next_ino, before.next_ino);
	dump_after = fx_dump(f.st);
	fx_same("open with failing reads", dump_before, dump_after);
	fx_check_store(f.st, "open with failing reads");
	/* The next episode gets a number never handed out. */
	assert_int_equal(store_create(f.st, STORE_ROOT_INO, "zeta",
				      S_IFREG | 0644, 0, 0, &a),
			 0);
	assert_true(a.ino >= before.next_ino);
	free(dump_before);
	free(dump_after);
	fprintf(stderr, "fault: open made %ld reads, %ld injected read faults, "
		"all refused with EIO\n", f.accesses, f.faults);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)
		T(test_every_write_fails_in_turn),
		T(test_every_read_fails_in_turn),
		T(test_open_fails_on_every_read),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
