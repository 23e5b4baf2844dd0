/*
 * main.c - engramfs: options, logging and the mount ladder.
 *
 *   engramfs [-f] [-d] [-o OPTS] DATADIR MOUNTPOINT
 *
 * The ladder, each rung undone in reverse on the way out:
 *
 *   parse options; resolve DATADIR, MOUNTPOINT and config= to absolute
 *   paths (the daemon runs in "/")
 *   [fork: the parent waits for the child's verdict]
 *   open the log; route the store's and libfuse's logs into it
 *   store_open                   (EBUSY: "store 'DIR' is in use ...")
 *   load and apply -o config=    (any problem: printed, exit 1)
 *   fuse_session_new             (with default_permissions, fsname, subtype)
 *   fuse_set_signal_handlers     (SIGTERM/SIGINT/SIGHUP end the loop)
 *   fuse_session_mount
 *   notifier thread, the store's change hook, config watcher
 *   store_background_start       (consolidation every interval_s)
 *   [tell the parent "0", detach stdio] ; sd_notify READY=1
 *   session loop (multithreaded unless -s)
 *   sd_notify STOPPING=1, store_background_stop, unhook, notifier stop,
 *   unmount, destroy (commits what is still open), store_close
 *
 * The change hook (concepts.c) only queues invalidations for the notifier
 * thread.  The background consolidation is stopped and the hook removed
 * before the notifier goes, so that no hook call can reach a notifier
 * being freed; requests are over by then (the loop has returned), so no
 * `echo consolidate > ctl` is still running either.
 *
 * Why not fuse_daemonize().  It forks, and in libfuse's order that happens
 * after the store is open.  A fork keeps only the calling thread: RocksDB's
 * flush and compaction threads would stay behind in the parent that exits,
 * and the store's lock is an fcntl() lock, which a child does not inherit -
 * a second daemon could then open the same data dir.  So engramfs forks
 * first, before anything is opened, and the child reports success or its
 * exit status through a pipe; the parent exits with that status, so
 * `engramfs DATA MNT && ls MNT` works and errors still reach the terminal.
 *
 * Logging: efs_log(level, ...) with syslog levels.  In the foreground
 * everything up to the maximum level (INFO, DEBUG with -d) goes to stderr.
 * Daemonised, it goes to syslog (LOG_DAEMON, ident "engramfs"; the journal
 * under systemd), and while starting also warnings and errors to stderr.
 *
 * Exit status: 0 after a clean unmount or a stop signal, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "efs.h"

/* ------------------------------------------------------------------ */
/* Logging                                                            */
/* ------------------------------------------------------------------ */

int efs_log_max_level = LOG_INFO;
static int efs_log_stderr_level = LOG_DEBUG;	/* -1: none */
static bool efs_log_syslog;

static const char *efs_level_tag(int level)
{
	if (level <= LOG_ERR)
		return "error: ";
	if (level == LOG_WARNING)
		return "warning: ";
	return "";
}

static void efs_log_v(int level, const char *fmt, va_list ap)
{
	char msg[2048];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	store_log_sanitise(msg);	/* names must not forge log lines */
	if (efs_log_syslog)
		syslog(level, "%s", msg);
	if (level <= efs_log_stderr_level)
		fprintf(stderr, "engramfs: %s%s\n", efs_level_tag(level), msg);
}

void efs_log_write(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	efs_log_v(level, fmt, ap);
	va_end(ap);
}

/* A fatal startup error: the exact text to the terminal (and syslog). */
static void efs_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void efs_fatal(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "engramfs: %s\n", msg);
	if (efs_log_syslog)
		syslog(LOG_ERR, "%s", msg);
}

static void efs_store_log(int level, const char *msg)
{
	efs_log(level, "%s", msg);
}

/* libfuse logs some messages in pieces ("unknown option(s): `", "-o ",
 * ...): collect them per thread into whole lines. */
