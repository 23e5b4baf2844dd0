/*
 * cmd_import.c - engramctl import DIR | FILE.jsonl | -: bulk import of
 * episodes with their metadata into MNT/episodes (or --into FOLDER).
 *
 * Sources.
 *  - DIR: every regular file below DIR is an episode named by its path
 *    relative to DIR; folders are created, empty ones too.  When is the
 *    file's mtime.  The other metadata come from DIR/.engram-export.jsonl
 *    (the manifest `engramctl export DIR` writes) when it lists the file,
 *    else from the file's own user.engram.* attributes (a tree copied with
 *    `cp -a` from a mount), else the mount's defaults.  Symlinks, FIFOs
 *    and devices are skipped with a reason.
 *  - FILE.jsonl or - (standard input): one JSON object per line, as
 *    `engramctl export --jsonl` writes them (meta.c).
 *
 * Resuming.  Rule: an item is "already present", and left alone, when its
 * episode exists with the same size and the same mtime as the item's
 * when; for an item without a when, the same size and the same bytes.
 * How an item is written keeps that rule true:
 *  - a new item with a when (every DIR item, every exported JSONL line)
 *    is created in place (O_EXCL; only an existing name is looked at
 *    further): attributes, content, then the mtime (cmd_import_fill).
 *    The mount keeps a time set on uncommitted content and commits both
 *    at close, in one store write, so the episode is stored and indexed
 *    once, with its final time, as a plain create+write+close is: the
 *    import costs the mount one request more than a raw ingest (the
 *    setattr).  The mtime comes last, so an episode cut short before it
 *    (empty, or committed by the kernel's close with the time of the
 *    kill) does not have the item's when, and the next run rewrites it.
 *  - an item that replaces a differing episode, or has no when, is
 *    written under a hidden name, FOLDER/.NAME.engramctl-tmp, and renamed
 *    into place: the old episode stays whole until the new one is, and an
 *    item without a when has no mtime to mark it complete.  The mount
 *    does not index hidden names, so the rename indexes it once.  A run
 *    cut short leaves at most one hidden file per worker, which the next
 *    run replaces when it comes to that item.
 * Rerunning the same command after a kill therefore completes the import
 * and never makes a second copy: names are the identity.  An existing
 * episode that differs is replaced (as rsync and cp do) unless
 * --skip-existing.  Two imports into the same folder at the same time are
 * not supported (they share the hidden names).
 *
 * Concurrency.  The walk (or the JSONL reader) is the producer; --jobs
 * workers (default 4, or 1 when the process may run on one CPU only)
 * each run the file operations of one item at a time.  The mount
 * serialises commits in the store, but every item also costs several
 * FUSE round trips (lookup, create, write, setattr, flush, release, and a
 * setxattr an attribute) whose latency overlaps across workers; one
 * worker leaves the daemon idle between them.  On one CPU nothing
 * overlaps (client and daemon take turns), and more workers only add
 * thread switches (pinned to one CPU of a busy 2-CPU box, one worker
 * kept 0.83-0.96 of the raw ingest rate, four 0.52-0.98).  The queue is
 * bounded, so memory stays at about QCAP items whatever the source's
 * size.
 *
 * Reporting: failures (and skips other than "already present") are
 * printed as they happen, "failed 'NAME': REASON"; the summary counts
 * everything.  SIGINT/SIGTERM stop the producer, let the workers finish
 * their item and print the summary; exit status 1 says "not complete,
 * run it again".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"

#define CMD_IMPORT_QCAP 256
#define CMD_IMPORT_JOBS 4	/* enough to keep 2-8 CPUs' daemon busy */
#define CMD_IMPORT_MANIFEST ".engram-export.jsonl"
#define CMD_IMPORT_TMP ".engramctl-tmp"

struct cmd_import_job {
	struct ctl_item it;
	char *src;		/* DIR source file, or NULL (JSONL) */
};

struct cmd_import {
	char *root;		/* MNT/episodes[/INTO] */
	bool skip_existing, verbose, quiet;
	int jobs;
	/* the manifest of a DIR source, sorted by name */
	struct ctl_item *man;
	size_t nman;
	/* the queue; lock guards it and the counters */
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	struct cmd_import_job *q[CMD_IMPORT_QCAP];
	size_t head, n;
	bool closed;
	uint64_t imported, present, skipped, failed, folders;
	struct json_object *problems;	/* --json: failed and skipped */
	struct ctl_progress *prog;
};

static volatile sig_atomic_t cmd_import_stop;

