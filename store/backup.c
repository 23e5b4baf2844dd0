/*
 * backup.c - copies of the store and its upkeep: checkpoints (the
 * daemon's snapshots/), incremental backups (ctl "backup DIR"), the
 * offline restore of either, compaction, and the sizes metrics report.
 *
 * Checkpoint.  rocksdb_checkpoint_create with log_size_for_flush 0: the
 * memtables are flushed first, so the copy is table files (hard links
 * when DIR is on the data dir's file system: nothing is copied) plus a
 * manifest, and opening it replays little or no log.  RocksDB builds the
 * copy in DIR.tmp and renames it, so DIR appears whole or not at all; an
 * attempt cut short leaves DIR.tmp, which the next checkpoint of that
 * name clears.  The copy is consistent at one sequence number, and every
 * change of an episode is one batch (db.c, invariant 1), so a checkpoint
 * never holds half an episode and its counters agree with its records.
 * Writers keep writing throughout: RocksDB holds back file deletions, not
 * writes.  The directory is made 0700 like a data dir (it holds every
 * episode, whatever their modes).
 *
 * Backup.  RocksDB's backup engine in DIR: meta/ (one small file per
 * backup), private/ (each backup's manifest and log), shared_checksum/
 * (table files, shared by the backups that contain them).  A new backup
 * copies only the table files that no earlier backup holds: incremental
 * by nature.  Every backup is kept; retention is the operator's decision
 * (NEEDSWORK: a "keep the last N" option, rocksdb_backup_engine_purge_old_
 * backups, when someone asks for it).  DIR inside the data dir is refused
 * with EINVAL: a backup lost together with the data is no backup.
 *
 * Restore (offline: there is no struct store, DATADIR is not open).  SRC
 * is a checkpoint when it has a CURRENT file: its regular files are
 * copied, not linked (SRC may be on another file system or deleted
 * later), and fsync'd; LOCK and subdirectories (the snapshots/ of a
 * checkpoint that was itself mounted) stay behind.  SRC is a backup
 * directory when it has meta/: the latest backup is restored by the
 * engine, with the log in DATADIR too.  DATADIR must not exist (it is
 * made, 0700) or be an empty directory.  The result is opened read-only
 * once, as proof that it is a store; on any failure what restore put in
 * DATADIR goes again, so a failed restore can simply be retried.
 *
 * Locks.  backup_lock serialises checkpoints and backups within the
 * process: two backup engines on one directory overwrite each other's
 * meta files, two checkpoints of one name race in DIR.tmp.  Neither takes
 * st->write_lock.  Both take seconds on a big store; the daemon calls
 * them from request threads, never from its notifier thread.
 *
 * Compaction covers every column family, whole key range, not exclusive:
 * background flushes and compactions go on, so writers never stall
 * behind it.  RocksDB's C API returns no status from CompactRange; a
 * failure that matters (I/O) raises RocksDB's background error count,
 * which is checked before and after.
 *
 * Usage sums per column family properties; the log size comes from the
 * *.log files of the data dir (RocksDB has no property for it; the
 * directory holds a few dozen entries, a readdir costs microseconds).
 * Checkpoints share table files through hard links and are not counted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_i.h"

/* Copy buffer of the restore: big enough for sequential speed. */
#define BACKUP_COPY_BUF (1u << 20)

static pthread_mutex_t backup_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- paths ------------------------------------------------------------ */

/* PATH resolved; when it does not exist yet, its parent resolved and the
 * last component appended (-ENOENT without the parent). */
static int backup_resolve(const char *path, char **out)
{
	char *copy, *dir, *base, *r = realpath(path, NULL);

	if (r) {
		*out = r;
		return 0;
	}
	if (errno != ENOENT)
		return -errno;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	r = realpath(dir, NULL);
	if (!r) {
		int err = -errno;

		free(copy);
		return err;
	}
	strcpy(copy, path);
	base = basename(copy);
	if (asprintf(out, "%s/%s", strcmp(r, "/") ? r : "", base) < 0)
		*out = NULL;
	free(r);
	free(copy);
	return *out ? 0 : -ENOMEM;
}

