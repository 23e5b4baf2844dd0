/*
 * store_i.h - private declarations shared by the store's modules.
 *
 * Nothing here is API: fs/, ctl/ and tools use store.h only.  Unit tests
 * may include this header to reach inside.
 */
#ifndef ENGRAM_STORE_I_H
#define ENGRAM_STORE_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <rocksdb/c.h>

#include "store.h"

/* Column families; the key layout of each is drawn in db.c. */
enum db_cf {
	CF_DEFAULT,	/* meta: counters, schema, last applied config */
	CF_INODES,	/* ino -> inode record */
	CF_DIRENTS,	/* parent ino + name -> child ino */
	CF_CONTENT,	/* ino -> content bytes */
	CF_POSTINGS,	/* term \0 ino -> tf, doc length, when, confidence */
	CF_XATTRS,	/* ino + name -> value */
	CF_FLAGS,	/* flag name -> canonical value text */
	CF_HISTORY,	/* seq -> history line */
	CF_RSTAT,	/* ino -> recall count, last recall (merge) */
	/* dual memory (consolidate.c, concept.c) */
	CF_DIRTY,	/* ino -> u64 mark: changed since the last consolidation */
	CF_VECTORS,	/* ino -> term vector as last consolidated */
	CF_DF,		/* term -> int64 document frequency of vectors */
	CF_CONCEPTS,	/* concept id -> record; 0xff id stem -> sum weight */
	CF_LABELS,	/* label -> concept id */
	CF_BINDINGS,	/* 'e' ino cid -> strength; 'c' cid ino -> strength */
	CF__COUNT
};

/* commit.c: the state of group commit (store_sync). */
struct commit_group {
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool syncing;		/* a leader is syncing the log */
	uint64_t synced;	/* writes up to this sequence are durable */
	uint64_t syncs;		/* log syncs done (for tests) */
};

struct store_metrics;	/* metrics.c */
struct text_terms;	/* text.c */

struct store {
	char *dir;
	bool read_only;
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_options_t *cf_opts[CF__COUNT];
	rocksdb_column_family_handle_t *cf[CF__COUNT];
	rocksdb_cache_t *cache;
	rocksdb_block_based_table_options_t *table;
	rocksdb_block_based_table_options_t *table_postings;
	rocksdb_mergeoperator_t *merge_rstat;
	rocksdb_writeoptions_t *wo;		/* WAL, no fsync */
	rocksdb_writeoptions_t *wo_sync;	/* WAL + fsync */
	rocksdb_readoptions_t *ro;

	/*
	 * The writer lock serialises every batch that reads before it writes
	 * (counters, document frequencies, the inode counter, flag history
	 * sequence).  Readers never take it.
	 */
	pthread_mutex_t write_lock;
	uint64_t next_ino;		/* guarded by write_lock */
	uint64_t history_seq;		/* guarded by write_lock */

	/* Counters mirrored from CF_DEFAULT, written under write_lock,
	 * read lock-free. */
	_Atomic uint64_t n_episodes, n_folders, n_indexed, n_bytes;
	_Atomic uint64_t total_len;	/* sum of indexed document lengths */

	/* Current flag values, as the bits of a double (lock-free reads). */
	_Atomic uint64_t flag_bits[FLAG__COUNT];

	struct timespec opened;
	struct store_metrics *metrics;
	struct concept_cache *concepts;	/* concept.c */
	struct background *bg;		/* consolidate.c */
	store_change_fn *change_fn;
	void *change_ctx;
	struct rehearse *rehearse;	/* rehearse.c */
	struct commit_group commit;	/* commit.c */
	struct pcache *pcache;		/* pcache.c */
};

/* db.c */
int db_get(struct store *st, enum db_cf cf, const void *key, size_t klen,
	   char **val, size_t *vlen);
int db_write(struct store *st, rocksdb_writebatch_t *b, bool sync);
/* N gets in CF at once; VALS[i] malloc'd or NULL (absent). */
int db_multi_get(struct store *st, enum db_cf cf, size_t n,
		 const char *const *keys, const size_t *klens, char **vals,
		 size_t *vlens);
/* The big-endian u64 under KEY in CF, DEF when absent; a failed read or
 * a value not 8 bytes long is an error (logged), never DEF. */
int db_get_be64(struct store *st, enum db_cf cf, const void *key,
		size_t klen, uint64_t def, uint64_t *out);
void db_put_u64(rocksdb_writebatch_t *b, struct store *st, enum db_cf cf,
		const char *key, uint64_t v);
void be64_put(unsigned char *p, uint64_t v);
uint64_t be64_get(const unsigned char *p);
int64_t now_ns(void);
/* The status of iterator IT after a seek or a scan: 0, or -errno with a
 * log line naming WHAT.  Every scan's result goes through it (it is also
 * where an injected read fault hits an iterator). */
