/*
 * store.h - libengram, the storage and recall engine behind engramfs.
 *
 * libengram knows nothing of FUSE or of mount paths.  It stores a tree of
 * inodes (folders and episodes) in RocksDB, indexes episode text, runs
 * recall, and keeps the runtime flags.  Everything a file system needs is
 * here; everything a file system *is* (inode lookup counts, handles,
 * replies) lives in fs/.
 *
 * Conventions (as lmdb.h):
 *  - Every action returns int: 0 on success or a negative errno.
 *  - Predicates return bool.
 *  - Out-parameters are written only on success.
 *  - Strings and buffers handed out are malloc'd and owned by the caller,
 *    unless the comment says otherwise.  Pairs are <ptr, len>.
 *  - All functions are thread-safe unless noted.  Writers are serialised
 *    inside the store; readers never block writers.
 *
 * Inode numbers: STORE_ROOT_INO is the episodes/ folder.  Numbers come
 * from a persistent counter, written in the same batch as the record, and
 * are never reused.  Numbers below STORE_FIRST_INO are reserved.  Every
 * stored number is below STORE_INO_LIMIT, so callers may use the space
 * above it for their own synthetic nodes.
 */
#ifndef ENGRAM_STORE_H
#define ENGRAM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define STORE_ROOT_INO   2ULL
#define STORE_FIRST_INO  16ULL
#define STORE_INO_LIMIT  (1ULL << 48)
#define STORE_NAME_MAX   255
#define STORE_QUERY_MAX  (64 * 1024)	/* bytes of a query-file cue */

struct store;

/* ------------------------------------------------------------------ */
/* Logging                                                            */
/* ------------------------------------------------------------------ */

enum store_log_level { STORE_LOG_ERR = 3, STORE_LOG_WARNING = 4,
		       STORE_LOG_NOTICE = 5, STORE_LOG_INFO = 6,
		       STORE_LOG_DEBUG = 7 };	/* syslog numbers */

typedef void store_log_fn(int level, const char *msg);

/* Route the store's log lines (default: stderr).  Call before store_open. */
void store_log_set(store_log_fn *fn, int max_level);
void store_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Replace control characters in MSG with '?' (one message, one line). */
void store_log_sanitise(char *msg);

/* ------------------------------------------------------------------ */
/* Flags: one table drives flags/, the config file and --help          */
/* ------------------------------------------------------------------ */

enum store_flag_id {
	/* [features] */
	FLAG_DUAL_MEMORY_TYPES,
	FLAG_BLENDED_RECALL,
	FLAG_FAN_EFFECT,
	FLAG_MONITORING,
	/* [blended_recall] */
	FLAG_BR_COHORT_SAMPLING_RATE,
	FLAG_BR_COHORT_SEED,
	FLAG_BR_BASE_EPISODIC_WEIGHT,
	FLAG_BR_BASE_SEMANTIC_WEIGHT,
	FLAG_BR_SEMANTIC_TIMEOUT_MS,
	FLAG_BR_MIN_CONCEPT_COHERENCE,
	FLAG_BR_MAX_CONCEPTS,
	FLAG_BR_ADAPTIVE_WEIGHTING,
	FLAG_BR_ENABLE_PATTERN_COMPLETION,
	FLAG_BR_CUE_COMPLETION,
	/* [consolidation] */
	FLAG_CONS_INTERVAL_S,
	FLAG_CONS_MIN_COHERENCE,
	FLAG_CONS_MIN_CLUSTER_SIZE,
	FLAG_CONS_JOIN_SIMILARITY,
	/* [recall] */
	FLAG_RECALL_DEFAULT_LIMIT,
	FLAG_RECALL_MAX_LIMIT,
	FLAG_RECALL_MIN_CONFIDENCE,
	FLAG_RECALL_BM25_K1,
	FLAG_RECALL_BM25_B,
	FLAG_RECALL_DECAY_FUNCTION,
	FLAG_RECALL_DECAY_EXPONENT,
	FLAG_RECALL_DECAY_HALF_LIFE_DAYS,
	FLAG_RECALL_REHEARSAL_WEIGHT,
	FLAG_RECALL_MAX_DEPTH,
	FLAG_RECALL_SNIPPET_CHARS,
	/* [fan_effect] */
	FLAG_FAN_DIVISOR,
	/* [store] */
	FLAG_STORE_MAX_EPISODE_BYTES,
	FLAG__COUNT
};