/* Is DIR the data dir of ST or below it? */
static int backup_inside_datadir(struct store *st, const char *dir,
				 bool *inside)
{
	char *d = NULL, *data = NULL;
	int rc = backup_resolve(dir, &d);

	if (!rc)
		rc = backup_resolve(st->dir, &data);
	if (!rc) {
		size_t n = strlen(data);

		*inside = !strncmp(d, data, n) && (d[n] == '\0' || d[n] == '/');
	}
	free(d);
	free(data);
	return rc;
}

/* Does DIR hold NAME of file type TYPE (S_IFREG, S_IFDIR)? */
static bool backup_has(const char *dir, const char *name, mode_t type)
{
	char path[PATH_MAX];
	struct stat sb;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	return n > 0 && (size_t)n < sizeof(path) && stat(path, &sb) == 0 &&
	       (sb.st_mode & S_IFMT) == type;
}

/* ---- checkpoint -------------------------------------------------------- */

static int backup_checkpoint_locked(struct store *st, const char *dir)
{
	rocksdb_checkpoint_t *cp;
	struct stat sb;
	char *err = NULL;
	int rc;

	if (lstat(dir, &sb) == 0)
		return -EEXIST;
	cp = rocksdb_checkpoint_object_create(st->db, &err);
	if (err)
		return err_from_rocksdb(&err, "checkpoint");
	rocksdb_checkpoint_create(cp, dir, 0, &err);
	rc = err_from_rocksdb(&err, "checkpoint");
	rocksdb_checkpoint_object_destroy(cp);
	if (!rc && chmod(dir, 0700) < 0)
		store_log(STORE_LOG_WARNING, "checkpoint '%s': chmod: %s", dir,
			  strerror(errno));
	return rc;
}

int store_checkpoint(struct store *st, const char *dir)
{
	struct timespec t0, t1;
	char *real = NULL;
	int rc = backup_resolve(dir, &real);	/* the parent must exist */

	free(real);
	if (rc)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&backup_lock);
	rc = backup_checkpoint_locked(st, dir);
	pthread_mutex_unlock(&backup_lock);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!rc)
		store_log(STORE_LOG_INFO, "checkpoint '%s' taken in %.3f s",
			  dir, (double)(t1.tv_sec - t0.tv_sec) +
				       (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return rc;
}

/* ---- backup ------------------------------------------------------------ */

static void backup_log_latest(rocksdb_backup_engine_t *be, const char *dir)
{
	const rocksdb_backup_engine_info_t *info;
	int n;

	info = rocksdb_backup_engine_get_backup_info(be);
	n = rocksdb_backup_engine_info_count(info);
	if (n > 0)
		store_log(STORE_LOG_INFO, "backup %u in '%s': %u files, %llu "
			  "bytes; %d backups kept",
			  rocksdb_backup_engine_info_backup_id(info, n - 1),
			  dir,
			  rocksdb_backup_engine_info_number_files(info, n - 1),
			  (unsigned long long)rocksdb_backup_engine_info_size(
				  info, n - 1),
			  n);
	rocksdb_backup_engine_info_destroy(info);
}

static int backup_locked(struct store *st, const char *dir)
{
	rocksdb_backup_engine_t *be;
	char *err = NULL;
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	be = rocksdb_backup_engine_open(st->opts, dir, &err);
	if (err)
		return err_from_rocksdb(&err, "backup");
	rocksdb_backup_engine_create_new_backup_flush(be, st->db, 1, &err);
	rc = err_from_rocksdb(&err, "backup");
	if (!rc)
		backup_log_latest(be, dir);
	rocksdb_backup_engine_close(be);
	return rc;
}

int store_backup(struct store *st, const char *dir)
{
	bool inside = false;
	int rc = backup_inside_datadir(st, dir, &inside);

	if (rc)
		return rc;
	if (inside) {
		store_log(STORE_LOG_NOTICE, "backup '%s' refused: inside the "
			  "data dir '%s'", dir, st->dir);
		return -EINVAL;
	}
	pthread_mutex_lock(&backup_lock);
	rc = backup_locked(st, dir);
	pthread_mutex_unlock(&backup_lock);
	return rc;
}

/* ---- restore ----------------------------------------------------------- */

/* -ENOTEMPTY unless DIR is an empty directory; -EEXIST if not a folder. */
static int backup_check_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return errno == ENOTDIR ? -EEXIST : -errno;
	while (!rc && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = -ENOTEMPTY;
	closedir(d);
	return rc;
}

static int backup_copy_fd(int in, int out, char *buf)
{
	ssize_t n;

	while ((n = read(in, buf, BACKUP_COPY_BUF)) > 0) {
		char *p = buf;

		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			p += w;
			n -= w;
		}
	}
	if (n < 0)
		return -errno;
	return fsync(out) < 0 ? -errno : 0;
}

