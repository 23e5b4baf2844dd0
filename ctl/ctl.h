/*
 * ctl.h - private declarations of engramctl (ctl/).
 *
 * engramctl drives engramfs the way any script would.  Online verbs open,
 * read and write the files of a mount and nothing else; offline verbs
 * (restore, verify, config check) link libengram and work on a data dir
 * that no daemon holds.
 *
 *   main.c          global options, the verb table, mount resolution
 *   util.c          messages, paths, whole-file reads and writes, times
 *   meta.c          an episode's metadata: read from a mount, apply to an
 *                   open episode, JSON in and out (import and export)
 *   progress.c      progress bar on a terminal, plain lines otherwise
 *   cmd_VERB.c      one file per verb
 *   loadtest_*.c    the load generator: scenario, workload, report
 *
 * Exit status of every verb: 0 done, 1 failed (the operation, a check, an
 * SLO), 2 usage error.  Messages go to stderr as "error: ..." (git style:
 * lower case, no final period, names in quotes).
 */
#ifndef ENGRAMCTL_CTL_H
#define ENGRAMCTL_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifndef CTL_VERSION
#define CTL_VERSION "0.1.0"
#endif

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2

/* The mount's fixed names and the default confidence of an episode. */
#define CTL_DEFAULT_CONFIDENCE "0.7"
#define CTL_XATTR_CONFIDENCE "user.engram.confidence"
#define CTL_XATTR_WHERE "user.engram.where"
#define CTL_XATTR_WHO "user.engram.who"
#define CTL_XATTR_TAGS "user.engram.tags"

/* What every verb gets: the global options. */
struct ctl {
	const char *mount;	/* --mount, or NULL until resolved */
	bool json;		/* --json */
	const char *verb;	/* for messages */
};

typedef int ctl_cmd_fn(struct ctl *c, int argc, char **argv);

struct ctl_verb {
	const char *name;
	ctl_cmd_fn *fn;
	const char *usage;	/* after "engramctl VERB " */
	const char *help;	/* one line for --help */
};

/* The verbs (cmd_*.c). */
ctl_cmd_fn cmd_status, cmd_flags, cmd_remember, cmd_recall, cmd_forget,
	cmd_consolidate, cmd_concepts, cmd_import, cmd_export, cmd_snapshot,
	cmd_backup, cmd_restore, cmd_verify, cmd_config, cmd_loadtest;

/* ------------------------------------------------------------------ */
/* main.c                                                             */
/* ------------------------------------------------------------------ */

/*
 * Options every verb takes, for its getopt_long table: --mount PATH,
 * --json, --help.  ctl_common_opt handles them and returns true when OPT
 * was one of them (*exit_code = 0 after --help).
 */
#define CTL_OPT_MOUNT 0x1001
#define CTL_OPT_JSON  0x1002
#define CTL_OPT_HELP  'h'
#define CTL_COMMON_OPTIONS \
	{ "mount", required_argument, NULL, CTL_OPT_MOUNT }, \
	{ "json", no_argument, NULL, CTL_OPT_JSON }, \
	{ "help", no_argument, NULL, CTL_OPT_HELP }

/* Parse a verb's options: returns the option, -1 at the end, or '?' on a
 * bad one (after the message).  Handles the common ones itself and
 * returns 'h' only for --help. */
int ctl_getopt(struct ctl *c, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);
/* Print "usage: engramctl VERB USAGE" (to stdout for --help, else stderr)
 * and return 0 (help) or 2. */
int ctl_usage(struct ctl *c, bool help);

/*
 * The mount to use: --mount, then $ENGRAM_MOUNT, then ./mnt when it is an
 * engramfs mount.  Checks that the path is an engramfs mount (status
 * readable).  On failure prints the reason and returns 1.
 */
int ctl_mount_resolve(struct ctl *c);
/* Is PATH the mount point of an engramfs file system (mountinfo)? */
bool ctl_is_engramfs_mount(const char *path);