enum store_flag_type { STORE_FLAG_BOOL, STORE_FLAG_INT, STORE_FLAG_DOUBLE,
		       STORE_FLAG_ENUM };

struct store_flag_def {
	const char *name;	/* "blended_recall", "recall.bm25_k1" */
	const char *section;	/* config section: "features", "recall" */
	const char *key;	/* key within the section */
	enum store_flag_type type;
	const char *def;	/* default, canonical text */
	double min, max;	/* inclusive range for INT and DOUBLE */
	const char *const *choices;	/* NULL-terminated, for ENUM */
	const char *help;	/* one line, for --help, docs and the config file */
};

/* The registry, indexed by enum store_flag_id. */
const struct store_flag_def *store_flag_def(enum store_flag_id id);
/* Find by flag name ("recall.bm25_k1") or by section and key. -ENOENT. */
int store_flag_find(const char *name);
int store_flag_find_key(const char *section, const char *key);

/*
 * Parse TEXT (a trailing newline and surrounding blanks are ignored) as a
 * value of flag ID.  On success *value gets the number (booleans 0/1, enums
 * the choice index).  On failure returns -EINVAL and writes a lower-case
 * reason without final period into why[whylen] ("expected a number between
 * 0 and 1", "expected one of 1 0 true false on off yes no").
 */
int store_flag_parse(enum store_flag_id id, const char *text, size_t len,
		     double *value, char *why, size_t whylen);
/* Canonical text of a value ("1", "0.05", "power"). */
void store_flag_format(enum store_flag_id id, double value, char *buf,
		       size_t size);

/* Current value; lock-free, for the next operation. */
double store_flag_get(struct store *st, enum store_flag_id id);

/*
 * Set a flag from text.  Validates, writes value and history record in one
 * synchronous batch (durable on return), then publishes the value.
 * SOURCE is "write", "config" or "ctl".  Setting the current value again
 * succeeds and records nothing.  -EINVAL with reason in why on bad value;
 * -EIO/-ENOSPC from the database leave the flag unchanged.
 */
int store_flag_set(struct store *st, enum store_flag_id id, const char *text,
		   size_t len, uint32_t uid, const char *source, char *why,
		   size_t whylen);

/* The whole change history as text, one change per line, oldest first:
 * "2026-11-21T09:16:24Z uid=1000 blended_recall 0 -> 1 source=write\n" */
int store_flag_history(struct store *st, char **out, size_t *len);

/* ------------------------------------------------------------------ */
/* Config files (libinih): same sections and keys as the flags         */
/* ------------------------------------------------------------------ */

struct store_config {
	bool set[FLAG__COUNT];		/* key present in the file */
	double value[FLAG__COUNT];	/* parsed value where set[] */
};

/*
 * Parse and validate the whole file.  On any problem returns -EINVAL (or
 * -errno if unreadable), leaves *cfg untouched, and writes one line per
 * problem into *errors (caller frees):
 *   "FILE:LINE: key 'recall.bm25_k1': expected a number between 0 and 3"
 */
int store_config_load(const char *path, struct store_config *cfg,
		      char **errors);

/*
 * Apply a parsed config to a running store.  Only keys whose value in the
 * file differs from the value last applied from a config file are set, so
 * runtime flag writes survive a restart with an unchanged file.  Each
 * applied key is recorded in the history with source "config".
 * *applied (may be NULL) gets the number of keys set.
 */
int store_config_apply(struct store *st, const struct store_config *cfg,
		       size_t *applied);

/* ------------------------------------------------------------------ */
/* Opening                                                            */
/* ------------------------------------------------------------------ */

struct store_options {
	size_t cache_bytes;	/* RocksDB block cache; 0 = default 32 MiB */
	size_t posting_cache_bytes; /* decoded postings of frequent terms;
				 * 0 = default 32 MiB (1: nothing fits) */
	bool read_only;		/* offline tools */
};