int db_iter_status(struct store *st, rocksdb_iterator_t *it, const char *what);
/* Fault injection (tests): fail the N-th database write (db_write,
 * store_sync), or the N-th read (db_get, db_iter_status), that the
 * calling thread makes from now on, with ERR; N = 0 disarms.  Per thread:
 * other threads' accesses do not count. */
void db_fault_write(struct store *st, long nth, int err);
void db_fault_read(struct store *st, long nth, int err);

/* commit.c: group commit.  commit_sync makes every write that returned
 * before the call durable, sharing one log sync with concurrent callers;
 * store_sync calls it. */
void commit_init(struct store *st);
void commit_destroy(struct store *st);
int commit_sync(struct store *st);

/* err.c: the one place RocksDB errors become errno.  Frees *errptr. */
int err_from_rocksdb(char **errptr, const char *what);

/* inode.c: the inode record and the tree's read side. */
struct inode_rec {
	struct store_attr a;
	uint32_t dl;		/* indexed document length (tokens) */
	bool indexed;		/* has postings (name does not start with '.') */
	char *name;		/* own name in the parent folder (malloc'd) */
};
int inode_init_root(struct store *st);
int inode_get(struct store *st, uint64_t ino, struct inode_rec *r);
void inode_put(rocksdb_writebatch_t *b, struct store *st,
	       const struct inode_rec *r);
void inode_rec_release(struct inode_rec *r);
int dirent_get(struct store *st, uint64_t parent, const char *name,
	       uint64_t *ino);
void dirent_key(unsigned char *key, uint64_t parent, const char *name,
		size_t nlen);
bool name_is_hidden(const char *name);
int name_check(const char *name);

/* index.c: postings and document frequencies of one episode. */
/* Stage the change of R's postings from terms OLD to NEU (either may be
 * NULL): postings of terms only in OLD go, every term of NEU is written
 * with R's current length, time and confidence.  R->dl must already hold NEU's length. */
void index_update(rocksdb_writebatch_t *b, struct store *st,
		  const struct inode_rec *r, const struct text_terms *old,
		  const struct text_terms *neu);
/* LEB128 varints (index.c): put returns bytes written (<= 10); get
 * advances *P, -EIO on a truncated number. */
size_t varint_put(unsigned char *p, uint64_t v);
int varint_get(const unsigned char **p, const unsigned char *end,
	       uint64_t *out);
/* Posting values: decode into tf, dl, when (s), confidence. */
#define INDEX_TERM_MAX 64	/* text.c drops longer tokens */
struct posting {
	uint32_t tf, dl;
	int64_t when;
	double conf;
};
int posting_decode(const unsigned char *p, size_t n, struct posting *out);
struct posting_hit {
	uint64_t ino;
	struct posting po;
};

/* pcache.c: decoded postings of frequent terms (see its header) */
#define PCACHE_MIN_DF	1024		/* shorter lists are not kept */
#define PCACHE_BYTES	(32u << 20)	/* default budget */
struct pcache;
struct pcache_posting {			/* 16 bytes */
	uint32_t ino;
	int32_t when;
	uint32_t dl;
	uint16_t tf;
	uint8_t conf;			/* as stored: conf x 255 */
};
struct pcache_list {
	struct pcache_posting *v;	/* by inode number */
	size_t n;
};
struct pcache_stats {
	size_t bytes, budget;
	uint64_t hits, misses;
};
int pcache_create(size_t budget, struct pcache **out);
void pcache_destroy(struct pcache *pc);
/* The generation of TERM's bucket: take it before opening an iterator. */
uint64_t pcache_gen(struct pcache *pc, const char *term, size_t tl);
/* TERM's list (held until pcache_release), or NULL. */
const struct pcache_list *pcache_get(struct pcache *pc, const char *term,
				     size_t tl);
void pcache_release(struct pcache *pc, const struct pcache_list *l);
/* Every posting of TERM (sorted), read since generation GEN was taken. */
void pcache_offer(struct pcache *pc, const char *term, size_t tl,
		  uint64_t gen, const struct posting_hit *v, size_t n);
/* Writers: note a term whose postings the batch being built changes;
 * db_write calls pcache_written once the batch is written. */
void pcache_note(const char *term, size_t tl);
void pcache_written(struct pcache *pc);
void pcache_stats(struct pcache *pc, struct pcache_stats *out);
/* The postings key of TERM in episode INO into KEY (INDEX_TERM_MAX + 9
 * bytes): term, NUL, big-endian inode number.  Its length. */
size_t index_posting_key(unsigned char *key, const char *term,
			 uint64_t ino);
/* Analyse the stored content of R (empty terms if none). */
int index_terms_of(struct store *st, const struct inode_rec *r,
		   struct text_terms *t);
/* At open: upgrade an older index format in place (store_open). */
int index_upgrade(struct store *st);
/* Remove an episode entirely (content, record, postings, xattrs) into B;
 * updates the counters passed in D. */
struct count_delta {
	int64_t episodes, folders, indexed, bytes, total_len;
};
int tree_drop_file(rocksdb_writebatch_t *b, struct store *st,
		   const struct inode_rec *r, struct count_delta *d);