static int backup_copy_file(int sfd, int dfd, const char *name, char *buf)
{
	int in = openat(sfd, name, O_RDONLY | O_CLOEXEC), out, rc;

	if (in < 0)
		return -errno;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = -errno;
		close(in);
		return rc;
	}
	rc = backup_copy_fd(in, out, buf);
	if (close(out) < 0 && !rc)
		rc = -errno;
	close(in);
	if (rc)
		store_log(STORE_LOG_ERR, "restore: cannot copy '%s': %s", name,
			  strerror(-rc));
	return rc;
}

/* Copy the regular files of checkpoint SRC (but LOCK) into DST. */
static int backup_copy_checkpoint(const char *src, const char *dst)
{
	char *buf = malloc(BACKUP_COPY_BUF);
	DIR *d = opendir(src);
	int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	struct dirent *de;

	if (!buf || !d || dfd < 0)
		rc = !buf ? -ENOMEM : -errno;
	while (!rc && (de = readdir(d))) {
		struct stat sb;

		if (!strcmp(de->d_name, "LOCK") ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(sb.st_mode))
			continue;
		rc = backup_copy_file(dirfd(d), dfd, de->d_name, buf);
	}
	if (!rc && fsync(dfd) < 0)
		rc = -errno;
	if (d)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return rc;
}

static int backup_restore_engine(const char *src, const char *dst)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_restore_options_t *ro = rocksdb_restore_options_create();
	rocksdb_backup_engine_t *be;
	char *err = NULL;
	int rc;

	be = rocksdb_backup_engine_open(o, src, &err);
	rc = err_from_rocksdb(&err, "restore");
	if (!rc) {
		rocksdb_backup_engine_restore_db_from_latest_backup(
			be, dst, dst, ro, &err);
		rc = err_from_rocksdb(&err, "restore");
		rocksdb_backup_engine_close(be);
	}
	rocksdb_restore_options_destroy(ro);
	rocksdb_options_destroy(o);
	return rc;
}

static int backup_rm_entry(const char *path, const struct stat *sb, int type,
			   struct FTW *ftw)
{
	if (ftw->level == 0)
		return 0;	/* the directory itself stays */
	if (remove(path) < 0)
		store_log(STORE_LOG_WARNING, "restore: cannot remove '%s': %s",
			  path, strerror(errno));
	return 0;
}

