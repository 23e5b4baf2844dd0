/*
 * efs.h - private declarations of the engramfs daemon (fs/).
 *
 * fs/ translates FUSE low-level requests into calls of libengram
 * (store/store.h) and nothing else.  The pieces:
 *
 *   main.c      options, logging, the mount ladder, daemonising
 *   config.c    the config file: load at start, reload (ctl, inotify)
 *   ops.c       the fuse_lowlevel_ops table: dispatch on inode class,
 *               op timing for metrics, the one place that replies
 *   inode.c     inode classes and numbers, recall nodes, stat helpers
 *   handle.c    open-file state: per-fd handles, the shared per-inode
 *               episode buffer, the invalidation notifier thread
 *   root.c      the root directory and its files (status, metrics,
 *               query, ctl)
 *   snapshots.c snapshots/: mkdir = checkpoint, ls, rmdir
 *   episodes.c  episodes/: the stored tree
 *   concepts.c  concepts/: one file per concept; the store's change hook
 *   recall.c    recall/: any name is a query
 *   flags.c     flags/: one file per runtime flag, .history
 *
 * Convention: module functions return 0 or a negative errno and fill
 * out-parameters; only ops.c calls fuse_reply_*, so every request is
 * answered exactly once.  The exceptions are open and create, whose
 * module functions fill the struct fuse_file_info that ops.c replies.
 */
#ifndef ENGRAMFS_EFS_H
#define ENGRAMFS_EFS_H

#define FUSE_USE_VERSION 34

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "store.h"

#ifndef EFS_VERSION
#define EFS_VERSION "0.1.0"
#endif

/*
 * Kernel cache lifetimes.  Synthetic nodes keep one second, a safety net
 * for the invalidations the daemon sends for its own changes.  Recall
 * nodes must be looked up and computed afresh every time.
 */
#define EFS_TIMEOUT        1.0
#define EFS_TIMEOUT_RECALL 0.0
/*
 * Store inodes (episodes/ and below): every change to a name, attribute
 * or content comes through this mount's kernel requests, which update or
 * drop the kernel's copy themselves; the daemon invalidates what it
 * changes on its own (handle.c, "Kernel caches").  So the kernel may keep
 * them for long: warm stat and read never reach the daemon.
 */
#define EFS_TIMEOUT_STORE  86400.0

struct efs_notifier;
struct efs_watch;

/* The daemon: one per process, the session's userdata. */
struct efs {
	struct store *st;
	struct fuse_session *se;
	char *datadir;		/* absolute */
	char *mountpoint;	/* absolute */
	char *config;		/* absolute path of -o config=, or NULL */
	uid_t owner_uid;	/* who started the daemon: owns the */
	gid_t owner_gid;	/* synthetic nodes, may write flags/ctl */
	struct timespec started;
	struct efs_notifier *notifier;
	struct efs_watch *watch;
	pthread_mutex_t config_lock;	/* one reload at a time */
};

/* ------------------------------------------------------------------ */
/* main.c: logging                                                    */
/* ------------------------------------------------------------------ */

