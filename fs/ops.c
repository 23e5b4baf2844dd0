/*
 * ops.c - the fuse_lowlevel_ops table: dispatch on inode class, timing
 * for metrics, and the one place that replies.
 *
 * Every handler here has the same shape: take the time, dispatch to the
 * module that owns the node's class (inode.c: efs_ino_class), get back 0
 * or a negative errno and out-parameters, reply exactly once, report the
 * duration and outcome to store_metrics_fs_op.  Module functions never
 * reply.  For the synthetic nodes, operations that make no sense there get
 * the errno a user would expect from a read-only pseudo file system:
 * EPERM for making or removing names, EACCES for writing a read-only
 * file, ENOTSUP for setting xattrs.  recall/ is the one exception to
 * the first: every name there exists, so creating one is EACCES.
 *
 * Never returned here, because the kernel then stops sending the
 * operation for the whole mount: ENOSYS from create, flush, fsync,
 * rename, getxattr/setxattr/listxattr/removexattr.
 *
 * Reply buffers are always private to the request (copied where the data
 * lives in a handle): the kernel may complete the read, the reader close
 * and another thread free the handle while fuse_reply_buf is still
 * returning, and AddressSanitizer checks writev's memory after the call.
 *
 * Metrics: an op "fails" when it returns an error, except the expected
 * negative answers (ENOENT from lookup, ENODATA from getxattr), which
 * shells and editors produce by the thousand.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "efs.h"

static struct efs *efs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static double efs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void efs_done(struct efs *fs, enum store_fs_op op, double t0, int r,
		     int expected)
{
	store_metrics_fs_op(fs->st, op, efs_now() - t0,
			    r < 0 && r != expected);
}

bool efs_is_owner(const struct efs *fs, fuse_req_t req)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	return uid == 0 || uid == fs->owner_uid;
}

static int efs_name_ok(const char *name)
{
	return strlen(name) > STORE_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* ------------------------------------------------------------------ */
/* Session                                                            */
/* ------------------------------------------------------------------ */

static void efs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* The kernel passes the caller's umask; we apply it (episodes.c). */
	if (conn->capable & FUSE_CAP_DONT_MASK)
		conn->want |= FUSE_CAP_DONT_MASK;
	/* O_TRUNC arrives with open, so `>` empties the shared buffer
	 * instead of committing an empty episode first. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Commits happen at close; see handle.c for why not writeback. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void efs_op_destroy(void *userdata)
{
	efs_estate_commit_all(userdata);
	efs_fh_free_all(userdata);
	efs_snap_clear();
}

/* ------------------------------------------------------------------ */
/* Names and attributes                                               */
/* ------------------------------------------------------------------ */

int efs_node_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st)
{
	switch (efs_ino_class(ino)) {
	case EFS_C_STORE:
		return efs_ep_getattr(fs, ino, st);
	case EFS_C_RECALL:
		return efs_recall_getattr(fs, ino, st);
	case EFS_C_CONCEPT:
		return efs_concepts_getattr(fs, ino, st);
	case EFS_C_SNAPSHOT:
		return efs_snap_getattr(fs, ino, st);
	case EFS_C_FLAG:
	case EFS_C_HISTORY:
		return efs_flags_getattr(fs, ino, st);
	case EFS_C_NONE:
		return -ENOENT;
	default:
		return efs_root_getattr(fs, ino, st);
	}
}

static void efs_op_lookup(fuse_req_t req, fuse_ino_t parent,
			  const char *name)
{
	struct efs *fs = efs_of(req);
	struct fuse_entry_param e;
	double t0 = efs_now();
	int r = efs_name_ok(name);

	if (!r) {
		switch (efs_ino_class(parent)) {
		case EFS_C_ROOT:
			r = efs_root_lookup(fs, name, &e);
			break;
		case EFS_C_STORE:
			r = efs_ep_lookup(fs, parent, name, &e);
			break;
		case EFS_C_RECALL_DIR:
			r = efs_recall_lookup(fs, name, &e);
			break;
		case EFS_C_FLAGS_DIR:
			r = efs_flags_lookup(fs, name, &e);
			break;
		case EFS_C_CONCEPTS_DIR:
			r = efs_concepts_lookup(fs, req, name, &e);
			break;
		case EFS_C_SNAPSHOTS_DIR:
			r = efs_snap_lookup(fs, name, &e);
			break;
		case EFS_C_SNAPSHOT:	/* browsed by mounting it */
		case EFS_C_NONE:
			r = -ENOENT;
			break;
		default:
			r = -ENOTDIR;
			break;
		}
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
		/* After the reply: recall.c says why. */
		if (efs_ino_class(parent) == EFS_C_RECALL_DIR)
			efs_notify_inval_entry(fs, parent, name);
	}
	efs_done(fs, STORE_OP_LOOKUP, t0, r, -ENOENT);
}

