/*
 * db.c - opening the store, and the narrow seam through which every other
 * module reaches RocksDB (db_get, db_write, iterators on st->cf[]).
 *
 * Key layout (all integers big-endian in keys so they sort numerically;
 * inode numbers are 8 bytes):
 *
 *   CF          key                          value
 *   default     "meta/next_ino"              u64   next inode number
 *               "meta/episodes" ...          u64   counters (episodes,
 *               "meta/folders", "meta/indexed", "meta/bytes",
 *               "meta/total_len")                  mirrored in struct store
 *               "meta/schema"                "1"
 *               "cfg/<flag>"                 text  value last applied from
 *                                                  a config file
 *   inodes      ino                          inode record (inode.c)
 *   dirents     parent ino | name            child ino (8) | mode (4)
 *   content     ino                          content bytes (absent = empty)
 *   postings    term | 0x00 | ino            varint tf, varint doc length,
 *                                            varint zigzag when (s), u8 conf
 *   xattrs      ino | name                   value
 *   flags       flag name                    canonical value text
 *   history     seq (u64)                    one history line
 *   rstat       ino                          u64 recall count, i64 last
 *                                            recall ns (merge: add, max)
 *   dirty       ino                          u64 mark: changed since the
 *                                            last consolidation
 *   vectors     ino                          term vector as consolidated
 *   df          term                         int64 document frequency of
 *                                            the consolidated vectors
 *   concepts    concept id                   concept record (concept.c)
 *   labels      label                        concept id
 *   bindings    'e' ino cid                  strength (double)
 *               'c' cid ino                  strength (double), the same
 *                                            binding seen from the concept
 *
 * Invariants:
 *  1. Every change of an episode (content, record, postings, document
 *     frequencies, counters, the inode counter) is one write batch.
 *  2. meta/next_ino is greater than every inode number ever handed out,
 *     because it is written in the batch that hands a number out.
 *  3. A posting exists for (t, ino) iff episode ino is indexed (its name
 *     does not start with '.') and its content has term t.
 *
 * Writes that read first (counters, frequencies) hold st->write_lock;
 * readers use the RocksDB snapshot semantics of single gets and
 * iterators and never lock.  A failed read (db_get, or an iterator's
 * db_iter_status after its scan) is an error passed up, never taken for
 * an absent key.  Write options: WAL always on; STORE_SYNC
 * and flag writes also fsync the WAL.  A kill -9 loses nothing written
 * (the WAL is in the page cache); only a power loss can drop writes that
 * were not fsync'd, which is what fsync(2) promises anyway.
 *
 * Rejected: one column family with key prefixes (the bloom filters and
 * compression settings differ per kind of data); an in-memory term
 * dictionary (mount time would grow with the vocabulary); a document
 * frequency table kept by merge (see index.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_i.h"

static const char *const db_cf_names[CF__COUNT] = {
	[CF_DEFAULT] = "default",   [CF_INODES] = "inodes",
	[CF_DIRENTS] = "dirents",   [CF_CONTENT] = "content",
	[CF_POSTINGS] = "postings",
	[CF_XATTRS] = "xattrs",     [CF_FLAGS] = "flags",
	[CF_HISTORY] = "history",   [CF_RSTAT] = "rstat",
	[CF_DIRTY] = "dirty",       [CF_VECTORS] = "vectors",
	[CF_DF] = "df",             [CF_CONCEPTS] = "concepts",
	[CF_LABELS] = "labels",     [CF_BINDINGS] = "bindings",
};

/*
 * Fault injection (tests only): fail the N-th database write, or the N-th
 * read, that the calling thread makes from now on, with an errno.  The
 * countdowns are per thread, so a background thread (the recall history
 * writer, consolidation) cannot take a fault meant for the operation
 * under test, and a test needs to stop nothing to arm one.  A read is a
 * point get (db_get) or one scan of an iterator (db_iter_status).
 */
struct db_fault {
	long countdown;		/* 0 = off */
	int err;
};
static _Thread_local struct db_fault db_fault_w, db_fault_r;

void be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