/* Levels are syslog's (LOG_ERR ... LOG_DEBUG). */
extern int efs_log_max_level;
void efs_log_write(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The level is checked before the arguments are formatted. */
#define efs_log(level, ...) \
	do { \
		if ((level) <= efs_log_max_level) \
			efs_log_write((level), __VA_ARGS__); \
	} while (0)
const char *efs_errname(int err);	/* "EINVAL" for 22 or -22 */

/* ------------------------------------------------------------------ */
/* config.c                                                           */
/* ------------------------------------------------------------------ */

/* Load and apply fs->config; every problem goes to the log.  -EINVAL on
 * a broken file (nothing applied), -errno if unreadable.  SOURCE says why,
 * for the log ("start", "ctl", "file changed"). */
int efs_config_reload(struct efs *fs, const char *source);
/* Watch fs->config with inotify and reload on change. */
int efs_config_watch_start(struct efs *fs);
void efs_config_watch_stop(struct efs *fs);

/* ------------------------------------------------------------------ */
/* inode.c: classes and numbers                                       */
/* ------------------------------------------------------------------ */

/*
 * Numbers: FUSE_ROOT_ID (1) is the mount root; every store inode keeps
 * its store number (STORE_ROOT_INO = episodes/); synthetic nodes live at
 * and above STORE_INO_LIMIT.
 */
#define EFS_SYN            STORE_INO_LIMIT
#define EFS_INO_RECALL     (EFS_SYN + 1)
#define EFS_INO_FLAGS      (EFS_SYN + 2)
#define EFS_INO_CONCEPTS   (EFS_SYN + 3)
#define EFS_INO_SNAPSHOTS  (EFS_SYN + 4)
#define EFS_INO_QUERY      (EFS_SYN + 5)
#define EFS_INO_METRICS    (EFS_SYN + 6)
#define EFS_INO_STATUS     (EFS_SYN + 7)
#define EFS_INO_CTL        (EFS_SYN + 8)
#define EFS_INO_HISTORY    (EFS_SYN + 9)
#define EFS_INO_FLAG_BASE  (EFS_SYN + 0x1000)		/* + store_flag_id */
#define EFS_INO_SNAP_BASE  (EFS_SYN + (1ULL << 32))	/* snapshots.c */
#define EFS_INO_CONCEPT_BASE (EFS_SYN + (1ULL << 36))	/* + concept id */
#define EFS_INO_RECALL_BASE (EFS_SYN + (1ULL << 40))	/* dynamic */

enum efs_class {
	EFS_C_NONE,		/* not a number we hand out */
	EFS_C_ROOT,
	EFS_C_STORE,		/* episodes/ and everything below it */
	EFS_C_RECALL_DIR,
	EFS_C_RECALL,		/* recall/NAME */
	EFS_C_FLAGS_DIR,
	EFS_C_FLAG,		/* flags/NAME */
	EFS_C_HISTORY,		/* flags/.history */
	EFS_C_CONCEPTS_DIR,
	EFS_C_CONCEPT,		/* concepts/LABEL */
	EFS_C_SNAPSHOTS_DIR,
	EFS_C_SNAPSHOT,		/* snapshots/NAME */
	EFS_C_QUERY,
	EFS_C_METRICS,
	EFS_C_STATUS,
	EFS_C_CTL,
};

enum efs_class efs_ino_class(fuse_ino_t ino);

/* A synthetic node's attributes: owned by the mount owner, times of the
 * mount, size 0 for files (they are read with direct I/O to EOF). */
void efs_synth_stat(const struct efs *fs, fuse_ino_t ino, mode_t mode,
		    nlink_t nlink, struct stat *st);
void efs_synth_entry(const struct efs *fs, fuse_ino_t ino, mode_t mode,
		     nlink_t nlink, double timeout,
		     struct fuse_entry_param *e);
/* A store inode's attributes, with the open buffer's size when the
 * episode is open (see handle.c). */
void efs_store_stat(struct efs *fs, const struct store_attr *a,
		    struct stat *st);

/* Recall nodes: a name gets a number while the kernel holds a lookup on
 * it; FORGET drops it when the count reaches zero. */
int efs_rnode_lookup(const char *name, fuse_ino_t *ino);
/* Copy of the node's name (malloc'd), -ENOENT if unknown. */
int efs_rnode_name(fuse_ino_t ino, char **name);
void efs_rnode_forget(fuse_ino_t ino, uint64_t nlookup);
size_t efs_rnode_count(void);
void efs_rnode_clear(void);

/* The caller of a request, for recall and status. */
struct efs_caller {
	struct store_caller c;
	uint32_t small[32];
	uint32_t *big;
};
void efs_caller_init(struct efs_caller *ec, fuse_req_t req);
void efs_caller_release(struct efs_caller *ec);

/* ------------------------------------------------------------------ */
/* handle.c: open files                                               */
/* ------------------------------------------------------------------ */

struct efs_estate;	/* shared state of one open episode */

/* One per open file description (fi->fh). */
struct efs_fh {
	struct efs_fh *prev, *next;	/* every live handle (handle.c) */
	enum efs_class cls;
	fuse_ino_t ino;
	int flags;		/* open flags */
	bool writable;
	struct efs_estate *es;	/* EFS_C_STORE; NULL for a reader's
				 * snapshot, which lives in buf */
	/* Synthetic files: the content rendered at open (immutable), or
	 * for query the answer of the current query. */
	char *buf;
	size_t len;
	/* A reader's snapshot: the attributes at open, for fstat(2) after
	 * the episode is unlinked; listed by inode while open (handle.c). */
	struct store_attr attr;
	struct efs_fh *next_reader;
	bool reader_listed;
	/* query: the cue being written, where the answer starts */
	pthread_mutex_t lock;
	char *cue;
	size_t cuelen;
	bool answered;
	int qerr;		/* parse/recall error of the answer */
	off_t base;		/* file offset of the first read */
};

/* Directory handle of a store folder or of concepts/ (fi->fh of
 * opendir): where the last listing stopped, to resume by name. */
struct efs_dirh {
	char *last;		/* name of the last entry returned */
	off_t next;		/* offset after it */
};
int efs_dirh_open(struct fuse_file_info *fi);
void efs_dirh_release(struct fuse_file_info *fi);

struct efs_fh *efs_fh_new(enum efs_class cls, fuse_ino_t ino, int flags);
void efs_fh_free(struct efs *fs, struct efs_fh *fh);
/* At unmount: free the handles the kernel never released (a busy mount
 * stopped by SIGTERM sends no RELEASE for files still open). */
void efs_fh_free_all(struct efs *fs);
static inline struct efs_fh *efs_fh_of(const struct fuse_file_info *fi)
{
	return (struct efs_fh *)(uintptr_t)fi->fh;
}
/* List a reader's snapshot handle by its inode, until efs_fh_free. */
void efs_reader_add(struct efs_fh *fh);
/* Attributes of an unlinked episode that a reader still has open (its
 * snapshot, nlink 0): -ENOENT if none. */
int efs_reader_stat(struct efs *fs, uint64_t ino, struct stat *st);
/* The part [off, off+size) of BUF/LEN, pointing into BUF. */
void efs_fh_slice(const char *buf, size_t len, size_t size, off_t off,
		  const char **data, size_t *n);
struct efs_rbuf;
/* A private copy of the part [off, off+size) of fh->buf (see ops.c). */
int efs_fh_read(const struct efs_fh *fh, size_t size, off_t off,
		struct efs_rbuf *rb);

/* Episode content life cycle. */
int efs_estate_open(struct efs *fs, uint64_t ino, bool trunc,
		    struct efs_estate **out);
void efs_estate_put(struct efs *fs, struct efs_estate *es);
/* Shared state of INO if it is open (a reference), else NULL. */
struct efs_estate *efs_estate_find(struct efs *fs, uint64_t ino);
int efs_estate_read(struct efs_estate *es, size_t size, off_t off,
		    char **out, size_t *n);
int efs_estate_write(struct efs *fs, struct efs_estate *es, const char *buf,
		     size_t size, off_t off);
int efs_estate_truncate(struct efs *fs, struct efs_estate *es, off_t size);
/* Times set on an episode with uncommitted writes (NULL: not set): kept
 * and committed with the content.  1 when kept, 0 when the state has
 * nothing uncommitted (the caller sets them in the store). */
int efs_estate_set_times(struct efs_estate *es, const struct timespec *atime,
			 const struct timespec *mtime);
/* Commit the buffer if dirty (flush, fsync with STORE_SYNC). */
int efs_estate_commit(struct efs *fs, struct efs_estate *es, unsigned flags);
/* Unlink and rename-over hold the state lock across the store call and
 * the marking, so that no commit can slip in between. */
void efs_estate_lock(struct efs_estate *es);
void efs_estate_unlock(struct efs_estate *es);
void efs_estate_mark_unlinked(struct efs_estate *es);
/* Override size/times/nlink in ST if INO is open. */
void efs_estate_stat(struct efs *fs, uint64_t ino, struct stat *st);
/* Attributes of an open but unlinked episode: -ENOENT if none. */
int efs_estate_orphan_stat(struct efs *fs, uint64_t ino, struct stat *st);
/* At shutdown: commit what is still dirty. */
void efs_estate_commit_all(struct efs *fs);

/* The notifier thread: kernel cache invalidation outside requests. */
int efs_notifier_start(struct efs *fs);
void efs_notifier_stop(struct efs *fs);
void efs_notify_inval(struct efs *fs, uint64_t ino);
/* The attributes of INO only; its pages stay cached. */
void efs_notify_inval_attr(struct efs *fs, uint64_t ino);
void efs_notify_inval_entry(struct efs *fs, uint64_t parent,
			    const char *name);
/*
 * Wait until every notification queued so far has been sent, at most
 * SECONDS (-ETIMEDOUT).  For a request that changed what other nodes show
 * (ctl consolidate) and should not return before the kernel forgot it.
 * Never waits for itself: the notifier thread sends on its own.
 */
int efs_notify_wait(struct efs *fs, double seconds);

/* ------------------------------------------------------------------ */
/* Module entry points (called from ops.c)                            */
/* ------------------------------------------------------------------ */

/* A reply buffer: DATA/LEN to send, ALLOC to free afterwards. */
struct efs_rbuf {
	const char *data;
	size_t len;
	char *alloc;
};

/* Directory listing helper shared by the synthetic directories. */
struct efs_dirent_s {
	const char *name;
	fuse_ino_t ino;
	mode_t mode;
};

/* root.c */
int efs_root_lookup(struct efs *fs, const char *name,
		    struct fuse_entry_param *e);
int efs_root_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st);
int efs_root_readdir(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		     size_t size, off_t off, bool plus, struct efs_rbuf *rb);
int efs_root_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		  struct fuse_file_info *fi);
int efs_root_read(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
		  size_t size, off_t off, struct efs_rbuf *rb);
