/*
 * snapshots.c - snapshots/: `mkdir snapshots/NAME` takes a hot,
 * consistent snapshot of the store (store_checkpoint), `ls` lists them,
 * `rmdir snapshots/NAME` deletes one.
 *
 * Where they live: DATADIR/snapshots/NAME, inside the data dir.  RocksDB
 * ignores a folder it did not make in its directory (it lists, opens and
 * deletes only files it named itself; test_backup reopens, compacts and
 * verifies a store with one there).  Inside, a snapshot is on the data
 * dir's file system, so its table files are hard links: taking one costs
 * milliseconds and no space until compaction rewrites the tables.  It is
 * under the data dir's permissions and quota, and within the systemd
 * unit's StateDirectory, the one place the hardened unit may write.  The
 * catch: snapshots go where the data dir goes.  They are for rollback;
 * for disaster, `echo "backup DIR" > ctl` writes to another disk.
 * Rejected: a sibling DATADIR.snapshots (outside the unit's writable
 * paths, and on another file system when the data dir is a mount point
 * of its own, which makes every snapshot a full copy).
 *
 * A snapshot is a data dir of its own: `engramfs DATADIR/snapshots/NAME
 * MNT2` mounts it (read-write: it is a copy), `engramctl restore` copies
 * it into a new data dir.
 *
 * The nodes.  snapshots/NAME is a folder, mode 0555, owned by the mount
 * owner, its times those of the checkpoint folder (when it was taken).
 * Its listing is empty: a snapshot is browsed by mounting it (a tree
 * inside this mount would need a store open per snapshot looked at).
 * Numbers come from a table name -> number under one mutex, from a
 * counter at EFS_INO_SNAP_BASE, never reused within a mount: a number the
 * kernel still holds after rmdir cannot name another snapshot, and gets
 * ENOENT.  The table holds the snapshots seen (a handful; an entry goes
 * with rmdir or when its folder is found gone).
 *
 * Names follow the episode rules (not empty, "." or "..", no '/', 255
 * bytes) and may not end in ".tmp": RocksDB builds NAME in NAME.tmp,
 * and the listing skips those (a snapshot being taken, or a deletion cut
 * short).  A listed snapshot is a folder with a CURRENT file.
 *
 * mkdir and rmdir are for the owner or root (EACCES), like ctl.  mkdir
 * runs the checkpoint in the request thread (a flush and links:
 * milliseconds to seconds), never in the notifier thread.  rmdir first
 * renames NAME to NAME.rm.tmp, so the snapshot goes at once and whole,
 * then deletes the files; a failure halfway leaves an unlisted folder,
 * and the log says where.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "efs.h"

#define EFS_SNAP_MODE   (S_IFDIR | 0555)
#define EFS_SNAP_SUFFIX ".tmp"
#define EFS_SNAP_RM     ".rm.tmp"

struct efs_snap {
	char *name;
	fuse_ino_t ino;
};

static struct {
	pthread_mutex_t lock;
	struct efs_snap *v;
	size_t n, cap;
	uint64_t next;
} efs_snaps = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- names and paths ----------------------------------------------- */

static int efs_snap_name_ok(const char *name)
{
	size_t n = strlen(name), s = strlen(EFS_SNAP_SUFFIX);

	if (!n || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strchr(name, '/'))
		return -EINVAL;
	if (n > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (n >= s && !strcmp(name + n - s, EFS_SNAP_SUFFIX))
		return -EINVAL;
	return 0;
}

/* DATADIR/snapshots, or DATADIR/snapshots/NAME (malloc'd). */
static char *efs_snap_path(const struct efs *fs, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/snapshots%s%s", fs->datadir, name ? "/" : "",
		     name ? name : "") < 0)
		return NULL;
	return p;
}

/* Is NAME a snapshot?  Its folder's attributes into *sb. */
static int efs_snap_stat(const struct efs *fs, const char *name,
			 struct stat *sb)
{
	char *p = efs_snap_path(fs, name), *cur = NULL;
	int r = 0;

	if (!p || asprintf(&cur, "%s/CURRENT", p) < 0) {
		cur = NULL;
		r = -ENOMEM;
	} else if (stat(p, sb) < 0 || !S_ISDIR(sb->st_mode) ||
		 access(cur, F_OK) < 0)
		r = -ENOENT;
	free(cur);
	free(p);
	return r;
}

/* ---- the number table ------------------------------------------------ */

static struct efs_snap *efs_snap_find(const char *name, fuse_ino_t ino)
{
	for (size_t i = 0; i < efs_snaps.n; i++)
		if (name ? !strcmp(efs_snaps.v[i].name, name)
			 : efs_snaps.v[i].ino == ino)
			return &efs_snaps.v[i];
	return NULL;
}