/* Open or create the store in DIR.  -EBUSY when another process holds it. */
int store_open(const char *dir, const struct store_options *opt,
	       struct store **out);
/* Flush and close; NULL is a no-op. */
void store_close(struct store *st);
const char *store_dir(const struct store *st);

/* ------------------------------------------------------------------ */
/* The tree of episodes                                               */
/* ------------------------------------------------------------------ */

struct store_attr {
	uint64_t ino;
	uint64_t parent;	/* folder; the root is its own parent */
	uint32_t mode;		/* S_IFREG or S_IFDIR | permission bits */
	uint32_t uid, gid;
	uint32_t nlink;		/* 1 for files, 2 + subfolders for folders */
	uint64_t size;		/* content bytes; 0 for folders */
	struct timespec atime, mtime, ctime, crtime;
	double confidence;	/* encoding confidence 0..1 */
	uint64_t hash;		/* xxh64 of the content */
};

/* Masks for store_setattr. */
#define STORE_SET_MODE   (1u << 0)
#define STORE_SET_UID    (1u << 1)
#define STORE_SET_GID    (1u << 2)
#define STORE_SET_ATIME  (1u << 3)
#define STORE_SET_MTIME  (1u << 4)

/* Flags for store_content_write. */
#define STORE_SYNC       (1u << 0)	/* durable before return (fsync) */

int store_getattr(struct store *st, uint64_t ino, struct store_attr *out);
/* -ENOENT if NAME is not in folder PARENT, -ENOTDIR if PARENT is a file. */
int store_lookup(struct store *st, uint64_t parent, const char *name,
		 struct store_attr *out);

/*
 * Create an empty episode (S_IFREG) or folder (S_IFDIR) named NAME in
 * PARENT.  MODE carries the type and permission bits (umask applied by the
 * caller).  -EEXIST, -ENAMETOOLONG (> 255 bytes), -EINVAL (empty, "." or
 * "..", or containing '/'), -EPERM for any other file type.
 */
int store_create(struct store *st, uint64_t parent, const char *name,
		 uint32_t mode, uint32_t uid, uint32_t gid,
		 struct store_attr *out);

/* Whole content of episode INO (malloc'd; an empty episode gives NULL, 0). */
int store_content_read(struct store *st, uint64_t ino, char **buf,
		       size_t *len);

/*
 * Replace the content of episode INO: content, metadata (size, hash, mtime
 * and ctime set to now), index entries and counters are one atomic batch.
 * -EFBIG when LEN exceeds store.max_episode_bytes (nothing changes).
 * Names starting with '.' are stored but not indexed.
 */
int store_content_write(struct store *st, uint64_t ino, const void *buf,
			size_t len, unsigned flags, struct store_attr *out);
/*
 * The same with the times given, for a time set on an episode with
 * uncommitted writes (`cp -p`: write, futimens, close): content and time
 * in one batch, postings written once, with that time.  A NULL member:
 * mtime and ctime now, atime unchanged; T NULL: all so.
 */
struct store_times {
	const struct timespec *atime, *mtime, *ctime;
};
int store_content_write_times(struct store *st, uint64_t ino,
			      const void *buf, size_t len, unsigned flags,
			      const struct store_times *t,
			      struct store_attr *out);

/* Append: read, concatenate and replace under the writer lock. */
int store_content_append(struct store *st, uint64_t ino, const void *buf,
			 size_t len, unsigned flags, struct store_attr *out);

/* Change mode, owner, times (MASK of STORE_SET_*); ctime becomes now. */
int store_setattr(struct store *st, uint64_t ino, const struct store_attr *in,
		  unsigned mask, struct store_attr *out);

/* Forget an episode: entry, content, index entries, xattrs.  -EISDIR. */
int store_unlink(struct store *st, uint64_t parent, const char *name);
/* Remove an empty folder: -ENOTEMPTY, -ENOTDIR. */
int store_rmdir(struct store *st, uint64_t parent, const char *name);

