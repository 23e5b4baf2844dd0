/*
 * root.c - the mount root: its fixed listing, the files status, metrics,
 * query and ctl.  concepts/ and snapshots/ have their own files
 * (concepts.c, snapshots.c).
 *
 *   status   0444  store_status_render plus the daemon's lines "mount:",
 *                  "pid:", "recall_nodes:" (recall nodes the kernel holds
 *                  now: stays flat however many cues were asked) and
 *                  "concept_nodes:" (concept files the kernel holds)
 *   metrics  0444  store_metrics_render (Prometheus text, empty when the
 *                  monitoring flag is off)
 *   query    0666  transaction file, below
 *   ctl      0200  command channel, owner or root only
 *
 * All are rendered at open and read with direct I/O (size 0, read to
 * EOF), so nothing stale comes from the page cache.
 *
 * The query file works like Linux nfsd's transaction files: open it
 * read-write, write the cue (any number of writes append to it, up to
 * STORE_QUERY_MAX bytes, EFBIG past that), then read.  The first read
 * after writes parses the body and runs recall for the reader; the answer
 * is served at offsets relative to that first read, because the fd's file
 * position has moved past the bytes written:
 *
 *     exec 3<>MNT/query; printf '%s' "$cue" >&3; cat <&3
 *
 * reads at offset len(cue) and gets the answer from its first byte.  A
 * write after a read starts a new query.  A cue that does not parse makes
 * every read fail with EINVAL until the next write (the reason goes to the
 * log); reading with no cue written gives EOF.  The state is per handle,
 * guarded by fh->lock (two threads may read one fd).
 *
 * ctl takes one command per write: "reload" re-reads the -o config file;
 * "consolidate" runs store_consolidate in the writing thread, so the
 * write returns when the run is done (with the run's errno if it failed)
 * and the kernel has been told what the run changed in concepts/ (at
 * most EFS_TIMEOUT later, handle.c); a summary line goes to the log.
 * With dual_memory_types off it does nothing and says so.  "compact"
 * compacts every column family (store_compact) and "backup DIR" writes an
 * incremental backup into DIR, which must be an absolute path (EINVAL
 * otherwise: the daemon's working directory is nobody's business); both
 * run in the writing thread, so the write returns when the work is done,
 * with its errno.  Anything else is EINVAL.
 *
 * The root's names are fixed: creating anything there is EPERM.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "efs.h"

#define EFS_ROOT_MODE      (S_IFDIR | 0755)
#define EFS_RECALL_DIRMODE (S_IFDIR | 0555)
#define EFS_FLAGS_DIRMODE  (S_IFDIR | 0755)
#define EFS_CONCEPTS_MODE  (S_IFDIR | 0555)
#define EFS_SNAPSHOTS_MODE (S_IFDIR | 0755)
#define EFS_QUERY_MODE     (S_IFREG | 0666)
#define EFS_RO_MODE        (S_IFREG | 0444)
#define EFS_CTL_MODE       (S_IFREG | 0200)

static const struct efs_dirent_s efs_root_v[] = {
	{ "episodes",  STORE_ROOT_INO,    S_IFDIR },
	{ "concepts",  EFS_INO_CONCEPTS,  EFS_CONCEPTS_MODE },
	{ "recall",    EFS_INO_RECALL,    EFS_RECALL_DIRMODE },
	{ "flags",     EFS_INO_FLAGS,     EFS_FLAGS_DIRMODE },
	{ "snapshots", EFS_INO_SNAPSHOTS, EFS_SNAPSHOTS_MODE },
	{ "query",     EFS_INO_QUERY,     EFS_QUERY_MODE },
	{ "metrics",   EFS_INO_METRICS,   EFS_RO_MODE },
	{ "status",    EFS_INO_STATUS,    EFS_RO_MODE },
	{ "ctl",       EFS_INO_CTL,       EFS_CTL_MODE },
};
#define EFS_ROOT_N (sizeof(efs_root_v) / sizeof(efs_root_v[0]))
#define EFS_ROOT_NLINK 7	/* ".", the parent's entry, 5 subfolders */