/* Store inodes and fixed synthetic nodes keep no per-lookup state. */
static void efs_forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	switch (efs_ino_class(ino)) {
	case EFS_C_RECALL:
		efs_rnode_forget(ino, nlookup);
		break;
	case EFS_C_CONCEPT:
		efs_concepts_forget(ino, nlookup);
		break;
	default:
		break;
	}
}

static void efs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	efs_forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void efs_op_forget_multi(fuse_req_t req, size_t count,
				struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		efs_forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static double efs_attr_timeout(fuse_ino_t ino)
{
	switch (efs_ino_class(ino)) {
	case EFS_C_RECALL:
		return EFS_TIMEOUT_RECALL;
	case EFS_C_STORE:
		return EFS_TIMEOUT_STORE;
	default:
		return EFS_TIMEOUT;
	}
}

static void efs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct stat st;
	double t0 = efs_now();
	int r = efs_node_getattr(fs, ino, &st);

	if (r == -ENOENT && fi)
		r = efs_ep_fgetattr(fs, efs_fh_of(fi), &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, efs_attr_timeout(ino));
	efs_done(fs, STORE_OP_GETATTR, t0, r, 0);
}

static void efs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			   int to_set, struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct efs_fh *fh = fi ? efs_fh_of(fi) : NULL;
	struct stat st;
	double t0 = efs_now();
	int r;

	if (efs_ino_class(ino) == EFS_C_STORE) {
		if (fh && fh->cls != EFS_C_STORE)
			fh = NULL;
		r = efs_ep_setattr(fs, req, ino, attr, to_set, fh, &st);
	} else if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			     FUSE_SET_ATTR_GID)) {
		r = -EPERM;
	} else if ((to_set & FUSE_SET_ATTR_SIZE) &&
		   efs_ino_class(ino) == EFS_C_CONCEPT) {
		r = -EACCES;	/* read-only, root included (concepts.c) */
	} else {
		/* Size (the O_TRUNC of `echo 1 > flags/x`) and times of a
		 * synthetic file: accepted, nothing to keep. */
		r = efs_node_getattr(fs, ino, &st);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, efs_attr_timeout(ino));
	efs_done(fs, STORE_OP_SETATTR, t0, r, 0);
}

static void efs_reply_new_entry(fuse_req_t req, int r,
				const struct fuse_entry_param *e)
{
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, e);
}

static void efs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, dev_t rdev)
{
	struct efs *fs = efs_of(req);
	struct fuse_entry_param e;
	double t0 = efs_now();
	int r = efs_name_ok(name);

	if (!r)
		r = efs_ino_class(parent) == EFS_C_STORE
			    ? efs_ep_mknod(fs, req, parent, name, mode, &e)
			    : -EPERM;
	efs_reply_new_entry(req, r, &e);
	efs_done(fs, STORE_OP_CREATE, t0, r, 0);
}

static void efs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode)
{
	struct efs *fs = efs_of(req);
	struct fuse_entry_param e;
	double t0 = efs_now();
	int r = efs_name_ok(name);

	if (!r && efs_ino_class(parent) == EFS_C_STORE)
		r = efs_ep_mkdir(fs, req, parent, name, mode, &e);
	else if (!r && efs_ino_class(parent) == EFS_C_SNAPSHOTS_DIR)
		r = efs_snap_mkdir(fs, req, name, &e);
	else if (!r)
		r = efs_root_mkdir(fs, parent, name);
	efs_reply_new_entry(req, r, &e);
	efs_done(fs, STORE_OP_MKDIR, t0, r, 0);
}

