/*
 * main.c - engramctl: global options, the verb table, finding the mount.
 *
 *   engramctl [--mount PATH] [--json] VERB [OPTIONS] [ARGS]
 *
 * One table (ctl_verbs) drives dispatch, `engramctl --help`, the usage
 * line of each verb and the bash completion's verb list (kept by hand in
 * ctl/engramctl.bash-completion; `engramctl --verbs` prints the names).
 *
 * Global options may come before the verb; --mount, --json and --help are
 * also accepted after it, by every verb (ctl_getopt).
 *
 * Which mount.  --mount PATH, else $ENGRAM_MOUNT, else ./mnt when it is an
 * engramfs mount (what `make run` makes).  A path given explicitly must be
 * an engramfs mount too: fstype fuse.engramfs in /proc/self/mountinfo, or
 * at least a readable PATH/status with a "pid:" line (a mount seen through
 * a bind or from another namespace).  Offline verbs never look for one.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static const struct ctl_verb ctl_verbs[] = {
	{ "status", cmd_status, "[--json]",
	  "mount health, counts, cohort, changed flags" },
	{ "flags", cmd_flags,
	  "[list | get NAME | set NAME VALUE | history] [--json]",
	  "list, read, set runtime flags; their change history" },
	{ "remember", cmd_remember,
	  "[--name N] [--when T] [--tag T]... [--confidence X] [--where W] "
	  "[--who W] [TEXT | -]",
	  "store an episode (TEXT, or standard input)" },
	{ "recall", cmd_recall,
	  "CUE [--limit N] [--mode M] [--since T] [--until T] [--under F] "
	  "[--json]",
	  "recall episodes by a cue" },
	{ "forget", cmd_forget, "NAME...", "forget episodes" },
	{ "consolidate", cmd_consolidate, "[--wait]",
	  "run consolidation now (returns when done)" },
	{ "concepts", cmd_concepts, "[NAME] [--json]",
	  "list concepts, or show one" },
	{ "import", cmd_import,
	  "[--into FOLDER] [--jobs N] [--skip-existing] [--quiet] "
	  "[--verbose] DIR | FILE.jsonl | -",
	  "bulk import episodes with metadata (resumable)" },
	{ "export", cmd_export,
	  "[--from FOLDER] [--quiet] [--verbose] DIR | --jsonl [-o FILE]",
	  "bulk export episodes with metadata (resumable)" },
	{ "snapshot", cmd_snapshot, "create NAME | list | delete NAME",
	  "hot snapshots under MNT/snapshots" },
	{ "backup", cmd_backup, "DIR", "incremental backup of the mounted store" },
	{ "restore", cmd_restore, "SRC DATADIR",
	  "offline: restore a snapshot or backup into a new data dir" },
	{ "verify", cmd_verify, "DATADIR [--json]",
	  "offline: check a stopped store; exit 1 on problems" },
	{ "config", cmd_config, "check FILE",
	  "offline: check a config file; exit 1 with FILE:LINE messages" },
	{ "loadtest", cmd_loadtest,
	  "[--scenario NAME|FILE] [--duration S] [--threads N] [--seed N] "
	  "[--report FILE] [--soak DURATION [--sample-every S]] [--keep] "
	  "[--json]",
	  "seeded load against the mount; exit 1 when SLOs are missed" },
};
#define CTL_NVERBS (sizeof(ctl_verbs) / sizeof(ctl_verbs[0]))

static const struct ctl_verb *ctl_current;

static void ctl_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: engramctl [--mount PATH] [--json] VERB [ARGS]\n"
		   "       engramctl VERB --help\n\n"
		   "Drive an engramfs mount; offline verbs work on a data "
		   "dir.\n\nverbs:\n");
	for (i = 0; i < CTL_NVERBS; i++)
		fprintf(f, "  %-12s %s\n", ctl_verbs[i].name,
			ctl_verbs[i].help);
	fprintf(f, "\nglobal options:\n"
		   "  --mount PATH  the mount (default $ENGRAM_MOUNT, then "
		   "./mnt)\n"
		   "  --json        data as JSON where the verb prints data\n"
		   "  --help        this text; VERB --help for a verb\n"
		   "  --version     print the version\n\n"
		   "exit status: 0 done, 1 failed, 2 usage error\n");
}

int ctl_usage(struct ctl *c, bool help)
{
	FILE *f = help ? stdout : stderr;

	if (!ctl_current)
		return help ? 0 : CTL_EXIT_USAGE;
	fprintf(f, "usage: engramctl %s %s\n", ctl_current->name,
		ctl_current->usage);
	if (help)
		fprintf(f, "\n%s.\n(see engramctl(1))\n", ctl_current->help);
	return help ? 0 : CTL_EXIT_USAGE;
}

int ctl_getopt(struct ctl *c, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	int opt;

	for (;;) {
		opt = getopt_long(argc, argv, shortopts, longopts, NULL);
		switch (opt) {
		case CTL_OPT_MOUNT:
			c->mount = optarg;
			continue;
		case CTL_OPT_JSON:
			c->json = true;
			continue;
		default:
			return opt;
		}
	}
}

/* ------------------------------------------------------------------ */
/* The mount                                                          */
/* ------------------------------------------------------------------ */

