/*
 * cmd_forget.c - engramctl forget NAME...: forget episodes.
 *
 * NAME is a path under episodes/.  An episode is unlinked (its content,
 * index entries and concept bindings go); an empty folder is removed; a
 * folder that is not empty is refused, as rmdir(1) would, so that a typo
 * cannot forget a whole tree.  Every name is tried; exit 1 if any failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static int cmd_forget_one(struct ctl *c, const char *name)
{
	char *path;
	int r = 0;

	if (!ctl_relpath_ok(name))
		return ctl_error("bad episode name '%s'", name);
	path = ctl_xprintf("%s/episodes/%s", c->mount, name);
	if (unlink(path) < 0) {
		r = -errno;
		if (r == -EISDIR && rmdir(path) < 0)
			r = -errno;
		else if (r == -EISDIR)
			r = 0;
	}
	free(path);
	if (r == -ENOENT)
		return ctl_error("no episode '%s'", name);
	if (r == -ENOTEMPTY)
		return ctl_error("'%s' is a folder that is not empty", name);
	if (r < 0)
		return ctl_error("cannot forget '%s': %s", name, strerror(-r));
	return 0;
}

int cmd_forget(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	int opt, r, rc = 0;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	if (optind == argc)
		return ctl_usage(c, false);
	if ((r = ctl_mount_resolve(c)))
		return r;
	for (; optind < argc; optind++)
		if (cmd_forget_one(c, argv[optind]))
			rc = CTL_EXIT_FAIL;
	return rc;
}