#define STORE_RENAME_NOREPLACE (1u << 0)
/*
 * Atomic rename; an existing target episode (or empty folder) is replaced
 * in the same batch.  -EINVAL when moving a folder into itself,
 * -EEXIST with NOREPLACE, -ENOTEMPTY, -EISDIR/-ENOTDIR on type mismatch.
 * Moving between a '.'-name and a plain name adds or drops index entries.
 */
int store_rename(struct store *st, uint64_t parent, const char *name,
		 uint64_t newparent, const char *newname, unsigned flags);

/* Entries of folder DIR in name order, starting after AFTER (NULL = from
 * the start).  The callback returns non-zero to stop early (that value is
 * returned). */
typedef int store_dirent_fn(void *ctx, const char *name,
			    const struct store_attr *attr);
int store_readdir(struct store *st, uint64_t dir, const char *after,
		  store_dirent_fn *fn, void *ctx);
/* The same, without reading each entry's inode: ATTR has only ino and
 * the file type bits of mode set (a listing without attributes). */
int store_readdir_names(struct store *st, uint64_t dir, const char *after,
			store_dirent_fn *fn, void *ctx);

/* Path of INO relative to the episodes root ("work/standup"), malloc'd. */
int store_path(struct store *st, uint64_t ino, char **out);

/* Make every write so far durable (fsync of the write-ahead log). */
int store_sync(struct store *st);

/*
 * Extended attributes.  "user.engram.confidence" is a number in 0..1
 * (-EINVAL otherwise) kept in store_attr.confidence; "user.engram.where",
 * ".who", ".tags" and any other "user.*" name are stored as given
 * (value up to 64 KiB, -E2BIG past it); "user.engram.concepts" is
 * read-only (-EPERM).  Other namespaces: -ENOTSUP.  Missing: -ENODATA.
 */
#define STORE_XATTR_CREATE  1	/* as XATTR_CREATE */
#define STORE_XATTR_REPLACE 2	/* as XATTR_REPLACE */
int store_xattr_get(struct store *st, uint64_t ino, const char *name,
		    char **val, size_t *len);
int store_xattr_set(struct store *st, uint64_t ino, const char *name,
		    const void *val, size_t len, int flags);
int store_xattr_remove(struct store *st, uint64_t ino, const char *name);
/* NUL-separated list of names, as listxattr(2). */
int store_xattr_list(struct store *st, uint64_t ino, char **names,
		     size_t *len);

/* ------------------------------------------------------------------ */
/* Recall                                                             */
/* ------------------------------------------------------------------ */

enum store_mode { STORE_MODE_AUTO, STORE_MODE_EPISODIC, STORE_MODE_SEMANTIC,
		  STORE_MODE_BLENDED };
enum store_format { STORE_FORMAT_TEXT, STORE_FORMAT_JSON,
		    STORE_FORMAT_PATHS };
enum store_pathway { STORE_PATHWAY_EPISODIC, STORE_PATHWAY_SEMANTIC,
		     STORE_PATHWAY_CONVERGENT, STORE_PATHWAY_COMPLETED };
enum store_cohort { STORE_COHORT_CONTROL, STORE_COHORT_TREATMENT };

struct store_query {
	char *cue;		/* the text to recall by */
	size_t limit;		/* 0 = recall.default_limit */
	enum store_format format;
	enum store_mode mode;
	char *under;		/* folder relative to episodes/, or NULL */
	char *user;		/* cohort key, or NULL = caller's uid */
	int64_t since, until;	/* unix seconds; INT64_MIN / INT64_MAX = open */
	double min_confidence;	/* < 0 = recall.min_confidence */
	size_t budget;		/* max output bytes, 0 = unlimited */
};

/*
 * Parse a recall/ file name: options follow the last '?' when everything
 * after it is key=value pairs joined by '&'; otherwise the whole name is
 * the cue.  Unknown key, bad value, repeated key: -EINVAL and a reason
 * ("unknown option 'foo'").  Release with store_query_release.
 */
int store_query_parse_name(const char *name, size_t len,
			   struct store_query *q, char *why, size_t whylen);