int efs_root_write(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
		   const char *buf, size_t size, off_t off);
int efs_root_mkdir(struct efs *fs, fuse_ino_t parent, const char *name);
/* Fill a readdir buffer from a fixed table (root, flags). */
int efs_fill_dir(fuse_req_t req, struct efs *fs, fuse_ino_t self,
		 fuse_ino_t parent, const struct efs_dirent_s *v, size_t n,
		 size_t size, off_t off, bool plus, double timeout,
		 struct efs_rbuf *rb);

/* episodes.c */
int efs_ep_lookup(struct efs *fs, uint64_t parent, const char *name,
		  struct fuse_entry_param *e);
int efs_ep_getattr(struct efs *fs, uint64_t ino, struct stat *st);
int efs_ep_fgetattr(struct efs *fs, const struct efs_fh *fh, struct stat *st);
int efs_ep_setattr(struct efs *fs, fuse_req_t req, uint64_t ino,
		   const struct stat *in, int to_set, struct efs_fh *fh,
		   struct stat *out);
int efs_ep_readdir(struct efs *fs, fuse_req_t req, uint64_t ino,
		   size_t size, off_t off, struct fuse_file_info *fi,
		   bool plus, struct efs_rbuf *rb);
int efs_ep_create(struct efs *fs, fuse_req_t req, uint64_t parent,
		  const char *name, mode_t mode, struct fuse_file_info *fi,
		  struct fuse_entry_param *e);