static void efs_fuse_log(enum fuse_log_level level, const char *fmt,
			 va_list ap)
{
	static _Thread_local char line[1024];
	static _Thread_local size_t len;
	int n;

	if ((int)level > efs_log_max_level)
		return;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len = len + (size_t)n < sizeof(line) ? len + (size_t)n
						     : sizeof(line) - 1;
	if (len && line[len - 1] != '\n' && len < sizeof(line) - 1)
		return;
	efs_log_write((int)level, "%s", line);
	len = 0;
	line[0] = '\0';
}

const char *efs_errname(int err)
{
	const char *s = strerrorname_np(err < 0 ? -err : err);

	return s ? s : "EUNKNOWN";
}

/* ------------------------------------------------------------------ */
/* Options                                                            */
/* ------------------------------------------------------------------ */

struct efs_args {
	char *config;
	char *datadir;
	int show_help;
	int show_version;
};

enum { EFS_KEY_HELP, EFS_KEY_VERSION };

static const struct fuse_opt efs_optspec[] = {
	{ "config=%s", offsetof(struct efs_args, config), 0 },
	FUSE_OPT_KEY("-h", EFS_KEY_HELP),
	FUSE_OPT_KEY("--help", EFS_KEY_HELP),
	FUSE_OPT_KEY("-V", EFS_KEY_VERSION),
	FUSE_OPT_KEY("--version", EFS_KEY_VERSION),
	FUSE_OPT_END
};

/* DATADIR is the first non-option; the second (the mount point) is left
 * for fuse_parse_cmdline, which resolves it. */
static int efs_opt_proc(void *data, const char *arg, int key,
			struct fuse_args *outargs)
{
	struct efs_args *a = data;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (a->datadir)
			return 1;
		a->datadir = strdup(arg);
		return a->datadir ? 0 : -1;
	case EFS_KEY_HELP:
		a->show_help = 1;
		return 0;
	case EFS_KEY_VERSION:
		a->show_version = 1;
		return 0;
	default:
		return 1;
	}
}

static void efs_usage(FILE *f)
{
	fprintf(f, "usage: engramfs [-f] [-d] [-o OPTS] DATADIR MOUNTPOINT\n"
		   "       engramfs --help | --version\n");
}

static void efs_help(void)
{
	size_t i;

	efs_usage(stdout);
	printf("\nA memory store used through the file system: episodes/,"
	       " concepts/, recall/,\nflags/, query, metrics, status and ctl"
	       " under MOUNTPOINT, kept in DATADIR.\n\n"
	       "engramfs options:\n"
	       "    -o config=FILE         config file (flags, below);"
	       " reloaded when it changes\n"
	       "                           and on `echo reload > ctl`\n"
	       "    -o allow_other         let other users in (mode bits"
	       " are always enforced)\n\n"
	       "Flags: the config file's [section] key, or flags/NAME at"
	       " run time:\n");
	for (i = 0; i < FLAG__COUNT; i++) {
		const struct store_flag_def *d =
			store_flag_def((enum store_flag_id)i);

		printf("    %-40s %s (default %s)\n", d->name,
		       d->help ? d->help : "", d->def);
	}
	printf("\nFUSE options:\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* PATH made absolute: realpath() if it exists, else joined to the cwd. */
static char *efs_abspath(const char *path)
{
	char *r = realpath(path, NULL);
	char cwd[PATH_MAX];

	if (r || errno != ENOENT)
		return r;
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&r, "%s/%s", cwd, path) < 0)
		return NULL;
	return r;
}

/* Our fixed mount options: kernel permission checks always, and the names
 * `mount` and `df` show ("engramfs:DATADIR" of type fuse.engramfs). */
static int efs_add_mount_opts(struct fuse_args *args, const char *datadir)
{
	char *opts = NULL, *fsname = NULL;
	int r = -1;

	if (asprintf(&fsname, "fsname=engramfs:%s", datadir) < 0)
		return -1;
	if (fuse_opt_add_opt(&opts, "default_permissions") == 0 &&
	    fuse_opt_add_opt_escaped(&opts, fsname) == 0 &&
	    fuse_opt_add_opt(&opts, "subtype=engramfs") == 0 &&
	    fuse_opt_add_arg(args, "-o") == 0 &&
	    fuse_opt_add_arg(args, opts) == 0)
		r = 0;
	free(opts);
	free(fsname);
	return r;
}