/* The number of snapshot NAME, made on first sight. */
static int efs_snap_ino(const char *name, fuse_ino_t *ino)
{
	struct efs_snap *s;
	int r = 0;

	pthread_mutex_lock(&efs_snaps.lock);
	s = efs_snap_find(name, 0);
	if (!s && efs_snaps.n == efs_snaps.cap) {
		size_t cap = efs_snaps.cap ? efs_snaps.cap * 2 : 16;
		struct efs_snap *v = realloc(efs_snaps.v, cap * sizeof(*v));

		if (!v)
			r = -ENOMEM;
		else {
			efs_snaps.v = v;
			efs_snaps.cap = cap;
		}
	}
	if (!s && !r) {
		s = &efs_snaps.v[efs_snaps.n];
		s->name = strdup(name);
		s->ino = EFS_INO_SNAP_BASE + efs_snaps.next++;
		if (s->name)
			efs_snaps.n++;
		else
			r = -ENOMEM;
	}
	if (!r)
		*ino = s->ino;
	pthread_mutex_unlock(&efs_snaps.lock);
	return r;
}

/* Forget NAME (or, with NAME NULL, number INO). */
static void efs_snap_forget(const char *name, fuse_ino_t ino)
{
	struct efs_snap *s;

	pthread_mutex_lock(&efs_snaps.lock);
	s = efs_snap_find(name, ino);
	if (s) {
		free(s->name);
		*s = efs_snaps.v[--efs_snaps.n];
	}
	pthread_mutex_unlock(&efs_snaps.lock);
}

void efs_snap_clear(void)
{
	pthread_mutex_lock(&efs_snaps.lock);
	for (size_t i = 0; i < efs_snaps.n; i++)
		free(efs_snaps.v[i].name);
	free(efs_snaps.v);
	efs_snaps.v = NULL;
	efs_snaps.n = efs_snaps.cap = 0;
	pthread_mutex_unlock(&efs_snaps.lock);
}

/* ---- attributes and lookup ------------------------------------------ */

static void efs_snap_fill(const struct efs *fs, fuse_ino_t ino,
			  const struct stat *sb, struct stat *st)
{
	efs_synth_stat(fs, ino, EFS_SNAP_MODE, 2, st);
	st->st_atim = sb->st_atim;
	st->st_mtim = sb->st_mtim;
	st->st_ctim = sb->st_ctim;
}

/* Copy of the name of snapshot number INO: -ENOENT if unknown. */
static int efs_snap_name(fuse_ino_t ino, char **name)
{
	struct efs_snap *s;
	int r = 0;

	pthread_mutex_lock(&efs_snaps.lock);
	s = efs_snap_find(NULL, ino);
	if (!s)
		r = -ENOENT;
	else if (!(*name = strdup(s->name)))
		r = -ENOMEM;
	pthread_mutex_unlock(&efs_snaps.lock);
	return r;
}

int efs_snap_getattr(struct efs *fs, fuse_ino_t ino, struct stat *st)
{
	char *name = NULL;
	struct stat sb;
	int r = efs_snap_name(ino, &name);

	if (r)
		return r;
	r = efs_snap_stat(fs, name, &sb);
	if (r == -ENOENT)
		efs_snap_forget(NULL, ino);	/* removed behind our back */
	if (!r)
		efs_snap_fill(fs, ino, &sb, st);
	free(name);
	return r;
}

int efs_snap_lookup(struct efs *fs, const char *name,
		    struct fuse_entry_param *e)
{
	struct stat sb;
	fuse_ino_t ino;
	int r = efs_snap_name_ok(name);

	if (r)
		return r == -ENAMETOOLONG ? r : -ENOENT;
	r = efs_snap_stat(fs, name, &sb);
	if (!r)
		r = efs_snap_ino(name, &ino);
	if (r)
		return r;
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = e->entry_timeout = EFS_TIMEOUT;
	efs_snap_fill(fs, ino, &sb, &e->attr);
	return 0;
}

/* ---- listing --------------------------------------------------------- */

static int efs_snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct efs_dirent_s *)a)->name,
		      ((const struct efs_dirent_s *)b)->name);
}