/* ------------------------------------------------------------------ */
/* util.c                                                             */
/* ------------------------------------------------------------------ */

/* "error: ..." to stderr; return 1 (error) or 2 (usage_error). */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void ctl_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die on out of memory: there is nothing useful left to do */
void *ctl_xmalloc(size_t n);
void *ctl_xrealloc(void *p, size_t n);
char *ctl_xstrdup(const char *s);
char *ctl_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "MOUNT/REL" (malloc'd). */
char *ctl_path(const struct ctl *c, const char *rel);

/* Read a whole file (regular, synthetic or pipe) into *buf (NUL
 * terminated, caller frees).  0 or -errno. */
int ctl_read_file(const char *path, char **buf, size_t *len);
int ctl_read_fd(int fd, char **buf, size_t *len);
/* The same, with the expected size (st_size) as the first buffer: one
 * read and the EOF read for a file of that size. */
int ctl_read_fd_hint(int fd, size_t hint, char **buf, size_t *len);
/* Write all of <buf, len> to FD: 0 or -errno. */
int ctl_write_all(int fd, const void *buf, size_t len);
/* Open PATH with FLAGS, write <buf, len> in ONE write, close: 0/-errno
 * (what a flag or ctl write needs: the write's errno is the answer). */
int ctl_write_file(const char *path, const char *buf, size_t len, int flags);

/* Write one command to MNT/ctl; 0 or -errno.  ctl_command_error
 * prints the message for a failed one and returns 1. */
int ctl_command(const struct ctl *c, const char *cmd);
int ctl_command_error(const char *cmd, int err);

/* The value of KEY in "key: value" text (malloc'd) or NULL. */
char *ctl_kv_get(const char *text, const char *key);
/* MOUNT/status, or NULL with the error printed. */
char *ctl_status_read(const struct ctl *c);

/*
 * Times.  ctl_time_parse takes 2024-05-01, 2024-05-01T10:00[:SS[.frac]]
 * with Z, +HH:MM or nothing (UTC), @SECONDS[.frac], "now", or an age
 * (30s 15m 12h 7d 2w) meaning now minus that.  ctl_time_format writes
 * ISO-8601 UTC, with nanoseconds only when there are some.
 */
int ctl_time_parse(const char *s, struct timespec *out);
void ctl_time_format(const struct timespec *ts, char *buf, size_t size);
#define CTL_TIME_MAX 40
double ctl_now(void);	/* CLOCK_MONOTONIC seconds */

/* A path relative to episodes/ that is safe to create: no leading '/',
 * no empty, "." or ".." components, components <= 255 bytes. */
bool ctl_relpath_ok(const char *p);
/* mkdir -p of the folders of REL below ROOT (the last component is a
 * file name and is not created).  0 or -errno. */
int ctl_mkdir_parents(const char *root, const char *rel);

/* Strict whole-string number parsers. */
bool ctl_parse_u64(const char *s, uint64_t *out);
bool ctl_parse_double(const char *s, double *out);
/* A duration: 90, 90s, 15m, 2h, 1d -> seconds. */
bool ctl_parse_duration(const char *s, double *out);

/* %XX-escape the characters a recall name's option value cannot hold. */
char *ctl_escape_value(const char *s);

/* "key: value" text as a JSON object (numbers as numbers). */
struct json_object;
struct json_object *ctl_kv_to_json(const char *text);
/* Print O as one line of JSON and drop the reference. */
void ctl_json_print(struct json_object *o);

/* ------------------------------------------------------------------ */
/* offline.c                                                          */
/* ------------------------------------------------------------------ */

/* Route libengram's log to stderr, errors only. */
void ctl_offline_init(void);
/* Does a process hold DATADIR's RocksDB lock (a mounted daemon)? */
bool ctl_store_in_use(const char *datadir, pid_t *pid);
/* "error: store 'DIR' is in use by a mount"; returns 1. */
int ctl_store_busy_error(const char *datadir);

/* ------------------------------------------------------------------ */
/* cmd_flags.c                                                        */
/* ------------------------------------------------------------------ */

/* The value of flag NAME as the mount shows it, without the newline
 * (malloc'd).  0 or -errno. */
int ctl_flag_read(const struct ctl *c, const char *name, char **val);
/* Set flag NAME: one write of VALUE.  0 or -errno (EINVAL: bad value). */
int ctl_flag_write(const struct ctl *c, const char *name, const char *val);

/* ------------------------------------------------------------------ */
/* meta.c: episodes in transit (import, export, remember)             */
/* ------------------------------------------------------------------ */

/* An episode's metadata; a NULL string is "not set". */
struct ctl_meta {
	bool has_when;
	struct timespec when;	/* mtime */
	char *confidence;	/* text as the mount shows it: "0.7" */
	char *where, *who, *tags;
};

/* One episode (or folder) as import and export move it. */
struct ctl_item {
	char *name;		/* path relative to episodes/ */
	bool folder;
	char *content;
	size_t len;
	struct ctl_meta meta;
};

void ctl_meta_release(struct ctl_meta *m);
void ctl_item_release(struct ctl_item *it);

/*
 * Metadata of file PATH (an episode on the mount, or a local file): when
 * from the mtime, and the user.engram.* attributes that are set (missing
 * or unsupported ones are absent).  *st gets the stat.  0 or -errno.
 */
int ctl_meta_read(const char *path, struct ctl_meta *m, struct stat *st);
int ctl_meta_read_fd(int fd, struct ctl_meta *m, struct stat *st);

/*
 * Apply M to the episode open for writing on FD: attributes first, the
 * mtime last, so that an episode whose mtime is right is complete (the
 * resume rule of import).  FRESH says the episode was just created: the
 * defaults need not be written and absent attributes need not be
 * removed.  0 or -errno, with the step that failed in *step.
 */
int ctl_meta_apply(int fd, const struct ctl_meta *m, bool fresh,
		   const char **step);
/* Its two halves: the attributes; the mtime (nothing without a when). */
int ctl_meta_apply_attrs(int fd, const struct ctl_meta *m, bool fresh,
			 const char **step);
int ctl_meta_apply_when(int fd, const struct ctl_meta *m, const char **step);

/*
 * One JSON line.  An episode:
 *   {"name":"work/x","when":"2024-05-01T10:00:00Z","confidence":0.9,
 *    "where":"...","who":"...","tags":"a,b","content":"..."}
 * "content_base64" replaces "content" when the bytes are not UTF-8.
 * A folder: {"name":"work","type":"folder"}.  to_json returns the line
 * without newline (malloc'd); from_json fills *it or returns -EINVAL with
 * a reason in why (need_content: a line without content is an error).
 */
char *ctl_item_to_json(const struct ctl_item *it, bool with_content);
int ctl_item_from_json(const char *line, size_t len, bool need_content,
		       struct ctl_item *it, char *why, size_t whylen);

/* ------------------------------------------------------------------ */
/* progress.c                                                         */
/* ------------------------------------------------------------------ */

/*
 * Progress of a bulk verb on stderr.  On a terminal: one line redrawn at
 * most 10 times a second ("import  4521/10000  45%  1523/s  eta 0:04").
 * Otherwise a plain line every EVERY items and at the end.  total 0 =
 * unknown.  Thread-safe: ctl_progress_add may be called from workers.
 */
struct ctl_progress;
struct ctl_progress *ctl_progress_new(const char *what, uint64_t total,
				      bool quiet);
void ctl_progress_add(struct ctl_progress *p, uint64_t n);
void ctl_progress_set_total(struct ctl_progress *p, uint64_t total);
/* Final line (when shown) and free. */
void ctl_progress_done(struct ctl_progress *p);
#define CTL_PROGRESS_EVERY 1000

#endif