static void cmd_import_signal(int sig)
{
	(void)sig;
	cmd_import_stop = 1;
}

/* ------------------------------------------------------------------ */
/* Results                                                            */
/* ------------------------------------------------------------------ */

enum cmd_import_res { CMD_IMPORTED, CMD_PRESENT, CMD_SKIPPED, CMD_FAILED,
		      CMD_FOLDER };

static void cmd_import_count(struct cmd_import *im, bool json,
			     const char *name, enum cmd_import_res res,
			     const char *reason)
{
	static const char *const words[] = { "imported", "present", "skipped",
					     "failed", "folder" };
	struct json_object *o;

	pthread_mutex_lock(&im->lock);
	im->imported += res == CMD_IMPORTED;
	im->present += res == CMD_PRESENT;
	im->skipped += res == CMD_SKIPPED;
	im->failed += res == CMD_FAILED;
	im->folders += res == CMD_FOLDER;
	if ((res == CMD_SKIPPED || res == CMD_FAILED) && json) {
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "status",
				       json_object_new_string(words[res]));
		json_object_object_add(o, "reason",
				       json_object_new_string(reason));
		json_object_array_add(im->problems, o);
	} else if (res == CMD_SKIPPED || res == CMD_FAILED ||
		   (res == CMD_PRESENT && im->verbose)) {
		fprintf(stderr, "%s%s '%s': %s\n",
			isatty(STDERR_FILENO) && !im->quiet ? "\r\033[K" : "",
			res == CMD_PRESENT ? "skipped" : words[res], name,
			reason);
	}
	pthread_mutex_unlock(&im->lock);
	ctl_progress_add(im->prog, 1);
}

/* ------------------------------------------------------------------ */
/* One item                                                           */
/* ------------------------------------------------------------------ */

static int cmd_import_man_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctl_item *)a)->name,
		      ((const struct ctl_item *)b)->name);
}

static const struct ctl_item *cmd_import_man_find(struct cmd_import *im,
						  const char *name)
{
	struct ctl_item key = { .name = (char *)name };

	if (!im->nman)
		return NULL;
	return bsearch(&key, im->man, im->nman, sizeof(*im->man),
		       cmd_import_man_cmp);
}

static char *cmd_import_dup(const char *s)
{
	return s ? ctl_xstrdup(s) : NULL;
}