/* Append NAME (copied) and its number to *V. */
static int efs_snap_push(struct efs_dirent_s **v, size_t *n, size_t *cap,
			 const char *name, fuse_ino_t ino)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct efs_dirent_s *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[*n] = (struct efs_dirent_s){ strdup(name), ino, EFS_SNAP_MODE };
	if (!(*v)[*n].name)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* The snapshots, sorted by name, with their numbers (names malloc'd). */
static int efs_snap_list(struct efs *fs, struct efs_dirent_s **out,
			 size_t *n)
{
	char *p = efs_snap_path(fs, NULL);
	DIR *d = p ? opendir(p) : NULL;
	struct efs_dirent_s *v = NULL;
	struct dirent *de;
	size_t cap = 0;
	int r = 0;

	*n = 0;
	while (d && !r && (de = readdir(d))) {
		struct stat sb;
		fuse_ino_t ino;

		if (efs_snap_name_ok(de->d_name) ||
		    efs_snap_stat(fs, de->d_name, &sb) ||
		    efs_snap_ino(de->d_name, &ino))
			continue;
		r = efs_snap_push(&v, n, &cap, de->d_name, ino);
	}
	if (d)
		closedir(d);
	free(p);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), efs_snap_cmp);
	*out = v;
	return r;
}

int efs_snap_readdir(struct efs *fs, fuse_req_t req, fuse_ino_t ino,
		     size_t size, off_t off, bool plus, struct efs_rbuf *rb)
{
	struct efs_dirent_s *v = NULL;
	size_t n = 0;
	int r = 0;

	/* A snapshot's own listing is empty: only the dots. */
	if (ino == EFS_INO_SNAPSHOTS)
		r = efs_snap_list(fs, &v, &n);
	if (!r)
		r = efs_fill_dir(req, fs, ino,
				 ino == EFS_INO_SNAPSHOTS ? FUSE_ROOT_ID
							  : EFS_INO_SNAPSHOTS,
				 v, n, size, off, plus, EFS_TIMEOUT, rb);
	for (size_t i = 0; i < n; i++)
		free((char *)v[i].name);
	free(v);
	return r;
}

/* ---- mkdir and rmdir ------------------------------------------------- */

int efs_snap_mkdir(struct efs *fs, fuse_req_t req, const char *name,
		   struct fuse_entry_param *e)
{
	char *dir = efs_snap_path(fs, NULL), *p = efs_snap_path(fs, name);
	int r = efs_snap_name_ok(name);

	if (!r && !efs_is_owner(fs, req))
		r = -EACCES;
	if (!r && (!dir || !p))
		r = -ENOMEM;
	if (!r && mkdir(dir, 0700) < 0 && errno != EEXIST)
		r = -errno;
	if (!r)
		r = store_checkpoint(fs->st, p);
	if (r)
		efs_log(r == -EEXIST ? LOG_INFO : LOG_NOTICE,
			"mkdir snapshots/%s: %s", name, efs_errname(r));
	else
		efs_log(LOG_INFO, "snapshot '%s' taken in '%s'", name, p);
	free(dir);
	free(p);
	return r ? r : efs_snap_lookup(fs, name, e);
}

static int efs_snap_rm_entry(const char *path, const struct stat *sb,
			     int type, struct FTW *ftw)
{
	if (remove(path) < 0)
		efs_log(LOG_WARNING, "rmdir snapshot: cannot remove '%s': %s",
			path, efs_errname(errno));
	return 0;	/* go on: remove what can be removed */
}

/* Move snapshot P out of sight as GONE; clears a GONE left before. */
static int efs_snap_hide(const char *p, const char *gone)
{
	if (rename(p, gone) == 0)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return -errno;
	nftw(gone, efs_snap_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rename(p, gone) < 0 ? -errno : 0;
}

int efs_snap_rmdir(struct efs *fs, fuse_req_t req, const char *name)
{
	char *p = NULL, *gone = NULL;
	struct stat sb;
	int r = efs_snap_name_ok(name);

	if (r)
		return r == -ENAMETOOLONG ? r : -ENOENT;
	if (!efs_is_owner(fs, req))
		return -EACCES;
	r = efs_snap_stat(fs, name, &sb);
	if (!r && (!(p = efs_snap_path(fs, name)) ||
		   asprintf(&gone, "%s%s", p, EFS_SNAP_RM) < 0)) {
		gone = NULL;
		r = -ENOMEM;
	}
	if (!r)
		r = efs_snap_hide(p, gone);
	if (!r) {
		efs_snap_forget(name, 0);
		nftw(gone, efs_snap_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		efs_log(LOG_INFO, "snapshot '%s' deleted", name);
	} else if (r != -ENOENT) {
		efs_log(LOG_NOTICE, "rmdir snapshots/%s: %s", name,
			efs_errname(r));
	}
	free(p);
	free(gone);
	return r;
}
