/*
 * flags.c - flags/: one file per runtime flag, and flags/.history.
 *
 * The files are the store's flag registry (store_flag_def), one per
 * enum store_flag_id, at inode EFS_INO_FLAG_BASE + id; flags/.history is
 * the change log.  Everything is rendered at open and read with direct
 * I/O, so `cat` always shows the current value.
 *
 * Writing follows sysfs: each write() is one whole value, whatever the
 * offset (so `echo 1 > f` and `printf 1 >> f` both set the flag);
 * store_flag_set validates, makes the change durable and records it in
 * the history before the write returns.  A bad value fails the write with
 * EINVAL and leaves the flag unchanged; the store logs the reason.  The
 * O_TRUNC of `>` (open flag or setattr size) is accepted and ignored.
 *
 * Who may write: the mount owner (the uid that started the daemon) and
 * root.  That is checked at open, in addition to the mode bits (0644,
 * owned by the mount owner), because root passes any mode check and
 * because the owner could otherwise grant writes with chmod - which is
 * refused anyway (EPERM for mode or owner changes of synthetic files).
 *
 * Names that are not flags: lookup ENOENT, and creating one fails with
 * EPERM ("Operation not permitted"): the set of flags is fixed by the
 * program, not by the caller's rights, so EACCES would suggest that
 * someone else could do it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "efs.h"

#define EFS_FLAG_MODE    (S_IFREG | 0644)
#define EFS_HISTORY_MODE (S_IFREG | 0444)

int efs_flags_lookup(struct efs *fs, const char *name,
		     struct fuse_entry_param *e)
{
	int id;

	if (!strcmp(name, ".history")) {
		efs_synth_entry(fs, EFS_INO_HISTORY, EFS_HISTORY_MODE, 1,
				EFS_TIMEOUT, e);
		return 0;
	}
	id = store_flag_find(name);
	if (id < 0)
		return -ENOENT;
	efs_synth_entry(fs, EFS_INO_FLAG_BASE + (fuse_ino_t)id,
			EFS_FLAG_MODE, 1, EFS_TIMEOUT, e);
	return 0;
}

int efs_flags_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st)
{
	if (ino == EFS_INO_HISTORY)
		efs_synth_stat(fs, ino, EFS_HISTORY_MODE, 1, st);
	else
		efs_synth_stat(fs, ino, EFS_FLAG_MODE, 1, st);
	return 0;
}

int efs_flags_readdir(struct efs *fs, fuse_req_t req, size_t size,
		      off_t off, bool plus, struct efs_rbuf *rb)
{
	struct efs_dirent_s v[FLAG__COUNT + 1];
	size_t i;

	v[0] = (struct efs_dirent_s){ ".history", EFS_INO_HISTORY,
				      EFS_HISTORY_MODE };
	for (i = 0; i < FLAG__COUNT; i++)
		v[i + 1] = (struct efs_dirent_s){
			store_flag_def((enum store_flag_id)i)->name,
			EFS_INO_FLAG_BASE + i, EFS_FLAG_MODE };
	return efs_fill_dir(req, fs, EFS_INO_FLAGS, FUSE_ROOT_ID, v,
			    FLAG__COUNT + 1, size, off, plus, EFS_TIMEOUT, rb);
}

static int efs_flags_render(struct efs *fs, fuse_ino_t ino, char **out,
			    size_t *len)
{
	enum store_flag_id id = (enum store_flag_id)(ino - EFS_INO_FLAG_BASE);
	char val[128];
	int n;

	if (ino == EFS_INO_HISTORY)
		return store_flag_history(fs->st, out, len);
	store_flag_format(id, store_flag_get(fs->st, id), val, sizeof(val));
	n = asprintf(out, "%s\n", val);
	if (n < 0)
		return -ENOMEM;
	*len = (size_t)n;
	return 0;
}

int efs_flags_open(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi)
{
	bool write = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct efs_fh *fh;
	int r;

	if (write && (ino == EFS_INO_HISTORY || !efs_is_owner(fs, req)))
		return -EACCES;
	fh = efs_fh_new(efs_ino_class(ino), ino, fi->flags);
	if (!fh)
		return -ENOMEM;
	r = efs_flags_render(fs, ino, &fh->buf, &fh->len);
	if (r < 0) {
		efs_fh_free(fs, fh);
		return r;
	}
	fi->fh = (uintptr_t)fh;
	fi->direct_io = 1;
	return 0;
}

int efs_flags_write(struct efs *fs, fuse_req_t req, struct efs_fh *fh,
		    const char *buf, size_t size)
{
	enum store_flag_id id = (enum store_flag_id)(fh->ino -
						     EFS_INO_FLAG_BASE);
	char why[256] = "";
	int r;

	if (fh->cls != EFS_C_FLAG)
		return -EACCES;
	r = store_flag_set(fs->st, id, buf, size, fuse_req_ctx(req)->uid,
			   "write", why, sizeof(why));
	if (r < 0)
		efs_log(LOG_DEBUG, "flag '%s': %s: %s",
			store_flag_def(id)->name, efs_errname(r), why);
	return r;
}
