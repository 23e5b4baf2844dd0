/*
 * cmd_export.c - engramctl export DIR | --jsonl: every episode (of
 * --from FOLDER and below) with its metadata, in a form `engramctl
 * import` takes back byte for byte.
 *
 * DIR.  The tree is mirrored: DIR/work/standup holds the episode's bytes
 * and has its mtime (when, to the nanosecond); every folder is created,
 * empty ones too.  The other metadata go to DIR/.engram-export.jsonl, one
 * line per episode and folder (meta.c, without content), so they survive
 * file systems without user xattrs and tools that drop them.  Names that
 * start with '.' are episodes like any other and are exported.
 *
 * Resuming.  Rule: an episode is copied unless DIR already has a regular
 * file of that name with the same size and mtime.  Each copy is written
 * to NAME.engramctl-tmp, given its mtime, then renamed into place, so a
 * file with its final name is always complete; leftovers of an
 * interrupted run are overwritten by the next.  The manifest is rewritten
 * whole by every run (the metadata are read anyway: a few getxattr calls
 * an episode) and renamed into place at the end, so it always describes
 * one complete pass.  Files in DIR that are no longer episodes are left
 * alone (as rsync without --delete).
 *
 * --jsonl writes one JSON object per line, content included, to standard
 * output or -o FILE: a stream, not resumable, and the whole store in one
 * file.
 *
 * The walk reads folders in the mount's order (by name), so two exports
 * of the same store are identical files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"

#define CMD_EXPORT_MANIFEST ".engram-export.jsonl"
#define CMD_EXPORT_TMP ".engramctl-tmp"

struct cmd_export {
	struct ctl *c;
	const char *src;	/* MNT/episodes[/FROM] */
	const char *dir;	/* DIR, or NULL for --jsonl */
	FILE *out;		/* the manifest (.tmp) or the JSONL stream */
	bool verbose;
	uint64_t exported, unchanged, skipped, failed, folders;
	struct json_object *problems;
	struct ctl_progress *prog;
};

static volatile sig_atomic_t cmd_export_stop;

static void cmd_export_signal(int sig)
{
	(void)sig;
	cmd_export_stop = 1;
}

static void cmd_export_problem(struct cmd_export *ex, const char *name,
			       bool failed, const char *reason)
{
	struct json_object *o;

	if (failed)
		ex->failed++;
	else
		ex->skipped++;
	if (ex->c->json) {
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "status", json_object_new_string(
							    failed ? "failed"
								   : "skipped"));
		json_object_object_add(o, "reason",
				       json_object_new_string(reason));
		json_object_array_add(ex->problems, o);
	} else {
		fprintf(stderr, "%s '%s': %s\n", failed ? "failed" : "skipped",
			name, reason);
	}
}

static void cmd_export_line(struct cmd_export *ex, const struct ctl_item *it)
{
	char *line = ctl_item_to_json(it, ex->dir == NULL);

	fputs(line, ex->out);
	fputc('\n', ex->out);
	free(line);
}

/* ------------------------------------------------------------------ */
/* One episode into DIR                                               */
/* ------------------------------------------------------------------ */

static bool cmd_export_same(const char *dst, const struct stat *src)
{
	struct stat st;

	return lstat(dst, &st) == 0 && S_ISREG(st.st_mode) &&
	       st.st_size == src->st_size &&
	       st.st_mtim.tv_sec == src->st_mtim.tv_sec &&
	       st.st_mtim.tv_nsec == src->st_mtim.tv_nsec;
}

/* Write <buf, len> as DST with mtime WHEN, through DST.engramctl-tmp. */
static int cmd_export_write(const char *dst, const char *buf, size_t len,
			    const struct timespec *when)
{
	char *tmp = ctl_xprintf("%s%s", dst, CMD_EXPORT_TMP);
	struct timespec ts[2] = { { 0, UTIME_OMIT }, *when };
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r = fd < 0 ? -errno : 0;

	if (!r)
		r = ctl_write_all(fd, buf, len);
	if (!r && futimens(fd, ts) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, dst) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	free(tmp);
	return r;
}

/* The episode on FD (named REL) as an item: metadata, and content unless
 * the copy in DIR is up to date (*same). */
static int cmd_export_read(struct cmd_export *ex, int fd, const char *rel,
			   struct ctl_item *it, bool *same)
{
	struct stat st;
	char *dst;
	int r;