int efs_root_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st)
{
	size_t i;

	if (ino == FUSE_ROOT_ID) {
		efs_synth_stat(fs, ino, EFS_ROOT_MODE, EFS_ROOT_NLINK, st);
		return 0;
	}
	for (i = 0; i < EFS_ROOT_N; i++) {
		const struct efs_dirent_s *d = &efs_root_v[i];

		if (d->ino == ino && d->ino != STORE_ROOT_INO) {
			efs_synth_stat(fs, ino, d->mode, S_ISDIR(d->mode) ? 2 : 1,
				       st);
			return 0;
		}
	}
	return -ENOENT;
}

int efs_root_lookup(struct efs *fs, const char *name,
		    struct fuse_entry_param *e)
{
	size_t i;

	for (i = 0; i < EFS_ROOT_N; i++)
		if (!strcmp(name, efs_root_v[i].name))
			break;
	if (i == EFS_ROOT_N)
		return -ENOENT;
	memset(e, 0, sizeof(*e));
	e->ino = efs_root_v[i].ino;
	e->attr_timeout = EFS_TIMEOUT;
	e->entry_timeout = EFS_TIMEOUT;
	return efs_node_getattr(fs, e->ino, &e->attr);
}

int efs_fill_dir(fuse_req_t req, struct efs *fs, fuse_ino_t self,
		 fuse_ino_t parent, const struct efs_dirent_s *v, size_t n,
		 size_t size, off_t off, bool plus, double timeout,
		 struct efs_rbuf *rb)
{
	char *buf = malloc(size ? size : 1);
	size_t used = 0, i;

	if (!buf)
		return -ENOMEM;
	for (i = off < 0 ? 0 : (size_t)off; i < n + 2; i++) {
		const char *name = i == 0 ? "." : i == 1 ? ".." : v[i - 2].name;
		struct fuse_entry_param e;
		size_t k;

		memset(&e, 0, sizeof(e));
		e.attr.st_ino = i == 0 ? self : i == 1 ? parent : v[i - 2].ino;
		e.attr.st_mode = i < 2 ? S_IFDIR : v[i - 2].mode;
		if (plus && i >= 2) {
			/* A node the kernel will hold: full attributes. */
			if (efs_node_getattr(fs, e.attr.st_ino, &e.attr) < 0)
				continue;
			e.ino = e.attr.st_ino;
			e.attr_timeout = e.entry_timeout = timeout;
		}
		if (plus)
			k = fuse_add_direntry_plus(req, buf + used, size - used,
						   name, &e, (off_t)i + 1);
		else
			k = fuse_add_direntry(req, buf + used, size - used,
					      name, &e.attr, (off_t)i + 1);
		if (k > size - used)
			break;
		used += k;
	}
	rb->data = rb->alloc = buf;
	rb->len = used;
	return 0;
}

int efs_root_readdir(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		     size_t size, off_t off, bool plus, struct efs_rbuf *rb)
{
	if (ino == FUSE_ROOT_ID)
		return efs_fill_dir(req, fs, ino, ino, efs_root_v, EFS_ROOT_N,
				    size, off, plus, EFS_TIMEOUT, rb);
	/* recall/: only the dots. */
	return efs_fill_dir(req, fs, ino, FUSE_ROOT_ID, NULL, 0, size, off,
			    plus, EFS_TIMEOUT, rb);
}

int efs_root_mkdir(struct efs *fs, fuse_ino_t parent, const char *name)
{
	return -EPERM;	/* snapshots/ is snapshots.c's */
}

/* ------------------------------------------------------------------ */
/* Opening the root files                                             */
/* ------------------------------------------------------------------ */

static int efs_root_render(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
			   char **out, size_t *len)
{
	struct efs_caller ec;
	char *extra;
	int r;

	if (ino == EFS_INO_METRICS)
		return store_metrics_render(fs->st, out, len);
	if (asprintf(&extra, "mount: %s\npid: %ld\nrecall_nodes: %zu\n"
		     "concept_nodes: %zu\n", fs->mountpoint, (long)getpid(),
		     efs_rnode_count(), efs_concepts_node_count()) < 0)
		return -ENOMEM;
	efs_caller_init(&ec, req);
	r = store_status_render(fs->st, &ec.c, extra, out, len);
	efs_caller_release(&ec);
	free(extra);
	return r;
}