/* Content and metadata of a DIR source file into job->it. */
static int cmd_import_load(struct cmd_import *im, struct cmd_import_job *job,
			   const char **why)
{
	const struct ctl_item *man;
	struct stat st;
	int fd = open(job->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;

	if (fd < 0)
		return *why = "cannot read the source", -errno;
	r = ctl_meta_read_fd(fd, &job->it.meta, &st);
	if (!r)
		r = ctl_read_fd_hint(fd, (size_t)st.st_size, &job->it.content,
				     &job->it.len);
	close(fd);
	if (r)
		return *why = "cannot read the source", r;
	man = cmd_import_man_find(im, job->it.name);
	if (man) {
		struct ctl_meta *m = &job->it.meta;

		ctl_meta_release(m);
		m->has_when = true;
		m->when = st.st_mtim;
		m->confidence = cmd_import_dup(man->meta.confidence);
		m->where = cmd_import_dup(man->meta.where);
		m->who = cmd_import_dup(man->meta.who);
		m->tags = cmd_import_dup(man->meta.tags);
	}
	return 0;
}

/* Is the existing episode at DST the item already?  <0: -errno. */
static int cmd_import_present(const char *dst, const struct ctl_item *it)
{
	struct stat st;
	char *buf;
	size_t len;
	int r;

	if (stat(dst, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if ((size_t)st.st_size != it->len)
		return 0;
	if (it->meta.has_when)
		return st.st_mtim.tv_sec == it->meta.when.tv_sec &&
		       st.st_mtim.tv_nsec == it->meta.when.tv_nsec;
	r = ctl_read_file(dst, &buf, &len);
	if (r < 0)
		return r;
	r = len == it->len && !memcmp(buf, it->content, len);
	free(buf);
	return r;
}

/*
 * Write metadata and content into FD (created or truncated): the
 * attributes first, while the episode is still empty in the store (a
 * confidence set later would rewrite the postings of its content), then
 * the content, then the mtime (ctl_meta_apply), kept by the mount with
 * the uncommitted content and committed with it at close.
 */
static int cmd_import_fill(int fd, const struct ctl_item *it, bool fresh,
			   const char **why)
{
	int r = ctl_meta_apply_attrs(fd, &it->meta, fresh, why);

	if (r < 0)
		return r;
	r = ctl_write_all(fd, it->content, it->len);
	if (r < 0)
		return *why = "cannot write the content", r;
	return ctl_meta_apply_when(fd, &it->meta, why);
}

static const char *cmd_import_errmsg(int err, const char *why)
{
	static __thread char buf[160];

	if (err == -EFBIG)
		return "larger than the mount's store.max_episode_bytes";
	snprintf(buf, sizeof(buf), "%s: %s", why, strerror(-err));
	return buf;
}

/* The folders of NAME below root; THREAD_LAST caches the last one. */
static int cmd_import_parents(struct cmd_import *im, const char *name)
{
	static __thread char last[4096];
	const char *slash = strrchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : 0;
	int r;

	if (!n || (n < sizeof(last) && !strncmp(last, name, n) && !last[n]))
		return 0;
	r = ctl_mkdir_parents(im->root, name);
	if (!r && n < sizeof(last)) {
		memcpy(last, name, n);
		last[n] = '\0';
	}
	return r;
}

/* The hidden name an item is written under: FOLDER/.BASE.engramctl-tmp,
 * or NULL when that would be longer than a name may be. */
static char *cmd_import_tmpname(const char *dst)
{
	const char *base = strrchr(dst, '/') + 1;

	if (strlen(base) + 1 + strlen(CMD_IMPORT_TMP) > 255)
		return NULL;
	return ctl_xprintf("%.*s.%s%s", (int)(base - dst), dst, base,
			   CMD_IMPORT_TMP);
}

/* Create PATH afresh (a leftover of an interrupted run is replaced). */
static int cmd_import_create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0 && errno == EEXIST && unlink(path) == 0)
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

/*
 * An item with a when, created in place if DST is new (see the top of the
 * file): 1 when DST exists (nothing done), else 0 or -errno.  Creating
 * first rather than asking first saves a round trip to the mount: an
 * O_EXCL open looks the name up again whatever the kernel has cached.
 */
static int cmd_import_write_new(const char *dst, const struct ctl_item *it,
				const char **why)
{
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), r;

	if (fd < 0 && errno == EEXIST)
		return 1;
	if (fd < 0)
		return *why = "cannot create", -errno;
	r = cmd_import_fill(fd, it, true, why);
	if (close(fd) < 0 && !r)
		r = -errno, *why = "cannot commit";
	if (r < 0)
		unlink(dst);	/* leave no half episode behind */
	return r;
}

/*
 * Write the item under its hidden name, then rename it into place: the
 * old episode stays whole until the new one is, and the mount indexes a
 * hidden episode not at all, so the rename indexes it once.  A name too
 * long for the hidden spelling is written in place.
 */
static int cmd_import_write(const char *dst, const struct ctl_item *it,
			    const char **why)
{
	char *tmp = cmd_import_tmpname(dst);
	const char *path = tmp ? tmp : dst;
	int fd = cmd_import_create(path), r;

	if (fd == -EEXIST && !tmp)
		fd = open(dst, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		free(tmp);
		return *why = "cannot create", fd;
	}
	r = cmd_import_fill(fd, it, true, why);
	if (close(fd) < 0 && !r)
		r = -errno, *why = "cannot commit";
	if (!r && tmp && rename(tmp, dst) < 0)
		r = -errno, *why = "cannot rename into place";
	if (r < 0)
		unlink(path);	/* leave no half episode behind */
	free(tmp);
	return r;
}

static enum cmd_import_res cmd_import_file(struct cmd_import *im,
					   struct cmd_import_job *job,
					   const char **reason)
{
	struct ctl_item *it = &job->it;
	const char *why = "";
	char *dst;
	int r;

	if (job->src && (r = cmd_import_load(im, job, &why)) < 0)
		return *reason = cmd_import_errmsg(r, why), CMD_FAILED;
	if ((r = cmd_import_parents(im, it->name)) < 0)
		return *reason = cmd_import_errmsg(r, "cannot create its "
						   "folder"), CMD_FAILED;
	dst = ctl_xprintf("%s/%s", im->root, it->name);
	r = it->meta.has_when ? cmd_import_write_new(dst, it, &why) : 1;
	if (r <= 0) {
		free(dst);
		if (r < 0)
			return *reason = cmd_import_errmsg(r, why), CMD_FAILED;
		return CMD_IMPORTED;
	}
	/* 1: it is the item already, 0: (re)write it, < 0: cannot tell */
	r = cmd_import_present(dst, it);
	if (r == -ENOENT)
		r = 0;
	else if (r >= 0 && im->skip_existing)
		r = 2;
	if (r > 0) {
		free(dst);
		*reason = r == 2 ? "exists (--skip-existing)" : "already present";
		return r == 2 ? CMD_SKIPPED : CMD_PRESENT;
	}
	if (r == 0)
		r = cmd_import_write(dst, it, &why);
	else
		why = r == -EISDIR ? "a folder has that name" : "cannot stat";
	free(dst);
	if (r < 0)
		return *reason = cmd_import_errmsg(r, why), CMD_FAILED;
	return CMD_IMPORTED;
}

static void cmd_import_one(struct cmd_import *im, struct cmd_import_job *job,
			   bool json)
{
	const char *reason = "";
	enum cmd_import_res res;
	char *path;
	int r;

	if (job->it.folder) {
		path = ctl_xprintf("%s/x", job->it.name);
		r = ctl_mkdir_parents(im->root, path);
		free(path);
		res = r < 0 ? CMD_FAILED : CMD_FOLDER;
		if (r < 0)
			reason = cmd_import_errmsg(r, "cannot create the folder");
	} else {
		res = cmd_import_file(im, job, &reason);
	}
	cmd_import_count(im, json, job->it.name, res, reason);
}

/* ------------------------------------------------------------------ */
/* The queue and the workers                                          */
/* ------------------------------------------------------------------ */

struct cmd_import_worker {
	struct cmd_import *im;
	bool json;
};

static void cmd_import_job_free(struct cmd_import_job *job)
{
	ctl_item_release(&job->it);
	free(job->src);
	free(job);
}

static void *cmd_import_worker(void *arg)
{
	struct cmd_import_worker *w = arg;
	struct cmd_import *im = w->im;
	struct cmd_import_job *job;

	for (;;) {
		pthread_mutex_lock(&im->lock);
		while (!im->n && !im->closed)
			pthread_cond_wait(&im->more, &im->lock);
		if (!im->n) {
			pthread_mutex_unlock(&im->lock);
			return NULL;
		}
		job = im->q[im->head];
		im->head = (im->head + 1) % CMD_IMPORT_QCAP;
		im->n--;
		pthread_cond_signal(&im->room);
		pthread_mutex_unlock(&im->lock);
		if (!cmd_import_stop)
			cmd_import_one(im, job, w->json);
		cmd_import_job_free(job);
	}
}

/* Queue JOB (ownership passes); false once interrupted. */
static bool cmd_import_push(struct cmd_import *im, struct cmd_import_job *job)
{
	if (cmd_import_stop) {
		cmd_import_job_free(job);
		return false;
	}
	pthread_mutex_lock(&im->lock);
	while (im->n == CMD_IMPORT_QCAP)
		pthread_cond_wait(&im->room, &im->lock);
	im->q[(im->head + im->n) % CMD_IMPORT_QCAP] = job;
	im->n++;
	pthread_cond_signal(&im->more);
	pthread_mutex_unlock(&im->lock);
	return true;
}

/* The default --jobs: CMD_IMPORT_JOBS, or 1 on a single CPU. */
static int cmd_import_default_jobs(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    CPU_COUNT(&set) == 1)
		return 1;
	return CMD_IMPORT_JOBS;
}