/*
 * Parse a query-file body: plain text with an optional last line
 * "?key=value&..." or a JSON object {"cue": ..., "limit": ..., ...}.
 * -EINVAL with reason; -EFBIG over STORE_QUERY_MAX.
 */
int store_query_parse_body(const char *buf, size_t len,
			   struct store_query *q, char *why, size_t whylen);
void store_query_release(struct store_query *q);

/* Who is asking: recall returns only what this caller could read. */
struct store_caller {
	uint32_t uid, gid;
	const uint32_t *groups;	/* supplementary groups */
	size_t ngroups;
};

/* POSIX read check on INO, including search permission on its folders. */
bool store_may_read(struct store *st, const struct store_caller *c,
		    uint64_t ino);

struct store_contribution {
	char *label;		/* concept label */
	double weight;		/* what it added to the semantic score */
};

struct store_result {
	uint64_t ino;
	char *name;		/* path relative to episodes/ */
	double score;		/* 0..1 */
	enum store_pathway pathway;
	int64_t when;		/* unix seconds (mtime) */
	double confidence;
	char *snippet;		/* first ~100 characters, newlines folded */
	struct store_contribution *concepts;	/* strongest first */
	size_t nconcepts;
};

struct store_results {
	struct store_result *v;
	size_t n;
	enum store_mode mode;		/* the pathway mode actually used */
	enum store_cohort cohort;	/* from the cohort key */
	bool cohort_applies;		/* mode was auto */
	double elapsed_s;
};

/* Cohort of KEY (the uid as decimal text, or the user= value): when
 * blended_recall is on, treatment iff xxh64(key, cohort_seed) / 2^64 <
 * cohort_sampling_rate; control otherwise. */
enum store_cohort store_cohort_of(struct store *st, const char *key,
				  size_t len);

int store_recall(struct store *st, const struct store_query *q,
		 const struct store_caller *c, struct store_results *out);
void store_results_release(struct store_results *r);

/*
 * Render results in Q's format, cut at whole results to fit q->budget.
 * MOUNT is the mount point, used by format=paths ("MOUNT/episodes/NAME").
 */
int store_results_format(const struct store_results *r,
			 const struct store_query *q, const char *mount,
			 char **out, size_t *len);

/* ------------------------------------------------------------------ */
/* Concepts and consolidation                                         */
/* ------------------------------------------------------------------ */

struct store_concept {
	uint64_t id;
	char *label;		/* unique readable name: "coffee-alice-station" */
	double coherence;	/* mean member-to-centroid cosine, 0..1 */
	uint32_t members;
	int64_t formed, updated;	/* unix seconds */
};
void store_concept_release(struct store_concept *c);

/* Concepts in label order, after label AFTER (NULL = from the start). */
typedef int store_concept_fn(void *ctx, const struct store_concept *c);
int store_concept_list(struct store *st, const char *after,
		       store_concept_fn *fn, void *ctx);
/* -ENOENT when no concept has that label. */
int store_concept_lookup(struct store *st, const char *label,
			 struct store_concept *out);
/*
 * May caller C know of concept ID at all?  True when C may read at least
 * one of its members: a concept's label and terms are words of its
 * members, so a concept made only of episodes C cannot read would leak
 * them.  Root (C NULL or uid 0) sees every concept.
 */
bool store_concept_visible(struct store *st, uint64_t id,
			   const struct store_caller *c);
/*
 * The text of a concept file: label, coherence, member count, formed and
 * updated times, top terms, then member episodes with binding strengths,
 * strongest first.  Members caller C may not read are left out; -ENOENT
 * when C may read none (store_concept_visible).
 */
int store_concept_render(struct store *st, uint64_t id,
			 const struct store_caller *c, char **out, size_t *len);
/* "label<TAB>strength\n" per concept episode INO is bound to. */
int store_episode_concepts(struct store *st, uint64_t ino, char **out,
			   size_t *len);

struct store_consolidation {
	uint64_t episodes_seen;		/* changed since the last run */
	uint64_t concepts_formed, concepts_updated, concepts_dissolved;
	uint64_t bindings_created;
	double seconds;
};
/*
 * One consolidation run over the episodes changed since the last run
 * (synchronous; runs are serialised).  Forms, updates and dissolves
 * concepts and their bindings.  Recall is served throughout.  Does
 * nothing (returns 0, empty report) when dual_memory_types is off.
 */
