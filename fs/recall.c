/*
 * recall.c - recall/: any name is a query, reading it runs recall.
 *
 * Life cycle of a query file:
 *   lookup   the name is parsed (store_query_parse_name) to reject a bad
 *            option list at once: the lookup fails with EINVAL, so
 *            `cat "recall/x?limit=zz"` prints "Invalid argument" and the
 *            reason goes to the log at NOTICE.  A good name gets a
 *            recall node (inode.c) with entry and attribute timeouts of 0:
 *            the kernel asks again at every path walk, and the node is
 *            freed when the kernel forgets it.  A zero entry timeout does
 *            not make the kernel drop the dentry, though (only virtiofs
 *            asks for that): it keeps every name it ever looked up until
 *            memory runs short, and with it our node.  So after replying,
 *            ops.c queues an entry invalidation for the name on the
 *            notifier thread (handle.c); the kernel unhashes the dentry,
 *            evicts the inode once unused and sends FORGET, and the node
 *            table stays as small as the set of names in use.  The kernel
 *            takes the directory lock for the invalidation, so it cannot
 *            overtake the lookup that is still instantiating the dentry.
 *   open     read-only (EACCES for any write access, root included: the
 *            mode 0444 says so, but root bypasses mode bits).  The name is
 *            parsed again, recall runs with the caller's uid, gid and
 *            supplementary groups, the answer is rendered with the mount
 *            point (format=paths) and kept in the file handle; the open
 *            uses direct I/O, so every open computes afresh and readers
 *            read to EOF whatever st_size says (0).  A recall failure is
 *            the open's errno.
 *   read     slices of the rendered answer, by offset.
 *
 * The listing of recall/ is empty: there is nothing to list, every name
 * resolves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "efs.h"

#define EFS_RECALL_MODE (S_IFREG | 0444)

int efs_recall_lookup(struct efs *fs, const char *name,
		      struct fuse_entry_param *e)
{
	struct store_query q;
	char why[256] = "";
	fuse_ino_t ino;
	int r;

	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	r = store_query_parse_name(name, strlen(name), &q, why, sizeof(why));
	if (r < 0) {
		efs_log(LOG_NOTICE, "recall '%s': %s", name,
			why[0] ? why : efs_errname(r));
		return r;
	}
	store_query_release(&q);
	r = efs_rnode_lookup(name, &ino);
	if (r < 0)
		return r;
	efs_synth_entry(fs, ino, EFS_RECALL_MODE, 1, EFS_TIMEOUT_RECALL, e);
	return 0;
}

int efs_recall_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st)
{
	char *name;
	int r = efs_rnode_name(ino, &name);

	if (r < 0)
		return r;
	free(name);
	efs_synth_stat(fs, ino, EFS_RECALL_MODE, 1, st);
	return 0;
}

int efs_recall_answer(struct efs *fs, fuse_req_t req,
		      const struct store_query *q, char **out, size_t *len)
{
	struct efs_caller ec;
	struct store_results res;
	int r;

	efs_caller_init(&ec, req);
	r = store_recall(fs->st, q, &ec.c, &res);
	efs_caller_release(&ec);
	if (r < 0)
		return r;
	r = store_results_format(&res, q, fs->mountpoint, out, len);
	store_results_release(&res);
	return r;
}

int efs_recall_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi)
{
	struct store_query q;
	struct efs_fh *fh;
	char why[256] = "";
	char *name, *out = NULL;
	size_t len = 0;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	r = efs_rnode_name(ino, &name);
	if (r < 0)
		return r;
	r = store_query_parse_name(name, strlen(name), &q, why, sizeof(why));
	if (r < 0) {
		efs_log(LOG_NOTICE, "recall '%s': %s", name,
			why[0] ? why : efs_errname(r));
		goto out_name;
	}
	r = efs_recall_answer(fs, req, &q, &out, &len);
	store_query_release(&q);
	if (r < 0) {
		efs_log(LOG_NOTICE, "recall '%s': %s", name, efs_errname(r));
		goto out_name;
	}
	fh = efs_fh_new(EFS_C_RECALL, ino, fi->flags);
	if (!fh) {
		free(out);
		r = -ENOMEM;
		goto out_name;
	}
	fh->buf = out;
	fh->len = len;
	fi->fh = (uintptr_t)fh;
	fi->direct_io = 1;
out_name:
	free(name);
	return r;
}