int efs_root_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		  struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	enum efs_class cls = efs_ino_class(ino);
	struct efs_fh *fh;
	int r = 0;

	switch (cls) {
	case EFS_C_STATUS:
	case EFS_C_METRICS:
		if (acc != O_RDONLY)
			return -EACCES;
		break;
	case EFS_C_CTL:
		if (acc != O_WRONLY || !efs_is_owner(fs, req))
			return -EACCES;
		break;
	case EFS_C_QUERY:
		break;
	default:
		return -EISDIR;
	}
	fh = efs_fh_new(cls, ino, fi->flags);
	if (!fh)
		return -ENOMEM;
	if (cls == EFS_C_STATUS || cls == EFS_C_METRICS)
		r = efs_root_render(fs, req, ino, &fh->buf, &fh->len);
	if (r < 0) {
		efs_fh_free(fs, fh);
		return r;
	}
	fi->fh = (uintptr_t)fh;
	fi->direct_io = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* query                                                              */
/* ------------------------------------------------------------------ */

/* Run the pending cue (fh->lock held). */
static void efs_query_run(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
			  off_t off)
{
	struct store_query q;
	char why[256] = "";
	int r;

	fh->answered = true;
	fh->base = off;
	fh->qerr = 0;
	if (!fh->cuelen)
		return;
	r = store_query_parse_body(fh->cue, fh->cuelen, &q, why, sizeof(why));
	if (r < 0) {
		efs_log(LOG_NOTICE, "query: %s: %s", efs_errname(r),
			why[0] ? why : "cannot parse the cue");
		fh->qerr = r;
		return;
	}
	r = efs_recall_answer(fs, req, &q, &fh->buf, &fh->len);
	store_query_release(&q);
	if (r < 0) {
		efs_log(LOG_NOTICE, "query: recall failed: %s",
			efs_errname(r));
		fh->qerr = r;
	}
}

static int efs_query_read(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
			  size_t size, off_t off, struct efs_rbuf *rb)
{
	const char *p;
	size_t n;
	int r = 0;
	char *copy = NULL;

	pthread_mutex_lock(&fh->lock);
	if (!fh->answered)
		efs_query_run(fs, req, fh, off);
	if (fh->qerr) {
		r = fh->qerr;
		goto out;
	}
	if (off < fh->base) {
		n = 0;	/* before the answer: nothing there */
		goto out;
	}
	efs_fh_slice(fh->buf, fh->len, size, off - fh->base, &p, &n);
	/* Copied: a write on another thread may replace the answer. */
	if (n && !(copy = malloc(n)))
		r = -ENOMEM;
	else if (n)
		memcpy(copy, p, n);
	rb->data = rb->alloc = copy;
	rb->len = n;
out:
	pthread_mutex_unlock(&fh->lock);
	return r;
}

static int efs_query_write(struct efs_fh *fh, const char *buf, size_t size)
{
	char *p;
	int r = 0;

	pthread_mutex_lock(&fh->lock);
	if (fh->answered) {
		free(fh->buf);
		fh->buf = NULL;
		fh->len = 0;
		fh->cuelen = 0;
		fh->answered = false;
		fh->qerr = 0;
	}
	if (size > STORE_QUERY_MAX || fh->cuelen + size > STORE_QUERY_MAX) {
		r = -EFBIG;
		goto out;
	}
	p = realloc(fh->cue, fh->cuelen + size + 1);
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	fh->cue = p;
	memcpy(fh->cue + fh->cuelen, buf, size);
	fh->cuelen += size;
	fh->cue[fh->cuelen] = '\0';
out:
	pthread_mutex_unlock(&fh->lock);
	return r;
}

/* ------------------------------------------------------------------ */
/* ctl                                                                */
/* ------------------------------------------------------------------ */