int efs_ep_mknod(struct efs *fs, fuse_req_t req, uint64_t parent,
		 const char *name, mode_t mode, struct fuse_entry_param *e);
int efs_ep_mkdir(struct efs *fs, fuse_req_t req, uint64_t parent,
		 const char *name, mode_t mode, struct fuse_entry_param *e);
int efs_ep_unlink(struct efs *fs, uint64_t parent, const char *name);
int efs_ep_rmdir(struct efs *fs, uint64_t parent, const char *name);
int efs_ep_rename(struct efs *fs, uint64_t parent, const char *name,
		  uint64_t newparent, const char *newname, unsigned flags);
int efs_ep_open(struct efs *fs, fuse_req_t req, uint64_t ino,
		struct fuse_file_info *fi);
int efs_ep_read(struct efs *fs, struct efs_fh *fh, size_t size, off_t off,
		struct efs_rbuf *rb);
int efs_ep_write(struct efs *fs, struct efs_fh *fh, const char *buf,
		 size_t size, off_t off);
int efs_ep_flush(struct efs *fs, struct efs_fh *fh);
int efs_ep_fsync(struct efs *fs, struct efs_fh *fh);
void efs_ep_release(struct efs *fs, struct efs_fh *fh);
int efs_ep_getxattr(struct efs *fs, uint64_t ino, const char *name,
		    char **val, size_t *len);