static void efs_op_unlink(fuse_req_t req, fuse_ino_t parent,
			  const char *name)
{
	struct efs *fs = efs_of(req);
	double t0 = efs_now();
	int r = efs_ino_class(parent) == EFS_C_STORE
			? efs_ep_unlink(fs, parent, name)
			: -EPERM;

	fuse_reply_err(req, -r);
	efs_done(fs, STORE_OP_UNLINK, t0, r, 0);
}

static void efs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct efs *fs = efs_of(req);
	double t0 = efs_now();
	int r = efs_ino_class(parent) == EFS_C_STORE
			? efs_ep_rmdir(fs, parent, name)
		: efs_ino_class(parent) == EFS_C_SNAPSHOTS_DIR
			? efs_snap_rmdir(fs, req, name)
			: -EPERM;

	fuse_reply_err(req, -r);
	efs_done(fs, STORE_OP_RMDIR, t0, r, 0);
}

static void efs_op_symlink(fuse_req_t req, const char *link,
			   fuse_ino_t parent, const char *name)
{
	/* episodes.c: one name per episode, no symlinks. */
	fuse_reply_err(req, EPERM);
}

static void efs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			const char *newname)
{
	fuse_reply_err(req, EPERM);
}

static void efs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	struct efs *fs = efs_of(req);
	double t0 = efs_now();
	int r = efs_name_ok(newname);

	if (!r) {
		if (efs_ino_class(parent) == EFS_C_STORE &&
		    efs_ino_class(newparent) == EFS_C_STORE)
			r = efs_ep_rename(fs, parent, name, newparent, newname,
					  flags);
		else
			r = -EPERM;
	}
	fuse_reply_err(req, -r);
	efs_done(fs, STORE_OP_RENAME, t0, r, 0);
}

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

static void efs_op_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	double t0 = efs_now();
	int r;

	switch (efs_ino_class(ino)) {
	case EFS_C_STORE:
		r = efs_ep_open(fs, req, ino, fi);
		break;
	case EFS_C_RECALL:
		r = efs_recall_open(fs, req, ino, fi);
		break;
	case EFS_C_CONCEPT:
		r = efs_concepts_open(fs, req, ino, fi);
		break;
	case EFS_C_FLAG:
	case EFS_C_HISTORY:
		r = efs_flags_open(fs, req, ino, fi);
		break;
	case EFS_C_QUERY:
	case EFS_C_METRICS:
	case EFS_C_STATUS:
	case EFS_C_CTL:
		r = efs_root_open(fs, req, ino, fi);
		break;
	case EFS_C_NONE:
		r = -ENOENT;
		break;
	default:
		r = -EISDIR;
		break;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		/* Interrupted: no release will come for this handle. */
		efs_fh_free(fs, efs_fh_of(fi));
	efs_done(fs, STORE_OP_OPEN, t0, r, 0);
}

static void efs_op_create(fuse_req_t req, fuse_ino_t parent,
			  const char *name, mode_t mode,
			  struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct fuse_entry_param e;
	double t0 = efs_now();
	int r = efs_name_ok(name);

	if (!r) {
		switch (efs_ino_class(parent)) {
		case EFS_C_STORE:
			r = efs_ep_create(fs, req, parent, name, mode, fi, &e);
			break;
		case EFS_C_RECALL_DIR:
			r = -EACCES;	/* every name exists, read-only */
			break;
		case EFS_C_CONCEPTS_DIR:
			r = -EPERM;	/* concepts.c */
			efs_log(LOG_NOTICE, "create '%s' refused (EPERM): "
				"concepts/ is made by consolidation", name);
			break;
		default:
			r = -EPERM;	/* fixed names: flags.c, root.c */
			efs_log(LOG_NOTICE, "create '%s' refused (EPERM): "
				"%s has a fixed set of names", name,
				parent == EFS_INO_FLAGS ? "flags/" : "this folder");
			break;
		}
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (fuse_reply_create(req, &e, fi) == -ENOENT)
		efs_fh_free(fs, efs_fh_of(fi));
	efs_done(fs, STORE_OP_CREATE, t0, r, 0);
}

static void efs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct efs_fh *fh = efs_fh_of(fi);
	struct efs_rbuf rb = { NULL, 0, NULL };
	double t0 = efs_now();
	int r = 0;

	switch (fh->cls) {
	case EFS_C_STORE:
		r = efs_ep_read(fs, fh, size, off, &rb);
		break;
	case EFS_C_QUERY:
		r = efs_root_read(fs, req, fh, size, off, &rb);
		break;
	case EFS_C_CTL:
		r = -EBADF;
		break;
	default:	/* rendered at open */
		r = efs_fh_read(fh, size, off, &rb);
		break;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, rb.data, rb.len);
	free(rb.alloc);
	efs_done(fs, STORE_OP_READ, t0, r, 0);
}