	memset(it, 0, sizeof(*it));
	it->name = ctl_xstrdup(rel);
	r = ctl_meta_read_fd(fd, &it->meta, &st);
	if (r < 0)
		return r;
	*same = false;
	if (ex->dir) {
		dst = ctl_xprintf("%s/%s", ex->dir, rel);
		*same = cmd_export_same(dst, &st);
		free(dst);
	}
	if (*same)
		return 0;
	return ctl_read_fd(fd, &it->content, &it->len);
}

static void cmd_export_episode(struct cmd_export *ex, const char *path,
			       const char *rel)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;
	struct ctl_item it;
	bool same = false;
	char *dst;

	if (fd < 0) {
		cmd_export_problem(ex, rel, true, strerror(errno));
		return;
	}
	r = cmd_export_read(ex, fd, rel, &it, &same);
	close(fd);
	if (r == 0 && ex->dir && !same) {
		dst = ctl_xprintf("%s/%s", ex->dir, rel);
		r = cmd_export_write(dst, it.content, it.len, &it.meta.when);
		free(dst);
	}
	if (r < 0) {
		cmd_export_problem(ex, rel, true, strerror(-r));
	} else {
		cmd_export_line(ex, &it);
		ex->exported++;
		ex->unchanged += same;
		if (same && ex->verbose)
			fprintf(stderr, "unchanged '%s'\n", rel);
	}
	ctl_item_release(&it);
	ctl_progress_add(ex->prog, 1);
}

/* ------------------------------------------------------------------ */
/* The walk                                                           */
/* ------------------------------------------------------------------ */

static void cmd_export_folder(struct cmd_export *ex, const char *rel)
{
	struct ctl_item it = { .name = (char *)rel, .folder = true };
	char *dst;

	if (ex->dir) {
		dst = ctl_xprintf("%s/%s", ex->dir, rel);
		if (mkdir(dst, 0755) < 0 && errno != EEXIST) {
			cmd_export_problem(ex, rel, true, strerror(errno));
			free(dst);
			return;
		}
		free(dst);
	}
	cmd_export_line(ex, &it);
	ex->folders++;
}

static bool cmd_export_reserved(const char *rel, const char *base)
{
	size_t n = strlen(base), t = strlen(CMD_EXPORT_TMP);

	return !strcmp(rel, CMD_EXPORT_MANIFEST) ||
	       (n > t && !strcmp(base + n - t, CMD_EXPORT_TMP));
}

static void cmd_export_walk(struct cmd_export *ex, const char *rel)
{
	char *dir = rel ? ctl_xprintf("%s/%s", ex->src, rel)
			: ctl_xstrdup(ex->src);
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;

	if (!d) {
		cmd_export_problem(ex, rel ? rel : ".", true, strerror(errno));
		free(dir);
		return;
	}
	while (!cmd_export_stop && (de = readdir(d))) {
		char *r2, *path;
		unsigned type = de->d_type;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r2 = rel ? ctl_xprintf("%s/%s", rel, de->d_name)
			 : ctl_xstrdup(de->d_name);
		path = ctl_xprintf("%s/%s", dir, de->d_name);
		if (type == DT_UNKNOWN && lstat(path, &st) == 0)
			type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
		if (cmd_export_reserved(r2, de->d_name)) {
			cmd_export_problem(ex, r2, false, "reserved name");
		} else if (type == DT_DIR) {
			cmd_export_folder(ex, r2);
			cmd_export_walk(ex, r2);
		} else {
			cmd_export_episode(ex, path, r2);
		}
		free(r2);
		free(path);
	}
	closedir(d);
	free(dir);
}

/* ------------------------------------------------------------------ */
/* The verb                                                           */
/* ------------------------------------------------------------------ */

static uint64_t cmd_export_total(struct ctl *c, const char *from)
{
	char *status, *v;
	uint64_t n = 0;

	if (from || !(status = ctl_status_read(c)))
		return 0;
	v = ctl_kv_get(status, "episodes");
	if (!v || !ctl_parse_u64(v, &n))
		n = 0;
	free(v);
	free(status);
	return n;
}