static struct cmd_import_job *cmd_import_job_new(const char *name,
						 const char *src, bool folder)
{
	struct cmd_import_job *job = ctl_xmalloc(sizeof(*job));

	memset(job, 0, sizeof(*job));
	job->it.name = ctl_xstrdup(name);
	job->it.folder = folder;
	job->src = src ? ctl_xstrdup(src) : NULL;
	return job;
}

/* ------------------------------------------------------------------ */
/* Producers                                                          */
/* ------------------------------------------------------------------ */

static bool cmd_import_reserved(const char *rel, const char *base)
{
	size_t n = strlen(base), t = strlen(CMD_IMPORT_TMP);

	return !strcmp(rel, CMD_IMPORT_MANIFEST) ||
	       (n > t && !strcmp(base + n - t, CMD_IMPORT_TMP));
}

/* Walk DIR/REL; COUNT_ONLY counts regular files into *n. */
static bool cmd_import_walk(struct cmd_import *im, bool json, const char *top,
			    const char *rel, bool count_only, uint64_t *n)
{
	char *dir = rel ? ctl_xprintf("%s/%s", top, rel) : ctl_xstrdup(top);
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	bool go = true;

	if (!d) {
		if (!count_only)
			cmd_import_count(im, json, rel ? rel : ".", CMD_FAILED,
					 strerror(errno));
		free(dir);
		return true;
	}
	while (go && (de = readdir(d))) {
		char *r2, *src;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r2 = rel ? ctl_xprintf("%s/%s", rel, de->d_name)
			 : ctl_xstrdup(de->d_name);
		src = ctl_xprintf("%s/%s", dir, de->d_name);
		if (cmd_import_reserved(r2, de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			;
		else if (S_ISDIR(st.st_mode) && count_only && ++*n == 0)
			;
		else if (S_ISDIR(st.st_mode))
			go = (count_only || cmd_import_push(
					   im, cmd_import_job_new(r2, NULL, true))) &&
			     cmd_import_walk(im, json, top, r2, count_only, n);
		else if (count_only)
			*n += 1;
		else if (S_ISREG(st.st_mode))
			go = cmd_import_push(im, cmd_import_job_new(r2, src, false));
		else
			cmd_import_count(im, json, r2, CMD_SKIPPED,
					 "not a regular file");
		free(r2);
		free(src);
	}
	closedir(d);
	free(dir);
	return go;
}

/* DIR/.engram-export.jsonl, when there is one, sorted by name. */
static int cmd_import_manifest(struct cmd_import *im, const char *top)
{
	char *path = ctl_xprintf("%s/%s", top, CMD_IMPORT_MANIFEST);
	char *line = NULL, why[160];
	size_t cap = 0, alloc = 0;
	ssize_t len;
	long lineno = 0;
	FILE *f = fopen(path, "r");
	struct ctl_item it;

	free(path);
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (ctl_item_from_json(line, (size_t)len, false, &it, why,
				       sizeof(why)) < 0) {
			ctl_warning("%s line %ld: %s", CMD_IMPORT_MANIFEST,
				    lineno, why);
			continue;
		}
		if (it.folder) {
			ctl_item_release(&it);
			continue;
		}
		if (im->nman == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			im->man = ctl_xrealloc(im->man, alloc * sizeof(*im->man));
		}
		im->man[im->nman++] = it;
	}
	free(line);
	fclose(f);
	if (im->nman)
		qsort(im->man, im->nman, sizeof(*im->man), cmd_import_man_cmp);
	return 0;
}

static uint64_t cmd_import_count_lines(FILE *f)
{
	uint64_t n = 0;
	int ch;

	while ((ch = getc_unlocked(f)) != EOF)
		n += ch == '\n';
	rewind(f);
	return n;
}

static int cmd_import_jsonl(struct cmd_import *im, bool json, const char *file)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	char *line = NULL, why[200], label[48];
	struct cmd_import_job *job;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;

	if (!f)
		return ctl_error("cannot open '%s': %s", file, strerror(errno));
	if (f != stdin)
		ctl_progress_set_total(im->prog, cmd_import_count_lines(f));
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		job = ctl_xmalloc(sizeof(*job));
		job->src = NULL;
		if (ctl_item_from_json(line, (size_t)len, true, &job->it, why,
				       sizeof(why)) < 0) {
			snprintf(label, sizeof(label), "line %ld", lineno);
			cmd_import_count(im, json, label, CMD_FAILED, why);
			free(job);
			continue;
		}
		if (!cmd_import_push(im, job))
			break;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return 0;
}