static void efs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			 size_t size, off_t off, struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct efs_fh *fh = efs_fh_of(fi);
	double t0 = efs_now();
	int r;

	switch (fh->cls) {
	case EFS_C_STORE:
		r = efs_ep_write(fs, fh, buf, size, off);
		break;
	case EFS_C_FLAG:
		r = efs_flags_write(fs, req, fh, buf, size);
		break;
	case EFS_C_QUERY:
	case EFS_C_CTL:
		r = efs_root_write(fs, req, fh, buf, size, off);
		break;
	default:
		r = -EBADF;
		break;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, size);
	efs_done(fs, STORE_OP_WRITE, t0, r, 0);
}

static void efs_op_flush(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct efs_fh *fh = efs_fh_of(fi);
	double t0 = efs_now();
	int r = fh->cls == EFS_C_STORE ? efs_ep_flush(fs, fh) : 0;

	fuse_reply_err(req, -r);
	efs_done(fs, STORE_OP_FLUSH, t0, r, 0);
}

static void efs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct efs_fh *fh = efs_fh_of(fi);
	double t0 = efs_now();
	/* Flag changes are durable when their write returns. */
	int r = fh->cls == EFS_C_STORE ? efs_ep_fsync(fs, fh) : 0;

	fuse_reply_err(req, -r);
	efs_done(fs, STORE_OP_FSYNC, t0, r, 0);
}

static void efs_op_release(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	struct efs_fh *fh = efs_fh_of(fi);

	if (fh->cls == EFS_C_STORE)
		efs_ep_release(fs, fh);
	efs_fh_free(fs, fh);
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------------ */
/* Directories                                                        */
/* ------------------------------------------------------------------ */

static void efs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	enum efs_class cls = efs_ino_class(ino);
	int r = 0;

	fi->fh = 0;
	if (cls == EFS_C_STORE || cls == EFS_C_CONCEPTS_DIR)
		r = efs_dirh_open(fi);
	if (cls == EFS_C_STORE) {
		/* The kernel may keep a folder's listing: it changes only
		 * through its own requests, which bump the folder's version
		 * and times and so reset the cached listing. */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		efs_dirh_release(fi);
}

static void efs_readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size,
			    off_t off, struct fuse_file_info *fi, bool plus)
{
	struct efs *fs = efs_of(req);
	struct efs_rbuf rb = { NULL, 0, NULL };
	double t0 = efs_now();
	int r;

	switch (efs_ino_class(ino)) {
	case EFS_C_STORE:
		r = efs_ep_readdir(fs, req, ino, size, off, fi, plus, &rb);
		break;
	case EFS_C_CONCEPTS_DIR:
		r = efs_concepts_readdir(fs, req, size, off, fi, plus, &rb);
		break;
	case EFS_C_ROOT:
	case EFS_C_RECALL_DIR:
		r = efs_root_readdir(fs, req, ino, size, off, plus, &rb);
		break;
	case EFS_C_SNAPSHOTS_DIR:
	case EFS_C_SNAPSHOT:
		r = efs_snap_readdir(fs, req, ino, size, off, plus, &rb);
		break;
	case EFS_C_FLAGS_DIR:
		r = efs_flags_readdir(fs, req, size, off, plus, &rb);
		break;
	default:
		r = -ENOTDIR;
		break;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, rb.data, rb.len);
	free(rb.alloc);
	efs_done(fs, STORE_OP_READDIR, t0, r, 0);
}

static void efs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	efs_readdir_any(req, ino, size, off, fi, false);
}

static void efs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			       off_t off, struct fuse_file_info *fi)
{
	efs_readdir_any(req, ino, size, off, fi, true);
}

static void efs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			      struct fuse_file_info *fi)
{
	efs_dirh_release(fi);	/* fh is 0 where opendir made none */
	fuse_reply_err(req, 0);
}