static int cmd_export_summary(struct cmd_export *ex, double secs)
{
	struct json_object *o;
	FILE *f = ex->dir ? stdout : stderr;

	if (ex->c->json && ex->dir) {
		o = json_object_new_object();
#define CMD_EXPORT_N(k) \
	json_object_object_add(o, #k, json_object_new_int64((int64_t)ex->k))
		CMD_EXPORT_N(exported);
		CMD_EXPORT_N(unchanged);
		CMD_EXPORT_N(skipped);
		CMD_EXPORT_N(failed);
		CMD_EXPORT_N(folders);
#undef CMD_EXPORT_N
		json_object_object_add(o, "seconds", json_object_new_double(secs));
		json_object_object_add(o, "interrupted",
				       json_object_new_boolean(cmd_export_stop));
		json_object_object_add(o, "problems",
				       json_object_get(ex->problems));
		ctl_json_print(o);
	} else if (!ex->prog || ex->dir) {
		fprintf(f, "exported %llu (unchanged %llu), skipped %llu, "
			"failed %llu, folders %llu in %.2f s%s\n",
			(unsigned long long)ex->exported,
			(unsigned long long)ex->unchanged,
			(unsigned long long)ex->skipped,
			(unsigned long long)ex->failed,
			(unsigned long long)ex->folders, secs,
			cmd_export_stop ? "; interrupted: run it again to "
					  "resume" : "");
	}
	return ex->failed || cmd_export_stop ? CTL_EXIT_FAIL : 0;
}

/* Open the output: DIR's manifest (.tmp) or the JSONL stream. */
static int cmd_export_open(struct cmd_export *ex, const char *outfile,
			   char **tmp)
{
	*tmp = NULL;
	if (ex->dir) {
		if (mkdir(ex->dir, 0755) < 0 && errno != EEXIST)
			return ctl_error("cannot create '%s': %s", ex->dir,
					 strerror(errno));
		*tmp = ctl_xprintf("%s/%s%s", ex->dir, CMD_EXPORT_MANIFEST,
				   CMD_EXPORT_TMP);
		outfile = *tmp;
	}
	ex->out = outfile ? fopen(outfile, "w") : stdout;
	if (!ex->out)
		return ctl_error("cannot create '%s': %s", outfile,
				 strerror(errno));
	return 0;
}

static int cmd_export_close(struct cmd_export *ex, char *tmp)
{
	char *man;
	int r = 0;

	if (fflush(ex->out) != 0 || ferror(ex->out))
		r = ctl_error("cannot write the export: %s", strerror(errno));
	if (ex->out != stdout && fclose(ex->out) != 0 && !r)
		r = ctl_error("cannot write the export: %s", strerror(errno));
	if (tmp && !r && !cmd_export_stop) {
		man = ctl_xprintf("%s/%s", ex->dir, CMD_EXPORT_MANIFEST);
		if (rename(tmp, man) < 0)
			r = ctl_error("cannot write '%s': %s", man,
				      strerror(errno));
		free(man);
	} else if (tmp) {
		unlink(tmp);
	}
	free(tmp);
	return r;
}

static int cmd_export_run(struct cmd_export *ex, const char *from,
			  const char *outfile, bool quiet)
{
	struct sigaction sa = { .sa_handler = cmd_export_signal };
	double t0 = ctl_now();
	char *tmp;
	int r;

	if ((r = cmd_export_open(ex, outfile, &tmp)))
		return r;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ex->prog = ctl_progress_new("export", cmd_export_total(ex->c, from),
				    quiet);
	cmd_export_walk(ex, NULL);
	ctl_progress_done(ex->prog);
	ex->prog = NULL;
	r = cmd_export_close(ex, tmp);
	return r ? r : cmd_export_summary(ex, ctl_now() - t0);
}

int cmd_export(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_COMMON_OPTIONS,
		{ "from", required_argument, NULL, 'f' },
		{ "jsonl", no_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_export ex = { .c = c };
	const char *from = NULL, *outfile = NULL;
	bool jsonl = false, quiet = false;
	char *src;
	int opt, r;

	while ((opt = ctl_getopt(c, argc, argv, "hf:o:qv", opts)) != -1) {
		switch (opt) {
		case 'f': from = optarg; break;
		case 'l': jsonl = true; break;
		case 'o': outfile = optarg; break;
		case 'q': quiet = true; break;
		case 'v': ex.verbose = true; break;
		default: return ctl_usage(c, opt == 'h');
		}
	}
	if (jsonl ? optind != argc : (optind + 1 != argc || outfile))
		return ctl_usage(c, false);
	if (from && !ctl_relpath_ok(from))
		return ctl_usage_error("bad folder '%s'", from);
	if ((r = ctl_mount_resolve(c)))
		return r;
	src = from ? ctl_xprintf("%s/episodes/%s", c->mount, from)
		   : ctl_path(c, "episodes");
	ex.src = src;
	ex.dir = jsonl ? NULL : argv[optind];
	ex.problems = json_object_new_array();
	r = cmd_export_run(&ex, from, outfile, quiet);
	json_object_put(ex.problems);
	free(src);
	return r;
}