uint64_t be64_get(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void db_fault_arm(struct db_fault *f, long nth, int err)
{
	f->err = err;
	f->countdown = nth > 0 ? nth : 0;
}

void db_fault_write(struct store *st, long nth, int err)
{
	(void)st;
	db_fault_arm(&db_fault_w, nth, err);
}

void db_fault_read(struct store *st, long nth, int err)
{
	(void)st;
	db_fault_arm(&db_fault_r, nth, err);
}

/* Count one access; true if it is the one to fail (logged as WHAT). */
static bool db_fault_hit(struct db_fault *f, const char *what)
{
	if (f->countdown <= 0 || --f->countdown > 0)
		return false;
	store_log(STORE_LOG_WARNING, "%s: injected fault (%s)", what,
		  strerror(f->err));
	return true;
}

int db_get(struct store *st, enum db_cf cf, const void *key, size_t klen,
	   char **val, size_t *vlen)
{
	char *err = NULL, *v;
	size_t n = 0;

	if (db_fault_hit(&db_fault_r, "read"))
		return -db_fault_r.err;
	v = rocksdb_get_cf(st->db, st->ro, st->cf[cf], key, klen, &n, &err);
	if (err)
		return err_from_rocksdb(&err, "read");
	if (!v)
		return -ENOENT;
	*val = v;
	*vlen = n;
	return 0;
}

/*
 * N point gets in CF at once (RocksDB's MultiGet: one pass over the
 * memtables and over each table for all the keys, where N gets make N).
 * VALS[i] is malloc'd, or NULL when absent.  One read for fault
 * injection; on an error nothing is returned (all NULL).
 */
int db_multi_get(struct store *st, enum db_cf cf, size_t n,
		 const char *const *keys, const size_t *klens, char **vals,
		 size_t *vlens)
{
	rocksdb_column_family_handle_t **cfs = malloc(n * sizeof(*cfs));
	char **errs = calloc(n, sizeof(*errs));
	int rc = 0;

	memset(vals, 0, n * sizeof(*vals));
	if (!n)
		goto out;
	if (!cfs || !errs) {
		rc = -ENOMEM;
		goto out;
	}
	if (db_fault_hit(&db_fault_r, "read")) {
		rc = -db_fault_r.err;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		cfs[i] = st->cf[cf];
	rocksdb_multi_get_cf(st->db, st->ro,
			     (const rocksdb_column_family_handle_t *const *)cfs,
			     n, keys, klens, vals, vlens, errs);
	for (size_t i = 0; i < n; i++)
		if (errs[i]) {
			int r = err_from_rocksdb(&errs[i], "read");

			rc = rc ? rc : r;
		}
	for (size_t i = 0; rc && i < n; i++) {
		free(vals[i]);
		vals[i] = NULL;
	}
out:
	free(cfs);
	free(errs);
	return rc;
}

int db_write(struct store *st, rocksdb_writebatch_t *b, bool sync)
{
	char *err = NULL;

	if (st->read_only)
		return -EROFS;
	if (db_fault_hit(&db_fault_w, "write"))
		return -db_fault_w.err;
	rocksdb_write(st->db, sync ? st->wo_sync : st->wo, b, &err);
	pcache_written(st->pcache);	/* written or not: see pcache.c */
	return err_from_rocksdb(&err, "write");
}

int db_iter_status(struct store *st, rocksdb_iterator_t *it, const char *what)
{
	char *err = NULL;

	(void)st;
	if (db_fault_hit(&db_fault_r, what))
		return -db_fault_r.err;
	rocksdb_iter_get_error(it, &err);
	return err_from_rocksdb(&err, what);
}

void db_put_u64(rocksdb_writebatch_t *b, struct store *st, enum db_cf cf,
		const char *key, uint64_t v)
{
	unsigned char buf[8];

	be64_put(buf, v);
	rocksdb_writebatch_put_cf(b, st->cf[cf], key, strlen(key),
				  (const char *)buf, 8);
}

/*
 * The big-endian u64 under KEY in CF; DEF when the key is absent.  A read
 * error is an error, never "absent": a store opened with its inode
 * counter read as the default would hand out inode numbers again.  A
 * value that is not 8 bytes is -EIO.
 */
int db_get_be64(struct store *st, enum db_cf cf, const void *key,
		size_t klen, uint64_t def, uint64_t *out)
{
	char *v;
	size_t n;
	int rc = db_get(st, cf, key, klen, &v, &n);

	*out = def;
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		store_log(STORE_LOG_ERR, "cannot read %s '%.*s': %s",
			  db_cf_names[cf], (int)klen, (const char *)key,
			  strerror(-rc));
		return rc;
	}
	if (n != 8) {
		store_log(STORE_LOG_ERR, "%s '%.*s': bad value (%zu bytes, "
			  "not 8)", db_cf_names[cf], (int)klen,
			  (const char *)key, n);
		free(v);
		return -EIO;
	}
	*out = be64_get((const unsigned char *)v);
	free(v);
	return 0;
}

static int db_get_u64(struct store *st, const char *key, uint64_t def,
		      uint64_t *out)
{
	return db_get_be64(st, CF_DEFAULT, key, strlen(key), def, out);
}

/* ---- merge operators ------------------------------------------------ */

/* rstat: 16 bytes, u64 count (added) and i64 last recall (max). */
static void db_rstat_fold(char *acc, const char *v, size_t n)
{
	uint64_t c, dc;
	int64_t l, dl;

	if (n != 16)
		return;
	memcpy(&c, acc, 8);
	memcpy(&l, acc + 8, 8);
	memcpy(&dc, v, 8);
	memcpy(&dl, v + 8, 8);
	c += dc;
	if (dl > l)
		l = dl;
	memcpy(acc, &c, 8);
	memcpy(acc + 8, &l, 8);
}

static char *db_rstat_full(void *s, const char *k, size_t kl, const char *ev,
			   size_t evl, const char *const *ops,
			   const size_t *opl, int n, unsigned char *ok,
			   size_t *len)
{
	char *acc = calloc(1, 16);

	if (!acc) {
		*ok = 0;
		return NULL;
	}
	if (ev)
		db_rstat_fold(acc, ev, evl);
	for (int i = 0; i < n; i++)
		db_rstat_fold(acc, ops[i], opl[i]);
	*ok = 1;
	*len = 16;
	return acc;
}

static char *db_rstat_partial(void *s, const char *k, size_t kl,
			      const char *const *ops, const size_t *opl,
			      int n, unsigned char *ok, size_t *len)
{
	return db_rstat_full(s, k, kl, NULL, 0, ops, opl, n, ok, len);
}

static void db_merge_free(void *s, const char *v, size_t n)
{
	free((void *)v);
}

static const char *db_rstat_name(void *s)
{
	return "engram.rstat";
}

static void db_nop(void *s)
{
}

/* Postings prefix: the term and its 0x00 terminator. */
static char *db_term_prefix(void *s, const char *key, size_t n, size_t *out)
{
	const char *z = memchr(key, 0, n);

	*out = z ? (size_t)(z - key) + 1 : n;
	return (char *)key;
}

static unsigned char db_term_in_domain(void *s, const char *key, size_t n)
{
	return 1;
}

static unsigned char db_term_in_range(void *s, const char *key, size_t n)
{
	return 0;
}

static const char *db_term_name(void *s)
{
	return "engram.term";
}

/* ---- options --------------------------------------------------------- */

/*
 * Postings are only ever read one term at a time, so their memtable can
 * hash by term and keep a small skiplist per term: inserts walk a short
 * list instead of the whole memtable (1.6x faster commits, measured).
 */
static void db_postings_options(rocksdb_options_t *co)
{
	rocksdb_options_set_prefix_extractor(
		co, rocksdb_slicetransform_create(NULL, db_nop, db_term_prefix,
						  db_term_in_domain,
						  db_term_in_range,
						  db_term_name));
	rocksdb_options_set_hash_skip_list_rep(co, 1 << 16, 4, 4);
}

/*
 * One block-based table layout, with two variants, sharing the block
 * cache.  Postings are only ever scanned by term, never looked up by
 * whole key, so their bloom filter holds term prefixes only: whole keys
 * made it ~40 MB of memory outside any cache at 1M episodes, and 11% of
 * the postings on disk.
 *
 * Rejected: index and filter blocks charged to the block cache (bounded
 * memory whatever the size): every iterator then takes them from the
 * cache, and recall measured 2-3x slower at 300,000 episodes, with
 * 300-600 ms outliers in blended mode.
 */
static rocksdb_block_based_table_options_t *
db_table_options(struct store *st, int whole_keys)
{
	rocksdb_block_based_table_options_t *t =
		rocksdb_block_based_options_create();

	rocksdb_block_based_options_set_block_cache(t, st->cache);
	/* Bloom filters make point gets of absent keys (negative lookups,
	 * new terms) cheap. */
	rocksdb_block_based_options_set_filter_policy(
		t, rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_whole_key_filtering(t, whole_keys);
	return t;
}

static void db_options_init(struct store *st, const struct store_options *o)
{
	/* 32 MiB of blocks, and 32 more of decoded postings (pcache.c),
	 * which took over the hot postings the block cache used to hold. */
	size_t cache = o && o->cache_bytes ? o->cache_bytes : 32u << 20;

	st->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(st->opts, 1);
	rocksdb_options_set_create_missing_column_families(st->opts, 1);
	/* Two cores: one flush and one compaction thread. */
	rocksdb_options_increase_parallelism(st->opts, 2);
	/*
	 * RocksDB's own LOG lives in the data dir.  On a full disk, a failed
	 * append to it followed by another trips an assertion that Debian's
	 * build keeps (WritableFileWriter), aborting the daemon; at FATAL
	 * level it writes next to nothing after open.  Our own log carries
	 * every error with its errno (err.c).
	 */
	rocksdb_options_set_info_log_level(st->opts, 4 /* FATAL */);
	rocksdb_options_set_keep_log_file_num(st->opts, 3);
	rocksdb_options_set_max_log_file_size(st->opts, 4 << 20);
	/*
	 * Small memtables: the build of RocksDB we link checks assertions,
	 * which makes an insert cost grow with the skiplist's height; 8 MiB
	 * measured 1.4x faster commits than the 64 MiB default, and bounds
	 * the log replayed after a crash.  All memtables together stay under
	 * 32 MiB, and so does the write-ahead log: a log file can only go
	 * once every column family with data in it has flushed, and the
	 * rarely written ones (dirty marks, dirents) used to keep ~130 MB of
	 * old logs alive at 100,000 episodes.
	 */
	rocksdb_options_set_write_buffer_size(st->opts, 8 << 20);
	rocksdb_options_set_db_write_buffer_size(st->opts, 32 << 20);
	rocksdb_options_set_max_total_wal_size(st->opts, 32 << 20);
	/* Required by the hash memtable of the postings; writers are
	 * serialised by st->write_lock anyway. */
	rocksdb_options_set_allow_concurrent_memtable_write(st->opts, 0);

	st->cache = rocksdb_cache_create_lru(cache);
	st->table = db_table_options(st, 1);
	st->table_postings = db_table_options(st, 0);
	st->merge_rstat = rocksdb_mergeoperator_create(
		NULL, db_nop, db_rstat_full, db_rstat_partial, db_merge_free,
		db_rstat_name);

	for (int i = 0; i < CF__COUNT; i++) {
		rocksdb_options_t *co = rocksdb_options_create_copy(st->opts);

		rocksdb_options_set_block_based_table_factory(
			co, i == CF_POSTINGS ? st->table_postings : st->table);
		/*
		 * Zstandard: episode text in 4 KiB blocks shrinks to ~0.6 of
		 * its size, where LZ4 saved under 1/8 and RocksDB stored the
		 * blocks raw; postings to 0.66 of LZ4's.  Compression runs in
		 * the flush and compaction threads, and cached blocks are
		 * kept uncompressed, so recall pays only on a cache miss.
		 */
		rocksdb_options_set_compression(co, rocksdb_zstd_compression);
		if (i == CF_RSTAT)
			rocksdb_options_set_merge_operator(co, st->merge_rstat);
		if (i == CF_POSTINGS)
			db_postings_options(co);
		st->cf_opts[i] = co;
	}
	st->wo = rocksdb_writeoptions_create();
	st->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(st->wo_sync, 1);
	st->ro = rocksdb_readoptions_create();
}

static int db_open_rocks(struct store *st)
{
	const char *names[CF__COUNT];
	char *err = NULL;

	for (int i = 0; i < CF__COUNT; i++)
		names[i] = db_cf_names[i];
	if (st->read_only)
		st->db = rocksdb_open_for_read_only_column_families(
			st->opts, st->dir, CF__COUNT, names,
			(const rocksdb_options_t *const *)st->cf_opts, st->cf,
			0, &err);
	else
		st->db = rocksdb_open_column_families(
			st->opts, st->dir, CF__COUNT, names,
			(const rocksdb_options_t *const *)st->cf_opts, st->cf,
			&err);
	if (err) {
		int rc = err_from_rocksdb(&err, "open");

		store_log(STORE_LOG_ERR, "cannot open store '%s': %s", st->dir,
			  rc == -EBUSY ? "in use by another process"
				       : strerror(-rc));
		return rc;
	}
	return 0;
}

static int db_load_counters(struct store *st)
{
	uint64_t v[6];
	int rc = db_get_u64(st, "meta/next_ino", STORE_FIRST_INO, &v[0]);

	if (!rc)
		rc = db_get_u64(st, "meta/episodes", 0, &v[1]);
	if (!rc)
		rc = db_get_u64(st, "meta/folders", 0, &v[2]);
	if (!rc)
		rc = db_get_u64(st, "meta/indexed", 0, &v[3]);
	if (!rc)
		rc = db_get_u64(st, "meta/bytes", 0, &v[4]);
	if (!rc)
		rc = db_get_u64(st, "meta/total_len", 0, &v[5]);
	if (rc)
		return rc;
	st->next_ino = v[0];
	st->n_episodes = v[1];
	st->n_folders = v[2];
	st->n_indexed = v[3];
	st->n_bytes = v[4];
	st->total_len = v[5];
	return 0;
}

static void db_release(struct store *st)
{
	if (st->db) {
		for (int i = 0; i < CF__COUNT; i++)
			if (st->cf[i])
				rocksdb_column_family_handle_destroy(st->cf[i]);
		rocksdb_close(st->db);
	}
	pcache_destroy(st->pcache);
	for (int i = 0; i < CF__COUNT; i++)
		if (st->cf_opts[i])
			rocksdb_options_destroy(st->cf_opts[i]);
	if (st->opts)
		rocksdb_options_destroy(st->opts);
	if (st->table)
		rocksdb_block_based_options_destroy(st->table);
	if (st->table_postings)
		rocksdb_block_based_options_destroy(st->table_postings);
	if (st->cache)
		rocksdb_cache_destroy(st->cache);
	/* The merge operators belong to the column family options now
	 * (rocksdb_options_set_merge_operator takes ownership). */
	if (st->wo)
		rocksdb_writeoptions_destroy(st->wo);
	if (st->wo_sync)
		rocksdb_writeoptions_destroy(st->wo_sync);
	if (st->ro)
		rocksdb_readoptions_destroy(st->ro);
	metrics_free(st);
	concept_free(st);
	pthread_mutex_destroy(&st->write_lock);
	commit_destroy(st);
	free(st->dir);
	free(st);
}

int store_open(const char *dir, const struct store_options *opt,
	       struct store **out)
{
	struct store *st;
	int rc;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->write_lock, NULL);
	commit_init(st);
	st->dir = strdup(dir);
	st->read_only = opt && opt->read_only;
	clock_gettime(CLOCK_REALTIME, &st->opened);
	if (!st->dir) {
		rc = -ENOMEM;
		goto out_release;
	}
	if (!st->read_only && mkdir(dir, 0700) && errno != EEXIST) {
		rc = -errno;
		store_log(STORE_LOG_ERR, "cannot create '%s': %s", dir,
			  strerror(errno));
		goto out_release;
	}
	db_options_init(st, opt);
	rc = pcache_create(opt && opt->posting_cache_bytes
				   ? opt->posting_cache_bytes : PCACHE_BYTES,
			   &st->pcache);
	if (!rc)
		rc = db_open_rocks(st);
	if (rc)
		goto out_release;
	rc = db_load_counters(st);
	if (!rc)
		rc = metrics_init(st);
	if (!rc)
		rc = inode_init_root(st);
	if (!rc && !st->read_only)
		rc = index_upgrade(st);
	if (!rc)
		rc = flag_load(st);
	if (!rc)
		rc = concept_init(st);
	if (!rc && !st->read_only)
		rc = rehearse_start(st);
	if (rc)
		goto out_release;
	*out = st;
	return 0;

out_release:
	db_release(st);
	return rc;
}

/* Flush memtables to tables, so the next open replays no log: a clean
 * unmount makes the next mount fast. */
static void db_flush_all(struct store *st)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	char *err = NULL;

	rocksdb_flushoptions_set_wait(fo, 1);
	for (int i = 0; i < CF__COUNT && !err; i++)
		rocksdb_flush_cf(st->db, fo, st->cf[i], &err);
	err_from_rocksdb(&err, "close");
	rocksdb_flushoptions_destroy(fo);
}

void store_close(struct store *st)
{
	char *err = NULL;

	if (!st)
		return;
	store_background_stop(st);
	rehearse_stop(st);
	if (!st->read_only) {
		rocksdb_flush_wal(st->db, 1, &err);
		err_from_rocksdb(&err, "close");
		db_flush_all(st);
	}
	db_release(st);
}

const char *store_dir(const struct store *st)
{
	return st->dir;
}

int store_sync(struct store *st)
{
	if (db_fault_hit(&db_fault_w, "sync"))
		return -db_fault_w.err;
	return commit_sync(st);	/* group commit */
}

void store_counts(struct store *st, struct store_counts *out)
{
	out->episodes = st->n_episodes;
	out->folders = st->n_folders;
	out->indexed = st->n_indexed;
	out->bytes = st->n_bytes;
	pthread_mutex_lock(&st->write_lock);
	out->next_ino = st->next_ino;
	pthread_mutex_unlock(&st->write_lock);
}