/* Undo a failed restore: empty DIR, and remove it if we made it. */
static void backup_restore_undo(const char *dir, bool made)
{
	nftw(dir, backup_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (made)
		rmdir(dir);
}

/* Is DATADIR openable as a store?  (Read-only, closed at once.) */
static int backup_restore_check(const char *datadir)
{
	struct store_options o = { .read_only = true };
	struct store *st;
	int rc = store_open(datadir, &o, &st);

	if (!rc)
		store_close(st);
	return rc;
}

/* Make DATADIR, or check that it is an empty folder. */
static int backup_restore_target(const char *datadir, bool *made)
{
	*made = false;
	if (mkdir(datadir, 0700) == 0) {
		*made = true;
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	return backup_check_empty(datadir);
}

int store_restore(const char *src, const char *datadir)
{
	bool checkpoint = backup_has(src, "CURRENT", S_IFREG), made;
	int rc;

	if (!checkpoint && !backup_has(src, "meta", S_IFDIR)) {
		store_log(STORE_LOG_ERR, "restore: '%s' is neither a "
			  "checkpoint (no CURRENT) nor a backup directory (no "
			  "meta/)", src);
		return access(src, F_OK) < 0 ? -errno : -EINVAL;
	}
	rc = backup_restore_target(datadir, &made);
	if (rc) {
		store_log(STORE_LOG_ERR, "restore: '%s': %s", datadir,
			  rc == -ENOTEMPTY ? "not empty" : strerror(-rc));
		return rc;
	}
	rc = checkpoint ? backup_copy_checkpoint(src, datadir)
			: backup_restore_engine(src, datadir);
	if (!rc)
		rc = backup_restore_check(datadir);
	if (rc) {
		backup_restore_undo(datadir, made);
		return rc;
	}
	store_log(STORE_LOG_INFO, "restored %s '%s' into '%s'",
		  checkpoint ? "checkpoint" : "the latest backup of", src,
		  datadir);
	return 0;
}

/* ---- compaction and sizes ---------------------------------------------- */

static uint64_t backup_prop(struct store *st, int cf, const char *name)
{
	uint64_t v = 0;

	if (rocksdb_property_int_cf(st->db, st->cf[cf], name, &v) != 0)
		return 0;
	return v;
}

int store_compact(struct store *st)
{
	rocksdb_compactoptions_t *co;
	uint64_t bg0 = 0, bg1 = 0;

	if (st->read_only)
		return -EROFS;
	rocksdb_property_int(st->db, "rocksdb.background-errors", &bg0);
	co = rocksdb_compactoptions_create();
	rocksdb_compactoptions_set_exclusive_manual_compaction(co, 0);
	for (int i = 0; i < CF__COUNT; i++)
		rocksdb_compact_range_cf_opt(st->db, st->cf[i], co, NULL, 0,
					     NULL, 0);
	rocksdb_compactoptions_destroy(co);
	rocksdb_property_int(st->db, "rocksdb.background-errors", &bg1);
	if (bg1 > bg0) {
		store_log(STORE_LOG_ERR, "compact: RocksDB reported %llu "
			  "background errors (see its LOG in '%s')",
			  (unsigned long long)(bg1 - bg0), st->dir);
		return -EIO;
	}
	return 0;
}

/* Bytes of the write-ahead log files (NNNNNN.log) in the data dir. */
static uint64_t backup_wal_bytes(struct store *st)
{
	DIR *d = opendir(st->dir);
	struct dirent *de;
	uint64_t sum = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat sb;

		if (n > 4 && !strcmp(de->d_name + n - 4, ".log") &&
		    fstatat(dirfd(d), de->d_name, &sb, 0) == 0 &&
		    S_ISREG(sb.st_mode))
			sum += (uint64_t)sb.st_size;
	}
	closedir(d);
	return sum;
}

void store_usage(struct store *st, struct store_usage *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < CF__COUNT; i++) {
		out->disk_bytes +=
			backup_prop(st, i, "rocksdb.live-sst-files-size");
		out->pending_compaction_bytes += backup_prop(
			st, i, "rocksdb.estimate-pending-compaction-bytes");
		out->memtable_bytes +=
			backup_prop(st, i, "rocksdb.cur-size-all-mem-tables");
	}
	out->disk_bytes += backup_wal_bytes(st);
}