/* mountinfo escapes blanks and backslashes as \ooo. */
static void ctl_unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] &&
		    s[3]) {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* Field 5 is the mount point; after " - " come fstype and source. */
static bool ctl_mountinfo_match(char *line, const char *want)
{
	char *save = NULL, *tok, *mnt = NULL, *sep;
	int i;

	sep = strstr(line, " - ");
	if (!sep)
		return false;
	*sep = '\0';
	tok = strtok_r(line, " ", &save);
	for (i = 1; tok && i < 5; i++)
		tok = strtok_r(NULL, " ", &save);
	mnt = tok;
	if (!mnt)
		return false;
	ctl_unescape_octal(mnt);
	return !strcmp(mnt, want) && !strncmp(sep + 3, "fuse.engramfs ", 14);
}

bool ctl_is_engramfs_mount(const char *path)
{
	char real[PATH_MAX], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	if (!realpath(path, real))
		return false;
	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0)
		found = ctl_mountinfo_match(line, real);
	free(line);
	fclose(f);
	return found;
}

/* An explicitly named mount: engramfs by mountinfo, or by its status. */
static int ctl_mount_check(struct ctl *c, const char *how)
{
	char *status;

	if (access(c->mount, F_OK) < 0 && errno == ENOTCONN)
		return ctl_error("mount '%s' is not responding (the daemon "
				 "is gone: fusermount3 -u it)", c->mount);
	if (ctl_is_engramfs_mount(c->mount))
		return 0;
	status = ctl_path(c, "status");
	if (access(status, R_OK) == 0) {
		free(status);
		return 0;
	}
	free(status);
	return ctl_error("'%s' (%s) is not an engramfs mount", c->mount, how);
}

int ctl_mount_resolve(struct ctl *c)
{
	const char *env = getenv("ENGRAM_MOUNT");

	if (c->mount)
		return ctl_mount_check(c, "--mount");
	if (env && *env) {
		c->mount = env;
		return ctl_mount_check(c, "ENGRAM_MOUNT");
	}
	if (ctl_is_engramfs_mount("mnt")) {
		c->mount = "mnt";
		return 0;
	}
	return ctl_error("no mount: give --mount PATH or set ENGRAM_MOUNT "
			 "(./mnt is not an engramfs mount)");
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                           */
/* ------------------------------------------------------------------ */

static const struct ctl_verb *ctl_verb_find(const char *name)
{
	size_t i;

	for (i = 0; i < CTL_NVERBS; i++)
		if (!strcmp(ctl_verbs[i].name, name))
			return &ctl_verbs[i];
	return NULL;
}

#define CTL_OPT_VERSION 0x1003
#define CTL_OPT_VERBS   0x1004

static int ctl_global_opts(struct ctl *c, int argc, char **argv, int *done)
{
	static const struct option opts[] = {
		CTL_COMMON_OPTIONS,
		{ "version", no_argument, NULL, CTL_OPT_VERSION },
		{ "verbs", no_argument, NULL, CTL_OPT_VERBS },
		{ NULL, 0, NULL, 0 }
	};
	size_t i;
	int opt;

	*done = 0;
	while ((opt = ctl_getopt(c, argc, argv, "+h", opts)) != -1) {
		switch (opt) {
		case 'h':
			ctl_help(stdout);
			return *done = 1, 0;
		case CTL_OPT_VERSION:
			printf("engramctl %s\n", CTL_VERSION);
			return *done = 1, 0;
		case CTL_OPT_VERBS:
			for (i = 0; i < CTL_NVERBS; i++)
				printf("%s\n", ctl_verbs[i].name);
			return *done = 1, 0;
		default:
			fprintf(stderr, "usage: engramctl [--mount PATH] "
				"[--json] VERB [ARGS] (engramctl --help)\n");
			return *done = 1, CTL_EXIT_USAGE;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	int done, r;

	r = ctl_global_opts(&c, argc, argv, &done);
	if (done)
		return r;
	if (optind >= argc) {
		ctl_help(stderr);
		return CTL_EXIT_USAGE;
	}
	ctl_current = ctl_verb_find(argv[optind]);
	if (!ctl_current)
		return ctl_usage_error("unknown verb '%s' (engramctl --help)",
				       argv[optind]);
	c.verb = ctl_current->name;
	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: restart getopt for the verb's options */
	return ctl_current->fn(&c, argc, argv);
}