int store_consolidate(struct store *st, struct store_consolidation *rep);

/*
 * Background work owned by the store: consolidation every
 * consolidation.interval_s while dual_memory_types is on.  stop joins.
 */
int store_background_start(struct store *st);
void store_background_stop(struct store *st);

/*
 * Told after the store changed something a reader may have cached
 * (a concept file appeared, changed or went; an episode's concepts
 * changed).  Called from whichever thread runs consolidation: the
 * store's background thread, or the caller of store_consolidate (so it
 * may run inside a daemon's request: it must only queue work, never
 * block or call back into the store).  ID is a concept id or an inode
 * number.
 */
enum store_change { STORE_CHANGE_CONCEPT, STORE_CHANGE_CONCEPTS_DIR,
		    STORE_CHANGE_EPISODE_XATTR };
typedef void store_change_fn(void *ctx, enum store_change what, uint64_t id);
void store_change_hook(struct store *st, store_change_fn *fn, void *ctx);

/* ------------------------------------------------------------------ */
/* Snapshots, backup, verification, maintenance                       */
/* ------------------------------------------------------------------ */

/*
 * A consistent point-in-time copy of the whole store in DIR (which must
 * not exist), taken while writers keep writing (RocksDB checkpoint: hard
 * links where possible).  DIR is itself a data dir engramfs can open.
 */
int store_checkpoint(struct store *st, const char *dir);

/* An incremental backup into backup directory DIR (created if needed;
 * RocksDB's backup engine: only new table files are copied). */
int store_backup(struct store *st, const char *dir);

/*
 * Offline: bring SRC (a checkpoint directory or a backup directory; the
 * latest backup) into DATADIR, which must not exist or be empty.
 */
int store_restore(const char *src, const char *datadir);

/* Compact every column family (maintenance; also reclaims deletes). */
int store_compact(struct store *st);

/*
 * Check that every index entry, binding and counter agrees with the
 * episodes.  Each problem is one line in *report ("posting 'alic' ->
 * inode 42: no such episode"); returns the number of problems (>= 0) or
 * -errno.  Usable on a store opened read-only.
 */
int store_verify(struct store *st, char **report, size_t *len);

/* Approximate sizes for metrics and status. */
struct store_usage {
	uint64_t disk_bytes;		/* live SST + WAL files */
	uint64_t pending_compaction_bytes;
	uint64_t memtable_bytes;
};
void store_usage(struct store *st, struct store_usage *out);

/* ------------------------------------------------------------------ */
/* Status and metrics                                                 */
/* ------------------------------------------------------------------ */

struct store_counts {
	uint64_t episodes;	/* regular files */
	uint64_t folders;
	uint64_t indexed;	/* episodes in the index */
	uint64_t bytes;		/* content bytes */
	uint64_t next_ino;
};
void store_counts(struct store *st, struct store_counts *out);

/* File system operations counted by the daemon, for metrics. */
enum store_fs_op { STORE_OP_LOOKUP, STORE_OP_GETATTR, STORE_OP_READDIR,
		   STORE_OP_OPEN, STORE_OP_READ, STORE_OP_WRITE,
		   STORE_OP_CREATE, STORE_OP_FLUSH, STORE_OP_FSYNC,
		   STORE_OP_UNLINK, STORE_OP_RENAME, STORE_OP_SETATTR,
		   STORE_OP_MKDIR, STORE_OP_RMDIR, STORE_OP_XATTR,
		   STORE_OP__COUNT };
void store_metrics_fs_op(struct store *st, enum store_fs_op op,
			 double seconds, bool failed);

/* Prometheus text format 0.0.4; empty when the monitoring flag is off. */
int store_metrics_render(struct store *st, char **out, size_t *len);

/* "key: value" lines for the status file.  EXTRA (may be NULL) is
 * appended as is (the daemon's own lines: mount point, pid). */
int store_status_render(struct store *st, const struct store_caller *c,
			const char *extra, char **out, size_t *len);

#endif