static void efs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			    struct fuse_file_info *fi)
{
	struct efs *fs = efs_of(req);
	int r = efs_ino_class(ino) == EFS_C_STORE ? store_sync(fs->st) : 0;

	fuse_reply_err(req, -r);
}

static void efs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct efs *fs = efs_of(req);
	struct store_counts c;
	struct statvfs sv;

	if (statvfs(fs->datadir, &sv) < 0)
		memset(&sv, 0, sizeof(sv));
	store_counts(fs->st, &c);
	/* Inodes are a 48-bit counter: report plenty free. */
	sv.f_ffree = sv.f_favail = (fsfilcnt_t)1 << 32;
	sv.f_files = sv.f_ffree + c.episodes + c.folders;
	sv.f_namemax = STORE_NAME_MAX;
	sv.f_fsid = 0;
	sv.f_flag = 0;
	if (!sv.f_bsize)
		sv.f_bsize = sv.f_frsize = 4096;
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                */
/* ------------------------------------------------------------------ */

/* Reply VAL/LEN by the size-probe protocol of getxattr and listxattr. */
static void efs_reply_xattr(fuse_req_t req, size_t size, const char *val,
			    size_t len)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void efs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	struct efs *fs = efs_of(req);
	char *val = NULL;
	size_t len = 0;
	double t0 = efs_now();
	int r = efs_ino_class(ino) == EFS_C_STORE
			? efs_ep_getxattr(fs, ino, name, &val, &len)
			: -ENODATA;

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		efs_reply_xattr(req, size, val, len);
	free(val);
	efs_done(fs, STORE_OP_XATTR, t0, r, -ENODATA);
}

static void efs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct efs *fs = efs_of(req);
	char *val = NULL;
	size_t len = 0;
	double t0 = efs_now();
	int r = efs_ino_class(ino) == EFS_C_STORE
			? efs_ep_listxattr(fs, ino, &val, &len)
			: 0;

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		efs_reply_xattr(req, size, val, len);
	free(val);
	efs_done(fs, STORE_OP_XATTR, t0, r, 0);
}

static void efs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	struct efs *fs = efs_of(req);
	double t0 = efs_now();
	int r = efs_ino_class(ino) == EFS_C_STORE
			? efs_ep_setxattr(fs, ino, name, value, size, flags)
			: -ENOTSUP;

	fuse_reply_err(req, -r);
	efs_done(fs, STORE_OP_XATTR, t0, r, 0);
}

static void efs_op_removexattr(fuse_req_t req, fuse_ino_t ino,
			       const char *name)
{
	struct efs *fs = efs_of(req);
	double t0 = efs_now();
	int r = efs_ino_class(ino) == EFS_C_STORE
			? efs_ep_removexattr(fs, ino, name)
			: -ENODATA;

	fuse_reply_err(req, -r);
	efs_done(fs, STORE_OP_XATTR, t0, r, -ENODATA);
}

const struct fuse_lowlevel_ops efs_ops = {
	.init		= efs_op_init,
	.destroy	= efs_op_destroy,
	.lookup		= efs_op_lookup,
	.forget		= efs_op_forget,
	.forget_multi	= efs_op_forget_multi,
	.getattr	= efs_op_getattr,
	.setattr	= efs_op_setattr,
	.mknod		= efs_op_mknod,
	.mkdir		= efs_op_mkdir,
	.unlink		= efs_op_unlink,
	.rmdir		= efs_op_rmdir,
	.symlink	= efs_op_symlink,
	.link		= efs_op_link,
	.rename		= efs_op_rename,
	.open		= efs_op_open,
	.create		= efs_op_create,
	.read		= efs_op_read,
	.write		= efs_op_write,
	.flush		= efs_op_flush,
	.fsync		= efs_op_fsync,
	.release	= efs_op_release,
	.opendir	= efs_op_opendir,
	.readdir	= efs_op_readdir,
	.readdirplus	= efs_op_readdirplus,
	.releasedir	= efs_op_releasedir,
	.fsyncdir	= efs_op_fsyncdir,
	.statfs		= efs_op_statfs,
	.getxattr	= efs_op_getxattr,
	.listxattr	= efs_op_listxattr,
	.setxattr	= efs_op_setxattr,
	.removexattr	= efs_op_removexattr,
};