/* ------------------------------------------------------------------ */
/* Daemonising                                                        */
/* ------------------------------------------------------------------ */

/* Fork; the parent never returns: it exits with the child's verdict.
 * Returns the pipe to report it on, or -1. */
static int efs_daemon_begin(void)
{
	int p[2];
	unsigned char status = 1;
	pid_t pid;

	if (pipe(p) < 0) {
		efs_fatal("cannot daemonise: pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		efs_fatal("cannot daemonise: fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		ssize_t n;

		close(p[1]);
		do
			n = read(p[0], &status, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 ? status : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		efs_log(LOG_WARNING, "setsid: %s", strerror(errno));
	return p[1];
}

/* Tell the parent STATUS; on success detach from the terminal. */
static void efs_daemon_end(int *fd, unsigned char status)
{
	int null;

	if (*fd < 0)
		return;
	if (status == 0) {
		efs_log_stderr_level = -1;
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
	}
	if (write(*fd, &status, 1) != 1)
		efs_log(LOG_WARNING, "cannot report to the parent: %s",
			strerror(errno));
	close(*fd);
	*fd = -1;
}

/* ------------------------------------------------------------------ */
/* The ladder                                                         */
/* ------------------------------------------------------------------ */

static int efs_open_store(struct efs *fs)
{
	struct store_options so = { 0 };
	int r;

	r = store_open(fs->datadir, &so, &fs->st);
	if (r == -EBUSY)
		efs_fatal("store '%s' is in use by another process",
			  fs->datadir);
	else if (r < 0)
		efs_fatal("cannot open store '%s': %s", fs->datadir,
			  strerror(-r));
	return r;
}

/*
 * libfuse 3.14's 3.2-compatible loop entry converts a v1 config with
 * max_threads unset and logs "Ignoring invalid max threads value" as an
 * error at every mount.  The 3.12 entry, fed a config made by
 * fuse_loop_cfg_create() (opaque: only a pointer passes through here),
 * does not.  Both are exported by the 3.14 library we link.
 */
int fuse_session_loop_mt_312(struct fuse_session *se,
			     struct fuse_loop_config *config);

static int efs_loop(struct fuse_session *se,
		    const struct fuse_cmdline_opts *opts)
{
	struct fuse_loop_config *cfg;
	int r;

	if (opts->singlethread)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)opts->clone_fd);
	if (opts->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, opts->max_idle_threads);
	r = fuse_session_loop_mt_312(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

static int efs_run(struct efs *fs, struct fuse_args *args,
		   const struct fuse_cmdline_opts *opts, int *report)
{
	int r = 1, bg;

	if (efs_open_store(fs) < 0)
		return 1;
	if (fs->config && efs_config_reload(fs, "start") < 0)
		goto out_store;
	fs->se = fuse_session_new(args, &efs_ops, sizeof(efs_ops), fs);
	if (!fs->se)
		goto out_store;
	if (fuse_set_signal_handlers(fs->se) != 0)
		goto out_session;
	if (fuse_session_mount(fs->se, fs->mountpoint) != 0)
		goto out_signals;
	if (efs_notifier_start(fs) < 0) {
		efs_fatal("cannot start the notifier thread");
		goto out_unmount;
	}
	store_change_hook(fs->st, efs_concepts_changed, fs);
	if (fs->config && efs_config_watch_start(fs) < 0)
		efs_log(LOG_WARNING, "config '%s': not watched for changes",
			fs->config);
	bg = store_background_start(fs->st);
	if (bg < 0)
		efs_log(LOG_WARNING, "background consolidation not started: "
			"%s; `echo consolidate > ctl` still works",
			efs_errname(bg));
	efs_log(LOG_INFO, "mounted %s at %s", fs->datadir, fs->mountpoint);
	efs_daemon_end(report, 0);
	if (chdir("/") < 0)
		efs_log(LOG_WARNING, "chdir /: %s", strerror(errno));
	sd_notifyf(0, "READY=1\nMAINPID=%ld\nSTATUS=mounted at %s",
		   (long)getpid(), fs->mountpoint);

	r = efs_loop(fs->se, opts);
	/* A negative value is a failed loop; 0 or a signal number is a
	 * clean end. */
	r = r < 0 ? 1 : 0;
	sd_notify(0, "STOPPING=1");
	efs_log(LOG_INFO, "unmounting %s", fs->mountpoint);
	store_background_stop(fs->st);
	store_change_hook(fs->st, NULL, NULL);
	efs_config_watch_stop(fs);
	efs_notifier_stop(fs);
out_unmount:
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_session:
	fuse_session_destroy(fs->se);	/* destroy op: commits open files */
	fs->se = NULL;
out_store:
	store_background_stop(fs->st);	/* no-op unless started */
	store_close(fs->st);
	fs->st = NULL;
	return r;
}

static int efs_prepare(struct efs *fs, struct efs_args *a,
		       struct fuse_args *args, struct fuse_cmdline_opts *opts)
{
	fs->datadir = efs_abspath(a->datadir);
	if (!fs->datadir) {
		efs_fatal("data dir '%s': %s", a->datadir, strerror(errno));
		return -1;
	}
	if (a->config) {
		fs->config = realpath(a->config, NULL);
		if (!fs->config) {
			efs_fatal("config file '%s': %s", a->config,
				  strerror(errno));
			return -1;
		}
	}
	if (efs_add_mount_opts(args, fs->datadir) < 0 ||
	    fuse_parse_cmdline(args, opts) != 0)
		return -1;
	if (!opts->mountpoint) {
		efs_usage(stderr);
		return -1;
	}
	fs->mountpoint = opts->mountpoint;	/* resolved by libfuse */
	fs->owner_uid = getuid();
	fs->owner_gid = getgid();
	clock_gettime(CLOCK_REALTIME, &fs->started);
	return 0;
}

/*
 * glibc gives each thread that allocates under contention an arena of its
 * own, up to 8 per core, and memory freed in one is not handed back
 * while any chunk near its top is live.  With a dozen request threads
 * recalling at once that measured ~60 MB more resident memory at 100,000
 * episodes than two arenas, for no measurable difference in speed.
 * MALLOC_ARENA_MAX in the environment still wins.
 */
static void efs_malloc_init(void)
{
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 2);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct efs_args a = { 0 };
	struct efs fs = { 0 };
	int report = -1, r = 1;

	efs_malloc_init();
	memset(&opts, 0, sizeof(opts));
	pthread_mutex_init(&fs.config_lock, NULL);
	if (fuse_opt_parse(&args, &a, efs_optspec, efs_opt_proc) != 0)
		goto out;
	if (a.show_help) {
		efs_help();
		r = 0;
		goto out;
	}
	if (a.show_version) {
		printf("engramfs %s\nFUSE library version %s\n", EFS_VERSION,
		       fuse_pkgversion());
		fflush(stdout);	/* fusermount3 -V writes next */
		fuse_lowlevel_version();
		r = 0;
		goto out;
	}
	if (!a.datadir) {
		efs_usage(stderr);
		goto out;
	}
	if (efs_prepare(&fs, &a, &args, &opts) < 0)
		goto out;
	if (opts.debug)
		efs_log_max_level = LOG_DEBUG;
	if (!opts.foreground) {
		report = efs_daemon_begin();
		if (report < 0)
			goto out;
		openlog("engramfs", LOG_PID, LOG_DAEMON);
		efs_log_syslog = true;
		efs_log_stderr_level = LOG_WARNING;	/* until started */
	}
	fuse_set_log_func(efs_fuse_log);
	store_log_set(efs_store_log, efs_log_max_level);
	r = efs_run(&fs, &args, &opts, &report);
	efs_rnode_clear();
	efs_concepts_clear();
out:
	efs_daemon_end(&report, (unsigned char)r);
	if (efs_log_syslog)
		closelog();
	free(opts.mountpoint);
	free(fs.datadir);
	free(fs.config);
	free(a.datadir);
	free(a.config);
	fuse_opt_free_args(&args);
	pthread_mutex_destroy(&fs.config_lock);
	return r;
}