int efs_ep_listxattr(struct efs *fs, uint64_t ino, char **val, size_t *len);
int efs_ep_setxattr(struct efs *fs, uint64_t ino, const char *name,
		    const char *val, size_t len, int flags);
int efs_ep_removexattr(struct efs *fs, uint64_t ino, const char *name);

/* recall.c */
int efs_recall_lookup(struct efs *fs, const char *name,
		      struct fuse_entry_param *e);
int efs_recall_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st);
int efs_recall_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi);
/* Run Q for the caller of REQ and render it (shared with query). */
int efs_recall_answer(struct efs *fs, fuse_req_t req,
		      const struct store_query *q, char **out, size_t *len);

/* concepts.c */
int efs_concepts_lookup(struct efs *fs, fuse_req_t req, const char *name,
			struct fuse_entry_param *e);
int efs_concepts_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st);
int efs_concepts_readdir(struct efs *fs, fuse_req_t req, size_t size,
			 off_t off, struct fuse_file_info *fi, bool plus,
			 struct efs_rbuf *rb);
int efs_concepts_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
/* Concept nodes: the kernel's lookup counts on concept files. */
void efs_concepts_forget(fuse_ino_t ino, uint64_t nlookup);
size_t efs_concepts_node_count(void);
void efs_concepts_clear(void);
/* The store_change_fn (CTX is the struct efs): queues invalidations. */
void efs_concepts_changed(void *ctx, enum store_change what, uint64_t id);

/* snapshots.c */
int efs_snap_lookup(struct efs *fs, const char *name,
		    struct fuse_entry_param *e);
int efs_snap_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st);
/* INO is snapshots/ (the snapshots) or a snapshot (empty). */
int efs_snap_readdir(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		     size_t size, off_t off, bool plus, struct efs_rbuf *rb);
int efs_snap_mkdir(struct efs *fs, fuse_req_t req, const char *name,
		   struct fuse_entry_param *e);
int efs_snap_rmdir(struct efs *fs, fuse_req_t req, const char *name);
/* At shutdown: free the number table. */
void efs_snap_clear(void);

/* flags.c */
int efs_flags_lookup(struct efs *fs, const char *name,
		     struct fuse_entry_param *e);
int efs_flags_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st);
int efs_flags_readdir(struct efs *fs, fuse_req_t req, size_t size,
		      off_t off, bool plus, struct efs_rbuf *rb);
int efs_flags_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);
int efs_flags_write(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
		    const char *buf, size_t size);

/* ops.c */
extern const struct fuse_lowlevel_ops efs_ops;
/* Attributes of any node, dispatched on its class. */
int efs_node_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st);
/* Owner or root: may write flags/ and ctl. */
bool efs_is_owner(const struct efs *fs, fuse_req_t req);

#endif
