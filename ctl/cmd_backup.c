/*
 * cmd_backup.c - engramctl backup DIR: an incremental backup of the
 * mounted store into DIR, by the daemon ("backup DIR" written to
 * MNT/ctl; the write returns when the backup is complete).
 *
 * The daemon runs elsewhere (its own working directory, maybe another
 * user), so DIR is made absolute here; it need not exist yet, but its
 * parent must.  `engramctl restore DIR DATADIR` brings it back.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* DIR as an absolute path, through its parent when it does not exist. */
static char *cmd_backup_abs(const char *dir)
{
	char real[PATH_MAX], *copy, *base, *parent, *out = NULL;

	if (realpath(dir, real))
		return ctl_xstrdup(real);
	if (errno != ENOENT)
		return NULL;
	copy = ctl_xstrdup(dir);
	parent = dirname(copy);
	if (realpath(parent, real)) {
		free(copy);
		copy = ctl_xstrdup(dir);
		base = basename(copy);
		out = ctl_xprintf("%s/%s", strcmp(real, "/") ? real : "", base);
	}
	free(copy);
	return out;
}

int cmd_backup(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	char *abs, *cmd;
	double t0;
	int opt, r;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	if (optind + 1 != argc)
		return ctl_usage(c, false);
	abs = cmd_backup_abs(argv[optind]);
	if (!abs)
		return ctl_error("cannot use '%s' as a backup dir: %s",
				 argv[optind], strerror(errno));
	if ((r = ctl_mount_resolve(c))) {
		free(abs);
		return r;
	}
	cmd = ctl_xprintf("backup %s", abs);
	t0 = ctl_now();
	r = ctl_command(c, cmd);
	if (r < 0)
		r = ctl_command_error(cmd, r);
	else
		printf("backup of '%s' in '%s' (%.2f s)\n", c->mount, abs,
		       ctl_now() - t0);
	free(cmd);
	free(abs);
	return r;
}