static int cmd_import_dir(struct cmd_import *im, bool json, const char *top)
{
	uint64_t n = 0;
	int r = cmd_import_manifest(im, top);

	if (r < 0)
		return ctl_error("cannot read '%s/%s': %s", top,
				 CMD_IMPORT_MANIFEST, strerror(-r));
	cmd_import_walk(im, json, top, NULL, true, &n);
	ctl_progress_set_total(im->prog, n);
	cmd_import_walk(im, json, top, NULL, false, &n);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The verb                                                           */
/* ------------------------------------------------------------------ */

static int cmd_import_summary(struct cmd_import *im, bool json, double secs)
{
	double rate = secs > 0 ? (double)im->imported / secs : 0;
	struct json_object *o;

	if (json) {
		o = json_object_new_object();
#define CMD_IMPORT_N(k) \
	json_object_object_add(o, #k, json_object_new_int64((int64_t)im->k))
		CMD_IMPORT_N(imported);
		CMD_IMPORT_N(present);
		CMD_IMPORT_N(skipped);
		CMD_IMPORT_N(failed);
		CMD_IMPORT_N(folders);
#undef CMD_IMPORT_N
		json_object_object_add(o, "seconds", json_object_new_double(secs));
		json_object_object_add(o, "per_second",
				       json_object_new_double(rate));
		json_object_object_add(o, "interrupted",
				       json_object_new_boolean(cmd_import_stop));
		json_object_object_add(o, "problems",
				       json_object_get(im->problems));
		ctl_json_print(o);
	} else {
		printf("imported %llu, already present %llu, skipped %llu, "
		       "failed %llu, folders %llu in %.2f s (%.0f/s)%s\n",
		       (unsigned long long)im->imported,
		       (unsigned long long)im->present,
		       (unsigned long long)im->skipped,
		       (unsigned long long)im->failed,
		       (unsigned long long)im->folders, secs, rate,
		       cmd_import_stop ? "; interrupted: run it again to "
					 "resume" : "");
	}
	return im->failed || cmd_import_stop ? CTL_EXIT_FAIL : 0;
}

static int cmd_import_run(struct ctl *c, struct cmd_import *im,
			  const char *src)
{
	struct cmd_import_worker w = { im, c->json };
	pthread_t *tids = ctl_xmalloc((size_t)im->jobs * sizeof(*tids));
	struct sigaction sa = { .sa_handler = cmd_import_signal };
	struct stat st;
	double t0 = ctl_now();
	int i, r;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	im->prog = ctl_progress_new("import", 0, im->quiet);
	for (i = 0; i < im->jobs; i++)
		pthread_create(&tids[i], NULL, cmd_import_worker, &w);
	if (strcmp(src, "-") && stat(src, &st) == 0 && S_ISDIR(st.st_mode))
		r = cmd_import_dir(im, c->json, src);
	else
		r = cmd_import_jsonl(im, c->json, src);
	pthread_mutex_lock(&im->lock);
	im->closed = true;
	pthread_cond_broadcast(&im->more);
	pthread_mutex_unlock(&im->lock);
	for (i = 0; i < im->jobs; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	ctl_progress_done(im->prog);
	return r ? r : cmd_import_summary(im, c->json, ctl_now() - t0);
}

static int cmd_import_setup(struct ctl *c, struct cmd_import *im,
			    const char *into)
{
	char *path;
	int r;

	if (into && !ctl_relpath_ok(into))
		return ctl_usage_error("bad folder '%s'", into);
	if ((r = ctl_mount_resolve(c)))
		return r;
	im->root = into ? ctl_xprintf("%s/episodes/%s", c->mount, into)
			: ctl_path(c, "episodes");
	if (into) {
		char *top = ctl_path(c, "episodes");

		path = ctl_xprintf("%s/x", into);
		r = ctl_mkdir_parents(top, path);
		free(path);
		free(top);
		if (r < 0)
			return ctl_error("cannot create folder '%s': %s", into,
					 strerror(-r));
	}
	pthread_mutex_init(&im->lock, NULL);
	pthread_cond_init(&im->more, NULL);
	pthread_cond_init(&im->room, NULL);
	im->problems = json_object_new_array();
	return 0;
}

static void cmd_import_release(struct cmd_import *im)
{
	size_t i;

	for (i = 0; i < im->nman; i++)
		ctl_item_release(&im->man[i]);
	free(im->man);
	free(im->root);
	json_object_put(im->problems);
}

int cmd_import(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_COMMON_OPTIONS,
		{ "into", required_argument, NULL, 'i' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "skip-existing", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_import im = { .jobs = cmd_import_default_jobs() };
	const char *into = NULL;
	uint64_t n;
	int opt, r;

	while ((opt = ctl_getopt(c, argc, argv, "hi:j:qv", opts)) != -1) {
		switch (opt) {
		case 'i': into = optarg; break;
		case 's': im.skip_existing = true; break;
		case 'q': im.quiet = true; break;
		case 'v': im.verbose = true; break;
		case 'j':
			if (!ctl_parse_u64(optarg, &n) || !n || n > 256)
				return ctl_usage_error("bad --jobs '%s': "
						       "expected 1 to 256",
						       optarg);
			im.jobs = (int)n;
			break;
		default: return ctl_usage(c, opt == 'h');
		}
	}
	if (optind + 1 != argc)
		return ctl_usage(c, false);
	if ((r = cmd_import_setup(c, &im, into)))
		return r;
	r = cmd_import_run(c, &im, argv[optind]);
	cmd_import_release(&im);
	return r;
}