/* One consolidation run, synchronous: the ctl write waits for it. */
static int efs_ctl_consolidate(struct efs *fs)
{
	struct store_consolidation rep;
	int r;

	if (store_flag_get(fs->st, FLAG_DUAL_MEMORY_TYPES) == 0) {
		efs_log(LOG_NOTICE, "ctl: consolidate: dual_memory_types is "
			"off, nothing to do");
		return 0;
	}
	r = store_consolidate(fs->st, &rep);
	if (r < 0) {
		efs_log(LOG_ERR, "ctl: consolidate failed: %s", efs_errname(r));
		return r;
	}
	/* The run's invalidations (concepts.c) reach the kernel before the
	 * write returns; bounded, see handle.c. */
	if (efs_notify_wait(fs, EFS_TIMEOUT) < 0)
		efs_log(LOG_NOTICE, "ctl: consolidate: invalidations still "
			"queued after %.0f s", EFS_TIMEOUT);
	efs_log(LOG_INFO, "ctl: consolidate: %llu episodes seen, %llu "
		"concepts formed, %llu updated, %llu dissolved, %llu bindings "
		"created in %.3f s",
		(unsigned long long)rep.episodes_seen,
		(unsigned long long)rep.concepts_formed,
		(unsigned long long)rep.concepts_updated,
		(unsigned long long)rep.concepts_dissolved,
		(unsigned long long)rep.bindings_created, rep.seconds);
	return 0;
}

static int efs_ctl_compact(struct efs *fs)
{
	int r = store_compact(fs->st);

	if (r < 0)
		efs_log(LOG_ERR, "ctl: compact failed: %s", efs_errname(r));
	else
		efs_log(LOG_INFO, "ctl: compact: done");
	return r;
}

static int efs_ctl_backup(struct efs *fs, const char *arg, size_t len)
{
	char *dir = strndup(arg, len);
	int r;

	if (!dir)
		return -ENOMEM;
	if (dir[0] != '/' || strlen(dir) != len) {
		efs_log(LOG_NOTICE, "ctl: backup '%s': the directory must be an "
			"absolute path", dir);
		free(dir);
		return -EINVAL;
	}
	r = store_backup(fs->st, dir);
	if (r < 0)
		efs_log(LOG_ERR, "ctl: backup '%s' failed: %s", dir,
			efs_errname(r));
	else
		efs_log(LOG_INFO, "ctl: backup into '%s': done", dir);
	free(dir);
	return r;
}

static int efs_ctl_run(struct efs *fs, const char *cmd, size_t len)
{
	const char *arg;
	size_t verb;

	while (len && isspace((unsigned char)cmd[len - 1]))
		len--;
	while (len && isspace((unsigned char)*cmd)) {
		cmd++;
		len--;
	}
	for (verb = 0; verb < len && !isspace((unsigned char)cmd[verb]);
	     verb++)
		;
	arg = cmd + verb;
	while (arg < cmd + len && isspace((unsigned char)*arg))
		arg++;
#define EFS_IS(word) (verb == strlen(word) && !memcmp(cmd, word, verb))
	if (EFS_IS("reload") && arg == cmd + len) {
		if (!fs->config) {
			efs_log(LOG_NOTICE, "ctl: reload: no config file "
				"(-o config=FILE), nothing to do");
			return 0;
		}
		return efs_config_reload(fs, "ctl");
	}
	if (EFS_IS("compact") && arg == cmd + len)
		return efs_ctl_compact(fs);
	if (EFS_IS("consolidate") && arg == cmd + len)
		return efs_ctl_consolidate(fs);
	if (EFS_IS("backup") && arg < cmd + len)
		return efs_ctl_backup(fs, arg, (size_t)(cmd + len - arg));
#undef EFS_IS
	efs_log(LOG_NOTICE, "ctl: unknown command '%.*s'", (int)len, cmd);
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Reads and writes                                                   */
/* ------------------------------------------------------------------ */

int efs_root_read(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
		  size_t size, off_t off, struct efs_rbuf *rb)
{
	if (fh->cls == EFS_C_QUERY)
		return efs_query_read(fs, req, fh, size, off, rb);
	return efs_fh_read(fh, size, off, rb);
}

int efs_root_write(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
		   const char *buf, size_t size, off_t off)
{
	switch (fh->cls) {
	case EFS_C_QUERY:
		return efs_query_write(fh, buf, size);
	case EFS_C_CTL:
		return efs_ctl_run(fs, buf, size);
	default:
		return -EBADF;
	}
}