int tree_dir_empty(struct store *st, uint64_t dir);	/* -ENOTEMPTY */
void counts_stage(rocksdb_writebatch_t *b, struct store *st,
		  const struct count_delta *d);
void counts_publish(struct store *st, const struct count_delta *d);

/*
 * concept.c / consolidate.c: dual memory.
 *
 * Commit hooks (called by tree.c, content.c, rename.c, xattr.c inside the
 * commit's batch, under st->write_lock):
 *   dirty_mark     the episode changed (content, name, time, confidence,
 *                  or it was deleted): the next consolidation looks at it.
 *   bindings_drop  the episode is being forgotten: its bindings in both
 *                  directions go in the same batch (rm forgets at once).
 */
void dirty_mark(rocksdb_writebatch_t *b, struct store *st, uint64_t ino);
int bindings_drop(rocksdb_writebatch_t *b, struct store *st, uint64_t ino);

/* Open/close: load the concept cache (centroids), free it. */
int concept_init(struct store *st);
void concept_free(struct store *st);

/* What the semantic pathway reads (lock-free snapshot semantics are the
 * concept module's business; these may be called from many threads). */
struct concept_hit {
	uint64_t id;
	double similarity;	/* cosine(cue vector, centroid), 0..1 */
	double coherence;
	uint32_t members;	/* the fan */
};
/* The best MAX concepts for cue terms T with coherence >= MIN_COH and
 * similarity > 0, best first (malloc'd array). */
int concept_match(struct store *st, const struct text_terms *t, size_t max,
		  double min_coh, struct concept_hit **out, size_t *n);
struct binding {
	uint64_t id;		/* concept id or inode number */
	double strength;	/* 0..1 */
};
/* Members of concept CID, strongest first (malloc'd). */
int concept_members(struct store *st, uint64_t cid, struct binding **out,
		    size_t *n);
/* Concepts episode INO is bound to, strongest first (malloc'd). */
int episode_bindings(struct store *st, uint64_t ino, struct binding **out,
		     size_t *n);
/* Coherence and fan of one concept; -ENOENT if it dissolved. */
int concept_info(struct store *st, uint64_t cid, struct concept_hit *out);
/* Label of concept CID (malloc'd). */
int concept_label(struct store *st, uint64_t cid, char **out);

/* rehearse.c: recall history written by a thread, off the recall path.
 * start/stop in store_open/store_close; stop writes what is queued. */
int rehearse_start(struct store *st);
void rehearse_stop(struct store *st);
void rehearse_note(struct store *st, const uint64_t *ino, size_t n);

/* flag.c: load persisted values at open (defaults where absent). */
int flag_load(struct store *st);

/* text.c */
struct text_term {
	char *term;		/* NUL-terminated, normalised and stemmed */
	uint32_t tf;		/* occurrences in the text */
	bool stop;		/* a stop word: indexed, never in concepts */
};
struct text_terms {
	struct text_term *v;	/* unique terms, sorted by strcmp */
	size_t n;
	uint32_t length;	/* tokens, stop words not counted */
};
/* Ownership: text_terms.v and its strings are ONE allocation; free only
 * with text_terms_release, never a term on its own.
 * Case-fold, normalise (NFKC, accents stripped), tokenise on letters and
 * digits, mark stop words (kept unstemmed), stem the rest (English
 * Snowball).  Invalid UTF-8 bytes count as separators.  Tokens over 64
 * bytes are dropped. */
int text_analyze(const char *buf, size_t len, struct text_terms *out);
/* The same words unstemmed: as written, folded and normalised (what
 * cue completion edits: "faimly" -> "family", where the stems "faim" and
 * "famili" are not one edit apart). */
int text_words(const char *buf, size_t len, struct text_terms *out);
/* Is W (folded, NUL-terminated) a stop word?  The index holds stop
 * words unstemmed, so a stem can collide with one ("inly" -> "in"). */
bool text_stop_word(const char *w);
/* Remove the stop words from T, in place (what concepts are made of). */
void text_terms_drop_stop(struct text_terms *t);
void text_terms_release(struct text_terms *t);
/* The first NCHARS characters of BUF with runs of white space and control
 * characters folded to one space, invalid UTF-8 dropped, malloc'd. */
int text_snippet(const char *buf, size_t len, size_t nchars, char **out);

/* metrics.c */
int metrics_init(struct store *st);
void metrics_free(struct store *st);
void metrics_recall(struct store *st, enum store_cohort cohort,
		    enum store_mode mode, double seconds, bool failed);
void metrics_flag_change(struct store *st);
void metrics_blended(struct store *st, enum store_cohort cohort,
		     double seconds, uint64_t convergent, uint64_t completed,
		     bool timed_out, uint64_t fan_penalties);
void metrics_consolidation(struct store *st, double seconds);
void metrics_results(struct store *st, enum store_cohort cohort,
		     enum store_pathway pathway, uint64_t n);

#endif
